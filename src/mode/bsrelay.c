/*
 * bsrelay.c — -bs: the relay side of a caller's session (smtp/bs.h).  One
 * relay session serves the whole caller session: opened at the first
 * MAIL, kept open across messages, reopened at a MAIL when it was lost (a
 * relay that dropped an idle session), and given up for the rest of the
 * caller's session when an open fails (every later message is then only
 * queued).  The secret is read once and lives until the caller's session
 * ends.  Each message goes through deliver_attempt like any other, with
 * its DATA as the transport.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mode/run.h"
#include "net/relay.h"
#include "smtp/bs.h"
#include "store/queue.h"

struct bsrelay {
	struct run *r;
	struct relay rl;
	struct smtp_result res; /* capabilities of the open session */
	struct smtp_client *cl;
	int failed;             /* an open failed: no more attempts */
	struct sx_err open_err; /* and why */
	/* The message being delivered: */
	const struct sx_err *cause; /* no relay took its transaction, or NULL */
	struct smtp_reply *final;
};

static void
bsrelay_disconnect(struct bsrelay *b)
{
	if (b->cl == NULL)
		return;
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
	return 0;
fail:
	smtp_result_free(&b->res);
	b->failed = 1;
	b->open_err = *e;
	return -1;
}

static int
bsrelay_mail(void *arg, const struct smtp_message *m, struct smtp_reply *rp,
    unsigned long long *limit, struct sx_err *e)
{
	struct bsrelay *b = arg;
	const char *enh;
	int tries, fresh = 0;

	for (tries = 0; tries < 2; tries++) {
		if (b->cl != NULL && !smtp_client_usable(b->cl))
			bsrelay_disconnect(b);
		if (b->cl == NULL) {
			sx_clear(e);
			if (bsrelay_open(b, e) == -1)
				return -1;
			fresh = 1;
		}
		if (b->res.caps.size_offered && b->res.caps.size > 0)
			*limit = b->res.caps.size;
		sx_clear(e);
		if (smtp_client_mail(b->cl, m, rp, e) == 0)
			return 0;
		if (rp->code != 0)
			return 1;
		if (smtp_client_usable(b->cl)) {
			/* Refused before sending: size, SMTPUTF8, 8-bit. */
			rp->code = e->reply_code != 0 ? e->reply_code : sx_smtp_code(e, &enh);
			strlcpy(rp->enhanced, e->reply_code != 0 ? e->enhanced : enh,
			    sizeof(rp->enhanced));
			snprintf(rp->text, sizeof(rp->text), "%s", e->detail);
			return 1;
		}
		if (fresh)
			return -1;
		/* The kept session was dropped while idle: once more on a new one. */
	}
	return -1;
}

static int
bsrelay_rcpt(void *arg, const char *rcpt, struct smtp_reply *rp, struct sx_err *e)
{
	struct bsrelay *b = arg;

	if (b->cl == NULL || !smtp_client_usable(b->cl))
		return sx_fail(e, SX_TEMP, STAGE_RCPT, "the relay session was lost");
	if (smtp_client_rcpt(b->cl, rcpt, rp, e) == 0)
		return 0;
	return rp->code != 0 ? 1 : -1;
}

static void
bsrelay_rset(void *arg)
{
	struct bsrelay *b = arg;
	struct sx_err ignored;

	sx_clear(&ignored);
	if (b->cl != NULL && smtp_client_usable(b->cl))
		smtp_client_rset(b->cl, &ignored);
}

static void
bsrelay_close(void *arg)
{
	struct bsrelay *b = arg;

	bsrelay_disconnect(b);
	relay_free(&b->rl);
}

/* deliver_transport.transmit: the DATA of the transaction the caller opened. */
static int
bsrelay_transmit(void *arg, const struct account *a, const struct queue_meta *m,
    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e)
{
	struct bsrelay *b = arg;
	int rc;

	(void)a;
	(void)m;
	if (b->cause != NULL) {
		sx_adopt(e, b->cause, STAGE_DATA);
		return -1;
	}
	if (b->cl == NULL || !smtp_client_usable(b->cl))
		return sx_fail(e, SX_TEMP, STAGE_DATA, "the relay session was lost before DATA");
	rc = smtp_client_data(b->cl, msg->body_fd, b->final, e);
	res->final = *b->final;
	return rc;
}

/*
 * One message the caller completed: locked and given its metadata, then
 * delivered (removed once accepted, else kept as queued or failed).  A
 * message durably queued for retry is accepted (*final: "250 queued as
 * ID"), as a send would exit 0.  A refusal goes back in e for the
 * caller's reply; nothing of it stays in the run, which reports only on
 * the session as a whole.
 */
static int
bsrelay_data(void *arg, struct msg_envelope *env, const struct sx_err *cause,
    struct smtp_reply *final, struct sx_err *e)
{
	struct bsrelay *b = arg;
	struct run *r = b->r;
	struct deliver_transport t = {bsrelay_transmit, NULL, NULL, NULL, NULL};
	struct deliver_ctx dc;
	struct deliver_result res;
	struct queue_meta qm;
	int rc = -1, sent = 0;

	t.arg = b;
	b->cause = cause;
	b->final = final;
	sx_clear(e);
	memset(&qm, 0, sizeof(qm));
	memset(&res, 0, sizeof(res));
	sx_clear(&r->err);
	dc.dir = r->spool_dir;
	dc.diag = &r->diag;
	dc.now = time(NULL);
	dc.hold = !r->acct.queue;
	dc.marked = 1;
	/* The envelope first, then the message under its name; it stays locked (env->spool_fd). */
	if (run_meta_init(r, env, &qm, dc.now) == -1 || run_commit(r, env, &qm, &dc, 1) == -1) {
		sx_adopt(e, &r->err, STAGE_QUEUE);
		goto out;
	}
	if ((rc = deliver_attempt(&dc, &qm, env->spool_fd, &r->acct, &t, &res)) == 0) {
		sent = 1;
		goto out;
	}
	if (res.outcome == DELIVER_DEFERRED && res.cleanup.cls == SX_OK && !r->no_queue) {
		memset(final, 0, sizeof(*final));
		final->code = 250;
		strlcpy(final->enhanced, "2.0.0", sizeof(final->enhanced));
		snprintf(final->text, sizeof(final->text),
		    "2.0.0 queued as %s: %s: %.300s; will be retried", qm.id,
		    sx_stage_name(res.err.stage), res.err.detail);
		rc = 0;
	} else {
		sx_adopt(e, &res.err, STAGE_DATA);
	}
out:
	/* The transaction must not outlive the message (harmless after a final reply). */
	if (!sent && cause == NULL)
		bsrelay_rset(b);
	queue_meta_free(&qm);
	sx_clear(&r->err);
	return rc;
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
	memset(&relay, 0, sizeof(relay));
	memset(&b, 0, sizeof(b));
	b.r = r;
	relay.mail = bsrelay_mail;
	relay.rcpt = bsrelay_rcpt;
	relay.data = bsrelay_data;
	relay.rset = bsrelay_rset;
	relay.keep = bsrelay_keep;
	relay.close = bsrelay_close;
	relay.arg = &b;
	relay.pol = &pol;
	relay.hostname = r->hostname;
	rc = bs_run(STDIN_FILENO, stdout, &relay, &r->err);
	if (r->no_queue)
		rmdir(r->spool_dir); /* the private directory, when nothing was kept */
	return rc;
}
