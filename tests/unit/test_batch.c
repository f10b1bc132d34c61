/*
 * test_batch.c — a session that carries many messages (smtp_batch_*)
 * against the scripted transport: transactions pipelined across messages
 * with BDAT and with DATA, a refusal mid-batch, RSET only for an
 * abandoned transaction, a 421 and a lost connection mid-batch, the
 * server's recipient limit inside a batch, and the bounds on messages and
 * replies in flight.  Every script runs with the replies arriving whole,
 * one byte per read, and in chunks of several other sizes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_conn.h"
#include "smtp/smtp.h"

#define PRELUDE(caps)                                                                              \
	{FK_TLS, NULL}, {FK_REPLY, "220 mx.example ESMTP\r\n"},                                    \
	    {FK_EXPECT, "EHLO client.example\r\n"}, {FK_REPLY, caps},                              \
	    {FK_EXPECT, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"},                                    \
	{                                                                                          \
		FK_REPLY, "235 2.7.0 ok\r\n"                                                       \
	}
#define CAPS_BDAT "250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"
#define CAPS_DATA "250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"
#define CAPS_STEP "250-mx.example\r\n250 AUTH PLAIN\r\n"
#define MAIL      "MAIL FROM:<alice@example.com>\r\n"
#define RCPT(n)   "RCPT TO:<r" #n "@example.org>\r\n"
#define BODY(n)   "Subject: " #n "\r\n\r\nhi\r\n"
#define BDAT(n)   "BDAT 18 LAST\r\n" BODY(n)
#define DOT(n)    BODY(n) ".\r\n"
#define OK3(q)    "250 ok\r\n250 ok\r\n250 queued as " q "\r\n"
#define MAXMSG    300

/* One batch run: messages 1..n to r<i>@example.org, their outcomes. */
struct bt {
	struct smtp_params p;
	struct fake_conn f;
	struct conn c;
	struct smtp_result setup;
	struct sx_err e;
	size_t n;
	size_t nrcpt[MAXMSG]; /* recipients of message i (default 1) */
	char *rcpts[MAXMSG][4];
	char names[MAXMSG][4][48];
	struct smtp_message m[MAXMSG];
	struct smtp_job j[MAXMSG];
	int fd[MAXMSG];
	/* Outcomes, by message: */
	int collected[MAXMSG], rc[MAXMSG], refused_send[MAXMSG];
	enum sx_class cls[MAXMSG];
	enum sx_stage stage[MAXMSG];
	int code[MAXMSG];
	size_t ndelivered[MAXMSG];
	unsigned ntransactions[MAXMSG];
	char final[MAXMSG][64];
	int usable_after;
	size_t fail_write; /* the transport's write call that fails (0: none) */
};

static int
bt_body(size_t i)
{
	char text[64];
	FILE *fp = tmpfile();
	int fd;

	assert_non_null(fp);
	fd = dup(fileno(fp));
	fclose(fp);
	snprintf(text, sizeof(text), "Subject: %zu\n\nhi\n", i);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void
bt_init(struct bt *t, size_t n)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->p.host = "mx.example";
	t->p.port = 465;
	t->p.tls = TLS_MODE_IMPLICIT;
	t->p.ehlo_name = "client.example";
	t->p.user = "alice";
	t->p.secret = "secret";
	t->n = n;
	for (i = 0; i < n; i++)
		t->nrcpt[i] = 1;
}

static void
bt_collect(struct bt *t, struct smtp_job *j)
{
	size_t i = (size_t)(uintptr_t)j->arg;

	assert_false(t->collected[i]);
	t->collected[i] = 1;
	t->rc[i] = j->rc;
	t->cls[i] = j->err.cls;
	t->stage[i] = j->err.stage;
	t->code[i] = j->err.reply_code;
	t->ndelivered[i] = j->res.ndelivered;
	t->ntransactions[i] = j->res.ntransactions;
	strlcpy(t->final[i], j->res.final.text, sizeof(t->final[i]));
	smtp_result_free(&j->res);
}

