/*
 * mail.c — one mail transaction: the checks against what the server
 * announced, the envelope (pipelined when offered, RFC 2920), and the
 * message as DATA (dot-stuffed) or BDAT chunks (RFC 3030), streamed from
 * the spool so that memory does not grow with the message.  Also which
 * recipients each transaction carries, when the server limits how many
 * one transaction may have (RFC 5321 4.5.3.1.8).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/sigflag.h"
#include "msg/body.h"
#include "smtp/session.h"

/* Spool bytes read per chunk while streaming the body. */
#define SMTP_BODY_CHUNK (16 * 1024)
/* Spool bytes per BDAT chunk (at most twice that on the wire). */
#define SMTP_BDAT_CHUNK (128 * 1024)
/* BDAT replies we let pile up before reading one. */
#define SMTP_BDAT_INFLIGHT 8

/* Chunked body for BDAT: reads ahead one chunk so the last one says LAST. */
struct smtp_chunker {
	struct body_enc enc;
	char *in, *out;
	size_t in_len, out_len;
	int eof;
};

static void smtp_data_begin(struct smtp_session_state *);
static int smtp_data_failed(struct smtp_session_state *, const struct sx_err *);
static int smtp_data_queue(struct smtp_session_state *, const void *, size_t, enum conn_wire);
static int smtp_data_flush(struct smtp_session_state *);
static int smtp_data_reply(struct smtp_session_state *, struct smtp_reply *);

/* Refuse early what the server told us it cannot take. */
int
smtp_check_message(struct smtp_session_state *s)
{
	const struct smtp_caps *caps = &s->r->caps;

	s->stage = STAGE_MAIL;
	if (caps->size > 0 && s->m->size > caps->size) {
		sx_fail(s->e, SX_PERM, STAGE_MAIL,
		    "the message is %llu bytes; the server accepts at most %llu", s->m->size,
		    caps->size);
		sx_hint(s->e, "send a smaller message (large attachments: share a link instead)");
		return -1;
	}
	if (s->m->needs_smtputf8 && !caps->smtputf8) {
		sx_fail(s->e, SX_PERM, STAGE_MAIL,
		    "an address is not ASCII and the server does not offer SMTPUTF8");
		sx_hint(s->e, "use ASCII addresses (an IDN domain in its xn-- form)");
		return -1;
	}
	if (s->m->body_8bit && !caps->eightbitmime && !s->p->allow_8bit) {
		sx_fail(s->e, SX_PERM, STAGE_MAIL,
		    "the message has 8-bit data and the server does not offer 8BITMIME");
		sx_hint(s->e, "encode the body (quoted-printable or base64), or set allow_8bit on");
		return -1;
	}
	return 0;
}

int
smtp_recipients_init(struct smtp_session_state *s)
{
	size_t i, n = s->m->nrcpts;

	s->r->rcpt = calloc(n, sizeof(*s->r->rcpt));
	s->todo = calloc(n, sizeof(*s->todo));
	s->later = calloc(n, sizeof(*s->later));
	if (s->r->rcpt == NULL || s->todo == NULL || s->later == NULL)
		return sx_fail(s->e, SX_INTERNAL, STAGE_MAIL, "out of memory");
	for (i = 0; i < n; i++)
		s->todo[i] = i;
	s->ntodo = n;
	s->batch_max = SIZE_MAX;
	return 0;
}

void
smtp_recipients_free(struct smtp_session_state *s)
{
	free(s->todo);
	free(s->later);
	s->todo = s->later = NULL;
	s->ntodo = s->nbatch = s->nlater = 0;
}

/*
 * The next transaction: as many of the remaining recipients as the server
 * showed it takes, all of them until it showed a limit.
 */
void
smtp_transaction_begin(struct smtp_session_state *s)
{
	s->nbatch = s->ntodo < s->batch_max ? s->ntodo : s->batch_max;
	s->nlater = 0;
	s->accepted = 0;
	s->flight_sent = 0;
	s->txn_bytes = s->r->body_bytes;
}

