/*
 * qcow2.c - QEMU copy-on-write images, versions 2 and 3, read-only.
 *
 * Supported: standard, zero and compressed (zlib or zstd) clusters, extended
 * L2 entries (subclusters), and backing chains. Refused with a clear error:
 * encryption, external data files, unknown incompatible features.
 *
 * Every offset read from the image is checked against the host file's size
 * before use; the data of a cluster that runs past the end of the file
 * reads as zeros there, as qemu's file driver does.
 */
#include "dr_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_MAX_SIZE (1ULL << 61)
/* qemu's own limit on the L1 table (QCOW_MAX_L1_SIZE): 32 MiB. */
#define QCOW2_MAX_L1_BYTES (32U << 20)
#define QCOW2_MAX_BACKING_NAME 1023

#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1fULL

#define QCOW2_EXT_END 0x00000000U
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU

#define QCOW_OFLAG_COPIED (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO (1ULL << 0)
#define L1E_OFFSET_MASK 0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK 0x00fffffffffffe00ULL

/* Budget for cached L2 tables; at least two tables whatever the cluster size. */
#define QCOW2_L2_CACHE_BYTES (4U << 20)
#define QCOW2_L2_CACHE_MAX 64

enum q_type {
	Q_UNALLOC,
	Q_ZERO,
	Q_NORMAL,
	Q_COMPRESSED,
};

struct l2_slot {
	uint64_t off;     /* host offset of the table, 0 = empty slot */
	uint64_t stamp;   /* LRU clock */
	unsigned char *table;
};

struct qcow2 {
	int fd;
	uint64_t file_size;
	uint32_t version;
	unsigned cluster_bits;
	uint64_t cluster_size;
	unsigned l2_bits;      /* log2 of entries per L2 table */
	unsigned entry_size;   /* 8, or 16 with extended L2 entries */
	unsigned sc_bits;      /* log2 of the (sub)cluster size */
	int extl2;
	int zstd;
	uint64_t *l1;          /* host byte order */
	uint32_t l1_size;      /* entries loaded into l1 */

	struct l2_slot *l2c;
	unsigned l2c_n;
	uint64_t l2c_clock;

	/* The last decompressed cluster, keyed by its L2 descriptor. */
	uint64_t zkey;
	int zvalid;
	unsigned char *zout;
	unsigned char *zin;
	size_t zin_size;
	z_stream zs;
	int zs_init;
	ZSTD_DCtx *zctx;
};

static int qcow2_probe(const unsigned char *head, size_t len)
{
	if (len >= 4 && ut_be32(head) == QCOW2_MAGIC)
		return 100;
	return 0;
}

/*
 * Reads len bytes at off from the host file. Bytes past the end of the file
 * read as zeros; off itself must lie inside the file (callers check).
 */
static int host_read(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		     struct ut_err *err)
{
	struct qcow2 *q = bd->priv;

	return dr_host_pread(q->fd, q->file_size, bd->path, buf, len, off, &bd->bytes_read, err);
}

/* ---- opening ------------------------------------------------------------ */

static int read_backing(struct dr_blockdev *bd, const unsigned char *hdr, size_t hdr_len,
			uint64_t name_off, uint32_t name_len, const char *fmt, struct ut_err *err)
{
	char *name = NULL;
	int ret = -1;

	if (!name_len || name_len > QCOW2_MAX_BACKING_NAME)
		return ut_err_set(err, "%s: backing file name length %u is invalid", bd->path,
				  name_len);
	if (name_off > hdr_len || name_len > hdr_len - name_off)
		return ut_err_set(err, "%s: backing file name lies outside the first cluster",
				  bd->path);
	name = ut_strndup((const char *)hdr + name_off, name_len);
	if (strlen(name) != name_len) {
		ut_err_set(err, "%s: backing file name contains a NUL byte", bd->path);
		goto out;
	}
	if (!strncmp(name, "json:", 5) || strstr(name, "://")) {
		ut_err_set(err, "%s: backing file '%s' is not a plain file name", bd->path, name);
		goto out;
	}
	if (dr_open_backing(bd, "backing file", name, fmt, err) < 0)
		goto out;
	ret = 0;
out:
	free(name);
	return ret;
}

