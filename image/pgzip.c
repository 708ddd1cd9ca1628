/*
 * pgzip.c - one standard gzip member, compressed on every core.
 *
 * pigz's method: the input is cut into fixed 1 MiB blocks, each deflated on
 * its own; every block but the last ends on a byte boundary with an empty
 * stored block (a sync flush), so the blocks concatenate into one deflate
 * stream, and their CRC-32s are joined with crc32_combine. A block's bytes
 * depend only on its data (and dictionary) and the level, so the output is
 * the same for any thread count, and gzip, Go and Python read it as the
 * single member it is.
 *
 * Two engines:
 *  - portable (the default, levels 1-9): libdeflate. Its compressor has no
 *    CPU-specific code paths that choose matches, so a block gives the same
 *    bytes on every CPU (for one libdeflate version). It has no preset
 *    dictionary, so blocks are independent, and it always ends its output
 *    with a final (BFINAL) block: zlib's inflate(Z_BLOCK) walks the block
 *    boundaries to find that block's header, whose BFINAL bit is cleared,
 *    and the stream's last bit, after which the empty stored block goes.
 *  - fast (opt-in, levels 1-3): ISA-L's igzip, primed with the 32 KiB before
 *    the block. Several times faster, but ISA-L picks its match finder by
 *    CPUID (C, SSE4.2, AVX2, AVX-512), and those give other bytes.
 *
 * A full block of zeros (a VM's sparse files and zeroed space are mostly
 * such blocks) is compressed once per stream and its bytes and CRC copied:
 * with no dictionary (portable) or an all-zero one (fast), the engine's
 * output for it depends on nothing else, so the stream is the same bytes.
 */
#include "img_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <zlib.h>

#define PGZ_BLOCK (1u << 20)
#define PGZ_DICT 32768u

