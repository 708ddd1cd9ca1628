/*
 * test_compare_cli.c - `vm2oci compare` end to end: two ext4 disks made by
 * mke2fs -d with one file patched in place by dd at the blocks debugfs
 * names (the hashes method), an image base (no block view), and the
 * template/clone fixtures (the lineage method), whose files with changed
 * blocks must be files the file level changed too. Both strategies side by
 * side ("strategies": file and block, the same layer), the rsync-style
 * delta sizes, and --chart, which xmllint must parse and rsvg-convert render
 * to a PNG.
 */
#include "testutil.h"

#include <jansson.h>

static const char *binary(void)
{
	const char *b = getenv("VM2OCI_BINARY");

	if (!b || access(b, X_OK) < 0)
		tu_skip("VM2OCI_BINARY is not set to the vm2oci binary");
	return b;
}

/* A template cache of the test's own: the user's is left alone, and the
 * fixtures' folder is never written. */
static char *cache_dir;

static const char *cache(void)
{
	if (!cache_dir)
		cache_dir = tu_tmpdir();
	return cache_dir;
}

static json_t *run_json(const char *dir, const char *args)
{
	char *out = tu_sh_out("cd '%s' && VM2OCI_CACHE='%s' '%s' compare %s --json -q", dir,
			      cache(), binary(), args);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);

	if (!j)
		fail_msg("compare %s: not JSON (%s): %.300s", args, je.text, out);
	free(out);
	return j;
}

static json_int_t jint(json_t *o, const char *path)
{
	char buf[256], *save = NULL, *k;
	json_t *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, k);
	if (!json_is_integer(cur))
		fail_msg("%s: not an integer", path);
	return json_integer_value(cur);
}

/* The "strategies" array: file first, then block with the same layer. */
static json_t *strategy(json_t *j, size_t i, const char *name)
{
	json_t *a = json_object_get(j, "strategies"), *s = json_array_get(a, i);

	if (!s)
		fail_msg("no strategy %zu in the JSON", i);
	assert_string_equal(json_string_value(json_object_get(s, "strategy")), name);
	return s;
}

static void assert_same_layer(json_t *j)
{
	json_t *f = strategy(j, 0, "file"), *b = strategy(j, 1, "block");

	assert_string_equal(json_string_value(json_object_get(b, "used")), "block");
	assert_string_equal(json_string_value(json_object_get(f, "layer_digest")),
			    json_string_value(json_object_get(b, "layer_digest")));
	assert_int_equal(jint(f, "changed_files"), jint(b, "changed_files"));
	assert_int_equal(jint(f, "layer_bytes.zstd"), jint(b, "layer_bytes.zstd"));
	assert_int_equal(jint(f, "layer_bytes.gzip"), jint(b, "layer_bytes.gzip"));
	assert_int_equal(jint(f, "layer_bytes.raw"), jint(b, "layer_bytes.raw"));
	assert_true(jint(f, "bytes_read") > 0 && jint(b, "bytes_read") > 0);
	assert_non_null(strstr(json_string_value(json_object_get(j, "verdict")), "same layer"));
}

