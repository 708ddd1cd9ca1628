/*
 * batch_run.c - a batch's workers: one process per domain, -j at a time,
 * all writing into one layout.
 *
 * Processes, not threads: a domain's conversion opens libguestfs appliances,
 * libext2fs handles and compression thread pools, and a corrupt disk may
 * crash or exhaust memory in any of them; in a process of its own that
 * fails that domain only, and the kernel frees whatever it held. The layout
 * takes concurrent writers (image/oci_layout.c: blobs renamed in whole,
 * index.json merged under a lock), so nothing but a result line comes back.
 */
#include "batch.h"
#include "diskread.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int batch_layout_ensure(const char *dir, struct ut_err *err)
{
	struct img_layout *l = NULL;
	int tries;

	/* A new layout is renamed into place on commit; when another batch
	 * (a Slurm array's other task) got there first, theirs is opened. */
	for (tries = 0; tries < 2; tries++) {
		if (img_layout_open(dir, &l, err) < 0)
			return -1;
		if (img_layout_commit(l, err) == 0) {
			img_layout_free(l);
			return 0;
		}
		img_layout_free(l);
		l = NULL;
		if (access(dir, F_OK) < 0)
			return -1;
	}
	return -1;
}

/* The per-domain options: the shared ones, its disks, its tag and what its
 * definition allows to be read. */
static void domain_opts(const struct batch_run *run, const struct batch_domain *d,
			struct convert_opts *o, struct dr_disk_ref *more, const char **ann)
{
	size_t i;

	*o = run->conv;
	o->disk = d->disks[0].path;
	o->format = d->disks[0].format;
	for (i = 1; i < d->ndisks; i++) {
		more[i - 1].path = d->disks[i].path;
		more[i - 1].format = d->disks[i].format;
	}
	o->more_disks = more;
	o->nmore_disks = d->ndisks - 1;
	o->tag = d->tag;
	for (i = 0; i < d->nallow && o->policy.ndirs < CLI_MAX_BACKING_DIRS; i++)
		o->policy.dirs[o->policy.ndirs++] = d->allow[i];
	ann[0] = BATCH_ANN_DOMAIN;
	ann[1] = d->name;
	ann[2] = BATCH_ANN_IDENTITY;
	ann[3] = d->identity;
	o->annotations = ann;
	o->nannotations = 2;
}

static int push_tag(const struct batch_run *run, const char *tag)
{
	char *dst = cli_push_ref_with_tag(run->conv.push, tag);
	int rc = cli_push(&run->conv.push_opts, run->out, tag, (const char *const *)&dst, 1, NULL,
			  1, NULL);

	free(dst);
	return rc ? -1 : 0;
}

/* The SBOM after its subject, as convert --push does. */
int batch_push_domain(const struct batch_run *run, const char *tag, const char *manifest_digest)
{
	char *sbom_tag;
	int rc;

	if (!run->conv.push)
		return 0;
	if (push_tag(run, tag) < 0)
		return -1;
	if (!run->conv.sbom)
		return 0;
	sbom_tag = cli_sbom_tag(manifest_digest);
	rc = push_tag(run, sbom_tag);
	free(sbom_tag);
	return rc;
}

/* In the child: convert d, write the result line, exit. Never returns. */
static void worker(const struct batch_run *run, struct batch_domain *d, pid_t parent)
{
	struct dr_disk_ref *more = ut_calloc(d->ndisks, sizeof(*more));
	struct img_layout *layout = NULL;
	struct convert_result res;
	struct cli_progress prog;
	struct ut_err err = { { 0 } };
	struct convert_opts o;
	const char *ann[4];
	int rc = 1;

	/* A killed batch takes its workers with it: no conversion goes on
	 * unseen after a kill -9 of the batch. SIGTERM, so that the worker's
	 * handler (cli/signals.c) removes its temporaries first. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	if (dup2(fileno(d->errf), STDERR_FILENO) < 0)
		_exit(1);
	domain_opts(run, d, &o, more, ann);
	cli_progress_init(&prog, 1);
	if (img_layout_open(run->out, &layout, &err) < 0) {
		cli_error("%s", err.msg);
	} else if (cli_convert_into(&o, layout, &prog, &res) == 0 &&
		   batch_push_domain(run, d->tag, res.manifest_digest) == 0) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:f}", "manifest_digest",
				      res.manifest_digest, "strategy", res.strategy,
				      "strategy_reason", res.strategy_reason, "top_layer_bytes",
				      (json_int_t)res.top_layer_bytes, "seconds", res.seconds);

		if (j && json_dumpf(j, d->resf, JSON_COMPACT) == 0 && fflush(d->resf) == 0)
			rc = 0;
		json_decref(j);
	}
	img_layout_free(layout);
	fflush(stderr);
	_exit(rc);
}

/* The worker's stderr: warnings kept, the last other line is the reason. */
static void read_worker_stderr(struct batch_domain *d, char **last)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*last = NULL;
	rewind(d->errf);
	while ((len = getline(&line, &cap, d->errf)) > 0) {
		const char *w = "vm2oci: warning: ";

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!strncmp(line, w, strlen(w))) {
			d->warnings = ut_realloc(d->warnings,
						 (d->nwarnings + 1) * sizeof(*d->warnings));
			d->warnings[d->nwarnings++] = ut_strdup(line + strlen(w));
		} else if (strncmp(line, "vm2oci: strategy ", 17)) {
			free(*last);
			*last = ut_strdup(!strncmp(line, "vm2oci: ", 8) ? line + 8 : line);
		}
	}
	free(line);
}

