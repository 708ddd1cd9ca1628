/*
 * ext_journal.h - replays an ext3/4 (jbd2) journal in memory, for fs_ext2.c.
 * Not public.
 *
 * The replay never writes: the blocks the journal's committed transactions
 * carry are collected into an overlay (filesystem block number -> bytes),
 * and fs_ext2.c's io_manager lays that overlay over every read. The logic is
 * the kernel's three passes (fs/jbd2/recovery.c, also e2fsck/recovery.c):
 * SCAN finds the last complete transaction, REVOKE collects revoked blocks,
 * REPLAY copies what is left.
 */
#ifndef VM2OCI_EXT_JOURNAL_H
#define VM2OCI_EXT_JOURNAL_H

#include "util.h"

#include <stdint.h>

/* Where the journal's blocks come from (an inode's blocks, for ext4). */
struct dr_jnl_source {
	/* Reads journal block i (0 is the journal superblock), i < nblocks,
	 * into buf (block_size bytes). */
	int (*read)(void *ctx, uint32_t i, unsigned char *buf, struct ut_err *err);
	void *ctx;
	uint32_t block_size; /* the filesystem's block size */
	uint32_t nblocks;    /* blocks the journal inode holds */
	uint64_t fs_blocks;  /* blocks in the filesystem: a tag past it is corrupt */
	const char *what;    /* names the journal in errors ("disk.img: ext4 journal") */
};

struct dr_jnl_stats {
	int clean;                 /* s_start was 0: nothing to replay */
	uint32_t first_tid;        /* transactions [first_tid, end_tid) were replayed */
	uint32_t end_tid;
	uint64_t replayed;         /* block copies made (a block may be copied twice) */
	uint64_t revoked;          /* block copies skipped because a revoke named them */
};

struct dr_jnl_overlay;

/*
 * Replays the journal into a new overlay (*out, never NULL on success; empty
 * when the journal is clean). A journal that cannot be replayed (bad
 * superblock, unknown feature, a checksum failure inside a committed
 * transaction, a commit block whose checksum fails without async_commit, a
 * block outside the filesystem) is an error naming src->what and the reason.
 * The kernel (6.x) refuses to mount all of these too ("journal transaction N
 * is corrupt", "error loading journal").
 */
int dr_jnl_replay(const struct dr_jnl_source *src, struct dr_jnl_overlay **out,
		  struct dr_jnl_stats *st, struct ut_err *err);
/* Copies every overlay block that meets [off, off+len) of the filesystem
 * (byte offsets) over the bytes in buf, which hold that range as read. */
void dr_jnl_overlay_patch(const struct dr_jnl_overlay *ov, void *buf, uint64_t off,
			  uint64_t len);
/* Distinct filesystem blocks the overlay holds. */
size_t dr_jnl_overlay_blocks(const struct dr_jnl_overlay *ov);
void dr_jnl_overlay_free(struct dr_jnl_overlay *ov);

#endif
