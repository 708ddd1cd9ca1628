/*
 * cmd_inspect.c - vm2oci inspect DISK: what the disk holds, read-only.
 */
#include "cli.h"
#include "diskread.h"
#include "runtime.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char inspect_usage[] =
	"usage: vm2oci inspect DISK [MORE_DISK...] [--format F] [--json] [--no-replay]\n"
	"                      [--skip-mount PATH]...\n"
	"\n"
	"Shows the disk's format and size, its partition table, the filesystem on\n"
	"each partition (type, label, UUID), the mount plan read from the guest's\n"
	"/etc/fstab, and the operating system (distribution, version, hostname,\n"
	"architecture, package format), the init system with its services (what\n"
	"each runs, as whom, where, with which environment, on which ports, whether\n"
	"enabled), users and groups. Nothing is written and nothing from the guest\n"
	"is run. MORE_DISKs are the guest's other disks in its order (vdb, vdc...):\n"
	"the mount plan resolves fstab lines on them too.\n"
	"\n"
	"  --format F  skip probing: raw, qcow2, vmdk, vhdx, vhd, vdi or qed\n"
	"  --json      one JSON object on stdout\n"
	"  --no-replay do not replay a journal that needs recovery (read the disk\n"
	"              as it is, with a warning)\n"
	"  --skip-mount PATH  leave the fstab mount at PATH out of the plan (an fstab\n"
	"              mount that cannot be read is a warning here; convert fails on it)\n"
	CLI_DISK_POLICY_USAGE;

static json_t *fs_json(const struct dr_fs_info *fs)
{
	/* Labels and UUID strings are the guest's bytes: never let one drop the object. */
	json_t *o = json_object();

	cli_json_set_name(o, "type", fs->type);
	cli_json_set_name(o, "uuid", fs->uuid);
	cli_json_set_name(o, "label", fs->label);
	return o;
}

/* Which rule of the file policy let a link in, as the options that set it. */
static char *link_rule(const struct dr_file_link *l)
{
	switch (l->rule) {
	case DR_RULE_SAME_TREE: return ut_strdup("same directory tree");
	case DR_RULE_ALLOWED: return ut_asprintf("--backing-dir %s", l->allowed_by);
	case DR_RULE_TRUSTED: return ut_strdup("--trust-backing");
	}
	return ut_strdup("?");
}

