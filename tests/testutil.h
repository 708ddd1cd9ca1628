/*
 * testutil.h - helpers shared by the cmocka tests (header-only).
 *
 * Fixture disks are made by fixtures/make-fixtures.sh into the directory
 * named by VM2OCI_FIXTURES; a test that needs one and does not find it exits
 * 77 (skipped) and says why, so a bare `ctest` on a machine without fixtures
 * reports skips instead of failures.
 */
#ifndef VM2OCI_TESTUTIL_H
#define VM2OCI_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define TU_SKIP 77

/* Skips the whole binary (exit 77, CTest's SKIP_RETURN_CODE): for main()
 * or a group setup, when nothing in the binary can run here. */
static inline void tu_skip(const char *why)
{
	fprintf(stderr, "SKIP: %s\n", why);
	exit(TU_SKIP);
}

/* Skips the current case only: cmocka reports it SKIPPED, the reason goes
 * to stderr, and the binary's other cases still run. */
#define tu_skip_case(why)                                \
	do {                                             \
		fprintf(stderr, "SKIP: %s\n", (why));    \
		skip();                                  \
	} while (0)

/* Path of a fixture file, or NULL when the fixture directory lacks it. The
 * string is heap-allocated. */
static inline char *tu_fixture_path(const char *name)
{
	const char *dir = getenv("VM2OCI_FIXTURES");
	struct stat st;
	char *p;

	if (!dir || !*dir)
		return NULL;
	p = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", dir, name);
	if (stat(p, &st) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* Like tu_fixture_path, but skips the whole test binary when missing. */
static inline char *tu_fixture(const char *name)
{
	char *p = tu_fixture_path(name);

	if (!p) {
		char why[512];

		snprintf(why, sizeof(why),
			 "fixture %s not found (set VM2OCI_FIXTURES to the output of fixtures/make-fixtures.sh)",
			 name);
		tu_skip(why);
	}
	return p;
}

/* A fresh temporary directory (mkdtemp), heap-allocated path. */
static inline char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = malloc(4096);

	snprintf(p, 4096, "%s/vm2oci-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		abort();
	}
	return p;
}

/* Runs a shell command; returns its exit status (or -1). */
static inline int tu_sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

/* Runs a shell command and returns its stdout (heap, NUL-terminated). */
static inline char *tu_sh_out(const char *fmt, ...)
{
	char cmd[16384];
	size_t len = 0, alloc = 65536;
	char *out = malloc(alloc);
	va_list ap;
	FILE *f;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f) {
		out[0] = '\0';
		return out;
	}
	while ((n = fread(out + len, 1, alloc - len - 1, f)) > 0) {
		len += n;
		if (alloc - len < 4096)
			out = realloc(out, alloc *= 2);
	}
	pclose(f);
	out[len] = '\0';
	return out;
}

static inline int tu_have(const char *program)
{
	return tu_sh("command -v %s >/dev/null 2>&1", program) == 0;
}

/* ---- end-to-end tests of the vm2oci binary ------------------------------ */

/* What ctest gives the e2e tests (vm2oci_add_test's ENVIRONMENT), and a
 * scratch directory with tmp/mnt for the kernel's view of a disk. */
struct tu_e2e {
	char *bin;    /* VM2OCI_BINARY */
	char *lister; /* VM2OCI_TREE_LISTING (tree_listing), NULL if not needed */
	char *tmp;    /* fresh; tu_e2e_release unmounts and removes it */
	char *helper; /* tests/cli/guest-mount.sh: mount|umount a raw disk */
};

#define TU_E2E_LISTER 1u /* the test compares tree listings */
#define TU_E2E_UMOCI 2u  /* ... of umoci's unpack of the results */

/* Reads the environment and checks for root (loop mounts) and the needs
 * (TU_E2E_*); skips the whole binary (77), saying what is missing, when it
 * cannot run here. */