size_t
smtp_transaction_end(struct smtp_session_state *s)
{
	struct smtp_rcpt_result *rr;
	size_t k;

	for (k = 0; k < s->nbatch; k++) {
		rr = &s->r->rcpt[s->todo[k]];
		if (rr->code == 250 || rr->code == 251) {
			rr->delivered = 1;
			s->r->ndelivered++;
		}
	}
	s->r->ntransactions++;
	/*
	 * The limit the server showed is the number it accepted (Postfix
	 * counts accepted recipients; a server that counts every RCPT has
	 * accepted no more): the next transactions ask for no more than that,
	 * rather than have the rest refused again each time.
	 */
	if (s->nlater > 0 && s->accepted < s->batch_max)
		s->batch_max = s->accepted;
	/* Next: those the limit refused, then those not sent yet; in order. */
	memmove(
	    s->todo + s->nlater, s->todo + s->nbatch, (s->ntodo - s->nbatch) * sizeof(*s->todo));
	memcpy(s->todo, s->later, s->nlater * sizeof(*s->todo));
	s->ntodo = s->ntodo - s->nbatch + s->nlater;
	s->nbatch = s->nlater = 0;
	return s->ntodo;
}

/* Known once the RCPT replies are in: no transaction follows this one. */
static int
smtp_last_transaction(const struct smtp_session_state *s)
{
	return s->nlater == 0 && s->nbatch == s->ntodo;
}

int
smtp_queue_mail(struct smtp_session_state *s)
{
	const struct smtp_caps *caps = &s->r->caps;
	char params[256] = "";

	if (caps->size_offered) {
		char sz[40];

		snprintf(sz, sizeof(sz), " SIZE=%llu", s->m->size);
		strlcat(params, sz, sizeof(params));
	}
	if (s->m->body_8bit && caps->eightbitmime)
		strlcat(params, " BODY=8BITMIME", sizeof(params));
	if (s->m->needs_smtputf8 && caps->smtputf8)
		strlcat(params, " SMTPUTF8", sizeof(params));
	if (caps->dsn && s->p->dsn_ret != NULL) {
		strlcat(params, " RET=", sizeof(params));
		strlcat(params, s->p->dsn_ret, sizeof(params));
	}
	if (caps->dsn && s->p->dsn_envid != NULL) {
		strlcat(params, " ENVID=", sizeof(params));
		strlcat(params, s->p->dsn_envid, sizeof(params));
	}
	s->stage = STAGE_MAIL;
	return smtp_cmd(s->c, s->stage, 0, s->e, "MAIL FROM:<%s>%s", s->m->from, params);
}

int
smtp_queue_rcpt(struct smtp_session_state *s, size_t i)
{
	s->stage = STAGE_RCPT;
	if (s->r->caps.dsn && s->p->dsn_notify != NULL)
		return smtp_cmd(s->c, s->stage, 0, s->e, "RCPT TO:<%s> NOTIFY=%s", s->m->rcpts[i],
		    s->p->dsn_notify);
	return smtp_cmd(s->c, s->stage, 0, s->e, "RCPT TO:<%s>", s->m->rcpts[i]);
}

/*
 * A refusal saying the server relays only for clients that authenticated,
 * while it offered AUTH and no user is set: the account lacks its login
 * (Postfix "Relay access denied", sendmail "Relaying denied", Exim "relay
 * not permitted").
 */
