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

#define DIR_MAX_LINKS 40

struct dir_ctx {
	int rootfd;
	char *root;
};

/* Resolves path inside the root: 1 with *out (relative, "." for the root),
 * 0 when a component is missing, -1 on error. */
static int dir_resolve(struct dir_ctx *c, const char *path, char **out, struct ut_err *err)
{
	struct ut_buf res, pend;
	int links = 0, rc = -1;
	size_t pos = 0;

	ut_buf_init(&res, 0);
	ut_buf_init(&pend, 0);
	if (ut_buf_addstr(&pend, path, err) < 0)
		goto out;
	ut_buf_grow(&res, 0, NULL);
	res.data[0] = '\0';
	while (pos < pend.len) {
		const char *s = (const char *)pend.data + pos;
		size_t clen = strcspn(s, "/");
		size_t oldlen = res.len;
		struct stat st;

		pos += clen + (s[clen] == '/');
		if (clen == 0 || (clen == 1 && s[0] == '.'))
			continue;
		if (clen == 2 && s[0] == '.' && s[1] == '.') {
			res.len = ut_path_parent_len((const char *)res.data);
			res.data[res.len] = '\0';
			continue;
		}
		if ((res.len && ut_buf_add(&res, "/", 1, err) < 0) ||
		    ut_buf_add(&res, s, clen, err) < 0)
			goto out;
		if (fstatat(c->rootfd, (const char *)res.data, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT || errno == ENOTDIR) {
				rc = 0;
				goto out;
			}
			ut_err_set(err, "%s/%s: %s", c->root, res.data, strerror(errno));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t tl;
			struct ut_buf np;

			if (++links > DIR_MAX_LINKS) {
				ut_err_set(err, "%s: too many levels of symbolic links", path);
				goto out;
			}
			tl = readlinkat(c->rootfd, (const char *)res.data, target, sizeof(target));
			if (tl < 0 || (size_t)tl >= sizeof(target)) {
				ut_err_set(err, "%s/%s: cannot read link", c->root, res.data);
				goto out;
			}
			res.len = oldlen;
			res.data[res.len] = '\0';
			if (tl > 0 && target[0] == '/') {
				res.len = 0;
				res.data[0] = '\0';
			}
			/* The rest of the path goes after the link's target. */
			ut_buf_init(&np, 0);
			if (ut_buf_add(&np, target, (size_t)tl, err) < 0 ||
			    ut_buf_add(&np, "/", 1, err) < 0 ||
			    ut_buf_add(&np, pend.data + pos, pend.len - pos, err) < 0) {
				ut_buf_release(&np);
				goto out;
			}
			ut_buf_release(&pend);
			pend = np;
			pos = 0;
		}
	}
	*out = res.len ? ut_buf_detach(&res, NULL) : ut_strdup(".");
	rc = 1;
out:
	ut_buf_release(&res);
	ut_buf_release(&pend);
	return rc;
}

static int dir_read_file(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct dir_ctx *c = ctx;
	char *rel = NULL, chunk[65536];
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
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ut_err_set(err, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (ut_buf_add(b, chunk, (size_t)n, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
	}
	if (!b->data && ut_buf_grow(b, 0, err) < 0)
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
