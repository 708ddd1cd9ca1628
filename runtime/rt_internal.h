/*
 * rt_internal.h - the parsers and guest access runtime/'s files share.
 * Internal to runtime/ (and its unit test).
 */
#ifndef VM2OCI_RT_INTERNAL_H
#define VM2OCI_RT_INTERNAL_H

#include "runtime.h"

/* ---- string vectors ----------------------------------------------------- */

struct rt_strv {
	char **v;
	size_t n;
};
void rt_strv_push(struct rt_strv *s, const char *str);
void rt_strv_release(struct rt_strv *s);
int rt_strv_has(const struct rt_strv *s, const char *str);

/* env is "KEY=VALUE" strings: sets key (replacing an earlier value). */
void rt_env_set(struct rt_strv *env, const char *kv);
/* The value of key, or NULL. */
const char *rt_env_get(const struct rt_strv *env, const char *key);

/* ---- the guest ---------------------------------------------------------- */

/* A whole guest file as text (NUL-terminated), at most RT_FILE_MAX bytes,
 * symlinks followed inside the guest: 1, 0 when missing, -1 with err. */
int rt_read_text(const struct ut_tree *t, const char *path, struct ut_buf *b, struct ut_err *err);
/* The names in a guest directory, sorted; 0 and none when it is missing. */
int rt_list_sorted(const struct ut_tree *t, const char *path, struct rt_strv *names);
/* 1 when path exists in the guest (symlinks followed). */
int rt_exists(const struct ut_tree *t, const char *path);

/* ---- systemd unit files ------------------------------------------------- */

struct rt_kv {
	char *section, *key, *value;
};

/* A unit file and its drop-ins, as assignments in the order read. */
struct rt_unit {
	struct rt_kv *kv;
	size_t n;
};

/* Appends text's assignments: [Section] headers, Key=Value (whitespace
 * around both trimmed), '#' and ';' comment lines, a backslash at a line's
 * end joining the next (with a space, comment lines in between skipped). */
void rt_unit_parse(struct rt_unit *u, const char *text);
void rt_unit_release(struct rt_unit *u);
/* The values of a list setting in order, an empty assignment clearing the
 * ones before it (as systemd does); borrowed from u. */
void rt_unit_list(const struct rt_unit *u, const char *section, const char *key,
		  struct rt_strv *out /* borrowed pointers: release with free(out->v) */);
/* The last value of a setting, NULL when unset or reset. */
const char *rt_unit_get(const struct rt_unit *u, const char *section, const char *key);

/* Splits a value into words the way systemd does: whitespace separates,
 * "..." and '...' quote (quotes removed), backslash escapes (\n \t \\ \"
 * \' \x.. as C). Appends to out; -1 on an unterminated quote. */
int rt_split_words(const char *s, struct rt_strv *out);

/* Environment=: quoted words "KEY=VALUE"; words without '=' are dropped. */
void rt_environment_parse(const char *value, struct rt_strv *env);
/* An EnvironmentFile: KEY=VALUE lines, '#'/';' comments, "..." (with C-like
 * escapes) or '...' quotes, backslash continuation; assignments set in env. */
void rt_envfile_parse(const char *text, struct rt_strv *env);
/* A shell file of plain assignments (apache's envvars, OpenRC scripts and
 * conf.d): [export] KEY=VALUE lines at any indentation, the value quoted or
 * not, $KEY and ${KEY} expanded from vars; every other line ignored. */
void rt_shell_assignments(const char *text, struct rt_strv *vars);

/* ExecStart= value: the prefixes (- @ : + !) stripped, words split, $VAR
 * (split into words) and ${VAR} (one word) expanded from env; with '@' the
 * second word (argv[0]) is dropped. -1 when empty or malformed. */
int rt_exec_parse(const char *value, const struct rt_strv *env, struct rt_strv *argv);

/* ---- ports (ports.c) ------------------------------------------------------ */

void rt_port_add(struct rt_service *s, unsigned port, const char *proto, const char *source,
		 const char *file);
/* A socket unit's Listen*= value ("8080", "0.0.0.0:53", "[::]:80"); 0 when
 * it is a path or not a port. */
unsigned rt_listen_port(const char *value);
/* The ports the configuration of s's daemon (by s's name or executable)
 * declares, added to s (source "config", or "exec" for a command-line port). */
void rt_daemon_ports(const struct ut_tree *t, struct rt_service *s);

/* A daemon vm2oci knows (daemons.c's table). */
struct rt_daemon {
	const char *names[4];    /* the service names it goes by */
	int stem;                /* names[] also match as "NAME@..." and "NAME-..." */
	const char *bins[3];     /* its executables; the first the guest has is run */
	const char *fg[4];       /* the arguments that keep it in the foreground */
	const char *envfile;     /* a shell file of exports its own wrapper reads */
	const char *dir_vars[3]; /* variables of envfile naming folders to make first */
	const char *dirs[2];     /* folders it needs made (its init system makes them) */
	void (*ports)(const struct ut_tree *t, struct rt_service *s);
};
/* s's daemon by its name or executable; NULL when not a known one. */
const struct rt_daemon *rt_daemon_find(const struct rt_service *s);

/* ---- init systems --------------------------------------------------------- */

void rt_service_release(struct rt_service *s);
struct rt_service *rt_service_new(struct rt_info *info, const char *name);
void rt_warn(struct rt_info *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int rt_systemd_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err);
/* A unit by name from the search path into a new service of info; NULL
 * when there is no such unit. */
struct rt_service *rt_systemd_load(const struct ut_tree *t, struct rt_info *info, const char *name,
				   struct ut_err *err);
int rt_sysv_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err);
int rt_openrc_read(const struct ut_tree *t, struct rt_info *info, struct ut_err *err);

#endif
