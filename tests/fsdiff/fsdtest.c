/*
 * fsdtest.c - the fsdiff tests' model of a layer and their tree sources.
 *
 * Nothing here shares code with fsdiff.c on purpose: apply_plan and
 * tree_equal are the independent statement of what a correct plan means.
 */
#include "fsdtest.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- synthetic content -------------------------------------------------- */

unsigned long syn_opens;

struct syn_handle {
	uint64_t seed, size, pos, end;
	int mode;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int syn_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	struct syn_handle *h;

	(void)ctx;
	if (e->src_b == SYN_FAIL_OPEN)
		return ut_err_set(err, "%s: cannot open (test failure)", e->path);
	h = ut_calloc(1, sizeof(*h));
	h->seed = e->src_a;
	h->size = e->size;
	h->mode = (int)e->src_b;
	h->end = h->mode == SYN_SHORT ? e->size / 2 : e->size;
	*handle = h;
	syn_opens++;
	return 0;
}

static ssize_t syn_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	struct syn_handle *h = handle;
	unsigned char *out = buf;
	size_t k;

	(void)ctx;
	if (h->mode == SYN_FAIL_READ)
		return ut_err_set(err, "read error (test failure)");
	if (len > h->end - h->pos)
		len = (size_t)(h->end - h->pos);
	for (k = 0; k < len; k++, h->pos++)
		out[k] = (unsigned char)(mix(h->seed * 1000003ULL + h->pos / 8) >> (8 * (h->pos % 8)));
	return (ssize_t)len;
}

static void syn_close(void *ctx, void *handle)
{
	(void)ctx;
	free(handle);
}

const struct ut_content_ops syn_ops = {
	.open = syn_open,
	.read = syn_read,
	.close = syn_close,
};

void syn_digest(uint64_t seed, uint64_t size, unsigned char out[UT_SHA256_LEN])
{
	struct ut_content c = { &syn_ops, NULL };
	struct ut_entry e = { 0 };
	unsigned long opens = syn_opens;

	e.path = (char *)"x";
	e.type = UT_REG;
	e.src_a = seed;
	e.size = size;
	ut_content_digest(&c, &e, NULL);
	memcpy(out, e.digest, UT_SHA256_LEN);
	syn_opens = opens;
}

/* ---- host content and walker -------------------------------------------- */

static int host_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	char *p = ut_asprintf("%s/%s", (const char *)ctx, e->path);
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

static ssize_t host_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	ssize_t n = read((int)(intptr_t)handle - 1, buf, len);

	(void)ctx;
	if (n < 0)
		return ut_err_set(err, "read: %s", strerror(errno));
	return n;
}

static void host_close(void *ctx, void *handle)
{
	(void)ctx;
	close((int)(intptr_t)handle - 1);
}

const struct ut_content_ops host_ops = {
	.open = host_open,
	.read = host_read,
	.close = host_close,
};

