/*
 * test_e2e_batch_opts.c - convert's image options on `vm2oci batch`, for two
 * domains of tests/virt/fleet.h's test driver (clone-a, clone-c): with
 * --exclude, --sbom spdx and --gzip-fast every image lacks the excluded
 * path in every layer (tar lists them), carries its SBOM referrer (subject:
 * its manifest) and has gzip layers `gzip -t` accepts; a rerun with the same
 * options keeps both tags, one with another --exclude makes both again and
 * says "options changed"; --plan-out lines carry the options and --plan
 * --index 0 applies them; a bad value is a usage error that writes nothing.
 */
#include "testkeep.h"
#include "virt/fleet.h"

static struct fleet fl;
static const char *bin, *src;
static char *fixtures, opts[8192];

#define IMAGE_OPTS "--compress gzip --gzip-fast --sbom spdx"

static char *jq(const char *file, const char *filter)
{
	return tu_kept(tu_sh_out("jq -r '%s' '%s'", filter, file));
}

static int setup(void **state)
{
	bin = getenv("VM2OCI_BINARY");
	src = getenv("VM2OCI_SOURCE_DIR");
	if (!bin || !src)
		tu_skip("VM2OCI_BINARY and VM2OCI_SOURCE_DIR must be set (ctest sets them)");
	if (!tu_have("jq") || !tu_have("gzip"))
		tu_skip("jq or gzip not found");
	fleet_make(&fl);
	fixtures = tu_kept(tu_fixture_path(""));
	snprintf(opts, sizeof(opts), "--connect '%s' --base 'disk:%s' --backing-dir '%s' --max-file-size 2G -j 2 --quiet",
		 fl.uri, fl.template, fixtures);
	return 0;
}

static int teardown(void **state)
{
	tu_sh("'%s/tests/lib/registry.sh' stop '%s/reg'", src, fl.dir);
	tu_kept_free();
	fleet_remove(&fl);
	return 0;
}

/*
 * The image tagged tag in layout: every layer gzip (its media type, and
 * `gzip -t`), none listing a path under /absent, some listing present (so
 * that the absence is not of an empty listing), and an SBOM referrer in
 * index.json whose subject is the image's manifest.
 */
static void check_image(const char *layout, const char *tag, const char *absent,
			const char *present)
{
	assert_int_equal(tu_sh("set -e; cd '%s/blobs/sha256'; "
			       "m=$(jq -r --arg t '%s' '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == $t) | .digest' ../../index.json); "
			       "test -n \"$m\"; "
			       "jq -e '[.layers[].mediaType] | all(. == \"application/vnd.oci.image.layer.v1.tar+gzip\")' ${m#sha256:} > /dev/null; "
			       "for l in $(jq -r '.layers[].digest' ${m#sha256:}); do gzip -t ${l#sha256:}; tar --warning=no-unknown-keyword -tzf ${l#sha256:}; done > '%s/list'; "
			       "! grep -Eq '^(\\./)?%s(/|$)' '%s/list'; grep -Eq '^(\\./)?%s$' '%s/list'; "
			       "n=0; for r in $(jq -r '.manifests[] | select(.artifactType == \"application/spdx+json\") | .digest' ../../index.json); do "
			       "jq -e --arg m \"$m\" '.artifactType == \"application/spdx+json\" and .subject.digest == $m' ${r#sha256:} > /dev/null && n=$((n + 1)); done; "
			       "test $n = 1",
			       layout, tag, fl.dir, absent, fl.dir, present, fl.dir),
			 0);
}

