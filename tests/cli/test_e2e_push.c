/*
 * test_e2e_push.c - vm2oci push and convert --push against Debian's
 * docker-registry (the CNCF distribution registry), started by the test
 * through tests/lib/registry.sh on 127.0.0.1 with a free port and a private
 * storage directory: once plain HTTP, once TLS (a self-signed certificate,
 * and a client certificate required) with htpasswd Basic auth (bcrypt), once with the Bearer token flow
 * (tests/lib/token-server.py signs the JWTs). skopeo is the oracle: the manifest it
 * reads back has the local digest, and what it copies back has the local
 * blobs. A second push sends no blob byte; a clone pushed to another
 * repository mounts the template's layer; errors are one line naming the
 * registry and the repository, and leave no tag. Retries are tested through
 * tests/lib/flaky-proxy.py, which answers some requests 503 and drops others.
 * The registries and proxies are stopped by pid at the end (also at exit,
 * when the setup failed).
 */
#include "testkeep.h"

#define USER "alice"
#define PASS "s3cret-pw"

static const char *bin, *src;
static char *dir, *fx;
static char plain[64], secure[64], bearer[64]; /* 127.0.0.1:PORT */
static char tdigest[80], cdigest[80], gdigest[80];

static void stop_all(void)
{
	if (!dir)
		return;
	tu_sh("for p in '%s'/proxy*.pid; do [ -f \"$p\" ] && kill $(cat \"$p\") && rm -f \"$p\"; done; true", dir);
	tu_sh("for r in plain tls token; do '%s/tests/lib/registry.sh' stop '%s/'$r; done", src, dir);
}

static void start(const char *sub, const char *args, char *hostport)
{
	char *port = tu_kept(tu_sh_out("'%s/tests/lib/registry.sh' start '%s/%s' %s", src, dir, sub, args));

	if (!*port)
		fail_msg("docker-registry (%s) did not start; its log is above", sub);
	snprintf(hostport, 64, "127.0.0.1:%s", port);
}

/* The digest index.json gives a tag of a layout. */
static void layout_digest(const char *layout, const char *tag, char *out)
{
	char *d = tu_kept(tu_sh_out("jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"%s\") | .digest' '%s/index.json'",
				    tag, layout));

	assert_int_equal(strlen(d), 71);
	strcpy(out, d);
}

static int setup(void **state)
{
	src = getenv("VM2OCI_SOURCE_DIR");
	bin = getenv("VM2OCI_BINARY");
	if (!src || !bin)
		tu_skip("VM2OCI_BINARY and VM2OCI_SOURCE_DIR must be set (ctest sets them)");
	if (getuid() != 0)
		tu_skip("the clone's conversion reads disks as root");
	if (!tu_have("docker-registry") || !tu_have("skopeo") || !tu_have("htpasswd") ||
	    !tu_have("jq") || !tu_have("openssl") || !tu_have("curl"))
		tu_skip("docker-registry, skopeo, htpasswd (apache2-utils), jq, openssl or curl "
			"missing (scripts/install-deps.sh --peers)");
	fx = tu_fixture("template.qcow2");
	*strrchr(fx, '/') = '\0';
	free(tu_fixture("clone.qcow2"));
	dir = tu_tmpdir();
	atexit(stop_all);
	/* a cache of our own: the machine's may hold trees other builds wrote */
	tu_sh("mkdir -p '%s/cache'", dir);
	setenv("VM2OCI_CACHE", tu_kept(tu_sh_out("printf %%s/cache '%s'", dir)), 1);
	start("plain", "", plain);
	start("tls", "--tls --mtls --auth " USER ":" PASS, secure);
	start("token", "--token " USER ":" PASS, bearer);
	/* the template alone; the GPT VM and the clone on it share their first layer */
	if (tu_sh("'%s' convert '%s/template.qcow2' -o '%s/l' --tag template -q", bin, fx, dir) ||
	    tu_sh("'%s' convert '%s/debian-gpt.qcow2' --base 'disk:%s/template.qcow2' -o '%s/l' --tag gpt -q",
		  bin, fx, fx, dir) ||
	    tu_sh("'%s' convert '%s/clone.qcow2' --base 'disk:%s/template.qcow2' -o '%s/l' --tag clone "
		  "--max-file-size 2G -q", bin, fx, fx, dir))
		fail_msg("converting the template, the GPT VM and the clone failed");
	layout_digest(tu_kept(tu_sh_out("printf %%s/l '%s'", dir)), "template", tdigest);
	layout_digest(tu_kept(tu_sh_out("printf %%s/l '%s'", dir)), "clone", cdigest);
	layout_digest(tu_kept(tu_sh_out("printf %%s/l '%s'", dir)), "gpt", gdigest);
	(void)state;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stop_all();
	tu_sh("rm -rf '%s'", dir);
	free(dir);
	free(fx);
	dir = NULL;
	tu_kept_free();
	return 0;
}

