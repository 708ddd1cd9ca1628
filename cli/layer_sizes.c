/*
 * layer_sizes.c - the size of a diff layer raw, gzip and zstd, measured by
 * writing it for real (a tar's size depends on headers, padding and the
 * codec, so no estimate is as honest).
 */
#include "layer_sizes.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static int layer_size(const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
		      enum img_compress comp, struct img_layer_result *res, struct ut_err *err)
{
	struct img_layer_options opt = { .compress = comp };
	struct img_layer_writer *w = NULL;
	const char *tmp = getenv("TMPDIR");
	char *path;
	size_t i;
	int rc = -1;

	path = ut_asprintf("%s/vm2oci-layer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(path)) {
		ut_err_set(err, "%s: cannot create a scratch directory", path);
		free(path);
		return -1;
	}
	if (img_layer_writer_new(path, &opt, &w, err) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		int r = items[i].whiteout ? img_layer_add_whiteout(w, items[i].path, err)
					  : img_layer_add(w, items[i].entry, &vm->content, err);

		if (r < 0) {
			img_layer_abort(w);
			goto out;
		}
	}
	rc = img_layer_finish(w, res, err);
out:
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
	return rc;
}

int cli_layer_sizes(const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
		    struct img_layer_result res[3], struct ut_err *err)
{
	static const enum img_compress comps[3] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP,
						    IMG_COMPRESS_ZSTD };
	size_t i;

	memset(res, 0, 3 * sizeof(*res));
	for (i = 0; i < 3; i++)
		if (layer_size(items, n, vm, comps[i], &res[i], err) < 0)
			return -1;
	return 0;
}
