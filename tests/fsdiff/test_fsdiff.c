/*
 * Tests of fsdiff/: every change kind on small synthetic trees, each checked
 * by applying the plan on the base with OCI whiteout semantics (fsdtest.c)
 * and comparing with the VM tree; a seeded random property test; bad input;
 * and the speed of a 200k-entry diff.
 */
#include "testutil.h"
#include "fsdtest.h"

#include <sys/resource.h>
#include <malloc.h>
#include <time.h>

/* ---- helpers ------------------------------------------------------------ */

/* ut_tree_find on a tree the test just added to. */
static struct ut_entry *find(struct ut_tree *t, const char *path)
{
	ut_tree_sort(t);
	return ut_tree_find(t, path);
}

static void digest_base(struct ut_tree *t)
{
	ut_tree_sort(t);
	assert_int_equal(ut_tree_digest_all(t, NULL), 0);
}

/* diff + plan + apply == vm; returns the result for more assertions. */
static struct fsd_result *roundtrip(struct ut_tree *base, struct ut_tree *vm,
				    const struct fsd_options *o)
{
	static const struct fsd_options none = { 0 };
	struct fsd_result *r = NULL;

	assert_int_equal(diff_roundtrip(base, vm, o ? o : &none, &r), 0);
	assert_non_null(r);
	return r;
}

static const struct fsd_change *change(const struct fsd_result *r, const char *path)
{
	const struct fsd_change *c;
	size_t n, i;

	c = fsd_result_changes(r, &n);
	for (i = 0; i < n; i++)
		if (!strcmp((c[i].vm ? c[i].vm : c[i].base)->path, path))
			return &c[i];
	return NULL;
}

static size_t nchanges(const struct fsd_result *r)
{
	size_t n;

	fsd_result_changes(r, &n);
	return n;
}

/* The plan as "-whiteout +entry ..." for exact assertions. */
static char *plan_str(const struct fsd_result *r)
{
	struct fsd_layer_item *items = NULL;
	struct ut_buf b;
	size_t n = 0, i;

	assert_int_equal(fsd_layer_plan(r, &items, &n, NULL), 0);
	ut_buf_init(&b, 0);
	/* ut_buf_detach of a never-grown buffer is not NUL-terminated. */
	ut_buf_addstr(&b, "", NULL);
	for (i = 0; i < n; i++)
		ut_buf_addf(&b, NULL, "%s%c%s", i ? " " : "", items[i].whiteout ? '-' : '+',
			    items[i].path);
	free(items);
	return ut_buf_detach(&b, NULL);
}

#define assert_plan(r, expect)                          \
	do {                                            \
		char *got_ = plan_str(r);               \
		assert_string_equal(got_, expect);      \
		free(got_);                             \
	} while (0)

static void assert_kind(const struct fsd_result *r, const char *path, enum fsd_kind k,
			unsigned what)
{
	const struct fsd_change *c = change(r, path);

	if (!c)
		fail_msg("no change for \"%s\"", path);
	if (c->kind != k || c->what != what)
		fail_msg("\"%s\": %s 0x%x, expected %s 0x%x", path, fsd_kind_name(c->kind), c->what,
			 fsd_kind_name(k), what);
}

/* A small base: etc/{passwd,hosts}, usr/bin/{sh,ls}, a symlink, a device. */
static struct ut_tree *small_base(void)
{
	struct ut_tree *t = syn_tree();

	t_dir(t, "etc", 0755);
	t_file(t, "etc/passwd", 1, 1000);
	t_file(t, "etc/hosts", 2, 200);
	t_file(t, "etc/empty", 3, 0);
	t_dir(t, "usr", 0755);
	t_dir(t, "usr/bin", 0755);
	t_file(t, "usr/bin/sh", 4, 5000)->mode = 0755;
	t_file(t, "usr/bin/ls", 5, 7000)->mode = 0755;
	t_symlink(t, "bin", "usr/bin");
	t_dir(t, "dev", 0755);
	t_dev(t, "dev/null", UT_CHR, 1, 3);
	t_dev(t, "dev/fifo", UT_FIFO, 0, 0);
	ut_tree_sort(t);
	digest_base(t);
	return t;
}

/* ---- every change kind -------------------------------------------------- */

