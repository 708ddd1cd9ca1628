/*
 * changes.c - the block strategy: a clone's tree from the blocks that
 * changed since its template.
 *
 * The changed ranges (qcow2 or vmdk lineage, cluster-granular) name a
 * superset of the inodes whose entries can differ:
 *   - inode-table blocks: the inodes in them whose raw bytes differ from the
 *     template's (metadata, link counts, new and freed inodes, in-inode
 *     xattrs, inline data, fast symlinks);
 *   - any other block the template's inodes own (data, extent-tree and
 *     indirect blocks, directory blocks, xattr blocks): those owners.
 * That is complete: a clone inode Y reaches a changed block b through the
 * chain inode -> tree blocks -> b. If Y's inode bytes are the template's, the
 * topmost changed block of the chain is referenced by an unchanged parent,
 * so the template's Y owned it too. A freed block reused by another file
 * marks both: the template's owner by the block, the new owner by its chain.
 * Bitmaps, group descriptors, the superblock and the journal own nothing.
 *
 * The dirty inodes' template paths are then looked up again in the clone;
 * dirty directories are re-listed in both and their entries compared by
 * name and inode number (adds, deletes, renames, type changes), new names
 * walked in the clone. Everything else is the template's entry as it is
 * (digests included), so fsdiff sees exactly the changes a full walk would
 * and the layer plan is the same; only dirty files are ever read.
 */
#include "blockdiff.h"

#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* diskread's link_id: the inode number below bit 48, the volume above. */
#define INO_BITS 48
#define INO_MASK ((1ull << INO_BITS) - 1)

struct brange {
	uint64_t start, end; /* filesystem blocks [start, end) */
};

struct mnt {
	const char *mountpoint;
	struct dr_fs *tfs, *cfs;
	ext2_filsys t, c;
	uint64_t vol;     /* src_a of its entries */
	uint64_t id_high; /* link_id bits above the inode number */
	struct brange *b;
	size_t nb;
	unsigned char *dirty; /* bitmap by inode number */
};

struct job {
	const struct ut_tree *base;
	struct dr_disk *disk;
	const struct dr_mount *mounts;
	struct mnt *m;
	size_t nm;
	unsigned char *removed; /* per base entry */
	struct ut_tree *added;
	char **walked;
	size_t nwalked;
	struct mnt *cur; /* the mount emit() adds entries for */
	uint64_t max_file_size; /* for cur */
	struct bd_block_stats *st;
	int threads; /* for hashing */
	struct ut_err *err;
};

static int refuse(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return 0;
}

static int bit_get(const unsigned char *m, uint64_t i)
{
	return (m[i >> 3] >> (i & 7)) & 1;
}

static void bit_set(unsigned char *m, uint64_t i)
{
	m[i >> 3] |= (unsigned char)(1u << (i & 7));
}

