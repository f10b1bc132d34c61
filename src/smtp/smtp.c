/* smtp.c — reply parser, capabilities, command writer, session driver (see smtp.h). */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "msg/body.h"
#include "core/diag.h"
#include "core/sigflag.h"
#include "smtp/smtp.h"

/* Spool bytes read per chunk while streaming the body. */
#define SMTP_BODY_CHUNK (16 * 1024)
/* Spool bytes per BDAT chunk (at most twice that on the wire). */
#define SMTP_BDAT_CHUNK (128 * 1024)
/* BDAT replies we let pile up before reading one. */
#define SMTP_BDAT_INFLIGHT 8
/* Longest command we format (AUTH PLAIN with long credentials fits). */
#define SMTP_CMD_MAX 4096
/* How long QUIT may take on an error path. */
#define SMTP_QUIT_TIMEOUT_MS 2000

/* Chunked body for BDAT: reads ahead one chunk so the last one says LAST. */
struct smtp_chunker {
	struct body_enc enc;
	char *in, *out;
	size_t in_len, out_len;
	int eof;
};

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
};

int
smtp_parse_reply_line(const char *line, size_t len, int *code, int *last, const char **text)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3) {
		*last = 1;
		*text = line + 3;
		return 0;
	}
	if (line[3] != ' ' && line[3] != '-')
		return -1;
	*last = line[3] == ' ';
	*text = line + 4;
	return 0;
}

/* "X.Y.Z " at the start of text, with X matching the reply's class (RFC 3463). */
static size_t
smtp_enhanced_code(int code, const char *text, char *out, size_t outsz)
{
	size_t i = 0, parts = 0, digits = 0;

	if (text[0] != '0' + code / 100 || text[1] != '.')
		return 0;
	for (i = 0; text[i] != '\0' && text[i] != ' '; i++) {
		if (isdigit((unsigned char)text[i])) {
			if (++digits > 3)
				return 0;
		} else if (text[i] == '.' && digits > 0) {
			parts++;
			digits = 0;
		} else {
			return 0;
		}
	}
	if (parts != 2 || digits == 0 || i >= outsz)
		return 0;
	memcpy(out, text, i);
	out[i] = '\0';
	return i;
}

static int
smtp_read_reply_lines(struct conn *c, enum sx_stage st, struct smtp_reply *r, struct sx_err *e)
{
	char line[CONN_LINE_MAX + 2];
	size_t len, tlen = 0;
	int code, last = 0;
	const char *text;

	memset(r, 0, sizeof(*r));
	while (!last) {
		if (conn_readline(c, st, line, sizeof(line), &len, e) == -1)
			return -1;
		if (smtp_parse_reply_line(line, len, &code, &last, &text) == -1) {
			return sx_fail_reply(
			    e, SX_PROTO, st, 0, NULL, line, "malformed reply from server");
		}
		if (r->nlines == 0) {
			r->code = code;
			smtp_enhanced_code(code, text, r->enhanced, sizeof(r->enhanced));
		} else if (code != r->code) {
			return sx_fail_reply(e, SX_PROTO, st, code, NULL, r->text,
			    "reply lines carry different codes (%d, then %d)", r->code, code);
		}
		if (++r->nlines > SMTP_REPLY_MAX_LINES)
			return sx_fail(
			    e, SX_PROTO, st, "reply has more than %d lines", SMTP_REPLY_MAX_LINES);
		/* Keep what fits of the text; the reply itself is fully consumed. */
		if (tlen + 2 < sizeof(r->text)) {
			if (tlen > 0)
				r->text[tlen++] = '\n';
			tlen += strlcpy(r->text + tlen, text, sizeof(r->text) - tlen);
			if (tlen >= sizeof(r->text))
				tlen = sizeof(r->text) - 1;
		}
	}
	return 0;
}

int
smtp_read_reply(struct conn *c, enum sx_stage st, struct smtp_reply *r, struct sx_err *e)
{
	int rc;

	conn_reply_begin(c);
	rc = smtp_read_reply_lines(c, st, r, e);
	conn_reply_end(c);
	return rc;
}

/* Note one AUTH mechanism, each name once in the list. */
static void
smtp_caps_mech(struct smtp_caps *caps, const char *mech)
{
	char *p, *save = NULL, list[sizeof(caps->auth_list)];

	if (strcasecmp(mech, "PLAIN") == 0)
		caps->auth_plain = 1;
	else if (strcasecmp(mech, "LOGIN") == 0)
		caps->auth_login = 1;
	strlcpy(list, caps->auth_list, sizeof(list));
	for (p = strtok_r(list, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save))
		if (strcasecmp(p, mech) == 0)
			return;
	if (caps->auth_list[0] != '\0')
		strlcat(caps->auth_list, " ", sizeof(caps->auth_list));
	strlcat(caps->auth_list, mech, sizeof(caps->auth_list));
}

