/*
 * End-to-end: guest file names that mean something to OCI or to a terminal.
 *
 * A tiny root made here (mke2fs -d) holds files named ".wh.evil", "x/.wh.y",
 * "o/.wh..wh..opq" (names every OCI tool reads as deletions) and names with
 * ESC, CR, LF and bytes that are not UTF-8. convert must refuse the first kind
 * with one line naming the path, or rename them with --rename-whiteout-names
 * (label, verify, umoci's unpack as the peer); diff --list must put no raw
 * control byte on the terminal and --json must carry every name.
 */
#include "testutil.h"

#include <fcntl.h>

static char *tmp, *bin, *disk;

static void put_file(const char *rel, const char *text)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/root/%s", tmp, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void put_dir(const char *rel)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/root/%s", tmp, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY must be set (ctest sets it)");
	tmp = tu_tmpdir();
	assert_int_equal(tu_sh("mkdir -p %s/root/usr/bin %s/root/etc", tmp, tmp), 0);
	put_file("etc/os-release", "ID=debian\nVERSION_ID=12\nPRETTY_NAME=\"names test\"\n");
	put_file("usr/bin/tool", "#!/bin/sh\n");
	put_file(".wh.evil", "not a whiteout\n");
	put_dir("x");
	put_file("x/.wh.y", "neither\n");
	put_dir("o");
	put_file("o/.wh..wh..opq", "not opaque\n");
	put_dir("y");
	put_file("y/.vm2oci-esc.z", "escaped prefix already\n");
	put_dir("names");
	put_file("names/esc\x1b[31mred", "1\n");
	put_file("names/cr\rname", "2\n");
	put_file("names/lf\nname", "3\n");
	put_file("names/bad\xff\xfe", "4\n");
	put_file("names/ok-\xc3\xa9", "5\n");
	disk = malloc(4200);
	snprintf(disk, 4200, "%s/names.raw", tmp);
	assert_int_equal(tu_sh("E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -t ext4 -d %s/root %s 32M",
			       tmp, disk), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_sh("rm -rf %s", tmp);
	free(disk);
	return 0;
}

static void test_whiteout_names_refused(void **state)
{
	char *msg, *lines;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/out --quiet 2> %s/err.txt", bin, disk, tmp, tmp), 1);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	lines = tu_sh_out("wc -l < %s/err.txt", tmp);
	print_message("%s", msg);
	assert_int_equal(atoi(lines), 1);
	assert_non_null(strstr(msg, "names.raw"));
	assert_non_null(strstr(msg, ".wh."));
	assert_non_null(strstr(msg, "--rename-whiteout-names"));
	assert_int_equal(tu_sh("ls -A %s | grep -q '^out'", tmp), 1); /* nothing left */
	free(msg);
	free(lines);
}

/* The image config of oci:DIR:latest, through the index and manifest. */
static char *config_path(const char *dir)
{
	return tu_sh_out("d=%s; m=$(jq -r '.manifests[0].digest' $d/index.json | cut -d: -f2); "
			 "c=$(jq -r .config.digest $d/blobs/sha256/$m | cut -d: -f2); "
			 "printf %%s $d/blobs/sha256/$c", dir);
}

static void test_whiteout_names_renamed(void **state)
{
	char out[4200], *cfg, *keys, *list;

	(void)state;
	snprintf(out, sizeof(out), "%s/renamed", tmp);
	assert_int_equal(tu_sh("%s convert %s -o %s --rename-whiteout-names --compress gzip --quiet",
			       bin, disk, out), 0);
	cfg = config_path(out);
	keys = tu_sh_out("jq -r '.config.Labels[\"org.vm2oci.renamed-whiteout-names\"]' %s | "
			 "jq -r 'to_entries[] | .key + \" -> \" + .value'", cfg);
	print_message("%s", keys);
	assert_non_null(strstr(keys, ".wh.evil -> .vm2oci-esc..wh.evil"));
	assert_non_null(strstr(keys, "x/.wh.y -> x/.vm2oci-esc..wh.y"));
	assert_non_null(strstr(keys, "o/.wh..wh..opq -> o/.vm2oci-esc..wh..wh..opq"));
	assert_non_null(strstr(keys, "y/.vm2oci-esc.z -> y/.vm2oci-esc..vm2oci-esc.z"));
	/* No name in the layer is a whiteout to a reader (a scratch image has none). */
	list = tu_sh_out("for b in %s/blobs/sha256/*; do tar -tzf $b 2>/dev/null; done | "
			 "awk -F/ '$NF ~ /^\\.wh\\./' | wc -l", out);
	assert_int_equal(atoi(list), 0);
	free(list);
	/* verify knows the renaming. */
	assert_int_equal(tu_sh("%s verify oci:%s:latest %s >/dev/null", bin, out, disk), 0);
	/* umoci (a peer that applies whiteouts) unpacks every renamed file. */
	if (tu_have("umoci")) {
		assert_int_equal(tu_sh("cd %s && umoci --log error unpack --image renamed:latest "
				       "bundle >/dev/null", tmp), 0);
		assert_int_equal(tu_sh("cd %s/bundle/rootfs && grep -qx 'not a whiteout' "
				       ".vm2oci-esc..wh.evil && grep -qx neither x/.vm2oci-esc..wh.y && "
				       "grep -qx 'not opaque' o/.vm2oci-esc..wh..wh..opq && "
				       "test -f y/.vm2oci-esc..vm2oci-esc.z && test -f usr/bin/tool",
				       tmp), 0);
	} else {
		print_message("umoci not installed: peer unpack not checked\n");
	}
	free(keys);
	free(cfg);
}

static void test_names_on_output(void **state)
{
	char *ctl, *count, *listed, *hex;

	(void)state;
	/* Text: no control byte but the line ends, and valid UTF-8. */
	assert_int_equal(tu_sh("%s diff scratch %s --list > %s/list.txt", bin, disk, tmp), 0);
	ctl = tu_sh_out("tr -d '\\n' < %s/list.txt | LC_ALL=C grep -c '[[:cntrl:]]'", tmp);
	assert_int_equal(atoi(ctl), 0);
	assert_int_equal(tu_sh("iconv -f UTF-8 -t UTF-8 %s/list.txt >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("grep -qF 'names/esc\\x1b[31mred' %s/list.txt && "
			       "grep -qF 'names/lf\\nname' %s/list.txt && "
			       "grep -qF 'names/bad\\xff\\xfe' %s/list.txt", tmp, tmp, tmp), 0);
	/* JSON: every name is listed; one that is not UTF-8 carries its bytes. */
	assert_int_equal(tu_sh("%s diff scratch %s --list --json > %s/list.json", bin, disk, tmp), 0);
	count = tu_sh_out("jq '.additions.count' %s/list.json", tmp);
	listed = tu_sh_out("jq '[.changes[] | select(.kind == \"added\")] | length' %s/list.json", tmp);
	print_message("added %s listed %s", count, listed);
	assert_true(atoi(count) > 10);
	assert_int_equal(atoi(count), atoi(listed));
	hex = tu_sh_out("jq -r '.changes[] | select(.path_hex) | .path_hex' %s/list.json", tmp);
	/* "names/bad\xff\xfe" */
	assert_non_null(strstr(hex, "6e616d65732f626164fffe"));
	free(ctl);
	free(count);
	free(listed);
	free(hex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whiteout_names_refused),
		cmocka_unit_test(test_whiteout_names_renamed),
		cmocka_unit_test(test_names_on_output),
	};
	return cmocka_run_group_tests_name("guest names", tests, setup, teardown);
}
