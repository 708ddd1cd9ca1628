/*
 * cmd_convert.c - vm2oci convert DISK: the main job.
 *
 *   open the disk -> walk its tree -> read the base's tree -> diff ->
 *   write the diff layer (and the base's layers, reused by digest) ->
 *   config, manifest, tag -> index.json last.
 */
#include "cli.h"
#include "diskread.h"
#include "fsdiff.h"
#include "image.h"
#include "packages.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char convert_usage[] =
	"usage: vm2oci convert DISK -o OUT [options]\n"
	"\n"
	"Converts a powered-off VM disk into an OCI image: the base image's own\n"
	"layers (reused by digest), then one layer holding exactly what the VM has\n"
	"beyond the base, whiteouts included. The disk is opened read-only and\n"
	"nothing from the guest is run. OUT is written atomically: a new layout is\n"
	"built under a temporary name and renamed; an existing layout gets the new\n"
	"tag, its index.json replaced last.\n"
	"\n"
	"  -o, --output OUT       OCI image layout directory (or a docker-archive\n"
	"                         file with --output-format docker-archive)\n"
	"  -b, --base B           what to build on (default: scratch):\n"
	"                           scratch              the whole tree in one layer\n"
	"                           oci:DIR[:TAG]        an OCI image layout\n"
	"                           docker-archive:FILE  a `docker save` tar\n"
	"                           rootfs:FILE.tar|DIR  a root filesystem\n"
	"                           disk:FILE            a template VM disk\n"
	"  -t, --tag TAG          tag in the layout (default: latest)\n"
	"  -c, --compress C       zstd (default), gzip or none\n"
	"      --level N          compression level. zstd 1-19 (default 3). gzip 1-9:\n"
	"                         1-3 ISA-L igzip, about 0.5-1 GB/s a core (default 1);\n"
	"                         4-9 zlib, about 40 MB/s a core at 6 and 9-10%\n"
	"                         smaller. gzip output is one member whatever --threads\n"
	"      --threads N        compression threads (default: all cores)\n"
	"  -f, --format F         the disk's format, skipping the probe: raw, qcow2, vmdk,\n"
	"                         vhdx, vhd (vpc), vdi, qed\n"
	"      --base-format F    the same for a disk: base\n"
	"      --no-replay        read a filesystem whose journal needs recovery (the VM\n"
	"                         was not shut down cleanly) as it is on the disk, with\n"
	"                         a warning, instead of replaying the journal in memory\n"
	"      --output-format F  oci (default) or docker-archive\n"
	"      --trust-mtime      same size and mtime means same content (rsync's\n"
	"                         quick check) instead of comparing digests\n"
	"      --mask-xattr NAME  ignore this xattr when comparing (repeatable),\n"
	"                         e.g. security.selinux\n"
	"      --packages-layer   put the files of the VM's packages that the base\n"
	"                         lacks in a layer of their own, between the base and\n"
	"                         the diff (only files still matching the digest the\n"
	"                         package database recorded; the rest stays in the\n"
	"                         diff), so VMs with one package set share it\n"
	"      --dockerfile FILE  also write a Dockerfile that rebuilds the image\n"
	"                         online (FROM the base, install the package roots at\n"
	"                         their versions, remove what the VM deleted, ADD the\n"
	"                         diff as FILE's sibling vm2oci-diff.tar)\n"
	"      --skip-mount PATH  leave out the guest's fstab mount at PATH (repeatable);\n"
	"                         without it a local mount that cannot be read fails\n"
	"                         the conversion. The image's config lists what was\n"
	"                         left out in the label org.vm2oci.skipped-mounts\n"
	"      --rename-whiteout-names\n"
	"                         a guest file whose name begins with \".wh.\" (which\n"
	"                         OCI reads as a deletion) is refused unless this is\n"
	"                         given; then it is stored as \".vm2oci-esc..wh.NAME\"\n"
	"                         and the label org.vm2oci.renamed-whiteout-names maps\n"
	"                         each renamed path to its new name\n"
	"      --json             print a summary as JSON on stdout\n"
	"  -q, --quiet            no progress on stderr\n"
	CLI_DISK_POLICY_USAGE;

