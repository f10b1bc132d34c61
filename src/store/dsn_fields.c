/*
 * dsn_fields.c — the fields of the failure DSN (see dsn.h): text from the
 * queue made safe, header fields folded, the human part wrapped, dates,
 * host and address types, Status and Diagnostic-Code from the stored
 * error, the envelope id decoded.  dsn.c puts them together.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "core/datefmt.h"
#include "msg/address.h"
#include "store/dsn_int.h"

#define DSN_FOLD      78                /* RFC 5322 2.1.1: lines SHOULD stay under 78 */
#define DSN_WRAP      72                /* the human part */
#define DSN_DIAG_TYPE "X-smtps-send"    /* RFC 3464 2.1.2: X- types are for private use */
#define DSN_SAID      "; server said: " /* queue_meta_fail's joiner */

static size_t dsn_utf8(const unsigned char *, size_t, unsigned long *);
static int dsn_enhanced(const struct queue_meta *, char *, size_t);

/* RFC 5322 3.3 date-time (datefmt.h); the epoch when t cannot be converted. */
void
dsn_date(char *buf, size_t sz, time_t t)
{
	if (datefmt_rfc5322(buf, sz, t) == -1)
		strlcpy(buf, "Thu, 1 Jan 1970 00:00:00 +0000", sz);
}

/* "3 days", "5 hours", "12 minutes": how long a message was queued. */
void
dsn_span(char *buf, size_t sz, time_t secs)
{
	long long s = secs < 0 ? 0 : (long long)secs;

	if (s >= 2 * 86400)
		snprintf(buf, sz, "%lld days", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(buf, sz, "%lld hours", s / 3600);
	else
		snprintf(buf, sz, "%lld minutes", s / 60);
}

/* A plain host name: LDH labels; with a dot when fqdn is set. */
int
dsn_hostname_ok(const char *s, int fqdn)
{
	size_t i, label = 0, dots = 0;

	if (s == NULL || s[0] == '\0' || strlen(s) > 253)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			dots++;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && s[i - 1] != '-' && (!fqdn || dots > 0);
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left) into *cp; 0 if none. */
static size_t
dsn_utf8(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n || !addr_utf8_valid((const char *)s, len))
		return 0;
	*cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++)
		*cp = (*cp << 6) | (s[i] & 0x3f);
	return len;
}

/*
 * Text from the queue made safe for the report: printable ASCII and (when
 * utf8) well-formed UTF-8 are kept, white space runs become one space,
 * anything else (CR, LF, escape sequences, stray bytes) a '?'.  malloc'ed.
 */
