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
#include "runtime.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char convert_usage[] =
	"usage: vm2oci convert DISK [MORE_DISK...] -o OUT [options]\n"
	"       vm2oci convert DISK [MORE_DISK...] [-o OUT] --push docker://HOST[:PORT]/REPO[:TAG]\n"
	"              [options]\n"
	"\n"
	"Converts a powered-off VM disk into an OCI image: the base image's own\n"
	"layers (reused by digest), then one layer holding exactly what the VM has\n"
	"beyond the base, whiteouts included. MORE_DISKs are the guest's other\n"
	"disks in its order (vdb, vdc...): its fstab mounts from them too. The\n"
	"disks are opened read-only and nothing from the guest is run. OUT is\n"
	"written atomically: a new layout is built under a temporary name and\n"
	"renamed; an existing layout gets the new tag, its index.json replaced\n"
	"last (other writers into it meanwhile keep theirs).\n"
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
	"      --level N          compression level. zstd 1-19 (default 3). gzip 1-9\n"
	"                         (libdeflate; default 1, about 100-150 MB/s a core; 6:\n"
	"                         6% smaller for 1.5x the CPU; 9: 7%, 3x): one member,\n"
	"                         the same bytes whatever --threads and on every CPU\n"
	"      --threads N        compression threads, and those hashing a full copy's\n"
	"                         blocks for --strategy (default: all cores); reading\n"
	"                         the disk and hashing run in threads of their own\n"
	"  -f, --format F         the disk's format, skipping the probe: raw, qcow2, vmdk,\n"
	"                         vhdx, vhd (vpc), vdi, qed\n"
	"      --base-format F    the same for a disk: base\n"
	"      --strategy S       how to find what the VM changed: file (walk and\n"
	"                         compare every file), block (map the blocks changed\n"
	"                         since a disk:TEMPLATE base, from the qcow2 or vmdk\n"
	"                         backing chain, or for a full copy the blocks whose\n"
	"                         SHA-256 differs from the template's, to files; the\n"
	"                         same layer, reading only what changed; falls back to\n"
	"                         file, saying why, when it cannot be exact), auto\n"
	"                         (default: block when it can). A disk:TEMPLATE's tree,\n"
	"                         block index and base layer are cached for its next\n"
	"                         clones ($VM2OCI_CACHE/templates; off: VM2OCI_CACHE=off)\n"
	"      --output-format F  oci (default) or docker-archive\n"
	"      --dockerfile FILE  also write a Dockerfile that rebuilds the image\n"
	"                         online (FROM the base, install the package roots at\n"
	"                         their versions, remove what the VM deleted, ADD the\n"
	"                         diff as FILE's sibling vm2oci-diff.tar); the diff is\n"
	"                         then taken above the packages, so the image carries\n"
	"                         the packages layer as with --packages-layer\n"
	"      --service NAME     the image runs this service of the guest in the\n"
	"                         foreground as its unit or init script would (its\n"
	"                         ExecStart, or the daemon's own foreground form:\n"
	"                         apache2 -DFOREGROUND, nginx -g 'daemon off;', sshd\n"
	"                         -D...), with its User, WorkingDirectory, environment\n"
	"                         and ports (vm2oci inspect lists the services).\n"
	"                         Without it and without a command from the base, the\n"
	"                         guest's only network service runs when it has\n"
	"                         exactly one; else its init, and the choices are named\n"
	CLI_IMAGE_USAGE
	"      --json             print a summary as JSON on stdout\n"
	"  -q, --quiet            no progress on stderr\n"
	CLI_DISK_POLICY_USAGE
	"  --push REF          then push the image to a registry (docker://HOST[:PORT]/\n"
	"                      REPO[:TAG]; see 'vm2oci push --help'); without -o the\n"
	"                      layout is a temporary one, removed after the push\n"
	CLI_PUSH_USAGE;

/* One layer of the image: its blob and what it holds. */
struct layer_rec {
	const char *role; /* "base", "packages", "diff" or "vm" */
	struct img_layer_result res;
};

