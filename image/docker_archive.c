/*
 * docker_archive.c - a docker-archive (what `docker save` writes and
 * `docker load` reads) from an image of an OCI layout.
 *
 * Layers go in as plain tars named <diff_id hex>.tar: compressed blobs
 * (gzip and zstd alike) are decompressed on the way, because older Docker
 * engines load neither zstd nor, in this legacy format, anything but what
 * its manifest names, and an uncompressed tar is what `docker save` itself
 * writes. The decompressed bytes are checked against the config's diff_id.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define REF_NAME "org.opencontainers.image.ref.name"
#define CHUNK (1u << 20)

static json_t *load_blob(const char *dir, const char *digest, struct ut_buf *raw,
			 struct ut_err *err)
{
	char hex[UT_SHA256_HEX], *p;
	json_t *j;

	if (img_digest_hex(digest, hex) < 0)
		return ut_err_set(err, "%s: bad digest %s", dir, digest ? digest : "(none)"), NULL;
	p = ut_asprintf("%s/blobs/sha256/%s", dir, hex);
	ut_buf_init(raw, IMG_JSON_MAX);
	if (ut_read_host_file(p, raw, err) < 0) {
		free(p);
		return NULL;
	}
	j = img_json_parse(raw->data, raw->len, p, err);
	free(p);
	return j;
}

/* Decompresses blob into a new temporary file beside out_tmpl; checks diff_id. */
static int unpack_blob(const char *blob, const char *diff_id, char *tmpl, uint64_t *size,
		       struct ut_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	unsigned char *buf = ut_malloc(CHUNK), d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], want[UT_SHA256_HEX];
	struct ut_sha256 h = { 0 };
	la_ssize_t n;
	int fd = -1, rc = -1;

	*size = 0;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", blob, archive_error_string(a));
		goto out;
	}
	if ((fd = mkstemp(tmpl)) < 0) {
		ut_err_set(err, "%s: %s", tmpl, strerror(errno));
		goto out;
	}
	flock(fd, LOCK_EX);
	img_temp_track(tmpl);
	ut_sha256_init(&h);
	while ((n = archive_read_data(a, buf, CHUNK)) > 0) {
		ut_sha256_update(&h, buf, (size_t)n);
		*size += (uint64_t)n;
		if (write(fd, buf, (size_t)n) != n) {
			ut_err_set(err, "%s: %s", tmpl, strerror(errno));
			goto out;
		}
	}
	if (n < 0) {
		ut_err_set(err, "%s: %s", blob, archive_error_string(a));
		goto out;
	}
	ut_sha256_final(&h, d);
	ut_hex(d, UT_SHA256_LEN, hex);
	if (img_digest_hex(diff_id, want) < 0 || strcmp(hex, want)) {
		ut_err_set(err, "%s: uncompressed content is sha256:%s, the config says %s", blob,
			   hex, diff_id ? diff_id : "(none)");
		goto out;
	}
	rc = 0;
out:
	ut_sha256_release(&h);
	if (fd >= 0)
		close(fd);
	archive_read_free(a);
	free(buf);
	return rc;
}

static int add_member(struct archive *out, const char *name, const char *file, const void *data,
		      uint64_t size, struct ut_err *err)
{
	struct archive_entry *ae = archive_entry_new();
	unsigned char *buf = NULL;
	int fd = -1, rc = -1;

	archive_entry_set_pathname(ae, name);
	archive_entry_set_mode(ae, AE_IFREG | 0644);
	archive_entry_set_size(ae, (la_int64_t)size);
	archive_entry_set_mtime(ae, 0, 0);
	if (archive_write_header(out, ae) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", name, archive_error_string(out));
		goto out;
	}
	if (data) {
		if (archive_write_data(out, data, size) != (la_ssize_t)size) {
			ut_err_set(err, "%s: %s", name, archive_error_string(out));
			goto out;
		}
	} else {
		ssize_t n;
		uint64_t total = 0;

		buf = ut_malloc(CHUNK);
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
			ut_err_set(err, "%s: %s", file, strerror(errno));
			goto out;
		}
		while ((n = read(fd, buf, CHUNK)) > 0) {
			if (archive_write_data(out, buf, (size_t)n) != n) {
				ut_err_set(err, "%s: %s", name, archive_error_string(out));
				goto out;
			}
			total += (uint64_t)n;
		}
		if (n < 0 || total != size) {
			ut_err_set(err, "%s: changed while being archived", file);
			goto out;
		}
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	archive_entry_free(ae);
	return rc;
}

