/*
 * mail.c — a message's mail transactions: the checks against what the
 * server announced, the envelope (pipelined when offered, RFC 2920), and
 * the message as DATA (dot-stuffed) or BDAT chunks (RFC 3030), streamed
 * from the spool so that memory does not grow with the message.  Also
 * which recipients each transaction carries, when the server limits how
 * many one transaction may have (RFC 5321 4.5.3.1.8).
 *
 * The commands go into the session's pipeline (session.h) and the
 * replies come back through smtp_txn_reply (verdict.c, which decides),
 * in order, whenever the session reads them: the sending side waits only where the protocol
 * makes it (354 before the text; the envelope's verdict before data that
 * must not be committed, or before the chunks of a large message), so in
 * a session that carries many messages the next one's commands follow at
 * once.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/diag.h"
#include "msg/body.h"
#include "smtp/session.h"

/* Spool bytes read per chunk while streaming the body. */
#define SMTP_BODY_CHUNK (16 * 1024)
/* Spool bytes per BDAT chunk (at most twice that on the wire). */
#define SMTP_BDAT_CHUNK (128 * 1024)
/* BDAT replies of one message we let pile up before reading one. */
#define SMTP_BDAT_INFLIGHT 8

/* Chunked body for BDAT: reads ahead one chunk so the last one says LAST. */
struct smtp_chunker {
	struct body_enc enc;
	char *in, *out;
	size_t in_len, out_len;
	int eof;
};

static int smtp_txn_fail_local(
    struct smtp_session_state *, struct smtp_txn *, const struct sx_err *);

/* Refuse early what the server told us it cannot take. */
int
smtp_check_message(struct smtp_session_state *s, struct smtp_txn *t)
{
	const struct smtp_caps *caps = &s->r->caps;

	s->stage = STAGE_MAIL;
	if (caps->size > 0 && t->m->size > caps->size) {
		sx_fail(t->e, SX_PERM, STAGE_MAIL,
		    "the message is %llu bytes; the server accepts at most %llu", t->m->size,
		    caps->size);
		sx_hint(t->e, "send a smaller message (large attachments: share a link instead)");
		return -1;
	}
	if (t->m->needs_smtputf8 && !caps->smtputf8) {
		sx_fail(t->e, SX_PERM, STAGE_MAIL,
		    "an address is not ASCII and the server does not offer SMTPUTF8");
		sx_hint(t->e, "use ASCII addresses (an IDN domain in its xn-- form)");
		return -1;
	}
	if (t->m->body_8bit && !caps->eightbitmime && !t->p.allow_8bit) {
		sx_fail(t->e, SX_PERM, STAGE_MAIL,
		    "the message has 8-bit data and the server does not offer 8BITMIME");
		sx_hint(t->e, "encode the body (quoted-printable or base64), or set allow_8bit on");
		return -1;
	}
	return 0;
}

int
smtp_txn_init(struct smtp_session_state *s, struct smtp_txn *t)
{
	size_t i, n = t->m->nrcpts;

	t->r->rcpt = calloc(n, sizeof(*t->r->rcpt));
	t->todo = calloc(n, sizeof(*t->todo));
	t->later = calloc(n, sizeof(*t->later));
	if (t->r->rcpt == NULL || t->todo == NULL || t->later == NULL)
		return sx_fail(t->e, SX_INTERNAL, STAGE_MAIL, "out of memory");
	for (i = 0; i < n; i++)
		t->todo[i] = i;
	t->ntodo = n;
	t->batch_max = SIZE_MAX;
	/* Another transaction reads the body again from here. */
	t->start = lseek(t->m->body_fd, 0, SEEK_CUR);
	t->start_errno = errno;
	(void)s;
	return 0;
}

void
smtp_txn_free(struct smtp_txn *t)
{
	free(t->todo);
	free(t->later);
	t->todo = t->later = NULL;
	t->ntodo = t->nbatch = t->nlater = 0;
}

