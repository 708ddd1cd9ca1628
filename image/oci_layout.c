/*
 * oci_layout.c - writing an OCI image layout directory.
 *
 * A new layout is built as DIR.tmp-XXXXXX and renamed to DIR on commit; an
 * existing one gets its blobs renamed in as they are finished and its
 * index.json replaced last, so readers see either the old or the new index.
 *
 * Several writers may share an existing layout (a batch's workers): each
 * holds a shared flock on the layout directory while it writes (blobs are
 * content-addressed and renamed in whole, so two writers of one blob write
 * the same bytes), and only the read-modify-write of index.json is
 * serialised, by an exclusive flock on blobs/sha256: the index is re-read
 * under it and this writer's tags put in. What killed writers left is
 * removed only by a writer that finds no other one (the exclusive lock on
 * the directory, tried without waiting).
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_EMPTY "application/vnd.oci.empty.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"

struct img_layout {
	char *dir;      /* where the layout ends up */
	char *work;     /* where it is written now (dir, or its temp name) */
	char *blob_dir; /* work/blobs/sha256 */
	int dirfd;      /* work, flock()ed shared while l lives: a writer is here */
	int blobfd;     /* work/blobs/sha256, flock()ed exclusive around index.json */
	int is_new, committed;
	json_t *index;     /* index.json as read (its other fields are kept) */
	json_t *manifests; /* index.json's manifests */
	json_t *added;     /* the manifests this handle tagged, to put in at commit */
};

/* index.json, read again: its manifests into l (at open, and at commit
 * under the index lock, since another writer may have added tags). */
static int read_index(struct img_layout *l, struct ut_err *err)
{
	char *shown = ut_asprintf("%s/index.json", l->dir);
	json_t *j = img_json_load_at(l->dirfd, "index.json", shown, err), *m;
	int rc = -1;

	if (!j)
		goto out;
	m = json_object_get(j, "manifests");
	if (!json_is_object(j) || (m && !json_is_array(m))) {
		ut_err_set(err, "%s: not an image index", shown);
		goto out;
	}
	json_decref(l->manifests);
	json_decref(l->index);
	l->manifests = m ? json_incref(m) : json_array();
	l->index = json_incref(j);
	rc = 0;
out:
	json_decref(j);
	free(shown);
	return rc;
}

static int check_layout(struct img_layout *l, struct ut_err *err)
{
	char *shown = ut_asprintf("%s/oci-layout", l->dir);
	json_t *j = img_json_load_at(l->dirfd, "oci-layout", shown, err);
	int rc = -1;

	if (!j) {
		ut_err_prefix(err, "%s: not an OCI image layout: ", l->dir);
		goto out;
	}
	if (!json_is_string(json_object_get(j, "imageLayoutVersion"))) {
		ut_err_set(err, "%s: no imageLayoutVersion", shown);
		goto out;
	}
	rc = read_index(l, err);
out:
	json_decref(j);
	free(shown);
	return rc;
}

/* Opens (making when missing) a folder of the layout, never a symlink. */
static int open_sub(int dirfd, const char *name, const char *shown, struct ut_err *err)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return ut_err_set(err, "%s: %s", shown, strerror(errno));
	return img_open_dir_at(dirfd, name, shown, err);
}

static int open_blob_dirs(struct img_layout *l, struct ut_err *err)
{
	char *shown = ut_asprintf("%s/blobs", l->work);
	int fd = open_sub(l->dirfd, "blobs", shown, err);

	free(shown);
	if (fd < 0)
		return -1;
	l->blob_dir = ut_asprintf("%s/blobs/sha256", l->work);
	l->blobfd = open_sub(fd, "sha256", l->blob_dir, err);
	close(fd);
	return l->blobfd < 0 ? -1 : 0;
}

/* What runs killed with -9 left inside a layout we now hold locked. */
static void remove_stale_inside(struct img_layout *l)
{
	static const char *const top[] = { "index.json.tmp-", "oci-layout.tmp-" };
	static const char *const blobs[] = { ".tmp-layer-", ".tmp-blob-", ".tmp-import-" };

	img_remove_stale_at(l->dirfd, l->work, top, 2);
	img_remove_stale_at(l->blobfd, l->blob_dir, blobs, 3);
}

