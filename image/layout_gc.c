/*
 * layout_gc.c - removing what nothing in a layout's index.json reaches.
 *
 * Mark and sweep under the layout directory's exclusive flock. Writers hold
 * that lock shared from img_layout_open to img_layout_free, so while gc holds
 * it no writer has a blob written but not yet named in index.json (such a
 * blob would look like garbage). Everything is marked before anything is
 * removed, and any doubt while marking (a missing blob, a manifest that does
 * not parse, a digest we cannot place) stops gc: sweeping from a partial
 * mark would delete live images.
 */
#include "img_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Nested image indexes deeper than this are refused (ours are one deep). */
#define GC_MAX_DEPTH 8

struct gc {
	char *dir;
	char *blob_dir;
	char *index_shown;
	int dirfd, blobfd;
	const struct img_gc_options *opt;
	struct img_gc_result *res;
	struct img_pmap marked; /* hex -> 1 */
};

static void add_item(struct img_gc_result *res, enum img_gc_kind kind, const char *name,
		     uint64_t bytes)
{
	res->items = ut_realloc(res->items, (res->nitems + 1) * sizeof(*res->items));
	res->items[res->nitems].kind = kind;
	res->items[res->nitems].name = ut_strdup(name);
	res->items[res->nitems].bytes = bytes;
	res->nitems++;
}

static int is_marked(const struct gc *g, const char *hex)
{
	size_t v;

	return img_pmap_get(&g->marked, hex, &v);
}

static int mark_manifest(struct gc *g, json_t *desc, int depth, json_t **subject_out,
			 struct ut_err *err);

/* The blob desc names (named in from, for errors) is here, a regular file:
 * 0 and its hex and stat; 1 when it is absent but need not be here; -1. */
static int check_blob(struct gc *g, json_t *desc, const char *from, char hex[UT_SHA256_HEX],
		      struct stat *st, struct ut_err *err)
{
	const char *digest = img_json_str(desc, "digest");

	if (!json_is_object(desc) || !digest)
		return ut_err_set(err, "%s: a descriptor without a digest; nothing removed", from);
	if (img_digest_hex(digest, hex) < 0)
		return ut_err_set(err, "%s: names %s, not a sha256 digest gc can place; nothing removed",
				  from, digest);
	if (fstatat(g->blobfd, hex, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode))
		return 0;
	/* A non-distributable layer lives at its urls, not here. */
	if (errno == ENOENT && json_is_array(json_object_get(desc, "urls")))
		return 1;
	return ut_err_set(err, "%s/%s: %s, named by %s; nothing removed", g->blob_dir, hex,
			  errno == ENOENT ? "missing" : "not a regular file", from);
}

/*
 * Marks the blob desc names. With parse, it is a manifest or an index and
 * what it names is marked too.
 */
static int mark_desc(struct gc *g, json_t *desc, const char *from, int parse, int depth,
		     struct ut_err *err)
{
	char hex[UT_SHA256_HEX];
	struct stat st;
	int rc = check_blob(g, desc, from, hex, &st, err);

	if (rc != 0 || is_marked(g, hex))
		return rc < 0 ? -1 : 0;
	img_pmap_put(&g->marked, ut_strdup(hex), 1);
	g->res->kept_blobs++;
	g->res->kept_bytes += (uint64_t)st.st_size;
	return parse ? mark_manifest(g, desc, depth, NULL, err) : 0;
}

static int mark_array(struct gc *g, json_t *arr, const char *from, int parse, int depth,
		      struct ut_err *err)
{
	size_t i;

	if (arr && !json_is_array(arr))
		return ut_err_set(err, "%s: not a manifest (a list that is not an array); nothing removed",
				  from);
	for (i = 0; i < json_array_size(arr); i++)
		if (mark_desc(g, json_array_get(arr, i), from, parse, depth, err) < 0)
			return -1;
	return 0;
}

/*
 * What the manifest or index desc names (desc itself is marked by the
 * caller). An index's manifests are manifests or indexes in turn; a
 * manifest's config, layers and blobs (the old artifact manifest) are
 * leaves. With subject_out, a manifest that has a subject (a referrer) is
 * not marked: *subject_out gets the subject (a reference the caller drops).
 */
