/*
 * test_blockdev.c - raw, qcow2 and vmdk block devices against qemu-img.
 *
 * Every image is made here by qemu-img/qemu-io from one random-content raw
 * image with holes, read back through dr_blockdev in chunks of assorted sizes
 * and offsets, and compared byte for byte with `qemu-img convert -O raw` of
 * the same image. Allocation (block_status) is checked against
 * `qemu-img map --output=json`. Bad images must give an error naming the
 * file and the reason, never a crash (run this under the ASan build too).
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdint.h>

#include "diskread.h"
#include "bd_check.h"

/* ---- formats ------------------------------------------------------------ */

static void test_raw(void **state)
{
	struct dr_blockdev *bd;
	struct ut_err err;
	uint64_t pnum;
	int alloc, inb;

	compare_with_qemu(base, NULL);
	assert_int_equal(dr_blockdev_open(base, NULL, &bd, &err), 0);
	assert_string_equal(dr_blockdev_format(bd), "raw");
	/* [30 MiB, 40 MiB) was never written: a hole on any filesystem with
	 * SEEK_HOLE; the start is data. */
	assert_int_equal(dr_blockdev_block_status(bd, 0, dr_blockdev_size(bd), &pnum, &alloc, &inb, &err), 0);
	assert_int_equal(alloc, 1);
	assert_int_equal(inb, 0);
	assert_true(pnum >= 1049000 && pnum <= 64 * MiB);
	assert_int_equal(dr_blockdev_block_status(bd, 30 * MiB, MiB, &pnum, &alloc, &inb, &err), 0);
	if (pnum == MiB && alloc == 1)
		print_message("note: the host filesystem reports no holes\n");
	else
		assert_int_equal(alloc, 0);
	dr_blockdev_free(bd);
}

static void test_qcow2_v2(void **state)
{
	convert_and_compare("v2.qcow2", "-O qcow2 -o compat=0.10", "qcow2");
}

static void test_qcow2_v3(void **state)
{
	convert_and_compare("v3.qcow2", "-O qcow2 -o compat=1.1", "qcow2");
}

static void test_qcow2_zlib(void **state)
{
	char *img = tpath("z.qcow2");
	char *out;

	convert_and_compare("zlib.qcow2", "-O qcow2 -c -o compression_type=zlib", "qcow2");
	convert_and_compare("zlib2.qcow2", "-O qcow2 -c -o compat=0.10", "qcow2");
	/* The image must really hold compressed clusters for this to mean
	 * anything: qemu-img check counts them. */
	sh_ok("qemu-img convert -O qcow2 -c '%s' '%s'%s", base, img, "");
	out = tu_sh_out("qemu-img check '%s' 2>&1", img);
	assert_non_null(strstr(out, "compressed clusters"));
	free(out);
	unlink(img);
	free(img);
}

static void test_qcow2_zstd(void **state)
{
	convert_and_compare("zstd.qcow2", "-O qcow2 -c -o compression_type=zstd", "qcow2");
}

static void test_qcow2_cluster_sizes(void **state)
{
	convert_and_compare("c512.qcow2", "-O qcow2 -o cluster_size=512", "qcow2");
	convert_and_compare("c2m.qcow2", "-O qcow2 -o cluster_size=2M", "qcow2");
	convert_and_compare("c512z.qcow2", "-O qcow2 -c -o cluster_size=512", "qcow2");
	convert_and_compare("c2mz.qcow2", "-O qcow2 -c -o cluster_size=2M,compression_type=zstd",
			    "qcow2");
}

static void test_qcow2_extended_l2(void **state)
{
	convert_and_compare("ext.qcow2", "-O qcow2 -o extended_l2=on", "qcow2");
	convert_and_compare("extc.qcow2", "-O qcow2 -c -o extended_l2=on,cluster_size=128k",
			    "qcow2");
}

static void test_vmdk_sparse(void **state)
{
	convert_and_compare("sparse.vmdk", "-O vmdk -o subformat=monolithicSparse", "vmdk");
}

