/*
 * fuzz_packages.c - libFuzzer target for the readers of untrusted package
 * databases. The first input byte picks the reader, the rest is the file:
 *
 *   0  rpm header blob           (pkg_rpm_header_parse)
 *   1  BerkeleyDB Packages file  (pkg_bdb_foreach + header parse)
 *   2  ndb Packages.db           (pkg_ndb_foreach + header parse)
 *   3  dpkg status               (pkg_db_read_dpkg through a memory source)
 *   4  apk installed             (pkg_db_read_apk)
 *
 * Every database read is also fed to the graph builder.
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
	switch (data[0] % 5) {
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
	default: {
		struct mem m = { data[0] % 5 == 3 ? "var/lib/dpkg/status" : "lib/apk/db/installed",
				 data + 1, size - 1 };
		struct pkg_source src = { &mem_ops, &m };
		struct pkg_db *db = NULL;
		int rc = data[0] % 5 == 3 ? pkg_db_read_dpkg(&src, &db, &err) :
					    pkg_db_read_apk(&src, &db, &err);

		if (rc == 1)
			graph(db);
		pkg_db_free(db);
		break;
	}
	}
	return 0;
}
