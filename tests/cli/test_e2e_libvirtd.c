/*
 * test_e2e_libvirtd.c - `vm2oci domains` against a real libvirtd with the
 * qemu driver, started by the test (no systemd: `libvirtd --daemon
 * --pid-file`, and --timeout so that a killed test does not leave it running
 * for long), domains `virsh define`d on the fixture disks and never
 * started (one on a read-only loop device: a block disk), read through
 * qemu:///system. virsh domblklist and vol-path are the oracles. Everything defined is undefined and the daemon stopped by its
 * pid at the end. A daemon that does not start fails the test with its log.
 */
#include "testkeep.h"

#include <signal.h>
#include <time.h>

#define URI "qemu:///system"

static const char *bin;
static char *dir, *tmpl, *gpt, *bare, *clone, *mbr;
static char loopdev[64]; /* a read-only loop device on debian-mbr.raw: a block disk */
static char prefix[64], pool[80], json_path[4096];
static pid_t daemon_pid;

static void print_log(void)
{
	fprintf(stderr, "---- libvirtd log ----\n");
	tu_sh("cat '%s/libvirtd.log' >&2", dir);
	fprintf(stderr, "----------------------\n");
}

/* Starts libvirtd and waits (30 s at most) for its read-only socket to answer. */
static int daemon_start(void)
{
	char pidfile[4200];
	int i;
	FILE *f;

	snprintf(pidfile, sizeof(pidfile), "%s/libvirtd.pid", dir);
	if (tu_sh("LIBVIRT_LOG_OUTPUTS='3:file:%s/libvirtd.log' libvirtd --daemon --timeout 300 --pid-file '%s' "
		  ">> '%s/libvirtd.log' 2>&1", dir, pidfile, dir) != 0) {
		print_log();
		fail_msg("libvirtd --daemon did not start (a libvirtd already running holds its pid file lock?)");
	}
	for (i = 0; i < 150 && !daemon_pid; i++) {
		f = fopen(pidfile, "r");
		if (f && fscanf(f, "%d", &daemon_pid) != 1)
			daemon_pid = 0;
		if (f)
			fclose(f);
		if (!daemon_pid)
			usleep(200 * 1000);
	}
	for (i = 0; i < 150; i++) {
		if (tu_sh("virsh -r -c " URI " version > /dev/null 2>&1") == 0)
			return 0;
		if (daemon_pid > 0 && kill(daemon_pid, 0) != 0)
			break; /* it gave up: its log says why */
		usleep(200 * 1000);
	}
	print_log();
	fail_msg("libvirtd (pid %d) exited or did not answer on " URI " within 30 s", (int)daemon_pid);
	return -1;
}

static void daemon_stop(void)
{
	int i;

	if (daemon_pid <= 0)
		return;
	kill(daemon_pid, SIGTERM);
	for (i = 0; i < 150 && kill(daemon_pid, 0) == 0; i++)
		usleep(200 * 1000);
	if (kill(daemon_pid, 0) == 0)
		kill(daemon_pid, SIGKILL);
	daemon_pid = 0;
}

static void define(const char *name, const char *disks)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.xml", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "<domain type=\"qemu\"><name>%s-%s</name><memory unit=\"MiB\">128</memory>\n"
		   "<os><type arch=\"x86_64\" machine=\"pc\">hvm</type></os>\n<devices>\n%s</devices></domain>\n",
		prefix, name, disks);
	assert_int_equal(fclose(f), 0);
	if (tu_sh("virsh -q -c " URI " define '%s' >&2", path) != 0) {
		print_log();
		fail_msg("virsh define %s failed", path);
	}
}

static void undefine_all(void)
{
	tu_sh("for d in $(virsh -q -c " URI " list --all --name 2>/dev/null | grep '^%s-'); do "
	      "virsh -q -c " URI " undefine \"$d\" > /dev/null; done", prefix);
	tu_sh("virsh -q -c " URI " pool-destroy '%s' > /dev/null 2>&1", pool);
}

/* Idempotent; also run at exit, since a failed group setup skips teardown
 * and must not leave a daemon or a definition behind. */
static void cleanup(void)
{
	if (daemon_pid > 0)
		undefine_all();
	daemon_stop();
	if (loopdev[0])
		tu_sh("losetup -d '%s'", loopdev);
	loopdev[0] = '\0';
	if (dir)
		tu_sh("rm -rf '%s'", dir);
	free(dir);
	dir = NULL;
	tu_kept_free();
}

static int teardown(void **state)
{
	cleanup();
	return 0;
}

