/*
 * testkeep.h - command outputs a test compares, kept until the test ends
 * (header-only, one pool per test binary): checks read as one expression,
 * `assert_string_equal(tu_kept(tu_sh_out("...")), "want")`, without leaking
 * under LeakSanitizer.
 */
#ifndef VM2OCI_TESTKEEP_H
#define VM2OCI_TESTKEEP_H

#include "testutil.h"

static char **tu_kept_v;
static size_t tu_kept_n;

/* s (heap, e.g. a tu_sh_out result) without its trailing newlines and
 * spaces; freed by tu_kept_free. */
static inline char *tu_kept(char *s)
{
	size_t l = strlen(s);

	while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
		s[--l] = '\0';
	tu_kept_v = realloc(tu_kept_v, (tu_kept_n + 1) * sizeof(*tu_kept_v));
	tu_kept_v[tu_kept_n++] = s;
	return s;
}

static inline void tu_kept_free(void)
{
	while (tu_kept_n)
		free(tu_kept_v[--tu_kept_n]);
	free(tu_kept_v);
	tu_kept_v = NULL;
}

#endif
