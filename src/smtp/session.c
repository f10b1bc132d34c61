/*
 * session.c — the session's pipeline (the replies still to come, handed
 * to what they answer as they are read), how the set-up steps read
 * replies and record refusals, and the session of one message from start
 * to end (see smtp.h, session.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sigflag.h"
#include "smtp/session.h"

/*
 * Most replies outstanding at once.  The replies to a full pipeline (a few
 * dozen bytes each) must fit in the socket buffers while we are still
 * writing, or both ends would wait for each other: 1024 of them are ~40
 * KiB for Postfix's, far below the buffers (Linux: 128 KiB and up).
 */
#define SMTP_PIPE_MAX 1024
/*
 * After a write that timed out, how long the replies the server sent
 * before it stalled may take to be read: those already here count, a
 * second wait for the rest would double what the timeout promised.
 */
#define SMTP_PIPE_PEEK_MS 200

static int smtp_pipe_read(struct smtp_session_state *, struct smtp_txn *, const struct sx_err *);

/*
 * Record a refusal: 4xx temporary, 5xx permanent (or the given class); a
 * 2xx or 3xx where it makes no sense is a protocol error, after which the
 * replies to a pipelined flight cannot be trusted to match their commands.
 */
int
smtp_refused(
    struct smtp_session_state *s, const struct smtp_reply *r, enum sx_class perm, const char *what)
{
	enum sx_class cls = r->code >= 500 ? perm : r->code >= 400 ? SX_TEMP : SX_PROTO;
	const char *kind = r->code >= 400 ? "refused" : "unexpected reply to";

	if (cls == SX_PROTO)
		s->desync = 1;
	return sx_fail_reply(
	    s->e, cls, s->stage, r->code, r->enhanced, r->text, "%s %s (%d)", kind, what, r->code);
}

/*
 * Read the next reply.  One that cannot be read as a reply also puts the
 * replies out of step, whatever failed before it (the error keeps the
 * first cause).
 */
int
smtp_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	struct sx_err re;

	sx_clear(&re);
	if (smtp_read_reply(s->c, s->stage, r, &re) == 0)
		return 0;
	if (re.cls == SX_PROTO)
		s->desync = 1;
	return sx_adopt(s->e, &re, s->stage);
}

void
smtp_pipe_init(struct smtp_session_state *s)
{
	s->waits = NULL;
	s->wcap = s->whead = s->nwait = s->nsent = s->eom_out = 0;
	s->live = s->finished = NULL;
	s->finished_tail = &s->finished;
}

void
smtp_pipe_free(struct smtp_session_state *s)
{
	free(s->waits);
	s->waits = NULL;
	s->wcap = s->nwait = s->nsent = 0;
	smtp_chunker_free(s->chunk);
	s->chunk = NULL;
}

int
smtp_pipe_expect(struct smtp_session_state *s, enum smtp_wait_kind kind, enum sx_stage st,
    struct smtp_txn *t, size_t idx, struct smtp_step *step)
{
	struct smtp_wait *w;

	if (s->waits == NULL) {
		if ((s->waits = calloc(SMTP_PIPE_MAX, sizeof(*s->waits))) == NULL) {
			struct sx_err e;

			sx_clear(&e);
			sx_fail(&e, SX_INTERNAL, st, "out of memory");
			smtp_pipe_lost(s, t, &e);
			return -1;
		}
		s->wcap = SMTP_PIPE_MAX;
	}
	/* Full: the oldest reply is read first (the new command goes out with it). */
	if (s->nwait == s->wcap && smtp_pipe_pump(s, t) == -1)
		return -1;
	w = &s->waits[(s->whead + s->nwait) % s->wcap];
	w->kind = kind;
	w->stage = st;
	w->t = t;
	w->idx = idx;
	w->step = step;
	w->bdat_eom = 0;
	s->nwait++;
	if (t != NULL)
		t->nout++;
	if (kind == SMTP_WAIT_EOM)
		s->eom_out++;
	return 0;
}

/*
 * Writing failed (the server closed or reset the connection, maybe after
 * a 421 while we were still sending): the replies to what went out before
 * may be waiting unread, and each one read is a message confirmed, not
 * one to send again.  Read them, then the rest is lost.
 */
void
smtp_pipe_broken(struct smtp_session_state *s, struct smtp_txn *t, const struct sx_err *cause)
{
	struct sx_err e = *cause;
	int stalled = cause->sys_errno == ETIMEDOUT, timeout = s->c->timeout_ms;

	if (stalled)
		conn_set_timeout(s->c, SMTP_PIPE_PEEK_MS);
	while (s->nsent > 0 && !s->dead)
		if (smtp_pipe_read(s, t, stalled ? &e : NULL) == -1)
			break;
	conn_set_timeout(s->c, timeout);
	if (!s->dead)
		smtp_pipe_lost(s, t, &e);
}

int
smtp_pipe_flush(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct sx_err e;

	sx_clear(&e);
	if (conn_flush(s->c, s->stage, &e) == -1) {
		smtp_pipe_broken(s, t, &e);
		return -1;
	}
	s->nsent = s->nwait;
	return 0;
}

/* Settle every message in flight that the session's state just decided. */
static void
smtp_pipe_settle_all(struct smtp_session_state *s)
{
	struct smtp_txn *x, *next;

	for (x = s->live; x != NULL; x = next) {
		next = x->next;
		smtp_txn_settle(s, x);
	}
}

