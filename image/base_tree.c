/*
 * base_tree.c - the tree that tar layers give when applied in order, read by
 * streaming each layer once with libarchive (never extracted), and a binary
 * cache of such trees.
 *
 * Whiteouts and replacements act on the lower layers only: a layer's own
 * entries are collected first, then the lower tree is filtered by the
 * layer's ".wh." names, its opaque markers and its non-directories (a file
 * where a directory was hides everything that was below it), and the layer
 * is laid on top.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define READ_CHUNK (1u << 20)
/* Bounds for one tar member's metadata from a layer we did not write. */
#define MAX_XATTRS 4096

struct img_tree_builder {
	struct ut_tree *t; /* sorted */
	uint64_t next_link;
	const struct img_tree_filter *filter; /* borrowed, NULL: everything */
};

struct img_tree_builder *img_tree_builder_new(void)
{
	struct img_tree_builder *tb = ut_calloc(1, sizeof(*tb));

	tb->t = ut_tree_new();
	ut_tree_add(tb->t, "")->type = UT_DIR;
	tb->t->v[0].mode = 0755;
	tb->next_link = 1;
	return tb;
}

void img_tree_builder_free(struct img_tree_builder *tb)
{
	if (!tb)
		return;
	ut_tree_free(tb->t);
	free(tb);
}

void img_tree_builder_set_filter(struct img_tree_builder *tb, const struct img_tree_filter *f)
{
	tb->filter = f;
}

static int wanted(const struct img_tree_filter *f, const char *path)
{
	size_t i;

	if (!f)
		return 1;
	for (i = 0; i < f->nprefixes; i++)
		if (ut_path_is_under(path, f->prefixes[i]) || ut_path_is_under(f->prefixes[i], path))
			return 1;
	return 0;
}

void img_tree_builder_set(struct img_tree_builder *tb, struct ut_tree *t)
{
	size_t i;

	ut_tree_free(tb->t);
	tb->t = t;
	ut_tree_sort(t);
	tb->next_link = 1;
	for (i = 0; i < t->n; i++)
		if (t->v[i].link_id >= tb->next_link)
			tb->next_link = t->v[i].link_id + 1;
}

/* ---- a string -> index map for the layer being read --------------------- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}


static void pmap_grow(struct img_pmap *m)
{
	char **ok = m->key;
	size_t *ov = m->val, on = m->alloc, i;

	m->alloc = on ? on * 2 : 1024;
	m->key = ut_calloc(m->alloc, sizeof(*m->key));
	m->val = ut_calloc(m->alloc, sizeof(*m->val));
	m->n = 0;
	for (i = 0; i < on; i++)
		if (ok[i])
			img_pmap_put(m, ok[i], ov[i]);
	free(ok);
	free(ov);
}

/* Takes key (heap). */
void img_pmap_put(struct img_pmap *m, char *key, size_t val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->alloc)
		pmap_grow(m);
	for (i = str_hash(key) & (m->alloc - 1); m->key[i]; i = (i + 1) & (m->alloc - 1))
		if (!strcmp(m->key[i], key)) {
			free(key);
			m->val[i] = val;
			return;
		}
	m->key[i] = key;
	m->val[i] = val;
	m->n++;
}

int img_pmap_get(const struct img_pmap *m, const char *key, size_t *val)
{
	size_t i;

	if (!m->alloc)
		return 0;
	for (i = str_hash(key) & (m->alloc - 1); m->key[i]; i = (i + 1) & (m->alloc - 1))
		if (!strcmp(m->key[i], key)) {
			*val = m->val[i];
			return 1;
		}
	return 0;
}

void img_pmap_release(struct img_pmap *m)
{
	size_t i;

	for (i = 0; i < m->alloc; i++)
		free(m->key[i]);
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

/* ---- sorted string sets ------------------------------------------------- */

struct strset {
	char **v;
	size_t n, alloc;
};

static void strset_add(struct strset *s, const char *str)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 64;
		s->v = ut_realloc(s->v, s->alloc * sizeof(*s->v));
	}
	s->v[s->n++] = ut_strdup(str);
}

static int pstrcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_sort(struct strset *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), pstrcmp);
}

static int strset_has(const struct strset *s, const char *str)
{
	return s->n && bsearch(&str, s->v, s->n, sizeof(*s->v), pstrcmp) != NULL;
}

