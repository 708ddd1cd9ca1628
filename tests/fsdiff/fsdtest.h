/*
 * fsdtest.h - helpers shared by the fsdiff tests: synthetic and host content
 * sources, a host directory walker, and the independent model of a layer
 * (apply a plan on a base tree with OCI whiteout semantics) that every test
 * checks the diff against.
 */
#ifndef VM2OCI_FSDTEST_H
#define VM2OCI_FSDTEST_H

#include "fsdiff.h"
#include "util.h"

/* Synthetic content: a regular file's bytes are a pseudo-random stream made
 * from (src_a, size). src_b selects a failure for bad-input tests. */
enum { SYN_OK = 0, SYN_FAIL_OPEN = 1, SYN_SHORT = 2, SYN_FAIL_READ = 3 };
extern const struct ut_content_ops syn_ops;
extern unsigned long syn_opens; /* how many files were opened, to prove reads */
void syn_digest(uint64_t seed, uint64_t size, unsigned char out[UT_SHA256_LEN]);

/* Host content: ctx is the root directory (a char *), paths relative to it. */
extern const struct ut_content_ops host_ops;
/* Walks a host directory with lstat/readlink/llistxattr into a tree whose
 * content reads the host files (content.ctx: a copy of root, freed by
 * host_tree_free). */
struct ut_tree *host_walk(const char *root);
void host_tree_free(struct ut_tree *t);

/* Builders for synthetic trees (content through syn_ops). */
struct ut_tree *syn_tree(void);
struct ut_entry *t_dir(struct ut_tree *t, const char *path, uint32_t mode);
struct ut_entry *t_file(struct ut_tree *t, const char *path, uint64_t seed, uint64_t size);
struct ut_entry *t_symlink(struct ut_tree *t, const char *path, const char *target);
struct ut_entry *t_dev(struct ut_tree *t, const char *path, enum ut_ftype type,
		       uint32_t major, uint32_t minor);
struct ut_tree *tree_clone(const struct ut_tree *t, int keep_digests);

/* A shell script (printf format, one %s: the directory to work in) that
 * makes base/ from real files and vm/ as cp -a of it changed with real
 * tools: every change kind, hardlink split/join, a 2 MiB move, odd names. */
extern const char real_trees_script[];

struct cmp_opts {
	int dir_mtimes;
	const char *const *mask;
	size_t nmask;
};

/* The model: base + plan -> tree, with OCI semantics (whiteouts hide lower
 * layers only; a written entry is a new inode; hardlinks within the layer
 * follow the VM's link_id). Returns NULL and says why on stderr when the plan
 * breaks a rule a real layer would need (missing parent, a non-directory
 * written over a directory without a whiteout, a whiteout of nothing). */
struct ut_tree *apply_plan(const struct ut_tree *base, const struct fsd_layer_item *items,
			   size_t n);
/* 0 when equal under o; otherwise prints the first difference, returns -1.
 * Regular files must have digests on both sides. */
int tree_equal(const struct ut_tree *a, const struct ut_tree *b, const struct cmp_opts *o);
/* Structural rules of a plan; 0 or -1 with the reason on stderr. */
int check_plan(const struct ut_tree *vm, const struct fsd_layer_item *items, size_t n);
/* FSD_DIFF_* bits between two entries of the same type, computed the simple
 * way (a second implementation to check the diff's `what`). Content by
 * digest; both must have one. */
unsigned entry_diff(const struct ut_entry *b, const struct ut_entry *v, const struct cmp_opts *o);

/* diff + plan + apply + compare in one call; returns 0 when it all holds. */
int diff_roundtrip(struct ut_tree *base, struct ut_tree *vm, const struct fsd_options *fo,
		   struct fsd_result **res_out);

#endif
