/*
 * dpkg.c - Debian's database: var/lib/dpkg/status, info/<pkg>.list and
 * <pkg>.md5sums, and apt's extended_states for the manual/automatic mark.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define DPKG_DIR "var/lib/dpkg"

/* One "Name: value" of a stanza; value spans continuation lines. */
struct field {
	const char *name, *val;
	size_t nlen, vlen;
};

#define MAX_FIELDS 64

struct stanza {
	struct field f[MAX_FIELDS];
	size_t n;
	size_t line; /* first line, for messages */
};

/*
 * Cuts the next stanza out of s[*pos..len). Returns 1 with st filled, 0 at
 * the end, -1 on a malformed line. Fields beyond MAX_FIELDS are ignored:
 * none of the ones we read comes that late in a real stanza.
 */
static int next_stanza(const char *s, size_t len, size_t *pos, size_t *lineno,
		       struct stanza *st, struct ut_err *err)
{
	size_t p = *pos;

	st->n = 0;
	/* Blank lines between stanzas. */
	while (p < len) {
		size_t e = p;

		while (e < len && (s[e] == ' ' || s[e] == '\t' || s[e] == '\r'))
			e++;
		if (e < len && s[e] != '\n')
			break;
		p = e + 1;
		(*lineno)++;
	}
	if (p >= len) {
		*pos = len;
		return 0;
	}
	st->line = *lineno;
	while (p < len && s[p] != '\n') {
		const char *line = s + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t ll = nl ? (size_t)(nl - line) : len - p;

		if (line[0] == ' ' || line[0] == '\t') {
			/* Continuation: extends the previous field's value. */
			if (!st->n)
				return ut_err_set(err, "line %zu: continuation line before any field",
						  *lineno + 1);
			if (st->n <= MAX_FIELDS) {
				struct field *f = &st->f[st->n - 1];

				f->vlen = (size_t)(line + ll - f->val);
			}
		} else {
			const char *colon = memchr(line, ':', ll);

			if (!colon || colon == line)
				return ut_err_set(err, "line %zu: not a \"Field: value\" line",
						  *lineno + 1);
			if (st->n < MAX_FIELDS) {
				struct field *f = &st->f[st->n];
				const char *v = colon + 1;

				while (v < line + ll && (*v == ' ' || *v == '\t'))
					v++;
				f->name = line;
				f->nlen = (size_t)(colon - line);
				f->val = v;
				f->vlen = (size_t)(line + ll - v);
			}
			st->n++;
		}
		p += ll + (nl != NULL);
		(*lineno)++;
	}
	if (st->n > MAX_FIELDS)
		st->n = MAX_FIELDS;
	*pos = p;
	return 1;
}

static const struct field *get(const struct stanza *st, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < st->n; i++)
		if (st->f[i].nlen == n && !strncasecmp(st->f[i].name, name, n))
			return &st->f[i];
	return NULL;
}

