/*
 * excludes.c - what convert leaves out of the image (--exclude, --include,
 * --filter-from, the default rules, --keep-kernel, --no-default-excludes),
 * how the image records it (the label org.vm2oci.excludes, the rules as a
 * filter file) and how verify reads it back. The matching is fsdiff's.
 */
#include "cli.h"
#include "fsdiff.h"
#include "image.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_FILE_MAX (1u << 20)
#define FSTAB_MAX (1u << 20)

/* One --exclude, --include or --filter-from, appended to f; the message of a
 * bad one in err. */
static int add_user_rule(struct fsd_filter *f, int kind, const char *arg, struct ut_err *err)
{
	struct ut_buf b;
	int rc;

	if (kind != CLI_OPT_FILTER_FROM)
		return fsd_filter_add(f, kind == CLI_OPT_EXCLUDE ? FSD_RULE_EXCLUDE : FSD_RULE_INCLUDE,
				      arg, "user", err);
	ut_buf_init(&b, FILTER_FILE_MAX);
	rc = ut_read_host_file(arg, &b, err) < 0 ? -1 :
		fsd_filter_parse(f, (const char *)b.data, b.len, "user", err);
	ut_buf_release(&b);
	return rc;
}

int cli_excludes_option(struct cli_excludes *x, int c, const char *arg, const char *cmd)
{
	static const char *const names[] = { "exclude", "include", "filter-from" };
	struct ut_err err = { { 0 } };
	struct fsd_filter *check;
	int bad;

	switch (c) {
	case CLI_OPT_EXCLUDE:
	case CLI_OPT_INCLUDE:
	case CLI_OPT_FILTER_FROM:
		if (x->n == CLI_MAX_USER_RULES)
			return cli_usage_error(cmd, "at most %d --exclude, --include and --filter-from options",
					       CLI_MAX_USER_RULES);
		/* Checked now, so that a bad rule is a usage error before any
		 * disk is opened; read again, in order, by cli_excludes_build. */
		check = fsd_filter_new();
		bad = add_user_rule(check, c, arg, &err) < 0;
		fsd_filter_free(check);
		if (bad)
			return cli_usage_error(cmd, "--%s %s: %s", names[c - CLI_OPT_EXCLUDE],
					       cli_name(arg), err.msg);
		x->kind[x->n] = c;
		x->arg[x->n++] = arg;
		return 0;
	case CLI_OPT_KEEP_KERNEL:
		x->keep_kernel = 1;
		return 0;
	case CLI_OPT_NO_DEFAULT_EXCLUDES:
		x->no_defaults = 1;
		return 0;
	}
	return cli_usage_error(cmd, "unknown option");
}

/* fstab's octal escapes (\040 for a space) decoded, in place. */
static void fstab_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* A path as an rsync pattern that matches exactly it, anchored. */
static char *literal_pattern(const char *path)
{
	struct ut_buf b;
	int wild = strpbrk(path, "*?[") != NULL;

	ut_buf_init(&b, 0);
	ut_buf_addstr(&b, "/", NULL);
	for (; *path == '/'; path++)
		;
	for (; *path; path++) {
		/* A backslash quotes only in a pattern with wildcards. */
		if (wild && strchr("*?[\\", *path))
			ut_buf_add(&b, "\\", 1, NULL);
		ut_buf_add(&b, path, 1, NULL);
	}
	return ut_buf_detach(&b, NULL);
}

/* The swap files the guest's fstab names (lines of type swap whose device is
 * a path outside /dev): one exclusion each. */
