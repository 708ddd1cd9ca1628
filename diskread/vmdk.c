/*
 * vmdk.c - VMware disks, read-only: hosted sparse extents ("KDMV":
 * monolithicSparse, twoGbMaxExtentSparse pieces, streamOptimized with
 * compressed grains and markers) and text descriptors listing FLAT, SPARSE
 * and ZERO extents, concatenated in order. A delta disk's parent
 * (parentFileNameHint) is opened as the backing file.
 *
 * Sparse extent layout: a grain directory (GD) of 32-bit sector offsets of
 * grain tables (GT), each GT numGTEsPerGT 32-bit sector offsets of grains.
 * All numbers little-endian; offsets in 512-byte sectors.
 */
#include "dr_internal.h"

#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define VMDK_MAGIC 0x564d444bU /* "KDMV" */
#define VMDK_DESC_MAGIC "# Disk DescriptorFile"
#define VMDK_SECTOR 512ULL
#define VMDK_MAX_SIZE (1ULL << 61)
#define VMDK_MAX_GRAIN_SECTORS (1ULL << 16) /* 32 MiB */
#define VMDK_MAX_GTES (1U << 16)
#define VMDK_MAX_DESC (1U << 20)
#define VMDK_MAX_EXTENTS 4096
#define VMDK_GD_AT_END 0xffffffffffffffffULL

#define VMDK_FLAG_ZERO_GRAIN (1U << 2)
#define VMDK_FLAG_COMPRESSED (1U << 16)
#define VMDK_FLAG_MARKERS (1U << 17)
#define VMDK_COMPRESS_DEFLATE 1

#define VMDK_GT_CACHE 8

enum ext_kind {
	EXT_FLAT,
	EXT_SPARSE,
	EXT_ZERO,
};

struct gt_slot {
	uint64_t sector; /* 0: empty */
	uint64_t stamp;
	uint32_t *gt;    /* host byte order */
};

struct extent {
	enum ext_kind kind;
	char *path;         /* for messages */
	uint64_t start;     /* virtual byte offset */
	uint64_t size;      /* bytes */
	int fd;             /* -1 for ZERO, or shared with the descriptor's own */
	int own_fd;
	uint64_t file_size;
	uint64_t flat_off;  /* FLAT: byte offset in the file */

	/* SPARSE */
	uint64_t grain;     /* bytes */
	uint32_t gtes;
	uint64_t gd_entries;
	uint32_t *gd;
	int compressed, markers, zero_grain;
	struct gt_slot gtc[VMDK_GT_CACHE];
	uint64_t clock;
	/* the last inflated grain */
	uint64_t zsector;
	int zvalid;
	unsigned char *zout, *zin;
	size_t zin_size;
};

struct vmdk {
	struct extent *ext;
	size_t n;
	size_t last; /* extent of the last read: reads are sequential-ish */
	z_stream zs;
	int zs_init;
};

static int vmdk_probe(const unsigned char *head, size_t len)
{
	if (len >= 4 && ut_le32(head) == VMDK_MAGIC)
		return 100;
	if (len >= strlen(VMDK_DESC_MAGIC) && !memcmp(head, VMDK_DESC_MAGIC, strlen(VMDK_DESC_MAGIC)))
		return 100;
	return 0;
}

/* Bytes past the end of the file read as zeros; off must be inside it. */
static int file_read(struct dr_blockdev *bd, struct extent *e, void *buf, size_t len,
		     uint64_t off, struct ut_err *err)
{
	return dr_host_pread(e->fd, e->file_size, e->path, buf, len, off, &bd->bytes_read, err);
}

/* ---- sparse extents ----------------------------------------------------- */

/*
 * Reads the sparse header of e (whose fd is open) and its grain directory.
 * With want_size 0 the extent takes its size from the header's capacity.
 */