static int print_json(struct dr_disk *d, const char *path, const struct rt_info *rt)
{
	struct dr_blockdev *bd = dr_disk_blockdev(d);
	const struct dr_partition *parts;
	const struct dr_mount *mounts;
	const struct dr_os_info *os = dr_disk_os(d);
	json_t *root, *jparts, *jmounts;
	size_t n, i;

	jparts = json_array();
	parts = dr_disk_partitions(d, &n);
	for (i = 0; i < n; i++) {
		json_t *p = json_pack("{s:i, s:I, s:I, s:b}", "number", parts[i].number,
				      "start", (json_int_t)parts[i].start, "size",
				      (json_int_t)parts[i].size, "extended", parts[i].extended);

		if (parts[i].type_guid[0])
			json_object_set_new(p, "type_guid", json_string(parts[i].type_guid));
		else
			json_object_set_new(p, "mbr_type", json_integer(parts[i].mbr_type));
		if (parts[i].part_uuid[0])
			json_object_set_new(p, "partuuid", json_string(parts[i].part_uuid));
		if (parts[i].name[0])
			cli_json_set_name(p, "name", parts[i].name);
		if (dr_disk_partition_fs(d, i)->type[0])
			json_object_set_new(p, "filesystem", fs_json(dr_disk_partition_fs(d, i)));
		json_array_append_new(jparts, p);
	}
	jmounts = json_array();
	mounts = dr_disk_mounts(d, &n);
	for (i = 0; i < n; i++) {
		char *mp = ut_asprintf("/%s", mounts[i].mountpoint);
		json_t *m = json_object();

		cli_json_set_name(m, "mountpoint", mp);
		cli_json_set_name(m, "spec", mounts[i].spec ? mounts[i].spec : "");
		json_object_set_new(m, "partition", json_integer(mounts[i].partition));
		if (dr_disk_count(d) > 1) /* which of DISK MORE_DISK..., from 1 */
			json_object_set_new(m, "disk", json_integer(mounts[i].disk + 1));
		json_object_set_new(m, "filesystem", fs_json(&mounts[i].fs));
		if (mounts[i].lv)
			cli_json_set_name(m, "lv", mounts[i].lv);
		if (mounts[i].options)
			cli_json_set_name(m, "options", mounts[i].options);
		json_array_append_new(jmounts, m);
		free(mp);
	}
	root = json_object();
	cli_json_set_name(root, "disk", path);
	json_object_set_new(root, "format", json_string(dr_blockdev_format(bd)));
	json_object_set_new(root, "virtual_size", json_integer((json_int_t)dr_blockdev_size(bd)));
	json_object_set_new(root, "partition_table", json_string(dr_disk_scheme(d)));
	json_object_set_new(root, "partitions", jparts);
	json_object_set_new(root, "mounts", jmounts);
	{
		json_t *jos = json_object();

		cli_json_set_name(jos, "distro", os->distro);
		cli_json_set_name(jos, "version", os->version);
		cli_json_set_name(jos, "pretty_name", os->pretty_name);
		cli_json_set_name(jos, "hostname", os->hostname);
		cli_json_set_name(jos, "arch", os->arch);
		cli_json_set_name(jos, "package_format", os->package_format);
		json_object_set_new(root, "os", jos);
	}
	{
		/* The backing chain: a crafted image can name any host file as
		 * its backing file, so show where the bytes come from. */
		json_t *chain = json_array();

		for (const struct dr_blockdev *b = dr_blockdev_backing(bd); b; b = dr_blockdev_backing(b)) {
			json_t *l = json_object();

			cli_json_set_name(l, "path", dr_blockdev_path(b));
			json_object_set_new(l, "format", json_string(dr_blockdev_format(b)));
			json_array_append_new(chain, l);
		}
		json_object_set_new(root, "backing_chain", chain);
	}
	{
		json_t *jlv = json_array();

		for (i = 0; i < dr_disk_lv_count(d); i++) {
			const struct dr_lv *lv = dr_disk_lv(d, i);
			json_t *o = json_object();

			/* Names from the guest's LVM metadata: escaped like any guest name. */
			cli_json_set_name(o, "vg", lv->vg);
			cli_json_set_name(o, "name", lv->name);
			cli_json_set_name(o, "uuid", lv->uuid);
			json_object_set_new(o, "size", json_integer((json_int_t)lv->size));
			cli_json_set_name(o, "type", lv->type);

			if (lv->unsupported[0])
				json_object_set_new(o, "unsupported", json_string(lv->unsupported));
			if (dr_disk_lv_fs(d, i)->type[0])
				json_object_set_new(o, "filesystem", fs_json(dr_disk_lv_fs(d, i)));
			json_array_append_new(jlv, o);
		}
		json_object_set_new(root, "logical_volumes", jlv);
		json_object_set_new(root, "skipped_mounts", cli_skipped_json(d));
		/* Every file the chain named and the rule that allowed it. */
		size_t nl, k;
		const struct dr_file_link *l = dr_blockdev_links(bd, &nl);
		json_t *links = json_array();

		for (k = 0; k < nl; k++) {
			char *rule = link_rule(&l[k]);
			json_t *o = json_object();

			/* Names a disk wrote: escaped like every guest name. */
			cli_json_set_name(o, "image", l[k].image);
			json_object_set_new(o, "role", json_string(l[k].role));
			cli_json_set_name(o, "name", l[k].name);
			cli_json_set_name(o, "resolved", l[k].resolved);
			cli_json_set_name(o, "allowed_by", rule);
			json_array_append_new(links, o);
			free(rule);
		}
		json_object_set_new(root, "named_files", links);
	}
	if (rt)
		cli_runtime_json(root, rt);
	{
		size_t nw, k;
		const char *const *w = dr_disk_warnings(d, &nw);
		json_t *jw = json_array();

		for (k = 0; k < nw; k++)
			json_array_append_new(jw, cli_json_name(w[k]));
		json_object_set_new(root, "warnings", jw);
	}
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
	return 0;
}

