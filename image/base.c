/*
 * base.c - opening the image a conversion builds on.
 *
 *   scratch               nothing
 *   oci:DIR[:TAG]         an OCI layout; an index of indexes is followed one
 *                         level and linux/amd64 picked from a multi-platform one
 *   docker-archive:FILE   docker save output. The layer tars are extracted
 *                         (as they are, not unpacked) into a private temporary
 *                         directory: the archive is not seekable, manifest.json
 *                         usually comes last, and callers need each layer as a
 *                         blob file they can link or copy into a layout.
 *   rootfs:FILE | DIR     a tar (any compression) or a host directory; it has
 *                         no layer until img_base_rootfs_layer() makes one.
 */
#include "img_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REF_NAME "org.opencontainers.image.ref.name"
#define MAX_LAYERS 1024

enum base_kind { BASE_SCRATCH, BASE_OCI, BASE_DOCKER, BASE_ROOTFS_TAR, BASE_ROOTFS_DIR };

struct img_base {
	enum base_kind kind;
	char *spec;
	char *src;    /* layout dir, archive or rootfs */
	char *tmpdir; /* docker-archive extraction */
	struct img_config config;
	struct img_base_layer *layers;
	size_t nlayers;
};

static void default_config(struct img_config *c)
{
	memset(c, 0, sizeof(*c));
	c->architecture = ut_strdup("amd64");
	c->os = ut_strdup("linux");
	c->created = -1;
}

void img_base_free(struct img_base *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nlayers; i++)
		free(b->layers[i].path);
	free(b->layers);
	img_config_release(&b->config);
	if (b->tmpdir)
		ut_rm_rf(b->tmpdir);
	free(b->tmpdir);
	free(b->spec);
	free(b->src);
	free(b);
}

const struct img_base_layer *img_base_layers(const struct img_base *b, size_t *n)
{
	*n = b->nlayers;
	return b->layers;
}

const struct img_config *img_base_config(const struct img_base *b)
{
	return &b->config;
}

int img_base_is_rootfs(const struct img_base *b)
{
	return b->kind == BASE_ROOTFS_TAR || b->kind == BASE_ROOTFS_DIR;
}

/* ---- oci:DIR[:TAG] ------------------------------------------------------ */

/* Reads a blob of the layout, checking its size and digest. */
static int read_blob(const char *dir, const char *digest, json_int_t size, struct ut_buf *b,
		     struct ut_err *err)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], got[UT_SHA256_HEX], *p;
	int rc;

	if (img_digest_hex(digest, hex) < 0)
		return ut_err_set(err, "%s: unsupported or malformed digest %s", dir,
				  digest ? digest : "(none)");
	if (size < 0 || size > (json_int_t)IMG_JSON_MAX)
		return ut_err_set(err, "%s: blob %s: bad size %lld", dir, digest, (long long)size);
	p = ut_asprintf("%s/blobs/sha256/%s", dir, hex);
	ut_buf_init(b, IMG_JSON_MAX);
	rc = ut_read_host_file(p, b, err);
	if (rc < 0) {
		ut_err_prefix(err, "%s: manifest points to a missing or unreadable blob: ", dir);
		goto out;
	}
	ut_sha256_buf(b->data, b->len, d);
	ut_hex(d, UT_SHA256_LEN, got);
	if (strcmp(got, hex) || (json_int_t)b->len != size)
		rc = ut_err_set(err, "%s: blob %s does not match its descriptor", p, digest);
out:
	free(p);
	if (rc < 0)
		ut_buf_release(b);
	return rc;
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

