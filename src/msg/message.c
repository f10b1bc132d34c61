/*
 * message.c — message intake (see message.h).
 *
 * One pass over the input, byte by byte, through three layers:
 *  1. line endings: CRLF, bare CR and bare LF each end a line (a bare CR is
 *     a line break: it can never reach the wire as a lone byte);
 *  2. the header block, held in memory up to max_header_bytes, until the
 *     blank line or the first line that cannot be a header field;
 *  3. the body, streamed to the spool through a fixed buffer: memory does
 *     not grow with the message.
 * When the header block is complete it is rewritten (-t recipients read,
 * Bcc dropped, From/Date/Message-ID added or From rewritten) and written
 * out before the first body byte.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "msg/address.h"
#include "msg/aliases.h"
#include "msg/message.h"
#include "msg/scan.h"
#include "store/spool.h"

#define MSG_READ_CHUNK   65536
#define MSG_OUT_CHUNK    65536
#define MSG_HEADER_MAX   (1024 * 1024) /* default bound of the header block */
#define MSG_LINE_MAX     998           /* RFC 5322 2.1.1, without CRLF */
#define MSG_NAME_MAX     998           /* longer than this and no ':': not a header field */
#define MSG_MAX_RCPTS    10000
#define MSG_EW_CHUNK     45 /* bytes per encoded-word: 60 base64 chars, 72 in all */
#define MSG_MSGID_RANDOM 16

/* Where the current line stands in being a header field. */
enum msg_line { LINE_NAME = 0, LINE_NAME_WSP, LINE_FIELD };

struct msg_field {
	size_t off;     /* in hdr */
	size_t len;     /* without the final LF */
	size_t namelen; /* without trailing white space */
	size_t valoff;  /* after the ':' */
};

struct msg_ctx {
	const struct msg_policy *pol;
	struct msg_envelope *env;
	struct sx_err *err;
	struct spool_file sp;
	int spool_open;
	struct alias_table aliases;
	int have_aliases;

	/* Line-ending layer. */
	int prev_cr;
	size_t lineno; /* lines completed */
	size_t nul_line;
	int ended; /* the "." line */

	/* Header block. */
	int in_headers;
	int dumping; /* a NUL in the header block: keep the input as read */
	char *hdr;
	size_t hdrlen, hdrcap, hdrmax;
	size_t line_start;
	enum msg_line line_state;
	int have_field;

	/* Body. */
	int at_bol;
	int dot_pending;
	size_t linelen;

	/* Output to the spool. */
	char out[MSG_OUT_CHUNK];
	size_t outlen;
	unsigned long long bytes;
	unsigned long long lfs;
};

static int msg_atext(unsigned char);
static int msg_flush(struct msg_ctx *);
static int msg_put(struct msg_ctx *, const char *, size_t);
static int msg_putc(struct msg_ctx *, char);
static int msg_has_break(const char *);
static int msg_sender_addr(struct msg_ctx *, const char *, size_t, const char *, int, char **);
static int msg_sender(struct msg_ctx *, const struct msg_field *);
static int msg_add_rcpt(struct msg_ctx *, const char *);
static int msg_rcpts(struct msg_ctx *, const char *, size_t, const char *, size_t);
static int msg_phrase(const char *, int, char **, struct sx_err *);
static int msg_encode_words(const char *, size_t, char **, struct sx_err *);
static int msg_put_from(struct msg_ctx *, const struct msg_field *);
static int msg_put_date(struct msg_ctx *);
static int msg_put_msgid(struct msg_ctx *);
static int msg_name_is(const struct msg_ctx *, const struct msg_field *, const char *);
static int msg_fields(struct msg_ctx *, size_t, struct msg_field **, size_t *);
static int msg_end_headers(struct msg_ctx *, size_t);
static int msg_start_dump(struct msg_ctx *, unsigned char);
static int msg_to_body(struct msg_ctx *, int, unsigned char);
static int msg_hdr_append(struct msg_ctx *, char);
static int msg_hdr_char(struct msg_ctx *, unsigned char);
static int msg_hdr_eol(struct msg_ctx *);
static int msg_body_char(struct msg_ctx *, unsigned char);
static int msg_body_eol(struct msg_ctx *);
static size_t msg_body_run(struct msg_ctx *, const unsigned char *, size_t);
static int msg_byte(struct msg_ctx *, unsigned char);
static int msg_eof(struct msg_ctx *);

