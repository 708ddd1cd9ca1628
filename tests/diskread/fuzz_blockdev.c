/*
 * fuzz_blockdev.c - libFuzzer target for the block device parsers.
 *
 * The input is written to a file (the backends read files by path) and
 * opened with the format probed, then read like a caller would: the first
 * megabytes in chunks, and the allocation map. Errors are expected; crashes,
 * hangs and sanitizer reports are the bugs.
 *
 *   fuzz_blockdev -max_total_time=120 CORPUS_DIR SEED_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskread.h"

static char *dir, *path;

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	FILE *f;
	int i;

	snprintf(tmpl, sizeof(tmpl), "%s/vm2oci-fuzz-XXXXXX", base && *base ? base : "/tmp");
	dir = strdup(mkdtemp(tmpl));
	path = malloc(strlen(dir) + 16);
	/* A backing file for seeds that name "b.raw", so chains get read. */
	sprintf(path, "%s/b.raw", dir);
	f = fopen(path, "wb");
	if (!f)
		abort();
	for (i = 0; i < 65536; i++)
		fputc(i * 7 + (i >> 9), f);
	fclose(f);
	sprintf(path, "%s/in.img", dir);
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[256 * 1024];
	struct dr_blockdev *bd;
	struct ut_err err;
	uint64_t off, end;
	FILE *f;

	if (!dir)
		setup();
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (dr_blockdev_open(path, NULL, &bd, &err) < 0)
		return 0;
	/* A huge virtual size is legal; reading all of it is not the point. */
	end = dr_blockdev_size(bd) < 4 * 1024 * 1024 ? dr_blockdev_size(bd) : 4 * 1024 * 1024;
	for (off = 0; off < end; off += sizeof(buf)) {
		size_t n = end - off < sizeof(buf) ? end - off : sizeof(buf);

		if (dr_blockdev_pread(bd, buf, n, off, &err) < 0)
			break;
	}
	for (off = 0; off < end;) {
		uint64_t pnum;
		int a, b;

		if (dr_blockdev_block_status(bd, off, end - off, &pnum, &a, &b, &err) < 0)
			break;
		off += pnum;
	}
	dr_blockdev_free(bd);
	return 0;
}
