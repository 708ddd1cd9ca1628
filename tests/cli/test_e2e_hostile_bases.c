/*
 * End-to-end: hostile bases, hostile output layouts and interrupted runs.
 * Each attack must end with exit 1 and one line on stderr naming the file
 * and the reason (never quoting a host file), no signal death, and no
 * output or temporary left behind; SIGINT/SIGTERM must remove this run's
 * temporaries and exit 130/143; after kill -9 the next run into the same
 * place must remove what the killed one left.
 */
#include "testutil.h"
#include "util.h"

static char *tmp, *bin, *disk, *base;

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY must be set (ctest sets it)");
	if (!tu_have("jq"))
		tu_skip("jq is needed to find blobs");
	disk = tu_fixture("debian-gpt.qcow2");
	base = tu_fixture("base-oci");
	tmp = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!getenv("VM2OCI_KEEP"))
		tu_sh("rm -rf %s", tmp);
	return 0;
}

/* A copy of the fixture base in tmp/name, hardlinking the big blobs. */
static void copy_base(const char *name)
{
	assert_int_equal(tu_sh("rm -rf %s/%s && mkdir %s/%s && cp -al '%s/.' %s/%s/", tmp, name, tmp, name, base,
			       tmp, name), 0);
}

/* Nothing named out* is left in tmp. */
static void assert_nothing_left(void)
{
	char *left = tu_sh_out("ls -A %s | grep '^out' || true", tmp);

	if (left[0])
		fail_msg("left behind: %s", left);
	free(left);
}

/* Runs convert on spec into tmp/out and checks the refusal. */
static void check_refused(const char *spec, const char *need1, const char *need2,
			  const char *forbidden)
{
	char *lines, *msg;
	int rc;

	rc = tu_sh("timeout 60 %s convert '%s' --base '%s' -o %s/out --tag t --quiet 2> %s/err.txt",
		   bin, disk, spec, tmp, tmp);
	lines = tu_sh_out("wc -l < %s/err.txt", tmp);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	print_message("exit %d: %s", rc, msg);
	assert_int_equal(rc, 1); /* an error: not a hang (124), not a signal */
	assert_int_equal(atoi(lines), 1);
	assert_non_null(strstr(msg, need1));
	assert_non_null(strstr(msg, need2));
	if (forbidden)
		assert_null(strstr(msg, forbidden));
	assert_nothing_left();
	free(lines);
	free(msg);
}

static char *first_layer(const char *layout)
{
	return tu_sh_out("m=$(jq -r '.manifests[0].digest' %s/index.json | cut -d: -f2) &&"
			 " jq -r '.layers[0].digest' %s/blobs/sha256/$m | cut -d: -f2 | tr -d '\\n'",
			 layout, layout);
}

static void test_hostile_bases(void **state)
{
	char *spec = ut_asprintf("oci:%s/b:minbase", tmp), *l = ut_asprintf("%s/b", tmp), *hex;

	(void)state;
	copy_base("b");
	hex = first_layer(l);
	assert_int_equal(tu_sh("cd %s && rm index.json && mkfifo index.json", l), 0);
	check_refused(spec, "index.json", "FIFO", NULL);
	assert_int_equal(tu_sh("cd %s && rm index.json && ln -s /etc/shadow index.json", l), 0);
	check_refused(spec, "index.json", "symbolic link", "root");
	copy_base("b");
	assert_int_equal(tu_sh("cd %s/blobs/sha256 && rm %s && mkfifo %s", l, hex, hex), 0);
	check_refused(spec, hex, "FIFO", NULL);
	assert_int_equal(tu_sh("cd %s/blobs/sha256 && rm %s && ln -s /dev/zero %s", l, hex, hex), 0);
	check_refused(spec, hex, "symbolic link", NULL);
	free(hex);
	free(spec);
	free(l);
}