static void test_identical(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 0), *vm2 = tree_clone(base, 1);
	struct fsd_result *r;
	unsigned long opens;

	(void)state;
	opens = syn_opens;
	r = roundtrip(base, vm, NULL);
	assert_int_equal(nchanges(r), 0);
	assert_plan(r, "");
	/* Same sizes and no VM digests: the content had to be read (not the
	 * empty file), and is counted; the model then reads the empty one. */
	assert_int_equal(syn_opens - opens, 4 + 1);
	assert_int_equal(fsd_result_stats(r)->digested, 4);
	assert_int_equal(fsd_result_stats(r)->digested_bytes, 1000 + 200 + 5000 + 7000);
	fsd_result_free(r);
	/* With digests on both sides nothing is read. */
	opens = syn_opens;
	r = roundtrip(base, vm2, NULL);
	assert_int_equal(nchanges(r), 0);
	assert_int_equal(syn_opens - opens, 0);
	fsd_result_free(r);
	ut_tree_free(vm2);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_added_deleted(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	const struct fsd_stats *s;
	struct fsd_result *r;

	(void)state;
	t_file(vm, "etc/new", 10, 123);
	t_dir(vm, "opt", 0755);
	t_dir(vm, "opt/app", 0700);
	t_file(vm, "opt/app/run", 11, 4096);
	ut_tree_remove(vm, "etc/hosts");
	ut_tree_remove(vm, "usr");
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "etc/new", FSD_ADDED, 0);
	assert_kind(r, "opt", FSD_ADDED, 0);
	assert_kind(r, "opt/app/run", FSD_ADDED, 0);
	assert_kind(r, "etc/hosts", FSD_DELETED, 0);
	assert_kind(r, "usr", FSD_DELETED, 0);
	assert_kind(r, "usr/bin/ls", FSD_DELETED, 0);
	/* One whiteout for the whole usr tree; whiteouts of the root's children
	 * before every other item, a directory's before its own children. */
	assert_plan(r, "-usr -etc/hosts +etc/new +opt +opt/app +opt/app/run");
	s = fsd_result_stats(r);
	assert_int_equal(s->added, 4);
	assert_int_equal(s->added_bytes, 123 + 4096);
	assert_int_equal(s->deleted, 5); /* hosts, usr, usr/bin, sh, ls */
	assert_int_equal(s->deleted_bytes, 200 + 5000 + 7000);
	assert_int_equal(s->modified + s->metadata + s->type_changed + s->hardlinks, 0);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_modified(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 0);
	struct fsd_result *r;

	(void)state;
	find(vm, "etc/passwd")->src_a = 99;      /* same size, other bytes */
	find(vm, "etc/hosts")->size = 201;       /* other size */
	find(vm, "etc/hosts")->src_a = 98;
	find(vm, "usr/bin/sh")->has_digest = 1;  /* digest given: not read */
	syn_digest(4, 5000, find(vm, "usr/bin/sh")->digest);
	r = roundtrip(base, vm, NULL);
	/* passwd and ls read to compare; hosts not (sizes differ), sh not. */
	assert_int_equal(fsd_result_stats(r)->digested, 2);
	assert_kind(r, "etc/passwd", FSD_MODIFIED, FSD_DIFF_CONTENT);
	assert_kind(r, "etc/hosts", FSD_MODIFIED, FSD_DIFF_CONTENT | FSD_DIFF_SIZE);
	assert_int_equal(nchanges(r), 2);
	assert_int_equal(fsd_result_stats(r)->modified, 2);
	assert_int_equal(fsd_result_stats(r)->modified_bytes, 1000 + 201);
	assert_plan(r, "+etc/hosts +etc/passwd");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_metadata(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	struct fsd_options o = { 0 };
	struct fsd_result *r;

	(void)state;
	find(vm, "etc/passwd")->mode = 0600;
	find(vm, "etc/hosts")->uid = 1000;
	find(vm, "etc/empty")->gid = 42;
	find(vm, "usr/bin/sh")->mtime_nsec = 1;
	find(vm, "bin")->mtime_sec += 10;
	find(vm, "usr/bin")->mtime_sec += 10; /* directory mtime only */
	find(vm, "usr")->mode = 0700;
	r = roundtrip(base, vm, &o);
	assert_kind(r, "etc/passwd", FSD_METADATA, FSD_DIFF_MODE);
	assert_kind(r, "etc/hosts", FSD_METADATA, FSD_DIFF_OWNER);
	assert_kind(r, "etc/empty", FSD_METADATA, FSD_DIFF_OWNER);
	assert_kind(r, "usr/bin/sh", FSD_METADATA, FSD_DIFF_MTIME);
	assert_kind(r, "bin", FSD_METADATA, FSD_DIFF_MTIME);
	assert_kind(r, "usr", FSD_METADATA, FSD_DIFF_MODE);
	assert_null(change(r, "usr/bin"));
	assert_int_equal(fsd_result_stats(r)->metadata, 6);
	assert_plan(r, "+bin +etc/empty +etc/hosts +etc/passwd +usr +usr/bin/sh");
	fsd_result_free(r);
	/* verify's view: directory mtimes count. */
	o.dir_mtimes = 1;
	r = roundtrip(base, vm, &o);
	assert_kind(r, "usr/bin", FSD_METADATA, FSD_DIFF_MTIME);
	assert_plan(r, "+bin +etc/empty +etc/hosts +etc/passwd +usr +usr/bin +usr/bin/sh");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_xattrs(void **state)
{
	static const char *const mask[] = { "security.selinux" };
	struct ut_tree *base = small_base(), *vm;
	struct fsd_options o = { .mask_xattrs = mask, .nmask_xattrs = 1 };
	struct ut_entry *e;
	struct fsd_result *r;

	(void)state;
	e = find(base, "etc/hosts");
	ut_entry_add_xattr(e, "user.a", "1", 1);
	ut_entry_add_xattr(e, "security.selinux", "system_u:object_r:etc_t:s0", 26);
	ut_entry_sort_xattrs(e);
	e = find(base, "etc/passwd");
	ut_entry_add_xattr(e, "user.gone", "x", 1);
	e = find(base, "usr/bin/sh");
	ut_entry_add_xattr(e, "security.capability", "\x01\x00\x00\x02", 4);
	vm = tree_clone(base, 1);
	/* hosts: value of user.a changed and the masked label changed. */
	e = find(vm, "etc/hosts");
	e->xattrs[1].value[0] = '2';
	assert_string_equal(e->xattrs[1].name, "user.a");
	e->xattrs[0].value[0] = 'X';
	/* passwd: xattr removed. */
	e = find(vm, "etc/passwd");
	ut_entry_release(&(struct ut_entry){ .xattrs = e->xattrs, .nxattrs = e->nxattrs });
	e->xattrs = NULL;
	e->nxattrs = 0;
	/* ls: xattr added; sh: capability value changed by one byte. */
	ut_entry_add_xattr(find(vm, "usr/bin/ls"), "user.new", "", 0);
	find(vm, "usr/bin/sh")->xattrs[0].value[3] = 0;
	/* empty: only a masked xattr added: no change. */
	ut_entry_add_xattr(find(vm, "etc/empty"), "security.selinux", "l", 1);
	r = roundtrip(base, vm, &o);
	assert_kind(r, "etc/hosts", FSD_METADATA, FSD_DIFF_XATTR);
	assert_kind(r, "etc/passwd", FSD_METADATA, FSD_DIFF_XATTR);
	assert_kind(r, "usr/bin/ls", FSD_METADATA, FSD_DIFF_XATTR);
	assert_kind(r, "usr/bin/sh", FSD_METADATA, FSD_DIFF_XATTR);
	assert_null(change(r, "etc/empty"));
	assert_int_equal(nchanges(r), 4);
	fsd_result_free(r);
	/* Unmasked, the label change on hosts and empty is a change too. */
	o.nmask_xattrs = 0;
	r = roundtrip(base, vm, &o);
	assert_kind(r, "etc/empty", FSD_METADATA, FSD_DIFF_XATTR);
	assert_int_equal(nchanges(r), 5);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_symlink_and_device(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	struct fsd_result *r;

	(void)state;
	free(find(vm, "bin")->link);
	find(vm, "bin")->link = ut_strdup("/usr/bin");
	find(vm, "dev/null")->rdev_minor = 5;
	find(vm, "dev/fifo")->mode = 0666;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "bin", FSD_MODIFIED, FSD_DIFF_LINK);
	assert_kind(r, "dev/null", FSD_MODIFIED, FSD_DIFF_RDEV);
	assert_kind(r, "dev/fifo", FSD_METADATA, FSD_DIFF_MODE);
	assert_plan(r, "+bin +dev/fifo +dev/null");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* Replaces the entry at path (and its subtree) by a new one of type t. */
static struct ut_entry *retype(struct ut_tree *vm, const char *path, enum ut_ftype t)
{
	ut_tree_remove(vm, path);
	switch (t) {
	case UT_DIR: return t_dir(vm, path, 0755);
	case UT_REG: return t_file(vm, path, 77, 77);
	case UT_LNK: return t_symlink(vm, path, "elsewhere");
	default: return t_dev(vm, path, t, 0, 0);
	}
}

static void test_type_changes(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	struct fsd_result *r;

	(void)state;
	retype(vm, "etc/passwd", UT_DIR);        /* file -> dir with children */
	t_file(vm, "etc/passwd/inner", 5, 7000);
	retype(vm, "usr", UT_REG);               /* dir with a subtree -> file */
	retype(vm, "dev", UT_LNK);               /* dir -> symlink */
	retype(vm, "etc/hosts", UT_FIFO);        /* file -> fifo */
	retype(vm, "bin", UT_DIR);               /* symlink -> dir */
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "etc/passwd", FSD_TYPE_CHANGED, 0);
	assert_kind(r, "etc/passwd/inner", FSD_ADDED, 0);
	assert_kind(r, "usr", FSD_TYPE_CHANGED, 0);
	assert_kind(r, "usr/bin/sh", FSD_DELETED, 0);
	assert_kind(r, "dev", FSD_TYPE_CHANGED, 0);
	assert_kind(r, "dev/null", FSD_DELETED, 0);
	assert_kind(r, "etc/hosts", FSD_TYPE_CHANGED, 0);
	assert_int_equal(fsd_result_stats(r)->type_changed, 5);
	assert_int_equal(fsd_result_stats(r)->deleted, 5);
	/* Each replaced path: whiteout first (with its siblings' whiteouts),
	 * then the new entry; nothing under a replaced directory is whited out
	 * again. */
	assert_plan(r, "-bin -dev -usr +bin +dev -etc/hosts -etc/passwd +etc/hosts +etc/passwd "
		       "+etc/passwd/inner +usr");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* A directory deleted or replaced, next to paths that sort in between. */
static void test_replaced_dirs(void **state)
{
	struct ut_tree *base = syn_tree(), *vm;
	struct fsd_result *r;

	(void)state;
	t_dir(base, "a", 0755);
	t_dir(base, "a/d", 0755);
	t_file(base, "a/d/y", 1, 10);
	t_file(base, "a/x", 2, 10);
	t_file(base, "a.b", 3, 10);
	t_dir(base, "a-", 0755);
	t_file(base, "a-/z", 4, 10);
	t_file(base, "f", 5, 10);
	digest_base(base);

	/* a/d becomes a symlink, a/x goes, a/d2 comes; f becomes a directory
	 * whose child has f's old content (a move below move_min_size). */
	vm = tree_clone(base, 1);
	retype(vm, "a/d", UT_LNK);
	ut_tree_remove(vm, "a/x");
	t_file(vm, "a/d2", 6, 10);
	retype(vm, "f", UT_DIR);
	t_file(vm, "f/f", 5, 10);
	r = roundtrip(base, vm, NULL);
	assert_plan(r, "-f -a/d -a/x +a/d +a/d2 +f +f/f");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* a deleted whole while a.b and a- (which sort around it) stay; a-
	 * replaced by a file. */
	vm = tree_clone(base, 1);
	ut_tree_remove(vm, "a");
	retype(vm, "a-", UT_REG);
	r = roundtrip(base, vm, NULL);
	assert_plan(r, "-a -a- +a-");
	assert_int_equal(fsd_result_stats(r)->deleted, 5);
	fsd_result_free(r);
	ut_tree_free(vm);

	/* a deleted and made again (rm -r a; mkdir a; restore a/x): nothing
	 * of the old a may show through. */
	vm = tree_clone(base, 1);
	ut_tree_remove(vm, "a");
	t_dir(vm, "a", 0755)->mtime_sec = 5;
	t_file(vm, "a/x", 2, 10);
	r = roundtrip(base, vm, NULL);
	/* Same type: a stays a directory; the tree diff sees a/d go and
	 * a/x stay (same content), which gives the same tree. */
	assert_plan(r, "-a/d");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_odd_names(void **state)
{
	static const char *const names[] = { "with space", "new\nline", "caf\xc3\xa9", "tab\there",
					     "\xe6\x97\xa5\xe6\x9c\xac", "-dash", "back\\slash" };
	struct ut_tree *base = syn_tree(), *vm;
	struct fsd_result *r;
	size_t i;

	(void)state;
	t_dir(base, "d", 0755);
	for (i = 0; i < 7; i++) {
		char *p = ut_asprintf("d/%s", names[i]);

		t_file(base, p, i + 1, 100);
		free(p);
	}
	digest_base(base);
	vm = tree_clone(base, 0);
	find(vm, "d/new\nline")->src_a = 50;
	ut_tree_remove(vm, "d/caf\xc3\xa9");
	t_file(vm, "d/x y\nz", 60, 5);
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "d/new\nline", FSD_MODIFIED, FSD_DIFF_CONTENT);
	assert_kind(r, "d/caf\xc3\xa9", FSD_DELETED, 0);
	assert_kind(r, "d/x y\nz", FSD_ADDED, 0);
	assert_plan(r, "-d/caf\xc3\xa9 +d/new\nline +d/x y\nz");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* "etc.bak" sorts between "etc" and "etc/x"; trees given out of order. */
static void test_order(void **state)
{
	struct ut_tree *base = ut_tree_new(), *vm = ut_tree_new();
	struct fsd_result *r;
	const struct fsd_change *c;
	size_t n, i;

	(void)state;
	base->content.ops = vm->content.ops = &syn_ops;
	/* Walk order, as a readdir gives it: not strcmp order. */
	t_file(base, "etc/x", 1, 10);
	t_file(base, "etc/y", 2, 10);
	t_dir(base, "etc", 0755);
	t_file(base, "etc.bak", 3, 10);
	t_dir(base, "", 0755);
	t_dir(base, "etc0", 0755);
	assert_int_equal(ut_tree_digest_all(base, NULL), 0);
	t_file(vm, "etc.bak", 4, 10);
	t_file(vm, "etc/x", 1, 10);
	t_dir(vm, "etc0", 0755);
	t_dir(vm, "", 0755);
	t_file(vm, "etc/z", 5, 10);
	t_dir(vm, "etc", 0755);
	t_file(vm, "etc0/w", 6, 10);
	assert_false(base->sorted);
	assert_false(vm->sorted);
	r = roundtrip(base, vm, NULL);
	c = fsd_result_changes(r, &n);
	assert_int_equal(n, 4);
	/* Changes in strcmp order. */
	for (i = 1; i < n; i++)
		assert_true(strcmp((c[i - 1].vm ? c[i - 1].vm : c[i - 1].base)->path,
				   (c[i].vm ? c[i].vm : c[i].base)->path) < 0);
	assert_kind(r, "etc.bak", FSD_MODIFIED, FSD_DIFF_CONTENT);
	assert_kind(r, "etc/y", FSD_DELETED, 0);
	assert_kind(r, "etc/z", FSD_ADDED, 0);
	assert_kind(r, "etc0/w", FSD_ADDED, 0);
	assert_plan(r, "+etc.bak -etc/y +etc/z +etc0/w");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_root(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	struct fsd_result *r;

	(void)state;
	find(vm, "")->mode = 0700;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "", FSD_METADATA, FSD_DIFF_MODE);
	assert_plan(r, "");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* ---- hardlinks ---------------------------------------------------------- */

static struct ut_entry *link_file(struct ut_tree *t, const char *path, uint64_t id)
{
	struct ut_entry *e = t_file(t, path, 1000 + id, 3000);

	e->link_id = id;
	return e;
}

static struct ut_tree *links_base(void)
{
	struct ut_tree *t = syn_tree();

	t_dir(t, "d1", 0755);
	t_dir(t, "d2", 0755);
	link_file(t, "d1/a", 7);
	link_file(t, "d2/b", 7);
	link_file(t, "c", 7);
	link_file(t, "p", 8);
	link_file(t, "q", 8);
	t_file(t, "s1", 1009, 3000); /* same content as p and q, own inodes */
	t_file(t, "s2", 1009, 3000);
	ut_tree_sort(t);
	ut_tree_count_links(t);
	digest_base(t);
	return t;
}

static void test_hardlink_half_changed(void **state)
{
	struct ut_tree *base = links_base(), *vm;
	struct fsd_result *r;

	(void)state;
	/* One member renamed: the new name must link to members in the same
	 * layer, so the unchanged members are carried. */
	vm = tree_clone(base, 0);
	ut_tree_remove(vm, "d1/a");
	link_file(vm, "d1/a2", 7);
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "d1/a2", FSD_ADDED, 0);
	assert_kind(r, "d2/b", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_kind(r, "c", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_int_equal(fsd_result_stats(r)->hardlinks, 2);
	assert_plan(r, "+c -d1/a +d1/a2 +d2/b");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* Only one member's metadata differs (a hostile or inconsistent
	 * tree): the others are carried as plain hardlinks. */
	vm = tree_clone(base, 1);
	find(vm, "d2/b")->uid = 5;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "d2/b", FSD_METADATA, FSD_DIFF_OWNER);
	assert_kind(r, "d1/a", FSD_HARDLINK, 0);
	assert_kind(r, "c", FSD_HARDLINK, 0);
	assert_plan(r, "+c +d1/a +d2/b");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* A member deleted: its whiteout leaves the others linked. */
	vm = tree_clone(base, 1);
	ut_tree_remove(vm, "c");
	r = roundtrip(base, vm, NULL);
	assert_plan(r, "-c");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* A member added to a set. */
	vm = tree_clone(base, 1);
	link_file(vm, "r", 8);
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "r", FSD_ADDED, 0);
	assert_plan(r, "+p +q +r");
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_hardlink_split_join(void **state)
{
	struct ut_tree *base = links_base(), *vm;
	struct fsd_result *r;

	(void)state;
	/* Split: p and q same bytes and metadata, now two inodes. */
	vm = tree_clone(base, 1);
	find(vm, "p")->link_id = 0;
	find(vm, "q")->link_id = 0;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "p", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_kind(r, "q", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_plan(r, "+p +q");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* Partial split: c leaves the set of three. */
	vm = tree_clone(base, 1);
	find(vm, "c")->link_id = 99;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "c", FSD_HARDLINK, FSD_DIFF_LINKSET);
	fsd_result_free(r);
	ut_tree_free(vm);

	/* Join: s1 and s2 become one inode (and with p: a set of four). */
	vm = tree_clone(base, 1);
	find(vm, "s1")->link_id = 8;
	find(vm, "s2")->link_id = 8;
	r = roundtrip(base, vm, NULL);
	assert_kind(r, "s1", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_kind(r, "p", FSD_HARDLINK, FSD_DIFF_LINKSET);
	assert_plan(r, "+p +q +s1 +s2");
	fsd_result_free(r);
	ut_tree_free(vm);

	/* Sets renumbered (another walk, other inode numbers): no change. */
	vm = tree_clone(base, 1);
	for (size_t i = 0; i < vm->n; i++)
		if (vm->v[i].link_id)
			vm->v[i].link_id += 1000;
	r = roundtrip(base, vm, NULL);
	assert_int_equal(nchanges(r), 0);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* ---- moves and trust_mtime ---------------------------------------------- */

static void test_moves(void **state)
{
	struct ut_tree *base = syn_tree(), *vm;
	struct fsd_options o = { .move_min_size = 1 << 20 };
	const struct fsd_change *c;
	struct fsd_result *r;
	unsigned long opens;

	(void)state;
	t_dir(base, "old", 0755);
	t_file(base, "old/big", 1, 3 << 20);
	t_file(base, "old/small", 2, 1000);
	t_file(base, "keep", 3, 2 << 20);
	t_file(base, "rewritten", 4, 2 << 20);
	digest_base(base);
	vm = tree_clone(base, 1);
	ut_tree_remove(vm, "old");
	t_dir(vm, "new", 0755);
	t_file(vm, "new/big", 1, 3 << 20);        /* moved */
	t_file(vm, "new/small", 2, 1000);         /* moved, but too small */
	t_file(vm, "new/other", 9, 5 << 20);      /* no vanished file this size */
	t_file(vm, "new/copy", 3, 2 << 20);       /* a copy of a kept file */
	find(vm, "rewritten")->src_a = 40;
	find(vm, "rewritten")->has_digest = 0;
	t_file(vm, "new/was-rewritten", 4, 2 << 20);
	opens = syn_opens;
	r = roundtrip(base, vm, &o);
	c = change(r, "new/big");
	assert_int_equal(c->kind, FSD_ADDED);
	assert_string_equal(c->moved_from, "old/big");
	assert_string_equal(change(r, "new/was-rewritten")->moved_from, "rewritten");
	assert_null(change(r, "new/small")->moved_from);
	assert_null(change(r, "new/other")->moved_from);
	assert_null(change(r, "new/copy")->moved_from);
	assert_int_equal(fsd_result_stats(r)->moved, 2);
	assert_int_equal(fsd_result_stats(r)->moved_bytes, (3 << 20) + (2 << 20));
	/* Read: rewritten (to compare), new/big, new/copy, new/was-rewritten
	 * (same sizes as vanished files), and the model's reads of the rest
	 * after the diff (new/small, new/other). Not new/other by the diff. */
	assert_int_equal(fsd_result_stats(r)->digested, 4);
	assert_int_equal(syn_opens - opens, 6);
	/* A moved file is still written whole. */
	assert_plan(r, "-old +new +new/big +new/copy +new/other +new/small +new/was-rewritten "
		       "+rewritten");
	fsd_result_free(r);
	/* Off when move_min_size is 0. */
	o.move_min_size = 0;
	r = roundtrip(base, vm, &o);
	assert_null(change(r, "new/big")->moved_from);
	assert_int_equal(fsd_result_stats(r)->moved, 0);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* ---- a layer between base and vm ---------------------------------------- */

/* fsd_options.upper: the plan is against base with upper on top (applied
 * there it gives vm), and the statistics below are exactly a plain diff of
 * base and vm. */
static void test_upper(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1), *upper = syn_tree();
	struct ut_tree *lower, *got, *plain_vm;
	struct fsd_options o = { 0 };
	struct fsd_layer_item *items = NULL;
	struct fsd_result *r = NULL, *plain = NULL;
	const struct fsd_stats *below, *s;
	struct cmp_opts co = { 0 };
	struct ut_err err = { { 0 } };
	size_t n = 0, i;

	(void)state;
	/* The packages layer: an upgraded sh and a new tool, as in the VM. */
	t_dir(upper, "usr", 0755);
	t_dir(upper, "usr/bin", 0755);
	t_file(upper, "usr/bin/sh", 40, 5100)->mode = 0755;
	t_file(upper, "usr/bin/tool", 41, 3000)->mode = 0755;
	ut_tree_sort(upper);
	assert_int_equal(ut_tree_digest_all(upper, &err), 0);
	ut_tree_remove(vm, "usr/bin/sh");
	t_file(vm, "usr/bin/sh", 40, 5100)->mode = 0755;
	t_file(vm, "usr/bin/tool", 41, 3000)->mode = 0755;
	t_file(vm, "etc/motd", 42, 50);
	ut_tree_sort(vm);

	o.upper = upper;
	assert_int_equal(fsd_diff(base, vm, &o, &r, &err), 0);
	/* With the digests the diff put on vm, as the second merge sees it. */
	plain_vm = tree_clone(vm, 1);
	assert_plan(r, "+etc/motd");
	s = fsd_result_stats(r);
	assert_int_equal(s->added, 1);
	assert_int_equal(s->added_bytes, 50);
	assert_int_equal(s->modified, 0);
	/* Applied on base + upper, the plan gives the VM. */
	lower = tree_clone(base, 1);
	for (i = 0; i < upper->n; i++) {
		struct ut_entry copy;

		ut_entry_copy(&copy, &upper->v[i]);
		ut_tree_take(lower, &copy);
	}
	ut_tree_sort(lower);
	assert_int_equal(fsd_layer_plan(r, &items, &n, &err), 0);
	assert_int_equal(ut_tree_digest_all(vm, &err), 0);
	got = apply_plan(lower, items, n);
	assert_non_null(got);
	assert_int_equal(tree_equal(got, vm, &co), 0);
	/* Below: the same numbers as a diff without the layer. */
	below = fsd_result_stats_below(r);
	assert_non_null(below);
	assert_int_equal(fsd_diff(base, plain_vm, NULL, &plain, &err), 0);
	assert_memory_equal(below, fsd_result_stats(plain), sizeof(*below));
	assert_int_equal(below->added, 2);
	assert_int_equal(below->added_bytes, 3000 + 50);
	assert_int_equal(below->modified, 1);
	assert_int_equal(below->modified_bytes, 5100);
	assert_null(fsd_result_stats_below(plain));
	free(items);
	fsd_result_free(plain);
	fsd_result_free(r);
	ut_tree_free(got);
	ut_tree_free(lower);
	ut_tree_free(plain_vm);
	ut_tree_free(upper);
	ut_tree_free(vm);
	ut_tree_free(base);
}

static void test_trust_mtime(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 0);
	struct fsd_options o = { .trust_mtime = 1 };
	struct fsd_result *r = NULL;
	struct ut_err err = { { 0 } };
	struct fsd_layer_item *items;
	struct ut_tree *got;
	unsigned long opens;
	size_t n;

	(void)state;
	/* Same size, same mtime, other bytes: what a quick check misses. */
	find(vm, "etc/passwd")->src_a = 77;
	/* Same size, other mtime, same bytes: read, and only the mtime differs. */
	find(vm, "etc/hosts")->mtime_sec++;
	opens = syn_opens;
	assert_int_equal(fsd_diff(base, vm, &o, &r, &err), 0);
	assert_int_equal(syn_opens - opens, 1);
	assert_null(change(r, "etc/passwd"));
	assert_kind(r, "etc/hosts", FSD_METADATA, FSD_DIFF_MTIME);
	/* The plan is then not exact, and the model sees it. */
	assert_int_equal(fsd_layer_plan(r, &items, &n, &err), 0);
	assert_int_equal(ut_tree_digest_all(vm, NULL), 0);
	got = apply_plan(base, items, n);
	assert_non_null(got);
	assert_int_equal(tree_equal(got, vm, &(struct cmp_opts){ 0 }), -1);
	ut_tree_free(got);
	free(items);
	fsd_result_free(r);
	/* Without it the change is caught. */
	o.trust_mtime = 0;
	r = roundtrip(base, vm, &o);
	assert_kind(r, "etc/passwd", FSD_MODIFIED, FSD_DIFF_CONTENT);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* ---- bad input ---------------------------------------------------------- */

static void expect_error(struct ut_tree *base, struct ut_tree *vm, const struct fsd_options *o,
			 const char *needle)
{
	struct fsd_result *r = (struct fsd_result *)1;
	struct ut_err err = { { 0 } };

	assert_int_equal(fsd_diff(base, vm, o, &r, &err), -1);
	assert_null(r);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
}

static void test_bad_paths(void **state)
{
	static const char *const bad[] = { "../etc", "a/../../x", "/abs", "a//b", "a/", "./a", "a/.",
					   ".." };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);

		t_file(vm, bad[i], 1, 1);
		expect_error(base, vm, NULL, "unsafe path");
		ut_tree_free(vm);
		ut_tree_free(base);
	}
	{
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);

		/* A caller's false promise of order, with a duplicate. */
		t_file(base, "zz", 1, 1);
		t_file(base, "zz", 1, 1);
		base->sorted = 1;
		expect_error(base, vm, NULL, "strcmp order");
		ut_tree_free(vm);
		ut_tree_free(base);
	}
	{
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);

		find(vm, "etc/hosts")->type = (enum ut_ftype)42;
		expect_error(base, vm, NULL, "unknown file type");
		ut_tree_free(vm);
		ut_tree_free(base);
	}
}

static void test_bad_content(void **state)
{
	static const struct {
		int mode;
		const char *msg;
	} cases[] = {
		{ SYN_FAIL_OPEN, "etc/passwd: cannot open" },
		{ SYN_SHORT, "etc/passwd: read 500 bytes, expected 1000" },
		{ SYN_FAIL_READ, "etc/passwd: read error" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 0);

		find(vm, "etc/passwd")->src_b = (uint64_t)cases[i].mode;
		expect_error(base, vm, NULL, cases[i].msg);
		ut_tree_free(vm);
		ut_tree_free(base);
	}
	{
		/* No content source where one is needed, on either side. */
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 0);

		vm->content.ops = NULL;
		expect_error(base, vm, NULL, "etc/hosts: VM file has no digest and no content");
		find(base, "etc/hosts")->has_digest = 0;
		base->content.ops = NULL;
		vm->content.ops = &syn_ops;
		expect_error(base, vm, NULL, "etc/hosts: base file has no digest and no content");
		ut_tree_free(vm);
		ut_tree_free(base);
	}
	{
		/* A base without digests but with content is read instead. */
		struct ut_tree *base = small_base(), *vm = tree_clone(base, 0);
		struct fsd_result *r;

		for (size_t k = 0; k < base->n; k++)
			base->v[k].has_digest = 0;
		r = roundtrip(base, vm, NULL);
		assert_int_equal(nchanges(r), 0);
		assert_int_equal(fsd_result_stats(r)->digested, 8);
		fsd_result_free(r);
		ut_tree_free(vm);
		ut_tree_free(base);
	}
}