static int
smtp_relay_denied(const struct smtp_session_state *s, int code, const char *text)
{
	static const char *const says[] = {"relay access denied", "relaying denied",
	    "relay not permitted", "relaying not allowed", "not permitted to relay"};
	size_t i;

	if ((code != 550 && code != 554) || s->p->user != NULL || !s->r->caps.auth)
		return 0;
	for (i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		if (strcasestr(text, says[i]) != NULL)
			return 1;
	return 0;
}

#define SMTP_HINT_RELAY                                                                            \
	"the server relays only for authenticated users and offers AUTH, but no user is set: "     \
	"set user and a password"

static int
smtp_mail_reply(struct smtp_session_state *s, const struct smtp_reply *r)
{
	diag_stage(s->diag, STAGE_MAIL, "<%s>: %d %.200s", s->m->from, r->code, r->text);
	if (r->code == 250)
		return 0;
	smtp_refused(s, r, SX_PERM, "sender");
	if (smtp_relay_denied(s, r->code, r->text))
		sx_hint(s->e, SMTP_HINT_RELAY);
	else if (r->code == 530)
		sx_hint(s->e, "the server requires authentication: set user and a password");
	else if (r->code == 550 || r->code == 553 || r->code == 554)
		sx_hint(s->e,
		    "sender <%s> not allowed for this account: set from to the account's "
		    "address",
		    s->m->from);
	return -1;
}

/*
 * "Too many recipients" (RFC 5321 4.5.3.1.10): 452, or the 552 of RFC 821
 * that RFC 5321 asks clients to treat as temporary, when it says so (the
 * enhanced code X.5.3 of RFC 3463, or the words); a bare 552 is a
 * permanent refusal.
 */
static int
smtp_too_many(const struct smtp_reply *r)
{
	if (r->code == 452)
		return 1;
	return r->code == 552 && (strcmp(r->enhanced, "5.5.3") == 0 ||
				     strcasestr(r->text, "too many recipients") != NULL);
}

/*
 * Note one recipient's reply; refusals are judged once all are in.
 *
 * A "too many recipients" reply after this transaction accepted at least
 * one recipient is the server's limit per transaction (RFC 5321
 * 4.5.3.1.8): that recipient goes in a further transaction, not in the
 * refusals.  Any 452 counts, whatever its text or enhanced code: 452 is
 * the code RFC 5321 gives that condition, and servers word it in many
 * ways (Postfix "4.5.3 Error: too many recipients", others with no
 * enhanced code at all).  A 452 meant otherwise (4.3.1, storage) costs one
 * more transaction, which accepts none and so ends as the temporary
 * failure it would have been.  Before any acceptance it cannot be a limit
 * (a limit lets at least one through): an ordinary temporary refusal.
 */
static void
smtp_rcpt_reply(struct smtp_session_state *s, size_t i, const struct smtp_reply *r,
    struct sx_err *first_refusal, size_t *ntemp)
{
	s->r->rcpt[i].code = r->code;
	sx_sanitize(
	    s->r->rcpt[i].text, sizeof(s->r->rcpt[i].text), r->text, strcspn(r->text, "\n"), 0);
	diag_stage(s->diag, STAGE_RCPT, "<%s>: %d %.200s", s->m->rcpts[i], r->code, r->text);
	if (r->code == 250 || r->code == 251) {
		s->accepted++;
		return;
	}
	if (s->accepted > 0 && smtp_too_many(r)) {
		s->later[s->nlater++] = i;
		return;
	}
	if ((r->code >= 400 && r->code < 500) || smtp_too_many(r))
		(*ntemp)++;
	sx_fail_reply(first_refusal, SX_PERM, STAGE_RCPT, r->code, r->enhanced, r->text,
	    "recipient <%s> refused (%d)", s->m->rcpts[i], r->code);
}

/*
 * After every RCPT reply: may the transaction go on?  Recipients over the
 * server's limit are no refusal: they go in the next transaction.
 */
static int
smtp_rcpt_verdict(struct smtp_session_state *s, const struct sx_err *first_refusal, size_t ntemp)
{
	size_t n = s->nbatch, refused = n - s->accepted - s->nlater;
	char detail[SX_DETAIL_MAX];
	enum sx_class cls;

	if (s->nlater > 0)
		diag_stage(s->diag, STAGE_RCPT,
		    "too many recipients for the server: %zu accepted in this transaction, %zu "
		    "left for the next",
		    s->accepted, s->ntodo - s->nbatch + s->nlater);
	if (refused == 0)
		return 0;
	if (s->accepted > 0 && s->p->allow_partial) {
		diag_stage(s->diag, STAGE_RCPT,
		    "%zu of %zu recipients refused; sending to the others (allow_partial)", refused,
		    n);
		return 0;
	}
	/* Anything temporary: try again later; all permanent: the recipients are bad. */
	cls = ntemp > 0 ? SX_TEMP : s->accepted == 0 ? SX_NOUSER : SX_PERM;
	if (s->accepted > 0)
		/*
		 * A first BDAT chunk may have gone with the envelope: the data is
		 * then sent but never committed (no LAST), which QUIT discards.
		 */
		snprintf(detail, sizeof(detail),
		    "%zu of %zu recipients refused (first: %.300s); nothing %s", refused, n,
		    first_refusal->detail,
		    s->data_flowing           ? "was delivered (the data sent was not committed)"
		    : s->r->ntransactions > 0 ? "more was sent"
					      : "was sent");
	else if (n > 1)
		snprintf(detail, sizeof(detail), "all %zu recipients refused (first: %.300s)", n,
		    first_refusal->detail);
	else
		strlcpy(detail, first_refusal->detail, sizeof(detail));
	sx_fail_reply(s->e, cls, STAGE_RCPT, first_refusal->reply_code, first_refusal->enhanced,
	    first_refusal->reply, "%s", detail);
	if (smtp_relay_denied(s, first_refusal->reply_code, first_refusal->reply))
		sx_hint(s->e, SMTP_HINT_RELAY);
	else if (s->accepted > 0)
		sx_hint(s->e, "fix or remove the refused recipient, or set allow_partial on");
	return -1;
}

/*
 * MAIL and RCPT… for the transaction's recipients, and the "tail" that
 * opens the data (DATA, or the first BDAT chunk).  With PIPELINING (RFC
 * 2920) they leave in one flight when tail_in_flight, and the replies are
 * read in order; otherwise lockstep.  The tail's own reply is left for the
 * caller to read.  0 when every recipient (or, with allow_partial, at
 * least one) was accepted or is left for the next transaction.
 */
static int
smtp_envelope(
    struct smtp_session_state *s, int (*tail)(struct smtp_session_state *), int tail_in_flight)
{
	struct smtp_reply r;
	struct sx_err first_refusal;
	int pipe = s->r->caps.pipelining, mail_ok;
	size_t i, ntemp = 0;

	sx_clear(&first_refusal);
	if (smtp_queue_mail(s) == -1)
		return -1;
	if (pipe) {
		for (i = 0; i < s->nbatch; i++)
			if (smtp_queue_rcpt(s, s->todo[i]) == -1)
				return -1;
		if (tail_in_flight && tail(s) == -1)
			return -1;
	}
	s->stage = STAGE_MAIL;
	if (smtp_data_flush(s) == -1)
		return -1;
	s->flight_sent = 1;
	if (smtp_data_reply(s, &r) == -1)
		return -1;
	mail_ok = smtp_mail_reply(s, &r) == 0;
	if (!mail_ok && !pipe)
		return -1;
	for (i = 0; i < s->nbatch; i++) {
		s->stage = STAGE_RCPT;
		if (!pipe && (smtp_queue_rcpt(s, s->todo[i]) == -1 ||
				 conn_flush(s->c, s->stage, s->e) == -1))
			return -1;
		/* Pipelined: every queued command has a reply to read, refused or not. */
		if (smtp_data_reply(s, &r) == -1)
			return -1;
		if (mail_ok)
			smtp_rcpt_reply(s, s->todo[i], &r, &first_refusal, &ntemp);
	}
	if (!mail_ok)
		return -1;
	return smtp_rcpt_verdict(s, &first_refusal, ntemp);
}

/* The message starts here on the stream (a DATA body, or the first BDAT chunk). */
static void
smtp_data_begin(struct smtp_session_state *s)
{
	s->data_flowing = 1;
	s->data_mark = s->c->bytes_written + s->c->out_len;
}

/*
 * A step of the message transfer failed into le.  A time-out while the
 * message is on its way -- a write that cannot progress, or a reply that
 * does not come while its bytes are still being written -- is reported at
 * the data stage with how far the message got, whatever command's reply
 * was awaited (a pipelined MAIL's, with the first BDAT chunk behind it).
 * Anything else is recorded as it is.  Always -1.
 */
static int
smtp_data_failed(struct smtp_session_state *s, const struct sx_err *le)
{
	unsigned long long sent = 0;

	if (!s->data_flowing || le->sys_errno != ETIMEDOUT)
		return sx_adopt(s->e, le, s->stage);
	if (s->c->bytes_written > s->data_mark)
		sent = s->c->bytes_written - s->data_mark;
	sx_fail_errno(s->e, SX_TEMP, STAGE_DATA, ETIMEDOUT,
	    "no answer from the server within %d s while sending the message (%llu of %llu "
	    "bytes written)",
	    s->c->timeout_ms / 1000, sent, s->m->size);
	sx_hint(s->e, "the server or the network stalled the transfer; if only large messages "
		      "stall, suspect a proxy or a path that drops large packets (MTU)");
	return -1;
}

/* conn_queue, conn_flush and smtp_reply for the message transfer (smtp_data_failed). */
static int
smtp_data_queue(struct smtp_session_state *s, const void *buf, size_t len, enum conn_wire w)
{
	struct sx_err le;

	sx_clear(&le);
	if (conn_queue(s->c, s->stage, buf, len, w, &le) == 0)
		return 0;
	return smtp_data_failed(s, &le);
}

static int
smtp_data_flush(struct smtp_session_state *s)
{
	struct sx_err le;

	sx_clear(&le);
	if (conn_flush(s->c, s->stage, &le) == 0)
		return 0;
	return smtp_data_failed(s, &le);
}

static int
smtp_data_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	struct sx_err *e = s->e, le;
	int rc;

	if (!s->data_flowing)
		return smtp_reply(s, r);
	sx_clear(&le);
	s->e = &le;
	rc = smtp_reply(s, r);
	s->e = e;
	return rc == 0 ? 0 : smtp_data_failed(s, &le);
}

