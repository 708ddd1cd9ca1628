/*
 * cmd_compare.c - vm2oci compare BASE DISK: the file-level layer next to what
 * a block-level view of the same change would weigh.
 *
 * File level is what vm2oci ships: fsdiff's plan written as a layer (raw,
 * gzip, zstd). Block level is an analysis: which disk bytes changed (qcow2
 * lineage when DISK is an overlay of BASE, else block hashes), which files
 * they fall in, and how small zstd --patch-from deltas of the modified files
 * would be. OCI layers carry whole files, so the verdict says what a
 * delta-aware transport could save, never that a layer would shrink.
 *
 * Both strategies of convert are run side by side (with a disk: base): file
 * (walk and compare every file) and block (the blocks changed since the
 * template), each on its own open of DISK so the bytes it reads are its own;
 * their layers must be the same blob. --chart draws the figures as SVG.
 */
#include "blockdiff.h"
#include "cli.h"
#include "diskread.h"
#include "fsdiff.h"
#include "image.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char compare_usage[] =
	"usage: vm2oci compare BASE DISK [options]\n"
	"\n"
	"Compares two ways of shipping what DISK has beyond BASE:\n"
	"  file level   the diff layer vm2oci writes (changed files whole): counts,\n"
	"               bytes, and the layer's size raw, gzip and zstd;\n"
	"  block level  the disk bytes that changed (qcow2 lineage when DISK is an\n"
	"               overlay on BASE, else 4 KiB block hashes), the files they fall\n"
	"               in, metadata, and zstd --patch-from deltas of modified files.\n"
	"BASE is disk:FILE for both views; an image base (oci:, docker-archive:,\n"
	"rootfs:, scratch) has no blocks, so only the file level is shown.\n"
	"With a disk: base, convert's two strategies also run side by side, each\n"
	"on its own open of DISK: file and block (see convert --strategy), with the\n"
	"changed files, the bytes each read from DISK to find them, its seconds\n"
	"(to find them, and with the layer written three times; the base's tree\n"
	"is not counted), the layer's bytes and the per-file delta bytes (zstd\n"
	"--patch-from, and librsync's rsync-style delta as rdiff makes it).\n"
	"\n"
	"  --hashes            compare block hashes even when lineage would do\n"
	"  --list              list the files with changed blocks and the deltas\n"
	"  --chart FILE.svg    also draw the strategies' figures as an SVG bar chart\n"
	"  --format F          DISK's format: raw, qcow2, vmdk, vhdx, vhd, vdi or qed\n"
	"  --json              JSON on stdout\n"
	"  -q, --quiet         no progress on stderr\n"
	CLI_DISK_POLICY_USAGE;

static void print_verdict(const struct img_layer_result *sizes, const struct fsd_stats *s,
			  const struct bd_analysis *bv)
{
	uint64_t layer = sizes[2].blob.size;
	char a[32], b[32], c[32];

	ut_human_size(layer, a, sizeof(a));
	if (!bv) {
		printf("VERDICT      file-level: %s zstd. The block view needs a disk base "
		       "(disk:FILE): an image base has no blocks to compare.\n", a);
		return;
	}
	ut_human_size(bv->blocks_zstd, b, sizeof(b));
	if (bv->blocks_zstd < layer) {
		printf("VERDICT      changed blocks: %s zstd, %.1f%% smaller than the file-level "
		       "layer (%s zstd): only written blocks travel", b,
		       100.0 * (double)(layer - bv->blocks_zstd) / (double)layer, a);
		ut_human_size(s->moved_bytes, c, sizeof(c));
		if (s->moved)
			printf("; the layer carries %" PRIu64 " moved file%s (%s) whole, a rename "
			       "moves no block", s->moved, s->moved == 1 ? "" : "s", c);
		if (bv->modified) {
			ut_human_size(bv->modified_bytes, c, sizeof(c));
			printf("; %" PRIu64 " modified file%s whole (%s)", bv->modified,
			       bv->modified == 1 ? " goes" : "s go", c);
		}
		printf(".\n");
	} else {
		ut_human_size(bv->map.in_metadata + bv->map.outside, c, sizeof(c));
		printf("VERDICT      file-level layer: %s zstd, %.1f%% smaller than the changed "
		       "blocks (%s zstd): the blocks also carry %s of filesystem metadata, journal "
		       "and freed space, which a file layer leaves behind.\n",
		       a, bv->blocks_zstd ? 100.0 * (double)(bv->blocks_zstd - layer) /
						    (double)bv->blocks_zstd : 0.0, b, c);
	}
	if (bv->modified) {
		uint64_t est = layer - (bv->modified_zstd < layer ? bv->modified_zstd : layer) +
			       bv->modified_delta;

		ut_human_size(est, c, sizeof(c));
		ut_human_size(bv->modified_zstd - (bv->modified_delta < bv->modified_zstd ?
					   bv->modified_delta : bv->modified_zstd), b, sizeof(b));
		printf("             patch-from deltas of the %" PRIu64 " modified files would save "
		       "%s (layer ~%s).\n", bv->modified, b, c);
	}
	printf("             But OCI layers cannot carry deltas or blocks: a layer must hold "
	       "whole files, so %s is what vm2oci ships; the block numbers are what a future "
	       "delta-aware transport or a --patch-from rebuild could save.\n", a);
}