static int setup(void **state)
{
	char disks[16384];

	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY not set");
	tmpl = tu_fixture("template.qcow2");
	gpt = tu_fixture("debian-gpt.qcow2");
	bare = tu_fixture("debian-bare.raw");
	clone = tu_fixture("clone.qcow2");
	mbr = tu_fixture("debian-mbr.raw");
	if (!tu_have("libvirtd") || !tu_have("virsh") || !tu_have("qemu-system-x86_64"))
		fail_msg("libvirtd, virsh or qemu-system-x86_64 not found: scripts/install-deps.sh --peers "
			 "installs libvirt-daemon-system, libvirt-clients and qemu-system-x86");
	if (!tu_have("jq") || !tu_have("qemu-img"))
		tu_skip("jq or qemu-img not found");
	if (getuid() != 0)
		tu_skip("qemu:///system needs root");
	dir = tu_tmpdir();
	atexit(cleanup);
	snprintf(prefix, sizeof(prefix), "vm2oci-e2e-%d", (int)getpid());
	snprintf(pool, sizeof(pool), "%s-pool", prefix);
	assert_int_equal(tu_sh("mkdir '%s/pool' && qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s/clone-a.qcow2' && "
			       "qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s/pool/clone-v.qcow2'",
			       dir, tmpl, dir, tmpl, dir), 0);
	if (daemon_start() < 0)
		return -1;

	snprintf(disks, sizeof(disks),
		 "<disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/>"
		 "<source file=\"%s/clone-a.qcow2\"/><target dev=\"vda\" bus=\"virtio\"/>"
		 "<backingStore type=\"file\"><format type=\"qcow2\"/><source file=\"%s\"/><backingStore/></backingStore></disk>\n"
		 "<disk type=\"file\" device=\"cdrom\"><driver name=\"qemu\" type=\"raw\"/><target dev=\"hdc\" bus=\"ide\"/><readonly/></disk>\n",
		 dir, tmpl);
	define("clone", disks);
	snprintf(disks, sizeof(disks),
		 "<disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/><source file=\"%s\"/>"
		 "<target dev=\"vda\" bus=\"virtio\"/></disk>\n"
		 "<disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"raw\"/><source file=\"%s\"/>"
		 "<target dev=\"vdb\" bus=\"virtio\"/><readonly/></disk>\n", gpt, bare);
	define("two", disks);
	snprintf(disks, sizeof(disks),
		 "<disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/><source file=\"%s\"/>"
		 "<target dev=\"vda\" bus=\"virtio\"/></disk>\n"
		 "<disk type=\"network\" device=\"disk\"><driver name=\"qemu\" type=\"raw\"/>"
		 "<source protocol=\"rbd\" name=\"vms/ceph-root\"><host name=\"mon1.example\" port=\"6789\"/></source>"
		 "<target dev=\"vdb\" bus=\"virtio\"/></disk>\n", clone);
	define("ceph", disks);
	/* A transient dir pool: gone with pool-destroy. */
	if (tu_sh("virsh -q -c " URI " pool-create-as '%s' dir --target '%s/pool' >&2", pool, dir) != 0) {
		print_log();
		fail_msg("virsh pool-create-as %s failed", pool);
	}
	snprintf(disks, sizeof(disks),
		 "<disk type=\"volume\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/>"
		 "<source pool=\"%s\" volume=\"clone-v.qcow2\"/><target dev=\"vda\" bus=\"virtio\"/></disk>\n", pool);
	define("pooled", disks);
	snprintf(loopdev, sizeof(loopdev), "%s", tu_kept(tu_sh_out("losetup -r -f --show '%s'", mbr)));
	if (strncmp(loopdev, "/dev/loop", 9))
		fail_msg("losetup -r -f --show %s gave '%s'", mbr, loopdev);
	snprintf(disks, sizeof(disks),
		 "<disk type=\"block\" device=\"disk\"><driver name=\"qemu\" type=\"raw\"/><source dev=\"%s\"/>"
		 "<target dev=\"sda\" bus=\"scsi\"/></disk>\n", loopdev);
	define("block", disks);

	snprintf(json_path, sizeof(json_path), "%s/domains.json", dir);
	if (tu_sh("'%s' domains --connect " URI " --json > '%s'", bin, json_path) != 0)
		fail_msg("vm2oci domains --connect " URI " failed");
	return 0;
}

static char *jq_dom(const char *name, const char *filter)
{
	return tu_kept(tu_sh_out("jq -r '.domains[] | select(.name == \"%s-%s\") | %s' '%s'", prefix, name,
				 filter, json_path));
}

/* Never started: shut off, persistent; listed with every other domain. */
static void test_states(void **state)
{
	static const char *const names[] = { "block", "ceph", "clone", "pooled", "two" };
	size_t i;

	for (i = 0; i < 5; i++) {
		char *st = jq_dom(names[i], "\"\\(.state) \\(.persistent) \\(.managed_save)\"");
		char *virsh = tu_kept(tu_sh_out("virsh -q -r -c " URI " domstate '%s-%s'", prefix, names[i]));

		assert_string_equal(st, "shut off true false");
		assert_string_equal(virsh, "shut off");
	}
}