int
smtp_queue_data(struct smtp_session_state *s)
{
	s->stage = STAGE_DATA;
	return smtp_cmd(s->c, s->stage, 0, s->e, "DATA");
}

/* Stream the spool through the encoder in large writes; memory stays flat. */
int
smtp_send_body(struct smtp_session_state *s)
{
	char in[SMTP_BODY_CHUNK], out[BODY_ENC_MAX(SMTP_BODY_CHUNK) + BODY_ENC_TAIL];
	struct body_enc enc;
	size_t n;
	ssize_t got;

	s->stage = STAGE_BODY;
	smtp_data_begin(s);
	body_enc_init(&enc);
	for (;;) {
		got = read(s->m->body_fd, in, sizeof(in));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return sx_fail(
			    s->e, SX_LOCALIO, STAGE_BODY, "reading the spool: %s", strerror(errno));
		if (got == 0)
			break;
		n = body_enc_feed(&enc, in, (size_t)got, out);
		s->r->body_bytes += n;
		/* The transcript shows the commands, not the message. */
		if (smtp_data_queue(s, out, n, CONN_WIRE_QUIET) == -1)
			return -1;
	}
	n = body_enc_finish(&enc, out);
	s->r->body_bytes += n;
	if (smtp_data_queue(s, out, n, CONN_WIRE_SHOW) == -1)
		return -1;
	s->in_data = 0;
	return 0;
}

