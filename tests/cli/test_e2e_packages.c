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

/*
 * Name for name and version for version, as dpkg itself lists them: the
 * bare ${Package} in "name" (no ":arch" anywhere, in JSON or text), and
 * ${binary:Package} in "qualified_name" where the two differ.
 */
static void test_list_equals_dpkg_query(void **state)
{
	char *raw = tu_fixture("debian-gpt.raw"), *qcow = tu_fixture("debian-gpt.qcow2"), *n;

	(void)state;
	assert_int_equal(tu_sh("%s mount %s %s/mnt", helper, raw, tmp), 0);
	assert_int_equal(tu_sh("dpkg-query --admindir=%s/mnt/var/lib/dpkg -W "
			       "-f '${Package}\\t${Version}\\t${Architecture}\\n' | sort > %s/dpkg.txt && "
			       "dpkg-query --admindir=%s/mnt/var/lib/dpkg -W "
			       "-f '${Package}\\t${binary:Package}\\n' | awk '$1 != $2' | sort > %s/dpkgq.txt",
			       tmp, tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s umount %s/mnt", helper, tmp), 0);
	assert_int_equal(tu_sh("%s packages %s --json > %s/ours.json", bin, qcow, tmp), 0);
	assert_int_equal(tu_sh("jq -r '.packages[] | \"\\(.name)\\t\\(.version)\\t\\(.arch)\"' %s/ours.json | "
			       "sort > %s/ours.txt", tmp, tmp), 0);
	assert_int_equal(tu_sh("diff -u %s/dpkg.txt %s/ours.txt", tmp, tmp), 0);
	assert_int_equal(tu_sh("jq -r '.packages[] | select(.qualified_name) | "
			       "\"\\(.name)\\t\\(.qualified_name)\"' %s/ours.json | sort > %s/oursq.txt && "
			       "diff -u %s/dpkgq.txt %s/oursq.txt", tmp, tmp, tmp, tmp), 0);
	/* The Multi-Arch: same libraries are there, and bare. */
	assert_int_equal(tu_sh("test -s %s/oursq.txt && ! cut -f1 %s/ours.txt | grep -q :", tmp, tmp), 0);
	/* The text listing is the same three columns. */
	assert_int_equal(tu_sh("%s packages %s | sort | diff -u %s/dpkg.txt -", bin, qcow, tmp), 0);
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
	/* The image itself is whole: its diff was taken above the packages, so
	 * it carries the packages layer (it once lacked every package file). */
	assert_int_equal(tu_sh("%s verify oci:%s/dfimg:latest %s >/dev/null", bin, tmp, gpt), 0);
	free(gpt);
}

#define GO_RPMDB "/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata"

/* A whole-disk ext4 holding the CentOS rpmdb NAME as var/lib/rpm/Packages. */
static void rpm_disk(const char *name)
{
	assert_int_equal(tu_sh("R=%s/%s; mkdir -p $R/var/lib/rpm $R/etc $R/usr/bin $R/usr/sbin && "
			       "ln -sfn usr/bin $R/bin && ln -sfn usr/sbin $R/sbin && "
			       "cp %s/%s/Packages $R/var/lib/rpm/ && "
			       "printf 'NAME=\"CentOS Linux\"\\nID=centos\\n' > $R/etc/os-release && "
			       "echo '/dev/vda1 / ext4 defaults 0 1' > $R/etc/fstab && "
			       "echo root:x:0:0::/root:/bin/sh > $R/etc/passwd && "
			       "truncate -s 64M $R.raw && mkfs.ext4 -q -F -d $R $R.raw",
			       tmp, name, GO_RPMDB, name), 0);
}

/*
 * rpm's gpg-pubkey keys are listed as rpm -qa lists them, marked as keys;
 * against a base another key is added/removed, never "upgraded"; the
 * Dockerfile installs no key.
 */
static void test_rpm_keys(void **state)
{
	static const char *const dbs[] = { "centos7-httpd24", "centos8-modularitylabel" };
	size_t k;

	(void)state;
	if (!tu_have("rpm") || !tu_have("mkfs.ext4") ||
	    access(GO_RPMDB "/centos7-httpd24/Packages", R_OK))
		skip();
	for (k = 0; k < 2; k++) {
		rpm_disk(dbs[k]);
		assert_int_equal(tu_sh("rpm --dbpath %s/%s --define '_db_backend bdb_ro' -qa "
				       "--qf '%%{NAME}\\t%%{VERSION}-%%{RELEASE}\\t%%{ARCH}\\n' 2>/dev/null | "
				       "sed 's/(none)$//' | sort > %s/%s.rpm", GO_RPMDB, dbs[k], tmp, dbs[k]), 0);
		assert_int_equal(tu_sh("%s packages %s/%s.raw --json > %s/%s.json && jq -r '.packages[] | "
				       "\"\\(.name)\\t\\(.version)\\t\\(.arch)\"' %s/%s.json | sort | "
				       "diff -u %s/%s.rpm -", bin, tmp, dbs[k], tmp, dbs[k], tmp, dbs[k], tmp,
				       dbs[k]), 0);
		/* Every gpg-pubkey, and only those, is a key. */
		assert_int_equal(tu_sh("jq -e '[.packages[] | select(.name == \"gpg-pubkey\")] as $g | "
				       "($g | length) > 0 and ($g | all(.kind == \"gpg-pubkey\")) and "
				       "([.packages[] | select(.kind)] | length) == ($g | length)' %s/%s.json "
				       ">/dev/null", tmp, dbs[k]), 0);
	}
	assert_int_equal(tu_sh("%s packages %s/%s.raw --base rootfs:%s/%s --json | jq -e "
			       "'[.changes[] | select(.kind == \"gpg-pubkey\") | .change] | "
			       "(map(select(. == \"added\")) | length) == 3 and "
			       "(map(select(. == \"removed\")) | length) == 1 and length == 4' >/dev/null",
			       bin, tmp, dbs[0], tmp, dbs[1]), 0);
	assert_int_equal(tu_sh("mkdir -p %s/rpmdf && %s convert %s/%s.raw --base rootfs:%s/%s "
			       "--dockerfile %s/rpmdf/Dockerfile -o %s/rpmimg --quiet", tmp, bin, tmp,
			       dbs[0], tmp, dbs[1], tmp, tmp), 0);
	assert_int_equal(tu_sh("grep -q '^RUN (command -v dnf .* httpd24-' %s/rpmdf/Dockerfile && "
			       "! grep -q gpg-pubkey %s/rpmdf/Dockerfile", tmp, tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_equals_dpkg_query),
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_packages_layer),
		cmocka_unit_test(test_dockerfile),
		cmocka_unit_test(test_rpm_keys),
	};
	return cmocka_run_group_tests_name("e2e: packages against dpkg-query", tests, setup, teardown);

}
