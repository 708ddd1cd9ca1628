/*
 * extent.c - what the table-driven formats (vhdx, vpc, vdi, qed) share:
 * opening their files and backing files, reading and block status through
 * a per-format map of guest ranges to extents, and CRC-32C.
 */
#include "dr_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dr_file_open(struct dr_blockdev *bd, struct dr_file *f, struct ut_err *err)
{
	f->size = 0;
	return dr_open_image_file(bd, &f->fd, &f->size, err);
}

void dr_file_close(struct dr_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static char *resolve_next_to(const struct dr_blockdev *bd, const char *name)
{
	const char *slash = strrchr(bd->path, '/');

	if (name[0] == '/' || !slash)
		return ut_strdup(name);
	return ut_asprintf("%.*s/%s", (int)(slash - bd->path), bd->path, name);
}

int dr_mapped_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		    struct ut_err *err)
{
	const struct dr_mapped *m = bd->priv;
	const struct dr_file *f = &m->f;
	unsigned char *dst = buf;

	while (len) {
		struct dr_extent x;

		if (m->map(bd, off, len, &x, err) < 0)
			return -1;
		assert(x.len >= 1 && x.len <= len);
		switch (x.kind) {
		case DR_EXT_DATA:
			if (x.host >= f->size)
				return ut_err_set(err, "%s: data for offset %llu lies beyond the end of the file (%llu)",
						  bd->path, (unsigned long long)off,
						  (unsigned long long)x.host);
			if (dr_host_pread(f->fd, f->size, bd->path, dst, x.len, x.host,
					  &bd->bytes_read, err) < 0)
				return -1;
			break;
		case DR_EXT_ZERO:
			memset(dst, 0, x.len);
			break;
		case DR_EXT_BACKING:
			if (dr_read_backing(bd, dst, x.len, off, err) < 0)
				return -1;
			break;
		}
		dst += x.len;
		off += x.len;
		len -= x.len;
	}
	return 0;
}

int dr_present_run(struct dr_blockdev *bd, dr_present_fn present, uint64_t off,
		   uint32_t sector_size, struct dr_extent *x, struct ut_err *err)
{
	uint64_t s = off / sector_size, run = sector_size - off % sector_size;
	int here, next;

	if (present(bd, s, &here, err) < 0)
		return -1;
	if (!here)
		x->kind = DR_EXT_BACKING;
	while (run < x->len) {
		if (present(bd, ++s, &next, err) < 0)
			return -1;
		if (next != here)
			break;
		run += sector_size;
	}
	if (run < x->len)
		x->len = run;
	return 0;
}

int dr_from_backing(const struct dr_blockdev *bd, uint64_t pos, uint64_t *n)
{
	uint64_t bsize;

	if (!bd->backing)
		return 0;
	bsize = bd->backing->size;
	if (pos >= bsize)
		return 0;
	if (*n > bsize - pos)
		*n = bsize - pos;
	return 1;
}

int dr_mapped_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
			   int *allocated, int *in_backing, struct ut_err *err)
{
	const struct dr_mapped *m = bd->priv;
	uint64_t total = 0;

	while (total < len) {
		struct dr_extent x;
		uint64_t pos = off + total, n;
		int a, b;

		if (m->map(bd, pos, len - total, &x, err) < 0)
			return -1;
		n = x.len;
		a = x.kind == DR_EXT_DATA;
		b = x.kind == DR_EXT_BACKING && dr_from_backing(bd, pos, &n);
		if (total && (a != *allocated || b != *in_backing))
			break;
		*allocated = a;
		*in_backing = b;
		total += n;
	}
	*pnum = total;
	return 0;
}

uint32_t dr_crc32c(const void *buf, size_t len)
{
	uint32_t table[256];
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffU;
	size_t i;

	/* Only headers and tables are checksummed, a few KiB at open: a table
	 * built per call costs nothing and needs no shared state. */
	for (i = 0; i < 256; i++) {
		uint32_t c = (uint32_t)i;
		int k;

		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
		table[i] = c;
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

char *dr_utf16_to_utf8(const unsigned char *p, size_t bytes, int big_endian)
{
	char *out = ut_malloc(bytes / 2 * 3 + 1), *o = out;
	size_t i;

	for (i = 0; i + 1 < bytes; i += 2) {
		uint32_t c = big_endian ? ut_be16(p + i) : ut_le16(p + i);

		if (!c)
			break;
		if (c >= 0xd800 && c < 0xdc00) {
			uint32_t lo;

			if (i + 3 >= bytes)
				goto bad;
			lo = big_endian ? ut_be16(p + i + 2) : ut_le16(p + i + 2);
			if (lo < 0xdc00 || lo >= 0xe000)
				goto bad;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		} else if (c >= 0xdc00 && c < 0xe000) {
			goto bad;
		}
		if (c < 0x80) {
			*o++ = (char)c;
		} else if (c < 0x800) {
			*o++ = (char)(0xc0 | c >> 6);
			*o++ = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			*o++ = (char)(0xe0 | c >> 12);
			*o++ = (char)(0x80 | ((c >> 6) & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		} else {
			*o++ = (char)(0xf0 | c >> 18);
			*o++ = (char)(0x80 | ((c >> 12) & 0x3f));
			*o++ = (char)(0x80 | ((c >> 6) & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* name with "\" as "/"; a "C:" drive path becomes its last component. */
static char *local_name(const char *name, int last_only)
{
	char *s = ut_strdup(name), *p;

	for (p = s; *p; p++)
		if (*p == '\\')
			*p = '/';
	if (last_only && (p = strrchr(s, '/'))) {
		char *base = ut_strdup(p + 1);

		free(s);
		return base;
	}
	return s;
}

int dr_open_parent(struct dr_blockdev *bd, char *const *names, size_t n, int depth,
		   struct ut_err *err)
{
	char *first = NULL, *pick = NULL;
	size_t i;
	int pass, ret;

	/* Pass 0: the names as given; pass 1: drive paths' last components. */
	for (pass = 0; pass < 2 && !pick; pass++) {
		for (i = 0; i < n && !pick; i++) {
			int drive = names[i] && names[i][0] && names[i][1] == ':';
			char *local, *full;

			if (!names[i] || !names[i][0] || (pass == 1 && !drive))
				continue;
			local = local_name(names[i], pass == 1);
			full = resolve_next_to(bd, local);
			if (!access(full, F_OK))
				pick = ut_strdup(local);
			else if (!first)
				first = ut_strdup(local);
			free(local);
			free(full);
		}
	}
	if (!pick && !first)
		return ut_err_set(err, "%s: differencing disk names no parent", bd->path);
	ret = dr_open_backing(bd, "parent disk", pick ? pick : first, NULL, err);
	free(pick);
	free(first);
	return ret;
}
