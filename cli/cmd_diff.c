/*
 * cmd_diff.c - vm2oci diff BASE DISK: what the VM has beyond its base.
 *
 * Prints the research log's table, automated: modifications and additions,
 * deletions, metadata-only changes, moved files, and what the diff layer
 * would weigh raw, gzip- and zstd-compressed.
 */
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

static const char diff_usage[] =
	"usage: vm2oci diff BASE DISK [options]\n"
	"\n"
	"Compares DISK's tree with BASE (scratch, oci:DIR[:TAG], docker-archive:FILE,\n"
	"rootfs:FILE.tar|DIR or disk:FILE) and prints the changes a diff layer carries:\n"
	"additions and modifications (count, bytes), deletions (count, bytes),\n"
	"metadata-only changes, type changes, moved files, and the layer's size raw,\n"
	"gzip and zstd (by writing it to a temporary directory and removing it).\n"
	"\n"
	"  --list              list every change, one per line (with --json: \"changes\")\n"
	"  --no-layer-sizes    skip writing the layer three times\n"
	"  --trust-mtime       same size and mtime means same content\n"
	"  --mask-xattr NAME   ignore this xattr (repeatable)\n"
	"  --format F          DISK's format: raw, qcow2, vmdk, vhdx, vhd, vdi or qed\n"
	"  --json              JSON on stdout\n"
	"  -q, --quiet         no progress on stderr\n"
	CLI_DISK_POLICY_USAGE;

