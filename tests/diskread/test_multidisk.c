/*
 * test_multidisk.c - one guest on several disks (dr_disk_options.more_disks):
 * fstab lines naming the other disks' filesystems by UUID=, LABEL=, a kernel
 * partition name (/dev/vdb1) and a whole-disk name (/dev/vdd) mount them;
 * a disk nothing is mounted from is a warning; without the other disks the
 * open fails naming the mount. Disks made with mke2fs -d and sfdisk.
 */
#include "diskread.h"
#include "testutil.h"

static char *tmp;

#define U_ROOT "5b0f4e1a-2c3d-5e6f-8a9b-0c1d2e3f4a5b"
#define U_SRV "6c1a5f2b-3d4e-5f60-9bac-1d2e3f4a5b6c"

static int setup(void **state)
{
	if (!tu_have("mke2fs") || !tu_have("sfdisk"))
		tu_skip("needs mke2fs and sfdisk");
	tmp = tu_tmpdir();
	assert_int_equal(tu_sh("(set -e; cd '%s'; mkdir -p root/etc root/usr/bin root/srv root/home root/opt srv home/user opt; "
			       "printf 'UUID=%s / ext4 defaults 0 1\\n/dev/vdb1 /srv ext4 defaults 0 2\\n"
			       "LABEL=homes /home ext4 defaults 0 2\\n/dev/vdd /opt ext4 defaults 0 2\\n' > root/etc/fstab; "
			       "printf 'ID=test\\n' > root/etc/os-release; echo hello > srv/hello; echo mine > home/user/file; "
			       "echo tool > opt/tool; "
			       "mke2fs -q -F -t ext4 -U %s -d root root.raw 8M; "
			       "mke2fs -q -F -t ext4 -U %s -d srv srv.ext4 8M; "
			       "truncate -s 10M two.raw; echo 'start=2048, size=16384, type=83' | sfdisk -q two.raw; "
			       "dd if=srv.ext4 of=two.raw bs=1M seek=1 conv=notrunc,sparse status=none; "
			       "mke2fs -q -F -t ext4 -L homes -d home three.raw 8M; "
			       "mke2fs -q -F -t ext4 -d opt four.raw 8M; truncate -s 1M five.raw) > /dev/null 2>&1",
			       tmp, U_ROOT, U_ROOT, U_SRV), 0);
	return 0;
}

static int teardown(void **state)
{
	tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return 0;
}

static char *at(const char *name)
{
	char *p = malloc(strlen(tmp) + strlen(name) + 2);

	sprintf(p, "%s/%s", tmp, name);
	return p;
}

static void test_mounts_across_disks(void **state)
{
	char *root = at("root.raw"), *paths[4] = { at("two.raw"), at("three.raw"), at("four.raw"),
						    at("five.raw") };
	struct dr_disk_ref more[4] = { { paths[0], NULL }, { paths[1], NULL }, { paths[2], "raw" },
				       { paths[3], NULL } };
	struct dr_disk_options opt = { .more_disks = more, .nmore_disks = 4 };
	struct ut_err err = { "" };
	struct dr_disk *d = NULL;
	struct ut_tree *t = NULL;
	const struct dr_mount *m;
	const char *const *w;
	size_t n, i, nw;
	int warned = 0;

	if (dr_disk_open(root, &opt, &d, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dr_disk_count(d), 5);
	m = dr_disk_mounts(d, &n);
	assert_int_equal(n, 4);
	/* root first, then by depth and name */
	assert_string_equal(m[0].mountpoint, "");
	assert_int_equal(m[0].disk, 0);
	assert_string_equal(m[1].mountpoint, "home");
	assert_int_equal(m[1].disk, 2);
	assert_string_equal(m[2].mountpoint, "opt");
	assert_int_equal(m[2].disk, 3);
	assert_string_equal(m[3].mountpoint, "srv");
	assert_int_equal(m[3].disk, 1);
	assert_int_equal(m[3].partition, 1);
	/* only the first disk's filesystems have a place on dr_disk_blockdev */
	assert_non_null(dr_disk_mount_fs(d, 0, NULL, NULL));
	assert_null(dr_disk_mount_fs(d, 3, NULL, NULL));
	w = dr_disk_warnings(d, &nw);
	for (i = 0; i < nw; i++)
		warned |= strstr(w[i], "disk 5 (") && strstr(w[i], "mounts nothing");
	assert_true(warned);
	if (dr_disk_tree(d, 1, &t, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(ut_tree_find(t, "srv/hello"));
	assert_int_equal(ut_tree_find(t, "srv/hello")->size, 6);
	assert_non_null(ut_tree_find(t, "home/user/file"));
	assert_non_null(ut_tree_find(t, "opt/tool"));
	assert_non_null(ut_tree_find(t, "etc/fstab"));
	ut_tree_free(t);
	dr_disk_free(d);

	/* The first disk alone: /srv names a disk it does not have. */
	assert_int_equal(dr_disk_open(root, NULL, &d, &err), -1);
	fprintf(stderr, "expected error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "/srv (/dev/vdb1) cannot be mounted"));
	free(root);
	for (i = 0; i < 4; i++)
		free(paths[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mounts_across_disks),
	};

	return cmocka_run_group_tests_name("diskread: several disks", tests, setup, teardown);
}