static int mark_manifest(struct gc *g, json_t *desc, int depth, json_t **subject_out,
			 struct ut_err *err)
{
	json_t *man, *list;
	char *shown;
	int rc = -1;

	if (depth > GC_MAX_DEPTH)
		return ut_err_set(err, "%s: image indexes nested more than %d deep; nothing removed",
				  g->index_shown, GC_MAX_DEPTH);
	if (!(man = img_load_manifest(g->blobfd, g->blob_dir, desc, err))) {
		shown = ut_strdup(err->msg);
		ut_err_set(err, "%s; nothing removed", shown);
		free(shown);
		return -1;
	}
	shown = ut_asprintf("%s/%s", g->blob_dir, img_json_str(desc, "digest") + 7);
	if (!json_is_object(man)) {
		ut_err_set(err, "%s: not a manifest or index; nothing removed", shown);
		goto out;
	}
	list = json_object_get(man, "manifests");
	if (list) {
		rc = mark_array(g, list, shown, 1, depth + 1, err);
		goto out;
	}
	if (!json_object_get(man, "config") && !json_object_get(man, "layers") &&
	    !json_object_get(man, "blobs")) {
		ut_err_set(err, "%s: not a manifest or index; nothing removed", shown);
		goto out;
	}
	if (subject_out && json_is_object(json_object_get(man, "subject"))) {
		*subject_out = json_incref(json_object_get(man, "subject"));
		rc = 0;
		goto out;
	}
	g->res->manifests++;
	if (json_object_get(man, "config") &&
	    mark_desc(g, json_object_get(man, "config"), shown, 0, depth, err) < 0)
		goto out;
	rc = mark_array(g, json_object_get(man, "layers"), shown, 0, depth, err) < 0 ||
			     mark_array(g, json_object_get(man, "blobs"), shown, 0, depth, err) < 0
		     ? -1
		     : 0;
out:
	free(shown);
	json_decref(man);
	return rc;
}

/* A root of index.json that is a referrer, held back until its subject is
 * known to be kept. */
struct pending {
	json_t *desc;    /* the index entry (borrowed from the index) */
	json_t *subject; /* its manifest's subject (owned) */
	int done;
};

/* Marks from index.json: plain roots first, then referrers whose subject got
 * marked, until none is added (an SBOM's signature refers to the SBOM). What
 * is left refers to something gone: taken out of the index. */
static int mark_roots(struct gc *g, json_t *manifests, json_t *dropped, struct ut_err *err)
{
	struct pending *p = ut_calloc(json_array_size(manifests) + 1, sizeof(*p));
	size_t i, np = 0;
	int rc = -1, more = 1, c;

	for (i = 0; i < json_array_size(manifests); i++) {
		json_t *d = json_array_get(manifests, i), *subject = NULL;
		char hex[UT_SHA256_HEX];
		struct stat st;

		/* The entry's own blob is checked first, marked only once we
		 * know it stays. */
		if ((c = check_blob(g, d, g->index_shown, hex, &st, err)) != 0) {
			if (c > 0)
				ut_err_set(err, "%s: lists %s, which is not here; nothing removed",
					   g->index_shown, img_json_str(d, "digest"));
			goto out;
		}
		if (!is_marked(g, hex)) {
			if (mark_manifest(g, d, 0, &subject, err) < 0)
				goto out;
			if (subject) {
				p[np].desc = d;
				p[np++].subject = subject;
				continue;
			}
		}
		/* the manifest's names are marked: now the manifest blob */
		if (mark_desc(g, d, g->index_shown, 0, 0, err) < 0)
			goto out;
	}
	while (more) {
		more = 0;
		for (i = 0; i < np; i++) {
			const char *sd = img_json_str(p[i].subject, "digest");
			char hex[UT_SHA256_HEX];

			if (p[i].done || !sd || img_digest_hex(sd, hex) < 0 || !is_marked(g, hex))
				continue;
			p[i].done = more = 1;
			if (!is_marked(g, img_json_str(p[i].desc, "digest") + 7)) {
				/* Marks the manifest's own names, then the manifest. */
				if (mark_desc(g, p[i].desc, g->index_shown, 0, 0, err) < 0 ||
				    mark_manifest(g, p[i].desc, 0, NULL, err) < 0)
					goto out;
			}
		}
	}
	for (i = 0; i < np; i++)
		if (!p[i].done)
			json_array_append(dropped, p[i].desc);
	rc = 0;
out:
	for (i = 0; i < np; i++)
		json_decref(p[i].subject);
	free(p);
	return rc;
}

