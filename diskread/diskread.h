/*
 * diskread.h - open a powered-off VM disk read-only and see its files.
 *
 * Three layers, each a vtable so that a new format is one new file:
 *
 *   struct dr_blockdev   a byte-addressed, read-only device: raw, qcow2
 *                        (backing chains, compressed clusters), vmdk,
 *                        vhdx, vhd (vpc), vdi, qed, and "slices" of
 *                        another device (a partition).
 *   struct dr_fs         one filesystem on a blockdev: ext2/3/4 through
 *                        libext2fs over our blockdev (ext2fs_open2 with an
 *                        io_manager), others through libguestfs.
 *   struct dr_disk       the guest as a whole: partitions, filesystems, the
 *                        mount plan assembled from the root's /etc/fstab, the
 *                        OS identity, and one merged tree of every mounted
 *                        filesystem.
 *
 * Nothing here writes to a disk or runs a program from the guest. Every
 * length and offset read from the image is bounds-checked; a bad image gives
 * an error naming the file and the reason.
 */
#ifndef VM2OCI_DISKREAD_H
#define VM2OCI_DISKREAD_H

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- block devices ------------------------------------------------------ */

struct dr_blockdev;

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

/*
 * Which files a disk may name: qcow2 backing files, vmdk extents and vmdk
 * parents. A tenant's disk must not read the host or another tenant's disk,
 * so by default a named file must resolve (symlinks followed) to a regular
 * file inside the top image's own directory tree, and must not be an image
 * already open in the chain. Block devices and anything under /dev, /proc
 * or /sys are refused whatever the rule, unless allow names that exact path.
 * A zeroed policy is the default. Strings are borrowed for the open only.
 */
struct dr_file_policy {
	/* More places (--backing-dir): a directory allows its whole tree; any
	 * other path allows exactly that file or device. */
	const char *const *allow;
	size_t nallow;
	/* Any regular file outside /dev, /proc and /sys (--trust-backing). */
	int trust;
};

/* Why a named file was allowed: which rule of the policy let it in. */
enum dr_link_rule {
	DR_RULE_SAME_TREE,  /* under the top image's directory */
	DR_RULE_ALLOWED,    /* under (or exactly) policy.allow[i]: see allowed_by */
	DR_RULE_TRUSTED,    /* policy.trust */
};

/* One file an image of the chain named, as the policy judged it. */
struct dr_file_link {
	const char *image;      /* the image that names it, as opened */
	const char *role;       /* "backing file", "vmdk extent", "parent disk" */
	const char *name;       /* as the image writes it */
	const char *resolved;   /* its real path */
	enum dr_link_rule rule;
	const char *allowed_by; /* DR_RULE_ALLOWED: the allow entry, as given */
};

/* Opens a disk image read-only. format is "raw", "qcow2", "vmdk", "vhdx",
 * "vpc" (or "vhd"), "vdi", "qed", or NULL to probe; a probed format that no
 * backend reads (parallels, dmg, luks, ...) is refused by name. policy NULL
 * is the default one. The top image may be a regular file
 * or a block device (the operator named it). Backing files named relative
 * are resolved against the directory of the image that names them. */
int dr_blockdev_open_policy(const char *path, const char *format,
			    const struct dr_file_policy *policy, struct dr_blockdev **out,
			    struct ut_err *err);
/* dr_blockdev_open_policy with the default policy. */
int dr_blockdev_open(const char *path, const char *format, struct dr_blockdev **out,
		     struct ut_err *err);
/* Every file the chain named, in the order they were opened; borrowed until
 * the device (bd or the top device it was cut from) is freed. */
const struct dr_file_link *dr_blockdev_links(const struct dr_blockdev *bd, size_t *n);
/* A read-only window [off, off+len) of parent (a partition). The slice
 * borrows parent, which must outlive it. */
int dr_blockdev_slice(struct dr_blockdev *parent, uint64_t off, uint64_t len,
		      struct dr_blockdev **out, struct ut_err *err);
int dr_blockdev_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		      struct ut_err *err);
/*
 * The state of [off, off + *pnum), *pnum >= 1, for off < size (len is clamped
 * to the end). Three states: allocated = this layer holds data; in_backing =
 * the bytes come from the backing chain; neither = zeros of this layer (a
 * hole, a qcow2 zero cluster, or past the end of a shorter backing file) -
 * in an overlay that still hides what the backing file has there. Runs are
 * not necessarily maximal. allocated and in_backing may be NULL.
 */
int dr_blockdev_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			     uint64_t *pnum, int *allocated, int *in_backing,
			     struct ut_err *err);
const char *dr_blockdev_format(const struct dr_blockdev *bd);
uint64_t dr_blockdev_bytes_read(const struct dr_blockdev *bd); /* whole chain */
void dr_blockdev_free(struct dr_blockdev *bd);

/* ---- partition tables --------------------------------------------------- */