int img_docker_archive_write(const char *oci_dir, const char *tag, const char *path,
			     const char *repo_tag, struct ut_err *err)
{
	json_t *index = NULL, *man = NULL, *cfg = NULL, *m, *layers, *l, *dm = NULL, *jl;
	struct ut_buf manraw, cfgraw, out_json;
	struct archive *out = NULL;
	char *tmp_out = NULL, *p = NULL, *tmp_layer = NULL;
	char hex[UT_SHA256_HEX];
	const char *man_digest = NULL;
	size_t i;
	int rc = -1, fd = -1;

	ut_buf_init(&manraw, 0);
	ut_buf_init(&cfgraw, 0);
	ut_buf_init(&out_json, 0);
	p = ut_asprintf("%s/index.json", oci_dir);
	index = img_json_load_file(p, err);
	if (!index)
		goto out;
	json_array_foreach(json_object_get(index, "manifests"), i, m) {
		const char *ref = img_json_str(json_object_get(m, "annotations"), REF_NAME);

		if (ref && !strcmp(ref, tag))
			man_digest = img_json_str(m, "digest");
	}
	if (!man_digest) {
		ut_err_set(err, "%s: no image tagged %s", oci_dir, tag);
		goto out;
	}
	if (!(man = load_blob(oci_dir, man_digest, &manraw, err)))
		goto out;
	if (!(cfg = load_blob(oci_dir, img_json_str(json_object_get(man, "config"), "digest"), &cfgraw,
			      err)))
		goto out;
	layers = json_object_get(man, "layers");
	if (!json_is_array(layers) ||
	    json_array_size(layers) != json_array_size(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"))) {
		ut_err_set(err, "%s: %s: layers and diff_ids disagree", oci_dir, tag);
		goto out;
	}

	img_remove_stale(path);
	tmp_out = ut_asprintf("%s.tmp-XXXXXX", path);
	if ((fd = mkstemp(tmp_out)) < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		free(tmp_out);
		tmp_out = NULL;
		goto out;
	}
	flock(fd, LOCK_EX);
	img_temp_track(tmp_out);
	fchmod(fd, 0644);
	out = archive_write_new();
	archive_write_set_format_pax_restricted(out);
	archive_write_add_filter_none(out);
	if (archive_write_open_fd(out, fd) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", path, archive_error_string(out));
		goto out;
	}
	img_digest_hex(img_json_str(json_object_get(man, "config"), "digest"), hex);
	free(p);
	p = ut_asprintf("%s.json", hex);
	if (add_member(out, p, NULL, cfgraw.data, cfgraw.len, err) < 0)
		goto out;
	jl = json_array();
	dm = json_pack("[{s:s, s:o, s:o}]", "Config", p, "Layers", jl, "RepoTags",
		       repo_tag ? json_pack("[s]", repo_tag) : json_null());
	json_array_foreach(layers, i, l) {
		const char *diff_id = json_string_value(json_array_get(
			json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), i));
		const char *mt = img_json_str(l, "mediaType");
		char bhex[UT_SHA256_HEX], dhex[UT_SHA256_HEX], *blob, *name;
		uint64_t size;
		int plain = mt && (!strcmp(mt, img_layer_media_type(IMG_COMPRESS_NONE)) ||
				   !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"));

		if (img_digest_hex(img_json_str(l, "digest"), bhex) < 0 || img_digest_hex(diff_id, dhex) < 0) {
			ut_err_set(err, "%s: layer %zu: bad digest", oci_dir, i + 1);
			goto out;
		}
		blob = ut_asprintf("%s/blobs/sha256/%s", oci_dir, bhex);
		name = ut_asprintf("%s.tar", dhex);
		if (plain) {
			struct stat st;

			if (stat(blob, &st) < 0) {
				ut_err_set(err, "%s: %s", blob, strerror(errno));
				rc = -1;
			} else {
				rc = add_member(out, name, blob, NULL, (uint64_t)st.st_size, err);
			}
		} else {
			tmp_layer = ut_asprintf("%s.layer-XXXXXX", path);
			rc = unpack_blob(blob, diff_id, tmp_layer, &size, err);
			if (rc == 0)
				rc = add_member(out, name, tmp_layer, NULL, size, err);
			unlink(tmp_layer);
			img_temp_untrack(tmp_layer);
			free(tmp_layer);
			tmp_layer = NULL;
		}
		json_array_append_new(jl, json_string(name));
		free(blob);
		free(name);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (img_json_dump(dm, &out_json, err) < 0 ||
	    add_member(out, "manifest.json", NULL, out_json.data, out_json.len, err) < 0)
		goto out;
	if (archive_write_close(out) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", path, archive_error_string(out));
		goto out;
	}
	if (fsync(fd) < 0 || rename(tmp_out, path) < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	img_temp_untrack(tmp_out);
	free(tmp_out);
	tmp_out = NULL;
	rc = 0;
out:
	if (out)
		archive_write_free(out);
	if (fd >= 0)
		close(fd);
	if (tmp_out) {
		unlink(tmp_out);
		img_temp_untrack(tmp_out);
		free(tmp_out);
	}
	json_decref(index);
	json_decref(man);
	json_decref(cfg);
	json_decref(dm);
	ut_buf_release(&manraw);
	ut_buf_release(&cfgraw);
	ut_buf_release(&out_json);
	free(p);
	return rc;
}
