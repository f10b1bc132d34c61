/*
 * addrtok.h — the address-list parser's tokens (private to src/msg): the
 * header value is cut into atoms, quoted strings, domain literals, comments
 * and specials, with their raw bytes kept in place, before address.c walks
 * them.
 */
#ifndef SX_ADDRTOK_H
#define SX_ADDRTOK_H

#include <stddef.h>

#include "msg/address.h"

enum addr_tok_type { ATOK_ATOM, ATOK_QSTR, ATOK_DLIT, ATOK_COMMENT, ATOK_SPECIAL, ATOK_END };

struct addr_tok {
	enum addr_tok_type type;
	size_t off; /* raw bytes in the text, delimiters included */
	size_t len;
	int ws; /* white space or a comment came before it */
};

struct addr_parser {
	const char *text;
	size_t len;
	struct addr_tok *tok;
	size_t ntok;
	size_t captok;
	struct addr_list *out;
	struct sx_err *err;
};

/* Fail with SX_DATA quoting the input from offset off; always -1. */
int addr_error(const struct addr_parser *, size_t off, const char *why);

/* Fill ap->tok, ending with an ATOK_END token.  0 or -1 (SX_DATA, SX_INTERNAL). */
int addr_tokenize(struct addr_parser *);

#endif
