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

/* A message refused at intake but kept (a NUL byte): queued as failed, never retried. */
static void
send_keep_refused(struct run *r, const struct msg_envelope *env, time_t now)
{
	struct deliver_ctx dc = {r->spool_dir, &r->diag, now, !r->acct.queue};
	struct deliver_result res;
	struct queue_meta qm;
	struct sx_err we;
	int fd;

	snprintf(r->context, sizeof(r->context), "the message was kept in %s", env->spool_path);
	sx_clear(&we);
	memset(&res, 0, sizeof(res));
	if (run_meta_init(r, env, &qm, now) == -1)
		return;
	if ((fd = queue_lock(r->spool_dir, qm.id, 0, &we)) >= 0) {
		deliver_record_failure(&dc, &qm, &r->err, &res);
		run_outcome(r, &res, &qm); /* refused for what it is: never accepted */
		close(fd);
	}
	queue_meta_free(&qm);
}

int
mode_send(struct run *r)
{
	struct deliver_transport t = {deliver_session_transmit, NULL};
	struct deliver_session ds;
	struct deliver_result res;
	struct deliver_ctx dc;
	struct send_early early = {r, &ds};
	struct msg_policy pol;
	struct msg_envelope env;
	struct queue_meta qm;
	int rc = -1, fd = -1;
	time_t now = time(NULL);

	memset(&env, 0, sizeof(env));
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
	if (!r->opt.queue_only) {
		pol.on_accepted = send_connect_early;
		pol.on_accepted_arg = &early;
	}
	if (msg_intake(STDIN_FILENO, &pol, &env, &r->err) == -1) {
		if (env.spool_path != NULL)
			send_keep_refused(r, &env, now);
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
	if (run_meta_init(r, &env, &qm, now) == -1 ||
	    (fd = queue_lock(r->spool_dir, qm.id, 0, &r->err)) < 0)
		goto kept;
	if (r->opt.queue_only) {
		if (queue_meta_write(r->spool_dir, &qm, &r->err) == -1)
			goto kept;
		diag_stage(&r->diag, STAGE_QUEUE, "queued as %s (not sent now)", qm.id);
		rc = 0;
		goto out;
	}
	/* From now on SIGTERM/SIGINT/SIGHUP end the session, not the process. */
	sigflag_install();
	dc.dir = r->spool_dir;
	dc.diag = &r->diag;
	dc.now = now;
	dc.hold = !r->acct.queue;
	if (deliver_attempt(&dc, &qm, fd, &r->acct, &t, &res) == 0) {
		if (r->no_queue)
			rmdir(r->spool_dir);
		close(fd);
		fd = -1;
		if (r->acct.flush_on_send && !r->no_queue && !sigflag_caught())
			mode_flush(r, 1);
		rc = 0;
		goto out;
	}
	rc = run_outcome(r, &res, &qm);
	goto out;
kept:
	snprintf(r->context, sizeof(r->context), "the message was kept in %s", env.spool_path);
out:
	relay_free(&ds.rl);
	if (fd >= 0)
		close(fd);
	queue_meta_free(&qm);
	msg_envelope_free(&env);
	return rc;
}
