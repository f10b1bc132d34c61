/*
 * bsrelay.c — -bs: the relay side of a caller's session (smtp/bs.h).  One
 * relay session serves the whole caller session: opened at the first
 * MAIL, kept open across messages, reopened at a MAIL when it was lost (a
 * relay that dropped an idle session), and given up for the rest of the
 * caller's session when an open fails (every later message is then only
 * queued).  The secret is read once and lives until the caller's session
 * ends.
 *
 * The caller's commands go to the relay as it sends them, pipelined: each
 * is a step of the relay session (smtp.h) whose answer is owed to the
 * caller until the next sync, which reads the relay's replies and hands
 * them out in order.  Each message goes through deliver_begin and
 * deliver_end like a queued one: its verdict, when it comes, removes it
 * or keeps it as queued or failed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fsutil.h"
#include "mode/run.h"
#include "net/relay.h"
#include "smtp/bs.h"
#include "store/queue.h"

/* A caller's session idle this long: its next MAIL waits for the relay (is it still there?). */
#define BSRELAY_IDLE_MS 1000

/* An answer the relay owes the caller. */
enum bsrelay_kind { BSR_MAIL, BSR_RCPT, BSR_DATA };

struct bsrelay_owed {
	enum bsrelay_kind kind;
	struct bs_answer *a;
	struct smtp_step step;
	/* BSR_DATA: the message on its way */
	struct queue_meta qm;
	struct deliver_ctx dc;
	struct deliver_job j;
	struct bsrelay_owed *next;
};

struct bsrelay {
	struct run *r;
	struct relay rl;
	struct smtp_result res; /* capabilities of the open session */
	struct smtp_client *cl;
	int failed;             /* an open failed: no more attempts */
	struct sx_err open_err; /* and why */
	struct bsrelay_owed *owed, **owed_tail;
	int64_t last_ms; /* when the relay last answered */
	unsigned txn_ok; /* recipients the relay accepted in its current transaction */
};

/* Every owed step answered: read the relay's replies (they are kept in the steps). */
static void
bsrelay_read_owed(struct bsrelay *b)
{
	if (b->cl != NULL && b->owed != NULL)
		smtp_client_wait(b->cl, NULL);
	b->last_ms = clock_now_ms();
}

static void
bsrelay_disconnect(struct bsrelay *b)
{
	if (b->cl == NULL)
		return;
	/* Closing reads what is still awaited: every owed step has its answer after. */
	smtp_client_close(b->cl, smtp_client_usable(b->cl));
	b->cl = NULL;
	relay_disconnect(&b->rl);
	smtp_result_free(&b->res);
}

