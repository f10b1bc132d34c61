/* conn.c — line reader, output buffer and deadlines over a backend (see conn.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "core/diag.h"

void
conn_init(struct conn *c, const struct conn_ops *ops, void *ctx, int timeout_ms, struct diag *d)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->ctx = ctx;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : CLOCK_DEFAULT_TIMEOUT_S * 1000;
	c->diag = d;
}

static int64_t
conn_deadline(const struct conn *c)
{
	return clock_now_ms() + c->timeout_ms;
}

/*
 * A backend failed into be, a fresh error of its own: record it in e
 * unless e holds an earlier cause.  Backends do not know the stage; name
 * it, and say how long we waited.
 */
static int
conn_failed(struct conn *c, enum sx_stage st, const struct sx_err *be, struct sx_err *e)
{
	struct sx_err t;

	if (be->sys_errno != ETIMEDOUT)
		return sx_adopt(e, be, st);
	sx_clear(&t);
	sx_fail_errno(&t, be->cls, be->stage != STAGE_NONE ? be->stage : st, ETIMEDOUT,
	    "no answer from the server within %d s", c->timeout_ms / 1000);
	if (be->hint[0] != '\0')
		sx_hint(&t, "%s", be->hint);
	return sx_adopt(e, &t, st);
}

void
conn_reply_begin(struct conn *c)
{
	c->reply_deadline = conn_deadline(c);
}

void
conn_reply_end(struct conn *c)
{
	c->reply_deadline = 0;
}

size_t
conn_pending(const struct conn *c)
{
	return c->in_end - c->in_start;
}

/*
 * Received bytes go to the -vv transcript when the reader takes them, with
 * the stage of the reply being read: pipelined replies that arrive in one
 * read each name their own command.  Bytes no reader takes (a reply cut
 * by EOF, a line too long, an injection after STARTTLS) are shown when
 * the failure is found.
 */
static void
conn_show(struct conn *c, enum sx_stage st, size_t upto)
{
	if (upto <= c->in_shown)
		return;
	diag_wire(c->diag, DIAG_WIRE_IN, st, c->in + c->in_shown, upto - c->in_shown, c->mask_in);
	c->in_shown = upto;
}

static int
conn_tls_verify(struct conn *c, struct sx_err *e)
{
	struct sx_err be;

	if (!c->tls_unverified)
		return 0;
	c->tls_unverified = 0;
	sx_clear(&be);
	if (c->ops->tls_verify(c->ctx, &be) == -1) {
		c->broken = 1;
		return conn_failed(c, STAGE_TLS, &be, e);
	}
	return 0;
}

/* Move unread bytes to the front and read more; 0, or -1 on EOF/error. */
static int
conn_fill(struct conn *c, enum sx_stage st, int64_t deadline, struct sx_err *e)
{
	struct sx_err be;
	ssize_t n;

	if (conn_tls_verify(c, e) == -1)
		return -1;
	if (c->in_start > 0) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_shown -= c->in_start;
		c->in_start = 0;
	}
	if (c->eof) {
		conn_show(c, st, c->in_end);
		return sx_fail(e, SX_TEMP, st, "connection closed by server");
	}
	sx_clear(&be);
	n = c->ops->read(c->ctx, c->in + c->in_end, sizeof(c->in) - c->in_end, deadline, &be);
	if (n < 0) {
		/* After a read timeout the stream is intact: QUIT may still go out. */
		if (be.sys_errno != ETIMEDOUT)
			c->broken = 1;
		conn_show(c, st, c->in_end);
		return conn_failed(c, st, &be, e);
	}
	if (n == 0) {
		c->eof = 1;
		conn_show(c, st, c->in_end);
		return sx_fail(e, SX_TEMP, st, "connection closed by server");
	}
	c->in_end += (size_t)n;
	return 0;
}

int
conn_readline(
    struct conn *c, enum sx_stage st, char *line, size_t linesz, size_t *lenp, struct sx_err *e)
{
	/* Inside a reply the whole reply shares one deadline (conn_reply_begin). */
	int64_t deadline = c->reply_deadline != 0 ? c->reply_deadline : conn_deadline(c);

	for (;;) {
		char *start = c->in + c->in_start;
		size_t avail = c->in_end - c->in_start;
		char *nl = memchr(start, '\n', avail);

		if (nl != NULL) {
			size_t len = (size_t)(nl - start);

			conn_show(c, st, c->in_start + (size_t)(nl - start) + 1);
			if (len > 0 && start[len - 1] == '\r')
				len--;
			if (len > CONN_LINE_MAX || len >= linesz)
				return sx_fail(e, SX_PROTO, st,
				    "server reply line longer than %d bytes", CONN_LINE_MAX);
			if (memchr(start, '\0', len) != NULL)
				return sx_fail(e, SX_PROTO, st, "server reply contains a NUL byte");
			memcpy(line, start, len);
			line[len] = '\0';
			*lenp = len;
			c->in_start += (size_t)(nl - start) + 1;
			return 0;
		}
		if (avail > CONN_LINE_MAX + 1) {
			conn_show(c, st, c->in_end);
			return sx_fail(e, SX_PROTO, st, "server reply line longer than %d bytes",
			    CONN_LINE_MAX);
		}
		if (conn_fill(c, st, deadline, e) == -1)
			return -1;
	}
}

