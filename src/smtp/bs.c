/*
 * bs.c — the SMTP server side for "-bs" (see bs.h).
 *
 * Input goes through one fixed buffer: commands are cut at LF (a CR before
 * it is dropped), so pipelined commands are answered in order whatever the
 * read boundaries, and nothing of a command spills into the next.  The
 * data phase is a byte state machine over the same buffer that writes the
 * dot-unstuffed text to a raw spool file; msg_intake then reads that file
 * so a message from -bs gets exactly the processing of one from stdin.
 * Memory does not grow with the message or with garbage input.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "msg/address.h"
#include "msg/aliases.h"
#include "msg/qualify.h"
#include "smtp/bs.h"
#include "store/spool.h"

#define BS_INBUF  16384
#define BS_OUTBUF 65536
#define BS_TEXT   1000 /* longest reply line we write, without CRLF */

struct bs_session {
	const struct bs_relay *relay;
	FILE *out;
	struct sx_err *e;
	int in_fd;
	int idle_ms;
	char in[BS_INBUF];
	size_t in_start, in_end;
	int eof;
	int esmtp;                   /* EHLO seen: enhanced status codes */
	unsigned long long max_size; /* SIZE: what we take and advertise */
	unsigned errors;             /* bad commands in a row */
	/* The transaction. */
	int have_mail;
	char *from; /* "" for the null sender */
	char **rcpts;
	size_t nrcpts;
	int smtputf8;
	int body8;                  /* BODY=8BITMIME */
	int upstream;               /* the relay has this transaction open */
	int fallback;               /* no relay took it: the message will only be kept */
	struct sx_err cause;        /* why, with fallback */
	struct alias_table aliases; /* loaded at the first unqualified RCPT */
	int aliases_loaded;
	char line[BS_ADDR_CMD_MAX + 1];
};

/* A line ending in the data phase; what may follow decides the end. */
enum bs_dstate { BS_D_BOL = 0, BS_D_MID, BS_D_DOT, BS_D_DOTCR };

static void bs_reply(struct bs_session *, int, const char *, const char *, ...)
    __attribute__((__format__(printf, 4, 5)));
static int bs_fill(struct bs_session *);
static int bs_readline(struct bs_session *, size_t *, int *);
static void bs_reset(struct bs_session *);
static int bs_path(struct bs_session *, char *, int, char **, char **);
static int bs_mail(struct bs_session *, char *);
static int bs_rcpt(struct bs_session *, char *);
static int bs_data(struct bs_session *, struct spool_file *, int *, struct sx_err *);
static void bs_verdict(struct bs_session *, int, const char *, const char *, const char *);
static void bs_pass(struct bs_session *, const struct smtp_reply *, int);
static void bs_fallback(struct bs_session *, const struct sx_err *, const char *);
static void bs_deliver(struct bs_session *, const char *);
static int bs_message(struct bs_session *);
static void bs_ehlo(struct bs_session *);

/*
 * One reply line.  The enhanced code goes out only after EHLO (RFC 2034:
 * the extension exists only for a client that saw it advertised).  The
 * text is sanitised: a relay's reply or a path cannot inject a line.
 */
