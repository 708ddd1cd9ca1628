/*
 * ref.c - docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX], by the distribution
 * spec's grammar: repository components of [a-z0-9] joined by '.', '_',
 * '__' or '-'s, tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
 */
#include "reg_internal.h"

#include <ctype.h>
#include <string.h>

static int valid_host(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-:[]", s[i]))
			return 0;
	return 1;
}

static int lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ joined by '.', '_', '__' or '-'s */
static int valid_component(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (!lower_alnum((unsigned char)s[i]))
			return 0;
		while (i < n && lower_alnum((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return 0;
		if (i == n)
			return 0;
	}
	return 0;
}

static int valid_repo(const char *s)
{
	size_t n = strlen(s);
	const char *c = s, *slash;

	if (n == 0 || n > 255)
		return 0;
	for (;;) {
		slash = strchr(c, '/');
		if (!valid_component(c, slash ? (size_t)(slash - c) : strlen(c)))
			return 0;
		if (!slash)
			return 1;
		c = slash + 1;
	}
}

static int valid_tag(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

static int valid_digest(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) || strlen(s) != 7 + 64)
		return 0;
	for (i = 7; s[i]; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return 1;
}

int reg_ref_parse(const char *s, struct reg_ref *r, struct ut_err *err)
{
	const char *in = s, *slash, *at, *colon;
	char *rest = NULL;

	memset(r, 0, sizeof(*r));
	if (!strncmp(s, "docker://", 9))
		s += 9;
	slash = strchr(s, '/');
	if (!slash || !valid_host(s, (size_t)(slash - s)))
		return ut_err_set(err, "%s: not docker://HOST[:PORT]/REPO[:TAG]", in);
	r->host = ut_strndup(s, (size_t)(slash - s));
	rest = ut_strdup(slash + 1);
	if ((at = strchr(rest, '@'))) {
		r->digest = ut_strdup(at + 1);
		rest[at - rest] = '\0';
		if (!valid_digest(r->digest))
			goto bad_digest;
	} else {
		colon = strrchr(rest, ':');
		if (colon && !strchr(colon, '/')) {
			r->tag = ut_strdup(colon + 1);
			rest[colon - rest] = '\0';
		} else {
			r->tag = ut_strdup("latest");
		}
		if (!valid_tag(r->tag)) {
			ut_err_set(err, "%s: tag '%s' is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", in,
				   r->tag);
			goto fail;
		}
	}
	if (!valid_repo(rest)) {
		ut_err_set(err, "%s: repository '%s' is not lowercase [a-z0-9] components "
			   "joined by '/', '.', '_' or '-'", in, rest);
		goto fail;
	}
	r->repo = rest;
	return 0;
bad_digest:
	ut_err_set(err, "%s: digest '%s' is not sha256:<64 hex digits>", in, r->digest);
fail:
	free(rest);
	reg_ref_release(r);
	return -1;
}

void reg_ref_release(struct reg_ref *r)
{
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}
