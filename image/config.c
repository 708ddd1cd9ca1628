/*
 * config.c - the OCI image configuration, to and from JSON.
 *
 * Written with sorted keys and no whitespace so that equal configs give equal
 * digests. Read leniently: any real image's config parses, unknown fields are
 * ignored, and a field of the wrong type is treated as absent, as Docker and
 * containers/image do.
 */
#include "img_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **strv_copy(char *const *v, size_t n)
{
	char **o;
	size_t i;

	if (!n)
		return NULL;
	o = ut_calloc(n, sizeof(*o));
	for (i = 0; i < n; i++)
		o[i] = v[i] ? ut_strdup(v[i]) : NULL;
	return o;
}

static char *str_copy(const char *s)
{
	return s ? ut_strdup(s) : NULL;
}

void img_config_release(struct img_config *c)
{
	size_t i;

	if (!c)
		return;
	free(c->architecture);
	free(c->os);
	strv_free(c->env, c->nenv);
	strv_free(c->cmd, c->ncmd);
	strv_free(c->entrypoint, c->nentrypoint);
	free(c->working_dir);
	free(c->user);
	free(c->stop_signal);
	strv_free(c->labels_kv, c->nlabels);
	strv_free(c->exposed_ports, c->nexposed);
	strv_free(c->diff_ids, c->ndiff_ids);
	for (i = 0; i < c->nhistory; i++) {
		free(c->history[i].created_by);
		free(c->history[i].comment);
	}
	free(c->history);
	memset(c, 0, sizeof(*c));
	c->created = -1;
}

void img_config_copy(struct img_config *dst, const struct img_config *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->architecture = str_copy(src->architecture);
	dst->os = str_copy(src->os);
	dst->env = strv_copy(src->env, dst->nenv = src->nenv);
	dst->cmd = strv_copy(src->cmd, dst->ncmd = src->ncmd);
	dst->entrypoint = strv_copy(src->entrypoint, dst->nentrypoint = src->nentrypoint);
	dst->working_dir = str_copy(src->working_dir);
	dst->user = str_copy(src->user);
	dst->stop_signal = str_copy(src->stop_signal);
	dst->labels_kv = strv_copy(src->labels_kv, dst->nlabels = src->nlabels);
	dst->exposed_ports = strv_copy(src->exposed_ports, dst->nexposed = src->nexposed);
	dst->diff_ids = strv_copy(src->diff_ids, dst->ndiff_ids = src->ndiff_ids);
	if (src->nhistory) {
		dst->history = ut_calloc(src->nhistory, sizeof(*dst->history));
		for (i = 0; i < src->nhistory; i++) {
			dst->history[i].created_by = str_copy(src->history[i].created_by);
			dst->history[i].comment = str_copy(src->history[i].comment);
			dst->history[i].empty_layer = src->history[i].empty_layer;
		}
	}
	dst->nhistory = src->nhistory;
	dst->created = src->created;
}

/* ---- writing ------------------------------------------------------------ */

static int set_str(json_t *o, const char *key, const char *s, struct ut_err *err)
{
	json_t *v;

	if (!s)
		return 0;
	v = json_string(s);
	if (!v)
		return ut_err_set(err, "image config: %s is not valid UTF-8", key);
	json_object_set_new(o, key, v);
	return 0;
}

static int set_strv(json_t *o, const char *key, char *const *v, size_t n, struct ut_err *err)
{
	json_t *a;
	size_t i;

	if (!n)
		return 0;
	a = json_array();
	for (i = 0; i < n; i++) {
		json_t *s = json_string(v[i] ? v[i] : "");

		if (!s) {
			json_decref(a);
			return ut_err_set(err, "image config: an entry of %s is not valid UTF-8", key);
		}
		json_array_append_new(a, s);
	}
	json_object_set_new(o, key, a);
	return 0;
}

