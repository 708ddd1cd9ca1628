/*
 * End-to-end: the bill of materials.
 *
 *   - the SBOM's package set (name, version, arch) equals dpkg-query's on a
 *     loop mount of the Debian fixture and rpm -qa's on the CentOS rpmdbs;
 *     suppliers, source packages and licenses equal what dpkg-query, the
 *     machine-readable copyright files and rpm say;
 *   - every purl parses and is canonical; CycloneDX validates against the
 *     official 1.5 schema (fetched from an npm package by sbom-schemas.sh
 *     into the cache, never committed: no schema, the test fails); SPDX
 *     passes the 2.3 structural checks of sbom_check.py;
 *   - the same disk gives the same bytes;
 *   - convert --sbom stores an OCI 1.1 referrer: skopeo reads its manifest,
 *     whose subject is the image, and the layout's index leads from the
 *     image digest to the SBOM; each package names its layer.
 */
#include "testutil.h"

static struct tu_e2e e2e;
static char *tmp, *bin, *helper, *src, *schemas, *check;

#define GO_RPMDB "/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata"

static int setup(void **state)
{
	const char *cache = getenv("VM2OCI_CACHE"), *home = getenv("HOME");
	char parent[4096];

	(void)state;
	if (!tu_have("dpkg-query") || !tu_have("jq") || !tu_have("python3"))
		tu_skip("dpkg-query, jq and python3 are needed");
	tu_e2e_init(&e2e, 0);
	tmp = e2e.tmp;
	bin = e2e.bin;
	helper = e2e.helper;
	src = getenv("VM2OCI_SOURCE_DIR");
	if (cache && *cache && strcmp(cache, "off"))
		snprintf(parent, sizeof(parent), "%s", cache);
	else
		snprintf(parent, sizeof(parent), "%s/.cache/vm2oci", home ? home : "/root");
	/* The official schema, or a failure saying why (never a skip). */
	schemas = tu_sh_out("%s/tests/cli/sbom-schemas.sh '%s' 2>%s/schemas.err", src, parent, tmp);
	schemas[strcspn(schemas, "\n")] = '\0';
	if (!*schemas) {
		char *why = tu_sh_out("cat %s/schemas.err", tmp);

		fprintf(stderr, "FAIL: the CycloneDX 1.5 schema could not be obtained: %s", why);
		exit(1);
	}
	check = malloc(4096);
	snprintf(check, 4096, "python3 %s/tests/cli/sbom_check.py", src);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_e2e_release(&e2e);
	free(schemas);
	free(check);
	return 0;
}

