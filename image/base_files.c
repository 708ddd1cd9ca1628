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

/* The tree builder's filter callbacks: each regular file kept gets a buffer. */
static int keep_begin(void *ctx, struct ut_entry *e, struct ut_err *err)
{
	struct mem_content *mc = ctx;

	(void)err;
	if (mc->n == mc->alloc) {
		mc->alloc = mc->alloc ? mc->alloc * 2 : 64;
		mc->bufs = ut_realloc(mc->bufs, mc->alloc * sizeof(*mc->bufs));
	}
	ut_buf_init(&mc->bufs[mc->n], 0);
	ut_buf_grow(&mc->bufs[mc->n], 0, NULL);
	e->src_a = mc->n++;
	return 0;
}

static int keep_data(void *ctx, const void *buf, size_t len, struct ut_err *err)
{
	struct mem_content *mc = ctx;

	mc->total += len;
	if (mc->total > mc->cap)
		return ut_err_set(err, "more than %llu bytes under the paths read",
				  (unsigned long long)mc->cap);
	return ut_buf_add(&mc->bufs[mc->n - 1], buf, len, err);
}

/* Image bases: the layers applied by the one layer reader, filtered. */
static int read_layers(struct img_base *b, struct ut_tree **out, struct mem_content *mc,
		       const char *const *prefixes, size_t np, struct ut_err *err)
{
	struct img_tree_filter f = {
		.prefixes = prefixes,
		.nprefixes = np,
		.file_begin = keep_begin,
		.file_data = keep_data,
		.ctx = mc,
	};
	struct img_tree_builder *tb = img_tree_builder_new();
	const char *src;
	size_t i;
	int rc = 0;

	img_tree_builder_set_filter(tb, &f);
	img_base_is_dir(b, &src);
	if (img_base_is_rootfs(b)) {
		rc = img_apply_tar_file(tb, src, err);
	} else {
		for (i = 0; i < b->nlayers && rc == 0; i++)
			if ((rc = img_base_apply_layer(b, i, tb, err)) < 0)
				ut_err_prefix(err, "%s: layer %zu: ", b->spec, i + 1);
	}
	if (rc == 0)
		*out = img_tree_builder_take(tb);
	img_tree_builder_free(tb);
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
	struct ut_tree *t = NULL;
	const char *src;

	mc->cap = cap;
	if (img_base_is_dir(b, &src)) {
		t = ut_tree_new();
		ut_tree_add(t, "")->type = UT_DIR;
		if (read_dir(src, t, mc, prefixes, nprefixes, err) < 0)
			goto fail;
		ut_tree_sort(t);
	} else if (read_layers(b, &t, mc, prefixes, nprefixes, err) < 0) {
		goto fail;
	}
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
