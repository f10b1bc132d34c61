/*
 * test_smtp.c — the SMTP session against the scripted transport: every
 * branch of greeting, EHLO, STARTTLS, AUTH, envelope, data and QUIT, each
 * script run with replies delivered whole and one byte at a time.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "fake_conn.h"
#include "smtp/smtp.h"

#define GREET                                                                                      \
	{                                                                                          \
		FK_REPLY, "220 mx.example ESMTP\r\n"                                               \
	}
#define EHLO                                                                                       \
	{                                                                                          \
		FK_EXPECT, "EHLO client.example\r\n"                                               \
	}
#define CAPS_PRE                                                                                   \
	{                                                                                          \
		FK_REPLY, "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"                   \
	}
#define STARTTLS_OK                                                                                \
	{FK_EXPECT, "STARTTLS\r\n"}, {FK_REPLY, "220 2.0.0 go ahead\r\n"},                         \
	{                                                                                          \
		FK_TLS, NULL                                                                       \
	}
#define CAPS_TLS                                                                                   \
	{                                                                                          \
		FK_REPLY,                                                                          \
		    "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000\r\n"      \
		    "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"                          \
	}
/* base64("\0alice\0secret") */
#define AUTH_PLAIN                                                                                 \
	{                                                                                          \
		FK_EXPECT, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"                                   \
	}
#define AUTH_OK                                                                                    \
	{                                                                                          \
		FK_REPLY, "235 2.7.0 Authentication successful\r\n"                                \
	}
#define PRELUDE GREET, EHLO, CAPS_PRE, STARTTLS_OK, EHLO, CAPS_TLS, AUTH_PLAIN, AUTH_OK
#define QUIT                                                                                       \
	{FK_EXPECT, "QUIT\r\n"},                                                                   \
	{                                                                                          \
		FK_REPLY, "221 2.0.0 Bye\r\n"                                                      \
	}

struct run {
	struct smtp_params p;
	struct smtp_message m;
	struct smtp_result r;
	struct sx_err e;
	struct fake_conn f;
	struct conn c;
	char *rcpts[8];
	int rc;
	/* Per recipient, kept from the result (the same in both runs of a script). */
	int delivered[8], code[8];
	size_t ndelivered;
	unsigned ntransactions;
};

static const char *body_text = "Subject: hi\n\nhello\n.dot line\n";

static void
run_defaults(struct run *t)
{
	memset(t, 0, sizeof(*t));
	t->p.host = "mx.example";
	t->p.port = 587;
	t->p.tls = TLS_MODE_STARTTLS;
	t->p.ehlo_name = "client.example";
	t->p.user = "alice";
	t->p.secret = "secret";
	t->rcpts[0] = (char *)(uintptr_t) "bob@example.org";
	t->m.from = "alice@example.com";
	t->m.rcpts = t->rcpts;
	t->m.nrcpts = 1;
	t->m.size = 40;
	t->m.body_fd = -1;
}

static int
body_fd(const char *text)
{
	FILE *fp = tmpfile();
	int fd;

	assert_non_null(fp);
	fd = dup(fileno(fp));
	fclose(fp);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Keep what the result says of each recipient; a second run must say the same. */
static void
run_keep_rcpts(struct run *t, const struct run *first)
{
	size_t i;

	t->ndelivered = t->r.ndelivered;
	t->ntransactions = t->r.ntransactions;
	for (i = 0; i < t->m.nrcpts && t->r.rcpt != NULL; i++) {
		t->delivered[i] = t->r.rcpt[i].delivered;
		t->code[i] = t->r.rcpt[i].code;
	}
	if (first == NULL)
		return;
	assert_int_equal(t->ndelivered, first->ndelivered);
	assert_int_equal(t->ntransactions, first->ntransactions);
	assert_memory_equal(t->delivered, first->delivered, sizeof(t->delivered));
	assert_memory_equal(t->code, first->code, sizeof(t->code));
}

/* Run the script twice: replies whole, then one byte per read. */
static void
run_script(struct run *t, const struct fk_step *steps, const char *body)
{
	size_t chunk;
	struct run saved = *t, first;

	for (chunk = 0; chunk <= 1; chunk++) {
		*t = saved;
		if (body != NULL)
			t->m.body_fd = body_fd(body);
		fake_conn_setup(&t->f, &t->c, steps, chunk);
		t->rc = smtp_session(
		    &t->c, &t->p, body != NULL || !t->p.check_only ? &t->m : NULL, &t->r, &t->e);
		fake_conn_assert_done(&t->f);
		run_keep_rcpts(t, chunk == 0 ? NULL : &first);
		if (chunk == 0)
			first = *t;
		conn_close(&t->c, t->rc == 0);
		if (t->m.body_fd >= 0)
			close(t->m.body_fd);
		smtp_result_free(&t->r);
		if (chunk == 0)
			fake_conn_free(&t->f);
	}
}

static void
run_done(struct run *t)
{
	fake_conn_free(&t->f);
}

static void
test_starttls_plain_pipelined(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "250 2.0.0 Ok: queued as 4XyZ\r\n221 2.0.0 Bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.r.final.code, 250);
	assert_string_equal(t.r.final.text, "2.0.0 Ok: queued as 4XyZ");
	assert_string_equal(t.r.final.enhanced, "2.0.0");
	assert_int_equal(t.r.mech, SASL_PLAIN);
	assert_true(t.f.graceful);
	run_done(&t);
}

static void
test_implicit_login_lockstep(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_TLS, NULL},
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH LOGIN\r\n"},
	    {FK_EXPECT, "AUTH LOGIN\r\n"},
	    {FK_REPLY, "334 VXNlcm5hbWU6\r\n"},
	    {FK_EXPECT, "YWxpY2U=\r\n"},
	    {FK_REPLY, "334 UGFzc3dvcmQ6\r\n"},
	    {FK_EXPECT, "c2VjcmV0\r\n"},
	    AUTH_OK,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "RCPT TO:<bob@example.org>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\n"},
	    {FK_REPLY, "250 queued\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_IMPLICIT;
	t.p.port = 465;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.r.mech, SASL_LOGIN);
	run_done(&t);
}

