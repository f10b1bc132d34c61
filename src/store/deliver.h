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

#include <time.h>

#include "config/conf.h"
#include "core/err.h"
#include "net/relay.h"
#include "smtp/smtp.h"
#include "store/queue_meta.h"

struct diag;

/* How a message reaches the relay. */
struct deliver_transport {
	/* Send msg: 0 when the relay accepted it (res->final), else -1 with e. */
	int (*transmit)(void *arg, const struct account *, const struct queue_meta *m,
	    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e);
	void *arg;
};

/*
 * The usual transport: a relay session of the message's own (send, -q).
 * Fill hostname and diag; rl may hold relay_start's early connect.  The
 * message's DSN options (-N, -R, -V) go with it.  After the attempt the
 * session is closed and the secret wiped (relay_free).
 */
struct deliver_session {
	struct relay rl;
	const char *hostname; /* EHLO name when the account sets none */
	struct diag *diag;
};
int deliver_session_transmit(void *arg, const struct account *, const struct queue_meta *,
    const struct smtp_message *, struct smtp_result *, struct sx_err *);

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
 * Record a failure that happened before any attempt (a message refused at
 * intake but kept): the metadata as deferred or failed.  0 or -1 (r->cleanup).
 */
int deliver_record_failure(const struct deliver_ctx *, struct queue_meta *m,
    const struct sx_err *cause, struct deliver_result *r);

/* The outcome as one line for stderr: "queued as ID …", "failed: …" (buf). */
const char *deliver_describe(
    const struct deliver_result *, const struct queue_meta *, char *buf, size_t bufsz);

#endif