/*
 * One EHLO line: a keyword, then its parameters after a space -- or after
 * '=' in the pre-RFC 4954 form some servers still send for old clients
 * ("AUTH=LOGIN PLAIN").
 */
static void
smtp_caps_line(struct smtp_caps *caps, const char *line, size_t len)
{
	char kw[64], args[512];
	size_t klen = strcspn(line, " =");

	if (klen > len)
		klen = len;
	if (klen >= sizeof(kw))
		return;
	memcpy(kw, line, klen);
	kw[klen] = '\0';
	line += klen;
	len -= klen;
	if (len > 0) {
		line++;
		len--;
	}
	if (len >= sizeof(args))
		len = sizeof(args) - 1;
	memcpy(args, line, len);
	args[len] = '\0';

	if (strcasecmp(kw, "STARTTLS") == 0)
		caps->starttls = 1;
	else if (strcasecmp(kw, "PIPELINING") == 0)
		caps->pipelining = 1;
	else if (strcasecmp(kw, "8BITMIME") == 0)
		caps->eightbitmime = 1;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		caps->smtputf8 = 1;
	else if (strcasecmp(kw, "ENHANCEDSTATUSCODES") == 0)
		caps->enhancedstatuscodes = 1;
	else if (strcasecmp(kw, "CHUNKING") == 0)
		caps->chunking = 1;
	else if (strcasecmp(kw, "DSN") == 0)
		caps->dsn = 1;
	else if (strcasecmp(kw, "SIZE") == 0) {
		char *end;
		unsigned long long v;

		caps->size_offered = 1;
		errno = 0;
		v = strtoull(args, &end, 10);
		if (errno == 0 && end != args && isdigit((unsigned char)args[0]))
			caps->size = v;
	} else if (strcasecmp(kw, "AUTH") == 0) {
		char *tok, *save = NULL;

		caps->auth = 1;
		for (tok = strtok_r(args, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save))
			smtp_caps_mech(caps, tok);
	}
}

void
smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
	const char *line = r->text, *nl;

	memset(caps, 0, sizeof(*caps));
	caps->esmtp = 1;
	/* The first line is the server's greeting name, not a keyword. */
	while ((nl = strchr(line, '\n')) != NULL) {
		line = nl + 1;
		nl = strchr(line, '\n');
		smtp_caps_line(caps, line, nl != NULL ? (size_t)(nl - line) : strlen(line));
	}
}

int
smtp_cmd(struct conn *c, enum sx_stage st, int secret, struct sx_err *e, const char *fmt, ...)
{
	char buf[SMTP_CMD_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		return sx_fail(e, SX_DATA, st, "command too long");
	/* An argument must never end the command early or start another one. */
	if (strpbrk(buf, "\r\n") != NULL || strlen(buf) != (size_t)n)
		return sx_fail(
		    e, SX_DATA, st, "refusing to send a command containing CR, LF or NUL");
	buf[n++] = '\r';
	buf[n++] = '\n';
	n = conn_queue(c, st, buf, (size_t)n, secret ? CONN_WIRE_SECRET : CONN_WIRE_SHOW, e);
	explicit_bzero(buf, sizeof(buf));
	return n;
}

/*
 * Record a refusal: 4xx temporary, 5xx permanent (or the given class); a
 * 2xx or 3xx where it makes no sense is a protocol error, after which the
 * replies to a pipelined flight cannot be trusted to match their commands.
 */
static int
smtp_refused(
    struct smtp_session_state *s, const struct smtp_reply *r, enum sx_class perm, const char *what)
{
	enum sx_class cls = r->code >= 500 ? perm : r->code >= 400 ? SX_TEMP : SX_PROTO;
	const char *kind = r->code >= 400 ? "refused" : "unexpected reply to";

	if (cls == SX_PROTO)
		s->desync = 1;
	return sx_fail_reply(
	    s->e, cls, s->stage, r->code, r->enhanced, r->text, "%s %s (%d)", kind, what, r->code);
}

/*
 * Read the next reply.  One that cannot be read as a reply also puts the
 * replies out of step, whatever failed before it (the error keeps the
 * first cause).
 */
static int
smtp_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	struct sx_err re;

	sx_clear(&re);
	if (smtp_read_reply(s->c, s->stage, r, &re) == 0)
		return 0;
	if (re.cls == SX_PROTO)
		s->desync = 1;
	return sx_adopt(s->e, &re, s->stage);
}