/* Digests read ahead of the merge (reading in this thread, hashing in a
 * worker): the same files are read, once each, and a read error names the
 * file, in one line, with nothing read after it. */
static struct ut_tree *many_files_base(void)
{
	struct ut_tree *t = syn_tree();
	char path[32];
	int i;

	t_dir(t, "d", 0755);
	for (i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "d/f%02d", i);
		/* Every fourth file takes several 128 KiB reads. */
		t_file(t, path, (uint64_t)i + 10, i % 4 ? 1000u + (unsigned)i : 300000u + (unsigned)i);
	}
	t_file(t, "d/link1", 99, 4096)->link_id = 9;
	t_file(t, "d/link2", 99, 4096)->link_id = 9;
	find(t, "d/link1")->nlink = find(t, "d/link2")->nlink = 2;
	digest_base(t);
	return t;
}

static void test_pipelined_digests(void **state)
{
	static const struct {
		int mode;
		const char *path, *msg;
	} bad[] = {
		{ SYN_SHORT, "d/f20", "d/f20: read 150010 bytes, expected 300020" },
		{ SYN_FAIL_READ, "d/f33", "d/f33: read error" },
		{ SYN_FAIL_OPEN, "d/f00", "d/f00: cannot open" },
	};
	struct ut_tree *base = many_files_base(), *vm = tree_clone(base, 0);
	unsigned char want[UT_SHA256_LEN];
	unsigned long opens = syn_opens;
	struct fsd_result *r;
	size_t i;

	(void)state;
	find(vm, "d/f05")->src_a = 1234; /* same size, other bytes */
	r = roundtrip(base, vm, NULL);
	/* 40 files and one read for the two links. */
	assert_int_equal(syn_opens - opens, 41);
	assert_int_equal(fsd_result_stats(r)->digested, 41);
	assert_int_equal(nchanges(r), 1);
	assert_kind(r, "d/f05", FSD_MODIFIED, FSD_DIFF_CONTENT);
	syn_digest(1234, 1005, want);
	assert_memory_equal(find(vm, "d/f05")->digest, want, UT_SHA256_LEN);
	syn_digest(99, 4096, want);
	assert_memory_equal(find(vm, "d/link2")->digest, want, UT_SHA256_LEN);
	fsd_result_free(r);
	ut_tree_free(vm);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long nth = strtoul(bad[i].path + 3, NULL, 10);

		vm = tree_clone(base, 0);
		find(vm, bad[i].path)->src_b = (uint64_t)bad[i].mode;
		opens = syn_opens;
		expect_error(base, vm, NULL, bad[i].msg);
		/* The files before it, and it (unless its open failed). */
		assert_int_equal(syn_opens - opens, nth + (bad[i].mode != SYN_FAIL_OPEN));
		ut_tree_free(vm);
	}
	ut_tree_free(base);
}

