/*
 * vpc.c - Virtual PC / Hyper-V VHD disks, read-only: fixed (the data, then
 * a 512-byte footer at the end), dynamic (a footer copy at the start, a
 * dynamic header, a BAT of 32-bit sector offsets, each block a sector
 * bitmap then the data) and differencing (dynamic, plus a parent named by
 * parent locators; the sector bitmap says which sectors this file holds).
 * All numbers big-endian. qemu calls the format "vpc"; "vhd" is an alias.
 */
#include "dr_internal.h"

#include <stdlib.h>
#include <string.h>

#define VPC_SECTOR 512ULL
#define VPC_FOOTER_LEN 512
#define VPC_DYN_LEN 1024
#define VPC_UNALLOCATED 0xffffffffU
#define VPC_TYPE_FIXED 2
#define VPC_TYPE_DYNAMIC 3
#define VPC_TYPE_DIFF 4
/* qemu's limits: 2040 GiB, and the largest CHS geometry. */
#define VPC_MAX_SECTORS 0xff000000ULL
#define VPC_MAX_GEOMETRY (65535ULL * 16 * 255)
#define VPC_MAX_BLOCK (256U << 20)
#define VPC_LOCATORS 8
#define VPC_MAX_LOCATOR (64U << 10)

struct vpc {
	struct dr_mapped m; /* first: the generic pread reads it */
	int type;
	uint32_t block_size;
	uint32_t bitmap_size;  /* bytes before each block's data */
	uint32_t n_bat;
	uint32_t *bat;         /* host order */
	unsigned char *bitmap; /* differencing: the last block's sector bitmap */
	uint32_t bitmap_block; /* which block it is; VPC_UNALLOCATED: none */
};

static int vpc_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err);

static int vpc_probe(const unsigned char *head, size_t len)
{
	return len >= 8 && !memcmp(head, "conectix", 8) ? 100 : 0;
}

/* A fixed VHD is a raw image with a footer (and a dynamic one whose first
 * footer copy is damaged still has its last): below every real magic,
 * above raw. */
static int vpc_probe_tail(const unsigned char *tail, size_t len)
{
	if (len >= VPC_FOOTER_LEN && !memcmp(tail + len - VPC_FOOTER_LEN, "conectix", 8))
		return 50;
	return 0;
}

static int host_read(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		     struct ut_err *err)
{
	struct vpc *v = bd->priv;

	return dr_host_pread(v->m.f.fd, v->m.f.size, bd->path, buf, len, off, &bd->bytes_read, err);
}

/*
 * The virtual size as qemu computes it: Virtual PC (and qemu's own "qemu"
 * images) size the disk by its CHS geometry, Hyper-V, disk2vhd and the
 * rest by current_size; the largest geometry means "too big for CHS".
 */
static uint64_t footer_size(const unsigned char *ft)
{
	uint64_t chs = (uint64_t)ut_be16(ft + 56) * ft[58] * ft[59];
	int by_chs = !memcmp(ft + 28, "vpc ", 4) || !memcmp(ft + 28, "qemu", 4);

	if (!by_chs || chs == VPC_MAX_GEOMETRY)
		return ut_be64(ft + 48) / VPC_SECTOR * VPC_SECTOR;
	return chs * VPC_SECTOR;
}

/*
 * The parent's names, best first: the relative Windows path (W2ru), the
 * absolute one (W2ku), a Mac file URL (MacX), then the header's bare
 * parent name (UTF-16BE). Each string is bounds-checked against the file.
 */
static int parent_names(struct dr_blockdev *bd, const unsigned char *dyn, char **names,
			struct ut_err *err)
{
	static const char *const codes[] = { "W2ru", "W2ku", "MacX" };
	size_t c, i;

