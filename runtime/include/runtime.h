/*
 * runtime.h - how a guest was configured to start: its init system, its
 * services (what each runs, as whom, where, with which environment, on
 * which ports) and its users and groups, read from a walked guest tree.
 *
 * Nothing from the guest is run: unit files, init scripts and daemon
 * configurations are parsed, every path is resolved inside the guest's root
 * (ut_tree_resolve: symlinks followed in the guest, never on the host), and
 * every file read is bounded (RT_FILE_MAX).
 *
 *   systemd  the default target (/etc/systemd/system/default.target, else the
 *            distribution's), the .wants/ and .requires/ links of
 *            /etc/systemd/system and /lib|/usr/lib/systemd/system, Wants= and
 *            Requires= followed from the default target; unit files with their
 *            drop-ins (UNIT.d/ *.conf, in name order, /etc over /lib);
 *            ExecStart (prefixes - @ : + ! stripped, $VAR and ${VAR}
 *            expanded as systemd does), User, Group, WorkingDirectory,
 *            Environment (quoted words), EnvironmentFile (read from the guest),
 *            RuntimeDirectory; socket units' ListenStream and ListenDatagram;
 *            masks (links to /dev/null) and aliases. "enabled" is what
 *            `systemctl is-enabled` says "enabled" to: a link to the unit (or
 *            to its template) in a .wants/ or .requires/ folder under /etc.
 *   SysV     /etc/inittab's default runlevel (initdefault), the S links of
 *            /etc/rc.d/rcN.d or /etc/rcN.d; the daemon a script names in
 *            DAEMON= (with DAEMON_ARGS/DAEMON_OPTS) or exec=.
 *   OpenRC   /etc/runlevels/default (and boot, sysinit); command=,
 *            command_args=, command_user=, directory= of the init script.
 *   ports    socket units (source "socket"), the configuration of known
 *            daemons (source "config": sshd Port, apache Listen with its
 *            ports.conf and enabled sites, nginx listen, postgresql port, redis
 *            port, mysql port), a known daemon's port option on its command
 *            line (source "exec": busybox httpd -p).
 *   users    /etc/passwd and /etc/group.
 *
 * Conventions as in util.h; every _free() accepts NULL. The structs are
 * filled by this module and read by callers.
 */
#ifndef VM2OCI_RUNTIME_H
#define VM2OCI_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes read of any one configuration file. */
#define RT_FILE_MAX (1u << 20)

enum rt_init { RT_INIT_NONE, RT_INIT_SYSTEMD, RT_INIT_SYSV, RT_INIT_OPENRC };

/* "systemd", "sysv", "openrc", "none". */
const char *rt_init_name(enum rt_init init);

struct rt_port {
	uint16_t port;
	char proto[4];      /* "tcp" or "udp" */
	const char *source; /* "socket", "config" or "exec" (static) */
	char *file;         /* the guest file it was read from ("/etc/ssh/sshd_config") */
};

struct rt_service {
	char *name;   /* "apache2", "webapp", "echo.socket", "sshd" (OpenRC, SysV) */
	char *unit;   /* "apache2.service", "echo.socket"; the script's name for SysV/OpenRC */
	char *path;   /* the unit file or init script in the guest; NULL when missing */
	enum rt_init init;
	int enabled;  /* as the init system's tool says (systemctl is-enabled, rc links) */
	int masked;   /* systemd: linked to /dev/null */
	int at_boot;  /* started from the default target or runlevel */
	char *type;   /* systemd Type= ("simple", "forking", "notify"...), NULL when unset */
	char *kill_signal; /* systemd KillSignal= ("SIGQUIT"), NULL when unset */
	char *starts; /* a socket unit: the service it starts (Service=, or NAME.service,
		       * NAME@.service with Accept=yes) */
	char **exec;  size_t nexec;  /* ExecStart (or command=), expanded; none when unknown */
	char *user, *group, *workdir;
	char **env;   size_t nenv;   /* "KEY=VALUE", in the order they apply (later wins) */
	char **runtime_dirs; size_t nruntime_dirs; /* RuntimeDirectory=: "/run/sshd" */
	char **aliases; size_t naliases;           /* other names of the unit ("sshd.service") */
	struct rt_port *ports; size_t nports;
};

struct rt_user {
	char *name;
	uint32_t uid, gid;
	char *gecos, *home, *shell;
};

struct rt_group {
	char *name;
	uint32_t gid;
	char **members; size_t nmembers;
};

struct rt_info {
	enum rt_init init;
	char *init_path;   /* what runs as PID 1: "/lib/systemd/systemd" (/sbin/init resolved) */
	char *default_target; /* "graphical.target", runlevel "3", OpenRC "default"; may be NULL */
	struct rt_service *services; size_t nservices; /* sorted by name */
	struct rt_user *users; size_t nusers;          /* passwd order */
	struct rt_group *groups; size_t ngroups;       /* group order */
	char **warnings; size_t nwarnings;             /* what could not be read, one line each */
};

/*
 * Reads the start-up configuration of the guest tree t (sorted, with
 * content). Services are the units of /etc/systemd/system (files and the
 * links in its .wants/ and .requires/ folders), the init scripts of
 * SysV/OpenRC; a file that cannot be parsed is a warning, not an error.
 */
int rt_read(const struct ut_tree *t, struct rt_info **out, struct ut_err *err);
void rt_info_free(struct rt_info *info);

/* The service called name ("apache2", "apache2.service", an alias such as
 * "sshd") among info's, else read from the guest's unit search path (a unit
 * that is neither enabled nor in /etc); NULL when the guest has none. The
 * result is borrowed from info, which it may be appended to: pointers into
 * info->services taken before the call may move. */
const struct rt_service *rt_find_service(const struct ut_tree *t, struct rt_info *info,
					 const char *name, struct ut_err *err);

/* The network services: enabled, started at boot, with a port. Fills up to
 * max of them into out and returns how many there are. */
size_t rt_network_services(const struct rt_info *info, const struct rt_service **out, size_t max);

/* What an image's config needs to run something in the foreground. */
struct rt_command {
	char **argv; size_t argc;       /* Cmd */
	char *user;                     /* "webapp", "webapp:webapp", NULL: root */
	char *workdir;                  /* NULL: leave it */
	char **env; size_t nenv;        /* "KEY=VALUE", later wins */
	char **ports; size_t nports;    /* "8080/tcp" */
	char *stop_signal;              /* KillSignal= (systemd's SIGRTMIN+3); NULL: the default */
	char *how;                      /* one line: where argv came from */
};

/*
 * The command that runs s in the foreground the way its unit or script
 * would: ExecStart when the daemon stays in front, else the daemon's own
 * foreground form from a table of known daemons (apache2/httpd -DFOREGROUND
 * with /etc/apache2/envvars read for its environment, nginx -g 'daemon off;',
 * sshd -D, crond -n...). Runtime directories the init system would make are
 * made first (sh -c 'mkdir -p ... && exec "$@"'). Fails naming the service
 * when neither gives a command.
 */
int rt_service_command(const struct ut_tree *t, const struct rt_info *info,
		       const struct rt_service *s, struct rt_command *out, struct ut_err *err);
/* The guest's systemd as PID 1, as podman --systemd=always runs it: Cmd the
 * systemd binary, StopSignal SIGRTMIN+3, env container=oci. Fails when the
 * guest's init is not systemd. */
int rt_systemd_command(const struct rt_info *info, struct rt_command *out, struct ut_err *err);
void rt_command_release(struct rt_command *c);

#ifdef __cplusplus
}
#endif
#endif
