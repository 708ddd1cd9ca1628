/*
 * dr_treecmp.h - the diskread tests' two views of a filesystem and their
 * comparison: our walk (dr_fs, content hashed) and the kernel's (lstat,
 * readlink, xattrs and sha256 of a mounted directory), one canonical line
 * per entry. Shared by test_diskfs.c and test_journal.c.
 */
#ifndef VM2OCI_DR_TREECMP_H
#define VM2OCI_DR_TREECMP_H

#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "diskread.h"

/* Runs a shell command; the test fails when it does. */
#define SH(...)                                                             \
	do {                                                                \
		int rc_ = tu_sh(__VA_ARGS__);                                \
		if (rc_ != 0)                                               \
			fail_msg("command failed (%d): %s", rc_, #__VA_ARGS__); \
	} while (0)

static inline void escape_into(char *out, size_t outsz, const char *s)
{
	size_t o = 0;

	for (; *s && o + 5 < outsz; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* One canonical line per entry: what both sides must agree on. */
static inline char *entry_line(const struct ut_entry *e)
{
	char path[4096], hex[UT_SHA256_HEX], *xa, *line;
	size_t i, xl = 1;

	escape_into(path, sizeof(path), e->path);
	for (i = 0; i < e->nxattrs; i++)
		xl += strlen(e->xattrs[i].name) + 2 * e->xattrs[i].len + 3;
	xa = calloc(1, xl);
	for (i = 0; i < e->nxattrs; i++) {
		char *h = malloc(2 * e->xattrs[i].len + 1);

		ut_hex(e->xattrs[i].value, e->xattrs[i].len, h);
		strcat(xa, e->xattrs[i].name);
		strcat(xa, "=");
		strcat(xa, h);
		strcat(xa, ";");
		free(h);
	}
	hex[0] = '\0';
	if (e->has_digest)
		ut_hex(e->digest, UT_SHA256_LEN, hex);
	line = ut_asprintf("/%s %s %04o %u:%u size=%llu mtime=%lld.%09u rdev=%u,%u link=%s "
			   "ino=%llu nlink=%u sha=%s xattrs=%s",
			   path, ut_ftype_name(e->type), e->mode, e->uid, e->gid,
			   (unsigned long long)(e->type == UT_REG || e->type == UT_LNK ? e->size : 0),
			   (long long)e->mtime_sec, e->mtime_nsec, e->rdev_major, e->rdev_minor,
			   e->link ? e->link : "",
			   (unsigned long long)(e->type == UT_DIR ? 0 : e->link_id & 0xffffffffffffULL),
			   e->type == UT_DIR ? 0 : e->nlink, hex, xa);
	free(xa);
	return line;
}

/* Number of differing lines, each printed. */
/* Counts the entries that differ; prints each one when verbose (a
 * comparison expected to differ stays quiet, so a failure's own lines are
 * what a truncated CI log shows). */
static inline int compare_trees_verbose(struct ut_tree *a, const char *aname, struct ut_tree *b,
					const char *bname, int verbose)
{
	size_t i = 0, j = 0;
	int diffs = 0;

	ut_tree_sort(a);
	ut_tree_sort(b);
	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->v[i].path, b->v[j].path);

		if (c < 0) {
			char *l = entry_line(&a->v[i++]);

			if (verbose)
				fprintf(stderr, "only in %s: %s\n", aname, l);
			free(l);
			diffs++;
		} else if (c > 0) {
			char *l = entry_line(&b->v[j++]);

			if (verbose)
				fprintf(stderr, "only in %s: %s\n", bname, l);
			free(l);
			diffs++;
		} else {
			char *la = entry_line(&a->v[i++]), *lb = entry_line(&b->v[j++]);

			if (strcmp(la, lb)) {
				if (verbose)
					fprintf(stderr, "%s: %s\n%s: %s\n", aname, la, bname, lb);
				diffs++;
			}
			free(la);
			free(lb);
		}
	}
	return diffs;
}

static inline int compare_trees(struct ut_tree *a, const char *aname, struct ut_tree *b,
				const char *bname)
{
	return compare_trees_verbose(a, aname, b, bname, 1);
}

/* ---- the kernel's view: lstat & co on a read-only loop mount ------------- */

static inline void digest_host(const char *path, struct ut_entry *e)
{
	unsigned char buf[65536];
	struct ut_sha256 h;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(ut_sha256_init(&h), 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ut_sha256_update(&h, buf, (size_t)n);
	assert_true(n == 0);
	ut_sha256_final(&h, e->digest);
	ut_sha256_release(&h);
	e->has_digest = 1;
	close(fd);
}

static inline void host_list(const char *root, const char *rel, struct ut_tree *t)
{
	char *full = *rel ? ut_asprintf("%s/%s", root, rel) : ut_strdup(root);
	struct ut_entry *e;
	struct stat st;
	char names[65536];
	ssize_t nl, k;

	assert_int_equal(lstat(full, &st), 0);
	e = ut_tree_add(t, rel);
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: e->type = UT_REG; break;
	case S_IFDIR: e->type = UT_DIR; break;
	case S_IFLNK: e->type = UT_LNK; break;
	case S_IFCHR: e->type = UT_CHR; break;
	case S_IFBLK: e->type = UT_BLK; break;
	case S_IFIFO: e->type = UT_FIFO; break;
	case S_IFSOCK: e->type = UT_SOCK; break;
	}
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->size = (uint64_t)st.st_size;
	e->mtime_sec = st.st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	e->link_id = st.st_ino;
	e->nlink = (uint32_t)st.st_nlink;
	if (e->type == UT_CHR || e->type == UT_BLK) {
		e->rdev_major = major(st.st_rdev);
		e->rdev_minor = minor(st.st_rdev);
	}
	if (e->type == UT_LNK) {
		char target[8192];
		ssize_t n = readlink(full, target, sizeof(target) - 1);

		assert_true(n >= 0);
		target[n] = '\0';
		e->link = ut_strdup(target);
	}
	if (e->type == UT_REG)
		digest_host(full, e);
	nl = llistxattr(full, names, sizeof(names));
	for (k = 0; nl > 0 && k < nl; k += (ssize_t)strlen(names + k) + 1) {
		unsigned char val[65536];
		ssize_t vl = lgetxattr(full, names + k, val, sizeof(val));

		assert_true(vl >= 0);
		ut_entry_add_xattr(e, names + k, val, (size_t)vl);
	}
	ut_entry_sort_xattrs(e);
	if (e->type == UT_DIR) {
		DIR *d = opendir(full);
		struct dirent *de;
		char **kids = NULL;
		size_t nk = 0, i;

		assert_non_null(d);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			kids = realloc(kids, (nk + 1) * sizeof(*kids));
			kids[nk++] = *rel ? ut_asprintf("%s/%s", rel, de->d_name)
					  : ut_strdup(de->d_name);
		}
		closedir(d);
		/* e may move when the tree grows: it is not used below. */
		for (i = 0; i < nk; i++) {
			host_list(root, kids[i], t);
			free(kids[i]);
		}
		free(kids);
	}
	free(full);
}