/* jq's answer on a push's --json saved as name. */
static long jq_num(const char *name, const char *expr)
{
	return atol(tu_kept(tu_sh_out("jq -r '%s' '%s/%s'", expr, dir, name)));
}

/* The bytes of the config and layers of the layout's manifest digest. */
static long blob_bytes(const char *digest)
{
	return atol(tu_kept(tu_sh_out("cd '%s/l/blobs/sha256' && jq -r '.layers[].size, .config.size' %s | paste -sd+ | bc",
				      dir, digest + 7)));
}

/* Chunked (--chunk-size 4M: PATCH with Content-Range), then skopeo reads the
 * manifest back with the local digest. */
static void test_push_plain(void **state)
{
	long bytes;

	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://%s/fleet/template:v1 --tls-verify=false "
			       "--chunk-size 4M --json > '%s/p1.json'", bin, dir, plain, dir), 0);
	bytes = blob_bytes(tdigest);
	assert_int_equal(jq_num("p1.json", ".blobs.pushed"), 2);
	assert_int_equal(jq_num("p1.json", ".blob_bytes_sent"), bytes);
	assert_string_equal(tu_kept(tu_sh_out("jq -r .digest '%s/p1.json'", dir)), tdigest);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/template:v1 | sha256sum | cut -d' ' -f1",
					      plain)), tdigest + 7);
	/* the 61 MB layer went in chunks */
	assert_true(atoi(tu_kept(tu_sh_out("grep -c '\"PATCH /v2/fleet/template/blobs/uploads/' '%s/plain/registry.log'", dir))) >= 10);
}

static void test_second_push_sends_nothing(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://%s/fleet/template:v1 --tls-verify=false "
			       "--json > '%s/p2.json'", bin, dir, plain, dir), 0);
	assert_int_equal(jq_num("p2.json", ".blob_bytes_sent"), 0);
	assert_int_equal(jq_num("p2.json", ".blobs.skipped"), 2);
	assert_int_equal(jq_num("p2.json", ".blobs.pushed"), 0);
}

/* Several destinations, one process: what went into the first repository
 * is mounted into the second (the client remembers where it put each blob). */
static void test_one_process_mounts(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://%s/one/a:v1 docker://%s/one/b:v1 "
			       "--tls-verify=false --json > '%s/m.json'", bin, dir, plain, plain, dir), 0);
	assert_int_equal(jq_num("m.json", ".[0].blobs.pushed"), 2);
	assert_int_equal(jq_num("m.json", ".[1].blobs.mounted"), 2);
	assert_int_equal(jq_num("m.json", ".[1].blob_bytes_sent"), 0);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/one/b:v1 | sha256sum | cut -d' ' -f1",
					      plain)), tdigest + 7);
}

/* A manifest whose org.opencontainers.image.base.name names a repository
 * of the same registry: its blobs are mounted from there, no --mount-from. */
static void test_base_annotation_mounts(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("mkdir -p '%s/ann/blobs' && cp -a '%s/l/blobs/sha256' '%s/ann/blobs/' && cp '%s/l/oci-layout' '%s/ann/' && "
			       "jq -c '.annotations = {\"org.opencontainers.image.base.name\": \"docker://%s/fleet/template:v1\"}' "
			       "'%s/l/blobs/sha256/%s' > '%s/ann/m' && d=$(sha256sum < '%s/ann/m' | cut -d' ' -f1) && "
			       "mv '%s/ann/m' '%s/ann/blobs/sha256/'$d && "
			       "printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%%s\",\"size\":%%s}]}' "
			       "$d $(stat -c %%s '%s/ann/blobs/sha256/'$d) > '%s/ann/index.json'",
			       dir, dir, dir, dir, dir, plain, dir, tdigest + 7, dir, dir, dir, dir, dir, dir), 0);
	assert_int_equal(tu_sh("'%s' push 'oci:%s/ann' docker://%s/fleet/annotated:v1 --tls-verify=false --json > '%s/a.json'",
			       bin, dir, plain, dir), 0);
	assert_int_equal(jq_num("a.json", ".blobs.mounted"), 2);
	assert_int_equal(jq_num("a.json", ".blob_bytes_sent"), 0);
}

