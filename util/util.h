/*
 * util.h - the small shared vocabulary of vm2oci's modules.
 *
 * Every module (diskread, packages, fsdiff, blockdiff, image) speaks in the
 * types below, so none of them needs to know the others:
 *
 *   - struct ut_err:    a caller-owned error buffer, written only on failure
 *                       (as git's `struct strbuf *err`).
 *   - struct ut_buf:    a growable byte buffer with an optional size cap
 *                       (git strbuf, curl dynbuf) for untrusted input.
 *   - struct ut_sha256: streaming SHA-256.
 *   - struct ut_entry / struct ut_tree: one file-system tree as a flat array
 *                       of entries sorted by full path in strcmp() order.
 *   - struct ut_content: a vtable that opens and reads an entry's content
 *                       from wherever the tree came from (a disk, a layer).
 *
 * Conventions: functions return 0 on success and a negative value on failure,
 * with the reason in *err (err may be NULL). Every _free() accepts NULL.
 */
#ifndef VM2OCI_UTIL_H
#define VM2OCI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------- */

#define UT_ERR_MAX 1024

struct ut_err {
	char msg[UT_ERR_MAX];
};

/* Formats the message into err (if non-NULL) and returns -1, so that
 * `return ut_err_set(err, "...")` reads as one statement. */
