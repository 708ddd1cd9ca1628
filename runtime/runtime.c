/*
 * runtime.c - rt_read: which init system the guest boots, its services,
 * its users and groups; lookups over the result.
 */
#include "rt_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rt_init_name(enum rt_init init)
{
	switch (init) {
	case RT_INIT_SYSTEMD: return "systemd";
	case RT_INIT_SYSV: return "sysv";
	case RT_INIT_OPENRC: return "openrc";
	case RT_INIT_NONE: break;
	}
	return "none";
}

void rt_warn(struct rt_info *info, const char *fmt, ...)
{
	va_list ap;
	char line[UT_ERR_MAX];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	info->warnings = ut_realloc(info->warnings, (info->nwarnings + 1) * sizeof(char *));
	info->warnings[info->nwarnings++] = ut_strdup(line);
}

struct rt_service *rt_service_new(struct rt_info *info, const char *name)
{
	struct rt_service *s;

	info->services = ut_realloc(info->services, (info->nservices + 1) * sizeof(*s));
	s = &info->services[info->nservices++];
	memset(s, 0, sizeof(*s));
	s->name = ut_strdup(name);
	return s;
}

void rt_service_release(struct rt_service *s)
{
	free(s->name);
	free(s->unit);
	free(s->path);
	free(s->type);
	free(s->kill_signal);
	free(s->starts);
	ut_strv_free(s->exec, s->nexec);
	free(s->user);
	free(s->group);
	free(s->workdir);
	ut_strv_free(s->env, s->nenv);
	ut_strv_free(s->runtime_dirs, s->nruntime_dirs);
	ut_strv_free(s->aliases, s->naliases);
	for (size_t i = 0; i < s->nports; i++)
		free(s->ports[i].file);
	free(s->ports);
	memset(s, 0, sizeof(*s));
}

void rt_info_free(struct rt_info *info)
{
	if (!info)
		return;
	free(info->init_path);
	free(info->default_target);
	for (size_t i = 0; i < info->nservices; i++)
		rt_service_release(&info->services[i]);
	free(info->services);
	for (size_t i = 0; i < info->nusers; i++) {
		free(info->users[i].name);
		free(info->users[i].gecos);
		free(info->users[i].home);
		free(info->users[i].shell);
	}
	free(info->users);
	for (size_t i = 0; i < info->ngroups; i++) {
		free(info->groups[i].name);
		ut_strv_free(info->groups[i].members, info->groups[i].nmembers);
	}
	free(info->groups);
	ut_strv_free(info->warnings, info->nwarnings);
	free(info);
}

/* ---- users and groups ----------------------------------------------------- */