/* Whether [start, start + len) meets a changed block of m. */
static int changed(const struct mnt *m, uint64_t start, uint64_t len)
{
	size_t lo = 0, hi = m->nb;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->b[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nb && m->b[lo].start < start + len;
}

/* Which mount a tree path belongs to: the longest mount point above it. */
static struct mnt *owner(struct job *j, const char *path)
{
	struct mnt *best = NULL;
	size_t i, bl = 0;

	for (i = 0; i < j->nm; i++) {
		size_t l = strlen(j->m[i].mountpoint);

		if (ut_path_is_under(path, j->m[i].mountpoint) && (!best || l > bl)) {
			best = &j->m[i];
			bl = l;
		}
	}
	return best;
}

static const char *rel_path(const struct mnt *m, const char *path)
{
	size_t l = strlen(m->mountpoint);

	if (!l)
		return path;
	return path[l] == '/' ? path + l + 1 : path + l;
}

/* ---- which inodes are dirty ---------------------------------------------- */

static void dirty_inode_tables(struct mnt *m, struct bd_block_stats *st)
{
	ext2_filsys c = m->c;
	unsigned isize = EXT2_INODE_SIZE(c->super);
	unsigned per_block = (unsigned)(c->blocksize / isize);
	unsigned char *a = ut_malloc(isize), *b = ut_malloc(isize);
	dgrp_t g;

	for (g = 0; g < c->group_desc_count; g++) {
		uint64_t it = ext2fs_inode_table_loc(c, g), n = c->inode_blocks_per_group, blk;

		if (!it || !changed(m, it, n))
			continue;
		for (blk = it; blk < it + n; blk++) {
			unsigned k;

			if (!changed(m, blk, 1))
				continue;
			for (k = 0; k < per_block; k++) {
				uint64_t idx = (blk - it) * per_block + k;
				ext2_ino_t ino = (ext2_ino_t)(g * c->super->s_inodes_per_group + idx + 1);

				if (idx >= c->super->s_inodes_per_group || bit_get(m->dirty, ino))
					continue;
				/* Unreadable on either side counts as changed. */
				if (ext2fs_read_inode2(c, ino, (struct ext2_inode *)a, isize,
						       READ_INODE_NOCSUM) ||
				    ext2fs_read_inode2(m->t, ino, (struct ext2_inode *)b, isize,
						       READ_INODE_NOCSUM) ||
				    memcmp(a, b, isize)) {
					bit_set(m->dirty, ino);
					st->dirty_inodes++;
				}
			}
		}
	}
	free(a);
	free(b);
}

struct owner_scan {
	struct mnt *m;
	int hit;
};

static int owner_block_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
			  blk64_t ref_blk, int ref_offset, void *priv)
{
	struct owner_scan *o = priv;

	(void)fs, (void)blockcnt, (void)ref_blk, (void)ref_offset;
	if (changed(o->m, *blocknr, 1)) {
		o->hit = 1;
		return BLOCK_ABORT;
	}
	return 0;
}

/* Whether the template's inode owns a changed block; extents are checked
 * whole, index blocks included. */
static int owns_changed(struct mnt *m, ext2_ino_t ino, struct ext2_inode *in)
{
	struct owner_scan o = { .m = m };
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	errcode_t rc;
	blk64_t acl = ext2fs_file_acl_block(m->t, in);

	if (acl && changed(m, acl, 1))
		return 1;
	if (!ext2fs_inode_has_valid_blocks2(m->t, in))
		return 0;
	if (!(in->i_flags & EXT4_EXTENTS_FL)) {
		if (ext2fs_block_iterate3(m->t, ino, BLOCK_FLAG_READ_ONLY, NULL, owner_block_cb, &o))
			return 1; /* unreadable: assume the worst */
		return o.hit;
	}
	if (ext2fs_extent_open2(m->t, ino, in, &h))
		return 1;
	for (rc = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex); !rc;
	     rc = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &ex)) {
		uint64_t len = ex.e_flags & EXT2_EXTENT_FLAGS_LEAF ? ex.e_len : 1;

		if (ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)
			continue;
		if (changed(m, ex.e_pblk, len)) {
			o.hit = 1;
			break;
		}
	}
	if (rc && rc != EXT2_ET_EXTENT_NO_NEXT)
		o.hit = 1;
	ext2fs_extent_free(h);
	return o.hit;
}

