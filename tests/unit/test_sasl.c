/* test_sasl.c — PLAIN/LOGIN encodings (RFC 4616 vectors) and mechanism choice. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/sasl.h"

static void
test_plain(void **state)
{
	struct sx_err e;
	char *b64;

	(void)state;
	sx_clear(&e);
	/* RFC 4616 section 4 example (empty authzid): "\0tim\0tanstaaftanstaaf". */
	assert_int_equal(sasl_plain("tim", "tanstaaftanstaaf", &b64, &e), 0);
	assert_string_equal(b64, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	sasl_free(b64);
	/* UTF-8, spaces, colon and base64 specials pass through unchanged. */
	assert_int_equal(sasl_plain("bob", "p\xc3\xa4 ss:w\xc3\xb6rd+/=", &b64, &e), 0);
	assert_string_equal(b64, "AGJvYgBww6Qgc3M6d8O2cmQrLz0=");
	sasl_free(b64);
	assert_int_equal(sasl_plain("", "", &b64, &e), 0);
	assert_string_equal(b64, "AAA=");
	sasl_free(b64);
}

static void
test_login_and_bounds(void **state)
{
	struct sx_err e;
	char *b64, big[2000];

	(void)state;
	sx_clear(&e);
	assert_int_equal(sasl_base64("alice", &b64, &e), 0);
	assert_string_equal(b64, "YWxpY2U=");
	sasl_free(b64);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sasl_plain("u", big, &b64, &e), -1);
	assert_null(b64);
	assert_int_equal(e.cls, SX_CONFIG);
}

static void
test_pick(void **state)
{
	(void)state;
	assert_int_equal(sasl_pick(SASL_NONE, 1, 1), SASL_PLAIN);
	assert_int_equal(sasl_pick(SASL_NONE, 0, 1), SASL_LOGIN);
	assert_int_equal(sasl_pick(SASL_NONE, 0, 0), SASL_NONE);
	assert_int_equal(sasl_pick(SASL_LOGIN, 1, 1), SASL_LOGIN);
	assert_int_equal(sasl_pick(SASL_LOGIN, 1, 0), SASL_NONE);
	assert_int_equal(sasl_pick(SASL_PLAIN, 0, 1), SASL_NONE);
	assert_string_equal(sasl_name(SASL_PLAIN), "PLAIN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_login_and_bounds),
	    cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
