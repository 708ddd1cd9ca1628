/*
 * test_e2e_batch.c - `vm2oci batch` on libvirt's test driver: the fleet of
 * tests/virt/fleet.h plus a domain whose /var is on its second disk, that
 * disk alone (no root) and two names that map to one tag. Every shut-off
 * domain converted and verified against its disks, the live ones refused by
 * name, the network disk, the corrupt disk and the rootless one failed
 * alone; the base stored once; a rerun redoes nothing;
 * kill -9 during `-j 2`, then a rerun, leaves a layout the peers (skopeo,
 * umoci) read and finishes the rest; a plan file converts one entry.
 */
#include "testkeep.h"
#include "virt/fleet.h"

static struct fleet fl;
static const char *bin;
static char *fixtures, opts[8192], json1[4096];

/* The converted domains, and the disks verify reads for each. */
static const char *const converted[] = { "clone-a", "clone-b", "clone-c", "pooled",
					 "unrelated", "two-disks", "split-var", "web-app",
					 "web_app" };
#define NCONVERTED (sizeof(converted) / sizeof(converted[0]))

static char *jq(const char *file, const char *filter)
{
	return tu_kept(tu_sh_out("jq -r '%s' '%s'", filter, file));
}

/* A guest whose fstab mounts /var by UUID from its second disk: small ext4
 * disks made with mke2fs -d from a hand-made root. */
static void make_split(FILE *f)
{
	const char *u1 = "3c7a4a5e-6f0b-5a2e-9d61-0a8c1b2f3e41", *u2 = "9e2d1f0c-8b7a-5c6d-a4e3-f2b1c0d9e8a7";
	char path[4096], var[4096];

	assert_int_equal(tu_sh("(set -e; d='%s/split'; mkdir -p $d/root/etc $d/root/usr/bin $d/root/var $d/var/lib/split; "
			       "printf 'UUID=%s / ext4 defaults 0 1\\nUUID=%s /var ext4 defaults 0 2\\n' > $d/root/etc/fstab; "
			       "printf 'ID=debian\\nVERSION_ID=12\\n' > $d/root/etc/os-release; cp /usr/bin/true $d/root/usr/bin/; "
			       "echo 'from the second disk' > $d/var/lib/split/marker; "
			       "E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -U %s -E root_owner=0:0 -d $d/root $d/root.raw 16M; "
			       "E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -U %s -E root_owner=0:0 -d $d/var $d/var.raw 8M; "
			       "qemu-img convert -O qcow2 $d/var.raw $d/var.qcow2 && rm $d/var.raw) > /dev/null",
			       fl.dir, u1, u2, u1, u2), 0);
	fleet_domain_open(f, "split-var", 5);
	snprintf(path, sizeof(path), "%s/split/root.raw", fl.dir);
	snprintf(var, sizeof(var), "%s/split/var.qcow2", fl.dir);
	fleet_file_disk(f, "raw", path, "vda", NULL);
	fleet_file_disk(f, "qcow2", var, "vdb", NULL);
	fleet_domain_close(f);
	/* its /var disk alone: readable, but no root: the worker fails */
	fleet_domain_open(f, "var-only", 5);
	fleet_file_disk(f, "qcow2", var, "vda", NULL);
	fleet_domain_close(f);
}

/* Two names, one tag: "web app" is no tag, "web-app" is its own. */
static void make_clash(FILE *f)
{
	char path[4096];

	assert_int_equal(tu_sh("qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s/web.qcow2'",
			       fl.template, fl.dir), 0);
	snprintf(path, sizeof(path), "%s/web.qcow2", fl.dir);
	fleet_domain_open(f, "web-app", 5);
	fleet_file_disk(f, "qcow2", path, "vda", NULL);
	fleet_domain_close(f);
	fleet_domain_open(f, "web app", 5);
	fleet_file_disk(f, "qcow2", path, "vda", NULL);
	fleet_domain_close(f);
}

