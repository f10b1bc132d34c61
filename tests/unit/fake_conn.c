/* fake_conn.c — scripted transport for unit tests (see fake_conn.h). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_conn.h"

/* Check that the client wrote exactly the FK_EXPECT run at the cursor. */
static void
fake_check_expect(struct fake_conn *f)
{
	size_t got = f->wlen - f->wchecked, n = 0, first = f->cur;
	int same = 1;

	while (f->cur < f->nsteps && f->steps[f->cur].op == FK_EXPECT) {
		const char *want = f->steps[f->cur].data;
		size_t l = strlen(want);

		if (same && (n + l > got || memcmp(f->written + f->wchecked + n, want, l) != 0))
			same = 0;
		n += l;
		f->cur++;
	}
	if (!same || got != n) {
		/* Show the first expected step and what was written (both capped). */
		const char *want = first < f->cur ? f->steps[first].data : "";

		fail_msg("client wrote %zu bytes:\n[%.*s]\nexpected %zu bytes, starting:\n[%.*s]",
		    got, (int)(got < 4000 ? got : 4000), f->written + f->wchecked, n,
		    (int)(strlen(want) < 4000 ? strlen(want) : 4000), want);
	}
	f->wchecked = f->wlen;
}

static ssize_t
fake_read(void *ctx, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct fake_conn *f = ctx;
	const struct fk_step *st;
	size_t avail, n;

	(void)deadline;
	if (f->tls && !f->verified)
		fail_msg("client reads from the TLS stream before checking the peer");
	/* Mid-reply the client may already pipeline more; check at step starts. */
	if (f->off == 0)
		fake_check_expect(f);
	if (f->cur >= f->nsteps)
		fail_msg("client reads past the end of the script");
	st = &f->steps[f->cur];
	switch (st->op) {
	case FK_EOF:
		f->cur++;
		return 0;
	case FK_TIMEOUT:
		f->cur++;
		return sx_fail_errno(e, SX_TEMP, STAGE_NONE, ETIMEDOUT, "timed out");
	case FK_REPLY:
		break;
	default:
		fail_msg("client reads where the script has step %zu op %d", f->cur, st->op);
	}
	avail = strlen(st->data) - f->off;
	n = avail;
	if (f->chunk > 0 && n > f->chunk)
		n = f->chunk;
	if (n > len)
		n = len;
	memcpy(buf, st->data + f->off, n);
	f->off += n;
	if (f->off == strlen(st->data)) {
		f->cur++;
		f->off = 0;
	}
	return (ssize_t)n;
}

static int
fake_write(void *ctx, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct fake_conn *f = ctx;

	(void)deadline;
	/* Not a byte to a TLS peer that was not checked, not even EHLO (RFC 3207 4.1). */
	if (f->tls && !f->verified)
		fail_msg("client writes [%.*s] before checking the TLS peer", (int)len,
		    (const char *)buf);
	f->nwrites++;
	if (f->fail_write > 0 && f->nwrites >= f->fail_write)
		return sx_fail_errno(
		    e, SX_TEMP, STAGE_NONE, ECONNRESET, "connection reset by peer");
	if (len < f->min_write || f->nwrites == 1)
		f->min_write = len;
	if (f->wlen + len + 1 > f->wcap) {
		size_t cap = (f->wlen + len + 1) * 2;

		f->written = realloc(f->written, cap);
		assert_non_null(f->written);
		f->wcap = cap;
	}
	memcpy(f->written + f->wlen, buf, len);
	f->wlen += len;
	f->written[f->wlen] = '\0';
	return 0;
}

static int
fake_tls_start(void *ctx, int64_t deadline, struct sx_err *e)
{
	struct fake_conn *f = ctx;

	(void)deadline;
	fake_check_expect(f);
	if (f->cur >= f->nsteps ||
	    (f->steps[f->cur].op != FK_TLS && f->steps[f->cur].op != FK_TLS_FAIL &&
		f->steps[f->cur].op != FK_TLS_BADCERT))
		fail_msg("client starts TLS where the script has step %zu", f->cur);
	if (f->steps[f->cur].op == FK_TLS_FAIL) {
		f->cur++;
		return sx_fail(e, SX_TLS, STAGE_TLS, "TLS handshake failed: fake");
	}
	f->badcert = f->steps[f->cur++].op == FK_TLS_BADCERT;
	f->tls = 1;
	f->verified = 0;
	return 0;
}

static int
fake_tls_verify(void *ctx, struct sx_err *e)
{
	struct fake_conn *f = ctx;

	if (!f->tls || f->verified)
		fail_msg("peer check without a new TLS session");
	f->verified = 1;
	if (f->badcert)
		return sx_fail(e, SX_TLS, STAGE_TLS, "certificate expired on 2026-10-01");
	return 0;
}

static int
fake_is_tls(void *ctx)
{
	const struct fake_conn *f = ctx;

	return f->tls;
}

static void
fake_close(void *ctx, int graceful, int64_t deadline)
{
	struct fake_conn *f = ctx;

	(void)deadline;
	f->closed = 1;
	f->graceful = graceful;
}

const struct conn_ops fake_conn_ops = {
    fake_read,
    fake_write,
    fake_tls_start,
    fake_is_tls,
    fake_close,
    fake_tls_verify,
    NULL,
};

void
fake_conn_setup(struct fake_conn *f, struct conn *c, const struct fk_step *steps, size_t chunk)
{
	memset(f, 0, sizeof(*f));
	f->steps = steps;
	while (steps[f->nsteps].op != FK_END)
		f->nsteps++;
	f->chunk = chunk;
	conn_init(c, &fake_conn_ops, f, 1000, NULL);
}

void
fake_conn_assert_done(struct fake_conn *f)
{
	fake_check_expect(f);
	if (f->cur != f->nsteps)
		fail_msg("script not finished: stopped at step %zu of %zu", f->cur, f->nsteps);
}

const char *
fake_conn_written(struct fake_conn *f)
{
	return f->written != NULL ? f->written : "";
}

void
fake_conn_free(struct fake_conn *f)
{
	free(f->written);
	f->written = NULL;
}
