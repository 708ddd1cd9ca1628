/*
 * template_cache.c - what a disk:TEMPLATE base costs once, kept for the
 * next clone of the same template: its tree with digests, its block-hash
 * index (for full copies), and its base layer (the record, and the blob).
 *
 * One directory per template under the cache root, named by the SHA-256 of
 * the template's identity: the real path, size, mtime, inode and the
 * SHA-256 of the first 64 KiB of the top image and of every file its chain
 * names, with the options that change its tree and the digest of the vm2oci
 * executable (another build may derive other parts). A layer part is named
 * by the options and exclusion rules its bytes depend on. The identity is written in
 * full beside the parts and compared before any part is used, so a
 * template changed in place (new mtime, new header) is a miss, never a stale
 * hit. Parts are written under temporary names and renamed; one that fails
 * to load is reported once and rebuilt. The root is bounded (least recently
 * used templates out first).
 */
#include "cli.h"
#include "diskread.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_VERSION "vm2oci template cache 2"
#define HEAD_BYTES (64 * 1024)
/* What the template cache keeps at most, unless VM2OCI_TEMPLATE_CACHE_MAX. */
#define DEFAULT_CAP (8ull << 30)

struct cli_tcache {
	char *dir;      /* ROOT/KEY */
	char *root;
	char *identity;
	/* "hit", "miss", "rebuilt" (corrupt or not fitting); hashes "unused"
	 * when the disk had lineage */
	const char *tree, *hashes, *layer;
	int warned;
};

/* One identity line: path, size, mtime, inode, SHA-256 of the head. */
static int identify_file(const char *path, struct ut_buf *b, struct ut_err *err)
{
	unsigned char head[HEAD_BYTES], h[UT_SHA256_LEN];
	char real[PATH_MAX], hex[UT_SHA256_HEX];
	struct stat st;
	ssize_t n;
	int fd;

	if (!realpath(path, real))
		return ut_err_set(err, "%s: %s", path, strerror(errno));
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ut_err_set(err, "%s: %s", real, strerror(errno));
	if (fstat(fd, &st) < 0 || (n = pread(fd, head, sizeof(head), 0)) < 0) {
		ut_err_set(err, "%s: %s", real, strerror(errno));
		close(fd);
		return -1;
	}
	/* A device's bytes change without its size or mtime: no identity. */
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ut_err_set(err, "%s: not a regular file", real);
	}
	close(fd);
	ut_sha256_buf(head, (size_t)n, h);
	ut_hex(h, sizeof(h), hex);
	return ut_buf_addf(b, NULL, "file %s size %lld mtime %lld.%09ld ino %llu dev %llu head %s\n",
			   real, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			   st.st_mtim.tv_nsec, (unsigned long long)st.st_ino,
			   (unsigned long long)st.st_dev, hex);
}

static char *part(const struct cli_tcache *c, const char *name)
{
	return ut_asprintf("%s/%s", c->dir, name);
}

static int same_file_text(const char *path, const char *text)
{
	struct ut_buf b;
	int same;

	ut_buf_init(&b, 1 << 20);
	same = ut_read_host_file(path, &b, NULL) == 0 && b.len == strlen(text) &&
	       !memcmp(b.data, text, b.len);
	ut_buf_release(&b);
	return same;
}

/* The SHA-256 of the running vm2oci: what it derives from a template (the
 * tree, the layer's bytes) may change with the code, so another build never
 * takes this build's parts. NULL when the executable cannot be read. */
static const char *program_digest(void)
{
	static char hex[UT_SHA256_HEX];
	unsigned char h[UT_SHA256_LEN], chunk[65536];
	struct ut_sha256 sha;
	ssize_t n;
	int fd;

	if (hex[0])
		return hex;
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ut_sha256_init(&sha) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			ut_sha256_update(&sha, chunk, (size_t)n);
	close(fd);
	ut_sha256_final(&sha, h);
	ut_sha256_release(&sha);
	if (n < 0)
		return NULL;
	ut_hex(h, sizeof(h), hex);
	return hex;
}

