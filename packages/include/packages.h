/*
 * packages.h - installed-package databases of a guest, read offline.
 *
 * vm2oci never runs anything from the guest, so the package managers' own
 * databases are parsed here, with bounds on every length, offset and count:
 *
 *   deb     var/lib/dpkg/status, info/<pkg>[:<arch>].list and .md5sums,
 *           var/lib/apt/extended_states (Auto-Installed)
 *   rpm     rpmdb under usr/lib/sysimage/rpm or var/lib/rpm, in any of its
 *           three formats: rpmdb.sqlite (sqlite3), Packages.db (ndb, rpm
 *           4.16+), Packages (BerkeleyDB hash or btree); the header blobs
 *           they hold are parsed by our own reader, not by librpm
 *   apk     lib/apk/db/installed, etc/apk/world (the manual set)
 *   pacman  var/lib/pacman/local/<name>-<ver>-<rel>/{desc,files,mtree}
 *
 * The guest is reached through struct pkg_source, a small vtable: the CLI
 * backs it by a disk, tests and rootfs: bases by a host directory.
 *
 * On top of a database: the dependency graph (Tarjan SCCs, the root set that
 * reinstalls everything) and the difference between a VM and a base.
 *
 * What counts as installed: dpkg stanzas whose Status is "<want> ok
 * installed" (half-installed, unpacked, config-files... are left out, as
 * are reinstreq ones); every rpm header, the gpg-pubkey ones too (as rpm -qa
 * lists them; marked is_key); every apk and pacman entry. rpm rich (boolean)
 * dependencies are read as groups (see struct pkg_dep); pacman's mtree
 * (gzip) gives its files' sha256. Not read: apk's "~" fuzzy constraints
 * (taken as any).
 *
 * Conventions as in util.h: 0 on success, negative on failure with the
 * reason in *err; every _free() accepts NULL. The structs below are filled
 * by this module and read by callers; callers do not modify them.
 */
#ifndef VM2OCI_PACKAGES_H
#define VM2OCI_PACKAGES_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- where the guest's files come from ---------------------------------- */

/*
 * Paths are guest-relative with no leading slash ("var/lib/dpkg/status").
 * Symlinks are followed inside the guest: an absolute target or ".." never
 * leaves the guest's root.
 */
struct pkg_source_ops {
	/* The whole file into b (appended; b's cap is honoured). 1 when the
	 * file exists, 0 when it is missing, -1 on error. */
	int (*read_file)(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err);
	/* The names in a directory ("." and ".." left out), in no particular
	 * order; *names is a malloc'd array of malloc'd strings the caller
	 * frees. 1 / 0 (missing) / -1 as above. */
	int (*list_dir)(void *ctx, const char *path, char ***names, size_t *n,
			struct ut_err *err);
	/* Optional (may be NULL): the modification time of a file, in seconds
	 * since the epoch. 1 / 0 (missing) / -1 as above. dpkg records no
	 * install time but the mtime of info/<pkg>.list. */
	int (*mtime)(void *ctx, const char *path, int64_t *sec, struct ut_err *err);
	/* Optional (may be NULL): releases ctx. */
	void (*close)(void *ctx);
};

struct pkg_source {
	const struct pkg_source_ops *ops;
	void *ctx;
	/* Where a reader may put a scratch copy (sqlite opens only files);
	 * NULL: /tmp. The library never reads the environment. */
	const char *tmpdir;
};

/* A source over a host directory holding a guest's root. Symlinks are
 * resolved by hand, component by component, so none leads out of root. */
int pkg_source_dir_new(const char *root, struct pkg_source **src, struct ut_err *err);
/* Calls ops->close (when set) and frees src. */
void pkg_source_free(struct pkg_source *src);

/* ---- the package list --------------------------------------------------- */

enum pkg_rel {
	PKG_REL_ANY = 0, /* no version constraint */
	PKG_REL_LT,      /* dpkg <<, rpm <, apk <, pacman < */
	PKG_REL_LE,
	PKG_REL_EQ,
	PKG_REL_GE,
	PKG_REL_GT,      /* dpkg >> */
	/* apk's fuzzy forms: the version's tokens begin with the constraint's
	 * (~, =~), or compare so in that fuzzy order (>~, <~) */
	PKG_REL_FUZZY_EQ,
	PKG_REL_FUZZY_GE,
	PKG_REL_FUZZY_LE,
};

