/*
 * End-to-end: a VM cloned from a template, converted on a base.
 *
 * clone.qcow2 is an overlay on template.qcow2 changed in place as a running
 * VM would (see fixtures/README.md: every change kind). It is converted on
 * three bases (the template disk itself, an OCI image of the template, and a
 * base made by umoci from a plain root filesystem) and each result is
 * checked from the outside: umoci's unpack equals a kernel loop mount of the
 * clone (qemu-img's raw conversion of it), the base's layers are reused by
 * digest, and verify passes on the clone and fails on the template.
 * The clone holds a 1 GiB sparse file in a 512 MiB filesystem, more than
 * the default --max-file-size allows: every command on it raises the limit.
 */
#include "testutil.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *lister, *clone, *template, *clone_listing;

static int setup(void **state)
{
	char *raw;

	(void)state;
	clone = tu_fixture("clone.qcow2");
	template = tu_fixture("template.qcow2");
	tu_e2e_init(&e2e, TU_E2E_LISTER);
	tmp = e2e.tmp;
	bin = e2e.bin;
	lister = e2e.lister;
	clone_listing = malloc(4096);
	snprintf(clone_listing, 4096, "%s/clone.listing", tmp);
	/* The reference: qemu-img flattens the overlay, the kernel reads it. */
	assert_int_equal(tu_sh("qemu-img convert -O raw %s %s/clone.raw", clone, tmp), 0);
	raw = malloc(4096);
	snprintf(raw, 4096, "%s/clone.raw", tmp);
	assert_int_equal(tu_e2e_listing(&e2e, raw, clone_listing), 0);
	unlink(raw);
	free(raw);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	return 0;
}

static void unpack_equals_clone(const char *layout)
{
	char dir[4096], expected[4096];

	if (!tu_have("umoci"))
		tu_skip_case("umoci is not installed (scripts/install-deps.sh --peers): no unpack oracle");
	tu_sh("rm -rf %s/bundle", tmp);
	assert_int_equal(tu_sh("umoci unpack --image %s/%s:t %s/bundle >/dev/null", tmp, layout, tmp), 0);
	assert_int_equal(tu_sh("%s %s/bundle/rootfs > %s/%s.listing", lister, tmp, tmp, layout), 0);
	/* The clone less what the image's exclude rules leave out (rsync's
	 * judgement, tu_expected_listing). */
	snprintf(dir, sizeof(dir), "%s/%s", tmp, layout);
	snprintf(expected, sizeof(expected), "%s/%s.expected", tmp, layout);
	assert_int_equal(tu_expected_listing(tmp, clone_listing, dir, "t", expected), 0);
	assert_int_equal(tu_sh("diff -u %s %s/%s.listing > %s/%s.diff", expected, tmp, layout,
			       tmp, layout), 0);
}

static long layer_size(const char *layout, int index)
{
	char *s = tu_sh_out("jq -r '.manifests[0].digest' %s/%s/index.json | cut -d: -f2 | "
			    "xargs -I{} jq -r '.layers[%d].size' %s/%s/blobs/sha256/{}",
			    tmp, layout, index, tmp, layout);
	long v = atol(s);

	free(s);
	return v;
}