struct cli_tcache *cli_tcache_open(struct dr_disk *d, int no_replay)
{
	struct dr_blockdev *bd = dr_disk_blockdev(d);
	const struct dr_file_link *links;
	const char *root = cli_cache_subdir("templates");
	struct cli_tcache *c;
	unsigned char h[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], *id_path;
	struct ut_buf b;
	size_t n, i;

	if (!root || !program_digest())
		return NULL;
	ut_buf_init(&b, 0);
	ut_buf_addf(&b, NULL, "%s\nprogram %s\nno_replay %d max_file_size %llu\n",
		    IDENTITY_VERSION, program_digest(), no_replay,
		    (unsigned long long)dr_disk_max_file_size(d));
	links = dr_blockdev_links(bd, &n);
	if (identify_file(dr_blockdev_path(bd), &b, NULL) < 0) {
		ut_buf_release(&b);
		return NULL; /* a block device or a vanished file: no cache */
	}
	for (i = 0; i < n; i++)
		if (identify_file(links[i].resolved, &b, NULL) < 0) {
			ut_buf_release(&b);
			return NULL;
		}
	ut_sha256_buf(b.data, b.len, h);
	ut_hex(h, sizeof(h), hex);
	c = ut_calloc(1, sizeof(*c));
	c->root = ut_strdup(root);
	c->dir = ut_asprintf("%s/%s", root, hex);
	c->identity = ut_buf_detach(&b, NULL);
	c->tree = c->layer = "miss";
	c->hashes = "unused";
	id_path = part(c, "identity");
	if (mkdir(c->dir, 0755) < 0 && errno != EEXIST) {
		free(id_path);
		cli_tcache_free(c);
		return NULL;
	}
	if (!same_file_text(id_path, c->identity)) {
		/* New, or not this template's: start the directory afresh. */
		ut_rm_rf(c->dir);
		if (mkdir(c->dir, 0755) < 0) {
			free(id_path);
			cli_tcache_free(c);
			return NULL;
		}
		/* A cache is best effort: a part not written is a miss next time. */
		ut_write_file_atomic(id_path, c->identity, strlen(c->identity), 0644, NULL);
	}
	/* Used now: the last to be evicted. */
	utimensat(AT_FDCWD, c->dir, NULL, 0);
	free(id_path);
	return c;
}

/* A part that did not load (err names its file): said once, then rebuilt. */
static void corrupt(struct cli_tcache *c, const struct ut_err *err)
{
	if (!c->warned)
		fprintf(stderr, "vm2oci: warning: template cache: %s; rebuilding it\n", err->msg);
	c->warned = 1;
}

int cli_tcache_tree(struct cli_tcache *c, struct dr_disk *d, struct ut_tree **out,
		    struct ut_err *err)
{
	char *path;
	struct ut_err lerr = { { 0 } };
	struct stat st;

	if (!c)
		return dr_disk_tree(d, 1, out, err);
	path = part(c, "tree");
	if (stat(path, &st) == 0) {
		if (ut_tree_load(path, out, &lerr) == 0) {
			dr_disk_content(d, &(*out)->content);
			c->tree = "hit";
			free(path);
			return 0;
		}
		corrupt(c, &lerr);
		c->tree = "rebuilt";
	}
	if (dr_disk_tree(d, 1, out, err) < 0) {
		free(path);
		return -1;
	}
	ut_tree_save(*out, path, NULL);
	free(path);
	cli_tcache_trim(c);
	return 0;
}

void cli_tcache_hashes(struct cli_tcache *c, struct bd_hash_set *s)
{
	struct ut_err err = { { 0 } };
	struct stat st;
	char *path;

	memset(s, 0, sizeof(*s));
	if (!c)
		return;
	c->hashes = "miss";
	path = part(c, "hashes");
	if (stat(path, &st) == 0) {
		if (bd_hash_set_load(path, s, &err) == 0) {
			c->hashes = "hit";
		} else {
			corrupt(c, &err);
			c->hashes = "rebuilt";
		}
	}
	free(path);
}

