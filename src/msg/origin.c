/*
 * origin.c — the fields intake adds when the message lacks them, or
 * rewrites (see intake.h): From (with a display name from -F or kept from
 * the field it replaces, RFC 2047 encoded when it is not ASCII), Date and
 * Message-ID; and the address fields whose addresses lack a domain.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/datefmt.h"
#include "msg/address.h"
#include "msg/intake.h"

#define MSG_EW_CHUNK     45 /* bytes per encoded-word: 60 base64 chars, 72 in all */
#define MSG_MSGID_RANDOM 16

static int msg_phrase(const char *, int, char **, struct sx_err *);
static int msg_encode_words(const char *, size_t, char **, struct sx_err *);

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
		else if (!addr_atext(ch) && ch != ' ')
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
int
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
int
msg_put_date(struct msg_ctx *c)
{
	char date[DATEFMT_MAX], buf[DATEFMT_MAX + 8];
	time_t now = c->pol->now != 0 ? c->pol->now : time(NULL);
	int n;

	if ((n = datefmt_rfc5322(date, sizeof(date), now)) == -1)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "cannot convert the time");
	if ((size_t)n >= sizeof(date) || (n = snprintf(buf, sizeof(buf), "Date: %s\n", date)) < 0 ||
	    (size_t)n >= sizeof(buf))
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "cannot format the date");
	return msg_put(c, buf, (size_t)n);
}

/* A domain that makes a valid msg-id (ASCII, a name rather than a [literal]). */
static int
msg_msgid_domain_ok(const char *dom)
{
	char probe[ADDR_MAX + 1];

	return dom != NULL && dom[0] != '\0' && dom[0] != '[' && addr_is_ascii(dom) &&
	       (size_t)snprintf(probe, sizeof(probe), "x@%s", dom) < sizeof(probe) &&
	       addr_check_mailbox(probe, NULL) == 0;
}

/*
 * <hex of 128 random bits@domain>: unique without any state.  The domain
 * is the sender's (RFC 5322 3.6.4 only asks for uniqueness, but a short
 * host name such as "laptop" looks like spam to filters and says where the
 * mail was written); the host name when the sender has none (<>).
 */
int
msg_put_msgid(struct msg_ctx *c)
{
	unsigned char rnd[MSG_MSGID_RANDOM];
	char hex[2 * MSG_MSGID_RANDOM + 1];
	const char *from = c->env->from, *at = from != NULL ? strrchr(from, '@') : NULL;
	const char *host = c->pol->hostname;
	gnutls_datum_t d = {rnd, sizeof(rnd)};
	size_t hexlen = sizeof(hex);
	int rc;

	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "random number generator: %s",
		    gnutls_strerror(rc));
	if ((rc = gnutls_hex_encode(&d, hex, &hexlen)) < 0)
		return sx_fail(
		    c->err, SX_INTERNAL, STAGE_INTAKE, "hex encoding: %s", gnutls_strerror(rc));
	if (at != NULL && msg_msgid_domain_ok(at + 1))
		host = at + 1;
	else if (!msg_msgid_domain_ok(host))
		host = "localhost";
	if (msg_put(c, "Message-ID: <", 13) == -1 || msg_put(c, hex, strlen(hex)) == -1 ||
	    msg_putc(c, '@') == -1 || msg_put(c, host, strlen(host)) == -1 ||
	    msg_put(c, ">\n", 2) == -1)
		return -1;
	return 0;
}

/*
 * An address field (From, To, Cc...) with "@domain" put after every
 * addr-spec that has none: RFC 5322 requires one, and providers refuse
 * mail without it (cron writes "From: root (Cron Daemon)", "To: root").
 * Like Postfix's append_at_myorigin: the name stays (no aliases, no
 * admin_address), and so do display names, comments and folding.  A field
 * that does not parse, or with no domain to add, goes out as it is.
 */
int
msg_put_qualified(struct msg_ctx *c, const struct msg_field *f)
{
	const char *dom = qualify_sender_domain(&c->q, c->pol->hostname);
	const char *v = c->hdr + f->valoff;
	size_t vlen = f->off + f->len - f->valoff, at = 0, i;
	struct addr_list l;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	if (dom == NULL || addr_parse_list(v, vlen, &l, NULL) == -1) {
		addr_list_free(&l);
		if (msg_put(c, c->hdr + f->off, f->len) == -1 || msg_putc(c, '\n') == -1)
			return -1;
		return 0;
	}
	if (msg_put(c, c->hdr + f->off, f->valoff - f->off) == -1)
		goto out;
	for (i = 0; i < l.n; i++) {
		char *a;
		int ok;

		if (!l.v[i].unqualified || l.v[i].local_end < at || l.v[i].local_end > vlen)
			continue;
		if (asprintf(&a, "%s@%s", l.v[i].spec, dom) == -1) {
			sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
			goto out;
		}
		/* Too long once qualified: left as it was. */
		ok = addr_check_mailbox(a, NULL) == 0;
		free(a);
		if (!ok)
			continue;
		if (msg_put(c, v + at, l.v[i].local_end - at) == -1 || msg_putc(c, '@') == -1 ||
		    msg_put(c, dom, strlen(dom)) == -1)
			goto out;
		at = l.v[i].local_end;
	}
	if (msg_put(c, v + at, vlen - at) == -1 || msg_putc(c, '\n') == -1)
		goto out;
	rc = 0;
out:
	addr_list_free(&l);
	return rc;
}
