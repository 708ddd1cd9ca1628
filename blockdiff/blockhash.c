/*
 * blockhash.c - the change source for a full copy of a template: SHA-256 of
 * every filesystem block of the template, kept (by the caller) so that a
 * copy is compared by reading the copy alone.
 *
 * SHA-256 rather than the XXH64 of bd_extents_hashes: here a matching hash
 * means "this block is the template's, skip it" and the layer is built on
 * that answer, so a collision would silently drop a change. With SHA-NI it
 * still hashes at about 2 GB/s a core, faster than the blocks are read.
 */
#include "blockdiff.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)
#define MAX_WORKERS 64
#define INDEX_MAGIC "VM2OCIH1"

static void index_init(struct bd_hash_index *x, uint64_t off, uint64_t size, uint64_t block)
{
	memset(x, 0, sizeof(*x));
	x->off = off;
	x->size = size;
	x->block = block;
	x->n = (size + block - 1) / block;
}

/* Whether [off, off + len) of bd reads as zeros the image holds itself (a
 * hole, an unallocated cluster of a disk without backing file): its bytes
 * need no reading. Any doubt (an error) says no. */
static int zero_run(struct dr_blockdev *bd, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, pnum;
	int allocated, in_backing;

	while (off < end) {
		if (dr_blockdev_block_status(bd, off, end - off, &pnum, &allocated, &in_backing,
					     NULL) < 0 || allocated || in_backing)
			return 0;
		off += pnum;
	}
	return 1;
}

/* md is fetched once (EVP_MD_fetch): EVP_sha256() here would look the
 * digest up in OpenSSL 3's provider store, under its lock, for every block,
 * and the hashing threads would queue on that lock. */
static int sha256(EVP_MD_CTX *c, const EVP_MD *md, const void *data, size_t len,
		  unsigned char *h)
{
	return EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, data, len) &&
	       EVP_DigestFinal_ex(c, h, NULL);
}

/*
 * The parallel hashing of hash_blocks. One thread (the caller) reads: the
 * block device layer is not thread-safe. It fills a ring of chunk slots in
 * disk order; workers hash whole chunks, each block's digest into its slot
 * by index; the caller hands the digests to fn in chunk order. So what fn
 * sees, and what the index and the changed set hold, is the same for any
 * number of threads.
 */
enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_HASHING, SLOT_DONE };

struct slot {
	enum slot_state state;
	unsigned char *buf;  /* CHUNK bytes */
	unsigned char *dig;  /* CHUNK / block digests */
	size_t len;          /* bytes of the chunk */
	int zeros;           /* held as zeros by the image: not read */
	int failed;          /* SHA-256 failed */
};

struct hasher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *s;
	size_t nslots;
	uint64_t next_hash; /* the chunk workers take next */
	int stop;
	size_t block;
	const EVP_MD *md;
	const unsigned char *zero_block; /* block zero bytes */
	const unsigned char *zero_digest;
};

/* The digests of one chunk's blocks. A chunk of zeros is not hashed again:
 * its full blocks take the zero block's digest, a short last one is hashed
 * from zeros. */
static int hash_slot(EVP_MD_CTX *c, const struct hasher *hs, struct slot *s)
{
	size_t k, i;

	for (k = 0, i = 0; k < s->len; k += hs->block, i++) {
		size_t bl = s->len - k < hs->block ? s->len - k : hs->block;
		unsigned char *d = s->dig + i * UT_SHA256_LEN;

		if (s->zeros && bl == hs->block)
			memcpy(d, hs->zero_digest, UT_SHA256_LEN);
		else if (!sha256(c, hs->md, s->zeros ? hs->zero_block : s->buf + k, bl, d))
			return -1;
	}
	return 0;
}

static void *hash_worker(void *arg)
{
	struct hasher *hs = arg;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	pthread_mutex_lock(&hs->mu);
	for (;;) {
		struct slot *s = &hs->s[hs->next_hash % hs->nslots];

		while (!hs->stop && s->state != SLOT_FILLED) {
			pthread_cond_wait(&hs->cv, &hs->mu);
			s = &hs->s[hs->next_hash % hs->nslots];
		}
		if (hs->stop)
			break;
		s->state = SLOT_HASHING;
		hs->next_hash++;
		pthread_mutex_unlock(&hs->mu);
		s->failed = !c || hash_slot(c, hs, s) < 0;
		pthread_mutex_lock(&hs->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&hs->cv);
	}
	pthread_mutex_unlock(&hs->mu);
	EVP_MD_CTX_free(c);
	return NULL;
}

/* Hashing threads for threads (0: one per core); 1 hashes in the reader. */
static size_t worker_count(int threads)
{
	long n = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);

	return n > 1 ? (size_t)(n > MAX_WORKERS ? MAX_WORKERS : n) : 0;
}

/*
 * Reads [0, size) of bd a chunk at a time and calls fn for each block's
 * digest, in block order. block is a power of two no larger than CHUNK. A
 * chunk the image holds as zeros is neither read nor hashed.
 */