static void host_entry(struct ut_tree *t, const char *root, const char *rel)
{
	char *full = rel[0] ? ut_asprintf("%s/%s", root, rel) : ut_strdup(root);
	struct ut_entry *e;
	struct stat st;
	char names[65536];
	ssize_t nl;

	if (lstat(full, &st) < 0) {
		perror(full);
		abort();
	}
	e = ut_tree_add(t, rel);
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->mtime_sec = st.st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	e->nlink = (uint32_t)st.st_nlink;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: e->type = UT_REG; e->size = (uint64_t)st.st_size; break;
	case S_IFDIR: e->type = UT_DIR; break;
	case S_IFLNK: {
		char target[4096];
		ssize_t n = readlink(full, target, sizeof(target) - 1);

		e->type = UT_LNK;
		target[n < 0 ? 0 : n] = '\0';
		e->link = ut_strdup(target);
		break;
	}
	case S_IFCHR: e->type = UT_CHR; break;
	case S_IFBLK: e->type = UT_BLK; break;
	case S_IFIFO: e->type = UT_FIFO; break;
	default: e->type = UT_SOCK; break;
	}
	if (e->type == UT_CHR || e->type == UT_BLK) {
		e->rdev_major = major(st.st_rdev);
		e->rdev_minor = minor(st.st_rdev);
	}
	if (e->type != UT_DIR && st.st_nlink > 1)
		e->link_id = ((uint64_t)st.st_dev << 40) ^ (uint64_t)st.st_ino;
	nl = llistxattr(full, names, sizeof(names));
	for (ssize_t off = 0; nl > 0 && off < nl; off += (ssize_t)strlen(names + off) + 1) {
		unsigned char val[65536];
		ssize_t vl = lgetxattr(full, names + off, val, sizeof(val));

		if (vl >= 0)
			ut_entry_add_xattr(e, names + off, val, (size_t)vl);
	}
	ut_entry_sort_xattrs(e);
	if (e->type == UT_DIR) {
		DIR *d = opendir(full);
		struct dirent *de;
		char **kids = NULL;
		size_t n = 0, i;

		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			kids = ut_realloc(kids, (n + 1) * sizeof(*kids));
			kids[n++] = rel[0] ? ut_asprintf("%s/%s", rel, de->d_name)
					   : ut_strdup(de->d_name);
		}
		if (d)
			closedir(d);
		/* Readdir order on purpose: fsd_diff must sort for itself. */
		for (i = 0; i < n; i++) {
			host_entry(t, root, kids[i]);
			free(kids[i]);
		}
		free(kids);
	}
	free(full);
}

struct ut_tree *host_walk(const char *root)
{
	struct ut_tree *t = ut_tree_new();

	host_entry(t, root, "");
	t->content.ops = &host_ops;
	t->content.ctx = ut_strdup(root);
	return t;
}

void host_tree_free(struct ut_tree *t)
{
	if (t)
		free(t->content.ctx);
	ut_tree_free(t);
}

/* ---- builders ----------------------------------------------------------- */

struct ut_tree *syn_tree(void)
{
	struct ut_tree *t = ut_tree_new();

	t->content.ops = &syn_ops;
	t_dir(t, "", 0755);
	return t;
}

static struct ut_entry *t_add(struct ut_tree *t, const char *path, enum ut_ftype type,
			      uint32_t mode)
{
	struct ut_entry *e = ut_tree_add(t, path);

	e->type = type;
	e->mode = mode;
	e->mtime_sec = 1700000000;
	e->nlink = 1;
	return e;
}

struct ut_entry *t_dir(struct ut_tree *t, const char *path, uint32_t mode)
{
	return t_add(t, path, UT_DIR, mode);
}

struct ut_entry *t_file(struct ut_tree *t, const char *path, uint64_t seed, uint64_t size)
{
	struct ut_entry *e = t_add(t, path, UT_REG, 0644);

	e->src_a = seed;
	e->size = size;
	return e;
}

struct ut_entry *t_symlink(struct ut_tree *t, const char *path, const char *target)
{
	struct ut_entry *e = t_add(t, path, UT_LNK, 0777);

	e->link = ut_strdup(target);
	return e;
}

struct ut_entry *t_dev(struct ut_tree *t, const char *path, enum ut_ftype type,
		       uint32_t major_, uint32_t minor_)
{
	struct ut_entry *e = t_add(t, path, type, 0600);

	e->rdev_major = major_;
	e->rdev_minor = minor_;
	return e;
}

struct ut_tree *tree_clone(const struct ut_tree *t, int keep_digests)
{
	struct ut_tree *c = ut_tree_new();
	size_t i;

	c->content = t->content;
	for (i = 0; i < t->n; i++) {
		struct ut_entry e;

		ut_entry_copy(&e, &t->v[i]);
		if (!keep_digests)
			e.has_digest = 0;
		ut_tree_take(c, &e);
	}
	return c;
}

/* ---- real trees ---------------------------------------------------------- */