static int qcow2_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct qcow2 *q;
	unsigned char *hdr = NULL;
	size_t hdr_len;
	uint64_t backing_off, l1_off, size, incompat, l1_need, entries_per_l1;
	uint32_t backing_len, header_length, crypt, l1_size;
	char backing_fmt[32] = "";
	unsigned i;
	int ret = -1;

	q = ut_calloc(1, sizeof(*q));
	q->fd = -1;
	bd->priv = q;
	if (dr_open_image_file(bd, &q->fd, &q->file_size, err) < 0)
		return -1;
	if (q->file_size < QCOW2_V2_HEADER_LEN)
		return ut_err_set(err, "%s: truncated qcow2 header (%llu bytes)", path,
				  (unsigned long long)q->file_size);

	/* The fixed fields first (bytes past a v2 file's end read as zeros);
	 * the first cluster whole once its size is known. */
	hdr = ut_malloc(QCOW2_V3_HEADER_LEN);
	if (host_read(bd, hdr, QCOW2_V3_HEADER_LEN, 0, err) < 0)
		goto out;
	if (ut_be32(hdr) != QCOW2_MAGIC) {
		ut_err_set(err, "%s: not a qcow2 image (bad magic)", path);
		goto out;
	}
	q->version = ut_be32(hdr + 4);
	if (q->version != 2 && q->version != 3) {
		ut_err_set(err, "%s: unsupported qcow2 version %u", path, q->version);
		goto out;
	}
	q->cluster_bits = ut_be32(hdr + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21) {
		ut_err_set(err, "%s: invalid qcow2 cluster_bits %u (must be 9 to 21)", path,
			   q->cluster_bits);
		goto out;
	}
	q->cluster_size = 1ULL << q->cluster_bits;
	backing_off = ut_be64(hdr + 8);
	backing_len = ut_be32(hdr + 16);
	size = ut_be64(hdr + 24);
	crypt = ut_be32(hdr + 32);
	l1_size = ut_be32(hdr + 36);
	l1_off = ut_be64(hdr + 40);
	incompat = 0;
	header_length = QCOW2_V2_HEADER_LEN;
	if (q->version == 3) {
		if (q->file_size < QCOW2_V3_HEADER_LEN) {
			ut_err_set(err, "%s: truncated qcow2 v3 header", path);
			goto out;
		}
		incompat = ut_be64(hdr + 72);
		header_length = ut_be32(hdr + 100);
		if (header_length < QCOW2_V3_HEADER_LEN || header_length > q->cluster_size) {
			ut_err_set(err, "%s: invalid qcow2 header length %u", path, header_length);
			goto out;
		}
	}
	if (crypt) {
		ut_err_set(err, "%s: encrypted qcow2 images are not supported (crypt_method %u)",
			   path, crypt);
		goto out;
	}
	if (incompat & QCOW2_INCOMPAT_DATA_FILE) {
		ut_err_set(err, "%s: qcow2 images with an external data file are not supported",
			   path);
		goto out;
	}
	if (incompat & ~QCOW2_INCOMPAT_KNOWN) {
		ut_err_set(err, "%s: unknown qcow2 incompatible features 0x%llx", path,
			   (unsigned long long)(incompat & ~QCOW2_INCOMPAT_KNOWN));
		goto out;
	}
	q->extl2 = !!(incompat & QCOW2_INCOMPAT_EXTL2);
	if (q->extl2 && q->cluster_bits < 14) {
		ut_err_set(err, "%s: extended L2 entries need clusters of 16 KiB or more", path);
		goto out;
	}
	q->entry_size = q->extl2 ? 16 : 8;
	q->l2_bits = q->cluster_bits - (q->extl2 ? 4 : 3);
	q->sc_bits = q->cluster_bits - (q->extl2 ? 5 : 0);
	/* Extensions and the backing file name live in the first cluster. */
	hdr_len = q->cluster_size < q->file_size ? q->cluster_size : q->file_size;
	free(hdr);
	hdr = ut_malloc(hdr_len);
	if (host_read(bd, hdr, hdr_len, 0, err) < 0)
		goto out;
	if (header_length > hdr_len) {
		ut_err_set(err, "%s: truncated qcow2 header", path);
		goto out;
	}
	if (header_length > QCOW2_V3_HEADER_LEN) {
		unsigned ct = hdr[QCOW2_V3_HEADER_LEN];

		if (ct > 1) {
			ut_err_set(err, "%s: unknown qcow2 compression type %u", path, ct);
			goto out;
		}
		if (ct != 0 && !(incompat & QCOW2_INCOMPAT_COMPRESSION)) {
			ut_err_set(err, "%s: qcow2 compression type set without its feature bit",
				   path);
			goto out;
		}
		q->zstd = ct == 1;
	} else if (incompat & QCOW2_INCOMPAT_COMPRESSION) {
		ut_err_set(err, "%s: qcow2 compression type bit set but the header has no type",
			   path);
		goto out;
	}

	if (size > QCOW2_MAX_SIZE) {
		ut_err_set(err, "%s: absurd qcow2 virtual size %llu", path,
			   (unsigned long long)size);
		goto out;
	}
	bd->size = size;
	entries_per_l1 = 1ULL << (q->l2_bits + q->cluster_bits); /* bytes per L1 entry */
	l1_need = size / entries_per_l1 + (size % entries_per_l1 != 0);
	if (l1_size < l1_need) {
		ut_err_set(err, "%s: qcow2 L1 table too small (%u entries) for the virtual size %llu",
			   path, l1_size, (unsigned long long)size);
		goto out;
	}
	if ((uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		ut_err_set(err, "%s: qcow2 L1 table too large (%u entries)", path, l1_size);
		goto out;
	}
	q->l1_size = l1_need;
	if (l1_need) {
		if (l1_off & (q->cluster_size - 1)) {
			ut_err_set(err, "%s: qcow2 L1 table offset %llu is not cluster aligned",
				   path, (unsigned long long)l1_off);
			goto out;
		}
		if (l1_off >= q->file_size || l1_need * 8 > q->file_size - l1_off) {
			ut_err_set(err, "%s: qcow2 L1 table at %llu lies beyond the end of the file",
				   path, (unsigned long long)l1_off);
			goto out;
		}
		q->l1 = ut_malloc(l1_need * 8);
		if (host_read(bd, q->l1, l1_need * 8, l1_off, err) < 0)
			goto out;
		for (i = 0; i < l1_need; i++)
			q->l1[i] = ut_be64((unsigned char *)&q->l1[i]);
	}

	/* Header extensions: between the header and the backing file name
	 * (or the end of the first cluster). */
	{
		uint64_t pos = header_length, end = hdr_len;

		if (backing_off && backing_off < end && backing_off >= pos)
			end = backing_off;
		while (pos + 8 <= end) {
			uint32_t type = ut_be32(hdr + pos), len = ut_be32(hdr + pos + 4);

			pos += 8;
			if (type == QCOW2_EXT_END)
				break;
			if (len > end - pos) {
				ut_err_set(err, "%s: qcow2 header extension 0x%08x runs past the header",
					   path, type);
				goto out;
			}
			if (type == QCOW2_EXT_BACKING_FORMAT) {
				if (len >= sizeof(backing_fmt)) {
					ut_err_set(err, "%s: qcow2 backing format name too long", path);
					goto out;
				}
				memcpy(backing_fmt, hdr + pos, len);
				backing_fmt[len] = '\0';
			}
			pos += (len + 7ULL) & ~7ULL;
		}
	}

	if (backing_off) {
		if (read_backing(bd, hdr, hdr_len, backing_off, backing_len,
				 backing_fmt[0] ? backing_fmt : NULL, err) < 0)
			goto out;
	}

	q->l2c_n = QCOW2_L2_CACHE_BYTES >> q->cluster_bits;
	if (q->l2c_n < 2)
		q->l2c_n = 2;
	if (q->l2c_n > QCOW2_L2_CACHE_MAX)
		q->l2c_n = QCOW2_L2_CACHE_MAX;
	q->l2c = ut_calloc(q->l2c_n, sizeof(*q->l2c));
	ret = 0;
out:
	free(hdr);
	return ret;
}

