/*
 * pkgset.c - package databases of guests and bases, and the root set of
 * what a VM adds to its base.
 */
#include "cli.h"
#include "diskread.h"
#include "image.h"
#include "packages.h"

#include <stdlib.h>
#include <string.h>

int cli_tree_pkg_db(const struct ut_tree *t, const char *what, struct pkg_db **db,
		    struct ut_err *err)
{
	struct pkg_source src;
	int rc;

	cli_tree_source(t, &src);
	rc = pkg_db_read(&src, db, err);
	if (rc < 0)
		return ut_err_prefix(err, "%s: ", what);
	if (rc == 0)
		return ut_err_set(err, "%s: no package database found (dpkg, rpm, apk or pacman)", what);
	return 0;
}

/* Where the package managers keep their databases. */
static const char *const pkg_db_paths[] = {
	"var/lib/dpkg", "var/lib/apt/extended_states", "var/lib/rpm", "usr/lib/sysimage/rpm",
	"lib/apk/db", "etc/apk/world", "var/lib/pacman/local",
};

int cli_base_pkg_db(struct cli_base *b, struct pkg_db **db, struct ut_err *err)
{
	struct ut_tree *files = NULL;
	int rc;

	*db = NULL;
	if (cli_base_is_scratch(b))
		return 0;
	if (b->disk) {
		if (cli_base_tree(b, err) < 0)
			return -1;
		return cli_tree_pkg_db(b->tree, b->spec, db, err);
	}
	/* An image: only its package database is read out of the layers. */
	if (img_base_files(b->img, pkg_db_paths, sizeof(pkg_db_paths) / sizeof(pkg_db_paths[0]),
			   (uint64_t)1 << 30, &files, err) < 0)
		return ut_err_prefix(err, "%s: ", b->spec);
	rc = cli_tree_pkg_db(files, b->spec, db, err);
	img_base_files_free(files);
	return rc;
}

/*
 * Roots of a subset S of the packages: the members no other member of S
 * leads to through the whole dependency graph (installing them with their
 * dependencies brings back all of S), one per group of members that lead to
 * each other. Reachability is a bitset per member, so |S|^2 bits.
 */
size_t cli_subset_roots(const struct pkg_graph *g, const struct pkg_db *db, const size_t *set,
			size_t nset, size_t **roots)
{
	size_t words = (db->n + 63) / 64, i, j, nroots = 0;
	uint64_t *reach = ut_calloc(nset ? nset * words : 1, sizeof(uint64_t));
	size_t *stack = ut_malloc((db->n + 1) * sizeof(size_t));
	int *in_set = ut_calloc(db->n ? db->n : 1, sizeof(int));

	for (i = 0; i < nset; i++)
		in_set[set[i]] = 1;
	for (i = 0; i < nset; i++) {
		uint64_t *r = reach + i * words;
		size_t sp = 0;

		stack[sp++] = set[i];
		r[set[i] / 64] |= 1ull << (set[i] % 64);
		while (sp) {
			const size_t *to;
			size_t k, nto = pkg_graph_edges(g, stack[--sp], &to);

			for (k = 0; k < nto; k++) {
				if (r[to[k] / 64] & (1ull << (to[k] % 64)))
					continue;
				r[to[k] / 64] |= 1ull << (to[k] % 64);
				stack[sp++] = to[k];
			}
		}
	}
	*roots = ut_malloc((nset ? nset : 1) * sizeof(size_t));
	for (i = 0; i < nset; i++) {
		int root = 1;

		for (j = 0; j < nset && root; j++) {
			const uint64_t *rj = reach + j * words, *ri = reach + i * words;
			int j_reaches_i = j != i && (rj[set[i] / 64] & (1ull << (set[i] % 64)));
			int i_reaches_j = ri[set[j] / 64] & (1ull << (set[j] % 64));

			if (!j_reaches_i)
				continue;
			/* Reached from outside its group, or the group's
			 * representative is another (smaller name) member. */
			if (!i_reaches_j || strcmp(db->v[set[j]].name, db->v[set[i]].name) < 0 ||
			    (!strcmp(db->v[set[j]].name, db->v[set[i]].name) && set[j] < set[i]))
				root = 0;
		}
		if (root)
			(*roots)[nroots++] = set[i];
	}
	free(reach);
	free(stack);
	free(in_set);
	return nroots;
}
