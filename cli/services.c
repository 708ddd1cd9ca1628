/*
 * services.c - the guest's start-up configuration (runtime/) on inspect's
 * output, and as the image's command for convert --service / --init.
 */
#include "cli.h"
#include "image.h"
#include "runtime.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, cli_json_name(v[i]));
	return a;
}

static void set_opt(json_t *o, const char *key, const char *s)
{
	if (s)
		cli_json_set_name(o, key, s);
	else
		json_object_set_new(o, key, json_null());
}

static json_t *service_json(const struct rt_service *s)
{
	json_t *o = json_object(), *ports = json_array();

	cli_json_set_name(o, "name", s->name);
	set_opt(o, "unit", s->unit);
	json_object_set_new(o, "init", json_string(rt_init_name(s->init)));
	json_object_set_new(o, "enabled", json_boolean(s->enabled));
	json_object_set_new(o, "at_boot", json_boolean(s->at_boot));
	if (s->masked)
		json_object_set_new(o, "masked", json_true());
	set_opt(o, "type", s->type);
	if (s->kill_signal)
		cli_json_set_name(o, "kill_signal", s->kill_signal);
	if (s->starts)
		cli_json_set_name(o, "starts", s->starts);
	json_object_set_new(o, "exec", strv_json(s->exec, s->nexec));
	set_opt(o, "user", s->user);
	set_opt(o, "group", s->group);
	set_opt(o, "workdir", s->workdir);
	json_object_set_new(o, "env", strv_json(s->env, s->nenv));
	for (size_t i = 0; i < s->nports; i++) {
		json_t *p = json_pack("{s:i, s:s, s:s}", "port", s->ports[i].port, "proto",
				      s->ports[i].proto, "source", s->ports[i].source);

		set_opt(p, "file", s->ports[i].file);
		json_array_append_new(ports, p);
	}
	json_object_set_new(o, "ports", ports);
	if (s->naliases)
		json_object_set_new(o, "aliases", strv_json(s->aliases, s->naliases));
	set_opt(o, "source", s->path);
	return o;
}

void cli_runtime_json(json_t *root, const struct rt_info *info)
{
	json_t *init = json_object(), *svcs = json_array(), *users = json_array(),
	       *groups = json_array();

	json_object_set_new(init, "system", json_string(rt_init_name(info->init)));
	set_opt(init, "path", info->init_path);
	set_opt(init, "default", info->default_target);
	json_object_set_new(root, "init", init);
	for (size_t i = 0; i < info->nservices; i++)
		json_array_append_new(svcs, service_json(&info->services[i]));
	json_object_set_new(root, "services", svcs);
	for (size_t i = 0; i < info->nusers; i++) {
		const struct rt_user *u = &info->users[i];
		json_t *o = json_object();

		cli_json_set_name(o, "name", u->name);
		json_object_set_new(o, "uid", json_integer(u->uid));
		json_object_set_new(o, "gid", json_integer(u->gid));
		cli_json_set_name(o, "gecos", u->gecos);
		cli_json_set_name(o, "home", u->home);
		cli_json_set_name(o, "shell", u->shell);
		json_array_append_new(users, o);
	}
	json_object_set_new(root, "users", users);
	for (size_t i = 0; i < info->ngroups; i++) {
		const struct rt_group *g = &info->groups[i];
		json_t *o = json_object();

		cli_json_set_name(o, "name", g->name);
		json_object_set_new(o, "gid", json_integer(g->gid));
		json_object_set_new(o, "members", strv_json(g->members, g->nmembers));
		json_array_append_new(groups, o);
	}
	json_object_set_new(root, "groups", groups);
	json_object_set_new(root, "runtime_warnings", strv_json(info->warnings, info->nwarnings));
}

void cli_runtime_print(const struct rt_info *info)
{
	printf("init:        %s", rt_init_name(info->init));
	if (info->init_path)
		printf(" (%s)", cli_name(info->init_path));
	if (info->default_target)
		printf(", default %s", cli_name(info->default_target));
	putchar('\n');
	printf("services:\n");
	for (size_t i = 0; i < info->nservices; i++) {
		const struct rt_service *s = &info->services[i];

		printf("  %-20s %-8s %-7s", cli_name(s->name),
		       s->masked ? "masked" : s->enabled ? "enabled" : "disabled",
		       s->at_boot ? "boot" : "-");
		for (size_t k = 0; k < s->nports; k++)
			printf(" %u/%s(%s)", s->ports[k].port, s->ports[k].proto, s->ports[k].source);
		if (s->user)
			printf(" user=%s", cli_name(s->user));
		if (s->workdir)
			printf(" cwd=%s", cli_name(s->workdir));
		if (s->nexec) {
			printf(" :");
			for (size_t k = 0; k < s->nexec; k++)
				printf(" %s", cli_name(s->exec[k]));
		}
		putchar('\n');
	}
	printf("users:      ");
	for (size_t i = 0; i < info->nusers; i++)
		printf(" %s(%u)", cli_name(info->users[i].name), info->users[i].uid);
	printf("\ngroups:     ");
	for (size_t i = 0; i < info->ngroups; i++)
		printf(" %s(%u)", cli_name(info->groups[i].name), info->groups[i].gid);
	putchar('\n');
	for (size_t i = 0; i < info->nwarnings; i++)
		printf("warning:     %s\n", cli_name(info->warnings[i]));
}

