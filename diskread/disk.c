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
};

struct dr_disk {
	struct dr_blockdev *bd;
	struct dr_disk_options opt;
	const char *scheme;
	struct dr_partition *parts;
	size_t nparts;
	struct dr_fs_info *part_fs;  /* per partition, same order */
	struct vol *vols;
	size_t nvols;
	struct dr_mount *mounts;
	size_t *mount_vol;           /* vols index of each mount */
	size_t nmounts;
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

static void vol_where(const struct vol *v, char *out, size_t len)
{
	if (v->partno)
		snprintf(out, len, "partition %d", v->partno);
	else
		snprintf(out, len, "the whole disk");
}

/* ---- guest paths -------------------------------------------------------- */

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
	int f;

	if (!v->fs)
		return ut_err_set(err, "%s: /%s: %s on %s cannot be read", d->bd->path, path,
				  v->info.type, d->mounts[m].mountpoint);
	f = v->fs->ops->lookup(v->fs, rel, &e, err);
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
	if (!v->fs) {
		r = ut_err_set(err, "%s: /%s: %s cannot be read", d->bd->path, res, v->info.type);
		goto out;
	}
	r = v->fs->ops->lookup(v->fs, rel, out, err);
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
	if (dr_fs_read_entry(d->vols[d->mount_vol[m]].fs, &e, b, 0, err) < 0) {
		dr_err_at_path(err, d->vols[d->mount_vol[m]].fs->bd->path, path);
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
	/* Kernel names of the first disk's partitions: sda5, vda1, xvda2,
	 * hda1, nvme0n1p2, mmcblk0p1. The guest saw one disk: this one. */
	{
		static const char *const dev_prefixes[] = { "/dev/sd", "/dev/vd", "/dev/hd",
							    "/dev/xvd" };
		const char *p = NULL;

		for (k = 0; k < sizeof(dev_prefixes) / sizeof(dev_prefixes[0]); k++) {
			size_t l = strlen(dev_prefixes[k]);

			if (!strncmp(spec, dev_prefixes[k], l) && islower((unsigned char)spec[l])) {
				p = spec + l;
				while (islower((unsigned char)*p))
					p++;
				break;
			}
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
			if (d->vols[i].partno == num)
				return (long)i;
	}
	return -1;
}

static int skip_fstype(const char *type)
{
	static const char *const skip[] = {
		"swap", "none", "proc", "sysfs", "tmpfs", "devpts", "devtmpfs", "nfs", "nfs4",
		"cifs", "smbfs", "sshfs", "fuse", "fuse.sshfs", "cgroup", "cgroup2", "debugfs",
		"securityfs", "efivarfs", "binfmt_misc", "hugetlbfs", "mqueue", "configfs",
		"pstore", "bpf", "tracefs", "autofs", "rpc_pipefs", "nfsd", "overlay", "ramfs",
		"9p", "virtiofs",
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

static void add_mount(struct dr_disk *d, const char *mp, const char *spec, size_t vi)
{
	size_t i;

	/* A later line for the same mount point mounts over the earlier. */
	for (i = 0; i < d->nmounts; i++) {
		if (!strcmp(d->mounts[i].mountpoint, mp)) {
			free(d->mounts[i].spec);
			d->mounts[i].spec = ut_strdup(spec);
			d->mounts[i].partition = d->vols[vi].partno;
			d->mounts[i].fs = d->vols[vi].info;
			d->mount_vol[i] = vi;
			return;
		}
	}
	d->mounts = ut_realloc(d->mounts, (d->nmounts + 1) * sizeof(*d->mounts));
	d->mount_vol = ut_realloc(d->mount_vol, (d->nmounts + 1) * sizeof(*d->mount_vol));
	d->mounts[d->nmounts].mountpoint = ut_strdup(mp);
	d->mounts[d->nmounts].spec = ut_strdup(spec);
	d->mounts[d->nmounts].partition = d->vols[vi].partno;
	d->mounts[d->nmounts].fs = d->vols[vi].info;
	d->mount_vol[d->nmounts] = vi;
	d->nmounts++;
}

static void parse_fstab(struct dr_disk *d, size_t root_vol, char *text)
{
	char *line, *save = NULL;
	int lineno = 0;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = { 0 }, *p = line, *mp;
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
		if (!*mp) {
			if (vi >= 0 && (size_t)vi != root_vol)
				warn(d, "fstab names %.200s for /, but the root found is elsewhere: using the one found",
				     f[0]);
			free(d->mounts[0].spec);
			d->mounts[0].spec = ut_strdup(f[0]);
			free(mp);
			continue;
		}
		if (vi < 0) {
			warn(d, "fstab line %d: cannot resolve %.200s for /%.200s on this disk: not mounted",
			     lineno, f[0], mp);
			free(mp);
			continue;
		}
		if ((size_t)vi == root_vol) {
			warn(d, "fstab line %d: /%.200s names the root filesystem again: ignored", lineno,
			     mp);
			free(mp);
			continue;
		}
		add_mount(d, mp, f[0], (size_t)vi);
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
				if (!dr_fs_read_entry(d->vols[d->mount_vol[m]].fs, &e, &b, 64, NULL) &&
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

static int looks_like_root(struct dr_fs *fs)
{
	static const char *const marks[] = { "etc/fstab", "etc/os-release" };
	static const char *const dirs[] = { "usr", "bin" };
	struct ut_entry e = { 0 };
	int mark = 0, dir = 0;
	size_t i;

	for (i = 0; i < 2 && !mark; i++) {
		if (fs->ops->lookup(fs, marks[i], &e, NULL) == 1)
			mark = 1;
		ut_entry_release(&e);
	}
	for (i = 0; i < 2 && !dir; i++) {
		if (fs->ops->lookup(fs, dirs[i], &e, NULL) == 1 &&
		    (e.type == UT_DIR || e.type == UT_LNK))
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
	char where[32];

	vol_where(v, where, sizeof(where));
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

	for (i = 0; i < d->nvols; i++) {
		struct dr_fs *fs = d->vols[i].fs;
		char where[32];

		if (fs && fs->note[0]) {
			vol_where(&d->vols[i], where, sizeof(where));
			warn(d, "%s on %s: %s", d->vols[i].info.type, where, fs->note);
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
		char where[32];

		if (!v->info.type[0])
			continue;
		vol_where(v, where, sizeof(where));
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

int dr_disk_open(const char *path, const struct dr_disk_options *opt, struct dr_disk **out,
		 struct ut_err *err)
{
	struct dr_disk *d = ut_calloc(1, sizeof(*d));
	struct ut_buf fstab;
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
	d->vols = ut_calloc(d->nparts ? d->nparts : 1, sizeof(*d->vols));
	if (!d->nparts) {
		d->vols[0].bd = d->bd;
		d->nvols = 1;
	}
	for (i = 0; i < d->nparts; i++) {
		struct vol *v;

		if (d->parts[i].extended)
			continue;
		v = &d->vols[d->nvols++];
		v->partno = d->parts[i].number;
		v->part = &d->parts[i];
		if (dr_blockdev_slice(d->bd, d->parts[i].start, d->parts[i].size, &v->bd, err) < 0)
			goto fail;
	}
	for (i = 0; i < d->nvols; i++) {
		struct vol *v = &d->vols[i];
		const struct dr_fs_ops *ops;
		int r;

		ut_progress_update(&d->opt.progress, "probe", i, d->nvols);
		r = dr_fs_probe(v->bd, &ops, &v->info, err);
		if (r < 0)
			goto fail;
		if (r == 0) {
			sniff(v->bd, &v->info);
			continue;
		}
		v->readable = 1;
		if (open_vol_fs(d, v, err) < 0)
			goto fail;
		if (!v->fs)
			continue;
		v->fs->tmpdir = d->opt.tmpdir;
		if (root < 0 && looks_like_root(v->fs))
			root = (long)i;
	}
	for (i = 0; i < d->nparts; i++) {
		size_t k;

		for (k = 0; k < d->nvols; k++)
			if (d->vols[k].part == &d->parts[i])
				d->part_fs[i] = d->vols[k].info;
	}
	if (root < 0) {
		no_root_error(d, err);
		goto fail;
	}
	add_mount(d, "", "", (size_t)root);
	if (dr_fs_read_path(d->vols[root].fs, "etc/fstab", &fstab, NULL) == 0 && fstab.data)
		parse_fstab(d, (size_t)root, (char *)fstab.data);
	else
		warn(d, "the root filesystem has no readable /etc/fstab: only / is mounted");
	sort_mounts(d);
	for (i = 1; i < d->nmounts; i++) {
		struct vol *v = &d->vols[d->mount_vol[i]];

		if (!v->fs) {
			char where[32];

			vol_where(v, where, sizeof(where));
			warn(d, "/%s: %s on %s cannot be read%s%s", d->mounts[i].mountpoint,
			     v->info.type[0] ? v->info.type : "nothing recognised", where,
			     v->open_error ? ": " : "", v->open_error ? v->open_error : "");
		}
	}
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
	for (i = 0; i < d->nvols; i++) {
		dr_fs_free(d->vols[i].fs);
		if (d->vols[i].bd != d->bd)
			dr_blockdev_free(d->vols[i].bd);
		free(d->vols[i].open_error);
	}
	for (i = 0; i < d->nmounts; i++) {
		free(d->mounts[i].mountpoint);
		free(d->mounts[i].spec);
	}
	for (i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->warnings);
	free(d->mounts);
	free(d->mount_vol);
	free(d->vols);
	free(d->part_fs);
	free(d->parts);
	dr_blockdev_free(d->bd);
	free(d);
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

/* A volume's place on d->bd: a partition's start, or 0 for the whole disk. */
static struct dr_fs *vol_fs(struct dr_disk *d, size_t vi, uint64_t *offset, uint64_t *size)
{
	struct vol *v = &d->vols[vi];

	if (offset)
		*offset = v->part ? v->part->start : 0;
	if (size)
		*size = v->bd->size;
	return v->fs;
}

struct dr_fs *dr_disk_mount_fs(struct dr_disk *d, size_t i, uint64_t *offset, uint64_t *size)
{
	if (i >= d->nmounts)
		return NULL;
	return vol_fs(d, d->mount_vol[i], offset, size);
}

struct dr_fs *dr_disk_entry_fs(struct dr_disk *d, const struct ut_entry *e, uint64_t *offset)
{
	/* tree_cb put the volume index in src_a. */
	if (e->src_a >= d->nvols)
		return NULL;
	return vol_fs(d, (size_t)e->src_a, offset, NULL);
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
	size_t vol;
	uint64_t count;
};

/* link_id: the volume index above bit 48, the inode number below, so that
 * inode 12 of /boot and inode 12 of / are never one hardlink set. */
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
	e->link_id = ((uint64_t)(c->vol + 1) << LINK_VOL_SHIFT) | (e->link_id & ((1ull << LINK_VOL_SHIFT) - 1));
	e->src_a = c->vol;
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

	if (e->src_a >= d->nvols || !d->vols[e->src_a].fs)
		return ut_err_set(err, "%s: /%s: no filesystem to read it from", d->bd->path,
				  e->path);
	fs = d->vols[e->src_a].fs;
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

		if (!v->fs) {
			char where[32];

			vol_where(v, where, sizeof(where));
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
		c.vol = d->mount_vol[i];
		if (dr_fs_walk(v->fs, d->opt.max_file_size, c.mountpoint, tree_cb, &c, err) < 0)
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
