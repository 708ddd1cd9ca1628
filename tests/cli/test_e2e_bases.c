/*
 * End-to-end: converting a VM on bases made by other tools (see
 * fixtures/make-bases.sh): a Debian minbase root packed by umoci as an OCI
 * layout, the same with a second layer that deletes what the VM has, a
 * docker-archive written by skopeo, and the root as a tar and as a folder.
 * For each: verify passes; umoci's unpack of the result equals the kernel's
 * loop mount of the disk; the base's blobs are reused by digest.
 */
#include "testutil.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *lister, *listing, *disk, *fx;

static int setup(void **state)
{
	char *raw;

	(void)state;
	fx = getenv("VM2OCI_FIXTURES");
	/* umoci's unpack of each result is compared with the kernel's view. */
	tu_e2e_init(&e2e, TU_E2E_LISTER | TU_E2E_UMOCI);
	tmp = e2e.tmp;
	bin = e2e.bin;
	lister = e2e.lister;
	free(tu_fixture("base-oci"));
	raw = tu_fixture("debian-gpt.raw");
	disk = tu_fixture("debian-gpt.qcow2");
	listing = malloc(4096);
	snprintf(listing, 4096, "%s/disk.listing", tmp);
	assert_int_equal(tu_e2e_listing(&e2e, raw, listing), 0);
	free(raw);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

/* The base unpacked by peers (umoci, skopeo, tar), listed into
 * tmp/base-NAME.listing once: where the exclude rules take a path, the
 * image keeps the base's own entry. */
static const char *base_listing(const char *name, const char *unpack)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/base-%s.listing", tmp, name);
	if (access(path, F_OK) != 0) {
		assert_int_equal(tu_sh("cd %s && rm -rf b.bundle b.oci && %s", tmp, unpack), 0);
		assert_int_equal(tu_sh("%s %s/b.bundle/rootfs > %s && rm -rf %s/b.bundle %s/b.oci",
				       lister, tmp, path, tmp, tmp), 0);
	}
	return path;
}

static const char *oci_base_listing(const char *tag)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "cp -r %s/base-oci b.oci && umoci unpack --image b.oci:%s b.bundle >/dev/null",
		 fx, tag);
	return base_listing(tag, cmd);
}