	for (c = 0; c < 3; c++) {
		for (i = 0; i < VPC_LOCATORS && !names[c]; i++) {
			const unsigned char *loc = dyn + 576 + 24 * i;
			uint32_t len = ut_be32(loc + 8);
			uint64_t off = ut_be64(loc + 16);
			struct vpc *v = bd->priv;
			unsigned char *raw;

			if (memcmp(loc, codes[c], 4) || !len)
				continue;
			if (len > VPC_MAX_LOCATOR || off > v->m.f.size || len > v->m.f.size - off)
				return ut_err_set(err, "%s: VHD parent locator %s lies outside the file",
						  bd->path, codes[c]);
			raw = ut_malloc(len + 1);
			if (host_read(bd, raw, len, off, err) < 0) {
				free(raw);
				return -1;
			}
			if (c == 2) {
				raw[len] = '\0';
				names[c] = ut_strdup((char *)raw +
						     (strncmp((char *)raw, "file://", 7) ? 0 : 7));
			} else {
				names[c] = dr_utf16_to_utf8(raw, len, 0);
			}
			free(raw);
			if (!names[c])
				return ut_err_set(err, "%s: VHD parent locator %s is not valid UTF-16",
						  bd->path, codes[c]);
		}
	}
	names[3] = dr_utf16_to_utf8(dyn + 64, 512, 1);
	return 0;
}

static int open_dynamic(struct dr_blockdev *bd, const unsigned char *ft, int depth,
			struct ut_err *err)
{
	struct vpc *v = bd->priv;
	unsigned char dyn[VPC_DYN_LEN], *raw = NULL;
	char *names[4] = { NULL, NULL, NULL, NULL };
	uint64_t dyn_off = ut_be64(ft + 16), bat_off, need, i;
	int ret = -1;

	if (dyn_off > v->m.f.size || VPC_DYN_LEN > v->m.f.size - dyn_off)
		return ut_err_set(err, "%s: VHD dynamic header at %llu lies beyond the end of the file",
				  bd->path, (unsigned long long)dyn_off);
	if (host_read(bd, dyn, sizeof(dyn), dyn_off, err) < 0)
		return -1;
	if (memcmp(dyn, "cxsparse", 8))
		return ut_err_set(err, "%s: VHD dynamic header has no cxsparse cookie", bd->path);
	bat_off = ut_be64(dyn + 16);
	v->n_bat = ut_be32(dyn + 28);
	v->block_size = ut_be32(dyn + 32);
	if (v->block_size < VPC_SECTOR || v->block_size > VPC_MAX_BLOCK ||
	    (v->block_size & (v->block_size - 1)))
		return ut_err_set(err, "%s: invalid VHD block size %u", bd->path, v->block_size);
	v->bitmap_size = (v->block_size / (8 * VPC_SECTOR) + 511) & ~511U;
	need = bd->size / v->block_size + (bd->size % v->block_size != 0);
	if (v->n_bat < need)
		return ut_err_set(err, "%s: VHD block table too small (%u entries) for the virtual size %llu",
				  bd->path, v->n_bat, (unsigned long long)bd->size);
	/* Entries past the virtual size are never read. */
	v->n_bat = (uint32_t)need;
	if (bat_off > v->m.f.size || (uint64_t)v->n_bat * 4 > v->m.f.size - bat_off)
		return ut_err_set(err, "%s: VHD block table at %llu lies beyond the end of the file",
				  bd->path, (unsigned long long)bat_off);
	raw = ut_malloc((size_t)v->n_bat * 4 + 1);
	if (host_read(bd, raw, (size_t)v->n_bat * 4, bat_off, err) < 0)
		goto out;
	v->bat = ut_malloc((size_t)v->n_bat * 4 + 1);
	for (i = 0; i < v->n_bat; i++) {
		v->bat[i] = ut_be32(raw + 4 * i);
		/* qemu refuses a block the file does not hold whole: the image
		 * was truncated. */
		if (v->bat[i] != VPC_UNALLOCATED &&
		    v->bat[i] * VPC_SECTOR + v->bitmap_size + v->block_size > v->m.f.size) {
			ut_err_set(err, "%s: VHD block %llu at sector %u runs past the end of the file (truncated?)",
				   bd->path, (unsigned long long)i, v->bat[i]);
			goto out;
		}
	}
	v->bitmap_block = VPC_UNALLOCATED;
	if (v->type == VPC_TYPE_DIFF) {
		if (parent_names(bd, dyn, names, err) < 0)
			goto out;
		v->bitmap = ut_malloc(v->bitmap_size);
		if (dr_open_parent(bd, names, 4, depth, err) < 0)
			goto out;
	}
	ret = 0;
out:
	for (i = 0; i < 4; i++)
		free(names[i]);
	free(raw);
	return ret;
}