int ut_err_set(struct ut_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Puts "prefix" in front of the message already in err: how a caller adds
 * the file name to a reason found deep inside a parser. Returns -1. */
int ut_err_prefix(struct ut_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- growable buffer ---------------------------------------------------- */

struct ut_buf {
	unsigned char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t alloc;
	size_t cap; /* 0 = no cap; otherwise growing past it fails */
};

void ut_buf_init(struct ut_buf *b, size_t cap);
void ut_buf_release(struct ut_buf *b);
void ut_buf_reset(struct ut_buf *b);
int ut_buf_grow(struct ut_buf *b, size_t extra, struct ut_err *err);
int ut_buf_add(struct ut_buf *b, const void *data, size_t len, struct ut_err *err);
int ut_buf_addstr(struct ut_buf *b, const char *s, struct ut_err *err);
int ut_buf_addf(struct ut_buf *b, struct ut_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Hands the data to the caller (who frees it) and leaves b empty. */
char *ut_buf_detach(struct ut_buf *b, size_t *len);

/* Appends s to b as a JSON string literal, quotes included. */
int ut_buf_add_json_string(struct ut_buf *b, const char *s, struct ut_err *err);

/* Reads a whole host file (not a guest file) into b, at most b->cap bytes. */
int ut_read_host_file(const char *path, struct ut_buf *b, struct ut_err *err);
/* write(2) until all of data is written (EINTR retried); -1 with errno. */
int ut_write_all(int fd, const void *data, size_t len);
/* data as the file at path, whole or not at all: written to
 * PATH.tmp-XXXXXX, given mode, renamed over path. */
int ut_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
			 struct ut_err *err);
/* The same from an open descriptor; name is the file in messages. */
int ut_read_fd(int fd, const char *name, struct ut_buf *b, struct ut_err *err);
/* Removes a host path and, when it is a directory, everything below it
 * (symlinks are removed, never followed). Best effort: for cleaning up what
 * we made. */
void ut_rm_rf(const char *path);
/* Formats a byte count for people: "512 B", "1.5 KiB", "12.34 MiB",
 * "1.20 GiB", "3.00 TiB". Returns out. */
char *ut_human_size(uint64_t bytes, char *out, size_t len);

/* ---- memory ------------------------------------------------------------- */

/* Allocation failure is not a recoverable condition anywhere in vm2oci; these
 * abort with a message instead of spreading NULL checks through every
 * module. Sizes from untrusted input must still be bounded before calling. */
void *ut_malloc(size_t n);
void *ut_calloc(size_t n, size_t size);
void *ut_realloc(void *p, size_t n);
char *ut_strdup(const char *s);
char *ut_strndup(const char *s, size_t n);
char *ut_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- base64 ------------------------------------------------------------- */

/* Appends the bytes that in[0..len) (standard alphabet, '=' padding
 * optional) stands for to out; -1 with err on a byte outside the alphabet
 * or past out's cap. */
int ut_base64_decode(const char *in, size_t len, struct ut_buf *out, struct ut_err *err);
/* data as base64 with padding, NUL-terminated; the caller frees it. */
char *ut_base64_encode(const void *data, size_t len);

/* ---- sha256 ------------------------------------------------------------- */

#define UT_SHA256_LEN 32
#define UT_SHA256_HEX 65 /* 64 hex digits and the NUL */

struct ut_sha256 {
	void *ctx; /* EVP_MD_CTX */
};

int ut_sha256_init(struct ut_sha256 *h);
void ut_sha256_update(struct ut_sha256 *h, const void *data, size_t len);
void ut_sha256_final(struct ut_sha256 *h, unsigned char out[UT_SHA256_LEN]);
void ut_sha256_release(struct ut_sha256 *h); /* safe after final */
void ut_sha256_buf(const void *data, size_t len, unsigned char out[UT_SHA256_LEN]);
void ut_hex(const unsigned char *bin, size_t len, char *out /* 2*len+1 */);

/* md5, sha1 or sha256, streaming: the digests package databases record. */
enum ut_hash_kind { UT_HASH_MD5, UT_HASH_SHA1, UT_HASH_SHA256 };
#define UT_HASH_MAX 32 /* bytes of the longest */

struct ut_hash {
	void *ctx; /* EVP_MD_CTX */
};

int ut_hash_init(struct ut_hash *h, enum ut_hash_kind kind);
void ut_hash_update(struct ut_hash *h, const void *data, size_t len);
/* Writes the digest, returns its length in bytes. */
size_t ut_hash_final(struct ut_hash *h, unsigned char out[UT_HASH_MAX]);
void ut_hash_release(struct ut_hash *h); /* safe after final */

/* ---- file-system trees -------------------------------------------------- */

enum ut_ftype {
	UT_REG = 1,
	UT_DIR,
	UT_LNK,
	UT_CHR,
	UT_BLK,
	UT_FIFO,
	UT_SOCK,
};

const char *ut_ftype_name(enum ut_ftype t); /* "file", "dir", "symlink", ... */

struct ut_xattr {
	char *name;           /* full name with namespace: "security.capability" */
	unsigned char *value;
	size_t len;
};

/*
 * One path in a tree. Paths are relative to the tree's root, with no leading
 * or trailing slash; the root itself is "". An entry on its own owns its
 * strings (malloc'd); an entry in a tree has its path in the tree's string
 * arena (path_in_tree set), so a tree costs the struct below plus the path's
 * bytes per entry: fields are ordered and sized to leave no padding, and
 * xattrs are allocated only when present.
 */
struct ut_entry {
	char *path;
	char *link;     /* UT_LNK: the target, as stored (malloc'd) */
	struct ut_xattr *xattrs; /* sorted by name; NULL when none */
	uint64_t size;  /* regular files: content length (sparse holes count) */
	int64_t mtime_sec;
	/*
	 * Hardlinks: entries with the same non-zero link_id are one inode. The
	 * value is only meaningful within one tree (disk: filesystem index and
	 * inode number; tar: an id given per link set).
	 */
	uint64_t link_id;
	/* Opaque to everyone but the tree's content source: where to read the
	 * content from (e.g. filesystem index and inode number). */
	uint64_t src_a, src_b;
	uint32_t mode;  /* permission bits only: mode & 07777 */
	uint32_t uid, gid;
	uint32_t mtime_nsec;
	uint32_t rdev_major, rdev_minor; /* UT_CHR and UT_BLK */
	uint32_t nlink;
	uint16_t nxattrs; /* at most UT_MAX_XATTRS */
	uint8_t type;     /* enum ut_ftype */
	uint8_t has_digest : 1;
	uint8_t path_in_tree : 1; /* the tree's arena owns path: never free() it */
	unsigned char digest[UT_SHA256_LEN]; /* sha256 of the content (UT_REG) */
};

#define UT_MAX_XATTRS 65535

void ut_entry_release(struct ut_entry *e);
/* Deep copy. */
void ut_entry_copy(struct ut_entry *dst, const struct ut_entry *src);
/* -1 (and nothing added) beyond UT_MAX_XATTRS. */
int ut_entry_add_xattr(struct ut_entry *e, const char *name, const void *value,
		       size_t len);
void ut_entry_sort_xattrs(struct ut_entry *e);
const struct ut_xattr *ut_entry_find_xattr(const struct ut_entry *e, const char *name);

/* Where an entry's bytes come from. */
struct ut_content_ops {
	/* Opens the content of e; *handle is passed to read and close. */
	int (*open)(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err);
	/* Reads up to len bytes; returns the count (0 at the end) or -1. */
	ssize_t (*read)(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err);
	void (*close)(void *ctx, void *handle);
};

struct ut_content {
	const struct ut_content_ops *ops;
	void *ctx;
};

/* Computes e->digest by reading e through src (UT_REG only). */
int ut_content_digest(const struct ut_content *src, struct ut_entry *e, struct ut_err *err);
/*
 * Reads e's content through src in chunks of at most len bytes of buf,
 * calling fn(ctx, data, n, err) for each (fn returning < 0 stops it), and
 * checks that the content is exactly e->size bytes. Opens and closes e.
 */
int ut_content_stream(const struct ut_content *src, const struct ut_entry *e, void *buf,
		      size_t len, int (*fn)(void *ctx, const void *data, size_t n,
					    struct ut_err *err),
		      void *ctx, struct ut_err *err);
/* Appends e's whole content to b (b->cap bounds it). */
int ut_content_read_all(const struct ut_content *src, const struct ut_entry *e,
			struct ut_buf *b, struct ut_err *err);

struct ut_strings; /* the tree's path arena: chunks freed with the tree */

struct ut_tree {
	struct ut_entry *v;
	size_t n, alloc;
	int sorted;
	struct ut_content content; /* may have ops == NULL: no content */
	struct ut_strings *strings; /* private to util.c */
};

struct ut_tree *ut_tree_new(void);
void ut_tree_free(struct ut_tree *t);
/* Appends a new zeroed entry with a copy of path (in the tree's arena) and
 * returns it. The pointer is valid until the next add. */
struct ut_entry *ut_tree_add(struct ut_tree *t, const char *path);
/* Moves *e into the tree (the tree owns its strings afterwards; the path is
 * copied into the tree's arena, and freed when e owned it). *e is zeroed. */
void ut_tree_take(struct ut_tree *t, struct ut_entry *e);
/* Gives e (an entry of t) a new path, copied into t's arena; the tree is
 * marked unsorted. Never free() or assign an entry's path in a tree. */
void ut_tree_rename(struct ut_tree *t, struct ut_entry *e, const char *path);
/* Sorts by path in strcmp() order; a later duplicate path replaces an
 * earlier one (as later layers replace earlier ones). */
void ut_tree_sort(struct ut_tree *t);
/* Binary search; the tree must be sorted. */
struct ut_entry *ut_tree_find(const struct ut_tree *t, const char *path);
/* Index of the first entry whose path is >= path (sorted tree). */
size_t ut_tree_lower_bound(const struct ut_tree *t, const char *path);
/* Removes path and, if it is a directory, everything below it. */
void ut_tree_remove(struct ut_tree *t, const char *path);
/* Recomputes nlink from link_id (entries of one link set). */
void ut_tree_count_links(struct ut_tree *t);
/*
 * A tree as a file (tree_file.c): every field of every entry, src_a/src_b and
 * digests included, not the content source. Saved under PATH.tmp-XXXXXX and
 * renamed; loading checks every length and fails on a truncated, foreign or
 * corrupt file ("not a tree file", "truncated or corrupt tree file").
 */
int ut_tree_save(const struct ut_tree *t, const char *path, struct ut_err *err);
int ut_tree_load(const char *path, struct ut_tree **out, struct ut_err *err);
/* Digests every regular file that has none yet, through t->content. */
int ut_tree_digest_all(struct ut_tree *t, struct ut_err *err);

/* True when child is path or lies under it ("etc" covers "etc/x", not "etc.bak"). */
int ut_path_is_under(const char *child, const char *path);
/* Last component of a path, and the parent length ("a/b/c" -> 3). */
const char *ut_path_base(const char *path);
size_t ut_path_parent_len(const char *path);

/*
 * Guest paths: resolves path inside a root that is not the host's, one
 * component at a time. "." is skipped, ".." stops at the root, every
 * symlink is followed (an absolute target restarts from the root, never the
 * host's), at most UT_MAX_SYMLINKS of them. lookup tells what rel (relative
 * to the root, no symlink in it but maybe its last component) is: -1 error,
 * 0 missing, 1 with *type set and, for UT_LNK, *link a malloc'd target.
 * Returns 1 with *out (malloc'd, "" for the root), 0 when a component is
 * missing or not a directory (a trailing slash too), -1 on error: what
 * Linux's openat2(RESOLVE_IN_ROOT) answers, which the tests check.
 */
#define UT_MAX_SYMLINKS 40 /* as Linux's MAXSYMLINKS */
typedef int (*ut_guest_lookup_fn)(void *ctx, const char *rel, enum ut_ftype *type, char **link,
				  struct ut_err *err);
int ut_guest_resolve(const char *path, ut_guest_lookup_fn lookup, void *ctx, char **out,
		     struct ut_err *err);

/* ---- reading a walked guest tree (guest_tree.c) ------------------------ */

/* The entry path names in t (sorted), every symlink followed inside the
 * guest (the last component too unless !follow_last); NULL when missing
 * (err set only on a real error, such as a link loop; err may be NULL). */
const struct ut_entry *ut_tree_resolve(const struct ut_tree *t, const char *path, int follow_last,
				       struct ut_err *err);
/* A regular file's whole content appended to b (b->cap bounds it): 1, 0
 * when missing, -1 with err (not a regular file, too big, a read error). */
int ut_tree_read_file(const struct ut_tree *t, const char *path, struct ut_buf *b,
		      struct ut_err *err);
/* The names in a directory (symlinks followed), in tree order; *names is a
 * malloc'd array of malloc'd strings (ut_strv_free). 1 / 0 / -1 as above. */
int ut_tree_list_dir(const struct ut_tree *t, const char *path, char ***names, size_t *n,
		     struct ut_err *err);
/* Frees n strings and the array; NULL is fine. */
void ut_strv_free(char **v, size_t n);

/* ---- names from the guest ------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when the bytes there
 * are not UTF-8 (stray continuation bytes, overlong forms, surrogates, code
 * points past U+10FFFF). p must be NUL-terminated. */
size_t ut_utf8_seq_len(const unsigned char *p);
int ut_utf8_valid(const char *s);

#define UT_ESC_BACKSLASH 1u /* also write '\\' as "\\\\" (unambiguous names) */
/* Appends s for a terminal or a log line: valid UTF-8 except control bytes as
 * it is; \n, \t, \r as such; other control bytes, DEL and every byte that is
 * not UTF-8 as \xHH. The result is valid UTF-8 with no control byte. */
int ut_buf_add_escaped(struct ut_buf *b, const char *s, unsigned flags, struct ut_err *err);
/* The same with UT_ESC_BACKSLASH, as a new string (NULL on allocation failure). */
char *ut_escape_name(const char *s);

/* The first component of path that begins with ".wh." (a name every OCI tool
 * reads as a whiteout), or NULL. */
const char *ut_path_whiteout_component(const char *path);
/* path with every component that begins with ".wh." or ".vm2oci-esc."
 * prefixed by ".vm2oci-esc." (a one-to-one map, so no two guest names meet),
 * as a new string; NULL when nothing needed escaping. */
char *ut_path_escape_whiteouts(const char *path);
/* Renames every entry of t through ut_path_escape_whiteouts() and sorts it
 * again: the tree as a layer written with escaped names gives it back.
 * Returns how many entries were renamed. */
size_t ut_tree_escape_whiteouts(struct ut_tree *t);

/* ---- progress ----------------------------------------------------------- */

/* Long-running operations report through this; NULL means silence. */
struct ut_progress {
	void (*update)(void *ctx, const char *phase, uint64_t done, uint64_t total);
	void *ctx;
};

static inline void ut_progress_update(const struct ut_progress *p, const char *phase,
				      uint64_t done, uint64_t total)
{
	if (p && p->update)
		p->update(p->ctx, phase, done, total);
}

/* ---- byte order -------------------------------------------------------- */

/* Loads from untrusted on-disk structures; p must hold the whole value (the
 * caller checked the bounds). One copy here instead of one per format. */
static inline uint16_t ut_le16(const void *p)
{
	const unsigned char *b = p;
	return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t ut_le32(const void *p)
{
	const unsigned char *b = p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}
static inline uint64_t ut_le64(const void *p)
{
	const unsigned char *b = p;
	return (uint64_t)ut_le32(b) | ((uint64_t)ut_le32(b + 4) << 32);
}
static inline uint16_t ut_be16(const void *p)
{
	const unsigned char *b = p;
	return (uint16_t)((b[0] << 8) | b[1]);
}
static inline uint32_t ut_be32(const void *p)
{
	const unsigned char *b = p;
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
	       (uint32_t)b[3];
}
static inline uint64_t ut_be64(const void *p)
{
	const unsigned char *b = p;
	return ((uint64_t)ut_be32(b) << 32) | (uint64_t)ut_be32(b + 4);
}

/* Monotonic clock in seconds, for per-phase timings. */
double ut_now(void);

#ifdef __cplusplus
}
#endif
#endif
