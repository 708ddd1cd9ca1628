/*
 * test_blockdiff.c - changed extents, their mapping to files, and delta
 * sizes, on inputs made by the real tools: qemu-img/qemu-io overlays (with
 * `qemu-img map` as the oracle), raw copies patched with dd at known blocks,
 * ext4 images from mke2fs -d whose file blocks debugfs locates, xxhsum for
 * the hash, the zstd CLI's --patch-from for delta sizes and rdiff
 * (signature, then delta) for the rsync-style delta sizes, byte for byte.
 */
#include "blockdiff.h"
#include "fsdiff.h"
#include "testutil.h"

#include <jansson.h>
#include <stdint.h>

#define MIB (1024ull * 1024)

struct fx {
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tu_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tu_sh("rm -rf '%s'", f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Skips the case (not the binary) when a tool is missing, saying which. */
#define need(prog)                                                            \
	do {                                                                  \
		if (!tu_have(prog)) {                                         \
			fprintf(stderr, "SKIP: %s is not installed\n", prog); \
			skip();                                               \
		}                                                             \
	} while (0)

static struct dr_blockdev *open_bd(const char *dir, const char *name)
{
	struct dr_blockdev *bd = NULL;
	struct ut_err err = { { 0 } };
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (dr_blockdev_open(path, NULL, &bd, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return bd;
}

static void assert_ranges(const struct bd_extents *x, const struct bd_range *want, size_t n)
{
	size_t i;

	for (i = 0; i < x->n && i < n; i++)
		if (x->v[i].off != want[i].off || x->v[i].len != want[i].len)
			fail_msg("range %zu: got %llu+%llu, want %llu+%llu", i,
				 (unsigned long long)x->v[i].off, (unsigned long long)x->v[i].len,
				 (unsigned long long)want[i].off, (unsigned long long)want[i].len);
	assert_int_equal(x->n, n);
}

/* ---- XXH64 -------------------------------------------------------------- */

static void test_hash64(void **state)
{
	struct fx *f = *state;
	static const char nobody[] = "Nobody inspects the spammish repetition";
	size_t lens[] = { 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 100, 4096, 65537 };
	size_t i;

	/* Published values of the reference implementation. */
	assert_true(bd_hash64("", 0) == 0xEF46DB3751D8E999ULL);
	assert_true(bd_hash64("a", 1) == 0xD24EC4F1A98C6E5BULL);
	assert_true(bd_hash64("abc", 3) == 0x44BC2CF5AD770999ULL);
	assert_true(bd_hash64(nobody, strlen(nobody)) == 0xFBCEA83C8A378BF1ULL);
	if (!tu_have("xxhsum"))
		tu_skip_case("xxhsum (xxhash) is not installed: the oracle half of this case did not run");
	/* Every tail path (32-byte stripes, 8, 4 and single bytes) against
	 * xxhsum on random data. */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct ut_buf b;
		struct ut_err err;
		char path[4096], *out;
		unsigned long long want;

		snprintf(path, sizeof(path), "%s/r%zu", f->dir, lens[i]);
		assert_int_equal(tu_sh("head -c %zu /dev/urandom > '%s'", lens[i], path), 0);
		out = tu_sh_out("xxhsum -H1 '%s'", path);
		assert_int_equal(sscanf(out, "%16llx", &want), 1);
		free(out);
		ut_buf_init(&b, 0);
		assert_int_equal(ut_read_host_file(path, &b, &err), 0);
		assert_int_equal(b.len, lens[i]);
		assert_true(bd_hash64(b.data, b.len) == want);
		ut_buf_release(&b);
	}
}

/* ---- lineage ------------------------------------------------------------ */

/* The depth-0..depth-1 ranges `qemu-img map` reports for top, merged. */
static void qemu_map_ranges(const char *top, int depth, struct bd_extents *x)
{
	char *out = tu_sh_out("qemu-img map --output=json '%s'", top);
	json_error_t je;
	json_t *arr = json_loads(out, 0, &je), *it;
	size_t i;

	if (!arr)
		fail_msg("qemu-img map: %s", je.text);
	bd_extents_init(x);
	json_array_foreach(arr, i, it) {
		json_int_t start = json_integer_value(json_object_get(it, "start"));
		json_int_t len = json_integer_value(json_object_get(it, "length"));
		json_int_t d = json_integer_value(json_object_get(it, "depth"));

		if (d < depth)
			bd_extents_add(x, (uint64_t)start, (uint64_t)len);
	}
	json_decref(arr);
	free(out);
}

static void test_lineage(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct dr_blockdev *top, *base;
	struct bd_extents x, q, r;
	char path[4096];
	int depth = -1;
	/* qemu-io writes below; qcow2 clusters are 64 KiB. */
	static const struct bd_range want[] = {
		{ 0, 65536 },                 /* 512 B at 4096 */
		{ 10 * MIB, 4 * 65536 },      /* 200 KiB at 10 MiB: clusters 160-163 */
		{ 20 * MIB, 65536 },          /* write -z: a zero cluster */
		{ 63 * MIB, 65536 },          /* 4 KiB at 63 MiB */
	};
	static const struct bd_range want_refined[] = {
		{ 4096, 4096 },
		{ 10 * MIB, 204800 },
		/* the zero cluster hides zeros: nothing differs */
		{ 63 * MIB, 4096 },
	};

	need("qemu-img");
	need("qemu-io");
	assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 64M && "
			       "qemu-io -c 'write -P 0x11 0 1M' -c 'write -P 0x12 63M 1M' base.qcow2 >/dev/null && "
			       "qemu-img create -q -f qcow2 -F qcow2 -b base.qcow2 top.qcow2 && "
			       "qemu-io -c 'write -P 0x22 4096 512' -c 'write -P 0x33 10M 200k' "
			       "-c 'write -z 20M 64k' -c 'write -P 0x44 63M 4k' top.qcow2 >/dev/null",
			       f->dir), 0);
	top = open_bd(f->dir, "top.qcow2");
	base = open_bd(f->dir, "base.qcow2");
	snprintf(path, sizeof(path), "%s/./base.qcow2", f->dir);
	assert_int_equal(bd_lineage_find(top, path, &depth, &err), 1);
	assert_int_equal(depth, 1);
	snprintf(path, sizeof(path), "%s/top.qcow2", f->dir);
	assert_int_equal(bd_lineage_find(top, path, &depth, &err), 0);

	assert_int_equal(bd_extents_lineage(top, 1, &x, &err), 0);
	assert_int_equal(x.method, BD_LINEAGE);
	assert_ranges(&x, want, 4);
	assert_int_equal(x.bytes, 7 * 65536);
	/* The oracle: qemu's own view of the top layer. */
	snprintf(path, sizeof(path), "%s/top.qcow2", f->dir);
	qemu_map_ranges(path, 1, &q);
	assert_ranges(&x, q.v, q.n);

	/* Refined to the 4 KiB blocks whose bytes differ from the base. */
	assert_int_equal(bd_extents_refine(&x, base, top, 4096, &r, &err), 0);
	assert_ranges(&r, want_refined, 3);
	bd_extents_release(&r);
	bd_extents_release(&q);
	bd_extents_release(&x);
	dr_blockdev_free(top);

	/* A chain of three: what the middle layer wrote counts too. */
	assert_int_equal(tu_sh("cd '%s' && qemu-img create -q -f qcow2 -F qcow2 -b base.qcow2 mid.qcow2 && "
			       "qemu-io -c 'write -P 0x55 30M 64k' mid.qcow2 >/dev/null && "
			       "qemu-img create -q -f qcow2 -F qcow2 -b mid.qcow2 top2.qcow2 && "
			       "qemu-io -c 'write -P 0x66 40M 128k' top2.qcow2 >/dev/null", f->dir), 0);
	top = open_bd(f->dir, "top2.qcow2");
	snprintf(path, sizeof(path), "%s/base.qcow2", f->dir);
	assert_int_equal(bd_lineage_find(top, path, &depth, &err), 1);
	assert_int_equal(depth, 2);
	assert_int_equal(bd_extents_lineage(top, depth, &x, &err), 0);
	{
		static const struct bd_range w2[] = { { 30 * MIB, 65536 }, { 40 * MIB, 131072 } };

		assert_ranges(&x, w2, 2);
	}
	snprintf(path, sizeof(path), "%s/top2.qcow2", f->dir);
	qemu_map_ranges(path, 2, &q);
	assert_ranges(&x, q.v, q.n);
	bd_extents_release(&q);
	bd_extents_release(&x);
	dr_blockdev_free(top);
	dr_blockdev_free(base);
}

/* ---- hashes ------------------------------------------------------------- */

static void test_hashes(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct dr_blockdev *a, *b;
	struct bd_extents x;
	static const struct bd_range want[] = {
		{ 3 * 4096, 4096 },
		{ 100 * 4096, 2 * 4096 },
		{ 8 * MIB - 4096, 4096 },
	};
	static const struct bd_range want512[] = {
		{ 3 * 4096 + 1024, 512 },
	};

	/* Two raw copies; dd rewrites blocks 3, 100-101 and the last. */
	assert_int_equal(tu_sh("cd '%s' && head -c 8M /dev/urandom > a.raw && cp a.raw b.raw && "
			       "cp a.raw c.raw && "
			       "dd if=/dev/urandom of=b.raw bs=4096 seek=3 count=1 conv=notrunc status=none && "
			       "dd if=/dev/urandom of=b.raw bs=4096 seek=100 count=2 conv=notrunc status=none && "
			       "dd if=/dev/urandom of=b.raw bs=4096 seek=2047 count=1 conv=notrunc status=none && "
			       "printf x | dd of=c.raw bs=1 seek=%d conv=notrunc status=none",
			       f->dir, 3 * 4096 + 1024 + 7), 0);
	a = open_bd(f->dir, "a.raw");
	b = open_bd(f->dir, "b.raw");
	assert_int_equal(bd_extents_hashes(a, b, 4096, NULL, &x, &err), 0);
	assert_int_equal(x.method, BD_HASHES);
	assert_ranges(&x, want, 3);
	assert_int_equal(x.bytes, 4 * 4096);
	bd_extents_release(&x);
	/* A raw disk is not an overlay of anything. */
	{
		char path[4096];
		int depth;

		snprintf(path, sizeof(path), "%s/a.raw", f->dir);
		assert_int_equal(bd_lineage_find(b, path, &depth, &err), 0);
	}
	dr_blockdev_free(b);

	/* One byte changed, 512-byte blocks: exactly its sector. */
	b = open_bd(f->dir, "c.raw");
	assert_int_equal(bd_extents_hashes(a, b, 512, NULL, &x, &err), 0);
	assert_ranges(&x, want512, 1);
	bd_extents_release(&x);
	dr_blockdev_free(b);

	/* A longer disk: the tail is new. */
	assert_int_equal(tu_sh("cd '%s' && cp a.raw d.raw && truncate -s 9M d.raw", f->dir), 0);
	b = open_bd(f->dir, "d.raw");
	assert_int_equal(bd_extents_hashes(a, b, 4096, NULL, &x, &err), 0);
	assert_int_equal(x.n, 1);
	assert_true(x.v[0].off == 8 * MIB && x.v[0].len == MIB);
	bd_extents_release(&x);
	assert_true(bd_extents_hashes(a, b, 3000, NULL, &x, &err) < 0);
	assert_non_null(strstr(err.msg, "power of two"));
	dr_blockdev_free(b);
	dr_blockdev_free(a);
}

/* ---- mapping ------------------------------------------------------------ */

/* The physical block numbers debugfs gives for a path of an ext image. */
static size_t debugfs_blocks(const char *img, const char *path, unsigned long long *out, size_t max)
{
	char *s = tu_sh_out("debugfs -R 'blocks %s' '%s' 2>/dev/null", path, img), *p = s;
	size_t n = 0;

	while (n < max) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);