static json_t *extents_json(const struct bd_extents *x)
{
	return json_pack("{s:I, s:I, s:I}", "ranges", (json_int_t)x->n, "bytes",
			 (json_int_t)x->bytes, "granule", (json_int_t)x->granule);
}

/* One strategy's run: what convert --strategy NAME would do. */
struct strategy_run {
	const char *name;    /* file or block */
	const char *used;    /* what ran: block may fall back to file */
	char reason[512];
	uint64_t changed_files, bytes_read;
	double seconds;      /* finding the changes and writing the layer 3 times */
	double seconds_find; /* finding the changes: the tree and the diff */
	struct img_layer_result sizes[3]; /* raw, gzip, zstd */
	int ran;
};

/* What compare found, for printing. */
struct compare {
	const struct cli_job_options *jo;
	const struct cli_job *job;
	const struct img_layer_result *sizes; /* raw, gzip, zstd */
	const struct bd_analysis *bv;         /* NULL: BASE is not a disk */
	double t_diff, t_file, t_block;
	struct strategy_run runs[2];          /* file, block */
	char verdict[1024];
};

static void print_strategies_text(const struct compare *cp);

static json_t *block_json(const struct compare *cp)
{
	const struct bd_analysis *bv = cp->bv;
	json_t *files = json_array();
	size_t i;

	for (i = 0; i < bv->map.nfiles; i++) {
		const struct bd_file *f = &bv->map.files[i];

		json_array_append_new(files, json_pack("{s:s, s:I, s:I, s:s}", "path", f->path,
			"changed", (json_int_t)f->changed, "size", (json_int_t)f->size,
			"file_level", bd_file_level(cp->job->diff, f->path)));
	}
	return json_pack("{s:s, s:i, s:o, s:o, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I},"
			 " s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:f,"
			 " s:{s:f, s:f, s:f, s:f, s:f}}",
			 "method", bd_method_name(bv->alloc.method),
			 "lineage_depth", bv->alloc.depth,
			 "found", extents_json(&bv->alloc),
			 "differing_blocks", extents_json(&bv->diff),
			 "bytes_in_files", (json_int_t)bv->map.in_files,
			 "bytes_in_metadata", (json_int_t)bv->map.in_metadata,
			 "bytes_outside_filesystems", (json_int_t)bv->map.outside,
			 "files_with_changed_blocks", (json_int_t)bv->map.nfiles,
			 "files_by_file_level",
			 "content", (json_int_t)bv->files_content,
			 "other_change", (json_int_t)bv->files_other_change,
			 "unchanged", (json_int_t)bv->files_unchanged,
			 "files_scanned", (json_int_t)bv->map.files_scanned,
			 "changed_blocks_zstd", (json_int_t)bv->blocks_zstd,
			 "modified_files", "count", (json_int_t)bv->modified,
			 "bytes", (json_int_t)bv->modified_bytes,
			 "zstd", (json_int_t)bv->modified_zstd,
			 "patch_from", (json_int_t)bv->modified_delta,
			 "rsync", (json_int_t)bv->modified_rsync,
			 "no_delta_too_large", (json_int_t)bv->skipped,
			 "files", files, "seconds", cp->t_block, "seconds_by_phase",
			 "extents", bv->t_extents, "refine", bv->t_refine,
			 "map", bv->t_map, "blocks_zstd", bv->t_blocks_zstd,
			 "deltas", bv->t_delta);
}

