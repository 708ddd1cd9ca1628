/*
 * push.c - an OCI layout's image into a registry, by the distribution
 * spec: blobs first (HEAD, then mount or upload), manifests after, the
 * tagged one last, so a failure never leaves a tag on a partial image.
 * With opt.parallel above 1 the blobs of a manifest go through that many
 * threads, each with its own HTTP handle (connection), sharing the token.
 */
#include "reg_internal.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* A blob this client put (or found) in a repository: a mount source for
 * the next push to another repository of the same registry. */
struct seen_blob {
	char digest[7 + UT_SHA256_HEX];
	char *host, *repo;
};

struct reg_client {
	struct reg_options opt;
	struct reg_http *http;
	pthread_mutex_t seen_lock; /* blob threads add to seen */
	struct seen_blob *seen;
	size_t nseen;
	int cancel; /* a blob failed: the other blob threads stop */
	/* the push in progress */
	const struct reg_ref *dst;
	char **sources; /* mount sources named by the caller or the image */
	size_t nsources;
	uint64_t manifest_bytes; /* sent, to count blob bytes apart */
};

int reg_client_new(const struct reg_options *opt, struct reg_client **out, struct ut_err *err)
{
	struct reg_client *c = ut_calloc(1, sizeof(*c));

	c->opt = *opt;
	if (!c->opt.chunk_size)
		c->opt.chunk_size = REG_DEFAULT_CHUNK;
	c->http = reg_http_new(&c->opt, err);
	if (!c->http) {
		free(c);
		return -1;
	}
	pthread_mutex_init(&c->seen_lock, NULL);
	*out = c;
	return 0;
}

static void clear_sources(struct reg_client *c)
{
	size_t i;

	for (i = 0; i < c->nsources; i++)
		free(c->sources[i]);
	free(c->sources);
	c->sources = NULL;
	c->nsources = 0;
}

void reg_client_free(struct reg_client *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nseen; i++) {
		free(c->seen[i].host);
		free(c->seen[i].repo);
	}
	free(c->seen);
	clear_sources(c);
	reg_http_free(c->http);
	pthread_mutex_destroy(&c->seen_lock);
	free(c);
}

/* The repository (a copy: another thread may grow seen) of host other
 * than not_repo where this client put digest, or NULL. */
static char *seen_find(struct reg_client *c, const char *digest, const char *host,
		       const char *not_repo)
{
	char *repo = NULL;
	size_t i;

	pthread_mutex_lock(&c->seen_lock);
	for (i = 0; i < c->nseen && !repo; i++)
		if (!strcmp(c->seen[i].digest, digest) && !strcmp(c->seen[i].host, host) &&
		    strcmp(c->seen[i].repo, not_repo))
			repo = ut_strdup(c->seen[i].repo);
	pthread_mutex_unlock(&c->seen_lock);
	return repo;
}

static void seen_add(struct reg_client *c, const char *digest)
{
	size_t i;

	pthread_mutex_lock(&c->seen_lock);
	for (i = 0; i < c->nseen; i++)
		if (!strcmp(c->seen[i].digest, digest) && !strcmp(c->seen[i].host, c->dst->host) &&
		    !strcmp(c->seen[i].repo, c->dst->repo))
			goto out;
	c->seen = ut_realloc(c->seen, (c->nseen + 1) * sizeof(*c->seen));
	snprintf(c->seen[c->nseen].digest, sizeof(c->seen[0].digest), "%s", digest);
	c->seen[c->nseen].host = ut_strdup(c->dst->host);
	c->seen[c->nseen].repo = ut_strdup(c->dst->repo);
	c->nseen++;
out:
	pthread_mutex_unlock(&c->seen_lock);
}

static int cancelled(const struct reg_client *c)
{
	return __atomic_load_n(&c->cancel, __ATOMIC_RELAXED);
}

static void add_source(struct reg_client *c, const char *repo)
{
	size_t i;

	if (!strcmp(repo, c->dst->repo))
		return;
	for (i = 0; i < c->nsources; i++)
		if (!strcmp(c->sources[i], repo))
			return;
	c->sources = ut_realloc(c->sources, (c->nsources + 1) * sizeof(*c->sources));
	c->sources[c->nsources++] = ut_strdup(repo);
	reg_http_add_pull_scope(c->http, repo);
}

/* Mount sources: --mount-from, the image's base.name annotation when it
 * names this registry, and every repository this client pushed to there. */