/* The final reply to the message (queue id); QUIT's reply may follow. */
int
smtp_final_reply(struct smtp_session_state *s)
{
	int rc;

	s->stage = STAGE_EOM;
	sigflag_hold(1);
	rc = smtp_data_flush(s) == -1;
	/* Every byte is written: from now on the server owes its verdict. */
	s->data_flowing = 0;
	rc = rc || smtp_reply(s, &s->r->final) == -1;
	sigflag_hold(0);
	if (rc) {
		if (s->e->sys_errno == ETIMEDOUT && s->e->stage == STAGE_EOM)
			sx_hint(s->e, "the server did not confirm the message; it may or may not "
				      "have been accepted");
		return -1;
	}
	if (s->r->final.code != 250) {
		diag_stage(s->diag, STAGE_EOM, "%d %.300s", s->r->final.code, s->r->final.text);
		return smtp_refused(s, &s->r->final, SX_PERM, "the message");
	}
	diag_stage(s->diag, STAGE_EOM, "%d %.300s (%llu bytes sent)", s->r->final.code,
	    s->r->final.text, s->r->body_bytes - s->txn_bytes);
	return 0;
}

/*
 * DATA transaction.  DATA joins the MAIL/RCPT flight only when a refused
 * recipient cannot leave us holding a 354 we must not use: one recipient
 * (DATA then fails with it), or partial delivery allowed.  (Recipients
 * over the server's limit never can: the limit comes after an acceptance.)
 */
