/*
 * fs.c - the generic side of filesystems: probing over the backend table,
 * opening, and reading a small file by path.
 */
#include "diskread.h"
#include "dr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Symlink hops dr_fs_read_path follows, as Linux's MAXSYMLINKS. */
#define FS_MAX_HOPS 40

/*
 * Order matters: the first backend that recognises a superblock wins, so the
 * in-process reader comes first and libguestfs (a whole appliance) last.
 */
static const struct dr_fs_ops *const fs_backends[] = {
	&dr_ext2_ops,
	&dr_guestfs_ops,
};

int dr_fs_probe(struct dr_blockdev *bd, const struct dr_fs_ops **ops, struct dr_fs_info *info,
		struct ut_err *err)
{
	size_t i;

	*ops = NULL;
	for (i = 0; i < sizeof(fs_backends) / sizeof(fs_backends[0]); i++) {
		struct dr_fs_info tmp = { { 0 } };
		int r = fs_backends[i]->probe(bd, &tmp, err);

		if (r < 0)
			return -1;
		if (r > 0) {
			*ops = fs_backends[i];
			if (info)
				*info = tmp;
			return 1;
		}
	}
	return 0;
}

int dr_fs_open(struct dr_blockdev *bd, struct dr_fs **out, struct ut_err *err)
{
	return dr_fs_open_flags(bd, 0, out, err);
}

int dr_fs_open_flags(struct dr_blockdev *bd, unsigned flags, struct dr_fs **out,
		     struct ut_err *err)
{
	return dr_fs_open_opts(bd, flags, NULL, out, err);
}

int dr_fs_open_opts(struct dr_blockdev *bd, unsigned flags, const char *mount_options,
		    struct dr_fs **out, struct ut_err *err)
{
	const struct dr_fs_ops *ops;
	struct dr_fs *fs;
	struct dr_fs_info info;
	int r;

	*out = NULL;
	r = dr_fs_probe(bd, &ops, &info, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return ut_err_set(err, "%s: no filesystem that vm2oci can read", bd->path);
	fs = ut_calloc(1, sizeof(*fs));
	fs->ops = ops;
	fs->bd = bd;
	fs->info = info;
	fs->flags = flags;
	fs->mount_options = mount_options && *mount_options ? ut_strdup(mount_options) : NULL;
	if (ops->open(fs, err) < 0) {
		free(fs->mount_options);
		free(fs);
		return -1;
	}
	*out = fs;
	return 0;
}

void dr_fs_free(struct dr_fs *fs)
{
	if (!fs)
		return;
	if (fs->ops && fs->ops->close)
		fs->ops->close(fs);
	free(fs->mount_options);
	free(fs);
}

struct bounded_walk {
	struct dr_fs *fs;
	uint64_t limit;
	const char *mountpoint;
	int (*cb)(void *ctx, struct ut_entry *e);
	void *ctx;
	struct ut_err *err;
	int refused;
};

static int bounded_cb(void *ctx, struct ut_entry *e)
{
	struct bounded_walk *w = ctx;

	if (e->type == UT_REG && e->size > w->limit) {
		w->refused = 1;
		return ut_err_set(w->err,
				  "%s: %s%s/%s: apparent size of %llu bytes is more than the limit of %llu bytes (the size of its filesystem's device, or --max-file-size)",
				  w->fs->bd->path, *w->mountpoint ? "/" : "", w->mountpoint,
				  e->path, (unsigned long long)e->size,
				  (unsigned long long)w->limit);
	}
	return w->cb(w->ctx, e);
}

int dr_fs_walk(struct dr_fs *fs, uint64_t max_file_size, const char *mountpoint,
	       int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err)
{
	struct bounded_walk w = {
		.fs = fs,
		.limit = max_file_size ? max_file_size : fs->bd->size,
		.mountpoint = mountpoint,
		.cb = cb,
		.ctx = ctx,
		.err = err,
	};
	int r = fs->ops->walk(fs, bounded_cb, &w, err);

	/* A backend may wrap the callback's failure in words of its own: the
	 * refusal's line is the one to keep. */
	if (r < 0 && w.refused)
		return -1;
	return r;
}

/* "a/b" + "../c" -> the joined path (not normalised: lookup resolves ".."). */
static char *join_link(const char *path, const char *target)
{
	size_t plen = ut_path_parent_len(path);

	if (target[0] == '/')
		return ut_strdup(target);
	if (!plen)
		return ut_strdup(target);
	return ut_asprintf("%.*s/%s", (int)plen, path, target);
}

int dr_fs_read_path(struct dr_fs *fs, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct ut_entry e = { 0 };
	char *cur = ut_strdup(path);
	void *h = NULL;
	unsigned char *chunk = NULL;
	int hops = 0, ret = -1, r;

	for (;;) {
		char *next;

		ut_entry_release(&e);
		while (*cur == '/')
			memmove(cur, cur + 1, strlen(cur));
		r = fs->ops->lookup(fs, cur, &e, err);
		if (r < 0)
			goto out;
		if (r == 0) {
			ut_err_set(err, "%s: /%s: no such file in the %s filesystem", fs->bd->path,
				   path, fs->info.type);
			goto out;
		}
		if (e.type != UT_LNK)
			break;
		if (++hops > FS_MAX_HOPS) {
			ut_err_set(err, "%s: /%s: too many levels of symbolic links", fs->bd->path,
				   path);
			goto out;
		}
		next = join_link(cur, e.link);
		free(cur);
		cur = next;
	}
	if (e.type != UT_REG) {
		ut_err_set(err, "%s: /%s: not a regular file (%s)", fs->bd->path, path,
			   ut_ftype_name(e.type));
		goto out;
	}
	if (b->cap && e.size > b->cap) {
		ut_err_set(err, "%s: /%s: %llu bytes, more than the %zu allowed", fs->bd->path,
			   path, (unsigned long long)e.size, b->cap);
		goto out;
	}
	if (fs->ops->open_file(fs, e.src_b, &h, err) < 0) {
		h = NULL;
		goto out;
	}
	chunk = ut_malloc(65536);
	for (;;) {
		ssize_t n = fs->ops->read_file(fs, h, chunk, 65536, err);

		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (ut_buf_add(b, chunk, (size_t)n, err) < 0) {
			ut_err_prefix(err, "%s: /%s: ", fs->bd->path, path);
			goto out;
		}
	}
	ret = 0;
out:
	if (h)
		fs->ops->close_file(fs, h);
	free(chunk);
	free(cur);
	ut_entry_release(&e);
	return ret;
}

int dr_err_at_path(struct ut_err *err, const char *file, const char *path)
{
	size_t len = strlen(file);
	char rest[UT_ERR_MAX];

	if (!err)
		return -1;
	if (strncmp(err->msg, file, len) || strncmp(err->msg + len, ": ", 2))
		return ut_err_prefix(err, "/%s: ", path);
	snprintf(rest, sizeof(rest), "%s", err->msg + len + 2);
	return ut_err_set(err, "%s: /%s: %s", file, path, rest);
}
