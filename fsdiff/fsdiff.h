/*
 * fsdiff.h - what one file-system tree has beyond another.
 *
 * A merge-walk of two trees that are sorted explicitly by full path in
 * strcmp() order (never walk order). The result is every change kind a layer
 * must carry, and the layer plan: the ordered list of entries and whiteouts
 * that, applied on top of the base, gives exactly the VM's tree.
 */
#ifndef VM2OCI_FSDIFF_H
#define VM2OCI_FSDIFF_H

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fsd_kind {
	FSD_ADDED = 1,    /* only in the VM */
	FSD_MODIFIED,     /* content differs (and maybe metadata too) */
	FSD_METADATA,     /* same content, other mode/owner/mtime/xattrs */
	FSD_DELETED,      /* only in the base */
	FSD_TYPE_CHANGED, /* file <-> dir <-> symlink <-> device ... */
	FSD_HARDLINK,     /* unchanged itself, carried because its link set changed */
};

const char *fsd_kind_name(enum fsd_kind k);

/* What differs, for FSD_MODIFIED / FSD_METADATA (bits may combine). */
enum {
	FSD_DIFF_CONTENT = 1 << 0,
	FSD_DIFF_SIZE = 1 << 1,
	FSD_DIFF_MODE = 1 << 2,
	FSD_DIFF_OWNER = 1 << 3,
	FSD_DIFF_MTIME = 1 << 4,
	FSD_DIFF_XATTR = 1 << 5,
	FSD_DIFF_LINK = 1 << 6,   /* symlink target */
	FSD_DIFF_RDEV = 1 << 7,
	FSD_DIFF_LINKSET = 1 << 8, /* hardlink set membership */
};

/*
 * One path that differs, in strcmp order of paths. Every deleted path is
 * listed (a deleted directory and everything under it, and what lay under a
 * directory that changed type), though the plan whites out only the topmost.
 * The root ("") is compared and listed like any directory, but no layer
 * item ever carries it.
 */
struct fsd_change {
	enum fsd_kind kind;
	/* FSD_DIFF_* bits for FSD_MODIFIED / FSD_METADATA (a symlink's target
	 * and a device's numbers count as content); for FSD_HARDLINK,
	 * FSD_DIFF_LINKSET when its own set changed (split, joined, a member
	 * added) and 0 when carried only because another member is written;
	 * 0 for the other kinds. */
	unsigned what;
	const struct ut_entry *base;  /* NULL for FSD_ADDED */
	const struct ut_entry *vm;    /* NULL for FSD_DELETED */
	/* FSD_ADDED regular files whose content the base has at another path
	 * (found by digest): that path, borrowed from the base tree. */
	const char *moved_from;
};

struct fsd_options {
	/* rsync's quick check: same size and mtime means same content. */
	int trust_mtime;
	/* Compare directory mtimes too (off: a directory whose only change is
	 * its mtime is not reported; verify turns it on). */
	int dir_mtimes;
	/* xattr names to ignore entirely, e.g. "security.selinux". */
	const char *const *mask_xattrs;
	size_t nmask_xattrs;
	/* Added regular files at least this large are digested to find moves;
	 * 0 disables move detection. */
	uint64_t move_min_size;
	/* A layer between base and vm (e.g. the packages layer), or NULL: vm
	 * is then compared with base with upper's entries on top (an entry of
	 * upper replaces base's of the same path; upper's content is never
	 * read, so its regular files need digests), and the result also holds
	 * the statistics of vm against base alone (fsd_result_stats_below):
	 * what the diff would carry without that layer. Borrowed for the call. */
	const struct ut_tree *upper;
	struct ut_progress progress;
};

struct fsd_stats {
	uint64_t added, added_bytes;
	uint64_t modified, modified_bytes;
	uint64_t metadata;
	uint64_t deleted, deleted_bytes;
	uint64_t type_changed;
	uint64_t hardlinks;
	uint64_t moved, moved_bytes;
	uint64_t digested, digested_bytes; /* files read to compare content */
};

struct fsd_result;

/*
 * Compares base (every regular file with a digest, or none when trust_mtime
 * suffices) with vm (content readable through vm->content, digests computed
 * here when needed and stored in vm's entries). Both trees are sorted here
 * if they are not. The result borrows both trees: free it first.
 *
 * A base file without a digest whose content must be compared is read
 * through base->content when the base has one; with no way to read either
 * side the diff fails, naming the file. Trees are untrusted: a path with an
 * empty, "." or ".." component, an unknown file type, or a tree whose
 * sorted flag lies is refused with an error.
 *
 * The plan and the changes borrow from vm and from base, or, with an upper
 * layer, from a merged lower tree the result owns.
 */
int fsd_diff(struct ut_tree *base, struct ut_tree *vm, const struct fsd_options *opt,
	     struct fsd_result **out, struct ut_err *err);
void fsd_result_free(struct fsd_result *r);

const struct fsd_change *fsd_result_changes(const struct fsd_result *r, size_t *n);
const struct fsd_stats *fsd_result_stats(const struct fsd_result *r);
/* With fsd_options.upper: vm against base without upper (a second merge in
 * here, reusing the digests the first put on vm); NULL without an upper. */
