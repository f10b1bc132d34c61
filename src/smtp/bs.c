/*
 * bs.c — the SMTP server side for "-bs" (see bs.h): the session, its input
 * and replies, and the command loop.  MAIL and RCPT are in bs_envelope.c;
 * bs_data.c takes the data after DATA and answers it.
 *
 * Input goes through one fixed buffer: commands are cut at LF (a CR before
 * it is dropped), so pipelined commands are answered in order whatever the
 * read boundaries, and nothing of a command spills into the next.  Memory
 * does not grow with garbage input.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp/bs_int.h"

#define BS_TEXT 1000 /* longest reply line we write, without CRLF */

static int bs_readline(struct bs_session *, size_t *, int *);
static void bs_ehlo(struct bs_session *);
static void bs_emit(struct bs_session *, const char *);

/*
 * One reply line.  The enhanced code goes out only after EHLO (RFC 2034:
 * the extension exists only for a client that saw it advertised).  The
 * text is sanitised: a relay's reply or a path cannot inject a line.
 */
void
bs_reply(struct bs_session *s, int code, const char *enh, const char *fmt, ...)
{
	char raw[BS_TEXT], text[BS_TEXT], line[BS_TEXT + 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sx_sanitize(text, sizeof(text), raw, strlen(raw), 0);
	if (s->esmtp && enh != NULL)
		snprintf(line, sizeof(line), "%03d %.16s %s\r\n", code, enh, text);
	else
		snprintf(line, sizeof(line), "%03d %s\r\n", code, text);
	bs_emit(s, line);
}

/*
 * Reply text goes out at once, unless replies the relay owes come before
 * it: then it waits its turn.
 */
static void
bs_emit(struct bs_session *s, const char *text)
{
	struct bs_slot *sl;

	if (s->slots != NULL && !s->resolving) {
		if ((sl = bs_slot_new(BS_SLOT_TEXT)) != NULL && (sl->text = strdup(text)) != NULL) {
			bs_slot_push(s, sl);
			return;
		}
		bs_slot_free(sl);
		/* No room to keep it: what is owed first, then this, in order. */
		bs_sync(s);
	}
	fputs(text, s->out);
}

struct bs_slot *
bs_slot_new(enum bs_slot_kind kind)
{
	struct bs_slot *sl = calloc(1, sizeof(*sl));

	if (sl != NULL)
		sl->kind = kind;
	return sl;
}

void
bs_slot_push(struct bs_session *s, struct bs_slot *sl)
{
	sl->gen = s->gen;
	sl->next = NULL;
	*s->slots_tail = sl;
	s->slots_tail = &sl->next;
}

void
bs_slot_free(struct bs_slot *sl)
{
	size_t i;

	if (sl == NULL)
		return;
	for (i = 0; i < sl->nparts; i++)
		free(sl->parts[i].addr);
	free(sl->parts);
	free(sl->text);
	if (sl->env != NULL) {
		msg_envelope_free(sl->env);
		free(sl->env);
	}
	free(sl);
}

/*
 * Have the relay answer everything it owes, and write the replies in
 * order: each turned into text now, and into the transaction's state when
 * it answers the current transaction.
 */
void
bs_sync(struct bs_session *s)
{
	struct bs_slot *sl;

	if (s->slots == NULL)
		return;
	if (s->relay->sync != NULL)
		s->relay->sync(s->relay->arg);
	s->resolving = 1;
	while ((sl = s->slots) != NULL) {
		s->slots = sl->next;
		switch (sl->kind) {
		case BS_SLOT_TEXT:
			fputs(sl->text, s->out);
			break;
		case BS_SLOT_MAIL:
			bs_mail_answered(s, &sl->a, sl->gen == s->gen);
			break;
		case BS_SLOT_RCPT:
			bs_rcpt_answered(s, sl->parts, sl->nparts, sl->gen == s->gen);
			break;
		case BS_SLOT_DATA:
			bs_data_answered(s, sl->env, &sl->a);
			sl->env = NULL;
			break;
		}
		bs_slot_free(sl);
	}
	s->slots_tail = &s->slots;
	s->resolving = 0;
	s->ndata = 0;
}

/*
 * Read more input.  Replies are flushed first: the caller may be waiting
 * for them before it sends more (and with pipelining it gets them in one
 * batch).  1: bytes read; 0: end of input; -1: error (s->e filled).
 */
int
bs_fill(struct bs_session *s)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	/*
	 * The caller may be waiting for what the relay owes: have it answered
	 * first.  Unless more of its input is on the way (a caller streaming
	 * pipelined messages): a moment's wait for it costs less than a round
	 * trip to the relay.
	 */
	if (s->slots != NULL && !s->eof) {
		pfd.fd = s->in_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, BS_STREAM_MS) <= 0)
			bs_sync(s);
	}
	if (fflush(s->out) == EOF || ferror(s->out))
		return sx_fail(
		    s->e, SX_LOCALIO, STAGE_INTAKE, "cannot write replies: %s", strerror(errno));
	if (s->eof)
		return 0;
	if (s->in_start > 0) {
		memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
		s->in_end -= s->in_start;
		s->in_start = 0;
	}
	pfd.fd = s->in_fd;
	pfd.events = POLLIN;
	for (;;) {
		r = poll(&pfd, 1, s->idle_ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return sx_fail(s->e, SX_LOCALIO, STAGE_INTAKE, "poll: %s", strerror(errno));
		if (r == 0) {
			bs_reply(s, 421, "4.4.2", "idle for too long, closing");
			fflush(s->out);
			return sx_fail(s->e, SX_TEMP, STAGE_INTAKE,
			    "no input for %d s: session closed", s->idle_ms / 1000);
		}
		n = read(s->in_fd, s->in + s->in_end, sizeof(s->in) - s->in_end);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1)
			return sx_fail(s->e, SX_LOCALIO, STAGE_INTAKE, "cannot read input: %s",
			    strerror(errno));
		if (n == 0) {
			s->eof = 1;
			return 0;
		}
		s->in_end += (size_t)n;
		return 1;
	}
}

