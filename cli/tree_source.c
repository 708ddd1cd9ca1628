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

/* Resolves path to an entry, following every symlink; NULL when missing. */
const struct ut_entry *cli_tree_resolve(const struct ut_tree *t, const char *path,
					struct ut_err *err)
{
	return ut_tree_resolve(t, path, 1, err);
}

static int tree_read_file(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	return ut_tree_read_file(ctx, path, b, err);
}

static int tree_list_dir(void *ctx, const char *path, char ***names, size_t *n,
			 struct ut_err *err)
{
	return ut_tree_list_dir(ctx, path, names, n, err);
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
