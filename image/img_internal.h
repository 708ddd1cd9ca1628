/*
 * img_internal.h - what the image module's files share; not public.
 */
#ifndef VM2OCI_IMG_INTERNAL_H
#define VM2OCI_IMG_INTERNAL_H

#include "image.h"

#include <jansson.h>

/* Bounds for JSON documents read from images we did not write. */
#define IMG_JSON_MAX (16u << 20)

/* A compressor that hashes and writes its output to fd. Uncompressed
 * (IMG_COMPRESS_NONE) the output is the input, which the caller hashes
 * already: img_zout_finish then leaves digest alone. All-zero stretches of the
 * output become holes in fd (the file reads the same). */
struct img_zout;

int img_zout_new(const struct img_layer_options *opt, int fd, struct img_zout **out,
		 struct ut_err *err);
int img_zout_write(struct img_zout *z, const void *buf, size_t len, struct ut_err *err);
/* Flushes the stream; digest and size are those of the bytes written to fd. */
int img_zout_finish(struct img_zout *z, unsigned char digest[UT_SHA256_LEN], uint64_t *size,
		    struct ut_err *err);
void img_zout_free(struct img_zout *z);

/* Parallel gzip (pgzip.c): one gzip member whose bytes depend on the data and
 * the level only, never on the thread count. libdeflate, levels 1-9: the same
 * bytes on every CPU; fast: ISA-L, levels 1-3, bytes that depend on the CPU.
 * threads <= 1 compresses in the caller. emit gets the output in order. */
#define IMG_GZIP_DEFAULT_LEVEL 1
typedef int (*img_pgzip_emit_fn)(void *ctx, const void *p, size_t n, struct ut_err *err);
struct img_pgzip;
int img_pgzip_new(int level, int fast, int threads, img_pgzip_emit_fn emit, void *ctx,
		  struct img_pgzip **out, struct ut_err *err);
int img_pgzip_write(struct img_pgzip *g, const void *buf, size_t len, struct ut_err *err);
/* Compresses what is left and writes the trailer. */
int img_pgzip_finish(struct img_pgzip *g, struct ut_err *err);
void img_pgzip_free(struct img_pgzip *g);
/* Tests only: on (the default) copies the bytes of a full block of zeros
 * made once; off compresses every block, to show both give the same bytes. */
void img_pgzip_set_zero_memo(struct img_pgzip *g, int on);

/*
 * A bounded queue of nslots buffers of cap bytes between one producer thread
 * and nconsumers consumer threads (chunkq.c). The producer takes the next
 * free slot with img_chunkq_fill (blocking while all are in use), fills
 * data/len/tag/flags and hands it over with img_chunkq_push; each consumer
 * (numbered 0..nconsumers-1) takes every slot in the same order with
 * img_chunkq_pop, reads it without changing it, and gives it back with
 * img_chunkq_release; a slot is free again once all have given it back. img_chunkq_fail (either side) wakes both and makes
 * every later fill/pop return NULL; img_chunkq_error copies the first
 * reason given and returns -1 once failed.
 */
#define IMG_CHUNK_END 1u /* the last chunk of a file or of the stream */
struct img_chunk {
	unsigned char *data;
	size_t len;
	const void *tag; /* what the bytes belong to (an entry), producer's choice */
	unsigned flags;
};
struct img_chunkq;
struct img_chunkq *img_chunkq_new(size_t nslots, size_t cap, size_t nconsumers);
void img_chunkq_free(struct img_chunkq *q);
size_t img_chunkq_cap(const struct img_chunkq *q);
struct img_chunk *img_chunkq_fill(struct img_chunkq *q);
void img_chunkq_push(struct img_chunkq *q);
struct img_chunk *img_chunkq_pop(struct img_chunkq *q, size_t consumer);
void img_chunkq_release(struct img_chunkq *q, size_t consumer);
void img_chunkq_fail(struct img_chunkq *q, const struct ut_err *err);
int img_chunkq_error(struct img_chunkq *q, struct ut_err *err);

/* Writes data to a fresh temporary file in the blob folder dirfd (shown_dir
 * in messages) and renames it to <sha256 hex> (fsync first); hex_out gets
 * the hex digest. An existing blob of that name is kept, a symlink refused. */
