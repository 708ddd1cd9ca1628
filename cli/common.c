/*
 * common.c - error printing and terminal progress for the subcommands.
 */
#include "cli.h"
#include "diskread.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An error is one line: guest names in it (a file called "a\nb", an ESC
 * sequence, bytes that are not UTF-8) are escaped before they reach a terminal
 * or a log. */
int cli_error(const char *fmt, ...)
{
	struct ut_buf msg, line;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ut_buf_init(&msg, 0);
	ut_buf_init(&line, 0);
	if (n >= 0 && ut_buf_grow(&msg, (size_t)n + 1, NULL) == 0) {
		va_start(ap, fmt);
		vsnprintf((char *)msg.data, (size_t)n + 1, fmt, ap);
		va_end(ap);
		if (ut_buf_add_escaped(&line, (char *)msg.data, 0, NULL) == 0 &&
		    ut_buf_add(&line, "", 1, NULL) == 0)
			fprintf(stderr, "vm2oci: %s\n", (char *)line.data);
	}
	ut_buf_release(&msg);
	ut_buf_release(&line);
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vm2oci %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vm2oci %s --help'.\n", cmd);
	return 2;
}

int cli_error_at(const char *file, const struct ut_err *err)
{
	size_t len = strlen(file);

	if (!strncmp(err->msg, file, len) && err->msg[len] == ':')
		return cli_error("%s", err->msg);
	return cli_error("%s: %s", file, err->msg);
}

int cli_parse_long(const char *cmd, const char *opt, const char *arg, long min, long max,
		   long *out, int *rc)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		*rc = cli_usage_error(cmd, "%s takes a number from %ld to %ld, not '%s'", opt, min,
				      max, arg);
		return -1;
	}
	*out = v;
	return 0;
}

void cli_progress_init(struct cli_progress *p, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->start = ut_now();
}

/* Phases that count bytes; the others count files or steps. */
static int counts_bytes(const char *phase)
{
	return !strcmp(phase, "layer") || !strcmp(phase, "hash blocks") ||
	       !strncmp(phase, "push ", 5);
}

static void fmt_count(const char *phase, uint64_t n, char *out, size_t len)
{
	if (counts_bytes(phase))
		ut_human_size(n, out, len);
	else
		snprintf(out, len, "%" PRIu64, n);
}

/*
 * One line that redraws: the phase, what is done of what is planned, the rate
 * and the time left, e.g. "layer: 412.3 MiB / 1.24 GiB (33%), 180.2 MiB/s,
 * 0:05 left". The rate is the phase's own, since its start.
 */
static void progress_update(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;
	double now = ut_now(), secs;
	char d[32], t[32], r[32];
	int same = !strncmp(p->phase, phase, sizeof(p->phase) - 1);

	if (!p->enabled)
		return;
	if (!same)
		p->phase_start = now;
	/* Redraw at most ten times a second, and whenever the phase changes. */
	else if (now - p->last < 0.1)
		return;
	snprintf(p->phase, sizeof(p->phase), "%s", phase);
	p->last = now;
	secs = now - p->phase_start;
	fmt_count(phase, done, d, sizeof(d));
	fmt_count(phase, secs > 0 ? (uint64_t)((double)done / secs) : 0, r, sizeof(r));
	if (total && done <= total) {
		double rate = secs > 0.5 ? (double)done / secs : 0;

		fmt_count(phase, total, t, sizeof(t));
		fprintf(stderr, "\r\033[K%s: %s / %s (%.0f%%), %s/s", phase, d, t,
			100.0 * (double)done / (double)total, r);
		if (rate > 0) {
			uint64_t left = (uint64_t)((double)(total - done) / rate + 0.5);

			fprintf(stderr, ", %" PRIu64 ":%02" PRIu64 " left", left / 60, left % 60);
		}
	} else {
		fprintf(stderr, "\r\033[K%s: %s, %s/s", phase, d, r);
	}
	fflush(stderr);
}

struct ut_progress cli_progress_hook(struct cli_progress *p)
{
	struct ut_progress h = { progress_update, p };

	return h;
}

/* Clears the line (the commands print their own summary). */
void cli_progress_done(struct cli_progress *p)
{
	if (p->enabled && p->phase[0])
		fputs("\r\033[K", stderr);
	p->phase[0] = '\0';
}

const char *cli_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp && *tmp ? tmp : NULL;
}

uint64_t cli_parse_size(const char *arg)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift;

	if (!*arg || *arg == '-')
		return 0;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg)
		return 0;
	if (!*end)
		return v;
	u = end[1] ? NULL : strchr(units, end[0] & ~0x20);
	if (!u || !*u)
		return 0;
	shift = 10 * (int)(u - units + 1);
	if (v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

int cli_disk_policy_option(struct cli_disk_policy *p, int c, const char *arg, const char *cmd)
{
	switch (c) {
	case CLI_OPT_BACKING_DIR:
		if (p->ndirs == CLI_MAX_BACKING_DIRS)
			return cli_usage_error(cmd, "at most %d --backing-dir options",
					       CLI_MAX_BACKING_DIRS);
		p->dirs[p->ndirs++] = arg;
		return 0;
	case CLI_OPT_TRUST_BACKING:
		p->trust = 1;
		return 0;
	case CLI_OPT_MAX_FILE_SIZE:
		p->max_file_size = cli_parse_size(arg);
		if (!p->max_file_size)
			return cli_usage_error(cmd, "--max-file-size takes a size such as 4096, 64M or 2T, not '%s'",
					       arg);
		return 0;
	}
	return cli_usage_error(cmd, "unknown option");
}

void cli_disk_policy_apply(const struct cli_disk_policy *p, struct dr_disk_options *d)
{
	d->policy.allow = p->dirs;
	d->policy.nallow = p->ndirs;
	d->policy.trust = p->trust;
	d->max_file_size = p->max_file_size;
}
