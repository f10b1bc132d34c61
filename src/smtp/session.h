/*
 * session.h — inside the SMTP client: the state of one session and the
 * steps that session.c (sessions of one message or many), mail.c (the
 * mail transactions of a message) and client.c (one command at a time,
 * for -bs) are made of.  Not for other modules: they use smtp.h.
 *
 * Every step returns 0, or -1 with the failure recorded (the first cause
 * wins, err.h): a step of the session in s->e, a step of a message's
 * transaction in that message's own error (t->e), so that one message's
 * failure is never another's.  s->stage is what the session is doing; the
 * steps set it, and every error names it.
 *
 * Commands leave in pipelined groups (RFC 2920): each command that awaits
 * a reply is entered in the session's pipeline (struct smtp_wait), and the
 * replies, which come in the order of the commands, are handed to what
 * they answer as they are read (smtp_pipe_pump).  A message's transaction
 * waits only where the protocol makes it wait (354, a chunk window, the
 * envelope's verdict before data that must not be committed); the
 * messages after it go out meanwhile.
 */
#ifndef SX_SMTP_SESSION_H
#define SX_SMTP_SESSION_H

#include <sys/types.h>

#include "smtp/smtp.h"

struct diag;
struct smtp_chunker;
struct smtp_txn;

/* What a reply in the pipeline answers. */
enum smtp_wait_kind {
	SMTP_WAIT_MAIL,
	SMTP_WAIT_RCPT,
	SMTP_WAIT_DATA,  /* DATA: 354, or its refusal */
	SMTP_WAIT_CHUNK, /* a BDAT chunk that is not the last */
	SMTP_WAIT_EOM,   /* the end of the data (".", BDAT LAST): the message's verdict */
	SMTP_WAIT_RSET,  /* an abandoned transaction's RSET */
	SMTP_WAIT_STEP   /* a command of the step client: the reply goes to its slot */
};

struct smtp_wait {
	enum smtp_wait_kind kind;
	enum sx_stage stage;    /* named by an error of this command */
	struct smtp_txn *t;     /* the transaction it belongs to (NULL: RSET, STEP) */
	size_t idx;             /* RCPT: index into the message's recipients */
	struct smtp_step *step; /* STEP: where its reply goes */
	int bdat_eom; /* STEP: a BDAT LAST, whose refusal leaves the transaction in doubt */
};

struct smtp_session_state {
	struct conn *c;
	struct diag *diag;   /* conn's, for stage lines */
	enum sx_stage stage; /* what the session is doing: named in every error */
	const struct smtp_params *p;
	struct smtp_result *r; /* the session's: capabilities, mechanism */
	struct sx_err *e;      /* the session's own failures (set-up, QUIT) */
	int in_data;           /* between 354 and our end of data: QUIT would be message text */
	int quit_sent;
	int greeted;         /* a reply came: from now on every exit sends QUIT */
	int auth_before_tls; /* AUTH was offered before STARTTLS (and not after) */
	int desync;          /* a malformed or impossible reply: replies no longer match commands */
	/*
	 * The pipeline: replies still to come, oldest first (a ring of wcap).
	 * eom_out of them are the verdicts of messages whose data went out:
	 * a signal waits while they are read (sigflag.h), for giving up then
	 * could deliver a message twice.
	 */
	struct smtp_wait *waits;
	size_t wcap, whead, nwait, eom_out;
	size_t nsent; /* of the nwait, those whose commands went out (the oldest) */
	int dead;     /* no further command may go out (lost, out of step, inside data) */
	int dirty;    /* a failed transaction may still be open: RSET before the next MAIL */
	int closing;  /* the server said 421: it is closing the session */
	int stalled;  /* lost to a time-out: QUIT's reply is not waited for (setup.c) */
	struct smtp_chunker *chunk; /* BDAT: the body's chunks (one per session, reused) */
	/* Messages in flight, oldest first; and those finished, not yet collected. */
	struct smtp_txn *live, *finished, **finished_tail;
};

/*
 * One message's mail transactions (mail.c).  The message goes in one
 * transaction, or several when the server limits recipients per
 * transaction: those its limit refused, with the rest, make the next
 * (smtp_transaction_end).  The result and the error are the message's own.
 */
struct smtp_txn {
	const struct smtp_message *m;
	struct smtp_params p;  /* the session's, with this message's DSN options */
	struct smtp_result *r; /* recipients, final reply, bytes */
	struct sx_err *e;
	int last; /* the session ends after this message: QUIT may close its last flight */
	/*
	 * The recipients still to send (indices into m->rcpts, in order); the
	 * current transaction takes the first nbatch.  Those refused for the
	 * server's recipient limit go to later[].
	 */
	size_t *todo, ntodo, nbatch;
	size_t *later, nlater;
	size_t batch_max; /* the recipient limit the server showed (SIZE_MAX: none yet) */
	size_t accepted;  /* accepted in this transaction */
	size_t ntemp;     /* temporary refusals in this transaction */
	struct sx_err first_refusal;  /* of a recipient, in this transaction */
	unsigned long long txn_bytes; /* body_bytes when this transaction began */
	off_t start;                  /* where the body starts, for another transaction */
	int start_errno;
	/* The current transaction, as its replies come in: */
	int mail;            /* MAIL: 0 unanswered, 1 accepted, -1 refused */
	size_t rcpt_wait;    /* RCPT replies still to come */
	size_t rcpt_done;    /* RCPT replies read */
	int data;            /* the reply code to DATA (0: none yet) */
	unsigned chunks_out; /* BDAT chunk replies still to come (not the last) */
	int eom;             /* the reply code to the end of the data (0: none yet) */
	int bdat;            /* the data goes in BDAT chunks */
	int failed;          /* the transaction failed: *e says why */
	/*
	 * The message is on its way from its first data byte queued
	 * (data_flowing; data_mark: the stream's byte count there) until its
	 * end is written (data_end, once queued): a time-out meanwhile names
	 * the data stage and how far it got (mail.c).
	 */
	int data_flowing;
	unsigned long long data_mark, data_end;
	/* The message: */
	unsigned nout; /* its replies still to come */
	int sending;   /* its commands are being queued: not settled meanwhile */
	int more;      /* another transaction is due (settled, not started) */
	int done;      /* finished: rc is its outcome */
	int rc;
	struct smtp_txn *next; /* the session's messages in flight (session.c) */
	void *owner;           /* who submitted it (session.c) */
};

