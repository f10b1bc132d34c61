/*
 * test_reply.c — the protocol's text without a session: reply lines,
 * EHLO capabilities (both AUTH forms, SIZE), and the reader and writer
 * over the scripted transport.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_conn.h"
#include "smtp/reply.h"

static void
test_reply_parser(void **state)
{
	int code, last;
	const char *text;

	(void)state;
	assert_int_equal(smtp_parse_reply_line("250 ok", 6, &code, &last, &text), 0);
	assert_int_equal(code, 250);
	assert_int_equal(last, 1);
	assert_string_equal(text, "ok");
	assert_int_equal(smtp_parse_reply_line("250-ok", 6, &code, &last, &text), 0);
	assert_int_equal(last, 0);
	assert_int_equal(smtp_parse_reply_line("354", 3, &code, &last, &text), 0);
	assert_int_equal(code, 354);
	assert_int_equal(last, 1);
	assert_int_equal(smtp_parse_reply_line("25", 2, &code, &last, &text), -1);
	assert_int_equal(smtp_parse_reply_line("2a0 x", 5, &code, &last, &text), -1);
	assert_int_equal(smtp_parse_reply_line("250_x", 5, &code, &last, &text), -1);
	assert_int_equal(smtp_parse_reply_line("600 x", 5, &code, &last, &text), -1);
}

static void
test_caps_parser(void **state)
{
	struct smtp_reply r;
	struct smtp_caps caps;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.code = 250;
	strlcpy(r.text,
	    "mx.example greets you\nPIPELINING\nsize 2048\nAUTH=PLAIN\nAUTH CRAM-MD5 login\n"
	    "8BITMIME\nSMTPUTF8\nCHUNKING\nDSN\nENHANCEDSTATUSCODES\nSTARTTLS",
	    sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.pipelining && caps.eightbitmime && caps.smtputf8 && caps.chunking &&
		    caps.dsn && caps.enhancedstatuscodes && caps.starttls);
	assert_int_equal(caps.size, 2048);
	assert_true(caps.auth && caps.auth_plain && caps.auth_login);
	/* Names are shown in upper case (RFC 4422 spells them so). */
	assert_string_equal(caps.auth_list, "PLAIN CRAM-MD5 LOGIN");
	assert_int_equal(caps.auth_dropped, 0);

	strlcpy(r.text, "mx\nSIZE\nSIZE junk", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.size_offered);
	assert_int_equal(caps.size, 0);
	assert_false(caps.pipelining);
	/* The greeting line never counts as a keyword. */
	strlcpy(r.text, "STARTTLS", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_false(caps.starttls);
}

/*
 * Capabilities are read per line, the keyword ending at a space or '=':
 * the old "AUTH=LOGIN PLAIN" form offers LOGIN and PLAIN.
 */
static void
test_caps_auth_old_form(void **state)
{
	struct smtp_reply r;
	struct smtp_caps caps;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.code = 250;
	strlcpy(r.text, "mx.example\nAUTH=LOGIN PLAIN\nSIZE=1000", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.auth);
	assert_true(caps.auth_login);
	assert_true(caps.auth_plain);
	assert_string_equal(caps.auth_list, "LOGIN PLAIN");
	assert_true(caps.size_offered);
	assert_int_equal(caps.size, 1000);

	/* Both forms, as servers send them for old clients: each mechanism once. */
	strlcpy(r.text, "mx.example\nAUTH=LOGIN\nAUTH PLAIN LOGIN\nSIZE 52428800", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.auth && caps.auth_login && caps.auth_plain);
	assert_string_equal(caps.auth_list, "LOGIN PLAIN");
	assert_int_equal(caps.size, 52428800);

	/* A keyword only starts the line: "AUTHX" or "SIZED" are not ours. */
	strlcpy(r.text, "mx.example\nAUTHX=PLAIN\nSIZED 10", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_false(caps.auth);
	assert_false(caps.size_offered);
}

/*
 * AUTH mechanism names are SASL names (RFC 4422 3.1: 1-20 of A-Z 0-9 - _):
 * escape sequences, CR, bidi overrides or overlong words are not kept, so
 * the list --check and -v print holds none of them; they are counted.
 */
static void
test_caps_auth_hostile(void **state)
{
	struct smtp_reply r;
	struct smtp_caps caps;
	char desc[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.code = 250;
	strlcpy(r.text,
	    "mx.example\nAUTH PLAIN \x1b[31mEVIL\x1b[0m CRAM\rMD5 \xe2\x80\xaeNIGOL login "
	    "ABCDEFGHIJKLMNOPQRSTU SCRAM-SHA-256 x_y \x9b"
	    "2J\nAUTH=\x1b]0;title\x07 XOAUTH2",
	    sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.auth && caps.auth_plain && caps.auth_login);
	assert_string_equal(caps.auth_list, "PLAIN LOGIN SCRAM-SHA-256 X_Y XOAUTH2");
	/* ESC[31m…, CR, U+202E, 21 letters, CSI, OSC: six dropped. */
	assert_int_equal(caps.auth_dropped, 6);
	smtp_caps_describe(&caps, desc, sizeof(desc));
	assert_string_equal(
	    desc, "AUTH PLAIN LOGIN SCRAM-SHA-256 X_Y XOAUTH2 (6 malformed names ignored)");

	/* Twenty characters is the longest name. */
	strlcpy(r.text, "mx\nAUTH ABCDEFGHIJKLMNOPQRST", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_string_equal(caps.auth_list, "ABCDEFGHIJKLMNOPQRST");
	/* Nothing valid at all: AUTH is still offered, the list is empty. */
	strlcpy(r.text, "mx\nAUTH \x1b[2J", sizeof(r.text));
	smtp_caps_parse(&r, &caps);
	assert_true(caps.auth);
	assert_false(caps.auth_plain || caps.auth_login);
	assert_string_equal(caps.auth_list, "");
	smtp_caps_describe(&caps, desc, sizeof(desc));
	assert_string_equal(desc, "AUTH (1 malformed name ignored)");
}

/* Every byte of reply text that is not printable ASCII is replaced when read. */
static void
test_read_reply_sanitised(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_REPLY,
		"220 mx \x1b[31mred\x1b[0m \x1b]0;owned\x07 CR\rhere \xe2\x80\xae\x9b\tx\r\n"},
	    {FK_REPLY, "250-mx\r\n250-AUTH PLAIN \x1b[2J\r\n250 SIZE 10\r\n"},
	    {FK_END, NULL},
	};
	struct fake_conn f;
	struct conn c;
	struct smtp_reply r;
	struct sx_err e;

	(void)state;
	fake_conn_setup(&f, &c, steps, 3);
	sx_clear(&e);
	assert_int_equal(smtp_read_reply(&c, STAGE_GREETING, &r, &e), 0);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "mx ?[31mred?[0m ?]0;owned? CR?here ???? x");
	assert_int_equal(smtp_read_reply(&c, STAGE_EHLO, &r, &e), 0);
	assert_string_equal(r.text, "mx\nAUTH PLAIN ?[2J\nSIZE 10");
	fake_conn_assert_done(&f);
	conn_close(&c, 0);
	fake_conn_free(&f);
}

