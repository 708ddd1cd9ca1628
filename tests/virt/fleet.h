/*
 * fleet.h - a hypervisor for the tests: a node XML for libvirt's test driver
 * (test:///DIR/fleet.xml, no daemon) whose domains sit on the fixture disks.
 * Header-only, shared by the virt unit tests and the `vm2oci domains` e2e.
 *
 *   clone-a      shut off     overlay of template.qcow2, chain declared in the XML
 *   clone-b      shut off     overlay of template.qcow2, chain left to the image
 *   clone-c      shut off     the fixture clone.qcow2, and a cdrom (skipped)
 *   unrelated    shut off     debian-mbr.raw, read-only
 *   two-disks    shut off     debian-gpt.qcow2 (vda) + debian-bare.raw (vdb)
 *   running-vm   running      debian-gpt.vmdk
 *   paused-vm    paused       overlay of template.qcow2
 *   sleeping-vm  pmsuspended  overlay of template.qcow2
 *   ceph-vm      shut off     an rbd network disk (not readable) and a floppy
 *   pooled       shut off     volume clone-v.qcow2 of pool "fleet" (a dir pool)
 *   broken       shut off     corrupt/bad-l1.qcow2
 *
 * The overlays are made with qemu-img in DIR (a few hundred KiB each).
 */
#ifndef VM2OCI_TEST_FLEET_H
#define VM2OCI_TEST_FLEET_H

#include "testutil.h"

#define FLEET_RUNSTATE "<test:runstate xmlns:test=\"http://libvirt.org/schemas/domain/test/1.0\">%d</test:runstate>"
#define FLEET_DOMAINS 11

struct fleet {
	char *dir;      /* the temporary directory holding fleet.xml and the overlays */
	char *uri;      /* test:///DIR/fleet.xml */
	char *xml;      /* DIR/fleet.xml */
	char *template; /* the fixture template.qcow2 */
};

static inline void fleet_domain_open(FILE *f, const char *name, int runstate)
{
	fprintf(f, "  <domain type=\"test\">\n    <name>%s</name>\n    <memory>131072</memory>\n"
		   "    <os><type>hvm</type></os>\n    " FLEET_RUNSTATE "\n    <devices>\n",
		name, runstate);
}

static inline void fleet_domain_close(FILE *f)
{
	fprintf(f, "    </devices>\n  </domain>\n");
}

static inline void fleet_file_disk(FILE *f, const char *format, const char *path, const char *target,
				   const char *extra)
{
	fprintf(f, "      <disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"%s\"/>"
		   "<source file=\"%s\"/><target dev=\"%s\" bus=\"virtio\"/>%s</disk>\n",
		format, path, target, extra ? extra : "");
}

/* Makes DIR, the overlays and fleet.xml; skips the test binary without the
 * fixtures or qemu-img. */
