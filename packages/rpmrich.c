/*
 * rpmrich.c - rpm's rich (boolean) dependencies, "(a or (b >= 1 and c))".
 *
 * rpm 4.13+ writes them as one Requires name starting with '('. They are
 * parsed here into a set of groups (clauses), each satisfied by any of its
 * alternatives, and the set is appended to the package's dependencies. The
 * mapping (described at struct pkg_dep in packages.h) over-approximates:
 * whatever a rich dependency may need gets an edge when it is installed,
 * so the roots of a subset never leave a needed package out.
 */
#include "pkg_internal.h"

#include <stdlib.h>
#include <string.h>

#define RICH_MAX_DEPTH 64

struct clause {
	struct pkg_dep_alt *alts;
	size_t n;
	int cond;
};

struct cset {
	struct clause *v;
	size_t n;
};

static void cset_release(struct cset *c)
{
	for (size_t i = 0; i < c->n; i++) {
		for (size_t j = 0; j < c->v[i].n; j++) {
			free(c->v[i].alts[j].name);
			free(c->v[i].alts[j].version);
		}
		free(c->v[i].alts);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static void cset_append(struct cset *dst, struct cset *src)
{
	dst->v = ut_realloc(dst->v, (dst->n + src->n + 1) * sizeof(*dst->v));
	memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	free(src->v);
	src->v = NULL;
	src->n = 0;
}

/* Every alternative of a and b in one clause: "or", "with". */
static void cset_union(struct cset *a, struct cset *b)
{
	struct clause one = { 0 };

	cset_append(a, b);
	for (size_t i = 0; i < a->n; i++) {
		one.alts = ut_realloc(one.alts, (one.n + a->v[i].n + 1) * sizeof(*one.alts));
		memcpy(one.alts + one.n, a->v[i].alts, a->v[i].n * sizeof(*one.alts));
		one.n += a->v[i].n;
		one.cond |= a->v[i].cond;
		free(a->v[i].alts);
	}
	a->v = ut_realloc(a->v, sizeof(*a->v));
	a->v[0] = one;
	a->n = 1;
}

static void cset_mark_cond(struct cset *c)
{
	for (size_t i = 0; i < c->n; i++)
		c->v[i].cond = 1;
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* A word: up to whitespace or a parenthesis. */
static size_t word_len(const char *s)
{
	size_t n = 0;

	while (s[n] && !strchr(" \t\n\r()", s[n]))
		n++;
	return n;
}

static int word_is(const char *s, size_t n, const char *w)
{
	return n == strlen(w) && !memcmp(s, w, n);
}

static int parse_expr(const char **sp, int depth, struct cset *out, struct ut_err *err);

/* "name", "name op version" or a nested "( ... )". */
static int parse_term(const char **sp, int depth, struct cset *out, struct ut_err *err)
{
	const char *s = skip_ws(*sp), *v;
	struct clause c = { 0 };
	enum pkg_rel rel = PKG_REL_ANY;
	size_t n, vn;

	if (*s == '(')
		return *sp = s, parse_expr(sp, depth + 1, out, err);
	n = word_len(s);
	/* "name>=1.0" written without spaces: the operator ends the name. */
	for (size_t i = 1; i < n; i++)
		if (strchr("<>=", s[i])) {
			n = i;
			break;
		}
	if (!n || strchr("<>=", s[0]))
		return ut_err_set(err, "rich dependency: a name expected at \"%.40s\"", s);
	c.alts = ut_calloc(1, sizeof(*c.alts));
	c.n = 1;
	c.alts[0].name = ut_strndup(s, n);
	s = skip_ws(s + n);
	for (vn = 0; s[vn] && strchr("<>=", s[vn]); vn++)
		;
	if (word_is(s, vn, "<"))
		rel = PKG_REL_LT;
	else if (word_is(s, vn, "<="))
		rel = PKG_REL_LE;
	else if (word_is(s, vn, "="))
		rel = PKG_REL_EQ;
	else if (word_is(s, vn, ">="))
		rel = PKG_REL_GE;
	else if (word_is(s, vn, ">"))
		rel = PKG_REL_GT;
	if (rel != PKG_REL_ANY) {
		v = skip_ws(s + vn);
		vn = word_len(v);
		if (!vn) {
			ut_err_set(err, "rich dependency: a version expected after \"%.40s\"",
				   c.alts[0].name);
			free(c.alts[0].name);
			free(c.alts);
			return -1;
		}
		c.alts[0].rel = rel;
		c.alts[0].version = ut_strndup(v, vn);
		s = v + vn;
	}
	out->v = ut_realloc(out->v, (out->n + 1) * sizeof(*out->v));
	out->v[out->n++] = c;
	*sp = s;
	return 0;
}

enum rich_op { OP_NONE, OP_AND, OP_OR, OP_WITH, OP_WITHOUT, OP_IF, OP_UNLESS };

static enum rich_op op_of(const char *s, size_t n)
{
	static const struct {
		const char *w;
		enum rich_op op;
	} ops[] = { { "and", OP_AND }, { "or", OP_OR }, { "with", OP_WITH },
		    { "without", OP_WITHOUT }, { "if", OP_IF }, { "unless", OP_UNLESS } };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (word_is(s, n, ops[i].w))
			return ops[i].op;
	return OP_NONE;
}

/* "( term [op term [else term]]... )" with *sp at the '('. */
static int parse_expr(const char **sp, int depth, struct cset *out, struct ut_err *err)
{
	const char *s = *sp;
	struct cset acc = { 0 }, rhs = { 0 }, alt = { 0 };
	enum rich_op prev = OP_NONE;

	if (depth > RICH_MAX_DEPTH)
		return ut_err_set(err, "rich dependency nests deeper than %d", RICH_MAX_DEPTH);
	s++; /* '(' */
	if (parse_term(&s, depth, &acc, err) < 0)
		goto bad;
	for (;;) {
		enum rich_op op;
		size_t n;

		s = skip_ws(s);
		if (*s == ')') {
			s++;
			break;
		}
		n = word_len(s);
		op = op_of(s, n);
		if (op == OP_NONE) {
			ut_err_set(err, "rich dependency: \"%.*s\" is no operator", (int)(n > 40 ? 40 : n),
				   *s ? s : "end of string");
			goto bad;
		}
		/* rpm allows a chain of one operator only: "a and b and c". */
		if (prev != OP_NONE && (op != prev || op == OP_IF || op == OP_UNLESS)) {
			ut_err_set(err, "rich dependency: \"%.*s\" after another operator needs "
				   "parentheses", (int)n, s);
			goto bad;
		}
		prev = op;
		s += n;
		if (parse_term(&s, depth, &rhs, err) < 0)
			goto bad;
		switch (op) {
		case OP_AND:
			cset_append(&acc, &rhs);
			break;
		case OP_OR:
		case OP_WITH:
			cset_union(&acc, &rhs);
			break;
		case OP_WITHOUT:
			cset_release(&rhs);
			break;
		default: /* OP_IF, OP_UNLESS: the condition itself installs nothing */
			cset_release(&rhs);
			cset_mark_cond(&acc);
			s = skip_ws(s);
			n = word_len(s);
			if (word_is(s, n, "else")) {
				s += n;
				if (parse_term(&s, depth, &alt, err) < 0)
					goto bad;
				cset_mark_cond(&alt);
				cset_append(&acc, &alt);
			}
			break;
		}
	}
	cset_append(out, &acc);
	*sp = s;
	return 0;
bad:
	cset_release(&acc);
	cset_release(&rhs);
	cset_release(&alt);
	return -1;
}

int pkg_rpm_rich_parse(const char *s, struct pkg *p, struct ut_err *err)
{
	struct cset set = { 0 };
	const char *q = skip_ws(s);

	if (*q != '(')
		return ut_err_set(err, "rich dependency \"%.40s\" does not start with '('", s);
	if (parse_expr(&q, 0, &set, err) < 0)
		return ut_err_prefix(err, "\"%.80s\": ", s);
	q = skip_ws(q);
	if (*q) {
		cset_release(&set);
		return ut_err_set(err, "\"%.80s\": rich dependency: text after the closing ')'", s);
	}
	for (size_t i = 0; i < set.n; i++) {
		struct pkg_dep *d = pkg_add_dep(p, PKG_DEP_DEPENDS);

		d->conditional = set.v[i].cond;
		for (size_t j = 0; j < set.v[i].n; j++)
			pkg_dep_add_alt(d, set.v[i].alts[j].name, NULL, set.v[i].alts[j].rel,
					set.v[i].alts[j].version);
		free(set.v[i].alts);
	}
	free(set.v);
	return 0;
}
