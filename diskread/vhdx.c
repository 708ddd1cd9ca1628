/*
 * vhdx.c - Hyper-V VHDX disks (MS-VHDX 1.0), read-only: fixed, dynamic and
 * differencing.
 *
 * Layout: a file identifier ("vhdxfile"), two headers (the valid one with
 * the higher sequence number is current; CRC-32C), two copies of a region
 * table naming the BAT and the metadata region, metadata items (block
 * size, logical sector size, virtual size, parent locator), and the BAT:
 * 64-bit entries, a state in bits 0-2 and a file offset in MiB in bits
 * 20-63, payload entries of each chunk followed by the entry of the
 * chunk's sector bitmap block (one bit per sector, set: in this file).
 * A header whose log GUID is set has a log to replay first: refused.
 */
#include "dr_internal.h"

#include <stdlib.h>
#include <string.h>

#define VHDX_HEADER1 (64U << 10)
#define VHDX_HEADER2 (128U << 10)
#define VHDX_HEADER_LEN 4096
#define VHDX_REGION1 (192U << 10)
#define VHDX_REGION2 (256U << 10)
#define VHDX_REGION_LEN (64U << 10)
#define VHDX_METADATA_TABLE_LEN (64U << 10)
#define VHDX_MAX_ENTRIES 2047
#define VHDX_MIN_BLOCK (1U << 20)
#define VHDX_MAX_BLOCK (256U << 20)
#define VHDX_MAX_SIZE (64ULL << 40)
#define VHDX_SECTORS_PER_BITMAP (1ULL << 23)
#define VHDX_BITMAP_LEN (1U << 20)
#define VHDX_MAX_LOCATOR (64U << 10)

#define VHDX_BAT_STATE(e) ((unsigned)((e) & 7))
#define VHDX_BAT_OFFSET(e) ((e) & ~0xfffffULL)
#define PAYLOAD_NOT_PRESENT 0
#define PAYLOAD_UNDEFINED 1
#define PAYLOAD_ZERO 2
#define PAYLOAD_UNMAPPED 3
#define PAYLOAD_FULLY_PRESENT 6
#define PAYLOAD_PARTIALLY_PRESENT 7
#define SB_PRESENT 6