/* One alternative of a dependency: "name[:arch] (rel version)". */
struct pkg_dep_alt {
	char *name;
	char *archq;   /* dpkg arch qualifier ("any", "native", "amd64") or NULL */
	enum pkg_rel rel;
	char *version; /* NULL when rel == PKG_REL_ANY */
};

enum pkg_dep_kind {
	PKG_DEP_DEPENDS = 0, /* dpkg Depends, rpm Requires, apk D:, pacman %DEPENDS% */
	PKG_DEP_PRE_DEPENDS, /* dpkg Pre-Depends */
};

/*
 * A group of alternatives ("a | b"): satisfied when any one is.
 *
 * rpm rich (boolean) dependencies become groups too, as an
 * over-approximation that keeps every package a rich dependency can need
 * reachable (so subset roots stay complete): "(a and b)" is two groups;
 * "(a or b)" and "(a with b)" one group with every operand's alternatives
 * (edges to each installed one); "(a without b)" the groups of a; the
 * branches of "(a if b [else c])" and "(a unless b [else c])" are groups
 * marked conditional: edges to what is installed, never "unresolved",
 * since the condition may not hold.
 */
struct pkg_dep {
	enum pkg_dep_kind kind;
	int conditional; /* rich if/unless branch: unresolved is not an error */
	struct pkg_dep_alt *alts;
	size_t nalts;
};

/* Something a package provides besides its own name (version may be NULL). */
struct pkg_provide {
	char *name;
	enum pkg_rel rel; /* PKG_REL_EQ with a version, PKG_REL_ANY without */
	char *version;
};

enum pkg_digest_kind {
	PKG_DIGEST_NONE = 0,
	PKG_DIGEST_MD5,
	PKG_DIGEST_SHA1,
	PKG_DIGEST_SHA256,
};

const char *pkg_digest_kind_name(enum pkg_digest_kind k); /* "none", "md5", ... */

struct pkg_file {
	char *path;                /* guest-relative, no leading slash */
	enum pkg_digest_kind kind; /* of digest */
	char *digest;              /* lowercase hex, or NULL */
	int is_conffile;           /* dpkg Conffiles, rpm %config, pacman %BACKUP% */
	char *conf_digest;         /* conffile: hex digest of the packaged original */
};

struct pkg {
	char *name;
	/* "name" or "name:arch" as the package manager lists it by default
	 * (dpkg-query ${binary:Package}: Multi-Arch: same or foreign-arch). */
	char *display_name;
	int64_t epoch;   /* -1 when none is recorded */
	char *version;   /* upstream version (dpkg), VERSION (rpm), pkgver (pacman) */
	char *release;   /* dpkg revision, rpm RELEASE, apk -rN, pacman pkgrel; "" when none */
	char *arch;      /* "" when none */
	/* The version as the tool prints it: dpkg ${Version} (epoch included),
	 * rpm VERSION-RELEASE (epoch apart), apk V:, pacman %VERSION%. */
	char *display_version;
	int multiarch_same; /* dpkg Multi-Arch: same */
	/* rpm's gpg-pubkey pseudo-package: an imported signing key (version =
	 * key id, release = its creation time), no files and no requires. The
	 * graph keeps it as a node of its own, so it is a root; subtraction
	 * pairs keys only when identical (two key ids are two keys, never an
	 * upgrade); nothing installs one (the Dockerfile leaves keys out). */
	int is_key;
	struct pkg_dep *deps;
	size_t ndeps;
	struct pkg_provide *provides;
	size_t nprovides;
	/* 1 installed on request, 0 pulled in as a dependency, -1 the format
	 * does not say (rpm). */
	int manual;
	struct pkg_file *files; /* in database order */
	size_t nfiles;
	/* For a bill of materials; NULL (or -1) when the database has none.
	 * supplier: dpkg Maintainer, rpm Vendor (else Packager), apk m:, pacman
	 * %PACKAGER%. source: the source package's name (dpkg Source, rpm
	 * SOURCERPM, apk o:, pacman %BASE%). licenses: as the package states
	 * them (rpm License, apk L:, pacman %LICENSE%, the License: fields of a
	 * dpkg machine-readable usr/share/doc/<pkg>/copyright), in order, no
	 * duplicates. install_time: rpm INSTALLTIME, pacman %INSTALLDATE%, the
	 * mtime of dpkg's info/<pkg>.list (when the source has mtime). */
	char *supplier;
	char *source;
	char **licenses;
	size_t nlicenses;
	int64_t install_time;
};

