/*
 * test_formats.c - the VHDX, VHD (vpc), VDI and QED block devices against
 * qemu-img, and formats no backend reads refused by name.
 *
 * Images are made by qemu-img/qemu-io from a patterned raw image with
 * holes and compared byte for byte with `qemu-img convert -O raw` of them.
 * qemu reads no differencing VHD (it takes one for a dynamic disk) and no
 * differencing VHDX, so those are made by patching qemu's dynamic images
 * into differencing ones, and the expected bytes are composed from qemu's
 * reading of the child as a dynamic disk and of the parent.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdint.h>

#include "diskread.h"
#include "bd_check.h"
#include "dr_internal.h" /* dr_crc32c, to re-checksum patched VHDX headers */

/* ---- qemu-img conversions ----------------------------------------------- */

static void test_vhdx(void **state)
{
	char *img = tpath("w.vhdx");

	convert_and_compare("d.vhdx", "-O vhdx", "vhdx");
	convert_and_compare("d1m.vhdx", "-O vhdx -o block_size=1M,subformat=dynamic", "vhdx");
	convert_and_compare("d8m.vhdx", "-O vhdx -o block_size=8M,log_size=1M", "vhdx");
	convert_and_compare("f.vhdx", "-O vhdx -o subformat=fixed", "vhdx");
	convert_and_compare("f1m.vhdx", "-O vhdx -o subformat=fixed,block_size=1M", "vhdx");
	/* Written by qemu after creation: BAT updates go through the log,
	 * which qemu flushes and retires on close. */
	if (tu_sh("qemu-img convert -O vhdx -o block_size=1M '%s' '%s' && "
		  "qemu-io -f vhdx -c 'write -P 0x5a 3M 64k' -c 'write -z 0 1M' "
		  "-c 'write -P 0x11 30M 1536k' '%s' >/dev/null", base, img, img) != 0)
		fail_msg("cannot write into a vhdx");
	compare_with_qemu(img, NULL);
	free(img);
}

static void test_vpc(void **state)
{
	struct dr_blockdev *bd;
	struct ut_err err;
	char *img = tpath("f.vhd");

	/* qemu's own "qemu" creator: the size is the CHS geometry's, larger
	 * than 64 MiB; with force_size the footer's current size. */
	convert_and_compare("d.vhd", "-O vpc", "vpc");
	convert_and_compare("ds.vhd", "-O vpc -o subformat=dynamic,force_size=on", "vpc");
	/* Fixed: the only footer is at the end (qemu itself probes it as raw,
	 * so it is told the format; ours finds the footer). */
	convert_and_compare("f.vhd", "-O vpc -o subformat=fixed", "vpc");
	convert_and_compare("fs.vhd", "-O vpc -o subformat=fixed,force_size=on", "vpc");
	sh_ok("qemu-img convert -O vpc -o subformat=fixed,force_size=on '%s' '%s'%s", base, img, "");
	assert_int_equal(dr_blockdev_open(img, NULL, &bd, &err), 0);
	assert_int_equal(dr_blockdev_size(bd), 64 * MiB);
	dr_blockdev_free(bd);
	/* --format vhd is vpc. */
	compare_with_qemu(img, "vpc");
	assert_int_equal(dr_blockdev_open(img, "vhd", &bd, &err), 0);
	assert_string_equal(dr_blockdev_format(bd), "vpc");
	dr_blockdev_free(bd);
	free(img);
	/* A dynamic disk whose first footer copy is damaged reads through the
	 * last one (qemu refuses it: compared with the undamaged disk). */
	img = tpath("dmg1.vhd");
	sh_ok("cd '%s' && qemu-img convert -O vpc -o force_size=on base.raw '%s' && "
	      "printf conectiy | dd of='%s' conv=notrunc status=none", tmp, img, img);
	assert_int_equal(dr_blockdev_open(img, NULL, &bd, &err), 0);
	assert_string_equal(dr_blockdev_format(bd), "vpc");
	{
		unsigned char *got = malloc(64 * MiB);
		size_t len;
		unsigned char *want = slurp(base, &len);

		assert_int_equal(dr_blockdev_size(bd), len);
		assert_int_equal(dr_blockdev_pread(bd, got, len, 0, &err), 0);
		assert_memory_equal(got, want, len);
		free(got);
		free(want);
	}
	dr_blockdev_free(bd);
	free(img);
}

