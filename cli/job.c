/*
 * job.c - the steps convert, diff and compare share: open the disk and walk
 * it, open the base and read its tree, diff, plan the layer.
 */
#include "cli.h"
#include "diskread.h"
#include "fsdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the disk's warnings from index from on; returns how many it has. */
static size_t print_warnings(const struct cli_job *j, const struct cli_job_options *o, size_t from)
{
	size_t nw, k;
	const char *const *w = dr_disk_warnings(j->disk, &nw);

	for (k = from; k < nw && o->warn; k++)
		fprintf(stderr, "vm2oci: warning: %s: %s\n", cli_name(o->disk), cli_name(w[k]));
	return nw;
}

/* The VM's tree: a walk, or the strategy o asks for. */
static int job_walk(struct cli_job *j, const struct cli_job_options *o, struct ut_progress *prog,
		    size_t told)
{
	struct ut_err err = { { 0 } };
	double mark = ut_now();

	ut_progress_update(prog, "walking the disk", 0, 0);
	if (cli_vm_tree(o->strategy ? o->strategy : "file", &j->base, j->disk, o->threads,
			&j->vm, &j->strategy, &err) < 0)
		return cli_error_at(o->disk, &err), -1;
	print_warnings(j, o, told); /* the walk may add some (a journal replayed) */
	j->t_walk = ut_now() - mark;
	return 0;
}

int cli_job_open(struct cli_job *j, const struct cli_job_options *o, struct ut_progress *prog)
{
	struct dr_disk_options dopt = { .format = o->disk_format, .progress = *prog,
					 .no_replay = o->no_replay, .tmpdir = cli_tmpdir() };
	struct ut_err err = { { 0 } };
	double mark = ut_now();
	size_t told;

	memset(j, 0, sizeof(*j));
	if (o->policy)
		cli_disk_policy_apply(o->policy, &dopt);
	if (o->skip) {
		dopt.skip_mounts = o->skip->paths;
		dopt.nskip_mounts = o->skip->n;
	}
	dopt.more_disks = o->more_disks;
	dopt.nmore_disks = o->nmore_disks;
	if (dr_disk_open(o->disk, &dopt, &j->disk, &err) < 0)
		return cli_error_at(o->disk, &err), -1;
	j->t_open = ut_now() - mark;
	told = print_warnings(j, o, 0);
	if (!o->strategy && job_walk(j, o, prog, told) < 0)
		return -1;

	mark = ut_now();
	j->have_base = 1; /* cli_base_open clears base first, even on failure */
	/* --skip-mount is about DISK, not a disk: base. */
	dopt.skip_mounts = NULL;
	dopt.nskip_mounts = 0;
	dopt.more_disks = NULL;
	dopt.nmore_disks = 0;
	if (cli_base_open(o->base, o->base_format, &dopt, &j->base, &err) < 0)
		return cli_base_error(&j->base, &err), -1;
	if (!o->no_base_tree || !cli_base_is_scratch(&j->base)) {
		ut_progress_update(prog, "reading the base", 0, 0);
		if (cli_base_tree(&j->base, &err) < 0)
			return cli_base_error(&j->base, &err), -1;
	}
	j->t_base = ut_now() - mark;
	/* The block strategy builds on the base's tree. */
	if (o->strategy && job_walk(j, o, prog, told) < 0)
		return -1;
	return 0;
}

int cli_job_diff(struct cli_job *j, const struct cli_job_options *o, const struct ut_tree *upper)
{
	struct ut_err err = { { 0 } };
	double mark = ut_now();

	o->diff->upper = upper;
	if (fsd_diff(j->base.tree, j->vm, o->diff, &j->diff, &err) < 0 ||
	    fsd_layer_plan(j->diff, &j->items, &j->nitems, &err) < 0) {
		o->diff->upper = NULL;
		cli_error("%s: diff against %s: %s", o->disk, o->base, err.msg);
		return -1;
	}
	o->diff->upper = NULL;
	j->t_diff = ut_now() - mark;
	return 0;
}

int cli_job_run(struct cli_job *j, const struct cli_job_options *o, struct ut_progress *prog)
{
	if (cli_job_open(j, o, prog) < 0)
		return -1;
	o->diff->progress = *prog;
	return cli_job_diff(j, o, NULL);
}

void cli_job_release(struct cli_job *j)
{
	free(j->items);
	fsd_result_free(j->diff);
	if (j->have_base)
		cli_base_release(&j->base);
	ut_tree_free(j->vm);
	dr_disk_free(j->disk);
	memset(j, 0, sizeof(*j));
}
