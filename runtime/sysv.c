/*
 * sysv.c - init scripts: SysV (CentOS 6, old Debian) and OpenRC (Alpine).
 * SysV starts, in the default runlevel of /etc/inittab, the scripts linked
 * as S<NN><name> from rc<N>.d; OpenRC starts those linked from
 * /etc/runlevels/{sysinit,boot,default}. Scripts are read, never run:
 * OpenRC's command=, command_args=, command_user= and directory= are plain
 * assignments (with /etc/conf.d/<name> read first, as openrc-run does).
 */
#include "rt_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Files of an init.d folder that are not services. */
static int not_a_service(const char *name)
{
	static const char *const skip[] = {
		"functions", "functions.sh", "README", "halt", "killall", "single", "rc", "rcS",
		"skeleton", ".depend.boot", ".depend.start", ".depend.stop",
	};

	if (name[0] == '.')
		return 1;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strcmp(name, skip[i]))
			return 1;
	return 0;
}

/* The default runlevel: "id:3:initdefault:" in /etc/inittab; '\0' if none. */
static char inittab_runlevel(const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *f2 = strchr(p, ':'), *eol = strchr(p, '\n');

		if (*p != '#' && f2 && (!eol || f2 < eol) && isdigit((unsigned char)f2[1]) &&
		    !strncmp(f2 + 2, ":initdefault:", 13))
			return f2[1];
		p = eol ? eol + 1 : NULL;
	}
	return '\0';
}

static void script_service(const struct ut_tree *t, struct rt_info *info, const char *dir,
			   const char *name, enum rt_init init)
{
	struct rt_service *s = rt_service_new(info, name);

	s->unit = ut_strdup(name);
	s->path = ut_asprintf("/%s/%s", dir, name);
	s->init = init;
}

/* What a SysV script starts, when it says so in a plain assignment:
 * DAEMON= with DAEMON_ARGS= or DAEMON_OPTS= (Debian's LSB scripts), exec=
 * (Red Hat's). For inspect: the daemon forks, so a container runs the
 * table's foreground form instead. */
static void sysv_script(const struct ut_tree *t, struct rt_info *info, struct rt_service *s)
{
	static const char *const daemons[] = { "DAEMON", "exec" };
	static const char *const args[] = { "DAEMON_ARGS", "DAEMON_OPTS" };
	struct rt_strv vars = { 0 }, argv = { 0 };
	struct ut_buf b = { 0 };
	struct ut_err err = { { 0 } };
	const char *v;

	if (rt_read_text(t, s->path, &b, &err) == 1)
		rt_shell_assignments((char *)b.data, &vars);
	else
		rt_warn(info, "%s: %s", s->path, err.msg[0] ? err.msg : "cannot be read");
	for (size_t i = 0; i < 2 && !argv.n; i++)
		if ((v = rt_env_get(&vars, daemons[i])) && v[0] == '/')
			rt_strv_push(&argv, v);
	for (size_t i = 0; argv.n && i < 2; i++)
		if ((v = rt_env_get(&vars, args[i])))
			rt_split_words(v, &argv);
	s->exec = argv.v;
	s->nexec = argv.n;
	rt_strv_release(&vars);
	ut_buf_release(&b);
}

/* Lists init.d's scripts as services of init. */
static const char *scripts(const struct ut_tree *t, struct rt_info *info, enum rt_init init)
{
	static const char *const dirs[] = { "etc/rc.d/init.d", "etc/init.d" };
	struct rt_strv names;

	for (size_t d = 0; d < 2; d++) {
		const struct ut_entry *e = ut_tree_resolve(t, dirs[d], 1, NULL);

		if (!e || e->type != UT_DIR || !rt_list_sorted(t, dirs[d], &names))
			continue;
		for (size_t i = 0; i < names.n; i++)
			if (!not_a_service(names.v[i]))
				script_service(t, info, e->path, names.v[i], init);
		rt_strv_release(&names);
		return dirs[d];
	}
	return NULL;
}

static struct rt_service *by_unit(struct rt_info *info, const char *name)
{
	for (size_t i = 0; i < info->nservices; i++)
		if (!strcmp(info->services[i].unit, name))
			return &info->services[i];
	return NULL;
}

