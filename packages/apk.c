/*
 * apk.c - Alpine's lib/apk/db/installed and etc/apk/world.
 *
 * installed is one "X:value" line per field, packages separated by blank
 * lines. Files are F: (directory) followed by R: (file in it) and Z: (the
 * file's checksum, "Q1" + base64 sha1 or "Q2" + base64 sha256).
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void set_checksum(struct pkg_file *f, const char *s, size_t len)
{
	char hex[65];

	if (len > 2 && s[0] == 'Q' && (s[1] == '1' || s[1] == '2')) {
		struct ut_buf bin;
		size_t n;

		ut_buf_init(&bin, 32); /* a sha256 at most: longer is not a checksum */
		n = ut_base64_decode(s + 2, len - 2, &bin, NULL) == 0 ? bin.len : 0;
		if ((s[1] == '1' && n == 20) || (s[1] == '2' && n == 32)) {
			ut_hex(bin.data, n, hex);
			free(f->digest);
			f->digest = ut_strdup(hex);
			f->kind = n == 20 ? PKG_DIGEST_SHA1 : PKG_DIGEST_SHA256;
		}
		ut_buf_release(&bin);
	} else if (len == 32) {
		/* apk 1.x kept plain md5 in hex. */
		size_t i;

		for (i = 0; i < 32 && isxdigit((unsigned char)s[i]); i++)
			;
		if (i == 32) {
			free(f->digest);
			f->digest = ut_strndup(s, 32);
			f->kind = PKG_DIGEST_MD5;
		}
	}
}

/* "name", "name>=1.2", "name=1.2-r0", "so:libc.musl-x86_64.so.1". */
static void split_constraint(const char *s, size_t len, char **name, enum pkg_rel *rel,
			     char **version)
{
	size_t i = 0, nl;

	while (i < len && !strchr("<>=~", s[i]))
		i++;
	nl = i;
	/* Repository pins ("name@edge") do not change what is installed. */
	{
		const char *at = memchr(s, '@', nl);

		if (at)
			nl = (size_t)(at - s);
	}
	*name = ut_strndup(s, nl);
	*rel = PKG_REL_ANY;
	*version = NULL;
	if (i == len)
		return;
	if (i + 1 < len && s[i] == '>' && s[i + 1] == '~')
		*rel = PKG_REL_FUZZY_GE, i += 2;
	else if (i + 1 < len && s[i] == '<' && s[i + 1] == '~')
		*rel = PKG_REL_FUZZY_LE, i += 2;
	else if (i + 1 < len && s[i] == '=' && s[i + 1] == '~')
		*rel = PKG_REL_FUZZY_EQ, i += 2;
	else if (s[i] == '~')
		*rel = PKG_REL_FUZZY_EQ, i++;
	else if (i + 1 < len && s[i] == '>' && s[i + 1] == '=')
		*rel = PKG_REL_GE, i += 2;
	else if (i + 1 < len && s[i] == '<' && s[i + 1] == '=')
		*rel = PKG_REL_LE, i += 2;
	else if (s[i] == '>')
		*rel = PKG_REL_GT, i++;
	else if (s[i] == '<')
		*rel = PKG_REL_LT, i++;
	else
		*rel = PKG_REL_EQ, i++;
	if (i < len)
		*version = ut_strndup(s + i, len - i);
	else
		*rel = PKG_REL_ANY;
}

static void each_word(const char *s, size_t len, struct pkg *p, int provides)
{
	size_t i = 0;

	while (i < len) {
		size_t b;
		char *name, *ver;
		enum pkg_rel rel;

		while (i < len && isspace((unsigned char)s[i]))
			i++;
		b = i;
		while (i < len && !isspace((unsigned char)s[i]))
			i++;
		if (i == b)
			break;
		if (s[b] == '!') /* a conflict */
			continue;
		split_constraint(s + b, i - b, &name, &rel, &ver);
		if (!*name) {
			free(name);
			free(ver);
			continue;
		}
		if (provides)
			pkg_add_provide(p, name, rel, ver);
		else
			pkg_dep_add_alt(pkg_add_dep(p, PKG_DEP_DEPENDS), name, NULL, rel, ver);
	}
}

static int read_world(const struct pkg_source *src, struct pkg_db *db, struct ut_err *err)
{
	struct ut_buf b;
	size_t i = 0, k;
	int rc;

	ut_buf_init(&b, 0);
	rc = pkg_src_read(src, "etc/apk/world", &b, PKG_TEXT_FILE_CAP, err);
	if (rc <= 0)
		goto out;
	for (k = 0; k < db->n; k++)
		db->v[k].manual = 0;
	while (i < b.len) {
		const char *s = (const char *)b.data;
		size_t st;
		char *name, *ver;
		enum pkg_rel rel;

		while (i < b.len && isspace((unsigned char)s[i]))
			i++;
		st = i;
		while (i < b.len && !isspace((unsigned char)s[i]))
			i++;
		if (i == st || s[st] == '!')
			continue;
		split_constraint(s + st, i - st, &name, &rel, &ver);
		for (k = 0; k < db->n; k++)
			if (!strcmp(db->v[k].name, name))
				db->v[k].manual = 1;
		free(name);
		free(ver);
	}
out:
	ut_buf_release(&b);
	return rc < 0 ? -1 : 0;
}

