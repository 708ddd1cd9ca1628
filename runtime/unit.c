/*
 * unit.c - the text formats of start-up configuration: systemd unit files,
 * their quoted words and environment files, and plain shell assignments.
 * Written from systemd.syntax(7), systemd.exec(5) and systemd.service(5);
 * the quirks kept are the ones a real unit relies on (empty assignments
 * resetting lists, $VAR versus ${VAR} in ExecStart).
 */
#include "rt_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- string vectors ----------------------------------------------------- */

void rt_strv_push(struct rt_strv *s, const char *str)
{
	s->v = ut_realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = ut_strdup(str);
}

void rt_strv_release(struct rt_strv *s)
{
	ut_strv_free(s->v, s->n);
	s->v = NULL;
	s->n = 0;
}

int rt_strv_has(const struct rt_strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return 1;
	return 0;
}

static size_t key_len(const char *kv)
{
	return strcspn(kv, "=");
}

void rt_env_set(struct rt_strv *env, const char *kv)
{
	size_t kl = key_len(kv), i;

	if (!kl || !kv[kl])
		return;
	for (i = 0; i < env->n; i++)
		if (key_len(env->v[i]) == kl && !strncmp(env->v[i], kv, kl)) {
			/* Later wins, at the place of the first (as an env block). */
			free(env->v[i]);
			env->v[i] = ut_strdup(kv);
			return;
		}
	rt_strv_push(env, kv);
}

const char *rt_env_get(const struct rt_strv *env, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < env->n; i++)
		if (key_len(env->v[i]) == kl && !strncmp(env->v[i], key, kl))
			return env->v[i] + kl + 1;
	return NULL;
}

/* ---- the guest ---------------------------------------------------------- */

int rt_read_text(const struct ut_tree *t, const char *path, struct ut_buf *b, struct ut_err *err)
{
	ut_buf_release(b);
	ut_buf_init(b, RT_FILE_MAX);
	return ut_tree_read_file(t, path, b, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rt_list_sorted(const struct ut_tree *t, const char *path, struct rt_strv *names)
{
	struct ut_err err = { { 0 } };
	int r;

	names->v = NULL;
	names->n = 0;
	r = ut_tree_list_dir(t, path, &names->v, &names->n, &err);
	if (r <= 0)
		return 0;
	if (names->n)
		qsort(names->v, names->n, sizeof(*names->v), cmp_str);
	return 1;
}

int rt_exists(const struct ut_tree *t, const char *path)
{
	return ut_tree_resolve(t, path, 1, NULL) != NULL;
}

/* ---- unit files --------------------------------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A logical line: [Section] or Key=Value. */
static void unit_line(struct rt_unit *u, char **section, char *s)
{
	char *eq;

	s = trim(s);
	if (*s == '[') {
		char *close = strchr(s, ']');

		if (close) {
			free(*section);
			*section = ut_strndup(s + 1, (size_t)(close - s - 1));
		}
	} else if ((eq = strchr(s, '='))) {
		struct rt_kv *kv;

		*eq = '\0';
		u->kv = ut_realloc(u->kv, (u->n + 1) * sizeof(*u->kv));
		kv = &u->kv[u->n++];
		kv->section = ut_strdup(*section);
		kv->key = ut_strdup(trim(s));
		kv->value = ut_strdup(trim(eq + 1));
	}
}

void rt_unit_parse(struct rt_unit *u, const char *text)
{
	struct ut_buf line;
	char *section = ut_strdup("");
	const char *p = text;

	ut_buf_init(&line, 0);
	ut_buf_grow(&line, 1, NULL);
	/* Physical lines are joined into line while they end in a backslash. */
	while (*p || line.len) {
		if (*p) {
			size_t l = strcspn(p, "\n");
			char *raw = ut_strndup(p, l), *r = trim(raw);
			int more;

			p += l + (p[l] == '\n');
			/* A comment line, also inside a continuation: skipped. */
			if (*r == '#' || *r == ';') {
				free(raw);
				continue;
			}
			more = *r && r[strlen(r) - 1] == '\\';
			if (more)
				r[strlen(r) - 1] = ' ';
			ut_buf_addstr(&line, r, NULL);
			free(raw);
			if (more && *p)
				continue;
		}
		unit_line(u, &section, (char *)line.data);
		ut_buf_reset(&line);
	}
	free(section);
	ut_buf_release(&line);
}

void rt_unit_release(struct rt_unit *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->kv[i].section);
		free(u->kv[i].key);
		free(u->kv[i].value);
	}
	free(u->kv);
	u->kv = NULL;
	u->n = 0;
}

