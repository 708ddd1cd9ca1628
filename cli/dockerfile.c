/*
 * dockerfile.c - convert --dockerfile: the same image, rebuilt online.
 *
 * FROM the base, install the roots of the VM's extra packages at their
 * versions with the guest's package manager, remove what the VM deleted,
 * then ADD the diff (the diff layer's entries without its whiteouts, as a
 * plain tar beside the Dockerfile). Paths go in exec-form JSON arrays, so
 * names with spaces, quotes or newlines need no shell quoting.
 */
#include "cli.h"
#include "fsdiff.h"
#include "image.h"
#include "packages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A name for the base a Dockerfile can say FROM; the user may override it
 * with --build-arg BASE_IMAGE=... */
static char *base_image_name(const char *spec)
{
	enum cli_base_kind kind = CLI_BASE_ROOTFS;
	const char *rest;
	char *name, *tag, *s;
	struct ut_err err;

	if (cli_base_parse(spec, &kind, &rest, &err) < 0)
		rest = spec;
	else if (kind == CLI_BASE_SCRATCH)
		return ut_strdup("scratch");
	name = ut_strdup(ut_path_base(rest));
	tag = NULL;
	if (kind == CLI_BASE_OCI && (s = strrchr(rest, ':')) && !strchr(s, '/')) {
		free(name);
		name = ut_strndup(rest, (size_t)(s - rest));
		tag = ut_strdup(s + 1);
		s = ut_strdup(ut_path_base(name));
		free(name);
		name = s;
	}
	if ((s = strstr(name, ".tar")) && !s[4])
		*s = '\0';
	for (s = name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			*s = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : '-';
	s = ut_asprintf("%s:%s", name, tag ? tag : "latest");
	free(name);
	free(tag);
	return s;
}

static void pkg_spec(struct ut_buf *b, const char *format, const struct pkg *p)
{
	if (!strcmp(format, "deb"))
		ut_buf_addf(b, NULL, " %s=%s", p->display_name ? p->display_name : p->name,
			    p->display_version);
	else if (!strcmp(format, "rpm") && p->epoch > 0)
		ut_buf_addf(b, NULL, " %s-%lld:%s", p->name, (long long)p->epoch, p->display_version);
	else if (!strcmp(format, "rpm"))
		ut_buf_addf(b, NULL, " %s-%s", p->name, p->display_version);
	else if (!strcmp(format, "apk"))
		ut_buf_addf(b, NULL, " %s=%s", p->name, p->display_version);
	else
		ut_buf_addf(b, NULL, " %s", p->name);
}

int cli_write_dockerfile(const char *path, const char *base_spec, const struct pkg_db *db,
			 const size_t *roots, size_t nroots, const struct fsd_layer_item *items,
			 size_t nitems, struct ut_tree *vm, struct ut_err *err)
{
	struct img_layer_options opt = { .compress = IMG_COMPRESS_NONE };
	struct img_layer_writer *w = NULL;
	struct img_layer_result res;
	struct ut_buf df, pk;
	size_t dlen = ut_path_parent_len(path), i, nwh = 0;
	char *dir = dlen ? ut_strndup(path, dlen) : ut_strdup("."), *tmpdir = NULL;
	char *tar_path = NULL, *blob = NULL, *tmp_df = NULL, *base = base_image_name(base_spec);
	FILE *f = NULL;
	int rc = -1;

	ut_buf_init(&df, 0);
	ut_buf_init(&pk, 0);
	tmpdir = ut_asprintf("%s/.vm2oci-diff-XXXXXX", dir);
	if (!mkdtemp(tmpdir)) {
		ut_err_set(err, "%s: cannot create a temporary directory: %s", dir, strerror(errno));
		free(tmpdir);
		tmpdir = NULL;
		goto out;
	}
	if (img_layer_writer_new(tmpdir, &opt, &w, err) < 0)
		goto out;
	for (i = 0; i < nitems; i++) {
		if (items[i].whiteout) {
			nwh++;
			continue;
		}
		if (img_layer_add(w, items[i].entry, &vm->content, err) < 0) {
			img_layer_abort(w);
			goto out;
		}
	}
	if (img_layer_finish(w, &res, err) < 0)
		goto out;
	blob = ut_asprintf("%s/%s", tmpdir, res.blob.digest + 7);
	tar_path = ut_asprintf("%s/vm2oci-diff.tar", dir);

	ut_buf_addf(&df, NULL, "# Written by vm2oci convert --dockerfile: rebuilds the converted image\n"
		    "# online. The base is named after --base; override it with\n"
		    "#   --build-arg BASE_IMAGE=<an image you have>.\n"
		    "ARG BASE_IMAGE=%s\nFROM ${BASE_IMAGE}\n", base);
	/* A signing key (rpm gpg-pubkey) comes with its repository's configuration. */
	for (i = 0; i < nroots; i++)
		if (!db->v[roots[i]].is_key)
			pkg_spec(&pk, db->format, &db->v[roots[i]]);
	if (pk.len) {
		if (!strcmp(db->format, "deb"))
			ut_buf_addf(&df, NULL, "RUN apt-get update && DEBIAN_FRONTEND=noninteractive "
				    "apt-get install -y --no-install-recommends --allow-downgrades%s"
				    " && rm -rf /var/lib/apt/lists/*\n", (char *)pk.data);
		else if (!strcmp(db->format, "rpm"))
			ut_buf_addf(&df, NULL, "RUN (command -v dnf >/dev/null && dnf install -y%s || "
				    "yum install -y%s) && (dnf clean all || yum clean all)\n",
				    (char *)pk.data, (char *)pk.data);
		else if (!strcmp(db->format, "apk"))
			ut_buf_addf(&df, NULL, "RUN apk add --no-cache%s\n", (char *)pk.data);
		else
			ut_buf_addf(&df, NULL, "RUN pacman -Sy --noconfirm --needed%s && pacman -Scc "
				    "--noconfirm\n", (char *)pk.data);
	}
	if (nwh) {
		ut_buf_addstr(&df, "RUN [\"rm\", \"-rf\", \"--\"", NULL);
		for (i = 0; i < nitems; i++) {
			char *p;

			if (!items[i].whiteout)
				continue;
			p = ut_asprintf("/%s", items[i].path);
			ut_buf_addstr(&df, ", ", NULL);
			ut_buf_add_json_string(&df, p, NULL);
			free(p);
		}
		ut_buf_addstr(&df, "]\n", NULL);
	}
	ut_buf_addstr(&df, "ADD vm2oci-diff.tar /\n", NULL);

	tmp_df = ut_asprintf("%s.tmp-%d", path, (int)getpid());
	f = fopen(tmp_df, "w");
	if (!f || fwrite(df.data, 1, df.len, f) != df.len || fclose(f) != 0) {
		f = NULL;
		ut_err_set(err, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(blob, tar_path) < 0 || rename(tmp_df, path) < 0) {
		ut_err_set(err, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (tmp_df)
		unlink(tmp_df);
	if (blob)
		unlink(blob);
	if (tmpdir)
		rmdir(tmpdir);
	free(tmp_df);
	free(blob);
	free(tar_path);
	free(tmpdir);
	free(dir);
	free(base);
	ut_buf_release(&df);
	ut_buf_release(&pk);
	return rc;
}

void cli_remove_dockerfile(const char *path)
{
	size_t dlen = ut_path_parent_len(path);
	char *tar = dlen ? ut_asprintf("%.*s/vm2oci-diff.tar", (int)dlen, path)
			 : ut_strdup("./vm2oci-diff.tar");

	unlink(path);
	unlink(tar);
	free(tar);
}