/* A conversion's state, phase by phase. */
struct convert {
	struct convert_opts *o;
	struct cli_job_options jo;
	struct cli_job job;
	struct ut_progress hook;
	int use_diff; /* 0: scratch, the VM's whole tree as one layer */
	/* the packages (--packages-layer, --dockerfile) */
	struct pkg_db *vdb, *bdb;
	struct ut_tree *ptree;
	struct pkg_layer_stats pstats;
	size_t *roots, nroots;
	/* the image */
	char *layout_dir;
	struct img_layout *layout;
	struct img_config config;
	struct layer_rec *layers;
	size_t nlayers;
	int pkg_layer; /* index in layers, -1: none */
	struct img_descriptor manifest;
	struct img_descriptor sbom_manifest; /* the referrer, when --sbom */
	char *sbom_tag;                      /* and its tag */
	int wrote_dockerfile;
	char *renamed; /* JSON map of guest names renamed away from ".wh." */
	struct fsd_filter *filter; /* what the image leaves out; NULL: nothing */
	double t_layers, t_commit, t0;
	json_t *push; /* --push's summary for --json */
};

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
			/* Through the guest's links: /sbin is usr/sbin on a merged-/usr guest. */
			if (ut_tree_resolve(vm, inits[i], 1, NULL)) {
				char *cmd = ut_asprintf("/%s", inits[i]);

				img_config_add_cmd(c, cmd);
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
	if (services.len)
		img_config_add_label(c, "org.vm2oci.services", (char *)services.data);
	ut_buf_release(&services);
	if (os->hostname[0])
		img_config_add_label(c, "org.vm2oci.source.hostname", os->hostname);
	if (os->distro[0]) {
		char *v = ut_asprintf("%s %s", os->distro, os->version);

		img_config_add_label(c, "org.vm2oci.source.os", v);
		free(v);
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

static uint64_t content_bytes(const struct fsd_stats *s)
{
	return s->added_bytes + s->modified_bytes;
}

/* The research log's table: packages in the VM, after filtering, the
 * packages layer, and the diff with and without it. */
static json_t *packages_json(const struct convert *cv)
{
	const struct pkg_layer_stats *ps = &cv->pstats;
	const struct fsd_stats *without = fsd_result_stats_below(cv->job.diff);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "format", cv->vdb->format,
			      "in_vm", (json_int_t)cv->vdb->n, "beyond_base",
			      (json_int_t)ps->packages, "roots", (json_int_t)cv->nroots,
			      "files_matching", (json_int_t)ps->files,
			      "files_changed_since_install", (json_int_t)ps->files_changed,
			      "files_without_digest", (json_int_t)ps->files_unverifiable);

	if (cv->pkg_layer >= 0) {
		const struct img_layer_result *p = &cv->layers[cv->pkg_layer].res;

		json_object_set_new(o, "layer", json_pack("{s:I, s:I, s:I}", "size",
			(json_int_t)p->blob.size, "tar_bytes", (json_int_t)p->tar_bytes,
			"entries", (json_int_t)p->entries));
	}
	if (without)
		json_object_set_new(o, "diff_content_bytes", json_pack("{s:I, s:I, s:I}",
			"with_packages_layer", (json_int_t)content_bytes(fsd_result_stats(cv->job.diff)),
			"without_packages_layer", (json_int_t)content_bytes(without),
			"diff_layer_size", (json_int_t)cv->layers[cv->nlayers - 1].res.blob.size));
	return o;
}

/* The package databases, the packages layer's tree, and the roots of what
 * the VM adds (what a rebuild installs). */
static int convert_packages(struct convert *cv)
{
	struct convert_opts *o = cv->o;
	struct cli_base *base = &cv->job.base;
	struct ut_err err = { { 0 } };
	struct pkg_graph *g = NULL;
	size_t *set = NULL, nset = 0;
	int rc = -1;

	if (cli_tree_pkg_db(cv->job.vm, o->disk, &cv->vdb, &err) < 0 ||
	    cli_base_pkg_db(base, &cv->bdb, &err) < 0)
		return cli_error("%s", err.msg), -1;
	if (cv->bdb && strcmp(cv->bdb->format, cv->vdb->format))
		return cli_error("%s: the base's packages are %s, the disk's %s", o->base,
				 cv->bdb->format, cv->vdb->format), -1;
	ut_progress_update(&cv->hook, "matching package files", 0, 0);
	if (pkg_files_layer(cv->job.vm, cli_tree_resolve, cv->vdb, cv->bdb, base->tree, &cv->ptree,
			    &cv->pstats, &err) < 0)
		return cli_error("%s: packages layer: %s", o->disk, err.msg), -1;

	/* The roots of what the VM adds: what a rebuild installs. */
	if (pkg_db_added(cv->vdb, cv->bdb, &set, &nset, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (pkg_graph_build(cv->vdb, &g, &err) < 0) {
		cli_error("%s: %s", o->disk, err.msg);
		goto out;
	}
	cv->nroots = pkg_graph_subset_roots(g, set, nset, &cv->roots);
	rc = 0;
out:
	pkg_graph_free(g);
	free(set);
	return rc;
}

/*
 * The exclusions, applied to the trees before anything reads them, so that
 * the packages layer, the diff (either strategy's tree) and a scratch
 * image's whole-tree layer all lack the same paths. The base's excluded
 * paths leave its tree too: out of the comparison, they give no whiteout,
 * and the base's own files there stay (rsync's exclude without
 * --delete-excluded). A disk: base is a VM's tree like the disk's: its
 * layer gets the same rules, machine-id included.
 */
static int convert_exclude(struct convert *cv)
{
	struct ut_err err = { { 0 } };
	struct ut_tree *base = cv->job.base.tree;

	if (cli_excludes_build(&cv->o->excludes, cv->job.vm, &cv->filter, &err) < 0)
		return cli_error_at(cv->o->disk, &err), -1;
	fsd_filter_tree(cv->filter, cv->job.vm,
			FSD_FILTER_EXCLUDE | FSD_FILTER_EMPTY | FSD_FILTER_COUNT);
	if (base)
		fsd_filter_tree(cv->filter, base,
				FSD_FILTER_EXCLUDE | (cv->job.base.disk ? FSD_FILTER_EMPTY : 0));
	if (!cv->o->quiet && !cv->o->json)
		cli_excludes_print(cv->filter);
	return 0;
}

/* The trees, the packages, the diff. */
static int convert_read(struct convert *cv)
{
	struct convert_opts *o = cv->o;
	int want_pkgs = o->packages_layer || o->dockerfile;

	cv->jo = (struct cli_job_options){ .disk = o->disk, .disk_format = o->format,
		.base = o->base, .base_format = o->base_format, .no_base_tree = !want_pkgs,
		.warn = !o->quiet, .no_replay = o->no_replay, .policy = &o->policy,
		.diff = &o->diff, .strategy = o->strategy, .threads = o->layer.threads,
		.skip = &o->skip,
		.more_disks = o->more_disks, .nmore_disks = o->nmore_disks };
	struct ut_err err = { { 0 } };

	if (cli_job_open(&cv->job, &cv->jo, &cv->hook) < 0)
		return -1;
	o->runtime.quiet = o->quiet || o->json;
	if (cli_runtime_plan(cv->job.vm, o->disk, &o->runtime) < 0)
		return -1;
	if (!o->quiet && !o->json && (cv->job.base.disk || strcmp(o->strategy, "auto")))
		fprintf(stderr, "vm2oci: strategy %s: %s\n", cv->job.strategy.used,
			cv->job.strategy.reason);
	if (convert_exclude(cv) < 0)
		return -1;
	if (cli_whiteout_names(cv->job.vm, o->disk, cv->job.base.disk ? cv->job.base.tree : NULL,
			       o->rename_whiteouts, &o->layer.escape_whiteout_names, &cv->renamed,
			       &err) < 0)
		return cli_error("%s", err.msg), -1;
	cv->use_diff = !cli_base_is_scratch(&cv->job.base) || want_pkgs;
	if (want_pkgs && convert_packages(cv) < 0)
		return -1;
	if (o->sbom && !cv->vdb && cli_tree_pkg_db(cv->job.vm, o->disk, &cv->vdb, &err) < 0)
		return cli_error("--sbom: %s", err.msg), -1;
	if (!cv->use_diff)
		return 0;
	o->diff.progress = cv->hook;
	return cli_job_diff(&cv->job, &cv->jo, cv->ptree);
}

/* Where the layout goes: OUT, or beside a docker-archive OUT (the archive
 * is made from it). */
static int convert_open_layout(struct convert *cv)
{
	struct ut_err err = { { 0 } };

	if (cv->o->docker_archive) {
		cv->layout_dir = ut_asprintf("%s.oci-XXXXXX", cv->o->out);
		if (!mkdtemp(cv->layout_dir))
			return cli_error("%s: cannot create a temporary directory beside it: %s",
					 cv->o->out, strerror(errno)), -1;
		rmdir(cv->layout_dir);
		cli_temp_track(cv->layout_dir);
	} else {
		cv->layout_dir = ut_strdup(cv->o->out);
	}
	if (img_layout_open(cv->layout_dir, &cv->layout, &err) < 0)
		return cli_error("%s", err.msg), -1;
	return 0;
}

static struct layer_rec *layer_new(struct convert *cv, const char *role)
{
	struct layer_rec *l;

	cv->layers = ut_realloc(cv->layers, (cv->nlayers + 1) * sizeof(*cv->layers));
	l = &cv->layers[cv->nlayers++];
	memset(l, 0, sizeof(*l));
	l->role = role;
	return l;
}

/* A whole tree as one new layer, recorded in the config. */
static int tree_layer(struct convert *cv, const struct ut_tree *t, const char *role,
		      const char *created_by, const char *comment, struct ut_err *err)
{
	struct layer_rec *l = layer_new(cv, role);

	if (img_layer_write_tree(img_layout_blob_dir(cv->layout), &cv->o->layer, t, &l->res,
				 err) < 0)
		return -1;
	img_config_add_layer(&cv->config, l->res.diff_id, created_by, comment);
	return 0;
}

/* A disk:TEMPLATE base's one layer: from the template cache when it knows
 * the layer (the blob linked in, or already in the layout), else written
 * from the template's tree and kept there. */
static int template_layer(struct convert *cv)
{
	struct cli_base *b = &cv->job.base;
	struct img_layer_result res;
	struct ut_err err = { { 0 } };
	struct layer_rec *l;
	char *rules = cv->filter ? cli_excludes_label(cv->filter) : NULL;
	int hit = cli_tcache_layer(b->cache, &cv->o->layer, rules, cv->layout, &res);

	if (!hit) {
		int rc = tree_layer(cv, b->tree, "base", "vm2oci: template disk",
				    "the template's whole tree", &err);

		if (rc < 0)
			cli_base_error(b, &err);
		else
			cli_tcache_put_layer(b->cache, &cv->o->layer, rules,
					     img_layout_blob_dir(cv->layout),
					     &cv->layers[cv->nlayers - 1].res);
		free(rules);
		return rc < 0 ? -1 : 0;
	}
	free(rules);
	l = layer_new(cv, "base");
	l->res = res;
	img_config_add_layer(&cv->config, res.diff_id, "vm2oci: template disk",
			     "the template's whole tree");
	return 0;
}

/* The base's layers, reused by digest; rootfs and disk bases get one made. */
static int convert_base_layers(struct convert *cv)
{
	struct img_base *img = cv->job.base.img;
	struct ut_err err = { { 0 } };
	const struct img_base_layer *bl;
	size_t nbl, i;

	if (!img)
		return template_layer(cv);
	img_config_copy(&cv->config, img_base_config(img));
	bl = img_base_layers(img, &nbl);
	for (i = 0; i < nbl; i++) {
		struct layer_rec *l;

		if (img_layout_import_blob(cv->layout, bl[i].path, &bl[i].blob, &err) < 0)
			return cli_error("%s", err.msg), -1;
		l = layer_new(cv, "base");
		l->res.blob = bl[i].blob;
		snprintf(l->res.diff_id, sizeof(l->res.diff_id), "%s", bl[i].diff_id);
	}
	if (img_base_is_rootfs(img)) {
		struct layer_rec *l = layer_new(cv, "base");

		if (img_base_rootfs_layer(img, img_layout_blob_dir(cv->layout), &cv->o->layer,
					  &l->res, &err) < 0)
			return cli_base_error(&cv->job.base, &err), -1;
		img_config_add_layer(&cv->config, l->res.diff_id, "vm2oci: base root filesystem",
				     NULL);
	}
	return 0;
}

/* The packages layer, then the VM's own: the diff, or its whole tree. */
static int convert_own_layers(struct convert *cv)
{
	struct convert_opts *o = cv->o;
	struct ut_err err = { { 0 } };
	struct layer_rec *l;

	/* --dockerfile diffs above the packages too (the Dockerfile installs
	 * them), so the image must carry them: without the layer it would lack
	 * every package file the base lacks. */
	if (cv->ptree && (o->packages_layer || o->dockerfile)) {
		cv->pkg_layer = (int)cv->nlayers;
		if (tree_layer(cv, cv->ptree, "packages", "vm2oci convert --packages-layer",
			       "files of the VM's packages, as the package manager installed them",
			       &err) < 0)
			return cli_error("%s: packages layer: %s", o->disk, err.msg), -1;
	}
	/* No file names or times in the config: the same disk in any
	 * container format gives the same manifest. */
	if (!cv->use_diff) {
		if (tree_layer(cv, cv->job.vm, "vm", "vm2oci convert", "the VM's whole tree",
			       &err) < 0)
			return cli_error_at(o->disk, &err), -1;
		return 0;
	}
	l = layer_new(cv, "diff");
	if (cli_write_plan_layer(img_layout_blob_dir(cv->layout), &o->layer, cv->job.items,
				 cv->job.nitems, cv->job.vm, &l->res, &err) < 0)
		return cli_error_at(o->disk, &err), -1;
	img_config_add_layer(&cv->config, l->res.diff_id, "vm2oci convert",
			     cli_base_is_scratch(&cv->job.base) ? "the VM's whole tree"
								: "what the VM has beyond the base");
	return 0;
}

static void docker_repo_tag(const struct convert_opts *o, char **out)
{
	char *repo_tag = ut_asprintf("vm2oci/%s:%s", ut_path_base(o->disk), o->tag);

	for (char *s = repo_tag; *s && s < strrchr(repo_tag, ':'); s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '/' ||
		      *s == '-' || *s == '_'))
			*s = '-';
	*out = repo_tag;
}

/* The SBOM of the VM's packages as a referrer of the image just added. */
static int convert_sbom(struct convert *cv, struct ut_err *err)
{
	struct pkg_sbom_layer *pl = ut_calloc(cv->nlayers + 1, sizeof(*pl));
	struct cli_sbom_layers sl = { .vm = cv->job.vm, .items = cv->job.items,
				      .nitems = cv->job.nitems, .whole_vm = !cv->use_diff,
				      .has_base = !cli_base_is_scratch(&cv->job.base),
				      .layers = pl, .nlayers = cv->nlayers };
	char *name = ut_asprintf("%s:%s", ut_path_base(cv->o->disk), cv->o->tag);
	struct ut_buf b;
	int rc = -1;

	ut_buf_init(&b, 0);
	if (cv->pkg_layer >= 0)
		sl.packages = cv->ptree;
	for (size_t i = 0; i < cv->nlayers; i++) {
		pl[i].role = cv->layers[i].role;
		pl[i].digest = cv->layers[i].res.blob.digest;
	}
	if (cli_sbom_write(cv->vdb, cv->job.disk, name, cv->o->sbom, &sl, &b, err) < 0) {
		ut_err_prefix(err, "%s: SBOM: ", cv->o->disk);
		goto out;
	}
	/* cosign's name for an image's SBOM, for tools without referrers. */
	cv->sbom_tag = cli_sbom_tag(cv->manifest.digest);
	rc = img_layout_add_referrer(cv->layout, &cv->manifest, pkg_sbom_media_type(cv->o->sbom),
				     b.data, b.len, cv->sbom_tag, &cv->sbom_manifest, err);
out:
	ut_buf_release(&b);
	free(name);
	free(pl);
	return rc;
}

/* The config, the Dockerfile (before anything is committed: a failure after
 * the commit would leave an image behind with exit 1), the manifest, the
 * tag, index.json last; then the docker-archive. */
static int convert_commit(struct convert *cv)
{
	struct convert_opts *o = cv->o;
	const struct dr_os_info *os = dr_disk_os(cv->job.disk);
	struct img_descriptor *blobs;
	struct ut_err err = { { 0 } };
	char *repo_tag = NULL;
	size_t i;
	int rc = -1;

	img_config_set_platform(&cv->config, os->arch[0] ? os->arch : "amd64", "linux");
	cli_runtime_apply(&cv->config, &o->runtime);
	guest_defaults(&cv->config, cv->job.vm, os);
	if (cv->renamed)
		img_config_add_label(&cv->config, "org.vm2oci.renamed-whiteout-names", cv->renamed);
	{
		char *rules = cli_excludes_label(cv->filter);

		if (rules)
			img_config_add_label(&cv->config, CLI_EXCLUDES_LABEL, rules);
		free(rules);
	}
	{
		char *kv = cli_skipped_label(cv->job.disk);

		if (kv)
			img_config_add_label(&cv->config, CLI_SKIPPED_LABEL,
					     kv + strlen(CLI_SKIPPED_LABEL) + 1);
		free(kv);
	}
	if (o->dockerfile) {
		if (cli_write_dockerfile(o->dockerfile, o->base, cv->vdb, cv->roots, cv->nroots,
					 cv->job.items, cv->job.nitems, cv->job.vm, &err) < 0)
			return cli_error("%s", err.msg), -1;
		cv->wrote_dockerfile = 1;
	}
	blobs = ut_calloc(cv->nlayers, sizeof(*blobs));
	for (i = 0; i < cv->nlayers; i++)
		blobs[i] = cv->layers[i].res.blob;
	if (img_layout_add_image_annotated(cv->layout, &cv->config, blobs, cv->nlayers, o->tag,
					   o->annotations, o->nannotations, &cv->manifest,
					   &err) < 0 ||
	    (o->sbom && convert_sbom(cv, &err) < 0) ||
	    img_layout_commit(cv->layout, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (o->docker_archive) {
		docker_repo_tag(o, &repo_tag);
		if (img_docker_archive_write(cv->layout_dir, o->tag, o->out, repo_tag, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
	}
	rc = 0;
out:
	free(repo_tag);
	free(blobs);
	return rc;
}

/* The --json summary on stdout, or one line on stderr. */
static void convert_report(const struct convert *cv)
{
	const struct convert_opts *o = cv->o;
	const struct cli_job *j = &cv->job;
	const struct img_layer_result *top = &cv->layers[cv->nlayers - 1].res;
	double total = ut_now() - cv->t0, read_s = 0, comp_s = 0, hash_s = 0;
	json_t *root, *jl, *secs;
	size_t i;

	if (!o->json) {
		if (!o->quiet)
			fprintf(stderr, "vm2oci: %s %s%s%s (%s), %zu layer%s, top layer %s: %" PRIu64
				" bytes (%" PRIu64 " uncompressed, %" PRIu64 " entries) in %.1f s\n",
				o->scratch_out ? "converted" : "wrote",
				o->scratch_out ? o->push : o->out, o->scratch_out ? "" : ":",
				o->scratch_out ? "" : o->tag, cv->manifest.digest, cv->nlayers,
				cv->nlayers == 1 ? "" : "s", top->blob.digest, top->blob.size,
				top->tar_bytes, top->entries, total);
		return;
	}
	jl = json_array();
	for (i = 0; i < cv->nlayers; i++) {
		json_array_append_new(jl, layer_json(cv->layers[i].role, &cv->layers[i].res));
		read_s += cv->layers[i].res.seconds_read;
		comp_s += cv->layers[i].res.seconds_compress;
		hash_s += cv->layers[i].res.seconds_hash;
	}
	secs = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "open", j->t_open, "walk",
			 j->t_walk, "base", j->t_base, "diff", j->t_diff, "read", read_s,
			 "compress", comp_s, "hash", hash_s, "write", cv->t_commit, "total", total);
	root = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:I}, s:I, s:o, s:o}",
			 "output", o->out, "output_format",
			 o->docker_archive ? "docker-archive" : "oci", "tag", o->tag,
			 "manifest_digest", cv->manifest.digest, "disk", "path", o->disk,
			 "format", dr_blockdev_format(dr_disk_blockdev(j->disk)), "bytes_read",
			 (json_int_t)dr_blockdev_bytes_read(dr_disk_blockdev(j->disk)),
			 "entries", (json_int_t)j->vm->n, "layers", jl, "seconds", secs);
	json_object_set_new(root, "base", json_string(o->base));
	json_object_set_new(root, "skipped_mounts", cli_skipped_json(j->disk));
	json_object_set_new(root, "strategy", cli_strategy_json(&j->strategy, j->disk));
	json_object_set_new(root, "excluded", cli_excludes_json(cv->filter));
	if (j->base.disk)
		json_object_set_new(root, "template_cache", cli_tcache_json(j->base.cache));
	if (j->diff)
		json_object_set_new(root, "diff", stats_json(fsd_result_stats(j->diff)));
	if (cv->vdb && (o->packages_layer || o->dockerfile))
		json_object_set_new(root, "packages", packages_json(cv));
	if (o->sbom)
		json_object_set_new(root, "sbom", json_pack("{s:s, s:s, s:s, s:s}", "artifact_type",
			pkg_sbom_media_type(o->sbom), "manifest_digest", cv->sbom_manifest.digest,
			"subject", cv->manifest.digest, "tag", cv->sbom_tag));
	if (o->runtime.runs) {
		/* Guest names: escaped like every name from the guest. */
		json_t *runs = json_object();

		cli_json_set_name(runs, "what", o->runtime.runs);
		cli_json_set_name(runs, "how", o->runtime.cmd->how);
		json_object_set_new(root, "runs", runs);
	}
	if (cv->push)
		json_object_set(root, "push", cv->push);
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

static void convert_release(struct convert *cv)
{
	if (cv->layout)
		img_layout_free(cv->layout); /* without commit, removes what it wrote */
	if (cv->o->docker_archive && cv->layout_dir) {
		ut_rm_rf(cv->layout_dir);
		cli_temp_untrack(cv->layout_dir);
	}
	free(cv->layout_dir);
	img_config_release(&cv->config);
	free(cv->layers);
	free(cv->roots);
	free(cv->renamed);
	json_decref(cv->push);
	fsd_filter_free(cv->filter);
	free(cv->sbom_tag);
	ut_tree_free(cv->ptree);
	pkg_db_free(cv->vdb);
	pkg_db_free(cv->bdb);
	cli_job_release(&cv->job);
}

/* The SBOM artifact after its subject, under its own tag in the same
 * repository (registries without the referrers API find it by that tag). */
static int convert_push_sbom(struct convert *cv, struct cli_progress *prog)
{
	const struct convert_opts *o = cv->o;
	char *dst = cli_push_ref_with_tag(o->push, cv->sbom_tag);
	json_t *summary = NULL;
	int rc;

	rc = cli_push(&o->push_opts, cv->layout_dir, cv->sbom_tag, (const char *const *)&dst, 1,
		      prog, o->quiet, o->json ? &summary : NULL);
	if (summary)
		json_object_set_new(cv->push, "sbom", summary);
	free(dst);
	return rc;
}

/* The disks to one image in cv->layout (opened here when NULL), tagged. */
static int convert_image(struct convert *cv)
{
	double mark;

	if (convert_read(cv) < 0 || (!cv->layout && convert_open_layout(cv) < 0))
		return -1;
	mark = ut_now();
	cv->o->layer.progress = cv->hook;
	if (convert_base_layers(cv) < 0 || convert_own_layers(cv) < 0)
		return -1;
	cv->t_layers = ut_now() - mark;
	mark = ut_now();
	if (convert_commit(cv) < 0)
		return -1;
	cv->t_commit = ut_now() - mark;
	return 0;
}

int cli_convert_into(struct convert_opts *o, struct img_layout *layout,
		     struct cli_progress *prog, struct convert_result *res)
{
	struct convert cv = { .o = o, .pkg_layer = -1, .t0 = ut_now(), .layout = layout };
	const struct img_layer_result *top;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	cv.config.created = -1;
	cv.hook = cli_progress_hook(prog);
	if (convert_image(&cv) < 0)
		goto out;
	top = &cv.layers[cv.nlayers - 1].res;
	snprintf(res->manifest_digest, sizeof(res->manifest_digest), "%s", cv.manifest.digest);
	snprintf(res->strategy, sizeof(res->strategy), "%s", cv.job.strategy.used);
	snprintf(res->strategy_reason, sizeof(res->strategy_reason), "%s",
		 cv.job.strategy.reason);
	res->top_layer_bytes = top->blob.size;
	res->seconds = ut_now() - cv.t0;
	rc = 0;
out:
	cli_progress_done(prog);
	cv.layout = NULL; /* the caller's */
	convert_release(&cv);
	return rc;
}

static int run_convert(struct convert_opts *o, struct cli_progress *prog)
{
	struct convert cv = { .o = o, .pkg_layer = -1, .t0 = ut_now() };
	int rc = 1;

	cv.config.created = -1;
	cv.hook = cli_progress_hook(prog);
	if (convert_image(&cv) < 0)
		goto out;
	cli_progress_done(prog);
	/* the local image is whole before the push begins: a failed push
	 * leaves it (and no tag in the registry) */
	if (o->push && (cli_push(&o->push_opts, cv.layout_dir, o->tag, &o->push, 1, prog, o->quiet,
				 o->json ? &cv.push : NULL) ||
			(o->sbom && convert_push_sbom(&cv, prog))))
		goto out;
	convert_report(&cv);
	rc = 0;
out:
	if (rc && cv.wrote_dockerfile)
		cli_remove_dockerfile(o->dockerfile);
	cli_progress_done(prog);
	convert_release(&cv);
	return rc;
}

int cmd_convert(int argc, char **argv)
{
	enum { OPT_THREADS = 256, OPT_BASE_FORMAT, OPT_OUTPUT_FORMAT, OPT_JSON, OPT_DOCKERFILE,
	       OPT_STRATEGY, OPT_SERVICE, OPT_PUSH };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "compress", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, CLI_OPT_LEVEL },
		CLI_IMAGE_LONGOPTS,
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "format", required_argument, NULL, 'f' },
		{ "base-format", required_argument, NULL, OPT_BASE_FORMAT },
		{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "dockerfile", required_argument, NULL, OPT_DOCKERFILE },
		{ "strategy", required_argument, NULL, OPT_STRATEGY },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "push", required_argument, NULL, OPT_PUSH },
		CLI_PUSH_LONGOPTS,
		CLI_EXCLUDES_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts o = { 0 };
	struct cli_progress prog;
	char *scratch = NULL;
	long num;
	int c, rc;

	o.base = "scratch";
	o.tag = "latest";
	o.strategy = "auto";
	o.layer.compress = IMG_COMPRESS_ZSTD;
	o.diff.move_min_size = 1 << 20;
	cli_push_opts_init(&o.push_opts);
	while ((c = getopt_long(argc, argv, "ho:b:t:c:f:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.out = optarg; break;
		case 'b': o.base = optarg; break;
		case 't': o.tag = optarg; break;
		case 'c':
			if ((rc = cli_image_option(&o, CLI_OPT_COMPRESS, optarg, "convert")))
				return rc;
			break;
		case OPT_THREADS:
			if (cli_parse_long("convert", "--threads", optarg, 0, 256, &num, &rc) < 0)
				return rc;
			o.layer.threads = (int)num;
			break;
		case 'f': o.format = optarg; break;
		case OPT_BASE_FORMAT: o.base_format = optarg; break;
		case OPT_OUTPUT_FORMAT:
			if (!strcmp(optarg, "docker-archive"))
				o.docker_archive = 1;
			else if (strcmp(optarg, "oci"))
				return cli_usage_error("convert", "--output-format takes oci or docker-archive, not '%s'", optarg);
			break;
		case OPT_JSON: o.json = 1; break;
		case OPT_DOCKERFILE: o.dockerfile = optarg; break;
		case OPT_STRATEGY:
			if (strcmp(optarg, "block") && strcmp(optarg, "file") && strcmp(optarg, "auto"))
				return cli_usage_error("convert", "--strategy takes block, file or auto, not '%s'", optarg);
			o.strategy = optarg;
			break;
		case OPT_SERVICE: o.runtime.service = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'h': fputs(convert_usage, stdout); return 0;
		case OPT_PUSH: o.push = optarg; break;
		default:
			if (cli_is_image_option(c)) {
				if ((rc = cli_image_option(&o, c, optarg, "convert")))
					return rc;
			} else if (c >= CLI_OPT_CREDS && c <= CLI_OPT_MOUNT_FROM) {
				if ((rc = cli_push_option(&o.push_opts, c, optarg, "convert")))
					return rc;
			} else if ((rc = cli_disk_policy_option(&o.policy, c, optarg, "convert"))) {
				return rc;
			}
			break;
		}
	}
	if (optind >= argc)
		return cli_usage_error("convert", "expected DISK");
	if ((rc = cli_image_finish(&o, "convert")))
		return rc;
	if (o.push && (rc = cli_push_check_ref("convert", o.push)))
		return rc;
	if (!o.out && !o.push)
		return cli_usage_error("convert", "-o OUT (or --push REF) is required");
	if (!o.out) {
		/* --push alone: the layout lives only until it is pushed */
		scratch = ut_asprintf("%s/vm2oci-push-XXXXXX", cli_tmpdir() ? cli_tmpdir() : "/tmp");
		if (!mkdtemp(scratch)) {
			rc = cli_error("%s: %s", scratch, strerror(errno));
			free(scratch);
			return rc;
		}
		cli_temp_track(scratch);
		o.out = ut_asprintf("%s/oci", scratch);
		o.scratch_out = 1;
	}
	if (o.sbom && o.docker_archive)
		return cli_usage_error("convert", "--sbom needs an OCI layout (a docker-archive holds no referrers)");
	o.disk = argv[optind];
	o.more_disks = cli_more_disks(argv + optind + 1, (size_t)(argc - optind - 1));
	o.nmore_disks = (size_t)(argc - optind - 1);
	cli_progress_init(&prog, o.quiet || o.json);
	rc = run_convert(&o, &prog);
	if (scratch) {
		ut_rm_rf(scratch);
		cli_temp_untrack(scratch);
		free((char *)o.out);
		free(scratch);
	}
	free((void *)o.more_disks);
	cli_image_release(&o);
	return rc;
}
