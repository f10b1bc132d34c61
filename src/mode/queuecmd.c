/* queuecmd.c — -bp, -q / --flush-id, --queue-remove and the flush after a send (run.h). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sigflag.h"
#include "mode/run.h"
#include "msg/qualify.h"
#include "store/flush.h"
#include "store/queue.h"

/*
 * The accounts of a queue run, one per account name and relay record
 * (the messages of one group share it): loaded once, and kept until the
 * run ends, for the messages in flight hold pointers to them.
 */
struct queue_acct {
	char *name;         /* the account name queued with ("" for none) */
	uint64_t rec;       /* hash of the relay record queued with */
	struct account own; /* loaded for it: the config's account of that name, or the record */
	int have_own;       /* own holds an account to free */
	const struct account *a; /* what its messages go with (NULL: err) */
	struct sx_err err;
	struct queue_acct *next;
};

/* The transport of a queue run: each message with the account it was queued for. */
struct queue_jobs {
	struct run *r;
	struct deliver_session ds;
	struct queue_acct *accts;
	int automatic; /* the quick flush after a send: quiet unless -v */
};

static int
queue_same_relay(const struct account *a, const struct account *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	       (a->user == NULL) == (b->user == NULL) &&
	       (a->user == NULL || strcmp(a->user, b->user) == 0);
}

