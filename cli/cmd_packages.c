/*
 * cmd_packages.c - vm2oci packages DISK: the guest's installed packages,
 * read from its own database on the disk (nothing from the guest is run),
 * optionally against a base and reduced to the dependency roots.
 */
#include "cli.h"
#include "diskread.h"
#include "packages.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char packages_usage[] =
	"usage: vm2oci packages DISK [--base B] [--roots] [--json] [--format F]\n"
	"\n"
	"Lists the packages installed on DISK, read from the guest's own database\n"
	"(dpkg status, the rpmdb in BerkeleyDB, sqlite or ndb form, apk installed,\n"
	"pacman local): name, version as the package manager prints it, arch.\n"
	"\n"
	"  --base B    only what DISK has beyond base B (disk:FILE, rootfs:DIR|TAR,\n"
	"              oci:DIR[:TAG], docker-archive:FILE): added, upgraded,\n"
	"              downgraded, arch-changed, and the base's packages removed\n"
	"  --roots     reduce to the dependency roots: the packages whose\n"
	"              installation brings back all the others (cycles handled as\n"
	"              strongly connected components); lists the cycles and where\n"
	"              the package manager's manual marks disagree\n"
	"  --json      JSON on stdout: {\"packages\": [{\"name\", \"version\", \"arch\", ...}]}\n"
	"  --format F  spdx-json or cyclonedx-json: every package of DISK as a bill\n"
	"              of materials on stdout (SPDX 2.3 / CycloneDX 1.5: name,\n"
	"              version, arch, supplier, source package, purl, licenses,\n"
	"              dependencies, the OS; not with --base, --roots, --json);\n"
	"              any other F is DISK's format: raw, qcow2, vmdk, vhdx, vhd,\n"
	"              vdi or qed\n"
	CLI_DISK_POLICY_USAGE;

static json_t *pkg_json(const struct pkg *p)
{
	json_t *o = json_object();

	/* The database's strings are the guest's bytes: never let one drop the entry. */
	cli_json_set_name(o, "name", p->name);
	cli_json_set_name(o, "version", p->display_version ? p->display_version : p->version);
	cli_json_set_name(o, "arch", p->arch ? p->arch : "");
	/* dpkg-query's ${binary:Package}, where it is not the bare name. */
	if (p->display_name && strcmp(p->display_name, p->name))
		cli_json_set_name(o, "qualified_name", p->display_name);
	if (p->is_key)
		json_object_set_new(o, "kind", json_string("gpg-pubkey"));

	if (p->epoch >= 0)
		json_object_set_new(o, "epoch", json_integer(p->epoch));
	if (p->manual >= 0)
		json_object_set_new(o, "manual", json_boolean(p->manual));
	return o;
}

static void print_pkg(const struct pkg *p, const char *change)
{
	if (change)
		printf("%-12s ", change);
	printf("%s\t%s\t%s\n", cli_name(p->name),
	       cli_name(p->display_version ? p->display_version : p->version),
	       cli_name(p->arch ? p->arch : ""));
}

static json_t *names_json(const struct pkg_db *db, const size_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, cli_json_name(db->v[v[i]].name));
	return a;
}

/* What the VM changed against the base, package by package. */
static json_t *changes_json(const struct pkg_delta *deltas, size_t n)
{
	json_t *ch = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s}", "change", pkg_change_name(deltas[i].change));
		const struct pkg *p = deltas[i].vm ? deltas[i].vm : deltas[i].base;

		cli_json_set_name(o, "name", p->name);
		if (p->is_key)
			json_object_set_new(o, "kind", json_string("gpg-pubkey"));
		if (deltas[i].vm)
			cli_json_set_name(o, "version", deltas[i].vm->display_version);
		if (deltas[i].base)
			cli_json_set_name(o, "base_version", deltas[i].base->display_version);
		json_array_append_new(ch, o);
	}
	return ch;
}

/* --roots in JSON: roots, dependency cycles, how roots and the package
 * manager's "manually installed" marks disagree. */
static void roots_json(json_t *root, const struct pkg_db *db, const struct pkg_graph *g,
		       const size_t *roots, size_t nroots)
{
	const size_t *cyc, *members;
	size_t ncyc = pkg_graph_cycles(g, &cyc), *mnr = NULL, *rnm = NULL, n1 = 0, n2 = 0, i;
	struct ut_err err = { { 0 } };
	json_t *jc = json_array();

	for (i = 0; i < ncyc; i++) {
		size_t nm = pkg_graph_component(g, cyc[i], &members);

		json_array_append_new(jc, names_json(db, members, nm));
	}
	json_object_set_new(root, "roots", names_json(db, roots, nroots));
	json_object_set_new(root, "cycles", jc);
	if (pkg_graph_manual_diff(g, &mnr, &n1, &rnm, &n2, &err) == 0) {
		json_object_set_new(root, "manual_not_root", names_json(db, mnr, n1));
		json_object_set_new(root, "root_not_manual", names_json(db, rnm, n2));
	}
	json_object_set_new(root, "unresolved_dependencies",
			    json_integer((json_int_t)pkg_graph_unresolved(g)));
	free(mnr);
	free(rnm);
}