/*
 * The next transaction: as many of the remaining recipients as the server
 * showed it takes, all of them until it showed a limit.
 */
static void
smtp_transaction_begin(struct smtp_txn *t)
{
	t->nbatch = t->ntodo < t->batch_max ? t->ntodo : t->batch_max;
	t->nlater = 0;
	t->accepted = 0;
	t->ntemp = 0;
	sx_clear(&t->first_refusal);
	t->txn_bytes = t->r->body_bytes;
	t->mail = 0;
	t->rcpt_wait = t->rcpt_done = 0;
	t->data = 0;
	t->chunks_out = 0;
	t->eom = 0;
	t->failed = 0;
	t->data_flowing = 0;
	t->data_mark = t->data_end = 0;
}

size_t
smtp_transaction_end(struct smtp_txn *t)
{
	struct smtp_rcpt_result *rr;
	size_t k;

	for (k = 0; k < t->nbatch; k++) {
		rr = &t->r->rcpt[t->todo[k]];
		if (rr->code == 250 || rr->code == 251) {
			rr->delivered = 1;
			t->r->ndelivered++;
		}
	}
	t->r->ntransactions++;
	/*
	 * The limit the server showed is the number it accepted (Postfix
	 * counts accepted recipients; a server that counts every RCPT has
	 * accepted no more): the next transactions ask for no more than that,
	 * rather than have the rest refused again each time.
	 */
	if (t->nlater > 0 && t->accepted < t->batch_max)
		t->batch_max = t->accepted;
	/* Next: those the limit refused, then those not sent yet; in order. */
	memmove(
	    t->todo + t->nlater, t->todo + t->nbatch, (t->ntodo - t->nbatch) * sizeof(*t->todo));
	memcpy(t->todo, t->later, t->nlater * sizeof(*t->todo));
	t->ntodo = t->ntodo - t->nbatch + t->nlater;
	t->nbatch = t->nlater = 0;
	return t->ntodo;
}

/* Known once the RCPT replies are in: no transaction follows this one. */
static int
smtp_last_transaction(const struct smtp_txn *t)
{
	return t->nlater == 0 && t->nbatch == t->ntodo;
}

int
smtp_queue_mail(struct smtp_session_state *s, struct smtp_txn *t)
{
	const struct smtp_caps *caps = &s->r->caps;
	char params[256] = "";

	if (caps->size_offered) {
		char sz[40];

		snprintf(sz, sizeof(sz), " SIZE=%llu", t->m->size);
		strlcat(params, sz, sizeof(params));
	}
	if (t->m->body_8bit && caps->eightbitmime)
		strlcat(params, " BODY=8BITMIME", sizeof(params));
	if (t->m->needs_smtputf8 && caps->smtputf8)
		strlcat(params, " SMTPUTF8", sizeof(params));
	if (caps->dsn && t->p.dsn_ret != NULL) {
		strlcat(params, " RET=", sizeof(params));
		strlcat(params, t->p.dsn_ret, sizeof(params));
	}
	if (caps->dsn && t->p.dsn_envid != NULL) {
		strlcat(params, " ENVID=", sizeof(params));
		strlcat(params, t->p.dsn_envid, sizeof(params));
	}
	s->stage = STAGE_MAIL;
	return smtp_cmd(s->c, s->stage, 0, t->e, "MAIL FROM:<%s>%s", t->m->from, params);
}

int
smtp_queue_rcpt(struct smtp_session_state *s, struct smtp_txn *t, size_t i)
{
	s->stage = STAGE_RCPT;
	if (s->r->caps.dsn && t->p.dsn_notify != NULL)
		return smtp_cmd(s->c, s->stage, 0, t->e, "RCPT TO:<%s> NOTIFY=%s", t->m->rcpts[i],
		    t->p.dsn_notify);
	return smtp_cmd(s->c, s->stage, 0, t->e, "RCPT TO:<%s>", t->m->rcpts[i]);
}

