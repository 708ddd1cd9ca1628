/*
 * blob_io.c - small file helpers of the image module: content-addressed
 * blobs, atomic whole-file writes, bounded JSON, removing our temp dirs.
 */
#include "img_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>

static const struct img_temp_hooks *temp_hooks;

void img_set_temp_hooks(const struct img_temp_hooks *h)
{
	temp_hooks = h;
}

void img_temp_track(const char *path)
{
	if (temp_hooks && temp_hooks->track)
		temp_hooks->track(path);
}

void img_temp_untrack(const char *path)
{
	if (temp_hooks && temp_hooks->untrack)
		temp_hooks->untrack(path);
}

int img_write_all(int fd, const void *data, size_t len)
{
	return ut_write_all(fd, data, len);
}

int img_create_temp_at(int dirfd, const char *prefix, const char *shown_dir, char **path_out,
		       char **name_out, struct ut_err *err)
{
	static unsigned counter;
	struct timespec ts;
	int tries, fd;

	for (tries = 0; tries < 100; tries++) {
		char *name;

		clock_gettime(CLOCK_REALTIME, &ts);
		static const char abc[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
		uint64_t r = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)getpid() << 20 ^
			     (uint64_t)++counter * 0x9e3779b97f4a7c15ull;
		char rnd[7];
		int k;

		for (k = 0; k < 6; k++, r /= 62)
			rnd[k] = abc[r % 62];
		rnd[6] = '\0';
		/* The same shape as mkstemp's names, which the cleaner knows. */
		name = ut_asprintf("%s%s", prefix, rnd);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			/* Held while the file is open: a later run removes only
			 * temporary files nobody holds. */
			flock(fd, LOCK_EX);
			fchmod(fd, 0644);
			*path_out = ut_asprintf("%s/%s", shown_dir, name);
			img_temp_track(*path_out);
			if (name_out)
				*name_out = name;
			else
				free(name);
			return fd;
		}
		free(name);
		if (errno != EEXIST)
			break;
	}
	return ut_err_set(err, "%s: cannot create a temporary file: %s", shown_dir,
			  strerror(errno));
}

/* Writes data to a fresh temporary file under dirfd, fsyncs it and renames
 * it to name there (while still holding it, so no cleaner takes it). */
static int write_rename_at(int dirfd, const char *prefix, const char *name, const char *shown_dir,
			   const char *shown, const void *data, size_t len, struct ut_err *err)
{
	char *tmp_path = NULL, *tmp_name = NULL;
	int fd = img_create_temp_at(dirfd, prefix, shown_dir, &tmp_path, &tmp_name, err), rc = -1;

	if (fd < 0)
		return -1;
	if (img_write_all(fd, data, len) < 0 || fsync(fd) < 0 ||
	    renameat(dirfd, tmp_name, dirfd, name) < 0) {
		ut_err_set(err, "%s: %s", shown, strerror(errno));
		unlinkat(dirfd, tmp_name, 0);
	} else {
		rc = 0;
	}
	close(fd);
	img_temp_untrack(tmp_path);
	free(tmp_path);
	free(tmp_name);
	return rc;
}

int img_write_file_at(int dirfd, const char *name, const char *shown_dir, const void *data,
		      size_t len, struct ut_err *err)
{
	char *prefix = ut_asprintf("%s.tmp-", name), *shown = ut_asprintf("%s/%s", shown_dir, name);
	int rc = write_rename_at(dirfd, prefix, name, shown_dir, shown, data, len, err);

	free(prefix);
	free(shown);
	return rc;
}

int img_write_file_atomic(const char *path, const void *data, size_t len, struct ut_err *err)
{
	size_t plen = ut_path_parent_len(path);
	char *dir = plen ? ut_strndup(path, plen) : ut_strdup(path[0] == '/' ? "/" : ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0) {
		rc = ut_err_set(err, "%s: %s", dir, strerror(errno));
	} else {
		rc = img_write_file_at(fd, ut_path_base(path), dir, data, len, err);
		close(fd);
	}
	free(dir);
	return rc;
}