int cmd_diff(int argc, char **argv)
{
	enum { OPT_LIST = 256, OPT_NO_SIZES, OPT_TRUST, OPT_MASK, OPT_JSON };
	static const struct option longopts[] = {
		{ "list", no_argument, NULL, OPT_LIST },
		{ "no-layer-sizes", no_argument, NULL, OPT_NO_SIZES },
		{ "trust-mtime", no_argument, NULL, OPT_TRUST },
		{ "mask-xattr", required_argument, NULL, OPT_MASK },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dr_disk_options dopt = { 0 };
	struct cli_disk_policy policy = { { 0 } };
	struct fsd_options fopt = { .move_min_size = 1 << 20 };
	struct ut_err err = { { 0 } };
	struct cli_base base;
	struct dr_disk *disk = NULL;
	struct ut_tree *vm = NULL;
	struct fsd_result *diff = NULL;
	struct fsd_layer_item *items = NULL;
	struct img_layer_result sizes[3];
	const struct fsd_stats *s;
	const char **masks = NULL;
	size_t nmasks = 0, nitems = 0, i;
	struct cli_progress prog;
	int json = 0, quiet = 0, list = 0, want_sizes = 1, have_base = 0, c, rc = 1;
	double t0 = ut_now(), t_diff;

	memset(sizes, 0, sizeof(sizes));
	while ((c = getopt_long(argc, argv, "hf:q", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LIST: list = 1; break;
		case OPT_NO_SIZES: want_sizes = 0; break;
		case OPT_TRUST: fopt.trust_mtime = 1; break;
		case OPT_MASK:
			masks = ut_realloc(masks, (nmasks + 1) * sizeof(*masks));
			masks[nmasks++] = optarg;
			break;
		case 'f': dopt.format = optarg; break;
		case OPT_JSON: json = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(diff_usage, stdout); return 0;
		default:
			if ((c = cli_disk_policy_option(&policy, c, optarg, "diff")))
				return c;
			break;
		}
	}
	if (optind + 2 != argc) {
		free(masks);
		return cli_usage_error("diff", "expected BASE and DISK");
	}
	fopt.mask_xattrs = masks;
	fopt.nmask_xattrs = nmasks;
	cli_progress_init(&prog, quiet || json);
	dopt.progress = cli_progress_hook(&prog);
	fopt.progress = dopt.progress;

	have_base = 1;
	cli_disk_policy_apply(&policy, &dopt);
	if (cli_base_open(argv[optind], NULL, &dopt, &base, &err) < 0 || cli_base_tree(&base, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (dr_disk_open(argv[optind + 1], &dopt, &disk, &err) < 0 ||
	    dr_disk_tree(disk, 0, &vm, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (fsd_diff(base.tree, vm, &fopt, &diff, &err) < 0 ||
	    fsd_layer_plan(diff, &items, &nitems, &err) < 0) {
		cli_error("%s: %s", argv[optind + 1], err.msg);
		goto out;
	}
	t_diff = ut_now() - t0;
	if (want_sizes && cli_layer_sizes(items, nitems, vm, sizes, &err) < 0) {
		cli_error("%s: %s", argv[optind + 1], err.msg);
		goto out;
	}
	cli_progress_done(&prog);
	s = fsd_result_stats(diff);
	if (json) {
		json_t *root = json_pack(
			"{s:s, s:s, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I},"
			" s:I, s:I, s:I, s:{s:I, s:I}, s:I, s:f}",
			"base", argv[optind], "disk", argv[optind + 1], "entries_base",
			(json_int_t)base.tree->n, "entries_disk", (json_int_t)vm->n,
			"modifications_and_additions", "count", (json_int_t)(s->added + s->modified),
			"bytes", (json_int_t)(s->added_bytes + s->modified_bytes), "additions",
			"count", (json_int_t)s->added, "bytes", (json_int_t)s->added_bytes,
			"modifications", "count", (json_int_t)s->modified, "bytes",
			(json_int_t)s->modified_bytes, "deletions", "count", (json_int_t)s->deleted,
			"bytes", (json_int_t)s->deleted_bytes, "metadata_only",
			(json_int_t)s->metadata, "type_changes", (json_int_t)s->type_changed,
			"hardlinks_carried", (json_int_t)s->hardlinks, "moved", "count",
			(json_int_t)s->moved, "bytes", (json_int_t)s->moved_bytes, "layer_items",
			(json_int_t)nitems, "seconds_diff", t_diff);

		if (want_sizes)
			json_object_set_new(root, "layer_bytes",
					    json_pack("{s:I, s:I, s:I}", "raw",
						      (json_int_t)sizes[0].blob.size, "gzip",
						      (json_int_t)sizes[1].blob.size, "zstd",
						      (json_int_t)sizes[2].blob.size));
		if (list) {
			const struct fsd_change *ch;
			size_t nch;
			json_t *jl = json_array();

			ch = fsd_result_changes(diff, &nch);
			for (i = 0; i < nch; i++) {
				const struct ut_entry *e = ch[i].vm ? ch[i].vm : ch[i].base;
				json_t *o = json_pack("{s:s}", "kind", fsd_kind_name(ch[i].kind));

				cli_json_set_name(o, "path", e->path);
				json_object_set_new(o, "type", json_string(ut_ftype_name(e->type)));
				if (ch[i].moved_from)
					cli_json_set_name(o, "moved_from", ch[i].moved_from);
				json_array_append_new(jl, o);
			}
			json_object_set_new(root, "changes", jl);
		}
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	} else {
		printf("base %s (%zu entries) -> disk %s (%zu entries)\n", argv[optind],
		       base.tree->n, argv[optind + 1], vm->n);
		printf("%" PRIu64 " modifications and additions (%" PRIu64 " added, %" PRIu64
		       " modified), %" PRIu64 " bytes\n",
		       s->added + s->modified, s->added, s->modified, s->added_bytes + s->modified_bytes);
		printf("%" PRIu64 " deletions, %" PRIu64 " bytes\n", s->deleted, s->deleted_bytes);
		printf("%" PRIu64 " metadata-only changes, %" PRIu64 " type changes, %" PRIu64
		       " hardlinks carried\n", s->metadata, s->type_changed, s->hardlinks);
		printf("%" PRIu64 " moved files, %" PRIu64 " bytes\n", s->moved, s->moved_bytes);
		if (want_sizes)
			printf("diff layer: %" PRIu64 " bytes raw, %" PRIu64 " gzip, %" PRIu64 " zstd\n",
			       sizes[0].blob.size, sizes[1].blob.size, sizes[2].blob.size);
	}
	if (list && !json) {
		const struct fsd_change *ch = fsd_result_changes(diff, &nitems);

		for (i = 0; i < nitems; i++) {
			const struct ut_entry *e = ch[i].vm ? ch[i].vm : ch[i].base;

			printf("%-12s /%s%s%s\n", fsd_kind_name(ch[i].kind), cli_name(e->path),
			       ch[i].moved_from ? " <- /" : "", ch[i].moved_from ? cli_name(ch[i].moved_from) : "");
		}
	}
	rc = 0;
out:
	cli_progress_done(&prog);
	free(items);
	fsd_result_free(diff);
	if (have_base)
		cli_base_release(&base);
	ut_tree_free(vm);
	dr_disk_free(disk);
	free(masks);
	return rc;
}
