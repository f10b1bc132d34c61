/* test_diag.c — the lines on stderr: text as it always was, or one JSON object each. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "fake_conn.h"

struct capture {
	char *buf;
	size_t len;
	FILE *fp;
	struct diag d;
};

static void
cap_open(struct capture *c, int verbose, int json)
{
	memset(c, 0, sizeof(*c));
	c->fp = open_memstream(&c->buf, &c->len);
	assert_non_null(c->fp);
	diag_init(&c->d, c->fp, verbose, json);
}

/*
 * What was written, each line's "{"ts":"…","t_ms":N," cut to "{" (the
 * times vary), after checking the wall clock's form: RFC 3339, UTC, ms.
 */
static const char *
cap_text(struct capture *c)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	char *p, *q;
	size_t i;

	fflush(c->fp);
	for (p = c->buf; (p = strstr(p, "{\"ts\":\"")) != NULL; p++) {
		q = p + strlen("{\"ts\":\"");
		for (i = 0; form[i] != '\0'; i++)
			assert_true(form[i] == 'd' ? q[i] >= '0' && q[i] <= '9' : q[i] == form[i]);
		assert_memory_equal(q + i, "\",\"t_ms\":", 9);
		q = strchr(q + i + 9, ',');
		assert_non_null(q);
		memmove(p + 1, q + 1, strlen(q + 1) + 1);
	}
	return c->buf;
}

static void
cap_close(struct capture *c)
{
	fclose(c->fp);
	free(c->buf);
}

static void
test_say_text(void **state)
{
	struct capture c;
	struct diag_field f = {"id", "abc", 0};

	(void)state;
	cap_open(&c, 0, 0);
	diag_say(&c.d, "result", STAGE_QUEUE, &f, 1, "%s: deferred: %s", "abc", "why");
	diag_say(&c.d, "summary", STAGE_QUEUE, NULL, 0, "queue: %u sent", 2u);
	assert_string_equal(cap_text(&c), "smtps-send: abc: deferred: why\n"
					  "smtps-send: queue: 2 sent\n");
	cap_close(&c);
}

static void
test_say_json(void **state)
{
	struct capture c;
	struct diag_field f[] = {{"id", "abc", 0}, {"sent", NULL, 3}, {"to", "a\"b\\c\033d", 0}};

	(void)state;
	cap_open(&c, 0, 1);
	diag_say(&c.d, "summary", STAGE_QUEUE, f, 3, "queue: \"3\" sent\033[2J");
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"summary\",\"stage\":\"queue\",\"msg\":\"queue: \\\"3\\\" sent?[2J\","
	    "\"id\":\"abc\",\"sent\":3,\"to\":\"a\\\"b\\\\c\\u001bd\"}\n");
	cap_close(&c);
}

static void
test_stage_event(void **state)
{
	struct capture c;
	struct diag_field f = {"interval", NULL, 60};

	(void)state;
	/* Quiet without -v, as every stage line. */
	cap_open(&c, 0, 0);
	diag_stage_event(&c.d, "runner_start", STAGE_QUEUE, &f, 1, "queue runner on %s", "/q");
	assert_true(c.len == 0 || cap_text(&c)[0] == '\0');
	cap_close(&c);

	cap_open(&c, 1, 0);
	diag_stage_event(&c.d, "runner_start", STAGE_QUEUE, &f, 1, "queue runner on %s", "/q");
	assert_non_null(strstr(cap_text(&c), " ms] queue: queue runner on /q\n"));
	assert_null(strstr(c.buf, "interval"));
	cap_close(&c);

	/* JSON implies -v. */
	cap_open(&c, 0, 1);
	diag_stage_event(&c.d, "runner_start", STAGE_QUEUE, &f, 1, "queue runner on %s", "/q");
	assert_string_equal(cap_text(&c), "{\"event\":\"runner_start\",\"stage\":\"queue\","
					  "\"msg\":\"queue runner on /q\",\"interval\":60}\n");
	cap_close(&c);
}

static void
test_reply_fields(void **state)
{
	struct capture c;
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	sx_fail_reply(
	    &e, SX_NOUSER, STAGE_RCPT, 550, "5.1.1", "5.1.1 no such user", "recipient refused");
	cap_open(&c, 0, 1);
	diag_report_failure(&c.d, &e, "kept");
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"error\",\"stage\":\"rcpt\",\"msg\":\"recipient refused\","
	    "\"code\":550,\"enhanced\":\"5.1.1\"}\n"
	    "{\"event\":\"reply\",\"stage\":\"rcpt\",\"msg\":\"5.1.1 no such user\","
	    "\"code\":550,\"enhanced\":\"5.1.1\"}\n"
	    "{\"event\":\"context\",\"stage\":\"rcpt\",\"msg\":\"kept\"}\n");
	cap_close(&c);

	/* Text: unchanged. */
	cap_open(&c, 0, 0);
	diag_report_failure(&c.d, &e, "kept");
	assert_string_equal(cap_text(&c), "smtps-send: rcpt: recipient refused\n"
					  "smtps-send: server said: 5.1.1 no such user\n"
					  "smtps-send: kept\n");
	cap_close(&c);
}

