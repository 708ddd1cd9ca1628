/*
 * systemd.c - a guest's systemd configuration, read as systemd and
 * systemctl would read it: units found along the search path (/etc over
 * /lib over /usr/lib; /run is empty on a powered-off disk), masks and
 * aliases from the links in /etc/systemd/system, drop-ins merged in name
 * order, "enabled" from the .wants/ and .requires/ links under /etc, and
 * what boot starts from the default target's dependencies.
 */
#include "rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const unit_dirs[] = {
	"etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system",
};
#define NDIRS (sizeof(unit_dirs) / sizeof(unit_dirs[0]))
/* Bound what a hostile tree can make the dependency walk visit and queue. */
#define MAX_UNITS 4096
#define MAX_QUEUE 65536

static int has_suffix(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);

	return l > k && !strcmp(s + l - k, suffix);
}

static int is_service_unit(const char *name)
{
	return has_suffix(name, ".service") || has_suffix(name, ".socket");
}

/* "getty@tty1.service" -> "getty@.service"; NULL when name is no instance. */
static char *template_of(const char *name)
{
	const char *at = strchr(name, '@'), *dot = strrchr(name, '.');

	if (!at || !dot || dot < at || dot == at + 1)
		return NULL;
	return ut_asprintf("%.*s%s", (int)(at - name + 1), name, dot);
}

/* Where unit name lives. */
struct unit_loc {
	char *file;  /* "/lib/systemd/system/ssh.service"; NULL when masked */
	char *canon; /* the unit it is ("ssh.service" for the alias "sshd.service") */
	int masked;
};

static void loc_release(struct unit_loc *l)
{
	free(l->file);
	free(l->canon);
	memset(l, 0, sizeof(*l));
}

static int unit_locate(const struct ut_tree *t, const char *name, struct unit_loc *loc)
{
	char *tmpl;
	int r;

	memset(loc, 0, sizeof(*loc));
	if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (size_t i = 0; i < NDIRS; i++) {
		char *path = ut_asprintf("%s/%s", unit_dirs[i], name);
		const struct ut_entry *e = ut_tree_resolve(t, path, 0, NULL), *f;

		if (e && e->type == UT_LNK && !strcmp(e->link, "/dev/null")) {
			free(path);
			loc->masked = 1;
			loc->canon = ut_strdup(name);
			return 1;
		}
		f = e ? ut_tree_resolve(t, path, 1, NULL) : NULL;
		free(path);
		if (!f || f->type != UT_REG)
			continue;
		if (!f->size) { /* an empty unit file masks too */
			loc->masked = 1;
			loc->canon = ut_strdup(name);
			return 1;
		}
		loc->file = ut_asprintf("/%s", f->path);
		loc->canon = ut_strdup(ut_path_base(f->path));
		return 1;
	}
	/* An instance without a unit of its own is its template's. */
	tmpl = template_of(name);
	r = tmpl ? unit_locate(t, tmpl, loc) : 0;
	free(tmpl);
	if (r == 1 && !loc->masked) {
		free(loc->canon);
		loc->canon = ut_strdup(name);
	}
	return r;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(ut_path_base(*(char *const *)a), ut_path_base(*(char *const *)b));
}

/* The unit file and the drop-ins of every name it goes by, /etc's drop-in
 * replacing a /lib one of the same file name, applied in file-name order. */
static int unit_text(const struct ut_tree *t, const struct unit_loc *loc, const char *asked,
		     struct rt_unit *u, struct rt_info *info)
{
	struct ut_err err = { { 0 } };
	struct ut_buf b = { 0 };
	struct rt_strv dropins = { 0 };
	char *names[3] = { loc->canon, NULL, NULL };
	int rc = 0;

