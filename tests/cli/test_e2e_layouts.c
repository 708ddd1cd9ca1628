/*
 * End-to-end: the disk layouts distributions install (fixtures/make-layouts.sh):
 * / plus /var on LVM, all-LVM with an xfs /var, btrfs subvolumes by subvol=
 * and by the default subvolume, a vfat /boot/efi, and an fstab naming a
 * filesystem that is on no disk. Each converts to a tree equal to its
 * oracle (the kernel's mounts of the same filesystems, copied with cp -a,
 * listed by tree_listing after umoci unpacks the image: no vm2oci code on
 * that side), verify passes, and an image that lacks a mount never verifies.
 *
 * Built twice: test_e2e_layouts (in-process readers only) and, with
 * LAYOUTS_SLOW, test_e2e_layouts_slow (libguestfs appliances: xfs, btrfs,
 * vfat).
 */
#include "testutil.h"

static char *tmp, *bin, *lister;

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	lister = getenv("VM2OCI_TREE_LISTING");
	if (!bin || !lister)
		tu_skip("VM2OCI_BINARY and VM2OCI_TREE_LISTING must be set (ctest sets them)");
	if (!tu_have("umoci") || !tu_have("jq") || !tu_have("skopeo"))
		tu_skip("umoci, skopeo and jq are needed (scripts/install-deps.sh --peers)");
	free(tu_fixture("layout-missing.raw")); /* skips when make-layouts.sh did not run */
	tmp = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (tmp)
		tu_sh("rm -rf %s", tmp);
	return 0;
}

/* vm2oci convert DISK into tmp/NAME (gzip: umoci 0.4.7 reads no zstd);
 * stdout (--json) in tmp/NAME.json, stderr in tmp/NAME.err. */
static int convert(const char *fixture, const char *name, const char *extra)
{
	char *disk = tu_fixture(fixture);
	int rc = tu_sh("%s convert %s -o %s/%s --tag t --compress gzip --json --quiet %s "
		       "> %s/%s.json 2> %s/%s.err", bin, disk, tmp, name, extra, tmp, name, tmp,
		       name);

	free(disk);
	return rc;
}

static int verify(const char *fixture, const char *name, const char *extra)
{
	char *disk = tu_fixture(fixture);
	int rc = tu_sh("%s verify --quiet %s oci:%s/%s:t %s > %s/%s.verify 2>&1", bin, extra, tmp,
		       name, disk, tmp, name);

	free(disk);
	return rc;
}

/* The image's tree (umoci unpack) equals the oracle's, entry for entry. */
static void assert_tree_is_oracle(const char *fixture, const char *name)
{
	char oracle[256], layout[4096], ol[4096], expected[4096];
	char *o;

	snprintf(oracle, sizeof(oracle), "%.*s.oracle", (int)(strlen(fixture) - 4), fixture);
	o = tu_fixture(oracle);
	assert_int_equal(tu_sh("umoci unpack --image %s/%s:t %s/%s.bundle >/dev/null", tmp, name,
			       tmp, name), 0);
	assert_int_equal(tu_sh("%s %s > %s/%s.oracle.l", lister, o, tmp, name), 0);
	assert_int_equal(tu_sh("%s %s/%s.bundle/rootfs > %s/%s.image.l", lister, tmp, name, tmp,
			       name), 0);
	/* Less what the image's exclude rules leave out (rsync's judgement). */
	snprintf(layout, sizeof(layout), "%s/%s", tmp, name);
	snprintf(ol, sizeof(ol), "%s/%s.oracle.l", tmp, name);
	snprintf(expected, sizeof(expected), "%s/%s.expected.l", tmp, name);
	assert_int_equal(tu_expected_listing(tmp, ol, layout, "t", expected), 0);
	assert_int_equal(tu_sh("diff -u %s %s/%s.image.l >&2", expected, tmp, name), 0);
	assert_int_equal(tu_sh("test $(wc -l < %s/%s.oracle.l) -gt 20", tmp, name), 0);
	free(o);
}

/* convert (with extra options), verify, compare with the oracle. */
static void assert_converts_exactly_with(const char *fixture, const char *name, const char *extra)
{
	assert_int_equal(convert(fixture, name, extra), 0);
	assert_int_equal(verify(fixture, name, ""), 0);
	assert_tree_is_oracle(fixture, name);
	assert_int_equal(tu_sh("jq -e '.skipped_mounts == []' %s/%s.json >/dev/null", tmp, name), 0);
}

static void assert_converts_exactly(const char *fixture, const char *name)
{
	assert_converts_exactly_with(fixture, name, "");
}

/* An image made without the mount at mp (--skip-mount, what the old
 * behaviour did silently) fails verify, naming the missing files; with
 * --allow-skipped it verifies, and the label records mp. */
