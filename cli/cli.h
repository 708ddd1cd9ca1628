/*
 * cli.h - what the subcommands of the vm2oci binary share. Internal to cli/.
 */
#ifndef VM2OCI_CLI_H
#define VM2OCI_CLI_H

#include "util.h"

/* Each subcommand: argv[0] is its name. Returns the process exit code. */
typedef int (*cli_cmd_fn)(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_packages(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_domains(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_gc(int argc, char **argv);

/* Prints "vm2oci: <msg>" on stderr, one line; returns 1 (or 2 for usage). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ---- guest names on output (names.c) ---- */

/* s escaped for a terminal or a log line (ut_escape_name); the string stays
 * valid for the next seven calls. */
const char *cli_name(const char *s);
struct json_t;
/* A JSON string for a guest name: never NULL, never drops the name. */
struct json_t *cli_json_name(const char *s);
/* obj[key] = the name; when it is not valid UTF-8 also obj[key_hex] = its bytes. */
void cli_json_set_name(struct json_t *obj, const char *key, const char *s);
/* Guest names OCI reads as whiteouts, in the VM's tree or a disk base's: an
 * error naming the first unless rename; with rename, *escape = 1 when the
 * layers must escape names and *label = the JSON map of renamed paths (the
 * caller frees it). */
int cli_whiteout_names(const struct ut_tree *vm, const char *disk, const struct ut_tree *base_disk,
		       int rename, int *escape, char **label, struct ut_err *err);

int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The one rule for errors: the module says what went wrong, the caller adds
 * the file once. Prints "vm2oci: FILE: <err>", leaving FILE out when the
 * message already starts with it (diskread names the disk, or the backing
 * file that failed, itself). Returns 1. */
int cli_error_at(const char *file, const struct ut_err *err);
/* A number option: the whole of arg, in [min, max], or a usage error (exit 2
 * through *rc). Returns 0 or -1. */
int cli_parse_long(const char *cmd, const char *opt, const char *arg, long min, long max,
		   long *out, int *rc);

/* "64M" -> 67108864: binary K/M/G/T suffixes; 0 on a malformed or zero size. */
uint64_t cli_parse_size(const char *arg);

/* Progress on a terminal: phase, bytes, rate; silent when stderr is not a
 * tty or when quiet. */
struct cli_progress {
	int enabled;
	double start, last;
	double phase_start;     /* when the current phase began: its rate and time left */
	char phase[32];
};
void cli_progress_init(struct cli_progress *p, int quiet);
struct ut_progress cli_progress_hook(struct cli_progress *p);
void cli_progress_done(struct cli_progress *p);

/* Where scratch files go: $TMPDIR, NULL when unset (each module then uses
 * its default: /tmp, /var/tmp for a base's layers). The modules never read
 * the environment; the CLI reads it here and passes the directory in. */
const char *cli_tmpdir(void);

/* ---- which files a disk may name (every command that opens disks) ------ */

struct dr_disk_options;

#define CLI_MAX_BACKING_DIRS 16
enum { CLI_OPT_BACKING_DIR = 0x1000, CLI_OPT_TRUST_BACKING, CLI_OPT_MAX_FILE_SIZE };
/* The longopts entries of --backing-dir, --trust-backing, --max-file-size. */
#define CLI_DISK_POLICY_LONGOPTS                                                  \
	{ "backing-dir", required_argument, NULL, CLI_OPT_BACKING_DIR },          \
	{ "trust-backing", no_argument, NULL, CLI_OPT_TRUST_BACKING },            \
	{ "max-file-size", required_argument, NULL, CLI_OPT_MAX_FILE_SIZE }
#define CLI_DISK_POLICY_USAGE                                                        \
	"  --backing-dir DIR   backing files and vmdk extents may also lie under DIR\n"   \
	"                      (repeatable; a file or device path allows exactly it)\n" \
	"  --trust-backing     follow backing files anywhere (not /dev, /proc, /sys)\n"  \
	"  --max-file-size N   refuse guest files larger than N (K/M/G/T suffixes;\n"    \
	"                      default: the size of the filesystem's device)\n"

/* The options above, as parsed; the strings are argv's. */
struct cli_disk_policy {
	const char *dirs[CLI_MAX_BACKING_DIRS];
	size_t ndirs;
	int trust;
	uint64_t max_file_size;
};
/* getopt's c (and optarg) for cmd: 0 when it was one of the options above,
 * else the exit code after the usage error (unknown option, bad value). */
int cli_disk_policy_option(struct cli_disk_policy *p, int c, const char *arg, const char *cmd);
/* Points d's policy and size limit at p (which must outlive d's use). */
void cli_disk_policy_apply(const struct cli_disk_policy *p, struct dr_disk_options *d);

/* ---- bases ------------------------------------------------------------- */

struct img_base;
struct dr_disk;
struct img_layer_options;
struct img_layer_result;

/* The kinds of base spec, parsed in one place (base.c's table). */
enum cli_base_kind {
	CLI_BASE_SCRATCH,        /* "scratch" */
	CLI_BASE_OCI,            /* "oci:DIR[:TAG]" */
	CLI_BASE_DOCKER_ARCHIVE, /* "docker-archive:FILE" */
	CLI_BASE_ROOTFS,         /* "rootfs:FILE.tar|DIR" */
	CLI_BASE_DISK,           /* "disk:FILE" */
};
/* spec's kind and what follows its prefix (borrowed from spec); -1 with
 * the known forms in err for anything else. */
int cli_base_parse(const char *spec, enum cli_base_kind *kind, const char **arg,
		   struct ut_err *err);

/*
 * What a conversion builds on. Image bases (scratch, oci:, docker-archive:,
 * rootfs:) come from the image module; "disk:FILE" (a template VM disk) is
 * composed here, since image knows nothing of disks: its whole tree becomes
 * one reproducible layer, so every clone of one template shares it.
 */
struct cli_tcache;

struct cli_base {
	char *spec;
	enum cli_base_kind kind;
	const char *arg;        /* spec after its prefix */
	struct img_base *img;   /* NULL for disk: */
	struct dr_disk *disk;   /* disk: bases */
	struct cli_tcache *cache; /* disk: bases, unless caching is off */
	struct ut_tree *tree;   /* filled by cli_base_tree */
};

/* dopt (may be NULL) gives disk: bases their file policy and size limit;
 * format overrides its format. */
int cli_base_open(const char *spec, const char *format, const struct dr_disk_options *dopt,
		  struct cli_base *b, struct ut_err *err);
/* The base's tree with content digests (empty for scratch). */
int cli_base_tree(struct cli_base *b, struct ut_err *err);
int cli_base_is_scratch(const struct cli_base *b);
/* Prints err of opening or reading b as "vm2oci: base SPEC: ...", naming
 * the base's file once. Returns 1. */
int cli_base_error(const struct cli_base *b, const struct ut_err *err);
void cli_base_release(struct cli_base *b);

/* The directory vm2oci caches base indexes in (created on demand), or NULL
 * when caching is off (VM2OCI_CACHE=off). Borrowed, static storage. */
const char *cli_cache_dir(void);
/* The same for another part of the cache (ROOT/name); static storage that
 * the next call reuses. */
const char *cli_cache_subdir(const char *name);

/* ---- strategy (strategy.c) ------------------------------------------- */

#include "blockdiff.h"
#include <jansson.h>

/* ---- the template cache (template_cache.c) ------------------------------ */

/*
 * What a disk:TEMPLATE base costs once, kept under cli_cache_subdir
 * ("templates")/KEY for later clones of the same template: its tree with
 * digests, its block-hash index, its base layer (record and blob). KEY is the
 * SHA-256 of the template's identity (real path, size, mtime, inode and head
 * digest of every file of its chain, no_replay, the file-size limit), which
 * is also stored and compared before use. Parts that do not load are said
 * once on stderr and rebuilt; the whole is bounded by
 * VM2OCI_TEMPLATE_CACHE_MAX (bytes, K/M/G; default 8 GiB), least recently
 * used templates out first.
 */
struct img_layout;
/* NULL when caching is off or the template has no identity (a device). */
struct cli_tcache *cli_tcache_open(struct dr_disk *d, int no_replay);
void cli_tcache_free(struct cli_tcache *c);
/* d's tree with digests: the cached one (reading content from d), else
 * walked and cached. c may be NULL. */
int cli_tcache_tree(struct cli_tcache *c, struct dr_disk *d, struct ut_tree **out,
		    struct ut_err *err);
/* The cached block-hash index (an empty set when none), and keeping a
 * (re)built one. */
void cli_tcache_hashes(struct cli_tcache *c, struct bd_hash_set *s);
void cli_tcache_put_hashes(struct cli_tcache *c, const struct bd_hash_set *s);
/* The base layer written with o under the exclusion rules (their label
 * text, NULL for none): 1 when the cache knows it and its blob is (now) in
 * l, with *res filled; else 0. */
int cli_tcache_layer(struct cli_tcache *c, const struct img_layer_options *o, const char *rules,
		     struct img_layout *l, struct img_layer_result *res);
/* Keeps the record of the layer just written into blob_dir, and its blob. */
void cli_tcache_put_layer(struct cli_tcache *c, const struct img_layer_options *o,
			  const char *rules, const char *blob_dir,
			  const struct img_layer_result *res);
/* {"enabled", "dir", "tree", "hashes", "layer"}: hit, miss or rebuilt
 * (hashes: unused when the disk had lineage). */
json_t *cli_tcache_json(const struct cli_tcache *c);
/* The cap in bytes, and removing the least recently used templates past it
 * (never c's own). */
uint64_t cli_tcache_cap(void);
void cli_tcache_trim(const struct cli_tcache *c);

struct cli_strategy {
	const char *requested; /* block, file or auto */
	const char *used;      /* block or file */
	char reason[512];      /* why that one, one line */
	struct bd_block_stats block;
};

/* The VM's tree by the requested strategy: block when it can be exact (the
 * base is a disk in disk's backing chain, ext filesystems of one geometry),
 * else a full walk, with the reason in s. Reads the base's tree first when
 * block is tried. threads: block hashing's (0: one per core). */
int cli_vm_tree(const char *requested, struct cli_base *base, struct dr_disk *disk,
		int threads, struct ut_tree **vm, struct cli_strategy *s, struct ut_err *err);
/* What --json says about it, the disk's bytes read included. */
json_t *cli_strategy_json(const struct cli_strategy *s, struct dr_disk *disk);

/* ---- guest trees as package sources ---------------------------------- */

struct pkg_source;

/* The entry path names, every symlink followed inside the guest; NULL when
 * missing (err set only on a real error, such as a link loop). */
const struct ut_entry *cli_tree_resolve(const struct ut_tree *t, const char *path,
					struct ut_err *err);
/* A pkg_source reading t (borrowed: t must outlive src, which needs no free). */
void cli_tree_source(const struct ut_tree *t, struct pkg_source *src);

struct pkg_db;
struct pkg_graph;

/* The package database of a walked guest tree; what names it in errors. */
int cli_tree_pkg_db(const struct ut_tree *t, const char *what, struct pkg_db **db,
		    struct ut_err *err);
/* The base's package database (NULL for scratch). */
int cli_base_pkg_db(struct cli_base *b, struct pkg_db **db, struct ut_err *err);

struct fsd_layer_item;

/* ---- layers (layers.c) --------------------------------------------------- */

/* SIGINT/SIGTERM remove the temporary paths tracked here (the image
 * module's, through its temp hooks, and the CLI's own) and exit 128+sig. */
void cli_signals_init(void);
void cli_temp_track(const char *path);
void cli_temp_untrack(const char *path);
/* A diff plan as one layer: whiteouts and the VM's entries in plan order. */
int cli_write_plan_layer(const char *blob_dir, const struct img_layer_options *opt,
			 const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
			 struct img_layer_result *res, struct ut_err *err);
/* The plan's layer written once per compression (none, gzip, zstd, in that
 * order) into scratch directories under $TMPDIR that are removed after. */
int cli_layer_sizes(const struct fsd_layer_item *items, size_t n, struct ut_tree *vm,
		    struct img_layer_result *res, struct ut_err *err);

/* Writes the Dockerfile at path and the diff tar beside it. */
int cli_write_dockerfile(const char *path, const char *base_spec, const struct pkg_db *db,
			 const size_t *roots, size_t nroots, const struct fsd_layer_item *items,
			 size_t nitems, struct ut_tree *vm, struct ut_err *err);
/* Removes what cli_write_dockerfile wrote (when a later step fails). */
void cli_remove_dockerfile(const char *path);

/* ---- the shared setup of convert, diff and compare (job.c) ------------- */

struct fsd_result;
struct fsd_options;

struct cli_job_options {
	const char *disk, *disk_format; /* DISK and its --format */
	const char *base, *base_format; /* BASE spec and --base-format */
	int no_base_tree;  /* a scratch base needs no tree (convert without a diff) */
	int warn;          /* print the disk's warnings on stderr */
	int no_replay;     /* dr_disk_options.no_replay */
	const struct cli_disk_policy *policy; /* may be NULL; disk and disk: base */
	struct fsd_options *diff;
	const struct cli_skip *skip; /* --skip-mount, for DISK only; may be NULL */
	/* NULL: walk the disk before opening the base. block, file or auto:
	 * the base first, then the VM's tree by cli_vm_tree. */
	const char *strategy;
	int threads; /* for hashing a full copy's blocks (convert's --threads; 0: all cores) */
	/* the guest's other disks (dr_disk_options.more_disks) */
	const struct dr_disk_ref *more_disks;
	size_t nmore_disks;
};

/* Open base + open disk + both trees + diff + layer plan, with each phase's
 * time. The steps print their own error (cli_error) and return -1. */
struct cli_job {
	struct dr_disk *disk;
	struct ut_tree *vm;
	struct cli_base base;
	int have_base;
	struct fsd_result *diff;
	struct fsd_layer_item *items;
	size_t nitems;
	double t_open, t_walk, t_base, t_diff;
	struct cli_strategy strategy; /* how the VM's tree was found */
};

/* The disk, its tree, the base and (unless o->no_base_tree) its tree. */
int cli_job_open(struct cli_job *j, const struct cli_job_options *o, struct ut_progress *prog);
/* The diff of the VM against the base (with upper on top, when not NULL)
 * and its layer plan. */
int cli_job_diff(struct cli_job *j, const struct cli_job_options *o, const struct ut_tree *upper);
/* cli_job_open then cli_job_diff. */
int cli_job_run(struct cli_job *j, const struct cli_job_options *o, struct ut_progress *prog);
void cli_job_release(struct cli_job *j);

/* ---- bill of materials (sbom_out.c) ------------------------------------ */

struct pkg_sbom_layer;
/* Where an image's files come from, for the SBOM's per-package layers: a
 * file is in the diff layer when the plan writes it, else in the packages
 * layer when that tree has it, else in the base (has_base); whole_vm: the
 * image is the VM's whole tree in one layer ("vm"). All borrowed. */
struct cli_sbom_layers {
	const struct ut_tree *vm;
	const struct fsd_layer_item *items;
	size_t nitems;
	const struct ut_tree *packages; /* NULL: no packages layer */
	int has_base, whole_vm;
	const struct pkg_sbom_layer *layers; /* the image's layers: role, digest */
	size_t nlayers;
};
/* db as an SBOM (format: enum pkg_sbom_format) into out, the OS from
 * disk's os-release; layers NULL for no layer information. */
int cli_sbom_write(const struct pkg_db *db, struct dr_disk *disk, const char *name, int format,
		   const struct cli_sbom_layers *layers, struct ut_buf *out, struct ut_err *err);

/* The tag of an image's SBOM referrer in its layout and its repository:
 * "sha256-HEX.sbom" for the image's manifest digest (heap). */
char *cli_sbom_tag(const char *manifest_digest);

/* ---- mounts left out (cli/mounts.c) ------------------------------------- */

struct dr_disk_options;
struct img_config;
/* The config label that lists the mount points an image lacks because
 * --skip-mount left them out, comma-separated ("/srv/data,/home"). */
#define CLI_SKIPPED_LABEL "org.vm2oci.skipped-mounts"

/* The --skip-mount values of one command line. */
struct cli_skip {
	const char **paths;
	size_t n;
};

/* Adds one --skip-mount PATH and points opt's skip list (opt may be NULL)
 * at it. */
void cli_skip_add(struct cli_skip *s, struct dr_disk_options *opt, const char *path);
void cli_skip_release(struct cli_skip *s);
/* The disk's skipped mounts as a JSON array (a json_t *, new reference). */
void *cli_skipped_json(const struct dr_disk *d);
/* The label value for the disk's skipped mounts; NULL when none (heap). */
char *cli_skipped_label(const struct dr_disk *d);

/* ---- what convert leaves out (cli/excludes.c) ---------------------------- */

struct fsd_filter;
/* The config label that records the rules convert applied, as a filter
 * file (one "- PATTERN" line each), so that verify applies them again unasked. */
#define CLI_EXCLUDES_LABEL "org.vm2oci.excludes"

enum { CLI_OPT_EXCLUDE = 0x1100, CLI_OPT_INCLUDE, CLI_OPT_FILTER_FROM, CLI_OPT_KEEP_KERNEL,
       CLI_OPT_NO_DEFAULT_EXCLUDES };
#define CLI_EXCLUDES_LONGOPTS                                                         \
	{ "exclude", required_argument, NULL, CLI_OPT_EXCLUDE },                      \
	{ "include", required_argument, NULL, CLI_OPT_INCLUDE },                      \
	{ "filter-from", required_argument, NULL, CLI_OPT_FILTER_FROM },              \
	{ "keep-kernel", no_argument, NULL, CLI_OPT_KEEP_KERNEL },                    \
	{ "no-default-excludes", no_argument, NULL, CLI_OPT_NO_DEFAULT_EXCLUDES }
#define CLI_EXCLUDES_USAGE                                                                    \
	"      --exclude PATTERN  leave out what PATTERN matches (rsync's rules: a leading\n"   \
	"                         '/' anchors at /, a trailing '/' matches folders only,\n"    \
	"                         '*' '?' '[..]' stop at '/', '**' does not; an excluded\n"     \
	"                         folder takes all below it). Repeatable, in order\n"           \
	"      --include PATTERN  keep what PATTERN matches: the first matching rule wins,\n"  \
	"                         and the user's rules come before the defaults\n"              \
	"      --filter-from FILE rules from FILE, \"- PATTERN\" / \"+ PATTERN\" lines (as\n"   \
	"                         rsync's --filter='. FILE'; '#' and ';' start comments;\n"    \
	"                         vm2oci's own \"= PATTERN\" keeps a file but empty)\n"       \
	"      --keep-kernel      keep the VM's kernel and boot files (/boot contents,\n"      \
	"                         modules, headers, /vmlinuz, /initrd.img)\n"                  \
	"      --no-default-excludes\n"                                                         \
	"                         no default rules; by default the image lacks the kernel\n"   \
	"                         files, swap files (/swapfile, fstab's), what /proc /sys\n"   \
	"                         /tmp hold, /run's files (its folders stay), apt/yum/dnf\n"  \
	"                         caches, and has an empty\n"                                  \
	"                         /etc/machine-id. Each rule's entries and bytes are\n"        \
	"                         reported; the label org.vm2oci.excludes records the rules.\n" \
	"                         A base image's own files where a rule excludes stay\n"

/* The exclusion options of one command line (strings borrowed from argv). */
#define CLI_MAX_USER_RULES 64
struct cli_excludes {
	int kind[CLI_MAX_USER_RULES];        /* CLI_OPT_EXCLUDE, _INCLUDE, _FILTER_FROM */
	const char *arg[CLI_MAX_USER_RULES]; /* in command-line order */
	size_t n;
	int keep_kernel, no_defaults;
};
/* getopt's c for cmd: 0 when handled, else the exit code of a usage error
 * (a bad pattern, an unreadable or malformed --filter-from file). */
int cli_excludes_option(struct cli_excludes *x, int c, const char *arg, const char *cmd);
/* The rules of a conversion: the user's, then the defaults (without the
 * kernel's with keep_kernel), then the swap files vm's /etc/fstab names.
 * *out NULL when there are none. */
int cli_excludes_build(const struct cli_excludes *x, const struct ut_tree *vm,
		       struct fsd_filter **out, struct ut_err *err);
/* The label's value for f (heap), NULL when f has no rules. */
char *cli_excludes_label(const struct fsd_filter *f);
struct img_config;
/* The value of the config label key, borrowed from c; NULL when absent. */
const char *cli_config_label(const struct img_config *c, const char *key);
/* The rules an image's label records; *out NULL without the label. */
int cli_excludes_from_image(const struct img_config *c, struct fsd_filter **out,
			    struct ut_err *err);
/* Totals of what the rules took (fsd_filter_tree with FSD_FILTER_COUNT). */
void cli_excludes_totals(const struct fsd_filter *f, uint64_t *files, uint64_t *bytes);
/* One line per rule that took something, and the total, on stderr. */
void cli_excludes_print(const struct fsd_filter *f);
/* {"entries", "bytes", "rules": [{action, group, entries, bytes, pattern}]} */
json_t *cli_excludes_json(const struct fsd_filter *f);

/* ---- the options that shape an image (image_opts.c) --------------------- */

/* convert's and batch's: parsed by one function, printed by one text. Each
 * command lists --compress and --level itself (convert has -c). */
enum { CLI_OPT_COMPRESS = 0x1200, CLI_OPT_LEVEL, CLI_OPT_GZIP_FAST, CLI_OPT_TRUST_MTIME,
       CLI_OPT_MASK_XATTR, CLI_OPT_PACKAGES_LAYER, CLI_OPT_NO_REPLAY, CLI_OPT_RENAME_WH,
       CLI_OPT_SKIP_MOUNT, CLI_OPT_SBOM, CLI_OPT_INIT };
#define CLI_IMAGE_LONGOPTS                                                           \
	{ "gzip-fast", no_argument, NULL, CLI_OPT_GZIP_FAST },                       \
	{ "trust-mtime", no_argument, NULL, CLI_OPT_TRUST_MTIME },                   \
	{ "mask-xattr", required_argument, NULL, CLI_OPT_MASK_XATTR },               \
	{ "packages-layer", no_argument, NULL, CLI_OPT_PACKAGES_LAYER },             \
	{ "no-replay", no_argument, NULL, CLI_OPT_NO_REPLAY },                       \
	{ "rename-whiteout-names", no_argument, NULL, CLI_OPT_RENAME_WH },           \
	{ "skip-mount", required_argument, NULL, CLI_OPT_SKIP_MOUNT },               \
	{ "sbom", required_argument, NULL, CLI_OPT_SBOM },                           \
	{ "init", required_argument, NULL, CLI_OPT_INIT }
#define CLI_IMAGE_USAGE                                                                       \
	"      --gzip-fast        gzip by ISA-L igzip, levels 1-3: fastest (about\n"            \
	"                         0.5-1 GB/s a core at 1), but its bytes depend on the\n"       \
	"                         CPU (C, SSE4.2, AVX2, AVX-512 code paths differ), so\n"        \
	"                         another machine may not reproduce the layer's digest\n"       \
	"      --no-replay        read a filesystem whose journal needs recovery (the VM\n"     \
	"                         was not shut down cleanly) as it is on the disk, with\n"      \
	"                         a warning, instead of replaying the journal in memory\n"     \
	"      --trust-mtime      same size and mtime means same content (rsync's\n"           \
	"                         quick check) instead of comparing digests\n"                 \
	"      --mask-xattr NAME  ignore this xattr when comparing (repeatable),\n"           \
	"                         e.g. security.selinux\n"                                      \
	"      --packages-layer   put the files of the VM's packages that the base\n"          \
	"                         lacks in a layer of their own, between the base and\n"       \
	"                         the diff (only files still matching the digest the\n"        \
	"                         package database recorded; the rest stays in the\n"          \
	"                         diff), so VMs with one package set share it\n"              \
	"      --rename-whiteout-names\n"                                                       \
	"                         a guest file whose name begins with \".wh.\" (which\n"       \
	"                         OCI reads as a deletion) is refused unless this is\n"        \
	"                         given; then it is stored as \".vm2oci-esc..wh.NAME\"\n"       \
	"                         and the label org.vm2oci.renamed-whiteout-names maps\n"      \
	"                         each renamed path to its new name\n"                         \
	"      --skip-mount PATH  leave out the guest's fstab mount at PATH (repeatable);\n"   \
	"                         without it a local mount that cannot be read fails\n"        \
	"                         the conversion. The image's config lists what was\n"         \
	"                         left out in the label org.vm2oci.skipped-mounts\n"           \
	CLI_EXCLUDES_USAGE                                                                     \
	"      --sbom F           attach a bill of materials of the VM's packages,\n"          \
	"                         spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.5\n"          \
	"                         JSON), to the image as an OCI 1.1 referrer: an\n"            \
	"                         artifact manifest whose subject is the image,\n"             \
	"                         listed in index.json; each package names the\n"             \
	"                         layers (base, packages, diff) its files are in\n"           \
	"      --init systemd     the image runs the guest's systemd as PID 1 with its\n"      \
	"                         enabled services (podman --systemd=always; StopSignal\n"     \
	"                         SIGRTMIN+3, env container=oci, every port exposed)\n"

struct convert_opts;
/* getopt's c for cmd: 1 when c is one of the options above, --compress,
 * --level or CLI_EXCLUDES_LONGOPTS' (cli_is_image_option); then
 * cli_image_option sets o from it and returns 0, or the exit code of a
 * usage error. Strings are borrowed from arg. */
int cli_is_image_option(int c);
int cli_image_option(struct convert_opts *o, int c, const char *arg, const char *cmd);
/* After the last option: the checks between them (--gzip-fast needs gzip,
 * --level's range, --service against --init) and o->diff's xattr masks.
 * 0 or the exit code. */
int cli_image_finish(struct convert_opts *o, const char *cmd);
/* o's image options as canonical arguments (a new JSON array of strings:
 * defaults left out, a fixed order but the rules' own): equal options give
 * an equal array. What a batch writes into its plan lines and records in
 * its images' identity. */
json_t *cli_image_args(const struct convert_opts *o);
/* Such an array parsed into o (its strings borrowed: args must outlive o),
 * then cli_image_finish. 0 or the exit code. */
int cli_image_apply_args(struct convert_opts *o, const json_t *args, const char *cmd);
/* The array as one line ("--exclude /x --sbom spdx"; "(none)"), heap. */
char *cli_image_args_text(const json_t *args);
/* What parsing allocated: masks, --skip-mount's list, the runtime plan. */
void cli_image_release(struct convert_opts *o);

/* ---- the guest's start-up configuration (services.c) -------------------- */

struct rt_info;

struct rt_command;

/* convert's --service NAME and --init systemd, and what they give. */
struct cli_runtime_opts {
	const char *service;
	int init_systemd;
	int quiet;
	/* Filled by cli_runtime_plan (freed by cli_runtime_release): */
	struct rt_command *cmd; /* NULL: the image keeps its command */
	int automatic;          /* cmd is the only network service's, not asked for */
	char *runs;             /* what cmd runs ("apache2", "systemd"); NULL after an
				 * apply that left the command as it was */
	char *note;             /* why no service was picked, for the user */
};
/* inspect's "init", "services", "users", "groups", "runtime_warnings". */
void cli_runtime_json(json_t *root, const struct rt_info *info);
void cli_runtime_print(const struct rt_info *info);
/* Reads the guest's start-up configuration from vm and plans the image's
 * command: --init systemd, --service NAME, or with neither the only network
 * service when there is exactly one. Before any layer is written, so a
 * wrong NAME fails at once. 0, or -1 after printing the error. */
int cli_runtime_plan(const struct ut_tree *vm, const char *disk, struct cli_runtime_opts *o);
/* The plan into c (command, user, workdir, env, ports, stop signal); an
 * automatic pick yields to the base's own command. Says what it did on
 * stderr unless quiet. */
void cli_runtime_apply(struct img_config *c, struct cli_runtime_opts *o);
void cli_runtime_release(struct cli_runtime_opts *o);

/* ---- pushing to a registry (cmd_push.c) ----------------------------------- */

enum { CLI_OPT_CREDS = 0x2000, CLI_OPT_AUTHFILE, CLI_OPT_TLS_VERIFY, CLI_OPT_CERT_DIR,
       CLI_OPT_CHUNK_SIZE, CLI_OPT_RETRIES, CLI_OPT_PARALLEL, CLI_OPT_MOUNT_FROM };
/* The longopts of the registry options, shared by push and convert --push. */
#define CLI_PUSH_LONGOPTS                                                          \
	{ "creds", required_argument, NULL, CLI_OPT_CREDS },                       \
	{ "authfile", required_argument, NULL, CLI_OPT_AUTHFILE },                 \
	{ "tls-verify", optional_argument, NULL, CLI_OPT_TLS_VERIFY },             \
	{ "cert-dir", required_argument, NULL, CLI_OPT_CERT_DIR },                 \
	{ "chunk-size", required_argument, NULL, CLI_OPT_CHUNK_SIZE },             \
	{ "retries", required_argument, NULL, CLI_OPT_RETRIES },                   \
	{ "parallel", required_argument, NULL, CLI_OPT_PARALLEL },                 \
	{ "mount-from", required_argument, NULL, CLI_OPT_MOUNT_FROM }
#define CLI_PUSH_USAGE                                                                 \
	"  --creds USER:PASS   registry credentials (default: the first auth file that\n"  \
	"                      names the registry: $REGISTRY_AUTH_FILE,\n"                  \
	"                      $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)\n" \
	"  --authfile FILE     read credentials from this auth file only\n"               \
	"  --tls-verify=false  do not verify TLS, and allow plain http (default: true)\n" \
	"  --cert-dir DIR      *.crt CAs and a NAME.cert + NAME.key client pair (default:\n" \
	"                      /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST)\n" \
	"  --chunk-size N      blobs above N go in PATCH chunks of N (K/M/G; default 32M)\n" \
	"  --retries N         retries on 5xx and dropped connections (default 3)\n"      \
	"  --parallel N        blobs uploaded at once, each on its own connection\n"     \
	"                      (1 to 32, default 4; 1: one after another)\n"             \
	"  --mount-from REPO   a repository of the same registry to mount blobs from\n"   \
	"                      (repeatable; the image's base.name annotation is one too)\n"

#define CLI_MAX_MOUNT_FROM 16
struct cli_push_opts {
	const char *creds, *authfile, *cert_dir;
	int tls_verify;
	uint64_t chunk_size;
	int retries;
	int parallel;
	const char *mount_from[CLI_MAX_MOUNT_FROM];
	size_t nmount_from;
};
void cli_push_opts_init(struct cli_push_opts *p);
/* getopt's c for cmd: 0 when it was a push option, else the exit code of
 * the usage error. */
int cli_push_option(struct cli_push_opts *p, int c, const char *arg, const char *cmd);
/* Pushes the image tagged tag in the OCI layout dir to each of dsts
 * (docker://...) in turn, through one client; prints the error itself.
 * *summary (may be NULL) gets the --json object (an array of them for
 * several dsts); else a line on stderr says what was sent, unless quiet. */
int cli_push(const struct cli_push_opts *p, const char *dir, const char *tag,
	     const char *const *dsts, size_t ndsts, struct cli_progress *prog, int quiet,
	     json_t **summary);
/* dst (a valid docker:// reference) with its tag or digest replaced by tag
 * (heap), NULL if dst does not parse. */
char *cli_push_ref_with_tag(const char *dst, const char *tag);
/* Checks a docker:// reference early (before a conversion): usage error. */
int cli_push_check_ref(const char *cmd, const char *dst);
/* ---- convert's job, shared with batch (cmd_convert.c) ------------------- */

#include "fsdiff.h"
#include "image.h"

struct dr_disk_ref;

/* The guest's other disks named on a command line (paths, formats probed):
 * a heap array of n (NULL when n is 0) the caller frees; argv's strings. */
struct dr_disk_ref *cli_more_disks(char **argv, size_t n);

/* What one conversion is asked: convert's command line, or a batch's domain. */
struct convert_opts {
	const char *disk, *out, *base, *tag, *format, *base_format;
	const char *dockerfile;
	const char *strategy; /* block, file or auto */
	int docker_archive, json, quiet, packages_layer, no_replay, rename_whiteouts;
	int sbom; /* enum pkg_sbom_format, 0: none */
	struct img_layer_options layer;
	struct fsd_options diff;
	const char **masks;
	size_t nmasks;
	struct cli_disk_policy policy;
	struct cli_skip skip;     /* --skip-mount */
	struct cli_excludes excludes; /* --exclude... (zero: the default rules) */
	struct cli_runtime_opts runtime; /* --service, --init */
	const char *push;         /* --push docker://... (convert only) */
	int scratch_out;          /* out is a temporary layout (--push without -o) */
	struct cli_push_opts push_opts;
	const struct dr_disk_ref *more_disks; /* the guest's other disks */
	size_t nmore_disks;
	/* the manifest's annotations: (key, value) pairs, nannotations pairs */
	const char *const *annotations;
	size_t nannotations;
};

/* What a conversion made, for a batch's record. */
struct convert_result {
	char manifest_digest[80];
	char strategy[8];         /* block or file */
	char strategy_reason[512];
	uint64_t top_layer_bytes; /* the diff layer's blob (the whole VM's on scratch) */
	double seconds;
};

/* o's disks into one image tagged o->tag in layout (open, borrowed; its
 * index.json gets the tag): the phases of `vm2oci convert` without its
 * report. Errors are printed (cli_error) and give -1. */
int cli_convert_into(struct convert_opts *o, struct img_layout *layout,
		     struct cli_progress *prog, struct convert_result *res);

#endif

