/*
 * End-to-end: the guest's services, ports and users (fixtures/make-services.sh).
 *
 * inspect --json is checked against peers reading the kernel's read-only
 * mount of each fixture: `systemctl --root=MNT list-unit-files
 * --state=enabled` for the systemd guest, the runlevel links themselves for
 * the OpenRC and SysV trees. convert --service / --init systemd are checked
 * in the image's config. Built with PODMAN_RUNS (test_e2e_services_podman,
 * slow): the images run under podman and serve the VM's pages, under
 * --init systemd the VM's web services are active, and the sample VM's only
 * network service (sshd) runs without --service.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct tu_e2e e2e;
static char *tmp, *bin, *services, *openrc, *sysv;

static int setup(void **state)
{
	(void)state;
	services = tu_fixture("services.raw");
	openrc = tu_fixture("openrc.raw");
	sysv = tu_fixture("sysv.raw");
	tu_e2e_init(&e2e, 0);
	tmp = e2e.tmp;
	bin = e2e.bin;
	if (!tu_have("jq"))
		tu_skip("jq is not installed (scripts/install-deps.sh --peers)");
	return 0;
}

#ifndef PODMAN_RUNS

/* The kernel's view of raw under tmp/mnt (read-only); 0 when mounted. */
static int mount_guest(const char *raw)
{
	return tu_sh("%s mount %s %s/mnt", e2e.helper, raw, tmp);
}

static void umount_guest(void)
{
	tu_sh("%s umount %s/mnt", e2e.helper, tmp);
}

/* inspect's enabled .service/.socket units, an instance by its template
 * (as systemctl lists unit files), sorted, one a line. */
static char *inspect_enabled(const char *raw)
{
	return tu_sh_out("%s inspect --json %s | jq -r '.services[] | select(.enabled) | .unit' | "
			 "sed 's/@[^.]*\\./@./' | sort -u", bin, raw);
}

static void test_systemd_enabled_matches_systemctl(void **state)
{
	char *ours = inspect_enabled(services), *theirs;

	(void)state;
	if (!tu_have("systemctl"))
		tu_skip_case("systemctl is not installed");
	assert_int_equal(mount_guest(services), 0);
	theirs = tu_sh_out("systemctl --root=%s/mnt list-unit-files --state=enabled --no-legend "
			   "--type=service,socket | awk '{print $1}' | sort -u", tmp);
	umount_guest();
	print_message("systemctl: %s", theirs);
	assert_string_equal(ours, theirs);
	/* And the ones it calls masked or alias are ours too. */
	assert_int_equal(mount_guest(services), 0);
	free(theirs);
	theirs = tu_sh_out("systemctl --root=%s/mnt list-unit-files --no-legend --type=service | "
			   "awk '$2 == \"masked\" || $2 == \"alias\" {print $1}' | sort", tmp);
	umount_guest();
	assert_non_null(strstr(theirs, "e2scrub_reap.service\n"));
	assert_non_null(strstr(theirs, "httpd.service\n"));
	assert_int_equal(tu_sh("%s inspect --json %s | jq -e '([.services[] | select(.masked) | .unit] "
			       "| index(\"e2scrub_reap.service\")) != null and ([.services[] | "
			       ".aliases // [] | .[]] | index(\"httpd.service\")) != null' >/dev/null",
			       bin, services), 0);
	free(ours);
	free(theirs);
}

