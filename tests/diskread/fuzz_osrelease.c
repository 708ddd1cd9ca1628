/*
 * fuzz_osrelease.c - libFuzzer target for the OS identity parsers: the
 * shell-style KEY=value reader of os-release and lsb-release, and the
 * one-line "X release N (Y)" files of older distributions. Both are static
 * in disk.c, which the target includes. Every value must come out
 * NUL-terminated within its field and free of control bytes (they reach
 * `inspect`'s output and image labels).
 *
 *   fuzz_osrelease -max_total_time=600 CORPUS_DIR tests/diskread/fuzz-seeds/osrelease
 */
#include "../../diskread/disk.c"

static void check_field(const char *s, size_t cap)
{
	size_t l = strnlen(s, cap);

	if (l == cap)
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			abort();
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "ID", "VERSION_ID", "PRETTY_NAME", "DISTRIB_ID",
					    "DISTRIB_RELEASE", "DISTRIB_DESCRIPTION" };
	char *text = ut_strndup((const char *)data, size);
	struct dr_os_info os;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		memset(&os, 0x5a, sizeof(os));
		os.distro[0] = '\0';
		if (kv_get(text, keys[i], os.distro, sizeof(os.distro)))
			check_field(os.distro, sizeof(os.distro));
		lower(os.distro);
		/* A small buffer, as for arch: truncation must still terminate. */
		if (kv_get(text, keys[i], os.arch, 4))
			check_field(os.arch, 4);
	}
	memset(&os, 0, sizeof(os));
	release_line(&os, text, "centos");
	check_field(os.pretty_name, sizeof(os.pretty_name));
	check_field(os.version, sizeof(os.version));
	free(text);
	return 0;
}
