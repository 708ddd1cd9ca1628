/*
 * extents.c - changed byte ranges of a disk relative to its base: from the
 * qcow2 allocation of the layers above the base (lineage), or by hashing
 * blocks of two unrelated disks at the same offsets (hashes).
 */
#include "blockdiff.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define BD_CHUNK (1u << 20) /* bytes read per call: large enough for qcow2 runs */
#define BD_MAX_DEPTH 64     /* diskread refuses deeper chains anyway */

const char *bd_method_name(enum bd_method m)
{
	switch (m) {
	case BD_LINEAGE: return "lineage";
	case BD_HASHES: return "hashes";
	}
	return "?";
}

void bd_extents_init(struct bd_extents *x)
{
	memset(x, 0, sizeof(*x));
}

void bd_extents_release(struct bd_extents *x)
{
	if (!x)
		return;
	free(x->v);
	memset(x, 0, sizeof(*x));
}

void bd_extents_add(struct bd_extents *x, uint64_t off, uint64_t len)
{
	struct bd_range *last;

	if (!len)
		return;
	last = x->n ? &x->v[x->n - 1] : NULL;
	if (last && off <= last->off + last->len) {
		uint64_t end = off + len;

		if (end > last->off + last->len) {
			x->bytes += end - (last->off + last->len);
			last->len = end - last->off;
		}
		return;
	}
	if (x->n == x->alloc) {
		x->alloc = x->alloc ? 2 * x->alloc : 64;
		x->v = ut_realloc(x->v, x->alloc * sizeof(*x->v));
	}
	x->v[x->n].off = off;
	x->v[x->n].len = len;
	x->n++;
	x->bytes += len;
}

/* ---- XXH64 -------------------------------------------------------------- */

/* XXH64 as specified by its author (xxhash.com, spec v0.1.1); written out
 * here because libzstd does not export its private copy. */
#define P64_1 0x9E3779B185EBCA87ULL
#define P64_2 0xC2B2AE3D27D4EB4FULL
#define P64_3 0x165667B19E3779F9ULL
#define P64_4 0x85EBCA77C2B2AE63ULL
#define P64_5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t input)
{
	acc += input * P64_2;
	acc = rotl64(acc, 31);
	return acc * P64_1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t val)
{
	acc ^= xxh_round(0, val);
	return acc * P64_1 + P64_4;
}

uint64_t bd_hash64(const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = P64_1 + P64_2, v2 = P64_2, v3 = 0, v4 = -P64_1;
		const unsigned char *limit = end - 32;

		do {
			v1 = xxh_round(v1, ut_le64(p));
			v2 = xxh_round(v2, ut_le64(p + 8));
			v3 = xxh_round(v3, ut_le64(p + 16));
			v4 = xxh_round(v4, ut_le64(p + 24));
			p += 32;
		} while (p <= limit);
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xxh_merge(h, v1);
		h = xxh_merge(h, v2);
		h = xxh_merge(h, v3);
		h = xxh_merge(h, v4);
	} else {
		h = P64_5;
	}
	h += (uint64_t)len;
	while (end - p >= 8) {
		h ^= xxh_round(0, ut_le64(p));
		h = rotl64(h, 27) * P64_1 + P64_4;
		p += 8;
	}
	if (end - p >= 4) {
		h ^= (uint64_t)ut_le32(p) * P64_1;
		h = rotl64(h, 23) * P64_2 + P64_3;
		p += 4;
	}
	while (p < end) {
		h ^= (*p++) * P64_5;
		h = rotl64(h, 11) * P64_1;
	}
	h ^= h >> 33;
	h *= P64_2;
	h ^= h >> 29;
	h *= P64_3;
	h ^= h >> 32;
	return h;
}

/* ---- lineage ------------------------------------------------------------ */

int bd_lineage_find(struct dr_blockdev *disk, const char *base_path, int *depth,
		    struct ut_err *err)
{
	char *want = realpath(base_path, NULL);
	struct dr_blockdev *b;
	int d = 0, found = 0;

