/* main.c — wiring only: argv → config → intake → session → report → exit code. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "smtp/bs.h"
#include "config/cli.h"
#include "config/conf.h"
#include "net/conn.h"
#include "core/diag.h"
#include "core/err.h"
#include "store/maillog.h"
#include "msg/message.h"
#include "store/queue.h"
#include "smtp/sasl.h"
#include "core/sigflag.h"
#include "net/relay.h"
#include "smtp/smtp.h"
#include "store/spool.h"

struct run {
	struct cli_options opt;
	struct conf_request req;
	struct account acct;
	struct diag diag;
	struct sx_err err;
	char hostname[256]; /* FQDN for EHLO, Message-ID and user@host */
	char spool_dir[4096];
	char context[4096]; /* last line of a failure report */
	char note[512];     /* and one more: the queue's verdict */
	int no_queue;       /* queue_fallback: spool_dir is a private temporary directory */
	int exit_code;      /* overrides the error's exit status when not 0 */
	int tempfail_ok;    /* queued after a temporary failure and queue_on_tempfail: exit 0 */
	int reported;       /* the failure was already reported */
	int auto_flush;     /* the quick flush after a send: quiet unless -v */
};

/* The host's FQDN, or its plain name, or "localhost". */
static void
main_hostname(char *buf, size_t sz)
{
	struct addrinfo hints, *res = NULL;

	if (gethostname(buf, sz) == -1 || buf[0] == '\0') {
		strlcpy(buf, "localhost", sz);
		return;
	}
	buf[sz - 1] = '\0';
	if (strchr(buf, '.') != NULL)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(buf, NULL, &hints, &res) == 0 && res != NULL && res->ai_canonname != NULL &&
	    strchr(res->ai_canonname, '.') != NULL)
		strlcpy(buf, res->ai_canonname, sz);
	if (res != NULL)
		freeaddrinfo(res);
}

/*
 * The queue directory, created when missing.  When it cannot be made:
 * EX_CANTCREAT naming it, or with queue_fallback a private temporary
 * directory (no durable copy: kept there only if sending fails).
 */
static int
main_queue_dir(struct run *r)
{
	struct sx_err qe;
	const char *tmp;

	if (queue_dir_path(r->acct.queue_dir, r->spool_dir, sizeof(r->spool_dir), &r->err) == -1)
		return -1;
	sx_clear(&qe);
	if (queue_dir_prepare(r->spool_dir, &qe) == 0)
		return 0;
	if (!r->acct.queue_fallback) {
		r->err = qe;
		sx_hint(&r->err, "fix it, set queue_dir, or set queue_fallback on to send "
				 "without a durable copy");
		r->exit_code = EX_CANTCREAT;
		return -1;
	}
	fprintf(stderr, "smtps-send: queue: %s; sending without a durable copy (queue_fallback)\n",
	    qe.detail);
	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(r->spool_dir, sizeof(r->spool_dir), "%s/smtps-send.XXXXXX", tmp);
	if (mkdtemp(r->spool_dir) == NULL) {
		sx_fail(&r->err, SX_LOCALIO, STAGE_QUEUE, "cannot create a directory in %s: %s",
		    tmp, strerror(errno));
		r->exit_code = EX_CANTCREAT;
		return -1;
	}
	r->no_queue = 1;
	return 0;
}

static const char *
main_local_user(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u;

	if (pw != NULL && pw->pw_name != NULL)
		return pw->pw_name;
	if ((u = getenv("USER")) != NULL && u[0] != '\0')
		return u;
	return "nobody";
}

/* The intake settings that come from the account and -f/-F (send and -bs). */
static void
main_intake_policy(const struct run *r, struct msg_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->envelope_from = r->opt.from;
	pol->fullname = r->opt.fullname;
	pol->account_from = r->acct.from;
	pol->default_domain = r->acct.default_domain;
	pol->aliases_file = r->acct.aliases;
	pol->from_header = r->acct.set_from_header;
	pol->hostname = r->hostname;
	pol->local_user = main_local_user();
	pol->strict_line_length = r->acct.strict_line_length;
	pol->sender_from_header = r->acct.sender_from_header;
	pol->spool_dir = r->spool_dir;
}

static void
main_relay_opts(const struct run *r, struct relay_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->hostname = r->hostname;
	ro->dsn_notify = r->opt.dsn_notify;
	ro->dsn_ret = r->opt.dsn_ret;
	ro->dsn_envid = r->opt.dsn_envid;
}

