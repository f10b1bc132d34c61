/*
 * address.c — RFC 5322 address-list parser and RFC 5321 mailbox checks
 * (see address.h).
 *
 * The header value is cut into tokens first (atoms, quoted strings, domain
 * literals, comments, specials), then a small recursive-descent parser walks
 * the tokens.  Comments stay in the token array so a bare addr-spec's
 * comment ("root (Cron Daemon)") can serve as its display name.  Nothing
 * recurses on input nesting: comments are counted, groups cannot nest.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

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

/* How much of the input an error message quotes. */
#define ADDR_EXCERPT 40

static int addr_error(const struct addr_parser *, size_t, const char *);
static int addr_space(const char *, size_t, size_t *);
static int addr_atext(unsigned char);
static int addr_push(struct addr_parser *, enum addr_tok_type, size_t, size_t, int);
static int addr_scan_delim(struct addr_parser *, size_t, size_t *);
static size_t addr_encoded_word(const char *, size_t, size_t);
static int addr_tokenize(struct addr_parser *);
static size_t addr_next(const struct addr_parser *, size_t);
static int addr_is(const struct addr_parser *, size_t, char);
static int addr_is_word(const struct addr_parser *, size_t);
static size_t addr_unfold(char *, const char *, size_t);
static int addr_dot_atom(const char *, size_t);
static int addr_local(struct addr_parser *, size_t, size_t, char **);
static int addr_domain(struct addr_parser *, size_t *, size_t, char **);
static int addr_phrase(struct addr_parser *, size_t, size_t, char **);
static int addr_comment(struct addr_parser *, size_t, size_t, char **);
static int addr_add(struct addr_parser *, char *, char *, size_t, size_t);
static int addr_angle(struct addr_parser *, size_t *, size_t, char **);
static int addr_mailbox(struct addr_parser *, size_t *, int);
static int addr_bad(const char *, const char *, struct sx_err *);
static int addr_check_local(const char *, size_t);
static int addr_check_label(const char *, size_t);
static int addr_check_literal(const char *, size_t);

/*
 * Fail quoting the input from offset off (up to ADDR_EXCERPT bytes,
 * sanitised: the text may hold any byte).
 */
static int
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

/* RFC 5322 atext, plus UTF-8 bytes (RFC 6532). */
static int
addr_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
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

static int
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

/* First token at or after i that is not a comment (ATOK_END ends the array). */
static size_t
addr_next(const struct addr_parser *ap, size_t i)
{
	while (ap->tok[i].type == ATOK_COMMENT)
		i++;
	return i;
}

static int
addr_is(const struct addr_parser *ap, size_t i, char c)
{
	return ap->tok[i].type == ATOK_SPECIAL && ap->text[ap->tok[i].off] == c;
}

static int
addr_is_word(const struct addr_parser *ap, size_t i)
{
	return ap->tok[i].type == ATOK_ATOM || ap->tok[i].type == ATOK_QSTR;
}

/* Copy src without its line breaks (unfolding keeps the white space). */
static size_t
addr_unfold(char *dst, const char *src, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (src[i] != '\r' && src[i] != '\n')
			dst[n++] = src[i];
	return n;
}

/* 1 when s[0..len) is a dot-atom: atoms separated by single dots. */
static int
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

/*
 * Local part from tokens [i, j): word *("." word), CFWS anywhere between
 * (obs-local-part).  The result is the bare dot-atom when the content is
 * one, else a quoted string with only '"' and '\' escaped.
 */