		if (end == p)
			break;
		out[n++] = v;
		p = end;
	}
	free(s);
	return n;
}

static unsigned long long debugfs_free_block(const char *img)
{
	char *s = tu_sh_out("debugfs -R 'ffb 1 3000' '%s' 2>/dev/null", img);
	unsigned long long v = 0;
	char *p = strstr(s, "found:");

	if (p)
		v = strtoull(p + 6, NULL, 10);
	free(s);
	return v;
}

static void map_case(const char *dir, const char *base_name, const char *vm_name,
		     uint64_t part_off, int patched_outside)
{
	struct ut_err err = { { 0 } };
	struct dr_blockdev *a, *b;
	struct dr_disk *d = NULL;
	struct ut_tree *t = NULL;
	struct bd_extents x;
	struct bd_map m;
	char path[4096];

	a = open_bd(dir, base_name);
	b = open_bd(dir, vm_name);
	assert_int_equal(bd_extents_hashes(a, b, 4096, NULL, &x, &err), 0);
	assert_int_equal(x.n, 2 + patched_outside);
	dr_blockdev_free(a);
	dr_blockdev_free(b);
	snprintf(path, sizeof(path), "%s/%s", dir, vm_name);
	if (dr_disk_open(path, NULL, &d, &err) < 0 || dr_disk_tree(d, 0, &t, &err) < 0)
		fail_msg("%s", err.msg);
	{
		uint64_t off = 99;

		assert_non_null(dr_disk_mount_fs(d, 0, &off, NULL));
		assert_true(off == part_off);
		assert_null(dr_disk_mount_fs(d, 5, NULL, NULL));
	}
	assert_int_equal(bd_map_files(d, t, &x, &m, &err), 0);
	/* c.bin and c-link.bin are one inode: counted once, under the first
	 * path in strcmp order. */
	assert_int_equal(m.nfiles, 1);
	assert_string_equal(m.files[0].path, "data/c-link.bin");
	assert_int_equal(m.files[0].changed, 4096);
	assert_int_equal(m.files[0].size, 40960);
	assert_int_equal(m.in_files, 4096);
	assert_int_equal(m.in_metadata, 4096); /* the free block */
	assert_int_equal(m.outside, patched_outside ? 4096 : 0);
	assert_true(m.files_scanned >= 3);
	bd_map_release(&m);
	bd_map_release(NULL);
	bd_extents_release(&x);
	ut_tree_free(t);
	dr_disk_free(d);
}

