/*
 * batch_plan.c - what a batch converts: the domains (from libvirt or a plan
 * file), their tags, what is refused or fails before any worker starts, and
 * the identity of each domain's disks that makes a rerun skip it.
 */
#include "batch.h"
#include "diskread.h"
#include "virt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDENTITY_HEAD (64u << 10) /* qcow2/vmdk header and first tables */

const char *batch_result_name(enum batch_result r)
{
	static const char *const names[] = { "pending", "converted", "up to date", "refused",
					     "failed" };

	return names[r];
}

static int tag_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || (!first && (c == '.' || c == '-'));
}

void batch_tag_of(const char *name, char *out)
{
	size_t i;

	for (i = 0; name[i] && i < BATCH_TAG_MAX; i++)
		out[i] = tag_char(name[i], i == 0) ? name[i] : i == 0 ? '_' : '-';
	if (!i)
		out[i++] = '_';
	out[i] = '\0';
}

static int is_valid_tag(const char *s)
{
	char t[BATCH_TAG_MAX + 1];

	batch_tag_of(s, t);
	return !strcmp(s, t);
}

static int tag_taken(const struct batch_domain *doms, size_t n, const char *tag)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (doms[i].tag && !strcmp(doms[i].tag, tag))
			return 1;
	return 0;
}

void batch_assign_tags(struct batch_domain *doms, size_t n)
{
	char base[BATCH_TAG_MAX + 1], tag[BATCH_TAG_MAX + 1];
	size_t i;

	/* A name that is a tag is its own tag, whatever other names map to. */
	for (i = 0; i < n; i++)
		if (is_valid_tag(doms[i].name))
			doms[i].tag = ut_strdup(doms[i].name);
	for (i = 0; i < n; i++) {
		unsigned k = 2;

		if (doms[i].tag)
			continue;
		batch_tag_of(doms[i].name, base);
		snprintf(tag, sizeof(tag), "%s", base);
		while (tag_taken(doms, n, tag)) {
			char suffix[16];
			int sl = snprintf(suffix, sizeof(suffix), "-%u", k++);

			snprintf(tag, sizeof(tag), "%.*s%s", BATCH_TAG_MAX - sl, base, suffix);
		}
		doms[i].tag = ut_strdup(tag);
		doms[i].tag_note = strcmp(tag, base)
			? ut_asprintf("not a valid OCI tag, and '%s' is taken: tagged '%s'", base, tag)
			: ut_asprintf("not a valid OCI tag: tagged '%s'", tag);
	}
}

/* The disks of a libvirt domain, or why they cannot be read. */
static void from_vt(struct batch_domain *b, const struct vt_domain *v)
{
	const char *live = vt_domain_live_reason(v);
	size_t i, k;

	b->name = ut_strdup(v->name);
	b->state = ut_strdup(vt_state_name(v->state));
	b->disks = ut_calloc(v->ndisks ? v->ndisks : 1, sizeof(*b->disks));
	for (i = 0; i < v->ndisks; i++) {
		const struct vt_disk *d = &v->disks[i];

		b->disks[b->ndisks].target = d->target ? ut_strdup(d->target) : NULL;
		b->disks[b->ndisks].path = d->path ? ut_strdup(d->path) : NULL;
		b->disks[b->ndisks].format = d->format ? ut_strdup(d->format) : NULL;
		b->ndisks++;
		/* What the definition declares, the hypervisor's admin chose:
		 * those files may be read although outside the disk's folder. */
		for (k = 0; k < d->nbacking; k++) {
			if (!d->backing[k].path)
				continue;
			b->allow = ut_realloc(b->allow, (b->nallow + 1) * sizeof(*b->allow));
			b->allow[b->nallow++] = ut_strdup(d->backing[k].path);
		}
		if (!d->path && !b->reason && !live)
			b->reason = ut_asprintf("disk %s: %s", d->target ? d->target : "?",
						d->unreadable ? d->unreadable : "not readable");
	}
	if (live) {
		b->result = BATCH_REFUSED;
		free(b->reason);
		b->reason = ut_strdup(live);
	} else if (b->reason) {
		b->result = BATCH_FAILED;
	} else if (!b->ndisks) {
		b->result = BATCH_FAILED;
		b->reason = ut_strdup("no disk to read (only cdrom, floppy or lun devices)");
	}
}

