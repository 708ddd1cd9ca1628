/*
 * blockdiff.h - what changed on disk, block by block, and what it would
 * weigh as deltas.
 *
 * The file-level diff (fsdiff) carries every changed file whole. This module
 * answers the block-level questions beside it:
 *
 *   extents   which byte ranges of DISK differ from BASE. Two ways:
 *             LINEAGE - DISK is a qcow2 overlay whose backing chain holds
 *             BASE (same file by realpath): the ranges the layers above BASE
 *             own are the changes, read from the allocation tables alone;
 *             HASHES - unrelated disks of one layout: fixed blocks at the same
 *             offsets are hashed and compared. bd_extents_refine() trims
 *             cluster-granular lineage ranges down to the blocks whose bytes
 *             really differ.
 *   mapping   which files of DISK those ranges fall in (ext filesystems, by
 *             the fs's extents), and how much is metadata or free space.
 *   delta     per modified file, the size of a zstd --patch-from delta
 *             against the base's version next to its plain zstd size.
 *
 * This is analysis: an OCI layer holds whole files, so the numbers say what a
 * delta-aware transport could save, not what a layer weighs. Nothing here
 * prints or writes; disks are only read.
 */
#ifndef VM2OCI_BLOCKDIFF_H
#define VM2OCI_BLOCKDIFF_H

#include "diskread.h"
#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- changed extents ---------------------------------------------------- */

enum bd_method {
	BD_LINEAGE = 1, /* qcow2 allocation above the base in DISK's backing chain */
	BD_HASHES,      /* per-block hashes of both disks at the same offsets */
};

/* "lineage", "hashes". */
const char *bd_method_name(enum bd_method m);

/* A byte range [off, off + len) of the whole disk. */
struct bd_range {
	uint64_t off, len;
};

/* Changed ranges of a disk: sorted, disjoint, adjacent ones merged. */
struct bd_extents {
	enum bd_method method;
	uint64_t granule;    /* lineage: the allocation unit seen (qcow2 cluster
			      * runs); hashes and refined: the block size */
	struct bd_range *v;
	size_t n, alloc;
	uint64_t bytes;      /* sum of the lengths */
	uint64_t disk_size;  /* DISK's virtual size */
	int depth;           /* lineage: layers above the base (1 = DISK itself) */
	uint64_t bytes_read; /* guest bytes read to find them (hashes, refine) */
};

void bd_extents_init(struct bd_extents *x);
void bd_extents_release(struct bd_extents *x);
/* Appends [off, off+len) after the last range (merging when adjacent or
 * overlapping); ranges must come in increasing order of off. */
void bd_extents_add(struct bd_extents *x, uint64_t off, uint64_t len);

/*
 * Whether base_path is in disk's backing chain: 1 with *depth = the number
 * of layers above it (disk itself is 1), 0 when not (or when base_path is
 * disk itself). Files are compared by realpath(), so "template.qcow2" and
 * "./dir/../template.qcow2" are one file.
 */
int bd_lineage_find(struct dr_blockdev *disk, const char *base_path, int *depth,
		    struct ut_err *err);

/*
 * LINEAGE: the union, over the depth layers from disk downwards, of the
 * ranges each layer holds itself (allocated, or zeros that hide its backing
 * file): exactly the ranges where disk does not read through to the base.
 * Granularity is the qcow2 cluster: a 512-byte guest write counts as its
 * whole cluster. Reads allocation tables only.
 */
int bd_extents_lineage(struct dr_blockdev *disk, int depth, struct bd_extents *out,
		       struct ut_err *err);

/*
 * HASHES: reads both devices in step and compares a 64-bit hash (XXH64) of
 * each block of block_size bytes (a power of two, 512..1 MiB) at the same
 * offset; the tail where one disk is longer counts as changed. A 64-bit hash
 * rather than SHA-256: this is analysis, not a content address, the bytes
 * compared are the guest's own at one offset (no lookup in a global table
 * where collisions accumulate), and XXH64 runs at memory speed where SHA-256
 * would be the bottleneck of a full-disk scan. Memory stays constant.
 */
int bd_extents_hashes(struct dr_blockdev *base, struct dr_blockdev *disk, uint64_t block_size,
		      const struct ut_progress *progress, struct bd_extents *out,
		      struct ut_err *err);

/*
 * Narrows in (e.g. cluster-granular lineage ranges) to the blocks of
 * block_size whose bytes differ between base and disk, reading only inside
 * in's ranges; out keeps in's method, with granule = block_size.
 */
int bd_extents_refine(const struct bd_extents *in, struct dr_blockdev *base,
		      struct dr_blockdev *disk, uint64_t block_size, struct bd_extents *out,
		      struct ut_err *err);

/* The 64-bit hash the HASHES method uses (XXH64, seed 0). */
uint64_t bd_hash64(const void *data, size_t len);

/* ---- mapping ranges to files ------------------------------------------- */

