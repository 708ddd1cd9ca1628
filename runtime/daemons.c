/*
 * daemons.c - what vm2oci knows of common daemons: the names they go by,
 * how each stays in the foreground, and where its configuration says which
 * ports it listens on. One table; a daemon not in it still runs from its
 * unit's ExecStart, only without config ports or a foreground flag.
 */
#include "rt_internal.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ports ------------------------------------------------------------- */

void rt_port_add(struct rt_service *s, unsigned port, const char *proto, const char *source,
		 const char *file)
{
	struct rt_port *p;

	if (!port || port > 65535)
		return;
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].port == port && !strcmp(s->ports[i].proto, proto))
			return;
	s->ports = ut_realloc(s->ports, (s->nports + 1) * sizeof(*s->ports));
	p = &s->ports[s->nports++];
	memset(p, 0, sizeof(*p));
	p->port = (uint16_t)port;
	snprintf(p->proto, sizeof(p->proto), "%s", proto);
	p->source = source;
	p->file = file ? ut_strdup(file) : NULL;
}

/* The whole of s as a port number, else 0. */
static unsigned port_number(const char *s, size_t len)
{
	unsigned v = 0;

	if (!len || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

/* "80", "1.2.3.4:80", "[::]:80", "*:80": the port; 0 for anything else. */
unsigned rt_listen_port(const char *value)
{
	const char *colon;
	size_t len = strcspn(value, " \t;");

	if (value[0] == '/' || value[0] == '@')
		return 0; /* a unix socket */
	colon = memrchr(value, ':', len);
	if (colon && value[0] == '[' && !memchr(colon, ']', (size_t)(value + len - colon)) &&
	    colon[-1] != ']')
		return 0;
	if (colon)
		return port_number(colon + 1, (size_t)(value + len - colon - 1));
	return port_number(value, len);
}

/* ---- configuration files ------------------------------------------------- */

typedef void (*conf_fn)(const struct ut_tree *t, struct rt_service *s, const char *path,
			char *text, void *ctx);

/* Calls fn for every guest file pattern names; '*' and '?' may appear in
 * any component (sorted matches). */
static void each_file(const struct ut_tree *t, const char *pattern, conf_fn fn,
		      struct rt_service *s, void *ctx)
{
	const char *star = strpbrk(pattern, "*?[");
	struct ut_err err = { { 0 } };

	if (!star) {
		struct ut_buf b = { 0 };

		if (rt_read_text(t, pattern, &b, &err) == 1)
			fn(t, s, pattern, (char *)b.data, ctx);
		ut_buf_release(&b);
		return;
	}
	{
		const char *comp_start, *rest;
		size_t dlen;
		char *dir, *comp;
		struct rt_strv names;

		/* The directory before the first wildcard component. */
		comp_start = star;
		while (comp_start > pattern && comp_start[-1] != '/')
			comp_start--;
		dlen = comp_start > pattern ? (size_t)(comp_start - pattern - 1) : 0;
		rest = comp_start + strcspn(comp_start, "/");
		dir = ut_strndup(pattern, dlen);
		comp = ut_strndup(comp_start, (size_t)(rest - comp_start));
		if (rt_list_sorted(t, dir, &names)) {
			for (size_t i = 0; i < names.n; i++) {
				char *next;

				if (fnmatch(comp, names.v[i], FNM_PERIOD))
					continue;
				next = ut_asprintf("%s%s%s%s", dir, dlen ? "/" : "", names.v[i], rest);
				each_file(t, next, fn, s, ctx);
				free(next);
			}
			rt_strv_release(&names);
		}
		free(dir);
		free(comp);
	}
}

/* Each line of text, trimmed, comments ('#' to the end) removed, empty
 * lines skipped: calls fn(line) with the line writable. */
static void each_line(char *text, void (*fn)(char *line, void *ctx), void *ctx)
{
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *h = strchr(l, '#'), *e;

		if (h)
			*h = '\0';
		while (*l == ' ' || *l == '\t')
			l++;
		e = l + strlen(l);
		while (e > l && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*l)
			fn(l, ctx);
	}
}

/* "Key value" with Key compared without case: the value, else NULL. */
static const char *directive(const char *line, const char *key)
{
	size_t kl = strlen(key);

	if (strncasecmp(line, key, kl) || (line[kl] != ' ' && line[kl] != '\t' && line[kl] != '='))
		return NULL;
	line += kl;
	while (*line == ' ' || *line == '\t' || *line == '=')
		line++;
	return line;
}

struct line_ctx {
	const struct ut_tree *t;
	struct rt_service *s;
	const char *path;
	int found;      /* a port directive was seen */
	int skip_depth; /* apache: inside <IfModule> blocks of modules not loaded */
	int depth;
	int in_section; /* ini files: inside the daemon's own section */
	int includes;   /* sshd: Include lines followed (a file may include itself) */
};

#define MAX_INCLUDES 16

/* ---- sshd ----------------------------------------------------------------- */

static void sshd_conf(const struct ut_tree *t, struct rt_service *s, const char *path, char *text,
		      void *ctx);

static void sshd_line(char *l, void *vc)
{
	struct line_ctx *c = vc;
	const char *v;

	if ((v = directive(l, "Port"))) {
		c->found = 1;
		rt_port_add(c->s, rt_listen_port(v), "tcp", "config", c->path);
	} else if ((v = directive(l, "ListenAddress")) && rt_listen_port(v) &&
		   (v[0] == '[' || strchr(v, ':') == strrchr(v, ':'))) {
		c->found = 1;
		rt_port_add(c->s, rt_listen_port(v), "tcp", "config", c->path);
	} else if ((v = directive(l, "Include")) && c->includes++ < MAX_INCLUDES) {
		char *inc = v[0] == '/' ? ut_strdup(v + 1) : ut_asprintf("etc/ssh/%s", v);

		each_file(c->t, inc, sshd_conf, c->s, c);
		free(inc);
	}
}

static void sshd_conf(const struct ut_tree *t, struct rt_service *s, const char *path, char *text,
		      void *ctx)
{
	struct line_ctx *c = ctx;
	const char *saved = c->path;

	c->path = path;
	each_line(text, sshd_line, c);
	c->path = saved;
}

static void sshd_ports(const struct ut_tree *t, struct rt_service *s)
{
	struct line_ctx c = { .t = t, .s = s };

	if (!rt_exists(t, "etc/ssh/sshd_config"))
		return;
	each_file(t, "etc/ssh/sshd_config", sshd_conf, s, &c);
	if (!c.found)
		rt_port_add(s, 22, "tcp", "config", "/etc/ssh/sshd_config");
}

/* ---- apache ------------------------------------------------------------- */

/* <IfModule ssl_module>, <IfModule mod_ssl.c>, <IfModule !x>: whether the
 * Debian-style mods-enabled/NAME.load (or a LoadModule of it in the
 * configuration the caller read) makes the block apply. */
static int apache_module_loaded(const struct ut_tree *t, const char *arg)
{
	int neg = arg[0] == '!';
	char *name = ut_strdup(arg + neg), *e, *load;
	int loaded;

	if ((e = strstr(name, "_module")) && !e[7])
		*e = '\0';
	if (!strncmp(name, "mod_", 4))
		memmove(name, name + 4, strlen(name + 4) + 1);
	if ((e = strstr(name, ".c")) && !e[2])
		*e = '\0';
	load = ut_asprintf("etc/apache2/mods-enabled/%s.load", name);
	loaded = rt_exists(t, load);
	free(load);
	free(name);
	return neg ? !loaded : loaded;
}

static void apache_line(char *l, void *vc)
{
	struct line_ctx *c = vc;
	const char *v;

	if (!strncasecmp(l, "<IfModule", 9)) {
		char *arg = ut_strndup(l + 9, strcspn(l + 9, ">"));
		char *a = arg;

		while (*a == ' ' || *a == '\t')
			a++;
		c->depth++;
		if (!c->skip_depth && !apache_module_loaded(c->t, a))
			c->skip_depth = c->depth;
		free(arg);
		return;
	}
	if (!strncasecmp(l, "</IfModule", 10)) {
		if (c->skip_depth == c->depth)
			c->skip_depth = 0;
		if (c->depth)
			c->depth--;
		return;
	}
	if (c->skip_depth)
		return;
	if ((v = directive(l, "Listen"))) {
		const char *proto = strstr(v, "udp") ? "udp" : "tcp";

		c->found = 1;
		rt_port_add(c->s, rt_listen_port(v), proto, "config", c->path);
	}
}

static void apache_conf(const struct ut_tree *t, struct rt_service *s, const char *path, char *text,
			void *ctx)
{
	struct line_ctx *c = ctx;

	c->path = path;
	c->depth = c->skip_depth = 0;
	each_line(text, apache_line, c);
}

static void apache_ports(const struct ut_tree *t, struct rt_service *s)
{
	static const char *const files[] = {
		"etc/apache2/apache2.conf", "etc/apache2/ports.conf",
		"etc/apache2/conf-enabled/*.conf", "etc/apache2/sites-enabled/*",
		"etc/httpd/conf/httpd.conf", "etc/httpd/conf.d/*.conf",
	};
	struct line_ctx c = { .t = t, .s = s };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		each_file(t, files[i], apache_conf, s, &c);
}

/* ---- nginx ------------------------------------------------------------- */

static void nginx_conf(const struct ut_tree *t, struct rt_service *s, const char *path, char *text,
		       void *ctx)
{
	char *p = text;

	/* Comments off first: "listen" may follow '{' or ';' on one line. */
	for (char *h = strchr(p, '#'); h; h = strchr(h, '#'))
		while (*h && *h != '\n')
			*h++ = ' ';
	while ((p = strstr(p, "listen"))) {
		int word_start = p == text || strchr(" \t\n{;", p[-1]);
		char *v = p + 6;

		p = v;
		if (!word_start || !strchr(" \t", *v))
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		{
			size_t len = strcspn(v, ";}");
			char *arg = ut_strndup(v, len);
			const char *proto = strstr(arg, " udp") || strstr(arg, " quic") ? "udp" : "tcp";
			unsigned port = strncmp(arg, "unix:", 5) ? rt_listen_port(arg) : 0;

			rt_port_add(s, port, proto, "config", path);
			free(arg);
		}
	}
}

static void nginx_ports(const struct ut_tree *t, struct rt_service *s)
{
	static const char *const files[] = {
		"etc/nginx/nginx.conf", "etc/nginx/conf.d/*.conf", "etc/nginx/sites-enabled/*",
		"etc/nginx/http.d/*.conf",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		each_file(t, files[i], nginx_conf, s, NULL);
}

/* ---- key = value daemons ---------------------------------------------- */

/* The daemon's port key ("port") in name = value lines, within the ini
 * sections named in ctx's section list when there is one. */
struct kv_ctx {
	struct line_ctx line;
	const char *key;
	const char *const *sections; /* NULL: no sections */
};

static void kv_line(char *l, void *vc)
{
	struct kv_ctx *c = vc;
	const char *v;

	if (c->sections && l[0] == '[') {
		c->line.in_section = 0;
		for (const char *const *s = c->sections; *s; s++)
			if (!strncmp(l + 1, *s, strlen(*s)) && l[1 + strlen(*s)] == ']')
				c->line.in_section = 1;
		return;
	}
	if (c->sections && !c->line.in_section)
		return;
	if ((v = directive(l, c->key))) {
		c->line.found = 1;
		rt_port_add(c->line.s, rt_listen_port(v), "tcp", "config", c->line.path);
	}
}

static void kv_conf(const struct ut_tree *t, struct rt_service *s, const char *path, char *text,
		    void *ctx)
{
	struct kv_ctx *c = ctx;

	c->line.path = path;
	c->line.in_section = 0;
	each_line(text, kv_line, c);
	if (!c->line.found)
		c->line.path = path; /* the default is named after the last file read */
}

static void kv_ports(const struct ut_tree *t, struct rt_service *s, const char *const *files,
		     const char *key, const char *const *sections, unsigned dflt)
{
	struct kv_ctx c = { .line = { .t = t, .s = s }, .key = key, .sections = sections };

	for (size_t i = 0; files[i]; i++)
		each_file(t, files[i], kv_conf, s, &c);
	if (!c.line.found && c.line.path)
		rt_port_add(s, dflt, "tcp", "config", c.line.path);
}

static void postgres_ports(const struct ut_tree *t, struct rt_service *s)
{
	static const char *const files[] = {
		"etc/postgresql/*/*/postgresql.conf", "var/lib/pgsql/data/postgresql.conf",
		"var/lib/pgsql/*/data/postgresql.conf", "var/lib/postgresql/data/postgresql.conf",
		NULL,
	};

	kv_ports(t, s, files, "port", NULL, 5432);
}

static void redis_ports(const struct ut_tree *t, struct rt_service *s)
{
	static const char *const files[] = { "etc/redis/redis.conf", "etc/redis.conf", NULL };

	kv_ports(t, s, files, "port", NULL, 6379);
}

static void mysql_ports(const struct ut_tree *t, struct rt_service *s)
{
	static const char *const files[] = {
		"etc/mysql/my.cnf", "etc/mysql/conf.d/*.cnf", "etc/mysql/mariadb.conf.d/*.cnf",
		"etc/my.cnf", "etc/my.cnf.d/*.cnf", NULL,
	};
	static const char *const sections[] = { "mysqld", "server", "mariadb", "mariadbd", NULL };

	kv_ports(t, s, files, "port", sections, 3306);
}

/* busybox httpd -p [IP:]PORT (80 without it). */
static void busybox_httpd_ports(const struct ut_tree *t, struct rt_service *s)
{
	unsigned port = 80;

	for (size_t i = 0; i + 1 < s->nexec; i++)
		if (!strcmp(s->exec[i], "-p"))
			port = rt_listen_port(s->exec[i + 1]);
	rt_port_add(s, port, "tcp", "exec", s->path);
}

/* ---- the table ----------------------------------------------------------- */

static const struct rt_daemon daemons[] = {
	{ .names = { "apache2", "httpd" }, .bins = { "/usr/sbin/apache2", "/usr/sbin/httpd" },
	  .fg = { "-DFOREGROUND" }, .envfile = "/etc/apache2/envvars",
	  .dir_vars = { "APACHE_RUN_DIR", "APACHE_LOCK_DIR", "APACHE_LOG_DIR" },
	  .ports = apache_ports },
	{ .names = { "nginx" }, .bins = { "/usr/sbin/nginx" }, .fg = { "-g", "daemon off;" },
	  .dirs = { "/run/nginx" }, .ports = nginx_ports },
	{ .names = { "ssh", "sshd" }, .bins = { "/usr/sbin/sshd" }, .fg = { "-D" },
	  .dirs = { "/run/sshd" }, .ports = sshd_ports },
	{ .names = { "cron" }, .bins = { "/usr/sbin/cron" }, .fg = { "-f" } },
	{ .names = { "crond" }, .bins = { "/usr/sbin/crond" }, .fg = { "-n" } },
	{ .names = { "redis", "redis-server" }, .bins = { "/usr/bin/redis-server" },
	  .fg = { "--daemonize", "no" }, .ports = redis_ports },
	{ .names = { "mysql", "mysqld", "mariadb" }, .bins = { "/usr/sbin/mariadbd", "/usr/sbin/mysqld" },
	  .ports = mysql_ports },
	{ .names = { "postgresql" }, .stem = 1, .ports = postgres_ports },
	{ .names = { "busybox-httpd" }, .fg = { "-f" }, .ports = busybox_httpd_ports },
};

static int is_busybox_httpd(const struct rt_service *s)
{
	return s->nexec >= 2 && !strcmp(ut_path_base(s->exec[0]), "busybox") &&
	       !strcmp(s->exec[1], "httpd");
}

const struct rt_daemon *rt_daemon_find(const struct rt_service *s)
{
	const char *exe = s->nexec ? ut_path_base(s->exec[0]) : "";
	size_t i, k;

	if (is_busybox_httpd(s))
		return &daemons[sizeof(daemons) / sizeof(daemons[0]) - 1];
	for (i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		const struct rt_daemon *d = &daemons[i];

		for (k = 0; k < 4 && d->names[k]; k++) {
			size_t nl = strlen(d->names[k]);

			/* postgresql@15-main, postgresql-13: the name's stem counts. */
			if (!strncmp(s->name, d->names[k], nl) &&
			    (!s->name[nl] || (d->stem && strchr("@-", s->name[nl]))))
				return d;
		}
		for (k = 0; k < 3 && d->bins[k]; k++)
			if (!strcmp(exe, ut_path_base(d->bins[k])))
				return d;
	}
	return NULL;
}

void rt_daemon_ports(const struct ut_tree *t, struct rt_service *s)
{
	const struct rt_daemon *d = rt_daemon_find(s);

	if (d && d->ports)
		d->ports(t, s);
}