static int dirty_owners(struct mnt *m, struct bd_block_stats *st, struct ut_err *err)
{
	ext2_filsys t = m->t;
	unsigned isize = EXT2_INODE_SIZE(t->super);
	struct ext2_inode *in = ut_malloc(isize);
	ext2_inode_scan scan;
	ext2_ino_t ino;
	errcode_t rc;

	if (ext2fs_open_inode_scan(t, 0, &scan)) {
		free(in);
		return ut_err_set(err, "%s: cannot scan the template's inodes", t->device_name);
	}
	ext2fs_inode_scan_flags(scan, EXT2_SF_SKIP_MISSING_ITABLE, 0);
	for (;;) {
		rc = ext2fs_get_next_inode_full(scan, &ino, in, (int)isize);
		if (rc && rc != EXT2_ET_INODE_CSUM_INVALID && rc != EXT2_ET_INODE_IS_GARBAGE)
			break;
		if (!ino)
			break;
		if ((ino < EXT2_FIRST_INODE(t->super) && ino != EXT2_ROOT_INO) ||
		    !in->i_links_count || bit_get(m->dirty, ino))
			continue;
		if (owns_changed(m, ino, in)) {
			bit_set(m->dirty, ino);
			st->dirty_inodes++;
		}
	}
	ext2fs_close_inode_scan(scan);
	free(in);
	if (rc && rc != EXT2_ET_INODE_CSUM_INVALID && rc != EXT2_ET_INODE_IS_GARBAGE)
		return ut_err_set(err, "template inode scan: %s", error_message(rc));
	return 0;
}

/* ---- re-reading dirty paths in the clone --------------------------------- */

static int emit_cb(void *ctx, struct ut_entry *e)
{
	struct job *j = ctx;
	struct mnt *m = j->cur;
	char *full;

	full = *m->mountpoint ? (*e->path ? ut_asprintf("%s/%s", m->mountpoint, e->path)
					  : ut_strdup(m->mountpoint))
			      : ut_strdup(e->path);
	/* The bound the walk applies (dr_fs_walk), with its words. */
	if (e->type == UT_REG && e->size > j->max_file_size) {
		free(full);
		return ut_err_set(j->err,
				  "%s: %s%s/%s: apparent size of %llu bytes is more than the limit of %llu bytes (the size of its filesystem's device, or --max-file-size)",
				  dr_blockdev_path(dr_fs_blockdev(m->cfs)), *m->mountpoint ? "/" : "", m->mountpoint,
				  e->path, (unsigned long long)e->size,
				  (unsigned long long)j->max_file_size);
	}
	/* Under another mount point: that mount's entries stand. */
	if (owner(j, full) != m) {
		free(full);
		return 0;
	}
	free(e->path);
	e->path = full;
	e->link_id = m->id_high | (e->link_id & INO_MASK);
	e->src_a = m->vol;
	ut_tree_take(j->added, e);
	j->st->entries_read++;
	return 0;
}

static int emit(struct job *j, struct mnt *m, ext2_ino_t ino, const char *path, int recursive)
{
	j->cur = m;
	j->max_file_size = dr_disk_max_file_size(j->disk);
	if (!j->max_file_size)
		j->max_file_size = dr_blockdev_size(dr_fs_blockdev(m->cfs));
	if (recursive) {
		j->walked = ut_realloc(j->walked, (j->nwalked + 1) * sizeof(*j->walked));
		j->walked[j->nwalked++] = ut_strdup(path);
	}
	return dr_fs_ext2_walk_from(m->cfs, ino, rel_path(m, path), recursive, emit_cb, j, j->err);
}

/* Marks path and (within mount m) everything under it removed. */
static void remove_subtree(struct job *j, struct mnt *m, const char *path)
{
	const struct ut_tree *b = j->base;
	size_t i = ut_tree_lower_bound(b, path);

	for (; i < b->n; i++) {
		const struct ut_entry *e = &b->v[i];

		if (strncmp(e->path, path, strlen(path)))
			break;
		if (ut_path_is_under(e->path, path) && e->src_a == m->vol)
			j->removed[i] = 1;
	}
}

/* The inode path names in the clone, component by component (symlinks are
 * names, never followed); 0 when it is not there. */
