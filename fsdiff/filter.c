/*
 * filter.c - rsync's include/exclude rules over a tree: which paths a layer
 * leaves out, with rsync's own matching so that a rule means here what it
 * means to `rsync --filter-from`.
 *
 * Matching follows rsync's exclude.c (rule_matches) and wildmatch.c
 * (dowild): a pattern without a slash (a trailing one aside) and without
 * "**" is matched against the last component only; an unanchored pattern
 * with an inner slash against the last (slashes + 1) components; an
 * unanchored pattern with "**" not at its start at every slash; anything
 * else against the whole path. '*' and '?' stop at '/', "**" does not, a
 * trailing "/" + "***" matches a directory itself and everything below it, and
 * a backslash quotes the next character in a pattern that has wildcards.
 */
#include "fsdiff.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct rule {
	char action;     /* enum fsd_rule_action */
	char *text;      /* as given: "/vmlinuz", "*.deb" */
	char *pat;       /* what is matched: no leading or trailing slash */
	char *group;
	unsigned anchored : 1, dir_only : 1, wild : 1, wild2 : 1, wild2_prefix : 1,
		wild3 : 1;
	size_t slashes;  /* as rsync counts them: the leading one included */
	size_t lit;      /* anchored: pat's literal start, a quick reject */
	uint64_t files, bytes;
};

struct fsd_filter {
	struct rule *v;
	size_t n;
};

struct fsd_filter *fsd_filter_new(void)
{
	return ut_calloc(1, sizeof(struct fsd_filter));
}

void fsd_filter_free(struct fsd_filter *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->v[i].text);
		free(f->v[i].pat);
		free(f->v[i].group);
	}
	free(f->v);
	free(f);
}

int fsd_filter_add(struct fsd_filter *f, enum fsd_rule_action action, const char *pattern,
		   const char *group, struct ut_err *err)
{
	struct rule r = { 0 };
	size_t len = strlen(pattern), i;
	const char *p = pattern;

	if (action != FSD_RULE_INCLUDE && action != FSD_RULE_EXCLUDE && action != FSD_RULE_EMPTY)
		return ut_err_set(err, "unknown rule action '%c'", action);
	if (!len)
		return ut_err_set(err, "empty pattern");
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20)
			return ut_err_set(err, "pattern \"%s\": control character", pattern);
	if (strstr(pattern, "[:"))
		return ut_err_set(err, "pattern \"%s\": character class names ([:alpha:]) are not supported",
				  pattern);
	r.action = (char)action;
	r.text = ut_strdup(pattern);
	if (len > 1 && p[len - 1] == '/') {
		r.dir_only = 1;
		len--;
	}
	for (i = 0; i < len; i++)
		r.slashes += p[i] == '/';
	if (*p == '/') {
		r.anchored = 1;
		p++;
		len--;
	}
	r.pat = ut_strndup(p, len);
	if (strpbrk(r.pat, "*?[")) {
		const char *ss = strstr(r.pat, "**");

		r.wild = 1;
		r.wild2 = ss != NULL;
		r.wild2_prefix = ss == r.pat && !r.anchored; /* rsync looks before the '/' */
		r.wild3 = ss && len >= 3 && !strcmp(r.pat + len - 3, "***");
	}
	if (r.anchored && !r.wild3)
		r.lit = strcspn(r.pat, "*?[\\");
	r.group = ut_strdup(group ? group : "");
	f->v = ut_realloc(f->v, (f->n + 1) * sizeof(*f->v));
	f->v[f->n++] = r;
	return 0;
}

/* A rule line: "+ PAT", "- PAT", "= PAT" (vm2oci's own: keep the file but
 * empty it). */
static int parse_line(struct fsd_filter *f, const char *line, size_t len, const char *group,
		      struct ut_err *err)
{
	char *pat;
	int rc;

	if (len < 3 || line[1] != ' ' || !strchr("+-=", line[0]))
		return ut_err_set(err, "expected \"+ PATTERN\", \"- PATTERN\" or \"= PATTERN\"");
	pat = ut_strndup(line + 2, len - 2);
	rc = fsd_filter_add(f, (enum fsd_rule_action)line[0], pat, group, err);
	free(pat);
	return rc;
}

int fsd_filter_parse(struct fsd_filter *f, const char *text, size_t len, const char *group,
		     struct ut_err *err)
{
	size_t pos = 0, lineno = 0;

	while (pos < len) {
		size_t end = pos;

		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		lineno++;
		/* rsync ignores blank lines and comments in filter files. */
		if (end > pos && text[pos] != '#' && text[pos] != ';') {
			if (memchr(text + pos, '\0', end - pos))
				return ut_err_set(err, "line %zu: NUL byte", lineno);
			if (parse_line(f, text + pos, end - pos, group, err) < 0)
				return ut_err_prefix(err, "line %zu: ", lineno);
		}
		pos = end + 1;
	}
	return 0;
}

