/*
 * fs.c - the generic side of filesystems: probing over the backend table,
 * opening, and reading a small file by path.
 */
#include "dr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int dr_fs_read_entry(struct dr_fs *fs, const struct ut_entry *e, struct ut_buf *b, size_t max,
		     struct ut_err *err)
{
	unsigned char chunk[65536];
	void *h = NULL;
	size_t total = 0;
	int ret = -1;

	if (fs->ops->open_file(fs, e->src_b, &h, err) < 0)
		return -1;
	for (;;) {
		size_t want = sizeof(chunk);
		ssize_t n;

		if (max && max - total < want)
			want = max - total;
		if (!want)
			break;
		n = fs->ops->read_file(fs, h, chunk, want, err);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (ut_buf_add(b, chunk, (size_t)n, err) < 0)
			goto out;
		total += (size_t)n;
	}
	ret = 0;
out:
	fs->ops->close_file(fs, h);
	return ret;
}

static int fs_lookup_type(void *ctx, const char *rel, enum ut_ftype *type, char **link,
			  struct ut_err *err)
{
	struct dr_fs *fs = ctx;
	struct ut_entry e = { 0 };
	int r = fs->ops->lookup(fs, rel, &e, err);

	if (r == 1) {
		*type = e.type;
		if (e.type == UT_LNK)
			*link = ut_strdup(e.link);
	}
	ut_entry_release(&e);
	return r;
}

int dr_fs_read_path(struct dr_fs *fs, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct ut_entry e = { 0 };
	char *res = NULL;
	int ret = -1, r;

	r = ut_guest_resolve(path, fs_lookup_type, fs, &res, err);
	if (r == 1)
		r = fs->ops->lookup(fs, res, &e, err);
	if (r < 0) {
		if (err && err->msg[0] == '/')
			ut_err_prefix(err, "%s: ", fs->bd->path);
		goto out;
	}
	if (r == 0) {
		ut_err_set(err, "%s: /%s: no such file in the %s filesystem", fs->bd->path, path,
			   fs->info.type);
		goto out;
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
	if (dr_fs_read_entry(fs, &e, b, 0, err) < 0) {
		ut_err_prefix(err, "%s: /%s: ", fs->bd->path, path);
		goto out;
	}
	ret = 0;
out:
	free(res);
	ut_entry_release(&e);
	return ret;
}

/* ---- the vtable behind functions ---------------------------------------- */

const struct dr_fs_info *dr_fs_info(const struct dr_fs *fs)
{
	return &fs->info;
}

struct dr_blockdev *dr_fs_blockdev(const struct dr_fs *fs)
{
	return fs->bd;
}

const char *dr_fs_note(const struct dr_fs *fs)
{
	return fs->note;
}

int dr_fs_lookup(struct dr_fs *fs, const char *path, struct ut_entry *e, struct ut_err *err)
{
	return fs->ops->lookup(fs, path, e, err);
}

int dr_fs_open_file(struct dr_fs *fs, uint64_t src_b, void **handle, struct ut_err *err)
{
	return fs->ops->open_file(fs, src_b, handle, err);
}

ssize_t dr_fs_read_file(struct dr_fs *fs, void *handle, void *buf, size_t len,
			struct ut_err *err)
{
	return fs->ops->read_file(fs, handle, buf, len, err);
}

void dr_fs_close_file(struct dr_fs *fs, void *handle)
{
	fs->ops->close_file(fs, handle);
}

int dr_fs_has_extents(const struct dr_fs *fs)
{
	return fs->ops->extents != NULL;
}

int dr_fs_extents(struct dr_fs *fs, uint64_t src_b,
		  int (*cb)(void *ctx, uint64_t logical, uint64_t physical, uint64_t len),
		  void *ctx, struct ut_err *err)
{
	if (!fs->ops->extents)
		return ut_err_set(err, "%s: the %s filesystem cannot list file extents",
				  fs->bd->path, fs->info.type);
	return fs->ops->extents(fs, src_b, cb, ctx, err);
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