static int
addr_local(struct addr_parser *ap, size_t i, size_t j, char **out)
{
	size_t span = ap->tok[j].off - ap->tok[i].off, n = 0, k, m;
	char *raw, *q;
	int want_word = 1;

	if ((raw = malloc(span + 1)) == NULL)
		return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	for (k = i; k < j; k = addr_next(ap, k + 1)) {
		const struct addr_tok *tk = &ap->tok[k];
		const char *s = ap->text + tk->off;

		if (want_word != addr_is_word(ap, k)) {
			free(raw);
			return addr_error(ap, ap->tok[i].off,
			    want_word ? "misplaced '.' in local part"
				      : "unquoted space in address (missing '<...>' or ',')");
		}
		want_word = !want_word;
		if (tk->type == ATOK_QSTR) {
			for (m = 1; m + 1 < tk->len; m++) {
				if (s[m] == '\r' || s[m] == '\n')
					continue;
				if (s[m] == '\\')
					m++;
				raw[n++] = s[m];
			}
		} else
			n += addr_unfold(raw + n, s, tk->len);
	}
	if (want_word) {
		free(raw);
		return addr_error(ap, ap->tok[i].off, "misplaced '.' in local part");
	}
	if (n == 0) {
		free(raw);
		return addr_error(ap, ap->tok[i].off, "empty local part");
	}
	if (addr_dot_atom(raw, n)) {
		raw[n] = '\0';
		*out = raw;
		return 0;
	}
	/* Needs quoting: at worst every byte escaped, plus the quotes. */
	if ((q = malloc(2 * n + 3)) == NULL) {
		free(raw);
		return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	}
	m = 0;
	q[m++] = '"';
	for (k = 0; k < n; k++) {
		if (raw[k] == '"' || raw[k] == '\\')
			q[m++] = '\\';
		q[m++] = raw[k];
	}
	q[m++] = '"';
	q[m] = '\0';
	free(raw);
	*out = q;
	return 0;
}

/*
 * Domain at token *ip: a domain literal, or atoms separated by dots (CFWS
 * allowed around them, obs-domain).  start is where the address began,
 * for the error message.  *ip is left at the token after the domain.
 */
static int
addr_domain(struct addr_parser *ap, size_t *ip, size_t start, char **out)
{
	size_t i = *ip, k, n = 0, span;
	char *d;

	if (ap->tok[i].type == ATOK_DLIT) {
		const struct addr_tok *tk = &ap->tok[i];

		if ((d = malloc(tk->len + 1)) == NULL)
			return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		for (k = 0; k < tk->len; k++) {
			char c = ap->text[tk->off + k];

			/* FWS inside a literal is not part of it. */
			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				d[n++] = c;
		}
		d[n] = '\0';
		*out = d;
		*ip = addr_next(ap, i + 1);
		return 0;
	}
	if (ap->tok[i].type != ATOK_ATOM)
		return addr_error(ap, start, "missing domain after '@'");
	k = i;
	for (;;) {
		size_t nx = addr_next(ap, k + 1);

		if (!addr_is(ap, nx, '.'))
			break;
		k = addr_next(ap, nx + 1);
		if (ap->tok[k].type != ATOK_ATOM)
			return addr_error(ap, ap->tok[nx].off, "misplaced '.' in domain");
	}
	span = ap->tok[k].off + ap->tok[k].len - ap->tok[i].off;
	if ((d = malloc(span + 1)) == NULL)
		return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	for (; i <= k; i = addr_next(ap, i + 1))
		n += addr_unfold(d + n, ap->text + ap->tok[i].off, ap->tok[i].len);
	d[n] = '\0';
	*out = d;
	*ip = addr_next(ap, k + 1);
	return 0;
}

/*
 * Display name from tokens [i, j): the words as written, one space where
 * the input had white space, folds removed.  NULL when there is none.
 */
static int
addr_phrase(struct addr_parser *ap, size_t i, size_t j, char **out)
{
	size_t span, n = 0, k;
	char *s;

	*out = NULL;
	i = addr_next(ap, i);
	if (i >= j)
		return 0;
	if (!addr_is_word(ap, i))
		return addr_error(ap, ap->tok[i].off, "display name starts with '.'");
	span = ap->tok[j].off - ap->tok[i].off;
	if ((s = malloc(span + 1)) == NULL)
		return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	for (k = i; k < j; k = addr_next(ap, k + 1)) {
		if (k != i && ap->tok[k].ws)
			s[n++] = ' ';
		n += addr_unfold(s + n, ap->text + ap->tok[k].off, ap->tok[k].len);
	}
	s[n] = '\0';
	*out = s;
	return 0;
}

/* Text of the first comment among tokens [i, j), without its parentheses. */
static int
addr_comment(struct addr_parser *ap, size_t i, size_t j, char **out)
{
	size_t k, n;
	char *s;

	*out = NULL;
	for (k = i; k < j; k++) {
		const struct addr_tok *tk = &ap->tok[k];

		if (tk->type != ATOK_COMMENT)
			continue;
		if ((s = malloc(tk->len)) == NULL)
			return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		n = addr_unfold(s, ap->text + tk->off + 1, tk->len - 2);
		s[n] = '\0';
		*out = s;
		return 0;
	}
	return 0;
}