/* Every disk-device row of virsh domblklist: the same target, type and source. */
static void test_disks_match_domblklist(void **state)
{
	static const char *const names[] = { "block", "ceph", "clone", "two" };
	int rows = 0;
	size_t i;

	for (i = 0; i < 4; i++) {
		char *list = tu_sh_out("virsh -q -r -c " URI " domblklist --details '%s-%s' | awk '$2 == \"disk\"'",
				       prefix, names[i]);
		char *save = NULL, *line;

		for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char type[32], device[32], target[32], source[4096], filter[256];
			char *got;

			assert_int_equal(sscanf(line, "%31s %31s %31s %4095s", type, device, target, source), 4);
			snprintf(filter, sizeof(filter),
				 ".disks[] | select(.target == \"%s\") | \"\\(.type) \\(.path) \\(.readable)\"", target);
			got = jq_dom(names[i], filter);
			if (!strcmp(type, "file") || !strcmp(type, "block")) {
				char want[4200];

				snprintf(want, sizeof(want), "%s %s true", type, source);
				assert_string_equal(got, want);
			} else {
				assert_string_equal(got, "network null false");
			}
			rows++;
		}
		free(list);
	}
	assert_int_equal(rows, 6);
	assert_string_equal(jq_dom("two", "[.disks[] | \"\\(.target):\\(.format):\\(.readonly)\"] | join(\",\")"),
			    "vda:qcow2:false,vdb:raw:true");
}

static void test_chain_network_cdrom(void **state)
{
	char want[4200];

	snprintf(want, sizeof(want), "xml %s qcow2", tmpl);
	assert_string_equal(jq_dom("clone", ".disks[0] | \"\\(.backing_from) \\(.backing[0].path) \\(.backing[0].format)\""),
			    want);
	assert_string_equal(jq_dom("ceph", ".disks[0].backing_from"), "image");
	assert_string_equal(jq_dom("clone", "[.skipped[] | \"\\(.device):\\(.target)\"] | join(\",\")"), "cdrom:hdc");
	assert_string_equal(jq_dom("ceph", ".disks[1].reason | test(\"^network disk \\\\(rbd vms/ceph-root on mon1.example:6789\\\\)\")"),
			    "true");
}

/* The volume resolved by the daemon's storage driver, as virsh vol-path says. */
static void test_volume(void **state)
{
	char *want = tu_kept(tu_sh_out("virsh -q -r -c " URI " vol-path --pool '%s' clone-v.qcow2", pool));
	char expect[4200];

	snprintf(expect, sizeof(expect), "%s/pool/clone-v.qcow2", dir);
	assert_string_equal(want, expect);
	assert_string_equal(jq_dom("pooled", ".disks[0].path"), want);
}

static void test_table(void **state)
{
	assert_int_equal(tu_sh("'%s' domains --connect " URI " | grep -Eq '^%s-block +shut off +sda +raw +%s \\(block\\)$'",
			       bin, prefix, loopdev), 0);
	assert_int_equal(tu_sh("'%s' domains --connect " URI " | grep -Eq '^%s-two +shut off +vda +qcow2 +/'",
			       bin, prefix), 0);
}

/* A small batch through the daemon: the clone converted (its backing file is
 * outside its folder but declared in <backingStore>, so allowed) and
 * verified, the domain with an rbd disk failed alone. */
static void test_batch(void **state)
{
	char out[4200], json[4200];

	snprintf(out, sizeof(out), "%s/batch-oci", dir);
	snprintf(json, sizeof(json), "%s/batch.json", dir);
	assert_int_equal(tu_sh("'%s' batch --connect " URI " --domain '%s-clone' --domain '%s-ceph' --base 'disk:%s' "
			       "--max-file-size 2G -o '%s' -j 2 --json > '%s'", bin, prefix, prefix, tmpl, out, json),
			 3);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '[.domains[] | .result + \" \" + (.strategy // \"-\")] | join(\",\")' '%s'", json)),
			    "failed -,converted block");
	assert_int_equal(tu_sh("'%s' verify --quiet --max-file-size 2G --backing-dir '%s' 'oci:%s:%s-clone' '%s/clone-a.qcow2' > /dev/null",
			       bin, tmpl, out, prefix, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_disks_match_domblklist),
		cmocka_unit_test(test_chain_network_cdrom),
		cmocka_unit_test(test_volume),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_batch),
	};

	return cmocka_run_group_tests_name("vm2oci domains on libvirtd", tests, setup, teardown);
}
