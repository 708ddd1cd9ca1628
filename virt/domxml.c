/*
 * domxml.c - a domain definition's disks, read from its XML with libxml2.
 *
 * Only what vm2oci needs is looked at: <devices><disk> with its type, device,
 * driver, source, target, readonly flag and <backingStore> chain. The
 * document comes from libvirt, which validated it, but it is still treated
 * as untrusted input: size, disk count and chain depth are bounded, and no
 * entity is expanded nor anything fetched from the network.
 */
#include "virt.h"
#include "virt_internal.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VT_XML_MAX (16u << 20)
#define VT_DISKS_MAX 1024
#define VT_CHAIN_MAX 64

static int is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
	const xmlNode *n;

	for (n = parent->children; n; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

/* An attribute as a heap string (the caller frees it), NULL when absent. */
static char *attr(const xmlNode *n, const char *name)
{
	xmlChar *v;
	char *s;

	if (!n)
		return NULL;
	v = xmlGetProp(n, (const xmlChar *)name);
	if (!v)
		return NULL;
	s = ut_strdup((const char *)v);
	xmlFree(v);
	return s;
}

/* The local path a <source> names for a disk or backing store of this type. */
static char *source_path(const char *type, const xmlNode *source)
{
	if (!type || !strcmp(type, "file"))
		return attr(source, "file");
	if (!strcmp(type, "block"))
		return attr(source, "dev");
	return NULL;
}

static enum vt_source source_kind(const char *type)
{
	if (!type || !strcmp(type, "file"))
		return VT_SOURCE_FILE;
	if (!strcmp(type, "block"))
		return VT_SOURCE_BLOCK;
	if (!strcmp(type, "volume"))
		return VT_SOURCE_VOLUME;
	if (!strcmp(type, "network"))
		return VT_SOURCE_NETWORK;
	return VT_SOURCE_OTHER;
}

/* "rbd pool/image on mon1:6789": what names a network disk to its operator. */
static char *network_reason(const char *protocol, const xmlNode *source)
{
	char *name = attr(source, "name");
	const xmlNode *host = source ? child(source, "host") : NULL;
	char *hname = attr(host, "name"), *port = attr(host, "port");
	char *reason;

	reason = ut_asprintf("network disk (%s%s%s%s%s%s%s): vm2oci reads local files and block devices only",
			     protocol ? protocol : "unknown protocol", name ? " " : "", name ? name : "",
			     hname ? " on " : "", hname ? hname : "", port ? ":" : "", port ? port : "");
	free(name);
	free(hname);
	free(port);
	return reason;
}

static int parse_chain(const xmlNode *disk, struct vt_disk *d, struct ut_err *err)
{
	const xmlNode *bs = child(disk, "backingStore");
	size_t alloc = 0;

	d->chain_declared = bs != NULL;
	/* An empty <backingStore/> ends the chain: the image has no backing. */
	while (bs && bs->children) {
		struct vt_backing *b;

		if (d->nbacking == VT_CHAIN_MAX)
			return ut_err_set(err, "disk %s: backing chain deeper than %d images",
					  d->target ? d->target : "?", VT_CHAIN_MAX);
		if (d->nbacking == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			d->backing = ut_realloc(d->backing, alloc * sizeof(*d->backing));
		}
		b = &d->backing[d->nbacking++];
		memset(b, 0, sizeof(*b));
		b->type = attr(bs, "type");
		b->path = source_path(b->type, child(bs, "source"));
		b->format = attr(child(bs, "format"), "type");
		bs = child(bs, "backingStore");
	}
	return 0;
}

static int parse_disk(struct vt_conn *c, const xmlNode *n, struct vt_disk *d, struct ut_err *err)
{
	const xmlNode *source = child(n, "source");

	memset(d, 0, sizeof(*d));
	d->type = attr(n, "type");
	d->source = source_kind(d->type);
	d->target = attr(child(n, "target"), "dev");
	d->format = attr(child(n, "driver"), "type");
	d->readonly = child(n, "readonly") != NULL;

	switch (d->source) {
	case VT_SOURCE_FILE:
	case VT_SOURCE_BLOCK:
		d->path = source_path(d->type, source);
		if (!d->path)
			d->unreadable = ut_strdup("no source: the drive is empty");
		break;
	case VT_SOURCE_VOLUME:
		d->pool = attr(source, "pool");
		d->volume = attr(source, "volume");
		if (!d->pool || !d->volume)
			d->unreadable = ut_strdup("volume disk without pool or volume name");
		else
			vt_resolve_volume(c, d);
		break;
	case VT_SOURCE_NETWORK:
		d->protocol = attr(source, "protocol");
		d->unreadable = network_reason(d->protocol, source);
		break;
	case VT_SOURCE_OTHER:
		d->unreadable = ut_asprintf("disk type '%s': vm2oci reads local files and block devices only",
					    d->type);
		break;
	}
	return parse_chain(n, d, err);
}

void vt_disk_release(struct vt_disk *d)
{
	size_t i;

	free(d->target);
	free(d->type);
	free(d->path);
	free(d->format);
	free(d->pool);
	free(d->volume);
	free(d->protocol);
	free(d->unreadable);
	for (i = 0; i < d->nbacking; i++) {
		free(d->backing[i].type);
		free(d->backing[i].path);
		free(d->backing[i].format);
	}
	free(d->backing);
	memset(d, 0, sizeof(*d));
}

static int parse_devices(struct vt_conn *c, const xmlNode *devices, struct vt_domain *d,
			 struct ut_err *err)
{
	const xmlNode *n;
	size_t alloc = 0, salloc = 0;

	for (n = devices->children; n; n = n->next) {
		char *device;

		if (!is_elem(n, "disk"))
			continue;
		if (d->ndisks + d->nskipped == VT_DISKS_MAX)
			return ut_err_set(err, "more than %d disks", VT_DISKS_MAX);
		device = attr(n, "device");
		if (device && strcmp(device, "disk")) {
			/* cdrom, floppy, lun: not the guest's system disks. */
			if (d->nskipped == salloc) {
				salloc = salloc ? salloc * 2 : 4;
				d->skipped = ut_realloc(d->skipped, salloc * sizeof(*d->skipped));
			}
			d->skipped[d->nskipped].target = attr(child(n, "target"), "dev");
			d->skipped[d->nskipped++].device = device;
			continue;
		}
		free(device);
		if (d->ndisks == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			d->disks = ut_realloc(d->disks, alloc * sizeof(*d->disks));
		}
		if (parse_disk(c, n, &d->disks[d->ndisks++], err) < 0)
			return -1;
	}
	return 0;
}

int vt_parse_domain_xml(struct vt_conn *c, const char *xml, size_t len, struct vt_domain *d,
			struct ut_err *err)
{
	xmlDoc *doc = NULL;
	const xmlNode *root, *devices;
	int rc = -1;

	if (len > VT_XML_MAX)
		return ut_err_set(err, "domain XML of %zu bytes (more than %u)", len, VT_XML_MAX);
	/* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no network. */
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		char msg[256];
		size_t l;

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "unknown error");
		l = strlen(msg);
		while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
			msg[--l] = '\0';
		return ut_err_set(err, "domain XML is not well-formed: line %d: %s", e ? e->line : 0, msg);
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, "domain")) {
		ut_err_set(err, "not a domain definition: the root element is <%s>",
			   root ? (const char *)root->name : "nothing");
		goto out;
	}
	devices = child(root, "devices");
	if (devices && parse_devices(c, devices, d, err) < 0)
		goto out;
	rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}