static void test_systemd_unit_details(void **state)
{
	(void)state;
	/* webapp as its unit, drop-in and EnvironmentFile say; apache2's port
	 * from ports.conf; users and groups from /etc/passwd and /etc/group. */
	assert_int_equal(tu_sh("%s inspect --json %s > %s/services.json", bin, services, tmp), 0);
	assert_int_equal(tu_sh("jq -e '.init.system == \"systemd\" and .init.default == \"graphical.target\"' "
			       "%s/services.json >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("jq -e '.services[] | select(.name == \"webapp\") | .enabled and .user == "
			       "\"webapp\" and .group == \"webapp\" and .workdir == \"/srv/webapp\" and "
			       "(.env | index(\"GREETING=hello from the VM\")) != null and (.env | "
			       "index(\"WEBAPP_MODE=production\")) != null and (.env | "
			       "index(\"WEBAPP_DROPIN=1\")) != null and .exec[4] == \"8080\" and "
			       ".ports == [{\"port\": 8080, \"proto\": \"tcp\", \"source\": \"exec\", "
			       "\"file\": \"/etc/systemd/system/webapp.service\"}] and .source == "
			       "\"/etc/systemd/system/webapp.service\"' %s/services.json >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("jq -e '.services[] | select(.name == \"apache2\") | [.ports[] | "
			       "{port, source}] == [{\"port\": 80, \"source\": \"config\"}]' "
			       "%s/services.json >/dev/null", tmp), 0);
	/* The users are exactly /etc/passwd's, as the kernel's mount shows it. */
	assert_int_equal(mount_guest(services), 0);
	assert_int_equal(tu_sh("cut -d: -f1,3 %s/mnt/etc/passwd > %s/passwd.expected && "
			       "jq -r '.users[] | \"\\(.name):\\(.uid)\"' %s/services.json | "
			       "diff -u %s/passwd.expected -", tmp, tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("cut -d: -f1,3 %s/mnt/etc/group > %s/group.expected && "
			       "jq -r '.groups[] | \"\\(.name):\\(.gid)\"' %s/services.json | "
			       "diff -u %s/group.expected -", tmp, tmp, tmp, tmp), 0);
	umount_guest();
	/* Text output names them too. */
	assert_int_equal(tu_sh("%s inspect %s | grep -E '^  webapp +enabled +boot +8080/tcp\\(exec\\) "
			       "user=webapp cwd=/srv/webapp' >/dev/null", bin, services), 0);
}

static void test_openrc_and_sysv_match_their_links(void **state)
{
	char *ours, *theirs;

	(void)state;
	/* OpenRC: what /etc/runlevels/{sysinit,boot,default} link, on the mount. */
	ours = tu_sh_out("%s inspect --json %s | jq -r '.init.system, (.services[] | "
			 "select(.enabled) | .name)'", bin, openrc);
	assert_int_equal(mount_guest(openrc), 0);
	theirs = tu_sh_out("echo openrc; ls %s/mnt/etc/runlevels/sysinit %s/mnt/etc/runlevels/boot "
			   "%s/mnt/etc/runlevels/default | grep -v -e : -e '^$' | sort -u", tmp, tmp, tmp);
	umount_guest();
	assert_string_equal(ours, theirs);
	free(ours);
	free(theirs);
	assert_int_equal(tu_sh("%s inspect --json %s | jq -e '.services[] | select(.name == \"nginx\") | "
			       ".user == \"nginx\" and .workdir == \"/var/lib/nginx\" and "
			       "[.ports[].port] == [8081]' >/dev/null", bin, openrc), 0);

	/* SysV: inittab's initdefault, and the S links of that rc directory. */
	ours = tu_sh_out("%s inspect --json %s | jq -r '.init.default, (.services[] | "
			 "select(.enabled) | .name)'", bin, sysv);
	assert_int_equal(mount_guest(sysv), 0);
	theirs = tu_sh_out("l=$(sed -n 's/^[^#][^:]*:\\([0-6]\\):initdefault:.*/\\1/p' %s/mnt/etc/inittab); "
			   "echo $l; for f in %s/mnt/etc/rc.d/rc$l.d/S*; do basename $(readlink $f); "
			   "done | sort", tmp, tmp);
	umount_guest();
	assert_string_equal(ours, theirs);
	free(ours);
	free(theirs);
	assert_int_equal(tu_sh("%s inspect --json %s | jq -e '[.services[] | select(.ports != []) | "
			       "\"\\(.name):\\(.ports[0].port)\"] == [\"httpd:8082\", "
			       "\"postgresql:5433\", \"sshd:22\"]' >/dev/null", bin, sysv), 0);
}

/* The config of tag in layout tmp/NAME, as jq's input. */
static int config_check(const char *layout, const char *tag, const char *filter)
{
	return tu_sh("m=$(jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] "
		     "== \"%s\") | .digest' %s/%s/index.json | cut -d: -f2) && c=$(jq -r .config.digest "
		     "%s/%s/blobs/sha256/$m | cut -d: -f2) && jq -e '%s' %s/%s/blobs/sha256/$c >/dev/null",
		     tag, tmp, layout, tmp, layout, filter, tmp, layout);
}

static void test_convert_service_config(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag webapp --service webapp --json | jq -e "
			       "'.runs == {\"what\": \"webapp\", \"how\": \"ExecStart of "
			       "/etc/systemd/system/webapp.service\"}' >/dev/null", bin, services, tmp), 0);
	assert_int_equal(config_check("img", "webapp", ".config | .User == \"webapp:webapp\" and "
			 ".WorkingDir == \"/srv/webapp\" and .Cmd == [\"/bin/busybox\", \"httpd\", "
			 "\"-f\", \"-p\", \"8080\", \"-h\", \"/srv/webapp/www\"] and (.Env | "
			 "index(\"GREETING=hello from the VM\")) != null and .ExposedPorts == "
			 "{\"8080/tcp\": {}} and .Entrypoint == null and .StopSignal == \"SIGKILL\""), 0);
	/* Without --service: three network services, none picked; the init stays. */
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag auto 2>%s/auto.err >/dev/null", bin,
			       services, tmp, tmp), 0);
	assert_int_equal(tu_sh("grep -F '3 network services (apache2, ssh, webapp)' %s/auto.err", tmp), 0);
	assert_int_equal(config_check("img", "auto", ".config | .Cmd == [\"/sbin/init\"] and .User == null"), 0);
	/* The same layer under every command: only the config differs. */
	assert_int_equal(tu_sh("test $(jq -r '.manifests[].digest' %s/img/index.json | sort -u | wc -l) = 2",
			       tmp), 0);
	/* --init systemd: the guest's systemd, as podman --systemd=always wants it. */
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag systemd --init systemd --quiet", bin,
			       services, tmp), 0);
	assert_int_equal(config_check("img", "systemd", ".config | .Cmd == [\"/usr/lib/systemd/systemd\"] "
			 "and .StopSignal == \"SIGRTMIN+3\" and .Env == [\"container=oci\"] and "
			 "(.ExposedPorts | keys) == [\"22/tcp\", \"80/tcp\", \"8080/tcp\"]"), 0);
	/* OpenRC: nginx in the foreground as its script's user. */
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag nginx --service nginx --quiet", bin,
			       openrc, tmp), 0);
	/* (The tree has no /bin/sh to make /run/nginx with: nginx alone.) */
	assert_int_equal(config_check("img", "nginx", ".config | .Cmd == [\"/usr/sbin/nginx\", \"-c\", "
			 "\"/etc/nginx/nginx.conf\", \"-g\", \"daemon off;\"] and .User == "
			 "\"nginx:nginx\" and .WorkingDir == \"/var/lib/nginx\" and .ExposedPorts == "
			 "{\"8081/tcp\": {}}"), 0);
}