static int sparse_open(struct dr_blockdev *bd, struct extent *e, struct ut_err *err)
{
	unsigned char h[512];
	uint32_t version, flags, gtes;
	uint64_t capacity, grain, gd_off, span, gd_bytes, cap, i;
	unsigned compress;

	if (e->file_size < sizeof(h))
		return ut_err_set(err, "%s: truncated vmdk sparse header", e->path);
	if (file_read(bd, e, h, sizeof(h), 0, err) < 0)
		return -1;
	if (ut_le32(h) != VMDK_MAGIC)
		return ut_err_set(err, "%s: not a vmdk sparse extent (bad magic)", e->path);
	version = ut_le32(h + 4);
	flags = ut_le32(h + 8);
	capacity = ut_le64(h + 12);
	grain = ut_le64(h + 20);
	gtes = ut_le32(h + 44);
	gd_off = ut_le64(h + 56);
	compress = h[77] | h[78] << 8;
	if (version < 1 || version > 3)
		return ut_err_set(err, "%s: unsupported vmdk version %u", e->path, version);
	if (!grain || grain > VMDK_MAX_GRAIN_SECTORS || (grain & (grain - 1)))
		return ut_err_set(err, "%s: invalid vmdk grain size of %llu sectors", e->path,
				  (unsigned long long)grain);
	if (!gtes || gtes > VMDK_MAX_GTES)
		return ut_err_set(err, "%s: invalid vmdk grain table size %u", e->path, gtes);
	if (capacity > VMDK_MAX_SIZE / VMDK_SECTOR)
		return ut_err_set(err, "%s: absurd vmdk capacity of %llu sectors", e->path,
				  (unsigned long long)capacity);
	e->compressed = !!(flags & VMDK_FLAG_COMPRESSED);
	e->markers = !!(flags & VMDK_FLAG_MARKERS);
	e->zero_grain = !!(flags & VMDK_FLAG_ZERO_GRAIN);
	if (e->compressed && compress != VMDK_COMPRESS_DEFLATE)
		return ut_err_set(err, "%s: unsupported vmdk compression algorithm %u", e->path,
				  compress);

	if (gd_off == VMDK_GD_AT_END) {
		/* streamOptimized: the footer, a copy of the header with the
		 * real GD offset, sits 1024 bytes before the end (then the
		 * end-of-stream marker). */
		unsigned char f[512];

		if (e->file_size < 1536)
			return ut_err_set(err, "%s: truncated vmdk stream (no footer)", e->path);
		if (file_read(bd, e, f, sizeof(f), e->file_size - 1024, err) < 0)
			return -1;
		if (ut_le32(f) != VMDK_MAGIC)
			return ut_err_set(err, "%s: vmdk stream footer not found (truncated stream?)",
					  e->path);
		gd_off = ut_le64(f + 56);
		if (gd_off == VMDK_GD_AT_END)
			return ut_err_set(err, "%s: vmdk stream footer has no grain directory",
					  e->path);
	}
	if (!e->size)
		e->size = capacity * VMDK_SECTOR;
	e->grain = grain * VMDK_SECTOR;
	e->gtes = gtes;
	span = e->grain * gtes;
	/* A descriptor may claim more sectors than the extent holds: grains
	 * past its own capacity are unallocated, not read from a GD too short. */
	cap = capacity * VMDK_SECTOR < e->size ? capacity * VMDK_SECTOR : e->size;
	e->gd_entries = cap / span + (cap % span != 0);
	gd_bytes = e->gd_entries * 4;
	if (gd_off > e->file_size / VMDK_SECTOR ||
	    gd_bytes > e->file_size - gd_off * VMDK_SECTOR)
		return ut_err_set(err, "%s: vmdk grain directory (%llu entries at sector %llu) lies beyond the end of the file",
				  e->path, (unsigned long long)e->gd_entries,
				  (unsigned long long)gd_off);
	if (gd_off == 0 && e->gd_entries)
		return ut_err_set(err, "%s: vmdk grain directory offset is 0", e->path);
	e->gd = ut_malloc(gd_bytes ? gd_bytes : 1);
	if (file_read(bd, e, e->gd, gd_bytes, gd_off * VMDK_SECTOR, err) < 0)
		return -1;
	for (i = 0; i < e->gd_entries; i++)
		e->gd[i] = ut_le32((unsigned char *)&e->gd[i]);
	return 0;
}

enum g_type {
	G_UNALLOC,
	G_ZERO,
	G_DATA,
	G_COMPRESSED,
};

