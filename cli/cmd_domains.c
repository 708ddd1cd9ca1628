/*
 * cmd_domains.c - vm2oci domains --connect URI: the domains a hypervisor
 * knows, their state, and their disks as vm2oci would read them.
 */
#include "cli.h"
#include "virt.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char domains_usage[] =
	"usage: vm2oci domains --connect URI [--json]\n"
	"\n"
	"Lists every domain libvirt knows at URI (read-only connection; active and\n"
	"inactive), its state as virsh names it, and its disks as vm2oci would read\n"
	"them: file, block and storage-volume disks with their format and path (and\n"
	"the backing chain when the definition declares one); network disks (rbd,\n"
	"iscsi, nbd, gluster, ...) as not readable with the reason; cdrom, floppy\n"
	"and lun devices as skipped.\n"
	"\n"
	"  --connect URI  libvirt URI: qemu:///system, test:///PATH/node.xml, ...\n"
	"  --json         JSON on stdout: {\"uri\", \"domains\": [{\"name\", \"state\",\n"
	"                 \"powered_off\", \"live_reason\",\n"
	"                 \"disks\": [{\"target\", \"format\", \"path\", \"readable\", ...}]}]}\n";

/* JSON for an optional string: null when absent. */
static json_t *json_opt_name(const char *s)
{
	return s ? cli_json_name(s) : json_null();
}

static json_t *disk_json(const struct vt_disk *d)
{
	json_t *o = json_object(), *chain = json_array();
	size_t i;

	json_object_set_new(o, "target", json_opt_name(d->target));
	json_object_set_new(o, "type", json_opt_name(d->type));
	json_object_set_new(o, "format", json_opt_name(d->format));
	json_object_set_new(o, "path", json_opt_name(d->path));
	json_object_set_new(o, "readable", json_boolean(d->path != NULL));
	json_object_set_new(o, "readonly", json_boolean(d->readonly));
	if (d->unreadable)
		json_object_set_new(o, "reason", cli_json_name(d->unreadable));
	if (d->pool)
		json_object_set_new(o, "pool", cli_json_name(d->pool));
	if (d->volume)
		json_object_set_new(o, "volume", cli_json_name(d->volume));
	if (d->protocol)
		json_object_set_new(o, "protocol", cli_json_name(d->protocol));
	/* "xml": the chain below is the definition's; "image": read it from the image. */
	json_object_set_new(o, "backing_from", json_string(d->chain_declared ? "xml" : "image"));
	for (i = 0; i < d->nbacking; i++)
		json_array_append_new(chain, json_pack("{s:o, s:o, s:o}",
						       "type", json_opt_name(d->backing[i].type),
						       "path", json_opt_name(d->backing[i].path),
						       "format", json_opt_name(d->backing[i].format)));
	json_object_set_new(o, "backing", chain);
	return o;
}

static json_t *domain_json(const struct vt_domain *dom)
{
	json_t *o = json_object(), *disks = json_array(), *skipped = json_array();
	size_t i;

	cli_json_set_name(o, "name", dom->name);
	json_object_set_new(o, "uuid", json_opt_name(dom->uuid));
	json_object_set_new(o, "state", json_string(vt_state_name(dom->state)));
	json_object_set_new(o, "persistent", json_boolean(dom->persistent));
	json_object_set_new(o, "managed_save", json_boolean(dom->managed_save));
	/* Whether a conversion may read the disks: only when powered off. */
	json_object_set_new(o, "powered_off", json_boolean(!vt_domain_live_reason(dom)));
	if (vt_domain_live_reason(dom))
		json_object_set_new(o, "live_reason", json_string(vt_domain_live_reason(dom)));
	for (i = 0; i < dom->ndisks; i++)
		json_array_append_new(disks, disk_json(&dom->disks[i]));
	json_object_set_new(o, "disks", disks);
	for (i = 0; i < dom->nskipped; i++)
		json_array_append_new(skipped, json_pack("{s:o, s:o}",
							 "target", json_opt_name(dom->skipped[i].target),
							 "device", json_opt_name(dom->skipped[i].device)));
	json_object_set_new(o, "skipped", skipped);
	return o;
}

