/*
 * End-to-end: a tenant's disk must not read the host or another tenant's
 * disk (issue 15). Tiny real disks are made here (mke2fs -d, qemu-img,
 * debugfs, losetup) in a tree of tenant directories:
 *
 *   tenantA/   the attacker: overlays and vmdk descriptors naming files
 *              outside (../tenantB/disk.qcow2, an absolute path, a symlink,
 *              /etc/shadow, /proc, /sys, a loop device), huge inode sizes
 *   tenantB/   another tenant's disk
 *   tenantC/   a libvirt-style chain: absolute backing paths inside the tree
 *
 * Every attack must fail with exit 1, one line on stderr naming the disk,
 * the named file and the reason, and leave no output behind; --backing-dir
 * and --trust-backing must let the legitimate cases through, and inspect
 * must say which rule allowed each link.
 */
#include "testutil.h"

#include <time.h>

static char *tmp, *bin;

static int setup(void **state)
{
	(void)state;
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY must be set (ctest sets it)");
	if (!tu_have("qemu-img") || !tu_have("mke2fs") || !tu_have("debugfs"))
		tu_skip("qemu-img, mke2fs and debugfs are needed");
	tmp = tu_tmpdir();
	/* A minimal guest root: enough for vm2oci to find / (etc/os-release
	 * and usr), with a marker naming whose disk it is. */
	if (tu_sh("cd %s && mkdir -p tenantA tenantB tenantC/bases && "
		  "mk() { mkdir -p root-$1/etc root-$1/usr/bin root-$1/srv && "
		  "printf 'ID=debian\\nVERSION_ID=12\\n' > root-$1/etc/os-release && "
		  "echo '/dev/vda / ext4 defaults 0 1' > root-$1/etc/fstab && "
		  "echo \"disk of $1\" > root-$1/srv/marker && "
		  "mke2fs -q -F -t ext4 -d root-$1 $2 16M; } && "
		  "mk B tenantB/root.raw && qemu-img convert -O qcow2 tenantB/root.raw tenantB/disk.qcow2 && "
		  "qemu-img convert -O vmdk tenantB/root.raw tenantB/disk.vmdk && "
		  "mk C tenantC/bases/base.raw && "
		  "qemu-img convert -O qcow2 tenantC/bases/base.raw tenantC/bases/base.qcow2",
		  tmp) != 0)
		fail_msg("cannot make the tenant disks");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (tmp && !getenv("VM2OCI_KEEP_TMP"))
		tu_sh("rm -rf %s", tmp);
	free(tmp);
	return 0;
}

/* Runs `vm2oci ARGS` (out = tmp/out where it writes); expects exit 1, one
 * line naming every string of want, and no output left. */
static void expect_refused(const char *args, const char *const *want)
{
	char *lines, *msg;
	int rc;

	tu_sh("rm -rf %s/out*", tmp);
	rc = tu_sh("cd %s && %s %s 2> err.txt > stdout.txt", tmp, bin, args);
	lines = tu_sh_out("wc -l < %s/err.txt", tmp);
	msg = tu_sh_out("cat %s/err.txt", tmp);
	print_message("%s -> exit %d: %s", args, rc, msg);
	assert_int_equal(rc, 1);
	assert_int_equal(atoi(lines), 1);
	assert_non_null(strstr(msg, "vm2oci: "));
	for (; *want; want++)
		if (!strstr(msg, *want))
			fail_msg("'%s' lacks '%s'", msg, *want);
	assert_int_equal(tu_sh("ls -A %s | grep -q '^out'", tmp), 1); /* nothing left */
	free(lines);
	free(msg);
}

/* Runs `vm2oci ARGS`, expects exit 0 and stdout containing want. */
static void expect_ok(const char *args, const char *want)
{
	char *out;
	int rc;

	tu_sh("rm -rf %s/out*", tmp);
	rc = tu_sh("cd %s && %s %s > stdout.txt 2> err.txt", tmp, bin, args);
	out = tu_sh_out("cat %s/stdout.txt %s/err.txt", tmp, tmp);
	if (rc != 0 || (want && !strstr(out, want)))
		fail_msg("%s: exit %d, output lacks '%s':\n%s", args, rc, want ? want : "", out);
	free(out);
}