int img_put_blob_file(int dirfd, const char *shown_dir, const void *data, size_t len,
		      char hex_out[UT_SHA256_HEX], struct ut_err *err);
/* write(2) until all of data is written (EINTR retried); -1 with errno. */
int img_write_all(int fd, const void *data, size_t len);
/* Writes a whole file under a temporary name beside path, then renames. */
int img_write_file_atomic(const char *path, const void *data, size_t len, struct ut_err *err);
int img_write_file_at(int dirfd, const char *name, const char *shown_dir, const void *data,
		      size_t len, struct ut_err *err);

/*
 * Temporary output. img_create_temp_at makes a new file prefix<random>
 * under dirfd (O_EXCL, never through a symlink), flock()ed for as long as
 * it is open and announced to the temp hooks (untrack and free *path_out
 * when done); returns the fd. A run killed with -9 leaves such files behind:
 * img_remove_stale_at removes the entries of dirfd named pattern + six
 * letters or digits (mkstemp's shape) that no live process holds locked,
 * and img_remove_stale does so beside an output path for the names vm2oci
 * uses there (OUT.tmp-XXXXXX, OUT.layer-XXXXXX, OUT.oci-XXXXXX[.tmp-XXXXXX]).
 */
int img_create_temp_at(int dirfd, const char *prefix, const char *shown_dir, char **path_out,
		       char **name_out, struct ut_err *err);
void img_remove_stale_at(int dirfd, const char *shown_dir, const char *const *patterns,
			 size_t npatterns);
void img_remove_stale(const char *out);
/* img_remove_stale_at that tells fn (may be NULL) of each temporary it
 * finds nobody holding, with its bytes (a folder's summed); with dry_run it
 * removes nothing. path is borrowed for the call. */
typedef void (*img_stale_fn)(void *ctx, const char *path, uint64_t bytes);
void img_sweep_stale_at(int dirfd, const char *shown_dir, const char *const *patterns,
			size_t npatterns, int dry_run, img_stale_fn fn, void *ctx);
/* The manifest (or index) blob a descriptor names, parsed; bounded, since
 * a manifest is small and a hostile one is not read whole. */
json_t *img_load_manifest(int blobfd, const char *blob_dir, json_t *desc, struct ut_err *err);
/* Serialises j canonically (sorted keys, compact). */
int img_json_dump(json_t *j, struct ut_buf *out, struct ut_err *err);
/* Loads a bounded JSON file (a regular file, not through a final symlink). */
json_t *img_json_load_file(const char *path, struct ut_err *err);
/* The same for name under dirfd; shown names the file in errors. */
json_t *img_json_load_at(int dirfd, const char *name, const char *shown, struct ut_err *err);
/* o[key] when it is a string, else NULL. */
const char *img_json_str(json_t *o, const char *key);
/* Parses JSON; an error says where and why, never quoting the input. */
json_t *img_json_parse(const void *data, size_t len, const char *shown, struct ut_err *err);

/*
 * Files of images we did not write. name is opened under dirfd (AT_FDCWD
 * for a path) without following a final symlink and without blocking on a
 * FIFO; anything but a regular file is refused with one line naming shown
 * and the reason. img_open_regular returns the fd and its size;
 * img_read_regular appends exactly that many bytes to b (at most b->cap): a
 * file shorter or longer than its size when read is an error.
 */
int img_open_regular(int dirfd, const char *name, const char *shown, uint64_t *size,
		     struct ut_err *err);
int img_read_regular(int dirfd, const char *name, const char *shown, struct ut_buf *b,
		     struct ut_err *err);
int img_read_exact(int fd, void *buf, size_t len, const char *shown, struct ut_err *err);
/* Opens a directory under dirfd, refusing a symlink; returns the fd. */
int img_open_dir_at(int dirfd, const char *name, const char *shown, struct ut_err *err);
/* "sha256:<64 hex>" -> hex (lower case only); -1 otherwise. */
int img_digest_hex(const char *digest, char hex[UT_SHA256_HEX]);

/* Normalises a tar member name: strips "./" prefixes and a trailing "/";
 * rejects "..", absolute names and empty components. "" is the root. */
int img_tar_path(const char *name, char **out, struct ut_err *err);