/* A base tree from real files and real tools, then a VM copy changed with
 * real tools. Returns 0, or the exit status of the first failing command. */
const char real_trees_script[] =
	"set -e; cd '%s'; mkdir base; cd base;"
	"cp -a /usr/share/common-licenses licenses;"
	"mkdir -p etc etc.bak bin h d/sub t dd dev;"
	/* fstab, os-release and bin/ make libguestfs' inspection see an OS */
	"echo '/dev/sda / ext4 defaults 0 1' > etc/fstab;"
	"printf 'ID=debian\\nVERSION_ID=12\\n' > etc/os-release;"
	"echo root:x:0:0 > etc/passwd; echo aaaa > etc/a; echo AAAA > etc/b1;"
	"echo bbb > etc/b; echo ccc > etc/c; echo xxx > etc/x; echo y > etc.bak/old;"
	"head -c 2097152 /dev/urandom > bin/big; printf '#!/bin/sh\\necho hi\\n' > bin/script;"
	"chmod 755 bin/script;"
	"echo hh > h/h1; ln h/h1 h/h2; echo ss > h/s1; echo ss > h/s2;"
	"echo tt > h/t1; ln h/t1 h/t2; ln h/t1 h/t3;"
	"ln -s tgt l; mkfifo fifo; echo deep > d/sub/x; echo f > t/f; echo ff > f;"
	"echo in-dd > dd/k;"
	"echo m > meta; echo m2 > meta2; echo m3 > meta3;"
	"setfattr -n user.a -v one meta2; setfattr -n user.a -v one meta3;"
	"echo sp > 'with space'; printf 'e' > \"$(printf 'caf\\303\\251')\";"
	"echo nl > \"$(printf 'new\\nline')\";"
	"(mknod dev/n c 1 3 && mknod dev/b b 7 0) 2>/dev/null || true;"
	/* s1 and s2 get one mtime: two writes can straddle a clock tick, and
	 * then the join below would also be an mtime change, by chance */
	"touch -d '2024-01-02 03:04:05' etc/b1 h/s1 h/s2 etc h;"
	"cd ..; cp -a base vm; cd vm;"
	/* content: other size; same size and mtime (only a read sees it) */
	"echo 'A longer line' > etc/a;"
	"touch -r etc/b1 ../ref; printf 'BBBB\\n' > etc/b1; touch -r ../ref etc/b1; rm ../ref;"
	/* metadata */
	"chmod 600 etc/b; chown 1:1 etc; chown 2 etc/c; touch -d 2020-01-01 fifo;"
	"setfattr -n user.new -v 1 meta; setfattr -x user.a meta2;"
	"setfattr -n user.a -v changed meta3;"
	/* symlink, devices */
	"ln -sfn other l;"
	"if [ -c dev/n ]; then rm dev/n; mknod dev/n c 1 5; fi;"
	/* deletions, type changes */
	"rm -r d; rm etc/x; rm -r t; echo t > t; rm f; mkdir f; echo in > f/in;"
	"rm -r dd; ln -s etc dd;"
	/* hardlinks: split, join, a new member */
	"rm h/h2; cp h/h1 h/h2; ln -f h/s1 h/s2; ln h/t1 h/t4;"
	/* a move, additions, odd names */
	"mv bin/big newbig; echo new > etc.bak/y; mkdir nd; echo q > nd/q;"
	"echo sp2 > 'with space'; rm \"$(printf 'caf\\303\\251')\";"
	"echo 'more' > \"$(printf 'new\\nline')\"; echo z > \"$(printf 'x y\\nz')\";"
	"rm licenses/GPL-3; chmod 700 licenses/Apache-2.0";