static void test_vdi(void **state)
{
	char *img = tpath("w.vdi");

	convert_and_compare("d.vdi", "-O vdi", "vdi");
	convert_and_compare("s.vdi", "-O vdi -o static=on", "vdi");
	/* Blocks allocated out of order, a discarded one reads as zeros. */
	if (tu_sh("qemu-img create -q -f vdi '%s' 16M && "
		  "qemu-io -f vdi -c 'write -P 0x22 9M 1M' -c 'write -P 0x33 100k 3k' "
		  "-c 'write -P 0x44 15M 1M' '%s' >/dev/null", img, img) != 0)
		fail_msg("cannot write into a vdi");
	compare_with_qemu(img, NULL);
	free(img);
}

static void test_qed(void **state)
{
	convert_and_compare("d.qed", "-O qed", "qed");
	convert_and_compare("c4k.qed", "-O qed -o cluster_size=4k", "qed");
	convert_and_compare("t1.qed", "-O qed -o cluster_size=16k,table_size=2", "qed");
}

/* QED overlays: a qcow2 backing file smaller than the overlay (the tail
 * reads zeros), zero clusters that hide backing data, and a raw backing
 * file qemu marks as not to be probed. */
static void test_qed_backing(void **state)
{
	char *ov = tpath("qb/ov.qed"), *ovr = tpath("qb/ovr.qed");

	if (tu_sh("cd '%s' && mkdir -p qb && "
		  "qemu-img convert -O qcow2 base.raw qb/b.qcow2 && qemu-img resize -q --shrink qb/b.qcow2 48M && "
		  "cd qb && qemu-img create -q -f qed -b b.qcow2 -F qcow2 ov.qed 64M && "
		  "qemu-io -f qed -c 'write -P 0xab 1M 64k' -c 'write -z 3M 128k' -c 'write -P 0x11 40M 4k' "
		  "-c 'write -P 0x22 50M 100k' -c 'write -P 0x33 1000k 1k' ov.qed >/dev/null && "
		  "head -c 20M ../base.raw > r.raw && "
		  "qemu-img create -q -f qed -b r.raw -F raw ovr.qed 24M && "
		  "qemu-io -f qed -c 'write -P 0x44 5M 8k' ovr.qed >/dev/null", tmp) != 0)
		fail_msg("cannot make the qed overlays");
	compare_with_qemu(ov, NULL);
	compare_map(ov);
	compare_with_qemu(ovr, NULL);
	compare_map(ovr);
	free(ov);
	free(ovr);
}

/* ---- differencing VHD --------------------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* The one's complement of the byte sum, with the checksum field zero. */
static void vhd_checksum(unsigned char *footer)
{
	uint32_t sum = 0;
	int i;

	put_be32(footer + 64, 0);
	for (i = 0; i < 512; i++)
		sum += footer[i];
	put_be32(footer + 64, ~sum);
}

/*
 * Turns qemu's dynamic child.vhd into a differencing disk: type 4 in both
 * footers, a parent locator (code, UTF-16LE name) placed where the end
 * footer was (which moves one sector on), and the sector bitmap bits of
 * block 1's first 16 sectors cleared (those read from the parent).
 */
static void make_differencing(const char *child, const char *code, const char *parent_name)
{
	size_t len, i, n = strlen(parent_name);
	unsigned char *f = slurp(child, &len), *out;
	unsigned char name16[1024];
	uint64_t dyn, bat1, loc_at = len - 512;
	unsigned char *loc;

	assert_true(n * 2 <= sizeof(name16));
	for (i = 0; i < n; i++) {
		name16[2 * i] = (unsigned char)parent_name[i];
		name16[2 * i + 1] = 0;
	}
	out = calloc(1, len + 512);
	memcpy(out, f, len);
	put_be32(out + 60, 4);
	vhd_checksum(out);
	dyn = read_be64(child, 16);
	loc = out + dyn + 576;
	memcpy(loc, code, 4);
	put_be32(loc + 4, 512);
	put_be32(loc + 8, (uint32_t)(2 * n));
	put_be32(loc + 16, (uint32_t)(loc_at >> 32));
	put_be32(loc + 20, (uint32_t)loc_at);
	memset(out + loc_at, 0, 512);
	memcpy(out + loc_at, name16, 2 * n);
	memcpy(out + len, out, 512); /* the end footer, one sector further */
	/* Block 1's BAT entry: the sector of its bitmap. */
	bat1 = 512ULL * ut_be32(out + read_be64(child, dyn + 16) + 4);
	assert_true(bat1 > 0 && bat1 < len);
	out[bat1] = 0;
	out[bat1 + 1] = 0;
	spit(child, out, len + 512);
	free(f);
	free(out);
}

