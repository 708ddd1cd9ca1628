/*
 * mounts.c - --skip-mount: the mounts a user chose to leave out, and how an
 * image records them (a config label) so that verify and inspect can say so.
 */
#include "cli.h"
#include "diskread.h"

#include <jansson.h>
#include <stdlib.h>

void cli_skip_add(struct cli_skip *s, struct dr_disk_options *opt, const char *path)
{
	s->paths = ut_realloc(s->paths, (s->n + 1) * sizeof(*s->paths));
	s->paths[s->n++] = path;
	if (opt) {
		opt->skip_mounts = s->paths;
		opt->nskip_mounts = s->n;
	}
}

void cli_skip_release(struct cli_skip *s)
{
	free(s->paths);
	s->paths = NULL;
	s->n = 0;
}

void *cli_skipped_json(const struct dr_disk *d)
{
	size_t n, i;
	const char *const *sk = dr_disk_skipped_mounts(d, &n);
	json_t *a = json_array();

	for (i = 0; i < n; i++)
		json_array_append_new(a, cli_json_name(sk[i]));
	return a;
}

char *cli_skipped_label(const struct dr_disk *d)
{
	size_t n, i;
	const char *const *sk = dr_disk_skipped_mounts(d, &n);
	struct ut_buf b;

	if (!n)
		return NULL;
	ut_buf_init(&b, 0);
	ut_buf_addf(&b, NULL, "%s=", CLI_SKIPPED_LABEL);
	for (i = 0; i < n; i++)
		ut_buf_addf(&b, NULL, "%s%s", i ? "," : "", sk[i]);
	return (char *)ut_buf_detach(&b, NULL);
}

struct dr_disk_ref *cli_more_disks(char **argv, size_t n)
{
	struct dr_disk_ref *refs = n ? ut_calloc(n, sizeof(*refs)) : NULL;
	size_t i;

	for (i = 0; i < n; i++)
		refs[i].path = argv[i];
	return refs;
}
