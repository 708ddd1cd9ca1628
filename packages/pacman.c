/*
 * pacman.c - Arch's var/lib/pacman/local/<name>-<ver>-<rel>/{desc,files}.
 *
 * Both files are "%SECTION%" lines followed by one value per line up to a
 * blank line. files' %FILES% lists directories with a trailing '/';
 * %BACKUP% has "path<TAB>md5" for the files pacman treats as config.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL "var/lib/pacman/local"

typedef int (*section_fn)(struct pkg *p, const char *sec, const char *v, size_t vl,
			  struct ut_err *err);

static int each_section(const struct ut_buf *b, struct pkg *p, section_fn fn,
			struct ut_err *err)
{
	const char *s = (const char *)b->data, *end = s + b->len;
	char sec[64] = "";

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
		const char *next = nl ? nl + 1 : end;

		if (ll && s[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			sec[0] = '\0';
		} else if (!sec[0] && ll > 2 && s[0] == '%' && s[ll - 1] == '%') {
			if (ll >= sizeof(sec))
				return ut_err_set(err, "section name too long");
			memcpy(sec, s, ll);
			sec[ll] = '\0';
		} else if (sec[0]) {
			if (fn(p, sec, s, ll, err) < 0)
				return -1;
		}
		s = next;
	}
	return 0;
}

static void add_rel(struct pkg *p, const char *v, size_t vl, int provides)
{
	size_t i = 0;
	char *name, *ver = NULL;
	enum pkg_rel rel = PKG_REL_ANY;
	const char *colon = memchr(v, ':', vl);

	/* "name: why" is an optional-dependency description. */
	if (colon && colon + 1 < v + vl && colon[1] == ' ')
		vl = (size_t)(colon - v);
	while (i < vl && !strchr("<>=", v[i]))
		i++;
	name = ut_strndup(v, i);
	if (i < vl) {
		if (i + 1 < vl && v[i] == '>' && v[i + 1] == '=')
			rel = PKG_REL_GE, i += 2;
		else if (i + 1 < vl && v[i] == '<' && v[i + 1] == '=')
			rel = PKG_REL_LE, i += 2;
		else if (v[i] == '>')
			rel = PKG_REL_GT, i++;
		else if (v[i] == '<')
			rel = PKG_REL_LT, i++;
		else
			rel = PKG_REL_EQ, i++;
		if (i < vl)
			ver = ut_strndup(v + i, vl - i);
	}
	if (!*name) {
		free(name);
		free(ver);
		return;
	}
	if (provides)
		pkg_add_provide(p, name, rel, ver);
	else
		pkg_dep_add_alt(pkg_add_dep(p, PKG_DEP_DEPENDS), name, NULL, rel, ver);
}

static int desc_field(struct pkg *p, const char *sec, const char *v, size_t vl,
		      struct ut_err *err)
{
	if (!strcmp(sec, "%NAME%")) {
		free(p->name);
		p->name = ut_strndup(v, vl);
	} else if (!strcmp(sec, "%VERSION%")) {
		free(p->display_version);
		free(p->version);
		free(p->release);
		p->display_version = ut_strndup(v, vl);
		pkg_split_evr(p->display_version, &p->epoch, &p->version, &p->release);
	} else if (!strcmp(sec, "%ARCH%")) {
		free(p->arch);
		p->arch = ut_strndup(v, vl);
	} else if (!strcmp(sec, "%DEPENDS%")) {
		add_rel(p, v, vl, 0);
	} else if (!strcmp(sec, "%PROVIDES%")) {
		add_rel(p, v, vl, 1);
	} else if (!strcmp(sec, "%PACKAGER%")) {
		free(p->supplier);
		p->supplier = ut_strndup(v, vl);
	} else if (!strcmp(sec, "%BASE%")) {
		free(p->source);
		p->source = ut_strndup(v, vl);
	} else if (!strcmp(sec, "%LICENSE%")) {
		pkg_add_license(p, v, vl);
	} else if (!strcmp(sec, "%INSTALLDATE%")) {
		char *e, *t = ut_strndup(v, vl);
		long long when = strtoll(t, &e, 10);

		if (e != t && !*e && when >= 0)
			p->install_time = when;
		free(t);
	} else if (!strcmp(sec, "%REASON%")) {
		p->manual = !(vl == 1 && v[0] == '1');
	}
	return 0;
}

static int files_field(struct pkg *p, const char *sec, const char *v, size_t vl,
		       struct ut_err *err)
{
	char *path;

	if (!strcmp(sec, "%FILES%")) {
		if (pkg_norm_path(v, vl, &path, err) < 0)
			return -1;
		pkg_add_file(p, path);
	} else if (!strcmp(sec, "%BACKUP%")) {
		const char *tab = memchr(v, '\t', vl);
		size_t i, hl;

		if (!tab)
			return 0;
		if (pkg_norm_path(v, (size_t)(tab - v), &path, err) < 0)
			return -1;
		hl = vl - (size_t)(tab + 1 - v);
		/* The file list comes first in "files", so the entry exists. */
		for (i = 0; i < p->nfiles; i++) {
			if (strcmp(p->files[i].path, path))
				continue;
			p->files[i].is_conffile = 1;
			if (hl == 32) {
				free(p->files[i].conf_digest);
				p->files[i].conf_digest = ut_strndup(tab + 1, 32);
			}
			break;
		}
		free(path);
	}
	return 0;
}

int pkg_db_read_pacman(const struct pkg_source *src, struct pkg_db **out, struct ut_err *err)
{
	struct pkg_db *db = NULL;
	char **names = NULL, *path = NULL;
	size_t n = 0, i;
	struct ut_buf b;
	int rc;

	ut_buf_init(&b, 0);
	rc = pkg_src_list(src, LOCAL, &names, &n, err);
	if (rc <= 0)
		goto out;
	rc = -1;
	db = pkg_db_new("pacman");
	db->db_path = ut_strdup(LOCAL);
	for (i = 0; i < n; i++) {
		struct pkg *p;
		int r;

		if (!strcmp(names[i], "ALPM_DB_VERSION"))
			continue;
		free(path);
		path = ut_asprintf(LOCAL "/%s/desc", names[i]);
		r = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		p = pkg_db_add(db, err);
		if (!p)
			goto out;
		p->manual = 1;
		if (each_section(&b, p, desc_field, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		if (!p->name || !*p->name) {
			ut_err_set(err, "%s: no %%NAME%%", path);
			goto out;
		}
		free(path);
		path = ut_asprintf(LOCAL "/%s/files", names[i]);
		r = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
		if (r < 0)
			goto out;
		if (r > 0 && each_section(&b, p, files_field, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		free(path);
		path = ut_asprintf(LOCAL "/%s/mtree", names[i]);
		r = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
		if (r < 0)
			goto out;
		if (r > 0 && pkg_pacman_mtree_apply(b.data, b.len, p, err) < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
	}
	pkg_db_finish(db);
	*out = db;
	db = NULL;
	rc = 1;
out:
	free(path);
	pkg_free_names(names, n);
	pkg_db_free(db);
	ut_buf_release(&b);
	return rc;
}
