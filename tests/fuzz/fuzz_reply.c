/*
 * fuzz_reply.c — smtp_read_reply() over a conn whose backend serves the
 * fuzz input as the server's bytes, in pieces whose sizes the input picks,
 * plus smtp_parse_reply_line() on every line.
 *
 * Input: byte 0 flags (bit 0: -vv transcript to /dev/null, bit 1: end
 * with a timeout instead of EOF), bytes 1..3 piece sizes (0: all that
 * fits), then the server's bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "core/diag.h"
#include "smtp/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_server {
	const uint8_t *p;
	size_t len, off;
	uint8_t piece[3];
	unsigned turn;
	int timeout_at_end;
};

static ssize_t
fz_read(void *ctx, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct fz_server *s = ctx;
	size_t n;

	(void)deadline;
	if (s->off == s->len) {
		if (!s->timeout_at_end)
			return 0;
		return sx_fail_errno(e, SX_TEMP, STAGE_NONE, ETIMEDOUT, "timeout");
	}
	n = s->piece[s->turn++ % 3];
	if (n == 0 || n > len)
		n = len;
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static int
fz_write(void *ctx, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	(void)ctx, (void)buf, (void)len, (void)deadline, (void)e;
	return 0;
}

static int
fz_tls_start(void *ctx, int64_t deadline, struct sx_err *e)
{
	(void)ctx, (void)deadline;
	return sx_fail(e, SX_TLS, STAGE_NONE, "no TLS here");
}

static int
fz_is_tls(void *ctx)
{
	(void)ctx;
	return 0;
}

static void
fz_close(void *ctx, int graceful, int64_t deadline)
{
	(void)ctx, (void)graceful, (void)deadline;
}

static const struct conn_ops fz_ops = {fz_read, fz_write, fz_tls_start, fz_is_tls, fz_close};

/* A C string that must end inside its array. */
static void
fz_check_str(const char *s, size_t sz)
{
	if (memchr(s, '\0', sz) == NULL)
		abort();
}

/* What reaches a terminal must be printable ASCII (or '\n' where allowed). */
static void
fz_check_printable(const char *s, int keep_nl)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 0x20 && *s < 0x7f) || (keep_nl && *s == '\n')))
			abort();
}

/* smtp_parse_reply_line() on each line of the raw input, as conn would cut it. */
static void
fz_parse_lines(const uint8_t *p, size_t len)
{
	while (len > 0) {
		const uint8_t *nl = memchr(p, '\n', len);
		size_t l = nl != NULL ? (size_t)(nl - p) : len;
		size_t ll = l > 0 && p[l - 1] == '\r' ? l - 1 : l;
		/* A NUL-terminated copy: the parser may rely on that, as after conn. */
		char *line = malloc(ll + 1);
		const char *text = NULL;
		int code = 0, last = -1;

		if (line == NULL)
			abort();
		memcpy(line, p, ll);
		line[ll] = '\0';
		if (smtp_parse_reply_line(line, ll, &code, &last, &text) == 0) {
			if (code < 200 || code > 599 || (last != 0 && last != 1))
				abort();
			if (text < line + 3 || text > line + ll)
				abort();
		}
		free(line);
		if (nl == NULL)
			break;
		p += l + 1;
		len -= l + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_server s;
	struct conn c;
	struct diag d;
	struct smtp_reply r;
	struct sx_err e;
	FILE *devnull = NULL;
	unsigned replies = 0;

	if (size < 4)
		return 0;
	memset(&s, 0, sizeof(s));
	s.p = data + 4;
	s.len = size - 4;
	memcpy(s.piece, data + 1, 3);
	s.timeout_at_end = (data[0] & 2) != 0;
	if (data[0] & 1) {
		if ((devnull = fopen("/dev/null", "w")) == NULL)
			abort();
		diag_init(&d, devnull, 2, (data[0] & 4) != 0);
	}
	fz_parse_lines(s.p, s.len);

	conn_init(&c, &fz_ops, &s, 1000, devnull != NULL ? &d : NULL);
	for (;;) {
		sx_clear(&e);
		if (smtp_read_reply(&c, STAGE_GREETING, &r, &e) == -1)
			break;
		replies++;
		if (r.code < 200 || r.code > 599 || r.nlines < 1 || r.nlines > SMTP_REPLY_MAX_LINES)
			abort();
		fz_check_str(r.text, sizeof(r.text));
		fz_check_str(r.enhanced, sizeof(r.enhanced));
		if (r.enhanced[0] != '\0' && r.enhanced[0] != '0' + r.code / 100)
			abort();
		/* Each reply consumes at least one line: the loop ends. */
		if (replies > s.len)
			abort();
	}
	if (e.cls != SX_PROTO && e.cls != SX_TEMP)
		abort();
	fz_check_str(e.detail, sizeof(e.detail));
	fz_check_str(e.reply, sizeof(e.reply));
	fz_check_printable(e.detail, 0);
	fz_check_printable(e.reply, 1);
	fz_check_printable(e.enhanced, 0);
	if (devnull != NULL) {
		diag_wire_flush(&d);
		fclose(devnull);
	}
	conn_close(&c, 0);
	return 0;
}
