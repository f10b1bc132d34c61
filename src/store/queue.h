/*
 * queue.h — the queue of messages the server has not accepted: no daemon,
 * just files.  Beside each spool file DIR/<id>.msg (spool.h) lives
 * DIR/<id>.meta, a small text file with the envelope, the account, the
 * attempts and the last error, rewritten atomically (tmp + fsync + rename,
 * mode 0600) on every change.
 *
 * Whoever delivers a message holds flock(LOCK_EX) on its .msg for the whole
 * attempt: the sender from intake to the end of its session, a flush per
 * message with LOCK_NB (a locked message is skipped).  So two flushes, or a
 * flush and a send, never deliver the same message twice.  A message is
 * removed (.msg, then .meta) only after the server accepted it.
 *
 * A .msg without a .meta has no known envelope (its sender died between
 * renaming the spool into place and writing the metadata, or is doing so
 * right now): it is listed as "incomplete" and never sent.  *.tmp files are
 * spool files whose intake did not finish: never listed, never sent.
 *
 * States: deferred (temporary failure, or not tried yet: retried by -q and
 * by the automatic flush), failed (the server refused the message itself,
 * or the message is bad: retried only when named with --flush-id), expired
 * (deferred for longer than queue_max_age: reported, retried only when
 * named, never deleted automatically).
 *
 * Library code: nothing here prints except queue_list(); errors go to
 * struct sx_err (SX_LOCALIO, stage STAGE_QUEUE, naming the path).
 */
#ifndef SX_QUEUE_H
#define SX_QUEUE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"

#define QUEUE_ID_LEN 32 /* hex digits of a message id (spool.c) */

enum queue_state { QUEUE_DEFERRED = 0, QUEUE_FAILED, QUEUE_EXPIRED };

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
	int err_exit;   /* the exit status that attempt gave */
	int err_code;   /* server reply code, 0 if none */
	char *err_text; /* "detail" or "detail; server said: reply", one line */
};

/*
 * Queue directory: queue_dir when set, else /var/spool/smtps-send for root,
 * else ${XDG_STATE_HOME:-~/.local/state}/smtps-send/queue.  0, or -1 with
 * SX_CONFIG (no HOME, too long).
 */
int queue_dir_path(const char *queue_dir, char *buf, size_t bufsz, struct sx_err *);

/*
 * Create the directory (0700, with its parents) when missing and check
 * that we can write there.  0, or -1 with SX_LOCALIO naming the path.
 */
int queue_dir_prepare(const char *dir, struct sx_err *);

/* Valid message id (32 lower-case hex digits)? */
int queue_id_valid(const char *);

/* The id of a spool path ".../<id>.msg" into id (QUEUE_ID_LEN + 1).  0 or -1. */
int queue_id_of(const char *path, char *id);

/*
 * Lock a message's spool file: open it read-only and flock(LOCK_EX), with
 * LOCK_NB when nowait.  Returns the descriptor (offset 0, for the body),
 * -2 when nowait and somebody else holds it or the file is gone (already
 * delivered), or -1 with SX_LOCALIO.
 */
int queue_lock(const char *dir, const char *id, int nowait, struct sx_err *);

/* Read DIR/<id>.meta.  0, or -1 with SX_LOCALIO (missing, garbage, truncated). */
int queue_meta_read(const char *dir, const char *id, struct queue_meta *, struct sx_err *);

/* Write DIR/<id>.meta atomically (caller holds the lock).  0, or -1. */
int queue_meta_write(const char *dir, const struct queue_meta *, struct sx_err *);

/* Parse / format a metadata file's text (exposed for the unit tests). */
int queue_meta_parse(const char *text, size_t len, struct queue_meta *, struct sx_err *);
char *queue_meta_format(const struct queue_meta *);

void queue_meta_free(struct queue_meta *);

