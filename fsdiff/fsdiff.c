/*
 * fsdiff.c - merge-walk of two sorted trees into changes and a layer plan.
 *
 * The diff runs in passes over index arrays rather than one clever loop, so
 * that each rule stays readable:
 *
 *   1. validate and sort both trees (the merge relies on strict strcmp order);
 *   2. find the hardlink sets of each tree (same link_id, not a directory);
 *   3. merge-walk: pair paths, classify each VM entry, read content only when
 *      sizes match and digests are missing (read ahead of the walk, hashing
 *      in a second thread: prefetch_digests);
 *   4. hardlink rules: a set whose membership differs from the base, and any
 *      set with one written member, is written whole;
 *   5. moves: added large files whose digest a vanished base file had;
 *   6. the change list, in path order, with the whiteout decisions.
 */
#include "fsdiff.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

/* Per change: which layer items it gives. */
enum {
	PLAN_ENTRY = 1 << 0,
	PLAN_WHITEOUT = 1 << 1,
};

struct fsd_result {
	struct ut_tree *base, *vm;
	struct ut_tree *lower; /* base with fsd_options.upper on top, owned */
	struct fsd_change *changes;
	unsigned char *plan; /* PLAN_* per change */
	size_t n;
	struct fsd_stats stats;
	int have_below;
	struct fsd_stats below; /* vm against base alone, with an upper */
};

/* Hardlink sets of one tree. */
struct linksets {
	size_t *of;      /* entry index -> set number, NONE when in no set */
	size_t *members; /* entry indices grouped by set, path order inside a set */
	size_t *start;   /* set k is members[start[k] .. start[k + 1]) */
	size_t nsets;
};

struct diff {
	struct ut_tree *base, *vm;
	const struct fsd_options *opt;
	struct fsd_stats *st;
	struct ut_err *err;
	size_t *vmatch;  /* vm index -> base index or NONE */
	size_t *bmatch;  /* base index -> vm index or NONE */
	unsigned char *vkind; /* enum fsd_kind per vm entry, 0 = unchanged */
	unsigned *vwhat;
	const char **moved;
	unsigned char *vplanned; /* vm index -> read ahead (prefetch_digests) */
	struct linksets vsets, bsets;
	size_t steps;
};

const char *fsd_kind_name(enum fsd_kind k)
{
	switch (k) {
	case FSD_ADDED: return "added";
	case FSD_MODIFIED: return "modified";
	case FSD_METADATA: return "metadata";
	case FSD_DELETED: return "deleted";
	case FSD_TYPE_CHANGED: return "type-changed";
	case FSD_HARDLINK: return "hardlink";
	}
	return "unknown";
}

/* ---- validation --------------------------------------------------------- */

/*
 * Paths come from disks and layers, i.e. from the guest: a ".." or an empty
 * component would make a whiteout or an entry land outside the layer's root
 * in some writer downstream, so refuse them here, once, for everyone.
 */
static int check_path(const char *p)
{
	const char *c = p;

	if (!*p)
		return 0;
	for (;;) {
		const char *s = strchr(c, '/');
		size_t n = s ? (size_t)(s - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -1;
		if (!s)
			return 0;
		c = s + 1;
	}
}

static int check_tree(struct ut_tree *t, const char *which, struct ut_err *err)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!t->v[i].path)
			return ut_err_set(err, "%s tree: entry %zu has no path", which, i);
	ut_tree_sort(t);
	for (i = 0; i < t->n; i++) {
		const struct ut_entry *e = &t->v[i];

		if (check_path(e->path) < 0)
			return ut_err_set(err, "%s tree: %s: unsafe path (empty, \".\" or \"..\" component)",
					  which, e->path);
		if (e->type < UT_REG || e->type > UT_SOCK)
			return ut_err_set(err, "%s tree: %s: unknown file type %d", which, e->path,
					  (int)e->type);
		/* The sorted flag is the caller's word; the merge needs the fact. */
		if (i && strcmp(t->v[i - 1].path, e->path) >= 0)
			return ut_err_set(err, "%s tree: %s: paths not in strict strcmp order", which,
					  e->path);
	}
	return 0;
}

/* ---- hardlink sets ------------------------------------------------------ */

struct link_key {
	uint64_t id;
	size_t idx;
};

