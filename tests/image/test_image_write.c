/*
 * test_image_write.c - layers, OCI layouts and docker-archives written by the
 * image module, checked with the real peers: oci-image-tool, skopeo, umoci,
 * tar, zstd, gzip, sha256sum, getfattr.
 */
#include "img_test.h"

#include <locale.h>

static char *tmp;

static int setup(void **state)
{
	tmp = tu_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	if (!getenv("VM2OCI_KEEP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return 0;
}

static char *blob_path(const char *dir, const char *digest)
{
	return ut_asprintf("%s/blobs/sha256/%s", dir, digest + 7);
}

static char *sh_line(const char *cmd)
{
	char *s = tu_sh_out("%s", cmd);
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Every entry kind, in a zstd layer of a fresh layout, through every peer. */
static void test_layer_peers(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 3 << 20);
	struct img_layer_result res;
	struct img_descriptor man;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/peers", tmp), *blob, *s, *cmd, *want, *got, *gz;
	struct img_layer_result gres;
	struct img_descriptor gman;
	size_t i;

	assert_int_equal(write_image(dir, "v1", IMG_COMPRESS_ZSTD, t, &man, &res, &err), 0);
	assert_string_equal(res.blob.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_true(res.content_bytes >= (3u << 20));
	assert_int_equal(tu_sh("test -d '%s' && ! ls -d '%s'.tmp-* 2>/dev/null", dir, dir), 0);

	/* The blob's name is its sha256; the decompressed tar's is the diff_id. */
	blob = blob_path(dir, res.blob.digest);
	cmd = ut_asprintf("sha256sum '%s' | cut -d' ' -f1", blob);
	s = sh_line(cmd);
	assert_string_equal(s, res.blob.digest + 7);
	free(s);
	free(cmd);
	cmd = ut_asprintf("zstd -dc '%s' | sha256sum | cut -d' ' -f1", blob);
	s = sh_line(cmd);
	assert_string_equal(s, res.diff_id + 7);
	free(s);
	free(cmd);
	cmd = ut_asprintf("zstd -dc '%s' | wc -c", blob);
	s = sh_line(cmd);
	assert_int_equal(strtoull(s, NULL, 10), res.tar_bytes);
	free(s);
	free(cmd);

	/* GNU tar reads every entry back. */
	s = tu_sh_out("zstd -dc '%s' | tar -tvf - 2>&1", blob);
	fprintf(stderr, "%s", s);
	assert_non_null(strstr(s, "-rwsr-xr-x 0/0"));
	assert_non_null(strstr(s, "bin/ping"));
	assert_non_null(strstr(s, "bin/sh -> dash"));
	assert_non_null(strstr(s, "1,3 "));
	assert_non_null(strstr(s, "8,0 "));
	assert_non_null(strstr(s, "brw-rw---- 6/6"));
	assert_non_null(strstr(s, "crw-rw-rw- 0/0"));
	assert_non_null(strstr(s, "prw-------"));
	assert_non_null(strstr(s, "link2 link to link1"));
	assert_non_null(strstr(s, "1234/1234"));
	assert_non_null(strstr(s, "file with spaces"));
	assert_null(strstr(s, "PaxHeader"));
	free(s);
	assert_int_equal(res.entries, t->n - 1);

	/* This oci-image-tool and umoci 0.4 predate zstd layers: they check a
	 * gzip twin, whose tar must be the same one. */
	gz = ut_asprintf("%s/peers-gz", tmp);
	assert_int_equal(write_image(gz, "v1", IMG_COMPRESS_GZIP, t, &gman, &gres, &err), 0);
	assert_string_equal(gres.diff_id, res.diff_id);
	if (tu_have("oci-image-tool"))
		assert_int_equal(tu_sh("oci-image-tool validate --type image --ref name=v1 '%s'", gz),
				 0);
	else
		fprintf(stderr, "oci-image-tool missing: validation skipped\n");
	if (tu_have("skopeo") && tu_have("jq")) {
		cmd = ut_asprintf("skopeo inspect oci:%s:v1 | jq -r '.Digest, .Layers[0]'", dir);
		s = sh_line(cmd);
		want = ut_asprintf("%s\n%s", man.digest, res.blob.digest);
		assert_string_equal(s, want);
		free(want);
		free(s);
		free(cmd);
	}

	if (tu_have("umoci") && geteuid() == 0) {
		char *bundle = ut_asprintf("%s/bundle", tmp), *rootfs;

		assert_int_equal(tu_sh("umoci unpack --image '%s:v1' '%s' >/dev/null 2>&1", gz,
				       bundle), 0);
		rootfs = ut_asprintf("%s/rootfs", bundle);
		want = tree_listing(t);
		got = tu_sh_out(FIND_FMT, rootfs);
		show_diff(want, got);
		assert_string_equal(want, got);
		free(want);
		free(got);
		/* Content, byte for byte. */
		for (i = 0; i < t->n; i++) {
			const struct ut_entry *e = &t->v[i];
			unsigned char d[UT_SHA256_LEN], *data;
			char *p;
			size_t len;

			if (e->type != UT_REG)
				continue;
			p = ut_asprintf("%s/%s", rootfs, e->path);
			data = slurp(p, &len);
			assert_non_null(data);
			assert_int_equal(len, e->size);
			ut_sha256_buf(data, len, d);
			assert_memory_equal(d, e->digest, UT_SHA256_LEN);
			free(data);
			free(p);
		}
		/* Devices and xattrs, by their own tools. */
		s = tu_sh_out("cd '%s' && stat -c '%%n %%t:%%T' dev/null dev/sda", rootfs);
		assert_string_equal(s, "dev/null 1:3\ndev/sda 8:0\n");
		free(s);
		s = tu_sh_out("cd '%s' && getfattr -h -d -m - -e hex home/u/xattrs bin/ping 2>&1", rootfs);
		fprintf(stderr, "%s", s);
		assert_non_null(strstr(s, "user.comment=0x68656c6c6f"));
		assert_non_null(strstr(s, "security.capability=0x0100000200200000"));
		free(s);
		/* One inode for the hardlink pair. */
		s = tu_sh_out("cd '%s' && stat -c %%i link1 link2 | uniq | wc -l", rootfs);
		assert_string_equal(s, "1\n");
		free(s);
		free(rootfs);
		free(bundle);
	} else {
		fprintf(stderr, "umoci or root missing: unpack comparison skipped\n");
	}
	free(blob);
	free(dir);
	free(gz);
	ut_tree_free(t);
	mem_free(&src);
}

/* The same entries give the same bytes, in another process too. */
static void test_determinism(void **state)
{
	enum img_compress cs[] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };

	for (size_t k = 0; k < 3; k++) {
		struct mem_src src = { 0 };
		struct ut_tree *t = make_tree(&src, 1 << 20);
		struct img_layer_result r1, r2;
		struct img_descriptor m1, m2;
		struct ut_err err = { "" };
		char *d1 = ut_asprintf("%s/det1-%zu", tmp, k), *d2 = ut_asprintf("%s/det2-%zu", tmp, k);
		char *b1, *b2;
		pid_t pid;
		int st;

		assert_int_equal(write_image(d1, "t", cs[k], t, &m1, &r1, &err), 0);
		/* A child has another pid: pax header names must not carry it. */
		pid = fork();
		if (pid == 0)
			_exit(write_image(d2, "t", cs[k], t, &m2, &r2, &err) ? 1 : 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_int_equal(write_image(d2, "t", cs[k], t, &m2, &r2, &err), 0);
		assert_string_equal(m1.digest, m2.digest);
		/* Nor may the caller's locale change how the UTF-8 name is written. */
		if (setlocale(LC_ALL, "C.UTF-8")) {
			char *d3 = ut_asprintf("%s/det3-%zu", tmp, k);
			struct img_layer_result r3;
			struct img_descriptor m3;

			assert_int_equal(write_image(d3, "t", cs[k], t, &m3, &r3, &err), 0);
			setlocale(LC_ALL, "C");
			assert_string_equal(m1.digest, m3.digest);
			free(d3);
		} else {
			fprintf(stderr, "no C.UTF-8 locale: locale independence not checked\n");
		}
		assert_string_equal(r1.blob.digest, r2.blob.digest);
		b1 = blob_path(d1, r1.blob.digest);
		b2 = blob_path(d2, r2.blob.digest);
		assert_int_equal(tu_sh("cmp -s '%s' '%s'", b1, b2), 0);
		if (cs[k] == IMG_COMPRESS_GZIP) {
			char *cmd = ut_asprintf("gzip -dc '%s' | sha256sum | cut -d' ' -f1", b1);
			char *s = sh_line(cmd);

			assert_string_equal(s, r1.diff_id + 7);
			free(s);
			free(cmd);
			/* Fixed header: mtime 0, OS 255. */
			s = tu_sh_out("od -An -tx1 -N10 '%s' | tr -d ' \\n'", b1);
			assert_string_equal(s, "1f8b08000000000000ff");
			free(s);
		}
		if (cs[k] == IMG_COMPRESS_NONE) {
			assert_int_equal(r1.blob.size, r1.tar_bytes);
			assert_string_equal(r1.blob.digest, r1.diff_id);
		}
		free(b1);
		free(b2);
		free(d1);
		free(d2);
		ut_tree_free(t);
		mem_free(&src);
	}
}

/*
 * Reading ahead changes no byte: the same tree (hardlinks, an empty file, a
 * 3 MiB file over several chunks) written entry by entry in the caller's
 * thread and through img_layer_write_tree's reading thread gives the same
 * blob for every codec; entries added in another order than announced are
 * an error naming the entry, and the writer stops cleanly.
 */
static void test_read_ahead(void **state)
{
	enum img_compress cs[] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 3 << 20);
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/ra", tmp);

	(void)state;
	assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
	for (size_t k = 0; k < 3; k++) {
		struct img_layer_options opt = { .compress = cs[k], .threads = 2 };
		struct img_layer_result direct, ahead;
		struct img_layer_writer *w = NULL;

		assert_int_equal(img_layer_writer_new(dir, &opt, &w, &err), 0);
		for (size_t i = 0; i < t->n; i++)
			assert_int_equal(img_layer_add(w, &t->v[i], &t->content, &err), 0);
		assert_int_equal(img_layer_finish(w, &direct, &err), 0);
		assert_int_equal(img_layer_write_tree(dir, &opt, t, &ahead, &err), 0);
		assert_string_equal(direct.blob.digest, ahead.blob.digest);
		assert_string_equal(direct.diff_id, ahead.diff_id);
		assert_int_equal(direct.content_bytes, ahead.content_bytes);
	}
	{
		struct img_layer_options opt = { .compress = IMG_COMPRESS_ZSTD };
		const struct ut_entry **v = calloc(t->n, sizeof(*v));
		struct img_layer_writer *w = NULL;
		size_t i, first = t->n, second = t->n;
		char *s;

		for (i = 0; i < t->n; i++) {
			v[i] = &t->v[i];
			if (t->v[i].type != UT_REG || !t->v[i].size || t->v[i].link_id)
				continue;
			if (first == t->n)
				first = i;
			else if (second == t->n)
				second = i;
		}
		assert_true(second < t->n);
		assert_int_equal(img_layer_writer_new(dir, &opt, &w, &err), 0);
		assert_int_equal(img_layer_read_ahead(w, v, t->n, &t->content, &err), 0);
		assert_int_equal(img_layer_add(w, &t->v[second], &t->content, &err), -1);
		fprintf(stderr, "expected error: %s\n", err.msg);
		assert_non_null(strstr(err.msg, t->v[second].path));
		assert_non_null(strstr(err.msg, "another order"));
		img_layer_abort(w);
		free(v);
		s = tu_sh_out("ls -A '%s' | grep -c tmp-layer", dir);
		assert_string_equal(s, "0\n");
		free(s);
	}
	free(dir);
	ut_tree_free(t);
	mem_free(&src);
}

/* oci-image-tool refuses a ref whose manifest another ref also names, and
 * zstd layers: validate one tag in a copy whose index lists only it. */
static void validate_tag(const char *dir, const char *tag)
{
	char *copy = ut_asprintf("%s/validate-%s", tmp, tag);

	if (!tu_have("oci-image-tool") || !tu_have("jq")) {
		free(copy);
		tu_skip_case("oci-image-tool or jq missing: the layout is not validated");
	}
	assert_int_equal(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && jq -c '.manifests |= map(select("
			       ".annotations[\"org.opencontainers.image.ref.name\"] == \"%s\"))' "
			       "'%s/index.json' > '%s/index.json'",
			       copy, dir, copy, tag, dir, copy), 0);
	assert_int_equal(tu_sh("oci-image-tool validate --type image --ref name=%s '%s'", tag, copy), 0);
	tu_sh("rm -rf '%s'", copy);
	free(copy);
}

/* Two tags in one layout share blobs; re-adding a tag replaces only it. */
static void test_two_tags(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 0);
	struct img_layer_result r1, r2, r3;
	struct img_descriptor m1, m2, m3;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/tags", tmp), *s, *cmd, *want;

	assert_int_equal(write_image(dir, "a", IMG_COMPRESS_GZIP, t, &m1, &r1, &err), 0);
	img_test_created = 1700000001; /* another config over the same layer */
	assert_int_equal(write_image(dir, "b", IMG_COMPRESS_GZIP, t, &m2, &r2, &err), 0);
	img_test_created = 1700000000;
	assert_string_not_equal(m1.digest, m2.digest);
	assert_string_equal(r1.blob.digest, r2.blob.digest); /* one shared layer blob */
	validate_tag(dir, "a");
	validate_tag(dir, "b");
	assert_int_equal(write_image(dir, "c", IMG_COMPRESS_ZSTD, t, &m3, &r3, &err), 0);
	/* Replace a with the zstd image; b and c stay. */
	assert_int_equal(write_image(dir, "a", IMG_COMPRESS_ZSTD, t, &m1, &r1, &err), 0);
	cmd = ut_asprintf("jq -r '.manifests[] | .annotations[\"org.opencontainers.image.ref.name\"] + \" \" + .digest' '%s/index.json'", dir);
	s = tu_sh_out("%s", cmd);
	want = ut_asprintf("a %s\nb %s\nc %s\n", m3.digest, m2.digest, m3.digest);
	assert_string_equal(s, want);
	free(want);
	free(s);
	free(cmd);
	validate_tag(dir, "b");
	if (tu_have("skopeo")) {
		assert_int_equal(tu_sh("skopeo inspect oci:%s:a >/dev/null", dir), 0);
		assert_int_equal(tu_sh("skopeo inspect oci:%s:b >/dev/null", dir), 0);
		assert_int_equal(tu_sh("skopeo inspect oci:%s:c >/dev/null", dir), 0);
	}
	/* No temporary files left among the blobs. */
	s = tu_sh_out("ls -A '%s/blobs/sha256' | grep -c tmp", dir);
	assert_string_equal(s, "0\n");
	free(s);
	free(dir);
	ut_tree_free(t);
	mem_free(&src);
}