static void read_all(const char *img, unsigned char *got, uint64_t size)
{
	struct dr_blockdev *bd;
	struct ut_err err;

	if (dr_blockdev_open(img, NULL, &bd, &err) < 0)
		fail_msg("open %s: %s", img, err.msg);
	assert_int_equal(dr_blockdev_size(bd), size);
	assert_non_null(dr_blockdev_backing(bd));
	if (dr_blockdev_pread(bd, got, size, 0, &err) < 0)
		fail_msg("read %s: %s", img, err.msg);
	dr_blockdev_free(bd);
}

static void test_vpc_differencing(void **state)
{
	char *child = tpath("vd/child.vhd"), *child2 = tpath("vd/child2.vhd");
	char *pref = tpath("vd/parent.ref"), *cref = tpath("vd/child.ref");
	unsigned char *parent, *dyn, *got, *want;
	size_t plen, clen;
	struct dr_blockdev *bd;
	struct ut_err err;
	uint64_t pnum;
	int alloc, inb;

	/* 8 MiB, 2 MiB blocks: block 1 written (192 KiB at 2 MiB), block 2
	 * written at 5 MiB, blocks 0 and 3 left to the parent. */
	if (tu_sh("cd '%s' && mkdir -p vd && cd vd && head -c 8M ../base.raw > p.raw && "
		  "qemu-img convert -O vpc -o force_size=on p.raw parent.vhd && "
		  "qemu-img create -q -f vpc -o force_size=on child.vhd 8M && "
		  "qemu-io -f vpc -c 'write -P 0x5a 2M 192k' -c 'write -P 0x6b 5M 4k' child.vhd >/dev/null && "
		  "cp child.vhd child2.vhd && "
		  "qemu-img convert -f vpc -O raw parent.vhd parent.ref && "
		  "qemu-img convert -f vpc -O raw child.vhd child.ref", tmp) != 0)
		fail_msg("cannot make the vhd pair");
	make_differencing(child, "W2ru", ".\\parent.vhd");
	/* An absolute Windows path: its last component, next to the child. */
	make_differencing(child2, "W2ku", "C:\\Hyper-V\\disks\\parent.vhd");
	parent = slurp(pref, &plen);
	dyn = slurp(cref, &clen);
	assert_int_equal(plen, 8 * MiB);
	assert_int_equal(clen, 8 * MiB);
	/* Blocks 1 and 2 from the child except block 1's first 8 KiB. */
	want = malloc(8 * MiB);
	memcpy(want, parent, 8 * MiB);
	memcpy(want + 2 * MiB + 8192, dyn + 2 * MiB + 8192, 4 * MiB - 8192);
	got = malloc(8 * MiB);
	read_all(child, got, 8 * MiB);
	assert_memory_equal(got, want, 8 * MiB);
	memset(got, 0, 8 * MiB);
	read_all(child2, got, 8 * MiB);
	assert_memory_equal(got, want, 8 * MiB);
	/* The child's own bytes say so; the parent's too. */
	assert_true(dyn[2 * MiB + 8192] == 0x5a && dyn[5 * MiB] == 0x6b);
	assert_int_equal(dr_blockdev_open(child, NULL, &bd, &err), 0);
	assert_int_equal(dr_blockdev_block_status(bd, 0, 8 * MiB, &pnum, &alloc, &inb, &err), 0);
	assert_true(inb == 1 && alloc == 0 && pnum == 2 * MiB + 8192);
	assert_int_equal(dr_blockdev_block_status(bd, 2 * MiB + 8192, 8 * MiB, &pnum, &alloc, &inb,
						  &err), 0);
	assert_true(alloc == 1 && inb == 0 && pnum == 4 * MiB - 8192);
	dr_blockdev_free(bd);
	/* Without its parent: an error naming both. */
	sh_ok("cd '%s/vd' && mv parent.vhd parent.gone%s%s", tmp, "", "");
	expect_error(child, NULL, "parent.vhd", "cannot open");
	free(parent);
	free(dyn);
	free(got);
	free(want);
	free(child);
	free(child2);
	free(pref);
	free(cref);
}

