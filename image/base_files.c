/*
 * base_files.c - reading a handful of a base image's files with their
 * bytes (its package database), layer by layer, whiteouts applied, without
 * extracting anything to disk.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define WH ".wh."
#define WH_OPQ ".wh..wh..opq"

struct mem_content {
	struct ut_buf *bufs; /* one per regular file, indexed by src_a */
	size_t n, alloc;
	uint64_t total, cap;
};

struct mem_handle {
	const struct ut_buf *b;
	size_t off;
};

static int mem_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	struct mem_content *mc = ctx;
	struct mem_handle *h;

	if (e->src_a >= mc->n)
		return ut_err_set(err, "%s: no content", e->path);
	h = ut_calloc(1, sizeof(*h));
	h->b = &mc->bufs[e->src_a];
	*handle = h;
	return 0;
}

static ssize_t mem_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	struct mem_handle *h = handle;
	size_t left = h->b->len - h->off;

	(void)ctx;
	(void)err;
	if (len > left)
		len = left;
	if (len)
		memcpy(buf, h->b->data + h->off, len);
	h->off += len;
	return (ssize_t)len;
}

static void mem_close(void *ctx, void *handle)
{
	(void)ctx;
	free(handle);
}

static const struct ut_content_ops mem_ops = {
	.open = mem_open,
	.read = mem_read,
	.close = mem_close,
};

static int wanted(const char *path, const char *const *prefixes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ut_path_is_under(path, prefixes[i]) || ut_path_is_under(prefixes[i], path))
			return 1;
	return 0;
}

/* Reads the current member into a new buffer and points e at it. */
static int keep_bytes(struct archive *a, struct mem_content *mc, struct ut_entry *e,
		      const char *where, struct ut_err *err)
{
	struct ut_buf *b;
	char chunk[65536];

	if (mc->n == mc->alloc) {
		mc->alloc = mc->alloc ? mc->alloc * 2 : 64;
		mc->bufs = ut_realloc(mc->bufs, mc->alloc * sizeof(*mc->bufs));
	}
	b = &mc->bufs[mc->n];
	ut_buf_init(b, 0);
	for (;;) {
		la_ssize_t r = archive_read_data(a, chunk, sizeof(chunk));

		if (r < 0)
			return ut_err_set(err, "%s: %s: %s", where, e->path, archive_error_string(a));
		if (r == 0)
			break;
		mc->total += (uint64_t)r;
		if (mc->total > mc->cap) {
			ut_buf_release(b);
			return ut_err_set(err, "%s: more than %llu bytes under the paths read", where,
					  (unsigned long long)mc->cap);
		}
		ut_buf_add(b, chunk, (size_t)r, NULL);
	}
	ut_buf_grow(b, 0, NULL);
	e->size = b->len;
	e->src_a = mc->n++;
	return 0;
}

static int fill(struct archive_entry *ae, struct ut_entry *e)
{
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: e->type = UT_REG; break;
	case AE_IFDIR: e->type = UT_DIR; break;
	case AE_IFLNK: e->type = UT_LNK; break;
	default: return 0; /* devices and fifos hold no database */
	}
	e->mode = archive_entry_perm(ae) & 07777;
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	e->mtime_sec = archive_entry_mtime(ae);
	if (e->type == UT_LNK) {
		const char *t = archive_entry_symlink(ae);

		e->link = ut_strdup(t ? t : "");
	}
	return 1;
}

static int apply_layer(const char *path, struct ut_tree *t, struct mem_content *mc,
		       const char *const *prefixes, size_t np, struct ut_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct ut_tree *layer = ut_tree_new();
	char **gone = NULL, **opaque = NULL;
	size_t ngone = 0, nopaque = 0, i;
	int rc = -1;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct ut_entry e = { 0 };
		char *p = NULL;
		const char *base, *hl;
		int r = archive_read_next_header(a, &ae);

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			ut_err_set(err, "%s: %s", path, archive_error_string(a));
			goto out;
		}
		if (img_tar_path(img_entry_name(ae), &p, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		base = ut_path_base(p);
		if (!strncmp(base, WH, 4)) {
			size_t plen = ut_path_parent_len(p);

			if (!strcmp(base, WH_OPQ)) {
				opaque = ut_realloc(opaque, (nopaque + 1) * sizeof(*opaque));
				opaque[nopaque++] = ut_strndup(p, plen);
			} else {
				gone = ut_realloc(gone, (ngone + 1) * sizeof(*gone));
				gone[ngone++] = plen ? ut_asprintf("%.*s/%s", (int)plen, p, base + 4)
						     : ut_strdup(base + 4);
			}
			free(p);
			continue;
		}
		if (!wanted(p, prefixes, np)) {
			free(p);
			continue;
		}
		e.path = p;
		hl = archive_entry_hardlink(ae);
		if (hl) {
			char *tp = NULL;
			const struct ut_entry *tgt;

			if (img_tar_path(hl, &tp, err) < 0) {
				ut_entry_release(&e);
				goto out;
			}
			tgt = ut_tree_find(layer, tp);
			if (!tgt)
				tgt = ut_tree_find(t, tp);
			free(tp);
			if (!tgt || tgt->type != UT_REG) {
				ut_entry_release(&e); /* a link out of the read set: skip */
				continue;
			}
			ut_entry_copy(&e, tgt);
			free(e.path);
			e.path = ut_strdup(p);
		} else if (!fill(ae, &e)) {
			ut_entry_release(&e);
			continue;
		} else if (e.type == UT_REG && keep_bytes(a, mc, &e, path, err) < 0) {
			ut_entry_release(&e);
			goto out;
		}
		ut_tree_take(layer, &e);
		ut_tree_sort(layer);
	}
	/* Whiteouts and opaque directories hide what the lower layers had. */
	for (i = 0; i < ngone; i++)
		ut_tree_remove(t, gone[i]);
	for (i = 0; i < nopaque; i++) {
		struct ut_entry keep = { 0 };
		const struct ut_entry *d = ut_tree_find(t, opaque[i]);

		if (d)
			ut_entry_copy(&keep, d);
		ut_tree_remove(t, opaque[i]);
		if (keep.path)
			ut_tree_take(t, &keep);
	}
	for (i = 0; i < layer->n; i++) {
		/* A non-directory replaces whatever was below it. */
		if (layer->v[i].type != UT_DIR)
			ut_tree_remove(t, layer->v[i].path);
		ut_tree_take(t, &layer->v[i]);
	}
	layer->n = 0;
	ut_tree_sort(t);
	rc = 0;
out:
	for (i = 0; i < ngone; i++)
		free(gone[i]);
	for (i = 0; i < nopaque; i++)
		free(opaque[i]);
	free(gone);
	free(opaque);
	ut_tree_free(layer);
	archive_read_free(a);
	return rc;
}