int img_layout_open(const char *dir, struct img_layout **out, struct ut_err *err)
{
	struct img_layout *l = ut_calloc(1, sizeof(*l));
	struct stat st;
	int alone;

	l->dir = ut_strdup(dir);
	l->dirfd = l->blobfd = -1;
	l->added = json_array();
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			ut_err_set(err, "%s: exists and is not a directory", dir);
			goto fail;
		}
		l->work = ut_strdup(dir);
		l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (l->dirfd < 0) {
			ut_err_set(err, "%s: %s", dir, strerror(errno));
			goto fail;
		}
		/* Alone here: what killed writers left can go. Else another
		 * writer's temporaries are live: leave them. */
		alone = flock(l->dirfd, LOCK_EX | LOCK_NB) == 0;
		if (!alone && flock(l->dirfd, LOCK_SH) < 0) {
			ut_err_set(err, "%s: %s", dir, strerror(errno));
			goto fail;
		}
		if (check_layout(l, err) < 0 || open_blob_dirs(l, err) < 0)
			goto fail;
		if (alone) {
			remove_stale_inside(l);
			flock(l->dirfd, LOCK_SH); /* let other writers in */
		}
	} else {
		if (errno != ENOENT) {
			ut_err_set(err, "%s: %s", dir, strerror(errno));
			goto fail;
		}
		img_remove_stale(dir);
		l->is_new = 1;
		l->work = ut_asprintf("%s.tmp-XXXXXX", dir);
		if (!mkdtemp(l->work)) {
			ut_err_set(err, "%s: cannot create a temporary directory beside it: %s", dir,
				   strerror(errno));
			free(l->work);
			l->work = NULL;
			goto fail;
		}
		img_temp_track(l->work);
		l->dirfd = open(l->work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (l->dirfd < 0 || flock(l->dirfd, LOCK_EX) < 0) {
			ut_err_set(err, "%s: %s", l->work, strerror(errno));
			goto fail;
		}
		fchmod(l->dirfd, 0755);
		if (open_blob_dirs(l, err) < 0)
			goto fail;
		l->manifests = json_array();
	}
	*out = l;
	return 0;
fail:
	img_layout_free(l);
	return -1;
}

const char *img_layout_blob_dir(const struct img_layout *l)
{
	return l->blob_dir;
}

static void fill_descriptor(struct img_descriptor *d, const char *media_type, const char *hex,
			    uint64_t size)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
	snprintf(d->digest, sizeof(d->digest), "sha256:%s", hex);
	d->size = size;
}

int img_layout_put_blob(struct img_layout *l, const void *data, size_t len,
			const char *media_type, struct img_descriptor *d, struct ut_err *err)
{
	char hex[UT_SHA256_HEX];

	if (img_put_blob_file(l->blobfd, l->blob_dir, data, len, hex, err) < 0)
		return -1;
	fill_descriptor(d, media_type, hex, len);
	return 0;
}

