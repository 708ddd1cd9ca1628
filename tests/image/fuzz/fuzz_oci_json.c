/*
 * fuzz_oci_json.c - libFuzzer target for the OCI JSON readers. The first
 * byte picks what the rest is: an image config (img_config_from_json), an
 * index.json of a layout, or the manifest an index points to (the index is
 * made to name it by its digest, so the manifest parser is reached). The
 * layout is opened as an oci: base. Errors are expected; crashes, leaks and
 * sanitizer reports are the bugs, and so is an error that quotes the input.
 *
 *   fuzz_oci_json -max_total_time=600 CORPUS_DIR tests/image/fuzz/seeds-json
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img_internal.h"

static char dir[64], spec[80];

static void put(const char *name, const void *data, size_t len)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

static void setup(void)
{
	char p[128];

	snprintf(dir, sizeof(dir), "/tmp/vm2oci-fuzz-oci-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "oci:%s", dir);
	mkdir(dir, 0755);
	snprintf(p, sizeof(p), "%s/blobs", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/blobs/sha256", dir);
	mkdir(p, 0755);
	put("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}

/* Stores data as a blob; hex gets its name. */
static void put_blob(const void *data, size_t len, char hex[UT_SHA256_HEX])
{
	unsigned char d[UT_SHA256_LEN];
	char name[80];

	ut_sha256_buf(data, len, d);
	ut_hex(d, UT_SHA256_LEN, hex);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	put(name, data, len);
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_config c;
	struct img_base *b = NULL;
	struct ut_err err;
	char hex[UT_SHA256_HEX], index[512];

	if (!dir[0])
		setup();
	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (img_config_from_json((const char *)data + 1, size - 1, &c, &err) == 0)
			img_config_release(&c);
		return 0;
	case 1:
		put("index.json", data + 1, size - 1);
		break;
	case 2:
		put_blob(data + 1, size - 1, hex);
		snprintf(index, sizeof(index),
			 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
			 "\"size\":%zu}]}",
			 hex, size - 1);
		put("index.json", index, strlen(index));
		break;
	}
	if (img_base_open(spec, NULL, &b, &err) == 0)
		img_base_free(b);
	if (data[0] % 3 == 2) {
		char name[300];

		snprintf(name, sizeof(name), "%s/blobs/sha256/%s", dir, hex);
		unlink(name);
	}
	return 0;
}
