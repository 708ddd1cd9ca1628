/*
 * delta.c - zstd --patch-from sizes of modified files, with libzstd, and
 * rsync-style rolling-hash delta sizes, with librsync.
 *
 * The base version is a referenced prefix (ZSTD_CCtx_refPrefix): matches may
 * point into it as if it preceded the input, which is what `zstd
 * --patch-from` does. The window must span prefix and input, and long
 * distance matching finds the far matches a small hash table would miss.
 * Only sizes are kept: the compressed bytes go to a scratch buffer.
 *
 * The rsync-style size is what `rdiff signature BASE SIG; rdiff delta SIG VM
 * DELTA` writes: a signature of the base with the arguments rs_sig_args()
 * recommends for its size (RabinKarp rollsum, BLAKE2 strong sums), then the
 * VM file streamed through rs_delta against it.
 */
#include "blockdiff.h"

#include <librsync.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define DELTA_READ (1u << 20)
#define DELTA_DEFAULT_MAX (256ull << 20)

/* A compressor that only counts its output. */
struct zcount {
	ZSTD_CCtx *cc;
	unsigned char *out;
	size_t out_cap;
	uint64_t bytes;
};

static int zfail(const char *what, size_t rc, struct ut_err *err)
{
	return ut_err_set(err, "zstd: %s: %s", what, ZSTD_getErrorName(rc));
}

static unsigned ceil_log2(uint64_t v)
{
	unsigned l = 0;

	while (l < 63 && (1ull << l) < v)
		l++;
	return l;
}

/* prefix NULL: plain compression of vm_len bytes at level. */
static int zcount_init(struct zcount *z, int level, const void *prefix, size_t prefix_len,
		       uint64_t vm_len, struct ut_err *err)
{
	size_t rc;

	memset(z, 0, sizeof(*z));
	z->cc = ZSTD_createCCtx();
	if (!z->cc)
		return ut_err_set(err, "zstd: cannot create a compression context");
	z->out_cap = ZSTD_CStreamOutSize();
	z->out = ut_malloc(z->out_cap);
	rc = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(rc))
		return zfail("level", rc, err);
	rc = ZSTD_CCtx_setPledgedSrcSize(z->cc, vm_len);
	if (ZSTD_isError(rc))
		return zfail("pledged size", rc, err);
	if (prefix) {
		ZSTD_bounds wb = ZSTD_cParam_getBounds(ZSTD_c_windowLog);
		int wlog = (int)ceil_log2((uint64_t)prefix_len + vm_len);

		if (wlog < wb.lowerBound)
			wlog = wb.lowerBound;
		if (wlog > wb.upperBound)
			wlog = wb.upperBound;
		rc = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_windowLog, wlog);
		if (ZSTD_isError(rc))
			return zfail("window log", rc, err);
		rc = ZSTD_CCtx_setParameter(z->cc, ZSTD_c_enableLongDistanceMatching, 1);
		if (ZSTD_isError(rc))
			return zfail("long distance matching", rc, err);
		/* By reference: prefix must stay valid until the frame ends. */
		rc = ZSTD_CCtx_refPrefix(z->cc, prefix, prefix_len);
		if (ZSTD_isError(rc))
			return zfail("prefix", rc, err);
	}
	return 0;
}

static int zcount_feed(struct zcount *z, const void *data, size_t len, int last,
		       struct ut_err *err)
{
	ZSTD_inBuffer in = { data, len, 0 };
	ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;

	for (;;) {
		ZSTD_outBuffer out = { z->out, z->out_cap, 0 };
		size_t rc = ZSTD_compressStream2(z->cc, &out, &in, mode);

		if (ZSTD_isError(rc))
			return zfail("compress", rc, err);
		z->bytes += out.pos;
		if (last ? rc == 0 : in.pos == in.size)
			return 0;
	}
}

static void zcount_release(struct zcount *z)
{
	ZSTD_freeCCtx(z->cc);
	free(z->out);
	memset(z, 0, sizeof(*z));
}