static void convert_on(const char *base, const char *name, const char *extra,
		       const char *blisting)
{
	char layout[4096], expected[4096];

	assert_int_equal(tu_sh("%s convert %s --base '%s' -o %s/%s --tag t --compress gzip --quiet "
			       "--json %s > %s/%s.json", bin, disk, base, tmp, name, extra, tmp, name), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/%s:t %s", bin, tmp, name, disk), 0);
	tu_sh("rm -rf %s/bundle", tmp);
	assert_int_equal(tu_sh("umoci unpack --image %s/%s:t %s/bundle >/dev/null", tmp, name, tmp), 0);
	assert_int_equal(tu_sh("%s %s/bundle/rootfs > %s/%s.listing", lister, tmp, tmp, name), 0);
	/* The disk less what the image's exclude rules leave out, plus the
	 * base's own entries there (rsync's judgement, tu_expected_listing). */
	snprintf(layout, sizeof(layout), "%s/%s", tmp, name);
	snprintf(expected, sizeof(expected), "%s/%s.expected", tmp, name);
	assert_int_equal(tu_expected_listing_on_base(tmp, listing, blisting, layout, "t", expected),
			 0);
	assert_int_equal(tu_sh("diff -u %s %s/%s.listing > %s/%s.diff", expected, tmp, name, tmp,
			       name), 0);
}

/* Every layer of the base's manifest is in the result, in order, by digest. */
static void base_layers_reused(const char *base_layout, const char *tag, const char *name)
{
	assert_int_equal(tu_sh("a=$(jq -r --arg t %s '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == $t) | .digest' %s/index.json | cut -d: -f2); "
			       "b=$(jq -r '.manifests[0].digest' %s/%s/index.json | cut -d: -f2); "
			       "n=$(jq '.layers | length' %s/blobs/sha256/$a); "
			       "test \"$(jq -c '.layers | map(.digest)' %s/blobs/sha256/$a)\" = "
			       "\"$(jq -c \".layers[:$n] | map(.digest)\" %s/%s/blobs/sha256/$b)\"",
			       tag, base_layout, tmp, name, base_layout, base_layout, tmp, name), 0);
}

static void test_umoci_base(void **state)
{
	char base[8192], layout[4096];

	(void)state;
	snprintf(layout, sizeof(layout), "%s/base-oci", fx);
	snprintf(base, sizeof(base), "oci:%s:minbase", layout);
	convert_on(base, "on-umoci", "", oci_base_listing("minbase"));
	base_layers_reused(layout, "minbase", "on-umoci");
	/* The diff holds the VM's extra packages, not the whole system. */
	assert_int_equal(tu_sh("jq -e '.diff.deleted < 100 and .layers[-1].size < .layers[0].size' "
			       "%s/on-umoci.json >/dev/null", tmp), 0);
}

static void test_base_that_deletes(void **state)
{
	char base[8192], layout[4096];

	(void)state;
	snprintf(layout, sizeof(layout), "%s/base-oci", fx);
	snprintf(base, sizeof(base), "oci:%s:minbase-deleting", layout);
	convert_on(base, "on-deleting", "", oci_base_listing("minbase-deleting"));
	base_layers_reused(layout, "minbase-deleting", "on-deleting");
	/* What the base's own top layer deleted, the VM's diff brings back. */
	assert_int_equal(tu_sh("%s diff '%s' %s --list --no-layer-sizes --quiet | "
			       "grep -q '^added *\\(/usr/share/doc/bash\\|/etc/motd\\)'", bin, base, disk), 0);
}

static void test_docker_archive_base(void **state)
{
	char base[4096], cmd[8192];

	(void)state;
	snprintf(base, sizeof(base), "docker-archive:%s/base-docker.tar", fx);
	if (!tu_have("skopeo"))
		tu_skip_case("skopeo is not installed (scripts/install-deps.sh --peers)");
	snprintf(cmd, sizeof(cmd), "skopeo copy -q docker-archive:%s/base-docker.tar oci:b.oci:t >/dev/null && "
		 "umoci unpack --image b.oci:t b.bundle >/dev/null", fx);
	convert_on(base, "on-docker", "", base_listing("docker", cmd));
}

static void test_rootfs_bases(void **state)
{
	char base[4096], cmd[8192], *dir;

	(void)state;
	snprintf(base, sizeof(base), "rootfs:%s/base-rootfs.tar", fx);
	snprintf(cmd, sizeof(cmd), "mkdir -p b.bundle/rootfs && tar --xattrs --xattrs-include='*' "
		 "--numeric-owner -xpf %s/base-rootfs.tar -C b.bundle/rootfs", fx);
	convert_on(base, "on-rootfs-tar", "", base_listing("rootfs-tar", cmd));
	dir = tu_sh_out("cat %s/base-rootfs.path", fx);
	dir[strcspn(dir, "\n")] = '\0';
	snprintf(base, sizeof(base), "rootfs:%s", dir);
	snprintf(cmd, sizeof(cmd), "mkdir b.bundle && ln -s %s b.bundle/rootfs", dir);
	convert_on(base, "on-rootfs-dir", "", base_listing("rootfs-dir", cmd));
	/* One root, two routes: as many entries in the base layer either way
	 * (the tar keeps whole-second mtimes, the folder nanoseconds, so the
	 * digests differ). */
	assert_int_equal(tu_sh("test \"$(jq -r '.layers[0].entries' %s/on-rootfs-tar.json)\" = "
			       "\"$(jq -r '.layers[0].entries' %s/on-rootfs-dir.json)\"", tmp, tmp), 0);
	free(dir);
}

static void test_packages_layer_on_base(void **state)
{
	char base[4096];

	(void)state;
	snprintf(base, sizeof(base), "oci:%s/base-oci:minbase", fx);
	convert_on(base, "on-umoci-pkgs", "--packages-layer", oci_base_listing("minbase"));
	/* openssh-server and friends are beyond the minbase; their files go in
	 * the packages layer and the diff shrinks. */
	assert_int_equal(tu_sh("jq -e '.packages.beyond_base > 5 and .packages.beyond_base < .packages.in_vm "
			       "and .packages.diff_content_bytes.with_packages_layer < "
			       ".packages.diff_content_bytes.without_packages_layer' %s/on-umoci-pkgs.json "
			       ">/dev/null", tmp), 0);
	assert_int_equal(tu_sh("%s packages %s --base '%s' --json | jq -e '[.changes[] | "
			       "select(.name == \"openssh-server\" and .change == \"added\")] | length == 1' "
			       ">/dev/null", bin, disk, base), 0);
}

static void test_podman_runs_layered(void **state)
{
	char *out;

	(void)state;
	if (!tu_have("podman")) {
		skip();
		return;
	}
	tu_sh("rm -f /tmp/vm2oci-e2e-bases && ln -s %s/on-umoci /tmp/vm2oci-e2e-bases", tmp);
	out = tu_sh_out("podman --runtime runc --cgroup-manager=cgroupfs run --rm "
			"--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 "
			"oci:/tmp/vm2oci-e2e-bases:t sh -c 'test -x /usr/sbin/sshd && "
			"dpkg-query -W -f=\"\\${Status}\" openssh-server' 2>/dev/null");
	print_message("podman: %s\n", out);
	assert_string_equal(out, "install ok installed");
	free(out);
	tu_sh("podman rmi -f localhost/tmp/vm2oci-e2e-bases:t >/dev/null 2>&1; rm -f /tmp/vm2oci-e2e-bases");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_umoci_base),
		cmocka_unit_test(test_base_that_deletes),
		cmocka_unit_test(test_docker_archive_base),
		cmocka_unit_test(test_rootfs_bases),
		cmocka_unit_test(test_packages_layer_on_base),
		cmocka_unit_test(test_podman_runs_layered),
	};
	return cmocka_run_group_tests_name("e2e: convert on oci, docker-archive and rootfs bases",
					  tests, setup, teardown);
}