/* ---- the model ---------------------------------------------------------- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int parent_is_dir(const struct ut_tree *lower, const struct ut_tree *upper,
			 const char *path)
{
	size_t pl = ut_path_parent_len(path);
	char *parent = ut_strndup(path, pl);
	const struct ut_entry *e = ut_tree_find(upper, parent);
	int ok;

	if (!e)
		e = ut_tree_find(lower, parent);
	ok = (e && e->type == UT_DIR) || (!e && !parent[0]);
	free(parent);
	return ok;
}

struct ut_tree *apply_plan(const struct ut_tree *base, const struct fsd_layer_item *items,
			   size_t n)
{
	struct ut_tree *lower = tree_clone(base, 1), *upper = ut_tree_new();
	size_t i;

	ut_tree_sort(lower);
	/* Lower inodes and layer inodes never share a link_id. */
	for (i = 0; i < lower->n; i++)
		lower->v[i].link_id *= 2;
	/* Whiteouts hide the lower layers only, whatever their place in the tar. */
	for (i = 0; i < n; i++) {
		if (!items[i].whiteout)
			continue;
		if (!ut_tree_find(lower, items[i].path)) {
			fail("plan: whiteout of %s, which the lower layers do not have", items[i].path);
			goto bad;
		}
		ut_tree_remove(lower, items[i].path);
	}
	for (i = 0; i < n; i++) {
		const struct ut_entry *low;
		struct ut_entry e;

		if (items[i].whiteout)
			continue;
		if (!items[i].entry || strcmp(items[i].entry->path, items[i].path)) {
			fail("plan: item %zu has no entry or another path", i);
			goto bad;
		}
		if (!items[i].path[0]) {
			fail("plan: the root is an item");
			goto bad;
		}
		if (!parent_is_dir(lower, upper, items[i].path)) {
			fail("plan: %s written before its parent directory exists", items[i].path);
			goto bad;
		}
		low = ut_tree_find(lower, items[i].path);
		if (low && (low->type == UT_DIR || items[i].entry->type == UT_DIR) &&
		    low->type != items[i].entry->type) {
			fail("plan: %s %s written over a %s with no whiteout", items[i].path,
			     ut_ftype_name(items[i].entry->type), ut_ftype_name(low->type));
			goto bad;
		}
		ut_entry_copy(&e, items[i].entry);
		if (e.link_id && e.type != UT_DIR)
			e.link_id = e.link_id * 2 + 1;
		else
			e.link_id = 0;
		ut_tree_take(upper, &e);
		if (!upper->sorted) {
			fail("plan: entries not in strcmp order at %s", items[i].path);
			goto bad;
		}
	}
	for (i = 0; i < upper->n; i++)
		ut_tree_take(lower, &upper->v[i]);
	upper->n = 0;
	ut_tree_free(upper);
	lower->sorted = 0;
	ut_tree_sort(lower);
	return lower;
bad:
	ut_tree_free(lower);
	ut_tree_free(upper);
	return NULL;
}

static int masked(const struct cmp_opts *o, const char *name)
{
	for (size_t i = 0; o && i < o->nmask; i++)
		if (!strcmp(o->mask[i], name))
			return 1;
	return 0;
}

/* Unmasked xattrs of a and b as the same sorted name/value list. */
static int xattrs_same(const struct ut_entry *a, const struct ut_entry *b, const struct cmp_opts *o)
{
	struct ut_entry x = { 0 }, y = { 0 };
	size_t i;
	int same = 1;

	for (i = 0; i < a->nxattrs; i++)
		if (!masked(o, a->xattrs[i].name))
			ut_entry_add_xattr(&x, a->xattrs[i].name, a->xattrs[i].value, a->xattrs[i].len);
	for (i = 0; i < b->nxattrs; i++)
		if (!masked(o, b->xattrs[i].name))
			ut_entry_add_xattr(&y, b->xattrs[i].name, b->xattrs[i].value, b->xattrs[i].len);
	ut_entry_sort_xattrs(&x);
	ut_entry_sort_xattrs(&y);
	if (x.nxattrs != y.nxattrs)
		same = 0;
	for (i = 0; same && i < x.nxattrs; i++)
		same = !strcmp(x.xattrs[i].name, y.xattrs[i].name) &&
		       x.xattrs[i].len == y.xattrs[i].len &&
		       !memcmp(x.xattrs[i].value, y.xattrs[i].value, x.xattrs[i].len);
	ut_entry_release(&x);
	ut_entry_release(&y);
	return same;
}