static void format_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int img_config_to_json(const struct img_config *c, struct ut_buf *out, struct ut_err *err)
{
	json_t *root = json_object(), *cfg = json_object(), *rootfs, *o;
	char when[64];
	size_t i;
	int rc = -1;

	if (set_str(root, "architecture", c->architecture ? c->architecture : "amd64", err) < 0 ||
	    set_str(root, "os", c->os ? c->os : "linux", err) < 0)
		goto out;
	if (c->created >= 0) {
		format_time(c->created, when, sizeof(when));
		json_object_set_new(root, "created", json_string(when));
	}
	if (set_strv(cfg, "Env", c->env, c->nenv, err) < 0 ||
	    set_strv(cfg, "Cmd", c->cmd, c->ncmd, err) < 0 ||
	    set_strv(cfg, "Entrypoint", c->entrypoint, c->nentrypoint, err) < 0 ||
	    set_str(cfg, "WorkingDir", c->working_dir, err) < 0 ||
	    set_str(cfg, "User", c->user, err) < 0 ||
	    set_str(cfg, "StopSignal", c->stop_signal, err) < 0)
		goto out;
	if (c->nlabels) {
		o = json_object();
		json_object_set_new(cfg, "Labels", o);
		for (i = 0; i < c->nlabels; i++) {
			const char *kv = c->labels_kv[i] ? c->labels_kv[i] : "";
			const char *eq = strchr(kv, '=');
			char *k = eq ? ut_strndup(kv, (size_t)(eq - kv)) : ut_strdup(kv);
			json_t *v = json_string(eq ? eq + 1 : "");

			if (!v || json_object_set_new(o, k, v) < 0) {
				ut_err_set(err, "image config: label %s is not valid UTF-8", k);
				free(k);
				goto out;
			}
			free(k);
		}
	}
	if (c->nexposed) {
		o = json_object();
		json_object_set_new(cfg, "ExposedPorts", o);
		for (i = 0; i < c->nexposed; i++)
			if (json_object_set_new(o, c->exposed_ports[i], json_object()) < 0) {
				ut_err_set(err, "image config: bad exposed port");
				goto out;
			}
	}
	json_object_set(root, "config", cfg);
	rootfs = json_object();
	json_object_set_new(root, "rootfs", rootfs);
	json_object_set_new(rootfs, "type", json_string("layers"));
	o = json_array();
	json_object_set_new(rootfs, "diff_ids", o);
	for (i = 0; i < c->ndiff_ids; i++) {
		json_t *s = json_string(c->diff_ids[i] ? c->diff_ids[i] : "");

		if (!s) {
			ut_err_set(err, "image config: bad diff_id");
			goto out;
		}
		json_array_append_new(o, s);
	}
	if (c->nhistory) {
		o = json_array();
		json_object_set_new(root, "history", o);
		for (i = 0; i < c->nhistory; i++) {
			json_t *h = json_object();

			json_array_append_new(o, h);
			if (c->created >= 0)
				json_object_set_new(h, "created", json_string(when));
			if (set_str(h, "created_by", c->history[i].created_by, err) < 0 ||
			    set_str(h, "comment", c->history[i].comment, err) < 0)
				goto out;
			if (c->history[i].empty_layer)
				json_object_set_new(h, "empty_layer", json_true());
		}
	}
	rc = img_json_dump(root, out, err);
out:
	json_decref(cfg);
	json_decref(root);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

static char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? ut_strdup(json_string_value(v)) : NULL;
}

static char **get_strv(json_t *o, const char *key, size_t *n)
{
	json_t *a = json_object_get(o, key), *v;
	char **out = NULL;
	size_t i, k = 0;

	*n = 0;
	if (json_is_string(a)) {
		/* Old Docker configs sometimes hold a string where a list belongs. */
		out = ut_calloc(1, sizeof(*out));
		out[0] = ut_strdup(json_string_value(a));
		*n = 1;
		return out;
	}
	if (!json_is_array(a) || !json_array_size(a))
		return NULL;
	out = ut_calloc(json_array_size(a), sizeof(*out));
	json_array_foreach(a, i, v)
		if (json_is_string(v))
			out[k++] = ut_strdup(json_string_value(v));
	*n = k;
	return out;
}

/* RFC 3339 as Go writes it: 2006-01-02T15:04:05.999999999Z07:00. */
static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *p;
	int64_t t;

	if (!s)
		return -1;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	t = (int64_t)timegm(&tm);
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == '+' || *p == '-') && strlen(p) >= 6 && p[3] == ':') {
		int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			  ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

		t -= *p == '+' ? off : -off;
	}
	return t;
}

int img_config_from_json(const char *json, size_t len, struct img_config *c,
			 struct ut_err *err)
{
	json_t *root = NULL, *cfg, *rootfs, *o, *v;
	const char *k;
	size_t i, n;