int
conn_flush(struct conn *c, enum sx_stage st, struct sx_err *e)
{
	struct sx_err be;

	if (c->out_len == 0)
		return 0;
	/* Nothing goes out to a TLS peer that was not checked (RFC 3207 4.1). */
	if (conn_tls_verify(c, e) == -1)
		return -1;
	if (c->broken)
		return sx_fail(e, SX_TEMP, st, "connection lost");
	c->writes++;
	sx_clear(&be);
	if (c->ops->write(c->ctx, c->out, c->out_len, conn_deadline(c), &be) == -1) {
		c->broken = 1;
		c->out_len = 0;
		return conn_failed(c, st, &be, e);
	}
	c->bytes_written += c->out_len;
	c->out_len = 0;
	return 0;
}

int
conn_queue(struct conn *c, enum sx_stage st, const void *buf, size_t len, enum conn_wire wire,
    struct sx_err *e)
{
	if (c->out_cap == 0) {
		c->out = malloc(CONN_OUTBUF_SIZE);
		if (c->out == NULL)
			return sx_fail(e, SX_INTERNAL, st, "out of memory");
		c->out_cap = CONN_OUTBUF_SIZE;
	}
	if (wire != CONN_WIRE_QUIET)
		diag_wire(c->diag, DIAG_WIRE_OUT, st, buf, len, wire == CONN_WIRE_SECRET);
	while (len > 0) {
		size_t n = c->out_cap - c->out_len;

		if (n == 0) {
			if (conn_flush(c, st, e) == -1)
				return -1;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(c->out + c->out_len, buf, n);
		c->out_len += n;
		buf = (const char *)buf + n;
		len -= n;
	}
	return 0;
}

int
conn_tls_start(struct conn *c, struct sx_err *e)
{
	struct sx_err be;

	if (conn_pending(c) > 0) {
		/* The stream can no longer be trusted: not even QUIT goes out (RFC 3207 4.1). */
		c->broken = 1;
		conn_show(c, STAGE_STARTTLS, c->in_end);
		return sx_fail(e, SX_PROTO, STAGE_TLS,
		    "server sent %zu bytes after the STARTTLS reply, before the TLS handshake "
		    "(response injection?)",
		    conn_pending(c));
	}
	if (conn_flush(c, STAGE_TLS, e) == -1)
		return -1;
	sx_clear(&be);
	if (c->ops->tls_start(c->ctx, conn_deadline(c), &be) == -1) {
		c->broken = 1;
		return conn_failed(c, STAGE_TLS, &be, e);
	}
	c->tls_unverified = c->ops->tls_verify != NULL;
	return 0;
}

void
conn_discard(struct conn *c)
{
	if (c->out != NULL)
		explicit_bzero(c->out, c->out_len);
	c->out_len = 0;
}

void
conn_set_timeout(struct conn *c, int timeout_ms)
{
	if (timeout_ms > 0)
		c->timeout_ms = timeout_ms;
}

int
conn_tls_binding(struct conn *c, unsigned char *buf, size_t bufsz, const char **why)
{
	if (!conn_is_tls(c)) {
		*why = "no TLS";
		return -1;
	}
	if (c->ops->tls_binding == NULL) {
		*why = "not available";
		return -1;
	}
	return c->ops->tls_binding(c->ctx, buf, bufsz, why);
}

void
conn_mask_input(struct conn *c, int on)
{
	c->mask_in = on;
}

int
conn_is_open(const struct conn *c)
{
	return !c->broken && !c->eof;
}

struct diag *
conn_diag(const struct conn *c)
{
	return c->diag;
}

int
conn_is_tls(const struct conn *c)
{
	return c->ops->is_tls(c->ctx);
}

void
conn_close(struct conn *c, int graceful)
{
	conn_show(c, STAGE_QUIT, c->in_end);
	if (c->ops != NULL)
		c->ops->close(c->ctx, graceful && !c->broken && !c->eof,
		    clock_now_ms() + (c->timeout_ms < 5000 ? c->timeout_ms : 5000));
	if (c->out != NULL)
		explicit_bzero(c->out, c->out_cap);
	free(c->out);
	c->out = NULL;
	c->out_cap = c->out_len = 0;
	c->ops = NULL;
}