/*
 * Append local[@domain] (both consumed) with display name (consumed) and
 * the comment among tokens [i, j), after the RFC 5321 check.
 */
static int
addr_add(struct addr_parser *ap, char *local, char *domain, size_t i, size_t j)
{
	struct addr_list *l = ap->out;
	struct addr *a;
	char *spec = local, *comment = NULL;
	int r;

	if (domain != NULL) {
		size_t ll = strlen(local), dl = strlen(domain);

		if ((spec = malloc(ll + dl + 2)) == NULL) {
			free(local);
			free(domain);
			return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		}
		memcpy(spec, local, ll);
		spec[ll] = '@';
		memcpy(spec + ll + 1, domain, dl + 1);
		free(local);
		free(domain);
	}
	if ((r = addr_check_mailbox(spec, ap->err)) == -1 ||
	    addr_list_add(l, spec, r, ap->err) == -1 || addr_comment(ap, i, j, &comment) == -1) {
		free(spec);
		return -1;
	}
	free(spec);
	a = &l->v[l->n - 1];
	a->comment = comment;
	return 0;
}

/*
 * angle-addr at token lt ('<'), with the obsolete route ("<@a,@b:x@y>":
 * the route is dropped).  *spec gets the addr-spec; *ip the token after '>'.
 */