/* Copies the open blob in to the layout, checking its digest and size. */
static int copy_verified(struct img_layout *l, int in, const char *src, const char *hex,
			 uint64_t size, struct ut_err *err)
{
	unsigned char *buf = ut_malloc(1 << 20), d[UT_SHA256_LEN];
	char got[UT_SHA256_HEX], *tmp_path = NULL, *tmp_name = NULL;
	struct ut_sha256 h = { 0 };
	int out, rc = -1;
	uint64_t total = 0;

	if ((out = img_create_temp_at(l->blobfd, ".tmp-import-", l->blob_dir, &tmp_path, &tmp_name,
				      err)) < 0)
		goto out;
	ut_sha256_init(&h);
	/* Never beyond the size the manifest gives: a blob that grows is not
	 * the blob that was named. */
	while (total < size) {
		size_t want = size - total < (1 << 20) ? (size_t)(size - total) : 1 << 20;
		ssize_t n = read(in, buf, want), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ut_err_set(err, "%s: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		ut_sha256_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
		for (ssize_t off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0) {
				ut_err_set(err, "%s: %s", tmp_path, strerror(errno));
				goto out;
			}
		}
	}
	ut_sha256_final(&h, d);
	ut_hex(d, UT_SHA256_LEN, got);
	if (strcmp(got, hex) || total != size) {
		ut_err_set(err, "%s: content is sha256:%s (%llu bytes), expected sha256:%s (%llu)",
			   src, got, (unsigned long long)total, hex, (unsigned long long)size);
		goto out;
	}
	if (fsync(out) < 0 || renameat(l->blobfd, tmp_name, l->blobfd, hex) < 0) {
		ut_err_set(err, "%s/%s: %s", l->blob_dir, hex, strerror(errno));
		goto out;
	}
	free(tmp_name);
	tmp_name = NULL;
	rc = 0;
out:
	ut_sha256_release(&h);
	if (tmp_name)
		unlinkat(l->blobfd, tmp_name, 0);
	if (out >= 0)
		close(out);
	if (tmp_path)
		img_temp_untrack(tmp_path);
	free(tmp_path);
	free(tmp_name);
	free(buf);
	return rc;
}

int img_layout_import_blob(struct img_layout *l, const char *src_path,
			   const struct img_descriptor *d, struct ut_err *err)
{
	char hex[UT_SHA256_HEX], *dst;
	struct stat st, lst;
	uint64_t size;
	int rc = 0, in = -1;

	if (img_digest_hex(d->digest, hex) < 0)
		return ut_err_set(err, "%s: unsupported digest %s", src_path, d->digest);
	dst = ut_asprintf("%s/%s", l->blob_dir, hex);
	if (fstatat(l->blobfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode))
			rc = ut_err_set(err, "%s: %s, refused", dst,
					S_ISLNK(st.st_mode) ? "is a symbolic link" : "not a regular file");
		if (rc < 0 || (uint64_t)st.st_size == d->size)
			goto out; /* already here */
	}
	/* The base's blob: a regular file, not reached through a symlink. */
	in = img_open_regular(AT_FDCWD, src_path, src_path, &size, err);
	if (in < 0) {
		rc = -1;
		goto out;
	}
	if (size != d->size) {
		rc = ut_err_set(err, "%s: %llu bytes, the manifest says %llu", src_path,
				(unsigned long long)size, (unsigned long long)d->size);
		goto out;
	}
	/* Blobs are immutable, so sharing the inode is safe; the copy path
	 * verifies the digest because it reads every byte anyway. The link is
	 * made only when the name still is the file that was checked. */
	if (fstat(in, &st) == 0 && lstat(src_path, &lst) == 0 && st.st_ino == lst.st_ino &&
	    st.st_dev == lst.st_dev && linkat(AT_FDCWD, src_path, l->blobfd, hex, 0) == 0)
		goto out;
	rc = copy_verified(l, in, src_path, hex, d->size, err);
out:
	if (in >= 0)
		close(in);
	free(dst);
	return rc;
}

static json_t *descriptor_json(const struct img_descriptor *d)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest,
			 "size", (json_int_t)d->size);
}

static const char *ref_of(json_t *m);

/* A manifest's JSON as a blob. */
static int put_manifest(struct img_layout *l, json_t *man, struct img_descriptor *md,
			struct ut_err *err)
{
	struct ut_buf b;
	int rc;

	ut_buf_init(&b, 0);
	rc = img_json_dump(man, &b, err);
	if (rc == 0)
		rc = img_layout_put_blob(l, b.data, b.len, MT_MANIFEST, md, err);
	ut_buf_release(&b);
	return rc;
}

/* Takes out of manifests what m replaces: the entry of its tag (a tag names
 * one manifest), and a referrer listed before under its digest. */