static void collect_sources(struct reg_client *c, const struct reg_image *img)
{
	size_t i;

	clear_sources(c);
	reg_http_clear_pull_scopes(c->http);
	for (i = 0; i < c->opt.nmount_from; i++)
		add_source(c, c->opt.mount_from[i]);
	for (i = 0; i <= img->nchildren; i++) {
		const struct reg_manifest *m = i < img->nchildren ? &img->children[i] : &img->top;
		struct reg_ref base;

		if (m->base_name && reg_ref_parse(m->base_name, &base, NULL) == 0) {
			if (!strcmp(base.host, c->dst->host))
				add_source(c, base.repo);
			reg_ref_release(&base);
		}
	}
	for (i = 0; i < c->nseen; i++)
		if (!strcmp(c->seen[i].host, c->dst->host))
			add_source(c, c->seen[i].repo);
}

static char *with_digest(const char *location, const char *digest)
{
	return ut_asprintf("%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?", digest);
}

/* POST .../uploads/?mount=D&from=R: 1 mounted, 0 with an upload session in
 * *location (the registry does not have it there, or refused), -1 error. */
static int try_mount(struct reg_client *c, struct reg_http *h, const struct reg_blob *b,
		     const char *from, char **location, struct ut_err *err)
{
	struct reg_response r = { 0 };
	char *url = ut_asprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", c->dst->repo, b->digest, from);
	int rc = -1;

	if (reg_http_do(h, "POST", url, NULL, &r, err) < 0)
		goto out;
	if (r.status == 201) {
		rc = 1;
	} else if (r.status == 202 && r.location) {
		free(*location);
		*location = r.location;
		r.location = NULL;
		rc = 0;
	} else {
		reg_http_fail_status(h, &r, err, "starting an upload");
	}
out:
	free(url);
	reg_response_release(&r);
	return rc;
}

static int start_upload(struct reg_client *c, struct reg_http *h, char **location,
			struct ut_err *err)
{
	struct reg_response r = { 0 };
	char *url = ut_asprintf("/v2/%s/blobs/uploads/", c->dst->repo);
	int rc = -1;

	if (reg_http_do(h, "POST", url, NULL, &r, err) < 0)
		goto out;
	if (r.status != 202 || !r.location) {
		reg_http_fail_status(h, &r, err, "starting an upload");
		goto out;
	}
	free(*location);
	*location = r.location;
	r.location = NULL;
	rc = 0;
out:
	free(url);
	reg_response_release(&r);
	return rc;
}

/* Where an interrupted chunked upload stands: GET of the session gives
 * "Range: 0-LAST" (distribution writes 0-0 for an empty session too, so
 * that resumes from 0; a wrong guess ends in a 416 and a new session). */
static int upload_offset(struct reg_client *c, struct reg_http *h, char **location, uint64_t *off)
{
	struct reg_response r = { 0 };
	unsigned long long first, last;
	int rc = -1;

	if (reg_http_do(h, "GET", *location, NULL, &r, NULL) == 0 && r.status == 204 &&
	    r.range && sscanf(r.range, "%llu-%llu", &first, &last) == 2 && first == 0) {
		*off = last ? last + 1 : 0;
		if (r.location) {
			free(*location);
			*location = r.location;
			r.location = NULL;
		}
		rc = 0;
	}
	reg_response_release(&r);
	return rc;
}

/* One try at sending b into the session at *location: one PUT, or PATCH
 * chunks then an empty PUT; a chunk that fails is sent again from where
 * the session stands (as often as --retries allows). 1 when the registry
 * failed in a way worth a new session, 0 done, -1 error. */
