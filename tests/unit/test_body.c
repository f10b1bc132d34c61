/*
 * test_body.c — the DATA encoder: CRLF normalisation, dot-stuffing and a
 * single end-of-data, checked at every chunk size so state carried across
 * chunk boundaries (a CR at the end of one chunk, a "." at the start of
 * the next) is exercised.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg/body.h"

/* Encode in chunks of size chunk (0: whole), return a malloc'ed string. */
static char *
encode(const char *in, size_t len, size_t chunk)
{
	char *out = malloc(BODY_ENC_MAX(len) + BODY_ENC_TAIL + 1);
	struct body_enc b;
	size_t off = 0, n = 0;

	assert_non_null(out);
	body_enc_init(&b);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (off < len) {
		size_t k = len - off < chunk ? len - off : chunk;

		n += body_enc_feed(&b, in + off, k, out + n);
		off += k;
	}
	n += body_enc_finish(&b, out + n);
	out[n] = '\0';
	return out;
}

static const struct {
	const char *in;
	const char *out;
} cases[] = {
    {"", ".\r\n"},
    {"a", "a\r\n.\r\n"},
    {"a\n", "a\r\n.\r\n"},
    {"a\r\n", "a\r\n.\r\n"},
    {"a\rb", "a\r\nb\r\n.\r\n"}, /* bare CR is a line break */
    {"a\n\nb\n", "a\r\n\r\nb\r\n.\r\n"},
    {".\n", "..\r\n.\r\n"}, /* a lone dot is stuffed */
    {".hidden\n", "..hidden\r\n.\r\n"},
    {"x\n.\n", "x\r\n..\r\n.\r\n"},
    {"x\n..\n", "x\r\n...\r\n.\r\n"},
    {"a.b\n", "a.b\r\n.\r\n"}, /* dots inside a line stay */
    /* SMTP smuggling lookalikes: none may end the data early. */
    {"x\n.\r\ny", "x\r\n..\r\ny\r\n.\r\n"},
    {"x\r.\ry", "x\r\n..\r\ny\r\n.\r\n"},
    {"x\n.\ny", "x\r\n..\r\ny\r\n.\r\n"},
    {"x\r\n.\ry\r\n", "x\r\n..\r\ny\r\n.\r\n"},
    {"x\r\r\n", "x\r\n\r\n.\r\n"}, /* CR CR LF: two breaks */
    {"\n", "\r\n.\r\n"},
    {"\r", "\r\n.\r\n"},
    {".", "..\r\n.\r\n"},
};

static void
test_table(void **state)
{
	size_t i, chunk;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (chunk = 0; chunk <= 5; chunk++) {
			char *out = encode(cases[i].in, strlen(cases[i].in), chunk);

			if (strcmp(out, cases[i].out) != 0)
				fail_msg("case %zu chunk %zu: got [%s] want [%s]", i, chunk, out,
				    cases[i].out);
			free(out);
		}
	}
}

/* Over random input: no bare CR/LF, exactly one end-of-data, at the end. */
static void
test_random_invariants(void **state)
{
	static const char alphabet[] = {'\r', '\n', '.', 'a', ' '};
	char in[64];
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len = (size_t)(seed % sizeof(in)), i, n;
		char *out;

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % sizeof(alphabet)];
		}
		seed = seed * 1103515245u + 12345u;
		out = encode(in, len, 1 + (seed >> 16) % 7);
		n = strlen(out);
		for (i = 0; i < n; i++) {
			if (out[i] == '\r')
				assert_true(i + 1 < n && out[i + 1] == '\n');
			if (out[i] == '\n')
				assert_true(i > 0 && out[i - 1] == '\r');
		}
		/* The terminator appears once: as the whole output or at its end only. */
		assert_true(n >= 3 && strcmp(out + n - 3, ".\r\n") == 0);
		if (n == 3)
			assert_string_equal(out, ".\r\n");
		else {
			char *p = strstr(out, "\r\n.\r\n");

			assert_non_null(p);
			assert_true(p == out + n - 5);
			assert_false(out[0] == '.' && out[1] == '\r');
		}
		free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_random_invariants),
	};

	return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