static int hash_blocks(struct dr_blockdev *bd, uint64_t size, uint64_t block, int threads,
		       const struct ut_progress *p,
		       int (*fn)(void *ctx, uint64_t i, const unsigned char *h), void *ctx,
		       struct ut_err *err)
{
	struct hasher hs = { .block = (size_t)block };
	unsigned char *zero_block = ut_calloc(1, (size_t)block), zero[UT_SHA256_LEN];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	uint64_t nchunks = (size + CHUNK - 1) / CHUNK, nread = 0, nemit = 0, i = 0;
	size_t nworkers = worker_count(threads), started = 0, k;
	pthread_t *tid = NULL;
	int rc = -1;

	pthread_mutex_init(&hs.mu, NULL);
	pthread_cond_init(&hs.cv, NULL);
	hs.md = md;
	hs.zero_block = zero_block;
	hs.zero_digest = zero;
	/* Enough slots that the reader runs ahead of every worker. */
	hs.nslots = nworkers ? nworkers + 2 : 1;
	hs.s = ut_calloc(hs.nslots, sizeof(*hs.s));
	for (k = 0; k < hs.nslots; k++) {
		hs.s[k].buf = ut_malloc(CHUNK);
		hs.s[k].dig = ut_malloc(CHUNK / block * UT_SHA256_LEN);
	}
	if (!c || !md || !sha256(c, md, zero_block, (size_t)block, zero)) {
		ut_err_set(err, "%s: SHA-256 failed", dr_blockdev_path(bd));
		goto out;
	}
	tid = ut_calloc(nworkers ? nworkers : 1, sizeof(*tid));
	for (; started < nworkers; started++)
		if (pthread_create(&tid[started], NULL, hash_worker, &hs)) {
			ut_err_set(err, "%s: cannot start a hashing thread", dr_blockdev_path(bd));
			goto out;
		}
	while (nemit < nchunks) {
		struct slot *s;

		/* Read ahead while a slot is free, unless the next chunk to
		 * hand on is already hashed. */
		s = &hs.s[nread % hs.nslots];
		pthread_mutex_lock(&hs.mu);
		if (nread < nchunks && s->state == SLOT_FREE &&
		    hs.s[nemit % hs.nslots].state != SLOT_DONE) {
			uint64_t pos = nread * CHUNK;

			pthread_mutex_unlock(&hs.mu);
			s->len = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;
			s->zeros = zero_run(bd, pos, s->len);
			if (!s->zeros && dr_blockdev_pread(bd, s->buf, s->len, pos, err) < 0)
				goto out;
			if (!nworkers) {
				s->failed = hash_slot(c, &hs, s) < 0;
				s->state = SLOT_DONE;
			} else {
				pthread_mutex_lock(&hs.mu);
				s->state = SLOT_FILLED;
				pthread_cond_broadcast(&hs.cv);
				pthread_mutex_unlock(&hs.mu);
			}
			nread++;
			continue;
		}
		s = &hs.s[nemit % hs.nslots];
		while (s->state != SLOT_DONE)
			pthread_cond_wait(&hs.cv, &hs.mu);
		pthread_mutex_unlock(&hs.mu);
		if (s->failed) {
			ut_err_set(err, "%s: SHA-256 failed", dr_blockdev_path(bd));
			goto out;
		}
		for (k = 0; k < s->len; k += (size_t)block, i++)
			if (fn(ctx, i, s->dig + k / block * UT_SHA256_LEN) < 0)
				goto out;
		pthread_mutex_lock(&hs.mu);
		s->state = SLOT_FREE;
		pthread_mutex_unlock(&hs.mu);
		nemit++;
		if (p)
			ut_progress_update(p, "hashing blocks", nemit == nchunks ? size : nemit * CHUNK,
					   size);
	}
	rc = 0;
out:
	pthread_mutex_lock(&hs.mu);
	hs.stop = 1;
	pthread_cond_broadcast(&hs.cv);
	pthread_mutex_unlock(&hs.mu);
	for (k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
	for (k = 0; k < hs.nslots; k++) {
		free(hs.s[k].buf);
		free(hs.s[k].dig);
	}
	free(hs.s);
	free(tid);
	pthread_cond_destroy(&hs.cv);
	pthread_mutex_destroy(&hs.mu);
	EVP_MD_CTX_free(c);
	EVP_MD_free(md);
	free(zero_block);
	return rc;
}

static int check_block(uint64_t block, struct ut_err *err)
{
	if (block < 512 || block > CHUNK || (block & (block - 1)))
		return ut_err_set(err, "block size %llu is not a power of two in 512..4 MiB",
				  (unsigned long long)block);
	return 0;
}

static int store_cb(void *ctx, uint64_t i, const unsigned char *h)
{
	struct bd_hash_index *x = ctx;

	memcpy(x->h + i * UT_SHA256_LEN, h, UT_SHA256_LEN);
	return 0;
}

int bd_hash_index_build(struct dr_blockdev *bd, uint64_t off, uint64_t size, uint64_t block,
			int threads, const struct ut_progress *p, struct bd_hash_index *out,
			struct ut_err *err)
{
	index_init(out, off, size, block);
	if (check_block(block, err) < 0)
		return -1;
	if (size > dr_blockdev_size(bd))
		return ut_err_set(err, "%s: %llu bytes, shorter than the %llu to hash",
				  dr_blockdev_path(bd), (unsigned long long)dr_blockdev_size(bd),
				  (unsigned long long)size);
	out->h = ut_malloc(out->n * UT_SHA256_LEN + 1);
	if (hash_blocks(bd, size, block, threads, p, store_cb, out, err) < 0) {
		bd_hash_index_release(out);
		return -1;
	}
	return 0;
}

struct diff_ctx {
	const struct bd_hash_index *x;
	struct bd_extents *out;
};

static int diff_cb(void *ctx, uint64_t i, const unsigned char *h)
{
	struct diff_ctx *d = ctx;

	if (memcmp(d->x->h + i * UT_SHA256_LEN, h, UT_SHA256_LEN)) {
		uint64_t len = d->x->block;

		if ((i + 1) * len > d->x->size)
			len = d->x->size - i * len;
		bd_extents_add(d->out, i * d->x->block, len);
	}
	return 0;
}

int bd_hash_index_diff(const struct bd_hash_index *x, struct dr_blockdev *bd, int threads,
		       const struct ut_progress *p, struct bd_extents *out, struct ut_err *err)
{
	struct diff_ctx d = { .x = x, .out = out };

	if (dr_blockdev_size(bd) != x->size)
		return ut_err_set(err, "%s: %llu bytes where the template's index has %llu",
				  dr_blockdev_path(bd), (unsigned long long)dr_blockdev_size(bd),
				  (unsigned long long)x->size);
	out->method = BD_HASHES;
	out->granule = x->block;
	out->disk_size = x->size;
	return hash_blocks(bd, x->size, x->block, threads, p, diff_cb, &d, err);
}

void bd_hash_index_release(struct bd_hash_index *x)
{
	free(x->h);
	memset(x, 0, sizeof(*x));
}

void bd_hash_set_release(struct bd_hash_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		bd_hash_index_release(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- files ------------------------------------------------------------------
 * "VM2OCIH1", u64 count, then per index u64 off, size, block and its n
 * digests; everything little-endian. */

static void put64(unsigned char *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

int bd_hash_set_save(const struct bd_hash_set *s, const char *path, struct ut_err *err)
{
	char *tmp = ut_asprintf("%s.tmp-XXXXXX", path);
	unsigned char hdr[32];
	int fd = mkstemp(tmp), ok;
	size_t i;

	if (fd < 0) {
		ut_err_set(err, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	memcpy(hdr, INDEX_MAGIC, 8);
	put64(hdr + 8, s->n);
	ok = ut_write_all(fd, hdr, 16) == 0;
	for (i = 0; i < s->n && ok; i++) {
		put64(hdr, s->v[i].off);
		put64(hdr + 8, s->v[i].size);
		put64(hdr + 16, s->v[i].block);
		ok = ut_write_all(fd, hdr, 24) == 0 &&
		     ut_write_all(fd, s->v[i].h, s->v[i].n * UT_SHA256_LEN) == 0;
	}
	if (close(fd) < 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int bd_hash_set_load(const char *path, struct bd_hash_set *s, struct ut_err *err)
{
	struct ut_buf b;
	const unsigned char *p;
	size_t left, i;
	uint64_t n;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	ut_buf_init(&b, (size_t)1 << 34);
	if (ut_read_host_file(path, &b, err) < 0)
		goto out;
	p = b.data;
	left = b.len;
	if (left < 16 || memcmp(p, INDEX_MAGIC, 8) || (n = ut_le64(p + 8)) > 4096) {
		ut_err_set(err, "%s: not a block-hash index", path);
		goto out;
	}
	p += 16;
	left -= 16;
	s->v = ut_calloc(n ? n : 1, sizeof(*s->v));
	for (i = 0; i < n; i++) {
		struct bd_hash_index *x = &s->v[i];

		if (left < 24)
			break;
		index_init(x, ut_le64(p), ut_le64(p + 8), ut_le64(p + 16));
		p += 24;
		left -= 24;
		s->n = i + 1;
		if (check_block(x->block, NULL) < 0 || x->n > left / UT_SHA256_LEN)
			break;
		x->h = ut_malloc(x->n * UT_SHA256_LEN + 1);
		memcpy(x->h, p, x->n * UT_SHA256_LEN);
		p += x->n * UT_SHA256_LEN;
		left -= x->n * UT_SHA256_LEN;
	}
	if (i < n || left) {
		ut_err_set(err, "%s: truncated or corrupt block-hash index", path);
		bd_hash_set_release(s);
		goto out;
	}
	rc = 0;
out:
	ut_buf_release(&b);
	return rc;
}