static void
bs_reply(struct bs_session *s, int code, const char *enh, const char *fmt, ...)
{
	char raw[BS_TEXT], text[BS_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sx_sanitize(text, sizeof(text), raw, strlen(raw), 0);
	if (s->esmtp && enh != NULL)
		fprintf(s->out, "%03d %s %s\r\n", code, enh, text);
	else
		fprintf(s->out, "%03d %s\r\n", code, text);
}

/*
 * Read more input.  Replies are flushed first: the caller may be waiting
 * for them before it sends more (and with pipelining it gets them in one
 * batch).  1: bytes read; 0: end of input; -1: error (s->e filled).
 */
static int
bs_fill(struct bs_session *s)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

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

static void
bs_reset(struct bs_session *s)
{
	size_t i;

	if (s->upstream && s->relay->rset != NULL)
		s->relay->rset(s->relay->arg);
	s->upstream = 0;
	s->fallback = 0;
	s->body8 = 0;
	sx_clear(&s->cause);

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

/*
 * The path after "FROM:" or "TO:": <mailbox>, <> (empty: *addr is ""), a
 * source route "<@a,@b:mailbox>" (dropped, RFC 5321 4.1.1.3), or a bare
 * mailbox, which lenient servers take too.  The mailbox is only cut out
 * here; the caller checks it.  *params: the rest after one or more spaces.
 * 0, or -1 after a 501 reply.
 */
static int
bs_path(struct bs_session *s, char *p, int rcpt, char **addr, char **params)
{
	const char *enh = rcpt ? "5.1.3" : "5.1.7";
	char *end, *colon;
	int quoted = 0;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		for (end = ++p; *end != '\0'; end++) {
			if (quoted && *end == '\\' && end[1] != '\0')
				end++;
			else if (*end == '"')
				quoted = !quoted;
			else if (!quoted && *end == '>')
				break;
		}
		if (*end != '>') {
			bs_reply(s, 501, enh, "syntax: missing '>' in the address");
			return -1;
		}
		*end++ = '\0';
		if (*p == '@') {
			if ((colon = strchr(p, ':')) == NULL) {
				bs_reply(s, 501, enh, "syntax: bad source route");
				return -1;
			}
			p = colon + 1;
		}
	} else {
		end = p + strcspn(p, " ");
		if (*end != '\0')
			*end++ = '\0';
	}
	if (*end != '\0' && *end != ' ') {
		bs_reply(s, 501, enh, "syntax: text after the address");
		return -1;
	}
	while (*end == ' ')
		end++;
	*addr = p;
	*params = end;
	return 0;
}

/* MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8] */
static int
bs_mail(struct bs_session *s, char *args)
{
	char *addr, *params, *kw, *val;
	unsigned long long size = 0, limit = 0;
	int utf8 = 0, body8 = 0, unq = 0, rc;
	char *q;
	struct smtp_message m;
	struct smtp_reply r;
	struct sx_err e;
	const char *ef = s->relay->pol->envelope_from;

	if (s->have_mail) {
		bs_reply(s, 503, "5.5.1", "nested MAIL command");
		return -1;
	}
	if (strncasecmp(args, "FROM:", 5) != 0) {
		bs_reply(s, 501, "5.5.4", "syntax: MAIL FROM:<address>");
		return -1;
	}
	if (bs_path(s, args + 5, 0, &addr, &params) == -1)
		return -1;
	while ((kw = strsep(&params, " ")) != NULL) {
		if (*kw == '\0')
			continue;
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(kw, "SIZE") == 0 && val != NULL) {
			size_t i, n = strlen(val);

			if (n == 0 || n > 20 || strspn(val, "0123456789") != n) {
				bs_reply(s, 501, "5.5.4", "syntax: SIZE=number");
				return -1;
			}
			for (size = 0, i = 0; i < n && size <= s->max_size; i++) {
				if (size > (ULLONG_MAX - 9) / 10) {
					size = ULLONG_MAX;
					break;
				}
				size = size * 10 + (unsigned)(val[i] - '0');
			}
			if (size > s->max_size) {
				bs_reply(s, 552, "5.3.4", "message size exceeds the limit of %llu",
				    s->max_size);
				return -1;
			}
		} else if (strcasecmp(kw, "BODY") == 0 && val != NULL) {
			/* Passed on; the intake looks at the bytes themselves. */
			if (strcasecmp(val, "7BIT") != 0 && strcasecmp(val, "8BITMIME") != 0) {
				bs_reply(s, 501, "5.5.4", "syntax: BODY=7BIT or BODY=8BITMIME");
				return -1;
			}
			body8 = strcasecmp(val, "8BITMIME") == 0;
		} else if (strcasecmp(kw, "SMTPUTF8") == 0 && val == NULL) {
			utf8 = 1;
		} else {
			bs_reply(s, 555, "5.5.4", "unsupported MAIL parameter");
			return -1;
		}
	}
	if (*addr != '\0' && (unq = addr_check_mailbox(addr, NULL)) == -1) {
		bs_reply(s, 501, "5.1.7", "bad sender address syntax");
		return -1;
	}
	if (!utf8 && !addr_is_ascii(addr)) {
		bs_reply(s, 553, "5.6.7", "a non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
		return -1;
	}
	/* The relay sees MAIL FROM now: an unqualified name is qualified here. */
	if (unq == 1 && ef == NULL) {
		const struct msg_policy *p = s->relay->pol;
		struct qualify qf;
		const char *dom;

		/* As the intake qualifies a sender (qualify.h); admin_address is for recipients. */
		qualify_init(&qf, NULL, p->default_domain, p->account_from, p->account_user, NULL);
		dom = qualify_sender_domain(&qf, p->hostname);
		q = NULL;
		if (dom == NULL)
			bs_reply(
			    s, 451, "4.3.0", "sender address has no domain: %s", qualify_hint(0));
		else if (asprintf(&q, "%s@%s", addr, dom) == -1) {
			q = NULL;
			bs_reply(s, 451, "4.3.0", "out of memory");
		}
		qualify_free(&qf);
		if (q == NULL)
			return -1;
		if (addr_check_mailbox(q, NULL) != 0) {
			free(q);
			bs_reply(s, 553, "5.1.7", "sender address too long once qualified");
			return -1;
		}
		s->from = q;
	} else if ((s->from = strdup(addr)) == NULL) {
		bs_reply(s, 451, "4.3.0", "out of memory");
		return -1;
	}
	/* -f wins over MAIL FROM, upstream as in the intake. */
	memset(&m, 0, sizeof(m));
	m.from = ef == NULL ? s->from : strcmp(ef, "<>") == 0 ? "" : ef;
	m.size = size;
	m.body_8bit = body8;
	m.needs_smtputf8 = utf8;
	m.body_fd = -1;
	memset(&r, 0, sizeof(r));
	sx_clear(&e);
	rc = s->relay->mail(s->relay->arg, &m, &r, &limit, &e);
	/* Later messages are held to the relay's own limit. */
	if (limit > 0 && limit < s->max_size)
		s->max_size = limit;
	if (rc == 1) {
		free(s->from);
		s->from = NULL;
		bs_pass(s, &r, 1);
		return 0; /* the relay's verdict, not the caller's mistake */
	}
	s->have_mail = 1;
	s->smtputf8 = utf8;
	s->body8 = body8;
	if (rc == 0) {
		s->upstream = 1;
		bs_pass(s, &r, 0);
	} else {
		bs_fallback(s, &e, "2.1.0");
	}
	return 0;
}

/*
 * RCPT TO:<mailbox>: checked here, then judged by the relay.  An
 * unqualified name is resolved first, as the intake would (aliases, then
 * default_domain), so the relay sees the addresses the message goes to;
 * the caller gets one reply: an acceptance if any of them was accepted,
 * else the relay's first refusal.
 */
static int
bs_rcpt(struct bs_session *s, char *args)
{
	const struct msg_policy *p = s->relay->pol;
	char *addr, *params, **nv;
	struct smtp_reply r, refusal;
	struct qualify qf;
	struct addr_list list;
	struct sx_err e;
	size_t i, added = 0;
	int rc, unq, lost = 0, ret = -1;

	if (!s->have_mail) {
		bs_reply(s, 503, "5.5.1", "need MAIL command");
		return -1;
	}
	if (strncasecmp(args, "TO:", 3) != 0) {
		bs_reply(s, 501, "5.5.4", "syntax: RCPT TO:<address>");
		return -1;
	}
	if (bs_path(s, args + 3, 1, &addr, &params) == -1)
		return -1;
	if (*params != '\0') {
		bs_reply(s, 555, "5.5.4", "unsupported RCPT parameter");
		return -1;
	}
	if (*addr == '\0' || (unq = addr_check_mailbox(addr, NULL)) == -1) {
		bs_reply(s, 501, "5.1.3", "bad recipient address syntax");
		return -1;
	}
	if (!s->smtputf8 && !addr_is_ascii(addr)) {
		bs_reply(s, 553, "5.6.7", "a non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
		return -1;
	}
	if (s->nrcpts >= BS_MAX_RCPTS) {
		bs_reply(s, 452, "4.5.3", "too many recipients (at most %d)", BS_MAX_RCPTS);
		return -1;
	}
	memset(&list, 0, sizeof(list));
	memset(&qf, 0, sizeof(qf));
	memset(&refusal, 0, sizeof(refusal));
	memset(&r, 0, sizeof(r));
	sx_clear(&e);
	if (unq == 1 && !s->aliases_loaded && s->relay->pol->aliases_file != NULL &&
	    *s->relay->pol->aliases_file != '\0') {
		if (alias_load(s->relay->pol->aliases_file, &s->aliases, &e) == -1) {
			alias_free(&s->aliases);
			bs_reply(s, 451, "4.3.0", "aliases: %.300s", e.detail);
			return 0;
		}
		s->aliases_loaded = 1;
	}
	if (unq == 1 && qualify_init(&qf, p->admin_address, p->default_domain, p->account_from,
			    p->account_user, &e) == -1) {
		bs_reply(s, 451, "4.3.0", "%.300s", e.detail);
		goto out;
	}
	if (alias_resolve(s->aliases_loaded ? &s->aliases : NULL, &qf, addr, unq == 1, &list, &e) ==
	    -1) {
		if (e.cls == SX_DATA)
			bs_reply(s, 553, "5.1.3", "%.300s", e.detail);
		else
			bs_reply(s, 451, "4.3.0", "%.300s", e.detail);
		goto out;
	}
	/* No setting qualifies it: the configuration's fault, so a temporary failure. */
	for (i = 0; i < list.n; i++)
		if (list.v[i].unqualified) {
			bs_reply(s, 451, "4.3.0", "recipient '%.100s' has no domain: %s",
			    list.v[i].spec, qualify_hint(1));
			goto out;
		}
	for (i = 0; i < list.n && s->nrcpts < BS_MAX_RCPTS; i++) {
		const char *a = list.v[i].spec;

		if ((nv = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*nv))) == NULL)
			break;
		s->rcpts = nv;
		if ((s->rcpts[s->nrcpts] = strdup(a)) == NULL)
			break;
		if (s->fallback) {
			s->nrcpts++;
			added++;
			continue;
		}
		sx_clear(&e);
		rc = s->relay->rcpt(s->relay->arg, a, &r, &e);
		if (rc == 1) {
			free(s->rcpts[s->nrcpts]);
			if (refusal.code == 0)
				refusal = r;
			continue;
		}
		s->nrcpts++;
		added++;
		if (rc == -1) {
			/* Lost on the way: the transaction is ours alone now. */
			s->upstream = 0;
			s->fallback = 1;
			s->cause = e;
			if (s->cause.cls == SX_OK)
				sx_fail(&s->cause, SX_INTERNAL, STAGE_RCPT,
				    "relay failed without a reason");
			lost = 1;
		}
	}
	ret = 0;
	if (added == 0 && refusal.code != 0)
		bs_pass(s, &refusal, 1);
	else if (added == 0)
		bs_reply(s, 451, "4.3.0", "out of memory");
	else if (lost)
		bs_fallback(s, &s->cause, "2.1.5");
	else if (s->fallback || r.code == 0)
		bs_reply(s, 250, "2.1.5", "Ok");
	else
		bs_pass(s, &r, 0);
out:
	qualify_free(&qf);
	addr_list_free(&list);
	return ret;
}

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
static void
bs_pass(struct bs_session *s, const struct smtp_reply *r, int refused)
{
	int code = r->code;

	if (refused && (code < 400 || code > 599))
		code = 451;
	bs_verdict(s, code, r->enhanced, r->text, NULL);
}