static void test_convert_service_errors(void **state)
{
	(void)state;
	/* One line naming the disk and the reason; nothing left behind. */
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --service nosuch --quiet 2>%s/err.txt", bin,
			       services, tmp, tmp), 1);
	assert_int_equal(tu_sh("test $(wc -l < %s/err.txt) = 1 && grep -F '%s: --service nosuch: the "
			       "guest has no such service' %s/err.txt && test ! -e %s/bad", tmp, services,
			       tmp, tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --init systemd --quiet 2>%s/err.txt", bin, sysv,
			       tmp, tmp), 1);
	assert_int_equal(tu_sh("grep -F 'the guest'\"'\"'s init is sysv, not systemd' %s/err.txt && "
			       "test ! -e %s/bad", tmp, tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --service postgresql --quiet 2>%s/err.txt", bin,
			       sysv, tmp, tmp), 1);
	assert_int_equal(tu_sh("grep -F 'service postgresql: no command' %s/err.txt", tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --service webapp --init systemd 2>/dev/null", bin,
			       services, tmp), 2);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --init upstart 2>/dev/null", bin, services, tmp), 2);
}

#else /* PODMAN_RUNS */

#define PODMAN "podman --runtime runc --cgroup-manager=cgroupfs"
#define PODMAN_RUN PODMAN " run -d --ulimit nofile=20000:20000 --ulimit nproc=4096:4096"

static char *link_path;          /* podman names an image by its lowercase path */
static char containers[8][80];   /* stopped by id in teardown, also after a failure */
static size_t ncontainers;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Starts tag with extra options; its id is recorded for teardown. */
static const char *run_container(const char *opts, const char *tag)
{
	char *id = tu_sh_out(PODMAN_RUN " %s oci:%s:%s 2>%s/podman.err", opts, link_path, tag, tmp);

	id[strcspn(id, "\n")] = '\0';
	if (strlen(id) != 64) {
		tu_sh("cat %s/podman.err >&2", tmp);
		fail_msg("podman run %s: no container id", tag);
	}
	snprintf(containers[ncontainers], sizeof(containers[0]), "%s", id);
	free(id);
	return containers[ncontainers++];
}

static int podman_setup(void **state)
{
	setup(state);
	if (!tu_have("podman") || !tu_have("curl"))
		tu_skip("podman or curl is not installed (scripts/install-deps.sh --peers)");
	link_path = malloc(64);
	snprintf(link_path, 64, "/tmp/vm2oci-e2e-services-%d", (int)getpid());
	assert_int_equal(tu_sh("ln -sfn %s/img %s", tmp, link_path), 0);
	return 0;
}

static int podman_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < ncontainers; i++)
		tu_sh(PODMAN " rm -f -t 0 %s >/dev/null 2>&1", containers[i]);
	tu_sh(PODMAN " rmi -f $(" PODMAN " images -q --filter reference='localhost%s' 2>/dev/null) "
	      ">/dev/null 2>&1; rm -f %s", link_path, link_path);
	free(link_path);
	tu_e2e_release(&e2e);
	return 0;
}