/* fleet.h's node XML with our domains put in before its pool. */
static void extend_fleet(void)
{
	char *xml = tu_sh_out("cat '%s'", fl.xml), *pool = strstr(xml, "  <pool");
	FILE *f;

	assert_non_null(pool);
	f = fopen(fl.xml, "w");
	assert_non_null(f);
	fwrite(xml, 1, (size_t)(pool - xml), f);
	make_split(f);
	make_clash(f);
	fputs(pool, f);
	assert_int_equal(fclose(f), 0);
	free(xml);
}

static int setup(void **state)
{
	bin = getenv("VM2OCI_BINARY");
	if (!bin)
		tu_skip("VM2OCI_BINARY not set");
	if (!tu_have("jq") || !tu_have("mkfs.ext4") || !tu_have("skopeo"))
		tu_skip("jq, mkfs.ext4 or skopeo not found");
	fleet_make(&fl);
	extend_fleet();
	fixtures = tu_fixture_path("");
	/* The clones' backing file is the fixture template (outside their
	 * folder); sparse-1g.img in the clone is above the default size bound. */
	snprintf(opts, sizeof(opts), "--connect '%s' --base 'disk:%s' --backing-dir '%s' --max-file-size 2G --compress gzip",
		 fl.uri, fl.template, fixtures);
	snprintf(json1, sizeof(json1), "%s/first.json", fl.dir);
	return 0;
}

static int teardown(void **state)
{
	tu_kept_free();
	fleet_remove(&fl);
	free(fixtures);
	return 0;
}

/* The disks of domain name, as verify takes them (from the batch's JSON). */
static char *disks_of(const char *json, const char *name)
{
	char filter[512];

	snprintf(filter, sizeof(filter),
		 ".domains[] | select(.domain == \"%s\") | [.disks[].path | @sh] | join(\" \")", name);
	return jq(json, filter);
}

static void verify_tags(const char *layout, const char *json)
{
	size_t i;

	for (i = 0; i < NCONVERTED; i++) {
		char filter[256];
		const char *tag;

		snprintf(filter, sizeof(filter), ".domains[] | select(.domain == \"%s\") | .tag",
			 strcmp(converted[i], "web_app") ? converted[i] : "web app");
		tag = jq(json, filter);
		assert_int_equal(tu_sh("skopeo inspect 'oci:%s:%s' > /dev/null", layout, tag), 0);
		if (tu_have("umoci"))
			assert_int_equal(tu_sh("umoci stat --json --image '%s:%s' > /dev/null", layout, tag), 0);
		assert_int_equal(tu_sh("'%s' verify --quiet --max-file-size 2G --backing-dir '%s' 'oci:%s:%s' %s > /dev/null",
				       bin, fixtures, layout, tag,
				       disks_of(json, strcmp(converted[i], "web_app") ? converted[i] : "web app")),
				 0);
	}
}

