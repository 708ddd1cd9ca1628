/*
 * pacman_mtree.c - var/lib/pacman/local/<pkg>/mtree: the package's files
 * as bsdtar's mtree writer lists them (gzip'd), the one place pacman keeps
 * a content digest (sha256digest=) for every regular file.
 *
 *   #mtree
 *   /set type=file uid=0 gid=0 mode=644
 *   ./usr/bin/ls time=1700000000.0 size=138208 md5digest=... sha256digest=...
 *   ./usr/share/doc/a\040b type=dir mode=755
 *
 * Names are escaped as mtree does (\ooo octal, \\); "/set" and "/unset"
 * change the defaults of the lines that follow.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* gzip (or plain text) into out, at most PKG_TEXT_FILE_CAP bytes. */
static int gunzip(const unsigned char *in, size_t len, struct ut_buf *out, struct ut_err *err)
{
	z_stream z;
	unsigned char chunk[65536];
	int zr = Z_OK, rc = -1;

	if (len < 2 || in[0] != 0x1f || in[1] != 0x8b)
		return ut_buf_add(out, in, len, err);
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return ut_err_set(err, "zlib: cannot start inflating");
	z.next_in = (unsigned char *)in;
	z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	while (zr != Z_STREAM_END) {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			ut_err_set(err, "gzip: %s", z.msg ? z.msg : "corrupt data");
			goto out;
		}
		if (out->len + (sizeof(chunk) - z.avail_out) > PKG_TEXT_FILE_CAP) {
			ut_err_set(err, "gzip: more than %zu bytes uncompressed", PKG_TEXT_FILE_CAP);
			goto out;
		}
		if (ut_buf_add(out, chunk, sizeof(chunk) - z.avail_out, err) < 0)
			goto out;
		if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
			ut_err_set(err, "gzip: truncated");
			goto out;
		}
	}
	rc = 0;
out:
	inflateEnd(&z);
	return rc;
}

/* mtree's escapes (\ooo, \\, \a..\v, \s) undone into a new string; NULL
 * when one is malformed. */
static char *unvis(const char *s, size_t n)
{
	char *o = ut_malloc(n + 1), *q = o;
	size_t i = 0;

	while (i < n) {
		if (s[i] != '\\') {
			*q++ = s[i++];
			continue;
		}
		if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
		    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*q++ = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
			i += 4;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\\') {
			*q++ = '\\';
			i += 2;
			continue;
		}
		free(o);
		return NULL;
	}
	*q = '\0';
	return o;
}

/* Indices of p's files sorted by path, for lookups by name. */
static int file_idx_cmp(const void *x, const void *y, void *ctx)
{
	const struct pkg *p = ctx;

	return strcmp(p->files[*(const size_t *)x].path, p->files[*(const size_t *)y].path);
}

static struct pkg_file *find_file(struct pkg *p, const size_t *idx, const char *path)
{
	size_t lo = 0, hi = p->nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->files[idx[mid]].path, path);

		if (!c)
			return &p->files[idx[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The value of key in the words of a line (after the name), or the
 * default set by "/set"; NULL when neither has it. */
static const char *kw(const char *words, size_t n, const char *key, const char *dflt, size_t *vl)
{
	size_t kl = strlen(key), i = 0;

	while (i < n) {
		size_t b, e;

		while (i < n && (words[i] == ' ' || words[i] == '\t'))
			i++;
		b = i;
		while (i < n && words[i] != ' ' && words[i] != '\t')
			i++;
		e = i;
		if (e - b > kl && !memcmp(words + b, key, kl) && words[b + kl] == '=') {
			*vl = e - b - kl - 1;
			return words + b + kl + 1;
		}
	}
	if (dflt) {
		*vl = strlen(dflt);
		return dflt;
	}
	return NULL;
}

int pkg_pacman_mtree_apply(const void *data, size_t len, struct pkg *p, struct ut_err *err)
{
	struct ut_buf text;
	size_t *idx = NULL, i, pos = 0;
	char dflt_type[16] = "";
	int rc = -1;

	ut_buf_init(&text, PKG_TEXT_FILE_CAP + 1);
	if (gunzip(data, len, &text, err) < 0)
		goto out;
	idx = ut_malloc((p->nfiles + 1) * sizeof(*idx));
	for (i = 0; i < p->nfiles; i++)
		idx[i] = i;
	if (p->nfiles > 1)
		qsort_r(idx, p->nfiles, sizeof(*idx), file_idx_cmp, p);
	while (pos < text.len) {
		const char *s = (const char *)text.data + pos;
		const char *nl = memchr(s, '\n', text.len - pos);
		size_t ll = nl ? (size_t)(nl - s) : text.len - pos, nlen, vl;
		const char *type, *dig;
		char *name, *path;
		struct pkg_file *f;

		pos += ll + (nl != NULL);
		if (ll && s[ll - 1] == '\r')
			ll--;
		if (!ll || s[0] == '#')
			continue;
		if (ll > 5 && !memcmp(s, "/set ", 5)) {
			type = kw(s + 5, ll - 5, "type", NULL, &vl);
			if (type && vl < sizeof(dflt_type)) {
				memcpy(dflt_type, type, vl);
				dflt_type[vl] = '\0';
			}
			continue;
		}
		if (ll >= 6 && !memcmp(s, "/unset", 6)) {
			if (kw(s + 6, ll - 6, "type", NULL, &vl) || strstr(s, " all"))
				dflt_type[0] = '\0';
			continue;
		}
		for (nlen = 0; nlen < ll && s[nlen] != ' ' && s[nlen] != '\t'; nlen++)
			;
		type = kw(s + nlen, ll - nlen, "type", dflt_type[0] ? dflt_type : NULL, &vl);
		if (!type || vl != 4 || memcmp(type, "file", 4))
			continue;
		dig = kw(s + nlen, ll - nlen, "sha256digest", NULL, &vl);
		if (!dig || vl != 64)
			continue;
		name = unvis(s, nlen);
		if (!name) {
			ut_err_set(err, "bad escape in \"%.*s\"", (int)(nlen > 80 ? 80 : nlen), s);
			goto out;
		}
		/* ".PKGINFO" and friends are the package's, not the system's. */
		if (pkg_norm_path(name, strlen(name), &path, err) < 0) {
			free(name);
			goto out;
		}
		free(name);
		f = find_file(p, idx, path);
		free(path);
		if (!f)
			continue;
		for (i = 0; i < 64 && isxdigit((unsigned char)dig[i]); i++)
			;
		if (i != 64)
			continue;
		free(f->digest);
		f->digest = ut_strndup(dig, 64);
		for (i = 0; i < 64; i++)
			f->digest[i] = (char)tolower((unsigned char)f->digest[i]);
		f->kind = PKG_DIGEST_SHA256;
	}
	rc = 0;
out:
	free(idx);
	ut_buf_release(&text);
	return rc;
}
