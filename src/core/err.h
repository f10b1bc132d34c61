/*
 * err.h — the one error value every module fills, and its mapping to
 * sysexits(3).  Library code never prints and never exits: it fills a
 * struct sx_err (first error wins) and returns -1; main.c reports it.
 */
#ifndef SX_ERR_H
#define SX_ERR_H

#include <stddef.h>

/* What kind of failure; decides the exit code and whether to retry. */
enum sx_class {
	SX_OK = 0,
	SX_USAGE,   /* bad command line */
	SX_CONFIG,  /* bad config file, account or secret source */
	SX_DATA,    /* bad message or address */
	SX_NOHOST,  /* host name does not resolve */
	SX_TEMP,    /* 4xx, timeout, connection lost: try again later */
	SX_PERM,    /* 5xx: the server will not take it */
	SX_NOUSER,  /* every recipient refused */
	SX_PROTO,   /* malformed server reply or protocol violation */
	SX_AUTH,    /* authentication refused */
	SX_TLS,     /* TLS required but unavailable, or certificate rejected */
	SX_LOCALIO, /* local file or spool I/O */
	SX_INTERNAL /* out of memory, bug */
};

/* Where it failed; every diagnostic names its stage. */
enum sx_stage {
	STAGE_NONE = 0,
	STAGE_ARGS,
	STAGE_CONFIG,
	STAGE_INTAKE,
	STAGE_RESOLVE,
	STAGE_CONNECT,
	STAGE_TLS,
	STAGE_GREETING,
	STAGE_EHLO,
	STAGE_STARTTLS,
	STAGE_AUTH,
	STAGE_MAIL,
	STAGE_RCPT,
	STAGE_DATA,
	STAGE_BODY,
	STAGE_EOM,
	STAGE_QUIT,
	STAGE_QUEUE,
	STAGE_LAST
};

#define SX_DETAIL_MAX 512
#define SX_REPLY_MAX  1024

/*
 * One failure, filled once: the first cause recorded is the one reported,
 * whatever fails after it (a time-out after a refusal, a QUIT that goes
 * wrong).  Fill it only through the functions below, which set every field
 * of a failure at once and never touch an error already recorded; read the
 * fields freely.
 */
struct sx_err {
	enum sx_class cls;
	enum sx_stage stage;
	int sys_errno;              /* 0 if none */
	int gnutls_rc;              /* 0 if none */
	int reply_code;             /* 0 if none */
	char enhanced[16];          /* "5.7.8" when the server sent one */
	char detail[SX_DETAIL_MAX]; /* our cause, printable */
	char reply[SX_REPLY_MAX];   /* server's reply, printable, lines joined by '\n' */
	char hint[SX_DETAIL_MAX];   /* likely fix, or "" */
	char note[SX_DETAIL_MAX];   /* facts to check the hint against, or "" */
	int fresh;                  /* the latest sx_fail* call recorded this error */
};

/*
 * Record a failure unless one is already recorded (the first cause is the
 * one worth reporting).  The detail is formatted and sanitised.  Every
 * sx_fail* returns -1, so "return sx_fail(...)" ends a failing step.
 */
int sx_fail(struct sx_err *, enum sx_class, enum sx_stage, const char *, ...)
    __attribute__((__format__(printf, 4, 5)));

/* sx_fail, with the errno that caused it (a system call's failure, ETIMEDOUT). */
int sx_fail_errno(struct sx_err *, enum sx_class, enum sx_stage, int errnum, const char *, ...)
    __attribute__((__format__(printf, 5, 6)));

/* sx_fail, with the GnuTLS error code that caused it. */
int sx_fail_gnutls(struct sx_err *, enum sx_class, enum sx_stage, int rc, const char *, ...)
    __attribute__((__format__(printf, 5, 6)));

/*
 * sx_fail for a server reply: its code (0 when the line was no reply at
 * all), enhanced status code (NULL or "" when none) and text (lines joined
 * by '\n', sanitised keeping the newlines) go with the detail.
 */