/*
 * Record the outcome of a failed attempt at time now: attempts, times, the
 * error (sanitised, one line) and the state: failed when the server refused
 * this message (SX_PERM, SX_NOUSER) or the message is bad (SX_DATA,
 * SX_USAGE); deferred otherwise — configuration, authentication and TLS
 * problems are not the message's fault and are retried once fixed.
 */
int queue_meta_fail(struct queue_meta *, const struct sx_err *, time_t now);

/* The state a message is in at now (deferred turns expired after max_age s; 0: never). */
enum queue_state queue_state_at(const struct queue_meta *, time_t now, long max_age);

const char *queue_state_name(enum queue_state);

/*
 * Does this failure make the message itself unsendable (5xx, refused
 * recipients, bad message)?  Then it is kept as failed and never retried
 * automatically; anything else leaves it deferred.
 */
int queue_is_permanent(const struct sx_err *);

/*
 * Exponential back-off for the automatic flush: seconds to wait after the
 * n-th failed attempt (1 min, doubling, at most 4 h); 0 for n == 0.
 */
long queue_backoff(unsigned attempts);

/* Due for an automatic retry at now? (deferred, and back-off elapsed) */
int queue_due(const struct queue_meta *, time_t now, long max_age);

/* Remove a delivered message (.msg, then .meta).  0, or -1 with SX_LOCALIO. */
int queue_remove_files(const char *dir, const char *id, struct sx_err *);

/*
 * --queue-remove: delete one message (any state) unless somebody is
 * delivering it.  0, or -1: SX_USAGE (bad or unknown id), SX_TEMP (locked),
 * SX_LOCALIO.
 */
int queue_remove(const char *dir, const char *id, struct sx_err *);

/*
 * -bp: one line per message, oldest first:
 *   ID AGE SIZE STATE attempts=N <from> -> rcpt,... | last error
 * "queue is empty" when there is none.  Unreadable metadata is a line of
 * its own ("bad metadata: why"), never a failure of the whole listing.
 * Returns the number of messages listed, or -1 with SX_LOCALIO.
 */
int queue_list(FILE *, const char *dir, time_t now, long max_age, struct sx_err *);

/* What happened to one message during a flush (for the caller's report). */
enum queue_outcome {
	QUEUE_SENT = 0,
	QUEUE_STILL_DEFERRED,
	QUEUE_NOW_FAILED,
	QUEUE_NOW_EXPIRED,
	QUEUE_BAD_META
};

struct queue_flush_ops {
	/*
	 * Deliver one message; body_fd is open at offset 0.  0 when the server
	 * accepted it, or -1 with e filled.
	 */
	int (*deliver)(void *ctx, const struct queue_meta *, int body_fd, struct sx_err *e);
	/* Told of every message tried (err NULL when sent), may be NULL. */
	void (*report)(
	    void *ctx, const struct queue_meta *, enum queue_outcome, const struct sx_err *err);
	void *ctx;
};

struct queue_flush_opts {
	time_t now;
	long max_age;            /* queue_max_age, 0: never expire */
	int respect_backoff;     /* automatic flush: only messages that are due */
	const char *only_id;     /* --flush-id: this one, whatever its state */
	unsigned max_msgs;       /* 0: no limit */
	int stop_on_tempfail;    /* stop at the first failure that is not the message's */
	int stop_on_unreachable; /* stop when the server cannot be reached (resolve, connect) */
};

struct queue_stats {
	unsigned sent, deferred, failed, expired, locked, bad;
	struct sx_err first; /* first failure seen (exit status of -q) */
};

/*
 * -q / --flush-id / automatic flush: try each eligible message, oldest
 * first, each under its own lock (locked ones are skipped and counted).
 * Stops early when a caught signal interrupted an attempt (sigflag.h).
 * 0 when every message tried was sent, -1 otherwise (stats->first, or e
 * for a queue-level problem such as an unreadable directory).
 */
int queue_flush(const char *dir, const struct queue_flush_opts *, const struct queue_flush_ops *,
    struct queue_stats *, struct sx_err *);

#endif