/* One run at one chunk size: open, send all (collecting as they finish), end, collect, close. */
static void
bt_run_once(struct bt *t, const struct fk_step *steps, size_t chunk)
{
	struct smtp_batch *b;
	struct smtp_job *j;
	size_t i, k;

	fake_conn_setup(&t->f, &t->c, steps, chunk);
	t->f.fail_write = t->fail_write;
	sx_clear(&t->e);
	b = smtp_batch_open(&t->c, &t->p, &t->setup, &t->e);
	assert_non_null(b);
	for (i = 0; i < t->n; i++) {
		t->fd[i] = bt_body(i + 1);
		for (k = 0; k < t->nrcpt[i]; k++) {
			if (t->nrcpt[i] == 1)
				snprintf(t->names[i][k], sizeof(t->names[i][k]), "r%zu@example.org",
				    i + 1);
			else
				snprintf(t->names[i][k], sizeof(t->names[i][k]),
				    "r%zu%c@example.org", i + 1, (int)('a' + k));
			t->rcpts[i][k] = t->names[i][k];
		}
		t->m[i].from = "alice@example.com";
		t->m[i].rcpts = t->rcpts[i];
		t->m[i].nrcpts = t->nrcpt[i];
		t->m[i].size = 16;
		t->m[i].body_fd = t->fd[i];
		t->j[i].m = &t->m[i];
		t->j[i].arg = (void *)(uintptr_t)i;
		if (smtp_batch_send(b, &t->j[i]) == -1) {
			t->refused_send[i] = 1;
			t->cls[i] = t->j[i].err.cls;
			continue;
		}
		while ((j = smtp_batch_next(b, 0)) != NULL)
			bt_collect(t, j);
	}
	t->usable_after = smtp_batch_usable(b);
	smtp_batch_end(b);
	while ((j = smtp_batch_next(b, 1)) != NULL)
		bt_collect(t, j);
	smtp_batch_close(b);
	fake_conn_assert_done(&t->f);
	conn_close(&t->c, 0);
	for (i = 0; i < t->n; i++) {
		assert_true(t->collected[i] || t->refused_send[i]);
		close(t->fd[i]);
	}
}

/*
 * The script at every chunk size, with the same outcome each time: whole,
 * 1, 2, 3, 5, 7, 13 and 64 bytes per read.
 */
static void
bt_run(struct bt *t, const struct fk_step *steps)
{
	static const size_t chunks[] = {0, 1, 2, 3, 5, 7, 13, 64};
	struct smtp_params p = t->p;
	size_t n = t->n, c, nrcpt[MAXMSG], nd[MAXMSG], fw = t->fail_write;
	int rc[MAXMSG], code[MAXMSG];
	enum sx_class cls[MAXMSG];

	memcpy(nrcpt, t->nrcpt, sizeof(nrcpt));
	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		if (c > 0) {
			fake_conn_free(&t->f);
			bt_init(t, n);
			t->p = p;
			t->fail_write = fw;
			memcpy(t->nrcpt, nrcpt, sizeof(nrcpt));
		}
		bt_run_once(t, steps, chunks[c]);
		if (c > 0) {
			assert_memory_equal(t->rc, rc, sizeof(rc));
			assert_memory_equal(t->cls, cls, sizeof(cls));
			assert_memory_equal(t->code, code, sizeof(code));
			assert_memory_equal(t->ndelivered, nd, sizeof(nd));
		}
		memcpy(rc, t->rc, sizeof(rc));
		memcpy(cls, t->cls, sizeof(cls));
		memcpy(code, t->code, sizeof(code));
		memcpy(nd, t->ndelivered, sizeof(nd));
	}
}

static void
bt_done(struct bt *t)
{
	fake_conn_free(&t->f);
}

static void
test_bdat_three_one_flight(void **state)
{
	/* Three messages and QUIT in one flight; every reply read after. */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL RCPT(1) BDAT(1)},
	    {FK_EXPECT, MAIL RCPT(2) BDAT(2)},
	    {FK_EXPECT, MAIL RCPT(3) BDAT(3) "QUIT\r\n"},
	    {FK_REPLY, OK3("A") OK3("B") OK3("C") "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
	assert_int_equal(t->rc[2], 0);
	assert_string_equal(t->final[0], "queued as A");
	assert_string_equal(t->final[2], "queued as C");
	bt_done(t);
	free(t);
}

