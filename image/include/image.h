/*
 * image.h - OCI image layers, layouts and base images.
 *
 * The image module knows tar, compression, digests and the OCI image spec; it
 * knows nothing of disks. It writes layers from a list of struct ut_entry
 * (content read through a struct ut_content), and reads images back as a
 * struct ut_tree with every whiteout applied.
 *
 *   struct img_layer_writer  one layer: pax tar (libarchive) -> sha256 of the
 *                            tar (diff_id) -> zstd/gzip/none -> sha256 of the
 *                            blob (digest) -> a temporary blob file, renamed
 *                            into blobs/sha256/ on finish. Reading content,
 *                            tar framing and hashing + compressing run in
 *                            their own threads, joined by bounded queues.
 *   struct img_layout        an OCI image layout directory being written:
 *                            blobs go in as they are finished, index.json is
 *                            written last, and a new layout is built under a
 *                            temporary name and renamed into place on commit,
 *                            so a failure never leaves a half-written image.
 *   struct img_base          an existing image to build on (oci:DIR[:TAG],
 *                            docker-archive:FILE, rootfs:TAR|DIR, scratch).
 *
 * Layers are reproducible: entries are written in the order given (callers
 * give strcmp order of paths, whiteouts before their siblings), with numeric
 * owners only, no atime/ctime, fixed pax header names, and xattrs as
 * SCHILY.xattr records. The same entries give the same digests, whatever the
 * process id, the caller's locale or the number of cores (zstd always runs
 * its multi-threaded mode, whose output does not depend on the worker count;
 * gzip has a fixed header (mtime 0, OS 255) and fixed 1 MiB blocks, each
 * primed with the 32 KiB before it, compressed in parallel: pgzip.c).
 */
#ifndef VM2OCI_IMAGE_H
#define VM2OCI_IMAGE_H

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

enum img_compress {
	IMG_COMPRESS_NONE = 0,
	IMG_COMPRESS_GZIP,
	IMG_COMPRESS_ZSTD,
};

/* "none", "gzip", "zstd" -> enum; -1 when unknown. */
int img_compress_parse(const char *name);
const char *img_compress_name(enum img_compress c);
/* The OCI layer media type for a compression. */
const char *img_layer_media_type(enum img_compress c);

struct img_descriptor {
	char media_type[96];
	char digest[7 + UT_SHA256_HEX]; /* "sha256:<hex>" */
	uint64_t size;
};

/* ---- layers ------------------------------------------------------------- */

struct img_layer_writer;

struct img_layer_options {
	enum img_compress compress;
	int level;   /* 0: the codec's default (zstd 3, gzip 1) */
	/* gzip by ISA-L (levels 1-3), several times faster than the default
	 * libdeflate, but its bytes depend on the CPU's instruction set. */
	int gzip_fast;
	int threads; /* zstd workers, gzip blocks in parallel; 0: one per core */
	struct ut_progress progress;
	/*
	 * A guest name beginning with ".wh." would be read by every OCI tool as
	 * a whiteout, so the writer refuses it; with this set it writes such
	 * names through ut_path_escape_whiteouts() instead (entries, hardlink
	 * targets and the paths whiteouts name alike).
	 */
	int escape_whiteout_names;
	/* File bytes the layer is planned to read (0: unknown), so progress can
	 * show a percentage and the time left. img_layer_write_tree sets it. */
	uint64_t planned_bytes;
};

/* The file bytes a layer of these entries reads: regular files, each
 * hardlink set once (later links are tar hardlinks without content). */
uint64_t img_layer_planned_bytes(const struct ut_entry *const *entries, size_t n);

struct img_layer_result {
	struct img_descriptor blob; /* digest and size of the compressed blob */
	char diff_id[7 + UT_SHA256_HEX]; /* sha256 of the uncompressed tar */
	uint64_t tar_bytes;        /* uncompressed */
	uint64_t entries;
	uint64_t content_bytes;    /* file bytes read from the source */
	double seconds_read;       /* time spent reading content */
	double seconds_compress;   /* time spent compressing and writing the blob */
	double seconds_hash;       /* time spent hashing the tar (the diff_id) */
};

