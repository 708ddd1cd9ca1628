/*
 * test_packages.c - the package readers against the package managers'
 * own tools (dpkg-query --admindir, rpm --dbpath) on real databases, the
 * graph's properties, and hostile inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "packages.h"
#include "testutil.h"

#define GO_RPMDB "/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata"

static const char *const rpm_dbs[] = {
	"centos5-plain",   "centos6-devtools", "centos6-many",    "centos6-plain",
	"centos7-devtools", "centos7-httpd24", "centos7-many",    "centos7-plain",
	"centos7-python35", "centos8-modularitylabel",
};

/* ---- helpers ------------------------------------------------------------ */

static void write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "wb");
	if (!f) {
		assert_int_equal(tu_sh("mkdir -p \"$(dirname '%s')\"", path), 0);
		f = fopen(path, "wb");
	}
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void write_str(const char *dir, const char *rel, const char *s)
{
	write_file(dir, rel, s, strlen(s));
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct ut_buf b;
	struct ut_err err;

	ut_buf_init(&b, 0);
	if (ut_read_host_file(path, &b, &err) < 0)
		fail_msg("%s", err.msg);
	return (unsigned char *)ut_buf_detach(&b, len);
}

static struct pkg_db *read_root(const char *root, struct ut_err *err, int *rc)
{
	struct pkg_source *src;
	struct pkg_db *db = NULL;

	assert_int_equal(pkg_source_dir_new(root, &src, err), 0);
	*rc = pkg_db_read(src, &db, err);
	pkg_source_free(src);
	return db;
}

static struct pkg_db *must_read(const char *root)
{
	struct ut_err err;
	struct pkg_db *db;
	int rc;

	db = read_root(root, &err, &rc);
	if (rc != 1)
		fail_msg("reading %s: rc %d: %s", root, rc, rc < 0 ? err.msg : "no database");
	return db;
}

static int line_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The lines of s sorted in strcmp (C locale) order, each ending in '\n'. */
static char *sorted(const char *s)
{
	char *copy = strdup(s), **lines = NULL, *out, *p, *save = NULL;
	size_t n = 0, i, len = 0;

	for (p = strtok_r(copy, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = p;
		len += strlen(p) + 1;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), line_cmp);
	out = malloc(len + 1);
	out[0] = '\0';
	for (i = 0, p = out; i < n; i++)
		p += sprintf(p, "%s\n", lines[i]);
	free(lines);
	free(copy);
	return out;
}

static const struct pkg *find_name(const struct pkg_db *db, const char *name)
{
	return pkg_db_find(db, name, NULL);
}

static int has_edge(const struct pkg_graph *g, size_t a, size_t b)
{
	size_t *to, n = pkg_graph_successors(g, a, &to), i;
	int found = 0;

	for (i = 0; i < n; i++)
		found |= to[i] == b;
	free(to);
	return found;
}

static size_t idx_of(const struct pkg_db *db, const char *name)
{
	const struct pkg *p = find_name(db, name);

	assert_non_null(p);
	return (size_t)(p - db->v);
}

static const char *rel_str(enum pkg_rel r, int deb)
{
	switch (r) {
	case PKG_REL_LT:
		return deb ? "<<" : "<";
	case PKG_REL_LE:
		return "<=";
	case PKG_REL_EQ:
		return "=";
	case PKG_REL_GE:
		return ">=";
	case PKG_REL_GT:
		return deb ? ">>" : ">";
	default:
		return "";
	}
}

/* One dependency group as dpkg-query prints it: "a:any (>= 1) | b". */
static void add_group(struct ut_buf *b, const struct pkg_dep *d)
{
	size_t k;

	for (k = 0; k < d->nalts; k++) {
		const struct pkg_dep_alt *a = &d->alts[k];

		ut_buf_addf(b, NULL, "%s%s%s%s", k ? " | " : "", a->name, a->archq ? ":" : "",
			    a->archq ? a->archq : "");
		if (a->rel != PKG_REL_ANY)
			ut_buf_addf(b, NULL, " (%s %s)", rel_str(a->rel, 1), a->version);
	}
}

/*
 * The root set's defining properties: every package reachable from a
 * root; no root reachable from another; each source component holds
 * exactly one root, every other component none.
 */
static void check_graph_properties(const struct pkg_db *db, const struct pkg_graph *g)
{
	const size_t *roots, *cyc;
	size_t nr = pkg_graph_roots(g, &roots), nc, i, j;
	size_t n = db->n, *queue = malloc((n + 1) * sizeof(size_t));
	unsigned char *seen = calloc(n + 1, 1), *isroot = calloc(n + 1, 1);
	size_t *rootsin = calloc(pkg_graph_ncomponents(g) + 1, sizeof(size_t));
	unsigned char *incoming = calloc(pkg_graph_ncomponents(g) + 1, 1);

	for (i = 0; i < nr; i++)
		isroot[roots[i]] = 1;
	for (i = 0; i < nr; i++) {
		size_t qh = 0, qt = 0;

		memset(seen, 0, n);
		seen[roots[i]] = 1;
		queue[qt++] = roots[i];
		while (qh < qt) {
			size_t *to, u = queue[qh++], m = pkg_graph_successors(g, u, &to), k;

			for (k = 0; k < m; k++) {
				if (seen[to[k]])
					continue;
				if (isroot[to[k]])
					fail_msg("root %s reaches root %s", db->v[roots[i]].name,
						 db->v[to[k]].name);
				seen[to[k]] = 1;
				queue[qt++] = to[k];
			}
			free(to);
		}
	}
	/* Reachability from all roots at once. */
	{
		size_t qh = 0, qt = 0;

		memset(seen, 0, n);
		for (i = 0; i < nr; i++) {
			seen[roots[i]] = 1;
			queue[qt++] = roots[i];
		}
		while (qh < qt) {
			size_t *to, u = queue[qh++], m = pkg_graph_successors(g, u, &to), k;

			for (k = 0; k < m; k++)
				if (!seen[to[k]]) {
					seen[to[k]] = 1;
					queue[qt++] = to[k];
				}
			free(to);
		}
		for (i = 0; i < n; i++)
			if (!seen[i])
				fail_msg("%s is not reachable from the roots", db->v[i].name);
	}
	for (i = 0; i < n; i++) {
		size_t *to, m = pkg_graph_successors(g, i, &to);

		for (j = 0; j < m; j++)
			if (pkg_graph_component_of(g, to[j]) != pkg_graph_component_of(g, i))
				incoming[pkg_graph_component_of(g, to[j])] = 1;
		free(to);
	}
	for (i = 0; i < nr; i++)
		rootsin[pkg_graph_component_of(g, roots[i])]++;
	for (i = 0; i < pkg_graph_ncomponents(g); i++)
		assert_int_equal(rootsin[i], incoming[i] ? 0 : 1);
	nc = pkg_graph_cycles(g, &cyc);
	for (i = 0; i < nc; i++) {
		const size_t *mem;

		assert_true(pkg_graph_component(g, cyc[i], &mem) > 1);
	}
	/* The subset of everything has the graph's roots (the CLI's old
	 * bitset code lost some when an index was >= 32 mod 64). */
	{
		size_t *all = malloc((n + 1) * sizeof(size_t)), *sr, nsr;

		for (i = 0; i < n; i++)
			all[i] = i;
		nsr = pkg_graph_subset_roots(g, all, n, &sr);
		assert_int_equal(nsr, nr);
		for (i = 0; i < nr; i++)
			assert_int_equal(sr[i], roots[i]);
		free(sr);
		free(all);
	}
	free(queue);
	free(seen);
	free(isroot);
	free(rootsin);
	free(incoming);
}

/* ---- dpkg on a real debootstrap root ------------------------------------ */

static char *debian_root(void)
{
	const char *env = getenv("VM2OCI_PKGTEST_ROOT");
	const char *cache = getenv("VM2OCI_CACHE");
	char base[4096], *out, *nl;

	if (env && *env)
		return strdup(env);
	if (cache && *cache)
		snprintf(base, sizeof(base), "%s", cache);
	else
		snprintf(base, sizeof(base), "%s/.cache/vm2oci", getenv("HOME") ? getenv("HOME") : "/root");
	out = tu_sh_out("for d in '%s'/pkgtest-root '%s'/debian-root-*; do "
			"[ -f \"$d/var/lib/dpkg/status\" ] && { echo \"$d\"; break; }; done", base, base);
	nl = strchr(out, '\n');
	if (nl) {
		*nl = '\0';
		return out;
	}
	free(out);
	/* None cached: make one, once, from the machine's own mirror. */
	if (!tu_have("debootstrap") || geteuid() != 0)
		tu_skip("no cached Debian root and cannot run debootstrap (needs root)");
	out = tu_sh_out("sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1");
	if ((nl = strchr(out, '\n')))
		*nl = '\0';
	if (!*out)
		tu_skip("no Debian mirror in /etc/apt/sources.list.d/debian.sources");
	if (tu_sh("mkdir -p '%s' && debootstrap --variant=minbase bookworm '%s/pkgtest-root.tmp' '%s' "
		  ">'%s/pkgtest-root.log' 2>&1 && mv '%s/pkgtest-root.tmp' '%s/pkgtest-root'",
		  base, base, out, base, base, base) != 0)
		tu_skip("debootstrap failed (see pkgtest-root.log in the cache dir)");
	free(out);
	return tu_sh_out("printf %%s '%s/pkgtest-root'", base);
}