static inline void tu_e2e_init(struct tu_e2e *e, unsigned needs)
{
	const char *src = getenv("VM2OCI_SOURCE_DIR");

	e->bin = getenv("VM2OCI_BINARY");
	e->lister = getenv("VM2OCI_TREE_LISTING");
	if (!e->bin || !src || ((needs & TU_E2E_LISTER) && !e->lister))
		tu_skip("VM2OCI_BINARY, VM2OCI_TREE_LISTING and VM2OCI_SOURCE_DIR must be set "
			"(ctest sets them)");
	if (getuid() != 0)
		tu_skip("loop mounts need root");
	if ((needs & TU_E2E_UMOCI) && !tu_have("umoci"))
		tu_skip("umoci is not installed (scripts/install-deps.sh --peers)");
	e->tmp = tu_tmpdir();
	e->helper = malloc(4096);
	snprintf(e->helper, 4096, "%s/tests/cli/guest-mount.sh", src);
}

/* The kernel's view of a raw disk image: mounted (with its fstab's mounts)
 * under tmp/mnt, listed by tree_listing into out, unmounted. Returns 0 when
 * all three steps succeeded. */
static inline int tu_e2e_listing(const struct tu_e2e *e, const char *raw, const char *out)
{
	if (tu_sh("%s mount %s %s/mnt", e->helper, raw, e->tmp) != 0)
		return -1;
	if (tu_sh("%s %s/mnt > %s", e->lister, e->tmp, out) != 0) {
		tu_sh("%s umount %s/mnt", e->helper, e->tmp);
		return -1;
	}
	return tu_sh("%s umount %s/mnt", e->helper, e->tmp) == 0 ? 0 : -1;
}

static inline void tu_e2e_release(struct tu_e2e *e)
{
	if (e->tmp)
		tu_sh("%s umount %s/mnt; rm -rf %s", e->helper, e->tmp, e->tmp);
	free(e->tmp);
	free(e->helper);
	e->tmp = e->helper = NULL;
}

/* ---- what an image leaves out ------------------------------------------- */

