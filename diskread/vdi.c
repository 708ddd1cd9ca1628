/*
 * vdi.c - VirtualBox disks (header version 1.1), read-only: dynamic and
 * static (fully allocated) images. A block map of 32-bit little-endian
 * entries gives each block's index in the data area; 0xffffffff (free) and
 * 0xfffffffe (discarded) read as zeros. Differencing and undo images name
 * their parent by UUID only, so they are refused by name.
 */
#include "dr_internal.h"

#include <stdlib.h>
#include <string.h>

#define VDI_SIGNATURE 0xbeda107fU
#define VDI_VERSION_1_1 0x00010001U
#define VDI_HEADER_END 472 /* through the LCHS geometry of a v1.1 header */
#define VDI_TYPE_DYNAMIC 1
#define VDI_TYPE_STATIC 2
#define VDI_TYPE_UNDO 3
#define VDI_TYPE_DIFF 4
#define VDI_DISCARDED 0xfffffffeU /* and 0xffffffff: not allocated */
#define VDI_MAX_BLOCK (256U << 20)
#define VDI_MAX_SIZE (1ULL << 61)

struct vdi {
	struct dr_mapped m; /* first: the generic pread reads it */
	uint64_t data_off;
	uint32_t block_size;
	uint32_t block_extra;  /* bytes before each block's data */
	uint32_t n_blocks;
	uint32_t *bmap;        /* host order */
};

static int vdi_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err);

static int vdi_probe(const unsigned char *head, size_t len)
{
	return len >= 68 && ut_le32(head + 64) == VDI_SIGNATURE ? 100 : 0;
}

static int uuid_is_null(const unsigned char *u)
{
	static const unsigned char zero[16];

	return !memcmp(u, zero, 16);
}

static int vdi_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct vdi *v = ut_calloc(1, sizeof(*v));
	unsigned char h[VDI_HEADER_END], *raw = NULL;
	uint32_t version, type, bmap_off, sector_size, i;
	uint64_t disk_size;
	int ret = -1;

	bd->priv = v;
	v->m.map = vdi_map;
	if (dr_file_open(bd, &v->m.f, err) < 0)
		return -1;
	if (v->m.f.size < sizeof(h))
		return ut_err_set(err, "%s: truncated VDI header (%llu bytes)", path,
				  (unsigned long long)v->m.f.size);
	if (dr_host_pread(v->m.f.fd, v->m.f.size, path, h, sizeof(h), 0, &bd->bytes_read, err) < 0)
		return -1;
	if (ut_le32(h + 64) != VDI_SIGNATURE)
		return ut_err_set(err, "%s: not a VDI image (bad signature)", path);
	version = ut_le32(h + 68);
	if (version != VDI_VERSION_1_1)
		return ut_err_set(err, "%s: unsupported VDI version %u.%u", path, version >> 16,
				  version & 0xffff);
	type = ut_le32(h + 76);
	if (type == VDI_TYPE_DIFF || type == VDI_TYPE_UNDO || !uuid_is_null(h + 440))
		return ut_err_set(err, "%s: VDI differencing images are not supported (the parent is named by UUID only)",
				  path);
	if (type != VDI_TYPE_DYNAMIC && type != VDI_TYPE_STATIC)
		return ut_err_set(err, "%s: unsupported VDI image type %u", path, type);
	bmap_off = ut_le32(h + 340);
	v->data_off = ut_le32(h + 344);
	sector_size = ut_le32(h + 360);
	disk_size = ut_le64(h + 368);
	v->block_size = ut_le32(h + 376);
	v->block_extra = ut_le32(h + 380);
	v->n_blocks = ut_le32(h + 384);
	if (sector_size != 512)
		return ut_err_set(err, "%s: unsupported VDI sector size %u", path, sector_size);
	if (v->block_size < 512 || v->block_size > VDI_MAX_BLOCK ||
	    (v->block_size & (v->block_size - 1)))
		return ut_err_set(err, "%s: invalid VDI block size %u", path, v->block_size);
	if (v->block_extra > VDI_MAX_BLOCK)
		return ut_err_set(err, "%s: invalid VDI block extra size %u", path, v->block_extra);
	if (disk_size > VDI_MAX_SIZE)
		return ut_err_set(err, "%s: absurd VDI disk size %llu", path,
				  (unsigned long long)disk_size);
	if (disk_size > (uint64_t)v->n_blocks * v->block_size)
		return ut_err_set(err, "%s: VDI disk size %llu is larger than its %u blocks", path,
				  (unsigned long long)disk_size, v->n_blocks);
	bd->size = disk_size / 512 * 512;
	if (bmap_off > v->m.f.size || (uint64_t)v->n_blocks * 4 > v->m.f.size - bmap_off)
		return ut_err_set(err, "%s: VDI block map at %u lies beyond the end of the file", path,
				  bmap_off);
	raw = ut_malloc((size_t)v->n_blocks * 4 + 1);
	if (dr_host_pread(v->m.f.fd, v->m.f.size, path, raw, (size_t)v->n_blocks * 4, bmap_off,
			  &bd->bytes_read, err) < 0)
		goto out;
	v->bmap = ut_malloc((size_t)v->n_blocks * 4 + 1);
	for (i = 0; i < v->n_blocks; i++)
		v->bmap[i] = ut_le32(raw + 4 * (size_t)i);
	ret = 0;
out:
	free(raw);
	return ret;
}

static int vdi_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err)
{
	struct vdi *v = bd->priv;
	uint64_t b = off / v->block_size, within = off % v->block_size;
	uint64_t run = v->block_size - within;

	x->len = run < maxlen ? run : maxlen;
	if (b >= v->n_blocks || v->bmap[b] >= VDI_DISCARDED) {
		x->kind = DR_EXT_ZERO;
		return 0;
	}
	if (v->bmap[b] >= v->n_blocks)
		return ut_err_set(err, "%s: VDI block %llu maps to block %u of %u", bd->path,
				  (unsigned long long)b, v->bmap[b], v->n_blocks);
	x->kind = DR_EXT_DATA;
	x->host = v->data_off + (uint64_t)v->bmap[b] * ((uint64_t)v->block_size + v->block_extra) +
		  v->block_extra + within;
	return 0;
}

static void vdi_close(struct dr_blockdev *bd)
{
	struct vdi *v = bd->priv;

	if (!v)
		return;
	dr_file_close(&v->m.f);
	free(v->bmap);
	free(v);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_vdi_ops = {
	.name = "vdi",
	.probe = vdi_probe,
	.open = vdi_open,
	.pread = dr_mapped_pread,
	.block_status = dr_mapped_block_status,
	.close = vdi_close,
};
