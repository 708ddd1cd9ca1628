/*
 * http.c - the registry's HTTP side through one libcurl easy handle (its
 * connection reused between requests): the /v2/ ping that finds the scheme
 * and the auth challenge, Basic or Bearer auth (the token fetched from the
 * challenge's realm, for the repository's push and pull and the pull of
 * every mount source), TLS per skopeo's --tls-verify and --cert-dir, and
 * retries with exponential backoff on 5xx, 429 and dropped connections.
 */
#include "reg_internal.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

/* The Bearer token the handles of one push share: a handle that gets a 401
 * refreshes it under the lock (the others wait), unless gen says another
 * handle refreshed it since this one sent its request: then it reuses it. */
struct token_box {
	pthread_mutex_t lock;
	char *token;
	unsigned gen;
};

struct reg_http {
	CURL *curl;
	const struct reg_options *opt;
	char *host, *repo, *base; /* base: "https://host" or "http://host" */
	char *user, *pass;
	const char *cred_source; /* where user/pass came from, for messages */
	char *cred_file;         /* the auth file that had them */
	enum auth_scheme scheme;
	const char *auth_origin; /* the token realm's origin while fetching a token */
	struct reg_challenge ch;
	char *token;
	unsigned token_gen;    /* the box's gen that token is from */
	struct token_box own;  /* the box of a handle made by reg_http_new */
	struct token_box *box; /* own, or the box of the handle cloned */
	const int *cancel;     /* non-zero: abort the upload in flight */
	char **pull; /* scopes: repositories to pull from */
	size_t npull;
	struct ut_buf ca;           /* CA bundle when cert_dir adds some */
	char *client_cert, *client_key;
	uint64_t sent, retries;
	CURLcode last; /* of the last request that got no answer */
	char phase[40];
	uint64_t progress_base, progress_total;
	/* the request in flight */
	const struct reg_body *body;
	uint64_t body_pos;
	struct reg_response *resp;
	char errbuf[CURL_ERROR_SIZE];
};

static int curl_ready;

void reg_response_release(struct reg_response *r)
{
	free(r->location);
	free(r->digest);
	free(r->challenge);
	free(r->range);
	ut_buf_release(&r->body);
	memset(r, 0, sizeof(*r));
}

static void response_reset(struct reg_response *r)
{
	reg_response_release(r);
	ut_buf_init(&r->body, REG_MAX_BODY);
}

