/*
 * bs_data.c — the data phase of "-bs" (see bs.h): DATA, the text up to
 * the lone ".", the delivery, and the replies with the relay's verdict.
 *
 * The data phase is a byte state machine over the session's input buffer
 * that writes the dot-unstuffed text to a raw spool file; msg_intake then
 * reads that file so a message from -bs gets exactly the processing of one
 * from stdin.  Memory does not grow with the message.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp/bs_int.h"
#include "store/spool.h"

#define BS_OUTBUF 65536

/* A line ending in the data phase; what may follow decides the end. */
enum bs_dstate { BS_D_BOL = 0, BS_D_MID, BS_D_DOT, BS_D_DOTCR };

static int bs_data(struct bs_session *, struct spool_file *, int *, struct sx_err *);
static void bs_verdict(struct bs_session *, int, const char *, const char *, const char *);
static void bs_local_failure(struct bs_session *, const struct sx_err *, const char *);
static void bs_deliver(struct bs_session *, const char *);
static int bs_envelope_rcpts(struct bs_session *, char ***, size_t *);

/*
 * The data phase: bytes up to the line holding only "." (ended by CRLF or
 * LF), with the leading dot of every other line that starts with one
 * removed (RFC 5321 4.5.2), into sp.  Line endings stay as sent: the
 * intake normalises them.  Past max_size nothing more is written but the
 * data is still read to its end, so the session stays in step (*too_big).
 * A spool write error is kept in we and reading goes on for the same
 * reason.  0 at the end of data; -1 when the input ended or failed first.
 */
static int
bs_data(struct bs_session *s, struct spool_file *sp, int *too_big, struct sx_err *we)
{
	char out[BS_OUTBUF];
	size_t olen = 0;
	unsigned long long size = 0;
	enum bs_dstate st = BS_D_BOL;
	char prev = '\0';
	int r;

	*too_big = 0;
	for (;;) {
		char c, emit[2];
		size_t nemit = 0, i;

		if (s->in_start == s->in_end) {
			if ((r = bs_fill(s)) <= 0) {
				if (r == 0)
					sx_fail(s->e, SX_TEMP, STAGE_INTAKE,
					    "input ended inside DATA: the message was not sent");
				return -1;
			}
		}
		c = s->in[s->in_start++];
		if (st == BS_D_DOT) {
			if (c == '\n')
				break;
			if (c == '\r') {
				st = BS_D_DOTCR;
				continue;
			}
		} else if (st == BS_D_DOTCR) {
			if (c == '\n')
				break;
			emit[nemit++] = '\r'; /* ".\rx": a bare CR after the dropped dot */
		} else if (st == BS_D_BOL && c == '.') {
			st = BS_D_DOT;
			continue;
		}
		emit[nemit++] = c;
		st = c == '\n' ? BS_D_BOL : BS_D_MID;
		for (i = 0; i < nemit; i++) {
			/* Counted as on the wire: an LF alone becomes CRLF. */
			size += emit[i] == '\n' && prev != '\r' ? 2 : 1;
			prev = emit[i];
			if (size > s->max_size)
				*too_big = 1;
			if (*too_big || we->cls != SX_OK)
				continue;
			out[olen++] = emit[i];
			if (olen == sizeof(out)) {
				spool_write(sp, out, olen, we);
				olen = 0;
			}
		}
	}
	if (olen > 0 && !*too_big && we->cls == SX_OK)
		spool_write(sp, out, olen, we);
	return 0;
}

/*
 * A reply to the end of data from a verdict: code and enhanced code
 * (checked against the code's class), the first line of text without its
 * own enhanced code, and where the message was kept.
 */
static void
bs_verdict(struct bs_session *s, int code, const char *enh, const char *text, const char *kept)
{
	char def[8];
	size_t elen = enh != NULL ? strlen(enh) : 0, tlen;

	if (code < 200 || code > 599)
		code = 451;
	if (elen == 0 || enh[0] != '0' + code / 100) {
		snprintf(def, sizeof(def), "%d.0.0", code / 100);
		enh = def;
	} else if (strncmp(text, enh, elen) == 0 && text[elen] == ' ') {
		text += elen + 1;
	}
	tlen = strcspn(text, "\n");
	if (tlen > 400)
		tlen = 400;
	if (kept != NULL)
		bs_reply(
		    s, code, enh, "%.*s%skept in %s", (int)tlen, text, tlen > 0 ? "; " : "", kept);
	else
		bs_reply(s, code, enh, "%.*s", (int)tlen, text);
}

