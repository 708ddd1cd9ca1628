/*
 * base.c - opening what a conversion builds on: image bases through the
 * image module, template disks (disk:FILE) through diskread.
 */
#include "cli.h"
#include "diskread.h"
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every form a base spec takes; "scratch" has no argument. */
static const struct {
	const char *prefix;
	enum cli_base_kind kind;
} base_kinds[] = {
	{ "scratch", CLI_BASE_SCRATCH },
	{ "oci:", CLI_BASE_OCI },
	{ "docker-archive:", CLI_BASE_DOCKER_ARCHIVE },
	{ "rootfs:", CLI_BASE_ROOTFS },
	{ "disk:", CLI_BASE_DISK },
};

int cli_base_parse(const char *spec, enum cli_base_kind *kind, const char **arg,
		   struct ut_err *err)
{
	size_t i;

	for (i = 0; i < sizeof(base_kinds) / sizeof(base_kinds[0]); i++) {
		size_t len = strlen(base_kinds[i].prefix);

		if (base_kinds[i].kind == CLI_BASE_SCRATCH ? strcmp(spec, base_kinds[i].prefix)
							    : strncmp(spec, base_kinds[i].prefix, len))
			continue;
		*kind = base_kinds[i].kind;
		*arg = spec + len;
		return 0;
	}
	return ut_err_set(err, "%s: unknown base (scratch, oci:DIR[:TAG], docker-archive:FILE, "
			  "rootfs:TAR|DIR, disk:FILE)", spec);
}

int cli_base_open(const char *spec, const char *format, const struct dr_disk_options *dopt,
		  struct cli_base *b, struct ut_err *err)
{
	memset(b, 0, sizeof(*b));
	b->spec = ut_strdup(spec);
	if (cli_base_parse(b->spec, &b->kind, &b->arg, err) < 0)
		return -1;
	if (b->kind == CLI_BASE_DISK) {
		struct dr_disk_options opt = { 0 };

		/* A template's chain is judged from its own directory. */
		if (dopt)
			opt = *dopt;
		opt.format = format;
		opt.tmpdir = cli_tmpdir();

		if (dr_disk_open(b->arg, &opt, &b->disk, err) < 0)
			return -1;
		b->cache = cli_tcache_open(b->disk, opt.no_replay);
		return 0;
	}
	if (img_base_open(spec, cli_tmpdir(), &b->img, err) < 0)
		return -1;
	return 0;
}

int cli_base_error(const struct cli_base *b, const struct ut_err *err)
{
	const char *file = b->arg, *colon;
	size_t len;

	if (!file)
		return cli_error("%s", err->msg);
	/* "base disk:t.qcow2: ext4: ...", not "base disk:t.qcow2: t.qcow2: ext4: ..." */
	len = strlen(file);
	if (b->kind == CLI_BASE_OCI && strncmp(err->msg, file, len) && (colon = strrchr(file, ':')))
		len = (size_t)(colon - file);
	if (!strncmp(err->msg, file, len) && err->msg[len] == ':')
		return cli_error("base %.*s%s", (int)(file - b->spec), b->spec, err->msg);
	return cli_error("base %s: %s", b->spec, err->msg);
}

int cli_base_is_scratch(const struct cli_base *b)
{
	return b->kind == CLI_BASE_SCRATCH;
}

int cli_base_tree(struct cli_base *b, struct ut_err *err)
{
	if (b->tree)
		return 0;
	if (b->disk)
		return cli_tcache_tree(b->cache, b->disk, &b->tree, err);
	if (cli_base_is_scratch(b)) {
		b->tree = ut_tree_new();
		ut_tree_add(b->tree, "")->type = UT_DIR;
		return 0;
	}
	return img_base_tree(b->img, cli_cache_dir(), &b->tree, err);
}

void cli_base_release(struct cli_base *b)
{
	ut_tree_free(b->tree);
	cli_tcache_free(b->cache);
	img_base_free(b->img);
	dr_disk_free(b->disk);
	free(b->spec);
	memset(b, 0, sizeof(*b));
}

const char *cli_cache_dir(void)
{
	return cli_cache_subdir("base-index");
}

const char *cli_cache_subdir(const char *name)
{
	static char path[4096];
	const char *env = getenv("VM2OCI_CACHE"), *xdg, *home;

	if (env && !strcmp(env, "off"))
		return NULL;
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/%s", env, name);
	} else if ((xdg = getenv("XDG_CACHE_HOME")) && *xdg) {
		snprintf(path, sizeof(path), "%s/vm2oci/%s", xdg, name);
	} else if ((home = getenv("HOME")) && *home) {
		snprintf(path, sizeof(path), "%s/.cache/vm2oci/%s", home, name);
	} else {
		return NULL;
	}
	/* mkdir -p: a cache we cannot create is just no cache. */
	for (char *s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*s = '/';
			return NULL;
		}
		*s = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return NULL;
	return path;
}