static int
addr_angle(struct addr_parser *ap, size_t *ip, size_t lt, char **spec)
{
	size_t k = addr_next(ap, lt + 1), m;
	char *local = NULL, *domain = NULL, *skip;

	*spec = NULL;
	if (addr_is(ap, k, '>'))
		return addr_error(ap, ap->tok[lt].off, "empty address '<>'");
	if (addr_is(ap, k, '@') || addr_is(ap, k, ',')) {
		for (;;) {
			while (addr_is(ap, k, ','))
				k = addr_next(ap, k + 1);
			if (addr_is(ap, k, ':')) {
				k = addr_next(ap, k + 1);
				break;
			}
			if (!addr_is(ap, k, '@'))
				return addr_error(ap, ap->tok[lt].off, "invalid route in address");
			k = addr_next(ap, k + 1);
			if (addr_domain(ap, &k, ap->tok[lt].off, &skip) == -1)
				return -1;
			free(skip);
		}
	}
	for (m = k; addr_is_word(ap, m) || addr_is(ap, m, '.'); m = addr_next(ap, m + 1))
		;
	if (m == k)
		return addr_error(ap, ap->tok[lt].off, "missing address in '<...>'");
	if (addr_local(ap, k, m, &local) == -1)
		return -1;
	if (addr_is(ap, m, '@')) {
		m = addr_next(ap, m + 1);
		if (addr_domain(ap, &m, ap->tok[lt].off, &domain) == -1) {
			free(local);
			return -1;
		}
	}
	if (!addr_is(ap, m, '>')) {
		free(local);
		free(domain);
		return addr_error(ap, ap->tok[lt].off, "missing '>'");
	}
	*ip = addr_next(ap, m + 1);
	if (domain == NULL) {
		*spec = local;
		return 0;
	}
	if ((*spec = malloc(strlen(local) + strlen(domain) + 2)) == NULL) {
		free(local);
		free(domain);
		return sx_fail(ap->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	}
	/* Sizes computed just above. */
	strcpy(*spec, local);
	strcat(*spec, "@");
	strcat(*spec, domain);
	free(local);
	free(domain);
	return 0;
}

/*
 * One address (mailbox, or a group when in_group is 0) at token *ip.
 * The run of words and dots decides what it is by what follows it.
 */
static int
addr_mailbox(struct addr_parser *ap, size_t *ip, int in_group)
{
	size_t i = *ip, j, k, c0 = i;
	char *local = NULL, *domain = NULL, *display = NULL;

	/* Comments before the address count too: "(Cron Daemon) <root>". */
	while (c0 > 0 && ap->tok[c0 - 1].type == ATOK_COMMENT)
		c0--;

	for (j = i; addr_is_word(ap, j) || addr_is(ap, j, '.'); j = addr_next(ap, j + 1))
		;
	if (addr_is(ap, j, '<')) {
		char *spec;
		struct addr *a;
		int r;

		if (addr_phrase(ap, i, j, &display) == -1)
			return -1;
		if (addr_angle(ap, &k, j, &spec) == -1) {
			free(display);
			return -1;
		}
		if ((r = addr_check_mailbox(spec, ap->err)) == -1 ||
		    addr_list_add(ap->out, spec, r, ap->err) == -1) {
			free(spec);
			free(display);
			return -1;
		}
		free(spec);
		a = &ap->out->v[ap->out->n - 1];
		a->display = display;
		if (display == NULL && addr_comment(ap, c0, k, &a->comment) == -1)
			return -1;
		*ip = k;
		return 0;
	}
	if (addr_is(ap, j, ':')) {
		if (in_group)
			return addr_error(ap, ap->tok[i].off, "group inside a group");
		if (j == i)
			return addr_error(ap, ap->tok[j].off, "group without a name");
		if (addr_phrase(ap, i, j, &display) == -1)
			return -1;
		free(display); /* group names are not kept */
		k = addr_next(ap, j + 1);
		for (;;) {
			while (addr_is(ap, k, ','))
				k = addr_next(ap, k + 1);
			/* A missing ';' at the very end is common ("undisclosed-recipients:"). */
			if (ap->tok[k].type == ATOK_END)
				break;
			if (addr_is(ap, k, ';')) {
				k = addr_next(ap, k + 1);
				break;
			}
			if (addr_mailbox(ap, &k, 1) == -1)
				return -1;
			if (!addr_is(ap, k, ',') && !addr_is(ap, k, ';') &&
			    ap->tok[k].type != ATOK_END)
				return addr_error(
				    ap, ap->tok[k].off, "missing ',' between addresses");
		}
		*ip = k;
		return 0;
	}
	if (j == i) {
		if (addr_is(ap, j, ';'))
			return addr_error(ap, ap->tok[j].off, "';' outside a group");
		if (ap->tok[j].type == ATOK_DLIT)
			return addr_error(ap, ap->tok[j].off, "domain literal without local part");
		return addr_error(ap, ap->tok[j].off, "unexpected character");
	}
	if (addr_local(ap, i, j, &local) == -1)
		return -1;
	k = j;
	if (addr_is(ap, j, '@')) {
		k = addr_next(ap, j + 1);
		if (addr_domain(ap, &k, ap->tok[i].off, &domain) == -1) {
			free(local);
			return -1;
		}
	}
	if (addr_add(ap, local, domain, c0, k) == -1)
		return -1;
	*ip = k;
	return 0;
}

int
addr_parse_list(const char *text, size_t len, struct addr_list *out, struct sx_err *e)
{
	struct addr_parser ap;
	size_t i;
	int rc = -1;

	memset(&ap, 0, sizeof(ap));
	ap.text = text;
	ap.len = len;
	ap.out = out;
	ap.err = e;
	if (addr_tokenize(&ap) == -1)
		goto out;
	i = addr_next(&ap, 0);
	for (;;) {
		/* Empty elements (",,") are obs-addr-list; real mail has them. */
		while (addr_is(&ap, i, ','))
			i = addr_next(&ap, i + 1);
		if (ap.tok[i].type == ATOK_END)
			break;
		if (addr_mailbox(&ap, &i, 0) == -1)
			goto out;
		if (addr_is(&ap, i, ','))
			continue;
		if (ap.tok[i].type == ATOK_END)
			break;
		if (addr_is(&ap, i, ';')) {
			addr_error(&ap, ap.tok[i].off, "';' outside a group");
			goto out;
		}
		addr_error(&ap, ap.tok[i].off, "missing ',' between addresses");
		goto out;
	}
	rc = 0;
out:
	free(ap.tok);
	return rc;
}

int
addr_list_add(struct addr_list *l, const char *spec, int unqualified, struct sx_err *e)
{
	struct addr *nv;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4;

		if ((nv = reallocarray(l->v, ncap, sizeof(*nv))) == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	if ((l->v[l->n].spec = strdup(spec)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	l->v[l->n].unqualified = unqualified;
	l->n++;
	return 0;
}

void
addr_list_free(struct addr_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].spec);
		free(l->v[i].display);
		free(l->v[i].comment);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
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
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c == '\r' || c == '\n')
			return addr_bad(a, "line break in address", e);
		if (c < 0x20 || c == 0x7f)
			return addr_bad(a, "control character in address", e);
	}
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