static int
smtp_expect(struct smtp_session_state *s, struct smtp_reply *r, int want, enum sx_class perm,
    const char *what)
{
	if (conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1)
		return -1;
	if (r->code != want)
		return smtp_refused(s, r, perm, what);
	return 0;
}

static int
smtp_greeting(struct smtp_session_state *s)
{
	struct smtp_reply r;

	s->stage = STAGE_GREETING;
	if (smtp_reply(s, &r) == -1) {
		if (s->e->sys_errno == ETIMEDOUT && !conn_is_tls(s->c))
			sx_hint(s->e,
			    "no greeting: if port %u expects implicit TLS (like 465), use "
			    "tls implicit",
			    s->p->port);
		else if (s->e->cls == SX_PROTO && (unsigned char)s->e->reply[0] == '?')
			sx_hint(s->e, "the server may expect implicit TLS (like port 465)");
		return -1;
	}
	s->greeted = 1;
	if (r.code != 220) {
		smtp_refused(s, &r, SX_PERM, "connection at greeting");
		return -1;
	}
	diag_stage(s->diag, STAGE_GREETING, "%d %.200s", r.code, r.text);
	return 0;
}

/* "STARTTLS PIPELINING … SIZE 10240000 AUTH PLAIN LOGIN", for -v and --check. */
char *
smtp_caps_describe(const struct smtp_caps *caps, char *buf, size_t sz)
{
	static const struct {
		size_t off;
		const char *name;
	} flags[] = {
	    {offsetof(struct smtp_caps, starttls), "STARTTLS"},
	    {offsetof(struct smtp_caps, pipelining), "PIPELINING"},
	    {offsetof(struct smtp_caps, chunking), "CHUNKING"},
	    {offsetof(struct smtp_caps, eightbitmime), "8BITMIME"},
	    {offsetof(struct smtp_caps, smtputf8), "SMTPUTF8"},
	    {offsetof(struct smtp_caps, enhancedstatuscodes), "ENHANCEDSTATUSCODES"},
	    {offsetof(struct smtp_caps, dsn), "DSN"},
	};
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (*(const int *)(const void *)((const char *)caps + flags[i].off) == 0)
			continue;
		if (buf[0] != '\0')
			strlcat(buf, " ", sz);
		strlcat(buf, flags[i].name, sz);
	}
	if (caps->size_offered) {
		char size[32];

		snprintf(size, sizeof(size), "%sSIZE %llu", buf[0] != '\0' ? " " : "", caps->size);
		strlcat(buf, size, sz);
	}
	if (caps->auth) {
		strlcat(buf, buf[0] != '\0' ? " AUTH " : "AUTH ", sz);
		strlcat(buf, caps->auth_list, sz);
	}
	if (buf[0] == '\0')
		strlcpy(buf, "no extensions", sz);
	return buf;
}

