/*
 * run.h — one invocation's state, shared by the modes main.c dispatches
 * to: send (stdin), -bs, the queue commands and --check.  Each mode fills
 * err (and context/note for the failure report) and returns 0 or -1;
 * main.c reports and picks the exit status.
 */
#ifndef SX_RUN_H
#define SX_RUN_H

#include <time.h>

#include "config/cli.h"
#include "config/conf.h"
#include "core/diag.h"
#include "core/err.h"
#include "msg/message.h"
#include "store/deliver.h"
#include "store/queue_meta.h"

struct run {
	struct cli_options opt;
	struct conf_request req;
	struct account acct;
	struct diag diag;
	struct sx_err err;
	char hostname[256]; /* FQDN for EHLO, Message-ID and user@host */
	char spool_dir[4096];
	char context[4096]; /* last line of a failure report */
	char note[512];     /* and one more: the queue's verdict */
	int no_queue;       /* queue_fallback: spool_dir is a private temporary directory */
	int exit_code;      /* overrides the error's exit status when not 0 */
	int reported;       /* the failure was already reported */
	/* Not sent, but durably queued for retry: accepted (exit 0, err says why). */
	char queued_id[QUEUE_ID_LEN + 1];
	/* Every error of the configuration files (conf_load), reported together. */
	struct conf_errors conf_errors;
	/* The message of a send, for the final JSON result event (diag_result). */
	enum diag_state state;
	char msg_id[QUEUE_ID_LEN + 1];
	unsigned long long msg_bytes;
};

/*
 * The queue directory, created when missing.  When it cannot be made:
 * EX_CANTCREAT naming it, or with queue_fallback a private temporary
 * directory (no durable copy: kept there only if sending fails).
 */
int run_queue_dir(struct run *);

/* The intake settings that come from the account and -f/-F (send and -bs). */
void run_intake_policy(const struct run *, struct msg_policy *);

/*
 * The envelope on disk, then the message under its final name (an intake
 * with defer_commit): a kill at any point leaves either a .tmp without an
 * envelope (never accepted; -q removes it) or an envelope with its
 * message.  attempt: written as an attempt that did not finish
 * (deliver_mark), else as queued.  0, or -1 with r->err.
 */
int run_commit(struct run *, struct msg_envelope *, struct queue_meta *, const struct deliver_ctx *,
    int attempt);

/*
 * A message intake refused but kept (env->spool_path set, r->err why): a
 * NUL byte (failed: it cannot be sent as it is) or a name nothing gives a
 * domain to (held: a configuration problem the caller is told of;
 * --flush-id after the fix).  Recorded and committed; 0, or -1.
 */
int run_keep_refused(struct run *, struct msg_envelope *, time_t now);

/* The queue's envelope of a message just taken in (its id from the spool path).  0 or -1. */
int run_meta_init(struct run *, const struct msg_envelope *, struct queue_meta *, time_t now);

/*
 * What became of a message that was not sent.  Durably queued for retry
 * (not the message's fault): accepted, r->queued_id set, returns 0 — the
 * sendmail contract: a caller told "failed" must never get the message
 * delivered later.  Otherwise r->err, r->context and r->note say why and
 * where it was kept, and -1.  r->state and r->msg_id say the same for the
 * JSON result event.
 */
int run_outcome(struct run *, const struct deliver_result *, const struct queue_meta *);

/* The quick flush after a send: at most this many messages, started within this many seconds. */
#define RUN_AUTOFLUSH_MSGS    5
#define RUN_AUTOFLUSH_SECONDS 3

struct flush_opts;
struct flush_stats;
/* One run over the queue with o; each message reported on stderr (quiet after a send). */
int run_queue_pass(
    struct run *, const struct flush_opts *o, int automatic, struct flush_stats *, struct sx_err *);

int mode_send(struct run *);
/* --import-msmtprc: needs no configuration (import.c). */
int mode_import(struct run *);
int mode_bs(struct run *);
int mode_check(struct run *);
/* -bp, -q / --flush-id, --queue-remove. */
int mode_queue(struct run *);
/* -q, --flush-id; automatic: the quick flush after a send (quiet, bounded). */
int mode_flush(struct run *, int automatic);

/* "30m", "1h30m", "90s", "45" (minutes, as sendmail): seconds, or -1. */
long runner_interval(const char *);
/*
 * -q<interval>: the queue runner (runner.c).  pass runs the queue once and
 * sets *next to the earliest time a message is due again (0: none known).
 * Returns 0 when stopped by a signal, -1 when it could not start.
 */
int mode_runner(struct run *, long interval, int (*pass)(struct run *, long, time_t *next));

#endif
