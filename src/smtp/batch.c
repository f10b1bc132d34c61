/*
 * batch.c — a session that carries many messages (smtp.h): each message a
 * transaction of its own (mail.c), their commands pipelined one after the
 * other through the session's pipeline (session.c), their outcomes
 * collected as they finish.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp/session.h"

struct smtp_batch {
	struct smtp_session_state s;
	struct sx_err err; /* the session's own: set-up, lost, QUIT */
	size_t pending;    /* sent and not yet collected */
	int ended;         /* QUIT is on its way: nothing more may be sent */
};

struct smtp_batch *
smtp_batch_open(
    struct conn *c, const struct smtp_params *p, struct smtp_result *setup, struct sx_err *e)
{
	struct smtp_batch *b;

	memset(setup, 0, sizeof(*setup));
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONNECT, "out of memory");
		return NULL;
	}
	b->s.c = c;
	b->s.p = p;
	b->s.r = setup;
	b->s.e = &b->err;
	b->s.diag = conn_diag(c);
	smtp_pipe_init(&b->s);
	if (smtp_open(&b->s) == 0)
		return b;
	sx_adopt(e, &b->err, STAGE_CONNECT);
	if (b->s.greeted)
		smtp_quit(&b->s, 0);
	smtp_pipe_free(&b->s);
	free(b);
	return NULL;
}

int
smtp_batch_usable(const struct smtp_batch *b)
{
	return !b->ended && !b->s.dead && !b->s.closing && !b->s.quit_sent && !b->s.in_data &&
	       conn_is_open(b->s.c);
}

size_t
smtp_batch_pending(const struct smtp_batch *b)
{
	return b->pending;
}

/* Messages sent and not finished. */
static size_t
smtp_batch_inflight(const struct smtp_batch *b)
{
	const struct smtp_txn *t;
	size_t n = 0;

	for (t = b->s.live; t != NULL; t = t->next)
		n++;
	return n;
}

/* Messages whose server limit calls for another transaction: the next one goes now. */
static void
smtp_batch_continue(struct smtp_batch *b)
{
	struct smtp_txn *t;
	int again = 1;

	while (again) {
		again = 0;
		for (t = b->s.live; t != NULL; t = t->next)
			if (t->more) {
				smtp_txn_run(&b->s, t);
				again = 1; /* the list may have changed */
				break;
			}
	}
}

/* A message that never went out: finished at once, with its error. */
static void
smtp_batch_finish_now(struct smtp_batch *b, struct smtp_txn *t)
{
	t->failed = 1;
	t->done = 1;
	t->rc = -1;
	t->next = NULL;
	*b->s.finished_tail = t;
	b->s.finished_tail = &t->next;
}

int
smtp_batch_send(struct smtp_batch *b, struct smtp_job *j)
{
	struct smtp_txn *t, **pp;

	memset(&j->res, 0, sizeof(j->res));
	sx_clear(&j->err);
	j->rc = -1;
	j->txn = NULL;
	if (!smtp_batch_usable(b)) {
		if (b->err.cls != SX_OK)
			return sx_adopt(&j->err, &b->err, STAGE_MAIL);
		return sx_fail(&j->err, SX_TEMP, STAGE_MAIL,
		    b->s.closing ? "the server closed the session (421)"
				 : "the session with the relay was lost");
	}
	/* At most SMTP_BATCH_MAX in flight: the oldest finish first. */
	while (smtp_batch_inflight(b) >= SMTP_BATCH_MAX && b->s.nwait > 0) {
		smtp_pipe_pump(&b->s, NULL);
		smtp_batch_continue(b);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return sx_fail(&j->err, SX_INTERNAL, STAGE_MAIL, "out of memory");
	t->m = j->m;
	t->p = *b->s.p;
	t->p.dsn_notify = j->dsn_notify;
	t->p.dsn_ret = j->dsn_ret;
	t->p.dsn_envid = j->dsn_envid;
	t->r = &j->res;
	t->e = &j->err;
	t->owner = j;
	j->txn = t;
	j->res.caps = b->s.r->caps;
	j->res.mech = b->s.r->mech;
	b->pending++;
	if (j->m->nrcpts == 0) {
		sx_fail(t->e, SX_USAGE, STAGE_RCPT, "no recipients");
		smtp_batch_finish_now(b, t);
		return 0;
	}
	if (smtp_check_message(&b->s, t) == -1 || smtp_txn_init(&b->s, t) == -1) {
		smtp_batch_finish_now(b, t);
		return 0;
	}
	for (pp = &b->s.live; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = t;
	smtp_txn_run(&b->s, t);
	smtp_batch_continue(b);
	return 0;
}

struct smtp_job *
smtp_batch_next(struct smtp_batch *b, int wait)
{
	struct smtp_txn *t, *x, *next;
	struct smtp_job *j;

	for (;;) {
		smtp_batch_continue(b);
		if ((t = b->s.finished) != NULL) {
			if ((b->s.finished = t->next) == NULL)
				b->s.finished_tail = &b->s.finished;
			j = t->owner;
			j->rc = t->rc;
			j->txn = NULL;
			smtp_txn_free(t);
			free(t);
			b->pending--;
			return j;
		}
		if (!wait || b->s.live == NULL)
			return NULL;
		if (b->s.nwait > 0) {
			smtp_pipe_pump(&b->s, NULL);
			continue;
		}
		/* Nothing awaited, yet not finished: decided now (no verdict). */
		for (x = b->s.live; x != NULL; x = next) {
			next = x->next;
			smtp_txn_settle(&b->s, x);
		}
	}
}

/* Could this message need another transaction (a server's recipient limit)? */
static int
smtp_batch_may_continue(const struct smtp_txn *t)
{
	return !t->done && (t->more || t->ntodo > 1);
}

void
smtp_batch_end(struct smtp_batch *b)
{
	struct smtp_txn *t;
	struct sx_err ignored;

	if (b->ended)
		return;
	b->ended = 1;
	/*
	 * QUIT only once no message can need another transaction; without
	 * PIPELINING, once every reply is in.
	 */
	for (;;) {
		smtp_batch_continue(b);
		for (t = b->s.live;
		     t != NULL && !smtp_batch_may_continue(t) && b->s.r->caps.pipelining;
		     t = t->next)
			;
		if (t == NULL || b->s.nwait == 0 || smtp_pipe_pump(&b->s, NULL) == -1)
			break;
	}
	if (!b->s.greeted || !conn_is_open(b->s.c) || b->s.in_data || b->s.quit_sent)
		return;
	sx_clear(&ignored);
	b->s.stage = STAGE_QUIT;
	/* RFC 2920 3.1: QUIT closes the last group; its reply is read after all others. */
	if (smtp_cmd(b->s.c, b->s.stage, 0, &ignored, "QUIT") == 0 &&
	    conn_flush(b->s.c, b->s.stage, &ignored) == 0)
		b->s.quit_sent = 1;
}

void
smtp_batch_close(struct smtp_batch *b)
{
	struct smtp_txn *t;
	struct smtp_job *j;

	if (b == NULL)
		return;
	smtp_batch_end(b);
	/* Whatever is still awaited comes before QUIT's reply. */
	smtp_pipe_drain(&b->s);
	while ((j = smtp_batch_next(b, 0)) != NULL)
		;
	while ((t = b->s.live) != NULL) {
		b->s.live = t->next;
		((struct smtp_job *)t->owner)->txn = NULL;
		smtp_txn_free(t);
		free(t);
	}
	if (b->s.greeted)
		smtp_quit(&b->s, !b->s.dead && b->err.cls == SX_OK);
	smtp_pipe_free(&b->s);
	free(b);
}
