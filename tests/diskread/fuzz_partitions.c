/*
 * fuzz_partitions.c - libFuzzer target for the MBR/EBR and GPT readers.
 *
 * A real partition table is a few sectors scattered over a large disk (the
 * MBR at 0, EBRs deep inside, the backup GPT at the end), so the input is a
 * sparse disk rather than a flat image: an 8-byte little-endian virtual size,
 * then records of a 4-byte little-endian sector number and 512 bytes of that
 * sector. Sectors no record names read as zeros; a later record wins.
 *
 *   fuzz_partitions -max_total_time=600 CORPUS_DIR tests/diskread/fuzz-seeds/partitions
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dr_internal.h"

#define SPARSE_RECORD (4 + 512)

struct sparse_disk {
	const uint8_t *rec;
	size_t nrec;
};

static int sparse_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
			struct ut_err *err)
{
	const struct sparse_disk *s = bd->priv;
	unsigned char *dst = buf;

	(void)err;
	while (len) {
		uint64_t sector = off / 512, in = off % 512;
		size_t n = 512 - in < len ? 512 - in : len, i;
		const uint8_t *found = NULL;

		for (i = 0; i < s->nrec; i++) {
			const uint8_t *r = s->rec + i * SPARSE_RECORD;

			if (ut_le32(r) == sector)
				found = r + 4;
		}
		if (found)
			memcpy(dst, found + in, n);
		else
			memset(dst, 0, n);
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

static const struct dr_blockdev_ops sparse_ops = {
	.name = "sparse",
	.pread = sparse_pread,
};

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sparse_disk s;
	struct dr_blockdev bd;
	struct dr_partition *parts = NULL;
	const char *scheme;
	struct ut_err err;
	size_t n = 0;

	if (size < 8)
		return 0;
	memset(&bd, 0, sizeof(bd));
	s.rec = data + 8;
	s.nrec = (size - 8) / SPARSE_RECORD;
	bd.ops = &sparse_ops;
	bd.path = "fuzz.img";
	/* Up to 2^48 bytes: every offset arithmetic in the readers still has
	 * room to overflow if it is wrong. */
	bd.size = ut_le64(data) & ((1ull << 48) - 1);
	bd.priv = &s;
	if (dr_partitions_read(&bd, &parts, &n, &scheme, &err) == 0) {
		size_t i;

		for (i = 0; i < n; i++)
			if (parts[i].start > bd.size || parts[i].size > bd.size - parts[i].start)
				abort(); /* the reader promises partitions inside the disk */
	}
	free(parts);
	return 0;
}
