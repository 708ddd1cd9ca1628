/*
 * rpmdb.c - the three containers rpm keeps its header blobs in:
 * BerkeleyDB "Packages" (hash or btree), ndb "Packages.db" and sqlite
 * "rpmdb.sqlite". BerkeleyDB and ndb are parsed here from bytes in memory,
 * every page number, offset and length checked; sqlite goes through
 * libsqlite3, read-only and immutable, on a private copy.
 */
#include "pkg_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

/* ---- BerkeleyDB --------------------------------------------------------- */

#define BDB_HASH_MAGIC 0x061561
#define BDB_BTREE_MAGIC 0x053162
#define BDB_PAGE_HDR 26

enum {
	P_HASH_UNSORTED = 2,
	P_LBTREE = 5,
	P_OVERFLOW = 7,
	P_HASH = 13,
};

enum {
	H_KEYDATA = 1,
	H_OFFPAGE = 3,
	B_KEYDATA = 1,
	B_OVERFLOW = 3,
};

struct bdb {
	const unsigned char *file;
	size_t len;
	uint32_t pagesize, npages;
	int swap; /* written on a big-endian host */
};

static uint32_t bdb32(const struct bdb *d, const unsigned char *p)
{
	return d->swap ? ut_be32(p) : ut_le32(p);
}

static uint16_t bdb16(const struct bdb *d, const unsigned char *p)
{
	return d->swap ? (uint16_t)(p[0] << 8 | p[1]) : ut_le16(p);
}

/* Follows an overflow chain into a new buffer of exactly tlen bytes. The
 * chain may not be longer than the file has pages (no loops). */
static int bdb_overflow(const struct bdb *d, uint32_t pgno, uint32_t tlen, unsigned char **out,
			struct ut_err *err)
{
	unsigned char *buf;
	size_t have = 0;
	uint32_t steps = 0;

	*out = NULL;
	if (tlen > d->len)
		return ut_err_set(err, "overflow item of %u bytes in a %zu-byte file", tlen, d->len);
	buf = ut_malloc(tlen ? tlen : 1);
	while (have < tlen) {
		const unsigned char *pg;
		uint32_t n;

		if (pgno == 0 || pgno >= d->npages || ++steps > d->npages) {
			free(buf);
			return ut_err_set(err, "overflow chain reaches bad page %u", pgno);
		}
		pg = d->file + (size_t)pgno * d->pagesize;
		if (pg[25] != P_OVERFLOW) {
			free(buf);
			return ut_err_set(err, "page %u: type %u in an overflow chain", pgno, pg[25]);
		}
		n = bdb16(d, pg + 22); /* bytes used on an overflow page */
		if (n > d->pagesize - BDB_PAGE_HDR || n > tlen - have) {
			free(buf);
			return ut_err_set(err, "page %u: overflow length %u is bad", pgno, n);
		}
		memcpy(buf + have, pg + BDB_PAGE_HDR, n);
		have += n;
		pgno = bdb32(d, pg + 16);
		if (n == 0 && have < tlen) {
			free(buf);
			return ut_err_set(err, "page %u: empty overflow page", pgno);
		}
	}
	*out = buf;
	return 0;
}

static int u16_cmp(const void *x, const void *y)
{
	return (int)*(const uint16_t *)x - (int)*(const uint16_t *)y;
}

/*
 * Item i of a page: its offset, and the room up to the next item above it
 * (or the page end). Items are packed downwards from the page end but a
 * btree page keeps them in key order, not offset order, so the bound comes
 * from the page's offsets sorted once (sorted[]), not from item i-1.
 */
static int bdb_item(const struct bdb *d, const unsigned char *pg, uint32_t pgno, uint16_t nent,
		    const uint16_t *sorted, uint16_t i, uint32_t *off, uint32_t *len,
		    struct ut_err *err)
{
	uint32_t o = bdb16(d, pg + BDB_PAGE_HDR + 2 * i), end = d->pagesize;
	size_t lo = 0, hi = nent;

	if (o < BDB_PAGE_HDR + 2u * nent || o >= d->pagesize)
		return ut_err_set(err, "page %u: item %u at offset %u is out of bounds", pgno, i, o);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sorted[mid] <= o)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < nent && sorted[lo] < end)
		end = sorted[lo];
	*off = o;
	*len = end - o;
	return 0;
}

static int is_record_zero(const unsigned char *k, uint32_t klen)
{
	return klen == 4 && !k[0] && !k[1] && !k[2] && !k[3];
}