static void index_drop(json_t *manifests, json_t *m)
{
	const char *tag = ref_of(m), *digest = json_string_value(json_object_get(m, "digest"));
	int referrer = json_object_get(m, "artifactType") != NULL;

	for (size_t i = json_array_size(manifests); i-- > 0;) {
		json_t *e = json_array_get(manifests, i);
		const char *d = json_string_value(json_object_get(e, "digest"));

		if ((*tag && !strcmp(ref_of(e), tag)) || (referrer && d && digest && !strcmp(d, digest)))
			json_array_remove(manifests, i);
	}
}

/* Lists md in index.json, tagged tag (may be NULL), with artifact_type
 * when it is a referrer, and keeps it for the commit's merge. */
static void index_add(struct img_layout *l, const struct img_descriptor *md, const char *tag,
		      const char *artifact_type)
{
	json_t *m = descriptor_json(md);

	if (artifact_type)
		json_object_set_new(m, "artifactType", json_string(artifact_type));
	if (tag)
		json_object_set_new(m, "annotations", json_pack("{s:s}", REF_NAME, tag));
	index_drop(l->manifests, m);
	index_drop(l->added, m);
	json_array_append(l->manifests, m);
	json_array_append_new(l->added, m);
}

int img_layout_add_image(struct img_layout *l, const struct img_config *config,
			 const struct img_descriptor *layers, size_t nlayers, const char *tag,
			 struct img_descriptor *manifest_out, struct ut_err *err)
{
	return img_layout_add_image_annotated(l, config, layers, nlayers, tag, NULL, 0,
					      manifest_out, err);
}

int img_layout_add_image_annotated(struct img_layout *l, const struct img_config *config,
				   const struct img_descriptor *layers, size_t nlayers,
				   const char *tag, const char *const *annotations, size_t nann,
				   struct img_descriptor *manifest_out, struct ut_err *err)
{
	struct img_descriptor cd, md;
	json_t *man = NULL, *jl;
	struct ut_buf b;
	size_t i;
	int rc = -1;

	ut_buf_init(&b, 0);
	if (!tag || !*tag)
		return ut_err_set(err, "%s: empty tag", l->dir);
	if (config->ndiff_ids != nlayers) {
		ut_err_set(err, "%s: %zu layers but %zu diff_ids in the config", l->dir, nlayers,
			   config->ndiff_ids);
		goto out;
	}
	if (img_config_to_json(config, &b, err) < 0 ||
	    img_layout_put_blob(l, b.data, b.len, MT_CONFIG, &cd, err) < 0)
		goto out;
	jl = json_array();
	for (i = 0; i < nlayers; i++)
		json_array_append_new(jl, descriptor_json(&layers[i]));
	man = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
			"config", descriptor_json(&cd), "layers", jl);
	if (nann) {
		json_t *ann = json_object();

		for (i = 0; i + 1 < 2 * nann; i += 2)
			json_object_set_new(ann, annotations[i], json_string(annotations[i + 1]));
		json_object_set_new(man, "annotations", ann);
	}
	if (put_manifest(l, man, &md, err) < 0)
		goto out;
	index_add(l, &md, tag, NULL);
	if (manifest_out)
		*manifest_out = md;
	rc = 0;
out:
	json_decref(man);
	ut_buf_release(&b);
	return rc;
}

int img_layout_add_referrer(struct img_layout *l, const struct img_descriptor *subject,
			    const char *artifact_type, const void *data, size_t len, const char *tag,
			    struct img_descriptor *manifest_out, struct ut_err *err)
{
	static const char empty[] = "{}";
	struct img_descriptor cd, bd, md;
	json_t *man = NULL;
	int rc = -1;

