/*
 * rpmhdr.c - rpm header blobs as the rpmdb stores them.
 *
 * Layout (all big-endian): u32 index count il, u32 data length dl, il
 * entries of {u32 tag, u32 type, u32 offset, u32 count}, then dl bytes of
 * data. Every offset and count is checked against dl before use: the blob
 * comes from the guest.
 */
#include "pkg_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* rpm's own sanity limits (hdrchkTags, hdrchkData). */
#define HDR_MAX_TAGS 0xffff
#define HDR_MAX_DATA 0x0fffffff

enum {
	T_INT16 = 3,
	T_INT32 = 4,
	T_STRING = 6,
	T_STRING_ARRAY = 8,
	T_I18NSTRING = 9,
};

enum {
	TAG_NAME = 1000,
	TAG_VERSION = 1001,
	TAG_RELEASE = 1002,
	TAG_EPOCH = 1003,
	TAG_INSTALLTIME = 1008,
	TAG_VENDOR = 1011,
	TAG_LICENSE = 1014,
	TAG_PACKAGER = 1015,
	TAG_ARCH = 1022,
	TAG_OLDFILENAMES = 1027,
	TAG_FILEDIGESTS = 1035,
	TAG_FILEFLAGS = 1037,
	TAG_SOURCERPM = 1044,
	TAG_PROVIDENAME = 1047,
	TAG_REQUIREFLAGS = 1048,
	TAG_REQUIRENAME = 1049,
	TAG_REQUIREVERSION = 1050,
	TAG_PROVIDEFLAGS = 1112,
	TAG_PROVIDEVERSION = 1113,
	TAG_DIRINDEXES = 1116,
	TAG_BASENAMES = 1117,
	TAG_DIRNAMES = 1118,
	TAG_FILEDIGESTALGO = 5011,
};

#define SENSE_LESS 0x02
#define SENSE_GREATER 0x04
#define SENSE_EQUAL 0x08
#define SENSE_RPMLIB 0x01000000
#define FILE_CONFIG 0x01

struct hdr {
	const unsigned char *index, *data;
	uint32_t il, dl;
};

struct ent {
	uint32_t tag, type, off, count;
};

static int find(const struct hdr *h, uint32_t tag, struct ent *e)
{
	uint32_t i;

	for (i = 0; i < h->il; i++) {
		const unsigned char *p = h->index + (size_t)i * 16;

		if (ut_be32(p) == tag) {
			e->tag = tag;
			e->type = ut_be32(p + 4);
			e->off = ut_be32(p + 8);
			e->count = ut_be32(p + 12);
			return 1;
		}
	}
	return 0;
}

/* The strings of a STRING/STRING_ARRAY/I18N entry, pointers into the
 * blob: 1 found, 0 absent, -1 malformed. I18N tables keep the first. */
static int get_strings(const struct hdr *h, uint32_t tag, const char ***out, uint32_t *n,
		       struct ut_err *err)
{
	struct ent e;
	const char **v;
	uint32_t i, cnt;
	size_t off;

	*out = NULL;
	*n = 0;
	if (!find(h, tag, &e))
		return 0;
	if (e.type != T_STRING && e.type != T_STRING_ARRAY && e.type != T_I18NSTRING)
		return ut_err_set(err, "tag %u: type %u is not a string", tag, e.type);
	if (e.off >= h->dl)
		return ut_err_set(err, "tag %u: offset %u beyond data of %u bytes", tag, e.off, h->dl);
	cnt = e.type == T_STRING ? 1 : e.count;
	if (e.type == T_I18NSTRING && cnt > 1)
		cnt = 1;
	/* Each string takes at least its NUL. */
	if (cnt > h->dl - e.off)
		return ut_err_set(err, "tag %u: count %u beyond data", tag, e.count);
	v = ut_malloc((cnt ? cnt : 1) * sizeof(*v));
	off = e.off;
	for (i = 0; i < cnt; i++) {
		const unsigned char *z;

		if (off >= h->dl) {
			free(v);
			return ut_err_set(err, "tag %u: string %u beyond data", tag, i);
		}
		z = memchr(h->data + off, '\0', h->dl - off);
		if (!z) {
			free(v);
			return ut_err_set(err, "tag %u: unterminated string", tag);
		}
		v[i] = (const char *)h->data + off;
		off = (size_t)(z - h->data) + 1;
	}
	*out = v;
	*n = cnt;
	return 1;
}