int
smtp_queue_data(struct smtp_session_state *s)
{
	struct sx_err e;

	s->stage = STAGE_DATA;
	sx_clear(&e);
	return smtp_cmd(s->c, s->stage, 0, &e, "DATA");
}

/* The message starts here on the stream (a DATA body, or the first BDAT chunk). */
static void
smtp_data_begin(struct smtp_session_state *s, struct smtp_txn *t)
{
	t->data_flowing = 1;
	t->data_mark = s->c->bytes_written + s->c->out_len;
	t->data_end = 0;
}

/* Its end (".", BDAT LAST) is queued: once written, the server owes its verdict. */
static void
smtp_data_end(struct smtp_session_state *s, struct smtp_txn *t)
{
	t->data_end = s->c->bytes_written + s->c->out_len;
}

/*
 * A failure of our own while the message's commands were being queued
 * (a command refused for CR/LF, the spool unreadable): what of it has
 * not gone out is taken back, so the server never sees half of it; what
 * went out is answered and read as usual.
 */
static int
smtp_txn_fail_local(struct smtp_session_state *s, struct smtp_txn *t, const struct sx_err *why)
{
	t->failed = 1;
	smtp_data_failed(s, t, why, s->stage, SMTP_WAIT_MAIL);
	if (!conn_is_open(s->c)) {
		smtp_pipe_broken(s, t, why);
		return -1;
	}
	conn_discard(s->c);
	while (s->nwait > s->nsent) {
		struct smtp_wait *w = &s->waits[(s->whead + s->nwait - 1) % s->wcap];

		if (w->kind == SMTP_WAIT_EOM)
			s->eom_out--;
		if (w->kind == SMTP_WAIT_RSET)
			s->dirty = 1;
		if (w->kind == SMTP_WAIT_RCPT)
			w->t->rcpt_wait--;
		if (w->kind == SMTP_WAIT_CHUNK)
			w->t->chunks_out--;
		if (w->t != NULL)
			w->t->nout--;
		s->nwait--;
	}
	return -1;
}

/* Queue one command of the message and await its reply. */
static int
smtp_txn_expect(struct smtp_session_state *s, struct smtp_txn *t, enum smtp_wait_kind kind,
    enum sx_stage st, size_t idx)
{
	return smtp_pipe_expect(s, kind, st, t, idx, NULL);
}

/* Without PIPELINING: send what is queued and read every reply awaited. */
static int
smtp_lockstep(struct smtp_session_state *s, struct smtp_txn *t)
{
	if (smtp_pipe_flush(s, t) == -1)
		return -1;
	while (s->nwait > 0)
		if (smtp_pipe_pump(s, t) == -1)
			return -1;
	return 0;
}

/* The envelope (MAIL and every RCPT) is answered: its verdict is known. */
static int
smtp_envelope_known(const struct smtp_txn *t)
{
	return t->failed || (t->mail != 0 && t->rcpt_wait == 0);
}

/* Read replies until the envelope's verdict is known. */
static int
smtp_wait_envelope(struct smtp_session_state *s, struct smtp_txn *t)
{
	while (!smtp_envelope_known(t) && s->nwait > 0)
		if (smtp_pipe_pump(s, t) == -1)
			return -1;
	return 0;
}

/*
 * MAIL and RCPT… for the transaction's recipients.  With PIPELINING
 * (RFC 2920) they are only queued (the caller adds the tail of the flight
 * and sends it); without, each is answered before the next, and a refused
 * MAIL ends it.  -1 when nothing more of the transaction may be sent.
 */