/* The template's SHA-256 block index: dd-patched blocks of a copy are what
 * it finds, a short last block included; saved and loaded whole, and a
 * truncated or foreign file is refused. */
static void test_hash_index(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct dr_blockdev *a, *b;
	struct bd_hash_set set = { 0 }, back;
	struct bd_extents x;
	char path[4096];
	static const int threads[] = { 0, 1, 2, 8 };
	size_t k;
	static const struct bd_range want[] = {
		{ 5 * 4096, 4096 },
		{ 200 * 4096, 3 * 4096 },
		{ 1024 * 4096, 100 }, /* the short last block */
	};

	assert_int_equal(tu_sh("cd '%s' && head -c %d /dev/urandom > a.raw && cp a.raw b.raw && "
			       "dd if=/dev/urandom of=b.raw bs=4096 seek=5 count=1 conv=notrunc status=none && "
			       "dd if=/dev/urandom of=b.raw bs=4096 seek=200 count=3 conv=notrunc status=none && "
			       "printf y | dd of=b.raw bs=1 seek=%d conv=notrunc status=none",
			       f->dir, 1024 * 4096 + 100, 1024 * 4096 + 50), 0);
	a = open_bd(f->dir, "a.raw");
	b = open_bd(f->dir, "b.raw");
	set.v = calloc(1, sizeof(*set.v));
	set.n = 1;
	assert_int_equal(bd_hash_index_build(a, 4096, dr_blockdev_size(a), 4096, 0, NULL, &set.v[0], &err), 0);
	assert_int_equal(set.v[0].n, 1025);
	for (k = 0; k < sizeof(threads) / sizeof(*threads); k++) {
		bd_extents_init(&x);
		assert_int_equal(bd_hash_index_diff(&set.v[0], b, threads[k], NULL, &x, &err), 0);
		assert_ranges(&x, want, 3);
		bd_extents_release(&x);
	}
	/* Its own bytes: nothing differs. */
	bd_extents_init(&x);
	assert_int_equal(bd_hash_index_diff(&set.v[0], a, 0, NULL, &x, &err), 0);
	assert_int_equal(x.n, 0);
	bd_extents_release(&x);

	snprintf(path, sizeof(path), "%s/index", f->dir);
	assert_int_equal(bd_hash_set_save(&set, path, &err), 0);
	assert_int_equal(bd_hash_set_load(path, &back, &err), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.v[0].off, 4096);
	assert_int_equal(back.v[0].size, set.v[0].size);
	assert_memory_equal(back.v[0].h, set.v[0].h, set.v[0].n * UT_SHA256_LEN);
	bd_hash_set_release(&back);
	assert_int_equal(tu_sh("truncate -s -1 '%s'", path), 0);
	assert_true(bd_hash_set_load(path, &back, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated or corrupt"));
	assert_int_equal(tu_sh("printf 'VM2OCIT2........' > '%s'", path), 0);
	assert_true(bd_hash_set_load(path, &back, &err) < 0);
	assert_non_null(strstr(err.msg, "not a block-hash index"));
	/* Another size is an error, not a guess. */
	dr_blockdev_free(b);
	assert_int_equal(tu_sh("cd '%s' && head -c 8192 a.raw > c.raw", f->dir), 0);
	b = open_bd(f->dir, "c.raw");
	bd_extents_init(&x);
	assert_true(bd_hash_index_diff(&set.v[0], b, 0, NULL, &x, &err) < 0);
	bd_extents_release(&x);
	bd_hash_set_release(&set);
	dr_blockdev_free(a);
	dr_blockdev_free(b);

	/* Zeros an image holds itself (qcow2 clusters never written) are not
	 * read: their digests must be those of the bytes read from a raw copy
	 * written in full. */
	if (tu_have("qemu-img")) {
		struct bd_hash_index ri, qi;

		assert_int_equal(tu_sh("cd '%s' && rm -f s.raw && truncate -s 9M s.raw && "
				       "head -c 5000 /dev/urandom | dd of=s.raw bs=1 seek=%d conv=notrunc status=none && "
				       "qemu-img convert -f raw -O qcow2 s.raw s.qcow2 && "
				       "cp s.raw full.raw && dd if=/dev/zero of=full.raw bs=1M count=9 conv=notrunc status=none",
				       f->dir, 6 * 1024 * 1024 + 10), 0);
		a = open_bd(f->dir, "s.raw");
		b = open_bd(f->dir, "s.qcow2");
		assert_int_equal(bd_hash_index_build(a, 0, dr_blockdev_size(a), 4096, 0, NULL, &ri, &err), 0);
		assert_int_equal(bd_hash_index_build(b, 0, dr_blockdev_size(b), 4096, 0, NULL, &qi, &err), 0);
		assert_int_equal(ri.n, qi.n);
		assert_memory_equal(ri.h, qi.h, ri.n * UT_SHA256_LEN);
		bd_extents_init(&x);
		assert_int_equal(bd_hash_index_diff(&qi, a, 0, NULL, &x, &err), 0);
		assert_int_equal(x.n, 0);
		bd_extents_release(&x);
		dr_blockdev_free(a);
		/* All zeros, written out: only the 5000 bytes' blocks differ. */
		a = open_bd(f->dir, "full.raw");
		bd_extents_init(&x);
		assert_int_equal(bd_hash_index_diff(&qi, a, 0, NULL, &x, &err), 0);
		assert_int_equal(x.bytes, 2 * 4096);
		bd_extents_release(&x);
		bd_hash_index_release(&ri);
		bd_hash_index_release(&qi);
		dr_blockdev_free(a);
		dr_blockdev_free(b);
	}
}

/* The index of the template fixture and the clone's changed set against it
 * are the same bytes whatever the hashing threads; the changed blocks lie
 * within the ranges the clone's overlay holds (its lineage, the oracle
 * tested above against qemu-img map) and cover its 30 MiB added file. */
static void test_hash_threads(void **state)
{
	static const int threads[] = { 1, 2, 8 };
	const char *dir = getenv("VM2OCI_FIXTURES");
	struct ut_err err = { { 0 } };
	struct bd_hash_index ix[3];
	struct bd_extents changed[3], lin;
	struct dr_blockdev *t, *c;
	size_t k, i, j;

	(void)state;
	if (!dir || !*dir) {
		fprintf(stderr, "SKIP: VM2OCI_FIXTURES is not set\n");
		skip();
	}
	t = open_bd(dir, "template.qcow2");
	c = open_bd(dir, "clone.qcow2");
	for (k = 0; k < 3; k++) {
		assert_int_equal(bd_hash_index_build(t, 0, dr_blockdev_size(t), 4096, threads[k], NULL,
						     &ix[k], &err), 0);
		bd_extents_init(&changed[k]);
		assert_int_equal(bd_hash_index_diff(&ix[k], c, threads[k], NULL, &changed[k], &err),
				 0);
		assert_int_equal(ix[k].n, ix[0].n);
		assert_memory_equal(ix[k].h, ix[0].h, ix[0].n * UT_SHA256_LEN);
		assert_int_equal(changed[k].n, changed[0].n);
		assert_memory_equal(changed[k].v, changed[0].v, changed[0].n * sizeof(*changed[0].v));
		assert_int_equal(changed[k].bytes, changed[0].bytes);
	}
	assert_true(changed[0].bytes >= 31457280);
	bd_extents_init(&lin);
	assert_int_equal(bd_extents_lineage(c, 1, &lin, &err), 0);
	for (i = 0, j = 0; i < changed[0].n; i++) {
		const struct bd_range *r = &changed[0].v[i];

		while (j < lin.n && lin.v[j].off + lin.v[j].len <= r->off)
			j++;
		if (j == lin.n || r->off < lin.v[j].off || r->off + r->len > lin.v[j].off + lin.v[j].len)
			fail_msg("changed %llu+%llu is not in the clone's overlay",
				 (unsigned long long)r->off, (unsigned long long)r->len);
	}
	bd_extents_release(&lin);
	for (k = 0; k < 3; k++) {
		bd_hash_index_release(&ix[k]);
		bd_extents_release(&changed[k]);
	}
	dr_blockdev_free(t);
	dr_blockdev_free(c);
}

static void test_mapping(void **state)
{
	struct fx *f = *state;
	unsigned long long blocks[64], freeb;
	char img[4096];
	size_t n;

	need("mke2fs");
	need("debugfs");
	need("sfdisk");
	assert_int_equal(tu_sh("cd '%s' && mkdir -p tree/etc tree/usr tree/data && "
			       "echo ID=test > tree/etc/os-release && "
			       "head -c 65536 /dev/urandom > tree/data/a.bin && "
			       "echo hello > tree/data/b.txt && "
			       "head -c 40960 /dev/urandom > tree/data/c.bin && "
			       "ln tree/data/c.bin tree/data/c-link.bin && "
			       "mke2fs -q -F -t ext4 -b 4096 -d tree base.img 16M >/dev/null && cp base.img vm.img",
			       f->dir), 0);
	snprintf(img, sizeof(img), "%s/base.img", f->dir);
	/* debugfs, not our reader, says where c.bin lives and what is free. */
	n = debugfs_blocks(img, "/data/c.bin", blocks, 64);
	assert_int_equal(n, 10);
	freeb = debugfs_free_block(img);
	assert_true(freeb > 0);
	assert_int_equal(tu_sh("cd '%s' && "
			       "dd if=/dev/urandom of=vm.img bs=4096 seek=%llu count=1 conv=notrunc status=none && "
			       "dd if=/dev/urandom of=vm.img bs=4096 seek=%llu count=1 conv=notrunc status=none",
			       f->dir, blocks[2], freeb), 0);
	map_case(f->dir, "base.img", "vm.img", 0, 0);

	/* The same filesystems in a GPT partition at 1 MiB, and a byte in
	 * the gap before it: offsets shift, the gap is outside. */
	/* One partition table for both (sfdisk makes random GUIDs). */
	assert_int_equal(tu_sh("cd '%s' && truncate -s 20M base-gpt.raw && "
			       "printf 'label: gpt\\nstart=2048, size=32768, type=L\\n' | sfdisk -q base-gpt.raw && "
			       "cp base-gpt.raw vm-gpt.raw && for n in base vm; do "
			       "dd if=$n.img of=$n-gpt.raw bs=1M seek=1 conv=notrunc status=none; done && "
			       "printf x | dd of=vm-gpt.raw bs=1 seek=600000 conv=notrunc status=none",
			       f->dir), 0);
	map_case(f->dir, "base-gpt.raw", "vm-gpt.raw", MIB, 1);
}

/* ---- the block view of a file-level diff -------------------------------- */

/* bd_analyse on two mke2fs -d images, one block of a hardlinked file
 * overwritten with dd: one differing block, in one file (one inode, counted
 * once), which fsdiff calls modified; one delta, much smaller than the file. */
static void test_analyse(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct dr_disk *base = NULL, *vm = NULL;
	struct ut_tree *bt = NULL, *vt = NULL;
	struct fsd_result *diff = NULL;
	struct bd_analysis_options opt = { .force_hashes = 1, .list_deltas = 1 };
	struct bd_analysis a;
	unsigned long long blocks[64];
	char bpath[4096], vpath[4096];

	need("mke2fs");
	need("debugfs");
	assert_int_equal(tu_sh("cd '%s' && mkdir -p tree/etc tree/usr tree/data && "
			       "echo ID=test > tree/etc/os-release && "
			       "head -c 65536 /dev/urandom > tree/data/a.bin && "
			       "head -c 40960 /dev/urandom > tree/data/c.bin && "
			       "ln tree/data/c.bin tree/data/c-link.bin && "
			       "mke2fs -q -F -t ext4 -b 4096 -d tree base.img 16M >/dev/null && cp base.img vm.img",
			       f->dir), 0);
	snprintf(bpath, sizeof(bpath), "%s/base.img", f->dir);
	snprintf(vpath, sizeof(vpath), "%s/vm.img", f->dir);
	assert_int_equal(debugfs_blocks(bpath, "/data/c.bin", blocks, 64), 10);
	assert_int_equal(tu_sh("dd if=/dev/urandom of='%s' bs=4096 seek=%llu count=1 conv=notrunc "
			       "status=none", vpath, blocks[2]), 0);
	if (dr_disk_open(bpath, NULL, &base, &err) < 0 || dr_disk_tree(base, 1, &bt, &err) < 0 ||
	    dr_disk_open(vpath, NULL, &vm, &err) < 0 || dr_disk_tree(vm, 0, &vt, &err) < 0 ||
	    fsd_diff(bt, vt, NULL, &diff, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(bd_analyse(base, bpath, bt, vm, vt, diff, &opt, &a, &err), 0);
	assert_int_equal(a.alloc.method, BD_HASHES);
	assert_int_equal(a.diff.n, 1);
	assert_int_equal(a.diff.bytes, 4096);
	assert_int_equal(a.map.nfiles, 1);
	assert_string_equal(a.map.files[0].path, "data/c-link.bin");
	assert_int_equal(a.files_content, 1);
	assert_int_equal(a.files_other_change + a.files_unchanged, 0);
	assert_int_equal(a.modified, 1); /* c.bin and c-link.bin: one delta */
	assert_int_equal(a.modified_bytes, 40960);
	assert_int_equal(a.skipped, 0);
	assert_true(a.modified_zstd > 40960);      /* random bytes do not shrink */
	assert_true(a.modified_delta < 4096 + 1024); /* only the changed block travels */
	assert_true(a.blocks_zstd > 4096);
	assert_non_null(a.deltas.data);
	assert_non_null(strstr((char *)a.deltas.data, "delta   /data/c"));
	assert_string_equal(bd_file_level(diff, "data/c.bin"), "modified");
	assert_string_equal(bd_file_level(diff, "data/a.bin"), "unchanged content, blocks rewritten");
	bd_analysis_release(&a);
	fsd_result_free(diff);
	ut_tree_free(bt);
	ut_tree_free(vt);
	dr_disk_free(base);
	dr_disk_free(vm);
}

/* ---- deltas ------------------------------------------------------------- */

struct mem_src {
	const unsigned char *data;
	size_t len;
};

struct mem_handle {
	size_t pos;
};

static int mem_open(void *ctx, const struct ut_entry *e, void **h, struct ut_err *err)
{
	*h = calloc(1, sizeof(struct mem_handle));
	return 0;
}

static ssize_t mem_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	struct mem_src *s = ctx;
	struct mem_handle *h = handle;
	size_t n = s->len - h->pos < len ? s->len - h->pos : len;

	/* Odd sizes on purpose, to cross zstd's block boundaries. */
	if (n > 300000)
		n = 300000;
	memcpy(buf, s->data + h->pos, n);
	h->pos += n;
	return (ssize_t)n;
}

static void mem_close(void *ctx, void *handle)
{
	free(handle);
}

static const struct ut_content_ops mem_ops = { mem_open, mem_read, mem_close };

static void test_delta(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct ut_buf base, vm;
	struct bd_delta d, d2;
	char path[4096];
	const size_t size = 4 * MIB;

	assert_int_equal(tu_sh("cd '%s' && head -c 4M /dev/urandom > base.bin && cp base.bin vm.bin && "
			       "dd if=/dev/urandom of=vm.bin bs=4096 seek=300 count=1 conv=notrunc status=none",
			       f->dir), 0);
	ut_buf_init(&base, 0);
	ut_buf_init(&vm, 0);
	snprintf(path, sizeof(path), "%s/base.bin", f->dir);
	assert_int_equal(ut_read_host_file(path, &base, &err), 0);
	snprintf(path, sizeof(path), "%s/vm.bin", f->dir);
	assert_int_equal(ut_read_host_file(path, &vm, &err), 0);
	assert_int_equal(vm.len, size);

	assert_int_equal(bd_delta_buf(base.data, base.len, vm.data, vm.len, NULL, &d, &err), 0);
	assert_true(d.delta_bytes < 64 * 1024);
	assert_true(d.zstd_bytes > size - size / 100); /* random: ~4 MiB */
	assert_int_equal(d.skipped, 0);

	/* The same through content sources, streamed in odd chunks. */
	{
		struct mem_src bs = { base.data, base.len }, vs = { vm.data, vm.len };
		struct ut_content bsrc = { &mem_ops, &bs }, vsrc = { &mem_ops, &vs };
		struct ut_entry be = { .path = "base.bin", .type = UT_REG, .size = base.len };
		struct ut_entry ve = { .path = "vm.bin", .type = UT_REG, .size = vm.len };
		struct bd_delta_options small = { .max_size = MIB };

		assert_int_equal(bd_delta_entry(&bsrc, &be, &vsrc, &ve, NULL, &d2, &err), 0);
		assert_true(d2.delta_bytes < 64 * 1024);
		assert_true(d2.zstd_bytes > size - size / 100);
		assert_true(d2.vm_bytes == size && d2.base_bytes == size);
		/* Over the cap: no delta, the plain size stands in. */
		assert_int_equal(bd_delta_entry(&bsrc, &be, &vsrc, &ve, &small, &d2, &err), 0);
		assert_int_equal(d2.skipped, 1);
		assert_true(d2.delta_bytes == d2.zstd_bytes);
		/* A size that lies is an error naming the file. */
		ve.size = size + 1;
		assert_true(bd_delta_entry(&bsrc, &be, &vsrc, &ve, NULL, &d2, &err) < 0);
		assert_non_null(strstr(err.msg, "vm.bin"));
	}

	/* The zstd CLI's --patch-from as the oracle: ours is of its order. */
	if (tu_have("zstd")) {
		char *out = tu_sh_out("cd '%s' && zstd -q -3 --patch-from=base.bin vm.bin -c | wc -c",
				      f->dir);
		unsigned long long cli = strtoull(out, NULL, 10);

		free(out);
		assert_true(cli > 0);
		assert_true(d.delta_bytes <= 2 * cli + 1024);
		assert_true(cli <= 2 * d.delta_bytes + 1024);
	}
	/* Empty files on either side. */
	assert_int_equal(bd_delta_buf("", 0, vm.data, vm.len, NULL, &d2, &err), 0);
	assert_true(d2.delta_bytes > size - size / 100);
	assert_int_equal(bd_delta_buf(base.data, base.len, "", 0, NULL, &d2, &err), 0);
	assert_true(d2.delta_bytes < 64);
	ut_buf_release(&base);
	ut_buf_release(&vm);
}

/* rsync-style deltas: librsync's size must be rdiff's delta file's size,
 * exactly, on pairs that shift, append, truncate, rewrite and empty. */
static void test_rsync_delta(void **state)
{
	static const char *const pairs[] = {
		/* a block rewritten in place */
		"head -c 3M /dev/urandom > b && cp b v && "
		"dd if=/dev/urandom of=v bs=4096 seek=200 count=2 conv=notrunc status=none",
		/* bytes inserted near the start: everything after shifts */
		"head -c 1M /dev/urandom > b && { head -c 1000 b; echo inserted; tail -c +1001 b; } > v",
		/* appended, and truncated */
		"head -c 500K /dev/urandom > b && { cat b; head -c 70000 /dev/urandom; } > v",
		"head -c 700K /dev/urandom > b && head -c 123457 b > v",
		/* text with a few lines changed */
		"seq 1 200000 > b && sed 's/^1234$/changed/; s/^99999$/x/' b > v",
		/* empty on either side, and tiny */
		": > b && head -c 10000 /dev/urandom > v",
		"head -c 10000 /dev/urandom > b && : > v",
		"printf abc > b && printf abd > v",
	};
	struct fx *f = *state;
	size_t i;

	need("rdiff");
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct ut_err err = { { 0 } };
		struct ut_buf base, vm;
		struct bd_delta d, d2;
		char path[4096], *out;
		unsigned long long want;

		assert_int_equal(tu_sh("cd '%s' && rm -f b v sig delta && %s && rdiff signature b sig && "
				       "rdiff delta sig v delta", f->dir, pairs[i]), 0);
		out = tu_sh_out("stat -c %%s '%s/delta'", f->dir);
		want = strtoull(out, NULL, 10);
		free(out);
		ut_buf_init(&base, 0);
		ut_buf_init(&vm, 0);
		snprintf(path, sizeof(path), "%s/b", f->dir);
		assert_int_equal(ut_read_host_file(path, &base, &err), 0);
		snprintf(path, sizeof(path), "%s/v", f->dir);
		assert_int_equal(ut_read_host_file(path, &vm, &err), 0);
		assert_int_equal(bd_delta_buf(base.data ? (void *)base.data : "", base.len,
					      vm.data ? (void *)vm.data : "", vm.len, NULL, &d, &err), 0);
		if (d.rsync_bytes != want)
			fail_msg("pair %zu (%s): librsync %llu bytes, rdiff %llu", i, pairs[i],
				 (unsigned long long)d.rsync_bytes, want);
		/* The same streamed through content sources. */
		{
			struct mem_src bs = { base.data, base.len }, vs = { vm.data, vm.len };
			struct ut_content bsrc = { &mem_ops, &bs }, vsrc = { &mem_ops, &vs };
			struct ut_entry be = { .path = "b", .type = UT_REG, .size = base.len };
			struct ut_entry ve = { .path = "v", .type = UT_REG, .size = vm.len };

			assert_int_equal(bd_delta_entry(&bsrc, &be, &vsrc, &ve, NULL, &d2, &err), 0);
			assert_int_equal(d2.rsync_bytes, want);
		}
		ut_buf_release(&base);
		ut_buf_release(&vm);
	}
}

static void test_extents_zstd(void **state)
{
	struct fx *f = *state;
	struct ut_err err = { { 0 } };
	struct dr_blockdev *bd;
	struct bd_extents x;
	uint64_t z = 0;

	/* 1 MiB of random then 7 MiB of zeros: the random range costs ~1 MiB,
	 * a zero range almost nothing. */
	assert_int_equal(tu_sh("cd '%s' && head -c 1M /dev/urandom > z.raw && truncate -s 8M z.raw",
			       f->dir), 0);
	bd = open_bd(f->dir, "z.raw");
	bd_extents_init(&x);
	bd_extents_add(&x, 0, MIB);
	assert_int_equal(bd_extents_zstd(bd, &x, 0, &z, &err), 0);
	assert_true(z > MIB - MIB / 100 && z < MIB + MIB / 50);
	bd_extents_release(&x);
	bd_extents_add(&x, 2 * MIB, 4 * MIB);
	bd_extents_add(&x, 6 * MIB, MIB); /* adjacent: merged */
	assert_int_equal(x.n, 1);
	assert_int_equal(x.bytes, 5 * MIB);
	assert_int_equal(bd_extents_zstd(bd, &x, 0, &z, &err), 0);
	assert_true(z < 4096);
	bd_extents_release(&x);
	bd_extents_add(&x, 7 * MIB, 2 * MIB); /* past the end */
	assert_true(bd_extents_zstd(bd, &x, 0, &z, &err) < 0);
	bd_extents_release(&x);
	bd_extents_release(NULL);
	dr_blockdev_free(bd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hash64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lineage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analyse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsync_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extents_zstd, setup, teardown),
	};

	return cmocka_run_group_tests_name("blockdiff: lineage, block hashes, file mapping, deltas",
					  tests, NULL, NULL);
}