/* convert --sbom --push: the SBOM artifact follows its subject, under the
 * tag sha256-<subject hex>.sbom of the same repository. */
static void test_sbom_follows(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("'%s' convert '%s/template.qcow2' --sbom spdx --push docker://%s/fleet/sbom:v1 "
			       "--tls-verify=false --json > '%s/s.json'", bin, fx, plain, dir), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r .push.digest '%s/s.json'", dir)), tdigest);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/sbom:sha256-%s.sbom | jq -r '.artifactType + \" \" + .subject.digest'",
					      plain, tdigest + 7)),
			    tu_kept(tu_sh_out("printf 'application/spdx+json %%s' %s", tdigest)));
	assert_string_equal(tu_kept(tu_sh_out("jq -r .push.sbom.digest '%s/s.json'", dir)),
			    tu_kept(tu_sh_out("jq -r .sbom.manifest_digest '%s/s.json'", dir)));
}

/* An image index (tests/image/make_multi.sh: the clone as linux/arm64, the
 * template as linux/amd64): each platform manifest put by digest, the index
 * last under the tag; the registry serves the index and both children. */
static void test_index(void **state)
{
	char *idx;

	(void)state;
	assert_int_equal(tu_sh("mkdir '%s/ren' && cp -a '%s/l/blobs' '%s/l/oci-layout' '%s/ren/' && "
			       "jq '.manifests[].annotations[\"org.opencontainers.image.ref.name\"] |= "
			       "(if . == \"template\" then \"base\" elif . == \"clone\" then \"two\" else . end)' "
			       "'%s/l/index.json' > '%s/ren/index.json' && sh '%s/tests/image/make_multi.sh' '%s/ren' '%s/multi' '%s/flat'",
			       dir, dir, dir, dir, dir, dir, src, dir, dir, dir), 0);
	idx = tu_kept(tu_sh_out("jq -r '.manifests[0].digest' '%s/multi/index.json'", dir));
	assert_int_equal(tu_sh("'%s' push 'oci:%s/multi:multi' docker://%s/fleet/multi:v1 --tls-verify=false --json > '%s/i.json'",
			       bin, dir, plain, dir), 0);
	assert_int_equal(jq_num("i.json", ".manifests_put"), 3);
	assert_string_equal(tu_kept(tu_sh_out("jq -r .media_type '%s/i.json'", dir)),
			    "application/vnd.oci.image.index.v1+json");
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/multi:v1 | sha256sum | cut -d' ' -f1",
					      plain)), idx + 7);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/multi@%s | sha256sum | cut -d' ' -f1",
					      plain, cdigest)), cdigest + 7);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/multi@%s | sha256sum | cut -d' ' -f1",
					      plain, tdigest)), tdigest + 7);
}

/* skopeo copy back: the same manifest digest and the same blob bytes. */
static void test_copy_back(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("skopeo copy -q --src-tls-verify=false docker://%s/fleet/template:v1 'oci:%s/back:v1'",
			       plain, dir), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '.manifests[0].digest' '%s/back/index.json'", dir)), tdigest);
	assert_int_equal(tu_sh("cd '%s/back/blobs/sha256' && for b in *; do cmp -s \"$b\" '%s/l/blobs/sha256/'\"$b\" || exit 1; done",
			       dir, dir), 0);
}

/* convert --push without -o: the clone into another repository mounts the
 * template's layer (which the GPT VM's image, pushed first, begins with)
 * instead of uploading it; the registry stores it once, and no temporary
 * layout is left. */
