/*
 * ext_journal.c - jbd2 journal replay into an in-memory overlay.
 *
 * On-disk format (all big-endian), as documented in the kernel's
 * include/linux/jbd2.h and Documentation/filesystems/ext4/journal.rst:
 *
 *   every metadata block starts with a 12-byte header: magic, block type,
 *   transaction id (tid);
 *   the journal superblock (block 0) gives the block size, the log's extent
 *   [s_first, s_maxlen), where the oldest live transaction starts (s_start,
 *   0 when the journal is clean) and its tid (s_sequence), features and a
 *   uuid (seed of the v2/v3 checksums);
 *   a transaction is descriptor blocks, each followed by the data blocks its
 *   tags name (a tag: target block, flags, and a checksum of the data block
 *   in v2/v3), revoke blocks (blocks not to replay from this or earlier
 *   transactions), and a commit block; the log is circular over
 *   [s_first, s_maxlen - fast-commit area).
 *
 * A data block whose first four bytes would read as the journal magic is
 * stored with them zeroed and the tag's ESCAPE flag set; the replay puts the
 * magic back.
 */
#include "ext_journal.h"

#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h> /* ext2fs_crc32c_le, ext2fs_crc32_be */

#define JNL_MAGIC 0xC03B3998u

enum {
	JNL_DESCRIPTOR = 1,
	JNL_COMMIT = 2,
	JNL_SB_V1 = 3,
	JNL_SB_V2 = 4,
	JNL_REVOKE = 5,
};

#define JNL_COMPAT_CHECKSUM 0x1u
#define JNL_INCOMPAT_REVOKE 0x1u
#define JNL_INCOMPAT_64BIT 0x2u
#define JNL_INCOMPAT_ASYNC_COMMIT 0x4u
#define JNL_INCOMPAT_CSUM_V2 0x8u
#define JNL_INCOMPAT_CSUM_V3 0x10u
#define JNL_INCOMPAT_FAST_COMMIT 0x20u
#define JNL_INCOMPAT_KNOWN                                                                  \
	(JNL_INCOMPAT_REVOKE | JNL_INCOMPAT_64BIT | JNL_INCOMPAT_ASYNC_COMMIT |                \
	 JNL_INCOMPAT_CSUM_V2 | JNL_INCOMPAT_CSUM_V3)

#define JNL_FLAG_ESCAPE 1u
#define JNL_FLAG_SAME_UUID 2u
#define JNL_FLAG_LAST_TAG 8u

#define JNL_CRC32_CHKSUM 1
#define JNL_CRC32C_CHKSUM 4
#define JNL_HEADER 12
#define JNL_TAIL 4             /* the v2/v3 checksum at the end of descriptor/revoke blocks */
#define JNL_COMMIT_HEADER 0x3c /* through h_commit_nsec */
#define JNL_REVOKE_HEADER 16

/* ---- a block-number map (open addressing) -------------------------------- */

struct jmap {
	uint64_t *key; /* block + 1; 0 marks a free slot */
	uint64_t *val;
	size_t cap, n; /* cap is 0 or a power of two */
};

static size_t jmap_slot(const struct jmap *m, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull;

	return (size_t)(h ^ (h >> 29)) & (m->cap - 1);
}

static uint64_t *jmap_find(const struct jmap *m, uint64_t block)
{
	size_t i;

	if (!m->n)
		return NULL;
	for (i = jmap_slot(m, block + 1); m->key[i]; i = (i + 1) & (m->cap - 1))
		if (m->key[i] == block + 1)
			return &m->val[i];
	return NULL;
}