int batch_from_libvirt(const char *uri, struct batch_domain **out, size_t *n,
		       struct ut_err *err)
{
	struct vt_conn *c = NULL;
	struct vt_domain *v = NULL;
	size_t nv = 0, i;

	*out = NULL;
	*n = 0;
	if (vt_open(uri, &c, err) < 0 || vt_list_domains(c, &v, &nv, err) < 0) {
		vt_close(c);
		return -1;
	}
	*out = ut_calloc(nv ? nv : 1, sizeof(**out));
	for (i = 0; i < nv; i++)
		from_vt(&(*out)[i], &v[i]);
	*n = nv;
	batch_assign_tags(*out, nv);
	vt_domains_free(v, nv);
	vt_close(c);
	return 0;
}

/* ---- plan files ---------------------------------------------------------- */

static json_t *opt_string(const char *s)
{
	return s ? json_string(s) : json_null();
}

int batch_write_plan(FILE *f, const struct batch_domain *doms, size_t n, const char *base,
		     const char *strategy, const json_t *options, struct ut_err *err)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct batch_domain *d = &doms[i];
		json_t *line, *disks, *allow;
		char *s;

		if (d->result != BATCH_PENDING)
			continue;
		disks = json_array();
		allow = json_array();
		for (k = 0; k < d->ndisks; k++)
			json_array_append_new(disks, json_pack("{s:o, s:s, s:o}", "target",
				opt_string(d->disks[k].target), "path", d->disks[k].path,
				"format", opt_string(d->disks[k].format)));
		for (k = 0; k < d->nallow; k++)
			json_array_append_new(allow, json_string(d->allow[k]));
		line = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:O}", "domain", d->name, "tag",
				 d->tag, "disks", disks, "allow", allow, "base", base, "strategy",
				 strategy, "convert_options", options);
		s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(line);
		if (!s)
			return ut_err_set(err, "%s: cannot write its plan line (not UTF-8?)",
					  d->name);
		fprintf(f, "%s\n", s);
		free(s);
	}
	if (fflush(f) != 0 || ferror(f))
		return ut_err_set(err, "%s", strerror(errno));
	return 0;
}

static char *json_dup(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? ut_strdup(json_string_value(v)) : NULL;
}

/* One plan line into d; -1 with err naming what is missing. */
static int plan_entry(json_t *j, struct batch_domain *d, char **base, char **strategy,
		      json_t **options, struct ut_err *err)
{
	json_t *disks = json_object_get(j, "disks"), *allow = json_object_get(j, "allow");
	json_t *opts = json_object_get(j, "convert_options");
	size_t i;

	d->name = json_dup(j, "domain");
	d->tag = json_dup(j, "tag");
	d->state = ut_strdup("");
	*base = json_dup(j, "base");
	*strategy = json_dup(j, "strategy");
	if (!d->name || !d->tag || !is_valid_tag(d->tag) || !json_array_size(disks))
		return ut_err_set(err, "needs \"domain\", a valid \"tag\" and \"disks\"");
	if (*strategy && strcmp(*strategy, "block") && strcmp(*strategy, "file") &&
	    strcmp(*strategy, "auto"))
		return ut_err_set(err, "\"strategy\" is block, file or auto, not '%s'", *strategy);
	/* a plan written before the options were recorded has none */
	if (opts && !json_is_array(opts))
		return ut_err_set(err, "\"convert_options\" is not an array");
	*options = json_incref(opts);
	d->disks = ut_calloc(json_array_size(disks), sizeof(*d->disks));
	for (i = 0; i < json_array_size(disks); i++) {
		json_t *k = json_array_get(disks, i);
		struct batch_disk *bd = &d->disks[d->ndisks++];

		bd->target = json_dup(k, "target");
		bd->path = json_dup(k, "path");
		bd->format = json_dup(k, "format");
		if (!bd->path)
			return ut_err_set(err, "disk %zu has no \"path\"", i + 1);
	}
	for (i = 0; i < json_array_size(allow); i++) {
		if (!json_is_string(json_array_get(allow, i)))
			continue;
		d->allow = ut_realloc(d->allow, (d->nallow + 1) * sizeof(*d->allow));
		d->allow[d->nallow++] = ut_strdup(json_string_value(json_array_get(allow, i)));
	}
	return 0;
}

