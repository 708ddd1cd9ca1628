/*
 * test_runtime.c - the start-up configuration reader: unit-file syntax as
 * systemd.syntax(7) and systemd.exec(5) define it, then detection on the
 * fixture disks of fixtures/make-services.sh read through diskread (a
 * Debian with systemd, apache2 and a custom unit; an Alpine-like OpenRC
 * tree; a CentOS 6-like SysV tree).
 */
#include "testutil.h"

#include "diskread.h"
#include "rt_internal.h"

/* ---- syntax -------------------------------------------------------------- */

static void test_unit_parse(void **state)
{
	struct rt_unit u = { 0 };
	struct rt_strv list;

	(void)state;
	rt_unit_parse(&u, "# comment\n"
			  "[Unit]\n"
			  "Description = a  unit \n"
			  "; another comment\n"
			  "[Service]\n"
			  "ExecStart=/bin/a \\\n"
			  "# a comment inside a continuation is skipped\n"
			  "  --flag\n"
			  "Environment=A=1\n"
			  "Environment=\n"
			  "Environment=B=2\n"
			  "Environment=C=3\n"
			  "User=nobody\n"
			  "User=\n");
	assert_string_equal(rt_unit_get(&u, "Unit", "Description"), "a  unit");
	assert_string_equal(rt_unit_get(&u, "Service", "ExecStart"), "/bin/a  --flag");
	/* An empty assignment resets a list and unsets a single value. */
	rt_unit_list(&u, "Service", "Environment", &list);
	assert_int_equal(list.n, 2);
	assert_string_equal(list.v[0], "B=2");
	assert_string_equal(list.v[1], "C=3");
	free(list.v);
	assert_null(rt_unit_get(&u, "Service", "User"));
	assert_null(rt_unit_get(&u, "Unit", "ExecStart"));
	/* A drop-in appends; a continuation may end the file, after a comment. */
	rt_unit_parse(&u, "[Service]\nUser=web\nExecStart=/bin/b \\\n#c\n");
	assert_string_equal(rt_unit_get(&u, "Service", "User"), "web");
	assert_string_equal(rt_unit_get(&u, "Service", "ExecStart"), "/bin/b");
	rt_unit_release(&u);
}

static void test_words_and_environment(void **state)
{
	struct rt_strv env = { 0 }, w = { 0 };

	(void)state;
	rt_environment_parse("\"GREETING=hello world\" PLAIN=1 'Q=it''s' E=a\\x41b NOEQUALS", &env);
	assert_int_equal(env.n, 4);
	assert_string_equal(rt_env_get(&env, "GREETING"), "hello world");
	assert_string_equal(rt_env_get(&env, "PLAIN"), "1");
	assert_string_equal(rt_env_get(&env, "Q"), "its");
	assert_string_equal(rt_env_get(&env, "E"), "aAb");
	rt_environment_parse("PLAIN=2", &env); /* later wins */
	assert_string_equal(rt_env_get(&env, "PLAIN"), "2");
	assert_int_equal(rt_split_words("a \"b", &w), -1);
	rt_strv_release(&w);
	rt_strv_release(&env);

	/* EnvironmentFile: comments, quotes, escapes, continuation, spaces. */
	rt_envfile_parse("# comment\n; also\nA=1\n B = two words \nC=\"quoted \\\"x\\\"\"\n"
			 "D='single $x'\nE=con\\\ntinued\nexport F=f\nnot a line\n", &env);
	assert_string_equal(rt_env_get(&env, "A"), "1");
	assert_string_equal(rt_env_get(&env, "B"), "two words");
	assert_string_equal(rt_env_get(&env, "C"), "quoted \"x\"");
	assert_string_equal(rt_env_get(&env, "D"), "single $x");
	assert_string_equal(rt_env_get(&env, "E"), "continued");
	assert_string_equal(rt_env_get(&env, "F"), "f");
	assert_null(rt_env_get(&env, "not a line"));
	rt_strv_release(&env);

	/* Shell assignments (apache2's envvars): expansion, export, if blocks. */
	rt_shell_assignments("unset HOME\nif [ x ]; then\n\tSUFFIX=\"-${X##y}\"\nelse\n\tSUFFIX=\nfi\n"
			     "export RUN=/var/run/apache2$SUFFIX\nexport LANG=C # comment\n"
			     "export LANG\nB=\"$RUN/x\"\n", &env);
	assert_string_equal(rt_env_get(&env, "SUFFIX"), "");
	assert_string_equal(rt_env_get(&env, "RUN"), "/var/run/apache2");
	assert_string_equal(rt_env_get(&env, "LANG"), "C");
	assert_string_equal(rt_env_get(&env, "B"), "/var/run/apache2/x");
	rt_strv_release(&env);
}

