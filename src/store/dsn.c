/*
 * dsn.c — the failure DSN (see dsn.h): whether one is wanted, and its
 * three parts written to a spool file with their envelope.  The fields of
 * the parts are formatted in dsn_fields.c.  The report is written straight
 * to a spool file through a small buffer; only the human part (with at
 * most DSN_LIST_MAX recipients) and the returned header block are held in
 * memory, so memory does not grow with the message or its recipient list.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "msg/address.h"
#include "store/dsn_int.h"
#include "store/queue.h"
#include "store/spool.h"

#define DSN_RANDOM   16  /* random bytes in the boundary and the Message-ID */
#define DSN_LIST_MAX 100 /* recipients listed in the human part (all are in part 2) */
#define DSN_QP_LINE  76  /* RFC 2045 6.7 (5) */
#define DSN_TRIES    8   /* boundaries drawn before giving up */
#define DSN_BPREFIX  "=_smtps-send_"
#define DSN_SUBJECT  "Undelivered Mail Returned to Sender"

static void dsn_flush(struct dsn_out *);

static void
dsn_flush(struct dsn_out *o)
{
	if (o->len > 0 && !o->failed && spool_write(o->sp, o->buf, o->len, o->e) == -1)
		o->failed = 1;
	o->len = 0;
}

void
dsn_put(struct dsn_out *o, const char *s, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			o->lfs++;
		else if ((unsigned char)s[i] >= 0x80)
			o->eight = 1;
	}
	o->bytes += n;
	while (n > 0 && !o->failed) {
		if (o->len == sizeof(o->buf))
			dsn_flush(o);
		k = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len : n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

void
dsn_puts(struct dsn_out *o, const char *s)
{
	dsn_put(o, s, strlen(s));
}

void
dsn_printf(struct dsn_out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!o->failed)
			sx_fail(o->e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
		o->failed = 1;
		return;
	}
	dsn_put(o, s, (size_t)n);
	free(s);
}

/* 128 random bits as lower-case hex (out: 2 * DSN_RANDOM + 1).  0 or -1. */
static int
dsn_random_hex(char *out, size_t outsz, struct sx_err *e)
{
	unsigned char rnd[DSN_RANDOM];
	gnutls_datum_t d = {rnd, sizeof(rnd)};
	int rc;

	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "random number generator: %s",
		    gnutls_strerror(rc));
	if (gnutls_hex_encode(&d, out, &outsz) < 0)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "cannot encode random bytes");
	return 0;
}

/* -N: 1 when it names FAILURE, 0 when it does not, -1 when it is not a -N value. */
static int
dsn_notify_failure(const char *v)
{
	int failure = 0, never = 0;
	size_t n;

	if (v == NULL || *v == '\0')
		return -1;
	for (; *v != '\0'; v += n + (v[n] == ',')) {
		n = strcspn(v, ",");
		if (n == 7 && strncasecmp(v, "FAILURE", 7) == 0)
			failure = 1;
		else if (n == 5 && strncasecmp(v, "NEVER", 5) == 0)
			never = 1;
		else if (!(n == 7 && strncasecmp(v, "SUCCESS", 7) == 0) &&
			 !(n == 5 && strncasecmp(v, "DELAY", 5) == 0))
			return -1;
	}
	return failure && !never;
}

int
dsn_wanted(const struct queue_meta *m, const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	if (m->from == NULL || m->from[0] == '\0') {
		*why = "the sender is the null sender <> (never a DSN to <>, so never a loop)";
		return 0;
	}
	if (dsn_notify_failure(m->dsn_notify) == 0) {
		*why = strcasestr(m->dsn_notify, "NEVER") != NULL
			   ? "the sender asked for no DSN (-N never)"
			   : "the sender asked for no DSN on failure (-N without failure)";
		return 0;
	}
	*why = NULL;
	return 1;
}

/*
 * The original header block from the spool (LF endings): everything before
 * the first empty line, at most DSN_HEADERS_MAX bytes, cut at a field
 * boundary when longer (*cut), always ending with LF.  0, or -1.
 */