static void test_on_template_disk(void **state)
{
	(void)state;
	assert_int_equal(tu_sh("%s convert --max-file-size 2G %s --base disk:%s -o %s/on-disk --tag t --quiet --compress gzip", bin,
			       clone, template, tmp), 0);
	assert_int_equal(tu_sh("%s verify --max-file-size 2G --quiet oci:%s/on-disk:t %s", bin, tmp, clone), 0);
	assert_int_equal(tu_sh("%s verify --quiet oci:%s/on-disk:t %s >/dev/null", bin, tmp, template), 1);
	unpack_equals_clone("on-disk");
	/* Two layers: the template's, then a diff far smaller than it. */
	assert_int_equal(tu_sh("jq -e '.layers | length == 2' %s/on-disk/blobs/sha256/$(jq -r "
			       "'.manifests[0].digest' %s/on-disk/index.json | cut -d: -f2) >/dev/null",
			       tmp, tmp), 0);
	print_message("template layer %ld bytes, diff layer %ld bytes\n", layer_size("on-disk", 0),
		      layer_size("on-disk", 1));
	assert_true(layer_size("on-disk", 1) < layer_size("on-disk", 0));
	/* The diff layer holds the clone's few dozen changes, not the system
	 * (its bytes are mostly the clone's 30 MiB of random data). */
	assert_int_equal(tu_sh("m=$(jq -r '.manifests[0].digest' %s/on-disk/index.json | cut -d: -f2); "
			       "l=$(jq -r '.layers[1].digest' %s/on-disk/blobs/sha256/$m | cut -d: -f2); "
			       "n=$(gzip -dc %s/on-disk/blobs/sha256/$l | tar -t | wc -l); "
			       "echo \"diff layer entries: $n\"; test $n -gt 20 && test $n -lt 200",
			       tmp, tmp, tmp), 0);
}