static void test_small_disks(void **state)
{
	char *dir = tu_tmpdir(), *blocks;
	unsigned long long b[16];
	int n = 0;
	json_t *j, *bl, *files, *f;

	(void)state;
	binary();
	if (!tu_have("mke2fs") || !tu_have("debugfs"))
		tu_skip("mke2fs or debugfs is not installed");
	assert_int_equal(tu_sh("cd '%s' && mkdir -p tree/etc tree/usr tree/data && "
			       "echo ID=test > tree/etc/os-release && "
			       "head -c 262144 /dev/urandom > tree/data/big.bin && "
			       "echo small > tree/data/small.txt && "
			       "mke2fs -q -F -t ext4 -b 4096 -d tree base.img 16M >/dev/null && cp base.img vm.img",
			       dir), 0);
	blocks = tu_sh_out("debugfs -R 'blocks /data/big.bin' '%s/base.img' 2>/dev/null", dir);
	{
		char *p = blocks, *end;

		while (n < 16) {
			unsigned long long v = strtoull(p, &end, 10);

			if (end == p)
				break;
			b[n++] = v;
			p = end;
		}
	}
	free(blocks);
	assert_true(n >= 10);
	/* Two blocks of big.bin rewritten in place, as a guest would. */
	assert_int_equal(tu_sh("cd '%s' && "
			       "dd if=/dev/urandom of=vm.img bs=4096 seek=%llu count=1 conv=notrunc status=none && "
			       "dd if=/dev/urandom of=vm.img bs=4096 seek=%llu count=1 conv=notrunc status=none",
			       dir, b[1], b[7]), 0);
	j = run_json(dir, "disk:base.img vm.img");
	bl = json_object_get(j, "block_level");
	assert_string_equal(json_string_value(json_object_get(bl, "method")), "hashes");
	assert_int_equal(jint(j, "file_level.modified"), 1);
	assert_int_equal(jint(bl, "differing_blocks.bytes"), 8192);
	assert_int_equal(jint(bl, "bytes_in_files"), 8192);
	assert_int_equal(jint(bl, "bytes_in_metadata"), 0);
	files = json_object_get(bl, "files");
	assert_int_equal(json_array_size(files), 1);
	f = json_array_get(files, 0);
	assert_string_equal(json_string_value(json_object_get(f, "path")), "data/big.bin");
	assert_int_equal(jint(f, "changed"), 8192);
	assert_string_equal(json_string_value(json_object_get(f, "file_level")), "modified");
	/* 256 KiB of random with 8 KiB new: the delta is about 8 KiB. */
	assert_int_equal(jint(bl, "modified_files.count"), 1);
	assert_true(jint(bl, "modified_files.zstd") > 250000);
	assert_true(jint(bl, "modified_files.patch_from") < 16384);
	/* vm.img is a raw copy: the block strategy hashes it against the
	 * template's index and gives the file strategy's layer. The rsync delta
	 * is rdiff's size for the one pair (big.bin before and after). */
	assert_same_layer(j);
	assert_int_equal(jint(strategy(j, 1, "block"), "delta_bytes.rsync"),
			 jint(bl, "modified_files.rsync"));
	if (tu_have("rdiff") && tu_have("debugfs")) {
		char *out = tu_sh_out("cd '%s' && debugfs -R 'dump /data/big.bin b.bin' base.img 2>/dev/null && "
				      "debugfs -R 'dump /data/big.bin v.bin' vm.img 2>/dev/null && "
				      "rdiff signature b.bin b.sig && rdiff delta b.sig v.bin b.delta && "
				      "stat -c %%s b.delta", dir);

		assert_int_equal(strtoll(out, NULL, 10), jint(bl, "modified_files.rsync"));
		free(out);
	}
	json_decref(j);

	/* --chart: an SVG that parses and renders. */
	if (tu_have("xmllint") && tu_have("rsvg-convert")) {
		char *out;

		assert_int_equal(tu_sh("cd '%s' && VM2OCI_CACHE='%s' '%s' compare disk:base.img vm.img -q "
				       "--chart chart.svg >/dev/null && xmllint --noout chart.svg && "
				       "rsvg-convert chart.svg -o chart.png", dir, cache(), binary()), 0);
		out = tu_sh_out("head -c 8 '%s/chart.png' | od -An -tx1 | tr -d ' \\n'", dir);
		assert_string_equal(out, "89504e470d0a1a0a");
		free(out);
		out = tu_sh_out("grep -c '<rect' '%s/chart.svg'", dir);
		assert_true(atoi(out) >= 12); /* background, legend, 2 bars x 6 rows */
		free(out);
	} else {
		fprintf(stderr, "SKIP (part): xmllint or rsvg-convert is not installed\n");
	}

	/* An image base has no blocks: file level only, and it says so. */
	j = run_json(dir, "scratch vm.img");
	assert_true(json_is_null(json_object_get(j, "block_level")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "block_level_note")),
			       "disk base"));
	assert_true(jint(j, "file_level.layer_bytes.zstd") > 250000);
	strategy(j, 0, "file");
	assert_int_equal(json_array_size(json_object_get(j, "strategies")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(j, "verdict")), "disk:TEMPLATE"));
	json_decref(j);

	/* The text form has the three parts. */
	{
		char *out = tu_sh_out("cd '%s' && '%s' compare disk:base.img vm.img -q", dir,
				      binary());

		assert_non_null(strstr(out, "FILE-LEVEL"));
		assert_non_null(strstr(out, "BLOCK-LEVEL  method hashes"));
		assert_non_null(strstr(out, "VERDICT"));
		assert_non_null(strstr(out, "cannot carry deltas"));
		assert_non_null(strstr(out, "STRATEGY     block"));
		assert_non_null(strstr(out, "STRATEGIES   block gives the same layer"));
		free(out);
	}
	assert_int_equal(tu_sh("'%s' compare onlyone >/dev/null 2>&1", binary()), 2);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/*
 * The fixtures: clone.qcow2 is an overlay on template.qcow2, so lineage.
 * Every file with changed blocks must be one the file level carries
 * (added, modified, type-changed). The one exception the fixture's recipe
 * makes: F/hardlink-b2 was replaced by a `cp -p` copy - new blocks, same
 * content and mode, so the file level lists it only as a hardlink-set change.
 */
