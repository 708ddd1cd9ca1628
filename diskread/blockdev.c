/*
 * blockdev.c - the generic side of block devices: format probing, backing
 * depth limits, bounds checks, and slices (partitions) of another device.
 */
#include "dr_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deeper chains than this are either a loop or nothing a real VM has. */
#define DR_MAX_BACKING_DEPTH 16

/* Enough for every probe: the magics sit in the first bytes (VDI's at
 * 64), a text descriptor's first line is short. A fixed VHD and a dmg
 * carry theirs in the last 512 bytes. */
#define DR_PROBE_LEN 4096
#define DR_PROBE_TAIL_LEN 512

static const struct dr_blockdev_ops *const dr_backends[] = {
	&dr_qcow2_ops,
	&dr_vmdk_ops,
	&dr_vhdx_ops,
	&dr_vpc_ops,
	&dr_vdi_ops,
	&dr_qed_ops,
	&dr_raw_ops,
};

/* Other names --format accepts (qemu's names are the backends' own). */
static const struct {
	const char *alias, *name;
} dr_aliases[] = {
	{ "vhd", "vpc" },
};

/*
 * Formats no backend reads, known by their magic so that such a disk is
 * refused by name instead of being taken for raw bytes with no filesystem.
 * tail: the magic is that many bytes before the end of the file.
 */
static const struct {
	const char *what;
	size_t tail;
	const char *magic;
	size_t len;
} dr_unsupported[] = {
	{ "VMware ESX/cow (COWD)", 0, "COWD", 4 },
	{ "Parallels", 0, "WithoutFreeSpace", 16 },
	{ "Parallels", 0, "WithouFreSpacExt", 16 },
	{ "Bochs", 0, "Bochs Virtual HD Image", 22 },
	{ "cloop", 0, "#!/bin/sh\n#V2.0 Format\n", 23 },
	{ "LUKS encrypted", 0, "LUKS\xba\xbe", 6 },
	{ "User-Mode Linux COW", 0, "OOOM", 4 },
	{ "Apple disk image (dmg)", 512, "koly", 4 },
};

static const struct dr_blockdev_ops *find_backend(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(dr_aliases) / sizeof(dr_aliases[0]); i++)
		if (!strcmp(dr_aliases[i].alias, name))
			name = dr_aliases[i].name;
	for (i = 0; i < sizeof(dr_backends) / sizeof(dr_backends[0]); i++)
		if (!strcmp(dr_backends[i]->name, name))
			return dr_backends[i];
	return NULL;
}