/* Trees no well-behaved walker makes: the diff must stay sane. */
static void test_hostile_trees(void **state)
{
	struct ut_tree *base = small_base(), *vm = tree_clone(base, 1);
	struct fsd_layer_item *items = NULL;
	struct fsd_result *r = NULL;
	struct ut_err err = { { 0 } };
	struct ut_entry *e;
	size_t n;

	(void)state;
	/* Children without parents, in both trees. */
	t_file(base, "ghost/dir/f", 5, 10);
	find(base, "ghost/dir/f")->has_digest = 0;
	t_file(vm, "orphan/x/y", 6, 10);
	/* Unsorted xattrs with duplicate names; a huge value length on one
	 * side only (never read past: lengths differ first). */
	e = find(vm, "etc/hosts");
	ut_entry_add_xattr(e, "user.z", "1", 1);
	ut_entry_add_xattr(e, "user.a", "2", 1);
	ut_entry_add_xattr(e, "user.a", "3", 1);
	/* A link_id shared by a directory and files, and a set whose members
	 * claim different sizes. */
	find(vm, "etc")->link_id = 5;
	find(vm, "etc/passwd")->link_id = 5;
	find(vm, "usr/bin/sh")->link_id = 5;
	find(vm, "usr/bin/sh")->has_digest = 0;
	find(vm, "etc/passwd")->has_digest = 0;
	/* A symlink without a target. */
	free(find(vm, "bin")->link);
	find(vm, "bin")->link = NULL;
	assert_int_equal(fsd_diff(base, vm, NULL, &r, &err), 0);
	assert_int_equal(fsd_layer_plan(r, &items, &n, &err), 0);
	assert_kind(r, "ghost/dir/f", FSD_DELETED, 0);
	assert_kind(r, "orphan/x/y", FSD_ADDED, 0);
	assert_kind(r, "etc/hosts", FSD_METADATA, FSD_DIFF_XATTR);
	assert_kind(r, "bin", FSD_MODIFIED, FSD_DIFF_LINK);
	/* The orphan's deleted base file gets its own whiteout. */
	assert_plan(r, "+bin +etc/hosts +etc/passwd -ghost/dir/f +orphan/x/y +usr/bin/sh");
	free(items);
	fsd_result_free(r);
	ut_tree_free(vm);
	ut_tree_free(base);
	/* Empty trees, and NULL everywhere a _free takes it. */
	base = ut_tree_new();
	vm = ut_tree_new();
	assert_int_equal(fsd_diff(base, vm, NULL, &r, &err), 0);
	assert_int_equal(nchanges(r), 0);
	assert_int_equal(fsd_layer_plan(r, &items, &n, &err), 0);
	assert_int_equal(n, 0);
	free(items);
	fsd_result_free(r);
	fsd_result_free(NULL);
	ut_tree_free(vm);
	ut_tree_free(base);
}

