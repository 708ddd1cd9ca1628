/*
 * base_oci.c - oci:DIR[:TAG], an OCI image layout to build on.
 *
 * The layout is read, never trusted: every file in it is opened under the
 * layout's own directory fd without following symlinks, must be a regular
 * file, and is read up to its size and no further; blobs are checked against
 * their descriptors' digests and sizes. Errors name the file and the reason,
 * never quote what it holds.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REF_NAME "org.opencontainers.image.ref.name"

/* Reads a blob of the layout, checking its size and digest. */
static int read_blob(struct img_base *b, const char *dir, const char *digest, json_int_t size,
		     struct ut_buf *out, struct ut_err *err)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], got[UT_SHA256_HEX], *shown;
	int rc;

	if (img_digest_hex(digest, hex) < 0)
		return ut_err_set(err, "%s: a descriptor without a valid sha256 digest", dir);
	if (size < 0 || size > (json_int_t)IMG_JSON_MAX)
		return ut_err_set(err, "%s: blob %s: bad size %lld", dir, digest, (long long)size);
	shown = ut_asprintf("%s/blobs/sha256/%s", dir, hex);
	ut_buf_init(out, IMG_JSON_MAX);
	rc = img_read_regular(b->blobfd, hex, shown, out, err);
	if (rc < 0) {
		if (strstr(err->msg, "No such file"))
			ut_err_prefix(err, "%s: manifest points to a missing blob: ", dir);
		goto out;
	}
	ut_sha256_buf(out->data, out->len, d);
	ut_hex(d, UT_SHA256_LEN, got);
	if (strcmp(got, hex) || (json_int_t)out->len != size)
		rc = ut_err_set(err, "%s: blob %s does not match its descriptor", shown, digest);
out:
	free(shown);
	if (rc < 0)
		ut_buf_release(out);
	return rc;
}

static int is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

static int is_linux_amd64(json_t *desc)
{
	json_t *pl = json_object_get(desc, "platform");
	const char *os = img_json_str(pl, "os"), *arch = img_json_str(pl, "architecture");

	return os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64");
}

/* Picks one descriptor of an index's manifests: by tag, else the only one,
 * else linux/amd64. Returns a borrowed reference or NULL. */
static json_t *pick(const char *where, json_t *manifests, const char *tag, struct ut_err *err)
{
	json_t *m, *found = NULL, *amd64 = NULL;
	size_t i, n = 0;
	struct ut_buf tags;

	if (!json_is_array(manifests))
		return ut_err_set(err, "%s: no manifests", where), NULL;
	json_array_foreach(manifests, i, m) {
		const char *ref = img_json_str(json_object_get(m, "annotations"), REF_NAME);

		/* A referrer (an SBOM, a signature) is no image to build on. */
		if (!json_is_object(m) || json_object_get(m, "artifactType"))
			continue;
		if (tag && (!ref || strcmp(ref, tag)))
			continue;
		n++;
		found = m;
		if (!amd64 && is_linux_amd64(m))
			amd64 = m;
	}
	if (n == 1)
		return found;
	if (n > 1 && amd64)
		return amd64;
	ut_buf_init(&tags, 4096);
	json_array_foreach(manifests, i, m) {
		const char *ref = img_json_str(json_object_get(m, "annotations"), REF_NAME);

		if (ref)
			ut_buf_addf(&tags, NULL, "%s%s", tags.len ? ", " : "", ref);
	}
	if (n == 0 && tag)
		ut_err_set(err, "%s: no image tagged %s (tags: %s)", where, tag,
			   tags.len ? (char *)tags.data : "none");
	else if (n == 0)
		ut_err_set(err, "%s: the index lists no image", where);
	else
		ut_err_set(err, "%s: %zu images, name one with :TAG (tags: %s)", where, n,
			   tags.len ? (char *)tags.data : "none");
	ut_buf_release(&tags);
	return NULL;
}