/* "a, b, c" of the network services (heap). */
static char *service_names(const struct rt_service *const *v, size_t n)
{
	struct ut_buf b;

	ut_buf_init(&b, 0);
	ut_buf_grow(&b, 1, NULL);
	for (size_t i = 0; i < n; i++)
		ut_buf_addf(&b, NULL, "%s%s", i ? ", " : "", cli_name(v[i]->name));
	return ut_buf_detach(&b, NULL);
}

void cli_runtime_release(struct cli_runtime_opts *o)
{
	if (o->cmd)
		rt_command_release(o->cmd);
	free(o->cmd);
	free(o->runs);
	free(o->note);
	o->cmd = NULL;
	o->runs = o->note = NULL;
}

/* --service NAME: its command, or the error naming what there is. */
static int plan_service(const struct ut_tree *vm, struct rt_info *info, const char *disk,
			struct cli_runtime_opts *o, struct ut_err *err)
{
	const struct rt_service *s = rt_find_service(vm, info, o->service, err), *net[8];

	if (!s) {
		size_t nnet = rt_network_services(info, net, 8);
		char *names = service_names(net, nnet < 8 ? nnet : 8);

		if (!err->msg[0])
			ut_err_set(err, "%s: --service %s: the guest has no such service (%s: %s)", disk,
				   cli_name(o->service), nnet ? "network services" : "none with a port",
				   nnet ? names : "inspect lists them all");
		free(names);
		return -1;
	}
	o->runs = ut_strdup(s->name);
	return rt_service_command(vm, info, s, o->cmd, err);
}

/* Neither option: the only network service, else a note naming them. */
static void plan_automatic(const struct ut_tree *vm, struct rt_info *info, struct cli_runtime_opts *o)
{
	const struct rt_service *net[8];
	size_t nnet = rt_network_services(info, net, 8);
	struct ut_err err = { { 0 } };
	char *names;

	if (nnet == 1 && rt_service_command(vm, info, net[0], o->cmd, &err) == 0) {
		o->automatic = 1;
		o->runs = ut_strdup(net[0]->name);
		return;
	}
	if (nnet == 1) {
		o->note = ut_asprintf("warning: %s: not run: %s", cli_name(net[0]->name),
				      cli_name(err.msg));
	} else if (nnet > 1) {
		names = service_names(net, nnet < 8 ? nnet : 8);
		o->note = ut_asprintf("%zu network services (%s%s): the image runs the guest's init; "
				      "--service NAME runs one of them, --init systemd all", nnet,
				      names, nnet > 8 ? ", ..." : "");
		free(names);
	}
	free(o->cmd);
	o->cmd = NULL;
}

int cli_runtime_plan(const struct ut_tree *vm, const char *disk, struct cli_runtime_opts *o)
{
	struct ut_err err = { { 0 } };
	struct rt_info *info = NULL;
	int rc = 0;

	if (rt_read(vm, &info, &err) < 0)
		return cli_error_at(disk, &err), -1;
	o->cmd = ut_calloc(1, sizeof(*o->cmd));
	if (o->init_systemd) {
		o->runs = ut_strdup("systemd");
		rc = rt_systemd_command(info, o->cmd, &err);
	} else if (o->service) {
		rc = plan_service(vm, info, disk, o, &err);
	} else {
		plan_automatic(vm, info, o);
	}
	if (rc < 0)
		cli_error_at(disk, &err);
	rt_info_free(info);
	return rc;
}

void cli_runtime_apply(struct img_config *c, struct cli_runtime_opts *o)
{
	const struct rt_command *cmd = o->cmd;

	/* An automatic pick yields to a command the base image has. */
	if (!cmd || (o->automatic && (c->ncmd || c->nentrypoint))) {
		if (o->note && !cmd && !o->quiet)
			fprintf(stderr, "vm2oci: %s\n", o->note);
		free(o->runs);
		o->runs = NULL;
		return;
	}
	img_config_set_command(c, cmd->argv, cmd->argc);
	if (cmd->user)
		img_config_set_user(c, cmd->user);
	if (cmd->workdir)
		img_config_set_working_dir(c, cmd->workdir);
	for (size_t i = 0; i < cmd->nenv; i++)
		img_config_set_env(c, cmd->env[i]);
	for (size_t i = 0; i < cmd->nports; i++)
		img_config_add_exposed_port(c, cmd->ports[i]);
	if (cmd->stop_signal)
		img_config_set_stop_signal(c, cmd->stop_signal);
	if (!o->quiet)
		fprintf(stderr, "vm2oci: the image runs %s%s%s: %s\n",
			o->init_systemd ? "" : "service ", cli_name(o->runs),
			o->automatic ? " (the guest's only network service; --service NAME picks "
				       "another)" : "", cli_name(cmd->how));
}
