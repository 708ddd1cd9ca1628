/*
 * cmd_push.c - vm2oci push oci:DIR[:TAG] docker://HOST[:PORT]/REPO[:TAG],
 * and the registry options convert --push shares. The registry module does
 * the pushing; here are the options, where credentials and certificates
 * are looked for (the environment is read here, never in a module), and
 * the report.
 */
#include "cli.h"
#include "registry.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char push_usage[] =
	"usage: vm2oci push oci:DIR[:TAG] docker://HOST[:PORT]/REPO[:TAG]... [options]\n"
	"\n"
	"Pushes an image of an OCI layout to a registry (OCI distribution API): each\n"
	"blob is checked with HEAD first and skipped when the registry has it,\n"
	"mounted from another repository of the registry when one is known to hold\n"
	"it (--mount-from, or where this run pushed it), else uploaded, --parallel at\n"
	"a time; the manifest is put last, after every blob, so a failed push leaves\n"
	"no tag. Auth: anonymous, Basic, or the Bearer token flow of the registry's\n"
	"WWW-Authenticate (one token shared by the parallel uploads). Several\n"
	"destinations are pushed in turn by one client, which mounts into each later\n"
	"repository what it put in an earlier one of the same registry; --json then\n"
	"prints an array, one summary each.\n"
	"\n"
	CLI_PUSH_USAGE
	"  --json              print a summary as JSON on stdout\n"
	"  -q, --quiet         no progress on stderr\n";

void cli_push_opts_init(struct cli_push_opts *p)
{
	memset(p, 0, sizeof(*p));
	p->tls_verify = 1;
	p->retries = 3;
	p->parallel = 4;
}

int cli_push_option(struct cli_push_opts *p, int c, const char *arg, const char *cmd)
{
	long num;
	int rc;

	switch (c) {
	case CLI_OPT_CREDS: p->creds = arg; return 0;
	case CLI_OPT_AUTHFILE: p->authfile = arg; return 0;
	case CLI_OPT_CERT_DIR: p->cert_dir = arg; return 0;
	case CLI_OPT_TLS_VERIFY:
		if (!arg || !strcmp(arg, "true"))
			p->tls_verify = 1;
		else if (!strcmp(arg, "false"))
			p->tls_verify = 0;
		else
			return cli_usage_error(cmd, "--tls-verify takes true or false, not '%s'", arg);
		return 0;
	case CLI_OPT_CHUNK_SIZE:
		p->chunk_size = cli_parse_size(arg);
		if (!p->chunk_size || p->chunk_size > (1ull << 32))
			return cli_usage_error(cmd, "--chunk-size takes a size from 1 to 4G such as 8M, not '%s'", arg);
		return 0;
	case CLI_OPT_RETRIES:
		if (cli_parse_long(cmd, "--retries", arg, 0, 20, &num, &rc) < 0)
			return rc;
		p->retries = (int)num;
		return 0;
	case CLI_OPT_PARALLEL:
		if (cli_parse_long(cmd, "--parallel", arg, 1, 32, &num, &rc) < 0)
			return rc;
		p->parallel = (int)num;
		return 0;
	case CLI_OPT_MOUNT_FROM:
		if (p->nmount_from == CLI_MAX_MOUNT_FROM)
			return cli_usage_error(cmd, "at most %d --mount-from", CLI_MAX_MOUNT_FROM);
		p->mount_from[p->nmount_from++] = arg;
		return 0;
	}
	return cli_usage_error(cmd, "unknown option");
}

int cli_push_check_ref(const char *cmd, const char *dst)
{
	struct reg_ref ref;
	struct ut_err err;

	if (reg_ref_parse(dst, &ref, &err) < 0)
		return cli_usage_error(cmd, "%s", err.msg);
	reg_ref_release(&ref);
	return 0;
}

char *cli_push_ref_with_tag(const char *dst, const char *tag)
{
	struct reg_ref ref;
	char *out;

	if (reg_ref_parse(dst, &ref, NULL) < 0)
		return NULL;
	out = ut_asprintf("docker://%s/%s:%s", ref.host, ref.repo, tag);
	reg_ref_release(&ref);
	return out;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where podman, skopeo and docker keep credentials, in their order. */
static size_t auth_files(const struct cli_push_opts *p, char **files, size_t max)
{
	const char *v;
	size_t n = 0;

	if (p->authfile) {
		files[n++] = ut_strdup(p->authfile);
		return n;
	}
	if ((v = getenv("REGISTRY_AUTH_FILE")) && *v)
		files[n++] = ut_strdup(v);
	if ((v = getenv("XDG_RUNTIME_DIR")) && *v)
		files[n++] = ut_asprintf("%s/containers/auth.json", v);
	if ((v = getenv("DOCKER_CONFIG")) && *v && n < max)
		files[n++] = ut_asprintf("%s/config.json", v);
	if ((v = getenv("HOME")) && *v && n < max)
		files[n++] = ut_asprintf("%s/.docker/config.json", v);
	return n;
}

static json_t *stats_json(const struct reg_push_stats *st, const char *dst)
{
	return json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I}", "destination", dst,
			 "digest", st->digest, "media_type", st->media_type, "blobs", "pushed",
			 (json_int_t)st->blobs_pushed, "skipped", (json_int_t)st->blobs_skipped,
			 "mounted", (json_int_t)st->blobs_mounted, "blob_bytes_sent",
			 (json_int_t)st->blob_bytes_sent, "blob_bytes_total",
			 (json_int_t)st->blob_bytes_total, "manifests_put",
			 (json_int_t)st->manifests_put, "retries", (json_int_t)st->retries);
}

