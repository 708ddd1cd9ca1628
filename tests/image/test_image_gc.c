/*
 * test_image_gc.c - img_layout_gc on layouts our writer made: exactly the
 * replaced image's unshared blobs go (the set computed here from the
 * manifests, not by gc), a dry run reports the same and removes nothing,
 * SBOM referrers follow their image, temporaries nobody holds go and a held
 * one stays, an image reached through a nested index is kept (and goes with
 * it), a missing blob or a bad manifest removes nothing, and a live
 * writer's unreferenced blob survives: gc waits for it (or refuses with
 * no_wait). The kept images are read by oci-image-tool and skopeo.
 */
#include "img_test.h"

#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmp;

static int setup(void **state)
{
	(void)state;
	tmp = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!getenv("VM2OCI_KEEP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return 0;
}

/* A small tree of one file, so each image's top layer differs. */
static struct ut_tree *one_file_tree(struct mem_src *s, const char *name, const char *text)
{
	struct ut_tree *t = ut_tree_new();

	t->content.ops = &mem_ops;
	t->content.ctx = s;
	add_e(t, "", UT_DIR, 0755, 0, 1700000000, 0);
	add_file(t, s, name, text, strlen(text), 0644);
	ut_tree_sort(t);
	ut_tree_count_links(t);
	return t;
}

/* An image of two layers (the shared base, then top) tagged tag, with an
 * SPDX referrer when sbom. */
static void write_two_layer_image(const char *dir, const char *tag, const struct ut_tree *base,
				  const struct ut_tree *top, int sbom, struct img_descriptor *man,
				  struct img_descriptor *top_blob, struct img_descriptor *ref)
{
	struct img_layer_options lo = { .compress = IMG_COMPRESS_GZIP, .threads = 1 };
	struct img_layer_result rb, rt;
	struct img_descriptor layers[2];
	struct img_config cfg = { 0 };
	struct img_layout *l = NULL;
	struct ut_err err = { "" };
	char *sbom_text;

	cfg.created = 1700000000;
	assert_int_equal(img_layout_open(dir, &l, &err), 0);
	assert_int_equal(img_layer_write_tree(img_layout_blob_dir(l), &lo, base, &rb, &err), 0);
	assert_int_equal(img_layer_write_tree(img_layout_blob_dir(l), &lo, top, &rt, &err), 0);
	img_config_set_platform(&cfg, "amd64", "linux");
	img_config_add_layer(&cfg, rb.diff_id, "base", NULL);
	img_config_add_layer(&cfg, rt.diff_id, "top", NULL);
	layers[0] = rb.blob;
	layers[1] = rt.blob;
	assert_int_equal(img_layout_add_image(l, &cfg, layers, 2, tag, man, &err), 0);
	if (sbom) {
		char *rtag = ut_asprintf("sha256-%s.sbom", man->digest + 7);

		sbom_text = ut_asprintf("{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"%s\"}", man->digest);
		assert_int_equal(img_layout_add_referrer(l, man, "application/spdx+json", sbom_text,
							 strlen(sbom_text), rtag, ref, &err), 0);
		free(sbom_text);
		free(rtag);
	}
	assert_int_equal(img_layout_commit(l, &err), 0);
	img_layout_free(l);
	img_config_release(&cfg);
	if (top_blob)
		*top_blob = rt.blob;
}

/* The blob names of dir, sorted, one a line (what ls says, not gc). */
static char *blob_list(const char *dir)
{
	return tu_sh_out("ls -A '%s/blobs/sha256' | LC_ALL=C sort", dir);
}

/* The manifests given (hex) and the config and layers each names, as
 * sorted "hex\n" lines, by jq. */
static char *closure(const char *dir, const char *hexes)
{
	return tu_sh_out("cd '%s/blobs/sha256' && for m in %s; do echo $m; jq -r "
			 "'.config.digest, .layers[].digest' $m | cut -d: -f2; done | LC_ALL=C sort -u",
			 dir, hexes);
}

static void put_file(const char *path, const char *s)
{
	struct ut_err err = { "" };

	assert_int_equal(ut_write_file_atomic(path, s, strlen(s), 0644, &err), 0);
}

/* s's lines, sorted in the C locale. */
static char *sort_lines(const char *s)
{
	char *f = ut_asprintf("%s/lines", tmp), *out;

	put_file(f, s);
	out = tu_sh_out("LC_ALL=C sort '%s'", f);
	free(f);
	return out;
}

/* Lines of a not in b ("comm -23"), both sorted. */
static char *minus(const char *a, const char *b)
{
	char *fa = ut_asprintf("%s/minus.a", tmp), *fb = ut_asprintf("%s/minus.b", tmp), *out;

	put_file(fa, a);
	put_file(fb, b);
	out = tu_sh_out("LC_ALL=C comm -23 '%s' '%s'", fa, fb);
	free(fa);
	free(fb);
	return out;
}

/* gc's items of one kind as sorted lines: hex for blobs, else the name. */
static char *items_of(const struct img_gc_result *r, enum img_gc_kind kind)
{
	struct ut_buf b;
	char *out;
	size_t i;

	ut_buf_init(&b, 0);
	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == kind)
			ut_buf_addf(&b, NULL, "%s\n",
				    r->items[i].name + (kind == IMG_GC_BLOB ? 7 : 0));
	ut_buf_addstr(&b, "", NULL);
	out = sort_lines(b.data ? (char *)b.data : "");
	ut_buf_release(&b);
	return out;
}

