/*
 * pkg_layer.c - the packages layer: the files of the VM's packages that the
 * base lacks (added, upgraded, downgraded or arch-changed packages), taken
 * only where the VM's bytes still match the digest the package database
 * recorded, so the layer holds what the package manager installed and not
 * what an administrator changed later (that stays in the diff layer).
 *
 * The layer depends only on the package set: files keep the mtimes their
 * packages gave them, and directories get one mtime, the newest of the
 * layer's files, so two VMs with the same packages share it by digest.
 */
#include "packages.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Digests the entry's content with the algorithm the database used, and
 * with sha256 for the tree, in one read. */
static int entry_digests(const struct ut_tree *vm, struct ut_entry *e, enum pkg_digest_kind kind,
			 char *hex, struct ut_err *err)
{
	static __thread unsigned char buf[1 << 17];
	struct ut_hash db = { 0 };
	struct ut_sha256 sha = { 0 };
	unsigned char out[UT_HASH_MAX];
	size_t outlen;
	void *h = NULL;
	uint64_t total = 0;
	int rc = -1;

	if (ut_sha256_init(&sha) < 0 ||
	    ut_hash_init(&db, kind == PKG_DIGEST_MD5 ? UT_HASH_MD5 : kind == PKG_DIGEST_SHA1
				  ? UT_HASH_SHA1 : UT_HASH_SHA256) < 0) {
		ut_err_set(err, "digest unavailable");
		goto out;
	}
	if (vm->content.ops->open(vm->content.ctx, e, &h, err) < 0)
		goto out;
	for (;;) {
		ssize_t n = vm->content.ops->read(vm->content.ctx, h, buf, sizeof(buf), err);

		if (n < 0)
			goto out;
		if (n == 0)
			break;
		ut_hash_update(&db, buf, (size_t)n);
		ut_sha256_update(&sha, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (total != e->size) {
		ut_err_set(err, "/%s: read %llu bytes of %llu", e->path, (unsigned long long)total,
			   (unsigned long long)e->size);
		goto out;
	}
	outlen = ut_hash_final(&db, out);
	ut_hex(out, outlen, hex);
	ut_sha256_final(&sha, e->digest);
	e->has_digest = 1;
	rc = 0;
out:
	if (h)
		vm->content.ops->close(vm->content.ctx, h);
	ut_sha256_release(&sha);
	ut_hash_release(&db);
	return rc;
}

/* The path with every symlink in its parent resolved ("bin/ls" ->
 * "usr/bin/ls" on a merged-/usr system); NULL when the parent is missing. */
static char *canonical_path(const struct ut_tree *vm, pkg_tree_resolve_fn resolve,
			    const char *path, struct ut_err *err)
{
	size_t plen = ut_path_parent_len(path);
	const struct ut_entry *parent;
	char *dir;

	if (!plen)
		return ut_strdup(path);
	dir = ut_strndup(path, plen);
	parent = resolve ? resolve(vm, dir, err) : ut_tree_find(vm, dir);
	free(dir);
	if (!parent || parent->type != UT_DIR)
		return NULL;
	return parent->path[0] ? ut_asprintf("%s/%s", parent->path, ut_path_base(path))
			       : ut_strdup(ut_path_base(path));
}

static void add_copy(struct ut_tree *layer, const struct ut_entry *e)
{
	struct ut_entry copy;

	ut_entry_copy(&copy, e);
	ut_tree_take(layer, &copy);
}

int pkg_files_layer(struct ut_tree *vm, pkg_tree_resolve_fn resolve, const struct pkg_db *vdb,
		    const struct pkg_db *bdb, const struct ut_tree *base, struct ut_tree **out,
		    struct pkg_layer_stats *stats, struct ut_err *err)
{
	struct ut_tree *layer = ut_tree_new();
	struct pkg_delta *deltas = NULL;
	size_t ndeltas = 0, i, j;
	int64_t newest = 0;
	int rc = -1;

	memset(stats, 0, sizeof(*stats));
	if (bdb) {
		if (pkg_db_subtract(vdb, bdb, &deltas, &ndeltas, err) < 0)
			goto out;
	} else {
		deltas = ut_calloc(vdb->n ? vdb->n : 1, sizeof(*deltas));
		for (i = 0; i < vdb->n; i++) {
			deltas[ndeltas].change = PKG_ADDED;
			deltas[ndeltas++].vm = &vdb->v[i];
		}
	}
	for (i = 0; i < ndeltas; i++) {
		const struct pkg *p = deltas[i].vm;

		if (!p)
			continue;
		stats->packages++;
		for (j = 0; j < p->nfiles; j++) {
			const struct pkg_file *f = &p->files[j];
			const char *want = f->digest ? f->digest : f->is_conffile ? f->conf_digest : NULL;
			enum pkg_digest_kind kind = f->kind != PKG_DIGEST_NONE ? f->kind : PKG_DIGEST_MD5;
			struct ut_entry *e;
			char *path, hex[2 * UT_HASH_MAX + 1];

			path = canonical_path(vm, resolve, f->path, err);
			if (!path) {
				if (err->msg[0])
					goto out;
				continue;
			}
			e = ut_tree_find(vm, path);
			free(path);
			if (!e || !e->path[0])
				continue;
			if (e->type == UT_DIR || e->type == UT_LNK) {
				add_copy(layer, e);
				continue;
			}
			if (e->type != UT_REG)
				continue;
			if (!want) {
				stats->files_unverifiable++;
				continue;
			}
			if (entry_digests(vm, e, kind, hex, err) < 0)
				goto out;
			if (strcasecmp(hex, want)) {
				stats->files_changed++;
				continue;
			}
			add_copy(layer, e);
			stats->files++;
			stats->bytes += e->size;
			if (e->mtime_sec > newest)
				newest = e->mtime_sec;
		}
	}
	ut_tree_sort(layer);
	/* Every parent of a layer entry that the base lacks must be in the
	 * layer too, with the VM's metadata: tar extraction would invent one. */
	for (i = 0, j = layer->n; i < j; i++) {
		char *dir = ut_strdup(layer->v[i].path);
		size_t len;

		while ((len = ut_path_parent_len(dir)) > 0) {
			const struct ut_entry *pe;

			dir[len] = '\0';
			if (ut_tree_find(base, dir) || ut_tree_find(layer, dir))
				break;
			pe = ut_tree_find(vm, dir);
			if (!pe)
				break;
			add_copy(layer, pe);
		}
		free(dir);
	}
	ut_tree_sort(layer);
	for (i = 0; i < layer->n; i++)
		if (layer->v[i].type == UT_DIR) {
			layer->v[i].mtime_sec = newest;
			layer->v[i].mtime_nsec = 0;
		}
	stats->entries = layer->n;
	layer->content = vm->content;
	*out = layer;
	layer = NULL;
	rc = 0;
out:
	free(deltas);
	ut_tree_free(layer);
	return rc;
}
