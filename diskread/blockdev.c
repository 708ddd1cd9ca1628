/*
 * blockdev.c - the generic side of block devices: format probing, the policy
 * on the files an image names (backing files, extents) and backing depth
 * limits, bounds checks, and slices (partitions) of another device.
 */
#include "dr_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Deeper chains than this are either a loop or nothing a real VM has. */
#define DR_MAX_BACKING_DEPTH 16

/* Enough for every probe: the magics sit in the first bytes (VDI's at
 * 64), a text descriptor's first line is short. A fixed VHD and a dmg
 * carry theirs in the last 512 bytes. */
#define DR_PROBE_LEN 4096
#define DR_PROBE_TAIL_LEN 512

static const struct dr_blockdev_ops *const dr_backends[] = {
	&dr_qcow2_ops,
	&dr_vmdk_ops,
	&dr_vhdx_ops,
	&dr_vpc_ops,
	&dr_vdi_ops,
	&dr_qed_ops,
	&dr_raw_ops,
};

/* Other names --format accepts (qemu's names are the backends' own). */
static const struct {
	const char *alias, *name;
} dr_aliases[] = {
	{ "vhd", "vpc" },
};

/*
 * Formats no backend reads, known by their magic so that such a disk is
 * refused by name instead of being taken for raw bytes with no filesystem.
 * tail: the magic is that many bytes before the end of the file.
 */
static const struct {
	const char *what;
	size_t tail;
	const char *magic;
	size_t len;
} dr_unsupported[] = {
	{ "VMware ESX/cow (COWD)", 0, "COWD", 4 },
	{ "Parallels", 0, "WithoutFreeSpace", 16 },
	{ "Parallels", 0, "WithouFreSpacExt", 16 },
	{ "Bochs", 0, "Bochs Virtual HD Image", 22 },
	{ "cloop", 0, "#!/bin/sh\n#V2.0 Format\n", 23 },
	{ "LUKS encrypted", 0, "LUKS\xba\xbe", 6 },
	{ "User-Mode Linux COW", 0, "OOOM", 4 },
	{ "Apple disk image (dmg)", 512, "koly", 4 },
};

static const struct dr_blockdev_ops *find_backend(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(dr_aliases) / sizeof(dr_aliases[0]); i++)
		if (!strcmp(dr_aliases[i].alias, name))
			name = dr_aliases[i].name;
	for (i = 0; i < sizeof(dr_backends) / sizeof(dr_backends[0]); i++)
		if (!strcmp(dr_backends[i]->name, name))
			return dr_backends[i];
	return NULL;
}