void rt_unit_list(const struct rt_unit *u, const char *section, const char *key,
		  struct rt_strv *out)
{
	out->v = NULL;
	out->n = 0;
	for (size_t i = 0; i < u->n; i++) {
		if (strcmp(u->kv[i].section, section) || strcmp(u->kv[i].key, key))
			continue;
		if (!u->kv[i].value[0]) {
			out->n = 0;
			continue;
		}
		out->v = ut_realloc(out->v, (out->n + 1) * sizeof(*out->v));
		out->v[out->n++] = u->kv[i].value;
	}
}

const char *rt_unit_get(const struct rt_unit *u, const char *section, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < u->n; i++)
		if (!strcmp(u->kv[i].section, section) && !strcmp(u->kv[i].key, key))
			v = u->kv[i].value[0] ? u->kv[i].value : NULL;
	return v;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* One C-like escape at s (after the backslash) into b; returns the bytes used. */
static size_t add_escape(struct ut_buf *b, const char *s)
{
	static const char from[] = "abfnrtv\\\"' ", to[] = "\a\b\f\n\r\t\v\\\"' ";
	const char *f;
	char c;

	if (!*s)
		return 0;
	if ((f = strchr(from, *s))) {
		c = to[f - from];
		ut_buf_add(b, &c, 1, NULL);
		return 1;
	}
	if (*s == 'x' && hexval((unsigned char)s[1]) >= 0 && hexval((unsigned char)s[2]) >= 0) {
		c = (char)(hexval((unsigned char)s[1]) * 16 + hexval((unsigned char)s[2]));
		ut_buf_add(b, &c, 1, NULL);
		return 3;
	}
	ut_buf_add(b, s, 1, NULL);
	return 1;
}

int rt_split_words(const char *s, struct rt_strv *out)
{
	struct ut_buf w;
	int rc = 0;

	ut_buf_init(&w, 0);
	for (;;) {
		int have = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		ut_buf_reset(&w);
		ut_buf_grow(&w, 1, NULL);
		while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
			if (*s == '"' || *s == '\'') {
				char q = *s++;

				while (*s && *s != q) {
					if (*s == '\\' && s[1])
						s += 1 + add_escape(&w, s + 1);
					else
						ut_buf_add(&w, s++, 1, NULL);
				}
				if (!*s) {
					rc = -1;
					goto out;
				}
				s++;
			} else if (*s == '\\' && s[1]) {
				s += 1 + add_escape(&w, s + 1);
			} else {
				ut_buf_add(&w, s++, 1, NULL);
			}
			have = 1;
		}
		if (have)
			rt_strv_push(out, (char *)w.data);
	}
out:
	ut_buf_release(&w);
	return rc;
}

void rt_environment_parse(const char *value, struct rt_strv *env)
{
	struct rt_strv words = { 0 };

	rt_split_words(value, &words);
	for (size_t i = 0; i < words.n; i++)
		rt_env_set(env, words.v[i]);
	rt_strv_release(&words);
}

/* The value after '=' of an environment-file line, unquoted, with
 * continuation lines joined; *p moves past what was used. */
static void envfile_value(const char **p, struct ut_buf *b, int shell, const struct rt_strv *vars);

void rt_envfile_parse(const char *text, struct rt_strv *env)
{
	const char *p = text;
	struct ut_buf kv;

	ut_buf_init(&kv, 0);
	while (*p) {
		const char *k, *eq;
		size_t kl;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '#' || *p == ';') {
			p += strcspn(p, "\n");
			continue;
		}
		if (!strncmp(p, "export ", 7))
			p += 7;
		k = p;
		eq = p + strcspn(p, "=\n");
		if (*eq != '=') {
			p = eq;
			continue;
		}
		kl = (size_t)(eq - k);
		while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
			kl--;
		p = eq + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		ut_buf_reset(&kv);
		ut_buf_add(&kv, k, kl, NULL);
		ut_buf_add(&kv, "=", 1, NULL);
		envfile_value(&p, &kv, 0, NULL);
		if (kl)
			rt_env_set(env, (char *)kv.data);
	}
	ut_buf_release(&kv);
}

static int name_char(int c, int first)
{
	return c == '_' || isalpha(c) || (!first && isdigit(c));
}

/* $NAME or ${NAME} at *p (the '$' included) expanded into b from vars;
 * other shell expansions (${X##y}, $(...)) give nothing. */
