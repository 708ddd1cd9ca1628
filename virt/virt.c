/*
 * virt.c - the read-only libvirt connection: domains, states, volumes.
 */
#include "virt.h"
#include "virt_internal.h"

#include <libvirt/libvirt.h>
#include <libxml/xmlerror.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vt_conn {
	virConnectPtr conn;
	char *uri;
};

static const char *const state_names[] = {
	[VT_STATE_NOSTATE] = "no state",
	[VT_STATE_RUNNING] = "running",
	[VT_STATE_BLOCKED] = "idle",
	[VT_STATE_PAUSED] = "paused",
	[VT_STATE_SHUTDOWN] = "in shutdown",
	[VT_STATE_SHUTOFF] = "shut off",
	[VT_STATE_CRASHED] = "crashed",
	[VT_STATE_PMSUSPENDED] = "pmsuspended",
};

const char *vt_state_name(int state)
{
	if (state < 0 || (size_t)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[state];
}

const char *vt_domain_live_reason(const struct vt_domain *d)
{
	switch (d->state) {
	case VT_STATE_SHUTOFF:
		if (d->managed_save)
			return "shut off with a managed save image: resuming it expects the disks as they are";
		return NULL;
	case VT_STATE_RUNNING:
	case VT_STATE_BLOCKED:
		return "running: a live disk is not consistent";
	case VT_STATE_PAUSED:
		return "paused: its disks hold unflushed guest state";
	case VT_STATE_PMSUSPENDED:
		return "suspended by the guest: its disks hold unflushed guest state";
	case VT_STATE_SHUTDOWN:
		return "shutting down: a live disk is not consistent";
	case VT_STATE_CRASHED:
		return "crashed: its process may still hold the disks";
	default:
		return "state unknown: not known to be powered off";
	}
}

/* libvirt's reason for the last failure on this thread, on one line. */
static const char *libvirt_reason(void)
{
	static __thread char msg[512];
	const char *m = virGetLastErrorMessage();
	char *p;

	snprintf(msg, sizeof(msg), "%s", m && *m ? m : "unknown libvirt error");
	for (p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return msg;
}

/* The default handler prints every error on stderr; a library does not. The
 * errors stay readable through virGetLastError. */
static void quiet_errors(void *data, virErrorPtr e)
{
}

/* libvirt parses XML (the test driver's node file) with libxml2, whose
 * default handler prints "I/O warning" lines; libvirt's own error says it. */
static void quiet_xml(void *ctx, const char *fmt, ...)
{
}

int vt_open(const char *uri, struct vt_conn **out, struct ut_err *err)
{
	struct vt_conn *c;

	*out = NULL;
	virSetErrorFunc(NULL, quiet_errors);
	xmlSetGenericErrorFunc(NULL, quiet_xml);
	if (virInitialize() < 0)
		return ut_err_set(err, "%s: libvirt does not initialise: %s", uri, libvirt_reason());
	c = ut_calloc(1, sizeof(*c));
	c->conn = virConnectOpenReadOnly(uri);
	if (!c->conn) {
		ut_err_set(err, "%s: cannot connect: %s", uri, libvirt_reason());
		free(c);
		return -1;
	}
	c->uri = ut_strdup(uri);
	*out = c;
	return 0;
}

void vt_close(struct vt_conn *c)
{
	if (!c)
		return;
	virConnectClose(c->conn);
	free(c->uri);
	free(c);
}

void vt_resolve_volume(struct vt_conn *c, struct vt_disk *d)
{
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr vol = NULL;
	virStorageVolInfo info;
	char *path = NULL;

	if (!c) {
		d->unreadable = ut_asprintf("volume %s in pool %s: no libvirt connection to resolve it",
					    d->volume, d->pool);
		return;
	}
	pool = virStoragePoolLookupByName(c->conn, d->pool);
	if (!pool) {
		d->unreadable = ut_asprintf("pool %s: %s", d->pool, libvirt_reason());
		goto out;
	}
	vol = virStorageVolLookupByName(pool, d->volume);
	if (!vol) {
		d->unreadable = ut_asprintf("volume %s in pool %s: %s", d->volume, d->pool,
					    libvirt_reason());
		goto out;
	}
	/* rbd, gluster and sheepdog pools hand out network volumes whose "path"
	 * is a URL, not a file. */
	if (virStorageVolGetInfo(vol, &info) == 0 && info.type != VIR_STORAGE_VOL_FILE &&
	    info.type != VIR_STORAGE_VOL_BLOCK) {
		d->unreadable = ut_asprintf("volume %s in pool %s is not a local file or block device",
					    d->volume, d->pool);
		goto out;
	}
	path = virStorageVolGetPath(vol);
	if (!path) {
		d->unreadable = ut_asprintf("volume %s in pool %s: no path: %s", d->volume, d->pool,
					    libvirt_reason());
		goto out;
	}
	d->path = ut_strdup(path);
out:
	free(path);
	if (vol)
		virStorageVolFree(vol);
	if (pool)
		virStoragePoolFree(pool);
}

static void domain_release(struct vt_domain *d)
{
	size_t i;

	free(d->name);
	free(d->uuid);
	for (i = 0; i < d->ndisks; i++)
		vt_disk_release(&d->disks[i]);
	free(d->disks);
	for (i = 0; i < d->nskipped; i++) {
		free(d->skipped[i].target);
		free(d->skipped[i].device);
	}
	free(d->skipped);
	memset(d, 0, sizeof(*d));
}

void vt_domains_free(struct vt_domain *doms, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		domain_release(&doms[i]);
	free(doms);
}

/* 0: read; 1: the domain is gone (undefined meanwhile); -1: error. */
static int domain_read(struct vt_conn *c, virDomainPtr dom, struct vt_domain *d,
		       struct ut_err *err)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	const char *name = virDomainGetName(dom);
	int state, reason, rc = -1;
	char *xml = NULL;

	d->name = ut_strdup(name ? name : "");
	if (virDomainGetUUIDString(dom, uuid) == 0)
		d->uuid = ut_strdup(uuid);
	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		/* Undefined between the listing and now: not a domain any more. */
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
			return 1;
		return ut_err_set(err, "%s: domain %s: no state: %s", c->uri, d->name, libvirt_reason());
	}
	d->state = state;
	d->persistent = virDomainIsPersistent(dom) == 1;
	d->managed_save = virDomainHasManagedSaveImage(dom, 0) == 1;
	/* The persistent definition: the disks the domain boots from. */
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
		return 1;
	if (!xml)
		return ut_err_set(err, "%s: domain %s: no definition: %s", c->uri, d->name,
				  libvirt_reason());
	if (vt_parse_domain_xml(c, xml, strlen(xml), d, err) < 0) {
		ut_err_prefix(err, "%s: domain %s: ", c->uri, d->name);
		goto out;
	}
	rc = 0;
out:
	free(xml);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct vt_domain *)a)->name, ((const struct vt_domain *)b)->name);
}

int vt_list_domains(struct vt_conn *c, struct vt_domain **out, size_t *n, struct ut_err *err)
{
	virDomainPtr *doms = NULL;
	struct vt_domain *v = NULL;
	size_t nread = 0;
	int count, i, rc = -1;

	*out = NULL;
	*n = 0;
	/* flags 0: active and inactive, persistent and transient. */
	count = virConnectListAllDomains(c->conn, &doms, 0);
	if (count < 0)
		return ut_err_set(err, "%s: cannot list domains: %s", c->uri, libvirt_reason());
	v = ut_calloc(count ? (size_t)count : 1, sizeof(*v));
	for (i = 0; i < count; i++) {
		int r = domain_read(c, doms[i], &v[nread], err);

		if (r < 0) {
			nread++;
			goto out;
		}
		if (r > 0)
			domain_release(&v[nread]);
		else
			nread++;
	}
	qsort(v, nread, sizeof(*v), by_name);
	*out = nread ? v : NULL;
	if (!nread)
		free(v);
	*n = nread;
	v = NULL;
	rc = 0;
out:
	if (v)
		vt_domains_free(v, nread);
	for (i = 0; i < count; i++)
		virDomainFree(doms[i]);
	free(doms);
	return rc;
}