static void
test_starttls_not_offered(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	assert_int_equal(t.e.stage, STAGE_STARTTLS);
	assert_null(strstr(fake_conn_written(&t.f), "AUTH"));
	assert_null(strstr(fake_conn_written(&t.f), "MAIL"));
	run_done(&t);
}

static void
test_starttls_454(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    {FK_EXPECT, "STARTTLS\r\n"},
	    {FK_REPLY, "454 4.7.0 TLS not available due to temporary reason\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_STARTTLS);
	assert_int_equal(t.e.reply_code, 454);
	assert_int_equal(sx_exitcode(&t.e), EX_TEMPFAIL);
	run_done(&t);
}

static void
test_starttls_injection(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    {FK_EXPECT, "STARTTLS\r\n"},
	    {FK_REPLY, "220 go ahead\r\n250 injected\r\n"},
	    /* Nothing more is said on a stream that cannot be trusted. */
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	/* Only whole delivery puts both lines in one read, as an attacker would. */
	t.m.body_fd = body_fd(body_text);
	fake_conn_setup(&t.f, &t.c, steps, 0);
	t.rc = smtp_session(&t.c, &t.p, &t.m, &t.r, &t.e);
	fake_conn_assert_done(&t.f);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PROTO);
	assert_non_null(strstr(t.e.detail, "injection"));
	assert_int_equal(t.f.tls, 0);
	conn_close(&t.c, 0);
	close(t.m.body_fd);
	smtp_result_free(&t.r);
	run_done(&t);
}

static void
test_opportunistic_without_starttls(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_OPPORTUNISTIC;
	run_script(&t, steps, body_text);
	/* No TLS: the password must stay home. */
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	assert_int_equal(t.e.stage, STAGE_AUTH);
	assert_null(strstr(fake_conn_written(&t.f), "AUTH"));
	run_done(&t);
}

static void
test_auth_only_before_tls(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"},
	    STARTTLS_OK,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 PIPELINING\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_AUTH);
	/* Capabilities were forgotten after TLS: the pre-TLS AUTH does not count. */
	assert_int_equal(t.r.caps.auth, 0);
	assert_null(strstr(fake_conn_written(&t.f), "AUTH"));
	run_done(&t);
}

static void
test_greeting_421(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_REPLY, "421 4.3.2 Service not available, closing channel\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_GREETING);
	assert_int_equal(t.e.reply_code, 421);
	assert_string_equal(t.e.reply, "4.3.2 Service not available, closing channel");
	run_done(&t);
}

static void
test_greeting_timeout_hint(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_TIMEOUT, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.port = 465;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_GREETING);
	assert_non_null(strstr(t.e.hint, "implicit"));
	/* Nothing was ever sent: no greeting, no QUIT. */
	assert_string_equal(fake_conn_written(&t.f), "");
	run_done(&t);
}

static void
test_rcpt_mixed_all_or_nothing(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<nobody@example.org>\r\nRCPT TO:<later@example.org>\r\n"},
	    {FK_REPLY, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.org>: "
		       "unknown\r\n250 2.1.5 Ok\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "nobody@example.org";
	t.rcpts[2] = (char *)(uintptr_t) "later@example.org";
	t.m.nrcpts = 3;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_int_equal(t.e.reply_code, 550);
	assert_non_null(strstr(t.e.detail, "1 of 3 recipients refused"));
	assert_non_null(strstr(t.e.detail, "nobody@example.org"));
	assert_null(strstr(fake_conn_written(&t.f), "DATA"));
	run_done(&t);
}

static void
test_rcpt_mixed_partial(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<nobody@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 Ok\r\n250 Ok\r\n550 5.1.1 unknown\r\n354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "250 queued\r\n221 Bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "nobody@example.org";
	t.m.nrcpts = 2;
	t.p.allow_partial = 1;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	run_done(&t);
}

/* r1@example.org … rN@example.org */
static void
run_rcpts(struct run *t, size_t n)
{
	static const char *const names[] = {"r1@example.org", "r2@example.org", "r3@example.org",
	    "r4@example.org", "r5@example.org"};
	size_t i;

	for (i = 0; i < n; i++)
		t->rcpts[i] = (char *)(uintptr_t)names[i];
	t->m.nrcpts = n;
}

#define MAIL_FROM "MAIL FROM:<alice@example.com> SIZE=40\r\n"
#define RCPT(n)   "RCPT TO:<r" #n "@example.org>\r\n"
#define TOO_MANY  "452 4.5.3 Error: too many recipients\r\n"
#define BODY      "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\n"

static void
test_rcpt_limit_three_transactions(void **state)
{
	/*
	 * A server that takes 2 recipients per transaction: the accepted ones
	 * get the message, the rest follow in the same session, 2 at a time
	 * once the limit is known; QUIT only closes the last flight.
	 */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2) RCPT(3) RCPT(4) RCPT(5)},
	    {FK_REPLY,
		"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" TOO_MANY TOO_MANY TOO_MANY},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 2.0.0 Ok: queued as A1\r\n"},
	    {FK_EXPECT, MAIL_FROM RCPT(3) RCPT(4)},
	    {FK_REPLY, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 2.0.0 Ok: queued as B2\r\n"},
	    /* One recipient: DATA joins the flight. */
	    {FK_EXPECT, MAIL_FROM RCPT(5) "DATA\r\n"},
	    {FK_REPLY, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"},
	    {FK_EXPECT, BODY "QUIT\r\n"},
	    {FK_REPLY, "250 2.0.0 Ok: queued as C3\r\n221 2.0.0 Bye\r\n"},
	    {FK_END, NULL},
	};
	static const int all[8] = {1, 1, 1, 1, 1};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 5);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.e.cls, SX_OK);
	assert_int_equal(t.ntransactions, 3);
	assert_int_equal(t.ndelivered, 5);
	assert_memory_equal(t.delivered, all, sizeof(all));
	assert_string_equal(t.r.final.text, "2.0.0 Ok: queued as C3");
	assert_true(t.f.graceful);
	run_done(&t);
}

