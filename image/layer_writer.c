/*
 * layer_writer.c - one layer: entries -> pax tar (libarchive) -> sha256 of
 * the tar (the diff_id) -> compressor -> sha256 of the blob (its digest) ->
 * a temporary file in the blob folder, renamed to its digest at the end.
 *
 * Three stages overlap, joined by bounded queues (chunkq.c), so a layer takes
 * about as long as its slowest stage instead of the sum: an optional reader
 * thread reads file content ahead (img_layer_read_ahead), the caller's thread
 * frames the tar, and a sink thread hashes the tar and feeds the compressor
 * (whose own workers compress: zstd's, pgzip's). The bytes are the same as
 * one thread doing it all: each stage sees the same stream in the same order.
 *
 * Plain pax rather than pax_restricted: restricted mode drops the
 * nanoseconds of mtime unless some other field forces an extended header.
 * Neither mode writes atime/ctime unless the entry has them, and we never
 * set them, so the output stays a function of the entries alone.
 */
#include "img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <locale.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define CHUNK (1u << 20)
/* Buffers in each queue: 8 MiB between two stages, enough to ride out a
 * stall of either without growing with the layer. */
#define QUEUE_SLOTS 8

/* link_id -> first path written, open addressing. */
struct link_slot {
	uint64_t id;
	char *path;
};

struct link_map {
	struct link_slot *v;
	size_t n, alloc;
};

/* The reader thread of img_layer_read_ahead. */
struct read_ahead {
	struct img_chunkq *q;
	const struct ut_entry *const *entries;
	size_t n;
	struct ut_content src;
	pthread_t thread;
	double t_read;
};

struct img_layer_writer {
	struct archive *a;
	char *blob_dir;
	char *tmp_path;
	int fd;
	struct img_zout *z;
	struct ut_sha256 tar_hash;
	uint64_t tar_bytes, entries, content_bytes;
	double t_read, t_compress;
	struct img_layer_options opt;
	struct ut_err werr; /* set by the write callback */
	int werr_set;
	struct link_map links;
	unsigned char *buf;
	/* The sink: tar bytes -> sha256 (diff_id) -> compressor, on its thread. */
	struct img_chunkq *sinkq;
	struct img_chunk *sink_cur; /* the slot lw_write is filling */
	pthread_t sink_thread;
	int sink_started;
	int hash_tar; /* 0 without compression: the blob is the tar, one digest */
	struct read_ahead *ra;
};

/*
 * libarchive converts names through the current locale: in a UTF-8 locale a
 * non-ASCII name is written as a UTF-8 "path" record, in C as bytes with
 * hdrcharset=BINARY. Every call into the tar writer runs in the C locale
 * (thread-local, uselocale) so the digest does not depend on the caller's.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t enter_c(void)
{
	pthread_once(&c_locale_once, make_c_locale);
	return c_locale ? uselocale(c_locale) : (locale_t)0;
}

static void leave_c(locale_t old)
{
	if (old)
		uselocale(old);
}

/* The sink thread: every chunk of tar through the diff_id hash and the
 * compressor, until the chunk marked last or a failure. */
static void *sink_main(void *arg)
{
	struct img_layer_writer *w = arg;
	struct ut_err err = { { 0 } };

	for (;;) {
		struct img_chunk *c = img_chunkq_pop(w->sinkq);
		double t0 = ut_now();
		unsigned flags;
		int rc = 0;

		if (!c)
			break;
		if (w->hash_tar)
			ut_sha256_update(&w->tar_hash, c->data, c->len);
		if (c->len)
			rc = img_zout_write(w->z, c->data, c->len, &err);
		flags = c->flags;
		w->t_compress += ut_now() - t0;
		img_chunkq_release(w->sinkq);
		if (rc < 0) {
			img_chunkq_fail(w->sinkq, &err);
			break;
		}
		if (flags & IMG_CHUNK_END)
			break;
	}
	return NULL;
}