static json_t *strategies_json(const struct compare *cp)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct strategy_run *r = &cp->runs[i];
		json_t *o;

		if (!r->ran)
			continue;
		o = json_pack("{s:s, s:I, s:I, s:f, s:{s:I, s:I, s:I}}", "strategy", r->name,
			      "changed_files", (json_int_t)r->changed_files, "bytes_read",
			      (json_int_t)r->bytes_read, "seconds", r->seconds, "layer_bytes",
			      "raw", (json_int_t)r->sizes[0].blob.size,
			      "gzip", (json_int_t)r->sizes[1].blob.size,
			      "zstd", (json_int_t)r->sizes[2].blob.size);
		if (cp->bv)
			json_object_set_new(o, "delta_bytes", json_pack("{s:I, s:I}",
				"zstd_patch_from", (json_int_t)cp->bv->modified_delta,
				"rsync", (json_int_t)cp->bv->modified_rsync));
		else
			json_object_set_new(o, "delta_bytes", json_null());
		json_object_set_new(o, "seconds_to_find_changes", json_real(r->seconds_find));
		json_object_set_new(o, "used", json_string(r->used));
		json_object_set_new(o, "reason", json_string(r->reason));
		json_object_set_new(o, "layer_digest", json_string(r->sizes[2].blob.digest));
		json_array_append_new(a, o);
	}
	return a;
}

static void print_json(const struct compare *cp)
{
	const struct fsd_stats *s = fsd_result_stats(cp->job->diff);
	const struct img_layer_result *sizes = cp->sizes;
	json_t *root = json_object(), *fl;

	json_object_set_new(root, "base", json_string(cp->jo->base));
	json_object_set_new(root, "disk", json_string(cp->jo->disk));
	json_object_set_new(root, "strategies", strategies_json(cp));
	json_object_set_new(root, "verdict", json_string(cp->verdict));
	fl = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:f}",
		       "changed_files", (json_int_t)(s->added + s->modified),
		       "added", (json_int_t)s->added, "modified", (json_int_t)s->modified,
		       "bytes", (json_int_t)(s->added_bytes + s->modified_bytes),
		       "deleted", (json_int_t)s->deleted,
		       "metadata_only", (json_int_t)s->metadata,
		       "layer_items", (json_int_t)cp->job->nitems, "layer_bytes",
		       "raw", (json_int_t)sizes[0].blob.size,
		       "gzip", (json_int_t)sizes[1].blob.size,
		       "zstd", (json_int_t)sizes[2].blob.size, "seconds", cp->t_file);
	json_object_set_new(fl, "seconds_trees_and_diff", json_real(cp->t_diff));
	json_object_set_new(fl, "moved", json_pack("{s:I, s:I}", "count", (json_int_t)s->moved,
						   "bytes", (json_int_t)s->moved_bytes));
	json_object_set_new(root, "file_level", fl);
	if (cp->bv) {
		json_object_set_new(root, "block_level", block_json(cp));
	} else {
		json_object_set_new(root, "block_level", json_null());
		json_object_set_new(root, "block_level_note",
				    json_string("the block view needs a disk base (disk:FILE)"));
	}
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

