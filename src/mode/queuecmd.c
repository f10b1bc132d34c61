/* queuecmd.c — -bp, -q / --flush-id, --queue-remove and the flush after a send (run.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/sigflag.h"
#include "mode/run.h"
#include "msg/qualify.h"
#include "store/flush.h"
#include "store/queue.h"

/* The transport of a queue run: each message with the account it was queued for. */
struct queue_jobs {
	struct run *r;
	struct deliver_session ds;
	struct account other; /* the current config's account of that name, when not the run's */
	int have_other;
	struct account rec; /* the relay recorded with the message */
	int have_rec;
	int automatic; /* the quick flush after a send: quiet unless -v */
};

/* The current configuration's account of this name, or NULL. */
static const struct account *
queue_config_account(struct queue_jobs *q, const char *name)
{
	struct run *r = q->r;
	struct conf_request req = r->req;
	struct sx_err ignored;

	if (r->acct.name != NULL && (name == NULL || strcmp(name, r->acct.name) == 0))
		return r->acct.host != NULL ? &r->acct : NULL;
	if (q->have_other && strcmp(q->other.name, name) == 0)
		return q->other.host != NULL ? &q->other : NULL;
	if (q->have_other)
		conf_account_free(&q->other);
	q->have_other = 0;
	req.account = name;
	req.relay_optional = 1;
	sx_clear(&ignored);
	if (conf_load(&req, &q->other, &ignored) == -1)
		return NULL;
	q->have_other = 1;
	return q->other.host != NULL ? &q->other : NULL;
}

static int
queue_same_relay(const struct account *a, const struct account *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	       (a->user == NULL) == (b->user == NULL) &&
	       (a->user == NULL || strcmp(a->user, b->user) == 0);
}

/*
 * The account to send m with: the current configuration's account of the
 * name it was queued with, so that a fixed host, port or password applies
 * (a first-time user's typo queues messages; fixing the config must get
 * them out), with a warning when it now names another relay.  When the
 * configuration has no such account (cron's empty environment, a
 * container's variables gone), the relay recorded with the message.
 */
/*
 * A message kept because a name had no domain (held: the caller was told
 * to fix the configuration) is qualified again with a's settings before
 * it goes; when they still give no domain it stays held, saying so.
 */
static int
queue_requalify(struct run *r, const struct account *a, struct queue_meta *m, struct sx_err *e)
{
	struct qualify_settings qs;
	size_t i;
	int lacks = m->from[0] != '\0' && strchr(m->from, '@') == NULL;

	for (i = 0; i < m->nrcpts && !lacks; i++)
		lacks = strchr(m->rcpts[i], '@') == NULL;
	if (!lacks)
		return 0;
	memset(&qs, 0, sizeof(qs));
	qs.aliases_file = a->aliases;
	qs.admin_address = a->admin_address;
	qs.default_domain = a->default_domain;
	qs.from = a->from;
	qs.user = a->user;
	qs.hostname = r->hostname;
	if (qualify_envelope(&qs, &m->from, &m->rcpts, &m->nrcpts, e) == -1)
		return -1;
	diag_stage(&r->diag, STAGE_QUEUE,
	    "message %s: qualified again: from <%s>, %zu recipient(s)", m->id, m->from, m->nrcpts);
	return 0;
}

static const struct account *
queue_job_account(void *arg, struct queue_meta *m, struct sx_err *e)
{
	struct queue_jobs *q = arg;
	struct run *r = q->r;
	const struct account *cur;
	struct sx_err re;

	diag_stage(&r->diag, STAGE_QUEUE, "message %s: %zu recipient(s), %llu bytes", m->id,
	    m->nrcpts, m->size);
	cur = queue_config_account(q, m->account);
	if (m->nrelay == 0) {
		/* Queued by a version that kept no record. */
		if (cur == NULL) {
			sx_fail(e, SX_CONFIG, STAGE_CONFIG,
			    "account %s is not in the configuration (or has no host)",
			    m->account != NULL ? m->account : "default");
			return NULL;
		}
		return queue_requalify(r, cur, m, e) == 0 ? cur : NULL;
	}
	if (q->have_rec)
		conf_account_free(&q->rec);
	sx_clear(&re);
	q->have_rec = conf_from_record(&q->rec, m->relay, m->nrelay, &re) == 0;
	if (cur != NULL) {
		if (q->have_rec && !queue_same_relay(cur, &q->rec)) {
			struct diag_field f[] = {
			    {"id", m->id, 0}, {"host", cur->host, 0}, {"port", NULL, cur->port}};

			diag_say(&r->diag, "relay_changed", STAGE_QUEUE, f, 3,
			    "%s: queued for %s port %u%s%s; account %s now says %s port %u%s%s: "
			    "sending it there",
			    m->id, q->rec.host, q->rec.port, q->rec.user != NULL ? " as " : "",
			    q->rec.user != NULL ? q->rec.user : "", cur->name, cur->host, cur->port,
			    cur->user != NULL ? " as " : "", cur->user != NULL ? cur->user : "");
		}
		return queue_requalify(r, cur, m, e) == 0 ? cur : NULL;
	}
	if (!q->have_rec) {
		sx_adopt(e, &re, STAGE_CONFIG);
		return NULL;
	}
	diag_stage(&r->diag, STAGE_QUEUE,
	    "message %s: account %s is not in the configuration: using the relay recorded "
	    "with the message (%s port %u)",
	    m->id, q->rec.name, q->rec.host, q->rec.port);
	return queue_requalify(r, &q->rec, m, e) == 0 ? &q->rec : NULL;
}