enum job_state { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct pgz_job {
	unsigned char *in;        /* PGZ_DICT bytes of dictionary room, then the block */
	size_t dict_len, len;
	int last;
	unsigned char *out;       /* PGZ_OUT bytes */
	size_t out_len;
	uint32_t crc;
	enum job_state state;
};

struct img_pgzip {
	int level;
	int fast;                 /* ISA-L instead of libdeflate */
	struct libdeflate_compressor *caller_ldc; /* for blocks the caller compresses */
	img_pgzip_emit_fn emit;
	void *ctx;
	struct pgz_job *jobs;
	size_t njobs;
	uint64_t filled;          /* blocks handed to the workers */
	uint64_t emitted;         /* blocks written out */
	uint64_t next_run;        /* next block a worker takes */
	pthread_t *threads;
	int nthreads, started, stop;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	unsigned char dict[PGZ_DICT];
	size_t dict_len;
	uint32_t crc;
	uint64_t total;
	int header_done;
	int slot_open;            /* slot(filled) is being filled by the caller */
	/* The zero block's compressed bytes, made by the first job that needs
	 * them (under mu); zero_state 0: not yet, 1: made, -1: failed. */
	int zero_memo;            /* 0 only in tests: compress every block */
	int zero_state;
	unsigned char *zero_out;
	size_t zero_out_len;
	uint32_t zero_crc;
};

static struct pgz_job *slot(struct img_pgzip *g, uint64_t seq)
{
	return &g->jobs[seq % g->njobs];
}

/* Room for any block in one call: the encoders' output can depend on where
 * the output buffer ends, so every block gets the same, always large enough,
 * buffer (deflate's worst case is about 5 bytes per 64 KiB over the input). */
#define PGZ_OUT (2 * PGZ_BLOCK + 65536)

static int deflate_isal(struct pgz_job *j, int level)
{
	static const uint32_t lvl_buf[4] = { 0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
					     ISAL_DEF_LVL3_DEFAULT };
	struct isal_zstream s;
	int rc = -1;

	isal_deflate_init(&s);
	s.level = (uint32_t)level;
	s.level_buf_size = lvl_buf[level];
	s.level_buf = ut_malloc(s.level_buf_size);
	s.gzip_flag = IGZIP_DEFLATE;
	if (j->dict_len && isal_deflate_set_dict(&s, j->in + PGZ_DICT - j->dict_len,
						 (uint32_t)j->dict_len) != COMP_OK)
		goto out;
	s.end_of_stream = (uint16_t)j->last;
	s.flush = j->last ? NO_FLUSH : SYNC_FLUSH;
	s.next_in = j->in + PGZ_DICT;
	s.avail_in = (uint32_t)j->len;
	s.next_out = j->out;
	s.avail_out = PGZ_OUT;
	if (isal_deflate(&s) != COMP_OK)
		goto out;
	j->out_len = (size_t)(s.next_out - j->out);
	/* One call with room to spare finishes the block, flush or end included. */
	if (s.avail_in || !s.avail_out || (j->last && s.internal_state.state != ZSTATE_END))
		goto out;
	rc = 0;
out:
	free(s.level_buf);
	return rc;
}

/*
 * Where the final block of the raw deflate stream p[0..n) begins and where
 * its end-of-block code ends, in bits from p's first byte. inflate() with
 * Z_BLOCK stops after each block's end-of-block code, data_type then telling
 * whether that block was the final one (64) and how many bits of the last
 * byte it took are left (& 7). The bytes decoded, only counted, must be
 * want_len, and nothing may follow but the final byte's padding.
 */
static int final_block_bits(const unsigned char *p, size_t n, size_t want_len,
			    uint64_t *final_start, uint64_t *end)
{
	unsigned char sink[65536];
	z_stream zs;
	int zrc, have_end = 0, rc = -1;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return -1;
	zs.next_in = (unsigned char *)p;
	zs.avail_in = (uInt)n;
	*final_start = 0;
	do {
		zs.next_out = sink;
		zs.avail_out = sizeof(sink);
		zrc = inflate(&zs, Z_BLOCK);
		if (zrc != Z_OK && zrc != Z_STREAM_END)
			goto out;
		if (zs.data_type & 128) {
			uint64_t at = (uint64_t)(n - zs.avail_in) * 8 - (unsigned)(zs.data_type & 7);

			if (zs.data_type & 64) {
				*end = at;
				have_end = 1;
			} else {
				*final_start = at;
			}
		}
	} while (zrc != Z_STREAM_END);
	if (!have_end || zs.avail_in || zs.total_out != want_len || (*end + 7) / 8 != n)
		goto out;
	rc = 0;
out:
	inflateEnd(&zs);
	return rc;
}

static int deflate_portable(struct pgz_job *j, struct libdeflate_compressor *c)
{
	uint64_t final_start, end;
	size_t n;

	/* 5 bytes spare for the sync flush; the same room for every block. */
	n = libdeflate_deflate_compress(c, j->in + PGZ_DICT, j->len, j->out, PGZ_OUT - 5);
	if (!n)
		return -1;
	j->out_len = n;
	if (j->last)
		return 0;
	if (final_block_bits(j->out, n, j->len, &final_start, &end) < 0)
		return -1;
	j->out[final_start / 8] &= (unsigned char)~(1u << (final_start % 8));
	/*
	 * The empty stored block: 3 header bits of zeros from bit `end` on (the
	 * last byte's padding if it has 3 bits to spare, else one more byte),
	 * then on the next byte boundary LEN 0 and NLEN 0xffff.
	 */
	if (end % 8)
		j->out[n - 1] &= (unsigned char)((1u << (end % 8)) - 1);
	if (end % 8 == 0 || end % 8 > 5)
		j->out[j->out_len++] = 0;
	memcpy(j->out + j->out_len, "\0\0\377\377", 4);
	j->out_len += 4;
	return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	static const unsigned char z[16];

	/* The first 16 bytes zero, then each byte equal to the one 16 before. */
	return n < 16 ? !memcmp(p, z, n) : !memcmp(p, z, 16) && !memcmp(p, p + 16, n - 16);
}

/* A block the zero memo stands for: full, not the last, all zeros, and for
 * the fast engine (primed with the bytes before) a whole dictionary of zeros. */
static int is_zero_block(const struct img_pgzip *g, const struct pgz_job *j)
{
	if (!g->zero_memo || j->last || j->len != PGZ_BLOCK)
		return 0;
	if (g->fast && (j->dict_len != PGZ_DICT || !all_zero(j->in, PGZ_DICT)))
		return 0;
	return all_zero(j->in + PGZ_DICT, PGZ_BLOCK);
}

static int compress_block(struct img_pgzip *g, struct pgz_job *j,
			  struct libdeflate_compressor **ldc)
{
	j->out_len = 0;
	j->crc = crc32_gzip_refl(0, j->in + PGZ_DICT, j->len);
	if (g->fast)
		return deflate_isal(j, g->level);
	if (!*ldc && !(*ldc = libdeflate_alloc_compressor(g->level)))
		return -1;
	return deflate_portable(j, *ldc);
}

/* Copies the zero block's bytes into j, compressing j itself (it is such a
 * block) the first time. */
static int zero_block(struct img_pgzip *g, struct pgz_job *j, struct libdeflate_compressor **ldc)
{
	int rc = 0;

	pthread_mutex_lock(&g->mu);
	if (!g->zero_state) {
		rc = compress_block(g, j, ldc);
		if (rc == 0) {
			g->zero_out = ut_malloc(j->out_len);
			memcpy(g->zero_out, j->out, j->out_len);
			g->zero_out_len = j->out_len;
			g->zero_crc = j->crc;
		}
		g->zero_state = rc == 0 ? 1 : -1;
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	pthread_mutex_unlock(&g->mu);
	if (g->zero_state < 0)
		return -1;
	memcpy(j->out, g->zero_out, g->zero_out_len);
	j->out_len = g->zero_out_len;
	j->crc = g->zero_crc;
	return 0;
}

/* Returns the job's new state; a worker sets it under the lock. ldc: the
 * calling thread's libdeflate compressor, made on first use. */
static enum job_state compress_job(struct img_pgzip *g, struct pgz_job *j,
				   struct libdeflate_compressor **ldc)
{
	int rc = is_zero_block(g, j) ? zero_block(g, j, ldc) : compress_block(g, j, ldc);

	return rc < 0 ? JOB_FAILED : JOB_DONE;
}

static void *worker(void *arg)
{
	struct img_pgzip *g = arg;
	struct libdeflate_compressor *ldc = NULL;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		struct pgz_job *j;
		enum job_state st;

		while (!g->stop && g->next_run == g->filled)
			pthread_cond_wait(&g->work, &g->mu);
		if (g->stop && g->next_run == g->filled)
			break;
		j = slot(g, g->next_run++);
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&g->mu);
		st = compress_job(g, j, &ldc);
		pthread_mutex_lock(&g->mu);
		j->state = st;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->mu);
	libdeflate_free_compressor(ldc);
	return NULL;
}