static int
msg_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Write the buffer out, counting what the session will send. */
static int
msg_flush(struct msg_ctx *c)
{
	const char *p = c->out, *end = c->out + c->outlen;
	size_t i;

	unsigned long long lfs = 0;
	uint64_t high = 0;

	(void)i;
	/* LFs (for SIZE) and any 8-bit byte, eight bytes at a time. */
	for (; end - p >= 8; p += 8) {
		uint64_t w, x, z;

		memcpy(&w, p, 8);
		high |= w;
		x = w ^ (SCAN_ONES * '\n'); /* LF bytes become zero bytes */
		z = ~(((x & ~SCAN_HIGHS) + ~SCAN_HIGHS) | x) & SCAN_HIGHS; /* one bit per LF */
		for (; z != 0; z &= z - 1)
			lfs++;
	}
	for (; p < end; p++) {
		lfs += *p == '\n';
		high |= (unsigned char)*p;
	}
	c->lfs += lfs;
	if (high & SCAN_HIGHS)
		c->env->body_8bit = 1;
	c->bytes += c->outlen;
	if (c->outlen > 0 && spool_write(&c->sp, c->out, c->outlen, c->err) == -1)
		return -1;
	c->outlen = 0;
	return 0;
}

static int
msg_putc(struct msg_ctx *c, char ch)
{
	if (c->outlen == sizeof(c->out) && msg_flush(c) == -1)
		return -1;
	c->out[c->outlen++] = ch;
	return 0;
}

static int
msg_put(struct msg_ctx *c, const char *s, size_t len)
{
	size_t n;

	while (len > 0) {
		if (c->outlen == sizeof(c->out) && msg_flush(c) == -1)
			return -1;
		n = sizeof(c->out) - c->outlen;
		if (n > len)
			n = len;
		memcpy(c->out + c->outlen, s, n);
		c->outlen += n;
		s += n;
		len -= n;
	}
	return 0;
}

static int
msg_has_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/*
 * One sender address from text (-f, the account's from, the From header or
 * the login name): exactly one mailbox, qualified.  An unqualified name
 * becomes the account's from when allow_account and one is set, else gets
 * default_domain, else the host name when it is a FQDN.  *out is allocated.
 */
static int
msg_sender_addr(struct msg_ctx *c, const char *text, size_t len, const char *what,
    int allow_account, char **out)
{
	const struct msg_policy *p = c->pol;
	struct addr_list l;
	struct sx_err pe;
	const char *dom;
	char *q = NULL;
	int rc = -1, r;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	sx_clear(&pe);
	if (addr_parse_list(text, len, &l, &pe) == -1) {
		sx_fail(c->err, pe.cls, STAGE_INTAKE, "%s: %s", what, pe.detail);
		goto out;
	}
	if (l.n != 1) {
		char ex[64];

		sx_sanitize(ex, sizeof(ex), text, len, 0);
		sx_fail(c->err, SX_DATA, STAGE_INTAKE, "%s '%s' is not one address", what, ex);
		goto out;
	}
	if (!l.v[0].unqualified) {
		q = strdup(l.v[0].spec);
	} else if (allow_account && p->account_from != NULL && *p->account_from != '\0') {
		rc = msg_sender_addr(
		    c, p->account_from, strlen(p->account_from), "account from", 0, out);
		goto out;
	} else {
		dom = p->default_domain;
		if ((dom == NULL || *dom == '\0') && p->hostname != NULL &&
		    strchr(p->hostname, '.') != NULL)
			dom = p->hostname;
		if (dom == NULL || *dom == '\0') {
			sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "%s '%s' has no domain (set from or default_domain)", what,
			    l.v[0].spec);
			goto out;
		}
		if (asprintf(&q, "%s@%s", l.v[0].spec, dom) == -1)
			q = NULL;
	}
	if (q == NULL) {
		sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	if ((r = addr_check_mailbox(q, c->err)) != 0) {
		if (r == 1)
			sx_fail(c->err, SX_DATA, STAGE_INTAKE, "%s '%s' has no domain", what, q);
		free(q);
		goto out;
	}
	*out = q;
	rc = 0;
out:
	addr_list_free(&l);
	return rc;
}

/*
 * The envelope sender: -f/-r ("" and "<>" are the null sender), else the
 * account's from, else the From header when so configured (from is that
 * field, or NULL before the header block is read: then nothing is decided
 * yet), else the login name.
 */
