/*
 * partition.c - MBR (with the EBR chain of logical partitions) and GPT.
 *
 * Numbers, offsets and PARTUUIDs follow what Linux and blkid report, so that
 * an fstab line naming /dev/sda5 or PARTUUID=... resolves to the partition
 * the guest itself would have mounted.
 */
#include "dr_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Linux stops following a chain of EBRs long before this; an image with more
 * is hostile. */
#define MBR_MAX_EBR 128
/* A GPT entry array larger than this is not a real one (128 entries of 128
 * bytes is the norm: 16 KiB). */
#define GPT_MAX_ARRAY (4u << 20)
#define GPT_MAX_ENTRIES 16384

struct plist {
	struct dr_partition *v;
	size_t n, alloc;
};

static struct dr_partition *plist_add(struct plist *l)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = ut_realloc(l->v, l->alloc * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/* ---- GPT ---------------------------------------------------------------- */

/* GUIDs as blkid prints them: the first three fields little-endian. */
static void fmt_guid(const unsigned char *g, char out[37])
{
	snprintf(out, 37,
		 "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 ut_le32(g), ut_le16(g + 4), ut_le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13],
		 g[14], g[15]);
}

/* UTF-16LE (36 units at most, NUL-terminated or not) to UTF-8, truncated at a
 * character boundary; unpaired surrogates become U+FFFD. */
static void utf16_name(const unsigned char *in, size_t units, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < units; i++) {
		uint32_t c = ut_le16(in + 2 * i);
		char tmp[4];
		size_t k;

		if (!c)
			break;
		if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
			uint32_t d = ut_le16(in + 2 * (i + 1));

			if (d >= 0xdc00 && d <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
				i++;
			} else {
				c = 0xfffd;
			}
		} else if (c >= 0xd800 && c <= 0xdfff) {
			c = 0xfffd;
		}
		if (c < 0x80) {
			tmp[0] = (char)c;
			k = 1;
		} else if (c < 0x800) {
			tmp[0] = (char)(0xc0 | c >> 6);
			tmp[1] = (char)(0x80 | (c & 0x3f));
			k = 2;
		} else if (c < 0x10000) {
			tmp[0] = (char)(0xe0 | c >> 12);
			tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			tmp[2] = (char)(0x80 | (c & 0x3f));
			k = 3;
		} else {
			tmp[0] = (char)(0xf0 | c >> 18);
			tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
			tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
			tmp[3] = (char)(0x80 | (c & 0x3f));
			k = 4;
		}
		if (o + k >= outsz)
			break;
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o] = '\0';
}

/*
 * Reads the GPT header at lba with sector size ss. Returns 1 with the
 * partitions in *l, 0 when there is no GPT signature there, -1 when there is
 * one but it is damaged (the reason in err).
 */
static int gpt_read(struct dr_blockdev *bd, uint32_t ss, uint64_t lba, struct plist *l,
		    struct ut_err *err)
{
	unsigned char *hdr = NULL, *arr = NULL;
	uint32_t hsize, crc, nent, esize, i;
	uint64_t nsect = bd->size / ss, elba, arrsz, first_usable, last_usable;
	int ret = -1;

