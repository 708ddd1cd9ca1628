/*
 * raw.c - a plain disk image file (or a host block device), read with pread.
 * Holes are found with SEEK_DATA/SEEK_HOLE where the host filesystem has them.
 */
#include "dr_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw_priv {
	int fd;
};

static int raw_probe(const unsigned char *head, size_t len)
{
	return 1;
}

static int raw_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct raw_priv *p;
	uint64_t size;
	int fd;

	if (dr_open_image_file(bd, &fd, &size, err) < 0)
		return -1;
	bd->size = size;
	p = ut_calloc(1, sizeof(*p));
	p->fd = fd;
	bd->priv = p;
	return 0;
}

static int raw_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		     struct ut_err *err)
{
	struct raw_priv *p = bd->priv;
	unsigned char *dst = buf;

	while (len) {
		ssize_t n = pread(p->fd, dst, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: read error at offset %llu: %s", bd->path,
					  (unsigned long long)off, strerror(errno));
		if (n == 0)
			return ut_err_set(err, "%s: file shrank: end of file at offset %llu",
					  bd->path, (unsigned long long)off);
		bd->bytes_read += n;
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int raw_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			    uint64_t *pnum, int *allocated, int *in_backing,
			    struct ut_err *err)
{
	struct raw_priv *p = bd->priv;
	off_t data, hole;

	*in_backing = 0;
	data = lseek(p->fd, off, SEEK_DATA);
	if (data < 0) {
		/* ENXIO: only a hole is left up to the end of the file. Anything
		 * else: the host cannot tell, so say "data". */
		*allocated = errno != ENXIO;
		*pnum = len;
		return 0;
	}
	if ((uint64_t)data > off) {
		*allocated = 0;
		*pnum = (uint64_t)data - off < len ? (uint64_t)data - off : len;
		return 0;
	}
	hole = lseek(p->fd, off, SEEK_HOLE);
	*allocated = 1;
	if (hole < 0 || (uint64_t)hole <= off)
		*pnum = len;
	else
		*pnum = (uint64_t)hole - off < len ? (uint64_t)hole - off : len;
	return 0;
}

static void raw_close(struct dr_blockdev *bd)
{
	struct raw_priv *p = bd->priv;

	if (!p)
		return;
	close(p->fd);
	free(p);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_raw_ops = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.pread = raw_pread,
	.block_status = raw_block_status,
	.close = raw_close,
};
