/*
 * sbom.c - a package database as a bill of materials: SPDX 2.3 JSON or
 * CycloneDX 1.5 JSON, the two formats scanners and registries read.
 *
 * Everything is derived from the database (and the caller's os-release and
 * layer map), never from the clock or randomness, so one disk always gives
 * the same bytes: the creation time is the newest install time, the
 * document namespace and serial number are hashes of the content.
 */
#include "pkg_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int pkg_sbom_format_parse(const char *s)
{
	if (!strcmp(s, "spdx") || !strcmp(s, "spdx-json"))
		return PKG_SBOM_SPDX;
	if (!strcmp(s, "cyclonedx") || !strcmp(s, "cyclonedx-json"))
		return PKG_SBOM_CYCLONEDX;
	return -1;
}

const char *pkg_sbom_media_type(enum pkg_sbom_format f)
{
	return f == PKG_SBOM_SPDX ? "application/spdx+json" : "application/vnd.cyclonedx+json";
}

/* ---- package URLs ------------------------------------------------------- */

/* purl's percent-encoding: all but the unreserved characters. */
static void purl_escape(struct ut_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_' || c == '~')
			ut_buf_add(b, &c, 1, NULL);
		else
			ut_buf_addf(b, NULL, "%%%02X", c);
	}
}

static const char *purl_type(const char *format)
{
	if (!strcmp(format, "pacman"))
		return "alpm";
	return format; /* deb, rpm, apk */
}

/* The distribution's own name when os-release has none. */
static const char *default_namespace(const char *format)
{
	if (!strcmp(format, "deb"))
		return "debian";
	if (!strcmp(format, "apk"))
		return "alpine";
	if (!strcmp(format, "pacman"))
		return "arch";
	return NULL;
}

char *pkg_purl(const struct pkg_db *db, const struct pkg *p, const char *os_id,
	       const char *os_version_id)
{
	const char *ns = os_id && *os_id ? os_id : default_namespace(db->format);
	int rpm = !strcmp(db->format, "rpm");
	const char *sep = "?";
	struct ut_buf b;

	ut_buf_init(&b, 0);
	ut_buf_addf(&b, NULL, "pkg:%s/", purl_type(db->format));
	if (ns) {
		char *lower = ut_strdup(ns);

		for (char *q = lower; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		purl_escape(&b, lower);
		ut_buf_addstr(&b, "/", NULL);
		free(lower);
	}
	purl_escape(&b, p->name);
	if (p->display_version && *p->display_version) {
		ut_buf_addstr(&b, "@", NULL);
		purl_escape(&b, p->display_version);
	}
	/* Qualifiers in key order, as the canonical form wants. */
	if (p->arch && *p->arch) {
		ut_buf_addstr(&b, "?arch=", NULL);
		purl_escape(&b, p->arch);
		sep = "&";
	}
	if (ns && os_id && *os_id) {
		ut_buf_addf(&b, NULL, "%sdistro=", sep);
		purl_escape(&b, os_id);
		if (os_version_id && *os_version_id) {
			ut_buf_addstr(&b, "-", NULL);
			purl_escape(&b, os_version_id);
		}
		sep = "&";
	}
	if (rpm && p->epoch >= 0)
		ut_buf_addf(&b, NULL, "%sepoch=%lld", sep, (long long)p->epoch);
	return ut_buf_detach(&b, NULL);
}

/* ---- what both formats share -------------------------------------------- */

struct sbom {
	const struct pkg_db *db;
	const struct pkg_graph *g;
	const struct pkg_sbom_options *o;
	char **purls;     /* per package */
	char **refs;      /* per package: a unique id (SPDXID / bom-ref) */
	char created[32]; /* ISO 8601, UTC */
	char uuid[37];    /* from the content's hash */
	char tool[96];    /* "Tool: vm2oci-0.1.0" */
	/* licenses seen, as SPDX LicenseRefs (SPDX only) */
	char **lic_names, **lic_ids;
	size_t nlic;
};

static void iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || !gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm)), tm.tm_year = 70, tm.tm_mday = 1;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A version-5-shaped UUID from the sha256 of everything the document says
 * about the packages. */
