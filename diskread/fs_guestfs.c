/*
 * fs_guestfs.c - filesystems libext2fs cannot read (xfs, btrfs), through
 * libguestfs.
 *
 * libguestfs cannot read through our struct dr_blockdev: it runs its own
 * qemu. So this backend finds the image the blockdev was cut from (the root
 * of bd->parent, with its format and the slice offset), adds that file
 * read-only, and mounts the partition that starts at the slice offset inside
 * the appliance, ro. Nothing of the guest runs: the appliance is libguestfs'
 * own kernel and daemon.
 *
 * A dirty xfs log (the VM was not shut down cleanly) is replayed, never
 * written to the image: a drive added with readonly=1 is backed inside the
 * appliance by a throw-away qcow2 overlay libguestfs makes over the image, so
 * the appliance's /dev/sda is writable and the kernel's log recovery, which
 * an xfs `ro` mount still runs on a writable device, writes only into that
 * overlay. The kernel's "Starting recovery" line in the appliance's dmesg
 * tells that it happened (fs->note). With DR_FS_NO_REPLAY the mount adds
 * norecovery: the stale on-disk state, as before.
 *
 * The appliance is launched lazily, on the first walk/lookup/read: probing
 * is a superblock read like every other backend, and `inspect` of a disk
 * with an xfs /home does not pay the launch (~30 s under TCG; the
 * environment's LIBGUESTFS_BACKEND_SETTINGS, e.g. force_tcg, is honoured).
 *
 * src_b is an index into the table of paths this backend has handed out
 * (libguestfs reads by path); link_id is the inode number, as elsewhere.
 * A filesystem on an LVM logical volume (read in-process by lvm.c) is
 * mounted as /dev/VG/LV: the appliance sees the whole disk and activates
 * the VG itself. Mount options from fstab that change what a mount shows (a
 * btrfs subvol=/subvolid=, vfat's uid/gid/umask) come in fs->mount_options.
 */
#include "dr_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <guestfs.h>

/* Names per lstatnslist/lxattrlist call: well inside the 4 MiB message
 * limit of the libguestfs protocol even with long names. */
#define GFS_BATCH 500
/* Bytes per pread call: the protocol caps a reply at 4 MiB. */
#define GFS_CHUNK (1u << 20)

struct gfs_priv {
	guestfs_h *g;
	int launched;
	char *image;        /* the top image file */
	char *format;       /* "raw", "qcow2", "vmdk" */
	uint64_t offset;    /* of the filesystem on the top image */
	char *lv_dev;       /* "/dev/VG/LV" for a filesystem on an LV, else NULL */
	char *first_error;  /* the first error libguestfs raised: the cause */
	char **paths;       /* src_b -> "/path" inside the appliance */
	size_t npaths, apaths;
};

struct gfs_file {
	size_t idx;
	uint64_t pos, size;
};

static const char *gfs_error(struct gfs_priv *p)
{
	const char *m = p->g ? guestfs_last_error(p->g) : NULL;

	return m ? m : "unknown libguestfs error";
}

/* ---- probe: superblocks only -------------------------------------------- */