static void test_debian(void **state)
{
	char *raw = tu_fixture("debian-gpt.raw"), *qcow = tu_fixture("debian-gpt.qcow2"), *n;

	(void)state;
	/* The oracles, from the kernel's mount of the same disk. */
	assert_int_equal(tu_sh("%s mount %s %s/mnt", helper, raw, tmp), 0);
	assert_int_equal(tu_sh("A=%s/mnt/var/lib/dpkg; dpkg-query --admindir=$A -W "
			       "-f '${Package}\\t${Version}\\t${Architecture}\\n' | sort > %s/dpkg.txt && "
			       "dpkg-query --admindir=$A -W -f '${Package}\\t${Maintainer}\\t${source:Package}\\n' "
			       "| sort > %s/dpkg-meta.txt && "
			       "for p in $(dpkg-query --admindir=$A -W -f '${Package}\\n'); do "
			       "f=%s/mnt/usr/share/doc/$p/copyright; [ -f \"$f\" ] || continue; "
			       "sed '/^[[:space:]]*$/q' \"$f\" | grep -qi '^Format:' && grep -qi '^License:' \"$f\" "
			       "&& echo $p; done | sort > %s/dep5.txt",
			       tmp, tmp, tmp, tmp, tmp), 0);
	assert_int_equal(tu_sh("%s umount %s/mnt", helper, tmp), 0);

	assert_int_equal(tu_sh("%s packages %s --format spdx-json > %s/d.spdx.json && "
			       "%s packages %s --format cyclonedx-json > %s/d.cdx.json",
			       bin, qcow, tmp, bin, qcow, tmp), 0);
	/* Names, versions, archs; the purls parse; the schema validates. */
	assert_int_equal(tu_sh("%s spdx %s/d.spdx.json %s > %s/spdx.txt", check, tmp, schemas, tmp), 0);
	assert_int_equal(tu_sh("%s cyclonedx %s/d.cdx.json %s > %s/cdx.txt", check, tmp, schemas, tmp), 0);
	assert_int_equal(tu_sh("cd %s && diff -u dpkg.txt spdx.txt && diff -u dpkg.txt cdx.txt", tmp), 0);
	/* Supplier = Maintainer, source package = ${source:Package}. */
	assert_int_equal(tu_sh("jq -r '.components[] | select(.type == \"library\") | [.name, .supplier.name, "
			       "(.properties[] | select(.name == \"vm2oci:package:source\") | .value) // .name] "
			       "| @tsv' %s/d.cdx.json | sort | diff -u %s/dpkg-meta.txt -", tmp, tmp), 0);
	/* Licenses exactly for the packages with a machine-readable copyright. */
	assert_int_equal(tu_sh("jq -r '.components[] | select(.licenses) | .name' %s/d.cdx.json | sort | "
			       "diff -u %s/dep5.txt -", tmp, tmp), 0);
	n = tu_sh_out("echo $(wc -l < %s/dpkg.txt) $(wc -l < %s/dep5.txt)", tmp, tmp);
	print_message("packages as dpkg-query lists them, with DEP-5 licenses: %s", n);
	assert_true(atoi(strchr(n, ' ') + 1) > 20);
	free(n);
	/* Dependencies: libc6 is depended on, and openssh-server on libc6. */
	assert_int_equal(tu_sh("jq -e '[.relationships[] | select(.relationshipType == \"DEPENDS_ON\" and "
			       "(.spdxElementId | startswith(\"SPDXRef-Package-deb-openssh-server-\")) and "
			       "(.relatedSpdxElement | startswith(\"SPDXRef-Package-deb-libc6-\")))] | "
			       "length == 1' %s/d.spdx.json >/dev/null", tmp), 0);
	/* The same disk, the same bytes (raw and qcow2 name the file apart). */
	assert_int_equal(tu_sh("%s packages %s --format spdx-json | cmp - %s/d.spdx.json", bin, qcow, tmp), 0);
	assert_int_equal(tu_sh("%s packages %s --format cyclonedx-json | sed 's/debian-gpt.raw/debian-gpt.qcow2/' | "
			       "jq -S 'del(.serialNumber)' > %s/r.json && jq -S 'del(.serialNumber)' %s/d.cdx.json | "
			       "cmp - %s/r.json", bin, raw, tmp, tmp, tmp), 0);
	/* Options that do not go with an SBOM are refused, not ignored. */
	assert_int_equal(tu_sh("%s packages %s --format spdx-json --roots >/dev/null 2>&1; test $? = 2 && "
			       "%s convert %s --sbom spdx3 -o %s/never 2>/dev/null; test $? = 2 && "
			       "test ! -e %s/never", bin, qcow, bin, qcow, tmp, tmp), 0);
	free(raw);
	free(qcow);
}

/* A whole-disk ext4 holding the CentOS rpmdb NAME as var/lib/rpm/Packages. */
static void rpm_disk(const char *name)
{
	assert_int_equal(tu_sh("R=%s/%s; mkdir -p $R/var/lib/rpm $R/etc $R/usr/bin $R/usr/sbin && "
			       "ln -sfn usr/bin $R/bin && ln -sfn usr/sbin $R/sbin && "
			       "echo root:x:0:0::/root:/bin/sh > $R/etc/passwd && "
			       "cp %s/%s/Packages $R/var/lib/rpm/ && "
			       "printf 'NAME=\"CentOS Linux\"\\nID=centos\\nVERSION_ID=%c\\n' > $R/etc/os-release && "
			       "echo '/dev/vda1 / ext4 defaults 0 1' > $R/etc/fstab && "
			       "truncate -s 64M $R.raw && mkfs.ext4 -q -F -d $R $R.raw",
			       tmp, name, GO_RPMDB, name, name[6]), 0);
}

