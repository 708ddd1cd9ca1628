/*
 * test_journal.c - ext3/4 journal replay, against the kernel's own replay.
 *
 * A dirty filesystem is made the way a VM leaves one when it is not shut
 * down: an image is loop-mounted with a long commit interval (commit=300),
 * changed in batches (new files, appends, truncations, overwrites, deletes,
 * chmod/chown, renames, directories made and removed, links, xattrs, a file
 * unlinked while open so that it sits on the orphan list), each batch ended
 * by an fsync of one file (`sync FILE`: a journal commit, the metadata only in
 * the journal until a checkpoint; `sync -f` would not do: syncfs also writes
 * the block device's dirty buffers, so the home blocks would be current),
 * and the image is copied while still mounted.
 *
 * The oracle is the kernel: a copy of the dirty image mounted read-write
 * (the kernel replays the journal and processes the orphan list) and listed
 * with lstat & co. Our walk of the dirty image, replayed in memory, must equal
 * it entry for entry (type, mode, owner, size, mtime, inode, nlink, link
 * target, xattrs, sha256). --no-replay (DR_FS_NO_REPLAY) must equal the
 * kernel's `noload` mount (the journal ignored). Variants: csum v3 with 1 KiB
 * and 4 KiB blocks, ext3 (no checksums, 32-bit tags), async commit,
 * data=journal (file blocks in the journal, one escaped), the old v1 commit
 * checksum, and a 1 MiB journal the batches wrap around.
 * Damaged journals: a commit block with a bad checksum and a data block with
 * a bad checksum (the kernel refuses to mount both; we fail naming the
 * transaction or block), a truncated journal inode, a bad journal superblock
 * and an external journal: clean one-line errors, no crash, and --no-replay
 * still reads.
 */
#include "testutil.h"

#include <fcntl.h>

#include "diskread.h"
#include "dr_treecmp.h"

static char *tmp;
static int can_mount;

static char *tpath(const char *name)
{
	return ut_asprintf("%s/%s", tmp, name);
}