static int
smtp_ehlo(struct smtp_session_state *s)
{
	struct smtp_reply r;
	char desc[256];

	s->stage = STAGE_EHLO;
	/* After STARTTLS the EHLO may leave before the certificate check (conn.h). */
	if (smtp_cmd(s->c, s->stage, 0, s->e, "EHLO %s", s->p->ehlo_name) == -1 ||
	    conn_flush_unverified(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
		return -1;
	if (r.code == 250) {
		smtp_caps_parse(&r, &s->r->caps);
		diag_stage(
		    s->diag, STAGE_EHLO, "%s", smtp_caps_describe(&s->r->caps, desc, sizeof(desc)));
		return 0;
	}
	/*
	 * HELO only where nothing EHLO would negotiate is required: no TLS and
	 * no AUTH (RFC 5321 4.1.4).
	 */
	if (r.code >= 500 && s->p->tls == TLS_MODE_OFF && s->p->user == NULL) {
		if (smtp_cmd(s->c, s->stage, 0, s->e, "HELO %s", s->p->ehlo_name) == -1 ||
		    smtp_expect(s, &r, 250, SX_PERM, "HELO") == -1)
			return -1;
		memset(&s->r->caps, 0, sizeof(s->r->caps));
		diag_stage(s->diag, STAGE_EHLO, "EHLO refused; HELO accepted (no extensions)");
		return 0;
	}
	return smtp_refused(s, &r, SX_PERM, "EHLO");
}

static int
smtp_starttls(struct smtp_session_state *s)
{
	struct smtp_reply r;
	int required = s->p->tls == TLS_MODE_STARTTLS;

	s->stage = STAGE_STARTTLS;
	if (!s->r->caps.starttls) {
		if (!required) {
			diag_stage(s->diag, STAGE_STARTTLS,
			    "not offered: continuing WITHOUT TLS (tls opportunistic)");
			return 0;
		}
		sx_fail(s->e, SX_TLS, STAGE_STARTTLS, "the server does not offer STARTTLS");
		sx_hint(s->e,
		    "TLS is required; if port %u uses implicit TLS (like 465) use tls "
		    "implicit; never send mail or passwords in cleartext",
		    s->p->port);
		return -1;
	}
	if (smtp_cmd(s->c, s->stage, 0, s->e, "STARTTLS") == -1 ||
	    conn_flush(s->c, s->stage, s->e) == -1)
		return -1;
	/* Build the ClientHello while the reply travels; it leaves after the 220. */
	conn_tls_prepare(s->c);
	if (smtp_reply(s, &r) == -1)
		return -1;
	if (r.code != 220) {
		if (!required && r.code >= 400 && r.code < 600) {
			diag_stage(s->diag, STAGE_STARTTLS,
			    "refused (%d): continuing WITHOUT TLS (tls opportunistic)", r.code);
			return 0;
		}
		/* 4xx: try again later; 5xx: no TLS here, which retrying will not change. */
		return smtp_refused(s, &r, SX_TLS, "STARTTLS");
	}
	s->stage = STAGE_TLS;
	if (conn_tls_start(s->c, s->e) == -1)
		return -1;
	/* RFC 3207 4.2: forget everything learnt before TLS and ask again. */
	s->auth_before_tls = s->r->caps.auth;
	memset(&s->r->caps, 0, sizeof(s->r->caps));
	return smtp_ehlo(s);
}

static int
smtp_auth_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	if (r->code == 235)
		return 0;
	sx_fail_reply(s->e,
	    r->code >= 400 && r->code < 500 ? SX_TEMP
	    : r->code >= 500                ? SX_AUTH
					    : SX_PROTO,
	    STAGE_AUTH, r->code, r->enhanced, r->text, "authentication as %s failed (%d)",
	    s->p->user, r->code);
	if (r->code == 535)
		sx_hint(s->e, "check user and password; providers such as Gmail require an app "
			      "password or OAuth2");
	else if (r->code == 534)
		sx_hint(s->e, "the provider wants a web login or an app password first");
	else if (r->code == 504)
		sx_hint(s->e, "the server does not support this mechanism; set auth on to pick "
			      "one it offers");
	return -1;
}

static int
smtp_auth(struct smtp_session_state *s)
{
	struct smtp_reply r;
	enum sasl_mech mech;
	char *b64 = NULL;
	int rc = -1;

	s->stage = STAGE_AUTH;
	if (s->p->user == NULL)
		return 0;
	/* Never a password in cleartext, unless the user turned TLS off and said so. */
	if (!conn_is_tls(s->c) && !(s->p->tls == TLS_MODE_OFF && s->p->auth_cleartext)) {
		sx_fail(s->e, SX_TLS, STAGE_AUTH, "refusing to authenticate without TLS");
		sx_hint(
		    s->e, s->p->tls == TLS_MODE_OPPORTUNISTIC
			      ? "the server offered no usable STARTTLS; use a port with TLS"
			      : "set tls off and auth_cleartext on only for a trusted local relay");
		return -1;
	}
	if (!s->r->caps.auth) {
		sx_fail(s->e, SX_PERM, STAGE_AUTH, "the server offers no authentication%s",
		    conn_is_tls(s->c) ? (s->auth_before_tls ? " after TLS (it did before)" : "")
				      : " (before TLS)");
		if (s->auth_before_tls)
			sx_hint(s->e, "AUTH offered only in cleartext is never used: the server is "
				      "misconfigured, or something rewrote its capabilities");
		else
			sx_hint(s->e, "this server may not need AUTH (remove user), or it offers "
				      "AUTH only after TLS");
		return -1;
	}
	mech = sasl_pick(s->p->mech, s->r->caps.auth_plain, s->r->caps.auth_login);
	if (mech == SASL_NONE) {
		sx_fail(s->e, SX_PERM, STAGE_AUTH,
		    "no supported authentication mechanism (server offers: %s)",
		    s->r->caps.auth_list);
		sx_hint(s->e, "smtps-send supports PLAIN and LOGIN");
		return -1;
	}
	s->r->mech = mech;
	if (mech == SASL_PLAIN) {
		/* RFC 4954 initial response: one round trip. */
		if (sasl_plain(s->p->user, s->p->secret != NULL ? s->p->secret : "", &b64, s->e) ==
			-1 ||
		    smtp_cmd(s->c, s->stage, 1, s->e, "AUTH PLAIN %s", b64) == -1 ||
		    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
			goto out;
		if (r.code == 334 && r.text[0] == '\0') {
			/* A server that ignored the initial response asks for it again. */
			if (smtp_cmd(s->c, s->stage, 1, s->e, "%s", b64) == -1 ||
			    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
				goto out;
		}
	} else {
		if (smtp_cmd(s->c, s->stage, 0, s->e, "AUTH LOGIN") == -1 ||
		    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
			goto out;
		if (r.code == 334) {
			if (sasl_base64(s->p->user, &b64, s->e) == -1 ||
			    smtp_cmd(s->c, s->stage, 1, s->e, "%s", b64) == -1 ||
			    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
				goto out;
			sasl_free(b64);
			b64 = NULL;
		}
		if (r.code == 334) {
			if (sasl_base64(s->p->secret != NULL ? s->p->secret : "", &b64, s->e) ==
				-1 ||
			    smtp_cmd(s->c, s->stage, 1, s->e, "%s", b64) == -1 ||
			    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
				goto out;
		}
	}
	if (smtp_auth_reply(s, &r) == -1)
		goto out;
	diag_stage(s->diag, STAGE_AUTH, "%s as %s: %d %.200s", sasl_name(mech), s->p->user, r.code,
	    r.text);
	rc = 0;
out:
	sasl_free(b64);
	return rc;
}

/* Refuse early what the server told us it cannot take. */
static int
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

static int
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

static int
smtp_queue_rcpt(struct smtp_session_state *s, size_t i)
{
	s->stage = STAGE_RCPT;
	if (s->r->caps.dsn && s->p->dsn_notify != NULL)
		return smtp_cmd(s->c, s->stage, 0, s->e, "RCPT TO:<%s> NOTIFY=%s", s->m->rcpts[i],
		    s->p->dsn_notify);
	return smtp_cmd(s->c, s->stage, 0, s->e, "RCPT TO:<%s>", s->m->rcpts[i]);
}

static int
smtp_mail_reply(struct smtp_session_state *s, const struct smtp_reply *r)
{
	if (r->code == 250) {
		diag_stage(s->diag, STAGE_MAIL, "<%s>: %d %.200s", s->m->from, r->code, r->text);
		return 0;
	}
	smtp_refused(s, r, SX_PERM, "sender");
	if (r->code == 530)
		sx_hint(s->e, "the server requires authentication: set user and a password");
	else if (r->code == 550 || r->code == 553 || r->code == 554)
		sx_hint(s->e,
		    "sender <%s> not allowed for this account: set from to the account's "
		    "address",
		    s->m->from);
	return -1;
}

/* Note one recipient's reply; refusals are judged once all are in. */
static void
smtp_rcpt_reply(struct smtp_session_state *s, size_t i, const struct smtp_reply *r,
    struct sx_err *first_refusal, size_t *ntemp)
{
	s->r->rcpt[i].code = r->code;
	sx_sanitize(
	    s->r->rcpt[i].text, sizeof(s->r->rcpt[i].text), r->text, strcspn(r->text, "\n"), 0);
	diag_stage(s->diag, STAGE_RCPT, "<%s>: %d %.200s", s->m->rcpts[i], r->code, r->text);
	if (r->code == 250 || r->code == 251) {
		s->r->naccepted++;
		return;
	}
	if (r->code >= 400 && r->code < 500)
		(*ntemp)++;
	sx_fail_reply(first_refusal, SX_PERM, STAGE_RCPT, r->code, r->enhanced, r->text,
	    "recipient <%s> refused (%d)", s->m->rcpts[i], r->code);
}

/* After every RCPT reply: may the transaction go on? */
static int
smtp_rcpt_verdict(struct smtp_session_state *s, const struct sx_err *first_refusal, size_t ntemp)
{
	size_t n = s->m->nrcpts, refused = n - s->r->naccepted;
	char detail[SX_DETAIL_MAX];
	enum sx_class cls;

	if (refused == 0)
		return 0;
	if (s->r->naccepted > 0 && s->p->allow_partial) {
		diag_stage(s->diag, STAGE_RCPT,
		    "%zu of %zu recipients refused; sending to the others (allow_partial)", refused,
		    n);
		return 0;
	}
	/* Anything temporary: try again later; all permanent: the recipients are bad. */
	cls = ntemp > 0 ? SX_TEMP : s->r->naccepted == 0 ? SX_NOUSER : SX_PERM;
	if (s->r->naccepted > 0)
		snprintf(detail, sizeof(detail),
		    "%zu of %zu recipients refused (first: %.300s); nothing was sent", refused, n,
		    first_refusal->detail);
	else if (n > 1)
		snprintf(detail, sizeof(detail), "all %zu recipients refused (first: %.300s)", n,
		    first_refusal->detail);
	else
		strlcpy(detail, first_refusal->detail, sizeof(detail));
	sx_fail_reply(s->e, cls, STAGE_RCPT, first_refusal->reply_code, first_refusal->enhanced,
	    first_refusal->reply, "%s", detail);
	if (s->r->naccepted > 0)
		sx_hint(s->e, "fix or remove the refused recipient, or set allow_partial on");
	return -1;
}

/*
 * MAIL and RCPT…, and the "tail" that opens the data (DATA, or the first
 * BDAT chunk).  With PIPELINING (RFC 2920) they leave in one flight when
 * tail_in_flight, and the replies are read in order; otherwise lockstep.
 * The tail's own reply is left for the caller to read.  0 when every
 * recipient (or, with allow_partial, at least one) was accepted.
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
		for (i = 0; i < s->m->nrcpts; i++)
			if (smtp_queue_rcpt(s, i) == -1)
				return -1;
		if (tail_in_flight && tail(s) == -1)
			return -1;
	}
	s->stage = STAGE_MAIL;
	if (conn_flush(s->c, s->stage, s->e) == -1)
		return -1;
	s->flight_sent = 1;
	if (smtp_reply(s, &r) == -1)
		return -1;
	mail_ok = smtp_mail_reply(s, &r) == 0;
	if (!mail_ok && !pipe)
		return -1;
	for (i = 0; i < s->m->nrcpts; i++) {
		s->stage = STAGE_RCPT;
		if (!pipe &&
		    (smtp_queue_rcpt(s, i) == -1 || conn_flush(s->c, s->stage, s->e) == -1))
			return -1;
		/* Pipelined: every queued command has a reply to read, refused or not. */
		if (smtp_reply(s, &r) == -1)
			return -1;
		if (mail_ok)
			smtp_rcpt_reply(s, i, &r, &first_refusal, &ntemp);
	}
	if (!mail_ok)
		return -1;
	return smtp_rcpt_verdict(s, &first_refusal, ntemp);
}

static int
smtp_queue_data(struct smtp_session_state *s)
{
	s->stage = STAGE_DATA;
	return smtp_cmd(s->c, s->stage, 0, s->e, "DATA");
}

/* Stream the spool through the encoder in large writes; memory stays flat. */
static int
smtp_send_body(struct smtp_session_state *s)
{
	char in[SMTP_BODY_CHUNK], out[BODY_ENC_MAX(SMTP_BODY_CHUNK) + BODY_ENC_TAIL];
	struct body_enc enc;
	size_t n;
	ssize_t got;

	s->stage = STAGE_BODY;
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
		if (conn_queue(s->c, s->stage, out, n, CONN_WIRE_QUIET, s->e) == -1)
			return -1;
	}
	n = body_enc_finish(&enc, out);
	s->r->body_bytes += n;
	if (conn_queue(s->c, s->stage, out, n, CONN_WIRE_SHOW, s->e) == -1)
		return -1;
	s->in_data = 0;
	return 0;
}

/* The final reply to the message (queue id); QUIT's reply may follow. */
static int
smtp_final_reply(struct smtp_session_state *s)
{
	int rc;

	s->stage = STAGE_EOM;
	sigflag_hold(1);
	rc = conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &s->r->final) == -1;
	sigflag_hold(0);
	if (rc) {
		if (s->e->sys_errno == ETIMEDOUT)
			sx_hint(s->e, "the server did not confirm the message; it may or may not "
				      "have been accepted");
		return -1;
	}
	if (s->r->final.code != 250)
		return smtp_refused(s, &s->r->final, SX_PERM, "the message");
	diag_stage(s->diag, STAGE_EOM, "%d %.300s (%llu bytes sent)", s->r->final.code,
	    s->r->final.text, s->r->body_bytes);
	return 0;
}

/*
 * DATA transaction.  DATA joins the MAIL/RCPT flight only when a refused
 * recipient cannot leave us holding a 354 we must not use: one recipient
 * (DATA then fails with it), or partial delivery allowed.
 */
static int
smtp_transaction_data(struct smtp_session_state *s)
{
	struct smtp_reply r;
	int in_flight = s->r->caps.pipelining && (s->m->nrcpts == 1 || s->p->allow_partial);
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
	if (s->r->caps.pipelining) {
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
	s->stage = STAGE_BODY;
	if (smtp_cmd(s->c, s->stage, 0, s->e, "BDAT %zu%s", ch->out_len, last ? " LAST" : "") == -1)
		return -1;
	s->r->body_bytes += ch->out_len;
	return conn_queue(s->c, s->stage, ch->out, ch->out_len, CONN_WIRE_QUIET, s->e);
}

/* The first chunk, as the tail of the envelope flight. */
static int
smtp_queue_first_chunk(struct smtp_session_state *s)
{
	if (smtp_queue_chunk(s, s->chunk, s->chunk_last) == -1)
		return -1;
	/* The whole message in the first flight: QUIT may close it (RFC 2920 3.1). */
	if (s->chunk_last && s->r->caps.pipelining) {
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
	if (smtp_reply(s, &r) == -1)
		return -1;
	if (r.code != 250)
		return smtp_refused(s, &r, SX_PERM, "a message chunk");
	return 0;
}

/*
 * BDAT transaction (RFC 3030).  The first chunk joins the MAIL/RCPT
 * flight.  When one refused recipient must stop the whole message (several
 * recipients, no allow_partial), no chunk says LAST: the data is committed
 * with "BDAT 0 LAST" only once every RCPT was accepted, and a refusal
 * leaves an uncommitted transaction that QUIT throws away.  With
 * PIPELINING chunks are not waited for; at most SMTP_BDAT_INFLIGHT replies
 * are outstanding.
 */
static int
smtp_transaction_bdat(struct smtp_session_state *s)
{
	struct smtp_chunker ch;
	int pipe = s->r->caps.pipelining;
	int hold = s->m->nrcpts > 1 && !s->p->allow_partial;
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
		if (!ok || smtp_queue_first_chunk(s) == -1 ||
		    conn_flush(s->c, s->stage, s->e) == -1)
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
		if (!pipe && conn_flush(s->c, s->stage, s->e) == -1)
			goto out;
		outstanding++;
	}
	if (pipe && !s->quit_sent) {
		s->stage = STAGE_QUIT;
		if (smtp_cmd(s->c, s->stage, 0, s->e, "QUIT") == -1)
			goto out;
		s->quit_sent = 1;
	}
	if (conn_flush(s->c, s->stage, s->e) == -1)
		goto out;
	for (; outstanding > 1; outstanding--)
		if (smtp_chunk_reply(s, 0) == -1)
			goto out;
	rc = smtp_chunk_reply(s, 1);
out:
	s->chunk = NULL;
	free(ch.in);
	free(ch.out);
	return rc;
}

/* QUIT on every path where the server can still read a command. */
static void
smtp_quit(struct smtp_session_state *s, int ok)
{
	struct smtp_reply r;
	struct sx_err ignored;

	sx_clear(&ignored);
	s->stage = STAGE_QUIT;
	if (!conn_is_open(s->c) || s->in_data)
		return;
	if (!s->quit_sent) {
		if (!ok)
			conn_discard(s->c);
		if (smtp_cmd(s->c, s->stage, 0, &ignored, "QUIT") == -1 ||
		    conn_flush(s->c, s->stage, &ignored) == -1)
			return;
		s->quit_sent = 1;
	}
	if (!ok)
		conn_set_timeout(s->c, SMTP_QUIT_TIMEOUT_MS);
	if (smtp_read_reply(s->c, s->stage, &r, &ignored) == 0)
		diag_stage(s->diag, STAGE_QUIT, "%d %.200s", r.code, r.text);
}

int
smtp_session(struct conn *c, const struct smtp_params *p, const struct smtp_message *m,
    struct smtp_result *res, struct sx_err *e)
{
	struct smtp_session_state s;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	s.c = c;
	s.p = p;
	s.m = m;
	s.r = res;
	s.e = e;
	s.diag = conn_diag(c);
	if (p->tls == TLS_MODE_IMPLICIT) {
		s.stage = STAGE_TLS;
		if (conn_tls_start(c, e) == -1)
			goto out;
	}
	if (smtp_greeting(&s) == -1)
		goto out;
	if (smtp_ehlo(&s) == -1)
		goto out;
	if ((p->tls == TLS_MODE_STARTTLS || p->tls == TLS_MODE_OPPORTUNISTIC) && !conn_is_tls(c) &&
	    smtp_starttls(&s) == -1)
		goto out;
	if (smtp_auth(&s) == -1)
		goto out;
	if (p->check_only || m == NULL) {
		rc = 0;
		goto out;
	}
	if (m->nrcpts == 0) {
		sx_fail(e, SX_USAGE, STAGE_RCPT, "no recipients");
		goto out;
	}
	if (smtp_check_message(&s) == -1)
		goto out;
	res->rcpt = calloc(m->nrcpts, sizeof(*res->rcpt));
	if (res->rcpt == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_MAIL, "out of memory");
		goto out;
	}
	if ((res->caps.chunking ? smtp_transaction_bdat(&s) : smtp_transaction_data(&s)) == -1)
		goto out;
	rc = 0;
out:
	if (s.greeted)
		smtp_quit(&s, rc == 0);
	return rc;
}

/*
 * The step-by-step client (smtp.h): the same state and checks as
 * smtp_session, driven one command at a time by a caller that speaks SMTP
 * itself (-bs), so the relay's verdict on each command reaches it.
 */
struct smtp_client {
	struct smtp_session_state s;
	struct smtp_message m; /* the current transaction */
	char *rcpt_one[1];
	int in_transaction;
};

static int
smtp_client_fail_reply(struct smtp_client *cl, const struct smtp_reply *r, const char *what)
{
	return smtp_refused(&cl->s, r, SX_PERM, what);
}

struct smtp_client *
smtp_client_open(
    struct conn *c, const struct smtp_params *p, struct smtp_result *res, struct sx_err *e)
{
	struct smtp_client *cl;

	memset(res, 0, sizeof(*res));
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONNECT, "out of memory");
		return NULL;
	}
	cl->s.c = c;
	cl->s.p = p;
	cl->s.r = res;
	cl->s.e = e;
	cl->s.diag = conn_diag(c);
	cl->s.stage = STAGE_TLS;
	if ((p->tls == TLS_MODE_IMPLICIT && conn_tls_start(c, e) == -1) ||
	    smtp_greeting(&cl->s) == -1 || smtp_ehlo(&cl->s) == -1 ||
	    ((p->tls == TLS_MODE_STARTTLS || p->tls == TLS_MODE_OPPORTUNISTIC) && !conn_is_tls(c) &&
		smtp_starttls(&cl->s) == -1) ||
	    smtp_auth(&cl->s) == -1) {
		if (cl->s.greeted)
			smtp_quit(&cl->s, 0);
		free(cl);
		return NULL;
	}
	return cl;
}