static void test_exec_parse(void **state)
{
	struct rt_strv env = { 0 }, argv = { 0 };

	(void)state;
	rt_environment_parse("\"OPTS=-a -b\" ONE=x EMPTY=", &env);
	/* Prefixes stripped; $VAR split into words, ${VAR} one word, an unset
	 * $VAR gone; '@' drops argv[0]. */
	assert_int_equal(rt_exec_parse("-+/usr/sbin/d $OPTS ${OPTS} $UNSET pre${ONE}post $$", &env,
				       &argv), 0);
	assert_int_equal(argv.n, 6);
	assert_string_equal(argv.v[0], "/usr/sbin/d");
	assert_string_equal(argv.v[1], "-a");
	assert_string_equal(argv.v[2], "-b");
	assert_string_equal(argv.v[3], "-a -b");
	assert_string_equal(argv.v[4], "prexpost");
	assert_string_equal(argv.v[5], "$");
	rt_strv_release(&argv);
	assert_int_equal(rt_exec_parse("@/bin/busybox httpd -f", &env, &argv), 0);
	assert_int_equal(argv.n, 2);
	assert_string_equal(argv.v[0], "/bin/busybox");
	assert_string_equal(argv.v[1], "-f");
	rt_strv_release(&argv);
	assert_int_equal(rt_exec_parse("-", &env, &argv), -1);
	assert_int_equal(rt_exec_parse("'/bin/x y' '-p -- \\\\u'", &env, &argv), 0);
	assert_string_equal(argv.v[0], "/bin/x y");
	assert_string_equal(argv.v[1], "-p -- \\u");
	rt_strv_release(&argv);
	rt_strv_release(&env);
}

static void test_listen_port(void **state)
{
	(void)state;
	assert_int_equal(rt_listen_port("80"), 80);
	assert_int_equal(rt_listen_port("0.0.0.0:8080"), 8080);
	assert_int_equal(rt_listen_port("[::]:443 ssl"), 443);
	assert_int_equal(rt_listen_port("8081 default_server"), 8081);
	assert_int_equal(rt_listen_port("/run/x.sock"), 0);
	assert_int_equal(rt_listen_port("@abstract"), 0);
	assert_int_equal(rt_listen_port("[::1]"), 0);
	assert_int_equal(rt_listen_port("70000"), 0);
	assert_int_equal(rt_listen_port("localhost:http"), 0);
}

/* ---- the fixture disks --------------------------------------------------- */

struct guest {
	struct dr_disk *disk;
	struct ut_tree *tree;
	struct rt_info *info;
};

/* The fixture's tree as convert sees it, and what rt_read makes of it;
 * 0 (the case skipped) when the fixture is missing. */
static int guest_open(struct guest *g, const char *name)
{
	struct dr_disk_options opt = { 0 };
	struct ut_err err = { { 0 } };
	char *path = tu_fixture_path(name), why[256];

	memset(g, 0, sizeof(*g));
	if (!path) {
		snprintf(why, sizeof(why), "fixture %s not found (fixtures/make-services.sh)", name);
		fprintf(stderr, "SKIP: %s\n", why);
		return 0;
	}
	if (dr_disk_open(path, &opt, &g->disk, &err) < 0 || dr_disk_tree(g->disk, 0, &g->tree, &err) < 0 ||
	    rt_read(g->tree, &g->info, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	free(path);
	return 1;
}

static void guest_close(struct guest *g)
{
	rt_info_free(g->info);
	ut_tree_free(g->tree);
	dr_disk_free(g->disk);
}

static const struct rt_service *svc(const struct rt_info *info, const char *name)
{
	for (size_t i = 0; i < info->nservices; i++)
		if (!strcmp(info->services[i].name, name))
			return &info->services[i];
	fail_msg("no service %s", name);
	return NULL;
}

static int has_port(const struct rt_service *s, unsigned port, const char *proto, const char *source)
{
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].port == port && !strcmp(s->ports[i].proto, proto) &&
		    !strcmp(s->ports[i].source, source))
			return 1;
	return 0;
}

static const char *env_of(const struct rt_service *s, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < s->nenv; i++)
		if (!strncmp(s->env[i], key, kl) && s->env[i][kl] == '=')
			return s->env[i] + kl + 1;
	return NULL;
}