int batch_from_plan(const char *path, long index, struct batch_domain **out, char **base,
		    char **strategy, json_t **options, struct ut_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long no = 0;
	ssize_t len;
	int rc = -1;

	*out = NULL;
	*base = NULL;
	*strategy = NULL;
	*options = NULL;
	if (!f)
		return ut_err_set(err, "%s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		json_error_t je;
		json_t *j;

		if (no++ != index)
			continue;
		j = json_loadb(line, (size_t)len, 0, &je);
		if (!json_is_object(j)) {
			ut_err_set(err, "%s: line %ld: not a JSON object: %s", path, index + 1,
				   je.text);
			json_decref(j);
			goto out;
		}
		*out = ut_calloc(1, sizeof(**out));
		rc = plan_entry(j, *out, base, strategy, options, err);
		json_decref(j);
		if (rc < 0)
			ut_err_prefix(err, "%s: line %ld: ", path, index + 1);
		goto out;
	}
	ut_err_set(err, "%s: no entry %ld (the plan has %ld, numbered from 0)", path, index, no);
out:
	free(line);
	fclose(f);
	if (rc < 0 && *out) {
		batch_domain_release(*out);
		free(*out);
		*out = NULL;
	}
	if (rc < 0) {
		json_decref(*options);
		*options = NULL;
		free(*base);
		*base = NULL;
		free(*strategy);
		*strategy = NULL;
	}
	return rc;
}

/* ---- identity ------------------------------------------------------------ */