/* The colon-separated fields of one line; n of them at most. */
static size_t fields(char *line, char **f, size_t n)
{
	size_t k = 0;

	while (k < n) {
		f[k++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return k;
}

static int parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void read_accounts(const struct ut_tree *t, struct rt_info *info)
{
	struct ut_err err = { { 0 } };
	struct ut_buf b = { 0 };
	char *save = NULL;

	if (rt_read_text(t, "etc/passwd", &b, &err) == 1) {
		for (char *l = strtok_r((char *)b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *f[7];
			struct rt_user u;

			if (l[0] == '#' || l[0] == '+' || l[0] == '-' || fields(l, f, 7) != 7 ||
			    parse_id(f[2], &u.uid) < 0 || parse_id(f[3], &u.gid) < 0)
				continue;
			u.name = ut_strdup(f[0]);
			u.gecos = ut_strdup(f[4]);
			u.home = ut_strdup(f[5]);
			u.shell = ut_strdup(f[6]);
			info->users = ut_realloc(info->users, (info->nusers + 1) * sizeof(u));
			info->users[info->nusers++] = u;
		}
	} else if (err.msg[0]) {
		rt_warn(info, "%s", err.msg);
	}
	err.msg[0] = '\0';
	save = NULL;
	if (rt_read_text(t, "etc/group", &b, &err) == 1) {
		for (char *l = strtok_r((char *)b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *f[4], *msave = NULL;
			struct rt_group g = { 0 };
			struct rt_strv members = { 0 };

			if (l[0] == '#' || l[0] == '+' || l[0] == '-' || fields(l, f, 4) != 4 ||
			    parse_id(f[2], &g.gid) < 0)
				continue;
			g.name = ut_strdup(f[0]);
			for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave))
				rt_strv_push(&members, m);
			g.members = members.v;
			g.nmembers = members.n;
			info->groups = ut_realloc(info->groups, (info->ngroups + 1) * sizeof(g));
			info->groups[info->ngroups++] = g;
		}
	} else if (err.msg[0]) {
		rt_warn(info, "%s", err.msg);
	}
	ut_buf_release(&b);
}

/* ---- the init system ------------------------------------------------------ */

static enum rt_init detect_init(const struct ut_tree *t, struct rt_info *info)
{
	static const char *const systemd[] = { "lib/systemd/systemd", "usr/lib/systemd/systemd" };
	const struct ut_entry *e = ut_tree_resolve(t, "sbin/init", 1, NULL);

	if (e && e->type == UT_REG) {
		info->init_path = ut_asprintf("/%s", e->path);
		if (!strcmp(ut_path_base(e->path), "systemd"))
			return RT_INIT_SYSTEMD;
		if (!strcmp(ut_path_base(e->path), "openrc-init") || rt_exists(t, "etc/runlevels"))
			return RT_INIT_OPENRC;
	}
	if (!e) {
		for (size_t i = 0; i < 2; i++)
			if ((e = ut_tree_resolve(t, systemd[i], 1, NULL)) && e->type == UT_REG) {
				info->init_path = ut_asprintf("/%s", e->path);
				return RT_INIT_SYSTEMD;
			}
	}
	if (rt_exists(t, "etc/runlevels"))
		return RT_INIT_OPENRC;
	if (rt_exists(t, "etc/inittab") || rt_exists(t, "etc/rc.d/init.d"))
		return RT_INIT_SYSV;
	/* Units but no systemd binary (a minimal image): still what it would run. */
	if (rt_exists(t, "etc/systemd/system"))
		return RT_INIT_SYSTEMD;
	return RT_INIT_NONE;
}

static int cmp_service(const void *a, const void *b)
{
	const struct rt_service *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int rt_read(const struct ut_tree *t, struct rt_info **out, struct ut_err *err)
{
	struct rt_info *info = ut_calloc(1, sizeof(*info));
	int rc = 0;

	*out = NULL;
	read_accounts(t, info);
	info->init = detect_init(t, info);
	switch (info->init) {
	case RT_INIT_SYSTEMD: rc = rt_systemd_read(t, info, err); break;
	case RT_INIT_SYSV: rc = rt_sysv_read(t, info, err); break;
	case RT_INIT_OPENRC: rc = rt_openrc_read(t, info, err); break;
	case RT_INIT_NONE: break;
	}
	if (rc < 0) {
		rt_info_free(info);
		return -1;
	}
	if (info->nservices)
		qsort(info->services, info->nservices, sizeof(*info->services), cmp_service);
	*out = info;
	return 0;
}

/* ---- lookups ---------------------------------------------------------------- */

static int names_service(const struct rt_service *s, const char *name)
{
	size_t nl = strlen(name);

	if (!strcmp(s->name, name) || (s->unit && !strcmp(s->unit, name)))
		return 1;
	for (size_t k = 0; k < s->naliases; k++) {
		const char *a = s->aliases[k];

		if (!strcmp(a, name) || (!strncmp(a, name, nl) && !strcmp(a + nl, ".service")))
			return 1;
	}
	return 0;
}

const struct rt_service *rt_find_service(const struct ut_tree *t, struct rt_info *info,
					 const char *name, struct ut_err *err)
{
	const struct rt_service *s;
	char *unit;

	for (size_t i = 0; i < info->nservices; i++)
		if (names_service(&info->services[i], name))
			return &info->services[i];
	if (info->init != RT_INIT_SYSTEMD)
		return NULL;
	/* A unit that is neither in /etc nor enabled: from the search path. */
	unit = strchr(name, '.') ? ut_strdup(name) : ut_asprintf("%s.service", name);
	s = rt_systemd_load(t, info, unit, err);
	free(unit);
	return s;
}

size_t rt_network_services(const struct rt_info *info, const struct rt_service **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < info->nservices; i++) {
		const struct rt_service *s = &info->services[i];

		/* A socket is not something to run: its service is. */
		if (!s->enabled || !s->at_boot || s->masked || !s->nports ||
		    (s->unit && strstr(s->unit, ".socket")))
			continue;
		if (n < max)
			out[n] = s;
		n++;
	}
	return n;
}
