/*
 * queue_meta.h — the envelope file beside each queued message:
 * DIR/<id>.meta, a small text file (one "key value" per line, values
 * %-escaped) with the envelope, the account, the attempts and the last
 * error, rewritten atomically (tmp + fsync + rename, mode 0600) on every
 * change by whoever holds the message's lock.  A file without its final
 * "end" line was cut short and is refused.  Unknown keys (a newer
 * version's) are ignored.
 *
 * Library code: nothing here prints; errors are SX_LOCALIO / STAGE_QUEUE
 * naming the file (SX_INTERNAL on memory exhaustion).
 */
#ifndef SX_QUEUE_META_H
#define SX_QUEUE_META_H

#include <stddef.h>
#include <time.h>

#include "core/err.h"

#define QUEUE_ID_LEN 32 /* hex digits of a message id (spool.c) */

/*
 * deferred: temporary failure, or not tried yet: retried automatically.
 * failed: refused for what it is (sx_about_message): retried only when
 * named with --flush-id.  expired: deferred for longer than queue_max_age.
 * held: not sent with "queue off": the caller was told it failed, so it
 * is never sent unless named with --flush-id.
 */
enum queue_state { QUEUE_DEFERRED = 0, QUEUE_FAILED, QUEUE_EXPIRED, QUEUE_HELD, QUEUE_STATE_LAST };

struct queue_meta {
	char id[QUEUE_ID_LEN + 1];
	enum queue_state state;
	char *account; /* account name, or NULL */
	char *from;    /* "" for the null sender */
	char **rcpts;
	size_t nrcpts;
	unsigned long long size; /* SIZE= (CRLF endings) */
	int body_8bit;
	int needs_smtputf8;
	/*
	 * The relay it was accepted for, as conf_record's pairs (key, value,
	 * key, value…; nrelay pairs): -q can send it with no config at all.
	 */
	char **relay;
	size_t nrelay;
	char *dsn_notify; /* -N, -R, -V of the original command, or NULL */
	char *dsn_ret;
	char *dsn_envid;
	time_t created;       /* queued */
	time_t first_attempt; /* 0: never tried (-odq) */
	time_t last_attempt;
	unsigned attempts;
	/* Last error; err_class SX_OK when none. */
	enum sx_class err_class;
	enum sx_stage err_stage;
	int err_exit;       /* the exit status that attempt gave */
	int err_code;       /* server reply code, 0 if none */
	char *err_text;     /* "detail" or "detail; server said: reply", one line */
	char *err_enhanced; /* the reply's enhanced status code ("5.1.1"), or NULL */
	/* The DSN queued about this message (its id), so a later run never sends a second. */
	char *dsn;
};

/* Add one pair to m's relay record (copied).  0, or -1 when out of memory. */
int queue_meta_add_relay(struct queue_meta *, const char *key, const char *value);

/* Valid message id (32 lower-case hex digits)? */
int queue_id_valid(const char *);

/* DIR/<id><suffix> into buf.  0, or -1 when it does not fit. */
int queue_path(char *buf, size_t bufsz, const char *dir, const char *id, const char *suffix);

/* Read DIR/<id>.meta.  0, or -1 (missing: sys_errno ENOENT; garbage, truncated). */
int queue_meta_read(const char *dir, const char *id, struct queue_meta *, struct sx_err *);

/* Write DIR/<id>.meta atomically (caller holds the lock).  0, or -1. */
int queue_meta_write(const char *dir, const struct queue_meta *, struct sx_err *);

/* Parse / format a metadata file's text (exposed for the unit tests and the fuzzer). */
int queue_meta_parse(const char *text, size_t len, struct queue_meta *, struct sx_err *);
char *queue_meta_format(const struct queue_meta *);

void queue_meta_free(struct queue_meta *);

/*
 * Record the outcome of a failed attempt at time now: attempts, times, the
 * error (sanitised, one line) and the state: failed when the failure is
 * about the message (sx_about_message), else held when hold ("queue
 * off"), else deferred.  0, or -1 when out of memory.
 */
int queue_meta_fail(struct queue_meta *, const struct sx_err *, time_t now, int hold);

const char *queue_state_name(enum queue_state);

#endif