static void test_clone_mounts_base(void **state)
{
	char *layer = tu_kept(tu_sh_out("jq -r '.layers[0].digest' '%s/l/blobs/sha256/%s'", dir, cdigest + 7));
	long unique;

	(void)state;
	tu_sh("mkdir -p '%s/tmp'", dir);
	assert_int_equal(tu_sh("'%s' push -q 'oci:%s/l:gpt' docker://%s/fleet/gpt:v1 --tls-verify=false", bin, dir, plain), 0);
	assert_int_equal(tu_sh("TMPDIR='%s/tmp' '%s' convert '%s/clone.qcow2' --base 'disk:%s/template.qcow2' --max-file-size 2G "
			       "--push docker://%s/fleet/clone:v1 --mount-from fleet/gpt --tls-verify=false --json > '%s/c.json'",
			       dir, bin, fx, fx, plain, dir), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r .push.digest '%s/c.json'", dir)), cdigest);
	assert_int_equal(jq_num("c.json", ".push.blobs.mounted"), 1);
	assert_int_equal(jq_num("c.json", ".push.blobs.pushed"), 2);
	assert_true(jq_num("c.json", ".push.blob_bytes_sent") <
		    jq_num("c.json", ".push.blob_bytes_total") - 60000000);
	assert_int_equal(tu_sh("grep -q 'POST /v2/fleet/clone/blobs/uploads/?mount=%s&from=fleet/gpt' '%s/plain/registry.log'",
			       layer, dir), 0);
	assert_int_equal(tu_sh("test -f '%s/plain/storage/docker/registry/v2/repositories/fleet/clone/_layers/sha256/%s/link'",
			       dir, layer + 7), 0);
	assert_string_equal(tu_kept(tu_sh_out("ls -A '%s/tmp'", dir)), "");
	/* storage: each layer once (the template's tree too), configs, manifests */
	unique = atol(tu_kept(tu_sh_out("cd '%s/l/blobs/sha256' && cat $(jq -r '.layers[].digest, .config.digest' %s %s %s | sort -u | cut -c8-) %s %s %s | wc -c",
					dir, tdigest + 7, cdigest + 7, gdigest + 7, tdigest + 7, cdigest + 7, gdigest + 7)));
	assert_true(atol(tu_kept(tu_sh_out("find '%s/plain/storage/docker/registry/v2/blobs' -type f -name data -printf '%%s\\n' | paste -sd+ | bc",
					   dir))) <= unique);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/clone:v1 | sha256sum | cut -d' ' -f1",
					      plain)), cdigest + 7);
}

/* TLS verified against --cert-dir (which also holds the client's
 * certificate the registry requires), Basic auth from --creds, --authfile,
 * $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and
 * ~/.docker/config.json. */
static void test_tls_basic_auth(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("'%s' push -q 'oci:%s/l:template' docker://%s/fleet/template:v1 --cert-dir '%s/tls/ca' "
			       "--creds " USER ":" PASS " --json > '%s/t1.json'", bin, dir, secure, dir, dir), 0);
	assert_int_equal(jq_num("t1.json", ".blobs.pushed"), 2);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --cert-dir '%s/tls/ca' --creds " USER ":" PASS
					      " docker://%s/fleet/template:v1 | sha256sum | cut -d' ' -f1", dir, secure)),
			    tdigest + 7);
	tu_sh("printf '{\"auths\": {\"%s\": {\"auth\": \"%%s\"}}}' $(printf %%s " USER ":" PASS " | base64) > '%s/auth.json'",
	      secure, dir);
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://%s/fleet/template:v1 --cert-dir '%s/tls/ca' "
			       "--authfile '%s/auth.json' --json > '%s/t2.json'", bin, dir, secure, dir, dir, dir), 0);
	assert_int_equal(jq_num("t2.json", ".blobs.skipped"), 2);
	assert_int_equal(tu_sh("REGISTRY_AUTH_FILE='%s/auth.json' '%s' push -q 'oci:%s/l:template' docker://%s/fleet/t2:v1 "
			       "--cert-dir '%s/tls/ca'", dir, bin, dir, secure, dir), 0);
	/* where podman and docker keep them */
	assert_int_equal(tu_sh("mkdir -p '%s/xdg/containers' '%s/home/.docker' && cp '%s/auth.json' '%s/xdg/containers/auth.json' && "
			       "cp '%s/auth.json' '%s/home/.docker/config.json'", dir, dir, dir, dir, dir, dir), 0);
	assert_int_equal(tu_sh("HOME=/nonexistent XDG_RUNTIME_DIR='%s/xdg' '%s' push -q 'oci:%s/l:template' docker://%s/fleet/t3:v1 "
			       "--cert-dir '%s/tls/ca'", dir, bin, dir, secure, dir), 0);
	assert_int_equal(tu_sh("HOME='%s/home' XDG_RUNTIME_DIR=/nonexistent '%s' push -q 'oci:%s/l:template' docker://%s/fleet/t4:v1 "
			       "--cert-dir '%s/tls/ca'", dir, bin, dir, secure, dir), 0);
}