/*
 * An rsync-style delta that only counts its output. rdiff's delta is driven
 * through stdio buffers (rs_delta_file: input read one signature block at a
 * time, output drained from a buffer of 10 + 4 blocks), and where librsync
 * cuts literal commands follows those buffers, so the sizes match rdiff's
 * only when the job sees the same buffers: rcount_feed replays that loop
 * (rs_job_drive with rs_infilebuf_fill and rs_outfilebuf_drain) over the
 * chunks it is pushed.
 */
struct rcount {
	rs_signature_t *sig;
	rs_job_t *job;
	rs_buffers_t b;
	unsigned char *in, *out;
	size_t in_cap, in_fill, out_cap;
	int file_eof; /* a short read: feof() on the next fill */
	uint64_t bytes;
};

/* Runs job over all of in, appending its output to sink (NULL: dropped). */
static int rs_run_all(rs_job_t *job, const void *in, size_t len, struct ut_buf *sink,
		      struct ut_err *err)
{
	rs_buffers_t b = { .next_in = (char *)in, .avail_in = len, .eof_in = 1 };
	unsigned char out[64 * 1024];
	rs_result r;

	do {
		b.next_out = (char *)out;
		b.avail_out = sizeof(out);
		r = rs_job_iter(job, &b);
		if (r != RS_DONE && r != RS_BLOCKED)
			return ut_err_set(err, "librsync: %s", rs_strerror(r));
		if (sink)
			ut_buf_add(sink, out, sizeof(out) - b.avail_out, NULL);
	} while (r != RS_DONE);
	return 0;
}

static int rcount_init(struct rcount *z, const void *base, size_t base_len, struct ut_err *err)
{
	rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;
	size_t block_len = 0, strong_len = 0;
	struct ut_buf sig;
	rs_job_t *job;
	int rc = -1;

	memset(z, 0, sizeof(*z));
	ut_buf_init(&sig, 0);
	if (rs_sig_args((rs_long_t)base_len, &magic, &block_len, &strong_len) != RS_DONE)
		return ut_err_set(err, "librsync: no signature arguments for %zu bytes", base_len);
	job = rs_sig_begin(block_len, strong_len, magic);
	if (rs_run_all(job, base, base_len, &sig, err) < 0)
		goto out;
	rs_job_free(job);
	job = rs_loadsig_begin(&z->sig);
	if (rs_run_all(job, sig.data, sig.len, NULL, err) < 0)
		goto out;
	if (rs_build_hash_table(z->sig) != RS_DONE) {
		ut_err_set(err, "librsync: cannot index the signature");
		goto out;
	}
	z->job = rs_delta_begin(z->sig);
	z->in_cap = block_len;
	z->out_cap = 10 + 4 * block_len;
	z->in = ut_malloc(z->in_cap);
	z->out = ut_malloc(z->out_cap);
	rc = 0;
out:
	rs_job_free(job);
	ut_buf_release(&sig);
	return rc;
}

/* The next len bytes of the VM file (last: and its end). */
static int rcount_feed(struct rcount *z, const void *data, size_t len, int last,
		       struct ut_err *err)
{
	const unsigned char *p = data;
	rs_result r;

	for (;;) {
		/* rs_infilebuf_fill: eof once a read came back short; a new
		 * block only when the job took all of the last one. */
		if (!z->b.eof_in && z->file_eof) {
			z->b.eof_in = 1;
		} else if (!z->b.eof_in && !z->b.avail_in) {
			size_t take = z->in_cap - z->in_fill < len ? z->in_cap - z->in_fill : len;

			memcpy(z->in + z->in_fill, p, take);
			z->in_fill += take;
			p += take;
			len -= take;
			if (z->in_fill < z->in_cap && !last)
				return 0; /* the read waits for more bytes */
			if (!z->in_fill) {
				z->b.eof_in = 1;
			} else {
				z->file_eof = z->in_fill < z->in_cap;
				z->b.next_in = (char *)z->in;
				z->b.avail_in = z->in_fill;
				z->in_fill = 0;
			}
		}
		r = rs_job_iter(z->job, &z->b);
		if (r != RS_DONE && r != RS_BLOCKED)
			return ut_err_set(err, "librsync: %s", rs_strerror(r));
		/* rs_outfilebuf_drain */
		if (z->b.next_out)
			z->bytes += (uint64_t)((unsigned char *)z->b.next_out - z->out);
		z->b.next_out = (char *)z->out;
		z->b.avail_out = z->out_cap;
		if (r == RS_DONE)
			return 0;
	}
}