unsigned entry_diff(const struct ut_entry *b, const struct ut_entry *v, const struct cmp_opts *o)
{
	unsigned w = 0;

	if (b->type == UT_REG) {
		if (b->size != v->size)
			w |= FSD_DIFF_CONTENT | FSD_DIFF_SIZE;
		else if (b->size && memcmp(b->digest, v->digest, UT_SHA256_LEN))
			w |= FSD_DIFF_CONTENT;
	}
	if (b->type == UT_LNK && strcmp(b->link, v->link))
		w |= FSD_DIFF_LINK;
	if ((b->type == UT_CHR || b->type == UT_BLK) &&
	    (b->rdev_major != v->rdev_major || b->rdev_minor != v->rdev_minor))
		w |= FSD_DIFF_RDEV;
	if (b->mode != v->mode)
		w |= FSD_DIFF_MODE;
	if (b->uid != v->uid || b->gid != v->gid)
		w |= FSD_DIFF_OWNER;
	if ((b->type != UT_DIR || (o && o->dir_mtimes)) &&
	    (b->mtime_sec != v->mtime_sec || b->mtime_nsec != v->mtime_nsec))
		w |= FSD_DIFF_MTIME;
	if (!xattrs_same(b, v, o))
		w |= FSD_DIFF_XATTR;
	return w;
}

/* For each entry, the smallest path of its hardlink set (or its own). */
static const char **link_reps(const struct ut_tree *t)
{
	const char **rep = ut_malloc((t->n ? t->n : 1) * sizeof(*rep));
	size_t i, j;

	/* Quadratic, but the model must be obviously right, not fast. */
	for (i = 0; i < t->n; i++) {
		rep[i] = t->v[i].path;
		if (!t->v[i].link_id || t->v[i].type == UT_DIR)
			continue;
		for (j = 0; j < i; j++) {
			if (t->v[j].link_id == t->v[i].link_id && t->v[j].type != UT_DIR) {
				rep[i] = t->v[j].path;
				break;
			}
		}
	}
	return rep;
}

