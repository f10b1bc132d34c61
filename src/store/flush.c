/* flush.c — a run over the queue (see flush.h). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/sigflag.h"
#include "store/dsn.h"
#include "store/flush.h"
#include "store/queue.h"

/*
 * Messages taken together: marked with one flush to disk
 * (deliver_mark_many), then handed to the transport one after another.
 * A relay's first message goes alone, so that a relay that cannot be
 * reached costs one attempt, not a window of them.
 */
#define FLUSH_WINDOW 32

/* A message taken by this run: locked, read, eligible, with its account. */
struct flush_item {
	struct queue_meta m;
	int fd;
	const struct account *a;
	int accepted; /* its sender was told it was accepted: a final failure gets a DSN */
	int dsn;      /* a DSN this run queued: its failure is not the run's (exit status) */
	struct deliver_ctx dc; /* the run's, held when the message is */
	struct deliver_job j;
};

struct flush_run {
	const struct deliver_ctx *dc;
	const struct flush_opts *o;
	const struct deliver_transport *t;
	const struct flush_ops *ops;
	struct flush_stats *st;
	struct flush_pace *pace;
	unsigned tried;
	int stop;                  /* the run ends */
	int taking_dsn;            /* flush_take takes a DSN of this run's */
	int group_stop;            /* the current group's relay takes no more in this run */
	int unreachable;           /* because it could not be reached: the rest are untried */
	int group_up;              /* a session to it took a message */
	struct flush_relay *relay; /* the current group's relay, once known */
	struct flush_item *win[FLUSH_WINDOW];
	size_t nwin;
	size_t inflight;
	char (*dsn)[QUEUE_ID_LEN + 1]; /* DSNs queued by this run, tried at the end of a group */
	size_t ndsn, capdsn, dsn_next;
};

static void
flush_tell(const struct flush_ops *ops, const struct queue_meta *m, enum flush_event ev,
    const struct deliver_result *r, const struct sx_err *e)
{
	if (ops->report != NULL)
		ops->report(ops->arg, m, ev, r, e);
}

/* Keep the earliest time a deferred message wants its next try. */
static void
flush_note_due(struct flush_stats *st, time_t when)
{
	if (st->next_due == 0 || when < st->next_due)
		st->next_due = when;
}

