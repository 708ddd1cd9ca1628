/*
 * sbom_out.c - the bill of materials of a guest, for `packages --format
 * spdx-json|cyclonedx-json` and `convert --sbom`: the package database, its
 * dependency graph, the guest's os-release, and (for an image) the layer
 * each package's files sit in.
 */
#include "cli.h"
#include "diskread.h"
#include "fsdiff.h"
#include "packages.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

struct layer_map {
	const struct cli_sbom_layers *l;
	const char **diff; /* the diff layer's paths, sorted */
	size_t ndiff;
};

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The top layer that holds path's file: what a container sees. */
static const char *layer_of(void *ctx, const char *path)
{
	const struct layer_map *m = ctx;
	struct ut_err err = { { 0 } };
	const struct ut_entry *e = cli_tree_resolve(m->l->vm, path, &err);
	const char *key;

	if (!e || e->type != UT_REG)
		return NULL;
	if (m->l->whole_vm)
		return "vm";
	key = e->path;
	if (m->ndiff && bsearch(&key, m->diff, m->ndiff, sizeof(*m->diff), path_cmp))
		return "diff";
	if (m->l->packages && ut_tree_find(m->l->packages, e->path))
		return "packages";
	return m->l->has_base ? "base" : NULL;
}

int cli_sbom_write(const struct pkg_db *db, struct dr_disk *disk, const char *name, int format,
		   const struct cli_sbom_layers *layers, struct ut_buf *out, struct ut_err *err)
{
	const struct dr_os_info *os = dr_disk_os(disk);
	struct pkg_sbom_options o = { .format = (enum pkg_sbom_format)format, .name = name,
				      .tool_version = VM2OCI_VERSION, .os_id = os->distro,
				      .os_version_id = os->version, .os_pretty = os->pretty_name };
	struct layer_map map = { .l = layers };
	struct pkg_graph *g = NULL;
	size_t i;
	int rc;

	if (pkg_graph_build(db, &g, err) < 0)
		return -1;
	if (layers) {
		map.diff = ut_calloc(layers->nitems + 1, sizeof(*map.diff));
		for (i = 0; i < layers->nitems; i++)
			if (!layers->items[i].whiteout && layers->items[i].entry)
				map.diff[map.ndiff++] = layers->items[i].entry->path;
		qsort(map.diff, map.ndiff, sizeof(*map.diff), path_cmp);
		o.layer_of = layer_of;
		o.layer_ctx = &map;
		o.layers = layers->layers;
		o.nlayers = layers->nlayers;
	}
	rc = pkg_sbom_write(db, g, &o, out, err);
	free(map.diff);
	pkg_graph_free(g);
	return rc;
}

char *cli_sbom_tag(const char *manifest_digest)
{
	return ut_asprintf("sha256-%s.sbom", manifest_digest + strlen("sha256:"));
}