int sx_fail_reply(struct sx_err *, enum sx_class, enum sx_stage, int code, const char *enhanced,
    const char *text, const char *, ...) __attribute__((__format__(printf, 7, 8)));

/*
 * Record a failure filled elsewhere (a backend's, a deferred one) as it is,
 * unless one is already recorded; its stage STAGE_NONE becomes st.  -1.
 */
int sx_adopt(struct sx_err *, const struct sx_err *from, enum sx_stage st);

/*
 * A hint, or more words, only ever belong to their own error.  They attach
 * to the error the latest sx_fail* (or sx_adopt) call on e recorded; when
 * that call found an earlier error in place and recorded nothing, they are
 * dropped, so a later step never adds its advice to an earlier step's
 * failure.  The first hint stays.
 */
void sx_hint(struct sx_err *, const char *, ...) __attribute__((__format__(printf, 2, 3)));

/* The facts a user checks before following the hint (same rule as sx_hint). */
void sx_note(struct sx_err *, const char *, ...) __attribute__((__format__(printf, 2, 3)));

/* Append to the detail of the error just recorded (same rule as sx_hint). */
void sx_append(struct sx_err *, const char *, ...) __attribute__((__format__(printf, 2, 3)));

/*
 * Attach a server reply to the error just recorded when it has none (same
 * rule as sx_hint).  For callers that build an error in two steps (tests);
 * a failure that comes with a reply is better recorded by sx_fail_reply.
 */
void sx_set_reply(struct sx_err *, int code, const char *enhanced, const char *text);

void sx_clear(struct sx_err *);

/* sysexits(3) code for the error; 0 for SX_OK. */
int sx_exitcode(const struct sx_err *);

/* Stage name as printed in diagnostics ("connect", "starttls", …). */
const char *sx_stage_name(enum sx_stage);

/* Temporary failure worth retrying later (SX_TEMP)? */
int sx_is_temporary(const struct sx_err *);

/*
 * The sendmail contract (DESIGN.md) decided in one place: is this failure
 * about the message itself -- the relay refused its sender, recipients or
 * content (5xx at MAIL, RCPT or the data), or the input is bad -- so that
 * it is refused (non-zero exit, kept as failed, never retried
 * automatically)?  Everything else (relay unreachable, time-outs, TLS,
 * authentication, configuration, 4xx, malformed replies, local trouble) is
 * not the message's fault: a queued message is accepted and retried.
 */
int sx_about_message(const struct sx_err *);

/*
 * The reply -bs gives its caller for a failure that carries no relay reply
 * of its own: 554 for a failure about the message, else a 451 whose
 * enhanced code names the kind of trouble (*enhanced set to it).
 */
int sx_smtp_code(const struct sx_err *, const char **enhanced);

/*
 * Copy src to dst (size dstsz), replacing every byte that is not printable
 * ASCII (and not '\n' when keep_nl) by '?' so nothing from the network or
 * input can drive the terminal.  Always NUL-terminates.
 */
void sx_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen, int keep_nl);

/*
 * sx_sanitize for text shown to the user (error details, server replies,
 * -v lines): when the terminal's locale is UTF-8 (sx_set_utf8), valid
 * UTF-8 is kept as it is, except C1 controls, line and paragraph
 * separators and the bidirectional marks, overrides and isolates
 * (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069: "Trojan Source"),
 * which become one '?' each; a byte that starts no valid character (an
 * overlong form, a surrogate, beyond U+10FFFF, cut off) becomes '?'.  A
 * character that does not fit whole is left out.  Otherwise sx_sanitize.
 */
void sx_sanitize_text(char *dst, size_t dstsz, const char *src, size_t srclen, int keep_nl);

/* Let sx_sanitize_text keep UTF-8 (main.c: the locale's codeset is UTF-8). */
void sx_set_utf8(int on);

/*
 * Length (2..4) of the valid UTF-8 character at s (n bytes available), or
 * 0 when none starts there; *unsafe set when it is one sx_sanitize_text
 * replaces.
 */
size_t sx_utf8_char(const char *s, size_t n, int *unsafe);

#endif
