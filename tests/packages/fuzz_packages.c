/*
 * fuzz_packages.c - libFuzzer target for the readers of untrusted package
 * databases. The first input byte picks the reader, the rest is the file:
 *
 *   0  rpm header blob           (pkg_rpm_header_parse)
 *   1  BerkeleyDB Packages file  (pkg_bdb_foreach + header parse)
 *   2  ndb Packages.db           (pkg_ndb_foreach + header parse)
 *   3  dpkg status               (pkg_db_read_dpkg through a memory source)
 *   4  apk installed             (pkg_db_read_apk)
 *   5  an rpm rich dependency    (pkg_rpm_rich_parse)
 *   6  a pacman mtree, gzip'd or plain, over a package listing two files
 *   7  two apk versions, NUL-separated (pkg_apk_vercmp must be antisymmetric)
 *
 * Every database read is also fed to the graph builder and both SBOM
 * writers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packages.h"

struct mem {
	const char *path;
	const uint8_t *data;
	size_t len;
};

static int mem_read(void *ctx, const char *path, struct ut_buf *b, struct ut_err *err)
{
	struct mem *m = ctx;

	if (strcmp(path, m->path))
		return 0;
	if (ut_buf_add(b, m->data, m->len, err) < 0)
		return -1;
	return 1;
}

static int mem_list(void *ctx, const char *path, char ***names, size_t *n, struct ut_err *err)
{
	return 0;
}

static const struct pkg_source_ops mem_ops = {
	.read_file = mem_read,
	.list_dir = mem_list,
};

static int parse_blob(void *ctx, const unsigned char *blob, size_t len, struct ut_err *err)
{
	struct pkg p;

	if (pkg_rpm_header_parse(blob, len, &p, err) == 0)
		pkg_release(&p);
	return 0;
}

static void graph(const struct pkg_db *db)
{
	struct pkg_graph *g;
	struct ut_err err;
	size_t *a, *b, na, nb;

	if (pkg_graph_build(db, &g, &err) < 0)
		return;
	if (pkg_graph_manual_diff(g, &a, &na, &b, &nb, &err) == 0) {
		free(a);
		free(b);
	}
	for (int f = PKG_SBOM_SPDX; f <= PKG_SBOM_CYCLONEDX; f++) {
		struct pkg_sbom_options o = { .format = f, .os_id = "x" };
		struct ut_buf out;

		ut_buf_init(&out, 0);
		(void)pkg_sbom_write(db, g, &o, &out, &err);
		ut_buf_release(&out);
	}
	pkg_graph_free(g);
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ut_err err;
	struct pkg p;

	if (size < 1)
		return 0;
	switch (data[0] % 8) {
	case 0:
		if (pkg_rpm_header_parse(data + 1, size - 1, &p, &err) == 0)
			pkg_release(&p);
		break;
	case 1:
		(void)pkg_bdb_foreach(data + 1, size - 1, parse_blob, NULL, &err);
		break;
	case 2:
		(void)pkg_ndb_foreach(data + 1, size - 1, parse_blob, NULL, &err);
		break;
	case 5:
	case 7: {
		char *s = malloc(size), *t;

		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		if (data[0] % 8 == 5) {
			memset(&p, 0, sizeof(p));
			(void)pkg_rpm_rich_parse(s, &p, &err);
			pkg_release(&p);
		} else {
			t = s + strlen(s) + (strlen(s) + 1 < size - 1);
			if ((pkg_apk_vercmp(s, t) > 0) != (pkg_apk_vercmp(t, s) < 0))
				abort();
			(void)pkg_apk_version_valid(t);
		}
		free(s);
		break;
	}
	case 6: {
		static char a[] = "usr/bin/a", b[] = "etc/b";
		struct pkg_file files[2] = { { .path = a }, { .path = b } };

		memset(&p, 0, sizeof(p));
		p.files = files;
		p.nfiles = 2;
		(void)pkg_pacman_mtree_apply(data + 1, size - 1, &p, &err);
		free(files[0].digest);
		free(files[1].digest);
		break;
	}
	default: {
		struct mem m = { data[0] % 8 == 3 ? "var/lib/dpkg/status" : "lib/apk/db/installed",
				 data + 1, size - 1 };
		struct pkg_source src = { &mem_ops, &m };
		struct pkg_db *db = NULL;
		int rc = data[0] % 8 == 3 ? pkg_db_read_dpkg(&src, &db, &err) :
					    pkg_db_read_apk(&src, &db, &err);

		if (rc == 1)
			graph(db);
		pkg_db_free(db);
		break;
	}
	}
	return 0;
}