/* The value slot of block, added (value 0, *added = 1) when absent. */
static uint64_t *jmap_put(struct jmap *m, uint64_t block, int *added)
{
	uint64_t *v = jmap_find(m, block);
	size_t i;

	*added = 0;
	if (v)
		return v;
	if ((m->n + 1) * 4 > m->cap * 3) {
		struct jmap bigger = { 0 };
		size_t k;

		bigger.cap = m->cap ? m->cap * 2 : 64;
		bigger.key = ut_calloc(bigger.cap, sizeof(*bigger.key));
		bigger.val = ut_calloc(bigger.cap, sizeof(*bigger.val));
		for (k = 0; k < m->cap; k++) {
			if (!m->key[k])
				continue;
			for (i = jmap_slot(&bigger, m->key[k]); bigger.key[i];
			     i = (i + 1) & (bigger.cap - 1))
				;
			bigger.key[i] = m->key[k];
			bigger.val[i] = m->val[k];
		}
		bigger.n = m->n;
		free(m->key);
		free(m->val);
		*m = bigger;
	}
	for (i = jmap_slot(m, block + 1); m->key[i]; i = (i + 1) & (m->cap - 1))
		;
	m->key[i] = block + 1;
	m->val[i] = 0;
	m->n++;
	*added = 1;
	return &m->val[i];
}

