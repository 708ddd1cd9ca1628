/*
 * bd_check.c - what the block device tests share: a scratch directory with
 * a patterned base image, shell and file helpers, and the checks against
 * qemu-img (byte for byte, qemu-img map, errors, random corruption).
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdint.h>

#include "diskread.h"
#include "bd_check.h"

char *tmp;
char *base;

uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so failures replay */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

char *tpath(const char *name)
{
	char *p = malloc(strlen(tmp) + strlen(name) + 2);

	sprintf(p, "%s/%s", tmp, name);
	return p;
}

void sh_ok(const char *fmt, const char *a, const char *b, const char *c)
{
	int rc = tu_sh(fmt, a, b, c);

	if (rc != 0)
		fail_msg("command failed (%d): %s", rc, fmt);
}

unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);
	size_t got = 0;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size ? st.st_size : 1);
	assert_non_null(buf);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		assert_true(n > 0);
		got += n;
	}
	close(fd);
	*len = got;
	return buf;
}

void spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Writes len bytes of value at off of an existing file. */
void patch(const char *path, uint64_t off, const void *val, size_t len)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, val, len, off), (ssize_t)len);
	close(fd);
}

void patch_be32(const char *path, uint64_t off, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	patch(path, off, b, 4);
}

void patch_be64(const char *path, uint64_t off, uint64_t v)
{
	patch_be32(path, off, v >> 32);
	patch_be32(path, off + 4, (uint32_t)v);
}

void read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

