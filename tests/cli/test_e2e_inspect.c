/*
 * End-to-end (slow: one libguestfs appliance, minutes under TCG): vm2oci
 * inspect and packages agree with virt-inspector, libguestfs' own
 * inspection of the same disk, on the OS, hostname, architecture, package
 * format, mount points and the installed applications.
 */
#include "testutil.h"

static char *tmp, *bin, *disk;

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY must be set (ctest sets it)");
	if (!tu_have("virt-inspector") || !tu_have("xmllint"))
		tu_skip("virt-inspector or xmllint missing (scripts/install-deps.sh --peers)");
	disk = tu_fixture("debian-gpt.qcow2");
	tmp = tu_tmpdir();
	if (tu_sh("LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg} "
		  "virt-inspector --format=qcow2 -a %s > %s/vi.xml 2> %s/vi.err", disk, tmp, tmp)) {
		char *e = tu_sh_out("tail -3 %s/vi.err", tmp);

		fprintf(stderr, "virt-inspector failed: %s\n", e);
		tu_skip("virt-inspector could not run here (no usable libguestfs appliance)");
	}
	assert_int_equal(tu_sh("%s inspect --json %s > %s/ours.json", bin, disk, tmp), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (tmp)
		tu_sh("rm -rf %s", tmp);
	return 0;
}

/* virt-inspector's value at an XPath against jq's reading of ours. */
static void agree(const char *xpath, const char *jq, const char *map)
{
	char *theirs = tu_sh_out("xmllint --xpath 'string(%s)' %s/vi.xml %s", xpath, tmp, map);
	char *ours = tu_sh_out("jq -r '%s' %s/ours.json", jq, tmp);

	theirs[strcspn(theirs, "\n")] = '\0';
	ours[strcspn(ours, "\n")] = '\0';
	print_message("%-40s virt-inspector %-16s vm2oci %s\n", xpath, theirs, ours);
	assert_true(theirs[0] != '\0');
	assert_string_equal(theirs, ours);
	free(theirs);
	free(ours);
}

static void test_os_identity(void **state)
{
	(void)state;
	agree("/operatingsystems/operatingsystem/distro", ".os.distro", "");
	agree("/operatingsystems/operatingsystem/hostname", ".os.hostname", "");
	agree("/operatingsystems/operatingsystem/package_format", ".os.package_format", "");
	agree("/operatingsystems/operatingsystem/major_version", ".os.version | split(\".\")[0]", "");
	/* libguestfs says x86_64 where OCI says amd64. */
	agree("/operatingsystems/operatingsystem/arch", ".os.arch", "| sed 's/x86_64/amd64/'");
}

static void test_mountpoints(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("xmllint --xpath '//mountpoint/text()' %s/vi.xml | sort > %s/vi.mp; "
			       "jq -r '.mounts[].mountpoint' %s/ours.json | sort > %s/ours.mp; "
			       "diff -u %s/vi.mp %s/ours.mp", tmp, tmp, tmp, tmp, tmp, tmp), 0);
}

static void test_applications(void **state)
{
	char *n;

	(void)state;
	assert_int_equal(tu_sh("xmllint --xpath '//application/name/text()' %s/vi.xml | sort > %s/vi.apps; "
			       "%s packages --json %s | jq -r '.packages[].name | sub(\":.*\"; \"\")' "
			       "| sort > %s/ours.apps; diff -u %s/vi.apps %s/ours.apps",
			       tmp, tmp, bin, disk, tmp, tmp, tmp), 0);
	n = tu_sh_out("wc -l < %s/ours.apps", tmp);
	print_message("%d applications, the same names as virt-inspector\n", atoi(n));
	assert_true(atoi(n) > 50);
	free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_os_identity),
		cmocka_unit_test(test_mountpoints),
		cmocka_unit_test(test_applications),
	};
	return cmocka_run_group_tests_name("e2e: inspect against virt-inspector", tests, setup, teardown);

}