static int is_linux_amd64(json_t *desc)
{
	json_t *pl = json_object_get(desc, "platform");
	const char *os = jstr(pl, "os"), *arch = jstr(pl, "architecture");

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
		const char *ref = jstr(json_object_get(m, "annotations"), REF_NAME);

		if (!json_is_object(m))
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
		const char *ref = jstr(json_object_get(m, "annotations"), REF_NAME);

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

static json_t *load_blob_json(const char *dir, json_t *desc, struct ut_err *err)
{
	struct ut_buf b;
	json_error_t je;
	const char *dg = jstr(desc, "digest");
	json_t *j;

	if (!dg || !json_is_integer(json_object_get(desc, "size")))
		return ut_err_set(err, "%s: descriptor without a digest or size", dir), NULL;
	if (read_blob(dir, dg, json_integer_value(json_object_get(desc, "size")), &b, err) < 0)
		return NULL;
	j = json_loadb((const char *)b.data, b.len, 0, &je);
	if (!j || !json_is_object(j)) {
		ut_err_set(err, "%s: blob %s: bad JSON: %s", dir, dg,
			   j ? "not an object" : je.text);
		json_decref(j);
		j = NULL;
	}
	ut_buf_release(&b);
	return j;
}

static int open_oci(struct img_base *b, const char *rest, struct ut_err *err)
{
	json_t *index = NULL, *sub = NULL, *man = NULL, *desc, *layers, *l;
	char *dir = NULL, *tag = NULL, *p;
	struct ut_buf cb;
	struct stat st;
	size_t i;
	int rc = -1;

	ut_buf_init(&cb, 0);
	p = ut_asprintf("%s/index.json", rest);
	if (stat(p, &st) == 0) {
		dir = ut_strdup(rest);
	} else {
		const char *colon = strrchr(rest, ':');

		if (!colon) {
			ut_err_set(err, "%s: no index.json: not an OCI image layout", rest);
			free(p);
			goto out;
		}
		dir = ut_strndup(rest, (size_t)(colon - rest));
		tag = ut_strdup(colon + 1);
	}
	free(p);
	p = ut_asprintf("%s/index.json", dir);
	index = img_json_load_file(p, err);
	free(p);
	if (!index)
		goto out;
	if (!json_is_object(index)) {
		ut_err_set(err, "%s/index.json: not an image index", dir);
		goto out;
	}
	desc = pick(dir, json_object_get(index, "manifests"), tag, err);
	if (!desc)
		goto out;
	if (is_index_type(jstr(desc, "mediaType"))) {
		sub = load_blob_json(dir, desc, err);
		if (!sub)
			goto out;
		desc = pick(dir, json_object_get(sub, "manifests"), NULL, err);
		if (!desc)
			goto out;
		if (is_index_type(jstr(desc, "mediaType"))) {
			ut_err_set(err, "%s: an index nested more than one level deep", dir);
			goto out;
		}
	}
	man = load_blob_json(dir, desc, err);
	if (!man)
		goto out;
	if (is_index_type(jstr(man, "mediaType")) || !json_is_object(json_object_get(man, "config"))) {
		ut_err_set(err, "%s: %s is not an image manifest", dir, jstr(desc, "digest"));
		goto out;
	}
	{
		json_t *cdesc = json_object_get(man, "config");
		json_int_t csize = json_integer_value(json_object_get(cdesc, "size"));

		if (read_blob(dir, jstr(cdesc, "digest"), csize, &cb, err) < 0)
			goto out;
		if (img_config_from_json((const char *)cb.data, cb.len, &b->config, err) < 0) {
			ut_err_prefix(err, "%s: ", dir);
			goto out;
		}
	}
	layers = json_object_get(man, "layers");
	if (layers && !json_is_array(layers)) {
		ut_err_set(err, "%s: manifest layers is not a list", dir);
		goto out;
	}
	if (json_array_size(layers) > MAX_LAYERS) {
		ut_err_set(err, "%s: too many layers", dir);
		goto out;
	}
	if (json_array_size(layers) != b->config.ndiff_ids) {
		ut_err_set(err, "%s: %zu layers but %zu diff_ids in the config", dir,
			   json_array_size(layers), b->config.ndiff_ids);
		goto out;
	}
	b->layers = ut_calloc(json_array_size(layers) + 1, sizeof(*b->layers));
	json_array_foreach(layers, i, l) {
		struct img_base_layer *bl = &b->layers[b->nlayers];
		const char *mt = jstr(l, "mediaType"), *dg = jstr(l, "digest");
		json_t *sz = json_object_get(l, "size");
		char hex[UT_SHA256_HEX];

		if (img_digest_hex(dg, hex) < 0 || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0) {
			ut_err_set(err, "%s: layer %zu: bad descriptor", dir, i);
			goto out;
		}
		snprintf(bl->blob.media_type, sizeof(bl->blob.media_type), "%s",
			 mt ? mt : "application/vnd.oci.image.layer.v1.tar");
		snprintf(bl->blob.digest, sizeof(bl->blob.digest), "%s", dg);
		bl->blob.size = (uint64_t)json_integer_value(sz);
		snprintf(bl->diff_id, sizeof(bl->diff_id), "%s",
			 b->config.diff_ids[i] ? b->config.diff_ids[i] : "");
		bl->path = ut_asprintf("%s/blobs/sha256/%s", dir, hex);
		b->nlayers++;
		if (stat(bl->path, &st) < 0) {
			ut_err_set(err, "%s: manifest points to a missing blob %s", dir, dg);
			goto out;
		}
		if ((uint64_t)st.st_size != bl->blob.size) {
			ut_err_set(err, "%s: blob %s has %llu bytes, the manifest says %llu", dir, dg,
				   (unsigned long long)st.st_size,
				   (unsigned long long)bl->blob.size);
			goto out;
		}
	}
	b->src = dir;
	dir = NULL;
	rc = 0;
out:
	json_decref(index);
	json_decref(sub);
	json_decref(man);
	ut_buf_release(&cb);
	free(dir);
	free(tag);
	return rc;
}

/* ---- docker-archive:FILE ------------------------------------------------ */

/* Symlinks among an archive's members: newer docker saves name each layer
 * "<id>/layer.tar" as a link to "../<digest>.tar". */
struct links {
	char **from, **to;
	size_t n;
};

static void links_release(struct links *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->from[i]);
		free(l->to[i]);
	}
	free(l->from);
	free(l->to);
	memset(l, 0, sizeof(*l));
}