static int
smtp_envelope(struct smtp_session_state *s, struct smtp_txn *t, int pipe)
{
	size_t i;

	if (smtp_queue_mail(s, t) == -1)
		return smtp_txn_fail_local(s, t, t->e);
	if (smtp_txn_expect(s, t, SMTP_WAIT_MAIL, STAGE_MAIL, 0) == -1)
		return -1;
	if (!pipe && smtp_lockstep(s, t) == -1)
		return -1;
	if (t->failed)
		return -1;
	for (i = 0; i < t->nbatch; i++) {
		if (smtp_queue_rcpt(s, t, t->todo[i]) == -1)
			return smtp_txn_fail_local(s, t, t->e);
		t->rcpt_wait++;
		if (smtp_txn_expect(s, t, SMTP_WAIT_RCPT, STAGE_RCPT, t->todo[i]) == -1)
			return -1;
		if (!pipe && smtp_lockstep(s, t) == -1)
			return -1;
	}
	return !pipe && t->failed ? -1 : 0;
}

static int
smtp_txn_queue_data(struct smtp_session_state *s, struct smtp_txn *t)
{
	s->stage = STAGE_DATA;
	if (smtp_cmd(s->c, s->stage, 0, t->e, "DATA") == -1)
		return smtp_txn_fail_local(s, t, t->e);
	return smtp_txn_expect(s, t, SMTP_WAIT_DATA, STAGE_DATA, 0);
}

/* RFC 2920 3.1: QUIT may close the flight of the session's last message. */
static int
smtp_txn_quit(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct sx_err le;

	s->stage = STAGE_QUIT;
	sx_clear(&le);
	/* Queueing it may write out the end of the message. */
	if (smtp_cmd(s->c, s->stage, 0, &le, "QUIT") == -1)
		return smtp_txn_fail_local(s, t, &le);
	s->quit_sent = 1;
	return 0;
}

/*
 * Stream the spool through the encoder in large writes; memory stays
 * flat.  A failure goes into le as it is (smtp_send_body names it).
 */
static int
smtp_body_stream(struct smtp_session_state *s, struct smtp_txn *t, struct sx_err *le)
{
	char in[SMTP_BODY_CHUNK], out[BODY_ENC_MAX(SMTP_BODY_CHUNK) + BODY_ENC_TAIL];
	struct body_enc enc;
	size_t n;
	ssize_t got;

	s->stage = STAGE_BODY;
	smtp_data_begin(s, t);
	body_enc_init(&enc);
	for (;;) {
		got = read(t->m->body_fd, in, sizeof(in));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return sx_fail(
			    le, SX_LOCALIO, STAGE_BODY, "reading the spool: %s", strerror(errno));
		if (got == 0)
			break;
		n = body_enc_feed(&enc, in, (size_t)got, out);
		t->r->body_bytes += n;
		/* The transcript shows the commands, not the message. */
		if (conn_queue(s->c, s->stage, out, n, CONN_WIRE_QUIET, le) == -1)
			return -1;
	}
	n = body_enc_finish(&enc, out);
	t->r->body_bytes += n;
	if (conn_queue(s->c, s->stage, out, n, CONN_WIRE_SHOW, le) == -1)
		return -1;
	smtp_data_end(s, t);
	s->in_data = 0;
	return 0;
}

int
smtp_send_body(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct sx_err le;

	sx_clear(&le);
	if (smtp_body_stream(s, t, &le) == 0)
		return 0;
	return smtp_data_failed(s, t, &le, STAGE_BODY, SMTP_WAIT_CHUNK);
}

/*
 * DATA transaction.  DATA joins the MAIL/RCPT flight only when a refused
 * recipient cannot leave us holding a 354 we must not use: one recipient
 * (DATA then fails with it), or partial delivery allowed.  (Recipients
 * over the server's limit never can: the limit comes after an acceptance.)
 * The text goes once 354 came; its verdict is read later, with whatever
 * follows it.
 */