/* rootfs:DIR: the same files straight from the host folder. */
static int read_dir(const char *root, struct ut_tree *t, struct mem_content *mc,
		    const char *const *prefixes, size_t np, struct ut_err *err)
{
	struct img_dir_content dc;
	struct ut_tree *all = NULL;
	size_t i;
	int rc = -1;

	if (img_rootfs_walk(root, &dc, &all, err) < 0)
		return -1;
	for (i = 0; i < all->n; i++) {
		struct ut_entry e;
		struct ut_buf *b;
		void *h = NULL;
		char chunk[65536];

		if (!all->v[i].path[0] || !wanted(all->v[i].path, prefixes, np))
			continue;
		ut_entry_copy(&e, &all->v[i]);
		if (e.type == UT_REG) {
			if (mc->n == mc->alloc) {
				mc->alloc = mc->alloc ? mc->alloc * 2 : 64;
				mc->bufs = ut_realloc(mc->bufs, mc->alloc * sizeof(*mc->bufs));
			}
			b = &mc->bufs[mc->n];
			ut_buf_init(b, 0);
			if (all->content.ops->open(all->content.ctx, &all->v[i], &h, err) < 0) {
				ut_entry_release(&e);
				goto out;
			}
			for (;;) {
				ssize_t r = all->content.ops->read(all->content.ctx, h, chunk,
								   sizeof(chunk), err);

				if (r <= 0) {
					all->content.ops->close(all->content.ctx, h);
					if (r < 0) {
						ut_buf_release(b);
						ut_entry_release(&e);
						goto out;
					}
					break;
				}
				mc->total += (uint64_t)r;
				if (mc->total > mc->cap) {
					all->content.ops->close(all->content.ctx, h);
					ut_buf_release(b);
					ut_entry_release(&e);
					ut_err_set(err, "%s: more than %llu bytes under the paths read",
						   root, (unsigned long long)mc->cap);
					goto out;
				}
				ut_buf_add(b, chunk, (size_t)r, NULL);
			}
			ut_buf_grow(b, 0, NULL);
			e.src_a = mc->n++;
		}
		ut_tree_take(t, &e);
	}
	rc = 0;
out:
	ut_tree_free(all);
	return rc;
}

static void mem_free_all(struct mem_content *mc)
{
	size_t i;

	if (!mc)
		return;
	for (i = 0; i < mc->n; i++)
		ut_buf_release(&mc->bufs[i]);
	free(mc->bufs);
	free(mc);
}

int img_base_files(struct img_base *b, const char *const *prefixes, size_t nprefixes,
		   uint64_t cap, struct ut_tree **out, struct ut_err *err)
{
	struct mem_content *mc = ut_calloc(1, sizeof(*mc));
	struct ut_tree *t = ut_tree_new();
	const struct img_base_layer *layers;
	const char *src;
	size_t n, i;

	mc->cap = cap;
	ut_tree_add(t, "")->type = UT_DIR;
	if (img_base_is_dir(b, &src)) {
		if (read_dir(src, t, mc, prefixes, nprefixes, err) < 0)
			goto fail;
	} else if (img_base_is_rootfs(b)) {
		if (apply_layer(src, t, mc, prefixes, nprefixes, err) < 0)
			goto fail;
	} else {
		layers = img_base_layers(b, &n);
		for (i = 0; i < n; i++)
			if (apply_layer(layers[i].path, t, mc, prefixes, nprefixes, err) < 0)
				goto fail;
	}
	ut_tree_sort(t);
	t->content.ops = &mem_ops;
	t->content.ctx = mc;
	*out = t;
	return 0;
fail:
	mem_free_all(mc);
	ut_tree_free(t);
	return -1;
}

void img_base_files_free(struct ut_tree *t)
{
	if (!t)
		return;
	if (t->content.ops == &mem_ops)
		mem_free_all(t->content.ctx);
	ut_tree_free(t);
}
