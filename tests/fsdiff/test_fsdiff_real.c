/*
 * fsdiff on real trees: two host directories (cp -a of a small tree, then
 * real changes made with chmod, chown, setfattr, ln, mv, rm -r, mknod),
 * walked with lstat/readlink/llistxattr (fsdtest.c), diffed, the plan applied
 * on the base by the model and compared with the VM tree; and the changed
 * paths compared with an independent peer: rsync's itemized dry run.
 *
 *   rsync -aHAXn --modify-window=-1 --delete --itemize-changes --checksum vm/ base/
 *
 * lists what rsync would change to turn base into vm (--modify-window=-1:
 * compare nanoseconds as fsdiff does; by default rsync looks at seconds). Known, documented
 * differences from fsdiff's change list:
 *   - rsync never lists "./" (the root); fsdiff reports it but no layer can
 *     carry it, so it is left out here;
 *   - a hardlink set that changed: rsync lists the members it has to
 *     (re)link, fsdiff also lists the unchanged members it must carry in the
 *     layer (FSD_HARDLINK) since a tar hardlink only points into its layer;
 *   - fsdiff reports directory mtimes only with dir_mtimes (rsync always),
 *     so the comparison runs with dir_mtimes on, and checks separately that
 *     without it exactly the mtime-only directories drop out.
 * With --checksum rsync reads every file, as fsdiff's exact mode does; the
 * quick-check mode of each (rsync without --checksum, fsdiff trust_mtime)
 * is compared too: both must miss the same same-size, same-mtime rewrite.
 */
#include "testutil.h"
#include "fsdtest.h"

static char *tmp;

/* rsync prints unprintable bytes as \#ooo. */
static char *unescape(const char *s, size_t n)
{
	char *out = ut_malloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 4 < n + 1 && s[i + 1] == '#' && s[i + 2] >= '0' &&
		    s[i + 2] <= '7') {
			out[k++] = (char)((s[i + 2] - '0') * 64 + (s[i + 3] - '0') * 8 + (s[i + 4] - '0'));
			i += 4;
			continue;
		}
		out[k++] = s[i];
	}
	out[k] = '\0';
	return out;
}

struct pathset {
	char **v;
	char *flags; /* 'D' deleted, '+' created, '.' changed, 'h' hardlink */
	size_t n;
};

static void ps_add(struct pathset *s, char *path, char flag)
{
	s->v = ut_realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->flags = ut_realloc(s->flags, s->n + 1);
	s->v[s->n] = path;
	s->flags[s->n++] = flag;
}

static int ps_find(const struct pathset *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], path))
			return (int)i;
	return -1;
}

static void ps_free(struct pathset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->flags);
	memset(s, 0, sizeof(*s));
}

/* The paths rsync would touch, with the kind of touch. */
static void rsync_changes(const char *flags, struct pathset *out)
{
	char *txt = tu_sh_out("cd '%s' && rsync -aHAXn --modify-window=-1 %s --delete "
			      "--itemize-changes vm/ base/", tmp, flags);
	char *line = txt, *nl;

	for (; *line; line = nl + 1) {
		const char *p, *end, *arrow;
		char kind;
		int created;

		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line);
		if (nl - line < 13)
			goto next;
		p = line + 12;
		end = nl;
		created = !strncmp(line + 2, "+++++++++", 9);
		if (!strncmp(line, "*deleting", 9)) {
			kind = 'D';
		} else if (line[1] == 'L' && (arrow = memmem(p, (size_t)(nl - p), " -> ", 4))) {
			end = arrow;
			kind = created ? '+' : '.';
		} else if (line[0] == 'h' && (arrow = memmem(p, (size_t)(nl - p), " => ", 4))) {
			end = arrow;
			kind = 'h';
		} else {
			kind = created ? '+' : '.';
		}
		if (end > p && end[-1] == '/')
			end--;
		if (end - p == 1 && *p == '.')
			goto next; /* the root */
		ps_add(out, unescape(p, (size_t)(end - p)), kind);
next:
		if (!*nl)
			break;
	}
	free(txt);
}