/* Reads up to cap bytes at off (fewer at the end of the file). */
static int probe_read(int fd, const char *path, unsigned char *buf, size_t cap, uint64_t off,
		      size_t *got, struct ut_err *err)
{
	*got = 0;
	while (*got < cap) {
		ssize_t n = pread(fd, buf + *got, cap - *got, (off_t)(off + *got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: cannot read: %s", path, strerror(errno));
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/* The name of an unreadable format whose magic head or tail carries. */
static const char *unsupported_format(const unsigned char *head, size_t len,
				      const unsigned char *tail, size_t tail_len)
{
	size_t i;

	for (i = 0; i < sizeof(dr_unsupported) / sizeof(dr_unsupported[0]); i++) {
		const unsigned char *p = dr_unsupported[i].tail ? tail : head;
		size_t n = dr_unsupported[i].tail ? tail_len : len;
		size_t at;

		if (n < dr_unsupported[i].tail)
			continue;
		at = dr_unsupported[i].tail ? n - dr_unsupported[i].tail : 0;
		if (dr_unsupported[i].len <= n - at &&
		    !memcmp(p + at, dr_unsupported[i].magic, dr_unsupported[i].len))
			return dr_unsupported[i].what;
	}
	return NULL;
}

/* ---- the file policy ---------------------------------------------------- */

struct image_id {
	dev_t dev;
	ino_t ino;
};

struct dr_open_ctx {
	char *roots[2];          /* real paths of the top image's directories */
	char **allow_real;       /* policy.allow resolved, same order */
	char **allow_given;      /* policy.allow as given, for inspect */
	int *allow_is_dir;
	size_t nallow;
	int trust;
	struct image_id *images; /* every image of the chain, opened so far */
	size_t nimages;
	struct dr_file_link *links;
	size_t nlinks;
	/* The next device's file, already judged: its backend's open takes it. */
	int pending_fd;
	uint64_t pending_size;
};

static void open_ctx_free(struct dr_open_ctx *c)
{
	size_t i;

	if (!c)
		return;
	free(c->roots[0]);
	free(c->roots[1]);
	for (i = 0; i < c->nallow; i++) {
		free(c->allow_real[i]);
		free(c->allow_given[i]);
	}
	free(c->allow_real);
	free(c->allow_given);
	free(c->allow_is_dir);
	free(c->images);
	for (i = 0; i < c->nlinks; i++) {
		free((char *)c->links[i].image);
		free((char *)c->links[i].name);
		free((char *)c->links[i].resolved);
	}
	free(c->links);
	if (c->pending_fd >= 0)
		close(c->pending_fd);
	free(c);
}

/* The real path of path's directory, or NULL. */
static char *real_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real;

	if (!slash)
		return realpath(".", NULL);
	dir = slash == path ? ut_strdup("/") : ut_strndup(path, (size_t)(slash - path));
	real = realpath(dir, NULL);
	free(dir);
	return real;
}

static int open_ctx_new(const char *top, const struct dr_file_policy *policy,
			struct dr_open_ctx **out, struct ut_err *err)
{
	struct dr_open_ctx *c = ut_calloc(1, sizeof(*c));
	char *real_top;
	size_t i;

	*out = NULL;
	c->pending_fd = -1;
	/* The directory as named, and the one the top file really lies in when
	 * it is a symlink: both are places the operator pointed at. */
	c->roots[0] = real_dir_of(top);
	real_top = realpath(top, NULL);
	if (real_top) {
		c->roots[1] = real_dir_of(real_top);
		free(real_top);
	}
	if (policy) {
		c->trust = policy->trust;
		c->nallow = policy->nallow;
		c->allow_real = ut_calloc(c->nallow ? c->nallow : 1, sizeof(char *));
		c->allow_given = ut_calloc(c->nallow ? c->nallow : 1, sizeof(char *));
		c->allow_is_dir = ut_calloc(c->nallow ? c->nallow : 1, sizeof(int));
		for (i = 0; i < c->nallow; i++) {
			struct stat st;

			c->allow_given[i] = ut_strdup(policy->allow[i]);
			c->allow_real[i] = realpath(policy->allow[i], NULL);
			if (!c->allow_real[i] || stat(c->allow_real[i], &st) < 0) {
				ut_err_set(err, "%s: cannot resolve: %s", policy->allow[i],
					   strerror(errno));
				open_ctx_free(c);
				return -1;
			}
			c->allow_is_dir[i] = S_ISDIR(st.st_mode);
		}
	}
	*out = c;
	return 0;
}

/* path equals dir or lies below it (both real paths). */
static int path_under(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (!strcmp(dir, "/"))
		return path[0] == '/';
	return !strncmp(path, dir, l) && (path[l] == '/' || path[l] == '\0');
}

/* /dev, /proc and /sys hold devices and the kernel's files: never data a
 * disk may name, whatever the rule, unless named exactly. */
static int host_special(const char *real, const struct statfs *sfs)
{
	return path_under(real, "/dev") || path_under(real, "/proc") ||
	       path_under(real, "/sys") ||
	       (sfs && (sfs->f_type == PROC_SUPER_MAGIC || sfs->f_type == SYSFS_MAGIC));
}

static int fd_size(int fd, const struct stat *st, const char *path, uint64_t *size,
		   struct ut_err *err)
{
	if (S_ISBLK(st->st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			return ut_err_set(err, "%s: cannot get the size: %s", path,
					  strerror(errno));
		*size = (uint64_t)end;
	} else {
		*size = (uint64_t)st->st_size;
	}
	return 0;
}

static int is_chain_image(const struct dr_open_ctx *c, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->nimages; i++)
		if (c->images[i].dev == st->st_dev && c->images[i].ino == st->st_ino)
			return 1;
	return 0;
}

static void add_image(struct dr_open_ctx *c, const struct stat *st)
{
	c->images = ut_realloc(c->images, (c->nimages + 1) * sizeof(*c->images));
	c->images[c->nimages].dev = st->st_dev;
	c->images[c->nimages].ino = st->st_ino;
	c->nimages++;
}

int dr_open_image_file(struct dr_blockdev *bd, int *fd, uint64_t *size, struct ut_err *err)
{
	struct dr_open_ctx *c = bd->octx;
	struct stat st;

	*fd = -1;
	if (c && c->pending_fd >= 0) {
		/* Judged by dr_open_backing: take it as it is. */
		*fd = c->pending_fd;
		*size = c->pending_size;
		c->pending_fd = -1;
		return 0;
	}
	/* O_NONBLOCK: a FIFO named on the command line gets an error, not a
	 * hang. */
	*fd = open(bd->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0)
		return ut_err_set(err, "%s: cannot open: %s", bd->path, strerror(errno));
	if (fstat(*fd, &st) < 0) {
		ut_err_set(err, "%s: cannot stat: %s", bd->path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		ut_err_set(err, "%s: not a regular file or a block device", bd->path);
		goto fail;
	}
	if (fd_size(*fd, &st, bd->path, size, err) < 0)
		goto fail;
	if (c)
		add_image(c, &st);
	return 0;
fail:
	close(*fd);
	*fd = -1;
	return -1;
}

/* "dir of base" + name, unless name is absolute. */
static char *relative_to(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');

	if (name[0] == '/' || !slash)
		return ut_strdup(name);
	return ut_asprintf("%.*s/%s", (int)(slash - base), base, name);
}

/*
 * Which rule lets real in: 0 with *rule (and *allowed_by) set, -1 when none
 * does. An exact allow entry wins over everything, so that the one device
 * the operator named is followed even under /dev.
 */
static int judge(const struct dr_open_ctx *c, const char *real, int special,
		 enum dr_link_rule *rule, const char **allowed_by)
{
	size_t i;

	*allowed_by = NULL;
	for (i = 0; i < c->nallow; i++) {
		if (!c->allow_is_dir[i] && !strcmp(real, c->allow_real[i])) {
			*rule = DR_RULE_ALLOWED;
			*allowed_by = c->allow_given[i];
			return 0;
		}
	}
	if (special)
		return -1;
	for (i = 0; i < 2; i++) {
		if (c->roots[i] && path_under(real, c->roots[i])) {
			*rule = DR_RULE_SAME_TREE;
			return 0;
		}
	}
	for (i = 0; i < c->nallow; i++) {
		if (c->allow_is_dir[i] && path_under(real, c->allow_real[i])) {
			*rule = DR_RULE_ALLOWED;
			*allowed_by = c->allow_given[i];
			return 0;
		}
	}
	if (c->trust) {
		*rule = DR_RULE_TRUSTED;
		return 0;
	}
	return -1;
}

int dr_open_named_file(struct dr_blockdev *bd, const char *role, const char *name, int *fd,
		       uint64_t *size, char **path, struct ut_err *err)
{
	struct dr_open_ctx *c = bd->octx;
	struct stat lst, st;
	struct statfs sfs;
	enum dr_link_rule rule;
	const char *allowed_by;
	struct dr_file_link *l;
	char *real = NULL;
	int special;

	assert(c);
	*fd = -1;
	*path = relative_to(bd->path, name);
	real = realpath(*path, NULL);
	if (!real || lstat(real, &lst) < 0) {
		ut_err_set(err, "%s: %s %s: cannot open: %s", bd->path, role, name,
			   strerror(errno));
		goto fail;
	}
	special = host_special(real, NULL) || !S_ISREG(lst.st_mode);
	if (judge(c, real, special, &rule, &allowed_by) < 0) {
		if (special)
			ut_err_set(err,
				   "%s: %s %s resolves to %s, %s: never followed unless that exact path is given with --backing-dir",
				   bd->path, role, name, real,
				   S_ISBLK(lst.st_mode) ? "a block device"
				   : !S_ISREG(lst.st_mode) ? "not a regular file"
							   : "a host system file");
		else
			ut_err_set(err,
				   "%s: %s %s resolves outside the disk's directory (%s); use --backing-dir or --trust-backing",
				   bd->path, role, name, real);
		goto fail;
	}
	if (!S_ISREG(lst.st_mode) && !S_ISBLK(lst.st_mode)) {
		ut_err_set(err, "%s: %s %s (%s) is not a regular file or a block device",
			   bd->path, role, name, real);
		goto fail;
	}
	/* O_NOFOLLOW and the same inode as judged: a rename between the check
	 * and the open cannot swap in another file. */
	*fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (*fd < 0) {
		ut_err_set(err, "%s: %s %s: cannot open: %s", bd->path, role, name,
			   strerror(errno));
		goto fail;
	}
	if (fstat(*fd, &st) < 0 || fstatfs(*fd, &sfs) < 0) {
		ut_err_set(err, "%s: %s %s: cannot stat: %s", bd->path, role, name,
			   strerror(errno));
		goto fail;
	}
	if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino) {
		ut_err_set(err, "%s: %s %s changed while it was opened", bd->path, role, name);
		goto fail;
	}
	if (!allowed_by && host_special(real, &sfs)) {
		ut_err_set(err,
			   "%s: %s %s resolves to %s, a kernel file: never followed unless that exact path is given with --backing-dir",
			   bd->path, role, name, real);
		goto fail;
	}
	if (is_chain_image(c, &st)) {
		ut_err_set(err, "%s: %s %s (%s) is %s", bd->path, role, name, real,
			   c->nimages == 1 ? "the image itself"
					   : "an image already in the chain (a loop)");
		goto fail;
	}
	if (fd_size(*fd, &st, real, size, err) < 0)
		goto fail;
	c->links = ut_realloc(c->links, (c->nlinks + 1) * sizeof(*c->links));
	l = &c->links[c->nlinks++];
	l->image = ut_strdup(bd->path);
	l->role = role;
	l->name = ut_strdup(name);
	l->resolved = real;
	l->rule = rule;
	l->allowed_by = allowed_by;
	return 0;
fail:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	free(real);
	free(*path);
	*path = NULL;
	return -1;
}

static int probe_fd(int fd, const char *path, const struct dr_blockdev_ops **ops,
		    struct ut_err *err)
{
	unsigned char head[DR_PROBE_LEN], tail[DR_PROBE_TAIL_LEN];
	size_t len = 0, tail_len = 0, i;
	const char *what;
	struct stat st;
	int best = 0;

	if (probe_read(fd, path, head, sizeof(head), 0, &len, err) < 0)
		return -1;
	/* The tail of a regular file only: a block device's size needs an
	 * ioctl, and raw is what one is. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= DR_PROBE_TAIL_LEN &&
	    probe_read(fd, path, tail, sizeof(tail), st.st_size - DR_PROBE_TAIL_LEN, &tail_len,
		       err) < 0)
		return -1;
	*ops = NULL;
	for (i = 0; i < sizeof(dr_backends) / sizeof(dr_backends[0]); i++) {
		int score = dr_backends[i]->probe(head, len);

		if (dr_backends[i]->probe_tail && tail_len) {
			int t = dr_backends[i]->probe_tail(tail, tail_len);

			score = t > score ? t : score;
		}
		if (score > best) {
			best = score;
			*ops = dr_backends[i];
		}
	}
	if (!*ops)
		return ut_err_set(err, "%s: unknown disk image format", path);
	if (*ops == &dr_raw_ops && (what = unsupported_format(head, len, tail, tail_len)))
		return ut_err_set(err, "%s: %s format is not supported", path, what);
	return 0;
}

/*
 * Opens one device of a chain over ctx. fd >= 0: the file is already open
 * and judged (a backing file); fd < 0: the top image, opened by path.
 */
static int blockdev_open_in(struct dr_open_ctx *ctx, int owns, int fd, uint64_t fsize,
			    const char *path, const char *format, int depth,
			    struct dr_blockdev **out, struct ut_err *err)
{
	const struct dr_blockdev_ops *ops;
	struct dr_blockdev *bd;
	struct stat st;
	int probe = fd, ret;

	*out = NULL;
	if (depth > DR_MAX_BACKING_DEPTH) {
		ut_err_set(err, "%s: backing chain too deep or a loop", path);
		goto fail;
	}
	if (format) {
		ops = find_backend(format);
		if (!ops) {
			ut_err_set(err, "%s: unsupported disk format '%s'", path, format);
			goto fail;
		}
	} else {
		if (probe < 0)
			probe = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (probe < 0) {
			ut_err_set(err, "%s: cannot open: %s", path, strerror(errno));
			goto fail;
		}
		if (probe_fd(probe, path, &ops, err) < 0)
			goto fail;
	}
	if (probe >= 0 && probe != fd)
		close(probe);
	probe = -1;
	bd = ut_calloc(1, sizeof(*bd));
	bd->ops = ops;
	bd->path = ut_strdup(path);
	bd->octx = ctx;
	bd->owns_octx = owns;
	if (fd >= 0) {
		/* The backend's dr_open_image_file takes it; a backing file is an
		 * image of the chain from now on. */
		if (fstat(fd, &st) == 0)
			add_image(ctx, &st);
		ctx->pending_fd = fd;
		ctx->pending_size = fsize;
		fd = -1;
	}
	ret = ops->open(bd, path, depth, err);
	/* A backend that failed before taking its file must not leave it for
	 * the next open to take. */
	if (ctx->pending_fd >= 0) {
		close(ctx->pending_fd);
		ctx->pending_fd = -1;
	}
	if (ret < 0) {
		dr_blockdev_free(bd);
		return -1;
	}
	*out = bd;
	return 0;
fail:
	if (probe >= 0 && probe != fd)
		close(probe);
	if (fd >= 0)
		close(fd);
	if (owns)
		open_ctx_free(ctx);
	return -1;
}

int dr_open_backing(struct dr_blockdev *bd, const char *role, const char *name,
		    const char *format, struct ut_err *err)
{
	char *path = NULL;
	uint64_t size;
	int fd, ret;

	if (dr_open_named_file(bd, role, name, &fd, &size, &path, err) < 0)
		return -1;
	/* The images open so far: the depth of the next one in a chain. */
	ret = blockdev_open_in(bd->octx, 0, fd, size, path, format, (int)bd->octx->nimages,
			       &bd->backing, err);
	/* The inner message names the file that failed; saying which image
	 * asked for it once, at the top, keeps a loop's message from repeating
	 * itself 16 times. */
	if (ret < 0 && bd->owns_octx)
		ut_err_prefix(err, "%s: %s %s: ", bd->path, role, name);
	free(path);
	return ret;
}

int dr_blockdev_open_policy(const char *path, const char *format,
			    const struct dr_file_policy *policy, struct dr_blockdev **out,
			    struct ut_err *err)
{
	struct dr_open_ctx *ctx;

	*out = NULL;
	if (open_ctx_new(path, policy, &ctx, err) < 0)
		return -1;
	return blockdev_open_in(ctx, 1, -1, 0, path, format, 0, out, err);
}

int dr_blockdev_open(const char *path, const char *format, struct dr_blockdev **out,
		     struct ut_err *err)
{
	return dr_blockdev_open_policy(path, format, NULL, out, err);
}

const struct dr_file_link *dr_blockdev_links(const struct dr_blockdev *bd, size_t *n)
{
	while (bd->parent)
		bd = bd->parent;
	*n = bd->octx ? bd->octx->nlinks : 0;
	return bd->octx ? bd->octx->links : NULL;
}

/* ---- slices ------------------------------------------------------------- */

static int slice_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		       struct ut_err *err)
{
	return dr_blockdev_pread(bd->parent, buf, len, bd->slice_off + off, err);
}

static int slice_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			      uint64_t *pnum, int *allocated, int *in_backing,
			      struct ut_err *err)
{
	return dr_blockdev_block_status(bd->parent, bd->slice_off + off, len, pnum,
					allocated, in_backing, err);
}

static const struct dr_blockdev_ops slice_ops = {
	.name = "slice",
	.pread = slice_pread,
	.block_status = slice_block_status,
};

int dr_blockdev_slice(struct dr_blockdev *parent, uint64_t off, uint64_t len,
		      struct dr_blockdev **out, struct ut_err *err)
{
	struct dr_blockdev *bd;

	*out = NULL;
	if (off > parent->size || len > parent->size - off)
		return ut_err_set(err,
				  "%s: slice [%llu, +%llu) lies beyond the end of the disk (%llu bytes)",
				  parent->path, (unsigned long long)off,
				  (unsigned long long)len, (unsigned long long)parent->size);
	bd = ut_calloc(1, sizeof(*bd));
	bd->ops = &slice_ops;
	bd->path = ut_strdup(parent->path);
	bd->size = len;
	bd->parent = parent;
	bd->slice_off = off;
	*out = bd;
	return 0;
}

/* ---- generic wrappers --------------------------------------------------- */

int dr_blockdev_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		      struct ut_err *err)
{
	if (off > bd->size || len > bd->size - off)
		return ut_err_set(err,
				  "%s: read of %zu bytes at offset %llu goes beyond the end of the disk (%llu bytes)",
				  bd->path, len, (unsigned long long)off,
				  (unsigned long long)bd->size);
	if (!len)
		return 0;
	return bd->ops->pread(bd, buf, len, off, err);
}

int dr_blockdev_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len,
			     uint64_t *pnum, int *allocated, int *in_backing,
			     struct ut_err *err)
{
	int a = 1, b = 0;