static void
test_queued_id(void **state)
{
	struct capture c;
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	sx_fail(&e, SX_TEMP, STAGE_CONNECT, "cannot connect");
	cap_open(&c, 0, 1);
	diag_report_queued(&c.d, &e, "0123");
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"queued\",\"stage\":\"connect\",\"msg\":\"queued as 0123: connect: "
	    "cannot connect; will be retried\",\"id\":\"0123\"}\n");
	cap_close(&c);
}

/* Under -v a multi-line reply keeps its lines; UTF-8 stays UTF-8 in JSON. */
static void
test_multiline_utf8(void **state)
{
	struct capture c;
	const char *t;

	(void)state;
	cap_open(&c, 1, 0);
	diag_stage(&c.d, STAGE_GREETING, "%d %s", 220, "mx.example ESMTP\nwelcome\x1b[2J");
	t = cap_text(&c);
	assert_non_null(strstr(t, " ms] greeting: 220 mx.example ESMTP\nsmtps-send: "));
	assert_non_null(strstr(t, "welcome?[2J\n"));
	/* The continuation is aligned under the text of the first line. */
	assert_int_equal(strstr(t, "220") - t, strstr(t, "welcome") - (strchr(t, '\n') + 1));
	assert_int_equal(strspn(strchr(t, '\n') + 1 + strlen("smtps-send: "), " "),
	    strstr(t, "220") - t - strlen("smtps-send: "));
	cap_close(&c);

	sx_set_utf8(1);
	cap_open(&c, 1, 1);
	diag_stage(&c.d, STAGE_RCPT, "<%s>: %d %s", "d\xc3\xb6rte@example.org", 250, "a\nb");
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"stage\",\"stage\":\"rcpt\",\"msg\":\"<d\xc3\xb6rte"
	    "@example.org>: 250 a\\u000ab\"}\n");
	cap_close(&c);
	sx_set_utf8(0);
	cap_open(&c, 1, 1);
	diag_stage(&c.d, STAGE_RCPT, "<%s>", "d\xc3\xb6rte@example.org");
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"stage\",\"stage\":\"rcpt\",\"msg\":\"<d??rte@example.org>\"}\n");
	cap_close(&c);
}

/*
 * -vv in JSON: each transcript line carries the stage of the command it
 * belongs to, also pipelined replies that arrive in one read (they are
 * shown when read, each by its own reader), and a partial line at EOF.
 */
static void
test_wire_stage(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_EXPECT, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"},
	    {FK_REPLY, "250 sender ok\r\n250 rcpt ok\r\n"},
	    {FK_REPLY, "354 go"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct capture c;
	struct fake_conn f;
	struct conn conn;
	struct sx_err e;
	char line[CONN_LINE_MAX + 1];
	size_t len;

	(void)state;
	cap_open(&c, 2, 1);
	sx_clear(&e);
	fake_conn_setup(&f, &conn, steps, 0);
	conn_init(&conn, &fake_conn_ops, &f, 1000, &c.d);
	assert_int_equal(
	    conn_queue(&conn, STAGE_MAIL, "MAIL FROM:<a@b>\r\n", 17, CONN_WIRE_SHOW, &e), 0);
	assert_int_equal(
	    conn_queue(&conn, STAGE_RCPT, "RCPT TO:<c@d>\r\n", 15, CONN_WIRE_SHOW, &e), 0);
	assert_int_equal(conn_flush(&conn, STAGE_RCPT, &e), 0);
	assert_int_equal(conn_readline(&conn, STAGE_MAIL, line, sizeof(line), &len, &e), 0);
	assert_int_equal(conn_readline(&conn, STAGE_RCPT, line, sizeof(line), &len, &e), 0);
	assert_int_equal(conn_readline(&conn, STAGE_DATA, line, sizeof(line), &len, &e), -1);
	fake_conn_assert_done(&f);
	conn_close(&conn, 0);
	fake_conn_free(&f);
	diag_wire_flush(&c.d);
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"send\",\"stage\":\"mail\",\"msg\":\"-> MAIL FROM:<a@b>\"}\n"
	    "{\"event\":\"send\",\"stage\":\"rcpt\",\"msg\":\"-> RCPT TO:<c@d>\"}\n"
	    "{\"event\":\"recv\",\"stage\":\"mail\",\"msg\":\"<- 250 sender ok\"}\n"
	    "{\"event\":\"recv\",\"stage\":\"rcpt\",\"msg\":\"<- 250 rcpt ok\"}\n"
	    "{\"event\":\"recv\",\"stage\":\"data\",\"msg\":\"<- 354 go\"}\n");
	cap_close(&c);
}