static int upload_once(struct reg_client *c, struct reg_http *h, const struct reg_blob *b, int fd,
		       char **location, struct reg_push_stats *st, struct ut_err *err)
{
	int resumes = 0;
	struct reg_response r = { 0 };
	struct reg_body body = { .fd = fd, .content_type = "application/octet-stream" };
	char what[128], phase[32], *url = NULL;
	uint64_t off = 0, chunk = c->opt.chunk_size;
	int rc = -1;

	snprintf(what, sizeof(what), "upload of blob %s", b->digest);
	snprintf(phase, sizeof(phase), "push %.19s", b->digest);
	if (b->size > chunk) {
		while (off < b->size) {
			char range[64];

			body.offset = off;
			body.len = b->size - off < chunk ? b->size - off : chunk;
			reg_http_set_progress(h, phase, off, b->size);
			snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
				 (unsigned long long)(off + body.len - 1));
			body.content_range = range;
			if (reg_http_do(h, "PATCH", *location, &body, &r, err) < 0 ||
			    r.status >= 500 || r.status == 429) {
				if (resumes++ >= c->opt.retries || cancelled(c))
					goto retry;
				st->retries++;
				usleep((useconds_t)(250000u << (resumes < 6 ? resumes : 6)));
				if (upload_offset(c, h, location, &off) < 0 || off > b->size)
					goto retry;
				continue;
			}
			if (r.status != 202 || !r.location) {
				reg_http_fail_status(h, &r, err, what);
				goto out;
			}
			free(*location);
			*location = r.location;
			r.location = NULL;
			off += body.len;
		}
		body.len = 0;
		body.offset = 0;
		body.content_range = NULL;
	} else {
		body.len = b->size;
	}
	reg_http_set_progress(h, phase, off, b->size);
	url = with_digest(*location, b->digest);
	if (reg_http_do(h, "PUT", url, body.len ? &body : NULL, &r, err) < 0)
		goto retry;
	if (r.status >= 500 || r.status == 429)
		goto retry;
	if (r.status != 201) {
		reg_http_fail_status(h, &r, err, what);
		goto out;
	}
	if (r.digest && strcmp(r.digest, b->digest)) {
		reg_http_fail(h, err, "%s: the registry stored it as %.80s (digest mismatch)",
			      what, r.digest);
		goto out;
	}
	reg_http_set_progress(h, phase, b->size, b->size);
	rc = 0;
	goto out;
retry:
	if (r.status) /* else err says why no answer came */
		reg_http_fail_status(h, &r, err, what);
	rc = 1;
out:
	free(url);
	reg_response_release(&r);
	return rc;
}

static int upload(struct reg_client *c, struct reg_http *h, const struct reg_image *img,
		  const struct reg_blob *b, char **location, struct reg_push_stats *st,
		  struct ut_err *err)
{
	int fd, rc, attempt;

	if (reg_image_open_blob(img, b, &fd, err) < 0)
		return reg_http_fail(h, err, "%s", err ? err->msg : "");
	for (attempt = 0;; attempt++) {
		if (attempt && start_upload(c, h, location, err) < 0) {
			rc = -1;
			break;
		}
		rc = upload_once(c, h, b, fd, location, st, err);
		if (rc <= 0 || attempt >= c->opt.retries || cancelled(c))
			break;
		st->retries++;
		usleep((useconds_t)(500000u << (attempt < 6 ? attempt : 6)));
	}
	close(fd);
	return rc ? -1 : 0;
}

static int push_blob(struct reg_client *c, struct reg_http *h, const struct reg_image *img,
		     const struct reg_blob *b, struct reg_push_stats *st, struct ut_err *err)
{
	struct reg_response r = { 0 };
	char *first = NULL; /* the repository this client put b in first */
	char *url = ut_asprintf("/v2/%s/blobs/%s", c->dst->repo, b->digest), *location = NULL;
	size_t i;
	int rc = -1, m = 0;

	st->blob_bytes_total += b->size;
	if (reg_http_do(h, "HEAD", url, NULL, &r, err) < 0)
		goto out;
	if (r.status == 200) {
		st->blobs_skipped++;
		seen_add(c, b->digest);
		rc = 0;
		goto out;
	}
	if (r.status != 404) {
		reg_http_fail_status(h, &r, err, "HEAD of a blob");
		goto out;
	}
	/* where this client put it first, then every other source */
	if ((first = seen_find(c, b->digest, c->dst->host, c->dst->repo)))
		m = try_mount(c, h, b, first, &location, err);
	for (i = 0; m == 0 && i < c->nsources; i++)
		if (!first || strcmp(c->sources[i], first))
			m = try_mount(c, h, b, c->sources[i], &location, err);
	if (m < 0)
		goto out;
	if (m == 1) {
		st->blobs_mounted++;
		seen_add(c, b->digest);
		rc = 0;
		goto out;
	}
	if (!location && start_upload(c, h, &location, err) < 0)
		goto out;
	if (upload(c, h, img, b, &location, st, err) < 0)
		goto out;
	st->blobs_pushed++;
	seen_add(c, b->digest);
	rc = 0;
out:
	free(first);
	free(url);
	free(location);
	reg_response_release(&r);
	return rc;
}