static int get_int32(const struct hdr *h, uint32_t tag, uint32_t **out, uint32_t *n,
		     struct ut_err *err)
{
	struct ent e;
	uint32_t i, *v;

	*out = NULL;
	*n = 0;
	if (!find(h, tag, &e))
		return 0;
	if (e.type != T_INT32)
		return ut_err_set(err, "tag %u: type %u is not int32", tag, e.type);
	if (e.off > h->dl || e.count > (h->dl - e.off) / 4)
		return ut_err_set(err, "tag %u: %u int32 at offset %u beyond data of %u bytes", tag,
				  e.count, e.off, h->dl);
	v = ut_malloc((e.count ? e.count : 1) * sizeof(*v));
	for (i = 0; i < e.count; i++)
		v[i] = ut_be32(h->data + e.off + (size_t)i * 4);
	*out = v;
	*n = e.count;
	return 1;
}

static char *get_string1(const struct hdr *h, uint32_t tag, struct ut_err *err, int *rc)
{
	const char **v;
	uint32_t n;
	char *s = NULL;

	*rc = get_strings(h, tag, &v, &n, err);
	if (*rc > 0 && n > 0)
		s = ut_strdup(v[0]);
	free(v);
	return s;
}

static enum pkg_rel sense_rel(uint32_t f)
{
	switch (f & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL)) {
	case SENSE_LESS:
		return PKG_REL_LT;
	case SENSE_LESS | SENSE_EQUAL:
		return PKG_REL_LE;
	case SENSE_EQUAL:
		return PKG_REL_EQ;
	case SENSE_GREATER | SENSE_EQUAL:
		return PKG_REL_GE;
	case SENSE_GREATER:
		return PKG_REL_GT;
	default:
		return PKG_REL_ANY;
	}
}

/* Name/flags/version triples of requires or provides. */
static int get_deps(const struct hdr *h, struct pkg *p, uint32_t tname, uint32_t tflags,
		    uint32_t tver, int provides, struct ut_err *err)
{
	const char **names = NULL, **vers = NULL;
	uint32_t nn, nf = 0, nv = 0, i, *flags = NULL;
	int rc = -1;

	if (get_strings(h, tname, &names, &nn, err) < 0 ||
	    get_int32(h, tflags, &flags, &nf, err) < 0 ||
	    get_strings(h, tver, &vers, &nv, err) < 0)
		goto out;
	if ((flags && nf != nn) || (vers && nv != nn)) {
		ut_err_set(err, "tag %u: %u names but %u flags and %u versions", tname, nn, nf, nv);
		goto out;
	}
	for (i = 0; i < nn; i++) {
		uint32_t f = flags ? flags[i] : 0;
		const char *v = vers ? vers[i] : "";
		enum pkg_rel rel = *v ? sense_rel(f) : PKG_REL_ANY;

		if (!*names[i])
			continue;
		if (provides) {
			pkg_add_provide(p, ut_strdup(names[i]), rel,
					rel != PKG_REL_ANY ? ut_strdup(v) : NULL);
			continue;
		}
		/* rpmlib() features name no installed package. */
		if ((f & SENSE_RPMLIB) || !strncmp(names[i], "rpmlib(", 7))
			continue;
		if (names[i][0] == '(') {
			if (pkg_rpm_rich_parse(names[i], p, err) < 0)
				goto out;
			continue;
		}
		pkg_dep_add_alt(pkg_add_dep(p, PKG_DEP_DEPENDS), ut_strdup(names[i]), NULL, rel,
				rel != PKG_REL_ANY ? ut_strdup(v) : NULL);
	}
	rc = 0;
out:
	free(names);
	free(vers);
	free(flags);
	return rc;
}