/* A whole reply over the transport, one byte per read: lines joined, enhanced code kept. */
static void
test_read_reply(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_REPLY, "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n"},
	    {FK_REPLY, "550 5.1.1 <x@example.org>: unknown\r\n"},
	    {FK_REPLY, "garbage\r\n"},
	    {FK_END, NULL},
	};
	struct fake_conn f;
	struct conn c;
	struct smtp_reply r;
	struct sx_err e;

	(void)state;
	fake_conn_setup(&f, &c, steps, 1);
	sx_clear(&e);
	assert_int_equal(smtp_read_reply(&c, STAGE_EHLO, &r, &e), 0);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.text, "mx.example\nPIPELINING\nSIZE 10");
	assert_string_equal(r.enhanced, "");
	assert_int_equal(smtp_read_reply(&c, STAGE_RCPT, &r, &e), 0);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	/* Not a reply: the caller's stage, code 0, the line kept as evidence. */
	assert_int_equal(smtp_read_reply(&c, STAGE_RCPT, &r, &e), -1);
	assert_int_equal(e.cls, SX_PROTO);
	assert_int_equal(e.stage, STAGE_RCPT);
	assert_int_equal(e.reply_code, 0);
	assert_string_equal(e.reply, "garbage");
	fake_conn_assert_done(&f);
	conn_close(&c, 0);
	fake_conn_free(&f);
}

/* Commands are queued with CRLF; CR, LF or NUL from an argument refuse the command. */
static void
test_cmd(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_EXPECT, "MAIL FROM:<a@example.org>\r\n"},
	    {FK_END, NULL},
	};
	struct fake_conn f;
	struct conn c;
	struct sx_err e;

	(void)state;
	fake_conn_setup(&f, &c, steps, 0);
	sx_clear(&e);
	assert_int_equal(
	    smtp_cmd(&c, STAGE_MAIL, 0, &e, "MAIL FROM:<%s>", "a@example.org>\r\nDATA"), -1);
	assert_int_equal(e.cls, SX_DATA);
	assert_int_equal(e.stage, STAGE_MAIL);
	sx_clear(&e);
	assert_int_equal(smtp_cmd(&c, STAGE_MAIL, 0, &e, "MAIL FROM:<%s>", "a@example.org"), 0);
	assert_int_equal(conn_flush(&c, STAGE_MAIL, &e), 0);
	fake_conn_assert_done(&f);
	conn_close(&c, 0);
	fake_conn_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_parser),
	    cmocka_unit_test(test_caps_parser),
	    cmocka_unit_test(test_caps_auth_old_form),
	    cmocka_unit_test(test_caps_auth_hostile),
	    cmocka_unit_test(test_read_reply_sanitised),
	    cmocka_unit_test(test_read_reply),
	    cmocka_unit_test(test_cmd),
	};

	return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
