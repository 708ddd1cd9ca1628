/*
 * base_docker_archive.c - docker-archive:FILE, docker save output to build
 * on. The layer tars are extracted (as they are, not unpacked) into a
 * private temporary directory: the archive is not seekable, manifest.json
 * usually comes last, and callers need each layer as a blob file they can
 * link or copy into a layout.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

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

static int docker_open(struct img_base *b, const char *file, struct ut_err *err)
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
	const char *tmpbase = b->scratch_dir;

	ut_buf_init(&cb, IMG_JSON_MAX);
	if (find_manifest(file, &mb, &links, err) < 0)
		goto out;
	m = json_loadb((const char *)mb.data, mb.len, 0, &je);
	ut_buf_release(&mb);
	if (!m) {
		ut_err_set(err, "%s: manifest.json: bad JSON at line %d column %d", file, je.line,
			   je.column);
		goto out;
	}
	first = json_array_get(m, 0);
	cfgname = img_json_str(first, "Config");
	jl = json_object_get(first, "Layers");
	if (!m || !cfgname || !json_is_array(jl)) {
		ut_err_set(err, "%s: manifest.json: not a docker-archive manifest", file);
		goto out;
	}
	nl = json_array_size(jl);
	if (nl > IMG_BASE_MAX_LAYERS) {
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
	b->tmpdir = ut_asprintf("%s/vm2oci-base-XXXXXX", tmpbase && *tmpbase ? tmpbase : "/var/tmp");
	if (!mkdtemp(b->tmpdir)) {
		ut_err_set(err, "%s: %s", b->tmpdir, strerror(errno));
		free(b->tmpdir);
		b->tmpdir = NULL;
		goto out;
	}
	img_temp_track(b->tmpdir);
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


static int docker_open_layer(struct img_base *b, size_t i, struct ut_err *err)
{
	const struct img_base_layer *bl = &b->layers[i];
	uint64_t size;
	int fd = img_open_regular(AT_FDCWD, bl->path, bl->path, &size, err);

	if (fd >= 0 && size != bl->blob.size) {
		ut_err_set(err, "%s: changed size while in use", bl->path);
		close(fd);
		return -1;
	}
	return fd;
}

const struct img_base_reader img_base_docker_reader = {
	.prefix = "docker-archive:",
	.kind = BASE_DOCKER,
	.open = docker_open,
	.open_layer = docker_open_layer,
};