int
smtp_client_usable(const struct smtp_client *cl)
{
	return conn_is_open(cl->s.c) && !cl->s.in_data && !cl->s.quit_sent;
}

/* One command in lockstep; the reply goes to *r.  0, or -1 (e filled). */
static int
smtp_client_step(struct smtp_client *cl, struct smtp_reply *r, struct sx_err *e)
{
	cl->s.e = e;
	if (conn_flush(cl->s.c, cl->s.stage, e) == -1 || smtp_reply(&cl->s, r) == -1)
		return -1;
	return 0;
}

int
smtp_client_mail(
    struct smtp_client *cl, const struct smtp_message *m, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->m = *m;
	cl->m.nrcpts = 1; /* checks below look at the flags and size only */
	cl->s.m = &cl->m;
	if (smtp_check_message(&cl->s) == -1 || smtp_queue_mail(&cl->s) == -1 ||
	    smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250)
		return smtp_client_fail_reply(cl, r, "sender");
	cl->in_transaction = 1;
	return 0;
}

int
smtp_client_rcpt(struct smtp_client *cl, const char *rcpt, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->rcpt_one[0] = (char *)(uintptr_t)rcpt;
	cl->m.rcpts = cl->rcpt_one;
	cl->m.nrcpts = 1;
	if (smtp_queue_rcpt(&cl->s, 0) == -1 || smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250 && r->code != 251)
		return smtp_client_fail_reply(cl, r, "recipient");
	return 0;
}