static int
msg_sender(struct msg_ctx *c, const struct msg_field *from)
{
	const struct msg_policy *p = c->pol;
	const char *ef = p->envelope_from, *af = p->account_from;
	int rc;

	if (ef != NULL) {
		if (*ef == '\0' || strcmp(ef, "<>") == 0) {
			if ((c->env->from = strdup("")) == NULL)
				return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
			return 0;
		}
		if (msg_has_break(ef))
			return sx_fail(
			    c->err, SX_DATA, STAGE_INTAKE, "sender address contains a line break");
		rc = msg_sender_addr(c, ef, strlen(ef), "sender", 1, &c->env->from);
	} else if (af != NULL && *af != '\0') {
		rc = msg_sender_addr(c, af, strlen(af), "account from", 0, &c->env->from);
	} else if (p->sender_from_header && from != NULL) {
		rc = msg_sender_addr(c, c->hdr + from->valoff, from->off + from->len - from->valoff,
		    "From header", 0, &c->env->from);
	} else if (p->sender_from_header && c->in_headers) {
		return 0; /* decided once the header block is read */
	} else {
		if (p->local_user == NULL || *p->local_user == '\0' || msg_has_break(p->local_user))
			return sx_fail(
			    c->err, SX_DATA, STAGE_INTAKE, "no sender: use -f or set from");
		rc = msg_sender_addr(
		    c, p->local_user, strlen(p->local_user), "sender", 0, &c->env->from);
	}
	if (rc == 0 && !addr_is_ascii(c->env->from))
		c->env->needs_smtputf8 = 1;
	return rc;
}

/*
 * Append one qualified recipient unless it is already there.  Only the
 * envelope decides SMTPUTF8: an address cannot go out without it, while
 * raw UTF-8 in a header (a Subject) passes servers under 8BITMIME in
 * practice, and demanding SMTPUTF8 for it would refuse mail to every
 * server that lacks the extension.  Such headers set body_8bit.
 */
static int
msg_add_rcpt(struct msg_ctx *c, const char *spec)
{
	struct msg_envelope *env = c->env;
	char **nv;
	size_t i;

	for (i = 0; i < env->nrcpts; i++)
		if (strcmp(env->rcpts[i], spec) == 0)
			return 0;
	if (env->nrcpts == MSG_MAX_RCPTS)
		return sx_fail(
		    c->err, SX_DATA, STAGE_INTAKE, "more than %d recipients", MSG_MAX_RCPTS);
	if ((nv = reallocarray(env->rcpts, env->nrcpts + 1, sizeof(*nv))) == NULL)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	env->rcpts = nv;
	if ((env->rcpts[env->nrcpts] = strdup(spec)) == NULL)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	env->nrcpts++;
	if (!addr_is_ascii(spec))
		env->needs_smtputf8 = 1;
	return 0;
}

/*
 * Recipients from an argument or a header value (name/namelen, or NULL
 * for an argument): parsed, aliased, qualified, deduplicated.
 */
static int
msg_rcpts(struct msg_ctx *c, const char *text, size_t len, const char *name, size_t namelen)
{
	struct addr_list l, r;
	struct sx_err pe;
	size_t i;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	sx_clear(&pe);
	if (addr_parse_list(text, len, &l, &pe) == -1) {
		if (name != NULL)
			sx_fail(c->err, pe.cls, STAGE_INTAKE, "%.*s header: %s", (int)namelen, name,
			    pe.detail);
		else
			sx_fail(c->err, pe.cls, STAGE_INTAKE, "recipient: %s", pe.detail);
		goto out;
	}
	for (i = 0; i < l.n; i++)
		if (alias_resolve(c->have_aliases ? &c->aliases : NULL, c->pol->default_domain,
			l.v[i].spec, l.v[i].unqualified, &r, c->err) == -1)
			goto out;
	for (i = 0; i < r.n; i++)
		if (msg_add_rcpt(c, r.v[i].spec) == -1)
			goto out;
	rc = 0;
out:
	addr_list_free(&l);
	addr_list_free(&r);
	return rc;
}

/*
 * A display name as it goes into a From header: as is when it is atoms and
 * spaces, a quoted string when it is other ASCII, RFC 2047 encoded-words
 * (UTF-8, B) otherwise.  allow_ew keeps encoded-words that are already
 * there (a comment from a header); -F text is quoted instead, so a literal
 * "=?" is not decoded by the reader.  *out is NULL for an empty name.
 */
