/*
 * command.c - what a container's config needs to run one service in the
 * foreground, or the guest's systemd as PID 1.
 *
 * A container's main process must not fork away, so a unit that stays in
 * front (Type=simple, exec, notify...) runs as its ExecStart says, while a
 * forking one (Debian's apache2: "apachectl start") or an init script runs
 * the daemon's own foreground form from daemons.c's table, with the
 * environment its wrapper would have read. The folders an init system makes
 * before starting a daemon (RuntimeDirectory=, apache's APACHE_RUN_DIR...)
 * are made by a shell line in front of it.
 */
#include "rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_command_release(struct rt_command *c)
{
	ut_strv_free(c->argv, c->argc);
	free(c->user);
	free(c->workdir);
	ut_strv_free(c->env, c->nenv);
	ut_strv_free(c->ports, c->nports);
	free(c->stop_signal);
	free(c->how);
	memset(c, 0, sizeof(*c));
}

static void push_unique(struct rt_strv *v, const char *s)
{
	if (!rt_strv_has(v, s))
		rt_strv_push(v, s);
}

/* The daemon's foreground arguments that argv lacks, appended. */
static void add_fg(struct rt_strv *argv, const struct rt_daemon *d)
{
	for (size_t i = 0; i < 4 && d->fg[i]; i++)
		if (!rt_strv_has(argv, d->fg[i]))
			rt_strv_push(argv, d->fg[i]);
}

/* The daemon's executable the guest has, with its foreground arguments, and
 * the environment and folders its wrapper script would set up. */
static int daemon_form(const struct ut_tree *t, const struct rt_daemon *d, struct rt_strv *argv,
		       struct rt_strv *env, struct rt_strv *dirs)
{
	size_t i;

	for (i = 0; i < 3 && d->bins[i] && !rt_exists(t, d->bins[i]); i++)
		;
	if (i == 3 || !d->bins[i])
		return -1;
	rt_strv_push(argv, d->bins[i]);
	add_fg(argv, d);
	if (d->envfile) {
		struct ut_err err = { { 0 } };
		struct ut_buf b = { 0 };

		if (rt_read_text(t, d->envfile, &b, &err) == 1) {
			struct rt_strv vars = { 0 };

			rt_shell_assignments((char *)b.data, &vars);
			for (i = 0; i < vars.n; i++)
				rt_env_set(env, vars.v[i]);
			for (i = 0; i < 3 && d->dir_vars[i]; i++) {
				const char *dir = rt_env_get(&vars, d->dir_vars[i]);

				if (dir && dir[0] == '/')
					push_unique(dirs, dir);
			}
			rt_strv_release(&vars);
		}
		ut_buf_release(&b);
	}
	return 0;
}

/* sh -c 'mkdir -p DIRS && exec "$@"' sh ARGV... */
static void wrap_mkdir(struct rt_strv *argv, const struct rt_strv *dirs)
{
	struct rt_strv w = { 0 };
	struct ut_buf line;

	ut_buf_init(&line, 0);
	ut_buf_addstr(&line, "mkdir -p", NULL);
	for (size_t i = 0; i < dirs->n; i++) {
		ut_buf_addstr(&line, " '", NULL);
		for (const char *c = dirs->v[i]; *c; c++)
			ut_buf_addstr(&line, *c == '\'' ? "'\\''" : (char[]){ *c, 0 }, NULL);
		ut_buf_addstr(&line, "'", NULL);
	}
	ut_buf_addstr(&line, " && exec \"$@\"", NULL);
	rt_strv_push(&w, "/bin/sh");
	rt_strv_push(&w, "-c");
	rt_strv_push(&w, (char *)line.data);
	rt_strv_push(&w, "sh");
	for (size_t i = 0; i < argv->n; i++)
		rt_strv_push(&w, argv->v[i]);
	rt_strv_release(argv);
	*argv = w;
	ut_buf_release(&line);
}

static int is_root(const char *user)
{
	return !user || !strcmp(user, "root") || !strcmp(user, "0");
}

static int known_user(const struct rt_info *info, const char *user)
{
	if (user[strspn(user, "0123456789")] == '\0')
		return 1; /* a uid needs no entry */
	for (size_t i = 0; i < info->nusers; i++)
		if (!strcmp(info->users[i].name, user))
			return 1;
	return 0;
}

