/* deliver.c — one delivery attempt, for every mode (see deliver.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/deliver.h"
#include "store/maillog.h"
#include "store/queue.h"

int
deliver_session_transmit(void *arg, const struct account *a, const struct queue_meta *m,
    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e)
{
	struct deliver_session *ds = arg;
	struct relay_opts ro;
	int rc = -1;

	memset(&ro, 0, sizeof(ro));
	ro.hostname = ds->hostname;
	ro.dsn_notify = m->dsn_notify;
	ro.dsn_ret = m->dsn_ret;
	ro.dsn_envid = m->dsn_envid;
	if (relay_connect(&ds->rl, a, &ro, ds->diag, e) == 0)
		rc = smtp_session(&ds->rl.c, &ds->rl.sp, msg, res, e);
	relay_free(&ds->rl);
	return rc;
}

int
deliver_mark(const struct deliver_ctx *dc, const struct queue_meta *m, struct sx_err *e)
{
	char text[] = "the attempt did not finish (the sending process was killed?)";
	struct queue_meta busy = *m;

	busy.attempts++;
	if (busy.first_attempt == 0)
		busy.first_attempt = dc->now;
	busy.last_attempt = dc->now;
	busy.err_class = SX_TEMP;
	busy.err_stage = STAGE_QUEUE;
	busy.err_exit = EX_TEMPFAIL;
	busy.err_code = 0;
	busy.err_text = text;
	return queue_meta_write(dc->dir, &busy, e);
}

static void
deliver_log(const struct deliver_ctx *dc, const struct account *a, const struct queue_meta *m,
    const struct smtp_result *res, const struct sx_err *err, long ms, const char *kept)
{
	struct maillog_entry le;

	memset(&le, 0, sizeof(le));
	le.from = m->from;
	le.rcpts = m->rcpts;
	le.nrcpts = m->nrcpts;
	le.size = m->size;
	le.duration_ms = ms;
	if (err == NULL) {
		le.reply_code = res->final.code;
		le.reply = res->final.text;
	} else {
		le.err = err;
		le.reply_code = err->reply_code;
		le.reply = err->reply;
		le.kept = kept;
		le.result = sx_about_message(err) ? "failed" : dc->hold ? "held" : "queued";
	}
	le.diag = dc->diag;
	maillog_write(a, &le);
}

/*
 * The relay took the message for some recipients before the attempt
 * failed (a server that limits recipients per transaction, then a later
 * transaction failed): say so in the cause, which the log line, the
 * metadata and the sender see.
 */
static void
deliver_note_partial(struct sx_err *e, size_t ndelivered, size_t nrcpts)
{
	struct sx_err pe;

	sx_clear(&pe);
	sx_adopt(&pe, e, STAGE_NONE);
	sx_append(&pe,
	    " (delivered to %zu of %zu recipients before that; only the other %zu are kept)",
	    ndelivered, nrcpts, nrcpts - ndelivered);
	*e = pe;
}

/* Keep only the recipients the message has not reached: a retry is theirs alone. */
static void
deliver_keep_undelivered(struct queue_meta *m, const struct smtp_result *res)
{
	size_t i, n = 0;

	for (i = 0; i < m->nrcpts; i++) {
		if (res->rcpt[i].delivered)
			free(m->rcpts[i]);
		else
			m->rcpts[n++] = m->rcpts[i];
	}
	for (i = n; i < m->nrcpts; i++)
		m->rcpts[i] = NULL;
	m->nrcpts = n;
}