static int vpc_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct vpc *v = ut_calloc(1, sizeof(*v));
	unsigned char ft[VPC_FOOTER_LEN];

	bd->priv = v;
	v->m.map = vpc_map;
	if (dr_file_open(bd, &v->m.f, err) < 0)
		return -1;
	if (v->m.f.size < VPC_FOOTER_LEN)
		return ut_err_set(err, "%s: truncated VHD (%llu bytes, no footer)", path,
				  (unsigned long long)v->m.f.size);
	if (host_read(bd, ft, sizeof(ft), 0, err) < 0)
		return -1;
	/* A fixed disk has its footer only at the end; a dynamic one has a
	 * copy there too, which serves when the first is damaged. */
	if (memcmp(ft, "conectix", 8)) {
		if (host_read(bd, ft, sizeof(ft), v->m.f.size - VPC_FOOTER_LEN, err) < 0)
			return -1;
		if (memcmp(ft, "conectix", 8))
			return ut_err_set(err, "%s: not a VHD (no conectix footer)", path);
	}
	v->type = (int)ut_be32(ft + 60);
	if (v->type != VPC_TYPE_FIXED && v->type != VPC_TYPE_DYNAMIC && v->type != VPC_TYPE_DIFF)
		return ut_err_set(err, "%s: unsupported VHD disk type %d", path, v->type);
	bd->size = footer_size(ft);
	if (bd->size > VPC_MAX_SECTORS * VPC_SECTOR)
		return ut_err_set(err, "%s: VHD virtual size %llu is larger than 2040 GiB", path,
				  (unsigned long long)bd->size);
	if (v->type == VPC_TYPE_FIXED) {
		if (bd->size > v->m.f.size - VPC_FOOTER_LEN)
			return ut_err_set(err, "%s: fixed VHD holds %llu bytes, less than its virtual size %llu",
					  path, (unsigned long long)(v->m.f.size - VPC_FOOTER_LEN),
					  (unsigned long long)bd->size);
		return 0;
	}
	return open_dynamic(bd, ft, depth, err);
}

/* Differencing: whether guest sector s is in this file (its block's
 * bitmap bit set, most significant bit first) or in the parent. */
static int sector_here(struct dr_blockdev *bd, uint64_t s, int *here, struct ut_err *err)
{
	struct vpc *v = bd->priv;
	uint64_t per_block = v->block_size / VPC_SECTOR, b = s / per_block;

	s %= per_block;
	if (v->bitmap_block != b) {
		v->bitmap_block = VPC_UNALLOCATED;
		if (host_read(bd, v->bitmap, v->bitmap_size, v->bat[b] * VPC_SECTOR, err) < 0)
			return -1;
		v->bitmap_block = (uint32_t)b;
	}
	*here = (v->bitmap[s / 8] >> (7 - s % 8)) & 1;
	return 0;
}

static int vpc_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err)
{
	struct vpc *v = bd->priv;
	uint64_t b, within, run;

	if (v->type == VPC_TYPE_FIXED) {
		x->kind = DR_EXT_DATA;
		x->host = off;
		x->len = maxlen;
		return 0;
	}
	b = off / v->block_size;
	within = off % v->block_size;
	run = v->block_size - within;
	x->len = run < maxlen ? run : maxlen;
	if (b >= v->n_bat || v->bat[b] == VPC_UNALLOCATED) {
		x->kind = v->type == VPC_TYPE_DIFF ? DR_EXT_BACKING : DR_EXT_ZERO;
		return 0;
	}
	x->kind = DR_EXT_DATA;
	x->host = v->bat[b] * VPC_SECTOR + v->bitmap_size + within;
	/* A dynamic disk's bitmap is not consulted: qemu reads an allocated
	 * block whole, and writes its bitmap all ones. */
	if (v->type != VPC_TYPE_DIFF)
		return 0;
	return dr_present_run(bd, sector_here, off, VPC_SECTOR, x, err);
}

static void vpc_close(struct dr_blockdev *bd)
{
	struct vpc *v = bd->priv;

	if (!v)
		return;
	dr_file_close(&v->m.f);
	free(v->bat);
	free(v->bitmap);
	free(v);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_vpc_ops = {
	.name = "vpc",
	.probe = vpc_probe,
	.probe_tail = vpc_probe_tail,
	.open = vpc_open,
	.pread = dr_mapped_pread,
	.block_status = dr_mapped_block_status,
	.close = vpc_close,
};