void
flush_pace_free(struct flush_pace *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* The relay a's messages go to, as this run (or runner) remembers it; NULL when out of memory. */
static struct flush_relay *
flush_relay_of(struct flush_run *run, const struct account *a)
{
	char key[1024];
	uint64_t h = 14695981039346656037ULL;
	struct flush_relay *nv;
	const char *p;
	size_t i;

	deliver_relay_key(a, key, sizeof(key));
	for (p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (i = 0; i < run->pace->n; i++)
		if (run->pace->v[i].key == h)
			return &run->pace->v[i];
	if ((nv = reallocarray(run->pace->v, run->pace->n + 1, sizeof(*nv))) == NULL)
		return NULL;
	run->pace->v = nv;
	memset(&nv[run->pace->n], 0, sizeof(nv[0]));
	nv[run->pace->n].key = h;
	return &nv[run->pace->n++];
}

/*
 * A message its sender was told was accepted has finally failed or
 * expired: queue a DSN to the sender (unless the account says bounce off,
 * the sender is <> or asked for none, or one was queued already) through
 * the same relay; it is tried at the end of the group, in its session.
 */
static void
flush_bounce(struct flush_run *run, struct queue_meta *m, int body_fd)
{
	const struct account *a;
	struct queue_meta d;
	struct dsn_info in;
	struct sx_err e;
	void *nv;

	if (m->dsn != NULL)
		return;
	sx_clear(&e);
	if ((a = run->ops->account(run->ops->arg, m, &e)) == NULL || !a->bounce)
		return;
	memset(&in, 0, sizeof(in));
	in.reporting_host = run->o->hostname;
	in.relay_host = a->host;
	in.from = a->from;
	in.now = run->o->now;
	switch (dsn_create(run->dc->dir, m, body_fd, &in, &d, &e)) {
	case 0:
		break;
	case 1:
		return; /* not wanted: null sender, NOTIFY without FAILURE */
	default:
		flush_tell(run->ops, m, FLUSH_BOUNCED, NULL, &e);
		return;
	}
	run->st->bounced++;
	/* Recorded before it is sent: a later run never queues a second. */
	if ((m->dsn = strdup(d.id)) != NULL)
		queue_meta_write(run->dc->dir, m, &e);
	flush_tell(run->ops, &d, FLUSH_BOUNCED, NULL, NULL);
	if (run->ndsn == run->capdsn) {
		size_t cap = run->capdsn == 0 ? 8 : 2 * run->capdsn;

		if ((nv = reallocarray(run->dsn, cap, sizeof(run->dsn[0]))) != NULL) {
			run->dsn = nv;
			run->capdsn = cap;
		}
	}
	if (run->ndsn < run->capdsn)
		strlcpy(run->dsn[run->ndsn++], d.id, QUEUE_ID_LEN + 1);
	queue_meta_free(&d);
}

/*
 * Is the message to be tried now?  Marks a deferred message expired once
 * (so -bp and the log agree; never deleted).  --flush-id tries any state
 * but a message that cannot be sent as it is (refused at intake).
 */
static int
flush_eligible(struct flush_run *run, struct queue_meta *m, int fd, struct sx_err *why)
{
	const struct flush_opts *o = run->o;
	struct flush_stats *st = run->st;
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
		if (queue_remove_files(run->dc->dir, m->id, &we) == 0) {
			st->removed++;
			flush_tell(run->ops, m, FLUSH_REMOVED, NULL, NULL);
		}
		return 0;
	}
	if (s == QUEUE_EXPIRED && m->state != QUEUE_EXPIRED) {
		m->state = QUEUE_EXPIRED;
		sx_clear(&we);
		queue_meta_write(run->dc->dir, m, &we);
		st->expired++;
		flush_tell(run->ops, m, FLUSH_EXPIRED, NULL, NULL);
		flush_bounce(run, m, fd);
	}
	if (s != QUEUE_DEFERRED)
		return 0;
	if (!o->respect_backoff || queue_due_at(m, o->max_backoff) <= o->now)
		return 1;
	flush_note_due(st, queue_due_at(m, o->max_backoff));
	return 0;
}

static void
flush_item_free(struct flush_item *it)
{
	queue_meta_free(&it->m);
	if (it->fd >= 0)
		close(it->fd);
	free(it);
}

/*
 * Does this failure end the relay's part of the run?  When the relay says
 * it takes no more (a limit, with a back-off), and when the session
 * itself is the trouble (set-up refused, lost, out of step): the other
 * messages would only meet the same.  A refusal of one message's
 * envelope or content does not; nor does a problem of our own.
 */
static int
flush_ends_group(const struct sx_err *e)
{
	if (deliver_is_limit(e))
		return 1;
	switch (e->cls) {
	case SX_TEMP:
	case SX_NOHOST:
	case SX_PROTO:
	case SX_TLS:
	case SX_AUTH:
		break;
	default:
		return 0;
	}
	return e->reply_code == 0 || e->stage < STAGE_MAIL;
}

/* What became of a message tried: counted, told, and a DSN after a final failure. */
static void
flush_result(struct flush_run *run, struct flush_item *it, const struct deliver_result *r, int rc)
{
	const struct flush_opts *o = run->o;
	struct flush_stats *st = run->st;
	struct sx_err last;

	if (rc == 0) {
		st->sent++;
		run->group_up = 1;
		if (run->relay != NULL)
			run->relay->strikes = 0;
		flush_tell(
		    run->ops, &it->m, FLUSH_SENT, r, r->cleanup.cls != SX_OK ? &r->cleanup : NULL);
		return;
	}
	if (r->cleanup.cls != SX_OK)
		flush_tell(run->ops, &it->m, FLUSH_BAD, NULL, &r->cleanup);
	if (r->outcome == DELIVER_FAILED) {
		st->failed++;
	} else {
		st->deferred++;
		flush_note_due(st, queue_due_at(&it->m, o->max_backoff));
	}
	flush_tell(run->ops, &it->m, r->outcome == DELIVER_FAILED ? FLUSH_FAILED : FLUSH_DEFERRED,
	    r, &r->err);
	sx_clear(&last);
	sx_adopt(&last, &r->err, STAGE_QUEUE);
	if (!it->dsn)
		sx_adopt(&st->first, &last, STAGE_QUEUE); /* the first failure stays */
	if (r->outcome == DELIVER_FAILED && it->accepted)
		flush_bounce(run, &it->m, it->fd);
	if (r->err.reply_code != 0 || r->err.stage >= STAGE_MAIL)
		run->group_up = 1;
	if (o->stop_on_tempfail && !sx_about_message(&last))
		run->stop = 1;
	/* Each further message would wait out the same connect time-out. */
	if (o->stop_on_unreachable && (last.cls == SX_TEMP || last.cls == SX_NOHOST) &&
	    (last.stage == STAGE_RESOLVE || last.stage == STAGE_CONNECT)) {
		run->group_stop = run->unreachable = 1;
		/*
		 * Its other messages wait as long as this one: the runner's
		 * next pass (woken by this pass's own writes) leaves them be.
		 */
		if (run->relay != NULL && r->outcome == DELIVER_DEFERRED &&
		    queue_due_at(&it->m, o->max_backoff) > run->relay->hold_until) {
			run->relay->hold_until = queue_due_at(&it->m, o->max_backoff);
			run->relay->unreachable = 1;
		}
	}
	/* A kept session: what failed it would fail every further message too. */
	if (run->t->send != NULL && flush_ends_group(&last))
		run->group_stop = 1;
	/* "Too many": no session to it again before its back-off. */
	if (deliver_is_limit(&last) && run->relay != NULL && run->relay->hold_until <= o->now) {
		run->relay->strikes++;
		run->relay->hold_until = time(NULL) + queue_backoff(run->relay->strikes);
		run->relay->unreachable = 0;
		st->limited++;
		flush_note_due(st, run->relay->hold_until);
	}
}

/* A message handed back by the transport: its outcome recorded, then released. */
static void
flush_done(struct flush_run *run, struct flush_item *it)
{
	struct deliver_result r;
	int rc = deliver_end(&it->dc, &it->j, &r);

	flush_result(run, it, &r, rc);
	flush_item_free(it);
}

/* Take back what the transport finished: all of it (wait), or what is ready. */
static void
flush_reap(struct flush_run *run, int wait)
{
	struct deliver_job *j;

	if (run->t->collect == NULL)
		return;
	while ((j = run->t->collect(run->t->arg, wait)) != NULL) {
		run->inflight--;
		flush_done(run, j->arg);
	}
}

/* Send one message (marked already). */
static void
flush_send(struct flush_run *run, struct flush_item *it)
{
	struct deliver_result r;
	int hold = run->o->finish_in_flight;

	it->dc.marked = 1;
	it->j.arg = it;
	if (deliver_begin(&it->dc, &it->m, it->fd, it->a, &it->j, &r) == -1) {
		flush_result(run, it, &r, -1);
		flush_item_free(it);
		return;
	}
	if (run->t->send != NULL) {
		run->inflight++;
		run->t->send(run->t->arg, &it->j);
		flush_reap(run, 0);
		return;
	}
	if (hold)
		sigflag_hold(1);
	sx_clear(&it->j.sj.err);
	it->j.sj.rc =
	    run->t->transmit(run->t->arg, it->a, &it->m, &it->j.msg, &it->j.sj.res, &it->j.sj.err);
	if (hold)
		sigflag_hold(0);
	flush_done(run, it);
}

/*
 * Not sent after all (the run or its relay stopped): its envelope as it
 * was before the mark, so it waits as it did, not its fault.
 */
static void
flush_unsend(struct flush_run *run, struct flush_item *it)
{
	struct sx_err e;

	sx_clear(&e);
	queue_meta_write(run->dc->dir, &it->m, &e);
	if (run->unreachable)
		run->st->untried++;
	else
		run->st->skipped++;
	flush_item_free(it);
}

/* The account's rate: wait until the relay may have its next message.  -1 on a signal. */
static int
flush_pace_wait(struct flush_run *run, const struct account *a)
{
	struct pollfd pfd;
	int64_t now, gap;

	if (a->rate == 0 || run->relay == NULL)
		return 0;
	gap = 60000 / (int64_t)a->rate;
	now = clock_now_ms();
	if (run->relay->next_ms > now) {
		/* Nothing to pipeline at this pace: what is in flight finishes first. */
		flush_reap(run, 1);
		pfd.fd = sigflag_fd();
		pfd.events = POLLIN;
		while ((now = clock_now_ms()) < run->relay->next_ms && !sigflag_caught()) {
			int64_t ms = run->relay->next_ms - now;

			if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, ms > 60000 ? 60000 : (int)ms) == -1 &&
			    errno != EINTR)
				break;
		}
		if (sigflag_caught())
			return -1;
	}
	run->relay->next_ms = (run->relay->next_ms > now ? run->relay->next_ms : now) + gap;
	return 0;
}