int reg_http_fail(struct reg_http *h, struct ut_err *err, const char *fmt, ...)
{
	char msg[UT_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ut_err_set(err, "registry %s, repository %s: %s", h->host ? h->host : "?",
			  h->repo ? h->repo : "?", msg);
}

static const char *status_text(long s)
{
	switch (s) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

int reg_http_fail_status(struct reg_http *h, const struct reg_response *r, struct ut_err *err,
			 const char *what)
{
	struct ut_buf text;
	int rc;

	ut_buf_init(&text, 2048);
	if (!r->body.data || !reg_error_text((char *)r->body.data, r->body.len, &text))
		ut_buf_addstr(&text, "", NULL);
	rc = reg_http_fail(h, err, "%s: HTTP %ld %s%s%s%s", what, r->status, status_text(r->status),
			   text.len ? ": " : "", text.len ? (char *)text.data : "",
			   r->status == 401 && h->cred_source ? " (wrong credentials?)" :
			   r->status == 401 ? " (no credentials: --creds or an auth file)" : "");
	ut_buf_release(&text);
	return rc;
}

/* ---- TLS material ----------------------------------------------------- */

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

/* skopeo's --cert-dir: every *.crt is a CA (added to the system's), and
 * NAME.cert with NAME.key is the client's certificate and key. */
static int load_cert_dir(struct reg_http *h, const char *dir, struct ut_err *err)
{
	struct dirent *de;
	char *cainfo = NULL, *path;
	DIR *d = opendir(dir);
	int rc = -1;

	if (!d)
		return ut_err_set(err, "--cert-dir %s: %s", dir, strerror(errno));
	ut_buf_init(&h->ca, 16u << 20);
	if (curl_easy_getinfo(h->curl, CURLINFO_CAINFO, &cainfo) == CURLE_OK && cainfo &&
	    access(cainfo, R_OK) == 0 && ut_read_host_file(cainfo, &h->ca, err) < 0)
		goto out;
	while ((de = readdir(d))) {
		if (has_suffix(de->d_name, ".crt")) {
			path = ut_asprintf("%s/%s", dir, de->d_name);
			rc = ut_read_host_file(path, &h->ca, err);
			free(path);
			if (rc < 0 || ut_buf_addstr(&h->ca, "\n", err) < 0)
				goto out;
			rc = -1;
		} else if (has_suffix(de->d_name, ".cert") && !h->client_cert) {
			size_t n = strlen(de->d_name) - 5;

			h->client_cert = ut_asprintf("%s/%s", dir, de->d_name);
			h->client_key = ut_asprintf("%s/%.*s.key", dir, (int)n, de->d_name);
			if (access(h->client_key, R_OK) != 0) {
				ut_err_set(err, "--cert-dir %s: %s has no %.*s.key beside it", dir,
					   de->d_name, (int)n, de->d_name);
				goto out;
			}
		}
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

struct reg_http *reg_http_new(const struct reg_options *opt, struct ut_err *err)
{
	struct reg_http *h;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			ut_err_set(err, "libcurl: global init failed");
			return NULL;
		}
		curl_ready = 1;
	}
	h = ut_calloc(1, sizeof(*h));
	h->opt = opt;
	pthread_mutex_init(&h->own.lock, NULL);
	h->box = &h->own;
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		ut_err_set(err, "libcurl: cannot make a handle");
		return NULL;
	}
	if (opt->cert_dir && load_cert_dir(h, opt->cert_dir, err) < 0) {
		reg_http_free(h);
		return NULL;
	}
	return h;
}

static void forget_target(struct reg_http *h)
{
	free(h->host);
	free(h->repo);
	free(h->base);
	free(h->user);
	free(h->pass);
	free(h->cred_file);
	free(h->token);
	reg_challenge_release(&h->ch);
	h->host = h->repo = h->base = h->user = h->pass = h->cred_file = h->token = NULL;
	h->cred_source = NULL;
	h->scheme = AUTH_NONE;
}

void reg_http_free(struct reg_http *h)
{
	if (!h)
		return;
	forget_target(h);
	reg_http_clear_pull_scopes(h);
	ut_buf_release(&h->ca);
	free(h->client_cert);
	free(h->client_key);
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->own.token);
	pthread_mutex_destroy(&h->own.lock);
	free(h);
}

void reg_http_clear_pull_scopes(struct reg_http *h)
{
	size_t i;

	for (i = 0; i < h->npull; i++)
		free(h->pull[i]);
	free(h->pull);
	h->pull = NULL;
	h->npull = 0;
}

void reg_http_add_pull_scope(struct reg_http *h, const char *repo)
{
	size_t i;

	for (i = 0; i < h->npull; i++)
		if (!strcmp(h->pull[i], repo))
			return;
	h->pull = ut_realloc(h->pull, (h->npull + 1) * sizeof(*h->pull));
	h->pull[h->npull++] = ut_strdup(repo);
}

void reg_http_set_progress(struct reg_http *h, const char *phase, uint64_t base, uint64_t total)
{
	snprintf(h->phase, sizeof(h->phase), "%s", phase);
	h->progress_base = base;
	h->progress_total = total;
	ut_progress_update(&h->opt->progress, h->phase, base, total);
}

uint64_t reg_http_bytes_sent(const struct reg_http *h)
{
	return h->sent;
}

uint64_t reg_http_retries(const struct reg_http *h)
{
	return h->retries;
}

static char *dup_or_null(const char *s)
{
	return s ? ut_strdup(s) : NULL;
}

/* The box's token into h; the caller holds the box's lock. */
static void token_take_locked(struct reg_http *h)
{
	free(h->token);
	h->token = dup_or_null(h->box->token);
	h->token_gen = h->box->gen;
}

/* h's token into the box, for the other handles; the caller holds the lock. */
static void token_publish_locked(struct reg_http *h)
{
	free(h->box->token);
	h->box->token = dup_or_null(h->token);
	h->token_gen = ++h->box->gen;
}