	if (off >= bd->size)
		return ut_err_set(err,
				  "%s: block status at offset %llu is beyond the end of the disk (%llu bytes)",
				  bd->path, (unsigned long long)off,
				  (unsigned long long)bd->size);
	if (len > bd->size - off)
		len = bd->size - off;
	if (!len)
		return ut_err_set(err, "%s: block status of an empty range", bd->path);
	if (!bd->ops->block_status) {
		*pnum = len;
	} else {
		if (bd->ops->block_status(bd, off, len, pnum, &a, &b, err) < 0)
			return -1;
		/* A backend answering 0 bytes would make callers loop forever. */
		if (*pnum == 0 || *pnum > len)
			return ut_err_set(err, "%s: internal error: block status answered %llu bytes",
					  bd->path, (unsigned long long)*pnum);
	}
	if (allocated)
		*allocated = a;
	if (in_backing)
		*in_backing = b;
	return 0;
}

const char *dr_blockdev_format(const struct dr_blockdev *bd)
{
	while (bd->parent)
		bd = bd->parent;
	return bd->ops->name;
}

uint64_t dr_blockdev_bytes_read(const struct dr_blockdev *bd)
{
	uint64_t sum = 0;
	const struct dr_blockdev *b;

	for (; bd; bd = bd->parent)
		for (b = bd; b; b = b->backing)
			sum += b->bytes_read;
	return sum;
}