/* Converted, rerun with the same options, rerun with another --exclude. */
static void test_options_and_rerun(void **state)
{
	char layout[4096], j1[4096], j2[4096], j3[4096];
	const char *reason;

	snprintf(layout, sizeof(layout), "%s/oci", fl.dir);
	snprintf(j1, sizeof(j1), "%s/first.json", fl.dir);
	snprintf(j2, sizeof(j2), "%s/same.json", fl.dir);
	snprintf(j3, sizeof(j3), "%s/changed.json", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-a --domain clone-c -o '%s' " IMAGE_OPTS " --exclude /etc/motd --json > '%s'",
			       bin, opts, layout, j1), 0);
	assert_string_equal(jq(j1, "[.domains[] | .domain + \":\" + .result] | join(\",\")"),
			    "clone-a:converted,clone-c:converted");
	assert_string_equal(jq(j1, ".convert_options | join(\" \")"),
			    "--compress gzip --gzip-fast --exclude /etc/motd --sbom spdx");
	check_image(layout, "clone-a", "etc/motd", "etc/passwd");
	check_image(layout, "clone-c", "etc/motd", "etc/passwd");
	/* the options are part of the identity the manifest records */
	assert_int_equal(tu_sh("cd '%s/blobs/sha256' && m=$(jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"clone-c\") | .digest' ../../index.json) && "
			       "jq -r '.annotations[\"org.vm2oci.batch.identity\"]' ${m#sha256:} | jq -e '.options == [\"--compress\",\"gzip\",\"--gzip-fast\",\"--exclude\",\"/etc/motd\",\"--sbom\",\"spdx\"]' > /dev/null",
			       layout), 0);

	/* the same options: nothing to do */
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-a --domain clone-c -o '%s' " IMAGE_OPTS " --exclude /etc/motd --json > '%s'",
			       bin, opts, layout, j2), 0);
	assert_string_equal(jq(j2, ".totals | [.converted, .up_to_date] | map(tostring) | join(\" \")"), "0 2");
	/* each record names its SBOM referrer, converted or up to date: the
	 * manifest of that tag in the layout, whose subject is the image */
	for (int run = 0; run < 2; run++)
		assert_int_equal(tu_sh("cd '%s/blobs/sha256' && jq -c '.domains[]' '%s' | while read -r d; do "
				       "r=$(echo \"$d\" | jq -r '.sbom.manifest_digest'); t=$(echo \"$d\" | jq -r '.sbom.tag'); "
				       "s=$(echo \"$d\" | jq -r '.sbom.subject'); "
				       "[ \"$(echo \"$d\" | jq -r '.sbom.artifact_type')\" = application/spdx+json ] || exit 1; "
				       "[ \"$(jq -r --arg t \"$t\" '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == $t) | .digest' ../../index.json)\" = \"$r\" ] || exit 1; "
				       "jq -e --arg s \"$s\" '.subject.digest == $s' \"${r#sha256:}\" > /dev/null || exit 1; done",
				       layout, run ? j2 : j1), 0);

	/* another --exclude: both made again, and why */
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-a --domain clone-c -o '%s' " IMAGE_OPTS " --exclude /etc/issue --json > '%s'",
			       bin, opts, layout, j3), 0);
	assert_string_equal(jq(j3, ".totals | [.converted, .up_to_date] | map(tostring) | join(\" \")"), "2 0");
	reason = jq(j3, ".domains[] | select(.domain == \"clone-c\") | .reason");
	assert_string_equal(reason, "options changed: --compress gzip --gzip-fast --exclude /etc/issue --sbom spdx, "
			    "was --compress gzip --gzip-fast --exclude /etc/motd --sbom spdx");
	assert_string_equal(jq(j3, ".domains[] | select(.domain == \"clone-a\") | .reason | startswith(\"options changed: \") | tostring"),
			    "true");
	check_image(layout, "clone-c", "etc/issue", "etc/motd");
	/* the table says it too */
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-c -o '%s' " IMAGE_OPTS " | grep -q '^clone-c .*converted as clone-c: options changed: .*, was .*--exclude /etc/issue'",
			       bin, opts, layout), 0);
}

/* --plan-out carries the options; --plan --index 0 applies them. */
static void test_plan(void **state)
{
	char plan[4096], layout[4096], other[4096];

	snprintf(plan, sizeof(plan), "%s/plan.jsonl", fl.dir);
	snprintf(layout, sizeof(layout), "%s/planned", fl.dir);
	snprintf(other, sizeof(other), "%s/contradicted", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-c " IMAGE_OPTS " --exclude /etc/motd --plan-out '%s'",
			       bin, opts, plan), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '.domain + \" \" + (.convert_options | join(\" \"))' '%s'", plan)),
			    "clone-c --compress gzip --gzip-fast --exclude /etc/motd --sbom spdx");
	assert_int_equal(tu_sh("'%s' batch --plan '%s' --index 0 -o '%s' --backing-dir '%s' --max-file-size 2G --quiet --json > '%s/planned.json'",
			       bin, plan, layout, fixtures, fl.dir), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '.domains[0].result + \" \" + (.convert_options | join(\" \"))' '%s/planned.json'", fl.dir)),
			    "converted --compress gzip --gzip-fast --exclude /etc/motd --sbom spdx");
	check_image(layout, "clone-c", "etc/motd", "etc/passwd");
	/* the same options again on the command line: accepted, up to date */
	assert_int_equal(tu_sh("'%s' batch --plan '%s' --index 0 -o '%s' --backing-dir '%s' --max-file-size 2G " IMAGE_OPTS " --exclude /etc/motd --json | jq -e '.totals.up_to_date == 1' > /dev/null",
			       bin, plan, layout, fixtures), 0);
	/* other options contradict the plan: usage error, nothing written */
	assert_int_equal(tu_sh("'%s' batch --plan '%s' --index 0 -o '%s' --exclude /etc/issue 2> '%s/err'",
			       bin, plan, other, fl.dir), 2);
	assert_int_equal(tu_sh("grep -q \"plan's image options are .*--exclude /etc/motd.*, the command line's --exclude /etc/issue\" '%s/err' && test ! -e '%s'",
			       fl.dir, other), 0);
}

