/*
 * compress.c - the blob end of a layer: zstd or gzip, the sha256 of what is
 * written, and the file it goes to.
 *
 * Both codecs are set up so the output depends on the input bytes only:
 * gzip (pgzip.c) gets a fixed header (mtime 0, no name, OS byte 255 as Go
 * writes it) and fixed blocks whatever the thread count (and by default
 * libdeflate, whose bytes do not depend on the CPU either),
 * and zstd always runs in its multi-threaded mode (nbWorkers >= 1), whose
 * output is the same for any worker count, so a blob made on a 2-core
 * laptop equals one made on a 64-core server.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define ZOUT_BUF (1u << 20)
/* Blob bytes between two writeback kicks: the kernel writes the blob out
 * while we compress, so the fsync at the end has little left to wait for. */
#define WRITEBACK_STEP (8u << 20)

struct img_zout {
	enum img_compress c;
	int fd;
	struct ut_sha256 h;
	uint64_t size;
	uint64_t written_back; /* blob bytes already handed to writeback */
	unsigned char *buf;
	ZSTD_CCtx *zc;
	struct img_pgzip *gz;
};

const char *img_compress_name(enum img_compress c)
{
	switch (c) {
	case IMG_COMPRESS_NONE: return "none";
	case IMG_COMPRESS_GZIP: return "gzip";
	case IMG_COMPRESS_ZSTD: return "zstd";
	}
	return "unknown";
}

int img_compress_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "none"))
		return IMG_COMPRESS_NONE;
	if (!strcmp(name, "gzip"))
		return IMG_COMPRESS_GZIP;
	if (!strcmp(name, "zstd"))
		return IMG_COMPRESS_ZSTD;
	return -1;
}

const char *img_layer_media_type(enum img_compress c)
{
	switch (c) {
	case IMG_COMPRESS_NONE: return "application/vnd.oci.image.layer.v1.tar";
	case IMG_COMPRESS_GZIP: return "application/vnd.oci.image.layer.v1.tar+gzip";
	case IMG_COMPRESS_ZSTD: return "application/vnd.oci.image.layer.v1.tar+zstd";
	}
	return "application/vnd.oci.image.layer.v1.tar";
}

static int emit(void *ctx, const void *p, size_t n, struct ut_err *err)
{
	struct img_zout *z = ctx;
	const unsigned char *s = p;

	ut_sha256_update(&z->h, p, n);
	z->size += n;
	while (n) {
		ssize_t w = write(z->fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return ut_err_set(err, "writing blob: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	if (z->size - z->written_back >= WRITEBACK_STEP) {
		/* Asynchronous (no WAIT flags); a filesystem without it just waits
		 * for the fsync. */
		sync_file_range(z->fd, (off64_t)z->written_back, (off64_t)(z->size - z->written_back),
				SYNC_FILE_RANGE_WRITE);
		z->written_back = z->size;
	}
	return 0;
}

int img_zout_new(const struct img_layer_options *opt, int fd, struct img_zout **out,
		 struct ut_err *err)
{
	struct img_zout *z = ut_calloc(1, sizeof(*z));
	enum img_compress c = opt->compress;
	int level = opt->level, threads = opt->threads;
	long ncpu;

	z->c = c;
	z->fd = fd;
	if (ut_sha256_init(&z->h) < 0) {
		free(z);
		return ut_err_set(err, "sha256 unavailable");
	}
	z->buf = ut_malloc(ZOUT_BUF);
	if (threads <= 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = ncpu > 0 ? (int)(ncpu > 256 ? 256 : ncpu) : 1;
	}
	switch (c) {
	case IMG_COMPRESS_NONE:
		break;
	case IMG_COMPRESS_GZIP:
		if (img_pgzip_new(level > 0 ? level : IMG_GZIP_DEFAULT_LEVEL, opt->gzip_fast, threads,
				  emit, z, &z->gz, err) < 0) {
			img_zout_free(z);
			return -1;
		}
		break;
	case IMG_COMPRESS_ZSTD:
		z->zc = ZSTD_createCCtx();
		if (!z->zc ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel,
							level > 0 ? level : 3)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 1)))
			goto fail;
		/* A libzstd built without threads refuses workers; its single-threaded
		 * output then differs, which only matters across such builds. */
		ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, threads);
		break;
	default:
		goto fail;
	}
	*out = z;
	return 0;
fail:
	img_zout_free(z);
	return ut_err_set(err, "cannot set up %s compression", img_compress_name(c));
}

static int zstd_run(struct img_zout *z, const void *buf, size_t len, ZSTD_EndDirective mode,
		    struct ut_err *err)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o = { z->buf, ZOUT_BUF, 0 };

		left = ZSTD_compressStream2(z->zc, &o, &in, mode);
		if (ZSTD_isError(left))
			return ut_err_set(err, "zstd: %s", ZSTD_getErrorName(left));
		if (o.pos && emit(z, z->buf, o.pos, err) < 0)
			return -1;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

int img_zout_write(struct img_zout *z, const void *buf, size_t len, struct ut_err *err)
{
	const unsigned char *p = buf;

	switch (z->c) {
	case IMG_COMPRESS_NONE:
		return emit(z, buf, len, err);
	case IMG_COMPRESS_ZSTD:
		return zstd_run(z, buf, len, ZSTD_e_continue, err);
	case IMG_COMPRESS_GZIP:
		return img_pgzip_write(z->gz, p, len, err);
	}
	return ut_err_set(err, "unknown compression");
}

int img_zout_finish(struct img_zout *z, unsigned char digest[UT_SHA256_LEN], uint64_t *size,
		    struct ut_err *err)
{
	if (z->c == IMG_COMPRESS_ZSTD && zstd_run(z, NULL, 0, ZSTD_e_end, err) < 0)
		return -1;
	if (z->c == IMG_COMPRESS_GZIP && img_pgzip_finish(z->gz, err) < 0)
		return -1;
	ut_sha256_final(&z->h, digest);
	*size = z->size;
	return 0;
}

void img_zout_free(struct img_zout *z)
{
	if (!z)
		return;
	ut_sha256_release(&z->h);
	img_pgzip_free(z->gz);
	ZSTD_freeCCtx(z->zc);
	free(z->buf);
	free(z);
}
