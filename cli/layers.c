/*
 * layers.c - writing layers from trees and diff plans, and measuring what a
 * plan weighs under each compression (by writing it for real: a tar's size
 * depends on headers, padding and the codec, so no estimate is as honest).
 */
#include "cli.h"
#include "fsdiff.h"
#include "image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_write_plan_layer(const char *blob_dir, const struct img_layer_options *opt,
			 const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
			 struct img_layer_result *res, struct ut_err *err)
{
	struct img_layer_writer *w = NULL;
	struct img_layer_options o = { 0 };
	const struct ut_entry **v = ut_malloc((n ? n : 1) * sizeof(*v));
	size_t i;
	int ret = -1;

	if (opt)
		o = *opt;
	for (i = 0; i < n; i++)
		v[i] = items[i].whiteout ? NULL : items[i].entry;
	o.planned_bytes = img_layer_planned_bytes(v, n);
	if (img_layer_writer_new(blob_dir, &o, &w, err) < 0)
		goto out;
	if (img_layer_read_ahead(w, v, n, &vm->content, err) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		int rc = items[i].whiteout ? img_layer_add_whiteout(w, items[i].path, err)
					   : img_layer_add(w, items[i].entry, &vm->content, err);

		if (rc < 0)
			goto fail;
	}
	ret = img_layer_finish(w, res, err);
	goto out;
fail:
	img_layer_abort(w);
out:
	free(v);
	return ret;
}

int cli_layer_sizes(const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
		    struct img_layer_result *res, struct ut_err *err)
{
	static const enum img_compress comps[3] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP,
						    IMG_COMPRESS_ZSTD };
	size_t i;
	int rc = 0;

	memset(res, 0, 3 * sizeof(*res));
	for (i = 0; i < 3 && rc == 0; i++) {
		/* Sizes only: a name OCI reads as a whiteout is measured as convert
		 * --rename-whiteout-names would store it. */
		struct img_layer_options opt = { .compress = comps[i], .escape_whiteout_names = 1 };
		char *dir = ut_asprintf("%s/vm2oci-layer-XXXXXX", cli_tmpdir() ? cli_tmpdir() : "/tmp");

		if (!mkdtemp(dir)) {
			rc = ut_err_set(err, "%s: cannot create a scratch directory", dir);
		} else {
			rc = cli_write_plan_layer(dir, &opt, items, n, vm, &res[i], err);
			ut_rm_rf(dir);
		}
		free(dir);
	}
	return rc;
}
