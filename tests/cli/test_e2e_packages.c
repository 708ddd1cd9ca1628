/*
 * End-to-end: packages read from the disk, checked against dpkg-query on a
 * loop mount of the same disk; the packages layer is exact (verify), makes
 * the diff layer smaller, and is shared by digest between two VMs with the
 * same package set; --dockerfile writes a usable rebuild recipe.
 */
#include "testutil.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *helper;

static int setup(void **state)
{
	(void)state;
	if (!tu_have("dpkg-query") || !tu_have("jq"))
		tu_skip("dpkg-query and jq are needed");
	tu_e2e_init(&e2e, 0);
	tmp = e2e.tmp;
	bin = e2e.bin;
	helper = e2e.helper;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

/* Name for name and version for version, as dpkg itself lists them. */
static void test_list_equals_dpkg_query(void **state)
{
	char *raw = tu_fixture("debian-gpt.raw"), *qcow = tu_fixture("debian-gpt.qcow2"), *n;

	(void)state;
	assert_int_equal(tu_sh("%s mount %s %s/mnt", helper, raw, tmp), 0);
	assert_int_equal(tu_sh("dpkg-query --admindir=%s/mnt/var/lib/dpkg -W "
			       "-f '${binary:Package} ${Version} ${Architecture}\\n' | sort > %s/dpkg.txt",
			       tmp, tmp), 0);
	assert_int_equal(tu_sh("%s umount %s/mnt", helper, tmp), 0);
	assert_int_equal(tu_sh("%s packages %s --json | jq -r '.packages[] | \"\\(.name) \\(.version) "
			       "\\(.arch)\"' | sort > %s/ours.txt", bin, qcow, tmp), 0);
	assert_int_equal(tu_sh("diff -u %s/dpkg.txt %s/ours.txt", tmp, tmp), 0);
	n = tu_sh_out("wc -l < %s/ours.txt", tmp);
	print_message("%d packages, identical to dpkg-query\n", atoi(n));
	assert_true(atoi(n) > 50);
	free(n);
	free(raw);
	free(qcow);
}

static void test_roots(void **state)
{
	char *qcow = tu_fixture("debian-gpt.qcow2");

	(void)state;
	assert_int_equal(tu_sh("%s packages %s --roots --json > %s/roots.json", bin, qcow, tmp), 0);
	/* Fewer roots than packages, libc6 is no root (everything needs it),
	 * and Debian's libc6 <-> libgcc-s1 cycle is found. */
	assert_int_equal(tu_sh("jq -e '(.roots | length) < (.packages | length) and "
			       "(.roots | index(\"libc6\") == null) and "
			       "([.cycles[] | select(index(\"libc6\") != null)] | length == 1)' "
			       "%s/roots.json >/dev/null", tmp), 0);
	free(qcow);
}

static char *layer_digest(const char *json_file, const char *role)
{
	char *d = tu_sh_out("jq -r '.layers[] | select(.role == \"%s\") | .digest' %s", role, json_file);

	d[strcspn(d, "\n")] = '\0';
	return d;
}

static void test_packages_layer(void **state)
{
	char *gpt = tu_fixture("debian-gpt.qcow2"), *mbr = tu_fixture("debian-mbr.raw");
	char path[4096], *p1, *p2, *sizes;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s --packages-layer -o %s/pl --tag gpt --json --quiet "
			       "--compress gzip > %s/gpt.json", bin, gpt, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/pl:gpt %s", bin, tmp, gpt), 0);
	/* The diff is strictly smaller with the packages layer under it. */
	sizes = tu_sh_out("jq -r '.packages.diff_content_bytes | \"\\(.with_packages_layer) "
			  "\\(.without_packages_layer)\"' %s/gpt.json", tmp);
	print_message("diff content bytes with / without packages layer: %s", sizes);
	assert_int_equal(tu_sh("jq -e '.packages.diff_content_bytes.with_packages_layer < "
			       ".packages.diff_content_bytes.without_packages_layer' %s/gpt.json "
			       ">/dev/null", tmp), 0);
	free(sizes);
	/* Another VM with the same packages: the same packages layer, by digest,
	 * stored once in the shared layout. */
	assert_int_equal(tu_sh("%s convert %s --packages-layer -o %s/pl --tag mbr --json --quiet "
			       "--compress gzip > %s/mbr.json", bin, mbr, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/pl:mbr %s", bin, tmp, mbr), 0);
	snprintf(path, sizeof(path), "%s/gpt.json", tmp);
	p1 = layer_digest(path, "packages");
	snprintf(path, sizeof(path), "%s/mbr.json", tmp);
	p2 = layer_digest(path, "packages");
	assert_true(strlen(p1) == 71);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);
	if (tu_have("umoci")) {
		assert_int_equal(tu_sh("umoci unpack --image %s/pl:gpt %s/bundle >/dev/null", tmp, tmp), 0);
		assert_int_equal(tu_sh("test \"$(cat %s/bundle/rootfs/etc/hostname)\" = vm2oci-sample", tmp), 0);
	}
	free(gpt);
	free(mbr);
}

static void test_dockerfile(void **state)
{
	char *gpt = tu_fixture("debian-gpt.qcow2");

	(void)state;
	tu_sh("mkdir -p %s/df", tmp);
	assert_int_equal(tu_sh("%s convert %s --dockerfile %s/df/Dockerfile -o %s/dfimg --quiet", bin,
			       gpt, tmp, tmp), 0);
	assert_int_equal(tu_sh("grep -q '^FROM ${BASE_IMAGE}$' %s/df/Dockerfile", tmp), 0);
	assert_int_equal(tu_sh("grep -q '^RUN apt-get update .* openssh-server=' %s/df/Dockerfile", tmp), 0);
	assert_int_equal(tu_sh("grep -q '^ADD vm2oci-diff.tar /$' %s/df/Dockerfile", tmp), 0);
	/* The tar holds no whiteouts, and holds the VM's own files. */
	assert_int_equal(tu_sh("tar -tf %s/df/vm2oci-diff.tar > %s/df/list && ! grep -q '\\.wh\\.' "
			       "%s/df/list && grep -qx etc/hostname %s/df/list", tmp, tmp, tmp, tmp), 0);
	free(gpt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_equals_dpkg_query),
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_packages_layer),
		cmocka_unit_test(test_dockerfile),
	};
	return cmocka_run_group_tests_name("e2e: packages against dpkg-query", tests, setup, teardown);

}
