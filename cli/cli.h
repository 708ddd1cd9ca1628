/*
 * cli.h - what the subcommands of the vm2oci binary share. Internal to cli/.
 */
#ifndef VM2OCI_CLI_H
#define VM2OCI_CLI_H

#include "util.h"

/* Each subcommand: argv[0] is its name. Returns the process exit code. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

/* Prints "vm2oci: <msg>" on stderr, one line; returns 1 (or 2 for usage). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress on a terminal: phase, bytes, rate; silent when stderr is not a
 * tty or when quiet. */
struct cli_progress {
	int enabled;
	double start, last;
	char phase[32];
};
void cli_progress_init(struct cli_progress *p, int quiet);
struct ut_progress cli_progress_hook(struct cli_progress *p);
void cli_progress_done(struct cli_progress *p);

#endif