/* member's directory + target, with "." and ".." folded; NULL when it
 * leaves the archive. */
static char *resolve_link(const char *member, const char *target)
{
	char *joined, *out, *s, *tok, *save = NULL;
	size_t plen = ut_path_parent_len(member), n = 0;

	if (target[0] == '/')
		return NULL;
	joined = plen ? ut_asprintf("%.*s/%s", (int)plen, member, target) : ut_strdup(target);
	out = ut_calloc(1, strlen(joined) + 1);
	for (s = joined; (tok = strtok_r(s, "/", &save)); s = NULL) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (!n) {
				free(joined);
				free(out);
				return NULL;
			}
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--;
			out[n] = '\0';
			continue;
		}
		if (n)
			out[n++] = '/';
		memcpy(out + n, tok, strlen(tok));
		n += strlen(tok);
		out[n] = '\0';
	}
	free(joined);
	return out;
}

/* Follows member symlinks (a few hops at most); returns a new string. */
static char *follow(const struct links *l, const char *name)
{
	char *cur = NULL;
	size_t hop, i;

	if (img_tar_path(name, &cur, NULL) < 0)
		return NULL;
	for (hop = 0; hop < 8; hop++) {
		for (i = 0; i < l->n; i++)
			if (!strcmp(l->from[i], cur))
				break;
		if (i == l->n)
			return cur;
		free(cur);
		cur = ut_strdup(l->to[i]);
	}
	free(cur);
	return NULL;
}

static int find_manifest(const char *file, struct ut_buf *out, struct links *links,
			 struct ut_err *err)
{
	struct archive *a = img_open_tar(file, err);
	struct archive_entry *ae;
	int r, rc = -1, have = 0;
	char buf[65536];

	if (!a)
		return -1;
	ut_buf_init(out, IMG_JSON_MAX);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		char *p = NULL;
		la_ssize_t n;

		if (img_tar_path(img_entry_name(ae), &p, err) < 0) {
			ut_err_prefix(err, "%s: ", file);
			goto out;
		}
		if (archive_entry_filetype(ae) == AE_IFLNK && img_entry_symlink(ae)) {
			char *to = resolve_link(p, img_entry_symlink(ae));

			if (to && links->n < 4096) {
				links->from = ut_realloc(links->from, (links->n + 1) * sizeof(char *));
				links->to = ut_realloc(links->to, (links->n + 1) * sizeof(char *));
				links->from[links->n] = p;
				links->to[links->n++] = to;
				continue;
			}
			free(to);
		}
		if (strcmp(p, "manifest.json") || have) {
			free(p);
			continue;
		}
		free(p);
		while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
			if (ut_buf_add(out, buf, (size_t)n, err) < 0)
				goto out;
		if (n < 0) {
			ut_err_set(err, "%s: manifest.json: %s", file, archive_error_string(a));
			goto out;
		}
		have = 1;
	}
	if (r != ARCHIVE_EOF)
		ut_err_set(err, "%s: %s", file, archive_error_string(a));
	else if (!have)
		ut_err_set(err, "%s: no manifest.json: not a docker-archive", file);
	else
		rc = 0;