static void content_uuid(struct sbom *s)
{
	struct ut_sha256 h = { 0 };
	unsigned char d[UT_SHA256_LEN];
	char hex[2 * UT_SHA256_LEN + 1];
	size_t i;

	ut_sha256_init(&h);
	ut_sha256_update(&h, s->o->name ? s->o->name : "", strlen(s->o->name ? s->o->name : "") + 1);
	ut_sha256_update(&h, s->created, strlen(s->created) + 1);
	for (i = 0; i < s->db->n; i++)
		ut_sha256_update(&h, s->purls[i], strlen(s->purls[i]) + 1);
	for (i = 0; i < s->o->nlayers; i++)
		ut_sha256_update(&h, s->o->layers[i].digest, strlen(s->o->layers[i].digest) + 1);
	ut_sha256_final(&h, d);
	ut_sha256_release(&h);
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	ut_hex(d, 16, hex);
	snprintf(s->uuid, sizeof(s->uuid), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
}

/* SPDX ids allow [A-Za-z0-9.-] only; "GPL-2+" keeps its "or later". */
static void id_chars(struct ut_buf *b, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (c == '+') {
			ut_buf_addstr(b, "-plus", NULL);
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			c = '-';
		ut_buf_add(b, &c, 1, NULL);
	}
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Orders package indices by their reference (ctx: the refs), then index:
 * the first holder of a duplicate keeps it. */
static int ref_idx_cmp(const void *a, const void *b, void *ctx)
{
	char **refs = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(refs[x], refs[y]);

	return c ? c : (x > y) - (x < y);
}

static int sbom_init(struct sbom *s, const struct pkg_db *db, const struct pkg_graph *g,
		     const struct pkg_sbom_options *o)
{
	int64_t newest = -1;
	size_t i, *order, *renamed = NULL, nrenamed = 0;

	memset(s, 0, sizeof(*s));
	s->db = db;
	s->g = g;
	s->o = o;
	s->purls = ut_calloc(db->n + 1, sizeof(*s->purls));
	s->refs = ut_calloc(db->n + 1, sizeof(*s->refs));
	for (i = 0; i < db->n; i++) {
		s->purls[i] = pkg_purl(db, &db->v[i], o->os_id, o->os_version_id);
		if (db->v[i].install_time > newest)
			newest = db->v[i].install_time;
	}
	iso_time(newest >= 0 ? newest : db->db_mtime, s->created);
	snprintf(s->tool, sizeof(s->tool), "Tool: vm2oci-%.60s",
		 o->tool_version ? o->tool_version : "unknown");
	content_uuid(s);
	/* References: "SPDXRef-Package-<type>-<name>-<arch>-<version>" and the
	 * purl for CycloneDX; a duplicate (a database listing one package
	 * twice) gets "-<n>" / "#<n>". */
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];
		struct ut_buf b;

		ut_buf_init(&b, 0);
		if (o->format == PKG_SBOM_SPDX) {
			ut_buf_addf(&b, NULL, "SPDXRef-Package-%s-", purl_type(db->format));
			id_chars(&b, p->name);
			ut_buf_addstr(&b, "-", NULL);
			id_chars(&b, p->display_version ? p->display_version : "");
			if (p->arch && *p->arch) {
				ut_buf_addstr(&b, "-", NULL);
				id_chars(&b, p->arch);
			}
		} else {
			ut_buf_addstr(&b, s->purls[i], NULL);
		}
		s->refs[i] = ut_buf_detach(&b, NULL);
	}
	/* Package indices by reference; each later holder of a name is
	 * renamed by its index (the first keeps it). */
	order = ut_calloc(db->n + 1, sizeof(*order));
	for (i = 0; i < db->n; i++)
		order[i] = i;
	if (db->n > 1)
		qsort_r(order, db->n, sizeof(*order), ref_idx_cmp, s->refs);
	for (i = 1; i < db->n; i++) {
		size_t k = order[i];

		if (strcmp(s->refs[k], s->refs[order[i - 1]]))
			continue;
		renamed = ut_realloc(renamed, (nrenamed + 1) * sizeof(*renamed));
		renamed[nrenamed++] = k;
	}
	for (i = 0; i < nrenamed; i++) {
		size_t k = renamed[i];
		char *r = ut_asprintf("%s%s%zu", s->refs[k], o->format == PKG_SBOM_SPDX ? "-" : "#", k);

		free(s->refs[k]);
		s->refs[k] = r;
	}
	free(renamed);
	free(order);
	return 0;
}

