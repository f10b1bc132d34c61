/*
 * mailbox.c — RFC 5321 checks of an addr-spec as it goes into MAIL FROM or
 * RCPT TO, and the character classes they share with the parser (see
 * address.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "core/strutil.h"
#include "msg/address.h"

static int addr_bad(const char *, const char *, struct sx_err *);
static int addr_check_local(const char *, size_t);
static int addr_check_label(const char *, size_t);
static int addr_check_literal(const char *, size_t);

/* RFC 5322 atext, plus UTF-8 bytes (RFC 6532). */
int
addr_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* 1 when s[0..len) is a dot-atom: atoms separated by single dots. */
int
addr_dot_atom(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!addr_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

int
addr_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

int
addr_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n, k;

	while (i < len) {
		unsigned char c = u[i];
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int
addr_bad(const char *a, const char *why, struct sx_err *e)
{
	char ex[65];
	size_t n = strlen(a);

	sx_sanitize(ex, sizeof(ex), a, n > 64 ? 64 : n, 0);
	return sx_fail(
	    e, SX_DATA, STAGE_INTAKE, "invalid address \"%s%s\": %s", ex, n > 64 ? "..." : "", why);
}

/* RFC 5321 Local-part (dot-string or quoted-string), UTF-8 allowed (RFC 6531). */
static int
addr_check_local(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	if (s[0] != '"')
		return addr_dot_atom(s, len);
	if (len < 2 || s[len - 1] != '"')
		return 0;
	for (i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			if (i + 2 >= len || (unsigned char)s[i + 1] < 0x20 ||
			    (unsigned char)s[i + 1] > 0x7e)
				return 0;
			i++;
		} else if (c == '"' || c < 0x20 || c == 0x7f)
			return 0;
	}
	/* "" is legal in RFC 5321 but no mailbox anyone uses. */
	return len > 2;
}

/* One domain label: LDH (no hyphen at either end) or a UTF-8 U-label. */
static int
addr_check_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c >= 0x80))
			return 0;
	}
	return 1;
}

/* RFC 5321 address-literal: IPv4, "IPv6:" or a tagged general literal. */
static int
addr_check_literal(const char *s, size_t len)
{
	char buf[ADDR_DOMAIN_MAX + 1];
	unsigned char bin[16];
	const char *colon;
	size_t i, n;

	if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(buf))
		return 0;
	n = len - 2;
	memcpy(buf, s + 1, n);
	buf[n] = '\0';
	if (n > 5 && strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, bin) == 1;
	if ((colon = strchr(buf, ':')) == NULL)
		return inet_pton(AF_INET, buf, bin) == 1;
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	if (colon == buf || colon[-1] == '-' || colon[1] == '\0' ||
	    !addr_check_label(buf, (size_t)(colon - buf)))
		return 0;
	for (i = (size_t)(colon - buf) + 1; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
			return 0;
	}
	return 1;
}

int
addr_check_mailbox(const char *a, struct sx_err *e)
{
	const char *at, *d, *dot;
	size_t len, i, llen, dlen;

	if (a == NULL || *a == '\0')
		return sx_fail(e, SX_DATA, STAGE_INTAKE, "empty address");
	len = strlen(a);
	/* A line break is named as one: it is what a command injection carries. */
	if (str_has_ctl(a))
		return addr_bad(a,
		    strpbrk(a, "\r\n") != NULL ? "line break in address"
					       : "control character in address",
		    e);
	if (!addr_utf8_valid(a, len))
		return addr_bad(a, "invalid UTF-8 in address", e);
	if (len > ADDR_MAX)
		return addr_bad(a, "address longer than 254 octets", e);
	if (a[0] == '"') {
		/* The local part ends at the closing quote, not at an '@' inside it. */
		for (i = 1; i < len && a[i] != '"'; i++)
			if (a[i] == '\\' && i + 1 < len)
				i++;
		if (i >= len)
			return addr_bad(a, "unterminated quoted local part", e);
		llen = i + 1;
		if (llen < len && a[llen] != '@')
			return addr_bad(a, "text after quoted local part", e);
	} else {
		at = strchr(a, '@');
		llen = at != NULL ? (size_t)(at - a) : len;
	}
	if (llen == 0)
		return addr_bad(a, "empty local part", e);
	if (!addr_check_local(a, llen))
		return addr_bad(a, "invalid local part", e);
	if (llen > ADDR_LOCAL_MAX)
		return addr_bad(a, "local part longer than 64 octets", e);
	if (llen == len)
		return 1;
	d = a + llen + 1;
	dlen = len - llen - 1;
	if (dlen == 0)
		return addr_bad(a, "missing domain after '@'", e);
	if (dlen > ADDR_DOMAIN_MAX)
		return addr_bad(a, "domain longer than 255 octets", e);
	if (d[0] == '[') {
		if (!addr_check_literal(d, dlen))
			return addr_bad(a, "invalid address literal", e);
		return 0;
	}
	for (;;) {
		dot = memchr(d, '.', dlen);
		if (!addr_check_label(d, dot != NULL ? (size_t)(dot - d) : dlen))
			return addr_bad(a, "invalid domain", e);
		if (dot == NULL)
			break;
		dlen -= (size_t)(dot - d) + 1;
		d = dot + 1;
	}
	return 0;
}