/* curl until the page comes (the daemon starts in the background). */
static char *fetch_page(int port)
{
	return tu_sh_out("for i in $(seq 1 40); do curl -sf http://127.0.0.1:%d/ && exit 0; "
			 "sleep 0.5; done", port);
}

static void test_podman_runs_webapp(void **state)
{
	int port = free_port();
	char opts[64], *page, *who;
	const char *id;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag webapp --service webapp --quiet", bin,
			       services, tmp), 0);
	snprintf(opts, sizeof(opts), "-p 127.0.0.1:%d:8080", port);
	id = run_container(opts, "webapp");
	page = fetch_page(port);
	print_message("webapp on %d: %s", port, page);
	assert_string_equal(page, "vm2oci services fixture: webapp\n");
	/* As the unit's user, in its directory, with its environment. */
	who = tu_sh_out(PODMAN " exec %s sh -c 'id -un; pwd; echo \"$GREETING/$WEBAPP_MODE\"'", id);
	assert_string_equal(who, "webapp\n/srv/webapp\nhello from the VM/production\n");
	free(page);
	free(who);
}

static void test_podman_runs_apache2(void **state)
{
	int port = free_port();
	char opts[64], *page;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag apache2 --service apache2 --quiet", bin,
			       services, tmp), 0);
	snprintf(opts, sizeof(opts), "-p 127.0.0.1:%d:80", port);
	run_container(opts, "apache2");
	page = fetch_page(port);
	print_message("apache2 on %d: %s", port, page);
	assert_string_equal(page, "<html><body>vm2oci services fixture: apache2</body></html>\n");
	free(page);
}

static void test_podman_systemd_starts_services(void **state)
{
	const char *id;
	char *active;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag systemd --init systemd --quiet", bin,
			       services, tmp), 0);
	id = run_container("--systemd=always", "systemd");
	/* Boot takes some seconds; every enabled web service ends up active. */
	active = tu_sh_out("for i in $(seq 1 90); do s=$(" PODMAN " exec %s systemctl is-active "
			   "apache2 webapp 2>/dev/null | tr '\\n' ' '); test \"$s\" = 'active active ' "
			   "&& break; sleep 1; done; echo \"$s\"", id);
	print_message("systemctl is-active apache2 webapp: %s", active);
	assert_string_equal(active, "active active \n");
	free(active);
	active = tu_sh_out(PODMAN " exec %s sh -c 'cat /proc/1/comm; busybox wget -q -O - "
			   "http://127.0.0.1:8080/'", id);
	assert_string_equal(active, "systemd\nvm2oci services fixture: webapp\n");
	free(active);
}

/* The sample VM has one network service, sshd: without --service the image
 * runs it (RuntimeDirectory=sshd made first), and it greets on port 22. */
static void test_podman_runs_the_only_network_service(void **state)
{
	char *sample = tu_fixture_path("debian-gpt.qcow2"), opts[64], *banner;
	int port = free_port();

	(void)state;
	if (!sample)
		tu_skip_case("debian-gpt.qcow2 missing (fixtures/make-fixtures.sh)");
	assert_int_equal(tu_sh("%s convert %s -o %s/img --tag sample --json | jq -e '.runs.what == "
			       "\"ssh\"' >/dev/null", bin, sample, tmp), 0);
	snprintf(opts, sizeof(opts), "-p 127.0.0.1:%d:22", port);
	run_container(opts, "sample");
	banner = tu_sh_out("for i in $(seq 1 40); do b=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d "
			   "&& head -c 8 <&3' 2>/dev/null) && test -n \"$b\" && break; sleep 0.5; done; "
			   "echo \"$b\"", port);
	print_message("port %d: %s", port, banner);
	assert_string_equal(banner, "SSH-2.0-\n");
	free(banner);
	free(sample);
}

#endif

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

int main(void)
{
#ifndef PODMAN_RUNS
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_systemd_enabled_matches_systemctl),
		cmocka_unit_test(test_systemd_unit_details),
		cmocka_unit_test(test_openrc_and_sysv_match_their_links),
		cmocka_unit_test(test_convert_service_config),
		cmocka_unit_test(test_convert_service_errors),
	};

	return cmocka_run_group_tests_name("e2e_services", tests, setup, teardown);
#else
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_podman_runs_webapp),
		cmocka_unit_test(test_podman_runs_apache2),
		cmocka_unit_test(test_podman_systemd_starts_services),
		cmocka_unit_test(test_podman_runs_the_only_network_service),
	};

	(void)teardown;
	return cmocka_run_group_tests_name("e2e_services_podman", tests, podman_setup,
					   podman_teardown);
#endif
}
