/* test_err.c — the sysexits mapping, the setters, first-error-wins, and sanitising. */
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
		if (map[i].cls != SX_OK)
			sx_fail(&e, map[i].cls, STAGE_NONE, "x");
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
	sx_hint(&e, "try %s", "587");
	assert_int_equal(sx_fail(&e, SX_PERM, STAGE_MAIL, "second"), -1);
	assert_int_equal(e.cls, SX_TEMP);
	assert_int_equal(e.stage, STAGE_CONNECT);
	assert_string_equal(e.detail, "first 1");
	assert_string_equal(sx_stage_name(e.stage), "connect");
	assert_string_equal(sx_stage_name(STAGE_EOM), "end-of-data");
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

/*
 * Shown text keeps UTF-8 when the locale is UTF-8, never what could drive
 * the terminal or reorder the line: C1 controls, bidi overrides and
 * isolates, separators; broken UTF-8 is '?' per byte, as without UTF-8.
 */
static void
test_sanitize_text(void **state)
{
	char out[64];
	struct sx_err e;

	(void)state;
	sx_set_utf8(0);
	sx_sanitize_text(out, sizeof(out), "d\xc3\xb6rte", 6, 0);
	assert_string_equal(out, "d??rte");
	sx_set_utf8(1);
	sx_sanitize_text(out, sizeof(out), "d\xc3\xb6rte \xe2\x82\xac \xf0\x9f\x93\xa7", 15, 0);
	assert_string_equal(out, "d\xc3\xb6rte \xe2\x82\xac \xf0\x9f\x93\xa7");
	/* C1 (U+009B, a CSI), RLO U+202E, LRI U+2066, PDI U+2069, LRM U+200E, LS U+2028. */
	sx_sanitize_text(out, sizeof(out),
	    "a\xc2\x9b"
	    "b\xe2\x80\xae"
	    "c\xe2\x81\xa6"
	    "d\xe2\x81\xa9"
	    "e\xe2\x80\x8e"
	    "f\xe2\x80\xa8"
	    "g",
	    24, 0);
	assert_string_equal(out, "a?b?c?d?e?f?g");
	/* Overlong '/', a surrogate, beyond U+10FFFF, cut off, a stray continuation byte. */
	sx_sanitize_text(out, sizeof(out), "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xc3", 13, 0);
	assert_string_equal(out, "??|???|????|?");
	sx_sanitize_text(out, sizeof(out), "\x80x\x1b", 3, 0);
	assert_string_equal(out, "?x?");
	/* A character that does not fit whole is left out, never cut. */
	sx_sanitize_text(out, 4, "ab\xc3\xb6", 4, 0);
	assert_string_equal(out, "ab");
	/* Error details and replies are shown text. */
	sx_clear(&e);
	sx_fail(&e, SX_NOUSER, STAGE_RCPT, "recipient <%s> refused", "d\xc3\xb6rte@example.org");
	assert_string_equal(e.detail, "recipient <d\xc3\xb6rte@example.org> refused");
	sx_set_reply(&e, 550, "5.1.1", "Empf\xc3\xa4nger\n\xe2\x80\xae unbekannt");
	assert_string_equal(e.reply, "Empf\xc3\xa4nger\n? unbekannt");
	sx_set_utf8(0);
}

