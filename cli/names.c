/*
 * names.c - guest names on the command line's outputs, and guest names that
 * OCI would read as whiteouts.
 *
 * Text output escapes what a terminal or a log line cannot take (as ls -b and
 * git's quoting do); JSON carries every name: valid UTF-8 as it is, anything
 * else in the escaped text form plus the exact bytes in hex under KEY_hex.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char *cli_name(const char *s)
{
	/* A few slots so that one printf can show several names. */
	static char *slot[8];
	static unsigned next;
	char *e;

	if (!s)
		return "";
	e = ut_escape_name(s);
	if (!e)
		return "?";
	next = (next + 1) % (sizeof(slot) / sizeof(slot[0]));
	free(slot[next]);
	slot[next] = e;
	return e;
}

json_t *cli_json_name(const char *s)
{
	json_t *j;
	char *e;

	if (!s)
		return json_null();
	if (ut_utf8_valid(s) && (j = json_string(s)))
		return j;
	e = ut_escape_name(s);
	j = json_string(e ? e : "?");
	free(e);
	return j;
}

void cli_json_set_name(json_t *obj, const char *key, const char *s)
{
	json_object_set_new(obj, key, cli_json_name(s));
	if (s && !ut_utf8_valid(s)) {
		size_t len = strlen(s);
		char *hex = ut_malloc(2 * len + 1), *hkey = ut_asprintf("%s_hex", key);

		ut_hex((const unsigned char *)s, len, hex);
		json_object_set_new(obj, hkey, json_string(hex));
		free(hex);
		free(hkey);
	}
}

/* Adds "from": "to" members for each path whose own last component was
 * escaped; a child of a renamed directory is renamed with it. */
static void collect_renames(const struct ut_tree *t, struct ut_buf *map)
{
	size_t i;

	for (i = 0; t && i < t->n; i++) {
		const char *p = t->v[i].path;
		char *esc = ut_path_escape_whiteouts(p), *parent, *pesc;

		if (!esc)
			continue;
		parent = ut_strndup(p, ut_path_parent_len(p));
		pesc = ut_path_escape_whiteouts(parent);
		if (!pesc) {
			ut_buf_add(map, map->len > 1 ? ", " : "", map->len > 1 ? 2 : 0, NULL);
			ut_buf_add_json_string(map, p, NULL);
			ut_buf_add(map, ": ", 2, NULL);
			ut_buf_add_json_string(map, esc, NULL);
		}
		free(pesc);
		free(parent);
		free(esc);
	}
}

int cli_whiteout_names(const struct ut_tree *vm, const char *disk, const struct ut_tree *base_disk,
		       int rename, int *escape, char **label, struct ut_err *err)
{
	const struct ut_tree *trees[2] = { vm, base_disk };
	struct ut_buf map;
	size_t i, k;

	*escape = 0;
	*label = NULL;
	for (k = 0; k < 2; k++) {
		for (i = 0; trees[k] && i < trees[k]->n; i++) {
			if (!ut_path_whiteout_component(trees[k]->v[i].path))
				continue;
			if (!rename)
				return ut_err_set(err, "%s: /%s: a name beginning with \".wh.\" is a "
						  "whiteout to every OCI tool and cannot be carried as "
						  "itself; --rename-whiteout-names renames it",
						  k ? "base" : disk, cli_name(trees[k]->v[i].path));
			*escape = 1;
			break;
		}
	}
	if (!*escape)
		return 0;
	/* The label is a JSON object: each renamed guest path to its name in the image. */
	ut_buf_init(&map, 0);
	ut_buf_add(&map, "{", 1, NULL);
	collect_renames(vm, &map);
	ut_buf_add(&map, "}", 2, NULL);
	*label = ut_buf_detach(&map, NULL);
	return 0;
}
