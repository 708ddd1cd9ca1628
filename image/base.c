/*
 * base.c - opening the image a conversion builds on, and the tree its
 * layers give.
 *
 *   scratch               nothing
 *   oci:DIR[:TAG]         base_oci.c
 *   docker-archive:FILE   base_docker_archive.c
 *   rootfs:FILE | DIR     a tar (any compression) or a host directory; it has
 *                         no layer until img_base_rootfs_layer() makes one.
 */
#include "img_internal.h"

#include <time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The base-tree cache keeps at most this much by default (oldest first out). */
#define CACHE_CAP_DEFAULT (1ull << 30)

static const struct img_base_reader *const readers[] = {
	&img_base_oci_reader,
	&img_base_docker_reader,
};

static void default_config(struct img_config *c)
{
	memset(c, 0, sizeof(*c));
	c->architecture = ut_strdup("amd64");
	c->os = ut_strdup("linux");
	c->created = -1;
}

void img_base_free(struct img_base *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nlayers; i++)
		free(b->layers[i].path);
	free(b->layers);
	img_config_release(&b->config);
	if (b->tmpdir) {
		ut_rm_rf(b->tmpdir);
		img_temp_untrack(b->tmpdir);
	}
	if (b->dirfd >= 0)
		close(b->dirfd);
	if (b->blobfd >= 0)
		close(b->blobfd);
	free(b->tmpdir);
	free(b->spec);
	free(b->src);
	free(b);
}

const struct img_base_layer *img_base_layers(const struct img_base *b, size_t *n)
{
	*n = b->nlayers;
	return b->layers;
}

const struct img_config *img_base_config(const struct img_base *b)
{
	return &b->config;
}

int img_base_is_rootfs(const struct img_base *b)
{
	return b->kind == BASE_ROOTFS_TAR || b->kind == BASE_ROOTFS_DIR;
}

void img_base_set_cache_cap(struct img_base *b, uint64_t cap)
{
	b->cache_cap = cap;
}

/* ---- opening ------------------------------------------------------------ */

int img_base_open(const char *spec, const char *tmpdir, struct img_base **out,
		  struct ut_err *err)
{
	struct img_base *b = ut_calloc(1, sizeof(*b));
	struct stat st;

	size_t i;

	b->spec = ut_strdup(spec);
	b->config.created = -1;
	b->dirfd = b->blobfd = -1;
	b->cache_cap = CACHE_CAP_DEFAULT;
	b->scratch_dir = tmpdir;
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
		size_t n = strlen(readers[i]->prefix);

		if (strncmp(spec, readers[i]->prefix, n))
			continue;
		b->kind = readers[i]->kind;
		b->ops = readers[i];
		if (b->ops->open(b, spec + n, err) < 0)
			goto fail;
		*out = b;
		return 0;
	}
	if (!strcmp(spec, "scratch")) {
		b->kind = BASE_SCRATCH;
		default_config(&b->config);
	} else if (!strncmp(spec, "rootfs:", 7)) {
		if (stat(spec + 7, &st) < 0) {
			ut_err_set(err, "%s: %s", spec + 7, strerror(errno));
			goto fail;
		}
		b->kind = S_ISDIR(st.st_mode) ? BASE_ROOTFS_DIR : BASE_ROOTFS_TAR;
		b->src = ut_strdup(spec + 7);
		default_config(&b->config);
	} else {
		ut_err_set(err, "%s: unknown base (scratch, oci:DIR[:TAG], docker-archive:FILE, rootfs:TAR|DIR)",
			   spec);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	img_base_free(b);
	return -1;
}

int img_base_rootfs_layer(struct img_base *b, const char *blob_dir,
			  const struct img_layer_options *opt, struct img_layer_result *res,
			  struct ut_err *err)
{
	struct img_layer_writer *w = NULL;
	struct img_dir_content dc;
	struct ut_tree *t = NULL;
	size_t i;

	if (!img_base_is_rootfs(b))
		return ut_err_set(err, "%s: not a rootfs base", b->spec);
	if (img_layer_writer_new(blob_dir, opt, &w, err) < 0)
		return -1;
	if (b->kind == BASE_ROOTFS_TAR) {
		if (img_rootfs_tar_layer(b->src, w, err) < 0)
			goto fail;
	} else {
		if (img_rootfs_walk(b->src, &dc, &t, err) < 0)
			goto fail;
		for (i = 0; i < t->n; i++)
			if (img_layer_add(w, &t->v[i], &t->content, err) < 0)
				goto fail;
		ut_tree_free(t);
	}
	return img_layer_finish(w, res, err);
fail:
	ut_tree_free(t);
	img_layer_abort(w);
	return -1;
}

/* ---- the tree ---------------------------------------------------------------- */

static char *cache_path(const char *cache_dir, const struct img_base *b, size_t nprefix)
{
	unsigned char d[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX];
	struct ut_buf k;
	size_t i;

	ut_buf_init(&k, 0);
	/* The diff_ids are part of the key: a tree cached from checked layers
	 * must not vouch for a config that names other diff_ids. */
	ut_buf_addstr(&k, "vm2oci-base-tree-v2\n", NULL);
	for (i = 0; i < nprefix; i++)
		ut_buf_addf(&k, NULL, "%s %s\n", b->layers[i].blob.digest, b->layers[i].diff_id);
	ut_sha256_buf(k.data, k.len, d);
	ut_buf_release(&k);
	ut_hex(d, UT_SHA256_LEN, hex);
	return ut_asprintf("%s/%s.tree", cache_dir, hex);
}

