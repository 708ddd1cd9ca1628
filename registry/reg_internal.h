/*
 * reg_internal.h - the registry module's parsers and HTTP layer, shared by
 * its files, its unit test and its fuzz harness. Not for callers.
 */
#ifndef VM2OCI_REG_INTERNAL_H
#define VM2OCI_REG_INTERNAL_H

#include "registry.h"

#include <stdio.h>
#include <stdlib.h>

/* Caps on what a registry (or a token server) may send back. */
#define REG_MAX_HEADER (16u << 10)    /* one response header line */
#define REG_MAX_BODY (1u << 20)       /* an error or token body */
#define REG_MAX_MANIFEST (4u << 20)   /* as registries cap manifests */
#define REG_MAX_AUTH_FILE (1u << 20)

/* ---- parsers of untrusted text (auth.c) ---------------------------------- */

/* The first challenge of a WWW-Authenticate header (RFC 7235):
 * Basic realm="..." or Bearer realm="...",service="...",scope="...". */
struct reg_challenge {
	char scheme[16]; /* "basic", "bearer" (lowercased), or another scheme */
	char *realm, *service, *scope;
};
int reg_challenge_parse(const char *hdr, size_t len, struct reg_challenge *ch,
			struct ut_err *err);
void reg_challenge_release(struct reg_challenge *ch);

/* The token of a token server's answer: "token", else "access_token". */
int reg_token_parse(const char *json, size_t len, char **token, struct ut_err *err);

/* The credentials an auth file (containers auth.json, docker config.json)
 * holds for host (and repo: a "host/ns" key matching repo's namespace
 * wins over "host"): 1 with *user and *pass, 0 when it has none, -1 when
 * the file is not what it should be. */
int reg_auth_file_lookup(const char *json, size_t len, const char *host, const char *repo,
			 char **user, char **pass, struct ut_err *err);

/* The text of a registry's JSON error body ({"errors":[{"code","message"}]})
 * appended to out, escaped and bounded: "CODE: message; CODE2: ...". Returns
 * 0 when the body held no error, 1 when it added some. */
int reg_error_text(const char *json, size_t len, struct ut_buf *out);

/* ---- the OCI layout being pushed (layout.c) ------------------------------ */

struct reg_blob {
	char digest[7 + UT_SHA256_HEX];
	uint64_t size;
};

/* One manifest of the image and its blobs, in push order. */
struct reg_manifest {
	char digest[7 + UT_SHA256_HEX];
	char media_type[96];
	struct ut_buf bytes; /* verbatim, so that the registry's digest is ours */
	struct reg_blob *blobs;
	size_t nblobs;
	char *base_name; /* org.opencontainers.image.base.name, or NULL */
};

/* The tagged image: children (the platform manifests of an index, none for
 * a plain manifest) and top (pushed last, under the tag). */
struct reg_image {
	int dirfd_blobs; /* blobs/sha256 */
	struct reg_manifest *children;
	size_t nchildren;
	struct reg_manifest top;
};

int reg_image_open(const char *dir, const char *tag, struct reg_image *img, struct ut_err *err);
/* Opens a blob of the layout read-only; checks it is a regular file of size. */
int reg_image_open_blob(const struct reg_image *img, const struct reg_blob *b, int *fd,
			struct ut_err *err);
void reg_image_release(struct reg_image *img);
/* Fills m from manifest bytes already in m->bytes (media type, blobs). */
int reg_manifest_parse(struct reg_manifest *m, struct ut_err *err);

/* ---- HTTP (http.c) ------------------------------------------------------- */

/* url is origin itself or below it ("https://h:1" covers "https://h:1/v2/",
 * not "https://h:10/..." or "https://h:1@evil/..."): where credentials and
 * tokens may go. */
int reg_same_origin(const char *url, const char *origin);

struct reg_http;

struct reg_response {
	long status;
	char *location, *digest, *challenge, *range;
	struct ut_buf body; /* capped at REG_MAX_BODY */
};
void reg_response_release(struct reg_response *r);

/* What a request sends: nothing, a buffer, or a range of a file. */
struct reg_body {
	const void *data;
	int fd;
	uint64_t offset, len;
	const char *content_type;
	const char *content_range; /* PATCH: "first-last" */
};

struct reg_http *reg_http_new(const struct reg_options *opt, struct ut_err *err);
/* A handle (its own connection) for another thread, pointed where parent
 * is (reg_http_connect done): it shares parent's Bearer token, refreshed
 * once for all on a 401. An upload in flight aborts once *cancel (may be
 * NULL) is non-zero. Freed before parent. */
struct reg_http *reg_http_clone(struct reg_http *parent, const struct reg_options *opt,
				const int *cancel, struct ut_err *err);
void reg_http_free(struct reg_http *h);
/* Points h at a registry and repository: the scheme (https, or http when
 * tls is off and https does not answer), the auth challenge, the
 * credentials. Names them in every later error. */
int reg_http_connect(struct reg_http *h, const char *host, const char *repo, struct ut_err *err);
/* Forgets the mount sources of an earlier push. */
void reg_http_clear_pull_scopes(struct reg_http *h);
/* Adds a repository the token must allow pulling from (a mount source). */
void reg_http_add_pull_scope(struct reg_http *h, const char *repo);
/* One request to url (absolute, or a path on the registry), authenticated,
 * retried with backoff on 5xx, 429 and dropped connections; on_sent (may be
 * NULL) sees body bytes as they go. Returns 0 with any status in *r; -1
 * only when no answer came. */
int reg_http_do(struct reg_http *h, const char *method, const char *url,
		const struct reg_body *body, struct reg_response *r, struct ut_err *err);
/* "registry HOST, repository REPO: " + fmt into err; returns -1. */
int reg_http_fail(struct reg_http *h, struct ut_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with the status and the registry's error text of r. */
int reg_http_fail_status(struct reg_http *h, const struct reg_response *r, struct ut_err *err,
			 const char *what);
/* Progress and counters of the request being sent. */
void reg_http_set_progress(struct reg_http *h, const char *phase, uint64_t base, uint64_t total);
uint64_t reg_http_bytes_sent(const struct reg_http *h);
uint64_t reg_http_retries(const struct reg_http *h);

#endif