/* The whole fleet, -j 2: who is converted, refused, failed, and why. */
static void test_fleet(void **state)
{
	char layout[4096];
	const char *base_layer;

	snprintf(layout, sizeof(layout), "%s/oci", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' -j 2 --json > '%s'", bin, opts, layout, json1),
			 3);
	assert_string_equal(jq(json1, "[.domains[] | select(.result == \"converted\") | .domain] | sort | join(\",\")"),
			    "clone-a,clone-b,clone-c,pooled,split-var,two-disks,unrelated,web app,web-app");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"running-vm\") | .result + \": \" + .reason"),
			    "refused: running: a live disk is not consistent");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"paused-vm\") | .result"), "refused");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"sleeping-vm\") | .result"), "refused");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"ceph-vm\") | .result + \" \" + (.reason | test(\"^disk vda: network disk \\\\(rbd\") | tostring)"),
			    "failed true");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"broken\") | .result + \" \" + (.reason | test(\"bad-l1.qcow2\") | tostring)"),
			    "failed true");
	assert_string_equal(jq(json1, ".totals | [.domains, .converted, .up_to_date, .refused, .failed] | map(tostring) | join(\" \")"),
			    "15 9 0 3 3");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"var-only\") | .result + \" \" + (.reason | test(\"no Linux root filesystem found\") | tostring)"),
			    "failed true");
	/* The clash: the valid name keeps its tag, the other is suffixed. */
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"web-app\") | .tag"), "web-app");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"web app\") | .tag + \" \" + .tag_note"),
			    "web-app-2 not a valid OCI tag, and 'web-app' is taken: tagged 'web-app-2'");
	/* Clones of the template: block; two disks: file. */
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"clone-a\") | .strategy"), "block");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"two-disks\") | .strategy"), "file");
	assert_string_equal(jq(json1, ".domains[] | select(.domain == \"two-disks\") | .warnings[] | select(test(\"disk 2 .*mounts nothing\")) | \"warned\""),
			    "warned");

	/* Stored once: every clone's first layer is the template's blob. */
	{
		char filter[8192], *one;

		snprintf(filter, sizeof(filter), "%s/blobs/sha256", layout);
		base_layer = tu_kept(tu_sh_out("m=$(jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"clone-a\") | .digest' '%s/index.json'); "
					       "jq -r '.layers[0].digest' '%s/'${m#sha256:}", layout, filter));
		assert_true(strlen(base_layer) == 71);
		one = tu_kept(tu_sh_out("cd '%s/blobs/sha256' && for m in $(jq -r '.manifests[].digest' ../../index.json); do "
					"jq -r '.layers[0].digest' ${m#sha256:}; done | sort | uniq -c | sort -rn | head -1 | awk '{print $1}'",
					layout));
		assert_true(atoi(one) >= 7); /* the clones, pooled, unrelated, two-disks, split-var, web-* */
		snprintf(filter, sizeof(filter), ".totals | .blob_bytes * 3 < .image_bytes_sum");
		assert_string_equal(jq(json1, filter), "true");
		fprintf(stderr, "fleet dedup: %s\n",
			jq(json1, ".totals | \"\\(.blob_bytes) bytes in blobs/ for \\(.image_bytes_sum) bytes of images\""));
	}
	/* /var comes from the second disk. */
	assert_int_equal(tu_sh("cd '%s/blobs/sha256' && m=$(jq -r '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"] == \"split-var\") | .digest' ../../index.json) && "
			       "l=$(jq -r '.layers[-1].digest' ${m#sha256:}) && tar -xzOf ${l#sha256:} var/lib/split/marker | grep -qx 'from the second disk'",
			       layout), 0);
	assert_int_equal(tu_sh("jq -e '.domains[] | select(.domain == \"split-var\") | .disks | length == 2' '%s' > /dev/null", json1), 0);
	verify_tags(layout, json1);
	/* inspect sees the same plan: /var on disk 2 */
	assert_string_equal(tu_kept(tu_sh_out("'%s' inspect --json '%s/split/root.raw' '%s/split/var.qcow2' | "
					      "jq -r '.mounts[] | .mountpoint + \" \" + (.disk | tostring)'", bin, fl.dir, fl.dir)),
			    "/ 1\n/var 2");
	/* Without its second disk the split guest does not verify. */
	assert_int_not_equal(tu_sh("'%s' verify --quiet 'oci:%s:split-var' '%s/split/root.raw' 2>/dev/null",
				   bin, layout, fl.dir), 0);
}

