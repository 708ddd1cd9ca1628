/*
 * batch.h - `vm2oci batch`: a hypervisor's shut-off domains converted into
 * one shared OCI layout. Internal to cli/ (cmd_batch.c, batch_plan.c,
 * batch_run.c).
 *
 *   the domains (libvirt, or one entry of a plan file)
 *     -> a plan per domain: tag, disks, refusal or failure known up front
 *     -> identity of its disks; a tag already holding that identity is kept
 *     -> worker processes, each converting one domain into the layout
 *     -> a record per domain, the fleet's totals
 */
#ifndef VM2OCI_BATCH_H
#define VM2OCI_BATCH_H

#include "cli.h"

#include <stdio.h>
#include <sys/types.h>

/* Manifest annotations a batch writes: the domain, and what its disks were
 * (batch_identity) when the image was made. */
#define BATCH_ANN_DOMAIN "org.vm2oci.batch.domain"
#define BATCH_ANN_IDENTITY "org.vm2oci.batch.identity"

/* OCI's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
#define BATCH_TAG_MAX 128

/* The exit code when any selected domain failed or was refused. */
#define BATCH_EXIT_SOME_FAILED 3

enum batch_result {
	BATCH_PENDING,    /* to convert */
	BATCH_CONVERTED,
	BATCH_UP_TO_DATE, /* its tag holds an image of these very disks */
	BATCH_REFUSED,    /* live: running, paused, suspended, saved */
	BATCH_FAILED,     /* unreadable disk, corrupt image, worker died... */
};

/* One disk as a worker opens it: libvirt's path and driver format. */
struct batch_disk {
	char *target; /* "vda"; may be NULL in a hand-written plan */
	char *path;
	char *format; /* NULL: probe */
};

struct batch_domain {
	char *name;
	char *tag;
	char *tag_note;         /* why the tag is not the name; NULL when it is */
	char *state;            /* as virsh names it; "" from a plan */
	struct batch_disk *disks;
	size_t ndisks;
	char **allow;           /* backing files the definition declares */
	size_t nallow;
	enum batch_result result;
	char *reason;           /* one line: why refused, failed, up to date */
	char *identity;         /* batch_identity's JSON; NULL until computed */
	struct convert_result conv;
	char **warnings;        /* the worker's warning lines */
	size_t nwarnings;
	uint64_t image_bytes;   /* manifest + config + layers of its tag */
	char *sbom_tag;         /* --sbom: its referrer's tag and manifest digest */
	char *sbom_digest;      /* in the layout (NULL when not found) */
	double seconds;
	/* while a worker runs it */
	pid_t pid;
	FILE *errf, *resf;      /* the worker's stderr and its result line */
	double t_start;
};

/* ---- batch_plan.c ------------------------------------------------------- */

/* A valid OCI tag for a domain name (bytes outside the grammar become '-',
 * a leading '.' or '-' becomes '_', cut at 128). out has BATCH_TAG_MAX + 1. */
void batch_tag_of(const char *name, char *out);
/* Tags for doms (sorted by name; all the hypervisor's domains, so that a tag
 * does not depend on which were selected): a name that is a valid tag keeps
 * it; the others get the tag of batch_tag_of, suffixed -2, -3... when taken,
 * with tag_note saying so. */
void batch_assign_tags(struct batch_domain *doms, size_t n);
/* Every domain libvirt knows at uri, as batch records: refused when live,
 * failed when a disk is not readable or there is none. */
int batch_from_libvirt(const char *uri, struct batch_domain **out, size_t *n,
		       struct ut_err *err);
/* Entry index (0-based line) of a plan file written by batch_write_plan;
 * *options its "convert_options" (a new reference; NULL in a plan written
 * before they were recorded), *strategy its "strategy" (block, file or auto;
 * NULL when the line has none). */
int batch_from_plan(const char *path, long index, struct batch_domain **out, char **base,
		    char **strategy, json_t **options, struct ut_err *err);
/* One JSON line per pending domain into f: domain, tag, disks, allow, base,
 * strategy and convert_options (cli_image_args: the image options every
 * entry is converted with). */
int batch_write_plan(FILE *f, const struct batch_domain *doms, size_t n, const char *base,
		     const char *strategy, const json_t *options, struct ut_err *err);
/*
 * The identity of d's image as a compact JSON string (heap): for every
 * image of each disk's chain, its path, size, mtime and the sha256 of its
 * first 64 KiB (the qcow2/vmdk header and tables), the base spec, the
 * image options (cli_image_args; left out when there are none) and
 * rules_sha256 (batch_rules_sha256; NULL: none). A rerun that finds the same
 * string under the tag has nothing to redo.
 */
int batch_identity(const struct batch_domain *d, const char *base, const json_t *options,
		   const char *rules_sha256, const struct dr_file_policy *policy, char **out,
		   struct ut_err *err);
/* The sha256 (hex, heap) of the contents of x's --filter-from files in
 * order, which the arguments name only by path; *out NULL when there are
 * none. */
int batch_rules_sha256(const struct cli_excludes *x, char **out, struct ut_err *err);
/* Why an image of identity was is not one of now, one line (heap): "base
 * changed", "disks changed", "options changed: NOW, was WAS"; NULL when
 * they differ in nothing named. */
char *batch_identity_change(const char *was, const char *now);
void batch_domain_release(struct batch_domain *d);
const char *batch_result_name(enum batch_result r);

/* ---- batch_run.c -------------------------------------------------------- */

struct batch_run {
	const char *out;             /* the layout */
	struct convert_opts conv;    /* what every domain shares (base, compression...) */
	int jobs;
	int progress;                /* a line per domain on stderr */
};

/* --push: the image tagged tag (manifest_digest) to REPO:TAG, then with
 * --sbom its SBOM referrer under its own tag; prints its error. 0 or -1. */
int batch_push_domain(const struct batch_run *run, const char *tag, const char *manifest_digest);
/* Converts every pending domain of doms, jobs at a time, each in a worker
 * process, into run->out (which must exist: batch_layout_ensure). */
int batch_run_workers(struct batch_run *run, struct batch_domain *doms, size_t n);
/* run->out as an OCI layout, made empty when missing (another batch may make
 * it at the same moment: then theirs is used). */
int batch_layout_ensure(const char *dir, struct ut_err *err);

#endif