/*
 * Connect (or finish relay_start's connect) and run one session.  msg NULL:
 * --check.  The secret lives only for the session's duration and is wiped
 * after.
 */
static int
main_session(
    struct run *r, struct relay *rl, const struct smtp_message *msg, struct smtp_result *res)
{
	struct relay_opts ro;
	int rc = -1;

	main_relay_opts(r, &ro);
	if (relay_connect(rl, &r->acct, &ro, &r->diag, &r->err) == 0) {
		rl->sp.check_only = msg == NULL;
		rc = smtp_session(&rl->c, &rl->sp, msg, res, &r->err);
	}
	relay_free(rl);
	return rc;
}

static int
main_check(struct run *r)
{
	struct smtp_result res;
	struct relay rl;
	char desc[256];
	int rc;

	memset(&res, 0, sizeof(res));
	memset(&rl, 0, sizeof(rl));
	rc = main_session(r, &rl, NULL, &res);
	if (rc == 0) {
		printf("smtps-send: %s port %u: TLS %s, AUTH %s: OK\n", r->acct.host, r->acct.port,
		    conf_tls_name(r->acct.tls),
		    res.mech != SASL_NONE ? sasl_name(res.mech) : "not used");
		printf("  capabilities: %s\n", smtp_caps_describe(&res.caps, desc, sizeof(desc)));
		if (res.caps.size > 0)
			printf("  size limit: %llu bytes\n", res.caps.size);
	}
	smtp_result_free(&res);
	return rc;
}

static void
main_log(struct run *r, const struct msg_envelope *env, const struct smtp_result *res, int64_t ms,
    const char *kept)
{
	struct maillog_entry le;

	memset(&le, 0, sizeof(le));
	le.from = env->from;
	le.rcpts = env->rcpts;
	le.nrcpts = env->nrcpts;
	le.size = env->wire_size;
	le.duration_ms = (long)ms;
	if (kept == NULL) {
		le.reply_code = res->final.code;
		le.reply = res->final.text;
	} else {
		le.err = &r->err;
		le.reply_code = r->err.reply_code;
		le.reply = r->err.reply;
		le.kept = kept;
		le.will_retry = !queue_is_permanent(&r->err);
	}
	maillog_write(&r->acct, &le);
}

/* The envelope of a message just taken in, as the queue keeps it. */
static int
main_meta_init(struct run *r, const struct msg_envelope *env, struct queue_meta *qm, time_t now)
{
	memset(qm, 0, sizeof(*qm));
	if (queue_id_of(env->spool_path, qm->id) == -1)
		return sx_fail(&r->err, SX_INTERNAL, STAGE_QUEUE, "%s: not a spool file name",
		    env->spool_path);
	qm->state = QUEUE_DEFERRED;
	qm->size = env->wire_size;
	qm->body_8bit = env->body_8bit;
	qm->needs_smtputf8 = env->needs_smtputf8;
	qm->created = now;
	if ((qm->rcpts = calloc(env->nrcpts + 1, sizeof(*qm->rcpts))) == NULL)
		goto nomem;
	for (; qm->nrcpts < env->nrcpts; qm->nrcpts++)
		if ((qm->rcpts[qm->nrcpts] = strdup(env->rcpts[qm->nrcpts])) == NULL)
			goto nomem;
	if ((qm->from = strdup(env->from != NULL ? env->from : "")) == NULL ||
	    (r->acct.name != NULL && (qm->account = strdup(r->acct.name)) == NULL) ||
	    (r->opt.dsn_notify != NULL && (qm->dsn_notify = strdup(r->opt.dsn_notify)) == NULL) ||
	    (r->opt.dsn_ret != NULL && (qm->dsn_ret = strdup(r->opt.dsn_ret)) == NULL) ||
	    (r->opt.dsn_envid != NULL && (qm->dsn_envid = strdup(r->opt.dsn_envid)) == NULL))
		goto nomem;
	return 0;
nomem:
	queue_meta_free(qm);
	return sx_fail(&r->err, SX_INTERNAL, STAGE_QUEUE, "out of memory");
}

/* Record a failed attempt (the error in r->err) and say what became of the message. */
/*
 * Write the metadata as if this attempt had already failed, so that a
 * process killed mid-send leaves an envelope -q can retry; then put the
 * counters back for the real outcome.
 */
