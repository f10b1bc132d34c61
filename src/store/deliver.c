/* deliver.c — one delivery attempt, for every mode (see deliver.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fsutil.h"
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

void
deliver_relay_key(const struct account *a, char *buf, size_t sz)
{
	/*
	 * Everything that makes two accounts' sessions differ: where, how TLS
	 * is checked (a pin must not ride on a session checked otherwise), who
	 * logs in, and what the session allows.
	 */
	snprintf(buf, sz, "%s|%u|%d|%d|%s|%s|%s|%s|%s|%d|%s|%d|%d|%s|%d",
	    a->host != NULL ? a->host : "", a->port, (int)a->tls, a->tls_certcheck,
	    a->tls_trust_file != NULL ? a->tls_trust_file : "",
	    a->tls_fingerprint != NULL ? a->tls_fingerprint : "",
	    a->tls_cert_file != NULL ? a->tls_cert_file : "",
	    a->tls_priorities != NULL ? a->tls_priorities : "", a->user != NULL ? a->user : "",
	    (int)a->auth, a->domain != NULL ? a->domain : "", a->allow_partial, a->allow_8bit,
	    a->oauth2_token_file != NULL ? a->oauth2_token_file : "", a->auth_cleartext);
}

int
deliver_is_limit(const struct sx_err *e)
{
	static const char *const words[] = {
	    "too many", "too much", "limit", "exceed", "throttl", "slow down", "quota"};
	size_t i;

	if (e->reply_code == 421 || smtp_quota_refusal(e->reply_code, e->enhanced, e->reply))
		return 1;
	/* Policy (4.7.x), or Microsoft 365's "4.3.2 ... sender thread limit exceeded". */
	if (e->reply_code < 400 || e->reply_code > 499 ||
	    (strncmp(e->enhanced, "4.7.", 4) != 0 && strcmp(e->enhanced, "4.3.2") != 0))
		return 0;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(e->reply, words[i]) != NULL)
			return 1;
	return 0;
}

/* The finished messages the session did not take: collected first. */
static void
deliver_session_finished(struct deliver_session *ds, struct deliver_job *j)
{
	j->sj.rc = -1;
	j->next = NULL;
	if (ds->done_tail == NULL)
		ds->done_tail = &ds->done;
	*ds->done_tail = j;
	ds->done_tail = &j->next;
}

/* End the kept session: QUIT after what is in flight, which is collected into ds->done. */
static void
deliver_session_close(struct deliver_session *ds)
{
	struct smtp_job *sj;

	if (ds->b == NULL)
		return;
	smtp_batch_end(ds->b);
	while ((sj = smtp_batch_next(ds->b, 1)) != NULL) {
		struct deliver_job *j = sj->arg;

		j->next = NULL;
		if (ds->done_tail == NULL)
			ds->done_tail = &ds->done;
		*ds->done_tail = j;
		ds->done_tail = &j->next;
	}
	smtp_batch_close(ds->b);
	ds->b = NULL;
	smtp_result_free(&ds->setup);
	relay_disconnect(&ds->rl);
}

/* A session to j's relay: the one kept open, else a new one.  0, or -1 (e). */
static int
deliver_session_open(struct deliver_session *ds, const struct deliver_job *j, struct sx_err *e)
{
	char key[sizeof(ds->key)];
	struct relay_opts ro;

	deliver_relay_key(j->a, key, sizeof(key));
	/* Ended by the relay (421, lost): not reopened here; the queue run decides. */
	if (ds->b != NULL && strcmp(key, ds->key) == 0 && !smtp_batch_usable(ds->b))
		return sx_fail(e, SX_TEMP, STAGE_MAIL,
		    "the relay ended the session before this message was sent (a 421, or the "
		    "connection was lost)");
	/* Ended by us: another relay, or max_messages_per_session. */
	if (ds->b != NULL &&
	    (strcmp(key, ds->key) != 0 || (j->a->max_messages_per_session > 0 &&
					      ds->nsent >= j->a->max_messages_per_session)))
		deliver_session_close(ds);
	if (ds->b != NULL)
		return 0;
	/* Another relay: the secret read for the one before is not its. */
	if (strcmp(key, ds->key) != 0)
		relay_free(&ds->rl);
	strlcpy(ds->key, key, sizeof(ds->key));
	memset(&ro, 0, sizeof(ro));
	ro.hostname = ds->hostname;
	if (relay_connect(&ds->rl, j->a, &ro, ds->diag, e) == -1)
		return -1;
	if ((ds->b = smtp_batch_open(&ds->rl.c, &ds->rl.sp, &ds->setup, e)) == NULL) {
		relay_disconnect(&ds->rl);
		smtp_result_free(&ds->setup);
		return -1;
	}
	ds->nsent = 0;
	ds->nsessions++;
	return 0;
}