static void rcount_release(struct rcount *z)
{
	if (z->job)
		rs_job_free(z->job);
	if (z->sig)
		rs_free_sumset(z->sig);
	free(z->in);
	free(z->out);
	memset(z, 0, sizeof(*z));
}

static void resolve_opts(const struct bd_delta_options *opt, int *level, uint64_t *max)
{
	*level = opt && opt->level ? opt->level : 3;
	*max = opt && opt->max_size ? opt->max_size : DELTA_DEFAULT_MAX;
}

int bd_delta_buf(const void *base, size_t base_len, const void *vm, size_t vm_len,
		 const struct bd_delta_options *opt, struct bd_delta *out, struct ut_err *err)
{
	struct zcount plain, delta;
	struct rcount rs;
	uint64_t max;
	int level, ret = -1;

	memset(out, 0, sizeof(*out));
	memset(&delta, 0, sizeof(delta));
	memset(&rs, 0, sizeof(rs));
	resolve_opts(opt, &level, &max);
	if (zcount_init(&plain, level, NULL, 0, vm_len, err) < 0 ||
	    zcount_feed(&plain, vm, vm_len, 1, err) < 0)
		goto out;
	out->base_bytes = base_len;
	out->vm_bytes = vm_len;
	out->zstd_bytes = plain.bytes;
	if (base_len > max || vm_len > max) {
		out->skipped = 1;
		out->delta_bytes = plain.bytes;
		out->rsync_bytes = vm_len;
		ret = 0;
		goto out;
	}
	if (rcount_init(&rs, base, base_len, err) < 0 || rcount_feed(&rs, vm, vm_len, 1, err) < 0)
		goto out;
	out->rsync_bytes = rs.bytes;
	/* An empty prefix is no prefix: refPrefix(NULL, 0) would clear it. */
	if (zcount_init(&delta, level, base_len ? base : "", base_len, vm_len, err) < 0 ||
	    zcount_feed(&delta, vm, vm_len, 1, err) < 0)
		goto out;
	out->delta_bytes = delta.bytes;
	ret = 0;
out:
	zcount_release(&plain);
	zcount_release(&delta);
	rcount_release(&rs);
	return ret;
}

/* Feeds the VM file's chunks to both counters; the last one (the size is
 * known and ut_content_stream holds the content to it) ends the frames. */
struct feed_ctx {
	struct zcount *plain, *delta; /* delta NULL: no delta for this file */
	struct rcount *rs;            /* NULL with delta */
	uint64_t seen, size;
};

static int feed_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	struct feed_ctx *f = ctx;
	int end;

	f->seen += n;
	end = f->seen == f->size;
	if (zcount_feed(f->plain, data, n, end, err) < 0 ||
	    (f->delta && zcount_feed(f->delta, data, n, end, err) < 0) ||
	    (f->rs && rcount_feed(f->rs, data, n, end, err) < 0))
		return -1;
	return 0;
}