/* An off-page value: pgno and total length at +4 and +8 of the item. */
static int bdb_offpage(const struct bdb *d, uint32_t pgno, const unsigned char *v, uint32_t vl,
		       pkg_blob_fn fn, void *ctx, struct ut_err *err)
{
	unsigned char *big = NULL;
	uint32_t tlen;
	int rc;

	if (vl < 12)
		return ut_err_set(err, "page %u: short overflow item", pgno);
	tlen = bdb32(d, v + 8);
	if (bdb_overflow(d, bdb32(d, v + 4), tlen, &big, err) < 0)
		return ut_err_prefix(err, "page %u: ", pgno);
	rc = fn(ctx, big, tlen, err);
	free(big);
	return rc;
}

/* One key/value pair: fn's result for a value, 0 for what is skipped. */
static int bdb_pair(const struct bdb *d, int btree, uint32_t pgno, const unsigned char *k,
		    uint32_t kl, const unsigned char *v, uint32_t vl, pkg_blob_fn fn, void *ctx,
		    struct ut_err *err)
{
	if (!btree) {
		if (k[0] == H_KEYDATA && is_record_zero(k + 1, kl - 1))
			return 0;
		if (v[0] == H_KEYDATA)
			return fn(ctx, v + 1, vl - 1, err);
		if (v[0] == H_OFFPAGE)
			return bdb_offpage(d, pgno, v, vl, fn, ctx, err);
		return 0; /* duplicates: rpm stores none here */
	}
	/* BKEYDATA: u16 len, u8 type, data; the slot may be larger than the
	 * item (alignment). 0x80 in the type marks a deleted item. */
	if (kl < 3 || vl < 3)
		return ut_err_set(err, "page %u: short btree item", pgno);
	if ((k[2] & 0x80) || (v[2] & 0x80))
		return 0;
	if ((k[2] & 0x7f) == B_KEYDATA && bdb16(d, k) + 3u <= kl &&
	    is_record_zero(k + 3, bdb16(d, k)))
		return 0;
	if ((v[2] & 0x7f) == B_KEYDATA) {
		uint16_t vdl = bdb16(d, v);

		if (vdl + 3u > vl)
			return ut_err_set(err, "page %u: item overruns its slot", pgno);
		return fn(ctx, v + 3, vdl, err);
	}
	if ((v[2] & 0x7f) == B_OVERFLOW)
		return bdb_offpage(d, pgno, v, vl, fn, ctx, err);
	return 0;
}

int pkg_bdb_foreach(const unsigned char *file, size_t len, pkg_blob_fn fn, void *ctx,
		    struct ut_err *err)
{
	struct bdb d = { .file = file, .len = len };
	uint32_t magic, last, pgno;
	uint16_t *sorted = NULL;
	int btree, rc = 0;

	if (len < 512)
		return ut_err_set(err, "BerkeleyDB file of %zu bytes is truncated", len);
	magic = ut_le32(file + 12);
	if (magic == BDB_HASH_MAGIC || magic == BDB_BTREE_MAGIC) {
		d.swap = 0;
	} else {
		magic = ut_be32(file + 12);
		if (magic != BDB_HASH_MAGIC && magic != BDB_BTREE_MAGIC)
			return ut_err_set(err, "not a BerkeleyDB hash or btree file (magic %#x)",
					  ut_le32(file + 12));
		d.swap = 1;
	}
	btree = magic == BDB_BTREE_MAGIC;
	d.pagesize = bdb32(&d, file + 20);
	if (d.pagesize < 512 || d.pagesize > 65536 || (d.pagesize & (d.pagesize - 1)))
		return ut_err_set(err, "BerkeleyDB page size %u is invalid", d.pagesize);
	if (file[24] != 0)
		return ut_err_set(err, "encrypted BerkeleyDB files are not supported");
	last = bdb32(&d, file + 32);
	if ((uint64_t)last + 1 > len / d.pagesize)
		return ut_err_set(err, "BerkeleyDB file claims %u pages but holds %zu",
				  last + 1, len / d.pagesize);
	d.npages = last + 1;
	/* At most one item offset per two bytes of a page. */
	sorted = ut_malloc(d.pagesize / 2 * sizeof(*sorted));
	for (pgno = 1; pgno < d.npages && !rc; pgno++) {
		const unsigned char *pg = file + (size_t)pgno * d.pagesize;
		uint8_t type = pg[25];
		uint16_t nent, i;

		if (btree ? type != P_LBTREE : (type != P_HASH && type != P_HASH_UNSORTED))
			continue;
		nent = bdb16(&d, pg + 20);
		if (BDB_PAGE_HDR + 2u * nent > d.pagesize) {
			rc = ut_err_set(err, "page %u: %u entries do not fit", pgno, nent);
			break;
		}
		for (i = 0; i < nent; i++)
			sorted[i] = bdb16(&d, pg + BDB_PAGE_HDR + 2 * i);
		qsort(sorted, nent, sizeof(*sorted), u16_cmp);
		/* Items come in key/value pairs. */
		for (i = 0; i + 1 < nent && !rc; i += 2) {
			uint32_t ko, kl, vo, vl;

			if (bdb_item(&d, pg, pgno, nent, sorted, i, &ko, &kl, err) < 0 ||
			    bdb_item(&d, pg, pgno, nent, sorted, i + 1, &vo, &vl, err) < 0)
				rc = -1;
			else
				rc = bdb_pair(&d, btree, pgno, pg + ko, kl, pg + vo, vl, fn, ctx, err);
		}
	}
	free(sorted);
	return rc;
}

