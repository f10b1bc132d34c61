/* run.c — what the modes share (see run.h). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mode/run.h"
#include "store/queue.h"

int
run_queue_dir(struct run *r)
{
	struct sx_err qe;
	const char *tmp;

	if (queue_dir_path(r->acct.queue_dir, r->spool_dir, sizeof(r->spool_dir), &r->err) == -1)
		return -1;
	sx_clear(&qe);
	if (queue_dir_prepare(r->spool_dir, &qe) == 0)
		return 0;
	if (!r->acct.queue_fallback) {
		sx_adopt(&r->err, &qe, STAGE_QUEUE);
		sx_hint(&r->err, "fix it, set queue_dir, or set queue_fallback on to send "
				 "without a durable copy");
		r->exit_code = EX_CANTCREAT;
		return -1;
	}
	diag_say(&r->diag, "queue_fallback", STAGE_QUEUE, NULL, 0,
	    "queue: %s; sending without a durable copy (queue_fallback)", qe.detail);
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
run_local_user(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u;

	if (pw != NULL && pw->pw_name != NULL)
		return pw->pw_name;
	if ((u = getenv("USER")) != NULL && u[0] != '\0')
		return u;
	return "nobody";
}

void
run_intake_policy(const struct run *r, struct msg_policy *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->envelope_from = r->opt.from;
	pol->fullname = r->opt.fullname;
	pol->account_from = r->acct.from;
	pol->account_user = r->acct.user;
	pol->default_domain = r->acct.default_domain;
	pol->admin_address = r->acct.admin_address;
	pol->aliases_file = r->acct.aliases;
	pol->from_header = r->acct.set_from_header;
	pol->hostname = r->hostname;
	pol->local_user = run_local_user();
	pol->strict_line_length = r->acct.strict_line_length;
	pol->sender_from_header = r->acct.sender_from_header;
	pol->spool_dir = r->spool_dir;
}

/* A copy of s, or NULL for NULL; *fail set when out of memory. */
static char *
run_dup(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

struct run_record {
	struct queue_meta *qm;
	int fail;
};

static void
run_record_put(void *arg, const char *key, const char *value)
{
	struct run_record *rr = arg;

	if (queue_meta_add_relay(rr->qm, key, value) == -1)
		rr->fail = 1;
}

int
run_meta_init(struct run *r, const struct msg_envelope *env, struct queue_meta *qm, time_t now)
{
	int fail = 0;

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
		fail = 1;
	for (; !fail && qm->nrcpts < env->nrcpts; qm->nrcpts++)
		if ((qm->rcpts[qm->nrcpts] = strdup(env->rcpts[qm->nrcpts])) == NULL)
			fail = 1;
	qm->from = run_dup(env->from != NULL ? env->from : "", &fail);
	qm->account = run_dup(r->acct.name, &fail);
	qm->dsn_notify = run_dup(r->opt.dsn_notify, &fail);
	qm->dsn_ret = run_dup(r->opt.dsn_ret, &fail);
	qm->dsn_envid = run_dup(r->opt.dsn_envid, &fail);
	if (!fail) {
		/* The relay it is accepted for: -q needs no config to send it. */
		struct run_record rr = {qm, 0};

		conf_record(&r->acct, run_record_put, &rr);
		fail = rr.fail;
	}
	if (!fail)
		return 0;
	queue_meta_free(qm);
	return sx_fail(&r->err, SX_INTERNAL, STAGE_QUEUE, "out of memory");
}

int
run_outcome(struct run *r, const struct deliver_result *res, const struct queue_meta *qm)
{
	sx_adopt(&r->err, &res->err, STAGE_QUEUE);
	strlcpy(r->msg_id, qm->id, sizeof(r->msg_id));
	if (res->outcome == DELIVER_DEFERRED && res->cleanup.cls == SX_OK && !r->no_queue) {
		strlcpy(r->queued_id, qm->id, sizeof(r->queued_id));
		r->state = DIAG_STATE_QUEUED;
		return 0;
	}
	/* Kept but not retried automatically: refused (failed), or waiting for the user. */
	r->state = res->outcome == DELIVER_FAILED ? DIAG_STATE_FAILED : DIAG_STATE_HELD;
	/* The spool directory fits in context (run_queue_dir): so does this. */
	snprintf(r->context, sizeof(r->context), "the message was kept in %.4000s/%s.msg",
	    r->spool_dir, qm->id);
	if (r->no_queue && res->cleanup.cls == SX_OK)
		snprintf(r->note, sizeof(r->note),
		    "not queued (no queue directory): -q will not retry it");
	else
		deliver_describe(res, qm, r->note, sizeof(r->note));
	return -1;
}

/*
 * The envelope on disk, then the message under its final name: a kill at
 * any point leaves either a .tmp without an envelope (never accepted, -q
 * removes it) or an envelope with its message.  The metadata is written
 * as an attempt that did not finish (deliver_mark) unless the message is
 * only queued.  0, or -1 with r->err.
 */
int
run_commit(struct run *r, struct msg_envelope *env, struct queue_meta *qm,
    const struct deliver_ctx *dc, int attempt)
{
	if ((attempt ? deliver_mark(dc, qm, &r->err) : queue_meta_write(dc->dir, qm, &r->err)) ==
	    -1)
		return -1;
	if (msg_commit(env, &r->err) == 0)
		return 0;
	/* The spool is gone with the failed rename: its envelope must go too. */
	queue_remove_files(dc->dir, qm->id, NULL);
	return -1;
}

/*
 * A message refused at intake but kept: a NUL byte (failed: it cannot be
 * sent as it is) or a name nothing gives a domain to (held: a
 * configuration problem the caller was told of; --flush-id after the fix).
 */
int
run_keep_refused(struct run *r, struct msg_envelope *env, time_t now)
{
	struct deliver_ctx dc = {r->spool_dir, &r->diag, now, 1, 0};
	struct deliver_result res;
	struct queue_meta qm;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (run_meta_init(r, env, &qm, now) == -1)
		return -1;
	/* Recorded first, then committed: never a message without its envelope. */
	if (queue_meta_fail(&qm, &r->err, now, 1) == 0 && run_commit(r, env, &qm, &dc, 0) == 0) {
		res.outcome = qm.state == QUEUE_FAILED ? DELIVER_FAILED : DELIVER_HELD;
		sx_adopt(&res.err, &r->err, STAGE_INTAKE);
		run_outcome(r, &res, &qm); /* refused: never accepted */
		rc = 0;
	}
	queue_meta_free(&qm);
	return rc;
}