/* ---- lookups ------------------------------------------------------------ */

static int l2_load(struct dr_blockdev *bd, uint64_t l2_off, const unsigned char **table,
		   struct ut_err *err)
{
	struct qcow2 *q = bd->priv;
	struct l2_slot *victim = &q->l2c[0];
	unsigned i;

	for (i = 0; i < q->l2c_n; i++) {
		struct l2_slot *s = &q->l2c[i];

		if (s->off == l2_off && s->table) {
			s->stamp = ++q->l2c_clock;
			*table = s->table;
			return 0;
		}
		if (s->stamp < victim->stamp)
			victim = s;
	}
	if (l2_off & (q->cluster_size - 1))
		return ut_err_set(err, "%s: qcow2 L2 table offset %llu is not cluster aligned",
				  bd->path, (unsigned long long)l2_off);
	if (l2_off >= q->file_size || q->cluster_size > q->file_size - l2_off)
		return ut_err_set(err, "%s: qcow2 L2 table at %llu lies beyond the end of the file",
				  bd->path, (unsigned long long)l2_off);
	if (!victim->table)
		victim->table = ut_malloc(q->cluster_size);
	victim->off = 0;
	if (host_read(bd, victim->table, q->cluster_size, l2_off, err) < 0)
		return -1;
	victim->off = l2_off;
	victim->stamp = ++q->l2c_clock;
	*table = victim->table;
	return 0;
}