static void test_rpm(void **state)
{
	static const char *const dbs[] = { "centos7-httpd24", "centos8-modularitylabel" };

	(void)state;
	if (!tu_have("rpm") || !tu_have("mkfs.ext4") ||
	    access(GO_RPMDB "/centos7-httpd24/Packages", R_OK))
		tu_skip_case("rpm, mkfs.ext4 and the go-rpmdb testdata are needed");
	for (size_t k = 0; k < 2; k++) {
		const char *d = dbs[k];

		rpm_disk(d);
		assert_int_equal(tu_sh("Q() { rpm --dbpath %s/%s --define '_db_backend bdb_ro' -qa \"$@\"; }; "
				       "Q --qf '%%{NAME}\\t%%{VERSION}-%%{RELEASE}\\t%%{ARCH}\\n' 2>/dev/null | "
				       "sed 's/(none)$//' | sort > %s/%s.rpm && "
				       "Q --qf '%%{NAME}\\t%%{LICENSE}\\n' 2>/dev/null | sort -u > %s/%s.lic",
				       GO_RPMDB, d, tmp, d, tmp, d), 0);
		assert_int_equal(tu_sh("%s packages %s/%s.raw --format spdx-json > %s/%s.spdx.json && "
				       "%s spdx %s/%s.spdx.json %s > %s/%s.rows && diff -u %s/%s.rpm %s/%s.rows",
				       bin, tmp, d, tmp, d, check, tmp, d, schemas, tmp, d, tmp, d, tmp, d), 0);
		assert_int_equal(tu_sh("%s packages %s/%s.raw --format cyclonedx-json > %s/%s.cdx.json && "
				       "%s cyclonedx %s/%s.cdx.json %s | diff -u %s/%s.rpm -",
				       bin, tmp, d, tmp, d, check, tmp, d, schemas, tmp, d), 0);
		/* License = rpm's LICENSE tag; purls in rpm's form with the distro. */
		assert_int_equal(tu_sh("jq -r '.components[] | select(.licenses) | [.name, .licenses[0].license.name] "
				       "| @tsv' %s/%s.cdx.json | sort -u | diff -u %s/%s.lic -",
				       tmp, d, tmp, d), 0);
		assert_int_equal(tu_sh("jq -e '[.components[] | select(.name == \"bash\") | .purl] | "
				       "length == 1 and (.[0] | test(\"^pkg:rpm/centos/bash@[^?]+\\\\?arch=x86_64&distro=centos-[78]\"))' "
				       "%s/%s.cdx.json >/dev/null", tmp, d), 0);
	}
}

static char *json_str(const char *jq_filter, const char *file)
{
	char *s = tu_sh_out("jq -r '%s' %s", jq_filter, file);

	s[strcspn(s, "\n")] = '\0';
	return s;
}