static json_t *load_blob_json(struct img_base *b, const char *dir, json_t *desc,
			      struct ut_err *err)
{
	struct ut_buf buf;
	const char *dg = img_json_str(desc, "digest");
	char *shown;
	json_t *j;

	if (!dg || !json_is_integer(json_object_get(desc, "size")))
		return ut_err_set(err, "%s: descriptor without a digest or size", dir), NULL;
	if (read_blob(b, dir, dg, json_integer_value(json_object_get(desc, "size")), &buf, err) < 0)
		return NULL;
	shown = ut_asprintf("%s: blob %s", dir, dg);
	j = img_json_parse(buf.data, buf.len, shown, err);
	if (j && !json_is_object(j)) {
		ut_err_set(err, "%s: not a JSON object", shown);
		json_decref(j);
		j = NULL;
	}
	free(shown);
	ut_buf_release(&buf);
	return j;
}

/* Splits DIR[:TAG] and opens the layout's directories: the whole spec
 * when it is a directory, else up to the last colon. */
static int open_dirs(struct img_base *b, const char *rest, char **dir, char **tag,
		     struct ut_err *err)
{
	struct stat st;
	const char *colon = strrchr(rest, ':');
	char *shown;
	int fd;

	if (stat(rest, &st) == 0 && S_ISDIR(st.st_mode)) {
		*dir = ut_strdup(rest);
	} else if (colon) {
		*dir = ut_strndup(rest, (size_t)(colon - rest));
		*tag = ut_strdup(colon + 1);
	} else {
		return ut_err_set(err, "%s: no index.json: not an OCI image layout", rest);
	}
	/* The directory named on the command line may be a symlink; what is
	 * inside it may not. */
	b->dirfd = open(*dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->dirfd < 0)
		return ut_err_set(err, "%s: %s", *dir, strerror(errno));
	shown = ut_asprintf("%s/blobs", *dir);
	fd = img_open_dir_at(b->dirfd, "blobs", shown, err);
	free(shown);
	if (fd < 0)
		return -1;
	shown = ut_asprintf("%s/blobs/sha256", *dir);
	b->blobfd = img_open_dir_at(fd, "sha256", shown, err);
	free(shown);
	close(fd);
	return b->blobfd < 0 ? -1 : 0;
}

/* The manifest descriptor the spec names: by tag, through one level of
 * nested index. *sub keeps the nested index alive. */
static json_t *find_manifest_desc(struct img_base *b, const char *dir, json_t *index,
				  const char *tag, json_t **sub, struct ut_err *err)
{
	json_t *desc;

	if (!json_is_object(index))
		return ut_err_set(err, "%s/index.json: not an image index", dir), NULL;
	desc = pick(dir, json_object_get(index, "manifests"), tag, err);
	if (!desc || !is_index_type(img_json_str(desc, "mediaType")))
		return desc;
	*sub = load_blob_json(b, dir, desc, err);
	if (!*sub)
		return NULL;
	desc = pick(dir, json_object_get(*sub, "manifests"), NULL, err);
	if (desc && is_index_type(img_json_str(desc, "mediaType")))
		return ut_err_set(err, "%s: an index nested more than one level deep", dir), NULL;
	return desc;
}