/* ---- the random property test ------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t pick(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* Names chosen to collide in strcmp order: '-' < '.' < '/' and a space,
 * a newline, UTF-8. */
static const char *const rnames[] = { "a", "a-", "a.b", "a b", "b", "n\nl", "\xc3\xa9", "z0" };
#define NNAMES (sizeof(rnames) / sizeof(rnames[0]))

static uint64_t next_seed = 1000000;
static uint64_t next_link = 1;

static const char *const rxattr[] = { "user.a", "user.b", "security.selinux",
				      "security.capability" };

static void random_meta(struct ut_entry *e)
{
	e->mode = (uint32_t)(rnd() & 07777);
	e->uid = (uint32_t)pick(3);
	e->gid = (uint32_t)pick(3);
	e->mtime_sec = 1700000000 + (int64_t)pick(3);
	e->mtime_nsec = (uint32_t)pick(2);
}

static void random_file(struct ut_entry *e)
{
	e->type = UT_REG;
	e->src_a = next_seed++;
	/* Few sizes so that same-size rewrites and moves happen. */
	e->size = (uint64_t)pick(4) * 100;
	e->has_digest = 0;
}

static struct ut_entry *random_entry(struct ut_tree *t, const char *path, int depth)
{
	struct ut_entry *e = ut_tree_add(t, path);
	unsigned k = (unsigned)pick(20);

