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
	assert_string_equal(caps.auth_list, "PLAIN CRAM-MD5 login");

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
	    cmocka_unit_test(test_read_reply),
	    cmocka_unit_test(test_cmd),
	};

	return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
