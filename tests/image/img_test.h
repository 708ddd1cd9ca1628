/*
 * img_test.h - helpers shared by the image module's tests: a synthetic tree
 * with in-memory content, and an independent listing of unpacked trees.
 */
#ifndef VM2OCI_IMG_TEST_H
#define VM2OCI_IMG_TEST_H

#include "testutil.h"
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>

/* ---- in-memory content: e->src_a indexes a table of byte strings --------- */

struct mem_blob {
	unsigned char *data;
	size_t len;
};

struct mem_src {
	struct mem_blob *v;
	size_t n;
	int fail_at; /* when > 0: the fail_at'th open fails midway through reading */
	int opens;
};

struct mem_handle {
	const struct mem_blob *b;
	size_t off;
	int fail;
};

static inline int mem_open(void *ctx, const struct ut_entry *e, void **h, struct ut_err *err)
{
	struct mem_src *s = ctx;
	struct mem_handle *mh;

	if (e->src_a >= s->n)
		return ut_err_set(err, "%s: no content", e->path);
	mh = calloc(1, sizeof(*mh));
	mh->b = &s->v[e->src_a];
	mh->fail = s->fail_at && ++s->opens == s->fail_at;
	*h = mh;
	return 0;
}

static inline ssize_t mem_read(void *ctx, void *h, void *buf, size_t len, struct ut_err *err)
{
	struct mem_handle *mh = h;
	size_t n = mh->b->len - mh->off;

	if (mh->fail && mh->off > 0)
		return ut_err_set(err, "simulated read error");
	if (n > len)
		n = len;
	if (mh->fail && n > 1)
		n = 1;
	memcpy(buf, mh->b->data + mh->off, n);
	mh->off += n;
	return (ssize_t)n;
}

static inline void mem_close(void *ctx, void *h)
{
	free(h);
}

static const struct ut_content_ops mem_ops = { mem_open, mem_read, mem_close };

static inline size_t mem_add(struct mem_src *s, const void *data, size_t len)
{
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n].data = malloc(len ? len : 1);
	memcpy(s->v[s->n].data, data, len);
	s->v[s->n].len = len;
	return s->n++;
}

static inline void mem_free(struct mem_src *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].data);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static inline struct ut_entry *add_e(struct ut_tree *t, const char *path, enum ut_ftype type,
				     uint32_t mode, uint32_t uid, int64_t mt, uint32_t ns)
{
	struct ut_entry *e = ut_tree_add(t, path);

	e->type = type;
	e->mode = mode;
	e->uid = uid;
	e->gid = uid;
	e->mtime_sec = mt;
	e->mtime_nsec = ns;
	return e;
}

static inline struct ut_entry *add_file(struct ut_tree *t, struct mem_src *s, const char *path,
					const void *data, size_t len, uint32_t mode)
{
	struct ut_entry *e = add_e(t, path, UT_REG, mode, 0, 1700000000, 123456789);

	e->size = len;
	e->src_a = mem_add(s, data, len);
	ut_sha256_buf(data, len, e->digest);
	e->has_digest = 1;
	return e;
}

/*
 * The synthetic tree of every entry kind the brief lists. big > 0 adds a
 * file of that many pseudo-random bytes.
 */