/* qemu (libguestfs' reader) would read a differencing VHD without its
 * parent: an xfs filesystem on one is refused before any appliance runs. */
static void test_vpc_differencing_guestfs_refused(void **state)
{
	char *child = tpath("vx/child.vhd");
	struct dr_blockdev *bd;
	struct dr_fs *fs = NULL;
	struct ut_err err;

	if (!tu_have("mkfs.xfs"))
		skip();
	if (tu_sh("cd '%s' && mkdir -p vx && cd vx && truncate -s 320M xfs.raw && "
		  "mkfs.xfs -q xfs.raw && "
		  "qemu-img create -q -f vpc -o force_size=on child.vhd 320M && "
		  "qemu-io -f vpc -c 'write -P 0 2M 64k' child.vhd >/dev/null", tmp) != 0)
		fail_msg("cannot make the xfs pair");
	make_differencing(child, "W2ru", "xfs.raw");
	assert_int_equal(dr_blockdev_open(child, NULL, &bd, &err), 0);
	assert_string_equal(dr_blockdev_format(dr_blockdev_backing(bd)), "raw");
	assert_int_equal(dr_fs_open(bd, &fs, &err), -1);
	assert_null(fs);
	if (!strstr(err.msg, "child.vhd") || !strstr(err.msg, "differencing vpc"))
		fail_msg("unexpected error: %s", err.msg);
	dr_blockdev_free(bd);
	free(child);
}

/* ---- differencing VHDX -------------------------------------------------- */

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static size_t put_utf16(unsigned char *p, const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		p[2 * i] = (unsigned char)s[i];
		p[2 * i + 1] = 0;
	}
	return 2 * i;
}

/*
 * Turns qemu's dynamic child.vhdx (64 MiB, 1 MiB blocks, so one chunk of
 * 4096 blocks and a differencing BAT of 4097 entries) into a differencing
 * disk: HasParent set, a parent locator item (relative_path) added to the
 * metadata, and the BAT rewritten: block 2 PARTIALLY_PRESENT with a sector
 * bitmap block appended to the file (its first 64 KiB present), blocks
 * never written NOT_PRESENT (from the parent), block 5 ZERO.
 */
