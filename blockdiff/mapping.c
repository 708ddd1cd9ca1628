/*
 * mapping.c - which files the changed ranges of a disk fall in.
 *
 * Every regular file's extents (logical -> physical on its filesystem) are
 * shifted by its volume's offset on the disk and intersected with the sorted
 * changed ranges by binary search. What falls in a mounted filesystem but in
 * no file is that filesystem's metadata or free space.
 */
#include "blockdiff.h"

#include <stdlib.h>
#include <string.h>

/* Changed bytes of x inside [start, start + len). */
static uint64_t overlap(const struct bd_extents *x, uint64_t start, uint64_t len)
{
	uint64_t end = start + len, sum = 0;
	size_t lo = 0, hi = x->n;

	if (len == 0 || end < start)
		return 0;
	/* First range that ends after start. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].off + x->v[mid].len <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < x->n && x->v[lo].off < end; lo++) {
		uint64_t a = x->v[lo].off > start ? x->v[lo].off : start;
		uint64_t b = x->v[lo].off + x->v[lo].len < end ? x->v[lo].off + x->v[lo].len : end;

		if (b > a)
			sum += b - a;
	}
	return sum;
}

struct ext_ctx {
	const struct bd_extents *x;
	uint64_t vol_off, vol_size;
	uint64_t file_size;
	uint64_t changed;
};

static int ext_cb(void *ctx, uint64_t logical, uint64_t physical, uint64_t len)
{
	struct ext_ctx *c = ctx;

	/* The last block's slack past the end of the file is no content of
	 * it: those bytes are left to the metadata and free space count. */
	if (logical >= c->file_size)
		return 0;
	if (len > c->file_size - logical)
		len = c->file_size - logical;
	/* A block map pointing outside its volume is damage, not ours to
	 * count: clip it to the volume. */
	if (physical >= c->vol_size)
		return 0;
	if (len > c->vol_size - physical)
		len = c->vol_size - physical;
	c->changed += overlap(c->x, c->vol_off + physical, len);
	return 0;
}

struct link_ref {
	uint64_t link_id;
	size_t idx;
};

static int cmp_link(const void *a, const void *b)
{
	const struct link_ref *x = a, *y = b;

	if (x->link_id != y->link_id)
		return x->link_id < y->link_id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Marks every member of a hardlink set but the first (in path order). */
static unsigned char *mark_link_dups(const struct ut_tree *t)
{
	unsigned char *dup = ut_calloc(t->n ? t->n : 1, 1);
	struct link_ref *refs = NULL;
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		if (t->v[i].type == UT_REG && t->v[i].nlink > 1 && t->v[i].link_id)
			n++;
	if (!n)
		return dup;
	refs = ut_malloc(n * sizeof(*refs));
	n = 0;
	for (i = 0; i < t->n; i++) {
		if (t->v[i].type == UT_REG && t->v[i].nlink > 1 && t->v[i].link_id) {
			refs[n].link_id = t->v[i].link_id;
			refs[n].idx = i;
			n++;
		}
	}
	qsort(refs, n, sizeof(*refs), cmp_link);
	for (i = 1; i < n; i++)
		if (refs[i].link_id == refs[i - 1].link_id)
			dup[refs[i].idx] = 1;
	free(refs);
	return dup;
}

int bd_map_files(struct dr_disk *d, const struct ut_tree *t, const struct bd_extents *x,
		 struct bd_map *out, struct ut_err *err)
{
	unsigned char *dup = NULL;
	uint64_t inside = 0, *seen_off = NULL;
	size_t i, nmounts, nseen = 0, alloc = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	dup = mark_link_dups(t);
	for (i = 0; i < t->n; i++) {
		const struct ut_entry *e = &t->v[i];
		struct ext_ctx c = { .x = x };
		struct dr_fs *fs;

		if (e->type != UT_REG || dup[i] || !e->size)
			continue;
		fs = dr_disk_entry_fs(d, e, &c.vol_off);
		if (!fs)
			continue;
		if (!dr_fs_has_extents(fs)) {
			out->files_no_extents++;
			continue;
		}
		c.vol_size = dr_blockdev_size(dr_fs_blockdev(fs));
		c.file_size = e->size;
		if (dr_fs_extents(fs, e->src_b, ext_cb, &c, err) < 0) {
			ut_err_prefix(err, "/%s: ", e->path);
			goto out;
		}
		out->files_scanned++;
		if (!c.changed)
			continue;
		if (out->nfiles == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			out->files = ut_realloc(out->files, alloc * sizeof(*out->files));
		}
		out->files[out->nfiles].path = ut_strdup(e->path);
		out->files[out->nfiles].size = e->size;
		out->files[out->nfiles].changed = c.changed;
		out->nfiles++;
		out->in_files += c.changed;
	}
	/* Each mounted volume once, even if fstab mounts it twice. */
	dr_disk_mounts(d, &nmounts);
	seen_off = ut_calloc(nmounts ? nmounts : 1, sizeof(*seen_off));
	for (i = 0; i < nmounts; i++) {
		uint64_t off, size;
		size_t k;

		if (!dr_disk_mount_fs(d, i, &off, &size))
			continue;
		for (k = 0; k < nseen && seen_off[k] != off; k++)
			;
		if (k < nseen)
			continue;
		seen_off[nseen++] = off;
		inside += overlap(x, off, size);
	}
	/* in_files <= inside unless two files claim one block (damage). */
	out->in_metadata = inside > out->in_files ? inside - out->in_files : 0;
	out->outside = x->bytes > inside ? x->bytes - inside : 0;
	ret = 0;
out:
	free(dup);
	free(seen_off);
	if (ret < 0)
		bd_map_release(out);
	return ret;
}

void bd_map_release(struct bd_map *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nfiles; i++)
		free(m->files[i].path);
	free(m->files);
	memset(m, 0, sizeof(*m));
}