/* The SOURCE column of a disk: its path and how it got there, or why not. */
static void print_source(const struct vt_disk *d)
{
	size_t i;

	if (!d->path) {
		printf("not readable: %s\n", cli_name(d->unreadable));
		return;
	}
	printf("%s", cli_name(d->path));
	if (d->pool)
		printf(" (volume %s/%s)", cli_name(d->pool), cli_name(d->volume));
	if (d->source == VT_SOURCE_BLOCK)
		printf(" (block)");
	if (d->readonly)
		printf(" (read-only)");
	for (i = 0; i < d->nbacking; i++)
		printf(" <- %s%s%s%s", d->backing[i].path ? cli_name(d->backing[i].path) : d->backing[i].type,
		       d->backing[i].format ? " (" : "",
		       d->backing[i].format ? d->backing[i].format : "", d->backing[i].format ? ")" : "");
	printf("\n");
}

static void print_table(const struct vt_domain *doms, size_t n)
{
	int wname = 6, wstate = 5;
	size_t i, j;

	for (i = 0; i < n; i++) {
		int l = (int)strlen(cli_name(doms[i].name));

		if (l > wname)
			wname = l;
		l = (int)strlen(vt_state_name(doms[i].state)) + (doms[i].managed_save ? 8 : 0);
		if (l > wstate)
			wstate = l;
	}
	printf("%-*s  %-*s  %-6s  %-6s  %s\n", wname, "DOMAIN", wstate, "STATE", "TARGET", "FORMAT",
	       "SOURCE");
	for (i = 0; i < n; i++) {
		const struct vt_domain *dom = &doms[i];
		char state[64];
		size_t lines = dom->ndisks + dom->nskipped;

		snprintf(state, sizeof(state), "%s%s", vt_state_name(dom->state),
			 dom->managed_save ? " (saved)" : "");
		if (!lines)
			printf("%-*s  %-*s  %-6s  %-6s  %s\n", wname, cli_name(dom->name), wstate, state,
			       "-", "-", "no disk");
		/* The domain and its state on its first line only. */
		for (j = 0; j < lines; j++) {
			const char *name = j ? "" : cli_name(dom->name), *st = j ? "" : state;

			if (j < dom->ndisks) {
				const struct vt_disk *d = &dom->disks[j];

				printf("%-*s  %-*s  %-6s  %-6s  ", wname, name, wstate, st,
				       d->target ? cli_name(d->target) : "-", d->format ? cli_name(d->format) : "-");
				print_source(d);
			} else {
				const struct vt_skipped *s = &dom->skipped[j - dom->ndisks];

				printf("%-*s  %-*s  %-6s  %-6s  skipped: %s\n", wname, name, wstate, st,
				       s->target ? cli_name(s->target) : "-", "-",
				       s->device ? cli_name(s->device) : "?");
			}
		}
	}
}

int cmd_domains(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ut_err err = { { 0 } };
	struct vt_conn *conn = NULL;
	struct vt_domain *doms = NULL;
	const char *uri = NULL;
	size_t n = 0, i;
	int json = 0, c, rc = 1;

	while ((c = getopt_long(argc, argv, "hc:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': uri = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(domains_usage, stdout); return 0;
		default: return cli_usage_error("domains", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error("domains", "unexpected argument '%s'", argv[optind]);
	if (!uri)
		return cli_usage_error("domains", "--connect URI is required");
	if (vt_open(uri, &conn, &err) < 0 || vt_list_domains(conn, &doms, &n, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (json) {
		json_t *root = json_object(), *list = json_array();

		json_object_set_new(root, "uri", cli_json_name(uri));
		for (i = 0; i < n; i++)
			json_array_append_new(list, domain_json(&doms[i]));
		json_object_set_new(root, "domains", list);
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(root);
	} else {
		print_table(doms, n);
	}
	rc = fflush(stdout) == 0 ? 0 : cli_error("writing the listing: %m");
out:
	vt_domains_free(doms, n);
	vt_close(conn);
	return rc;
}