int bd_delta_entry(const struct ut_content *base_src, const struct ut_entry *base_e,
		   const struct ut_content *vm_src, const struct ut_entry *vm_e,
		   const struct bd_delta_options *opt, struct bd_delta *out, struct ut_err *err)
{
	struct zcount plain, delta;
	struct rcount rs;
	struct ut_buf base;
	struct feed_ctx feed = { 0 };
	unsigned char *chunk = NULL;
	uint64_t max;
	int level, with_delta, ret = -1;

	memset(out, 0, sizeof(*out));
	memset(&plain, 0, sizeof(plain));
	memset(&delta, 0, sizeof(delta));
	memset(&rs, 0, sizeof(rs));
	ut_buf_init(&base, 0);
	resolve_opts(opt, &level, &max);
	if (!base_src->ops || !vm_src->ops)
		return ut_err_set(err, "/%s: no content source to read it from", vm_e->path);
	if (base_e->type != UT_REG || vm_e->type != UT_REG)
		return ut_err_set(err, "/%s: a delta needs a regular file on both sides",
				  vm_e->path);
	with_delta = base_e->size <= max && vm_e->size <= max;
	base.cap = (size_t)max;
	if (with_delta && ut_content_read_all(base_src, base_e, &base, err) < 0)
		goto out;
	out->base_bytes = with_delta ? base.len : base_e->size;
	if (zcount_init(&plain, level, NULL, 0, vm_e->size, err) < 0)
		goto out;
	if (with_delta && zcount_init(&delta, level, base.len ? (void *)base.data : "", base.len,
				      vm_e->size, err) < 0)
		goto out;
	if (with_delta && rcount_init(&rs, base.data, base.len, err) < 0)
		goto out;
	feed.plain = &plain;
	feed.delta = with_delta ? &delta : NULL;
	feed.rs = with_delta ? &rs : NULL;
	feed.size = vm_e->size;
	chunk = ut_malloc(DELTA_READ);
	if (ut_content_stream(vm_src, vm_e, chunk, DELTA_READ, feed_chunk, &feed, err) < 0)
		goto out;
	out->vm_bytes = feed.seen;
	/* An empty file still ends its frames. */
	if (!vm_e->size && (zcount_feed(&plain, "", 0, 1, err) < 0 ||
			    (with_delta && zcount_feed(&delta, "", 0, 1, err) < 0) ||
			    (with_delta && rcount_feed(&rs, "", 0, 1, err) < 0)))
		goto out;
	out->zstd_bytes = plain.bytes;
	out->delta_bytes = with_delta ? delta.bytes : plain.bytes;
	out->rsync_bytes = with_delta ? rs.bytes : feed.seen;
	out->skipped = !with_delta;
	ret = 0;
out:
	zcount_release(&plain);
	zcount_release(&delta);
	rcount_release(&rs);
	ut_buf_release(&base);
	free(chunk);
	return ret;
}

int bd_extents_zstd(struct dr_blockdev *bd, const struct bd_extents *x, int level,
		    uint64_t *bytes, struct ut_err *err)
{
	struct zcount z;
	unsigned char *buf = NULL;
	size_t i;
	int ret = -1;

	*bytes = 0;
	memset(&z, 0, sizeof(z));
	if (zcount_init(&z, level ? level : 3, NULL, 0, x->bytes, err) < 0)
		goto out;
	buf = ut_malloc(DELTA_READ);
	for (i = 0; i < x->n; i++) {
		uint64_t off = x->v[i].off, end = x->v[i].off + x->v[i].len;

		if (end > dr_blockdev_size(bd) || end < off) {
			ut_err_set(err, "%s: changed range %llu+%llu is past the end of the disk",
				   dr_blockdev_path(bd), (unsigned long long)off,
				   (unsigned long long)x->v[i].len);
			goto out;
		}
		while (off < end) {
			size_t len = end - off < DELTA_READ ? (size_t)(end - off) : DELTA_READ;

			if (dr_blockdev_pread(bd, buf, len, off, err) < 0 ||
			    zcount_feed(&z, buf, len, 0, err) < 0)
				goto out;
			off += len;
		}
	}
	if (zcount_feed(&z, "", 0, 1, err) < 0)
		goto out;
	*bytes = z.bytes;
	ret = 0;
out:
	zcount_release(&z);
	free(buf);
	return ret;
}
