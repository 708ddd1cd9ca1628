/*
 * bd_check.h - helpers of the block device tests (test_blockdev,
 * test_formats): images made by qemu-img from a patterned raw base, read
 * back through dr_blockdev and compared with qemu-img's own reading.
 */
#ifndef VM2OCI_BD_CHECK_H
#define VM2OCI_BD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define MiB (1024ULL * 1024)

extern char *tmp;  /* the test's directory */
extern char *base; /* the base raw image the group setup made there */

/* cmocka group setup and teardown: tmp, and base (64 MiB: random data,
 * base64 text, explicit zeros and holes at odd offsets). Skips without
 * qemu-img and qemu-io. */
int bd_group_setup(void **state);
int bd_group_teardown(void **state);

/* xorshift64*, fixed seed: failures replay. */
uint64_t rng(void);
/* tmp/name, malloc'd. */
char *tpath(const char *name);
/* tu_sh with up to three string arguments; fails the test on non-zero. */
void sh_ok(const char *fmt, const char *a, const char *b, const char *c);
unsigned char *slurp(const char *path, size_t *len);
void spit(const char *path, const void *buf, size_t len);
/* Overwrites bytes of an existing file. */
void patch(const char *path, uint64_t off, const void *val, size_t len);
void patch_be32(const char *path, uint64_t off, uint32_t v);
void patch_be64(const char *path, uint64_t off, uint64_t v);
void patch_le64(const char *path, uint64_t off, uint64_t v);
/* Reads exactly len bytes at off of a file. */
void read_at(const char *path, uint64_t off, void *buf, size_t len);
uint64_t read_be64(const char *path, uint64_t off);

/*
 * Reads the whole of img through dr_blockdev (format NULL: probed),
 * sequentially in chunks of varying sizes and then at random offsets, and
 * compares it with `qemu-img convert -O raw` of it (qemu given the same
 * format, or probing).
 */
void compare_with_qemu(const char *img, const char *format);
/* Converts base with qemu-img options into tmp/name, compares (qemu told
 * fmt, ours probed) and checks that the probe names fmt. */
void convert_and_compare(const char *name, const char *opts, const char *fmt);
/* Opening (then reading all of) img must fail with one line naming
 * want_file and containing reason. */
void expect_error(const char *img, const char *format, const char *want_file,
		  const char *reason);
/* block_status of every byte agrees with `qemu-img map --output=json`;
 * img must have data here, data in its backing chain, and more. */
void compare_map(const char *img);
/* Flips random bytes in the first 64 KiB of src into dst and reads each
 * result: errors are fine, crashes and sanitizer reports are not. */
void corrupt_loop(const char *src, const char *dst, int iterations);
/* The same with the flips in [at, at + span) (half in its first 512). */
void corrupt_span(const char *src, const char *dst, int iterations, uint64_t at, size_t span);

/* tmp/name: the first bytes of base converted with qemu-img options. */
char *small_image(const char *name, const char *opts, uint64_t bytes);

struct dr_blockdev;
/* The SHA-256 of all of bd's bytes, as hex (UT_SHA256_HEX bytes). */
void bd_sha256(struct dr_blockdev *bd, char *hex);

#endif
