/*
 * names.c - guest file names made safe for terminals, logs, JSON and OCI.
 *
 * A name on a guest disk is any byte string without '/' or NUL: it may hold
 * ESC, CR, LF or bytes that are not UTF-8. Printed raw, such a name rewrites
 * the operator's terminal or splits a log line; passed to a JSON library that
 * insists on UTF-8 it is dropped. And a name that begins with ".wh." means a
 * deletion to every OCI tool, so it cannot travel in a layer as itself.
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>

size_t ut_utf8_seq_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0; /* continuation byte, overlong lead (c0, c1) or > f4 */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int ut_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = ut_utf8_seq_len(p);

		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

int ut_buf_add_escaped(struct ut_buf *b, const char *s, unsigned flags, struct ut_err *err)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = ut_utf8_seq_len(p);
		int rc;

		if (n > 1) {
			rc = ut_buf_add(b, p, n, err);
			p += n;
		} else {
			/* Single bytes: printable ASCII as is, the rest as C escapes. */
			switch (*p) {
			case '\n': rc = ut_buf_add(b, "\\n", 2, err); break;
			case '\t': rc = ut_buf_add(b, "\\t", 2, err); break;
			case '\r': rc = ut_buf_add(b, "\\r", 2, err); break;
			case '\\':
				rc = (flags & UT_ESC_BACKSLASH) ? ut_buf_add(b, "\\\\", 2, err)
								: ut_buf_add(b, p, 1, err);
				break;
			default:
				if (n == 0 || *p < 0x20 || *p == 0x7f)
					rc = ut_buf_addf(b, err, "\\x%02x", *p);
				else
					rc = ut_buf_add(b, p, 1, err);
			}
			p++;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

char *ut_escape_name(const char *s)
{
	struct ut_buf b;

	ut_buf_init(&b, 0);
	if (ut_buf_add_escaped(&b, s, UT_ESC_BACKSLASH, NULL) < 0 || ut_buf_add(&b, "", 1, NULL) < 0) {
		ut_buf_release(&b);
		return NULL;
	}
	return ut_buf_detach(&b, NULL);
}

/* ---- names OCI reads as whiteouts ----------------------------------------- */

#define WH_PREFIX ".wh."
#define ESC_PREFIX ".vm2oci-esc."

static int component_needs_escape(const char *c, size_t len)
{
	return (len >= sizeof(WH_PREFIX) - 1 && !memcmp(c, WH_PREFIX, sizeof(WH_PREFIX) - 1)) ||
	       (len >= sizeof(ESC_PREFIX) - 1 && !memcmp(c, ESC_PREFIX, sizeof(ESC_PREFIX) - 1));
}

const char *ut_path_whiteout_component(const char *path)
{
	const char *c = path;

	while (*c) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);

		if (len >= sizeof(WH_PREFIX) - 1 && !memcmp(c, WH_PREFIX, sizeof(WH_PREFIX) - 1))
			return c;
		if (!slash)
			break;
		c = slash + 1;
	}
	return NULL;
}

char *ut_path_escape_whiteouts(const char *path)
{
	struct ut_buf b;
	const char *c = path;
	int changed = 0;

	ut_buf_init(&b, 0);
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);

		if (component_needs_escape(c, len)) {
			/* One more prefix on ".vm2oci-esc." names keeps the map one-to-one. */
			ut_buf_add(&b, ESC_PREFIX, sizeof(ESC_PREFIX) - 1, NULL);
			changed = 1;
		}
		ut_buf_add(&b, c, len, NULL);
		if (!slash)
			break;
		ut_buf_add(&b, "/", 1, NULL);
		c = slash + 1;
	}
	ut_buf_add(&b, "", 1, NULL);
	if (!changed) {
		ut_buf_release(&b);
		return NULL;
	}
	return ut_buf_detach(&b, NULL);
}

size_t ut_tree_escape_whiteouts(struct ut_tree *t)
{
	size_t i, renamed = 0;

	for (i = 0; i < t->n; i++) {
		char *esc = ut_path_escape_whiteouts(t->v[i].path);

		if (!esc)
			continue;
		ut_tree_rename(t, &t->v[i], esc);
		free(esc);
		renamed++;
	}
	if (renamed) {
		t->sorted = 0;
		ut_tree_sort(t);
	}
	return renamed;
}