void cli_tcache_put_hashes(struct cli_tcache *c, const struct bd_hash_set *s)
{
	char *path;

	if (!c || !s->built)
		return;
	if (!strcmp(c->hashes, "hit"))
		c->hashes = "rebuilt"; /* the cached one did not fit */
	path = part(c, "hashes");
	bd_hash_set_save(s, path, NULL);
	free(path);
	cli_tcache_trim(c);
}

/* The layer's bytes depend on these options only (threads do not change
 * them). */
static char *layer_name(const struct img_layer_options *o, const char *rules)
{
	unsigned char h[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];

	/* The exclusion rules decide which of the template's files the layer
	 * holds, and --gzip-fast gives other bytes than the default engine. */
	ut_sha256_buf(rules ? rules : "", rules ? strlen(rules) : 0, h);
	ut_hex(h, sizeof(h), hex);
	return ut_asprintf("layer-%s-%d-%d-%d-%.16s", img_compress_name(o->compress), o->level,
			   o->escape_whiteout_names, o->gzip_fast, hex);
}

int cli_tcache_layer(struct cli_tcache *c, const struct img_layer_options *o, const char *rules,
		     struct img_layout *l, struct img_layer_result *res)
{
	char *name, *path, *blob = NULL, hex[UT_SHA256_HEX + 8];
	struct ut_buf b;
	unsigned long long size, tar_bytes, entries, content, ino;
	long long sec;
	long nsec;
	struct stat st;
	int rc = 0;

	if (!c)
		return 0;
	name = layer_name(o, rules);
	path = part(c, name);
	ut_buf_init(&b, 4096);
	memset(res, 0, sizeof(*res));
	if (ut_read_host_file(path, &b, NULL) < 0)
		goto out;
	if (sscanf((char *)b.data, "%71s %71s %95s %llu %llu %llu %llu %llu %lld.%ld",
		   res->blob.digest, res->diff_id, res->blob.media_type, &size, &tar_bytes, &entries,
		   &content, &ino, &sec, &nsec) != 10 ||
	    strncmp(res->blob.digest, "sha256:", 7) || strlen(res->blob.digest) != 71) {
		struct ut_err err;

		ut_err_set(&err, "%s: not a layer record", path);
		corrupt(c, &err);
		c->layer = "rebuilt";
		goto out;
	}
	res->blob.size = size;
	res->tar_bytes = tar_bytes;
	res->entries = entries;
	res->content_bytes = content;
	snprintf(hex, sizeof(hex), "blob-%s", res->blob.digest + 7);
	blob = part(c, hex);
	/* The blob is trusted by its name, as a layout's are: the stamp taken
	 * when it was cached (inode, mtime) catches one written over since. */
	if (stat(blob, &st) == 0 && (st.st_ino != ino || st.st_mtim.tv_sec != sec ||
				     st.st_mtim.tv_nsec != nsec)) {
		struct ut_err err;

		ut_err_set(&err, "%s: changed since it was cached", blob);
		corrupt(c, &err);
		c->layer = "rebuilt";
		unlink(blob);
		goto out;
	}
	/* The layout may hold the blob already (img_layout_import_blob then
	 * leaves it); else the cache's copy, linked when it can be. */
	rc = img_layout_import_blob(l, blob, &res->blob, NULL) == 0;
	if (rc)
		c->layer = "hit";
out:
	if (!rc)
		memset(res, 0, sizeof(*res));
	ut_buf_release(&b);
	free(blob);
	free(path);
	free(name);
	return rc;
}