/* Reads up to cap bytes at off (fewer at the end of the file). */
static int probe_read(int fd, const char *path, unsigned char *buf, size_t cap, uint64_t off,
		      size_t *got, struct ut_err *err)
{
	*got = 0;
	while (*got < cap) {
		ssize_t n = pread(fd, buf + *got, cap - *got, (off_t)(off + *got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: cannot read: %s", path, strerror(errno));
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/* The name of an unreadable format whose magic head or tail carries. */
static const char *unsupported_format(const unsigned char *head, size_t len,
				      const unsigned char *tail, size_t tail_len)
{
	size_t i;

	for (i = 0; i < sizeof(dr_unsupported) / sizeof(dr_unsupported[0]); i++) {
		const unsigned char *p = dr_unsupported[i].tail ? tail : head;
		size_t n = dr_unsupported[i].tail ? tail_len : len;
		size_t at;

		if (n < dr_unsupported[i].tail)
			continue;
		at = dr_unsupported[i].tail ? n - dr_unsupported[i].tail : 0;
		if (dr_unsupported[i].len <= n - at &&
		    !memcmp(p + at, dr_unsupported[i].magic, dr_unsupported[i].len))
			return dr_unsupported[i].what;
	}
	return NULL;
}

static int probe_file(const char *path, const struct dr_blockdev_ops **ops, struct ut_err *err)
{
	unsigned char head[DR_PROBE_LEN], tail[DR_PROBE_TAIL_LEN];
	size_t len = 0, tail_len = 0, i;
	const char *what;
	struct stat st;
	int fd, best = 0, ret = -1;

	/* O_NONBLOCK everywhere: a hostile image naming a FIFO as its backing
	 * file must get an error, not hang the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ut_err_set(err, "%s: cannot open: %s", path, strerror(errno));
	if (probe_read(fd, path, head, sizeof(head), 0, &len, err) < 0)
		goto out;
	/* The tail of a regular file only: a block device's size needs an
	 * ioctl, and raw is what one is. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= DR_PROBE_TAIL_LEN &&
	    probe_read(fd, path, tail, sizeof(tail), st.st_size - DR_PROBE_TAIL_LEN, &tail_len,
		       err) < 0)
		goto out;
	*ops = NULL;
	for (i = 0; i < sizeof(dr_backends) / sizeof(dr_backends[0]); i++) {
		int score = dr_backends[i]->probe(head, len);

		if (dr_backends[i]->probe_tail && tail_len) {
			int t = dr_backends[i]->probe_tail(tail, tail_len);

			score = t > score ? t : score;
		}
		if (score > best) {
			best = score;
			*ops = dr_backends[i];
		}
	}
	if (!*ops) {
		ut_err_set(err, "%s: unknown disk image format", path);
		goto out;
	}
	if (*ops == &dr_raw_ops && (what = unsupported_format(head, len, tail, tail_len))) {
		ut_err_set(err, "%s: %s format is not supported", path, what);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

int dr_blockdev_open_depth(const char *path, const char *format, int depth,
			   struct dr_blockdev **out, struct ut_err *err)
{
	const struct dr_blockdev_ops *ops;
	struct dr_blockdev *bd;

	*out = NULL;
	if (depth > DR_MAX_BACKING_DEPTH)
		return ut_err_set(err, "%s: backing chain too deep or a loop", path);
	if (format) {
		ops = find_backend(format);
		if (!ops)
			return ut_err_set(err, "%s: unsupported disk format '%s'", path, format);
	} else if (probe_file(path, &ops, err) < 0) {
		return -1;
	}
	bd = ut_calloc(1, sizeof(*bd));
	bd->ops = ops;
	bd->path = ut_strdup(path);
	if (ops->open(bd, path, depth, err) < 0) {
		dr_blockdev_free(bd);
		return -1;
	}
	*out = bd;
	return 0;
}

int dr_blockdev_open(const char *path, const char *format, struct dr_blockdev **out,
		     struct ut_err *err)
{
	return dr_blockdev_open_depth(path, format, 0, out, err);
}

/* ---- slices ------------------------------------------------------------- */

static int slice_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		       struct ut_err *err)
{
	return dr_blockdev_pread(bd->parent, buf, len, bd->slice_off + off, err);
}

static int slice_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			      uint64_t *pnum, int *allocated, int *in_backing,
			      struct ut_err *err)
{
	return dr_blockdev_block_status(bd->parent, bd->slice_off + off, len, pnum,
					allocated, in_backing, err);
}

static const struct dr_blockdev_ops slice_ops = {
	.name = "slice",
	.pread = slice_pread,
	.block_status = slice_block_status,
};

int dr_blockdev_slice(struct dr_blockdev *parent, uint64_t off, uint64_t len,
		      struct dr_blockdev **out, struct ut_err *err)
{
	struct dr_blockdev *bd;

	*out = NULL;
	if (off > parent->size || len > parent->size - off)
		return ut_err_set(err,
				  "%s: slice [%llu, +%llu) lies beyond the end of the disk (%llu bytes)",
				  parent->path, (unsigned long long)off,
				  (unsigned long long)len, (unsigned long long)parent->size);
	bd = ut_calloc(1, sizeof(*bd));
	bd->ops = &slice_ops;
	bd->path = ut_strdup(parent->path);
	bd->size = len;
	bd->parent = parent;
	bd->slice_off = off;
	*out = bd;
	return 0;
}

/* ---- generic wrappers --------------------------------------------------- */

int dr_blockdev_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		      struct ut_err *err)
{
	if (off > bd->size || len > bd->size - off)
		return ut_err_set(err,
				  "%s: read of %zu bytes at offset %llu goes beyond the end of the disk (%llu bytes)",
				  bd->path, len, (unsigned long long)off,
				  (unsigned long long)bd->size);
	if (!len)
		return 0;
	return bd->ops->pread(bd, buf, len, off, err);
}

int dr_blockdev_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			     uint64_t *pnum, int *allocated, int *in_backing,
			     struct ut_err *err)
{
	int a = 1, b = 0;

	if (off >= bd->size)
		return ut_err_set(err,
				  "%s: block status at offset %llu is beyond the end of the disk (%llu bytes)",
				  bd->path, (unsigned long long)off,
				  (unsigned long long)bd->size);
	if (len > bd->size - off)
		len = bd->size - off;
	if (!len)
		return ut_err_set(err, "%s: block status of an empty range", bd->path);
	if (!bd->ops->block_status) {
		*pnum = len;
	} else {
		if (bd->ops->block_status(bd, off, len, pnum, &a, &b, err) < 0)
			return -1;
		/* A backend answering 0 bytes would make callers loop forever. */
		if (*pnum == 0 || *pnum > len)
			return ut_err_set(err, "%s: internal error: block status answered %llu bytes",
					  bd->path, (unsigned long long)*pnum);
	}
	if (allocated)
		*allocated = a;
	if (in_backing)
		*in_backing = b;
	return 0;
}

const char *dr_blockdev_format(const struct dr_blockdev *bd)
{
	while (bd->parent)
		bd = bd->parent;
	return bd->ops->name;
}

uint64_t dr_blockdev_bytes_read(const struct dr_blockdev *bd)
{
	uint64_t sum = 0;
	const struct dr_blockdev *b;

	for (; bd; bd = bd->parent)
		for (b = bd; b; b = b->backing)
			sum += b->bytes_read;
	return sum;
}

void dr_blockdev_free(struct dr_blockdev *bd)
{
	while (bd) {
		struct dr_blockdev *next = bd->backing;

		/* A failed open may leave priv NULL; close must cope. */
		if (bd->ops && bd->ops->close)
			bd->ops->close(bd);
		free(bd->path);
		free(bd);
		bd = next;
	}
}

int dr_host_pread(int fd, uint64_t file_size, const char *path, void *buf, size_t len,
		  uint64_t off, uint64_t *bytes_read, struct ut_err *err)
{
	unsigned char *dst = buf;

	while (len) {
		ssize_t n;

		if (off >= file_size) {
			memset(dst, 0, len);
			return 0;
		}
		n = pread(fd, dst, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: read error at offset %llu: %s", path,
					  (unsigned long long)off, strerror(errno));
		if (n == 0) {
			memset(dst, 0, len);
			return 0;
		}
		*bytes_read += (uint64_t)n;
		dst += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int dr_read_backing(struct dr_blockdev *bd, unsigned char *buf, uint64_t len, uint64_t off,
		    struct ut_err *err)
{
	struct dr_blockdev *b = bd->backing;
	uint64_t n = 0;

	if (b && off < b->size) {
		n = b->size - off < len ? b->size - off : len;
		if (dr_blockdev_pread(b, buf, n, off, err) < 0)
			return -1;
	}
	memset(buf + n, 0, len - n);
	return 0;
}

uint64_t dr_blockdev_size(const struct dr_blockdev *bd)
{
	return bd->size;
}

const char *dr_blockdev_path(const struct dr_blockdev *bd)
{
	return bd->path;
}

struct dr_blockdev *dr_blockdev_backing(const struct dr_blockdev *bd)
{
	return bd->backing;
}

struct dr_blockdev *dr_blockdev_whole(struct dr_blockdev *bd)
{
	while (bd->parent)
		bd = bd->parent;
	return bd;
}