static int
dsn_read_headers(int fd, const char *id, char **out, size_t *outlen, int *cut, struct sx_err *e)
{
	size_t want = DSN_HEADERS_MAX + 1, got = 0, len, i;
	char *buf;
	ssize_t n;

	*out = NULL;
	*outlen = 0;
	*cut = 0;
	if ((buf = malloc(want + 1)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	while (got < want) {
		n = pread(fd, buf + got, want - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "cannot read message %s: %s", id,
			    strerror(errno));
			if (e != NULL)
				e->sys_errno = errno;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > 0 && buf[0] == '\n')
		len = 0;
	else {
		for (len = got, i = 1; i < got; i++)
			if (buf[i] == '\n' && buf[i - 1] == '\n') {
				len = i;
				break;
			}
	}
	if (len > DSN_HEADERS_MAX) {
		/* The last field boundary that fits, else the last line end, else a hard cut. */
		*cut = 1;
		for (i = DSN_HEADERS_MAX; i > 0; i--)
			if (buf[i - 1] == '\n' && buf[i] != ' ' && buf[i] != '\t')
				break;
		if (i == 0)
			for (i = DSN_HEADERS_MAX; i > 0 && buf[i - 1] != '\n'; i--)
				;
		len = i > 0 ? i : DSN_HEADERS_MAX;
	}
	if (len > 0 && buf[len - 1] != '\n')
		buf[len++] = '\n';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Must a header block travel quoted-printable: 8-bit or control bytes, or long lines? */
static int
dsn_needs_qp(const char *s, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			col = 0;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c >= 0x7f || ++col > DSN_LINE_MAX)
			return 1;
	}
	return 0;
}

/* RFC 2045 6.7 quoted-printable of LF-terminated lines, soft breaks at 76. */
static void
dsn_qp(struct dsn_out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0, tl;
	char tok[3];

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			dsn_puts(o, "\n");
			col = 0;
			continue;
		}
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && i + 1 < n && s[i + 1] != '\n')) {
			tok[0] = (char)c;
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		}
		if (col + tl > DSN_QP_LINE - 1) {
			dsn_puts(o, "=\n");
			col = 0;
		}
		dsn_put(o, tok, tl);
		col += tl;
	}
}

/* Does b occur in s (n bytes)? */
static int
dsn_in(const char *b, const char *s, size_t n)
{
	return s != NULL && memmem(s, n, b, strlen(b)) != NULL;
}

/*
 * A boundary (RFC 2046 5.1.1) that occurs in nothing the report carries.
 * "=_" cannot occur in quoted-printable, and 128 random bits in nothing
 * else, short of a copy of this very report.  0 or -1.
 */
static int
dsn_boundary(char *b, size_t sz, const struct queue_meta *m, const struct dsn_info *in,
    const char *text, size_t textlen, const char *hdrs, size_t hdrlen, struct sx_err *e)
{
	char hex[2 * DSN_RANDOM + 1];
	int tries, clash;
	size_t i;

	for (tries = 0; tries < DSN_TRIES; tries++) {
		if (dsn_random_hex(hex, sizeof(hex), e) == -1)
			return -1;
		snprintf(b, sz, "%s%s", DSN_BPREFIX, hex);
		clash = dsn_in(b, text, textlen) || dsn_in(b, hdrs, hdrlen);
		if (m->err_text != NULL)
			clash |= dsn_in(b, m->err_text, strlen(m->err_text));
		if (m->dsn_envid != NULL)
			clash |= dsn_in(b, m->dsn_envid, strlen(m->dsn_envid));
		if (in->relay_host != NULL)
			clash |= dsn_in(b, in->relay_host, strlen(in->relay_host));
		if (in->reporting_host != NULL)
			clash |= dsn_in(b, in->reporting_host, strlen(in->reporting_host));
		for (i = 0; i < m->nrcpts && !clash; i++)
			clash = dsn_in(b, m->rcpts[i], strlen(m->rcpts[i]));
		if (!clash)
			return 0;
	}
	return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "cannot find a MIME boundary");
}

