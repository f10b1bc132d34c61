/*
 * smtp.h — the SMTP client: one session from greeting to QUIT for a
 * message (session.c: setup.c, then mail.c), or the same steps one command
 * at a time (client.c).  The protocol's text (replies, capabilities,
 * commands) is in reply.h.
 *
 * The session talks only to struct conn, so the unit tests drive it with a
 * scripted transport.  Errors follow err.h; the stage is always set.
 */
#ifndef SX_SMTP_H
#define SX_SMTP_H

#include <stddef.h>

#include "config/modes.h"
#include "smtp/reply.h"
#include "smtp/sasl.h"

struct oauth_token_source; /* smtp/oauthsasl.h */

/* Session inputs (from the account and the command line). */
struct smtp_params {
	const char *host; /* for messages */
	unsigned port;
	enum tls_mode tls; /* TLS_MODE_DEFAULT is resolved by the caller */
	const char *ehlo_name;
	const char *user; /* NULL: no AUTH */
	const char *secret;
	enum sasl_mech mech;               /* SASL_NONE: best offered */
	struct oauth_token_source *oauth2; /* an OAuth2 token: XOAUTH2/OAUTHBEARER, not secret */
	int client_cert;                   /* a TLS client certificate is configured (EXTERNAL) */
	int auth_cleartext;                /* AUTH allowed without TLS (tls off only) */
	int allow_partial;      /* send to the accepted recipients when some are refused */
	int allow_8bit;         /* 8-bit body to a server without 8BITMIME */
	int check_only;         /* --check: stop after AUTH */
	const char *dsn_notify; /* -N, used only when DSN is offered */
	const char *dsn_ret;    /* -R */
	const char *dsn_envid;  /* -V */
};

/* What the message brings to the session. */
struct smtp_message {
	const char *from; /* "" for the null sender */
	char *const *rcpts;
	size_t nrcpts;
	int body_8bit;
	int needs_smtputf8;
	unsigned long long size; /* with CRLF line endings */
	int body_fd;             /* spool, read from its current offset */
};

/* One recipient's fate in a session. */
struct smtp_rcpt_result {
	int code;       /* its latest RCPT reply, 0 if never sent */
	char text[256]; /* sanitised first line */
	int delivered;  /* accepted, and so was the data of its transaction */
};

struct smtp_result {
	struct smtp_caps caps;
	enum sasl_mech mech;           /* mechanism used, SASL_NONE when none */
	struct smtp_rcpt_result *rcpt; /* one per recipient (free with smtp_result_free) */
	size_t ndelivered;             /* recipients with rcpt[i].delivered set */
	unsigned ntransactions;        /* transactions whose data the relay accepted */
	struct smtp_reply final;       /* reply to the latest end of data (queue id) */
	unsigned long long body_bytes; /* bytes of DATA sent, all transactions */
};

/*
 * Run one session on a connected conn: [implicit TLS] greeting, EHLO,
 * [STARTTLS, EHLO], [AUTH], and unless check_only MAIL, RCPT…, DATA, body,
 * end of data, QUIT.  Every path after the greeting ends with QUIT unless
 * the connection is lost or inside DATA (where QUIT would be message text).
 * msg may be NULL with check_only.
 *
 * A server that limits recipients per transaction (452 after accepting
 * some, RFC 5321 4.5.3.1.10) gets the message for the accepted ones, then
 * the rest in further transactions of the same session; body_fd must then
 * be seekable (it is rewound to where it was).  0 when the message was
 * accepted for every recipient (with allow_partial: for every recipient
 * not refused for good), else -1; after -1 the message may still have been
 * delivered to some recipients: res->rcpt[i].delivered (res->ndelivered)
 * says which, and those must not be sent it again.
 */
int smtp_session(struct conn *, const struct smtp_params *, const struct smtp_message *,
    struct smtp_result *, struct sx_err *);

void smtp_result_free(struct smtp_result *);

/*
 * A session that carries many messages (a queue run): opened once; each
 * message is handed in with smtp_batch_send and its outcome, its own,
 * collected with smtp_batch_next.  The transactions are pipelined across
 * messages (RFC 2920): the next message's MAIL and RCPTs follow the last
 * chunk (BDAT, RFC 3030) or the end of the text (DATA: each message then
 * waits only for its 354) of the one before, with at most SMTP_BATCH_MAX
 * messages, and a bounded number of replies, outstanding.  Bodies are
 * streamed from each message's body_fd, which must stay open (and
 * seekable, for a server's recipient limit) until the message is
 * collected.  A refused message does not affect the next; a failed
 * transaction that may still be open is abandoned with RSET before the
 * next MAIL.  After a 421, a lost or out-of-step session, the messages in
 * flight fail (SX_TEMP unless the reply says otherwise) and no more can
 * be sent (smtp_batch_usable).
 */