/* index.json without the referrers whose subject is gone, written the way
 * a commit writes it (temporary name, rename). */
static int drop_referrers(struct gc *g, json_t *index, json_t *manifests, json_t *dropped,
			  struct ut_err *err)
{
	struct ut_buf b;
	size_t i, k;
	int rc;

	for (k = 0; k < json_array_size(dropped); k++) {
		json_t *d = json_array_get(dropped, k);

		add_item(g->res, IMG_GC_REFERRER, img_json_str(d, "digest"),
			 (uint64_t)json_integer_value(json_object_get(d, "size")));
		g->res->dropped_referrers++;
	}
	if (g->opt->dry_run || !json_array_size(dropped))
		return 0;
	for (i = json_array_size(manifests); i-- > 0;)
		for (k = 0; k < json_array_size(dropped); k++)
			if (json_array_get(manifests, i) == json_array_get(dropped, k)) {
				json_array_remove(manifests, i);
				break;
			}
	ut_buf_init(&b, 0);
	rc = img_json_dump(index, &b, err);
	if (rc == 0)
		rc = img_write_file_at(g->dirfd, "index.json", g->dir, b.data, b.len, err);
	ut_buf_release(&b);
	return rc;
}

static int is_blob_name(const char *name)
{
	size_t i;

	for (i = 0; i < UT_SHA256_HEX - 1; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return name[i] == '\0';
}

/* Every blob not marked, removed (unless a dry run). */
static int sweep_blobs(struct gc *g, struct ut_err *err)
{
	int fd = openat(g->blobfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return ut_err_set(err, "%s: %s", g->blob_dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		char *name;

		if (!is_blob_name(de->d_name) || is_marked(g, de->d_name) ||
		    fstatat(g->blobfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		if (!g->opt->dry_run && unlinkat(g->blobfd, de->d_name, 0) < 0) {
			ut_err_set(err, "%s/%s: %s", g->blob_dir, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		name = ut_asprintf("sha256:%s", de->d_name);
		add_item(g->res, IMG_GC_BLOB, name, (uint64_t)st.st_size);
		free(name);
		g->res->removed_blobs++;
		g->res->removed_bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	}
	closedir(d);
	return 0;
}

static void saw_temp(void *ctx, const char *path, uint64_t bytes)
{
	struct img_gc_result *res = ctx;

	add_item(res, IMG_GC_TEMP, path, bytes);
	res->removed_temps++;
	res->removed_temp_bytes += bytes;
}

/* What killed writers left: inside the layout (we hold it, but a temporary
 * is still removed only when nobody holds it) and a new layout's folder
 * beside it. */
static void sweep_temps(struct gc *g)
{
	static const char *const top[] = { "index.json.tmp-", "oci-layout.tmp-" };
	static const char *const blobs[] = { ".tmp-layer-", ".tmp-blob-", ".tmp-import-" };
	size_t plen = ut_path_parent_len(g->dir);
	char *parent = plen ? ut_strndup(g->dir, plen) : ut_strdup(g->dir[0] == '/' ? "/" : ".");
	char *beside = ut_asprintf("%s.tmp-", ut_path_base(g->dir));
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	img_sweep_stale_at(g->dirfd, g->dir, top, 2, g->opt->dry_run, saw_temp, g->res);
	img_sweep_stale_at(g->blobfd, g->blob_dir, blobs, 3, g->opt->dry_run, saw_temp, g->res);
	if (fd >= 0) {
		const char *pat = beside;

		img_sweep_stale_at(fd, parent, &pat, 1, g->opt->dry_run, saw_temp, g->res);
		close(fd);
	}
	free(beside);
	free(parent);
}

/* DIR's exclusive lock: at once when no writer is in, else waiting (or not). */
static int lock_layout(struct gc *g, struct ut_err *err)
{
	double t0;

	if (flock(g->dirfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return ut_err_set(err, "%s: %s", g->dir, strerror(errno));
	if (g->opt->no_wait)
		return ut_err_set(err, "%s: a writer (convert or batch) is using the layout; nothing removed",
				  g->dir);
	if (g->opt->wait_notice)
		g->opt->wait_notice(g->opt->ctx, g->dir);
	t0 = ut_now();
	while (flock(g->dirfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return ut_err_set(err, "%s: %s", g->dir, strerror(errno));
	g->res->seconds_waited = ut_now() - t0;
	return 0;
}

/* blobs/sha256, neither folder through a symlink (as writers open them). */
static int open_blobs(struct gc *g, struct ut_err *err)
{
	char *shown = ut_asprintf("%s/blobs", g->dir);
	int fd = img_open_dir_at(g->dirfd, "blobs", shown, err);

	free(shown);
	if (fd < 0)
		return -1;
	g->blobfd = img_open_dir_at(fd, "sha256", g->blob_dir, err);
	close(fd);
	return g->blobfd < 0 ? -1 : 0;
}

int img_layout_gc(const char *dir, const struct img_gc_options *opt, struct img_gc_result *res,
		  struct ut_err *err)
{
	static const struct img_gc_options defaults = { 0 };
	struct gc g = { .dirfd = -1, .blobfd = -1, .opt = opt ? opt : &defaults, .res = res };
	json_t *layout = NULL, *index = NULL, *manifests, *dropped = json_array();
	size_t n = strlen(dir);
	char *shown;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	while (n > 1 && dir[n - 1] == '/')
		n--;
	g.dir = ut_strndup(dir, n);
	g.blob_dir = ut_asprintf("%s/blobs/sha256", g.dir);
	g.index_shown = ut_asprintf("%s/index.json", g.dir);
	if ((g.dirfd = img_open_dir_at(AT_FDCWD, g.dir, g.dir, err)) < 0)
		goto out;
	/* Not a layout: refused before the lock, nothing touched. */
	shown = ut_asprintf("%s/oci-layout", g.dir);
	layout = img_json_load_at(g.dirfd, "oci-layout", shown, err);
	free(shown);
	if (!layout) {
		ut_err_prefix(err, "%s: not an OCI image layout: ", g.dir);
		goto out;
	}
	if (!json_is_string(json_object_get(layout, "imageLayoutVersion"))) {
		ut_err_set(err, "%s: not an OCI image layout (no imageLayoutVersion in oci-layout)",
			   g.dir);
		goto out;
	}
	if (lock_layout(&g, err) < 0)
		goto out;
	/* Read under the lock: the index the last writer left. */
	if (!(index = img_json_load_at(g.dirfd, "index.json", g.index_shown, err)))
		goto out;
	manifests = json_object_get(index, "manifests");
	if (!json_is_object(index) || (manifests && !json_is_array(manifests))) {
		ut_err_set(err, "%s: not an image index; nothing removed", g.index_shown);
		goto out;
	}
	if (open_blobs(&g, err) < 0 || mark_roots(&g, manifests, dropped, err) < 0 ||
	    drop_referrers(&g, index, manifests, dropped, err) < 0 || sweep_blobs(&g, err) < 0)
		goto out;
	sweep_temps(&g);
	rc = 0;
out:
	if (g.blobfd >= 0)
		close(g.blobfd);
	if (g.dirfd >= 0)
		close(g.dirfd); /* and the lock: writers waiting go on */
	img_pmap_release(&g.marked);
	json_decref(dropped);
	json_decref(layout);
	json_decref(index);
	free(g.dir);
	free(g.blob_dir);
	free(g.index_shown);
	return rc;
}

void img_gc_result_release(struct img_gc_result *res)
{
	size_t i;

	for (i = 0; i < res->nitems; i++)
		free(res->items[i].name);
	free(res->items);
	res->items = NULL;
	res->nitems = 0;
}