static char *trimdup(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return ut_strndup(s, len);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * One relation "name[:arch] [(op version)] [arch-list] [<profiles>]" in
 * s[0..len). Returns 1 with the parts, 0 when empty, -1 when malformed.
 */
static int parse_rel(const char *s, size_t len, char **name, char **archq, enum pkg_rel *rel,
		     char **version, struct ut_err *err)
{
	size_t i = 0, b;

	*name = *archq = *version = NULL;
	*rel = PKG_REL_ANY;
	while (i < len && is_space(s[i]))
		i++;
	if (i == len)
		return 0;
	b = i;
	while (i < len && !is_space(s[i]) && s[i] != '(' && s[i] != ':' && s[i] != '[' &&
	       s[i] != '<')
		i++;
	if (i == b)
		return ut_err_set(err, "relation \"%.*s\" has no name", (int)(len > 80 ? 80 : len), s);
	*name = ut_strndup(s + b, i - b);
	if (i < len && s[i] == ':') {
		b = ++i;
		while (i < len && !is_space(s[i]) && s[i] != '(' && s[i] != '[' && s[i] != '<')
			i++;
		*archq = ut_strndup(s + b, i - b);
	}
	while (i < len && is_space(s[i]))
		i++;
	if (i < len && s[i] == '(') {
		const char *close = memchr(s + i, ')', len - i);
		size_t e;

		if (!close)
			goto bad;
		e = (size_t)(close - s);
		i++;
		while (i < e && is_space(s[i]))
			i++;
		if (i + 1 < e && s[i] == '<' && s[i + 1] == '<')
			*rel = PKG_REL_LT, i += 2;
		else if (i + 1 < e && s[i] == '<' && s[i + 1] == '=')
			*rel = PKG_REL_LE, i += 2;
		else if (i + 1 < e && s[i] == '>' && s[i + 1] == '>')
			*rel = PKG_REL_GT, i += 2;
		else if (i + 1 < e && s[i] == '>' && s[i + 1] == '=')
			*rel = PKG_REL_GE, i += 2;
		else if (i < e && s[i] == '=')
			*rel = PKG_REL_EQ, i++;
		else if (i < e && s[i] == '<') /* obsolete spelling of <= */
			*rel = PKG_REL_LE, i++;
		else if (i < e && s[i] == '>')
			*rel = PKG_REL_GE, i++;
		else
			goto bad;
		*version = trimdup(s + i, e - i);
		if (!**version)
			goto bad;
		i = e + 1;
	}
	/* Arch lists and build profiles only matter in source packages. */
	return 1;
bad:
	free(*name);
	free(*archq);
	free(*version);
	*name = *archq = *version = NULL;
	return ut_err_set(err, "bad version constraint in \"%.*s\"", (int)(len > 80 ? 80 : len), s);
}

static int parse_depends(struct pkg *p, const struct field *f, enum pkg_dep_kind kind,
			 struct ut_err *err)
{
	const char *s = f->val, *end = f->val + f->vlen;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *ge = comma ? comma : end;
		struct pkg_dep *d = NULL;

		while (s < ge) {
			const char *bar = memchr(s, '|', (size_t)(ge - s));
			const char *ae = bar ? bar : ge;
			char *name, *archq, *version;
			enum pkg_rel rel;
			int rc = parse_rel(s, (size_t)(ae - s), &name, &archq, &rel, &version, err);

			if (rc < 0)
				return -1;
			if (rc > 0) {
				if (!d)
					d = pkg_add_dep(p, kind);
				pkg_dep_add_alt(d, name, archq, rel, version);
			}
			s = ae + (bar != NULL);
		}
		s = ge + (comma != NULL);
	}
	return 0;
}

static int parse_provides(struct pkg *p, const struct field *f, struct ut_err *err)
{
	const char *s = f->val, *end = f->val + f->vlen;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		char *name, *archq, *version;
		enum pkg_rel rel;
		int rc = parse_rel(s, (size_t)(e - s), &name, &archq, &rel, &version, err);

		if (rc < 0)
			return -1;
		if (rc > 0) {
			free(archq);
			pkg_add_provide(p, name, PKG_REL_EQ, version);
		}
		s = e + (comma != NULL);
	}
	return 0;
}

/* Conffiles lines: " /etc/x 0123abcd... [obsolete|remove-on-upgrade]". */
struct conffile {
	char *path;
	char *md5;
};

static int parse_conffiles(const struct field *f, struct conffile **out, size_t *n,
			   struct ut_err *err)
{
	const char *s = f->val, *end = f->val + f->vlen;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		const char *w[3];
		size_t wl[3], nw = 0;
		const char *q = s;

		while (q < le && nw < 3) {
			while (q < le && is_space(*q))
				q++;
			if (q == le)
				break;
			w[nw] = q;
			while (q < le && !is_space(*q))
				q++;
			wl[nw] = (size_t)(q - w[nw]);
			nw++;
		}
		if (nw >= 2) {
			struct conffile *c;
			char *path;

			if (pkg_norm_path(w[0], wl[0], &path, err) < 0)
				return ut_err_prefix(err, "Conffiles: ");
			if (pkg_need_grow(*n))
				*out = ut_realloc(*out, (*n ? *n * 2 : 1) * sizeof(**out));
			c = &(*out)[(*n)++];
			c->path = path;
			c->md5 = ut_strndup(w[1], wl[1]);
		} else if (nw == 1) {
			return ut_err_set(err, "Conffiles: line without a digest");
		}
		s = le + (nl != NULL);
	}
	return 0;
}

