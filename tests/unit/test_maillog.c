/* test_maillog.c — the log line: fields, quoting, sanitising, no secrets. */
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
#include "store/maillog.h"

static void
test_success_line(void **state)
{
	struct account a;
	struct maillog_entry le;
	char *rcpts[] = {
	    (char *)(uintptr_t) "bob@example.org", (char *)(uintptr_t) "c@example.org"};
	char buf[2048];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&le, 0, sizeof(le));
	a.name = (char *)(uintptr_t) "work";
	a.host = (char *)(uintptr_t) "smtp.example.com";
	a.port = 587;
	a.tls = TLS_MODE_STARTTLS;
	a.user = (char *)(uintptr_t) "alice";
	a.password = (char *)(uintptr_t) "hunter2";
	le.from = "alice@example.com";
	le.rcpts = rcpts;
	le.nrcpts = 2;
	le.size = 1234;
	le.duration_ms = 87;
	le.reply_code = 250;
	le.reply = "2.0.0 Ok: queued as 4XyZ\nsecond line";
	maillog_format(&a, &le, buf, sizeof(buf));
	assert_string_equal(buf,
	    "account=work host=smtp.example.com port=587 tls=starttls user=alice "
	    "from=alice@example.com recipients=bob@example.org,c@example.org "
	    "mailsize=1234 duration_ms=87 smtpstatus=250 "
	    "smtpmsg='2.0.0 Ok: queued as 4XyZ' result=sent");
	assert_null(strstr(buf, "hunter2"));
}

static void
test_failure_line(void **state)
{
	struct account a;
	struct maillog_entry le;
	struct sx_err e;
	char *rcpts[] = {(char *)(uintptr_t) "bob@example.org"};
	char buf[2048];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&le, 0, sizeof(le));
	a.host = (char *)(uintptr_t) "smtp.example.com";
	a.port = 465;
	a.tls = TLS_MODE_IMPLICIT;
	sx_clear(&e);
	sx_fail(&e, SX_TEMP, STAGE_CONNECT, "cannot connect\r\nto it");
	le.from = "a@b";
	le.rcpts = rcpts;
	le.nrcpts = 1;
	le.err = &e;
	le.kept = "/q/x.msg";
	le.result = "queued";
	maillog_format(&a, &le, buf, sizeof(buf));
	/* Queued means accepted: the caller's exit status was 0, none is logged. */
	assert_non_null(strstr(buf, "result=queued stage=connect errormsg='cannot connect??to it' "
				    "kept=/q/x.msg"));
	le.result = "held";
	maillog_format(&a, &le, buf, sizeof(buf));
	assert_non_null(strstr(buf, "result=held stage=connect errormsg='cannot connect??to it' "
				    "exitcode=75 kept=/q/x.msg"));
	assert_non_null(strstr(buf, "account=default"));
	assert_null(strchr(buf, '\n'));
}

/* A reply or a recipient cannot close its field and forge another. */
static void
test_field_injection(void **state)
{
	struct account a;
	struct maillog_entry le;
	struct sx_err e;
	char *rcpts[] = {(char *)(uintptr_t) "x\\' result=sent y='@example.org"};
	char buf[2048];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&le, 0, sizeof(le));
	sx_clear(&e);
	sx_fail(&e, SX_PERM, STAGE_EOM, "refused");
	le.from = "a@b";
	le.rcpts = rcpts;
	le.nrcpts = 1;
	le.err = &e;
	le.reply_code = 550;
	le.reply = "no' result=sent smtpstatus='250";
	maillog_format(&a, &le, buf, sizeof(buf));
	assert_non_null(strstr(buf, "recipients='x\\\\\\' result=sent y=\\'@example.org'"));
	assert_non_null(strstr(buf, "smtpmsg='no\\' result=sent smtpstatus=\\'250'"));
	assert_non_null(strstr(buf, " result=failed"));
	/* Read back as a parser would: exactly one result field, and it is "failed". */
	{
		const char *p = buf;
		int results = 0, inq = 0;

		for (; *p != '\0'; p++) {
			if (inq && *p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '\'')
				inq = !inq;
			else if (!inq && strncmp(p, " result=", 8) == 0)
				results++;
		}
		assert_int_equal(inq, 0);
		assert_int_equal(results, 1);
	}
}

/* A log file it cannot write is said through the diag: a JSON event with --diag-format=json. */
static void
test_unwritable_json(void **state)
{
	struct account a;
	struct maillog_entry le;
	struct diag d;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&le, 0, sizeof(le));
	a.host = (char *)(uintptr_t) "smtp.example.com";
	a.logfile = (char *)(uintptr_t) "/";
	le.from = "a@b";
	assert_non_null(fp = open_memstream(&out, &len));
	diag_init(&d, fp, 0, 1);
	le.diag = &d;
	maillog_write(&a, &le);
	fclose(fp);
	assert_non_null(out);
	assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
	assert_non_null(strstr(out, "Z\",\"t_ms\":"));
	assert_non_null(strstr(out, ",\"event\":\"log_error\",\"stage\":\"smtps-send\",\"msg\":"
				    "\"log: not writing log file /: "));
	assert_non_null(strstr(out, "\"file\":\"/\",\"reason\":\""));
	/* One line, one object. */
	assert_ptr_equal(strchr(out, '\n') + 1, out + len);
	assert_int_equal(out[len - 2], '}');
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success_line),
	    cmocka_unit_test(test_failure_line),
	    cmocka_unit_test(test_field_injection),
	    cmocka_unit_test(test_unwritable_json),
	};

	return cmocka_run_group_tests_name("maillog", tests, NULL, NULL);
}