/* A bad value: one error line naming it, exit 2, no layout, no plan. */
static void test_bad_option(void **state)
{
	char layout[4096];

	snprintf(layout, sizeof(layout), "%s/bad", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' --sbom bogus 2> '%s/err'", bin, opts, layout, fl.dir), 2);
	assert_string_equal(tu_kept(tu_sh_out("head -1 '%s/err'", fl.dir)),
			    "vm2oci batch: --sbom takes spdx or cyclonedx, not 'bogus'");
	assert_int_equal(tu_sh("test ! -e '%s'", layout), 0);
	assert_int_equal(tu_sh("'%s' batch %s --plan-out '%s/bad.jsonl' --init sysv 2>/dev/null", bin, opts, fl.dir), 2);
	assert_int_equal(tu_sh("test ! -e '%s/bad.jsonl'", fl.dir), 0);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' --gzip-fast 2>/dev/null", bin, opts, layout), 2);
	assert_int_equal(tu_sh("test ! -e '%s'", layout), 0);
}

/*
 * --filter-from's rules are its file's content: a changed file is a changed
 * identity. --push with --sbom sends the image and its referrer (by its
 * sha256-HEX.sbom tag) to docker-registry, also for a domain up to date.
 */
static void test_filter_from_and_push(void **state)
{
	char layout[4096], rules[4096], j[4096], reg[64], *port;
	const char *m;

	if (!tu_have("docker-registry") || !tu_have("skopeo"))
		tu_skip("docker-registry or skopeo not found");
	port = tu_kept(tu_sh_out("'%s/tests/lib/registry.sh' start '%s/reg'", src, fl.dir));
	if (!*port)
		fail_msg("docker-registry did not start; its log is above");
	snprintf(reg, sizeof(reg), "127.0.0.1:%s", port);
	snprintf(layout, sizeof(layout), "%s/pushed", fl.dir);
	snprintf(rules, sizeof(rules), "%s/rules", fl.dir);
	snprintf(j, sizeof(j), "%s/pushed.json", fl.dir);
	assert_int_equal(tu_sh("printf -- '- /etc/motd\n' > '%s'", rules), 0);
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-c -o '%s' " IMAGE_OPTS " --filter-from '%s' --push 'docker://%s/fleet' --tls-verify=false --json > '%s'",
			       bin, opts, layout, rules, reg, j), 0);
	assert_string_equal(jq(j, ".domains[0].result"), "converted");
	check_image(layout, "clone-c", "etc/motd", "etc/passwd");
	m = jq(j, ".domains[0].manifest_digest");
	assert_int_equal(tu_sh("test \"sha256:$(skopeo inspect --raw --tls-verify=false 'docker://%s/fleet:clone-c' | sha256sum | cut -d' ' -f1)\" = '%s'",
			       reg, m), 0);
	assert_int_equal(tu_sh("skopeo inspect --raw --tls-verify=false 'docker://%s/fleet:sha256-%s.sbom' | "
			       "jq -e '.artifactType == \"application/spdx+json\" and .subject.digest == \"%s\"' > /dev/null",
			       reg, m + 7, m), 0);

	/* up to date: pushed again (HEADs), the SBOM too */
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-c -o '%s' " IMAGE_OPTS " --filter-from '%s' --push 'docker://%s/fleet' --tls-verify=false --json > '%s'",
			       bin, opts, layout, rules, reg, j), 0);
	assert_string_equal(jq(j, ".domains[0].result"), "up to date");

	/* the same path, other rules */
	assert_int_equal(tu_sh("printf -- '- /etc/issue\n' > '%s'", rules), 0);
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-c -o '%s' " IMAGE_OPTS " --filter-from '%s' --json > '%s'",
			       bin, opts, layout, rules, j), 0);
	assert_string_equal(jq(j, ".domains[0].result + \": \" + .domains[0].reason"),
			    "converted: options changed: the rules of its --filter-from files");
	check_image(layout, "clone-c", "etc/issue", "etc/motd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_option),
		cmocka_unit_test(test_options_and_rerun),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_filter_from_and_push),
	};

	return cmocka_run_group_tests_name("e2e_batch_opts", tests, setup, teardown);
}
