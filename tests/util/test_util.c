/* Tests of util/: buffers with caps, errors, sha256, sorted trees, guest
 * path resolution (against the kernel's openat2 RESOLVE_IN_ROOT), content
 * streaming, rm -rf, sizes for people. */
#include "testutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

static void test_buf_cap(void **state)
{
	struct ut_buf b;
	struct ut_err err = { { 0 } };

	(void)state;
	ut_buf_init(&b, 8);
	assert_int_equal(ut_buf_add(&b, "12345678", 8, &err), 0);
	assert_int_equal(ut_buf_add(&b, "9", 1, &err), -1);
	assert_non_null(strstr(err.msg, "8-byte limit"));
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.data, "12345678");
	ut_buf_release(&b);
}

static void test_err_prefix(void **state)
{
	struct ut_err err;

	(void)state;
	assert_int_equal(ut_err_set(&err, "bad magic %d", 7), -1);
	ut_err_prefix(&err, "%s: ", "disk.qcow2");
	assert_string_equal(err.msg, "disk.qcow2: bad magic 7");
}

static void test_json_string(void **state)
{
	struct ut_buf b;

	(void)state;
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_json_string(&b, "a\"b\\c\nd\x01", NULL), 0);
	assert_string_equal((char *)b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
	ut_buf_release(&b);
}