struct dr_partition {
	int number;         /* as Linux numbers them: 1-4 primary, 5+ logical */
	uint64_t start;     /* bytes */
	uint64_t size;      /* bytes */
	unsigned mbr_type;  /* MBR type byte, 0 for GPT */
	char type_guid[37]; /* GPT partition type, "" for MBR */
	char part_uuid[37]; /* GPT unique GUID, or MBR "xxxxxxxx-NN" PARTUUID */
	char name[73];      /* GPT name (UTF-8), "" for MBR */
	int extended;       /* MBR extended container (not a filesystem) */
};

/* scheme is set to "gpt", "mbr" or "none" (the disk is a filesystem). */
int dr_partitions_read(struct dr_blockdev *bd, struct dr_partition **parts, size_t *n,
		       const char **scheme, struct ut_err *err);

/* ---- filesystems -------------------------------------------------------- */

struct dr_fs;

struct dr_fs_info {
	char type[16];  /* "ext4", "xfs", ... */
	char uuid[37];
	char label[64];
};

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
	void *priv;
	unsigned flags;  /* DR_FS_* as given to dr_fs_open_flags */
	/* What the backend did that the user should hear ("the journal needed
	 * recovery ..."), one line without the device, which the reader adds;
	 * "" none. Set by open, or by a backend that mounts on first use. */
	char note[512];
	char *mount_options;    /* NULL, or what dr_fs_open_opts was given */
};

/* Read a journal or log that needs recovery as it lies on the disk (stale)
 * instead of replaying it in memory (ext3/4) or in libguestfs' overlay (xfs). */
#define DR_FS_NO_REPLAY 0x1u

extern const struct dr_fs_ops dr_ext2_ops;
/* xfs and btrfs through libguestfs: it opens the top image file itself
 * (read-only) and launches its appliance on first use, not at probe. */
extern const struct dr_fs_ops dr_guestfs_ops;

/* Tries every filesystem backend; returns 1 with info and *ops set when one
 * recognises bd, 0 when none does. */
int dr_fs_probe(struct dr_blockdev *bd, const struct dr_fs_ops **ops, struct dr_fs_info *info,
		struct ut_err *err);
int dr_fs_open(struct dr_blockdev *bd, struct dr_fs **out, struct ut_err *err);
/* dr_fs_open with DR_FS_* flags. An ext3/4 journal that needs recovery is
 * replayed in memory unless DR_FS_NO_REPLAY; one that cannot be (corrupt, an
 * external journal device, an unknown feature) fails the open. */
int dr_fs_open_flags(struct dr_blockdev *bd, unsigned flags, struct dr_fs **out,
		     struct ut_err *err);
void dr_fs_free(struct dr_fs *fs);
/* dr_fs_open_flags with mount options for a backend that mounts (libguestfs):
 * "subvol=@home", "subvolid=257", "umask=0077"...; ext2 ignores them. */
int dr_fs_open_opts(struct dr_blockdev *bd, unsigned flags, const char *mount_options,
		    struct dr_fs **out, struct ut_err *err);
/*
 * fs->ops->walk, with the bound every caller needs: a regular file whose
 * apparent size is above max_file_size (0: the size of fs's device) stops
 * the walk with an error naming it, mountpoint ("" for /) prefixed to its
 * path. A crafted inode may claim 2^60 bytes that all read as zeros.
 */
int dr_fs_walk(struct dr_fs *fs, uint64_t max_file_size, const char *mountpoint,
	       int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err);
/* Reads a small regular file of this filesystem into b (b->cap bounds it). */
int dr_fs_read_path(struct dr_fs *fs, const char *path, struct ut_buf *b, struct ut_err *err);

/* ---- LVM2 --------------------------------------------------------------- */

/* A logical volume as the VG's text metadata describes it. */
struct dr_lv {
	char vg[128];
	char name[128];
	char uuid[40];
	uint64_t size;          /* bytes */
	char type[32];          /* "linear", "striped", "thin", "thin-pool", "raid1"... */
	char unsupported[160];  /* "" when vm2oci reads it, else why not */
};

struct dr_lvm;

/* Reads the PV labels and VG metadata on pvs (volumes sniffed as
 * LVM2_member; devices without a label are passed over) in-process. The
 * devices are borrowed and must outlive the result. */
int dr_lvm_read(struct dr_blockdev *const *pvs, size_t npvs, struct dr_lvm **out,
		struct ut_err *err);
size_t dr_lvm_count(const struct dr_lvm *l);
const struct dr_lv *dr_lvm_lv(const struct dr_lvm *l, size_t i);
/* LV i as a read-only block device (linear or striped only; otherwise an
 * error naming why). It borrows l, which must outlive it. */
int dr_lvm_open(struct dr_lvm *l, size_t i, struct dr_blockdev **out, struct ut_err *err);
void dr_lvm_free(struct dr_lvm *l);

/* ---- the guest as a whole ----------------------------------------------- */

struct dr_mount {
	char *mountpoint;   /* "" for /, "boot", "var", ... (tree-relative) */
	char *spec;         /* as fstab says: "UUID=...", "/dev/sda5", ... */
	int partition;      /* partition number, 0 when the disk has none or an LV */
	struct dr_fs_info fs;
	char *lv;           /* "VG/LV" when on a logical volume, else NULL */
	char *options;      /* what vm2oci mounts with ("subvol=@home"), or NULL */
};

