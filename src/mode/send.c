/* send.c — the default mode: one message from standard input (see run.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sigflag.h"
#include "mode/run.h"
#include "net/relay.h"
#include "store/queue.h"

struct send_early {
	struct run *r;
	struct deliver_session *ds;
};

/* The TCP handshake runs while the spool and its metadata are synced. */
static void
send_connect_early(void *arg)
{
	struct send_early *se = arg;

	relay_start(&se->ds->rl, &se->r->acct, &se->r->diag);
}

int
mode_send(struct run *r)
{
	struct deliver_transport t = {deliver_session_transmit, NULL, NULL, NULL, NULL};
	struct deliver_session ds;
	struct deliver_result res;
	struct deliver_ctx dc;
	struct send_early early = {r, &ds};
	struct msg_policy pol;
	struct msg_envelope env;
	struct queue_meta qm;
	int rc = -1;
	time_t now = time(NULL);

	memset(&env, 0, sizeof(env));
	env.spool_fd = -1;
	memset(&qm, 0, sizeof(qm));
	memset(&ds, 0, sizeof(ds));
	ds.hostname = r->hostname;
	ds.diag = &r->diag;
	t.arg = &ds;
	if (run_queue_dir(r) == -1) {
		strlcpy(r->context, "nothing was read from standard input; nothing was sent",
		    sizeof(r->context));
		return -1;
	}
	run_intake_policy(r, &pol);
	pol.ignore_dots = r->opt.ignore_dots;
	pol.read_recipients = r->opt.read_recipients;
	pol.argv_rcpts = r->opt.rcpts;
	pol.n_argv_rcpts = r->opt.nrcpts;
	/* The spool stays .tmp and locked (env.spool_fd) until its envelope is written. */
	pol.defer_commit = 1;
	if (!r->opt.queue_only) {
		pol.on_accepted = send_connect_early;
		pol.on_accepted_arg = &early;
	}
	if (msg_intake(STDIN_FILENO, &pol, &env, &r->err) == -1) {
		if (env.spool_path != NULL && run_keep_refused(r, &env, now) == 0)
			snprintf(r->context, sizeof(r->context), "the message was kept in %s",
			    env.spool_path);
		goto out;
	}
	if (env.after_dot > 0) {
		struct diag_field f[] = {{"line", NULL, (long long)env.dot_line},
		    {"ignored", NULL, (long long)env.after_dot}};

		/* sendmail's rule stands, but a file piped without -i must not lose its end unsaid. */
		diag_say(&r->diag, "warning", STAGE_INTAKE, f, 2,
		    "warning: the line \".\" (line %zu) ended the message; %s%llu byte(s) of input "
		    "after it were ignored (-i or -oi keeps them)",
		    env.dot_line, env.after_dot_more ? "at least " : "", env.after_dot);
	}
	if (env.long_lines > 0)
		diag_stage(&r->diag, STAGE_INTAKE,
		    "warning: %zu line(s) longer than 998 octets (RFC 5322 limit)", env.long_lines);
	r->msg_bytes = env.wire_size;
	diag_stage(&r->diag, STAGE_INTAKE, "from <%s>, %zu recipient(s), %llu bytes%s%s", env.from,
	    env.nrcpts, env.wire_size, env.body_8bit ? ", 8-bit" : "",
	    env.needs_smtputf8 ? ", SMTPUTF8" : "");
	dc.dir = r->spool_dir;
	dc.diag = &r->diag;
	dc.now = now;
	dc.hold = !r->acct.queue;
	dc.marked = !r->opt.queue_only;
	/* Ours until the session ends (env.spool_fd holds its lock): a flush skips it. */
	if (run_meta_init(r, &env, &qm, now) == -1 ||
	    run_commit(r, &env, &qm, &dc, !r->opt.queue_only) == -1)
		goto kept;
	strlcpy(r->msg_id, qm.id, sizeof(r->msg_id));
	if (r->opt.queue_only) {
		struct diag_field f = {"id", qm.id, 0};

		diag_stage_event(
		    &r->diag, "stage", STAGE_QUEUE, &f, 1, "queued as %s (not sent now)", qm.id);
		r->state = DIAG_STATE_QUEUED;
		rc = 0;
		goto out;
	}
	/* From now on SIGTERM/SIGINT/SIGHUP end the session, not the process. */
	sigflag_install();
	if (deliver_attempt(&dc, &qm, env.spool_fd, &r->acct, &t, &res) == 0) {
		r->state = DIAG_STATE_SENT;
		if (r->no_queue)
			rmdir(r->spool_dir);
		/* Unlocked before the flush, which must not find it (it is gone). */
		msg_envelope_free(&env);
		if (r->acct.flush_on_send && !r->no_queue && !sigflag_caught())
			mode_flush(r, 1);
		rc = 0;
		goto out;
	}
	rc = run_outcome(r, &res, &qm);
	goto out;
kept:
	/* Not committed: nothing was queued; the .tmp goes with the next -q. */
	if (env.spool_path != NULL && env.spool_tmp == NULL)
		snprintf(
		    r->context, sizeof(r->context), "the message was kept in %s", env.spool_path);
	else
		strlcpy(
		    r->context, "the message was not queued; nothing was sent", sizeof(r->context));
out:
	relay_free(&ds.rl);
	queue_meta_free(&qm);
	msg_envelope_free(&env);
	return rc;
}
