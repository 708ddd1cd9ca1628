/*
 * lvm.c - LVM2 volume groups read in-process: the PV label, the text
 * metadata in the PV's metadata area, and logical volumes as block devices.
 *
 * No device-mapper and no lvm tools: the host may have neither, and the
 * guest's metadata is all a linear or striped LV needs - a list of segments,
 * each a run of extents on one PV (or spread over several, in stripe-size
 * chunks). Thin pools, snapshots, RAID/mirrors, caches and VDO keep their
 * data in layouts of their own; they are listed with the reason they are not
 * read, never guessed at.
 *
 * On-disk format (lvm2's lib/format_text/layout.h, lib/label/label.h): a
 * 512-byte label in one of the first four sectors ("LABELONE", then at
 * offset_xl the pv_header: 32-char PV id, device size, a zero-ended list of
 * data areas, a zero-ended list of metadata areas); each metadata area starts
 * with mda_header (" LVM2 x[5A%r0N*>", start, size, raw_locn[]) whose first
 * raw_locn points at the current metadata text, a ring buffer after the
 * 512-byte header.
 */
#include "dr_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LVM_SECTOR 512
#define LVM_MDA_HEADER 512
#define LVM_MAX_TEXT (4u << 20) /* metadata text; real ones are a few KiB */
#define LVM_MAX_DEPTH 16        /* nesting of the text format */
#define LVM_MAX_SEGS 4096
#define LVM_MAX_STRIPES 128

/* ---- the text format: name = value, name { ... } ------------------------ */

struct cfg {
	char *key;
	char *str;             /* a string or number value; NULL for sections/lists */
	int is_list;
	struct cfg **kids;     /* section children, or list items (key NULL) */
	size_t nkids;
};

static void cfg_free(struct cfg *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nkids; i++)
		cfg_free(c->kids[i]);
	free(c->kids);
	free(c->key);
	free(c->str);
	free(c);
}

static void cfg_add(struct cfg *parent, struct cfg *kid)
{
	parent->kids = ut_realloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

struct lexer {
	const char *p, *end;
};

static void skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		if (*lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (isspace((unsigned char)*lx->p)) {
			lx->p++;
		} else {
			break;
		}
	}
}

/* A "string" (backslash escapes) or a bare word/number. NULL on bad input. */
static char *scalar(struct lexer *lx)
{
	struct ut_buf b;

	ut_buf_init(&b, 0);
	if (lx->p < lx->end && *lx->p == '"') {
		lx->p++;
		while (lx->p < lx->end && *lx->p != '"') {
			if (*lx->p == '\\' && lx->p + 1 < lx->end)
				lx->p++;
			ut_buf_add(&b, lx->p++, 1, NULL);
		}
		if (lx->p >= lx->end) {
			ut_buf_release(&b);
			return NULL;
		}
		lx->p++;
	} else {
		while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || strchr("_.-+", *lx->p)))
			ut_buf_add(&b, lx->p++, 1, NULL);
		if (!b.len) {
			ut_buf_release(&b);
			return NULL;
		}
	}
	ut_buf_add(&b, "", 1, NULL);
	return (char *)ut_buf_detach(&b, NULL);
}

/* Parses "key = value" and "key { ... }" items into sec until '}' or end. */
static int parse_items(struct lexer *lx, struct cfg *sec, int depth, int closing)
{
	if (depth > LVM_MAX_DEPTH)
		return -1;
	for (;;) {
		struct cfg *c;
		char *key;

		skip_space(lx);
		if (lx->p >= lx->end)
			return closing ? -1 : 0;
		if (*lx->p == '}') {
			if (!closing)
				return -1;
			lx->p++;
			return 0;
		}
		key = scalar(lx);
		if (!key)
			return -1;
		c = ut_calloc(1, sizeof(*c));
		c->key = key;
		cfg_add(sec, c);
		skip_space(lx);
		if (lx->p < lx->end && *lx->p == '{') {
			lx->p++;
			if (parse_items(lx, c, depth + 1, 1) < 0)
				return -1;
			continue;
		}
		if (lx->p >= lx->end || *lx->p != '=')
			return -1;
		lx->p++;
		skip_space(lx);
		if (lx->p < lx->end && *lx->p == '[') {
			c->is_list = 1;
			lx->p++;
			for (;;) {
				struct cfg *item;

				skip_space(lx);
				if (lx->p < lx->end && *lx->p == ']') {
					lx->p++;
					break;
				}
				item = ut_calloc(1, sizeof(*item));
				cfg_add(c, item);
				item->str = scalar(lx);
				if (!item->str)
					return -1;
				skip_space(lx);
				if (lx->p < lx->end && *lx->p == ',')
					lx->p++;
			}
		} else {
			c->str = scalar(lx);
			if (!c->str)
				return -1;
		}
	}
}