static int setup(void **state)
{
	char *m;

	tmp = tu_tmpdir();
	m = tpath("probe.img");
	can_mount = getuid() == 0 &&
		    tu_sh("mke2fs -q -t ext4 -F '%s' 4M && mkdir -p '%s/mnt' && "
			  "mount -o loop '%s' '%s/mnt' 2>/dev/null && umount '%s/mnt'",
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
	free(tmp);
	return 0;
}

static void need_mount(void)
{
	if (!can_mount)
		tu_skip_case("needs root and loop mounts (the kernel makes the dirty journals and is the oracle)");
}

/* ---- making dirty filesystems ------------------------------------------- */

/* The batches of changes, run in the mounted filesystem ($1 is its root).
 * Each ends with an fsync: committed to the journal, not checkpointed. */
static const char *const batches[] = {
	"cd \"$1\" && echo new > data/new1 && head -c 200000 /dev/urandom > data/big-new && "
	"echo more >> data/f2 && rm data/f3 && chmod 600 data/f4 && chown 1234:5678 data/f6 && "
	"mv data/f5 data/f5-renamed && mkdir -p newdir/sub && echo x > newdir/sub/y && "
	"ln -s ../data/f1 newdir/link && printf '\\300\\073\\071\\230escaped' > data/magic && "
	"sync data/magic data/new1",
	"cd \"$1\" && printf 'overwritten' | dd of=data/f7 conv=notrunc status=none && "
	"truncate -s 100 data/f8 && rm -r olddir && ln data/f9 newdir/hard-f9 && "
	"setfattr -n user.note -v hello data/f1 && mv data/f10 newdir/f10-moved && "
	"touch -d '2020-01-02 03:04:05' data/f2 && mkfifo newdir/fifo && sync data/f7",
	"cd \"$1\" && for i in 1 2 3 4 5 6 7 8; do echo $i > newdir/many$i; done && "
	"chmod 4755 usr/bin/tool && echo again >> data/new1 && rm data/f11 && "
	"mv newdir/sub newdir/sub-renamed && sync newdir/many8",
};

/* The guest tree every variant starts from. */
static void make_src(const char *dir)
{
	SH("rm -rf '%s' && mkdir -p '%s/etc' '%s/usr/bin' '%s/data' '%s/olddir/deep' && cd '%s' && "
	   "echo '/dev/vda / ext4 defaults 0 1' > etc/fstab && echo ID=debian > etc/os-release && "
	   "echo tool > usr/bin/tool && chmod 755 usr/bin/tool && "
	   "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do head -c $((i * 3000)) /dev/zero | tr '\\0' x > data/f$i; done && "
	   "echo o > olddir/deep/file && echo orphan > data/orphan",
	   dir, dir, dir, dir, dir, dir);
}

/* 1 when the live log of img wraps past the journal's end: logdump meets a
 * block below the one it started at. */
static int log_wrapped(const char *img)
{
	char *out = tu_sh_out("debugfs -R logdump '%s' 2>/dev/null | awk '"
			      "/^Journal starts at block/ { s = $5 + 0 } "
			      "/ at block [0-9]+$/ { if ($NF + 0 < s) w = 1 } END { print w + 0 }'",
			      img);
	int w = out[0] == '1';

	free(out);
	return w;
}

/*
 * Makes NAME.img, a filesystem whose journal needs recovery: mkfs_opts for
 * mke2fs, mount_opts for the mount, rounds: how many times the batches run;
 * negative: until the log wraps (at most -rounds). A file kept open and
 * unlinked before the copy lies on the orphan list.
 */
static char *make_dirty(const char *name, const char *mkfs_opts, const char *mount_opts,
			int rounds)
{
	char *img = tpath(name), *base = ut_asprintf("%s.base", img), *srcd = tpath("src");
	char *mnt = tpath("mnt"), *script = tpath("batch.sh");
	int r;

	make_src(srcd);
	/* Inode tables zeroed by mke2fs, and noinit_itable: the kernel's lazy
	 * init thread would otherwise write to the disk (and start journal
	 * transactions) in the background, while the image is being copied. */
	SH("E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F %s -E lazy_itable_init=0 -d '%s' '%s' 32M",
	   mkfs_opts, srcd, base);
	SH("mkdir -p '%s' && mount -o loop,noinit_itable,%s '%s' '%s'", mnt, mount_opts, base,
	   mnt);
	for (r = 0; r < abs(rounds); r++) {
		size_t i;

		for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
			FILE *f = fopen(script, "w");

			assert_non_null(f);
			fprintf(f, "set -e\n%s\n", batches[i]);
			fclose(f);
			if (r > 0 && i == 0) /* later rounds start from the source again */
				SH("cd '%s' && rm -rf data newdir olddir && cp -a '%s/data' '%s/olddir' .",
				   mnt, srcd, srcd);
			SH("sh '%s' '%s'", script, mnt);
		}
		/* The orphan: open, unlinked, committed, copied while still open.
		 * A wrapping variant copies every round and stops once the copy's
		 * log wraps: the kernel checkpoints when it likes (sooner on a
		 * loaded machine), so the live log wrapping before this last
		 * commit says nothing about the copy. */
		if (rounds > 0 && r + 1 < rounds)
			continue;
		SH("cd '%s' && exec 3<'%s/data/orphan' && rm -f '%s/data/orphan' && "
		   "sync '%s/data' && cp --sparse=always '%s' '%s' && exec 3<&-",
		   tmp, mnt, mnt, mnt, base, img);
		if (rounds > 0 || log_wrapped(img))
			break;
	}
	SH("umount '%s'", mnt);
	SH("dumpe2fs -h '%s' 2>/dev/null | grep -q needs_recovery", img);
	free(base);
	free(srcd);
	free(mnt);
	free(script);
	return img;
}

/* The kernel's view of a copy of img: opts "" replays (read-write mount),
 * "ro,noload" ignores the journal. NULL when the kernel refuses to mount. */
static struct ut_tree *kernel_view(const char *img, const char *opts)
{
	char *copy = ut_asprintf("%s.kernel", img), *mnt = tpath("mnt");
	struct ut_tree *t = NULL;

	SH("cp --sparse=always '%s' '%s'", img, copy);
	if (tu_sh("mount -o loop%s%s '%s' '%s' 2>/dev/null", *opts ? "," : "", opts, copy, mnt) ==
	    0) {
		t = ut_tree_new();
		host_list(mnt, "", t);
		SH("umount '%s'", mnt);
	}
	unlink(copy);
	free(copy);
	free(mnt);
	return t;
}

static char *sha_of(const char *path)
{
	return tu_sh_out("sha256sum < '%s' | cut -c1-64", path);
}

/* Our replay equals the kernel's; --no-replay equals noload; the image is
 * not written; the replay changed something. */