	if (rt_read_text(t, loc->file, &b, &err) != 1) {
		rt_warn(info, "%s: %s", loc->file, err.msg[0] ? err.msg : "cannot be read");
		ut_buf_release(&b);
		return -1;
	}
	rt_unit_parse(u, (char *)b.data);
	names[1] = template_of(loc->canon);
	if (strcmp(asked, loc->canon))
		names[2] = ut_strdup(asked);
	for (size_t n = 0; n < 3; n++) {
		if (!names[n])
			continue;
		for (size_t i = 0; i < NDIRS; i++) {
			char *dir = ut_asprintf("%s/%s.d", unit_dirs[i], names[n]);
			struct rt_strv confs;

			if (rt_list_sorted(t, dir, &confs)) {
				for (size_t k = 0; k < confs.n; k++) {
					char *p = ut_asprintf("%s/%s", dir, confs.v[k]);
					size_t j;

					for (j = 0; j < dropins.n; j++)
						if (!strcmp(ut_path_base(dropins.v[j]), confs.v[k]))
							break;
					if (has_suffix(confs.v[k], ".conf") && j == dropins.n)
						rt_strv_push(&dropins, p);
					free(p);
				}
				rt_strv_release(&confs);
			}
			free(dir);
		}
	}
	if (dropins.n)
		qsort(dropins.v, dropins.n, sizeof(*dropins.v), cmp_base);
	for (size_t i = 0; i < dropins.n; i++) {
		if (rt_read_text(t, dropins.v[i], &b, &err) == 1)
			rt_unit_parse(u, (char *)b.data);
		else
			rt_warn(info, "/%s: %s", dropins.v[i], err.msg[0] ? err.msg : "cannot be read");
	}
	rt_strv_release(&dropins);
	free(names[1]);
	free(names[2]);
	ut_buf_release(&b);
	return rc;
}

/* %% %n %N %p %i %I %j: the specifiers units use on the lines read here. */
static char *specifiers(const char *v, const char *unit)
{
	const char *at = strchr(unit, '@'), *dot = strrchr(unit, '.');
	size_t plen = at ? (size_t)(at - unit) : dot ? (size_t)(dot - unit) : strlen(unit);
	struct ut_buf b;

	ut_buf_init(&b, 0);
	ut_buf_grow(&b, 1, NULL);
	for (; *v; v++) {
		if (*v != '%' || !v[1]) {
			ut_buf_add(&b, v, 1, NULL);
			continue;
		}
		switch (*++v) {
		case '%': ut_buf_add(&b, "%", 1, NULL); break;
		case 'n': ut_buf_addstr(&b, unit, NULL); break;
		case 'N': ut_buf_add(&b, unit, dot ? (size_t)(dot - unit) : strlen(unit), NULL); break;
		case 'p': case 'j': ut_buf_add(&b, unit, plen, NULL); break;
		case 'i': case 'I':
			if (at && dot && dot > at)
				ut_buf_add(&b, at + 1, (size_t)(dot - at - 1), NULL);
			break;
		default: ut_buf_add(&b, v - 1, 2, NULL); break;
		}
	}
	return ut_buf_detach(&b, NULL);
}

static const char *user_home(const struct rt_info *info, const char *user)
{
	for (size_t i = 0; user && i < info->nusers; i++)
		if (!strcmp(info->users[i].name, user))
			return info->users[i].home;
	return "/root";
}

static void strv_move(struct rt_strv *from, char ***v, size_t *n)
{
	*v = from->v;
	*n = from->n;
	from->v = NULL;
	from->n = 0;
}

static char *get_spec(const struct rt_unit *u, const char *section, const char *key,
		      const char *unit)
{
	const char *v = rt_unit_get(u, section, key);

	return v ? specifiers(v, unit) : NULL;
}

/* The [Service] settings a container's config takes. */
static void service_settings(const struct ut_tree *t, struct rt_info *info, struct rt_service *s,
			     const struct rt_unit *u)
{
	struct rt_strv list, env = { 0 }, argv = { 0 }, dirs = { 0 };
	struct ut_buf b = { 0 };
	struct ut_err err = { { 0 } };
	char *wd;

	s->type = get_spec(u, "Service", "Type", s->unit);
	s->kill_signal = get_spec(u, "Service", "KillSignal", s->unit);
	s->user = get_spec(u, "Service", "User", s->unit);
	s->group = get_spec(u, "Service", "Group", s->unit);
	rt_unit_list(u, "Service", "Environment", &list);
	for (size_t i = 0; i < list.n; i++) {
		char *v = specifiers(list.v[i], s->unit);

		rt_environment_parse(v, &env);
		free(v);
	}
	free(list.v);
	/* Files override Environment= (systemd.exec(5)), in their order. */
	rt_unit_list(u, "Service", "EnvironmentFile", &list);
	for (size_t i = 0; i < list.n; i++) {
		const char *f = list.v[i];
		int optional = f[0] == '-';
		char *path = specifiers(f + optional, s->unit);
		int r = rt_read_text(t, path, &b, &err);

		if (r == 1)
			rt_envfile_parse((char *)b.data, &env);
		else if (r < 0 || !optional)
			rt_warn(info, "%s: EnvironmentFile %s: %s", s->unit, path,
				r < 0 ? err.msg : "missing in the guest");
		free(path);
	}
	free(list.v);
	rt_unit_list(u, "Service", "ExecStart", &list);
	if (list.n) {
		char *v = specifiers(list.v[0], s->unit);

		if (rt_exec_parse(v, &env, &argv) < 0)
			rt_warn(info, "%s: ExecStart cannot be parsed", s->unit);
		free(v);
	}
	free(list.v);
	wd = get_spec(u, "Service", "WorkingDirectory", s->unit);
	if (wd) {
		const char *w = wd + (wd[0] == '-');

		s->workdir = w[0] == '~' ? ut_asprintf("%s%s", user_home(info, s->user), w + 1)
					 : ut_strdup(w);
		free(wd);
	}
	rt_unit_list(u, "Service", "RuntimeDirectory", &list);
	for (size_t i = 0; i < list.n; i++) {
		struct rt_strv words = { 0 };

		rt_split_words(list.v[i], &words);
		for (size_t k = 0; k < words.n; k++) {
			char *d = ut_asprintf("/run/%s", words.v[k]);

			rt_strv_push(&dirs, d);
			free(d);
		}
		rt_strv_release(&words);
	}
	free(list.v);
	strv_move(&env, &s->env, &s->nenv);
	strv_move(&argv, &s->exec, &s->nexec);
	strv_move(&dirs, &s->runtime_dirs, &s->nruntime_dirs);
	ut_buf_release(&b);
}