int
smtp_client_data(struct smtp_client *cl, int body_fd, struct smtp_reply *final, struct sx_err *e)
{
	struct smtp_reply r;

	memset(final, 0, sizeof(*final));
	cl->s.e = e;
	cl->m.body_fd = body_fd;
	cl->s.stage = STAGE_DATA;
	if (smtp_queue_data(&cl->s) == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 354) {
		*final = r;
		return smtp_client_fail_reply(cl, &r, "DATA");
	}
	cl->s.in_data = 1;
	cl->in_transaction = 0;
	if (smtp_send_body(&cl->s) == -1)
		return -1;
	if (smtp_final_reply(&cl->s) == -1) {
		*final = cl->s.r->final;
		return -1;
	}
	*final = cl->s.r->final;
	return 0;
}

int
smtp_client_rset(struct smtp_client *cl, struct sx_err *e)
{
	struct smtp_reply r;

	cl->s.e = e;
	cl->in_transaction = 0;
	cl->s.stage = STAGE_MAIL;
	if (smtp_cmd(cl->s.c, cl->s.stage, 0, e, "RSET") == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 250)
		return smtp_client_fail_reply(cl, &r, "RSET");
	return 0;
}

void
smtp_client_close(struct smtp_client *cl, int ok)
{
	struct sx_err ignored;

	if (cl == NULL)
		return;
	sx_clear(&ignored);
	cl->s.e = &ignored;
	smtp_quit(&cl->s, ok);
	free(cl);
}

void
smtp_result_free(struct smtp_result *r)
{
	free(r->rcpt);
	r->rcpt = NULL;
}