/* Two writers in one layout at once (a batch's workers): neither waits for
 * the other, each commit re-reads index.json and adds its own tag, the
 * manifest carries its annotations, and tag_info reads them back. */
static void test_shared_writers(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 0);
	struct img_layer_result r;
	struct img_descriptor m0, m1, m2;
	struct ut_err err = { "" };
	struct img_layout *l1 = NULL, *l2 = NULL;
	struct img_config cfg = { 0 };
	struct img_tag_info info;
	const char *ann[] = { "org.vm2oci.test.key", "value one" };
	char *dir = ut_asprintf("%s/shared", tmp), *diff, *s, *cmd;
	uint64_t stored;

	assert_int_equal(write_image(dir, "first", IMG_COMPRESS_GZIP, t, &m0, &r, &err), 0);
	assert_int_equal(img_layout_open(dir, &l1, &err), 0);
	assert_int_equal(img_layout_open(dir, &l2, &err), 0); /* not blocked by l1 */
	cfg.created = 1700000002;
	cfg.architecture = strdup("amd64");
	cfg.os = strdup("linux");
	diff = strdup(r.diff_id);
	cfg.diff_ids = &diff;
	cfg.ndiff_ids = 1;
	assert_int_equal(img_layout_add_image_annotated(l1, &cfg, &r.blob, 1, "one", ann, 1, &m1,
							&err), 0);
	cfg.created = 1700000003;
	assert_int_equal(img_layout_add_image(l2, &cfg, &r.blob, 1, "two", &m2, &err), 0);
	assert_int_equal(img_layout_commit(l2, &err), 0);
	assert_int_equal(img_layout_commit(l1, &err), 0); /* keeps l2's "two" */
	cfg.diff_ids = NULL;
	cfg.ndiff_ids = 0;
	free(diff);
	img_config_release(&cfg);
	img_layout_free(l1);
	img_layout_free(l2);
	cmd = ut_asprintf("jq -r '[.manifests[].annotations[\"org.opencontainers.image.ref.name\"]] | join(\",\")' '%s/index.json'", dir);
	s = sh_line(cmd);
	free(cmd);
	assert_string_equal(s, "first,one,two");
	free(s);
	assert_int_equal(img_layout_tag_info(dir, "one", ann[0], &info, &err), 1);
	assert_string_equal(info.manifest.digest, m1.digest);
	assert_string_equal(info.annotation, "value one");
	assert_true(info.image_bytes > r.blob.size + m1.size);
	img_tag_info_release(&info);
	assert_int_equal(img_layout_tag_info(dir, "two", ann[0], &info, &err), 1);
	assert_null(info.annotation);
	img_tag_info_release(&info);
	assert_int_equal(img_layout_tag_info(dir, "three", NULL, &info, &err), 0);
	/* the layer once, three configs, three manifests */
	assert_int_equal(img_layout_blob_bytes(dir, &stored, &err), 0);
	cmd = ut_asprintf("du -cb --apparent-size '%s'/blobs/sha256/* | tail -1 | cut -f1", dir);
	s = sh_line(cmd);
	free(cmd);
	assert_int_equal(stored, strtoull(s, NULL, 10));
	free(s);
	if (tu_have("skopeo"))
		assert_int_equal(tu_sh("skopeo inspect oci:%s:one | jq -e '.Digest == \"%s\"' >/dev/null",
				       dir, m1.digest), 0);
	free(dir);
	ut_tree_free(t);
	mem_free(&src);
}

