/*
 * test_diskfs.c - partition tables, ext2/3/4 and whole guests, checked
 * against independent peers.
 *
 * Filesystems: a synthetic tree with every kind of entry is laid into ext4,
 * ext2 (128-byte inodes) and inline_data ext4 images with `mke2fs -d`; the
 * dr_fs walk is compared field by field with what the kernel shows of the
 * same image loop-mounted read-only (lstat, readlink, llistxattr/lgetxattr,
 * sha256 of the content), and ACLs with `getfattr -e hex` output.
 * Partition tables: made with sfdisk, compared with `partx -g -r` (libblkid).
 * Guests: GPT, MBR-with-logicals and bare disks with an fstab; the merged
 * tree is compared with the kernel's view of the same mounts.
 * Bad inputs: corrupt superblocks, damaged images, bad GPT CRCs, EBR loops,
 * fstab garbage: clean errors, no crash (run the ASan build too).
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>

#include "diskread.h"
#include "dr_treecmp.h"

static char *tmp;
static char *src; /* the synthetic tree */
static int can_mount;

#define MiB (1024ULL * 1024)

/* ---- helpers ------------------------------------------------------------ */

static char *tpath(const char *name)
{
	char *p = malloc(strlen(tmp) + strlen(name) + 2);

	sprintf(p, "%s/%s", tmp, name);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void patch(const char *path, uint64_t off, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Counts the entries of a walk. */
static int count_cb(void *ctx, struct ut_entry *e)
{
	(void)e;
	++*(size_t *)ctx;
	return 0;
}

/*
 * dr_fs_walk's bound: an inode whose size says 2^60 bytes, in a 16 MiB
 * filesystem, stops the walk with its path named; the default limit is the
 * device's size, an explicit one replaces it.
 */
static void test_walk_bounds_file_size(void **state)
{
	struct dr_blockdev *bd = NULL;
	struct dr_fs *fs = NULL;
	struct ut_err err = { { 0 } };
	char img[4096];
	size_t n = 0;

	(void)state;
	if (!tu_have("mke2fs") || !tu_have("debugfs"))
		skip();
	snprintf(img, sizeof(img), "%s/huge-inode.ext4", tmp);
	if (tu_sh("cd '%s' && rm -rf hsrc && mkdir -p hsrc/d && echo x > hsrc/d/big && "
		  "echo y > hsrc/d/wide && mke2fs -q -F -t ext4 -d hsrc huge-inode.ext4 16M && "
		  "debugfs -w -R 'sif /d/big size 0x1000000000000000' huge-inode.ext4 2>/dev/null && "
		  "debugfs -w -R 'sif /d/wide size 0x1000001' huge-inode.ext4 2>/dev/null",
		  tmp) != 0)
		fail_msg("cannot make the huge-inode filesystem");
	if (dr_blockdev_open(img, "raw", &bd, &err) < 0 || dr_fs_open(bd, &fs, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dr_fs_walk(fs, 0, "srv", count_cb, &n, &err), -1);
	assert_non_null(strstr(err.msg, "huge-inode.ext4"));
	assert_non_null(strstr(err.msg, "/srv/d/"));
	assert_non_null(strstr(err.msg, "is more than the limit of 16777216 bytes"));
	assert_null(strchr(err.msg, '\n'));
	/* 16 MiB + 1 fits a 32 MiB limit; 2^60 still does not. */
	assert_int_equal(dr_fs_walk(fs, 32u << 20, "", count_cb, &n, &err), -1);
	assert_non_null(strstr(err.msg, "/d/big: apparent size of 1152921504606846976 bytes"));
	n = 0;
	assert_int_equal(dr_fs_walk(fs, UINT64_MAX, "", count_cb, &n, &err), 0);
	assert_true(n >= 4); /* /, d, big, wide (and lost+found) */
	dr_fs_free(fs);
	dr_blockdev_free(bd);
}

/* The kernel's listing of img (or a slice of it) mounted read-only. */
static struct ut_tree *kernel_tree(const char *img, uint64_t off, uint64_t len)
{
	char *mnt = tpath("mnt");
	struct ut_tree *t = ut_tree_new();

	mkdir(mnt, 0755);
	if (len)
		SH("mount -o ro,loop,offset=%llu,sizelimit=%llu '%s' '%s'",
		   (unsigned long long)off, (unsigned long long)len, img, mnt);
	else
		SH("mount -o ro,loop '%s' '%s'", img, mnt);
	host_list(mnt, "", t);
	tu_sh("umount '%s'", mnt);
	free(mnt);
	return t;
}

/* ---- the synthetic tree ------------------------------------------------- */

static void make_source_tree(void)
{
	char p[4096], longt[201];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	src = tpath("src");
	SH("mkdir -p '%s/dir/sub' '%s/deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16'", src, src);
	SH("cd '%s' && echo hello > file && : > empty && head -c 3000000 /dev/urandom > big && "
	   "truncate -s 5M sparse && printf middle | dd of=sparse bs=1 seek=3000000 conv=notrunc 2>/dev/null && "
	   "echo x > suid && chmod 4755 suid && echo own > owned && chown 1234:5678 owned && "
	   "chown 4321:8765 dir && chmod 0750 dir && "
	   "ln -s file fastlink && ln -s ../../no/such/target dir/sub/dangling && ln file hardlink && "
	   "mkfifo fifo && mknod chr c 1 3 && mknod blk b 8 1 && mknod bigdev c 300 70000 && "
	   "echo sp > 'with space' && echo u > 'ütf8-ñame' && echo deep > deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/leaf && "
	   "setfattr -n user.comment -v hello file && setfattr -n user.bin -v 0x00ff01 empty && "
	   "setfattr -n trusted.t -v 1 owned && "
	   "head -c 900 /dev/zero | tr '\\0' a > xv && setfattr -n user.big -v \"$(cat xv)\" big && rm xv && "
	   "touch -h -d '2001-02-03 04:05:06.123456789' file fastlink && touch -d '1999-12-31 23:59:59' dir/sub",
	   src);
	if (tu_have("setcap"))
		SH("setcap cap_net_raw+ep '%s/suid'", src);
	if (tu_have("setfacl"))
		SH("setfacl -m u:1234:rx,g:5678:r '%s/dir' && setfacl -d -m g:5678:rx '%s/dir'", src, src);
	snprintf(p, sizeof(p), "%s/new\nline", src);
	write_file(p, "nl\n");
	memset(longt, 'L', 200);
	longt[200] = '\0';
	snprintf(p, sizeof(p), "%s/slowlink", src);
	assert_int_equal(symlink(longt, p), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", src);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s >= 0) {
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			fprintf(stderr, "note: no socket in the tree: %s\n", strerror(errno));
		close(s);
	}
}

static int setup(void **state)
{
	char *m;

	tmp = tu_tmpdir();
	if (!tu_have("mke2fs") || !tu_have("sfdisk") || !tu_have("setfattr"))
		tu_skip("needs mke2fs, sfdisk and setfattr");
	make_source_tree();
	/* Loop mounts need root and loop devices; without them the kernel
	 * comparisons are skipped, the rest still runs. */
	m = tpath("probe.img");
	can_mount = tu_sh("mke2fs -q -t ext4 -F '%s' 4M && mkdir -p '%s/mnt' && "
			  "mount -o ro,loop '%s' '%s/mnt' 2>/dev/null && umount '%s/mnt'",
			  m, tmp, m, tmp, tmp) == 0;
	free(m);
	return 0;
}

static int teardown(void **state)
{
	if (getenv("VM2OCI_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", tmp);
	else
		tu_sh("umount '%s/mnt' 2>/dev/null; rm -rf '%s'", tmp, tmp);
	free(src);
	free(tmp);
	return 0;
}

/* ---- filesystems against the kernel ------------------------------------- */

static void fs_vs_kernel(const char *name, const char *mkfs_opts, const char *want_type)
{
	char *img = tpath(name);
	struct dr_fs_info info;
	struct ut_tree *ours, *theirs;
	const struct ut_entry *e;
	int diffs;

	SH("mke2fs -q -F %s -d '%s' '%s' 32M", mkfs_opts, src, img);
	ours = fs_tree(img, &info);
	assert_string_equal(info.type, want_type);
	/* Spot checks that do not need the kernel. */
	e = ut_tree_find(ours, "slowlink");
	assert_non_null(e);
	assert_int_equal(strlen(e->link), 200);
	e = ut_tree_find(ours, "sparse");
	assert_non_null(e);
	/* mke2fs -d -O inline_data drops the trailing hole of a sparse file
	 * (e2fsprogs 1.47.0: size 3000320, debugfs agrees); the kernel
	 * comparison below still checks the size we read. */
	if (!strstr(mkfs_opts, "inline_data"))
		assert_int_equal(e->size, 5 * MiB);
	e = ut_tree_find(ours, "bigdev");
	assert_non_null(e);
	assert_int_equal(e->rdev_major, 300);
	assert_int_equal(e->rdev_minor, 70000);
	e = ut_tree_find(ours, "suid");
	assert_int_equal(e->mode, 04755);
	e = ut_tree_find(ours, "owned");
	assert_int_equal(e->uid, 1234);
	assert_int_equal(e->gid, 5678);
	assert_non_null(ut_entry_find_xattr(e, "trusted.t"));
	assert_int_equal(ut_tree_find(ours, "file")->link_id, ut_tree_find(ours, "hardlink")->link_id);
	assert_int_equal(ut_tree_find(ours, "file")->mtime_sec, 981173106);
	if (!can_mount) {
		ut_tree_free(ours);
		free(img);
		fprintf(stderr, "note: loop mounts unavailable: %s not compared with the kernel\n", name);
		return;
	}
	theirs = kernel_tree(img, 0, 0);
	diffs = compare_trees(ours, "dr_fs", theirs, "kernel");
	fprintf(stderr, "%s: %zu entries compared with the kernel, %d differences\n", name,
		ours->n, diffs);
	assert_int_equal(diffs, 0);
	/* The ACL bytes are the ones getfattr prints. */
	if (tu_have("getfattr") && tu_have("setfacl")) {
		char *mnt = tpath("mnt"), *out;
		const struct ut_xattr *x = ut_entry_find_xattr(ut_tree_find(ours, "dir"),
							       "system.posix_acl_access");
		char *hex;

		assert_non_null(x);
		hex = malloc(2 * x->len + 1);
		ut_hex(x->value, x->len, hex);
		SH("mount -o ro,loop '%s' '%s'", img, mnt);
		out = tu_sh_out("getfattr -h -n system.posix_acl_access -e hex '%s/dir' | "
				"sed -n 's/^system.posix_acl_access=0x//p'", mnt);
		tu_sh("umount '%s'", mnt);
		out[strcspn(out, "\n")] = '\0';
		assert_string_equal(out, hex);
		assert_non_null(ut_entry_find_xattr(ut_tree_find(ours, "dir"),
						    "system.posix_acl_default"));
		free(out);
		free(hex);
		free(mnt);
	}
	ut_tree_free(ours);
	ut_tree_free(theirs);
	free(img);
}

static void test_ext4(void **state)
{
	fs_vs_kernel("ext4.img", "-t ext4", "ext4");
}

static void test_ext2_small_inodes(void **state)
{
	fs_vs_kernel("ext2.img", "-t ext2 -I 128", "ext2");
}

static void test_ext3(void **state)
{
	fs_vs_kernel("ext3.img", "-t ext3", "ext3");
}

static void test_ext4_inline_data(void **state)
{
	fs_vs_kernel("inline.img", "-t ext4 -O inline_data", "ext4");
}

/* lookup, read_path through symlinks, extents matching the content. */
struct ext_check {
	int fd;
	uint64_t total;
	int bad;
	const char *expect;
};

static int ext_cb(void *ctx, uint64_t logical, uint64_t physical, uint64_t len)
{
	struct ext_check *c = ctx;
	char *buf = malloc(len);

	if (pread(c->fd, buf, len, (off_t)physical) != (ssize_t)len)
		c->bad++;
	else if (logical == 0 && memcmp(buf, c->expect, strlen(c->expect)))
		c->bad++;
	c->total += len;
	free(buf);
	return 0;
}

static void test_ext4_lookup_read_extents(void **state)
{
	char *img = tpath("lookup.img"), *root = tpath("lroot");
	struct dr_blockdev *bd;
	struct dr_fs *fs;
	struct ut_err err = { { 0 } };
	struct ut_entry e = { 0 };
	struct ut_buf b;
	struct ext_check c = { 0 };

	SH("mkdir -p '%s/etc' '%s/usr/lib' && echo 'ID=test' > '%s/usr/lib/os-release' && "
	   "ln -s ../usr/lib/os-release '%s/etc/os-release' && ln -s /usr/lib '%s/libl' && "
	   "(echo START; head -c 200000 /dev/urandom) > '%s/usr/lib/data' && "
	   "ln -s loop1 '%s/loop2' && ln -s loop2 '%s/loop1'",
	   root, root, root, root, root, root, root, root);
	SH("mke2fs -q -t ext4 -F -d '%s' '%s' 8M", root, img);
	assert_int_equal(dr_blockdev_open(img, NULL, &bd, &err), 0);
	assert_int_equal(dr_fs_open(bd, &fs, &err), 0);
	assert_int_equal(dr_fs_lookup(fs, "etc/os-release", &e, &err), 1);
	assert_int_equal(e.type, UT_LNK);
	assert_string_equal(e.link, "../usr/lib/os-release");
	ut_entry_release(&e);
	assert_int_equal(dr_fs_lookup(fs, "etc/nothing", &e, &err), 0);
	assert_int_equal(dr_fs_lookup(fs, "", &e, &err), 1);
	assert_int_equal(e.type, UT_DIR);
	ut_entry_release(&e);
	ut_buf_init(&b, 1024);
	assert_int_equal(dr_fs_read_path(fs, "etc/os-release", &b, &err), 0);
	assert_string_equal((char *)b.data, "ID=test\n");
	ut_buf_reset(&b);
	assert_int_equal(dr_fs_read_path(fs, "libl/os-release", &b, &err), 0);
	ut_buf_reset(&b);
	assert_int_not_equal(dr_fs_read_path(fs, "loop1", &b, &err), 0);
	assert_non_null(strstr(err.msg, "too many levels"));
	ut_buf_reset(&b);
	assert_int_not_equal(dr_fs_read_path(fs, "usr/lib/data", &b, &err), 0);
	assert_non_null(strstr(err.msg, "more than"));
	ut_buf_release(&b);
	/* Extents point at the bytes the file holds. */
	assert_int_equal(dr_fs_lookup(fs, "usr/lib/data", &e, &err), 1);
	c.fd = open(img, O_RDONLY);
	c.expect = "START";
	assert_int_equal(dr_fs_extents(fs, e.src_b, ext_cb, &c, &err), 0);
	assert_int_equal(c.bad, 0);
	assert_true(c.total >= e.size);
	close(c.fd);
	ut_entry_release(&e);
	dr_fs_free(fs);
	dr_blockdev_free(bd);
	free(img);
	free(root);
}

/* ---- partition tables against partx (libblkid) --------------------------- */

/* Our partitions in `partx -g -r -o NR,START,SECTORS,TYPE,UUID,NAME` form. */
static char *our_partx(const char *img, const char **scheme_out)
{
	struct dr_blockdev *bd;
	struct dr_partition *p;
	struct ut_err err = { { 0 } };
	struct ut_buf b;
	const char *scheme;
	size_t n, i;

	ut_buf_init(&b, 0);
	assert_int_equal(dr_blockdev_open(img, "raw", &bd, &err), 0);
	if (dr_partitions_read(bd, &p, &n, &scheme, &err) < 0)
		fail_msg("%s", err.msg);
	for (i = 0; i < n; i++) {
		char name[300], type[40];

		escape_into(name, sizeof(name), p[i].name);
		if (p[i].type_guid[0])
			snprintf(type, sizeof(type), "%s", p[i].type_guid);
		else
			snprintf(type, sizeof(type), "0x%x", p[i].mbr_type);
		ut_buf_addf(&b, NULL, "%d %llu %llu %s %s %s\n", p[i].number,
			    (unsigned long long)p[i].start / 512, (unsigned long long)p[i].size / 512,
			    type, p[i].part_uuid, name);
	}
	if (scheme_out)
		*scheme_out = scheme;
	if (!b.len)
		ut_buf_addstr(&b, "", NULL);
	free(p);
	dr_blockdev_free(bd);
	return ut_buf_detach(&b, NULL);
}

static void check_partx(const char *img, const char *want_scheme)
{
	const char *scheme;
	char *ours = our_partx(img, &scheme);
	char *theirs = tu_sh_out("partx -g -r -o NR,START,SECTORS,TYPE,UUID,NAME '%s'", img);

	fprintf(stderr, "partx:\n%sdr_partitions_read:\n%s", theirs, ours);
	assert_string_equal(scheme, want_scheme);
	assert_string_equal(ours, theirs);
	free(ours);
	free(theirs);
}

static void test_gpt(void **state)
{
	char *img = tpath("gpt.img");

	SH("truncate -s 40M '%s' && printf 'label: gpt\\nsize=10MiB,type=L,name=\"boot part\"\\n"
	   "size=4MiB,type=S\\nsize=8MiB,type=U,name=\"röot ünïcode\"\\n' | sfdisk -q '%s'", img, img);
	check_partx(img, "gpt");
	free(img);
}

static void test_mbr_logical(void **state)
{
	char *img = tpath("mbr.img");

	SH("truncate -s 40M '%s' && printf 'label: dos\\nlabel-id: 0x1234abcd\\nsize=10MiB,type=83\\n"
	   "type=5\\nsize=8MiB,type=83\\nsize=4MiB,type=82\\ntype=83\\n' | sfdisk -q '%s'", img, img);
	check_partx(img, "mbr");
	free(img);
}

/* A disk with 4096-byte logical sectors: the GPT header sits at byte 4096. */
static void test_gpt_4k(void **state)
{
	char *img = tpath("gpt4k.img"), *ours, *theirs;
	const char *scheme;

	SH("truncate -s 64M '%s'", img);
	theirs = tu_sh_out("L=$(losetup -f --show -b 4096 '%s') && "
			   "printf 'label: gpt\\nsize=8MiB,name=a\\nsize=8MiB,name=b\\n' | sfdisk -q $L >/dev/null 2>&1; "
			   "partx -g -r -o NR,START,SECTORS,TYPE,UUID,NAME $L; losetup -d $L", img);
	if (!*theirs) {
		free(theirs);
		free(img);
		tu_skip_case("no 4096-byte-sector loop device");
	}
	ours = our_partx(img, &scheme);
	fprintf(stderr, "partx (4K loop):\n%sdr_partitions_read:\n%s", theirs, ours);
	assert_string_equal(scheme, "gpt");
	assert_string_equal(ours, theirs);
	free(ours);
	free(theirs);
	free(img);
}

static void test_gpt_bad_crc(void **state)
{
	char *img = tpath("gptbad.img");
	char *before, *after;
	struct dr_blockdev *bd;
	struct dr_partition *p;
	struct ut_err err = { { 0 } };
	const char *scheme;
	size_t n;
	unsigned char junk = 0x5a;

	SH("truncate -s 20M '%s' && printf 'label: gpt\\nsize=4MiB\\nsize=4MiB\\n' | sfdisk -q '%s'",
	   img, img);
	before = our_partx(img, NULL);
	/* Primary header damaged: the backup at the end is used (as Linux). */
	patch(img, 512 + 40, &junk, 1);
	after = our_partx(img, &scheme);
	assert_string_equal(scheme, "gpt");
	assert_string_equal(before, after);
	free(after);
	/* Backup damaged too: a clear error. */
	patch(img, 20 * MiB - 512 + 40, &junk, 1);
	assert_int_equal(dr_blockdev_open(img, "raw", &bd, &err), 0);
	assert_int_not_equal(dr_partitions_read(bd, &p, &n, &scheme, &err), 0);
	fprintf(stderr, "error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "bad CRC32"));
	assert_non_null(strstr(err.msg, img));
	dr_blockdev_free(bd);
	/* A damaged entry array is caught by its own CRC. */
	SH("printf 'label: gpt\\nsize=4MiB\\nsize=4MiB\\n' | sfdisk -q '%s'", img);
	free(before);
	before = our_partx(img, NULL);
	patch(img, 1024 + 200, &junk, 1);
	after = our_partx(img, &scheme);
	assert_string_equal(before, after);
	free(after);
	free(before);
	free(img);
}

static void test_mbr_ebr_loop(void **state)
{
	char *img = tpath("ebrloop.img"), *ours;
	unsigned char ent[16] = { 0 };
	const char *scheme;

	SH("truncate -s 40M '%s' && printf 'label: dos\\nlabel-id: 0x0badf00d\\nsize=4MiB,type=83\\n"
	   "type=5\\nsize=4MiB,type=83\\nsize=4MiB,type=83\\n' | sfdisk -q '%s'", img, img);
	/* The second EBR's link points back at the first EBR: a loop. */
	{
		char *dump = tu_sh_out("partx -g -r -o START -n 6 '%s'", img);
		unsigned long long ebr2 = strtoull(dump, NULL, 10) - 2048;

		free(dump);
		ent[4] = 0x05;
		ent[8] = 0; /* start 0: relative to the extended partition, the first EBR */
		ent[12] = 8;
		patch(img, ebr2 * 512 + 446 + 16, ent, 16);
	}
	ours = our_partx(img, &scheme);
	fprintf(stderr, "with an EBR loop:\n%s", ours);
	assert_string_equal(scheme, "mbr");
	assert_non_null(strstr(ours, "5 "));
	assert_non_null(strstr(ours, "\n6 "));
	assert_null(strstr(ours, "\n7 "));
	free(ours);
	free(img);
}

static void test_no_table(void **state)
{
	char *img = tpath("bare.img"), *ours;
	const char *scheme;

	SH("mke2fs -q -t ext4 -F '%s' 8M", img);
	ours = our_partx(img, &scheme);
	assert_string_equal(scheme, "none");
	assert_string_equal(ours, "");
	free(ours);
	free(img);
}

/* ---- whole guests ------------------------------------------------------- */

static void digest_tree(struct ut_tree *t);

static const char root_uuid[] = "2f0e9a4c-1b7d-4e55-9c3a-0d1e2f3a4b5c";
static const char boot_uuid[] = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d";
static const char boot_partuuid[] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/* A small root tree: os-release (a symlink as in Debian), hostname, a real
 * ELF binary, merged /usr, a dpkg status, and a file hidden under /boot. */
static char *make_root(const char *name, const char *fstab)
{
	char *r = tpath(name);

	SH("mkdir -p '%s/etc' '%s/usr/bin' '%s/usr/lib' '%s/boot' '%s/var/lib/dpkg' '%s/srv' && "
	   "ln -s usr/bin '%s/bin' && cp /bin/ls '%s/usr/bin/ls' && ln -s ls '%s/usr/bin/sh' && "
	   "printf 'PRETTY_NAME=\"Test GNU/Linux 12 (bookworm)\"\\nNAME=\"Test\"\\nVERSION_ID=\"12\"\\nID=debian\\n' > '%s/usr/lib/os-release' && "
	   "ln -s ../usr/lib/os-release '%s/etc/os-release' && echo guest-host > '%s/etc/hostname' && "
	   "echo 'Package: x' > '%s/var/lib/dpkg/status' && echo hidden > '%s/boot/hidden-under-mount'",
	   r, r, r, r, r, r, r, r, r, r, r, r, r, r);
	{
		char *p = ut_asprintf("%s/etc/fstab", r);

		write_file(p, fstab);
		free(p);
	}
	return r;
}

static char *make_boot(void)
{
	char *b = tpath("bootsrc");

	SH("mkdir -p '%s/grub' && head -c 100000 /dev/urandom > '%s/vmlinuz-test' && "
	   "echo 'set timeout=1' > '%s/grub/grub.cfg'", b, b, b);
	return b;
}

static const char *host_arch(void)
{
	static char a[32];
	char *o = tu_sh_out("dpkg --print-architecture 2>/dev/null || uname -m");

	snprintf(a, sizeof(a), "%.*s", (int)strcspn(o, "\n"), o);
	free(o);
	return a;
}

/* The kernel's view of the whole guest: every mount of the plan, stacked. */
static struct ut_tree *kernel_guest(const char *img, struct dr_disk *d)
{
	char *mnt = tpath("mnt");
	const struct dr_mount *m;
	const struct dr_partition *parts;
	size_t nm, np, i, k;
	struct ut_tree *t = ut_tree_new();

	mkdir(mnt, 0755);
	m = dr_disk_mounts(d, &nm);
	parts = dr_disk_partitions(d, &np);
	for (i = 0; i < nm; i++) {
		uint64_t off = 0, len = 0;

		for (k = 0; k < np; k++)
			if (parts[k].number == m[i].partition) {
				off = parts[k].start;
				len = parts[k].size;
			}
		if (len)
			SH("mount -o ro,loop,offset=%llu,sizelimit=%llu '%s' '%s/%s'",
			   (unsigned long long)off, (unsigned long long)len, img, mnt,
			   m[i].mountpoint);
		else
			SH("mount -o ro,loop '%s' '%s/%s'", img, mnt, m[i].mountpoint);
	}
	host_list(mnt, "", t);
	for (i = nm; i-- > 0;)
		tu_sh("umount '%s/%s'", mnt, m[i].mountpoint);
	free(mnt);
	return t;
}

static void guest_vs_kernel(const char *img, struct dr_disk *d)
{
	struct ut_err err = { { 0 } };
	struct ut_tree *t, *k;
	double t0 = ut_now();
	int diffs;

	if (dr_disk_tree(d, 0, &t, &err) < 0) {
		if (strstr(err.msg, "appliance did not start"))
			tu_skip_case(err.msg); /* this machine, not the image */
		fail_msg("%s", err.msg);
	}
	digest_tree(t);
	fprintf(stderr, "%s: tree of %zu entries with digests in %.2f s\n", img, t->n,
		ut_now() - t0);
	if (!can_mount) {
		ut_tree_free(t);
		return;
	}
	k = kernel_guest(img, d);
	diffs = compare_trees(t, "dr_disk", k, "kernel");
	assert_int_equal(diffs, 0);
	ut_tree_free(t);
	ut_tree_free(k);
}

static void test_guest_gpt(void **state)
{
	char *fstab = ut_asprintf("# /etc/fstab: static file system information.\n"
				  "UUID=%s /               ext4    errors=remount-ro 0       1\n"
				  "PARTUUID=%s /boot           ext4    defaults        0       2\n"
				  "/dev/mapper/vg-swap none swap sw 0 0\n"
				  "proc /proc proc defaults 0 0\ntmpfs /tmp tmpfs defaults 0 0\n",
				  root_uuid, boot_partuuid);
	char *root = make_root("groot", fstab), *boot = make_boot();
	char *img = tpath("guest-gpt.img"), *rimg = tpath("groot.img"), *bimg = tpath("gboot.img");
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	const struct dr_mount *m;
	const struct dr_os_info *os;
	struct ut_tree *t;
	struct ut_entry *e;
	struct ut_buf b;
	size_t n;

	SH("mke2fs -q -t ext4 -U %s -F -d '%s' '%s' 16M && mke2fs -q -t ext4 -U %s -L rootfs -F -d '%s' '%s' 40M",
	   boot_uuid, boot, bimg, root_uuid, root, rimg);
	SH("truncate -s 64M '%s' && printf 'label: gpt\\nsize=16MiB,name=boot,uuid=%s\\nsize=40MiB,name=root\\n' | sfdisk -q '%s' && "
	   "dd if='%s' of='%s' bs=1M seek=1 conv=notrunc status=none && "
	   "dd if='%s' of='%s' bs=1M seek=17 conv=notrunc status=none",
	   img, boot_partuuid, img, bimg, img, rimg, img);
	if (dr_disk_open(img, NULL, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(dr_disk_scheme(d), "gpt");
	dr_disk_partitions(d, &n);
	assert_int_equal(n, 2);
	assert_string_equal(dr_disk_partition_fs(d, 0)->uuid, boot_uuid);
	assert_string_equal(dr_disk_partition_fs(d, 1)->label, "rootfs");
	m = dr_disk_mounts(d, &n);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].mountpoint, "");
	assert_int_equal(m[0].partition, 2);
	assert_string_equal(m[1].mountpoint, "boot");
	assert_int_equal(m[1].partition, 1);
	assert_string_equal(m[1].fs.type, "ext4");
	os = dr_disk_os(d);
	assert_string_equal(os->distro, "debian");
	assert_string_equal(os->version, "12");
	assert_string_equal(os->pretty_name, "Test GNU/Linux 12 (bookworm)");
	assert_string_equal(os->hostname, "guest-host");
	assert_string_equal(os->arch, host_arch());
	assert_string_equal(os->package_format, "deb");
	/* Reads across the mount point and through symlinks. */
	ut_buf_init(&b, 4096);
	assert_int_equal(dr_disk_read_file(d, "boot/grub/grub.cfg", &b, &err), 0);
	assert_string_equal((char *)b.data, "set timeout=1\n");
	ut_buf_reset(&b);
	/* bin -> usr/bin, so /bin/.. is /usr, as the kernel resolves it. */
	assert_int_not_equal(dr_disk_read_file(d, "/bin/../etc/./os-release", &b, &err), 0);
	assert_int_equal(dr_disk_read_file(d, "/bin/../../etc/./os-release", &b, &err), 0);
	assert_non_null(strstr((char *)b.data, "ID=debian"));
	ut_buf_reset(&b);
	assert_int_not_equal(dr_disk_read_file(d, "boot/hidden-under-mount", &b, &err), 0);
	ut_buf_release(&b);
	assert_int_equal(dr_disk_tree(d, 1, &t, &err), 0);
	e = ut_tree_find(t, "boot/vmlinuz-test");
	assert_non_null(e);
	assert_true(e->has_digest);
	assert_null(ut_tree_find(t, "boot/hidden-under-mount"));
	assert_non_null(ut_tree_find(t, "boot/lost+found"));
	assert_int_not_equal(ut_tree_find(t, "boot")->src_a, ut_tree_find(t, "etc")->src_a);
	ut_tree_free(t);
	guest_vs_kernel(img, d);
	dr_disk_free(d);
	/* The same disk as qcow2, through the block layer. */
	if (tu_have("qemu-img")) {
		char *q = tpath("guest-gpt.qcow2");

		SH("qemu-img convert -f raw -O qcow2 '%s' '%s'", img, q);
		if (dr_disk_open(q, NULL, &d, &err) < 0)
			fail_msg("%s", err.msg);
		dr_disk_mounts(d, &n);
		assert_int_equal(n, 2);
		assert_int_equal(dr_disk_tree(d, 1, &t, &err), 0);
		assert_non_null(ut_tree_find(t, "boot/vmlinuz-test"));
		ut_tree_free(t);
		dr_disk_free(d);
		free(q);
	}
	free(fstab);
	free(root);
	free(boot);
	free(img);
	free(rimg);
	free(bimg);
}

static void test_guest_mbr_logical_and_garbage_fstab(void **state)
{
	char *fstab = ut_strdup("/dev/sda5 / ext4 defaults 0 1\n"
				"/dev/sda1\t/boot\text2\tdefaults\t0 2\n"
				"/dev/disk/by-label/srvdata /srv ext4 defaults 0 2\n"
				"/dev/mapper/vg-home /home xfs defaults 0 2\n"
				"garbage\n"
				"   # indented comment\n"
				"\x01\x02\xff binary junk here\n"
				"UUID=00000000-0000-0000-0000-000000000000 /data ext4 defaults 0 0\n"
				"/dev/sda9 /nine ext4 defaults 0 0\n"
				"/dev/sda6 /../../escape ext4 defaults 0 0\n"
				"server:/export /mnt/nfs nfs defaults 0 0\n"
				"/srv /srv2 none bind 0 0\n");
	char *root = make_root("mroot", fstab), *boot = make_boot();
	char *img = tpath("guest-mbr.img"), *rimg = tpath("mroot.img"), *bimg = tpath("mboot.img");
	char *simg = tpath("msrv.img"), *ssrc = tpath("srvsrc");
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	const struct dr_mount *m;
	const char *const *w;
	size_t n, i;
	int saw_mapper = 0;

	SH("mkdir -p '%s/www' && echo page > '%s/www/index.html'", ssrc, ssrc);
	SH("mke2fs -q -t ext2 -F -d '%s' '%s' 8M && mke2fs -q -t ext4 -F -d '%s' '%s' 24M && "
	   "mke2fs -q -t ext4 -L srvdata -F -d '%s' '%s' 8M", boot, bimg, root, rimg, ssrc, simg);
	/* p1 8M boot, p2 extended { p5 24M root, p6 8M srv }, p3 swap. */
	SH("truncate -s 80M '%s' && printf 'label: dos\\nlabel-id: 0xdeadbeef\\n"
	   "x1 : start=2048, size=16384, type=83\\nx2 : start=18432, size=98304, type=5\\n"
	   "x3 : start=116736, size=16384, type=82\\nx5 : start=20480, size=49152, type=83\\n"
	   "x6 : start=71680, size=16384, type=83\\n' | sfdisk -q '%s'",
	   img, img);
	{
		char *starts = tu_sh_out("partx -g -r -o START '%s' | tr '\\n' ' '", img);
		unsigned long long s1, s2, s3, s5, s6;

		assert_int_equal(sscanf(starts, "%llu %llu %llu %llu %llu", &s1, &s2, &s3, &s5, &s6), 5);
		SH("dd if='%s' of='%s' bs=512 seek=%llu conv=notrunc status=none && "
		   "dd if='%s' of='%s' bs=512 seek=%llu conv=notrunc status=none && "
		   "dd if='%s' of='%s' bs=512 seek=%llu conv=notrunc status=none",
		   bimg, img, s1, rimg, img, s5, simg, img, s6);
		SH("L=$(losetup -f --show -o %llu --sizelimit %llu '%s') && mkswap -q $L >/dev/null; losetup -d $L",
		   s3 * 512, 8 * MiB, img);
		free(starts);
	}
	/* The mount rule: the first local mount that cannot be read (here an
	 * LV on no disk) fails the open, naming it; left out on request, the
	 * open goes on and records what it left out. */
	assert_int_equal(dr_disk_open(img, NULL, &d, &err), -1);
	assert_non_null(strstr(err.msg, "/home (/dev/mapper/vg-home) cannot be mounted"));
	{
		static const char *const skip[] = { "/home", "/data", "/nine/" };
		struct dr_disk_options opt = { .skip_mounts = skip, .nskip_mounts = 3 };
		const char *const *sk;

		if (dr_disk_open(img, &opt, &d, &err) < 0)
			fail_msg("%s", err.msg);
		sk = dr_disk_skipped_mounts(d, &n);
		assert_int_equal(n, 3);
		assert_string_equal(sk[0], "/home");
		assert_string_equal(sk[1], "/data");
		assert_string_equal(sk[2], "/nine");
	}
	assert_string_equal(dr_disk_scheme(d), "mbr");
	m = dr_disk_mounts(d, &n);
	for (i = 0; i < n; i++)
		fprintf(stderr, "mount /%s <- %s (partition %d, %s)\n", m[i].mountpoint, m[i].spec,
			m[i].partition, m[i].fs.type);
	w = dr_disk_warnings(d, &n);
	for (i = 0; i < n; i++) {
		fprintf(stderr, "warning: %s\n", w[i]);
		saw_mapper |= strstr(w[i], "/dev/mapper/vg-home") != NULL;
	}
	assert_true(saw_mapper);
	m = dr_disk_mounts(d, &n);
	assert_int_equal(n, 3);
	assert_string_equal(m[0].mountpoint, "");
	assert_int_equal(m[0].partition, 5);
	assert_string_equal(m[0].spec, "/dev/sda5");
	assert_string_equal(m[1].mountpoint, "boot");
	assert_int_equal(m[1].partition, 1);
	assert_string_equal(m[1].fs.type, "ext2");
	assert_string_equal(m[2].mountpoint, "srv");
	assert_int_equal(m[2].partition, 6);
	assert_string_equal(dr_disk_partition_fs(d, 2)->type, "swap");
	assert_string_equal(dr_disk_os(d)->hostname, "guest-host");
	guest_vs_kernel(img, d);
	dr_disk_free(d);
	free(fstab);
	free(root);
	free(boot);
	free(img);
	free(rimg);
	free(bimg);
	free(simg);
	free(ssrc);
}

static void test_guest_bare(void **state)
{
	char *root = make_root("broot", "/dev/vda1 / ext4 defaults 0 1\n");
	char *img = tpath("guest-bare.img");
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	const struct dr_mount *m;
	size_t n;

	SH("mke2fs -q -t ext4 -F -d '%s' '%s' 24M", root, img);
	if (dr_disk_open(img, NULL, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(dr_disk_scheme(d), "none");
	dr_disk_partitions(d, &n);
	assert_int_equal(n, 0);
	m = dr_disk_mounts(d, &n);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].partition, 0);
	assert_string_equal(m[0].fs.type, "ext4");
	assert_string_equal(dr_disk_os(d)->distro, "debian");
	guest_vs_kernel(img, d);
	dr_disk_free(d);
	/* needs_recovery over a clean journal (s_start 0): nothing to replay;
	 * with --no-replay a warning says the journal is not replayed. */
	{
		unsigned char f;
		int fd = open(img, O_RDWR);
		const char *const *w;
		struct dr_disk_options o = { .no_replay = 1 };
		int saw = 0;

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &f, 1, 1024 + 0x60), 1);
		f |= 0x04;
		assert_int_equal(pwrite(fd, &f, 1, 1024 + 0x60), 1);
		close(fd);
		if (dr_disk_open(img, NULL, &d, &err) < 0)
			fail_msg("%s", err.msg);
		w = dr_disk_warnings(d, &n);
		while (n--)
			assert_null(strstr(w[n], "journal"));
		dr_disk_free(d);
		if (dr_disk_open(img, &o, &d, &err) < 0)
			fail_msg("%s", err.msg);
		w = dr_disk_warnings(d, &n);
		while (n--)
			saw |= strstr(w[n], "journal needs recovery") != NULL;
		assert_true(saw);
		dr_disk_free(d);
	}
	free(root);
	free(img);
}

/* No os-release, no hostname file: the older fallbacks. */
static void test_guest_rhel_fallbacks(void **state)
{
	char *r = tpath("c5root"), *img = tpath("c5.img");
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	const struct dr_os_info *os;

	SH("mkdir -p '%s/etc/sysconfig' '%s/usr/bin' '%s/bin' '%s/var/lib/rpm' && cp /bin/ls '%s/bin/ls' && "
	   "echo 'LABEL=/ / ext3 defaults 1 1' > '%s/etc/fstab' && "
	   "echo 'CentOS release 5.11 (Final)' > '%s/etc/redhat-release' && "
	   "printf 'NETWORKING=yes\\nHOSTNAME=\"c5.example.com\"\\n' > '%s/etc/sysconfig/network' && "
	   "mke2fs -q -t ext3 -L / -F -d '%s' '%s' 16M", r, r, r, r, r, r, r, r, r, img);
	if (dr_disk_open(img, NULL, &d, &err) < 0)
		fail_msg("%s", err.msg);
	os = dr_disk_os(d);
	assert_string_equal(os->distro, "centos");
	assert_string_equal(os->version, "5.11");
	assert_string_equal(os->pretty_name, "CentOS release 5.11 (Final)");
	assert_string_equal(os->hostname, "c5.example.com");
	assert_string_equal(os->package_format, "rpm");
	assert_string_equal(os->arch, host_arch());
	assert_string_equal(dr_disk_mounts(d, &(size_t){ 0 })[0].fs.type, "ext3");
	dr_disk_free(d);
	free(r);
	free(img);
}

/* An ext4 root with /home on xfs: the xfs part is read through libguestfs
 * (its appliance, not our block layer) and must equal the kernel's view. */
static void test_guest_xfs_home_guestfs(void **state)
{
	static const char xfs_uuid[] = "5b1e0c2d-9a8f-4e7d-b6c5-a4f3e2d1c0b9";
	char *fstab = ut_asprintf("UUID=%s / ext4 defaults 0 1\nUUID=%s /home xfs defaults 0 2\n",
				  root_uuid, xfs_uuid);
	char *root, *img, *rimg, *ximg, *mnt;
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	const struct dr_mount *m;
	size_t n;

	if (!tu_have("mkfs.xfs") || !can_mount) {
		free(fstab);
		tu_skip_case("needs mkfs.xfs and loop mounts");
	}
	if (!getenv("LIBGUESTFS_BACKEND_SETTINGS") && access("/dev/kvm", R_OK | W_OK) != 0)
		setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg", 0);
	root = make_root("xroot", fstab);
	img = tpath("guest-xfs.img");
	rimg = tpath("xroot.img");
	ximg = tpath("xhome.img");
	mnt = tpath("mnt");
	SH("mkdir -p '%s/home' && mke2fs -q -t ext4 -U %s -F -d '%s' '%s' 40M", root, root_uuid,
	   root, rimg);
	SH("truncate -s 320M '%s' && mkfs.xfs -q -f -m uuid=%s -L home '%s' && mkdir -p '%s' && "
	   "mount -o loop '%s' '%s' && cp -a '%s/.' '%s/' && umount '%s'",
	   ximg, xfs_uuid, ximg, mnt, ximg, mnt, src, mnt, mnt);
	SH("truncate -s 400M '%s' && printf 'label: gpt\\nsize=40MiB,name=root\\nsize=320MiB,name=home\\n' | sfdisk -q '%s' && "
	   "dd if='%s' of='%s' bs=1M seek=1 conv=notrunc,sparse status=none && "
	   "dd if='%s' of='%s' bs=1M seek=41 conv=notrunc,sparse status=none",
	   img, img, rimg, img, ximg, img);
	if (dr_disk_open(img, NULL, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(dr_disk_partition_fs(d, 1)->type, "xfs");
	assert_string_equal(dr_disk_partition_fs(d, 1)->uuid, xfs_uuid);
	assert_string_equal(dr_disk_partition_fs(d, 1)->label, "home");
	m = dr_disk_mounts(d, &n);
	assert_int_equal(n, 2);
	assert_string_equal(m[1].mountpoint, "home");
	assert_string_equal(m[1].fs.type, "xfs");
	guest_vs_kernel(img, d);
	dr_disk_free(d);
	free(fstab);
	free(root);
	free(img);
	free(rimg);
	free(ximg);
	free(mnt);
}

/* FAT and exFAT (an EFI system partition, a USB stick): type, the serial
 * fstab's UUID=XXXX-XXXX names and the label, as blkid reads them. */
static void test_fat_probe_like_blkid(void **state)
{
	static const struct {
		const char *mkfs, *type;
	} cases[] = {
		{ "mkfs.vfat -F 32 -i 5646a0b1 -n ESP", "vfat" },
		{ "mkfs.vfat -F 16 -i 00c0ffee -n SMALL16", "vfat" },
		{ "mkfs.vfat -F 12 -i 12345678", "vfat" },
		{ "mkfs.exfat -L EXF", "exfat" },
	};
	size_t i;

	(void)state;
	if (!tu_have("blkid"))
		skip();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *img = tpath("fat.img"), *want_uuid, *want_label;
		const char *tool = cases[i].mkfs;
		struct dr_blockdev *bd;
		struct dr_fs *fs;
		const struct dr_fs_info *info;
		struct ut_err err = { { 0 } };

		if (!strncmp(tool, "mkfs.exfat", 10) && !tu_have("mkfs.exfat"))
			continue;
		SH("rm -f '%s' && truncate -s 40M '%s' && %s '%s' >/dev/null", img, img, tool, img);
		want_uuid = tu_sh_out("blkid -p -s UUID -o value '%s' | tr -d '\\n'", img);
		want_label = tu_sh_out("blkid -p -s LABEL -o value '%s' | tr -d '\\n'", img);
		assert_int_equal(dr_blockdev_open(img, "raw", &bd, &err), 0);
		/* open only: libguestfs launches on first use, not here */
		assert_int_equal(dr_fs_open(bd, &fs, &err), 0);
		info = dr_fs_info(fs);
		assert_string_equal(info->type, cases[i].type);
		assert_string_equal(info->uuid, want_uuid);
		if (strcmp(cases[i].type, "exfat")) /* exFAT's label is in its root dir */
			assert_string_equal(info->label, want_label);
		dr_fs_free(fs);
		dr_blockdev_free(bd);
		free(want_uuid);
		free(want_label);
		free(img);
	}
}

/* ---- bad inputs --------------------------------------------------------- */

static void test_no_root(void **state)
{
	char *img = tpath("noroot.img"), *data = tpath("data.img");
	struct dr_disk *d = NULL;
	struct ut_err err = { { 0 } };

	SH("mke2fs -q -t ext4 -F '%s' 8M && truncate -s 32M '%s' && "
	   "printf 'label: gpt\\nsize=8MiB\\nsize=8MiB,type=S\\n' | sfdisk -q '%s' && "
	   "dd if='%s' of='%s' bs=1M seek=1 conv=notrunc status=none",
	   data, img, img, data, img);
	SH("L=$(losetup -f --show -o %llu --sizelimit %llu '%s') && mkswap -q $L >/dev/null; losetup -d $L",
	   9 * MiB, 8 * MiB, img);
	assert_int_not_equal(dr_disk_open(img, NULL, &d, &err), 0);
	assert_null(d);
	fprintf(stderr, "error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, img));
	assert_non_null(strstr(err.msg, "no Linux root filesystem found (2 filesystems: ext4 on partition 1, swap on partition 2"));
	free(img);
	free(data);
}

static void expect_fs_error(const char *img, const char *needle)
{
	struct dr_blockdev *bd;
	struct dr_fs *fs = NULL;
	struct ut_err err = { { 0 } };

	assert_int_equal(dr_blockdev_open(img, "raw", &bd, &err), 0);
	assert_int_not_equal(dr_fs_open(bd, &fs, &err), 0);
	assert_null(fs);
	fprintf(stderr, "error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, img));
	if (needle)
		assert_non_null(strstr(err.msg, needle));
	dr_blockdev_free(bd);
}

/* Opens, walks and reads everything; any outcome but a crash is fine. */
static int survive(const char *img)
{
	struct dr_blockdev *bd = NULL;
	struct dr_fs *fs = NULL;
	struct ut_err err = { { 0 } };
	struct ut_tree *t = ut_tree_new();
	int rc = -1;

	if (dr_blockdev_open(img, "raw", &bd, &err) < 0)
		goto out;
	if (dr_fs_open(bd, &fs, &err) < 0)
		goto out;
	if (dr_fs_walk(fs, 0, "", take_cb, t, &err) < 0)
		goto out;
	t->content.ops = &fs_content;
	t->content.ctx = fs;
	rc = ut_tree_digest_all(t, &err);
out:
	if (rc < 0)
		assert_true(err.msg[0] != '\0');
	t->content.ops = NULL;
	ut_tree_free(t);
	dr_fs_free(fs);
	dr_blockdev_free(bd);
	return rc;
}

static void test_corrupt_ext4(void **state)
{
	char *img = tpath("corrupt.img"), *copy = tpath("corrupt2.img");
	uint32_t zero = 0, bad_log = 9;
	uint64_t seed = 0x1234567887654321ULL;
	int i, ok = 0;

	SH("mke2fs -q -t ext4 -F -d '%s' '%s' 16M", src, img);
	/* s_inodes_per_group = 0 */
	SH("cp '%s' '%s'", img, copy);
	patch(copy, 1024 + 0x28, &zero, 4);
	expect_fs_error(copy, "cannot open");
	/* An absurd block size: not ext at all any more. */
	SH("cp '%s' '%s'", img, copy);
	patch(copy, 1024 + 0x18, &bad_log, 4);
	expect_fs_error(copy, "no filesystem");
	/* Truncated image: the groups lie beyond its end. */
	SH("cp '%s' '%s' && truncate -s 300K '%s'", img, copy, copy);
	assert_int_not_equal(survive(copy), 0);
	/* Hostile metadata: random bytes over the inode tables and directory
	 * blocks, many times; clean errors or success, never a crash. */
	for (i = 0; i < 40; i++) {
		int k, fd;

		SH("cp '%s' '%s'", img, copy);
		fd = open(copy, O_WRONLY);
		for (k = 0; k < 64; k++) {
			unsigned char b;
			uint64_t off;

			seed ^= seed >> 12;
			seed ^= seed << 25;
			seed ^= seed >> 27;
			off = 4096 + (seed * 2685821657736338717ULL) % (2 * MiB);
			b = (unsigned char)(seed >> 7);
			assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
		}
		close(fd);
		ok += survive(copy) == 0;
	}
	fprintf(stderr, "randomly damaged images: %d of 40 still read completely\n", ok);
	free(img);
	free(copy);
}

/* ---- the debootstrap fixture -------------------------------------------- */

/*
 * Digests every regular file through t->content with one reused buffer
 * (ut_tree_digest_all allocates 1 MiB per file, which under ASan costs a
 * fresh mmap each: 70x slower on the debootstrap fixtures).
 */
static void digest_tree(struct ut_tree *t)
{
	static unsigned char buf[1 << 20];
	struct ut_err err = { { 0 } };
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct ut_entry *e = &t->v[i];
		struct ut_sha256 h;
		void *hd = NULL;
		uint64_t total = 0;
		ssize_t n;

		if (e->type != UT_REG)
			continue;
		if (t->content.ops->open(t->content.ctx, e, &hd, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(ut_sha256_init(&h), 0);
		while ((n = t->content.ops->read(t->content.ctx, hd, buf, sizeof(buf), &err)) > 0) {
			ut_sha256_update(&h, buf, (size_t)n);
			total += (uint64_t)n;
		}
		if (n < 0)
			fail_msg("%s", err.msg);
		t->content.ops->close(t->content.ctx, hd);
		ut_sha256_final(&h, e->digest);
		ut_sha256_release(&h);
		e->has_digest = 1;
		assert_int_equal(total, e->size);
	}
}

/* Walks a fixture disk and times it; raw ones are compared with the
 * kernel's view of the same mounts. Returns the digested tree, or NULL when
 * the fixture is absent. */
static struct ut_tree *fixture_tree(const char *name, int raw)
{
	char *img = tu_fixture_path(name);
	struct dr_disk *d;
	struct ut_err err = { { 0 } };
	struct ut_tree *t, *k;
	double t0, t1;
	size_t n, i;
	const struct dr_mount *m;

	if (!img) {
		fprintf(stderr, "skipped: no %s in VM2OCI_FIXTURES\n", name);
		return NULL;
	}
	t0 = ut_now();
	if (dr_disk_open(img, NULL, &d, &err) < 0)
		fail_msg("%s", err.msg);
	m = dr_disk_mounts(d, &n);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%s: mount /%s <- %s (partition %d, %s)\n", name, m[i].mountpoint,
			m[i].spec, m[i].partition, m[i].fs.type);
	fprintf(stderr, "%s: os %s %s (%s) host %s arch %s packages %s\n", name,
		dr_disk_os(d)->distro, dr_disk_os(d)->version, dr_disk_os(d)->pretty_name,
		dr_disk_os(d)->hostname, dr_disk_os(d)->arch, dr_disk_os(d)->package_format);
	assert_string_equal(dr_disk_os(d)->distro, "debian");
	assert_string_equal(dr_disk_os(d)->package_format, "deb");
	if (dr_disk_tree(d, 0, &t, &err) < 0)
		fail_msg("%s", err.msg);
	t1 = ut_now();
	fprintf(stderr, "%s: open + walk of %zu entries in %.2f s (%.0f entries/s)\n", name, t->n,
		t1 - t0, (double)t->n / (t1 - t0));
	digest_tree(t);
	fprintf(stderr, "%s: sha256 of every file in %.2f s\n", name, ut_now() - t1);
	if (raw && can_mount) {
		k = kernel_guest(img, d);
		assert_int_equal(compare_trees(t, "dr_disk", k, "kernel"), 0);
		fprintf(stderr, "%s: %zu entries equal to the kernel's view\n", name, k->n);
		ut_tree_free(k);
	}
	t->content.ops = NULL;
	dr_disk_free(d);
	free(img);
	return t;
}

static void test_fixture_debian(void **state)
{
	static const char *const others[] = { "debian-gpt-zstd.qcow2", "debian-gpt-stream.vmdk" };
	static const char *const needed[] = { "debian-bare.raw", "debian-mbr.raw",
					       "debian-gpt.raw" };
	struct ut_tree *gpt, *t;
	size_t i;

	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		char *p = tu_fixture_path(needed[i]);

		if (!p)
			tu_skip_case("fixture disks missing (set VM2OCI_FIXTURES to the output of "
				     "fixtures/make-fixtures.sh)");
		free(p);
	}
	ut_tree_free(fixture_tree("debian-bare.raw", 1));
	ut_tree_free(fixture_tree("debian-mbr.raw", 1));
	gpt = fixture_tree("debian-gpt.raw", 1);
	/* The same disk in other formats: the same tree, byte for byte. */
	for (i = 0; gpt && i < sizeof(others) / sizeof(others[0]); i++) {
		t = fixture_tree(others[i], 0);
		if (t)
			assert_int_equal(compare_trees(t, others[i], gpt, "debian-gpt.raw"), 0);
		ut_tree_free(t);
	}
	ut_tree_free(gpt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ext4),
		cmocka_unit_test(test_walk_bounds_file_size),
		cmocka_unit_test(test_ext2_small_inodes),
		cmocka_unit_test(test_ext3),
		cmocka_unit_test(test_ext4_inline_data),
		cmocka_unit_test(test_ext4_lookup_read_extents),
		cmocka_unit_test(test_gpt),
		cmocka_unit_test(test_mbr_logical),
		cmocka_unit_test(test_gpt_4k),
		cmocka_unit_test(test_gpt_bad_crc),
		cmocka_unit_test(test_mbr_ebr_loop),
		cmocka_unit_test(test_no_table),
		cmocka_unit_test(test_guest_gpt),
		cmocka_unit_test(test_guest_mbr_logical_and_garbage_fstab),
		cmocka_unit_test(test_guest_bare),
		cmocka_unit_test(test_guest_rhel_fallbacks),
		cmocka_unit_test(test_guest_xfs_home_guestfs),
		cmocka_unit_test(test_fat_probe_like_blkid),
		cmocka_unit_test(test_no_root),
		cmocka_unit_test(test_corrupt_ext4),
		cmocka_unit_test(test_fixture_debian),
	};

	return cmocka_run_group_tests_name("diskread: partitions, filesystems, guests",
					  tests, setup, teardown);
}
