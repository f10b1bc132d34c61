/*
 * address.h — RFC 5322 address lists (display names, quoted strings,
 * nested comments, groups, angle addresses and the obsolete forms real mail
 * carries: route addresses, CFWS around dots, empty list elements) and
 * RFC 5321 mailbox checks.  Pure functions: no I/O.
 *
 * Every error is SX_DATA / STAGE_INTAKE and its detail quotes the bad part
 * of the input, sanitised.
 */
#ifndef SX_ADDRESS_H
#define SX_ADDRESS_H

#include <stddef.h>

#include "core/err.h"

#define ADDR_LOCAL_MAX  64  /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX   256 /* RFC 5321 4.5.3.1.3, with the angle brackets */
#define ADDR_MAX        (ADDR_PATH_MAX - 2)

struct addr {
	char *spec;       /* addr-spec: no CFWS, local part quoted only if it must be */
	char *display;    /* display name as written (phrase, whitespace collapsed), or NULL */
	char *comment;    /* text of the first comment around a bare addr-spec, or NULL */
	int unqualified;  /* no "@domain": a local name to alias and qualify */
	size_t local_end; /* unqualified, parsed from text: where "@domain" goes in it */
};

struct addr_list {
	struct addr *v;
	size_t n;
	size_t cap;
};

/*
 * Parse an RFC 5322 address-list (a header value; folding with LF or CRLF
 * followed by white space is allowed) and append each mailbox, groups
 * flattened, to out (which the caller zeroes first and frees with
 * addr_list_free, also after an error).  An empty list is not an error.
 * Each addr-spec has passed addr_check_mailbox.  Unqualified names are
 * accepted and flagged.  0, or -1 with SX_DATA (or SX_INTERNAL).
 */
int addr_parse_list(const char *text, size_t len, struct addr_list *out, struct sx_err *);

/* Append a copy of spec (no display name) to the list.  0 or -1 (SX_INTERNAL). */
int addr_list_add(struct addr_list *, const char *spec, int unqualified, struct sx_err *);

void addr_list_free(struct addr_list *);

/*
 * RFC 5321 Mailbox check of an addr-spec as it goes into MAIL FROM or RCPT
 * TO: no CR, LF or other control byte, a dot-string or quoted-string local
 * part of at most 64 octets, a domain (LDH or UTF-8 labels, or an address
 * literal) of at most 255, 254 octets in all; UTF-8 must be well formed.
 * A bare local part is accepted as an unqualified name.
 * Returns 0 for local@domain, 1 for an unqualified name, -1 with SX_DATA.
 */
int addr_check_mailbox(const char *addr, struct sx_err *);

/* 1 when c is RFC 5322 atext or a UTF-8 byte (RFC 6532), else 0. */
int addr_atext(unsigned char c);

/* 1 when s[0..len) is a dot-atom (atext runs joined by single dots), else 0. */
int addr_dot_atom(const char *s, size_t len);

/* 1 when every byte of s (NUL-terminated) is ASCII, else 0. */
int addr_is_ascii(const char *s);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs or surrogates), else 0. */
int addr_utf8_valid(const char *s, size_t len);

#endif
