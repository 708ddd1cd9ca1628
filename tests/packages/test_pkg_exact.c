/*
 * Package exactness and the SBOM writer, against real peers:
 *
 *   apk versions    apk-tools' own test vectors (test/unit/version.data)
 *   rpm rich deps   parsed groups; the CentOS 8 rpmdb's real rich requires
 *                   in the graph, with rpm itself naming what satisfies them
 *   pacman mtree    made by bsdtar exactly as makepkg makes it, digests
 *                   checked against sha256sum
 *   SBOM            purls, determinism, licenses, dependency edges
 */
#include "packages.h"
#include "testutil.h"

#define GO_RPMDB "/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata"

static void write_str(const char *dir, const char *rel, const char *s)
{
	char path[4096];
	FILE *f;

	assert_int_equal(tu_sh("mkdir -p \"$(dirname '%s/%s')\"", dir, rel), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
	fclose(f);
}

static struct pkg_db *read_root(const char *root)
{
	struct ut_err err = { { 0 } };
	struct pkg_source *src;
	struct pkg_db *db = NULL;

	assert_int_equal(pkg_source_dir_new(root, &src, &err), 0);
	if (pkg_db_read(src, &db, &err) != 1)
		fail_msg("%s: %s", root, err.msg);
	pkg_source_free(src);
	return db;
}

/* ---- apk versions -------------------------------------------------------- */

/* Lines of apk-tools' test/unit/version.data: "a op b" comparisons, "v"
 * valid, "!v" invalid. A cross-section: digits, letters, every suffix,
 * suffix numbers, leading zeros, ~hash, -rN, invalid forms. */
static const char *const apk_vectors[] = {
	"2.34 > 0.1.0_alpha", "23_foo > 4_beta", "1.0 < 1.0bc", "0.1.0_alpha = 0.1.0_alpha",
	"0.1.0_alpha < 0.1.3_alpha", "0.1.0_alpha2 > 0.1.0_alpha", "0.1.0_alpha < 2.2.39-r1",
	"2.2.39-r1 > 1.0.4-r3", "1.0.4-r3 < 1.0.4-r4", "1.0.4-r4 < 1.6", "1.1 > 1.1_alpha1",
	"1.2.1 > 1.2", "1.2 < 1.3_alpha", "1.3_alpha < 1.3_alpha2", "0.7.0 < 0.8_beta1",
	"0.8_beta1 < 0.8_beta2", "3.10.18-r1 > 2.3.0b-r1", "2.3.0b-r1 < 2.3.0b-r2",
	"2.3.0b-r4 > 0.12.1", "0.12.3 > 0.12", "0.12 < 0.13_beta1", "1.2.11 < 1.2.12.1",
	"0.2.0-r1 = 0.2.0-r1", "0.2.0-r1 < 3.1_p16", "3.1_p16 < 3.1_p17", "3.1_p17 > 1.06-r6",
	"1.06-r6 < 006", "006 > 1.0.0", "1.2.2-r1 > 1.2.2", "9.3.4-r2 > 9.3.4",
	"1.2.9.1-r1 > 1.2.9.1", "1.3-r0 < 1.3.1-r0", "1.3_pre1-r1 < 1.3.2",
	"1.0_p10-r0 > 1.0_p9-r0", "0.1.0_alpha_pre2 < 0.1.0_alpha",
	"1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0", "6.0_pre1 < 6.0",
	"6.0_p1 > 6.0", "8.2.0 < 8.2.001", "8.2.0015 < 8.2.002", "1.0~1234 < 1.0~2345",
	"1.0~1234-r1 < 1.0~2345-r0", "1.0~1234-r1 > 1.0~1234-r0",
	/* rpmvercmp gets these wrong: suffix ranks and leading zeros */
	"1.0_rc1 < 1.0", "1.0_cvs1 > 1.0", "1.0_git20240101 > 1.0_svn1", "1.0_hg1 > 1.0_git1",
	"1.0_p1 > 1.0_hg1", "1.0_beta > 1.0_alpha", "1.0_pre > 1.0_beta", "1.0_rc > 1.0_pre",
	"1.0a < 1.0b", "1.0z < 1.0.1", "1.01 < 1.1",
	"1.2", "0.1_pre2", "0.1_pre2~1234abcd", "0.1_p1_pre2", "0.1_alpha1_pre2",
	"0.1_git20240101_pre1", "!", "!0.1bc", "!0.1bc1", "!0.1a1", "!0.1a.1", "!0.1_pre2~",
	"!0.1_pre2~1234xbcd", "!0.1_pre2~1234abcd_pre1", "!0.1_pre2-r1~1234xbcd", "!0.1_foobar",
	"!0.1_foobar1", "!0.1-pre1.1", "!0.1-r", "!0.1-r2_pre1", "!0.1-r2_p3_pre1", "!0.1-r2-r3",
	"!0.1-r2.1", "!.1", "!a", "!_pre1", "!-r1", "!0.1_", "!0.1_-r0", "!0.1__alpha",
	"!0.1_1_alpha",
};

static void test_apk_versions(void **state)
{
	size_t i, ncmp = 0;

	(void)state;
	for (i = 0; i < sizeof(apk_vectors) / sizeof(apk_vectors[0]); i++) {
		char a[64], op[4], b[64];
		const char *v = apk_vectors[i];

		if (sscanf(v, "%63s %3s %63s", a, op, b) == 3) {
			int c = pkg_apk_vercmp(a, b), r = pkg_apk_vercmp(b, a);
			int ok = op[0] == '<' ? c < 0 : op[0] == '>' ? c > 0 : c == 0;

			if (!ok || (c > 0) - (c < 0) != (r < 0) - (r > 0))
				fail_msg("apk: %s, got %d (reverse %d)", v, c, r);
			ncmp++;
		} else if (v[0] == '!') {
			if (pkg_apk_version_valid(v + 1))
				fail_msg("apk: \"%s\" should be invalid", v + 1);
		} else if (!pkg_apk_version_valid(v)) {
			fail_msg("apk: \"%s\" should be valid", v);
		}
	}
	/* apk's fuzzy "~": the version's tokens begin with the constraint's. */
	assert_int_equal(pkg_apk_vercmp_fuzzy("3.6.9", "3.6"), 0);
	assert_int_equal(pkg_apk_vercmp_fuzzy("3.6_pre1", "3.6"), 0);
	assert_int_equal(pkg_apk_vercmp_fuzzy("3.6.9_post1", "3.6"), 0);
	assert_int_equal(pkg_apk_vercmp_fuzzy("3.6.0", "3.6.0"), 0);
	assert_true(pkg_apk_vercmp_fuzzy("3.60", "3.6") > 0);
	assert_true(pkg_apk_vercmp_fuzzy("3.8", "3.8.1") < 0);
	assert_true(pkg_apk_vercmp_fuzzy("3.5", "3.6") < 0);
	assert_true(pkg_apk_vercmp("3.6.9", "3.6") > 0); /* not fuzzy: longer is greater */
	/* pkg_vercmp_str dispatches apk to these rules, not rpmvercmp. */
	assert_true(pkg_vercmp_str("apk", "1.0_rc1-r0", "1.0-r0") < 0);
	assert_true(pkg_vercmp_str("rpm", "1.0_rc1", "1.0") > 0);
	print_message("%zu apk-tools comparisons hold\n", ncmp);
}

/* The whole version.data of an apk-tools checkout, when one is named. */
static void test_apk_version_data(void **state)
{
	const char *path = getenv("VM2OCI_APK_VERSION_DATA");
	char line[512];
	size_t n = 0;
	FILE *f;

	(void)state;
	if (!path || !(f = fopen(path, "r")))
		tu_skip_case("VM2OCI_APK_VERSION_DATA (apk-tools' test/unit/version.data) not set");
	while (fgets(line, sizeof(line), f)) {
		char a[128], op[8], b[128], *hash = strchr(line, '#');

		if (hash)
			*hash = '\0';
		if (sscanf(line, "%127s %7s %127s", a, op, b) == 3) {
			int c;

			if (strchr(op, '~')) {
				/* fuzzy: "~" equal, ">~" / "<~" or equal, "!~" not equal */
				int want_eq = op[0] == '~', neg = op[0] == '!';

				c = pkg_apk_vercmp_fuzzy(a, b);
				if (neg ? c == 0 : want_eq ? c != 0 : op[0] == '>' ? c < 0 : c > 0)
					fail_msg("apk version.data: %s %s %s, fuzzy got %d", a, op, b, c);
				n++;
				continue;
			}
			if (op[0] == '!')
				continue;
			c = pkg_apk_vercmp(a, b);
			if (!(op[0] == '<' ? c < 0 : op[0] == '>' ? c > 0 : c == 0))
				fail_msg("apk version.data: %s %s %s, got %d", a, op, b, c);
			n++;
		} else if (sscanf(line, "%127s", a) == 1) {
			if (pkg_apk_version_valid(a[0] == '!' ? a + 1 : a) != (a[0] != '!'))
				fail_msg("apk version.data: validity of %s", a);
			n++;
		}
	}
	fclose(f);
	print_message("%zu lines of apk-tools' version.data hold\n", n);
}

/* ---- rpm rich dependencies ---------------------------------------------- */

static char *deps_text(const struct pkg *p)
{
	struct ut_buf b;

	ut_buf_init(&b, 0);
	ut_buf_addstr(&b, "", NULL);
	for (size_t i = 0; i < p->ndeps; i++) {
		ut_buf_addstr(&b, i ? "; " : "", NULL);
		if (p->deps[i].conditional)
			ut_buf_addstr(&b, "?", NULL);
		for (size_t j = 0; j < p->deps[i].nalts; j++) {
			const struct pkg_dep_alt *a = &p->deps[i].alts[j];
			static const char *const rel[] = { "", "<", "<=", "=", ">=", ">" };

			ut_buf_addf(&b, NULL, "%s%s%s%s", j ? "|" : "", a->name, rel[a->rel],
				    a->version ? a->version : "");
		}
	}
	return ut_buf_detach(&b, NULL);
}

static void test_rich_parse(void **state)
{
	static const struct {
		const char *in, *groups; /* NULL groups: an error */
	} cases[] = {
		{ "(a or b)", "a|b" },
		{ "(a and b)", "a; b" },
		{ "(a >= 1.2 and (b or c < 3))", "a>=1.2; b|c<3" },
		{ "(a or b or c)", "a|b|c" },
		{ "(gcc >= 8 with gcc < 9)", "gcc>=8|gcc<9" },
		{ "(a without b)", "a" },
		{ "(annobin if gcc)", "?annobin" },
		{ "(a if b else c)", "?a; ?c" },
		{ "(a unless b)", "?a" },
		{ "(a unless b else (c and d))", "?a; ?c; ?d" },
		{ "((a and b) or c)", "a|b|c" },
		{ "(  spaced   =  1  )", "spaced=1" },
		{ "(tight>=1.0 or b<2)", "tight>=1.0|b<2" },
		{ "(>= 1)", NULL },
		{ "(a or b and c)", NULL },
		{ "(a if b if c)", NULL },
		{ "(a or)", NULL },
		{ "(a >=)", NULL },
		{ "(a xor b)", NULL },
		{ "(a or b", NULL },
		{ "(a) trailing", NULL },
		{ "()", NULL },
		{ "a or b", NULL },
	};
	char deep[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ut_err err = { { 0 } };
		struct pkg p;
		int rc;

		memset(&p, 0, sizeof(p));
		rc = pkg_rpm_rich_parse(cases[i].in, &p, &err);
		if (!cases[i].groups) {
			if (rc == 0)
				fail_msg("%s: parsed, expected an error", cases[i].in);
			assert_true(err.msg[0]);
		} else {
			char *got;

			if (rc < 0)
				fail_msg("%s: %s", cases[i].in, err.msg);
			got = deps_text(&p);
			if (strcmp(got, cases[i].groups))
				fail_msg("%s: groups \"%s\", expected \"%s\"", cases[i].in, got,
					 cases[i].groups);
			free(got);
		}
		pkg_release(&p);
	}
	/* Nesting is bounded. */
	for (i = 0; i < 100; i++)
		deep[i] = '(';
	deep[100] = 'x';
	for (i = 0; i < 100; i++)
		deep[101 + i] = ')';
	deep[201] = '\0';
	{
		struct ut_err err = { { 0 } };
		struct pkg p;

		memset(&p, 0, sizeof(p));
		assert_int_equal(pkg_rpm_rich_parse(deep, &p, &err), -1);
		assert_non_null(strstr(err.msg, "deeper"));
		pkg_release(&p);
	}
}

/* CentOS 8's annobin requires "(gcc >= 8 with gcc < 9)" and
 * redhat-rpm-config "(annobin if gcc)": both reach the graph as edges to
 * the packages rpm itself lists as providing the names, and the "if" branch
 * is conditional. */
static void test_rich_rpmdb(void **state)
{
	static const char *const qa = "rpm --dbpath " GO_RPMDB "/centos8-modularitylabel "
				      "--define '_db_backend bdb_ro' -qa";
	struct pkg_db *db;
	struct pkg_graph *g = NULL;
	struct ut_err err = { { 0 } };
	char *root, *rich, *line;
	size_t n = 0;

	(void)state;
	if (!tu_have("rpm") || access(GO_RPMDB "/centos8-modularitylabel/Packages", R_OK))
		tu_skip_case("rpm and the go-rpmdb CentOS 8 testdata are needed");
	root = tu_tmpdir();
	assert_int_equal(tu_sh("mkdir -p %s/var/lib/rpm && cp %s/centos8-modularitylabel/Packages "
			       "%s/var/lib/rpm/", root, GO_RPMDB, root), 0);
	db = read_root(root);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	/* "package<TAB>provider" for each rich requirement's first name. */
	rich = tu_sh_out("%s --qf '[%%{=NAME}\t%%{REQUIRENAME}\n]' 2>/dev/null | awk -F'\t' "
			 "'substr($2, 1, 1) == \"(\" { split(substr($2, 2), w, \" \"); print $1 \"\t\" w[1] }' | "
			 "while IFS=\"$(printf '\t')\" read p n; do %s --qf '[%%{=NAME}\t%%{PROVIDENAME}\n]' "
			 "2>/dev/null | awk -F'\t' -v n=\"$n\" -v p=\"$p\" '$2 == n { print p \" \" $1 }'; "
			 "done", qa, qa);
	for (line = strtok(rich, "\n"); line; line = strtok(NULL, "\n")) {
		char who[128], prov[128];
		const struct pkg *p;
		size_t i, k, *to, nto, groups = 0;

		assert_int_equal(sscanf(line, "%127s %127s", who, prov), 2);
		p = pkg_db_find(db, who, NULL);
		assert_non_null(p);
		i = (size_t)(p - db->v);
		for (k = 0; k < p->ndeps; k++)
			groups += p->deps[k].conditional || p->deps[k].nalts > 1;
		assert_true(groups >= 1);
		nto = pkg_graph_successors(g, i, &to);
		for (k = 0; k < nto && strcmp(db->v[to[k]].name, prov); k++)
			;
		if (k == nto)
			fail_msg("%s: rpm's provider %s of a rich dependency has no edge", who, prov);
		print_message("%s -> %s (rich, %zu groups)\n", who, prov, groups);
		free(to);
		n++;
	}
	assert_int_equal(n, 2);
	assert_true(pkg_db_find(db, "redhat-rpm-config", NULL)->deps[0].conditional ||
		    pkg_db_find(db, "redhat-rpm-config", NULL)->ndeps > 1);
	free(rich);
	pkg_graph_free(g);
	pkg_db_free(db);
	tu_sh("rm -rf %s", root);
	free(root);
}

/* ---- pacman mtree --------------------------------------------------------- */

/* A pacman root whose mtree bsdtar wrote with makepkg's options; every
 * regular file's digest equals sha256sum's, directories and links have
 * none, and the desc fields reach the SBOM fields. */
static void test_pacman_mtree(void **state)
{
	char *root, *sums;
	struct pkg_db *db;
	const struct pkg *p;
	size_t i, checked = 0;

	(void)state;
	if (!tu_have("bsdtar") || !tu_have("gzip"))
		tu_skip_case("bsdtar (libarchive-tools) and gzip are needed");
	root = tu_tmpdir();
	write_str(root, "pkg/usr/bin/hello", "#!/bin/sh\necho hello\n");
	write_str(root, "pkg/usr/share/doc/hello/a file", "spaces in the name\n");
	write_str(root, "pkg/etc/hello.conf", "greeting=hello\n");
	write_str(root, "pkg/.PKGINFO", "pkgname = hello\n");
	assert_int_equal(tu_sh("cd %s/pkg && ln -s hello usr/bin/hi && "
			       "LANG=C bsdtar -czf .MTREE --format=mtree "
			       "--options='!all,use-set,type,uid,gid,mode,time,size,md5,sha256,link' "
			       ".PKGINFO * && mkdir -p ../var/lib/pacman/local/hello-1.0-1 && "
			       "mv .MTREE ../var/lib/pacman/local/hello-1.0-1/mtree", root), 0);
	write_str(root, "var/lib/pacman/local/hello-1.0-1/desc",
		  "%NAME%\nhello\n\n%VERSION%\n1.0-1\n\n%BASE%\nhello-base\n\n%ARCH%\nx86_64\n\n"
		  "%PACKAGER%\nA Packager <a@example.org>\n\n%LICENSE%\nGPL-2.0-or-later\nMIT\n\n"
		  "%INSTALLDATE%\n1700000000\n\n");
	write_str(root, "var/lib/pacman/local/hello-1.0-1/files",
		  "%FILES%\netc/\netc/hello.conf\nusr/\nusr/bin/\nusr/bin/hello\nusr/bin/hi\n"
		  "usr/share/\nusr/share/doc/\nusr/share/doc/hello/\nusr/share/doc/hello/a file\n\n"
		  "%BACKUP%\netc/hello.conf\t0123456789abcdef0123456789abcdef\n\n");
	db = read_root(root);
	p = pkg_db_find(db, "hello", NULL);
	assert_non_null(p);
	sums = tu_sh_out("cd %s/pkg && sha256sum etc/hello.conf usr/bin/hello "
			 "'usr/share/doc/hello/a file'", root);
	for (i = 0; i < p->nfiles; i++) {
		const struct pkg_file *f = &p->files[i];
		char want[200];

		if (f->kind != PKG_DIGEST_SHA256)
			continue;
		snprintf(want, sizeof(want), "%s  %s\n", f->digest, f->path);
		if (!strstr(sums, want))
			fail_msg("%s: sha256 %s is not sha256sum's", f->path, f->digest);
		checked++;
	}
	assert_int_equal(checked, 3);
	for (i = 0; i < p->nfiles; i++)
		if (!strcmp(p->files[i].path, "usr/bin/hi") || !strcmp(p->files[i].path, "usr/bin"))
			assert_int_equal(p->files[i].kind, PKG_DIGEST_NONE);
	assert_string_equal(p->source, "hello-base");
	assert_string_equal(p->supplier, "A Packager <a@example.org>");
	assert_int_equal(p->nlicenses, 2);
	assert_string_equal(p->licenses[1], "MIT");
	assert_int_equal(p->install_time, 1700000000);
	/* A corrupt mtree is an error naming it. */
	assert_int_equal(tu_sh("printf '\\037\\213garbage' > %s/var/lib/pacman/local/hello-1.0-1/mtree",
			       root), 0);
	{
		struct ut_err err = { { 0 } };
		struct pkg_source *src;
		struct pkg_db *bad = NULL;

		assert_int_equal(pkg_source_dir_new(root, &src, &err), 0);
		assert_int_equal(pkg_db_read(src, &bad, &err), -1);
		assert_non_null(strstr(err.msg, "hello-1.0-1/mtree"));
		pkg_source_free(src);
	}
	free(sums);
	pkg_db_free(db);
	tu_sh("rm -rf %s", root);
	free(root);
}

/* ---- SBOM ---------------------------------------------------------------- */

static char *sbom(const struct pkg_db *db, enum pkg_sbom_format f, const char *id, const char *ver)
{
	struct pkg_sbom_options o = { .format = f, .name = "t", .tool_version = "0",
				      .os_id = id, .os_version_id = ver };
	struct pkg_graph *g = NULL;
	struct ut_err err = { { 0 } };
	struct ut_buf b;

	ut_buf_init(&b, 0);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	if (pkg_sbom_write(db, g, &o, &b, &err) < 0)
		fail_msg("%s", err.msg);
	pkg_graph_free(g);
	return ut_buf_detach(&b, NULL);
}

/* An apk root: purls in apk's form, fields from the database, the same
 * bytes twice, the time from the database's mtime. */
static void test_sbom_apk(void **state)
{
	char *root, *a, *b, *c;
	struct pkg_db *db;

	(void)state;
	root = tu_tmpdir();
	write_str(root, "lib/apk/db/installed",
		  "P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nL:MIT\nm:Natanael Copa <ncopa@alpinelinux.org>\n"
		  "o:musl\np:so:libc.musl-x86_64.so.1=1\n\n"
		  "P:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\n"
		  "D:so:libc.musl-x86_64.so.1\n\n");
	assert_int_equal(tu_sh("touch -d @1700000000 %s/lib/apk/db/installed", root), 0);
	db = read_root(root);
	a = sbom(db, PKG_SBOM_CYCLONEDX, "alpine", "3.19.1");
	b = sbom(db, PKG_SBOM_CYCLONEDX, "alpine", "3.19.1");
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "\"pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1\""));
	assert_non_null(strstr(a, "\"timestamp\": \"2023-11-14T22:13:20Z\""));
	/* busybox needs musl through so:libc: the dependency is there. */
	assert_non_null(strstr(a, "\"ref\": \"pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1\",\n"
				  "      \"dependsOn\": [\n"
				  "        \"pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1\""));
	c = sbom(db, PKG_SBOM_SPDX, NULL, NULL);
	assert_non_null(strstr(c, "\"referenceLocator\": \"pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64\""));
	assert_non_null(strstr(c, "\"licenseDeclared\": \"LicenseRef-GPL-2.0-only\""));
	assert_non_null(strstr(c, "\"supplier\": \"Person: Natanael Copa (ncopa@alpinelinux.org)\""));
	assert_non_null(strstr(c, "\"relationshipType\": \"DEPENDS_ON\""));
	free(a);
	free(b);
	free(c);
	pkg_db_free(db);
	/* Guest bytes that are no UTF-8 keep their package, as valid JSON. */
	write_str(root, "lib/apk/db/installed", "P:bad\xff\xfename\nV:1.0-r0\nm:X\x80 <x@y>\nL:M\xc3IT\n\n");
	db = read_root(root);
	for (int f = PKG_SBOM_SPDX; f <= PKG_SBOM_CYCLONEDX; f++) {
		FILE *out;
		char path[4200];

		a = sbom(db, f, "alpine", "3");
		snprintf(path, sizeof(path), "%s/bad.json", root);
		out = fopen(path, "w");
		assert_non_null(out);
		fputs(a, out);
		fclose(out);
		assert_int_equal(tu_sh("python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); "
				       "assert \"bad\\ufffd\\ufffdname\" in json.dumps(d, ensure_ascii=False)' %s",
				       path), 0);
		assert_non_null(strstr(a, "pkg:apk/alpine/bad%FF%FEname@1.0-r0"));
		free(a);
	}
	pkg_db_free(db);
	tu_sh("rm -rf %s", root);
	free(root);
}