static void socket_ports(struct rt_service *s, const struct rt_unit *u)
{
	const char *svc = rt_unit_get(u, "Socket", "Service"), *accept;
	size_t stem = strlen(s->unit) - strlen(".socket");

	accept = rt_unit_get(u, "Socket", "Accept");
	if (svc)
		s->starts = ut_strdup(svc);
	else
		s->starts = ut_asprintf("%.*s%s.service", (int)stem, s->unit,
					accept && strchr("yYtT1", accept[0]) ? "@" : "");
	static const char *const keys[][2] = {
		{ "ListenStream", "tcp" }, { "ListenDatagram", "udp" },
	};
	struct rt_strv list;

	for (size_t k = 0; k < 2; k++) {
		rt_unit_list(u, "Socket", keys[k][0], &list);
		for (size_t i = 0; i < list.n; i++)
			rt_port_add(s, rt_listen_port(list.v[i]), keys[k][1], "socket", s->path);
		free(list.v);
	}
}

static char *short_name(const char *unit)
{
	return has_suffix(unit, ".service") ? ut_strndup(unit, strlen(unit) - 8) : ut_strdup(unit);
}

struct rt_service *rt_systemd_load(const struct ut_tree *t, struct rt_info *info, const char *name,
				   struct ut_err *err)
{
	struct unit_loc loc;
	struct rt_unit u = { 0 };
	struct rt_service *s;
	char *sn;

	if (unit_locate(t, name, &loc) != 1)
		return NULL;
	sn = short_name(loc.canon);
	s = rt_service_new(info, sn);
	free(sn);
	s->unit = ut_strdup(loc.canon);
	s->init = RT_INIT_SYSTEMD;
	s->masked = loc.masked;
	if (strcmp(name, loc.canon)) {
		s->aliases = ut_calloc(1, sizeof(char *));
		s->aliases[s->naliases++] = ut_strdup(name);
	}
	if (loc.file) {
		s->path = ut_strdup(loc.file);
		if (unit_text(t, &loc, name, &u, info) == 0) {
			if (has_suffix(s->unit, ".socket"))
				socket_ports(s, &u);
			else
				service_settings(t, info, s, &u);
		}
		rt_daemon_ports(t, s);
	}
	rt_unit_release(&u);
	loc_release(&loc);
	return s;
}

/* ---- what boot starts ------------------------------------------------------ */

/* Adds the .wants/.requires links of unit and its Wants=/Requires= to queue. */
static void unit_deps(const struct ut_tree *t, struct rt_info *info, const char *name,
		      struct rt_strv *queue)
{
	static const char *const kinds[] = { "wants", "requires" };
	struct unit_loc loc;
	struct rt_unit u = { 0 };

	for (size_t i = 0; i < NDIRS; i++)
		for (size_t k = 0; k < 2; k++) {
			char *dir = ut_asprintf("%s/%s.%s", unit_dirs[i], name, kinds[k]);
			struct rt_strv links;

			if (rt_list_sorted(t, dir, &links)) {
				for (size_t j = 0; j < links.n; j++)
					rt_strv_push(queue, links.v[j]);
				rt_strv_release(&links);
			}
			free(dir);
		}
	if (unit_locate(t, name, &loc) == 1 && loc.file && unit_text(t, &loc, name, &u, info) == 0) {
		static const char *const keys[] = { "Wants", "Requires" };

		for (size_t k = 0; k < 2; k++) {
			struct rt_strv list;

			rt_unit_list(&u, "Unit", keys[k], &list);
			for (size_t i = 0; i < list.n; i++)
				rt_split_words(list.v[i], queue);
			free(list.v);
		}
	}
	rt_unit_release(&u);
	loc_release(&loc);
}