static void sbom_release(struct sbom *s)
{
	size_t i;

	for (i = 0; i < s->db->n; i++) {
		free(s->purls[i]);
		free(s->refs[i]);
	}
	free(s->purls);
	free(s->refs);
	for (i = 0; i < s->nlic; i++) {
		free(s->lic_names[i]);
		free(s->lic_ids[i]);
	}
	free(s->lic_names);
	free(s->lic_ids);
}

/* The layers p's files sit in, top layer first as the roles appear in
 * o->layers (or in first-seen order), as a JSON array of strings. */
static json_t *pkg_layers(const struct sbom *s, const struct pkg *p)
{
	const char *seen[8];
	size_t nseen = 0, i, k;
	json_t *a;

	if (!s->o->layer_of)
		return NULL;
	for (i = 0; i < p->nfiles && nseen < 8; i++) {
		const char *role = s->o->layer_of(s->o->layer_ctx, p->files[i].path);

		if (!role)
			continue;
		for (k = 0; k < nseen && strcmp(seen[k], role); k++)
			;
		if (k == nseen)
			seen[nseen++] = role;
	}
	if (!nseen)
		return NULL;
	qsort(seen, nseen, sizeof(*seen), str_cmp);
	a = json_array();
	for (i = 0; i < nseen; i++)
		json_array_append_new(a, json_string(seen[i]));
	return a;
}

/* A guest string for JSON: invalid UTF-8 bytes become U+FFFD so that no
 * name drops its entry. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");
	struct ut_buf b;

	if (j)
		return j;
	ut_buf_init(&b, 0);
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (*q < 0x80)
			ut_buf_add(&b, q, 1, NULL);
		else
			ut_buf_addstr(&b, "\xef\xbf\xbd", NULL);
	}
	ut_buf_addstr(&b, "", NULL);
	j = json_string((const char *)b.data);
	ut_buf_release(&b);
	return j;
}

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, jstr(v));
}

/* The successors of package i, as package indices (provider groups
 * already resolved by pkg_graph_successors); caller frees. */
static size_t deps_of(const struct sbom *s, size_t i, size_t **to)
{
	*to = NULL;
	if (!s->g)
		return 0;
	return pkg_graph_successors(s->g, i, to);
}


/* ---- SPDX 2.3 ------------------------------------------------------------ */

/* "Name <mail>" -> "Person: Name (mail)"; a bare vendor -> "Organization: X". */
static char *spdx_supplier(const char *s)
{
	const char *lt, *gt;

	if (!s || !*s)
		return ut_strdup("NOASSERTION");
	lt = strchr(s, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt) {
		size_t nl = (size_t)(lt - s);

		while (nl && s[nl - 1] == ' ')
			nl--;
		return ut_asprintf("Person: %.*s (%.*s)", (int)nl, s, (int)(gt - lt - 1), lt + 1);
	}
	return ut_asprintf("Organization: %s", s);
}

/* The LicenseRef naming a license as the package states it. */
static const char *spdx_license_ref(struct sbom *s, const char *name)
{
	struct ut_buf b;
	size_t i;
	char *id;

	for (i = 0; i < s->nlic; i++)
		if (!strcmp(s->lic_names[i], name))
			return s->lic_ids[i];
	ut_buf_init(&b, 0);
	ut_buf_addstr(&b, "LicenseRef-", NULL);
	id_chars(&b, name);
	id = ut_buf_detach(&b, NULL);
	for (i = 0; i < s->nlic; i++)
		if (!strcmp(s->lic_ids[i], id)) { /* "GPL-2+" and "GPL-2-" */
			char *u = ut_asprintf("%s-%zu", id, s->nlic);

			free(id);
			id = u;
			break;
		}
	s->lic_names = ut_realloc(s->lic_names, (s->nlic + 1) * sizeof(*s->lic_names));
	s->lic_ids = ut_realloc(s->lic_ids, (s->nlic + 1) * sizeof(*s->lic_ids));
	s->lic_names[s->nlic] = ut_strdup(name);
	s->lic_ids[s->nlic] = id;
	return s->lic_ids[s->nlic++];
}

static json_t *spdx_rel(const char *a, const char *type, const char *b)
{
	return json_pack("{s:s, s:s, s:s}", "spdxElementId", a, "relationshipType", type,
			 "relatedSpdxElement", b);
}