static void
test_rcpt_limit_and_refusal(void **state)
{
	/* Without allow_partial a real refusal still stops it before any data. */
	static const struct fk_step stop[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2) RCPT(3) RCPT(4) RCPT(5)},
	    {FK_REPLY,
		"250 Ok\r\n250 Ok\r\n550 5.1.1 <r2@example.org>: unknown\r\n250 Ok\r\n" TOO_MANY
		    TOO_MANY},
	    QUIT,
	    {FK_END, NULL},
	};
	/* With it, the refused one is dropped and the limited ones follow. */
	static const struct fk_step partial[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2) RCPT(3) RCPT(4) RCPT(5) "DATA\r\n"},
	    {FK_REPLY,
		"250 Ok\r\n250 Ok\r\n550 5.1.1 <r2@example.org>: unknown\r\n250 Ok\r\n" TOO_MANY
		    TOO_MANY "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 queued as A1\r\n"},
	    {FK_EXPECT, MAIL_FROM RCPT(4) RCPT(5) "DATA\r\n"},
	    {FK_REPLY, "250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n"},
	    {FK_EXPECT, BODY "QUIT\r\n"},
	    {FK_REPLY, "250 queued as B2\r\n221 Bye\r\n"},
	    {FK_END, NULL},
	};
	static const int none[8], but_r2[8] = {1, 0, 1, 1, 1};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 5);
	run_script(&t, stop, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_int_equal(t.e.reply_code, 550);
	assert_non_null(strstr(t.e.detail, "1 of 5 recipients refused"));
	assert_non_null(strstr(t.e.detail, "r2@example.org"));
	assert_null(strstr(fake_conn_written(&t.f), "DATA"));
	assert_int_equal(t.ndelivered, 0);
	assert_memory_equal(t.delivered, none, sizeof(none));
	run_done(&t);

	run_defaults(&t);
	run_rcpts(&t, 5);
	t.p.allow_partial = 1;
	run_script(&t, partial, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.ntransactions, 2);
	assert_int_equal(t.ndelivered, 4);
	assert_memory_equal(t.delivered, but_r2, sizeof(but_r2));
	assert_int_equal(t.code[1], 550);
	run_done(&t);
}

static void
test_rcpt_limit_552_lockstep(void **state)
{
	/* RFC 821's 552 for too many recipients, without PIPELINING. */
	static const struct fk_step steps[] = {
	    {FK_TLS, NULL},
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN\r\n"},
	    AUTH_PLAIN,
	    AUTH_OK,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, RCPT(1)},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, RCPT(2)},
	    {FK_REPLY, "552 Too many recipients\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 queued\r\n"},
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, RCPT(2)},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 queued\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_IMPLICIT;
	run_rcpts(&t, 2);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.ntransactions, 2);
	assert_int_equal(t.ndelivered, 2);
	run_done(&t);
}

