/*
 * fuzz_runtime.c - libFuzzer harness for runtime/: the input, split at NUL
 * bytes, becomes the files of three small guest trees (systemd, OpenRC,
 * SysV) in memory: unit files, drop-ins, environment files, socket units,
 * daemon configurations, init scripts, inittab, passwd and group. Each tree
 * is read with rt_read and every service's command is built.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define NCHUNKS 12

struct chunks {
	const uint8_t *data[NCHUNKS];
	size_t len[NCHUNKS];
};

struct reader {
	size_t chunk, pos;
};

static int mem_open(void *ctx, const struct ut_entry *e, void **handle, struct ut_err *err)
{
	struct reader *r = calloc(1, sizeof(*r));

	(void)ctx;
	(void)err;
	r->chunk = e->src_a;
	*handle = r;
	return 0;
}

static ssize_t mem_read(void *ctx, void *handle, void *buf, size_t len, struct ut_err *err)
{
	const struct chunks *c = ctx;
	struct reader *r = handle;
	size_t left = c->len[r->chunk] - r->pos;

	(void)err;
	if (len > left)
		len = left;
	if (!len)
		return 0;
	memcpy(buf, c->data[r->chunk] + r->pos, len);
	r->pos += len;
	return (ssize_t)len;
}

static void mem_close(void *ctx, void *handle)
{
	(void)ctx;
	free(handle);
}

static const struct ut_content_ops mem_ops = {
	.open = mem_open, .read = mem_read, .close = mem_close,
};

static void add(struct ut_tree *t, const char *path, enum ut_ftype type, const char *link,
		const struct chunks *c, size_t chunk)
{
	struct ut_entry *e = ut_tree_add(t, path);

	e->type = (uint8_t)type;
	e->mode = type == UT_DIR ? 0755 : 0644;
	if (link)
		e->link = ut_strdup(link);
	if (type == UT_REG) {
		e->src_a = chunk;
		e->size = chunk < NCHUNKS ? c->len[chunk] : 0;
	}
}

static void dirs(struct ut_tree *t, const char *const *paths)
{
	add(t, "", UT_DIR, NULL, NULL, 0);
	for (size_t i = 0; paths[i]; i++)
		add(t, paths[i], UT_DIR, NULL, NULL, 0);
}

/* Every service's command, then free. */
static void exercise(struct ut_tree *t, struct chunks *c)
{
	struct ut_err err = { { 0 } };
	struct rt_info *info = NULL;
	struct rt_command cmd;
	const struct rt_service *net[4];

	t->content.ops = &mem_ops;
	t->content.ctx = c;
	ut_tree_sort(t);
	if (rt_read(t, &info, &err) == 0) {
		for (size_t i = 0; i < info->nservices; i++)
			if (rt_service_command(t, info, &info->services[i], &cmd, &err) == 0)
				rt_command_release(&cmd);
		if (rt_systemd_command(info, &cmd, &err) == 0)
			rt_command_release(&cmd);
		rt_network_services(info, net, 4);
		rt_find_service(t, info, "sshd", &err);
		rt_find_service(t, info, "other", &err);
	}
	rt_info_free(info);
	ut_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sd_dirs[] = {
		"etc", "etc/systemd", "etc/systemd/system", "etc/systemd/system/apache2.service.d",
		"etc/systemd/system/multi-user.target.wants", "etc/ssh", "etc/apache2",
		"etc/nginx", "lib", "lib/systemd", "lib/systemd/system", "usr", "usr/sbin", NULL,
	};
	static const char *const rc_dirs[] = {
		"etc", "etc/init.d", "etc/conf.d", "etc/rc.d", "etc/rc.d/rc3.d", "etc/ssh", "usr",
		"usr/sbin", NULL,
	};
	struct chunks c = { { 0 } };
	struct ut_tree *t;
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= size && k < NCHUNKS; i++)
		if (i == size || data[i] == 0) {
			c.data[k] = data + start;
			c.len[k++] = i - start;
			start = i + 1;
		}

	t = ut_tree_new();
	dirs(t, sd_dirs);
	add(t, "etc/systemd/system/apache2.service", UT_REG, NULL, &c, 0);
	add(t, "etc/systemd/system/apache2.service.d/x.conf", UT_REG, NULL, &c, 1);
	add(t, "etc/web.env", UT_REG, NULL, &c, 2);
	add(t, "etc/systemd/system/apache2.socket", UT_REG, NULL, &c, 3);
	add(t, "etc/ssh/sshd_config", UT_REG, NULL, &c, 4);
	add(t, "etc/apache2/ports.conf", UT_REG, NULL, &c, 5);
	add(t, "etc/nginx/nginx.conf", UT_REG, NULL, &c, 6);
	add(t, "etc/apache2/envvars", UT_REG, NULL, &c, 7);
	add(t, "etc/passwd", UT_REG, NULL, &c, 8);
	add(t, "etc/group", UT_REG, NULL, &c, 9);
	add(t, "lib/systemd/system/ssh.service", UT_REG, NULL, &c, 10);
	add(t, "lib/systemd/system/multi-user.target", UT_REG, NULL, &c, 11);
	add(t, "lib/systemd/system/default.target", UT_LNK, "multi-user.target", &c, 0);
	add(t, "etc/systemd/system/sshd.service", UT_LNK, "/lib/systemd/system/ssh.service", &c, 0);
	add(t, "etc/systemd/system/multi-user.target.wants/apache2.service", UT_LNK,
	    "../apache2.service", &c, 0);
	add(t, "etc/systemd/system/multi-user.target.wants/ssh.service", UT_LNK,
	    "/lib/systemd/system/ssh.service", &c, 0);
	add(t, "etc/systemd/system/multi-user.target.wants/loop.service", UT_LNK,
	    "loop.service", &c, 0);
	add(t, "usr/sbin/apache2", UT_REG, NULL, &c, NCHUNKS);
	add(t, "usr/sbin/sshd", UT_REG, NULL, &c, NCHUNKS);
	exercise(t, &c);

	/* OpenRC, then SysV: the same files as scripts, conf.d and inittab. */
	for (int sysv = 0; sysv < 2; sysv++) {
		t = ut_tree_new();
		dirs(t, rc_dirs);
		add(t, "etc/init.d/nginx", UT_REG, NULL, &c, 0);
		add(t, "etc/conf.d/nginx", UT_REG, NULL, &c, 1);
		add(t, "etc/init.d/sshd", UT_REG, NULL, &c, 2);
		add(t, "etc/ssh/sshd_config", UT_REG, NULL, &c, 4);
		add(t, "etc/passwd", UT_REG, NULL, &c, 8);
		if (sysv) {
			add(t, "etc/inittab", UT_REG, NULL, &c, 3);
			add(t, "etc/rc.d/rc3.d/S10nginx", UT_LNK, "../../init.d/nginx", &c, 0);
			add(t, "etc/rc.d/rc3.d/S20sshd", UT_LNK, "/etc/rc.d/rc3.d/S20sshd", &c, 0);
		} else {
			add(t, "etc/runlevels", UT_DIR, NULL, &c, 0);
			add(t, "etc/runlevels/default", UT_DIR, NULL, &c, 0);
			add(t, "etc/runlevels/default/nginx", UT_LNK, "/etc/init.d/nginx", &c, 0);
			add(t, "etc/runlevels/default/sshd", UT_LNK, "/etc/init.d/sshd", &c, 0);
		}
		exercise(t, &c);
	}
	return 0;
}