/* Writes the oldest block out once it is compressed. */
static int emit_next(struct img_pgzip *g, struct ut_err *err)
{
	static const unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };
	struct pgz_job *j = slot(g, g->emitted);

	pthread_mutex_lock(&g->mu);
	while (j->state != JOB_DONE && j->state != JOB_FAILED)
		pthread_cond_wait(&g->done, &g->mu);
	pthread_mutex_unlock(&g->mu);
	if (j->state == JOB_FAILED)
		return ut_err_set(err, "gzip: deflate failed");
	if (!g->header_done) {
		if (g->emit(g->ctx, header, sizeof(header), err) < 0)
			return -1;
		g->header_done = 1;
	}
	if (j->out_len && g->emit(g->ctx, j->out, j->out_len, err) < 0)
		return -1;
	g->crc = (uint32_t)crc32_combine(g->crc, j->crc, (z_off_t)j->len);
	g->total += j->len;
	j->state = JOB_FREE;
	g->emitted++;
	return 0;
}

/* The block being filled: the next free slot, with the 32 KiB before it. */
static int filling(struct img_pgzip *g, struct pgz_job **out, struct ut_err *err)
{
	struct pgz_job *j = slot(g, g->filled);

	/* Only the caller's thread fills, so it asks its own flag: the slot's
	 * state may be a worker's to write while the ring is full. */
	if (g->slot_open) {
		*out = j;
		return 0;
	}
	while (g->filled - g->emitted >= g->njobs)
		if (emit_next(g, err) < 0)
			return -1;
	memcpy(j->in + PGZ_DICT - g->dict_len, g->dict + PGZ_DICT - g->dict_len, g->dict_len);
	j->dict_len = g->dict_len;
	j->len = 0;
	j->last = 0;
	j->state = JOB_FILLING;
	g->slot_open = 1;
	*out = j;
	return 0;
}