static void
test_rcpt_limit_connection_lost(void **state)
{
	/* Lost in the second transaction: the first one's recipients have it. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2) RCPT(3)},
	    {FK_REPLY, "250 Ok\r\n250 Ok\r\n250 Ok\r\n" TOO_MANY},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 queued as A1\r\n"},
	    {FK_EXPECT, MAIL_FROM RCPT(3) "DATA\r\n"},
	    {FK_REPLY, "250 Ok\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	static const int first_two[8] = {1, 1};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 3);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_int_equal(t.ntransactions, 1);
	assert_int_equal(t.ndelivered, 2);
	assert_memory_equal(t.delivered, first_two, sizeof(first_two));
	assert_false(sx_about_message(&t.e));
	run_done(&t);
}

static void
test_rcpt_limit_none_accepted(void **state)
{
	/* The next transaction takes none: a temporary failure for those only. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2) RCPT(3)},
	    {FK_REPLY, "250 Ok\r\n250 Ok\r\n250 Ok\r\n" TOO_MANY},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, BODY},
	    {FK_REPLY, "250 queued as A1\r\n"},
	    {FK_EXPECT, MAIL_FROM RCPT(3) "DATA\r\n"},
	    {FK_REPLY, "250 Ok\r\n" TOO_MANY "554 5.5.1 Error: no valid recipients\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	static const int first_two[8] = {1, 1};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 3);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_int_equal(t.e.reply_code, 452);
	assert_non_null(strstr(t.e.detail, "r3@example.org"));
	assert_int_equal(t.ndelivered, 2);
	assert_memory_equal(t.delivered, first_two, sizeof(first_two));
	assert_int_equal(t.code[2], 452);
	run_done(&t);
}

static void
test_rcpt_452_before_any_accepted(void **state)
{
	/* A 452 before any acceptance is no limit: temporary, nothing sent. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, MAIL_FROM RCPT(1) RCPT(2)},
	    {FK_REPLY, "250 Ok\r\n452 4.3.1 Insufficient system storage\r\n250 Ok\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 2);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.reply_code, 452);
	assert_int_equal(t.ndelivered, 0);
	assert_null(strstr(fake_conn_written(&t.f), "DATA"));
	run_done(&t);
}

static void
test_rcpt_all_refused(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<nobody@example.org>\r\n"},
	    {FK_REPLY, "250 Ok\r\n550 no\r\n550 no\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "nobody@example.org";
	t.m.nrcpts = 2;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_NOUSER);
	assert_int_equal(sx_exitcode(&t.e), EX_NOUSER);
	run_done(&t);
}

static void
test_rcpt_single_tempfail(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 Ok\r\n450 4.2.0 try later\r\n554 5.5.1 no valid recipients\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.reply_code, 450);
	run_done(&t);
}

static void
test_mail_refused_pipelined(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "553 5.7.1 sender not owned by user alice\r\n503 5.5.1 need MAIL\r\n"
		       "503 5.5.1 need RCPT\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_int_equal(t.e.reply_code, 553);
	assert_non_null(strstr(t.e.hint, "not allowed"));
	run_done(&t);
}

static void
test_data_354_after_refusal_closes(void **state)
{
	/* A server that says 354 although MAIL failed: only closing is safe. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "451 4.3.0 later\r\n250 ok\r\n354 go\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_null(strstr(fake_conn_written(&t.f), "QUIT"));
	assert_null(strstr(fake_conn_written(&t.f), "\r\n.\r\n"));
	run_done(&t);
}

static void
test_data_refused(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n451 4.3.0 not now\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_DATA);
	run_done(&t);
}

static void
test_final_reply(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "554 5.7.1 message rejected as spam\r\n221 Bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_EOM);
	assert_int_equal(sx_exitcode(&t.e), EX_UNAVAILABLE);
	run_done(&t);
}

/* A provider's sending quota after the data: 5xx in code, temporary in fact (kept, retried). */
static void
test_final_quota(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; "
		       "Failed to process message due to a permanent exception\r\n221 Bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_EOM);
	assert_int_equal(t.e.reply_code, 554);
	assert_int_equal(sx_exitcode(&t.e), EX_TEMPFAIL);
	assert_non_null(strstr(t.e.hint, "sending quota"));
	run_done(&t);
}

/* The same at RCPT (Gmail): the recipient's refusal is temporary. */
static void
test_rcpt_quota(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n550 5.4.5 Daily user sending limit exceeded.\r\n"
		       "554 5.5.1 Error: no valid recipients\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 Bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_int_equal(t.e.reply_code, 550);
	assert_non_null(strstr(t.e.hint, "sending quota"));
	run_done(&t);
}

static void
test_final_timeout(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    /* After a time-out QUIT's reply is not awaited: no second wait. */
	    {FK_TIMEOUT, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_EOM);
	assert_non_null(strstr(t.e.hint, "may or may not"));
	run_done(&t);
}

static void
test_auth_535(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    CAPS_TLS,
	    AUTH_PLAIN,
	    {FK_REPLY, "535 5.7.8 Error: authentication failed\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_AUTH);
	assert_int_equal(sx_exitcode(&t.e), EX_NOPERM);
	assert_string_equal(t.e.enhanced, "5.7.8");
	assert_non_null(strstr(t.e.hint, "app password"));
	/* The secret never appears in what we report. */
	assert_null(strstr(t.e.detail, "secret"));
	run_done(&t);
}

static void
test_auth_cleartext_refused(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_OFF;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	assert_null(strstr(fake_conn_written(&t.f), "AUTH"));
	run_done(&t);
}

static void
test_helo_fallback(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "502 5.5.2 command not recognized\r\n"},
	    {FK_EXPECT, "HELO client.example\r\n"},
	    {FK_REPLY, "250 mx.example\r\n"},
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "RCPT TO:<bob@example.org>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, "x\r\n.\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_OFF;
	t.p.user = NULL;
	run_script(&t, steps, "x");
	assert_int_equal(t.rc, 0);
	run_done(&t);
}

static void
test_helo_not_when_tls_required(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "502 5.5.2 command not recognized\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, "x");
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.stage, STAGE_EHLO);
	assert_int_equal(t.e.cls, SX_PERM);
	run_done(&t);
}

static void
test_size_limit(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.m.size = 100001;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_non_null(strstr(t.e.detail, "at most 100000"));
	assert_null(strstr(fake_conn_written(&t.f), "MAIL"));
	run_done(&t);
}

static void
test_8bit(void **state)
{
	static const struct fk_step with[] = {
	    PRELUDE,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40 BODY=8BITMIME\r\n"
			"RCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, "caf\xc3\xa9\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "250 ok\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	static const struct fk_step without[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN\r\n"},
	    AUTH_PLAIN,
	    AUTH_OK,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.m.body_8bit = 1;
	run_script(&t, with, "caf\xc3\xa9\n");
	assert_int_equal(t.rc, 0);
	run_done(&t);

	run_defaults(&t);
	t.m.body_8bit = 1;
	run_script(&t, without, "caf\xc3\xa9\n");
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_non_null(strstr(t.e.detail, "8BITMIME"));
	run_done(&t);
}

static void
test_smtputf8_needed(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.m.needs_smtputf8 = 1;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_non_null(strstr(t.e.detail, "SMTPUTF8"));
	run_done(&t);
}

static void
test_crlf_in_address_refused(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[0] = (char *)(uintptr_t) "bob@example.org>\r\nRCPT TO:<evil@example.net";
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_DATA);
	assert_null(strstr(fake_conn_written(&t.f), "evil"));
	run_done(&t);
}