static void test_vmdk_stream(void **state)
{
	char *s = tpath("stream2.vmdk"), *t = tpath("stream2t.vmdk");
	unsigned char hdr[512], tail[1536];
	struct stat st;
	int fd;

	convert_and_compare("stream.vmdk", "-O vmdk -o subformat=streamOptimized", "vmdk");

	/*
	 * A stream as VMware writes it: the header's GD offset is "at the end"
	 * and the footer (marker, header copy with the real GD offset, end of
	 * stream marker) holds it. qemu-img writes the GD up front, so move
	 * it to a footer by hand.
	 */
	sh_ok("qemu-img convert -O vmdk -o subformat=streamOptimized '%s' '%s'%s", base, s, "");
	fd = open(s, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, 512, 0), 512);
	assert_int_equal(fstat(fd, &st), 0);
	memset(tail, 0, sizeof(tail));
	tail[12] = 3; /* MARKER_FOOTER */
	memcpy(tail + 512, hdr, 512);
	assert_int_equal(pwrite(fd, tail, sizeof(tail), st.st_size), (ssize_t)sizeof(tail));
	close(fd);
	patch_le64(s, 56, UINT64_MAX);
	compare_with_qemu(s, NULL);
	/* cut anywhere: the footer is gone */
	sh_ok("head -c %s '%s' > '%s'", "4000000", s, t);
	expect_error(t, NULL, "stream2t.vmdk", "truncated stream");
	free(s);
	free(t);
}

static void test_vmdk_descriptors(void **state)
{
	convert_and_compare("flat.vmdk", "-O vmdk -o subformat=monolithicFlat", "vmdk");
	convert_and_compare("two.vmdk", "-O vmdk -o subformat=twoGbMaxExtentSparse", "vmdk");
	convert_and_compare("twoflat.vmdk", "-O vmdk -o subformat=twoGbMaxExtentFlat", "vmdk");
}

/*
 * A hand-written descriptor: FLAT at an offset, then SPARSE, concatenated,
 * with CRLF line ends. qemu skips ZERO extents (and RDONLY ones), so the
 * same descriptor with a ZERO extent in the middle is checked against the
 * first one shifted by the zeros.
 */
static void test_vmdk_hand_descriptor(void **state)
{
	char *desc = tpath("hand.vmdk"), *zdesc = tpath("handz.vmdk"), *ref = tpath("hand.ref");
	struct dr_blockdev *bd;
	struct ut_err err;
	unsigned char *want, *got;
	size_t want_len;

	static const char *head =
		"# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
		"createType=\"twoGbMaxExtentFlat\"\n\n# Extent description\n"
		"RW 16384 FLAT \"ext/flat.bin\" 2048\r\n";
	static const char *tail = "RW 131072 SPARSE \"ext/sp.vmdk\"\n\nddb.adapterType = \"ide\"\n";
	FILE *f;

	if (tu_sh("cd '%s' && mkdir -p ext && "
		  "dd if=base.raw of=ext/flat.bin bs=1M skip=4 count=9 status=none && "
		  "qemu-img convert -O vmdk -o subformat=monolithicSparse base.raw ext/sp.vmdk",
		  tmp) != 0)
		fail_msg("cannot make the extents");
	f = fopen(desc, "w");
	fprintf(f, "%s%s", head, tail);
	fclose(f);
	f = fopen(zdesc, "w");
	fprintf(f, "%sRW 2048 ZERO\n%s", head, tail);
	fclose(f);
	sh_ok("qemu-img convert -O raw '%s' '%s'%s", desc, ref, "");
	compare_with_qemu(desc, NULL);
	want = slurp(ref, &want_len);
	assert_int_equal(want_len, 72 * MiB);
	assert_int_equal(dr_blockdev_open(zdesc, NULL, &bd, &err), 0);
	assert_int_equal(dr_blockdev_size(bd), 73 * MiB);
	got = malloc(73 * MiB);
	assert_int_equal(dr_blockdev_pread(bd, got, 73 * MiB, 0, &err), 0);
	assert_memory_equal(got, want, 8 * MiB);
	assert_true(got[8 * MiB] == 0 && !memcmp(got + 8 * MiB, got + 8 * MiB + 1, MiB - 1));
	assert_memory_equal(got + 9 * MiB, want + 8 * MiB, 64 * MiB);
	dr_blockdev_free(bd);
	free(got);
	free(want);
	free(desc);
	free(zdesc);
	free(ref);
}

/* ---- backing chains ------------------------------------------------------ */

static void test_overlay(void **state)
{
	char *ov = tpath("chain/ov.qcow2");

	/* The backing file is named relative to the overlay's directory; run
	 * from elsewhere so the cwd cannot hide a resolution bug. The backing
	 * (48 MiB) is smaller than the overlay (64 MiB): the tail reads zeros. */
	if (tu_sh("cd '%s' && mkdir -p chain && "
		  "qemu-img convert -O qcow2 base.raw chain/b.qcow2 && qemu-img resize -q --shrink chain/b.qcow2 48M && "
		  "cd chain && qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 ov.qcow2 64M && "
		  "qemu-io -c 'write -P 0xab 1M 64k' -c 'write -z 3M 128k' -c 'write -P 0x11 40M 4k' "
		  "-c 'write -P 0x22 50M 100k' -c 'write -P 0x33 1000k 1k' ov.qcow2 >/dev/null",
		  tmp) != 0)
		fail_msg("cannot make the overlay");
	compare_with_qemu(ov, NULL);
	compare_map(ov);
	free(ov);
}

