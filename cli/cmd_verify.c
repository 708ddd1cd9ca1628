/*
 * cmd_verify.c - vm2oci verify IMAGE DISK: prove an image equals the disk.
 *
 * The image's layers are applied in order (streamed, whiteouts applied) into
 * a tree with a digest of every file, the disk is walked, and the two are
 * compared with the same merge-walk convert uses, at its strictest: every
 * path, type, mode, owner, size, content digest, xattr, link target,
 * hardlink group and the mtime of every non-directory.
 */
#include "cli.h"
#include "diskread.h"
#include "fsdiff.h"
#include "image.h"

#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char verify_usage[] =
	"usage: vm2oci verify IMAGE DISK [MORE_DISK...] [--format F] [--json] [--max N] [--no-replay]\n"
	"                    [--allow-skipped]\n"
	"\n"
	"Applies IMAGE's layers in order and compares the resulting tree with DISK's,\n"
	"byte for byte (sha256 of every file) and field by field: type, mode, owner,\n"
	"size, xattrs, symlink targets, device numbers, hardlink groups, and the mtime\n"
	"of every non-directory. Exits 0 when identical, 1 with the differences listed\n"
	"otherwise.\n"
	"\n"
	"  IMAGE       oci:DIR[:TAG] or docker-archive:FILE\n"
	"  MORE_DISK   the guest's other disks, in its order (vdb, vdc...)\n"
	"  --format F  DISK's format: raw, qcow2, vmdk, vhdx, vhd, vdi or qed (default: probe)\n"
	"  --json      a JSON report on stdout\n"
	"  --max N     list at most N differences (default 50; the count is exact)\n"
	"  --no-replay read DISK as convert --no-replay did: a journal that needs\n"
	"              recovery is not replayed\n"
	"  --allow-skipped  an image made with --skip-mount (its label\n"
	"              org.vm2oci.skipped-mounts) is compared without those mounts\n"
	"              on the disk side too; without this, such an image never\n"
	"              verifies: the disk is read whole, as the guest mounts it.\n"
	"\n"
	"The paths convert left out (the rules its label org.vm2oci.excludes records:\n"
	"the defaults, --exclude, --include...) are left out of both sides, and the\n"
	"disk's /etc/machine-id is compared emptied when a rule empties it; anything\n"
	"else is compared.\n"
	CLI_DISK_POLICY_USAGE;

/* The mount points the image says convert left out (its config label). */
static void image_skipped(const struct img_base *img, char **value)
{
	const char *v = cli_config_label(img_base_config(img), CLI_SKIPPED_LABEL);

	*value = v ? ut_strdup(v) : NULL;
}

/* What convert left out is not missing: the rules the image's label
 * records, on both sides (the image's excluded paths may be its base's own
 * files); the disk's files an "=" rule names compared emptied. */
static int verify_exclude(const struct img_base *img, const char *name, struct ut_tree *itree,
			  struct ut_tree *vm, struct fsd_filter **filter)
{
	struct ut_err err = { { 0 } };

	if (cli_excludes_from_image(img_base_config(img), filter, &err) < 0)
		return cli_error("%s: %s", name, err.msg), -1;
	fsd_filter_tree(*filter, itree, FSD_FILTER_EXCLUDE);
	fsd_filter_tree(*filter, vm, FSD_FILTER_EXCLUDE | FSD_FILTER_EMPTY);
	return 0;
}

static void what_string(unsigned what, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ FSD_DIFF_CONTENT, "content" }, { FSD_DIFF_SIZE, "size" },
		{ FSD_DIFF_MODE, "mode" }, { FSD_DIFF_OWNER, "owner" },
		{ FSD_DIFF_MTIME, "mtime" }, { FSD_DIFF_XATTR, "xattrs" },
		{ FSD_DIFF_LINK, "link-target" }, { FSD_DIFF_RDEV, "rdev" },
		{ FSD_DIFF_LINKSET, "hardlinks" },
	};
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(what & names[i].bit))
			continue;
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
					 used ? "," : "", names[i].name);
	}
}