static const struct cfg *cfg_get(const struct cfg *c, const char *key)
{
	size_t i;

	for (i = 0; c && i < c->nkids; i++)
		if (c->kids[i]->key && !strcmp(c->kids[i]->key, key))
			return c->kids[i];
	return NULL;
}

static const char *cfg_str(const struct cfg *c, const char *key)
{
	const struct cfg *v = cfg_get(c, key);

	return v && v->str ? v->str : NULL;
}

static int cfg_u64(const struct cfg *c, const char *key, uint64_t *out)
{
	const char *s = cfg_str(c, key);
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*out = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

static int cfg_list_has(const struct cfg *c, const char *key, const char *word)
{
	const struct cfg *l = cfg_get(c, key);
	size_t i;

	for (i = 0; l && i < l->nkids; i++)
		if (l->kids[i]->str && !strcmp(l->kids[i]->str, word))
			return 1;
	return 0;
}

/* ---- the volume groups -------------------------------------------------- */

struct pv {
	char id[33];               /* without dashes */
	struct dr_blockdev *bd;    /* borrowed: the partition it is on */
	uint64_t pe_start;         /* bytes, from the label's first data area */
};

struct stripe {
	struct dr_blockdev *pv;    /* NULL: the PV is not on this disk */
	uint64_t off;              /* bytes on pv->bd where the stripe's extents start */
};

struct seg {
	uint64_t start, len;       /* bytes within the LV */
	uint64_t stripe_size;      /* bytes; 0 for one stripe */
	size_t nstripes;
	struct stripe *stripes;
};

struct lv {
	struct dr_lv pub;
	struct seg *segs;
	size_t nsegs;
};

struct dr_lvm {
	struct pv *pvs;
	size_t npvs;
	struct lv *lvs;
	size_t nlvs;
	char **vgs_seen;           /* VG ids already read (from another PV) */
	size_t nvgs;
};

static void strip_dashes(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *in && o + 1 < outsz; in++)
		if (*in != '-')
			out[o++] = *in;
	out[o] = '\0';
}

/* 1 with the PV's id, first data area and first metadata area; 0: no label. */
static int read_label(struct dr_blockdev *bd, char id[33], uint64_t *pe_start, uint64_t *mda_off,
		      uint64_t *mda_size, struct ut_err *err)
{
	unsigned char s[LVM_SECTOR];
	unsigned sector;

	for (sector = 0; sector < 4; sector++) {
		uint32_t hoff;
		size_t p;
		int list = 0;

		if ((uint64_t)(sector + 1) * LVM_SECTOR > bd->size)
			return 0;
		if (dr_blockdev_pread(bd, s, sizeof(s), (uint64_t)sector * LVM_SECTOR, err) < 0)
			return -1;
		if (memcmp(s, "LABELONE", 8) || memcmp(s + 24, "LVM2 001", 8))
			continue;
		hoff = ut_le32(s + 20);
		if (hoff < 32 || hoff > LVM_SECTOR - 32 - 8 - 16)
			return ut_err_set(err, "%s: LVM label: pv_header at %u is outside the label",
					  bd->path, hoff);
		memcpy(id, s + hoff, 32);
		id[32] = '\0';
		*pe_start = 0;
		*mda_off = *mda_size = 0;
		/* Two zero-ended lists of (offset, size): data areas, then
		 * metadata areas. */
		for (p = hoff + 40; p + 16 <= LVM_SECTOR && list < 2; p += 16) {
			uint64_t off = ut_le64(s + p), size = ut_le64(s + p + 8);

			if (!off && !size) {
				list++;
				continue;
			}
			if (list == 0 && !*pe_start)
				*pe_start = off;
			if (list == 1 && !*mda_off) {
				*mda_off = off;
				*mda_size = size;
			}
		}
		return 1;
	}
	return 0;
}