static void
test_data_waits_only_for_354(void **state)
{
	/* DATA: the next envelope follows each message's text; one wait per message. */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_DATA),
	    {FK_EXPECT, MAIL RCPT(1) "DATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(1) MAIL RCPT(2) "DATA\r\n"},
	    {FK_REPLY, "250 queued as A\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(2) MAIL RCPT(3) "DATA\r\n"},
	    {FK_REPLY, "250 queued as B\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(3) "QUIT\r\n"},
	    {FK_REPLY, "250 queued as C\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
	assert_int_equal(t->rc[2], 0);
	assert_string_equal(t->final[1], "queued as B");
	bt_done(t);
	free(t);
}

static void
test_bdat_refused_mid_batch(void **state)
{
	/*
	 * The second message's recipient is refused: it fails on its own
	 * (its BDAT LAST refused too), the others are sent.  No RSET: no
	 * transaction followed the failed one.
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL RCPT(1) BDAT(1)},
	    {FK_EXPECT, MAIL RCPT(2) BDAT(2)},
	    {FK_EXPECT, MAIL RCPT(3) BDAT(3) "QUIT\r\n"},
	    {FK_REPLY, OK3("A") "250 ok\r\n550 5.1.1 <r2@example.org>: no such user\r\n"
				"554 5.5.1 Error: no valid recipients\r\n" OK3("C") "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], -1);
	assert_int_equal(t->cls[1], SX_NOUSER);
	assert_int_equal(t->stage[1], STAGE_RCPT);
	assert_int_equal(t->code[1], 550);
	assert_int_equal(t->rc[2], 0);
	assert_null(strstr(fake_conn_written(&t->f), "RSET"));
	bt_done(t);
	free(t);
}

static void
test_data_refused_then_rset(void **state)
{
	/*
	 * DATA refused after an accepted MAIL leaves the transaction open
	 * (Postfix: the next MAIL would be "nested"): RSET goes first, in the
	 * next message's flight.
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_DATA),
	    {FK_EXPECT, MAIL RCPT(1) "DATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(1) MAIL RCPT(2) "DATA\r\n"},
	    {FK_REPLY, "250 queued as A\r\n250 ok\r\n550 5.1.1 no such user\r\n"
		       "554 5.5.1 Error: no valid recipients\r\n"},
	    {FK_EXPECT, "RSET\r\n" MAIL RCPT(3) "DATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(3) "QUIT\r\n"},
	    {FK_REPLY, "250 queued as C\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], -1);
	assert_int_equal(t->cls[1], SX_NOUSER);
	assert_int_equal(t->rc[2], 0);
	bt_done(t);
	free(t);
}

static void
test_mail_refused_no_rset(void **state)
{
	/* A refused MAIL opens no transaction: the next needs no RSET. */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_DATA),
	    {FK_EXPECT, MAIL RCPT(1) "DATA\r\n"},
	    {FK_REPLY, "553 5.7.1 not yours\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"},
	    {FK_EXPECT, MAIL RCPT(2) "DATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(2) "QUIT\r\n"},
	    {FK_REPLY, "250 queued as B\r\n221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 2);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], -1);
	assert_int_equal(t->cls[0], SX_PERM);
	assert_int_equal(t->stage[0], STAGE_MAIL);
	assert_int_equal(t->rc[1], 0);
	bt_done(t);
	free(t);
}

static void
test_421_mid_batch(void **state)
{
	/*
	 * 421 at the second MAIL, then the server closes: the first message
	 * is sent, the second fails with the 421, the third with the lost
	 * session; both temporary, and the session takes no more.
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL RCPT(1) BDAT(1)},
	    {FK_EXPECT, MAIL RCPT(2) BDAT(2)},
	    {FK_EXPECT, MAIL RCPT(3) BDAT(3) "QUIT\r\n"},
	    {FK_REPLY, OK3("A") "421 4.7.0 too many messages in this session, closing\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], -1);
	assert_int_equal(t->cls[1], SX_TEMP);
	assert_int_equal(t->code[1], 421);
	assert_int_equal(t->rc[2], -1);
	assert_int_equal(t->cls[2], SX_TEMP);
	assert_int_equal(t->ndelivered[2], 0);
	bt_done(t);
	free(t);
}

static void
test_421_refuses_more(void **state)
{
	/* DATA: the 421 is known before the third message: it is not sent at all. */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_DATA),
	    {FK_EXPECT, MAIL RCPT(1) "DATA\r\n"},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {FK_EXPECT, DOT(1) MAIL RCPT(2) "DATA\r\n"},
	    {FK_REPLY, "250 queued as A\r\n421 4.3.2 shutting down\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], -1);
	assert_int_equal(t->code[1], 421);
	assert_int_equal(t->refused_send[2], 1);
	assert_int_equal(t->cls[2], SX_TEMP);
	assert_int_equal(t->usable_after, 0);
	bt_done(t);
	free(t);
}

static void
test_reset_mid_batch(void **state)
{
	/*
	 * The connection is lost after the first message's verdict: it is
	 * sent; the others, unconfirmed, fail as temporary (kept, retried).
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL RCPT(1) BDAT(1)},
	    {FK_EXPECT, MAIL RCPT(2) BDAT(2)},
	    {FK_EXPECT, MAIL RCPT(3) BDAT(3) "QUIT\r\n"},
	    {FK_REPLY, OK3("A") "250 ok\r\n250 ok\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], -1);
	assert_int_equal(t->cls[1], SX_TEMP);
	assert_int_equal(t->stage[1], STAGE_EOM);
	assert_int_equal(t->ndelivered[1], 0);
	assert_int_equal(t->rc[2], -1);
	assert_int_equal(t->cls[2], SX_TEMP);
	assert_int_equal(t->stage[2], STAGE_MAIL);
	bt_done(t);
	free(t);
}

static void
test_rcpt_limit_in_batch(void **state)
{
	/*
	 * Message 1 has three recipients and the server takes two: its data
	 * is held until the envelope is answered, committed for two, and the
	 * third follows in another transaction after message 2.
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL "RCPT TO:<r1a@example.org>\r\nRCPT TO:<r1b@example.org>\r\n"
			     "RCPT TO:<r1c@example.org>\r\nBDAT 18\r\n" BODY(1)},
	    {FK_REPLY, "250 ok\r\n250 ok\r\n250 ok\r\n452 4.5.3 Error: too many recipients\r\n"},
	    {FK_EXPECT, "BDAT 0 LAST\r\n" MAIL RCPT(2) BDAT(2)},
	    {FK_REPLY, "250 18 octets\r\n250 queued as A\r\n"},
	    {FK_EXPECT, MAIL "RCPT TO:<r1c@example.org>\r\n" BDAT(1) "QUIT\r\n"},
	    {FK_REPLY, OK3("B") OK3("C") "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 2);
	t->nrcpt[0] = 3;
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->ndelivered[0], 3);
	assert_int_equal(t->ntransactions[0], 2);
	assert_string_equal(t->final[0], "queued as C");
	assert_int_equal(t->rc[1], 0);
	bt_done(t);
	free(t);
}

static void
test_lockstep_batch(void **state)
{
	/* Without PIPELINING every command waits for its reply, across messages too. */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_STEP),
	    {FK_EXPECT, MAIL},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, RCPT(1)},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, DOT(1)},
	    {FK_REPLY, "250 queued as A\r\n"},
	    {FK_EXPECT, MAIL},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, RCPT(2)},
	    {FK_REPLY, "250 ok\r\n"},
	    {FK_EXPECT, "DATA\r\n"},
	    {FK_REPLY, "354 go\r\n"},
	    {FK_EXPECT, DOT(2)},
	    {FK_REPLY, "250 queued as B\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 2);
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
	bt_done(t);
	free(t);
}

static void
test_write_fails_replies_read(void **state)
{
	/*
	 * The server took two messages, then closed (a 421 we never got to
	 * read) while the third was being written: the replies already there
	 * are read, so the first two count as sent, not as lost; the third
	 * is lost (temporary).
	 */
	static const struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, MAIL RCPT(1) BDAT(1)},
	    {FK_EXPECT, MAIL RCPT(2) BDAT(2)},
	    {FK_REPLY, OK3("A") OK3("B") "421 4.7.0 closing\r\n"},
	    {FK_EOF, NULL},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	bt_init(t, 3);
	/* Writes: EHLO, AUTH, message 1, message 2; the third message's fails. */
	t->fail_write = 5;
	bt_run(t, steps);
	assert_int_equal(t->rc[0], 0);
	assert_int_equal(t->rc[1], 0);
	assert_string_equal(t->final[1], "queued as B");
	assert_int_equal(t->rc[2], -1);
	assert_int_equal(t->cls[2], SX_TEMP);
	bt_done(t);
	free(t);
}