/* No relay for this transaction: taken anyway, to be kept in the queue. */
static void
bs_fallback(struct bs_session *s, const struct sx_err *e, const char *enh)
{
	s->fallback = 1;
	s->cause = *e;
	if (s->cause.cls == SX_OK)
		sx_fail(&s->cause, SX_INTERNAL, STAGE_NONE, "relay failed without a reason");
	bs_reply(s, 250, enh,
	    "Ok, but no relay (%s%s%.200s): the message will be kept in the queue",
	    s->cause.stage != STAGE_NONE ? sx_stage_name(s->cause.stage) : "",
	    s->cause.stage != STAGE_NONE ? ": " : "", s->cause.detail);
}

/*
 * Intake the raw data at raw_path and relay it; reply with the verdict.
 * A refusal of the envelope or the message is passed on as the relay gave
 * it; a failure before that (connect, TLS, AUTH) is not the message's
 * fault and becomes a 4xx.  Whatever was not accepted stays in the spool.
 */
static void
bs_deliver(struct bs_session *s, const char *raw_path)
{
	struct msg_policy pol = *s->relay->pol;
	struct msg_envelope env;
	struct smtp_reply final;
	struct sx_err ie, re;
	int fd, rc;

	memset(&env, 0, sizeof(env));
	memset(&final, 0, sizeof(final));
	sx_clear(&ie);
	sx_clear(&re);
	/* -f wins over MAIL FROM; the envelope is the caller's, never the headers'. */
	if (pol.envelope_from == NULL)
		pol.envelope_from = s->from;
	pol.read_recipients = 0;
	pol.ignore_dots = 1;
	pol.argv_rcpts = s->rcpts;
	pol.n_argv_rcpts = s->nrcpts;
	if ((fd = open(raw_path, O_RDONLY | O_CLOEXEC)) == -1) {
		sx_fail(&ie, SX_LOCALIO, STAGE_INTAKE, "%s: %s", raw_path, strerror(errno));
		bs_local_failure(s, &ie, NULL);
		return;
	}
	rc = msg_intake(fd, &pol, &env, &ie);
	close(fd);
	if (rc == -1) {
		bs_local_failure(s, &ie,
		    env.spool_path != NULL && s->relay->keep(s->relay->arg, &env, &ie) == 0
			? env.spool_path
			: NULL);
		goto out;
	}
	/* The callback ends the transaction, whatever happens. */
	s->upstream = 0;
	rc = s->relay->data(s->relay->arg, &env, s->fallback ? &s->cause : NULL, &final, &re);
	if (rc == 0) {
		bs_verdict(s, final.code, final.enhanced, final.text, NULL);
		goto out;
	}
	if (re.cls == SX_OK)
		sx_fail(&re, SX_INTERNAL, STAGE_NONE, "relay failed without a reason");
	if (re.reply_code >= 400 && re.reply_code <= 599 && re.stage >= STAGE_MAIL &&
	    re.stage <= STAGE_EOM)
		bs_verdict(s, re.reply_code, re.enhanced, re.reply, env.spool_path);
	else
		bs_local_failure(s, &re, env.spool_path);
out:
	msg_envelope_free(&env);
}

/* DATA: 354, the data, then the verdict.  -1 only when the session must end. */
static int
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

static void
bs_ehlo(struct bs_session *s)
{
	char host[256];
	const char *h = s->relay->hostname != NULL ? s->relay->hostname : "localhost";

	sx_sanitize(host, sizeof(host), h, strlen(h), 0);
	fprintf(s->out,
	    "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n",
	    host, s->max_size);
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
			    "commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
			bad = 0;
		} else if (strncasecmp(line, "EXPN", 4) == 0 || strncasecmp(line, "AUTH", 4) == 0 ||
			   strncasecmp(line, "BDAT", 4) == 0 || strncasecmp(line, "ETRN", 4) == 0 ||
			   strncasecmp(line, "TURN", 4) == 0)
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