static void test_backing_another_tenant(void **state)
{
	char args[8192];

	(void)state;
	if (tu_sh("cd %s/tenantA && "
		  "qemu-img create -q -f qcow2 -b ../tenantB/disk.qcow2 -F qcow2 clone-rel.qcow2 && "
		  "qemu-img create -q -f qcow2 -b %s/tenantB/disk.qcow2 -F qcow2 clone-abs.qcow2 && "
		  "ln -sf ../tenantB/disk.qcow2 link.qcow2 && "
		  "qemu-img create -q -f qcow2 -b link.qcow2 -F qcow2 clone-link.qcow2",
		  tmp, tmp) != 0)
		fail_msg("cannot make the overlays");
	{
		const char *want[] = { "clone-rel.qcow2", "backing file ../tenantB/disk.qcow2",
				       "resolves outside the disk's directory",
				       "use --backing-dir or --trust-backing", NULL };
		/* Every command that opens a disk, and a disk: base. */
		expect_refused("convert tenantA/clone-rel.qcow2 -o out --quiet", want);
		expect_refused("inspect tenantA/clone-rel.qcow2", want);
		expect_refused("inspect --json tenantA/clone-rel.qcow2", want);
		expect_refused("diff scratch tenantA/clone-rel.qcow2", want);
		expect_refused("packages tenantA/clone-rel.qcow2", want);
		expect_refused("compare scratch tenantA/clone-rel.qcow2", want);
		expect_ok("convert tenantB/disk.qcow2 -o ref --quiet", NULL);
		expect_refused("verify oci:ref tenantA/clone-rel.qcow2", want);
		expect_refused("convert tenantB/disk.qcow2 --base disk:tenantA/clone-rel.qcow2 -o out --quiet",
			       want);
	}
	{
		const char *want[] = { "clone-abs.qcow2", "/tenantB/disk.qcow2",
				       "resolves outside the disk's directory", NULL };

		expect_refused("convert tenantA/clone-abs.qcow2 -o out --quiet", want);
	}
	{
		/* A symlink inside the tree is judged by where it leads. */
		const char *want[] = { "clone-link.qcow2", "backing file link.qcow2",
				       "/tenantB/disk.qcow2", "resolves outside", NULL };

		expect_refused("convert tenantA/clone-link.qcow2 -o out --quiet", want);
	}
	/* The operator's word lets it through, and inspect says whose. */
	expect_ok("inspect --backing-dir tenantB tenantA/clone-rel.qcow2",
		  "(--backing-dir tenantB)");
	snprintf(args, sizeof(args), "inspect --json --backing-dir %s/tenantB tenantA/clone-abs.qcow2",
		 tmp);
	expect_ok(args, "\"allowed_by\": \"--backing-dir ");
	expect_ok("inspect --trust-backing tenantA/clone-link.qcow2", "(--trust-backing)");
	expect_ok("convert --backing-dir tenantB tenantA/clone-rel.qcow2 -o out --quiet", NULL);
	assert_int_equal(tu_sh("test -f %s/out/index.json", tmp), 0);
}

static void test_libvirt_chain_inside_tree(void **state)
{
	(void)state;
	/* Absolute paths, as libvirt writes them, all inside tenantC/. */
	if (tu_sh("cd %s/tenantC && "
		  "qemu-img create -q -f qcow2 -b %s/tenantC/bases/base.qcow2 -F qcow2 mid.qcow2 && "
		  "qemu-img create -q -f qcow2 -b %s/tenantC/mid.qcow2 -F qcow2 vm.qcow2",
		  tmp, tmp, tmp) != 0)
		fail_msg("cannot make the chain");
	expect_ok("inspect tenantC/vm.qcow2", "mid.qcow2 (same directory tree)");
	expect_ok("inspect tenantC/vm.qcow2", "base.qcow2 (same directory tree)");
	expect_ok("convert tenantC/vm.qcow2 -o out --quiet", NULL);
	/* The chain's own files and the image itself are never backing. */
	if (tu_sh("cd %s/tenantC && "
		  "qemu-img create -q -f qcow2 -b %s/tenantC/vm.qcow2 -F qcow2 -u loop.qcow2 16M && "
		  "qemu-img rebase -u -b loop.qcow2 -F qcow2 loop.qcow2", tmp, tmp) != 0)
		fail_msg("cannot make the self loop");
	{
		const char *want[] = { "loop.qcow2", "is the image itself", NULL };

		expect_refused("inspect tenantC/loop.qcow2", want);
		expect_refused("inspect --trust-backing tenantC/loop.qcow2", want);
	}
}