static void test_overlay_extended_l2(void **state)
{
	char *ov = tpath("chain/ovx.qcow2");

	/* Subclusters: writes smaller than a cluster leave the rest of it
	 * reading from the backing file. */
	if (tu_sh("cd '%s' && mkdir -p chain && qemu-img convert -O qcow2 base.raw chain/bx.qcow2 && "
		  "cd chain && qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k "
		  "-b bx.qcow2 -F qcow2 ovx.qcow2 && "
		  "qemu-io -c 'write -P 0xab 1000k 6k' -c 'write -z 3M 4k' -c 'write -P 0x11 40M 2k' "
		  "ovx.qcow2 >/dev/null", tmp) != 0)
		fail_msg("cannot make the overlay");
	compare_with_qemu(ov, NULL);
	compare_map(ov);
	free(ov);
}

static void test_chain3(void **state)
{
	char *top = tpath("c3/top.qcow2");
	struct dr_blockdev *bd;
	struct ut_err err;
	uint64_t total;

	/* raw <- qcow2 <- qcow2 <- qcow2, backing files in another directory,
	 * named relative to the image that names them. */
	if (tu_sh("cd '%s' && mkdir -p c3/sub && cp base.raw c3/sub/l0.raw && cd c3 && "
		  "qemu-img create -q -f qcow2 -b l0.raw -F raw sub/l1.qcow2 && "
		  "qemu-io -c 'write -P 0x01 0 2M' -c 'write -P 0x02 33M 1M' sub/l1.qcow2 >/dev/null && "
		  "qemu-img create -q -f qcow2 -b sub/l1.qcow2 -F qcow2 mid.qcow2 && "
		  "qemu-io -c 'write -P 0x03 1M 2M' -c 'write -z 40M 1M' mid.qcow2 >/dev/null && "
		  "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && "
		  "qemu-io -c 'write -P 0x04 1536k 64k' top.qcow2 >/dev/null", tmp) != 0)
		fail_msg("cannot make the chain");
	{
		/* Hide mid's backing format extension: the backing format is
		 * probed then (qemu ignores unknown extensions too). */
		char *mid = tpath("c3/mid.qcow2");
		uint32_t hl = (uint32_t)read_be64(mid, 96);

		assert_int_equal(read_be64(mid, hl) >> 32, 0xe2792aca);
		patch_be32(mid, hl, 0x0badcafe);
		free(mid);
	}
	compare_with_qemu(top, NULL);
	compare_map(top);
	assert_int_equal(dr_blockdev_open(top, NULL, &bd, &err), 0);
	assert_non_null(dr_blockdev_backing(bd));
	assert_non_null(dr_blockdev_backing(dr_blockdev_backing(bd)));
	assert_non_null(dr_blockdev_backing(dr_blockdev_backing(dr_blockdev_backing(bd))));
	assert_string_equal(dr_blockdev_format(dr_blockdev_backing(dr_blockdev_backing(dr_blockdev_backing(bd)))), "raw");
	/* Reading the whole disk reads from every layer. */
	{
		unsigned char *buf = malloc(4 * MiB);
		uint64_t off;

		for (off = 0; off < dr_blockdev_size(bd); off += 4 * MiB)
			assert_int_equal(dr_blockdev_pread(bd, buf, 4 * MiB, off, &err), 0);
		free(buf);
	}
	total = dr_blockdev_bytes_read(bd);
	assert_true(total > dr_blockdev_bytes_read(dr_blockdev_backing(dr_blockdev_backing(dr_blockdev_backing(bd)))));
	assert_true(dr_blockdev_bytes_read(dr_blockdev_backing(dr_blockdev_backing(dr_blockdev_backing(bd)))) > 0);
	dr_blockdev_free(bd);
	free(top);
}

static void test_vmdk_delta(void **state)
{
	char *child = tpath("vd/child.vmdk");

	/* A sparse vmdk with a parent: qemu-img writes parentFileNameHint. */
	if (tu_sh("cd '%s' && mkdir -p vd && cd vd && "
		  "qemu-img convert -O vmdk ../base.raw parent.vmdk && "
		  "qemu-img create -q -f vmdk -b parent.vmdk -F vmdk child.vmdk && "
		  "qemu-io -f vmdk -c 'write -P 0x5a 2M 192k' child.vmdk >/dev/null", tmp) != 0)
		fail_msg("cannot make the vmdk delta");
	compare_with_qemu(child, NULL);
	compare_map(child);
	free(child);
}