	random_meta(e);
	e->nlink = 1;
	if (k < 7 && depth < 3) {
		e->type = UT_DIR;
	} else if (k < 14) {
		random_file(e);
	} else if (k < 16) {
		e->type = UT_LNK;
		e->link = ut_strdup(rnames[pick(NNAMES)]);
	} else if (k < 18) {
		e->type = pick(2) ? UT_CHR : UT_BLK;
		e->rdev_major = (uint32_t)pick(3);
		e->rdev_minor = (uint32_t)pick(3);
	} else {
		e->type = pick(2) ? UT_FIFO : UT_SOCK;
	}
	if (!pick(4))
		ut_entry_add_xattr(e, rxattr[pick(4)], "v", 1);
	ut_entry_sort_xattrs(e);
	return e;
}

static void random_subtree(struct ut_tree *t, const char *dir, int depth)
{
	size_t k, n = depth ? pick(7) : 4 + pick(NNAMES);

	for (k = 0; k < n; k++) {
		char *p = dir[0] ? ut_asprintf("%s/%s", dir, rnames[pick(NNAMES)])
				 : ut_strdup(rnames[pick(NNAMES)]);
		struct ut_entry *e;

		if (find(t, p)) {
			free(p);
			continue;
		}
		e = random_entry(t, p, depth);
		ut_tree_sort(t);
		if (e && find(t, p)->type == UT_DIR)
			random_subtree(t, p, depth + 1);
		free(p);
	}
}

/* Random index of an entry of the given type (0 = any non-root). */
static struct ut_entry *random_of(struct ut_tree *t, enum ut_ftype type)
{
	size_t i, n = 0, k;

	for (i = 0; i < t->n; i++)
		if (t->v[i].path[0] && (!type || t->v[i].type == type))
			n++;
	if (!n)
		return NULL;
	k = pick(n);
	for (i = 0; i < t->n; i++)
		if (t->v[i].path[0] && (!type || t->v[i].type == type) && !k--)
			return &t->v[i];
	return NULL;
}

/* Applies f to every member of e's hardlink set (e alone if none): one
 * inode, one content and metadata, as on a real file system. */
static void each_link(struct ut_tree *t, struct ut_entry *e,
		      void (*f)(struct ut_entry *, const struct ut_entry *), const struct ut_entry *src)
{
	uint64_t id = e->link_id;
	size_t i;

	if (!id) {
		f(e, src);
		return;
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].link_id == id && t->v[i].type != UT_DIR)
			f(&t->v[i], src);
}

static int trust;

static void touch_content(struct ut_entry *e, const struct ut_entry *src)
{
	e->src_a = src->src_a;
	e->size = src->size;
	e->has_digest = 0;
	/* Under trust_mtime, a write moves the mtime as a real one does. */
	if (trust)
		e->mtime_nsec = src->mtime_nsec;
}

static void set_meta(struct ut_entry *e, const struct ut_entry *src)
{
	e->mode = src->mode;
	e->uid = src->uid;
	e->gid = src->gid;
	e->mtime_sec = src->mtime_sec;
	e->mtime_nsec = src->mtime_nsec;
}