static void
test_malformed_replies(void **state)
{
	static const char *const bad[] = {
	    "hello there\r\n",             /* no code */
	    "25 short\r\n",                /* two digits */
	    "650 out of range\r\n",        /* class 6 */
	    "199 out of range\r\n",        /* class 1 */
	    "250x no separator\r\n",       /* bad separator */
	    "220-first\r\n221 second\r\n", /* codes differ across lines */
	    "220 nul\0byte\r\n",           /* truncated by strlen: still a valid line */
	};
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		struct fk_step steps[] = {
		    {FK_REPLY, bad[i]},
		    {FK_END, NULL},
		};
		struct run t;

		run_defaults(&t);
		run_script(&t, steps, body_text);
		assert_int_equal(t.rc, -1);
		assert_int_equal(t.e.cls, SX_PROTO);
		assert_int_equal(t.e.stage, STAGE_GREETING);
		assert_int_equal(sx_exitcode(&t.e), EX_PROTOCOL);
		run_done(&t);
	}
}

static void
test_wrong_code_for_command(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "354 go ahead\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PROTO);
	assert_int_equal(t.e.stage, STAGE_EHLO);
	run_done(&t);
}

static void
test_overlong_and_endless(void **state)
{
	static char longline[CONN_LINE_MAX + 100], many[300 * 12 + 32];
	size_t i, n = 0;
	struct run t;

	(void)state;
	memcpy(longline, "220 ", 4);
	memset(longline + 4, 'x', sizeof(longline) - 7);
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	{
		struct fk_step steps[] = {{FK_REPLY, longline}, {FK_END, NULL}};

		run_defaults(&t);
		t.m.body_fd = -1;
		fake_conn_setup(&t.f, &t.c, steps, 0);
		t.rc = smtp_session(&t.c, &t.p, &t.m, &t.r, &t.e);
		assert_int_equal(t.rc, -1);
		assert_int_equal(t.e.cls, SX_PROTO);
		assert_non_null(strstr(t.e.detail, "longer than"));
		conn_close(&t.c, 0);
		run_done(&t);
	}
	for (i = 0; i < 300; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "220-%03zu\r\n", i);
	{
		struct fk_step steps[] = {{FK_REPLY, many}, {FK_END, NULL}};

		run_defaults(&t);
		fake_conn_setup(&t.f, &t.c, steps, 0);
		t.rc = smtp_session(&t.c, &t.p, &t.m, &t.r, &t.e);
		assert_int_equal(t.rc, -1);
		assert_int_equal(t.e.cls, SX_PROTO);
		assert_non_null(strstr(t.e.detail, "more than"));
		conn_close(&t.c, 0);
		run_done(&t);
	}
}

static void
test_close_mid_reply(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250-PIPEL"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_EHLO);
	assert_non_null(strstr(t.e.detail, "closed"));
	run_done(&t);
}

static void
test_tls_failure(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    {FK_EXPECT, "STARTTLS\r\n"},
	    {FK_REPLY, "220 go ahead\r\n"},
	    {FK_TLS_FAIL, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	/* After a failed handshake nothing more is said in cleartext. */
	assert_null(strstr(fake_conn_written(&t.f), "QUIT"));
	run_done(&t);
}

/*
 * A large body leaves in full output buffers (CONN_OUTBUF_SIZE, 64 KiB,
 * written as corked TLS records), never a write per line: 40,000 lines
 * (~1 MiB on the wire) take a handful of writes after the envelope.
 */
static void
test_large_body_full_buffers(void **state)
{
	enum { NLINES = 40000 };
	char *body, *wire, *p, *q;
	size_t i, wire_len;
	struct run t;

	(void)state;
	body = malloc((size_t)NLINES * 32);
	wire = malloc((size_t)NLINES * 34 + 16);
	assert_non_null(body);
	assert_non_null(wire);
	p = body;
	q = wire;
	for (i = 0; i < NLINES; i++) {
		int k = sprintf(p, "%sline %05zu of a long body\n", i % 16 == 0 ? "." : "", i);

		q += sprintf(q, "%sline %05zu of a long body\r\n", i % 16 == 0 ? ".." : "", i);
		p += k;
	}
	strcpy(q, ".\r\nQUIT\r\n");
	wire_len = strlen(wire);
	{
		const struct fk_step steps[] = {
		    PRELUDE,
		    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT "
				"TO:<bob@example.org>\r\nDATA\r\n"},
		    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
		    {FK_EXPECT, wire},
		    {FK_REPLY, "250 queued\r\n221 bye\r\n"},
		    {FK_END, NULL},
		};

		run_defaults(&t);
		run_script(&t, steps, body);
	}
	assert_int_equal(t.rc, 0);
	/* EHLO, STARTTLS, EHLO, AUTH, the envelope flight, then the body. */
	/* Issue 10: records of at least 16 KiB. */
	assert_true(t.f.nwrites <= 5 + wire_len / (16 * 1024) + 1);
	assert_true(t.c.writes == t.f.nwrites);
	run_done(&t);
	free(body);
	free(wire);
}

/*
 * The certificate check runs after the handshake, before anything is read
 * from or written to the new session: after STARTTLS not even the EHLO
 * leaves ahead of it (RFC 3207 4.1; the fake fails any read or write before
 * the check).
 */