static ext2_ino_t clone_resolve(struct mnt *m, const char *rel)
{
	ext2_ino_t dir = EXT2_ROOT_INO, ino = EXT2_ROOT_INO;

	while (*rel) {
		size_t len = strcspn(rel, "/");
		struct ext2_inode in;

		if (ext2fs_read_inode(m->c, dir, &in) || !LINUX_S_ISDIR(in.i_mode))
			return 0;
		if (ext2fs_lookup(m->c, dir, rel, (int)len, NULL, &ino))
			return 0;
		dir = ino;
		rel += len + (rel[len] == '/');
	}
	return ino;
}

struct child {
	char *name;
	ext2_ino_t ino;
};

struct children {
	struct child *v;
	size_t n;
};

/* The same names diskread's walk lists. */
static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
		   int blocksize, char *buf, void *priv)
{
	struct children *l = priv;
	int len = ext2fs_dirent_name_len(d);

	(void)dir, (void)offset, (void)blocksize, (void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE || len == 0 || !d->inode)
		return 0;
	if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (memchr(d->name, '/', (size_t)len) || memchr(d->name, '\0', (size_t)len))
		return 0;
	l->v = ut_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].name = ut_strndup(d->name, (size_t)len);
	l->v[l->n].ino = d->inode;
	l->n++;
	return 0;
}