static int gt_load(struct dr_blockdev *bd, struct extent *e, uint64_t sector,
		   const uint32_t **gt, struct ut_err *err)
{
	struct gt_slot *victim = &e->gtc[0];
	uint64_t bytes = (uint64_t)e->gtes * 4;
	unsigned i;

	for (i = 0; i < VMDK_GT_CACHE; i++) {
		struct gt_slot *s = &e->gtc[i];

		if (s->sector == sector && s->gt) {
			s->stamp = ++e->clock;
			*gt = s->gt;
			return 0;
		}
		if (s->stamp < victim->stamp)
			victim = s;
	}
	if (sector > e->file_size / VMDK_SECTOR || bytes > e->file_size - sector * VMDK_SECTOR)
		return ut_err_set(err, "%s: vmdk grain table at sector %llu lies beyond the end of the file",
				  e->path, (unsigned long long)sector);
	if (!victim->gt)
		victim->gt = ut_malloc(bytes);
	victim->sector = 0;
	if (file_read(bd, e, victim->gt, bytes, sector * VMDK_SECTOR, err) < 0)
		return -1;
	for (i = 0; i < e->gtes; i++)
		victim->gt[i] = ut_le32((unsigned char *)&victim->gt[i]);
	victim->sector = sector;
	victim->stamp = ++e->clock;
	*gt = victim->gt;
	return 0;
}

/* The grain holding extent offset off; *host is the byte offset of off for
 * G_DATA and the grain's sector for G_COMPRESSED. */
static int grain_classify(struct dr_blockdev *bd, struct extent *e, uint64_t off,
			  enum g_type *type, uint64_t *host, struct ut_err *err)
{
	uint64_t g = off / e->grain, gdi = g / e->gtes;
	const uint32_t *gt = NULL;
	uint32_t gte;

	*host = 0;
	if (gdi >= e->gd_entries || !e->gd[gdi]) {
		*type = G_UNALLOC;
		return 0;
	}
	if (gt_load(bd, e, e->gd[gdi], &gt, err) < 0)
		return -1;
	gte = gt[g % e->gtes];
	if (gte == 0) {
		*type = G_UNALLOC;
		return 0;
	}
	if (gte == 1 && e->zero_grain) {
		*type = G_ZERO;
		return 0;
	}
	if ((uint64_t)gte >= e->file_size / VMDK_SECTOR)
		return ut_err_set(err, "%s: vmdk grain at sector %u lies beyond the end of the file",
				  e->path, gte);
	if (e->compressed) {
		*type = G_COMPRESSED;
		*host = gte;
		return 0;
	}
	*type = G_DATA;
	*host = (uint64_t)gte * VMDK_SECTOR + off % e->grain;
	return 0;
}

static int grain_inflate(struct dr_blockdev *bd, struct extent *e, uint64_t sector,
			 struct ut_err *err)
{
	struct vmdk *v = bd->priv;
	uint64_t off = sector * VMDK_SECTOR, avail = e->file_size - off;
	size_t clen;
	int r;

	if (e->zvalid && e->zsector == sector)
		return 0;
	e->zvalid = 0;
	if (!e->zout) {
		e->zout = ut_malloc(e->grain);
		/* deflate can grow incompressible data a little */
		e->zin_size = e->grain + e->grain / 8 + 1024;
		e->zin = ut_malloc(e->zin_size);
	}
	if (e->markers) {
		unsigned char m[12];

		if (file_read(bd, e, m, sizeof(m), off, err) < 0)
			return -1;
		clen = ut_le32(m + 8);
		if (clen == 0 || clen > e->zin_size)
			return ut_err_set(err, "%s: vmdk compressed grain at sector %llu has a bad size %zu",
					  e->path, (unsigned long long)sector, clen);
		if (avail < 12 || clen > avail - 12)
			return ut_err_set(err, "%s: vmdk compressed grain at sector %llu runs past the end of the file",
					  e->path, (unsigned long long)sector);
		off += 12;
	} else {
		clen = avail < e->zin_size ? avail : e->zin_size;
	}
	if (file_read(bd, e, e->zin, clen, off, err) < 0)
		return -1;
	if (!v->zs_init) {
		memset(&v->zs, 0, sizeof(v->zs));
		if (inflateInit(&v->zs) != Z_OK)
			return ut_err_set(err, "%s: cannot initialise zlib", e->path);
		v->zs_init = 1;
	} else if (inflateReset(&v->zs) != Z_OK) {
		return ut_err_set(err, "%s: cannot reset zlib", e->path);
	}
	v->zs.next_in = e->zin;
	v->zs.avail_in = clen;
	v->zs.next_out = e->zout;
	v->zs.avail_out = e->grain;
	r = inflate(&v->zs, Z_FINISH);
	if (r != Z_STREAM_END && !(r == Z_BUF_ERROR && v->zs.avail_out == 0))
		return ut_err_set(err, "%s: vmdk compressed grain at sector %llu is corrupt (zlib %d)",
				  e->path, (unsigned long long)sector, r);
	/* A short last grain: the rest of it reads as zeros. */
	memset(v->zs.next_out, 0, v->zs.avail_out);
	e->zsector = sector;
	e->zvalid = 1;
	return 0;
}

