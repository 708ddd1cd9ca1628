/*
 * test_virt.c - virt/ against libvirt's test driver (a fleet of domains on
 * the fixture disks, tests/virt/fleet.h), with virsh as the oracle for the
 * states, and vt_parse_domain_xml on hand-written and hostile documents.
 */
#include "testkeep.h"
#include "virt/fleet.h"
#include "virt.h"

static struct fleet fl;
static struct vt_domain *doms;
static size_t ndoms;

static int fleet_setup(void **state)
{
	struct ut_err err = { { 0 } };
	struct vt_conn *c = NULL;

	fleet_make(&fl);
	if (vt_open(fl.uri, &c, &err) < 0 || vt_list_domains(c, &doms, &ndoms, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		vt_close(c);
		return -1;
	}
	vt_close(c);
	return 0;
}

static int fleet_teardown(void **state)
{
	vt_domains_free(doms, ndoms);
	fleet_remove(&fl);
	tu_kept_free();
	return 0;
}

static const struct vt_domain *domain(const char *name)
{
	size_t i;

	for (i = 0; i < ndoms; i++)
		if (!strcmp(doms[i].name, name))
			return &doms[i];
	fail_msg("domain %s not listed", name);
	return NULL;
}

static void test_every_domain_sorted(void **state)
{
	static const char *const names[FLEET_DOMAINS] = {
		"broken", "ceph-vm", "clone-a", "clone-b", "clone-c", "paused-vm",
		"pooled", "running-vm", "sleeping-vm", "two-disks", "unrelated",
	};
	size_t i;

	assert_int_equal(ndoms, FLEET_DOMAINS);
	for (i = 0; i < ndoms; i++) {
		assert_string_equal(doms[i].name, names[i]);
		assert_int_equal(strlen(doms[i].uuid), 36);
		assert_true(doms[i].persistent);
		assert_false(doms[i].managed_save);
	}
}

/* Each state as virsh domstate prints it, from the same node file. */
static void test_states_match_virsh(void **state)
{
	size_t i;

	if (!tu_have("virsh"))
		tu_skip("virsh not found (libvirt-clients)");
	for (i = 0; i < ndoms; i++) {
		char *out = tu_kept(tu_sh_out("virsh -q -c '%s' domstate '%s'", fl.uri, doms[i].name));

		assert_string_equal(vt_state_name(doms[i].state), out);
	}
	assert_int_equal(domain("running-vm")->state, VT_STATE_RUNNING);
	assert_int_equal(domain("paused-vm")->state, VT_STATE_PAUSED);
	assert_int_equal(domain("sleeping-vm")->state, VT_STATE_PMSUSPENDED);
	assert_int_equal(domain("clone-a")->state, VT_STATE_SHUTOFF);
}

/* Only a shut-off domain's disks are a consistent, powered-off state. */
static void test_live_reasons(void **state)
{
	size_t i;

	for (i = 0; i < ndoms; i++) {
		const char *why = vt_domain_live_reason(&doms[i]);

		if (doms[i].state == VT_STATE_SHUTOFF)
			assert_null(why);
		else
			assert_non_null(why);
	}
	assert_true(!strncmp(vt_domain_live_reason(domain("running-vm")), "running: ", 9));
	assert_true(!strncmp(vt_domain_live_reason(domain("paused-vm")), "paused: ", 8));
	assert_true(!strncmp(vt_domain_live_reason(domain("sleeping-vm")), "suspended ", 10));
}

static void test_live_reason_states(void **state)
{
	struct vt_domain d;

	memset(&d, 0, sizeof(d));
	d.state = VT_STATE_SHUTOFF;
	assert_null(vt_domain_live_reason(&d));
	d.managed_save = 1;
	assert_non_null(strstr(vt_domain_live_reason(&d), "managed save"));
	d.managed_save = 0;
	d.state = VT_STATE_CRASHED;
	assert_non_null(vt_domain_live_reason(&d));
	d.state = 42;
	assert_non_null(strstr(vt_domain_live_reason(&d), "unknown"));
}

static void test_state_names(void **state)
{
	assert_string_equal(vt_state_name(VT_STATE_SHUTOFF), "shut off");
	assert_string_equal(vt_state_name(VT_STATE_CRASHED), "crashed");
	assert_string_equal(vt_state_name(VT_STATE_BLOCKED), "idle");
	assert_string_equal(vt_state_name(99), "unknown");
	assert_string_equal(vt_state_name(-1), "unknown");
}

static void test_file_disks_and_chains(void **state)
{
	const struct vt_domain *a = domain("clone-a"), *b = domain("clone-b"), *two = domain("two-disks");
	const struct vt_domain *u = domain("unrelated");
	char want[4096];

	assert_int_equal(a->ndisks, 1);
	snprintf(want, sizeof(want), "%s/clone-a.qcow2", fl.dir);
	assert_string_equal(a->disks[0].path, want);
	assert_string_equal(a->disks[0].format, "qcow2");
	assert_string_equal(a->disks[0].target, "vda");
	assert_int_equal(a->disks[0].source, VT_SOURCE_FILE);
	assert_null(a->disks[0].unreadable);
	/* Declared chain: the template, then an explicit end. */
	assert_true(a->disks[0].chain_declared);
	assert_int_equal(a->disks[0].nbacking, 1);
	assert_string_equal(a->disks[0].backing[0].path, fl.template);
	assert_string_equal(a->disks[0].backing[0].format, "qcow2");
	/* Undeclared: left to the image's header. */
	assert_false(b->disks[0].chain_declared);
	assert_int_equal(b->disks[0].nbacking, 0);

	assert_int_equal(two->ndisks, 2);
	assert_string_equal(two->disks[0].target, "vda");
	assert_string_equal(two->disks[0].format, "qcow2");
	assert_string_equal(two->disks[1].target, "vdb");
	assert_string_equal(two->disks[1].format, "raw");
	assert_non_null(strstr(two->disks[1].path, "debian-bare.raw"));

	assert_true(u->disks[0].readonly);
	assert_false(a->disks[0].readonly);
	assert_string_equal(domain("running-vm")->disks[0].format, "vmdk");
}

static void test_skipped_devices(void **state)
{
	const struct vt_domain *c = domain("clone-c"), *ceph = domain("ceph-vm");

	assert_int_equal(c->ndisks, 1);
	assert_int_equal(c->nskipped, 1);
	assert_string_equal(c->skipped[0].device, "cdrom");
	assert_string_equal(c->skipped[0].target, "hdc");
	assert_int_equal(ceph->nskipped, 1);
	assert_string_equal(ceph->skipped[0].device, "floppy");
}

static void test_network_disk_not_readable(void **state)
{
	const struct vt_disk *d = &domain("ceph-vm")->disks[0];

	assert_int_equal(d->source, VT_SOURCE_NETWORK);
	assert_null(d->path);
	assert_string_equal(d->protocol, "rbd");
	assert_non_null(d->unreadable);
	assert_non_null(strstr(d->unreadable, "rbd vms/ceph-vm-root on mon1.example:6789"));
}

/* The volume resolved by libvirt; virsh vol-path is the oracle. */
static void test_volume_resolved(void **state)
{
	const struct vt_disk *d = &domain("pooled")->disks[0];
	char *out, want[4096];

	assert_int_equal(d->source, VT_SOURCE_VOLUME);
	assert_string_equal(d->pool, "fleet");
	assert_string_equal(d->volume, "clone-v.qcow2");
	snprintf(want, sizeof(want), "%s/pool/clone-v.qcow2", fl.dir);
	assert_non_null(d->path);
	assert_string_equal(d->path, want);
	if (tu_have("virsh")) {
		out = tu_sh_out("virsh -q -c '%s' vol-path --pool fleet clone-v.qcow2", fl.uri);
		assert_non_null(strstr(out, want));
		free(out);
	}
}

static void test_open_errors(void **state)
{
	struct ut_err err = { { 0 } };
	struct vt_conn *c = (struct vt_conn *)&err;

	assert_int_equal(vt_open("test:///nonexistent/fleet.xml", &c, &err), -1);
	assert_null(c);
	assert_non_null(strstr(err.msg, "test:///nonexistent/fleet.xml: cannot connect: "));
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(vt_open("nosuchdriver:///x", &c, &err), -1);
	assert_non_null(strstr(err.msg, "nosuchdriver:///x"));
	vt_close(NULL);
}

/* ---- vt_parse_domain_xml on its own ------------------------------------ */

static int parse(const char *xml, struct vt_domain *d, struct ut_err *err)
{
	memset(d, 0, sizeof(*d));
	return vt_parse_domain_xml(NULL, xml, strlen(xml), d, err);
}

static void release(struct vt_domain *d)
{
	struct vt_domain *heap = malloc(sizeof(*heap));

	*heap = *d;
	vt_domains_free(heap, 1);
}

static void test_parse_kinds(void **state)
{
	struct ut_err err = { { 0 } };
	struct vt_domain d;

	assert_int_equal(parse("<domain><name>x</name><devices>"
			       "<disk type='block' device='disk'><driver type='raw'/><source dev='/dev/sdz'/><target dev='sda'/></disk>"
			       "<disk type='file'><source file='/v/a.img'/><target dev='vdb'/></disk>"
			       "<disk type='file' device='disk'><target dev='vdc'/></disk>"
			       "<disk type='volume' device='disk'><source pool='p' volume='v'/><target dev='vdd'/></disk>"
			       "<disk type='network' device='disk'><source protocol='iscsi' name='iqn.2020-01.example:t/1'/><target dev='vde'/></disk>"
			       "<disk type='nvme' device='disk'><target dev='vdf'/></disk>"
			       "<disk type='block' device='lun'><source dev='/dev/sdy'/><target dev='sdb'/></disk>"
			       "</devices></domain>", &d, &err), 0);
	assert_int_equal(d.ndisks, 6);
	assert_int_equal(d.nskipped, 1);
	assert_string_equal(d.skipped[0].device, "lun");
	assert_int_equal(d.disks[0].source, VT_SOURCE_BLOCK);
	assert_string_equal(d.disks[0].path, "/dev/sdz");
	/* No device attribute means a disk; no driver means no format. */
	assert_string_equal(d.disks[1].path, "/v/a.img");
	assert_null(d.disks[1].format);
	assert_null(d.disks[2].path);
	assert_non_null(strstr(d.disks[2].unreadable, "no source"));
	assert_null(d.disks[3].path);
	assert_non_null(strstr(d.disks[3].unreadable, "volume v in pool p"));
	assert_non_null(strstr(d.disks[4].unreadable, "iscsi iqn.2020-01.example:t/1"));
	assert_non_null(strstr(d.disks[5].unreadable, "disk type 'nvme'"));
	release(&d);
}

static void test_parse_refuses(void **state)
{
	struct ut_err err = { { 0 } };
	struct vt_domain d;
	char *big;
	size_t i, off;

	assert_int_equal(parse("<domain><devices>", &d, &err), -1);
	assert_non_null(strstr(err.msg, "not well-formed"));
	assert_null(strchr(err.msg, '\n'));
	release(&d);
	assert_int_equal(parse("<network><name>n</name></network>", &d, &err), -1);
	assert_non_null(strstr(err.msg, "root element is <network>"));
	release(&d);

	/* A chain of 65 backing stores. */
	big = malloc(1 << 20);
	off = (size_t)sprintf(big, "<domain><devices><disk type='file'><source file='/a'/><target dev='vda'/>");
	for (i = 0; i < 65; i++)
		off += (size_t)sprintf(big + off, "<backingStore type='file'><source file='/b%zu'/>", i);
	for (i = 0; i < 65; i++)
		off += (size_t)sprintf(big + off, "</backingStore>");
	sprintf(big + off, "</disk></devices></domain>");
	assert_int_equal(parse(big, &d, &err), -1);
	assert_non_null(strstr(err.msg, "deeper than 64"));
	release(&d);

	/* 1025 disks. */
	off = (size_t)sprintf(big, "<domain><devices>");
	for (i = 0; i < 1025; i++)
		off += (size_t)sprintf(big + off, "<disk type='file'><source file='/d%zu'/></disk>", i);
	sprintf(big + off, "</devices></domain>");
	assert_int_equal(parse(big, &d, &err), -1);
	assert_non_null(strstr(err.msg, "more than 1024 disks"));
	release(&d);
	free(big);

	/* An entity is never expanded (no billion laughs, no external file):
	 * one referring to a file is refused. */
	assert_int_equal(parse("<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/hostname'>]>"
			       "<domain><devices><disk type='file'><source file='&x;'/></disk></devices></domain>",
			       &d, &err), -1);
	assert_non_null(strstr(err.msg, "not well-formed"));
	assert_null(strchr(err.msg, '\n'));
	release(&d);
	assert_int_equal(parse("<!DOCTYPE domain [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
			       "<domain><devices><disk type='file'><source file='&b;'/></disk></devices></domain>",
			       &d, &err), 0);
	assert_true(strlen(d.disks[0].path) <= 64);
	release(&d);
}

int main(void)
{
	const struct CMUnitTest fleet_tests[] = {
		cmocka_unit_test(test_every_domain_sorted),
		cmocka_unit_test(test_states_match_virsh),
		cmocka_unit_test(test_file_disks_and_chains),
		cmocka_unit_test(test_skipped_devices),
		cmocka_unit_test(test_network_disk_not_readable),
		cmocka_unit_test(test_volume_resolved),
		cmocka_unit_test(test_live_reasons),
	};
	const struct CMUnitTest unit_tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_live_reason_states),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_refuses),
	};
	int rc = cmocka_run_group_tests_name("virt parse", unit_tests, NULL, NULL);

	/* Before the fleet group, which skips the whole binary without fixtures. */
	if (rc)
		return rc;
	return cmocka_run_group_tests_name("virt fleet", fleet_tests, fleet_setup, fleet_teardown);
}
