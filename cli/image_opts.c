/*
 * image_opts.c - the options that shape an image, parsed once for convert
 * and batch, and written as canonical arguments: what a batch's plan lines
 * carry to the nodes, and what its images record so that a rerun with other
 * options converts again.
 */
#include "cli.h"
#include "packages.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table the canonical arguments are read back through: the same names
 * and codes as on the command line. */
static const struct option image_longopts[] = {
	{ "compress", required_argument, NULL, CLI_OPT_COMPRESS },
	{ "level", required_argument, NULL, CLI_OPT_LEVEL },
	CLI_IMAGE_LONGOPTS,
	CLI_EXCLUDES_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static const char *const sbom_names[] = { [PKG_SBOM_SPDX] = "spdx",
					  [PKG_SBOM_CYCLONEDX] = "cyclonedx" };

int cli_is_image_option(int c)
{
	return (c >= CLI_OPT_COMPRESS && c <= CLI_OPT_INIT) ||
	       (c >= CLI_OPT_EXCLUDE && c <= CLI_OPT_NO_DEFAULT_EXCLUDES);
}

int cli_image_option(struct convert_opts *o, int c, const char *arg, const char *cmd)
{
	long num;
	int rc;

	switch (c) {
	case CLI_OPT_COMPRESS:
		if ((rc = img_compress_parse(arg)) < 0)
			return cli_usage_error(cmd, "--compress takes zstd, gzip or none, not '%s'", arg);
		o->layer.compress = rc;
		return 0;
	case CLI_OPT_LEVEL:
		if (cli_parse_long(cmd, "--level", arg, 1, 19, &num, &rc) < 0)
			return rc;
		o->layer.level = (int)num;
		return 0;
	case CLI_OPT_GZIP_FAST: o->layer.gzip_fast = 1; return 0;
	case CLI_OPT_TRUST_MTIME: o->diff.trust_mtime = 1; return 0;
	case CLI_OPT_MASK_XATTR:
		o->masks = ut_realloc(o->masks, (o->nmasks + 1) * sizeof(*o->masks));
		o->masks[o->nmasks++] = arg;
		return 0;
	case CLI_OPT_PACKAGES_LAYER: o->packages_layer = 1; return 0;
	case CLI_OPT_NO_REPLAY: o->no_replay = 1; return 0;
	case CLI_OPT_RENAME_WH: o->rename_whiteouts = 1; return 0;
	case CLI_OPT_SKIP_MOUNT: cli_skip_add(&o->skip, NULL, arg); return 0;
	case CLI_OPT_SBOM:
		if ((o->sbom = pkg_sbom_format_parse(arg)) < 0)
			return cli_usage_error(cmd, "--sbom takes spdx or cyclonedx, not '%s'", arg);
		return 0;
	case CLI_OPT_INIT:
		if (strcmp(arg, "systemd"))
			return cli_usage_error(cmd, "--init takes systemd, not '%s'", arg);
		o->runtime.init_systemd = 1;
		return 0;
	}
	return cli_excludes_option(&o->excludes, c, arg, cmd);
}

int cli_image_finish(struct convert_opts *o, const char *cmd)
{
	if (o->layer.compress == IMG_COMPRESS_GZIP && o->layer.level > 9)
		return cli_usage_error(cmd, "--level takes 1 to 9 with gzip, not %d", o->layer.level);
	if (o->layer.gzip_fast && o->layer.compress != IMG_COMPRESS_GZIP)
		return cli_usage_error(cmd, "--gzip-fast needs --compress gzip");
	if (o->layer.gzip_fast && o->layer.level > 3)
		return cli_usage_error(cmd, "--level takes 1 to 3 with --gzip-fast, not %d",
				       o->layer.level);
	if (o->runtime.service && o->runtime.init_systemd)
		return cli_usage_error(cmd, "--service and --init systemd exclude each other");
	o->diff.mask_xattrs = o->masks;
	o->diff.nmask_xattrs = o->nmasks;
	return 0;
}

static void add_arg(json_t *a, const char *opt, const char *value)
{
	json_array_append_new(a, json_string(opt));
	if (value)
		json_array_append_new(a, json_string(value));
}

json_t *cli_image_args(const struct convert_opts *o)
{
	static const char *const rule_opts[] = { "--exclude", "--include", "--filter-from" };
	json_t *a = json_array();
	char level[16];
	size_t i;

	if (o->layer.compress != IMG_COMPRESS_ZSTD)
		add_arg(a, "--compress", img_compress_name(o->layer.compress));
	if (o->layer.level) {
		snprintf(level, sizeof(level), "%d", o->layer.level);
		add_arg(a, "--level", level);
	}
	if (o->layer.gzip_fast)
		add_arg(a, "--gzip-fast", NULL);
	/* the rules in command-line order: the first match wins */
	for (i = 0; i < o->excludes.n; i++)
		add_arg(a, rule_opts[o->excludes.kind[i] - CLI_OPT_EXCLUDE], o->excludes.arg[i]);
	if (o->excludes.keep_kernel)
		add_arg(a, "--keep-kernel", NULL);
	if (o->excludes.no_defaults)
		add_arg(a, "--no-default-excludes", NULL);
	if (o->diff.trust_mtime)
		add_arg(a, "--trust-mtime", NULL);
	for (i = 0; i < o->nmasks; i++)
		add_arg(a, "--mask-xattr", o->masks[i]);
	if (o->packages_layer)
		add_arg(a, "--packages-layer", NULL);
	if (o->no_replay)
		add_arg(a, "--no-replay", NULL);
	if (o->rename_whiteouts)
		add_arg(a, "--rename-whiteout-names", NULL);
	for (i = 0; i < o->skip.n; i++)
		add_arg(a, "--skip-mount", o->skip.paths[i]);
	if (o->sbom)
		add_arg(a, "--sbom", sbom_names[o->sbom]);
	if (o->runtime.init_systemd)
		add_arg(a, "--init", "systemd");
	return a;
}

int cli_image_apply_args(struct convert_opts *o, const json_t *args, const char *cmd)
{
	size_t i = 0, n = json_array_size(args);
	int rc;

	while (i < n) {
		const char *name = json_string_value(json_array_get(args, i++)), *arg = NULL;
		const struct option *opt = image_longopts;

		for (; name && opt->name && (strncmp(name, "--", 2) || strcmp(name + 2, opt->name)); opt++)
			;
		if (!name || !opt->name)
			return cli_usage_error(cmd, "'%s' is not an image option", name ? cli_name(name) : "(not a string)");
		if (opt->has_arg == required_argument &&
		    !(arg = json_string_value(json_array_get(args, i++))))
			return cli_usage_error(cmd, "%s needs a value", name);
		if ((rc = cli_image_option(o, opt->val, arg, cmd)))
			return rc;
	}
	return cli_image_finish(o, cmd);
}

char *cli_image_args_text(const json_t *args)
{
	struct ut_buf b;
	size_t i, len;

	if (!json_array_size(args))
		return ut_strdup("(none)");
	ut_buf_init(&b, 0);
	for (i = 0; i < json_array_size(args); i++)
		ut_buf_addf(&b, NULL, "%s%s", i ? " " : "",
			    cli_name(json_string_value(json_array_get(args, i))));
	return ut_buf_detach(&b, &len);
}

void cli_image_release(struct convert_opts *o)
{
	cli_runtime_release(&o->runtime);
	free(o->masks);
	o->masks = NULL;
	o->nmasks = 0;
	cli_skip_release(&o->skip);
}