static void test_dpkg_real(void **state)
{
	char *root = debian_root();
	struct pkg_db *db = must_read(root);
	struct ut_buf ours;
	char *a, *b, *oracle;
	size_t i, checked = 0;

	assert_string_equal(db->format, "deb");
	assert_true(db->n > 50);
	ut_buf_init(&ours, 0);
	for (i = 0; i < db->n; i++)
		ut_buf_addf(&ours, NULL, "%s %s %s\n", db->v[i].display_name,
			    db->v[i].display_version, db->v[i].arch);
	oracle = tu_sh_out("dpkg-query --admindir='%s/var/lib/dpkg' -W "
			   "-f '${binary:Package} ${Version} ${Architecture}\\n'", root);
	a = sorted((char *)ours.data);
	b = sorted(oracle);
	assert_string_equal(a, b);
	fprintf(stderr, "dpkg: %zu packages match dpkg-query -W\n", db->n);
	free(a);
	free(b);
	free(oracle);

	/* File lists against dpkg-query -L, package by package. */
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];
		size_t j;

		ut_buf_reset(&ours);
		for (j = 0; j < p->nfiles; j++)
			ut_buf_addf(&ours, NULL, "/%s\n", p->files[j].path);
		oracle = tu_sh_out("dpkg-query --admindir='%s/var/lib/dpkg' -L '%s' | "
				   "grep '^/' | grep -vx '/\\.'", root, p->display_name);
		a = sorted(ours.data ? (char *)ours.data : "");
		b = sorted(oracle);
		if (strcmp(a, b))
			fail_msg("file list of %s differs from dpkg-query -L", p->name);
		free(a);
		free(b);
		free(oracle);
	}
	/* Depends, Pre-Depends and Provides, re-printed, against dpkg-query. */
	ut_buf_reset(&ours);
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];
		size_t j, n;

		ut_buf_addf(&ours, NULL, "%s\t", p->name);
		for (n = 0, j = 0; j < p->ndeps; j++)
			if (p->deps[j].kind == PKG_DEP_DEPENDS) {
				if (n++)
					ut_buf_addstr(&ours, ", ", NULL);
				add_group(&ours, &p->deps[j]);
			}
		ut_buf_addstr(&ours, "\t", NULL);
		for (n = 0, j = 0; j < p->ndeps; j++)
			if (p->deps[j].kind == PKG_DEP_PRE_DEPENDS) {
				if (n++)
					ut_buf_addstr(&ours, ", ", NULL);
				add_group(&ours, &p->deps[j]);
			}
		ut_buf_addstr(&ours, "\t", NULL);
		for (j = 0; j < p->nprovides; j++) {
			ut_buf_addf(&ours, NULL, "%s%s", j ? ", " : "", p->provides[j].name);
			if (p->provides[j].version)
				ut_buf_addf(&ours, NULL, " (= %s)", p->provides[j].version);
		}
		ut_buf_addstr(&ours, "\n", NULL);
	}
	oracle = tu_sh_out("dpkg-query --admindir='%s/var/lib/dpkg' -W "
			   "-f '${Package}\\t${Depends}\\t${Pre-Depends}\\t${Provides}\\n'", root);
	a = sorted((char *)ours.data);
	b = sorted(oracle);
	assert_string_equal(a, b);
	free(a);
	free(b);
	free(oracle);

	/* Digests: md5 of the file on disk equals the recorded one. */
	{
		const struct pkg *p = find_name(db, "bash");
		size_t j;

		assert_non_null(p);
		for (j = 0; j < p->nfiles; j++) {
			const struct pkg_file *f = &p->files[j];
			char *md5;

			if (f->kind != PKG_DIGEST_MD5)
				continue;
			md5 = tu_sh_out("md5sum < '%s/%s' | cut -d' ' -f1", root, f->path);
			md5[32] = '\0';
			assert_string_equal(md5, f->digest);
			free(md5);
			checked++;
		}
		assert_true(checked > 0);
	}
	/* Conffiles: base-files' /etc/debian_version is one, original digest recorded. */
	{
		const struct pkg *p = find_name(db, "base-files");
		size_t j;
		int found = 0;

		for (j = 0; j < p->nfiles; j++)
			if (!strcmp(p->files[j].path, "etc/debian_version")) {
				assert_true(p->files[j].is_conffile);
				assert_non_null(p->files[j].conf_digest);
				found = 1;
			}
		assert_true(found);
	}
	ut_buf_release(&ours);
	pkg_db_free(db);
	free(root);
}

static void test_dpkg_graph_real(void **state)
{
	char *root = debian_root();
	struct pkg_db *db = must_read(root);
	struct pkg_graph *g;
	struct ut_err err;
	const size_t *roots;
	size_t nr, i, *m1, *m2, n1, n2;

	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	check_graph_properties(db, g);
	nr = pkg_graph_roots(g, &roots);
	/* minbase: essential packages have no dependents, the libraries do. */
	assert_true(nr > 0 && nr < db->n);
	assert_true(has_edge(g, idx_of(db, "bash"), idx_of(db, "base-files")));
	for (i = 0; i < nr; i++)
		assert_string_not_equal(db->v[roots[i]].name, "libc6");
	assert_int_equal(pkg_graph_manual_diff(g, &m1, &n1, &m2, &n2, &err), 0);
	fprintf(stderr, "dpkg graph: %zu packages, %zu roots, %zu cycles, %zu unresolved groups, "
		"%zu manual-not-root, %zu root-not-manual\n", db->n, nr,
		pkg_graph_cycles(g, &roots), pkg_graph_unresolved(g), n1, n2);
	free(m1);
	free(m2);
	pkg_graph_free(g);
	pkg_db_free(db);
	free(root);
}

/* ---- rpm ---------------------------------------------------------------- */

static void need_rpm(void)
{
	if (!tu_have("rpm"))
		tu_skip("rpm is not installed");
	if (access(GO_RPMDB "/centos7-plain/Packages", R_OK))
		tu_skip("golang-github-knqyf263-go-rpmdb-dev testdata is not installed");
}

static char *rpm_line_list(const struct pkg_db *db)
{
	struct ut_buf b;
	size_t i;

	ut_buf_init(&b, 0);
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];
		char ep[32];

		if (p->epoch >= 0)
			snprintf(ep, sizeof(ep), "%lld", (long long)p->epoch);
		else
			snprintf(ep, sizeof(ep), "(none)");
		ut_buf_addf(&b, NULL, "%s %s %s %s\n", p->name, ep, p->display_version,
			    *p->arch ? p->arch : "(none)");
	}
	if (!b.data)
		ut_buf_addstr(&b, "", NULL);
	return ut_buf_detach(&b, NULL);
}

/* All of rpm -qa, the gpg-pubkey keys too. */
#define RPM_QA "-qa --qf '%%{NAME} %%{EPOCH} %%{VERSION}-%%{RELEASE} %%{ARCH}\\n' 2>/dev/null"

/* Copies a BerkeleyDB Packages into a fresh guest root's var/lib/rpm. */
static char *rpm_root(const char *name)
{
	char *dir = tu_tmpdir();

	assert_int_equal(tu_sh("mkdir -p '%s/var/lib/rpm' && cp '%s/%s/Packages' '%s/var/lib/rpm/'",
			       dir, GO_RPMDB, name, dir), 0);
	return dir;
}

static void compare_rpm_files(const struct pkg_db *db, const char *dbpath, const char *backend,
			      const char *name)
{
	const struct pkg *p = find_name(db, name);
	struct ut_buf b;
	char *a, *o, *x;
	size_t j;

	if (!p)
		return;
	ut_buf_init(&b, 0);
	ut_buf_addstr(&b, "", NULL);
	for (; p < db->v + db->n && !strcmp(p->name, name); p++)
		for (j = 0; j < p->nfiles; j++)
			ut_buf_addf(&b, NULL, "/%s\n", p->files[j].path);
	/* -qa with a tag array, not -ql: old dbs lack the Name index. */
	o = tu_sh_out("rpm --dbpath '%s' --define '_db_backend %s' -qa "
		      "--qf '[%%{=NAME}\\t%%{FILENAMES}\\n]' 2>/dev/null | "
		      "awk -F'\\t' '$1 == \"%s\" { print $2 }'", dbpath, backend, name);
	a = sorted((char *)b.data);
	x = sorted(o);
	if (strcmp(a, x))
		fail_msg("%s: file list of %s differs from rpm -ql", dbpath, name);
	free(a);
	free(x);
	free(o);
	ut_buf_release(&b);
}

static void test_rpm_bdb(void **state)
{
	size_t k, total = 0, keys = 0;

	need_rpm();
	for (k = 0; k < sizeof(rpm_dbs) / sizeof(rpm_dbs[0]); k++) {
		char dbpath[4096], *root = rpm_root(rpm_dbs[k]), *ours, *oracle, *a, *b;
		struct pkg_db *db = must_read(root);
		struct pkg_graph *g;
		struct ut_err err;

		snprintf(dbpath, sizeof(dbpath), "%s/%s", GO_RPMDB, rpm_dbs[k]);
		assert_string_equal(db->format, "rpm");
		assert_string_equal(db->db_path, "var/lib/rpm/Packages");
		ours = rpm_line_list(db);
		oracle = tu_sh_out("rpm --dbpath '%s' --define '_db_backend bdb_ro' " RPM_QA, dbpath);
		a = sorted(ours);
		b = sorted(oracle);
		if (strcmp(a, b))
			fail_msg("%s: package list differs from rpm -qa:\nours:\n%.2000s\nrpm:\n%.2000s",
				 rpm_dbs[k], a, b);
		compare_rpm_files(db, dbpath, "bdb_ro", "bash");
		compare_rpm_files(db, dbpath, "bdb_ro", "setup");
		compare_rpm_files(db, dbpath, "bdb_ro", "glibc");
		compare_rpm_files(db, dbpath, "bdb_ro", "rpm");
		/* Digests of bash against rpm's own FILEDIGESTS. */
		{
			const struct pkg *p = find_name(db, "bash");
			struct ut_buf d;
			char *o;
			size_t j;

			assert_non_null(p);
			ut_buf_init(&d, 0);
			ut_buf_addstr(&d, "", NULL);
			for (j = 0; j < p->nfiles; j++)
				ut_buf_addf(&d, NULL, "%s\n", p->files[j].digest ? p->files[j].digest : "");
			o = tu_sh_out("rpm --dbpath '%s' --define '_db_backend bdb_ro' -qa "
				      "--qf '[%%{=NAME}\\t%%{FILEDIGESTS}\\n]' 2>/dev/null | "
				      "awk -F'\\t' '$1 == \"bash\" { print $2 }'", dbpath);
			assert_string_equal((char *)d.data, o);
			free(o);
			ut_buf_release(&d);
		}
		/* Requires (less rpmlib() and rich ones) and provides, against
		 * rpm's REQUIRENEVRS / PROVIDENEVRS. */
		{
			struct ut_buf d;
			char *o, *x, *y;
			size_t i, j;

			ut_buf_init(&d, 0);
			ut_buf_addstr(&d, "", NULL);
			for (i = 0; i < db->n; i++) {
				const struct pkg *p = &db->v[i];

				for (j = 0; j < p->ndeps; j++) {
					const struct pkg_dep_alt *a = &p->deps[j].alts[0];

					/* Groups of rich dependencies: test_pkg_exact. */
					if (p->deps[j].nalts > 1 || p->deps[j].conditional)
						continue;
					ut_buf_addf(&d, NULL, "R %s\t%s", p->name, a->name);
					if (a->rel != PKG_REL_ANY)
						ut_buf_addf(&d, NULL, " %s %s", rel_str(a->rel, 0), a->version);
					ut_buf_addstr(&d, "\n", NULL);
				}
				for (j = 0; j < p->nprovides; j++) {
					const struct pkg_provide *v = &p->provides[j];

					ut_buf_addf(&d, NULL, "P %s\t%s", p->name, v->name);
					if (v->rel != PKG_REL_ANY)
						ut_buf_addf(&d, NULL, " %s %s", rel_str(v->rel, 0), v->version);
					ut_buf_addstr(&d, "\n", NULL);
				}
			}
			o = tu_sh_out("D='%s'; { rpm --dbpath \"$D\" --define '_db_backend bdb_ro' -qa "
				      "--qf '[R %%{=NAME}\\t%%{REQUIRENEVRS}\\n]' 2>/dev/null | "
				      "grep -v -P '\\t(rpmlib\\(|\\()'; "
				      "rpm --dbpath \"$D\" --define '_db_backend bdb_ro' -qa "
				      "--qf '[P %%{=NAME}\\t%%{PROVIDENEVRS}\\n]' 2>/dev/null; }",
				      dbpath);
			x = sorted((char *)d.data);
			y = sorted(o);
			if (strcmp(x, y))
				fail_msg("%s: requires/provides differ from rpm's", rpm_dbs[k]);
			free(x);
			free(y);
			free(o);
			ut_buf_release(&d);
		}
		assert_int_equal(pkg_graph_build(db, &g, &err), 0);
		check_graph_properties(db, g);
		/* Keys: as many as rpm -qa's gpg-pubkey lines, each a root
		 * without dependencies. */
		{
			char *o = tu_sh_out("rpm --dbpath '%s' --define '_db_backend bdb_ro' -qa "
					    "2>/dev/null | grep -c '^gpg-pubkey-'", dbpath);
			size_t nkeys = 0, *to, i;

			for (i = 0; i < db->n; i++) {
				assert_int_equal(db->v[i].is_key, !strcmp(db->v[i].name, "gpg-pubkey"));
				if (!db->v[i].is_key)
					continue;
				nkeys++;
				assert_int_equal(db->v[i].ndeps, 0);
				assert_int_equal(pkg_graph_successors(g, i, &to), 0);
				free(to);
			}
			assert_int_equal(nkeys, (size_t)atoi(o));
			keys += nkeys;
			free(o);
		}
		{
			const size_t *r;

			/* /bin/sh is a file require that bash answers. */
			if (find_name(db, "bash") && find_name(db, "glibc"))
				assert_true(has_edge(g, idx_of(db, "bash"), idx_of(db, "glibc")));
			fprintf(stderr, "%s: %zu packages match rpm -qa; %zu roots, %zu cycles, "
				"%zu unresolved\n", rpm_dbs[k], db->n, pkg_graph_roots(g, &r),
				pkg_graph_cycles(g, &r), pkg_graph_unresolved(g));
		}
		total += db->n;
		pkg_graph_free(g);
		free(a);
		free(b);
		free(ours);
		free(oracle);
		pkg_db_free(db);
		tu_sh("rm -rf '%s'", root);
		free(root);
	}
	assert_true(total > 1000);
	assert_true(keys >= 8);
}