static void test_backing_block_device(void **state)
{
	char *dev, args[8192];

	(void)state;
	if (geteuid() != 0 || !tu_have("losetup")) {
		print_message("skipped: loop devices need root and losetup\n");
		return;
	}
	dev = tu_sh_out("losetup -r -f --show %s/tenantB/root.raw", tmp);
	dev[strcspn(dev, "\n")] = '\0';
	if (strncmp(dev, "/dev/loop", 9)) {
		print_message("skipped: no loop device (%s)\n", dev);
		free(dev);
		return;
	}
	if (tu_sh("cd %s/tenantA && qemu-img create -q -f qcow2 -b %s -F raw -u dev.qcow2 16M && "
		  "ln -sf %s devlink.raw && "
		  "qemu-img create -q -f qcow2 -b devlink.raw -F raw -u devlink.qcow2 16M && "
		  "printf '# Disk DescriptorFile\\nversion=1\\nCID=1\\nparentCID=ffffffff\\n"
		  "createType=\"monolithicFlat\"\\nRW 32768 FLAT \"%s\" 0\\n' > devext.vmdk",
		  tmp, dev, dev, dev) != 0) {
		tu_sh("losetup -d %s", dev);
		fail_msg("cannot make the device overlays");
	}
	{
		const char *want[] = { "dev.qcow2", dev, "a block device",
				       "never followed unless", NULL };

		expect_refused("convert tenantA/dev.qcow2 -o out --quiet", want);
		/* Not even with --trust-backing. */
		expect_refused("convert --trust-backing tenantA/dev.qcow2 -o out --quiet", want);
	}
	{
		const char *want[] = { "devlink.qcow2", "devlink.raw", dev, "a block device", NULL };

		expect_refused("inspect --trust-backing tenantA/devlink.qcow2", want);
	}
	{
		const char *want[] = { "devext.vmdk", "vmdk extent", dev, "a block device", NULL };

		expect_refused("inspect --trust-backing tenantA/devext.vmdk", want);
	}
	/* The top disk itself may be a device: the operator named it. */
	snprintf(args, sizeof(args), "inspect %s", dev);
	expect_ok(args, "os:          debian 12");
	/* Named exactly on the command line, the device is followed. */
	snprintf(args, sizeof(args), "inspect --backing-dir %s tenantA/dev.qcow2", dev);
	expect_ok(args, "--backing-dir /dev/loop");
	snprintf(args, sizeof(args), "inspect --backing-dir %s tenantA/devext.vmdk", dev);
	expect_ok(args, "os:          debian 12");
	tu_sh("losetup -d %s", dev);
	free(dev);
}

/* A monolithicFlat descriptor in tenantA/ whose one extent names target. */
static void flat_vmdk(const char *name, const char *target)
{
	if (tu_sh("cd %s/tenantA && printf '# Disk DescriptorFile\\nversion=1\\nCID=1\\n"
		  "parentCID=ffffffff\\ncreateType=\"monolithicFlat\"\\n"
		  "RW 8 FLAT \"%s\" 0\\n' > %s", tmp, target, name) != 0)
		fail_msg("cannot write %s", name);
}

static void test_vmdk_extents_on_the_host(void **state)
{
	(void)state;
	flat_vmdk("shadow.vmdk", "/etc/shadow");
	flat_vmdk("proc.vmdk", "/proc/self/environ");
	flat_vmdk("sys.vmdk", "/sys/kernel/uevent_seqnum");
	flat_vmdk("self.vmdk", "self.vmdk");
	flat_vmdk("up.vmdk", "../tenantB/root.raw");
	{
		const char *want[] = { "shadow.vmdk", "vmdk extent /etc/shadow",
				       "resolves outside the disk's directory", NULL };

		expect_refused("convert tenantA/shadow.vmdk -o out --quiet", want);
	}
	{
		const char *want[] = { "up.vmdk", "vmdk extent ../tenantB/root.raw",
				       "resolves outside", NULL };

		expect_refused("inspect tenantA/up.vmdk", want);
	}
	{
		/* The kernel's files stay out even for a trusting operator. */
		const char *want[] = { "proc.vmdk", "/proc/", "never followed unless", NULL };

		expect_refused("inspect --trust-backing tenantA/proc.vmdk", want);
	}
	{
		const char *want[] = { "sys.vmdk", "/sys/kernel/uevent_seqnum",
				       "never followed unless", NULL };

		expect_refused("inspect --trust-backing tenantA/sys.vmdk", want);
	}
	{
		const char *want[] = { "self.vmdk", "is the image itself", NULL };

		expect_refused("inspect --trust-backing tenantA/self.vmdk", want);
	}
}