char *fsd_filter_text(const struct fsd_filter *f)
{
	struct ut_buf b;
	size_t i;

	ut_buf_init(&b, 0);
	for (i = 0; i < f->n; i++)
		ut_buf_addf(&b, NULL, "%c %s\n", f->v[i].action, f->v[i].text);
	return ut_buf_detach(&b, NULL);
}

size_t fsd_filter_count(const struct fsd_filter *f)
{
	return f ? f->n : 0;
}

void fsd_filter_rule(const struct fsd_filter *f, size_t i, struct fsd_rule_info *out)
{
	const struct rule *r = &f->v[i];

	out->action = (enum fsd_rule_action)r->action;
	out->pattern = r->text;
	out->group = r->group;
	out->files = r->files;
	out->bytes = r->bytes;
}

/*
 * What a VM has that its image should not: the VM's kernel and boot files
 * (a container runs on the host's kernel), swap, what a running system puts
 * in its volatile folders (the folders stay: software expects them; /run
 * keeps its subfolders too, empty), the
 * package managers' download caches (the packages are installed), and the
 * machine's identity (systemd's machine-id(5): an image carries an empty
 * /etc/machine-id, filled at first boot, and a file to bind-mount over).
 */
static const struct {
	unsigned group;
	char action;
	const char *pattern;
} defaults[] = {
	{ FSD_GROUP_KERNEL, '-', "/boot/*" },
	{ FSD_GROUP_KERNEL, '-', "/lib/modules/*" },
	{ FSD_GROUP_KERNEL, '-', "/usr/lib/modules/*" },
	{ FSD_GROUP_KERNEL, '-', "/usr/src/linux-headers-*" },
	{ FSD_GROUP_KERNEL, '-', "/usr/lib/linux-kbuild-*" },
	{ FSD_GROUP_KERNEL, '-', "/usr/src/kernels/*" },
	{ FSD_GROUP_KERNEL, '-', "/vmlinuz" },
	{ FSD_GROUP_KERNEL, '-', "/vmlinuz.old" },
	{ FSD_GROUP_KERNEL, '-', "/initrd.img" },
	{ FSD_GROUP_KERNEL, '-', "/initrd.img.old" },
	{ FSD_GROUP_SWAP, '-', "/swapfile" },
	{ FSD_GROUP_VOLATILE, '-', "/proc/*" },
	{ FSD_GROUP_VOLATILE, '-', "/sys/*" },
	/* /run's folders stay, empty: /var/lock points at /run/lock, and a
	 * daemon's start-up (mkdir -p /var/lock/apache2) needs it there. */
	{ FSD_GROUP_VOLATILE, '+', "/run/**/" },
	{ FSD_GROUP_VOLATILE, '-', "/run/**" },
	{ FSD_GROUP_VOLATILE, '-', "/tmp/*" },
	{ FSD_GROUP_CACHES, '-', "/var/cache/apt/archives/*.deb" },
	{ FSD_GROUP_CACHES, '-', "/var/cache/apt/archives/partial/*" },
	{ FSD_GROUP_CACHES, '-', "/var/cache/apt/*.bin" },
	{ FSD_GROUP_CACHES, '-', "/var/cache/yum/*" },
	{ FSD_GROUP_CACHES, '-', "/var/cache/dnf/*" },
	{ FSD_GROUP_MACHINE_ID, '=', "/etc/machine-id" },
};

static const char *group_name(unsigned g)
{
	switch (g) {
	case FSD_GROUP_KERNEL: return "kernel";
	case FSD_GROUP_SWAP: return "swap";
	case FSD_GROUP_VOLATILE: return "volatile";
	case FSD_GROUP_CACHES: return "package-caches";
	case FSD_GROUP_MACHINE_ID: return "machine-id";
	}
	return "default";
}

void fsd_filter_add_defaults(struct fsd_filter *f, unsigned groups)
{
	size_t i;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		int rc;

		if (!(groups & defaults[i].group))
			continue;
		rc = fsd_filter_add(f, (enum fsd_rule_action)defaults[i].action,
				    defaults[i].pattern, group_name(defaults[i].group), NULL);
		assert(rc == 0);
		(void)rc;
	}
}

/* ---- matching ----------------------------------------------------------- */

enum { NOMATCH = 0, MATCH = 1, ABORT_ALL = -1, ABORT_TO_STARSTAR = -2 };

/* One bracket expression at *pp (after '['): whether c is in it; *pp is
 * left on the closing ']'. -1 for an unterminated class. */
