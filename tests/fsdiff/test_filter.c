/*
 * test_filter.c - the include/exclude rules against rsync itself.
 *
 * A small host tree (nested folders, dotfiles, a name with '*', a kernel-like
 * /boot, a /tmp with a hidden folder) is filtered two ways for each rule set
 * of a table: rsync's dry run
 *
 *   rsync -n -a --out-format=%n --filter='. RULES' tree/ dest/
 *
 * lists what it would copy, and fsd_filter_tree keeps what it keeps from the
 * same tree (host_walk). The two path sets must be equal. Then the default
 * rules (without the "=" rule rsync has no word for) the same way, the
 * machine-id rule, the per-rule counts, and the parser's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsdtest.h"
#include "testutil.h"

static char *dir;

static const char make_tree[] =
	"set -e; cd %s; mkdir -p tree dest; cd tree; "
	"mkdir -p a/b/c q/c c/d b .hdir boot/grub tmp/.X11-unix lib/modules/6.1/kernel "
	"usr/src/linux-headers-6.1 usr/src/other var/cache/apt/archives/partial proc run/lock; "
	"for f in a/keep a/x a/b/x a/b/c/x a/b/c/d a.b b/x b/y.txt c/d/e.txt c/d.txt x y.o "
	"z.txt .hidden .hdir/f.o q/c/d 's*t' boot/vmlinuz boot/grub/grub.cfg tmp/.X11-unix/X0 "
	"tmp/f lib/modules/6.1/kernel/m.ko usr/src/linux-headers-6.1/Makefile usr/src/other/f "
	"var/cache/apt/archives/a.deb var/cache/apt/archives/lock var/cache/apt/pkgcache.bin "
	"var/cache/apt/archives/partial/b.deb run/lock/x swapfile vmlinuz initrd.img "
	"initrd.img.old etc-machine-id; do printf '%%s\\n' \"$f\" > \"$f\"; done; "
	"mkdir etc; mv etc-machine-id etc/machine-id; ln -s usr/lib lib2";

static int setup(void **state)
{
	(void)state;
	if (!tu_have("rsync"))
		tu_skip("rsync is not installed (scripts/install-deps.sh --peers)");
	dir = tu_tmpdir();
	if (tu_sh(make_tree, dir) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_sh("rm -rf %s", dir);
	free(dir);
	return 0;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* rsync's list for rules, one path a line, sorted, no "./", no trailing '/'. */