static void strset_release(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/*
 * True when path or one of its ancestors is in self_or_up, or one of its
 * strict ancestors is in strictly_up. buf has room for path.
 */
static int hidden(const char *path, const struct strset *self_or_up,
		  const struct strset *strictly_up, char *buf)
{
	size_t i, n = strlen(path);

	if (!self_or_up->n && !strictly_up->n)
		return 0;
	if (strset_has(strictly_up, ""))
		return 1;
	for (i = 0; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(buf, path, i);
		buf[i] = '\0';
		if (strset_has(self_or_up, buf))
			return 1;
		if (i < n && strset_has(strictly_up, buf))
			return 1;
	}
	return 0;
}

/* ---- reading one layer --------------------------------------------------- */

const char *img_entry_name(struct archive_entry *ae)
{
	const char *s = archive_entry_pathname_utf8(ae);

	return s ? s : archive_entry_pathname(ae);
}

const char *img_entry_hardlink(struct archive_entry *ae)
{
	const char *s = archive_entry_hardlink_utf8(ae);

	return s ? s : archive_entry_hardlink(ae);
}

const char *img_entry_symlink(struct archive_entry *ae)
{
	const char *s = archive_entry_symlink_utf8(ae);

	return s ? s : archive_entry_symlink(ae);
}

static int fill_entry(struct archive *a, struct archive_entry *ae, struct ut_entry *e,
		      unsigned char *buf, const struct img_tree_filter *f, const char *where,
		      struct ut_err *err)
{
	const char *name, *tgt;
	const void *val;
	size_t vlen;
	la_int64_t size;

	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: e->type = UT_REG; break;
	case AE_IFDIR: e->type = UT_DIR; break;
	case AE_IFLNK: e->type = UT_LNK; break;
	case AE_IFCHR: e->type = UT_CHR; break;
	case AE_IFBLK: e->type = UT_BLK; break;
	case AE_IFIFO: e->type = UT_FIFO; break;
	case AE_IFSOCK: e->type = UT_SOCK; break;
	default:
		return ut_err_set(err, "%s: %s: unknown file type", where, e->path);
	}
	e->mode = archive_entry_perm(ae) & 07777;
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	e->mtime_sec = archive_entry_mtime(ae);
	e->mtime_nsec = archive_entry_mtime_is_set(ae) ? (uint32_t)archive_entry_mtime_nsec(ae) : 0;
	if (e->type == UT_CHR || e->type == UT_BLK) {
		e->rdev_major = (uint32_t)archive_entry_rdevmajor(ae);
		e->rdev_minor = (uint32_t)archive_entry_rdevminor(ae);
	}
	if (e->type == UT_LNK) {
		tgt = img_entry_symlink(ae);
		if (!tgt)
			return ut_err_set(err, "%s: %s: symlink without a target", where, e->path);
		e->link = ut_strdup(tgt);
	}
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &val, &vlen) == ARCHIVE_OK) {
		if (e->nxattrs >= MAX_XATTRS)
			return ut_err_set(err, "%s: %s: too many xattrs", where, e->path);
		/* libarchive reports both SCHILY.xattr and LIBARCHIVE.xattr records. */
		if (ut_entry_find_xattr(e, name))
			continue;
		ut_entry_add_xattr(e, name, val, vlen);
	}
	ut_entry_sort_xattrs(e);
	if (e->type == UT_REG) {
		struct ut_sha256 h;
		uint64_t total = 0;

		size = archive_entry_size(ae);
		if (size < 0)
			return ut_err_set(err, "%s: %s: negative size", where, e->path);
		e->size = (uint64_t)size;
		if (ut_sha256_init(&h) < 0)
			return ut_err_set(err, "sha256 unavailable");
		if (f && f->file_begin && f->file_begin(f->ctx, e, err) < 0) {
			ut_sha256_release(&h);
			return -1;
		}
		for (;;) {
			la_ssize_t n = archive_read_data(a, buf, READ_CHUNK);

			if (n < 0) {
				ut_sha256_release(&h);
				return ut_err_set(err, "%s: %s: %s", where, e->path,
						  archive_error_string(a));
			}
			if (n == 0)
				break;
			ut_sha256_update(&h, buf, (size_t)n);
			total += (uint64_t)n;
			if (f && f->file_data && f->file_data(f->ctx, buf, (size_t)n, err) < 0) {
				ut_sha256_release(&h);
				return ut_err_prefix(err, "%s: %s: ", where, e->path);
			}
		}
		ut_sha256_final(&h, e->digest);
		ut_sha256_release(&h);
		if (total != e->size)
			return ut_err_set(err, "%s: %s: %llu bytes of content, header says %llu",
					  where, e->path, (unsigned long long)total,
					  (unsigned long long)e->size);
		e->has_digest = 1;
	}
	return 0;
}