static int bracket(const char **pp, unsigned char c)
{
	const unsigned char *p = (const unsigned char *)*pp;
	int negate = 0, matched = 0;
	unsigned prev = 0;
	unsigned pc = *p;

	if (pc == '!' || pc == '^') {
		negate = 1;
		pc = *++p;
	}
	do {
		if (!pc)
			return -1;
		if (pc == '\\') {
			pc = *++p;
			if (!pc)
				return -1;
			if (c == pc)
				matched = 1;
		} else if (pc == '-' && prev && p[1] && p[1] != ']') {
			pc = *++p;
			if (pc == '\\') {
				pc = *++p;
				if (!pc)
					return -1;
			}
			if (c <= pc && c >= prev)
				matched = 1;
			pc = 0; /* a range is no start of the next one */
		} else if (c == pc) {
			matched = 1;
		}
		prev = pc;
		pc = *++p;
	} while (pc != ']');
	*pp = (const char *)p;
	return matched != negate && c != '/';
}

/* rsync's dowild: NOMATCH, MATCH or an ABORT_* that prunes the search. */
static int wild(const char *p, const char *t)
{
	for (; *p; p++, t++) {
		int special, m;

		if (!*t && *p != '*')
			return ABORT_ALL;
		switch (*p) {
		case '\\':
			if (!p[1] || *t != p[1])
				return NOMATCH;
			p++;
			break;
		case '?':
			if (*t == '/')
				return NOMATCH;
			break;
		case '[':
			p++;
			m = bracket(&p, (unsigned char)*t);
			if (m < 0)
				return ABORT_ALL;
			if (!m)
				return NOMATCH;
			break;
		case '*':
			special = p[1] == '*';
			while (p[1] == '*')
				p++;
			p++;
			if (!*p)
				return special || !strchr(t, '/') ? MATCH : NOMATCH;
			for (;; t++) {
				if (!*t)
					return ABORT_ALL;
				m = wild(p, t);
				if (m != NOMATCH) {
					if (!special || m != ABORT_TO_STARSTAR)
						return m;
				} else if (!special && *t == '/') {
					return ABORT_TO_STARSTAR;
				}
			}
		default:
			if (*t != *p)
				return NOMATCH;
			break;
		}
	}
	return *t ? NOMATCH : MATCH;
}

/* wildmatch_array's "where": 0 the whole text, N > 0 its last N components,
 * -1 the whole text or any part after a slash. */
static int wild_where(const char *pat, const char *text, long where)
{
	const char *t = text;
	int m;

	if (where > 0) {
		const char *s = text + strlen(text);

		t = NULL;
		while (s > text) {
			if (*--s == '/' && !--where) {
				t = s + 1;
				break;
			}
		}
		if (!t && where != 1)
			return 0;
		if (!t)
			t = text;
	}
	m = wild(pat, t);
	if (m == MATCH)
		return 1;
	if (where >= 0 || m == ABORT_ALL)
		return 0;
	for (; *t; t++) {
		if (*t != '/')
			continue;
		m = wild(pat, t + 1);
		if (m == MATCH)
			return 1;
		if (m == ABORT_ALL)
			return 0;
	}
	return 0;
}

/* rsync's rule_matches for a path relative to the root ("etc/fstab"). */
static int rule_matches(const struct rule *r, const char *path, size_t len, int is_dir,
			char *scratch)
{
	const char *name = path;
	long where;

	if (r->dir_only && !is_dir)
		return 0;
	if (r->lit && strncmp(path, r->pat, r->lit))
		return 0;
	if (!r->slashes && !r->wild2) {
		const char *s = strrchr(path, '/');

		if (s)
			name = s + 1;
	}
	if (!r->anchored && r->slashes && !r->wild2)
		where = (long)r->slashes + 1;
	else if (!r->anchored && r->wild2 && !r->wild2_prefix)
		where = -1;
	else
		where = 0;
	if (r->wild2_prefix || (r->wild3 && is_dir)) {
		/* rsync matches "**" + "/x" at the top too, as if the path began
		 * with a slash, and "dir/" + "***" on "dir" itself by trying "dir/". */
		size_t off = (size_t)(name - path), k = 0;

		if (r->wild2_prefix)
			scratch[k++] = '/';
		memcpy(scratch + k, name, len - off);
		k += len - off;
		if (r->wild3 && is_dir)
			scratch[k++] = '/';
		scratch[k] = '\0';
		name = scratch;
	}
	if (r->wild)
		return wild_where(r->pat, name, where);
	/* A literal: the same comparisons, with no character special. */
	if (where == 0)
		return !strcmp(name, r->pat);
	{
		size_t nl = strlen(name), pl = strlen(r->pat);

		if (pl > nl || strcmp(name + nl - pl, r->pat))
			return 0;
		return nl == pl || name[nl - pl - 1] == '/';
	}
}