/* A tar member's names, in UTF-8 when libarchive has them so (it cannot
 * always convert them to the C locale), else as stored. */
struct archive_entry;
const char *img_entry_name(struct archive_entry *ae);
const char *img_entry_hardlink(struct archive_entry *ae);
const char *img_entry_symlink(struct archive_entry *ae);

/* The tree one or more tar layers give when applied in order: the one
 * implementation of applying a layer (whiteouts, opaque directories,
 * replacements), for img_base_tree and img_base_files alike. */
struct img_tree_builder;

struct img_tree_builder *img_tree_builder_new(void);
void img_tree_builder_free(struct img_tree_builder *tb);

/* One layer to apply. */
struct img_layer_in {
	int fd;              /* read from offset 0; the caller closes it */
	uint64_t size;       /* the blob's size: reading stops there, and less
	                      * is an error; UINT64_MAX: until end of file */
	const char *name;    /* for errors */
	const char *digest;  /* "sha256:..." of the blob, or NULL */
	const char *diff_id; /* "sha256:..." of the uncompressed tar, or NULL */
};

/* Only entries under (or above) one of prefixes are kept, and a regular
 * file's bytes go to file_begin/file_data as they are read. */
struct img_tree_filter {
	const char *const *prefixes;
	size_t nprefixes;
	int (*file_begin)(void *ctx, struct ut_entry *e, struct ut_err *err);
	int (*file_data)(void *ctx, const void *buf, size_t len, struct ut_err *err);
	void *ctx;
};

/* f (borrowed, may be NULL) applies to the layers applied after. */
void img_tree_builder_set_filter(struct img_tree_builder *tb, const struct img_tree_filter *f);
/* Applies a tar layer (any compression) as the next layer, checking the
 * blob's digest and the uncompressed stream's diff_id as they stream by. */
int img_tree_builder_apply(struct img_tree_builder *tb, const struct img_layer_in *in,
			   struct ut_err *err);
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

/* ---- bases: one reader per kind, behind one ops table ------------------ */

enum img_base_kind { BASE_SCRATCH, BASE_OCI, BASE_DOCKER, BASE_ROOTFS_TAR, BASE_ROOTFS_DIR };

struct img_base_reader {
	const char *prefix; /* "oci:" */
	enum img_base_kind kind;
	/* Fills b's config and layers from the rest of the spec. */
	int (*open)(struct img_base *b, const char *rest, struct ut_err *err);
	/* Opens layer i's blob: a regular file of the declared size; returns
	 * the fd. */
	int (*open_layer)(struct img_base *b, size_t i, struct ut_err *err);
};

extern const struct img_base_reader img_base_oci_reader;
extern const struct img_base_reader img_base_docker_reader;

struct img_base {
	enum img_base_kind kind;
	const struct img_base_reader *ops; /* NULL: scratch and rootfs */
	char *spec;
	char *src;    /* layout dir, archive or rootfs */
	char *tmpdir; /* docker-archive extraction */
	/* Where tmpdir is made (img_base_open's tmpdir, NULL: /var/tmp);
	 * borrowed, read only while opening. */
	const char *scratch_dir;
	int dirfd;    /* oci: the layout */
	int blobfd;   /* oci: its blobs/sha256 */
	uint64_t cache_cap;
	struct img_config config;
	struct img_base_layer *layers;
	size_t nlayers;
};

#define IMG_BASE_MAX_LAYERS 1024

/* Applies layer i of b to tb (opens, checks, closes). */
int img_base_apply_layer(struct img_base *b, size_t i, struct img_tree_builder *tb,
			 struct ut_err *err);
/* Applies a rootfs tar at path (a regular file) to tb. */
int img_apply_tar_file(struct img_tree_builder *tb, const char *path, struct ut_err *err);

/* Removes the oldest cache files (by mtime) until dir holds at most cap
 * bytes of them. */
void img_tree_cache_trim(const char *dir, uint64_t cap);

/* rootfs:DIR bases: 1 and the folder in *src; 0 otherwise (*src is then the
 * tar, layout or archive the base came from). */
int img_base_is_dir(const struct img_base *b, const char **src);

/* Announce temporary output to the hooks of img_set_temp_hooks. */
void img_temp_track(const char *path);
void img_temp_untrack(const char *path);


#endif
