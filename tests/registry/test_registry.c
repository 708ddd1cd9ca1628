/*
 * test_registry.c - the registry module's parsers, on the texts registries,
 * token servers and podman/docker auth files really hold (the forms in the
 * distribution spec, the docker token spec and containers-auth.json(5)),
 * and on broken ones. The push itself is tested end to end against
 * docker-registry in tests/cli/test_e2e_push.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "reg_internal.h"

static void test_ref(void **state)
{
	struct reg_ref r;
	struct ut_err err;

	(void)state;
	assert_int_equal(reg_ref_parse("docker://127.0.0.1:5000/team/app:v1", &r, &err), 0);
	assert_string_equal(r.host, "127.0.0.1:5000");
	assert_string_equal(r.repo, "team/app");
	assert_string_equal(r.tag, "v1");
	assert_null(r.digest);
	reg_ref_release(&r);
	assert_int_equal(reg_ref_parse("localhost/a__b/c--d.e_f", &r, &err), 0);
	assert_string_equal(r.repo, "a__b/c--d.e_f");
	assert_string_equal(r.tag, "latest");
	reg_ref_release(&r);
	assert_int_equal(reg_ref_parse("docker://h:1/x@sha256:0cabbe99db86db3f17ceb14eb9dc16d0da48ad312b24854d0c0fdd79e72e5ae1",
				       &r, &err), 0);
	assert_null(r.tag);
	assert_string_equal(r.digest, "sha256:0cabbe99db86db3f17ceb14eb9dc16d0da48ad312b24854d0c0fdd79e72e5ae1");
	reg_ref_release(&r);
	/* what the grammar refuses */
	assert_int_equal(reg_ref_parse("docker://h/App:v1", &r, &err), -1);
	assert_non_null(strstr(err.msg, "repository 'App'"));
	assert_int_equal(reg_ref_parse("docker://h/a//b", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://h/a-:v1", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://h/a___b", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://h/a:.v1", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://h/a@sha256:00", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://noslash", &r, &err), -1);
	assert_int_equal(reg_ref_parse("docker://h o/a", &r, &err), -1);
}

static int parse_challenge(const char *s, struct reg_challenge *ch)
{
	struct ut_err err;

	return reg_challenge_parse(s, strlen(s), ch, &err);
}

static void test_challenge(void **state)
{
	static const char bearer[] =
		"Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
		"scope=\"repository:team/app:pull,push\"";
	struct reg_challenge ch;
	struct ut_err err;

	(void)state;
	assert_int_equal(reg_challenge_parse(bearer, strlen(bearer), &ch, &err), 0);
	assert_string_equal(ch.scheme, "bearer");
	assert_string_equal(ch.realm, "https://auth.example.com/token");
	assert_string_equal(ch.service, "registry.example.com");
	assert_string_equal(ch.scope, "repository:team/app:pull,push");
	reg_challenge_release(&ch);
	/* docker-registry's htpasswd answer; an escaped quote; a second challenge */
	assert_int_equal(parse_challenge("Basic realm=\"a\\\"b\", Bearer realm=\"x\"", &ch), 0);
	assert_string_equal(ch.scheme, "basic");
	assert_string_equal(ch.realm, "a\"b");
	assert_null(ch.service);
	reg_challenge_release(&ch);
	/* token68-style and unquoted values */
	assert_int_equal(parse_challenge("BEARER realm=https://x/t , service=s", &ch), 0);
	assert_string_equal(ch.realm, "https://x/t");
	assert_string_equal(ch.service, "s");
	reg_challenge_release(&ch);
	assert_int_equal(reg_challenge_parse("Bearer realm=\"open", 18, &ch, &err), -1);
	assert_non_null(strstr(err.msg, "unterminated"));
	assert_int_equal(reg_challenge_parse("", 0, &ch, &err), -1);
	assert_int_equal(reg_challenge_parse("Bearer \"x\"", 10, &ch, &err), -1);
}

static void test_token(void **state)
{
	static const char both[] = "{\"token\":\"t1\",\"access_token\":\"t2\",\"expires_in\":300}";
	char *t;
	struct ut_err err;

	(void)state;
	assert_int_equal(reg_token_parse(both, strlen(both), &t, &err), 0);
	assert_string_equal(t, "t1");
	free(t);
	assert_int_equal(reg_token_parse("{\"access_token\":\"t2\"}", 21, &t, &err), 0);
	assert_string_equal(t, "t2");
	free(t);
	assert_int_equal(reg_token_parse("{\"token\":\"\"}", 12, &t, &err), -1);
	assert_int_equal(reg_token_parse("{\"token\":\"a\\r\\nX: y\"}", 21, &t, &err), -1);
	assert_non_null(strstr(err.msg, "0x0d"));
	assert_int_equal(reg_token_parse("[1]", 3, &t, &err), -1);
	assert_int_equal(reg_token_parse("{", 1, &t, &err), -1);
}

static int lookup(const char *json, const char *host, const char *repo, char **u, char **p)
{
	struct ut_err err;

	return reg_auth_file_lookup(json, strlen(json), host, repo, u, p, &err);
}

static void test_auth_file(void **state)
{
	/* alice:s3cret, bob:pw:with:colons; podman writes repo-scoped keys */
	static const char file[] =
		"{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6czNjcmV0\"},"
		"\"127.0.0.1:5000/team\":{\"auth\":\"Ym9iOnB3OndpdGg6Y29sb25z\"},"
		"\"https://reg.example.com/v1/\":{\"auth\":\"YWxpY2U6czNjcmV0\"}},"
		"\"credHelpers\":{\"x\":\"y\"}}";
	static const char nocolon[] = "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}";
	char *u, *p;
	struct ut_err err;

	(void)state;
	assert_int_equal(lookup(file, "127.0.0.1:5000", "team/app", &u, &p), 1);
	assert_string_equal(u, "bob");
	assert_string_equal(p, "pw:with:colons");
	free(u);
	free(p);
	assert_int_equal(lookup(file, "127.0.0.1:5000", "teams/app", &u, &p), 1);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "s3cret");
	free(u);
	free(p);
	assert_int_equal(lookup(file, "reg.example.com", "a", &u, &p), 1);
	assert_string_equal(u, "alice");
	free(u);
	free(p);
	assert_int_equal(lookup(file, "127.0.0.1:500", "a", &u, &p), 0);
	assert_null(u);
	assert_int_equal(lookup("{\"credsStore\":\"pass\"}", "h", "a", &u, &p), 0);
	assert_int_equal(lookup("{\"auths\":{\"h\":{\"auth\":\"!!\"}}}", "h", "a", &u, &p), -1);
	assert_int_equal(reg_auth_file_lookup(nocolon, strlen(nocolon), "h", "a", &u, &p, &err), -1);
	assert_non_null(strstr(err.msg, "USER:PASSWORD"));
	assert_int_equal(lookup("{\"auths\":[]}", "h", "a", &u, &p), -1);
}