int
smtp_transaction_data(struct smtp_session_state *s)
{
	struct smtp_reply r;
	int in_flight = s->r->caps.pipelining && (s->nbatch == 1 || s->p->allow_partial);
	int ok = smtp_envelope(s, smtp_queue_data, in_flight) == 0;

	s->stage = STAGE_DATA;
	if (!in_flight) {
		if (!ok)
			return -1;
		if (smtp_queue_data(s) == -1 || conn_flush(s->c, s->stage, s->e) == -1)
			return -1;
	} else if (!s->flight_sent || !conn_is_open(s->c)) {
		return -1;
	} else if (!ok && s->desync) {
		/* Replies out of step: DATA may have been answered 354. */
		s->in_data = 1;
		return -1;
	}
	if (smtp_reply(s, &r) == -1)
		return -1;
	diag_stage(s->diag, STAGE_DATA, "%d %.200s", r.code, r.text);
	if (r.code == 354) {
		/* Only ending the data or closing can leave this state. */
		s->in_data = 1;
		if (!ok)
			return -1;
	} else {
		if (!ok)
			return -1;
		return smtp_refused(s, &r, SX_PERM, "DATA");
	}
	if (smtp_send_body(s) == -1)
		return -1;
	/* RFC 2920 3.1: message content may open a group; QUIT may close it. */
	if (s->r->caps.pipelining && smtp_last_transaction(s)) {
		s->stage = STAGE_QUIT;
		if (smtp_cmd(s->c, s->stage, 0, s->e, "QUIT") == -1)
			return -1;
		s->quit_sent = 1;
	}
	return smtp_final_reply(s);
}

/* Encode the next chunk into ch->out; ch->eof once the spool is exhausted. */
static int
smtp_chunk_next(struct smtp_session_state *s, struct smtp_chunker *ch)
{
	ssize_t got;

	ch->out_len = body_enc_feed(&ch->enc, ch->in, ch->in_len, ch->out);
	for (;;) {
		got = read(s->m->body_fd, ch->in, SMTP_BDAT_CHUNK);
		if (got >= 0 || errno != EINTR)
			break;
	}
	if (got < 0)
		return sx_fail(
		    s->e, SX_LOCALIO, STAGE_BODY, "reading the spool: %s", strerror(errno));
	ch->in_len = (size_t)got;
	if (got == 0) {
		ch->eof = 1;
		ch->out_len += body_enc_finish(&ch->enc, ch->out + ch->out_len);
	}
	return 0;
}

static int
smtp_queue_chunk(struct smtp_session_state *s, const struct smtp_chunker *ch, int last)
{
	struct sx_err le;

	s->stage = STAGE_BODY;
	if (!s->data_flowing)
		smtp_data_begin(s);
	/* Queueing the command may write out the previous chunk. */
	sx_clear(&le);
	if (smtp_cmd(s->c, s->stage, 0, &le, "BDAT %zu%s", ch->out_len, last ? " LAST" : "") == -1)
		return smtp_data_failed(s, &le);
	s->r->body_bytes += ch->out_len;
	return smtp_data_queue(s, ch->out, ch->out_len, CONN_WIRE_QUIET);
}

/* The first chunk, as the tail of the envelope flight. */
static int
smtp_queue_first_chunk(struct smtp_session_state *s)
{
	if (smtp_queue_chunk(s, s->chunk, s->chunk_last) == -1)
		return -1;
	/*
	 * The whole message in the first flight: QUIT may close it (RFC 2920
	 * 3.1), unless the server's limit may call for another transaction
	 * (more than one recipient left).
	 */
	if (s->chunk_last && s->r->caps.pipelining && s->ntodo == 1) {
		s->stage = STAGE_QUIT;
		if (smtp_cmd(s->c, s->stage, 0, s->e, "QUIT") == -1)
			return -1;
		s->quit_sent = 1;
	}
	return 0;
}