static void
test_starttls_bad_certificate(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    {FK_EXPECT, "STARTTLS\r\n"},
	    {FK_REPLY, "220 go ahead\r\n"},
	    {FK_TLS_BADCERT, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	assert_int_equal(t.e.stage, STAGE_TLS);
	assert_non_null(strstr(t.e.detail, "certificate expired"));
	assert_true(t.f.verified);
	/* Nothing after STARTTLS: no EHLO, no AUTH, no QUIT to an unverified peer. */
	assert_string_equal(fake_conn_written(&t.f), "EHLO client.example\r\nSTARTTLS\r\n");
	assert_false(t.f.graceful);
	run_done(&t);
}

static void
test_implicit_bad_certificate(void **state)
{
	static const struct fk_step steps[] = {
	    {FK_TLS_BADCERT, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.tls = TLS_MODE_IMPLICIT;
	t.p.port = 465;
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TLS);
	assert_true(t.f.verified);
	/* The greeting is not even read, and nothing is written. */
	assert_string_equal(fake_conn_written(&t.f), "");
	run_done(&t);
}

static void
test_check_only(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.check_only = 1;
	run_script(&t, steps, NULL);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.r.caps.size, 100000);
	assert_true(t.r.caps.auth_plain && t.r.caps.auth_login);
	run_done(&t);
}

#define CAPS_CHUNKING                                                                              \
	{                                                                                          \
		FK_REPLY, "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n"   \
			  "250 AUTH PLAIN\r\n"                                                     \
	}
#define PRELUDE_CHUNKING                                                                           \
	GREET, EHLO, CAPS_PRE, STARTTLS_OK, EHLO, CAPS_CHUNKING, AUTH_PLAIN, AUTH_OK

static void
test_bdat_one_flight(void **state)
{
	/* Envelope, the whole message and QUIT in one write; no dot-stuffing with BDAT. */
	static const struct fk_step steps[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
			"BDAT 33 LAST\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\nQUIT\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 2.0.0 queued as 77\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, 0);
	assert_string_equal(t.r.final.text, "2.0.0 queued as 77");
	run_done(&t);
}

static void
test_bdat_hold_until_all_accepted(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<carol@example.org>\r\nBDAT 9\r\na\r\nb\r\nc\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n250 9 octets received\r\n"},
	    {FK_EXPECT, "BDAT 0 LAST\r\nQUIT\r\n"},
	    {FK_REPLY, "250 queued\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "carol@example.org";
	t.m.nrcpts = 2;
	/* A bare CR and a missing final newline are normalised here too. */
	run_script(&t, steps, "a\rb\nc");
	assert_int_equal(t.rc, 0);
	run_done(&t);
}

static void
test_bdat_refused_never_committed(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<carol@example.org>\r\nBDAT 3\r\nx\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n550 5.1.1 no carol\r\n250 3 octets\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "carol@example.org";
	t.m.nrcpts = 2;
	run_script(&t, steps, "x\n");
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_null(strstr(fake_conn_written(&t.f), "LAST"));
	/* The first chunk left: it was not delivered, but "nothing was sent" is untrue. */
	assert_null(strstr(t.e.detail, "nothing was sent"));
	assert_non_null(
	    strstr(t.e.detail, "nothing was delivered (the data sent was not committed)"));
	run_done(&t);
}

/* A chunk's reply that does not come: the data stalled, named with its bytes; no second wait. */
static void
test_bdat_chunk_reply_timeout(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
			"RCPT TO:<carol@example.org>\r\nBDAT 3\r\nx\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n"},
	    {FK_EXPECT, "BDAT 0 LAST\r\nQUIT\r\n"},
	    {FK_TIMEOUT, NULL},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.rcpts[1] = (char *)(uintptr_t) "carol@example.org";
	t.m.nrcpts = 2;
	run_script(&t, steps, "x\n");
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_DATA);
	assert_non_null(strstr(t.e.detail, "while sending the message ("));
	assert_non_null(strstr(t.e.detail, " of 40 bytes written)"));
	run_done(&t);
}

/*
 * "Relay access denied" while the server offers AUTH and no user is set:
 * the hint asks for the login (the MAIL refusal and RCPT refusal alike).
 */
static void
test_relay_denied_hint(void **state)
{
	static const struct fk_step rcpt[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    CAPS_TLS,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 2.1.0 Ok\r\n554 5.7.1 <bob@example.org>: Relay access denied\r\n"
		       "554 5.5.1 Error: no valid recipients\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	static const struct fk_step mail[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    CAPS_TLS,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "550 5.7.1 Relaying denied\r\n503 need MAIL\r\n503 need MAIL\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.user = NULL;
	run_script(&t, rcpt, body_text);
	assert_int_equal(t.e.stage, STAGE_RCPT);
	assert_non_null(strstr(t.e.hint, "no user is set: set user and a password"));
	run_done(&t);

	run_defaults(&t);
	t.p.user = NULL;
	run_script(&t, mail, body_text);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_non_null(strstr(t.e.hint, "no user is set: set user and a password"));
	run_done(&t);

	/* With a user the refusal is about something else: no such hint. */
	run_defaults(&t);
	{
		static const struct fk_step withuser[] = {
		    PRELUDE,
		    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT "
				"TO:<bob@example.org>\r\nDATA\r\n"},
		    {FK_REPLY, "250 2.1.0 Ok\r\n554 5.7.1 <bob@example.org>: Relay access "
			       "denied\r\n554 5.5.1 Error: no valid recipients\r\n"},
		    QUIT,
		    {FK_END, NULL},
		};

		run_script(&t, withuser, body_text);
	}
	assert_null(strstr(t.e.hint, "no user is set"));
	run_done(&t);
}

static void
test_bdat_rcpt_limit(void **state)
{
	/*
	 * Held data (several recipients): "BDAT 0 LAST" commits it for the
	 * accepted ones; the last transaction has one recipient, so its one
	 * chunk says LAST and QUIT closes its flight.
	 */
	static const struct fk_step held[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n" RCPT(1) RCPT(2)
			    RCPT(3) "BDAT 33\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n" TOO_MANY "250 33 octets\r\n"},
	    {FK_EXPECT, "BDAT 0 LAST\r\n"},
	    {FK_REPLY, "250 queued as 1\r\n"},
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n" RCPT(
			    3) "BDAT 33 LAST\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\nQUIT\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 queued as 2\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	/* allow_partial: LAST in the first flight, but no QUIT after it. */
	static const struct fk_step partial[] = {
	    PRELUDE_CHUNKING,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n" RCPT(1) RCPT(2)
			    RCPT(3) "BDAT 33 LAST\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n" TOO_MANY "250 queued as 1\r\n"},
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n" RCPT(
			    3) "BDAT 33 LAST\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\nQUIT\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 queued as 2\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	static const int all[8] = {1, 1, 1};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_rcpts(&t, 3);
	run_script(&t, held, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.ntransactions, 2);
	assert_memory_equal(t.delivered, all, sizeof(all));
	assert_string_equal(t.r.final.text, "queued as 2");
	run_done(&t);

	run_defaults(&t);
	run_rcpts(&t, 3);
	t.p.allow_partial = 1;
	run_script(&t, partial, body_text);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.ntransactions, 2);
	assert_memory_equal(t.delivered, all, sizeof(all));
	run_done(&t);
}