/*
 * A queued message's fields for its JSON events: its id, what became of
 * it, and the server's reply code when a reply was the cause.  f has room
 * for 4.
 */
static size_t
queue_fields(
    struct diag_field *f, const struct queue_meta *m, const char *state, const struct sx_err *err)
{
	size_t n = 0;

	f[n++] = (struct diag_field){"id", m->id, 0};
	f[n++] = (struct diag_field){"state", state, 0};
	if (err != NULL && err->reply_code != 0)
		f[n++] = (struct diag_field){"code", NULL, err->reply_code};
	if (err != NULL && err->enhanced[0] != '\0')
		f[n++] = (struct diag_field){"enhanced", err->enhanced, 0};
	return n;
}

static void
queue_report(void *arg, const struct queue_meta *m, enum flush_event ev,
    const struct deliver_result *res, const struct sx_err *err)
{
	struct queue_jobs *q = arg;
	struct run *r = q->r;
	struct diag_field f[4];
	const char *to = m->nrcpts > 0 ? m->rcpts[0] : "?";
	size_t n;

	(void)res;
	switch (ev) {
	case FLUSH_SENT:
		n = queue_fields(f, m, "sent", NULL);
		if (err != NULL)
			diag_say(&r->diag, "result", STAGE_QUEUE, f, n, "%s: sent, but %s", m->id,
			    err->detail);
		else
			diag_stage_event(
			    &r->diag, "result", STAGE_QUEUE, f, n, "message %s: sent", m->id);
		return;
	case FLUSH_BOUNCED:
		/* On success m is the notification, queued to the sender. */
		n = queue_fields(f, m, err != NULL ? "failed" : "queued", NULL);
		if (err != NULL) {
			diag_say(&r->diag, "dsn", STAGE_QUEUE, f, n,
			    "%s: no delivery status notification: %s", m->id, err->detail);
			return;
		}
		f[n++] = (struct diag_field){"to", to, 0};
		diag_say(&r->diag, "dsn", STAGE_QUEUE, f, n,
		    "%s: delivery status notification to <%s> queued", m->id, to);
		return;
	case FLUSH_REMOVED:
		n = queue_fields(f, m, "removed", NULL);
		diag_say(&r->diag, "result", STAGE_QUEUE, f, n,
		    "%s: removed: failed longer ago than queue_keep_failed (%s)", m->id,
		    m->err_text != NULL ? m->err_text : "?");
		return;
	case FLUSH_EXPIRED:
		n = queue_fields(f, m, "expired", NULL);
		diag_say(&r->diag, "result", STAGE_QUEUE, f, n,
		    "%s: expired (queued for longer than queue_max_age); kept: --flush-id %s "
		    "retries it, --queue-remove %s deletes it",
		    m->id, m->id, m->id);
		return;
	default:
		break;
	}
	if (q->automatic && r->opt.verbose == 0)
		return;
	n = queue_fields(f, m,
	    ev == FLUSH_FAILED     ? "failed"
	    : ev == FLUSH_DEFERRED ? "deferred"
				   : "unreadable",
	    err);
	diag_say(&r->diag, "result", err != NULL ? err->stage : STAGE_QUEUE, f, n, "%s: %s: %s: %s",
	    m->id,
	    ev == FLUSH_FAILED     ? "failed"
	    : ev == FLUSH_DEFERRED ? "deferred"
				   : "cannot be read",
	    err != NULL ? sx_stage_name(err->stage) : "?", err != NULL ? err->detail : "?");
}

int
run_queue_pass(struct run *r, const struct flush_opts *o, int automatic, struct flush_stats *st,
    struct sx_err *e)
{
	struct deliver_transport t = {deliver_session_transmit, NULL, NULL, NULL, NULL};
	struct flush_ops ops = {queue_job_account, queue_report, NULL};
	struct queue_jobs q;
	struct deliver_ctx dc;
	int rc;