static int
smtp_chunk_reply(struct smtp_session_state *s, int last)
{
	struct smtp_reply r;

	s->stage = last ? STAGE_EOM : STAGE_BODY;
	if (last)
		return smtp_final_reply(s);
	if (smtp_data_reply(s, &r) == -1)
		return -1;
	if (r.code != 250)
		return smtp_refused(s, &r, SX_PERM, "a message chunk");
	return 0;
}

/*
 * BDAT transaction (RFC 3030).  The first chunk joins the MAIL/RCPT
 * flight.  When one refused recipient must stop the whole message (several
 * recipients, no allow_partial), no chunk says LAST: the data is committed
 * with "BDAT 0 LAST" only once every RCPT was accepted (or left for the
 * next transaction by the server's limit), and a refusal leaves an
 * uncommitted transaction that QUIT throws away.  With PIPELINING chunks
 * are not waited for; at most SMTP_BDAT_INFLIGHT replies are outstanding.
 */
int
smtp_transaction_bdat(struct smtp_session_state *s)
{
	struct smtp_chunker ch;
	int pipe = s->r->caps.pipelining;
	int hold = s->nbatch > 1 && !s->p->allow_partial;
	int ok, rc = -1, last;
	unsigned outstanding = 0;

	memset(&ch, 0, sizeof(ch));
	body_enc_init_bdat(&ch.enc);
	ch.in = malloc(SMTP_BDAT_CHUNK);
	ch.out = malloc(BODY_ENC_MAX(SMTP_BDAT_CHUNK) + BODY_ENC_TAIL);
	if (ch.in == NULL || ch.out == NULL) {
		sx_fail(s->e, SX_INTERNAL, STAGE_BODY, "out of memory");
		goto out;
	}
	/* Prime: read the first chunk, then encode it with a look-ahead. */
	if (smtp_chunk_next(s, &ch) == -1 || (!ch.eof && smtp_chunk_next(s, &ch) == -1))
		goto out;
	last = ch.eof && !hold;
	s->chunk = &ch;
	s->chunk_last = last;
	ok = smtp_envelope(s, smtp_queue_first_chunk, pipe) == 0;
	if (pipe) {
		/* The first chunk's reply is owed whatever happened to the envelope. */
		if (!s->flight_sent || !conn_is_open(s->c))
			goto out;
		if (!ok) {
			struct smtp_reply r;
			struct sx_err ignored;

			sx_clear(&ignored);
			smtp_read_reply(s->c, s->stage, &r, &ignored);
			goto out;
		}
	} else {
		if (!ok || smtp_queue_first_chunk(s) == -1 || smtp_data_flush(s) == -1)
			goto out;
	}
	outstanding = 1;
	while (!last) {
		if (!pipe || outstanding >= SMTP_BDAT_INFLIGHT) {
			if (smtp_chunk_reply(s, 0) == -1)
				goto out;
			outstanding--;
		}
		if (ch.eof) {
			/* Every recipient is in: commit the data. */
			ch.out_len = 0;
			last = 1;
		} else if (smtp_chunk_next(s, &ch) == -1) {
			goto out;
		} else {
			last = ch.eof && !hold;
		}
		if (smtp_queue_chunk(s, &ch, last) == -1)
			goto out;
		if (!pipe && smtp_data_flush(s) == -1)
			goto out;
		outstanding++;
	}
	if (pipe && !s->quit_sent && smtp_last_transaction(s)) {
		s->stage = STAGE_QUIT;
		if (smtp_cmd(s->c, s->stage, 0, s->e, "QUIT") == -1)
			goto out;
		s->quit_sent = 1;
	}
	if (smtp_data_flush(s) == -1)
		goto out;
	for (; outstanding > 1; outstanding--)
		if (smtp_chunk_reply(s, 0) == -1)
			goto out;
	rc = smtp_chunk_reply(s, 1);
out:
	s->chunk = NULL;
	s->data_flowing = 0;
	free(ch.in);
	free(ch.out);
	return rc;
}
