/*
 * pkgset.c - package databases of guests and bases.
 */
#include "cli.h"
#include "diskread.h"
#include "image.h"
#include "packages.h"

#include <stdlib.h>
#include <string.h>

int cli_tree_pkg_db(const struct ut_tree *t, const char *what, struct pkg_db **db,
		    struct ut_err *err)
{
	struct pkg_source src;
	int rc;

	cli_tree_source(t, &src);
	rc = pkg_db_read(&src, db, err);
	if (rc < 0)
		return ut_err_prefix(err, "%s: ", what);
	if (rc == 0)
		return ut_err_set(err, "%s: no package database found (dpkg, rpm, apk or pacman)", what);
	return 0;
}

/* Where the package managers keep their databases. */
static const char *const pkg_db_paths[] = {
	"var/lib/dpkg", "var/lib/apt/extended_states", "var/lib/rpm", "usr/lib/sysimage/rpm",
	"lib/apk/db", "etc/apk/world", "var/lib/pacman/local",
};

int cli_base_pkg_db(struct cli_base *b, struct pkg_db **db, struct ut_err *err)
{
	struct ut_tree *files = NULL;
	int rc;

	*db = NULL;
	if (cli_base_is_scratch(b))
		return 0;
	if (b->disk) {
		if (cli_base_tree(b, err) < 0)
			return -1;
		return cli_tree_pkg_db(b->tree, b->spec, db, err);
	}
	/* An image: only its package database is read out of the layers. */
	if (img_base_files(b->img, pkg_db_paths, sizeof(pkg_db_paths) / sizeof(pkg_db_paths[0]),
			   (uint64_t)1 << 30, &files, err) < 0)
		return ut_err_prefix(err, "%s: ", b->spec);
	rc = cli_tree_pkg_db(files, b->spec, db, err);
	img_base_files_free(files);
	return rc;
}