static void print_roots(const struct pkg_db *db, const struct pkg_graph *g, size_t nset,
			const char *beyond, const size_t *roots, size_t nroots)
{
	const size_t *cyc, *members;
	size_t ncyc = pkg_graph_cycles(g, &cyc), i;

	printf("# %zu packages%s, %zu roots, %zu cycles\n", nset, beyond, nroots, ncyc);
	for (i = 0; i < nroots; i++)
		print_pkg(&db->v[roots[i]], NULL);
	for (i = 0; i < ncyc; i++) {
		size_t nm = pkg_graph_component(g, cyc[i], &members);

		printf("# cycle:");
		for (size_t k = 0; k < nm; k++)
			printf(" %s", cli_name(db->v[members[k]].name));
		putchar('\n');
	}
}

int cmd_packages(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "roots", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dr_disk_options dopt = { .tmpdir = cli_tmpdir() };
	struct cli_disk_policy policy = { { 0 } };
	struct ut_err err = { { 0 } };
	struct dr_disk *disk = NULL;
	struct ut_tree *vm = NULL;
	struct pkg_db *db = NULL, *bdb = NULL;
	struct pkg_graph *g = NULL;
	struct pkg_delta *deltas = NULL;
	size_t ndeltas = 0, *set = NULL, nset = 0, *roots = NULL, nroots = 0, i;
	struct cli_base base;
	const char *base_spec = NULL;
	json_t *root = NULL, *list;
	int want_roots = 0, json = 0, have_base = 0, c, rc = 1, sbom = 0;

	while ((c = getopt_long(argc, argv, "hb:f:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': base_spec = optarg; break;
		case 'r': want_roots = 1; break;
		case 'j': json = 1; break;
		case 'f':
			/* The SBOM formats share --format with the disk's: no
			 * disk format is named like one. */
			if ((sbom = pkg_sbom_format_parse(optarg)) < 0)
				sbom = 0, dopt.format = optarg;
			break;
		case 'h': fputs(packages_usage, stdout); return 0;
		default:
			if ((c = cli_disk_policy_option(&policy, c, optarg, "packages")))
				return c;
			break;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("packages", "expected one DISK");
	if (sbom && (base_spec || want_roots || json))
		return cli_usage_error("packages", "an SBOM lists every package: --base, --roots "
				       "and --json do not go with --format %s",
				       sbom == PKG_SBOM_SPDX ? "spdx-json" : "cyclonedx-json");
	cli_disk_policy_apply(&policy, &dopt);
	if (dr_disk_open(argv[optind], &dopt, &disk, &err) < 0 ||
	    dr_disk_tree(disk, 0, &vm, &err) < 0 ||
	    cli_tree_pkg_db(vm, argv[optind], &db, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (sbom) {
		struct ut_buf b;

		ut_buf_init(&b, 0);
		if (cli_sbom_write(db, disk, ut_path_base(argv[optind]), sbom, NULL, &b, &err) < 0) {
			ut_buf_release(&b);
			cli_error("%s: %s", argv[optind], err.msg);
			goto out;
		}
		rc = fwrite(b.data, 1, b.len, stdout) == b.len && fflush(stdout) == 0 ? 0 : 1;
		ut_buf_release(&b);
		if (rc)
			cli_error("stdout: write failed");
		goto out;
	}
	if (base_spec) {
		have_base = 1;
		if (cli_base_open(base_spec, NULL, &dopt, &base, &err) < 0 ||
		    cli_base_pkg_db(&base, &bdb, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		if (bdb && strcmp(bdb->format, db->format)) {
			cli_error("%s: the base's packages are %s, the disk's %s", base_spec, bdb->format,
				  db->format);
			goto out;
		}
		if (bdb && pkg_db_subtract(db, bdb, &deltas, &ndeltas, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
	}
	/* The set the listing is about: every package, or what the VM adds. */
	if (pkg_db_added(db, bdb, &set, &nset, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (want_roots) {
		if (pkg_graph_build(db, &g, &err) < 0) {
			cli_error("%s: %s", argv[optind], err.msg);
			goto out;
		}
		nroots = pkg_graph_subset_roots(g, set, nset, &roots);
	}

	if (json) {
		root = json_pack("{s:s, s:s, s:I}", "format", db->format, "database",
				 db->db_path ? db->db_path : "", "installed", (json_int_t)db->n);
		list = json_array();
		for (i = 0; i < nset; i++)
			json_array_append_new(list, pkg_json(&db->v[set[i]]));
		json_object_set_new(root, "packages", list);
		if (base_spec) {
			json_object_set_new(root, "base", json_string(base_spec));
			json_object_set_new(root, "changes", changes_json(deltas, ndeltas));
		}
		if (want_roots)
			roots_json(root, db, g, roots, nroots);
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (want_roots) {
		print_roots(db, g, nset, base_spec ? " beyond the base" : "", roots, nroots);
	} else if (base_spec && bdb) {
		for (i = 0; i < ndeltas; i++)
			print_pkg(deltas[i].vm ? deltas[i].vm : deltas[i].base,
				  pkg_change_name(deltas[i].change));
	} else {
		for (i = 0; i < nset; i++)
			print_pkg(&db->v[set[i]], NULL);
	}
	rc = 0;
out:
	json_decref(root);
	free(roots);
	free(set);
	free(deltas);
	pkg_graph_free(g);
	pkg_db_free(bdb);
	pkg_db_free(db);
	if (have_base)
		cli_base_release(&base);
	ut_tree_free(vm);
	dr_disk_free(disk);
	return rc;
}