	if (img_layout_put_blob(l, empty, sizeof(empty) - 1, MT_EMPTY, &cd, err) < 0 ||
	    img_layout_put_blob(l, data, len, artifact_type, &bd, err) < 0)
		goto out;
	man = json_pack("{s:i, s:s, s:s, s:o, s:[o], s:o}", "schemaVersion", 2, "mediaType",
			MT_MANIFEST, "artifactType", artifact_type, "config", descriptor_json(&cd),
			"layers", descriptor_json(&bd), "subject", descriptor_json(subject));
	if (put_manifest(l, man, &md, err) < 0)
		goto out;
	/* Listed with its artifactType, as the image-layout spec lets an index
	 * carry referrers. */
	index_add(l, &md, tag, artifact_type);
	if (manifest_out)
		*manifest_out = md;
	rc = 0;
out:
	json_decref(man);
	return rc;
}

static const char *ref_of(json_t *m)
{
	json_t *ref = json_object_get(json_object_get(m, "annotations"), REF_NAME);

	return json_is_string(ref) ? json_string_value(ref) : "";
}

static int manifest_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(ref_of(x), ref_of(y));
	const char *dx, *dy;

	if (c)
		return c;
	dx = json_string_value(json_object_get(x, "digest"));
	dy = json_string_value(json_object_get(y, "digest"));
	return strcmp(dx ? dx : "", dy ? dy : "");
}

/* Another writer's tags since open, with ours on top. Under the index lock. */
static int merge_index(struct img_layout *l, struct ut_err *err)
{
	size_t i;

	if (read_index(l, err) < 0)
		return -1;
	for (i = 0; i < json_array_size(l->added); i++) {
		json_t *m = json_array_get(l->added, i);

		index_drop(l->manifests, m);
		json_array_append(l->manifests, m);
	}
	return 0;
}

int img_layout_commit(struct img_layout *l, struct ut_err *err)
{
	size_t i, n;
	json_t **v = NULL, *sorted = json_array(), *index = NULL;
	struct ut_buf b;
	int rc = -1, locked = 0;

	ut_buf_init(&b, 0);
	if (!l->is_new) {
		if (flock(l->blobfd, LOCK_EX) < 0) {
			ut_err_set(err, "%s: %s", l->blob_dir, strerror(errno));
			goto out;
		}
		locked = 1;
		if (merge_index(l, err) < 0)
			goto out;
	}
	n = json_array_size(l->manifests);
	v = ut_calloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_array_get(l->manifests, i);
	qsort(v, n, sizeof(*v), manifest_cmp);
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	index = l->index ? json_deep_copy(l->index) : json_object();
	json_object_set_new(index, "schemaVersion", json_integer(2));
	json_object_set_new(index, "mediaType", json_string(MT_INDEX));
	json_object_set(index, "manifests", sorted);
	/* The blobs' names must be on disk before an index that names them. */
	fsync(l->blobfd);
	if (l->is_new) {
		static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

		if (img_write_file_at(l->dirfd, "oci-layout", l->work, layout, sizeof(layout) - 1,
				      err) < 0)
			goto out;
	}
	if (img_json_dump(index, &b, err) < 0 ||
	    img_write_file_at(l->dirfd, "index.json", l->work, b.data, b.len, err) < 0)
		goto out;
	if (l->is_new) {
		/* rename() would replace an empty directory made meanwhile;
		 * someone else's output is not ours to replace. */
		if (access(l->dir, F_OK) == 0) {
			ut_err_set(err, "%s: appeared while the image was written", l->dir);
			goto out;
		}
		if (rename(l->work, l->dir) < 0) {
			ut_err_set(err, "%s: %s", l->dir, strerror(errno));
			goto out;
		}
		img_temp_untrack(l->work);
		free(l->work);
		l->work = ut_strdup(l->dir);
		free(l->blob_dir);
		l->blob_dir = ut_asprintf("%s/blobs/sha256", l->dir);
	}
	l->committed = 1;
	rc = 0;
out:
	if (locked)
		flock(l->blobfd, LOCK_UN);
	json_decref(sorted);
	free(v);
	json_decref(index);
	ut_buf_release(&b);
	return rc;
}