/* How a failure without a server reply looks to the caller. */
static void
bs_local_failure(struct bs_session *s, const struct sx_err *e, const char *kept)
{
	char text[SX_DETAIL_MAX + 64 + 128];
	size_t rl = strcspn(e->reply, "\n");
	const char *enh;
	int n, code;

	n = snprintf(text, sizeof(text), "%s%s%s",
	    e->stage != STAGE_NONE ? sx_stage_name(e->stage) : "",
	    e->stage != STAGE_NONE ? ": " : "", e->detail);
	/* The relay's own words help whoever reads the caller's log. */
	if (e->reply_code != 0 && n > 0 && (size_t)n < sizeof(text))
		snprintf(text + n, sizeof(text) - (size_t)n, " (relay said %d %.*s)", e->reply_code,
		    (int)(rl > 120 ? 120 : rl), e->reply);
	code = sx_smtp_code(e, &enh);
	bs_verdict(s, code, enh, text, kept);
}

/*
 * A relay's reply to MAIL or RCPT, passed on: its code and first line.
 * refused: it must not read as a success to the caller.
 */
void
bs_pass(struct bs_session *s, const struct smtp_reply *r, int refused)
{
	int code = r->code;

	if (refused && (code < 400 || code > 599))
		code = 451;
	bs_verdict(s, code, r->enhanced, r->text, NULL);
}

/* The reply that takes a transaction without a relay. */
void
bs_fallback_reply(struct bs_session *s, const struct sx_err *cause, const char *enh)
{
	bs_reply(s, 250, enh,
	    "Ok, but no relay (%s%s%.200s): the message will be kept in the queue",
	    cause->stage != STAGE_NONE ? sx_stage_name(cause->stage) : "",
	    cause->stage != STAGE_NONE ? ": " : "", cause->detail);
}

/* No relay for this transaction: taken anyway, to be kept in the queue. */
void
bs_fallback(struct bs_session *s, const struct sx_err *e, const char *enh)
{
	s->fallback = 1;
	s->cause = *e;
	if (s->cause.cls == SX_OK)
		sx_fail(&s->cause, SX_INTERNAL, STAGE_NONE, "relay failed without a reason");
	bs_fallback_reply(s, &s->cause, enh);
}

/*
 * Intake the raw data at raw_path and relay it; reply with the verdict
 * (once the relay gave it: bs_data_answered).  A refusal of the envelope
 * or the message is passed on as the relay gave it; a failure before that
 * (connect, TLS, AUTH) is not the message's fault and becomes a 4xx.
 * Whatever was not accepted stays in the spool.
 */
