/*
 * End-to-end: what convert leaves out of an image, and verify knowing it.
 *
 * A small root made here (mke2fs -d) holds one of everything the default
 * rules take (a kernel and initrd in /boot with the / links to them, modules,
 * headers, /swapfile and a swap file that fstab names, what /tmp and /run
 * hold, apt's archives and caches, a machine-id) and what they must keep
 * (/var/tmp, the folders themselves). The oracle is the kernel's loop mount
 * of the disk, listed by tree_listing, less what rsync leaves out under the
 * rules the image's label records (tu_expected_listing); the image is
 * umoci's unpack. The bytes the report claims are summed from the kernel's
 * listing, and verify must pass on every image.
 */
#include "testutil.h"

#include <fcntl.h>

static struct tu_e2e e2e;
static char *tmp, *bin, *lister, *disk, *listing;

static void put_file(const char *rel, size_t size)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/root/%s", tmp, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (size_t i = 0; i < size; i++)
		assert_int_equal(write(fd, &"0123456789abcdef\n"[i % 17], 1), 1);
	close(fd);
}

static int setup(void **state)
{
	static const char fstab[] = "/dev/vda / ext4 defaults 0 1\n"
				    "/swap.img none swap sw 0 0\n"
				    "/dev/vdb2 none swap sw 0 0\n"
				    "tmpfs /tmp tmpfs defaults 0 0\n";
	FILE *f;
	char p[4096];

	(void)state;
	if (!tu_have("mke2fs") || !tu_have("rsync") || !tu_have("umoci") || !tu_have("jq"))
		tu_skip("needs mke2fs, rsync, umoci and jq (scripts/install-deps.sh --peers)");
	tu_e2e_init(&e2e, TU_E2E_LISTER | TU_E2E_UMOCI);
	tmp = e2e.tmp;
	bin = e2e.bin;
	lister = e2e.lister;
	assert_int_equal(tu_sh("cd %s && mkdir -p root/etc root/usr/bin root/boot/grub "
			       "root/usr/lib/modules/6.1/kernel root/usr/src/linux-headers-6.1 "
			       "root/tmp/.X11-unix root/run/lock root/proc root/sys "
			       "root/var/cache/apt/archives/partial root/var/tmp "
			       "root/srv/app/cache root/srv/app/logs && "
			       "ln -s usr/lib root/lib && ln -s boot/vmlinuz-6.1 root/vmlinuz && "
			       "ln -s boot/initrd.img-6.1 root/initrd.img", tmp), 0);
	snprintf(p, sizeof(p), "%s/root/etc/fstab", tmp);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(fstab, f);
	fclose(f);
	put_file("etc/os-release", 40);
	put_file("etc/machine-id", 33);
	put_file("usr/bin/tool", 100);
	put_file("boot/vmlinuz-6.1", 40960);
	put_file("boot/initrd.img-6.1", 20480);
	put_file("boot/grub/grub.cfg", 300);
	put_file("usr/lib/modules/6.1/kernel/a.ko", 5000);
	put_file("usr/src/linux-headers-6.1/Makefile", 700);
	put_file("swap.img", 65536);
	put_file("swapfile", 32768);
	put_file("tmp/x", 10);
	put_file("tmp/.X11-unix/X0", 1);
	put_file("run/lock/y", 2);
	put_file("var/cache/apt/archives/a.deb", 9000);
	put_file("var/cache/apt/archives/lock", 0);
	put_file("var/cache/apt/pkgcache.bin", 3000);
	put_file("var/tmp/keep", 5);
	put_file("srv/app/cache/big.bin", 50000);
	put_file("srv/app/data.txt", 20);
	put_file("srv/app/logs/a.log", 30);
	put_file("srv/app/logs/b.log", 40);
	/* etc/os-release must say what it is */
	snprintf(p, sizeof(p), "%s/root/etc/os-release", tmp);
	f = fopen(p, "w");
	fputs("ID=debian\nVERSION_ID=12\nPRETTY_NAME=\"excludes test\"\n", f);
	fclose(f);
	disk = malloc(4200);
	snprintf(disk, 4200, "%s/disk.raw", tmp);
	assert_int_equal(tu_sh("mke2fs -q -F -t ext4 -d %s/root %s 64M", tmp, disk), 0);
	listing = malloc(4200);
	snprintf(listing, 4200, "%s/disk.listing", tmp);
	assert_int_equal(tu_e2e_listing(&e2e, disk, listing), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	free(disk);
	free(listing);
	return 0;
}

/* convert with extra options into tmp/name (gzip for umoci), --json into
 * tmp/name.json; then verify, umoci's unpack listed into tmp/name.listing,
 * and the comparison with the kernel's listing less the label's rules. */
static void convert_check(const char *name, const char *extra)
{
	char layout[4096], expected[4096];

	assert_int_equal(tu_sh("%s convert %s --base scratch -o %s/%s --tag t --compress gzip "
			       "--json --quiet %s > %s/%s.json", bin, disk, tmp, name, extra, tmp,
			       name), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/%s:t %s", bin, tmp, name, disk), 0);
	assert_int_equal(tu_sh("umoci unpack --image %s/%s:t %s/%s.bundle >/dev/null", tmp, name,
			       tmp, name), 0);
	assert_int_equal(tu_sh("%s %s/%s.bundle/rootfs > %s/%s.listing", lister, tmp, name, tmp,
			       name), 0);
	snprintf(layout, sizeof(layout), "%s/%s", tmp, name);
	snprintf(expected, sizeof(expected), "%s/%s.expected", tmp, name);
	assert_int_equal(tu_expected_listing(tmp, listing, layout, "t", expected), 0);
	assert_int_equal(tu_sh("diff -u %s %s/%s.listing >&2", expected, tmp, name), 0);
}

/* The image has (1) or lacks (0) the path (tree_listing's first column). */
static int image_has(const char *name, const char *path)
{
	return tu_sh("cut -f1 %s/%s.listing | grep -qx '%s'", tmp, name, path) == 0;
}

/* The label, by jq from the layout. */
static char *label(const char *name)
{
	return tu_sh_out("d=%s/%s; m=$(jq -r '.manifests[0].digest' $d/index.json | cut -d: -f2); "
			 "c=$(jq -r .config.digest $d/blobs/sha256/$m | cut -d: -f2); "
			 "jq -r '.config.Labels[\"org.vm2oci.excludes\"] // \"\"' $d/blobs/sha256/$c",
			 tmp, name);
}

static void test_defaults(void **state)
{
	char *l, *sum, *claimed;

	(void)state;
	convert_check("defaults", "");
	/* What the defaults take, and what they keep. */
	assert_false(image_has("defaults", "boot/vmlinuz-6.1"));
	assert_false(image_has("defaults", "boot/grub"));
	assert_true(image_has("defaults", "boot"));
	assert_false(image_has("defaults", "vmlinuz"));
	assert_false(image_has("defaults", "initrd.img"));
	assert_false(image_has("defaults", "usr/lib/modules/6.1"));
	assert_true(image_has("defaults", "usr/lib/modules"));
	assert_false(image_has("defaults", "usr/src/linux-headers-6.1"));
	assert_false(image_has("defaults", "swap.img"));
	assert_false(image_has("defaults", "swapfile"));
	assert_false(image_has("defaults", "tmp/x"));
	assert_false(image_has("defaults", "tmp/.X11-unix"));
	assert_true(image_has("defaults", "tmp"));
	assert_true(image_has("defaults", "run/lock")); /* /var/lock points there */
	assert_false(image_has("defaults", "run/lock/y"));
	assert_true(image_has("defaults", "run"));
	assert_false(image_has("defaults", "var/cache/apt/archives/a.deb"));
	assert_false(image_has("defaults", "var/cache/apt/pkgcache.bin"));
	assert_true(image_has("defaults", "var/cache/apt/archives/lock"));
	assert_true(image_has("defaults", "var/tmp/keep"));
	assert_true(image_has("defaults", "srv/app/cache/big.bin"));
	/* machine-id(5): present and empty. */
	assert_int_equal(tu_sh("grep -P '^etc/machine-id\\tfile\\t0644\\t0\\t0\\t0\\t' %s/defaults.listing >/dev/null",
			       tmp), 0);
	/* The label: the defaults and fstab's swap file, not its swap partition. */
	l = label("defaults");
	assert_non_null(strstr(l, "- /boot/*\n"));
	assert_non_null(strstr(l, "- /swap.img\n"));
	assert_non_null(strstr(l, "= /etc/machine-id"));
	assert_null(strstr(l, "vdb2"));
	free(l);
	/* The bytes the report claims: every regular file the kernel shows
	 * that the image lacks, plus the machine-id's emptied bytes. */
	sum = tu_sh_out("cut -f1 %s/defaults.listing | sort > %s/kept; "
			"awk -F'\\t' '$2 == \"file\" { print $1 \"\\t\" $6 }' %s | sort | "
			"join -t \"$(printf '\\t')\" -v1 - %s/kept | awk -F'\\t' '{ s += $2 } END { print s + 33 }'",
			tmp, tmp, listing, tmp);
	claimed = tu_sh_out("jq -r .excluded.bytes %s/defaults.json", tmp);
	assert_string_equal(claimed, sum);
	free(sum);
	free(claimed);
	/* Per rule, by jq: /boot's four entries (two kernel files, grub, its
	 * config), the swap file fstab names. */
	assert_int_equal(tu_sh("jq -e '.excluded.rules[] | select(.pattern == \"/boot/*\") | "
			       ".group == \"kernel\" and .entries == 4 and .bytes == 40960 + 20480 + 300' "
			       "%s/defaults.json >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("jq -e '.excluded.rules[] | select(.pattern == \"/swap.img\") | "
			       ".group == \"swap\" and .entries == 1 and .bytes == 65536' "
			       "%s/defaults.json >/dev/null", tmp), 0);
	/* The text report names each rule with what it saved. */
	assert_int_equal(tu_sh("%s convert %s -o %s/text --tag t 2> %s/text.err && "
			       "grep -q '^vm2oci: excluded /boot/\\* (kernel): 4 entries, 60.3 KiB$' %s/text.err && "
			       "grep -q '^vm2oci: emptied /etc/machine-id (machine-id): 1 entry, 33 B$' %s/text.err && "
			       "grep -q '^vm2oci: left out of the image: ' %s/text.err",
			       bin, disk, tmp, tmp, tmp, tmp, tmp), 0);
	/* verify --json says it applied the image's rules. */
	assert_int_equal(tu_sh("%s verify --json oci:%s/defaults:t %s | jq -e '.identical and .exclude_rules > 15' >/dev/null",
			       bin, tmp, disk), 0);
}

static void test_keep_kernel(void **state)
{
	char *l;

	(void)state;
	convert_check("keep", "--keep-kernel");
	assert_true(image_has("keep", "boot/vmlinuz-6.1"));
	assert_true(image_has("keep", "boot/grub/grub.cfg"));
	assert_true(image_has("keep", "vmlinuz"));
	assert_true(image_has("keep", "usr/lib/modules/6.1/kernel/a.ko"));
	assert_true(image_has("keep", "usr/src/linux-headers-6.1/Makefile"));
	assert_false(image_has("keep", "tmp/x")); /* the other defaults hold */
	l = label("keep");
	assert_null(strstr(l, "/boot/"));
	assert_non_null(strstr(l, "- /tmp/*"));
	free(l);
}

/* The user's rules first (first match wins), then the defaults. */
static void test_user_rules(void **state)
{
	char rules[4096];
	FILE *f;

	(void)state;
	snprintf(rules, sizeof(rules), "%s/rules", tmp);
	f = fopen(rules, "w");
	assert_non_null(f);
	fputs("# the app's cache is rebuilt at start\n- /srv/app/cache/\n\n; and the logs\n", f);
	fclose(f);
	assert_int_equal(tu_sh("echo '+ /boot/grub/' >> %s", rules), 0);
	{
		char extra[8192];

		snprintf(extra, sizeof(extra), "--include /srv/app/logs/b.log --exclude '*.log' "
			 "--filter-from %s", rules);
		convert_check("user", extra);
	}
	assert_false(image_has("user", "srv/app/cache"));
	assert_false(image_has("user", "srv/app/logs/a.log"));
	assert_true(image_has("user", "srv/app/logs/b.log"));
	assert_true(image_has("user", "srv/app/data.txt"));
	/* "+ /boot/grub/" before the defaults keeps grub, not the kernel. */
	assert_true(image_has("user", "boot/grub/grub.cfg"));
	assert_false(image_has("user", "boot/vmlinuz-6.1"));
	assert_int_equal(tu_sh("jq -e '.excluded.rules[] | select(.pattern == \"/srv/app/cache/\") | "
			       ".group == \"user\" and .entries == 2 and .bytes == 50000' "
			       "%s/user.json >/dev/null", tmp), 0);
}

static void test_no_defaults(void **state)
{
	char *l;

	(void)state;
	convert_check("none", "--no-default-excludes");
	l = label("none");
	assert_string_equal(l, "\n");
	free(l);
	assert_int_equal(tu_sh("diff -u %s %s/none.listing >&2", listing, tmp), 0);
	assert_int_equal(tu_sh("jq -e '.excluded.entries == 0 and .excluded.rules == []' "
			       "%s/none.json >/dev/null", tmp), 0);
}

/* A base's files where the rules exclude stay: no whiteout hides them. */
static void test_base_keeps_its_files(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("cd %s && rm -rf base && mkdir -p base/boot base/tmp base/etc && "
			       "echo base > base/boot/base-kernel && echo t > base/tmp/base-tmp && "
			       "echo b > base/etc/base-only", tmp), 0);
	assert_int_equal(tu_sh("%s convert %s --base rootfs:%s/base -o %s/onbase --tag t "
			       "--compress gzip --quiet", bin, disk, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/onbase:t %s", bin, tmp, disk), 0);
	assert_int_equal(tu_sh("umoci unpack --image %s/onbase:t %s/onbase.bundle >/dev/null", tmp,
			       tmp), 0);
	assert_int_equal(tu_sh("%s %s/onbase.bundle/rootfs > %s/onbase.listing", lister, tmp, tmp),
			 0);
	assert_true(image_has("onbase", "boot/base-kernel"));
	assert_true(image_has("onbase", "tmp/base-tmp"));
	assert_false(image_has("onbase", "boot/vmlinuz-6.1"));
	assert_false(image_has("onbase", "etc/base-only")); /* not excluded: whited out */
	/* The diff layer (the last) whites out etc/base-only and nothing under
	 * boot or tmp. */
	assert_int_equal(tu_sh("d=%s/onbase; m=$(jq -r '.manifests[0].digest' $d/index.json | cut -d: -f2); "
			       "l=$(jq -r '.layers[-1].digest' $d/blobs/sha256/$m | cut -d: -f2); "
			       "tar -tzf $d/blobs/sha256/$l > %s/onbase.tar && "
			       "grep -q '^etc/.wh.base-only$' %s/onbase.tar && "
			       "! grep -E '^(boot|tmp)/.*\\.wh\\.' %s/onbase.tar", tmp, tmp, tmp, tmp), 0);
}

/* Bad rules: a usage error naming the file and the line, nothing written. */
static void test_bad_rules(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("printf -- '- ok\\nmerge x\\n' > %s/bad.rules", tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --filter-from %s/bad.rules 2> %s/bad.err",
			       bin, disk, tmp, tmp, tmp), 2);
	assert_int_equal(tu_sh("grep -q 'filter-from .*bad.rules: line 2: expected' %s/bad.err", tmp),
			 0);
	assert_int_equal(tu_sh("test ! -e %s/bad", tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --exclude '' 2> %s/bad.err", bin, disk, tmp,
			       tmp), 2);
	assert_int_equal(tu_sh("grep -q 'empty pattern' %s/bad.err", tmp), 0);
	assert_int_equal(tu_sh("%s convert %s -o %s/bad --filter-from %s/none 2> %s/bad.err", bin,
			       disk, tmp, tmp, tmp), 2);
	assert_int_equal(tu_sh("test ! -e %s/bad", tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keep_kernel),
		cmocka_unit_test(test_user_rules),
		cmocka_unit_test(test_no_defaults),
		cmocka_unit_test(test_base_keeps_its_files),
		cmocka_unit_test(test_bad_rules),
	};

	return cmocka_run_group_tests_name("e2e: exclusions", tests, setup, teardown);
}