static json_t *spdx_package(struct sbom *s, size_t i)
{
	const struct pkg *p = &s->db->v[i];
	json_t *o = json_object(), *layers, *refs;
	char *sup = spdx_supplier(p->supplier);
	struct ut_buf lic;
	size_t k;

	set_str(o, "SPDXID", s->refs[i]);
	set_str(o, "name", p->name);
	set_str(o, "versionInfo", p->display_version);
	set_str(o, "supplier", sup);
	free(sup);
	json_object_set_new(o, "downloadLocation", json_string("NOASSERTION"));
	json_object_set_new(o, "filesAnalyzed", json_false());
	json_object_set_new(o, "licenseConcluded", json_string("NOASSERTION"));
	ut_buf_init(&lic, 0);
	for (k = 0; k < p->nlicenses; k++)
		ut_buf_addf(&lic, NULL, "%s%s", k ? " AND " : "",
			    spdx_license_ref(s, p->licenses[k]));
	set_str(o, "licenseDeclared", p->nlicenses ? (const char *)lic.data : "NOASSERTION");
	ut_buf_release(&lic);
	json_object_set_new(o, "copyrightText", json_string("NOASSERTION"));
	if (p->source && *p->source) {
		char *si = ut_asprintf("built from source package %s", p->source);

		set_str(o, "sourceInfo", si);
		free(si);
	}
	if (p->is_key)
		set_str(o, "comment", "an imported rpm signing key (gpg-pubkey), not software");
	refs = json_array();
	json_array_append_new(refs, json_pack("{s:s, s:s, s:o}", "referenceCategory",
					      "PACKAGE-MANAGER", "referenceType", "purl",
					      "referenceLocator", jstr(s->purls[i])));
	json_object_set_new(o, "externalRefs", refs);
	/* The architecture has no SPDX field of its own beyond the purl. */
	if ((layers = pkg_layers(s, p))) {
		struct ut_buf c;

		ut_buf_init(&c, 0);
		ut_buf_addstr(&c, "vm2oci.layers=", NULL);
		for (k = 0; k < json_array_size(layers); k++)
			ut_buf_addf(&c, NULL, "%s%s", k ? "," : "",
				    json_string_value(json_array_get(layers, k)));
		json_object_set_new(o, "annotations", json_pack("[{s:s, s:s, s:s, s:s}]",
			"annotationType", "OTHER", "annotator", s->tool,
			"annotationDate", s->created, "comment", (const char *)c.data));
		ut_buf_release(&c);
		json_decref(layers);
	}
	return o;
}

