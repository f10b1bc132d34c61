/* test_err.c — the sysexits mapping, first-error-wins, and sanitising. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sysexits.h>

#include <cmocka.h>

#include "core/err.h"

static void
test_exitcodes(void **state)
{
	static const struct {
		enum sx_class cls;
		int code;
	} map[] = {
	    {SX_OK, 0},
	    {SX_USAGE, EX_USAGE},
	    {SX_CONFIG, EX_CONFIG},
	    {SX_DATA, EX_DATAERR},
	    {SX_NOHOST, EX_NOHOST},
	    {SX_TEMP, EX_TEMPFAIL},
	    {SX_PERM, EX_UNAVAILABLE},
	    {SX_NOUSER, EX_NOUSER},
	    {SX_PROTO, EX_PROTOCOL},
	    {SX_AUTH, EX_NOPERM},
	    {SX_TLS, EX_UNAVAILABLE},
	    {SX_LOCALIO, EX_IOERR},
	    {SX_INTERNAL, EX_SOFTWARE},
	};
	size_t i;
	struct sx_err e;

	(void)state;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		sx_clear(&e);
		e.cls = map[i].cls;
		assert_int_equal(sx_exitcode(&e), map[i].code);
	}
}

static void
test_first_error_wins(void **state)
{
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	assert_int_equal(sx_fail(&e, SX_TEMP, STAGE_CONNECT, "first %d", 1), -1);
	assert_int_equal(sx_fail(&e, SX_PERM, STAGE_MAIL, "second"), -1);
	assert_int_equal(e.cls, SX_TEMP);
	assert_int_equal(e.stage, STAGE_CONNECT);
	assert_string_equal(e.detail, "first 1");
	assert_string_equal(sx_stage_name(e.stage), "connect");
	assert_string_equal(sx_stage_name(STAGE_EOM), "end-of-data");
	sx_hint(&e, "try %s", "587");
	assert_string_equal(e.hint, "try 587");
}

static void
test_sanitize(void **state)
{
	char out[16];
	struct sx_err e;

	(void)state;
	/* Escape sequences and CR cannot reach the terminal. */
	sx_sanitize(out, sizeof(out), "a\x1b[2Jb\r\nc", 9, 0);
	assert_string_equal(out, "a?[2Jb??c");
	sx_sanitize(out, sizeof(out), "x\ny", 3, 1);
	assert_string_equal(out, "x\ny");
	sx_sanitize(out, 4, "abcdef", 6, 0);
	assert_string_equal(out, "abc");
	sx_clear(&e);
	sx_fail(&e, SX_DATA, STAGE_INTAKE, "bad \x07 bell");
	assert_string_equal(e.detail, "bad ? bell");
	sx_set_reply(&e, 550, "5.1.1", "no\x1b such\nuser");
	assert_string_equal(e.reply, "no? such\nuser");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exitcodes),
	    cmocka_unit_test(test_first_error_wins),
	    cmocka_unit_test(test_sanitize),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