/* A content source failing midway leaves no output and no temp dir. */
static void test_failure_cleanup(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 2 << 20);
	struct img_layer_result res;
	struct img_descriptor man;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/fail", tmp), *s;

	src.fail_at = 3;
	assert_int_equal(write_image(dir, "t", IMG_COMPRESS_ZSTD, t, &man, &res, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "simulated read error"));
	assert_non_null(strstr(err.msg, ": simulated"));
	s = tu_sh_out("ls -A '%s' | grep -c '^fail'", tmp);
	assert_string_equal(s, "0\n");
	free(s);

	/* A source that yields fewer bytes than the entry's size is an error
	 * naming the path. */
	src.fail_at = 0;
	src.v[0].len = 3; /* bin/ping has 12 bytes */
	assert_int_equal(write_image(dir, "t", IMG_COMPRESS_GZIP, t, &man, &res, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "bin/ping"));
	s = tu_sh_out("ls -A '%s' | grep -c '^fail'", tmp);
	assert_string_equal(s, "0\n");
	free(s);

	/* An existing directory that is not a layout is not written into. */
	{
		struct img_layout *l = NULL;
		char *other = ut_asprintf("%s/not-a-layout", tmp);

		assert_int_equal(tu_sh("mkdir -p '%s' && echo x > '%s/file'", other, other), 0);
		assert_int_equal(img_layout_open(other, &l, &err), -1);
		fprintf(stderr, "expected error: %s\n", err.msg);
		assert_non_null(strstr(err.msg, "not-a-layout"));
		assert_null(l);
		s = tu_sh_out("ls -A '%s'", other);
		assert_string_equal(s, "file\n");
		free(s);
		free(other);
	}

	/* Into an existing layout: the failed layer leaves no temp blob. */
	src.v[0].len = 12;
	assert_int_equal(write_image(dir, "ok", IMG_COMPRESS_ZSTD, t, &man, &res, &err), 0);
	src.fail_at = 2;
	src.opens = 0;
	assert_int_equal(write_image(dir, "bad", IMG_COMPRESS_ZSTD, t, &man, &res, &err), -1);
	s = tu_sh_out("ls -A '%s/blobs/sha256' | grep -c tmp; jq -r '.manifests|length' '%s/index.json'",
		      dir, dir);
	assert_string_equal(s, "0\n1\n");
	free(s);
	free(dir);
	ut_tree_free(t);
	mem_free(&src);
}

