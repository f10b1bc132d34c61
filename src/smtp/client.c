/*
 * client.c — the step-by-step client (smtp.h): the same state and checks
 * as smtp_session, driven one command at a time by a caller that speaks
 * SMTP itself (-bs), so the relay's verdict on each command reaches it.
 * The steps go through the session's pipeline: a caller's pipelined group
 * leaves as one group, and each reply comes back into its own step.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "smtp/session.h"

struct smtp_client {
	struct smtp_session_state s;
	struct smtp_txn t;     /* the data's chunks (never settled: it reports through steps) */
	struct smtp_message m; /* the current transaction: from, flags, size; one recipient */
	char *rcpt_one[1];
	struct sx_err err; /* the session's own */
};

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
	cl->t.e = &cl->err;
	cl->t.sending = 1;
	if (smtp_open(&cl->s) == -1) {
		if (cl->s.greeted)
			smtp_quit(&cl->s, 0);
		smtp_pipe_free(&cl->s);
		free(cl);
		return NULL;
	}
	sx_clear(&cl->err);
	cl->s.e = &cl->err;
	return cl;
}

int
smtp_client_usable(const struct smtp_client *cl)
{
	return conn_is_open(cl->s.c) && !cl->s.in_data && !cl->s.quit_sent && !cl->s.dead &&
	       !cl->s.closing;
}

size_t
smtp_client_awaited(const struct smtp_client *cl)
{
	return cl->s.nwait;
}

/* A step that cannot go: answered at once, as lost. */
static int
smtp_client_unsent(struct smtp_client *cl, struct smtp_step *st, const struct sx_err *why)
{
	st->state = -1;
	sx_adopt(&st->e, why, cl->s.stage);
	if (!conn_is_open(cl->s.c))
		cl->s.dead = 1;
	return -1;
}

/* Await a queued command's reply in st; without PIPELINING, at once. */
static int
smtp_client_expect(struct smtp_client *cl, enum sx_stage st, struct smtp_step *step)
{
	if (smtp_pipe_expect(&cl->s, SMTP_WAIT_STEP, st, NULL, 0, step) == -1)
		return -1;
	if (!cl->s.r->caps.pipelining)
		return smtp_client_wait(cl, step);
	return 0;
}

int
smtp_client_wait(struct smtp_client *cl, struct smtp_step *st)
{
	if (smtp_pipe_flush(&cl->s, NULL) == -1)
		return -1;
	while (cl->s.nwait > 0 && (st == NULL || st->state == 0))
		if (smtp_pipe_pump(&cl->s, NULL) == -1)
			return -1;
	return 0;
}

int
smtp_client_mail_step(struct smtp_client *cl, const struct smtp_message *m, struct smtp_step *st)
{
	memset(st, 0, sizeof(*st));
	sx_clear(&cl->err);
	cl->m = *m;
	cl->m.nrcpts = 1; /* checks below look at the flags and size only */
	/* Refused before it goes: the relay said what it cannot take. */
	if (smtp_check_message(&cl->s, &cl->t) == -1) {
		st->state = -1;
		st->e = cl->err;
		return -1;
	}
	/* A failed BDAT leaves its transaction in doubt (RFC 3030): RSET first. */
	if (cl->s.dirty) {
		cl->s.dirty = 0;
		smtp_client_rset_step(cl);
	}
	if (!smtp_client_usable(cl))
		return smtp_client_unsent(cl, st, &cl->err);
	if (smtp_queue_mail(&cl->s, &cl->t) == -1)
		return smtp_client_unsent(cl, st, &cl->err);
	return smtp_client_expect(cl, STAGE_MAIL, st);
}

int
smtp_client_rcpt_step(struct smtp_client *cl, const char *rcpt, struct smtp_step *st)
{
	memset(st, 0, sizeof(*st));
	sx_clear(&cl->err);
	cl->rcpt_one[0] = (char *)(uintptr_t)rcpt;
	cl->m.rcpts = cl->rcpt_one;
	cl->m.nrcpts = 1;
	if (!smtp_client_usable(cl) || smtp_queue_rcpt(&cl->s, &cl->t, 0) == -1)
		return smtp_client_unsent(cl, st, &cl->err);
	return smtp_client_expect(cl, STAGE_RCPT, st);
}