static inline struct ut_tree *make_tree(struct mem_src *s, size_t big)
{
	struct ut_tree *t = ut_tree_new();
	struct ut_entry *e;
	static const unsigned char cap[20] = { 1, 0, 0, 2, 0x00, 0x20, 0, 0 };
	char *data;

	t->content.ops = &mem_ops;
	t->content.ctx = s;
	add_e(t, "", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "bin", UT_DIR, 0755, 0, 1700000001, 5);
	e = add_file(t, s, "bin/ping", "ELF-ish ping", 12, 04755);
	ut_entry_add_xattr(e, "security.capability", cap, sizeof(cap));
	add_e(t, "bin/sh", UT_LNK, 0777, 0, 1700000002, 0)->link = strdup("dash");
	add_e(t, "dev", UT_DIR, 0755, 0, 1700000000, 0);
	e = add_e(t, "dev/null", UT_CHR, 0666, 0, 1700000000, 0);
	e->rdev_major = 1, e->rdev_minor = 3;
	e = add_e(t, "dev/sda", UT_BLK, 0660, 6, 1700000000, 0);
	e->rdev_major = 8, e->rdev_minor = 0;
	add_e(t, "dev/fifo", UT_FIFO, 0600, 0, 1700000000, 0);
	e = add_file(t, s, "empty", "", 0, 0644);
	e->mtime_sec = 1600000000, e->mtime_nsec = 0;
	add_e(t, "home", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "home/u", UT_DIR, 0700, 1234, 1700000000, 0);
	e = add_file(t, s, "home/u/file with spaces", "spaces\n", 7, 0640);
	e->uid = e->gid = 1234;
	e = add_file(t, s, "home/u/line\nbreak", "newline\n", 8, 0600);
	e->uid = e->gid = 1234;
	e = add_file(t, s, "home/u/\xc3\xa9t\xc3\xa9-\xe2\x98\x83", "utf8\n", 5, 0644);
	e->uid = e->gid = 1234;
	e = add_file(t, s, "home/u/xattrs", "x", 1, 0644);
	e->uid = e->gid = 1234;
	ut_entry_add_xattr(e, "user.comment", "hello", 5);
	ut_entry_add_xattr(e, "user.empty", "", 0);
	e = add_file(t, s, "link1", "shared inode\n", 13, 0644);
	e->link_id = 42;
	e = add_file(t, s, "link2", "shared inode\n", 13, 0644);
	e->link_id = 42;
	e->src_a = 99999; /* must never be read: it is written as a hardlink */
	e = add_file(t, s, "usr/share/doc/long/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/name",
		     "long name", 9, 0644);
	add_e(t, "usr", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "usr/share", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "usr/share/doc", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "usr/share/doc/long", UT_DIR, 0755, 0, 1700000000, 0);
	add_e(t, "usr/share/doc/long/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", UT_DIR, 0755, 0,
	      1700000000, 0);
	if (big) {
		uint64_t x = 88172645463325252ULL;

		data = malloc(big);
		for (size_t i = 0; i < big; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* Half random, half text: something to compress. */
			data[i] = (i / 4096) % 2 ? (char)x : "lorem ipsum dolor "[i % 18];
		}
		add_file(t, s, "big", data, big, 0644);
		free(data);
	}
	ut_tree_sort(t);
	ut_tree_count_links(t);
	return t;
}

/* Writes every entry of t as one layer (img_layer_write_tree, which every
 * layer test thus checks against the peers). */
static inline int write_tree_layer(const char *blob_dir, enum img_compress c, struct ut_tree *t,
				   struct img_layer_result *res, struct ut_err *err)
{
	struct img_layer_options opt = { .compress = c, .threads = 2 };

	return img_layer_write_tree(blob_dir, &opt, t, res, err);
}

/* The created time write_image puts in configs (tests vary it to get a
 * different config over the same layer). */
static int64_t img_test_created = 1700000000;

/* A one-layer image of t tagged tag in layout dir; returns the manifest. */
static inline int write_image(const char *dir, const char *tag, enum img_compress c,
			      struct ut_tree *t, struct img_descriptor *man,
			      struct img_layer_result *res, struct ut_err *err)
{
	struct img_layout *l = NULL;
	struct img_config cfg = { 0 };
	char *diff;
	int rc = -1;

	cfg.created = img_test_created;
	cfg.architecture = strdup("amd64");
	cfg.os = strdup("linux");
	if (img_layout_open(dir, &l, err) < 0)
		goto out;
	if (write_tree_layer(img_layout_blob_dir(l), c, t, res, err) < 0)
		goto out;
	diff = strdup(res->diff_id);
	cfg.diff_ids = &diff;
	cfg.ndiff_ids = 1;
	rc = img_layout_add_image(l, &cfg, &res->blob, 1, tag, man, err);
	cfg.diff_ids = NULL;
	cfg.ndiff_ids = 0;
	free(diff);
	if (rc == 0)
		rc = img_layout_commit(l, err);
out:
	img_layout_free(l);
	img_config_release(&cfg);
	return rc;
}