struct pkg_db {
	char format[8];     /* "deb", "rpm", "apk", "pacman" */
	char *db_path;      /* guest path of the database that was read */
	struct pkg *v;      /* sorted by name, then arch, then version */
	size_t n;
	/* mtime of the database file (apk's installed, dpkg's status), -1
	 * when unknown: the last install when packages record none. */
	int64_t db_mtime;
};

/*
 * Finds the guest's package database and reads it. Returns 1 with *db set,
 * 0 with *db NULL when the guest has no database we know, -1 on error.
 */
int pkg_db_read(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err);
/* Readers of one format, for callers that know it; same returns. */
int pkg_db_read_dpkg(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err);
int pkg_db_read_rpm(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err);
int pkg_db_read_apk(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err);
int pkg_db_read_pacman(const struct pkg_source *src, struct pkg_db **db, struct ut_err *err);
void pkg_db_free(struct pkg_db *db);

/* First package named name (arch NULL: any arch), or NULL. */
const struct pkg *pkg_db_find(const struct pkg_db *db, const char *name, const char *arch);

/*
 * Version comparison in the format's own algorithm: dpkg's (epoch,
 * upstream, revision; '~' sorts before everything) for "deb", rpmvercmp
 * (epoch, version, release; '~' and '^') for "rpm" and "pacman", apk's
 * (digits, a letter, _alpha.._p suffixes, ~hash, -rN; a number with a
 * leading zero compared as a string) for "apk". Returns <0, 0, >0.
 */
int pkg_vercmp(const char *format, const struct pkg *a, const struct pkg *b);
/* The same on version strings as the format writes them: dpkg
 * "[epoch:]upstream[-revision]", rpm "[epoch:]version[-release]". */
int pkg_vercmp_str(const char *format, const char *a, const char *b);
/* apk's comparison of two whole versions ("1.2.3_rc1-r0"). Versions apk
 * would call invalid compare as apk-tools does: equal up to the token
 * that breaks the grammar, then by token kind. */
int pkg_apk_vercmp(const char *a, const char *b);
/* As pkg_apk_vercmp, but 0 also when version's tokens begin with all of
 * prefix's (apk's "~": 3.6.9 ~ 3.6, not 3.60). */
int pkg_apk_vercmp_fuzzy(const char *version, const char *prefix);
/* 1 when v follows apk's version grammar. */
int pkg_apk_version_valid(const char *v);

/* ---- difference against a base ------------------------------------------ */

enum pkg_change {
	PKG_ADDED = 1,   /* in the VM only */
	PKG_REMOVED,     /* in the base only */
	PKG_UPGRADED,    /* same name and arch, VM version newer */
	PKG_DOWNGRADED,  /* same name and arch, VM version older */
	PKG_ARCH_CHANGED,/* same name, another arch */
};

const char *pkg_change_name(enum pkg_change c); /* "added", "removed", ... */

struct pkg_delta {
	enum pkg_change change;
	const struct pkg *vm;   /* NULL for PKG_REMOVED; borrowed from the vm db */
	const struct pkg *base; /* NULL for PKG_ADDED; borrowed from the base db */
};

/*
 * What the VM's package set has beyond the base's: an array (caller frees
 * with free()) sorted by name; unchanged packages are left out. Both dbs
 * must have the same format and outlive the array.
 */
int pkg_db_subtract(const struct pkg_db *vm, const struct pkg_db *base,
		    struct pkg_delta **out, size_t *n, struct ut_err *err);

/*
 * The VM's packages beyond the base (added, upgraded, downgraded, another
 * arch) as indices into vm->v in pkg_db_subtract's order; every package of
 * vm when base is NULL. *set is malloc'd, the caller frees it.
 */
int pkg_db_added(const struct pkg_db *vm, const struct pkg_db *base, size_t **set, size_t *n,
		 struct ut_err *err);

/* ---- dependency graph --------------------------------------------------- */

