/*
 * fuzz_filter.c - libFuzzer target for the filter rules (fsdiff/filter.c):
 * the --filter-from / label parser, the rsync matcher and the tree filter.
 *
 * Input: filter-file text, then a line "--", then paths, one a line (a
 * trailing '/' makes a folder). The rules are parsed (an error is fine);
 * when they parse, their text form must parse back to itself, and the paths,
 * as a tree, are filtered with every flag: the tree must stay sorted, and no
 * entry may be left under an excluded folder.
 *
 *   fuzz_filter -max_total_time=600 CORPUS_DIR tests/fsdiff/fuzz-seeds/filter
 */
#include "fsdiff.h"

#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
	if (!ok)
		abort();
}

static void add_paths(struct ut_tree *t, const char *s, size_t len)
{
	size_t pos = 0;

	ut_tree_add(t, "")->type = UT_DIR;
	while (pos < len && t->n < 4096) {
		size_t end = pos;
		char *p;
		int dir;

		while (end < len && s[end] != '\n')
			end++;
		p = ut_strndup(s + pos, end - pos);
		dir = end > pos && p[end - pos - 1] == '/';
		if (dir)
			p[end - pos - 1] = '\0';
		/* Only paths a tree can hold: no empty, "." or ".." component. */
		if (*p && p[0] != '/' && !strstr(p, "//") &&
		    strcmp(p, ".") && strcmp(p, "..") && strncmp(p, "./", 2) && strncmp(p, "../", 3) &&
		    !strstr(p, "/./") && !strstr(p, "/../") &&
		    !(strlen(p) >= 2 && !strcmp(p + strlen(p) - 2, "/.")) &&
		    !(strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")) &&
		    p[strlen(p) - 1] != '/' && !ut_tree_find(t, p)) {
			struct ut_entry *e = ut_tree_add(t, p);

			e->type = dir ? UT_DIR : UT_REG;
			e->size = end - pos;
			ut_tree_sort(t);
		}
		free(p);
		pos = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *sep = NULL;
	struct fsd_filter *f = fsd_filter_new(), *g = NULL;
	struct ut_err err;
	size_t rlen = size, i;

	for (i = 0; i + 3 <= size; i++)
		if ((i == 0 || s[i - 1] == '\n') && !memcmp(s + i, "--\n", 3)) {
			sep = s + i;
			break;
		}
	if (sep)
		rlen = (size_t)(sep - s);
	if (fsd_filter_parse(f, s, rlen, "fuzz", &err) == 0) {
		char *a = fsd_filter_text(f), *b;

		g = fsd_filter_new();
		check(fsd_filter_parse(g, a, strlen(a), "fuzz", &err) == 0);
		b = fsd_filter_text(g);
		check(!strcmp(a, b));
		free(a);
		free(b);
		if (sep) {
			struct ut_tree *t = ut_tree_new();

			add_paths(t, sep + 3, size - rlen - 3);
			fsd_filter_tree(f, t, FSD_FILTER_EXCLUDE | FSD_FILTER_EMPTY | FSD_FILTER_COUNT);
			for (i = 1; i < t->n; i++)
				check(strcmp(t->v[i - 1].path, t->v[i].path) < 0);
			/* A kept entry's parent, if kept too, was not excluded. */
			for (i = 0; i < t->n; i++) {
				int m = t->v[i].path[0] ? fsd_filter_match(f, t->v[i].path,
									   t->v[i].type == UT_DIR) : -1;
				struct fsd_rule_info ri;

				if (m < 0)
					continue;
				fsd_filter_rule(f, (size_t)m, &ri);
				check(ri.action != FSD_RULE_EXCLUDE);
			}
			ut_tree_free(t);
		}
	}
	fsd_filter_free(f);
	fsd_filter_free(g);
	return 0;
}