	*depth = 0;
	if (!want)
		return ut_err_set(err, "%s: cannot resolve the path", base_path);
	/* Slices (partitions) have no chain of their own: start from the disk. */
	disk = dr_blockdev_whole(disk);
	for (b = dr_blockdev_backing(disk); b && d < BD_MAX_DEPTH; b = dr_blockdev_backing(b)) {
		char *have = realpath(dr_blockdev_path(b), NULL);

		d++;
		if (have && !strcmp(have, want))
			found = 1;
		free(have);
		if (found)
			break;
	}
	free(want);
	if (found)
		*depth = d;
	return found;
}

static int cmp_range(const void *a, const void *b)
{
	const struct bd_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

int bd_extents_lineage(struct dr_blockdev *disk, int depth, struct bd_extents *out,
		       struct ut_err *err)
{
	struct bd_extents all; /* every layer's runs, unsorted */
	struct dr_blockdev *layer;
	int i, ret = -1;

	bd_extents_init(out);
	bd_extents_init(&all);
	disk = dr_blockdev_whole(disk);
	if (depth < 1 || depth > BD_MAX_DEPTH)
		return ut_err_set(err, "%s: lineage depth %d is out of range",
				  dr_blockdev_path(disk), depth);
	for (i = 0, layer = disk; i < depth; i++, layer = dr_blockdev_backing(layer)) {
		uint64_t off = 0, end;

		if (!layer) {
			ut_err_set(err, "%s: the backing chain is shorter than %d layers",
				   dr_blockdev_path(disk), depth);
			goto out;
		}
		/* A lower layer's bytes past the top's size are not the disk's. */
		end = dr_blockdev_size(layer) < dr_blockdev_size(disk) ? dr_blockdev_size(layer)
									 : dr_blockdev_size(disk);
		while (off < end) {
			uint64_t n;
			int in_backing;

			if (dr_blockdev_block_status(layer, off, end - off, &n, NULL, &in_backing,
						     err) < 0)
				goto out;
			/* Allocated or zeros of this layer: not the base's bytes. */
			if (!in_backing) {
				if (all.n == all.alloc) {
					all.alloc = all.alloc ? 2 * all.alloc : 64;
					all.v = ut_realloc(all.v, all.alloc * sizeof(*all.v));
				}
				all.v[all.n].off = off;
				all.v[all.n].len = n;
				all.n++;
			}
			off += n;
		}
		/* Past a lower layer's end (a grown disk), the upper layer's
		 * status has said it already. */
	}
	if (all.n) /* an overlay with nothing written: no array, and qsort wants one */
		qsort(all.v, all.n, sizeof(*all.v), cmp_range);
	for (size_t k = 0; k < all.n; k++)
		bd_extents_add(out, all.v[k].off, all.v[k].len);
	out->method = BD_LINEAGE;
	out->depth = depth;
	out->disk_size = dr_blockdev_size(disk);
	/* The smallest run length seen is a multiple of the cluster: report
	 * the largest power of two dividing every range, capped at 64 KiB
	 * (qcow2's default cluster) - enough to say "cluster-granular". */
	out->granule = 65536;
	for (size_t k = 0; k < out->n; k++)
		while (out->granule > 512 &&
		       ((out->v[k].off | out->v[k].len) & (out->granule - 1)))
			out->granule >>= 1;
	ret = 0;
out:
	free(all.v);
	if (ret < 0)
		bd_extents_release(out);
	return ret;
}

/* ---- hashes ------------------------------------------------------------- */

static int check_block_size(const char *path, uint64_t bs, struct ut_err *err)
{
	if (bs < 512 || bs > BD_CHUNK || (bs & (bs - 1)))
		return ut_err_set(err, "%s: block size %llu is not a power of two in 512..%u",
				  path, (unsigned long long)bs, BD_CHUNK);
	return 0;
}

int bd_extents_hashes(struct dr_blockdev *base, struct dr_blockdev *disk, uint64_t block_size,
		      const struct ut_progress *progress, struct bd_extents *out,
		      struct ut_err *err)
{
	unsigned char *a = NULL, *b = NULL;
	uint64_t common, off = 0;
	int ret = -1;

	bd_extents_init(out);
	if (check_block_size(dr_blockdev_path(disk), block_size, err) < 0)
		return -1;
	a = ut_malloc(BD_CHUNK);
	b = ut_malloc(BD_CHUNK);
	common = dr_blockdev_size(base) < dr_blockdev_size(disk) ? dr_blockdev_size(base)
								 : dr_blockdev_size(disk);
	while (off < common) {
		size_t len = common - off < BD_CHUNK ? (size_t)(common - off) : BD_CHUNK;
		size_t k;

		if (dr_blockdev_pread(base, a, len, off, err) < 0 ||
		    dr_blockdev_pread(disk, b, len, off, err) < 0)
			goto out;
		out->bytes_read += 2 * (uint64_t)len;
		for (k = 0; k < len; k += block_size) {
			size_t bl = len - k < block_size ? len - k : (size_t)block_size;

			if (bd_hash64(a + k, bl) != bd_hash64(b + k, bl))
				bd_extents_add(out, off + k, bl);
		}
		off += len;
		ut_progress_update(progress, "hash blocks", off, common);
	}
	/* A longer disk's tail is new; a shorter one lost bytes it cannot
	 * show as ranges of its own. */
	if (dr_blockdev_size(disk) > common)
		bd_extents_add(out, common, dr_blockdev_size(disk) - common);
	out->method = BD_HASHES;
	out->granule = block_size;
	out->disk_size = dr_blockdev_size(disk);
	ret = 0;
out:
	free(a);
	free(b);
	if (ret < 0)
		bd_extents_release(out);
	return ret;
}

int bd_extents_refine(const struct bd_extents *in, struct dr_blockdev *base,
		      struct dr_blockdev *disk, uint64_t block_size, struct bd_extents *out,
		      struct ut_err *err)
{
	unsigned char *a = NULL, *b = NULL;
	size_t i;
	int ret = -1;

	bd_extents_init(out);
	if (check_block_size(dr_blockdev_path(disk), block_size, err) < 0)
		return -1;
	a = ut_malloc(BD_CHUNK);
	b = ut_malloc(BD_CHUNK);
	for (i = 0; i < in->n; i++) {
		/* Whole blocks covering the range, clipped to the disk. */
		uint64_t off = in->v[i].off & ~(block_size - 1);
		uint64_t end = in->v[i].off + in->v[i].len;

		if (end > dr_blockdev_size(disk))
			end = dr_blockdev_size(disk);
		/* Blocks already judged with the previous range are skipped. */
		if (out->n && off < out->v[out->n - 1].off + out->v[out->n - 1].len)
			off = out->v[out->n - 1].off + out->v[out->n - 1].len;
		while (off < end) {
			size_t len = end - off < BD_CHUNK ? (size_t)(end - off) : BD_CHUNK;
			size_t have = 0, k;

			/* Round up to whole blocks where the disk allows. */
			if (len % block_size && off + len + (block_size - len % block_size) <= dr_blockdev_size(disk))
				len += block_size - len % block_size;
			if (dr_blockdev_pread(disk, b, len, off, err) < 0)
				goto out;
			/* The base may be shorter: what it lacks differs. */
			if (off < dr_blockdev_size(base)) {
				have = dr_blockdev_size(base) - off < len ? (size_t)(dr_blockdev_size(base) - off) : len;
				if (dr_blockdev_pread(base, a, have, off, err) < 0)
					goto out;
			}
			out->bytes_read += len + have;
			for (k = 0; k < len; k += block_size) {
				size_t bl = len - k < block_size ? len - k : (size_t)block_size;

				if (k + bl > have || memcmp(a + k, b + k, bl))
					bd_extents_add(out, off + k, bl);
			}
			off += len;
		}
	}
	out->method = in->method;
	out->depth = in->depth;
	out->granule = block_size;
	out->disk_size = dr_blockdev_size(disk);
	out->bytes_read += in->bytes_read;
	ret = 0;
out:
	free(a);
	free(b);
	if (ret < 0)
		bd_extents_release(out);
	return ret;
}