/* The current metadata text of a PV's metadata area, into text (inited). */
static int read_mda_text(struct dr_blockdev *bd, uint64_t mda_off, uint64_t mda_size,
			 struct ut_buf *text, struct ut_err *err)
{
	unsigned char h[LVM_MDA_HEADER];
	uint64_t off, size, ring;

	if (mda_size <= LVM_MDA_HEADER || mda_off > bd->size || mda_size > bd->size - mda_off)
		return ut_err_set(err, "%s: LVM metadata area [%llu, +%llu) is outside the PV",
				  bd->path, (unsigned long long)mda_off, (unsigned long long)mda_size);
	if (dr_blockdev_pread(bd, h, sizeof(h), mda_off, err) < 0)
		return -1;
	if (memcmp(h + 4, " LVM2 x[5A%r0N*>", 16))
		return ut_err_set(err, "%s: LVM metadata area at %llu has no mda header",
				  bd->path, (unsigned long long)mda_off);
	off = ut_le64(h + 40);
	size = ut_le64(h + 48);
	ring = mda_size - LVM_MDA_HEADER;
	if (!size)
		return ut_err_set(err, "%s: LVM metadata area holds no metadata", bd->path);
	if (off < LVM_MDA_HEADER || off >= mda_size || size > ring || size > LVM_MAX_TEXT)
		return ut_err_set(err, "%s: LVM metadata text [%llu, +%llu) is outside its area",
				  bd->path, (unsigned long long)off, (unsigned long long)size);
	while (size) {
		unsigned char chunk[65536];
		uint64_t n = mda_size - off < size ? mda_size - off : size;

		if (n > sizeof(chunk))
			n = sizeof(chunk);
		if (dr_blockdev_pread(bd, chunk, (size_t)n, mda_off + off, err) < 0 ||
		    ut_buf_add(text, chunk, (size_t)n, err) < 0)
			return -1;
		size -= n;
		off += n;
		if (off == mda_size) /* the ring wraps to just after the header */
			off = LVM_MDA_HEADER;
	}
	return 0;
}

static const struct pv *find_pv(const struct dr_lvm *l, const char *dashed)
{
	char id[64];
	size_t i;

	strip_dashes(dashed, id, sizeof(id));
	for (i = 0; i < l->npvs; i++)
		if (!strcmp(l->pvs[i].id, id))
			return &l->pvs[i];
	return NULL;
}

/* Why an LV with this segment type is not read, or NULL for striped. */
static const char *segtype_reason(const char *type)
{
	static const struct {
		const char *prefix, *reason;
	} kinds[] = {
		{ "thin-pool", "a thin pool (its data is mapped by the pool's own metadata)" },
		{ "thin", "a thin volume (its blocks are mapped by a thin pool's metadata)" },
		{ "snapshot", "a snapshot (copy-on-write exceptions over its origin)" },
		{ "raid", "RAID (its own layout and metadata sub-volumes)" },
		{ "mirror", "a mirror" },
		{ "cache", "a cache volume" },
		{ "writecache", "a write cache volume" },
		{ "vdo", "a VDO volume (deduplicated, compressed)" },
		{ "integrity", "an integrity volume" },
		{ "error", "an error target" },
		{ "zero", "a zero target" },
	};
	size_t i;

	if (!strcmp(type, "striped") || !strcmp(type, "linear"))
		return NULL;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(type, kinds[i].prefix, strlen(kinds[i].prefix)))
			return kinds[i].reason;
	return "a segment type vm2oci does not know";
}

static void lv_unsupported(struct lv *lv, const char *fmt, const char *arg)
{
	if (lv->pub.unsupported[0])
		return;
	snprintf(lv->pub.unsupported, sizeof(lv->pub.unsupported), fmt, arg);
}

