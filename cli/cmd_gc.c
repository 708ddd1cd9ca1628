/*
 * cmd_gc.c - vm2oci gc DIR: the layout's unreferenced blobs and leftover
 * temporaries removed (image/layout_gc.c does the work; here the options
 * and the report).
 */
#include "cli.h"
#include "image.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char gc_usage[] =
	"usage: vm2oci gc DIR [--dry-run] [--no-wait] [--json] [-q]\n"
	"\n"
	"Removes from the OCI layout DIR every blob that nothing in its index.json\n"
	"reaches (image manifests, nested indexes, their configs and layers, and the\n"
	"referrers, such as SBOMs, of the images kept), and the temporary files that\n"
	"writers killed with -9 left. A referrer whose image is gone leaves index.json\n"
	"with its blobs. A blob that is named but missing, or a manifest that does not\n"
	"parse, stops gc before anything is removed.\n"
	"\n"
	"gc holds the layout's exclusive lock: it waits for convert/batch writers in\n"
	"DIR to finish, and writers starting meanwhile wait for gc.\n"
	"\n"
	"  --dry-run           list what would be removed, remove nothing\n"
	"  --no-wait           fail (exit 1) instead of waiting for a writer in DIR\n"
	"  --json              print the report as JSON on stdout\n"
	"  -q, --quiet         print nothing but errors\n"
	"\n"
	"Exit: 0 done, 1 error (nothing removed), 2 usage.\n";

static const char *const kind_names[] = {
	[IMG_GC_BLOB] = "blob",
	[IMG_GC_TEMP] = "temporary",
	[IMG_GC_REFERRER] = "referrer",
};

static void gc_waiting(void *ctx, const char *dir)
{
	(void)ctx;
	fprintf(stderr, "vm2oci: %s: waiting for the writers in the layout to finish\n",
		cli_name(dir));
}

static void print_json(const char *dir, const struct img_gc_options *opt,
		       const struct img_gc_result *r, double seconds)
{
	json_t *items = json_array(), *root;
	size_t i;

	for (i = 0; i < r->nitems; i++)
		json_array_append_new(items, json_pack("{s:s, s:s, s:I}", "kind",
						       kind_names[r->items[i].kind], "name",
						       r->items[i].name, "bytes",
						       (json_int_t)r->items[i].bytes));
	root = json_pack("{s:s, s:b, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:o, s:f, s:f}",
			 "layout", dir, "dry_run", opt->dry_run, "removed", "blobs",
			 (json_int_t)r->removed_blobs, "bytes", (json_int_t)r->removed_bytes,
			 "temporaries", (json_int_t)r->removed_temps, "temporary_bytes",
			 (json_int_t)r->removed_temp_bytes, "referrers",
			 (json_int_t)r->dropped_referrers, "kept", "blobs", (json_int_t)r->kept_blobs,
			 "bytes", (json_int_t)r->kept_bytes, "manifests", (json_int_t)r->manifests,
			 "items", items, "seconds_waited", r->seconds_waited, "seconds", seconds);
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

static void print_text(const char *dir, const struct img_gc_options *opt,
		       const struct img_gc_result *r)
{
	const char *verb = opt->dry_run ? "would remove" : "removed";
	char a[32], b[32], c[32];
	size_t i;

	for (i = 0; i < r->nitems; i++)
		printf("%s %s %s (%" PRIu64 " bytes)\n", verb, kind_names[r->items[i].kind],
		       cli_name(r->items[i].name), r->items[i].bytes);
	printf("%s: %s %" PRIu64 " blob%s (%s), %" PRIu64 " temporar%s (%s), %" PRIu64
	       " referrer%s; kept %" PRIu64 " blobs (%s) of %zu manifests\n",
	       cli_name(dir), verb, r->removed_blobs, r->removed_blobs == 1 ? "" : "s",
	       ut_human_size(r->removed_bytes, a, sizeof(a)), r->removed_temps,
	       r->removed_temps == 1 ? "y" : "ies", ut_human_size(r->removed_temp_bytes, b, sizeof(b)),
	       r->dropped_referrers, r->dropped_referrers == 1 ? "" : "s", r->kept_blobs,
	       ut_human_size(r->kept_bytes, c, sizeof(c)), r->manifests);
}

int cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct img_gc_options opt = { .wait_notice = gc_waiting };
	struct img_gc_result res;
	struct ut_err err = { { 0 } };
	int json = 0, quiet = 0, c;
	double t0 = ut_now();

	while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.dry_run = 1; break;
		case 'W': opt.no_wait = 1; break;
		case 'j': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(gc_usage, stdout); return 0;
		default: return cli_usage_error("gc", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("gc", "expected one layout DIR");
	if (quiet)
		opt.wait_notice = NULL;
	if (img_layout_gc(argv[optind], &opt, &res, &err) < 0) {
		img_gc_result_release(&res);
		return cli_error_at(argv[optind], &err);
	}
	if (json)
		print_json(argv[optind], &opt, &res, ut_now() - t0);
	else if (!quiet)
		print_text(argv[optind], &opt, &res);
	img_gc_result_release(&res);
	return 0;
}