/* Every unit reached from the default target, by canonical name. */
static void boot_units(const struct ut_tree *t, struct rt_info *info, struct rt_strv *reached)
{
	struct rt_strv queue = { 0 };

	rt_strv_push(&queue, info->default_target);
	for (size_t i = 0; i < queue.n && reached->n < MAX_UNITS; i++) {
		struct unit_loc loc;

		if (queue.n > MAX_QUEUE) {
			rt_warn(info, "more than %d unit dependencies: the boot walk stopped there",
				MAX_QUEUE);
			break;
		}
		if (unit_locate(t, queue.v[i], &loc) == 1 && !loc.masked &&
		    !rt_strv_has(reached, loc.canon)) {
			rt_strv_push(reached, loc.canon);
			unit_deps(t, info, loc.canon, &queue);
		}
		loc_release(&loc);
	}
	rt_strv_release(&queue);
}

/* ---- the whole configuration ------------------------------------------------- */

static struct rt_service *find_unit(struct rt_info *info, const char *unit)
{
	for (size_t i = 0; i < info->nservices; i++)
		if (info->services[i].unit && !strcmp(info->services[i].unit, unit))
			return &info->services[i];
	return NULL;
}

/* Adds the unit name (once) and what it is an alias of. */
static struct rt_service *add_unit(const struct ut_tree *t, struct rt_info *info, const char *name,
				   struct ut_err *err)
{
	struct unit_loc loc;
	struct rt_service *s;

	if (unit_locate(t, name, &loc) != 1)
		return NULL;
	s = find_unit(info, loc.canon);
	if (!s) {
		s = rt_systemd_load(t, info, loc.canon, err);
	}
	if (s && strcmp(name, loc.canon)) {
		size_t k;

		for (k = 0; k < s->naliases && strcmp(s->aliases[k], name); k++)
			;
		if (k == s->naliases) {
			s->aliases = ut_realloc(s->aliases, (s->naliases + 1) * sizeof(char *));
			s->aliases[s->naliases++] = ut_strdup(name);
		}
	}
	loc_release(&loc);
	return s;
}

int rt_systemd_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err)
{
	static const char *const etc = "etc/systemd/system";
	struct rt_strv names, enabled = { 0 }, reached = { 0 };
	struct unit_loc loc;

	if (unit_locate(t, "default.target", &loc) == 1 && !loc.masked)
		info->default_target = ut_strdup(loc.canon);
	loc_release(&loc);
	if (rt_list_sorted(t, etc, &names)) {
		for (size_t i = 0; i < names.n; i++) {
			const char *n = names.v[i];

			if (is_service_unit(n)) {
				add_unit(t, info, n, err);
			} else if (has_suffix(n, ".wants") || has_suffix(n, ".requires")) {
				char *dir = ut_asprintf("%s/%s", etc, n);
				struct rt_strv links;

				if (rt_list_sorted(t, dir, &links)) {
					for (size_t k = 0; k < links.n; k++) {
						struct rt_service *s;

						if (!is_service_unit(links.v[k]))
							continue;
						s = add_unit(t, info, links.v[k], err);
						if (s && !s->masked)
							rt_strv_push(&enabled, s->unit);
					}
					rt_strv_release(&links);
				}
				free(dir);
			}
		}
		rt_strv_release(&names);
	}
	if (info->default_target)
		boot_units(t, info, &reached);
	for (size_t i = 0; i < info->nservices; i++) {
		struct rt_service *s = &info->services[i];

		s->enabled = rt_strv_has(&enabled, s->unit);
		s->at_boot = info->default_target ? rt_strv_has(&reached, s->unit) : s->enabled;
	}
	/* A socket's ports are its service's too: connections there reach it. */
	for (size_t i = 0; i < info->nservices; i++) {
		struct rt_service *sock = &info->services[i], *svc;

		if (!sock->starts || !sock->nports)
			continue;
		svc = find_unit(info, sock->starts);
		for (size_t k = 0; svc && k < sock->nports; k++)
			rt_port_add(svc, sock->ports[k].port, sock->ports[k].proto, "socket",
				    sock->path);
	}
	rt_strv_release(&enabled);
	rt_strv_release(&reached);
	return 0;
}