/* One LV's segments; what cannot be mapped goes in pub.unsupported. */
static int read_lv(struct dr_lvm *l, const struct cfg *lvsec, const struct cfg *pvsec,
		   uint64_t extent, struct lv *lv, struct ut_err *err)
{
	uint64_t nseg = 0, i, total = 0;

	if (cfg_u64(lvsec, "segment_count", &nseg) < 0 || !nseg || nseg > LVM_MAX_SEGS)
		return ut_err_set(err, "LVM %s/%s: bad segment_count", lv->pub.vg, lv->pub.name);
	lv->segs = ut_calloc((size_t)nseg, sizeof(*lv->segs));
	for (i = 0; i < nseg; i++) {
		char key[32];
		const struct cfg *sc, *stripes;
		const char *type;
		uint64_t start, count, nstripes = 1, ssize = 0, k;
		struct seg *sg;

		snprintf(key, sizeof(key), "segment%llu", (unsigned long long)(i + 1));
		sc = cfg_get(lvsec, key);
		type = cfg_str(sc, "type");
		if (!sc || !type || cfg_u64(sc, "start_extent", &start) < 0 ||
		    cfg_u64(sc, "extent_count", &count) < 0)
			return ut_err_set(err, "LVM %s/%s: %s is missing or incomplete", lv->pub.vg,
					  lv->pub.name, key);
		if (i == 0 || !strcmp(lv->pub.type, "linear"))
			snprintf(lv->pub.type, sizeof(lv->pub.type), "%s", type);
		if (segtype_reason(type)) {
			lv_unsupported(lv, "%s", segtype_reason(type));
			total += count;
			continue;
		}
		stripes = cfg_get(sc, "stripes");
		if (cfg_get(sc, "stripe_count") && cfg_u64(sc, "stripe_count", &nstripes) < 0)
			nstripes = 0;
		if (nstripes > 1 && cfg_u64(sc, "stripe_size", &ssize) < 0)
			ssize = 0;
		if (!stripes || !stripes->is_list || !nstripes || nstripes > LVM_MAX_STRIPES ||
		    stripes->nkids != 2 * nstripes || (nstripes > 1 && !ssize) ||
		    count % nstripes || start != total || count > UINT64_MAX / extent / 512)
			return ut_err_set(err, "LVM %s/%s: %s has a bad stripe list", lv->pub.vg,
					  lv->pub.name, key);
		if (nstripes == 1)
			strcpy(lv->pub.type, "linear");
		sg = &lv->segs[lv->nsegs++];
		sg->start = start * extent * 512;
		sg->len = count * extent * 512;
		sg->stripe_size = nstripes > 1 ? ssize * 512 : 0;
		sg->nstripes = (size_t)nstripes;
		sg->stripes = ut_calloc(sg->nstripes, sizeof(*sg->stripes));
		for (k = 0; k < nstripes; k++) {
			const char *pvname = stripes->kids[2 * k]->str;
			const char *pe_s = stripes->kids[2 * k + 1]->str;
			const char *pvid = cfg_str(cfg_get(pvsec, pvname), "id");
			const struct pv *pv = pvid ? find_pv(l, pvid) : NULL;
			uint64_t pe = strtoull(pe_s, NULL, 10), per = count / nstripes;

			if (!pv) {
				lv_unsupported(lv, "its physical volume %s is not on this disk", pvname);
				continue;
			}
			if (pe > UINT64_MAX / extent / 512 ||
			    pv->pe_start + (pe + per) * extent * 512 > pv->bd->size) {
				lv_unsupported(lv, "its extents on %s run past the end of the PV",
					       pvname);
				continue;
			}
			sg->stripes[k].pv = pv->bd;
			sg->stripes[k].off = pv->pe_start + pe * extent * 512;
		}
		total += count;
	}
	lv->pub.size = total * extent * 512;
	return 0;
}