int
deliver_session_send(void *arg, struct deliver_job *j)
{
	struct deliver_session *ds = arg;

	memset(&j->sj.res, 0, sizeof(j->sj.res));
	sx_clear(&j->sj.err);
	j->sj.m = &j->msg;
	j->sj.dsn_notify = j->m->dsn_notify;
	j->sj.dsn_ret = j->m->dsn_ret;
	j->sj.dsn_envid = j->m->dsn_envid;
	j->sj.arg = j;
	if (deliver_session_open(ds, j, &j->sj.err) == -1 || smtp_batch_send(ds->b, &j->sj) == -1) {
		deliver_session_finished(ds, j);
		return 0;
	}
	ds->nsent++;
	return 0;
}

struct deliver_job *
deliver_session_collect(void *arg, int wait)
{
	struct deliver_session *ds = arg;
	struct deliver_job *j;
	struct smtp_job *sj;

	if ((j = ds->done) != NULL) {
		if ((ds->done = j->next) == NULL)
			ds->done_tail = &ds->done;
		j->next = NULL;
		return j;
	}
	if (ds->b == NULL || (sj = smtp_batch_next(ds->b, wait)) == NULL)
		return NULL;
	return sj->arg;
}

void
deliver_session_end(void *arg)
{
	deliver_session_close(arg);
}

void
deliver_session_free(struct deliver_session *ds)
{
	deliver_session_close(ds);
	relay_free(&ds->rl);
	ds->key[0] = '\0';
}

/*
 * The envelope as it stands during an attempt: counted, and with the
 * error a kill would leave (busy's strings stay m's; text is static).
 */
static struct queue_meta
deliver_busy(const struct deliver_ctx *dc, const struct queue_meta *m)
{
	static char text[] = "the attempt did not finish (the sending process was killed?)";
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
	busy.err_enhanced = NULL;
	return busy;
}

int
deliver_mark(const struct deliver_ctx *dc, const struct queue_meta *m, struct sx_err *e)
{
	struct queue_meta busy = deliver_busy(dc, m);

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
deliver_mark_many(
    const struct deliver_ctx *dc, struct queue_meta *const *m, size_t n, struct sx_err *e)
{
	char path[4200], tmp[4300];
	struct queue_meta busy;
	size_t i, done = 0;
	int fd, rc = -1;
	char *t;

	if (n == 1)
		return deliver_mark(dc, m[0], e);
	/*
	 * Each new envelope is written beside the old one, the lot flushed to
	 * disk once, then each renamed over its old one: a crash leaves the
	 * old envelope or the new one, never a torn one, and n messages cost
	 * one flush instead of n.  (The renames themselves need no flush: a
	 * lost mark only leaves the envelope as it was.)
	 */
	for (i = 0; i < n; i++) {
		busy = deliver_busy(dc, m[i]);
		if (queue_path(path, sizeof(path), dc->dir, m[i]->id, ".meta") == -1 ||
		    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
			(int)sizeof(tmp)) {
			sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
			goto out;
		}
		if ((t = queue_meta_format(&busy)) == NULL) {
			sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
			goto out;
		}
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1 || write(fd, t, strlen(t)) != (ssize_t)strlen(t) ||
		    fchmod(fd, 0600) == -1) {
			fs_syserr(e, STAGE_QUEUE, errno, "cannot write", tmp);
			if (fd != -1)
				close(fd);
			free(t);
			done = i + 1;
			goto out;
		}
		free(t);
		/* The last descriptor flushes the whole file system once. */
		if (i == n - 1 && syncfs(fd) == -1) {
			fs_syserr(e, STAGE_QUEUE, errno, "cannot sync", tmp);
			close(fd);
			done = n;
			goto out;
		}
		if (close(fd) == -1) {
			fs_syserr(e, STAGE_QUEUE, errno, "cannot write", tmp);
			done = i + 1;
			goto out;
		}
		done = i + 1;
	}
	for (i = 0; i < n; i++) {
		queue_path(path, sizeof(path), dc->dir, m[i]->id, ".meta");
		snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
		if (rename(tmp, path) == -1) {
			fs_syserr(e, STAGE_QUEUE, errno, "cannot rename", tmp);
			done = n;
			goto out;
		}
	}
	return 0;
out:
	for (i = 0; i < done; i++) {
		queue_path(path, sizeof(path), dc->dir, m[i]->id, ".meta");
		snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
		unlink(tmp);
	}
	return rc;
}

