/*
 * auth.c - the text a registry, a token server or an auth file hands us:
 * WWW-Authenticate challenges, token answers, auth.json/config.json, error
 * bodies. All of it untrusted: lengths are bounded, JSON goes through
 * jansson with a size cap, and text that reaches a message is escaped.
 */
#include "reg_internal.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#define MAX_PARAM 4096 /* a realm, service or scope */

static int is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One auth-param value: a token or a quoted-string (backslash escapes). */
static int param_value(const char **p, const char *end, struct ut_buf *v, struct ut_err *err)
{
	const char *s = *p;

	if (s < end && *s == '"') {
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\' && s + 1 < end)
				s++;
			if (ut_buf_add(v, s, 1, err) < 0)
				return -1;
		}
		if (s >= end)
			return ut_err_set(err, "WWW-Authenticate: unterminated quoted string");
		s++;
	} else {
		const char *t = s;

		while (s < end && (is_tchar((unsigned char)*s) || (*s && strchr("/=:", *s))))
			s++;
		if (ut_buf_add(v, t, (size_t)(s - t), err) < 0)
			return -1;
	}
	*p = s;
	return 0;
}

static void skip_ows(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

int reg_challenge_parse(const char *hdr, size_t len, struct reg_challenge *ch,
			struct ut_err *err)
{
	const char *p = hdr, *end = hdr + len, *t;
	struct ut_buf name, val;
	size_t n;
	int rc = -1;

	memset(ch, 0, sizeof(*ch));
	if (len > REG_MAX_HEADER)
		return ut_err_set(err, "WWW-Authenticate: longer than %u bytes", REG_MAX_HEADER);
	ut_buf_init(&name, 256);
	ut_buf_init(&val, MAX_PARAM);
	skip_ows(&p, end);
	for (t = p; p < end && is_tchar((unsigned char)*p); p++)
		;
	n = (size_t)(p - t);
	if (n == 0 || n >= sizeof(ch->scheme)) {
		ut_err_set(err, "WWW-Authenticate: no auth scheme");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		ch->scheme[i] = (char)tolower((unsigned char)t[i]);
	/* auth-params until the end or the next challenge (a token not followed by '=') */
	for (;;) {
		char **slot = NULL;

		skip_ows(&p, end);
		while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
			p++;
		if (p >= end)
			break;
		for (t = p; p < end && is_tchar((unsigned char)*p); p++)
			;
		if (p == t) {
			ut_err_set(err, "WWW-Authenticate: unexpected character 0x%02x",
				   (unsigned char)*p);
			goto out;
		}
		ut_buf_reset(&name);
		if (ut_buf_add(&name, t, (size_t)(p - t), err) < 0)
			goto out;
		skip_ows(&p, end);
		if (p >= end || *p != '=')
			break; /* a second challenge begins: the first is enough */
		p++;
		skip_ows(&p, end);
		ut_buf_reset(&val);
		if (param_value(&p, end, &val, err) < 0)
			goto out;
		if (!strcasecmp((char *)name.data, "realm"))
			slot = &ch->realm;
		else if (!strcasecmp((char *)name.data, "service"))
			slot = &ch->service;
		else if (!strcasecmp((char *)name.data, "scope"))
			slot = &ch->scope;
		if (slot && !*slot)
			*slot = ut_strndup(val.data ? (char *)val.data : "", val.len);
	}
	rc = 0;
out:
	ut_buf_release(&name);
	ut_buf_release(&val);
	if (rc)
		reg_challenge_release(ch);
	return rc;
}

void reg_challenge_release(struct reg_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

static json_t *load_bounded(const char *json, size_t len, size_t cap, const char *what,
			    struct ut_err *err)
{
	json_error_t je;
	json_t *root;

	if (len > cap) {
		ut_err_set(err, "%s: larger than %zu bytes", what, cap);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		ut_err_set(err, "%s: not JSON (line %d, column %d)", what, je.line, je.column);
	else if (!json_is_object(root)) {
		json_decref(root);
		root = NULL;
		ut_err_set(err, "%s: not a JSON object", what);
	}
	return root;
}

int reg_token_parse(const char *json, size_t len, char **token, struct ut_err *err)
{
	json_t *root = load_bounded(json, len, REG_MAX_BODY, "token answer", err);
	const char *t;
	int rc = -1;

	*token = NULL;
	if (!root)
		return -1;
	t = json_string_value(json_object_get(root, "token"));
	if (!t || !*t)
		t = json_string_value(json_object_get(root, "access_token"));
	if (!t || !*t) {
		ut_err_set(err, "token answer: no token");
		goto out;
	}
	/* It goes into a header line: nothing that could end or split it. */
	for (const char *s = t; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) {
			ut_err_set(err, "token answer: the token has a byte 0x%02x",
				   (unsigned char)*s);
			goto out;
		}
	*token = ut_strdup(t);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* An auth file's key, normalized: "https://host/v1/" -> "host". */
static void normalize_key(const char *key, struct ut_buf *out)
{
	const char *s = key;
	size_t n;

	if (!strncmp(s, "https://", 8))
		s += 8;
	else if (!strncmp(s, "http://", 7))
		s += 7;
	n = strlen(s);
	while (n && s[n - 1] == '/')
		n--;
	if (n >= 3 && (!strncmp(s + n - 3, "/v1", 3) || !strncmp(s + n - 3, "/v2", 3)))
		n -= 3;
	ut_buf_add(out, s, n, NULL);
}

/* How well key matches host/repo: the length of the match, 0 for none. */
static size_t key_match(const char *key, const char *host, const char *repo)
{
	size_t hl = strlen(host), kl = strlen(key);

	if (strncmp(key, host, hl))
		return 0;
	if (kl == hl)
		return hl;
	if (key[hl] != '/')
		return 0;
	/* "host/ns" covers repo "ns" and "ns/...", not "nsx" */
	if (strncmp(key + hl + 1, repo, kl - hl - 1))
		return 0;
	if (repo[kl - hl - 1] != '\0' && repo[kl - hl - 1] != '/')
		return 0;
	return kl;
}

static int split_auth(const char *b64, char **user, char **pass, struct ut_err *err)
{
	struct ut_buf dec;
	char *colon;
	int rc = -1;

	ut_buf_init(&dec, 8192);
	if (ut_base64_decode(b64, strlen(b64), &dec, err) < 0)
		goto out;
	if (!dec.data || memchr(dec.data, '\0', dec.len) ||
	    !(colon = strchr((char *)dec.data, ':'))) {
		ut_err_set(err, "its \"auth\" is not base64 of USER:PASSWORD");
		goto out;
	}
	*user = ut_strndup((char *)dec.data, (size_t)(colon - (char *)dec.data));
	*pass = ut_strdup(colon + 1);
	rc = 0;
out:
	ut_buf_release(&dec);
	return rc;
}

int reg_auth_file_lookup(const char *json, size_t len, const char *host, const char *repo,
			 char **user, char **pass, struct ut_err *err)
{
	json_t *root = load_bounded(json, len, REG_MAX_AUTH_FILE, "auth file", err), *auths, *v;
	const char *key, *best_auth = NULL;
	size_t best = 0;
	struct ut_buf norm;
	int rc = -1;

	*user = *pass = NULL;
	if (!root)
		return -1;
	auths = json_object_get(root, "auths");
	if (!auths) {
		rc = 0; /* credHelpers or credsStore only: nothing for us */
		goto out;
	}
	if (!json_is_object(auths)) {
		ut_err_set(err, "auth file: \"auths\" is not an object");
		goto out;
	}
	ut_buf_init(&norm, 0);
	json_object_foreach(auths, key, v) {
		const char *a = json_string_value(json_object_get(v, "auth"));
		size_t m;

		ut_buf_reset(&norm);
		normalize_key(key, &norm);
		m = norm.data ? key_match((char *)norm.data, host, repo) : 0;
		if (m > best && a && *a) {
			best = m;
			best_auth = a;
		}
	}
	ut_buf_release(&norm);
	if (!best_auth) {
		rc = 0;
		goto out;
	}
	if (split_auth(best_auth, user, pass, err) < 0) {
		ut_err_prefix(err, "auth file: entry for %s: ", host);
		goto out;
	}
	rc = 1;
out:
	json_decref(root);
	return rc;
}

int reg_error_text(const char *json, size_t len, struct ut_buf *out)
{
	json_t *root = load_bounded(json, len, REG_MAX_BODY, "error", NULL), *errs, *e;
	size_t i, shown = 0;

	if (!root)
		return 0;
	errs = json_object_get(root, "errors");
	json_array_foreach(errs, i, e) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		char part[512];

		if (shown == 3)
			break;
		snprintf(part, sizeof(part), "%s%s%s", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
		if (!part[0])
			continue;
		if (shown++)
			ut_buf_addstr(out, "; ", NULL);
		ut_buf_add_escaped(out, part, 0, NULL);
	}
	json_decref(root);
	return shown > 0;
}