static void make_vhdx_differencing(const char *child, const char *parent_rel)
{
	static const unsigned char locator_guid[16] = {
		0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45,
		0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c };
	static const unsigned char params_guid[16] = {
		0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
		0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
	static const unsigned char type_guid[16] = {
		0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
		0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };
	size_t len, i, n;
	unsigned char *f = slurp(child, &len), *out, *r, *meta, *loc;
	uint64_t bat_off = 0, meta_off = 0, sb_off;
	uint32_t meta_len = 0, max_item = 0;
	uint16_t items;

	sb_off = (len + MiB - 1) / MiB * MiB;
	out = calloc(1, sb_off + MiB);
	memcpy(out, f, len);
	r = out + 192 * 1024;
	for (i = 0; i < get_le32(r + 8); i++) {
		unsigned char *e = r + 16 + 32 * i;

		if (e[0] == 0x66)
			bat_off = get_le32(e + 16) | (uint64_t)get_le32(e + 20) << 32;
		else if (e[0] == 0x06) {
			meta_off = get_le32(e + 16) | (uint64_t)get_le32(e + 20) << 32;
			meta_len = get_le32(e + 24);
		}
	}
	assert_true(bat_off && meta_off && meta_len >= MiB);
	meta = out + meta_off;
	items = (uint16_t)(meta[10] | meta[11] << 8);
	for (i = 0; i < items; i++) {
		unsigned char *e = meta + 32 + 32 * i;
		uint32_t end = get_le32(e + 16) + get_le32(e + 20);

		if (end > max_item)
			max_item = end;
		if (!memcmp(e, params_guid, 16))
			put_le32(meta + get_le32(e + 16) + 4, 2); /* HasParent */
	}
	/* The locator item after the others. */
	loc = meta + max_item;
	memcpy(loc, type_guid, 16);
	loc[18] = 1; /* one key/value pair */
	n = put_utf16(loc + 64, "relative_path");
	put_le32(loc + 20, 64);
	loc[28] = (unsigned char)n;
	put_le32(loc + 24, 256);
	loc[30] = (unsigned char)put_utf16(loc + 256, parent_rel);
	{
		unsigned char *e = meta + 32 + 32 * items;

		memcpy(e, locator_guid, 16);
		put_le32(e + 16, max_item);
		put_le32(e + 20, 512);
		put_le32(e + 24, 1 << 2 | 1 << 1); /* required, virtual disk */
		meta[10] = (unsigned char)(items + 1);
	}
	/* BAT: 64 payload entries, then the chunk's bitmap entry at 4096. */
	for (i = 0; i < 64; i++) {
		unsigned char *e = out + bat_off + 8 * i;
		unsigned state = e[0] & 7;

		if (state != 6)
			put_le64(e, 0); /* NOT_PRESENT: the parent's */
	}
	assert_int_equal(out[bat_off + 8 * 2] & 7, 6);
	out[bat_off + 8 * 2] = (out[bat_off + 8 * 2] & ~7) | 7; /* PARTIALLY_PRESENT */
	put_le64(out + bat_off + 8 * 5, 2);                        /* ZERO */
	put_le64(out + bat_off + 8 * 4096, sb_off | 6);           /* SB_BLOCK_PRESENT */
	/* Block 2 is sectors 4096..6143 of the chunk: its first 128 sectors
	 * (64 KiB) come from this file. */
	memset(out + sb_off + 4096 / 8, 0xff, 128 / 8);
	spit(child, out, sb_off + MiB);
	free(f);
	free(out);
}

static void test_vhdx_differencing(void **state)
{
	char *child = tpath("xd/child.vhdx"), *pref = tpath("xd/parent.ref");
	char *cref = tpath("xd/child.ref");
	unsigned char *parent, *dyn, *got, *want;
	size_t plen, clen;

	/* The child has data in blocks 2, 5 and 7. */
	if (tu_sh("cd '%s' && mkdir -p xd && cd xd && "
		  "qemu-img convert -O vhdx -o block_size=1M ../base.raw parent.vhdx && "
		  "qemu-img create -q -f vhdx -o block_size=1M child.vhdx 64M && "
		  "qemu-io -f vhdx -c 'write -P 0x5a 2M 1M' -c 'write -P 0x6b 5M 4k' "
		  "-c 'write -P 0x7c 7M 8k' child.vhdx >/dev/null && "
		  "qemu-img convert -O raw parent.vhdx parent.ref && "
		  "qemu-img convert -O raw child.vhdx child.ref", tmp) != 0)
		fail_msg("cannot make the vhdx pair");
	make_vhdx_differencing(child, "parent.vhdx");
	parent = slurp(pref, &plen);
	dyn = slurp(cref, &clen);
	assert_int_equal(plen, 64 * MiB);
	want = malloc(64 * MiB);
	memcpy(want, parent, 64 * MiB);
	memcpy(want + 2 * MiB, dyn + 2 * MiB, 64 * 1024);  /* block 2's present part */
	memset(want + 5 * MiB, 0, MiB);                    /* block 5: ZERO */
	memcpy(want + 7 * MiB, dyn + 7 * MiB, MiB);        /* block 7: fully present */
	assert_true(dyn[2 * MiB] == 0x5a && dyn[7 * MiB] == 0x7c);
	got = malloc(64 * MiB);
	read_all(child, got, 64 * MiB);
	assert_memory_equal(got, want, 64 * MiB);
	free(parent);
	free(dyn);
	free(got);
	free(want);
	free(child);
	free(pref);
	free(cref);
}

/* ---- bad input ---------------------------------------------------------- */

static void patch_le32(const char *path, uint64_t off, uint32_t v)
{
	unsigned char b[4];

	put_le32(b, v);
	patch(path, off, b, 4);
}

/* Sets a VHDX header's log GUID and re-checksums it; with an entry, also
 * writes a valid log entry of that GUID at the start of the log. */
static void vhdx_set_log_guid(const char *path, uint64_t hdr_off, int entry)
{
	unsigned char h[4096], e[4096];
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), hdr_off), (ssize_t)sizeof(h));
	memset(h + 48, 0x42, 16);
	put_le32(h + 4, 0);
	put_le32(h + 4, dr_crc32c(h, sizeof(h)));
	assert_int_equal(pwrite(fd, h, sizeof(h), hdr_off), (ssize_t)sizeof(h));
	if (entry) {
		memset(e, 0, sizeof(e));
		memcpy(e, "loge", 4);
		put_le32(e + 8, sizeof(e));
		put_le64(e + 16, 1);
		memcpy(e + 32, h + 48, 16);
		put_le32(e + 4, dr_crc32c(e, sizeof(e)));
		assert_int_equal(pwrite(fd, e, sizeof(e), get_le32(h + 72) |
					(uint64_t)get_le32(h + 76) << 32), (ssize_t)sizeof(e));
	}
	close(fd);
}

