/*
 * img_internal.h - what the image module's files share; not public.
 */
#ifndef VM2OCI_IMG_INTERNAL_H
#define VM2OCI_IMG_INTERNAL_H

#include "image.h"

#include <jansson.h>

/* Bounds for JSON documents read from images we did not write. */
#define IMG_JSON_MAX (16u << 20)

/* A compressor that hashes and writes its output to fd. */
struct img_zout;

int img_zout_new(enum img_compress c, int level, int threads, int fd, struct img_zout **out,
		 struct ut_err *err);
int img_zout_write(struct img_zout *z, const void *buf, size_t len, struct ut_err *err);
/* Flushes the stream; digest and size are those of the bytes written to fd. */
int img_zout_finish(struct img_zout *z, unsigned char digest[UT_SHA256_LEN], uint64_t *size,
		    struct ut_err *err);
void img_zout_free(struct img_zout *z);

/* Parallel gzip (pgzip.c): one gzip member whose bytes depend on the data and
 * the level only, never on the thread count. Levels 1-3: ISA-L; 4-9: zlib.
 * threads <= 1 compresses in the caller. emit gets the output in order. */
#define IMG_GZIP_DEFAULT_LEVEL 1
typedef int (*img_pgzip_emit_fn)(void *ctx, const void *p, size_t n, struct ut_err *err);
struct img_pgzip;
int img_pgzip_new(int level, int threads, img_pgzip_emit_fn emit, void *ctx,
		  struct img_pgzip **out, struct ut_err *err);
int img_pgzip_write(struct img_pgzip *g, const void *buf, size_t len, struct ut_err *err);
/* Compresses what is left and writes the trailer. */
int img_pgzip_finish(struct img_pgzip *g, struct ut_err *err);
void img_pgzip_free(struct img_pgzip *g);

/* Writes data to a fresh temporary file in dir and renames it to
 * dir/<sha256 hex> (fsync first); hex_out gets the hex digest. */
int img_put_blob_file(const char *dir, const void *data, size_t len,
		      char hex_out[UT_SHA256_HEX], struct ut_err *err);
/* Writes a whole file under a temporary name beside path, then renames. */
int img_write_file_atomic(const char *path, const void *data, size_t len, struct ut_err *err);
/* Serialises j canonically (sorted keys, compact). */
int img_json_dump(json_t *j, struct ut_buf *out, struct ut_err *err);
/* Loads a bounded JSON file. */
json_t *img_json_load_file(const char *path, struct ut_err *err);
/* "sha256:<64 hex>" -> hex (lower case only); -1 otherwise. */
int img_digest_hex(const char *digest, char hex[UT_SHA256_HEX]);
/* rm -rf of a directory we created. */
void img_rm_rf(const char *path);

/* Normalises a tar member name: strips "./" prefixes and a trailing "/";
 * rejects "..", absolute names and empty components. "" is the root. */
int img_tar_path(const char *name, char **out, struct ut_err *err);

/* A tar member's names, in UTF-8 when libarchive has them so (it cannot
 * always convert them to the C locale), else as stored. */
struct archive_entry;
const char *img_entry_name(struct archive_entry *ae);
const char *img_entry_hardlink(struct archive_entry *ae);
const char *img_entry_symlink(struct archive_entry *ae);

/* The tree one or more tar layers give when applied in order. */
struct img_tree_builder;

struct img_tree_builder *img_tree_builder_new(void);
void img_tree_builder_free(struct img_tree_builder *tb);
/* Applies the tar at path (any compression) as the next layer; with
 * expect_digest ("sha256:..."), the file must also have that digest. */
int img_tree_builder_apply(struct img_tree_builder *tb, const char *path,
			   const char *expect_digest, struct ut_err *err);
/* Hands over the tree (root present, parents added, sorted, nlink counted). */
struct ut_tree *img_tree_builder_take(struct img_tree_builder *tb);
/* Replaces the builder's tree (a cached one); tb owns it afterwards. */
void img_tree_builder_set(struct img_tree_builder *tb, struct ut_tree *t);

/* A string -> index map (open addressing). */
struct img_pmap {
	char **key;
	size_t *val;
	size_t n, alloc;
};

/* Takes key (heap); a key already present gets the new value. */
void img_pmap_put(struct img_pmap *m, char *key, size_t val);
int img_pmap_get(const struct img_pmap *m, const char *key, size_t *val);
void img_pmap_release(struct img_pmap *m);

/* Opens a tar (any compression) for reading; NULL with err set. */
struct archive;
struct archive *img_open_tar(const char *path, struct ut_err *err);

/* rootfs:DIR - the tree of a host directory; its content source reads the
 * files under dc->root (dc must outlive the tree's use of it). */
struct img_dir_content {
	const char *root;
};

int img_rootfs_walk(const char *root, struct img_dir_content *dc, struct ut_tree **out,
		    struct ut_err *err);
/* rootfs:FILE - writes the tar's members, in its order, into w. */
struct img_layer_writer;
int img_rootfs_tar_layer(const char *path, struct img_layer_writer *w, struct ut_err *err);

/* rootfs:DIR bases: 1 and the folder in *src; 0 otherwise (*src is then the
 * tar, layout or archive the base came from). */
int img_base_is_dir(const struct img_base *b, const char **src);

/* Binary tree cache files. */
int img_tree_save(const struct ut_tree *t, const char *path, struct ut_err *err);
int img_tree_load(const char *path, struct ut_tree **out, struct ut_err *err);

#endif