static void print_text(struct dr_disk *d, const char *path, const struct rt_info *rt)
{
	struct dr_blockdev *bd = dr_disk_blockdev(d);
	const struct dr_partition *parts;
	const struct dr_mount *mounts;
	const struct dr_os_info *os = dr_disk_os(d);
	size_t n, i;

	printf("disk:        %s (%s, %" PRIu64 " bytes virtual)\n", cli_name(path),
	       dr_blockdev_format(bd), dr_blockdev_size(bd));
	for (const struct dr_blockdev *b = dr_blockdev_backing(bd); b; b = dr_blockdev_backing(b))
		printf("backing:     %s (%s)\n", cli_name(dr_blockdev_path(b)), dr_blockdev_format(b));
	{
		size_t nl, k;
		const struct dr_file_link *l = dr_blockdev_links(bd, &nl);

		for (k = 0; k < nl; k++) {
			char *rule = link_rule(&l[k]);

			printf("names:       %s: %s %s -> %s (%s)\n", cli_name(l[k].image),
			       l[k].role, cli_name(l[k].name), cli_name(l[k].resolved),
			       cli_name(rule));
			free(rule);
		}
	}
	printf("partitions:  %s\n", dr_disk_scheme(d));
	parts = dr_disk_partitions(d, &n);
	for (i = 0; i < n; i++) {
		const struct dr_fs_info *fs = dr_disk_partition_fs(d, i);

		printf("  %-3d start %-12" PRIu64 " size %-12" PRIu64 " %-8s", parts[i].number,
		       parts[i].start, parts[i].size,
		       parts[i].extended ? "extended" : fs->type[0] ? fs->type : "-");
		if (fs->uuid[0])
			printf(" uuid=%s", cli_name(fs->uuid));
		if (fs->label[0])
			printf(" label=%s", cli_name(fs->label));
		putchar('\n');
	}
	for (i = 0; i < dr_disk_lv_count(d); i++) {
		const struct dr_lv *lv = dr_disk_lv(d, i);
		const struct dr_fs_info *fs = dr_disk_lv_fs(d, i);

		printf("  lv  %s/%s size %-12" PRIu64 " %-8s %s", cli_name(lv->vg), cli_name(lv->name),
		       lv->size, fs->type[0] ? fs->type : "-", cli_name(lv->type));
		if (fs->uuid[0])
			printf(" uuid=%s", cli_name(fs->uuid));
		if (lv->unsupported[0])
			printf(" (not read: %s)", lv->unsupported);
		putchar('\n');
	}
	printf("mounts:\n");
	mounts = dr_disk_mounts(d, &n);
	for (i = 0; i < n; i++) {
		printf("  /%-10s %-8s %s%s%s", cli_name(mounts[i].mountpoint),
		       cli_name(mounts[i].fs.type), mounts[i].spec ? cli_name(mounts[i].spec) : "",
		       mounts[i].options ? " " : "",
		       mounts[i].options ? cli_name(mounts[i].options) : "");
		if (mounts[i].disk)
			printf(" (disk %d)", mounts[i].disk + 1);
		putchar('\n');
	}
	{
		const char *const *sk = dr_disk_skipped_mounts(d, &n);

		for (i = 0; i < n; i++)
			printf("  %-11s skipped (--skip-mount)\n", cli_name(sk[i]));
	}
	printf("os:          %s %s (%s)\n", cli_name(os->distro), cli_name(os->version),
	       cli_name(os->pretty_name));
	printf("hostname:    %s\n", cli_name(os->hostname));
	printf("arch:        %s\n", cli_name(os->arch));
	printf("packages:    %s\n", os->package_format[0] ? os->package_format : "unknown");
	if (rt)
		cli_runtime_print(rt);
	{
		size_t nw, k;
		const char *const *w = dr_disk_warnings(d, &nw);

		for (k = 0; k < nw; k++)
			printf("warning:     %s\n", cli_name(w[k]));
	}
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "skip-mount", required_argument, NULL, 's' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "no-replay", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dr_disk_options opt = { .tmpdir = cli_tmpdir(), .lenient_mounts = 1 };
	struct cli_skip skip = { 0 };
	struct cli_disk_policy policy = { { 0 } };
	struct dr_disk *d = NULL;
	struct dr_disk_ref *more = NULL;
	struct ut_tree *tree = NULL;
	struct rt_info *rt = NULL;
	struct ut_err err = { { 0 } };
	int json = 0, c;

	while ((c = getopt_long(argc, argv, "hf:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': opt.format = optarg; break;
		case 'j': json = 1; break;
		case 's': cli_skip_add(&skip, &opt, optarg); break;
		case 'R': opt.no_replay = 1; break;
		case 'h': fputs(inspect_usage, stdout); return 0;
		default:
			if ((c = cli_disk_policy_option(&policy, c, optarg, "inspect")))
				return c;
			break;
		}
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "expected DISK");
	cli_disk_policy_apply(&policy, &opt);
	opt.nmore_disks = (size_t)(argc - optind - 1);
	opt.more_disks = more = cli_more_disks(argv + optind + 1, opt.nmore_disks);
	if (dr_disk_open(argv[optind], &opt, &d, &err) < 0) {
		cli_skip_release(&skip);
		free(more);
		return cli_error("%s", err.msg);
	}
	/* Services and users are read from the assembled tree, as convert sees it. */
	if (dr_disk_tree(d, 0, &tree, &err) < 0 || rt_read(tree, &rt, &err) < 0)
		fprintf(stderr, "vm2oci: warning: %s: services not read: %s\n", cli_name(argv[optind]),
			cli_name(err.msg));
	if (json)
		print_json(d, argv[optind], rt);
	else
		print_text(d, argv[optind], rt);
	rt_info_free(rt);
	ut_tree_free(tree);
	dr_disk_free(d);
	cli_skip_release(&skip);
	free(more);
	return 0;
}