static int read_vg(struct dr_lvm *l, const char *text, size_t len, struct ut_err *err)
{
	/* The text ends with a NUL that its size counts. */
	const char *nul = memchr(text, '\0', len);
	struct lexer lx = { text, nul ? nul : text + len };
	struct cfg *root = ut_calloc(1, sizeof(*root));
	const struct cfg *vg = NULL, *pvsec, *lvsec;
	const char *vgid;
	uint64_t extent;
	size_t i;
	int ret = -1;

	if (parse_items(&lx, root, 0, 0) < 0) {
		ut_err_set(err, "LVM metadata text does not parse");
		goto out;
	}
	for (i = 0; i < root->nkids && !vg; i++)
		if (root->kids[i]->nkids && !root->kids[i]->str && !root->kids[i]->is_list)
			vg = root->kids[i];
	vgid = vg ? cfg_str(vg, "id") : NULL;
	if (!vgid || cfg_u64(vg, "extent_size", &extent) < 0 || !extent) {
		ut_err_set(err, "LVM metadata has no volume group with an id and extent_size");
		goto out;
	}
	for (i = 0; i < l->nvgs; i++)
		if (!strcmp(l->vgs_seen[i], vgid)) {
			ret = 0; /* every PV of a VG carries its metadata */
			goto out;
		}
	l->vgs_seen = ut_realloc(l->vgs_seen, (l->nvgs + 1) * sizeof(*l->vgs_seen));
	l->vgs_seen[l->nvgs++] = ut_strdup(vgid);
	pvsec = cfg_get(vg, "physical_volumes");
	lvsec = cfg_get(vg, "logical_volumes");
	for (i = 0; lvsec && i < lvsec->nkids; i++) {
		const struct cfg *c = lvsec->kids[i];
		struct lv *lv;

		if (!c->key || c->str || c->is_list)
			continue;
		/* Hidden sub-volumes (a pool's _tdata, a RAID image) are parts
		 * of a visible LV, not volumes of their own. */
		if (!cfg_list_has(c, "status", "VISIBLE"))
			continue;
		l->lvs = ut_realloc(l->lvs, (l->nlvs + 1) * sizeof(*l->lvs));
		lv = &l->lvs[l->nlvs++];
		memset(lv, 0, sizeof(*lv));
		snprintf(lv->pub.vg, sizeof(lv->pub.vg), "%s", vg->key);
		snprintf(lv->pub.name, sizeof(lv->pub.name), "%s", c->key);
		snprintf(lv->pub.uuid, sizeof(lv->pub.uuid), "%s", cfg_str(c, "id") ? cfg_str(c, "id") : "");
		if (cfg_get(c, "origin") || cfg_get(c, "merging_origin"))
			lv_unsupported(lv, "%s", segtype_reason("snapshot"));
		if (read_lv(l, c, pvsec, extent, lv, err) < 0)
			goto out;
	}
	ret = 0;
out:
	cfg_free(root);
	return ret;
}

int dr_lvm_read(struct dr_blockdev *const *pvs, size_t npvs, struct dr_lvm **out,
		struct ut_err *err)
{
	struct dr_lvm *l = ut_calloc(1, sizeof(*l));
	uint64_t *mda_off = ut_calloc(npvs ? npvs : 1, sizeof(*mda_off));
	uint64_t *mda_size = ut_calloc(npvs ? npvs : 1, sizeof(*mda_size));
	size_t i;

	*out = NULL;
	l->pvs = ut_calloc(npvs ? npvs : 1, sizeof(*l->pvs));
	for (i = 0; i < npvs; i++) {
		struct pv *pv = &l->pvs[l->npvs];
		int r = read_label(pvs[i], pv->id, &pv->pe_start, &mda_off[l->npvs],
				   &mda_size[l->npvs], err);

		if (r < 0)
			goto fail;
		if (!r)
			continue;
		pv->bd = pvs[i];
		l->npvs++;
	}
	/* All labels first: a VG's LVs may lie on any of its PVs. */
	for (i = 0; i < l->npvs; i++) {
		struct ut_buf text;

		if (!mda_size[i])
			continue; /* a PV made with --metadatacopies 0 */
		ut_buf_init(&text, LVM_MAX_TEXT + 1);
		if (read_mda_text(l->pvs[i].bd, mda_off[i], mda_size[i], &text, err) < 0) {
			ut_buf_release(&text);
			goto fail;
		}
		if (read_vg(l, (char *)text.data, text.len, err) < 0) {
			ut_buf_release(&text);
			ut_err_prefix(err, "%s: ", l->pvs[i].bd->path);
			goto fail;
		}
		ut_buf_release(&text);
	}
	free(mda_off);
	free(mda_size);
	*out = l;
	return 0;
fail:
	free(mda_off);
	free(mda_size);
	dr_lvm_free(l);
	return -1;
}

size_t dr_lvm_count(const struct dr_lvm *l)
{
	return l ? l->nlvs : 0;
}

const struct dr_lv *dr_lvm_lv(const struct dr_lvm *l, size_t i)
{
	return l && i < l->nlvs ? &l->lvs[i].pub : NULL;
}

void dr_lvm_free(struct dr_lvm *l)
{
	size_t i, k;

	if (!l)
		return;
	for (i = 0; i < l->nlvs; i++) {
		for (k = 0; k < l->lvs[i].nsegs; k++)
			free(l->lvs[i].segs[k].stripes);
		free(l->lvs[i].segs);
	}
	for (i = 0; i < l->nvgs; i++)
		free(l->vgs_seen[i]);
	free(l->vgs_seen);
	free(l->lvs);
	free(l->pvs);
	free(l);
}

/* ---- an LV as a block device -------------------------------------------- */