static int link_key_cmp(const void *a, const void *b)
{
	const struct link_key *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void linksets_release(struct linksets *s)
{
	free(s->of);
	free(s->members);
	free(s->start);
	memset(s, 0, sizeof(*s));
}

/* A link_id shared by one entry only is no set: nothing to keep together. */
static void linksets_build(struct linksets *s, const struct ut_tree *t)
{
	struct link_key *k;
	size_t i, j, n = 0, m = 0;

	s->of = ut_malloc((t->n ? t->n : 1) * sizeof(*s->of));
	k = ut_malloc((t->n ? t->n : 1) * sizeof(*k));
	for (i = 0; i < t->n; i++) {
		s->of[i] = NONE;
		if (t->v[i].link_id && t->v[i].type != UT_DIR) {
			k[n].id = t->v[i].link_id;
			k[n++].idx = i;
		}
	}
	qsort(k, n, sizeof(*k), link_key_cmp);
	s->members = ut_malloc((n ? n : 1) * sizeof(*s->members));
	s->start = ut_malloc((n / 2 + 2) * sizeof(*s->start));
	s->nsets = 0;
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && k[j].id == k[i].id; j++)
			;
		if (j - i < 2)
			continue;
		s->start[s->nsets] = m;
		for (size_t x = i; x < j; x++) {
			s->of[k[x].idx] = s->nsets;
			s->members[m++] = k[x].idx;
		}
		s->nsets++;
	}
	s->start[s->nsets] = m;
	free(k);
}

/* ---- content ------------------------------------------------------------ */

/* A content source's own message may not say which file. Returns -1. */
static int name_file(struct diff *d, const struct ut_entry *e)
{
	if (d->err && !strstr(d->err->msg, e->path))
		ut_err_prefix(d->err, "%s: ", e->path);
	return -1;
}

static void count_digest(struct diff *d, const struct ut_entry *e)
{
	d->st->digested++;
	d->st->digested_bytes += e->size;
	ut_progress_update(&d->opt->progress, "digest", d->st->digested, 0);
}

static int digest(struct diff *d, struct ut_tree *t, struct ut_entry *e, const char *which)
{
	if (e->has_digest)
		return 0;
	if (!t->content.ops)
		return ut_err_set(d->err, "%s: %s file has no digest and no content source to read it",
				  e->path, which);
	if (ut_content_digest(&t->content, e, d->err) < 0)
		return name_file(d, e);
	count_digest(d, e);
	return 0;
}

/* The member of j's VM link set whose digest j can take, or NONE: one read
 * serves a whole set, as its members are one inode. done(d, x) says whether
 * member x has (or will have) its digest. */
static size_t vm_digest_donor(struct diff *d, size_t j, int (*done)(struct diff *d, size_t x))
{
	const struct ut_entry *e = &d->vm->v[j];
	size_t s = d->vsets.of[j], x;

	if (s == NONE)
		return NONE;
	for (x = d->vsets.start[s]; x < d->vsets.start[s + 1]; x++) {
		size_t m = d->vsets.members[x];
		const struct ut_entry *o = &d->vm->v[m];

		if (done(d, m) && o->type == UT_REG && o->size == e->size)
			return m;
	}
	return NONE;
}

static int has_digest(struct diff *d, size_t x)
{
	return d->vm->v[x].has_digest;
}

/* Two regular files of one path: whether only their digests can tell. */
static int needs_digests(const struct diff *d, const struct ut_entry *b, const struct ut_entry *v)
{
	if (b->size != v->size || b->size == 0)
		return 0;
	return !(d->opt->trust_mtime && b->mtime_sec == v->mtime_sec &&
		 b->mtime_nsec == v->mtime_nsec);
}

static int digest_vm(struct diff *d, size_t j)
{
	struct ut_entry *e = &d->vm->v[j];
	size_t m;

	if (e->has_digest)
		return 0;
	m = vm_digest_donor(d, j, has_digest);
	if (m != NONE) {
		memcpy(e->digest, d->vm->v[m].digest, UT_SHA256_LEN);
		e->has_digest = 1;
		return 0;
	}
	return digest(d, d->vm, e, "VM");
}

/* Returns FSD_DIFF_* bits for the content of two regular files, or -1. */
static int content_diff(struct diff *d, size_t i, size_t j)
{
	struct ut_entry *b = &d->base->v[i], *v = &d->vm->v[j];

	if (b->size != v->size)
		return FSD_DIFF_CONTENT | FSD_DIFF_SIZE;
	if (!needs_digests(d, b, v))
		return 0;
	if (digest(d, d->base, b, "base") < 0 || digest_vm(d, j) < 0)
		return -1;
	return memcmp(b->digest, v->digest, UT_SHA256_LEN) ? FSD_DIFF_CONTENT : 0;
}

/* ---- digests read ahead of the merge ------------------------------------ */

/*
 * Reading and hashing overlap: the calling thread reads (content sources,
 * libext2fs among them, are not thread-safe: one reader only) while a worker
 * hashes what was read before, over a ring of PF_SLOTS buffers. Which files
 * are read is decided with the merge's own rule, in the merge's order, and
 * the merge then finds their digests in place: the same files are read, in
 * the same order, with the same read sizes, as when the merge read them.
 * Planning stops at a file the merge could not read at all, so that the
 * merge reports it as it always did.
 */