/* Append to a growing buffer. */
static void
cat(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);

	*buf = realloc(*buf, *len + n + 1);
	assert_non_null(*buf);
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static void
test_window_bounded(void **state)
{
	/*
	 * 300 messages: at most SMTP_BATCH_MAX are in flight, so the first
	 * read comes once that many went out; then one finishes, one more
	 * goes.  Every message gets its own verdict.
	 */
	char *first = NULL, *rest = NULL, *replies = NULL, line[128];
	size_t lf = 0, lr = 0, lp = 0, i;
	struct fk_step steps[] = {
	    PRELUDE(CAPS_BDAT),
	    {FK_EXPECT, NULL},
	    {FK_REPLY, NULL},
	    {FK_EXPECT, NULL},
	    {FK_END, NULL},
	};
	struct bt *t = malloc(sizeof(*t));

	(void)state;
	assert_non_null(t);
	for (i = 1; i <= MAXMSG; i++) {
		snprintf(line, sizeof(line), MAIL "RCPT TO:<r%zu@example.org>\r\nBDAT %zu LAST\r\n",
		    i, (size_t)(18 + (i >= 10) + (i >= 100)));
		cat(i <= SMTP_BATCH_MAX ? &first : &rest, i <= SMTP_BATCH_MAX ? &lf : &lr, line);
		snprintf(line, sizeof(line), "Subject: %zu\r\n\r\nhi\r\n", i);
		cat(i <= SMTP_BATCH_MAX ? &first : &rest, i <= SMTP_BATCH_MAX ? &lf : &lr, line);
		snprintf(line, sizeof(line), "250 ok\r\n250 ok\r\n250 queued as Q%zu\r\n", i);
		cat(&replies, &lp, line);
	}
	cat(&rest, &lr, "QUIT\r\n");
	cat(&replies, &lp, "221 bye\r\n");
	steps[6].data = first;
	steps[7].data = replies;
	steps[8].data = rest;
	bt_init(t, MAXMSG);
	bt_run(t, steps);
	for (i = 0; i < MAXMSG; i++) {
		snprintf(line, sizeof(line), "queued as Q%zu", i + 1);
		assert_int_equal(t->rc[i], 0);
		assert_string_equal(t->final[i], line);
	}
	bt_done(t);
	free(t);
	free(first);
	free(rest);
	free(replies);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bdat_three_one_flight),
	    cmocka_unit_test(test_data_waits_only_for_354),
	    cmocka_unit_test(test_bdat_refused_mid_batch),
	    cmocka_unit_test(test_data_refused_then_rset),
	    cmocka_unit_test(test_mail_refused_no_rset),
	    cmocka_unit_test(test_421_mid_batch),
	    cmocka_unit_test(test_421_refuses_more),
	    cmocka_unit_test(test_reset_mid_batch),
	    cmocka_unit_test(test_write_fails_replies_read),
	    cmocka_unit_test(test_rcpt_limit_in_batch),
	    cmocka_unit_test(test_lockstep_batch),
	    cmocka_unit_test(test_window_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