static int sink_failed(struct img_layer_writer *w)
{
	if (img_chunkq_error(w->sinkq, &w->werr) < 0 && !w->werr.msg[0])
		ut_err_set(&w->werr, "the layer's compressor stopped");
	w->werr_set = 1;
	return -1;
}

/* Stops the sink: after the last chunk (end) or at once (a failure). */
static int sink_stop(struct img_layer_writer *w, int end)
{
	if (!w->sink_started)
		return 0;
	if (end) {
		if (!w->sink_cur)
			w->sink_cur = img_chunkq_fill(w->sinkq);
		if (w->sink_cur) {
			w->sink_cur->flags = IMG_CHUNK_END;
			img_chunkq_push(w->sinkq);
			w->sink_cur = NULL;
		}
	} else {
		img_chunkq_fail(w->sinkq, NULL);
	}
	pthread_join(w->sink_thread, NULL);
	w->sink_started = 0;
	return end && img_chunkq_error(w->sinkq, NULL) < 0 ? sink_failed(w) : 0;
}

static ssize_t lw_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct img_layer_writer *w = ctx;
	const unsigned char *p = buf;
	size_t left = len, cap = img_chunkq_cap(w->sinkq);

	while (left) {
		struct img_chunk *c = w->sink_cur;
		size_t n;

		if (!c && !(c = w->sink_cur = img_chunkq_fill(w->sinkq))) {
			sink_failed(w);
			archive_set_error(a, EIO, "%s", w->werr.msg);
			return -1;
		}
		n = cap - c->len < left ? cap - c->len : left;
		memcpy(c->data + c->len, p, n);
		c->len += n;
		p += n;
		left -= n;
		if (c->len == cap) {
			img_chunkq_push(w->sinkq);
			w->sink_cur = NULL;
		}
	}
	w->tar_bytes += len;
	return (ssize_t)len;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* A source's error names the entry unless the source already did. */
static void name_path(const struct ut_entry *e, struct ut_err *err)
{
	if (err && !strstr(err->msg, e->path))
		ut_err_prefix(err, "%s: ", e->path);
}

static struct link_slot *link_find(const struct link_map *m, uint64_t id)
{
	size_t i;

	if (!m->alloc)
		return NULL;
	for (i = mix(id) & (m->alloc - 1);; i = (i + 1) & (m->alloc - 1)) {
		if (m->v[i].id == id)
			return &m->v[i];
		if (!m->v[i].id)
			return NULL;
	}
}

static void link_put(struct link_map *m, uint64_t id, const char *path)
{
	size_t i;

	if ((m->n + 1) * 2 > m->alloc) {
		struct link_slot *old = m->v;
		size_t n = m->alloc;

		m->alloc = n ? n * 2 : 64;
		m->v = ut_calloc(m->alloc, sizeof(*m->v));
		m->n = 0;
		for (i = 0; i < n; i++)
			if (old[i].id)
				link_put(m, old[i].id, old[i].path);
		free(old);
	}
	for (i = mix(id) & (m->alloc - 1); m->v[i].id; i = (i + 1) & (m->alloc - 1))
		;
	m->v[i].id = id;
	m->v[i].path = (char *)path;
	m->n++;
}