/* ---- descriptors -------------------------------------------------------- */

static void extent_release(struct extent *e)
{
	unsigned i;

	if (e->own_fd && e->fd >= 0)
		close(e->fd);
	free(e->path);
	free(e->gd);
	for (i = 0; i < VMDK_GT_CACHE; i++)
		free(e->gtc[i].gt);
	free(e->zout);
	free(e->zin);
}

static struct extent *add_extent(struct vmdk *v)
{
	struct extent *e;

	v->ext = ut_realloc(v->ext, (v->n + 1) * sizeof(*v->ext));
	e = &v->ext[v->n++];
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	return e;
}

/* Parses `"quoted"` at *p; returns a heap string or NULL. */
static char *parse_quoted(const char **p)
{
	const char *s = *p, *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '"')
		return NULL;
	end = strchr(s + 1, '"');
	if (!end)
		return NULL;
	*p = end + 1;
	return ut_strndup(s + 1, end - s - 1);
}

/*
 * Reads a descriptor's text. With extents, every extent line becomes an
 * extent (files opened); either way *parent gets parentFileNameHint when the
 * disk is a delta (parentCID not ffffffff).
 */
static int parse_descriptor(struct dr_blockdev *bd, const char *text, size_t len, int extents,
			    char **parent, struct ut_err *err)
{
	struct vmdk *v = bd->priv;
	char *copy = ut_strndup(text, len), *line, *save = NULL;
	char *hint = NULL;
	int has_parent = 0, ret = -1;
	uint64_t pos = 0;

	for (line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		const char *p = line;
		char access[16], type[16];
		unsigned long long sectors, offset = 0;
		int nread = 0;
		struct extent *e;
		char *name;
		int r;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncmp(p, "parentCID", 9)) {
			const char *eq = strchr(p, '=');

			has_parent = eq && strncasecmp(eq + 1 + strspn(eq + 1, " "), "ffffffff", 8);
			continue;
		}
		if (!strncmp(p, "parentFileNameHint", 18)) {
			const char *eq = strchr(p, '=');

			if (eq) {
				eq++;
				free(hint);
				hint = parse_quoted(&eq);
			}
			continue;
		}
		if (!extents || sscanf(p, "%15s %llu %15s%n", access, &sectors, type, &nread) != 3)
			continue;
		if (strcmp(access, "RW") && strcmp(access, "RDONLY") && strcmp(access, "NOACCESS"))
			continue;
		if (v->n >= VMDK_MAX_EXTENTS) {
			ut_err_set(err, "%s: too many vmdk extents", bd->path);
			goto out;
		}
		if (sectors > (VMDK_MAX_SIZE - pos) / VMDK_SECTOR) {
			ut_err_set(err, "%s: vmdk extents add up to an absurd size", bd->path);
			goto out;
		}
		p += nread;
		e = add_extent(v);
		e->start = pos;
		e->size = sectors * VMDK_SECTOR;
		pos += e->size;
		if (!strcmp(type, "ZERO")) {
			e->kind = EXT_ZERO;
			e->path = ut_strdup(bd->path);
			continue;
		}
		if (!strcmp(type, "FLAT") || !strcmp(type, "VMFS"))
			e->kind = EXT_FLAT;
		else if (!strcmp(type, "SPARSE"))
			e->kind = EXT_SPARSE;
		else {
			e->path = ut_strdup(bd->path);
			ut_err_set(err, "%s: unsupported vmdk extent type %s", bd->path, type);
			goto out;
		}
		name = parse_quoted(&p);
		if (!name) {
			e->path = ut_strdup(bd->path);
			ut_err_set(err, "%s: vmdk extent line without a file name", bd->path);
			goto out;
		}
		if (e->kind == EXT_FLAT) {
			if (sscanf(p, "%llu", &offset) == 1 && offset > VMDK_MAX_SIZE / VMDK_SECTOR) {
				free(name);
				e->path = ut_strdup(bd->path);
				ut_err_set(err, "%s: absurd vmdk extent offset", bd->path);
				goto out;
			}
			e->flat_off = offset * VMDK_SECTOR;
		}
		r = dr_open_named_file(bd, "vmdk extent", name, &e->fd, &e->file_size, &e->path,
				       err);
		free(name);
		if (r < 0) {
			e->path = ut_strdup(bd->path);
			goto out;
		}
		e->own_fd = 1;
		if (e->kind == EXT_SPARSE && sparse_open(bd, e, err) < 0)
			goto out;
	}
	if (extents && !v->n) {
		ut_err_set(err, "%s: vmdk descriptor lists no extents", bd->path);
		goto out;
	}
	if (has_parent) {
		if (!hint || !*hint) {
			ut_err_set(err, "%s: vmdk delta disk without a parentFileNameHint", bd->path);
			goto out;
		}
		*parent = hint;
		hint = NULL;
	}
	ret = 0;