int img_put_blob_file(int dirfd, const char *shown_dir, const void *data, size_t len,
		      char hex_out[UT_SHA256_HEX], struct ut_err *err)
{
	unsigned char d[UT_SHA256_LEN];
	char *shown;
	struct stat st;
	int rc = 0;

	ut_sha256_buf(data, len, d);
	ut_hex(d, UT_SHA256_LEN, hex_out);
	shown = ut_asprintf("%s/%s", shown_dir, hex_out);
	/* Content-addressed: an existing blob of that name is this blob; but
	 * a symlink there points out of the layout. */
	if (fstatat(dirfd, hex_out, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		rc = ut_err_set(err, "%s: is a symbolic link, refused", shown);
	else if (fstatat(dirfd, hex_out, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		 (uint64_t)st.st_size != len)
		rc = write_rename_at(dirfd, ".tmp-blob-", hex_out, shown_dir, shown, data, len, err);
	free(shown);
	return rc;
}

/* The bytes under a temporary folder (it is nobody's: no one writes there). */
static uint64_t folder_bytes(int dirfd)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0;
	int fd;

	if (!d) {
		close(dirfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
		else if (S_ISDIR(st.st_mode) &&
			 (fd = openat(dirfd, de->d_name,
				      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
			sum += folder_bytes(fd);
	}
	closedir(d);
	return sum;
}

/* Removes (unless dry_run) a temporary entry nobody holds, name under
 * dirfd, and tells fn about it. */
static void sweep_if_unheld(int dirfd, const char *name, const char *shown_dir, int dry_run,
			    img_stale_fn fn, void *ctx)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	uint64_t bytes = 0;
	char *p;

	p = ut_asprintf("%s/%s", shown_dir, name);
	if (fd < 0) {
		if (errno == ELOOP) { /* a symlink is nobody's temp file */
			if (fn)
				fn(ctx, p, 0);
			if (!dry_run)
				unlinkat(dirfd, name, 0);
		}
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out; /* a live run's */
	if (fn && fstat(fd, &st) == 0)
		bytes = S_ISDIR(st.st_mode) ? folder_bytes(dup(fd)) : (uint64_t)st.st_size;
	if (fn)
		fn(ctx, p, bytes);
	if (!dry_run)
		ut_rm_rf(p);
out:
	if (fd >= 0)
		close(fd);
	free(p);
}

/* pattern + six letters or digits, optionally + ".tmp-" + six more (a
 * new layout's folder inside a docker-archive's temporary layout). */
static int temp_name(const char *name, const char *pattern)
{
	size_t n = strlen(pattern), i;

	if (strncmp(name, pattern, n))
		return 0;
	name += n;
	for (i = 0; i < 6; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	if (!name[6])
		return 1;
	return !strncmp(name + 6, ".tmp-", 5) && temp_name(name + 6, ".tmp-");
}

void img_sweep_stale_at(int dirfd, const char *shown_dir, const char *const *patterns,
			size_t npatterns, int dry_run, img_stale_fn fn, void *ctx)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t i;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		for (i = 0; i < npatterns; i++)
			if (temp_name(de->d_name, patterns[i])) {
				sweep_if_unheld(dirfd, de->d_name, shown_dir, dry_run, fn, ctx);
				break;
			}
	closedir(d);
}

void img_remove_stale_at(int dirfd, const char *shown_dir, const char *const *patterns,
			 size_t npatterns)
{
	img_sweep_stale_at(dirfd, shown_dir, patterns, npatterns, 0, NULL, NULL);
}

void img_remove_stale(const char *out)
{
	size_t plen = ut_path_parent_len(out);
	char *dir = plen ? ut_strndup(out, plen) : ut_strdup(out[0] == '/' ? "/" : ".");
	const char *base = ut_path_base(out);
	char *pat[3] = { ut_asprintf("%s.tmp-", base), ut_asprintf("%s.oci-", base),
			 ut_asprintf("%s.layer-", base) };
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		img_remove_stale_at(fd, dir, (const char *const *)pat, 3);
		close(fd);
	}
	free(pat[0]);
	free(pat[1]);
	free(pat[2]);
	free(dir);
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

/* Why jansson gave up, without its text: that quotes the input, and a
 * hostile file may be a host file's first bytes. */
static const char *json_reason(const json_error_t *je)
{
	switch (json_error_code(je)) {
	case json_error_premature_end_of_input: return "truncated";
	case json_error_invalid_utf8: return "invalid UTF-8";
	case json_error_null_character: return "NUL byte";
	case json_error_null_byte_in_key: return "NUL byte in a key";
	case json_error_duplicate_key: return "duplicate key";
	case json_error_numeric_overflow: return "number out of range";
	case json_error_end_of_input_expected: return "bytes after the document";
	case json_error_wrong_type: return "not an object";
	default: return "invalid syntax";
	}
}

json_t *img_json_parse(const void *data, size_t len, const char *shown, struct ut_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(data, len, 0, &je);

	if (!j)
		ut_err_set(err, "%s: bad JSON at line %d column %d: %s", shown, je.line, je.column,
			   json_reason(&je));
	return j;
}

json_t *img_json_load_at(int dirfd, const char *name, const char *shown, struct ut_err *err)
{
	struct ut_buf b;
	json_t *j = NULL;

	ut_buf_init(&b, IMG_JSON_MAX);
	if (img_read_regular(dirfd, name, shown, &b, err) < 0)
		goto out;
	j = img_json_parse(b.data, b.len, shown, err);
out:
	ut_buf_release(&b);
	return j;
}

json_t *img_json_load_file(const char *path, struct ut_err *err)
{
	return img_json_load_at(AT_FDCWD, path, path, err);
}

const char *img_json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int img_open_dir_at(int dirfd, const char *name, const char *shown, struct ut_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR || errno == ELOOP) {
		struct stat st;

		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return ut_err_set(err, "%s: is a symbolic link, refused", shown);
		return ut_err_set(err, "%s: not a directory", shown);
	}
	return ut_err_set(err, "%s: %s", shown, strerror(errno));
}

static const char *type_name(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISDIR(m))
		return "a directory";
	return "not a regular file";
}

int img_open_regular(int dirfd, const char *name, const char *shown, uint64_t *size,
		     struct ut_err *err)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0) {
		if (errno == ELOOP)
			return ut_err_set(err, "%s: is a symbolic link, refused", shown);
		return ut_err_set(err, "%s: %s", shown, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ut_err_set(err, "%s: %s, refused", shown, type_name(st.st_mode));
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*size = (uint64_t)st.st_size;
	return fd;
}

int img_read_exact(int fd, void *buf, size_t len, const char *shown, struct ut_err *err)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ut_err_set(err, "%s: %s", shown, strerror(errno));
		if (n == 0)
			return ut_err_set(err, "%s: shorter than its size (%zu of %zu bytes)", shown,
					  got, len);
		got += (size_t)n;
	}
	return 0;
}

int img_read_regular(int dirfd, const char *name, const char *shown, struct ut_buf *b,
		     struct ut_err *err)
{
	uint64_t size;
	unsigned char extra;
	int fd = img_open_regular(dirfd, name, shown, &size, err), rc = -1;
	ssize_t n;

	if (fd < 0)
		return -1;
	if (b->cap && size > b->cap) {
		ut_err_set(err, "%s: %llu bytes, more than the %zu allowed", shown,
			   (unsigned long long)size, b->cap);
		goto out;
	}
	if (ut_buf_grow(b, (size_t)size, err) < 0 ||
	    img_read_exact(fd, b->data + b->len, (size_t)size, shown, err) < 0)
		goto out;
	b->len += (size_t)size;
	b->data[b->len] = '\0';
	/* Read up to the descriptor's size, never beyond: a file that goes on
	 * is not the file that was measured. */
	while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (n != 0) {
		ut_err_set(err, "%s: longer than its size (%llu bytes)", shown,
			   (unsigned long long)size);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
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