/*
 * One command line into s->line without its CR LF.  A line longer than
 * the buffer is read to its end and dropped (*toolong), so the next
 * command starts where the caller meant it to.  1: a line; 0: end of input
 * (a last line without LF is not a command); -1: error.
 */
static int
bs_readline(struct bs_session *s, size_t *len, int *toolong)
{
	size_t n = 0;
	char *nl;
	int r;

	*toolong = 0;
	for (;;) {
		size_t avail = s->in_end - s->in_start, take;

		nl = memchr(s->in + s->in_start, '\n', avail);
		take = nl != NULL ? (size_t)(nl - (s->in + s->in_start)) : avail;
		if (n + take > sizeof(s->line) - 1) {
			*toolong = 1;
			n = 0;
		} else if (!*toolong) {
			memcpy(s->line + n, s->in + s->in_start, take);
			n += take;
		}
		if (nl != NULL) {
			s->in_start += take + 1;
			break;
		}
		s->in_start = s->in_end;
		if ((r = bs_fill(s)) <= 0)
			return r;
	}
	if (n > 0 && s->line[n - 1] == '\r')
		n--;
	/* Trailing blanks are harmless noise some clients send. */
	while (n > 0 && (s->line[n - 1] == ' ' || s->line[n - 1] == '\t'))
		n--;
	s->line[n] = '\0';
	*len = n;
	return 1;
}

void
bs_reset(struct bs_session *s)
{
	size_t i;

	if (s->upstream && s->relay->rset != NULL)
		s->relay->rset(s->relay->arg);
	s->upstream = 0;
	s->fallback = 0;
	s->body8 = 0;
	s->npending = 0;
	s->gen++;
	sx_clear(&s->cause);
	bs_bdat_drop(s);

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	free(s->from);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->from = NULL;
	s->have_mail = 0;
	s->smtputf8 = 0;
}

static void
bs_ehlo(struct bs_session *s)
{
	char host[256], text[512];
	const char *h = s->relay->hostname != NULL ? s->relay->hostname : "localhost";

	sx_sanitize(host, sizeof(host), h, strlen(h), 0);
	snprintf(text, sizeof(text),
	    "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n",
	    host, s->max_size);
	bs_emit(s, text);
}

