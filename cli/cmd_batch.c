/*
 * cmd_batch.c - vm2oci batch: the shut-off domains of a hypervisor into one
 * OCI layout, a tag per domain, the base's blobs stored once.
 *
 *   domains (libvirt, or one entry of a plan) -> refusals and failures known
 *   up front -> identities, up-to-date tags kept -> workers (batch_run.c)
 *   -> the table or the JSON records and the fleet's totals.
 */
#include "batch.h"
#include "diskread.h"
#include "packages.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char batch_usage[] =
	"usage: vm2oci batch --connect URI [--domain NAME]... -o DIR [options]\n"
	"       vm2oci batch --connect URI [--domain NAME]... --plan-out PLAN.jsonl\n"
	"       vm2oci batch --plan PLAN.jsonl [--index I] -o DIR [options]\n"
	"\n"
	"Converts every selected shut-off domain libvirt knows at URI into one OCI\n"
	"layout DIR, one image per domain tagged by its name (made a valid OCI tag:\n"
	"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}; a clash gets -2, -3..., reported). A\n"
	"domain's disks make one image, its fstab mounted across them. Running,\n"
	"paused, suspended and saved domains are refused by name (a live disk is not\n"
	"consistent); a network disk, a corrupt disk or any failed conversion fails\n"
	"that domain only. Blobs are shared: the base once, identical layers once.\n"
	"Each image's manifest records its disks' identity (path, size, mtime,\n"
	"digest of the header of every file of the chain), the base and the image\n"
	"options below: a rerun keeps a tag whose disks and options have not\n"
	"changed, so a killed batch is finished by running it again; a domain made\n"
	"again says why (\"options changed: ...\").\n"
	"\n"
	"  -c, --connect URI    libvirt URI (qemu:///system, test:///PATH/node.xml)\n"
	"  -d, --domain NAME    only this domain (repeatable; default: all)\n"
	"  -o, --output DIR     the OCI layout (made when missing)\n"
	"  -b, --base B         what every image builds on (default: scratch); see\n"
	"                       `vm2oci convert --help`. disk:TEMPLATE gives clones\n"
	"                       of the template the block strategy\n"
	"  -j, --jobs N         worker processes (default: the core count)\n"
	"      --strategy S     block, file or auto (default), per domain\n"
	"      --compress C     zstd (default), gzip or none\n"
	"      --level N        compression level (as convert)\n"
	"      --threads N      compression threads per worker (default: the cores\n"
	"                       divided among the workers)\n"
	"      --plan-out FILE  write one JSON line per domain to convert (domain,\n"
	"                       tag, disks with path and format, base, strategy, and\n"
	"                       convert_options: the image options below, --compress\n"
	"                       and --level as arguments) and convert nothing\n"
	"      --plan FILE      convert one entry of such a plan: --index I (from 0),\n"
	"                       else $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX.\n"
	"                       The plan's convert_options apply; image options on\n"
	"                       this command line must be none or the same (else a\n"
	"                       usage error). Its base and strategy apply unless\n"
	"                       --base or --strategy is given here\n"
	"      --json           per-domain records and fleet totals as JSON on stdout\n"
	"  -q, --quiet          no progress lines\n"
	"      --push docker://HOST[:PORT]/REPO\n"
	"                       push each domain's image as REPO:TAG (its tag) as it\n"
	"                       is done (a domain up to date is pushed too: only\n"
	"                       HEADs when the registry has it); the registry options\n"
	"                       are convert's (--creds, --tls-verify, --parallel...)\n"
	"      --gc             then remove the layout's unreferenced blobs (a replaced\n"
	"                       image's) and killed writers' temporaries, as `vm2oci gc\n"
	"                       DIR` does (waiting for other writers in DIR)\n"
	"\n"
	"Image options, as convert's, for every domain (--service, --tag,\n"
	"--output-format and --dockerfile are convert's only):\n"
	CLI_IMAGE_USAGE
	"\n"
	CLI_DISK_POLICY_USAGE
	"                      (backing files a domain's definition declares in\n"
	"                      <backingStore> may always be read)\n"
	"\n"
	"Exit: 0 every selected domain converted or up to date; 3 some domain\n"
	"failed or was refused (the others are done); 1 the batch could not run;\n"
	"2 usage.\n";