/* Mark the window's messages together, then send them one after another. */
static void
flush_window(struct flush_run *run)
{
	struct queue_meta *ms[FLUSH_WINDOW];
	struct deliver_result r;
	struct sx_err e;
	size_t i, n = run->nwin;
	int marked;

	run->nwin = 0;
	for (i = 0; i < n; i++)
		ms[i] = &run->win[i]->m;
	sx_clear(&e);
	marked = n > 1 && deliver_mark_many(run->dc, ms, n, &e) == 0;
	for (i = 0; i < n; i++) {
		struct flush_item *it = run->win[i];

		if (run->stop || run->group_stop || sigflag_caught()) {
			flush_unsend(run, it);
			continue;
		}
		sx_clear(&e);
		if (!marked && deliver_mark(&it->dc, &it->m, &e) == -1) {
			memset(&r, 0, sizeof(r));
			deliver_record_failure(&it->dc, &it->m, &e, &r);
			flush_result(run, it, &r, -1);
			flush_item_free(it);
			continue;
		}
		if (flush_pace_wait(run, it->a) == -1) {
			run->stop = 1;
			flush_unsend(run, it);
			continue;
		}
		flush_send(run, it);
	}
}

/* How many messages a window takes now. */
static size_t
flush_window_size(const struct flush_run *run, const struct account *a)
{
	if (a->rate > 0 || !run->group_up || run->t->send == NULL)
		return 1;
	return FLUSH_WINDOW;
}