static void test_sha256(void **state)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];

	(void)state;
	ut_sha256_buf("abc", 3, d);
	ut_hex(d, sizeof(d), hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_tree_sort_and_replace(void **state)
{
	struct ut_tree *t = ut_tree_new();

	(void)state;
	ut_tree_add(t, "etc/x")->size = 1;
	ut_tree_add(t, "etc.bak")->size = 2;
	ut_tree_add(t, "etc")->type = UT_DIR;
	ut_tree_add(t, "")->type = UT_DIR;
	ut_tree_add(t, "etc/x")->size = 3; /* a later layer replaces */
	assert_false(t->sorted);
	ut_tree_sort(t);
	assert_int_equal(t->n, 4);
	assert_string_equal(t->v[0].path, "");
	assert_string_equal(t->v[1].path, "etc");
	assert_string_equal(t->v[2].path, "etc.bak");
	assert_string_equal(t->v[3].path, "etc/x");
	assert_int_equal(ut_tree_find(t, "etc/x")->size, 3);
	assert_null(ut_tree_find(t, "etc/y"));

	ut_tree_remove(t, "etc");
	assert_int_equal(t->n, 2);
	assert_non_null(ut_tree_find(t, "etc.bak"));
	assert_null(ut_tree_find(t, "etc/x"));
	ut_tree_free(t);
}

static void test_path_helpers(void **state)
{
	(void)state;
	assert_true(ut_path_is_under("etc/x", "etc"));
	assert_true(ut_path_is_under("etc", "etc"));
	assert_false(ut_path_is_under("etc.bak", "etc"));
	assert_false(ut_path_is_under("etcx/y", "etc"));
	assert_true(ut_path_is_under("anything", ""));
	assert_string_equal(ut_path_base("a/b/c"), "c");
	assert_int_equal(ut_path_parent_len("a/b/c"), 3);
	assert_int_equal(ut_path_parent_len("a"), 0);
}

static void test_link_counts(void **state)
{
	struct ut_tree *t = ut_tree_new();

	(void)state;
	ut_tree_add(t, "a")->link_id = 5;
	ut_tree_add(t, "b")->link_id = 5;
	ut_tree_add(t, "c")->link_id = 6;
	for (size_t i = 0; i < t->n; i++)
		t->v[i].type = UT_REG;
	ut_tree_count_links(t);
	assert_int_equal(t->v[0].nlink, 2);
	assert_int_equal(t->v[1].nlink, 2);
	assert_int_equal(t->v[2].nlink, 1);
	ut_tree_free(t);
}

/* ---- guest paths: ut_guest_resolve against the kernel -------------------- */

struct host_root {
	int fd;
};

static int host_lookup(void *ctx, const char *rel, enum ut_ftype *type, char **link,
		       struct ut_err *err)
{
	struct host_root *r = ctx;
	struct stat st;

	if (fstatat(r->fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : ut_err_set(err, "%s", rel);
	*type = S_ISDIR(st.st_mode) ? UT_DIR : S_ISLNK(st.st_mode) ? UT_LNK : UT_REG;
	if (*type == UT_LNK) {
		char t[4096];
		ssize_t n = readlinkat(r->fd, rel, t, sizeof(t) - 1);

		if (n < 0)
			return ut_err_set(err, "%s: readlink", rel);
		*link = ut_strndup(t, (size_t)n);
	}
	return 1;
}

/* The kernel's answer: openat2 with RESOLVE_IN_ROOT treats root as "/" for
 * absolute links and "..", as a guest would. 1 with the path relative to
 * root, 0 missing, -1 ELOOP, -2 when the kernel lacks openat2. */
static int kernel_resolve(int rootfd, const char *root, const char *path, char **out)
{
	struct open_how how = { .flags = O_PATH, .resolve = RESOLVE_IN_ROOT };
	char proc[64], got[4096];
	long fd = syscall(SYS_openat2, rootfd, path[0] ? path : ".", &how, sizeof(how));
	ssize_t n;
	size_t rl = strlen(root);

	if (fd < 0)
		return errno == ENOSYS ? -2 : errno == ELOOP ? -1 : 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%ld", fd);
	n = readlink(proc, got, sizeof(got) - 1);
	close((int)fd);
	assert_true(n > 0);
	got[n] = '\0';
	assert_memory_equal(got, root, rl);
	*out = ut_strdup(got[rl] == '/' ? got + rl + 1 : got + rl);
	return 1;
}

static void test_guest_resolve(void **state)
{
	static const char *const paths[] = {
		"", "/", ".", "..", "etc", "etc/os-release", "/etc//os-release/", "lnk/os-release",
		"abs", "up/os-release", "../../etc/os-release", "etc/../etc/./os-release",
		"chain", "dangling", "loop1", "etc/os-release/x", "missing/x", "dirlink/..",
		"rel/deeper/f", "self/self/self/etc",
	};
	char *tmp = tu_tmpdir(), *root = realpath(tmp, NULL);
	struct host_root r;
	size_t i;

	(void)state;
	assert_int_equal(tu_sh("cd '%s' && mkdir -p etc a/b/deeper && echo x > etc/os-release && "
			       "echo f > a/b/deeper/f && ln -s etc lnk && "
			       "ln -s /etc/os-release abs && ln -s ../../../etc a/b/up && "
			       "ln -s a/b/up up && ln -s abs chain && ln -s nowhere dangling && "
			       "ln -s loop2 loop1 && ln -s loop1 loop2 && ln -s /a/b dirlink && "
			       "ln -s a/b rel && ln -s . self", root), 0);
	r.fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(r.fd >= 0);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct ut_err err = { { 0 } };
		char *ours = NULL, *kernel = NULL;
		int rc = ut_guest_resolve(paths[i], host_lookup, &r, &ours, &err);
		int k = kernel_resolve(r.fd, root, paths[i], &kernel);

		if (k == -2) {
			free(ours);
			close(r.fd);
			skip(); /* no openat2 here: no oracle */
		}
		if (k == -1) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err.msg, "too many levels"));
		} else {
			if (rc != k)
				fail_msg("%s: ours %d, kernel %d", paths[i], rc, k);
			if (k == 1 && strcmp(ours, kernel))
				fail_msg("%s: ours \"%s\", kernel \"%s\"", paths[i], ours, kernel);
		}
		free(ours);
		free(kernel);
	}
	close(r.fd);
	tu_sh("rm -rf '%s'", root);
	free(root);
	free(tmp);
}

/* ---- content streaming --------------------------------------------------- */

struct mem_file {
	const char *data;
	size_t len, pos, step;
};

static int mem_open(void *ctx, const struct ut_entry *e, void **h, struct ut_err *err)
{
	struct mem_file *f = ctx;

	f->pos = 0;
	*h = f;
	return 0;
}