static void fmt_uuid(const unsigned char *u, char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

static void copy_label(char *out, size_t outsz, const unsigned char *in, size_t inlen)
{
	size_t i;

	for (i = 0; i < inlen && i + 1 < outsz && in[i]; i++)
		out[i] = (char)in[i];
	out[i] = '\0';
}

/*
 * FAT12/16/32 and exFAT boot sectors: the volume serial is what fstab's
 * UUID=XXXX-XXXX names (as blkid prints it), the label the boot sector's
 * (exFAT keeps its label in the root directory: left empty).
 */
static int probe_fat(const unsigned char *sb, struct dr_fs_info *info)
{
	size_t serial_at, label_at;
	uint32_t serial;

	if (sb[510] != 0x55 || sb[511] != 0xaa)
		return 0;
	if (!memcmp(sb + 3, "EXFAT   ", 8)) {
		strcpy(info->type, "exfat");
		serial = ut_le32(sb + 100);
		snprintf(info->uuid, sizeof(info->uuid), "%04X-%04X", serial >> 16, serial & 0xffff);
		return 1;
	}
	if (!memcmp(sb + 82, "FAT32   ", 8)) {
		serial_at = 67;
		label_at = 71;
	} else if (!memcmp(sb + 54, "FAT16   ", 8) || !memcmp(sb + 54, "FAT12   ", 8)) {
		serial_at = 39;
		label_at = 43;
	} else {
		return 0;
	}
	strcpy(info->type, "vfat");
	serial = ut_le32(sb + serial_at);
	snprintf(info->uuid, sizeof(info->uuid), "%04X-%04X", serial >> 16, serial & 0xffff);
	copy_label(info->label, sizeof(info->label), sb + label_at, 11);
	{
		size_t l = strlen(info->label);

		while (l && info->label[l - 1] == ' ')
			info->label[--l] = '\0';
		if (!strcmp(info->label, "NO NAME"))
			info->label[0] = '\0';
	}
	return 1;
}

static int gfs_probe(struct dr_blockdev *bd, struct dr_fs_info *info, struct ut_err *err)
{
	unsigned char sb[512];

	if (bd->size >= sizeof(sb)) {
		if (dr_blockdev_pread(bd, sb, sizeof(sb), 0, err) < 0)
			return -1;
		if (probe_fat(sb, info))
			return 1;
	}
	if (bd->size < 0x10000 + 512)
		return 0;
	if (dr_blockdev_pread(bd, sb, sizeof(sb), 0, err) < 0)
		return -1;
	if (!memcmp(sb, "XFSB", 4)) {
		strcpy(info->type, "xfs");
		fmt_uuid(sb + 32, info->uuid);
		copy_label(info->label, sizeof(info->label), sb + 108, 12);
		return 1;
	}
	if (dr_blockdev_pread(bd, sb, sizeof(sb), 0x10000, err) < 0)
		return -1;
	if (!memcmp(sb + 0x40, "_BHRfS_M", 8)) {
		strcpy(info->type, "btrfs");
		fmt_uuid(sb + 0x20, info->uuid);
		copy_label(info->label, sizeof(info->label), sb + 0x12b, 256);
		return 1;
	}
	return 0;
}

/* ---- open: remember where; launch on first use -------------------------- */

static int gfs_open(struct dr_fs *fs, struct ut_err *err)
{
	struct gfs_priv *p;
	struct dr_blockdev *top = fs->bd;
	uint64_t offset = 0;
	const struct dr_lv *lv = dr_lvm_lv_of(top);

	while (top->parent) {
		offset += top->slice_off;
		top = top->parent;
	}
	/* qemu, which libguestfs runs, reads a differencing VHD as if it had
	 * no parent (and refuses a differencing VHDX): never let it. */
	if (top->backing && (!strcmp(top->ops->name, "vpc") || !strcmp(top->ops->name, "vhdx")))
		return ut_err_set(err, "%s: a %s filesystem on a differencing %s disk cannot be read through libguestfs (qemu ignores the parent); convert the chain to one image first",
				  top->path, fs->info.type, top->ops->name);
	p = ut_calloc(1, sizeof(*p));
	if (lv)
		p->lv_dev = ut_asprintf("/dev/%s/%s", lv->vg, lv->name);
	p->offset = offset;
	p->image = ut_strdup(top->path);
	p->format = ut_strdup(top->ops->name);
	fs->priv = p;
	return 0;
}

/* The options fstab gave this mount (a subvolume, vfat modes) after ours. */
static char *with_view_options(const struct dr_fs *fs, const char *base)
{
	if (!fs->mount_options)
		return ut_strdup(base);
	return ut_asprintf("%s,%s", base, fs->mount_options);
}

/* guestfs_launch's own error is a generic "see the debug log"; the first
 * error raised (qemu's complaint, a missing kernel) says what went wrong. */
static void keep_first_error(guestfs_h *g, void *opaque, const char *msg)
{
	struct gfs_priv *p = opaque;
	const char *generic = strstr(msg, " This usually means");

	(void)g;
	if (p->first_error)
		return;
	p->first_error = generic ? ut_strndup(msg, (size_t)(generic - msg)) : ut_strdup(msg);
}

/*
 * An appliance that does not start: one line naming the disk, libguestfs'
 * own reason (its last line, which says what failed), and the usual cure
 * where there is no usable KVM.
 */
static void launch_error(struct dr_fs *fs, struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	char *msg = ut_strdup(p->first_error ? p->first_error : gfs_error(p)), *q;
	size_t l = strlen(msg);

	while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
		msg[--l] = '\0';
	for (q = msg; *q; q++)
		if (*q == '\n' || *q == '\r' || *q == '\t')
			*q = ' ';
	ut_err_set(err, "%s: %s: the libguestfs appliance did not start: %.300s (without usable KVM, try LIBGUESTFS_BACKEND_SETTINGS=force_tcg)",
		   p->image, fs->info.type, msg);
	free(msg);
}

/* ---- dirty logs ---------------------------------------------------------- */

/* The mount options that decide whether a dirty log is replayed (into the
 * appliance's overlay) or read around. */
static const char *log_mount_options(const struct dr_fs *fs)
{
	if (!strcmp(fs->info.type, "xfs") && (fs->flags & DR_FS_NO_REPLAY))
		return "ro,norecovery";
	return "ro";
}

/* After the mount: did the appliance's kernel replay a log? It logs
 * "XFS (sda2): Starting recovery (logdev: internal)" when it does. A
 * norecovery mount cannot tell whether there was a log to replay, so
 * --no-replay always says what it may be missing. */
static void note_log_recovery(struct dr_fs *fs)
{
	struct gfs_priv *p = fs->priv;
	char *log;

	if (strcmp(fs->info.type, "xfs"))
		return;
	if (fs->flags & DR_FS_NO_REPLAY) {
		snprintf(fs->note, sizeof(fs->note),
			 "mounted with norecovery (--no-replay): a log left by an unclean shutdown is not replayed, so the latest changes may be missing");
		return;
	}
	log = guestfs_dmesg(p->g);
	if (log && strstr(log, "): Starting recovery"))
		snprintf(fs->note, sizeof(fs->note),
			 "the log needed recovery (the VM was not shut down cleanly): replayed by the libguestfs appliance into its throw-away overlay");
	free(log);
}

static int launch(struct dr_fs *fs, struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct guestfs_partition_list *pl = NULL;
	char **parts = NULL, *dev = NULL, *all_opts = NULL;
	const char *opts;
	size_t i;
	int ret = -1;

	if (p->launched)
		return 0;
	if (!p->g) {
		p->g = guestfs_create();
		if (!p->g)
			return ut_err_set(err, "%s: %s: cannot create a libguestfs handle",
					  fs->bd->path, fs->info.type);
		/* Library code does not print: errors come back in err. */
		guestfs_set_error_handler(p->g, keep_first_error, p);
	}
	if (guestfs_add_drive_opts(p->g, p->image, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
				   GUESTFS_ADD_DRIVE_OPTS_FORMAT, p->format, -1) < 0) {
		ut_err_set(err, "%s: %s: libguestfs: %s", fs->bd->path, fs->info.type,
			   gfs_error(p));
		goto out;
	}
	if (guestfs_launch(p->g) < 0) {
		/* "appliance did not start": callers (and tests) tell a machine
		 * without a working appliance from a bad image by it. */
		launch_error(fs, err);
		goto out;
	}
	if (p->lv_dev) {
		dev = ut_strdup(p->lv_dev);
	} else if (p->offset == 0) {
		dev = ut_strdup("/dev/sda");
	} else {
		pl = guestfs_part_list(p->g, "/dev/sda");
		parts = guestfs_list_partitions(p->g);
		if (!pl || !parts) {
			ut_err_set(err, "%s: %s: libguestfs: %s", fs->bd->path, fs->info.type,
				   gfs_error(p));
			goto out;
		}
		for (i = 0; i < pl->len && !dev; i++) {
			size_t k;

			if (pl->val[i].part_start != p->offset)
				continue;
			for (k = 0; parts[k] && !dev; k++)
				if (!strncmp(parts[k], "/dev/sda", 8) &&
				    guestfs_part_to_partnum(p->g, parts[k]) == pl->val[i].part_num)
					dev = ut_strdup(parts[k]);
		}
		if (!dev) {
			ut_err_set(err, "%s: %s: libguestfs sees no partition at offset %llu",
				   fs->bd->path, fs->info.type, (unsigned long long)p->offset);
			goto out;
		}
	}
	opts = all_opts = with_view_options(fs, log_mount_options(fs));
	if (guestfs_mount_options(p->g, opts, dev, "/") < 0) {
		ut_err_set(err, "%s: %s: cannot mount %s in the appliance: %s", fs->bd->path,
			   fs->info.type, dev, gfs_error(p));
		goto out;
	}
	note_log_recovery(fs);
	p->launched = 1;
	ret = 0;
out:
	if (parts) {
		for (i = 0; parts[i]; i++)
			free(parts[i]);
		free(parts);
	}
	guestfs_free_partition_list(pl);
	free(all_opts);
	free(dev);
	return ret;
}

static void gfs_close(struct dr_fs *fs)
{
	struct gfs_priv *p = fs->priv;
	size_t i;

	if (!p)
		return;
	if (p->g) {
		if (p->launched)
			guestfs_shutdown(p->g);
		guestfs_close(p->g);
	}
	for (i = 0; i < p->npaths; i++)
		free(p->paths[i]);
	free(p->paths);
	free(p->image);
	free(p->format);
	free(p->lv_dev);
	free(p->first_error);
	free(p);
	fs->priv = NULL;
}

static size_t add_path(struct gfs_priv *p, const char *abs)
{
	if (p->npaths == p->apaths) {
		p->apaths = p->apaths ? p->apaths * 2 : 1024;
		p->paths = ut_realloc(p->paths, p->apaths * sizeof(*p->paths));
	}
	p->paths[p->npaths] = ut_strdup(abs);
	return p->npaths++;
}

/* ---- entries ------------------------------------------------------------ */

static int fill_stat(struct dr_fs *fs, const struct guestfs_statns *st, struct ut_entry *e,
		     struct ut_err *err)
{
	switch (st->st_mode & 0170000) {
	case 0100000: e->type = UT_REG; break;
	case 0040000: e->type = UT_DIR; break;
	case 0120000: e->type = UT_LNK; break;
	case 0020000: e->type = UT_CHR; break;
	case 0060000: e->type = UT_BLK; break;
	case 0010000: e->type = UT_FIFO; break;
	case 0140000: e->type = UT_SOCK; break;
	default:
		return ut_err_set(err, "%s: %s: /%s has an invalid mode %#llo", fs->bd->path,
				  fs->info.type, e->path, (unsigned long long)st->st_mode);
	}
	e->mode = (uint32_t)st->st_mode & 07777;
	e->uid = (uint32_t)st->st_uid;
	e->gid = (uint32_t)st->st_gid;
	e->size = e->type == UT_REG || e->type == UT_LNK ? (uint64_t)st->st_size : 0;
	e->mtime_sec = st->st_mtime_sec;
	e->mtime_nsec = st->st_mtime_nsec >= 0 && st->st_mtime_nsec < 1000000000
				? (uint32_t)st->st_mtime_nsec : 0;
	if (e->type == UT_CHR || e->type == UT_BLK) {
		e->rdev_major = major((dev_t)st->st_rdev);
		e->rdev_minor = minor((dev_t)st->st_rdev);
	}
	e->nlink = (uint32_t)st->st_nlink;
	e->link_id = (uint64_t)st->st_ino;
	return 0;
}

static void add_xattrs(struct ut_entry *e, const struct guestfs_xattr *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ut_entry_add_xattr(e, x[i].attrname, x[i].attrval, x[i].attrval_len);
	ut_entry_sort_xattrs(e);
}

static char *abs_path(const char *rel)
{
	return ut_asprintf("/%s", rel);
}

static int gfs_lookup(struct dr_fs *fs, const char *path, struct ut_entry *e, struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct guestfs_statns *st;
	struct guestfs_xattr_list *xl;
	char *abs;
	int ret = -1;

	if (launch(fs, err) < 0)
		return -1;
	while (*path == '/')
		path++;
	abs = abs_path(path);
	memset(e, 0, sizeof(*e));
	e->path = ut_strdup(path);
	st = guestfs_lstatns(p->g, abs);
	if (!st) {
		int en = guestfs_last_errno(p->g);

		if (en == ENOENT || en == ENOTDIR)
			ret = 0;
		else
			ut_err_set(err, "%s: %s: /%s: %s", fs->bd->path, fs->info.type, path,
				   gfs_error(p));
		goto out;
	}
	ret = fill_stat(fs, st, e, err);
	guestfs_free_statns(st);
	if (ret < 0)
		goto out;
	ret = -1;
	if (e->type == UT_LNK) {
		e->link = guestfs_readlink(p->g, abs);
		if (!e->link) {
			ut_err_set(err, "%s: %s: /%s: %s", fs->bd->path, fs->info.type, path,
				   gfs_error(p));
			goto out;
		}
	}
	xl = guestfs_lgetxattrs(p->g, abs);
	if (!xl) {
		ut_err_set(err, "%s: %s: /%s: xattrs: %s", fs->bd->path, fs->info.type, path,
			   gfs_error(p));
		goto out;
	}
	add_xattrs(e, xl->val, xl->len);
	guestfs_free_xattr_list(xl);
	e->src_b = add_path(p, abs);
	ret = 1;
out:
	free(abs);
	if (ret != 1)
		ut_entry_release(e);
	return ret;
}

/*
 * One batch of entries of one directory: full[i] is the path relative to the
 * root, base[i] its last component (the *list calls take names within one
 * directory). Stat, links, xattrs, then cb.
 */
static int walk_batch(struct dr_fs *fs, const char *dir, char **full, char **base, size_t n,
		      int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct guestfs_statns_list *sl = NULL;
	struct guestfs_xattr_list *xl = NULL;
	char **links = NULL, **names = base;
	char *adir = abs_path(dir);
	size_t i, xi = 0;
	int ret = -1;

	names[n] = NULL;
	sl = guestfs_lstatnslist(p->g, adir, names);
	xl = sl ? guestfs_lxattrlist(p->g, adir, names) : NULL;
	links = xl ? guestfs_readlinklist(p->g, adir, names) : NULL;
	if (!sl || !xl || !links) {
		ut_err_set(err, "%s: %s: walk: %s", fs->bd->path, fs->info.type, gfs_error(p));
		goto out;
	}
	if (sl->len != n) {
		ut_err_set(err, "%s: %s: walk: libguestfs answered %u stats for %zu names",
			   fs->bd->path, fs->info.type, sl->len, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct ut_entry e = { 0 };
		size_t cnt;
		char *abs;
		int r;

		e.path = ut_strdup(full[i]);
		if (fill_stat(fs, &sl->val[i], &e, err) < 0) {
			ut_entry_release(&e);
			goto out;
		}
		if (!links[i]) {
			ut_entry_release(&e);
			ut_err_set(err, "%s: %s: walk: short readlink list", fs->bd->path,
				   fs->info.type);
			goto out;
		}
		if (e.type == UT_LNK)
			e.link = ut_strdup(links[i]);
		/* lxattrlist: per name, a header with attrname "" and the count
		 * as its value, then that many attributes. */
		if (xi >= xl->len || xl->val[xi].attrname[0]) {
			ut_entry_release(&e);
			ut_err_set(err, "%s: %s: walk: malformed xattr list", fs->bd->path,
				   fs->info.type);
			goto out;
		}
		{
			char num[32];
			size_t l = xl->val[xi].attrval_len < sizeof(num) - 1
					   ? xl->val[xi].attrval_len : sizeof(num) - 1;

			memcpy(num, xl->val[xi].attrval, l);
			num[l] = '\0';
			cnt = strtoul(num, NULL, 10);
		}
		xi++;
		if (cnt > xl->len - xi) {
			ut_entry_release(&e);
			ut_err_set(err, "%s: %s: walk: malformed xattr list", fs->bd->path,
				   fs->info.type);
			goto out;
		}
		add_xattrs(&e, xl->val + xi, cnt);
		xi += cnt;
		abs = abs_path(full[i]);
		e.src_b = add_path(p, abs);
		free(abs);
		r = cb(ctx, &e);
		ut_entry_release(&e);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	if (links) {
		for (i = 0; links[i]; i++)
			free(links[i]);
		free(links);
	}
	guestfs_free_xattr_list(xl);
	guestfs_free_statns_list(sl);
	free(adir);
	return ret;
}

/* Groups paths by parent directory (then by name). */
static int by_parent(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = ut_path_parent_len(x), ly = ut_path_parent_len(y);
	int c;

	c = strncmp(x, y, lx < ly ? lx : ly);
	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x, y);
}

static int gfs_walk(struct dr_fs *fs, int (*cb)(void *ctx, struct ut_entry *e), void *ctx,
		    struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct ut_entry root = { 0 };
	struct ut_buf list;
	char tmpl[4096], **all = NULL, **full = NULL, **base = NULL;
	size_t off, n = 0, nall = 0, aall = 0, i;
	int fd, r, ret = -1;

	ut_buf_init(&list, 0);
	r = gfs_lookup(fs, "", &root, err);
	if (r <= 0) {
		if (r == 0)
			ut_err_set(err, "%s: %s: no root directory", fs->bd->path, fs->info.type);
		return -1;
	}
	r = cb(ctx, &root);
	ut_entry_release(&root);
	if (r < 0)
		return -1;
	/* find0 writes to a host file; a private temporary one, gone after. */
	snprintf(tmpl, sizeof(tmpl), "%s/vm2oci-find0-XXXXXX", fs->tmpdir ? fs->tmpdir : "/tmp");
	fd = mkstemp(tmpl);
	if (fd < 0)
		return ut_err_set(err, "%s: cannot create a temporary file: %s", tmpl,
				  strerror(errno));
	close(fd);
	if (guestfs_find0(p->g, "/", tmpl) < 0) {
		ut_err_set(err, "%s: %s: find0: %s", fs->bd->path, fs->info.type, gfs_error(p));
		goto out;
	}
	if (ut_read_host_file(tmpl, &list, err) < 0)
		goto out;
	for (off = 0; off < list.len;) {
		size_t l = strnlen((char *)list.data + off, list.len - off);

		if (l) {
			if (nall == aall) {
				aall = aall ? aall * 2 : 4096;
				all = ut_realloc(all, aall * sizeof(*all));
			}
			all[nall++] = (char *)list.data + off;
		}
		off += l + 1;
	}
	if (nall)
		qsort(all, nall, sizeof(*all), by_parent);
	full = ut_calloc(GFS_BATCH + 1, sizeof(*full));
	base = ut_calloc(GFS_BATCH + 1, sizeof(*base));
	for (i = 0; i < nall; i++) {
		size_t pl = ut_path_parent_len(all[i]);

		full[n] = all[i];
		base[n] = all[i] + (pl ? pl + 1 : 0);
		n++;
		if (n == GFS_BATCH || i + 1 == nall || ut_path_parent_len(all[i + 1]) != pl ||
		    strncmp(all[i + 1], all[i], pl)) {
			char *parent = ut_strndup(all[i], pl);

			r = walk_batch(fs, parent, full, base, n, cb, ctx, err);
			free(parent);
			if (r < 0)
				goto out;
			n = 0;
		}
	}
	ret = 0;
out:
	unlink(tmpl);
	free(all);
	free(full);
	free(base);
	ut_buf_release(&list);
	return ret;
}

/* ---- content ------------------------------------------------------------ */

static int gfs_open_file(struct dr_fs *fs, uint64_t src_b, void **handle, struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct guestfs_statns *st;
	struct gfs_file *f;

	if (launch(fs, err) < 0)
		return -1;
	if (src_b >= p->npaths)
		return ut_err_set(err, "%s: %s: no file #%llu", fs->bd->path, fs->info.type,
				  (unsigned long long)src_b);
	st = guestfs_lstatns(p->g, p->paths[src_b]);
	if (!st)
		return ut_err_set(err, "%s: %s: %s: %s", fs->bd->path, fs->info.type,
				  p->paths[src_b], gfs_error(p));
	f = ut_calloc(1, sizeof(*f));
	f->idx = (size_t)src_b;
	f->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
	guestfs_free_statns(st);
	*handle = f;
	return 0;
}

static ssize_t gfs_read_file(struct dr_fs *fs, void *handle, void *buf, size_t len,
			     struct ut_err *err)
{
	struct gfs_priv *p = fs->priv;
	struct gfs_file *f = handle;
	size_t got = 0;
	char *data;

	if (len > GFS_CHUNK)
		len = GFS_CHUNK;
	if (len > f->size - f->pos)
		len = (size_t)(f->size - f->pos);
	if (!len)
		return 0;
	data = guestfs_pread(p->g, p->paths[f->idx], (int)len, (int64_t)f->pos, &got);
	if (!data)
		return ut_err_set(err, "%s: %s: %s: %s", fs->bd->path, fs->info.type,
				  p->paths[f->idx], gfs_error(p));
	if (got > len)
		got = len;
	memcpy(buf, data, got);
	free(data);
	if (!got)
		return ut_err_set(err, "%s: %s: %s: shorter than its size", fs->bd->path,
				  fs->info.type, p->paths[f->idx]);
	f->pos += got;
	return (ssize_t)got;
}

static void gfs_close_file(struct dr_fs *fs, void *handle)
{
	free(handle);
}

const struct dr_fs_ops dr_guestfs_ops = {
	.name = "guestfs",
	.probe = gfs_probe,
	.open = gfs_open,
	.walk = gfs_walk,
	.open_file = gfs_open_file,
	.read_file = gfs_read_file,
	.close_file = gfs_close_file,
	.lookup = gfs_lookup,
	.close = gfs_close,
};