struct convert_opts {
	const char *disk, *out, *base, *tag, *format, *base_format;
	const char *dockerfile;
	int docker_archive, json, quiet, packages_layer, no_replay, rename_whiteouts;
	struct img_layer_options layer;
	struct fsd_options diff;
	const char **masks;
	size_t nmasks;
	struct cli_skip skip;
	struct dr_disk_options dopt;
	struct cli_disk_policy policy;
};

struct phase_times {
	double open, walk, base, diff, layers, commit, total;
};

static void str_push(char ***v, size_t *n, const char *s)
{
	*v = ut_realloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = ut_strdup(s);
}

static void history_push(struct img_config *c, const char *created_by, const char *comment)
{
	struct img_history *h;

	c->history = ut_realloc(c->history, (c->nhistory + 1) * sizeof(*c->history));
	h = &c->history[c->nhistory++];
	h->created_by = ut_strdup(created_by);
	h->comment = comment ? ut_strdup(comment) : NULL;
	h->empty_layer = 0;
}

/* The image's command: the base's when it has one, else the guest's init,
 * which is what starts the VM's services. The enabled systemd units are
 * recorded as a label so that a user can pick one instead. */
static void guest_defaults(struct img_config *c, struct ut_tree *vm, const struct dr_os_info *os)
{
	static const char *const inits[] = { "sbin/init", "lib/systemd/systemd", "bin/sh" };
	struct ut_buf services;
	const char *wants = "etc/systemd/system/multi-user.target.wants";
	size_t i, start;

	if (!c->ncmd && !c->nentrypoint) {
		for (i = 0; i < sizeof(inits) / sizeof(inits[0]); i++) {
			if (ut_tree_find(vm, inits[i])) {
				char *cmd = ut_asprintf("/%s", inits[i]);

				str_push(&c->cmd, &c->ncmd, cmd);
				free(cmd);
				break;
			}
		}
	}
	ut_buf_init(&services, 0);
	start = ut_tree_lower_bound(vm, wants);
	for (i = start; i < vm->n; i++) {
		const char *p = vm->v[i].path;

		if (!ut_path_is_under(p, wants)) {
			if (strncmp(p, wants, strlen(wants)))
				break;
			continue;
		}
		if (ut_path_parent_len(p) != strlen(wants))
			continue;
		ut_buf_addf(&services, NULL, "%s%s", services.len ? "," : "", ut_path_base(p));
	}
	if (services.len) {
		char *kv = ut_asprintf("org.vm2oci.services=%s", (char *)services.data);

		str_push(&c->labels_kv, &c->nlabels, kv);
		free(kv);
	}
	ut_buf_release(&services);
	if (os->hostname[0]) {
		char *kv = ut_asprintf("org.vm2oci.source.hostname=%s", os->hostname);

		str_push(&c->labels_kv, &c->nlabels, kv);
		free(kv);
	}
	if (os->distro[0]) {
		char *kv = ut_asprintf("org.vm2oci.source.os=%s %s", os->distro, os->version);

		str_push(&c->labels_kv, &c->nlabels, kv);
		free(kv);
	}
}

static json_t *layer_json(const char *role, const struct img_layer_result *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "role", role, "digest",
			 r->blob.digest, "diff_id", r->diff_id, "media_type", r->blob.media_type,
			 "size", (json_int_t)r->blob.size, "tar_bytes", (json_int_t)r->tar_bytes,
			 "entries", (json_int_t)r->entries, "content_bytes",
			 (json_int_t)r->content_bytes);
}

static json_t *stats_json(const struct fsd_stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "added", (json_int_t)s->added, "added_bytes", (json_int_t)s->added_bytes,
			 "modified", (json_int_t)s->modified, "modified_bytes",
			 (json_int_t)s->modified_bytes, "metadata_only", (json_int_t)s->metadata,
			 "deleted", (json_int_t)s->deleted, "deleted_bytes",
			 (json_int_t)s->deleted_bytes, "type_changed", (json_int_t)s->type_changed,
			 "hardlinks_carried", (json_int_t)s->hardlinks, "moved",
			 (json_int_t)s->moved, "moved_bytes", (json_int_t)s->moved_bytes,
			 "digested", (json_int_t)s->digested, "digested_bytes",
			 (json_int_t)s->digested_bytes);
}

