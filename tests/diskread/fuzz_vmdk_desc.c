/*
 * fuzz_vmdk_desc.c - libFuzzer target for vmdk text descriptors: extent
 * lines (FLAT, SPARSE, ZERO, offsets, quoting), parentCID and
 * parentFileNameHint, and the policy on the files they name.
 *
 * The input is written as DIR/in.vmdk and opened as a vmdk. DIR also holds
 * what descriptors name: flat.bin (64 KiB of a pattern) and parent.raw, and
 * links that lead out of DIR: out-link -> /etc/hostname, dev-link ->
 * /dev/zero. Opening may fail; when it succeeds, every file the descriptor
 * named must lie inside DIR (the policy's promise), and the device is read
 * like a caller would.
 *
 *   fuzz_vmdk_desc -max_total_time=600 CORPUS_DIR tests/diskread/fuzz-seeds/vmdk_desc
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dr_internal.h"

static char *dir, *path;

static void write_pattern(const char *name, size_t len)
{
	char p[4096];
	FILE *f;
	size_t i;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "wb");
	if (!f)
		abort();
	for (i = 0; i < len; i++)
		fputc((int)(i * 7 + (i >> 9)), f);
	fclose(f);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096], p[4096], *real;

	snprintf(tmpl, sizeof(tmpl), "%s/vm2oci-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	/* The policy compares real paths: so does the check below. */
	real = realpath(tmpl, NULL);
	if (!real)
		abort();
	dir = real;
	write_pattern("flat.bin", 65536);
	write_pattern("parent.raw", 65536);
	snprintf(p, sizeof(p), "%s/out-link", dir);
	if (symlink("/etc/hostname", p) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/dev-link", dir);
	if (symlink("/dev/zero", p) < 0)
		abort();
	path = malloc(strlen(dir) + 16);
	sprintf(path, "%s/in.vmdk", dir);
}

static void check_inside(const struct dr_blockdev *bd)
{
	size_t n, i, dl = strlen(dir);
	const struct dr_file_link *l = dr_blockdev_links(bd, &n);

	for (i = 0; i < n; i++)
		if (strncmp(l[i].resolved, dir, dl) || l[i].resolved[dl] != '/')
			abort();
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[64 * 1024];
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
	if (dr_blockdev_open(path, "vmdk", &bd, &err) < 0)
		return 0;
	check_inside(bd);
	end = bd->size < 1024 * 1024 ? bd->size : 1024 * 1024;
	for (off = 0; off < end; off += sizeof(buf)) {
		size_t n = end - off < sizeof(buf) ? end - off : sizeof(buf);

		if (dr_blockdev_pread(bd, buf, n, off, &err) < 0)
			break;
	}
	for (off = 0; off < end;) {
		uint64_t pnum;

		if (dr_blockdev_block_status(bd, off, end - off, &pnum, NULL, NULL, &err) < 0)
			break;
		off += pnum;
	}
	dr_blockdev_free(bd);
	return 0;
}
