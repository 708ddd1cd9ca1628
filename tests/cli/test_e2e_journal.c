/*
 * End-to-end: disks whose journal (ext4, ext3) or log (xfs) needs recovery,
 * made by fixtures/make-dirty.sh (a mounted filesystem copied after fsyncs).
 * Each converts to an image whose tree - unpacked by umoci, listed by
 * tree_listing - equals the kernel's own replay (NAME.replayed.raw mounted by
 * guest-mount.sh), and verify passes. With --no-replay the image holds the
 * stale state: it differs from the oracle, and verify against the (replayed)
 * disk fails, so verify can tell the two apart.
 *
 * Built twice: test_e2e_journal (the ext fixtures) and, with JOURNAL_XFS,
 * test_e2e_journal_xfs (slow: libguestfs appliances under TCG).
 */
#include "testutil.h"
#include "util.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *lister;

static int setup(void **state)
{
	(void)state;
	tu_e2e_init(&e2e, TU_E2E_LISTER | TU_E2E_UMOCI);
	tmp = e2e.tmp;
	bin = e2e.bin;
	lister = e2e.lister;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

/* Converts disk (with extra options) into tmp/name and lists umoci's unpack
 * of it into tmp/name.listing; the warnings go to tmp/name.err (no --quiet:
 * it silences them; progress shows only on a terminal). */
static void convert_and_list(const char *disk, const char *name, const char *extra)
{
	assert_int_equal(tu_sh("%s convert %s %s --base scratch --compress gzip -o %s/%s --tag t "
			       "2> %s/%s.err; rc=$?; cat %s/%s.err >&2; exit $rc",
			       bin, disk, extra, tmp, name, tmp, name, tmp, name),
			 0);
	assert_int_equal(tu_sh("umoci unpack --image %s/%s:t %s/%s.bundle >/dev/null", tmp, name,
			       tmp, name),
			 0);
	assert_int_equal(tu_sh("%s %s/%s.bundle/rootfs > %s/%s.listing", lister, tmp, name, tmp,
			       name),
			 0);
}

static void test_dirty(void **state)
{
	const char *name = *state;
	char *raw = ut_asprintf("%s.raw", name), *rep = ut_asprintf("%s.replayed.raw", name);
	char *disk = tu_fixture(raw), *oracle = tu_fixture(rep), *stale = ut_asprintf("%s-stale", name);
	char *oracle_listing = ut_asprintf("%s/%s.oracle", tmp, name);
	char layout[4096], expected[4096], oracle_l[4096];

	/* The oracle: the kernel's replay, mounted read-only. */
	assert_int_equal(tu_e2e_listing(&e2e, oracle, oracle_listing), 0);
	free(oracle_listing);

	convert_and_list(disk, name, "");
	assert_int_equal(tu_sh("grep -q 'needed recovery' %s/%s.err", tmp, name), 0);
	/* The kernel's replay less what the image's exclude rules leave out. */
	snprintf(layout, sizeof(layout), "%s/%s", tmp, name);
	snprintf(expected, sizeof(expected), "%s/%s.expected", tmp, name);
	snprintf(oracle_l, sizeof(oracle_l), "%s/%s.oracle", tmp, name);
	assert_int_equal(tu_expected_listing(tmp, oracle_l, layout, "t", expected), 0);
	assert_int_equal(tu_sh("diff -u %s %s/%s.listing >&2", expected, tmp, name), 0);
	assert_int_equal(tu_sh("test $(wc -l < %s/%s.oracle) -gt 30", tmp, name), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/%s:t %s", bin, tmp, name, disk), 0);

	/* --no-replay: the stale state, which is not what the disk holds. */
	convert_and_list(disk, stale, "--no-replay");
	assert_int_equal(tu_sh("grep -q 'not replayed' %s/%s.err", tmp, stale), 0);
	assert_int_equal(tu_sh("test $(diff %s/%s.oracle %s/%s.listing | grep -c '^[<>]') -ge 20",
			       tmp, name, tmp, stale),
			 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/%s:t %s > %s/%s.verify", bin, tmp, stale,
			       disk, tmp, stale),
			 1);
	assert_int_equal(tu_sh("%s verify --quiet --no-replay oci:%s/%s:t %s", bin, tmp, stale,
			       disk),
			 0);
	free(raw);
	free(rep);
	free(disk);
	free(oracle);
	free(stale);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef JOURNAL_XFS
		cmocka_unit_test_prestate(test_dirty, "dirty-xfs"),
#else
		cmocka_unit_test_prestate(test_dirty, "dirty-ext4"),
		cmocka_unit_test_prestate(test_dirty, "dirty-ext4-1k"),
		cmocka_unit_test_prestate(test_dirty, "dirty-ext3"),
#endif
	};

#ifdef JOURNAL_XFS
	return cmocka_run_group_tests_name("e2e: a dirty xfs log replayed", tests, setup, teardown);
#else
	return cmocka_run_group_tests_name("e2e: dirty ext3/4 journals replayed", tests, setup,
					  teardown);
#endif
}