/* From the image's side: DELETED means the image has a path the disk lacks. */
static const char *verify_kind(enum fsd_kind k)
{
	switch (k) {
	case FSD_ADDED: return "missing-in-image";
	case FSD_DELETED: return "extra-in-image";
	case FSD_MODIFIED: return "content-differs";
	case FSD_METADATA: return "metadata-differs";
	case FSD_TYPE_CHANGED: return "type-differs";
	case FSD_HARDLINK: return "hardlinks-differ";
	}
	return "differs";
}

/* Lists at most max differences (into jdiffs, or on stdout when it is NULL);
 * returns how many there are, *shown how many were listed. */
static size_t list_differences(const struct fsd_result *diff, long max, json_t *jdiffs,
			       size_t *shown)
{
	const struct fsd_change *ch;
	size_t n, i, count = 0;

	*shown = 0;
	ch = fsd_result_changes(diff, &n);
	for (i = 0; i < n; i++) {
		const char *path = ch[i].vm ? ch[i].vm->path : ch[i].base->path;
		char what[128];

		/* A layer tar has no entry for "/", so its metadata is the
		 * runtime's to choose, not the image's. */
		if (!path[0])
			continue;
		count++;
		if ((long)*shown >= max)
			continue;
		(*shown)++;
		what_string(ch[i].what, what, sizeof(what));
		if (jdiffs) {
			json_t *o = json_pack("{s:s}", "kind", verify_kind(ch[i].kind));

			cli_json_set_name(o, "path", path);
			json_object_set_new(o, "what", json_string(what));
			json_array_append_new(jdiffs, o);
		} else {
			printf("%-17s /%s%s%s%s\n", verify_kind(ch[i].kind), cli_name(path),
			       what[0] ? " (" : "", what, what[0] ? ")" : "");
		}
	}
	return count;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "max", required_argument, NULL, 'm' },
		{ "no-replay", no_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "allow-skipped", no_argument, NULL, 'a' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dr_disk_options dopt = { .tmpdir = cli_tmpdir() };
	struct cli_skip skip = { 0 };
	char *skipped = NULL;
	int allow_skipped = 0;
	struct cli_disk_policy policy = { { 0 } };
	struct fsd_options fopt = { 0 };
	struct ut_err err = { { 0 } };
	struct img_base *img = NULL;
	struct dr_disk *disk = NULL;
	struct dr_disk_ref *more = NULL;
	struct ut_tree *itree = NULL, *vm = NULL;
	struct fsd_result *diff = NULL;
	struct fsd_filter *filter = NULL;
	struct cli_progress prog;
	json_t *jdiffs = NULL;
	size_t i, shown = 0, count = 0;
	long max = 50;
	enum cli_base_kind kind;
	const char *rest;
	int json = 0, quiet = 0, c, rc = 1;
	double t0 = ut_now();

	while ((c = getopt_long(argc, argv, "hf:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': dopt.format = optarg; break;
		case 'j': json = 1; break;
		case 'm':
			if (cli_parse_long("verify", "--max", optarg, 0, LONG_MAX, &max, &rc) < 0)
				return rc;
			break;
		case 'R': dopt.no_replay = 1; break;
		case 'q': quiet = 1; break;
		case 'a': allow_skipped = 1; break;
		case 'h': fputs(verify_usage, stdout); return 0;
		default:
			if ((c = cli_disk_policy_option(&policy, c, optarg, "verify")))
				return c;
			break;
		}
	}
	if (optind + 2 > argc)
		return cli_usage_error("verify", "expected IMAGE and DISK");
	if (cli_base_parse(argv[optind], &kind, &rest, &err) < 0 ||
	    (kind != CLI_BASE_OCI && kind != CLI_BASE_DOCKER_ARCHIVE))
		return cli_usage_error("verify", "IMAGE must be oci:DIR[:TAG] or docker-archive:FILE");
	dopt.nmore_disks = (size_t)(argc - optind - 2);
	dopt.more_disks = more = cli_more_disks(argv + optind + 2, dopt.nmore_disks);
	cli_progress_init(&prog, quiet || json);
	dopt.progress = cli_progress_hook(&prog);

	/* No cache: verify reads every layer for itself. */
	if (img_base_open(argv[optind], cli_tmpdir(), &img, &err) < 0 ||
	    img_base_tree(img, NULL, &itree, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	/* The rule convert keeps, checked again: an image that lacks a mount
	 * is never called identical, unless the caller accepts exactly the
	 * mounts the image says were left out. */
	image_skipped(img, &skipped);
	if (skipped && allow_skipped) {
		char *p, *save = NULL;

		for (p = strtok_r(skipped, ",", &save); p; p = strtok_r(NULL, ",", &save))
			cli_skip_add(&skip, &dopt, p);
	} else if (skipped) {
		fprintf(stderr, "vm2oci: %s lacks the mounts %s (left out with --skip-mount): the disk is compared whole (--allow-skipped compares without them)\n",
			cli_name(argv[optind]), cli_name(skipped));
	}
	cli_disk_policy_apply(&policy, &dopt);
	if (dr_disk_open(argv[optind + 1], &dopt, &disk, &err) < 0 ||
	    dr_disk_tree(disk, 0, &vm, &err) < 0) {
		cli_error_at(argv[optind + 1], &err);
		goto out;
	}
	if (verify_exclude(img, argv[optind], itree, vm, &filter) < 0)
		goto out;
	fopt.progress = dopt.progress;
	/* convert refuses a guest name OCI reads as a whiteout unless told to
	 * rename it, so a disk with such names can only match an image that
	 * holds them renamed. */
	for (i = 0; i < vm->n; i++) {
		if (ut_path_whiteout_component(vm->v[i].path)) {
			ut_tree_escape_whiteouts(vm);
			break;
		}
	}
	if (fsd_diff(itree, vm, &fopt, &diff, &err) < 0) {
		cli_error("%s: %s", argv[optind + 1], err.msg);
		goto out;
	}
	cli_progress_done(&prog);
	jdiffs = json_array();
	count = list_differences(diff, max, json ? jdiffs : NULL, &shown);
	if (json) {
		json_t *root = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:o, s:o, s:I, s:f}", "image",
					 argv[optind], "disk", argv[optind + 1], "identical",
					 count == 0, "entries_image", (json_int_t)itree->n,
					 "entries_disk", (json_int_t)vm->n, "differences",
					 (json_int_t)count, "list", jdiffs, "skipped_mounts",
					 cli_skipped_json(disk), "exclude_rules",
					 (json_int_t)fsd_filter_count(filter), "seconds", ut_now() - t0);

		jdiffs = NULL;
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	} else if (count == 0) {
		printf("identical: %s and %s (%zu entries, %" PRIu64 " files read)%s%s%s\n",
		       argv[optind], argv[optind + 1], vm->n, fsd_result_stats(diff)->digested,
		       skipped ? " without the skipped mounts " : "", skipped ? cli_name(skipped) : "",
		       filter ? " without the paths the image's exclude rules leave out" : "");
	} else {
		printf("%zu difference%s between %s and %s%s\n", count, count == 1 ? "" : "s",
		       argv[optind], argv[optind + 1], shown < count ? " (list cut, see --max)" : "");
	}
	rc = count ? 1 : 0;
out:
	cli_progress_done(&prog);
	json_decref(jdiffs);
	fsd_result_free(diff);
	fsd_filter_free(filter);
	ut_tree_free(itree);
	ut_tree_free(vm);
	img_base_free(img);
	dr_disk_free(disk);
	cli_skip_release(&skip);
	free(skipped);
	free(more);
	return rc;
}
