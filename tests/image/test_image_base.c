/*
 * test_image_base.c - reading images back as trees: bases made by umoci,
 * skopeo and GNU tar, compared with umoci's own unpacking; whiteouts and
 * opaque directories; docker-archive; rootfs tar and dir; the tree cache;
 * and hostile input.
 */
#include "img_test.h"

static char *tmp;
static char *layout; /* umoci-made layout with tag "base" (1 layer) and "two" (2) */
static char *rootfs; /* the rootfs of "base", unpacked by umoci */

/* A small rootfs with every kind of entry, made by shell tools. */
static void make_rootfs(const char *dir)
{
	assert_int_equal(tu_sh(
		"set -e; cd '%s'; mkdir -p etc usr/bin var/cache/apt dir/sub opq/old home/u dev;"
		" echo root:x:0:0 > etc/passwd; echo hello > etc/motd; printf '' > etc/empty;"
		" head -c 300000 /dev/urandom > usr/bin/prog; chmod 4755 usr/bin/prog;"
		" ln usr/bin/prog usr/bin/prog-hardlink; ln -s prog usr/bin/sym;"
		" echo c > var/cache/apt/pkgcache.bin; echo s > dir/sub/f; echo o > opq/old/f;"
		" echo keep > opq/keep; mkfifo dev/fifo; mknod dev/null c 1 3;"
		" echo u > 'home/u/sp ace'; chown -R 1234:1234 home/u; chmod 0700 home/u;"
		" setfattr -n user.test -v value etc/motd;"
		" touch -d '2023-01-02 03:04:05.123456789' etc/motd",
		dir), 0);
}

static int setup(void **state)
{
	char *bundle, *layer;

	if (!tu_have("umoci") || geteuid() != 0)
		tu_skip("umoci and root are needed to make base images");
	tmp = tu_tmpdir();
	layout = ut_asprintf("%s/layout", tmp);
	bundle = ut_asprintf("%s/bundle", tmp);
	rootfs = ut_asprintf("%s/bundle/rootfs", tmp);
	layer = ut_asprintf("%s/top.tar", tmp);
	assert_int_equal(tu_sh("umoci init --layout '%s' && umoci new --image '%s:base' && "
			       "umoci unpack --image '%s:base' '%s' >/dev/null",
			       layout, layout, layout, bundle), 0);
	make_rootfs(rootfs);
	assert_int_equal(tu_sh("umoci repack --image '%s:base' '%s' >/dev/null", layout, bundle), 0);
	/* A hand-made top layer: a whiteout of a file and of a directory, an
	 * opaque directory with a new child, a replaced file, a new hardlink. */
	assert_int_equal(tu_sh(
		"set -e; d='%s/top'; mkdir -p $d/etc $d/var/cache $d/opq $d/usr/bin;"
		" touch $d/etc/.wh.passwd $d/var/cache/.wh.apt $d/opq/.wh..wh..opq;"
		" echo new > $d/opq/new; echo changed > $d/etc/motd;"
		" tar --numeric-owner --owner=0 --group=0 -C $d -cf '%s' etc var opq;"
		" umoci raw add-layer --image '%s:base' --tag two '%s'",
		tmp, layer, layout, layer), 0);
	free(bundle);
	free(layer);
	return 0;
}

static int teardown(void **state)
{
	if (!getenv("VM2OCI_KEEP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	free(layout);
	free(rootfs);
	return 0;
}

static struct ut_tree *open_tree(const char *spec, const char *cache, struct ut_err *err)
{
	struct img_base *b = NULL;
	struct ut_tree *t = NULL;

	if (img_base_open(spec, NULL, &b, err) == 0 && img_base_tree(b, cache, &t, err) < 0)
		t = NULL;
	img_base_free(b);
	return t;
}

/* Checks every regular file's digest against the file under root. */
static void check_digests(const struct ut_tree *t, const char *root)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ut_entry *e = &t->v[i];
		unsigned char d[UT_SHA256_LEN], *data;
		size_t len;
		char *p;

		if (e->type != UT_REG)
			continue;
		assert_true(e->has_digest);
		p = ut_asprintf("%s/%s", root, e->path);
		data = slurp(p, &len);
		assert_non_null(data);
		ut_sha256_buf(data, len, d);
		assert_memory_equal(d, e->digest, UT_SHA256_LEN);
		free(data);
		free(p);
	}
}