#define SMTP_BATCH_MAX 128

struct smtp_txn;

struct smtp_job {
	/* In: */
	const struct smtp_message *m;
	const char *dsn_notify; /* this message's -N, -R, -V (NULL: none) */
	const char *dsn_ret;
	const char *dsn_envid;
	void *arg; /* the caller's */
	/* Out, once collected (res: smtp_result_free): */
	struct smtp_result res; /* as smtp_session's, for this message */
	struct sx_err err;
	int rc;               /* 0 when accepted for every recipient (as smtp_session) */
	struct smtp_txn *txn; /* the session's, while in flight */
};

struct smtp_batch;

/* Connect's next steps: greeting, EHLO, STARTTLS, AUTH.  NULL with e filled. */
struct smtp_batch *smtp_batch_open(
    struct conn *, const struct smtp_params *, struct smtp_result *setup, struct sx_err *);
/*
 * Send a message (it may wait for earlier replies when the pipeline is
 * full).  0: in flight, or finished at once (collect it); -1 when the
 * session can take no more: j->err says why and j was not sent.
 */
int smtp_batch_send(struct smtp_batch *, struct smtp_job *);
/* A finished message, NULL when none (wait: read replies until one finishes, NULL when none is in flight). */
struct smtp_job *smtp_batch_next(struct smtp_batch *, int wait);
/* More messages may be sent. */
int smtp_batch_usable(const struct smtp_batch *);
/* Messages sent and not yet collected. */
size_t smtp_batch_pending(const struct smtp_batch *);
/* No more messages: QUIT follows those in flight (collect them after). */
void smtp_batch_end(struct smtp_batch *);
/* Read QUIT's reply and free; messages not collected are dropped (j->txn NULL). */
void smtp_batch_close(struct smtp_batch *);

/*
 * The same session one command at a time, for a caller that speaks SMTP
 * itself (-bs): open (greeting, EHLO, STARTTLS, AUTH), then per message
 * mail → rcpt… → data (DATA, lockstep) or rset, and close (QUIT).  Each
 * step fills *r with the relay's reply and returns 0 when it was accepted,
 * else -1 with e filled (4xx SX_TEMP, 5xx SX_PERM, lost SX_TEMP, malformed
 * SX_PROTO).  After a refusal the session stays usable; after a lost or
 * malformed exchange smtp_client_usable() is 0 and only close is left.
 */
struct smtp_client;

struct smtp_client *smtp_client_open(
    struct conn *, const struct smtp_params *, struct smtp_result *, struct sx_err *);
/* m: from, size and the 8-bit/SMTPUTF8 flags (recipients and body unused). */
int smtp_client_mail(
    struct smtp_client *, const struct smtp_message *m, struct smtp_reply *r, struct sx_err *);
int smtp_client_rcpt(struct smtp_client *, const char *rcpt, struct smtp_reply *r, struct sx_err *);
/* The body from body_fd (spool format, see message.h); *final: the relay's last reply. */
int smtp_client_data(struct smtp_client *, int body_fd, struct smtp_reply *final, struct sx_err *);
int smtp_client_rset(struct smtp_client *, struct sx_err *);
int smtp_client_usable(const struct smtp_client *);
void smtp_client_close(struct smtp_client *, int ok);

/*
 * The same steps pipelined (RFC 2920), for a caller's pipelined group:
 * each command is queued and its reply comes into its step at a later
 * smtp_client_wait, in order; the step must stay in place until then.
 * A step that could not be sent is answered at once (state -1, e).  The
 * data goes as one BDAT LAST (chunks for a large message) when the relay
 * offers CHUNKING, else as DATA, whose 354 is waited for here, and the
 * text; *final gets the verdict.  After a failed BDAT the transaction
 * is abandoned with RSET before the next MAIL.
 */
struct smtp_step {
	int state; /* 0 awaited, 1 answered (r), -1 no reply: lost or not sent (e) */
	struct smtp_reply r;
	struct sx_err e;
};
int smtp_client_mail_step(struct smtp_client *, const struct smtp_message *m, struct smtp_step *);
int smtp_client_rcpt_step(struct smtp_client *, const char *rcpt, struct smtp_step *);
int smtp_client_data_step(struct smtp_client *, int body_fd, struct smtp_step *final);
void smtp_client_rset_step(struct smtp_client *);
/* Send what is queued, read replies until st is answered (NULL: every one).  0, or -1 when lost. */
int smtp_client_wait(struct smtp_client *, struct smtp_step *st);
/* Replies still awaited. */
size_t smtp_client_awaited(const struct smtp_client *);

#endif