static void link_map_release(struct link_map *m)
{
	size_t i;

	for (i = 0; i < m->alloc; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- reading ahead --------------------------------------------------------- */

/*
 * Whether the writer will read e's content, decided the way layer_add does:
 * a regular file with bytes, unless an earlier entry of its hardlink set
 * (any type but directory and socket, as layer_add records them) came first.
 */
static int ra_wants(struct link_map *seen, const struct ut_entry *e)
{
	if (!e || !e->path[0] || e->type == UT_DIR || e->type == UT_SOCK)
		return 0;
	if (e->link_id) {
		if (link_find(seen, e->link_id))
			return 0;
		link_put(seen, e->link_id, NULL);
	}
	return e->type == UT_REG && e->size > 0;
}

/* One file into the queue: its chunks, then an empty one marked last. The
 * same checks as ut_content_stream: exactly e->size bytes. */
static int ra_file(struct read_ahead *ra, const struct ut_entry *e, struct ut_err *err)
{
	void *h = NULL;
	uint64_t total = 0;
	int rc = -1;

	if (!ra->src.ops)
		return ut_err_set(err, "%s: no content source to read it from", e->path);
	if (ra->src.ops->open(ra->src.ctx, e, &h, err) < 0)
		return -1;
	for (;;) {
		struct img_chunk *c = img_chunkq_fill(ra->q);
		double t0 = ut_now();
		ssize_t n;

		if (!c) {
			rc = 1; /* stopped by the writer */
			goto out;
		}
		n = ra->src.ops->read(ra->src.ctx, h, c->data, img_chunkq_cap(ra->q), err);
		ra->t_read += ut_now() - t0;
		if (n < 0)
			goto out;
		if ((uint64_t)n > e->size - total) {
			ut_err_set(err, "%s: content is longer than its size %llu", e->path,
				   (unsigned long long)e->size);
			goto out;
		}
		if (!n && total != e->size) {
			ut_err_set(err, "%s: read %llu bytes, expected %llu", e->path,
				   (unsigned long long)total, (unsigned long long)e->size);
			goto out;
		}
		total += (uint64_t)n;
		c->len = (size_t)n;
		c->tag = e;
		c->flags = n ? 0 : IMG_CHUNK_END;
		img_chunkq_push(ra->q);
		if (!n)
			break;
	}
	rc = 0;
out:
	ra->src.ops->close(ra->src.ctx, h);
	return rc;
}

static void *ra_main(void *arg)
{
	struct read_ahead *ra = arg;
	struct link_map seen = { 0 };
	struct ut_err err = { { 0 } };
	size_t i;

	for (i = 0; i < ra->n; i++) {
		int rc;

		if (!ra_wants(&seen, ra->entries[i]))
			continue;
		rc = ra_file(ra, ra->entries[i], &err);
		if (rc > 0)
			break;
		if (rc < 0) {
			name_path(ra->entries[i], &err);
			img_chunkq_fail(ra->q, &err);
			break;
		}
	}
	link_map_release(&seen);
	return NULL;
}

static void ra_stop(struct img_layer_writer *w)
{
	if (!w->ra)
		return;
	img_chunkq_fail(w->ra->q, NULL);
	pthread_join(w->ra->thread, NULL);
	w->t_read = w->ra->t_read;
	img_chunkq_free(w->ra->q);
	free(w->ra);
	w->ra = NULL;
}

int img_layer_read_ahead(struct img_layer_writer *w, const struct ut_entry *const *entries,
			 size_t n, const struct ut_content *src, struct ut_err *err)
{
	struct read_ahead *ra;

	if (w->ra)
		return ut_err_set(err, "a layer reads ahead once");
	ra = ut_calloc(1, sizeof(*ra));
	ra->q = img_chunkq_new(QUEUE_SLOTS, CHUNK);
	ra->entries = entries;
	ra->n = n;
	if (src)
		ra->src = *src;
	if (pthread_create(&ra->thread, NULL, ra_main, ra)) {
		img_chunkq_free(ra->q);
		free(ra);
		return ut_err_set(err, "cannot start the layer's reading thread");
	}
	w->ra = ra;
	return 0;
}

static void writer_free_c(struct img_layer_writer *w)
{
	if (!w)
		return;
	ra_stop(w);
	sink_stop(w, 0);
	if (w->a)
		archive_write_free(w->a);
	img_chunkq_free(w->sinkq);
	img_zout_free(w->z);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path) {
		unlink(w->tmp_path);
		img_temp_untrack(w->tmp_path);
	}
	free(w->tmp_path);
	free(w->blob_dir);
	ut_sha256_release(&w->tar_hash);
	link_map_release(&w->links);
	free(w->buf);
	free(w);
}

static int writer_new(const char *blob_dir, const struct img_layer_options *opt,
		      struct img_layer_writer **out, struct ut_err *err)
{
	struct img_layer_writer *w = ut_calloc(1, sizeof(*w));
	static const struct img_layer_options defaults = { .compress = IMG_COMPRESS_ZSTD };

	w->fd = -1;
	w->opt = opt ? *opt : defaults;
	w->blob_dir = ut_strdup(blob_dir);
	w->tmp_path = ut_asprintf("%s/.tmp-layer-XXXXXX", blob_dir);
	w->fd = mkstemp(w->tmp_path);
	if (w->fd < 0) {
		ut_err_set(err, "%s: cannot create a layer file: %s", blob_dir, strerror(errno));
		free(w->tmp_path);
		w->tmp_path = NULL;
		goto fail;
	}
	/* Held while we write: a later run removes only what nobody holds. */
	flock(w->fd, LOCK_EX);
	img_temp_track(w->tmp_path);
	fchmod(w->fd, 0644);
	if (ut_sha256_init(&w->tar_hash) < 0) {
		ut_err_set(err, "sha256 unavailable");
		goto fail;
	}
	if (img_zout_new(&w->opt, w->fd, &w->z, err) < 0)
		goto fail;
	w->hash_tar = w->opt.compress != IMG_COMPRESS_NONE;
	w->sinkq = img_chunkq_new(QUEUE_SLOTS, CHUNK);
	if (pthread_create(&w->sink_thread, NULL, sink_main, w)) {
		ut_err_set(err, "%s: cannot start the layer's compression thread", blob_dir);
		goto fail;
	}
	w->sink_started = 1;
	w->buf = ut_malloc(CHUNK);
	w->a = archive_write_new();
	if (!w->a || archive_write_set_format_pax(w->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
	    /* One tar block per callback keeps the 10 KiB blocking out of the
	     * stream; the last block is still padded to 512 bytes. */
	    archive_write_set_bytes_per_block(w->a, 0) != ARCHIVE_OK ||
	    archive_write_open2(w->a, w, NULL, lw_write, NULL, NULL) != ARCHIVE_OK) {
		ut_err_set(err, "%s: cannot start a tar stream: %s", blob_dir,
			   w->a ? archive_error_string(w->a) : "out of memory");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	writer_free_c(w);
	return -1;
}

static int archive_fail(struct img_layer_writer *w, const char *path, struct ut_err *err)
{
	if (w->werr_set)
		return ut_err_set(err, "%s: %s", path, w->werr.msg);
	return ut_err_set(err, "%s: tar: %s", path, archive_error_string(w->a));
}

struct content_ctx {
	struct img_layer_writer *w;
	const struct ut_entry *e;
	double t_write; /* seconds in the archive writer, the rest was reading */
};

static int write_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	struct content_ctx *c = ctx;
	struct img_layer_writer *w = c->w;
	double t0 = ut_now();

	if (archive_write_data(w->a, data, n) != (la_ssize_t)n)
		return archive_fail(w, c->e->path, err);
	c->t_write += ut_now() - t0;
	w->content_bytes += (uint64_t)n;
	ut_progress_update(&w->opt.progress, "layer", w->content_bytes, w->opt.planned_bytes);
	return 0;
}

/* e's bytes from the reading thread: its chunks in order, up to the last. */
static int take_read_ahead(struct content_ctx *c, struct ut_err *err)
{
	struct img_chunkq *q = c->w->ra->q;

	for (;;) {
		struct img_chunk *ch = img_chunkq_pop(q);
		unsigned flags;
		int rc = 0;

		if (!ch) {
			if (img_chunkq_error(q, err) < 0 && err && !err->msg[0])
				ut_err_set(err, "%s: reading stopped", c->e->path);
			return -1;
		}
		if (ch->tag != c->e) {
			img_chunkq_release(q);
			return ut_err_set(err, "%s: the layer's entries came in another order than "
					  "announced to img_layer_read_ahead", c->e->path);
		}
		if (ch->len)
			rc = write_chunk(c, ch->data, ch->len, err);
		flags = ch->flags;
		img_chunkq_release(q);
		if (rc < 0)
			return -1;
		if (flags & IMG_CHUNK_END)
			return 0;
	}
}

static int write_content(struct img_layer_writer *w, const struct ut_entry *e,
			 const struct ut_content *src, struct ut_err *err)
{
	struct content_ctx c = { w, e, 0 };
	double t0;
	int rc;

	if (!e->size)
		return 0;
	if (w->ra)
		return take_read_ahead(&c, err);
	t0 = ut_now();
	rc = ut_content_stream(src, e, w->buf, CHUNK, write_chunk, &c, err);
	w->t_read += ut_now() - t0 - c.t_write;
	if (rc < 0)
		name_path(e, err);
	return rc;
}

static int check_path(const char *path, struct ut_err *err)
{
	if (!path || !*path)
		return ut_err_set(err, "empty path in a layer");
	if (path[0] == '/' || !strcmp(path, "..") || !strncmp(path, "../", 3) ||
	    strstr(path, "/../") || (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
		return ut_err_set(err, "%s: not a relative path inside the image", path);
	return 0;
}

/*
 * The name a guest path gets in the tar: itself, or its escaped form when the
 * caller asked for one. *owned is set when the name was allocated. A guest name
 * that OCI reads as a whiteout is never written as itself.
 */
static int tar_name(const struct img_layer_writer *w, const char *path, const char **name,
		    char **owned, struct ut_err *err)
{
	const char *wh;

	*owned = NULL;
	*name = path;
	if (check_path(path, err) < 0)
		return -1;
	if (w->opt.escape_whiteout_names) {
		*owned = ut_path_escape_whiteouts(path);
		if (*owned)
			*name = *owned;
		return 0;
	}
	wh = ut_path_whiteout_component(path);
	if (wh)
		return ut_err_set(err, "%s: a name beginning with \".wh.\" is a whiteout to every "
				  "OCI tool and cannot be carried in a layer as itself", path);
	return 0;
}

static int layer_add(struct img_layer_writer *w, const struct ut_entry *e,
		     const struct ut_content *src, struct ut_err *err)
{
	struct archive_entry *ae = NULL;
	struct link_slot *ls = NULL;
	const char *name;
	char *owned = NULL;
	mode_t type = 0;
	int rc = -1;
	size_t i;

	if (!e->path[0])
		return 0; /* the root is implied */
	if (tar_name(w, e->path, &name, &owned, err) < 0)
		return -1;
	switch (e->type) {
	case UT_REG: type = AE_IFREG; break;
	case UT_DIR: type = AE_IFDIR; break;
	case UT_LNK: type = AE_IFLNK; break;
	case UT_CHR: type = AE_IFCHR; break;
	case UT_BLK: type = AE_IFBLK; break;
	case UT_FIFO: type = AE_IFIFO; break;
	case UT_SOCK:
		/* tar has no sockets; they are runtime objects anyway. */
		rc = 0;
		goto out;
	default:
		ut_err_set(err, "%s: unknown file type %d", e->path, (int)e->type);
		goto out;
	}
	if (e->link_id && e->type != UT_DIR)
		ls = link_find(&w->links, e->link_id);

	ae = archive_entry_new2(w->a);
	archive_entry_set_pathname(ae, name);
	archive_entry_set_mode(ae, type | (e->mode & 07777));
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, (time_t)e->mtime_sec, e->mtime_nsec);
	archive_entry_set_size(ae, 0);
	if (ls) {
		archive_entry_set_hardlink(ae, ls->path);
	} else if (e->type == UT_REG) {
		archive_entry_set_size(ae, (la_int64_t)e->size);
	} else if (e->type == UT_LNK) {
		if (!e->link)
			goto bad_link;
		archive_entry_set_symlink(ae, e->link);
	} else if (e->type == UT_CHR || e->type == UT_BLK) {
		archive_entry_set_rdevmajor(ae, e->rdev_major);
		archive_entry_set_rdevminor(ae, e->rdev_minor);
	}
	for (i = 0; i < e->nxattrs; i++)
		archive_entry_xattr_add_entry(ae, e->xattrs[i].name, e->xattrs[i].value,
					      e->xattrs[i].len);
	if (archive_write_header(w->a, ae) < ARCHIVE_WARN) {
		archive_fail(w, e->path, err);
		goto out;
	}
	if (!ls && e->type == UT_REG && write_content(w, e, src, err) < 0)
		goto out;
	if (archive_write_finish_entry(w->a) < ARCHIVE_WARN) {
		archive_fail(w, e->path, err);
		goto out;
	}
	if (e->link_id && !ls && e->type != UT_DIR)
		link_put(&w->links, e->link_id, ut_strdup(name));
	w->entries++;
	rc = 0;
	goto out;
bad_link:
	ut_err_set(err, "%s: symlink without a target", e->path);
out:
	archive_entry_free(ae);
	free(owned);
	return rc;
}

static int marker(struct img_layer_writer *w, const char *name, struct ut_err *err)
{
	struct archive_entry *ae = archive_entry_new2(w->a);
	int rc = 0;

	archive_entry_set_pathname(ae, name);
	archive_entry_set_mode(ae, AE_IFREG | 0644);
	archive_entry_set_size(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	if (archive_write_header(w->a, ae) < ARCHIVE_WARN ||
	    archive_write_finish_entry(w->a) < ARCHIVE_WARN)
		rc = archive_fail(w, name, err);
	else
		w->entries++;
	archive_entry_free(ae);
	return rc;
}

static int add_marker(struct img_layer_writer *w, const char *name, struct ut_err *err)
{
	locale_t old = enter_c();
	int rc = marker(w, name, err);

	leave_c(old);
	return rc;
}

int img_layer_add_whiteout(struct img_layer_writer *w, const char *path, struct ut_err *err)
{
	const char *target;
	char *owned, *name;
	size_t plen;
	int rc;

	if (tar_name(w, path, &target, &owned, err) < 0)
		return -1;
	path = target;
	plen = ut_path_parent_len(path);
	name = plen ? ut_asprintf("%.*s/.wh.%s", (int)plen, path, ut_path_base(path))
		    : ut_asprintf(".wh.%s", path);
	rc = add_marker(w, name, err);
	free(name);
	free(owned);
	return rc;
}

int img_layer_add_opaque(struct img_layer_writer *w, const char *dir, struct ut_err *err)
{
	const char *target = dir;
	char *owned = NULL, *name;
	int rc;

	if (*dir && tar_name(w, dir, &target, &owned, err) < 0)
		return -1;
	name = *target ? ut_asprintf("%s/.wh..wh..opq", target) : ut_strdup(".wh..wh..opq");
	rc = add_marker(w, name, err);
	free(name);
	free(owned);
	return rc;
}

static int layer_finish(struct img_layer_writer *w, struct img_layer_result *res,
			struct ut_err *err)
{
	unsigned char digest[UT_SHA256_LEN], tar_digest[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], *final = NULL;
	uint64_t size;
	int rc = -1;
	double t0;

	if (archive_write_close(w->a) != ARCHIVE_OK) {
		archive_fail(w, w->blob_dir, err);
		goto out;
	}
	ra_stop(w);
	if (sink_stop(w, 1) < 0) {
		archive_fail(w, w->blob_dir, err);
		goto out;
	}
	t0 = ut_now();
	if (img_zout_finish(w->z, digest, &size, err) < 0)
		goto out;
	if (fsync(w->fd) < 0) {
		ut_err_set(err, "%s: fsync: %s", w->tmp_path, strerror(errno));
		goto out;
	}
	w->t_compress += ut_now() - t0;
	if (w->hash_tar)
		ut_sha256_final(&w->tar_hash, tar_digest);
	else
		memcpy(tar_digest, digest, sizeof(tar_digest));
	ut_hex(digest, UT_SHA256_LEN, hex);
	final = ut_asprintf("%s/%s", w->blob_dir, hex);
	if (rename(w->tmp_path, final) < 0) {
		ut_err_set(err, "%s: %s", final, strerror(errno));
		goto out;
	}
	img_temp_untrack(w->tmp_path);
	free(w->tmp_path);
	w->tmp_path = NULL;

	memset(res, 0, sizeof(*res));
	snprintf(res->blob.media_type, sizeof(res->blob.media_type), "%s",
		 img_layer_media_type(w->opt.compress));
	snprintf(res->blob.digest, sizeof(res->blob.digest), "sha256:%s", hex);
	res->blob.size = size;
	ut_hex(tar_digest, UT_SHA256_LEN, hex);
	snprintf(res->diff_id, sizeof(res->diff_id), "sha256:%s", hex);
	res->tar_bytes = w->tar_bytes;
	res->entries = w->entries;
	res->content_bytes = w->content_bytes;
	res->seconds_read = w->t_read;
	res->seconds_compress = w->t_compress;
	rc = 0;
out:
	free(final);
	writer_free_c(w);
	return rc;
}

static void writer_free(struct img_layer_writer *w)
{
	locale_t old = enter_c();

	writer_free_c(w);
	leave_c(old);
}

int img_layer_writer_new(const char *blob_dir, const struct img_layer_options *opt,
			 struct img_layer_writer **out, struct ut_err *err)
{
	locale_t old = enter_c();
	int rc = writer_new(blob_dir, opt, out, err);

	leave_c(old);
	return rc;
}

int img_layer_add(struct img_layer_writer *w, const struct ut_entry *e,
		  const struct ut_content *src, struct ut_err *err)
{
	locale_t old = enter_c();
	int rc = layer_add(w, e, src, err);

	leave_c(old);
	return rc;
}

int img_layer_finish(struct img_layer_writer *w, struct img_layer_result *res,
		     struct ut_err *err)
{
	locale_t old = enter_c();
	int rc = layer_finish(w, res, err);

	leave_c(old);
	return rc;
}

void img_layer_abort(struct img_layer_writer *w)
{
	writer_free(w);
}

struct link_size {
	uint64_t id, size;
};

static int cmp_link_size(const void *a, const void *b)
{
	uint64_t x = ((const struct link_size *)a)->id, y = ((const struct link_size *)b)->id;

	return x < y ? -1 : x > y;
}

uint64_t img_layer_planned_bytes(const struct ut_entry *const *entries, size_t n)
{
	struct link_size *links = ut_malloc((n ? n : 1) * sizeof(*links));
	uint64_t total = 0;
	size_t i, nlinks = 0;

	/* A hardlink set is read once: each link_id's size counts once. */
	for (i = 0; i < n; i++) {
		const struct ut_entry *e = entries[i];

		if (!e || e->type != UT_REG)
			continue;
		if (e->link_id && e->nlink > 1)
			links[nlinks++] = (struct link_size){ e->link_id, e->size };
		else
			total += e->size;
	}
	qsort(links, nlinks, sizeof(*links), cmp_link_size);
	for (i = 0; i < nlinks; i++)
		if (!i || links[i].id != links[i - 1].id)
			total += links[i].size;
	free(links);
	return total;
}

int img_layer_write_tree(const char *blob_dir, const struct img_layer_options *opt,
			 const struct ut_tree *t, struct img_layer_result *res, struct ut_err *err)
{
	struct img_layer_writer *w = NULL;
	struct img_layer_options o = { 0 };
	const struct ut_entry **v;
	size_t i;
	int rc = -1;

	if (opt)
		o = *opt;
	v = ut_malloc((t->n ? t->n : 1) * sizeof(*v));
	for (i = 0; i < t->n; i++)
		v[i] = &t->v[i];
	o.planned_bytes = img_layer_planned_bytes(v, t->n);
	if (img_layer_writer_new(blob_dir, &o, &w, err) < 0)
		goto out;
	if (img_layer_read_ahead(w, v, t->n, &t->content, err) < 0)
		goto fail;
	for (i = 0; i < t->n; i++) {
		if (!t->v[i].path[0])
			continue;
		if (img_layer_add(w, &t->v[i], &t->content, err) < 0)
			goto fail;
	}
	rc = img_layer_finish(w, res, err);
	goto out;
fail:
	img_layer_abort(w);
out:
	free(v);
	return rc;
}