static void validate(const char *dir, const char *tag)
{
	char *copy = ut_asprintf("%s/validate-%s", tmp, tag);

	if (tu_have("oci-image-tool")) {
		assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && jq -c '.manifests |= map(select("
				       ".annotations[\"org.opencontainers.image.ref.name\"] == \"%s\"))' "
				       "'%s/index.json' > '%s/index.json'",
				       copy, dir, copy, tag, dir, copy), 0);
		assert_int_equal(tu_sh("oci-image-tool validate --type image --ref name=%s '%s'", tag,
				       copy), 0);
		tu_sh("rm -rf '%s'", copy);
	}
	if (tu_have("skopeo"))
		assert_int_equal(tu_sh("skopeo inspect oci:%s:%s >/dev/null", dir, tag), 0);
	free(copy);
}

/* Temporaries a writer killed with -9 leaves, as our writers name them. */
static void plant_temps(const char *dir)
{
	assert_int_equal(tu_sh("cd '%s' && printf 1234567 > blobs/sha256/.tmp-layer-Ab12Cd && "
			       "printf 12 > index.json.tmp-Zz9Yy8 && mkdir ../%s.tmp-Qw3Er4 && "
			       "printf 12345 > ../%s.tmp-Qw3Er4/x",
			       dir, ut_path_base(dir), ut_path_base(dir)), 0);
}

/*
 * Two images sharing a base layer, each with an SBOM; image "one" replaced
 * (re-tagged to a new manifest over a new top layer).
 */