static ssize_t mem_read(void *ctx, void *h, void *buf, size_t len, struct ut_err *err)
{
	struct mem_file *f = h;
	size_t n = f->len - f->pos;

	if (n > len)
		n = len;
	if (n > f->step)
		n = f->step;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static int closed;

static void mem_close(void *ctx, void *h)
{
	closed++;
}

static const struct ut_content_ops mem_ops = { mem_open, mem_read, mem_close };

static int count_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	(*(size_t *)ctx)++;
	return 0;
}

/* ut_tree_resolve / _list_dir: a merged-/usr guest (lib -> usr/lib), a leaf
 * link taken as itself or followed, an absolute link that stays in the tree. */
static void test_tree_resolve(void **state)
{
	struct ut_tree *t = ut_tree_new();
	const struct ut_entry *e;
	struct ut_err err = { { 0 } };
	char **names;
	size_t n;
	static const struct { const char *path; enum ut_ftype type; const char *link; } v[] = {
		{ "", UT_DIR, NULL }, { "etc", UT_DIR, NULL }, { "lib", UT_LNK, "usr/lib" },
		{ "usr", UT_DIR, NULL }, { "usr/lib", UT_DIR, NULL }, { "usr/lib/a.service", UT_REG, NULL },
		{ "usr/lib/b.service", UT_LNK, "/lib/a.service" }, { "etc/masked", UT_LNK, "/dev/null" },
		{ "etc/up", UT_LNK, "../../../../usr/lib" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ut_entry *x = ut_tree_add(t, v[i].path);

		x->type = (uint8_t)v[i].type;
		if (v[i].link)
			x->link = ut_strdup(v[i].link);
	}
	ut_tree_sort(t);
	e = ut_tree_resolve(t, "/lib/b.service", 0, &err);
	assert_non_null(e);
	assert_string_equal(e->path, "usr/lib/b.service");
	assert_int_equal(e->type, UT_LNK);
	e = ut_tree_resolve(t, "lib/b.service", 1, &err);
	assert_string_equal(e->path, "usr/lib/a.service");
	e = ut_tree_resolve(t, "/etc/masked", 0, &err);
	assert_string_equal(e->link, "/dev/null");
	assert_null(ut_tree_resolve(t, "/etc/masked", 1, &err)); /* no /dev in the tree */
	e = ut_tree_resolve(t, "lib", 0, NULL);
	assert_int_equal(e->type, UT_LNK);
	e = ut_tree_resolve(t, "lib/", 0, NULL); /* a trailing slash follows it (lstat(2)) */
	assert_string_equal(e->path, "usr/lib");
	assert_int_equal(ut_tree_list_dir(t, "etc/up", &names, &n, &err), 1);
	assert_int_equal(n, 2);
	ut_strv_free(names, n);
	assert_int_equal(ut_tree_list_dir(t, "nope", &names, &n, &err), 0);
	assert_int_equal(ut_tree_list_dir(t, "lib/a.service", &names, &n, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
	ut_tree_free(t);
}

static void test_content_stream(void **state)
{
	struct mem_file f = { "hello, content", 14, 0, 4 };
	struct ut_content src = { &mem_ops, &f };
	struct ut_entry e = { .path = "f", .type = UT_REG, .size = 14 };
	struct ut_err err = { { 0 } };
	struct ut_buf b;
	unsigned char buf[8];
	size_t chunks = 0;

	(void)state;
	closed = 0;
	assert_int_equal(ut_content_stream(&src, &e, buf, sizeof(buf), count_chunk, &chunks, &err), 0);
	assert_int_equal(chunks, 4); /* 4+4+4+2: the source's step bounds a chunk */
	ut_buf_init(&b, 0);
	assert_int_equal(ut_content_read_all(&src, &e, &b, &err), 0);
	assert_string_equal((char *)b.data, "hello, content");
	ut_buf_release(&b);
	/* The content is longer than the entry says: stopped before fn. */
	e.size = 5;
	assert_int_equal(ut_content_stream(&src, &e, buf, sizeof(buf), count_chunk, &chunks, &err), -1);
	assert_non_null(strstr(err.msg, "longer than its size 5"));
	/* Shorter. */
	e.size = 20;
	assert_int_equal(ut_content_stream(&src, &e, buf, sizeof(buf), count_chunk, &chunks, &err), -1);
	assert_non_null(strstr(err.msg, "read 14 bytes, expected 20"));
	/* A cap on the buffer: the file is named. */
	e.size = 14;
	ut_buf_init(&b, 10);
	assert_int_equal(ut_content_read_all(&src, &e, &b, &err), -1);
	assert_non_null(strstr(err.msg, "/f: "));
	ut_buf_release(&b);
	assert_int_equal(closed, 5); /* every open closed, failures too */
	/* No source at all. */
	src.ops = NULL;
	assert_int_equal(ut_content_stream(&src, &e, buf, sizeof(buf), count_chunk, &chunks, &err), -1);
	assert_non_null(strstr(err.msg, "no content source"));
}

/* ---- host helpers -------------------------------------------------------- */

static void test_rm_rf(void **state)
{
	char *tmp = tu_tmpdir();
	struct stat st;
	struct ut_buf b;

	(void)state;
	assert_int_equal(tu_sh("cd '%s' && mkdir -p keep victim/a/b && echo k > keep/k && "
			       "echo v > victim/a/b/v && ln -s ../keep victim/a/out && "
			       "mkfifo victim/fifo && chmod 0 victim/a/b/v", tmp), 0);
	ut_buf_init(&b, 0);
	b.data = (unsigned char *)ut_asprintf("%s/victim", tmp);
	ut_rm_rf((char *)b.data);
	assert_int_equal(lstat((char *)b.data, &st), -1);
	free(b.data);
	/* The link was removed, not followed. */
	b.data = (unsigned char *)ut_asprintf("%s/keep/k", tmp);
	assert_int_equal(stat((char *)b.data, &st), 0);
	free(b.data);
	ut_rm_rf("/nonexistent/vm2oci-test"); /* nothing there: no crash */
	ut_rm_rf(tmp);
	assert_int_equal(lstat(tmp, &st), -1);
	free(tmp);
}

static void test_human_size(void **state)
{
	static const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1048576, "1.00 MiB" },
		{ 12940000, "12.34 MiB" },
		{ 1288490189, "1.20 GiB" },
		{ 3ull << 40, "3.00 TiB" },
	};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(ut_human_size(cases[i].n, out, sizeof(out)), cases[i].want);
}

static void test_read_fd(void **state)
{
	char *tmp = tu_tmpdir(), *p = ut_asprintf("%s/f", tmp);
	struct ut_err err = { { 0 } };
	struct ut_buf b;
	int fd;

	(void)state;
	assert_int_equal(tu_sh("head -c 200000 /dev/urandom > '%s/f'", tmp), 0);
	fd = open(p, O_RDONLY);
	ut_buf_init(&b, 0);
	assert_int_equal(ut_read_fd(fd, "f", &b, &err), 0);
	assert_int_equal(b.len, 200000);
	close(fd);
	ut_buf_release(&b);
	fd = open(p, O_RDONLY);
	ut_buf_init(&b, 1000);
	assert_int_equal(ut_read_fd(fd, "f", &b, &err), -1);
	assert_non_null(strstr(err.msg, "f: "));
	close(fd);
	ut_buf_release(&b);
	ut_rm_rf(tmp);
	free(p);
	free(tmp);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(ut_utf8_valid("plain ascii"));
	assert_true(ut_utf8_valid("non-ascii-\xc3\xa9-\xe6\x96\x87\xe4\xbb\xb6"));
	assert_true(ut_utf8_valid("\xf0\x9f\x98\x80")); /* U+1F600 */
	assert_false(ut_utf8_valid("bad\xff"));
	assert_false(ut_utf8_valid("\xc0\xaf"));         /* overlong '/' */
	assert_false(ut_utf8_valid("\xe0\x80\xaf"));     /* overlong, 3 bytes */
	assert_false(ut_utf8_valid("\xed\xa0\x80"));     /* surrogate U+D800 */
	assert_false(ut_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	assert_false(ut_utf8_valid("\xe6\x96"));         /* cut short by the NUL */
	assert_false(ut_utf8_valid("\x80"));
}

static void test_escape_name(void **state)
{
	struct ut_buf b;
	char *e;

	(void)state;
	e = ut_escape_name("esc\x1b[31mred\rcr\nlf\ttab\\bs \xc3\xa9\xff\x7f");
	assert_string_equal(e, "esc\\x1b[31mred\\rcr\\nlf\\ttab\\\\bs \xc3\xa9\\xff\\x7f");
	assert_true(ut_utf8_valid(e));
	free(e);
	/* Without UT_ESC_BACKSLASH a backslash stays one (error lines). */
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_escaped(&b, "a\\b\n", 0, NULL), 0);
	assert_string_equal((char *)b.data, "a\\b\\n");
	ut_buf_release(&b);
	/* JSON strings stay valid UTF-8: a stray byte becomes the text \xHH. */
	ut_buf_init(&b, 0);
	assert_int_equal(ut_buf_add_json_string(&b, "a\xff\xc3\xa9", NULL), 0);
	assert_string_equal((char *)b.data, "\"a\\\\xff\xc3\xa9\"");
	ut_buf_release(&b);
}

static void test_whiteout_names(void **state)
{
	static const char *const same[] = { "etc/passwd", "a.wh.b", "x/wh.y", "x/.whx", "" };
	static const struct { const char *in, *out; } esc[] = {
		{ ".wh.evil", ".vm2oci-esc..wh.evil" },
		{ "x/.wh.y", "x/.vm2oci-esc..wh.y" },
		{ "o/.wh..wh..opq", "o/.vm2oci-esc..wh..wh..opq" },
		{ ".wh.d/.wh.e/f", ".vm2oci-esc..wh.d/.vm2oci-esc..wh.e/f" },
		/* Escaping the escape keeps the map one-to-one. */
		{ "y/.vm2oci-esc.z", "y/.vm2oci-esc..vm2oci-esc.z" },
		{ ".vm2oci-esc..wh.evil", ".vm2oci-esc..vm2oci-esc..wh.evil" },
	};
	struct ut_tree *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_null(ut_path_whiteout_component(same[i]));
		assert_null(ut_path_escape_whiteouts(same[i]));
	}
	assert_string_equal(ut_path_whiteout_component("x/.wh.y/z"), ".wh.y/z");
	for (i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		char *o = ut_path_escape_whiteouts(esc[i].in);

		assert_non_null(o);
		assert_string_equal(o, esc[i].out);
		assert_null(ut_path_whiteout_component(o));
		free(o);
	}
	/* A renamed tree is sorted again and keeps every entry. */
	t = ut_tree_new();
	ut_tree_add(t, "a");
	ut_tree_add(t, ".wh.b");
	ut_tree_add(t, ".wh.b/c");
	ut_tree_add(t, "z");
	ut_tree_sort(t);
	assert_int_equal(ut_tree_escape_whiteouts(t), 2);
	assert_int_equal(t->n, 4);
	assert_non_null(ut_tree_find(t, ".vm2oci-esc..wh.b/c"));
	for (i = 1; i < t->n; i++)
		assert_true(strcmp(t->v[i - 1].path, t->v[i].path) < 0);
	ut_tree_free(t);
}