static int fill_layers(struct img_base *b, const char *dir, json_t *layers, struct ut_err *err)
{
	json_t *l;
	size_t i;

	if (layers && !json_is_array(layers))
		return ut_err_set(err, "%s: manifest layers is not a list", dir);
	if (json_array_size(layers) > IMG_BASE_MAX_LAYERS)
		return ut_err_set(err, "%s: too many layers", dir);
	if (json_array_size(layers) != b->config.ndiff_ids)
		return ut_err_set(err, "%s: %zu layers but %zu diff_ids in the config", dir,
				  json_array_size(layers), b->config.ndiff_ids);
	b->layers = ut_calloc(json_array_size(layers) + 1, sizeof(*b->layers));
	json_array_foreach(layers, i, l) {
		struct img_base_layer *bl = &b->layers[b->nlayers];
		const char *mt = img_json_str(l, "mediaType"), *dg = img_json_str(l, "digest");
		json_t *sz = json_object_get(l, "size");
		char hex[UT_SHA256_HEX];
		int fd;

		if (img_digest_hex(dg, hex) < 0 || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0)
			return ut_err_set(err, "%s: layer %zu: bad descriptor", dir, i);
		if (mt && strlen(mt) >= sizeof(bl->blob.media_type))
			return ut_err_set(err, "%s: layer %zu: media type too long", dir, i);
		snprintf(bl->blob.media_type, sizeof(bl->blob.media_type), "%s",
			 mt ? mt : "application/vnd.oci.image.layer.v1.tar");
		snprintf(bl->blob.digest, sizeof(bl->blob.digest), "%s", dg);
		bl->blob.size = (uint64_t)json_integer_value(sz);
		snprintf(bl->diff_id, sizeof(bl->diff_id), "%s",
			 b->config.diff_ids[i] ? b->config.diff_ids[i] : "");
		bl->path = ut_asprintf("%s/blobs/sha256/%s", dir, hex);
		b->nlayers++;
		/* Checked now so a bad base fails before any work is done. */
		fd = b->ops->open_layer(b, b->nlayers - 1, err);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static int oci_open(struct img_base *b, const char *rest, struct ut_err *err)
{
	json_t *index = NULL, *sub = NULL, *man = NULL, *desc, *cdesc;
	char *dir = NULL, *tag = NULL, *shown = NULL;
	struct ut_buf cb;
	int rc = -1;

	ut_buf_init(&cb, 0);
	if (open_dirs(b, rest, &dir, &tag, err) < 0)
		goto out;
	shown = ut_asprintf("%s/index.json", dir);
	index = img_json_load_at(b->dirfd, "index.json", shown, err);
	if (!index)
		goto out;
	desc = find_manifest_desc(b, dir, index, tag, &sub, err);
	if (!desc || !(man = load_blob_json(b, dir, desc, err)))
		goto out;
	cdesc = json_object_get(man, "config");
	if (is_index_type(img_json_str(man, "mediaType")) || !json_is_object(cdesc)) {
		ut_err_set(err, "%s: %s is not an image manifest", dir, img_json_str(desc, "digest"));
		goto out;
	}
	if (read_blob(b, dir, img_json_str(cdesc, "digest"),
		      json_integer_value(json_object_get(cdesc, "size")), &cb, err) < 0)
		goto out;
	if (img_config_from_json((const char *)cb.data, cb.len, &b->config, err) < 0) {
		ut_err_prefix(err, "%s: ", dir);
		goto out;
	}
	if (fill_layers(b, dir, json_object_get(man, "layers"), err) < 0)
		goto out;
	b->src = dir;
	dir = NULL;
	rc = 0;
out:
	json_decref(index);
	json_decref(sub);
	json_decref(man);
	ut_buf_release(&cb);
	free(shown);
	free(dir);
	free(tag);
	return rc;
}

static int oci_open_layer(struct img_base *b, size_t i, struct ut_err *err)
{
	const struct img_base_layer *bl = &b->layers[i];
	uint64_t size;
	int fd;

	fd = img_open_regular(b->blobfd, bl->blob.digest + 7, bl->path, &size, err);
	if (fd < 0) {
		if (strstr(err->msg, "No such file"))
			ut_err_set(err, "%s: manifest points to a missing blob %s", b->src ? b->src : bl->path,
				   bl->blob.digest);
		return -1;
	}
	if (size != bl->blob.size) {
		ut_err_set(err, "%s: %llu bytes, the manifest says %llu", bl->path,
			   (unsigned long long)size, (unsigned long long)bl->blob.size);
		close(fd);
		return -1;
	}
	return fd;
}

const struct img_base_reader img_base_oci_reader = {
	.prefix = "oci:",
	.kind = BASE_OCI,
	.open = oci_open,
	.open_layer = oci_open_layer,
};
