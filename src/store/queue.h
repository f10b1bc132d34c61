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
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"
#include "store/queue_meta.h"

/* One queued message as a directory scan sees it. */
struct queue_entry {
	char id[QUEUE_ID_LEN + 1];
	time_t when; /* metadata's creation time, else the file's mtime */
	unsigned long long size;
	uint64_t group; /* the same for messages queued with the same account and relay */
};

/*
 * Queue directory: queue_dir when set, else /var/spool/smtps-send for root,
 * else ${XDG_STATE_HOME:-~/.local/state}/smtps-send/queue.  0, or -1 with
 * SX_CONFIG (no HOME, too long).
 */
int queue_dir_path(const char *queue_dir, char *buf, size_t bufsz, struct sx_err *);

/*
 * Is the directory ours alone (fs_trust_fd: owned by the effective user,
 * not writable by group or others, not a symbolic link)?  Anyone else who
 * can write there could plant a message for us to send with our account,
 * or delete ours.  A missing directory is fine (nothing queued).  0, or -1
 * with SX_LOCALIO saying what is wrong.
 */
int queue_dir_check(const char *dir, struct sx_err *);

/*
 * Create the directory (0700, with its parents) when missing, check it
 * (queue_dir_check) and that we can write there.  0, or -1 with
 * SX_LOCALIO naming the path.
 */
int queue_dir_prepare(const char *dir, struct sx_err *);

/* The id of a spool path ".../<id>.msg" into id (QUEUE_ID_LEN + 1).  0 or -1. */
int queue_id_of(const char *path, char *id);

/*
 * Lock a message's spool file: open it read-only and flock(LOCK_EX), with
 * LOCK_NB when nowait.  Returns the descriptor (offset 0, for the body),
 * -2 when nowait and somebody else holds it or the file is gone (already
 * delivered), or -1 with SX_LOCALIO.
 */
int queue_lock(const char *dir, const char *id, int nowait, struct sx_err *);

/* The state a message is in at now (deferred turns expired after max_age s; 0: never). */
enum queue_state queue_state_at(const struct queue_meta *, time_t now, long max_age);

/*
 * Exponential back-off for the automatic flush: seconds to wait after the
 * n-th failed attempt (1 min, doubling, at most 4 h); 0 for n == 0.
 */
long queue_backoff(unsigned attempts);

/*
 * When a deferred message is due for its next automatic retry: the last
 * attempt plus the back-off, capped at max_backoff seconds when that is
 * not 0 (a queue runner's interval).
 */
time_t queue_due_at(const struct queue_meta *, long max_backoff);

/*
 * Every DIR/<id>.msg, oldest first (by the metadata's creation time, else
 * the file's mtime), each read once; its group is a hash of the account
 * and the relay it was queued with (0 without metadata).  *out is
 * malloc'ed.  0, or -1 with SX_LOCALIO.
 */
int queue_scan(const char *dir, struct queue_entry **out, size_t *n, struct sx_err *);

/*
 * Spool files whose intake has not finished: DIR/<id>.tmp.  Their writer
 * holds an exclusive lock on the file while it lives; one that can be
 * locked was left by a process that died.  The envelope is written before
 * the rename (message.h, defer_commit), so a dead writer's .tmp with a
 * .meta beside it holds a whole message, and one without never got as far
 * as being accepted.
 */
enum queue_tmp_state {
	QUEUE_TMP_RECEIVING, /* its writer is still reading the message */
	QUEUE_TMP_PARTIAL,   /* writer gone, no envelope: never accepted; -q removes it */
	QUEUE_TMP_WHOLE      /* writer gone after the envelope: -q renames it into place */
};
struct queue_tmp {
	char id[QUEUE_ID_LEN + 1];
	enum queue_tmp_state state;
	unsigned long long size;
	time_t mtime;
};

/* Every DIR/<id>.tmp and its state (*out malloc'ed).  0, or -1. */
int queue_scan_tmp(const char *dir, struct queue_tmp **out, size_t *n, struct sx_err *);

/*
 * Settle what dead writers left (-q): a whole message is renamed into
 * place, a partial one removed, each under the file's lock.  The counts
 * go to *whole and *partial.  An envelope's temporary file (ID.meta.PID.tmp)
 * older than an hour is removed too.  0, or -1 (SX_LOCALIO).
 */
int queue_settle_tmp(const char *dir, unsigned *whole, unsigned *partial, struct sx_err *);

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

#endif
