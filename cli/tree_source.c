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

static int tree_lookup(void *ctx, const char *rel, enum ut_ftype *type, char **link,
		       struct ut_err *err)
{
	const struct ut_entry *e = ut_tree_find(ctx, rel);

	if (!e)
		return 0;
	*type = e->type;
	if (e->type == UT_LNK)
		*link = ut_strdup(e->link);
	return 1;
}

/* Resolves path to an entry, following every symlink; NULL when missing. */
const struct ut_entry *cli_tree_resolve(const struct ut_tree *t, const char *path,
					struct ut_err *err)
{
	const struct ut_entry *e = NULL;
	char *rel;

	if (ut_guest_resolve(path, tree_lookup, (void *)t, &rel, err) == 1)
		e = ut_tree_find(t, rel);
	free(rel);
	return e;
}

static int tree_read_file(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	const struct ut_tree *t = ctx;
	const struct ut_entry *e;

	err->msg[0] = '\0';
	e = cli_tree_resolve(t, path, err);
	if (!e)
		return err->msg[0] ? -1 : 0;
	if (e->type != UT_REG)
		return ut_err_set(err, "/%s: not a regular file", path);
	if (!t->content.ops)
		return ut_err_set(err, "/%s: no content to read", path);
	if (ut_content_read_all(&t->content, e, b, err) < 0)
		return -1;
	return 1;
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

static int tree_mtime(void *ctx, const char *path, int64_t *sec, struct ut_err *err)
{
	const struct ut_entry *e;

	err->msg[0] = '\0';
	e = cli_tree_resolve(ctx, path, err);
	if (!e)
		return err->msg[0] ? -1 : 0;
	*sec = e->mtime_sec;
	return 1;
}

static const struct pkg_source_ops tree_source_ops = {
	.read_file = tree_read_file,
	.list_dir = tree_list_dir,
	.mtime = tree_mtime,
	.close = NULL,
};

void cli_tree_source(const struct ut_tree *t, struct pkg_source *src)
{
	src->ops = &tree_source_ops;
	src->ctx = (void *)t;
	src->tmpdir = cli_tmpdir();
}