	if (nsect < 3 || lba >= nsect)
		return 0;
	hdr = ut_malloc(ss);
	if (dr_blockdev_pread(bd, hdr, ss, lba * ss, err) < 0)
		goto out;
	if (memcmp(hdr, "EFI PART", 8)) {
		ret = 0;
		goto out;
	}
	hsize = ut_le32(hdr + 12);
	if (hsize < 92 || hsize > ss) {
		ut_err_set(err, "%s: GPT header at LBA %llu has an invalid size %u", bd->path,
			   (unsigned long long)lba, hsize);
		goto out;
	}
	crc = ut_le32(hdr + 16);
	memset(hdr + 16, 0, 4);
	if (crc32(0, hdr, hsize) != crc) {
		ut_err_set(err, "%s: GPT header at LBA %llu has a bad CRC32", bd->path,
			   (unsigned long long)lba);
		goto out;
	}
	if (ut_le64(hdr + 24) != lba) {
		ut_err_set(err, "%s: GPT header at LBA %llu says it is at LBA %llu", bd->path,
			   (unsigned long long)lba, (unsigned long long)ut_le64(hdr + 24));
		goto out;
	}
	first_usable = ut_le64(hdr + 40);
	last_usable = ut_le64(hdr + 48);
	elba = ut_le64(hdr + 72);
	nent = ut_le32(hdr + 80);
	esize = ut_le32(hdr + 84);
	if (esize < 128 || esize > 4096 || esize % 8) {
		ut_err_set(err, "%s: GPT entry size %u is invalid", bd->path, esize);
		goto out;
	}
	if (nent > GPT_MAX_ENTRIES) {
		ut_err_set(err, "%s: GPT claims %u entries (at most %u accepted)", bd->path, nent,
			   GPT_MAX_ENTRIES);
		goto out;
	}
	arrsz = (uint64_t)nent * esize;
	if (arrsz > GPT_MAX_ARRAY || elba >= nsect || arrsz > (nsect - elba) * ss) {
		ut_err_set(err, "%s: GPT entry array (LBA %llu, %u x %u bytes) lies outside the disk",
			   bd->path, (unsigned long long)elba, nent, esize);
		goto out;
	}
	arr = ut_malloc(arrsz ? arrsz : 1);
	if (dr_blockdev_pread(bd, arr, arrsz, elba * ss, err) < 0)
		goto out;
	if (crc32(0, arr, (uInt)arrsz) != ut_le32(hdr + 88)) {
		ut_err_set(err, "%s: GPT entry array at LBA %llu has a bad CRC32", bd->path,
			   (unsigned long long)elba);
		goto out;
	}
	for (i = 0; i < nent; i++) {
		const unsigned char *e = arr + (size_t)i * esize;
		static const unsigned char zero[16];
		uint64_t first = ut_le64(e + 32), last = ut_le64(e + 40);
		struct dr_partition *p;

		if (!memcmp(e, zero, 16))
			continue;
		if (first > last || last >= nsect || first < first_usable || last > last_usable) {
			/* As the kernel: a partition outside the usable area is
			 * ignored, not trusted. */
			continue;
		}
		p = plist_add(l);
		p->number = (int)i + 1;
		p->start = first * ss;
		p->size = (last - first + 1) * ss;
		fmt_guid(e, p->type_guid);
		fmt_guid(e + 16, p->part_uuid);
		utf16_name(e + 56, 36, p->name, sizeof(p->name));
	}
	ret = 1;
out:
	free(hdr);
	free(arr);
	return ret;
}

/* Primary header at LBA 1, else the backup in the last sector (the kernel
 * falls back the same way). */
static int gpt_try(struct dr_blockdev *bd, uint32_t ss, struct plist *l, struct ut_err *err)
{
	struct ut_err first = { { 0 } };
	int r;

	r = gpt_read(bd, ss, 1, l, &first);
	if (r == 1)
		return 1;
	l->n = 0;
	if (bd->size / ss < 2) {
		if (r < 0)
			return ut_err_set(err, "%s", first.msg);
		return 0;
	}
	if (gpt_read(bd, ss, bd->size / ss - 1, l, NULL) == 1)
		return 1;
	l->n = 0;
	if (r < 0) {
		ut_err_set(err, "%s (and no valid backup GPT)", first.msg);
		return -1;
	}
	return 0;
}

/* ---- MBR ---------------------------------------------------------------- */