static void test_gc_replaced(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *base = make_tree(&src, 0), *top1, *top2, *top3;
	struct img_descriptor m1, m2, m3, ref1, ref2, ref3, tb1;
	struct img_gc_options dry = { .dry_run = 1 }, real = { 0 };
	struct img_gc_result r;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/replaced", tmp), *before, *after, *old_set, *now_set, *want,
	     *got, *s, *held_path, *want2;
	int held;

	(void)state;
	top1 = one_file_tree(&src, "etc/one", "one v1\n");
	top2 = one_file_tree(&src, "etc/two", "two\n");
	top3 = one_file_tree(&src, "etc/one", "one v2\n");
	write_two_layer_image(dir, "one", base, top1, 1, &m1, &tb1, &ref1);
	write_two_layer_image(dir, "two", base, top2, 1, &m2, NULL, &ref2);
	/* the old image's blobs and its SBOM's (the empty config is shared) */
	s = ut_asprintf("%s %s", m1.digest + 7, ref1.digest + 7);
	old_set = closure(dir, s);
	free(s);
	write_two_layer_image(dir, "one", base, top3, 1, &m3, NULL, &ref3);
	assert_string_not_equal(m1.digest, m3.digest);
	plant_temps(dir);
	/* A temporary a live writer holds: never taken. */
	held_path = ut_asprintf("%s/blobs/sha256/.tmp-blob-Held01", dir);
	held = open(held_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);

	/* What stays reachable, computed with jq: both images, both kept SBOMs. */
	s = ut_asprintf("%s %s %s %s", m2.digest + 7, m3.digest + 7, ref2.digest + 7, ref3.digest + 7);
	now_set = closure(dir, s);
	free(s);
	want = minus(old_set, now_set);
	assert_true(strlen(want) >= 5 * 65); /* manifest, config, top layer, SBOM manifest + blob */
	s = ut_asprintf("%s\n", tb1.digest + 7);
	assert_non_null(strstr(want, s));
	free(s);

	before = blob_list(dir);
	assert_int_equal(img_layout_gc(dir, &dry, &r, &err), 0);
	got = items_of(&r, IMG_GC_BLOB);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(r.dropped_referrers, 1);
	assert_string_equal(r.items[0].name, ref1.digest);
	assert_int_equal(r.removed_temps, 3);
	assert_int_equal(r.removed_temp_bytes, 7 + 2 + 5);
	after = blob_list(dir);
	assert_string_equal(after, before); /* dry: nothing removed */
	free(after);
	assert_int_equal(tu_sh("test -e '%s/index.json.tmp-Zz9Yy8' && test -e '%s.tmp-Qw3Er4' && "
			       "jq -e '[.manifests[] | select(.digest == \"%s\")] | length == 1' "
			       "'%s/index.json' >/dev/null", dir, dir, ref1.digest, dir), 0);
	img_gc_result_release(&r);

	assert_int_equal(img_layout_gc(dir, &real, &r, &err), 0);
	got = items_of(&r, IMG_GC_BLOB);
	assert_string_equal(got, want);
	free(got);
	after = blob_list(dir);
	s = minus(before, after);
	/* exactly those, and the unheld temporary among the blobs */
	got = ut_asprintf("%s.tmp-layer-Ab12Cd\n", want);
	free(want);
	want = sort_lines(got);
	free(got);
	assert_string_equal(s, want);
	free(s);
	got = items_of(&r, IMG_GC_TEMP);
	s = ut_asprintf("%s.tmp-Qw3Er4\n%s/blobs/sha256/.tmp-layer-Ab12Cd\n%s/index.json.tmp-Zz9Yy8\n",
			dir, dir, dir);
	want2 = sort_lines(s);
	assert_string_equal(got, want2);
	free(want2);
	free(s);
	free(got);
	assert_int_equal(tu_sh("test -e '%s' && ! test -e '%s.tmp-Qw3Er4' && ! test -e "
			       "'%s/index.json.tmp-Zz9Yy8'", held_path, dir, dir), 0);
	/* the orphan SBOM left the index, the others stayed */
	assert_int_equal(tu_sh("jq -e '[.manifests[].digest] | sort == ([\"%s\", \"%s\", \"%s\", \"%s\"] | sort)' "
			       "'%s/index.json' >/dev/null",
			       m2.digest, m3.digest, ref2.digest, ref3.digest, dir), 0);
	img_gc_result_release(&r);
	validate(dir, "one");
	validate(dir, "two");
	/* again: nothing left to take */
	assert_int_equal(img_layout_gc(dir, &real, &r, &err), 0);
	assert_int_equal(r.removed_blobs + r.removed_temps + r.dropped_referrers, 0);
	img_gc_result_release(&r);
	close(held);
	free(held_path);
	free(before);
	free(after);
	free(old_set);
	free(now_set);
	free(want);
	free(dir);
	ut_tree_free(base);
	ut_tree_free(top1);
	ut_tree_free(top2);
	ut_tree_free(top3);
	mem_free(&src);
}

/*
 * An image reached only through a nested image index (index.json -> index
 * -> manifest) is kept whole; once the index is no longer listed, it goes
 * with the index blob.
 */
