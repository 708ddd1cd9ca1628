/*
 * fuzz_tar_layer.c - libFuzzer target for the base layer reader: the input
 * is one layer blob (a tar, any compression) applied by the tree builder,
 * twice (so its whiteouts act on its own files), then once more through the
 * package-file filter, and its tree is written to and read back from the
 * binary tree cache. Errors are expected; crashes, hangs, leaks and
 * sanitizer reports are the bugs.
 *
 *   fuzz_tar_layer -max_total_time=600 CORPUS_DIR tests/image/fuzz/seeds-tar
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "img_internal.h"

static int discard_begin(void *ctx, struct ut_entry *e, struct ut_err *err)
{
	(void)ctx;
	(void)e;
	(void)err;
	return 0;
}

static int discard_data(void *ctx, const void *buf, size_t len, struct ut_err *err)
{
	(void)ctx;
	(void)buf;
	(void)len;
	(void)err;
	return 0;
}

static int apply(struct img_tree_builder *tb, int fd, size_t size)
{
	struct img_layer_in in = { .fd = fd, .size = size, .name = "layer" };
	struct ut_err err;

	lseek(fd, 0, SEEK_SET);
	return img_tree_builder_apply(tb, &in, &err);
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = { "var/lib/dpkg", "etc/os-release" };
	static const struct img_tree_filter filter = {
		.prefixes = prefixes,
		.nprefixes = 2,
		.file_begin = discard_begin,
		.file_data = discard_data,
	};
	static char cache[64];
	struct img_tree_builder *tb;
	struct ut_tree *t = NULL, *back = NULL;
	struct ut_err err;
	int fd = memfd_create("layer", MFD_CLOEXEC);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	if (!cache[0])
		snprintf(cache, sizeof(cache), "/tmp/vm2oci-fuzz-tree-%d", (int)getpid());
	tb = img_tree_builder_new();
	if (apply(tb, fd, size) == 0 && apply(tb, fd, size) == 0) {
		t = img_tree_builder_take(tb);
		if (ut_tree_save(t, cache, &err) == 0 && ut_tree_load(cache, &back, &err) == 0 &&
		    back->n != t->n)
			abort(); /* the cache must give back what it was given */
		unlink(cache);
	}
	img_tree_builder_free(tb);
	ut_tree_free(t);
	ut_tree_free(back);
	tb = img_tree_builder_new();
	img_tree_builder_set_filter(tb, &filter);
	apply(tb, fd, size);
	img_tree_builder_free(tb);
	close(fd);
	return 0;
}