	memset(c, 0, sizeof(*c));
	c->created = -1;
	if (len > IMG_JSON_MAX)
		return ut_err_set(err, "image config: %zu bytes, more than the %u allowed", len,
				  IMG_JSON_MAX);
	root = img_json_parse(json, len, "image config", err);
	if (!root)
		return -1;
	if (!json_is_object(root)) {
		json_decref(root);
		return ut_err_set(err, "image config: not a JSON object");
	}
	c->architecture = get_str(root, "architecture");
	c->os = get_str(root, "os");
	{
		char *when = get_str(root, "created");

		c->created = parse_time(when);
		free(when);
	}
	cfg = json_object_get(root, "config");
	if (json_is_object(cfg)) {
		c->env = get_strv(cfg, "Env", &c->nenv);
		c->cmd = get_strv(cfg, "Cmd", &c->ncmd);
		c->entrypoint = get_strv(cfg, "Entrypoint", &c->nentrypoint);
		c->working_dir = get_str(cfg, "WorkingDir");
		c->user = get_str(cfg, "User");
		c->stop_signal = get_str(cfg, "StopSignal");
		o = json_object_get(cfg, "Labels");
		if (json_is_object(o) && (n = json_object_size(o))) {
			c->labels_kv = ut_calloc(n, sizeof(char *));
			json_object_foreach(o, k, v)
				if (json_is_string(v) && c->nlabels < n)
					c->labels_kv[c->nlabels++] =
						ut_asprintf("%s=%s", k, json_string_value(v));
		}
		o = json_object_get(cfg, "ExposedPorts");
		if (json_is_object(o) && (n = json_object_size(o))) {
			c->exposed_ports = ut_calloc(n, sizeof(char *));
			json_object_foreach(o, k, v)
				if (c->nexposed < n)
					c->exposed_ports[c->nexposed++] = ut_strdup(k);
		}
	}
	rootfs = json_object_get(root, "rootfs");
	if (json_is_object(rootfs))
		c->diff_ids = get_strv(rootfs, "diff_ids", &c->ndiff_ids);
	o = json_object_get(root, "history");
	if (json_is_array(o) && (n = json_array_size(o))) {
		c->history = ut_calloc(n, sizeof(*c->history));
		json_array_foreach(o, i, v) {
			if (!json_is_object(v))
				continue;
			c->history[c->nhistory].created_by = get_str(v, "created_by");
			c->history[c->nhistory].comment = get_str(v, "comment");
			c->history[c->nhistory].empty_layer =
				json_is_true(json_object_get(v, "empty_layer"));
			c->nhistory++;
		}
	}
	json_decref(root);
	return 0;
}

static void strv_push(char ***v, size_t *n, const char *s)
{
	*v = ut_realloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = ut_strdup(s);
}

void img_config_add_layer(struct img_config *c, const char *diff_id, const char *created_by,
			  const char *comment)
{
	struct img_history *h;

	strv_push(&c->diff_ids, &c->ndiff_ids, diff_id);
	c->history = ut_realloc(c->history, (c->nhistory + 1) * sizeof(*c->history));
	h = &c->history[c->nhistory++];
	h->created_by = ut_strdup(created_by);
	h->comment = comment ? ut_strdup(comment) : NULL;
	h->empty_layer = 0;
}

void img_config_add_label(struct img_config *c, const char *key, const char *value)
{
	char *kv = ut_asprintf("%s=%s", key, value);

	strv_push(&c->labels_kv, &c->nlabels, kv);
	free(kv);
}

void img_config_add_cmd(struct img_config *c, const char *arg)
{
	strv_push(&c->cmd, &c->ncmd, arg);
}

void img_config_set_platform(struct img_config *c, const char *architecture, const char *os)
{
	free(c->architecture);
	c->architecture = ut_strdup(architecture);
	free(c->os);
	c->os = ut_strdup(os);
}

void img_config_set_command(struct img_config *c, char *const *argv, size_t n)
{
	strv_free(c->cmd, c->ncmd);
	c->cmd = strv_copy(argv, c->ncmd = n);
	strv_free(c->entrypoint, c->nentrypoint);
	c->entrypoint = NULL;
	c->nentrypoint = 0;
}

static void replace_str(char **field, const char *s)
{
	free(*field);
	*field = str_copy(s);
}

void img_config_set_user(struct img_config *c, const char *user)
{
	replace_str(&c->user, user);
}

void img_config_set_working_dir(struct img_config *c, const char *dir)
{
	replace_str(&c->working_dir, dir);
}

void img_config_set_stop_signal(struct img_config *c, const char *signal)
{
	replace_str(&c->stop_signal, signal);
}

void img_config_set_env(struct img_config *c, const char *kv)
{
	size_t kl = strcspn(kv, "=");

	for (size_t i = 0; i < c->nenv; i++)
		if (c->env[i] && !strncmp(c->env[i], kv, kl) && c->env[i][kl] == '=') {
			replace_str(&c->env[i], kv);
			return;
		}
	strv_push(&c->env, &c->nenv, kv);
}

void img_config_add_exposed_port(struct img_config *c, const char *port)
{
	for (size_t i = 0; i < c->nexposed; i++)
		if (c->exposed_ports[i] && !strcmp(c->exposed_ports[i], port))
			return;
	strv_push(&c->exposed_ports, &c->nexposed, port);
}
