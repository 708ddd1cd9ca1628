/*
 * virt.h - the hypervisor side: the domains libvirt knows and their disks as
 * vm2oci would read them. The only module that links libvirt (and libxml2,
 * which parses the domain XML).
 *
 * The connection is read-only: vm2oci never defines, starts or changes a
 * domain. A domain's disks come from its persistent (inactive) definition, so
 * a running domain lists the disks it boots from, not hot-plugged ones.
 *
 *   struct vt_conn *c;
 *   struct vt_domain *doms; size_t n;
 *   if (vt_open("qemu:///system", &c, &err) < 0 ||
 *       vt_list_domains(c, &doms, &n, &err) < 0) ...
 *   ... doms[i].name, doms[i].state, doms[i].disks[j].path ...
 *   vt_domains_free(doms, n); vt_close(c);
 *
 * The records are plain data owned by the array vt_list_domains returns;
 * every string in them is freed by vt_domains_free.
 */
#ifndef VM2OCI_VIRT_H
#define VM2OCI_VIRT_H

#include "util.h"

#include <stddef.h>

/* libvirt's virDomainState values, so a number read from libvirt maps 1:1. */
enum vt_state {
	VT_STATE_NOSTATE = 0,
	VT_STATE_RUNNING = 1,
	VT_STATE_BLOCKED = 2,
	VT_STATE_PAUSED = 3,
	VT_STATE_SHUTDOWN = 4, /* being shut down: still live */
	VT_STATE_SHUTOFF = 5,
	VT_STATE_CRASHED = 6,
	VT_STATE_PMSUSPENDED = 7,
};

/* The name virsh prints for a state ("running", "shut off", "pmsuspended",
 * ...), "unknown" for a value libvirt may add later. Static storage. */
const char *vt_state_name(int state);

/* How a disk's bytes are reached, from <disk type=...>. */
enum vt_source {
	VT_SOURCE_FILE,    /* <source file=...> */
	VT_SOURCE_BLOCK,   /* <source dev=...> */
	VT_SOURCE_VOLUME,  /* <source pool=... volume=...>, resolved to a path */
	VT_SOURCE_NETWORK, /* rbd, iscsi, nbd, gluster, ...: never readable */
	VT_SOURCE_OTHER,   /* dir, nvme, vhostuser, ...: never readable */
};

/* One image of a disk's backing chain, as <backingStore> declares it. */
struct vt_backing {
	char *type;   /* "file", "block", "network", ... */
	char *path;   /* NULL when not a local file or device */
	char *format; /* <format type=...>, NULL when absent */
};

struct vt_disk {
	char *target;       /* <target dev=...>: "vda", "sdb" */
	char *type;         /* <disk type=...> as written */
	enum vt_source source;
	char *path;         /* what vm2oci opens; NULL when not readable */
	char *format;       /* <driver type=...>: "qcow2", "raw"; NULL when absent */
	int readonly;       /* <readonly/> */
	char *pool, *volume; /* VT_SOURCE_VOLUME: the names as written */
	char *protocol;     /* VT_SOURCE_NETWORK: "rbd", "iscsi", ... */
	char *unreadable;   /* why vm2oci cannot read it (one line); NULL when path is set */
	/* The chain below the top image when the definition declares one
	 * (<backingStore> elements, outermost first); chain_declared = 0 means
	 * the XML says nothing and the image's own header names its backing. */
	int chain_declared;
	struct vt_backing *backing;
	size_t nbacking;
};

/* A <disk> that is not a disk (cdrom, floppy, lun): named so a caller can
 * say what it left out. */
struct vt_skipped {
	char *target;
	char *device;
};

struct vt_domain {
	char *name;
	char *uuid;         /* "xxxxxxxx-xxxx-..." */
	int state;          /* enum vt_state */
	int persistent;     /* defined, not only running */
	int managed_save;   /* shut off with a saved memory image: resuming it expects the disks as they are */
	struct vt_disk *disks;
	size_t ndisks;
	struct vt_skipped *skipped;
	size_t nskipped;
};

/* Why a domain's disks are not a consistent, powered-off state (NULL when
 * they are: shut off without a saved memory image). One line, static
 * storage: "running: a live disk is not consistent", ... */
const char *vt_domain_live_reason(const struct vt_domain *d);

struct vt_conn;

/* Opens uri read-only ("qemu:///system", "test:///path/node.xml"). On failure
 * err says the URI and libvirt's reason. libvirt prints nothing itself. */
int vt_open(const char *uri, struct vt_conn **out, struct ut_err *err);
void vt_close(struct vt_conn *c); /* NULL is fine */

/*
 * Every domain the connection knows, active and inactive, sorted by name,
 * with its state and its disks (see struct vt_disk). *out is an array of *n
 * records (NULL when 0) freed with vt_domains_free.
 */
int vt_list_domains(struct vt_conn *c, struct vt_domain **out, size_t *n, struct ut_err *err);
void vt_domains_free(struct vt_domain *doms, size_t n);

/*
 * The disks of one domain definition (a <domain> document of len bytes) into
 * d's disks and skipped lists. Volumes are resolved through c; with c NULL a
 * volume disk is listed as not readable. Bounded: documents over 16 MiB,
 * more than 1024 disks or backing chains deeper than 64 are refused.
 * Fails (err: one line) only on a document that is not a domain.
 */
int vt_parse_domain_xml(struct vt_conn *c, const char *xml, size_t len, struct vt_domain *d,
			struct ut_err *err);

#endif