static void jmap_release(struct jmap *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

/* ---- the overlay -------------------------------------------------------- */

struct dr_jnl_overlay {
	uint32_t bs;
	struct jmap map;       /* block -> index into data */
	unsigned char **data;  /* one block_size buffer per distinct block */
	size_t ndata, adata;
};

static void overlay_put(struct dr_jnl_overlay *ov, uint64_t block, const unsigned char *src)
{
	int added;
	uint64_t *idx = jmap_put(&ov->map, block, &added);

	if (added) {
		if (ov->ndata == ov->adata) {
			ov->adata = ov->adata ? ov->adata * 2 : 64;
			ov->data = ut_realloc(ov->data, ov->adata * sizeof(*ov->data));
		}
		ov->data[ov->ndata] = ut_malloc(ov->bs);
		*idx = ov->ndata++;
	}
	memcpy(ov->data[*idx], src, ov->bs);
}

void dr_jnl_overlay_patch(const struct dr_jnl_overlay *ov, void *buf, uint64_t off,
			  uint64_t len)
{
	uint64_t b, first, last;

	if (!ov || !ov->map.n || !len)
		return;
	first = off / ov->bs;
	last = (off + len - 1) / ov->bs;
	for (b = first; b <= last; b++) {
		const uint64_t *idx = jmap_find(&ov->map, b);
		uint64_t bstart = b * ov->bs, lo, hi;

		if (!idx)
			continue;
		lo = bstart > off ? bstart : off;
		hi = bstart + ov->bs < off + len ? bstart + ov->bs : off + len;
		memcpy((unsigned char *)buf + (lo - off), ov->data[*idx] + (lo - bstart), hi - lo);
	}
}

size_t dr_jnl_overlay_blocks(const struct dr_jnl_overlay *ov)
{
	return ov ? ov->ndata : 0;
}

void dr_jnl_overlay_free(struct dr_jnl_overlay *ov)
{
	size_t i;

	if (!ov)
		return;
	for (i = 0; i < ov->ndata; i++)
		free(ov->data[i]);
	free(ov->data);
	jmap_release(&ov->map);
	free(ov);
}

/* ---- the journal -------------------------------------------------------- */

enum pass { PASS_SCAN, PASS_REVOKE, PASS_REPLAY };

struct jnl {
	const struct dr_jnl_source *src;
	struct ut_err *err;
	uint32_t bs;
	uint32_t first, last; /* the circular log is [first, last) */
	uint32_t start, sequence;
	uint32_t compat, incompat;
	int csum, v3, v1sum; /* v2/v3 checksums; v3 tags; the old v1 commit crc32 */
	uint32_t seed;
	size_t tag_bytes;
	unsigned char *blk, *data; /* the metadata block being parsed; a data block */
	struct jmap revoked;       /* block -> the newest tid that revoked it */
	struct dr_jnl_overlay *ov;
	uint32_t end_tid;          /* set by SCAN: the first tid not to replay */
	int failed_commit;         /* SCAN met a bad commit checksum at end_tid */
	struct dr_jnl_stats *st;
};

/* tid order: ids wrap, so compare by signed difference as the kernel does. */
static int tid_gt(uint32_t x, uint32_t y)
{
	return (int32_t)(x - y) > 0;
}

static int jread(struct jnl *j, uint32_t i, unsigned char *buf)
{
	if (i >= j->src->nblocks)
		return ut_err_set(j->err, "%s: block %u is past its end (%u blocks)", j->src->what,
				  i, j->src->nblocks);
	return j->src->read(j->src->ctx, i, buf, j->err);
}

static uint32_t wrap(const struct jnl *j, uint32_t b)
{
	return b >= j->last ? b - (j->last - j->first) : b;
}

static uint32_t crc32c(uint32_t crc, const void *p, size_t len)
{
	return ext2fs_crc32c_le(crc, p, len);
}

/* The crc32c of a block with its 4-byte checksum field at csum_off read as
 * zero, without changing the block. */
static uint32_t block_csum(const struct jnl *j, const unsigned char *b, size_t csum_off)
{
	static const unsigned char zero[4];
	uint32_t c = crc32c(j->seed, b, csum_off);

	c = crc32c(c, zero, 4);
	return crc32c(c, b + csum_off + 4, j->bs - csum_off - 4);
}

static int tail_csum_ok(const struct jnl *j, const unsigned char *b)
{
	if (!j->csum)
		return 1;
	return block_csum(j, b, j->bs - JNL_TAIL) == ut_be32(b + j->bs - JNL_TAIL);
}

static int commit_csum_ok(const struct jnl *j, const unsigned char *b)
{
	unsigned char *tmp;
	int ok;

	if (block_csum(j, b, 0x10) == ut_be32(b + 0x10))
		return 1;
	/* The kernel also accepts a commit block whose checksum covers only
	 * its header, the rest zero (a commit written by an older kernel
	 * over a stale block). */
	tmp = ut_calloc(1, j->bs);
	memcpy(tmp, b, JNL_COMMIT_HEADER);
	ok = block_csum(j, tmp, 0x10) == ut_be32(b + 0x10);
	free(tmp);
	return ok;
}

static int data_csum_ok(const struct jnl *j, const unsigned char *tag, const unsigned char *data,
			uint32_t tid)
{
	unsigned char seq[4] = { (unsigned char)(tid >> 24), (unsigned char)(tid >> 16),
				 (unsigned char)(tid >> 8), (unsigned char)tid };
	uint32_t c;

	if (!j->csum)
		return 1;
	c = crc32c(j->seed, seq, 4);
	c = crc32c(c, data, j->bs);
	if (j->v3)
		return ut_be32(tag + 12) == c;
	return ut_be16(tag + 4) == (uint16_t)c;
}

/* Tags of a descriptor block: calls each for every tag in order; stops at
 * LAST_TAG or at the end of the tag area. Returns the number of tags. */
struct tag_walk {
	size_t pos, end;
};

static void tags_begin(const struct jnl *j, struct tag_walk *w)
{
	w->pos = JNL_HEADER;
	w->end = j->bs - (j->csum ? JNL_TAIL : 0);
}

/* The next tag (NULL at the end); *flags gets its flags. */
static const unsigned char *tags_next(const struct jnl *j, struct tag_walk *w, unsigned *flags)
{
	const unsigned char *t;

	if (w->pos + j->tag_bytes > w->end)
		return NULL;
	t = j->blk + w->pos;
	*flags = ut_be16(t + 6); /* the low half of v3's 32-bit flags too */
	w->pos += j->tag_bytes;
	if (!(*flags & JNL_FLAG_SAME_UUID))
		w->pos += 16;
	if (*flags & JNL_FLAG_LAST_TAG)
		w->end = 0; /* nothing after this one */
	return t;
}

static uint64_t tag_block(const struct jnl *j, const unsigned char *t)
{
	uint64_t b = ut_be32(t);

	if (j->incompat & JNL_INCOMPAT_64BIT)
		b |= (uint64_t)ut_be32(t + 8) << 32;
	return b;
}

static uint32_t count_tags(const struct jnl *j)
{
	struct tag_walk w;
	unsigned flags;
	uint32_t n = 0;

	tags_begin(j, &w);
	while (tags_next(j, &w, &flags))
		n++;
	return n;
}

/* The v1 checksum: a crc32_be over the descriptor and its data blocks. */
static int v1_sum(struct jnl *j, uint32_t *next, uint32_t *crc)
{
	uint32_t n = count_tags(j), k;

	*crc = ext2fs_crc32_be(*crc, j->blk, j->bs);
	for (k = 0; k < n; k++) {
		uint32_t io = (*next)++;

		*next = wrap(j, *next);
		if (jread(j, io, j->data) < 0)
			return -1;
		*crc = ext2fs_crc32_be(*crc, j->data, j->bs);
	}
	return 0;
}

static int replay_descriptor(struct jnl *j, uint32_t *next, uint32_t tid)
{
	struct tag_walk w;
	const unsigned char *t;
	unsigned flags;

	tags_begin(j, &w);
	while ((t = tags_next(j, &w, &flags))) {
		uint32_t io = (*next)++;
		uint64_t block = tag_block(j, t);
		const uint64_t *rev;

		*next = wrap(j, *next);
		if (jread(j, io, j->data) < 0)
			return -1;
		rev = jmap_find(&j->revoked, block);
		if (rev && !tid_gt(tid, (uint32_t)*rev)) {
			j->st->revoked++;
			continue;
		}
		if (!data_csum_ok(j, t, j->data, tid))
			return ut_err_set(j->err,
					  "%s: checksum mismatch in journal block %u (filesystem block %llu, transaction %u)",
					  j->src->what, io, (unsigned long long)block, tid);
		if (block >= j->src->fs_blocks)
			return ut_err_set(j->err,
					  "%s: transaction %u writes block %llu, past the filesystem's %llu blocks",
					  j->src->what, tid, (unsigned long long)block,
					  (unsigned long long)j->src->fs_blocks);
		if (flags & JNL_FLAG_ESCAPE) {
			j->data[0] = 0xC0;
			j->data[1] = 0x3B;
			j->data[2] = 0x39;
			j->data[3] = 0x98;
		}
		overlay_put(j->ov, block, j->data);
		j->st->replayed++;
	}
	return 0;
}

static int scan_revokes(struct jnl *j, uint32_t tid)
{
	size_t rec = (j->incompat & JNL_INCOMPAT_64BIT) ? 8 : 4;
	uint32_t count = ut_be32(j->blk + 12);
	size_t off;

	if (count > j->bs - (j->csum ? JNL_TAIL : 0) || count < JNL_REVOKE_HEADER)
		return ut_err_set(j->err, "%s: revoke block of transaction %u claims %u bytes",
				  j->src->what, tid, count);
	for (off = JNL_REVOKE_HEADER; off + rec <= count; off += rec) {
		uint64_t block = rec == 8 ? ut_be64(j->blk + off) : ut_be32(j->blk + off);
		int added;
		uint64_t *v = jmap_put(&j->revoked, block, &added);

		if (added || tid_gt(tid, (uint32_t)*v))
			*v = tid;
	}
	return 0;
}

/* One pass over the log from s_start, as the kernel's do_one_pass(). */
static int do_pass(struct jnl *j, enum pass pass)
{
	uint32_t next = j->start, tid = j->sequence, crc = ~0u;
	uint64_t last_commit_time = 0;
	int need_check_commit_time = 0, have_end = pass != PASS_SCAN;

	for (;;) {
		uint32_t type, at = next;

		if (have_end && !tid_gt(j->end_tid, tid))
			break;
		if (jread(j, at, j->blk) < 0)
			return -1;
		next = wrap(j, next + 1);
		if (ut_be32(j->blk) != JNL_MAGIC || ut_be32(j->blk + 8) != tid)
			break;
		type = ut_be32(j->blk + 4);
		if (type == JNL_DESCRIPTOR) {
			if (!tail_csum_ok(j, j->blk)) {
				/* SCAN may meet a stale block left by a lazily
				 * initialised journal: decide at the commit. */
				if (pass != PASS_SCAN)
					return ut_err_set(j->err,
							  "%s: checksum mismatch in descriptor block %u (transaction %u)",
							  j->src->what, at, tid);
				need_check_commit_time = 1;
			}
			if (pass == PASS_REPLAY) {
				if (replay_descriptor(j, &next, tid) < 0)
					return -1;
			} else if (pass == PASS_SCAN && j->v1sum && !have_end) {
				if (v1_sum(j, &next, &crc) < 0)
					return -1;
			} else {
				next = wrap(j, next + count_tags(j));
			}
		} else if (type == JNL_COMMIT) {
			uint64_t commit_time = ut_be64(j->blk + 0x30);
			int ok;

			if (pass != PASS_SCAN) {
				tid++;
				continue;
			}
			if (need_check_commit_time) {
				/* A bad descriptor or revoke checksum in a
				 * transaction that commits later than the last
				 * good one is real corruption; otherwise the
				 * block is stale and the log ends here. */
				if (commit_time >= last_commit_time)
					return ut_err_set(j->err,
							  "%s: checksum mismatch in transaction %u",
							  j->src->what, tid);
				break;
			}
			if (j->v1sum) {
				uint32_t found = ut_be32(j->blk + 0x10);

				if (have_end) {
					j->failed_commit = 1;
					break;
				}
				ok = (crc == found && j->blk[0x0c] == JNL_CRC32_CHKSUM &&
				      j->blk[0x0d] == 4) ||
				     (j->blk[0x0c] == 0 && j->blk[0x0d] == 0 && found == 0);
				crc = ~0u;
			} else {
				ok = !j->csum || commit_csum_ok(j, j->blk);
			}
			if (!ok) {
				if (commit_time < last_commit_time)
					break; /* a stale commit: the log ends here */
				j->end_tid = tid;
				have_end = 1;
				if (!(j->incompat & JNL_INCOMPAT_ASYNC_COMMIT)) {
					j->failed_commit = 1;
					break;
				}
			}
			last_commit_time = commit_time;
			tid++;
		} else if (type == JNL_REVOKE) {
			if (pass == PASS_SCAN && !tail_csum_ok(j, j->blk))
				need_check_commit_time = 1;
			if (pass == PASS_REVOKE && scan_revokes(j, tid) < 0)
				return -1;
		} else {
			break;
		}
	}
	if (pass == PASS_SCAN) {
		if (!have_end)
			j->end_tid = tid;
	} else if (j->end_tid != tid) {
		return ut_err_set(j->err,
				  "%s: the %s pass ended at transaction %u, the scan at %u (an unreadable log block?)",
				  j->src->what, pass == PASS_REVOKE ? "revoke" : "replay", tid,
				  j->end_tid);
	}
	return 0;
}

/* Reads and checks the journal superblock into j. 1: needs replay, 0: clean. */
static int load_superblock(struct jnl *j)
{
	const struct dr_jnl_source *s = j->src;
	unsigned char *sb = j->blk;
	uint32_t type, maxlen;

	if (s->block_size < 1024 || s->nblocks < 2)
		return ut_err_set(j->err, "%s: too small (%u blocks)", s->what, s->nblocks);
	if (jread(j, 0, sb) < 0)
		return -1;
	type = ut_be32(sb + 4);
	if (ut_be32(sb) != JNL_MAGIC || (type != JNL_SB_V1 && type != JNL_SB_V2))
		return ut_err_set(j->err, "%s: no journal superblock (bad magic or type)", s->what);
	if (ut_be32(sb + 0x0c) != s->block_size)
		return ut_err_set(j->err, "%s: block size %u differs from the filesystem's %u",
				  s->what, ut_be32(sb + 0x0c), s->block_size);
	maxlen = ut_be32(sb + 0x10);
	j->first = ut_be32(sb + 0x14);
	j->sequence = ut_be32(sb + 0x18);
	j->start = ut_be32(sb + 0x1c);
	if (type == JNL_SB_V2) {
		j->compat = ut_be32(sb + 0x24);
		j->incompat = ut_be32(sb + 0x28);
	}
	if (maxlen > s->nblocks)
		return ut_err_set(j->err,
				  "%s: the journal inode is shorter than the journal (%u of %u blocks)",
				  s->what, s->nblocks, maxlen);
	if (j->incompat & ~JNL_INCOMPAT_KNOWN) {
		if (j->incompat & JNL_INCOMPAT_FAST_COMMIT)
			return ut_err_set(j->err, "%s: fast_commit journals are not replayed",
					  s->what);
		return ut_err_set(j->err, "%s: unknown incompatible features 0x%x", s->what,
				  j->incompat & ~JNL_INCOMPAT_KNOWN);
	}
	if ((j->incompat & JNL_INCOMPAT_CSUM_V2) && (j->incompat & JNL_INCOMPAT_CSUM_V3))
		return ut_err_set(j->err, "%s: both checksum v2 and v3 are set", s->what);
	j->csum = (j->incompat & (JNL_INCOMPAT_CSUM_V2 | JNL_INCOMPAT_CSUM_V3)) != 0;
	j->v3 = (j->incompat & JNL_INCOMPAT_CSUM_V3) != 0;
	j->v1sum = !j->csum && (j->compat & JNL_COMPAT_CHECKSUM);
	if (j->csum) {
		uint32_t stored = ut_be32(sb + 0xfc), c;

		if (sb[0x50] != JNL_CRC32C_CHKSUM)
			return ut_err_set(j->err, "%s: unknown checksum type %u", s->what, sb[0x50]);
		c = crc32c(~0u, sb, 0xfc);
		c = crc32c(c, (const unsigned char[4]){ 0 }, 4);
		c = crc32c(c, sb + 0x100, 1024 - 0x100);
		if (c != stored)
			return ut_err_set(j->err, "%s: superblock checksum mismatch", s->what);
		j->seed = crc32c(~0u, sb + 0x30, 16);
	}
	if (j->v3)
		j->tag_bytes = 16;
	else
		j->tag_bytes = 8 + ((j->incompat & JNL_INCOMPAT_64BIT) ? 4 : 0) + (j->csum ? 2 : 0);
	j->last = maxlen;
	if (j->first == 0 || j->first >= j->last)
		return ut_err_set(j->err, "%s: log start %u outside [1, %u)", s->what, j->first,
				  j->last);
	if (!j->start)
		return 0;
	if (j->start < j->first || j->start >= j->last)
		return ut_err_set(j->err, "%s: s_start %u outside the log [%u, %u)", s->what,
				  j->start, j->first, j->last);
	return 1;
}

int dr_jnl_replay(const struct dr_jnl_source *src, struct dr_jnl_overlay **out,
		  struct dr_jnl_stats *st, struct ut_err *err)
{
	struct jnl j = { .src = src, .err = err, .bs = src->block_size, .st = st };
	int r, ret = -1;

	*out = NULL;
	memset(st, 0, sizeof(*st));
	if (src->block_size < 1024 || src->block_size > 65536)
		return ut_err_set(err, "%s: block size %u", src->what, src->block_size);
	j.blk = ut_malloc(j.bs);
	j.data = ut_malloc(j.bs);
	j.ov = ut_calloc(1, sizeof(*j.ov));
	j.ov->bs = j.bs;
	r = load_superblock(&j);
	if (r < 0)
		goto out;
	if (r == 0) {
		st->clean = 1;
	} else {
		if (do_pass(&j, PASS_SCAN) < 0)
			goto out;
		if (j.failed_commit) {
			ut_err_set(err, "%s: the commit block of transaction %u fails its checksum",
				   src->what, j.end_tid);
			goto out;
		}
		if (do_pass(&j, PASS_REVOKE) < 0 || do_pass(&j, PASS_REPLAY) < 0)
			goto out;
		st->first_tid = j.sequence;
		st->end_tid = j.end_tid;
	}
	*out = j.ov;
	j.ov = NULL;
	ret = 0;
out:
	dr_jnl_overlay_free(j.ov);
	jmap_release(&j.revoked);
	free(j.blk);
	free(j.data);
	return ret;
}