static void add_parents(struct ut_tree *t)
{
	struct img_pmap missing = { 0 };
	size_t i, n = t->n, k;

	/* New entries go after the first n; the tree is re-sorted at the end. */
	for (i = 0; i < n; i++) {
		char *p = ut_strdup(t->v[i].path);
		size_t len;

		while ((len = ut_path_parent_len(p)) > 0) {
			p[len] = '\0';
			if (ut_tree_find(t, p) || img_pmap_get(&missing, p, &k))
				break;
			img_pmap_put(&missing, ut_strdup(p), 0);
		}
		free(p);
	}
	for (i = 0; i < missing.alloc; i++) {
		struct ut_entry *e;

		if (!missing.key[i])
			continue;
		e = ut_tree_add(t, missing.key[i]);
		e->type = UT_DIR;
		e->mode = 0755;
	}
	img_pmap_release(&missing);
	ut_tree_sort(t);
}

/*
 * A layer is read through two libarchive readers: the outer one undoes the
 * compression of the blob (hashed on the way in: the digest), the inner one
 * reads the tar from the outer one's output (hashed too: the diff_id). The
 * blob is read up to its declared size and no further, so a blob that is a
 * device or grows while read cannot keep the reader going.
 */
struct layer_stream {
	int fd;
	uint64_t size, done; /* size: UINT64_MAX when unknown */
	const char *name;
	struct ut_sha256 blob_h, tar_h;
	struct archive *outer;
	unsigned char raw[1 << 16], tar[1 << 16];
	char why[160]; /* an I/O error, for the caller's message */
};

static la_ssize_t raw_read(struct archive *a, void *ctx, const void **out)
{
	struct layer_stream *ls = ctx;
	size_t want = sizeof(ls->raw);
	ssize_t n;

	if (ls->size != UINT64_MAX && ls->size - ls->done < want)
		want = (size_t)(ls->size - ls->done);
	if (!want)
		return 0;
	do
		n = read(ls->fd, ls->raw, want);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (n == 0 && ls->size != UINT64_MAX)) {
		if (n < 0)
			snprintf(ls->why, sizeof(ls->why), "%s", strerror(errno));
		else
			snprintf(ls->why, sizeof(ls->why), "shorter than its size (%llu bytes)",
				 (unsigned long long)ls->size);
		if (a)
			archive_set_error(a, EIO, "%s", ls->why);
		return -1;
	}
	ut_sha256_update(&ls->blob_h, ls->raw, (size_t)n);
	ls->done += (uint64_t)n;
	*out = ls->raw;
	return n;
}

static la_ssize_t tar_read(struct archive *a, void *ctx, const void **out)
{
	struct layer_stream *ls = ctx;
	la_ssize_t n = archive_read_data(ls->outer, ls->tar, sizeof(ls->tar));

	if (n < 0) {
		if (a)
			archive_set_error(a, EIO, "%s", archive_error_string(ls->outer));
		return -1;
	}
	ut_sha256_update(&ls->tar_h, ls->tar, (size_t)n);
	*out = ls->tar;
	return n;
}

/* Reads what the tar reader left (end padding, trailing bytes) into both
 * hashes, then checks the blob ends at its size. */
static int drain(struct layer_stream *ls, struct ut_err *err)
{
	const void *p;
	unsigned char extra;
	la_ssize_t n;

	while ((n = tar_read(NULL, ls, &p)) > 0)
		;
	if (n < 0)
		return ut_err_set(err, "%s: %s", ls->name,
				  ls->why[0] ? ls->why : archive_error_string(ls->outer));
	while ((n = raw_read(NULL, ls, &p)) > 0)
		;
	if (n < 0)
		return ut_err_set(err, "%s: %s", ls->name, ls->why);
	if (ls->size != UINT64_MAX) {
		while ((n = read(ls->fd, &extra, 1)) < 0 && errno == EINTR)
			;
		if (n != 0)
			return ut_err_set(err, "%s: longer than its size (%llu bytes)", ls->name,
					  (unsigned long long)ls->size);
	}
	return 0;
}

