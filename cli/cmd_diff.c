/*
 * cmd_diff.c - vm2oci diff BASE DISK: what the VM has beyond its base.
 *
 * Prints the research log's table, automated: modifications and additions,
 * deletions, metadata-only changes, moved files, and what the diff layer
 * would weigh raw, gzip- and zstd-compressed.
 */
#include "cli.h"
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

/* The counts (and with list every change), as JSON or text, on stdout. */
static int print_diff(const struct cli_job *j, const struct cli_job_options *o, int json, int list,
		      const struct img_layer_result *sizes, double t_diff)
{
	const struct fsd_stats *s = fsd_result_stats(j->diff);
	size_t i;

	if (json) {
		json_t *root = json_pack(
			"{s:s, s:s, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I},"
			" s:I, s:I, s:I, s:{s:I, s:I}, s:I, s:f}",
			"base", o->base, "disk", o->disk, "entries_base",
			(json_int_t)j->base.tree->n, "entries_disk", (json_int_t)j->vm->n,
			"modifications_and_additions", "count", (json_int_t)(s->added + s->modified),
			"bytes", (json_int_t)(s->added_bytes + s->modified_bytes), "additions",
			"count", (json_int_t)s->added, "bytes", (json_int_t)s->added_bytes,
			"modifications", "count", (json_int_t)s->modified, "bytes",
			(json_int_t)s->modified_bytes, "deletions", "count", (json_int_t)s->deleted,
			"bytes", (json_int_t)s->deleted_bytes, "metadata_only",
			(json_int_t)s->metadata, "type_changes", (json_int_t)s->type_changed,
			"hardlinks_carried", (json_int_t)s->hardlinks, "moved", "count",
			(json_int_t)s->moved, "bytes", (json_int_t)s->moved_bytes, "layer_items",
			(json_int_t)j->nitems, "seconds_diff", t_diff);

		if (sizes)
			json_object_set_new(root, "layer_bytes",
					    json_pack("{s:I, s:I, s:I}", "raw",
						      (json_int_t)sizes[0].blob.size, "gzip",
						      (json_int_t)sizes[1].blob.size, "zstd",
						      (json_int_t)sizes[2].blob.size));
		if (list) {
			const struct fsd_change *ch;
			size_t nch;
			json_t *jl = json_array();

			ch = fsd_result_changes(j->diff, &nch);
			for (i = 0; i < nch; i++) {
				const struct ut_entry *e = ch[i].vm ? ch[i].vm : ch[i].base;
				json_t *jc = json_pack("{s:s}", "kind", fsd_kind_name(ch[i].kind));

				cli_json_set_name(jc, "path", e->path);
				json_object_set_new(jc, "type", json_string(ut_ftype_name(e->type)));
				if (ch[i].moved_from)
					cli_json_set_name(jc, "moved_from", ch[i].moved_from);
				json_array_append_new(jl, jc);
			}
			json_object_set_new(root, "changes", jl);
		}
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	} else {
		printf("base %s (%zu entries) -> disk %s (%zu entries)\n", o->base,
		       j->base.tree->n, o->disk, j->vm->n);
		printf("%" PRIu64 " modifications and additions (%" PRIu64 " added, %" PRIu64
		       " modified), %" PRIu64 " bytes\n",
		       s->added + s->modified, s->added, s->modified, s->added_bytes + s->modified_bytes);
		printf("%" PRIu64 " deletions, %" PRIu64 " bytes\n", s->deleted, s->deleted_bytes);
		printf("%" PRIu64 " metadata-only changes, %" PRIu64 " type changes, %" PRIu64
		       " hardlinks carried\n", s->metadata, s->type_changed, s->hardlinks);
		printf("%" PRIu64 " moved files, %" PRIu64 " bytes\n", s->moved, s->moved_bytes);
		if (sizes)
			printf("diff layer: %" PRIu64 " bytes raw, %" PRIu64 " gzip, %" PRIu64 " zstd\n",
			       sizes[0].blob.size, sizes[1].blob.size, sizes[2].blob.size);
	}
	if (list && !json) {
		size_t nch;
		const struct fsd_change *ch = fsd_result_changes(j->diff, &nch);

		for (i = 0; i < nch; i++) {
			const struct ut_entry *e = ch[i].vm ? ch[i].vm : ch[i].base;

			printf("%-12s /%s%s%s\n", fsd_kind_name(ch[i].kind), cli_name(e->path),
			       ch[i].moved_from ? " <- /" : "", ch[i].moved_from ? cli_name(ch[i].moved_from) : "");
		}
	}
	return 0;
}

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
	struct cli_disk_policy policy = { { 0 } };
	struct fsd_options fopt = { .move_min_size = 1 << 20 };
	struct cli_job_options jo = { .diff = &fopt };
	struct cli_job job = { 0 };
	struct ut_err err = { { 0 } };
	struct ut_progress hook;
	struct img_layer_result sizes[3];
	const char **masks = NULL;
	size_t nmasks = 0;
	struct cli_progress prog;
	int json = 0, quiet = 0, list = 0, want_sizes = 1, c, rc = 1;
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
		case 'f': jo.disk_format = optarg; break;
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
	jo.base = argv[optind];
	jo.disk = argv[optind + 1];
	jo.policy = &policy;
	cli_progress_init(&prog, quiet || json);
	hook = cli_progress_hook(&prog);
	if (cli_job_run(&job, &jo, &hook) < 0)
		goto out;
	t_diff = ut_now() - t0;
	if (want_sizes && cli_layer_sizes(job.items, job.nitems, job.vm, sizes, &err) < 0) {
		cli_error_at(jo.disk, &err);
		goto out;
	}
	cli_progress_done(&prog);
	rc = print_diff(&job, &jo, json, list, want_sizes ? sizes : NULL, t_diff);
out:
	cli_progress_done(&prog);
	cli_job_release(&job);
	free(masks);
	return rc;
}