char *
dsn_clean(const char *src, int utf8)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), i, k, o = 0;
	unsigned long cp;
	char *out;

	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t') {
			if (o == 0 || out[o - 1] != ' ')
				out[o++] = ' ';
		} else if (s[i] > 0x20 && s[i] < 0x7f) {
			out[o++] = (char)s[i];
		} else if (utf8 && s[i] >= 0x80 && (k = dsn_utf8(s + i, n - i, &cp)) > 0) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k - 1;
		} else {
			out[o++] = '?';
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * "Name: value", folded before a space so lines stay under DSN_FOLD where
 * the value allows, and cut with an inserted fold at DSN_LINE_MAX where it
 * does not; never a line of white space alone.  value has single spaces
 * and no control bytes (dsn_clean).
 */
void
dsn_field(struct dsn_out *o, const char *name, const char *value)
{
	size_t col = strlen(name) + 2, start = col, wl, k;
	const char *p = value, *w;

	dsn_printf(o, "%s: ", name);
	while (*p != '\0') {
		int sp = *p == ' ';

		w = p + sp;
		wl = strcspn(w, " ");
		if (sp && wl > 0 && col > start && col + 1 + wl > DSN_FOLD) {
			dsn_puts(o, "\n");
			col = 0;
		}
		if (sp) {
			dsn_puts(o, " ");
			col++;
		}
		while (wl > 0) {
			if (col >= DSN_LINE_MAX - 1) {
				dsn_puts(o, "\n ");
				col = 1;
			}
			k = DSN_LINE_MAX - 1 - col < wl ? DSN_LINE_MAX - 1 - col : wl;
			dsn_put(o, w, k);
			col += k;
			w += k;
			wl -= k;
		}
		p = w;
	}
	dsn_puts(o, "\n");
}

/*
 * Human text: words wrapped at DSN_WRAP columns, every line starting with
 * indent; a word longer than a line is split.
 */
void
dsn_wrap(FILE *f, const char *indent, const char *text)
{
	size_t ind = strlen(indent), col = 0, wl, max = DSN_WRAP - ind, k;
	const char *p = text;

	while (*p != '\0') {
		p += strspn(p, " ");
		if (*p == '\0')
			break;
		wl = strcspn(p, " ");
		while (wl > 0) {
			k = wl < max ? wl : max;
			if (col > 0 && col + 1 + k > max) {
				fputc('\n', f);
				col = 0;
			}
			fputs(col == 0 ? indent : " ", f);
			fwrite(p, 1, k, f);
			col += (col == 0 ? 0 : 1) + k;
			p += k;
			wl -= k;
		}
	}
	if (col > 0)
		fputc('\n', f);
}

/*
 * A recipient for Final-Recipient (RFC 3464 2.3.2): "rfc822; addr" as
 * received, or for an address with non-ASCII the 7-bit form of RFC 6533's
 * utf-8 type, "utf-8; " utf-8-addr-xtext (non-ASCII, SP, '+', '=', '\'
 * and DEL as \x{HEX}).  Control bytes and broken UTF-8 become '?' either
 * way: nothing can end the field.  malloc'ed.
 */
char *
dsn_addr_type(const char *addr)
{
	const unsigned char *s = (const unsigned char *)addr;
	size_t n = strlen(addr), i, k;
	unsigned long cp;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (addr_is_ascii(addr)) {
		char *c = malloc(n + 9);

		if (c == NULL)
			return NULL;
		memcpy(c, "rfc822; ", 8);
		for (i = 0; i < n; i++)
			c[8 + i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
		c[8 + n] = '\0';
		return c;
	}
	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	fputs("utf-8; ", f);
	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80 && (k = dsn_utf8(s + i, n - i, &cp)) > 0) {
			fprintf(f, "\\x{%lX}", cp);
			i += k - 1;
		} else if (s[i] == ' ' || s[i] == '+' || s[i] == '=' || s[i] == '\\' ||
			   s[i] == 0x7f) {
			fprintf(f, "\\x{%02X}", s[i]);
		} else if (s[i] > 0x20 && s[i] < 0x7f) {
			fputc(s[i], f);
		} else {
			fputc('?', f);
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The relay as an mta-name of type dns: a name, or an address literal. */
void
dsn_mta_name(const char *host, char *buf, size_t sz)
{
	unsigned char a[16];
	char *c;

	if (inet_pton(AF_INET, host, a) == 1)
		snprintf(buf, sz, "[%s]", host);
	else if (inet_pton(AF_INET6, host, a) == 1)
		snprintf(buf, sz, "[IPv6:%s]", host);
	else if (dsn_hostname_ok(host, 0))
		strlcpy(buf, host, sz);
	else if ((c = dsn_clean(host, 0)) != NULL) {
		c[strcspn(c, " ")] = '\0';
		strlcpy(buf, c, sz);
		free(c);
	} else
		strlcpy(buf, "unknown", sz);
}

/*
 * The enhanced status code the relay sent, as the stored error keeps it
 * ("...; server said: 5.1.1 text"), when it is well formed and of the
 * reply's class (RFC 3463 2); re-printed without leading zeros (RFC 3464
 * 2.3.4).  1 when found.
 */
static int
dsn_enhanced(const struct queue_meta *m, char *out, size_t sz)
{
	const char *p;
	long part[3];
	char *end;
	int i;

	if (m->err_code < 200)
		return 0;
	if (m->err_enhanced != NULL)
		p = m->err_enhanced; /* as the relay sent it (checked below all the same) */
	else if (m->err_text != NULL && (p = strstr(m->err_text, DSN_SAID)) != NULL)
		p += strlen(DSN_SAID);
	else
		return 0;
	for (i = 0; i < 3; i++) {
		const char *d = p;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == d || p - d > (i == 0 ? 1 : 3))
			return 0;
		part[i] = strtol(d, &end, 10);
		if (i < 2 && *p++ != '.')
			return 0;
	}
	if ((*p != '\0' && *p != ' ' && *p != '/') || part[0] != m->err_code / 100 ||
	    (part[0] != 2 && part[0] != 4 && part[0] != 5))
		return 0;
	snprintf(out, sz, "%ld.%ld.%ld", part[0], part[1], part[2]);
	return 1;
}

/*
 * Status (RFC 3464 2.3.4): the relay's own enhanced code; else for an
 * expired message 4.4.7 (RFC 3463: delivery time expired), else the
 * generic code of the reply's class, 5.0.0 without one (RFC 3461 6.3 g).
 */
void
dsn_status(const struct queue_meta *m, char *out, size_t sz)
{
	if (dsn_enhanced(m, out, sz))
		return;
	if (m->state == QUEUE_EXPIRED)
		strlcpy(out, "4.4.7", sz);
	else if (m->err_code >= 400 && m->err_code < 500)
		strlcpy(out, "4.0.0", sz);
	else
		strlcpy(out, "5.0.0", sz);
}

/*
 * Diagnostic-Code (RFC 3464 2.3.6): "smtp; <code> <reply>" when the relay
 * replied (RFC 3461 9.2; the reply's lines as the queue joined them, or
 * the bare code of a reply without text), else our own description under
 * a private type (as Postfix does with X-Postfix), NULL without an error.
 * malloc'ed, cleaned.
 */
char *
dsn_diagnostic(const struct queue_meta *m)
{
	const char *said = NULL;
	char *clean, *d;
	int n;

	if (m->err_code > 0) {
		if (m->err_text != NULL && (said = strstr(m->err_text, DSN_SAID)) != NULL)
			said += strlen(DSN_SAID);
	} else if (m->err_text != NULL && m->err_text[0] != '\0') {
		said = m->err_text;
	} else {
		return NULL;
	}
	if ((clean = dsn_clean(said != NULL ? said : "", 0)) == NULL)
		return NULL;
	if (m->err_code > 0)
		n = asprintf(&d, "smtp; %d%s%s", m->err_code, clean[0] != '\0' ? " " : "", clean);
	else
		n = asprintf(&d, "%s; %s", DSN_DIAG_TYPE, clean);
	free(clean);
	return n == -1 ? NULL : d;
}

/*
 * The envelope id as -V gave it is xtext (RFC 3461 4.4); the field holds it
 * decoded (6.3 a), printable US-ASCII only.  Malformed xtext is shown as
 * is.  malloc'ed.
 */
char *
dsn_envid(const char *x)
{
	size_t n = strlen(x), i, o = 0, one;
	unsigned char c;
	char two[3], *dec, *clean;
	gnutls_datum_t in = {(unsigned char *)two, 2};

	if ((dec = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (x[i] != '+') {
			dec[o++] = x[i];
			continue;
		}
		two[0] = i + 1 < n ? x[i + 1] : '\0';
		two[1] = i + 2 < n ? x[i + 2] : '\0';
		two[2] = '\0';
		one = 1;
		if (i + 2 >= n || gnutls_hex_decode(&in, &c, &one) != 0 || one != 1 || c == 0) {
			memcpy(dec, x, n); /* not xtext after all */
			o = n;
			break;
		}
		dec[o++] = (char)c;
		i += 2;
	}
	dec[o] = '\0';
	clean = dsn_clean(dec, 0);
	free(dec);
	return clean;
}