static void token_sync(struct reg_http *h)
{
	pthread_mutex_lock(&h->box->lock);
	if (h->token_gen != h->box->gen)
		token_take_locked(h);
	pthread_mutex_unlock(&h->box->lock);
}

struct reg_http *reg_http_clone(struct reg_http *parent, const struct reg_options *opt,
				const int *cancel, struct ut_err *err)
{
	struct reg_http *h = reg_http_new(opt, err);
	size_t i;

	if (!h)
		return NULL;
	h->host = dup_or_null(parent->host);
	h->repo = dup_or_null(parent->repo);
	h->base = dup_or_null(parent->base);
	h->user = dup_or_null(parent->user);
	h->pass = dup_or_null(parent->pass);
	h->cred_file = dup_or_null(parent->cred_file);
	h->cred_source = parent->cred_source == parent->cred_file ? h->cred_file :
			 parent->cred_source; /* else a string literal */
	h->scheme = parent->scheme;
	memcpy(h->ch.scheme, parent->ch.scheme, sizeof(h->ch.scheme));
	h->ch.realm = dup_or_null(parent->ch.realm);
	h->ch.service = dup_or_null(parent->ch.service);
	h->ch.scope = dup_or_null(parent->ch.scope);
	for (i = 0; i < parent->npull; i++)
		reg_http_add_pull_scope(h, parent->pull[i]);
	h->box = parent->box;
	h->cancel = cancel;
	token_sync(h);
	return h;
}

/* ---- one attempt -------------------------------------------------------- */

static size_t on_header(char *buf, size_t size, size_t n, void *ctx)
{
	struct reg_http *h = ctx;
	size_t len = size * n, vlen;
	static const struct { const char *name; size_t off; } keep[] = {
		{ "location:", offsetof(struct reg_response, location) },
		{ "docker-content-digest:", offsetof(struct reg_response, digest) },
		{ "www-authenticate:", offsetof(struct reg_response, challenge) },
		{ "range:", offsetof(struct reg_response, range) },
	};
	size_t i;

	if (len > REG_MAX_HEADER)
		return len; /* not one we need, whatever it is */
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t kl = strlen(keep[i].name);
		char **slot = (char **)((char *)h->resp + keep[i].off);
		const char *v;

		if (len < kl || strncasecmp(buf, keep[i].name, kl))
			continue;
		v = buf + kl;
		vlen = len - kl;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (memchr(v, '\0', vlen))
			return len;
		free(*slot); /* the last one wins: a redirect's or a retry's */
		*slot = ut_strndup(v, vlen);
	}
	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (after 100 Continue): drop the previous one's headers */
		free(h->resp->location);
		free(h->resp->digest);
		free(h->resp->challenge);
		free(h->resp->range);
		h->resp->location = h->resp->digest = h->resp->challenge = h->resp->range = NULL;
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ctx)
{
	struct reg_http *h = ctx;
	size_t len = size * n;

	/* Past the cap the rest is dropped: an error text needs no more. */
	if (h->resp->body.len + len <= REG_MAX_BODY)
		ut_buf_add(&h->resp->body, buf, len, NULL);
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct reg_http *h = ctx;
	const struct reg_body *b = h->body;
	uint64_t left = b->len - h->body_pos;
	size_t want = size * n;
	ssize_t got;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (b->data) {
		memcpy(buf, (const char *)b->data + h->body_pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(b->fd, buf, want, (off_t)(b->offset + h->body_pos));
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	h->body_pos += (uint64_t)got;
	h->sent += (uint64_t)got;
	return (size_t)got;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct reg_http *h = ctx;

	if (h->cancel && __atomic_load_n(h->cancel, __ATOMIC_RELAXED))
		return 1; /* CURLE_ABORTED_BY_CALLBACK */
	if (h->body && h->body->len > 4096 && h->opt->progress.update)
		ut_progress_update(&h->opt->progress, h->phase,
				   h->progress_base + (uint64_t)ulnow, h->progress_total);
	return 0;
}

static char *full_url(struct reg_http *h, const char *url)
{
	if (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7))
		return ut_strdup(url);
	return ut_asprintf("%s%s", h->base, url);
}

int reg_same_origin(const char *url, const char *origin)
{
	size_t n = origin ? strlen(origin) : 0;

	return n && !strncmp(url, origin, n) && (url[n] == '\0' || url[n] == '/' || url[n] == '?');
}

static CURLcode perform(struct reg_http *h, const char *method, const char *url,
			const struct reg_body *body, struct reg_response *r, int auth)
{
	struct curl_slist *hdrs = NULL;
	CURL *c = h->curl;
	char *u = full_url(h, url), *line = NULL;
	CURLcode cc;

	curl_easy_reset(c);
	response_reset(r);
	h->resp = r;
	h->body = body;
	h->body_pos = 0;
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vm2oci");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	/* a connection that stalls (1 byte in 60 s) is a dropped one */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->opt->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->opt->tls_verify ? 2L : 0L);
	if (h->ca.len) {
		struct curl_blob blob = { h->ca.data, h->ca.len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (h->client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
	}
	/* credentials and tokens go to the registry's own origin only, never
	 * to another host a Location header names */
	if (auth && !reg_same_origin(u, h->auth_origin ? h->auth_origin : h->base))
		auth = 0;
	if (auth && h->scheme == AUTH_BASIC && h->user) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, h->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, h->pass);
	} else if (auth && h->scheme == AUTH_BEARER && h->token) {
		line = ut_asprintf("Authorization: Bearer %s", h->token);
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "POST") && !body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(method, "GET")) {
		static const struct reg_body none = { .fd = -1 };

		if (!body)
			h->body = body = &none;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, h);
		curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
		if (body->content_range) {
			char *cr = ut_asprintf("Content-Range: %s", body->content_range);

			hdrs = curl_slist_append(hdrs, cr);
			free(cr);
		}
		if (body->content_type) {
			char *ct = ut_asprintf("Content-Type: %s", body->content_type);

			hdrs = curl_slist_append(hdrs, ct);
			free(ct);
		}
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	if (line) {
		memset(line, 0, strlen(line));
		free(line);
	}
	free(u);
	h->body = NULL;
	return cc;
}