/* A tree_listing path back to its bytes (\\, \n, \t, \xHH). */
static inline void tu_listing_unescape(const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\\' && i + 1 < len) {
			char c = in[++i];

			if (c == 'n')
				out[o++] = '\n';
			else if (c == 't')
				out[o++] = '\t';
			else if (c == 'x' && i + 2 < len) {
				char hex[3] = { in[i + 1], in[i + 2], 0 };

				out[o++] = (char)strtol(hex, NULL, 16);
				i += 2;
			} else
				out[o++] = c;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

/*
 * What an image made from a disk must hold, as a listing: the disk's
 * tree_listing less what the image's exclude rules (its config label
 * org.vm2oci.excludes, read by jq) leave out, as rsync itself judges them,
 * and the files a "= PATH" rule empties shown empty. rsync copies a
 * skeleton of the listing (same paths and types, empty files) under the
 * "+"/"-" rules; a listed path is kept when the copy has it. An image
 * without the label gets the disk's listing unchanged. tmp: scratch folder.
 * Returns 0 on success.
 */
static inline int tu_expected_listing(const char *tmp, const char *listing, const char *layout,
				      const char *tag, const char *out)
{
	static const char empty_sha[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char line[65536], path[16384], full[20000], rules[4096];
	FILE *in, *o = NULL, *rf = NULL;
	struct stat st;
	int rc = -1;

	snprintf(rules, sizeof(rules), "%s/excludes.rules", tmp);
	if (tu_sh("m=$(jq -r --arg t %s '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == $t) | .digest' %s/index.json | cut -d: -f2) && "
		  "c=$(jq -r .config.digest %s/blobs/sha256/$m | cut -d: -f2) && "
		  "jq -r '.config.Labels[\"org.vm2oci.excludes\"] // empty' %s/blobs/sha256/$c > %s",
		  tag, layout, layout, layout, rules) != 0)
		return -1;
	if (stat(rules, &st) == 0 && st.st_size == 0)
		return tu_sh("cp %s %s", listing, out) == 0 ? 0 : -1;
	if (tu_sh("rm -rf %s/skel %s/skel.copy && mkdir -p %s/skel && grep -v '^=' %s > %s.rsync || true",
		  tmp, tmp, tmp, rules, rules) != 0)
		return -1;
	in = fopen(listing, "r");
	if (!in)
		return -1;
	while (fgets(line, sizeof(line), in)) {
		char *tab = strchr(line, '\t'), *type;

		if (!tab)
			goto out;
		tu_listing_unescape(line, (size_t)(tab - line), path);
		type = tab + 1;
		snprintf(full, sizeof(full), "%s/skel/%s", tmp, path);
		if (!strncmp(type, "dir\t", 4))
			mkdir(full, 0755);
		else if (!strncmp(type, "symlink\t", 8))
			symlink("x", full);
		else
			fclose(fopen(full, "w"));
	}
	fclose(in);
	if (tu_sh("rsync -a --filter='. %s.rsync' %s/skel/ %s/skel.copy/", rules, tmp, tmp) != 0)
		return -1;
	in = fopen(listing, "r");
	o = fopen(out, "w");
	rf = fopen(rules, "r");
	if (!in || !o || !rf)
		goto out;
	while (fgets(line, sizeof(line), in)) {
		char *tab = strchr(line, '\t'), rule[4096];
		int emptied = 0;

		tu_listing_unescape(line, (size_t)(tab - line), path);
		snprintf(full, sizeof(full), "%s/skel.copy/%s", tmp, path);
		if (lstat(full, &st) != 0)
			continue;
		/* "= /etc/machine-id": the oracle takes literal paths only. */
		rewind(rf);
		while (fgets(rule, sizeof(rule), rf))
			if (rule[0] == '=' && rule[1] == ' ' && rule[2] == '/' &&
			    !strncmp(rule + 3, path, strlen(path)) && rule[3 + strlen(path)] == '\n')
				emptied = !strncmp(tab + 1, "file\t", 5);
		if (emptied) {
			/* path type mode uid gid size sha mtime xattrs group */
			char *f[10], *save = NULL;
			int k = 0;

			line[strcspn(line, "\n")] = '\0';
			for (char *t = strtok_r(line, "\t", &save); t && k < 10; t = strtok_r(NULL, "\t", &save))
				f[k++] = t;
			if (k < 9)
				goto out;
			/* emptied, it is an inode of its own */
			fprintf(o, "%s\t%s\t%s\t%s\t%s\t0\t%s\t%s\t%s\t-\n", f[0], f[1], f[2], f[3], f[4],
				empty_sha, f[7], f[8]);
			continue;
		}
		fputs(line, o);
	}
	rc = 0;
out:
	if (in)
		fclose(in);
	if (o)
		fclose(o);
	if (rf)
		fclose(rf);
	tu_sh("rm -rf %s/skel %s/skel.copy", tmp, tmp);
	return rc;
}

/*
 * The same on a base image: the disk's listing less what the rules leave
 * out (tu_expected_listing), plus what the base itself has where the rules
 * exclude (judged by rsync on the base's listing the same way): convert
 * leaves those paths out of the comparison, so the base's files there stay
 * in the image and no whiteout hides them. base_listing: tree_listing of the
 * base unpacked by a peer. Returns 0 on success.
 */
static inline int tu_expected_listing_on_base(const char *tmp, const char *listing,
					      const char *base_listing, const char *layout,
					      const char *tag, const char *out)
{
	char kept[4096];

	snprintf(kept, sizeof(kept), "%s/base.kept", tmp);
	if (tu_expected_listing(tmp, listing, layout, tag, out) != 0 ||
	    tu_expected_listing(tmp, base_listing, layout, tag, kept) != 0)
		return -1;
	/* The base's lines whose path the rules took, merged in path order
	 * (C order of whole lines is path order: a tab sorts before '/'). */
	return tu_sh("cut -f1 %s > %s.paths && "
		     "awk -F'\\t' 'NR == FNR { k[$1] = 1; next } !($1 in k)' %s.paths %s > %s.taken && "
		     "LC_ALL=C sort %s %s.taken > %s.merged && mv %s.merged %s",
		     kept, kept, kept, base_listing, kept, out, kept, out, out, out) == 0 ? 0 : -1;
}

#endif