static void test_convert_referrer(void **state)
{
	char *qcow = tu_fixture("debian-gpt.qcow2"), *base = tu_fixture("base-oci");
	char path[4096], *img, *tag, *ref, *refm, *layer, *n;

	(void)state;
	assert_int_equal(tu_sh("%s convert %s --base oci:%s:minbase --packages-layer --sbom spdx "
			       "-o %s/L --json --quiet > %s/conv.json", bin, qcow, base, tmp, tmp), 0);
	snprintf(path, sizeof(path), "%s/conv.json", tmp);
	img = json_str(".manifest_digest", path);
	tag = json_str(".sbom.tag", path);
	/* skopeo reads the referrer's manifest by its tag: artifactType, the
	 * empty config, one SPDX layer, subject = the image. */
	assert_int_equal(tu_sh("skopeo inspect --raw oci:%s/L:%s > %s/ref.json", tmp, tag, tmp), 0);
	assert_int_equal(tu_sh("jq -e '.artifactType == \"application/spdx+json\" and "
			       ".config.mediaType == \"application/vnd.oci.empty.v1+json\" and .config.size == 2 and "
			       "(.layers | length) == 1 and .layers[0].mediaType == \"application/spdx+json\" and "
			       ".subject.digest == \"%s\"' %s/ref.json >/dev/null", img, tmp), 0);
	/* A reader of the layout alone: from the image digest, through the
	 * index, to the SBOM blob. */
	ref = tu_sh_out("cd %s/L && for d in $(jq -r '.manifests[] | select(.artifactType) | .digest' "
			"index.json); do jq -e --arg s %s '.subject.digest == $s' blobs/sha256/${d#sha256:} "
			">/dev/null && echo $d; done", tmp, img);
	ref[strcspn(ref, "\n")] = '\0';
	assert_true(strlen(ref) == 71);
	refm = tu_sh_out("jq -r '.layers[0].digest' %s/L/blobs/sha256/%s", tmp, ref + 7);
	refm[strcspn(refm, "\n")] = '\0';
	layer = strchr(refm, ':') + 1;
	assert_int_equal(tu_sh("cp %s/L/blobs/sha256/%s %s/att.spdx.json && "
			       "test \"$(sha256sum < %s/att.spdx.json | cut -c1-64)\" = %s",
			       tmp, layer, tmp, tmp, layer), 0);
	/* The attached SBOM lists what packages --format lists, validates, and
	 * names the image's layers by digest. */
	assert_int_equal(tu_sh("%s spdx %s/att.spdx.json %s > %s/att.rows && "
			       "%s packages %s --format spdx-json | %s spdx /dev/stdin %s | diff -u - %s/att.rows",
			       check, tmp, schemas, tmp, bin, qcow, check, schemas, tmp), 0);
	assert_int_equal(tu_sh("skopeo inspect --raw oci:%s/L:latest | jq -r '.layers[].digest' > %s/layers.txt && "
			       "jq -r '.creationInfo.comment' %s/att.spdx.json | grep -o 'sha256:[0-9a-f]*' "
			       "> %s/named.txt && diff -u %s/layers.txt %s/named.txt",
			       tmp, tmp, tmp, tmp, tmp, tmp), 0);
	/* openssh-server (not in the minbase base) sits in the packages
	 * layer, dpkg (in the base) in the base; every package has a layer. */
	assert_int_equal(tu_sh("jq -e '[.packages[] | select(.name == \"openssh-server\") | .annotations[0].comment] == "
			       "[\"vm2oci.layers=packages\"] and [.packages[] | select(.name == \"dpkg\") | "
			       ".annotations[0].comment] == [\"vm2oci.layers=base\"] and "
			       "([.packages[] | select(.primaryPackagePurpose != \"OPERATING_SYSTEM\" and "
			       "(.annotations | not))] | length) == 0' %s/att.spdx.json >/dev/null", tmp), 0);
	n = tu_sh_out("jq -r '[.packages[].annotations[0].comment // empty] | group_by(.) | "
		      "map(\"\\(.[0]): \\(length)\") | join(\", \")' %s/att.spdx.json", tmp);
	print_message("packages by layer: %s", n);
	free(n);
	/* The same conversion elsewhere: the same referrer, byte for byte. */
	assert_int_equal(tu_sh("%s convert %s --base oci:%s:minbase --packages-layer --sbom spdx "
			       "-o %s/L2 --json --quiet | jq -e '.sbom.manifest_digest == \"%s\"' >/dev/null",
			       bin, qcow, base, tmp, ref), 0);
	/* A tagless oci: base skips the referrer: the image is the only one. */
	assert_int_equal(tu_sh("jq -e '[.manifests[] | select(.artifactType)] | length == 1' "
			       "%s/L/index.json >/dev/null", tmp), 0);
	assert_int_equal(tu_sh("%s packages %s --base oci:%s/L --json | jq -e '(.changes | length) == 0' "
			       ">/dev/null", bin, qcow, tmp), 0);
	/* No referrer in a docker-archive: refused before anything is written. */
	assert_int_equal(tu_sh("%s convert %s --sbom cyclonedx --output-format docker-archive -o %s/x.tar "
			       "2>%s/e.txt; test $? = 2 && grep -q 'docker-archive' %s/e.txt && test ! -e %s/x.tar",
			       bin, qcow, tmp, tmp, tmp, tmp), 0);
	free(img);
	free(tag);
	free(ref);
	free(refm);
	free(qcow);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian),
		cmocka_unit_test(test_rpm),
		cmocka_unit_test(test_convert_referrer),
	};
	return cmocka_run_group_tests_name("e2e: SBOM against dpkg-query, rpm and the schemas", tests,
					   setup, teardown);
}