/* A copy t of img with a width-byte value (big-endian or little) written
 * at off must fail to read with reason. */
static void expect_patched(const char *img, const char *t, uint64_t off, int width, int big,
			   uint64_t v, const char *reason)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < width; i++)
		b[big ? width - 1 - i : i] = (unsigned char)(v >> (8 * i));
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, off, b, (size_t)width);
	expect_error(t, NULL, strrchr(t, '/') + 1, reason);
}

static void test_bad_vhdx(void **state)
{
	char *img = small_image("b.vhdx", "-O vhdx -o block_size=1M", 3 * MiB);
	char *t = tpath("bad.vhdx");
	uint64_t bat_off;

	sh_ok("head -c 200000 '%s' > '%s'%s", img, t, "");
	expect_error(t, NULL, "bad.vhdx", "truncated VHDX");
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 64 * 1024 + 100, "x", 1);
	patch(t, 128 * 1024 + 100, "x", 1);
	expect_error(t, NULL, "bad.vhdx", "no valid VHDX header");
	/* A log GUID over a log with no entry of it: already applied. */
	sh_ok("cp '%s' '%s'%s", img, t, "");
	vhdx_set_log_guid(t, 64 * 1024, 0);
	vhdx_set_log_guid(t, 128 * 1024, 0);
	compare_with_qemu(t, NULL);
	/* With an entry to replay. */
	vhdx_set_log_guid(t, 64 * 1024, 1);
	vhdx_set_log_guid(t, 128 * 1024, 1);
	expect_error(t, NULL, "bad.vhdx", "VHDX log needs replay (not supported");
	/* One bad header: the other one serves. */
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 64 * 1024 + 100, "x", 1);
	compare_with_qemu(t, NULL);
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, 192 * 1024 + 40, "x", 1);
	patch(t, 256 * 1024 + 40, "x", 1);
	expect_error(t, NULL, "bad.vhdx", "no valid VHDX region table");
	/* The BAT: an entry far past the end of the file, an invalid state. */
	{
		unsigned char r[96];

		read_at(img, 192 * 1024, r, sizeof(r));
		bat_off = r[16] == 0x66 ? get_le32(r + 32) : get_le32(r + 64);
	}
	expect_patched(img, t, bat_off, 8, 0, (1ULL << 40) | 6, "lies beyond the end of the file");
	expect_patched(img, t, bat_off, 8, 0, 4, "invalid state 4");
	expect_patched(img, t, bat_off, 8, 0, (1ULL << 20) | 7, "partially present in a disk without a parent");
	free(img);
	free(t);
}

static void test_bad_vpc(void **state)
{
	char *img = small_image("b.vhd", "-O vpc -o force_size=on", 3 * MiB);
	char *t = tpath("bad.vhd");
	uint64_t dyn = read_be64(img, 16);

	sh_ok("head -c 100 '%s' > '%s'%s", img, t, "");
	expect_error(t, "vpc", "bad.vhd", "truncated VHD");
	sh_ok("head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", img, img, t);
	expect_error(t, NULL, "bad.vhd", "runs past the end of the file (truncated?)");
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch(t, dyn, "xxsparse", 8);
	expect_error(t, NULL, "bad.vhd", "no cxsparse cookie");
	expect_patched(img, t, dyn + 32, 4, 1, 3000, "invalid VHD block size 3000");
	expect_patched(img, t, dyn + 16, 8, 1, 1ULL << 40, "block table at 1099511627776 lies beyond the end");
	expect_patched(img, t, dyn + 28, 4, 1, 1, "block table too small");
	expect_patched(img, t, 48, 8, 1, 1ULL << 50, "larger than 2040 GiB");
	expect_patched(img, t, 60, 4, 1, 9, "unsupported VHD disk type 9");
	/* A differencing disk whose locators name nothing. */
	expect_patched(img, t, 60, 4, 1, 4, "names no parent");
	free(img);
	free(t);
}