/* Part 1, for a human.  malloc'ed into *text, *len; NULL when out of memory. */
static char *
dsn_human(
    const struct queue_meta *m, const struct dsn_info *in, const char *host, int cut, size_t *len)
{
	char date[64], span[32], *out = NULL, *s;
	size_t i;
	FILE *f;

	*len = 0;
	if ((f = open_memstream(&out, len)) == NULL)
		return NULL;
	fprintf(f, "This is the mail system at host %s.\n\n", host);
	if (m->state == QUEUE_EXPIRED) {
		dsn_span(span, sizeof(span), in->now - m->created);
		fprintf(f,
		    "Your message could not be delivered to the recipients below. It was\n"
		    "retried for %s, the longest a message is kept trying, and\n"
		    "delivery has been given up.\n\n",
		    span);
	} else {
		fputs("Your message could not be delivered to the recipients below: it was\n"
		      "refused, and it will not be retried.\n\n",
		    f);
	}
	for (i = 0; i < m->nrcpts && i < DSN_LIST_MAX; i++) {
		if ((s = dsn_clean(m->rcpts[i], 1)) == NULL)
			goto fail;
		fprintf(f, "  <%s>\n", s);
		free(s);
	}
	if (m->nrcpts > DSN_LIST_MAX)
		fprintf(f, "  and %zu more (all are listed in the report below)\n",
		    m->nrcpts - DSN_LIST_MAX);
	if (m->err_text != NULL && m->err_text[0] != '\0') {
		dsn_date(date, sizeof(date), m->last_attempt);
		if (m->attempts > 0)
			fprintf(f, "\nThe last of %u attempt%s (%s) failed with:\n\n", m->attempts,
			    m->attempts == 1 ? "" : "s", date);
		else
			fputs("\nIt failed with:\n\n", f);
		if ((s = dsn_clean(m->err_text, 0)) == NULL)
			goto fail;
		dsn_wrap(f, "  ", s);
		free(s);
	}
	dsn_date(date, sizeof(date), m->created);
	fprintf(f, "\nThe message was queued on %s, as %s.\n", date, m->id);
	fputs("Its headers are attached below. Its body is not returned; the\n"
	      "message is kept in the queue for now.\n",
	    f);
	if (cut)
		fprintf(f,
		    "Its header block was longer than %d KiB: only its first %d KiB\n"
		    "are attached.\n",
		    DSN_HEADERS_MAX / 1024, DSN_HEADERS_MAX / 1024);
	if (fclose(f) != 0)
		goto out;
	return out;
fail:
	fclose(f);
out:
	free(out);
	*len = 0;
	return NULL;
}

