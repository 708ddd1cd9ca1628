/*
 * layout.c - the image a push sends, read from an OCI layout: index.json,
 * the tagged manifest (or index and its platform manifests), their blobs.
 * Manifests are kept as their exact bytes, checked against their digest,
 * so that what the registry stores has the digest the layout names. Files
 * are opened under the layout's directory with O_NOFOLLOW and must be
 * regular files of the size their descriptor says.
 */
#include "reg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MAX_CHILDREN 256
#define MAX_BLOBS 4096

static int is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

/* A regular file under dirfd, opened without following a symlink. */
static int open_regular(int dirfd, const char *name, const char *shown, struct stat *st,
			int *fd, struct ut_err *err)
{
	*fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0)
		return ut_err_set(err, "%s: %s", shown, strerror(errno));
	if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(*fd);
		*fd = -1;
		return ut_err_set(err, "%s: not a regular file", shown);
	}
	return 0;
}

static int read_small(int dirfd, const char *name, const char *shown, struct ut_buf *b,
		      struct ut_err *err)
{
	struct stat st;
	int fd, rc;

	if (open_regular(dirfd, name, shown, &st, &fd, err) < 0)
		return -1;
	if ((uint64_t)st.st_size > REG_MAX_MANIFEST) {
		close(fd);
		return ut_err_set(err, "%s: larger than %u bytes", shown, REG_MAX_MANIFEST);
	}
	rc = ut_read_fd(fd, shown, b, err);
	close(fd);
	return rc;
}

/* A descriptor's digest and size, checked. */
static int descriptor(json_t *d, const char *what, struct reg_blob *b, struct ut_err *err)
{
	const char *digest = json_string_value(json_object_get(d, "digest"));
	json_t *size = json_object_get(d, "size");
	size_t i;

	if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest) != 7 + 64)
		return ut_err_set(err, "%s: digest is not sha256:<64 hex digits>", what);
	for (i = 7; digest[i]; i++)
		if (!strchr("0123456789abcdef", digest[i]))
			return ut_err_set(err, "%s: digest is not sha256:<64 hex digits>", what);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return ut_err_set(err, "%s: size is not a non-negative integer", what);
	memcpy(b->digest, digest, 7 + 65);
	b->size = (uint64_t)json_integer_value(size);
	return 0;
}

