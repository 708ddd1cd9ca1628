/*
 * layer_sizes.h - what a diff layer would weigh, by writing it. Internal to
 * cli/ (diff and compare both print it).
 */
#ifndef VM2OCI_CLI_LAYER_SIZES_H
#define VM2OCI_CLI_LAYER_SIZES_H

#include "fsdiff.h"
#include "image.h"

/*
 * Writes the plan as a layer once per compression (none, gzip, zstd, in
 * that order) into a scratch directory under $TMPDIR (else /tmp) that is
 * removed afterwards, and fills res[0..2].
 */
int cli_layer_sizes(const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
		    struct img_layer_result res[3], struct ut_err *err);

#endif
