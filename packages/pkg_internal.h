/*
 * pkg_internal.h - what the readers of packages/ share; not installed.
 */
#ifndef VM2OCI_PKG_INTERNAL_H
#define VM2OCI_PKG_INTERNAL_H

#include "packages.h"

/* Caps for untrusted databases: beyond these the input is not a real
 * system's, and refusing it keeps memory bounded. */
#define PKG_DB_FILE_CAP ((size_t)1 << 30)   /* one database file */
#define PKG_TEXT_FILE_CAP ((size_t)256 << 20) /* one text file (status, .list) */
#define PKG_MAX_PACKAGES 1000000

struct pkg_db *pkg_db_new(const char *format);
/* A new zeroed package at the end of db (epoch -1, manual -1); valid until
 * the next add. Fails past PKG_MAX_PACKAGES. */
struct pkg *pkg_db_add(struct pkg_db *db, struct ut_err *err);
/* Sorts by name, arch, version; fills the empty strings left NULL. */
void pkg_db_finish(struct pkg_db *db);

struct pkg_dep *pkg_add_dep(struct pkg *p, enum pkg_dep_kind kind);
void pkg_dep_add_alt(struct pkg_dep *d, char *name, char *archq, enum pkg_rel rel,
		     char *version); /* takes the strings */
void pkg_add_provide(struct pkg *p, char *name, enum pkg_rel rel, char *version);
/* Appends a license name (trimmed), unless empty or already there. */
void pkg_add_license(struct pkg *p, const char *s, size_t len);
/* takes path */
struct pkg_file *pkg_add_file(struct pkg *p, char *path);

/* Guest path from a database: leading "/" and "." components dropped; a
 * ".." component, an empty result or a control character is an error. */
int pkg_norm_path(const char *s, size_t len, char **out, struct ut_err *err);

/* Reads a guest file with a cap: 1 read, 0 missing, -1 error (prefixed
 * with the path). */
int pkg_src_read(const struct pkg_source *src, const char *path, struct ut_buf *b, size_t cap,
		 struct ut_err *err);
int pkg_src_list(const struct pkg_source *src, const char *path, char ***names, size_t *n,
		 struct ut_err *err);
void pkg_free_names(char **names, size_t n);
/* The mtime of a guest file: 1 with *sec, 0 when missing or the source
 * cannot tell, -1 on error. */
int pkg_src_mtime(const struct pkg_source *src, const char *path, int64_t *sec,
		  struct ut_err *err);

/* Splits "[epoch:]version[-release]" at the last '-' (and first ':'). */
void pkg_split_evr(const char *evr, int64_t *epoch, char **version, char **release);

int pkg_dpkg_vercmp(const char *a, const char *b); /* full dpkg version strings */
int pkg_rpmvercmp(const char *a, const char *b);   /* one segment (version or release) */

/* Growth for arrays appended one at a time: the capacity is the next power
 * of two, so no capacity field is needed. */
static inline int pkg_need_grow(size_t n)
{
	return n == 0 || (n & (n - 1)) == 0;
}

#endif