/* Whiteouts and opaque markers as umoci applies them. */
static void test_whiteouts(void **state)
{
	struct ut_err err = { "" };
	struct img_layer_writer *w = NULL;
	struct img_layer_options opt = { .compress = IMG_COMPRESS_GZIP };
	struct img_layer_result res;
	char *dir = ut_asprintf("%s/wh", tmp);
	char *s;

	assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
	assert_int_equal(img_layer_writer_new(dir, &opt, &w, &err), 0);
	assert_int_equal(img_layer_add_whiteout(w, "etc/passwd", &err), 0);
	assert_int_equal(img_layer_add_whiteout(w, "top", &err), 0);
	assert_int_equal(img_layer_add_opaque(w, "var/cache", &err), 0);
	assert_int_equal(img_layer_add_whiteout(w, "../x", &err), -1);
	assert_non_null(strstr(err.msg, "../x"));
	assert_int_equal(img_layer_finish(w, &res, &err), 0);
	s = tu_sh_out("gzip -dc '%s/%s' | tar -tvf -", dir, res.blob.digest + 7);
	fprintf(stderr, "%s", s);
	assert_non_null(strstr(s, "-rw-r--r-- 0/0"));
	assert_non_null(strstr(s, " 0 1970-01-01 00:00 etc/.wh.passwd\n"));
	assert_non_null(strstr(s, " .wh.top\n"));
	assert_non_null(strstr(s, " var/cache/.wh..wh..opq\n"));
	free(s);
	free(dir);
}