static const char *str_or_empty(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void read_result(struct batch_domain *d)
{
	json_error_t je;
	json_t *j;

	rewind(d->resf);
	j = json_loadf(d->resf, 0, &je);
	snprintf(d->conv.manifest_digest, sizeof(d->conv.manifest_digest), "%s",
		 str_or_empty(j, "manifest_digest"));
	snprintf(d->conv.strategy, sizeof(d->conv.strategy), "%s",
		 str_or_empty(j, "strategy"));
	snprintf(d->conv.strategy_reason, sizeof(d->conv.strategy_reason), "%s",
		 str_or_empty(j, "strategy_reason"));
	d->conv.top_layer_bytes = (uint64_t)json_integer_value(json_object_get(j, "top_layer_bytes"));
	d->conv.seconds = json_real_value(json_object_get(j, "seconds"));
	json_decref(j);
}

/* A worker ended: its domain's record. */
static void finish(struct batch_domain *d, int status)
{
	char *last = NULL;

	d->seconds = ut_now() - d->t_start;
	read_worker_stderr(d, &last);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		d->result = BATCH_CONVERTED;
		read_result(d);
	} else {
		d->result = BATCH_FAILED;
		if (WIFSIGNALED(status))
			d->reason = ut_asprintf("the worker was killed by signal %d%s%s",
						WTERMSIG(status), last ? ": " : "",
						last ? last : "");
		else
			d->reason = last ? ut_strdup(last) : ut_strdup("the worker failed");
	}
	free(last);
	fclose(d->errf);
	fclose(d->resf);
	d->errf = d->resf = NULL;
	d->pid = 0;
}

static void progress_line(const struct batch_run *run, const struct batch_domain *d,
			  size_t done, size_t total)
{
	if (!run->progress)
		return;
	if (d->result == BATCH_CONVERTED)
		fprintf(stderr, "vm2oci: [%zu/%zu] %s: converted as %s in %.1f s (%s, top layer %llu bytes)%s%s\n",
			done, total, cli_name(d->name), d->tag, d->seconds, d->conv.strategy,
			(unsigned long long)d->conv.top_layer_bytes, d->reason ? ": " : "",
			d->reason ? d->reason : "");
	else
		fprintf(stderr, "vm2oci: [%zu/%zu] %s: failed: %s\n", done, total,
			cli_name(d->name), cli_name(d->reason));
}

static int start(const struct batch_run *run, struct batch_domain *d)
{
	pid_t parent = getpid();

	d->errf = tmpfile();
	d->resf = tmpfile();
	if (!d->errf || !d->resf) {
		d->result = BATCH_FAILED;
		d->reason = ut_asprintf("cannot make the worker's files: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	d->t_start = ut_now();
	d->pid = fork();
	if (d->pid < 0) {
		d->result = BATCH_FAILED;
		d->reason = ut_asprintf("cannot start a worker: %s", strerror(errno));
		d->pid = 0;
		return -1;
	}
	if (d->pid == 0)
		worker(run, d, parent);
	return 0;
}

int batch_run_workers(struct batch_run *run, struct batch_domain *doms, size_t n)
{
	size_t next = 0, running = 0, done = 0, total = 0, i;

	for (i = 0; i < n; i++)
		total += doms[i].result == BATCH_PENDING;
	while (done < total) {
		int status;
		pid_t pid;

		while (running < (size_t)run->jobs && next < n) {
			struct batch_domain *d = &doms[next++];

			if (d->result != BATCH_PENDING)
				continue;
			if (start(run, d) < 0) {
				progress_line(run, d, ++done, total);
				continue;
			}
			running++;
		}
		if (!running)
			break;
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return cli_error("batch: waiting for the workers: %s", strerror(errno)), -1;
		}
		for (i = 0; i < n; i++) {
			if (doms[i].pid != pid)
				continue;
			finish(&doms[i], status);
			running--;
			progress_line(run, &doms[i], ++done, total);
			break;
		}
	}
	return 0;
}
