/*
 * pkg_db.c - the package list: building, sorting, finding, versions,
 * format detection and the difference against a base.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building ----------------------------------------------------------- */

struct pkg_db *pkg_db_new(const char *format)
{
	struct pkg_db *db = ut_calloc(1, sizeof(*db));

	snprintf(db->format, sizeof(db->format), "%s", format);
	db->db_mtime = -1;
	return db;
}

struct pkg *pkg_db_add(struct pkg_db *db, struct ut_err *err)
{
	struct pkg *p;

	if (db->n >= PKG_MAX_PACKAGES)
		return ut_err_set(err, "more than %d packages", PKG_MAX_PACKAGES), NULL;
	if (pkg_need_grow(db->n))
		db->v = ut_realloc(db->v, (db->n ? db->n * 2 : 1) * sizeof(*db->v));
	p = &db->v[db->n++];
	memset(p, 0, sizeof(*p));
	p->epoch = -1;
	p->manual = -1;
	p->install_time = -1;
	return p;
}

void pkg_add_license(struct pkg *p, const char *s, size_t len)
{
	size_t i;

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	if (!len)
		return;
	for (i = 0; i < p->nlicenses; i++)
		if (strlen(p->licenses[i]) == len && !memcmp(p->licenses[i], s, len))
			return;
	if (pkg_need_grow(p->nlicenses))
		p->licenses = ut_realloc(p->licenses,
					 (p->nlicenses ? p->nlicenses * 2 : 1) * sizeof(*p->licenses));
	p->licenses[p->nlicenses++] = ut_strndup(s, len);
}

struct pkg_dep *pkg_add_dep(struct pkg *p, enum pkg_dep_kind kind)
{
	struct pkg_dep *d;

	if (pkg_need_grow(p->ndeps))
		p->deps = ut_realloc(p->deps, (p->ndeps ? p->ndeps * 2 : 1) * sizeof(*p->deps));
	d = &p->deps[p->ndeps++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	return d;
}

void pkg_dep_add_alt(struct pkg_dep *d, char *name, char *archq, enum pkg_rel rel,
		     char *version)
{
	struct pkg_dep_alt *a;

	if (pkg_need_grow(d->nalts))
		d->alts = ut_realloc(d->alts, (d->nalts ? d->nalts * 2 : 1) * sizeof(*d->alts));
	a = &d->alts[d->nalts++];
	a->name = name;
	a->archq = archq;
	a->rel = version ? rel : PKG_REL_ANY;
	a->version = version;
}

void pkg_add_provide(struct pkg *p, char *name, enum pkg_rel rel, char *version)
{
	struct pkg_provide *v;

	if (pkg_need_grow(p->nprovides))
		p->provides = ut_realloc(p->provides,
					 (p->nprovides ? p->nprovides * 2 : 1) * sizeof(*p->provides));
	v = &p->provides[p->nprovides++];
	v->name = name;
	v->rel = version ? rel : PKG_REL_ANY;
	v->version = version;
}

struct pkg_file *pkg_add_file(struct pkg *p, char *path)
{
	struct pkg_file *f;