static int get_files(const struct hdr *h, struct pkg *p, struct ut_err *err)
{
	const char **base = NULL, **dirs = NULL, **old = NULL, **dig = NULL;
	uint32_t nb = 0, nd = 0, no = 0, ni = 0, ng = 0, nf = 0, na = 0, i;
	uint32_t *idx = NULL, *fflags = NULL, *algo = NULL;
	enum pkg_digest_kind kind = PKG_DIGEST_MD5;
	size_t hexlen = 32;
	int rc = -1;

	if (get_strings(h, TAG_BASENAMES, &base, &nb, err) < 0 ||
	    get_strings(h, TAG_DIRNAMES, &dirs, &nd, err) < 0 ||
	    get_int32(h, TAG_DIRINDEXES, &idx, &ni, err) < 0 ||
	    get_strings(h, TAG_OLDFILENAMES, &old, &no, err) < 0 ||
	    get_strings(h, TAG_FILEDIGESTS, &dig, &ng, err) < 0 ||
	    get_int32(h, TAG_FILEFLAGS, &fflags, &nf, err) < 0 ||
	    get_int32(h, TAG_FILEDIGESTALGO, &algo, &na, err) < 0)
		goto out;
	if (base && ni != nb) {
		ut_err_set(err, "%u basenames but %u dir indexes", nb, ni);
		goto out;
	}
	if (!base) /* rpm < 4.0's uncompressed file list */
		nb = no;
	if ((dig && ng != nb) || (fflags && nf != nb)) {
		ut_err_set(err, "%u files but %u digests and %u flags", nb, ng, nf);
		goto out;
	}
	if (na) {
		switch (algo[0]) {
		case 1:
			break;
		case 2:
			kind = PKG_DIGEST_SHA1, hexlen = 40;
			break;
		case 8:
			kind = PKG_DIGEST_SHA256, hexlen = 64;
			break;
		default:
			kind = PKG_DIGEST_NONE, hexlen = 0;
		}
	}
	for (i = 0; i < nb; i++) {
		struct pkg_file *f;
		char *joined, *path;

		if (base) {
			if (idx[i] >= nd) {
				ut_err_set(err, "file %u: dir index %u of %u", i, idx[i], nd);
				goto out;
			}
			joined = ut_asprintf("%s%s", dirs[idx[i]], base[i]);
		} else {
			joined = ut_strdup(old[i]);
		}
		/* "filesystem" owns "/" itself: the tree's root, no file. */
		if (!strcmp(joined, "/")) {
			free(joined);
			continue;
		}
		if (pkg_norm_path(joined, strlen(joined), &path, err) < 0) {
			free(joined);
			goto out;
		}
		free(joined);
		f = pkg_add_file(p, path);
		if (dig && kind != PKG_DIGEST_NONE && strlen(dig[i]) == hexlen) {
			size_t k;

			f->kind = kind;
			f->digest = ut_strdup(dig[i]);
			for (k = 0; k < hexlen; k++)
				f->digest[k] = (char)tolower((unsigned char)f->digest[k]);
		}
		if (fflags && (fflags[i] & FILE_CONFIG)) {
			f->is_conffile = 1;
			if (f->digest)
				f->conf_digest = ut_strdup(f->digest);
		}
	}
	rc = 0;
out:
	free(base);
	free(dirs);
	free(old);
	free(dig);
	free(idx);
	free(fflags);
	free(algo);
	return rc;
}

/* "bash-4.2.46-34.el7.src.rpm" -> "bash": the name before version-release. */
static char *srpm_name(const char *srpm)
{
	size_t n = strlen(srpm);
	int dashes = 0;

	if (n > 8 && !strcmp(srpm + n - 8, ".src.rpm"))
		n -= 8;
	else if (n > 10 && !strcmp(srpm + n - 10, ".nosrc.rpm"))
		n -= 10;
	while (n > 0 && dashes < 2)
		if (srpm[--n] == '-')
			dashes++;
	return dashes == 2 && n ? ut_strndup(srpm, n) : ut_strdup(srpm);
}

