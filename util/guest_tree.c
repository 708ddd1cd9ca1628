/*
 * guest_tree.c - reading a walked guest tree as the guest would: paths
 * resolve through the tree's own entries, symlinks followed inside the guest
 * (absolute targets from the guest's root, ".." stopping there), bytes from
 * the tree's content source. Shared by the package source over a disk
 * (cli/tree_source.c) and the start-up configuration reader (runtime/).
 */
#include "util.h"

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

const struct ut_entry *ut_tree_resolve(const struct ut_tree *t, const char *path, int follow_last,
				       struct ut_err *err)
{
	const struct ut_entry *e = NULL;
	char *rel = NULL, *dir, *full;
	const char *base;
	size_t len, boff;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len && path[len - 1] == '/')
		len--;
	dir = ut_strndup(path, len);
	base = ut_path_base(dir);
	/* A trailing slash makes the last component a directory: followed, as lstat(2) does. */
	if (follow_last || len != strlen(path) || !*base || !strcmp(base, ".") ||
	    !strcmp(base, "..")) {
		if (ut_guest_resolve(path, tree_lookup, (void *)t, &rel, err) == 1)
			e = ut_tree_find(t, rel);
		goto out;
	}
	/* The parent resolved, the last component taken as it is. */
	boff = (size_t)(base - dir);
	dir[ut_path_parent_len(dir)] = '\0';
	if (ut_guest_resolve(dir, tree_lookup, (void *)t, &rel, err) == 1) {
		full = ut_asprintf("%s%s%s", rel, rel[0] ? "/" : "", path + boff);
		e = ut_tree_find(t, full);
		free(full);
	}
out:
	free(rel);
	free(dir);
	return e;
}

int ut_tree_read_file(const struct ut_tree *t, const char *path, struct ut_buf *b,
		      struct ut_err *err)
{
	const struct ut_entry *e;

	err->msg[0] = '\0';
	e = ut_tree_resolve(t, path, 1, err);
	while (*path == '/')
		path++;
	if (!e)
		return err->msg[0] ? -1 : 0;
	if (e->type != UT_REG)
		return ut_err_set(err, "/%s: not a regular file", path);
	if (!t->content.ops)
		return ut_err_set(err, "/%s: no content to read", path);
	/* Refused before reading: a guest file may be far larger than the cap. */
	if (b->cap && e->size > b->cap - b->len)
		return ut_err_set(err, "/%s: %llu bytes, more than the %zu allowed", path,
				  (unsigned long long)e->size, b->cap - b->len);
	if (ut_content_read_all(&t->content, e, b, err) < 0)
		return -1;
	return 1;
}

int ut_tree_list_dir(const struct ut_tree *t, const char *path, char ***names, size_t *n,
		     struct ut_err *err)
{
	const struct ut_entry *e;
	size_t i, plen;
	char *prefix;

	err->msg[0] = '\0';
	*names = NULL;
	*n = 0;
	e = ut_tree_resolve(t, path, 1, err);
	while (*path == '/')
		path++;
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

void ut_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