/* ---- slices and bounds -------------------------------------------------- */

static void test_slice(void **state)
{
	struct dr_blockdev *bd, *sl, *bad;
	struct ut_err err;
	unsigned char a[70000], b[70000];
	uint64_t pnum;
	int alloc, inb;

	assert_int_equal(dr_blockdev_open(base, "raw", &bd, &err), 0);
	assert_int_equal(dr_blockdev_slice(bd, 5 * MiB + 3, 10 * MiB, &sl, &err), 0);
	assert_int_equal(dr_blockdev_size(sl), 10 * MiB);
	assert_int_equal(dr_blockdev_pread(sl, a, sizeof(a), 12345, &err), 0);
	assert_int_equal(dr_blockdev_pread(bd, b, sizeof(b), 5 * MiB + 3 + 12345, &err), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_string_equal(dr_blockdev_format(sl), "raw");
	assert_int_equal(dr_blockdev_pread(sl, a, 10, 10 * MiB - 5, &err), -1);
	assert_non_null(strstr(err.msg, "base.raw"));
	assert_non_null(strstr(err.msg, "beyond the end"));
	assert_int_equal(dr_blockdev_block_status(sl, 0, MiB, &pnum, &alloc, &inb, &err), 0);
	assert_true(pnum > 0 && pnum <= MiB);
	assert_int_equal(dr_blockdev_block_status(sl, 10 * MiB, 1, &pnum, &alloc, &inb, &err), -1);
	assert_int_equal(dr_blockdev_slice(bd, 60 * MiB, 5 * MiB, &bad, &err), -1);
	assert_null(bad);
	assert_non_null(strstr(err.msg, "beyond the end"));
	assert_int_equal(dr_blockdev_slice(bd, UINT64_MAX - 5, 10, &bad, &err), -1);
	/* a huge length with an offset: no overflow */
	assert_int_equal(dr_blockdev_pread(bd, a, 10, UINT64_MAX - 3, &err), -1);
	assert_true(dr_blockdev_bytes_read(bd) >= 2 * sizeof(a));
	dr_blockdev_free(NULL);
	dr_blockdev_free(sl);
	dr_blockdev_free(bd);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_bad_qcow2_header(void **state)
{
	char *img = small_image("bad.qcow2", "-O qcow2", 3000000);
	char *t = tpath("trunc.qcow2");

	sh_ok("head -c 50 '%s' > '%s'%s", img, t, "");
	expect_error(t, NULL, "trunc.qcow2", "truncated qcow2 header");
	sh_ok("head -c 90 '%s' > '%s'%s", img, t, "");
	expect_error(t, NULL, "trunc.qcow2", "truncated qcow2 v3 header");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be32(t, 4, 4);
	expect_error(t, NULL, "trunc.qcow2", "unsupported qcow2 version 4");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be32(t, 20, 30);
	expect_error(t, NULL, "trunc.qcow2", "cluster_bits 30");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 24, 1ULL << 62);
	expect_error(t, NULL, "trunc.qcow2", "absurd qcow2 virtual size");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 24, 1ULL << 50); /* sane size, but the L1 table is too small */
	expect_error(t, NULL, "trunc.qcow2", "L1 table too small");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 40, 1ULL << 40);
	expect_error(t, NULL, "trunc.qcow2", "L1 table at 1099511627776 lies beyond the end");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 40, 12345);
	expect_error(t, NULL, "trunc.qcow2", "not cluster aligned");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 72, 1ULL << 2);
	expect_error(t, NULL, "trunc.qcow2", "external data file");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, 72, 1ULL << 9);
	expect_error(t, NULL, "trunc.qcow2", "unknown qcow2 incompatible features 0x200");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be32(t, 32, 1);
	expect_error(t, NULL, "trunc.qcow2", "encrypted");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be32(t, 100, 7);
	expect_error(t, NULL, "trunc.qcow2", "invalid qcow2 header length");

	/* A format forced onto the wrong file. */
	expect_error(base, "qcow2", "base.raw", "bad magic");
	expect_error(base, "parallels", "base.raw", "unsupported disk format");
	free(img);
	free(t);
}