static uint64_t
queue_record_hash(const struct queue_meta *m)
{
	uint64_t h = 14695981039346656037ULL;
	const char *p;
	size_t i;

	for (i = 0; i < 2 * m->nrelay; i++) {
		for (p = m->relay[i]; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

static void
queue_accts_free(struct queue_jobs *q)
{
	struct queue_acct *x;

	while ((x = q->accts) != NULL) {
		q->accts = x->next;
		if (x->have_own)
			conf_account_free(&x->own);
		free(x->name);
		free(x);
	}
}

/*
 * The account to send m with: the current configuration's account of the
 * name it was queued with, so that a fixed host, port or password applies
 * (a first-time user's typo queues messages; fixing the config must get
 * them out), with a warning when it now names another relay.  When the
 * configuration has no such account (cron's empty environment, a
 * container's variables gone), the relay recorded with the message.
 * Decided once per account and record (x), said once.
 */
static void
queue_acct_load(struct queue_jobs *q, struct queue_acct *x, const struct queue_meta *m)
{
	struct run *r = q->r;
	struct conf_request req = r->req;
	struct account cur, rec;
	const struct account *c = NULL;
	struct sx_err ignored, re;
	int have_cur = 0, have_rec = 0;

	sx_clear(&ignored);
	sx_clear(&re);
	memset(&cur, 0, sizeof(cur));
	memset(&rec, 0, sizeof(rec));
	if (r->acct.name != NULL && (m->account == NULL || strcmp(m->account, r->acct.name) == 0)) {
		c = r->acct.host != NULL ? &r->acct : NULL;
	} else {
		req.account = m->account;
		req.relay_optional = 1;
		if (conf_load(&req, &cur, &ignored) == 0) {
			have_cur = 1;
			c = cur.host != NULL ? &cur : NULL;
		}
	}
	if (m->nrelay == 0) {
		/* Queued by a version that kept no record. */
		if (c == NULL)
			sx_fail(&x->err, SX_CONFIG, STAGE_CONFIG,
			    "account %s is not in the configuration (or has no host)",
			    m->account != NULL ? m->account : "default");
		goto out;
	}
	have_rec = conf_from_record(&rec, m->relay, m->nrelay, &re) == 0;
	if (c != NULL) {
		if (have_rec && !queue_same_relay(c, &rec)) {
			struct diag_field f[] = {
			    {"id", m->id, 0}, {"host", c->host, 0}, {"port", NULL, c->port}};

			diag_say(&r->diag, "relay_changed", STAGE_QUEUE, f, 3,
			    "%s: queued for %s port %u%s%s; account %s now says %s port %u%s%s: "
			    "sending it there (and every message queued with it)",
			    m->id, rec.host, rec.port, rec.user != NULL ? " as " : "",
			    rec.user != NULL ? rec.user : "", c->name, c->host, c->port,
			    c->user != NULL ? " as " : "", c->user != NULL ? c->user : "");
		}
		goto out;
	}
	if (!have_rec) {
		sx_adopt(&x->err, &re, STAGE_CONFIG);
		goto out;
	}
	diag_stage(&r->diag, STAGE_QUEUE,
	    "message %s: account %s is not in the configuration: using the relay recorded "
	    "with the message (%s port %u)",
	    m->id, rec.name, rec.host, rec.port);
out:
	if (c == &cur) {
		x->own = cur;
		x->have_own = 1;
		x->a = &x->own;
		have_cur = 0;
	} else if (c != NULL) {
		x->a = c;
	} else if (have_rec && x->err.cls == SX_OK) {
		x->own = rec;
		x->have_own = 1;
		x->a = &x->own;
		have_rec = 0;
	}
	if (have_cur)
		conf_account_free(&cur);
	if (have_rec)
		conf_account_free(&rec);
}

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
	const char *name = m->account != NULL ? m->account : "";
	uint64_t rec = queue_record_hash(m);
	struct queue_acct *x;

	diag_stage(&r->diag, STAGE_QUEUE, "message %s: %zu recipient(s), %llu bytes", m->id,
	    m->nrcpts, m->size);
	for (x = q->accts; x != NULL; x = x->next)
		if (x->rec == rec && strcmp(x->name, name) == 0)
			break;
	if (x == NULL) {
		if ((x = calloc(1, sizeof(*x))) == NULL || (x->name = strdup(name)) == NULL) {
			free(x);
			sx_fail(e, SX_INTERNAL, STAGE_CONFIG, "out of memory");
			return NULL;
		}
		x->rec = rec;
		sx_clear(&x->err);
		queue_acct_load(q, x, m);
		x->next = q->accts;
		q->accts = x;
	}
	if (x->a == NULL) {
		sx_adopt(e, &x->err, STAGE_CONFIG);
		return NULL;
	}
	return queue_requalify(r, x->a, m, e) == 0 ? x->a : NULL;
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
	struct deliver_transport t = {deliver_session_transmit, NULL, deliver_session_send,
	    deliver_session_collect, deliver_session_end};
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
	dc.marked = 0;
	rc = flush_queue(&dc, o, &t, &ops, st, e);
	deliver_session_free(&q.ds);
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
	queue_accts_free(&q);
	if (st->locked > 0)
		diag_stage(&r->diag, STAGE_QUEUE,
		    "%u message(s) skipped: being delivered by another process", st->locked);
	if (st->limited > 0 || st->skipped > 0) {
		struct diag_field f[] = {
		    {"relays", NULL, st->limited}, {"waiting", NULL, st->skipped}};

		if (st->limited > 0)
			diag_say(&r->diag, "relay_limit", STAGE_QUEUE, f, 2,
			    "queue: %u relay(s) said they take no more for now; %u message(s) not "
			    "tried, kept for later",
			    st->limited, st->skipped);
		else
			diag_say(&r->diag, "relay_limit", STAGE_QUEUE, f, 2,
			    "queue: %u message(s) not tried, kept for later (their relay ended "
			    "the session, or is held off)",
			    st->skipped);
	}
	if (q.ds.nsessions > 0)
		diag_stage(&r->diag, STAGE_QUEUE, "%u session(s) to the relay(s)", q.ds.nsessions);
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
		    {"interrupted", NULL, sigflag_caught() != 0}, {"untried", NULL, st.untried}};
		char untried[96] = "";

		/* Each would have waited out the same connect time-out: still queued. */
		if (st.untried > 0)
			snprintf(untried, sizeof(untried),
			    ", %u not tried (the relay could not be reached; still queued)",
			    st.untried);
		diag_say(&r->diag, "summary", STAGE_QUEUE, f, 6,
		    "queue: %u sent, %u deferred, %u failed%s%s", st.sent, st.deferred, st.failed,
		    untried, sigflag_caught() ? " (interrupted by a signal)" : "");
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

	/* Rates and provider back-offs hold across the runner's passes. */
	static struct flush_pace pace;

	queue_opts_init(r, &o);
	o.respect_backoff = 1;
	o.max_backoff = interval;
	o.stop_on_unreachable = 1;
	o.finish_in_flight = 1;
	o.pace = &pace;
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
		    0) {
			/* The reader stopped (-bp | head): nothing failed that it cares about. */
			if (r->err.sys_errno == EPIPE && r->err.stage == STAGE_QUEUE) {
				sx_clear(&r->err);
				return 0;
			}
			return -1;
		}
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
