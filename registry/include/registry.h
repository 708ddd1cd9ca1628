/*
 * registry.h - pushing an OCI image layout to a registry that speaks the OCI
 * distribution API (docker-registry, distribution, zot, Harbor, quay...),
 * in-process through libcurl.
 *
 * A push is: every blob of the image (config and layers), each HEAD-checked
 * first and skipped when the registry has it, mounted from another
 * repository of the same registry when one is known to hold it, else
 * uploaded (one PUT, or PATCH chunks with Content-Range above the chunk
 * size); then the manifest (and, for an index, each child manifest by
 * digest first) PUT with its media type, the tagged one last: a failure
 * before that leaves no tag behind.
 *
 * Auth as skopeo and podman users expect: anonymous, Basic, or the Bearer
 * token flow the registry's WWW-Authenticate names. Credentials come from
 * reg_options.creds, else from the first auth file (containers auth.json,
 * docker config.json) that has the registry. TLS is verified unless
 * tls_verify is 0, which also allows plain HTTP (tried after HTTPS fails).
 *
 * Errors are one line naming the registry, the repository and the reason.
 * Registry responses are untrusted: every body is read into a capped buffer
 * and the text they carry is escaped before it reaches a message.
 */
#ifndef VM2OCI_REGISTRY_H
#define VM2OCI_REGISTRY_H

#include "util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX] */
struct reg_ref {
	char *host;   /* "host" or "host:port" */
	char *repo;   /* "a/b" */
	char *tag;    /* NULL when digest is set */
	char *digest; /* "sha256:..." or NULL */
};

/* Parses s (with or without "docker://"); tag defaults to "latest". */
int reg_ref_parse(const char *s, struct reg_ref *r, struct ut_err *err);
void reg_ref_release(struct reg_ref *r);

#define REG_DEFAULT_CHUNK (32u << 20)

struct reg_options {
	const char *creds;            /* "USER:PASS" or "USER"; NULL: the auth files */
	const char *const *auth_files; /* tried in order; a missing file is skipped */
	size_t nauth_files;
	int tls_verify;               /* 1 verifies; 0 also allows plain http */
	const char *cert_dir;         /* *.crt CAs, NAME.cert + NAME.key client pair */
	uint64_t chunk_size;          /* blobs above it go in PATCH chunks of it; 0: default */
	int retries;                  /* per request on 5xx and dropped connections */
	double backoff;               /* first retry delay in seconds (doubles); 0: 0.5 */
	const char *const *mount_from; /* repositories of the same registry to mount from */
	size_t nmount_from;
	int parallel;                 /* blobs of a manifest in flight at once; 0, 1: one by one */
	struct ut_progress progress;  /* "push <digest prefix>", bytes of the blob; with
				       * parallel: "push N blobs", bytes of the N */
};

/* What a push did; counters add up over the pushes of one client. */
struct reg_push_stats {
	uint64_t blobs_pushed, blobs_skipped, blobs_mounted;
	uint64_t blob_bytes_sent;  /* blob bytes that went over the wire */
	uint64_t blob_bytes_total; /* bytes of every blob of the image(s) */
	uint64_t manifests_put;
	uint64_t retries;
	char digest[7 + UT_SHA256_HEX]; /* the tagged manifest's (or index's) */
	char media_type[96];
};

struct reg_client;

/* A client for any number of pushes, to one or several registries. It
 * remembers which repository it pushed each blob to, so that the next push
 * to another repository of that registry mounts it instead of uploading. */
int reg_client_new(const struct reg_options *opt, struct reg_client **out, struct ut_err *err);
void reg_client_free(struct reg_client *c);

/* Pushes the image tagged src_tag in the OCI layout at dir (src_tag NULL:
 * the layout's only image) to dst. */
int reg_push_layout(struct reg_client *c, const char *dir, const char *src_tag,
		    const struct reg_ref *dst, struct reg_push_stats *st, struct ut_err *err);

#ifdef __cplusplus
}
#endif
#endif