struct batch_opts {
	const char *uri, *out, *plan, *plan_out;
	const char **names;
	size_t nnames;
	long index;   /* -1: from the environment */
	int json, quiet, gc;
	int strategy_given;   /* --strategy on the command line: it beats the plan's */
	struct batch_run run;
	json_t *options;      /* run.conv's image options (cli_image_args) */
	json_t *plan_options; /* the plan line's: run.conv borrows its strings */
	char *rules_sha256;   /* batch_rules_sha256 */
};

/* Keeps the selected domains (all when no --domain) and frees the others. */
static int select_domains(struct batch_opts *o, struct batch_domain **doms, size_t *n)
{
	size_t i, k, kept = 0;

	for (k = 0; k < o->nnames; k++) {
		for (i = 0; i < *n && strcmp((*doms)[i].name, o->names[k]); i++)
			;
		if (i == *n)
			return cli_error("batch: %s: no domain '%s'", o->uri, cli_name(o->names[k])), -1;
	}
	for (i = 0; i < *n; i++) {
		int want = !o->nnames;

		for (k = 0; k < o->nnames && !want; k++)
			want = !strcmp((*doms)[i].name, o->names[k]);
		if (want)
			(*doms)[kept++] = (*doms)[i];
		else
			batch_domain_release(&(*doms)[i]);
	}
	*n = kept;
	return 0;
}

/* --index, else the array job's index from the environment. */
static int plan_index(struct batch_opts *o)
{
	static const char *const vars[] = { "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX" };
	size_t i;
	int rc;

	for (i = 0; o->index < 0 && i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v && cli_parse_long("batch", vars[i], v, 0, 1L << 30, &o->index, &rc) < 0)
			return -1;
	}
	if (o->index < 0)
		return cli_usage_error("batch", "--plan needs --index, $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX"), -1;
	return 0;
}

/* Each pending domain's identity; a tag already holding it is kept. */
static void check_up_to_date(struct batch_opts *o, struct batch_domain *doms, size_t n)
{
	struct dr_disk_options dopt = { 0 };
	size_t i, k;

	cli_disk_policy_apply(&o->run.conv.policy, &dopt);
	for (i = 0; i < n; i++) {
		struct batch_domain *d = &doms[i];
		struct dr_file_policy pol = dopt.policy;
		const char **allow = ut_calloc(pol.nallow + d->nallow + 1, sizeof(*allow));
		struct img_tag_info info;
		struct ut_err err = { { 0 } };
		int r;

		if (d->result != BATCH_PENDING) {
			free(allow);
			continue;
		}
		for (k = 0; k < pol.nallow; k++)
			allow[k] = pol.allow[k];
		for (k = 0; k < d->nallow; k++)
			allow[pol.nallow + k] = d->allow[k];
		pol.allow = allow;
		pol.nallow += d->nallow;
		r = batch_identity(d, o->run.conv.base, o->options, o->rules_sha256, &pol,
				   &d->identity, &err);
		free(allow);
		if (r < 0) {
			d->result = BATCH_FAILED;
			d->reason = ut_strdup(err.msg);
			continue;
		}
		r = img_layout_tag_info(o->out, d->tag, BATCH_ANN_IDENTITY, &info, &err);
		if (r < 0) {
			/* a tag that cannot be read is made again */
			d->warnings = ut_realloc(d->warnings, (d->nwarnings + 1) * sizeof(*d->warnings));
			d->warnings[d->nwarnings++] = ut_asprintf("its tag could not be read, so it is converted again: %s",
								  err.msg);
		} else if (r > 0 && info.annotation && !strcmp(info.annotation, d->identity)) {
			d->result = BATCH_UP_TO_DATE;
			d->reason = ut_asprintf("its tag holds an image of these disks (%s)",
						info.manifest.digest);
			snprintf(d->conv.manifest_digest, sizeof(d->conv.manifest_digest), "%s",
				 info.manifest.digest);
		} else if (r > 0) {
			/* made again: the record says why */
			d->reason = batch_identity_change(info.annotation ? info.annotation : "",
							  d->identity);
		}
		if (r > 0)
			img_tag_info_release(&info);
	}
}

/* --push: a domain whose tag is up to date goes to the registry too (a
 * push of what the registry has is HEADs only); a failed push fails it. */
static void push_up_to_date(struct batch_opts *o, struct batch_domain *doms, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct batch_domain *d = &doms[i];

		if (d->result != BATCH_UP_TO_DATE)
			continue;
		if (batch_push_domain(&o->run, d->tag, d->conv.manifest_digest) < 0) {
			d->result = BATCH_FAILED;
			free(d->reason);
			d->reason = ut_asprintf("up to date here, but the push to %s failed (see above)",
						o->run.conv.push);
		}
	}
}