void
smtp_pipe_lost(struct smtp_session_state *s, struct smtp_txn *t, const struct sx_err *cause)
{
	struct smtp_wait w;

	s->dead = 1;
	if (cause->cls == SX_PROTO)
		s->desync = 1;
	if (cause->sys_errno == ETIMEDOUT)
		s->stalled = 1;
	while (s->nwait > 0) {
		w = s->waits[s->whead];
		s->whead = (s->whead + 1) % s->wcap;
		s->nwait--;
		/* Out of step, the 354 of a DATA may be among what was not understood. */
		if (w.kind == SMTP_WAIT_DATA && s->desync)
			s->in_data = 1;
		if (w.kind == SMTP_WAIT_EOM)
			s->eom_out--;
		if (w.t != NULL) {
			w.t->nout--;
			smtp_txn_lost(s, w.t, w.stage, w.kind, cause);
		}
		if (w.step != NULL) {
			w.step->state = -1;
			sx_adopt(&w.step->e, cause, w.stage);
		}
	}
	s->nsent = 0;
	if (t != NULL)
		smtp_txn_lost(s, t, s->stage, SMTP_WAIT_MAIL, cause);
	smtp_pipe_settle_all(s);
}

int
smtp_pipe_pump(struct smtp_session_state *s, struct smtp_txn *t)
{
	return smtp_pipe_read(s, t, NULL);
}

/* smtp_pipe_pump; a reply that cannot be read loses the session with lose_as, if given. */
static int
smtp_pipe_read(struct smtp_session_state *s, struct smtp_txn *t, const struct sx_err *lose_as)
{
	struct smtp_wait w;
	struct smtp_reply r;
	struct sx_err re;
	int hold, bad;

	if (s->nwait == 0)
		return 0;
	if (smtp_pipe_flush(s, t) == -1)
		return -1;
	w = s->waits[s->whead];
	sx_clear(&re);
	/* A message whose data went out may already be accepted: no giving up now. */
	hold = s->eom_out > 0;
	if (hold)
		sigflag_hold(1);
	s->stage = w.stage;
	bad = smtp_read_reply(s->c, w.stage, &r, &re) == -1;
	if (hold)
		sigflag_hold(0);
	if (bad) {
		smtp_pipe_lost(s, t, lose_as != NULL ? lose_as : &re);
		return -1;
	}
	s->whead = (s->whead + 1) % s->wcap;
	s->nwait--;
	s->nsent--;
	if (w.kind == SMTP_WAIT_EOM)
		s->eom_out--;
	if (w.t != NULL)
		w.t->nout--;
	switch (w.kind) {
	case SMTP_WAIT_RSET:
		/* A server that will not abandon a transaction cannot be trusted with another. */
		if (r.code != 250) {
			sx_fail_reply(&re, r.code >= 400 && r.code < 500 ? SX_TEMP : SX_PROTO,
			    STAGE_MAIL, r.code, r.enhanced, r.text, "refused RSET (%d)", r.code);
			smtp_pipe_lost(s, t, &re);
			return -1;
		}
		break;
	case SMTP_WAIT_STEP:
		w.step->r = r;
		w.step->state = 1;
		/* RFC 3030 leaves a failed BDAT's transaction open: RSET before the next. */
		if (w.bdat_eom && r.code != 250)
			s->dirty = 1;
		break;
	default:
		smtp_txn_reply(s, &w, &r);
		break;
	}
	if (r.code == 421)
		s->closing = 1;
	if (s->desync) {
		sx_fail(&re, SX_PROTO, w.stage,
		    "the server's replies are out of step with the commands");
		smtp_pipe_lost(s, t, &re);
		return -1;
	}
	if (w.t != NULL)
		smtp_txn_settle(s, w.t);
	return 0;
}

void
smtp_pipe_drain(struct smtp_session_state *s)
{
	while (s->nwait > 0 && !s->dead)
		if (smtp_pipe_pump(s, NULL) == -1)
			break;
}

void
smtp_session_done(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct smtp_txn **pp;

	for (pp = &s->live; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	t->next = NULL;
	*s->finished_tail = t;
	s->finished_tail = &t->next;
}

/*
 * The one message of a session, to its end: its result and error are the
 * session's, and QUIT may close its last flight.
 */
static int
smtp_session_message(struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_message *m)
{
	if (m->nrcpts == 0)
		return sx_fail(s->e, SX_USAGE, STAGE_RCPT, "no recipients");
	t->m = m;
	t->p = *s->p;
	t->r = s->r;
	t->e = s->e;
	t->last = 1;
	if (smtp_check_message(s, t) == -1 || smtp_txn_init(s, t) == -1)
		return -1;
	s->live = t;
	smtp_txn_run(s, t);
	while (!t->done) {
		if (t->more)
			smtp_txn_run(s, t);
		else if (s->nwait > 0)
			smtp_pipe_pump(s, NULL);
		else
			smtp_txn_settle(s, t);
	}
	return t->rc;
}

int
smtp_session(struct conn *c, const struct smtp_params *p, const struct smtp_message *m,
    struct smtp_result *res, struct sx_err *e)
{
	struct smtp_session_state s;
	struct smtp_txn t;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	s.c = c;
	s.p = p;
	s.r = res;
	s.e = e;
	s.diag = conn_diag(c);
	smtp_pipe_init(&s);
	if (smtp_open(&s) == 0)
		rc = p->check_only || m == NULL ? 0 : smtp_session_message(&s, &t, m);
	if (rc == -1)
		c->failed = 1;
	if (s.greeted) {
		smtp_pipe_drain(&s);
		smtp_quit(&s, rc == 0);
	}
	smtp_txn_free(&t);
	smtp_pipe_free(&s);
	return rc;
}

void
smtp_result_free(struct smtp_result *r)
{
	free(r->rcpt);
	r->rcpt = NULL;
}
