/*
 * disk.c - the guest as a whole: partitions, the filesystem on each, the
 * root, the mount plan from its /etc/fstab, the OS identity, and one merged
 * tree of every mounted filesystem.
 *
 * Guest paths are resolved here component by component across mount points,
 * with symlinks followed relative to the guest's root (never the host's), so
 * "/etc/os-release -> ../usr/lib/os-release" on a separate /usr still reads
 * the right filesystem.
 */
#include "dr_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DISK_SMALL_FILE (1u << 20) /* fstab, os-release, hostname */

/* One place a filesystem may live: a partition, or the whole disk. */
struct vol {
	int partno;                  /* 0: the whole disk */
	const struct dr_partition *part; /* NULL for the whole disk */
	struct dr_blockdev *bd;      /* a slice we own, or d->bd */
	struct dr_fs_info info;      /* type "" when nothing was recognised */
	int readable;                /* a backend of ours recognised it */
	struct dr_fs *fs;            /* open when readable and openable */
	char *open_error;            /* why fs is NULL although readable */
	size_t lv;                   /* index in d->lvm, for an LV */
	int is_lv;
	size_t disk;                 /* 0: d->bd; k: d->more[k - 1] */
};

/* One of the guest's other disks (dr_disk_options.more_disks). */
struct more_disk {
	struct dr_blockdev *bd;
	struct dr_partition *parts;
	size_t nparts;
	const char *scheme;
};

/* An fstab line for a local filesystem that cannot be read. */
struct problem {
	char *mountpoint;            /* tree-relative */
	char *spec;
	char *why;
};

struct dr_disk {
	struct dr_blockdev *bd;
	struct dr_disk_options opt;
	const char *scheme;
	struct dr_partition *parts;
	size_t nparts;
	struct dr_fs_info *part_fs;  /* per partition, same order */
	struct more_disk *more;      /* the guest's other disks */
	size_t nmore;
	struct vol *vols;
	size_t nvols;
	struct dr_mount *mounts;
	size_t *mount_vol;           /* vols index of each mount */
	struct dr_fs **mount_own;    /* per mount: an fs opened with its options, or NULL */
	size_t nmounts;
	struct dr_lvm *lvm;
	struct problem *problems;
	size_t nproblems;
	char **skipped;              /* "/srv/data" */
	size_t nskipped;
	char **warnings;
	size_t nwarnings;
	struct dr_os_info os;
};

static void warn(struct dr_disk *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct dr_disk *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->warnings = ut_realloc(d->warnings, (d->nwarnings + 1) * sizeof(*d->warnings));
	d->warnings[d->nwarnings++] = ut_strdup(msg);
}

/* ---- recognising what we cannot read ------------------------------------ */

/*
 * Signatures of filesystems and containers vm2oci has no reader for, so that
 * messages and `inspect` can say "xfs on partition 3" rather than nothing.
 */
static void sniff(struct dr_blockdev *bd, struct dr_fs_info *info)
{
	static const struct {
		const char *type;
		uint64_t off;
		const char *magic;
		size_t len;
	} sigs[] = {
		{ "xfs", 0, "XFSB", 4 },
		{ "btrfs", 0x10040, "_BHRfS_M", 8 },
		{ "swap", 4086, "SWAPSPACE2", 10 },
		{ "swap", 65526, "SWAPSPACE2", 10 },
		{ "LVM2_member", 536, "LVM2 001", 8 },
		{ "crypto_LUKS", 0, "LUKS\xba\xbe", 6 },
		{ "vfat", 82, "FAT32   ", 8 },
		{ "vfat", 54, "FAT16   ", 8 },
		{ "vfat", 54, "FAT12   ", 8 },
		{ "iso9660", 32769, "CD001", 5 },
		{ "squashfs", 0, "hsqs", 4 },
		{ "f2fs", 1024, "\x10\x20\xf5\xf2", 4 },
	};
	unsigned char buf[16];
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigs[i].off + sigs[i].len > bd->size)
			continue;
		if (dr_blockdev_pread(bd, buf, sigs[i].len, sigs[i].off, NULL) < 0)
			continue;
		if (!memcmp(buf, sigs[i].magic, sigs[i].len)) {
			snprintf(info->type, sizeof(info->type), "%s", sigs[i].type);
			return;
		}
	}
}

static void vol_where(const struct dr_disk *d, const struct vol *v, char *out, size_t len)
{
	if (v->disk && !v->is_lv) {
		const char *path = dr_blockdev_path(d->more[v->disk - 1].bd);

		if (v->partno)
			snprintf(out, len, "partition %d of disk %zu (%s)", v->partno, v->disk + 1,
				 path);
		else
			snprintf(out, len, "disk %zu (%s)", v->disk + 1, path);
	} else if (v->is_lv)
		snprintf(out, len, "LV %s/%s", dr_lvm_lv(d->lvm, v->lv)->vg,
			 dr_lvm_lv(d->lvm, v->lv)->name);
	else if (v->partno)
		snprintf(out, len, "partition %d", v->partno);
	else
		snprintf(out, len, "the whole disk");
}

/* ---- guest paths -------------------------------------------------------- */

/* The filesystem mount m shows: its own (mounted with options, as a btrfs
 * subvolume) or its volume's. */
static struct dr_fs *mount_fs(const struct dr_disk *d, size_t m)
{
	return d->mount_own[m] ? d->mount_own[m] : d->vols[d->mount_vol[m]].fs;
}

/* The mount that holds guest path p: the deepest mountpoint above it. */
static size_t mount_for(const struct dr_disk *d, const char *p, const char **rel)
{
	size_t i, best = 0, bestlen = 0;

	for (i = 0; i < d->nmounts; i++) {
		const char *mp = d->mounts[i].mountpoint;
		size_t l = strlen(mp);

		if (i && ut_path_is_under(p, mp) && l >= bestlen) {
			best = i;
			bestlen = l;
		}
	}
	*rel = p + bestlen;
	while (**rel == '/')
		(*rel)++;
	return best;
}

/* What guest path rel is, from the filesystem mounted there. */
static int guest_lookup(void *ctx, const char *path, enum ut_ftype *type, char **link,
			struct ut_err *err)
{
	struct dr_disk *d = ctx;
	struct ut_entry e = { 0 };
	const char *rel;
	size_t m = mount_for(d, path, &rel);
	struct vol *v = &d->vols[d->mount_vol[m]];
	struct dr_fs *fs = mount_fs(d, m);
	int f;

	if (!fs)
		return ut_err_set(err, "%s: /%s: %s on %s cannot be read", d->bd->path, path,
				  v->info.type, d->mounts[m].mountpoint);
	f = fs->ops->lookup(fs, rel, &e, err);
	if (f == 1) {
		*type = e.type;
		if (e.type == UT_LNK)
			*link = ut_strdup(e.link);
	}
	ut_entry_release(&e);
	return f;
}

/*
 * Resolves a guest path to (mount, entry), symlinks followed inside the
 * guest. Returns 1 found, 0 not found, -1 error. e->path is the resolved
 * guest path.
 */
static int resolve(struct dr_disk *d, const char *path, size_t *mount, struct ut_entry *out,
		   struct ut_err *err)
{
	const char *rel;
	char *res = NULL;
	struct vol *v;
	size_t m;
	int r;