static void
smtp_txn_data(struct smtp_session_state *s, struct smtp_txn *t)
{
	int pipe = s->r->caps.pipelining;
	int in_flight = pipe && (t->nbatch == 1 || t->p.allow_partial);
	struct sx_err le;

	t->bdat = 0;
	if (smtp_envelope(s, t, pipe) == -1)
		return;
	if (in_flight && smtp_txn_queue_data(s, t) == -1)
		return;
	if (smtp_pipe_flush(s, t) == -1)
		return;
	if (!in_flight) {
		if ((pipe && smtp_wait_envelope(s, t) == -1) || t->failed)
			return;
		if (smtp_txn_queue_data(s, t) == -1 || smtp_pipe_flush(s, t) == -1)
			return;
	}
	while (t->data == 0 && s->nwait > 0)
		if (smtp_pipe_pump(s, t) == -1)
			return;
	if (t->failed || t->data == 0) {
		/* A 354 although the envelope failed: only closing is safe. */
		if (t->data == 354) {
			s->in_data = 1;
			s->dead = 1;
		}
		return;
	}
	/* Only ending the data or closing can leave this state. */
	s->in_data = 1;
	sx_clear(&le);
	if (smtp_body_stream(s, t, &le) == -1) {
		t->failed = 1;
		s->dead = 1;
		smtp_data_failed(s, t, &le, STAGE_BODY, SMTP_WAIT_CHUNK);
		if (!conn_is_open(s->c))
			smtp_pipe_lost(s, t, &le);
		return;
	}
	if (pipe && t->last && smtp_last_transaction(t) && smtp_txn_quit(s, t) == -1)
		return;
	if (smtp_txn_expect(s, t, SMTP_WAIT_EOM, STAGE_EOM, 0) == -1)
		return;
	smtp_pipe_flush(s, t);
}

/* The session's chunker, made the first time it is needed. */
static struct smtp_chunker *
smtp_chunker_get(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct smtp_chunker *ch = s->chunk;

	if (ch == NULL) {
		if ((ch = calloc(1, sizeof(*ch))) == NULL ||
		    (ch->in = malloc(SMTP_BDAT_CHUNK)) == NULL ||
		    (ch->out = malloc(BODY_ENC_MAX(SMTP_BDAT_CHUNK) + BODY_ENC_TAIL)) == NULL) {
			smtp_chunker_free(ch);
			t->failed = 1;
			sx_fail(t->e, SX_INTERNAL, STAGE_BODY, "out of memory");
			return NULL;
		}
		s->chunk = ch;
	}
	body_enc_init_bdat(&ch->enc);
	ch->in_len = ch->out_len = 0;
	ch->eof = 0;
	return ch;
}

void
smtp_chunker_free(struct smtp_chunker *ch)
{
	if (ch == NULL)
		return;
	free(ch->in);
	free(ch->out);
	free(ch);
}

/* Encode the next chunk into ch->out; ch->eof once the spool is exhausted. */
static int
smtp_chunk_next(struct smtp_session_state *s, struct smtp_txn *t, struct smtp_chunker *ch)
{
	ssize_t got;

	(void)s;
	ch->out_len = body_enc_feed(&ch->enc, ch->in, ch->in_len, ch->out);
	for (;;) {
		got = read(t->m->body_fd, ch->in, SMTP_BDAT_CHUNK);
		if (got >= 0 || errno != EINTR)
			break;
	}
	if (got < 0)
		return sx_fail(
		    t->e, SX_LOCALIO, STAGE_BODY, "reading the spool: %s", strerror(errno));
	ch->in_len = (size_t)got;
	if (got == 0) {
		ch->eof = 1;
		ch->out_len += body_enc_finish(&ch->enc, ch->out + ch->out_len);
	}
	return 0;
}

/* One BDAT chunk; the last one's reply is the message's verdict. */
static int
smtp_txn_chunk(
    struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_chunker *ch, int last)
{
	struct sx_err le;

	s->stage = STAGE_BODY;
	if (!t->data_flowing)
		smtp_data_begin(s, t);
	/* Queueing the command may write out the previous chunk. */
	sx_clear(&le);
	if (smtp_cmd(s->c, s->stage, 0, &le, "BDAT %zu%s", ch->out_len, last ? " LAST" : "") ==
		-1 ||
	    conn_queue(s->c, s->stage, ch->out, ch->out_len, CONN_WIRE_QUIET, &le) == -1)
		return smtp_txn_fail_local(s, t, &le);
	t->r->body_bytes += ch->out_len;
	if (last) {
		smtp_data_end(s, t);
		return smtp_txn_expect(s, t, SMTP_WAIT_EOM, STAGE_EOM, 0);
	}
	t->chunks_out++;
	return smtp_txn_expect(s, t, SMTP_WAIT_CHUNK, STAGE_BODY, 0);
}