static void test_gc_nested_index(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *base = make_tree(&src, 0), *top1, *top2;
	struct img_descriptor m1, m2;
	struct img_gc_result r;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/nested", tmp), *before, *after, *s, *want, *got, *idx;

	(void)state;
	top1 = one_file_tree(&src, "etc/one", "one\n");
	top2 = one_file_tree(&src, "etc/two", "two\n");
	write_two_layer_image(dir, "one", base, top1, 0, &m1, NULL, NULL);
	write_two_layer_image(dir, "two", base, top2, 0, &m2, NULL, NULL);
	/* an index blob naming two's manifest; index.json lists it (tag multi)
	 * instead of two */
	idx = tu_sh_out("cd '%s' && jq -c '{schemaVersion: 2, mediaType: "
			"\"application/vnd.oci.image.index.v1+json\", manifests: [.manifests[] | "
			"select(.annotations[\"org.opencontainers.image.ref.name\"] == \"two\") | "
			"del(.annotations) | .platform = {architecture: \"amd64\", os: \"linux\"}]}' "
			"index.json > idx && h=$(sha256sum idx | cut -c1-64) && mv idx blobs/sha256/$h && "
			"jq -c --arg h $h --argjson n $(stat -c %%s blobs/sha256/$h) '.manifests |= "
			"map(select(.annotations[\"org.opencontainers.image.ref.name\"] != \"two\")) + "
			"[{mediaType: \"application/vnd.oci.image.index.v1+json\", digest: (\"sha256:\" + $h), "
			"size: $n, annotations: {\"org.opencontainers.image.ref.name\": \"multi\"}}]' "
			"index.json > i && mv i index.json && echo $h",
			dir);
	idx[strcspn(idx, "\n")] = '\0';
	assert_int_equal(strlen(idx), 64);
	before = blob_list(dir);
	assert_int_equal(img_layout_gc(dir, NULL, &r, &err), 0);
	assert_int_equal(r.removed_blobs, 0);
	assert_int_equal(r.manifests, 2);
	img_gc_result_release(&r);
	after = blob_list(dir);
	assert_string_equal(after, before);
	free(after);
	if (tu_have("skopeo"))
		assert_int_equal(tu_sh("skopeo inspect oci:%s:multi | jq -e '.Digest == \"sha256:%s\"' "
				       ">/dev/null", dir, idx), 0);
	/* multi untagged: two's own blobs and the index go */
	s = ut_asprintf("%s", m1.digest + 7);
	got = closure(dir, s);
	free(s);
	s = ut_asprintf("%s", m2.digest + 7);
	want = closure(dir, s);
	free(s);
	s = minus(want, got);
	free(want);
	want = ut_asprintf("%s%s\n", s, idx);
	free(s);
	s = sort_lines(want);
	free(want);
	want = s;
	free(got);
	assert_int_equal(tu_sh("cd '%s' && jq -c '.manifests |= map(select(.annotations[\"org.opencontainers.image.ref.name\"] != \"multi\"))' "
			       "index.json > i && mv i index.json", dir), 0);
	assert_int_equal(img_layout_gc(dir, NULL, &r, &err), 0);
	got = items_of(&r, IMG_GC_BLOB);
	assert_string_equal(got, want);
	img_gc_result_release(&r);
	validate(dir, "one");
	free(got);
	free(want);
	free(before);
	free(idx);
	free(dir);
	ut_tree_free(base);
	ut_tree_free(top1);
	ut_tree_free(top2);
	mem_free(&src);
}

/* A layout gc must refuse: one line naming the culprit, nothing removed. */
static void expect_refused(const char *dir, const char *needle)
{
	struct img_gc_result r;
	struct ut_err err = { "" };
	char *before = tu_sh_out("cd '%s' && find . | LC_ALL=C sort", dir), *after;

	assert_int_equal(img_layout_gc(dir, NULL, &r, &err), -1);
	img_gc_result_release(&r);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not say '%s'", err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
	after = tu_sh_out("cd '%s' && find . | LC_ALL=C sort", dir);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_gc_refuses(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *base = make_tree(&src, 0), *top1, *top2;
	struct img_descriptor m1, m2, tb1;
	char *dir = ut_asprintf("%s/refuse", tmp), *bad = ut_asprintf("%s/refuse-bad", tmp), *s;

	(void)state;
	top1 = one_file_tree(&src, "etc/one", "one\n");
	top2 = one_file_tree(&src, "etc/one", "one v2\n");
	write_two_layer_image(dir, "one", base, top1, 0, &m1, &tb1, NULL);
	write_two_layer_image(dir, "one", base, top2, 0, &m2, NULL, NULL);
	plant_temps(dir); /* garbage to sweep, were gc to go on */

	/* a referenced layer missing */
	assert_int_equal(tu_sh("cp -a '%s' '%s' && rm '%s/blobs/sha256/'$(jq -r '.layers[0].digest' "
			       "'%s/blobs/sha256/%s' | cut -d: -f2)",
			       dir, bad, bad, dir, m2.digest + 7), 0);
	s = ut_asprintf("missing, named by %s/blobs/sha256/%s", bad, m2.digest + 7);
	expect_refused(bad, s);
	free(s);
	/* the tagged manifest does not parse */
	assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && printf '{\"layers\": [' > "
			       "'%s/blobs/sha256/%s'", bad, dir, bad, bad, m2.digest + 7), 0);
	expect_refused(bad, "bad JSON");
	/* a manifest naming a digest gc cannot place */
	assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && jq -c '.manifests[0].digest = "
			       "\"sha512:abc\"' '%s/index.json' > '%s/i' && mv '%s/i' '%s/index.json'",
			       bad, dir, bad, dir, bad, bad, bad), 0);
	expect_refused(bad, "not a sha256 digest");
	/* not a layout at all, though it looks like one inside */
	assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && rm '%s/oci-layout'", bad, dir, bad,
			       bad), 0);
	expect_refused(bad, "not an OCI image layout");
	tu_sh("rm -rf '%s'", bad);
	free(bad);
	free(dir);
	ut_tree_free(base);
	ut_tree_free(top1);
	ut_tree_free(top2);
	mem_free(&src);
}

