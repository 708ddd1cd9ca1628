/*
 * test_image_bench.c - figures, not just checks: a real root filesystem
 * (VM2OCI_BENCH_ROOT, e.g. a debootstrap root) written as a zstd and a gzip
 * layer, against `tar | zstd -T2` and `tar | gzip` of the same tree; and the
 * base-tree cache, cold and warm. Skipped (77) without VM2OCI_BENCH_ROOT.
 */
#include "img_test.h"

#include <sys/resource.h>

/* CPU seconds (user + system) of this process, or of its waited-for children. */
static double cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double last_cpu;

static double timed_sh(const char *cmd, char **out)
{
	double t0 = ut_now(), c0 = cpu(RUSAGE_CHILDREN);

	*out = tu_sh_out("%s", cmd);
	last_cpu = cpu(RUSAGE_CHILDREN) - c0;
	return ut_now() - t0;
}

static void test_bench(void **state)
{
	const char *root = getenv("VM2OCI_BENCH_ROOT");
	char *tmp = tu_tmpdir(), *spec = ut_asprintf("rootfs:%s", root);
	char *blobs = ut_asprintf("%s/blobs", tmp), *cmd, *out;
	struct img_layer_result zr, gr;
	struct img_layer_options zo = { .compress = IMG_COMPRESS_ZSTD, .threads = 2 };
	struct img_layer_options go = { .compress = IMG_COMPRESS_GZIP };
	struct ut_err err = { "" };
	struct img_base *b = NULL;
	struct rusage ru;
	double tz, tg, pz, pg, cz, cg, cpz, cpg;
	uint64_t tar_peer, zpeer, gpeer;

	assert_int_equal(tu_sh("mkdir -p '%s'", blobs), 0);
	/* Everyone reads from the page cache: warm it first. */
	tu_sh("find '%s' -type f -print0 | xargs -0 cat > /dev/null 2>&1", root);
	assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
	tz = ut_now();
	cz = cpu(RUSAGE_SELF);
	if (img_base_rootfs_layer(b, blobs, &zo, &zr, &err) < 0)
		fail_msg("%s", err.msg);
	tz = ut_now() - tz;
	cz = cpu(RUSAGE_SELF) - cz;
	tg = ut_now();
	cg = cpu(RUSAGE_SELF);
	if (img_base_rootfs_layer(b, blobs, &go, &gr, &err) < 0)
		fail_msg("%s", err.msg);
	tg = ut_now() - tg;
	cg = cpu(RUSAGE_SELF) - cg;
	img_base_free(b);
	assert_string_equal(zr.diff_id, gr.diff_id);

	cmd = ut_asprintf("tar -C '%s' --sort=name --numeric-owner --xattrs -cf - . | wc -c", root);
	timed_sh(cmd, &out);
	tar_peer = strtoull(out, NULL, 10);
	free(out);
	free(cmd);
	cmd = ut_asprintf("tar -C '%s' --sort=name --numeric-owner --xattrs -cf - . | zstd -q -T2 -3 -c | wc -c",
			  root);
	pz = timed_sh(cmd, &out);
	cpz = last_cpu;
	zpeer = strtoull(out, NULL, 10);
	free(out);
	free(cmd);
	cmd = ut_asprintf("tar -C '%s' --sort=name --numeric-owner --xattrs -cf - . | gzip -6 -c | wc -c", root);
	pg = timed_sh(cmd, &out);
	cpg = last_cpu;
	gpeer = strtoull(out, NULL, 10);
	free(out);
	free(cmd);
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
		"tree: %llu files bytes, tar %llu bytes (GNU tar: %llu)\n"
		"vm2oci zstd -3 T2: %.2f s wall, %.2f s cpu (read %.2f, compress %.2f), %llu bytes, ratio %.3f\n"
		"tar | zstd -T2 -3: %.2f s wall, %.2f s cpu, %llu bytes, ratio %.3f\n"
		"vm2oci gzip -6:    %.2f s wall, %.2f s cpu (read %.2f, compress %.2f), %llu bytes, ratio %.3f\n"
		"tar | gzip -6:     %.2f s wall, %.2f s cpu, %llu bytes, ratio %.3f\n"
		"peak RSS of this process: %ld MiB\n",
		(unsigned long long)zr.content_bytes, (unsigned long long)zr.tar_bytes,
		(unsigned long long)tar_peer, tz, cz, zr.seconds_read, zr.seconds_compress,
		(unsigned long long)zr.blob.size, (double)zr.blob.size / (double)zr.tar_bytes, pz, cpz,
		(unsigned long long)zpeer, (double)zpeer / (double)tar_peer, tg, cg, gr.seconds_read,
		gr.seconds_compress, (unsigned long long)gr.blob.size,
		(double)gr.blob.size / (double)gr.tar_bytes, pg, cpg, (unsigned long long)gpeer,
		(double)gpeer / (double)tar_peer, ru.ru_maxrss / 1024);
	/* Same codec, same level, same data: sizes within a few percent. */
	assert_true(zr.blob.size < zpeer * 1.05 + 65536);
	assert_true(gr.blob.size < gpeer * 1.05 + 65536);

	/* The base-tree cache on an image of this tree. */
	{
		char *dir = ut_asprintf("%s/layout", tmp), *cache = ut_asprintf("%s/cache", tmp);
		struct img_layout *l = NULL;
		struct img_config cfg = { .created = -1 };
		char *diff = zr.diff_id;
		struct ut_tree *a = NULL, *c = NULL;
		double t0, cold, fill, warm;

		cfg.diff_ids = &diff;
		cfg.ndiff_ids = 1;
		assert_int_equal(img_layout_open(dir, &l, &err), 0);
		cmd = ut_asprintf("%s/%s", blobs, zr.blob.digest + 7);
		assert_int_equal(img_layout_import_blob(l, cmd, &zr.blob, &err), 0);
		free(cmd);
		assert_int_equal(img_layout_add_image(l, &cfg, &zr.blob, 1, "t", NULL, &err), 0);
		assert_int_equal(img_layout_commit(l, &err), 0);
		img_layout_free(l);
		assert_int_equal(tu_sh("mkdir -p '%s'", cache), 0);
		free(spec);
		spec = ut_asprintf("oci:%s:t", dir);
		assert_int_equal(img_base_open(spec, NULL, &b, &err), 0);
		t0 = ut_now();
		assert_int_equal(img_base_tree(b, NULL, &a, &err), 0);
		cold = ut_now() - t0;
		ut_tree_free(a);
		t0 = ut_now();
		assert_int_equal(img_base_tree(b, cache, &a, &err), 0);
		fill = ut_now() - t0;
		t0 = ut_now();
		assert_int_equal(img_base_tree(b, cache, &c, &err), 0);
		warm = ut_now() - t0;
		assert_int_equal(a->n, c->n);
		fprintf(stderr, "base tree of %zu entries: %.3f s streamed, %.3f s streamed+cached, %.4f s from the cache (%.0fx)\n",
			a->n, cold, fill, warm, cold / warm);
		ut_tree_free(a);
		ut_tree_free(c);
		img_base_free(b);
		/* The image runs: podman pulls the zstd layer and starts a shell. */
		if (tu_have("podman") && geteuid() == 0) {
			/* Named explicitly: podman would name it after the (mixed-case) path. */
			out = tu_sh_out("skopeo copy -q oci:%s:t containers-storage:localhost/vm2oci-image-bench:%d"
					" && podman --runtime runc --cgroup-manager=cgroupfs run --rm"
					" --ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
					" localhost/vm2oci-image-bench:%d /bin/sh -c 'echo ran-in-container' 2>&1;"
					" podman rmi -f localhost/vm2oci-image-bench:%d >/dev/null 2>&1",
					dir, (int)getpid(), (int)getpid(), (int)getpid());
			fprintf(stderr, "podman: %s", out);
			assert_non_null(strstr(out, "ran-in-container"));
			free(out);
		}
		free(dir);
		free(cache);
	}
	tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	free(spec);
	free(blobs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bench),
	};

	if (!getenv("VM2OCI_BENCH_ROOT"))
		tu_skip("set VM2OCI_BENCH_ROOT to a root filesystem directory to measure");
	return cmocka_run_group_tests_name("image: layer writer speed", tests, NULL, NULL);

}