/* Builds tiny rpms with rpmbuild and installs them (--justdb) into a
 * sqlite rpmdb under usr/lib/sysimage/rpm of a fresh root. */
static char *make_sqlite_root(void)
{
	char *dir = tu_tmpdir();
	static const char *spec_a =
		"Name: vmtest-a\nVersion: 1.2\nRelease: 3\nEpoch: 2\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\nRequires: vmtest-b >= 1.0, /usr/bin/vmtest-b\n"
		"Provides: vmtest-virt = 5\n%%description\nt\n%%install\n"
		"mkdir -p %%{buildroot}/etc %%{buildroot}/usr/bin\n"
		"echo conf > %%{buildroot}/etc/vmtest-a.conf\necho a > %%{buildroot}/usr/bin/vmtest-a\n"
		"%%files\n%%config(noreplace) /etc/vmtest-a.conf\n/usr/bin/vmtest-a\n";
	static const char *spec_b =
		"Name: vmtest-b\nVersion: 1.10\nRelease: 1\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\nRequires: vmtest-virt\n%%description\nt\n%%install\n"
		"mkdir -p %%{buildroot}/usr/bin\necho b > %%{buildroot}/usr/bin/vmtest-b\n"
		"%%files\n/usr/bin/vmtest-b\n";
	static const char *spec_c =
		"Name: vmtest-c\nVersion: 0.1~rc1\nRelease: 1\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\nRequires: vmtest-b < 1.2\n%%description\nt\n%%install\n"
		"mkdir -p %%{buildroot}/usr/share\necho c > %%{buildroot}/usr/share/vmtest-c\n"
		"%%files\n/usr/share/vmtest-c\n";
	char path[4300];
	FILE *f;

	if (!tu_have("rpmbuild"))
		tu_skip("rpmbuild is not installed");
	snprintf(path, sizeof(path), "%s/a.spec", dir);
	f = fopen(path, "w");
	fprintf(f, spec_a, 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s/b.spec", dir);
	f = fopen(path, "w");
	fprintf(f, spec_b, 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s/c.spec", dir);
	f = fopen(path, "w");
	fprintf(f, spec_c, 0);
	fclose(f);
	if (tu_sh("cd '%s' && for s in a b c; do rpmbuild --define \"_topdir $PWD/top\" -bb $s.spec "
		  ">/dev/null 2>&1 || exit 1; done", dir) != 0)
		tu_skip("rpmbuild could not build the test packages");
	assert_int_equal(tu_sh("cd '%s' && D=$PWD/root/usr/lib/sysimage/rpm && mkdir -p $D && "
			       "rpm --initdb --dbpath $D --define '_db_backend sqlite' && "
			       "rpm --dbpath $D --define '_db_backend sqlite' -i --justdb --nodeps "
			       "--ignorearch --ignoreos top/RPMS/noarch/*.rpm 2>/dev/null",
			       dir), 0);
	return dir;
}

static void test_rpm_sqlite(void **state)
{
	char *dir, root[4200], dbpath[4300], *ours, *oracle, *a, *b;
	struct pkg_db *db;
	struct pkg_graph *g;
	struct ut_err err;
	const struct pkg *pa, *pb, *pc;
	size_t j;

	need_rpm();
	dir = make_sqlite_root();
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(dbpath, sizeof(dbpath), "%s/usr/lib/sysimage/rpm", root);
	/* An empty dpkg database beside it does not hide the rpm one. */
	write_str(root, "var/lib/dpkg/status", "");
	db = must_read(root);
	assert_string_equal(db->db_path, "usr/lib/sysimage/rpm/rpmdb.sqlite");
	ours = rpm_line_list(db);
	oracle = tu_sh_out("rpm --dbpath '%s' " RPM_QA, dbpath);
	a = sorted(ours);
	b = sorted(oracle);
	assert_string_equal(a, b);
	assert_int_equal(db->n, 3);
	compare_rpm_files(db, dbpath, "sqlite", "vmtest-a");
	pa = find_name(db, "vmtest-a");
	pb = find_name(db, "vmtest-b");
	pc = find_name(db, "vmtest-c");
	assert_int_equal(pa->epoch, 2);
	assert_string_equal(pa->display_version, "1.2-3");
	for (j = 0; j < pa->nfiles; j++) {
		const struct pkg_file *f = &pa->files[j];

		assert_int_equal(f->kind, PKG_DIGEST_SHA256);
		if (!strcmp(f->path, "etc/vmtest-a.conf")) {
			char *sum = tu_sh_out("printf 'conf\\n' | sha256sum | cut -d' ' -f1");

			sum[64] = '\0';
			assert_true(f->is_conffile);
			assert_string_equal(f->digest, sum);
			assert_string_equal(f->conf_digest, sum);
			free(sum);
		} else {
			assert_false(f->is_conffile);
		}
	}
	/* a -> b (versioned name and file require), b -> a (virtual provide),
	 * c -> b fails "< 1.2" against 1.10 (rpmvercmp, not strcmp). */
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	assert_true(has_edge(g, (size_t)(pa - db->v), (size_t)(pb - db->v)));
	assert_true(has_edge(g, (size_t)(pb - db->v), (size_t)(pa - db->v)));
	assert_false(has_edge(g, (size_t)(pc - db->v), (size_t)(pb - db->v)));
	assert_int_equal(pkg_graph_unresolved(g), 1);
	check_graph_properties(db, g);
	pkg_graph_free(g);
	pkg_db_free(db);
	free(a);
	free(b);
	free(ours);
	free(oracle);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* ndb: Debian's rpm has no ndb backend, so the test writes a Packages.db
 * itself from the header blobs of a real BerkeleyDB, following the layout
 * of rpm's lib/backend/ndb/rpmpkg.c, and expects rpm -qa's list back. */
struct blobs {
	unsigned char **v;
	size_t *len, n;
};

static int collect(void *ctx, const unsigned char *blob, size_t len, struct ut_err *err)
{
	struct blobs *b = ctx;

	b->v = realloc(b->v, (b->n + 1) * sizeof(*b->v));
	b->len = realloc(b->len, (b->n + 1) * sizeof(*b->len));
	b->v[b->n] = malloc(len);
	memcpy(b->v[b->n], blob, len);
	b->len[b->n++] = len;
	return 0;
}

static void le32w(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t t_adler(const unsigned char *p, size_t n)
{
	uint32_t a = 1, b = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return b << 16 | a;
}

static unsigned char *make_ndb(const struct blobs *bl, size_t *outlen)
{
	size_t slots_per_page = 4096 / 16, npages = (bl->n + 2) / slots_per_page + 1;
	size_t size = npages * 4096, i, off;
	unsigned char *f;

	for (i = 0; i < bl->n; i++)
		size += (16 + bl->len[i] + 12 + 15) / 16 * 16;
	f = calloc(1, size);
	le32w(f, 0x506d7052);
	le32w(f + 8, 1);
	le32w(f + 12, (uint32_t)npages);
	le32w(f + 16, (uint32_t)bl->n + 1);
	for (i = 2; i < npages * slots_per_page; i++)
		le32w(f + i * 16, 0x746f6c53);
	off = npages * 4096;
	for (i = 0; i < bl->n; i++) {
		size_t blk = (16 + bl->len[i] + 12 + 15) / 16, sz = blk * 16;
		unsigned char *b = f + off, *s = f + (i + 2) * 16;

		le32w(s + 4, (uint32_t)i + 1);
		le32w(s + 8, (uint32_t)(off / 16));
		le32w(s + 12, (uint32_t)blk);
		le32w(b, 0x53626c42);
		le32w(b + 4, (uint32_t)i + 1);
		le32w(b + 12, (uint32_t)bl->len[i]);
		memcpy(b + 16, bl->v[i], bl->len[i]);
		le32w(b + sz - 12, t_adler(b, sz - 12));
		le32w(b + sz - 8, (uint32_t)bl->len[i]);
		le32w(b + sz - 4, 0x45626c42);
		off += sz;
	}
	*outlen = size;
	return f;
}

static void test_rpm_ndb(void **state)
{
	char path[4096], *dir, *ours, *oracle, *a, *b;
	struct blobs bl = { 0 };
	unsigned char *file, *ndb;
	size_t len, nlen, i;
	struct ut_err err;
	struct pkg_db *db;

	need_rpm();
	snprintf(path, sizeof(path), "%s/centos7-plain/Packages", GO_RPMDB);
	file = slurp(path, &len);
	assert_int_equal(pkg_bdb_foreach(file, len, collect, &bl, &err), 0);
	ndb = make_ndb(&bl, &nlen);
	dir = tu_tmpdir();
	write_file(dir, "var/lib/rpm/Packages.db", ndb, nlen);
	db = must_read(dir);
	assert_string_equal(db->db_path, "var/lib/rpm/Packages.db");
	ours = rpm_line_list(db);
	oracle = tu_sh_out("rpm --dbpath '%s/centos7-plain' --define '_db_backend bdb_ro' " RPM_QA,
			   GO_RPMDB);
	a = sorted(ours);
	b = sorted(oracle);
	assert_string_equal(a, b);
	pkg_db_free(db);
	/* A flipped byte in a blob breaks its adler32: a clean error. */
	ndb[4096 + 100] ^= 0x55;
	write_file(dir, "var/lib/rpm/Packages.db", ndb, nlen);
	{
		int rc;

		db = read_root(dir, &err, &rc);
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err.msg, "Packages.db"));
	}
	for (i = 0; i < bl.n; i++)
		free(bl.v[i]);
	free(bl.v);
	free(bl.len);
	free(file);
	free(ndb);
	free(a);
	free(b);
	free(ours);
	free(oracle);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* BerkeleyDB files written by BerkeleyDB itself (db_load), hash and
 * btree, 512-byte pages so most values go to overflow chains: every value
 * comes back exactly once, record 0 is skipped. */
static int collect_sum(void *ctx, const unsigned char *blob, size_t len, struct ut_err *err)
{
	uint64_t *acc = ctx;
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ blob[i]) * 1099511628211ull;
	acc[0]++;
	acc[1] += h;
	acc[2] += len;
	return 0;
}

static void test_bdb_db_load(void **state)
{
	static const char *const types[] = { "hash", "btree" };
	const char *tool = tu_have("db5.3_load") ? "db5.3_load" : "db_load";
	char *dir = tu_tmpdir(), path[4200];
	uint64_t want[3] = { 0, 0, 0 };
	size_t t, i, j;
	unsigned int seed = 7;

	if (!tu_have(tool))
		tu_skip("db_load (Debian db-util) is not installed");
	for (t = 0; t < 2; t++) {
		uint64_t got[3] = { 0, 0, 0 };
		struct ut_err err;
		unsigned char *file;
		size_t len;
		FILE *f;

		snprintf(path, sizeof(path), "%s/in.%s", dir, types[t]);
		f = fopen(path, "w");
		fprintf(f, "VERSION=3\nformat=bytevalue\ntype=%s\ndb_pagesize=512\nHEADER=END\n",
			types[t]);
		fprintf(f, " 00000000\n 2a000000\n"); /* rpm's record 0 */
		want[0] = want[1] = want[2] = 0;
		/* Keys in a scrambled order (37 generates Z/61): btree items
		 * then sit on their pages out of offset order. */
		for (i = 1; i <= 60; i++) {
			size_t key = i * 37 % 61, n = key * 97 % 3000 + 1;
			unsigned char *v = malloc(n);

			for (j = 0; j < n; j++)
				v[j] = (unsigned char)rand_r(&seed);
			fprintf(f, " %02x%02x%02x%02x\n ", (unsigned)(key & 0xff), (unsigned)(key >> 8), 0, 0);
			for (j = 0; j < n; j++)
				fprintf(f, "%02x", v[j]);
			fprintf(f, "\n");
			collect_sum(want, v, n, NULL);
			free(v);
		}
		fprintf(f, "DATA=END\n");
		fclose(f);
		assert_int_equal(tu_sh("cd '%s' && %s -f in.%s db.%s", dir, tool, types[t], types[t]), 0);
		snprintf(path, sizeof(path), "%s/db.%s", dir, types[t]);
		file = slurp(path, &len);
		if (pkg_bdb_foreach(file, len, collect_sum, got, &err) < 0)
			fail_msg("%s: %s", types[t], err.msg);
		assert_int_equal(got[0], 60);
		assert_int_equal(got[1], want[1]);
		assert_int_equal(got[2], want[2]);
		free(file);
	}
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- apk and pacman: careful text fixtures ------------------------------ */

/* Shaped after a real Alpine 3.x lib/apk/db/installed (apk-tools'
 * apk_db_write_fdb field order). Z: of busybox's bin/busybox is the Q1
 * (sha1) of the bytes "busybox\n". */
static const char apk_installed[] =
	"C:Q1gJHFnzQ2dWGqYjHLFAEIVQyw9l4=\n"
	"P:musl\n"
	"V:1.2.4-r2\n"
	"A:x86_64\n"
	"S:383152\n"
	"I:622592\n"
	"T:the musl c library (libc) implementation\n"
	"U:https://musl.libc.org/\n"
	"L:MIT\n"
	"o:musl\n"
	"m:Timo Teräs <timo.teras@iki.fi>\n"
	"t:1698256400\n"
	"c:8f29b53b5d2a1b8cbbf8b2e3ba2b2c0f0f6e1b19\n"
	"p:so:libc.musl-x86_64.so.1=1\n"
	"F:lib\n"
	"R:ld-musl-x86_64.so.1\n"
	"a:0:0:755\n"
	"Z:Q1pcr0CqOs0WbcAkzXVdMJ9KbN1+c=\n"
	"R:libc.musl-x86_64.so.1\n"
	"a:0:0:777\n"
	"Z:Q1yFl2H4IT0YZvQNHqmWIYzMpbGXI=\n"
	"\n"
	"C:Q1lRhHGBWkDQ8w8Hnn9C1T0FaAkB8=\n"
	"P:busybox\n"
	"V:1.36.1-r15\n"
	"A:x86_64\n"
	"S:505536\n"
	"I:946176\n"
	"T:Size optimized toolbox of many common UNIX utilities\n"
	"D:so:libc.musl-x86_64.so.1 !busybox-static\n"
	"p:cmd:busybox=1.36.1-r15 /bin/sh cmd:sh=1.36.1-r15\n"
	"r:busybox-initscripts\n"
	"F:bin\n"
	"R:busybox\n"
	"a:0:0:755\n"
	"Z:Q10fHUncRM1a23Y6xx2/O0uVBz+Qk=\n"
	"F:etc\n"
	"R:securetty\n"
	"Z:Q1mB95Hhc4mkz9vMtbrpCdy7K8HZM=\n"
	"\n"
	"P:alpine-baselayout\n"
	"V:3.4.3-r2\n"
	"A:x86_64\n"
	"D:alpine-baselayout-data=3.4.3-r2 /bin/sh\n"
	"F:etc\n"
	"R:motd\n"
	"Z:Q1XmGLBtcJHeoWHULRLcUDgGzl4MQ=\n"
	"\n"
	"P:alpine-baselayout-data\n"
	"V:3.4.3-r2\n"
	"A:x86_64\n"
	"\n";

/* apk's fuzzy constraints: "~1.2" is met by 1.2.9 (its tokens begin with
 * 1 and .2), not by 1.20 or 1.3; ">~" and "<~" compare in that order. */
static void test_apk_fuzzy_deps(void **state)
{
	char *dir = tu_tmpdir();
	struct pkg_db *db;
	struct pkg_graph *g;
	struct ut_err err;
	const struct pkg *app;

	(void)state;
	write_str(dir, "lib/apk/db/installed",
		  "P:app\nV:1-r0\nA:x86_64\nD:lib~1.2 tool>~2.0 old<~1 =~ odd=~0.9\n\n"
		  "P:broken\nV:1-r0\nA:x86_64\nD:lib~1.3 libx~1.2\n\n"
		  "P:lib\nV:1.2.9-r0\nA:x86_64\n\n"
		  "P:libx\nV:1.20-r0\nA:x86_64\n\n"
		  "P:tool\nV:2.1_rc1-r0\nA:x86_64\n\n"
		  "P:old\nV:0.9-r3\nA:x86_64\n\n"
		  "P:odd\nV:0.9.1-r0\nA:x86_64\n\n");
	db = must_read(dir);
	app = find_name(db, "app");
	assert_int_equal(app->deps[0].alts[0].rel, PKG_REL_FUZZY_EQ);
	assert_string_equal(app->deps[0].alts[0].version, "1.2");
	assert_int_equal(app->deps[1].alts[0].rel, PKG_REL_FUZZY_GE);
	assert_int_equal(app->deps[2].alts[0].rel, PKG_REL_FUZZY_LE);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	assert_true(has_edge(g, idx_of(db, "app"), idx_of(db, "lib")));
	assert_true(has_edge(g, idx_of(db, "app"), idx_of(db, "tool")));
	assert_true(has_edge(g, idx_of(db, "app"), idx_of(db, "old")));
	assert_true(has_edge(g, idx_of(db, "app"), idx_of(db, "odd")));
	/* lib~1.3 and libx~1.2 (1.20 is not 1.2...) stay unresolved */
	assert_false(has_edge(g, idx_of(db, "broken"), idx_of(db, "lib")));
	assert_false(has_edge(g, idx_of(db, "broken"), idx_of(db, "libx")));
	assert_int_equal(pkg_graph_unresolved(g), 2);
	pkg_graph_free(g);
	pkg_db_free(db);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

static void test_apk(void **state)
{
	char *dir = tu_tmpdir();
	struct pkg_db *db;
	const struct pkg *mu, *bb, *bl;
	struct pkg_graph *g;
	struct ut_err err;
	char *sha1;
	size_t i;

	write_str(dir, "lib/apk/db/installed", apk_installed);
	write_str(dir, "etc/apk/world", "alpine-baselayout\nbusybox>=1.30@edge\n");
	db = must_read(dir);
	assert_string_equal(db->format, "apk");
	assert_int_equal(db->n, 4);
	mu = find_name(db, "musl");
	bb = find_name(db, "busybox");
	bl = find_name(db, "alpine-baselayout");
	assert_string_equal(mu->display_version, "1.2.4-r2");
	assert_string_equal(mu->version, "1.2.4");
	assert_string_equal(mu->release, "r2");
	assert_string_equal(mu->arch, "x86_64");
	assert_int_equal(mu->manual, 0);
	assert_int_equal(bb->manual, 1);
	assert_int_equal(bl->manual, 1);
	assert_int_equal(mu->nfiles, 2);
	assert_string_equal(mu->files[0].path, "lib/ld-musl-x86_64.so.1");
	assert_int_equal(mu->files[0].kind, PKG_DIGEST_SHA1);
	/* Q1 base64 decodes to the sha1 computed by sha1sum. */
	sha1 = tu_sh_out("printf 'busybox\\n' | sha1sum | cut -d' ' -f1");
	sha1[40] = '\0';
	assert_string_equal(bb->files[0].path, "bin/busybox");
	assert_string_equal(bb->files[0].digest, sha1);
	free(sha1);
	assert_int_equal(bb->ndeps, 1); /* the !conflict is not a dependency */
	assert_string_equal(bb->deps[0].alts[0].name, "so:libc.musl-x86_64.so.1");
	assert_int_equal(bl->ndeps, 2);
	assert_int_equal(bl->deps[0].alts[0].rel, PKG_REL_EQ);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	assert_true(has_edge(g, idx_of(db, "busybox"), idx_of(db, "musl")));      /* so: */
	assert_true(has_edge(g, idx_of(db, "alpine-baselayout"), idx_of(db, "busybox"))); /* /bin/sh */
	assert_true(has_edge(g, idx_of(db, "alpine-baselayout"),
			     idx_of(db, "alpine-baselayout-data")));
	assert_int_equal(pkg_graph_unresolved(g), 0);
	check_graph_properties(db, g);
	{
		const size_t *r;

		assert_int_equal(pkg_graph_roots(g, &r), 1);
		assert_string_equal(db->v[r[0]].name, "alpine-baselayout");
	}
	for (i = 0; i < db->n; i++)
		assert_non_null(db->v[i].name);
	pkg_graph_free(g);
	pkg_db_free(db);
	/* "R:../x" and an "R:" naming a path are refused. */
	write_str(dir, "lib/apk/db/installed", "P:evil\nV:1-r0\nF:etc\nR:../../x\n");
	{
		int rc;

		db = read_root(dir, &err, &rc);
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err.msg, "lib/apk/db/installed"));
	}
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

static void test_pacman(void **state)
{
	char *dir = tu_tmpdir();
	struct pkg_db *db;
	const struct pkg *ba, *gl, *fs;
	struct pkg_graph *g;
	struct ut_err err;
	size_t i;

	write_str(dir, "var/lib/pacman/local/ALPM_DB_VERSION", "9\n");
	write_str(dir, "var/lib/pacman/local/bash-5.2.026-2/desc",
		  "%NAME%\nbash\n\n%VERSION%\n5.2.026-2\n\n%BASE%\nbash\n\n%DESC%\nThe GNU Bourne Again shell\n\n"
		  "%ARCH%\nx86_64\n\n%BUILDDATE%\n1708000000\n\n%INSTALLDATE%\n1709000000\n\n"
		  "%SIZE%\n9000000\n\n%LICENSE%\nGPL-3.0-or-later\n\n%VALIDATION%\npgp\n\n"
		  "%DEPENDS%\nreadline\nlibreadline.so=8-64\nglibc\nncurses\n\n"
		  "%OPTDEPENDS%\nbash-completion: for tab completion\n\n%PROVIDES%\nsh\n\n");
	write_str(dir, "var/lib/pacman/local/bash-5.2.026-2/files",
		  "%FILES%\netc/\netc/bash.bashrc\nusr/\nusr/bin/\nusr/bin/bash\nusr/bin/sh\n\n"
		  "%BACKUP%\netc/bash.bashrc\t027d6bd8f5f6a06b75bb7698cb478089\n\n");
	write_str(dir, "var/lib/pacman/local/glibc-2.39-1/desc",
		  "%NAME%\nglibc\n\n%VERSION%\n2.39-1\n\n%ARCH%\nx86_64\n\n%REASON%\n1\n\n"
		  "%DEPENDS%\nlinux-api-headers>=4.10\nfilesystem\n\n");
	write_str(dir, "var/lib/pacman/local/filesystem-1:2024.04.07-1/desc",
		  "%NAME%\nfilesystem\n\n%VERSION%\n1:2024.04.07-1\n\n%ARCH%\nany\n\n%REASON%\n1\n\n"
		  "%DEPENDS%\niana-etc\n\n");
	write_str(dir, "var/lib/pacman/local/readline-8.2.010-1/desc",
		  "%NAME%\nreadline\n\n%VERSION%\n8.2.010-1\n\n%ARCH%\nx86_64\n\n%REASON%\n1\n\n"
		  "%DEPENDS%\nglibc\nncurses\nlibncursesw.so=6-64\n\n%PROVIDES%\nlibreadline.so=8-64\n\n");
	db = must_read(dir);
	assert_string_equal(db->format, "pacman");
	assert_int_equal(db->n, 4);
	ba = find_name(db, "bash");
	gl = find_name(db, "glibc");
	fs = find_name(db, "filesystem");
	assert_int_equal(ba->manual, 1);
	assert_int_equal(gl->manual, 0);
	assert_int_equal(fs->epoch, 1);
	assert_string_equal(fs->version, "2024.04.07");
	assert_string_equal(fs->release, "1");
	assert_string_equal(ba->display_version, "5.2.026-2");
	assert_int_equal(ba->nfiles, 6);
	assert_string_equal(ba->files[0].path, "etc");
	for (i = 0; i < ba->nfiles; i++)
		if (!strcmp(ba->files[i].path, "etc/bash.bashrc")) {
			assert_true(ba->files[i].is_conffile);
			assert_string_equal(ba->files[i].conf_digest, "027d6bd8f5f6a06b75bb7698cb478089");
		}
	assert_int_equal(ba->nprovides, 1);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	assert_true(has_edge(g, idx_of(db, "bash"), idx_of(db, "readline")));
	assert_true(has_edge(g, idx_of(db, "glibc"), idx_of(db, "filesystem")));
	/* ncurses, libncursesw.so, linux-api-headers, iana-etc are absent. */
	assert_int_equal(pkg_graph_unresolved(g), 5);
	check_graph_properties(db, g);
	pkg_graph_free(g);
	pkg_db_free(db);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- hand-made dpkg graphs ---------------------------------------------- */

static struct pkg_db *status_db(const char *status, const char *dir)
{
	write_str(dir, "var/lib/dpkg/status", status);
	return must_read(dir);
}

#define ST(name, extra) \
	"Package: " name "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n" extra "\n"

static void test_graph_small(void **state)
{
	char *dir = tu_tmpdir();
	struct pkg_db *db;
	struct pkg_graph *g;
	struct ut_err err;
	const size_t *r, *c, *mem;
	size_t nr;

	/* a <-> b cycle, c depends on itself, d -> e -> f -> e (a chain into
	 * a cycle), g needs "x | y" where both x and y exist, h needs the
	 * virtual "mta" provided by i and j, k needs "l (>= 2)" but l is 1.0,
	 * m needs n:any, o is half-installed and so absent. */
	db = status_db(ST("a", "Depends: b\n") ST("b", "Pre-Depends: a\n") ST("c", "Depends: c\n")
		       ST("d", "Depends: e\n") ST("e", "Depends: f\n") ST("f", "Depends: e (>= 1.0)\n")
		       ST("g", "Depends: x | y\n") ST("x", "") ST("y", "")
		       ST("h", "Depends: mta\n") ST("i", "Provides: mta\n") ST("j", "Provides: mta (= 2)\n")
		       ST("k", "Depends: l (>= 2)\n") ST("l", "")
		       ST("m", "Depends: n:any (>= 1:0)\n") ST("n", "")
		       "Package: o\nStatus: install reinstreq half-installed\nVersion: 1\n\n",
		       dir);
	assert_int_equal(db->n, 16);
	assert_null(find_name(db, "o"));
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	check_graph_properties(db, g);
	assert_true(has_edge(g, idx_of(db, "a"), idx_of(db, "b")));
	assert_true(has_edge(g, idx_of(db, "b"), idx_of(db, "a")));
	assert_false(has_edge(g, idx_of(db, "c"), idx_of(db, "c")));
	assert_true(has_edge(g, idx_of(db, "g"), idx_of(db, "x")));
	assert_true(has_edge(g, idx_of(db, "g"), idx_of(db, "y")));
	assert_true(has_edge(g, idx_of(db, "h"), idx_of(db, "i")));
	assert_true(has_edge(g, idx_of(db, "h"), idx_of(db, "j")));
	assert_false(has_edge(g, idx_of(db, "k"), idx_of(db, "l")));
	/* n's version 1.0-1 has epoch 0 < 1: unsatisfied too. */
	assert_false(has_edge(g, idx_of(db, "m"), idx_of(db, "n")));
	assert_int_equal(pkg_graph_unresolved(g), 2);
	assert_int_equal(pkg_graph_component_of(g, idx_of(db, "e")),
			 pkg_graph_component_of(g, idx_of(db, "f")));
	assert_int_equal(pkg_graph_cycles(g, &c), 2); /* {a,b} and {e,f} */
	assert_int_equal(pkg_graph_component(g, c[0], &mem), 2);
	nr = pkg_graph_roots(g, &r);
	/* a (for {a,b}), c, d, g, h, k, l, m, n */
	{
		const char *want[] = { "a", "c", "d", "g", "h", "k", "l", "m", "n" };
		size_t i;

		assert_int_equal(nr, sizeof(want) / sizeof(want[0]));
		for (i = 0; i < nr; i++)
			assert_string_equal(db->v[r[i]].name, want[i]);
	}
	pkg_graph_free(g);
	pkg_db_free(db);

	/* Manual marks from apt's extended_states against the roots. */
	write_str(dir, "var/lib/apt/extended_states",
		  "Package: b\nArchitecture: amd64\nAuto-Installed: 1\n\n"
		  "Package: a\nArchitecture: amd64\nAuto-Installed: 1\n\n"
		  "Package: y\nArchitecture: amd64\nAuto-Installed: 0\n\n");
	db = status_db(ST("a", "Depends: b\n") ST("b", "Depends: a\n") ST("y", "Depends: a\n")
		       ST("z", ""), dir);
	assert_int_equal(find_name(db, "a")->manual, 0);
	assert_int_equal(find_name(db, "y")->manual, 1);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	{
		size_t *m1, *m2, n1, n2;

		nr = pkg_graph_roots(g, &r);
		assert_int_equal(nr, 2); /* y and z */
		assert_int_equal(pkg_graph_manual_diff(g, &m1, &n1, &m2, &n2, &err), 0);
		assert_int_equal(n1, 0);
		assert_int_equal(n2, 0);
		free(m1);
		free(m2);
	}
	pkg_graph_free(g);
	pkg_db_free(db);

	/* A chain 20000 long: the iterative Tarjan does not recurse. */
	{
		struct ut_buf s;
		size_t i;

		ut_buf_init(&s, 0);
		for (i = 0; i < 20000; i++)
			ut_buf_addf(&s, NULL, "Package: p%05zu\nStatus: install ok installed\n"
				    "Version: 1\nDepends: p%05zu\n\n", i, (i + 1) % 20000);
		db = status_db((char *)s.data, dir);
		assert_int_equal(pkg_graph_build(db, &g, &err), 0);
		assert_int_equal(pkg_graph_ncomponents(g), 1);
		assert_int_equal(pkg_graph_roots(g, &r), 1);
		assert_string_equal(db->v[r[0]].name, "p00000");
		pkg_graph_free(g);
		pkg_db_free(db);
		ut_buf_release(&s);
	}
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* Multi-Arch names and non-installed states on a hand-written admindir,
 * against dpkg-query reading the same files. */
static void test_dpkg_multiarch(void **state)
{
	char *dir = tu_tmpdir(), *oracle, *a, *b;
	struct pkg_db *db;
	struct ut_buf ours;
	size_t i;

	if (!tu_have("dpkg-query"))
		tu_skip("dpkg-query is not installed");
	write_str(dir, "var/lib/dpkg/status",
		  "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n"
		  "Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\n"
		  "Multi-Arch: same\nVersion: 2:1.0-1\n\n"
		  "Package: libfoo1\nStatus: hold ok installed\nArchitecture: i386\n"
		  "Multi-Arch: same\nVersion: 2:1.0-1\n\n"
		  "Package: tool\nStatus: install ok installed\nArchitecture: i386\nVersion: 3~beta\n"
		  "Depends: libfoo1 (>= 2:1.0)\n\n"
		  "Package: data\nStatus: install ok installed\nArchitecture: all\nMulti-Arch: foreign\n"
		  "Version: 0.1\n\n"
		  "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n"
		  "Conffiles:\n /etc/gone.conf 0123456789abcdef0123456789abcdef\n\n"
		  "Package: broken\nStatus: install reinstreq half-installed\nArchitecture: amd64\n"
		  "Version: 1\n\n");
	write_str(dir, "var/lib/dpkg/info/libfoo1:amd64.list", "/.\n/usr\n/usr/lib/x86_64-linux-gnu/libfoo.so.1\n");
	write_str(dir, "var/lib/dpkg/info/libfoo1:i386.list", "/.\n/usr\n/usr/lib/i386-linux-gnu/libfoo.so.1\n");
	write_str(dir, "var/lib/dpkg/info/tool.list", "/.\n/usr\n/usr/bin/tool\n");
	write_str(dir, "var/lib/dpkg/info/tool.md5sums",
		  "d41d8cd98f00b204e9800998ecf8427e  usr/bin/tool\n");
	write_str(dir, "var/lib/apt/extended_states",
		  "Package: libfoo1\nArchitecture: i386\nAuto-Installed: 1\n\n");
	db = must_read(dir);
	ut_buf_init(&ours, 0);
	for (i = 0; i < db->n; i++)
		ut_buf_addf(&ours, NULL, "%s %s %s\n", db->v[i].display_name,
			    db->v[i].display_version, db->v[i].arch);
	oracle = tu_sh_out("dpkg-query --admindir='%s/var/lib/dpkg' -W "
			   "-f '${db:Status-Abbrev} ${binary:Package} ${Version} ${Architecture}\\n' 2>/dev/null | "
			   "awk '$1 ~ /^[ih]i/ { print $2, $3, $4 }'", dir);
	a = sorted((char *)ours.data);
	b = sorted(oracle);
	assert_string_equal(a, b);
	assert_int_equal(db->n, 5);
	assert_int_equal(pkg_db_find(db, "libfoo1", "i386")->manual, 0);
	assert_int_equal(pkg_db_find(db, "libfoo1", "amd64")->manual, 1);
	assert_string_equal(pkg_db_find(db, "libfoo1", "i386")->files[1].path,
			    "usr/lib/i386-linux-gnu/libfoo.so.1");
	assert_string_equal(find_name(db, "tool")->files[1].digest, "d41d8cd98f00b204e9800998ecf8427e");
	{
		struct pkg_graph *g;
		struct ut_err err;

		/* An unqualified dependency on a Multi-Arch: same library
		 * is answered by the depender's arch only. */
		assert_int_equal(pkg_graph_build(db, &g, &err), 0);
		assert_true(has_edge(g, idx_of(db, "tool"),
				     (size_t)(pkg_db_find(db, "libfoo1", "i386") - db->v)));
		assert_false(has_edge(g, idx_of(db, "tool"),
				      (size_t)(pkg_db_find(db, "libfoo1", "amd64") - db->v)));
		pkg_graph_free(g);
	}
	free(a);
	free(b);
	free(oracle);
	ut_buf_release(&ours);
	pkg_db_free(db);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- the packages layer -------------------------------------------------- */

/* File contents by e->src_a, for a synthetic guest tree. */
static const char *const layer_bytes[] = { "tool binary\n", "read me\n", "edited conf\n",
					   "same binary\n" };

static int lb_open(void *ctx, const struct ut_entry *e, void **h, struct ut_err *err)
{
	size_t *pos = calloc(2, sizeof(*pos));

	(void)ctx;
	(void)err;
	pos[0] = (size_t)e->src_a;
	*h = pos;
	return 0;
}

static ssize_t lb_read(void *ctx, void *h, void *buf, size_t len, struct ut_err *err)
{
	size_t *pos = h;
	const char *s = layer_bytes[pos[0]];
	size_t n = strlen(s) - pos[1];

	(void)ctx;
	(void)err;
	if (n > len)
		n = len;
	memcpy(buf, s + pos[1], n);
	pos[1] += n;
	return (ssize_t)n;
}

static void lb_close(void *ctx, void *h)
{
	(void)ctx;
	free(h);
}

static const struct ut_content_ops lb_ops = { lb_open, lb_read, lb_close };

static struct ut_entry *lb_add(struct ut_tree *t, const char *path, enum ut_ftype type,
			       int src, int64_t mtime)
{
	struct ut_entry *e = ut_tree_add(t, path);

	e->type = type;
	e->mode = type == UT_DIR ? 0755 : 0644;
	e->mtime_sec = mtime;
	if (type == UT_REG) {
		e->src_a = (uint64_t)src;
		e->size = strlen(layer_bytes[src]);
	}
	return e;
}

static char *md5_of(const char *s)
{
	char *out = tu_sh_out("printf '%%s' '%s' | md5sum | cut -c1-32", s);

	out[strcspn(out, "\n")] = '\0';
	return out;
}

/* pkg_files_layer on a dpkg database (md5sums from md5sum) and a tree:
 * the added package's files that still match, their parents, nothing of the
 * base's package, the edited conffile left out and counted. */
static void test_files_layer(void **state)
{
	char *vdir = tu_tmpdir(), *bdir = tu_tmpdir(), *md5[4], *sums;
	struct ut_tree *vm = ut_tree_new(), *base = ut_tree_new(), *layer = NULL;
	struct pkg_db *vdb, *bdb;
	struct pkg_layer_stats st;
	struct ut_err err = { { 0 } };
	const char *want[] = { "usr", "usr/bin", "usr/bin/tool", "usr/share", "usr/share/doc",
			       "usr/share/doc/tool", "usr/share/doc/tool/README" };
	size_t i;

	(void)state;
	if (!tu_have("md5sum"))
		skip();
	for (i = 0; i < 4; i++)
		md5[i] = md5_of(layer_bytes[i]);
	write_str(vdir, "var/lib/dpkg/status",
		  ST("tool", "") "Package: same\nStatus: install ok installed\nArchitecture: amd64\n"
		  "Version: 1\n\n");
	write_str(bdir, "var/lib/dpkg/status",
		  "Package: same\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n");
	write_str(vdir, "var/lib/dpkg/info/tool.list",
		  "/.\n/usr\n/usr/bin\n/usr/bin/tool\n/usr/share\n/usr/share/doc\n/usr/share/doc/tool\n"
		  "/usr/share/doc/tool/README\n/etc/tool.conf\n/usr/bin/not-there\n");
	/* The conffile's recorded digest is of the packaged bytes, not these. */
	sums = ut_asprintf("%s  usr/bin/tool\n%s  usr/share/doc/tool/README\n"
			   "%s  etc/tool.conf\n", md5[0], md5[1], md5[3]);
	write_str(vdir, "var/lib/dpkg/info/tool.md5sums", sums);
	write_str(vdir, "var/lib/dpkg/info/same.list", "/.\n/usr\n/usr/bin\n/usr/bin/same\n");
	vdb = must_read(vdir);
	bdb = must_read(bdir);

	vm->content.ops = &lb_ops;
	lb_add(vm, "", UT_DIR, 0, 1);
	lb_add(vm, "etc", UT_DIR, 0, 1);
	lb_add(vm, "etc/tool.conf", UT_REG, 2, 500);
	lb_add(vm, "usr", UT_DIR, 0, 1);
	lb_add(vm, "usr/bin", UT_DIR, 0, 1);
	lb_add(vm, "usr/bin/same", UT_REG, 3, 100);
	lb_add(vm, "usr/bin/tool", UT_REG, 0, 300);
	lb_add(vm, "usr/share", UT_DIR, 0, 1);
	lb_add(vm, "usr/share/doc", UT_DIR, 0, 1);
	lb_add(vm, "usr/share/doc/tool", UT_DIR, 0, 1);
	lb_add(vm, "usr/share/doc/tool/README", UT_REG, 1, 200);
	ut_tree_sort(vm);
	lb_add(base, "", UT_DIR, 0, 1);
	lb_add(base, "usr", UT_DIR, 0, 1);
	lb_add(base, "usr/bin", UT_DIR, 0, 1);
	ut_tree_sort(base);

	assert_int_equal(pkg_files_layer(vm, NULL, vdb, bdb, base, &layer, &st, &err), 0);
	assert_int_equal(st.packages, 1);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, strlen(layer_bytes[0]) + strlen(layer_bytes[1]));
	assert_int_equal(st.files_changed, 1);
	assert_int_equal(st.files_unverifiable, 0);
	assert_int_equal(layer->n, sizeof(want) / sizeof(want[0]));
	assert_int_equal(st.entries, layer->n);
	for (i = 0; i < layer->n; i++) {
		assert_string_equal(layer->v[i].path, want[i]);
		/* Directories take the newest file's mtime; files keep theirs. */
		if (layer->v[i].type == UT_DIR)
			assert_int_equal(layer->v[i].mtime_sec, 300);
		else
			assert_true(layer->v[i].has_digest);
	}
	assert_ptr_equal(layer->content.ops, &lb_ops);
	ut_tree_free(layer);

	/* With no base database every package counts: same's file has no
	 * recorded digest. */
	assert_int_equal(pkg_files_layer(vm, NULL, vdb, NULL, base, &layer, &st, &err), 0);
	assert_int_equal(st.packages, 2);
	assert_int_equal(st.files_unverifiable, 1);
	ut_tree_free(layer);

	for (i = 0; i < 4; i++)
		free(md5[i]);
	free(sums);
	pkg_db_free(vdb);
	pkg_db_free(bdb);
	ut_tree_free(vm);
	ut_tree_free(base);
	tu_sh("rm -rf '%s' '%s'", vdir, bdir);
	free(vdir);
	free(bdir);
}

/* ---- versions and subtraction -------------------------------------------- */

static void test_vercmp(void **state)
{
	static const char *const pairs[][2] = {
		{ "1.0", "1.0" }, { "1.0", "1.0-1" }, { "1.0~rc1", "1.0" }, { "1:0.1", "2.0" },
		{ "1.0a", "1.0" }, { "1.0+b1", "1.0" }, { "2.10", "2.9" }, { "1.0-1", "1.0-1~bpo1" },
		{ "0:1.2", "1.2" }, { "1.002", "1.2" }, { "1.0.", "1.0" }, { "a", "b" },
		{ "1~~", "1~" }, { "1^git1", "1" }, { "1.0^", "1.0~" }, { "5.2.026-2", "5.2.15-1" },
		{ "2.3.1-3", "2.3.1-10" }, { "1_0", "1.0" }, { "1.0-r2", "1.0-r10" },
	};
	size_t i;
	int have_dpkg = tu_have("dpkg"), have_rpm = tu_have("rpm");

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const char *a = pairs[i][0], *b = pairs[i][1];

		if (have_dpkg) {
			int c = pkg_vercmp_str("deb", a, b);
			int lt = tu_sh("dpkg --compare-versions '%s' lt '%s' 2>/dev/null", a, b) == 0;
			int eq = tu_sh("dpkg --compare-versions '%s' eq '%s' 2>/dev/null", a, b) == 0;

			if (!strchr(a, '^') && !strchr(a, '_') && !strchr(b, '_')) {
				if ((c < 0) != lt || (c == 0) != eq)
					fail_msg("dpkg %s vs %s: ours %d, dpkg lt=%d eq=%d", a, b, c, lt, eq);
			}
		}
		if (have_rpm) {
			int c = pkg_vercmp_str("rpm", a, b);
			char *o;
			int r;

			/* rpm.ver compares E:V-R; a missing release sorts first
			 * there, while ours (a constraint match, as rpmdsCompare)
			 * skips it: compare only pairs with equal release use. */
			if (!strchr(a, '-') != !strchr(b, '-'))
				continue;
			o = tu_sh_out("rpm --eval \"%%{lua: local a, b = rpm.ver('%s'), rpm.ver('%s'); "
				      "print(a < b and -1 or (a == b and 0 or 1))}\"", a, b);
			r = atoi(o);
			if ((c > 0) - (c < 0) != r)
				fail_msg("rpm %s vs %s: ours %d, rpm.ver %d", a, b, c, r);
			free(o);
		}
	}
}

static void test_subtract(void **state)
{
	char *d1 = tu_tmpdir(), *d2 = tu_tmpdir();
	struct pkg_db *vm, *base;
	struct pkg_delta *dv;
	struct ut_err err;
	size_t n, i, k;
	static const struct {
		const char *name, *change;
	} want[] = {
		{ "added", "added" },     { "arch", "arch-changed" }, { "down", "downgraded" },
		{ "gone", "removed" },    { "tilde", "upgraded" },    { "up", "upgraded" },
	};

	vm = status_db("Package: same\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
		       "Package: up\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:0.9\n\n"
		       "Package: down\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-1\n\n"
		       "Package: tilde\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
		       "Package: arch\nStatus: install ok installed\nArchitecture: i386\nVersion: 1.0\n\n"
		       "Package: added\nStatus: install ok installed\nArchitecture: all\nVersion: 3\n\n",
		       d1);
	base = status_db("Package: same\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
			 "Package: up\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.0\n\n"
			 "Package: down\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-1.1\n\n"
			 "Package: tilde\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0~rc2\n\n"
			 "Package: arch\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n"
			 "Package: gone\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n",
			 d2);
	assert_int_equal(pkg_db_subtract(vm, base, &dv, &n, &err), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		const struct pkg *p = dv[i].vm ? dv[i].vm : dv[i].base;

		assert_string_equal(p->name, want[i].name);
		assert_string_equal(pkg_change_name(dv[i].change), want[i].change);
	}
	/* The added set: the deltas that have a VM side, in their order. */
	{
		size_t *set, nset, k = 0;

		assert_int_equal(pkg_db_added(vm, base, &set, &nset, &err), 0);
		for (i = 0; i < n; i++)
			if (dv[i].vm) {
				assert_true(k < nset);
				assert_int_equal(set[k++], (size_t)(dv[i].vm - vm->v));
			}
		assert_int_equal(k, nset);
		assert_int_equal(nset, 5); /* up, down, tilde, arch, added */
		free(set);
		assert_int_equal(pkg_db_added(vm, NULL, &set, &nset, &err), 0);
		assert_int_equal(nset, vm->n);
		for (i = 0; i < nset; i++)
			assert_int_equal(set[i], i);
		free(set);
	}
	free(dv);
	pkg_db_free(vm);
	pkg_db_free(base);
	tu_sh("rm -rf '%s' '%s'", d1, d2);
	free(d1);
	free(d2);

	/* rpm: the real CentOS 7 base against the bigger centos7-many, and
	 * centos7-httpd24 against centos8. Keys (gpg-pubkey) are only ever
	 * added or removed: another key id is another key, not an upgrade. */
	for (k = 0; k < 2 && tu_have("rpm") && !access(GO_RPMDB "/centos7-many/Packages", R_OK);
	     k++) {
		static const struct {
			const char *vm, *base;
			size_t keys_added, keys_removed;
		} pairs[] = { { "centos7-many", "centos7-plain", 1, 0 },
			      { "centos7-httpd24", "centos8-modularitylabel", 3, 1 } };
		char *r1 = rpm_root(pairs[k].vm), *r2 = rpm_root(pairs[k].base);
		size_t added = 0, removed = 0, changed = 0, kadded = 0, kremoved = 0;

		vm = must_read(r1);
		base = must_read(r2);
		assert_int_equal(pkg_db_subtract(vm, base, &dv, &n, &err), 0);
		for (i = 0; i < n; i++) {
			if (dv[i].change == PKG_ADDED)
				added++;
			else if (dv[i].change == PKG_REMOVED)
				removed++;
			else
				changed++;
			if (dv[i].change == PKG_UPGRADED)
				assert_true(pkg_vercmp("rpm", dv[i].vm, dv[i].base) > 0);
			if ((dv[i].vm ? dv[i].vm : dv[i].base)->is_key) {
				assert_true(dv[i].change == PKG_ADDED || dv[i].change == PKG_REMOVED);
				kadded += dv[i].change == PKG_ADDED;
				kremoved += dv[i].change == PKG_REMOVED;
			}
		}
		assert_int_equal(kadded, pairs[k].keys_added);
		assert_int_equal(kremoved, pairs[k].keys_removed);
		/* Every VM package is in the base, changed, or added. */
		{
			size_t unchanged = 0;

			for (i = 0; i < vm->n; i++) {
				const struct pkg *b = pkg_db_find(base, vm->v[i].name, vm->v[i].arch);

				if (b && !pkg_vercmp("rpm", &vm->v[i], b))
					unchanged++;
			}
			assert_int_equal(unchanged + added + changed, vm->n);
		}
		fprintf(stderr, "%s minus %s: %zu added, %zu removed, %zu changed\n", pairs[k].vm,
			pairs[k].base, added, removed, changed);
		free(dv);
		pkg_db_free(vm);
		pkg_db_free(base);
		tu_sh("rm -rf '%s' '%s'", r1, r2);
		free(r1);
		free(r2);
	}
}

/* ---- the host-directory source ------------------------------------------ */

static void test_source_dir(void **state)
{
	char *dir = tu_tmpdir(), *outside = tu_tmpdir(), p[4300];
	struct pkg_source *src;
	struct ut_buf b;
	struct ut_err err;
	char **names;
	size_t n;

	write_str(outside, "secret", "host file\n");
	write_str(dir, "etc/real", "guest file\n");
	write_str(dir, "usr/lib/os-release", "ID=test\n");
	snprintf(p, sizeof(p), "%s/secret", outside);
	/* Absolute, relative-escaping and looping links all stay inside. */
	assert_int_equal(tu_sh("cd '%s' && ln -s '%s' abs && ln -s ../../../../../../../%s/secret rel && "
			       "ln -s /usr/lib/os-release etc/os-release && ln -s loop1 loop2 && "
			       "ln -s loop2 loop1 && ln -s /etc lnk", dir, p, outside + 1), 0);
	assert_int_equal(pkg_source_dir_new(dir, &src, &err), 0);
	ut_buf_init(&b, 0);
	assert_int_equal(src->ops->read_file(src->ctx, "abs", &b, &err), 0);
	assert_int_equal(src->ops->read_file(src->ctx, "rel", &b, &err), 0);
	assert_int_equal(src->ops->read_file(src->ctx, "etc/os-release", &b, &err), 1);
	assert_string_equal((char *)b.data, "ID=test\n");
	ut_buf_reset(&b);
	assert_int_equal(src->ops->read_file(src->ctx, "lnk/../lnk/real", &b, &err), 1);
	assert_string_equal((char *)b.data, "guest file\n");
	assert_int_equal(src->ops->read_file(src->ctx, "loop1", &b, &err), -1);
	assert_non_null(strstr(err.msg, "symbolic links"));
	assert_int_equal(src->ops->read_file(src->ctx, "missing/file", &b, &err), 0);
	assert_int_equal(src->ops->read_file(src->ctx, "etc", &b, &err), -1);
	assert_int_equal(src->ops->list_dir(src->ctx, "lnk", &names, &n, &err), 1);
	assert_int_equal(n, 2);
	while (n--)
		free(names[n]);
	free(names);
	ut_buf_release(&b);
	pkg_source_free(src);
	pkg_source_free(NULL);
	tu_sh("rm -rf '%s' '%s'", dir, outside);
	free(dir);
	free(outside);
}

/* ---- hostile input ------------------------------------------------------- */

static void expect_error(const char *dir, const char *needle)
{
	struct ut_err err;
	struct pkg_db *db;
	int rc;

	memset(&err, 0, sizeof(err));
	db = read_root(dir, &err, &rc);
	if (rc != -1)
		fail_msg("expected an error containing \"%s\", got rc %d", needle, rc);
	assert_null(db);
	assert_null(strchr(err.msg, '\n'));
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_hostile_dpkg(void **state)
{
	char *dir = tu_tmpdir();
	struct ut_buf big;
	struct pkg_db *db;
	struct ut_err err;
	size_t i;
	int rc;
	static const char good[] =
		"Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.0-1\n"
		"Depends: b (>= 1.0) | c, d:any\nConffiles:\n /etc/a.conf 0123456789abcdef0123456789abcdef\n"
		"Description: x\n more\n\nPackage: b\nStatus: install ok installed\nVersion: 1\n";

	/* Every truncation of a valid status file: a result or a clean error. */
	for (i = 0; i <= sizeof(good) - 1; i++) {
		write_file(dir, "var/lib/dpkg/status", good, i);
		db = read_root(dir, &err, &rc);
		assert_true(rc == 1 || rc == -1);
		pkg_db_free(db);
	}
	/* A 64 MiB field. */
	ut_buf_init(&big, 0);
	ut_buf_addstr(&big, "Package: huge\nStatus: install ok installed\nVersion: 1\nDescription: ", NULL);
	for (i = 0; i < 64; i++) {
		char mb[1 << 20];

		memset(mb, 'x', sizeof(mb));
		ut_buf_add(&big, mb, sizeof(mb), NULL);
	}
	ut_buf_addstr(&big, "\nDepends: ", NULL);
	for (i = 0; i < 100000; i++)
		ut_buf_addstr(&big, "a|", NULL);
	ut_buf_addstr(&big, "z\n", NULL);
	write_file(dir, "var/lib/dpkg/status", big.data, big.len);
	ut_buf_release(&big);
	db = read_root(dir, &err, &rc);
	assert_int_equal(rc, 1);
	assert_int_equal(db->v[0].deps[0].nalts, 100001);
	pkg_db_free(db);
	/* Malformed lines and constraints. */
	write_str(dir, "var/lib/dpkg/status", " leading continuation\n");
	expect_error(dir, "var/lib/dpkg/status: line 1");
	write_str(dir, "var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nDepends: b (>= \n");
	expect_error(dir, "package a");
	write_str(dir, "var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nDepends: (= 1)\n");
	expect_error(dir, "no name");
	/* A .list with "../" in it. */
	write_str(dir, "var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n");
	write_str(dir, "var/lib/dpkg/info/a.list", "/.\n/etc\n/etc/../../host\n");
	expect_error(dir, "var/lib/dpkg/info/a.list: path \"/etc/../../host\" has a \"..\" component");
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

static int count_blob(void *ctx, const unsigned char *blob, size_t len, struct ut_err *err)
{
	struct pkg p;

	if (pkg_rpm_header_parse(blob, len, &p, err) == 0)
		pkg_release(&p);
	(*(size_t *)ctx)++;
	return 0;
}

static void test_hostile_rpm(void **state)
{
	char path[4096], *dir = tu_tmpdir();
	unsigned char *file, *copy, hdr[64];
	size_t len, i, cnt;
	struct ut_err err;
	struct pkg p;
	unsigned int seed = 12345;

	need_rpm();
	snprintf(path, sizeof(path), "%s/centos7-plain/Packages", GO_RPMDB);
	file = slurp(path, &len);
	copy = malloc(len);

	/* Truncated: the meta page claims more pages than there are. */
	assert_int_equal(pkg_bdb_foreach(file, len / 2, count_blob, &cnt, &err), -1);
	assert_non_null(strstr(err.msg, "claims"));
	assert_int_equal(pkg_bdb_foreach(file, 100, count_blob, &cnt, &err), -1);
	/* Overflow chains: find an off-page item and point it at itself,
	 * then at page 0, then make its next pointer loop. */
	{
		uint32_t ps = file[20] | file[21] << 8 | file[22] << 16 | (uint32_t)file[23] << 24;
		uint32_t pg, ovf = 0;

		for (pg = 1; pg * ps < len && !ovf; pg++) {
			unsigned char *P = file + (size_t)pg * ps;

			if (P[25] == 7) { /* P_OVERFLOW with a successor */
				if (P[16] | P[17] | P[18] | P[19])
					ovf = pg;
			}
		}
		assert_true(ovf > 0);
		memcpy(copy, file, len);
		/* next_pgno of the overflow page points back at itself */
		copy[(size_t)ovf * ps + 16] = (unsigned char)ovf;
		copy[(size_t)ovf * ps + 17] = (unsigned char)(ovf >> 8);
		copy[(size_t)ovf * ps + 18] = (unsigned char)(ovf >> 16);
		copy[(size_t)ovf * ps + 19] = (unsigned char)(ovf >> 24);
		assert_int_equal(pkg_bdb_foreach(copy, len, count_blob, &cnt, &err), -1);
		memcpy(copy, file, len);
		/* next_pgno beyond the file */
		memset(copy + (size_t)ovf * ps + 16, 0xff, 4);
		assert_int_equal(pkg_bdb_foreach(copy, len, count_blob, &cnt, &err), -1);
		assert_non_null(strstr(err.msg, "bad page"));
	}
	/* Random byte flips in page headers and items: never a crash. */
	memcpy(copy, file, len);
	for (i = 0; i < 200; i++) {
		size_t k, pos[50];

		for (k = 0; k < 50; k++) {
			pos[k] = ((size_t)rand_r(&seed) * 65536u + (size_t)rand_r(&seed)) % len;
			copy[pos[k]] = (unsigned char)rand_r(&seed);
		}
		cnt = 0;
		(void)pkg_bdb_foreach(copy, len, count_blob, &cnt, &err);
		for (k = 50; k-- > 0;)
			copy[pos[k]] = file[pos[k]];
	}
	/* Headers whose index runs past the blob. */
	memset(hdr, 0, sizeof(hdr));
	hdr[3] = 200; /* 200 tags in a 64-byte blob */
	assert_int_equal(pkg_rpm_header_parse(hdr, sizeof(hdr), &p, &err), -1);
	assert_non_null(strstr(err.msg, "claims 200 tags"));
	hdr[3] = 1; /* one NAME tag whose string offset is past the data */
	hdr[7] = 4;
	hdr[8 + 2] = 0x03, hdr[8 + 3] = 0xe8; /* 1000 */
	hdr[8 + 7] = 6;
	hdr[8 + 11] = 9;
	hdr[8 + 15] = 1;
	assert_int_equal(pkg_rpm_header_parse(hdr, 8 + 16 + 4, &p, &err), -1);
	assert_non_null(strstr(err.msg, "offset 9"));
	hdr[8 + 11] = 0; /* unterminated string */
	memset(hdr + 24, 'A', 4);
	assert_int_equal(pkg_rpm_header_parse(hdr, 8 + 16 + 4, &p, &err), -1);
	assert_non_null(strstr(err.msg, "unterminated"));
	hdr[8 + 7] = 4; /* int32 array with a huge count */
	hdr[8 + 12] = 0x7f;
	assert_int_equal(pkg_rpm_header_parse(hdr, 8 + 16 + 4, &p, &err), -1);
	/* Random headers cut from the real blobs. */
	for (i = 0; i < 2000; i++) {
		size_t off = ((size_t)rand_r(&seed) * 65536u + (size_t)rand_r(&seed)) % (len - 64);
		size_t l = (size_t)rand_r(&seed) % 4096;

		if (off + l > len)
			l = len - off;
		if (pkg_rpm_header_parse(file + off, l, &p, &err) == 0)
			pkg_release(&p);
	}
	/* sqlite garbage: the magic, then junk; and an empty database. */
	memset(copy, 0x5a, 8192);
	memcpy(copy, "SQLite format 3", 16);
	write_file(dir, "var/lib/rpm/rpmdb.sqlite", copy, 8192);
	expect_error(dir, "var/lib/rpm/rpmdb.sqlite: sqlite:");
	write_file(dir, "var/lib/rpm/rpmdb.sqlite", "junk", 4);
	expect_error(dir, "not an sqlite database");
	assert_int_equal(tu_sh("rm '%s/var/lib/rpm/rpmdb.sqlite' && command -v sqlite3 >/dev/null || exit 0; "
			       "sqlite3 '%s/var/lib/rpm/rpmdb.sqlite' \"CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB); "
			       "INSERT INTO Packages VALUES(1, X'0000ffff00000010');\"", dir, dir), 0);
	if (!access(path, R_OK) && tu_have("sqlite3"))
		expect_error(dir, "claims 65535 tags");
	/* ndb with a slot pointing outside the file. */
	tu_sh("rm -rf '%s/var'", dir);
	memset(copy, 0, 8192);
	le32w(copy, 0x506d7052);
	le32w(copy + 12, 1);
	for (i = 2; i < 256; i++)
		le32w(copy + i * 16, 0x746f6c53);
	le32w(copy + 32 + 4, 1);
	le32w(copy + 32 + 8, 0xfffffff0);
	le32w(copy + 32 + 12, 4);
	write_file(dir, "var/lib/rpm/Packages.db", copy, 8192);
	expect_error(dir, "out of bounds");
	free(copy);
	free(file);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* ---- hostile graphs (bench/gen-dpkg-db.sh) ----------------------------- */

static struct pkg_db *generated_db(const char *kind, size_t n, char **dir)
{
	*dir = tu_tmpdir();
	assert_int_equal(tu_sh("'%s/bench/gen-dpkg-db.sh' %s %zu '%s'", VM2OCI_SOURCE_DIR, kind, n,
			       *dir), 0);
	return must_read(*dir);
}

static void drop_generated(struct pkg_db *db, char *dir)
{
	pkg_db_free(db);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
}

/* One SCC of all n packages: one cycle, one root (the first name). */
static void assert_one_scc(const struct pkg_db *db, const struct pkg_graph *g)
{
	const size_t *r, *c, *mem;

	assert_int_equal(pkg_graph_ncomponents(g), 1);
	assert_int_equal(pkg_graph_cycles(g, &c), 1);
	assert_int_equal(pkg_graph_component(g, c[0], &mem), db->n);
	assert_int_equal(pkg_graph_roots(g, &r), 1);
	assert_string_equal(db->v[r[0]].name, "p000000");
	assert_int_equal(pkg_graph_unresolved(g), 0);
}

/* Every other package as the subset: its first member is its one root. */
static void assert_subset_one_root(const struct pkg_db *db, const struct pkg_graph *g)
{
	size_t *set = malloc(db->n * sizeof(*set)), nset = 0, *r, i;

	for (i = 1; i < db->n; i += 2)
		set[nset++] = i;
	assert_int_equal(pkg_graph_subset_roots(g, set, nset, &r), 1);
	assert_string_equal(db->v[r[0]].name, "p000001");
	free(r);
	free(set);
}

/*
 * The shapes that made the old code cubic or quadratic (issue: 5,000
 * packages providing and depending on one virtual name took 184 s): n = 5000
 * must take well under a second each, and give the right answer.
 */
static void test_graph_hostile(void **state)
{
	static const char *const one_scc[] = { "virtual", "cycle", "dense" };
	const size_t n = 5000;
	struct pkg_graph *g;
	struct ut_err err;
	struct pkg_db *db;
	char *dir;
	size_t k, i, *to, nto, *set, nset, *r;
	const size_t *c;

	(void)state;
	for (k = 0; k < sizeof(one_scc) / sizeof(one_scc[0]); k++) {
		double t0;

		db = generated_db(one_scc[k], n, &dir);
		assert_int_equal(db->n, n);
		t0 = ut_now();
		assert_int_equal(pkg_graph_build(db, &g, &err), 0);
		assert_one_scc(db, g);
		assert_subset_one_root(db, g);
		fprintf(stderr, "%s n=%zu: graph, roots and subset roots in %.3f s\n", one_scc[k], n,
			ut_now() - t0);
		nto = pkg_graph_successors(g, 0, &to);
		if (!strcmp(one_scc[k], "virtual")) {
			/* Through the provider group: everyone but itself. */
			assert_int_equal(nto, n - 1);
			assert_int_equal(to[0], 1);
		} else if (!strcmp(one_scc[k], "cycle")) {
			assert_int_equal(nto, 1);
			assert_int_equal(to[0], 1);
		} else {
			/* p1..p8 and the even providers of v (p0 is itself). */
			assert_int_equal(nto, 8 + n / 2 - 1 - 4);
		}
		free(to);
		pkg_graph_free(g);
		drop_generated(db, dir);
	}
	/* star: the odd packages depend on v that the even ones provide. */
	db = generated_db("star", n, &dir);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	assert_int_equal(pkg_graph_cycles(g, &c), 0);
	assert_int_equal(pkg_graph_ncomponents(g), n);
	assert_int_equal(pkg_graph_roots(g, &c), n / 2);
	for (i = 0; i < n / 2; i++)
		assert_int_equal(c[i] % 2, 1);
	set = malloc(n * sizeof(*set));
	for (i = nset = 0; i < n; i += 2)
		set[nset++] = i;
	assert_int_equal(pkg_graph_subset_roots(g, set, nset, &r), n / 2); /* none reaches another */
	free(r);
	for (i = nset = 0; i < n; i++)
		set[nset++] = i;
	assert_int_equal(pkg_graph_subset_roots(g, set, nset, &r), n / 2);
	for (i = 0; i < n / 2; i++)
		assert_int_equal(r[i], 2 * i + 1);
	free(r);
	free(set);
	pkg_graph_free(g);
	drop_generated(db, dir);
}

/* The root set's properties hold through provider groups (small n: the
 * property check expands every group). */
static void test_graph_groups_properties(void **state)
{
	static const char *const kinds[] = { "virtual", "dense", "star" };
	struct pkg_graph *g;
	struct ut_err err;
	struct pkg_db *db;
	char *dir;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		db = generated_db(kinds[k], 300, &dir);
		assert_int_equal(pkg_graph_build(db, &g, &err), 0);
		check_graph_properties(db, g);
		pkg_graph_free(g);
		drop_generated(db, dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_dir),
		cmocka_unit_test(test_vercmp),
		cmocka_unit_test(test_graph_small),
		cmocka_unit_test(test_dpkg_multiarch),
		cmocka_unit_test(test_subtract),
		cmocka_unit_test(test_files_layer),
		cmocka_unit_test(test_apk),
		cmocka_unit_test(test_apk_fuzzy_deps),
		cmocka_unit_test(test_pacman),
		cmocka_unit_test(test_hostile_dpkg),
		cmocka_unit_test(test_hostile_rpm),
		cmocka_unit_test(test_rpm_sqlite),
		cmocka_unit_test(test_rpm_ndb),
		cmocka_unit_test(test_bdb_db_load),
		cmocka_unit_test(test_rpm_bdb),
		cmocka_unit_test(test_dpkg_real),
		cmocka_unit_test(test_dpkg_graph_real),
		cmocka_unit_test(test_graph_hostile),
		cmocka_unit_test(test_graph_groups_properties),
	};

	return cmocka_run_group_tests_name("packages: database readers and roots", tests, NULL, NULL);

}