/* Each setter fills every field of its failure at once. */
static void
test_setters(void **state)
{
	struct sx_err e, from;

	(void)state;
	sx_clear(&e);
	assert_int_equal(sx_fail_errno(&e, SX_TEMP, STAGE_CONNECT, 111, "refused %s", "x"), -1);
	assert_int_equal(e.cls, SX_TEMP);
	assert_int_equal(e.stage, STAGE_CONNECT);
	assert_int_equal(e.sys_errno, 111);
	assert_string_equal(e.detail, "refused x");

	sx_clear(&e);
	assert_int_equal(sx_fail_gnutls(&e, SX_TLS, STAGE_TLS, -9, "handshake"), -1);
	assert_int_equal(e.gnutls_rc, -9);
	assert_int_equal(e.sys_errno, 0);

	sx_clear(&e);
	assert_int_equal(sx_fail_reply(&e, SX_PERM, STAGE_MAIL, 550, "5.7.1", "no\x1b\nway",
			     "refused %s (%d)", "sender", 550),
	    -1);
	assert_int_equal(e.reply_code, 550);
	assert_string_equal(e.enhanced, "5.7.1");
	assert_string_equal(e.reply, "no?\nway");
	assert_string_equal(e.detail, "refused sender (550)");

	/* A reply line that was no reply: code 0, no enhanced code. */
	sx_clear(&e);
	sx_fail_reply(&e, SX_PROTO, STAGE_EHLO, 0, NULL, "garbage", "malformed");
	assert_int_equal(e.reply_code, 0);
	assert_string_equal(e.enhanced, "");
	assert_string_equal(e.reply, "garbage");

	/* Adopt: the backend's stage-less error gets the stage; all else is kept. */
	sx_clear(&from);
	sx_fail_errno(&from, SX_TEMP, STAGE_NONE, 110, "timed out");
	sx_hint(&from, "later");
	sx_clear(&e);
	assert_int_equal(sx_adopt(&e, &from, STAGE_RCPT), -1);
	assert_int_equal(e.stage, STAGE_RCPT);
	assert_int_equal(e.sys_errno, 110);
	assert_string_equal(e.hint, "later");
	sx_append(&e, " (%d s)", 1);
	assert_string_equal(e.detail, "timed out (1 s)");
}

/*
 * Nothing overwrites an error once it is recorded: not another failure,
 * its errno or reply, nor the hint or words of a later step.
 */
static void
test_first_cause_kept(void **state)
{
	struct sx_err e, from;

	(void)state;
	sx_clear(&e);
	sx_fail_reply(&e, SX_PERM, STAGE_MAIL, 550, "5.7.1", "sender rejected", "refused sender");
	sx_hint(&e, "set from");
	sx_fail_errno(&e, SX_TEMP, STAGE_RCPT, 110, "no answer within 1 s");
	sx_hint(&e, "try later");
	sx_append(&e, " (more)");
	sx_fail_reply(&e, SX_PROTO, STAGE_RCPT, 0, NULL, "garbage", "malformed reply");
	sx_set_reply(&e, 0, NULL, "garbage");
	sx_fail_gnutls(&e, SX_TEMP, STAGE_RCPT, -9, "TLS read");
	sx_clear(&from);
	sx_fail(&from, SX_TEMP, STAGE_NONE, "lost");
	sx_adopt(&e, &from, STAGE_RCPT);
	sx_hint(&e, "adopted");
	assert_int_equal(e.cls, SX_PERM);
	assert_int_equal(e.stage, STAGE_MAIL);
	assert_int_equal(e.reply_code, 550);
	assert_string_equal(e.enhanced, "5.7.1");
	assert_string_equal(e.reply, "sender rejected");
	assert_string_equal(e.detail, "refused sender");
	assert_string_equal(e.hint, "set from");
	assert_int_equal(e.sys_errno, 0);
	assert_int_equal(e.gnutls_rc, 0);

	/* The first hint of an error stays. */
	sx_clear(&e);
	sx_fail(&e, SX_TLS, STAGE_TLS, "handshake");
	sx_hint(&e, "first");
	sx_hint(&e, "second");
	assert_string_equal(e.hint, "first");
	/* A note follows the hint's rules: first one stays, none on a stale error. */
	sx_note(&e, "facts\r\n");
	sx_note(&e, "more facts");
	assert_string_equal(e.note, "facts??");
	sx_fail(&e, SX_TEMP, STAGE_QUIT, "later");
	sx_clear(&from);
	sx_fail(&from, SX_TLS, STAGE_TLS, "refused");
	sx_note(&from, "the certificate");
	sx_clear(&e);
	sx_adopt(&e, &from, STAGE_TLS);
	assert_string_equal(e.note, "the certificate");
	/* No error, no hint. */
	sx_clear(&e);
	sx_hint(&e, "orphan");
	sx_note(&e, "orphan");
	assert_string_equal(e.note, "");
	sx_set_reply(&e, 550, NULL, "x");
	assert_int_equal(e.cls, SX_OK);
	assert_string_equal(e.hint, "");
	assert_int_equal(e.reply_code, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exitcodes),
	    cmocka_unit_test(test_first_error_wins),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_sanitize_text),
	    cmocka_unit_test(test_setters),
	    cmocka_unit_test(test_first_cause_kept),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