int tree_equal(const struct ut_tree *a, const struct ut_tree *b, const struct cmp_opts *o)
{
	const char **ra = NULL, **rb = NULL;
	size_t i;
	int rc = -1;

	for (i = 0; i < a->n || i < b->n; i++) {
		const struct ut_entry *x = i < a->n ? &a->v[i] : NULL, *y = i < b->n ? &b->v[i] : NULL;
		unsigned w;

		if (!x || !y || strcmp(x->path, y->path)) {
			fail("tree: first differing path: \"%s\" vs \"%s\"", x ? x->path : "(end)",
			     y ? y->path : "(end)");
			goto out;
		}
		if (x->type != y->type) {
			fail("tree: %s: %s vs %s", x->path, ut_ftype_name(x->type), ut_ftype_name(y->type));
			goto out;
		}
		if (x->type == UT_REG && (!x->has_digest || !y->has_digest) && x->size) {
			fail("tree: %s: no digest to compare", x->path);
			goto out;
		}
		/* A layer has no entry for the root: its metadata is the
		 * runtime's, so a plan cannot carry it. */
		w = x->path[0] ? entry_diff(x, y, o) : 0;
		if (w) {
			fail("tree: \"%s\" differs (what=0x%x)", x->path, w);
			goto out;
		}
	}
	ra = link_reps(a);
	rb = link_reps(b);
	for (i = 0; i < a->n; i++) {
		if (strcmp(ra[i], rb[i])) {
			fail("tree: \"%s\": hardlinked with \"%s\" vs \"%s\"", a->v[i].path, ra[i], rb[i]);
			goto out;
		}
	}
	rc = 0;
out:
	free(ra);
	free(rb);
	return rc;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_sorted(const char **v, size_t n, const char *p)
{
	return bsearch(&p, v, n, sizeof(*v), path_cmp) != NULL;
}

int check_plan(const struct ut_tree *vm, const struct fsd_layer_item *items, size_t n)
{
	const char **ents = ut_malloc((n + 1) * sizeof(*ents));
	const char **whs = ut_malloc((n + 1) * sizeof(*whs));
	size_t *epos = ut_malloc((n + 1) * sizeof(*epos));
	size_t ne = 0, nw = 0, i, k;
	int rc = -1;

	for (i = 0; i < n; i++) {
		if (!items[i].path[0]) {
			fail("plan: root item");
			goto out;
		}
		if (items[i].whiteout) {
			whs[nw++] = items[i].path;
			continue;
		}
		if (ne && strcmp(ents[ne - 1], items[i].path) >= 0) {
			fail("plan: entries out of order or repeated at %s", items[i].path);
			goto out;
		}
		epos[ne] = i;
		ents[ne++] = items[i].path;
	}
	qsort(whs, nw, sizeof(*whs), path_cmp);
	for (k = 1; k < nw; k++)
		if (!strcmp(whs[k - 1], whs[k])) {
			fail("plan: whiteout of %s twice", whs[k]);
			goto out;
		}
	for (i = 0; i < n; i++) {
		const char *p = items[i].path;
		size_t len = strlen(p);

		/* Every ancestor written in the plan is written earlier. */
		for (;;) {
			const char *s = memrchr(p, '/', len);
			size_t lo = 0, hi = ne;
			char *anc;

			if (!s)
				break;
			len = (size_t)(s - p);
			anc = ut_strndup(p, len);
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (strcmp(ents[mid], anc) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < ne && !strcmp(ents[lo], anc) && epos[lo] > i) {
				fail("plan: %s comes before its parent %s", p, anc);
				free(anc);
				goto out;
			}
			if (items[i].whiteout && in_sorted(whs, nw, anc)) {
				fail("plan: whiteout %s under whiteout %s", p, anc);
				free(anc);
				goto out;
			}
			free(anc);
		}
		if (items[i].whiteout) {
			/* The first entry under the parent (strcmp order = plan
			 * order for entries) must come after this whiteout. */
			size_t pl = ut_path_parent_len(p), lo = 0, hi = ne;
			char *pre = pl ? ut_asprintf("%.*s/", (int)pl, p) : ut_strdup("");

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (strcmp(ents[mid], pre) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < ne && !strncmp(ents[lo], pre, strlen(pre)) && epos[lo] < i) {
				fail("plan: whiteout %s after sibling entry %s", p, ents[lo]);
				free(pre);
				goto out;
			}
			free(pre);
		}
	}
	/* A VM hardlink set is in the layer whole or not at all. */
	for (i = 0; i < vm->n; i++) {
		const struct ut_entry *e = &vm->v[i];
		int in, other;

		if (!e->link_id || e->type == UT_DIR)
			continue;
		in = in_sorted(ents, ne, e->path);
		for (k = 0; k < vm->n; k++) {
			const struct ut_entry *f = &vm->v[k];

			if (k == i || f->link_id != e->link_id || f->type == UT_DIR)
				continue;
			other = in_sorted(ents, ne, f->path);
			if (in != other) {
				fail("plan: hardlink set split: %s %s, %s %s", e->path,
				     in ? "written" : "not written", f->path,
				     other ? "written" : "not written");
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(ents);
	free(whs);
	free(epos);
	return rc;
}

static void dump(const struct fsd_result *r, const struct fsd_layer_item *items, size_t n)
{
	const struct fsd_change *c;
	size_t nc, i;

	c = fsd_result_changes(r, &nc);
	for (i = 0; i < nc; i++)
		fprintf(stderr, "  change %-12s 0x%03x \"%s\"%s%s\n", fsd_kind_name(c[i].kind), c[i].what,
			(c[i].vm ? c[i].vm : c[i].base)->path, c[i].moved_from ? " <- " : "",
			c[i].moved_from ? c[i].moved_from : "");
	for (i = 0; i < n; i++)
		fprintf(stderr, "  item %s \"%s\"\n", items[i].whiteout ? "whiteout" : "entry   ",
			items[i].path);
}

int diff_roundtrip(struct ut_tree *base, struct ut_tree *vm, const struct fsd_options *fo,
		   struct fsd_result **res_out)
{
	struct cmp_opts co = { fo->dir_mtimes, fo->mask_xattrs, fo->nmask_xattrs };
	struct fsd_layer_item *items = NULL;
	struct fsd_result *r = NULL;
	struct ut_tree *got = NULL;
	struct ut_err err = { { 0 } };
	const struct fsd_change *c;
	size_t n = 0, nc, i, j;
	uint64_t del = 0, del_bytes = 0, add = 0;
	int rc = -1;

	if (fsd_diff(base, vm, fo, &r, &err) < 0) {
		fail("fsd_diff: %s", err.msg);
		goto out;
	}
	if (fsd_layer_plan(r, &items, &n, &err) < 0) {
		fail("fsd_layer_plan: %s", err.msg);
		goto out;
	}
	if (check_plan(vm, items, n) < 0)
		goto bad;
	if (ut_tree_digest_all(vm, &err) < 0) {
		fail("digest: %s", err.msg);
		goto out;
	}
	got = apply_plan(base, items, n);
	if (!got || tree_equal(got, vm, &co) < 0)
		goto bad;
	/* The change list against the simple comparison: no change missed
	 * (apply proves that), none invented, `what` exact. */
	c = fsd_result_changes(r, &nc);
	for (i = 0; i < nc; i++) {
		const struct ut_entry *b = c[i].base, *v = c[i].vm;

		if ((c[i].kind == FSD_ADDED) != !b || (c[i].kind == FSD_DELETED) != !v) {
			fail("change %zu: kind %s with base %p vm %p", i, fsd_kind_name(c[i].kind),
			     (void *)b, (void *)v);
			goto bad;
		}
		if (c[i].kind == FSD_DELETED) {
			del++;
			if (b->type == UT_REG)
				del_bytes += b->size;
		}
		if (c[i].kind == FSD_ADDED)
			add++;
		if (b && v && c[i].kind != FSD_TYPE_CHANGED && !fo->trust_mtime &&
		    entry_diff(b, v, &co) != (c[i].what & ~(unsigned)FSD_DIFF_LINKSET)) {
			fail("change %s: what 0x%x, model says 0x%x", v->path, c[i].what,
			     entry_diff(b, v, &co));
			goto bad;
		}
		if (c[i].kind == FSD_HARDLINK && !v->link_id && !(c[i].what & FSD_DIFF_LINKSET)) {
			fail("change %s: carried as a hardlink but in no set", v->path);
			goto bad;
		}
	}
	for (i = 0, j = 0; i < base->n; i++)
		if (!ut_tree_find(vm, base->v[i].path))
			j++;
	if (j != del || fsd_result_stats(r)->deleted != del ||
	    fsd_result_stats(r)->deleted_bytes != del_bytes || fsd_result_stats(r)->added != add) {
		fail("stats: %zu paths gone, %llu deleted changes, stats %llu/%llu bytes %llu",
		     j, (unsigned long long)del, (unsigned long long)fsd_result_stats(r)->deleted,
		     (unsigned long long)fsd_result_stats(r)->deleted_bytes,
		     (unsigned long long)del_bytes);
		goto bad;
	}
	rc = 0;
	goto out;
bad:
	dump(r, items, n);
out:
	ut_tree_free(got);
	free(items);
	if (res_out && rc == 0)
		*res_out = r;
	else
		fsd_result_free(r);
	return rc;
}