/* ---- ndb ---------------------------------------------------------------- */

#define NDB_MAGIC 0x506d7052      /* "RpmP" little-endian */
#define NDB_SLOT_MAGIC 0x746f6c53 /* "Slot" */
#define NDB_BLOBHEAD 0x53626c42   /* "BlbS" */
#define NDB_BLOBTAIL 0x45626c42   /* "BlbE" */
#define NDB_PAGE 4096u
#define NDB_BLK 16u

static uint32_t adler32(uint32_t adler, const unsigned char *p, size_t n)
{
	uint32_t s1 = adler & 0xffff, s2 = adler >> 16;

	while (n) {
		size_t k = n < 5552 ? n : 5552;

		n -= k;
		while (k--) {
			s1 += *p++;
			s2 += s1;
		}
		s1 %= 65521;
		s2 %= 65521;
	}
	return s2 << 16 | s1;
}

int pkg_ndb_foreach(const unsigned char *file, size_t len, pkg_blob_fn fn, void *ctx,
		    struct ut_err *err)
{
	uint32_t slotpages, page;
	uint64_t minblk;

	if (len < 32 || ut_le32(file) != NDB_MAGIC)
		return ut_err_set(err, "not an rpm ndb Packages.db");
	if (ut_le32(file + 4) != 0)
		return ut_err_set(err, "ndb version %u is not supported", ut_le32(file + 4));
	slotpages = ut_le32(file + 12);
	if (slotpages == 0 || (uint64_t)slotpages * NDB_PAGE > len)
		return ut_err_set(err, "ndb claims %u slot pages, file has %zu bytes", slotpages,
				  len);
	minblk = (uint64_t)slotpages * (NDB_PAGE / NDB_BLK);
	for (page = 0; page < slotpages; page++) {
		size_t o;

		/* The file header takes the first two slots. */
		for (o = page ? 0 : 32; o < NDB_PAGE; o += 16) {
			const unsigned char *s = file + (size_t)page * NDB_PAGE + o;
			uint32_t pkgidx, blkoff, blkcnt, bloblen;
			const unsigned char *b;
			uint64_t start, size;
			int rc;

			if (ut_le32(s) != NDB_SLOT_MAGIC)
				return ut_err_set(err, "ndb slot at %zu: bad magic",
						  (size_t)page * NDB_PAGE + o);
			pkgidx = ut_le32(s + 4);
			blkoff = ut_le32(s + 8);
			blkcnt = ut_le32(s + 12);
			if (!blkoff)
				continue;
			start = (uint64_t)blkoff * NDB_BLK;
			size = (uint64_t)blkcnt * NDB_BLK;
			if (blkoff < minblk || size < 32 || start + size > len)
				return ut_err_set(err, "ndb package %u: blob at block %u+%u out of bounds",
						  pkgidx, blkoff, blkcnt);
			b = file + start;
			bloblen = ut_le32(b + 12);
			if (ut_le32(b) != NDB_BLOBHEAD || ut_le32(b + 4) != pkgidx ||
			    (uint64_t)16 + bloblen + 12 > size ||
			    (16 + (uint64_t)bloblen + 12 + NDB_BLK - 1) / NDB_BLK != blkcnt)
				return ut_err_set(err, "ndb package %u: bad blob header", pkgidx);
			if (ut_le32(b + size - 12) != adler32(1, b, size - 12) ||
			    ut_le32(b + size - 8) != bloblen ||
			    ut_le32(b + size - 4) != NDB_BLOBTAIL)
				return ut_err_set(err, "ndb package %u: bad blob tail or checksum",
						  pkgidx);
			rc = fn(ctx, b + 16, bloblen, err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- sqlite ------------------------------------------------------------- */

/*
 * sqlite reads files, not buffers, and a guest's bytes may come from a
 * disk image: they go to a private temporary file opened read-only with
 * immutable=1 (no locks, no journal, no -wal lookup beside it).
 */
/* "file:" URI of a path: '%', '?' and '#' would end or escape the path. */
static char *uri_path(const char *path)
{
	char *u = sqlite3_mprintf("file:"), *t;
	const char *p;

	for (p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			t = sqlite3_mprintf("%s%%%02X", u, (unsigned char)*p);
		else
			t = sqlite3_mprintf("%s%c", u, *p);
		sqlite3_free(u);
		u = t;
	}
	t = sqlite3_mprintf("%s?immutable=1", u);
	sqlite3_free(u);
	return t;
}

static int sqlite_foreach(const unsigned char *file, size_t len, const char *tmpdir,
			  pkg_blob_fn fn, void *ctx, struct ut_err *err)
{
	char *path = NULL, *uri = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t done = 0;
	int fd = -1, rc = -1, r;

	if (len < 100 || memcmp(file, "SQLite format 3", 16)) {
		ut_err_set(err, "not an sqlite database");
		goto out;
	}
	path = ut_asprintf("%s/vm2oci-rpmdb-XXXXXX", tmpdir ? tmpdir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		free(path);
		path = NULL;
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, file + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ut_err_set(err, "%s: %s", path, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	close(fd);
	fd = -1;
	uri = uri_path(path);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		ut_err_set(err, "sqlite: %s", db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT blob FROM Packages ORDER BY hnum", -1, &st, NULL) !=
	    SQLITE_OK) {
		ut_err_set(err, "sqlite: %s", sqlite3_errmsg(db));
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		int frc;

		if (!blob || n <= 0)
			continue;
		frc = fn(ctx, blob, (size_t)n, err);
		if (frc) {
			rc = frc;
			goto out;
		}
	}
	if (r != SQLITE_DONE) {
		ut_err_set(err, "sqlite: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	sqlite3_free(uri);
	if (fd >= 0)
		close(fd);
	if (path) {
		unlink(path);
		free(path);
	}
	return rc;
}

/* ---- the reader ---------------------------------------------------------- */

static int add_header(void *ctx, const unsigned char *blob, size_t len, struct ut_err *err)
{
	struct pkg_db *db = ctx;
	struct pkg tmp, *p;

	if (pkg_rpm_header_parse(blob, len, &tmp, err) < 0)
		return -1;
	/* The imported signing keys are headers too: rpm -qa lists them. */
	tmp.is_key = !strcmp(tmp.name, "gpg-pubkey");
	p = pkg_db_add(db, err);
	if (!p) {
		pkg_release(&tmp);
		return -1;
	}
	*p = tmp;
	return 0;
}

/* The in-memory parsers need no scratch directory. */
static int ndb_foreach(const unsigned char *file, size_t len, const char *tmpdir,
		       pkg_blob_fn fn, void *ctx, struct ut_err *err)
{
	return pkg_ndb_foreach(file, len, fn, ctx, err);
}

static int bdb_foreach(const unsigned char *file, size_t len, const char *tmpdir,
		       pkg_blob_fn fn, void *ctx, struct ut_err *err)
{
	return pkg_bdb_foreach(file, len, fn, ctx, err);
}

static const struct {
	const char *file;
	int (*foreach)(const unsigned char *, size_t, const char *, pkg_blob_fn, void *,
		       struct ut_err *);
} rpm_backends[] = {
	{ "rpmdb.sqlite", sqlite_foreach },
	{ "Packages.db", ndb_foreach },
	{ "Packages", bdb_foreach },
};

int pkg_db_read_rpm(const struct pkg_source *src, struct pkg_db **out, struct ut_err *err)
{
	static const char *const dirs[] = { "usr/lib/sysimage/rpm", "var/lib/rpm" };
	struct pkg_db *db = NULL;
	struct ut_buf b;
	size_t d, k;
	int rc = 0;

	ut_buf_init(&b, 0);
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]) && !db; d++) {
		for (k = 0; k < sizeof(rpm_backends) / sizeof(rpm_backends[0]); k++) {
			char *path = ut_asprintf("%s/%s", dirs[d], rpm_backends[k].file);
			int r = pkg_src_read(src, path, &b, PKG_DB_FILE_CAP, err);

			if (r < 0) {
				free(path);
				rc = -1;
				goto out;
			}
			if (r == 0) {
				free(path);
				continue;
			}
			db = pkg_db_new("rpm");
			db->db_path = path;
			if (rpm_backends[k].foreach(b.data, b.len, src->tmpdir, add_header, db, err)) {
				ut_err_prefix(err, "%s: ", path);
				rc = -1;
				goto out;
			}
			break;
		}
	}
	if (!db)
		goto out;
	pkg_db_finish(db);
	*out = db;
	db = NULL;
	rc = 1;
out:
	pkg_db_free(db);
	ut_buf_release(&b);
	return rc;
}