/*
 * Take one message: lock, re-read, decide.  It goes into the window, or
 * what became of it is told now.  1 when it counts as tried.
 */
static int
flush_take(struct flush_run *run, const char *id)
{
	const struct flush_opts *o = run->o;
	struct flush_stats *st = run->st;
	const struct account *a;
	struct flush_item *it;
	struct deliver_result r;
	struct sx_err e;
	int fd;

	sx_clear(&e);
	if ((fd = queue_lock(run->dc->dir, id, 1, &e)) == -2) {
		st->locked++;
		return 0;
	}
	if (fd == -1 || (it = calloc(1, sizeof(*it))) == NULL) {
		if (fd >= 0) {
			close(fd);
			sx_fail(&e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
		}
		goto bad;
	}
	it->fd = fd;
	it->dsn = run->taking_dsn;
	/* Read only now: whoever held the lock before may have changed it. */
	if (queue_meta_read(run->dc->dir, id, &it->m, &e) == -1) {
		flush_item_free(it);
		if (e.sys_errno == ENOENT)
			return 0; /* incomplete: no envelope to send with */
		goto bad;
	}
	/* Told it was accepted: a final failure then deserves a DSN. */
	it->accepted = it->m.state == QUEUE_DEFERRED || it->m.state == QUEUE_EXPIRED;
	if (!flush_eligible(run, &it->m, fd, &e)) {
		if (e.cls == SX_OK) {
			flush_item_free(it);
			return 0;
		}
		/* Named, but cannot be sent: counts as a failed try. */
		flush_tell(run->ops, &it->m, FLUSH_FAILED, NULL, &e);
		st->failed++;
		sx_adopt(&st->first, &e, STAGE_QUEUE);
		flush_item_free(it);
		return 1;
	}
	sx_clear(&e);
	/* A held message's caller was told it failed: named, it may go, but never by itself. */
	it->dc = *run->dc;
	it->dc.hold = it->dc.hold || it->m.state == QUEUE_HELD;
	if ((a = run->ops->account(run->ops->arg, &it->m, &e)) == NULL) {
		memset(&r, 0, sizeof(r));
		deliver_record_failure(&it->dc, &it->m, &e, &r);
		flush_result(run, it, &r, -1);
		flush_item_free(it);
		return 1;
	}
	it->a = a;
	if (run->relay == NULL)
		run->relay = flush_relay_of(run, a);
	/* The relay said it takes no more: its messages wait for its back-off. */
	if (run->relay != NULL && run->relay->hold_until > time(NULL) && o->only_id == NULL) {
		flush_note_due(st, run->relay->hold_until);
		if (run->relay->unreachable)
			st->untried++;
		else
			st->skipped++;
		run->group_stop = 1;
		run->unreachable = run->relay->unreachable;
		flush_item_free(it);
		return 0;
	}
	run->win[run->nwin++] = it;
	if (run->nwin >= flush_window_size(run, a))
		flush_window(run);
	return 1;
bad:
	st->bad++;
	{
		struct queue_meta m;

		memset(&m, 0, sizeof(m));
		strlcpy(m.id, id, sizeof(m.id));
		flush_tell(run->ops, &m, FLUSH_BAD, NULL, &e);
	}
	sx_adopt(&st->first, &e, STAGE_QUEUE);
	return 0;
}

/*
 * The end of a relay's messages: the window goes and every outcome comes
 * in; the DSNs they called for (and any other queued by this run) go next,
 * in the same session when they go to the same relay; then it ends.
 */
static void
flush_group_end(struct flush_run *run)
{
	do {
		if (run->nwin > 0)
			flush_window(run);
		flush_reap(run, 1);
		run->taking_dsn = 1;
		while (run->dsn_next < run->ndsn && !run->group_stop && !sigflag_caught())
			flush_take(run, run->dsn[run->dsn_next++]);
		run->taking_dsn = 0;
	} while (run->nwin > 0 || run->inflight > 0);
	if (run->t->end != NULL)
		run->t->end(run->t->arg);
	flush_reap(run, 1);
	run->group_stop = run->unreachable = 0;
	run->group_up = 0;
	run->relay = NULL;
}

/*
 * The scan's messages in the order of the run: relay by relay (their
 * group), each group where its oldest message is, oldest first within.
 */
struct flush_order {
	uint64_t group;
	size_t first, i;
};

static int
flush_order_by_group(const void *a, const void *b)
{
	const struct flush_order *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
flush_order_by_first(const void *a, const void *b)
{
	const struct flush_order *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static struct flush_order *
flush_order(const struct queue_entry *v, size_t n)
{
	struct flush_order *ord;
	size_t i, k;

	if ((ord = calloc(n > 0 ? n : 1, sizeof(*ord))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		ord[i].group = v[i].group;
		ord[i].i = i;
	}
	qsort(ord, n, sizeof(*ord), flush_order_by_group);
	for (i = 0; i < n; i = k) {
		for (k = i; k < n && ord[k].group == ord[i].group; k++)
			ord[k].first = ord[i].i;
	}
	qsort(ord, n, sizeof(*ord), flush_order_by_first);
	return ord;
}

int
flush_queue(const struct deliver_ctx *dc, const struct flush_opts *o,
    const struct deliver_transport *t, const struct flush_ops *ops, struct flush_stats *st,
    struct sx_err *e)
{
	struct flush_pace own = {NULL, 0};
	struct flush_order *ord = NULL;
	struct queue_entry *v;
	struct flush_run run;
	size_t n, k, i;
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
	if ((ord = flush_order(v, n)) == NULL) {
		free(v);
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	}
	memset(&run, 0, sizeof(run));
	run.dc = dc;
	run.o = o;
	run.t = t;
	run.ops = ops;
	run.st = st;
	run.pace = o->pace != NULL ? o->pace : &own;
	for (k = 0; k < n && !run.stop && !sigflag_caught(); k++) {
		i = ord[k].i;
		if (o->only_id != NULL && strcmp(v[i].id, o->only_id) != 0)
			continue;
		found = 1;
		/* Another relay's messages: this one's session ends first. */
		if (k > 0 && ord[k].group != ord[k - 1].group)
			flush_group_end(&run);
		if (run.group_stop) {
			if (run.unreachable)
				st->untried++;
			continue;
		}
		if (o->max_msgs > 0 && run.tried >= o->max_msgs)
			break;
		if (o->deadline != 0 && run.tried > 0 && time(NULL) >= o->deadline)
			break;
		run.tried += (unsigned)flush_take(&run, v[i].id);
	}
	flush_group_end(&run);
	/* DSNs left over (their relay stopped): once more, each through its own relay. */
	flush_group_end(&run);
	free(run.dsn);
	free(ord);
	free(v);
	flush_pace_free(&own);
	if (o->only_id != NULL && !found)
		return sx_fail(
		    e, SX_USAGE, STAGE_QUEUE, "no message %s in %s", o->only_id, dc->dir);
	if (o->only_id != NULL && st->locked > 0)
		return sx_fail(e, SX_TEMP, STAGE_QUEUE,
		    "message %s is being delivered by another process", o->only_id);
	if (st->first.cls != SX_OK)
		return sx_adopt(e, &st->first, STAGE_QUEUE);
	return 0;
}