struct bd_file {
	char *path;        /* tree path (no leading slash) */
	uint64_t size;     /* the file's size */
	uint64_t changed;  /* changed bytes of its content (the slack after
			    * the end of the file in its last block is left
			    * to in_metadata) */
};

struct bd_map {
	struct bd_file *files; /* files with changed bytes, in path order */
	size_t nfiles;
	uint64_t in_files;     /* changed bytes of file content (each inode once) */
	uint64_t in_metadata;  /* in a mounted filesystem but in no file's data:
				* inode tables, directories, journal, bitmaps,
				* inline-data files, freed blocks, the slack
				* after the end of files */
	uint64_t outside;      /* in no mounted filesystem: partition tables,
				* gaps, unmounted or unreadable partitions */
	uint64_t files_scanned;   /* regular files whose extents were read */
	uint64_t files_no_extents; /* files on filesystems without the extents op */
};

/*
 * Maps x (ranges of dr_disk_blockdev(d)) to the regular files of t, which
 * must be dr_disk_tree(d): each file's extents on its filesystem, shifted by
 * its volume's offset on the disk, intersected with x. Hardlinks count once,
 * under the first path of their set in t. Memory: one record per changed file.
 */
int bd_map_files(struct dr_disk *d, const struct ut_tree *t, const struct bd_extents *x,
		 struct bd_map *out, struct ut_err *err);
void bd_map_release(struct bd_map *m);

/* ---- per-file deltas --------------------------------------------------- */

struct bd_delta_options {
	int level;          /* zstd level for both sizes; 0: 3 (zstd's default) */
	/* Files (base or VM side) larger than this get no delta: the base
	 * version must be held in memory as the prefix. 0: 256 MiB. */
	uint64_t max_size;
};

struct bd_delta {
	uint64_t base_bytes, vm_bytes;
	uint64_t zstd_bytes;  /* the VM file alone, zstd */
	uint64_t delta_bytes; /* zstd with the base file as prefix (--patch-from) */
	uint64_t rsync_bytes; /* librsync's delta against the base's signature, as
			       * `rdiff signature` + `rdiff delta` write it */
	int skipped;          /* 1: over max_size, delta_bytes = zstd_bytes,
			       * rsync_bytes = vm_bytes */
};

/*
 * Sizes of the VM bytes compressed alone and with the base bytes as a
 * referenced prefix (ZSTD_CCtx_refPrefix, long-distance matching, a window
 * covering both), as `zstd --patch-from=BASE VM` does, and of librsync's
 * delta of VM against BASE's signature (rdiff's default arguments).
 */
int bd_delta_buf(const void *base, size_t base_len, const void *vm, size_t vm_len,
		 const struct bd_delta_options *opt, struct bd_delta *out, struct ut_err *err);
/* The same for two regular-file entries read through their content sources;
 * the VM side is streamed, the base side held in memory. */
int bd_delta_entry(const struct ut_content *base_src, const struct ut_entry *base_e,
		   const struct ut_content *vm_src, const struct ut_entry *vm_e,
		   const struct bd_delta_options *opt, struct bd_delta *out, struct ut_err *err);

/*
 * The size of x's ranges of bd (read in order, as one stream) compressed
 * with zstd at level (0: 3): what shipping the changed blocks themselves
 * would weigh, as a qcow2 overlay or a block-level transport carries them.
 */
int bd_extents_zstd(struct dr_blockdev *bd, const struct bd_extents *x, int level,
		    uint64_t *bytes, struct ut_err *err);

/* ---- the block view of a file-level diff (analysis.c) ------------------- */

struct fsd_result;

struct bd_analysis_options {
	int force_hashes; /* compare block hashes even when lineage would do */
	int list_deltas;  /* one line per delta in bd_analysis.deltas */
	struct ut_progress progress;
};

/* What the block view of one change found. */
struct bd_analysis {
	struct bd_extents alloc;  /* lineage or hashes, as found */
	struct bd_extents diff;   /* refined to differing 4 KiB blocks */
	struct bd_map map;        /* the files those blocks fall in */
	uint64_t blocks_zstd;     /* the differing blocks, zstd */
	/* mapped files by what the file level says of them */
	uint64_t files_content, files_other_change, files_unchanged;
	/* content-modified regular files (a hardlink set once): bytes, zstd
	 * alone, zstd --patch-from the base's version, how many too large */
	uint64_t modified, modified_bytes, modified_zstd, modified_delta, skipped;
	uint64_t modified_rsync; /* their librsync deltas */
	double t_extents, t_refine, t_map, t_blocks_zstd, t_delta;
	struct ut_buf deltas;     /* with list_deltas: "delta   /path: ..." lines */
};

/*
 * The block view of what fsdiff found between base (a disk, at base_path as
 * a qcow2 backing chain names it, with base_tree its walked tree) and disk
 * (whose tree is vm; diff = fsd_diff(base_tree, vm)): the changed extents
 * (qcow2 lineage when disk is an overlay of base, else 4 KiB block hashes),
 * refined to the 4 KiB blocks that differ, mapped to files, their zstd
 * size, and patch-from deltas of the modified files. out is initialised
 * here; release it even after a failure.
 */