/* A rerun converts nothing; a changed disk is redone. */
static void test_rerun(void **state)
{
	char layout[4096], again[4096];

	snprintf(layout, sizeof(layout), "%s/oci", fl.dir);
	snprintf(again, sizeof(again), "%s/again.json", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' -j 2 --json > '%s'", bin, opts, layout, again), 3);
	assert_string_equal(jq(again, ".totals | [.converted, .up_to_date] | map(tostring) | join(\" \")"), "0 9");
	assert_string_equal(jq(again, ".domains[] | select(.domain == \"clone-a\") | .reason | test(\"holds an image of these disks\") | tostring"),
			    "true");
	/* The same images: index.json unchanged but for nothing. */
	assert_string_equal(jq(again, "[.domains[] | select(.result == \"up to date\") | .image_bytes] | add | tostring"),
			    jq(json1, "[.domains[] | select(.result == \"converted\") | .image_bytes] | add | tostring"));
	assert_int_equal(tu_sh("touch '%s/clone-b.qcow2'", fl.dir), 0);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' --domain clone-b --domain clone-a --json > '%s'", bin, opts, layout, again), 0);
	assert_string_equal(jq(again, "[.domains[] | .domain + \":\" + .result] | join(\",\")"),
			    "clone-a:up to date,clone-b:converted");
	/* Usage and connection errors. */
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' --domain no-such-vm 2>/dev/null", bin, opts, layout), 1);
	assert_int_equal(tu_sh("'%s' batch -o '%s' 2>/dev/null", bin, layout), 2);
}

/* kill -9 of a -j 2 batch (its workers die with it), the layout still read
 * by the peers, and a rerun that finishes the rest without redoing. */
static void test_kill_and_resume(void **state)
{
	char layout[4096], after[4096];
	int tags = 0, i;

	snprintf(layout, sizeof(layout), "%s/killed", fl.dir);
	snprintf(after, sizeof(after), "%s/after.json", fl.dir);
	assert_int_equal(tu_sh("setsid '%s' batch %s -o '%s' -j 2 --quiet > /dev/null 2>&1 & echo $! > '%s/batch.pid'",
			       bin, opts, layout, fl.dir), 0);
	for (i = 0; i < 1200 && tags < 1; i++) {
		usleep(50000);
		tags = atoi(tu_kept(tu_sh_out("jq '.manifests | length' '%s/index.json' 2>/dev/null || echo 0", layout)));
	}
	assert_int_equal(tu_sh("/bin/kill -9 -- -$(cat '%s/batch.pid')", fl.dir), 0);
	usleep(200000);
	tags = atoi(tu_kept(tu_sh_out("jq '.manifests | length' '%s/index.json'", layout)));
	fprintf(stderr, "killed with %d of %zu tags in index.json\n", tags, NCONVERTED);
	assert_true(tags >= 1 && tags < (int)NCONVERTED);
	/* Every tag the index names reads whole. */
	assert_int_equal(tu_sh("for t in $(jq -r '.manifests[].annotations[\"org.opencontainers.image.ref.name\"]' '%s/index.json'); do "
			       "skopeo inspect \"oci:%s:$t\" > /dev/null || exit 1; done", layout, layout), 0);
	/* oci-image-tool checks every ref of the layout (its `--ref name=T` filter
	 * wrongly finds "not unique" descriptors once three distinct manifests are
	 * listed, so the whole layout is validated instead). */
	if (tu_have("oci-image-tool"))
		assert_int_equal(tu_sh("oci-image-tool validate --type image '%s' > /dev/null", layout), 0);
	/* skopeo copy checks every blob against its digest */
	assert_int_equal(tu_sh("for t in $(jq -r '.manifests[].annotations[\"org.opencontainers.image.ref.name\"]' '%s/index.json'); do "
			       "rm -rf '%s/copy' && skopeo copy -q \"oci:%s:$t\" 'dir:%s/copy' || exit 1; done; rm -rf '%s/copy'",
			       layout, fl.dir, layout, fl.dir, fl.dir), 0);
	assert_int_equal(tu_sh("'%s' batch %s -o '%s' -j 2 --json > '%s'", bin, opts, layout, after), 3);
	assert_int_equal(atoi(jq(after, ".totals.up_to_date")), tags);
	assert_string_equal(jq(after, ".totals | .converted + .up_to_date | tostring"), "9");
	/* what the killed workers left is gone */
	assert_string_equal(tu_kept(tu_sh_out("find '%s' -name '*tmp*'", layout)), "");
	verify_tags(layout, after);
}

/* --plan-out, then one entry by --index and one by $SLURM_ARRAY_TASK_ID. */
static void test_plan(void **state)
{
	char plan[4096], layout[4096], out[4096];

	snprintf(plan, sizeof(plan), "%s/plan.jsonl", fl.dir);
	snprintf(layout, sizeof(layout), "%s/planned", fl.dir);
	snprintf(out, sizeof(out), "%s/planned.json", fl.dir);
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-a --domain clone-c --domain running-vm --plan-out '%s' 2>/dev/null",
			       bin, opts, plan), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '.domain + \" \" + .tag + \" \" + .strategy + \" \" + .disks[0].format' '%s'", plan)),
			    "clone-a clone-a auto qcow2\nclone-c clone-c auto qcow2");
	assert_string_equal(tu_kept(tu_sh_out("jq -r '.base' '%s' | sort -u | sed 's|^disk:||'", plan)),
			    fl.template);
	assert_int_equal(tu_sh("'%s' batch --plan '%s' --index 1 -o '%s' --backing-dir '%s' --max-file-size 2G --json > '%s'",
			       bin, plan, layout, fixtures, out), 0);
	assert_string_equal(jq(out, ".domains[0].domain + \" \" + .domains[0].result"), "clone-c converted");
	assert_int_equal(tu_sh("SLURM_ARRAY_TASK_ID=0 '%s' batch --plan '%s' -o '%s' --backing-dir '%s' --max-file-size 2G --quiet > /dev/null",
			       bin, plan, layout, fixtures), 0);
	assert_string_equal(tu_kept(tu_sh_out("jq -r '[.manifests[].annotations[\"org.opencontainers.image.ref.name\"]] | join(\",\")' '%s/index.json'", layout)),
			    "clone-a,clone-c");
	assert_int_equal(tu_sh("env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX '%s' batch --plan '%s' -o '%s' 2>/dev/null",
			       bin, plan, layout), 2);
	assert_int_equal(tu_sh("'%s' batch --plan '%s' --index 2 -o '%s' 2>/dev/null", bin, plan, layout), 1);

	/* The plan's strategy applies (auto would take block for this clone),
	 * unless --strategy is given; a plan naming no known strategy fails. */
	assert_int_equal(tu_sh("'%s' batch %s --domain clone-a --strategy file --plan-out '%s.file' 2>/dev/null",
			       bin, opts, plan), 0);
	assert_int_equal(tu_sh("'%s' batch --plan '%s.file' --index 0 -o '%s-file' --backing-dir '%s' --max-file-size 2G --json > '%s'",
			       bin, plan, layout, fixtures, out), 0);
	assert_string_equal(jq(out, ".domains[0].strategy"), "file");
	assert_int_equal(tu_sh("'%s' batch --plan '%s.file' --index 0 --strategy auto -o '%s-auto' --backing-dir '%s' --max-file-size 2G --json > '%s'",
			       bin, plan, layout, fixtures, out), 0);
	assert_string_equal(jq(out, ".domains[0].strategy"), "block");
	assert_int_equal(tu_sh("jq -c '.strategy = \"fast\"' '%s.file' > '%s.bad'", plan, plan), 0);
	assert_int_equal(tu_sh("'%s' batch --plan '%s.bad' --index 0 -o '%s-bad' 2> '%s'", bin, plan, layout, out), 1);
	assert_non_null(strstr(tu_kept(tu_sh_out("cat '%s'", out)), "\"strategy\" is block, file or auto, not 'fast'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet),
		cmocka_unit_test(test_rerun),
		cmocka_unit_test(test_kill_and_resume),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests_name("e2e_batch", tests, setup, teardown);
}