static json_t *domain_json(const struct batch_domain *d, int sbom)
{
	json_t *o = json_object(), *disks = json_array(), *warnings = json_array();
	size_t i;

	cli_json_set_name(o, "domain", d->name);
	json_object_set_new(o, "tag", json_string(d->tag));
	if (d->tag_note)
		json_object_set_new(o, "tag_note", json_string(d->tag_note));
	json_object_set_new(o, "state", json_string(d->state));
	for (i = 0; i < d->ndisks; i++) {
		json_t *k = json_object();

		json_object_set_new(k, "target", d->disks[i].target ? cli_json_name(d->disks[i].target) : json_null());
		json_object_set_new(k, "path", d->disks[i].path ? cli_json_name(d->disks[i].path) : json_null());
		json_object_set_new(k, "format", d->disks[i].format ? json_string(d->disks[i].format) : json_null());
		json_array_append_new(disks, k);
	}
	json_object_set_new(o, "disks", disks);
	json_object_set_new(o, "result", json_string(batch_result_name(d->result)));
	if (d->reason)
		json_object_set_new(o, "reason", cli_json_name(d->reason));
	if (d->result == BATCH_CONVERTED) {
		json_object_set_new(o, "strategy", json_string(d->conv.strategy));
		json_object_set_new(o, "strategy_reason", json_string(d->conv.strategy_reason));
		json_object_set_new(o, "seconds", json_real(d->seconds));
		json_object_set_new(o, "diff_layer_bytes", json_integer((json_int_t)d->conv.top_layer_bytes));
		json_object_set_new(o, "manifest_digest", json_string(d->conv.manifest_digest));
	}
	if (d->result == BATCH_CONVERTED || d->result == BATCH_UP_TO_DATE)
		json_object_set_new(o, "image_bytes", json_integer((json_int_t)d->image_bytes));
	/* as convert --json has it */
	if (d->sbom_digest)
		json_object_set_new(o, "sbom", json_pack("{s:s, s:s, s:s, s:s}", "artifact_type",
			pkg_sbom_media_type((enum pkg_sbom_format)sbom), "manifest_digest",
			d->sbom_digest, "subject", d->conv.manifest_digest, "tag", d->sbom_tag));
	for (i = 0; i < d->nwarnings; i++)
		json_array_append_new(warnings, cli_json_name(d->warnings[i]));
	json_object_set_new(o, "warnings", warnings);
	return o;
}

struct totals {
	size_t count[BATCH_FAILED + 1];
	uint64_t blob_bytes, image_bytes;
	double seconds;
	int gc_ran;
	struct img_gc_result gc; /* --gc's */
};

static void print_json(const struct batch_opts *o, const struct batch_domain *doms, size_t n,
		       const struct totals *t)
{
	json_t *root = json_object(), *jd = json_array(), *skipped = json_array(), *tot;
	size_t i;

	for (i = 0; i < n; i++) {
		json_array_append_new(jd, domain_json(&doms[i], o->run.conv.sbom));
		if (doms[i].result == BATCH_UP_TO_DATE || doms[i].result == BATCH_REFUSED) {
			json_t *s = json_object();

			cli_json_set_name(s, "domain", doms[i].name);
			json_object_set_new(s, "reason", cli_json_name(doms[i].reason));
			json_array_append_new(skipped, s);
		}
	}
	json_object_set_new(root, "uri", o->uri ? json_string(o->uri) : json_null());
	json_object_set_new(root, "plan", o->plan ? json_string(o->plan) : json_null());
	json_object_set_new(root, "output", json_string(o->out));
	json_object_set_new(root, "base", json_string(o->run.conv.base));
	json_object_set_new(root, "convert_options", json_incref(o->options));
	json_object_set_new(root, "jobs", json_integer(o->run.jobs));
	json_object_set_new(root, "domains", jd);
	tot = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:f}", "domains", (json_int_t)n,
			"converted", (json_int_t)t->count[BATCH_CONVERTED], "up_to_date",
			(json_int_t)t->count[BATCH_UP_TO_DATE], "refused",
			(json_int_t)t->count[BATCH_REFUSED], "failed",
			(json_int_t)t->count[BATCH_FAILED], "skipped", skipped, "blob_bytes",
			(json_int_t)t->blob_bytes, "image_bytes_sum", (json_int_t)t->image_bytes,
			"seconds", t->seconds);
	json_object_set_new(tot, "gc", !t->gc_ran ? json_null() :
		json_pack("{s:I, s:I, s:I, s:I, s:I}", "removed_blobs",
			  (json_int_t)t->gc.removed_blobs, "removed_bytes",
			  (json_int_t)t->gc.removed_bytes, "temporaries",
			  (json_int_t)t->gc.removed_temps, "temporary_bytes",
			  (json_int_t)t->gc.removed_temp_bytes, "referrers",
			  (json_int_t)t->gc.dropped_referrers));
	json_object_set_new(root, "totals", tot);
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(root);
}