	if (pkg_need_grow(p->nfiles))
		p->files = ut_realloc(p->files, (p->nfiles ? p->nfiles * 2 : 1) * sizeof(*p->files));
	f = &p->files[p->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = path;
	return f;
}

int pkg_norm_path(const char *s, size_t len, char **out, struct ut_err *err)
{
	struct ut_buf b;
	size_t i = 0;

	ut_buf_init(&b, 0);
	while (i < len) {
		size_t j = i;

		while (j < len && s[j] != '/')
			j++;
		if ((j - i == 2 && s[i] == '.' && s[i + 1] == '.')) {
			ut_buf_release(&b);
			return ut_err_set(err, "path \"%.*s\" has a \"..\" component",
					  (int)(len > 200 ? 200 : len), s);
		}
		if (j > i && !(j - i == 1 && s[i] == '.')) {
			size_t k;

			for (k = i; k < j; k++) {
				if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f) {
					ut_buf_release(&b);
					return ut_err_set(err, "path with a control character");
				}
			}
			if ((b.len && ut_buf_add(&b, "/", 1, err) < 0) ||
			    ut_buf_add(&b, s + i, j - i, err) < 0) {
				ut_buf_release(&b);
				return -1;
			}
		}
		i = j + 1;
	}
	if (!b.len) {
		ut_buf_release(&b);
		return ut_err_set(err, "empty path");
	}
	*out = ut_buf_detach(&b, NULL);
	return 0;
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int pkg_cmp_sort(const void *x, const void *y)
{
	const struct pkg *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	c = strcmp(a->arch, b->arch);
	if (c)
		return c;
	return strcmp(a->display_version, b->display_version);
}

void pkg_db_finish(struct pkg_db *db)
{
	size_t i;

	for (i = 0; i < db->n; i++) {
		struct pkg *p = &db->v[i];

		if (!p->name)
			p->name = ut_strdup("");
		if (!p->version)
			p->version = ut_strdup("");
		if (!p->release)
			p->release = ut_strdup("");
		if (!p->arch)
			p->arch = ut_strdup("");
		if (!p->display_name)
			p->display_name = ut_strdup(p->name);
		if (!p->display_version)
			p->display_version = *p->release ?
				ut_asprintf("%s-%s", p->version, p->release) :
				ut_strdup(p->version);
	}
	if (db->n > 1)
		qsort(db->v, db->n, sizeof(*db->v), pkg_cmp_sort);
}

void pkg_release(struct pkg *p)
{
	size_t i, j;

	if (!p)
		return;
	free(p->name);
	free(p->display_name);
	free(p->version);
	free(p->release);
	free(p->arch);
	free(p->display_version);
	free(p->supplier);
	free(p->source);
	for (i = 0; i < p->nlicenses; i++)
		free(p->licenses[i]);
	free(p->licenses);
	for (i = 0; i < p->ndeps; i++) {
		for (j = 0; j < p->deps[i].nalts; j++) {
			free(p->deps[i].alts[j].name);
			free(p->deps[i].alts[j].archq);
			free(p->deps[i].alts[j].version);
		}
		free(p->deps[i].alts);
	}
	free(p->deps);
	for (i = 0; i < p->nprovides; i++) {
		free(p->provides[i].name);
		free(p->provides[i].version);
	}
	free(p->provides);
	for (i = 0; i < p->nfiles; i++) {
		free(p->files[i].path);
		free(p->files[i].digest);
		free(p->files[i].conf_digest);
	}
	free(p->files);
	memset(p, 0, sizeof(*p));
}

void pkg_db_free(struct pkg_db *db)
{
	size_t i;

	if (!db)
		return;
	for (i = 0; i < db->n; i++)
		pkg_release(&db->v[i]);
	free(db->v);
	free(db->db_path);
	free(db);
}

const struct pkg *pkg_db_find(const struct pkg_db *db, const char *name, const char *arch)
{
	size_t lo = 0, hi = db->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(db->v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < db->n && !strcmp(db->v[lo].name, name); lo++)
		if (!arch || !strcmp(db->v[lo].arch, arch))
			return &db->v[lo];
	return NULL;
}

const char *pkg_digest_kind_name(enum pkg_digest_kind k)
{
	switch (k) {
	case PKG_DIGEST_MD5:
		return "md5";
	case PKG_DIGEST_SHA1:
		return "sha1";
	case PKG_DIGEST_SHA256:
		return "sha256";
	default:
		return "none";
	}
}

const char *pkg_change_name(enum pkg_change c)
{
	static const char *const names[] = {
		[PKG_ADDED] = "added",
		[PKG_REMOVED] = "removed",
		[PKG_UPGRADED] = "upgraded",
		[PKG_DOWNGRADED] = "downgraded",
		[PKG_ARCH_CHANGED] = "arch-changed",
	};

	if ((unsigned)c < sizeof(names) / sizeof(names[0]) && names[c])
		return names[c];
	return "unknown";
}

/* ---- versions ----------------------------------------------------------- */

void pkg_split_evr(const char *evr, int64_t *epoch, char **version, char **release)
{
	const char *colon = strchr(evr, ':'), *v = evr, *dash;

	*epoch = -1;
	if (colon) {
		const char *q;
		int64_t e = 0;

		for (q = evr; q < colon && isdigit((unsigned char)*q); q++)
			if (e < 100000000)
				e = e * 10 + (*q - '0');
		if (q == colon && colon > evr) {
			*epoch = e;
			v = colon + 1;
		}
	}
	dash = strrchr(v, '-');
	if (dash) {
		*version = ut_strndup(v, (size_t)(dash - v));
		*release = ut_strdup(dash + 1);
	} else {
		*version = ut_strdup(v);
		*release = NULL;
	}
}

static int dpkg_order(int c)
{
	if (isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* dpkg's verrevcmp: non-digit runs by dpkg_order, digit runs numerically. */
static int dpkg_verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;

		while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
			int ac = dpkg_order((unsigned char)*a);
			int bc = dpkg_order((unsigned char)*b);

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdigit((unsigned char)*a))
			return 1;
		if (isdigit((unsigned char)*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

int pkg_dpkg_vercmp(const char *a, const char *b)
{
	int64_t ea, eb;
	char *va, *ra, *vb, *rb;
	int c;

	pkg_split_evr(a, &ea, &va, &ra);
	pkg_split_evr(b, &eb, &vb, &rb);
	if (ea < 0)
		ea = 0;
	if (eb < 0)
		eb = 0;
	if (ea != eb)
		c = ea < eb ? -1 : 1;
	else if ((c = dpkg_verrevcmp(va, vb)) == 0)
		c = dpkg_verrevcmp(str_or_empty(ra), str_or_empty(rb));
	free(va);
	free(ra);
	free(vb);
	free(rb);
	return c < 0 ? -1 : c > 0;
}

/* rpm's rpmvercmp: alternating digit and letter segments, separators
 * ignored, '~' before everything (even the end), '^' after the end. */
int pkg_rpmvercmp(const char *a, const char *b)
{
	const char *one = a, *two = b;

	if (!strcmp(a, b))
		return 0;
	while (*one || *two) {
		const char *s1, *s2;
		size_t l1, l2;
		int isnum, rc;

		while (*one && !isalnum((unsigned char)*one) && *one != '~' && *one != '^')
			one++;
		while (*two && !isalnum((unsigned char)*two) && *two != '~' && *two != '^')
			two++;
		if (*one == '~' || *two == '~') {
			if (*one != '~')
				return 1;
			if (*two != '~')
				return -1;
			one++;
			two++;
			continue;
		}
		if (*one == '^' || *two == '^') {
			if (!*one)
				return -1;
			if (!*two)
				return 1;
			if (*one != '^')
				return 1;
			if (*two != '^')
				return -1;
			one++;
			two++;
			continue;
		}
		if (!(*one && *two))
			break;
		s1 = one;
		s2 = two;
		isnum = isdigit((unsigned char)*s1);
		if (isnum) {
			while (*s1 && isdigit((unsigned char)*s1))
				s1++;
			while (*s2 && isdigit((unsigned char)*s2))
				s2++;
		} else {
			while (*s1 && isalpha((unsigned char)*s1))
				s1++;
			while (*s2 && isalpha((unsigned char)*s2))
				s2++;
		}
		if (one == s1)
			return -1;
		if (two == s2)
			return isnum ? 1 : -1;
		if (isnum) {
			while (*one == '0' && one < s1)
				one++;
			while (*two == '0' && two < s2)
				two++;
			if (s1 - one > s2 - two)
				return 1;
			if (s2 - two > s1 - one)
				return -1;
		}
		l1 = (size_t)(s1 - one);
		l2 = (size_t)(s2 - two);
		rc = memcmp(one, two, l1 < l2 ? l1 : l2);
		if (!rc && l1 != l2)
			rc = l1 < l2 ? -1 : 1;
		if (rc)
			return rc < 0 ? -1 : 1;
		one = s1;
		two = s2;
	}
	if (!*one && !*two)
		return 0;
	return !*one ? -1 : 1;
}

/* rpm-style (epoch, version, release); a release is compared only when
 * both sides have one, as rpm does for "Requires: foo >= 1.2". */
static int evr_cmp(int64_t ea, const char *va, const char *ra, int64_t eb, const char *vb,
		   const char *rb)
{
	int c;

	if (ea < 0)
		ea = 0;
	if (eb < 0)
		eb = 0;
	if (ea != eb)
		return ea < eb ? -1 : 1;
	c = pkg_rpmvercmp(va, vb);
	if (c || !ra || !rb || !*ra || !*rb)
		return c;
	return pkg_rpmvercmp(ra, rb);
}

int pkg_vercmp_str(const char *format, const char *a, const char *b)
{
	int64_t ea, eb;
	char *va, *ra, *vb, *rb;
	int c;

	if (!strcmp(format, "deb"))
		return pkg_dpkg_vercmp(a, b);
	if (!strcmp(format, "apk"))
		return pkg_apk_vercmp(a, b);
	pkg_split_evr(a, &ea, &va, &ra);
	pkg_split_evr(b, &eb, &vb, &rb);
	c = evr_cmp(ea, va, ra, eb, vb, rb);
	free(va);
	free(ra);
	free(vb);
	free(rb);
	return c;
}

int pkg_vercmp(const char *format, const struct pkg *a, const struct pkg *b)
{
	if (!strcmp(format, "deb"))
		return pkg_dpkg_vercmp(a->display_version, b->display_version);
	if (!strcmp(format, "apk"))
		return pkg_apk_vercmp(a->display_version, b->display_version);
	return evr_cmp(a->epoch, a->version, a->release, b->epoch, b->version, b->release);
}

/* ---- detection ---------------------------------------------------------- */

int pkg_db_read(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err)
{
	static int (*const readers[])(const struct pkg_source *, struct pkg_db **,
				      struct ut_err *) = {
		pkg_db_read_dpkg,
		pkg_db_read_rpm,
		pkg_db_read_apk,
		pkg_db_read_pacman,
	};
	struct pkg_db *empty = NULL;
	size_t i;

	*db = NULL;
	/* An empty database (dpkg installed on an rpm system, say) loses to
	 * a later one with packages in it. */
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
		int rc = readers[i](src, db, err);

		if (rc < 0) {
			pkg_db_free(empty);
			return rc;
		}
		if (rc == 0)
			continue;
		if ((*db)->n) {
			pkg_db_free(empty);
			return 1;
		}
		if (!empty)
			empty = *db;
		else
			pkg_db_free(*db);
		*db = NULL;
	}
	*db = empty;
	return empty ? 1 : 0;
}

/* ---- difference --------------------------------------------------------- */

static int delta_cmp(const void *x, const void *y)
{
	const struct pkg_delta *a = x, *b = y;
	const struct pkg *pa = a->vm ? a->vm : a->base, *pb = b->vm ? b->vm : b->base;
	int c = strcmp(pa->name, pb->name);

	if (c)
		return c;
	c = strcmp(pa->arch, pb->arch);
	if (c)
		return c;
	return (int)a->change - (int)b->change;
}

static void delta_add(struct pkg_delta **v, size_t *n, enum pkg_change ch, const struct pkg *vm,
		      const struct pkg *base)
{
	if (pkg_need_grow(*n))
		*v = ut_realloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
	(*v)[*n].change = ch;
	(*v)[*n].vm = vm;
	(*v)[*n].base = base;
	(*n)++;
}

/*
 * Both lists are sorted by name, so one merge pass finds the groups of a
 * name. Inside a group (multi-arch, or rpm's several kernels) packages are
 * paired first when identical, then by arch (a version change), and what
 * is left pairs as an arch change, then as plain additions/removals.
 */
int pkg_db_subtract(const struct pkg_db *vm, const struct pkg_db *base,
		    struct pkg_delta **out, size_t *n, struct ut_err *err)
{
	struct pkg_delta *v = NULL;
	size_t nv = 0, i = 0, j = 0;
	unsigned char *used_a = NULL, *used_b = NULL;

	*out = NULL;
	*n = 0;
	if (strcmp(vm->format, base->format))
		return ut_err_set(err, "cannot compare a %s database with a %s one", vm->format,
				  base->format);
	while (i < vm->n || j < base->n) {
		int c;
		size_t ie, je, a, b;

		if (i >= vm->n)
			c = 1;
		else if (j >= base->n)
			c = -1;
		else
			c = strcmp(vm->v[i].name, base->v[j].name);
		if (c < 0) {
			delta_add(&v, &nv, PKG_ADDED, &vm->v[i++], NULL);
			continue;
		}
		if (c > 0) {
			delta_add(&v, &nv, PKG_REMOVED, NULL, &base->v[j++]);
			continue;
		}
		for (ie = i; ie < vm->n && !strcmp(vm->v[ie].name, vm->v[i].name); ie++)
			;
		for (je = j; je < base->n && !strcmp(base->v[je].name, base->v[j].name); je++)
			;
		used_a = ut_calloc(ie - i, 1);
		used_b = ut_calloc(je - j, 1);
		for (a = i; a < ie; a++)
			for (b = j; b < je; b++)
				if (!used_b[b - j] && !strcmp(vm->v[a].arch, base->v[b].arch) &&
				    !pkg_vercmp(vm->format, &vm->v[a], &base->v[b])) {
					used_a[a - i] = used_b[b - j] = 1;
					break;
				}
		for (a = i; a < ie; a++) {
			if (used_a[a - i] || vm->v[a].is_key)
				continue;
			for (b = j; b < je; b++)
				if (!used_b[b - j] && !strcmp(vm->v[a].arch, base->v[b].arch)) {
					int d = pkg_vercmp(vm->format, &vm->v[a], &base->v[b]);

					used_a[a - i] = used_b[b - j] = 1;
					delta_add(&v, &nv, d > 0 ? PKG_UPGRADED : PKG_DOWNGRADED,
						  &vm->v[a], &base->v[b]);
					break;
				}
		}
		for (a = i, b = j; a < ie; a++) {
			if (used_a[a - i])
				continue;
			while (b < je && used_b[b - j])
				b++;
			if (b < je && !vm->v[a].is_key) {
				used_b[b - j] = 1;
				delta_add(&v, &nv, PKG_ARCH_CHANGED, &vm->v[a], &base->v[b]);
			} else {
				delta_add(&v, &nv, PKG_ADDED, &vm->v[a], NULL);
			}
		}
		for (b = j; b < je; b++)
			if (!used_b[b - j])
				delta_add(&v, &nv, PKG_REMOVED, NULL, &base->v[b]);
		free(used_a);
		free(used_b);
		used_a = used_b = NULL;
		i = ie;
		j = je;
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), delta_cmp);
	*out = v;
	*n = nv;
	return 0;
}

int pkg_db_added(const struct pkg_db *vm, const struct pkg_db *base, size_t **set, size_t *n,
		 struct ut_err *err)
{
	struct pkg_delta *d = NULL;
	size_t nd = 0, i;

	*set = ut_malloc((vm->n ? vm->n : 1) * sizeof(**set));
	*n = 0;
	if (!base) {
		for (i = 0; i < vm->n; i++)
			(*set)[(*n)++] = i;
		return 0;
	}
	if (pkg_db_subtract(vm, base, &d, &nd, err) < 0) {
		free(*set);
		*set = NULL;
		return -1;
	}
	for (i = 0; i < nd; i++)
		if (d[i].vm)
			(*set)[(*n)++] = (size_t)(d[i].vm - vm->v);
	free(d);
	return 0;
}