/* Connect, TLS, AUTH.  0, or -1 with e filled. */
static int
bsrelay_open(struct bsrelay *b, struct sx_err *e)
{
	struct relay_opts ro;

	if (b->failed) {
		sx_adopt(e, &b->open_err, STAGE_CONNECT);
		return -1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.hostname = b->r->hostname;
	ro.dsn_notify = b->r->opt.dsn_notify;
	ro.dsn_ret = b->r->opt.dsn_ret;
	ro.dsn_envid = b->r->opt.dsn_envid;
	if (relay_connect(&b->rl, &b->r->acct, &ro, &b->r->diag, e) == -1)
		goto fail;
	b->rl.sp.allow_partial = 1; /* the caller decides, RCPT by RCPT */
	if ((b->cl = smtp_client_open(&b->rl.c, &b->rl.sp, &b->res, e)) == NULL) {
		relay_disconnect(&b->rl);
		goto fail;
	}
	b->last_ms = clock_now_ms();
	return 0;
fail:
	smtp_result_free(&b->res);
	b->failed = 1;
	b->open_err = *e;
	return -1;
}

static struct bsrelay_owed *
bsrelay_owe(struct bsrelay *b, enum bsrelay_kind kind, struct bs_answer *a)
{
	struct bsrelay_owed *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->kind = kind;
	o->a = a;
	(void)b;
	return o;
}

static void
bsrelay_push(struct bsrelay *b, struct bsrelay_owed *o)
{
	o->a->pending = 1;
	o->next = NULL;
	*b->owed_tail = o;
	b->owed_tail = &o->next;
}

/*
 * A relay's reply to MAIL or RCPT as the caller's answer; the accepted
 * recipients of its transaction counted (answers come in order).
 */
static void
bsrelay_answer_step(struct bsrelay *b, struct bs_answer *a, const struct smtp_step *st, int rcpt)
{
	a->pending = 0;
	if (!rcpt)
		b->txn_ok = 0;
	if (st->state == 1) {
		a->r = st->r;
		a->rc = st->r.code == 250 || (rcpt && st->r.code == 251) ? 0 : 1;
		if (rcpt && a->rc == 0)
			b->txn_ok++;
		return;
	}
	a->rc = -1;
	a->e = st->e;
	if (a->e.cls == SX_OK)
		sx_fail(
		    &a->e, SX_TEMP, rcpt ? STAGE_RCPT : STAGE_MAIL, "the relay session was lost");
}

static void
bsrelay_mail(
    void *arg, const struct smtp_message *m, unsigned long long *limit, struct bs_answer *a)
{
	struct bsrelay *b = arg;
	struct bsrelay_owed *o;
	const char *enh;
	int tries, fresh = 0, idle;

	memset(a, 0, sizeof(*a));
	for (tries = 0; tries < 2; tries++) {
		if (b->cl != NULL && !smtp_client_usable(b->cl))
			bsrelay_disconnect(b);
		if (b->cl == NULL) {
			sx_clear(&a->e);
			if (bsrelay_open(b, &a->e) == -1) {
				a->rc = -1;
				return;
			}
			fresh = 1;
		}
		if (b->res.caps.size_offered && b->res.caps.size > 0)
			*limit = b->res.caps.size;
		if ((o = bsrelay_owe(b, BSR_MAIL, a)) == NULL) {
			a->rc = -1;
			sx_fail(&a->e, SX_INTERNAL, STAGE_MAIL, "out of memory");
			return;
		}
		/*
		 * A session that sat idle may have been dropped by the relay:
		 * then MAIL waits for its reply, and a lost session is opened
		 * again.  In a pipelined group the reply is owed until the sync.
		 */
		idle = smtp_client_awaited(b->cl) == 0 &&
		       clock_now_ms() - b->last_ms > BSRELAY_IDLE_MS;
		if (smtp_client_mail_step(b->cl, m, &o->step) == -1 && o->step.state == -1 &&
		    smtp_client_usable(b->cl)) {
			/* Refused before sending: size, SMTPUTF8, 8-bit. */
			a->rc = 1;
			a->r.code = o->step.e.reply_code != 0 ? o->step.e.reply_code
							      : sx_smtp_code(&o->step.e, &enh);
			strlcpy(a->r.enhanced, o->step.e.reply_code != 0 ? o->step.e.enhanced : enh,
			    sizeof(a->r.enhanced));
			snprintf(a->r.text, sizeof(a->r.text), "%s", o->step.e.detail);
			free(o);
			return;
		}
		if (o->step.state == 0 && !idle) {
			bsrelay_push(b, o);
			return;
		}
		smtp_client_wait(b->cl, &o->step);
		b->last_ms = clock_now_ms();
		bsrelay_answer_step(b, a, &o->step, 0);
		free(o);
		if (a->rc != -1 || fresh)
			return;
		/* The kept session was dropped while idle: once more on a new one. */
	}
}

static void
bsrelay_rcpt(void *arg, const char *rcpt, struct bs_answer *a)
{
	struct bsrelay *b = arg;
	struct bsrelay_owed *o;

	memset(a, 0, sizeof(*a));
	if (b->cl == NULL || !smtp_client_usable(b->cl)) {
		a->rc = -1;
		sx_fail(&a->e, SX_TEMP, STAGE_RCPT, "the relay session was lost");
		return;
	}
	if ((o = bsrelay_owe(b, BSR_RCPT, a)) == NULL) {
		a->rc = -1;
		sx_fail(&a->e, SX_INTERNAL, STAGE_RCPT, "out of memory");
		return;
	}
	smtp_client_rcpt_step(b->cl, rcpt, &o->step);
	if (o->step.state == 0) {
		bsrelay_push(b, o);
		return;
	}
	bsrelay_answer_step(b, a, &o->step, 1);
	free(o);
}

static void
bsrelay_rset(void *arg)
{
	struct bsrelay *b = arg;

	if (b->cl != NULL && smtp_client_usable(b->cl))
		smtp_client_rset_step(b->cl);
}

/*
 * What became of one message of the caller's session, as a queue run
 * reports each (a result event under -v and in JSON); why: its failure,
 * or NULL.
 */
static void
bsrelay_result(struct run *r, const char *id, enum diag_state st, const struct sx_err *why)
{
	struct diag_field f[4] = {{"id", id, 0}, {"state", diag_state_name(st), 0}};
	size_t n = 2;

	if (why != NULL && why->reply_code != 0)
		f[n++] = (struct diag_field){"code", NULL, why->reply_code};
	if (why != NULL && why->enhanced[0] != '\0')
		f[n++] = (struct diag_field){"enhanced", why->enhanced, 0};
	/* The cause went to the caller in the reply: only where it failed here. */
	diag_stage_event(&r->diag, "result", why != NULL ? why->stage : STAGE_QUEUE, f, n,
	    "message %s: %s%s%s%s", id, diag_state_name(st), why != NULL ? " (" : "",
	    why != NULL ? sx_stage_name(why->stage) : "", why != NULL ? ")" : "");
}

/*
 * A message's verdict (or why it has none): recorded (deliver_end: removed,
 * or kept as queued or failed), and the caller's answer.  A message
 * durably queued for retry is accepted ("250 queued as ID"), as a send
 * would exit 0.  A refusal goes back in the answer for the caller's
 * reply; nothing of it stays in the run, which reports only on the
 * session as a whole.
 */
static void
bsrelay_data_done(struct bsrelay *b, struct bsrelay_owed *o)
{
	struct run *r = b->r;
	struct deliver_result res;
	struct bs_answer *a = o->a;
	const struct smtp_step *st = &o->step;

	a->pending = 0;
	/*
	 * The relay refused the data of a transaction in which it took no
	 * recipient (a BDAT caller's message goes before its RCPT replies):
	 * there was no message for it, so none is kept; the caller gets the
	 * refusal, as at DATA.
	 */
	if (st->state == 1 && st->r.code != 250 && b->txn_ok == 0) {
		struct sx_err ignored;

		sx_clear(&ignored);
		queue_remove_files(o->dc.dir, o->qm.id, &ignored);
		a->rc = 1;
		a->r = st->r;
		queue_meta_free(&o->qm);
		smtp_result_free(&o->j.sj.res);
		return;
	}
	if (st->state == 1) {
		o->j.sj.res.final = st->r;
		o->j.sj.rc = st->r.code == 250 ? 0 : -1;
		if (o->j.sj.rc == -1)
			sx_fail_reply(&o->j.sj.err,
			    st->r.code >= 500   ? SX_PERM
			    : st->r.code >= 400 ? SX_TEMP
						: SX_PROTO,
			    STAGE_EOM, st->r.code, st->r.enhanced, st->r.text,
			    "refused the message (%d)", st->r.code);
	} else if (st->state == -1) {
		o->j.sj.rc = -1;
		o->j.sj.err = st->e;
	}
	if (deliver_end(&o->dc, &o->j, &res) == 0) {
		bsrelay_result(r, o->qm.id, DIAG_STATE_SENT, NULL);
		a->rc = 0;
		a->r = res.final;
	} else if (res.cleanup.cls == SX_OK && fs_sync_owed(&res.cleanup, STAGE_QUEUE) == -1) {
		/* Kept, but not durably: the caller must not count on it. */
		bsrelay_result(r, o->qm.id, DIAG_STATE_HELD, &res.cleanup);
		a->rc = -1;
		sx_adopt(&a->e, &res.cleanup, STAGE_QUEUE);
	} else if (res.outcome == DELIVER_DEFERRED && res.cleanup.cls == SX_OK && !r->no_queue) {
		bsrelay_result(r, o->qm.id, DIAG_STATE_QUEUED, &res.err);
		a->rc = 0;
		memset(&a->r, 0, sizeof(a->r));
		a->r.code = 250;
		strlcpy(a->r.enhanced, "2.0.0", sizeof(a->r.enhanced));
		snprintf(a->r.text, sizeof(a->r.text),
		    "2.0.0 queued as %s: %s: %.300s; will be retried", o->qm.id,
		    sx_stage_name(res.err.stage), res.err.detail);
	} else {
		bsrelay_result(r, o->qm.id,
		    res.outcome == DELIVER_FAILED ? DIAG_STATE_FAILED : DIAG_STATE_HELD, &res.err);
		a->rc = -1;
		sx_adopt(&a->e, &res.err, STAGE_DATA);
	}
	queue_meta_free(&o->qm);
	sx_clear(&r->err);
}

/* The message the caller completed: locked and given its metadata, then sent. */
static void
bsrelay_data(void *arg, struct msg_envelope *env, const struct sx_err *cause, struct bs_answer *a)
{
	struct bsrelay *b = arg;
	struct run *r = b->r;
	struct bsrelay_owed *o;
	struct deliver_result res;

	memset(a, 0, sizeof(*a));
	if ((o = bsrelay_owe(b, BSR_DATA, a)) == NULL) {
		a->rc = -1;
		sx_fail(&a->e, SX_INTERNAL, STAGE_DATA, "out of memory");
		return;
	}
	sx_clear(&r->err);
	o->dc.dir = r->spool_dir;
	o->dc.diag = &r->diag;
	o->dc.now = time(NULL);
	o->dc.hold = !r->acct.queue;
	o->dc.marked = 1;
	/* The envelope first, then the message under its name; it stays locked (env->spool_fd). */
	if (run_meta_init(r, env, &o->qm, o->dc.now) == -1 ||
	    run_commit(r, env, &o->qm, &o->dc, 1) == -1) {
		a->rc = -1;
		sx_adopt(&a->e, &r->err, STAGE_QUEUE);
		queue_meta_free(&o->qm);
		sx_clear(&r->err);
		free(o);
		return;
	}
	if (deliver_begin(&o->dc, &o->qm, env->spool_fd, &r->acct, &o->j, &res) == -1) {
		a->rc = -1;
		sx_adopt(&a->e, &res.err, STAGE_DATA);
		queue_meta_free(&o->qm);
		free(o);
		return;
	}
	o->step.state = -1;
	if (cause != NULL)
		sx_adopt(&o->step.e, cause, STAGE_DATA);
	else if (b->cl == NULL || !smtp_client_usable(b->cl))
		sx_fail(&o->step.e, SX_TEMP, STAGE_DATA, "the relay session was lost before DATA");
	else
		smtp_client_data_step(b->cl, env->spool_fd, &o->step);
	if (o->step.state == 0) {
		bsrelay_push(b, o);
		return;
	}
	bsrelay_data_done(b, o);
	free(o);
}

/* bs_relay.sync: the relay's replies, each to the answer it owes, in order. */
static void
bsrelay_sync(void *arg)
{
	struct bsrelay *b = arg;
	struct bsrelay_owed *o;

	bsrelay_read_owed(b);
	while ((o = b->owed) != NULL) {
		b->owed = o->next;
		if (o->kind == BSR_DATA)
			bsrelay_data_done(b, o);
		else
			bsrelay_answer_step(b, o->a, &o->step, o->kind == BSR_RCPT);
		free(o);
	}
	b->owed_tail = &b->owed;
}

static void
bsrelay_close(void *arg)
{
	struct bsrelay *b = arg;

	bsrelay_sync(b);
	bsrelay_disconnect(b);
	/* The removals of the messages the relay took (a power cut could bring them back). */
	fs_sync_owed(NULL, STAGE_QUEUE);
	relay_free(&b->rl);
}

/* bs_relay.keep: as a send keeps a message refused at intake. */
static int
bsrelay_keep(void *arg, struct msg_envelope *env, const struct sx_err *why)
{
	struct bsrelay *b = arg;
	struct run *r = b->r;
	int rc;

	sx_clear(&r->err);
	sx_adopt(&r->err, why, STAGE_INTAKE);
	rc = run_keep_refused(r, env, time(NULL));
	if (rc == 0 && fs_sync_owed(&r->err, STAGE_QUEUE) == -1)
		rc = -1;
	if (rc == 0)
		bsrelay_result(r, r->msg_id, r->state, why);
	/* The session's result is the run's, not this message's. */
	r->state = DIAG_STATE_NONE;
	r->msg_id[0] = '\0';
	sx_clear(&r->err);
	r->context[0] = r->note[0] = '\0';
	return rc;
}

/*
 * -bs: SMTP on stdin/stdout, every message through the intake policy of a
 * send (without argv recipients).  No sigflag: a signal while waiting for
 * the caller must end the process.
 */
int
mode_bs(struct run *r)
{
	struct msg_policy pol;
	struct bs_relay relay;
	struct bsrelay b;
	int rc;

	if (run_queue_dir(r) == -1)
		return -1;
	run_intake_policy(r, &pol);
	pol.defer_commit = 1; /* bsrelay_data and bsrelay_keep write the envelope first */
	/*
	 * Nothing is durable before a message's verdict (fs_sync_defer): a
	 * message the relay takes is gone by then, and one kept is synced
	 * before the caller is told so.
	 */
	fs_sync_defer(r->spool_dir);
	memset(&relay, 0, sizeof(relay));
	memset(&b, 0, sizeof(b));
	b.r = r;
	b.owed_tail = &b.owed;
	relay.mail = bsrelay_mail;
	relay.rcpt = bsrelay_rcpt;
	relay.data = bsrelay_data;
	relay.sync = bsrelay_sync;
	relay.rset = bsrelay_rset;
	relay.keep = bsrelay_keep;
	relay.close = bsrelay_close;
	relay.arg = &b;
	relay.pol = &pol;
	relay.hostname = r->hostname;
	rc = bs_run(STDIN_FILENO, stdout, &relay, &r->err);
	fs_sync_owed(NULL, STAGE_QUEUE);
	fs_sync_defer(NULL);
	if (r->no_queue)
		rmdir(r->spool_dir); /* the private directory, when nothing was kept */
	return rc;
}