static void
test_bdat_lockstep(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"},
	    AUTH_PLAIN,
	    AUTH_OK,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "RCPT TO:<bob@example.org>\r\n"},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "BDAT 3 LAST\r\nx\r\n"},
	    {FK_REPLY, "451 4.3.0 try later\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, "x\n");
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_TEMP);
	assert_int_equal(t.e.stage, STAGE_EOM);
	run_done(&t);
}

static void
test_malformed_reply_in_flight_aborts(void **state)
{
	/* Replies out of step: DATA may already be answered 354, so no QUIT. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "garbage\r\n"}, /* any further read would fail the script */
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PROTO);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_null(strstr(fake_conn_written(&t.f), "QUIT"));
	run_done(&t);
}

static void
test_client_stepwise(void **state)
{
	/* Two messages over one session, each command's reply back to the caller. */
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\n"},
	    {FK_REPLY, "250 2.1.0 Ok\r\n"},
	    {FK_EXPECT, "RCPT TO:<nobody@example.org>\r\n"},
	    {FK_REPLY, "550 5.1.1 <nobody@example.org>: unknown\r\n"},
	    {FK_EXPECT, "RCPT TO:<bob@example.org>\r\n"},
	    {FK_REPLY, "250 2.1.5 Ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\n"},
	    {FK_REPLY, "250 2.0.0 queued as A1\r\n"},
	    {FK_EXPECT, "MAIL FROM:<alice@example.com> SIZE=40\r\n"},
	    {FK_REPLY, "451 4.3.0 later\r\n"},
	    {FK_EXPECT, "RSET\r\n"},
	    {FK_REPLY, "250 2.0.0 Ok\r\n"},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;
	struct smtp_client *cl;
	struct smtp_reply r;
	struct sx_err e;

	(void)state;
	run_defaults(&t);
	t.m.body_fd = body_fd(body_text);
	fake_conn_setup(&t.f, &t.c, steps, 1);
	cl = smtp_client_open(&t.c, &t.p, &t.r, &t.e);
	assert_non_null(cl);
	sx_clear(&e);
	assert_int_equal(smtp_client_mail(cl, &t.m, &r, &e), 0);
	assert_int_equal(r.code, 250);
	assert_int_equal(smtp_client_rcpt(cl, "nobody@example.org", &r, &e), -1);
	assert_int_equal(r.code, 550);
	assert_int_equal(e.cls, SX_PERM);
	assert_int_equal(e.stage, STAGE_RCPT);
	assert_true(smtp_client_usable(cl));
	sx_clear(&e);
	assert_int_equal(smtp_client_rcpt(cl, "bob@example.org", &r, &e), 0);
	assert_int_equal(smtp_client_data(cl, t.m.body_fd, &r, &e), 0);
	assert_string_equal(r.text, "2.0.0 queued as A1");
	assert_int_equal(smtp_client_mail(cl, &t.m, &r, &e), -1);
	assert_int_equal(e.cls, SX_TEMP);
	sx_clear(&e);
	assert_int_equal(smtp_client_rset(cl, &e), 0);
	smtp_client_close(cl, 1);
	fake_conn_assert_done(&t.f);
	conn_close(&t.c, 1);
	close(t.m.body_fd);
	smtp_result_free(&t.r);
	run_done(&t);
}

/*
 * Issue 14: first cause wins.  MAIL is refused (550) in a pipelined flight
 * and RCPT's reply then never comes: the report is the refusal, with its
 * own reply text; the time-out does not rewrite its detail.
 */
static void
test_mail_refused_then_timeout(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "550 5.7.1 sender rejected\r\n"},
	    /* RCPT: after one time-out the other replies are not waited for. */
	    {FK_TIMEOUT, NULL},
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_int_equal(t.e.reply_code, 550);
	assert_string_equal(t.e.enhanced, "5.7.1");
	assert_string_equal(t.e.reply, "5.7.1 sender rejected");
	assert_string_equal(t.e.detail, "refused sender (550)");
	assert_int_equal(t.e.sys_errno, 0);
	assert_non_null(strstr(t.e.hint, "not allowed"));
	run_done(&t);
}

/*
 * MAIL refused, then a line that is no reply at all: the report stays the
 * 550 (the garbage is not the server's reply to it), and as the replies
 * are out of step nothing more is read or sent (DATA may have had its 354).
 */
static void
test_mail_refused_then_garbage(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "550 5.7.1 sender rejected\r\ngarbage\r\n"},
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	run_script(&t, steps, body_text);
	assert_int_equal(t.rc, -1);
	assert_int_equal(t.e.cls, SX_PERM);
	assert_int_equal(t.e.stage, STAGE_MAIL);
	assert_int_equal(t.e.reply_code, 550);
	assert_string_equal(t.e.enhanced, "5.7.1");
	assert_string_equal(t.e.reply, "5.7.1 sender rejected");
	assert_string_equal(t.e.detail, "refused sender (550)");
	assert_null(strstr(fake_conn_written(&t.f), "QUIT"));
	run_done(&t);
}

