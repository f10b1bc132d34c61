/*
 * deliver.h — one delivery attempt of one queued message, the same code
 * for a send, a queue run and -bs: the attempt's metadata, the relay
 * session (through a transport), the log line, and the outcome — removed
 * once the relay accepted it, else recorded with the one classification
 * (sx_about_message) as deferred or failed.
 *
 * The caller holds the message's lock (queue.h) and reports the outcome;
 * nothing here prints.
 */
#ifndef SX_DELIVER_H
#define SX_DELIVER_H

#include <stdint.h>
#include <time.h>

#include "config/conf.h"
#include "core/err.h"
#include "net/relay.h"
#include "smtp/smtp.h"
#include "store/queue_meta.h"

struct diag;

/*
 * One message handed to a session kept across messages (a queue run):
 * what deliver_begin prepared from its metadata, what the session made of
 * it (sj: result, error, rc), for deliver_end.
 */
struct deliver_job {
	struct queue_meta *m; /* the caller's, until deliver_end */
	int body_fd;
	const struct account *a;
	struct smtp_message msg;
	struct smtp_job sj;
	int64_t t0;
	void *arg; /* the caller's */
	struct deliver_job *next;
};

/*
 * How a message reaches the relay: transmit sends one from start to end
 * (0 when the relay accepted it, res->final; else -1 with e).  A queue
 * run may instead keep a session across messages: send hands a message
 * over (0; its outcome comes back through collect, finished, in the
 * order they finish; wait: until one does, NULL when none is in flight),
 * end closes the session (collect what is left after it).  Without send,
 * transmit is used for each.
 */
struct deliver_transport {
	int (*transmit)(void *arg, const struct account *, const struct queue_meta *m,
	    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e);
	void *arg;
	int (*send)(void *arg, struct deliver_job *);
	struct deliver_job *(*collect)(void *arg, int wait);
	void (*end)(void *arg);
};

/*
 * The usual transport: a relay session of the message's own (send), or one
 * kept for the messages of a queue run that go to the same relay (host,
 * port, TLS and its checks, user: deliver_relay_key).  Fill hostname and
 * diag; rl may hold relay_start's early connect.  Each message's DSN
 * options (-N, -R, -V) go with it.  A kept session ends with QUIT when the
 * relay changes, after max_msgs messages (the account's
 * max_messages_per_session; 0: no limit), or at deliver_session_end; the
 * secret is wiped (relay_free) by deliver_session_free, or after a
 * transmit.
 */
struct deliver_session {
	struct relay rl;
	const char *hostname; /* EHLO name when the account sets none */
	struct diag *diag;
	/* Kept across messages (deliver_session_send): */
	struct smtp_batch *b;
	struct smtp_result setup;
	char key[1024]; /* the relay of b, or of the secret still held */
	unsigned nsent; /* messages sent in b */
	unsigned nsessions;
	struct deliver_job *done, **done_tail; /* finished without b (could not be sent) */
};
int deliver_session_transmit(void *arg, const struct account *, const struct queue_meta *,
    const struct smtp_message *, struct smtp_result *, struct sx_err *);
int deliver_session_send(void *arg, struct deliver_job *);
struct deliver_job *deliver_session_collect(void *arg, int wait);
void deliver_session_end(void *arg);
void deliver_session_free(struct deliver_session *);

/* What identifies a relay for keeping its session: into buf (at least 1024). */
void deliver_relay_key(const struct account *, char *buf, size_t bufsz);

/*
 * A reply that says the relay will take no more now — 421 (closing), or
 * a 4.7.x that says too many messages, connections or too much mail (RFC
 * 3463 4.7.x: security or policy): the batch ends there and the rest wait
 * (they are not the messages' fault).
 */
int deliver_is_limit(const struct sx_err *);

enum deliver_outcome {
	DELIVER_SENT = 0, /* accepted by the relay: the files are gone */
	DELIVER_DEFERRED, /* not the message's fault: kept for automatic retry */
	DELIVER_FAILED,   /* refused for what it is: kept, never retried automatically */
	DELIVER_HELD      /* not sent with queue off: kept, never retried automatically */
};

struct deliver_result {
	enum deliver_outcome outcome;
	struct sx_err err;       /* why, unless sent */
	struct smtp_reply final; /* the relay's reply to the end of data, when sent */
	struct sx_err cleanup;   /* sent, but the files could not be removed; or the
					metadata could not be written */
	long duration_ms;
	/*
	 * Not sent, yet delivered to ndelivered of its nrcpts recipients (a
	 * later transaction failed): the metadata keeps only the others.
	 */
	size_t ndelivered, nrcpts;
};

struct deliver_ctx {
	const char *dir; /* the queue directory */
	struct diag *diag;
	time_t now;
	int hold;   /* queue off: what is not sent is held, not deferred */
	int marked; /* the caller already wrote the attempt's metadata (deliver_mark) */
};

/*
 * Write m's metadata as if an attempt starting now had already failed
 * ("did not finish"), so a process killed mid-send leaves an envelope
 * that -q retries, with the attempt counted; m keeps its counters for the
 * real outcome.  deliver_attempt does it first unless dc->marked.  0 or -1.
 */
int deliver_mark(const struct deliver_ctx *, const struct queue_meta *m, struct sx_err *);

/*
 * The metadata of several messages, as deliver_mark, with one flush to
 * disk for them all (a queue run marks a window of messages at once).  0,
 * or -1 when they could not be written (then none is marked).
 */
int deliver_mark_many(
    const struct deliver_ctx *, struct queue_meta *const *m, size_t n, struct sx_err *);

/*
 * One attempt of the message m (body_fd: its locked spool) with account a
 * (its relay and log settings).  Before
 * anything goes out the metadata records an attempt that did not finish,
 * so a process killed mid-send leaves an envelope that -q retries.
 * Returns 0 when sent, -1 otherwise; r says what became of it.  When the
 * relay took it for some recipients before failing (res->rcpt[].delivered),
 * m and its metadata keep only the others, so that no retry sends anyone
 * a second copy.
 */
int deliver_attempt(const struct deliver_ctx *, struct queue_meta *m, int body_fd,
    const struct account *a, const struct deliver_transport *, struct deliver_result *r);

/*
 * deliver_attempt in two halves, for a session kept across messages:
 * deliver_begin marks m (unless dc->marked) and prepares j (-1 when the
 * attempt is already over: r says so); deliver_end takes what the session
 * made of j (j->sj) and does the rest: the log line, and the message
 * removed or recorded as deferred or failed.  Returns as deliver_attempt.
 */
int deliver_begin(const struct deliver_ctx *, struct queue_meta *m, int body_fd,
    const struct account *a, struct deliver_job *j, struct deliver_result *r);
int deliver_end(const struct deliver_ctx *, struct deliver_job *j, struct deliver_result *r);

/*
 * Record a failure that happened before any attempt (a message refused at
 * intake but kept): the metadata as deferred or failed.  0 or -1 (r->cleanup).
 */
int deliver_record_failure(const struct deliver_ctx *, struct queue_meta *m,
    const struct sx_err *cause, struct deliver_result *r);

/* The outcome as one line for stderr: "queued as ID …", "failed: …" (buf). */
const char *deliver_describe(
    const struct deliver_result *, const struct queue_meta *, char *buf, size_t bufsz);

#endif
