/*
 * base_rootfs.c - root filesystems given as they are: a host directory
 * (walked with lstat and llistxattr, content read from the files) or a tar
 * (any compression) rewritten member by member as one layer.
 */
#include "img_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

/* ---- rootfs:DIR --------------------------------------------------------- */

struct ino_key {
	dev_t dev;
	ino_t ino;
	uint64_t id;
};

static int ino_cmp(const void *a, const void *b)
{
	const struct ino_key *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct walk {
	const char *root;
	struct ut_tree *t;
	void *inodes; /* tsearch tree of struct ino_key */
	uint64_t next_id;
	char *xbuf;
};

static int read_xattrs(struct walk *w, const char *host, struct ut_entry *e, struct ut_err *err)
{
	ssize_t n = llistxattr(host, w->xbuf, 65536), off;

	if (n < 0)
		return errno == ENOTSUP ? 0 : ut_err_set(err, "%s: xattrs: %s", host, strerror(errno));
	for (off = 0; off < n; off += (ssize_t)strlen(w->xbuf + off) + 1) {
		const char *name = w->xbuf + off;
		unsigned char val[65536];
		ssize_t vl = lgetxattr(host, name, val, sizeof(val));

		if (vl < 0)
			continue; /* gone meanwhile, or not for us to read */
		ut_entry_add_xattr(e, name, val, (size_t)vl);
	}
	ut_entry_sort_xattrs(e);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, const char *rel, struct ut_err *err)
{
	char *host = *rel ? ut_asprintf("%s/%s", w->root, rel) : ut_strdup(w->root);
	char **names = NULL, *sub = NULL, *subhost = NULL;
	size_t n = 0, alloc = 0, i;
	struct dirent *de;
	struct stat st;
	int rc = -1;
	DIR *d;

	if (!(d = opendir(host))) {
		ut_err_set(err, "%s: %s", host, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == alloc)
			names = ut_realloc(names, (alloc = alloc ? alloc * 2 : 64) * sizeof(*names));
		names[n++] = ut_strdup(de->d_name);
	}
	closedir(d);
	if (n) /* qsort(NULL, 0) is undefined */
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		struct ut_entry *e;

		free(sub);
		free(subhost);
		sub = *rel ? ut_asprintf("%s/%s", rel, names[i]) : ut_strdup(names[i]);
		subhost = ut_asprintf("%s/%s", w->root, sub);
		if (lstat(subhost, &st) < 0) {
			ut_err_set(err, "%s: %s", subhost, strerror(errno));
			goto out;
		}
		e = ut_tree_add(w->t, sub);
		e->mode = st.st_mode & 07777;
		e->uid = st.st_uid;
		e->gid = st.st_gid;
		e->mtime_sec = st.st_mtim.tv_sec;
		e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
		if (S_ISREG(st.st_mode)) {
			e->type = UT_REG;
			e->size = (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			e->type = UT_DIR;
		} else if (S_ISLNK(st.st_mode)) {
			char tgt[4097];
			ssize_t l = readlink(subhost, tgt, sizeof(tgt) - 1);

			if (l < 0) {
				ut_err_set(err, "%s: %s", subhost, strerror(errno));
				goto out;
			}
			tgt[l] = '\0';
			e->type = UT_LNK;
			e->link = ut_strdup(tgt);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			e->type = S_ISCHR(st.st_mode) ? UT_CHR : UT_BLK;
			e->rdev_major = major(st.st_rdev);
			e->rdev_minor = minor(st.st_rdev);
		} else if (S_ISFIFO(st.st_mode)) {
			e->type = UT_FIFO;
		} else {
			e->type = UT_SOCK;
		}
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
			struct ino_key *k = ut_calloc(1, sizeof(*k)), **f;

			k->dev = st.st_dev;
			k->ino = st.st_ino;
			k->id = w->next_id;
			f = tsearch(k, &w->inodes, ino_cmp);
			if (*f != k)
				free(k);
			else
				w->next_id++;
			e->link_id = (*f)->id;
		}
		if (read_xattrs(w, subhost, e, err) < 0)
			goto out;
		if (S_ISDIR(st.st_mode) && walk_dir(w, sub, err) < 0)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(sub);
	free(subhost);
	free(host);
	return rc;
}

static int dir_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	struct img_dir_content *dc = ctx;
	char *p = ut_asprintf("%s/%s", dc->root, e->path);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		ut_err_set(err, "%s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	free(p);
	*handle = (void *)(intptr_t)(fd + 1);
	return 0;
}

static ssize_t dir_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	int fd = (int)(intptr_t)handle - 1;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ut_err_set(err, "read: %s", strerror(errno));
	return n;
}

static void dir_close(void *ctx, void *handle)
{
	close((int)(intptr_t)handle - 1);
}

static const struct ut_content_ops dir_ops = {
	.open = dir_open,
	.read = dir_read,
	.close = dir_close,
};