static void print_table(const struct batch_domain *doms, size_t n, const struct totals *t)
{
	size_t i;

	printf("%-24s %-12s %5s %-8s %8s %14s  %s\n", "DOMAIN", "STATE", "DISKS", "STRATEGY",
	       "SECONDS", "DIFF BYTES", "RESULT");
	for (i = 0; i < n; i++) {
		const struct batch_domain *d = &doms[i];
		int conv = d->result == BATCH_CONVERTED;
		char secs[32] = "-", bytes[32] = "-";

		if (conv) {
			snprintf(secs, sizeof(secs), "%.1f", d->seconds);
			snprintf(bytes, sizeof(bytes), "%" PRIu64, d->conv.top_layer_bytes);
		}
		printf("%-24s %-12s %5zu %-8s %8s %14s  %s%s%s%s%s\n", cli_name(d->name),
		       *d->state ? d->state : "-", d->ndisks, conv ? d->conv.strategy : "-", secs,
		       bytes, batch_result_name(d->result), conv ? " as " : "", conv ? d->tag : "",
		       d->reason ? ": " : "", d->reason ? cli_name(d->reason) : "");
		if (d->tag_note)
			printf("%-24s   tag: %s\n", "", d->tag_note);
	}
	printf("%zu domain%s: %zu converted, %zu up to date, %zu refused, %zu failed; blobs/ holds %" PRIu64
	       " bytes for %" PRIu64 " bytes of images (%.2fx) in %.1f s\n",
	       n, n == 1 ? "" : "s", t->count[BATCH_CONVERTED], t->count[BATCH_UP_TO_DATE],
	       t->count[BATCH_REFUSED], t->count[BATCH_FAILED], t->blob_bytes, t->image_bytes,
	       t->blob_bytes ? (double)t->image_bytes / (double)t->blob_bytes : 0.0, t->seconds);
	if (t->gc_ran)
		printf("gc: removed %" PRIu64 " unreferenced blobs (%" PRIu64 " bytes), %" PRIu64
		       " temporaries, %" PRIu64 " referrers of replaced images\n",
		       t->gc.removed_blobs, t->gc.removed_bytes, t->gc.removed_temps,
		       t->gc.dropped_referrers);
}

/* Image sizes of the domains' tags and the layout's stored bytes. */
static void totals(const struct batch_opts *o, struct batch_domain *doms, size_t n,
		   struct totals *t)
{
	struct ut_err err = { { 0 } };
	size_t i;

	for (i = 0; i < n; i++) {
		struct img_tag_info info;

		t->count[doms[i].result]++;
		if (doms[i].result != BATCH_CONVERTED && doms[i].result != BATCH_UP_TO_DATE)
			continue;
		if (img_layout_tag_info(o->out, doms[i].tag, NULL, &info, &err) == 1) {
			doms[i].image_bytes = info.image_bytes;
			t->image_bytes += info.image_bytes;
			img_tag_info_release(&info);
		}
		/* The SBOM referrer, also of a domain that was up to date. */
		if (o->run.conv.sbom && *doms[i].conv.manifest_digest) {
			doms[i].sbom_tag = cli_sbom_tag(doms[i].conv.manifest_digest);
			if (img_layout_tag_info(o->out, doms[i].sbom_tag, NULL, &info, &err) == 1) {
				doms[i].sbom_digest = ut_strdup(info.manifest.digest);
				img_tag_info_release(&info);
			}
		}
	}
	if (img_layout_blob_bytes(o->out, &t->blob_bytes, &err) < 0)
		cli_error("%s", err.msg);
}

/* The plan's image options into o->run.conv: the command line gives none,
 * or the same. 0 or the exit code. */