static void test_bad_qcow2_tables(void **state)
{
	char *img = small_image("badt.qcow2", "-O qcow2", 3000000);
	char *t = tpath("tables.qcow2");
	uint64_t l1_off = read_be64(img, 40), l2_off;

	l2_off = read_be64(img, l1_off) & 0x00fffffffffffe00ULL;
	assert_true(l2_off > 0);

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, l2_off, (1ULL << 63) | (1ULL << 40)); /* data far past EOF */
	expect_error(t, NULL, "tables.qcow2", "lies beyond the end of the file");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, l1_off, (1ULL << 63) | (1ULL << 36)); /* L2 table past EOF */
	expect_error(t, NULL, "tables.qcow2", "L2 table at 68719476736 lies beyond the end");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_be64(t, l2_off, (1ULL << 63) | (65536 + 4096)); /* unaligned data cluster */
	expect_error(t, NULL, "tables.qcow2", "not cluster aligned");
	free(img);
	free(t);
}

static void test_bad_qcow2_compressed(void **state)
{
	const char *types[] = { "zlib", "zstd" };
	unsigned i;

	for (i = 0; i < 2; i++) {
		char opts[64], name[32];
		char *img, *t = tpath("cgarbage.qcow2");
		uint64_t l1_off, l2_off, l2e = 0, coff, k;
		unsigned char junk[256];

		snprintf(opts, sizeof(opts), "-c -o compression_type=%s", types[i]);
		snprintf(name, sizeof(name), "c%s.qcow2", types[i]);
		/* base64 text at 5 MiB: compresses, so its clusters are compressed */
		if (tu_sh("cd '%s' && dd if=base.raw of=text.raw bs=1M skip=5 count=2 status=none && "
			  "qemu-img convert -O qcow2 %s text.raw '%s'", tmp, opts, name) != 0)
			fail_msg("cannot make %s", name);
		img = tpath(name);
		l1_off = read_be64(img, 40);
		l2_off = read_be64(img, l1_off) & 0x00fffffffffffe00ULL;
		for (k = 1; k < 30 && !(l2e & (1ULL << 62)); k++)
			l2e = read_be64(img, l2_off + 8 * k);
		assert_true(l2e & (1ULL << 62));
		/* 64 KiB clusters: x = 62 - (16 - 8) = 54 offset bits */
		coff = l2e & ((1ULL << 54) - 1);
		memset(junk, 0xa5, sizeof(junk));
		sh_ok("cp '%s' '%s'%s", img, t, "");
		patch(t, coff, junk, sizeof(junk));
		expect_error(t, NULL, "cgarbage.qcow2", "compressed cluster at");
		/* A compressed cluster that points past the end of the file. */
		sh_ok("cp '%s' '%s'%s", img, t, "");
		patch_be64(t, l2_off + 8 * (k - 1), (1ULL << 62) | (1ULL << 40));
		expect_error(t, NULL, "cgarbage.qcow2", "beyond the end of the file");
		free(img);
		free(t);
	}
}

static void test_encrypted(void **state)
{
	char *img = tpath("luks.qcow2");

	/* qemu-img times PBKDF2 with the thread's CPU clock to pick the LUKS
	 * iteration count, and fails ("Unable to get accurate CPU usage") when a
	 * coarse clock reads 0: try a few times. */
	if (tu_sh("cd '%s' && for i in 1 2 3 4 5 6 7 8; do qemu-img create -q -f qcow2 "
		  "--object secret,id=sec0,data=hunter2 -o encrypt.format=luks,"
		  "encrypt.key-secret=sec0 luks.qcow2 8M 2>/dev/null && exit 0; sleep 0.2; done; "
		  "exit 1", tmp) != 0)
		fail_msg("cannot make an encrypted qcow2");
	expect_error(img, NULL, "luks.qcow2", "encrypted qcow2 images are not supported");
	free(img);
}

static void test_backing_loops(void **state)
{
	char *self = tpath("loop/self.qcow2"), *a = tpath("loop/a.qcow2");
	char *gone = tpath("loop/orphan.qcow2");

	if (tu_sh("cd '%s' && mkdir -p loop && cd loop && "
		  "qemu-img create -q -f qcow2 self.qcow2 8M && "
		  "qemu-img rebase -u -b self.qcow2 -F qcow2 self.qcow2 && "
		  "qemu-img create -q -f qcow2 a.qcow2 8M && qemu-img create -q -f qcow2 b.qcow2 8M && "
		  "qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2 && "
		  "qemu-img rebase -u -b a.qcow2 -F qcow2 b.qcow2 && "
		  "qemu-img create -q -f qcow2 gone.qcow2 8M && "
		  "qemu-img create -q -f qcow2 -b gone.qcow2 -F qcow2 orphan.qcow2 && rm gone.qcow2",
		  tmp) != 0)
		fail_msg("cannot make the loops");
	expect_error(self, NULL, "self.qcow2", "is the image itself");
	expect_error(a, NULL, "a.qcow2", "already in the chain (a loop)");
	expect_error(gone, NULL, "orphan.qcow2", "gone.qcow2: cannot open");
	/* No loop, just absurdly deep: 18 overlays on a raw file. */
	if (tu_sh("cd '%s/loop' && qemu-img create -q -f raw d0.img 1M && p=d0.img && f=raw && "
		  "for i in $(seq 1 18); do qemu-img create -q -f qcow2 -b $p -F $f d$i.qcow2; "
		  "p=d$i.qcow2; f=qcow2; done", tmp) != 0)
		fail_msg("cannot make the deep chain");
	{
		char *deep = tpath("loop/d18.qcow2"), *ok = tpath("loop/d8.qcow2");
		struct dr_blockdev *bd;
		struct ut_err err;

		expect_error(deep, NULL, "d18.qcow2", "backing chain too deep or a loop");
		assert_int_equal(dr_blockdev_open(ok, NULL, &bd, &err), 0);
		dr_blockdev_free(bd);
		free(deep);
		free(ok);
	}
	free(self);
	free(a);
	free(gone);
}