static json_t *spdx_document(struct sbom *s)
{
	const struct pkg_sbom_options *o = s->o;
	json_t *doc = json_object(), *ci, *pkgs = json_array(), *rels = json_array(), *os, *lic;
	char *ns, *osname;
	size_t i, k;

	json_object_set_new(doc, "spdxVersion", json_string("SPDX-2.3"));
	json_object_set_new(doc, "dataLicense", json_string("CC0-1.0"));
	json_object_set_new(doc, "SPDXID", json_string("SPDXRef-DOCUMENT"));
	set_str(doc, "name", o->name ? o->name : "vm2oci");
	ns = ut_asprintf("urn:uuid:%s", s->uuid);
	json_object_set_new(doc, "documentNamespace", json_string(ns));
	free(ns);
	ci = json_object();
	json_object_set_new(ci, "created", json_string(s->created));
	json_object_set_new(ci, "creators", json_pack("[s]", s->tool));
	if (o->nlayers) {
		struct ut_buf c;

		ut_buf_init(&c, 0);
		ut_buf_addstr(&c, "vm2oci.image-layers=", NULL);
		for (i = 0; i < o->nlayers; i++)
			ut_buf_addf(&c, NULL, "%s%s:%s", i ? "," : "", o->layers[i].role,
				    o->layers[i].digest);
		json_object_set_new(ci, "comment", json_string((const char *)c.data));
		ut_buf_release(&c);
	}
	json_object_set_new(doc, "creationInfo", ci);
	/* The OS, the package that contains all the others. */
	os = json_object();
	json_object_set_new(os, "SPDXID", json_string("SPDXRef-OperatingSystem"));
	osname = ut_strdup(o->os_id && *o->os_id ? o->os_id : "unknown");
	set_str(os, "name", osname);
	if (o->os_version_id && *o->os_version_id)
		set_str(os, "versionInfo", o->os_version_id);
	json_object_set_new(os, "downloadLocation", json_string("NOASSERTION"));
	json_object_set_new(os, "filesAnalyzed", json_false());
	json_object_set_new(os, "licenseConcluded", json_string("NOASSERTION"));
	json_object_set_new(os, "licenseDeclared", json_string("NOASSERTION"));
	json_object_set_new(os, "copyrightText", json_string("NOASSERTION"));
	json_object_set_new(os, "primaryPackagePurpose", json_string("OPERATING_SYSTEM"));
	if (o->os_pretty && *o->os_pretty)
		set_str(os, "description", o->os_pretty);
	free(osname);
	json_array_append_new(pkgs, os);
	json_array_append_new(rels, spdx_rel("SPDXRef-DOCUMENT", "DESCRIBES",
					     "SPDXRef-OperatingSystem"));
	for (i = 0; i < s->db->n; i++) {
		json_array_append_new(pkgs, spdx_package(s, i));
		json_array_append_new(rels, spdx_rel("SPDXRef-OperatingSystem", "CONTAINS",
						     s->refs[i]));
	}
	for (i = 0; i < s->db->n; i++) {
		size_t *to, nto = deps_of(s, i, &to);

		for (k = 0; k < nto; k++)
			json_array_append_new(rels, spdx_rel(s->refs[i], "DEPENDS_ON",
							     s->refs[to[k]]));
		free(to);
	}
	json_object_set_new(doc, "packages", pkgs);
	json_object_set_new(doc, "relationships", rels);
	if (s->nlic) {
		lic = json_array();
		for (i = 0; i < s->nlic; i++) {
			char *text = ut_asprintf("The license the package names \"%s\".",
						 s->lic_names[i]);
			json_t *e = json_object();

			set_str(e, "licenseId", s->lic_ids[i]);
			set_str(e, "extractedText", text);
			set_str(e, "name", s->lic_names[i]);
			json_array_append_new(lic, e);
			free(text);
		}
		json_object_set_new(doc, "hasExtractedLicensingInfos", lic);
	}
	return doc;
}

/* ---- CycloneDX 1.5 ---------------------------------------------------------- */

static json_t *cdx_prop(const char *name, const char *value)
{
	json_t *o = json_object();

	set_str(o, "name", name);
	set_str(o, "value", value);
	return o;
}

static json_t *cdx_component(struct sbom *s, size_t i)
{
	const struct pkg *p = &s->db->v[i];
	json_t *o = json_object(), *props = json_array(), *layers;
	size_t k;

	json_object_set_new(o, "type", json_string("library"));
	set_str(o, "bom-ref", s->refs[i]);
	if (p->supplier && *p->supplier)
		json_object_set_new(o, "supplier", json_pack("{s:o}", "name", jstr(p->supplier)));
	set_str(o, "name", p->name);
	set_str(o, "version", p->display_version);
	if (p->nlicenses) {
		json_t *l = json_array();

		for (k = 0; k < p->nlicenses; k++)
			json_array_append_new(l, json_pack("{s:{s:o}}", "license", "name",
							   jstr(p->licenses[k])));
		json_object_set_new(o, "licenses", l);
	}
	set_str(o, "purl", s->purls[i]);
	json_array_append_new(props, cdx_prop("vm2oci:package:format", s->db->format));
	if (p->arch && *p->arch)
		json_array_append_new(props, cdx_prop("vm2oci:package:arch", p->arch));
	if (p->source && *p->source)
		json_array_append_new(props, cdx_prop("vm2oci:package:source", p->source));
	if (p->is_key)
		json_array_append_new(props, cdx_prop("vm2oci:package:kind", "gpg-pubkey"));
	if ((layers = pkg_layers(s, p))) {
		for (k = 0; k < json_array_size(layers); k++)
			json_array_append_new(props, cdx_prop("vm2oci:layer",
				json_string_value(json_array_get(layers, k))));
		json_decref(layers);
	}
	json_object_set_new(o, "properties", props);
	return o;
}