/* The old AUTH= form through a whole session: AUTH PLAIN goes out. */
static void
test_session_auth_old_form(void **state)
{
	static const struct fk_step steps[] = {
	    GREET,
	    EHLO,
	    CAPS_PRE,
	    STARTTLS_OK,
	    EHLO,
	    {FK_REPLY, "250-mx.example\r\n250-AUTH=LOGIN PLAIN\r\n250 PIPELINING\r\n"},
	    AUTH_PLAIN,
	    AUTH_OK,
	    QUIT,
	    {FK_END, NULL},
	};
	struct run t;

	(void)state;
	run_defaults(&t);
	t.p.check_only = 1;
	run_script(&t, steps, NULL);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.r.mech, SASL_PLAIN);
	run_done(&t);
}

/*
 * The -vv transcript shows the commands and replies, masks the AUTH
 * credentials and leaves out the message itself (conn_queue's wire modes).
 */
static void
test_transcript(void **state)
{
	static const struct fk_step steps[] = {
	    PRELUDE,
	    {FK_EXPECT,
		"MAIL FROM:<alice@example.com> SIZE=40\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, "Subject: hi\r\n\r\nhello\r\n..dot line\r\n.\r\nQUIT\r\n"},
	    {FK_REPLY, "250 queued\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct run t;
	struct diag d;
	char *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);

	(void)state;
	assert_non_null(fp);
	diag_init(&d, fp, 2, 0);
	run_defaults(&t);
	t.m.body_fd = body_fd(body_text);
	fake_conn_setup(&t.f, &t.c, steps, 0);
	conn_init(&t.c, &fake_conn_ops, &t.f, 1000, &d);
	t.rc = smtp_session(&t.c, &t.p, &t.m, &t.r, &t.e);
	fake_conn_assert_done(&t.f);
	assert_int_equal(t.rc, 0);
	diag_wire_flush(&d);
	fclose(fp);
	assert_non_null(strstr(out, "-> EHLO client.example\n"));
	assert_non_null(strstr(out, "-> AUTH PLAIN ********\n"));
	assert_null(strstr(out, "AGFsaWNl"));
	assert_non_null(strstr(out, "<- 354 go\n"));
	assert_null(strstr(out, "hello"));
	assert_null(strstr(out, "Subject"));
	assert_non_null(strstr(out, "-> QUIT\n"));
	assert_non_null(strstr(out, "<- 221 bye\n"));
	free(out);
	conn_close(&t.c, 1);
	close(t.m.body_fd);
	smtp_result_free(&t.r);
	run_done(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_auth_old_form),
	    cmocka_unit_test(test_starttls_plain_pipelined),
	    cmocka_unit_test(test_implicit_login_lockstep),
	    cmocka_unit_test(test_large_body_full_buffers),
	    cmocka_unit_test(test_starttls_bad_certificate),
	    cmocka_unit_test(test_implicit_bad_certificate),
	    cmocka_unit_test(test_starttls_not_offered),
	    cmocka_unit_test(test_starttls_454),
	    cmocka_unit_test(test_starttls_injection),
	    cmocka_unit_test(test_opportunistic_without_starttls),
	    cmocka_unit_test(test_auth_only_before_tls),
	    cmocka_unit_test(test_greeting_421),
	    cmocka_unit_test(test_greeting_timeout_hint),
	    cmocka_unit_test(test_rcpt_mixed_all_or_nothing),
	    cmocka_unit_test(test_rcpt_mixed_partial),
	    cmocka_unit_test(test_rcpt_limit_three_transactions),
	    cmocka_unit_test(test_rcpt_limit_and_refusal),
	    cmocka_unit_test(test_rcpt_limit_552_lockstep),
	    cmocka_unit_test(test_rcpt_limit_connection_lost),
	    cmocka_unit_test(test_rcpt_limit_none_accepted),
	    cmocka_unit_test(test_rcpt_452_before_any_accepted),
	    cmocka_unit_test(test_rcpt_all_refused),
	    cmocka_unit_test(test_rcpt_single_tempfail),
	    cmocka_unit_test(test_mail_refused_pipelined),
	    cmocka_unit_test(test_data_354_after_refusal_closes),
	    cmocka_unit_test(test_data_refused),
	    cmocka_unit_test(test_final_reply),
	    cmocka_unit_test(test_final_quota),
	    cmocka_unit_test(test_rcpt_quota),
	    cmocka_unit_test(test_final_timeout),
	    cmocka_unit_test(test_auth_535),
	    cmocka_unit_test(test_auth_cleartext_refused),
	    cmocka_unit_test(test_helo_fallback),
	    cmocka_unit_test(test_helo_not_when_tls_required),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_8bit),
	    cmocka_unit_test(test_smtputf8_needed),
	    cmocka_unit_test(test_crlf_in_address_refused),
	    cmocka_unit_test(test_malformed_replies),
	    cmocka_unit_test(test_wrong_code_for_command),
	    cmocka_unit_test(test_overlong_and_endless),
	    cmocka_unit_test(test_close_mid_reply),
	    cmocka_unit_test(test_tls_failure),
	    cmocka_unit_test(test_check_only),
	    cmocka_unit_test(test_bdat_one_flight),
	    cmocka_unit_test(test_bdat_hold_until_all_accepted),
	    cmocka_unit_test(test_bdat_refused_never_committed),
	    cmocka_unit_test(test_bdat_chunk_reply_timeout),
	    cmocka_unit_test(test_relay_denied_hint),
	    cmocka_unit_test(test_bdat_rcpt_limit),
	    cmocka_unit_test(test_bdat_lockstep),
	    cmocka_unit_test(test_malformed_reply_in_flight_aborts),
	    cmocka_unit_test(test_client_stepwise),
	    cmocka_unit_test(test_transcript),
	    cmocka_unit_test(test_mail_refused_then_timeout),
	    cmocka_unit_test(test_mail_refused_then_garbage),
	};

	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