/* Where LV byte off lies: the PV device and offset, and how many bytes run
 * on from there contiguously. */
static int lv_map(struct dr_blockdev *bd, uint64_t off, struct dr_blockdev **pv, uint64_t *pvoff,
		  uint64_t *run, struct ut_err *err)
{
	const struct lv *lv = bd->priv;
	size_t lo = 0, hi = lv->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct seg *s = &lv->segs[mid];

		if (off < s->start) {
			hi = mid;
		} else if (off - s->start >= s->len) {
			lo = mid + 1;
		} else {
			uint64_t rel = off - s->start;

			if (s->nstripes == 1) {
				*pv = s->stripes[0].pv;
				*pvoff = s->stripes[0].off + rel;
				*run = s->len - rel;
			} else {
				uint64_t chunk = rel / s->stripe_size, in = rel % s->stripe_size;
				size_t k = (size_t)(chunk % s->nstripes);

				*pv = s->stripes[k].pv;
				*pvoff = s->stripes[k].off + chunk / s->nstripes * s->stripe_size + in;
				*run = s->stripe_size - in;
				if (*run > s->len - rel)
					*run = s->len - rel;
			}
			return 0;
		}
	}
	return ut_err_set(err, "%s: LV %s/%s: offset %llu is in no segment", bd->path,
			  lv->pub.vg, lv->pub.name, (unsigned long long)off);
}

static int lv_pread(struct dr_blockdev *bd, void *buf, size_t len, uint64_t off,
		    struct ut_err *err)
{
	unsigned char *p = buf;

	while (len) {
		struct dr_blockdev *pv;
		uint64_t pvoff, run;

		if (lv_map(bd, off, &pv, &pvoff, &run, err) < 0)
			return -1;
		if (run > len)
			run = len;
		if (dr_blockdev_pread(pv, p, (size_t)run, pvoff, err) < 0)
			return -1;
		p += run;
		off += run;
		len -= (size_t)run;
	}
	return 0;
}

static int lv_block_status(struct dr_blockdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
			   int *allocated, int *in_backing, struct ut_err *err)
{
	struct dr_blockdev *pv;
	uint64_t pvoff, run;

	if (lv_map(bd, off, &pv, &pvoff, &run, err) < 0)
		return -1;
	if (len > run)
		len = run;
	return dr_blockdev_block_status(pv, pvoff, len, pnum, allocated, in_backing, err);
}

static const struct dr_blockdev_ops lv_ops = {
	.name = "lv",
	.pread = lv_pread,
	.block_status = lv_block_status,
};

int dr_lvm_open(struct dr_lvm *l, size_t i, struct dr_blockdev **out, struct ut_err *err)
{
	struct lv *lv;
	struct dr_blockdev *bd;

	*out = NULL;
	if (i >= l->nlvs)
		return ut_err_set(err, "LVM: no logical volume #%zu", i);
	lv = &l->lvs[i];
	if (lv->pub.unsupported[0] || !lv->nsegs)
		return ut_err_set(err, "LV %s/%s is %s: not read", lv->pub.vg, lv->pub.name,
				  lv->pub.unsupported[0] ? lv->pub.unsupported : "empty");
	bd = ut_calloc(1, sizeof(*bd));
	bd->ops = &lv_ops;
	bd->path = ut_strdup(lv->segs[0].stripes[0].pv->path);
	bd->size = lv->pub.size;
	bd->priv = lv;
	/* The chain up to the disk, for its format and bytes read; not a
	 * window of it (slice_off 0, and dr_lvm_lv_of says what it is). */
	bd->parent = lv->segs[0].stripes[0].pv;
	*out = bd;
	return 0;
}

const struct dr_lv *dr_lvm_lv_of(const struct dr_blockdev *bd)
{
	return bd && bd->ops == &lv_ops ? &((const struct lv *)bd->priv)->pub : NULL;
}

int dr_lvm_linear_offset(const struct dr_blockdev *bd, uint64_t *off)
{
	const struct lv *lv;
	const struct dr_blockdev *b;

	if (!bd || bd->ops != &lv_ops)
		return -1;
	lv = bd->priv;
	if (lv->nsegs != 1 || lv->segs[0].nstripes != 1)
		return -1;
	*off = lv->segs[0].stripes[0].off;
	for (b = lv->segs[0].stripes[0].pv; b->parent; b = b->parent)
		*off += b->slice_off;
	return 0;
}