static inline void fleet_make(struct fleet *fl)
{
	char *mbr = tu_fixture("debian-mbr.raw"), *gpt = tu_fixture("debian-gpt.qcow2");
	char *bare = tu_fixture("debian-bare.raw"), *vmdk = tu_fixture("debian-gpt.vmdk");
	char *clone = tu_fixture("clone.qcow2"), *bad = tu_fixture("corrupt/bad-l1.qcow2");
	static const char *const overlays[] = { "clone-a", "clone-b", "paused", "sleeping", "pool/clone-v" };
	char path[4096], chain[8192];
	size_t i;
	FILE *f;

	fl->template = tu_fixture("template.qcow2");
	if (!tu_have("qemu-img"))
		tu_skip("qemu-img not found (it makes the template's clones)");
	fl->dir = tu_tmpdir();
	assert_int_equal(tu_sh("mkdir -p '%s/pool'", fl->dir), 0);
	for (i = 0; i < sizeof(overlays) / sizeof(overlays[0]); i++)
		assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s/%s.qcow2'",
				       fl->template, fl->dir, overlays[i]), 0);

	fl->xml = malloc(strlen(fl->dir) + 16);
	sprintf(fl->xml, "%s/fleet.xml", fl->dir);
	fl->uri = malloc(strlen(fl->xml) + 16);
	sprintf(fl->uri, "test://%s", fl->xml);
	f = fopen(fl->xml, "w");
	assert_non_null(f);
	fprintf(f, "<node>\n");

	fleet_domain_open(f, "clone-a", 5);
	snprintf(path, sizeof(path), "%s/clone-a.qcow2", fl->dir);
	snprintf(chain, sizeof(chain), "<backingStore type=\"file\"><format type=\"qcow2\"/>"
		 "<source file=\"%s\"/><backingStore/></backingStore>", fl->template);
	fleet_file_disk(f, "qcow2", path, "vda", chain);
	fleet_domain_close(f);

	fleet_domain_open(f, "clone-b", 5);
	snprintf(path, sizeof(path), "%s/clone-b.qcow2", fl->dir);
	fleet_file_disk(f, "qcow2", path, "vda", NULL);
	fleet_domain_close(f);

	fleet_domain_open(f, "clone-c", 5);
	fleet_file_disk(f, "qcow2", clone, "vda", NULL);
	fprintf(f, "      <disk type=\"file\" device=\"cdrom\"><driver name=\"qemu\" type=\"raw\"/>"
		   "<target dev=\"hdc\" bus=\"ide\"/><readonly/></disk>\n");
	fleet_domain_close(f);

	fleet_domain_open(f, "unrelated", 5);
	fleet_file_disk(f, "raw", mbr, "vda", "<readonly/>");
	fleet_domain_close(f);

	fleet_domain_open(f, "two-disks", 5);
	fleet_file_disk(f, "qcow2", gpt, "vda", NULL);
	fleet_file_disk(f, "raw", bare, "vdb", NULL);
	fleet_domain_close(f);

	fleet_domain_open(f, "running-vm", 1);
	fleet_file_disk(f, "vmdk", vmdk, "vda", NULL);
	fleet_domain_close(f);

	fleet_domain_open(f, "paused-vm", 3);
	snprintf(path, sizeof(path), "%s/paused.qcow2", fl->dir);
	fleet_file_disk(f, "qcow2", path, "vda", NULL);
	fleet_domain_close(f);

	fleet_domain_open(f, "sleeping-vm", 7);
	snprintf(path, sizeof(path), "%s/sleeping.qcow2", fl->dir);
	fleet_file_disk(f, "qcow2", path, "vda", NULL);
	fleet_domain_close(f);

	fleet_domain_open(f, "ceph-vm", 5);
	fprintf(f, "      <disk type=\"network\" device=\"disk\"><driver name=\"qemu\" type=\"raw\"/>"
		   "<source protocol=\"rbd\" name=\"vms/ceph-vm-root\"><host name=\"mon1.example\" port=\"6789\"/>"
		   "</source><target dev=\"vda\" bus=\"virtio\"/></disk>\n"
		   "      <disk type=\"file\" device=\"floppy\"><target dev=\"fda\" bus=\"fdc\"/></disk>\n");
	fleet_domain_close(f);

	fleet_domain_open(f, "pooled", 5);
	fprintf(f, "      <disk type=\"volume\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\"/>"
		   "<source pool=\"fleet\" volume=\"clone-v.qcow2\"/><target dev=\"vda\" bus=\"virtio\"/></disk>\n");
	fleet_domain_close(f);

	fleet_domain_open(f, "broken", 5);
	fleet_file_disk(f, "qcow2", bad, "vda", NULL);
	fleet_domain_close(f);

	fprintf(f, "  <pool type=\"dir\">\n    <name>fleet</name>\n"
		   "    <uuid>6f8e2b7e-1c0a-4e55-9d3c-0f6a1b2c3d4e</uuid>\n"
		   "    <capacity>10737418240</capacity><allocation>0</allocation><available>10737418240</available>\n"
		   "    <source/><target><path>%s/pool</path></target>\n"
		   "    <volume type=\"file\"><name>clone-v.qcow2</name><capacity>1073741824</capacity>"
		   "<allocation>0</allocation><target><format type=\"qcow2\"/></target></volume>\n"
		   "  </pool>\n</node>\n", fl->dir);
	assert_int_equal(fclose(f), 0);
	free(mbr);
	free(gpt);
	free(bare);
	free(vmdk);
	free(clone);
	free(bad);
}

static inline void fleet_remove(struct fleet *fl)
{
	tu_sh("rm -rf '%s'", fl->dir);
	free(fl->dir);
	free(fl->uri);
	free(fl->xml);
	free(fl->template);
}

#endif