/* ---- listings, in one format for both sides ------------------------------ */

struct recs {
	char **v;
	size_t n;
};

static inline void recs_add(struct recs *r, char *s)
{
	r->v = realloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = s;
}

static inline int recs_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline char *recs_join(struct recs *r)
{
	size_t len = 1, i;
	char *out;

	qsort(r->v, r->n, sizeof(*r->v), recs_cmp);
	for (i = 0; i < r->n; i++)
		len += strlen(r->v[i]) + 1;
	out = calloc(1, len);
	for (i = 0; i < r->n; i++) {
		strcat(out, r->v[i]);
		strcat(out, "\n");
		free(r->v[i]);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
	return out;
}

/* find(1) side: one record per entry, NUL-separated, turned into lines. */
#define FIND_FMT                                                                              \
	"cd '%s' && { find . -mindepth 1 -type f -printf 'f|%%P|%%m|%%U|%%G|%%s|%%n|%%T@\\0';"    \
	" find . -mindepth 1 -type d -printf 'd|%%P|%%m|%%U|%%G\\0';"                          \
	" find . -mindepth 1 -type l -printf 'l|%%P|%%U|%%G|%%l\\0';"                          \
	" find . -mindepth 1 \\( -type c -o -type b -o -type p \\) -printf '%%y|%%P|%%m|%%U|%%G\\0'; }" \
	" | LC_ALL=C sort -z | tr '\\0' '\\036'"

/* The same records from a tree (mtime of files only: umoci and tar set
 * directory times in ways of their own). */
static inline char *tree_listing(const struct ut_tree *t)
{
	struct recs r = { 0 };
	size_t i, len = 1;
	char *out;

	for (i = 0; i < t->n; i++) {
		const struct ut_entry *e = &t->v[i];

		if (!e->path[0])
			continue;
		switch (e->type) {
		case UT_REG:
			recs_add(&r, ut_asprintf("f|%s|%o|%u|%u|%" PRIu64 "|%u|%" PRId64 ".%09u0",
						 e->path, e->mode, e->uid, e->gid, e->size,
						 e->nlink ? e->nlink : 1, e->mtime_sec, e->mtime_nsec));
			break;
		case UT_DIR:
			recs_add(&r, ut_asprintf("d|%s|%o|%u|%u", e->path, e->mode, e->uid, e->gid));
			break;
		case UT_LNK:
			recs_add(&r, ut_asprintf("l|%s|%u|%u|%s", e->path, e->uid, e->gid, e->link));
			break;
		case UT_CHR:
		case UT_BLK:
		case UT_FIFO:
			recs_add(&r, ut_asprintf("%c|%s|%o|%u|%u",
						 e->type == UT_CHR ? 'c' : e->type == UT_BLK ? 'b' : 'p',
						 e->path, e->mode, e->uid, e->gid));
			break;
		default:
			break;
		}
	}
	qsort(r.v, r.n, sizeof(*r.v), recs_cmp);
	for (i = 0; i < r.n; i++)
		len += strlen(r.v[i]) + 1;
	out = calloc(1, len);
	for (i = 0; i < r.n; i++) {
		strcat(out, r.v[i]);
		strcat(out, "\036");
		free(r.v[i]);
	}
	free(r.v);
	return out;
}

/* Prints the first difference of two listings (for the test log). */
static inline void show_diff(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	if (!a[i] && !b[i])
		return;
	while (i > 0 && a[i - 1] != '\036')
		i--;
	fprintf(stderr, "first difference:\n  want: %.200s\n  got:  %.200s\n", a + i, b + i);
}

/* Reads a host file whole. */
static inline unsigned char *slurp(const char *path, size_t *len)
{
	struct ut_buf b;

	ut_buf_init(&b, 0);
	if (ut_read_host_file(path, &b, NULL) < 0) {
		ut_buf_release(&b);
		return NULL;
	}
	return (unsigned char *)ut_buf_detach(&b, len);
}

#endif