static int child_cmp(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static char *join(const char *dir, const char *name)
{
	return *dir ? ut_asprintf("%s/%s", dir, name) : ut_strdup(name);
}

/* Compares a dirty directory's entries in both and re-reads what differs. */
static int relist(struct job *j, struct mnt *m, ext2_ino_t ino, const char *path)
{
	const struct ut_tree *b = j->base;
	struct children cl = { 0 }, tl = { 0 };
	char *prefix = *path ? ut_asprintf("%s/", path) : ut_strdup("");
	size_t plen = strlen(prefix), i, ci = 0, ti = 0;
	int rc = -1;

	if (ext2fs_dir_iterate2(m->c, ino, 0, NULL, list_cb, &cl)) {
		ut_err_set(j->err, "/%s: cannot list the directory in the clone", path);
		goto out;
	}
	if (cl.n)
		qsort(cl.v, cl.n, sizeof(*cl.v), child_cmp);
	for (i = ut_tree_lower_bound(b, prefix); i < b->n; i++) {
		const struct ut_entry *e = &b->v[i];

		if (strncmp(e->path, prefix, plen))
			break;
		if (!e->path[plen] || strchr(e->path + plen, '/') || e->src_a != m->vol)
			continue;
		tl.v = ut_realloc(tl.v, (tl.n + 1) * sizeof(*tl.v));
		tl.v[tl.n].name = (char *)e->path + plen; /* borrowed */
		tl.v[tl.n++].ino = (ext2_ino_t)(e->link_id & INO_MASK);
	}
	while (ci < cl.n || ti < tl.n) {
		int c = ci == cl.n ? 1 : ti == tl.n ? -1 : strcmp(cl.v[ci].name, tl.v[ti].name);
		const char *name = c <= 0 ? cl.v[ci].name : tl.v[ti].name;
		char *full = join(path, name);
		int r = 0;

		if (owner(j, full) == m) {
			if (c > 0 || (c == 0 && cl.v[ci].ino != tl.v[ti].ino))
				remove_subtree(j, m, full);
			if (c < 0 || (c == 0 && cl.v[ci].ino != tl.v[ti].ino))
				r = emit(j, m, cl.v[ci].ino, full, 1);
		}
		free(full);
		if (r < 0)
			goto out;
		ci += c <= 0;
		ti += c >= 0;
	}
	rc = 0;
out:
	for (i = 0; i < cl.n; i++)
		free(cl.v[i].name);
	free(cl.v);
	free(tl.v);
	free(prefix);
	return rc;
}

static int walked_under(const struct job *j, const char *path)
{
	size_t i;

	for (i = 0; i < j->nwalked; i++)
		if (ut_path_is_under(path, j->walked[i]))
			return 1;
	return 0;
}

/* One template path whose inode is dirty. */
static int redo_path(struct job *j, struct mnt *m, size_t bi)
{
	const struct ut_entry *te = &j->base->v[bi];
	ext2_ino_t tino = (ext2_ino_t)(te->link_id & INO_MASK);
	ext2_ino_t cino = clone_resolve(m, rel_path(m, te->path));
	struct ext2_inode in;
	int cdir;

	j->st->dirty_paths++;
	if (!cino) {
		remove_subtree(j, m, te->path);
		return 0;
	}
	if (ext2fs_read_inode(m->c, cino, &in))
		return ut_err_set(j->err, "/%s: cannot read inode %u in the clone", te->path, cino);
	cdir = LINUX_S_ISDIR(in.i_mode);
	if (cino != tino || cdir != (te->type == UT_DIR)) {
		remove_subtree(j, m, te->path);
		return emit(j, m, cino, te->path, 1);
	}
	if (emit(j, m, cino, te->path, 0) < 0)
		return -1;
	return cdir ? relist(j, m, cino, te->path) : 0;
}

/* ---- checks and the whole ------------------------------------------------ */

static int same_geometry(ext2_filsys a, ext2_filsys b)
{
	struct ext2_super_block *x = a->super, *y = b->super;

	return !memcmp(x->s_uuid, y->s_uuid, sizeof(x->s_uuid)) &&
	       ext2fs_blocks_count(x) == ext2fs_blocks_count(y) &&
	       x->s_inodes_count == y->s_inodes_count &&
	       x->s_log_block_size == y->s_log_block_size &&
	       x->s_inodes_per_group == y->s_inodes_per_group &&
	       x->s_first_data_block == y->s_first_data_block &&
	       x->s_inode_size == y->s_inode_size && x->s_desc_size == y->s_desc_size;
}

static int check_pair(struct dr_disk *base, const struct ut_tree *bt, struct dr_disk *disk,
		      struct mnt *mv, char *why, size_t wl)
{
	const struct dr_mount *bm, *dm;
	const struct dr_partition *bp, *dp;
	size_t nb, nd, i;

	bp = dr_disk_partitions(base, &nb);
	dp = dr_disk_partitions(disk, &nd);
	if (nb != nd || strcmp(dr_disk_scheme(base), dr_disk_scheme(disk)))
		return refuse(why, wl, "the partition table differs from the template's");
	for (i = 0; i < nb; i++)
		if (bp[i].start != dp[i].start || bp[i].size != dp[i].size)
			return refuse(why, wl, "partition %d moved or was resized", dp[i].number);
	bm = dr_disk_mounts(base, &nb);
	dm = dr_disk_mounts(disk, &nd);
	if (nb != nd)
		return refuse(why, wl, "the mounts differ from the template's");
	for (i = 0; i < nb; i++) {
		uint64_t bo, bs, doff, ds;
		struct dr_fs *tfs = dr_disk_mount_fs(base, i, &bo, &bs);
		struct dr_fs *cfs = dr_disk_mount_fs(disk, i, &doff, &ds);
		const struct ut_entry *root;
		const char *mp = dm[i].mountpoint;

		if (strcmp(bm[i].mountpoint, mp))
			return refuse(why, wl, "the mounts differ from the template's");
		if (!tfs || !cfs || !dr_fs_ext2_handle(tfs) || !dr_fs_ext2_handle(cfs))
			return refuse(why, wl, "/%s is %s, not ext2/3/4", mp,
				      dm[i].fs.type[0] ? dm[i].fs.type : "unreadable");
		if (bo != doff || bs != ds)
			return refuse(why, wl, "/%s lies elsewhere than in the template", mp);
		mv[i].t = dr_fs_ext2_handle(tfs);
		mv[i].c = dr_fs_ext2_handle(cfs);
		if (dr_fs_note(tfs)[0] || dr_fs_note(cfs)[0] ||
		    ext2fs_has_feature_journal_needs_recovery(mv[i].c->super) ||
		    ext2fs_has_feature_journal_needs_recovery(mv[i].t->super))
			return refuse(why, wl, "/%s: a journal needs recovery", mp);
		if (!same_geometry(mv[i].t, mv[i].c))
			return refuse(why, wl, "/%s: the filesystem's UUID or geometry differs from the template's", mp);
		root = ut_tree_find(bt, mp);
		if (!root || dr_disk_entry_fs(base, root, NULL) != tfs)
			return refuse(why, wl, "/%s: not in the template's tree", mp);
		mv[i].mountpoint = mp;
		mv[i].tfs = tfs;
		mv[i].cfs = cfs;
		mv[i].vol = root->src_a;
		mv[i].id_high = root->link_id & ~INO_MASK;
		mv[i].dirty = ut_calloc(mv[i].c->super->s_inodes_count / 8 + 1, 1);
	}
	return 1;
}

/* The changed ranges on the disk cut to mount m's blocks. */
static void mount_blocks(struct mnt *m, const struct bd_extents *x, uint64_t off, uint64_t size)
{
	uint64_t bs = m->c->blocksize;
	size_t i;

	for (i = 0; i < x->n; i++) {
		uint64_t s = x->v[i].off, e = s + x->v[i].len;

		if (e <= off || s >= off + size)
			continue;
		s = s < off ? 0 : s - off;
		e = (e > off + size ? size : e - off);
		m->b = ut_realloc(m->b, (m->nb + 1) * sizeof(*m->b));
		m->b[m->nb].start = s / bs;
		m->b[m->nb].end = (e + bs - 1) / bs;
		m->nb++;
	}
}

/*
 * The template's index fits mount i when it covers the same device with the
 * filesystem's block size; otherwise it is built again from the template.
 */
static int index_fits(const struct bd_hash_set *h, size_t nm, const struct mnt *mv,
		      struct dr_disk *base)
{
	size_t i;

	if (h->n != nm)
		return 0;
	for (i = 0; i < nm; i++) {
		uint64_t off, size;

		dr_disk_mount_fs(base, i, &off, &size);
		if (h->v[i].off != off || h->v[i].size != size || h->v[i].block != mv[i].t->blocksize)
			return 0;
	}
	return 1;
}

/* HASHES: each mount's blocks that differ from the template's index. */
static int changed_by_hashes(struct job *j, struct dr_disk *base, struct bd_hash_set *h,
			     struct ut_err *err)
{
	size_t i;

	if (!index_fits(h, j->nm, j->m, base)) {
		bd_hash_set_release(h);
		h->v = ut_calloc(j->nm ? j->nm : 1, sizeof(*h->v));
		for (i = 0; i < j->nm; i++, h->n++) {
			uint64_t off, size;

			dr_disk_mount_fs(base, i, &off, &size);
			if (bd_hash_index_build(dr_fs_blockdev(j->m[i].tfs), off, size,
						j->m[i].t->blocksize, j->threads, NULL, &h->v[i],
						err) < 0)
				return -1;
			j->st->template_hashed_bytes += size;
		}
		h->built = 1;
	}
	for (i = 0; i < j->nm; i++) {
		struct bd_extents x;
		int r;

		bd_extents_init(&x);
		r = bd_hash_index_diff(&h->v[i], dr_fs_blockdev(j->m[i].cfs), j->threads, NULL, &x,
				       err);
		if (r == 0) {
			mount_blocks(&j->m[i], &x, 0, h->v[i].size);
			j->st->hashed_bytes += h->v[i].size;
			j->st->changed_bytes += x.bytes;
		}
		bd_extents_release(&x);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* LINEAGE: the ranges the layers above the template hold, cut per mount. */
static int changed_by_lineage(struct job *j, struct dr_blockdev *cbd, int depth,
			      struct ut_err *err)
{
	struct bd_extents lin;
	size_t i;

	bd_extents_init(&lin);
	j->st->depth = depth;
	if (bd_extents_lineage(cbd, depth, &lin, err) < 0) {
		bd_extents_release(&lin);
		return -1;
	}
	/* Cluster-granular ranges as they are: refining them to filesystem
	 * blocks would read every changed byte of both disks to spare a few
	 * neighbours of changed blocks a second look (a superset is exact). */
	j->st->lineage_bytes = lin.bytes;
	j->st->changed_bytes = lin.bytes;
	for (i = 0; i < j->nm; i++) {
		uint64_t off, size;

		dr_disk_mount_fs(j->disk, i, &off, &size);
		mount_blocks(&j->m[i], &lin, off, size);
	}
	bd_extents_release(&lin);
	return 0;
}

int bd_block_tree(struct dr_disk *base, const struct ut_tree *base_tree, struct dr_disk *disk,
		  struct bd_hash_set *hashes, int threads, struct ut_tree **out,
		  struct bd_block_stats *st, char *why, size_t why_len, struct ut_err *err)
{
	struct dr_blockdev *bbd = dr_disk_blockdev(base), *cbd = dr_disk_blockdev(disk);
	struct job j = { .base = base_tree, .disk = disk, .st = st, .threads = threads,
			 .err = err };
	size_t nm = 0, i, k;
	int depth = 0, rc = -1, r;

	*out = NULL;
	memset(st, 0, sizeof(*st));
	dr_disk_mounts(disk, &nm);
	j.m = ut_calloc(nm ? nm : 1, sizeof(*j.m));
	j.nm = nm;
	r = check_pair(base, base_tree, disk, j.m, why, why_len);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	r = bd_lineage_find(cbd, dr_blockdev_path(bbd), &depth, err);
	if (r < 0)
		goto out;
	if (!r && !hashes) {
		rc = refuse(why, why_len, "no change source: %s is not in the disk's backing chain",
			    dr_blockdev_path(bbd));
		goto out;
	}
	st->source = r ? "lineage" : "hashes";
	if (r ? changed_by_lineage(&j, cbd, depth, err) < 0
	      : changed_by_hashes(&j, base, hashes, err) < 0)
		goto out;
	for (i = 0; i < j.nm; i++) {
		dirty_inode_tables(&j.m[i], st);
		if (j.m[i].nb && dirty_owners(&j.m[i], st, err) < 0)
			goto out;
	}

	j.removed = ut_calloc(base_tree->n ? base_tree->n : 1, 1);
	j.added = ut_tree_new();
	for (i = 0; i < base_tree->n; i++) {
		const struct ut_entry *e = &base_tree->v[i];
		struct mnt *m = NULL;

		for (k = 0; k < j.nm && !m; k++)
			if (j.m[k].vol == e->src_a)
				m = &j.m[k];
		if (!m || !bit_get(m->dirty, e->link_id & INO_MASK) || j.removed[i] ||
		    walked_under(&j, e->path))
			continue;
		if (redo_path(&j, m, i) < 0)
			goto out;
	}

	/* The template's entries that stand, then the clone's re-read ones
	 * (a later duplicate replaces an earlier one when sorted). */
	*out = ut_tree_new();
	for (i = 0; i < base_tree->n; i++) {
		struct ut_entry e;

		if (j.removed[i])
			continue;
		ut_entry_copy(&e, &base_tree->v[i]);
		ut_tree_take(*out, &e);
	}
	for (i = 0; i < j.added->n; i++)
		ut_tree_take(*out, &j.added->v[i]);
	j.added->n = 0;
	ut_tree_sort(*out);
	dr_disk_content(disk, &(*out)->content);
	rc = 1;
out:
	for (i = 0; i < j.nm; i++) {
		free(j.m[i].b);
		free(j.m[i].dirty);
	}
	for (i = 0; i < j.nwalked; i++)
		free(j.walked[i]);
	free(j.walked);
	free(j.m);
	free(j.removed);
	ut_tree_free(j.added);
	return rc;
}
