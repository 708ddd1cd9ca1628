/*
 * End-to-end: vm2oci convert --base scratch on the fixture disks, checked
 * from the outside: the same disk in every format gives the same digests;
 * oci-image-tool, skopeo and umoci accept the layout; umoci's unpack of it
 * equals a kernel loop mount of the raw disk listed by tree_listing (no
 * vm2oci code on that path); verify agrees; podman runs it.
 */
#include "testutil.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *lister, *raw_listing;

static const char *const formats[] = {
	"debian-gpt.raw", "debian-gpt.qcow2", "debian-gpt-zlib.qcow2", "debian-gpt-zstd.qcow2",
	"debian-gpt-v2.qcow2", "debian-gpt.vmdk", "debian-gpt-stream.vmdk",
};

static int setup(void **state)
{
	char *raw = tu_fixture("debian-gpt.raw");

	(void)state;
	tu_e2e_init(&e2e, TU_E2E_LISTER);
	tmp = e2e.tmp;
	bin = e2e.bin;
	lister = e2e.lister;
	raw_listing = malloc(4096);
	snprintf(raw_listing, 4096, "%s/raw.listing", tmp);
	/* The reference: the kernel's view of the raw disk. */
	assert_int_equal(tu_e2e_listing(&e2e, raw, raw_listing), 0);
	free(raw);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

/* Converts the disk at path (extra: more options) with --json. */
static char *convert_path(const char *disk, const char *name, const char *compress,
			  const char *extra)
{
	return tu_sh_out("%s convert %s --base scratch -o %s/%s --tag t --json --quiet "
			 "--compress %s %s", bin, disk, tmp, name, compress, extra);
}

/* umoci 0.4.7 (Debian 12) predates the zstd layer media type: the peers get
 * gzip layers, everything else vm2oci's default, zstd. */
static char *convert_with(const char *fixture, const char *name, const char *compress)
{
	char *disk = tu_fixture(fixture);
	char *out = convert_path(disk, name, compress, "");

	free(disk);
	return out;
}

static char *convert(const char *fixture, const char *name)
{
	return convert_with(fixture, name, "zstd");
}

/* One field of a JSON document, read by jq (not by vm2oci's own code). */
static char *json_field(const char *json, const char *jq)
{
	char path[4096], *v;
	FILE *o;

	snprintf(path, sizeof(path), "%s/field.json", tmp);
	o = fopen(path, "w");
	assert_non_null(o);
	fputs(json, o);
	fclose(o);
	v = tu_sh_out("jq -r '%s' %s", jq, path);
	v[strcspn(v, "\n")] = '\0';
	return v;
}

/* The sample disk as qemu-img writes it in the Hyper-V, Azure and
 * VirtualBox formats (VHD with force_size: the size the footer says, as
 * Hyper-V makes it), and the --format that names each. */
static const struct {
	const char *file, *qemu_opts, *format;
} converted[] = {
	{ "d.vhdx", "-O vhdx", "vhdx" },
	{ "d.vhd", "-O vpc -o force_size=on", "vhd" },
	{ "f.vhd", "-O vpc -o subformat=fixed,force_size=on", "vpc" },
	{ "d.vdi", "-O vdi", "vdi" },
	{ "d.qed", "-O qed", "qed" },
};

/* The same disk in twelve containers gives one layer and one manifest;
 * JSON says which format was read. */
static void test_same_digests_every_format(void **state)
{
	size_t n_fixed = sizeof(formats) / sizeof(formats[0]);
	size_t n_conv = sizeof(converted) / sizeof(converted[0]);
	char *first_manifest = NULL, *first_layer = NULL, *raw = tu_fixture("debian-gpt.raw");
	size_t i;

	(void)state;
	for (i = 0; i < n_fixed + n_conv; i++) {
		char name[64], what[128], *js, *m, *l;

		snprintf(name, sizeof(name), "oci-%zu", i);
		if (i < n_fixed) {
			js = convert(formats[i], name);
			snprintf(what, sizeof(what), "%s", formats[i]);
		} else {
			size_t c = i - n_fixed;
			char disk[4096], opt[64], *fmt;

			snprintf(disk, sizeof(disk), "%s/%s", tmp, converted[c].file);
			assert_int_equal(tu_sh("qemu-img convert %s %s %s", converted[c].qemu_opts,
					       raw, disk), 0);
			/* Probed, then forced with --format. */
			js = convert_path(disk, name, "zstd", "");
			fmt = json_field(js, ".disk.format");
			assert_string_equal(fmt, !strcmp(converted[c].format, "vhd") ? "vpc" :
					    converted[c].format);
			free(fmt);
			free(js);
			snprintf(opt, sizeof(opt), "--format %s", converted[c].format);
			strcat(name, "f");
			js = convert_path(disk, name, "zstd", opt);
			snprintf(what, sizeof(what), "%s (%s)", converted[c].file, opt);
			unlink(disk);
		}
		m = json_field(js, ".manifest_digest");
		l = json_field(js, ".layers[-1].digest");
		print_message("%-24s manifest %s layer %s\n", what, m, l);
		assert_true(strncmp(m, "sha256:", 7) == 0);
		if (!first_manifest) {
			first_manifest = m;
			first_layer = l;
		} else {
			assert_string_equal(m, first_manifest);
			assert_string_equal(l, first_layer);
			free(m);
			free(l);
		}
		free(js);
	}
	free(first_manifest);
	free(first_layer);
	free(raw);
}

static void test_peers_accept_layout(void **state)
{
	char *js = convert_with("debian-gpt.qcow2", "peers", "gzip"), *out;

	(void)state;
	free(js);
	if (tu_have("oci-image-tool"))
		assert_int_equal(tu_sh("oci-image-tool validate --type image --ref name=t %s/peers", tmp), 0);
	if (tu_have("skopeo")) {
		out = tu_sh_out("skopeo inspect oci:%s/peers:t", tmp);
		assert_non_null(strstr(out, "\"Architecture\": \"amd64\""));
		assert_non_null(strstr(out, "\"Os\": \"linux\""));
		free(out);
	}
}

/* umoci's extraction of the image equals the kernel's view of the disk. */
static void test_umoci_unpack_equals_loop_mount(void **state)
{
	char *js = convert_with("debian-gpt.qcow2", "umoci", "gzip");
	char layout[4096], expected[4096];

	(void)state;
	free(js);
	if (!tu_have("umoci"))
		tu_skip_case("umoci is not installed (scripts/install-deps.sh --peers)");
	assert_int_equal(tu_sh("umoci unpack --image %s/umoci:t %s/bundle >/dev/null", tmp, tmp), 0);
	assert_int_equal(tu_sh("%s %s/bundle/rootfs > %s/umoci.listing", lister, tmp, tmp), 0);
	/* The disk less what the image's exclude rules leave out, as rsync
	 * judges them: /boot's kernel files, /run's contents. */
	snprintf(layout, sizeof(layout), "%s/umoci", tmp);
	snprintf(expected, sizeof(expected), "%s/umoci.expected", tmp);
	assert_int_equal(tu_expected_listing(tmp, raw_listing, layout, "t", expected), 0);
	assert_int_equal(tu_sh("grep -q '^boot/vmlinuz' %s && ! grep -q '^boot/' %s/umoci.expected && "
			       "grep -q '^boot\t' %s/umoci.expected", raw_listing, tmp, tmp), 0);
	assert_int_equal(tu_sh("diff -u %s/umoci.expected %s/umoci.listing > %s/umoci.diff", tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("test $(wc -l < %s) -gt 1000", raw_listing), 0);
}

static void test_verify(void **state)
{
	char *js = convert("debian-gpt-zstd.qcow2", "verify");
	char *gpt = tu_fixture("debian-gpt.vmdk"), *mbr = tu_fixture("debian-mbr.raw");

	(void)state;
	free(js);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/verify:t %s", bin, tmp, gpt), 0);
	/* Another disk (other hostname, fstab, partitions) must not verify. */
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/verify:t %s > %s/wrong.txt", bin, tmp, mbr, tmp), 1);
	assert_int_equal(tu_sh("grep -q 'etc/hostname\\|etc/fstab' %s/wrong.txt", tmp), 0);
	free(gpt);
	free(mbr);
}

static void test_other_layouts(void **state)
{
	static const char *const disks[] = { "debian-mbr.raw", "debian-bare.raw" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char name[32], *js, *disk = tu_fixture(disks[i]);

		snprintf(name, sizeof(name), "other-%zu", i);
		js = convert(disks[i], name);
		assert_non_null(strstr(js, "manifest_digest"));
		assert_int_equal(tu_sh("%s verify --quiet oci:%s/%s:t %s", bin, tmp, name, disk), 0);
		free(js);
		free(disk);
	}
}

static void test_podman_runs_it(void **state)
{
	char *js = convert("debian-gpt.qcow2", "podman"), *out;

	(void)state;
	free(js);
	if (!tu_have("podman"))
		tu_skip_case("podman is not installed (scripts/install-deps.sh --peers)");
	/* podman makes an image name of the path: it must be lowercase. */
	tu_sh("rm -f /tmp/vm2oci-e2e-podman && ln -s %s/podman /tmp/vm2oci-e2e-podman", tmp);
	/* podman bind-mounts its own /etc/hostname over the image's; lifting
	 * that mount (hence --privileged) shows the file the image carries. */
	out = tu_sh_out("podman --runtime runc --cgroup-manager=cgroupfs run --rm --privileged "
			"--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 "
			"oci:/tmp/vm2oci-e2e-podman:t sh -c 'umount /etc/hostname && cat /etc/hostname' "
			"2>/dev/null");
	print_message("podman: %s", out);
	assert_string_equal(out, "vm2oci-sample\n");
	free(out);
	tu_sh("podman rmi -f localhost/tmp/vm2oci-e2e-podman:t >/dev/null 2>&1; rm -f /tmp/vm2oci-e2e-podman");
}

static void test_docker_archive(void **state)
{
	char *disk = tu_fixture("debian-gpt.qcow2");

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/img.tar --output-format docker-archive --quiet "
			       "--compress gzip", bin, disk, tmp), 0);
	assert_int_equal(tu_sh("tar -tf %s/img.tar | grep -q manifest.json", tmp), 0);
	if (tu_have("skopeo"))
		assert_int_equal(tu_sh("skopeo inspect docker-archive:%s/img.tar >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("ls -d %s/img.tar.oci-* 2>/dev/null | wc -l | grep -qx 0", tmp), 0);
	assert_int_equal(tu_sh("%s verify --quiet docker-archive:%s/img.tar %s", bin, tmp, disk), 0);
	free(disk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_digests_every_format),
		cmocka_unit_test(test_peers_accept_layout),
		cmocka_unit_test(test_umoci_unpack_equals_loop_mount),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_other_layouts),
		cmocka_unit_test(test_podman_runs_it),
		cmocka_unit_test(test_docker_archive),
	};
	return cmocka_run_group_tests_name("e2e: convert checked by OCI peers", tests, setup, teardown);

}