/* Opens img under policy; expects a refusal naming want, one line. */
static void expect_refused(const char *img, const struct dr_file_policy *pol, const char *want)
{
	struct dr_blockdev *bd = NULL;
	struct ut_err err = { "" };

	if (dr_blockdev_open_policy(img, NULL, pol, &bd, &err) == 0) {
		dr_blockdev_free(bd);
		fail_msg("%s: opened, expected a refusal with '%s'", img, want);
	}
	if (!strstr(err.msg, want))
		fail_msg("%s: error '%s' lacks '%s'", img, err.msg, want);
	assert_null(strchr(err.msg, '\n'));
}

/* Opens img under policy; expects link k (of n) to be allowed by rule. */
static void expect_link(const char *img, const struct dr_file_policy *pol, size_t n, size_t k,
			enum dr_link_rule rule, const char *resolved_tail)
{
	struct dr_blockdev *bd = NULL;
	struct ut_err err = { "" };
	const struct dr_file_link *l;
	size_t got;

	if (dr_blockdev_open_policy(img, NULL, pol, &bd, &err) < 0)
		fail_msg("%s: %s", img, err.msg);
	l = dr_blockdev_links(bd, &got);
	assert_int_equal(got, n);
	assert_int_equal(l[k].rule, rule);
	assert_non_null(strstr(l[k].resolved, resolved_tail));
	assert_int_equal(l[k].resolved[0], '/');
	dr_blockdev_free(bd);
}

/* The policy on the files an image names (issue 15), unit by unit. */
static void test_file_policy(void **state)
{
	char *other = tpath("pol/other"), *rel = tpath("pol/mine/rel.qcow2");
	char *abs_in = tpath("pol/mine/abs-in.qcow2"), *abs_out = tpath("pol/mine/abs-out.qcow2");
	char *ext = tpath("pol/mine/ext.vmdk"), *dev = tpath("pol/mine/dev.vmdk");
	char *exact = tpath("pol/other/o.raw");
	const char *dirs[] = { other }, *files[] = { exact };
	struct dr_file_policy allow_dir = { .allow = dirs, .nallow = 1 };
	struct dr_file_policy allow_file = { .allow = files, .nallow = 1 };
	struct dr_file_policy trust = { .trust = 1 };

	(void)state;
	if (tu_sh("cd '%s' && mkdir -p pol/mine/sub pol/other && cd pol && "
		  "head -c 1048576 ../base.raw > other/o.raw && cp other/o.raw mine/sub/in.raw && "
		  "qemu-img create -q -f qcow2 -b ../other/o.raw -F raw mine/rel.qcow2 && "
		  "qemu-img create -q -f qcow2 -b \"$PWD/mine/sub/in.raw\" -F raw mine/abs-in.qcow2 && "
		  "qemu-img create -q -f qcow2 -b \"$PWD/other/o.raw\" -F raw mine/abs-out.qcow2 && "
		  "printf '# Disk DescriptorFile\\nversion=1\\nCID=1\\nparentCID=ffffffff\\n"
		  "RW 2048 FLAT \"sub/in.raw\" 0\\nRW 2048 FLAT \"../other/o.raw\" 0\\n' > mine/ext.vmdk && "
		  "printf '# Disk DescriptorFile\\nversion=1\\nCID=1\\nparentCID=ffffffff\\n"
		  "RW 8 FLAT \"/dev/zero\" 0\\n' > mine/dev.vmdk", tmp) != 0)
		fail_msg("cannot make the policy images");
	/* Default: the image's own tree only, absolute or relative. */
	expect_refused(rel, NULL, "backing file ../other/o.raw resolves outside the disk's directory");
	expect_refused(abs_out, NULL, "resolves outside the disk's directory");
	expect_link(abs_in, NULL, 1, 0, DR_RULE_SAME_TREE, "/pol/mine/sub/in.raw");
	expect_refused(ext, NULL, "vmdk extent ../other/o.raw resolves outside");
	/* --backing-dir as a directory, as one exact file; --trust-backing. */
	expect_link(rel, &allow_dir, 1, 0, DR_RULE_ALLOWED, "/pol/other/o.raw");
	expect_link(ext, &allow_dir, 2, 1, DR_RULE_ALLOWED, "/pol/other/o.raw");
	expect_link(ext, &allow_file, 2, 0, DR_RULE_SAME_TREE, "/pol/mine/sub/in.raw");
	expect_link(abs_out, &allow_file, 1, 0, DR_RULE_ALLOWED, "/pol/other/o.raw");
	expect_link(abs_out, &trust, 1, 0, DR_RULE_TRUSTED, "/pol/other/o.raw");
	/* Devices: never, even trusted, unless named exactly. */
	expect_refused(dev, &trust, "/dev/zero, not a regular file: never followed");
	{
		const char *z[] = { "/dev/zero" };
		struct dr_file_policy named = { .allow = z, .nallow = 1 };

		expect_refused(dev, &named, "not a regular file or a block device");
	}
	/* An allow entry that does not exist is an error, not ignored. */
	{
		const char *gone[] = { "/nonexistent/vm2oci-dir" };
		struct dr_file_policy bad = { .allow = gone, .nallow = 1 };

		expect_refused(abs_in, &bad, "/nonexistent/vm2oci-dir: cannot resolve");
	}
	free(other);
	free(rel);
	free(abs_in);
	free(abs_out);
	free(ext);
	free(dev);
	free(exact);
}

