/*
 * tree_file.c - files written whole or not at all, and a tree saved to a
 * file and loaded back: the image module's cache of base trees by layer
 * digest and the CLI's template cache.
 *
 * Format: "VM2OCIT2", u64 count, then per entry fixed-width little-endian
 * fields and length-prefixed strings, src_a/src_b included (a disk tree's
 * content source reads by them). The files are ours, but a truncated or stale
 * one must still fail cleanly rather than be trusted.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_MAGIC "VM2OCIT2"
/* The fewest bytes an entry takes: no count beyond what a file holds. */
#define ENTRY_MIN_BYTES 96

int ut_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ut_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			 struct ut_err *err)
{
	char *tmp = ut_asprintf("%s.tmp-XXXXXX", path);
	int fd = mkstemp(tmp), rc = 0;

	if (fd < 0) {
		rc = ut_err_set(err, "%s: %s", tmp, strerror(errno));
	} else if (ut_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || close(fd) < 0 ||
		   rename(tmp, path) < 0) {
		rc = ut_err_set(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static int put_u32(struct ut_buf *b, uint32_t v)
{
	unsigned char x[4] = { v, v >> 8, v >> 16, v >> 24 };

	return ut_buf_add(b, x, 4, NULL);
}

static int put_u64(struct ut_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	return put_u32(b, (uint32_t)(v >> 32));
}

static int put_bytes(struct ut_buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	return ut_buf_add(b, p, n, NULL);
}

/* Writes b out and empties it. */
static int flush_chunk(int fd, struct ut_buf *b)
{
	if (ut_write_all(fd, b->data, b->len) < 0)
		return -1;
	ut_buf_reset(b);
	return 0;
}

static void put_entry(struct ut_buf *b, const struct ut_entry *e)
{
	size_t k;

	put_bytes(b, e->path, strlen(e->path));
	put_u32(b, e->type);
	put_u32(b, e->mode);
	put_u32(b, e->uid);
	put_u32(b, e->gid);
	put_u64(b, e->size);
	put_u64(b, (uint64_t)e->mtime_sec);
	put_u32(b, e->mtime_nsec);
	put_u32(b, e->rdev_major);
	put_u32(b, e->rdev_minor);
	put_bytes(b, e->link ? e->link : "", e->link ? strlen(e->link) : 0);
	put_u32(b, e->link ? 1 : 0);
	put_u32(b, (uint32_t)e->nxattrs);
	for (k = 0; k < e->nxattrs; k++) {
		put_bytes(b, e->xattrs[k].name, strlen(e->xattrs[k].name));
		put_bytes(b, e->xattrs[k].value, e->xattrs[k].len);
	}
	put_u64(b, e->link_id);
	put_u64(b, e->src_a);
	put_u64(b, e->src_b);
	put_u32(b, e->nlink);
	put_u32(b, (uint32_t)e->has_digest);
	ut_buf_add(b, e->digest, UT_SHA256_LEN, NULL);
}

/*
 * The file is written as it is encoded, a chunk at a time, under a temporary
 * name renamed into place: encoding a million entries whole would hold one
 * more copy of the tree in memory. A killed run leaves PATH.tmp-XXXXXX for
 * its cache's trimming to remove once it is stale.
 */
int ut_tree_save(const struct ut_tree *t, const char *path, struct ut_err *err)
{
	char *tmp = ut_asprintf("%s.tmp-XXXXXX", path);
	struct ut_buf b;
	size_t i;
	int fd, rc = -1;

	ut_buf_init(&b, 0);
	fd = mkstemp(tmp);
	if (fd < 0) {
		ut_err_set(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	ut_buf_add(&b, TREE_MAGIC, 8, NULL);
	put_u64(&b, t->n);
	for (i = 0; i < t->n; i++) {
		put_entry(&b, &t->v[i]);
		if (b.len >= (1u << 20) && flush_chunk(fd, &b) < 0)
			break;
	}
	if (i < t->n || flush_chunk(fd, &b) < 0 || close(fd) < 0) {
		ut_err_set(err, "%s: %s", tmp, strerror(errno));
		if (i < t->n)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	ut_buf_release(&b);
	free(tmp);
	return rc;
}

struct rd {
	const unsigned char *p;
	size_t left;
	int bad;
};

static const void *take(struct rd *r, size_t n)
{
	const void *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t get_u32(struct rd *r)
{
	const unsigned char *x = take(r, 4);

	return x ? ut_le32(x) : 0;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t lo = get_u32(r);

	return lo | (uint64_t)get_u32(r) << 32;
}

static char *get_str(struct rd *r, size_t *len)
{
	uint32_t n = get_u32(r);
	const char *s = take(r, n);

	if (!s)
		return NULL;
	if (len)
		*len = n;
	return ut_strndup(s, n);
}

/* One entry; r->bad set (and e released) when it does not parse. */
static void get_entry(struct rd *r, struct ut_entry *e)
{
	uint32_t nx, k, has_link;
	const void *d;
	char *link;

	e->path = get_str(r, NULL);
	e->type = get_u32(r);
	e->mode = get_u32(r) & 07777;
	e->uid = get_u32(r);
	e->gid = get_u32(r);
	e->size = get_u64(r);
	e->mtime_sec = (int64_t)get_u64(r);
	e->mtime_nsec = get_u32(r);
	e->rdev_major = get_u32(r);
	e->rdev_minor = get_u32(r);
	link = get_str(r, NULL);
	has_link = get_u32(r);
	if (has_link)
		e->link = link;
	else
		free(link);
	nx = get_u32(r);
	if (nx > UT_MAX_XATTRS)
		r->bad = 1;
	for (k = 0; k < nx && !r->bad; k++) {
		size_t vlen = 0;
		char *name = get_str(r, NULL), *val = get_str(r, &vlen);

		if (name && val)
			ut_entry_add_xattr(e, name, val, vlen);
		free(name);
		free(val);
	}
	e->link_id = get_u64(r);
	e->src_a = get_u64(r);
	e->src_b = get_u64(r);
	e->nlink = get_u32(r);
	e->has_digest = get_u32(r) != 0;
	d = take(r, UT_SHA256_LEN);
	if (d)
		memcpy(e->digest, d, UT_SHA256_LEN);
	if (r->bad || !e->path || e->type < UT_REG || e->type > UT_SOCK) {
		r->bad = 1;
		ut_entry_release(e);
	}
}

int ut_tree_load(const char *path, struct ut_tree **out, struct ut_err *err)
{
	struct ut_tree *t = NULL;
	struct ut_buf b;
	struct rd r;
	uint64_t n, i;
	int rc = -1;

	ut_buf_init(&b, (size_t)1 << 32);
	if (ut_read_host_file(path, &b, err) < 0)
		goto out;
	r.p = b.data;
	r.left = b.len;
	r.bad = 0;
	if (!take(&r, 8) || memcmp(b.data, TREE_MAGIC, 8)) {
		ut_err_set(err, "%s: not a tree file", path);
		goto out;
	}
	n = get_u64(&r);
	if (n > r.left / ENTRY_MIN_BYTES + 1) {
		ut_err_set(err, "%s: bad entry count", path);
		goto out;
	}
	t = ut_tree_new();
	for (i = 0; i < n && !r.bad; i++) {
		struct ut_entry e = { 0 };

		get_entry(&r, &e);
		if (!r.bad)
			ut_tree_take(t, &e);
	}
	if (r.bad || r.left) {
		ut_err_set(err, "%s: truncated or corrupt tree file", path);
		goto out;
	}
	ut_tree_sort(t);
	*out = t;
	t = NULL;
	rc = 0;
out:
	ut_tree_free(t);
	ut_buf_release(&b);
	return rc;
}