	if (!d->nmounts)
		return ut_err_set(err, "%s: no root filesystem", d->bd->path);
	r = ut_guest_resolve(path, guest_lookup, d, &res, err);
	/* The resolver's own reasons (symlink loops) start with the guest
	 * path; the backends' already name the image. */
	if (r < 0 && err && err->msg[0] == '/')
		ut_err_prefix(err, "%s: ", d->bd->path);
	if (r <= 0)
		goto out;
	m = mount_for(d, res, &rel);
	v = &d->vols[d->mount_vol[m]];
	if (!mount_fs(d, m)) {
		r = ut_err_set(err, "%s: /%s: %s cannot be read", d->bd->path, res, v->info.type);
		goto out;
	}
	r = mount_fs(d, m)->ops->lookup(mount_fs(d, m), rel, out, err);
	if (r == 1) {
		free(out->path);
		out->path = res;
		res = NULL;
		*mount = m;
	}
out:
	free(res);
	return r;
}

int dr_disk_read_file(struct dr_disk *d, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct ut_entry e = { 0 };
	size_t m;
	int r, ret = -1;

	r = resolve(d, path, &m, &e, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return ut_err_set(err, "%s: /%s: no such file in the guest", d->bd->path, path);
	if (e.type != UT_REG) {
		ut_err_set(err, "%s: /%s: not a regular file (%s)", d->bd->path, path,
			   ut_ftype_name(e.type));
		goto out;
	}
	if (b->cap && e.size > b->cap) {
		ut_err_set(err, "%s: /%s: %llu bytes, more than the %zu allowed", d->bd->path, path,
			   (unsigned long long)e.size, b->cap);
		goto out;
	}
	if (dr_fs_read_entry(mount_fs(d, m), &e, b, 0, err) < 0) {
		dr_err_at_path(err, mount_fs(d, m)->bd->path, path);
		goto out;
	}
	ret = 0;
out:
	ut_entry_release(&e);
	return ret;
}

/* 1 when the guest has path (symlinks followed), 0 when not. */
static int guest_has(struct dr_disk *d, const char *path)
{
	struct ut_entry e = { 0 };
	size_t m;
	int r = resolve(d, path, &m, &e, NULL);

	ut_entry_release(&e);
	return r == 1;
}

/* ---- fstab -------------------------------------------------------------- */

/* fstab escapes spaces and the like as \040 (octal). */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* "/var//log/" -> "var/log"; NULL when it is not absolute or has "..". */
static char *norm_mountpoint(const char *mp)
{
	struct ut_buf b;
	const char *p = mp;

	if (mp[0] != '/')
		return NULL;
	ut_buf_init(&b, 4096);
	while (*p) {
		size_t l;

		while (*p == '/')
			p++;
		l = strcspn(p, "/");
		if (!l)
			break;
		if ((l == 2 && !strncmp(p, "..", 2))) {
			ut_buf_release(&b);
			return NULL;
		}
		if (!(l == 1 && p[0] == '.')) {
			if (b.len && ut_buf_add(&b, "/", 1, NULL) < 0)
				goto bad;
			if (ut_buf_add(&b, p, l, NULL) < 0)
				goto bad;
		}
		p += l;
	}
	if (!b.data)
		return ut_strdup("");
	return ut_buf_detach(&b, NULL);
bad:
	ut_buf_release(&b);
	return NULL;
}

static int streq_ci(const char *a, const char *b)
{
	return !strcasecmp(a, b);
}

/* Index in d->vols of the volume an fstab spec names, or -1. */
static long resolve_spec(struct dr_disk *d, const char *spec)
{
	static const struct {
		const char *prefix;
		int kind; /* 0 uuid, 1 label, 2 partuuid, 3 partlabel */
	} tags[] = {
		{ "UUID=", 0 }, { "LABEL=", 1 }, { "PARTUUID=", 2 }, { "PARTLABEL=", 3 },
		{ "/dev/disk/by-uuid/", 0 }, { "/dev/disk/by-label/", 1 },
		{ "/dev/disk/by-partuuid/", 2 }, { "/dev/disk/by-partlabel/", 3 },
	};
	size_t i, k;
	const char *val = NULL;
	int kind = -1, num = -1;
	size_t disk = 0; /* which disk a kernel name is on */

	for (k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
		size_t l = strlen(tags[k].prefix);

		if (!strncmp(spec, tags[k].prefix, l)) {
			val = spec + l;
			kind = tags[k].kind;
			break;
		}
	}
	if (val) {
		char buf[256];

		/* UUID="..." is accepted by mount(8) too. */
		snprintf(buf, sizeof(buf), "%s", val);
		if (buf[0] == '"' && strlen(buf) >= 2 && buf[strlen(buf) - 1] == '"') {
			memmove(buf, buf + 1, strlen(buf));
			buf[strlen(buf) - 1] = '\0';
		}
		for (i = 0; i < d->nvols; i++) {
			const struct vol *v = &d->vols[i];

			if ((kind == 0 && v->info.uuid[0] && streq_ci(v->info.uuid, buf)) ||
			    (kind == 1 && v->info.label[0] && !strcmp(v->info.label, buf)) ||
			    (kind == 2 && v->part && v->part->part_uuid[0] &&
			     streq_ci(v->part->part_uuid, buf)) ||
			    (kind == 3 && v->part && v->part->name[0] && !strcmp(v->part->name, buf)))
				return (long)i;
		}
		return -1;
	}
	/* LVM: /dev/VG/LV, and /dev/mapper/VG-LV with a dash in a name
	 * doubled. */
	if (!strncmp(spec, "/dev/", 5)) {
		for (i = 0; i < d->nvols; i++) {
			const struct dr_lv *lv;
			char name[600];
			const char *n;
			size_t o = 0;

			if (!d->vols[i].is_lv)
				continue;
			lv = dr_lvm_lv(d->lvm, d->vols[i].lv);
			snprintf(name, sizeof(name), "/dev/%s/%s", lv->vg, lv->name);
			if (!strcmp(spec, name))
				return (long)i;
			o = (size_t)snprintf(name, sizeof(name), "/dev/mapper/");
			for (n = lv->vg; *n && o + 3 < sizeof(name); n++) {
				name[o++] = *n;
				if (*n == '-')
					name[o++] = '-';
			}
			name[o++] = '-';
			for (n = lv->name; *n && o + 3 < sizeof(name); n++) {
				name[o++] = *n;
				if (*n == '-')
					name[o++] = '-';
			}
			name[o] = '\0';
			if (!strcmp(spec, name))
				return (long)i;
		}
	}
	/* Kernel names of partitions: sda5, vda1, xvda2, hda1, nvme0n1p2,
	 * mmcblk0p1. The letter is the disk in the guest's order (a: the
	 * first, b: the first of more_disks); vdb alone is that whole disk. */
	{
		static const char *const dev_prefixes[] = { "/dev/sd", "/dev/vd", "/dev/hd",
							    "/dev/xvd" };
		const char *p = NULL;

		for (k = 0; k < sizeof(dev_prefixes) / sizeof(dev_prefixes[0]); k++) {
			size_t l = strlen(dev_prefixes[k]);

			if (!strncmp(spec, dev_prefixes[k], l) && islower((unsigned char)spec[l])) {
				p = spec + l;
				disk = (size_t)(*p - 'a');
				while (islower((unsigned char)*p))
					p++;
				if (p - (spec + l) > 1)
					disk = 0; /* sdaa...: not told apart */
				break;
			}
		}
		if (p && !*p && disk && disk <= d->nmore) {
			for (i = 0; i < d->nvols; i++)
				if (d->vols[i].disk == disk && !d->vols[i].partno &&
				    !d->vols[i].is_lv)
					return (long)i;
			return -1;
		}
		if (!p && (!strncmp(spec, "/dev/nvme", 9) || !strncmp(spec, "/dev/mmcblk", 11))) {
			const char *q = strrchr(spec, 'p');

			if (q && q > spec + 9 && isdigit((unsigned char)q[-1]))
				p = q + 1;
		}
		if (p && *p && strspn(p, "0123456789") == strlen(p) && strlen(p) < 4)
			num = atoi(p);
	}
	if (num > 0) {
		for (i = 0; i < d->nvols; i++)
			if (d->vols[i].partno == num && d->vols[i].disk == disk)
				return (long)i;
	}
	return -1;
}

/* Not a local filesystem: swap, pseudo filesystems, network and cluster
 * filesystems. Everything else fstab mounts is read or named. */
static int skip_fstype(const char *type)
{
	static const char *const skip[] = {
		"swap", "none", "proc", "sysfs", "tmpfs", "devpts", "devtmpfs", "cgroup", "cgroup2",
		"debugfs", "securityfs", "efivarfs", "binfmt_misc", "hugetlbfs", "mqueue",
		"configfs", "pstore", "bpf", "tracefs", "autofs", "rpc_pipefs", "nfsd", "overlay",
		"ramfs", "fusectl", "selinuxfs", "usbfs", "nsfs", "devfs",
		/* network and cluster */
		"nfs", "nfs3", "nfs4", "cifs", "smbfs", "smb3", "sshfs", "fuse.sshfs", "glusterfs",
		"fuse.glusterfs", "ceph", "fuse.ceph", "cephfs", "lustre", "9p", "virtiofs",
		"davfs", "fuse.s3fs", "fuse.rclone", "afs", "ncpfs", "gfs2", "ocfs2", "fuse",
	};
	size_t i;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strcmp(type, skip[i]))
			return 1;
	return 0;
}

