/*
 * main.c - the vm2oci command: a table of subcommands, one file each.
 */
#include "cli.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

struct cli_command {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
};

static const struct cli_command commands[] = {
	{ "inspect", cmd_inspect, "show partitions, filesystems, mount plan and OS of a disk" },
	{ "convert", cmd_convert, "turn a disk into an OCI image (on a base image)" },
	{ "diff", cmd_diff, "what a disk has beyond a base: counts, bytes, layer sizes" },
	{ "packages", cmd_packages, "installed packages read from the disk, their roots, against a base" },
	{ "compare", cmd_compare, "file-level layer vs block-level changes and deltas, side by side" },
	{ "domains", cmd_domains, "the domains a libvirt hypervisor knows, their state and disks" },
	{ "batch", cmd_batch, "a hypervisor's shut-off domains into one shared OCI layout" },
	{ "push", cmd_push, "push an OCI layout's image to a registry (docker://HOST/REPO:TAG)" },
	{ "verify", cmd_verify, "prove that an image's layers give back the disk's tree" },
	{ "gc", cmd_gc, "remove a layout's unreferenced blobs and leftover temporary files" },
	{ NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	const struct cli_command *c;

	fprintf(f, "usage: vm2oci <command> [options]\n\n"
		   "Turns powered-off virtual machine disks (qcow2, vmdk, vhdx, vhd, vdi, qed, raw) into OCI images,\n"
		   "reading them read-only and running nothing from the guest.\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nRun 'vm2oci <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vm2oci %s\n", VM2OCI_VERSION);
		return 0;
	}
	cli_signals_init();
	for (c = commands; c->name; c++)
		if (!strcmp(c->name, argv[1]))
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "vm2oci: '%s' is not a command; see 'vm2oci --help'\n", argv[1]);
	return 2;
}
