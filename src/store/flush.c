/* flush.c — a run over the queue (see flush.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sigflag.h"
#include "store/dsn.h"
#include "store/flush.h"
#include "store/queue.h"

static void
flush_tell(const struct flush_ops *ops, const struct queue_meta *m, enum flush_event ev,
    const struct deliver_result *r, const struct sx_err *e)
{
	if (ops->report != NULL)
		ops->report(ops->arg, m, ev, r, e);
}

static int flush_one(const struct deliver_ctx *, const char *, const struct flush_opts *,
    const struct deliver_transport *, const struct flush_ops *, struct flush_stats *,
    struct sx_err *);

/*
 * A message its sender was told was accepted has finally failed or
 * expired: queue a DSN to the sender (unless the account says bounce off,
 * the sender is <> or asked for none, or one was queued already) through
 * the same relay, and try it at once.
 */
static void
flush_bounce(const struct deliver_ctx *dc, const struct flush_opts *o,
    const struct deliver_transport *t, const struct flush_ops *ops, struct flush_stats *st,
    struct queue_meta *m, int body_fd)
{
	const struct account *a;
	struct queue_meta d;
	struct dsn_info in;
	struct sx_err e, ignored;

	if (m->dsn != NULL)
		return;
	sx_clear(&e);
	if ((a = ops->account(ops->arg, m, &e)) == NULL || !a->bounce)
		return;
	memset(&in, 0, sizeof(in));
	in.reporting_host = o->hostname;
	in.relay_host = a->host;
	in.from = a->from;
	in.now = o->now;
	switch (dsn_create(dc->dir, m, body_fd, &in, &d, &e)) {
	case 0:
		break;
	case 1:
		return; /* not wanted: null sender, NOTIFY without FAILURE */
	default:
		flush_tell(ops, m, FLUSH_BOUNCED, NULL, &e);
		return;
	}
	st->bounced++;
	/* Recorded before it is sent: a later run never queues a second. */
	if ((m->dsn = strdup(d.id)) != NULL)
		queue_meta_write(dc->dir, m, &e);
	flush_tell(ops, &d, FLUSH_BOUNCED, NULL, NULL);
	sx_clear(&ignored);
	flush_one(dc, d.id, o, t, ops, st, &ignored);
	queue_meta_free(&d);
}

/* Keep the earliest time a deferred message wants its next try. */
static void
flush_note_due(struct flush_stats *st, time_t when)
{
	if (st->next_due == 0 || when < st->next_due)
		st->next_due = when;
}

/*
 * Is the message to be tried now?  Marks a deferred message expired once
 * (so -bp and the log agree; never deleted).  --flush-id tries any state
 * but a message that cannot be sent as it is (refused at intake).
 */
static int
flush_eligible(const struct deliver_ctx *dc, const struct flush_opts *o,
    const struct deliver_transport *t, struct queue_meta *m, int fd, const struct flush_ops *ops,
    struct flush_stats *st, struct sx_err *why)
{
	enum queue_state s = queue_state_at(m, o->now, o->max_age);
	struct sx_err we;

	if (o->only_id != NULL) {
		if (m->nrcpts > 0 && !(m->err_stage == STAGE_INTAKE && m->err_class == SX_DATA))
			return 1;
		sx_fail(why, SX_DATA, STAGE_QUEUE,
		    "message %s was refused at intake (%s) and cannot be sent; remove it with "
		    "--queue-remove",
		    m->id, m->err_text != NULL ? m->err_text : "bad message");
		return 0;
	}
	/*
	 * A failed message's sender was told when it failed (exit status, or a
	 * DSN): after keep_failed it goes, so a host with typo'd recipients
	 * does not grow its spool without bound.
	 */
	if (s == QUEUE_FAILED && o->keep_failed > 0 &&
	    o->now - (m->last_attempt != 0 ? m->last_attempt : m->created) > o->keep_failed) {
		sx_clear(&we);
		if (queue_remove_files(dc->dir, m->id, &we) == 0) {
			st->removed++;
			flush_tell(ops, m, FLUSH_REMOVED, NULL, NULL);
		}
		return 0;
	}
	if (s == QUEUE_EXPIRED && m->state != QUEUE_EXPIRED) {
		m->state = QUEUE_EXPIRED;
		sx_clear(&we);
		queue_meta_write(dc->dir, m, &we);
		st->expired++;
		flush_tell(ops, m, FLUSH_EXPIRED, NULL, NULL);
		flush_bounce(dc, o, t, ops, st, m, fd);
	}
	if (s != QUEUE_DEFERRED)
		return 0;
	if (!o->respect_backoff || queue_due_at(m, o->max_backoff) <= o->now)
		return 1;
	flush_note_due(st, queue_due_at(m, o->max_backoff));
	return 0;
}

static int
flush_deliver(const struct deliver_ctx *dc, const struct flush_opts *o, struct queue_meta *m,
    int fd, const struct account *a, const struct deliver_transport *t, struct deliver_result *r)
{
	int rc;

	if (o->finish_in_flight)
		sigflag_hold(1);
	rc = deliver_attempt(dc, m, fd, a, t, r);
	if (o->finish_in_flight)
		sigflag_hold(0);
	return rc;
}

