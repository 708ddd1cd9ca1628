/*
 * dr_internal.h - what the diskread backends share: the backend vtables,
 * the layouts of struct dr_blockdev and struct dr_fs, and helpers. Not
 * public: only diskread's own files (and tests that add this directory
 * explicitly) include it; callers use include/diskread.h.
 */
#ifndef VM2OCI_DR_INTERNAL_H
#define VM2OCI_DR_INTERNAL_H

#include "diskread.h"

/* ---- block devices ------------------------------------------------------ */

struct dr_blockdev_ops {
	const char *name; /* "raw", "qcow2", "vmdk" */
	/* Score how likely the first bytes of a file are this format: 0 = not
	 * it; higher wins. raw answers 1 for anything. */
	int (*probe)(const unsigned char *head, size_t len);
	/* Opens path; fills bd->size and bd->priv. depth counts backing files
	 * already open, to refuse loops and absurd chains. */
	int (*open)(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err);
	/* Reads exactly len bytes at off (within size); unallocated areas read
	 * as zeros, or from the backing file. */
	int (*pread)(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		     struct ut_err *err);
	/* Optional. How many bytes from off share one state: *allocated is 1
	 * when this layer (not a backing file) holds data there, 0 for a hole
	 * or a range only the backing file has; *in_backing is 1 when the
	 * range comes from a backing file. NULL: everything is allocated. */
	int (*block_status)(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			    uint64_t *pnum, int *allocated, int *in_backing,
			    struct ut_err *err);
	void (*close)(struct dr_blockdev *bd);
};

struct dr_blockdev {
	const struct dr_blockdev_ops *ops;
	char *path;      /* as given, for messages */
	uint64_t size;   /* virtual size in bytes */
	void *priv;
	uint64_t bytes_read; /* bytes read from the host file(s), for --json */
	struct dr_blockdev *backing; /* may be NULL */
	struct dr_blockdev *parent;  /* slices: the device they cut from */
	uint64_t slice_off;
};

extern const struct dr_blockdev_ops dr_raw_ops;
extern const struct dr_blockdev_ops dr_qcow2_ops;
extern const struct dr_blockdev_ops dr_vmdk_ops;

/* Opens a backing file one level deeper. */
int dr_blockdev_open_depth(const char *path, const char *format, int depth,
			   struct dr_blockdev **out, struct ut_err *err);

/* ---- filesystems -------------------------------------------------------- */

struct dr_fs_ops {
	const char *name;
	/* Reads the superblock: 1 and info filled when it is this type. */
	int (*probe)(struct dr_blockdev *bd, struct dr_fs_info *info, struct ut_err *err);
	int (*open)(struct dr_fs *fs, struct ut_err *err);
	/*
	 * Walks the whole filesystem calling cb for every inode in any order,
	 * paths relative to the filesystem root ("" is the root). The entry is
	 * borrowed for the call: the callback may take it (ut_tree_take).
	 * link_id is the inode number; src_b is what open_file takes (ext2: the
	 * inode number; guestfs: an index into its table of paths).
	 */
	int (*walk)(struct dr_fs *fs, int (*cb)(void *ctx, struct ut_entry *e), void *ctx,
		    struct ut_err *err);
	/* Content of a regular file by the src_b its walk gave. */
	int (*open_file)(struct dr_fs *fs, uint64_t src_b, void **handle, struct ut_err *err);
	ssize_t (*read_file)(struct dr_fs *fs, void *handle, void *buf, size_t len,
			     struct ut_err *err);
	void (*close_file)(struct dr_fs *fs, void *handle);
	/* Looks up one path (no symlinks followed) and fills e; 1 found, 0 not. */
	int (*lookup)(struct dr_fs *fs, const char *path, struct ut_entry *e, struct ut_err *err);
	/* Optional: the physical byte extents of a file on the blockdev. */
	int (*extents)(struct dr_fs *fs, uint64_t src_b,
		       int (*cb)(void *ctx, uint64_t logical, uint64_t physical, uint64_t len),
		       void *ctx, struct ut_err *err);
	void (*close)(struct dr_fs *fs);
};

struct dr_fs {
	const struct dr_fs_ops *ops;
	struct dr_blockdev *bd; /* borrowed */
	struct dr_fs_info info;
	const char *tmpdir; /* scratch files; NULL: /tmp (borrowed) */
	void *priv;
	unsigned flags;  /* DR_FS_* as given to dr_fs_open_flags */
	/* What the backend did that the user should hear ("the journal needed
	 * recovery ..."), one line without the device, which the reader adds;
	 * "" none. Set by open, or by a backend that mounts on first use. */
	char note[512];
};

extern const struct dr_fs_ops dr_ext2_ops;
/* xfs and btrfs through libguestfs: it opens the top image file itself
 * (read-only) and launches its appliance on first use, not at probe. */
extern const struct dr_fs_ops dr_guestfs_ops;

/* Tries every filesystem backend; returns 1 with info and *ops set when one
 * recognises bd, 0 when none does. */
int dr_fs_probe(struct dr_blockdev *bd, const struct dr_fs_ops **ops, struct dr_fs_info *info,
		struct ut_err *err);

/* Appends the content of e (a regular file of fs; its first max bytes when
 * max is not 0) to b. */
int dr_fs_read_entry(struct dr_fs *fs, const struct ut_entry *e, struct ut_buf *b, size_t max,
		     struct ut_err *err);

/* ---- helpers ------------------------------------------------------------ */

/*
 * Reads exactly len bytes at off from a host file of file_size bytes,
 * retrying short reads; bytes past the end of the file read as zeros (as
 * qemu does for a cluster that runs past a truncated image). Adds what it
 * read to *bytes_read. path names the file in errors.
 */
int dr_host_pread(int fd, uint64_t file_size, const char *path, void *buf, size_t len,
		  uint64_t off, uint64_t *bytes_read, struct ut_err *err);

/*
 * Reads [off, off+len) of bd's backing file into buf: what an overlay shows
 * where it holds no data itself. Past the backing file's end (a smaller
 * backing file), and with no backing file at all, the bytes are zeros.
 */
int dr_read_backing(struct dr_blockdev *bd, unsigned char *buf, uint64_t len, uint64_t off,
		    struct ut_err *err);

#endif
