/*
 * address.c — RFC 5322 address-list parser (see address.h).
 *
 * The header value is cut into tokens first (addrtok.c: atoms, quoted
 * strings, domain literals, comments, specials), then a small
 * recursive-descent parser walks the tokens; each addr-spec found passes
 * the RFC 5321 checks of mailbox.c.  Comments stay in the token array so
 * a bare addr-spec's comment ("root (Cron Daemon)") can serve as its
 * display name.  Nothing recurses on input nesting: comments are counted,
 * groups cannot nest.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msg/address.h"
#include "msg/addrtok.h"

static size_t addr_next(const struct addr_parser *, size_t);
static int addr_is(const struct addr_parser *, size_t, char);
static int addr_is_word(const struct addr_parser *, size_t);
static size_t addr_unfold(char *, const char *, size_t);
static int addr_local(struct addr_parser *, size_t, size_t, char **);
static int addr_domain(struct addr_parser *, size_t *, size_t, char **);
static int addr_phrase(struct addr_parser *, size_t, size_t, char **);
static int addr_comment(struct addr_parser *, size_t, size_t, char **);
static int addr_add(struct addr_parser *, char *, char *, size_t, size_t);
static size_t addr_end(const struct addr_parser *, size_t, size_t);
static int addr_angle(struct addr_parser *, size_t *, size_t, char **, size_t *);
static int addr_mailbox(struct addr_parser *, size_t *, int);

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

/* Offset in the text just after the last token of [i, j) that is not a comment. */
static size_t
addr_end(const struct addr_parser *ap, size_t i, size_t j)
{
	size_t last = i;

	for (; i < j; i = addr_next(ap, i + 1))
		last = i;
	return ap->tok[last].off + ap->tok[last].len;
}

/*
 * angle-addr at token lt ('<'), with the obsolete route ("<@a,@b:x@y>":
 * the route is dropped).  *spec gets the addr-spec, *lend where its local
 * part ends in the text; *ip the token after '>'.
 */
static int
addr_angle(struct addr_parser *ap, size_t *ip, size_t lt, char **spec, size_t *lend)
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
	*lend = addr_end(ap, k, m);
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
	size_t i = *ip, j, k, c0 = i, lend = 0;
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
		if (addr_angle(ap, &k, j, &spec, &lend) == -1) {
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
		if (r == 1)
			a->local_end = lend;
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
	lend = addr_end(ap, i, j);
	if (addr_add(ap, local, domain, c0, k) == -1)
		return -1;
	if (ap->out->v[ap->out->n - 1].unqualified)
		ap->out->v[ap->out->n - 1].local_end = lend;
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