/* ---- our view ----------------------------------------------------------- */

static inline int take_cb(void *ctx, struct ut_entry *e)
{
	ut_tree_take(ctx, e);
	return 0;
}

static inline int fsc_open(void *ctx, const struct ut_entry *e, void **h, struct ut_err *err)
{
	struct dr_fs *fs = ctx;

	return dr_fs_open_file(fs, e->src_b, h, err);
}

static inline ssize_t fsc_read(void *ctx, void *h, void *buf, size_t len, struct ut_err *err)
{
	struct dr_fs *fs = ctx;

	return dr_fs_read_file(fs, h, buf, len, err);
}

static inline void fsc_close(void *ctx, void *h)
{
	struct dr_fs *fs = ctx;

	dr_fs_close_file(fs, h);
}

static const struct ut_content_ops fs_content = { fsc_open, fsc_read, fsc_close };

/* Walks img (a bare filesystem) with dr_fs into a digested tree; with
 * DR_FS_* flags, and the open's note copied into note (may be NULL). */
static inline struct ut_tree *fs_tree_flags(const char *img, unsigned flags,
					    struct dr_fs_info *info, char *note, size_t notesz)
{
	struct dr_blockdev *bd = NULL;
	struct dr_fs *fs = NULL;
	struct ut_err err = { { 0 } };
	struct ut_tree *t = ut_tree_new();

	if (dr_blockdev_open(img, "raw", &bd, &err) < 0)
		fail_msg("%s", err.msg);
	if (dr_fs_open_flags(bd, flags, &fs, &err) < 0)
		fail_msg("%s", err.msg);
	if (info)
		*info = *dr_fs_info(fs);
	if (note)
		snprintf(note, notesz, "%s", dr_fs_note(fs));
	if (dr_fs_walk(fs, 0, "", take_cb, t, &err) < 0)
		fail_msg("%s", err.msg);
	t->content.ops = &fs_content;
	t->content.ctx = fs;
	if (ut_tree_digest_all(t, &err) < 0)
		fail_msg("%s", err.msg);
	t->content.ops = NULL;
	dr_fs_free(fs);
	dr_blockdev_free(bd);
	return t;
}

static inline struct ut_tree *fs_tree(const char *img, struct dr_fs_info *info)
{
	return fs_tree_flags(img, 0, info, NULL, 0);
}

#endif