void cli_tcache_put_layer(struct cli_tcache *c, const struct img_layer_options *o,
			  const char *rules, const char *blob_dir,
			  const struct img_layer_result *res)
{
	char *name, *path, *rec, *src, *dst, *tmp;
	struct stat st;

	if (!c || strncmp(res->blob.digest, "sha256:", 7))
		return;
	src = ut_asprintf("%s/%s", blob_dir, res->blob.digest + 7);
	tmp = ut_asprintf("%s/blob-%s.tmp-%ld", c->dir, res->blob.digest + 7, (long)getpid());
	dst = ut_asprintf("%s/blob-%s", c->dir, res->blob.digest + 7);
	/* Blobs are immutable: a hardlink shares the inode the layout has. A
	 * cache on another filesystem keeps the record only. */
	/* A blob already kept (another record with the same bytes, e.g. rules
	 * that matched nothing) stays: replacing it would move the inode the
	 * other record's stamp names. */
	if (stat(dst, &st) < 0) {
		unlink(tmp);
		if (link(src, tmp) == 0 && rename(tmp, dst) < 0)
			unlink(tmp);
		if (stat(dst, &st) < 0)
			memset(&st, 0, sizeof(st));
	}
	name = layer_name(o, rules);
	path = part(c, name);
	rec = ut_asprintf("%s %s %s %llu %llu %llu %llu %llu %lld.%09ld\n", res->blob.digest,
			  res->diff_id, res->blob.media_type, (unsigned long long)res->blob.size,
			  (unsigned long long)res->tar_bytes, (unsigned long long)res->entries,
			  (unsigned long long)res->content_bytes, (unsigned long long)st.st_ino,
			  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ut_write_file_atomic(path, rec, strlen(rec), 0644, NULL);
	free(rec);
	free(path);
	free(name);
	free(src);
	free(tmp);
	free(dst);
	cli_tcache_trim(c);
}

json_t *cli_tcache_json(const struct cli_tcache *c)
{
	if (!c)
		return json_pack("{s:b}", "enabled", 0);
	return json_pack("{s:b, s:s, s:s, s:s, s:s}", "enabled", 1, "dir", c->dir, "tree", c->tree,
			 "hashes", c->hashes, "layer", c->layer);
}

/* ---- bounding the root -------------------------------------------------- */

struct entry_age {
	char *name;
	uint64_t bytes;
	struct timespec used;
};

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			/* A stale temporary of a killed run: nobody writes for an hour. */
			if (strstr(de->d_name, ".tmp-") && st.st_mtime < time(NULL) - 3600) {
				unlinkat(dirfd(d), de->d_name, 0);
				continue;
			}
			total += (uint64_t)st.st_blocks * 512;
		}
	}
	closedir(d);
	return total;
}

static int older_first(const void *a, const void *b)
{
	const struct entry_age *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

uint64_t cli_tcache_cap(void)
{
	const char *env = getenv("VM2OCI_TEMPLATE_CACHE_MAX");
	char *end;
	unsigned long long v;

	if (!env || !*env)
		return DEFAULT_CAP;
	v = strtoull(env, &end, 10);
	if (*end == 'K' || *end == 'k')
		v <<= 10;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	else if (*end == 'G' || *end == 'g')
		v <<= 30;
	return v;
}

void cli_tcache_trim(const struct cli_tcache *c)
{
	uint64_t cap = cli_tcache_cap(), total = 0;
	struct entry_age *v = NULL;
	size_t n = 0, i;
	struct dirent *de;
	DIR *d = opendir(c->root);

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		char *sub;

		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		sub = ut_asprintf("%s/%s", c->root, de->d_name);
		v = ut_realloc(v, (n + 1) * sizeof(*v));
		v[n].name = sub;
		v[n].bytes = dir_bytes(sub);
		v[n].used = st.st_mtim;
		total += v[n++].bytes;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), older_first);
	for (i = 0; i < n; i++) {
		/* The template in use stays, even alone over the cap. */
		if (total > cap && strcmp(v[i].name, c->dir)) {
			ut_rm_rf(v[i].name);
			total -= v[i].bytes;
		}
		free(v[i].name);
	}
	free(v);
}

void cli_tcache_free(struct cli_tcache *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c->root);
	free(c->identity);
	free(c);
}
