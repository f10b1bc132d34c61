/*
 * header.c — the header block of the message being read (see intake.h).
 * It is held in memory, up to max_header_bytes, until the blank line or the
 * first line that cannot be a header field; then it is split into fields,
 * the -t recipients and the sender are read from it, and it is written out
 * as it will be sent: Bcc dropped, From rewritten or added, addresses
 * without a domain in the address fields qualified, Date and Message-ID
 * added.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/intake.h"

#define MSG_NAME_MAX 998 /* longer than this and no ':': not a header field */

static int msg_name_is(const struct msg_ctx *, const struct msg_field *, const char *);
static int msg_is_addr_field(const struct msg_ctx *, const struct msg_field *);
static int msg_fields(struct msg_ctx *, size_t, struct msg_field **, size_t *);
static int msg_start_dump(struct msg_ctx *, unsigned char);
static int msg_to_body(struct msg_ctx *, int, unsigned char);
static int msg_hdr_append(struct msg_ctx *, char);

static int
msg_name_is(const struct msg_ctx *c, const struct msg_field *f, const char *name)
{
	return f->namelen == strlen(name) && strncasecmp(c->hdr + f->off, name, f->namelen) == 0;
}

/* A field of addresses, qualified on the way out (set_from_header off: From stays as it is). */
static int
msg_is_addr_field(const struct msg_ctx *c, const struct msg_field *f)
{
	static const char *const names[] = {"To", "Cc", "Reply-To", "Sender", "Resent-From",
	    "Resent-Sender", "Resent-To", "Resent-Cc"};
	size_t i;

	if (msg_name_is(c, f, "From"))
		return c->pol->from_header != FROM_HEADER_OFF;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (msg_name_is(c, f, names[i]))
			return 1;
	return 0;
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
int
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
		if (msg_is_addr_field(c, &f[i])) {
			if (msg_put_qualified(c, &f[i]) == -1)
				goto out;
		} else if (msg_put(c, c->hdr + f[i].off, f[i].len) == -1 || msg_putc(c, '\n') == -1)
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

int
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

int
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