static int check_sum(struct ut_sha256 *h, const char *want, const char *name, const char *what,
		     struct ut_err *err)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], wanthex[UT_SHA256_HEX];

	ut_sha256_final(h, d);
	ut_hex(d, UT_SHA256_LEN, hex);
	if (!want)
		return 0;
	if (img_digest_hex(want, wanthex) < 0)
		return ut_err_set(err, "%s: the %s is not a sha256 digest", name, what);
	if (strcmp(hex, wanthex))
		return ut_err_set(err, "%s: content is sha256:%s, the %s says %s", name, hex, what,
				  want);
	return 0;
}

/* Opens ls's two readers; NULL with err set. */
static struct archive *stream_open(struct layer_stream *ls, struct ut_err *err)
{
	struct archive *a;
	struct archive_entry *ae;

	ls->outer = archive_read_new();
	archive_read_support_filter_all(ls->outer);
	archive_read_support_format_raw(ls->outer);
	if (archive_read_open2(ls->outer, ls, NULL, raw_read, NULL, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(ls->outer, &ae) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", ls->name,
			   ls->why[0] ? ls->why : archive_error_string(ls->outer));
		return NULL;
	}
	a = archive_read_new();
	archive_read_support_format_tar(a);
	if (archive_read_open2(a, ls, NULL, tar_read, NULL, NULL) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", ls->name, ls->why[0] ? ls->why : archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* A ".wh." member: records what it deletes; 0, or -1 for a whiteout of
 * nothing (".wh." alone names no file: it must not delete its folder). */
static int note_whiteout(const char *p, struct strset *whiteouts, struct strset *opaques,
			 const char *where, struct ut_err *err)
{
	const char *base = ut_path_base(p);
	size_t plen = ut_path_parent_len(p);
	char *target;

	if (!strcmp(base, WH_OPAQUE)) {
		target = ut_strndup(p, plen);
		strset_add(opaques, target);
	} else if (base[4]) {
		target = plen ? ut_asprintf("%.*s/%s", (int)plen, p, base + 4)
			      : ut_strdup(base + 4);
		strset_add(whiteouts, target);
	} else {
		return ut_err_set(err, "%s: %s: whiteout of nothing", where, p);
	}
	free(target);
	return 0;
}

int img_tree_builder_apply(struct img_tree_builder *tb, const struct img_layer_in *in,
			   struct ut_err *err)
{
	struct layer_stream *ls = ut_calloc(1, sizeof(*ls));
	struct ut_tree *layer = ut_tree_new(), *merged = NULL;
	struct strset whiteouts = { 0 }, opaques = { 0 }, gone = { 0 };
	struct archive *a = NULL;
	struct archive_entry *ae;
	unsigned char *buf = ut_malloc(READ_CHUNK);
	struct img_pmap map = { 0 };
	const struct img_tree_filter *f = tb->filter;
	const char *path = in->name;
	char *p = NULL, *scratch = NULL;
	size_t i, idx;
	int rc = -1, r;

	ls->fd = in->fd;
	ls->size = in->size;
	ls->name = in->name;
	ut_sha256_init(&ls->blob_h);
	ut_sha256_init(&ls->tar_h);
	if (!(a = stream_open(ls, err)))
		goto out;
	for (;;) {
		struct ut_entry e = { 0 };
		const char *hl;

		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ut_err_set(err, "%s: %s", path, ls->why[0] ? ls->why : archive_error_string(a));
			goto out;
		}
		free(p);
		p = NULL;
		if (img_tar_path(img_entry_name(ae), &p, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		if (!strncmp(ut_path_base(p), WH_PREFIX, 4)) {
			if (note_whiteout(p, &whiteouts, &opaques, path, err) < 0)
				goto out;
			continue;
		}
		if (!wanted(f, p))
			continue;
		hl = img_entry_hardlink(ae);
		if (hl) {
			const struct ut_entry *tgt = NULL;
			char *tp = NULL;

			if (img_tar_path(hl, &tp, err) < 0) {
				ut_err_prefix(err, "%s: %s: hardlink: ", path, p);
				goto out;
			}
			if (img_pmap_get(&map, tp, &idx)) {
				if (!layer->v[idx].link_id)
					layer->v[idx].link_id = tb->next_link++;
				tgt = &layer->v[idx];
			} else {
				struct ut_entry *lo = ut_tree_find(tb->t, tp);

				if (lo && lo->type != UT_DIR && !strset_has(&whiteouts, tp)) {
					if (!lo->link_id)
						lo->link_id = tb->next_link++;
					tgt = lo;
				}
			}
			if (f && (!tgt || tgt->type == UT_DIR) && !wanted(f, tp)) {
				free(tp); /* a link to a file outside the read set */
				continue;
			}
			if (!tgt || tgt->type == UT_DIR) {
				ut_err_set(err, "%s: %s: hardlink to missing %s", path, p, tp);
				free(tp);
				goto out;
			}
			free(tp);
			ut_entry_copy(&e, tgt);
			free(e.path);
			e.path = ut_strdup(p);
		} else {
			e.path = ut_strdup(p);
			if (fill_entry(a, ae, &e, buf, f, path, err) < 0) {
				ut_entry_release(&e);
				goto out;
			}
		}
		if (!e.path[0] && e.type != UT_DIR) {
			ut_entry_release(&e);
			ut_err_set(err, "%s: the root is not a directory", path);
			goto out;
		}
		ut_tree_take(layer, &e);
		img_pmap_put(&map, ut_strdup(p), layer->n - 1);
	}
	/* A blob that is not what the manifest names is not that layer, even
	 * when it happens to be a valid tar; nor is a tar the config does not
	 * name (a wrong diff_id would be copied into the output's config). */
	if (drain(ls, err) < 0 ||
	    check_sum(&ls->blob_h, in->digest, path, "manifest", err) < 0 ||
	    check_sum(&ls->tar_h, in->diff_id, path, "config's diff_id", err) < 0)
		goto out;

	if (tb->t->n == 1 && !tb->t->v[0].path[0]) {
		/* Nothing below but the root (the first layer): the layer is the
		 * tree, which spares a second copy of every entry. The merge would
		 * keep the root below unless the layer has its own. */
		if (!img_pmap_get(&map, "", &idx)) {
			ut_tree_take(layer, &tb->t->v[0]);
			tb->t->n = 0;
		}
		ut_tree_sort(layer);
		add_parents(layer);
		ut_tree_free(tb->t);
		tb->t = layer;
		layer = NULL;
		rc = 0;
		goto out;
	}
	/* What this layer hides below it. */
	for (i = 0; i < whiteouts.n; i++)
		strset_add(&gone, whiteouts.v[i]);
	for (i = 0; i < layer->n; i++)
		if (layer->v[i].type != UT_DIR)
			strset_add(&gone, layer->v[i].path);
	strset_sort(&gone);
	strset_sort(&opaques);
	merged = ut_tree_new();
	for (i = 0; i < tb->t->n; i++) {
		struct ut_entry *e = &tb->t->v[i];

		scratch = ut_realloc(scratch, strlen(e->path) + 1);
		if (e->path[0] && hidden(e->path, &gone, &opaques, scratch)) {
			ut_entry_release(e);
			continue;
		}
		ut_tree_take(merged, e);
	}
	tb->t->n = 0;
	for (i = 0; i < layer->n; i++)
		ut_tree_take(merged, &layer->v[i]);
	layer->n = 0;
	ut_tree_sort(merged);
	add_parents(merged);
	ut_tree_free(tb->t);
	tb->t = merged;
	merged = NULL;
	rc = 0;
out:
	if (a)
		archive_read_free(a);
	if (ls->outer)
		archive_read_free(ls->outer);
	ut_sha256_release(&ls->blob_h);
	ut_sha256_release(&ls->tar_h);
	free(ls);
	ut_tree_free(layer);
	ut_tree_free(merged);
	strset_release(&whiteouts);
	strset_release(&opaques);
	strset_release(&gone);
	img_pmap_release(&map);
	free(scratch);
	free(buf);
	free(p);
	return rc;
}

struct ut_tree *img_tree_builder_take(struct img_tree_builder *tb)
{
	struct ut_tree *t = tb->t;

	tb->t = ut_tree_new();
	ut_tree_sort(t);
	if (!t->n || t->v[0].path[0]) {
		struct ut_entry *e = ut_tree_add(t, "");

		e->type = UT_DIR;
		e->mode = 0755;
		ut_tree_sort(t);
	}
	ut_tree_count_links(t);
	return t;
}