static void test_base64(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	struct ut_buf b;
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++) {
		char *e = ut_base64_encode(plain[i], strlen(plain[i]));

		assert_string_equal(e, coded[i]); /* RFC 4648's test vectors */
		ut_buf_init(&b, 0);
		assert_int_equal(ut_base64_decode(e, strlen(e), &b, NULL), 0);
		assert_int_equal(b.len, strlen(plain[i]));
		assert_memory_equal(b.len ? (char *)b.data : "", plain[i], b.len);
		ut_buf_release(&b);
		free(e);
	}
}

static void test_error_text(void **state)
{
	static const char body[] =
		"{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did not match\"},"
		"{\"code\":\"X\",\"message\":\"line\\nbreak\\u001b[31m\"}]}";
	struct ut_buf out;

	(void)state;
	ut_buf_init(&out, 0);
	assert_int_equal(reg_error_text(body, strlen(body), &out), 1);
	assert_string_equal((char *)out.data,
			    "DIGEST_INVALID: provided digest did not match; X: line\\nbreak\\x1b[31m");
	ut_buf_release(&out);
	ut_buf_init(&out, 0);
	assert_int_equal(reg_error_text("<html>", 6, &out), 0);
	assert_int_equal(out.len, 0);
	ut_buf_release(&out);
}

/* Credentials go to the registry's origin only, not to a host a Location
 * header names. */
static void test_same_origin(void **state)
{
	(void)state;
	assert_true(reg_same_origin("https://h:1/v2/a/blobs/uploads/x?_state=y", "https://h:1"));
	assert_true(reg_same_origin("https://h:1", "https://h:1"));
	assert_true(reg_same_origin("https://h:1?x", "https://h:1"));
	assert_false(reg_same_origin("https://h:10/v2/", "https://h:1"));
	assert_false(reg_same_origin("https://h:1@evil.example/v2/", "https://h:1"));
	assert_false(reg_same_origin("https://h:1.evil.example/", "https://h:1"));
	assert_false(reg_same_origin("http://h:1/v2/", "https://h:1"));
	assert_false(reg_same_origin("https://s3.example/bucket", "https://h:1"));
	assert_false(reg_same_origin("https://h:1/", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_same_origin),
	};

	return cmocka_run_group_tests_name("registry parsers", tests, NULL, NULL);
}