static void test_bad_vdi(void **state)
{
	char *img = small_image("b.vdi", "-O vdi", 3 * MiB);
	char *t = tpath("bad.vdi");
	uint32_t bmap;

	{
		unsigned char h[512];

		read_at(img, 0, h, sizeof(h));
		bmap = get_le32(h + 340);
	}
	sh_ok("head -c 300 '%s' > '%s'%s", img, t, "");
	expect_error(t, NULL, "bad.vdi", "truncated VDI header");
	expect_patched(img, t, 68, 4, 0, 0x00020000, "unsupported VDI version 2.0");
	expect_patched(img, t, 76, 4, 0, 4, "VDI differencing images are not supported");
	expect_patched(img, t, 368, 8, 0, 1ULL << 40, "larger than its");
	expect_patched(img, t, 376, 4, 0, 1000, "invalid VDI block size 1000");
	expect_patched(img, t, 340, 4, 0, 0x7fffffff, "block map at 2147483647 lies beyond the end");
	expect_patched(img, t, bmap, 4, 0, 0x7fffffff, "maps to block 2147483647");
	/* Truncated inside block 0's data: block 1 is lost. */
	{
		char cut[32];
		unsigned char h[512];

		read_at(img, 0, h, sizeof(h));
		snprintf(cut, sizeof(cut), "%u", get_le32(h + 344) + 100);
		sh_ok("head -c %s '%s' > '%s'", cut, img, t);
	}
	expect_error(t, NULL, "bad.vdi", "lies beyond the end of the file");
	free(img);
	free(t);
}

static void test_bad_qed(void **state)
{
	char *img = small_image("b.qed", "-O qed -o cluster_size=4k", 3 * MiB);
	char *t = tpath("bad.qed");
	uint64_t l1, l2;

	{
		unsigned char h[64], e[8];

		read_at(img, 0, h, sizeof(h));
		l1 = get_le32(h + 40) | (uint64_t)get_le32(h + 44) << 32;
		read_at(img, l1, e, sizeof(e));
		l2 = get_le32(e) | (uint64_t)get_le32(e + 4) << 32;
	}
	assert_true(l2 > 0);
	sh_ok("head -c 40 '%s' > '%s'%s", img, t, "");
	expect_error(t, NULL, "bad.qed", "truncated QED header");
	expect_patched(img, t, 4, 4, 0, 3000, "invalid QED cluster size 3000");
	expect_patched(img, t, 8, 4, 0, 32, "invalid QED table size 32");
	expect_patched(img, t, 16, 8, 0, 0x100, "unsupported QED features 0x100");
	expect_patched(img, t, 48, 8, 0, 1ULL << 60, "invalid QED image size");
	expect_patched(img, t, 40, 8, 0, 1ULL << 40, "L1 table at 1099511627776 lies beyond the end");
	expect_patched(img, t, l1, 8, 0, 1ULL << 40, "L2 table at 1099511627776 lies beyond the end");
	expect_patched(img, t, l2, 8, 0, 1ULL << 40, "is not a cluster of the file");
	sh_ok("cp '%s' '%s'%s", img, t, "");
	patch_le64(t, 16, 1);
	patch_le32(t, 56, 4000000);
	patch_le32(t, 60, 10);
	expect_error(t, NULL, "bad.qed", "backing file name lies outside the header");
	free(img);
	free(t);
}

static void test_corruption(void **state)
{
	static const struct {
		const char *name, *opts;
	} seeds[] = {
		{ "fz.vhdx", "-O vhdx -o block_size=1M" },
		{ "fz.vhd", "-O vpc" },
		{ "fz.vdi", "-O vdi" },
		{ "fz.qed", "-O qed -o cluster_size=4k" },
	};
	const char *env = getenv("VM2OCI_CORRUPT_ITERATIONS");
	int n = env && atoi(env) > 0 ? atoi(env) : 300;
	char *dst = tpath("fuzzed.img");
	size_t i;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char *img = small_image(seeds[i].name, seeds[i].opts, 3 * MiB);

		corrupt_loop(img, dst, n);
		/* qemu's VHDX keeps its unchecksummed parts, the BAT and the
		 * metadata, at 2 and 3 MiB. */
		if (i == 0)
			corrupt_span(img, dst, n, 2 * MiB, MiB + 65536);
		free(img);
	}
	free(dst);
}