static int add_swap_files(struct fsd_filter *f, const struct ut_tree *vm, struct ut_err *err)
{
	const struct ut_entry *e;
	struct ut_buf b;
	char *line, *save = NULL;
	int rc = -1;

	err->msg[0] = '\0';
	e = cli_tree_resolve(vm, "/etc/fstab", err);
	if (!e || e->type != UT_REG || !vm->content.ops)
		return err->msg[0] ? -1 : 0;
	ut_buf_init(&b, FSTAB_MAX);
	if (ut_content_read_all(&vm->content, e, &b, err) < 0)
		goto out;
	for (line = strtok_r((char *)b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *fsave = NULL, *spec = strtok_r(line, " \t", &fsave);
		char *dir = spec ? strtok_r(NULL, " \t", &fsave) : NULL;
		char *type = dir ? strtok_r(NULL, " \t", &fsave) : NULL;
		char *pat;

		if (!type || spec[0] != '/' || strcmp(type, "swap") || !strncmp(spec, "/dev/", 5))
			continue;
		fstab_unescape(spec);
		if (!spec[1] || strstr(spec, "/../") || strstr(spec, "/./"))
			continue;
		pat = literal_pattern(spec);
		/* A pattern from a path never fails (no control bytes: fstab
		 * fields are split on whitespace and lines). */
		fsd_filter_add(f, FSD_RULE_EXCLUDE, pat, "swap", NULL);
		free(pat);
	}
	rc = 0;
out:
	ut_buf_release(&b);
	if (rc < 0)
		ut_err_prefix(err, "/etc/fstab: ");
	return rc;
}

int cli_excludes_build(const struct cli_excludes *x, const struct ut_tree *vm,
		       struct fsd_filter **out, struct ut_err *err)
{
	struct fsd_filter *f = fsd_filter_new();
	size_t i;

	*out = NULL;
	/* The user's rules first: rsync's first match wins, so --include can
	 * keep what a default would take. */
	for (i = 0; i < x->n; i++) {
		if (add_user_rule(f, x->kind[i], x->arg[i], err) < 0) {
			fsd_filter_free(f);
			return ut_err_prefix(err, "%s: ", x->arg[i]);
		}
	}
	if (!x->no_defaults) {
		fsd_filter_add_defaults(f, FSD_GROUP_ALL & ~(x->keep_kernel ? FSD_GROUP_KERNEL : 0u));
		if (add_swap_files(f, vm, err) < 0) {
			fsd_filter_free(f);
			return -1;
		}
	}
	if (!fsd_filter_count(f)) {
		fsd_filter_free(f);
		return 0;
	}
	*out = f;
	return 0;
}

char *cli_excludes_label(const struct fsd_filter *f)
{
	char *text;
	size_t len;

	if (!fsd_filter_count(f))
		return NULL;
	text = fsd_filter_text(f);
	len = strlen(text);
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	return text;
}

const char *cli_config_label(const struct img_config *c, const char *key)
{
	size_t i, l = strlen(key);

	for (i = 0; c && i < c->nlabels; i++)
		if (!strncmp(c->labels_kv[i], key, l) && c->labels_kv[i][l] == '=')
			return c->labels_kv[i] + l + 1;
	return NULL;
}

int cli_excludes_from_image(const struct img_config *c, struct fsd_filter **out,
			    struct ut_err *err)
{
	const char *value = cli_config_label(c, CLI_EXCLUDES_LABEL);

	*out = NULL;
	if (!value)
		return 0;
	*out = fsd_filter_new();
	if (fsd_filter_parse(*out, value, strlen(value), "image", err) < 0) {
		fsd_filter_free(*out);
		*out = NULL;
		return ut_err_prefix(err, "label %s: ", CLI_EXCLUDES_LABEL);
	}
	return 0;
}

void cli_excludes_totals(const struct fsd_filter *f, uint64_t *files, uint64_t *bytes)
{
	size_t i;

	*files = *bytes = 0;
	for (i = 0; i < fsd_filter_count(f); i++) {
		struct fsd_rule_info ri;

		fsd_filter_rule(f, i, &ri);
		*files += ri.files;
		*bytes += ri.bytes;
	}
}

void cli_excludes_print(const struct fsd_filter *f)
{
	uint64_t files, bytes;
	char size[32];
	size_t i;

	for (i = 0; i < fsd_filter_count(f); i++) {
		struct fsd_rule_info ri;

		fsd_filter_rule(f, i, &ri);
		if (!ri.files)
			continue;
		fprintf(stderr, "vm2oci: %s %s (%s): %" PRIu64 " %s, %s\n",
			ri.action == FSD_RULE_EMPTY ? "emptied" : "excluded", cli_name(ri.pattern),
			ri.group, ri.files, ri.files == 1 ? "entry" : "entries",
			ut_human_size(ri.bytes, size, sizeof(size)));
	}
	cli_excludes_totals(f, &files, &bytes);
	if (files)
		fprintf(stderr, "vm2oci: left out of the image: %" PRIu64 " entries, %s (%" PRIu64
			" bytes)\n", files, ut_human_size(bytes, size, sizeof(size)), bytes);
}

json_t *cli_excludes_json(const struct fsd_filter *f)
{
	json_t *rules = json_array();
	uint64_t files, bytes;
	size_t i;

	for (i = 0; i < fsd_filter_count(f); i++) {
		struct fsd_rule_info ri;
		char action[2] = { 0 };
		json_t *o;

		fsd_filter_rule(f, i, &ri);
		action[0] = (char)ri.action;
		o = json_pack("{s:s, s:s, s:I, s:I}", "action", action, "group", ri.group,
			      "entries", (json_int_t)ri.files, "bytes", (json_int_t)ri.bytes);
		cli_json_set_name(o, "pattern", ri.pattern);
		json_array_append_new(rules, o);
	}
	cli_excludes_totals(f, &files, &bytes);
	return json_pack("{s:I, s:I, s:o}", "entries", (json_int_t)files, "bytes",
			 (json_int_t)bytes, "rules", rules);
}