static int has_option(const char *opts, const char *name)
{
	size_t l = strlen(name);
	const char *p = opts;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n == l && !strncmp(p, name, l))
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/*
 * The fstab options that change what a mount shows, for the backends that
 * mount (libguestfs): which btrfs subvolume, and the owner and modes vfat
 * and exfat give their files. NULL when there are none.
 */
static char *view_options(const char *type, const char *opts)
{
	static const char *const btrfs_keep[] = { "subvol=", "subvolid=" };
	static const char *const fat_keep[] = { "uid=", "gid=", "umask=", "fmask=", "dmask=" };
	const char *const *keep = NULL;
	size_t nkeep = 0, k;
	struct ut_buf b;
	const char *p = opts;

	if (!strcmp(type, "btrfs")) {
		keep = btrfs_keep;
		nkeep = sizeof(btrfs_keep) / sizeof(btrfs_keep[0]);
	} else if (!strcmp(type, "vfat") || !strcmp(type, "exfat") || !strcmp(type, "msdos")) {
		keep = fat_keep;
		nkeep = sizeof(fat_keep) / sizeof(fat_keep[0]);
	}
	ut_buf_init(&b, 0);
	while (keep && p && *p) {
		size_t n = strcspn(p, ",");

		for (k = 0; k < nkeep; k++) {
			size_t kl = strlen(keep[k]);

			/* Values are passed to a mount: no separators in them. */
			if (n > kl && !strncmp(p, keep[k], kl) && !memchr(p, ' ', n)) {
				if (b.len)
					ut_buf_add(&b, ",", 1, NULL);
				ut_buf_add(&b, p, n, NULL);
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (!b.len)
		return NULL;
	ut_buf_add(&b, "", 1, NULL);
	return (char *)ut_buf_detach(&b, NULL);
}

static void add_mount(struct dr_disk *d, const char *mp, const char *spec, size_t vi,
		      const char *options)
{
	const struct vol *v = &d->vols[vi];
	struct dr_mount *m = NULL;
	size_t i;

	/* A later line for the same mount point mounts over the earlier. */
	for (i = 0; i < d->nmounts && !m; i++)
		if (!strcmp(d->mounts[i].mountpoint, mp))
			m = &d->mounts[i];
	if (m) {
		free(m->spec);
		free(m->lv);
		free(m->options);
	} else {
		d->mounts = ut_realloc(d->mounts, (d->nmounts + 1) * sizeof(*d->mounts));
		d->mount_vol = ut_realloc(d->mount_vol, (d->nmounts + 1) * sizeof(*d->mount_vol));
		i = d->nmounts++;
		m = &d->mounts[i];
		m->mountpoint = ut_strdup(mp);
	}
	m->spec = ut_strdup(spec);
	m->partition = v->partno;
	m->disk = (int)v->disk;
	m->fs = v->info;
	m->lv = v->is_lv ? ut_asprintf("%s/%s", dr_lvm_lv(d->lvm, v->lv)->vg,
				       dr_lvm_lv(d->lvm, v->lv)->name) : NULL;
	m->options = options ? ut_strdup(options) : NULL;
	d->mount_vol[m - d->mounts] = vi;
}

static void add_problem(struct dr_disk *d, const char *mp, const char *spec, char *why)
{
	struct problem *p;
	size_t i;

	for (i = 0; i < d->nproblems; i++) {
		if (!strcmp(d->problems[i].mountpoint, mp)) { /* the later line wins */
			free(d->problems[i].spec);
			free(d->problems[i].why);
			d->problems[i].spec = ut_strdup(spec);
			d->problems[i].why = why;
			return;
		}
	}
	d->problems = ut_realloc(d->problems, (d->nproblems + 1) * sizeof(*d->problems));
	p = &d->problems[d->nproblems++];
	p->mountpoint = ut_strdup(mp);
	p->spec = ut_strdup(spec);
	p->why = why;
}

/* Why a volume that a mount names cannot be read, or NULL when it can. */
static char *vol_unreadable(const struct dr_disk *d, const struct vol *v)
{
	char where[300];

	if (v->fs)
		return NULL;
	vol_where(d, v, where, sizeof(where));
	if (v->open_error)
		return ut_asprintf("%s on %s cannot be read: %s", v->info.type, where,
				   v->open_error);
	if (!strcmp(v->info.type, "crypto_LUKS"))
		return ut_asprintf("%s is LUKS-encrypted: vm2oci does not decrypt", where);
	if (!strcmp(v->info.type, "LVM2_member"))
		return ut_asprintf("%s is an LVM physical volume, not a filesystem", where);
	if (v->info.type[0])
		return ut_asprintf("%s on %s: vm2oci has no reader for it", v->info.type, where);
	return ut_asprintf("no filesystem vm2oci recognises on %s", where);
}

/* Why an fstab spec names no volume here. */
static char *unresolved_why(const struct dr_disk *d, const char *spec)
{
	size_t i;

	if (!strncmp(spec, "/dev/mapper/", 12) || !strncmp(spec, "/dev/", 5)) {
		for (i = 0; i < dr_lvm_count(d->lvm); i++) {
			const struct dr_lv *lv = dr_lvm_lv(d->lvm, i);
			char a[300], b[300];

			snprintf(a, sizeof(a), "/dev/%s/%s", lv->vg, lv->name);
			snprintf(b, sizeof(b), "/%s-%s", lv->vg, lv->name);
			if ((!strcmp(spec, a) || strstr(spec, b)) && lv->unsupported[0])
				return ut_asprintf("LV %s/%s is %s: not read", lv->vg, lv->name,
						   lv->unsupported);
		}
	}
	if (!strncmp(spec, "/dev/mapper/", 12))
		return ut_strdup("no logical volume of that name on this disk");
	for (i = 0; i < dr_lvm_count(d->lvm); i++) {
		const struct dr_lv *lv = dr_lvm_lv(d->lvm, i);

		/* The filesystem may be on an LV vm2oci does not read. */
		if (lv->unsupported[0])
			return ut_asprintf("no volume read here has it (LV %s/%s is not read: %s)",
					   lv->vg, lv->name, lv->unsupported);
	}
	return ut_strdup("no volume on this disk has it (another disk?)");
}

static void parse_fstab(struct dr_disk *d, size_t root_vol, char *text)
{
	char *line, *save = NULL;
	int lineno = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = { 0 }, *p = line, *mp, *view;
		const char *type, *opts;
		long vi;
		int n = 0;

		lineno++;
		while (n < 4) {
			while (*p == ' ' || *p == '\t' || *p == '\r')
				p++;
			if (!*p || *p == '#')
				break;
			f[n++] = p;
			p += strcspn(p, " \t\r");
			if (*p)
				*p++ = '\0';
		}
		if (n == 0)
			continue;
		if (n < 2) {
			warn(d, "fstab line %d: ignored: fewer than two fields", lineno);
			continue;
		}
		unescape(f[0]);
		unescape(f[1]);
		type = f[2] ? f[2] : "auto";
		opts = f[3] ? f[3] : "defaults";
		if (skip_fstype(type) || !strcmp(f[1], "none") || has_option(opts, "bind") ||
		    has_option(opts, "rbind"))
			continue;
		if (strchr(f[0], ':') && f[0][0] != '/' && strncmp(f[0], "UUID=", 5) &&
		    strncmp(f[0], "LABEL=", 6) && strncmp(f[0], "PART", 4))
			continue; /* host:/export, a network filesystem */
		if (f[0][0] == '/' && f[0][1] == '/')
			continue; /* //server/share */
		mp = norm_mountpoint(f[1]);
		if (!mp) {
			warn(d, "fstab line %d: ignored: mount point '%.200s' is not a clean absolute path",
			     lineno, f[1]);
			continue;
		}
		if (has_option(opts, "noauto")) {
			warn(d, "fstab line %d: /%s is noauto: not mounted", lineno, mp);
			free(mp);
			continue;
		}
		vi = resolve_spec(d, f[0]);
		view = vi >= 0 ? view_options(d->vols[vi].info.type, opts) : NULL;
		if (!*mp) {
			if (vi >= 0 && (size_t)vi != root_vol)
				warn(d, "fstab names %.200s for /, but the root found is elsewhere: using the one found",
				     f[0]);
			free(d->mounts[0].spec);
			d->mounts[0].spec = ut_strdup(f[0]);
			if (view && (size_t)vi == root_vol) {
				free(d->mounts[0].options);
				d->mounts[0].options = view;
				view = NULL;
			}
			free(view);
			free(mp);
			continue;
		}
		if (vi < 0)
			add_problem(d, mp, f[0], unresolved_why(d, f[0]));
		else if (!d->vols[vi].fs)
			add_problem(d, mp, f[0], vol_unreadable(d, &d->vols[vi]));
		else
			add_mount(d, mp, f[0], (size_t)vi, view);
		free(view);
		free(mp);
	}
}

static size_t depth_of(const char *mp)
{
	size_t n = *mp ? 1 : 0;

	for (; *mp; mp++)
		n += *mp == '/';
	return n;
}

static void sort_mounts(struct dr_disk *d)
{
	size_t i, j;

	/* Insertion sort, root first, parents before children: the plan is a
	 * handful of lines and the volume index must move along. */
	for (i = 1; i < d->nmounts; i++) {
		for (j = i; j > 1; j--) {
			struct dr_mount *a = &d->mounts[j - 1], *b = &d->mounts[j], t;
			size_t da = depth_of(a->mountpoint), db = depth_of(b->mountpoint), tv;

			if (da < db || (da == db && strcmp(a->mountpoint, b->mountpoint) <= 0))
				break;
			t = *a;
			*a = *b;
			*b = t;
			tv = d->mount_vol[j - 1];
			d->mount_vol[j - 1] = d->mount_vol[j];
			d->mount_vol[j] = tv;
		}
	}
}

static void free_mount(struct dr_mount *m)
{
	free(m->mountpoint);
	free(m->spec);
	free(m->lv);
	free(m->options);
}

static int skip_wanted(const struct dr_disk *d, const char *mp)
{
	size_t i;

	for (i = 0; i < d->opt.nskip_mounts; i++) {
		char *n = norm_mountpoint(d->opt.skip_mounts[i]);
		int hit = n && !strcmp(n, mp);

		free(n);
		if (hit)
			return 1;
	}
	return 0;
}

/*
 * The rule: every fstab mount of a local filesystem is read, or left out
 * because the caller said so (recorded in d->skipped), or dr_disk_open fails
 * naming the first one that cannot be read.
 */
static int apply_mount_rule(struct dr_disk *d, struct ut_err *err)
{
	size_t i, k;

	for (i = 0; i < d->opt.nskip_mounts; i++) {
		char *n = norm_mountpoint(d->opt.skip_mounts[i]);
		int found = 0;

		for (k = 0; n && k < d->nmounts && !found; k++)
			found = !strcmp(d->mounts[k].mountpoint, n);
		for (k = 0; n && k < d->nproblems && !found; k++)
			found = !strcmp(d->problems[k].mountpoint, n);
		if (!n || !*n || !found) {
			ut_err_set(err, "%s: --skip-mount %s: %s", d->bd->path, d->opt.skip_mounts[i],
				   !n ? "not a clean absolute path"
				   : !*n ? "/ cannot be left out"
					 : "the guest's fstab mounts nothing there");
			free(n);
			return -1;
		}
		free(n);
	}
	for (i = 0; i < d->nproblems; i++) {
		struct problem *p = &d->problems[i];

		if (skip_wanted(d, p->mountpoint))
			continue;
		if (d->opt.lenient_mounts) {
			warn(d, "/%s (%s) cannot be mounted: %s", p->mountpoint, p->spec, p->why);
			continue;
		}
		return ut_err_set(err, "%s: /%s (%s) cannot be mounted: %s; leave it out with --skip-mount /%s%s",
				  d->bd->path, p->mountpoint, p->spec, p->why, p->mountpoint,
				  d->nproblems > 1 ? " (other fstab lines fail too)" : "");
	}
	/* Left out as asked, in fstab order of the plan and then the rest. */
	for (i = 1; i < d->nmounts;) {
		if (!skip_wanted(d, d->mounts[i].mountpoint)) {
			i++;
			continue;
		}
		d->skipped = ut_realloc(d->skipped, (d->nskipped + 1) * sizeof(*d->skipped));
		d->skipped[d->nskipped++] = ut_asprintf("/%s", d->mounts[i].mountpoint);
		free_mount(&d->mounts[i]);
		memmove(&d->mounts[i], &d->mounts[i + 1], (d->nmounts - i - 1) * sizeof(*d->mounts));
		memmove(&d->mount_vol[i], &d->mount_vol[i + 1],
			(d->nmounts - i - 1) * sizeof(*d->mount_vol));
		d->nmounts--;
	}
	for (i = 0; i < d->nproblems; i++) {
		if (!skip_wanted(d, d->problems[i].mountpoint))
			continue;
		d->skipped = ut_realloc(d->skipped, (d->nskipped + 1) * sizeof(*d->skipped));
		d->skipped[d->nskipped++] = ut_asprintf("/%s", d->problems[i].mountpoint);
		warn(d, "/%s (%s) left out as asked: %s", d->problems[i].mountpoint,
		     d->problems[i].spec, d->problems[i].why);
	}
	return 0;
}

/* ---- OS identity -------------------------------------------------------- */

static int read_small(struct dr_disk *d, const char *path, struct ut_buf *b)
{
	ut_buf_reset(b);
	b->cap = DISK_SMALL_FILE;
	return dr_disk_read_file(d, path, b, NULL);
}

/* The value of KEY= in a shell-style file (os-release, lsb-release). */
static int kv_get(const char *text, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		while (ll && (*p == ' ' || *p == '\t')) {
			p++;
			ll--;
		}
		if (ll > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t vl = ll - kl - 1, o = 0, i = 0;
			char q = 0;

			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl && (v[0] == '"' || v[0] == '\'')) {
				q = v[0];
				i = 1;
				if (vl >= 2 && v[vl - 1] == q)
					vl--;
			}
			for (; i < vl && o + 1 < outsz; i++) {
				if (q == '"' && v[i] == '\\' && i + 1 < vl)
					i++;
				if ((unsigned char)v[i] < 0x20)
					continue;
				out[o++] = v[i];
			}
			out[o] = '\0';
			return 1;
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "CentOS Linux release 7.9.2009 (Core)" -> version "7.9.2009". */
static void release_line(struct dr_os_info *os, const char *text, const char *distro)
{
	size_t l = strcspn(text, "\n"), i, o = 0;
	const char *r;

	/* Control bytes (a CR of a DOS line end, an ESC) would reach inspect's
	 * output and the image's labels: dropped, as kv_get does. */
	for (i = 0; i < l && o + 1 < sizeof(os->pretty_name); i++)
		if ((unsigned char)text[i] >= 0x20)
			os->pretty_name[o++] = text[i];
	os->pretty_name[o] = '\0';
	snprintf(os->distro, sizeof(os->distro), "%s", distro);
	r = strstr(os->pretty_name, "release ");
	if (r) {
		r += 8;
		snprintf(os->version, sizeof(os->version), "%.*s", (int)strcspn(r, " ("), r);
	}
}

static const char *elf_arch(const unsigned char *h, size_t n)
{
	unsigned machine;
	int is64, le;

	if (n < 20 || memcmp(h, "\x7f" "ELF", 4))
		return NULL;
	is64 = h[4] == 2;
	le = h[5] == 1;
	machine = le ? (unsigned)(h[18] | h[19] << 8) : (unsigned)(h[18] << 8 | h[19]);
	switch (machine) {
	case 62: return "amd64";
	case 183: return "arm64";
	case 3: return "386";
	case 40: return "arm";
	case 21: return le ? "ppc64le" : "ppc64";
	case 22: return is64 ? "s390x" : "s390";
	case 243: return is64 ? "riscv64" : "riscv";
	case 8: return is64 ? (le ? "mips64le" : "mips64") : (le ? "mipsle" : "mips");
	case 258: return "loong64";
	}
	return NULL;
}

static void read_os(struct dr_disk *d)
{
	struct dr_os_info *os = &d->os;
	struct ut_buf b;
	size_t i;

	ut_buf_init(&b, DISK_SMALL_FILE);
	if (!read_small(d, "etc/os-release", &b) || !read_small(d, "usr/lib/os-release", &b)) {
		kv_get((char *)b.data, "ID", os->distro, sizeof(os->distro));
		kv_get((char *)b.data, "VERSION_ID", os->version, sizeof(os->version));
		kv_get((char *)b.data, "PRETTY_NAME", os->pretty_name, sizeof(os->pretty_name));
	}
	if (!os->distro[0] && !read_small(d, "etc/lsb-release", &b)) {
		kv_get((char *)b.data, "DISTRIB_ID", os->distro, sizeof(os->distro));
		lower(os->distro);
		kv_get((char *)b.data, "DISTRIB_RELEASE", os->version, sizeof(os->version));
		kv_get((char *)b.data, "DISTRIB_DESCRIPTION", os->pretty_name,
		       sizeof(os->pretty_name));
	}
	if (!os->distro[0]) {
		static const struct {
			const char *file, *contains, *distro;
		} rel[] = {
			{ "etc/centos-release", NULL, "centos" },
			{ "etc/mageia-release", NULL, "mageia" },
			{ "etc/fedora-release", NULL, "fedora" },
			{ "etc/redhat-release", "CentOS", "centos" },
			{ "etc/redhat-release", "Fedora", "fedora" },
			{ "etc/redhat-release", "Scientific", "scientific" },
			{ "etc/redhat-release", "Red Hat", "rhel" },
			{ "etc/redhat-release", NULL, "rhel" },
		};

		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if (read_small(d, rel[i].file, &b))
				continue;
			if (rel[i].contains && !strstr((char *)b.data, rel[i].contains))
				continue;
			release_line(os, (char *)b.data, rel[i].distro);
			break;
		}
	}
	if (!read_small(d, "etc/hostname", &b)) {
		char *s = (char *)b.data;
		size_t l;

		s += strspn(s, " \t\r\n");
		l = strcspn(s, " \t\r\n#");
		snprintf(os->hostname, sizeof(os->hostname), "%.*s", (int)l, s);
	}
	if (!os->hostname[0] && !read_small(d, "etc/sysconfig/network", &b))
		kv_get((char *)b.data, "HOSTNAME", os->hostname, sizeof(os->hostname));
	{
		static const char *const bins[] = { "bin/sh", "usr/bin/ls", "bin/ls",
						     "usr/bin/env", "sbin/init" };

		for (i = 0; i < sizeof(bins) / sizeof(bins[0]) && !os->arch[0]; i++) {
			struct ut_entry e = { 0 };
			size_t m;
			const char *arch;

			if (resolve(d, bins[i], &m, &e, NULL) == 1 && e.type == UT_REG) {
				ut_buf_reset(&b);
				b.cap = 0;
				if (!dr_fs_read_entry(mount_fs(d, m), &e, &b, 64, NULL) &&
				    (arch = elf_arch(b.data, b.len)))
					snprintf(os->arch, sizeof(os->arch), "%s", arch);
			}
			ut_entry_release(&e);
		}
	}
	{
		static const struct {
			const char *path, *format;
		} pm[] = {
			{ "var/lib/dpkg/status", "deb" },
			{ "var/lib/rpm", "rpm" },
			{ "usr/lib/sysimage/rpm", "rpm" },
			{ "lib/apk/db/installed", "apk" },
			{ "var/lib/pacman/local", "pacman" },
		};

		for (i = 0; i < sizeof(pm) / sizeof(pm[0]); i++) {
			if (guest_has(d, pm[i].path)) {
				snprintf(os->package_format, sizeof(os->package_format), "%s",
					 pm[i].format);
				break;
			}
		}
	}
	ut_buf_release(&b);
}

/* ---- open --------------------------------------------------------------- */

/* 1 when fs (under prefix, "" or a btrfs subvolume's directory) holds a
 * Linux root; 0 not; -1 when it cannot be looked at (a libguestfs appliance
 * that does not start), with err set. */
static int looks_like_root(struct dr_fs *fs, const char *prefix, struct ut_err *err)
{
	static const char *const marks[] = { "etc/fstab", "etc/os-release" };
	static const char *const dirs[] = { "usr", "bin" };
	struct ut_entry e = { 0 };
	int mark = 0, dir = 0, r;
	size_t i;

	for (i = 0; i < 4 && !(mark && dir); i++) {
		char *p = ut_asprintf("%s%s%s", prefix, *prefix ? "/" : "",
				      i < 2 ? marks[i] : dirs[i - 2]);

		r = fs->ops->lookup(fs, p, &e, err);
		free(p);
		if (r < 0)
			return -1;
		if (r == 1 && i < 2)
			mark = 1;
		if (r == 1 && i >= 2 && (e.type == UT_DIR || e.type == UT_LNK))
			dir = 1;
		ut_entry_release(&e);
	}
	return mark && dir;
}

/* 1 when v is ext3/4 with a journal that needs recovery (the guest was not
 * shut down cleanly): dr_fs_open replays it in memory unless --no-replay. */
static int ext_needs_recovery(struct vol *v)
{
	unsigned char f[4];

	if (strncmp(v->info.type, "ext", 3) ||
	    dr_blockdev_pread(v->bd, f, 4, 1024 + 0x60, NULL) < 0)
		return 0;
	return (f[0] & 0x04) != 0; /* EXT3_FEATURE_INCOMPAT_RECOVER */
}

/* Opens v's filesystem, replaying its journal unless --no-replay. A journal
 * that cannot be replayed fails the whole disk: reading around it would give
 * a tree older than the VM's, silently. */
static int open_vol_fs(struct dr_disk *d, struct vol *v, struct ut_err *err)
{
	int dirty = ext_needs_recovery(v);
	struct ut_err e2;
	char where[300];

	vol_where(d, v, where, sizeof(where));
	if (dr_fs_open_flags(v->bd, d->opt.no_replay ? DR_FS_NO_REPLAY : 0, &v->fs, &e2) < 0) {
		v->fs = NULL;
		if (dirty && !d->opt.no_replay)
			return ut_err_set(err, "%s (on %s; --no-replay reads it as it is on the disk)",
					  e2.msg, where);
		v->open_error = ut_strdup(e2.msg);
		return 0;
	}
	if (dirty && d->opt.no_replay)
		warn(d, "%s on %s: the journal needs recovery (the VM was not shut down cleanly); --no-replay: it is not replayed, so the latest changes may be missing",
		     v->info.type, where);
	return 0;
}

/* Passes on what the filesystems noted (a journal or log replayed), once:
 * after the open and again after a walk, since libguestfs mounts - and
 * replays an xfs log - only on first use. */
static void tell_fs_notes(struct dr_disk *d)
{
	size_t i;

	for (i = 0; i < d->nvols + d->nmounts; i++) {
		/* the volumes' filesystems, then those mounts opened with options */
		struct vol *v = i < d->nvols ? &d->vols[i] : &d->vols[d->mount_vol[i - d->nvols]];
		struct dr_fs *fs = i < d->nvols ? v->fs
				   : d->mount_own ? d->mount_own[i - d->nvols] : NULL;
		char where[300];

		if (fs && fs->note[0]) {
			vol_where(d, v, where, sizeof(where));
			warn(d, "%s on %s: %s", v->info.type, where, fs->note);
			fs->note[0] = '\0';
		}
	}
}

static int no_root_error(struct dr_disk *d, struct ut_err *err)
{
	struct ut_buf b;
	size_t i, nfs = 0;

	ut_buf_init(&b, 0);
	for (i = 0; i < d->nvols; i++) {
		struct vol *v = &d->vols[i];
		char where[300];

		if (!v->info.type[0])
			continue;
		vol_where(d, v, where, sizeof(where));
		ut_buf_addf(&b, NULL, "%s%s on %s", nfs ? ", " : "", v->info.type, where);
		if (v->open_error)
			ut_buf_addf(&b, NULL, " (unreadable: %s)", v->open_error);
		else if (!v->readable)
			ut_buf_addf(&b, NULL, " (no reader)");
		nfs++;
	}
	ut_err_set(err, "%s: no Linux root filesystem found (%zu filesystem%s%s%s)", d->bd->path,
		   nfs, nfs == 1 ? "" : "s", nfs ? ": " : "", b.data ? (char *)b.data : "");
	ut_buf_release(&b);
	return -1;
}

static struct vol *new_vol(struct dr_disk *d)
{
	d->vols = ut_realloc(d->vols, (d->nvols + 1) * sizeof(*d->vols));
	memset(&d->vols[d->nvols], 0, sizeof(*d->vols));
	return &d->vols[d->nvols++];
}

static int probe_vol(struct dr_disk *d, struct vol *v, struct ut_err *err)
{
	const struct dr_fs_ops *ops;
	int r;

	r = dr_fs_probe(v->bd, &ops, &v->info, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		sniff(v->bd, &v->info);
		return 0;
	}
	v->readable = 1;
	if (open_vol_fs(d, v, err) < 0)
		return -1;
	if (v->fs)
		v->fs->tmpdir = d->opt.tmpdir;
	return 0;
}

/* The LVs of every LVM physical volume found, as more volumes. */
static int add_lvs(struct dr_disk *d, struct ut_err *err)
{
	struct dr_blockdev **pvs = ut_calloc(d->nvols + 1, sizeof(*pvs));
	size_t i, n = 0, nvols = d->nvols;
	struct ut_err e2;

	for (i = 0; i < nvols; i++)
		if (!strcmp(d->vols[i].info.type, "LVM2_member"))
			pvs[n++] = d->vols[i].bd;
	if (!n) {
		free(pvs);
		return 0;
	}
	if (dr_lvm_read(pvs, n, &d->lvm, &e2) < 0) {
		/* The mounts on it fail by the rule, naming this. */
		warn(d, "LVM: %s", e2.msg);
		free(pvs);
		return 0;
	}
	free(pvs);
	for (i = 0; i < dr_lvm_count(d->lvm); i++) {
		struct vol *v;

		if (dr_lvm_lv(d->lvm, i)->unsupported[0])
			continue;
		v = new_vol(d);
		v->is_lv = 1;
		v->lv = i;
		if (dr_lvm_open(d->lvm, i, &v->bd, err) < 0 || probe_vol(d, v, err) < 0)
			return -1;
	}
	return 0;
}

/* btrfs subvolumes a distribution puts / in (Ubuntu @, Fedora root, SUSE
 * @/.snapshots/1/snapshot is the default subvolume, seen at the top). */
static const char *const root_subvols[] = { "@", "root", "@root", "@rootfs" };

static int find_root(struct dr_disk *d, long *root, const char **subvol, struct ut_err *err)
{
	size_t i, k;

	*root = -1;
	*subvol = "";
	for (i = 0; i < d->nvols && *root < 0; i++) {
		struct vol *v = &d->vols[i];
		int r;

		/* FAT has no owners, modes or symlinks: never a Linux root, and
		 * looking would start an appliance for nothing. */
		if (!v->fs || !strcmp(v->info.type, "vfat") || !strcmp(v->info.type, "exfat"))
			continue;
		ut_progress_update(&d->opt.progress, "probe", i, d->nvols);
		r = looks_like_root(v->fs, "", err);
		for (k = 0; r == 0 && !strcmp(v->info.type, "btrfs") &&
			    k < sizeof(root_subvols) / sizeof(root_subvols[0]); k++) {
			r = looks_like_root(v->fs, root_subvols[k], err);
			if (r == 1)
				*subvol = root_subvols[k];
		}
		if (r < 0) {
			char where[300];

			vol_where(d, v, where, sizeof(where));
			ut_err_prefix(err, "cannot look for the root in %s on %s: ", v->info.type,
				      where);
			return -1;
		}
		if (r == 1)
			*root = (long)i;
	}
	return 0;
}

/* Mounts with options of their own (a subvolume, vfat modes) get an fs of
 * their own; libguestfs mounts it so. */
static int open_mount_fs(struct dr_disk *d, struct ut_err *err)
{
	size_t i;

	d->mount_own = ut_calloc(d->nmounts ? d->nmounts : 1, sizeof(*d->mount_own));
	for (i = 0; i < d->nmounts; i++) {
		struct vol *v = &d->vols[d->mount_vol[i]];

		if (!d->mounts[i].options || v->fs->ops != &dr_guestfs_ops)
			continue;
		if (dr_fs_open_opts(v->bd, d->opt.no_replay ? DR_FS_NO_REPLAY : 0,
				    d->mounts[i].options, &d->mount_own[i], err) < 0) {
			ut_err_prefix(err, "%s: /%s: ", d->bd->path, d->mounts[i].mountpoint);
			return -1;
		}
		d->mount_own[i]->tmpdir = d->opt.tmpdir;
	}
	return 0;
}

/*
 * A libguestfs volume looked at only to find the root (a btrfs top level
 * whose subvolumes are mounted with options of their own) would keep an
 * idle appliance (a 1.3 GB qemu) for the whole conversion: swap it for a
 * fresh, unlaunched handle.
 */
static void release_unused_appliances(struct dr_disk *d)
{
	size_t i, m;

	for (i = 0; i < d->nvols; i++) {
		struct vol *v = &d->vols[i];
		struct dr_fs *fresh;
		int used = 0;

		if (!v->fs || v->fs->ops != &dr_guestfs_ops)
			continue;
		for (m = 0; m < d->nmounts && !used; m++)
			used = d->mount_vol[m] == i && !d->mount_own[m];
		if (!used && dr_fs_open_flags(v->bd, d->opt.no_replay ? DR_FS_NO_REPLAY : 0, &fresh,
					      NULL) == 0) {
			dr_fs_free(v->fs);
			v->fs = fresh;
			fresh->tmpdir = d->opt.tmpdir;
		}
	}
}

/* Disk k's volumes (0: the first disk, k: more_disks[k - 1]): its
 * partitions, or the whole disk when it has no table. */
static int add_disk_vols(struct dr_disk *d, size_t k, struct dr_blockdev *bd,
			 struct dr_partition *parts, size_t nparts, struct ut_err *err)
{
	size_t i;

	if (!nparts) {
		struct vol *v = new_vol(d);

		v->bd = bd;
		v->disk = k;
	}
	for (i = 0; i < nparts; i++) {
		struct vol *v;

		if (parts[i].extended)
			continue;
		v = new_vol(d);
		v->partno = parts[i].number;
		v->part = &parts[i];
		v->disk = k;
		if (dr_blockdev_slice(bd, parts[i].start, parts[i].size, &v->bd, err) < 0)
			return -1;
	}
	return 0;
}

static int add_more_disk(struct dr_disk *d, size_t k, struct ut_err *err)
{
	const struct dr_disk_ref *ref = &d->opt.more_disks[k - 1];
	struct more_disk *m = &d->more[k - 1];

	if (dr_blockdev_open_policy(ref->path, ref->format, &d->opt.policy, &m->bd, err) < 0 ||
	    dr_partitions_read(m->bd, &m->parts, &m->nparts, &m->scheme, err) < 0)
		return -1;
	return add_disk_vols(d, k, m->bd, m->parts, m->nparts, err);
}

/* A disk of the guest none of whose volumes is mounted is worth a line:
 * the domain names it, the image has nothing of it. */
static void warn_unmounted_disks(struct dr_disk *d)
{
	size_t k, i, m;

	for (k = 1; k <= d->nmore; k++) {
		int used = 0;

		for (m = 0; m < d->nmounts && !used; m++) {
			const struct vol *v = &d->vols[d->mount_vol[m]];

			if (v->disk == k)
				used = 1;
			/* an LV counts for every disk holding one of its PVs */
			for (i = 0; v->is_lv && i < d->nvols && !used; i++)
				used = d->vols[i].disk == k &&
				       !strcmp(d->vols[i].info.type, "LVM2_member");
		}
		if (!used)
			warn(d, "disk %zu (%s): the guest's fstab mounts nothing on it", k + 1,
			     dr_blockdev_path(d->more[k - 1].bd));
	}
}

int dr_disk_open(const char *path, const struct dr_disk_options *opt, struct dr_disk **out,
		 struct ut_err *err)
{
	struct dr_disk *d = ut_calloc(1, sizeof(*d));
	struct ut_buf fstab;
	const char *subvol;
	long root = -1;
	size_t i;

	*out = NULL;
	ut_buf_init(&fstab, DISK_SMALL_FILE);
	if (opt)
		d->opt = *opt;
	if (dr_blockdev_open_policy(path, d->opt.format, &d->opt.policy, &d->bd, err) < 0)
		goto fail;
	if (dr_partitions_read(d->bd, &d->parts, &d->nparts, &d->scheme, err) < 0)
		goto fail;
	d->part_fs = ut_calloc(d->nparts ? d->nparts : 1, sizeof(*d->part_fs));
	if (add_disk_vols(d, 0, d->bd, d->parts, d->nparts, err) < 0)
		goto fail;
	d->nmore = d->opt.nmore_disks;
	d->more = ut_calloc(d->nmore ? d->nmore : 1, sizeof(*d->more));
	for (i = 1; i <= d->nmore; i++)
		if (add_more_disk(d, i, err) < 0)
			goto fail;
	for (i = 0; i < d->nvols; i++) {
		ut_progress_update(&d->opt.progress, "probe", i, d->nvols);
		if (probe_vol(d, &d->vols[i], err) < 0)
			goto fail;
	}
	if (add_lvs(d, err) < 0)
		goto fail;
	for (i = 0; i < d->nparts; i++) {
		size_t k;

		for (k = 0; k < d->nvols; k++)
			if (d->vols[k].part == &d->parts[i])
				d->part_fs[i] = d->vols[k].info;
	}
	if (find_root(d, &root, &subvol, err) < 0)
		goto fail;
	if (root < 0) {
		no_root_error(d, err);
		goto fail;
	}
	{
		char *opts = *subvol ? ut_asprintf("subvol=%s", subvol) : NULL;
		char *fstab_path = ut_asprintf("%s%setc/fstab", subvol, *subvol ? "/" : "");

		add_mount(d, "", "", (size_t)root, opts);
		if (dr_fs_read_path(d->vols[root].fs, fstab_path, &fstab, NULL) == 0 && fstab.data)
			parse_fstab(d, (size_t)root, (char *)fstab.data);
		else
			warn(d, "the root filesystem has no readable /etc/fstab: only / is mounted");
		free(opts);
		free(fstab_path);
	}
	if (apply_mount_rule(d, err) < 0)
		goto fail;
	sort_mounts(d);
	if (open_mount_fs(d, err) < 0)
		goto fail;
	release_unused_appliances(d);
	warn_unmounted_disks(d);
	read_os(d);
	tell_fs_notes(d);
	ut_buf_release(&fstab);
	*out = d;
	return 0;
fail:
	ut_buf_release(&fstab);
	dr_disk_free(d);
	return -1;
}

void dr_disk_free(struct dr_disk *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nmounts; i++) {
		if (d->mount_own)
			dr_fs_free(d->mount_own[i]);
		free_mount(&d->mounts[i]);
	}
	for (i = 0; i < d->nvols; i++) {
		dr_fs_free(d->vols[i].fs);
		if (d->vols[i].part || d->vols[i].is_lv) /* a slice or an LV: its own */
			dr_blockdev_free(d->vols[i].bd);
		free(d->vols[i].open_error);
	}
	/* after the volumes: their slices borrow these */
	for (i = 0; i < d->nmore; i++) {
		free(d->more[i].parts);
		dr_blockdev_free(d->more[i].bd);
	}
	free(d->more);
	for (i = 0; i < d->nproblems; i++) {
		free(d->problems[i].mountpoint);
		free(d->problems[i].spec);
		free(d->problems[i].why);
	}
	for (i = 0; i < d->nskipped; i++)
		free(d->skipped[i]);
	for (i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->skipped);
	free(d->problems);
	free(d->warnings);
	free(d->mounts);
	free(d->mount_vol);
	free(d->mount_own);
	free(d->vols);
	free(d->part_fs);
	free(d->parts);
	dr_lvm_free(d->lvm);
	dr_blockdev_free(d->bd);
	free(d);
}

size_t dr_disk_count(const struct dr_disk *d)
{
	return 1 + d->nmore;
}

struct dr_blockdev *dr_disk_blockdev(struct dr_disk *d)
{
	return d->bd;
}

const char *dr_disk_scheme(const struct dr_disk *d)
{
	return d->scheme;
}

const struct dr_partition *dr_disk_partitions(const struct dr_disk *d, size_t *n)
{
	*n = d->nparts;
	return d->parts;
}

const struct dr_fs_info *dr_disk_partition_fs(const struct dr_disk *d, size_t i)
{
	static const struct dr_fs_info none;

	if (i >= d->nparts) {
		/* A bare filesystem disk: index 0 is the disk itself. */
		if (!d->nparts && i == 0 && d->nvols)
			return &d->vols[0].info;
		return &none;
	}
	return &d->part_fs[i];
}

const struct dr_mount *dr_disk_mounts(const struct dr_disk *d, size_t *n)
{
	*n = d->nmounts;
	return d->mounts;
}

const struct dr_os_info *dr_disk_os(const struct dr_disk *d)
{
	return &d->os;
}

const char *const *dr_disk_skipped_mounts(const struct dr_disk *d, size_t *n)
{
	*n = d->nskipped;
	return (const char *const *)d->skipped;
}

size_t dr_disk_lv_count(const struct dr_disk *d)
{
	return dr_lvm_count(d->lvm);
}

const struct dr_lv *dr_disk_lv(const struct dr_disk *d, size_t i)
{
	return dr_lvm_lv(d->lvm, i);
}

const struct dr_fs_info *dr_disk_lv_fs(const struct dr_disk *d, size_t i)
{
	static const struct dr_fs_info none;
	size_t k;

	for (k = 0; k < d->nvols; k++)
		if (d->vols[k].is_lv && d->vols[k].lv == i)
			return &d->vols[k].info;
	return &none;
}

/*
 * A mount's place on d->bd: a partition's start, 0 for the whole disk, an
 * LV's offset when it lies in one piece. An LV in pieces has no one offset:
 * NULL, as for a filesystem that cannot be placed.
 */
struct dr_fs *dr_disk_mount_fs(struct dr_disk *d, size_t i, uint64_t *offset, uint64_t *size)
{
	struct vol *v;
	uint64_t off = 0;

	if (i >= d->nmounts)
		return NULL;
	v = &d->vols[d->mount_vol[i]];
	if (v->disk || (v->is_lv && d->nmore))
		return NULL; /* not (surely) on the first disk: no place on it */
	if (v->is_lv && dr_lvm_linear_offset(v->bd, &off) < 0)
		return NULL;
	if (v->part)
		off = v->part->start;
	if (offset)
		*offset = off;
	if (size)
		*size = v->bd->size;
	return mount_fs(d, i);
}

struct dr_fs *dr_disk_entry_fs(struct dr_disk *d, const struct ut_entry *e, uint64_t *offset)
{
	/* tree_cb put the mount index in src_a. */
	return dr_disk_mount_fs(d, (size_t)e->src_a, offset, NULL);
}

const char *const *dr_disk_warnings(const struct dr_disk *d, size_t *n)
{
	*n = d->nwarnings;
	return (const char *const *)d->warnings;
}

/* ---- the merged tree ---------------------------------------------------- */

struct tree_ctx {
	struct dr_disk *d;
	struct ut_tree *t;
	const char *mountpoint;
	size_t mount;
	uint64_t count;
};

/* link_id: the mount index above bit 48, the inode number below, so that
 * inode 12 of /boot and inode 12 of / (or of two btrfs subvolumes) are never
 * one hardlink set. */
#define LINK_VOL_SHIFT 48

static int tree_cb(void *ctx, struct ut_entry *e)
{
	struct tree_ctx *c = ctx;

	if (*c->mountpoint) {
		char *p = *e->path ? ut_asprintf("%s/%s", c->mountpoint, e->path)
				   : ut_strdup(c->mountpoint);

		free(e->path);
		e->path = p;
	}
	e->link_id = ((uint64_t)(c->mount + 1) << LINK_VOL_SHIFT) | (e->link_id & ((1ull << LINK_VOL_SHIFT) - 1));
	e->src_a = c->mount;
	ut_tree_take(c->t, e);
	if (!(++c->count & 4095))
		ut_progress_update(&c->d->opt.progress, "walk", c->count, 0);
	return 0;
}

struct content_handle {
	struct dr_fs *fs;
	void *h;
};

static int content_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	struct dr_disk *d = ctx;
	struct content_handle *c;
	struct dr_fs *fs;

	if (e->src_a >= d->nmounts || !mount_fs(d, (size_t)e->src_a))
		return ut_err_set(err, "%s: /%s: no filesystem to read it from", d->bd->path,
				  e->path);
	fs = mount_fs(d, (size_t)e->src_a);
	c = ut_calloc(1, sizeof(*c));
	c->fs = fs;
	if (fs->ops->open_file(fs, e->src_b, &c->h, err) < 0) {
		dr_err_at_path(err, fs->bd->path, e->path);
		free(c);
		return -1;
	}
	*handle = c;
	return 0;
}