out:
	archive_read_free(a);
	return rc;
}

static const char *sniff_media_type(const unsigned char *h, size_t n)
{
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return img_layer_media_type(IMG_COMPRESS_GZIP);
	if (n >= 4 && h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd)
		return img_layer_media_type(IMG_COMPRESS_ZSTD);
	return img_layer_media_type(IMG_COMPRESS_NONE);
}

static int open_docker(struct img_base *b, const char *file, const char *tmpdir,
		       struct ut_err *err)
{
	json_t *m = NULL, *first, *jl, *v;
	struct archive *a = NULL;
	struct archive_entry *ae;
	struct ut_buf mb, cb;
	struct links links = { 0 };
	const char *cfgname;
	char **names = NULL;
	unsigned char *buf = ut_malloc(1 << 20);
	json_error_t je;
	size_t i, nl = 0, nfound = 0;
	int *found = NULL, rc = -1, r;

	ut_buf_init(&cb, IMG_JSON_MAX);
	if (find_manifest(file, &mb, &links, err) < 0)
		goto out;
	m = json_loadb((const char *)mb.data, mb.len, 0, &je);
	ut_buf_release(&mb);
	first = json_array_get(m, 0);
	cfgname = jstr(first, "Config");
	jl = json_object_get(first, "Layers");
	if (!m || !cfgname || !json_is_array(jl)) {
		ut_err_set(err, "%s: manifest.json: not a docker-archive manifest", file);
		goto out;
	}
	nl = json_array_size(jl);
	if (nl > MAX_LAYERS) {
		ut_err_set(err, "%s: too many layers", file);
		goto out;
	}
	/* names[0] is the config, names[1..] the layers. */
	names = ut_calloc(nl + 1, sizeof(*names));
	found = ut_calloc(nl + 1, sizeof(*found));
	json_array_foreach(jl, i, v)
		if (!json_is_string(v)) {
			ut_err_set(err, "%s: manifest.json: bad layer name", file);
			goto out;
		}
	for (i = 0; i <= nl; i++) {
		const char *nm = i ? json_string_value(json_array_get(jl, i - 1)) : cfgname;

		names[i] = follow(&links, nm);
		if (!names[i]) {
			ut_err_set(err, "%s: manifest.json: bad member name %s", file, nm);
			goto out;
		}
	}
	b->tmpdir = ut_asprintf("%s/vm2oci-base-XXXXXX", tmpdir ? tmpdir : "/var/tmp");
	if (!mkdtemp(b->tmpdir)) {
		ut_err_set(err, "%s: %s", b->tmpdir, strerror(errno));
		free(b->tmpdir);
		b->tmpdir = NULL;
		goto out;
	}
	b->layers = ut_calloc(nl + 1, sizeof(*b->layers));
	b->nlayers = nl;
	if (!(a = img_open_tar(file, err)))
		goto out;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		char *p = NULL;