struct md5ent {
	const char *path, *hex;
	size_t plen;
};

static int md5ent_cmp(const void *x, const void *y)
{
	const struct md5ent *a = x, *b = y;
	size_t n = a->plen < b->plen ? a->plen : b->plen;
	int c = memcmp(a->path, b->path, n);

	if (c)
		return c;
	return a->plen < b->plen ? -1 : a->plen > b->plen;
}

static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* info/<pkg>.list and .md5sums; name is "pkg" or "pkg:arch" as dpkg names
 * the files. Returns 1 when the list was found. */
static int read_info(const struct pkg_source *src, struct pkg *p, const char *name,
		     struct conffile *cf, size_t ncf, struct ut_err *err)
{
	struct ut_buf list, sums;
	struct md5ent *ents = NULL;
	size_t nents = 0;
	char *path, *sumpath = NULL;
	int rc = -1, r;

	ut_buf_init(&list, 0);
	ut_buf_init(&sums, 0);
	path = ut_asprintf(DPKG_DIR "/info/%s.list", name);
	r = pkg_src_read(src, path, &list, PKG_TEXT_FILE_CAP, err);
	if (r <= 0) {
		rc = r;
		goto out;
	}
	sumpath = ut_asprintf(DPKG_DIR "/info/%s.md5sums", name);
	r = pkg_src_read(src, sumpath, &sums, PKG_TEXT_FILE_CAP, err);
	if (r < 0)
		goto out;
	if (r > 0) {
		const char *s = (const char *)sums.data, *end = s + sums.len;

		while (s < end) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			const char *le = nl ? nl : end;
			const char *sp = memchr(s, ' ', (size_t)(le - s));

			if (sp && (sp - s == 32) && is_hex(s, 32)) {
				const char *pp = sp;

				while (pp < le && *pp == ' ')
					pp++;
				while (pp < le && *pp == '/')
					pp++;
				if (pkg_need_grow(nents))
					ents = ut_realloc(ents, (nents ? nents * 2 : 1) * sizeof(*ents));
				ents[nents].path = pp;
				ents[nents].plen = (size_t)(le - pp);
				ents[nents].hex = s;
				nents++;
			}
			s = le + (nl != NULL);
		}
		if (nents > 1)
			qsort(ents, nents, sizeof(*ents), md5ent_cmp);
	}
	{
		const char *s = (const char *)list.data, *end = s + list.len;

		while (s < end) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			const char *le = nl ? nl : end;
			struct pkg_file *f;
			struct md5ent key, *hit;
			char *fp;
			size_t j;

			if (le == s || (le - s == 2 && s[0] == '/' && s[1] == '.')) {
				s = le + (nl != NULL);
				continue;
			}
			if (pkg_norm_path(s, (size_t)(le - s), &fp, err) < 0) {
				ut_err_prefix(err, "%s: ", path);
				goto out;
			}
			f = pkg_add_file(p, fp);
			key.path = fp;
			key.plen = strlen(fp);
			hit = nents ? bsearch(&key, ents, nents, sizeof(*ents), md5ent_cmp) : NULL;
			if (hit) {
				f->kind = PKG_DIGEST_MD5;
				f->digest = ut_strndup(hit->hex, 32);
				for (j = 0; j < 32; j++)
					f->digest[j] = (char)tolower((unsigned char)f->digest[j]);
			}
			for (j = 0; j < ncf; j++)
				if (!strcmp(cf[j].path, fp)) {
					f->is_conffile = 1;
					f->conf_digest = ut_strdup(cf[j].md5);
					break;
				}
			s = le + (nl != NULL);
		}
	}
	rc = 1;
out:
	free(ents);
	free(path);
	free(sumpath);
	ut_buf_release(&list);
	ut_buf_release(&sums);
	return rc;
}

static int field_is(const struct field *f, const char *s)
{
	return f && f->vlen == strlen(s) && !strncmp(f->val, s, f->vlen);
}

