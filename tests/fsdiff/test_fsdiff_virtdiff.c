/*
 * fsdiff against libguestfs' virt-diff (slow: one appliance launch under
 * TCG, minutes on a busy machine).
 *
 * The trees of test_fsdiff_real (real_trees_script) are laid into two ext4
 * images with mke2fs -d; virt-diff compares the images, fsdiff the host
 * directories they were made from:
 *
 *   virt-diff -a base.img -A vm.img --checksum --csv --all --dir-times
 *
 * Known, documented differences, accounted for below:
 *   - virt-diff shows times in whole seconds, so nanoseconds are dropped
 *     from both host trees before fsdiff compares them;
 *   - virt-diff's verdicts are not used as such: a path present on both
 *     sides comes out as two rows ('-' and '+') and the test compares their
 *     columns itself, leaving out inode, ctime, device and block count, which
 *     no layer carries (its "# changed:" line omits content: a same-size,
 *     same-mtime rewrite shows as "st_ino" alone). A single '=' row (one
 *     side's columns only) is set aside: virt-diff prints it for changed
 *     files and, in some runs on identical trees, for unchanged ones too;
 *   - lost+found is mke2fs', not the trees';
 *   - with equal inode numbers on both sides virt-diff prints '=' even for
 *     unchanged files, so the VM image is made with 101 inodes used up front
 *     (a 0shift directory, removed from the host tree again and ignored in
 *     the output) to keep the numbers apart;
 *   - virt-diff merges the two walks in walk order, not strcmp order, so
 *     "etc.bak" (which sorts between "etc" and "etc/x") and everything under
 *     it come out as added AND deleted: those paths are set aside, and the
 *     test checks that this is what happened to them;
 *   - fsdiff may list unchanged members of a changed hardlink set that it
 *     carries (FSD_HARDLINK); virt-diff sees them only when their nlink moved.
 */
#include "testutil.h"
#include "fsdtest.h"

struct vrow {
	char mark;     /* '-', '+', '=', '#' */
	char *path;    /* without the leading '/' ("" for the root) */
	char **f;      /* every field of the row */
	size_t nf;
};

/* CSV rows, with quoted fields that may hold commas and newlines. */
static size_t parse_csv(const char *s, struct vrow **out)
{
	struct vrow *v = NULL;
	size_t n = 0;

	while (*s) {
		char *fields[64];
		size_t nf = 0, i;

		for (;;) {
			struct ut_buf f;

			ut_buf_init(&f, 0);
			ut_buf_addstr(&f, "", NULL);
			if (*s == '"') {
				for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
					if (*s == '"')
						s++;
					ut_buf_add(&f, s, 1, NULL);
				}
				if (*s == '"')
					s++;
			}
			while (*s && *s != ',' && *s != '\n')
				ut_buf_add(&f, s++, 1, NULL);
			if (nf < 64)
				fields[nf++] = ut_buf_detach(&f, NULL);
			else
				ut_buf_release(&f);
			if (*s == ',') {
				s++;
				continue;
			}
			if (*s == '\n')
				s++;
			break;
		}
		v = ut_realloc(v, (n + 1) * sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		v[n].mark = fields[0][0];
		for (i = 1; i < nf && !v[n].path && v[n].mark != '#'; i++)
			if (fields[i][0] == '/')
				v[n].path = ut_strdup(fields[i] + 1);
		v[n].f = ut_malloc(nf * sizeof(*v[n].f));
		memcpy(v[n].f, fields, nf * sizeof(*fields));
		v[n].nf = nf;
		if (v[n].mark == '#' || v[n].path) {
			n++;
		} else {
			for (i = 0; i < nf; i++)
				free(fields[i]);
			free(v[n].f);
		}
	}
	*out = v;
	return n;
}

/*
 * Whether the two rows virt-diff prints for one path differ in anything a
 * layer carries: every column but the inode number (9), ctime (7), device
 * (8) and block count (12). virt-diff's own "# changed:" verdict is not
 * used: it leaves out content (a same-size, same-mtime rewrite is listed as
 * "st_ino" alone although the checksum columns differ).
 */
static int rows_differ(const struct vrow *a, const struct vrow *b)
{
	size_t i;

	if (a->nf != b->nf)
		return 1;
	for (i = 0; i < a->nf; i++)
		if (i != 7 && i != 8 && i != 9 && i != 12 && i && strcmp(a->f[i], b->f[i]))
			return 1;
	return 0;
}

static int in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static void truncate_nsec(struct ut_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i].mtime_nsec = 0;
}