static void replay_vs_kernel(const char *img)
{
	struct ut_tree *ours, *kernel, *stale, *kstale;
	char note[512], *before = sha_of(img), *after;
	int diffs;

	ours = fs_tree_flags(img, 0, NULL, note, sizeof(note));
	fprintf(stderr, "%s\n", note);
	assert_non_null(strstr(note, "replayed in memory"));
	kernel = kernel_view(img, "");
	assert_non_null(kernel);
	diffs = compare_trees(ours, "replayed", kernel, "kernel");
	assert_int_equal(diffs, 0);
	assert_null(ut_tree_find(ours, "data/orphan"));
	assert_non_null(ut_tree_find(ours, "newdir/many8"));

	stale = fs_tree_flags(img, DR_FS_NO_REPLAY, NULL, NULL, 0);
	kstale = kernel_view(img, "ro,noload");
	assert_non_null(kstale);
	assert_int_equal(compare_trees(stale, "no-replay", kstale, "kernel-noload"), 0);
	/* The stale state really is different: the test would catch no replay. */
	assert_true(compare_trees_verbose(stale, "no-replay", kernel, "kernel", 0) >= 10);
	after = sha_of(img);
	assert_string_equal(before, after);
	ut_tree_free(ours);
	ut_tree_free(kernel);
	ut_tree_free(stale);
	ut_tree_free(kstale);
	free(before);
	free(after);
}

/* One dirty variant: mke2fs and mount options, rounds of batches (negative:
 * until the log wraps), and a shell check the dirty image must pass ("%s"
 * is the image). */
struct variant {
	const char *img, *mkfs, *mount;
	int rounds;
	const char *check;
};

static const struct variant v3_1k = { "v3-1k.img", "-t ext4 -b 1024", "commit=300", 1, NULL };
static const struct variant v3_4k = { "v3-4k.img", "-t ext4 -b 4096", "commit=300", 1, NULL };
/* ext3: no journal checksums, 32-bit tags. */
static const struct variant ext3 = { "ext3.img", "-t ext3", "commit=300", 1, NULL };
/* ext4 allows async commit only outside data=ordered. */
static const struct variant async = { "async.img", "-t ext4",
				      "commit=300,data=writeback,journal_async_commit", 1, NULL };
/* data=journal: file contents go through the journal too, and a block that
 * starts with the journal's magic (data/magic) is stored escaped. */
static const struct variant dataj = { "dataj.img", "-t ext4", "commit=300,data=journal", 1,
				      NULL };
/* Without metadata_csum, journal_checksum means the old v1 crc32 commit sum. */
static const struct variant v1 = {
	"v1.img", "-t ext4 -O ^metadata_csum", "commit=300,journal_checksum", 1,
	"dumpe2fs -h '%s' 2>/dev/null | grep -q 'Journal features:.*journal_checksum'"
};
/* 1024 journal blocks of 1 KiB: batches run until the kernel has
 * checkpointed and the live log wraps past the journal's end. */
static const struct variant wrap = { "wrap.img", "-t ext4 -b 1024 -J size=1", "commit=300",
				     -60, NULL };

static void test_variant(void **state)
{
	const struct variant *v = *state;
	char *img;

	need_mount();
	img = make_dirty(v->img, v->mkfs, v->mount, v->rounds);
	if (v->check)
		SH(v->check, img);
	if (v->rounds < 0)
		assert_true(log_wrapped(img));
	replay_vs_kernel(img);
	free(img);
}

/* ---- damaged journals --------------------------------------------------- */

/* The journal blocks (journal-relative) of one kind that debugfs' logdump
 * finds: "commit" or "descriptor". */
static char *logdump_blocks(const char *img, const char *kind)
{
	return tu_sh_out("debugfs -R 'logdump' '%s' 2>/dev/null | "
			 "sed -n 's/.*(%s block) at block \\([0-9]*\\).*/\\1/p' | tr '\\n' ' '",
			 img, kind);
}

/* Flips one byte at off of journal block jblock (journal-relative). */
static void flip_journal_byte(const char *img, unsigned long jblock, unsigned off)
{
	char *phys = tu_sh_out("debugfs -R 'bmap <8> %lu' '%s' 2>/dev/null", jblock, img);
	char *bs = tu_sh_out("dumpe2fs -h '%s' 2>/dev/null | sed -n 's/^Block size: *//p'", img);
	unsigned long long at = strtoull(phys, NULL, 10) * strtoull(bs, NULL, 10) + off;
	unsigned char c;
	int fd = open(img, O_RDWR);

	assert_true(fd >= 0);
	assert_true(strtoull(phys, NULL, 10) > 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)at), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
	close(fd);
	free(phys);
	free(bs);
}