/* Starts a layer whose blob will land in blob_dir (a blobs/sha256 folder). */
int img_layer_writer_new(const char *blob_dir, const struct img_layer_options *opt,
			 struct img_layer_writer **out, struct ut_err *err);
/*
 * Adds one entry. Regular files are read through src (1 MiB at a time; a
 * source giving more or fewer bytes than e->size is an error naming the
 * path). An entry whose link_id was already written in this layer becomes a
 * tar hardlink to the first path of its set. The root ("") and sockets
 * (which tar cannot hold) are skipped; absolute paths and ".." are refused.
 */
int img_layer_add(struct img_layer_writer *w, const struct ut_entry *e,
		  const struct ut_content *src, struct ut_err *err);
/*
 * Reads ahead: a thread of w reads the content of the regular files among
 * entries (NULL items skipped; later links of a hardlink set are not read),
 * in this order, through src, at most 8 MiB ahead of the tar, so reading the
 * source overlaps framing, hashing and compressing. The caller then adds
 * exactly these entries, in this order, with img_layer_add (the src argument
 * is then unused; whiteouts and opaque markers in between are fine); another
 * order is an error. entries, the entries and src's context are borrowed,
 * and src is used by that thread alone, until img_layer_finish or
 * img_layer_abort. At most once per writer.
 */
int img_layer_read_ahead(struct img_layer_writer *w, const struct ut_entry *const *entries,
			 size_t n, const struct ut_content *src, struct ut_err *err);
/* A ".wh.<name>" whiteout deleting path, and the opaque-directory marker
 * ".wh..wh..opq" inside dir. */
int img_layer_add_whiteout(struct img_layer_writer *w, const char *path, struct ut_err *err);
int img_layer_add_opaque(struct img_layer_writer *w, const char *dir, struct ut_err *err);
/* Closes the tar, renames the blob to its digest, and frees w. */
int img_layer_finish(struct img_layer_writer *w, struct img_layer_result *res,
		     struct ut_err *err);
/* Drops the temporary blob and frees w (NULL is fine). */
void img_layer_abort(struct img_layer_writer *w);
/* Every entry of t but the root, in t's order, as one layer into blob_dir
 * (regular files read through t->content). */
int img_layer_write_tree(const char *blob_dir, const struct img_layer_options *opt,
			 const struct ut_tree *t, struct img_layer_result *res, struct ut_err *err);

/* ---- image configuration ------------------------------------------------ */

struct img_history {
	char *created_by;
	char *comment;
	int empty_layer;
};

/* The parts of an OCI image config vm2oci reads and writes. */
struct img_config {
	char *architecture; /* "amd64" */
	char *os;           /* "linux" */
	char **env;  size_t nenv;
	char **cmd;  size_t ncmd;
	char **entrypoint; size_t nentrypoint;
	char *working_dir;
	char *user;
	char *stop_signal;  /* "SIGRTMIN+3"; NULL: the runtime's default */
	char **labels_kv; size_t nlabels; /* "key=value" */
	char **exposed_ports; size_t nexposed; /* "22/tcp" */
	char **diff_ids; size_t ndiff_ids;     /* "sha256:..." */
	struct img_history *history; size_t nhistory;
	int64_t created; /* seconds since the epoch; -1: leave out */
};

void img_config_release(struct img_config *c);
void img_config_copy(struct img_config *dst, const struct img_config *src);
/* Edits (the strings are copied). A layer's diff_id and its history entry
 * go together: every layer has one of each. */
void img_config_add_layer(struct img_config *c, const char *diff_id, const char *created_by,
			  const char *comment /* may be NULL */);
