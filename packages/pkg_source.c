/*
 * pkg_source.c - a guest root that is a host directory.
 *
 * Symlinks in the tree are the guest's: "/usr/lib/os-release" or "../.."
 * must resolve against the guest's root, never the host's. So paths are
 * walked one component at a time with fstatat(AT_SYMLINK_NOFOLLOW) below a
 * root descriptor and links are expanded by hand, ".." stopping at root.
 */
#include "pkg_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dir_ctx {
	int rootfd;
	char *root;
};

static int dir_lookup(void *ctx, const char *rel, enum ut_ftype *type, char **link,
		      struct ut_err *err)
{
	struct dir_ctx *c = ctx;
	struct stat st;

	if (fstatat(c->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return ut_err_set(err, "%s/%s: %s", c->root, rel, strerror(errno));
	}
	*type = S_ISDIR(st.st_mode) ? UT_DIR : S_ISLNK(st.st_mode) ? UT_LNK : UT_REG;
	if (*type == UT_LNK) {
		char target[4096];
		ssize_t tl = readlinkat(c->rootfd, rel, target, sizeof(target));

		if (tl < 0 || (size_t)tl >= sizeof(target))
			return ut_err_set(err, "%s/%s: cannot read link", c->root, rel);
		*link = ut_strndup(target, (size_t)tl);
	}
	return 1;
}

/* Resolves path inside the root: 1 with *out (relative, "." for the root),
 * 0 when a component is missing, -1 on error. */
static int dir_resolve(struct dir_ctx *c, const char *path, char **out, struct ut_err *err)
{
	int rc = ut_guest_resolve(path, dir_lookup, c, out, err);

	if (rc == 1 && !**out) {
		free(*out);
		*out = ut_strdup(".");
	}
	return rc;
}

static int dir_read_file(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct dir_ctx *c = ctx;
	char *rel = NULL;
	struct stat st;
	int fd = -1, rc;

	rc = dir_resolve(c, path, &rel, err);
	if (rc <= 0)
		goto out;
	rc = -1;
	fd = openat(c->rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		ut_err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ut_err_set(err, "%s: not a regular file", path);
		goto out;
	}
	if (ut_read_fd(fd, path, b, err) < 0)
		goto out;
	rc = 1;
out:
	if (fd >= 0)
		close(fd);
	free(rel);
	return rc;
}

static int dir_list_dir(void *ctx, const char *path, char ***names, size_t *n,
			struct ut_err *err)
{
	struct dir_ctx *c = ctx;
	char *rel = NULL, **v = NULL;
	size_t cnt = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc;

	rc = dir_resolve(c, path, &rel, err);
	if (rc <= 0)
		goto out;
	rc = -1;
	fd = openat(c->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			rc = 0;
			goto out;
		}
		ut_err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		ut_err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (pkg_need_grow(cnt))
			v = ut_realloc(v, (cnt ? cnt * 2 : 1) * sizeof(*v));
		v[cnt++] = ut_strdup(de->d_name);
	}
	*names = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
	rc = 1;
out:
	pkg_free_names(v, cnt);
	if (d)
		closedir(d);
	free(rel);
	return rc;
}

static int dir_mtime(void *ctx, const char *path, int64_t *sec, struct ut_err *err)
{
	struct dir_ctx *c = ctx;
	char *rel = NULL;
	struct stat st;
	int rc = dir_resolve(c, path, &rel, err);

	if (rc > 0) {
		if (fstatat(c->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = errno == ENOENT ? 0 : ut_err_set(err, "%s: %s", path, strerror(errno));
		else
			*sec = (int64_t)st.st_mtime;
	}
	free(rel);
	return rc;
}

static void dir_close(void *ctx)
{
	struct dir_ctx *c = ctx;

	if (!c)
		return;
	if (c->rootfd >= 0)
		close(c->rootfd);
	free(c->root);
	free(c);
}

static const struct pkg_source_ops dir_ops = {
	.read_file = dir_read_file,
	.list_dir = dir_list_dir,
	.mtime = dir_mtime,
	.close = dir_close,
};

int pkg_source_dir_new(const char *root, struct pkg_source **src, struct ut_err *err)
{
	struct dir_ctx *c;
	struct pkg_source *s;
	int fd;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ut_err_set(err, "%s: %s", root, strerror(errno));
	c = ut_calloc(1, sizeof(*c));
	c->rootfd = fd;
	c->root = ut_strdup(root);
	s = ut_calloc(1, sizeof(*s));
	s->ops = &dir_ops;
	s->ctx = c;
	*src = s;
	return 0;
}

void pkg_source_free(struct pkg_source *src)
{
	if (!src)
		return;
	if (src->ops && src->ops->close)
		src->ops->close(src->ctx);
	free(src);
}

void pkg_free_names(char **names, size_t n)
{
	size_t i;

	if (!names)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int pkg_src_read(const struct pkg_source *src, const char *path, struct ut_buf *b, size_t cap,
		 struct ut_err *err)
{
	int rc;

	ut_buf_release(b);
	ut_buf_init(b, cap);
	rc = src->ops->read_file(src->ctx, path, b, err);
	if (rc < 0)
		return ut_err_prefix(err, "%s: ", path);
	if (rc > 0 && !b->data && ut_buf_grow(b, 0, err) < 0)
		return -1;
	return rc;
}

int pkg_src_list(const struct pkg_source *src, const char *path, char ***names, size_t *n,
		 struct ut_err *err)
{
	int rc;

	*names = NULL;
	*n = 0;
	if (!src->ops->list_dir)
		return ut_err_set(err, "%s: source cannot list directories", path);
	rc = src->ops->list_dir(src->ctx, path, names, n, err);
	if (rc < 0)
		return ut_err_prefix(err, "%s: ", path);
	return rc;
}

int pkg_src_mtime(const struct pkg_source *src, const char *path, int64_t *sec,
		  struct ut_err *err)
{
	int rc;

	if (!src->ops->mtime)
		return 0;
	rc = src->ops->mtime(src->ctx, path, sec, err);
	if (rc < 0)
		return ut_err_prefix(err, "%s: ", path);
	return rc;
}