static int transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int transient_status(long s)
{
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static void backoff(const struct reg_http *h, int attempt)
{
	double d = (h->opt->backoff > 0 ? h->opt->backoff : 0.5) * (double)(1u << (attempt < 10 ? attempt : 10));
	struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* perform() with retries: only an upload into a session (PATCH, or a PUT
 * from a file) is tried once, since a session that took part of it cannot
 * take it again; the push restarts such a blob from a new session. */
static int perform_retry(struct reg_http *h, const char *method, const char *url,
			 const struct reg_body *body, struct reg_response *r, int auth,
			 struct ut_err *err)
{
	int once = !strcmp(method, "PATCH") || (body && !body->data && body->len);
	int attempt, tries = 1 + (once ? 0 : (h->opt->retries > 0 ? h->opt->retries : 0));
	CURLcode cc = CURLE_OK;
	char *shown;

	for (attempt = 0; attempt < tries; attempt++) {
		if (attempt) {
			h->retries++;
			backoff(h, attempt - 1);
		}
		cc = perform(h, method, url, body, r, auth);
		if (cc == CURLE_OK && !transient_status(r->status))
			return 0;
		if (cc != CURLE_OK && !transient_curl(cc))
			break;
	}
	if (cc == CURLE_OK)
		return 0; /* a 5xx after every retry: the caller names it */
	h->last = cc;
	shown = full_url(h, url);
	if (strchr(shown, '?'))
		*strchr(shown, '?') = '\0'; /* upload state and digests: noise */
	reg_http_fail(h, err, "%s %s: %s%s", method, shown, h->errbuf[0] ? h->errbuf :
		      curl_easy_strerror(cc), attempt > 1 ? " (after retries)" : "");
	free(shown);
	return -1;
}

/* ---- auth ------------------------------------------------------------- */

static int add_scope(CURL *c, struct ut_buf *q, const char *scope)
{
	char *e = curl_easy_escape(c, scope, 0);
	int rc = ut_buf_addf(q, NULL, "&scope=%s", e ? e : "");

	curl_free(e);
	return rc;
}

/* The Bearer flow: GET realm?service=..&scope=.. (with Basic credentials
 * when we have them) gives a token for every repository we touch. */
static int fetch_token(struct reg_http *h, struct ut_err *err)
{
	struct reg_response r = { 0 };
	struct ut_buf url;
	char *svc = NULL, *scope, *origin = NULL;
	size_t i;
	int rc = -1;

	if (!h->ch.realm || (strncmp(h->ch.realm, "https://", 8) && strncmp(h->ch.realm, "http://", 7)))
		return reg_http_fail(h, err, "Bearer challenge without an http(s) realm");
	ut_buf_init(&url, 0);
	svc = h->ch.service ? curl_easy_escape(h->curl, h->ch.service, 0) : NULL;
	ut_buf_addf(&url, NULL, "%s%sservice=%s", h->ch.realm, strchr(h->ch.realm, '?') ? "&" : "?",
		    svc ? svc : "");
	scope = ut_asprintf("repository:%s:pull,push", h->repo);
	add_scope(h->curl, &url, scope);
	free(scope);
	for (i = 0; i < h->npull; i++) {
		scope = ut_asprintf("repository:%s:pull", h->pull[i]);
		add_scope(h->curl, &url, scope);
		free(scope);
	}
	if (h->ch.scope && strncmp(h->ch.scope, "repository:", 11) == 0)
		add_scope(h->curl, &url, h->ch.scope);
	/* Basic towards the token server only; the registry gets the token. */
	h->scheme = h->user ? AUTH_BASIC : AUTH_NONE;
	origin = ut_strndup(h->ch.realm, strcspn(h->ch.realm + 8, "/?#") + 8);
	h->auth_origin = origin;
	rc = perform_retry(h, "GET", (char *)url.data, NULL, &r, 1, err);
	h->auth_origin = NULL;
	if (rc < 0)
		goto out;
	rc = -1;
	h->scheme = AUTH_BEARER;
	if (r.status == 401) {
		reg_http_fail(h, err, "token server %.200s: HTTP 401 Unauthorized: %s%s", h->ch.realm,
			      h->cred_source ? "refused the credentials from " :
			      "wants credentials (--creds USER:PASS, or an auth file)",
			      h->cred_source ? h->cred_source : "");
		goto out;
	}
	if (r.status != 200) {
		reg_http_fail_status(h, &r, err, "token server");
		goto out;
	}
	free(h->token);
	h->token = NULL;
	if (reg_token_parse(r.body.data ? (char *)r.body.data : "", r.body.len, &h->token, err) < 0) {
		reg_http_fail(h, err, "token server %s: %s", h->ch.realm, err ? err->msg : "");
		goto out;
	}
	rc = 0;
out:
	h->scheme = AUTH_BEARER;
	free(origin);
	curl_free(svc);
	ut_buf_release(&url);
	reg_response_release(&r);
	return rc;
}

/* Takes a 401's challenge: Basic (credentials needed) or Bearer (a token). */
static int take_challenge(struct reg_http *h, const char *hdr, struct ut_err *err)
{
	struct ut_err perr;

	reg_challenge_release(&h->ch);
	if (!hdr)
		return reg_http_fail(h, err, "HTTP 401 without a WWW-Authenticate challenge");
	if (reg_challenge_parse(hdr, strlen(hdr), &h->ch, &perr) < 0)
		return reg_http_fail(h, err, "%s", perr.msg);
	if (!strcmp(h->ch.scheme, "basic")) {
		if (!h->user)
			return reg_http_fail(h, err, "HTTP 401 Unauthorized: the registry wants "
					     "credentials (--creds USER:PASS, or an auth file)");
		h->scheme = AUTH_BASIC;
		return 0;
	}
	if (!strcmp(h->ch.scheme, "bearer"))
		return fetch_token(h, err);
	return reg_http_fail(h, err, "unsupported auth scheme '%s'", h->ch.scheme);
}

static int find_credentials(struct reg_http *h, struct ut_err *err)
{
	const struct reg_options *o = h->opt;
	size_t i;

	if (o->creds) {
		const char *colon = strchr(o->creds, ':');

		h->user = colon ? ut_strndup(o->creds, (size_t)(colon - o->creds)) : ut_strdup(o->creds);
		h->pass = ut_strdup(colon ? colon + 1 : "");
		h->cred_source = "--creds";
		return 0;
	}
	for (i = 0; i < o->nauth_files; i++) {
		struct ut_buf b;
		struct ut_err ferr;
		int found;

		if (access(o->auth_files[i], F_OK) != 0)
			continue;
		ut_buf_init(&b, REG_MAX_AUTH_FILE);
		found = ut_read_host_file(o->auth_files[i], &b, &ferr) < 0 ? -1 :
			reg_auth_file_lookup(b.data ? (char *)b.data : "", b.len, h->host,
					     h->repo, &h->user, &h->pass, &ferr);
		ut_buf_release(&b);
		if (found < 0)
			return ut_err_set(err, "%s: %s", o->auth_files[i], ferr.msg);
		if (found) {
			h->cred_file = ut_strdup(o->auth_files[i]);
			h->cred_source = h->cred_file;
			return 0;
		}
	}
	return 0;
}

int reg_http_connect(struct reg_http *h, const char *host, const char *repo, struct ut_err *err)
{
	struct reg_response r = { 0 };
	int rc = -1;

	forget_target(h);
	h->host = ut_strdup(host);
	h->repo = ut_strdup(repo);
	if (find_credentials(h, err) < 0)
		goto out;
	h->base = ut_asprintf("https://%s", host);
	if (perform_retry(h, "GET", "/v2/", NULL, &r, 0, err) < 0) {
		struct ut_err https_err = *err;

		if (h->opt->tls_verify || h->last == CURLE_COULDNT_CONNECT)
			goto out;
		/* --tls-verify=false: plain http too, as skopeo does */
		free(h->base);
		h->base = ut_asprintf("http://%s", host);
		if (perform_retry(h, "GET", "/v2/", NULL, &r, 0, err) < 0) {
			*err = https_err;
			goto out;
		}
	}
	if (r.status == 401) {
		if (take_challenge(h, r.challenge, err) < 0)
			goto out;
		/* wrong credentials are named here, not at the first blob */
		if (h->scheme == AUTH_BASIC &&
		    (perform_retry(h, "GET", "/v2/", NULL, &r, 1, err) < 0 || r.status != 200)) {
			if (r.status == 401)
				reg_http_fail(h, err, "HTTP 401 Unauthorized: the credentials from %s "
					      "were refused", h->cred_source);
			else if (r.status)
				reg_http_fail_status(h, &r, err, "GET /v2/ with credentials");
			goto out;
		}
	} else if (r.status != 200) {
		reg_http_fail_status(h, &r, err, "GET /v2/ (is it an OCI registry?)");
		goto out;
	}
	pthread_mutex_lock(&h->box->lock);
	token_publish_locked(h);
	pthread_mutex_unlock(&h->box->lock);
	rc = 0;
out:
	reg_response_release(&r);
	return rc;
}

int reg_http_do(struct reg_http *h, const char *method, const char *url,
		const struct reg_body *body, struct reg_response *r, struct ut_err *err)
{
	unsigned gen;

	token_sync(h);
	gen = h->token_gen;
	if (perform_retry(h, method, url, body, r, 1, err) < 0)
		return -1;
	/* A Bearer token may lack a scope the registry wants now (or expire):
	 * one new token, one more try. Handles sharing the token refresh it
	 * once: the others wait on the lock, then take the new one. */
	if (r->status == 401 && h->scheme == AUTH_BEARER && r->challenge) {
		char *hdr = ut_strdup(r->challenge);
		int rc = 0;

		pthread_mutex_lock(&h->box->lock);
		if (h->box->gen != gen)
			token_take_locked(h);
		else if ((rc = take_challenge(h, hdr, err)) == 0)
			token_publish_locked(h);
		pthread_mutex_unlock(&h->box->lock);
		free(hdr);
		if (rc < 0)
			return -1;
		if (body && !body->data && body->len)
			return 0; /* an upload session: the caller starts over */
		return perform_retry(h, method, url, body, r, 1, err);
	}
	return 0;
}