/* n packages that all provide and need one name: n * n relations, refused
 * with a reason instead of a document of that size. */
static void test_sbom_fan_out(void **state)
{
	struct pkg_sbom_options o = { .format = PKG_SBOM_CYCLONEDX };
	struct ut_err err = { { 0 } };
	struct pkg_graph *g = NULL;
	struct pkg_db *db;
	struct ut_buf b;
	char *root;

	(void)state;
	root = tu_tmpdir();
	assert_int_equal(tu_sh("mkdir -p %s/lib/apk/db && for i in $(seq 1 2100); do "
			       "printf 'P:p%%s\nV:1-r0\np:virt\nD:virt\n\n' $i; done > "
			       "%s/lib/apk/db/installed", root, root), 0);
	db = read_root(root);
	assert_int_equal(db->n, 2100);
	assert_int_equal(pkg_graph_build(db, &g, &err), 0);
	ut_buf_init(&b, 0);
	assert_int_equal(pkg_sbom_write(db, g, &o, &b, &err), -1);
	assert_non_null(strstr(err.msg, "dependency relations among 2100 packages"));
	assert_int_equal(b.len, 0);
	ut_buf_release(&b);
	pkg_graph_free(g);
	pkg_db_free(db);
	tu_sh("rm -rf %s", root);
	free(root);
}