/* docker-archive from a layout, read back by skopeo. */
static void test_docker_archive(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 1 << 20);
	struct img_layer_result res;
	struct img_descriptor man;
	struct ut_err err = { "" };
	char *dir = ut_asprintf("%s/da", tmp), *file = ut_asprintf("%s/da.tar", tmp), *s, *want;

	assert_int_equal(write_image(dir, "t", IMG_COMPRESS_ZSTD, t, &man, &res, &err), 0);
	assert_int_equal(img_docker_archive_write(dir, "t", file, "vm2oci/test:t", &err), 0);
	s = tu_sh_out("tar -xOf '%s' manifest.json", file);
	want = ut_asprintf("[{\"Config\":\"%s.json\",\"Layers\":[\"%s.tar\"],\"RepoTags\":[\"vm2oci/test:t\"]}]",
			   "", res.diff_id + 7);
	assert_non_null(strstr(s, "\"RepoTags\":[\"vm2oci/test:t\"]"));
	free(s);
	free(want);
	/* The layer inside is the plain tar whose sha256 is the diff_id. */
	{
		char *cmd = ut_asprintf("tar -xOf '%s' '%s.tar' | sha256sum | cut -d' ' -f1", file,
					res.diff_id + 7);

		s = sh_line(cmd);
		assert_string_equal(s, res.diff_id + 7);
		free(s);
		free(cmd);
	}
	if (tu_have("skopeo") && tu_have("jq")) {
		s = tu_sh_out("skopeo inspect docker-archive:%s | jq -r '.RepoTags[0], .Layers[0]'", file);
		want = ut_asprintf("test\n%s\n", res.diff_id);
		/* skopeo reports the layer by its (uncompressed) digest. */
		fprintf(stderr, "skopeo: %s", s);
		assert_non_null(strstr(s, res.diff_id));
		free(want);
		free(s);
	}
	/* skopeo copies it back into an OCI layout with the same diff_ids. */
	if (tu_have("skopeo") && tu_have("jq")) {
		char *back = ut_asprintf("%s/da-back", tmp), *cmd;

		assert_int_equal(tu_sh("skopeo copy -q docker-archive:%s oci:%s:t", file, back), 0);
		cmd = ut_asprintf("skopeo inspect --config oci:%s:t | jq -r '.rootfs.diff_ids[0]'", back);
		s = sh_line(cmd);
		assert_string_equal(s, res.diff_id);
		free(s);
		free(cmd);
		cmd = ut_asprintf("skopeo inspect --config oci:%s:t | jq -r '.created, .architecture'", back);
		s = sh_line(cmd);
		assert_string_equal(s, "2023-11-14T22:13:20Z\namd64");
		free(s);
		free(cmd);
		free(back);
	}
	assert_int_equal(img_docker_archive_write(dir, "nope", file, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "nope"));
	free(dir);
	free(file);
	ut_tree_free(t);
	mem_free(&src);
}