static void test_systemd_fixture(void **state)
{
	struct guest g;
	const struct rt_service *s;
	struct rt_command cmd;
	struct ut_err err = { { 0 } };

	(void)state;
	if (!guest_open(&g, "services.raw"))
		tu_skip_case("services.raw missing");
	assert_int_equal(g.info->init, RT_INIT_SYSTEMD);
	assert_string_equal(g.info->init_path, "/usr/lib/systemd/systemd");
	assert_string_equal(g.info->default_target, "graphical.target");

	/* The custom unit: User, Group, WorkingDirectory, Environment (quoted),
	 * the EnvironmentFile read from the guest, the drop-in, ExecStart with
	 * ${WEBAPP_PORT} expanded, the port from busybox httpd's -p. */
	s = svc(g.info, "webapp");
	assert_true(s->enabled && s->at_boot && !s->masked);
	assert_string_equal(s->unit, "webapp.service");
	assert_string_equal(s->path, "/etc/systemd/system/webapp.service");
	assert_string_equal(s->user, "webapp");
	assert_string_equal(s->group, "webapp");
	assert_string_equal(s->workdir, "/srv/webapp");
	assert_string_equal(env_of(s, "GREETING"), "hello from the VM");
	assert_string_equal(env_of(s, "WEBAPP_MODE"), "production");
	assert_string_equal(env_of(s, "WEBAPP_TITLE"), "fixture app");
	assert_string_equal(env_of(s, "WEBAPP_DROPIN"), "1");
	assert_int_equal(s->nexec, 7);
	assert_string_equal(s->exec[4], "8080");
	assert_true(has_port(s, 8080, "tcp", "exec"));

	/* apache2: enabled, forks; port 80 from ports.conf (443 sits in an
	 * <IfModule ssl_module> that is not loaded); its alias httpd.service. */
	s = svc(g.info, "apache2");
	assert_true(s->enabled && s->at_boot);
	assert_string_equal(s->type, "forking");
	assert_int_equal(s->nports, 1);
	assert_true(has_port(s, 80, "tcp", "config"));
	assert_int_equal(s->naliases, 1);
	assert_string_equal(s->aliases[0], "httpd.service");
	assert_int_equal(rt_service_command(g.tree, g.info, s, &cmd, &err), 0);
	assert_string_equal(cmd.argv[0], "/bin/sh");
	assert_string_equal(cmd.argv[cmd.argc - 2], "/usr/sbin/apache2");
	assert_string_equal(cmd.argv[cmd.argc - 1], "-DFOREGROUND");
	assert_non_null(strstr(cmd.argv[2], "'/var/run/apache2'"));
	assert_null(cmd.user); /* apache2 starts as root and drops to www-data itself */
	rt_command_release(&cmd);

	/* ssh: Type=notify stays in front; RuntimeDirectory=sshd made first;
	 * found by its alias too. */
	s = svc(g.info, "ssh");
	assert_true(has_port(s, 22, "tcp", "config"));
	assert_string_equal(s->runtime_dirs[0], "/run/sshd");
	assert_ptr_equal(rt_find_service(g.tree, g.info, "sshd", &err), s);
	assert_ptr_equal(rt_find_service(g.tree, g.info, "sshd.service", &err), s);

	/* A masked unit, a socket that is not enabled and gives no service a port. */
	s = svc(g.info, "e2scrub_reap");
	assert_true(s->masked && !s->enabled);
	assert_int_equal(rt_service_command(g.tree, g.info, s, &cmd, &err), -1);
	assert_non_null(strstr(err.msg, "masked"));
	s = svc(g.info, "echo.socket");
	assert_true(!s->enabled && has_port(s, 7777, "tcp", "socket"));
	assert_string_equal(s->starts, "echo@.service"); /* Accept=yes: one instance a connection */
	assert_true(has_port(svc(g.info, "echo@"), 7777, "tcp", "socket"));

	/* Three network services: no single one to pick. */
	{
		const struct rt_service *net[8];

		assert_int_equal(rt_network_services(g.info, net, 8), 3);
	}
	/* A unit neither in /etc nor enabled is still found. */
	s = rt_find_service(g.tree, g.info, "apache-htcacheclean", &err);
	assert_non_null(s);
	assert_false(s->enabled);
	assert_null(rt_find_service(g.tree, g.info, "no-such-unit", &err));

	/* Users and groups from /etc/passwd and /etc/group. */
	assert_string_equal(g.info->users[0].name, "root");
	assert_string_equal(g.info->users[g.info->nusers - 1].name, "webapp");
	assert_int_equal(g.info->users[g.info->nusers - 1].uid, 1500);
	assert_string_equal(g.info->users[g.info->nusers - 1].home, "/srv/webapp");
	assert_int_equal(g.info->groups[g.info->ngroups - 1].gid, 1500);

	assert_int_equal(rt_systemd_command(g.info, &cmd, &err), 0);
	assert_string_equal(cmd.argv[0], "/usr/lib/systemd/systemd");
	assert_string_equal(cmd.stop_signal, "SIGRTMIN+3");
	assert_string_equal(cmd.env[0], "container=oci");
	assert_int_equal(cmd.nports, 3);
	rt_command_release(&cmd);
	guest_close(&g);
}