/* Part 2: the machine-readable report, one group per recipient (7-bit). */
static void
dsn_report(struct dsn_out *o, const struct queue_meta *m, const struct dsn_info *in,
    const char *host, const char *status, const char *diag)
{
	char date[64], mta[300], *s;
	size_t i;

	if (m->dsn_envid != NULL && m->dsn_envid[0] != '\0') {
		if ((s = dsn_envid(m->dsn_envid)) == NULL)
			goto oom;
		dsn_field(o, "Original-Envelope-Id", s);
		free(s);
	}
	if (dsn_hostname_ok(host, 1))
		dsn_printf(o, "Reporting-MTA: dns; %s\n", host);
	else /* RFC 3461 6.3 (b): not "dns" without a fully-qualified name */
		dsn_printf(o, "Reporting-MTA: x-local-hostname; %s\n", host);
	if (m->created != 0) {
		dsn_date(date, sizeof(date), m->created);
		dsn_printf(o, "Arrival-Date: %s\n", date);
	}
	dsn_printf(o, "X-Smtps-Send-Queue-ID: %s\n", m->id);
	for (i = 0; i < m->nrcpts; i++) {
		if ((s = dsn_addr_type(m->rcpts[i])) == NULL)
			goto oom;
		dsn_puts(o, "\n");
		dsn_field(o, "Final-Recipient", s);
		free(s);
		dsn_puts(o, "Action: failed\n");
		dsn_printf(o, "Status: %s\n", status);
		/* The relay took part only when it replied (RFC 3464 2.3.5). */
		if (in->relay_host != NULL && in->relay_host[0] != '\0' && m->err_code > 0) {
			dsn_mta_name(in->relay_host, mta, sizeof(mta));
			dsn_printf(o, "Remote-MTA: dns; %s\n", mta);
		}
		if (diag != NULL)
			dsn_field(o, "Diagnostic-Code", diag);
		if (m->last_attempt != 0) {
			dsn_date(date, sizeof(date), m->last_attempt);
			dsn_printf(o, "Last-Attempt-Date: %s\n", date);
		}
	}
	return;
oom:
	if (!o->failed)
		sx_fail(o->e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	o->failed = 1;
}

/* Fill the DSN's envelope.  0, or -1 when out of memory. */
static int
dsn_meta(struct queue_meta *d, const struct queue_meta *m, const char *id, time_t now)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	strlcpy(d->id, id, sizeof(d->id));
	d->state = QUEUE_DEFERRED;
	d->created = now;
	d->needs_smtputf8 = !addr_is_ascii(m->from);
	/* RFC 3461 6.1: MAIL FROM:<>, no RET, NOTIFY=NEVER if anything. */
	if ((d->from = strdup("")) == NULL || (d->dsn_notify = strdup("NEVER")) == NULL ||
	    (m->account != NULL && (d->account = strdup(m->account)) == NULL) ||
	    (d->rcpts = calloc(1, sizeof(*d->rcpts))) == NULL ||
	    (d->rcpts[0] = strdup(m->from)) == NULL) {
		queue_meta_free(d);
		return -1;
	}
	d->nrcpts = 1;
	/* Through the same relay, also when -q runs with no configuration. */
	for (i = 0; i < m->nrelay; i++)
		if (queue_meta_add_relay(d, m->relay[2 * i], m->relay[2 * i + 1]) == -1) {
			queue_meta_free(d);
			return -1;
		}
	return 0;
}

/* The From: address: the caller's, when it is a plain ASCII mailbox. */
static void
dsn_from(const struct dsn_info *in, const char *host, char *buf, size_t sz)
{
	if (in->from != NULL && addr_is_ascii(in->from) && addr_check_mailbox(in->from, NULL) == 0)
		strlcpy(buf, in->from, sz);
	else if ((size_t)snprintf(buf, sz, "MAILER-DAEMON@%s",
		     dsn_hostname_ok(host, 0) ? host : "localhost") >= sz)
		strlcpy(buf, "MAILER-DAEMON@localhost", sz);
}

int
dsn_create(const char *dir, const struct queue_meta *m, int body_fd, const struct dsn_info *in,
    struct queue_meta *dsn, struct sx_err *e)
{
	char host[256], boundary[64], status[16], from[ADDR_MAX + 1], date[64], msgid[64];
	char id[QUEUE_ID_LEN + 1], path[4200], *hdrs = NULL, *text = NULL, *diag = NULL, *h;
	size_t hdrlen = 0, textlen = 0;
	struct spool_file sp;
	struct dsn_out o;
	int cut = 0, text_qp, hdr_qp, rc = -1;