/* Exit 1 and one line on stderr that contains every word of want. */
static void one_line_error(const char *cmd, const char *want1, const char *want2)
{
	char *errf = tu_kept(tu_sh_out("printf %%s/err '%s'", dir));

	assert_int_equal(tu_sh("%s 2> '%s'", cmd, errf), 1);
	tu_sh("cat '%s' >&2", errf);
	assert_string_equal(tu_kept(tu_sh_out("wc -l < '%s'", errf)), "1");
	assert_int_equal(tu_sh("grep -qF -- '%s' '%s' && grep -qF -- '%s' '%s'", want1, errf, want2, errf), 0);
}

/* The Bearer flow: a token for the repository, with pull on the mount
 * source; refused credentials and none at all are one line each. */
static void test_bearer_token(void **state)
{
	char cmd[8192], want[128];

	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://%s/tok/a:v1 docker://%s/tok/b:v1 --tls-verify=false "
			       "--creds " USER ":" PASS " --json > '%s/b.json'", bin, dir, bearer, bearer, dir), 0);
	assert_int_equal(jq_num("b.json", ".[0].blobs.pushed"), 2);
	assert_int_equal(jq_num("b.json", ".[1].blobs.mounted"), 2);
	assert_int_equal(tu_sh("grep -q 'scope=repository:tok/b:pull,push repository:tok/a:pull auth=ok' '%s/token/token.log'",
			       dir), 0);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false --creds " USER ":" PASS
					      " docker://%s/tok/b:v1 | sha256sum | cut -d' ' -f1", bearer)), tdigest + 7);
	snprintf(want, sizeof(want), "registry %s, repository tok/c:", bearer);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://%s/tok/c:v1 --tls-verify=false --creds " USER ":nope",
		 bin, dir, bearer);
	one_line_error(cmd, want, "refused the credentials from --creds");
	snprintf(cmd, sizeof(cmd), "HOME='%s' XDG_RUNTIME_DIR='%s' '%s' push 'oci:%s/l:template' docker://%s/tok/c:v1 --tls-verify=false",
		 dir, dir, bin, dir, bearer);
	one_line_error(cmd, want, "HTTP 401");
}

static void test_errors(void **state)
{
	char cmd[8192], want[128];
	char *free_port = tu_kept(tu_sh_out("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'"));

	(void)state;
	snprintf(want, sizeof(want), "registry %s, repository fleet/x:", secure);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://%s/fleet/x:v1 --cert-dir '%s/tls/ca' --creds " USER ":wrong",
		 bin, dir, secure, dir);
	one_line_error(cmd, want, "401");
	snprintf(cmd, sizeof(cmd), "HOME='%s' XDG_RUNTIME_DIR='%s' '%s' push 'oci:%s/l:template' docker://%s/fleet/x:v1 --cert-dir '%s/tls/ca'",
		 dir, dir, bin, dir, secure, dir);
	one_line_error(cmd, want, "401");
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://%s/fleet/x:v1 --creds " USER ":" PASS, bin, dir, secure);
	one_line_error(cmd, want, "certificate");
	/* the server's CA but no client certificate: the handshake fails */
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://%s/fleet/x:v1 --cert-dir '%s/tls/ca-only' --creds " USER ":" PASS,
		 bin, dir, secure, dir);
	one_line_error(cmd, want, "GET https://");
	snprintf(want, sizeof(want), "registry 127.0.0.1:%s, repository fleet/x:", free_port);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://127.0.0.1:%s/fleet/x:v1 --tls-verify=false --retries 1",
		 bin, dir, free_port);
	one_line_error(cmd, want, "connect");
}

/* A layer whose bytes are not its digest: the registry refuses it, and the
 * tag is never put. */
static void test_nothing_half_tagged(void **state)
{
	char cmd[8192], want[128];
	char *layer = tu_kept(tu_sh_out("jq -r '.layers[0].digest' '%s/l/blobs/sha256/%s' | cut -c8-", dir, tdigest + 7));

	(void)state;
	assert_int_equal(tu_sh("cp -r '%s/l' '%s/bad' && rm '%s/bad/blobs/sha256/%s' && cp '%s/l/blobs/sha256/%s' '%s/bad/blobs/sha256/%s' && "
			       "printf 'X' | dd of='%s/bad/blobs/sha256/%s' bs=1 seek=1000000 conv=notrunc status=none",
			       dir, dir, dir, layer, dir, layer, dir, layer, dir, layer), 0);
	snprintf(want, sizeof(want), "registry %s, repository fleet/bad:", plain);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/bad:template' docker://%s/fleet/bad:v1 --tls-verify=false", bin, dir, plain);
	one_line_error(cmd, want, "DIGEST_INVALID");
	assert_int_not_equal(tu_sh("skopeo inspect --raw --tls-verify=false docker://%s/fleet/bad:v1 > /dev/null 2>&1", plain), 0);
}