static void test_on_oci_image_of_template(void **state)
{
	char *base_layer, *top;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s -o %s/tmpl --tag t --quiet --compress gzip", bin, template, tmp), 0);
	assert_int_equal(tu_sh("%s convert --max-file-size 2G %s --base oci:%s/tmpl:t -o %s/on-oci --tag t --quiet --compress gzip",
			       bin, clone, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s verify --max-file-size 2G --quiet oci:%s/on-oci:t %s", bin, tmp, clone), 0);
	unpack_equals_clone("on-oci");
	/* The base layer is the template image's own blob, by digest. */
	base_layer = tu_sh_out("jq -r '.layers[0].digest' %s/tmpl/blobs/sha256/$(jq -r "
			       "'.manifests[0].digest' %s/tmpl/index.json | cut -d: -f2)", tmp, tmp);
	top = tu_sh_out("jq -r '.layers[0].digest' %s/on-oci/blobs/sha256/$(jq -r "
			"'.manifests[0].digest' %s/on-oci/index.json | cut -d: -f2)", tmp, tmp);
	assert_string_equal(base_layer, top);
	free(base_layer);
	free(top);
	/* Same inputs, same manifest: convert again into the same layout. */
	assert_int_equal(tu_sh("%s convert --max-file-size 2G %s --base oci:%s/tmpl:t -o %s/on-oci --tag t2 --quiet --compress gzip",
			       bin, clone, tmp, tmp), 0);
	assert_int_equal(tu_sh("test $(jq -r '.manifests[].digest' %s/on-oci/index.json | sort -u | "
			       "wc -l) = 1 && test $(jq '.manifests | length' %s/on-oci/index.json) = 2",
			       tmp, tmp), 0);
}

/*
 * The paths of a virt-diff --csv report (rows "+", "-", "=": added,
 * deleted, changed; "#" rows detail the row before), one per line, with a
 * newline inside a name written as "\n". CSV fields may be quoted, with ""
 * for a quote and newlines inside.
 */
static void virt_diff_paths(const char *csv_path, const char *out_path, const char *ops)
{
	FILE *in = fopen(csv_path, "r"), *out = fopen(out_path, "w");
	char field[8][4096];
	int c, nf = 0, quoted = 0;
	size_t len = 0;

	assert_non_null(in);
	assert_non_null(out);
	for (;;) {
		c = fgetc(in);
		if (quoted) {
			if (c == '"') {
				int d = fgetc(in);

				if (d == '"') {
					if (len < 4095)
						field[nf][len++] = '"';
					continue;
				}
				quoted = 0;
				c = d;
			} else if (c != EOF) {
				if (len < 4090) {
					if (c == '\n') {
						field[nf][len++] = '\\';
						field[nf][len++] = 'n';
					} else {
						field[nf][len++] = (char)c;
					}
				}
				continue;
			}
		}
		if (c == '"' && len == 0) {
			quoted = 1;
			continue;
		}
		if (c == ',' || c == '\n' || c == EOF) {
			field[nf][len] = '\0';
			len = 0;
			if (nf < 7)
				nf++;
			if (c == ',')
				continue;
			if (nf >= 5 && strlen(field[0]) == 1 && strchr(ops, field[0][0]))
				fprintf(out, "%s\n", field[4][0] == '/' ? field[4] + 1 : field[4]);
			nf = 0;
			if (c == EOF)
				break;
			continue;
		}
		if (len < 4095)
			field[nf][len++] = (char)c;
	}
	fclose(in);
	fclose(out);
}

/* The diff names exactly what virt-diff (libguestfs, an independent reader
 * of both disks) names: added, deleted and changed paths alike. */
static void test_diff_agrees_with_virt_diff(void **state)
{
	char csv[4096], vpaths[4096], vadded[4096], *summary;

	(void)state;
	if (!tu_have("virt-diff") || getenv("VM2OCI_SKIP_SLOW")) {
		print_message("virt-diff unavailable or VM2OCI_SKIP_SLOW set\n");
		skip();
	}
	/* No --checksum: under TCG hashing the 1 GiB sparse file takes longer
	 * than CI has; the clone's content changes all change size or mtime. */
	snprintf(csv, sizeof(csv), "%s/virt-diff.csv", tmp);
	snprintf(vpaths, sizeof(vpaths), "%s/virt-diff.paths", tmp);
	assert_int_equal(tu_sh("LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg} "
			       "virt-diff --format=qcow2 -a %s -A %s --csv > %s 2> %s/virt-diff.err",
			       template, clone, csv, tmp), 0);
	virt_diff_paths(csv, vpaths, "+-=");
	snprintf(vadded, sizeof(vadded), "%s/virt-diff.added-deleted", tmp);
	virt_diff_paths(csv, vadded, "+-");
	assert_int_equal(tu_sh("sort -u -o %s %s && sort -u -o %s %s", vpaths, vpaths, vadded, vadded), 0);
	assert_int_equal(tu_sh("%s diff --max-file-size 2G disk:%s %s --list --json --no-layer-sizes --quiet | "
			       "jq -r '.changes[].path | gsub(\"\\n\"; \"\\\\n\")' | sort -u > %s/ours.paths",
			       bin, template, clone, tmp), 0);
	/* Everything we change, virt-diff names; everything it adds or
	 * deletes, we do. Its "=" (changed) rows are only checked one way: on
	 * a loaded machine virt-diff sometimes lists unchanged files as "="
	 * (seen in CI: 602 rows instead of 55, for the same two disks). */
	assert_int_equal(tu_sh("comm -23 %s/ours.paths %s > %s/missing-in-virt-diff; "
			       "test ! -s %s/missing-in-virt-diff || { cat %s/missing-in-virt-diff; false; }",
			       tmp, vpaths, tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("n=$(wc -l < %s); o=$(wc -l < %s/ours.paths); "
			       "if [ $n -gt $((4 * o)) ]; then echo \"virt-diff named $n paths for our $o: "
			       "a degenerate run, the reverse check is skipped\"; exit 0; fi; "
			       "comm -23 %s %s/ours.paths > %s/missing-in-ours; "
			       "test ! -s %s/missing-in-ours || { cat %s/missing-in-ours; false; }",
			       vpaths, tmp, vadded, tmp, tmp, tmp, tmp), 0);
	summary = tu_sh_out("echo \"ours: $(wc -l < %s/ours.paths) paths, virt-diff: "
			    "$(wc -l < %s) ($(comm -13 %s/ours.paths %s | wc -l) changed rows not in ours)\"",
			    tmp, vpaths, tmp, vpaths);
	print_message("%s", summary);
	free(summary);
	assert_int_equal(tu_sh("test $(wc -l < %s) -gt 20", vpaths), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_template_disk),
		cmocka_unit_test(test_on_oci_image_of_template),
		cmocka_unit_test(test_diff_agrees_with_virt_diff),
	};
	return cmocka_run_group_tests_name("e2e: a clone on its template", tests, setup, teardown);

}