static void compare_with_dir(const struct ut_tree *t, const char *root)
{
	char *want = tu_sh_out(FIND_FMT, root), *got = tree_listing(t);

	show_diff(want, got);
	assert_string_equal(want, got);
	free(want);
	free(got);
	check_digests(t, root);
}

static void test_oci_base(void **state)
{
	struct ut_err err = { "" };
	char *spec = ut_asprintf("oci:%s:base", layout);
	struct ut_tree *t = open_tree(spec, NULL, &err);
	const struct ut_entry *e, *h;
	struct img_base *b = NULL;
	const struct img_base_layer *bl;
	size_t n;

	if (!t)
		fail_msg("%s", err.msg);
	assert_string_equal(t->v[0].path, "");
	assert_int_equal(t->v[0].type, UT_DIR);
	/* umoci's own unpacking of the same image is the reference. */
	{
		char *bundle = ut_asprintf("%s/b1", tmp), *root = ut_asprintf("%s/b1/rootfs", tmp);

		assert_int_equal(tu_sh("umoci unpack --image '%s:base' '%s' >/dev/null", layout,
				       bundle), 0);
		compare_with_dir(t, root);
		free(bundle);
		free(root);
	}
	e = ut_tree_find(t, "usr/bin/prog");
	h = ut_tree_find(t, "usr/bin/prog-hardlink");
	assert_non_null(e);
	assert_non_null(h);
	assert_true(e->link_id && e->link_id == h->link_id);
	assert_int_equal(e->nlink, 2);
	assert_memory_equal(e->digest, h->digest, UT_SHA256_LEN);
	e = ut_tree_find(t, "etc/motd");
	assert_non_null(ut_entry_find_xattr(e, "user.test"));
	assert_int_equal(e->mtime_sec, 1672628645);
	e = ut_tree_find(t, "dev/null");
	assert_int_equal(e->type, UT_CHR);
	assert_int_equal(e->rdev_major, 1);
	assert_int_equal(e->rdev_minor, 3);
	ut_tree_free(t);

	/* Layers and config as skopeo sees them. */
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	bl = img_base_layers(b, &n);
	assert_int_equal(n, 1);
	assert_int_equal(img_base_config(b)->ndiff_ids, 1);
	if (tu_have("skopeo") && tu_have("jq")) {
		char *s = tu_sh_out("skopeo inspect oci:%s:base | jq -r '.Layers[0]'", layout);

		assert_non_null(strstr(s, bl[0].blob.digest));
		free(s);
	}
	img_base_free(b);
	/* Without a tag: two images in the index is ambiguous. */
	free(spec);
	spec = ut_asprintf("oci:%s", layout);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "base"));
	assert_non_null(strstr(err.msg, "two"));
	free(spec);
	spec = ut_asprintf("oci:%s:nope", layout);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), -1);
	assert_non_null(strstr(err.msg, "nope"));
	free(spec);
}

static void test_whiteouts_opaque(void **state)
{
	struct ut_err err = { "" };
	char *spec = ut_asprintf("oci:%s:two", layout), *bundle = ut_asprintf("%s/b2", tmp);
	char *root = ut_asprintf("%s/rootfs", bundle);
	struct ut_tree *t = open_tree(spec, NULL, &err);
	const struct ut_entry *e;

	if (!t)
		fail_msg("%s", err.msg);
	assert_null(ut_tree_find(t, "etc/passwd"));
	assert_null(ut_tree_find(t, "var/cache/apt"));
	assert_null(ut_tree_find(t, "var/cache/apt/pkgcache.bin"));
	assert_non_null(ut_tree_find(t, "var/cache"));
	assert_null(ut_tree_find(t, "opq/old"));
	assert_null(ut_tree_find(t, "opq/old/f"));
	assert_null(ut_tree_find(t, "opq/keep"));
	assert_non_null(ut_tree_find(t, "opq/new"));
	assert_non_null(ut_tree_find(t, "etc/empty"));
	e = ut_tree_find(t, "etc/motd");
	assert_int_equal(e->size, 8);
	assert_null(ut_entry_find_xattr(e, "user.test"));
	/* umoci applies the same layers: the same tree. */
	assert_int_equal(tu_sh("umoci unpack --image '%s:two' '%s' >/dev/null", layout, bundle), 0);
	compare_with_dir(t, root);
	ut_tree_free(t);
	free(spec);
	free(bundle);
	free(root);
}