		if (img_tar_path(img_entry_name(ae), &p, err) < 0) {
			ut_err_prefix(err, "%s: ", file);
			goto out;
		}
		for (i = 0; i <= nl; i++) {
			struct ut_sha256 h;
			unsigned char d[UT_SHA256_LEN], head[4];
			char hex[UT_SHA256_HEX];
			size_t nhead = 0;
			uint64_t total = 0;
			la_ssize_t n;
			int fd = -1;
			char *name;

			if (found[i] || strcmp(names[i], p))
				continue;
			if (archive_entry_filetype(ae) != AE_IFREG) {
				ut_err_set(err, "%s: %s is not a regular file", file, p);
				free(p);
				goto out;
			}
			found[i] = 1;
			nfound++;
			if (i == 0) {
				while ((n = archive_read_data(a, buf, 1 << 20)) > 0)
					if (ut_buf_add(&cb, buf, (size_t)n, err) < 0) {
						free(p);
						goto out;
					}
			} else {
				name = ut_asprintf("%s/layer-%zu", b->tmpdir, i - 1);
				fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				b->layers[i - 1].path = name;
				if (fd < 0) {
					ut_err_set(err, "%s: %s", name, strerror(errno));
					free(p);
					goto out;
				}
				ut_sha256_init(&h);
				while ((n = archive_read_data(a, buf, 1 << 20)) > 0) {
					if (nhead < 4) {
						size_t k = (size_t)n < 4 - nhead ? (size_t)n : 4 - nhead;

						memcpy(head + nhead, buf, k);
						nhead += k;
					}
					ut_sha256_update(&h, buf, (size_t)n);
					total += (uint64_t)n;
					if (write(fd, buf, (size_t)n) != n) {
						ut_err_set(err, "%s: %s", name, strerror(errno));
						n = -2;
						break;
					}
				}
				close(fd);
				ut_sha256_final(&h, d);
				ut_sha256_release(&h);
				if (n == -2) {
					free(p);
					goto out;
				}
				ut_hex(d, UT_SHA256_LEN, hex);
				snprintf(b->layers[i - 1].blob.digest, sizeof(b->layers[i - 1].blob.digest),
					 "sha256:%s", hex);
				b->layers[i - 1].blob.size = total;
				snprintf(b->layers[i - 1].blob.media_type,
					 sizeof(b->layers[i - 1].blob.media_type), "%s",
					 sniff_media_type(head, nhead));
			}
			if (n < 0) {
				ut_err_set(err, "%s: %s: %s", file, p, archive_error_string(a));
				free(p);
				goto out;
			}
			/* One member may serve several layers (docker dedups): copy it. */
			for (size_t j = i + 1; j <= nl && i > 0; j++) {
				if (!found[j] && !strcmp(names[j], p)) {
					found[j] = 1;
					nfound++;
					b->layers[j - 1].blob = b->layers[i - 1].blob;
					b->layers[j - 1].path = ut_strdup(b->layers[i - 1].path);
				}
			}
			break;
		}
		free(p);
	}
	if (r != ARCHIVE_EOF) {
		ut_err_set(err, "%s: %s", file, archive_error_string(a));
		goto out;
	}
	for (i = 0; i <= nl; i++)
		if (!found[i]) {
			ut_err_set(err, "%s: manifest.json names %s, which the archive lacks", file,
				   names[i]);
			goto out;
		}
	if (img_config_from_json((const char *)cb.data, cb.len, &b->config, err) < 0) {
		ut_err_prefix(err, "%s: ", file);
		goto out;
	}
	if (b->config.ndiff_ids != nl) {
		ut_err_set(err, "%s: %zu layers but %zu diff_ids in the config", file, nl,
			   b->config.ndiff_ids);
		goto out;
	}
	for (i = 0; i < nl; i++)
		snprintf(b->layers[i].diff_id, sizeof(b->layers[i].diff_id), "%s",
			 b->config.diff_ids[i] ? b->config.diff_ids[i] : "");
	b->src = ut_strdup(file);
	rc = 0;
out:
	if (a)
		archive_read_free(a);
	json_decref(m);
	ut_buf_release(&cb);
	for (i = 0; names && i <= nl; i++)
		free(names[i]);
	free(names);
	links_release(&links);
	free(found);
	free(buf);
	return rc;
}

/* ---- opening ------------------------------------------------------------ */

int img_base_open(const char *spec, const char *tmpdir, struct img_base **out,
		  struct ut_err *err)
{
	struct img_base *b = ut_calloc(1, sizeof(*b));
	struct stat st;

	b->spec = ut_strdup(spec);
	b->config.created = -1;
	if (!strcmp(spec, "scratch")) {
		b->kind = BASE_SCRATCH;
		default_config(&b->config);
	} else if (!strncmp(spec, "oci:", 4)) {
		b->kind = BASE_OCI;
		if (open_oci(b, spec + 4, err) < 0)
			goto fail;
	} else if (!strncmp(spec, "docker-archive:", 15)) {
		b->kind = BASE_DOCKER;
		if (open_docker(b, spec + 15, tmpdir, err) < 0)
			goto fail;
	} else if (!strncmp(spec, "rootfs:", 7)) {
		if (stat(spec + 7, &st) < 0) {
			ut_err_set(err, "%s: %s", spec + 7, strerror(errno));
			goto fail;
		}
		b->kind = S_ISDIR(st.st_mode) ? BASE_ROOTFS_DIR : BASE_ROOTFS_TAR;
		b->src = ut_strdup(spec + 7);
		default_config(&b->config);
	} else {
		ut_err_set(err, "%s: unknown base (scratch, oci:DIR[:TAG], docker-archive:FILE, rootfs:TAR|DIR)",
			   spec);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	img_base_free(b);
	return -1;
}

int img_base_rootfs_layer(struct img_base *b, const char *blob_dir,
			  const struct img_layer_options *opt, struct img_layer_result *res,
			  struct ut_err *err)
{
	struct img_layer_writer *w = NULL;
	struct img_dir_content dc;
	struct ut_tree *t = NULL;
	size_t i;