static int put_manifest(struct reg_client *c, const struct reg_manifest *m, const char *ref,
			struct reg_push_stats *st, struct ut_err *err)
{
	struct reg_response r = { 0 };
	struct reg_body body = { .data = m->bytes.data, .len = m->bytes.len, .fd = -1,
				 .content_type = m->media_type };
	char *url = ut_asprintf("/v2/%s/manifests/%s", c->dst->repo, ref), what[160];
	int rc = -1;

	snprintf(what, sizeof(what), "PUT of manifest %s as %s", m->digest, ref);
	if (reg_http_do(c->http, "PUT", url, &body, &r, err) < 0)
		goto out;
	if (r.status != 201) {
		reg_http_fail_status(c->http, &r, err, what);
		goto out;
	}
	if (r.digest && strcmp(r.digest, m->digest)) {
		reg_http_fail(c->http, err, "%s: the registry computed %.80s (digest mismatch)", what,
			      r.digest);
		goto out;
	}
	st->manifests_put++;
	c->manifest_bytes += m->bytes.len;
	rc = 0;
out:
	free(url);
	reg_response_release(&r);
	return rc;
}

/* ---- blobs in parallel ------------------------------------------------- */

struct blob_pool;

/* One thread of the pool and its HTTP handle (kept for the whole push). */
struct blob_worker {
	struct blob_pool *pool;
	struct reg_http *http;
	struct reg_options opt;   /* the client's, progress into the pool's total */
	struct reg_push_stats st; /* added into the caller's at the end */
	uint64_t in_flight;       /* bytes sent of the blob it is on */
	pthread_t thread;
};

/* The blobs of one manifest at a time, taken in order by the workers. The
 * first failure is kept and stops the rest (c->cancel aborts uploads in
 * flight); the manifest is put only when the pool succeeded. */
struct blob_pool {
	struct reg_client *c;
	const struct reg_image *img;
	const struct reg_manifest *m;
	pthread_mutex_t lock; /* next, failed, err, progress */
	size_t next;
	int failed;
	struct ut_err err;
	uint64_t bytes_done, bytes_total; /* for the one progress line */
	struct blob_worker *w;
	size_t nw;
};

/* Each worker's uploads make one line: the bytes of the manifest's blobs
 * done or in flight over all workers, drawn under the lock. */
static void pool_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct blob_worker *w = ctx;
	struct blob_pool *p = w->pool;
	uint64_t sum;
	size_t i;
	char line[48];

	(void)phase;
	(void)total;
	pthread_mutex_lock(&p->lock);
	w->in_flight = done;
	for (sum = p->bytes_done, i = 0; i < p->nw; i++)
		sum += p->w[i].in_flight;
	snprintf(line, sizeof(line), "push %zu blobs", p->m->nblobs);
	ut_progress_update(&p->c->opt.progress, line, sum, p->bytes_total);
	pthread_mutex_unlock(&p->lock);
}