#define PF_SLOTS 4
#define PF_SLOT_BYTES (1 << 20)
#define PF_SLOT_PIECES 256
#define PF_READ_BYTES (1 << 17) /* ut_content_digest's read size */

/* A slot carries many small files, or part of a large one: the hasher is
 * woken once a slot, not once a file (thousands of small files would
 * otherwise cost more in wake-ups than the hashing saves). */
struct pf_piece {
	size_t job, len; /* the next len bytes of the slot are job's */
	int end;         /* and complete its content */
};

struct pf_slot {
	unsigned char *data;
	size_t used, npieces;
	struct pf_piece pieces[PF_SLOT_PIECES];
};

struct prefetch {
	struct ut_entry **jobs; /* in merge order */
	const struct ut_content **srcs;
	unsigned char (*digests)[UT_SHA256_LEN]; /* written by the hasher */
	size_t njobs, alloc;
	struct pf_slot slots[PF_SLOTS];
	struct pf_slot *filling; /* the reader's slot not yet handed over */
	uint64_t head, tail;     /* next slot to fill, next slot to hash */
	int closed;              /* the reader is done: hash the rest and stop */
	int failed;              /* the reader gave up: stop now */
	int hash_failed;         /* the hasher could not start a digest */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* The next full slot, or NULL when there is nothing more to hash. */
static struct pf_slot *pf_next_full(struct prefetch *p)
{
	struct pf_slot *s = NULL;