static char *rsync_list(const char *rules)
{
	char *out, **lines = NULL, *save = NULL, *tok;
	size_t n = 0, i;
	struct ut_buf b;
	FILE *f;
	char path[4096];

	snprintf(path, sizeof(path), "%s/rules", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(rules, f);
	fclose(f);
	out = tu_sh_out("rsync -n -a --out-format=%%n --filter='. %s' %s/tree/ %s/dest/", path,
			dir, dir);
	for (tok = strtok_r(out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(tok);

		if (!strcmp(tok, "./"))
			continue;
		if (l > 1 && tok[l - 1] == '/')
			tok[l - 1] = '\0';
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = tok;
	}
	qsort(lines, n, sizeof(*lines), path_cmp);
	ut_buf_init(&b, 0);
	for (i = 0; i < n; i++)
		ut_buf_addf(&b, NULL, "%s\n", lines[i]);
	free(lines);
	free(out);
	return ut_buf_detach(&b, NULL);
}

/* What fsd_filter_tree keeps of the same tree, in the same form. */
static char *our_list(struct fsd_filter *f)
{
	char root[4096];
	struct ut_tree *t;
	struct ut_buf b;
	size_t i;

	snprintf(root, sizeof(root), "%s/tree", dir);
	t = host_walk(root);
	assert_non_null(t);
	fsd_filter_tree(f, t, FSD_FILTER_EXCLUDE | FSD_FILTER_EMPTY | FSD_FILTER_COUNT);
	ut_buf_init(&b, 0);
	for (i = 0; i < t->n; i++)
		if (t->v[i].path[0])
			ut_buf_addf(&b, NULL, "%s\n", t->v[i].path);
	host_tree_free(t);
	return ut_buf_detach(&b, NULL);
}

static void check_rules(const char *rules)
{
	struct fsd_filter *f = fsd_filter_new();
	struct ut_err err = { { 0 } };
	char *want, *got;

	if (fsd_filter_parse(f, rules, strlen(rules), "user", &err) < 0)
		fail_msg("parse %s: %s", rules, err.msg);
	want = rsync_list(rules);
	got = our_list(f);
	if (strcmp(want, got)) {
		fprintf(stderr, "rules:\n%s\nrsync keeps:\n%s\nwe keep:\n%s", rules, want, got);
		fail_msg("the rules above: rsync and fsd_filter_tree keep other paths");
	}
	free(want);
	free(got);
	fsd_filter_free(f);
}

/* The table: every matching rule of rsync's the subset claims. */
static void test_against_rsync(void **state)
{
	static const char *const table[] = {
		"- *.o\n",
		"- /a/*\n",
		"- a/\n",
		"- x/\n",
		"+ /a/keep\n- /a/*\n",
		"- /a/*\n+ /a/keep\n",
		"- **/x\n",
		"- a/**/x\n",
		"- /a/b/***\n",
		"- b/***\n",
		"- ?\n",
		"- [ab]*\n",
		"- [!a]*\n",
		"- [a-c]\n",
		"- c/d\n",
		"- /c/d/\n",
		"+ */\n+ *.txt\n- *\n",
		"- .*\n",
		"- **.txt\n",
		"- a*/\n",
		"- /*/x\n",
		"- b/*\n",
		"- **/\n",
		"- s\\*t\n",
		"- s\\?t\n",
		"- /a/b/**\n",
		"- **/c/d\n",
		"- *c/d\n",
		"- /**/d\n",
		"- a/*/c/\n",
		"# comment\n; another\n\n- y.o\n",
		"- /tmp/*\n",
		"+ /tmp/.X11-unix/\n- /tmp/*\n",
		"- /boot\n",
		"- /lib2\n",
		"- /lib2/\n",
		"- *.txt\r\n- x\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		check_rules(table[i]);
}

/* The defaults, "=" aside, as rsync reads them; what they take. */
static void test_defaults_against_rsync(void **state)
{
	struct fsd_filter *f = fsd_filter_new(), *plain = fsd_filter_new();
	struct ut_err err = { { 0 } };
	char *text, *want, *got, *line, *save = NULL;
	struct ut_buf rs;
	size_t i;

	(void)state;
	fsd_filter_add_defaults(f, FSD_GROUP_ALL);
	text = fsd_filter_text(f);
	ut_buf_init(&rs, 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '=')
			ut_buf_addf(&rs, NULL, "%s\n", line);
	assert_int_equal(fsd_filter_parse(plain, (char *)rs.data, rs.len, "default", &err), 0);
	want = rsync_list((char *)rs.data);
	got = our_list(f);
	assert_string_equal(want, got);
	/* What they take from this tree, and what they leave. */
	assert_null(strstr(got, "boot/vmlinuz"));
	assert_non_null(strstr(got, "boot\n"));
	assert_null(strstr(got, "lib/modules/6.1"));
	assert_non_null(strstr(got, "lib/modules\n"));
	assert_null(strstr(got, "usr/src/linux-headers"));
	assert_non_null(strstr(got, "usr/src/other/f\n"));
	assert_null(strstr(got, "tmp/"));
	assert_non_null(strstr(got, "run/lock\n")); /* /run keeps its folders */
	assert_null(strstr(got, "run/lock/x"));
	assert_null(strstr(got, ".deb"));
	assert_null(strstr(got, "pkgcache.bin"));
	assert_non_null(strstr(got, "var/cache/apt/archives/lock\n"));
	assert_null(strstr(got, "\nswapfile"));
	assert_null(strstr(got, "\nvmlinuz"));
	assert_null(strstr(got, "initrd.img"));
	assert_non_null(strstr(got, "etc/machine-id\n"));
	/* Counts: the kernel rule for /boot took the folder's 3 entries. */
	for (i = 0; i < fsd_filter_count(f); i++) {
		struct fsd_rule_info ri;

		fsd_filter_rule(f, i, &ri);
		if (!strcmp(ri.pattern, "/boot/*")) {
			assert_string_equal(ri.group, "kernel");
			assert_int_equal(ri.files, 3); /* vmlinuz, grub, grub.cfg */
			assert_int_equal(ri.bytes, strlen("boot/vmlinuz\n") +
							   strlen("boot/grub/grub.cfg\n"));
		}
		if (!strcmp(ri.pattern, "/etc/machine-id")) {
			assert_int_equal(ri.action, FSD_RULE_EMPTY);
			assert_int_equal(ri.files, 1);
			assert_int_equal(ri.bytes, strlen("etc-machine-id\n"));
		}
	}
	free(want);
	free(got);
	free(text);
	ut_buf_release(&rs);
	fsd_filter_free(f);
	fsd_filter_free(plain);
}

/* "=": the file stays, empty, with the empty digest and no link set; an
 * include before it keeps the bytes; a folder or symlink is left alone. */
static void test_empty_rule(void **state)
{
	struct ut_tree *t = syn_tree();
	struct fsd_filter *f = fsd_filter_new();
	struct ut_err err = { { 0 } };
	const char *rules = "+ /etc/keep\n= /etc/*\n";
	unsigned char empty[UT_SHA256_LEN];
	struct ut_entry *e;

	(void)state;
	t_dir(t, "etc", 0755);
	t_file(t, "etc/machine-id", 1, 33)->link_id = 7;
	t_file(t, "etc/other", 2, 33)->link_id = 7;
	t_file(t, "etc/keep", 3, 10);
	t_dir(t, "etc/sub", 0755);
	t_file(t, "etc/sub/f", 4, 5);
	t_symlink(t, "etc/link", "x");
	assert_int_equal(fsd_filter_parse(f, rules, strlen(rules), "user", &err), 0);
	/* Only exclusion asked: nothing emptied. */
	fsd_filter_tree(f, t, FSD_FILTER_EXCLUDE);
	assert_int_equal(ut_tree_find(t, "etc/machine-id")->size, 33);
	fsd_filter_tree(f, t, FSD_FILTER_EMPTY);
	ut_sha256_buf("", 0, empty);
	e = ut_tree_find(t, "etc/machine-id");
	assert_int_equal(e->size, 0);
	assert_true(e->has_digest);
	assert_memory_equal(e->digest, empty, UT_SHA256_LEN);
	assert_int_equal(e->link_id, 0);
	assert_int_equal(ut_tree_find(t, "etc/keep")->size, 10);
	assert_int_equal(ut_tree_find(t, "etc/sub/f")->size, 5); /* "*" stops at '/' */
	assert_non_null(ut_tree_find(t, "etc/link"));
	assert_non_null(ut_tree_find(t, "etc/sub"));
	ut_tree_free(t);
	fsd_filter_free(f);
}

/* A tree without its folders' entries: ancestors are judged all the same. */
static void test_missing_ancestors(void **state)
{
	struct ut_tree *t = syn_tree();
	struct fsd_filter *f = fsd_filter_new();
	struct ut_err err = { { 0 } };

	(void)state;
	t_file(t, "boot/grub/grub.cfg", 1, 3);
	t_file(t, "bootx/f", 2, 3);
	t_file(t, "usr/src/linux-headers-6.1/a/b", 3, 3);
	t_file(t, "usr/src/linux-headers.txt", 4, 3);
	assert_int_equal(fsd_filter_add(f, FSD_RULE_EXCLUDE, "/boot/", "user", &err), 0);
	fsd_filter_add_defaults(f, FSD_GROUP_KERNEL);
	fsd_filter_tree(f, t, FSD_FILTER_EXCLUDE);
	/* The root (syn_tree's), bootx/f and the headers' namesake stay. */
	assert_int_equal(t->n, 3);
	assert_string_equal(t->v[0].path, "");
	assert_string_equal(t->v[1].path, "bootx/f");
	assert_string_equal(t->v[2].path, "usr/src/linux-headers.txt");
	ut_tree_free(t);
	fsd_filter_free(f);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "- \n", "line 1: " },
		{ "x foo\n", "line 1: expected" },
		{ "\n\n-foo\n", "line 3: expected" },
		{ "+\n", "line 1: " },
		{ "- a\x01z\n", "control character" },
		{ "- [[:alpha:]]\n", "not supported" },
		{ ". merge-file\n", "line 1: expected" },
		{ "- ok\nmerge x\n", "line 2: " },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fsd_filter *f = fsd_filter_new();
		struct ut_err err = { { 0 } };

		assert_int_equal(fsd_filter_parse(f, bad[i].text, strlen(bad[i].text), "user", &err),
				 -1);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err.msg, bad[i].msg);
		fsd_filter_free(f);
	}
	{
		struct fsd_filter *f = fsd_filter_new();
		struct ut_err err = { { 0 } };
		const char nul[] = "- a\0b\n";

		assert_int_equal(fsd_filter_parse(f, nul, sizeof(nul) - 1, "user", &err), -1);
		assert_non_null(strstr(err.msg, "NUL"));
		fsd_filter_free(f);
	}
}