static void *blob_worker_run(void *arg)
{
	struct blob_worker *w = arg;
	struct blob_pool *p = w->pool;
	struct ut_err err;

	for (;;) {
		const struct reg_blob *b = NULL;

		pthread_mutex_lock(&p->lock);
		if (!p->failed && p->next < p->m->nblobs)
			b = &p->m->blobs[p->next++];
		pthread_mutex_unlock(&p->lock);
		if (!b)
			break;
		if (push_blob(p->c, w->http, p->img, b, &w->st, &err) < 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->failed) {
				p->failed = 1;
				p->err = err;
				__atomic_store_n(&p->c->cancel, 1, __ATOMIC_RELAXED);
			}
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_lock(&p->lock);
		p->bytes_done += b->size;
		w->in_flight = 0;
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void pool_init(struct blob_pool *p, struct reg_client *c, const struct reg_image *img)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->img = img;
	pthread_mutex_init(&p->lock, NULL);
}

/* Workers for the largest manifest of the image, each with a handle
 * cloned from the connected c->http; none (p->nw 0) when at most one blob
 * at a time would go anyway. */
static int pool_add_workers(struct blob_pool *p, struct ut_err *err)
{
	struct reg_client *c = p->c;
	const struct reg_image *img = p->img;
	size_t i, most = img->top.nblobs;

	for (i = 0; i < img->nchildren; i++)
		if (img->children[i].nblobs > most)
			most = img->children[i].nblobs;
	if (c->opt.parallel <= 1 || most <= 1)
		return 0;
	p->nw = (size_t)c->opt.parallel < most ? (size_t)c->opt.parallel : most;
	p->w = ut_calloc(p->nw, sizeof(*p->w));
	for (i = 0; i < p->nw; i++) {
		struct blob_worker *w = &p->w[i];

		w->pool = p;
		w->opt = c->opt;
		w->opt.progress.update = c->opt.progress.update ? pool_progress : NULL;
		w->opt.progress.ctx = w;
		w->http = reg_http_clone(c->http, &w->opt, &c->cancel, err);
		if (!w->http)
			return reg_http_fail(c->http, err, "%s", err ? err->msg : "");
	}
	return 0;
}

/* The pool's counters into st; frees the workers. */
static void pool_close(struct blob_pool *p, struct reg_push_stats *st)
{
	size_t i;

	for (i = 0; i < p->nw; i++) {
		struct blob_worker *w = &p->w[i];

		st->blobs_pushed += w->st.blobs_pushed;
		st->blobs_skipped += w->st.blobs_skipped;
		st->blobs_mounted += w->st.blobs_mounted;
		st->blob_bytes_total += w->st.blob_bytes_total;
		st->retries += w->st.retries;
		if (w->http) {
			st->blob_bytes_sent += reg_http_bytes_sent(w->http);
			st->retries += reg_http_retries(w->http);
		}
		reg_http_free(w->http);
	}
	free(p->w);
	pthread_mutex_destroy(&p->lock);
}

static int push_manifest_blobs(struct blob_pool *p, const struct reg_manifest *m,
			       struct reg_push_stats *st, struct ut_err *err)
{
	size_t i, started = 0;

	if (!p->nw || m->nblobs <= 1) {
		for (i = 0; i < m->nblobs; i++)
			if (push_blob(p->c, p->c->http, p->img, &m->blobs[i], st, err) < 0)
				return -1;
		return 0;
	}
	p->m = m;
	p->next = 0;
	p->failed = 0;
	p->bytes_done = 0;
	for (p->bytes_total = 0, i = 0; i < m->nblobs; i++)
		p->bytes_total += m->blobs[i].size;
	for (i = 0; i < p->nw && i < m->nblobs; i++) {
		p->w[i].in_flight = 0;
		if (pthread_create(&p->w[i].thread, NULL, blob_worker_run, &p->w[i]) != 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->failed) {
				p->failed = 1;
				reg_http_fail(p->c->http, &p->err, "cannot start a blob thread");
			}
			pthread_mutex_unlock(&p->lock);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(p->w[i].thread, NULL);
	__atomic_store_n(&p->c->cancel, 0, __ATOMIC_RELAXED);
	if (!p->failed)
		return 0;
	if (err)
		*err = p->err;
	return -1;
}

int reg_push_layout(struct reg_client *c, const char *dir, const char *src_tag,
		    const struct reg_ref *dst, struct reg_push_stats *st, struct ut_err *err)
{
	struct reg_image img;
	struct blob_pool pool;
	uint64_t sent0 = reg_http_bytes_sent(c->http), retries0 = reg_http_retries(c->http);
	uint64_t mbytes0 = c->manifest_bytes;
	size_t i;
	int rc = -1;

	if (reg_image_open(dir, src_tag, &img, err) < 0)
		return -1;
	pool_init(&pool, c, &img);
	c->dst = dst;
	collect_sources(c, &img);
	if (reg_http_connect(c->http, dst->host, dst->repo, err) < 0)
		goto out;
	if (dst->digest && strcmp(dst->digest, img.top.digest)) {
		reg_http_fail(c->http, err, "the image is %s, not the digest %s the reference names",
			      img.top.digest, dst->digest);
		goto out;
	}
	if (pool_add_workers(&pool, err) < 0)
		goto out;
	for (i = 0; i < img.nchildren; i++)
		if (push_manifest_blobs(&pool, &img.children[i], st, err) < 0 ||
		    put_manifest(c, &img.children[i], img.children[i].digest, st, err) < 0)
			goto out;
	if (push_manifest_blobs(&pool, &img.top, st, err) < 0 ||
	    put_manifest(c, &img.top, dst->tag ? dst->tag : img.top.digest, st, err) < 0)
		goto out;
	snprintf(st->digest, sizeof(st->digest), "%s", img.top.digest);
	snprintf(st->media_type, sizeof(st->media_type), "%s", img.top.media_type);
	rc = 0;
out:
	st->blob_bytes_sent += reg_http_bytes_sent(c->http) - sent0 - (c->manifest_bytes - mbytes0);
	st->retries += reg_http_retries(c->http) - retries0;
	pool_close(&pool, st);
	reg_image_release(&img);
	c->dst = NULL;
	return rc;
}
