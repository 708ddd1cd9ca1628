/*
 * fuzz_journal.c - libFuzzer target for the jbd2 journal replay
 * (diskread/ext_journal.c).
 *
 * The input is the journal itself, in 1 KiB blocks (block 0 its superblock,
 * as in a journal inode); the filesystem is taken to have 2^20 blocks. The
 * replay runs its three passes and the overlay it builds is laid over a
 * buffer. Errors are expected; crashes, hangs and sanitizer reports are the
 * bugs. Seeds: the journal inode of a dirty image,
 *   debugfs -R 'dump <8> seed.jnl' dirty-ext4-1k.raw
 *
 *   fuzz_journal -max_total_time=120 CORPUS_DIR SEED_DIR
 */
#include <stdint.h>
#include <string.h>

#include "ext_journal.h"

#define FUZZ_BS 1024u

struct input {
	const uint8_t *data;
	size_t size;
};

static int read_block(void *ctx, uint32_t i, unsigned char *buf, struct ut_err *err)
{
	const struct input *in = ctx;
	size_t off = (size_t)i * FUZZ_BS;

	(void)err;
	memset(buf, 0, FUZZ_BS);
	if (off < in->size)
		memcpy(buf, in->data + off, in->size - off < FUZZ_BS ? in->size - off : FUZZ_BS);
	return 0;
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct dr_jnl_source src = {
		.read = read_block,
		.ctx = &in,
		.block_size = FUZZ_BS,
		.nblocks = (uint32_t)((size + FUZZ_BS - 1) / FUZZ_BS),
		.fs_blocks = 1u << 20,
		.what = "fuzz journal",
	};
	struct dr_jnl_overlay *ov = NULL;
	struct dr_jnl_stats st;
	struct ut_err err = { { 0 } };
	unsigned char buf[3 * FUZZ_BS];

	if (size > (64u << 20))
		return 0;
	if (dr_jnl_replay(&src, &ov, &st, &err) == 0) {
		/* Unaligned, spanning three blocks: every path of the patch. */
		dr_jnl_overlay_patch(ov, buf, 1000, sizeof(buf) - 10);
		dr_jnl_overlay_free(ov);
	}
	return 0;
}