static void
bs_deliver(struct bs_session *s, const char *raw_path)
{
	struct msg_policy pol = *s->relay->pol;
	struct msg_envelope *env;
	struct bs_slot *sl;
	struct sx_err ie;
	char **rcpts;
	size_t nrcpts;
	int fd, rc;

	sx_clear(&ie);
	if ((env = calloc(1, sizeof(*env))) == NULL || (sl = bs_slot_new(BS_SLOT_DATA)) == NULL) {
		free(env);
		sx_fail(&ie, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		bs_local_failure(s, &ie, NULL);
		return;
	}
	/* -f wins over MAIL FROM; the envelope is the caller's, never the headers'. */
	if (pol.envelope_from == NULL)
		pol.envelope_from = s->from;
	pol.read_recipients = 0;
	pol.ignore_dots = 1;
	if (bs_envelope_rcpts(s, &rcpts, &nrcpts) == -1) {
		free(env);
		bs_slot_free(sl);
		sx_fail(&ie, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		bs_local_failure(s, &ie, NULL);
		return;
	}
	pol.argv_rcpts = rcpts;
	pol.n_argv_rcpts = nrcpts;
	sl->env = env;
	if ((fd = open(raw_path, O_RDONLY | O_CLOEXEC)) == -1) {
		sx_fail(&ie, SX_LOCALIO, STAGE_INTAKE, "%s: %s", raw_path, strerror(errno));
		bs_local_failure(s, &ie, NULL);
		bs_slot_free(sl);
		return;
	}
	rc = msg_intake(fd, &pol, env, &ie);
	close(fd);
	if (rcpts != s->rcpts)
		free(rcpts);
	if (rc == -1) {
		bs_local_failure(s, &ie,
		    env->spool_path != NULL && s->relay->keep(s->relay->arg, env, &ie) == 0
			? env->spool_path
			: NULL);
		bs_slot_free(sl);
		return;
	}
	/* The callback ends the transaction, whatever happens. */
	s->upstream = 0;
	s->relay->data(s->relay->arg, env, s->fallback ? &s->cause : NULL, &sl->a);
	if (sl->a.pending) {
		/* Its verdict comes with the relay's next answers; the caller may go on. */
		bs_slot_push(s, sl);
		/* Each owes a spool descriptor and its memory: only so many at once. */
		if (++s->ndata >= BS_MAX_OWED)
			bs_sync(s);
		return;
	}
	bs_data_answered(s, env, &sl->a);
	sl->env = NULL;
	bs_slot_free(sl);
}

void
bs_data_answered(struct bs_session *s, struct msg_envelope *env, struct bs_answer *a)
{
	struct sx_err *re = &a->e;

	if (a->rc == 0) {
		bs_verdict(s, a->r.code, a->r.enhanced, a->r.text, NULL);
	} else if (a->rc == 1) {
		bs_pass(s, &a->r, 1); /* no recipient taken: nothing was kept */
	} else {
		if (re->cls == SX_OK)
			sx_fail(re, SX_INTERNAL, STAGE_NONE, "relay failed without a reason");
		if (re->reply_code >= 400 && re->reply_code <= 599 && re->stage >= STAGE_MAIL &&
		    re->stage <= STAGE_EOM)
			bs_verdict(s, re->reply_code, re->enhanced, re->reply, env->spool_path);
		else
			bs_local_failure(s, re, env->spool_path);
	}
	msg_envelope_free(env);
	free(env);
}

/*
 * The recipients the message goes with: those the relay accepted, and
 * (a BDAT caller does not wait for them) those of the current transaction
 * it has yet to answer; the relay's verdict covers only what it accepted.
 * *v is s->rcpts when nothing is owed, else a new array (its strings not
 * copied).  0, or -1 when out of memory.
 */
static int
bs_envelope_rcpts(struct bs_session *s, char ***v, size_t *n)
{
	const struct bs_slot *sl;
	size_t i, k = s->nrcpts;
	char **r;

	*v = s->rcpts;
	*n = s->nrcpts;
	if (s->npending == 0)
		return 0;
	if ((r = reallocarray(NULL, s->nrcpts + s->npending, sizeof(*r))) == NULL)
		return -1;
	if (s->nrcpts > 0)
		memcpy(r, s->rcpts, s->nrcpts * sizeof(*r));
	for (sl = s->slots; sl != NULL; sl = sl->next) {
		if (sl->kind != BS_SLOT_RCPT || sl->gen != s->gen)
			continue;
		for (i = 0; i < sl->nparts && k < s->nrcpts + s->npending; i++)
			if (sl->parts[i].a.pending || sl->parts[i].a.rc != 1)
				r[k++] = sl->parts[i].addr;
	}
	*v = r;
	*n = k;
	return 0;
}

/* The current message's chunks are gone (LAST, RSET, a new transaction). */
void
bs_bdat_drop(struct bs_session *s)
{
	if (s->bdat_open)
		spool_abort(&s->bdat);
	s->bdat_open = 0;
	s->bdat_size = 0;
	s->bdat_big = 0;
	sx_clear(&s->bdat_err);
}

/*
 * BDAT size [LAST] (RFC 3030): the chunk's octets are read whatever the
 * reply (the next command starts after them), kept raw (line ends as
 * sent, no dots to remove) in a file of the spool directory; at LAST the
 * message goes as one that ended with "." would.  A caller that pipelines
 * BDAT needs no reply before its next message: MAIL, RCPT and the message
 * go to the relay at once, its answers come back in order.
 */
int
bs_bdat(struct bs_session *s, char *args)
{
	unsigned long long n, chunk;
	char *end;
	size_t take;
	int last, r;

	if (*args < '0' || *args > '9') {
		bs_reply(s, 501, "5.5.4", "syntax: BDAT size [LAST]");
		return 1;
	}
	errno = 0;
	n = strtoull(args, &end, 10);
	if (errno != 0 || end - args > 20) {
		bs_reply(s, 501, "5.5.4", "syntax: BDAT size [LAST]");
		return 1;
	}
	while (*end == ' ')
		end++;
	last = strcasecmp(end, "LAST") == 0;
	if (!last && *end != '\0') {
		bs_reply(s, 501, "5.5.4", "syntax: BDAT size [LAST]");
		return 1;
	}
	if (s->have_mail && !s->bdat_open && s->bdat_err.cls == SX_OK &&
	    spool_create(s->relay->pol->spool_dir, &s->bdat, &s->bdat_err, STAGE_INTAKE) == 0)
		s->bdat_open = 1;
	for (chunk = n; n > 0;) {
		if (s->in_start == s->in_end && (r = bs_fill(s)) <= 0) {
			if (r == 0)
				sx_fail(s->e, SX_TEMP, STAGE_INTAKE,
				    "input ended inside BDAT: the message was not sent");
			return -1;
		}
		take = s->in_end - s->in_start;
		if (take > n)
			take = (size_t)n;
		if (s->bdat_size + take > s->max_size)
			s->bdat_big = 1;
		if (s->bdat_open && !s->bdat_big && s->bdat_err.cls == SX_OK)
			spool_write(&s->bdat, s->in + s->in_start, take, &s->bdat_err);
		s->bdat_size += take;
		s->in_start += take;
		n -= take;
	}
	if (!s->have_mail) {
		bs_reply(s, 503, "5.5.1", "need MAIL command");
		return 1;
	}
	if (s->nrcpts + s->npending == 0) {
		bs_reply(s, 554, "5.5.1", "no valid recipients");
		if (last)
			bs_reset(s);
		return 0;
	}
	if (!last) {
		bs_reply(s, 250, "2.0.0", "%llu octets received", chunk);
		return 0;
	}
	if (s->bdat_big)
		bs_reply(s, 552, "5.3.4", "message size exceeds the limit of %llu", s->max_size);
	else if (s->bdat_err.cls != SX_OK || !s->bdat_open) {
		if (s->bdat_err.cls == SX_OK)
			sx_fail(
			    &s->bdat_err, SX_INTERNAL, STAGE_INTAKE, "the chunks were not kept");
		bs_local_failure(s, &s->bdat_err, NULL);
	} else
		bs_deliver(s, s->bdat.tmp_path);
	bs_reset(s);
	return 0;
}

/* DATA: 354, the data, then the verdict.  -1 only when the session must end. */
int
bs_message(struct bs_session *s)
{
	struct spool_file raw;
	struct sx_err we;
	int too_big, rc;

	sx_clear(&we);
	/*
	 * The raw text goes to a temporary file in the spool directory (on
	 * disk, like the queue, not in memory) that is never committed.
	 */
	if (spool_create(s->relay->pol->spool_dir, &raw, &we, STAGE_INTAKE) == -1) {
		bs_local_failure(s, &we, NULL);
		return 0;
	}
	bs_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	rc = bs_data(s, &raw, &too_big, &we);
	if (rc == 0 && too_big)
		bs_reply(s, 552, "5.3.4", "message size exceeds the limit of %llu", s->max_size);
	else if (rc == 0 && we.cls != SX_OK)
		bs_local_failure(s, &we, NULL);
	else if (rc == 0)
		bs_deliver(s, raw.tmp_path);
	spool_abort(&raw);
	bs_reset(s);
	return rc;
}
