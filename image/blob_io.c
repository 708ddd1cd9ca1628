/*
 * blob_io.c - small file helpers of the image module: content-addressed
 * blobs, atomic whole-file writes, bounded JSON, removing our temp dirs.
 */
#include "img_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes data to a mkstemp file from tmpl, fsyncs it and renames it to dst. */
static int write_rename(char *tmpl, const char *dst, const void *data, size_t len,
			struct ut_err *err)
{
	int fd = mkstemp(tmpl);

	if (fd < 0)
		return ut_err_set(err, "%s: cannot create a temporary file: %s", dst,
				  strerror(errno));
	fchmod(fd, 0644);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		ut_err_set(err, "%s: %s", dst, strerror(errno));
		close(fd);
		unlink(tmpl);
		return -1;
	}
	close(fd);
	if (rename(tmpl, dst) < 0) {
		ut_err_set(err, "%s: %s", dst, strerror(errno));
		unlink(tmpl);
		return -1;
	}
	return 0;
}

int img_write_file_atomic(const char *path, const void *data, size_t len, struct ut_err *err)
{
	char *tmp = ut_asprintf("%s.tmp-XXXXXX", path);
	int rc = write_rename(tmp, path, data, len, err);

	free(tmp);
	return rc;
}

int img_put_blob_file(const char *dir, const void *data, size_t len,
		      char hex_out[UT_SHA256_HEX], struct ut_err *err)
{
	unsigned char d[UT_SHA256_LEN];
	char *dst, *tmp;
	struct stat st;
	int rc = 0;

	ut_sha256_buf(data, len, d);
	ut_hex(d, UT_SHA256_LEN, hex_out);
	dst = ut_asprintf("%s/%s", dir, hex_out);
	/* Content-addressed: an existing blob of that name is this blob. */
	if (stat(dst, &st) < 0 || (uint64_t)st.st_size != len) {
		tmp = ut_asprintf("%s/.tmp-blob-XXXXXX", dir);
		rc = write_rename(tmp, dst, data, len, err);
		free(tmp);
	}
	free(dst);
	return rc;
}

int img_json_dump(json_t *j, struct ut_buf *out, struct ut_err *err)
{
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	int rc;

	if (!s)
		return ut_err_set(err, "cannot serialise JSON (invalid UTF-8 in a string?)");
	rc = ut_buf_addstr(out, s, err);
	free(s);
	return rc;
}

json_t *img_json_load_file(const char *path, struct ut_err *err)
{
	struct ut_buf b;
	json_error_t je;
	json_t *j = NULL;

	ut_buf_init(&b, IMG_JSON_MAX);
	if (ut_read_host_file(path, &b, err) < 0)
		goto out;
	j = json_loadb((const char *)b.data, b.len, 0, &je);
	if (!j)
		ut_err_set(err, "%s: bad JSON at line %d: %s", path, je.line, je.text);
out:
	ut_buf_release(&b);
	return j;
}

int img_digest_hex(const char *digest, char hex[UT_SHA256_HEX])
{
	size_t i;

	if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest) != 7 + 64)
		return -1;
	for (i = 0; i < 64; i++) {
		char c = digest[7 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		hex[i] = c;
	}
	hex[64] = '\0';
	return 0;
}

int img_tar_path(const char *name, char **out, struct ut_err *err)
{
	const char *s = name, *c;
	struct ut_buf b;

	if (!name)
		return ut_err_set(err, "tar member without a name");
	if (name[0] == '/')
		return ut_err_set(err, "%s: absolute path in a layer", name);
	ut_buf_init(&b, 0);
	while (*s) {
		size_t n;

		c = strchr(s, '/');
		n = c ? (size_t)(c - s) : strlen(s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			ut_buf_release(&b);
			return ut_err_set(err, "%s: \"..\" in a layer path", name);
		}
		if (n && !(n == 1 && s[0] == '.')) {
			if (b.len)
				ut_buf_add(&b, "/", 1, NULL);
			ut_buf_add(&b, s, n, NULL);
		}
		s += n;
		while (*s == '/')
			s++;
	}
	if (!b.data)
		ut_buf_add(&b, "", 0, NULL);
	*out = ut_buf_detach(&b, NULL);
	return 0;
}

struct archive *img_open_tar(const char *path, struct ut_err *err)
{
	struct archive *a = archive_read_new();

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		ut_err_set(err, "%s: %s", path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}