static void print_block_text(const struct compare *cp)
{
	const struct bd_analysis *bv = cp->bv;
	char h1[32], h2[32], h3[32], h4[32];

	ut_human_size(bv->alloc.bytes, h1, sizeof(h1));
	ut_human_size(bv->diff.bytes, h2, sizeof(h2));
	if (bv->alloc.method == BD_LINEAGE)
		printf("BLOCK-LEVEL  method lineage (%d layer%s above the base): %s "
		       "allocated in %zu runs (%" PRIu64 " B granule); %s in differing "
		       "4 KiB blocks\n", bv->alloc.depth, bv->alloc.depth == 1 ? "" : "s",
		       h1, bv->alloc.n, bv->alloc.granule, h2);
	else
		printf("BLOCK-LEVEL  method hashes (XXH64 of 4 KiB blocks at the same "
		       "offsets): %s in %zu ranges\n", h2, bv->diff.n);
	ut_human_size(bv->map.in_files, h1, sizeof(h1));
	ut_human_size(bv->map.in_metadata, h2, sizeof(h2));
	ut_human_size(bv->map.outside, h3, sizeof(h3));
	printf("             in files: %s (%zu files: %" PRIu64 " changed at file "
	       "level, %" PRIu64 " same content); fs metadata and free space: %s; "
	       "outside filesystems: %s\n", h1, bv->map.nfiles, bv->files_content,
	       bv->files_other_change + bv->files_unchanged, h2, h3);
	ut_human_size(bv->blocks_zstd, h1, sizeof(h1));
	ut_human_size(bv->modified_zstd, h2, sizeof(h2));
	ut_human_size(bv->modified_delta, h3, sizeof(h3));
	ut_human_size(bv->modified_bytes, h4, sizeof(h4));
	printf("             changed blocks: %s zstd; %" PRIu64 " modified files "
	       "(%s): %s zstd whole, %s as patch-from deltas\n", h1, bv->modified, h4,
	       h2, h3);
	printf("             %.2f s (extents %.2f, refine %.2f, map %.2f, blocks zstd "
	       "%.2f, deltas %.2f; reuses the file level's trees and diff)\n",
	       cp->t_block, bv->t_extents, bv->t_refine, bv->t_map, bv->t_blocks_zstd,
	       bv->t_delta);
}

static void print_text(const struct compare *cp, int list)
{
	const struct fsd_stats *s = fsd_result_stats(cp->job->diff);
	const struct img_layer_result *sizes = cp->sizes;
	const struct bd_analysis *bv = cp->bv;
	char h1[32], h2[32], h3[32];
	size_t i;

	printf("base %s -> disk %s\n", cp->jo->base, cp->jo->disk);
	ut_human_size(s->added_bytes + s->modified_bytes, h1, sizeof(h1));
	printf("FILE-LEVEL   %" PRIu64 " changed files (%" PRIu64 " added, %" PRIu64
	       " modified), %s; %" PRIu64 " deleted, %" PRIu64 " metadata-only\n",
	       s->added + s->modified, s->added, s->modified, h1, s->deleted, s->metadata);
	ut_human_size(sizes[0].blob.size, h1, sizeof(h1));
	ut_human_size(sizes[1].blob.size, h2, sizeof(h2));
	ut_human_size(sizes[2].blob.size, h3, sizeof(h3));
	printf("             layer: %s raw, %s gzip, %s zstd; %.2f s (trees and diff "
	       "%.2f, layer written 3 times %.2f)\n", h1, h2, h3, cp->t_file, cp->t_diff,
	       cp->t_file - cp->t_diff);
	if (!bv)
		printf("BLOCK-LEVEL  needs a disk base (disk:FILE): %s has no blocks\n",
		       cp->jo->base);
	else
		print_block_text(cp);
	print_verdict(sizes, s, bv);
	print_strategies_text(cp);
	if (!list || !bv)
		return;
	for (i = 0; i < bv->map.nfiles; i++) {
		const struct bd_file *f = &bv->map.files[i];

		printf("blocks  /%s: %" PRIu64 " of %" PRIu64 " bytes changed (%s)\n", f->path,
		       f->changed, f->size, bd_file_level(cp->job->diff, f->path));
	}
	if (bv->deltas.data)
		fputs((char *)bv->deltas.data, stdout);
}

/* ---- the strategies side by side ------------------------------------------ */

/* Fills r from a job that ran strategy name (bytes read: before anything
 * but the strategy read DISK) and writes its layer three times. */
static int strategy_record(struct cli_job *job, const char *disk, const char *name,
			   struct strategy_run *r)
{
	const struct fsd_stats *s = fsd_result_stats(job->diff);
	struct ut_err err = { { 0 } };
	double mark;