/* A proxy in front of the plain registry failing request k*every for k in
 * 1..faults (503, dropped, 503, ...); returns its port. */
static char *flaky_proxy_matching(const char *name, int every, int faults, const char *match)
{
	char *port;
	int i;

	tu_sh("python3 '%s/tests/lib/flaky-proxy.py' %s '%s/%s.port' %d %d '%s' 2> '%s/%s.log' & echo $! > '%s/%s.pid'",
	      src, strchr(plain, ':') + 1, dir, name, every, faults, match, dir, name, dir, name);
	for (i = 0; i < 100 && tu_sh("test -s '%s/%s.port'", dir, name); i++)
		usleep(100 * 1000);
	port = tu_kept(tu_sh_out("cat '%s/%s.port'", dir, name));
	if (!*port)
		fail_msg("flaky-proxy.py did not start");
	return port;
}

static char *flaky_proxy(const char *name, int every, int faults)
{
	return flaky_proxy_matching(name, every, faults, "");
}

/* 503s and dropped connections: requests retried with backoff, a chunk
 * resent from where the upload session stands; the image arrives whole.
 * A registry that keeps failing: one line, exit 1. --parallel 1: the
 * faults hit fixed request numbers, so the requests go in a fixed order
 * (in parallel a dropped HEAD on a reused connection may be resent by
 * libcurl itself, unseen in .retries). */
static void test_retries(void **state)
{
	char cmd[8192], want[128];
	char *port = flaky_proxy("proxy", 3, 4), *bad;

	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:template' docker://127.0.0.1:%s/fleet/flaky:v1 --tls-verify=false "
			       "--chunk-size 8M --parallel 1 --json > '%s/r.json'", bin, dir, port, dir), 0);
	tu_sh("cut -c1-100 '%s/proxy.log' >&2", dir);
	assert_string_equal(tu_kept(tu_sh_out("grep -c ': 503$' '%s/proxy.log'", dir)), "2");
	assert_string_equal(tu_kept(tu_sh_out("grep -c ': dropped$' '%s/proxy.log'", dir)), "2");
	assert_true(jq_num("r.json", ".retries") >= 4);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/fleet/flaky:v1 | sha256sum | cut -d' ' -f1",
					      plain)), tdigest + 7);
	bad = flaky_proxy("proxy-bad", 1, 1000);
	snprintf(want, sizeof(want), "registry 127.0.0.1:%s, repository fleet/x:", bad);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:template' docker://127.0.0.1:%s/fleet/x:v1 --tls-verify=false --retries 2",
		 bin, dir, bad);
	one_line_error(cmd, want, "HTTP 503");
}

/* --parallel 4 with the GPT VM's image (its config and two layers, the
 * large one in 4M chunks): the blobs go up at once, on several connections,
 * and the registry serves the local manifest; every blob byte went once. */
static void test_parallel_layers(void **state)
{
	long bytes;

	(void)state;
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:gpt' docker://%s/par/gpt:v1 --tls-verify=false --chunk-size 4M "
			       "--parallel 4 --json > '%s/par.json'", bin, dir, plain, dir), 0);
	bytes = blob_bytes(gdigest);
	assert_int_equal(jq_num("par.json", ".blobs.pushed"), 3);
	assert_int_equal(jq_num("par.json", ".blob_bytes_sent"), bytes);
	assert_int_equal(jq_num("par.json", ".blob_bytes_total"), bytes);
	assert_string_equal(tu_kept(tu_sh_out("jq -r .digest '%s/par.json'", dir)), gdigest);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false docker://%s/par/gpt:v1 | sha256sum | cut -d' ' -f1",
					      plain)), gdigest + 7);
	/* the blobs' final PUTs came from more than one connection */
	assert_true(atoi(tu_kept(tu_sh_out("grep 'method=PUT .*uri=\"/v2/par/gpt/blobs/uploads/' '%s/plain/registry.log' | "
					   "grep -o 'remoteaddr=\"[^\"]*' | sort -u | wc -l", dir))) >= 2);
}