static uint64_t content_bytes(const struct fsd_result *r)
{
	const struct fsd_stats *s = fsd_result_stats(r);

	return s->added_bytes + s->modified_bytes;
}

/* The research log's table: packages in the VM, after filtering, the
 * packages layer, and the diff with and without it. */
static json_t *packages_json(const struct pkg_db *vdb, const struct cli_pkglayer_stats *ps,
			     size_t nroots, const struct img_layer_result *player,
			     const struct img_layer_result *dlayer, const struct fsd_result *with,
			     const struct fsd_result *without)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "format", vdb->format,
			      "in_vm", (json_int_t)vdb->n, "beyond_base", (json_int_t)ps->packages,
			      "roots", (json_int_t)nroots, "files_matching", (json_int_t)ps->files,
			      "files_changed_since_install", (json_int_t)ps->files_changed,
			      "files_without_digest", (json_int_t)ps->files_unverifiable);

	if (player)
		json_object_set_new(o, "layer", json_pack("{s:I, s:I, s:I}", "size",
			(json_int_t)player->blob.size, "tar_bytes", (json_int_t)player->tar_bytes,
			"entries", (json_int_t)player->entries));
	if (with && without)
		json_object_set_new(o, "diff_content_bytes", json_pack("{s:I, s:I, s:I}",
			"with_packages_layer", (json_int_t)content_bytes(with),
			"without_packages_layer", (json_int_t)content_bytes(without),
			"diff_layer_size", (json_int_t)dlayer->blob.size));
	return o;
}

/* Prints the disk's warnings from index from on; returns how many it has. */
static size_t print_disk_warnings(struct dr_disk *disk, const struct convert_opts *o, size_t from)
{
	size_t nw, k;
	const char *const *w = dr_disk_warnings(disk, &nw);

	for (k = from; k < nw && !o->quiet; k++)
		fprintf(stderr, "vm2oci: warning: %s: %s\n", cli_name(o->disk), cli_name(w[k]));
	return nw;
}

