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
	const char *name; /* qemu's name: "raw", "qcow2", "vmdk", "vhdx", "vpc", ... */
	/* Score how likely the first bytes of a file are this format: 0 = not
	 * it; higher wins. raw answers 1 for anything. */
	int (*probe)(const unsigned char *head, size_t len);
	/* Optional, the same for the last bytes of a regular file (a fixed
	 * VHD's only footer is there). */
	int (*probe_tail)(const unsigned char *tail, size_t len);
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
	struct dr_open_ctx *octx;    /* the policy and chain of one open */
	int owns_octx;               /* the top device frees it */
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
	char *mount_options;    /* NULL, or what dr_fs_open_opts was given */
};

/* dr_fs_open_flags with mount options for a backend that mounts (libguestfs):
 * "subvol=@home", "subvolid=257", "umask=0077"...; ext2 ignores them. */
int dr_fs_open_opts(struct dr_blockdev *bd, unsigned flags, const char *mount_options,
		    struct dr_fs **out, struct ut_err *err);

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

/*
 * Names the guest path of an error that names the file: "FILE: /PATH: what"
 * from "FILE: what" (or "/PATH: what" when the message does not start with
 * file), so that the file is named once. Returns -1.
 */
int dr_err_at_path(struct ut_err *err, const char *file, const char *path);

/*
 * The file policy of one top-level open (struct dr_file_policy): the top
 * image's directories, the allowed places resolved, the images of the chain
 * (by device and inode) and the links judged so far. Shared by every device
 * of the chain, owned by the top one.
 */
struct dr_open_ctx;

/*
 * Opens the file bd itself is, for its backend's open(): the top image as
 * named on the command line (a regular file or a block device), or the file
 * dr_open_backing already resolved and checked. Sets *size (a block device's
 * size too) and records the file as an image of the chain. The fd is the
 * caller's.
 */
int dr_open_image_file(struct dr_blockdev *bd, int *fd, uint64_t *size, struct ut_err *err);

/*
 * The one way a backend opens a file its image names (a vmdk extent): name
 * resolved against bd's directory, judged by the policy (see struct
 * dr_file_policy), opened read-only and non-blocking. role says what it is in
 * messages ("vmdk extent"). *path gets the name joined to bd's directory
 * (malloc'd, for messages); *fd and *size as dr_open_image_file. On refusal
 * the error is one line: the image, the role, the name and the reason.
 */
int dr_open_named_file(struct dr_blockdev *bd, const char *role, const char *name, int *fd,
		       uint64_t *size, char **path, struct ut_err *err);

/*
 * Opens the backing image bd names (qcow2 backing file, vmdk parent) as
 * bd->backing, through the same policy; format NULL probes. Errors inside
 * the backing image are prefixed with "bd: role name: " at the top of the
 * chain only, so a deep chain's message does not repeat itself.
 */
int dr_open_backing(struct dr_blockdev *bd, const char *role, const char *name,
		    const char *format, struct ut_err *err);
/* The block backends added for Hyper-V, Azure and VirtualBox disks. */
extern const struct dr_blockdev_ops dr_vhdx_ops;
extern const struct dr_blockdev_ops dr_vpc_ops;  /* VHD; "vhd" is an alias */
extern const struct dr_blockdev_ops dr_vdi_ops;
extern const struct dr_blockdev_ops dr_qed_ops;

/* An image file open read-only (a regular file or a block device). */
struct dr_file {
	int fd;
	uint64_t size;
};

/* The file bd itself is, through dr_open_image_file (the policy's); f->fd
 * is -1 on failure. dr_file_close accepts a file that never opened. */
int dr_file_open(struct dr_blockdev *bd, struct dr_file *f, struct ut_err *err);
void dr_file_close(struct dr_file *f);

/*
 * Opens the first of n parent names (Windows paths allowed: "\\" becomes
 * "/", so ".\\p.vhd" works) that exists relative to bd's file, through
 * dr_open_backing; when none exists, the first, for its error. A
 * name with a drive letter ("C:\\vms\\p.vhd") also tries its last
 * component next to bd, where a disk copied with its parent has it.
 */
int dr_open_parent(struct dr_blockdev *bd, char *const *names, size_t n, int depth,
		   struct ut_err *err);

/* UTF-16 (little- or big-endian) to a NUL-terminated UTF-8 heap string,
 * up to the first NUL; NULL when it is not valid UTF-16. */
char *dr_utf16_to_utf8(const unsigned char *p, size_t bytes, int big_endian);

/*
 * Table-driven formats (vhdx, vpc, vdi, qed) describe the guest byte range
 * from off as one extent: data at a host offset, zeros, or whatever the
 * backing file has there. len is at most maxlen and at least 1.
 */
enum dr_extent_kind {
	DR_EXT_DATA,
	DR_EXT_ZERO,
	DR_EXT_BACKING,
};

struct dr_extent {
	enum dr_extent_kind kind;
	uint64_t host; /* DR_EXT_DATA: host offset of off itself */
	uint64_t len;
};

typedef int (*dr_map_fn)(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen,
			 struct dr_extent *x, struct ut_err *err);

/*
 * Differencing formats with a presence bit per sector (VHD, VHDX): whether
 * guest sector s (of sector_size bytes) is in this file. dr_present_run
 * narrows x (DR_EXT_DATA for off, x->len up to the end of its block) to
 * the run of sectors that share off's bit; absent ones become
 * DR_EXT_BACKING.
 */
typedef int (*dr_present_fn)(struct dr_blockdev *bd, uint64_t s, int *present,
			     struct ut_err *err);
int dr_present_run(struct dr_blockdev *bd, dr_present_fn present, uint64_t off,
		   uint32_t sector_size, struct dr_extent *x, struct ut_err *err);

/* The first member of such a format's priv: its file and its map. */
struct dr_mapped {
	struct dr_file f;
	dr_map_fn map;
};

/* pread and block_status of such a format (bd->priv starts with a
 * struct dr_mapped), for its vtable. */
int dr_mapped_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		    struct ut_err *err);
int dr_mapped_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
			   int *allocated, int *in_backing, struct ut_err *err);

/*
 * Whether the n bytes at pos of an overlay's unallocated range come from
 * its backing file: not past the backing file's end (those are zeros of
 * this layer, as qemu-img map says), and n is clipped to that end.
 */
int dr_from_backing(const struct dr_blockdev *bd, uint64_t pos, uint64_t *n);

/* CRC-32C (Castagnoli), as VHDX checksums its headers and tables. */
uint32_t dr_crc32c(const void *buf, size_t len);

/* The LV a block device opened by dr_lvm_open is, or NULL for any other. */
const struct dr_lv *dr_lvm_lv_of(const struct dr_blockdev *bd);
/* An LV in one piece on the disk: its byte offset there (0); -1 otherwise. */
int dr_lvm_linear_offset(const struct dr_blockdev *bd, uint64_t *off);

#endif