static void submit(struct img_pgzip *g, struct pgz_job *j)
{
	size_t keep = j->len >= PGZ_DICT ? PGZ_DICT : j->len;

	/* The next block's dictionary: the last 32 KiB of input, across blocks. */
	memmove(g->dict, g->dict + keep, PGZ_DICT - keep);
	memcpy(g->dict + PGZ_DICT - keep, j->in + PGZ_DICT + j->len - keep, keep);
	g->dict_len = g->dict_len + keep > PGZ_DICT ? PGZ_DICT : g->dict_len + keep;
	g->slot_open = 0;
	if (!g->nthreads) {
		j->state = compress_job(g, j, &g->caller_ldc);
		g->filled++;
		g->next_run++;
		return;
	}
	pthread_mutex_lock(&g->mu);
	j->state = JOB_QUEUED;
	g->filled++;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->mu);
}

int img_pgzip_new(int level, int fast, int threads, img_pgzip_emit_fn emit, void *ctx,
		  struct img_pgzip **out, struct ut_err *err)
{
	struct img_pgzip *g = ut_calloc(1, sizeof(*g));
	size_t i;

	g->fast = fast;
	g->level = level < 1 ? 1 : level > (fast ? 3 : 9) ? (fast ? 3 : 9) : level;
	g->emit = emit;
	g->ctx = ctx;
	g->zero_memo = 1;
	/* One thread compresses in the caller; more run beside it. */
	g->nthreads = threads > 1 ? (threads > 64 ? 64 : threads) : 0;
	g->njobs = g->nthreads ? 2 * (size_t)g->nthreads + 1 : 2;
	g->jobs = ut_calloc(g->njobs, sizeof(*g->jobs));
	for (i = 0; i < g->njobs; i++) {
		g->jobs[i].in = ut_malloc(PGZ_DICT + PGZ_BLOCK);
		g->jobs[i].out = ut_malloc(PGZ_OUT);
	}
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->work, NULL);
	pthread_cond_init(&g->done, NULL);
	if (g->nthreads) {
		g->threads = ut_calloc((size_t)g->nthreads, sizeof(*g->threads));
		for (i = 0; i < (size_t)g->nthreads; i++) {
			if (pthread_create(&g->threads[i], NULL, worker, g)) {
				img_pgzip_free(g);
				return ut_err_set(err, "gzip: cannot start a compression thread");
			}
			g->started++;
		}
	}
	*out = g;
	return 0;
}

int img_pgzip_write(struct img_pgzip *g, const void *buf, size_t len, struct ut_err *err)
{
	const unsigned char *p = buf;

	while (len) {
		struct pgz_job *j;
		size_t n;

		if (filling(g, &j, err) < 0)
			return -1;
		n = PGZ_BLOCK - j->len < len ? PGZ_BLOCK - j->len : len;
		memcpy(j->in + PGZ_DICT + j->len, p, n);
		j->len += n;
		p += n;
		len -= n;
		if (j->len == PGZ_BLOCK)
			submit(g, j);
	}
	return 0;
}

int img_pgzip_finish(struct img_pgzip *g, struct ut_err *err)
{
	unsigned char trailer[8];
	struct pgz_job *j;

	/* The last block (possibly empty) carries the final deflate block. */
	if (filling(g, &j, err) < 0)
		return -1;
	j->last = 1;
	submit(g, j);
	while (g->emitted < g->filled)
		if (emit_next(g, err) < 0)
			return -1;
	for (int i = 0; i < 4; i++) {
		trailer[i] = (unsigned char)(g->crc >> (8 * i));
		trailer[4 + i] = (unsigned char)(g->total >> (8 * i)); /* ISIZE: mod 2^32 */
	}
	return g->emit(g->ctx, trailer, sizeof(trailer), err);
}

void img_pgzip_set_zero_memo(struct img_pgzip *g, int on)
{
	g->zero_memo = on;
}

void img_pgzip_free(struct img_pgzip *g)
{
	size_t i;

	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stop = 1;
		/* Jobs still queued are dropped: nobody will emit them. */
		g->filled = g->next_run;
		pthread_cond_broadcast(&g->work);
		pthread_mutex_unlock(&g->mu);
		for (i = 0; i < (size_t)g->started; i++)
			pthread_join(g->threads[i], NULL);
	}
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->work);
	pthread_cond_destroy(&g->done);
	for (i = 0; i < g->njobs; i++) {
		free(g->jobs[i].in);
		free(g->jobs[i].out);
	}
	free(g->jobs);
	free(g->threads);
	free(g->zero_out);
	libdeflate_free_compressor(g->caller_ldc);
	free(g);
}