int img_rootfs_walk(const char *root, struct img_dir_content *dc, struct ut_tree **out,
		    struct ut_err *err)
{
	struct walk w = { .root = root, .next_id = 1 };
	struct ut_entry *e;
	struct stat st;
	int rc;

	if (lstat(root, &st) < 0)
		return ut_err_set(err, "%s: %s", root, strerror(errno));
	w.t = ut_tree_new();
	w.xbuf = ut_malloc(65536);
	e = ut_tree_add(w.t, "");
	e->type = UT_DIR;
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->mtime_sec = st.st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	rc = walk_dir(&w, "", err);
	tdestroy(w.inodes, free);
	free(w.xbuf);
	if (rc < 0) {
		ut_tree_free(w.t);
		return -1;
	}
	ut_tree_sort(w.t);
	ut_tree_count_links(w.t);
	dc->root = root;
	w.t->content.ops = &dir_ops;
	w.t->content.ctx = dc;
	*out = w.t;
	return 0;
}

/* ---- rootfs:FILE as a layer ------------------------------------------------ */

struct tar_content {
	struct archive *a;
};

static int tar_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	*handle = ctx;
	return 0;
}

static ssize_t tar_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	struct tar_content *tc = ctx;
	la_ssize_t n = archive_read_data(tc->a, buf, len);

	if (n < 0)
		return ut_err_set(err, "%s", archive_error_string(tc->a));
	return n;
}

static void tar_close(void *ctx, void *handle)
{
}

static const struct ut_content_ops tar_ops = {
	.open = tar_open,
	.read = tar_read,
	.close = tar_close,
};

/*
 * Rewrites the tar member by member, in its own order (the same tar gives the
 * same layer), with names normalised and owners numeric. Every regular file
 * gets a link id so that a later hardlink member can name it.
 */
int img_rootfs_tar_layer(const char *path, struct img_layer_writer *w, struct ut_err *err)
{
	struct archive *a = img_open_tar(path, err);
	struct tar_content tc = { a };
	struct ut_content src = { &tar_ops, &tc };
	struct img_pmap ids = { 0 };
	struct archive_entry *ae;
	uint64_t *idv = NULL, next = 1;
	size_t nid = 0, aid = 0;
	int r, rc = -1;

	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		struct ut_entry e = { 0 };
		const char *name, *hl;
		const void *val;
		size_t vlen, k;

		if (img_tar_path(img_entry_name(ae), &e.path, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		hl = img_entry_hardlink(ae);
		if (hl) {
			char *tp = NULL;

			if (img_tar_path(hl, &tp, err) < 0 || !img_pmap_get(&ids, tp, &k)) {
				if (tp)
					ut_err_set(err, "%s: %s: hardlink to missing %s", path, e.path,
						   tp);
				free(tp);
				ut_entry_release(&e);
				goto out;
			}
			free(tp);
			e.type = UT_REG;
			e.link_id = idv[k];
		} else {
			switch (archive_entry_filetype(ae)) {
			case AE_IFREG: e.type = UT_REG; break;
			case AE_IFDIR: e.type = UT_DIR; break;
			case AE_IFLNK: e.type = UT_LNK; break;
			case AE_IFCHR: e.type = UT_CHR; break;
			case AE_IFBLK: e.type = UT_BLK; break;
			case AE_IFIFO: e.type = UT_FIFO; break;
			default: e.type = UT_SOCK; break;
			}
			if (archive_entry_size(ae) < 0) {
				ut_err_set(err, "%s: %s: negative size", path, e.path);
				ut_entry_release(&e);
				goto out;
			}
			e.size = e.type == UT_REG ? (uint64_t)archive_entry_size(ae) : 0;
			if (e.type == UT_LNK)
				e.link = ut_strdup(img_entry_symlink(ae) ? img_entry_symlink(ae) : "");
			e.rdev_major = (uint32_t)archive_entry_rdevmajor(ae);
			e.rdev_minor = (uint32_t)archive_entry_rdevminor(ae);
			if (e.type == UT_REG) {
				if (nid == aid)
					idv = ut_realloc(idv, (aid = aid ? aid * 2 : 256) * sizeof(*idv));
				idv[nid] = next;
				e.link_id = next++;
				img_pmap_put(&ids, ut_strdup(e.path), nid++);
			}
		}
		e.mode = archive_entry_perm(ae) & 07777;
		e.uid = (uint32_t)archive_entry_uid(ae);
		e.gid = (uint32_t)archive_entry_gid(ae);
		e.mtime_sec = archive_entry_mtime(ae);
		e.mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
		archive_entry_xattr_reset(ae);
		while (archive_entry_xattr_next(ae, &name, &val, &vlen) == ARCHIVE_OK)
			if (!ut_entry_find_xattr(&e, name))
				ut_entry_add_xattr(&e, name, val, vlen);
		ut_entry_sort_xattrs(&e);
		r = img_layer_add(w, &e, &src, err);
		ut_entry_release(&e);
		if (r < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
	}
	if (r != ARCHIVE_EOF) {
		ut_err_set(err, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	img_pmap_release(&ids);
	free(idv);
	return rc;
}