void img_config_add_label(struct img_config *c, const char *key, const char *value);
void img_config_add_cmd(struct img_config *c, const char *arg);
/* Replaces Cmd with argv and drops the Entrypoint (argv is the whole command). */
void img_config_set_command(struct img_config *c, char *const *argv, size_t n);
/* Replace a field; NULL clears it. */
void img_config_set_user(struct img_config *c, const char *user);
void img_config_set_working_dir(struct img_config *c, const char *dir);
void img_config_set_stop_signal(struct img_config *c, const char *signal);
/* "KEY=VALUE": replaces KEY's earlier value in Env, else appends. */
void img_config_set_env(struct img_config *c, const char *kv);
/* "8080/tcp", once. */
void img_config_add_exposed_port(struct img_config *c, const char *port);
void img_config_set_platform(struct img_config *c, const char *architecture, const char *os);
/* Serialises canonically (fixed key order) so equal configs hash equal. */
int img_config_to_json(const struct img_config *c, struct ut_buf *out, struct ut_err *err);
int img_config_from_json(const char *json, size_t len, struct img_config *c,
			 struct ut_err *err);

/* ---- OCI layouts -------------------------------------------------------- */

struct img_layout;

/* Opens DIR for writing: when it exists (an OCI layout), new tags are added
 * to it; otherwise it is built as DIR.tmp-XXXXXX and renamed on commit. */
int img_layout_open(const char *dir, struct img_layout **out, struct ut_err *err);
/* The layout's blobs/sha256 directory, for img_layer_writer_new. */
const char *img_layout_blob_dir(const struct img_layout *l);
/* Stores bytes as a blob (config, manifest). */
int img_layout_put_blob(struct img_layout *l, const void *data, size_t len,
			const char *media_type, struct img_descriptor *d, struct ut_err *err);
/* Makes a blob of another layout available here by digest: a hardlink when
 * on one filesystem, else a copy; never recompressed. */
int img_layout_import_blob(struct img_layout *l, const char *src_path,
			   const struct img_descriptor *d, struct ut_err *err);
/* Writes config and manifest for layers and tags them (replacing a tag of
 * that name). manifest_out may be NULL. */
int img_layout_add_image(struct img_layout *l, const struct img_config *config,
			 const struct img_descriptor *layers, size_t nlayers, const char *tag,
			 struct img_descriptor *manifest_out, struct ut_err *err);
/*
 * An OCI 1.1 referrer of subject (an image manifest of this layout): the
 * blob data (of media type artifact_type, e.g. application/spdx+json), an
 * image manifest with that artifactType, the empty config
 * (application/vnd.oci.empty.v1+json, "{}"), the blob as its one layer and
 * subject; listed in index.json with its artifactType, where referrer-aware
 * tools and a push find it, and tagged tag unless NULL (tools without the
 * referrers API find "sha256-<subject hex>.sbom" as cosign names it); an
 * entry of that tag or digest listed before is replaced. Tagless oci: bases
 * skip referrers. manifest_out may be NULL.
 */
int img_layout_add_referrer(struct img_layout *l, const struct img_descriptor *subject,
			    const char *artifact_type, const void *data, size_t len, const char *tag,
			    struct img_descriptor *manifest_out, struct ut_err *err);
/* img_layout_add_image with manifest annotations: nann (key, value) pairs,
 * annotations[2i] the key, annotations[2i + 1] the value. */
int img_layout_add_image_annotated(struct img_layout *l, const struct img_config *config,
				   const struct img_descriptor *layers, size_t nlayers,
				   const char *tag, const char *const *annotations, size_t nann,
				   struct img_descriptor *manifest_out, struct ut_err *err);
/* Writes index.json and oci-layout, renames a new layout into place. On an
 * existing layout, index.json is re-read under an exclusive lock and this
 * handle's tags put in, so concurrent writers into one layout each add
 * theirs (their blobs are written without the lock). */