int rt_service_command(const struct ut_tree *t, const struct rt_info *info,
		       const struct rt_service *s, struct rt_command *out, struct ut_err *err)
{
	const struct rt_daemon *d = rt_daemon_find(s);
	struct rt_strv argv = { 0 }, env = { 0 }, dirs = { 0 }, ports = { 0 };
	int forking = s->type && !strcmp(s->type, "forking");
	/* OpenRC starts a daemon that forks itself unless command_background. */
	int self_forks = s->init == RT_INIT_OPENRC && !(s->type && !strcmp(s->type, "background"));
	char how[512];
	size_t i;

	memset(out, 0, sizeof(*out));
	if (s->masked)
		return ut_err_set(err, "service %s is masked (its unit is a link to /dev/null)",
				  s->unit);
	/* A container resolves its user in the image's /etc/passwd only. */
	if (s->user && !known_user(info, s->user))
		return ut_err_set(err, "service %s: its user %s is not in the guest's /etc/passwd "
				  "(DynamicUser=, or a directory service)", s->name, s->user);
	for (i = 0; i < s->nenv; i++)
		rt_env_set(&env, s->env[i]);
	/* A SysV script's daemon forks: only the table's form stays in front. */
	if (s->nexec && !forking && s->init != RT_INIT_SYSV) {
		for (i = 0; i < s->nexec; i++)
			rt_strv_push(&argv, s->exec[i]);
		if (self_forks && d)
			add_fg(&argv, d);
		snprintf(how, sizeof(how), "%s of %s", s->init == RT_INIT_SYSTEMD ? "ExecStart"
			 : "command=", s->path ? s->path : s->unit);
	} else if (d && daemon_form(t, d, &argv, &env, &dirs) == 0) {
		snprintf(how, sizeof(how), "%s's foreground form (%s %s)", d->names[0],
			 forking ? "its unit forks:" : "an init script:", s->path ? s->path : s->unit);
	} else {
		rt_strv_release(&env);
		return ut_err_set(err, "service %s: no command that stays in the foreground (%s); "
				  "--init systemd runs the guest's own init instead", s->name,
				  s->nexec ? "its unit forks and its daemon is not a known one"
					   : "no ExecStart or command=, and not a known daemon");
	}
	for (i = 0; i < s->nruntime_dirs; i++)
		push_unique(&dirs, s->runtime_dirs[i]);
	for (i = 0; d && i < 2 && d->dirs[i]; i++)
		push_unique(&dirs, d->dirs[i]);
	/* Only root can make folders under /run (a service of another user
	 * gets none: systemd would have made them for it), and only a guest
	 * with a shell. */
	if (dirs.n && is_root(s->user) && rt_exists(t, "bin/sh"))
		wrap_mkdir(&argv, &dirs);
	for (i = 0; i < s->nports; i++) {
		char *p = ut_asprintf("%u/%s", s->ports[i].port, s->ports[i].proto);

		push_unique(&ports, p);
		free(p);
	}
	out->argv = argv.v;
	out->argc = argv.n;
	out->env = env.v;
	out->nenv = env.n;
	out->ports = ports.v;
	out->nports = ports.n;
	if (s->user)
		out->user = s->group ? ut_asprintf("%s:%s", s->user, s->group) : ut_strdup(s->user);
	out->workdir = s->workdir ? ut_strdup(s->workdir) : NULL;
	/* How systemd stops it is how the container runtime should. */
	if (s->kill_signal)
		out->stop_signal = ut_strdup(s->kill_signal);
	out->how = ut_strdup(how);
	rt_strv_release(&dirs);
	return 0;
}

int rt_systemd_command(const struct rt_info *info, struct rt_command *out, struct ut_err *err)
{
	memset(out, 0, sizeof(*out));
	if (info->init != RT_INIT_SYSTEMD)
		return ut_err_set(err, "--init systemd: the guest's init is %s, not systemd",
				  rt_init_name(info->init));
	if (!info->init_path)
		return ut_err_set(err, "--init systemd: the guest has systemd units but no systemd "
				  "(no /sbin/init, /lib/systemd/systemd or /usr/lib/systemd/systemd)");
	out->argv = ut_calloc(1, sizeof(char *));
	out->argv[out->argc++] = ut_strdup(info->init_path);
	/* systemd(1) reads $container to know it runs in one; podman's
	 * --systemd=always stops it with SIGRTMIN+3, as systemd asks. */
	out->env = ut_calloc(1, sizeof(char *));
	out->env[out->nenv++] = ut_strdup("container=oci");
	out->stop_signal = ut_strdup("SIGRTMIN+3");
	{
		struct rt_strv ports = { 0 };

		for (size_t i = 0; i < info->nservices; i++) {
			const struct rt_service *s = &info->services[i];

			for (size_t k = 0; s->enabled && s->at_boot && !s->masked && k < s->nports; k++) {
				char *p = ut_asprintf("%u/%s", s->ports[k].port, s->ports[k].proto);

				push_unique(&ports, p);
				free(p);
			}
		}
		out->ports = ports.v;
		out->nports = ports.n;
	}
	out->how = ut_asprintf("the guest's systemd (%s) as PID 1", info->init_path);
	return 0;
}
