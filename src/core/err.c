/* err.c — error recording and the sysexits mapping (see err.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "core/err.h"

static const char *const stage_names[STAGE_LAST] = {
    [STAGE_NONE] = "smtps-send",
    [STAGE_ARGS] = "arguments",
    [STAGE_CONFIG] = "config",
    [STAGE_INTAKE] = "message",
    [STAGE_RESOLVE] = "resolve",
    [STAGE_CONNECT] = "connect",
    [STAGE_TLS] = "tls",
    [STAGE_GREETING] = "greeting",
    [STAGE_EHLO] = "ehlo",
    [STAGE_STARTTLS] = "starttls",
    [STAGE_AUTH] = "auth",
    [STAGE_MAIL] = "mail",
    [STAGE_RCPT] = "rcpt",
    [STAGE_DATA] = "data",
    [STAGE_BODY] = "body",
    [STAGE_EOM] = "end-of-data",
    [STAGE_QUIT] = "quit",
    [STAGE_QUEUE] = "queue",
};

const char *
sx_stage_name(enum sx_stage st)
{
	if ((int)st < 0 || st >= STAGE_LAST || stage_names[st] == NULL)
		return "?";
	return stage_names[st];
}

void
sx_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen, int keep_nl)
{
	size_t i, n = 0;

	if (dstsz == 0)
		return;
	for (i = 0; i < srclen && n + 1 < dstsz; i++) {
		unsigned char c = (unsigned char)src[i];

		if ((c >= 0x20 && c < 0x7f) || (keep_nl && c == '\n'))
			dst[n++] = (char)c;
		else if (c == '\t')
			dst[n++] = ' ';
		else
			dst[n++] = '?';
	}
	dst[n] = '\0';
}

void
sx_clear(struct sx_err *e)
{
	memset(e, 0, sizeof(*e));
}

/* Record the failure when none is; note whether this call did (err.h, sx_hint). */
static int
sx_record(struct sx_err *e, enum sx_class cls, enum sx_stage st, const char *fmt, va_list ap)
{
	char buf[SX_DETAIL_MAX];

	if (e == NULL)
		return 0;
	if (e->cls != SX_OK) {
		e->fresh = 0;
		return 0;
	}
	memset(e, 0, sizeof(*e));
	e->cls = cls;
	e->stage = st;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	sx_sanitize(e->detail, sizeof(e->detail), buf, strlen(buf), 0);
	e->fresh = 1;
	return 1;
}

int
sx_fail(struct sx_err *e, enum sx_class cls, enum sx_stage st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sx_record(e, cls, st, fmt, ap);
	va_end(ap);
	return -1;
}

int
sx_fail_errno(
    struct sx_err *e, enum sx_class cls, enum sx_stage st, int errnum, const char *fmt, ...)
{
	va_list ap;
	int rec;

	va_start(ap, fmt);
	rec = sx_record(e, cls, st, fmt, ap);
	va_end(ap);
	if (rec)
		e->sys_errno = errnum;
	return -1;
}

int
sx_fail_gnutls(struct sx_err *e, enum sx_class cls, enum sx_stage st, int rc, const char *fmt, ...)
{
	va_list ap;
	int rec;

	va_start(ap, fmt);
	rec = sx_record(e, cls, st, fmt, ap);
	va_end(ap);
	if (rec)
		e->gnutls_rc = rc;
	return -1;
}

static void
sx_put_reply(struct sx_err *e, int code, const char *enhanced, const char *text)
{
	e->reply_code = code;
	if (enhanced != NULL)
		sx_sanitize(e->enhanced, sizeof(e->enhanced), enhanced, strlen(enhanced), 0);
	if (text != NULL)
		sx_sanitize(e->reply, sizeof(e->reply), text, strlen(text), 1);
}

int
sx_fail_reply(struct sx_err *e, enum sx_class cls, enum sx_stage st, int code, const char *enhanced,
    const char *text, const char *fmt, ...)
{
	va_list ap;
	int rec;

	va_start(ap, fmt);
	rec = sx_record(e, cls, st, fmt, ap);
	va_end(ap);
	if (rec)
		sx_put_reply(e, code, enhanced, text);
	return -1;
}