static json_t *load_object(const struct ut_buf *b, const char *what, struct ut_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(b->data ? (char *)b->data : "", b->len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		ut_err_set(err, "%s: not JSON (line %d, column %d: %s)", what, je.line, je.column,
			   je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		ut_err_set(err, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

int reg_manifest_parse(struct reg_manifest *m, struct ut_err *err)
{
	json_t *root = load_object(&m->bytes, m->digest, err), *layers, *l;
	const char *mt, *base;
	size_t i, n;
	int rc = -1;

	if (!root)
		return -1;
	mt = json_string_value(json_object_get(root, "mediaType"));
	if (mt && strlen(mt) < sizeof(m->media_type))
		strcpy(m->media_type, mt);
	if (!m->media_type[0])
		strcpy(m->media_type, MT_OCI_MANIFEST);
	base = json_string_value(json_object_get(json_object_get(root, "annotations"),
						 "org.opencontainers.image.base.name"));
	if (base)
		m->base_name = ut_strdup(base);
	if (is_index_type(m->media_type)) {
		rc = 0; /* its blobs are its children's */
		goto out;
	}
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers) || !json_is_object(json_object_get(root, "config"))) {
		ut_err_set(err, "manifest %s: no config or no layers array", m->digest);
		goto out;
	}
	n = json_array_size(layers) + 1;
	if (n > MAX_BLOBS) {
		ut_err_set(err, "manifest %s: more than %d layers", m->digest, MAX_BLOBS - 1);
		goto out;
	}
	m->blobs = ut_calloc(n, sizeof(*m->blobs));
	/* layers first, the config last: skopeo's order */
	json_array_foreach(layers, i, l) {
		if (descriptor(l, "layer", &m->blobs[m->nblobs], err) < 0)
			goto fail;
		m->nblobs++;
	}
	if (descriptor(json_object_get(root, "config"), "config", &m->blobs[m->nblobs], err) < 0)
		goto fail;
	m->nblobs++;
	rc = 0;
	goto out;
fail:
	ut_err_prefix(err, "manifest %s: ", m->digest);
out:
	json_decref(root);
	return rc;
}

/* Reads the manifest d names (its bytes checked against its digest). */
static int load_manifest(struct reg_image *img, json_t *d, const char *what,
			 struct reg_manifest *m, struct ut_err *err)
{
	struct reg_blob b;
	unsigned char sum[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];
	const char *mt = json_string_value(json_object_get(d, "mediaType"));

	if (descriptor(d, what, &b, err) < 0)
		return -1;
	memcpy(m->digest, b.digest, sizeof(m->digest));
	if (mt && strlen(mt) < sizeof(m->media_type))
		strcpy(m->media_type, mt);
	ut_buf_init(&m->bytes, REG_MAX_MANIFEST);
	if (b.size > REG_MAX_MANIFEST)
		return ut_err_set(err, "%s %s: larger than %u bytes", what, b.digest,
				  REG_MAX_MANIFEST);
	if (read_small(img->dirfd_blobs, b.digest + 7, b.digest, &m->bytes, err) < 0)
		return -1;
	ut_sha256_buf(m->bytes.data, m->bytes.len, sum);
	ut_hex(sum, sizeof(sum), hex);
	if (m->bytes.len != b.size || strcmp(hex, b.digest + 7))
		return ut_err_set(err, "%s %s: the blob's size or digest is not the descriptor's",
				  what, b.digest);
	return reg_manifest_parse(m, err);
}

/* The descriptor of index.json's manifests tagged tag (or the only one). */
static json_t *pick(json_t *index, const char *tag, struct ut_err *err)
{
	json_t *ms = json_object_get(index, "manifests"), *d, *found = NULL;
	size_t i;

	if (!json_is_array(ms))
		return ut_err_set(err, "index.json: no manifests array"), NULL;
	json_array_foreach(ms, i, d) {
		const char *ref = json_string_value(json_object_get(
			json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));

		if (tag && (!ref || strcmp(ref, tag)))
			continue;
		if (found)
			return ut_err_set(err, tag ? "index.json: two images tagged %s" :
					  "index.json: several images, name one with :TAG%s", tag ? tag : ""),
			       NULL;
		found = d;
	}
	if (!found)
		ut_err_set(err, tag ? "index.json: no image tagged %s" : "index.json: no image%s",
			   tag ? tag : "");
	return found;
}

static int load_children(struct reg_image *img, struct ut_err *err)
{
	json_t *root = load_object(&img->top.bytes, img->top.digest, err), *ms, *d;
	size_t i;
	int rc = -1;

	if (!root)
		return -1;
	ms = json_object_get(root, "manifests");
	if (!json_is_array(ms) || json_array_size(ms) > MAX_CHILDREN) {
		ut_err_set(err, "index %s: no manifests array, or more than %d", img->top.digest,
			   MAX_CHILDREN);
		goto out;
	}
	img->children = ut_calloc(json_array_size(ms) + 1, sizeof(*img->children));
	json_array_foreach(ms, i, d) {
		struct reg_manifest *c = &img->children[img->nchildren++];

		if (load_manifest(img, d, "manifest", c, err) < 0)
			goto out;
		if (is_index_type(c->media_type)) {
			ut_err_set(err, "index %s: nested index %s (one level is pushed)",
				   img->top.digest, c->digest);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int reg_image_open(const char *dir, const char *tag, struct reg_image *img, struct ut_err *err)
{
	struct ut_buf ib;
	json_t *index = NULL, *d;
	int dirfd, rc = -1;

	memset(img, 0, sizeof(*img));
	img->dirfd_blobs = -1;
	ut_buf_init(&ib, REG_MAX_MANIFEST);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ut_err_set(err, "%s: %s", dir, strerror(errno));
		goto out;
	}
	img->dirfd_blobs = openat(dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (img->dirfd_blobs < 0) {
		ut_err_set(err, "%s: blobs/sha256: %s", dir, strerror(errno));
		goto out;
	}
	if (read_small(dirfd, "index.json", "index.json", &ib, err) < 0 ||
	    !(index = load_object(&ib, "index.json", err)) || !(d = pick(index, tag, err)) ||
	    load_manifest(img, d, "manifest", &img->top, err) < 0)
		goto fail;
	if (is_index_type(img->top.media_type) && load_children(img, err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	ut_err_prefix(err, "%s: ", dir);
out:
	if (dirfd >= 0)
		close(dirfd);
	json_decref(index);
	ut_buf_release(&ib);
	if (rc)
		reg_image_release(img);
	return rc;
}

int reg_image_open_blob(const struct reg_image *img, const struct reg_blob *b, int *fd,
			struct ut_err *err)
{
	struct stat st;

	if (open_regular(img->dirfd_blobs, b->digest + 7, b->digest, &st, fd, err) < 0)
		return -1;
	if ((uint64_t)st.st_size != b->size) {
		close(*fd);
		*fd = -1;
		return ut_err_set(err, "blob %s: %lld bytes, its descriptor says %llu", b->digest,
				  (long long)st.st_size, (unsigned long long)b->size);
	}
	return 0;
}

static void manifest_release(struct reg_manifest *m)
{
	ut_buf_release(&m->bytes);
	free(m->blobs);
	free(m->base_name);
}

void reg_image_release(struct reg_image *img)
{
	size_t i;

	for (i = 0; i < img->nchildren; i++)
		manifest_release(&img->children[i]);
	free(img->children);
	manifest_release(&img->top);
	if (img->dirfd_blobs >= 0)
		close(img->dirfd_blobs);
	memset(img, 0, sizeof(*img));
	img->dirfd_blobs = -1;
}