static void test_vmdk_parent_outside(void **state)
{
	(void)state;
	/* A delta whose grains are all unallocated: everything would come
	 * from the parent, another tenant's disk. */
	if (tu_sh("cd %s/tenantA && qemu-img create -q -f vmdk delta-s.vmdk 16M && "
		  "printf '# Disk DescriptorFile\\nversion=1\\nCID=fffffffe\\nparentCID=12345678\\n"
		  "parentFileNameHint=\"../tenantB/disk.vmdk\"\\ncreateType=\"monolithicSparse\"\\n"
		  "RW 32768 SPARSE \"delta-s.vmdk\"\\n' > delta.vmdk", tmp) != 0)
		fail_msg("cannot make the vmdk delta");
	{
		const char *want[] = { "delta.vmdk", "parent disk ../tenantB/disk.vmdk",
				       "resolves outside the disk's directory", NULL };

		expect_refused("convert tenantA/delta.vmdk -o out --quiet", want);
	}
	expect_ok("inspect --backing-dir tenantB tenantA/delta.vmdk",
		  "parent disk ../tenantB/disk.vmdk");
}

static void test_huge_file_sizes(void **state)
{
	double t0;

	(void)state;
	/* i_size = 2^60 on one file, 8 TiB on another, 20 MiB of holes on a
	 * third: all larger than the 16 MiB filesystem. */
	if (tu_sh("cd %s/tenantA && rm -rf hroot && mkdir -p hroot/etc hroot/usr hroot/srv && "
		  "printf 'ID=debian\\n' > hroot/etc/os-release && echo x > hroot/srv/big && "
		  "echo y > hroot/srv/wide && mke2fs -q -F -t ext4 -d hroot huge.raw 16M && "
		  "cp huge.raw wide.raw && "
		  "debugfs -w -R 'sif /srv/big size 0x1000000000000000' huge.raw 2>/dev/null && "
		  "debugfs -w -R 'sif /srv/wide size 0x80000000000' wide.raw 2>/dev/null && "
		  "rm -f hroot/srv/big hroot/srv/wide && truncate -s 20M hroot/srv/holes && "
		  "mke2fs -q -F -t ext4 -d hroot holes.raw 16M", tmp) != 0)
		fail_msg("cannot make the huge-inode disks");
	t0 = (double)time(NULL);
	{
		const char *want[] = { "huge.raw", "/srv/big", "apparent size of 1152921504606846976 bytes",
				       "--max-file-size", NULL };

		expect_refused("convert tenantA/huge.raw -o out --quiet", want);
		expect_refused("diff scratch tenantA/huge.raw", want);
		/* A bigger limit does not make 2^60 bytes of zeros acceptable. */
		expect_refused("convert --max-file-size 1T tenantA/huge.raw -o out --quiet", want);
	}
	{
		const char *want[] = { "wide.raw", "/srv/wide", "8796093022208 bytes", NULL };

		expect_refused("convert tenantA/wide.raw -o out --quiet", want);
	}
	{
		const char *want[] = { "holes.raw", "/srv/holes", "20971520 bytes", NULL };

		expect_refused("convert tenantA/holes.raw -o out --quiet", want);
	}
	/* Fail fast: seconds, not hours of zeros. */
	assert_true((double)time(NULL) - t0 < 60);
	expect_ok("convert --max-file-size 32M tenantA/holes.raw -o out --quiet", NULL);
	assert_int_equal(tu_sh("test -f %s/out/index.json", tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backing_another_tenant),
		cmocka_unit_test(test_libvirt_chain_inside_tree),
		cmocka_unit_test(test_backing_block_device),
		cmocka_unit_test(test_vmdk_extents_on_the_host),
		cmocka_unit_test(test_vmdk_parent_outside),
		cmocka_unit_test(test_huge_file_sizes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