/* Try one message: lock, re-read, decide, deliver.  1 when tried. */
static int
flush_one(const struct deliver_ctx *dc, const char *id, const struct flush_opts *o,
    const struct deliver_transport *t, const struct flush_ops *ops, struct flush_stats *st,
    struct sx_err *lasterr)
{
	const struct account *a;
	struct deliver_result r;
	struct deliver_ctx held;
	struct queue_meta m;
	struct sx_err e;
	int fd, tried = 0, accepted;

	sx_clear(&e);
	sx_clear(lasterr);
	if ((fd = queue_lock(dc->dir, id, 1, &e)) == -2) {
		st->locked++;
		return 0;
	}
	if (fd == -1)
		goto bad;
	/* Read only now: whoever held the lock before may have changed it. */
	if (queue_meta_read(dc->dir, id, &m, &e) == -1) {
		close(fd);
		if (e.sys_errno == ENOENT)
			return 0; /* incomplete: no envelope to send with */
		goto bad;
	}
	/* Told it was accepted: a final failure then deserves a DSN. */
	accepted = m.state == QUEUE_DEFERRED || m.state == QUEUE_EXPIRED;
	if (!flush_eligible(dc, o, t, &m, fd, ops, st, &e)) {
		if (e.cls != SX_OK) {
			/* Named, but cannot be sent: counts as a failed try. */
			flush_tell(ops, &m, FLUSH_FAILED, NULL, &e);
			st->failed++;
			sx_adopt(lasterr, &e, STAGE_QUEUE);
			tried = 1;
		}
		goto out;
	}
	tried = 1;
	sx_clear(&e);
	/* A held message's caller was told it failed: named, it may go, but never by itself. */
	held = *dc;
	held.hold = held.hold || m.state == QUEUE_HELD;
	if ((a = ops->account(ops->arg, &m, &e)) == NULL) {
		memset(&r, 0, sizeof(r));
		deliver_record_failure(&held, &m, &e, &r);
	} else if (flush_deliver(&held, o, &m, fd, a, t, &r) == 0) {
		st->sent++;
		flush_tell(ops, &m, FLUSH_SENT, &r, r.cleanup.cls != SX_OK ? &r.cleanup : NULL);
		goto out;
	}
	if (r.cleanup.cls != SX_OK)
		flush_tell(ops, &m, FLUSH_BAD, NULL, &r.cleanup);
	if (r.outcome == DELIVER_FAILED) {
		st->failed++;
	} else {
		st->deferred++;
		flush_note_due(st, queue_due_at(&m, o->max_backoff));
	}
	flush_tell(
	    ops, &m, r.outcome == DELIVER_FAILED ? FLUSH_FAILED : FLUSH_DEFERRED, &r, &r.err);
	sx_adopt(lasterr, &r.err, STAGE_QUEUE);
	if (r.outcome == DELIVER_FAILED && accepted)
		flush_bounce(dc, o, t, ops, st, &m, fd);
out:
	queue_meta_free(&m);
	close(fd);
	return tried;
bad:
	st->bad++;
	memset(&m, 0, sizeof(m));
	strlcpy(m.id, id, sizeof(m.id));
	flush_tell(ops, &m, FLUSH_BAD, NULL, &e);
	sx_adopt(lasterr, &e, STAGE_QUEUE);
	return 0;
}

int
flush_queue(const struct deliver_ctx *dc, const struct flush_opts *o,
    const struct deliver_transport *t, const struct flush_ops *ops, struct flush_stats *st,
    struct sx_err *e)
{
	struct queue_entry *v;
	struct sx_err last;
	size_t n, i;
	unsigned tried = 0;
	int found = 0;

	memset(st, 0, sizeof(*st));
	if (o->only_id != NULL && !queue_id_valid(o->only_id))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "%s is not a message id (32 hex digits, as -bp lists them)", o->only_id);
	/* What dead writers left: whole messages join the queue, partial ones go. */
	if (o->only_id == NULL && queue_settle_tmp(dc->dir, &st->whole, &st->partial, e) == -1)
		return -1;
	if (queue_scan(dc->dir, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n && !sigflag_caught(); i++) {
		if (o->only_id != NULL && strcmp(v[i].id, o->only_id) != 0)
			continue;
		found = 1;
		if (o->max_msgs > 0 && tried >= o->max_msgs)
			break;
		if (o->deadline != 0 && tried > 0 && time(NULL) >= o->deadline)
			break;
		tried += (unsigned)flush_one(dc, v[i].id, o, t, ops, st, &last);
		sx_adopt(&st->first, &last, STAGE_QUEUE); /* the first failure stays */
		if (o->stop_on_tempfail && last.cls != SX_OK && !sx_about_message(&last))
			break;
		/* Each further message would wait out the same connect time-out. */
		if (o->stop_on_unreachable && (last.cls == SX_TEMP || last.cls == SX_NOHOST) &&
		    (last.stage == STAGE_RESOLVE || last.stage == STAGE_CONNECT)) {
			st->untried = (unsigned)(n - i - 1);
			break;
		}
	}
	free(v);
	if (o->only_id != NULL && !found)
		return sx_fail(
		    e, SX_USAGE, STAGE_QUEUE, "no message %s in %s", o->only_id, dc->dir);
	if (o->only_id != NULL && st->locked > 0)
		return sx_fail(e, SX_TEMP, STAGE_QUEUE,
		    "message %s is being delivered by another process", o->only_id);
	if (st->first.cls != SX_OK) {
		return sx_adopt(e, &st->first, STAGE_QUEUE);
	}
	return 0;
}
