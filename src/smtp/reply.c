/*
 * reply.c — the SMTP protocol's text: the reply parser (multi-line,
 * enhanced status codes), EHLO capabilities, and the command writer that
 * refuses CR, LF and NUL in arguments (see reply.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/reply.h"

/*
 * Longest command we format: RFC 4954's 12288 octets of an AUTH line (an
 * OAuth2 token is long), plus CRLF and the NUL.
 */
#define SMTP_CMD_MAX (12288 + 3)

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
		/*
		 * Keep what fits of the text, printable only: no escape sequence,
		 * CR or bidi override from the server reaches a terminal, a log or
		 * JSON through any path.  The reply itself is fully consumed.
		 */
		if (tlen + 2 < sizeof(r->text)) {
			if (tlen > 0)
				r->text[tlen++] = '\n';
			sx_sanitize_text(
			    r->text + tlen, sizeof(r->text) - tlen, text, strlen(text), 0);
			tlen += strlen(r->text + tlen);
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

/*
 * A SASL mechanism name (RFC 4422 3.1): 1 to 20 of A-Z, 0-9, '-', '_'.
 * Lower case is taken (some servers send it) and shown in upper case.
 */
static int
smtp_sasl_name(const char *s, char *out, size_t outsz)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SMTP_SASL_NAME_MAX || n >= outsz)
		return -1;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			     ch == '_'))
			return -1;
		out[i] = ch;
	}
	out[n] = '\0';
	return 0;
}

/* Note one AUTH mechanism, each name once in the list; others are counted, not kept. */
static void
smtp_caps_mech(struct smtp_caps *caps, const char *raw)
{
	char *p, *save = NULL, list[sizeof(caps->auth_list)], mech[SMTP_SASL_NAME_MAX + 1];

	if (smtp_sasl_name(raw, mech, sizeof(mech)) == -1) {
		caps->auth_dropped++;
		return;
	}
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
		if (caps->auth_dropped > 0) {
			char note[64];

			snprintf(note, sizeof(note), "%s(%u malformed name%s ignored)",
			    caps->auth_list[0] != '\0' ? " " : "", caps->auth_dropped,
			    caps->auth_dropped == 1 ? "" : "s");
			strlcat(buf, note, sz);
		}
	}
	if (buf[0] == '\0')
		strlcpy(buf, "no extensions", sz);
	return buf;
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

int
smtp_quota_refusal(int code, const char *enhanced, const char *text)
{
	static const char *const says[] = {
	    "SubmissionQuotaExceeded", "sending quota", "sending limit", "daily user sending"};
	size_t i;

	if (code < 500 || code > 599)
		return 0;
	/* X.4.5, "mail system congestion": with words of a limit, the provider's quota. */
	if (strcmp(enhanced, "5.4.5") == 0 &&
	    (strcasestr(text, "limit") != NULL || strcasestr(text, "quota") != NULL))
		return 1;
	for (i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		if (strcasestr(text, says[i]) != NULL)
			return 1;
	return 0;
}