int rt_sysv_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err)
{
	struct ut_err rerr = { { 0 } };
	struct ut_buf b = { 0 };
	struct rt_strv links;
	char level = '\0', *rcdir;

	if (rt_read_text(t, "etc/inittab", &b, &rerr) < 0)
		rt_warn(info, "/etc/inittab: %s", rerr.msg);
	else if (b.data)
		level = inittab_runlevel((char *)b.data);
	ut_buf_release(&b);
	/* Without initdefault: the distribution's own default. */
	if (!level)
		level = rt_exists(t, "etc/rc.d") ? '3' : '2';
	info->default_target = ut_asprintf("%c", level);
	scripts(t, info, RT_INIT_SYSV);
	rcdir = ut_asprintf(rt_exists(t, "etc/rc.d") ? "etc/rc.d/rc%c.d" : "etc/rc%c.d", level);
	if (rt_list_sorted(t, rcdir, &links)) {
		for (size_t i = 0; i < links.n; i++) {
			const char *l = links.v[i];
			struct rt_service *s;

			if (l[0] != 'S' || !isdigit((unsigned char)l[1]) || !isdigit((unsigned char)l[2]))
				continue;
			/* S55sshd: the script it names (a link, maybe to another name). */
			{
				char *p = ut_asprintf("%s/%s", rcdir, l);
				const struct ut_entry *e = ut_tree_resolve(t, p, 1, NULL);

				s = by_unit(info, e ? ut_path_base(e->path) : l + 3);
				free(p);
			}
			if (s)
				s->enabled = s->at_boot = 1;
		}
		rt_strv_release(&links);
	}
	free(rcdir);
	for (size_t i = 0; i < info->nservices; i++) {
		sysv_script(t, info, &info->services[i]);
		rt_daemon_ports(t, &info->services[i]);
	}
	return 0;
}

/* command=, command_args=, command_user=, directory= of an OpenRC script. */
static void openrc_script(const struct ut_tree *t, struct rt_info *info, struct rt_service *s)
{
	struct rt_strv vars = { 0 }, argv = { 0 };
	struct ut_buf b = { 0 };
	struct ut_err err = { { 0 } };
	char *conf = ut_asprintf("etc/conf.d/%s", s->unit);
	const char *v;

	if (rt_read_text(t, conf, &b, &err) == 1)
		rt_shell_assignments((char *)b.data, &vars);
	if (rt_read_text(t, s->path, &b, &err) == 1)
		rt_shell_assignments((char *)b.data, &vars);
	else
		rt_warn(info, "%s: %s", s->path, err.msg[0] ? err.msg : "cannot be read");
	if ((v = rt_env_get(&vars, "command")) && *v) {
		rt_strv_push(&argv, v);
		if ((v = rt_env_get(&vars, "command_args")))
			rt_split_words(v, &argv);
		s->exec = argv.v;
		s->nexec = argv.n;
	}
	if ((v = rt_env_get(&vars, "command_user")) && *v) {
		size_t ul = strcspn(v, ":");

		s->user = ut_strndup(v, ul);
		if (v[ul] == ':' && v[ul + 1])
			s->group = ut_strdup(v + ul + 1);
	}
	if ((v = rt_env_get(&vars, "directory")) && *v)
		s->workdir = ut_strdup(v);
	if ((v = rt_env_get(&vars, "command_background")) && (!strcmp(v, "yes") || !strcmp(v, "true")))
		s->type = ut_strdup("background");
	rt_strv_release(&vars);
	ut_buf_release(&b);
	free(conf);
}

int rt_openrc_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err)
{
	static const char *const levels[] = { "sysinit", "boot", "default" };

	info->default_target = ut_strdup("default");
	scripts(t, info, RT_INIT_OPENRC);
	for (size_t l = 0; l < 3; l++) {
		char *dir = ut_asprintf("etc/runlevels/%s", levels[l]);
		struct rt_strv links;

		if (rt_list_sorted(t, dir, &links)) {
			for (size_t i = 0; i < links.n; i++) {
				struct rt_service *s = by_unit(info, links.v[i]);

				if (s)
					s->enabled = s->at_boot = 1;
			}
			rt_strv_release(&links);
		}
		free(dir);
	}
	for (size_t i = 0; i < info->nservices; i++) {
		openrc_script(t, info, &info->services[i]);
		rt_daemon_ports(t, &info->services[i]);
	}
	return 0;
}
