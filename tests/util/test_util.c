/* Tests of util/: buffers with caps, errors, sha256, sorted trees. */
#include "testutil.h"
#include "util.h"

static void test_buf_cap(void **state)
{
	struct ut_buf b;
	struct ut_err err = { { 0 } };

	(void)state;
	ut_buf_init(&b, 8);
	assert_int_equal(ut_buf_add(&b, "12345678", 8, &err), 0);
	assert_int_equal(ut_buf_add(&b, "9", 1, &err), -1);
	assert_non_null(strstr(err.msg, "8-byte limit"));
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.data, "12345678");
	ut_buf_release(&b);
}

static void test_err_prefix(void **state)
{
	struct ut_err err;

	(void)state;
	assert_int_equal(ut_err_set(&err, "bad magic %d", 7), -1);
	ut_err_prefix(&err, "%s: ", "disk.qcow2");
	assert_string_equal(err.msg, "disk.qcow2: bad magic 7");
}

static void test_json_string(void **state)
{
	struct ut_buf b;

	(void)state;
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_json_string(&b, "a\"b\\c\nd\x01", NULL), 0);
	assert_string_equal((char *)b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
	ut_buf_release(&b);
}

static void test_sha256(void **state)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];

	(void)state;
	ut_sha256_buf("abc", 3, d);
	ut_hex(d, sizeof(d), hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_tree_sort_and_replace(void **state)
{
	struct ut_tree *t = ut_tree_new();

	(void)state;
	ut_tree_add(t, "etc/x")->size = 1;
	ut_tree_add(t, "etc.bak")->size = 2;
	ut_tree_add(t, "etc")->type = UT_DIR;
	ut_tree_add(t, "")->type = UT_DIR;
	ut_tree_add(t, "etc/x")->size = 3; /* a later layer replaces */
	assert_false(t->sorted);
	ut_tree_sort(t);
	assert_int_equal(t->n, 4);
	assert_string_equal(t->v[0].path, "");
	assert_string_equal(t->v[1].path, "etc");
	assert_string_equal(t->v[2].path, "etc.bak");
	assert_string_equal(t->v[3].path, "etc/x");
	assert_int_equal(ut_tree_find(t, "etc/x")->size, 3);
	assert_null(ut_tree_find(t, "etc/y"));

	ut_tree_remove(t, "etc");
	assert_int_equal(t->n, 2);
	assert_non_null(ut_tree_find(t, "etc.bak"));
	assert_null(ut_tree_find(t, "etc/x"));
	ut_tree_free(t);
}

static void test_path_helpers(void **state)
{
	(void)state;
	assert_true(ut_path_is_under("etc/x", "etc"));
	assert_true(ut_path_is_under("etc", "etc"));
	assert_false(ut_path_is_under("etc.bak", "etc"));
	assert_false(ut_path_is_under("etcx/y", "etc"));
	assert_true(ut_path_is_under("anything", ""));
	assert_string_equal(ut_path_base("a/b/c"), "c");
	assert_int_equal(ut_path_parent_len("a/b/c"), 3);
	assert_int_equal(ut_path_parent_len("a"), 0);
}

static void test_link_counts(void **state)
{
	struct ut_tree *t = ut_tree_new();

	(void)state;
	ut_tree_add(t, "a")->link_id = 5;
	ut_tree_add(t, "b")->link_id = 5;
	ut_tree_add(t, "c")->link_id = 6;
	for (size_t i = 0; i < t->n; i++)
		t->v[i].type = UT_REG;
	ut_tree_count_links(t);
	assert_int_equal(t->v[0].nlink, 2);
	assert_int_equal(t->v[1].nlink, 2);
	assert_int_equal(t->v[2].nlink, 1);
	ut_tree_free(t);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(ut_utf8_valid("plain ascii"));
	assert_true(ut_utf8_valid("non-ascii-\xc3\xa9-\xe6\x96\x87\xe4\xbb\xb6"));
	assert_true(ut_utf8_valid("\xf0\x9f\x98\x80")); /* U+1F600 */
	assert_false(ut_utf8_valid("bad\xff"));
	assert_false(ut_utf8_valid("\xc0\xaf"));         /* overlong '/' */
	assert_false(ut_utf8_valid("\xe0\x80\xaf"));     /* overlong, 3 bytes */
	assert_false(ut_utf8_valid("\xed\xa0\x80"));     /* surrogate U+D800 */
	assert_false(ut_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	assert_false(ut_utf8_valid("\xe6\x96"));         /* cut short by the NUL */
	assert_false(ut_utf8_valid("\x80"));
}

static void test_escape_name(void **state)
{
	struct ut_buf b;
	char *e;

	(void)state;
	e = ut_escape_name("esc\x1b[31mred\rcr\nlf\ttab\\bs \xc3\xa9\xff\x7f");
	assert_string_equal(e, "esc\\x1b[31mred\\rcr\\nlf\\ttab\\\\bs \xc3\xa9\\xff\\x7f");
	assert_true(ut_utf8_valid(e));
	free(e);
	/* Without UT_ESC_BACKSLASH a backslash stays one (error lines). */
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_escaped(&b, "a\\b\n", 0, NULL), 0);
	assert_string_equal((char *)b.data, "a\\b\\n");
	ut_buf_release(&b);
	/* JSON strings stay valid UTF-8: a stray byte becomes the text \xHH. */
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_json_string(&b, "a\xff\xc3\xa9", NULL), 0);
	assert_string_equal((char *)b.data, "\"a\\\\xff\xc3\xa9\"");
	ut_buf_release(&b);
}

