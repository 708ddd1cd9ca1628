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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