static int
main_meta_attempt(struct run *r, struct queue_meta *qm, time_t now)
{
	qm->attempts = 1;
	qm->first_attempt = qm->last_attempt = now;
	qm->err_class = SX_TEMP;
	qm->err_stage = STAGE_QUEUE;
	qm->err_exit = EX_TEMPFAIL;
	free(qm->err_text);
	if ((qm->err_text = strdup("the attempt did not finish (the sending process was "
				   "killed?)")) == NULL)
		return sx_fail(&r->err, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	if (queue_meta_write(r->spool_dir, qm, &r->err) == -1)
		return -1;
	qm->attempts = 0;
	qm->first_attempt = qm->last_attempt = 0;
	return 0;
}

static void
main_queue_failure(struct run *r, struct queue_meta *qm, const char *path, time_t now)
{
	struct sx_err we;

	snprintf(r->context, sizeof(r->context), "the message was kept in %s", path);
	if (queue_meta_fail(qm, &r->err, now) == -1)
		return;
	sx_clear(&we);
	if (queue_meta_write(r->spool_dir, qm, &we) == -1)
		snprintf(r->note, sizeof(r->note), "its queue entry could not be written: %.400s",
		    we.detail);
	else if (r->no_queue)
		snprintf(r->note, sizeof(r->note),
		    "not queued (no queue directory): -q will not retry it");
	else if (qm->state == QUEUE_FAILED && r->err.stage == STAGE_INTAKE)
		snprintf(r->note, sizeof(r->note),
		    "queued as %s, failed: it cannot be sent as it is (--queue-remove %s "
		    "deletes it)",
		    qm->id, qm->id);
	else if (qm->state == QUEUE_FAILED)
		snprintf(r->note, sizeof(r->note),
		    "queued as %s, failed: never retried automatically (--flush-id %s retries "
		    "it, --queue-remove %s deletes it)",
		    qm->id, qm->id, qm->id);
	else {
		snprintf(r->note, sizeof(r->note),
		    "queued as %s for later delivery (smtps-send -q)", qm->id);
		r->tempfail_ok = sx_is_temporary(&r->err) && r->acct.queue_on_tempfail;
	}
}

static int main_flush(struct run *, int automatic);

struct main_early {
	struct run *r;
	struct relay *rl;
};

static void
main_connect_early(void *arg)
{
	struct main_early *me = arg;

	relay_start(me->rl, &me->r->acct, &me->r->diag);
}

static int
main_send(struct run *r)
{
	struct msg_policy pol;
	struct msg_envelope env;
	struct smtp_message msg;
	struct smtp_result res;
	struct queue_meta qm;
	struct relay rl;
	struct main_early early;
	struct sx_err we;
	int rc = -1, fd = -1;
	int64_t t0;
	time_t now = time(NULL);

	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	memset(&qm, 0, sizeof(qm));
	memset(&rl, 0, sizeof(rl));
	if (main_queue_dir(r) == -1) {
		strlcpy(r->context, "nothing was read from standard input; nothing was sent",
		    sizeof(r->context));
		return -1;
	}
	main_intake_policy(r, &pol);
	pol.ignore_dots = r->opt.ignore_dots;
	pol.read_recipients = r->opt.read_recipients;
	pol.argv_rcpts = r->opt.rcpts;
	pol.n_argv_rcpts = r->opt.nrcpts;
	if (!r->opt.queue_only) {
		/* The TCP handshake runs while the spool and its metadata are synced. */
		early.r = r;
		early.rl = &rl;
		pol.on_accepted = main_connect_early;
		pol.on_accepted_arg = &early;
	}
	sx_clear(&we);
	if (msg_intake(STDIN_FILENO, &pol, &env, &r->err) == -1) {
		/* Refused but kept (a NUL byte): queued as failed, never retried. */
		if (env.spool_path != NULL && main_meta_init(r, &env, &qm, now) == 0 &&
		    (fd = queue_lock(r->spool_dir, qm.id, 0, &we)) >= 0)
			main_queue_failure(r, &qm, env.spool_path, now);
		else if (env.spool_path != NULL)
			snprintf(r->context, sizeof(r->context), "the message was kept in %s",
			    env.spool_path);
		goto out;
	}
	if (env.long_lines > 0)
		diag_stage(&r->diag, STAGE_INTAKE,
		    "warning: %zu line(s) longer than 998 octets (RFC 5322 limit)", env.long_lines);
	diag_stage(&r->diag, STAGE_INTAKE, "from <%s>, %zu recipient(s), %llu bytes%s%s", env.from,
	    env.nrcpts, env.wire_size, env.body_8bit ? ", 8-bit" : "",
	    env.needs_smtputf8 ? ", SMTPUTF8" : "");
	/*
	 * Ours until the session ends: a flush skips a locked message.  Taken
	 * before the metadata exists, so no flush can see an envelope for a
	 * message we are about to send.
	 */
	if (main_meta_init(r, &env, &qm, now) == -1 ||
	    (fd = queue_lock(r->spool_dir, qm.id, 0, &r->err)) < 0)
		goto kept;
	if (r->opt.queue_only) {
		if (queue_meta_write(r->spool_dir, &qm, &r->err) == -1)
			goto kept;
		diag_stage(&r->diag, STAGE_QUEUE, "queued as %s (not sent now)", qm.id);
		rc = 0;
		goto out;
	}
	/* If we are killed from here on, -q finds the envelope and retries. */
	if (main_meta_attempt(r, &qm, now) == -1)
		goto kept;
	/* From now on SIGTERM/SIGINT/SIGHUP end the session, not the process. */
	sigflag_install();
	msg.from = env.from;
	msg.rcpts = env.rcpts;
	msg.nrcpts = env.nrcpts;
	msg.body_8bit = env.body_8bit;
	msg.needs_smtputf8 = env.needs_smtputf8;
	msg.size = env.wire_size;
	msg.body_fd = fd;
	t0 = conn_now_ms();
	rc = main_session(r, &rl, &msg, &res);
	main_log(r, &env, &res, conn_now_ms() - t0, rc == 0 ? NULL : env.spool_path);
	if (rc == 0) {
		sx_clear(&we);
		queue_remove_files(r->spool_dir, qm.id, &we);
		if (r->no_queue)
			rmdir(r->spool_dir);
		close(fd);
		fd = -1;
		if (r->acct.flush_on_send && !r->no_queue && !sigflag_caught())
			main_flush(r, 1);
		goto out;
	}
	main_queue_failure(r, &qm, env.spool_path, now);
	goto out;
kept:
	snprintf(r->context, sizeof(r->context), "the message was kept in %s", env.spool_path);
out:
	relay_free(&rl);
	if (fd >= 0)
		close(fd);
	queue_meta_free(&qm);
	smtp_result_free(&res);
	msg_envelope_free(&env);
	return rc;
}

/* Deliver one queued message with the account it was queued for. */
static int
main_deliver(void *ctx, const struct queue_meta *m, int fd, struct sx_err *e)
{
	struct run *r = ctx;
	struct account saved, other;
	struct conf_request req = r->req;
	struct smtp_message msg;
	struct smtp_result res;
	struct relay rl;
	struct msg_envelope env;
	const char *dn = r->opt.dsn_notify, *dr = r->opt.dsn_ret, *de = r->opt.dsn_envid;
	int rc, swapped = 0;
	int64_t t0;

	memset(&res, 0, sizeof(res));
	sx_clear(&r->err);
	if (m->account != NULL && r->acct.name != NULL && strcmp(m->account, r->acct.name) != 0) {
		req.account = m->account;
		if (conf_load(&req, &other, &r->err) == -1) {
			*e = r->err;
			return -1;
		}
		saved = r->acct;
		r->acct = other;
		swapped = 1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.from = m->from;
	msg.rcpts = m->rcpts;
	msg.nrcpts = m->nrcpts;
	msg.body_8bit = m->body_8bit;
	msg.needs_smtputf8 = m->needs_smtputf8;
	msg.size = m->size;
	msg.body_fd = fd;
	r->opt.dsn_notify = m->dsn_notify;
	r->opt.dsn_ret = m->dsn_ret;
	r->opt.dsn_envid = m->dsn_envid;
	diag_stage(&r->diag, STAGE_QUEUE, "message %s: %zu recipient(s), %llu bytes", m->id,
	    m->nrcpts, m->size);
	t0 = conn_now_ms();
	memset(&rl, 0, sizeof(rl));
	rc = main_session(r, &rl, &msg, &res);
	memset(&env, 0, sizeof(env));
	env.from = m->from;
	env.rcpts = m->rcpts;
	env.nrcpts = m->nrcpts;
	env.wire_size = m->size;
	main_log(r, &env, &res, conn_now_ms() - t0, rc == 0 ? NULL : "queue");
	smtp_result_free(&res);
	r->opt.dsn_notify = dn;
	r->opt.dsn_ret = dr;
	r->opt.dsn_envid = de;
	if (swapped) {
		conf_account_free(&r->acct);
		r->acct = saved;
	}
	*e = r->err;
	sx_clear(&r->err);
	return rc;
}

static void
main_flush_report(
    void *ctx, const struct queue_meta *m, enum queue_outcome out, const struct sx_err *err)
{
	struct run *r = ctx;

	switch (out) {
	case QUEUE_SENT:
		if (err != NULL)
			fprintf(stderr, "smtps-send: %s: sent, but %s\n", m->id, err->detail);
		else
			diag_stage(&r->diag, STAGE_QUEUE, "message %s: sent", m->id);
		return;
	case QUEUE_NOW_EXPIRED:
		fprintf(stderr,
		    "smtps-send: %s: expired (queued for longer than queue_max_age); kept: "
		    "--flush-id %s retries it, --queue-remove %s deletes it\n",
		    m->id, m->id, m->id);
		return;
	default:
		break;
	}
	if (r->auto_flush && r->opt.verbose == 0)
		return;
	fprintf(stderr, "smtps-send: %s: %s: %s: %s\n", m->id,
	    out == QUEUE_NOW_FAILED       ? "failed"
	    : out == QUEUE_STILL_DEFERRED ? "deferred"
					  : "cannot be read",
	    err != NULL ? sx_stage_name(err->stage) : "?", err != NULL ? err->detail : "?");
}

/*
 * -q, --flush-id, and the quick flush after a send (automatic: back-off
 * respected, a few messages, stops when the server seems down).
 */
static int
main_flush(struct run *r, int automatic)
{
	struct queue_flush_opts o;
	struct queue_flush_ops ops;
	struct queue_stats st;
	struct sx_err e;
	int rc;

	memset(&o, 0, sizeof(o));
	o.now = time(NULL);
	o.max_age = r->acct.queue_max_age;
	o.respect_backoff = automatic;
	o.stop_on_tempfail = automatic;
	o.stop_on_unreachable = r->opt.queue_id == NULL;
	o.max_msgs = automatic ? 10 : 0;
	o.only_id = automatic ? NULL : r->opt.queue_id;
	ops.deliver = main_deliver;
	ops.report = main_flush_report;
	ops.ctx = r;
	r->auto_flush = automatic;
	sigflag_install();
	sx_clear(&e);
	rc = queue_flush(r->spool_dir, &o, &ops, &st, &e);
	if (st.locked > 0)
		diag_stage(&r->diag, STAGE_QUEUE,
		    "%u message(s) skipped: being delivered by another process", st.locked);
	if (automatic)
		return 0;
	if (rc == -1) {
		r->err = e;
		if (st.sent + st.deferred + st.failed + st.bad > 0 && o.only_id == NULL) {
			fprintf(stderr, "smtps-send: queue: %u sent, %u deferred, %u failed%s\n",
			    st.sent, st.deferred, st.failed,
			    sigflag_caught() ? " (interrupted by a signal)" : "");
			r->reported = 1;
		}
	}
	return rc;
}

/*
 * -bs: the relay side of a caller's session (bs.h).  One relay session
 * serves the whole caller session: opened at the first MAIL, kept open
 * across messages, reopened at a MAIL when it was lost (a relay that
 * dropped an idle session), and given up for the rest of the caller's
 * session when an open fails (every later message is then only queued).
 * The secret is read once and lives until the caller's session ends.
 */
struct main_bs_relay {
	struct run *r;
	struct relay rl;
	struct smtp_result res; /* capabilities of the open session */
	struct smtp_client *cl;
	int failed;             /* an open failed: no more attempts */
	struct sx_err open_err; /* and why */
};

static void
main_bs_disconnect(struct main_bs_relay *b)
{
	if (b->cl == NULL)
		return;
	smtp_client_close(b->cl, smtp_client_usable(b->cl));
	b->cl = NULL;
	relay_disconnect(&b->rl);
	smtp_result_free(&b->res);
}

/* Connect, TLS, AUTH, as main_session does.  0, or -1 with e filled. */
static int
main_bs_open(struct main_bs_relay *b, struct sx_err *e)
{
	struct relay_opts ro;

	if (b->failed) {
		*e = b->open_err;
		return -1;
	}
	main_relay_opts(b->r, &ro);
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
main_bs_mail(void *arg, const struct smtp_message *m, struct smtp_reply *rp,
    unsigned long long *limit, struct sx_err *e)
{
	struct main_bs_relay *b = arg;
	int tries, fresh = 0;

	for (tries = 0; tries < 2; tries++) {
		if (b->cl != NULL && !smtp_client_usable(b->cl))
			main_bs_disconnect(b);
		if (b->cl == NULL) {
			sx_clear(e);
			if (main_bs_open(b, e) == -1)
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
			rp->code = e->reply_code != 0   ? e->reply_code
				   : sx_is_temporary(e) ? 451
							: 554;
			strlcpy(rp->enhanced, e->enhanced, sizeof(rp->enhanced));
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
main_bs_rcpt(void *arg, const char *rcpt, struct smtp_reply *rp, struct sx_err *e)
{
	struct main_bs_relay *b = arg;

	if (b->cl == NULL || !smtp_client_usable(b->cl))
		return sx_fail(e, SX_TEMP, STAGE_RCPT, "the relay session was lost");
	if (smtp_client_rcpt(b->cl, rcpt, rp, e) == 0)
		return 0;
	return rp->code != 0 ? 1 : -1;
}

static void
main_bs_rset(void *arg)
{
	struct main_bs_relay *b = arg;
	struct sx_err ignored;

	sx_clear(&ignored);
	if (b->cl != NULL && smtp_client_usable(b->cl))
		smtp_client_rset(b->cl, &ignored);
}

static void
main_bs_close(void *arg)
{
	struct main_bs_relay *b = arg;

	main_bs_disconnect(b);
	relay_free(&b->rl);
}

/*
 * One message the caller completed, with the queue handling of main_send
 * after its intake: locked and given its metadata before DATA goes to
 * the relay, removed once accepted, else recorded as queued.  The failure
 * goes back in e for the caller's reply; nothing of it stays in r, which
 * reports only on the session as a whole.
 */
static int
main_bs_data(void *arg, const struct msg_envelope *env, const struct sx_err *cause,
    struct smtp_reply *final, struct sx_err *e)
{
	struct main_bs_relay *b = arg;
	struct run *r = b->r;
	struct smtp_result res;
	struct queue_meta qm;
	struct sx_err we;
	time_t now = time(NULL);
	int64_t t0;
	int rc = -1, fd = -1;

	sx_clear(&r->err);
	memset(&qm, 0, sizeof(qm));
	memset(&res, 0, sizeof(res));
	if (main_meta_init(r, env, &qm, now) == -1 ||
	    (fd = queue_lock(r->spool_dir, qm.id, 0, &r->err)) < 0)
		goto out;
	if (main_meta_attempt(r, &qm, now) == -1)
		goto out;
	t0 = conn_now_ms();
	if (cause != NULL) {
		r->err = *cause;
	} else if (b->cl == NULL || !smtp_client_usable(b->cl)) {
		sx_fail(&r->err, SX_TEMP, STAGE_DATA, "the relay session was lost before DATA");
	} else {
		rc = smtp_client_data(b->cl, fd, final, &r->err);
		res.final = *final;
	}
	main_log(r, env, &res, conn_now_ms() - t0, rc == 0 ? NULL : env->spool_path);
	if (rc == 0) {
		sx_clear(&we);
		queue_remove_files(r->spool_dir, qm.id, &we);
	} else {
		main_queue_failure(r, &qm, env->spool_path, now);
	}
out:
	if (fd >= 0)
		close(fd);
	/* The transaction must not outlive the message (harmless after a final reply). */
	if (rc == -1 && cause == NULL)
		main_bs_rset(b);
	queue_meta_free(&qm);
	if (rc == -1)
		*e = r->err;
	sx_clear(&r->err);
	r->context[0] = r->note[0] = '\0';
	r->tempfail_ok = 0;
	return rc;
}

/*
 * -bs: SMTP on stdin/stdout (bs.h), every message through the intake
 * policy of main_send (without argv recipients) and main_bs_data.  No
 * sigflag: a signal while waiting for the caller must end the process.
 */
static int
main_bs(struct run *r)
{
	struct msg_policy pol;
	struct bs_relay relay;
	struct main_bs_relay b;
	int rc;

	if (main_queue_dir(r) == -1)
		return -1;
	main_intake_policy(r, &pol);
	memset(&relay, 0, sizeof(relay));
	memset(&b, 0, sizeof(b));
	b.r = r;
	relay.mail = main_bs_mail;
	relay.rcpt = main_bs_rcpt;
	relay.data = main_bs_data;
	relay.rset = main_bs_rset;
	relay.close = main_bs_close;
	relay.arg = &b;
	relay.pol = &pol;
	relay.hostname = r->hostname;
	rc = bs_run(STDIN_FILENO, stdout, &relay, &r->err);
	if (r->no_queue)
		rmdir(r->spool_dir); /* the private directory, when nothing was kept */
	return rc;
}

/* -bp, -q / --flush-id, --queue-remove. */
static int
main_queue_cmd(struct run *r)
{
	if (queue_dir_path(r->acct.queue_dir, r->spool_dir, sizeof(r->spool_dir), &r->err) == -1)
		return -1;
	switch (r->opt.mode) {
	case CLI_QUEUE_LIST:
		if (queue_list(stdout, r->spool_dir, time(NULL), r->acct.queue_max_age, &r->err) <
		    0)
			return -1;
		return 0;
	case CLI_FLUSH:
		return main_flush(r, 0);
	default:
		return queue_remove(r->spool_dir, r->opt.queue_id, &r->err);
	}
}

int
main(int argc, char *argv[])
{
	static struct run r;
	struct conf_request *req = &r.req;
	int rc = -1;

	signal(SIGPIPE, SIG_IGN);
	sx_clear(&r.err);
	diag_init(&r.diag, stderr, 0, 0);
	if (cli_parse(argc, argv, &r.opt, &r.err) == -1) {
		fprintf(stderr, "smtps-send: %s\n", r.err.detail);
		if (r.err.hint[0] != '\0')
			fprintf(stderr, "smtps-send: %s\n", r.err.hint);
		return sx_exitcode(&r.err);
	}
	switch (r.opt.mode) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("smtps-send %s\n", PACKAGE_VERSION);
		return 0;
	default:
		break;
	}
	diag_init(&r.diag, stderr, r.opt.verbose, r.opt.diag_json);
	memset(req, 0, sizeof(*req));
	req->config_file = r.opt.config_file;
	req->account = r.opt.account;
	req->envelope_from = r.opt.from;
	req->host = r.opt.host;
	req->port = r.opt.port;
	req->tls = r.opt.tls;
	req->user = r.opt.user;
	req->tls_trust_file = r.opt.tls_trust_file;
	main_hostname(r.hostname, sizeof(r.hostname));
	if (conf_load(req, &r.acct, &r.err) == -1) {
		/* A message on stdin is still unread: say it was not taken. */
		if (r.opt.mode == CLI_SEND)
			strlcpy(r.context, "nothing was read from standard input; nothing was sent",
			    sizeof(r.context));
		goto report;
	}
	switch (r.opt.mode) {
	case CLI_DUMP_CONFIG:
		rc = conf_dump(stdout, &r.acct) == 0 ? 0 : -1;
		if (rc == -1)
			sx_fail(&r.err, SX_LOCALIO, STAGE_CONFIG, "writing: %s", strerror(errno));
		break;
	case CLI_CHECK:
		rc = main_check(&r);
		break;
	case CLI_SEND:
		rc = main_send(&r);
		break;
	case CLI_SMTP_STDIO:
		rc = main_bs(&r);
		break;
	case CLI_QUEUE_LIST:
	case CLI_FLUSH:
	case CLI_QUEUE_REMOVE:
		rc = main_queue_cmd(&r);
		break;
	default:
		sx_fail(&r.err, SX_USAGE, STAGE_ARGS, "this mode is not implemented yet");
		break;
	}
report:
	if (rc == -1 && !r.reported) {
		diag_report_failure(&r.diag, &r.err, r.context);
		if (r.note[0] != '\0' && !r.opt.diag_json)
			fprintf(stderr, "smtps-send: %s\n", r.note);
	}
	conf_account_free(&r.acct);
	if (rc == 0 || r.tempfail_ok)
		return 0;
	return r.exit_code != 0 ? r.exit_code : sx_exitcode(&r.err);
}
