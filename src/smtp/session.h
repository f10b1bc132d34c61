/*
 * session.h — inside the SMTP client: the state of one session and the
 * steps that session.c (one message, start to end) and client.c (one
 * command at a time, for -bs) are both made of.  Not for other modules:
 * they use smtp.h.
 *
 * Every step returns 0, or -1 with the failure recorded in s->e (the first
 * cause wins, err.h).  s->stage is what the session is doing; the steps set
 * it, and every error names it.
 */
#ifndef SX_SMTP_SESSION_H
#define SX_SMTP_SESSION_H

#include "smtp/smtp.h"

struct diag;
struct smtp_chunker;

struct smtp_session_state {
	struct conn *c;
	struct diag *diag;   /* conn's, for stage lines */
	enum sx_stage stage; /* what the session is doing: named in every error */
	const struct smtp_params *p;
	const struct smtp_message *m;
	struct smtp_result *r;
	struct sx_err *e;
	int in_data; /* between 354 and our end of data: QUIT would be message text */
	int quit_sent;
	int greeted;                /* a reply came: from now on every exit sends QUIT */
	int flight_sent;            /* the envelope (and its tail) went out */
	struct smtp_chunker *chunk; /* BDAT: the first chunk, tail of the envelope */
	int chunk_last;
	int auth_before_tls; /* AUTH was offered before STARTTLS (and not after) */
	int desync;          /* a malformed or impossible reply: replies no longer match commands */
	/*
	 * The recipients still to send (indices into m->rcpts, in order); the
	 * current transaction takes the first nbatch.  Those it refuses for the
	 * server's recipient limit go to later[], and with the rest they make
	 * the next transaction (smtp_transaction_end).
	 */
	size_t *todo, ntodo, nbatch;
	size_t *later, nlater;
	size_t batch_max; /* the recipient limit the server showed (SIZE_MAX: none yet) */
	size_t accepted;  /* accepted in this transaction */
	unsigned long long txn_bytes; /* body_bytes when this transaction began */
	/*
	 * The message is on its way (from its first byte queued to the last
	 * written): a time-out then names the data stage and how far it got
	 * (mail.c); data_mark is the stream's byte count where it began.
	 */
	int data_flowing;
	unsigned long long data_mark;
};

/* session.c: replies and refusals as the steps see them. */
int smtp_reply(struct smtp_session_state *, struct smtp_reply *);
int smtp_refused(
    struct smtp_session_state *, const struct smtp_reply *, enum sx_class perm, const char *what);

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
 * mail.c: one mail transaction.  smtp_transaction_begin picks its
 * recipients; after a transaction whose data was accepted,
 * smtp_transaction_end marks them delivered and returns how many remain
 * for another (those the limit refused, then any never sent).
 */
int smtp_check_message(struct smtp_session_state *);
int smtp_recipients_init(struct smtp_session_state *);
void smtp_recipients_free(struct smtp_session_state *);
void smtp_transaction_begin(struct smtp_session_state *);
size_t smtp_transaction_end(struct smtp_session_state *);
int smtp_queue_mail(struct smtp_session_state *);
int smtp_queue_rcpt(struct smtp_session_state *, size_t i);
int smtp_queue_data(struct smtp_session_state *);
int smtp_send_body(struct smtp_session_state *);
int smtp_final_reply(struct smtp_session_state *);
int smtp_transaction_data(struct smtp_session_state *);
int smtp_transaction_bdat(struct smtp_session_state *);

#endif