/* "want ok installed": the package's files are on disk. */
static int status_installed(const struct field *f)
{
	const char *s, *end;
	const char *w[3];
	size_t wl[3], nw = 0;

	if (!f)
		return 0;
	s = f->val;
	end = f->val + f->vlen;
	while (s < end && nw < 3) {
		while (s < end && is_space(*s))
			s++;
		if (s == end)
			break;
		w[nw] = s;
		while (s < end && !is_space(*s))
			s++;
		wl[nw] = (size_t)(s - w[nw]);
		nw++;
	}
	return nw == 3 && wl[1] == 2 && !strncmp(w[1], "ok", 2) && wl[2] == 9 &&
	       !strncmp(w[2], "installed", 9);
}

/*
 * The License: fields of a machine-readable usr/share/doc/<pkg>/copyright
 * (DEP-5: its first stanza has Format:), the short name on each field's
 * first line. A file in another form, or one that does not parse, gives no
 * licenses: it is documentation, not the database.
 */
static void read_copyright(const struct pkg_source *src, struct pkg *p)
{
	char *path = ut_asprintf("usr/share/doc/%s/copyright", p->name);
	struct stanza *st = ut_malloc(sizeof(*st));
	size_t pos = 0, line = 0, i;
	struct ut_err ignored = { { 0 } };
	struct ut_buf b;
	int first = 1;

	ut_buf_init(&b, 0);
	/* Unreadable (a directory, a link loop) is as good as missing. */
	if (pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, &ignored) <= 0)
		goto out;
	while (next_stanza((const char *)b.data, b.len, &pos, &line, st, &ignored) > 0) {
		if (first && !get(st, "Format"))
			break;
		first = 0;
		for (i = 0; i < st->n; i++) {
			const struct field *f = &st->f[i];
			const char *nl;

			if (f->nlen != 7 || strncasecmp(f->name, "License", 7))
				continue;
			nl = memchr(f->val, '\n', f->vlen);
			pkg_add_license(p, f->val, nl ? (size_t)(nl - f->val) : f->vlen);
		}
	}
out:
	ut_buf_release(&b);
	free(st);
	free(path);
}

static int read_extended_states(const struct pkg_source *src, struct pkg_db *db,
				struct ut_err *err)
{
	const char *path = "var/lib/apt/extended_states";
	struct ut_buf b;
	size_t pos = 0, line = 0, i;
	struct stanza *st = ut_malloc(sizeof(*st));
	int rc;

	ut_buf_init(&b, 0);
	for (i = 0; i < db->n; i++)
		db->v[i].manual = 1;
	rc = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
	if (rc <= 0)
		goto out;
	while ((rc = next_stanza((const char *)b.data, b.len, &pos, &line, st, err)) > 0) {
		const struct field *pk = get(st, "Package"), *ar = get(st, "Architecture");
		const struct field *au = get(st, "Auto-Installed");
		char *name, *arch;

		if (!pk || !field_is(au, "1"))
			continue;
		name = trimdup(pk->val, pk->vlen);
		arch = ar ? trimdup(ar->val, ar->vlen) : NULL;
		for (i = 0; i < db->n; i++)
			if (!strcmp(db->v[i].name, name) &&
			    (!arch || !strcmp(db->v[i].arch, arch) || !strcmp(db->v[i].arch, "all")))
				db->v[i].manual = 0;
		free(name);
		free(arch);
	}
	if (rc < 0)
		ut_err_prefix(err, "%s: ", path);
out:
	ut_buf_release(&b);
	free(st);
	return rc < 0 ? -1 : 0;
}

