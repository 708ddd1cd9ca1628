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

/* A read-only device. The backends and the struct's layout are internal
 * (dr_internal.h); callers use the functions below. */
struct dr_blockdev;

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
/* Virtual size in bytes. */
uint64_t dr_blockdev_size(const struct dr_blockdev *bd);
/* The path as given to dr_blockdev_open (or as a backing file was named,
 * resolved), for messages. Borrowed until dr_blockdev_free. */
const char *dr_blockdev_path(const struct dr_blockdev *bd);
/* The next image of the backing chain, NULL at its end. Borrowed: freed
 * with bd. */
struct dr_blockdev *dr_blockdev_backing(const struct dr_blockdev *bd);
/* The whole device a slice (partition) was cut from, or bd itself. */
struct dr_blockdev *dr_blockdev_whole(struct dr_blockdev *bd);
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

/* Read a journal or log that needs recovery as it lies on the disk (stale)
 * instead of replaying it in memory (ext3/4) or in libguestfs' overlay (xfs). */
#define DR_FS_NO_REPLAY 0x1u

int dr_fs_open(struct dr_blockdev *bd, struct dr_fs **out, struct ut_err *err);
/* dr_fs_open with DR_FS_* flags. An ext3/4 journal that needs recovery is
 * replayed in memory unless DR_FS_NO_REPLAY; one that cannot be (corrupt, an
 * external journal device, an unknown feature) fails the open. */
int dr_fs_open_flags(struct dr_blockdev *bd, unsigned flags, struct dr_fs **out,
		     struct ut_err *err);
void dr_fs_free(struct dr_fs *fs);
/* What the probe found: type, uuid, label. Borrowed until dr_fs_free. */
const struct dr_fs_info *dr_fs_info(const struct dr_fs *fs);
/* The device the filesystem lies on (borrowed). */
struct dr_blockdev *dr_fs_blockdev(const struct dr_fs *fs);
/* What the backend did that the user should hear (a journal replayed), one
 * line without the device; "" when nothing. Borrowed until the next call. */
const char *dr_fs_note(const struct dr_fs *fs);
/*
 * fs->ops->walk, with the bound every caller needs: a regular file whose
 * apparent size is above max_file_size (0: the size of fs's device) stops
 * the walk with an error naming it, mountpoint ("" for /) prefixed to its
 * path. A crafted inode may claim 2^60 bytes that all read as zeros.
 */
int dr_fs_walk(struct dr_fs *fs, uint64_t max_file_size, const char *mountpoint,
	       int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err);
/* Looks up one path (no symlinks followed) and fills e; 1 found, 0 not. */
int dr_fs_lookup(struct dr_fs *fs, const char *path, struct ut_entry *e, struct ut_err *err);
/* Content of a regular file by the src_b its walk gave: open, read until
 * 0 (end) or -1, close. */
int dr_fs_open_file(struct dr_fs *fs, uint64_t src_b, void **handle, struct ut_err *err);
ssize_t dr_fs_read_file(struct dr_fs *fs, void *handle, void *buf, size_t len,
			struct ut_err *err);
void dr_fs_close_file(struct dr_fs *fs, void *handle);
/* 1 when this filesystem can list a file's physical extents, 0 when not. */
int dr_fs_has_extents(const struct dr_fs *fs);
/* The physical byte extents of a file on dr_fs_blockdev(fs), in order; an
 * error when !dr_fs_has_extents(fs). */
int dr_fs_extents(struct dr_fs *fs, uint64_t src_b,
		  int (*cb)(void *ctx, uint64_t logical, uint64_t physical, uint64_t len),
		  void *ctx, struct ut_err *err);
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

/*
 * ext2/3/4 only, for the block strategy: the libext2fs handle (an
 * ext2_filsys) of an open filesystem, NULL for other backends; borrowed
 * until dr_fs_free. Read-only use.
 */
void *dr_fs_ext2_handle(struct dr_fs *fs);
/*
 * ext2/3/4 only: calls cb with the entry of inode ino at path (relative to
 * the filesystem root) and, when recursive and ino is a directory, with
 * everything under it, exactly as the walk fills entries (link_id and src_b
 * are the inode number). The entry is borrowed for the call (ut_tree_take).
 */
int dr_fs_ext2_walk_from(struct dr_fs *fs, uint64_t ino, const char *path, int recursive,
			 int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err);

/* ---- the guest as a whole ----------------------------------------------- */

struct dr_mount {
	char *mountpoint;   /* "" for /, "boot", "var", ... (tree-relative) */
	char *spec;         /* as fstab says: "UUID=...", "/dev/sda5", ... */
	int partition;      /* partition number, 0 when the disk has none or an LV */
	int disk;           /* which disk: 0 the first, 1 the first of more_disks, ... */
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

/* One more disk of the same guest: its path and format (NULL: probe). */
struct dr_disk_ref {
	const char *path;
	const char *format;
};

struct dr_disk_options {
	const char *format; /* NULL: probe */
	/* Where scratch files go (libguestfs' file list); NULL: /tmp. The
	 * library never reads the environment: the caller decides. */
	const char *tmpdir;
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
	/* The guest's other disks, in the guest's order (the second disk is
	 * vdb/sdb, the third vdc/sdc...): their partitions, filesystems and LVM
	 * volumes join the first disk's, so an fstab line on the root (UUID=,
	 * LABEL=, /dev/vdb1, an LV spanning both) mounts them. Each is opened
	 * with the same policy. Strings are borrowed for the open only. */
	const struct dr_disk_ref *more_disks;
	size_t nmore_disks;
};

/* Opens the image, reads the partition table, finds the root filesystem
 * (the one with etc/fstab or etc/os-release and bin or usr), assembles the
 * mount plan from its fstab, and reads the OS identity. */
int dr_disk_open(const char *path, const struct dr_disk_options *opt, struct dr_disk **out,
		 struct ut_err *err);
void dr_disk_free(struct dr_disk *d);
/* How many disks the guest was opened from: 1 + more_disks. */
size_t dr_disk_count(const struct dr_disk *d);
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
 * filesystem (NULL when it cannot be read, or when it lies on another disk
 * than the first) and its volume's byte offset and
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
/* The bound dr_disk_tree's walks apply to regular files' apparent sizes
 * (dr_disk_options.max_file_size; 0: each filesystem's device size). */
uint64_t dr_disk_max_file_size(const struct dr_disk *d);
/* The content source dr_disk_tree gives its tree (entries name their volume
 * in src_a and the inode in src_b), for trees assembled elsewhere. */
void dr_disk_content(struct dr_disk *d, struct ut_content *out);
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