/* One blob's upload keeps failing (the proxy answers 503 to every request
 * carrying its digest) while the others go up: one line naming the
 * registry and the repository, exit 1, and no manifest put. */
static void test_parallel_one_blob_fails(void **state)
{
	char cmd[8192], want[128], match[96];
	char *layer = tu_kept(tu_sh_out("jq -r '.layers[-1].digest' '%s/l/blobs/sha256/%s'", dir, gdigest + 7)), *port;

	(void)state;
	snprintf(match, sizeof(match), "digest=%s", layer);
	port = flaky_proxy_matching("proxy-one", 1, 1000, match);
	snprintf(want, sizeof(want), "registry 127.0.0.1:%s, repository par/fail:", port);
	snprintf(cmd, sizeof(cmd), "'%s' push 'oci:%s/l:gpt' docker://127.0.0.1:%s/par/fail:v1 --tls-verify=false "
		 "--parallel 4 --retries 1", bin, dir, port);
	one_line_error(cmd, want, "HTTP 503");
	assert_true(atoi(tu_kept(tu_sh_out("grep -c ': 503$' '%s/proxy-one.log'", dir))) >= 2);
	assert_int_not_equal(tu_sh("skopeo inspect --raw --tls-verify=false docker://%s/par/fail:v1 > /dev/null 2>&1", plain), 0);
	assert_string_equal(tu_kept(tu_sh_out("grep -c 'PUT /v2/par/fail/manifests/' '%s/plain/registry.log'", dir)), "0");
}

/* token-server.py's requests so far: its log's lines that are not notes. */
static long token_requests(void)
{
	return atol(tu_kept(tu_sh_out("grep -c '^token-server: service=' '%s/token/token.log'", dir)));
}

/* The Bearer flow with --parallel 4: the connections share one token (one
 * request to the token server for the whole push). Then the first token
 * is already expired: every connection gets a 401, one refreshes it and
 * the others take the new one (two token requests in all). */
static void test_parallel_bearer(void **state)
{
	long before;

	(void)state;
	before = token_requests();
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:gpt' docker://%s/tokpar/gpt:v1 --tls-verify=false --chunk-size 4M "
			       "--creds " USER ":" PASS " --parallel 4 --json > '%s/bp.json'", bin, dir, bearer, dir), 0);
	assert_int_equal(token_requests() - before, 1);
	tu_sh("echo 1 > '%s/token/expire-next'", dir);
	before = token_requests();
	assert_int_equal(tu_sh("'%s' push 'oci:%s/l:gpt' docker://%s/tokpar/gpt2:v1 --tls-verify=false --chunk-size 4M "
			       "--creds " USER ":" PASS " --parallel 4 --json > '%s/bp2.json'", bin, dir, bearer, dir), 0);
	assert_int_equal(token_requests() - before, 2);
	assert_int_equal(tu_sh("grep -q 'that token is expired' '%s/token/token.log'", dir), 0);
	assert_int_equal(jq_num("bp2.json", ".blobs.skipped") + jq_num("bp2.json", ".blobs.pushed") +
			 jq_num("bp2.json", ".blobs.mounted"), 3);
	assert_int_equal(jq_num("bp.json", ".blobs.pushed"), 3);
	assert_string_equal(tu_kept(tu_sh_out("skopeo inspect --raw --tls-verify=false --creds " USER ":" PASS
					      " docker://%s/tokpar/gpt:v1 | sha256sum | cut -d' ' -f1", bearer)), gdigest + 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_plain),
		cmocka_unit_test(test_second_push_sends_nothing),
		cmocka_unit_test(test_one_process_mounts),
		cmocka_unit_test(test_copy_back),
		cmocka_unit_test(test_clone_mounts_base),
		cmocka_unit_test(test_index), /* after the storage count */
		cmocka_unit_test(test_sbom_follows),
		cmocka_unit_test(test_base_annotation_mounts),
		cmocka_unit_test(test_tls_basic_auth),
		cmocka_unit_test(test_bearer_token),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nothing_half_tagged),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_parallel_layers),
		cmocka_unit_test(test_parallel_one_blob_fails),
		cmocka_unit_test(test_parallel_bearer),
	};

	return cmocka_run_group_tests_name("vm2oci push to docker-registry", tests, setup, teardown);
}
