/*
 * apk_version.c - Alpine's version order, as apk-tools defines it:
 *
 *   digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-r digits}
 *
 * Versions are compared token by token. Numbers compare as numbers, except
 * a dot-separated one with a leading zero on either side, which compares as
 * a string (Gentoo's rule: 1.001 < 1.01). Suffixes rank _alpha < _beta <
 * _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p. When one version
 * runs out of tokens (or breaks the grammar) first, the longer one is
 * greater unless its next token is a pre-release suffix; otherwise the
 * token kind that comes later in the grammar sorts first.
 */
#include "pkg_internal.h"

#include <string.h>

/* In grammar order: the comparison of unequal kinds depends on it. */
enum tok {
	T_INITIAL_DIGIT,
	T_DIGIT,
	T_LETTER,
	T_SUFFIX,
	T_SUFFIX_NO,
	T_COMMIT_HASH,
	T_REVISION_NO,
	T_END,
	T_INVALID,
};

/* Suffix ranks; S_NONE is where "no suffix" would sit. */
enum { S_INVALID, S_ALPHA, S_BETA, S_PRE, S_RC, S_NONE, S_CVS, S_SVN, S_GIT, S_HG, S_P };

struct tstate {
	enum tok tok;
	int suffix;
	uint64_t number;
	const char *val; /* the token's text */
	size_t vlen;
	const char *s;   /* what is left */
};

static int suffix_rank(const char *s, size_t n)
{
	static const struct {
		const char *name;
		int rank;
	} sfx[] = { { "alpha", S_ALPHA }, { "beta", S_BETA }, { "pre", S_PRE }, { "rc", S_RC },
		    { "cvs", S_CVS },     { "svn", S_SVN },   { "git", S_GIT }, { "hg", S_HG },
		    { "p", S_P } };

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (strlen(sfx[i].name) == n && !memcmp(sfx[i].name, s, n))
			return sfx[i].rank;
	return S_INVALID;
}

static void digits(struct tstate *t)
{
	const char *b = t->s;

	t->number = 0;
	while (*t->s >= '0' && *t->s <= '9')
		t->number = t->number * 10 + (uint64_t)(*t->s++ - '0');
	t->val = b;
	t->vlen = (size_t)(t->s - b);
	if (!t->vlen)
		t->tok = T_INVALID;
}

static void first(struct tstate *t, const char *s)
{
	t->s = s;
	t->tok = T_INITIAL_DIGIT;
	digits(t);
}

/* The next token; what may follow the previous one is checked here. */
static void next(struct tstate *t)
{
	char c = *t->s;

	if (!c) {
		t->tok = T_END;
		return;
	}
	if (c >= 'a' && c <= 'z') {
		if (t->tok > T_DIGIT)
			goto invalid;
		t->val = t->s++;
		t->vlen = 1;
		t->tok = T_LETTER;
	} else if (c == '.' || (c >= '0' && c <= '9')) {
		if (c == '.') {
			if (t->tok > T_DIGIT)
				goto invalid;
			t->s++;
		}
		if (t->tok == T_INITIAL_DIGIT || t->tok == T_DIGIT)
			t->tok = T_DIGIT;
		else if (t->tok == T_SUFFIX)
			t->tok = T_SUFFIX_NO;
		else
			goto invalid;
		digits(t);
	} else if (c == '_') {
		if (t->tok > T_SUFFIX_NO)
			goto invalid;
		t->val = ++t->s;
		while (*t->s >= 'a' && *t->s <= 'z')
			t->s++;
		t->vlen = (size_t)(t->s - t->val);
		t->suffix = suffix_rank(t->val, t->vlen);
		if (t->suffix == S_INVALID)
			goto invalid;
		t->tok = T_SUFFIX;
	} else if (c == '~') {
		if (t->tok >= T_COMMIT_HASH)
			goto invalid;
		t->val = ++t->s;
		while ((*t->s >= '0' && *t->s <= '9') || (*t->s >= 'a' && *t->s <= 'f'))
			t->s++;
		t->vlen = (size_t)(t->s - t->val);
		if (!t->vlen)
			goto invalid;
		t->tok = T_COMMIT_HASH;
	} else if (c == '-') {
		if (t->tok >= T_REVISION_NO || t->s[1] != 'r')
			goto invalid;
		t->s += 2;
		t->tok = T_REVISION_NO;
		digits(t);
	} else {
		goto invalid;
	}
	return;
invalid:
	t->tok = T_INVALID;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_text(const struct tstate *a, const struct tstate *b)
{
	size_t n = a->vlen < b->vlen ? a->vlen : b->vlen;
	int c = memcmp(a->val, b->val, n);

	if (c)
		return c < 0 ? -1 : 1;
	return cmp_u64(a->vlen, b->vlen);
}

/* Two tokens of one kind. */
static int token_cmp(const struct tstate *a, const struct tstate *b)
{
	switch (a->tok) {
	case T_DIGIT:
		if (a->val[0] == '0' || b->val[0] == '0')
			return cmp_text(a, b);
		/* fall through */
	case T_INITIAL_DIGIT:
	case T_SUFFIX_NO:
	case T_REVISION_NO:
		return cmp_u64(a->number, b->number);
	case T_LETTER:
		return cmp_u64((unsigned char)a->val[0], (unsigned char)b->val[0]);
	case T_SUFFIX:
		return cmp_u64((uint64_t)a->suffix, (uint64_t)b->suffix);
	default:
		return cmp_text(a, b);
	}
}

/* fuzzy: b is a prefix to match (apk's "~"): a version whose tokens begin
 * with all of b's compares equal to it. */
static int vercmp(const char *a, const char *b, int fuzzy)
{
	struct tstate ta, tb;

	for (first(&ta, a), first(&tb, b); ta.tok == tb.tok && ta.tok < T_END;
	     next(&ta), next(&tb)) {
		int c = token_cmp(&ta, &tb);

		if (c)
			return c;
	}
	if (ta.tok == tb.tok || (fuzzy && tb.tok == T_END))
		return 0;
	if (ta.tok == T_SUFFIX && ta.suffix < S_NONE)
		return -1;
	if (tb.tok == T_SUFFIX && tb.suffix < S_NONE)
		return 1;
	return ta.tok > tb.tok ? -1 : 1;
}

int pkg_apk_vercmp(const char *a, const char *b)
{
	return vercmp(a, b, 0);
}

int pkg_apk_vercmp_fuzzy(const char *version, const char *prefix)
{
	return vercmp(version, prefix, 1);
}

int pkg_apk_version_valid(const char *v)
{
	struct tstate t;

	for (first(&t, v); t.tok < T_END; next(&t))
		;
	return t.tok == T_END;
}