	pthread_mutex_lock(&p->mu);
	while (p->tail == p->head && !p->closed && !p->failed)
		pthread_cond_wait(&p->cv, &p->mu);
	if (!p->failed && p->tail != p->head)
		s = &p->slots[p->tail % PF_SLOTS];
	pthread_mutex_unlock(&p->mu);
	return s;
}

static void pf_advance(struct prefetch *p, uint64_t *counter, int *flag)
{
	pthread_mutex_lock(&p->mu);
	if (counter)
		++*counter;
	if (flag)
		*flag = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *pf_hasher(void *arg)
{
	struct prefetch *p = arg;
	struct ut_sha256 h = { 0 };
	struct pf_slot *s;
	int started = 0;

	while ((s = pf_next_full(p))) {
		const unsigned char *data = s->data;
		size_t k;

		for (k = 0; k < s->npieces; k++) {
			const struct pf_piece *c = &s->pieces[k];

			if (!started && ut_sha256_init(&h) < 0) {
				pf_advance(p, NULL, &p->hash_failed);
				goto out;
			}
			started = 1;
			ut_sha256_update(&h, data, c->len);
			data += c->len;
			if (c->end) {
				ut_sha256_final(&h, p->digests[c->job]);
				started = 0;
			}
		}
		pf_advance(p, &p->tail, NULL);
	}
out:
	ut_sha256_release(&h);
	return NULL;
}

/* An empty slot for the reader, or NULL once the hasher failed. */
static struct pf_slot *pf_next_empty(struct prefetch *p)
{
	struct pf_slot *s = NULL;

	pthread_mutex_lock(&p->mu);
	while (p->head - p->tail == PF_SLOTS && !p->hash_failed)
		pthread_cond_wait(&p->cv, &p->mu);
	if (!p->hash_failed) {
		s = &p->slots[p->head % PF_SLOTS];
		s->used = s->npieces = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

static void pf_hand_over(struct prefetch *p)
{
	if (p->filling)
		pf_advance(p, &p->head, NULL);
	p->filling = NULL;
}

struct pf_read {
	struct prefetch *p;
	size_t job;
};

/* Appends n bytes of r's file (end: and its end) to the slots. */
static int pf_put(struct pf_read *r, const unsigned char *data, size_t n, int end,
		  struct ut_err *err)
{
	struct prefetch *p = r->p;

	do {
		struct pf_slot *s = p->filling;
		struct pf_piece *c;
		size_t take;

		if (!s && !(s = p->filling = pf_next_empty(p)))
			return ut_err_set(err, "sha256 unavailable");
		take = n < PF_SLOT_BYTES - s->used ? n : PF_SLOT_BYTES - s->used;
		c = &s->pieces[s->npieces++];
		c->job = r->job;
		c->len = take;
		c->end = end && take == n;
		if (take)
			memcpy(s->data + s->used, data, take);
		s->used += take;
		data += take;
		n -= take;
		if (s->used == PF_SLOT_BYTES || s->npieces == PF_SLOT_PIECES)
			pf_hand_over(p);
	} while (n);
	return 0;
}

static int pf_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	return pf_put(ctx, data, n, 0, err);
}

static void pf_add(struct prefetch *p, struct ut_entry *e, const struct ut_content *src)
{
	if (p->njobs == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 64;
		p->jobs = ut_realloc(p->jobs, p->alloc * sizeof(*p->jobs));
		p->srcs = ut_realloc(p->srcs, p->alloc * sizeof(*p->srcs));
	}
	p->srcs[p->njobs] = src;
	p->jobs[p->njobs++] = e;
}

static int planned_or_has_digest(struct diff *d, size_t x)
{
	return d->vm->v[x].has_digest || d->vplanned[x];
}

/* The files the merge will read, as merge_walk and content_diff pair them. */
static void pf_plan(struct diff *d, struct prefetch *p)
{
	size_t i = 0, j = 0, nb = d->base->n, nv = d->vm->n;

	while (i < nb && j < nv) {
		int c = strcmp(d->base->v[i].path, d->vm->v[j].path);
		struct ut_entry *b = &d->base->v[i], *v = &d->vm->v[j];

		if (c) {
			i += c < 0;
			j += c > 0;
			continue;
		}
		if (b->type == UT_REG && v->type == UT_REG && needs_digests(d, b, v)) {
			if (!b->has_digest) {
				if (!d->base->content.ops)
					return;
				pf_add(p, b, &d->base->content);
			}
			if (!v->has_digest && vm_digest_donor(d, j, planned_or_has_digest) == NONE) {
				if (!d->vm->content.ops)
					return;
				pf_add(p, v, &d->vm->content);
				d->vplanned[j] = 1;
			}
		}
		i++;
		j++;
	}
}

/* Reads every planned file in the calling thread; 0 or -1 naming the file. */
static int pf_read_all(struct diff *d, struct prefetch *p)
{
	static __thread unsigned char buf[PF_READ_BYTES];
	size_t k;

	for (k = 0; k < p->njobs; k++) {
		struct pf_read r = { p, k };
		struct ut_entry *e = p->jobs[k];

		if (ut_content_stream(p->srcs[k], e, buf, sizeof(buf), pf_chunk, &r, d->err) < 0 ||
		    pf_put(&r, NULL, 0, 1, d->err) < 0)
			return name_file(d, e);
		count_digest(d, e);
	}
	pf_hand_over(p);
	return 0;
}

static int prefetch_digests(struct diff *d)
{
	struct prefetch p = { 0 };
	pthread_t hasher;
	size_t k;
	int rc = -1;

	d->vplanned = ut_calloc(d->vm->n ? d->vm->n : 1, 1);
	pf_plan(d, &p);
	if (!p.njobs) {
		rc = 0;
		goto out;
	}
	p.digests = ut_malloc(p.njobs * sizeof(*p.digests));
	for (k = 0; k < PF_SLOTS; k++)
		p.slots[k].data = ut_malloc(PF_SLOT_BYTES);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (pthread_create(&hasher, NULL, pf_hasher, &p)) {
		ut_err_set(d->err, "cannot start the hashing thread");
		goto out_sync;
	}
	rc = pf_read_all(d, &p);
	pf_advance(&p, NULL, rc < 0 ? &p.failed : &p.closed);
	pthread_join(hasher, NULL);
	for (k = 0; rc == 0 && k < p.njobs; k++) {
		memcpy(p.jobs[k]->digest, p.digests[k], UT_SHA256_LEN);
		p.jobs[k]->has_digest = 1;
	}
out_sync:
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	for (k = 0; k < PF_SLOTS; k++)
		free(p.slots[k].data);
out:
	free(p.digests);
	free(p.jobs);
	free(p.srcs);
	return rc;
}

/* ---- metadata ----------------------------------------------------------- */

static int masked(const struct fsd_options *opt, const char *name)
{
	size_t i;

	for (i = 0; opt->mask_xattrs && i < opt->nmask_xattrs; i++)
		if (opt->mask_xattrs[i] && !strcmp(opt->mask_xattrs[i], name))
			return 1;
	return 0;
}

/* Every unmasked xattr of a is in b with the same value. Order-free, since a
 * hostile tree may not keep the "sorted by name" promise; counts are small
 * (an inode's xattrs fit in a block or two). */
static int xattrs_within(const struct ut_entry *a, const struct ut_entry *b,
			 const struct fsd_options *opt)
{
	size_t x, y;

	for (x = 0; x < a->nxattrs; x++) {
		const struct ut_xattr *p = &a->xattrs[x];
		int found = 0;

		if (!p->name || masked(opt, p->name))
			continue;
		for (y = 0; y < b->nxattrs && !found; y++) {
			const struct ut_xattr *q = &b->xattrs[y];

			if (!q->name || strcmp(p->name, q->name))
				continue;
			found = 1;
			if (p->len != q->len || (p->len && memcmp(p->value, q->value, p->len)))
				return 0;
		}
		if (!found)
			return 0;
	}
	return 1;
}

static int xattrs_equal(const struct ut_entry *a, const struct ut_entry *b,
			const struct fsd_options *opt)
{
	return xattrs_within(a, b, opt) && xattrs_within(b, a, opt);
}

/* Classifies a path present in both trees; returns 0 or -1. */
static int compare(struct diff *d, size_t i, size_t j)
{
	const struct ut_entry *b = &d->base->v[i], *v = &d->vm->v[j];
	unsigned what = 0;
	int c;

	if (b->type != v->type) {
		d->vkind[j] = FSD_TYPE_CHANGED;
		return 0;
	}
	switch (v->type) {
	case UT_REG:
		c = content_diff(d, i, j);
		if (c < 0)
			return -1;
		what |= (unsigned)c;
		break;
	case UT_LNK:
		if (strcmp(b->link ? b->link : "", v->link ? v->link : ""))
			what |= FSD_DIFF_LINK;
		break;
	case UT_CHR:
	case UT_BLK:
		if (b->rdev_major != v->rdev_major || b->rdev_minor != v->rdev_minor)
			what |= FSD_DIFF_RDEV;
		break;
	default:
		break;
	}
	if ((b->mode & 07777) != (v->mode & 07777))
		what |= FSD_DIFF_MODE;
	if (b->uid != v->uid || b->gid != v->gid)
		what |= FSD_DIFF_OWNER;
	/* A directory's mtime moves whenever a child comes or goes; the child
	 * is the change, so only verify asks about it. */
	if ((v->type != UT_DIR || d->opt->dir_mtimes) &&
	    (b->mtime_sec != v->mtime_sec || b->mtime_nsec != v->mtime_nsec))
		what |= FSD_DIFF_MTIME;
	if (!xattrs_equal(b, v, d->opt))
		what |= FSD_DIFF_XATTR;
	d->vwhat[j] = what;
	if (what & (FSD_DIFF_CONTENT | FSD_DIFF_LINK | FSD_DIFF_RDEV))
		d->vkind[j] = FSD_MODIFIED;
	else if (what)
		d->vkind[j] = FSD_METADATA;
	return 0;
}

static void progress(struct diff *d)
{
	if ((++d->steps & 0xffff) == 0)
		ut_progress_update(&d->opt->progress, "diff", d->steps,
				   (uint64_t)(d->base->n + d->vm->n));
}

static int merge_walk(struct diff *d)
{
	size_t i = 0, j = 0, nb = d->base->n, nv = d->vm->n;

	while (i < nb || j < nv) {
		int c = i >= nb ? 1 : j >= nv ? -1 : strcmp(d->base->v[i].path, d->vm->v[j].path);

		progress(d);
		if (c < 0) {
			d->bmatch[i++] = NONE;
		} else if (c > 0) {
			d->vmatch[j] = NONE;
			d->vkind[j++] = FSD_ADDED;
		} else {
			d->bmatch[i] = j;
			d->vmatch[j] = i;
			if (compare(d, i, j) < 0)
				return -1;
			i++;
			j++;
		}
	}
	return 0;
}

/* ---- hardlink rules ----------------------------------------------------- */

/*
 * A tar hardlink can only point into its own layer, and a written entry is a
 * new inode over the lower layers. So the result is right when (a) a VM set
 * is written whole or not at all, and (b) two unwritten paths are linked in
 * the VM exactly when they were in the base. (b) is checked per VM set
 * against the base set of its members, counting only base members the VM
 * still has: a deleted member's whiteout does not unlink the others.
 */
static void hardlink_rules(struct diff *d)
{
	struct linksets *vs = &d->vsets, *bs = &d->bsets;
	size_t *present, s, x, j;

	present = ut_calloc(bs->nsets + 1, sizeof(*present));
	for (s = 0; s < bs->nsets; s++)
		for (x = bs->start[s]; x < bs->start[s + 1]; x++)
			if (d->bmatch[bs->members[x]] != NONE)
				present[s]++;
	for (s = 0; s < vs->nsets; s++) {
		size_t first = d->vmatch[vs->members[vs->start[s]]];
		size_t h = first == NONE ? NONE : bs->of[first];
		int differs = h == NONE || present[h] != vs->start[s + 1] - vs->start[s];

		for (x = vs->start[s]; x < vs->start[s + 1] && !differs; x++) {
			size_t b = d->vmatch[vs->members[x]];

			differs = b == NONE || bs->of[b] != h;
		}
		if (differs)
			for (x = vs->start[s]; x < vs->start[s + 1]; x++)
				d->vwhat[vs->members[x]] |= FSD_DIFF_LINKSET;
	}
	/* A path that left its set (a split) must become its own inode. */
	for (j = 0; j < d->vm->n; j++) {
		size_t b = d->vmatch[j];

		if (vs->of[j] == NONE && b != NONE && d->vm->v[j].type != UT_DIR &&
		    bs->of[b] != NONE && present[bs->of[b]] > 1)
			d->vwhat[j] |= FSD_DIFF_LINKSET;
	}
	for (j = 0; j < d->vm->n; j++)
		if (!d->vkind[j] && (d->vwhat[j] & FSD_DIFF_LINKSET))
			d->vkind[j] = FSD_HARDLINK;
	for (s = 0; s < vs->nsets; s++) {
		int written = 0;

		for (x = vs->start[s]; x < vs->start[s + 1] && !written; x++)
			written = d->vkind[vs->members[x]] != 0;
		if (!written)
			continue;
		for (x = vs->start[s]; x < vs->start[s + 1]; x++)
			if (!d->vkind[vs->members[x]])
				d->vkind[vs->members[x]] = FSD_HARDLINK;
	}
	free(present);
}

/* ---- moves -------------------------------------------------------------- */

struct cand {
	uint64_t size;
	size_t idx;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A base file's content is gone from its path when the path was deleted, its
 * type changed, or its content changed. */
static int content_vanished(const struct diff *d, size_t i)
{
	size_t j = d->bmatch[i];

	if (j == NONE)
		return 1;
	return d->vkind[j] == FSD_TYPE_CHANGED || (d->vwhat[j] & FSD_DIFF_CONTENT);
}

static int find_moves(struct diff *d)
{
	uint64_t min = d->opt->move_min_size;
	struct cand *c = NULL;
	size_t i, j, n = 0;
	int rc = -1;

	if (!min)
		return 0;
	c = ut_malloc((d->base->n ? d->base->n : 1) * sizeof(*c));
	for (i = 0; i < d->base->n; i++) {
		const struct ut_entry *b = &d->base->v[i];

		if (b->type == UT_REG && b->size >= min && content_vanished(d, i)) {
			c[n].size = b->size;
			c[n++].idx = i;
		}
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	for (j = 0; j < d->vm->n && n; j++) {
		struct ut_entry *v = &d->vm->v[j];
		struct cand key = { v->size, 0 };
		size_t lo = 0, hi = n;

		if (d->vkind[j] != FSD_ADDED || v->type != UT_REG || v->size < min)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (cand_cmp(&c[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* Read the added file only when some vanished file has its size. */
		if (lo == n || c[lo].size != v->size)
			continue;
		if (digest_vm(d, j) < 0)
			goto out;
		for (; lo < n && c[lo].size == v->size; lo++) {
			struct ut_entry *b = &d->base->v[c[lo].idx];

			if (!b->has_digest) {
				if (!d->base->content.ops)
					continue;
				if (digest(d, d->base, b, "base") < 0)
					goto out;
			}
			if (!memcmp(b->digest, v->digest, UT_SHA256_LEN)) {
				d->moved[j] = b->path;
				d->st->moved++;
				d->st->moved_bytes += v->size;
				break;
			}
		}
	}
	rc = 0;
out:
	free(c);
	return rc;
}

/* ---- whiteouts ---------------------------------------------------------- */

/*
 * A deleted path needs its own whiteout unless an ancestor already gets one
 * (the ancestor was deleted or changed type). Ancestors missing from the base
 * (a tree without some directory entries) are looked through.
 */
static int needs_whiteout(const struct diff *d, const char *path, char *scratch)
{
	size_t len = strlen(path);

	while (len) {
		const char *s = memrchr(path, '/', len);
		size_t plen = s ? (size_t)(s - path) : 0;
		const struct ut_entry *b;
		size_t bi, vj;

		if (!plen)
			return 1;
		memcpy(scratch, path, plen);
		scratch[plen] = '\0';
		bi = ut_tree_lower_bound(d->base, scratch);
		if (bi < d->base->n && !strcmp(d->base->v[bi].path, scratch)) {
			b = &d->base->v[bi];
			vj = d->bmatch[bi];
			if (vj == NONE || d->vm->v[vj].type != b->type)
				return 0;
			if (b->type == UT_DIR)
				return 1;
		}
		len = plen;
	}
	return 1;
}

/* ---- the result --------------------------------------------------------- */

static void count(struct fsd_stats *st, const struct fsd_change *c)
{
	switch (c->kind) {
	case FSD_ADDED:
		st->added++;
		if (c->vm->type == UT_REG)
			st->added_bytes += c->vm->size;
		break;
	case FSD_MODIFIED:
		st->modified++;
		if (c->vm->type == UT_REG)
			st->modified_bytes += c->vm->size;
		break;
	case FSD_METADATA: st->metadata++; break;
	case FSD_DELETED:
		st->deleted++;
		if (c->base->type == UT_REG)
			st->deleted_bytes += c->base->size;
		break;
	case FSD_TYPE_CHANGED: st->type_changed++; break;
	case FSD_HARDLINK: st->hardlinks++; break;
	}
}

static void push(struct fsd_result *r, size_t *alloc, const struct fsd_change *c, unsigned plan)
{
	if (r->n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 256;
		r->changes = ut_realloc(r->changes, *alloc * sizeof(*r->changes));
		r->plan = ut_realloc(r->plan, *alloc);
	}
	/* The root has no tar entry: its changes are reported, never written. */
	if (!(c->vm ? c->vm : c->base)->path[0])
		plan = 0;
	r->changes[r->n] = *c;
	r->plan[r->n++] = (unsigned char)plan;
	count(&r->stats, c);
}

static void collect(struct diff *d, struct fsd_result *r)
{
	size_t i = 0, j = 0, nb = d->base->n, nv = d->vm->n, alloc = 0, maxlen = 1;
	char *scratch;

	for (i = 0; i < nb; i++) {
		size_t l = strlen(d->base->v[i].path) + 1;

		if (d->bmatch[i] == NONE && l > maxlen)
			maxlen = l;
	}
	scratch = ut_malloc(maxlen);
	i = 0;
	while (i < nb || j < nv) {
		struct fsd_change c = { 0 };
		unsigned plan = PLAN_ENTRY;

		if (i < nb && d->bmatch[i] == NONE &&
		    (j >= nv || d->vmatch[j] != NONE || strcmp(d->base->v[i].path, d->vm->v[j].path) < 0)) {
			c.kind = FSD_DELETED;
			c.base = &d->base->v[i];
			plan = needs_whiteout(d, c.base->path, scratch) ? PLAN_WHITEOUT : 0;
			push(r, &alloc, &c, plan);
			i++;
			continue;
		}
		if (d->vmatch[j] == NONE) {
			c.kind = FSD_ADDED;
			c.vm = &d->vm->v[j];
			c.moved_from = d->moved[j];
			push(r, &alloc, &c, plan);
			j++;
			continue;
		}
		/* A pair: the base side has no earlier unmatched path left. */
		if (d->vkind[j]) {
			c.kind = d->vkind[j];
			/* `what` details a change of the same kind of file only. */
			c.what = c.kind == FSD_TYPE_CHANGED ? 0 : d->vwhat[j];
			c.base = &d->base->v[i];
			c.vm = &d->vm->v[j];
			if (c.kind == FSD_TYPE_CHANGED)
				plan |= PLAN_WHITEOUT;
			push(r, &alloc, &c, plan);
		}
		i++;
		j++;
	}
	free(scratch);
}

/* One merge of base and vm into r (whose trees are set). */
static int diff_into(struct fsd_result *r, const struct fsd_options *opt, struct ut_err *err)
{
	struct ut_tree *base = r->base, *vm = r->vm;
	struct diff d = { 0 };
	int rc = -1;

	if (check_tree(base, "base", err) < 0 || check_tree(vm, "VM", err) < 0)
		return -1;
	d.base = base;
	d.vm = vm;
	d.opt = opt;
	d.st = &r->stats;
	d.err = err;
	d.vmatch = ut_malloc((vm->n ? vm->n : 1) * sizeof(*d.vmatch));
	d.bmatch = ut_malloc((base->n ? base->n : 1) * sizeof(*d.bmatch));
	d.vkind = ut_calloc(vm->n ? vm->n : 1, 1);
	d.vwhat = ut_calloc(vm->n ? vm->n : 1, sizeof(*d.vwhat));
	d.moved = ut_calloc(vm->n ? vm->n : 1, sizeof(*d.moved));
	linksets_build(&d.vsets, vm);
	linksets_build(&d.bsets, base);

	if (prefetch_digests(&d) < 0 || merge_walk(&d) < 0)
		goto out;
	hardlink_rules(&d);
	if (find_moves(&d) < 0)
		goto out;
	collect(&d, r);
	ut_progress_update(&opt->progress, "diff", (uint64_t)(base->n + vm->n),
			   (uint64_t)(base->n + vm->n));
	rc = 0;
out:
	free(d.vmatch);
	free(d.bmatch);
	free(d.vkind);
	free(d.vwhat);
	free(d.moved);
	free(d.vplanned);
	linksets_release(&d.vsets);
	linksets_release(&d.bsets);
	return rc;
}

static void add_copy(struct ut_tree *t, const struct ut_entry *e)
{
	struct ut_entry copy;

	ut_entry_copy(&copy, e);
	ut_tree_take(t, &copy);
}

/* lower with upper's entries on top (copies); content is lower's. */
static struct ut_tree *overlay(const struct ut_tree *lower, const struct ut_tree *upper)
{
	struct ut_tree *t = ut_tree_new();
	size_t i;

	for (i = 0; i < lower->n; i++)
		add_copy(t, &lower->v[i]);
	for (i = 0; i < upper->n; i++)
		add_copy(t, &upper->v[i]);
	ut_tree_sort(t); /* upper entries replace lower ones of the same path */
	t->content = lower->content;
	return t;
}

int fsd_diff(struct ut_tree *base, struct ut_tree *vm, const struct fsd_options *opt,
	     struct fsd_result **out, struct ut_err *err)
{
	static const struct fsd_options defaults = { 0 };
	struct fsd_result *r = NULL, *below = NULL;
	int rc = -1;

	*out = NULL;
	if (!opt)
		opt = &defaults;
	r = ut_calloc(1, sizeof(*r));
	r->vm = vm;
	r->base = base;
	if (opt->upper)
		r->base = r->lower = overlay(base, opt->upper);
	if (diff_into(r, opt, err) < 0)
		goto out;
	if (opt->upper) {
		/* Only the counts: vm's digests are already there. */
		below = ut_calloc(1, sizeof(*below));
		below->base = base;
		below->vm = vm;
		if (diff_into(below, opt, err) < 0)
			goto out;
		r->below = below->stats;
		r->have_below = 1;
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	fsd_result_free(below);
	fsd_result_free(r);
	return rc;
}

void fsd_result_free(struct fsd_result *r)
{
	if (!r)
		return;
	free(r->changes);
	free(r->plan);
	ut_tree_free(r->lower);
	free(r);
}

const struct fsd_change *fsd_result_changes(const struct fsd_result *r, size_t *n)
{
	*n = r->n;
	return r->changes;
}

const struct fsd_stats *fsd_result_stats(const struct fsd_result *r)
{
	return &r->stats;
}

const struct fsd_stats *fsd_result_stats_below(const struct fsd_result *r)
{
	return r->have_below ? &r->below : NULL;
}

/* ---- the layer plan ----------------------------------------------------- */

/*
 * Plan order is strcmp order of paths, except that a whiteout of "P/name"
 * sorts as if its path were "P/" followed by a symbol below every byte and
 * then "name": so every whiteout of a directory's children comes first in
 * that directory's (contiguous) "P/" range, before any sibling and before
 * the entry that may replace it, yet after "P" itself.
 */
static int key_at(const struct fsd_layer_item *it, size_t plen, size_t k)
{
	const char *p = it->path;

	if (!it->whiteout)
		return p[k] ? (unsigned char)p[k] : -2;
	if (k < plen)
		return (unsigned char)p[k];
	if (k == plen)
		return -1;
	return p[k - 1] ? (unsigned char)p[k - 1] : -2;
}

static size_t key_plen(const struct fsd_layer_item *it)
{
	size_t l;

	if (!it->whiteout)
		return 0;
	l = ut_path_parent_len(it->path);
	return l ? l + 1 : 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct fsd_layer_item *x = a, *y = b;
	size_t px = key_plen(x), py = key_plen(y), k;

	for (k = 0;; k++) {
		int cx = key_at(x, px, k), cy = key_at(y, py, k);

		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx == -2)
			return 0;
	}
}

int fsd_layer_plan(const struct fsd_result *r, struct fsd_layer_item **items, size_t *n,
		   struct ut_err *err)
{
	struct fsd_layer_item *v;
	size_t i, k = 0, count = 0;

	for (i = 0; i < r->n; i++)
		count += !!(r->plan[i] & PLAN_ENTRY) + !!(r->plan[i] & PLAN_WHITEOUT);
	v = ut_malloc((count ? count : 1) * sizeof(*v));
	for (i = 0; i < r->n; i++) {
		const struct fsd_change *c = &r->changes[i];

		if (r->plan[i] & PLAN_WHITEOUT) {
			v[k].whiteout = 1;
			v[k].path = c->base->path;
			v[k++].entry = NULL;
		}
		if (r->plan[i] & PLAN_ENTRY) {
			v[k].whiteout = 0;
			v[k].path = c->vm->path;
			v[k++].entry = c->vm;
		}
	}
	qsort(v, k, sizeof(*v), item_cmp);
	*items = v;
	*n = k;
	return 0;
}