const struct fsd_stats *fsd_result_stats_below(const struct fsd_result *r);

/* One step of the layer: a whiteout of path, or the VM's entry. */
struct fsd_layer_item {
	int whiteout;                 /* 1: delete path from the lower layers */
	const char *path;             /* whiteout: the path to delete */
	const struct ut_entry *entry; /* otherwise: what to write */
};

/*
 * The layer plan, in the order to write it: parents before children, a
 * directory's whiteouts before its other children, a deleted directory as
 * one whiteout, a changed type as whiteout then the new entry, and every
 * member of a VM hardlink set whenever one member is written. Unchanged
 * parent directories are not written: the lower layers have them. The items
 * borrow from r.
 */
int fsd_layer_plan(const struct fsd_result *r, struct fsd_layer_item **items, size_t *n,
		   struct ut_err *err);

/* ---- filters: paths a layer leaves out (filter.c) ------------------------
 *
 * rsync's include/exclude rules, matched as rsync matches them (exclude.c,
 * wildmatch.c): first match wins; "/" at the start anchors a pattern at the
 * root, a trailing "/" matches directories only; '*' and '?' stop at '/',
 * "**" does not, "dir/" + "***" is the directory and everything below it; a
 * pattern without a slash matches the last component; `[...]` classes and
 * backslash quoting as rsync's (named classes like [:alpha:] are refused).
 * An excluded directory takes everything below it, whatever later rules say
 * (rsync never descends into it). One addition of vm2oci's own: FSD_RULE_EMPTY
 * keeps a regular file but with no content (how /etc/machine-id belongs in
 * an image).
 */
enum fsd_rule_action {
	FSD_RULE_INCLUDE = '+',
	FSD_RULE_EXCLUDE = '-',
	FSD_RULE_EMPTY = '=',
};

struct fsd_filter;

struct fsd_filter *fsd_filter_new(void);
void fsd_filter_free(struct fsd_filter *f);
/* Appends a rule (pattern as rsync takes it: "/vmlinuz", "*.deb", "cache/");
 * group names it in reports ("kernel", "user"). -1 for an empty pattern,
 * one with a control character, or a named character class. */
int fsd_filter_add(struct fsd_filter *f, enum fsd_rule_action action, const char *pattern,
		   const char *group, struct ut_err *err);
/* Appends the rules of a filter file: "+ PATTERN", "- PATTERN" or
 * "= PATTERN" lines; blank lines and lines starting with '#' or ';' are
 * skipped (rsync's --filter-from subset). The error names the line. */
int fsd_filter_parse(struct fsd_filter *f, const char *text, size_t len, const char *group,
		     struct ut_err *err);
/* The default exclusions of a VM's tree, by group (FSD_GROUP_* bits). */
enum {
	FSD_GROUP_KERNEL = 1 << 0,   /* /boot contents, modules, headers, /vmlinuz, /initrd.img */
	FSD_GROUP_SWAP = 1 << 1,     /* /swapfile (fstab's swap files are the caller's) */
	FSD_GROUP_VOLATILE = 1 << 2, /* what /proc /sys /tmp hold, /run's files */
	FSD_GROUP_CACHES = 1 << 3,   /* apt archives and .bin caches, yum, dnf */
	FSD_GROUP_MACHINE_ID = 1 << 4, /* /etc/machine-id emptied */
	FSD_GROUP_ALL = (1 << 5) - 1,
};
void fsd_filter_add_defaults(struct fsd_filter *f, unsigned groups);
/* The rules as a filter file (one "A PATTERN" line each), heap. */
char *fsd_filter_text(const struct fsd_filter *f);
size_t fsd_filter_count(const struct fsd_filter *f); /* 0 for NULL */

struct fsd_rule_info {
	enum fsd_rule_action action;
	const char *pattern, *group; /* borrowed from the filter */
	uint64_t files, bytes;       /* what fsd_filter_tree took (FSD_FILTER_COUNT) */
};
void fsd_filter_rule(const struct fsd_filter *f, size_t i, struct fsd_rule_info *out);

/* The index of the first rule matching path (relative: "etc/fstab"; never
 * the root ""), or -1. Ancestors are not looked at. */
int fsd_filter_match(const struct fsd_filter *f, const char *path, int is_dir);

enum {
	FSD_FILTER_EXCLUDE = 1 << 0, /* remove excluded entries (and all below them) */
	FSD_FILTER_EMPTY = 1 << 1,   /* empty the files FSD_RULE_EMPTY matches */
	FSD_FILTER_COUNT = 1 << 2,   /* add what was taken to each rule's counts */
};
/* Applies f to t in place (sorted here if it is not): each path is judged
 * as rsync judges it in a walk, ancestors first (a directory the tree lacks
 * is judged as one). An emptied file gets size 0, the empty digest and no
 * link set. Counts are regular-file bytes, one per path. f NULL: nothing. */
void fsd_filter_tree(struct fsd_filter *f, struct ut_tree *t, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