static void test_bad_vmdk(void **state)
{
	char *img = tpath("v.vmdk"), *t = tpath("vbad.vmdk"), *s = tpath("vs.vmdk");
	char *d = tpath("vdesc.vmdk");
	unsigned char four[4] = { 0xff, 0xff, 0xff, 0x0f };
	uint64_t gd;

	if (tu_sh("cd '%s' && head -c 3000000 base.raw > small.raw && "
		  "qemu-img convert -O vmdk small.raw v.vmdk && "
		  "qemu-img convert -O vmdk -o subformat=streamOptimized small.raw vs.vmdk", tmp) != 0)
		fail_msg("cannot make vmdk images");
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 0, "KDMX", 4);
	expect_error(t, "vmdk", "vbad.vmdk", "no KDMV magic");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 4, "\x09\0\0\0", 4);
	expect_error(t, NULL, "vbad.vmdk", "unsupported vmdk version 9");

	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 20, "\x03\0\0\0", 4);
	expect_error(t, NULL, "vbad.vmdk", "invalid vmdk grain size");

	/* First GD entry: a grain table far past the end. */
	{
		unsigned char b[8];
		int fd = open(img, O_RDONLY), i;

		assert_int_equal(pread(fd, b, 8, 56), 8);
		close(fd);
		gd = 0;
		for (i = 7; i >= 0; i--)
			gd = gd << 8 | b[i];
	}
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, gd * 512, four, 4);
	expect_error(t, NULL, "vbad.vmdk", "grain table at sector 268435455 lies beyond the end");

	/* Truncated stream (qemu-img writes the GD up front): grains missing. */
	sh_ok("head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", s, s, t);
	expect_error(t, NULL, "vbad.vmdk", "the end of the file");

	/* A garbage grain in a stream. */
	sh_ok("cp '%s' '%s'%s", s, t, "");
	{
		unsigned char junk[600];

		memset(junk, 0x5a, sizeof(junk));
		/* grains start after the header and descriptor: sector 128 on */
		patch(t, 128 * 512 + 12, junk, sizeof(junk));
	}
	expect_error(t, NULL, "vbad.vmdk", "corrupt");

	/* A descriptor whose extent is missing. */
	{
		FILE *f = fopen(d, "w");

		fprintf(f, "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n"
			   "createType=\"monolithicFlat\"\nRW 2048 FLAT \"nowhere-flat.vmdk\" 0\n");
		fclose(f);
	}
	expect_error(d, NULL, "nowhere-flat.vmdk", "cannot open");
	expect_error(d, NULL, "vdesc.vmdk", "vmdk extent");
	{
		FILE *f = fopen(d, "w");

		fprintf(f, "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n");
		fclose(f);
	}
	expect_error(d, NULL, "vdesc.vmdk", "lists no extents");
	{
		FILE *f = fopen(d, "w");

		fprintf(f, "# Disk DescriptorFile\nRW 2048 VMFSRDM \"x.vmdk\"\n");
		fclose(f);
	}
	expect_error(d, NULL, "vdesc.vmdk", "unsupported vmdk extent type VMFSRDM");
	free(img);
	free(t);
	free(s);
	free(d);
}