	memset(dsn, 0, sizeof(*dsn));
	if (!dsn_wanted(m, NULL))
		return 1;
	if (m->state != QUEUE_FAILED && m->state != QUEUE_EXPIRED)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE,
		    "message %s is %s: a failure DSN is only for a failed or expired message",
		    m->id, queue_state_name(m->state));
	if (addr_check_mailbox(m->from, NULL) != 0)
		return sx_fail(e, SX_DATA, STAGE_QUEUE,
		    "message %s: its sender cannot be told (not an address with a domain)", m->id);
	/* Our own name, as it appears in the report: one printable word. */
	h = in->reporting_host != NULL ? dsn_clean(in->reporting_host, 0) : NULL;
	if (h == NULL || h[0] == '\0' || strchr(h, ' ') != NULL || strlen(h) >= sizeof(host))
		strlcpy(host, "localhost", sizeof(host));
	else
		strlcpy(host, h, sizeof(host));
	free(h);

	if (dsn_read_headers(body_fd, m->id, &hdrs, &hdrlen, &cut, e) == -1)
		return -1;
	if ((text = dsn_human(m, in, host, cut, &textlen)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
		goto out;
	}
	if (dsn_boundary(boundary, sizeof(boundary), m, in, text, textlen, hdrs, hdrlen, e) == -1 ||
	    dsn_random_hex(msgid, sizeof(msgid), e) == -1)
		goto out;
	dsn_status(m, status, sizeof(status));
	diag = dsn_diagnostic(m);
	text_qp = dsn_needs_qp(text, textlen);
	hdr_qp = dsn_needs_qp(hdrs, hdrlen);
	dsn_from(in, host, from, sizeof(from));
	dsn_date(date, sizeof(date), in->now);

	if (spool_create(dir, &sp, e, STAGE_QUEUE) == -1)
		goto out;
	memset(&o, 0, sizeof(o));
	o.sp = &sp;
	o.e = e;
	dsn_printf(&o, "From: \"Mail Delivery System\" <%s>\n", from);
	dsn_printf(&o, "To: <%s>\n", m->from);
	dsn_puts(&o, "Subject: " DSN_SUBJECT "\n");
	dsn_printf(&o, "Date: %s\n", date);
	dsn_printf(
	    &o, "Message-ID: <%s@%s>\n", msgid, dsn_hostname_ok(host, 0) ? host : "localhost");
	/* RFC 3834 5.2: "auto-replied" may label a DSN; auto-responders leave it alone. */
	dsn_puts(&o, "Auto-Submitted: auto-replied\n");
	dsn_puts(&o, "MIME-Version: 1.0\n");
	dsn_printf(&o,
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n",
	    boundary);
	dsn_puts(&o, "\nThis is a delivery status notification in MIME format.\n");

	dsn_printf(&o, "\n--%s\n", boundary);
	dsn_printf(&o, "Content-Type: text/plain; charset=%s\n", text_qp ? "utf-8" : "us-ascii");
	if (text_qp)
		dsn_puts(&o, "Content-Transfer-Encoding: quoted-printable\n");
	dsn_puts(&o, "Content-Description: Notification\n\n");
	if (text_qp)
		dsn_qp(&o, text, textlen);
	else
		dsn_put(&o, text, textlen);

	dsn_printf(&o, "\n--%s\n", boundary);
	dsn_puts(&o, "Content-Type: message/delivery-status\n"
		     "Content-Description: Delivery report\n\n");
	dsn_report(&o, m, in, host, status, diag);

	if (hdrlen > 0) {
		dsn_printf(&o, "\n--%s\n", boundary);
		dsn_puts(&o, "Content-Type: text/rfc822-headers\n");
		if (hdr_qp)
			dsn_puts(&o, "Content-Transfer-Encoding: quoted-printable\n");
		dsn_puts(&o, "Content-Description: Undelivered message headers\n\n");
		if (hdr_qp)
			dsn_qp(&o, hdrs, hdrlen);
		else
			dsn_put(&o, hdrs, hdrlen);
	}
	dsn_printf(&o, "\n--%s--\n", boundary);
	dsn_flush(&o);
	if (o.failed)
		goto abort;

	/* The envelope first: whoever finds the .msg finds its metadata. */
	if (queue_id_of(sp.path, id) == -1 || dsn_meta(dsn, m, id, in->now) == -1) {
		sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
		goto abort;
	}
	dsn->size = o.bytes + o.lfs;
	dsn->body_8bit = o.eight;
	if (queue_meta_write(dir, dsn, e) == -1)
		goto abort_meta;
	if (spool_commit(&sp, e) == -1) {
		if (queue_path(path, sizeof(path), dir, id, ".meta") == 0)
			unlink(path);
		queue_meta_free(dsn);
		goto out;
	}
	spool_release(&sp);
	rc = 0;
	goto out;
abort_meta:
	queue_meta_free(dsn);
abort:
	spool_abort(&sp);
out:
	free(hdrs);
	free(text);
	free(diag);
	return rc;
}
