/*
 * fuzz_lvm.c - libFuzzer target for the LVM2 reader (diskread/lvm.c): the
 * input is one physical volume (label, mda header, metadata text, data);
 * every LV it describes is opened and read at its start, middle and end.
 * Errors are expected; crashes, hangs and sanitizer reports are the bugs.
 *
 *   fuzz_lvm -max_total_time=120 CORPUS_DIR SEED_DIR
 * (a seed: the first MiB of an LVM partition, e.g. of layout-lvm-var.raw's p2)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskread.h"
#include "dr_internal.h"

static char *path;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char buf[4096];
	struct dr_blockdev *bd;
	struct dr_lvm *l;
	struct ut_err err;
	size_t i;
	FILE *f;

	if (!path) {
		const char *base = getenv("TMPDIR");

		path = malloc(4096);
		snprintf(path, 4096, "%s/vm2oci-fuzz-lvm-%d.img", base && *base ? base : "/tmp",
			 (int)getpid());
	}
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (dr_blockdev_open(path, "raw", &bd, &err) < 0)
		return 0;
	if (dr_lvm_read(&bd, 1, &l, &err) == 0) {
		for (i = 0; i < dr_lvm_count(l); i++) {
			struct dr_blockdev *lv;
			uint64_t at[3];
			size_t k;

			if (dr_lvm_open(l, i, &lv, &err) < 0)
				continue;
			at[0] = 0;
			at[1] = lv->size / 2;
			at[2] = lv->size > sizeof(buf) ? lv->size - sizeof(buf) : 0;
			for (k = 0; k < 3; k++) {
				size_t n = lv->size - at[k] < sizeof(buf) ? (size_t)(lv->size - at[k])
									  : sizeof(buf);

				dr_blockdev_pread(lv, buf, n, at[k], &err);
			}
			dr_blockdev_free(lv);
		}
		dr_lvm_free(l);
	}
	dr_blockdev_free(bd);
	return 0;
}
