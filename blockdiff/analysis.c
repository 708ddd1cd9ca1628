/*
 * analysis.c - the block view of a file-level diff: which disk bytes
 * changed, which files they fall in, and what deltas of the modified files
 * would weigh. An analysis for `vm2oci compare`; OCI layers carry whole
 * files, so nothing here changes what a layer holds.
 */
#include "blockdiff.h"
#include "fsdiff.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096 /* ext4's block and the page: the unit a guest writes */

/* The change fsdiff lists for path, or NULL (changes are in path order). */
static const struct fsd_change *find_change(const struct fsd_result *diff, const char *path)
{
	size_t n, lo = 0, hi;
	const struct fsd_change *ch = fsd_result_changes(diff, &n);

	hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ut_entry *e = ch[mid].vm ? ch[mid].vm : ch[mid].base;
		int c = strcmp(e->path, path);

		if (!c)
			return &ch[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int carries_content(const struct fsd_change *c)
{
	return c && (c->kind == FSD_ADDED || c->kind == FSD_MODIFIED ||
		     c->kind == FSD_TYPE_CHANGED);
}

const char *bd_file_level(const struct fsd_result *diff, const char *path)
{
	const struct fsd_change *c = find_change(diff, path);

	if (carries_content(c))
		return fsd_kind_name(c->kind);
	if (c)
		return "same content, blocks rewritten";
	return "unchanged content, blocks rewritten";
}

static int is_content_modified(const struct fsd_change *c)
{
	return c->kind == FSD_MODIFIED && c->base && c->vm && c->base->type == UT_REG &&
	       c->vm->type == UT_REG && (c->what & FSD_DIFF_CONTENT);
}

/* Changed extents, refined to the 4 KiB blocks that really differ. */
static int changed_blocks(struct dr_blockdev *bbd, const char *base_path, struct dr_blockdev *dbd,
			  const struct bd_analysis_options *opt, struct bd_analysis *a,
			  struct ut_err *err)
{
	int depth = 0, r;
	size_t i;
	double t = ut_now();

	r = opt->force_hashes ? 0 : bd_lineage_find(dbd, base_path, &depth, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (bd_extents_lineage(dbd, depth, &a->alloc, err) < 0)
			return -1;
	} else if (bd_extents_hashes(bbd, dbd, BLOCK, &opt->progress, &a->alloc, err) < 0) {
		return -1;
	}
	a->t_extents = ut_now() - t;
	t = ut_now();
	/* Lineage sees clusters; only a byte compare says which 4 KiB blocks
	 * of them the guest really changed. Hashes are already per block. */
	if (a->alloc.method == BD_LINEAGE) {
		if (bd_extents_refine(&a->alloc, bbd, dbd, BLOCK, &a->diff, err) < 0)
			return -1;
	} else {
		for (i = 0; i < a->alloc.n; i++)
			bd_extents_add(&a->diff, a->alloc.v[i].off, a->alloc.v[i].len);
		a->diff.method = a->alloc.method;
		a->diff.granule = a->alloc.granule;
		a->diff.disk_size = a->alloc.disk_size;
	}
	a->t_refine = ut_now() - t;
	return 0;
}

/* zstd --patch-from sizes of every content-modified file. */
static int deltas(const struct ut_tree *base_tree, const struct ut_tree *vm,
		  const struct fsd_result *diff, const struct bd_analysis_options *opt,
		  struct bd_analysis *a, struct ut_err *err)
{
	const struct fsd_change *ch;
	uint64_t *links = NULL; /* link sets already given a delta */
	size_t nch, i, k, nlinks = 0;
	int rc = -1;

	ch = fsd_result_changes(diff, &nch);
	for (i = 0; i < nch; i++) {
		struct bd_delta d;

		if (!is_content_modified(&ch[i]))
			continue;
		/* One inode under several modified paths is one delta. */
		if (ch[i].vm->nlink > 1 && ch[i].vm->link_id) {
			for (k = 0; k < nlinks && links[k] != ch[i].vm->link_id; k++)
				;
			if (k < nlinks)
				continue;
			links = ut_realloc(links, (nlinks + 1) * sizeof(*links));
			links[nlinks++] = ch[i].vm->link_id;
		}
		if (bd_delta_entry(&base_tree->content, ch[i].base, &vm->content, ch[i].vm, NULL,
				   &d, err) < 0)
			goto out;
		a->modified++;
		a->modified_bytes += d.vm_bytes;
		a->modified_zstd += d.zstd_bytes;
		a->modified_delta += d.delta_bytes;
		a->modified_rsync += d.rsync_bytes;
		a->skipped += d.skipped;
		if (opt->list_deltas)
			ut_buf_addf(&a->deltas, NULL,
				    "delta   /%s: %" PRIu64 " bytes, zstd %" PRIu64 ", patch-from %" PRIu64
				    ", rsync %" PRIu64 "%s\n", ch[i].vm->path, d.vm_bytes, d.zstd_bytes,
				    d.delta_bytes, d.rsync_bytes,
				    d.skipped ? " (too large: no delta)" : "");
	}
	rc = 0;
out:
	free(links);
	return rc;
}

int bd_analyse(struct dr_disk *base, const char *base_path, const struct ut_tree *base_tree,
	       struct dr_disk *disk, const struct ut_tree *vm, const struct fsd_result *diff,
	       const struct bd_analysis_options *opt, struct bd_analysis *out, struct ut_err *err)
{
	struct dr_blockdev *dbd = dr_disk_blockdev(disk), *bbd = dr_disk_blockdev(base);
	size_t i;
	double t;

	memset(out, 0, sizeof(*out));
	bd_extents_init(&out->alloc);
	bd_extents_init(&out->diff);
	ut_buf_init(&out->deltas, 0);
	if (changed_blocks(bbd, base_path, dbd, opt, out, err) < 0)
		return -1;
	t = ut_now();
	if (bd_map_files(disk, vm, &out->diff, &out->map, err) < 0)
		return -1;
	for (i = 0; i < out->map.nfiles; i++) {
		const struct fsd_change *c = find_change(diff, out->map.files[i].path);

		if (carries_content(c))
			out->files_content++;
		else if (c)
			out->files_other_change++;
		else
			out->files_unchanged++;
	}
	out->t_map = ut_now() - t;
	t = ut_now();
	if (bd_extents_zstd(dbd, &out->diff, 0, &out->blocks_zstd, err) < 0)
		return -1;
	out->t_blocks_zstd = ut_now() - t;
	t = ut_now();
	if (deltas(base_tree, vm, diff, opt, out, err) < 0)
		return -1;
	out->t_delta = ut_now() - t;
	return 0;
}

void bd_analysis_release(struct bd_analysis *a)
{
	bd_extents_release(&a->alloc);
	bd_extents_release(&a->diff);
	bd_map_release(&a->map);
	ut_buf_release(&a->deltas);
}