/* fsdiff's changes, root left out. */
static void fsd_changes(const struct fsd_result *r, struct pathset *out)
{
	const struct fsd_change *c;
	size_t n, i;

	c = fsd_result_changes(r, &n);
	for (i = 0; i < n; i++) {
		const char *p = (c[i].vm ? c[i].vm : c[i].base)->path;
		char k = c[i].kind == FSD_DELETED ? 'D' : c[i].kind == FSD_ADDED ||
				     c[i].kind == FSD_TYPE_CHANGED ? '+' :
				     c[i].kind == FSD_HARDLINK ? 'h' : '.';

		if (p[0])
			ps_add(out, ut_strdup(p), k);
	}
}

static const struct fsd_change *change(const struct fsd_result *r, const char *path)
{
	const struct fsd_change *c;
	size_t n, i;

	c = fsd_result_changes(r, &n);
	for (i = 0; i < n; i++)
		if (!strcmp((c[i].vm ? c[i].vm : c[i].base)->path, path))
			return &c[i];
	return NULL;
}

/* Every rsync path is an fsdiff change of the same sort; every other fsdiff
 * change is a carried hardlink member. */
static int compare_with_rsync(const struct pathset *rs, const struct pathset *fs,
			      const struct fsd_result *r)
{
	int bad = 0;
	size_t i;

	for (i = 0; i < rs->n; i++) {
		int k = ps_find(fs, rs->v[i]);
		char want = rs->flags[i];

		if (k < 0) {
			fprintf(stderr, "rsync changes \"%s\" (%c), fsdiff does not\n", rs->v[i], want);
			bad = 1;
			continue;
		}
		/* rsync's "hf x => y" is a (re)link: an added path or a carried
		 * member for fsdiff; an rsync rewrite of a split member is a
		 * carried member too. */
		if (want == 'h' ? !strchr("+h", fs->flags[k])
				: want != fs->flags[k] && !(want == '.' && fs->flags[k] == 'h' &&
							    (change(r, rs->v[i])->what & FSD_DIFF_LINKSET))) {
			fprintf(stderr, "\"%s\": rsync %c, fsdiff %c\n", rs->v[i], want, fs->flags[k]);
			bad = 1;
		}
	}
	for (i = 0; i < fs->n; i++) {
		if (ps_find(rs, fs->v[i]) >= 0 || fs->flags[i] == 'h')
			continue;
		fprintf(stderr, "fsdiff changes \"%s\" (%c), rsync does not\n", fs->v[i], fs->flags[i]);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static int setup(void **state)
{
	(void)state;
	if (!tu_have("rsync") || !tu_have("setfattr"))
		tu_skip("rsync or setfattr (attr) not installed");
	tmp = tu_tmpdir();
	if (tu_sh(real_trees_script, tmp) != 0) {
		fprintf(stderr, "making the trees failed (user xattrs unsupported in %s?)\n", tmp);
		tu_sh("rm -rf '%s'", tmp);
		tu_skip("cannot make the test trees here");
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (tmp && !getenv("FSDIFF_KEEP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return 0;
}

static void walk_both(struct ut_tree **base, struct ut_tree **vm)
{
	char *b = ut_asprintf("%s/base", tmp), *v = ut_asprintf("%s/vm", tmp);

	*base = host_walk(b);
	*vm = host_walk(v);
	/* The contract: a base comes with digests (from an image's layers). */
	assert_int_equal(ut_tree_digest_all(*base, NULL), 0);
	free(b);
	free(v);
}

static void test_real_exact(void **state)
{
	struct fsd_options o = { .dir_mtimes = 1, .move_min_size = 1 << 20 };
	struct pathset rs = { 0 }, fs = { 0 };
	struct ut_tree *base, *vm;
	struct fsd_result *r = NULL;
	const struct fsd_change *c;
	int dev = 0;

	(void)state;
	walk_both(&base, &vm);
	assert_int_equal(diff_roundtrip(base, vm, &o, &r), 0);
	dev = ut_tree_find(vm, "dev/n") != NULL; /* sorted by the diff now */
	/* Spot checks of what the real tools did. */
	c = change(r, "newbig");
	assert_non_null(c);
	assert_int_equal(c->kind, FSD_ADDED);
	assert_string_equal(c->moved_from, "bin/big");
	assert_int_equal(fsd_result_stats(r)->moved_bytes, 2097152);
	assert_int_equal(change(r, "etc/b1")->kind, FSD_MODIFIED);
	assert_int_equal(change(r, "etc/b1")->what, FSD_DIFF_CONTENT);
	assert_int_equal(change(r, "etc/b")->what, FSD_DIFF_MODE);
	assert_int_equal(change(r, "meta3")->what, FSD_DIFF_XATTR);
	assert_int_equal(change(r, "dd")->kind, FSD_TYPE_CHANGED);
	assert_int_equal(change(r, "l")->what, FSD_DIFF_LINK | FSD_DIFF_MTIME);
	assert_int_equal(change(r, "h/s2")->kind, FSD_HARDLINK);
	assert_int_equal(change(r, "h/t4")->kind, FSD_ADDED);
	assert_int_equal(change(r, "h/t2")->kind, FSD_HARDLINK);
	assert_int_equal(change(r, "licenses/GPL-3")->kind, FSD_DELETED);
	assert_null(change(r, "licenses/GPL-2"));
	if (dev)
		assert_int_equal(change(r, "dev/n")->what, FSD_DIFF_RDEV | FSD_DIFF_MTIME);
	fsd_changes(r, &fs);
	rsync_changes("--checksum", &rs);
	fprintf(stderr, "real: %zu entries; fsdiff %zu changes, rsync %zu; %s\n", vm->n, fs.n, rs.n,
		dev ? "devices too" : "no mknod here");
	assert_true(rs.n > 30);
	assert_int_equal(compare_with_rsync(&rs, &fs, r), 0);
	ps_free(&fs);
	fsd_result_free(r);
	/* Without dir_mtimes, exactly the directories rsync marks for their
	 * time alone drop out. */
	o.dir_mtimes = 0;
	assert_int_equal(diff_roundtrip(base, vm, &o, &r), 0);
	fsd_changes(r, &fs);
	for (size_t i = 0; i < rs.n; i++) {
		const struct ut_entry *e = ut_tree_find(vm, rs.v[i]);
		const struct ut_entry *b = ut_tree_find(base, rs.v[i]);
		int mtime_only = e && b && e->type == UT_DIR && b->type == UT_DIR &&
				 entry_diff(b, e, &(struct cmp_opts){ .dir_mtimes = 1 }) == FSD_DIFF_MTIME;

		assert_int_equal(ps_find(&fs, rs.v[i]) >= 0, !mtime_only);
	}
	ps_free(&fs);
	ps_free(&rs);
	fsd_result_free(r);
	host_tree_free(vm);
	host_tree_free(base);
}

/* Quick check against quick check: both miss the same-size same-mtime
 * rewrite of etc/b1, and agree on everything else. */
static void test_real_quick_check(void **state)
{
	struct fsd_options o = { .dir_mtimes = 1, .trust_mtime = 1 };
	struct pathset rs = { 0 }, fs = { 0 };
	struct ut_tree *base, *vm;
	struct fsd_result *r = NULL;
	struct ut_err err = { { 0 } };

	(void)state;
	walk_both(&base, &vm);
	assert_int_equal(fsd_diff(base, vm, &o, &r, &err), 0);
	assert_null(change(r, "etc/b1"));
	fsd_changes(r, &fs);
	rsync_changes("", &rs);
	assert_int_equal(ps_find(&rs, "etc/b1"), -1);
	assert_int_equal(compare_with_rsync(&rs, &fs, r), 0);
	/* And the quick check read far less than the exact diff. */
	fprintf(stderr, "quick check read %llu files, %llu bytes\n",
		(unsigned long long)fsd_result_stats(r)->digested,
		(unsigned long long)fsd_result_stats(r)->digested_bytes);
	assert_true(fsd_result_stats(r)->digested < 5);
	ps_free(&fs);
	ps_free(&rs);
	fsd_result_free(r);
	host_tree_free(vm);
	host_tree_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_exact),
		cmocka_unit_test(test_real_quick_check),
	};

	return cmocka_run_group_tests_name("fsdiff: host trees against rsync", tests, setup, teardown);

}