/* The last line of every run in JSON: exit status, state, id, the relay; nothing as text. */
static void
test_result(void **state)
{
	struct capture c;
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	sx_fail_reply(&e, SX_NOUSER, STAGE_RCPT, 550, "5.1.1", "5.1.1 no", "recipient refused");
	cap_open(&c, 0, 0);
	diag_relay(&c.d, "mx.example", 587);
	diag_result(&c.d, 67, DIAG_STATE_FAILED, "0123", &e, 40);
	assert_true(c.len == 0 || cap_text(&c)[0] == '\0');
	cap_close(&c);

	cap_open(&c, 0, 1);
	diag_relay(&c.d, "mx.example", 587);
	diag_result(&c.d, 67, DIAG_STATE_FAILED, "0123", &e, 40);
	diag_result(&c.d, 0, DIAG_STATE_SENT, "4567", &e, 40);
	diag_relay(&c.d, NULL, 0);
	diag_result(&c.d, 64, DIAG_STATE_NONE, NULL, NULL, 0);
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"result\",\"stage\":\"rcpt\",\"msg\":\"failed 0123, exit status 67\","
	    "\"exit\":67,\"state\":\"failed\",\"id\":\"0123\",\"code\":550,\"enhanced\":\"5.1.1\","
	    "\"host\":\"mx.example\",\"port\":587,\"bytes\":40}\n"
	    "{\"event\":\"result\",\"stage\":\"smtps-send\",\"msg\":\"sent 4567, exit status 0\","
	    "\"exit\":0,\"state\":\"sent\",\"id\":\"4567\",\"host\":\"mx.example\",\"port\":587,"
	    "\"bytes\":40}\n"
	    "{\"event\":\"result\",\"stage\":\"smtps-send\",\"msg\":\"exit status 64\","
	    "\"exit\":64,\"state\":\"none\"}\n");
	cap_close(&c);
}

/* The relay on the error of a network stage, not on one before it. */
/* A note comes after the hint, before the context, in both forms. */
static void
test_note(void **state)
{
	struct capture c;
	struct sx_err e;

	(void)state;
	sx_clear(&e);
	sx_fail(&e, SX_TLS, STAGE_TLS, "issuer not trusted: CN=x");
	sx_hint(&e, "pin it");
	sx_note(&e, "the server's certificate: CN=x");
	cap_open(&c, 0, 0);
	diag_report_failure(&c.d, &e, "kept");
	assert_string_equal(cap_text(&c), "smtps-send: tls: issuer not trusted: CN=x\n"
					  "smtps-send: hint: pin it\n"
					  "smtps-send: note: the server's certificate: CN=x\n"
					  "smtps-send: kept\n");
	cap_close(&c);
	cap_open(&c, 0, 1);
	diag_report_failure(&c.d, &e, NULL);
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"error\",\"stage\":\"tls\",\"msg\":\"issuer not trusted: CN=x\"}\n"
	    "{\"event\":\"hint\",\"stage\":\"tls\",\"msg\":\"pin it\"}\n"
	    "{\"event\":\"note\",\"stage\":\"tls\",\"msg\":\"the server's certificate: CN=x\"}\n");
	cap_close(&c);
}

static void
test_error_relay(void **state)
{
	struct capture c;
	struct sx_err e;

	(void)state;
	cap_open(&c, 0, 1);
	diag_relay(&c.d, "mx.example", 465);
	sx_clear(&e);
	sx_fail(&e, SX_TEMP, STAGE_CONNECT, "refused");
	diag_report_failure(&c.d, &e, NULL);
	sx_clear(&e);
	sx_fail(&e, SX_DATA, STAGE_INTAKE, "bad");
	diag_report_failure(&c.d, &e, NULL);
	assert_string_equal(cap_text(&c),
	    "{\"event\":\"error\",\"stage\":\"connect\",\"msg\":\"refused\","
	    "\"host\":\"mx.example\",\"port\":465}\n"
	    "{\"event\":\"error\",\"stage\":\"message\",\"msg\":\"bad\"}\n");
	cap_close(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_say_text),
	    cmocka_unit_test(test_say_json),
	    cmocka_unit_test(test_stage_event),
	    cmocka_unit_test(test_reply_fields),
	    cmocka_unit_test(test_queued_id),
	    cmocka_unit_test(test_multiline_utf8),
	    cmocka_unit_test(test_wire_stage),
	    cmocka_unit_test(test_result),
	    cmocka_unit_test(test_note),
	    cmocka_unit_test(test_error_relay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