static void test_whiteout_names(void **state)
{
	static const char *const same[] = { "etc/passwd", "a.wh.b", "x/wh.y", "x/.whx", "" };
	static const struct { const char *in, *out; } esc[] = {
		{ ".wh.evil", ".vm2oci-esc..wh.evil" },
		{ "x/.wh.y", "x/.vm2oci-esc..wh.y" },
		{ "o/.wh..wh..opq", "o/.vm2oci-esc..wh..wh..opq" },
		{ ".wh.d/.wh.e/f", ".vm2oci-esc..wh.d/.vm2oci-esc..wh.e/f" },
		/* Escaping the escape keeps the map one-to-one. */
		{ "y/.vm2oci-esc.z", "y/.vm2oci-esc..vm2oci-esc.z" },
		{ ".vm2oci-esc..wh.evil", ".vm2oci-esc..vm2oci-esc..wh.evil" },
	};
	struct ut_tree *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_null(ut_path_whiteout_component(same[i]));
		assert_null(ut_path_escape_whiteouts(same[i]));
	}
	assert_string_equal(ut_path_whiteout_component("x/.wh.y/z"), ".wh.y/z");
	for (i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		char *o = ut_path_escape_whiteouts(esc[i].in);

		assert_non_null(o);
		assert_string_equal(o, esc[i].out);
		assert_null(ut_path_whiteout_component(o));
		free(o);
	}
	/* A renamed tree is sorted again and keeps every entry. */
	t = ut_tree_new();
	ut_tree_add(t, "a");
	ut_tree_add(t, ".wh.b");
	ut_tree_add(t, ".wh.b/c");
	ut_tree_add(t, "z");
	ut_tree_sort(t);
	assert_int_equal(ut_tree_escape_whiteouts(t), 2);
	assert_int_equal(t->n, 4);
	assert_non_null(ut_tree_find(t, ".vm2oci-esc..wh.b/c"));
	for (i = 1; i < t->n; i++)
		assert_true(strcmp(t->v[i - 1].path, t->v[i].path) < 0);
	ut_tree_free(t);
}

/* The arena and the in-place sort: taken entries in a scrambled order with
 * duplicates come out sorted, the later duplicate kept, paths intact. */
static void test_tree_sort_arena(void **state)
{
	struct ut_tree *t = ut_tree_new();
	const size_t n = 3000;
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		struct ut_entry e = { 0 };
		size_t k = (i * 7919) % 1000; /* each of 1000 paths three times */

		e.path = ut_asprintf("d%zu/f%04zu", k % 7, k);
		e.size = i;
		ut_tree_take(t, &e);
		assert_null(e.path);
	}
	ut_tree_add(t, "")->type = UT_DIR;
	ut_tree_sort(t);
	assert_int_equal(t->n, 1001);
	assert_string_equal(t->v[0].path, "");
	for (i = 1; i < t->n; i++) {
		size_t k = strtoul(strchr(t->v[i].path, 'f') + 1, NULL, 10);

		assert_true(strcmp(t->v[i - 1].path, t->v[i].path) < 0);
		assert_true(t->v[i].path_in_tree);
		/* The last of the three takes of path k: i = k*...; it is the
		 * largest i with (i * 7919) % 1000 == k. */
		assert_int_equal((t->v[i].size * 7919) % 1000, k);
		assert_true(t->v[i].size >= 2000);
	}
	ut_tree_rename(t, &t->v[1], "zz/renamed");
	ut_tree_sort(t);
	assert_string_equal(t->v[t->n - 1].path, "zz/renamed");
	ut_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_tree_sort_and_replace),
		cmocka_unit_test(test_path_helpers),
		cmocka_unit_test(test_link_counts),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_escape_name),
		cmocka_unit_test(test_whiteout_names),
		cmocka_unit_test(test_tree_sort_arena),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
