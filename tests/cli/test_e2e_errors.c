/*
 * End-to-end: bad disks. Every file in the fixtures' corrupt/ folder (and a
 * few made here) must give a one-line error on stderr naming the file, a
 * non-zero exit, no crash, and no output directory or temporary left behind.
 */
#include "testutil.h"

static char *tmp, *bin;

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY must be set (ctest sets it)");
	tmp = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_sh("rm -rf %s", tmp);
	return 0;
}

static void check_bad(const char *disk)
{
	const char *base = strrchr(disk, '/') ? strrchr(disk, '/') + 1 : disk;
	char *lines, *msg;
	int rc;

	rc = tu_sh("%s convert '%s' -o %s/out --quiet 2> %s/err.txt", bin, disk, tmp, tmp);
	lines = tu_sh_out("wc -l < %s/err.txt", tmp);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	print_message("%-28s exit %d: %s", base, rc, msg);
	assert_int_equal(rc, 1);           /* an error, not a crash (>= 128) */
	assert_int_equal(atoi(lines), 1);  /* on one line */
	assert_non_null(strstr(msg, "vm2oci: "));
	assert_non_null(strstr(msg, base)); /* naming the file */
	assert_int_equal(tu_sh("ls -A %s | grep -q '^out'", tmp), 1); /* nothing left */
	free(lines);
	free(msg);
}

static void test_fixture_corrupt_disks(void **state)
{
	char *dir = tu_fixture("corrupt"), *list;
	char *line, *save = NULL;
	int n = 0;

	(void)state;
	list = tu_sh_out("ls -1 %s", dir);
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char path[4096];

		if (!strcmp(line, "README") || strstr(line, ".md"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		check_bad(path);
		n++;
	}
	assert_true(n >= 5);
	free(list);
	free(dir);
}

static void test_made_here(void **state)
{
	char p[4096];

	(void)state;
	/* Not a disk at all, an empty file, a missing file, a directory. */
	snprintf(p, sizeof(p), "%s/text.img", tmp);
	assert_int_equal(tu_sh("echo 'just some text' > %s", p), 0);
	check_bad(p);
	snprintf(p, sizeof(p), "%s/empty.img", tmp);
	assert_int_equal(tu_sh(": > %s", p), 0);
	check_bad(p);
	snprintf(p, sizeof(p), "%s/missing.qcow2", tmp);
	check_bad(p);
	/* A qcow2 whose virtual size is absurd and whose L1 is beyond the end. */
	snprintf(p, sizeof(p), "%s/absurd.qcow2", tmp);
	assert_int_equal(tu_sh("qemu-img create -q -f qcow2 %s 64M && "
			       "printf '\\x7f\\xff\\xff\\xff\\xff\\xff\\xff\\xff' | "
			       "dd of=%s bs=1 seek=24 conv=notrunc status=none", p, p), 0);
	check_bad(p);
	/* An ext4 filesystem holding no operating system. */
	snprintf(p, sizeof(p), "%s/noos.raw", tmp);
	assert_int_equal(tu_sh("mkdir -p %s/noos && echo hi > %s/noos/file && "
			       "mke2fs -q -t ext4 -d %s/noos %s 16M", tmp, tmp, tmp, p), 0);
	check_bad(p);
}

/* The module says what went wrong, the caller adds the file once: an ext4
 * symlink whose size is absurd (set with debugfs) names the disk once, then
 * the guest path. Numbers out of range are usage errors (exit 2). */
static void test_file_named_once(void **state)
{
	char p[4096], *n, *msg;

	(void)state;
	if (!tu_have("debugfs") || !tu_have("mke2fs"))
		skip();
	snprintf(p, sizeof(p), "%s/badlink.img", tmp);
	assert_int_equal(tu_sh("mkdir -p %s/lnk/etc %s/lnk/usr && echo ID=x > %s/lnk/etc/os-release && "
			       "ln -s /etc/os-release %s/lnk/link && "
			       "mke2fs -q -F -t ext4 -d %s/lnk %s 16M && "
			       "debugfs -w -R 'sif /link size 100000' %s 2>/dev/null",
			       tmp, tmp, tmp, tmp, tmp, p, p), 0);
	check_bad(p);
	n = tu_sh_out("grep -o badlink.img %s/err.txt | wc -l", tmp);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	assert_int_equal(atoi(n), 1);
	assert_non_null(strstr(msg, "badlink.img: /link: ext4: "));
	free(n);
	free(msg);
	assert_int_equal(tu_sh("%s convert %s -o %s/x --level 0 2>/dev/null", bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x --level 5x 2>/dev/null", bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x -c gzip --level 12 2>/dev/null", bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x --gzip-fast 2>/dev/null", bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x -c gzip --gzip-fast --level 4 2>/dev/null",
			       bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x --threads -1 2>/dev/null", bin, p, tmp), 2);
	assert_int_equal(tu_sh("%s verify oci:%s/x %s --max many 2>/dev/null", bin, tmp, p), 2);
	assert_int_equal(tu_sh("ls -A %s | grep -q '^x'", tmp), 1);
}

/* Disks in formats no backend reads, and broken ones of the formats that
 * are read: the format is named, never read as raw bytes. */
static void test_formats_named(void **state)
{
	static const struct {
		const char *file, *make, *reason;
	} cases[] = {
		{ "p.hdd", "qemu-img create -q -f parallels %s 8M", "Parallels format is not supported" },
		{ "e.vmdk", "printf 'COWD\\001\\000\\000\\000' > %s && truncate -s 1M %s",
		  "VMware ESX/cow (COWD) format is not supported" },
		{ "t.vhdx", "qemu-img create -q -f vhdx %s 64M && truncate -s 100000 %s",
		  "truncated VHDX" },
		{ "t.vhd", "qemu-img create -q -f vpc %s 64M && "
			   "printf xxsparse | dd of=%s bs=1 seek=512 conv=notrunc status=none",
		  "no cxsparse cookie" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[4096], cmd[8192];

		snprintf(p, sizeof(p), "%s/%s", tmp, cases[i].file);
		snprintf(cmd, sizeof(cmd), cases[i].make, p, p);
		assert_int_equal(tu_sh("%s", cmd), 0);
		check_bad(p);
		assert_int_equal(tu_sh("grep -qF '%s' %s/err.txt", cases[i].reason, tmp), 0);
	}
}

static void test_output_not_clobbered(void **state)
{
	char *disk = tu_fixture_path("debian-gpt.qcow2");

	(void)state;
	if (!disk)
		tu_skip_case("fixture debian-gpt.qcow2 missing");
	/* An output path that exists and is not an OCI layout is refused. */
	tu_sh("mkdir -p %s/notoci && echo keep > %s/notoci/file", tmp, tmp);
	assert_int_equal(tu_sh("%s convert %s -o %s/notoci --quiet 2>/dev/null", bin, disk, tmp), 1);
	assert_int_equal(tu_sh("grep -qx keep %s/notoci/file", tmp), 0);
	/* Usage errors exit 2. */
	assert_int_equal(tu_sh("%s convert %s 2>/dev/null", bin, disk), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/x --compress lz4 2>/dev/null", bin, disk, tmp), 2);
	assert_int_equal(tu_sh("%s frobnicate 2>/dev/null", bin), 2);
	free(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_here),
		cmocka_unit_test(test_fixture_corrupt_disks),
		cmocka_unit_test(test_formats_named),
		cmocka_unit_test(test_output_not_clobbered),
		cmocka_unit_test(test_file_named_once),
	};
	return cmocka_run_group_tests_name("e2e: bad inputs and usage errors", tests, setup, teardown);

}