static int is_extended(unsigned type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

/* Adds a partition in sectors, clipped to the disk as Linux does. */
static struct dr_partition *mbr_add(struct dr_blockdev *bd, struct plist *l, int number,
				    uint64_t start, uint64_t nsect, unsigned type,
				    uint32_t disk_sig)
{
	uint64_t total = bd->size / 512;
	struct dr_partition *p;

	if (!nsect || start >= total)
		return NULL;
	if (nsect > total - start)
		nsect = total - start;
	p = plist_add(l);
	p->number = number;
	p->start = start * 512;
	p->size = nsect * 512;
	p->mbr_type = type;
	p->extended = is_extended(type);
	snprintf(p->part_uuid, sizeof(p->part_uuid), "%08x-%02x", disk_sig, number & 0xff);
	return p;
}

/*
 * The chain of EBRs in the extended partition at ext_start: each holds one
 * logical partition relative to itself and a link to the next one relative
 * to ext_start. A chain that comes back to an EBR already seen, or that is
 * absurdly long, ends there (the kernel also just stops).
 */
static int mbr_logicals(struct dr_blockdev *bd, uint64_t ext_start, uint64_t ext_size,
			uint32_t disk_sig, int *next_number, int *nebr, struct plist *l,
			struct ut_err *err)
{
	uint64_t seen[MBR_MAX_EBR];
	size_t nseen = 0, k;
	uint64_t cur = ext_start;
	unsigned char s[512];

	for (;;) {
		uint64_t link = 0;
		int i, have_link = 0;

		if (cur >= bd->size / 512 || ++*nebr > MBR_MAX_EBR)
			return 0;
		for (k = 0; k < nseen; k++)
			if (seen[k] == cur)
				return 0;
		seen[nseen++] = cur;
		if (dr_blockdev_pread(bd, s, 512, cur * 512, err) < 0)
			return -1;
		if (s[510] != 0x55 || s[511] != 0xaa)
			return 0;
		for (i = 0; i < 4; i++) {
			const unsigned char *e = s + 446 + 16 * i;
			unsigned type = e[4];
			uint64_t st = ut_le32(e + 8), ns = ut_le32(e + 12);

			if (!type || !ns)
				continue;
			if (is_extended(type)) {
				if (!have_link) {
					link = ext_start + st;
					have_link = 1;
				}
				continue;
			}
			/* Entries 3 and 4 of an EBR are often garbage: only
			 * trust them inside the extended partition (Linux). */
			if (i >= 2 && (cur + st + ns > ext_start + ext_size))
				continue;
			if (mbr_add(bd, l, *next_number, cur + st, ns, type, disk_sig))
				++*next_number;
		}
		if (!have_link)
			return 0;
		cur = link;
	}
}

/* 1 with partitions, 0 when sector 0 is no MBR, -1 on a read error. */
static int mbr_read(struct dr_blockdev *bd, struct plist *l, int *protective, struct ut_err *err)
{
	unsigned char s[512];
	uint32_t disk_sig;
	int i, next_number = 5, nebr = 0;

	*protective = 0;
	if (bd->size < 512)
		return 0;
	if (dr_blockdev_pread(bd, s, 512, 0, err) < 0)
		return -1;
	if (s[510] != 0x55 || s[511] != 0xaa)
		return 0;
	/* A boot flag other than 0 or 0x80 means this is a filesystem's boot
	 * sector (FAT, NTFS), not a partition table: blkid's test too. */
	for (i = 0; i < 4; i++) {
		unsigned char flag = s[446 + 16 * i];

		if (flag != 0 && flag != 0x80)
			return 0;
		if (s[446 + 16 * i + 4] == 0xee)
			*protective = 1;
	}
	if (*protective)
		return 1;
	disk_sig = ut_le32(s + 440);
	for (i = 0; i < 4; i++) {
		const unsigned char *e = s + 446 + 16 * i;
		unsigned type = e[4];
		uint64_t st = ut_le32(e + 8), ns = ut_le32(e + 12);

		if (!type)
			continue;
		if (!mbr_add(bd, l, i + 1, st, ns, type, disk_sig))
			continue;
	}
	for (i = 0; i < 4; i++) {
		const unsigned char *e = s + 446 + 16 * i;

		if (is_extended(e[4]) && ut_le32(e + 12) &&
		    mbr_logicals(bd, ut_le32(e + 8), ut_le32(e + 12), disk_sig, &next_number, &nebr, l,
				 err) < 0)
			return -1;
	}
	return 1;
}

static int part_cmp(const void *a, const void *b)
{
	const struct dr_partition *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

int dr_partitions_read(struct dr_blockdev *bd, struct dr_partition **parts, size_t *n,
		       const char **scheme, struct ut_err *err)
{
	struct plist l = { 0 };
	int r, protective = 0;

	*parts = NULL;
	*n = 0;
	*scheme = "none";
	r = gpt_try(bd, 512, &l, err);
	if (r == 0)
		r = gpt_try(bd, 4096, &l, err);
	if (r < 0)
		goto fail;
	if (r == 1) {
		*scheme = "gpt";
		goto done;
	}
	r = mbr_read(bd, &l, &protective, err);
	if (r < 0)
		goto fail;
	if (protective) {
		ut_err_set(err, "%s: protective MBR (type 0xee) but no GPT header found", bd->path);
		goto fail;
	}
	if (r == 1)
		*scheme = "mbr";
done:
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), part_cmp);
	*parts = l.v;
	*n = l.n;
	return 0;
fail:
	free(l.v);
	return -1;
}