static void assert_dropped_mount_fails_verify(const char *fixture, const char *name,
					      const char *mp, const char *missing)
{
	char opt[256];

	snprintf(opt, sizeof(opt), "--skip-mount %s", mp);
	assert_int_equal(convert(fixture, name, opt), 0);
	assert_int_equal(tu_sh("jq -e '.skipped_mounts == [\"%s\"]' %s/%s.json >/dev/null", mp,
			       tmp, name), 0);
	assert_int_equal(tu_sh("skopeo inspect --config oci:%s/%s:t | jq -e "
			       "'.config.Labels[\"org.vm2oci.skipped-mounts\"] == \"%s\"' >/dev/null",
			       tmp, name, mp), 0);
	assert_int_equal(verify(fixture, name, ""), 1);
	assert_int_equal(tu_sh("grep -q '^missing-in-image  /%s' %s/%s.verify", missing, tmp, name),
			 0);
	assert_int_equal(verify(fixture, name, "--allow-skipped"), 0);
}

#ifndef LAYOUTS_SLOW

/* / on a partition, /var on LVM (vg1/var), /srv on an LV striped over two
 * PVs: all of /var and /srv are in the image. */
static void test_lvm_var(void **state)
{
	(void)state;
	assert_converts_exactly("layout-lvm-var.raw", "lvm-var");
	assert_int_equal(tu_sh("grep -q '^var/lib/dpkg/status' %s/lvm-var.image.l", tmp), 0);
	assert_int_equal(tu_sh("grep -q '^srv/www/striped.bin' %s/lvm-var.image.l", tmp), 0);
	assert_dropped_mount_fails_verify("layout-lvm-var.raw", "lvm-var-drop", "/var",
					  "var/lib/dpkg/status");
}

/* inspect lists the LVs as the lvm tools see them (size, type), and the
 * plan has /var and /srv (/dev/mapper/vg1-srv--data) on them. */
static void test_lvm_inspect_matches_lvm_tools(void **state)
{
	char *disk = tu_fixture("layout-lvm-var.raw"), *ours, *theirs;

	(void)state;
	if (getuid() != 0 || !tu_have("lvs"))
		tu_skip("needs root and lvm2 for the peer's view");
	ours = tu_sh_out("%s inspect --json %s | jq -r '.logical_volumes[] | \"\\(.vg)/\\(.name) "
			 "\\(.size) \\(.type)\"' | sort", bin, disk);
	theirs = tu_sh_out("a=$(losetup -f --show -r -o %d --sizelimit %d %s) && "
			   "b=$(losetup -f --show -r -o %d --sizelimit %d %s) && "
			   "lvs --devices $a,$b --config 'devices{use_devicesfile=0}' --noheadings "
			   "--units b --nosuffix -o vg_name,lv_name,lv_size,segtype 9>&- 2>/dev/null "
			   "| awk '{ print $1 \"/\" $2, $3, $4 }' | sort; losetup -d $a $b",
			   34 * 1048576, 50 * 1048576, disk, 84 * 1048576, 56 * 1048576, disk);
	assert_string_equal(ours, "vg1/srv-data 16777216 striped\nvg1/var 25165824 linear\n");
	assert_string_equal(ours, theirs);
	assert_int_equal(tu_sh("%s inspect --json %s | jq -e '.mounts[2].mountpoint == \"/var\" and "
			       ".mounts[2].lv == \"vg1/var\" and .mounts[1].lv == \"vg1/srv-data\" and "
			       ".mounts[1].spec == \"/dev/mapper/vg1-srv--data\"' >/dev/null", bin, disk),
			 0);
	free(ours);
	free(theirs);
	free(disk);
}

/* An fstab entry on no disk: a one-line error naming it; --skip-mount
 * converts, records it, and verify says so. */
static void test_unreadable_mount(void **state)
{
	(void)state;
	assert_int_equal(convert("layout-missing.raw", "missing", ""), 1);
	assert_int_equal(tu_sh("test $(wc -l < %s/missing.err) -eq 1", tmp), 0);
	assert_int_equal(tu_sh("grep -q '/srv/data (UUID=86e28442-38a9-58f7-8aa4-a348917a529b) "
			       "cannot be mounted: ' %s/missing.err", tmp), 0);
	assert_int_equal(tu_sh("test ! -e %s/missing", tmp), 0);
	/* swap-like, noauto and network lines are not the rule's business */
	assert_int_equal(tu_sh("grep -q 'mnt/usb\\|mnt/nfs\\|proc' %s/missing.err", tmp), 1);

	assert_int_equal(convert("layout-missing.raw", "missing-skip", "--skip-mount /srv/data"), 0);
	assert_int_equal(tu_sh("jq -e '.skipped_mounts == [\"/srv/data\"]' %s/missing-skip.json "
			       ">/dev/null", tmp), 0);
	assert_int_equal(tu_sh("skopeo inspect --config oci:%s/missing-skip:t | jq -e "
			       "'.config.Labels[\"org.vm2oci.skipped-mounts\"] == \"/srv/data\"' "
			       ">/dev/null", tmp), 0);
	assert_tree_is_oracle("layout-missing.raw", "missing-skip");
	/* verify reads the disk whole: the mount fails again, naming it */
	assert_int_equal(verify("layout-missing.raw", "missing-skip", ""), 1);
	assert_int_equal(tu_sh("grep -q 'cannot be mounted' %s/missing-skip.verify", tmp), 0);
	assert_int_equal(verify("layout-missing.raw", "missing-skip", "--allow-skipped"), 0);
	/* inspect reports instead of failing, and lists what --skip-mount leaves out */
	assert_int_equal(tu_sh("%s inspect --json %s/layout-missing.raw --skip-mount /srv/data | "
			       "jq -e '.skipped_mounts == [\"/srv/data\"]' >/dev/null", bin,
			       getenv("VM2OCI_FIXTURES")), 0);
	/* --skip-mount of what fstab does not mount is an error */
	assert_int_equal(convert("layout-missing.raw", "missing-bad", "--skip-mount /nothere"), 1);
	assert_int_equal(tu_sh("grep -q 'skip-mount /nothere: the guest.s fstab mounts nothing there' "
			       "%s/missing-bad.err", tmp), 0);
}