int
bs_run(int in_fd, FILE *out, const struct bs_relay *relay, struct sx_err *e)
{
	struct bs_session *s;
	size_t len = 0;
	int toolong, r, rc = -1;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	s->relay = relay;
	s->slots_tail = &s->slots;
	s->out = out;
	s->e = e;
	s->in_fd = in_fd;
	s->idle_ms = relay->idle_ms > 0 ? relay->idle_ms : BS_IDLE_DEFAULT;
	s->max_size = relay->max_size > 0 ? relay->max_size : BS_SIZE_DEFAULT;
	bs_reply(s, 220, NULL, "%s ESMTP smtps-send",
	    relay->hostname != NULL ? relay->hostname : "localhost");
	for (;;) {
		char *line = s->line, *args;
		int bad = 1;

		if ((r = bs_readline(s, &len, &toolong)) == -1)
			goto out;
		if (r == 0)
			break;
		args = line + (len > 4 && line[4] == ' ' ? 5 : len);
		if (toolong || (len > BS_CMD_MAX - 2 && strncasecmp(line, "MAIL ", 5) != 0 &&
				   strncasecmp(line, "RCPT ", 5) != 0))
			bs_reply(s, 500, "5.5.2", "line too long");
		else if (memchr(line, '\0', len) != NULL)
			bs_reply(s, 500, "5.5.2", "NUL byte in the command");
		else if (strcasecmp(line, "STARTTLS") == 0)
			bs_reply(s, 502, "5.5.1", "not offered: the caller is local");
		else if (len != 4 && (len < 5 || line[4] != ' '))
			bs_reply(s, 500, "5.5.2", "command not recognised");
		else if (strncasecmp(line, "HELO", 4) == 0 || strncasecmp(line, "EHLO", 4) == 0) {
			if (*args == '\0') {
				bs_reply(s, 501, "5.5.4", "syntax: %.4s hostname", line);
			} else {
				bs_reset(s);
				s->esmtp = toupper((unsigned char)line[0]) == 'E';
				if (s->esmtp)
					bs_ehlo(s);
				else
					bs_reply(s, 250, NULL, "%s",
					    relay->hostname != NULL ? relay->hostname
								    : "localhost");
				bad = 0;
			}
		} else if (strncasecmp(line, "MAIL", 4) == 0)
			bad = bs_mail(s, args) == -1;
		else if (strncasecmp(line, "RCPT", 4) == 0)
			bad = bs_rcpt(s, args) == -1;
		else if (strncasecmp(line, "DATA", 4) == 0) {
			/* Its 354 depends on what the relay made of MAIL and RCPT. */
			bs_sync(s);
			if (*args != '\0')
				bs_reply(s, 501, "5.5.4", "syntax: DATA takes no argument");
			else if (!s->have_mail)
				bs_reply(s, 503, "5.5.1", "need MAIL command");
			else if (s->nrcpts == 0)
				bs_reply(s, 554, "5.5.1", "no valid recipients");
			else {
				if (bs_message(s) == -1)
					goto out;
				bad = 0;
			}
		} else if (strncasecmp(line, "BDAT", 4) == 0) {
			if ((r = bs_bdat(s, args)) == -1)
				goto out;
			bad = r == 1;
		} else if (strncasecmp(line, "RSET", 4) == 0) {
			if (*args != '\0') {
				bs_reply(s, 501, "5.5.4", "syntax: RSET takes no argument");
			} else {
				bs_reset(s);
				bs_reply(s, 250, "2.0.0", "Ok");
				bad = 0;
			}
		} else if (strncasecmp(line, "NOOP", 4) == 0) {
			bs_reply(s, 250, "2.0.0", "Ok");
			bad = 0;
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			bs_reply(s, 221, "2.0.0", "Bye");
			break;
		} else if (strncasecmp(line, "VRFY", 4) == 0) {
			if (*args == '\0') {
				bs_reply(s, 501, "5.5.4", "syntax: VRFY address");
			} else {
				bs_reply(s, 252, "2.5.0",
				    "cannot verify, but will take the message and try to deliver "
				    "it");
				bad = 0;
			}
		} else if (strncasecmp(line, "HELP", 4) == 0) {
			bs_reply(s, 214, "2.0.0",
			    "commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
			bad = 0;
		} else if (strncasecmp(line, "EXPN", 4) == 0 || strncasecmp(line, "AUTH", 4) == 0 ||
			   strncasecmp(line, "ETRN", 4) == 0 || strncasecmp(line, "TURN", 4) == 0)
			bs_reply(s, 502, "5.5.1", "command not implemented");
		else
			bs_reply(s, 500, "5.5.2", "command not recognised");
		s->errors = bad ? s->errors + 1 : 0;
		if (s->errors >= BS_MAX_ERRORS) {
			bs_reply(s, 421, "4.7.0", "too many errors, closing");
			sx_fail(e, SX_PROTO, STAGE_INTAKE,
			    "the caller sent %d bad commands in a row", BS_MAX_ERRORS);
			goto out;
		}
	}
	rc = 0;
out:
	/* Every reply the relay owes goes out first. */
	bs_sync(s);
	/* QUIT ends any open transaction: no RSET first. */
	s->upstream = 0;
	if (relay->close != NULL)
		relay->close(relay->arg);
	if ((fflush(out) == EOF || ferror(out)) && rc == 0)
		rc = sx_fail(
		    e, SX_LOCALIO, STAGE_INTAKE, "cannot write replies: %s", strerror(errno));
	bs_reset(s);
	if (s->aliases_loaded)
		alias_free(&s->aliases);
	free(s);
	return rc;
}