static void test_corruption(void **state)
{
	char *q = tpath("fz.qcow2"), *qz = tpath("fzc.qcow2"), *v = tpath("fz.vmdk");
	char *vs = tpath("fzs.vmdk"), *dst = tpath("fuzzed.img");
	const char *env = getenv("VM2OCI_CORRUPT_ITERATIONS");
	int n = env && atoi(env) > 0 ? atoi(env) : 300; /* more for a soak under ASan */

	if (tu_sh("cd '%s' && head -c 2000000 base.raw > f.raw && "
		  "dd if=base.raw bs=1M skip=5 count=1 status=none >> f.raw && "
		  "qemu-img convert -O qcow2 -o cluster_size=4k f.raw fz.qcow2 && "
		  "qemu-img convert -O qcow2 -c -o cluster_size=4k f.raw fzc.qcow2 && "
		  "qemu-img convert -O vmdk f.raw fz.vmdk && "
		  "qemu-img convert -O vmdk -o subformat=streamOptimized f.raw fzs.vmdk", tmp) != 0)
		fail_msg("cannot make the corruption seeds");
	corrupt_loop(q, dst, n);
	corrupt_loop(qz, dst, n);
	corrupt_loop(v, dst, n);
	corrupt_loop(vs, dst, n);
	free(q);
	free(qz);
	free(v);
	free(vs);
	free(dst);
}

/* ---- realistic fixtures (optional) -------------------------------------- */

static void test_fixtures(void **state)
{
	static const char *names[] = { "debian-gpt.qcow2", "debian-gpt-zlib.qcow2",
				       "debian-gpt-zstd.qcow2", "debian-gpt-v2.qcow2",
				       "debian-gpt.vmdk", "debian-gpt-stream.vmdk",
				       "clone.qcow2" };
	char *raw = tu_fixture_path("debian-gpt.raw"), *raw_sum = NULL;
	unsigned i, found = 0;

	/* Every debian-gpt.* is a conversion of debian-gpt.raw. */
	if (raw)
		raw_sum = tu_sh_out("sha256sum '%s'", raw);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = tu_fixture_path(names[i]);
		char *cmd_sum, *ours;
		struct dr_blockdev *bd;
		struct ut_err err;
		char hex[UT_SHA256_HEX];

		if (!p)
			continue;
		found++;
		if (raw_sum && !strncmp(names[i], "debian-gpt", 10)) {
			cmd_sum = strdup(raw_sum);
		} else {
			char *out = tpath("fixture.raw");

			cmd_sum = tu_sh_out("qemu-img convert -U -O raw '%s' '%s' && sha256sum '%s'",
					    p, out, out);
			unlink(out);
			free(out);
		}
		assert_int_equal(dr_blockdev_open(p, NULL, &bd, &err), 0);
		bd_sha256(bd, hex);
		ours = hex;
		if (strncmp(cmd_sum, ours, 64))
			fail_msg("%s: sha256 %s, qemu-img %.64s", p, ours, cmd_sum);
		free(cmd_sum);
		dr_blockdev_free(bd);
		free(p);
	}
	free(raw);
	free(raw_sum);
	if (!found)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_qcow2_v2),
		cmocka_unit_test(test_qcow2_v3),
		cmocka_unit_test(test_qcow2_zlib),
		cmocka_unit_test(test_qcow2_zstd),
		cmocka_unit_test(test_qcow2_cluster_sizes),
		cmocka_unit_test(test_qcow2_extended_l2),
		cmocka_unit_test(test_vmdk_sparse),
		cmocka_unit_test(test_vmdk_stream),
		cmocka_unit_test(test_vmdk_descriptors),
		cmocka_unit_test(test_vmdk_hand_descriptor),
		cmocka_unit_test(test_overlay),
		cmocka_unit_test(test_overlay_extended_l2),
		cmocka_unit_test(test_chain3),
		cmocka_unit_test(test_vmdk_delta),
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_bad_qcow2_header),
		cmocka_unit_test(test_bad_qcow2_tables),
		cmocka_unit_test(test_bad_qcow2_compressed),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_backing_loops),
		cmocka_unit_test(test_file_policy),
		cmocka_unit_test(test_bad_vmdk),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_fixtures),
	};

	return cmocka_run_group_tests_name("diskread: block devices against qemu-img",
					  tests, bd_group_setup, bd_group_teardown);
}