/* An appliance that cannot start (here: no qemu where libguestfs looks) is
 * one line naming the disk, libguestfs' reason and the TCG hint, never "no
 * Linux root filesystem". */
static void test_appliance_failure_is_named(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("LIBGUESTFS_BACKEND=direct LIBGUESTFS_HV=/nonexistent/qemu %s convert "
			       "%s/layout-btrfs-subvol.raw -o %s/noappliance --quiet 2> %s/noappliance.err",
			       bin, getenv("VM2OCI_FIXTURES"), tmp, tmp), 1);
	assert_int_equal(tu_sh("cat %s/noappliance.err >&2; test $(wc -l < %s/noappliance.err) -eq 1", tmp, tmp), 0);
	assert_int_equal(tu_sh("grep -q 'layout-btrfs-subvol.raw: btrfs: the libguestfs appliance did not start: "
			       ".*/nonexistent/qemu.*LIBGUESTFS_BACKEND_SETTINGS=force_tcg' %s/noappliance.err", tmp), 0);
	assert_int_equal(tu_sh("grep -q 'no Linux root' %s/noappliance.err", tmp), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appliance_failure_is_named),
		cmocka_unit_test(test_lvm_var),
		cmocka_unit_test(test_lvm_inspect_matches_lvm_tools),
		cmocka_unit_test(test_unreadable_mount),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* LAYOUTS_SLOW: libguestfs appliances */

/* The RHEL default: / on vg0/root (ext4, libext2fs), /var on vg0/var (xfs,
 * libguestfs activating the VG itself). */
static void test_all_lvm(void **state)
{
	(void)state;
	assert_converts_exactly("layout-all-lvm.raw", "all-lvm");
	assert_int_equal(tu_sh("grep -q 'var/log/apt/history.log' %s/all-lvm.image.l", tmp), 0);
}

/* Ubuntu/Fedora: / and /home are subvolumes @ and @home (subvol=). */
static void test_btrfs_subvol(void **state)
{
	(void)state;
	assert_converts_exactly("layout-btrfs-subvol.raw", "btrfs-subvol");
	assert_int_equal(tu_sh("grep -q '^home/user/.profile' %s/btrfs-subvol.image.l", tmp), 0);
	assert_int_equal(tu_sh("grep -q '^@' %s/btrfs-subvol.image.l", tmp), 1);
	assert_dropped_mount_fails_verify("layout-btrfs-subvol.raw", "btrfs-subvol-drop", "/home",
					  "home/user");
}

/* openSUSE-style: the default subvolume is @; /home by subvolid=. */
static void test_btrfs_default(void **state)
{
	(void)state;
	assert_converts_exactly("layout-btrfs-default.raw", "btrfs-default");
	assert_int_equal(tu_sh("grep -q '^home/user/.config/notes' %s/btrfs-default.image.l", tmp),
			 0);
}

/* A vfat /boot/efi with umask=0077, read as the guest mounts it, and no
 * "cannot be resolved" warning. The default rules leave /boot's contents
 * out; --include keeps the ESP (the first matching rule wins). */
static void test_efi(void **state)
{
	(void)state;
	assert_converts_exactly_with("layout-efi.raw", "efi", "--include /boot/efi/");
	assert_int_equal(tu_sh("grep -q '^boot/efi/EFI/BOOT/BOOTX64.EFI' %s/efi.image.l", tmp), 0);
	assert_int_equal(tu_sh("%s inspect %s/layout-efi.raw | grep -q 'cannot'", bin,
			       getenv("VM2OCI_FIXTURES")), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_lvm),
		cmocka_unit_test(test_btrfs_subvol),
		cmocka_unit_test(test_btrfs_default),
		cmocka_unit_test(test_efi),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

#endif