int pkg_db_read_dpkg(const struct pkg_source *src, struct pkg_db **out, struct ut_err *err)
{
	const char *path = DPKG_DIR "/status";
	struct pkg_db *db = NULL;
	struct stanza *st = ut_malloc(sizeof(*st));
	struct conffile *cf = NULL;
	size_t ncf = 0, pos = 0, line = 0, i;
	const char *native = NULL;
	struct ut_buf b;
	int rc;

	ut_buf_init(&b, 0);
	rc = pkg_src_read(src, path, &b, PKG_TEXT_FILE_CAP, err);
	if (rc <= 0)
		goto out;
	rc = -1;
	db = pkg_db_new("deb");
	db->db_path = ut_strdup(path);
	if (pkg_src_mtime(src, path, &db->db_mtime, err) < 0)
		goto out;
	for (;;) {
		const struct field *f;
		struct pkg *p;
		char *nm;
		int r = next_stanza((const char *)b.data, b.len, &pos, &line, st, err);

		if (r < 0) {
			ut_err_prefix(err, "%s: ", path);
			goto out;
		}
		if (r == 0)
			break;
		f = get(st, "Package");
		if (!f || !status_installed(get(st, "Status")))
			continue;
		p = pkg_db_add(db, err);
		if (!p)
			goto out;
		p->name = trimdup(f->val, f->vlen);
		if (!*p->name) {
			ut_err_set(err, "%s: line %zu: empty Package field", path, st->line + 1);
			goto out;
		}
		if ((f = get(st, "Architecture")))
			p->arch = trimdup(f->val, f->vlen);
		if ((f = get(st, "Version"))) {
			p->display_version = trimdup(f->val, f->vlen);
			pkg_split_evr(p->display_version, &p->epoch, &p->version, &p->release);
		}
		p->multiarch_same = field_is(get(st, "Multi-Arch"), "same");
		if ((f = get(st, "Maintainer")))
			p->supplier = trimdup(f->val, f->vlen);
		if ((f = get(st, "Source"))) {
			/* "name" or "name (version)" when the versions differ */
			const char *paren = memchr(f->val, '(', f->vlen);

			p->source = trimdup(f->val, paren ? (size_t)(paren - f->val) : f->vlen);
		}
		if (((f = get(st, "Depends")) && parse_depends(p, f, PKG_DEP_DEPENDS, err) < 0) ||
		    ((f = get(st, "Pre-Depends")) &&
		     parse_depends(p, f, PKG_DEP_PRE_DEPENDS, err) < 0) ||
		    ((f = get(st, "Provides")) && parse_provides(p, f, err) < 0)) {
			ut_err_prefix(err, "%s: package %s: ", path, p->name);
			goto out;
		}
		for (i = 0; i < ncf; i++) {
			free(cf[i].path);
			free(cf[i].md5);
		}
		ncf = 0;
		if ((f = get(st, "Conffiles")) && parse_conffiles(f, &cf, &ncf, err) < 0) {
			ut_err_prefix(err, "%s: package %s: ", path, p->name);
			goto out;
		}
		/* dpkg names a Multi-Arch: same package's files "pkg:arch". */
		nm = ut_asprintf("%s:%s", p->name, p->arch ? p->arch : "");
		r = p->arch ? read_info(src, p, nm, cf, ncf, err) : 0;
		if (r == 0) {
			free(nm);
			nm = ut_strdup(p->name);
			r = read_info(src, p, p->name, cf, ncf, err);
		}
		if (r > 0) {
			/* dpkg writes the .list when it unpacks: the install time. */
			char *lp = ut_asprintf(DPKG_DIR "/info/%s.list", nm);

			r = pkg_src_mtime(src, lp, &p->install_time, err);
			free(lp);
		}
		free(nm);
		if (r < 0)
			goto out;
		read_copyright(src, p);
	}
	/* dpkg's own architecture is the native one. */
	for (i = 0; i < db->n; i++)
		if (!strcmp(db->v[i].name, "dpkg") && db->v[i].arch)
			native = db->v[i].arch;
	for (i = 0; i < db->n; i++) {
		struct pkg *p = &db->v[i];

		if (p->arch && *p->arch && strcmp(p->arch, "all") &&
		    (p->multiarch_same || (native && strcmp(p->arch, native))))
			p->display_name = ut_asprintf("%s:%s", p->name, p->arch);
	}
	pkg_db_finish(db);
	if (read_extended_states(src, db, err) < 0)
		goto out;
	*out = db;
	db = NULL;
	rc = 1;
out:
	for (i = 0; i < ncf; i++) {
		free(cf[i].path);
		free(cf[i].md5);
	}
	free(cf);
	free(st);
	ut_buf_release(&b);
	pkg_db_free(db);
	return rc;
}