/* GUIDs as stored: the first three fields little-endian. */
static const unsigned char guid_bat[16] = {
	0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
	0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const unsigned char guid_metadata[16] = {
	0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
	0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const unsigned char guid_file_params[16] = {
	0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
	0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
static const unsigned char guid_disk_size[16] = {
	0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
	0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 };
static const unsigned char guid_logical_sector[16] = {
	0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
	0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f };
static const unsigned char guid_parent_locator[16] = {
	0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45,
	0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c };

/* Known, required, and of no use to a reader: physical sector size, page 83. */
static const unsigned char guid_physical_sector[16] = {
	0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44,
	0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56 };
static const unsigned char guid_page83[16] = {
	0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45,
	0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46 };

struct vhdx {
	struct dr_mapped m; /* first: the generic pread reads it */
	uint32_t block_size;
	uint32_t sector_size;     /* logical */
	uint64_t chunk_ratio;     /* payload blocks per sector bitmap block */
	int has_parent;
	uint64_t n_bat;
	uint64_t *bat;            /* host order */
	unsigned char *bitmap;    /* the last chunk's sector bitmap */
	uint64_t bitmap_chunk;    /* which chunk; UINT64_MAX: none */
};

static int vhdx_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		    struct ut_err *err);

static int vhdx_probe(const unsigned char *head, size_t len)
{
	return len >= 8 && !memcmp(head, "vhdxfile", 8) ? 100 : 0;
}

static int host_read(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		     struct ut_err *err)
{
	struct vhdx *v = bd->priv;

	return dr_host_pread(v->m.f.fd, v->m.f.size, bd->path, buf, len, off, &bd->bytes_read, err);
}

/* The CRC-32C of buf with its checksum field (at crc_at) taken as zero. */
static int checksum_ok(unsigned char *buf, size_t len, size_t crc_at)
{
	uint32_t want = ut_le32(buf + crc_at);
	uint32_t got;

	memset(buf + crc_at, 0, 4);
	got = dr_crc32c(buf, len);
	buf[crc_at] = (unsigned char)want;
	buf[crc_at + 1] = (unsigned char)(want >> 8);
	buf[crc_at + 2] = (unsigned char)(want >> 16);
	buf[crc_at + 3] = (unsigned char)(want >> 24);
	return got == want;
}

/*
 * Whether the log (of the current header h) holds an entry to replay: one
 * with the header's log GUID and a valid checksum. A log GUID with no such
 * entry is a log already applied, and the disk reads as it is (as qemu
 * does).
 */
static int log_has_entries(struct dr_blockdev *bd, const unsigned char *h, int *has,
			   struct ut_err *err)
{
	struct vhdx *v = bd->priv;
	uint64_t log_off = ut_le64(h + 72), pos;
	uint32_t log_len = ut_le32(h + 68);
	unsigned char *entry = NULL;
	int ret = -1;

	*has = 0;
	if (log_off > v->m.f.size || log_len > v->m.f.size - log_off || log_len % 4096)
		return ut_err_set(err, "%s: VHDX log at %llu (+%u) lies beyond the end of the file",
				  bd->path, (unsigned long long)log_off, log_len);
	for (pos = 0; pos < log_len && !*has; pos += 4096) {
		unsigned char eh[64];
		uint32_t len;

		if (host_read(bd, eh, sizeof(eh), log_off + pos, err) < 0)
			goto out;
		len = ut_le32(eh + 8);
		if (memcmp(eh, "loge", 4) || memcmp(eh + 32, h + 48, 16) || !len || len % 4096 ||
		    len > log_len - pos)
			continue;
		free(entry);
		entry = ut_malloc(len);
		if (host_read(bd, entry, len, log_off + pos, err) < 0)
			goto out;
		*has = checksum_ok(entry, len, 4);
	}
	ret = 0;
out:
	free(entry);
	return ret;
}

/* Picks the current header: valid, and the higher sequence number. */
static int read_header(struct dr_blockdev *bd, struct ut_err *err)
{
	static const unsigned char zero[16];
	unsigned char h[2][VHDX_HEADER_LEN];
	int ok[2], i, cur, replay;

	for (i = 0; i < 2; i++) {
		if (host_read(bd, h[i], VHDX_HEADER_LEN, i ? VHDX_HEADER2 : VHDX_HEADER1, err) < 0)
			return -1;
		ok[i] = !memcmp(h[i], "head", 4) && checksum_ok(h[i], VHDX_HEADER_LEN, 4) &&
			ut_le16(h[i] + 66) == 1;
	}
	if (!ok[0] && !ok[1])
		return ut_err_set(err, "%s: no valid VHDX header (bad signature, checksum or version in both)",
				  bd->path);
	cur = !ok[0] || (ok[1] && ut_le64(h[1] + 8) > ut_le64(h[0] + 8));
	if (!memcmp(h[cur] + 48, zero, 16))
		return 0;
	if (log_has_entries(bd, h[cur], &replay, err) < 0)
		return -1;
	if (replay)
		return ut_err_set(err, "%s: VHDX log needs replay (not supported; attach the disk once in Hyper-V or qemu to replay it)",
				  bd->path);
	return 0;
}

/* Finds the BAT and metadata regions in the first region table copy that
 * checks out. */
static int read_regions(struct dr_blockdev *bd, uint64_t *bat_off, uint32_t *bat_len,
			uint64_t *meta_off, uint32_t *meta_len, struct ut_err *err)
{
	struct vhdx *v = bd->priv;
	unsigned char *r = ut_malloc(VHDX_REGION_LEN);
	uint32_t n, i;
	int copy, ret = -1;

	for (copy = 0; copy < 2; copy++) {
		if (host_read(bd, r, VHDX_REGION_LEN, copy ? VHDX_REGION2 : VHDX_REGION1, err) < 0)
			goto out;
		if (!memcmp(r, "regi", 4) && checksum_ok(r, VHDX_REGION_LEN, 4))
			break;
	}
	if (copy == 2) {
		ut_err_set(err, "%s: no valid VHDX region table (bad signature or checksum in both)",
			   bd->path);
		goto out;
	}
	n = ut_le32(r + 8);
	if (n > VHDX_MAX_ENTRIES) {
		ut_err_set(err, "%s: VHDX region table has %u entries", bd->path, n);
		goto out;
	}
	*bat_off = *meta_off = 0;
	for (i = 0; i < n; i++) {
		const unsigned char *e = r + 16 + 32 * (size_t)i;
		uint64_t off = ut_le64(e + 16);
		uint32_t len = ut_le32(e + 24);
		int required = ut_le32(e + 28) & 1;

		if (off > v->m.f.size || len > v->m.f.size - off) {
			ut_err_set(err, "%s: VHDX region %u at %llu (+%u) lies beyond the end of the file",
				   bd->path, i, (unsigned long long)off, len);
			goto out;
		}
		if (!memcmp(e, guid_bat, 16)) {
			*bat_off = off;
			*bat_len = len;
		} else if (!memcmp(e, guid_metadata, 16)) {
			*meta_off = off;
			*meta_len = len;
		} else if (required) {
			ut_err_set(err, "%s: VHDX region %u is required but unknown", bd->path, i);
			goto out;
		}
	}
	if (!*bat_off || !*meta_off) {
		ut_err_set(err, "%s: VHDX region table lacks the %s region", bd->path,
			   *bat_off ? "metadata" : "BAT");
		goto out;
	}
	ret = 0;
out:
	free(r);
	return ret;
}

/* The parent's names from a parent locator item: relative_path first,
 * then the absolute Windows path (dr_open_parent tries its last part). */
static int locator_names(struct dr_blockdev *bd, const unsigned char *loc, uint32_t len,
			 char **names, struct ut_err *err)
{
	static const char *const keys[] = { "relative_path", "absolute_win32_path" };
	uint16_t n;
	uint32_t i;

	if (len < 20)
		return ut_err_set(err, "%s: VHDX parent locator too short", bd->path);
	n = ut_le16(loc + 18);
	if ((uint64_t)n * 12 > len - 20)
		return ut_err_set(err, "%s: VHDX parent locator has %u entries that do not fit",
				  bd->path, n);
	for (i = 0; i < n; i++) {
		const unsigned char *e = loc + 20 + 12 * (size_t)i;
		uint32_t koff = ut_le32(e), voff = ut_le32(e + 4);
		uint16_t klen = ut_le16(e + 8), vlen = ut_le16(e + 10);
		char *key;
		size_t k;

		if (koff > len || klen > len - koff || voff > len || vlen > len - voff)
			return ut_err_set(err, "%s: VHDX parent locator entry %u lies outside the item",
					  bd->path, i);
		key = dr_utf16_to_utf8(loc + koff, klen, 0);
		for (k = 0; key && k < 2; k++) {
			if (strcmp(key, keys[k]) || names[k])
				continue;
			names[k] = dr_utf16_to_utf8(loc + voff, vlen, 0);
			if (!names[k]) {
				free(key);
				return ut_err_set(err, "%s: VHDX parent locator value of %s is not valid UTF-16",
						  bd->path, keys[k]);
			}
		}
		free(key);
	}
	return 0;
}

/* Reads the metadata items; for a differencing disk, names[0..1] get the
 * parent's names (heap strings). */
static int read_metadata(struct dr_blockdev *bd, uint64_t meta_off, uint32_t meta_len,
			 char **names, struct ut_err *err)
{
	struct vhdx *v = bd->priv;
	unsigned char *t = ut_malloc(VHDX_METADATA_TABLE_LEN), *loc = NULL;
	int seen_params = 0, seen_size = 0, seen_sector = 0, ret = -1;
	uint32_t loc_len = 0;
	uint16_t n, i;

	if (meta_len < VHDX_METADATA_TABLE_LEN) {
		ut_err_set(err, "%s: VHDX metadata region too small (%u bytes)", bd->path, meta_len);
		goto out;
	}
	if (host_read(bd, t, VHDX_METADATA_TABLE_LEN, meta_off, err) < 0)
		goto out;
	if (memcmp(t, "metadata", 8)) {
		ut_err_set(err, "%s: VHDX metadata table has a bad signature", bd->path);
		goto out;
	}
	n = ut_le16(t + 10);
	if (n > VHDX_MAX_ENTRIES) {
		ut_err_set(err, "%s: VHDX metadata table has %u entries", bd->path, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *e = t + 32 + 32 * (size_t)i;
		uint32_t off = ut_le32(e + 16), len = ut_le32(e + 20);
		int required = (ut_le32(e + 24) >> 2) & 1;
		unsigned char val[8];

		if (off < VHDX_METADATA_TABLE_LEN || off > meta_len || len > meta_len - off) {
			ut_err_set(err, "%s: VHDX metadata item %u lies outside the metadata region",
				   bd->path, i);
			goto out;
		}
		if (!memcmp(e, guid_parent_locator, 16)) {
			if (len > VHDX_MAX_LOCATOR) {
				ut_err_set(err, "%s: VHDX parent locator too large", bd->path);
				goto out;
			}
			free(loc);
			loc = ut_malloc(len + 1);
			loc_len = len;
			if (host_read(bd, loc, len, meta_off + off, err) < 0)
				goto out;
			continue;
		}
		if (!memcmp(e, guid_physical_sector, 16) || !memcmp(e, guid_page83, 16))
			continue;
		if (memcmp(e, guid_file_params, 16) && memcmp(e, guid_disk_size, 16) &&
		    memcmp(e, guid_logical_sector, 16)) {
			if (required) {
				ut_err_set(err, "%s: VHDX metadata item %u is required but unknown",
					   bd->path, i);
				goto out;
			}
			continue;
		}
		if (len < 8 && memcmp(e, guid_logical_sector, 16)) {
			ut_err_set(err, "%s: VHDX metadata item %u too short", bd->path, i);
			goto out;
		}
		if (len < 4) {
			ut_err_set(err, "%s: VHDX metadata item %u too short", bd->path, i);
			goto out;
		}
		memset(val, 0, sizeof(val));
		if (host_read(bd, val, len < 8 ? len : 8, meta_off + off, err) < 0)
			goto out;
		if (!memcmp(e, guid_file_params, 16)) {
			v->block_size = ut_le32(val);
			v->has_parent = (ut_le32(val + 4) >> 1) & 1;
			seen_params = 1;
		} else if (!memcmp(e, guid_disk_size, 16)) {
			bd->size = ut_le64(val);
			seen_size = 1;
		} else {
			v->sector_size = ut_le32(val);
			seen_sector = 1;
		}
	}
	if (!seen_params || !seen_size || !seen_sector) {
		ut_err_set(err, "%s: VHDX metadata lacks the %s", bd->path,
			   !seen_params ? "file parameters" : !seen_size ? "virtual disk size" :
			   "logical sector size");
		goto out;
	}
	if (v->block_size < VHDX_MIN_BLOCK || v->block_size > VHDX_MAX_BLOCK ||
	    (v->block_size & (v->block_size - 1))) {
		ut_err_set(err, "%s: invalid VHDX block size %u", bd->path, v->block_size);
		goto out;
	}
	if (v->sector_size != 512 && v->sector_size != 4096) {
		ut_err_set(err, "%s: invalid VHDX logical sector size %u", bd->path, v->sector_size);
		goto out;
	}
	if (bd->size > VHDX_MAX_SIZE || bd->size % v->sector_size) {
		ut_err_set(err, "%s: invalid VHDX virtual size %llu", bd->path,
			   (unsigned long long)bd->size);
		goto out;
	}
	if (v->has_parent) {
		if (!loc) {
			ut_err_set(err, "%s: differencing VHDX without a parent locator", bd->path);
			goto out;
		}
		if (locator_names(bd, loc, loc_len, names, err) < 0)
			goto out;
		if (!names[0] && !names[1]) {
			ut_err_set(err, "%s: VHDX parent locator names no path", bd->path);
			goto out;
		}
	}
	ret = 0;
out:
	free(loc);
	free(t);
	return ret;
}

static int vhdx_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct vhdx *v = ut_calloc(1, sizeof(*v));
	unsigned char ident[8], *raw = NULL;
	char *names[2] = { NULL, NULL };
	uint64_t bat_off, meta_off, blocks, i;
	uint32_t bat_len = 0, meta_len = 0;
	int ret = -1;

	bd->priv = v;
	v->m.map = vhdx_map;
	v->bitmap_chunk = UINT64_MAX;
	if (dr_file_open(bd, &v->m.f, err) < 0)
		return -1;
	if (v->m.f.size < VHDX_REGION2 + VHDX_REGION_LEN)
		return ut_err_set(err, "%s: truncated VHDX (%llu bytes)", path,
				  (unsigned long long)v->m.f.size);
	if (host_read(bd, ident, sizeof(ident), 0, err) < 0)
		return -1;
	if (memcmp(ident, "vhdxfile", 8))
		return ut_err_set(err, "%s: not a VHDX image (no vhdxfile signature)", path);
	if (read_header(bd, err) < 0 ||
	    read_regions(bd, &bat_off, &bat_len, &meta_off, &meta_len, err) < 0 ||
	    read_metadata(bd, meta_off, meta_len, names, err) < 0)
		goto out;
	v->chunk_ratio = VHDX_SECTORS_PER_BITMAP * v->sector_size / v->block_size;
	blocks = bd->size / v->block_size + (bd->size % v->block_size != 0);
	if (v->has_parent) {
		uint64_t chunks = blocks / v->chunk_ratio + (blocks % v->chunk_ratio != 0);

		v->n_bat = chunks * (v->chunk_ratio + 1);
	} else {
		v->n_bat = blocks ? blocks + (blocks - 1) / v->chunk_ratio : 0;
	}
	if (v->n_bat * 8 > bat_len) {
		ut_err_set(err, "%s: VHDX BAT region (%u bytes) too small for %llu entries", path,
			   bat_len, (unsigned long long)v->n_bat);
		goto out;
	}
	raw = ut_malloc(v->n_bat * 8 + 1);
	if (host_read(bd, raw, v->n_bat * 8, bat_off, err) < 0)
		goto out;
	v->bat = ut_malloc(v->n_bat * 8 + 1);
	for (i = 0; i < v->n_bat; i++)
		v->bat[i] = ut_le64(raw + 8 * i);
	if (v->has_parent) {
		v->bitmap = ut_malloc(VHDX_BITMAP_LEN);
		if (dr_open_parent(bd, names, 2, depth, err) < 0)
			goto out;
	}
	ret = 0;
out:
	free(names[0]);
	free(names[1]);
	free(raw);
	return ret;
}

/* Whether logical sector s is in this file: its chunk's bitmap bit set
 * (least significant bit first). */
static int sector_here(struct dr_blockdev *bd, uint64_t s, int *here, struct ut_err *err)
{
	struct vhdx *v = bd->priv;
	uint64_t c = s / VHDX_SECTORS_PER_BITMAP;

	if (v->bitmap_chunk != c) {
		uint64_t e = v->bat[c * (v->chunk_ratio + 1) + v->chunk_ratio];

		if (VHDX_BAT_STATE(e) != SB_PRESENT)
			return ut_err_set(err, "%s: VHDX sector bitmap of chunk %llu is not present",
					  bd->path, (unsigned long long)c);
		if (VHDX_BAT_OFFSET(e) > v->m.f.size || VHDX_BITMAP_LEN > v->m.f.size - VHDX_BAT_OFFSET(e))
			return ut_err_set(err, "%s: VHDX sector bitmap of chunk %llu lies beyond the end of the file",
					  bd->path, (unsigned long long)c);
		v->bitmap_chunk = UINT64_MAX;
		if (host_read(bd, v->bitmap, VHDX_BITMAP_LEN, VHDX_BAT_OFFSET(e), err) < 0)
			return -1;
		v->bitmap_chunk = c;
	}
	s %= VHDX_SECTORS_PER_BITMAP;
	*here = (v->bitmap[s / 8] >> (s % 8)) & 1;
	return 0;
}

static int vhdx_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		    struct ut_err *err)
{
	struct vhdx *v = bd->priv;
	uint64_t b = off / v->block_size, within = off % v->block_size;
	uint64_t c = b / v->chunk_ratio, run = v->block_size - within, e;
	unsigned state;

	x->len = run < maxlen ? run : maxlen;
	e = v->bat[b + c];
	state = VHDX_BAT_STATE(e);
	switch (state) {
	case PAYLOAD_NOT_PRESENT:
		x->kind = v->has_parent ? DR_EXT_BACKING : DR_EXT_ZERO;
		return 0;
	case PAYLOAD_UNDEFINED:
	case PAYLOAD_ZERO:
	case PAYLOAD_UNMAPPED:
		x->kind = DR_EXT_ZERO;
		return 0;
	case PAYLOAD_FULLY_PRESENT:
	case PAYLOAD_PARTIALLY_PRESENT:
		break;
	default:
		return ut_err_set(err, "%s: VHDX BAT entry of block %llu has the invalid state %u",
				  bd->path, (unsigned long long)b, state);
	}
	if (VHDX_BAT_OFFSET(e) >= v->m.f.size)
		return ut_err_set(err, "%s: VHDX block %llu at %llu lies beyond the end of the file",
				  bd->path, (unsigned long long)b,
				  (unsigned long long)VHDX_BAT_OFFSET(e));
	x->kind = DR_EXT_DATA;
	x->host = VHDX_BAT_OFFSET(e) + within;
	if (state == PAYLOAD_FULLY_PRESENT)
		return 0;
	if (!v->has_parent)
		return ut_err_set(err, "%s: VHDX block %llu is partially present in a disk without a parent",
				  bd->path, (unsigned long long)b);
	return dr_present_run(bd, sector_here, off, v->sector_size, x, err);
}

static void vhdx_close(struct dr_blockdev *bd)
{
	struct vhdx *v = bd->priv;

	if (!v)
		return;
	dr_file_close(&v->m.f);
	free(v->bat);
	free(v->bitmap);
	free(v);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_vhdx_ops = {
	.name = "vhdx",
	.probe = vhdx_probe,
	.open = vhdx_open,
	.pread = dr_mapped_pread,
	.block_status = dr_mapped_block_status,
	.close = vhdx_close,
};