static void expect_open_error(const char *img, const char *needle)
{
	struct dr_blockdev *bd = NULL;
	struct dr_fs *fs = NULL;
	struct dr_disk *d = NULL;
	struct ut_err err = { { 0 } };
	struct ut_tree *t;

	assert_int_equal(dr_blockdev_open(img, "raw", &bd, &err), 0);
	assert_int_equal(dr_fs_open_flags(bd, 0, &fs, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, needle));
	assert_null(strchr(err.msg, '\n'));
	dr_blockdev_free(bd);
	/* The whole disk fails too, naming it, unless --no-replay. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(dr_disk_open(img, NULL, &d, &err), -1);
	assert_non_null(strstr(err.msg, img));
	assert_non_null(strstr(err.msg, "--no-replay"));
	{
		struct dr_disk_options o = { .no_replay = 1 };

		if (dr_disk_open(img, &o, &d, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(dr_disk_tree(d, 1, &t, &err), 0);
		ut_tree_free(t);
		dr_disk_free(d);
	}
}

/* The second transaction's commit block fails its checksum: the kernel
 * refuses to mount ("journal transaction 3 is corrupt"); so do we, naming it. */
static void test_bad_commit_checksum(void **state)
{
	char *img, *commits, *p, *end, *tid, want[64];
	unsigned long c[8];
	size_t n = 0;

	need_mount();
	img = make_dirty("badcommit.img", "-t ext4 -b 1024", "commit=300", 1);
	commits = logdump_blocks(img, "commit");
	for (p = commits; n < 8; p = end) {
		c[n] = strtoul(p, &end, 10);
		if (end == p)
			break;
		n++;
	}
	fprintf(stderr, "commit blocks: %s\n", commits);
	assert_true(n >= 3);
	flip_journal_byte(img, c[1], 0x13); /* in its checksum */
	assert_null(kernel_view(img, ""));
	tid = tu_sh_out("debugfs -R logdump '%s' 2>/dev/null | "
			"sed -n 's/.*sequence \\([0-9]*\\), type 2 .*at block %lu$/\\1/p' | tr -d '\\n'",
			img, c[1]);
	snprintf(want, sizeof(want), "transaction %s fails its checksum", tid);
	expect_open_error(img, want);
	free(tid);
	free(commits);
	free(img);
}

/* A data block of the first transaction fails its tag's checksum: the
 * kernel refuses to mount; we fail with the blocks named. */
static void test_bad_data_checksum(void **state)
{
	char *img, *blocks;
	unsigned long b;

	need_mount();
	img = make_dirty("baddata.img", "-t ext4 -b 1024", "commit=300", 1);
	blocks = logdump_blocks(img, "descriptor");
	b = strtoul(blocks, NULL, 10);
	assert_true(b > 0);
	flip_journal_byte(img, b + 1, 100);
	assert_null(kernel_view(img, ""));
	expect_open_error(img, "checksum mismatch");
	free(blocks);
	free(img);
}

static void test_truncated_journal_inode(void **state)
{
	char *img;

	need_mount();
	img = make_dirty("trunc.img", "-t ext4 -b 1024", "commit=300", 1);
	SH("debugfs -w -R 'sif <8> size 65536' '%s' 2>/dev/null", img);
	expect_open_error(img, "shorter than the journal");
	free(img);
}

static void test_bad_journal_superblock(void **state)
{
	char *img;

	need_mount();
	img = make_dirty("badsb.img", "-t ext4 -b 1024", "commit=300", 1);
	flip_journal_byte(img, 0, 0); /* the magic */
	expect_open_error(img, "no journal superblock");
	free(img);
}

static void test_external_journal(void **state)
{
	char *img;

	need_mount();
	img = make_dirty("extj.img", "-t ext4 -b 1024", "commit=300", 1);
	/* What an external journal looks like to the superblock: no inode, a
	 * device number and the journal's uuid. */
	SH("debugfs -w -R 'ssv journal_inum 0' '%s' 2>/dev/null && "
	   "debugfs -w -R 'ssv journal_dev 0x801' '%s' 2>/dev/null && "
	   "debugfs -w -R 'ssv journal_uuid 11111111-2222-3333-4444-555555555555' '%s' 2>/dev/null",
	   img, img, img);
	expect_open_error(img, "external device");
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_variant, (void *)&v3_1k),
		cmocka_unit_test_prestate(test_variant, (void *)&v3_4k),
		cmocka_unit_test_prestate(test_variant, (void *)&ext3),
		cmocka_unit_test_prestate(test_variant, (void *)&async),
		cmocka_unit_test_prestate(test_variant, (void *)&dataj),
		cmocka_unit_test_prestate(test_variant, (void *)&v1),
		cmocka_unit_test_prestate(test_variant, (void *)&wrap),
		cmocka_unit_test(test_bad_commit_checksum),
		cmocka_unit_test(test_bad_data_checksum),
		cmocka_unit_test(test_truncated_journal_inode),
		cmocka_unit_test(test_bad_journal_superblock),
		cmocka_unit_test(test_external_journal),
	};

	return cmocka_run_group_tests_name("diskread: ext3/4 journal replay against the kernel",
					  tests, setup, teardown);
}