/*
 * A writer holds the layout (img_layout_open) and has written a layer blob
 * no index names yet: gc with no_wait refuses and keeps it; gc in another
 * process waits until the writer commits and leaves, and the blob, now
 * named, survives.
 */
static void test_gc_waits_for_writer(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *base = make_tree(&src, 0), *top = one_file_tree(&src, "etc/w", "w\n");
	struct img_layer_options lo = { .compress = IMG_COMPRESS_GZIP, .threads = 1 };
	struct img_gc_options nowait = { .no_wait = 1 };
	struct img_descriptor m, old_top, layers[1];
	struct img_layer_result rl;
	struct img_gc_result r;
	struct img_config cfg = { 0 };
	struct img_layout *l = NULL;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/busy", tmp), *blob;
	int status, fds[2], go[2];
	double waited = 0;
	pid_t pid;

	(void)state;
	write_two_layer_image(dir, "old", base, top, 0, &m, &old_top, NULL);
	/* The gc process is forked before the writer opens the layout: a
	 * child would otherwise inherit the writer's locked descriptor and
	 * wait for itself. It starts when told to. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ut_err e = { "" };
		char c;
		int rc;

		alarm(120); /* a deadlock fails the test, not the suite's timeout */
		close(fds[0]);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		rc = img_layout_gc(dir, NULL, &r, &e);
		if (write(fds[1], &r.seconds_waited, sizeof(r.seconds_waited)) < 0)
			_exit(3);
		_exit(rc == 0 ? 0 : 1);
	}
	close(go[0]);
	assert_int_equal(img_layout_open(dir, &l, &err), 0);
	assert_int_equal(img_layer_write_tree(img_layout_blob_dir(l), &lo, top, &rl, &err), 0);
	lo.level = 9; /* another blob of the same tar */
	assert_int_equal(img_layer_write_tree(img_layout_blob_dir(l), &lo, top, &rl, &err), 0);
	assert_string_not_equal(rl.blob.digest, old_top.digest); /* named by no index yet */
	blob = ut_asprintf("%s/blobs/sha256/%s", dir, rl.blob.digest + 7);
	assert_int_equal(access(blob, F_OK), 0);

	assert_int_equal(img_layout_gc(dir, &nowait, &r, &err), -1);
	assert_non_null(strstr(err.msg, "a writer (convert or batch) is using the layout"));
	img_gc_result_release(&r);
	assert_int_equal(access(blob, F_OK), 0);

	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[1]);
	close(fds[1]);
	sleep(1);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting */
	assert_int_equal(access(blob, F_OK), 0);
	cfg.created = 1700000005;
	img_config_set_platform(&cfg, "amd64", "linux");
	img_config_add_layer(&cfg, rl.diff_id, "w", NULL);
	layers[0] = rl.blob;
	assert_int_equal(img_layout_add_image(l, &cfg, layers, 1, "new", NULL, &err), 0);
	assert_int_equal(img_layout_commit(l, &err), 0);
	img_layout_free(l); /* the writer leaves: gc goes on */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(fds[0], &waited, sizeof(waited)), (ssize_t)sizeof(waited));
	close(fds[0]);
	assert_true(waited >= 0.9);
	assert_int_equal(access(blob, F_OK), 0);
	validate(dir, "new");
	validate(dir, "old");
	img_config_release(&cfg);
	free(blob);
	free(dir);
	ut_tree_free(base);
	ut_tree_free(top);
	mem_free(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gc_replaced),
		cmocka_unit_test(test_gc_nested_index),
		cmocka_unit_test(test_gc_refuses),
		cmocka_unit_test(test_gc_waits_for_writer),
	};

	if (!tu_have("jq"))
		tu_skip("jq is needed to compute the reachable set independently");
	return cmocka_run_group_tests(tests, setup, teardown);
}