/* Config JSON: canonical, round-trips, and reads real configs. */
static void test_config_json(void **state)
{
	struct img_config c = { 0 }, d = { 0 };
	struct ut_buf a, b;
	struct ut_err err = { "" };
	char *env[] = { "PATH=/usr/bin", "LANG=C.UTF-8" }, *cmd[] = { "/bin/sh", "-c", "x" };
	char *labels[] = { "z=1", "a=b=c" }, *ports[] = { "22/tcp" }, *diffs[] = { "sha256:00" };
	struct img_history h[] = { { "vm2oci", "c", 0 }, { "empty", NULL, 1 } };
	static const char real[] =
		"{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"Env\":[\"PATH=/x\"],"
		"\"Cmd\":[\"bash\"],\"Image\":\"sha256:ab\",\"Volumes\":null,\"WorkingDir\":\"\","
		"\"Entrypoint\":null,\"OnBuild\":null,\"Labels\":{\"k\":\"v\"}},\"container\":\"x\","
		"\"created\":\"2023-11-20T00:00:00.123456789Z\",\"docker_version\":\"20.10\","
		"\"history\":[{\"created\":\"2023-11-20T00:00:00Z\",\"created_by\":\"ADD x /\"},"
		"{\"created_by\":\"CMD bash\",\"empty_layer\":true}],\"os\":\"linux\","
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:aa\"]},\"unknown\":[1,2,{}]}";

	c.architecture = "amd64", c.os = "linux";
	c.env = env, c.nenv = 2;
	c.cmd = cmd, c.ncmd = 3;
	c.working_dir = "/root", c.user = "0:0";
	c.labels_kv = labels, c.nlabels = 2;
	c.exposed_ports = ports, c.nexposed = 1;
	c.diff_ids = diffs, c.ndiff_ids = 1;
	c.history = h, c.nhistory = 2;
	c.created = 1700000000;
	ut_buf_init(&a, 0);
	ut_buf_init(&b, 0);
	assert_int_equal(img_config_to_json(&c, &a, &err), 0);
	fprintf(stderr, "%s\n", a.data);
	assert_string_equal((char *)a.data,
		"{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"x\"],"
		"\"Env\":[\"PATH=/usr/bin\",\"LANG=C.UTF-8\"],\"ExposedPorts\":{\"22/tcp\":{}},"
		"\"Labels\":{\"a\":\"b=c\",\"z\":\"1\"},\"User\":\"0:0\",\"WorkingDir\":\"/root\"},"
		"\"created\":\"2023-11-14T22:13:20Z\",\"history\":[{\"comment\":\"c\","
		"\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"vm2oci\"},"
		"{\"created\":\"2023-11-14T22:13:20Z\",\"created_by\":\"empty\",\"empty_layer\":true}],"
		"\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"sha256:00\"],\"type\":\"layers\"}}");
	assert_int_equal(img_config_from_json((char *)a.data, a.len, &d, &err), 0);
	assert_int_equal(img_config_to_json(&d, &b, &err), 0);
	assert_string_equal(a.data, b.data);
	img_config_release(&d);

	assert_int_equal(img_config_from_json(real, sizeof(real) - 1, &d, &err), 0);
	assert_int_equal(d.created, 1700438400);
	assert_int_equal(d.nenv, 1);
	assert_int_equal(d.nhistory, 2);
	assert_true(d.history[1].empty_layer);
	assert_int_equal(d.nlabels, 1);
	assert_string_equal(d.labels_kv[0], "k=v");
	assert_int_equal(d.ndiff_ids, 1);
	assert_int_equal(d.nentrypoint, 0);
	img_config_release(&d);

	assert_int_equal(img_config_from_json("{\"a\":", 5, &d, &err), -1);
	assert_non_null(strstr(err.msg, "image config"));
	assert_int_equal(img_config_from_json("[1]", 3, &d, &err), -1);
	img_config_release(&d);
	/* Guest strings that are not UTF-8 are a clean error, not bad JSON. */
	{
		char *bad[] = { "X=\xff\xfe" };

		c.env = bad, c.nenv = 1;
		ut_buf_reset(&a);
		assert_int_equal(img_config_to_json(&c, &a, &err), -1);
		assert_non_null(strstr(err.msg, "Env"));
	}
	ut_buf_release(&a);
	ut_buf_release(&b);
}

/* The edits convert makes, through the img_config_* functions. */
static void test_config_edits(void **state)
{
	struct img_config c = { 0 };
	struct ut_buf a;
	struct ut_err err = { "" };

	(void)state;
	c.created = -1;
	img_config_set_platform(&c, "arm64", "linux");
	img_config_set_platform(&c, "amd64", "linux"); /* replaces, no leak */
	img_config_add_cmd(&c, "/sbin/init");
	img_config_add_label(&c, "org.vm2oci.services", "cron.service,ssh.service");
	img_config_add_label(&c, "k", "a=b");
	img_config_add_layer(&c, "sha256:01", "vm2oci: template disk", "the whole tree");
	img_config_add_layer(&c, "sha256:02", "vm2oci convert", NULL);
	assert_int_equal(c.ndiff_ids, 2);
	assert_int_equal(c.nhistory, 2);
	ut_buf_init(&a, 0);
	assert_int_equal(img_config_to_json(&c, &a, &err), 0);
	assert_string_equal((char *)a.data,
		"{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"/sbin/init\"],"
		"\"Labels\":{\"k\":\"a=b\",\"org.vm2oci.services\":\"cron.service,ssh.service\"}},"
		"\"history\":[{\"comment\":\"the whole tree\",\"created_by\":\"vm2oci: template disk\"},"
		"{\"created_by\":\"vm2oci convert\"}],\"os\":\"linux\","
		"\"rootfs\":{\"diff_ids\":[\"sha256:01\",\"sha256:02\"],\"type\":\"layers\"}}");
	ut_buf_release(&a);
	img_config_release(&c);
}

