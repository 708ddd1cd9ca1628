/*
 * tree_listing.c - an independent listing of a host directory tree, for
 * end-to-end tests: it shares no code with vm2oci (libc and OpenSSL only),
 * so comparing its output for a loop-mounted disk and for an image unpacked
 * by umoci checks vm2oci from the outside.
 *
 * usage: tree_listing [--no-mtime] [--no-dir-meta] DIR
 *
 * One line per entry below DIR (DIR itself excluded), sorted by path bytes:
 *   path  type  mode  uid  gid  size|rdev  sha256|target  mtime  xattrs  link-group
 * Paths are escaped (\n, \t, \\, \xNN) so every entry is one line. The
 * link-group is the smallest path of the entry's inode among the listed
 * ones, when it has more than one name.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct item {
	char *rel;
	struct stat st;
};

static struct item *items;
static size_t nitems, aitems;
static int no_mtime, no_dir_meta;

static void add(const char *rel, const struct stat *st)
{
	if (nitems == aitems) {
		aitems = aitems ? aitems * 2 : 1024;
		items = realloc(items, aitems * sizeof(*items));
	}
	items[nitems].rel = strdup(rel);
	items[nitems].st = *st;
	nitems++;
}

static void walk(const char *root, const char *rel)
{
	char path[8192];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "tree_listing: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((de = readdir(d))) {
		char crel[8192], cpath[16640];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(crel, sizeof(crel), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		snprintf(cpath, sizeof(cpath), "%s/%s", root, crel);
		if (lstat(cpath, &st) < 0) {
			fprintf(stderr, "tree_listing: %s: %s\n", cpath, strerror(errno));
			exit(2);
		}
		add(crel, &st);
		if (S_ISDIR(st.st_mode))
			walk(root, crel);
	}
	closedir(d);
}

static int cmp_items(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->rel, ((const struct item *)b)->rel);
}

static void put_escaped(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void put_sha256(const char *path)
{
	unsigned char buf[1 << 16], md[32];
	unsigned int mdlen = 32;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "tree_listing: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	close(fd);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void put_xattrs(const char *path)
{
	char names[65536], *list[512];
	ssize_t len = llistxattr(path, names, sizeof(names));
	size_t n = 0;

	if (len <= 0) {
		putchar('-');
		return;
	}
	for (char *p = names; p < names + len && n < 512; p += strlen(p) + 1)
		list[n++] = p;
	qsort(list, n, sizeof(*list), cmp_str);
	for (size_t i = 0; i < n; i++) {
		unsigned char val[65536];
		ssize_t vl = lgetxattr(path, list[i], val, sizeof(val));

		printf("%s%s=", i ? "," : "", list[i]);
		for (ssize_t j = 0; j < vl; j++)
			printf("%02x", val[j]);
	}
}

int main(int argc, char **argv)
{
	const char *root = NULL;
	size_t i, j;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--no-mtime"))
			no_mtime = 1;
		else if (!strcmp(argv[a], "--no-dir-meta"))
			no_dir_meta = 1;
		else
			root = argv[a];
	}
	if (!root) {
		fprintf(stderr, "usage: tree_listing [--no-mtime] [--no-dir-meta] DIR\n");
		return 2;
	}
	walk(root, "");
	qsort(items, nitems, sizeof(*items), cmp_items);
	for (i = 0; i < nitems; i++) {
		struct stat *st = &items[i].st;
		char path[8192];
		const char *type = S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "dir"
				 : S_ISLNK(st->st_mode) ? "symlink" : S_ISCHR(st->st_mode) ? "chardev"
				 : S_ISBLK(st->st_mode) ? "blockdev" : S_ISFIFO(st->st_mode) ? "fifo"
				 : "socket";

		snprintf(path, sizeof(path), "%s/%s", root, items[i].rel);
		put_escaped(items[i].rel);
		printf("\t%s\t%04o\t%u\t%u\t", type, st->st_mode & 07777, st->st_uid, st->st_gid);
		if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
			printf("%u,%u\t-", major(st->st_rdev), minor(st->st_rdev));
		else if (S_ISREG(st->st_mode)) {
			printf("%lld\t", (long long)st->st_size);
			put_sha256(path);
		} else if (S_ISLNK(st->st_mode)) {
			char target[8192];
			ssize_t n = readlink(path, target, sizeof(target) - 1);

			target[n < 0 ? 0 : n] = '\0';
			printf("-\t");
			put_escaped(target);
		} else {
			printf("-\t-");
		}
		if (no_mtime || S_ISDIR(st->st_mode))
			printf("\t-\t");
		else
			printf("\t%lld.%09ld\t", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
		put_xattrs(path);
		putchar('\t');
		/* The link group leader: the first listed path with this inode. */
		if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
			const char *leader = NULL;

			for (j = 0; j < nitems; j++)
				if (items[j].st.st_ino == st->st_ino && items[j].st.st_dev == st->st_dev) {
					leader = items[j].rel;
					break;
				}
			put_escaped(leader);
		} else {
			putchar('-');
		}
		putchar('\n');
	}
	return 0;
}