static void test_openrc_fixture(void **state)
{
	struct guest g;
	const struct rt_service *s;
	struct rt_command cmd;
	struct ut_err err = { { 0 } };

	(void)state;
	if (!guest_open(&g, "openrc.raw"))
		tu_skip_case("openrc.raw missing");
	assert_int_equal(g.info->init, RT_INIT_OPENRC);
	assert_string_equal(g.info->default_target, "default");
	assert_int_equal(g.info->nservices, 5);
	s = svc(g.info, "nginx");
	assert_true(s->enabled && s->at_boot);
	assert_string_equal(s->user, "nginx");
	assert_string_equal(s->group, "nginx");
	assert_string_equal(s->workdir, "/var/lib/nginx");
	assert_int_equal(s->nports, 1); /* 8081 and [::]:8081; the commented 9999 is not one */
	assert_true(has_port(s, 8081, "tcp", "config"));
	assert_int_equal(rt_service_command(g.tree, g.info, s, &cmd, &err), 0);
	assert_int_equal(cmd.argc, 5);
	assert_string_equal(cmd.argv[0], "/usr/sbin/nginx");
	assert_string_equal(cmd.argv[3], "-g");
	assert_string_equal(cmd.argv[4], "daemon off;");
	assert_string_equal(cmd.user, "nginx:nginx");
	rt_command_release(&cmd);
	s = svc(g.info, "sshd");
	assert_true(s->enabled && has_port(s, 2222, "tcp", "config") && s->nports == 1);
	assert_int_equal(s->nexec, 1); /* command_args="${SSHD_OPTS}", empty in conf.d */
	assert_true(svc(g.info, "networking")->enabled); /* the boot runlevel */
	assert_false(svc(g.info, "chronyd")->enabled);
	{
		/* A user the guest does not have: refused, not an image that cannot start. */
		struct rt_service *n = (struct rt_service *)svc(g.info, "nginx");
		char *saved = n->user;

		n->user = "nobody-here";
		assert_int_equal(rt_service_command(g.tree, g.info, n, &cmd, &err), -1);
		assert_non_null(strstr(err.msg, "not in the guest's /etc/passwd"));
		n->user = "4242";
		assert_int_equal(rt_service_command(g.tree, g.info, n, &cmd, &err), 0);
		rt_command_release(&cmd);
		n->user = saved;
	}
	assert_int_equal(g.info->nusers, 3);
	guest_close(&g);
}

static void test_sysv_fixture(void **state)
{
	struct guest g;
	const struct rt_service *s;
	struct rt_command cmd;
	struct ut_err err = { { 0 } };

	(void)state;
	if (!guest_open(&g, "sysv.raw"))
		tu_skip_case("sysv.raw missing");
	assert_int_equal(g.info->init, RT_INIT_SYSV);
	assert_string_equal(g.info->default_target, "3");
	assert_true(svc(g.info, "network")->enabled);
	assert_true(svc(g.info, "sshd")->enabled);
	assert_true(svc(g.info, "postgresql")->enabled);
	assert_false(svc(g.info, "iptables")->enabled); /* K92 in rc3.d */
	assert_false(svc(g.info, "crond")->enabled);    /* S90 only in rc5.d */
	assert_int_equal(svc(g.info, "crond")->nexec, 1); /* its exec= */
	assert_string_equal(svc(g.info, "crond")->exec[0], "/usr/sbin/crond");
	s = svc(g.info, "httpd");
	assert_true(s->enabled && has_port(s, 8082, "tcp", "config"));
	assert_string_equal(s->ports[0].file, "etc/httpd/conf/httpd.conf");
	assert_true(has_port(svc(g.info, "postgresql"), 5433, "tcp", "config"));
	assert_true(has_port(svc(g.info, "sshd"), 22, "tcp", "config"));
	/* An init script: the daemon's foreground form from the table. */
	assert_int_equal(rt_service_command(g.tree, g.info, s, &cmd, &err), 0);
	assert_int_equal(cmd.argc, 2);
	assert_string_equal(cmd.argv[0], "/usr/sbin/httpd");
	assert_string_equal(cmd.argv[1], "-DFOREGROUND");
	rt_command_release(&cmd);
	/* postgresql: ports known, no foreground form. */
	assert_int_equal(rt_service_command(g.tree, g.info, svc(g.info, "postgresql"), &cmd, &err), -1);
	assert_non_null(strstr(err.msg, "postgresql"));
	assert_int_equal(rt_systemd_command(g.info, &cmd, &err), -1);
	assert_non_null(strstr(err.msg, "sysv"));
	guest_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_parse),
		cmocka_unit_test(test_words_and_environment),
		cmocka_unit_test(test_exec_parse),
		cmocka_unit_test(test_listen_port),
		cmocka_unit_test(test_systemd_fixture),
		cmocka_unit_test(test_openrc_fixture),
		cmocka_unit_test(test_sysv_fixture),
	};

	return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