/* The run settings convert --service / --init set, and their round trip. */
static void test_config_run_settings(void **state)
{
	struct img_config c = { 0 }, back;
	struct ut_buf a;
	struct ut_err err = { "" };
	char *argv[] = { "/usr/sbin/apache2", "-DFOREGROUND" };

	(void)state;
	c.created = -1;
	img_config_add_cmd(&c, "bash");
	c.entrypoint = ut_calloc(1, sizeof(char *));
	c.entrypoint[c.nentrypoint++] = ut_strdup("/docker-entrypoint.sh");
	img_config_set_env(&c, "PATH=/usr/bin");
	img_config_set_command(&c, argv, 2); /* the whole command: no entrypoint left */
	img_config_set_user(&c, "webapp:webapp");
	img_config_set_working_dir(&c, "/srv/webapp");
	img_config_set_env(&c, "A=1");
	img_config_set_env(&c, "PATH=/bin"); /* replaces, in place */
	img_config_add_exposed_port(&c, "80/tcp");
	img_config_add_exposed_port(&c, "80/tcp");
	img_config_set_stop_signal(&c, "SIGRTMIN+3");
	ut_buf_init(&a, 0);
	assert_int_equal(img_config_to_json(&c, &a, &err), 0);
	assert_string_equal((char *)a.data,
		"{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"/usr/sbin/apache2\",\"-DFOREGROUND\"],"
		"\"Env\":[\"PATH=/bin\",\"A=1\"],\"ExposedPorts\":{\"80/tcp\":{}},"
		"\"StopSignal\":\"SIGRTMIN+3\",\"User\":\"webapp:webapp\",\"WorkingDir\":\"/srv/webapp\"},"
		"\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[],\"type\":\"layers\"}}");
	assert_int_equal(img_config_from_json((char *)a.data, a.len, &back, &err), 0);
	assert_string_equal(back.stop_signal, "SIGRTMIN+3");
	assert_int_equal(back.nentrypoint, 0);
	img_config_release(&back);
	ut_buf_release(&a);
	img_config_set_stop_signal(&c, NULL);
	assert_null(c.stop_signal);
	img_config_release(&c);
}