/*
 * BDAT transaction (RFC 3030).  The first chunk joins the MAIL/RCPT
 * flight.  When one refused recipient must stop the whole message (several
 * recipients, no allow_partial), no chunk says LAST: the data is committed
 * with "BDAT 0 LAST" only once every RCPT was accepted (or left for the
 * next transaction by the server's limit), and a refusal leaves an
 * uncommitted transaction that RSET (or QUIT) throws away.  A message in
 * one chunk is then on its way; a larger one waits for the envelope's
 * verdict before its other chunks, with at most SMTP_BDAT_INFLIGHT chunk
 * replies outstanding.
 */
static void
smtp_txn_bdat(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct smtp_chunker *ch;
	int pipe = s->r->caps.pipelining;
	int hold = t->nbatch > 1 && !t->p.allow_partial;
	int last;

	t->bdat = 1;
	if ((ch = smtp_chunker_get(s, t)) == NULL)
		return;
	/* Prime: read the first chunk, then encode it with a look-ahead. */
	if (smtp_chunk_next(s, t, ch) == -1 || (!ch->eof && smtp_chunk_next(s, t, ch) == -1)) {
		t->failed = 1;
		return;
	}
	last = ch->eof && !hold;
	if (smtp_envelope(s, t, pipe) == -1)
		return;
	if (smtp_txn_chunk(s, t, ch, last) == -1)
		return;
	/*
	 * The whole message in the first flight: QUIT may close it (RFC 2920
	 * 3.1), unless the server's limit may call for another transaction
	 * (more than one recipient left).
	 */
	if (last && pipe && t->last && t->ntodo == 1 && smtp_txn_quit(s, t) == -1)
		return;
	if (smtp_pipe_flush(s, t) == -1)
		return;
	if (!last && pipe && (smtp_wait_envelope(s, t) == -1 || t->failed))
		return;
	while (!last) {
		while ((pipe ? t->chunks_out >= SMTP_BDAT_INFLIGHT : t->chunks_out > 0) &&
		       s->nwait > 0)
			if (smtp_pipe_pump(s, t) == -1)
				return;
		/* RFC 3030: no chunk after a refused one. */
		if (t->failed)
			return;
		if (ch->eof) {
			/* Every recipient is in: commit the data. */
			ch->out_len = 0;
			last = 1;
		} else if (smtp_chunk_next(s, t, ch) == -1) {
			smtp_txn_fail_local(s, t, t->e);
			return;
		} else {
			last = ch->eof && !hold;
		}
		if (smtp_txn_chunk(s, t, ch, last) == -1)
			return;
		if (!pipe && smtp_pipe_flush(s, t) == -1)
			return;
	}
	/* Known to be the last transaction only once the envelope was answered. */
	if (pipe && t->last && !s->quit_sent && smtp_envelope_known(t) &&
	    smtp_last_transaction(t) && smtp_txn_quit(s, t) == -1)
		return;
	smtp_pipe_flush(s, t);
}

/*
 * The step client's message as BDAT chunks (client.c): every chunk but
 * the last answered into the transaction t (a refused one marks it
 * failed), the last into final.  At most SMTP_BDAT_INFLIGHT chunk replies
 * outstanding (without PIPELINING, none).  0, or -1 when a chunk was
 * refused (no LAST goes) or the spool could not be read (t->e).
 */