/* ---- formats refused by name -------------------------------------------- */

static void test_unsupported_named(void **state)
{
	char *p = tpath("u.img");

	sh_ok("qemu-img create -q -f parallels '%s' 8M%s%s", p, "", "");
	expect_error(p, NULL, "u.img", "Parallels format is not supported");
	/* qemu-img cannot time its key derivation here: a LUKS header's
	 * magic and version are enough for the probe. */
	sh_ok("printf 'LUKS\\272\\276\\000\\001' > '%s' && truncate -s 1M '%s'%s", p, p, "");
	expect_error(p, NULL, "u.img", "LUKS encrypted format is not supported");
	sh_ok("printf 'COWD\\001\\000\\000\\000' > '%s' && truncate -s 1M '%s'%s", p, p, "");
	expect_error(p, NULL, "u.img", "VMware ESX/cow (COWD) format is not supported");
	sh_ok("printf 'Bochs Virtual HD Image' > '%s' && truncate -s 1M '%s'%s", p, p, "");
	expect_error(p, NULL, "u.img", "Bochs format is not supported");
	sh_ok("rm -f '%s' && truncate -s 1M '%s' && printf koly | dd of='%s' bs=1 seek=$((1048576 - 512)) "
	      "conv=notrunc status=none", p, p, p);
	expect_error(p, NULL, "u.img", "Apple disk image (dmg) format is not supported");
	/* Said to be raw, it is raw. */
	{
		struct dr_blockdev *bd;
		struct ut_err err;

		assert_int_equal(dr_blockdev_open(p, "raw", &bd, &err), 0);
		dr_blockdev_free(bd);
	}
	/* A format forced onto the wrong file. */
	expect_error(base, "vhdx", "base.raw", "no vhdxfile signature");
	expect_error(base, "vhd", "base.raw", "no conectix footer");
	expect_error(base, "vdi", "base.raw", "bad signature");
	expect_error(base, "qed", "base.raw", "bad magic");
	free(p);
}

/* ---- the sample disk ---------------------------------------------------- */

/* debian-gpt.raw in each format reads back as the same bytes. */
static void test_fixture_formats(void **state)
{
	static const char *const opts[] = {
		"-O vhdx", "-O vpc -o force_size=on", "-O vpc -o subformat=fixed,force_size=on",
		"-O vdi", "-O qed",
	};
	char *raw = tu_fixture_path("debian-gpt.raw"), *want;
	size_t i;

	if (!raw)
		skip();
	want = tu_sh_out("sha256sum < '%s'", raw);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *img = tpath("fixture.img");
		struct dr_blockdev *bd;
		struct ut_err err;
		char hex[UT_SHA256_HEX];

		if (tu_sh("qemu-img convert %s '%s' '%s'", opts[i], raw, img) != 0)
			fail_msg("qemu-img convert %s of the fixture failed", opts[i]);
		if (dr_blockdev_open(img, NULL, &bd, &err) < 0)
			fail_msg("%s: %s", opts[i], err.msg);
		bd_sha256(bd, hex);
		print_message("%-40s %s %s\n", opts[i], dr_blockdev_format(bd), hex);
		if (strncmp(want, hex, 64))
			fail_msg("%s: sha256 %s, the raw disk %.64s", opts[i], hex, want);
		dr_blockdev_free(bd);
		unlink(img);
		free(img);
	}
	free(want);
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vhdx),
		cmocka_unit_test(test_vpc),
		cmocka_unit_test(test_vdi),
		cmocka_unit_test(test_qed),
		cmocka_unit_test(test_qed_backing),
		cmocka_unit_test(test_vpc_differencing),
		cmocka_unit_test(test_vpc_differencing_guestfs_refused),
		cmocka_unit_test(test_vhdx_differencing),
		cmocka_unit_test(test_bad_vhdx),
		cmocka_unit_test(test_bad_vpc),
		cmocka_unit_test(test_bad_vdi),
		cmocka_unit_test(test_bad_qed),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_unsupported_named),
		cmocka_unit_test(test_fixture_formats),
	};

	return cmocka_run_group_tests(tests, bd_group_setup, bd_group_teardown);
}
