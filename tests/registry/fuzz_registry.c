/*
 * fuzz_registry.c - libFuzzer target for what a registry, a token server or
 * an auth file hands the registry module. The first byte picks the parser,
 * the rest is its input: 0 a WWW-Authenticate header, 1 a token answer,
 * 2 an auth file (looked up for 127.0.0.1:5000 and repository team/app),
 * 3 a registry error body, 4 a manifest or index, 5 an image reference.
 * Errors are expected; crashes, leaks and sanitizer reports are the bugs.
 *
 *   fuzz_registry -max_total_time=600 CORPUS_DIR tests/registry/fuzz-seeds
 */
#include <stdint.h>
#include <string.h>

#include "reg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	struct ut_err err;

	if (!size)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct reg_challenge ch;

		if (reg_challenge_parse(in, len, &ch, &err) == 0)
			reg_challenge_release(&ch);
		break;
	}
	case 1: {
		char *token = NULL;

		reg_token_parse(in, len, &token, &err);
		free(token);
		break;
	}
	case 2: {
		char *user = NULL, *pass = NULL;

		reg_auth_file_lookup(in, len, "127.0.0.1:5000", "team/app", &user, &pass, &err);
		free(user);
		free(pass);
		break;
	}
	case 3: {
		struct ut_buf out;

		ut_buf_init(&out, 0);
		reg_error_text(in, len, &out);
		if (out.len && !ut_utf8_valid((char *)out.data))
			abort(); /* it goes into a message line as it is */
		ut_buf_release(&out);
		break;
	}
	case 4: {
		struct reg_manifest m;

		memset(&m, 0, sizeof(m));
		strcpy(m.digest, "sha256:fuzz");
		ut_buf_init(&m.bytes, REG_MAX_MANIFEST);
		ut_buf_add(&m.bytes, in, len, NULL);
		reg_manifest_parse(&m, &err);
		ut_buf_release(&m.bytes);
		free(m.blobs);
		free(m.base_name);
		break;
	}
	default: {
		char *s = ut_strndup(in, len);
		struct reg_ref r;

		if (reg_ref_parse(s, &r, &err) == 0)
			reg_ref_release(&r);
		free(s);
		break;
	}
	}
	return 0;
}
