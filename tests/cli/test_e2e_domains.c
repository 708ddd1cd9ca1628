/*
 * test_e2e_domains.c - `vm2oci domains` on libvirt's test driver: the fleet of
 * tests/virt/fleet.h, its JSON checked with jq against the node XML (read
 * with xmllint) and the states against virsh; the table; the errors.
 */
#include "testkeep.h"
#include "virt/fleet.h"

static struct fleet fl;
static const char *bin;
static char json_path[4096], table_path[4096];

static int setup(void **state)
{
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY not set");
	if (!tu_have("jq") || !tu_have("xmllint") || !tu_have("virsh"))
		tu_skip("jq, xmllint (libxml2-utils) or virsh (libvirt-clients) not found");
	fleet_make(&fl);
	snprintf(json_path, sizeof(json_path), "%s/domains.json", fl.dir);
	snprintf(table_path, sizeof(table_path), "%s/domains.txt", fl.dir);
	if (tu_sh("'%s' domains --connect '%s' --json > '%s'", bin, fl.uri, json_path) != 0 ||
	    tu_sh("'%s' domains --connect '%s' > '%s'", bin, fl.uri, table_path) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	tu_kept_free();
	fleet_remove(&fl);
	return 0;
}

/* An XPath string of the node XML, via xmllint. */
static char *xml_string(const char *xpath)
{
	return tu_kept(tu_sh_out("xmllint --xpath \"string(%s)\" '%s'", xpath, fl.xml));
}

static char *jq_raw(const char *filter)
{
	return tu_kept(tu_sh_out("jq -r '%s' '%s'", filter, json_path));
}

/* Every domain of the node XML, in name order, with virsh's state. */
static void test_json_domains_and_states(void **state)
{
	char *names = tu_kept(tu_sh_out("xmllint --xpath '/node/domain/name/text()' '%s' | sort", fl.xml));
	char *listed = jq_raw(".domains[].name");
	char *save = NULL, *name;
	int count = 0;

	assert_string_equal(listed, names);
	assert_string_equal(jq_raw(".uri"), fl.uri);
	for (name = strtok_r(names, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		char filter[512];
		char *want = tu_kept(tu_sh_out("virsh -q -c '%s' domstate '%s'", fl.uri, name));
		char *got;

		snprintf(filter, sizeof(filter), ".domains[] | select(.name == \"%s\") | .state", name);
		got = jq_raw(filter);
		assert_string_equal(got, want);
		count++;
	}
	assert_int_equal(count, FLEET_DOMAINS);
	/* Powered off: exactly the shut-off ones, as virsh lists them. */
	assert_string_equal(jq_raw("[.domains[] | select(.powered_off) | .name] | join(\",\")"),
			    tu_kept(tu_sh_out("virsh -q -c '%s' list --state-shutoff --name | grep . | sort | paste -sd,",
					      fl.uri)));
	assert_string_equal(jq_raw(".domains[] | select(.name == \"running-vm\") | .live_reason"),
			    "running: a live disk is not consistent");
}

/* Each file disk: path, format, target and readonly as the XML has them. */
static void test_json_file_disks_match_xml(void **state)
{
	char *pairs = jq_raw(".domains[] | .name as $n | .disks[] | select(.type == \"file\") | \"\\($n) \\(.target)\"");
	char *save = NULL, *line;
	int count = 0;

	for (line = strtok_r(pairs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256], target[64], xp[1024], filter[1024];
		char *want, *got;

		assert_int_equal(sscanf(line, "%255s %63s", name, target), 2);
		snprintf(xp, sizeof(xp), "/node/domain[name='%s']/devices/disk[target/@dev='%s']", name, target);
		snprintf(filter, sizeof(filter),
			 ".domains[] | select(.name == \"%s\") | .disks[] | select(.target == \"%s\")",
			 name, target);
		{
			char x[1200], f[1200];

			snprintf(x, sizeof(x), "%s/source/@file", xp);
			snprintf(f, sizeof(f), "%s | .path", filter);
			want = xml_string(x);
			got = jq_raw(f);
			assert_string_equal(got, want);
			snprintf(x, sizeof(x), "%s/driver/@type", xp);
			snprintf(f, sizeof(f), "%s | .format", filter);
			want = xml_string(x);
			got = jq_raw(f);
			assert_string_equal(got, want);
			snprintf(x, sizeof(x), "count(%s/readonly) > 0", xp);
			snprintf(f, sizeof(f), "%s | .readonly", filter);
			want = xml_string(x);
			got = jq_raw(f);
			assert_string_equal(got, want);
		}
		count++;
	}
	/* clone-a, clone-b, clone-c, unrelated, two-disks x2, running, paused, sleeping, broken */
	assert_int_equal(count, 10);
}

static void test_json_special_disks(void **state)
{
	char want[4096];

	/* The declared chain: the template, then nothing. */
	assert_string_equal(jq_raw(".domains[] | select(.name == \"clone-a\") | .disks[0] | "
				   "\"\\(.backing_from) \\(.backing | length) \\(.backing[0].path) \\(.backing[0].format)\""),
			    tu_kept(tu_sh_out("printf 'xml 1 %%s qcow2' '%s'", fl.template)));
	assert_string_equal(jq_raw(".domains[] | select(.name == \"clone-b\") | .disks[0].backing_from"), "image");
	/* Network: not readable, and why. */
	assert_string_equal(jq_raw(".domains[] | select(.name == \"ceph-vm\") | .disks[0] | "
				   "\"\\(.readable) \\(.path) \\(.protocol)\""),
			    "false null rbd");
	assert_string_equal(jq_raw(".domains[] | select(.name == \"ceph-vm\") | .disks[0].reason | "
				   "test(\"^network disk \\\\(rbd vms/ceph-vm-root on mon1.example:6789\\\\)\")"),
			    "true");
	/* Volume: the pool's target path and the volume's name, as virsh vol-path says. */
	snprintf(want, sizeof(want), "%s/pool/clone-v.qcow2", fl.dir);
	assert_string_equal(jq_raw(".domains[] | select(.name == \"pooled\") | .disks[0].path"), want);
	assert_non_null(strstr(tu_kept(tu_sh_out("virsh -q -c '%s' vol-path --pool fleet clone-v.qcow2", fl.uri)), want));
	/* cdrom and floppy skipped, named. */
	assert_string_equal(jq_raw("[.domains[] | .name as $n | .skipped[] | \"\\($n):\\(.device):\\(.target)\"] | join(\",\")"),
			    "ceph-vm:floppy:fda,clone-c:cdrom:hdc");
	assert_string_equal(jq_raw("[.domains[].disks | length] | add"), "12");
}

/* The table: one line per disk, the domain and state on its first. */
static void test_table(void **state)
{
	char *txt = tu_sh_out("cat '%s'", table_path);
	char want[4096];

	assert_true(!strncmp(txt, "DOMAIN", 6));
	assert_int_equal(tu_sh("grep -Eq '^running-vm +running +vda +vmdk +/' '%s'", table_path), 0);
	assert_int_equal(tu_sh("grep -Eq '^paused-vm +paused +vda +qcow2 ' '%s'", table_path), 0);
	assert_int_equal(tu_sh("grep -Eq '^sleeping-vm +pmsuspended ' '%s'", table_path), 0);
	assert_int_equal(tu_sh("grep -Eq '^ceph-vm +shut off +vda +raw +not readable: network disk \\(rbd ' '%s'",
			       table_path), 0);
	assert_int_equal(tu_sh("grep -Eq '^ +fda +- +skipped: floppy$' '%s'", table_path), 0);
	assert_int_equal(tu_sh("grep -Eq '^ +vdb +raw +.*/debian-bare.raw$' '%s'", table_path), 0);
	snprintf(want, sizeof(want), "%s/pool/clone-v.qcow2 (volume fleet/clone-v.qcow2)", fl.dir);
	assert_non_null(strstr(txt, want));
	/* 1 header + 12 disks + 2 skipped devices. */
	assert_string_equal(tu_kept(tu_sh_out("wc -l < '%s'", table_path)), "15");
	free(txt);
}

static void test_errors(void **state)
{
	char err[4096];

	snprintf(err, sizeof(err), "%s/err.txt", fl.dir);
	assert_int_equal(tu_sh("'%s' domains --connect test:///nonexistent/fleet.xml > '%s.out' 2> '%s'",
			       bin, err, err), 1);
	assert_string_equal(tu_kept(tu_sh_out("wc -l < '%s'", err)), "1");
	assert_int_equal(tu_sh("grep -q '^vm2oci: test:///nonexistent/fleet.xml: cannot connect: .' '%s'", err), 0);
	assert_string_equal(tu_kept(tu_sh_out("wc -c < '%s.out'", err)), "0");
	assert_int_equal(tu_sh("'%s' domains > /dev/null 2>&1", bin), 2);
	assert_int_equal(tu_sh("'%s' domains --connect '%s' extra > /dev/null 2>&1", bin, fl.uri), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_domains_and_states),
		cmocka_unit_test(test_json_file_disks_match_xml),
		cmocka_unit_test(test_json_special_disks),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests_name("vm2oci domains", tests, setup, teardown);
}