static void test_fixtures(void **state)
{
	char *tmpl = tu_fixture_path("template.qcow2"), *clone = tu_fixture_path("clone.qcow2");
	char *dir;
	json_t *j, *bl, *files, *f;
	size_t i;
	int saw_random = 0;

	(void)state;
	binary();
	if (!tmpl || !clone) {
		fprintf(stderr, "SKIP: fixtures template.qcow2/clone.qcow2 not found "
				"(set VM2OCI_FIXTURES to the output of fixtures/make-fixtures.sh)\n");
		free(tmpl);
		free(clone);
		skip();
	}
	dir = strdup(clone);
	*strrchr(dir, '/') = '\0';
	/* The clone's 1 GiB sparse file is larger than its 578 MiB disk, the
	 * default --max-file-size. */
	j = run_json(dir, "disk:template.qcow2 clone.qcow2 --max-file-size 2G");
	bl = json_object_get(j, "block_level");
	assert_string_equal(json_string_value(json_object_get(bl, "method")), "lineage");
	assert_int_equal(jint(bl, "lineage_depth"), 1);
	assert_true(jint(bl, "differing_blocks.bytes") <= jint(bl, "found.bytes"));
	files = json_object_get(bl, "files");
	assert_true(json_array_size(files) > 0);
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *kind = json_string_value(json_object_get(f, "file_level"));

		if (!strcmp(path, "var/lib/vm2oci-app/random-30m.bin")) {
			saw_random = 1;
			assert_int_equal(jint(f, "changed"), 31457280);
		}
		if (!strcmp(kind, "added") || !strcmp(kind, "modified") ||
		    !strcmp(kind, "type-changed"))
			continue;
		if (strcmp(path, "srv/fixture/hardlink-b2"))
			fail_msg("/%s has changed blocks but the file level says: %s", path, kind);
	}
	assert_true(saw_random);
	/* /etc/hostname, /etc/motd, /etc/issue: content changed in place. */
	assert_int_equal(jint(bl, "modified_files.count"), 3);
	assert_true(jint(bl, "modified_files.patch_from") <= jint(bl, "modified_files.zstd"));
	assert_int_equal(jint(bl, "bytes_outside_filesystems"), 0);
	/* Lineage: block reads a small part of what file reads. */
	assert_same_layer(j);
	assert_true(jint(strategy(j, 1, "block"), "bytes_read") * 5 <
		    jint(strategy(j, 0, "file"), "bytes_read"));

	/* qemu's own map of the clone's top layer (depth 0) is what lineage
	 * found, byte for byte. */
	if (tu_have("qemu-img")) {
		char *out = tu_sh_out("qemu-img map --output=json '%s'", clone);
		json_error_t je;
		json_t *map = json_loads(out, 0, &je), *it;
		json_int_t sum = 0;

		assert_non_null(map);
		json_array_foreach(map, i, it)
			if (json_integer_value(json_object_get(it, "depth")) == 0)
				sum += json_integer_value(json_object_get(it, "length"));
		assert_int_equal(sum, jint(bl, "found.bytes"));
		json_decref(map);
		free(out);
	}

	/* An independent second way: XXH64 of every 4 KiB block of both whole
	 * disks finds exactly the blocks lineage + refine found, and so the
	 * same files. */
	{
		json_t *h = run_json(dir, "disk:template.qcow2 clone.qcow2 --hashes --max-file-size 2G");
		json_t *hb = json_object_get(h, "block_level"), *hf;

		assert_string_equal(json_string_value(json_object_get(hb, "method")), "hashes");
		assert_int_equal(jint(hb, "differing_blocks.bytes"), jint(bl, "differing_blocks.bytes"));
		assert_int_equal(jint(hb, "differing_blocks.ranges"), jint(bl, "differing_blocks.ranges"));
		hf = json_object_get(hb, "files");
		assert_int_equal(json_array_size(hf), json_array_size(files));
		json_array_foreach(hf, i, f) {
			json_t *g = json_array_get(files, i);

			assert_string_equal(json_string_value(json_object_get(f, "path")),
					    json_string_value(json_object_get(g, "path")));
			assert_int_equal(jint(f, "changed"), jint(g, "changed"));
		}
		json_decref(h);
	}
	json_decref(j);
	free(dir);
	free(tmpl);
	free(clone);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_disks),
		cmocka_unit_test(test_fixtures),
	};
	int rc = cmocka_run_group_tests_name("blockdiff: vm2oci compare", tests, NULL, NULL);

	if (cache_dir)
		tu_sh("rm -rf '%s'", cache_dir);
	free(cache_dir);
	return rc;
}