int
sx_adopt(struct sx_err *e, const struct sx_err *from, enum sx_stage st)
{
	if (e == NULL || from == NULL || from == e || from->cls == SX_OK)
		return -1;
	if (e->cls != SX_OK) {
		e->fresh = 0;
		return -1;
	}
	*e = *from;
	if (e->stage == STAGE_NONE)
		e->stage = st;
	e->fresh = 1;
	return -1;
}

void
sx_hint(struct sx_err *e, const char *fmt, ...)
{
	char buf[SX_DETAIL_MAX];
	va_list ap;

	if (e == NULL || e->cls == SX_OK || !e->fresh || e->hint[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sx_sanitize(e->hint, sizeof(e->hint), buf, strlen(buf), 0);
}

void
sx_append(struct sx_err *e, const char *fmt, ...)
{
	char buf[SX_DETAIL_MAX];
	size_t len;
	va_list ap;

	if (e == NULL || e->cls == SX_OK || !e->fresh)
		return;
	len = strlen(e->detail);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sx_sanitize(e->detail + len, sizeof(e->detail) - len, buf, strlen(buf), 0);
}

void
sx_set_reply(struct sx_err *e, int code, const char *enhanced, const char *text)
{
	if (e == NULL || e->cls == SX_OK || !e->fresh || e->reply_code != 0 || e->reply[0] != '\0')
		return;
	sx_put_reply(e, code, enhanced, text);
}

int
sx_is_temporary(const struct sx_err *e)
{
	return e->cls == SX_TEMP;
}

int
sx_exitcode(const struct sx_err *e)
{
	switch (e->cls) {
	case SX_OK:
		return 0;
	case SX_USAGE:
		return EX_USAGE;
	case SX_CONFIG:
		return EX_CONFIG;
	case SX_DATA:
		return EX_DATAERR;
	case SX_NOHOST:
		return EX_NOHOST;
	case SX_TEMP:
		return EX_TEMPFAIL;
	case SX_PERM:
		return EX_UNAVAILABLE;
	case SX_NOUSER:
		return EX_NOUSER;
	case SX_PROTO:
		return EX_PROTOCOL;
	case SX_AUTH:
		return EX_NOPERM;
	case SX_TLS:
		/* Retrying will not fix a bad certificate or a missing STARTTLS. */
		return EX_UNAVAILABLE;
	case SX_LOCALIO:
		return EX_IOERR;
	case SX_INTERNAL:
		return EX_SOFTWARE;
	}
	return EX_SOFTWARE;
}

int
sx_about_message(const struct sx_err *e)
{
	switch (e->cls) {
	case SX_PERM:
	case SX_NOUSER:
	case SX_DATA:
	case SX_USAGE:
		break;
	default:
		return 0;
	}
	/* A 5xx before the transaction is about the relay or the set-up. */
	switch (e->stage) {
	case STAGE_CONFIG:
	case STAGE_RESOLVE:
	case STAGE_CONNECT:
	case STAGE_TLS:
	case STAGE_GREETING:
	case STAGE_EHLO:
	case STAGE_STARTTLS:
	case STAGE_AUTH:
	case STAGE_QUIT:
		return 0;
	default:
		return 1;
	}
}

int
sx_smtp_code(const struct sx_err *e, const char **enhanced)
{
	if (sx_about_message(e)) {
		*enhanced = "5.6.0";
		return 554;
	}
	switch (e->cls) {
	case SX_AUTH:
	case SX_TLS:
		*enhanced = "4.7.0"; /* security or policy status */
		break;
	case SX_TEMP:
	case SX_NOHOST:
	case SX_PROTO:
		*enhanced = "4.4.0"; /* network or routing status */
		break;
	default:
		*enhanced = "4.3.0"; /* mail system status */
		break;
	}
	return 451;
}