int
deliver_begin(const struct deliver_ctx *dc, struct queue_meta *m, int body_fd,
    const struct account *a, struct deliver_job *j, struct deliver_result *r)
{
	struct sx_err e;

	memset(r, 0, sizeof(r[0]));
	memset(&j->sj, 0, sizeof(j->sj));
	j->m = m;
	j->body_fd = body_fd;
	j->a = a;
	sx_clear(&e);
	if (!dc->marked && deliver_mark(dc, m, &e) == -1) {
		deliver_record_failure(dc, m, &e, r);
		return -1;
	}
	memset(&j->msg, 0, sizeof(j->msg));
	j->msg.from = m->from;
	j->msg.rcpts = m->rcpts;
	j->msg.nrcpts = m->nrcpts;
	j->msg.body_8bit = m->body_8bit;
	j->msg.needs_smtputf8 = m->needs_smtputf8;
	j->msg.size = m->size;
	j->msg.body_fd = body_fd;
	/* The body is read from the start, whoever read the spool before. */
	lseek(body_fd, 0, SEEK_SET);
	j->t0 = clock_now_ms();
	return 0;
}

int
deliver_end(const struct deliver_ctx *dc, struct deliver_job *j, struct deliver_result *r)
{
	struct queue_meta *m = j->m;
	struct smtp_result *res = &j->sj.res;
	struct sx_err e = j->sj.err;
	char kept[4200];
	int rc = j->sj.rc;

	memset(r, 0, sizeof(r[0]));
	r->duration_ms = (long)(clock_now_ms() - j->t0);
	r->nrcpts = m->nrcpts;
	if (res->rcpt != NULL)
		r->ndelivered = res->ndelivered;
	/* Every recipient has it: whatever failed after that, it was sent. */
	if (rc != 0 && r->ndelivered > 0 && r->ndelivered == m->nrcpts)
		rc = 0;
	if (rc != 0 && e.cls == SX_OK)
		sx_fail(&e, SX_INTERNAL, STAGE_NONE, "delivery failed without a reason");
	if (rc != 0 && r->ndelivered > 0)
		deliver_note_partial(&e, r->ndelivered, m->nrcpts);
	if (queue_path(kept, sizeof(kept), dc->dir, m->id, ".msg") == -1)
		kept[0] = '\0';
	deliver_log(dc, j->a, m, res, rc == 0 ? NULL : &e, r->duration_ms, kept);
	if (rc == 0) {
		r->outcome = DELIVER_SENT;
		r->final = res->final;
		queue_remove_files(dc->dir, m->id, &r->cleanup);
	} else {
		if (r->ndelivered > 0)
			deliver_keep_undelivered(m, res);
		deliver_record_failure(dc, m, &e, r);
	}
	smtp_result_free(res);
	return rc == 0 ? 0 : -1;
}

int
deliver_attempt(const struct deliver_ctx *dc, struct queue_meta *m, int body_fd,
    const struct account *a, const struct deliver_transport *t, struct deliver_result *r)
{
	struct deliver_job j;

	memset(&j, 0, sizeof(j));
	if (deliver_begin(dc, m, body_fd, a, &j, r) == -1)
		return -1;
	sx_clear(&j.sj.err);
	j.sj.rc = t->transmit(t->arg, a, m, &j.msg, &j.sj.res, &j.sj.err);
	return deliver_end(dc, &j, r);
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