int
smtp_client_data_step(struct smtp_client *cl, int body_fd, struct smtp_step *final)
{
	struct smtp_step data;

	memset(final, 0, sizeof(*final));
	sx_clear(&cl->err);
	cl->m.body_fd = body_fd;
	cl->t.txn_bytes = cl->s.r->body_bytes;
	if (!smtp_client_usable(cl))
		return smtp_client_unsent(cl, final, &cl->err);
	if (cl->s.r->caps.chunking) {
		if (smtp_client_bdat(&cl->s, &cl->t, final) == -1) {
			/* A chunk refused, or the spool unreadable: no LAST went out. */
			cl->s.dirty = 1;
			if (cl->t.failed) {
				final->state = 1;
				final->r.code = cl->err.reply_code;
				strlcpy(
				    final->r.enhanced, cl->err.enhanced, sizeof(final->r.enhanced));
				strlcpy(final->r.text, cl->err.reply, sizeof(final->r.text));
				return -1;
			}
			return smtp_client_unsent(cl, final, &cl->err);
		}
		if (!cl->s.r->caps.pipelining)
			return smtp_client_wait(cl, final);
		return smtp_pipe_flush(&cl->s, NULL);
	}
	/* DATA: its 354 is waited for; the text follows at once. */
	cl->s.stage = STAGE_DATA;
	memset(&data, 0, sizeof(data));
	if (smtp_cmd(cl->s.c, cl->s.stage, 0, &cl->err, "DATA") == -1 ||
	    smtp_pipe_expect(&cl->s, SMTP_WAIT_STEP, STAGE_DATA, NULL, 0, &data) == -1 ||
	    smtp_client_wait(cl, &data) == -1 || data.state != 1) {
		*final = data;
		if (final->state == 0)
			return smtp_client_unsent(cl, final, &cl->err);
		return -1;
	}
	if (data.r.code != 354) {
		/* The transaction stays open at the relay (Postfix: "nested MAIL" next). */
		cl->s.dirty = 1;
		*final = data;
		return -1;
	}
	cl->s.in_data = 1;
	if (smtp_send_body(&cl->s, &cl->t) == -1) {
		cl->s.dead = 1;
		return smtp_client_unsent(cl, final, &cl->err);
	}
	if (smtp_pipe_expect(&cl->s, SMTP_WAIT_STEP, STAGE_EOM, NULL, 0, final) == -1)
		return -1;
	if (!cl->s.r->caps.pipelining)
		return smtp_client_wait(cl, final);
	return smtp_pipe_flush(&cl->s, NULL);
}

void
smtp_client_rset_step(struct smtp_client *cl)
{
	struct sx_err ignored;

	sx_clear(&ignored);
	cl->s.stage = STAGE_MAIL;
	if (!smtp_client_usable(cl) || smtp_cmd(cl->s.c, cl->s.stage, 0, &ignored, "RSET") == -1)
		return;
	if (smtp_pipe_expect(&cl->s, SMTP_WAIT_RSET, STAGE_MAIL, NULL, 0, NULL) == 0 &&
	    !cl->s.r->caps.pipelining)
		smtp_client_wait(cl, NULL);
}

/* A step's outcome for the lockstep calls: 0 accepted (want), else -1 with e. */
static int
smtp_client_outcome(struct smtp_client *cl, const struct smtp_step *st, int want,
    struct smtp_reply *r, struct sx_err *e, const char *what)
{
	enum sx_class cls;

	if (st->state != 1) {
		if (st->state == 0)
			return sx_fail(e, SX_INTERNAL, cl->s.stage, "no reply awaited");
		return sx_adopt(e, &st->e, cl->s.stage);
	}
	*r = st->r;
	if (r->code == want || (want == 250 && r->code == 251 && strcmp(what, "recipient") == 0))
		return 0;
	cls = r->code >= 500 ? SX_PERM : r->code >= 400 ? SX_TEMP : SX_PROTO;
	return sx_fail_reply(e, cls, cl->s.stage, r->code, r->enhanced, r->text, "%s %s (%d)",
	    r->code >= 400 ? "refused" : "unexpected reply to", what, r->code);
}

int
smtp_client_mail(
    struct smtp_client *cl, const struct smtp_message *m, struct smtp_reply *r, struct sx_err *e)
{
	struct smtp_step st;

	memset(r, 0, sizeof(*r));
	if (smtp_client_mail_step(cl, m, &st) == -1 && st.state != 1)
		return sx_adopt(e, &st.e, STAGE_MAIL);
	smtp_client_wait(cl, &st);
	cl->s.stage = STAGE_MAIL;
	return smtp_client_outcome(cl, &st, 250, r, e, "sender");
}

int
smtp_client_rcpt(struct smtp_client *cl, const char *rcpt, struct smtp_reply *r, struct sx_err *e)
{
	struct smtp_step st;

	memset(r, 0, sizeof(*r));
	smtp_client_rcpt_step(cl, rcpt, &st);
	smtp_client_wait(cl, &st);
	cl->s.stage = STAGE_RCPT;
	return smtp_client_outcome(cl, &st, 250, r, e, "recipient");
}

int
smtp_client_data(struct smtp_client *cl, int body_fd, struct smtp_reply *final, struct sx_err *e)
{
	struct smtp_step st;

	memset(final, 0, sizeof(*final));
	smtp_client_data_step(cl, body_fd, &st);
	smtp_client_wait(cl, &st);
	cl->s.stage = STAGE_EOM;
	if (st.state == -1 && st.e.sys_errno == ETIMEDOUT)
		sx_hint(&st.e, "the server did not confirm the message; it may or may not have "
			       "been accepted");
	if (smtp_client_outcome(cl, &st, 250, final, e, "the message") == -1)
		return -1;
	diag_stage(cl->s.diag, STAGE_EOM, "%d %.300s (%llu bytes sent)", final->code, final->text,
	    cl->s.r->body_bytes - cl->t.txn_bytes);
	cl->s.r->final = *final;
	return 0;
}

int
smtp_client_rset(struct smtp_client *cl, struct sx_err *e)
{
	(void)e;
	smtp_client_rset_step(cl);
	return smtp_client_wait(cl, NULL);
}

void
smtp_client_close(struct smtp_client *cl, int ok)
{
	struct sx_err ignored;

	if (cl == NULL)
		return;
	sx_clear(&ignored);
	cl->s.e = &ignored;
	smtp_pipe_drain(&cl->s);
	smtp_quit(&cl->s, ok);
	smtp_pipe_free(&cl->s);
	free(cl);
}
