/*
 * addrtok.c — the address-list tokenizer (see addrtok.h).  Comments are
 * scanned whole, nesting counted without recursion; a line break must fold,
 * and no control byte passes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msg/addrtok.h"

/* How much of the input an error message quotes. */
#define ADDR_EXCERPT 40

static int addr_space(const char *, size_t, size_t *);
static int addr_push(struct addr_parser *, enum addr_tok_type, size_t, size_t, int);
static int addr_scan_delim(struct addr_parser *, size_t, size_t *);
static size_t addr_encoded_word(const char *, size_t, size_t);

/*
 * Fail quoting the input from offset off (up to ADDR_EXCERPT bytes,
 * sanitised: the text may hold any byte).
 */
int
addr_error(const struct addr_parser *ap, size_t off, const char *why)
{
	char ex[ADDR_EXCERPT + 1];
	size_t n;

	if (off > ap->len)
		off = ap->len;
	n = ap->len - off;
	sx_sanitize(ex, sizeof(ex), ap->text + off, n > ADDR_EXCERPT ? ADDR_EXCERPT : n, 0);
	return sx_fail(ap->err, SX_DATA, STAGE_INTAKE, "invalid address at \"%s%s\": %s", ex,
	    n > ADDR_EXCERPT ? "..." : "", why);
}

/*
 * Skip white space, including folds (CRLF, LF or CR followed by SP/HT).
 * 1 if anything was skipped, 0 if not, -1 at a line break that does not
 * fold: a header value cannot hold one, and in an argument it would end
 * up on a command line.
 */
static int
addr_space(const char *t, size_t len, size_t *pp)
{
	size_t p = *pp, q;
	int any = 0;

	while (p < len) {
		if (t[p] == ' ' || t[p] == '\t') {
			p++;
			any = 1;
			continue;
		}
		if (t[p] != '\r' && t[p] != '\n')
			break;
		q = p;
		if (t[q] == '\r' && q + 1 < len && t[q + 1] == '\n')
			q++;
		q++;
		if (q >= len || (t[q] != ' ' && t[q] != '\t')) {
			*pp = p;
			return -1;
		}
		p = q;
		any = 1;
	}
	*pp = p;
	return any;
}

static int
addr_push(struct addr_parser *ap, enum addr_tok_type type, size_t off, size_t len, int ws)
{
	struct addr_tok *nt;

	if (ap->ntok == ap->captok) {
		size_t ncap = ap->captok ? ap->captok * 2 : 16;

		if ((nt = reallocarray(ap->tok, ncap, sizeof(*nt))) == NULL)
			return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		ap->tok = nt;
		ap->captok = ncap;
	}
	ap->tok[ap->ntok].type = type;
	ap->tok[ap->ntok].off = off;
	ap->tok[ap->ntok].len = len;
	ap->tok[ap->ntok].ws = ws;
	ap->ntok++;
	return 0;
}

/*
 * Scan a comment, quoted string or domain literal starting at p; *end is
 * set past its closing delimiter.  Comments nest (counted, no recursion).
 */
static int
addr_scan_delim(struct addr_parser *ap, size_t p, size_t *end)
{
	const char *t = ap->text;
	char open = t[p];
	char close = open == '(' ? ')' : open == '"' ? '"' : ']';
	size_t q = p + 1;
	int depth = 1;

	for (;;) {
		unsigned char c;

		if (q >= ap->len)
			return addr_error(ap, p,
			    open == '('   ? "unterminated comment"
			    : open == '"' ? "unterminated quoted string"
					  : "unterminated domain literal");
		c = (unsigned char)t[q];
		if (c == '\r' || c == '\n') {
			if (addr_space(t, ap->len, &q) == -1)
				return addr_error(ap, q, "line break in address");
			continue;
		}
		if (c == '\0')
			return addr_error(ap, q, "NUL byte in address");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return addr_error(ap, q, "control character in address");
		if (c == '\\' && open != '[') {
			unsigned char n = q + 1 < ap->len ? (unsigned char)t[q + 1] : '\0';

			if (q + 1 >= ap->len) {
				q++; /* reported as unterminated */
				continue;
			}
			if (n == '\r' || n == '\n' || n == '\0' || (n < 0x20 && n != '\t') ||
			    n == 0x7f)
				return addr_error(ap, q, "invalid quoted character in address");
			q += 2;
			continue;
		}
		if (open == '[' && (c == '[' || c == '\\'))
			return addr_error(ap, p, "invalid domain literal");
		if (open == '(' && c == '(')
			depth++;
		else if (c == (unsigned char)close && --depth == 0)
			break;
		q++;
	}
	*end = q + 1;
	return 0;
}

/*
 * Length of an RFC 2047 encoded-word at p, or 0.  Taken whole so that the
 * specials some mailers leave inside one ("=?utf-8?Q?Doe,_John?=") do not
 * split the display name.
 */
static size_t
addr_encoded_word(const char *t, size_t len, size_t p)
{
	size_t q = p + 2, n;

	if (p + 1 >= len || t[p] != '=' || t[p + 1] != '?')
		return 0;
	for (n = 0; q < len && t[q] != '?' && t[q] > ' ' && t[q] < 0x7f; q++)
		n++;
	if (n == 0 || q + 2 >= len || t[q] != '?' || strchr("BbQq", t[q + 1]) == NULL ||
	    t[q + 1] == '\0' || t[q + 2] != '?')
		return 0;
	for (q += 3; q < len && t[q] != '?' && t[q] > ' ' && t[q] < 0x7f; q++)
		;
	if (q + 1 >= len || t[q] != '?' || t[q + 1] != '=')
		return 0;
	return q + 2 - p;
}

int
addr_tokenize(struct addr_parser *ap)
{
	const char *t = ap->text;
	size_t p = 0, end = 0;
	int ws = 0, r;

	for (;;) {
		unsigned char c;

		if ((r = addr_space(t, ap->len, &p)) == -1)
			return addr_error(ap, p, "line break in address");
		ws |= r;
		if (p >= ap->len)
			return addr_push(ap, ATOK_END, p, 0, ws);
		c = (unsigned char)t[p];
		if (c == '(' || c == '"' || c == '[') {
			if (addr_scan_delim(ap, p, &end) == -1)
				return -1;
			if (addr_push(ap,
				c == '('   ? ATOK_COMMENT
				: c == '"' ? ATOK_QSTR
					   : ATOK_DLIT,
				p, end - p, ws) == -1)
				return -1;
			ws = c == '(';
			p = end;
			continue;
		}
		if (c != '\0' && strchr("<>@,;:.", c) != NULL) {
			if (addr_push(ap, ATOK_SPECIAL, p, 1, ws) == -1)
				return -1;
			p++;
		} else if (c == ')')
			return addr_error(ap, p, "unbalanced ')'");
		else if (c == ']')
			return addr_error(ap, p, "unbalanced ']'");
		else if (c == '\\')
			return addr_error(ap, p, "'\\' outside a quoted string");
		else if (c == '\0')
			return addr_error(ap, p, "NUL byte in address");
		else if (c < 0x20 || c == 0x7f)
			return addr_error(ap, p, "control character in address");
		else {
			end = p + addr_encoded_word(t, ap->len, p);
			while (end < ap->len && addr_atext((unsigned char)t[end]))
				end++;
			if (addr_push(ap, ATOK_ATOM, p, end - p, ws) == -1)
				return -1;
			p = end;
		}
		ws = 0;
	}
}