int img_base_tree(struct img_base *b, const char *cache_dir, struct ut_tree **out,
		  struct ut_err *err)
{
	struct img_tree_builder *tb = img_tree_builder_new();
	struct ut_tree *t = NULL;
	struct img_dir_content dc;
	size_t i, from = 0;
	int rc = -1;

	switch (b->kind) {
	case BASE_SCRATCH:
		break;
	case BASE_ROOTFS_DIR:
		if (img_rootfs_walk(b->src, &dc, &t, err) < 0 || ut_tree_digest_all(t, err) < 0)
			goto out;
		t->content.ops = NULL;
		t->content.ctx = NULL;
		*out = t;
		t = NULL;
		rc = 0;
		goto out;
	case BASE_ROOTFS_TAR:
		if (img_apply_tar_file(tb, b->src, err) < 0)
			goto out;
		break;
	case BASE_OCI:
	case BASE_DOCKER:
		if (cache_dir) {
			for (i = b->nlayers; i > 0; i--) {
				char *p = cache_path(cache_dir, b, i);

				if (ut_tree_load(p, &t, NULL) == 0) {
					/* Used now: the last to be evicted. */
					utimensat(AT_FDCWD, p, NULL, 0);
					img_tree_builder_set(tb, t);
					t = NULL;
					from = i;
					free(p);
					break;
				}
				free(p);
			}
		}
		for (i = from; i < b->nlayers; i++) {
			if (img_base_apply_layer(b, i, tb, err) < 0) {
				ut_err_prefix(err, "%s: layer %zu: ", b->spec, i + 1);
				goto out;
			}
			if (cache_dir) {
				/* A cache we cannot write is only a slower next run. */
				char *p = cache_path(cache_dir, b, i + 1);
				struct ut_tree *snap = img_tree_builder_take(tb);

				ut_tree_save(snap, p, NULL);
				img_tree_builder_set(tb, snap);
				free(p);
			}
		}
		if (cache_dir && from < b->nlayers)
			img_tree_cache_trim(cache_dir, b->cache_cap);
		break;
	}
	*out = img_tree_builder_take(tb);
	rc = 0;
out:
	ut_tree_free(t);
	img_tree_builder_free(tb);
	return rc;
}

/* ---- applying layers ----------------------------------------------------- */

int img_base_apply_layer(struct img_base *b, size_t i, struct img_tree_builder *tb,
			 struct ut_err *err)
{
	const struct img_base_layer *bl = &b->layers[i];
	struct img_layer_in in = {
		.size = bl->blob.size,
		.name = bl->path,
		.digest = bl->blob.digest,
		.diff_id = bl->diff_id,
	};
	int rc;

	in.fd = b->ops->open_layer(b, i, err);
	if (in.fd < 0)
		return -1;
	rc = img_tree_builder_apply(tb, &in, err);
	close(in.fd);
	return rc;
}

int img_apply_tar_file(struct img_tree_builder *tb, const char *path, struct ut_err *err)
{
	struct img_layer_in in = { .name = path };
	char *real = realpath(path, NULL);
	int rc;

	/* The rootfs named on the command line may be reached by a symlink,
	 * but must be a regular file. */
	if (!real)
		return ut_err_set(err, "%s: %s", path, strerror(errno));
	in.fd = img_open_regular(AT_FDCWD, real, path, &in.size, err);
	free(real);
	if (in.fd < 0)
		return -1;
	rc = img_tree_builder_apply(tb, &in, err);
	close(in.fd);
	return rc;
}

/* ---- the cache's size cap ------------------------------------------------------ */

struct cache_file {
	char *name;
	uint64_t size;
	struct timespec mtime;
};

static int older_first(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

void img_tree_cache_trim(const char *dir, uint64_t cap)
{
	struct cache_file *v = NULL;
	size_t n = 0, alloc = 0, i;
	uint64_t total = 0;
	struct dirent *de;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (strstr(de->d_name, ".tree.tmp-") &&
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_mtime < time(NULL) - 3600) {
			/* A killed run's half-written cache file: nobody writes for an hour. */
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		if (len < 6 || strcmp(de->d_name + len - 5, ".tree") ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			v = ut_realloc(v, alloc * sizeof(*v));
		}
		v[n].name = ut_strdup(de->d_name);
		v[n].size = (uint64_t)st.st_size;
		v[n].mtime = st.st_mtim;
		total += v[n++].size;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), older_first);
	for (i = 0; i < n; i++) {
		if (total > cap && unlinkat(fd, v[i].name, 0) == 0)
			total -= v[i].size;
		free(v[i].name);
	}
	free(v);
	closedir(d);
}

/* ---- for base_files.c -------------------------------------------------------- */

int img_base_is_dir(const struct img_base *b, const char **src)
{
	*src = b->src;
	return b->kind == BASE_ROOTFS_DIR;
}