out:
	free(hint);
	free(copy);
	return ret;
}

static int vmdk_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct vmdk *v = ut_calloc(1, sizeof(*v));
	unsigned char head[512];
	char *parent = NULL;
	struct extent *e;
	uint64_t fsize;
	int fd, ret = -1;
	size_t i;

	bd->priv = v;
	if (dr_open_image_file(bd, &fd, &fsize, err) < 0)
		return -1;
	e = add_extent(v);
	e->fd = fd;
	e->own_fd = 1;
	e->file_size = fsize;
	e->path = ut_strdup(path);
	if (file_read(bd, e, head, sizeof(head), 0, err) < 0)
		goto out;
	if (fsize >= 4 && ut_le32(head) == VMDK_MAGIC) {
		uint64_t doff = ut_le64(head + 28), dsize = ut_le64(head + 36);

		e->kind = EXT_SPARSE;
		if (sparse_open(bd, e, err) < 0)
			goto out;
		/* The embedded descriptor only matters for a delta's parent. */
		if (doff && dsize && dsize <= VMDK_MAX_DESC / VMDK_SECTOR &&
		    doff < fsize / VMDK_SECTOR) {
			uint64_t len = dsize * VMDK_SECTOR;
			char *text;

			if (len > fsize - doff * VMDK_SECTOR)
				len = fsize - doff * VMDK_SECTOR;
			text = ut_malloc(len + 1);
			if (file_read(bd, e, text, len, doff * VMDK_SECTOR, err) < 0) {
				free(text);
				goto out;
			}
			text[len] = '\0';
			ret = parse_descriptor(bd, text, strlen(text), 0, &parent, err);
			free(text);
			if (ret < 0)
				goto out;
			ret = -1;
		}
	} else {
		char *text;
		size_t len;

		if (fsize < strlen(VMDK_DESC_MAGIC) ||
		    memcmp(head, VMDK_DESC_MAGIC, strlen(VMDK_DESC_MAGIC))) {
			ut_err_set(err, "%s: not a vmdk (no KDMV magic, no descriptor)", path);
			goto out;
		}
		if (fsize > VMDK_MAX_DESC) {
			ut_err_set(err, "%s: vmdk descriptor file too large", path);
			goto out;
		}
		len = fsize;
		text = ut_malloc(len + 1);
		if (file_read(bd, e, text, len, 0, err) < 0) {
			free(text);
			goto out;
		}
		text[len] = '\0';
		/* The descriptor itself is not data: drop it and list extents. */
		extent_release(e);
		v->n = 0;
		ret = parse_descriptor(bd, text, strlen(text), 1, &parent, err);
		free(text);
		if (ret < 0)
			goto out;
		ret = -1;
	}
	bd->size = 0;
	for (i = 0; i < v->n; i++)
		bd->size += v->ext[i].size;
	if (parent && dr_open_backing(bd, "parent disk", parent, NULL, err) < 0)
		goto out;
	ret = 0;
out:
	free(parent);
	return ret;
}

/* ---- reading ------------------------------------------------------------ */

static struct extent *find_extent(struct vmdk *v, uint64_t off)
{
	size_t lo = 0, hi = v->n;