static void become(struct ut_entry *e, const struct ut_entry *src)
{
	set_meta(e, src);
	e->src_a = src->src_a;
	e->size = src->size;
	e->has_digest = 0;
	e->link_id = src->link_id;
	for (size_t i = 0; i < e->nxattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	e->xattrs = NULL;
	e->nxattrs = 0;
	for (size_t i = 0; i < src->nxattrs; i++)
		ut_entry_add_xattr(e, src->xattrs[i].name, src->xattrs[i].value, src->xattrs[i].len);
}

static void mutate(struct ut_tree *t)
{
	struct ut_entry *e, *f, tmp = { 0 };
	char *p;

	switch (pick(16)) {
	case 0: /* add anything under a random directory */
		e = random_of(t, UT_DIR);
		if (!e || !pick(3))
			e = find(t, "");
		p = e->path[0] ? ut_asprintf("%s/%s", e->path, rnames[pick(NNAMES)])
			       : ut_strdup(rnames[pick(NNAMES)]);
		if (!find(t, p)) {
			e = random_entry(t, p, 2);
			ut_tree_sort(t);
			if (find(t, p)->type == UT_DIR)
				random_subtree(t, p, 3);
		}
		free(p);
		break;
	case 1: /* delete a path and its subtree */
		if ((e = random_of(t, 0))) {
			p = ut_strdup(e->path);
			ut_tree_remove(t, p);
			free(p);
		}
		break;
	case 2: /* rewrite, same size or not */
		if ((e = random_of(t, UT_REG))) {
			tmp.src_a = next_seed++;
			tmp.size = pick(2) ? e->size : (uint64_t)pick(4) * 100;
			tmp.mtime_nsec = e->mtime_nsec + 7;
			each_link(t, e, touch_content, &tmp);
		}
		break;
	case 3: /* chmod, chown, touch */
		if ((e = random_of(t, 0))) {
			tmp = *e;
			switch (pick(3)) {
			case 0: tmp.mode ^= 1u << pick(12); break;
			case 1: tmp.uid++; break;
			default: tmp.mtime_sec++; break;
			}
			each_link(t, e, set_meta, &tmp);
			memset(&tmp, 0, sizeof(tmp));
		}
		break;
	case 4: /* xattr set or removed, masked ones included */
		if ((e = random_of(t, 0))) {
			const char *name = rxattr[pick(4)];
			const struct ut_xattr *x = ut_entry_find_xattr(e, name);

			if (x && pick(2)) {
				((struct ut_xattr *)x)->value[0] ^= 1;
			} else if (x) {
				size_t i = (size_t)(x - e->xattrs);

				free(e->xattrs[i].name);
				free(e->xattrs[i].value);
				memmove(&e->xattrs[i], &e->xattrs[i + 1],
					(e->nxattrs - i - 1) * sizeof(*e->xattrs));
				e->nxattrs--;
			} else {
				ut_entry_add_xattr(e, name, "w", 1);
				ut_entry_sort_xattrs(e);
			}
		}
		break;
	case 5: /* symlink retargeted */
		if ((e = random_of(t, UT_LNK))) {
			free(e->link);
			e->link = ut_strdup(rnames[pick(NNAMES)]);
		}
		break;
	case 6: /* rdev */
		if ((e = random_of(t, pick(2) ? UT_CHR : UT_BLK)))
			e->rdev_minor++;
		break;
	case 7: /* type change: replace a path by a random other entry */
	case 8:
		if ((e = random_of(t, 0))) {
			p = ut_strdup(e->path);
			ut_tree_remove(t, p);
			e = random_entry(t, p, 2);
			ut_tree_sort(t);
			if (find(t, p)->type == UT_DIR)
				random_subtree(t, p, 3);
			free(p);
		}
		break;
	case 9: /* hardlink join: f becomes another name of e */
		e = random_of(t, UT_REG);
		f = random_of(t, UT_REG);
		if (e && f && e != f) {
			if (!e->link_id)
				e->link_id = next_link++;
			become(f, e);
		}
		break;
	case 10: /* hardlink split: e becomes its own inode, same bytes */
		if ((e = random_of(t, UT_REG)) && e->link_id)
			e->link_id = pick(2) ? 0 : next_link++;
		break;
	case 11: /* move a file somewhere else (same content and inode) */
		if ((e = random_of(t, UT_REG))) {
			struct ut_entry c;
			struct ut_entry *d = random_of(t, UT_DIR);

			p = d && pick(2) ? ut_asprintf("%s/%s", d->path, rnames[pick(NNAMES)])
					 : ut_strdup(rnames[pick(NNAMES)]);
			if (!find(t, p) && strcmp(p, e->path)) {
				ut_entry_copy(&c, e);
				free(c.path);
				c.path = p;
				p = ut_strdup(e->path);
				ut_tree_remove(t, p);
				ut_tree_take(t, &c);
				ut_tree_sort(t);
			}
			free(p);
		}
		break;
	case 12: /* directory mtime, as adding a child does */
		if ((e = random_of(t, UT_DIR)))
			e->mtime_sec += 5;
		break;
	case 13: /* a rewrite under the quick check's radar */
		if (!trust && (e = random_of(t, UT_REG)) && e->size) {
			tmp.src_a = next_seed++;
			tmp.size = e->size;
			each_link(t, e, touch_content, &tmp);
		}
		break;
	case 14: /* the root's metadata */
		find(t, "")->mode ^= 02;
		break;
	default: /* a hardlink added to an existing file */
		if ((e = random_of(t, UT_REG))) {
			struct ut_entry *d = random_of(t, UT_DIR);

			p = d && pick(2) ? ut_asprintf("%s/%s", d->path, rnames[pick(NNAMES)])
					 : ut_strdup(rnames[pick(NNAMES)]);
			if (!find(t, p)) {
				struct ut_entry c;

				if (!e->link_id)
					e->link_id = next_link++;
				ut_entry_copy(&c, e);
				free(c.path);
				c.path = p;
				p = NULL;
				ut_tree_take(t, &c);
				ut_tree_sort(t);
			}
			free(p);
		}
		break;
	}
}

static void bump_nsec(struct ut_entry *e, const struct ut_entry *src)
{
	e->mtime_nsec = src->mtime_nsec;
}

/* trust_mtime is a promise that a rewrite moves the mtime; replacing a file
 * by another inode (a join, a type change to a file) can break it in random
 * trees, so keep the promise where it broke. */
static void keep_quick_check_true(const struct ut_tree *base, struct ut_tree *vm)
{
	static uint32_t unique = 500000;
	size_t i;

	for (i = 0; i < vm->n; i++) {
		struct ut_entry *v = &vm->v[i], tmp = { 0 };
		const struct ut_entry *b = ut_tree_find(base, v->path);

		if (!b || b->type != UT_REG || v->type != UT_REG || b->size != v->size ||
		    b->src_a == v->src_a || b->mtime_sec != v->mtime_sec ||
		    b->mtime_nsec != v->mtime_nsec)
			continue;
		tmp.mtime_nsec = unique++;
		each_link(vm, v, bump_nsec, &tmp);
	}
}

/* Under ASan every digest maps and unmaps a 1 MiB buffer: fewer iterations. */
#ifdef __SANITIZE_ADDRESS__
#define DEFAULT_ITERATIONS 2000
#else
#define DEFAULT_ITERATIONS 10000
#endif

static void test_random(void **state)
{
	static const char *const mask[] = { "security.selinux" };
	const char *env = getenv("FSDIFF_SEED"), *iters_env = getenv("FSDIFF_ITERATIONS");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 20261126;
	long iters = iters_env ? atol(iters_env) : DEFAULT_ITERATIONS, it;
	uint64_t kinds[7] = { 0 }, entries = 0;
	double t0 = ut_now();

	(void)state;
	for (it = 0; it < iters; it++) {
		struct ut_tree *base = syn_tree(), *vm;
		struct fsd_options o = { 0 };
		struct fsd_result *r = NULL;
		const struct fsd_change *c;
		size_t i, n;
		int m, nm;

		rng_state = seed * 2654435761ULL + (uint64_t)it + 1;
		trust = (int)pick(4) == 0;
		o.trust_mtime = trust;
		o.dir_mtimes = (int)pick(2);
		o.move_min_size = pick(2) ? 100 : 0;
		if (pick(2)) {
			o.mask_xattrs = mask;
			o.nmask_xattrs = 1;
		}
		random_subtree(base, "", 0);
		/* Some hardlinks in the base too. */
		for (m = 0; m < 2; m++) {
			struct ut_entry *e = random_of(base, UT_REG), *f = random_of(base, UT_REG);

			if (e && f && e != f) {
				if (!e->link_id)
					e->link_id = next_link++;
				become(f, e);
			}
		}
		ut_tree_sort(base);
		assert_int_equal(ut_tree_digest_all(base, NULL), 0);
		vm = tree_clone(base, (int)pick(2));
		nm = 1 + (int)pick(8);
		for (m = 0; m < nm; m++)
			mutate(vm);
		ut_tree_sort(vm);
		ut_tree_count_links(vm);
		if (trust)
			keep_quick_check_true(base, vm);
		if (diff_roundtrip(base, vm, &o, &r) < 0)
			fail_msg("iteration %ld (FSDIFF_SEED=%llu): plan does not give the VM tree", it,
				 (unsigned long long)seed);
		c = fsd_result_changes(r, &n);
		for (i = 0; i < n; i++)
			kinds[c[i].kind]++;
		entries += base->n + vm->n;
		fsd_result_free(r);
		ut_tree_free(vm);
		ut_tree_free(base);
	}
	fprintf(stderr, "random: %ld iterations (%.1f entries a tree) in %.2f s; changes: added %llu "
		"modified %llu metadata %llu deleted %llu type %llu hardlink %llu\n", iters,
		(double)entries / (double)(2 * (iters ? iters : 1)), ut_now() - t0,
		(unsigned long long)kinds[FSD_ADDED], (unsigned long long)kinds[FSD_MODIFIED],
		(unsigned long long)kinds[FSD_METADATA], (unsigned long long)kinds[FSD_DELETED],
		(unsigned long long)kinds[FSD_TYPE_CHANGED], (unsigned long long)kinds[FSD_HARDLINK]);
	for (it = 1; it <= 6; it++)
		assert_true(kinds[it] > 0);
}

/* ---- speed -------------------------------------------------------------- */

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* CPU seconds: the machine is shared, wall time says more about the others. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Heap in use, sampled from the progress hook while the diff runs. */
static size_t heap_peak, progress_calls;

static void heap_sample(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct mallinfo2 mi = mallinfo2();

	(void)ctx;
	assert_string_equal(phase, "diff");
	assert_true(done <= total);
	progress_calls++;
	if (mi.uordblks > heap_peak)
		heap_peak = mi.uordblks;
}

static void test_speed_200k(void **state)
{
	struct fsd_options o = { .progress = { heap_sample, NULL } };
	size_t heap0;
	struct ut_tree *base = ut_tree_new(), *vm;
	struct fsd_layer_item *items = NULL;
	struct fsd_result *r = NULL;
	struct ut_err err = { { 0 } };
	double t0, t_diff, t_plan, t_sorted;
	long rss0, rss1;
	size_t i, n;
	char path[64];

	(void)state;
	rng_state = 12345;
	t_dir(base, "", 0755);
	/* 200 directories of 999 files: 200,200 entries. */
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "usr/share/d%03zu", i);
		t_dir(base, path, 0755);
		for (size_t k = 0; k < 999; k++) {
			struct ut_entry *e;

			snprintf(path, sizeof(path), "usr/share/d%03zu/file-%04zu.txt", i, k);
			e = t_file(base, path, i * 1000 + k, 100 + k);
			e->has_digest = 1;
			memcpy(e->digest, &e->src_a, sizeof(e->src_a));
		}
	}
	t_dir(base, "usr", 0755);
	t_dir(base, "usr/share", 0755);
	ut_tree_sort(base);
	vm = tree_clone(base, 1);
	/* 1% chmod, 1% new content with digests known, 2 dirs deleted, 1000
	 * files added: digests on both sides, so nothing is read. */
	for (i = 1; i < vm->n; i += 100)
		vm->v[i].mode = 0600;
	for (i = 50; i < vm->n; i += 100)
		if (vm->v[i].type == UT_REG)
			vm->v[i].digest[31] ^= 1;
	ut_tree_remove(vm, "usr/share/d007");
	ut_tree_remove(vm, "usr/share/d150");
	for (i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "usr/share/d100/new-%04zu", i);
		t_file(vm, path, 1, 10)->has_digest = 1;
	}
	ut_tree_sort(vm);
	/* Shuffle the base so that fsd_diff pays for its sort. */
	for (i = base->n - 1; i > 0; i--) {
		size_t j = pick(i + 1);
		struct ut_entry x = base->v[i];

		base->v[i] = base->v[j];
		base->v[j] = x;
	}
	base->sorted = 0;
	rss0 = maxrss_kb();
	heap0 = mallinfo2().uordblks;
	t0 = cpu_now();
	assert_int_equal(fsd_diff(base, vm, &o, &r, &err), 0);
	t_diff = cpu_now() - t0;
	assert_true(progress_calls > 0);
	t0 = cpu_now();
	assert_int_equal(fsd_layer_plan(r, &items, &n, &err), 0);
	t_plan = cpu_now() - t0;
	rss1 = maxrss_kb();
	assert_int_equal(fsd_result_stats(r)->digested, 0);
	assert_int_equal(fsd_result_stats(r)->deleted, 2 * 1000);
	assert_int_equal(fsd_result_stats(r)->added, 1000);
	assert_int_equal(n, 2 + 1000 + fsd_result_stats(r)->modified + fsd_result_stats(r)->metadata);
	free(items);
	fsd_result_free(r);
	/* Again, both already sorted: the walk alone. */
	t0 = cpu_now();
	assert_int_equal(fsd_diff(base, vm, NULL, &r, &err), 0);
	t_sorted = cpu_now() - t0;
	fsd_result_free(r);
	fprintf(stderr, "speed: %zu vs %zu entries: diff %.3f s CPU (with sorting the base), %.3f s "
		"(sorted), plan %.3f s, peak RSS growth %ld KiB, heap during the walk +%zu KiB "
		"(%.1f bytes per entry)\n", base->n, vm->n, t_diff, t_sorted, t_plan, rss1 - rss0,
		(heap_peak - heap0) / 1024, (double)(heap_peak - heap0) / (double)(base->n + vm->n));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__OPTIMIZE__)
	/* Debug build: well under a second is the bar. */
	assert_true(t_diff + t_plan < 1.0);
#elif !defined(__SANITIZE_ADDRESS__)
	assert_true(t_diff + t_plan < 0.5);
#endif
	ut_tree_free(vm);
	ut_tree_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_added_deleted),
		cmocka_unit_test(test_modified),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_symlink_and_device),
		cmocka_unit_test(test_type_changes),
		cmocka_unit_test(test_replaced_dirs),
		cmocka_unit_test(test_odd_names),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_hardlink_half_changed),
		cmocka_unit_test(test_hardlink_split_join),
		cmocka_unit_test(test_moves),
		cmocka_unit_test(test_upper),
		cmocka_unit_test(test_trust_mtime),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_bad_content),
		cmocka_unit_test(test_pipelined_digests),
		cmocka_unit_test(test_hostile_trees),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_speed_200k),
	};

	return cmocka_run_group_tests_name("fsdiff: cases, property and speed", tests, NULL, NULL);

}