static void test_virtdiff(void **state)
{
	struct fsd_options o = { .dir_mtimes = 1 };
	struct ut_tree *base, *vm;
	struct fsd_result *r = NULL;
	struct ut_err err = { { 0 } };
	const struct fsd_change *c;
	struct vrow *rows = NULL;
	char **vset = NULL, **aside = NULL;
	size_t nrows, nv = 0, na = 0, nc, i, k;
	char *tmp, *out, *b, *v;
	double t0;
	size_t nequal = 0;
	int bad = 0;

	(void)state;
	if (!tu_have("virt-diff") || !tu_have("mke2fs") || !tu_have("setfattr"))
		tu_skip("virt-diff, mke2fs or setfattr not installed");
	/* FSDIFF_VIRTDIFF_DIR: a directory kept (FSDIFF_KEEP=1) by an earlier
	 * run, to rework the comparison without another appliance launch. */
	if (getenv("FSDIFF_VIRTDIFF_DIR")) {
		tmp = ut_strdup(getenv("FSDIFF_VIRTDIFF_DIR"));
		out = tu_sh_out("cat '%s/virt-diff.csv'", tmp);
		goto compare;
	}
	tmp = tu_tmpdir();
	if (tu_sh(real_trees_script, tmp) != 0)
		tu_skip("cannot make the test trees here");
	/* mke2fs -d numbers inodes in sorted walk order: 101 inodes used first
	 * in the VM image put every VM inode number above every base one. */
	assert_int_equal(tu_sh("cd '%s' && mke2fs -q -t ext4 -d base base.img 32M && "
			       "mkdir vm/0shift && for i in $(seq 1 100); do : > vm/0shift/f$i; done && "
			       "mke2fs -q -t ext4 -d vm vm.img 32M && rm -r vm/0shift", tmp), 0);
	t0 = ut_now();
	out = tu_sh_out("cd '%s' && LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-diff -a base.img "
			"-A vm.img --checksum --csv --all --dir-times 2>virt-diff.err | tee virt-diff.csv", tmp);
	if (!strstr(out, "/etc")) {
		char *e = tu_sh_out("tail -5 '%s/virt-diff.err'", tmp);

		fprintf(stderr, "virt-diff failed:\n%s\n", e);
		free(e);
		tu_sh("rm -rf '%s'", tmp);
		tu_skip("virt-diff cannot run here (no appliance or no qemu)");
	}
	fprintf(stderr, "virt-diff took %.0f s\n", ut_now() - t0);
compare:
	nrows = parse_csv(out, &rows);

	/* What virt-diff says changed, and what it could not pair. */
	for (i = 0; i < nrows; i++) {
		const char *p = rows[i].path;
		int pair = rows[i].mark == '-' && i + 2 < nrows && rows[i + 1].mark == '+' &&
			   !strcmp(rows[i + 1].path, p) && rows[i + 2].mark == '#';

		/* A pair's '#' row is skipped with it; a lone one is noise. */

		if (rows[i].mark == '#' || !p[0] || !strcmp(p, "lost+found") ||
		    ut_path_is_under(p, "0shift"))
			continue;
		/* "=": one row only, and a verdict that varies between runs on
		 * the same trees; nothing to compare, so set it aside. */
		if (rows[i].mark == '=') {
			if (!in_list(aside, na, p))
				aside = ut_realloc(aside, (na + 1) * sizeof(*aside)),
				aside[na++] = ut_strdup(p);
			nequal++;
			continue;
		}
		if (pair) {
			if (rows_differ(&rows[i], &rows[i + 1]))
				vset = ut_realloc(vset, (nv + 1) * sizeof(*vset)), vset[nv++] = ut_strdup(p);
			i += 2;
			continue;
		}
		for (k = 0; k < nrows; k++)
			if (k != i && rows[k].mark != '#' && rows[k].mark != rows[i].mark &&
			    !strcmp(rows[k].path, p) && rows[i].mark != '=')
				break;
		if (k < nrows) {
			if (!in_list(aside, na, p))
				aside = ut_realloc(aside, (na + 1) * sizeof(*aside)),
				aside[na++] = ut_strdup(p);
			continue;
		}
		vset = ut_realloc(vset, (nv + 1) * sizeof(*vset));
		vset[nv++] = ut_strdup(p);
	}
	/* virt-diff's walk-order merge is what puts etc.bak aside. */
	assert_true(in_list(aside, na, "etc.bak"));
	assert_true(in_list(aside, na, "etc.bak/old"));

	b = ut_asprintf("%s/base", tmp);
	v = ut_asprintf("%s/vm", tmp);
	base = host_walk(b);
	vm = host_walk(v);
	truncate_nsec(base);
	truncate_nsec(vm);
	assert_int_equal(ut_tree_digest_all(base, NULL), 0);
	assert_int_equal(fsd_diff(base, vm, &o, &r, &err), 0);
	c = fsd_result_changes(r, &nc);
	for (i = 0; i < nc; i++) {
		const char *p = (c[i].vm ? c[i].vm : c[i].base)->path;

		if (!p[0] || in_list(aside, na, p))
			continue;
		if (!in_list(vset, nv, p) && !(c[i].kind == FSD_HARDLINK && !c[i].what)) {
			fprintf(stderr, "fsdiff: %s \"%s\"; virt-diff: no change\n",
				fsd_kind_name(c[i].kind), p);
			bad = 1;
		}
	}
	for (i = 0; i < nv; i++) {
		for (k = 0; k < nc; k++)
			if (!strcmp((c[k].vm ? c[k].vm : c[k].base)->path, vset[i]))
				break;
		if (k == nc) {
			fprintf(stderr, "virt-diff: \"%s\" changed; fsdiff: no change\n", vset[i]);
			bad = 1;
		}
	}
	fprintf(stderr, "virt-diff: %zu changed paths, %zu set aside (%zu \"=\" rows); fsdiff: %zu "
		"changes\n", nv, na, nequal, nc);
	assert_true(nv > 20);
	assert_int_equal(bad, 0);

	fsd_result_free(r);
	host_tree_free(vm);
	host_tree_free(base);
	for (i = 0; i < nrows; i++) {
		for (k = 0; k < rows[i].nf; k++)
			free(rows[i].f[k]);
		free(rows[i].f);
		free(rows[i].path);
	}
	free(rows);
	for (i = 0; i < nv; i++)
		free(vset[i]);
	for (i = 0; i < na; i++)
		free(aside[i]);
	free(vset);
	free(aside);
	free(out);
	free(b);
	free(v);
	/* A directory given by FSDIFF_VIRTDIFF_DIR is the caller's. */
	if (!getenv("FSDIFF_KEEP") && !getenv("FSDIFF_VIRTDIFF_DIR"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_virtdiff),
	};

	return cmocka_run_group_tests_name("fsdiff: against virt-diff", tests, NULL, NULL);

}