int img_layout_commit(struct img_layout *l, struct ut_err *err);
/* Frees l; without commit, removes whatever a new layout had written. */
void img_layout_free(struct img_layout *l);

/* What a layout's tag names, read without a lock (index.json is replaced
 * whole): the manifest, the image's own bytes (manifest, config, layers) and
 * the value of one manifest annotation (heap, NULL when absent). */
struct img_tag_info {
	struct img_descriptor manifest;
	uint64_t image_bytes;
	char *annotation;
};
/* 1 with info filled when DIR has tag, 0 when not, -1 on a bad layout. key
 * may be NULL. Release info with img_tag_info_release. */
int img_layout_tag_info(const char *dir, const char *tag, const char *key,
			struct img_tag_info *info, struct ut_err *err);
void img_tag_info_release(struct img_tag_info *info);
/* The bytes stored in DIR's blobs (every blob once, temporaries not). */
int img_layout_blob_bytes(const char *dir, uint64_t *bytes, struct ut_err *err);

/* ---- collecting a layout's garbage --------------------------------------- */

/*
 * img_layout_gc: the blobs of DIR that nothing in index.json reaches, and
 * the temporaries killed writers left, removed. Marks from index.json:
 * image manifests and (nested) image indexes, their configs, layers and
 * blobs; a referrer (a manifest with a subject, such as the SBOM of
 * img_layout_add_referrer) listed in the index is kept when its subject is
 * kept, and when not (its image was replaced or removed) its entry is taken
 * out of index.json and its blobs go too, as a registry's gc does. Then
 * every blobs/sha256/<hex> not marked is removed, and the temporaries
 * nobody holds: inside DIR (index.json.tmp-*, blobs/sha256/.tmp-*) and a
 * new layout's DIR.tmp-* beside it.
 *
 * Holds DIR's exclusive lock for the whole run, so no writer is between
 * writing a blob and naming it in index.json: a writer that is in DIR is
 * waited for (wait_notice, when set, is called once first) or, with
 * no_wait, gc fails saying so; a writer arriving meanwhile waits for gc.
 * A blob named but missing (a descriptor with urls excepted), a manifest
 * or index that does not parse, or a digest other than sha256 stops gc
 * with one line naming it, before anything is removed.
 */
enum img_gc_kind {
	IMG_GC_BLOB,     /* an unreferenced blob: name "sha256:<hex>" */
	IMG_GC_TEMP,     /* a temporary file or folder: name its path */
	IMG_GC_REFERRER, /* an index.json entry whose subject is gone: its digest */
};

struct img_gc_item {
	enum img_gc_kind kind;
	char *name;
	uint64_t bytes; /* a referrer's: its manifest's size */
};

struct img_gc_options {
	int dry_run; /* find and report, remove nothing (the lock is still held) */
	int no_wait; /* a writer in DIR: fail instead of waiting */
	void (*wait_notice)(void *ctx, const char *dir);
	void *ctx;
};

struct img_gc_result {
	size_t manifests;            /* image and referrer manifests kept */
	uint64_t kept_blobs, kept_bytes;
	uint64_t removed_blobs, removed_bytes;
	uint64_t removed_temps, removed_temp_bytes;
	uint64_t dropped_referrers;
	struct img_gc_item *items;   /* what went (or would go), in that order */
	size_t nitems;
	double seconds_waited;       /* for other writers to leave */
};

int img_layout_gc(const char *dir, const struct img_gc_options *opt, struct img_gc_result *res,
		  struct ut_err *err);
void img_gc_result_release(struct img_gc_result *res);

/* Writes a docker-archive (docker save / docker load) tar at path from an
 * OCI layout's image tag: manifest.json, <config hex>.json and one
 * <diff_id hex>.tar per layer. Layers are stored as plain tars: gzip and zstd
 * blobs are decompressed on the way (older engines load no zstd) and checked
 * against the config's diff_ids. Written under a temporary name and renamed.
 * repo_tag may be NULL (no RepoTags). */