void img_layout_free(struct img_layout *l)
{
	if (!l)
		return;
	if (l->is_new && !l->committed && l->work) {
		ut_rm_rf(l->work);
		img_temp_untrack(l->work);
	}
	if (l->blobfd >= 0)
		close(l->blobfd);
	if (l->dirfd >= 0)
		close(l->dirfd); /* and the lock with it */
	json_decref(l->manifests);
	json_decref(l->added);
	json_decref(l->index);
	free(l->dir);
	free(l->work);
	free(l->blob_dir);
	free(l);
}

json_t *img_load_manifest(int blobfd, const char *blob_dir, json_t *desc, struct ut_err *err)
{
	const char *digest = img_json_str(desc, "digest");
	char hex[UT_SHA256_HEX], *shown;
	struct ut_buf b;
	json_t *j = NULL;

	if (!digest || img_digest_hex(digest, hex) < 0)
		return ut_err_set(err, "%s: a manifest with an unsupported digest", blob_dir), NULL;
	shown = ut_asprintf("%s/%s", blob_dir, hex);
	ut_buf_init(&b, 4 << 20);
	if (img_read_regular(blobfd, hex, shown, &b, err) == 0)
		j = img_json_parse(b.data, b.len, shown, err);
	ut_buf_release(&b);
	free(shown);
	return j;
}

int img_layout_tag_info(const char *dir, const char *tag, const char *key,
			struct img_tag_info *info, struct ut_err *err)
{
	struct img_layout l = { .dir = (char *)dir, .dirfd = -1, .blobfd = -1 };
	json_t *man = NULL, *desc = NULL, *layers;
	char *blob_dir = ut_asprintf("%s/blobs/sha256", dir);
	const char *v;
	size_t i;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	l.dirfd = img_open_dir_at(AT_FDCWD, dir, dir, err);
	if (l.dirfd < 0 || read_index(&l, err) < 0)
		goto out;
	for (i = 0; i < json_array_size(l.manifests); i++)
		if (!strcmp(ref_of(json_array_get(l.manifests, i)), tag))
			desc = json_array_get(l.manifests, i); /* the last one wins */
	if (!desc) {
		rc = 0;
		goto out;
	}
	l.blobfd = img_open_dir_at(AT_FDCWD, blob_dir, blob_dir, err);
	if (l.blobfd < 0 || !(man = img_load_manifest(l.blobfd, blob_dir, desc, err)))
		goto out;
	snprintf(info->manifest.digest, sizeof(info->manifest.digest), "%s",
		 img_json_str(desc, "digest"));
	info->manifest.size = (uint64_t)json_integer_value(json_object_get(desc, "size"));
	info->image_bytes = info->manifest.size +
			    (uint64_t)json_integer_value(json_object_get(json_object_get(man, "config"),
									 "size"));
	layers = json_object_get(man, "layers");
	for (i = 0; i < json_array_size(layers); i++)
		info->image_bytes += (uint64_t)json_integer_value(
			json_object_get(json_array_get(layers, i), "size"));
	v = key ? img_json_str(json_object_get(man, "annotations"), key) : NULL;
	info->annotation = v ? ut_strdup(v) : NULL;
	rc = 1;
out:
	json_decref(man);
	json_decref(l.manifests);
	json_decref(l.index);
	if (l.dirfd >= 0)
		close(l.dirfd);
	if (l.blobfd >= 0)
		close(l.blobfd);
	free(blob_dir);
	return rc;
}

void img_tag_info_release(struct img_tag_info *info)
{
	free(info->annotation);
	info->annotation = NULL;
}

int img_layout_blob_bytes(const char *dir, uint64_t *bytes, struct ut_err *err)
{
	char *blob_dir = ut_asprintf("%s/blobs/sha256", dir);
	int fd = img_open_dir_at(AT_FDCWD, blob_dir, blob_dir, err);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat st;

	*bytes = 0;
	if (!d) {
		if (fd >= 0) {
			ut_err_set(err, "%s: %s", blob_dir, strerror(errno));
			close(fd);
		}
		free(blob_dir);
		return -1;
	}
	/* temporaries (dot names) are not stored blobs */
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
	closedir(d);
	free(blob_dir);
	return 0;
}