static int run_convert(struct convert_opts *o, struct cli_progress *prog)
{
	struct ut_err err = { { 0 } };
	struct dr_disk_options dopt = o->dopt;
	struct dr_disk_options bopt;
	struct dr_disk *disk = NULL;
	struct ut_tree *vm = NULL;
	struct cli_base base;
	struct fsd_result *diff = NULL;
	struct fsd_layer_item *items = NULL;
	size_t nitems = 0;
	struct img_layout *layout = NULL;
	struct img_config config = { 0 };
	struct img_descriptor *layers = NULL, manifest;
	struct img_layer_result *results = NULL;
	const char **roles = NULL;
	size_t nlayers = 0, i;
	struct phase_times t = { 0 };
	double t0 = ut_now(), mark;
	char *layout_dir = NULL;
	int rc = 1, have_base = 0, use_diff;
	/* The packages layer (--packages-layer, --dockerfile). */
	struct pkg_db *vdb = NULL, *bdb = NULL;
	struct ut_tree *ptree = NULL, *lower = NULL;
	struct cli_pkglayer_stats pstats = { 0 };
	struct fsd_result *diff_nopkg = NULL;
	size_t *roots = NULL, nroots = 0;
	int pkg_layer_index = -1;
	size_t told;
	char *renamed = NULL; /* JSON map of guest names renamed away from ".wh." */

	config.created = -1;
	mark = ut_now();
	dopt.progress = cli_progress_hook(prog);
	cli_disk_policy_apply(&o->policy, &dopt);
	if (dr_disk_open(o->disk, &dopt, &disk, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	t.open = ut_now() - mark;
	told = print_disk_warnings(disk, o, 0);

	mark = ut_now();
	ut_progress_update(&dopt.progress, "walking the disk", 0, 0);
	if (dr_disk_tree(disk, 0, &vm, &err) < 0) {
		/* diskread's walk errors name the disk already. */
		cli_error("%s", err.msg);
		goto out;
	}
	print_disk_warnings(disk, o, told);
	t.walk = ut_now() - mark;

	mark = ut_now();
	have_base = 1; /* cli_base_open clears base first, even on failure */
	/* --skip-mount is about the VM's disk, not a disk: base. */
	bopt = dopt;
	bopt.skip_mounts = NULL;
	bopt.nskip_mounts = 0;
	if (cli_base_open(o->base, o->base_format, &bopt, &base, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	use_diff = !cli_base_is_scratch(&base) || o->packages_layer || o->dockerfile;
	if (use_diff) {
		ut_progress_update(&dopt.progress, "reading the base", 0, 0);
		if (cli_base_tree(&base, &err) < 0) {
			cli_error("base %s: %s", o->base, err.msg);
			goto out;
		}
	}
	t.base = ut_now() - mark;
	if (cli_whiteout_names(vm, o->disk, base.disk ? base.tree : NULL, o->rename_whiteouts,
			       &o->layer.escape_whiteout_names, &renamed, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}

	mark = ut_now();
	lower = base.tree;
	if (o->packages_layer || o->dockerfile) {
		if (cli_tree_pkg_db(vm, o->disk, &vdb, &err) < 0 ||
		    cli_base_pkg_db(&base, &bdb, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		if (bdb && strcmp(bdb->format, vdb->format)) {
			cli_error("%s: the base's packages are %s, the disk's %s", o->base, bdb->format,
				  vdb->format);
			goto out;
		}
		ut_progress_update(&dopt.progress, "matching package files", 0, 0);
		if (cli_packages_layer(vm, vdb, bdb, base.tree, &ptree, &pstats, &err) < 0) {
			cli_error("%s: packages layer: %s", o->disk, err.msg);
			goto out;
		}
		lower = cli_tree_overlay(base.tree, ptree);
	}
	if (use_diff) {
		o->diff.progress = dopt.progress;
		if (fsd_diff(lower, vm, &o->diff, &diff, &err) < 0 ||
		    fsd_layer_plan(diff, &items, &nitems, &err) < 0) {
			cli_error("%s: diff against %s: %s", o->disk, o->base, err.msg);
			goto out;
		}
		/* What the diff would carry without the packages layer. */
		if (ptree && fsd_diff(base.tree, vm, &o->diff, &diff_nopkg, &err) < 0) {
			cli_error("%s: diff against %s: %s", o->disk, o->base, err.msg);
			goto out;
		}
	}
	t.diff = ut_now() - mark;

	if (o->docker_archive) {
		/* The archive is made from an OCI layout written beside it. */
		layout_dir = ut_asprintf("%s.oci-XXXXXX", o->out);
		if (!mkdtemp(layout_dir)) {
			cli_error("%s: cannot create a temporary directory beside it: %s", o->out,
				  strerror(errno));
			goto out;
		}
		rmdir(layout_dir);
	} else {
		layout_dir = ut_strdup(o->out);
	}
	if (img_layout_open(layout_dir, &layout, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}

	mark = ut_now();
	o->layer.progress = dopt.progress;
	/* Base layers, reused by digest; rootfs and disk bases get one made. */
	if (base.img) {
		const struct img_base_layer *bl;
		size_t nbl;

		img_config_copy(&config, img_base_config(base.img));
		bl = img_base_layers(base.img, &nbl);
		layers = ut_calloc(nbl + 3, sizeof(*layers));
		results = ut_calloc(nbl + 3, sizeof(*results));
		roles = ut_calloc(nbl + 3, sizeof(*roles));
		for (i = 0; i < nbl; i++) {
			if (img_layout_import_blob(layout, bl[i].path, &bl[i].blob, &err) < 0) {
				cli_error("%s", err.msg);
				goto out;
			}
			layers[nlayers] = bl[i].blob;
			results[nlayers].blob = bl[i].blob;
			snprintf(results[nlayers].diff_id, sizeof(results[nlayers].diff_id), "%s",
				 bl[i].diff_id);
			roles[nlayers++] = "base";
		}
		if (img_base_is_rootfs(base.img)) {
			if (img_base_rootfs_layer(base.img, img_layout_blob_dir(layout), &o->layer,
						  &results[nlayers], &err) < 0) {
				cli_error("base %s: %s", o->base, err.msg);
				goto out;
			}
			layers[nlayers] = results[nlayers].blob;
			str_push(&config.diff_ids, &config.ndiff_ids, results[nlayers].diff_id);
			history_push(&config, "vm2oci: base root filesystem", NULL);
			roles[nlayers++] = "base";
		}
	} else {
		layers = ut_calloc(3, sizeof(*layers));
		results = ut_calloc(3, sizeof(*results));
		roles = ut_calloc(3, sizeof(*roles));
		if (cli_write_full_layer(img_layout_blob_dir(layout), &o->layer, base.tree, &results[0],
				     &err) < 0) {
			cli_error("base %s: %s", o->base, err.msg);
			goto out;
		}
		layers[nlayers] = results[0].blob;
		str_push(&config.diff_ids, &config.ndiff_ids, results[0].diff_id);
		history_push(&config, "vm2oci: template disk", "the template's whole tree");
		roles[nlayers++] = "base";
	}

	if (ptree && o->packages_layer) {
		if (cli_write_full_layer(img_layout_blob_dir(layout), &o->layer, ptree, &results[nlayers],
				     &err) < 0) {
			cli_error("%s: packages layer: %s", o->disk, err.msg);
			goto out;
		}
		layers[nlayers] = results[nlayers].blob;
		str_push(&config.diff_ids, &config.ndiff_ids, results[nlayers].diff_id);
		history_push(&config, "vm2oci convert --packages-layer",
			     "files of the VM's packages, as the package manager installed them");
		pkg_layer_index = (int)nlayers;
		roles[nlayers++] = "packages";
	}

	/* The VM's own layer. */
	if (!use_diff)
		rc = cli_write_full_layer(img_layout_blob_dir(layout), &o->layer, vm, &results[nlayers],
				      &err);
	else
		rc = cli_write_plan_layer(img_layout_blob_dir(layout), &o->layer, items, nitems, vm,
				      &results[nlayers], &err);
	if (rc < 0) {
		rc = 1;
		cli_error("%s: %s", o->disk, err.msg);
		goto out;
	}
	rc = 1;
	layers[nlayers] = results[nlayers].blob;
	str_push(&config.diff_ids, &config.ndiff_ids, results[nlayers].diff_id);
	/* No file names or times in the config: the same disk in any
	 * container format gives the same manifest. */
	history_push(&config, "vm2oci convert",
		     cli_base_is_scratch(&base) ? "the VM's whole tree" : "what the VM has beyond the base");
	roles[nlayers++] = !use_diff ? "vm" : "diff";
	t.layers = ut_now() - mark;

	mark = ut_now();
	free(config.architecture);
	config.architecture = ut_strdup(dr_disk_os(disk)->arch[0] ? dr_disk_os(disk)->arch : "amd64");
	free(config.os);
	config.os = ut_strdup("linux");
	guest_defaults(&config, vm, dr_disk_os(disk));
	{
		char *kv = cli_skipped_label(disk);

		if (kv)
			str_push(&config.labels_kv, &config.nlabels, kv);
		free(kv);
	}
	if (renamed) {
		char *kv = ut_asprintf("org.vm2oci.renamed-whiteout-names=%s", renamed);

		str_push(&config.labels_kv, &config.nlabels, kv);
		free(kv);
	}
	if (img_layout_add_image(layout, &config, layers, nlayers, o->tag, &manifest, &err) < 0 ||
	    img_layout_commit(layout, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (o->docker_archive) {
		char *repo_tag = ut_asprintf("vm2oci/%s:%s", ut_path_base(o->disk), o->tag);

		for (char *s = repo_tag; *s && s < strrchr(repo_tag, ':'); s++)
			if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '/' ||
			      *s == '-' || *s == '_'))
				*s = '-';
		if (img_docker_archive_write(layout_dir, o->tag, o->out, repo_tag, &err) < 0) {
			free(repo_tag);
			cli_error("%s", err.msg);
			goto out;
		}
		free(repo_tag);
	}
	if (vdb) {
		struct pkg_graph *g = NULL;
		size_t *set = NULL, nset = 0;

		/* The roots of what the VM adds: what a rebuild installs. */
		if (pkg_db_added(vdb, bdb, &set, &nset, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		if (pkg_graph_build(vdb, &g, &err) < 0) {
			free(set);
			cli_error("%s: %s", o->disk, err.msg);
			goto out;
		}
		nroots = pkg_graph_subset_roots(g, set, nset, &roots);
		pkg_graph_free(g);
		free(set);
		if (o->dockerfile &&
		    cli_write_dockerfile(o->dockerfile, o->base, vdb, roots, nroots, items, nitems, vm,
					 &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
	}
	t.commit = ut_now() - mark;
	t.total = ut_now() - t0;
	cli_progress_done(prog);

	if (o->json) {
		json_t *root, *jl = json_array(), *secs;
		double read_s = 0, comp_s = 0;

		for (i = 0; i < nlayers; i++) {
			json_array_append_new(jl, layer_json(roles[i], &results[i]));
			read_s += results[i].seconds_read;
			comp_s += results[i].seconds_compress;
		}
		secs = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "open", t.open, "walk",
				 t.walk, "base", t.base, "diff", t.diff, "read", read_s,
				 "compress", comp_s, "write", t.commit, "total", t.total);
		root = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:I}, s:I, s:o, s:o}",
				 "output", o->out, "output_format",
				 o->docker_archive ? "docker-archive" : "oci", "tag", o->tag,
				 "manifest_digest", manifest.digest, "disk", "path", o->disk,
				 "format", dr_blockdev_format(dr_disk_blockdev(disk)), "bytes_read",
				 (json_int_t)dr_blockdev_bytes_read(dr_disk_blockdev(disk)),
				 "entries", (json_int_t)vm->n, "layers", jl, "seconds", secs);
		json_object_set_new(root, "base", json_string(o->base));
		json_object_set_new(root, "skipped_mounts", cli_skipped_json(disk));
		if (diff)
			json_object_set_new(root, "diff", stats_json(fsd_result_stats(diff)));
		if (vdb)
			json_object_set_new(root, "packages", packages_json(vdb, &pstats, nroots,
				pkg_layer_index >= 0 ? &results[pkg_layer_index] : NULL,
				&results[nlayers - 1], diff, diff_nopkg));
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	} else if (!o->quiet) {
		const struct img_layer_result *top = &results[nlayers - 1];

		fprintf(stderr, "vm2oci: wrote %s:%s (%s), %zu layer%s, top layer %s: %" PRIu64
			" bytes (%" PRIu64 " uncompressed, %" PRIu64 " entries) in %.1f s\n",
			o->out, o->tag, manifest.digest, nlayers, nlayers == 1 ? "" : "s",
			top->blob.digest, top->blob.size, top->tar_bytes, top->entries, t.total);
	}
	rc = 0;
out:
	cli_progress_done(prog);
	if (layout)
		img_layout_free(layout); /* without commit, removes what it wrote */
	if (o->docker_archive && layout_dir)
		cli_rm_rf(layout_dir);
	free(layout_dir);
	img_config_release(&config);
	free(layers);
	free(results);
	free(roles);
	free(items);
	fsd_result_free(diff);
	fsd_result_free(diff_nopkg);
	free(roots);
	if (lower && lower != base.tree)
		ut_tree_free(lower);
	ut_tree_free(ptree);
	free(renamed);
	pkg_db_free(vdb);
	pkg_db_free(bdb);
	if (have_base)
		cli_base_release(&base);
	ut_tree_free(vm);
	dr_disk_free(disk);
	return rc;
}

int cmd_convert(int argc, char **argv)
{
	enum { OPT_LEVEL = 256, OPT_THREADS, OPT_BASE_FORMAT, OPT_OUTPUT_FORMAT, OPT_TRUST_MTIME,
	       OPT_MASK_XATTR, OPT_JSON, OPT_PACKAGES_LAYER, OPT_DOCKERFILE, OPT_NO_REPLAY,
	       OPT_SKIP_MOUNT, OPT_RENAME_WH };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "format", required_argument, NULL, 'f' },
		{ "base-format", required_argument, NULL, OPT_BASE_FORMAT },
		{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
		{ "trust-mtime", no_argument, NULL, OPT_TRUST_MTIME },
		{ "mask-xattr", required_argument, NULL, OPT_MASK_XATTR },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "packages-layer", no_argument, NULL, OPT_PACKAGES_LAYER },
		{ "dockerfile", required_argument, NULL, OPT_DOCKERFILE },
		{ "skip-mount", required_argument, NULL, OPT_SKIP_MOUNT },
		{ "no-replay", no_argument, NULL, OPT_NO_REPLAY },
		{ "rename-whiteout-names", no_argument, NULL, OPT_RENAME_WH },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts o = { 0 };
	struct cli_progress prog;
	int c, rc;

	o.base = "scratch";
	o.tag = "latest";
	o.layer.compress = IMG_COMPRESS_ZSTD;
	o.diff.move_min_size = 1 << 20;
	while ((c = getopt_long(argc, argv, "ho:b:t:c:f:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.out = optarg; break;
		case 'b': o.base = optarg; break;
		case 't': o.tag = optarg; break;
		case 'c':
			if ((rc = img_compress_parse(optarg)) < 0)
				return cli_usage_error("convert", "--compress takes zstd, gzip or none, not '%s'", optarg);
			o.layer.compress = rc;
			break;
		case OPT_LEVEL: o.layer.level = atoi(optarg); break;
		case OPT_THREADS: o.layer.threads = atoi(optarg); break;
		case 'f': o.format = optarg; break;
		case OPT_BASE_FORMAT: o.base_format = optarg; break;
		case OPT_OUTPUT_FORMAT:
			if (!strcmp(optarg, "docker-archive"))
				o.docker_archive = 1;
			else if (strcmp(optarg, "oci"))
				return cli_usage_error("convert", "--output-format takes oci or docker-archive, not '%s'", optarg);
			break;
		case OPT_TRUST_MTIME: o.diff.trust_mtime = 1; break;
		case OPT_MASK_XATTR:
			o.masks = ut_realloc(o.masks, (o.nmasks + 1) * sizeof(*o.masks));
			o.masks[o.nmasks++] = optarg;
			break;
		case OPT_JSON: o.json = 1; break;
		case OPT_PACKAGES_LAYER: o.packages_layer = 1; break;
		case OPT_DOCKERFILE: o.dockerfile = optarg; break;
		case OPT_SKIP_MOUNT: cli_skip_add(&o.skip, &o.dopt, optarg); break;
		case OPT_NO_REPLAY: o.no_replay = 1; break;
		case OPT_RENAME_WH: o.rename_whiteouts = 1; break;
		case 'q': o.quiet = 1; break;
		case 'h': fputs(convert_usage, stdout); return 0;
		default:
			if ((rc = cli_disk_policy_option(&o.policy, c, optarg, "convert")))
				return rc;
			break;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("convert", "expected one DISK");
	if (!o.out)
		return cli_usage_error("convert", "-o OUT is required");
	o.disk = argv[optind];
	o.dopt.format = o.format;
	o.dopt.no_replay = o.no_replay;
	o.diff.mask_xattrs = o.masks;
	o.diff.nmask_xattrs = o.nmasks;
	cli_progress_init(&prog, o.quiet || o.json);
	rc = run_convert(&o, &prog);
	free(o.masks);
	cli_skip_release(&o.skip);
	return rc;
}