int img_docker_archive_write(const char *oci_dir, const char *tag, const char *path,
			     const char *repo_tag, struct ut_err *err);

/* ---- existing images ---------------------------------------------------- */

struct img_base_layer {
	struct img_descriptor blob;
	char diff_id[7 + UT_SHA256_HEX];
	char *path; /* the blob file on the host */
};

struct img_base;

/*
 * spec: "scratch", "oci:DIR[:TAG]", "docker-archive:FILE", "rootfs:FILE.tar"
 * or "rootfs:DIR". For rootfs the base has no layers of its own yet: the
 * caller makes one with img_base_rootfs_layer().
 *
 * oci: TAG may be left out when the index lists one image; an index of
 * indexes is followed one level, and linux/amd64 is picked from a
 * multi-platform index. Manifest and config blobs are verified by digest.
 * docker-archive: the layer tars are copied out of the archive (as stored)
 * into a private temporary directory under tmpdir (NULL: /var/tmp) that
 * img_base_free() removes; img_base_layers() paths point there.
 */
int img_base_open(const char *spec, const char *tmpdir, struct img_base **out,
		  struct ut_err *err);
void img_base_free(struct img_base *b);
const struct img_base_layer *img_base_layers(const struct img_base *b, size_t *n);
const struct img_config *img_base_config(const struct img_base *b);
int img_base_is_rootfs(const struct img_base *b);
/* For rootfs bases: writes the rootfs as one layer into blob_dir. */
int img_base_rootfs_layer(struct img_base *b, const char *blob_dir,
			  const struct img_layer_options *opt, struct img_layer_result *res,
			  struct ut_err *err);
/*
 * The tree the base's layers give when applied in order (whiteouts and
 * opaque directories applied), every regular file with its digest; streamed,
 * never extracted. With cache_dir non-NULL, the tree of each layer prefix is
 * cached there by layer digest. t->content reads nothing (ops NULL).
 * Each layer blob is checked against its digest while it is streamed. Tar
 * member names are normalised ("./" and trailing "/" dropped); "..",
 * absolute names and hardlinks to nothing are errors. Parent directories a
 * layer leaves out are added (0755, root, mtime 0).
 */
int img_base_tree(struct img_base *b, const char *cache_dir, struct ut_tree **out,
		  struct ut_err *err);

/*
 * A few files of the base, with their bytes: every entry under one of the
 * prefixes ("var/lib/dpkg", "etc/os-release"), and their parent directories,
 * as the layers leave them (whiteouts and opaque directories applied). The
 * tree's content source serves the bytes from memory, so a caller can read
 * the base's package database without unpacking anything. At most cap bytes
 * of content in all; more is an error naming the base.
 */
int img_base_files(struct img_base *b, const char *const *prefixes, size_t nprefixes,
		   uint64_t cap, struct ut_tree **out, struct ut_err *err);
/* Frees a tree img_base_files() made, with the bytes it holds. */
void img_base_files_free(struct ut_tree *t);
/* The most bytes img_base_tree leaves in its cache_dir (default 1 GiB):
 * past it, the least recently used cache files are removed. */
void img_base_set_cache_cap(struct img_base *b, uint64_t cap);

/* ---- temporary output ---------------------------------------------------- */

/*
 * The image module announces the temporary files and folders it creates
 * (a new layout's DIR.tmp-*, a blob being written, a docker-archive base's
 * extraction folder, a docker-archive being written) so that a signal
 * handler can remove them: track() once the path exists, untrack() once it
 * is renamed into place or removed. The hooks are process-wide; NULL
 * removes them.
 */
struct img_temp_hooks {
	void (*track)(const char *path);
	void (*untrack)(const char *path);
};

void img_set_temp_hooks(const struct img_temp_hooks *h);

#ifdef __cplusplus
}
#endif
#endif