static void add_var(const char **p, struct ut_buf *b, const struct rt_strv *vars)
{
	const char *s = *p + 1;
	char *name;
	const char *v;
	size_t l = 0;

	if (*s == '{') {
		s++;
		while (name_char((unsigned char)s[l], !l))
			l++;
		name = ut_strndup(s, l);
		s += l;
		s += strcspn(s, "}\n");
		if (*s == '}')
			s++;
	} else {
		while (name_char((unsigned char)s[l], !l))
			l++;
		if (!l) {
			ut_buf_add(b, "$", 1, NULL);
			*p += 1;
			return;
		}
		name = ut_strndup(s, l);
		s += l;
	}
	if (vars && (v = rt_env_get(vars, name)))
		ut_buf_addstr(b, v, NULL);
	free(name);
	*p = s;
}

static void envfile_value(const char **pp, struct ut_buf *b, int shell, const struct rt_strv *vars)
{
	const char *p = *pp;
	size_t trail = b->len; /* unquoted trailing whitespace is dropped */

	while (*p && *p != '\n') {
		if (*p == '\'' ) {
			const char *e = strchr(p + 1, '\'');

			if (!e)
				e = p + strlen(p);
			ut_buf_add(b, p + 1, (size_t)(e - p - 1), NULL);
			p = *e ? e + 1 : e;
			trail = b->len;
		} else if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p += 1 + add_escape(b, p + 1);
				else if (shell && *p == '$')
					add_var(&p, b, vars);
				else
					ut_buf_add(b, p++, 1, NULL);
			}
			if (*p)
				p++;
			trail = b->len;
		} else if (*p == '\\' && p[1] == '\n') {
			p += 2;
		} else if (*p == '\\' && p[1]) {
			p += 1 + add_escape(b, p + 1);
			trail = b->len;
		} else if (shell && (*p == '#' || *p == ';') &&
			   (b->len == 0 || b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t')) {
			break; /* a comment, or the end of a shell command */
		} else if (shell && *p == '$') {
			add_var(&p, b, vars);
			trail = b->len;
		} else {
			ut_buf_add(b, p, 1, NULL);
			if (*p != ' ' && *p != '\t' && *p != '\r')
				trail = b->len;
			p++;
		}
	}
	b->len = trail;
	if (b->data)
		b->data[b->len] = '\0';
	p += strcspn(p, "\n");
	*pp = p;
}

void rt_shell_assignments(const char *text, struct rt_strv *vars)
{
	const char *p = text;
	struct ut_buf kv;

	ut_buf_init(&kv, 0);
	while (*p) {
		const char *k;
		size_t kl = 0;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!strncmp(p, "export ", 7) || !strncmp(p, "export\t", 7))
			p += 7;
		while (*p == ' ' || *p == '\t')
			p++;
		k = p;
		while (name_char((unsigned char)k[kl], !kl))
			kl++;
		if (!kl || k[kl] != '=') {
			p += strcspn(p, "\n");
			continue;
		}
		p = k + kl + 1;
		ut_buf_reset(&kv);
		ut_buf_add(&kv, k, kl, NULL);
		ut_buf_add(&kv, "=", 1, NULL);
		envfile_value(&p, &kv, 1, vars);
		rt_env_set(vars, (char *)kv.data);
	}
	ut_buf_release(&kv);
}

int rt_exec_parse(const char *value, const struct rt_strv *env, struct rt_strv *argv)
{
	struct rt_strv words = { 0 };
	int at = 0, rc = -1;
	size_t i;

	while (*value && strchr("-@:+!", *value)) {
		if (*value == '@')
			at = 1;
		value++;
	}
	if (rt_split_words(value, &words) < 0 || !words.n)
		goto out;
	for (i = 0; i < words.n; i++) {
		const char *w = words.v[i];
		struct ut_buf b;

		if (at && i == 1)
			continue; /* argv[0] given apart from the path */
		if (w[0] == '$' && w[1] != '{' && name_char((unsigned char)w[1], 1)) {
			/* $VAR alone: the value split at whitespace, maybe no word. */
			const char *v = rt_env_get(env, w + 1);

			if (v) {
				struct rt_strv split = { 0 };

				rt_split_words(v, &split);
				for (size_t k = 0; k < split.n; k++)
					rt_strv_push(argv, split.v[k]);
				rt_strv_release(&split);
			}
			continue;
		}
		ut_buf_init(&b, 0);
		ut_buf_grow(&b, 1, NULL);
		for (const char *s = w; *s;) {
			if (s[0] == '$' && s[1] == '{')
				add_var(&s, &b, env);
			else if (s[0] == '$' && s[1] == '$')
				ut_buf_add(&b, s, 1, NULL), s += 2;
			else
				ut_buf_add(&b, s++, 1, NULL);
		}
		rt_strv_push(argv, (char *)b.data);
		ut_buf_release(&b);
	}
	rc = argv->n ? 0 : -1;
out:
	rt_strv_release(&words);
	return rc;
}
