/*
 * flush.h — a run over the queue: -q, --flush-id, and the quick flush
 * after a send.  Each eligible message under its own lock (a locked one
 * is being delivered by another process: skipped and counted), so two
 * runs, or a run and a send, never deliver the same message twice.
 *
 * The messages go relay by relay: those queued with the same account and
 * relay (queue_entry.group) one after another, oldest first, the groups
 * in the order of their oldest message, so that a transport that keeps
 * its session (deliver.h: send, collect) carries them all in one session.
 * Each message's outcome is its own (deliver_begin/deliver_end: log
 * line, removal or failure record, a DSN after a final failure).  A relay
 * that says it takes no more (deliver_is_limit) ends its group: the rest
 * stay queued as they were, and no session to it starts again before its
 * back-off (flush_pace); an account's rate spaces its messages.
 */
#ifndef SX_FLUSH_H
#define SX_FLUSH_H

#include <time.h>

#include "core/err.h"
#include "store/deliver.h"
#include "store/queue_meta.h"

/*
 * What a queue run keeps of each relay, across the passes of a runner:
 * the rate (the account's messages a minute) and the back-off after the
 * relay said it takes no more.
 */
struct flush_relay {
	uint64_t key;      /* hash of deliver_relay_key */
	int64_t next_ms;   /* rate: no message before this (clock_now_ms) */
	time_t hold_until; /* after a limit: no session before this */
	unsigned strikes;  /* limits in a row: the back-off grows (queue_backoff) */
	int unreachable;   /* the hold is its message's retry after it could not be reached */
};
struct flush_pace {
	struct flush_relay *v;
	size_t n;
};
void flush_pace_free(struct flush_pace *);

struct flush_opts {
	time_t now;
	long max_age;            /* queue_max_age, 0: never expire */
	int respect_backoff;     /* automatic flush: only messages that are due */
	long max_backoff;        /* with respect_backoff: the longest wait (0: queue.c's) */
	const char *only_id;     /* --flush-id: this one, whatever its state */
	unsigned max_msgs;       /* 0: no limit */
	int stop_on_tempfail;    /* stop at the first failure that is not the message's */
	int stop_on_unreachable; /* stop when the relay cannot be reached (resolve, connect) */
	int finish_in_flight;    /* a signal ends the run after the message being sent */
	time_t deadline;         /* start no message after this time (0: none) */
	long keep_failed;        /* remove failed messages this long after they failed (0: never) */
	const char *hostname;    /* this host's name, for the DSN's Reporting-MTA */
	struct flush_pace *pace; /* kept across runs (a runner); NULL: the run's own */
};

/* What happened to one message during a run (for the caller's report). */
enum flush_event {
	FLUSH_SENT = 0,
	FLUSH_DEFERRED,
	FLUSH_FAILED,
	FLUSH_EXPIRED, /* just marked expired: reported once, kept */
	FLUSH_REMOVED, /* failed longer ago than keep_failed: removed */
	FLUSH_BOUNCED, /* a DSN to its sender was queued (e: why not, when it could not be) */
	FLUSH_BAD      /* its files could not be read */
};

struct flush_ops {
	/*
	 * The account to send m with: the run's own, or the one the message
	 * was queued for.  NULL with e filled (SX_CONFIG) when there is none:
	 * the message stays deferred with that error.
	 */
	const struct account *(*account)(void *arg, struct queue_meta *m, struct sx_err *e);
	/* Told of every message tried or marked; r NULL unless tried. */
	void (*report)(void *arg, const struct queue_meta *, enum flush_event,
	    const struct deliver_result *r, const struct sx_err *e);
	void *arg;
};

struct flush_stats {
	unsigned sent, deferred, failed, expired, locked, bad, removed;
	unsigned whole, partial; /* .tmp files of dead writers: queued, removed */
	unsigned bounced;        /* DSNs queued */
	unsigned untried;        /* left untried when the relay could not be reached */
	unsigned limited;        /* relays that said they take no more (held off) */
	unsigned skipped;        /* not tried: their relay is held off, or ended the session */
	time_t next_due;         /* the earliest retry of a message still deferred (0: none) */
	struct sx_err first;     /* first failure seen (the exit status of -q) */
};

/*
 * Try each eligible message.  Stops early when a caught signal
 * interrupted an attempt (sigflag.h).  0 when every message tried was
 * sent, -1 otherwise (stats->first, or e for a queue-level problem such as
 * an unreadable directory or an unknown --flush-id).
 */
int flush_queue(const struct deliver_ctx *, const struct flush_opts *,
    const struct deliver_transport *, const struct flush_ops *, struct flush_stats *,
    struct sx_err *);

#endif
