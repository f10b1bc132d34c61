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

/* What was written, each line's "{"t_ms":N," cut to "{" (the time varies). */
static const char *
cap_text(struct capture *c)
{
	char *p, *q;

	fflush(c->fp);
	for (p = c->buf; (p = strstr(p, "{\"t_ms\":")) != NULL; p++) {
		q = strchr(p, ',');
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
	    "{\"event\":\"error\",\"stage\":\"rcpt\",\"msg\":\"recipient refused\"}\n"
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