	r->name = name;
	r->used = job->strategy.used;
	snprintf(r->reason, sizeof(r->reason), "%s", job->strategy.reason);
	r->bytes_read = dr_blockdev_bytes_read(dr_disk_blockdev(job->disk));
	r->changed_files = s->added + s->modified;
	mark = ut_now();
	if (cli_layer_sizes(job->items, job->nitems, job->vm, r->sizes, &err) < 0)
		return cli_error_at(disk, &err), -1;
	r->seconds_find = job->t_walk + job->t_diff;
	r->seconds = r->seconds_find + (ut_now() - mark);
	r->ran = 1;
	return 0;
}

/* The block strategy on its own open of DISK. */
static int run_block(const struct cli_job_options *jo0, struct strategy_run *r,
		     struct ut_progress *prog)
{
	struct cli_job_options jo = *jo0;
	struct fsd_options fopt = *jo0->diff;
	struct cli_job job;
	int rc = -1;

	jo.diff = &fopt;
	jo.strategy = "block";
	if (cli_job_run(&job, &jo, prog) == 0)
		rc = strategy_record(&job, jo.disk, "block", r);
	cli_job_release(&job);
	return rc;
}

static void human(uint64_t v, char *buf, size_t len)
{
	ut_human_size(v, buf, len);
}

/* One sentence a person can act on. Returns 0, or -1 when the strategies
 * disagree (a bug: the layers must be the same blob). */
static int make_verdict(struct compare *cp)
{
	const struct strategy_run *f = &cp->runs[0], *b = &cp->runs[1];
	char h1[32], h2[32], h3[32], h4[32], h5[32];
	double ratio;
	size_t n;

	if (!b->ran) {
		snprintf(cp->verdict, sizeof(cp->verdict),
			 "file strategy only: the block strategy needs a disk:TEMPLATE base (%s has no blocks)",
			 cp->jo->base);
		return 0;
	}
	if (strcmp(b->used, "block")) {
		snprintf(cp->verdict, sizeof(cp->verdict),
			 "block fell back to file (%s); both read the whole disk", b->reason);
		return 0;
	}
	if (strcmp(f->sizes[2].blob.digest, b->sizes[2].blob.digest)) {
		snprintf(cp->verdict, sizeof(cp->verdict),
			 "the strategies gave different layers (file %s, block %s): a bug in vm2oci, the block layer must not be used",
			 f->sizes[2].blob.digest, b->sizes[2].blob.digest);
		return -1;
	}
	human(f->bytes_read, h1, sizeof(h1));
	human(b->bytes_read, h2, sizeof(h2));
	ratio = b->seconds_find > 0 ? f->seconds_find / b->seconds_find : 0.0;
	n = (size_t)snprintf(cp->verdict, sizeof(cp->verdict),
			     "block gives the same layer reading %.1fx fewer bytes (%s vs %s) and finds the changes %.1fx %s (%.2f s vs %.2f s)",
			     b->bytes_read ? (double)f->bytes_read / (double)b->bytes_read : 0.0, h2,
			     h1, ratio >= 1 || ratio == 0 ? ratio : 1 / ratio,
			     ratio >= 1 ? "faster" : "slower", b->seconds_find, f->seconds_find);
	if (cp->bv && cp->bv->modified && n < sizeof(cp->verdict)) {
		human(cp->bv->modified_zstd, h3, sizeof(h3));
		human(cp->bv->modified_delta, h4, sizeof(h4));
		human(cp->bv->modified_rsync, h5, sizeof(h5));
		snprintf(cp->verdict + n, sizeof(cp->verdict) - n,
			 "; the %" PRIu64 " modified files weigh %s zstd whole, %s as zstd --patch-from deltas, %s as rsync deltas (OCI layers carry them whole)",
			 cp->bv->modified, h3, h4, h5);
	}
	return 0;
}

static void print_strategies_text(const struct compare *cp)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct strategy_run *r = &cp->runs[i];
		char h1[32], h2[32];

		if (!r->ran)
			continue;
		human(r->bytes_read, h1, sizeof(h1));
		human(r->sizes[2].blob.size, h2, sizeof(h2));
		printf("STRATEGY     %-5s %" PRIu64 " changed files, read %s, %.2f s to find them "
		       "(%.2f s with the layer written 3 times), layer %s zstd%s%s\n",
		       r->name, r->changed_files, h1, r->seconds_find, r->seconds, h2,
		       strcmp(r->name, r->used) ? ", fell back to file: " : "",
		       strcmp(r->name, r->used) ? r->reason : "");
	}
	printf("STRATEGIES   %s\n", cp->verdict);
}

