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
	int tempfail_ok;    /* queued after a temporary failure and queue_on_tempfail: exit 0 */
	int reported;       /* the failure was already reported */
};

/*
 * The queue directory, created when missing.  When it cannot be made:
 * EX_CANTCREAT naming it, or with queue_fallback a private temporary
 * directory (no durable copy: kept there only if sending fails).
 */
int run_queue_dir(struct run *);

/* The intake settings that come from the account and -f/-F (send and -bs). */
void run_intake_policy(const struct run *, struct msg_policy *);

/* The queue's envelope of a message just taken in (its id from the spool path).  0 or -1. */
int run_meta_init(struct run *, const struct msg_envelope *, struct queue_meta *, time_t now);

/* What the queue did with a message that was not sent: r->context, r->note, tempfail_ok. */
void run_outcome(struct run *, const struct deliver_result *, const struct queue_meta *);

int mode_send(struct run *);
int mode_bs(struct run *);
int mode_check(struct run *);
/* -bp, -q / --flush-id, --queue-remove. */
int mode_queue(struct run *);
/* -q, --flush-id; automatic: the quick flush after a send (quiet, bounded). */
int mode_flush(struct run *, int automatic);

#endif