int pkg_db_read_apk(const struct pkg_source *src, struct pkg_db **out, struct ut_err *err)
{
	const char *path = "lib/apk/db/installed";
	struct pkg_db *db = NULL;
	struct pkg *p = NULL;
	struct pkg_file *lastf = NULL;
	char *dir = NULL;
	size_t pos = 0, line = 0;
	struct ut_buf b;
	int rc;

	ut_buf_init(&b, 0);
	rc = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
	if (rc <= 0)
		goto out;
	rc = -1;
	db = pkg_db_new("apk");
	db->db_path = ut_strdup(path);
	/* apk records no install time; the database's mtime is the last one. */
	if (pkg_src_mtime(src, path, &db->db_mtime, err) < 0)
		goto out;
	while (pos < b.len) {
		const char *s = (const char *)b.data + pos;
		const char *nl = memchr(s, '\n', b.len - pos);
		size_t ll = nl ? (size_t)(nl - s) : b.len - pos;
		const char *v = s + 2;
		size_t vl = ll >= 2 ? ll - 2 : 0;

		pos += ll + (nl != NULL);
		line++;
		if (ll && s[ll - 1] == '\r')
			ll--, vl = vl ? vl - 1 : 0;
		if (ll == 0) {
			p = NULL;
			lastf = NULL;
			continue;
		}
		if (ll < 2 || s[1] != ':') {
			ut_err_set(err, "%s: line %zu: not an \"X:value\" line", path, line);
			goto out;
		}
		if (!p) {
			p = pkg_db_add(db, err);
			if (!p)
				goto out;
			free(dir);
			dir = NULL;
		}
		switch (s[0]) {
		case 'P':
			free(p->name);
			p->name = ut_strndup(v, vl);
			break;
		case 'V': {
			const char *r = NULL, *q;

			free(p->display_version);
			free(p->version);
			free(p->release);
			p->display_version = ut_strndup(v, vl);
			for (q = p->display_version; (q = strstr(q, "-r")); q++)
				r = q;
			if (r) {
				p->version = ut_strndup(p->display_version,
							(size_t)(r - p->display_version));
				p->release = ut_strdup(r + 1);
			} else {
				p->version = ut_strdup(p->display_version);
				p->release = NULL;
			}
			break;
		}
		case 'A':
			free(p->arch);
			p->arch = ut_strndup(v, vl);
			break;
		case 'D':
			each_word(v, vl, p, 0);
			break;
		case 'm':
			free(p->supplier);
			p->supplier = ut_strndup(v, vl);
			break;
		case 'o':
			free(p->source);
			p->source = ut_strndup(v, vl);
			break;
		case 'L':
			pkg_add_license(p, v, vl);
			break;
		case 'p':
			each_word(v, vl, p, 1);
			break;
		case 'F':
			free(dir);
			dir = NULL;
			if (vl && pkg_norm_path(v, vl, &dir, err) < 0) {
				ut_err_prefix(err, "%s: line %zu: ", path, line);
				goto out;
			}
			lastf = NULL;
			break;
		case 'R': {
			char *joined, *fp;

			if (memchr(v, '/', vl)) {
				ut_err_set(err, "%s: line %zu: R:%.*s names a path, not a file", path,
					   line, (int)(vl > 100 ? 100 : vl), v);
				goto out;
			}
			joined = ut_asprintf("%s%s%.*s", dir ? dir : "", dir ? "/" : "", (int)vl, v);
			if (pkg_norm_path(joined, strlen(joined), &fp, err) < 0) {
				free(joined);
				ut_err_prefix(err, "%s: line %zu: ", path, line);
				goto out;
			}
			free(joined);
			lastf = pkg_add_file(p, fp);
			break;
		}
		case 'Z':
			if (lastf)
				set_checksum(lastf, v, vl);
			break;
		default:
			break;
		}
	}
	{
		size_t i;

		for (i = 0; i < db->n; i++)
			if (!db->v[i].name || !*db->v[i].name) {
				ut_err_set(err, "%s: a package without P:", path);
				goto out;
			}
	}
	pkg_db_finish(db);
	if (read_world(src, db, err) < 0)
		goto out;
	*out = db;
	db = NULL;
	rc = 1;
out:
	free(dir);
	pkg_db_free(db);
	ut_buf_release(&b);
	return rc;
}
