/*
 * test_image_hostile.c - bases are read, never trusted, and the output stays
 * inside itself. Each attack on a base layout (a FIFO or symlink where a
 * file belongs, a blob that is /dev/zero, a host file as index.json, a wrong
 * diff_id, a whiteout of nothing) must fail fast with one line naming the
 * file and the reason, without quoting what the file holds; each attack on
 * an output layout (symlinked blobs/ folders or blob files) must be refused
 * with nothing written outside it. Also: the base-tree cache's size cap,
 * and a killed run's temporary files removed by the next run.
 *
 * Every case runs under alarm(): a hang is a failure, not a stuck suite.
 */
#include "img_test.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

static char *tmp;
static char *good; /* a one-layer gzip layout, tag "t" */

static int setup(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t;
	struct img_descriptor man;
	struct img_layer_result res;
	struct ut_err err = { "" };

	(void)state;
	if (!tu_have("jq") || !tu_have("python3"))
		tu_skip("jq and python3 are needed to craft layouts");
	tmp = tu_tmpdir();
	good = ut_asprintf("%s/good", tmp);
	t = make_tree(&src, 0);
	assert_int_equal(write_image(good, "t", IMG_COMPRESS_GZIP, t, &man, &res, &err), 0);
	ut_tree_free(t);
	mem_free(&src);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!getenv("VM2OCI_KEEP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	free(good);
	return 0;
}

/* A copy of the good layout named name; returns its path. */
static char *copy_layout(const char *name)
{
	char *d = ut_asprintf("%s/%s", tmp, name);

	assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s'", d, good, d), 0);
	return d;
}

/* The hex of the layout's first layer blob (and of manifest and config). */
static char *layer_hex(const char *dir)
{
	return tu_sh_out("m=$(jq -r '.manifests[0].digest' '%s/index.json' | cut -d: -f2) &&"
			 " jq -r '.layers[0].digest' '%s/blobs/sha256/'$m | cut -d: -f2 | tr -d '\\n'",
			 dir, dir);
}

/* Opens spec and reads its tree and its files; must fail with one line
 * holding every needle and none of the forbidden words. */
static void expect_refused_cached(const char *spec, const char *cache,
				  const char *const *needles, const char *forbidden)
{
	struct ut_err err = { "" };
	struct img_base *b = NULL;
	struct ut_tree *t = NULL;

	alarm(20);
	if (img_base_open(spec, NULL, &b, &err) == 0) {
		int rc = img_base_tree(b, cache, &t, &err);

		ut_tree_free(t);
		if (rc == 0)
			fail_msg("%s: accepted", spec);
	}
	alarm(0);
	img_base_free(b);
	print_message("refused: %s\n", err.msg);
	assert_true(err.msg[0]);
	assert_null(strchr(err.msg, '\n'));
	for (; needles && *needles; needles++)
		if (!strstr(err.msg, *needles))
			fail_msg("'%s' lacks '%s'", err.msg, *needles);
	if (forbidden && strstr(err.msg, forbidden))
		fail_msg("'%s' quotes the file's content", err.msg);
}

static void expect_refused(const char *spec, const char *const *needles, const char *forbidden)
{
	expect_refused_cached(spec, NULL, needles, forbidden);
}

static void test_fifo_index(void **state)
{
	char *d = copy_layout("fifo-index"), *spec = ut_asprintf("oci:%s", d);
	const char *needles[] = { "index.json", "FIFO", NULL };

	(void)state;
	assert_int_equal(tu_sh("rm '%s/index.json' && mkfifo '%s/index.json'", d, d), 0);
	expect_refused(spec, needles, NULL);
	free(spec);
	free(d);
}

static void test_fifo_blob(void **state)
{
	char *d = copy_layout("fifo-blob"), *hex = layer_hex(d), *spec = ut_asprintf("oci:%s", d);
	const char *needles[] = { hex, "FIFO", NULL };

	(void)state;
	assert_int_equal(tu_sh("cd '%s/blobs/sha256' && rm %s && mkfifo %s", d, hex, hex), 0);
	expect_refused(spec, needles, NULL);
	free(spec);
	free(hex);
	free(d);
}

static void test_blob_dev_zero(void **state)
{
	char *d = copy_layout("dev-zero"), *hex = layer_hex(d), *spec = ut_asprintf("oci:%s", d);
	const char *needles[] = { hex, "symbolic link", NULL };

	(void)state;
	assert_int_equal(tu_sh("cd '%s/blobs/sha256' && rm %s && ln -s /dev/zero %s", d, hex, hex), 0);
	expect_refused(spec, needles, NULL);
	free(spec);
	free(hex);
	free(d);
}

static void test_symlinked_blobs_dir(void **state)
{
	char *d = copy_layout("blobs-link"), *spec = ut_asprintf("oci:%s", d);
	const char *needles[] = { "blobs", "symbolic link", NULL };

	(void)state;
	assert_int_equal(tu_sh("cd '%s' && mv blobs ../blobs-elsewhere && ln -s ../blobs-elsewhere blobs",
			       d), 0);
	expect_refused(spec, needles, NULL);
	free(spec);
	free(d);
}

/* A host file as index.json: refused as a symlink; and the same bytes as a
 * regular index.json: a parse error that does not quote them. */
static void test_host_file_index(void **state)
{
	char *d = copy_layout("shadow"), *spec = ut_asprintf("oci:%s", d);
	const char *link_needles[] = { "index.json", "symbolic link", NULL };
	const char *parse_needles[] = { "index.json", "bad JSON", NULL };

	(void)state;
	assert_int_equal(tu_sh("printf 'root:$6$secretsalt$hash:19000:0:99999:7:::\\n' > '%s/host-shadow' &&"
			       " rm '%s/index.json' && ln -s '%s/host-shadow' '%s/index.json'",
			       tmp, d, tmp, d), 0);
	expect_refused(spec, link_needles, "root");
	assert_int_equal(tu_sh("rm '%s/index.json' && cp '%s/host-shadow' '%s/index.json'", d, tmp, d), 0);
	expect_refused(spec, parse_needles, "root");
	free(spec);
	free(d);
}

/* A layer blob longer or shorter than its descriptor says. */
static void test_blob_size_lies(void **state)
{
	char *d = copy_layout("size"), *hex = layer_hex(d), *spec = ut_asprintf("oci:%s", d);
	const char *needles[] = { hex, "the manifest says", NULL };

	(void)state;
	assert_int_equal(tu_sh("echo more >> '%s/blobs/sha256/%s'", d, hex), 0);
	expect_refused(spec, needles, NULL);
	free(spec);
	free(hex);
	free(d);
}

/* The config names a diff_id that is not the layer's uncompressed tar
 * (config, manifest and index re-digested so only the diff_id is wrong). */
static void test_wrong_diff_id(void **state)
{
	char *d = copy_layout("diff-id"), *spec = ut_asprintf("oci:%s:t", d);
	const char *needles[] = { "diff_id", "layer 1", NULL };

	(void)state;
	assert_int_equal(tu_sh(
		"set -e; cd '%s'; b=blobs/sha256;"
		" m=$(jq -r '.manifests[0].digest' index.json | cut -d: -f2);"
		" c=$(jq -r '.config.digest' $b/$m | cut -d: -f2);"
		" jq -c '.rootfs.diff_ids[0]=\"sha256:%064d\"' $b/$c > cfg;"
		" nc=$(sha256sum cfg | cut -c1-64); mv cfg $b/$nc;"
		" jq -c --arg d sha256:$nc --argjson s $(stat -c %%s $b/$nc)"
		" '.config.digest=$d | .config.size=$s' $b/$m > man;"
		" nm=$(sha256sum man | cut -c1-64); mv man $b/$nm;"
		" jq -c --arg d sha256:$nm --argjson s $(stat -c %%s $b/$nm)"
		" '.manifests[0].digest=$d | .manifests[0].size=$s' index.json > i; mv i index.json",
		d, 7), 0);
	expect_refused(spec, needles, NULL);
	/* Not even when the same blobs' tree is cached from a good base. */
	{
		char *cache = ut_asprintf("%s/cache-diff-id", tmp), *gspec = ut_asprintf("oci:%s", good);
		struct img_base *b = NULL;
		struct ut_tree *t = NULL;
		struct ut_err err = { "" };

		assert_int_equal(tu_sh("mkdir -p '%s'", cache), 0);
		assert_int_equal(img_base_open(gspec, NULL, &b, &err), 0);
		assert_int_equal(img_base_tree(b, cache, &t, &err), 0);
		ut_tree_free(t);
		img_base_free(b);
		expect_refused_cached(spec, cache, needles, NULL);
		free(gspec);
		free(cache);
	}
	free(spec);
	free(d);
}

/* A whiteout named exactly ".wh." names nothing: the tree reader and the
 * package-file reader (one layer applier) both refuse it; before, one
 * refused and the other removed the whole folder. */
static void test_bare_whiteout(void **state)
{
	char *tar = ut_asprintf("%s/bare-wh.tar", tmp), *spec = ut_asprintf("rootfs:%s", tar);
	const char *needles[] = { "bare-wh.tar", "etc/.wh.", "whiteout of nothing", NULL };
	static const char *const prefixes[] = { "etc" };
	struct img_base *b = NULL;
	struct ut_tree *t = NULL;
	struct ut_err err = { "" };

	(void)state;
	assert_int_equal(tu_sh("python3 -c \"import tarfile, io\n"
			       "with tarfile.open('%s', 'w') as t:\n"
			       "    for n in ('etc/passwd', 'etc/.wh.'):\n"
			       "        ti = tarfile.TarInfo(n); t.addfile(ti, io.BytesIO(b''))\"",
			       tar), 0);
	expect_refused(spec, needles, NULL);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	assert_int_equal(img_base_files(b, prefixes, 1, 1 << 20, &t, &err), -1);
	print_message("files refused: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "whiteout of nothing"));
	img_base_free(b);
	free(spec);
	free(tar);
}

/* The cache keeps at most its cap: the least recently used files go first,
 * and a file just read counts as used. */
static void test_cache_cap(void **state)
{
	char *cache = ut_asprintf("%s/cache", tmp), *spec = ut_asprintf("oci:%s", good);
	struct img_base *b = NULL;
	struct ut_tree *t = NULL;
	struct ut_err err = { "" };
	char *newest, *sz;
	long tree_size;

	(void)state;
	assert_int_equal(tu_sh("mkdir -p '%s' && cd '%s' && for n in 1 2 3; do"
			       " head -c 1000 /dev/zero > old$n.tree; touch -d \"2001-01-0$n\" old$n.tree;"
			       " done && head -c 1000 /dev/zero > keep.txt",
			       cache, cache), 0);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	/* First a run without a cap, to learn the size of the new file. */
	img_base_set_cache_cap(b, UINT64_MAX);
	assert_int_equal(img_base_tree(b, cache, &t, &err), 0);
	ut_tree_free(t);
	newest = tu_sh_out("cd '%s' && ls -t *.tree | head -1 | tr -d '\\n'", cache);
	sz = tu_sh_out("stat -c %%s '%s/%s'", cache, newest);
	tree_size = atol(sz);
	assert_true(tree_size > 0);
	/* Room for the new file and one old one: the two oldest go. */
	assert_int_equal(tu_sh("rm '%s/%s'", cache, newest), 0);
	img_base_set_cache_cap(b, (uint64_t)tree_size + 1500);
	assert_int_equal(img_base_tree(b, cache, &t, &err), 0);
	ut_tree_free(t);
	assert_int_equal(tu_sh("cd '%s' && test ! -e old1.tree && test ! -e old2.tree && test -e old3.tree"
			       " && test -e '%s' && test -e keep.txt", cache, newest), 0);
	img_base_free(b);
	free(newest);
	free(sz);
	free(spec);
	free(cache);
}

/* An output layout whose blobs/ or blobs/sha256 is a symlink is refused;
 * so is writing or importing a blob whose name there is a symlink. Nothing
 * lands outside. */
static void test_output_symlinks(void **state)
{
	char *d = copy_layout("out-links"), *outside = ut_asprintf("%s/outside", tmp), *hex;
	struct img_layout *l = NULL;
	struct img_descriptor desc;
	struct ut_err err = { "" };
	static const char data[] = "{\"a\":1}";
	unsigned char dg[UT_SHA256_LEN];
	char dhex[UT_SHA256_HEX];

	(void)state;
	assert_int_equal(tu_sh("mkdir -p '%s/sha256' && cd '%s' && mv blobs/sha256 blobs/real &&"
			       " ln -s '%s/sha256' blobs/sha256", outside, d, outside), 0);
	assert_int_equal(img_layout_open(d, &l, &err), -1);
	print_message("refused: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "blobs/sha256: is a symbolic link"));
	assert_int_equal(tu_sh("cd '%s' && rm blobs/sha256 && mv blobs/real '%s/real' &&"
			       " rm -r blobs && ln -s '%s' blobs", d, tmp, outside), 0);
	assert_int_equal(img_layout_open(d, &l, &err), -1);
	print_message("refused: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "blobs: is a symbolic link"));
	/* Symlinked blob files: the blob we are about to write, and one to import. */
	assert_int_equal(tu_sh("cd '%s' && rm blobs && mkdir blobs && mv '%s/real' blobs/sha256", d, tmp), 0);
	ut_sha256_buf(data, sizeof(data) - 1, dg);
	ut_hex(dg, UT_SHA256_LEN, dhex);
	assert_int_equal(tu_sh("ln -s '%s/sha256/x' '%s/blobs/sha256/%s'", outside, d, dhex), 0);
	assert_int_equal(img_layout_open(d, &l, &err), 0);
	assert_int_equal(img_layout_put_blob(l, data, sizeof(data) - 1, "x", &desc, &err), -1);
	print_message("refused: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "is a symbolic link"));
	hex = layer_hex(good);
	assert_int_equal(tu_sh("cd '%s/blobs/sha256' && rm %s && ln -s '%s/sha256/y' %s", d, hex,
			       outside, hex), 0);
	snprintf(desc.digest, sizeof(desc.digest), "sha256:%s", hex);
	desc.size = 1;
	{
		char *src = ut_asprintf("%s/blobs/sha256/%s", good, hex);

		assert_int_equal(img_layout_import_blob(l, src, &desc, &err), -1);
		print_message("refused: %s\n", err.msg);
		assert_non_null(strstr(err.msg, "is a symbolic link"));
		free(src);
	}
	img_layout_free(l);
	assert_int_equal(tu_sh("test -z \"$(ls -A '%s/sha256')\"", outside), 0);
	free(hex);
	free(outside);
	free(d);
}

/* A run killed with -9 leaves temporary files; the next run into the same
 * place removes those nobody holds, and leaves a live run's and the
 * user's own files alone. */
static void test_stale_temps(void **state)
{
	char *d = copy_layout("stale"), *out = ut_asprintf("%s/newout", tmp), *held;
	struct img_layout *l = NULL;
	struct ut_err err = { "" };
	int fd;

	(void)state;
	assert_int_equal(tu_sh("cd '%s' && mkdir -p newout.tmp-AbC123/blobs/sha256 newout.oci-Zz9999 &&"
			       " touch newout.tmp-AbC123/blobs/sha256/x newout.tmp-notes newout.layer-q1w2e3"
			       " newout.tmp-HeLd00 && cd '%s' && touch blobs/sha256/.tmp-layer-aaaaaa"
			       " blobs/sha256/.tmp-blob-bbbbbb index.json.tmp-cccccc",
			       tmp, d), 0);
	held = ut_asprintf("%s/newout.tmp-HeLd00", tmp);
	fd = open(held, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* a live run's */
	assert_int_equal(img_layout_open(out, &l, &err), 0);
	img_layout_free(l);
	assert_int_equal(tu_sh("cd '%s' && test ! -e newout.tmp-AbC123 && test ! -e newout.oci-Zz9999"
			       " && test ! -e newout.layer-q1w2e3 && test -e newout.tmp-notes"
			       " && test -e newout.tmp-HeLd00 && test ! -e newout", tmp), 0);
	close(fd);
	assert_int_equal(img_layout_open(d, &l, &err), 0);
	img_layout_free(l);
	assert_int_equal(tu_sh("cd '%s' && test ! -e index.json.tmp-cccccc"
			       " && ! ls -A blobs/sha256 | grep -q tmp", d), 0);
	free(held);
	free(out);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_index),
		cmocka_unit_test(test_fifo_blob),
		cmocka_unit_test(test_blob_dev_zero),
		cmocka_unit_test(test_symlinked_blobs_dir),
		cmocka_unit_test(test_host_file_index),
		cmocka_unit_test(test_blob_size_lies),
		cmocka_unit_test(test_wrong_diff_id),
		cmocka_unit_test(test_bare_whiteout),
		cmocka_unit_test(test_cache_cap),
		cmocka_unit_test(test_output_symlinks),
		cmocka_unit_test(test_stale_temps),
	};

	return cmocka_run_group_tests_name("image_hostile", tests, setup, teardown);
}