/* What the writer writes, the reader reads back: every field of every entry. */
static void test_roundtrip(void **state)
{
	enum img_compress cs[] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };

	for (size_t k = 0; k < 3; k++) {
		struct mem_src src = { 0 };
		struct ut_tree *t = make_tree(&src, 1 << 20), *back = NULL;
		struct img_layer_result res;
		struct img_descriptor man;
		struct ut_err err = { "" };
		struct img_base *b = NULL;
		char *dir = ut_asprintf("%s/rt-%zu", tmp, k), *spec = ut_asprintf("oci:%s:t", dir);

		assert_int_equal(write_image(dir, "t", cs[k], t, &man, &res, &err), 0);
		assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
		if (img_base_tree(b, NULL, &back, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(back->n, t->n);
		for (size_t i = 1; i < t->n; i++) {
			const struct ut_entry *x = &t->v[i], *y = &back->v[i];

			assert_string_equal(x->path, y->path);
			assert_int_equal(x->type, y->type);
			assert_int_equal(x->mode, y->mode);
			assert_int_equal(x->uid, y->uid);
			assert_int_equal(x->gid, y->gid);
			assert_int_equal(x->size, y->size);
			assert_int_equal(x->mtime_sec, y->mtime_sec);
			assert_int_equal(x->mtime_nsec, y->mtime_nsec);
			assert_int_equal(x->rdev_major, y->rdev_major);
			assert_int_equal(x->rdev_minor, y->rdev_minor);
			assert_int_equal(x->nlink, y->nlink);
			assert_int_equal(!!x->link_id, !!y->link_id);
			if (x->link)
				assert_string_equal(x->link, y->link);
			if (x->type == UT_REG)
				assert_memory_equal(x->digest, y->digest, UT_SHA256_LEN);
			assert_int_equal(x->nxattrs, y->nxattrs);
			for (size_t j = 0; j < x->nxattrs; j++) {
				assert_string_equal(x->xattrs[j].name, y->xattrs[j].name);
				assert_int_equal(x->xattrs[j].len, y->xattrs[j].len);
				assert_memory_equal(x->xattrs[j].value, y->xattrs[j].value,
						    x->xattrs[j].len);
			}
		}
		assert_int_equal(ut_tree_find(back, "link1")->link_id,
				 ut_tree_find(back, "link2")->link_id);
		img_base_free(b);
		ut_tree_free(back);
		ut_tree_free(t);
		mem_free(&src);
		free(dir);
		free(spec);
	}
}

/* Corrupted layers (random bytes flipped in the tar or in its gzip) give an
 * error or some tree, never a crash: run under ASan to mean something. */
static void test_corruption(void **state)
{
	struct mem_src src = { 0 };
	struct ut_tree *t = make_tree(&src, 64 << 10);
	enum img_compress cs[] = { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };
	char *blobs = ut_asprintf("%s/corrupt", tmp);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int errors = 0, trees = 0;

	assert_int_equal(tu_sh("mkdir -p '%s'", blobs), 0);
	for (size_t k = 0; k < 3; k++) {
		struct img_layer_result res;
		struct ut_err err = { "" };
		unsigned char *data;
		char *path;
		size_t len;

		assert_int_equal(write_tree_layer(blobs, cs[k], t, &res, &err), 0);
		path = ut_asprintf("%s/%s", blobs, res.blob.digest + 7);
		data = slurp(path, &len);
		assert_non_null(data);
		for (int round = 0; round < 150; round++) {
			unsigned char *bad = malloc(len);
			char *bp = ut_asprintf("%s/bad-%zu-%d", blobs, k, round), *spec;
			struct ut_tree *bt = NULL;
			struct img_base *b = NULL;
			size_t blen = len;
			FILE *f;

			memcpy(bad, data, len);
			for (int flips = 0; flips < 1 + round % 8; flips++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				/* Aim at the headers of a tar: its first 16 KiB. */
				bad[(x >> 8) % (len < 16384 || k ? len : 16384)] ^= (unsigned char)(x | 1);
			}
			if (round % 5 == 4)
				blen = (size_t)(x % len); /* and truncations */
			f = fopen(bp, "wb");
			fwrite(bad, 1, blen, f);
			fclose(f);
			spec = ut_asprintf("rootfs:%s", bp);
			assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
			if (img_base_tree(b, NULL, &bt, &err) < 0) {
				assert_true(err.msg[0]);
				errors++;
			} else {
				assert_string_equal(bt->v[0].path, "");
				trees++;
				ut_tree_free(bt);
			}
			img_base_free(b);
			unlink(bp);
			free(spec);
			free(bp);
			free(bad);
		}
		free(data);
		free(path);
	}
	fprintf(stderr, "corrupted layers: %d errors, %d trees (no crash)\n", errors, trees);
	assert_true(errors > 0);
	free(blobs);
	ut_tree_free(t);
	mem_free(&src);
}

/* Importing a blob from another filesystem copies it, checking its digest. */
static void test_import_copy(void **state)
{
	struct ut_err err = { "" };
	struct img_layout *l = NULL;
	struct img_descriptor d = { .media_type = "application/vnd.oci.image.layer.v1.tar" };
	unsigned char sum[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], *shm, *src, *dir = ut_asprintf("%s/import", tmp), *s;
	static const char data[] = "some layer bytes";
	FILE *f;

	/* tmpfs under /dev/shm is another filesystem than the test's TMPDIR. */
	if (tu_sh("test \"$(stat -c %%d /dev/shm)\" != \"$(stat -c %%d '%s')\"", tmp) != 0) {
		skip();
		return;
	}
	shm = strdup("/dev/shm/vm2oci-import-XXXXXX");
	assert_non_null(mkdtemp(shm));
	src = ut_asprintf("%s/blob", shm);
	f = fopen(src, "wb");
	fwrite(data, 1, sizeof(data) - 1, f);
	fclose(f);
	ut_sha256_buf(data, sizeof(data) - 1, sum);
	ut_hex(sum, UT_SHA256_LEN, hex);
	snprintf(d.digest, sizeof(d.digest), "sha256:%s", hex);
	d.size = sizeof(data) - 1;
	assert_int_equal(img_layout_open(dir, &l, &err), 0);
	assert_int_equal(img_layout_import_blob(l, src, &d, &err), 0);
	s = tu_sh_out("cd '%s' && sha256sum * | cut -d' ' -f1", img_layout_blob_dir(l));
	assert_non_null(strstr(s, hex));
	free(s);
	/* Same size, other bytes: the copy is refused and leaves nothing. */
	d.digest[7] = d.digest[7] == 'a' ? 'b' : 'a';
	assert_int_equal(img_layout_import_blob(l, src, &d, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "expected sha256:"));
	s = tu_sh_out("ls -A '%s' | wc -l", img_layout_blob_dir(l));
	assert_string_equal(s, "1\n");
	free(s);
	img_layout_free(l);
	tu_sh("rm -rf '%s'", shm);
	free(shm);
	free(src);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layer_peers),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_read_ahead),
		cmocka_unit_test(test_two_tags),
		cmocka_unit_test(test_shared_writers),
		cmocka_unit_test(test_failure_cleanup),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_docker_archive),
		cmocka_unit_test(test_config_json),
		cmocka_unit_test(test_config_edits),
		cmocka_unit_test(test_config_run_settings),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_import_copy),
	};

	return cmocka_run_group_tests_name("image: layer writer and layouts", tests, setup, teardown);

}