struct dr_os_info {
	char distro[64];      /* os-release ID: "debian", "centos", ... */
	char version[64];     /* VERSION_ID */
	char pretty_name[128];
	char hostname[256];
	char arch[32];        /* OCI name: "amd64", "arm64", "386", ... */
	char package_format[16]; /* "deb", "rpm", "apk", "pacman", "" */
};

struct dr_disk;

struct dr_disk_options {
	const char *format; /* NULL: probe */
	struct dr_file_policy policy; /* which files the image may name */
	/* A regular file whose apparent size is larger is an error naming it
	 * (a hostile inode size would otherwise be read as zeros for ever).
	 * 0: the size of the device its filesystem sits on. */
	uint64_t max_file_size;
	/* Read filesystems whose journal or log needs recovery as they are on
	 * disk (with a warning) instead of replaying it; see DR_FS_NO_REPLAY. */
	int no_replay;
	struct ut_progress progress;
	/* Mount points ("/srv/data") to leave out although fstab mounts them.
	 * Without them, an fstab entry for a local filesystem that cannot be
	 * read makes dr_disk_open fail, naming the mount point, the device
	 * and why: an image never silently lacks a mount. */
	const char *const *skip_mounts;
	size_t nskip_mounts;
	/* For a report (inspect): an unreadable mount is a warning instead. */
	int lenient_mounts;
};

/* Opens the image, reads the partition table, finds the root filesystem
 * (the one with etc/fstab or etc/os-release and bin or usr), assembles the
 * mount plan from its fstab, and reads the OS identity. */
int dr_disk_open(const char *path, const struct dr_disk_options *opt, struct dr_disk **out,
		 struct ut_err *err);
void dr_disk_free(struct dr_disk *d);
/* The mount points left out by skip_mounts ("/srv/data"), in fstab order. */
const char *const *dr_disk_skipped_mounts(const struct dr_disk *d, size_t *n);
/* The LVM logical volumes found, and the filesystem on each (type "" when
 * none was recognised). */
size_t dr_disk_lv_count(const struct dr_disk *d);
const struct dr_lv *dr_disk_lv(const struct dr_disk *d, size_t i);
const struct dr_fs_info *dr_disk_lv_fs(const struct dr_disk *d, size_t i);

struct dr_blockdev *dr_disk_blockdev(struct dr_disk *d);
const char *dr_disk_scheme(const struct dr_disk *d);
const struct dr_partition *dr_disk_partitions(const struct dr_disk *d, size_t *n);
/* The filesystem found on each partition (type "" when none), same order.
 * On a disk without a partition table, index 0 is the whole disk. */
const struct dr_fs_info *dr_disk_partition_fs(const struct dr_disk *d, size_t i);
const struct dr_mount *dr_disk_mounts(const struct dr_disk *d, size_t *n);
const struct dr_os_info *dr_disk_os(const struct dr_disk *d);
/*
 * Where mount i's filesystem lies (i < the n of dr_disk_mounts): its open
 * filesystem (NULL when it cannot be read) and its volume's byte offset and
 * length on dr_disk_blockdev(d), so that the fs's extents (offsets on its
 * own blockdev) can be placed on the disk. offset and size may be NULL;
 * NULL is returned for an i out of range. Borrowed until dr_disk_free.
 */
struct dr_fs *dr_disk_mount_fs(struct dr_disk *d, size_t i, uint64_t *offset, uint64_t *size);
/* The same for the filesystem an entry of dr_disk_tree(d) was read from;
 * NULL when e did not come from d's tree. */
struct dr_fs *dr_disk_entry_fs(struct dr_disk *d, const struct ut_entry *e, uint64_t *offset);

/*
 * The guest's whole tree: every mounted filesystem walked and merged at its
 * mount point, sorted. t->content reads file bytes from the disk. link_id
 * is unique across filesystems. With digests, every regular file is read
 * and hashed as well.
 */
int dr_disk_tree(struct dr_disk *d, int digests, struct ut_tree **out, struct ut_err *err);
/* Things dr_disk_open noticed but could live with, one line each: fstab
 * lines it could not resolve (/dev/mapper/..., another disk), mount points
 * whose filesystem it cannot read, journals replayed in memory or not
 * replayed (--no-replay). dr_disk_tree may add lines (an xfs log replayed
 * when libguestfs first mounts it). Borrowed until the next dr_disk_tree
 * or dr_disk_free. */
const char *const *dr_disk_warnings(const struct dr_disk *d, size_t *n);
/* Reads a small file by guest path ("etc/os-release"), following symlinks
 * inside the guest (never out of it), from the right mounted filesystem. */
int dr_disk_read_file(struct dr_disk *d, const char *path, struct ut_buf *b,
		      struct ut_err *err);

#ifdef __cplusplus
}
#endif
#endif