static void test_purl_escaping(void **state)
{
	struct pkg_db *db;
	char *root, *u;

	(void)state;
	root = tu_tmpdir();
	write_str(root, "var/lib/dpkg/status",
		  "Package: openssh-server\nStatus: install ok installed\nArchitecture: amd64\n"
		  "Version: 1:9.2p1-2+deb12u3\nMaintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>\n"
		  "Source: openssh (1:9.2p1-2+deb12u3)\n\n");
	write_str(root, "usr/share/doc/openssh-server/copyright",
		  "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
		  "Files: *\nCopyright: someone\nLicense: BSD-2-clause\n\n"
		  "Files: a\nLicense: GPL-2+\n text of it\n\nLicense: BSD-2-clause\n text\n");
	db = read_root(root);
	assert_int_equal(db->n, 1);
	assert_string_equal(db->v[0].source, "openssh");
	assert_int_equal(db->v[0].nlicenses, 2);
	assert_string_equal(db->v[0].licenses[0], "BSD-2-clause");
	assert_string_equal(db->v[0].licenses[1], "GPL-2+");
	u = pkg_purl(db, &db->v[0], "debian", "12");
	assert_string_equal(u, "pkg:deb/debian/openssh-server@1%3A9.2p1-2%2Bdeb12u3?arch=amd64&distro=debian-12");
	free(u);
	pkg_db_free(db);
	tu_sh("rm -rf %s", root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apk_versions),
		cmocka_unit_test(test_apk_version_data),
		cmocka_unit_test(test_rich_parse),
		cmocka_unit_test(test_rich_rpmdb),
		cmocka_unit_test(test_pacman_mtree),
		cmocka_unit_test(test_sbom_apk),
		cmocka_unit_test(test_sbom_fan_out),
		cmocka_unit_test(test_purl_escaping),
	};
	return cmocka_run_group_tests_name("packages: exactness and SBOM", tests, NULL, NULL);
}