/*
 * Nodes are the db's packages (indices into db->v). For each dependency
 * group of a there is an edge a->b to every installed b that satisfies any
 * alternative of the group: by name or by a provide (dpkg virtual packages,
 * rpm provides and file requires such as /bin/sh, owned by the package that
 * lists the path), with version constraints and dpkg arch qualifiers
 * honoured. Self edges are dropped. The db must outlive the graph.
 */
struct pkg_graph;

int pkg_graph_build(const struct pkg_db *db, struct pkg_graph **g, struct ut_err *err);
void pkg_graph_free(struct pkg_graph *g);

/*
 * Inside, a name that many packages ask for and many provide (a virtual
 * package every package provides and depends on) is one provider-group
 * node, so the graph stays linear in the database's size; every algorithm
 * below is linear or n log n in packages plus dependencies.
 */

/* The packages node i leads to in one step (sorted, no duplicates, not i):
 * *to is malloc'd, the caller frees it. */
size_t pkg_graph_successors(const struct pkg_graph *g, size_t i, size_t **to);
/* Dependency groups of all nodes that no installed package satisfies. */
size_t pkg_graph_unresolved(const struct pkg_graph *g);

/* Strongly connected components (Tarjan, iterative): the component id of
 * node i, their count, and the members of one (sorted by name). */
size_t pkg_graph_ncomponents(const struct pkg_graph *g);
size_t pkg_graph_component_of(const struct pkg_graph *g, size_t i);
size_t pkg_graph_component(const struct pkg_graph *g, size_t c, const size_t **members);

/*
 * Roots: one representative (the smallest name) of each source component
 * of the condensation (no edge into it from outside it). Installing the
 * roots with their dependencies gives back every package. Sorted by name.
 */
size_t pkg_graph_roots(const struct pkg_graph *g, const size_t **roots);

/*
 * Roots of a subset S of the packages (node indices, e.g. what a VM adds to
 * its base): the members no member of S from another component leads to
 * through the whole graph, one (the smallest name) per component. Installing
 * them with their dependencies brings back all of S. In the order of set;
 * *roots is malloc'd, the caller frees it.
 */
size_t pkg_graph_subset_roots(const struct pkg_graph *g, const size_t *set, size_t nset,
			      size_t **roots);

/* Components of more than one package, as component ids. */
size_t pkg_graph_cycles(const struct pkg_graph *g, const size_t **comps);

/*
 * The manual set (struct pkg .manual == 1) against the roots: packages
 * marked manual that are not roots (reachable from another package), and
 * roots not marked manual (nothing depends on them yet apt calls them
 * automatic). Arrays of node indices sorted by name; caller frees both.
 */
int pkg_graph_manual_diff(const struct pkg_graph *g, size_t **manual_not_root, size_t *n1,
			  size_t **root_not_manual, size_t *n2, struct ut_err *err);

/* ---- bill of materials (sbom.c) ----------------------------------------- */

enum pkg_sbom_format {
	PKG_SBOM_SPDX = 1,  /* SPDX 2.3 JSON */
	PKG_SBOM_CYCLONEDX, /* CycloneDX 1.5 JSON */
};

/* "spdx", "spdx-json", "cyclonedx", "cyclonedx-json" -> the format; -1. */
int pkg_sbom_format_parse(const char *s);
/* application/spdx+json, application/vnd.cyclonedx+json. */
const char *pkg_sbom_media_type(enum pkg_sbom_format f);

/* Which image layer the guest file path (as the package lists it) comes
 * from: a role ("base", "packages", "diff", "vm"), or NULL when it is in
 * none or is no regular file. The string must outlive the write. */
typedef const char *(*pkg_sbom_layer_fn)(void *ctx, const char *path);

/* An image layer named in the document (role and blob digest). */
struct pkg_sbom_layer {
	const char *role;
	const char *digest;
};

struct pkg_sbom_options {
	enum pkg_sbom_format format;
	const char *name;           /* what the document is about: image or disk */
	const char *tool_version;   /* "0.1.0" */
	/* The guest's os-release: ID ("debian"), VERSION_ID ("12"),
	 * PRETTY_NAME; NULL or "" when unknown. ID is the purl namespace and,
	 * with VERSION_ID, its distro qualifier ("debian-12"). */
	const char *os_id, *os_version_id, *os_pretty;
	pkg_sbom_layer_fn layer_of; /* NULL: no layer information */
	void *layer_ctx;
	const struct pkg_sbom_layer *layers;
	size_t nlayers;
};

