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

static inline void tu_skip(const char *why)
{
	fprintf(stderr, "SKIP: %s\n", why);
	exit(TU_SKIP);
}

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

#endif