/* The arena and the in-place sort: taken entries in a scrambled order with
 * duplicates come out sorted, the later duplicate kept, paths intact. */
static void test_tree_sort_arena(void **state)
{
	struct ut_tree *t = ut_tree_new();
	const size_t n = 3000;
	size_t i;

	(void)state;
	for (i = 0; i < n; i++) {
		struct ut_entry e = { 0 };
		size_t k = (i * 7919) % 1000; /* each of 1000 paths three times */

		e.path = ut_asprintf("d%zu/f%04zu", k % 7, k);
		e.size = i;
		ut_tree_take(t, &e);
		assert_null(e.path);
	}
	ut_tree_add(t, "")->type = UT_DIR;
	ut_tree_sort(t);
	assert_int_equal(t->n, 1001);
	assert_string_equal(t->v[0].path, "");
	for (i = 1; i < t->n; i++) {
		size_t k = strtoul(strchr(t->v[i].path, 'f') + 1, NULL, 10);

		assert_true(strcmp(t->v[i - 1].path, t->v[i].path) < 0);
		assert_true(t->v[i].path_in_tree);
		/* The last of the three takes of path k: i = k*...; it is the
		 * largest i with (i * 7919) % 1000 == k. */
		assert_int_equal((t->v[i].size * 7919) % 1000, k);
		assert_true(t->v[i].size >= 2000);
	}
	ut_tree_rename(t, &t->v[1], "zz/renamed");
	ut_tree_sort(t);
	assert_string_equal(t->v[t->n - 1].path, "zz/renamed");
	ut_tree_free(t);
}