/*
 * db's packages as an SBOM into out (appended): every package with name,
 * version, arch, supplier, source package, purl, licenses, the layers its
 * files sit in, and its DEPENDS_ON / dependsOn edges from g (the direct
 * successors; provider groups resolved to packages); the OS as a package
 * (SPDX) or an operating-system component (CycloneDX) that contains them.
 * Deterministic: the same db and options give the same bytes; the time is
 * the newest package install time (else db_mtime, else 0), never the
 * clock, and the ids are derived from the content.
 */
int pkg_sbom_write(const struct pkg_db *db, const struct pkg_graph *g,
		   const struct pkg_sbom_options *o, struct ut_buf *out, struct ut_err *err);
/* The package URL of p ("pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12");
 * malloc'd. */
char *pkg_purl(const struct pkg_db *db, const struct pkg *p, const char *os_id,
	       const char *os_version_id);

/* ---- low-level readers (exposed for tests and fuzzing) ------------------ */

/* Parses an rpm header blob as the rpmdb stores it (no lead, no magic:
 * be32 index count, be32 data length, index, data) into p. */
int pkg_rpm_header_parse(const void *blob, size_t len, struct pkg *p, struct ut_err *err);
/* Parses one rpm rich (boolean) dependency "(a or (b >= 1 and c))" into
 * p's dependency groups (as described at struct pkg_dep). -1 with the
 * reason when it is malformed or nests deeper than 64. */
int pkg_rpm_rich_parse(const char *s, struct pkg *p, struct ut_err *err);
/* Reads a pacman mtree (gzip'd or plain) into the sha256 digests of p's
 * files (those it lists as regular files). */
int pkg_pacman_mtree_apply(const void *data, size_t len, struct pkg *p, struct ut_err *err);
/* Releases what a struct pkg owns (not p itself). */
void pkg_release(struct pkg *p);

/* Calls fn for every value of a BerkeleyDB hash or btree file held in
 * memory (rpm's Packages: the header blobs), skipping rpm's record 0.
 * Stops at the first non-zero return of fn and returns it. */
typedef int (*pkg_blob_fn)(void *ctx, const unsigned char *blob, size_t len,
			   struct ut_err *err);
int pkg_bdb_foreach(const unsigned char *file, size_t len, pkg_blob_fn fn, void *ctx,
		    struct ut_err *err);
/* The same for an rpm ndb Packages.db held in memory. */
int pkg_ndb_foreach(const unsigned char *file, size_t len, pkg_blob_fn fn, void *ctx,
		    struct ut_err *err);

/* ---- the packages layer (pkg_layer.c) --------------------------------- */

struct pkg_layer_stats {
	uint64_t packages;           /* packages the VM has beyond the base */
	uint64_t files, bytes;       /* files taken, their bytes */
	uint64_t files_changed;      /* owned files whose bytes no longer match */
	uint64_t files_unverifiable; /* owned files with no recorded digest */
	uint64_t entries;            /* layer entries, directories included */
};

/* Resolves a guest path in t, every symlink followed inside the guest; NULL
 * when missing (err set only on a real error, such as a link loop). */
typedef const struct ut_entry *(*pkg_tree_resolve_fn)(const struct ut_tree *t, const char *path,
						      struct ut_err *err);

/*
 * The packages layer: the files of vm's packages that the base lacks
 * (added, upgraded, downgraded, arch-changed; every package when bdb is
 * NULL), taken only where vm's bytes still match the digest vdb recorded
 * (md5, sha1 or sha256), with their directories and the parents base lacks.
 * Directories get one mtime, the newest of the files, so the layer depends
 * only on the package set. *out holds copies of vm's entries (sha256
 * digests set), sorted, with vm's content source. resolve finds a file
 * whose parent path crosses a symlink ("bin/ls" on a merged /usr); NULL
 * takes the database's paths as they are.
 */
int pkg_files_layer(struct ut_tree *vm, pkg_tree_resolve_fn resolve, const struct pkg_db *vdb,
		    const struct pkg_db *bdb, const struct ut_tree *base, struct ut_tree **out,
		    struct pkg_layer_stats *stats, struct ut_err *err);

#ifdef __cplusplus
}
#endif
#endif