	memset(&q, 0, sizeof(q));
	q.r = r;
	q.ds.hostname = r->hostname;
	q.ds.diag = &r->diag;
	q.automatic = automatic;
	t.arg = &q.ds;
	ops.arg = &q;
	dc.dir = r->spool_dir;
	dc.diag = &r->diag;
	dc.now = o->now;
	dc.hold = !r->acct.queue;
	rc = flush_queue(&dc, o, &t, &ops, st, e);
	if (st->whole > 0) {
		struct diag_field f = {"count", NULL, st->whole};

		diag_say(&r->diag, "recovered", STAGE_QUEUE, &f, 1,
		    "queue: %u message(s) whose sender died before queuing them were queued",
		    st->whole);
	}
	if (st->partial > 0)
		diag_stage(&r->diag, STAGE_QUEUE,
		    "%u partial message(s) removed (their sender died while reading them; it was "
		    "never told they were accepted)",
		    st->partial);
	if (q.have_other)
		conf_account_free(&q.other);
	if (q.have_rec)
		conf_account_free(&q.rec);
	if (st->locked > 0)
		diag_stage(&r->diag, STAGE_QUEUE,
		    "%u message(s) skipped: being delivered by another process", st->locked);
	return rc;
}

/* What every run over the queue takes from the account and the host. */
static void
queue_opts_init(const struct run *r, struct flush_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->now = time(NULL);
	o->max_age = r->acct.queue_max_age;
	o->keep_failed = r->acct.queue_keep_failed;
	o->hostname = r->hostname;
}

int
mode_flush(struct run *r, int automatic)
{
	struct flush_opts o;
	struct flush_stats st;
	struct sx_err e;
	int rc, tell;

	queue_opts_init(r, &o);
	o.respect_backoff = automatic;
	o.stop_on_tempfail = automatic;
	o.stop_on_unreachable = r->opt.queue_id == NULL;
	/* After a send: a few messages, a few seconds; the caller is waiting. */
	o.max_msgs = automatic ? RUN_AUTOFLUSH_MSGS : 0;
	o.deadline = automatic ? o.now + RUN_AUTOFLUSH_SECONDS : 0;
	o.only_id = automatic ? NULL : r->opt.queue_id;
	sigflag_install();
	sx_clear(&e);
	rc = run_queue_pass(r, &o, automatic, &st, &e);
	if (automatic)
		return 0;
	if (rc == -1)
		sx_adopt(&r->err, &e, STAGE_QUEUE);
	/*
	 * The summary stands for the failure report when some messages were
	 * tried; JSON has one after every -q, so a reader needs no special case.
	 */
	tell = rc == -1 && st.sent + st.deferred + st.failed + st.bad > 0 && o.only_id == NULL;
	if (tell || (r->diag.json && o.only_id == NULL)) {
		struct diag_field f[] = {{"sent", NULL, st.sent}, {"deferred", NULL, st.deferred},
		    {"failed", NULL, st.failed}, {"unreadable", NULL, st.bad},
		    {"interrupted", NULL, sigflag_caught() != 0}};

		diag_say(&r->diag, "summary", STAGE_QUEUE, f, 5,
		    "queue: %u sent, %u deferred, %u failed%s", st.sent, st.deferred, st.failed,
		    sigflag_caught() ? " (interrupted by a signal)" : "");
	}
	if (tell)
		r->reported = 1;
	return rc;
}

/* One pass of the queue runner (runner.c): the messages due, the next due time. */
static int
queue_runner_pass(struct run *r, long interval, time_t *next)
{
	struct flush_opts o;
	struct flush_stats st;
	struct sx_err e;
	int rc;

	queue_opts_init(r, &o);
	o.respect_backoff = 1;
	o.max_backoff = interval;
	o.stop_on_unreachable = 1;
	o.finish_in_flight = 1;
	sx_clear(&e);
	rc = run_queue_pass(r, &o, 0, &st, &e);
	if (rc == -1 && st.sent + st.deferred + st.failed + st.bad == 0 && e.cls != SX_OK)
		diag_say(&r->diag, "runner_error", e.stage, NULL, 0, "queue runner: %s: %s",
		    sx_stage_name(e.stage), e.detail);
	*next = st.next_due;
	return rc;
}

int
mode_queue(struct run *r)
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
		if (r->opt.queue_interval != NULL && r->opt.queue_interval[0] != '\0') {
			long iv = runner_interval(r->opt.queue_interval);

			if (iv <= 0)
				return sx_fail(&r->err, SX_USAGE, STAGE_ARGS,
				    "-q%s: not an interval (e.g. -q30m, -q1h, -q90s)",
				    r->opt.queue_interval);
			return mode_runner(r, iv, queue_runner_pass);
		}
		return mode_flush(r, 0);
	default:
		return queue_remove(r->spool_dir, r->opt.queue_id, &r->err);
	}
}