static int first_match(const struct fsd_filter *f, const char *path, int is_dir, char *scratch)
{
	size_t i, len = strlen(path);

	for (i = 0; i < f->n; i++)
		if (rule_matches(&f->v[i], path, len, is_dir, scratch))
			return (int)i;
	return -1;
}

int fsd_filter_match(const struct fsd_filter *f, const char *path, int is_dir)
{
	char *scratch = ut_malloc(strlen(path) + 3);
	int m = f && *path ? first_match(f, path, is_dir, scratch) : -1;

	free(scratch);
	return m;
}

/* ---- trees -------------------------------------------------------------- */

/* The decisions for the ancestors of the entry at hand: entry k of the
 * stack is a directory prefix of the current path, and the rule that
 * excluded it (or -1). */
struct chain {
	size_t *len;
	int *rule;
	size_t n;
};

/* The rule excluding path through an ancestor, or -1; fills the chain with
 * path's ancestors first (those the tree lacks are judged as directories,
 * as rsync would meet them). */
static int ancestor_rule(const struct fsd_filter *f, struct chain *c, const char *path,
			 char *scratch, char *prefix)
{
	size_t len = strlen(path), pos;

	while (c->n && !(c->len[c->n - 1] < len && !strncmp(path, prefix, c->len[c->n - 1]) &&
			 path[c->len[c->n - 1]] == '/'))
		c->n--;
	pos = c->n ? c->len[c->n - 1] + 1 : 0;
	for (;;) {
		const char *s = memchr(path + pos, '/', len - pos);
		int r;

		if (!s)
			break;
		if (c->n && c->rule[c->n - 1] >= 0)
			return c->rule[c->n - 1];
		memcpy(prefix, path, (size_t)(s - path));
		prefix[s - path] = '\0';
		r = first_match(f, prefix, 1, scratch);
		c->len[c->n] = (size_t)(s - path);
		c->rule[c->n++] = r >= 0 && f->v[r].action == FSD_RULE_EXCLUDE ? r : -1;
		pos = (size_t)(s - path) + 1;
	}
	return c->n ? c->rule[c->n - 1] : -1;
}

static void empty_entry(struct ut_entry *e)
{
	e->size = 0;
	ut_sha256_buf("", 0, e->digest);
	e->has_digest = 1;
	/* Its link set's other names keep their bytes: no longer one inode. */
	e->link_id = 0;
}

void fsd_filter_tree(struct fsd_filter *f, struct ut_tree *t, unsigned flags)
{
	struct chain c = { 0 };
	size_t i, out = 0, maxlen = 1, depth = 1;
	char *scratch, *prefix;

	if (!f || !f->n)
		return;
	ut_tree_sort(t);
	for (i = 0; i < t->n; i++) {
		size_t l = strlen(t->v[i].path), d = 1;

		for (const char *s = t->v[i].path; *s; s++)
			d += *s == '/';
		maxlen = l + 3 > maxlen ? l + 3 : maxlen;
		depth = d > depth ? d : depth;
	}
	scratch = ut_malloc(maxlen);
	prefix = ut_malloc(maxlen);
	c.len = ut_malloc(depth * sizeof(*c.len));
	c.rule = ut_malloc(depth * sizeof(*c.rule));
	prefix[0] = '\0';
	for (i = 0; i < t->n; i++) {
		struct ut_entry *e = &t->v[i];
		int r = -1;

		if (e->path[0]) {
			/* The chain holds path prefixes of the last path judged;
			 * prefix holds the deepest one's text. */
			r = ancestor_rule(f, &c, e->path, scratch, prefix);
			if (r < 0) {
				r = first_match(f, e->path, e->type == UT_DIR, scratch);
				if (r >= 0 && f->v[r].action == FSD_RULE_EMPTY && e->type == UT_REG &&
				    (flags & FSD_FILTER_EMPTY)) {
					if (flags & FSD_FILTER_COUNT) {
						f->v[r].files++;
						f->v[r].bytes += e->size;
					}
					empty_entry(e);
				}
				if (r >= 0 && f->v[r].action != FSD_RULE_EXCLUDE)
					r = -1;
			}
		}
		if (r >= 0 && (flags & FSD_FILTER_EXCLUDE)) {
			if (flags & FSD_FILTER_COUNT) {
				f->v[r].files++;
				if (e->type == UT_REG)
					f->v[r].bytes += e->size;
			}
			ut_entry_release(e);
			continue;
		}
		t->v[out++] = *e;
	}
	t->n = out;
	free(scratch);
	free(prefix);
	free(c.len);
	free(c.rule);
}