/* One file of a disk's chain: path, size, mtime, the digest of its head. */
static int file_identity(const char *path, json_t *files, struct ut_err *err)
{
	unsigned char *head = ut_malloc(IDENTITY_HEAD), sum[UT_SHA256_LEN];
	char hex[UT_SHA256_HEX], mtime[48];
	struct stat st;
	ssize_t got = 0, r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		ut_err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (got < (ssize_t)IDENTITY_HEAD &&
	       (r = pread(fd, head + got, IDENTITY_HEAD - (size_t)got, got)) > 0)
		got += r;
	ut_sha256_buf(head, (size_t)got, sum);
	ut_hex(sum, UT_SHA256_LEN, hex);
	snprintf(mtime, sizeof(mtime), "%lld.%09ld", (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	json_array_append_new(files, json_pack("{s:s, s:I, s:s, s:s}", "path", path, "size",
					       (json_int_t)st.st_size, "mtime", mtime,
					       "head_sha256", hex));
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(head);
	return rc;
}

int batch_identity(const struct batch_domain *d, const char *base, const json_t *options,
		   const char *rules_sha256, const struct dr_file_policy *policy, char **out,
		   struct ut_err *err)
{
	json_t *id = json_pack("{s:s, s:[]}", "base", base, "disks");
	size_t i, k, nl;
	int rc = -1;

	*out = NULL;
	/* Left out when there are none: the identity of an image made with
	 * the defaults stays what it was before options were recorded. */
	if (json_array_size(options))
		json_object_set_new(id, "options", json_deep_copy(options));
	if (rules_sha256)
		json_object_set_new(id, "filter_from_sha256", json_string(rules_sha256));
	for (i = 0; i < d->ndisks; i++) {
		struct dr_blockdev *bd = NULL;
		const struct dr_file_link *links;
		json_t *files = json_array();

		json_array_append_new(json_object_get(id, "disks"), files);
		/* The chain as a conversion will open it: the same policy. */
		if (dr_blockdev_open_policy(d->disks[i].path, d->disks[i].format, policy, &bd,
					    err) < 0)
			goto out;
		rc = file_identity(d->disks[i].path, files, err);
		links = dr_blockdev_links(bd, &nl);
		for (k = 0; rc == 0 && k < nl; k++)
			rc = file_identity(links[k].resolved, files, err);
		dr_blockdev_free(bd);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	*out = json_dumps(id, JSON_COMPACT | JSON_PRESERVE_ORDER);
	rc = *out ? 0 : ut_err_set(err, "%s: a disk path is not UTF-8", d->name);
out:
	json_decref(id);
	return rc;
}

int batch_rules_sha256(const struct cli_excludes *x, char **out, struct ut_err *err)
{
	unsigned char sum[UT_SHA256_LEN];
	struct ut_buf all, one;
	size_t i;
	int rc = 0;

	*out = NULL;
	ut_buf_init(&all, 0);
	ut_buf_init(&one, 16u << 20);
	for (i = 0; rc == 0 && i < x->n; i++) {
		if (x->kind[i] != CLI_OPT_FILTER_FROM)
			continue;
		ut_buf_reset(&one);
		rc = ut_read_host_file(x->arg[i], &one, err);
		if (rc == 0) {
			/* each file's digest, so that moving a line across files counts */
			ut_sha256_buf(one.len ? (const void *)one.data : "", one.len, sum);
			rc = ut_buf_add(&all, sum, sizeof(sum), err);
		}
	}
	if (rc == 0 && all.len) {
		ut_sha256_buf(all.data, all.len, sum);
		*out = ut_malloc(UT_SHA256_HEX);
		ut_hex(sum, UT_SHA256_LEN, *out);
	}
	ut_buf_release(&one);
	ut_buf_release(&all);
	return rc < 0 ? -1 : 0;
}

char *batch_identity_change(const char *was, const char *now)
{
	json_t *a = json_loads(was, 0, NULL), *b = json_loads(now, 0, NULL);
	json_t *oa = json_object_get(a, "options"), *ob = json_object_get(b, "options");
	char *reason = NULL, *ta, *tb;

	if (!json_is_object(a) || !json_is_object(b))
		reason = ut_strdup("its tag holds an image without a batch identity");
	else if (!json_equal(json_object_get(a, "base"), json_object_get(b, "base")))
		reason = ut_strdup("base changed");
	else if (!json_equal(json_object_get(a, "disks"), json_object_get(b, "disks")))
		reason = ut_strdup("disks changed");
	else if (!json_equal(oa, ob) && (json_array_size(oa) || json_array_size(ob))) {
		ta = cli_image_args_text(oa);
		tb = cli_image_args_text(ob);
		reason = ut_asprintf("options changed: %s, was %s", tb, ta);
		free(ta);
		free(tb);
	} else if (!json_equal(json_object_get(a, "filter_from_sha256"),
			       json_object_get(b, "filter_from_sha256")))
		reason = ut_strdup("options changed: the rules of its --filter-from files");
	json_decref(a);
	json_decref(b);
	return reason;
}

void batch_domain_release(struct batch_domain *d)
{
	size_t i;

	for (i = 0; i < d->ndisks; i++) {
		free(d->disks[i].target);
		free(d->disks[i].path);
		free(d->disks[i].format);
	}
	for (i = 0; i < d->nallow; i++)
		free(d->allow[i]);
	for (i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->warnings);
	free(d->allow);
	free(d->disks);
	free(d->name);
	free(d->tag);
	free(d->tag_note);
	free(d->state);
	free(d->reason);
	free(d->identity);
	free(d->sbom_tag);
	free(d->sbom_digest);
	if (d->errf)
		fclose(d->errf);
	if (d->resf)
		fclose(d->resf);
	memset(d, 0, sizeof(*d));
}