int
smtp_client_bdat(struct smtp_session_state *s, struct smtp_txn *t, struct smtp_step *final)
{
	struct smtp_chunker *ch;
	int pipe = s->r->caps.pipelining, last;

	t->bdat = 1;
	t->failed = 0;
	t->chunks_out = 0;
	if ((ch = smtp_chunker_get(s, t)) == NULL)
		return -1;
	if (smtp_chunk_next(s, t, ch) == -1 || (!ch->eof && smtp_chunk_next(s, t, ch) == -1))
		return -1;
	for (;;) {
		while ((pipe ? t->chunks_out >= SMTP_BDAT_INFLIGHT : t->chunks_out > 0) &&
		       s->nwait > 0)
			if (smtp_pipe_pump(s, NULL) == -1)
				return -1;
		if (t->failed || s->dead)
			return -1;
		last = ch->eof;
		s->stage = STAGE_BODY;
		if (smtp_cmd(s->c, s->stage, 0, t->e, "BDAT %zu%s", ch->out_len,
			last ? " LAST" : "") == -1 ||
		    conn_queue(s->c, s->stage, ch->out, ch->out_len, CONN_WIRE_QUIET, t->e) == -1)
			return -1;
		s->r->body_bytes += ch->out_len;
		if (last) {
			if (smtp_pipe_expect(s, SMTP_WAIT_STEP, STAGE_EOM, NULL, 0, final) == -1)
				return -1;
			s->waits[(s->whead + s->nwait - 1) % s->wcap].bdat_eom = 1;
			return 0;
		}
		t->chunks_out++;
		if (smtp_pipe_expect(s, SMTP_WAIT_CHUNK, STAGE_BODY, t, 0, NULL) == -1 ||
		    smtp_chunk_next(s, t, ch) == -1 || (!pipe && smtp_pipe_flush(s, NULL) == -1))
			return -1;
	}
}

/* Read the body again from its start, for another transaction. */
static int
smtp_txn_rewind(struct smtp_session_state *s, struct smtp_txn *t)
{
	int err = t->start_errno;

	if (t->start != -1 && lseek(t->m->body_fd, t->start, SEEK_SET) != -1)
		return 0;
	if (t->start != -1)
		err = errno;
	t->failed = 1;
	(void)s;
	return sx_fail_errno(t->e, SX_LOCALIO, STAGE_BODY, err,
	    "the message cannot be read again for the next transaction: %s", strerror(err));
}

/*
 * The message's next transaction (its first, or one for the recipients
 * the server's limit left).  A failed transaction that may still be open
 * at the server is abandoned with RSET first; without PIPELINING every
 * earlier reply is read before.
 */
void
smtp_txn_run(struct smtp_session_state *s, struct smtp_txn *t)
{
	struct sx_err e;

	t->sending = 1;
	t->more = 0;
	if (t->r->ntransactions > 0 && smtp_txn_rewind(s, t) == -1)
		goto out;
	smtp_transaction_begin(t);
	if (!s->r->caps.pipelining && !s->dead && smtp_lockstep(s, t) == -1)
		goto out;
	if (s->dead || s->closing || s->quit_sent) {
		t->failed = 1;
		sx_fail(t->e, SX_TEMP, STAGE_MAIL,
		    s->closing     ? "the server is closing the session"
		    : s->quit_sent ? "the session is ending"
				   : "the session was lost");
		goto out;
	}
	if (s->dirty) {
		s->dirty = 0;
		s->stage = STAGE_MAIL;
		sx_clear(&e);
		if (smtp_cmd(s->c, s->stage, 0, &e, "RSET") == -1 ||
		    smtp_pipe_expect(s, SMTP_WAIT_RSET, STAGE_MAIL, NULL, 0, NULL) == -1) {
			smtp_txn_fail_local(s, t, &e);
			goto out;
		}
	}
	if (s->r->caps.chunking)
		smtp_txn_bdat(s, t);
	else
		smtp_txn_data(s, t);
out:
	t->sending = 0;
	smtp_txn_settle(s, t);
}