	if (v->last < v->n && off >= v->ext[v->last].start &&
	    off - v->ext[v->last].start < v->ext[v->last].size)
		return &v->ext[v->last];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (off < v->ext[mid].start)
			hi = mid;
		else if (off - v->ext[mid].start >= v->ext[mid].size)
			lo = mid + 1;
		else {
			v->last = mid;
			return &v->ext[mid];
		}
	}
	return NULL;
}

/* The run from extent offset off (at most maxlen) of one type,
 * host-contiguous for G_DATA, within one grain for G_COMPRESSED. */
static int grain_extent(struct dr_blockdev *bd, struct extent *e, uint64_t off, uint64_t maxlen,
			enum g_type *type, uint64_t *host, uint64_t *pnum, struct ut_err *err)
{
	uint64_t n = e->grain - off % e->grain;

	if (grain_classify(bd, e, off, type, host, err) < 0)
		return -1;
	if (*type != G_COMPRESSED) {
		while (n < maxlen) {
			enum g_type t;
			uint64_t h;

			if (grain_classify(bd, e, off + n, &t, &h, err) < 0)
				return -1;
			if (t != *type || (t == G_DATA && h != *host + n))
				break;
			n += e->grain;
		}
	}
	*pnum = n < maxlen ? n : maxlen;
	return 0;
}

static int vmdk_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		      struct ut_err *err)
{
	struct vmdk *v = bd->priv;
	unsigned char *dst = buf;

	while (len) {
		struct extent *e = find_extent(v, off);
		uint64_t eoff, n, host;
		enum g_type type;

		if (!e)
			return ut_err_set(err, "%s: offset %llu is in no vmdk extent", bd->path,
					  (unsigned long long)off);
		eoff = off - e->start;
		n = e->size - eoff < len ? e->size - eoff : len;
		switch (e->kind) {
		case EXT_ZERO:
			memset(dst, 0, n);
			break;
		case EXT_FLAT:
			if (e->flat_off + eoff >= e->file_size)
				memset(dst, 0, n);
			else if (file_read(bd, e, dst, n, e->flat_off + eoff, err) < 0)
				return -1;
			break;
		case EXT_SPARSE:
			if (grain_extent(bd, e, eoff, n, &type, &host, &n, err) < 0)
				return -1;
			if (type == G_UNALLOC) {
				if (dr_read_backing(bd, dst, n, off, err) < 0)
					return -1;
			} else if (type == G_ZERO) {
				memset(dst, 0, n);
			} else if (type == G_DATA) {
				if (file_read(bd, e, dst, n, host, err) < 0)
					return -1;
			} else {
				if (grain_inflate(bd, e, host, err) < 0)
					return -1;
				memcpy(dst, e->zout + eoff % e->grain, n);
			}
			break;
		}
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int vmdk_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			     uint64_t *pnum, int *allocated, int *in_backing,
			     struct ut_err *err)
{
	struct vmdk *v = bd->priv;
	struct extent *e = find_extent(v, off);
	uint64_t eoff, n, host;
	enum g_type type;

	if (!e)
		return ut_err_set(err, "%s: offset %llu is in no vmdk extent", bd->path,
				  (unsigned long long)off);
	eoff = off - e->start;
	n = e->size - eoff < len ? e->size - eoff : len;
	*in_backing = 0;
	*allocated = e->kind == EXT_FLAT;
	if (e->kind == EXT_SPARSE) {
		if (grain_extent(bd, e, eoff, n, &type, &host, &n, err) < 0)
			return -1;
		*allocated = type == G_DATA || type == G_COMPRESSED;
		*in_backing = type == G_UNALLOC && bd->backing && off < bd->backing->size;
		if (*in_backing && n > bd->backing->size - off)
			n = bd->backing->size - off;
	}
	*pnum = n;
	return 0;
}

static void vmdk_close(struct dr_blockdev *bd)
{
	struct vmdk *v = bd->priv;
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++)
		extent_release(&v->ext[i]);
	free(v->ext);
	if (v->zs_init)
		inflateEnd(&v->zs);
	free(v);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_vmdk_ops = {
	.name = "vmdk",
	.probe = vmdk_probe,
	.open = vmdk_open,
	.pread = vmdk_pread,
	.block_status = vmdk_block_status,
	.close = vmdk_close,
};