static int
msg_phrase(const char *s, int allow_ew, char **out, struct sx_err *e)
{
	size_t len = strlen(s), i, n = 0;
	int ascii = 1, plain = 1;
	char *q;

	*out = NULL;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r' || ch == '\n')
			return sx_fail(e, SX_DATA, STAGE_INTAKE, "full name contains a line break");
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return sx_fail(
			    e, SX_DATA, STAGE_INTAKE, "full name contains a control character");
		if (ch >= 0x80)
			ascii = 0;
		else if (!msg_atext(ch) && ch != ' ')
			plain = 0;
	}
	if (len == 0)
		return 0;
	if (!ascii) {
		if (!addr_utf8_valid(s, len))
			return sx_fail(e, SX_DATA, STAGE_INTAKE, "full name is not valid UTF-8");
		return msg_encode_words(s, len, out, e);
	}
	if ((!allow_ew && strstr(s, "=?") != NULL) || s[0] == ' ' || s[len - 1] == ' ' ||
	    strstr(s, "  ") != NULL)
		plain = 0;
	if (plain) {
		if ((*out = strdup(s)) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		return 0;
	}
	if ((q = malloc(2 * len + 3)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	q[n++] = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			q[n++] = '\\';
		q[n++] = s[i] == '\t' ? ' ' : s[i];
	}
	q[n++] = '"';
	q[n] = '\0';
	*out = q;
	return 0;
}

/*
 * RFC 2047 B encoded-words of at most 75 characters, cut on UTF-8
 * character boundaries (2047 section 5: no split characters), folded.
 */
static int
msg_encode_words(const char *s, size_t len, char **out, struct sx_err *e)
{
	unsigned char chunk[MSG_EW_CHUNK];
	gnutls_datum_t in, b64;
	size_t i = 0, end, n = 0, cap;
	char *buf;
	int rc;

	/*
	 * A chunk is 45 bytes, less up to 3 to end on a character boundary;
	 * each becomes 2 (fold) + 10 + 60 + 2 characters.
	 */
	cap = (len / (MSG_EW_CHUNK - 3) + 1) * 74 + 1;
	if ((buf = malloc(cap)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	while (i < len) {
		end = i + MSG_EW_CHUNK < len ? i + MSG_EW_CHUNK : len;
		while (end < len && end > i + 1 && ((unsigned char)s[end] & 0xc0) == 0x80)
			end--;
		memcpy(chunk, s + i, end - i);
		in.data = chunk;
		in.size = (unsigned)(end - i);
		if ((rc = gnutls_base64_encode2(&in, &b64)) < 0) {
			free(buf);
			return sx_fail(
			    e, SX_INTERNAL, STAGE_INTAKE, "base64: %s", gnutls_strerror(rc));
		}
		n += (size_t)snprintf(buf + n, cap - n, "%s=?UTF-8?B?%.*s?=", n > 0 ? "\n " : "",
		    (int)b64.size, (const char *)b64.data);
		gnutls_free(b64.data);
		i = end;
	}
	*out = buf;
	return 0;
}

/*
 * The From header: added when missing (-F as display name), or rewritten
 * to the account's address (from is the first From field) keeping the
 * display name — or the comment of "root (Cron Daemon)".
 */
static int
msg_put_from(struct msg_ctx *c, const struct msg_field *from)
{
	const struct msg_policy *p = c->pol;
	const char *addr = NULL;
	char *acct = NULL, *display = NULL, *line = NULL;
	struct addr_list l;
	struct sx_err pe;
	int rc = -1, n;

	memset(&l, 0, sizeof(l));
	if (from != NULL && p->account_from != NULL && *p->account_from != '\0') {
		if (msg_sender_addr(c, p->account_from, strlen(p->account_from), "account from", 0,
			&acct) == -1)
			goto out;
		addr = acct;
	} else if (c->env->from != NULL && *c->env->from != '\0') {
		addr = c->env->from;
	} else {
		/* Null sender: the From header still needs an author. */
		const char *who = p->account_from != NULL && *p->account_from != '\0'
				      ? p->account_from
				      : p->local_user;

		if (who == NULL || *who == '\0')
			return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "no address for the From header: use -f or set from");
		if (msg_sender_addr(c, who, strlen(who), "From address", 0, &acct) == -1)
			goto out;
		addr = acct;
	}
	if (from != NULL) {
		/* An unparseable From is replaced outright: that is what rewriting is for. */
		sx_clear(&pe);
		if (addr_parse_list(c->hdr + from->valoff, from->off + from->len - from->valoff, &l,
			&pe) == 0 &&
		    l.n > 0) {
			if (l.v[0].display != NULL) {
				if ((display = strdup(l.v[0].display)) == NULL) {
					sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
					goto out;
				}
			} else if (l.v[0].comment != NULL &&
				   msg_phrase(l.v[0].comment, 1, &display, c->err) == -1)
				goto out;
		}
	}
	if (display == NULL && p->fullname != NULL &&
	    msg_phrase(p->fullname, 0, &display, c->err) == -1)
		goto out;
	if (display != NULL)
		n = asprintf(&line, "From: %s <%s>\n", display, addr);
	else
		n = asprintf(&line, "From: %s\n", addr);
	if (n == -1) {
		sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	rc = msg_put(c, line, (size_t)n);
out:
	addr_list_free(&l);
	free(acct);
	free(display);
	free(line);
	return rc;
}

/* RFC 5322 3.3 date-time in local time, without the locale's day names. */
static int
msg_put_date(struct msg_ctx *c)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {
	    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char buf[64];
	time_t now = c->pol->now != 0 ? c->pol->now : time(NULL);
	struct tm tm;
	long off;
	int n;

	if (localtime_r(&now, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "cannot convert the time");
	off = tm.tm_gmtoff / 60;
	n = snprintf(buf, sizeof(buf), "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "cannot format the date");
	return msg_put(c, buf, (size_t)n);
}

/* <hex of 128 random bits@host>: unique without any state. */
static int
msg_put_msgid(struct msg_ctx *c)
{
	unsigned char rnd[MSG_MSGID_RANDOM];
	char hex[2 * MSG_MSGID_RANDOM + 1], probe[ADDR_MAX + 1];
	const char *host = c->pol->hostname;
	size_t i;
	int rc;

	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "random number generator: %s",
		    gnutls_strerror(rc));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	/* Only a host name that makes a valid msg-id goes in. */
	if (host == NULL || !addr_is_ascii(host) ||
	    (size_t)snprintf(probe, sizeof(probe), "x@%s", host) >= sizeof(probe) ||
	    addr_check_mailbox(probe, NULL) != 0 || host[0] == '[')
		host = "localhost";
	if (msg_put(c, "Message-ID: <", 13) == -1 || msg_put(c, hex, strlen(hex)) == -1 ||
	    msg_putc(c, '@') == -1 || msg_put(c, host, strlen(host)) == -1 ||
	    msg_put(c, ">\n", 2) == -1)
		return -1;
	return 0;
}

static int
msg_name_is(const struct msg_ctx *c, const struct msg_field *f, const char *name)
{
	return f->namelen == strlen(name) && strncasecmp(c->hdr + f->off, name, f->namelen) == 0;
}

/* Split hdr[0..hlen) into fields (a line and its continuation lines). */
static int
msg_fields(struct msg_ctx *c, size_t hlen, struct msg_field **fv, size_t *nf)
{
	struct msg_field *v = NULL, *nv;
	size_t n = 0, cap = 0, p = 0, eol, k;
	const char *h = c->hdr;

	while (p < hlen) {
		const char *lf = memchr(h + p, '\n', hlen - p);

		eol = lf != NULL ? (size_t)(lf - h) : hlen;
		if ((h[p] == ' ' || h[p] == '\t') && n > 0) {
			v[n - 1].len = eol - v[n - 1].off;
		} else {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				if ((nv = reallocarray(v, cap, sizeof(*nv))) == NULL) {
					free(v);
					return sx_fail(
					    c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
				}
				v = nv;
			}
			/* The line was accepted as a field: it has a ':'. */
			for (k = p; k < eol && h[k] != ':'; k++)
				;
			v[n].off = p;
			v[n].len = eol - p;
			v[n].valoff = k + 1;
			while (k > p && (h[k - 1] == ' ' || h[k - 1] == '\t'))
				k--;
			v[n].namelen = k - p;
			n++;
		}
		p = eol + 1;
	}
	*fv = v;
	*nf = n;
	return 0;
}

/*
 * The header block hdr[0..hlen) is complete: read -t recipients, settle
 * the sender, and write the block as it will be sent, then the blank line.
 */
static int
msg_end_headers(struct msg_ctx *c, size_t hlen)
{
	const struct msg_policy *p = c->pol;
	struct msg_field *f = NULL;
	const struct msg_field *from = NULL;
	size_t nf = 0, i;
	int resent = 0, has_date = 0, has_msgid = 0, rc = -1;

	c->in_headers = 0;
	c->at_bol = 1;
	if (msg_fields(c, hlen, &f, &nf) == -1)
		return -1;
	for (i = 0; i < nf; i++) {
		if (f[i].namelen > 7 && strncasecmp(c->hdr + f[i].off, "Resent-", 7) == 0)
			resent = 1;
		if (msg_name_is(c, &f[i], "From") && from == NULL)
			from = &f[i];
		has_date |= msg_name_is(c, &f[i], "Date");
		has_msgid |= msg_name_is(c, &f[i], "Message-ID");
	}
	if (p->read_recipients) {
		for (i = 0; i < nf; i++) {
			int want = resent ? msg_name_is(c, &f[i], "Resent-To") ||
						msg_name_is(c, &f[i], "Resent-Cc") ||
						msg_name_is(c, &f[i], "Resent-Bcc")
					  : msg_name_is(c, &f[i], "To") ||
						msg_name_is(c, &f[i], "Cc") ||
						msg_name_is(c, &f[i], "Bcc");

			if (want &&
			    msg_rcpts(c, c->hdr + f[i].valoff, f[i].off + f[i].len - f[i].valoff,
				c->hdr + f[i].off, f[i].namelen) == -1)
				goto out;
		}
	}
	if (c->env->from == NULL && msg_sender(c, from) == -1)
		goto out;
	for (i = 0; i < nf; i++) {
		/* Bcc is for the envelope only, whatever -t says. */
		if (msg_name_is(c, &f[i], "Bcc") || msg_name_is(c, &f[i], "Resent-Bcc"))
			continue;
		if (msg_name_is(c, &f[i], "From") && p->from_header == FROM_HEADER_REWRITE) {
			if (&f[i] == from && msg_put_from(c, from) == -1)
				goto out;
			continue;
		}
		if (msg_put(c, c->hdr + f[i].off, f[i].len) == -1 || msg_putc(c, '\n') == -1)
			goto out;
	}
	if ((from == NULL && msg_put_from(c, NULL) == -1) || (!has_date && msg_put_date(c) == -1) ||
	    (!has_msgid && msg_put_msgid(c) == -1) || msg_putc(c, '\n') == -1)
		goto out;
	rc = 0;
out:
	free(f);
	return rc;
}

/*
 * A NUL in the header block: the message will be refused, but what was
 * read is kept, so store it as read (line endings normalised) and go on.
 */
static int
msg_start_dump(struct msg_ctx *c, unsigned char ch)
{
	c->in_headers = 0;
	c->dumping = 1;
	c->linelen = c->hdrlen - c->line_start;
	c->at_bol = c->linelen == 0;
	if (msg_put(c, c->hdr, c->hdrlen) == -1)
		return -1;
	free(c->hdr);
	c->hdr = NULL;
	c->hdrlen = c->hdrcap = 0;
	return msg_body_char(c, ch);
}

/*
 * The current line cannot be a header field: the block ends before it and
 * the line starts the body (a missing blank line, or no headers at all).
 * Its bytes so far are replayed into the body, then ch (or the line end).
 */
static int
msg_to_body(struct msg_ctx *c, int eol, unsigned char ch)
{
	size_t i;

	if (msg_end_headers(c, c->line_start) == -1)
		return -1;
	for (i = c->line_start; i < c->hdrlen; i++)
		if (msg_body_char(c, (unsigned char)c->hdr[i]) == -1)
			return -1;
	free(c->hdr);
	c->hdr = NULL;
	c->hdrlen = c->hdrcap = 0;
	return eol ? msg_body_eol(c) : msg_body_char(c, ch);
}

/* The header block is held in memory: this is where its bound is kept. */
static int
msg_hdr_append(struct msg_ctx *c, char ch)
{
	char *nh;

	if (c->hdrlen >= c->hdrmax)
		return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
		    "header block larger than %zu bytes (no blank line after the headers?)",
		    c->hdrmax);
	if (c->hdrlen == c->hdrcap) {
		size_t ncap = c->hdrcap ? c->hdrcap * 2 : 4096;

		if (ncap > c->hdrmax)
			ncap = c->hdrmax;
		if ((nh = realloc(c->hdr, ncap)) == NULL)
			return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		c->hdr = nh;
		c->hdrcap = ncap;
	}
	c->hdr[c->hdrlen++] = ch;
	return 0;
}

static int
msg_hdr_char(struct msg_ctx *c, unsigned char ch)
{
	size_t pos = c->hdrlen - c->line_start;

	if (ch == '\0')
		return msg_start_dump(c, ch);
	switch (c->line_state) {
	case LINE_NAME:
		if (pos == 0 && (ch == ' ' || ch == '\t')) {
			if (!c->have_field)
				return msg_to_body(c, 0, ch);
			c->line_state = LINE_FIELD; /* continuation line */
		} else if (ch == ':' && pos > 0)
			c->line_state = LINE_FIELD;
		else if ((ch == ' ' || ch == '\t') && pos > 0)
			c->line_state = LINE_NAME_WSP; /* obs: "Subject : x" */
		else if (ch < 33 || ch > 126 || ch == ':' || pos >= MSG_NAME_MAX)
			return msg_to_body(c, 0, ch);
		break;
	case LINE_NAME_WSP:
		if (ch == ':')
			c->line_state = LINE_FIELD;
		else if (ch != ' ' && ch != '\t')
			return msg_to_body(c, 0, ch);
		break;
	case LINE_FIELD:
		break;
	}
	return msg_hdr_append(c, (char)ch);
}

static int
msg_hdr_eol(struct msg_ctx *c)
{
	size_t len = c->hdrlen - c->line_start;

	if (len == 0) /* the blank line */
		return msg_end_headers(c, c->line_start);
	if (len == 1 && c->hdr[c->line_start] == '.' && !c->pol->ignore_dots) {
		c->hdrlen = c->line_start;
		c->ended = 1;
		return 0;
	}
	if (c->line_state != LINE_FIELD)
		return msg_to_body(c, 1, '\n');
	if (len > MSG_LINE_MAX) {
		if (c->pol->strict_line_length)
			return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "line %zu is longer than %d octets", c->lineno, MSG_LINE_MAX);
		c->env->long_lines++;
	}
	if (msg_hdr_append(c, '\n') == -1)
		return -1;
	c->line_start = c->hdrlen;
	c->line_state = LINE_NAME;
	c->have_field = 1;
	return 0;
}

static int
msg_body_char(struct msg_ctx *c, unsigned char ch)
{
	if (c->at_bol) {
		c->at_bol = 0;
		if (ch == '.' && !c->pol->ignore_dots) {
			c->dot_pending = 1;
			c->linelen = 1;
			return 0;
		}
	}
	if (c->dot_pending) {
		c->dot_pending = 0;
		if (msg_putc(c, '.') == -1)
			return -1;
	}
	c->linelen++;
	return msg_putc(c, (char)ch);
}

static int
msg_body_eol(struct msg_ctx *c)
{
	if (c->dot_pending) {
		/* sendmail's rule: a line of a single "." ends the message. */
		c->dot_pending = 0;
		c->ended = 1;
		return 0;
	}
	if (c->linelen > MSG_LINE_MAX) {
		if (c->pol->strict_line_length)
			return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "line %zu is longer than %d octets", c->lineno, MSG_LINE_MAX);
		c->env->long_lines++;
	}
	c->linelen = 0;
	c->at_bol = 1;
	return msg_putc(c, '\n');
}

static int
msg_byte(struct msg_ctx *c, unsigned char ch)
{
	if (ch == '\n' && c->prev_cr) {
		c->prev_cr = 0;
		return 0;
	}
	c->prev_cr = ch == '\r';
	if (ch == '\r' || ch == '\n') {
		c->lineno++;
		return c->in_headers ? msg_hdr_eol(c) : msg_body_eol(c);
	}
	if (ch == '\0' && c->nul_line == 0)
		c->nul_line = c->lineno + 1;
	return c->in_headers ? msg_hdr_char(c, ch) : msg_body_char(c, ch);
}

/*
 * Fast path for the body: in the middle of a line, copy the run of
 * ordinary bytes up to the next CR, LF or NUL in one go (the byte-wise
 * state machine handles those and line starts).  Returns the bytes
 * consumed (0: take the slow path for the next byte), or (size_t)-1.
 */
static size_t
msg_body_run(struct msg_ctx *c, const unsigned char *p, size_t n)
{
	size_t k;

	if (c->in_headers || c->dumping || c->dot_pending || c->prev_cr)
		return 0;
	/* A line start is ordinary unless it is a "." or a control byte. */
	if (c->at_bol) {
		if (p[0] == '.' || p[0] < 0x0E)
			return 0;
		c->at_bol = 0;
	}
	k = scan_ordinary(p, n);
	c->linelen += k;
	if (k > 0 && msg_put(c, (const char *)p, k) == -1)
		return (size_t)-1;
	/* The usual line endings finish the line here too (LF, or CRLF seen whole). */
	if (k < n && p[k] == '\n') {
		c->lineno++;
		return msg_body_eol(c) == -1 ? (size_t)-1 : k + 1;
	}
	if (k + 1 < n && p[k] == '\r' && p[k + 1] == '\n') {
		c->lineno++;
		return msg_body_eol(c) == -1 ? (size_t)-1 : k + 2;
	}
	return k;
}

/* End of input: finish the last line (adding its LF) and the header block. */
static int
msg_eof(struct msg_ctx *c)
{
	if (!c->ended) {
		if (c->in_headers && c->hdrlen > c->line_start) {
			c->lineno++;
			if (msg_hdr_eol(c) == -1)
				return -1;
		} else if (!c->in_headers && (c->dot_pending || !c->at_bol)) {
			c->lineno++;
			if (msg_body_eol(c) == -1)
				return -1;
		}
	}
	if (c->in_headers && msg_end_headers(c, c->line_start) == -1)
		return -1;
	return msg_flush(c);
}

/* Make the spool durable and hand its path to the envelope.  0 or -1. */
static int
msg_commit(struct msg_ctx *c, struct msg_envelope *env, struct sx_err *e)
{
	c->spool_open = 0; /* committed or removed by spool_commit either way */
	if (spool_commit(&c->sp, e) == -1)
		return -1;
	env->spool_path = c->sp.path;
	c->sp.path = NULL;
	return 0;
}

int
msg_intake(int fd, const struct msg_policy *p, struct msg_envelope *env, struct sx_err *e)
{
	struct msg_ctx *c;
	unsigned char *buf = NULL;
	size_t i;
	ssize_t n;
	int rc = -1;

	memset(env, 0, sizeof(*env));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	c->pol = p;
	c->env = env;
	c->err = e;
	c->in_headers = 1;
	c->hdrmax = p->max_header_bytes != 0 ? p->max_header_bytes : MSG_HEADER_MAX;

	/* Everything that can be checked without the message, first. */
	if (p->fullname != NULL && msg_has_break(p->fullname)) {
		sx_fail(e, SX_DATA, STAGE_INTAKE, "full name contains a line break");
		goto out;
	}
	if (p->aliases_file != NULL && *p->aliases_file != '\0') {
		if (alias_load(p->aliases_file, &c->aliases, e) == -1) {
			alias_free(&c->aliases);
			goto out;
		}
		c->have_aliases = 1;
	}
	for (i = 0; i < p->n_argv_rcpts; i++) {
		const char *r = p->argv_rcpts[i];

		if (msg_has_break(r)) {
			sx_fail(
			    e, SX_DATA, STAGE_INTAKE, "recipient argument contains a line break");
			goto out;
		}
		if (msg_rcpts(c, r, strlen(r), NULL, 0) == -1)
			goto out;
	}
	if (!p->read_recipients && env->nrcpts == 0) {
		sx_fail(e, SX_USAGE, STAGE_INTAKE, "no recipients given (and no -t)");
		goto out;
	}
	if (msg_sender(c, NULL) == -1)
		goto out;

	if (spool_create(p->spool_dir, &c->sp, e, STAGE_INTAKE) == -1)
		goto out;
	c->spool_open = 1;
	if ((buf = malloc(MSG_READ_CHUNK)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	while (!c->ended) {
		if ((n = read(fd, buf, MSG_READ_CHUNK)) == -1) {
			int saved = errno;

			if (saved == EINTR)
				continue;
			sx_fail(e, SX_LOCALIO, STAGE_INTAKE, "cannot read the message: %s",
			    strerror(saved));
			if (e != NULL)
				e->sys_errno = saved;
			goto out;
		}
		if (n == 0)
			break;
		for (i = 0; i < (size_t)n && !c->ended;) {
			size_t run = msg_body_run(c, buf + i, (size_t)n - i);

			if (run == (size_t)-1)
				goto out;
			if (run > 0) {
				i += run;
				continue;
			}
			if (msg_byte(c, buf[i++]) == -1)
				goto out;
		}
	}
	if (msg_eof(c) == -1)
		goto out;
	if (c->nul_line != 0) {
		/* Refused, but never lost: the spool keeps what was read. */
		if (msg_commit(c, env, e) == -1)
			goto out;
		sx_fail(e, SX_DATA, STAGE_INTAKE, "NUL byte in the message (line %zu); kept in %s",
		    c->nul_line, env->spool_path);
		goto out;
	}
	if (env->nrcpts == 0) {
		sx_fail(e, SX_DATA, STAGE_INTAKE,
		    "no recipients: none given and none in the To, Cc or Bcc headers");
		goto out;
	}
	if (p->on_accepted != NULL)
		p->on_accepted(p->on_accepted_arg);
	if (msg_commit(c, env, e) == -1)
		goto out;
	env->wire_size = c->bytes + c->lfs;
	rc = 0;
out:
	if (c->spool_open)
		spool_abort(&c->sp);
	else
		spool_release(&c->sp);
	if (c->have_aliases)
		alias_free(&c->aliases);
	free(c->hdr);
	free(c);
	free(buf);
	if (rc == -1) {
		char *keep = env->spool_path;

		env->spool_path = NULL;
		msg_envelope_free(env);
		env->spool_path = keep;
	}
	return rc;
}

void
msg_envelope_free(struct msg_envelope *env)
{
	size_t i;

	if (env == NULL)
		return;
	free(env->from);
	for (i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	free(env->spool_path);
	memset(env, 0, sizeof(*env));
}