/* Converting into an existing layout whose blobs/sha256 is a symlink. */
static void test_output_symlinked_blobs(void **state)
{
	char *msg;
	int rc;

	(void)state;
	assert_int_equal(tu_sh("%s convert '%s' -o %s/layout --tag a --compress gzip --quiet", bin,
			       disk, tmp), 0);
	assert_int_equal(tu_sh("cd %s && mkdir -p outside && mv layout/blobs/sha256 real &&"
			       " ln -s ../../outside layout/blobs/sha256", tmp), 0);
	rc = tu_sh("timeout 60 %s convert '%s' -o %s/layout --tag b --quiet 2> %s/err.txt", bin, disk,
		   tmp, tmp);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	print_message("exit %d: %s", rc, msg);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(msg, "blobs/sha256: is a symbolic link"));
	assert_int_equal(tu_sh("test -z \"$(ls -A %s/outside)\"", tmp), 0);
	assert_int_equal(tu_sh("rm -rf %s/layout %s/outside %s/real", tmp, tmp, tmp), 0);
	free(msg);
}

/* Starts a convert into tmp/OUT, waits until its temporary appears (glob),
 * sends sig, and returns the exit status. */
static int interrupt(const char *out, const char *extra, const char *glob, const char *sig)
{
	return tu_sh("cd %s && (%s convert '%s' -o %s --tag t --quiet %s 2> err.txt & pid=$!;"
		     " for i in $(seq 300); do ls -d %s >/dev/null 2>&1 && break; sleep 0.05; done;"
		     " sleep 0.3; kill -%s $pid; wait $pid)",
		     tmp, bin, disk, out, extra, glob, sig);
}

static void test_signals(void **state)
{
	int rc;

	(void)state;
	rc = interrupt("out", "", "out.tmp-*", "TERM");
	print_message("SIGTERM: exit %d\n", rc);
	assert_int_equal(rc, 143);
	assert_nothing_left();
	rc = interrupt("out", "", "out.tmp-*", "INT");
	print_message("SIGINT: exit %d\n", rc);
	assert_int_equal(rc, 130);
	assert_nothing_left();
	rc = interrupt("out", "--output-format docker-archive", "out.oci-*", "TERM");
	assert_int_equal(rc, 143);
	assert_nothing_left();
	/* Into an existing layout: its blobs' temporaries go, its index stays. */
	assert_int_equal(tu_sh("%s convert '%s' -o %s/layout --tag a --compress gzip --quiet", bin,
			       disk, tmp), 0);
	assert_int_equal(tu_sh("cp %s/layout/index.json %s/index.before", tmp, tmp), 0);
	rc = interrupt("layout", "--tag b", "layout/blobs/sha256/.tmp-*", "TERM");
	assert_int_equal(rc, 143);
	assert_int_equal(tu_sh("cmp %s/layout/index.json %s/index.before &&"
			       " ! ls -A %s/layout/blobs/sha256 | grep -q tmp", tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("rm -rf %s/layout %s/index.before", tmp, tmp), 0);
}

/* kill -9 leaves the old layout or none, plus temporaries the next run
 * into the same place removes. */
static void test_kill9_then_rerun(void **state)
{
	int rc;

	(void)state;
	rc = interrupt("out", "", "out.tmp-*", "KILL");
	assert_int_equal(rc, 137);
	assert_int_equal(tu_sh("ls -d %s/out.tmp-* >/dev/null 2>&1 && test ! -e %s/out", tmp, tmp), 0);
	assert_int_equal(tu_sh("%s convert '%s' -o %s/out --tag t --quiet", bin, disk, tmp), 0);
	assert_int_equal(tu_sh("! ls -d %s/out.tmp-* >/dev/null 2>&1 && test -f %s/out/index.json",
			       tmp, tmp), 0);
	/* Into the existing layout: a killed run leaves the old index whole. */
	assert_int_equal(tu_sh("cp %s/out/index.json %s/index.before", tmp, tmp), 0);
	rc = interrupt("out", "--tag u", "out/blobs/sha256/.tmp-*", "KILL");
	assert_int_equal(rc, 137);
	assert_int_equal(tu_sh("cmp %s/out/index.json %s/index.before", tmp, tmp), 0);
	assert_int_equal(tu_sh("%s convert '%s' -o %s/out --tag u --quiet", bin, disk, tmp), 0);
	assert_int_equal(tu_sh("! ls -A %s/out/blobs/sha256 | grep -q tmp", tmp), 0);
	assert_int_equal(tu_sh("rm -rf %s/out %s/index.before", tmp, tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_bases),
		cmocka_unit_test(test_output_symlinked_blobs),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_kill9_then_rerun),
	};

	return cmocka_run_group_tests_name("e2e_hostile_bases", tests, setup, teardown);
}
