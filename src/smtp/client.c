/*
 * client.c — the step-by-step client (smtp.h): the same state and checks
 * as smtp_session, driven one command at a time by a caller that speaks
 * SMTP itself (-bs), so the relay's verdict on each command reaches it.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/sigflag.h"
#include "smtp/session.h"

struct smtp_client {
	struct smtp_session_state s;
	struct smtp_txn t;     /* the current transaction */
	struct smtp_message m; /* its message: from, flags, size, and one recipient at a time */
	char *rcpt_one[1];
	int in_transaction;
};

static int
smtp_client_fail_reply(struct smtp_client *cl, const struct smtp_reply *r, const char *what)
{
	return smtp_refused(&cl->s, r, SX_PERM, what);
}

struct smtp_client *
smtp_client_open(
    struct conn *c, const struct smtp_params *p, struct smtp_result *res, struct sx_err *e)
{
	struct smtp_client *cl;

	memset(res, 0, sizeof(*res));
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONNECT, "out of memory");
		return NULL;
	}
	cl->s.c = c;
	cl->s.p = p;
	cl->s.r = res;
	cl->s.e = e;
	cl->s.diag = conn_diag(c);
	smtp_pipe_init(&cl->s);
	cl->t.m = &cl->m;
	cl->t.p = *p;
	cl->t.r = res;
	cl->t.e = e;
	if (smtp_open(&cl->s) == -1) {
		if (cl->s.greeted)
			smtp_quit(&cl->s, 0);
		smtp_pipe_free(&cl->s);
		free(cl);
		return NULL;
	}
	return cl;
}

int
smtp_client_usable(const struct smtp_client *cl)
{
	return conn_is_open(cl->s.c) && !cl->s.in_data && !cl->s.quit_sent && !cl->s.dead;
}

/* One command in lockstep; the reply goes to *r.  0, or -1 (e filled). */
static int
smtp_client_step(struct smtp_client *cl, struct smtp_reply *r, struct sx_err *e)
{
	cl->s.e = e;
	if (conn_flush(cl->s.c, cl->s.stage, e) == -1 || smtp_reply(&cl->s, r) == -1)
		return -1;
	return 0;
}

int
smtp_client_mail(
    struct smtp_client *cl, const struct smtp_message *m, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->t.e = e;
	cl->m = *m;
	cl->m.nrcpts = 1; /* checks below look at the flags and size only */
	if (smtp_check_message(&cl->s, &cl->t) == -1 || smtp_queue_mail(&cl->s, &cl->t) == -1 ||
	    smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250)
		return smtp_client_fail_reply(cl, r, "sender");
	cl->in_transaction = 1;
	return 0;
}

int
smtp_client_rcpt(struct smtp_client *cl, const char *rcpt, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->t.e = e;
	cl->rcpt_one[0] = (char *)(uintptr_t)rcpt;
	cl->m.rcpts = cl->rcpt_one;
	cl->m.nrcpts = 1;
	if (smtp_queue_rcpt(&cl->s, &cl->t, 0) == -1 || smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250 && r->code != 251)
		return smtp_client_fail_reply(cl, r, "recipient");
	return 0;
}

/* The relay's verdict on the message; signals wait (it may be accepted already). */
static int
smtp_client_final(struct smtp_client *cl, struct smtp_reply *final, struct sx_err *e)
{
	int rc;

	cl->s.stage = STAGE_EOM;
	sigflag_hold(1);
	rc = conn_flush(cl->s.c, cl->s.stage, e) == -1 || smtp_reply(&cl->s, final) == -1;
	sigflag_hold(0);
	if (rc) {
		if (e->sys_errno == ETIMEDOUT)
			sx_hint(e, "the server did not confirm the message; it may or may not have "
				   "been accepted");
		return -1;
	}
	if (final->code != 250)
		return smtp_client_fail_reply(cl, final, "the message");
	diag_stage(cl->s.diag, STAGE_EOM, "%d %.300s (%llu bytes sent)", final->code, final->text,
	    cl->s.r->body_bytes - cl->t.txn_bytes);
	return 0;
}

int
smtp_client_data(struct smtp_client *cl, int body_fd, struct smtp_reply *final, struct sx_err *e)
{
	struct smtp_reply r;

	memset(final, 0, sizeof(*final));
	cl->s.e = e;
	cl->t.e = e;
	cl->m.body_fd = body_fd;
	cl->s.stage = STAGE_DATA;
	if (smtp_cmd(cl->s.c, cl->s.stage, 0, e, "DATA") == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 354) {
		*final = r;
		return smtp_client_fail_reply(cl, &r, "DATA");
	}
	cl->s.in_data = 1;
	cl->in_transaction = 0;
	cl->t.txn_bytes = cl->s.r->body_bytes;
	if (smtp_send_body(&cl->s, &cl->t) == -1)
		return -1;
	if (smtp_client_final(cl, final, e) == -1)
		return -1;
	cl->s.r->final = *final;
	return 0;
}

int
smtp_client_rset(struct smtp_client *cl, struct sx_err *e)
{
	struct smtp_reply r;

	cl->s.e = e;
	cl->in_transaction = 0;
	cl->s.stage = STAGE_MAIL;
	if (smtp_cmd(cl->s.c, cl->s.stage, 0, e, "RSET") == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 250)
		return smtp_client_fail_reply(cl, &r, "RSET");
	return 0;
}

void
smtp_client_close(struct smtp_client *cl, int ok)
{
	struct sx_err ignored;

	if (cl == NULL)
		return;
	sx_clear(&ignored);
	cl->s.e = &ignored;
	smtp_quit(&cl->s, ok);
	smtp_pipe_free(&cl->s);
	free(cl);
}