int
deliver_record_failure(const struct deliver_ctx *dc, struct queue_meta *m,
    const struct sx_err *cause, struct deliver_result *r)
{
	sx_adopt(&r->err, cause, STAGE_QUEUE);
	if (queue_meta_fail(m, cause, dc->now, dc->hold) == -1)
		return sx_fail(&r->cleanup, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	r->outcome = m->state == QUEUE_FAILED ? DELIVER_FAILED
		     : m->state == QUEUE_HELD ? DELIVER_HELD
					      : DELIVER_DEFERRED;
	return queue_meta_write(dc->dir, m, &r->cleanup);
}

int
deliver_attempt(const struct deliver_ctx *dc, struct queue_meta *m, int body_fd,
    const struct account *a, const struct deliver_transport *t, struct deliver_result *r)
{
	struct smtp_message msg;
	struct smtp_result res;
	struct sx_err e;
	char kept[4200];
	int64_t t0;
	int rc;

	memset(r, 0, sizeof(r[0]));
	memset(&res, 0, sizeof(res));
	sx_clear(&e);
	if (!dc->marked && deliver_mark(dc, m, &e) == -1) {
		deliver_record_failure(dc, m, &e, r);
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.from = m->from;
	msg.rcpts = m->rcpts;
	msg.nrcpts = m->nrcpts;
	msg.body_8bit = m->body_8bit;
	msg.needs_smtputf8 = m->needs_smtputf8;
	msg.size = m->size;
	msg.body_fd = body_fd;
	/* The body is read from the start, whoever read the spool before. */
	lseek(body_fd, 0, SEEK_SET);
	t0 = clock_now_ms();
	rc = t->transmit(t->arg, a, m, &msg, &res, &e);
	r->duration_ms = (long)(clock_now_ms() - t0);
	r->nrcpts = m->nrcpts;
	if (res.rcpt != NULL)
		r->ndelivered = res.ndelivered;
	/* Every recipient has it: whatever failed after that, it was sent. */
	if (rc != 0 && r->ndelivered > 0 && r->ndelivered == m->nrcpts)
		rc = 0;
	if (rc != 0 && e.cls == SX_OK)
		sx_fail(&e, SX_INTERNAL, STAGE_NONE, "delivery failed without a reason");
	if (rc != 0 && r->ndelivered > 0)
		deliver_note_partial(&e, r->ndelivered, m->nrcpts);
	if (queue_path(kept, sizeof(kept), dc->dir, m->id, ".msg") == -1)
		kept[0] = '\0';
	deliver_log(dc, a, m, &res, rc == 0 ? NULL : &e, r->duration_ms, kept);
	if (rc == 0) {
		r->outcome = DELIVER_SENT;
		r->final = res.final;
		queue_remove_files(dc->dir, m->id, &r->cleanup);
	} else {
		if (r->ndelivered > 0)
			deliver_keep_undelivered(m, &res);
		deliver_record_failure(dc, m, &e, r);
	}
	smtp_result_free(&res);
	return rc == 0 ? 0 : -1;
}

const char *
deliver_describe(const struct deliver_result *r, const struct queue_meta *m, char *buf, size_t sz)
{
	if (r->cleanup.cls != SX_OK && r->outcome != DELIVER_SENT)
		snprintf(
		    buf, sz, "its queue entry could not be written: %.400s", r->cleanup.detail);
	else if (r->outcome == DELIVER_SENT)
		snprintf(buf, sz, "sent%s%.400s", r->cleanup.cls != SX_OK ? ", but " : "",
		    r->cleanup.cls != SX_OK ? r->cleanup.detail : "");
	else if (r->outcome == DELIVER_FAILED && r->err.stage == STAGE_INTAKE)
		snprintf(buf, sz,
		    "queued as %s, failed: it cannot be sent as it is (--queue-remove %s "
		    "deletes it)",
		    m->id, m->id);
	else if (r->outcome == DELIVER_FAILED)
		snprintf(buf, sz,
		    "queued as %s, failed: never retried automatically (--flush-id %s retries "
		    "it, --queue-remove %s deletes it)",
		    m->id, m->id, m->id);
	else if (r->outcome == DELIVER_HELD)
		snprintf(buf, sz,
		    "kept as %s, held (queue off): never sent unless named (--flush-id %s sends "
		    "it, --queue-remove %s deletes it)",
		    m->id, m->id, m->id);
	else
		snprintf(buf, sz, "queued as %s for later delivery (smtps-send -q)", m->id);
	return buf;
}
