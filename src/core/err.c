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

/* sx_sanitize_text keeps UTF-8: the user's terminal takes it (main.c). */
static int sx_utf8_on;

void
sx_set_utf8(int on)
{
	sx_utf8_on = on != 0;
}

size_t
sx_utf8_char(const char *src, size_t n, int *unsafe)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned long cp;
	size_t len, k;

	*unsafe = 0;
	if (n == 0 || s[0] < 0xc2 || s[0] > 0xf4)
		return 0; /* ASCII, a continuation byte, or an overlong or too large lead */
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*unsafe = cp <= 0x9f || cp == 0x61c || cp == 0x200e || cp == 0x200f || cp == 0x2028 ||
		  cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
	return len;
}

void
sx_sanitize_text(char *dst, size_t dstsz, const char *src, size_t srclen, int keep_nl)
{
	size_t i = 0, n = 0, len;
	int unsafe;

	if (!sx_utf8_on) {
		sx_sanitize(dst, dstsz, src, srclen, keep_nl);
		return;
	}
	if (dstsz == 0)
		return;
	while (i < srclen && n + 1 < dstsz) {
		if ((unsigned char)src[i] < 0x80 ||
		    (len = sx_utf8_char(src + i, srclen - i, &unsafe)) == 0) {
			/* ASCII, or a byte that starts no character: as sx_sanitize does. */
			sx_sanitize(dst + n, dstsz - n, src + i, 1, keep_nl);
			n++;
			i++;
			continue;
		}
		if (unsafe) {
			dst[n++] = '?';
		} else {
			if (n + len >= dstsz)
				break;
			memcpy(dst + n, src + i, len);
			n += len;
		}
		i += len;
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
	sx_sanitize_text(e->detail, sizeof(e->detail), buf, strlen(buf), 0);
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
		sx_sanitize_text(e->reply, sizeof(e->reply), text, strlen(text), 1);
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
	sx_sanitize_text(e->hint, sizeof(e->hint), buf, strlen(buf), 0);
}

void
sx_note(struct sx_err *e, const char *fmt, ...)
{
	char buf[SX_DETAIL_MAX];
	va_list ap;

	if (e == NULL || e->cls == SX_OK || !e->fresh || e->note[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sx_sanitize_text(e->note, sizeof(e->note), buf, strlen(buf), 0);
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
	sx_sanitize_text(e->detail + len, sizeof(e->detail) - len, buf, strlen(buf), 0);
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