static void test_docker_archive_base(void **state)
{
	struct ut_err err = { "" };
	char *file = ut_asprintf("%s/two.tar", tmp), *spec, *ospec;
	struct ut_tree *a, *b;
	char *la, *lb;
	struct img_base *base = NULL;
	const struct img_base_layer *bl;
	size_t n;

	if (!tu_have("skopeo"))
		tu_skip_case("skopeo missing");
	assert_int_equal(tu_sh("skopeo copy -q oci:%s:two docker-archive:%s:vm2oci/two:latest",
			       layout, file), 0);
	spec = ut_asprintf("docker-archive:%s", file);
	ospec = ut_asprintf("oci:%s:two", layout);
	a = open_tree(ospec, NULL, &err);
	assert_non_null(a);
	b = open_tree(spec, NULL, &err);
	if (!b)
		fail_msg("%s", err.msg);
	la = tree_listing(a);
	lb = tree_listing(b);
	assert_string_equal(la, lb);
	for (size_t i = 0; i < a->n; i++)
		assert_memory_equal(a->v[i].digest, b->v[i].digest, UT_SHA256_LEN);
	assert_int_equal(img_base_open(spec, NULL, &base, &err), 0);
	bl = img_base_layers(base, &n);
	assert_int_equal(n, 2);
	/* The layer blobs can go into a layout of ours, verified. */
	{
		struct img_layout *l = NULL;
		char *dir = ut_asprintf("%s/imported", tmp);

		assert_int_equal(img_layout_open(dir, &l, &err), 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(img_layout_import_blob(l, bl[i].path, &bl[i].blob, &err), 0);
		assert_int_equal(img_layout_add_image(l, img_base_config(base), &bl[0].blob, 0,
						      "x", NULL, &err), -1); /* diff_ids: 2 */
		{
			struct img_descriptor d[2] = { bl[0].blob, bl[1].blob };

			assert_int_equal(img_layout_add_image(l, img_base_config(base), d, 2, "x",
							      NULL, &err), 0);
		}
		assert_int_equal(img_layout_commit(l, &err), 0);
		img_layout_free(l);
		if (tu_have("skopeo"))
			assert_int_equal(tu_sh("skopeo inspect oci:%s:x >/dev/null", dir), 0);
		free(dir);
	}
	img_base_free(base);
	free(la);
	free(lb);
	ut_tree_free(a);
	ut_tree_free(b);
	free(spec);
	free(ospec);
	free(file);
}

static void test_rootfs(void **state)
{
	struct ut_err err = { "" };
	char *tar = ut_asprintf("%s/rootfs.tar.gz", tmp), *spec;
	struct ut_tree *t, *d;
	struct img_base *b = NULL;
	struct img_layer_result r1, r2;
	char *blobs = ut_asprintf("%s/rootfs-blobs", tmp), *la, *lb;
	struct img_layer_options opt = { .compress = IMG_COMPRESS_GZIP };

	assert_int_equal(tu_sh("tar --xattrs --xattrs-include='*' -C '%s' -czf '%s' .", rootfs, tar), 0);
	spec = ut_asprintf("rootfs:%s", tar);
	t = open_tree(spec, NULL, &err);
	if (!t)
		fail_msg("%s", err.msg);
	compare_with_dir(t, rootfs);
	assert_non_null(ut_entry_find_xattr(ut_tree_find(t, "etc/motd"), "user.test"));
	/* The rootfs as a layer: twice the same digest, and its tree is the tree. */
	assert_int_equal(tu_sh("mkdir -p '%s'", blobs), 0);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	assert_true(img_base_is_rootfs(b));
	if (img_base_rootfs_layer(b, blobs, &opt, &r1, &err) < 0 ||
	    img_base_rootfs_layer(b, blobs, &opt, &r2, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(r1.blob.digest, r2.blob.digest);
	img_base_free(b);
	free(spec);

	spec = ut_asprintf("rootfs:%s", rootfs);
	d = open_tree(spec, NULL, &err);
	if (!d)
		fail_msg("%s", err.msg);
	la = tree_listing(t);
	lb = tree_listing(d);
	assert_string_equal(la, lb);
	free(la);
	free(lb);
	compare_with_dir(d, rootfs);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	if (img_base_rootfs_layer(b, blobs, &opt, &r1, &err) < 0 ||
	    img_base_rootfs_layer(b, blobs, &opt, &r2, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(r1.blob.digest, r2.blob.digest);
	/* Unpacked by GNU tar, the layer is the directory again. */
	{
		char *out = ut_asprintf("%s/rootfs-unpacked", tmp), *want, *got;

		assert_int_equal(tu_sh("mkdir -p '%s' && tar --xattrs --xattrs-include='*' -C '%s' -xzf '%s/%s'",
				       out, out, blobs, r1.blob.digest + 7), 0);
		want = tu_sh_out(FIND_FMT, rootfs);
		got = tu_sh_out(FIND_FMT, out);
		show_diff(want, got);
		assert_string_equal(want, got);
		free(want);
		free(got);
		free(out);
	}
	img_base_free(b);
	ut_tree_free(t);
	ut_tree_free(d);
	free(spec);

	/* A tar that names files only: their directories are implied. */
	assert_int_equal(tu_sh("tar -C '%s' --no-recursion -cf '%s/files-only.tar' usr/bin/prog home/u/'sp ace'",
			       rootfs, tmp), 0);
	spec = ut_asprintf("rootfs:%s/files-only.tar", tmp);
	t = open_tree(spec, NULL, &err);
	if (!t)
		fail_msg("%s", err.msg);
	la = tree_listing(t);
	{
		static const char want[] = "d|home/u|755|0|0\036d|home|755|0|0\036d|usr/bin|755|0|0\036"
					   "d|usr|755|0|0\036f|home/u/sp ace|644|1234|1234|2|1|";

		assert_memory_equal(la, want, sizeof(want) - 1);
		assert_non_null(strstr(la, "\036f|usr/bin/prog|4755|0|0|300000|1|"));
	}
	free(la);
	ut_tree_free(t);
	free(spec);
	free(tar);
	free(blobs);
}

static void test_cache(void **state)
{
	struct ut_err err = { "" };
	char *cache = ut_asprintf("%s/cache", tmp), *spec = ut_asprintf("oci:%s:two", layout);
	struct ut_tree *a, *b, *c;
	char *la, *lb;
	double t0, t1, t2;
	int nfiles;
	char *s;

	assert_int_equal(tu_sh("mkdir -p '%s'", cache), 0);
	t0 = ut_now();
	a = open_tree(spec, cache, &err);
	t1 = ut_now();
	b = open_tree(spec, cache, &err);
	t2 = ut_now();
	assert_non_null(a);
	assert_non_null(b);
	fprintf(stderr, "tree: %.4f s cold, %.4f s from the cache\n", t1 - t0, t2 - t1);
	s = tu_sh_out("ls '%s' | grep -c '\\.tree$'", cache);
	nfiles = atoi(s);
	free(s);
	assert_int_equal(nfiles, 2); /* one per layer prefix */
	la = tree_listing(a);
	lb = tree_listing(b);
	assert_string_equal(la, lb);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->v[i].path, b->v[i].path);
		assert_memory_equal(a->v[i].digest, b->v[i].digest, UT_SHA256_LEN);
		assert_int_equal(a->v[i].nxattrs, b->v[i].nxattrs);
		assert_int_equal(a->v[i].link_id, b->v[i].link_id);
	}
	/* A corrupt cache file is ignored, not trusted. */
	assert_int_equal(tu_sh("for f in '%s'/*.tree; do head -c 100 \"$f\" > \"$f.x\" && mv \"$f.x\" \"$f\"; done",
			       cache), 0);
	c = open_tree(spec, cache, &err);
	assert_non_null(c);
	free(lb);
	lb = tree_listing(c);
	assert_string_equal(la, lb);
	free(la);
	free(lb);
	ut_tree_free(a);
	ut_tree_free(b);
	ut_tree_free(c);
	free(cache);
	free(spec);
}

/* An index of indexes (one level) and a multi-platform index: linux/amd64
 * is picked; a layout with one image needs no tag. */
static void test_multi_platform(void **state)
{
	struct ut_err err = { "" };
	char *mp = ut_asprintf("%s/multi", tmp), *flat = ut_asprintf("%s/flat", tmp), *spec;
	struct ut_tree *want, *t;
	char *lw, *lt;

	if (!tu_have("jq"))
		tu_skip_case("jq missing");
	{
		const char *src = getenv("VM2OCI_SOURCE_DIR");
		char *script = src ? ut_asprintf("%s/tests/image/make_multi.sh", src)
				   : ut_asprintf("%.*s/make_multi.sh",
						 (int)ut_path_parent_len(__FILE__), __FILE__);

		assert_int_equal(tu_sh("sh '%s' '%s' '%s' '%s'", script, layout, mp, flat), 0);
		free(script);
	}
	spec = ut_asprintf("oci:%s:base", layout);
	want = open_tree(spec, NULL, &err);
	assert_non_null(want);
	lw = tree_listing(want);
	free(spec);
	const char *specs[] = { "oci:%s:multi", "oci:%s" };
	for (size_t k = 0; k < 2; k++) {
		spec = ut_asprintf(specs[k], mp);
		t = open_tree(spec, NULL, &err);
		if (!t)
			fail_msg("%s: %s", spec, err.msg);
		lt = tree_listing(t);
		assert_string_equal(lw, lt);
		free(lt);
		ut_tree_free(t);
		free(spec);
	}
	spec = ut_asprintf("oci:%s", flat);
	t = open_tree(spec, NULL, &err);
	if (!t)
		fail_msg("%s: %s", spec, err.msg);
	lt = tree_listing(t);
	assert_string_equal(lw, lt);
	free(lt);
	ut_tree_free(t);
	free(spec);
	free(lw);
	ut_tree_free(want);
	free(mp);
	free(flat);
}

/* A hostile or broken input must give a clean error naming it. */
static void expect_error(const char *spec, const char *needle)
{
	struct ut_err err = { "" };
	struct ut_tree *t = open_tree(spec, NULL, &err);

	if (t)
		fail_msg("%s: accepted", spec);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_true(err.msg[0]);
	if (needle)
		assert_non_null(strstr(err.msg, needle));
}

static void test_hostile(void **state)
{
	char *h = ut_asprintf("%s/hostile", tmp), *spec, *bad;
	static const char *py =
		"import tarfile, io, sys\n"
		"def mk(path, members):\n"
		"    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as t:\n"
		"        for name, kind, target in members:\n"
		"            ti = tarfile.TarInfo(name)\n"
		"            if kind == 'l':\n"
		"                ti.type = tarfile.LNKTYPE; ti.linkname = target; t.addfile(ti)\n"
		"            else:\n"
		"                data = b'x'; ti.size = 1; t.addfile(ti, io.BytesIO(data))\n"
		"d = sys.argv[1]\n"
		"mk(d + '/dotdot.tar', [('ok', 'f', ''), ('../x', 'f', '')])\n"
		"mk(d + '/mid.tar', [('a/../../x', 'f', '')])\n"
		"mk(d + '/abs.tar', [('/abs', 'f', '')])\n"
		"mk(d + '/link.tar', [('a', 'l', 'missing')])\n"
		"mk(d + '/linkout.tar', [('a', 'l', '../../etc/passwd')])\n";
	FILE *f;

	if (!tu_have("python3"))
		tu_skip_case("python3 missing (makes hostile tars)");
	assert_int_equal(tu_sh("mkdir -p '%s'", h), 0);
	bad = ut_asprintf("%s/mk.py", h);
	f = fopen(bad, "w");
	fputs(py, f);
	fclose(f);
	assert_int_equal(tu_sh("python3 '%s' '%s'", bad, h), 0);
	free(bad);
#define RFS(name, needle)                                           \
	do {                                                        \
		spec = ut_asprintf("rootfs:%s/%s", h, name);        \
		expect_error(spec, needle);                         \
		free(spec);                                         \
	} while (0)
	RFS("dotdot.tar", "..");
	RFS("mid.tar", "..");
	RFS("abs.tar", "absolute");
	RFS("link.tar", "missing");
	RFS("linkout.tar", "..");
	/* Truncated and corrupt compressed layers. */
	assert_int_equal(tu_sh("cd '%s' && tar -C '%s' -czf full.tar.gz . && head -c 20000 full.tar.gz > trunc.tar.gz"
			       " && printf '\\037\\213\\010\\000garbage-garbage-garbage' > bad.tar.gz"
			       " && tar -C '%s' -cf full.tar . && head -c 150000 full.tar > trunc.tar",
			       h, rootfs, rootfs), 0);
	RFS("trunc.tar.gz", "trunc.tar.gz");
	RFS("bad.tar.gz", "bad.tar.gz");
	RFS("trunc.tar", "trunc.tar");

	/* Broken layouts: a missing blob, index.json garbage, a blob that lies. */
	assert_int_equal(tu_sh("cd '%s' && cp -a '%s' missing && cp -a '%s' garbage && cp -a '%s' lies"
			       " && cp -a '%s' badlayer"
			       " && m=$(jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"]==\"two\") | .digest' missing/index.json | cut -d: -f2)"
			       " && l=$(jq -r '.layers[1].digest' missing/blobs/sha256/$m | cut -d: -f2)"
			       " && rm missing/blobs/sha256/$l"
			       " && echo '{\"manifests\": [garbage' > garbage/index.json"
			       " && echo tampered >> lies/blobs/sha256/$m"
			       " && l0=$(jq -r '.layers[0].digest' badlayer/blobs/sha256/$m | cut -d: -f2)"
			       " && s=$(stat -c %%s badlayer/blobs/sha256/$l0)"
			       " && rm badlayer/blobs/sha256/$l0 && head -c $s /dev/zero > badlayer/blobs/sha256/$l0",
			       h, layout, layout, layout, layout), 0);
	spec = ut_asprintf("oci:%s/missing:two", h);
	expect_error(spec, "missing blob");
	free(spec);
	spec = ut_asprintf("oci:%s/garbage:two", h);
	expect_error(spec, "index.json");
	free(spec);
	spec = ut_asprintf("oci:%s/lies:two", h);
	expect_error(spec, "does not match");
	free(spec);
	spec = ut_asprintf("oci:%s/badlayer:two", h);
	expect_error(spec, "layer 1");
	free(spec);
	expect_error("oci:/nonexistent/dir:tag", "nonexistent");
	expect_error("docker-archive:/nonexistent.tar", "nonexistent");
	spec = ut_asprintf("docker-archive:%s/full.tar", h);
	expect_error(spec, "manifest.json");
	free(spec);
	expect_error("nonsense:x", "unknown base");
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_base),
		cmocka_unit_test(test_whiteouts_opaque),
		cmocka_unit_test(test_docker_archive_base),
		cmocka_unit_test(test_rootfs),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_multi_platform),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests_name("image: base readers against umoci and skopeo",
					  tests, setup, teardown);
}