static int plan_image_options(struct batch_opts *o, const json_t *plan)
{
	json_t *cmdline = cli_image_args(&o->run.conv);
	char *a, *b;
	int rc = 0;

	if (json_array_size(cmdline) && !json_equal(cmdline, plan)) {
		a = cli_image_args_text(plan);
		b = cli_image_args_text(cmdline);
		rc = cli_usage_error("batch", "%s, entry %ld: the plan's image options are %s, the command line's %s: give them in one place",
				     o->plan, o->index, a, b);
		free(a);
		free(b);
	} else if (!json_array_size(cmdline)) {
		rc = cli_image_apply_args(&o->run.conv, plan, "batch");
	}
	json_decref(cmdline);
	return rc;
}

static int run_batch(struct batch_opts *o)
{
	struct batch_domain *doms = NULL;
	struct ut_err err = { { 0 } };
	struct totals t = { { 0 } };
	char *plan_base = NULL, *plan_strategy = NULL;
	json_t *plan_options = NULL;
	size_t n = 0, i;
	double t0 = ut_now();
	int rc = 1;

	if (o->plan) {
		if (plan_index(o) < 0) {
			rc = 2;
			goto out;
		}
		if (batch_from_plan(o->plan, o->index, &doms, &plan_base, &plan_strategy,
				    &plan_options, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		n = 1;
		if (plan_options && (rc = plan_image_options(o, plan_options)))
			goto out;
		rc = 1;
		if (!o->run.conv.base)
			o->run.conv.base = plan_base ? plan_base : "scratch";
		if (!o->strategy_given && plan_strategy)
			o->run.conv.strategy = plan_strategy;
	} else {
		if (batch_from_libvirt(o->uri, &doms, &n, &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		if (select_domains(o, &doms, &n) < 0)
			goto out;
	}
	if (!o->run.conv.base)
		o->run.conv.base = "scratch";
	o->options = cli_image_args(&o->run.conv);
	if (batch_rules_sha256(&o->run.conv.excludes, &o->rules_sha256, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (o->plan_out) {
		FILE *f = fopen(o->plan_out, "w");

		if (!f || batch_write_plan(f, doms, n, o->run.conv.base, o->run.conv.strategy,
					   o->options, &err) < 0) {
			cli_error("%s: %s", o->plan_out, f ? err.msg : strerror(errno));
			if (f)
				fclose(f);
			goto out;
		}
		if (fclose(f) != 0) {
			cli_error("%s: %s", o->plan_out, strerror(errno));
			goto out;
		}
		for (i = 0; i < n; i++)
			if (doms[i].result != BATCH_PENDING && !o->quiet)
				fprintf(stderr, "vm2oci: %s: not planned: %s\n", cli_name(doms[i].name),
					cli_name(doms[i].reason));
		rc = 0;
		goto out;
	}
	for (i = 0; i < n && !o->quiet; i++)
		if (doms[i].tag_note)
			fprintf(stderr, "vm2oci: %s: %s\n", cli_name(doms[i].name), doms[i].tag_note);
	if (batch_layout_ensure(o->out, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	check_up_to_date(o, doms, n);
	if (o->run.conv.push)
		push_up_to_date(o, doms, n);
	if (batch_run_workers(&o->run, doms, n) < 0)
		goto out;
	/* --gc: after the workers, before the totals count what blobs/ holds. */
	if (o->gc && img_layout_gc(o->out, NULL, &t.gc, &err) < 0)
		cli_error("%s", err.msg);
	else
		t.gc_ran = o->gc;
	t.seconds = ut_now() - t0;
	totals(o, doms, n, &t);
	if (o->json)
		print_json(o, doms, n, &t);
	else
		print_table(doms, n, &t);
	rc = t.count[BATCH_FAILED] || t.count[BATCH_REFUSED] ? BATCH_EXIT_SOME_FAILED : 0;
	if (o->gc && !t.gc_ran)
		rc = 1;
out:
	img_gc_result_release(&t.gc);
	for (i = 0; i < n; i++)
		batch_domain_release(&doms[i]);
	free(doms);
	free(plan_base);
	free(plan_strategy);
	/* after run's options, whose strings it holds */
	o->plan_options = plan_options;
	return rc;
}

int cmd_batch(int argc, char **argv)
{
	enum { OPT_STRATEGY = 256, OPT_THREADS, OPT_PLAN_OUT, OPT_PLAN, OPT_INDEX, OPT_JSON,
	       OPT_PUSH, OPT_GC };
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "domain", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "strategy", required_argument, NULL, OPT_STRATEGY },
		{ "compress", required_argument, NULL, CLI_OPT_COMPRESS },
		{ "level", required_argument, NULL, CLI_OPT_LEVEL },
		CLI_IMAGE_LONGOPTS,
		CLI_EXCLUDES_LONGOPTS,
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "plan-out", required_argument, NULL, OPT_PLAN_OUT },
		{ "plan", required_argument, NULL, OPT_PLAN },
		{ "index", required_argument, NULL, OPT_INDEX },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		CLI_DISK_POLICY_LONGOPTS,
		{ "push", required_argument, NULL, OPT_PUSH },
		{ "gc", no_argument, NULL, OPT_GC },
		CLI_PUSH_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct batch_opts o = { .index = -1 };
	struct convert_opts *cv = &o.run.conv;
	long cores = sysconf(_SC_NPROCESSORS_ONLN), num;
	int c, rc, threads_set = 0;

	if (cores < 1)
		cores = 1;
	o.run.jobs = (int)cores;
	cv->strategy = "auto";
	cv->layer.compress = IMG_COMPRESS_ZSTD;
	cv->diff.move_min_size = 1 << 20;
	cli_push_opts_init(&cv->push_opts);
	while ((c = getopt_long(argc, argv, "hc:d:o:b:j:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.uri = optarg; break;
		case 'd':
			o.names = ut_realloc(o.names, (o.nnames + 1) * sizeof(*o.names));
			o.names[o.nnames++] = optarg;
			break;
		case 'o': o.out = optarg; break;
		case 'b': cv->base = optarg; break;
		case 'j':
			if (cli_parse_long("batch", "--jobs", optarg, 1, 256, &num, &rc) < 0)
				goto usage;
			o.run.jobs = (int)num;
			break;
		case OPT_STRATEGY:
			if (strcmp(optarg, "block") && strcmp(optarg, "file") && strcmp(optarg, "auto")) {
				rc = cli_usage_error("batch", "--strategy takes block, file or auto, not '%s'", optarg);
				goto usage;
			}
			cv->strategy = optarg;
			o.strategy_given = 1;
			break;
		case OPT_THREADS:
			if (cli_parse_long("batch", "--threads", optarg, 0, 256, &num, &rc) < 0)
				goto usage;
			cv->layer.threads = (int)num;
			threads_set = 1;
			break;
		case OPT_PLAN_OUT: o.plan_out = optarg; break;
		case OPT_PLAN: o.plan = optarg; break;
		case OPT_INDEX:
			if (cli_parse_long("batch", "--index", optarg, 0, 1L << 30, &o.index, &rc) < 0)
				goto usage;
			break;
		case OPT_JSON: o.json = 1; break;
		case 'q': o.quiet = 1; break;
		case 'h': fputs(batch_usage, stdout); rc = 0; goto usage;
		case OPT_PUSH: cv->push = optarg; break;
		case OPT_GC: o.gc = 1; break;
		default:
			if (cli_is_image_option(c))
				rc = cli_image_option(cv, c, optarg, "batch");
			else if (c >= CLI_OPT_CREDS && c <= CLI_OPT_MOUNT_FROM)
				rc = cli_push_option(&cv->push_opts, c, optarg, "batch");
			else
				rc = cli_disk_policy_option(&cv->policy, c, optarg, "batch");
			if (rc)
				goto usage;
			break;
		}
	}
	rc = 2;
	if (optind != argc)
		rc = cli_usage_error("batch", "unexpected argument '%s'", argv[optind]);
	else if (!o.plan && !o.uri)
		rc = cli_usage_error("batch", "--connect URI (or --plan FILE) is required");
	else if (o.plan && (o.uri || o.plan_out || o.nnames))
		rc = cli_usage_error("batch", "--plan takes no --connect, --domain or --plan-out");
	else if (!o.plan_out && !o.out)
		rc = cli_usage_error("batch", "-o DIR is required");
	else if (o.gc && o.plan_out)
		rc = cli_usage_error("batch", "--gc takes -o DIR, not --plan-out");
	else if (cv->push && (rc = cli_push_check_ref("batch", cv->push)))
		;
	else
		rc = cli_image_finish(cv, "batch");
	if (rc)
		goto usage;
	/* The cores shared among the workers, unless told. */
	if (!threads_set)
		cv->layer.threads = (int)(cores / o.run.jobs > 1 ? cores / o.run.jobs : 1);
	o.run.out = o.out;
	o.run.progress = !o.quiet && isatty(STDERR_FILENO);
	rc = run_batch(&o);
usage:
	free(o.names);
	cli_image_release(cv);
	json_decref(o.options);
	json_decref(o.plan_options);
	free(o.rules_sha256);
	return rc;
}