/*
 * What the (sub)cluster holding guest offset off is. For Q_NORMAL, *host is
 * the host offset of off itself; for Q_COMPRESSED, *host is the L2 entry.
 */
static int classify(struct dr_blockdev *bd, uint64_t off, enum q_type *type, uint64_t *host,
		    struct ut_err *err)
{
	struct qcow2 *q = bd->priv;
	uint64_t l1_index = off >> (q->l2_bits + q->cluster_bits);
	uint64_t l2_index = (off >> q->cluster_bits) & ((1ULL << q->l2_bits) - 1);
	const unsigned char *table = NULL;
	uint64_t l2e, l2_off, coff, bitmap = 0;

	*host = 0;
	if (l1_index >= q->l1_size) {
		*type = Q_UNALLOC;
		return 0;
	}
	l2_off = q->l1[l1_index] & L1E_OFFSET_MASK;
	if (!l2_off) {
		*type = Q_UNALLOC;
		return 0;
	}
	if (l2_load(bd, l2_off, &table, err) < 0)
		return -1;
	l2e = ut_be64(table + l2_index * q->entry_size);
	if (q->extl2)
		bitmap = ut_be64(table + l2_index * q->entry_size + 8);

	if (l2e & QCOW_OFLAG_COMPRESSED) {
		*type = Q_COMPRESSED;
		*host = l2e;
		return 0;
	}
	coff = l2e & L2E_OFFSET_MASK;
	if (coff & (q->cluster_size - 1))
		return ut_err_set(err, "%s: qcow2 L2 entry for offset %llu is not cluster aligned",
				  bd->path, (unsigned long long)off);
	if (q->extl2) {
		unsigned sc = (off >> q->sc_bits) & 31;
		int alloc = (bitmap >> sc) & 1, zero = (bitmap >> (32 + sc)) & 1;

		if (alloc && zero)
			return ut_err_set(err, "%s: qcow2 subcluster at offset %llu is both allocated and zero",
					  bd->path, (unsigned long long)off);
		if (zero) {
			*type = Q_ZERO;
			return 0;
		}
		if (!alloc) {
			*type = Q_UNALLOC;
			return 0;
		}
		if (!coff)
			return ut_err_set(err, "%s: qcow2 subcluster at offset %llu is allocated with no cluster",
					  bd->path, (unsigned long long)off);
	} else {
		if ((l2e & QCOW_OFLAG_ZERO) && q->version >= 3) {
			*type = Q_ZERO;
			return 0;
		}
		if (!coff) {
			*type = Q_UNALLOC;
			return 0;
		}
	}
	if (coff >= q->file_size)
		return ut_err_set(err, "%s: qcow2 data cluster for offset %llu lies beyond the end of the file (%llu)",
				  bd->path, (unsigned long long)off, (unsigned long long)coff);
	*type = Q_NORMAL;
	*host = coff + (off & (q->cluster_size - 1));
	return 0;
}