uint64_t read_be64(const char *path, uint64_t off)
{
	unsigned char b[8];
	uint64_t v = 0;
	int i;

	read_at(path, off, b, sizeof(b));
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* compare_with_qemu, with qemu told the format (NULL: it probes). */
static void compare_as(const char *img, const char *format, const char *qemu_format)
{
	static const size_t chunks[] = { 4096, 65537, 1 * MiB, 3 * MiB + 511, 131072 - 7,
					 512, 1, 2 * MiB + 12345, 333 };
	char *ref = tpath("ref.raw");
	struct dr_blockdev *bd = NULL;
	struct ut_err err = { "" };
	unsigned char *want, *got;
	size_t want_len, i;
	uint64_t off;

	if (tu_sh("qemu-img convert %s%s -O raw '%s' '%s'", qemu_format ? "-f " : "",
		  qemu_format ? qemu_format : "", img, ref) != 0)
		fail_msg("qemu-img convert of %s failed", img);
	want = slurp(ref, &want_len);
	if (dr_blockdev_open(img, format, &bd, &err) < 0)
		fail_msg("open %s: %s", img, err.msg);
	assert_int_equal(dr_blockdev_size(bd), want_len);
	got = malloc(4 * MiB);
	for (off = 0, i = 0; off < dr_blockdev_size(bd); i++) {
		size_t n = chunks[i % (sizeof(chunks) / sizeof(chunks[0]))];

		if (n > dr_blockdev_size(bd) - off)
			n = dr_blockdev_size(bd) - off;
		if (dr_blockdev_pread(bd, got, n, off, &err) < 0)
			fail_msg("read %s at %llu+%zu: %s", img, (unsigned long long)off, n, err.msg);
		if (memcmp(got, want + off, n))
			fail_msg("%s differs from qemu-img in [%llu, +%zu)", img,
				 (unsigned long long)off, n);
		off += n;
	}
	for (i = 0; i < 300; i++) {
		size_t n = 1 + rng() % (300 * 1024);

		off = rng() % dr_blockdev_size(bd);
		if (n > dr_blockdev_size(bd) - off)
			n = dr_blockdev_size(bd) - off;
		if (dr_blockdev_pread(bd, got, n, off, &err) < 0)
			fail_msg("read %s at %llu+%zu: %s", img, (unsigned long long)off, n, err.msg);
		if (memcmp(got, want + off, n))
			fail_msg("%s differs from qemu-img in [%llu, +%zu)", img,
				 (unsigned long long)off, n);
	}
	/* Past the end: a clear error, not a short read. */
	assert_int_equal(dr_blockdev_pread(bd, got, 2, dr_blockdev_size(bd) - 1, &err), -1);
	assert_non_null(strstr(err.msg, "beyond the end"));
	assert_true(dr_blockdev_bytes_read(bd) > 0);
	dr_blockdev_free(bd);
	free(got);
	free(want);
	unlink(ref);
	free(ref);
}

void compare_with_qemu(const char *img, const char *format)
{
	compare_as(img, format, format);
}

/* Converts the base image with qemu-img options and compares. */
void convert_and_compare(const char *name, const char *opts, const char *fmt)
{
	char *img = tpath(name);
	struct dr_blockdev *bd;
	struct ut_err err;

	if (tu_sh("qemu-img convert %s '%s' '%s'", opts, base, img) != 0)
		fail_msg("qemu-img convert %s failed", opts);
	/* qemu reads it as the format it wrote; we probe. */
	compare_as(img, NULL, fmt);
	/* The probe must have found the format qemu-img wrote. */
	assert_int_equal(dr_blockdev_open(img, NULL, &bd, &err), 0);
	assert_string_equal(dr_blockdev_format(bd), fmt);
	dr_blockdev_free(bd);
	unlink(img);
	free(img);
}

/* Expects opening (and then reading all of) img to fail with an error that
 * names want_file and contains reason. */
void expect_error(const char *img, const char *format, const char *want_file,
			 const char *reason)
{
	struct dr_blockdev *bd = NULL;
	struct ut_err err = { "" };
	int rc = dr_blockdev_open(img, format, &bd, &err);

	if (rc == 0) {
		unsigned char *buf = malloc(MiB);
		uint64_t off;

		for (off = 0; off < dr_blockdev_size(bd) && rc == 0; off += MiB) {
			size_t n = dr_blockdev_size(bd) - off < MiB ? dr_blockdev_size(bd) - off : MiB;

			rc = dr_blockdev_pread(bd, buf, n, off, &err);
		}
		free(buf);
		dr_blockdev_free(bd);
	}
	if (rc == 0)
		fail_msg("%s: expected an error containing '%s', got none", img, reason);
	if (!strstr(err.msg, want_file) || !strstr(err.msg, reason))
		fail_msg("%s: error '%s' lacks '%s' or '%s'", img, err.msg, want_file, reason);
	assert_null(strchr(err.msg, '\n'));
}

/* Writes a 64-bit little-endian value into a file. */
void patch_le64(const char *path, uint64_t off, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = v >> (8 * i);
	patch(path, off, b, 8);
}

/* Parses one field of a qemu-img map JSON line. */
static long long json_num(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(line, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

static int json_true(const char *line, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\": true", key);
	return strstr(line, pat) != NULL;
}

/* Every byte's state from dr_blockdev_block_status agrees with qemu-img map:
 * depth 0 with data = allocated here, depth >= 1 = from the backing chain,
 * depth 0 without data = zeros of this layer. */
void compare_map(const char *img)
{
	char *map = tu_sh_out("qemu-img map --output=json '%s'", img);
	struct dr_blockdev *bd;
	struct ut_err err;
	char *line, *save = NULL;
	int entries = 0, here = 0, back = 0;

	assert_int_equal(dr_blockdev_open(img, NULL, &bd, &err), 0);
	for (line = strtok_r(map, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long start = json_num(line, "start"), length = json_num(line, "length");
		long long depth = json_num(line, "depth");
		int want_alloc = depth == 0 && json_true(line, "data");
		int want_back = depth >= 1;
		uint64_t pos = start;

		if (start < 0 || length <= 0)
			continue;
		entries++;
		here += want_alloc;
		back += want_back;
		while (pos < (uint64_t)(start + length)) {
			uint64_t pnum;
			int alloc, inb;

			if (dr_blockdev_block_status(bd, pos, start + length - pos, &pnum, &alloc,
						     &inb, &err) < 0)
				fail_msg("block_status %s at %llu: %s", img,
					 (unsigned long long)pos, err.msg);
			if (alloc != want_alloc || inb != want_back)
				fail_msg("%s at %llu: allocated %d in_backing %d, qemu-img map: %s",
					 img, (unsigned long long)pos, alloc, inb, line);
			pos += pnum;
		}
	}
	assert_true(entries > 0);
	assert_true(here > 0);
	assert_true(back > 0);
	dr_blockdev_free(bd);
	free(map);
}

/*
 * Flips random bytes in the first 64 KiB of small images and reads each
 * result whole: errors are fine, crashes and sanitizer reports are not.
 */
void corrupt_loop(const char *src, const char *dst, int iterations)
{
	corrupt_span(src, dst, iterations, 0, 65536);
}

void corrupt_span(const char *src, const char *dst, int iterations, uint64_t at, size_t span)
{
	size_t len, i;
	unsigned char *orig = slurp(src, &len), *copy = malloc(len);
	unsigned char *buf = malloc(MiB);
	int it, opened = 0, failed = 0;

	for (it = 0; it < iterations; it++) {
		struct dr_blockdev *bd;
		struct ut_err err;
		size_t n_span = at >= len ? 0 : len - at < span ? len - at : span;
		int flips = 1 + rng() % 8;
		uint64_t off, end;

		memcpy(copy, orig, len);
		/* Half the flips hit the header, where most checks are. */
		for (i = 0; i < (size_t)flips && n_span; i++)
			copy[at + rng() % (i & 1 || n_span < 512 ? n_span : 512)] ^= 1 + rng() % 255;
		spit(dst, copy, len);
		if (dr_blockdev_open(dst, NULL, &bd, &err) < 0) {
			failed++;
			assert_non_null(strstr(err.msg, "vm2oci-test"));
			continue;
		}
		opened++;
		/* An absurd virtual size is legal: read at most 16 MiB of it. */
		end = dr_blockdev_size(bd) < 16 * MiB ? dr_blockdev_size(bd) : 16 * MiB;
		for (off = 0; off < end; off += MiB) {
			size_t n = end - off < MiB ? end - off : MiB;
			uint64_t pnum;
			int a, b;

			if (dr_blockdev_pread(bd, buf, n, off, &err) < 0)
				break;
			if (dr_blockdev_block_status(bd, off, n, &pnum, &a, &b, &err) < 0)
				break;
		}
		dr_blockdev_free(bd);
	}
	print_message("%s: %d opened, %d refused\n", src, opened, failed);
	free(orig);
	free(copy);
	free(buf);
}

int bd_group_setup(void **state)
{
	if (!tu_have("qemu-img") || !tu_have("qemu-io"))
		tu_skip("qemu-img and qemu-io (qemu-utils) are needed");
	tmp = tu_tmpdir();
	base = tpath("base.raw");
	/*
	 * 64 MiB: random (incompressible) data and base64 text (compressible,
	 * so -c really makes compressed clusters) at odd offsets, explicit
	 * zeros, and holes, so every cluster kind shows up in conversions.
	 */
	if (tu_sh("cd '%s' && truncate -s 64M base.raw && "
		  "w() { dd of=base.raw bs=64K seek=$1 oflag=seek_bytes conv=notrunc status=none; } && "
		  "head -c 1049000 /dev/urandom | w 0 && "
		  "head -c 3000000 /dev/urandom | base64 | w 5243000 && "
		  "head -c 204800 /dev/urandom | w 20975615 && "
		  "head -c 1000000 /dev/zero | w 25000000 && "
		  "head -c 10485767 /dev/urandom | base64 | head -c 10485767 | w 41943039 && "
		  "head -c 900000 /dev/urandom | w 66000000", tmp) != 0)
		fail_msg("cannot make the base image");
	return 0;
}

int bd_group_teardown(void **state)
{
	if (tmp && !getenv("VM2OCI_KEEP_TMP"))
		tu_sh("rm -rf '%s'", tmp);
	free(base);
	free(tmp);
	return 0;
}

void bd_sha256(struct dr_blockdev *bd, char *hex)
{
	struct ut_sha256 h;
	unsigned char d[UT_SHA256_LEN], *buf = malloc(4 * MiB);
	struct ut_err err;
	uint64_t off;

	assert_int_equal(ut_sha256_init(&h), 0);
	for (off = 0; off < dr_blockdev_size(bd); off += 4 * MiB) {
		size_t n = dr_blockdev_size(bd) - off < 4 * MiB ? dr_blockdev_size(bd) - off : 4 * MiB;

		if (dr_blockdev_pread(bd, buf, n, off, &err) < 0)
			fail_msg("read %s at %llu: %s", dr_blockdev_path(bd), (unsigned long long)off, err.msg);
		ut_sha256_update(&h, buf, n);
	}
	ut_sha256_final(&h, d);
	ut_sha256_release(&h);
	ut_hex(d, sizeof(d), hex);
	free(buf);
}

char *small_image(const char *name, const char *opts, uint64_t bytes)
{
	char *img = tpath(name);

	if (tu_sh("cd '%s' && head -c %llu base.raw > small.raw && "
		  "qemu-img convert %s small.raw '%s'", tmp, (unsigned long long)bytes, opts,
		  name) != 0)
		fail_msg("cannot make %s", name);
	return img;
}