/* session.c: replies and refusals as the set-up steps see them. */
int smtp_reply(struct smtp_session_state *, struct smtp_reply *);
int smtp_refused(
    struct smtp_session_state *, const struct smtp_reply *, enum sx_class perm, const char *what);

/*
 * session.c: the pipeline.  smtp_pipe_expect enters a command just queued
 * (its reply is awaited; when the pipeline is full the oldest reply is
 * read first).  smtp_pipe_flush sends what is queued; smtp_pipe_pump
 * reads and hands out one reply.  A failure of either loses the session:
 * every reply still awaited fails with the cause (and t, the transaction
 * being sent, with it); -1.
 */
void smtp_pipe_init(struct smtp_session_state *);
void smtp_pipe_free(struct smtp_session_state *);
int smtp_pipe_expect(struct smtp_session_state *, enum smtp_wait_kind, enum sx_stage,
    struct smtp_txn *, size_t idx, struct smtp_step *);
int smtp_pipe_flush(struct smtp_session_state *, struct smtp_txn *);
int smtp_pipe_pump(struct smtp_session_state *, struct smtp_txn *);
void smtp_pipe_lost(struct smtp_session_state *, struct smtp_txn *, const struct sx_err *);
/* Writing failed: read the replies to what went out before, then lose the rest. */
void smtp_pipe_broken(struct smtp_session_state *, struct smtp_txn *, const struct sx_err *);
/* Read every reply still awaited (before QUIT); errors are ignored. */
void smtp_pipe_drain(struct smtp_session_state *);

/* setup.c: from the greeting to AUTH, and QUIT. */
int smtp_open(struct smtp_session_state *);
void smtp_quit(struct smtp_session_state *, int ok);

/*
 * oauth.c: AUTH with the OAuth2 token of s->p->oauth2 (XOAUTH2,
 * OAUTHBEARER); and the hint for a provider's AUTH refusal text (1 when
 * one was given; oauth: the refusal was of a token).
 */
int smtp_auth_oauth(struct smtp_session_state *);
int smtp_oauth_hint(struct sx_err *, const struct smtp_reply *, int oauth);

/*
 * mail.c: a message's transactions.  smtp_txn_init prepares one (its
 * recipients, where its body starts); smtp_txn_run sends its next
 * transaction, waiting only where the protocol requires.  verdict.c:
 * smtp_txn_reply takes each reply that answers it; smtp_txn_settle decides, once nothing
 * of it is awaited, whether it is done or another transaction is due
 * (t->more).  smtp_txn_free releases what init took.
 */
int smtp_txn_init(struct smtp_session_state *, struct smtp_txn *);
void smtp_txn_run(struct smtp_session_state *, struct smtp_txn *);
void smtp_txn_reply(
    struct smtp_session_state *, const struct smtp_wait *, const struct smtp_reply *);
void smtp_txn_lost(struct smtp_session_state *, struct smtp_txn *, enum sx_stage,
    enum smtp_wait_kind, const struct sx_err *);
void smtp_txn_settle(struct smtp_session_state *, struct smtp_txn *);
void smtp_txn_free(struct smtp_txn *);
void smtp_chunker_free(struct smtp_chunker *);

/*
 * mail.c: the transaction the replies finished: its recipients' results
 * recorded, the next one's recipients chosen; how many are left.
 */
size_t smtp_transaction_end(struct smtp_txn *);

/*
 * verdict.c: a step of the message failed into le (at stage st, awaiting
 * kind's reply); a time-out while its data is on its way is reported at
 * the data stage with how far it got.  Always -1.
 */
int smtp_data_failed(struct smtp_session_state *, struct smtp_txn *, const struct sx_err *le,
    enum sx_stage st, enum smtp_wait_kind kind);

/* mail.c: the step client's message as BDAT chunks, the last answered into final. */
int smtp_client_bdat(struct smtp_session_state *, struct smtp_txn *, struct smtp_step *final);

/* mail.c: the pieces the step client uses too. */
int smtp_check_message(struct smtp_session_state *, struct smtp_txn *);
int smtp_queue_mail(struct smtp_session_state *, struct smtp_txn *);
int smtp_queue_rcpt(struct smtp_session_state *, struct smtp_txn *, size_t i);
int smtp_queue_data(struct smtp_session_state *);
int smtp_send_body(struct smtp_session_state *, struct smtp_txn *);

/* session.c: a message is finished: from the messages in flight to the finished ones. */
void smtp_session_done(struct smtp_session_state *, struct smtp_txn *);

#endif
