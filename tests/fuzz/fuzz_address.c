/*
 * fuzz_address.c — addr_parse_list() on the input as a header value, and
 * addr_check_mailbox() / addr_utf8_valid() / addr_is_ascii() on it as one
 * address.  Checks address.h's contract: every returned addr-spec has no
 * CR, LF or NUL, passes addr_check_mailbox (1 exactly when flagged
 * unqualified), and parses back to itself.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference UTF-8 check (RFC 3629): no overlongs, surrogates or > U+10FFFF. */
static int
fz_utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if (i + n >= len)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static void
fz_check_field(const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		abort();
}

/* "<spec>" must parse to exactly spec again: the spec is canonical. */
static void
fz_roundtrip(const struct addr *a)
{
	size_t n = strlen(a->spec);
	char *t = malloc(n + 3);
	struct addr_list l;
	struct sx_err e;

	if (t == NULL)
		abort();
	t[0] = '<';
	memcpy(t + 1, a->spec, n);
	t[n + 1] = '>';
	t[n + 2] = '\0';
	memset(&l, 0, sizeof(l));
	sx_clear(&e);
	if (addr_parse_list(t, n + 2, &l, &e) != 0 || l.n != 1 ||
	    strcmp(l.v[0].spec, a->spec) != 0 || l.v[0].unqualified != a->unqualified)
		abort();
	addr_list_free(&l);
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_list l;
	struct sx_err e;
	char *s;
	size_t i;
	int rc;

	if (size > 64 * 1024)
		return 0;
	/* A NUL-terminated copy: the parser gets a length, the checker a C string. */
	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';

	memset(&l, 0, sizeof(l));
	sx_clear(&e);
	rc = addr_parse_list(s, size, &l, &e);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && e.cls != SX_DATA && e.cls != SX_INTERNAL)
		abort();
	if (rc == 0) {
		for (i = 0; i < l.n; i++) {
			const struct addr *a = &l.v[i];
			int chk;

			if (a->spec == NULL || strpbrk(a->spec, "\r\n") != NULL)
				abort();
			fz_check_field(a->display);
			fz_check_field(a->comment);
			chk = addr_check_mailbox(a->spec, NULL);
			if (chk == -1 || chk != (a->unqualified != 0))
				abort();
			fz_roundtrip(a);
		}
	}
	if (memchr(e.detail, '\0', sizeof(e.detail)) == NULL)
		abort();
	addr_list_free(&l);

	/* The input as one address (up to its first NUL). */
	{
		size_t n = strlen(s);

		sx_clear(&e);
		rc = addr_check_mailbox(s, &e);
		if (rc < -1 || rc > 1)
			abort();
		if (rc >= 0) {
			if (n == 0 || n > ADDR_MAX || !fz_utf8_ok((const unsigned char *)s, n))
				abort();
			for (i = 0; i < n; i++)
				if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
					abort();
			if (rc == 0 && strchr(s, '@') == NULL)
				abort(); /* qualified needs an '@' */
		}
		if (addr_utf8_valid(s, n) != fz_utf8_ok((const unsigned char *)s, n))
			abort();
		for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++)
			;
		if (addr_is_ascii(s) != (i == n))
			abort();
	}
	free(s);
	return 0;
}