/* Text for SVG: escaped for a terminal first (no control bytes, valid
 * UTF-8), then for XML. */
static void svg_text(struct ut_buf *b, const char *s)
{
	for (s = cli_name(s); *s; s++) {
		switch (*s) {
		case '&': ut_buf_addf(b, NULL, "&amp;"); break;
		case '<': ut_buf_addf(b, NULL, "&lt;"); break;
		case '>': ut_buf_addf(b, NULL, "&gt;"); break;
		case '"': ut_buf_addf(b, NULL, "&quot;"); break;
		default: ut_buf_add(b, s, 1, NULL); break;
		}
	}
}

/*
 * One row per figure, a bar per strategy scaled to the larger of the two,
 * its value written at its end: which strategy wins, and by how much, is
 * read at a glance without comparing numbers across rows of other units.
 */
static void chart_svg(const struct compare *cp, struct ut_buf *b)
{
	static const char *const colours[] = { "#4e79a7", "#f28e2b" };
	const struct strategy_run *r = cp->runs;
	struct {
		const char *label;
		double v[2];
		int bytes;
	} rows[6] = {
		{ "changed files", { (double)r[0].changed_files, (double)r[1].changed_files }, 0 },
		{ "bytes read from the disk", { (double)r[0].bytes_read, (double)r[1].bytes_read }, 1 },
		{ "seconds to find the changes", { r[0].seconds_find, r[1].seconds_find }, 0 },
		{ "layer (zstd)", { (double)r[0].sizes[2].blob.size, (double)r[1].sizes[2].blob.size }, 1 },
		{ "deltas: zstd --patch-from", { 0, 0 }, 1 },
		{ "deltas: rsync (librsync)", { 0, 0 }, 1 },
	};
	const int left = 230, width = 420, row_h = 64, top = 70;
	size_t nrows = cp->bv ? 6 : 4, i, k;
	int height = top + (int)nrows * row_h + 20;

	if (cp->bv) {
		rows[4].v[0] = rows[4].v[1] = (double)cp->bv->modified_delta;
		rows[5].v[0] = rows[5].v[1] = (double)cp->bv->modified_rsync;
	}
	ut_buf_addf(b, NULL,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"%d\" "
		    "viewBox=\"0 0 760 %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
		    "<rect width=\"760\" height=\"%d\" fill=\"white\"/>\n"
		    "<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\">vm2oci compare: ",
		    height, height, height);
	svg_text(b, cp->jo->base);
	ut_buf_addf(b, NULL, " &#8594; ");
	svg_text(b, cp->jo->disk);
	ut_buf_addf(b, NULL, "</text>\n");
	for (k = 0; k < 2; k++)
		if (r[k].ran)
			ut_buf_addf(b, NULL,
				    "<rect x=\"%d\" y=\"40\" width=\"14\" height=\"14\" fill=\"%s\"/>"
				    "<text x=\"%d\" y=\"52\">%s strategy</text>\n",
				    20 + (int)k * 160, colours[k], 40 + (int)k * 160, r[k].name);
	for (i = 0; i < nrows; i++) {
		int y = top + (int)i * row_h;
		double max = rows[i].v[0] > rows[i].v[1] ? rows[i].v[0] : rows[i].v[1];

		ut_buf_addf(b, NULL, "<text x=\"20\" y=\"%d\">%s</text>\n", y + 24, rows[i].label);
		for (k = 0; k < 2; k++) {
			double v = rows[i].v[k];
			int w = max > 0 ? (int)(v / max * width + 0.5) : 0;
			char val[32];

			if (!r[k].ran)
				continue;
			if (rows[i].bytes)
				human((uint64_t)v, val, sizeof(val));
			else if (rows[i].v[k] != (double)(uint64_t)rows[i].v[k])
				snprintf(val, sizeof(val), "%.2f", v);
			else
				snprintf(val, sizeof(val), "%.0f", v);
			ut_buf_addf(b, NULL,
				    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"22\" fill=\"%s\"/>"
				    "<text x=\"%d\" y=\"%d\">%s</text>\n",
				    left, y + 4 + (int)k * 26, w < 1 ? 1 : w, colours[k], left + (w < 1 ? 1 : w) + 6,
				    y + 20 + (int)k * 26, val);
		}
	}
	ut_buf_addf(b, NULL, "</svg>\n");
}