/* The text form parses back to the same rules (how verify reads them). */
static void test_text_roundtrip(void **state)
{
	struct fsd_filter *f = fsd_filter_new(), *g = fsd_filter_new();
	struct ut_err err = { { 0 } };
	char *a, *b;

	(void)state;
	assert_int_equal(fsd_filter_add(f, FSD_RULE_INCLUDE, "/boot/efi/", "user", &err), 0);
	assert_int_equal(fsd_filter_add(f, FSD_RULE_EXCLUDE, "*.log", "user", &err), 0);
	fsd_filter_add_defaults(f, FSD_GROUP_ALL);
	a = fsd_filter_text(f);
	assert_int_equal(fsd_filter_parse(g, a, strlen(a), "image", &err), 0);
	b = fsd_filter_text(g);
	assert_string_equal(a, b);
	assert_int_equal(fsd_filter_count(f), fsd_filter_count(g));
	assert_int_equal(fsd_filter_match(g, "boot/efi", 1), 0);
	assert_int_equal(fsd_filter_match(g, "boot/efi", 0), 2); /* a file: "/boot/" + "*" */
	assert_int_equal(fsd_filter_match(g, "var/log/x.log", 0), 1);
	assert_int_equal(fsd_filter_match(g, "etc/hostname", 0), -1);
	free(a);
	free(b);
	fsd_filter_free(f);
	fsd_filter_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_rsync),
		cmocka_unit_test(test_defaults_against_rsync),
		cmocka_unit_test(test_empty_rule),
		cmocka_unit_test(test_missing_ancestors),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_text_roundtrip),
	};

	return cmocka_run_group_tests_name("fsdiff: filter rules against rsync", tests, setup,
					   teardown);
}