	if (!img_base_is_rootfs(b))
		return ut_err_set(err, "%s: not a rootfs base", b->spec);
	if (img_layer_writer_new(blob_dir, opt, &w, err) < 0)
		return -1;
	if (b->kind == BASE_ROOTFS_TAR) {
		if (img_rootfs_tar_layer(b->src, w, err) < 0)
			goto fail;
	} else {
		if (img_rootfs_walk(b->src, &dc, &t, err) < 0)
			goto fail;
		for (i = 0; i < t->n; i++)
			if (img_layer_add(w, &t->v[i], &t->content, err) < 0)
				goto fail;
		ut_tree_free(t);
	}
	return img_layer_finish(w, res, err);
fail:
	ut_tree_free(t);
	img_layer_abort(w);
	return -1;
}

/* ---- the tree ---------------------------------------------------------------- */

static char *cache_path(const char *cache_dir, const struct img_base *b, size_t nprefix)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];
	struct ut_buf k;
	size_t i;

	ut_buf_init(&k, 0);
	ut_buf_addstr(&k, "vm2oci-base-tree-v1\n", NULL);
	for (i = 0; i < nprefix; i++)
		ut_buf_addf(&k, NULL, "%s\n", b->layers[i].blob.digest);
	ut_sha256_buf(k.data, k.len, d);
	ut_buf_release(&k);
	ut_hex(d, UT_SHA256_LEN, hex);
	return ut_asprintf("%s/%s.tree", cache_dir, hex);
}

int img_base_tree(struct img_base *b, const char *cache_dir, struct ut_tree **out,
		  struct ut_err *err)
{
	struct img_tree_builder *tb = img_tree_builder_new();
	struct ut_tree *t = NULL;
	struct img_dir_content dc;
	size_t i, from = 0;
	int rc = -1;

	switch (b->kind) {
	case BASE_SCRATCH:
		break;
	case BASE_ROOTFS_DIR:
		if (img_rootfs_walk(b->src, &dc, &t, err) < 0 || ut_tree_digest_all(t, err) < 0)
			goto out;
		t->content.ops = NULL;
		t->content.ctx = NULL;
		*out = t;
		t = NULL;
		rc = 0;
		goto out;
	case BASE_ROOTFS_TAR:
		if (img_tree_builder_apply(tb, b->src, NULL, err) < 0)
			goto out;
		break;
	case BASE_OCI:
	case BASE_DOCKER:
		if (cache_dir) {
			for (i = b->nlayers; i > 0; i--) {
				char *p = cache_path(cache_dir, b, i);

				if (img_tree_load(p, &t, NULL) == 0) {
					img_tree_builder_set(tb, t);
					t = NULL;
					from = i;
					free(p);
					break;
				}
				free(p);
			}
		}
		for (i = from; i < b->nlayers; i++) {
			if (img_tree_builder_apply(tb, b->layers[i].path, b->layers[i].blob.digest, err) < 0) {
				ut_err_prefix(err, "%s: layer %zu: ", b->spec, i + 1);
				goto out;
			}
			if (cache_dir) {
				/* A cache we cannot write is only a slower next run. */
				char *p = cache_path(cache_dir, b, i + 1);
				struct ut_tree *snap = img_tree_builder_take(tb);

				img_tree_save(snap, p, NULL);
				img_tree_builder_set(tb, snap);
				free(p);
			}
		}
		break;
	}
	*out = img_tree_builder_take(tb);
	rc = 0;
out:
	ut_tree_free(t);
	img_tree_builder_free(tb);
	return rc;
}

/* ---- for base_files.c -------------------------------------------------------- */

int img_base_is_dir(const struct img_base *b, const char **src)
{
	*src = b->src;
	return b->kind == BASE_ROOTFS_DIR;
}
