/*
 * tree_source.c - a package-database source (struct pkg_source) over a
 * walked guest tree: paths resolve through the tree's own entries, symlinks
 * followed inside the guest (absolute targets from the guest's root, ".."
 * stopping there), and bytes come from the tree's content source. So the
 * packages module reads a disk without knowing what a disk is.
 */
#include "cli.h"
#include "packages.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LINK_HOPS 40

/* Resolves path to an entry, following every symlink; NULL when missing. */
const struct ut_entry *cli_tree_resolve(const struct ut_tree *t, const char *path,
					struct ut_err *err)
{
	struct ut_buf res, pend;
	const struct ut_entry *e = ut_tree_find(t, ""), *found = NULL;
	size_t pos = 0;
	int hops = 0;

	ut_buf_init(&res, 0);
	ut_buf_init(&pend, 0);
	ut_buf_addstr(&pend, path, NULL);
	ut_buf_grow(&res, 0, NULL);
	res.data[0] = '\0';
	while (pos < pend.len) {
		const char *s = (const char *)pend.data + pos;
		size_t clen = strcspn(s, "/"), oldlen = res.len;

		pos += clen + (s[clen] == '/');
		if (clen == 0 || (clen == 1 && s[0] == '.'))
			continue;
		if (clen == 2 && s[0] == '.' && s[1] == '.') {
			res.len = ut_path_parent_len((const char *)res.data);
			res.data[res.len] = '\0';
			continue;
		}
		if (res.len)
			ut_buf_add(&res, "/", 1, NULL);
		ut_buf_add(&res, s, clen, NULL);
		e = ut_tree_find(t, (const char *)res.data);
		if (!e)
			goto out;
		if (e->type == UT_LNK) {
			struct ut_buf np;

			if (++hops > MAX_LINK_HOPS) {
				ut_err_set(err, "/%s: too many levels of symbolic links", path);
				e = NULL;
				goto out;
			}
			res.len = e->link[0] == '/' ? 0 : oldlen;
			res.data[res.len] = '\0';
			/* The rest of the path goes after the link's target. */
			ut_buf_init(&np, 0);
			ut_buf_addstr(&np, e->link, NULL);
			if (pos < pend.len) {
				ut_buf_add(&np, "/", 1, NULL);
				ut_buf_addstr(&np, (const char *)pend.data + pos, NULL);
			}
			ut_buf_release(&pend);
			pend = np;
			pos = 0;
			e = ut_tree_find(t, (const char *)res.data);
		}
	}
	found = e;
out:
	ut_buf_release(&res);
	ut_buf_release(&pend);
	return found;
}

static int tree_read_file(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	const struct ut_tree *t = ctx;
	const struct ut_entry *e;
	unsigned char chunk[65536];
	void *h = NULL;
	int rc = -1;

	err->msg[0] = '\0';
	e = cli_tree_resolve(t, path, err);
	if (!e)
		return err->msg[0] ? -1 : 0;
	if (e->type != UT_REG)
		return ut_err_set(err, "/%s: not a regular file", path);
	if (!t->content.ops)
		return ut_err_set(err, "/%s: no content to read", path);
	if (t->content.ops->open(t->content.ctx, e, &h, err) < 0)
		return -1;
	for (;;) {
		ssize_t n = t->content.ops->read(t->content.ctx, h, chunk, sizeof(chunk), err);

		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (ut_buf_add(b, chunk, (size_t)n, err) < 0) {
			ut_err_prefix(err, "/%s: ", path);
			goto out;
		}
	}
	if (!b->data)
		ut_buf_grow(b, 0, NULL);
	rc = 1;
out:
	t->content.ops->close(t->content.ctx, h);
	return rc;
}

static int tree_list_dir(void *ctx, const char *path, char ***names, size_t *n,
			 struct ut_err *err)
{
	const struct ut_tree *t = ctx;
	const struct ut_entry *e;
	size_t i, plen;
	char *prefix;

	err->msg[0] = '\0';
	*names = NULL;
	*n = 0;
	e = cli_tree_resolve(t, path, err);
	if (!e)
		return err->msg[0] ? -1 : 0;
	if (e->type != UT_DIR)
		return ut_err_set(err, "/%s: not a directory", path);
	prefix = e->path[0] ? ut_asprintf("%s/", e->path) : ut_strdup("");
	plen = strlen(prefix);
	for (i = ut_tree_lower_bound(t, prefix); i < t->n; i++) {
		const char *p = t->v[i].path;

		if (strncmp(p, prefix, plen))
			break;
		if (!p[plen] || strchr(p + plen, '/'))
			continue;
		*names = ut_realloc(*names, (*n + 1) * sizeof(**names));
		(*names)[(*n)++] = ut_strdup(p + plen);
	}
	free(prefix);
	return 1;
}

static const struct pkg_source_ops tree_source_ops = {
	.read_file = tree_read_file,
	.list_dir = tree_list_dir,
	.close = NULL,
};

void cli_tree_source(const struct ut_tree *t, struct pkg_source *src)
{
	src->ops = &tree_source_ops;
	src->ctx = (void *)t;
}