/* Vendor (else Packager), License, the source rpm's name. */
static int get_bom_fields(const struct hdr *h, struct pkg *p, struct ut_err *err)
{
	char *lic, *srpm;
	int rc;

	p->supplier = get_string1(h, TAG_VENDOR, err, &rc);
	if (rc < 0)
		return -1;
	if (!p->supplier || !*p->supplier) {
		free(p->supplier);
		p->supplier = get_string1(h, TAG_PACKAGER, err, &rc);
		if (rc < 0)
			return -1;
	}
	lic = get_string1(h, TAG_LICENSE, err, &rc);
	if (rc < 0)
		return -1;
	if (lic)
		pkg_add_license(p, lic, strlen(lic));
	free(lic);
	srpm = get_string1(h, TAG_SOURCERPM, err, &rc);
	if (rc < 0)
		return -1;
	if (srpm && *srpm)
		p->source = srpm_name(srpm);
	free(srpm);
	return 0;
}

int pkg_rpm_header_parse(const void *blob, size_t len, struct pkg *p, struct ut_err *err)
{
	const unsigned char *b = blob;
	struct hdr h;
	uint32_t *ep = NULL, ne = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	p->epoch = -1;
	p->manual = -1;
	if (len < 8)
		return ut_err_set(err, "rpm header of %zu bytes is truncated", len);
	h.il = ut_be32(b);
	h.dl = ut_be32(b + 4);
	if (h.il == 0 || h.il > HDR_MAX_TAGS || h.dl > HDR_MAX_DATA)
		return ut_err_set(err, "rpm header with %u tags and %u data bytes is implausible",
				  h.il, h.dl);
	if ((uint64_t)8 + (uint64_t)h.il * 16 + h.dl > len)
		return ut_err_set(err, "rpm header claims %u tags and %u data bytes, blob has %zu",
				  h.il, h.dl, len);
	h.index = b + 8;
	h.data = h.index + (size_t)h.il * 16;
	p->name = get_string1(&h, TAG_NAME, err, &rc);
	if (rc < 0)
		goto bad;
	if (!p->name || !*p->name) {
		ut_err_set(err, "rpm header without a name");
		goto bad;
	}
	p->version = get_string1(&h, TAG_VERSION, err, &rc);
	if (rc < 0)
		goto bad;
	p->release = get_string1(&h, TAG_RELEASE, err, &rc);
	if (rc < 0)
		goto bad;
	p->arch = get_string1(&h, TAG_ARCH, err, &rc);
	if (rc < 0)
		goto bad;
	if (get_int32(&h, TAG_EPOCH, &ep, &ne, err) < 0)
		goto bad;
	if (ne)
		p->epoch = ep[0];
	free(ep);
	ep = NULL;
	p->install_time = -1;
	if (get_int32(&h, TAG_INSTALLTIME, &ep, &ne, err) < 0)
		goto bad;
	if (ne)
		p->install_time = ep[0];
	free(ep);
	if (get_bom_fields(&h, p, err) < 0)
		goto bad;
	if (!p->version)
		p->version = ut_strdup("");
	if (!p->release)
		p->release = ut_strdup("");
	if (!p->arch)
		p->arch = ut_strdup("");
	p->display_name = ut_strdup(p->name);
	p->display_version = ut_asprintf("%s-%s", p->version, p->release);
	if (get_deps(&h, p, TAG_REQUIRENAME, TAG_REQUIREFLAGS, TAG_REQUIREVERSION, 0, err) < 0 ||
	    get_deps(&h, p, TAG_PROVIDENAME, TAG_PROVIDEFLAGS, TAG_PROVIDEVERSION, 1, err) < 0 ||
	    get_files(&h, p, err) < 0)
		goto bad;
	return 0;
bad:
	ut_err_prefix(err, "package %s: ", p->name ? p->name : "?");
	pkg_release(p);
	return -1;
}