static ssize_t content_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	struct content_handle *c = handle;

	return c->fs->ops->read_file(c->fs, c->h, buf, len, err);
}

static void content_close(void *ctx, void *handle)
{
	struct content_handle *c = handle;

	if (!c)
		return;
	c->fs->ops->close_file(c->fs, c->h);
	free(c);
}

static const struct ut_content_ops disk_content_ops = {
	.open = content_open,
	.read = content_read,
	.close = content_close,
};

int dr_disk_tree(struct dr_disk *d, int digests, struct ut_tree **out, struct ut_err *err)
{
	struct ut_tree *t = ut_tree_new();
	struct tree_ctx c = { .d = d, .t = t };
	size_t i;

	*out = NULL;
	for (i = 0; i < d->nmounts; i++) {
		struct vol *v = &d->vols[d->mount_vol[i]];
		struct dr_fs *fs = mount_fs(d, i);

		if (!fs) {
			char where[300];

			vol_where(d, v, where, sizeof(where));
			ut_err_set(err, "%s: /%s: %s on %s cannot be read%s%s", d->bd->path,
				   d->mounts[i].mountpoint,
				   v->info.type[0] ? v->info.type : "nothing recognised", where,
				   v->open_error ? ": " : " by vm2oci (no reader for it)",
				   v->open_error ? v->open_error : "");
			goto fail;
		}
		/* What the parent has under the mount point is hidden by the
		 * mount, as in the running guest. */
		if (i)
			ut_tree_remove(t, d->mounts[i].mountpoint);
		c.mountpoint = d->mounts[i].mountpoint;
		c.mount = i;
		if (dr_fs_walk(fs, d->opt.max_file_size, c.mountpoint, tree_cb, &c, err) < 0)
			goto fail;
	}
	ut_tree_sort(t);
	tell_fs_notes(d);
	t->content.ops = &disk_content_ops;
	t->content.ctx = d;
	if (digests && ut_tree_digest_all(t, err) < 0)
		goto fail;
	ut_progress_update(&d->opt.progress, "walk", c.count, c.count);
	*out = t;
	return 0;
fail:
	ut_tree_free(t);
	return -1;
}

void dr_disk_content(struct dr_disk *d, struct ut_content *out)
{
	out->ops = &disk_content_ops;
	out->ctx = d;
}

uint64_t dr_disk_max_file_size(const struct dr_disk *d)
{
	return d->opt.max_file_size;
}