static void report_line(const char *dst, const struct reg_push_stats *st)
{
	char sent[32];

	fprintf(stderr, "vm2oci: pushed %s (%s): %" PRIu64 " blob%s uploaded (%s), %" PRIu64
		" mounted, %" PRIu64 " already there\n", dst, st->digest, st->blobs_pushed,
		st->blobs_pushed == 1 ? "" : "s", ut_human_size(st->blob_bytes_sent, sent, sizeof(sent)),
		st->blobs_mounted, st->blobs_skipped);
}

int cli_push(const struct cli_push_opts *p, const char *dir, const char *tag,
	     const char *const *dsts, size_t ndsts, struct cli_progress *prog, int quiet,
	     json_t **summary)
{
	struct reg_options ro = { 0 };
	struct reg_client *client = NULL;
	struct reg_ref *refs = ut_calloc(ndsts, sizeof(*refs));
	struct ut_err err;
	char *files[4] = { NULL }, *certs = NULL;
	size_t i, nfiles = 0;
	int rc = 1;

	for (i = 0; i < ndsts; i++)
		if (reg_ref_parse(dsts[i], &refs[i], &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
	nfiles = auth_files(p, files, 4);
	ro.creds = p->creds;
	ro.auth_files = (const char *const *)files;
	ro.nauth_files = nfiles;
	ro.tls_verify = p->tls_verify;
	ro.cert_dir = p->cert_dir;
	if (!ro.cert_dir) {
		/* as containers/image: the registry's own folder of certificates */
		certs = ut_asprintf("/etc/containers/certs.d/%s", refs[0].host);
		if (!is_dir(certs)) {
			free(certs);
			certs = ut_asprintf("/etc/docker/certs.d/%s", refs[0].host);
		}
		if (is_dir(certs))
			ro.cert_dir = certs;
	}
	ro.chunk_size = p->chunk_size;
	ro.retries = p->retries;
	ro.parallel = p->parallel;
	ro.mount_from = p->mount_from;
	ro.nmount_from = p->nmount_from;
	if (prog)
		ro.progress = cli_progress_hook(prog);
	if (reg_client_new(&ro, &client, &err) < 0) {
		cli_error("push: %s", err.msg);
		goto out;
	}
	if (summary)
		*summary = ndsts == 1 ? NULL : json_array();
	/* one client: a blob put in one repository is mounted into the next */
	for (i = 0; i < ndsts; i++) {
		struct reg_push_stats st = { 0 };
		double t0 = ut_now();
		json_t *one;

		if (reg_push_layout(client, dir, tag, &refs[i], &st, &err) < 0) {
			if (prog)
				cli_progress_done(prog);
			cli_error("push: %s", err.msg);
			goto out;
		}
		if (prog)
			cli_progress_done(prog);
		if (!summary) {
			if (!quiet)
				report_line(dsts[i], &st);
			continue;
		}
		one = stats_json(&st, dsts[i]);
		json_object_set_new(one, "seconds", json_real(ut_now() - t0));
		if (*summary)
			json_array_append_new(*summary, one);
		else
			*summary = one;
	}
	rc = 0;
out:
	reg_client_free(client);
	for (i = 0; i < ndsts; i++)
		reg_ref_release(&refs[i]);
	free(refs);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(certs);
	return rc;
}

/* oci:DIR[:TAG]: a ':' after the last '/' starts the tag. */
static int split_source(const char *src, char **dir, char **tag)
{
	const char *rest, *colon;

	if (strncmp(src, "oci:", 4))
		return -1;
	rest = src + 4;
	colon = strrchr(rest, ':');
	if (colon && !strchr(colon, '/')) {
		*dir = ut_strndup(rest, (size_t)(colon - rest));
		*tag = ut_strdup(colon + 1);
	} else {
		*dir = ut_strdup(rest);
		*tag = NULL;
	}
	return **dir ? 0 : -1;
}

int cmd_push(int argc, char **argv)
{
	enum { OPT_JSON = 256 };
	static const struct option longopts[] = {
		CLI_PUSH_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_push_opts p;
	struct cli_progress prog;
	json_t *summary = NULL;
	char *dir = NULL, *tag = NULL;
	int c, i, rc, json = 0, quiet = 0;

	cli_push_opts_init(&p);
	while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(push_usage, stdout); return 0;
		case '?': return cli_usage_error("push", "unknown option");
		default:
			if ((rc = cli_push_option(&p, c, optarg, "push")))
				return rc;
		}
	}
	if (optind + 2 > argc)
		return cli_usage_error("push", "expected oci:DIR[:TAG] and docker://HOST/REPO[:TAG]...");
	if (split_source(argv[optind], &dir, &tag) < 0)
		return cli_usage_error("push", "the source is oci:DIR[:TAG], not '%s'", argv[optind]);
	for (i = optind + 1; i < argc; i++)
		if ((rc = cli_push_check_ref("push", argv[i])))
			goto out;
	cli_progress_init(&prog, quiet || json);
	rc = cli_push(&p, dir, tag, (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1),
		      &prog, quiet, json ? &summary : NULL);
	if (!rc && summary) {
		json_dumpf(summary, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	}
	json_decref(summary);
out:
	free(dir);
	free(tag);
	return rc;
}