/*
 * The run of bytes from off (at most maxlen) that share one type; for
 * Q_NORMAL also host-contiguous, for Q_COMPRESSED one cluster at most.
 */
static int get_extent(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, enum q_type *type,
		      uint64_t *host, uint64_t *pnum, struct ut_err *err)
{
	struct qcow2 *q = bd->priv;
	uint64_t sc_size = 1ULL << q->sc_bits;
	uint64_t n = sc_size - (off & (sc_size - 1));

	if (classify(bd, off, type, host, err) < 0)
		return -1;
	if (*type == Q_COMPRESSED) {
		n = q->cluster_size - (off & (q->cluster_size - 1));
		*pnum = n < maxlen ? n : maxlen;
		return 0;
	}
	while (n < maxlen) {
		enum q_type t;
		uint64_t h;

		if (classify(bd, off + n, &t, &h, err) < 0)
			return -1;
		if (t != *type || (t == Q_NORMAL && h != *host + n))
			break;
		n += sc_size;
	}
	*pnum = n < maxlen ? n : maxlen;
	return 0;
}

/* ---- compressed clusters ------------------------------------------------ */

static int decompress_cluster(struct dr_blockdev *bd, uint64_t l2e, struct ut_err *err)
{
	struct qcow2 *q = bd->priv;
	unsigned csize_shift = 62 - (q->cluster_bits - 8);
	uint64_t csize_mask = (1ULL << (q->cluster_bits - 8)) - 1;
	uint64_t coff = l2e & ((1ULL << csize_shift) - 1);
	uint64_t nsect = ((l2e >> csize_shift) & csize_mask) + 1;
	uint64_t csize = nsect * 512 - (coff & 511);

	if (q->zvalid && q->zkey == l2e)
		return 0;
	q->zvalid = 0;
	if (coff >= q->file_size)
		return ut_err_set(err, "%s: qcow2 compressed cluster at %llu lies beyond the end of the file",
				  bd->path, (unsigned long long)coff);
	/* The last compressed cluster's sector count may reach past the end
	 * of the file: only what the file has is input. */
	if (csize > q->file_size - coff)
		csize = q->file_size - coff;
	if (!q->zout) {
		q->zout = ut_malloc(q->cluster_size);
		q->zin_size = 2 * q->cluster_size;
		q->zin = ut_malloc(q->zin_size);
	}
	if (csize > q->zin_size)
		return ut_err_set(err, "%s: qcow2 compressed cluster too large", bd->path);
	if (host_read(bd, q->zin, csize, coff, err) < 0)
		return -1;

	if (q->zstd) {
		ZSTD_inBuffer in = { q->zin, csize, 0 };
		ZSTD_outBuffer out = { q->zout, q->cluster_size, 0 };

		if (!q->zctx)
			q->zctx = ZSTD_createDCtx();
		if (!q->zctx)
			return ut_err_set(err, "%s: cannot create a zstd context", bd->path);
		ZSTD_DCtx_reset(q->zctx, ZSTD_reset_session_only);
		/* Trailing padding after the frame is allowed: stop once the
		 * cluster is full. */
		while (out.pos < out.size) {
			size_t r = ZSTD_decompressStream(q->zctx, &out, &in);

			if (ZSTD_isError(r))
				return ut_err_set(err, "%s: qcow2 compressed cluster at %llu: zstd: %s",
						  bd->path, (unsigned long long)coff,
						  ZSTD_getErrorName(r));
			if (out.pos < out.size && (r == 0 || in.pos == in.size))
				return ut_err_set(err, "%s: qcow2 compressed cluster at %llu is short",
						  bd->path, (unsigned long long)coff);
		}
	} else {
		int r;

		if (!q->zs_init) {
			memset(&q->zs, 0, sizeof(q->zs));
			if (inflateInit2(&q->zs, -12) != Z_OK)
				return ut_err_set(err, "%s: cannot initialise zlib", bd->path);
			q->zs_init = 1;
		} else if (inflateReset(&q->zs) != Z_OK) {
			return ut_err_set(err, "%s: cannot reset zlib", bd->path);
		}
		q->zs.next_in = q->zin;
		q->zs.avail_in = csize;
		q->zs.next_out = q->zout;
		q->zs.avail_out = q->cluster_size;
		r = inflate(&q->zs, Z_FINISH);
		/* A full cluster is success whether or not the stream's end
		 * marker fit in the sectors (qemu accepts the same). */
		if (!((r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && q->zs.avail_out == 0))
			return ut_err_set(err, "%s: qcow2 compressed cluster at %llu is corrupt (zlib %d)",
					  bd->path, (unsigned long long)coff, r);
	}
	q->zkey = l2e;
	q->zvalid = 1;
	return 0;
}

/* ---- the vtable --------------------------------------------------------- */

static int qcow2_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		       struct ut_err *err)
{
	struct qcow2 *q = bd->priv;
	unsigned char *dst = buf;

	while (len) {
		enum q_type type;
		uint64_t host, n;

		if (get_extent(bd, off, len, &type, &host, &n, err) < 0)
			return -1;
		switch (type) {
		case Q_UNALLOC:
			if (dr_read_backing(bd, dst, n, off, err) < 0)
				return -1;
			break;
		case Q_ZERO:
			memset(dst, 0, n);
			break;
		case Q_NORMAL:
			if (host_read(bd, dst, n, host, err) < 0)
				return -1;
			break;
		case Q_COMPRESSED:
			if (decompress_cluster(bd, host, err) < 0)
				return -1;
			memcpy(dst, q->zout + (off & (q->cluster_size - 1)), n);
			break;
		}
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int qcow2_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			      uint64_t *pnum, int *allocated, int *in_backing,
			      struct ut_err *err)
{
	enum q_type type;
	uint64_t host, n, total = 0;
	int a, b;

	/* Compressed runs stop at every cluster: merge them here. */
	do {
		if (get_extent(bd, off + total, len - total, &type, &host, &n, err) < 0)
			return -1;
		a = type == Q_NORMAL || type == Q_COMPRESSED;
		b = type == Q_UNALLOC && dr_from_backing(bd, off + total, &n);
		if (total && (a != *allocated || b != *in_backing))
			break;
		*allocated = a;
		*in_backing = b;
		total += n;
	} while (total < len && type == Q_COMPRESSED);
	*pnum = total;
	return 0;
}

static void qcow2_close(struct dr_blockdev *bd)
{
	struct qcow2 *q = bd->priv;
	unsigned i;

	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->l1);
	for (i = 0; q->l2c && i < q->l2c_n; i++)
		free(q->l2c[i].table);
	free(q->l2c);
	free(q->zout);
	free(q->zin);
	if (q->zs_init)
		inflateEnd(&q->zs);
	ZSTD_freeDCtx(q->zctx);
	free(q);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_qcow2_ops = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.pread = qcow2_pread,
	.block_status = qcow2_block_status,
	.close = qcow2_close,
};