/* The chart at path, whole or not at all. */
static int write_chart(const struct compare *cp, const char *path)
{
	struct ut_err err = { { 0 } };
	struct ut_buf b;
	int rc;

	ut_buf_init(&b, 0);
	chart_svg(cp, &b);
	rc = ut_write_file_atomic(path, b.data, b.len, 0644, &err);
	if (rc < 0)
		cli_error("%s", err.msg);
	ut_buf_release(&b);
	return rc;
}

int cmd_compare(int argc, char **argv)
{
	enum { OPT_HASHES = 256, OPT_LIST, OPT_JSON, OPT_CHART };
	static const struct option longopts[] = {
		{ "hashes", no_argument, NULL, OPT_HASHES },
		{ "chart", required_argument, NULL, OPT_CHART },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_disk_policy policy = { { 0 } };
	struct fsd_options fopt = { .move_min_size = 1 << 20 };
	struct cli_job_options jo = { .diff = &fopt };
	struct cli_job job = { 0 };
	struct ut_err err = { { 0 } };
	struct img_layer_result sizes[3];
	struct bd_analysis_options bopt = { 0 };
	struct bd_analysis bv;
	struct compare cp = { .jo = &jo, .job = &job, .sizes = sizes };
	struct cli_progress prog;
	int json = 0, quiet = 0, list = 0, c, rc = 1;
	const char *chart = NULL;
	double t0;

	memset(sizes, 0, sizeof(sizes));
	memset(&bv, 0, sizeof(bv));
	while ((c = getopt_long(argc, argv, "hf:q", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HASHES: bopt.force_hashes = 1; break;
		case OPT_LIST: list = 1; break;
		case OPT_CHART: chart = optarg; break;
		case 'f': jo.disk_format = optarg; break;
		case OPT_JSON: json = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(compare_usage, stdout); return 0;
		default:
			if ((c = cli_disk_policy_option(&policy, c, optarg, "compare")))
				return c;
			break;
		}
	}
	if (optind + 2 != argc)
		return cli_usage_error("compare", "expected BASE and DISK");
	jo.base = argv[optind];
	jo.disk = argv[optind + 1];
	jo.policy = &policy;
	jo.strategy = "file"; /* the file level is the file strategy's run */
	bopt.list_deltas = list && !json;
	cli_progress_init(&prog, quiet || json);
	bopt.progress = cli_progress_hook(&prog);

	t0 = ut_now();
	if (cli_job_run(&job, &jo, &bopt.progress) < 0)
		goto out;
	cp.t_diff = ut_now() - t0;
	if (strategy_record(&job, jo.disk, "file", &cp.runs[0]) < 0)
		goto out;
	memcpy(sizes, cp.runs[0].sizes, sizeof(sizes));
	cp.t_file = ut_now() - t0;
	if (job.base.disk) {
		double t1 = ut_now();

		if (bd_analyse(job.base.disk, job.base.arg, job.base.tree, job.disk, job.vm, job.diff,
			       &bopt, &bv, &err) < 0) {
			cli_error_at(jo.disk, &err);
			goto out;
		}
		cp.t_block = ut_now() - t1;
		cp.bv = &bv;
		if (run_block(&jo, &cp.runs[1], &bopt.progress) < 0)
			goto out;
	}
	cli_progress_done(&prog);
	rc = make_verdict(&cp) < 0;
	if (chart && write_chart(&cp, chart) < 0)
		rc = 1;
	if (json)
		print_json(&cp);
	else
		print_text(&cp, list);
out:
	cli_progress_done(&prog);
	bd_analysis_release(&bv);
	cli_job_release(&job);
	return rc;
}