void dr_blockdev_free(struct dr_blockdev *bd)
{
	while (bd) {
		struct dr_blockdev *next = bd->backing;

		/* A failed open may leave priv NULL; close must cope. */
		if (bd->ops && bd->ops->close)
			bd->ops->close(bd);
		if (bd->owns_octx)
			open_ctx_free(bd->octx);
		free(bd->path);
		free(bd);
		bd = next;
	}
}

int dr_host_pread(int fd, uint64_t file_size, const char *path, void *buf, size_t len,
		  uint64_t off, uint64_t *bytes_read, struct ut_err *err)
{
	unsigned char *dst = buf;

	while (len) {
		ssize_t n;

		if (off >= file_size) {
			memset(dst, 0, len);
			return 0;
		}
		n = pread(fd, dst, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: read error at offset %llu: %s", path,
					  (unsigned long long)off, strerror(errno));
		if (n == 0) {
			memset(dst, 0, len);
			return 0;
		}
		*bytes_read += (uint64_t)n;
		dst += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int dr_read_backing(struct dr_blockdev *bd, unsigned char *buf, uint64_t len, uint64_t off,
		    struct ut_err *err)
{
	struct dr_blockdev *b = bd->backing;
	uint64_t n = 0;

	if (b && off < b->size) {
		n = b->size - off < len ? b->size - off : len;
		if (dr_blockdev_pread(b, buf, n, off, err) < 0)
			return -1;
	}
	memset(buf + n, 0, len - n);
	return 0;
}

uint64_t dr_blockdev_size(const struct dr_blockdev *bd)
{
	return bd->size;
}

const char *dr_blockdev_path(const struct dr_blockdev *bd)
{
	return bd->path;
}

struct dr_blockdev *dr_blockdev_backing(const struct dr_blockdev *bd)
{
	return bd->backing;
}

struct dr_blockdev *dr_blockdev_whole(struct dr_blockdev *bd)
{
	while (bd->parent)
		bd = bd->parent;
	return bd;
}
