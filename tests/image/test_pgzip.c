/*
 * Parallel gzip (image/pgzip.c): one standard gzip member whose bytes do not
 * depend on the thread count, read back by zlib here and by gzip(1) and
 * Python's gzip module as independent readers.
 */
#include "testutil.h"
#include "img_internal.h"

#include <zlib.h>

struct sink {
	struct ut_buf b;
};

static int to_sink(void *ctx, const void *p, size_t n, struct ut_err *err)
{
	return ut_buf_add(&((struct sink *)ctx)->b, p, n, err);
}

/* Mixed data: text-like runs, zeros, and incompressible bytes. */
static unsigned char *make_data(size_t len)
{
	unsigned char *d = malloc(len ? len : 1);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if ((i >> 16) % 3 == 0)
			d[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
		else if ((i >> 16) % 3 == 1)
			d[i] = 0;
		else
			d[i] = (unsigned char)x;
	}
	return d;
}

/* fast: ISA-L instead of libdeflate; memo 0: compress every zero block. */
static void pgz_memo(const unsigned char *d, size_t len, int level, int fast, int threads,
		     size_t step, int memo, struct ut_buf *out)
{
	struct img_pgzip *g = NULL;
	struct sink s;
	struct ut_err err = { { 0 } };
	size_t off = 0;

	ut_buf_init(&s.b, 0);
	assert_int_equal(img_pgzip_new(level, fast, threads, to_sink, &s, &g, &err), 0);
	img_pgzip_set_zero_memo(g, memo);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		assert_int_equal(img_pgzip_write(g, d + off, n, &err), 0);
		off += n;
	}
	assert_int_equal(img_pgzip_finish(g, &err), 0);
	img_pgzip_free(g);
	*out = s.b;
}

static void pgz(const unsigned char *d, size_t len, int level, int fast, int threads, size_t step,
		struct ut_buf *out)
{
	pgz_memo(d, len, level, fast, threads, step, 1, out);
}

static void inflate_check(const struct ut_buf *gz, const unsigned char *d, size_t len)
{
	unsigned char *back = malloc(len + 1);
	z_stream zs;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
	zs.next_in = gz->data;
	zs.avail_in = (uInt)gz->len;
	zs.next_out = back;
	zs.avail_out = (uInt)len + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, len);
	assert_int_equal(zs.avail_in, 0); /* one member, nothing after it */
	assert_memory_equal(back, d, len);
	inflateEnd(&zs);
	free(back);
}

static void test_threads_do_not_change_bytes(void **state)
{
	static const size_t sizes[] = { 0, 1, 1u << 20, (1u << 20) + 1, 3 * (1u << 20) + 12345 };
	static const struct {
		int level, fast;
	} engines[] = { { 1, 0 }, { 3, 0 }, { 6, 0 }, { 9, 0 }, { 1, 1 }, { 3, 1 } };
	size_t si, li;

	(void)state;
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		unsigned char *d = make_data(sizes[si]);

		for (li = 0; li < sizeof(engines) / sizeof(engines[0]); li++) {
			int level = engines[li].level, fast = engines[li].fast;
			struct ut_buf one, two, eight;

			pgz(d, sizes[si], level, fast, 1, 65536, &one);
			pgz(d, sizes[si], level, fast, 2, 4097, &two);
			pgz(d, sizes[si], level, fast, 8, 1u << 22, &eight);
			assert_int_equal(one.len, two.len);
			assert_int_equal(one.len, eight.len);
			assert_memory_equal(one.data, two.data, one.len);
			assert_memory_equal(one.data, eight.data, one.len);
			inflate_check(&one, d, sizes[si]);
			ut_buf_release(&one);
			ut_buf_release(&two);
			ut_buf_release(&eight);
		}
		free(d);
	}
}

/*
 * libdeflate ends each block's stream as a final block wherever its last
 * bit falls; 16 blocks of varied data end at enough bit offsets that both
 * ways of appending the sync flush (in the last byte's padding, or in one
 * more byte) are taken, and gzip and Python must still read one member.
 */
static void test_other_readers(void **state)
{
	size_t len = 16 * (1u << 20) + 777;
	unsigned char *d = make_data(len);
	char *tmp = tu_tmpdir(), path[4200], *sum;
	struct ut_buf gz;
	unsigned char digest[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX + 1];
	FILE *f;

	(void)state;
	pgz(d, len, 1, 0, 2, 1u << 20, &gz);
	inflate_check(&gz, d, len);
	snprintf(path, sizeof(path), "%s/data.gz", tmp);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(gz.data, 1, gz.len, f), gz.len);
	fclose(f);
	ut_sha256_buf(d, len, digest);
	ut_hex(digest, UT_SHA256_LEN, hex);
	if (tu_have("gzip")) {
		assert_int_equal(tu_sh("gzip -t %s", path), 0);
		sum = tu_sh_out("gzip -dc %s | sha256sum | cut -c1-64", path);
		assert_memory_equal(sum, hex, 64);
		free(sum);
	}
	if (tu_have("python3")) {
		sum = tu_sh_out("python3 -c \"import gzip,hashlib,sys; "
				"print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())\" %s",
				path);
		assert_memory_equal(sum, hex, 64);
		free(sum);
	}
	tu_sh("rm -rf %s", tmp);
	ut_buf_release(&gz);
	free(d);
	free(tmp);
}

/*
 * Full blocks of zeros are compressed once and copied: the stream must be the
 * bytes that compressing each of them gives. Zeros start mid-block, fill
 * whole blocks (the fast engine's first one primed with non-zero bytes, the
 * next with zeros), stop short of a block, and end the stream.
 */
static void test_zero_memo_same_bytes(void **state)
{
	const size_t mib = 1u << 20, len = 9 * mib + 4321;
	unsigned char *d = calloc(1, len);
	static const struct {
		int level, fast;
	} engines[] = { { 1, 0 }, { 6, 0 }, { 1, 1 }, { 3, 1 } };
	size_t i, li;

	(void)state;
	for (i = 0; i < mib + 300; i++)
		d[i] = "zero blocks are compressed once "[i % 32];
	for (i = 5 * mib + 7; i < 5 * mib + 70000; i++)
		d[i] = (unsigned char)(i * 2654435761u >> 13);
	for (li = 0; li < sizeof(engines) / sizeof(engines[0]); li++) {
		struct ut_buf memo1, memo2, plain;

		pgz_memo(d, len, engines[li].level, engines[li].fast, 1, 65536, 1, &memo1);
		pgz_memo(d, len, engines[li].level, engines[li].fast, 2, 3 * mib, 1, &memo2);
		pgz_memo(d, len, engines[li].level, engines[li].fast, 2, 65536, 0, &plain);
		assert_int_equal(memo1.len, plain.len);
		assert_memory_equal(memo1.data, plain.data, plain.len);
		assert_int_equal(memo2.len, plain.len);
		assert_memory_equal(memo2.data, plain.data, plain.len);
		inflate_check(&memo1, d, len);
		ut_buf_release(&memo1);
		ut_buf_release(&memo2);
		ut_buf_release(&plain);
	}
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_memo_same_bytes),
		cmocka_unit_test(test_threads_do_not_change_bytes),
		cmocka_unit_test(test_other_readers),
	};
	return cmocka_run_group_tests_name("parallel gzip", tests, NULL, NULL);
}