/* A tree through a file and back: every field, src_a/src_b and digests
 * included; a truncated file is refused. */
static void test_tree_file(void **state)
{
	struct ut_tree *t = ut_tree_new(), *back = NULL;
	struct ut_err err = { { 0 } };
	struct ut_entry *e;
	char dir[] = "/tmp/ut-tree-XXXXXX", path[64], cmd[128];
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t", dir);
	ut_tree_add(t, "")->type = UT_DIR;
	e = ut_tree_add(t, "etc/passwd");
	e->type = UT_REG;
	e->size = 1234;
	e->mode = 0644;
	e->uid = 7;
	e->gid = 8;
	e->mtime_sec = -5;
	e->mtime_nsec = 999999999;
	e->link_id = (1ull << 48) | 42;
	e->src_a = 3;
	e->src_b = 0x123456789ull;
	e->nlink = 2;
	e->has_digest = 1;
	memset(e->digest, 0xab, sizeof(e->digest));
	ut_entry_add_xattr(e, "user.x", "v\0w", 3);
	e = ut_tree_add(t, "etc/link");
	e->type = UT_LNK;
	e->link = ut_strdup("passwd");
	ut_tree_sort(t);
	assert_int_equal(ut_tree_save(t, path, &err), 0);
	assert_int_equal(ut_tree_load(path, &back, &err), 0);
	assert_int_equal(back->n, t->n);
	for (i = 0; i < t->n; i++) {
		const struct ut_entry *a = &t->v[i], *b = &back->v[i];

		assert_string_equal(a->path, b->path);
		assert_int_equal(a->type, b->type);
		assert_int_equal(a->size, b->size);
		assert_int_equal(a->mtime_sec, b->mtime_sec);
		assert_int_equal(a->mtime_nsec, b->mtime_nsec);
		assert_int_equal(a->link_id, b->link_id);
		assert_int_equal(a->src_a, b->src_a);
		assert_int_equal(a->src_b, b->src_b);
		assert_int_equal(a->nlink, b->nlink);
		assert_int_equal(a->nxattrs, b->nxattrs);
		assert_int_equal(a->has_digest, b->has_digest);
		assert_memory_equal(a->digest, b->digest, sizeof(a->digest));
		assert_true(!a->link == !b->link);
	}
	ut_tree_free(back);
	back = NULL;
	snprintf(cmd, sizeof(cmd), "truncate -s -3 '%s'", path);
	assert_int_equal(system(cmd), 0);
	assert_true(ut_tree_load(path, &back, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated or corrupt"));
	assert_null(back);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	ut_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_tree_sort_and_replace),
		cmocka_unit_test(test_path_helpers),
		cmocka_unit_test(test_link_counts),
		cmocka_unit_test(test_guest_resolve),
		cmocka_unit_test(test_tree_resolve),
		cmocka_unit_test(test_content_stream),
		cmocka_unit_test(test_rm_rf),
		cmocka_unit_test(test_human_size),
		cmocka_unit_test(test_read_fd),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_escape_name),
		cmocka_unit_test(test_whiteout_names),
		cmocka_unit_test(test_tree_sort_arena),
		cmocka_unit_test(test_tree_file),
	};
	return cmocka_run_group_tests_name("util: buffers, trees, guest paths, content",
					  tests, NULL, NULL);
}