int bd_analyse(struct dr_disk *base, const char *base_path, const struct ut_tree *base_tree,
	       struct dr_disk *disk, const struct ut_tree *vm, const struct fsd_result *diff,
	       const struct bd_analysis_options *opt, struct bd_analysis *out, struct ut_err *err);
void bd_analysis_release(struct bd_analysis *a);
/* What the file level says of a file with changed blocks at path: its
 * change kind, "same content, blocks rewritten" (a metadata-only change) or
 * "unchanged content, blocks rewritten" (no change). */
const char *bd_file_level(const struct fsd_result *diff, const char *path);

/* ---- block-hash indexes (blockhash.c) ----------------------------------- */

/*
 * SHA-256 of every block of one filesystem's device: what a full copy of a
 * template is compared against, block for block, without reading the
 * template again. off is where the filesystem lies on its disk (an identity
 * check, not used to read).
 */
struct bd_hash_index {
	uint64_t off, size, block; /* the device's size, its filesystem's block size */
	uint64_t n;                /* blocks: size / block rounded up */
	unsigned char *h;          /* n * UT_SHA256_LEN bytes */
};

/* One index per mount of a disk, in mount order. */
struct bd_hash_set {
	struct bd_hash_index *v;
	size_t n;
	int built; /* bd_block_tree (re)built it: worth saving */
};

/* Hashes [0, size) of bd in blocks of block bytes (a power of two,
 * 512..4 MiB; the last block may be short). bd is read by the calling
 * thread alone; the hashing runs on threads threads (0: one per core, 1:
 * in the caller), and the result is the same for any count. */
int bd_hash_index_build(struct dr_blockdev *bd, uint64_t off, uint64_t size, uint64_t block,
			int threads, const struct ut_progress *p, struct bd_hash_index *out,
			struct ut_err *err);
/* Reads bd (x->size bytes, or an error) and appends to out the blocks whose
 * SHA-256 differs from x's, as byte ranges of bd; threads as above. */
int bd_hash_index_diff(const struct bd_hash_index *x, struct dr_blockdev *bd, int threads,
		       const struct ut_progress *p, struct bd_extents *out, struct ut_err *err);
void bd_hash_index_release(struct bd_hash_index *x);
void bd_hash_set_release(struct bd_hash_set *s);
/* A set as one file (written under PATH.tmp-XXXXXX and renamed); loading
 * checks every count against the file's length. */
int bd_hash_set_save(const struct bd_hash_set *s, const char *path, struct ut_err *err);
int bd_hash_set_load(const char *path, struct bd_hash_set *s, struct ut_err *err);

/* ---- the block strategy ------------------------------------------------ */

struct bd_block_stats {
	const char *source;     /* "lineage" or "hashes" */
	int depth;              /* lineage: layers above the template */
	uint64_t lineage_bytes; /* ranges the layers above the template hold */
	uint64_t changed_bytes; /* of those, filesystem blocks that differ */
	uint64_t hashed_bytes;  /* hashes: the clone's bytes read and hashed */
	uint64_t template_hashed_bytes; /* hashes: the template's, when its index
					 * had to be built */
	uint64_t dirty_inodes;  /* inodes that may differ (a superset) */
	uint64_t dirty_paths;   /* template paths looked up again in the clone */
	uint64_t entries_read;  /* clone entries read (re-read paths, new subtrees) */
};

/*
 * The clone's tree without walking it: disk's changed blocks since base
 * mapped to the inodes that may have changed, those paths and directories
 * read again from disk, and base_tree's entries (dr_disk_tree(base) with
 * digests) for all the rest. fsd_diff of base_tree and *out gives the
 * changes, and the layer plan, that a full walk of disk would; only dirty
 * files are read. *out reads content from disk.
 *
 * The changed blocks come from the first source that applies: LINEAGE, base
 * in disk's qcow2 or vmdk backing chain (allocation tables only); HASHES,
 * with hashes non-NULL, any disk with the template's partitions and
 * filesystems: every block of disk's filesystems hashed and compared with
 * the template's index in *hashes. An index that is missing or does not fit
 * (mount count, offsets, sizes, block sizes) is built from base first and
 * hashes->built set, so the caller can keep it. threads: the hashing threads
 * (bd_hash_index_build).
 *
 * Returns 1 with *out; 0 when the block strategy cannot be exact, with the
 * reason in why (not ext2/3/4, a journal needing recovery, another UUID or
 * geometry, a moved partition, no change source); -1 on error.
 */
int bd_block_tree(struct dr_disk *base, const struct ut_tree *base_tree, struct dr_disk *disk,
		  struct bd_hash_set *hashes, int threads, struct ut_tree **out,
		  struct bd_block_stats *st, char *why, size_t why_len, struct ut_err *err);

#ifdef __cplusplus
}
#endif
#endif