static json_t *cdx_document(struct sbom *s)
{
	const struct pkg_sbom_options *o = s->o;
	json_t *doc = json_object(), *meta = json_object(), *comps = json_array();
	json_t *deps = json_array(), *os = json_object(), *osdeps = json_array();
	char *serial = ut_asprintf("urn:uuid:%s", s->uuid);
	const char *osref = "vm2oci:operating-system";
	size_t i, k;

	json_object_set_new(doc, "bomFormat", json_string("CycloneDX"));
	json_object_set_new(doc, "specVersion", json_string("1.5"));
	json_object_set_new(doc, "serialNumber", json_string(serial));
	json_object_set_new(doc, "version", json_integer(1));
	free(serial);
	json_object_set_new(meta, "timestamp", json_string(s->created));
	json_object_set_new(meta, "tools", json_pack("{s:[{s:s, s:s, s:s}]}", "components", "type",
		"application", "name", "vm2oci", "version",
		o->tool_version ? o->tool_version : "unknown"));
	json_object_set_new(meta, "component", json_pack("{s:s, s:s, s:o}", "type", "container",
		"bom-ref", "vm2oci:subject", "name", jstr(o->name ? o->name : "vm2oci")));
	if (o->nlayers) {
		json_t *props = json_array();

		for (i = 0; i < o->nlayers; i++) {
			char *v = ut_asprintf("%s %s", o->layers[i].role, o->layers[i].digest);

			json_array_append_new(props, cdx_prop("vm2oci:image:layer", v));
			free(v);
		}
		json_object_set_new(meta, "properties", props);
	}
	json_object_set_new(doc, "metadata", meta);
	json_object_set_new(os, "type", json_string("operating-system"));
	json_object_set_new(os, "bom-ref", json_string(osref));
	set_str(os, "name", o->os_id && *o->os_id ? o->os_id : "unknown");
	if (o->os_version_id && *o->os_version_id)
		set_str(os, "version", o->os_version_id);
	if (o->os_pretty && *o->os_pretty)
		set_str(os, "description", o->os_pretty);
	json_array_append_new(comps, os);
	for (i = 0; i < s->db->n; i++) {
		json_array_append_new(comps, cdx_component(s, i));
		json_array_append_new(osdeps, jstr(s->refs[i]));
	}
	json_object_set_new(doc, "components", comps);
	json_array_append_new(deps, json_pack("{s:s, s:[s]}", "ref", "vm2oci:subject", "dependsOn",
					      osref));
	json_array_append_new(deps, json_pack("{s:s, s:o}", "ref", osref, "dependsOn", osdeps));
	for (i = 0; i < s->db->n; i++) {
		size_t *to, nto = deps_of(s, i, &to);
		json_t *on = json_array();

		for (k = 0; k < nto; k++)
			json_array_append_new(on, jstr(s->refs[to[k]]));
		free(to);
		json_array_append_new(deps, json_pack("{s:o, s:o}", "ref", jstr(s->refs[i]),
						      "dependsOn", on));
	}
	json_object_set_new(doc, "dependencies", deps);
	return doc;
}

/* Direct dependencies are few in a real system (Debian: under 100 a
 * package), but a database where n packages provide and need one name has
 * n * n of them: refused, not written out. */
#define SBOM_MAX_RELATIONS ((size_t)4 << 20)

int pkg_sbom_write(const struct pkg_db *db, const struct pkg_graph *g,
		   const struct pkg_sbom_options *o, struct ut_buf *out, struct ut_err *err)
{
	struct sbom s;
	json_t *doc;
	char *text;
	size_t i, total = 0;
	int rc;

	if (o->format != PKG_SBOM_SPDX && o->format != PKG_SBOM_CYCLONEDX)
		return ut_err_set(err, "unknown SBOM format %d", (int)o->format);
	for (i = 0; g && i < db->n && total <= SBOM_MAX_RELATIONS; i++) {
		size_t *to;

		total += pkg_graph_successors(g, i, &to);
		free(to);
	}
	if (total > SBOM_MAX_RELATIONS)
		return ut_err_set(err, "SBOM: more than %zu dependency relations among %zu packages",
				  SBOM_MAX_RELATIONS, db->n);
	sbom_init(&s, db, g, o);
	doc = o->format == PKG_SBOM_SPDX ? spdx_document(&s) : cdx_document(&s);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	sbom_release(&s);
	if (!text)
		return ut_err_set(err, "SBOM: cannot serialise the JSON document");
	rc = ut_buf_add(out, text, strlen(text), err);
	if (rc == 0)
		rc = ut_buf_add(out, "\n", 1, err);
	free(text);
	return rc;
}
