/*
 * reply.h — the SMTP protocol's text, below any session: the reply parser
 * (multi-line, enhanced status codes), EHLO capabilities, and a command
 * writer that refuses CR/LF/NUL in arguments.  Errors follow err.h and
 * name the stage the caller gives.
 */
#ifndef SX_SMTP_REPLY_H
#define SX_SMTP_REPLY_H

#include <stddef.h>

#include "core/err.h"
#include "net/conn.h"

/* Most lines one reply may have (EHLO answers have ~20). */
#define SMTP_REPLY_MAX_LINES 256
/* Longest SASL mechanism name (RFC 4422 3.1). */
#define SMTP_SASL_NAME_MAX 20

struct smtp_reply {
	int code;
	char enhanced[16];       /* "2.1.5", or "" */
	char text[SX_REPLY_MAX]; /* the lines' text without codes, printable, joined by '\n' */
	size_t nlines;
};

struct smtp_caps {
	int esmtp; /* EHLO answered (else HELO) */
	int starttls;
	int pipelining;
	int eightbitmime;
	int smtputf8;
	int enhancedstatuscodes;
	int chunking;
	int dsn;
	int size_offered;
	unsigned long long size; /* 0: no limit announced */
	int auth;                /* any AUTH line */
	int auth_plain;
	int auth_login;
	char auth_list[512];   /* valid mechanism names offered (each once, upper case) */
	unsigned auth_dropped; /* names outside the SASL charset, not kept */
};

/*
 * Parse one reply line ("250-text", "250 text", "250").  *last is 1 on the
 * final line.  -1 when the line is not a reply line.
 */
int smtp_parse_reply_line(const char *line, size_t len, int *code, int *last, const char **text);

/*
 * Read one complete reply: bounded line length (conn) and line count, the
 * same code on every line.  Its text is sanitised (sx_sanitize: every byte
 * that is not printable ASCII becomes '?'), so no caller can print server
 * text raw.  -1 with SX_PROTO (malformed: the reply code 0 and the
 * offending line kept as the reply) or SX_TEMP (lost).
 */
int smtp_read_reply(struct conn *, enum sx_stage, struct smtp_reply *, struct sx_err *);

/* Describe caps in one line (for -v and --check); returns buf. */
char *smtp_caps_describe(const struct smtp_caps *, char *buf, size_t sz);

/*
 * Fill caps from an EHLO reply (clears caps first): one keyword per line
 * after the first, ending at a space or at '=' (the old "AUTH=LOGIN PLAIN"
 * form), its parameters after that.  AUTH mechanism names are kept only
 * when they are SASL names (RFC 4422: 1-20 of A-Z 0-9 - _); others are
 * counted in auth_dropped.
 */
void smtp_caps_parse(const struct smtp_reply *, struct smtp_caps *);

/*
 * Is this 5xx refusal the sender's sending quota rather than the message
 * (Gmail "550 5.4.5 Daily user sending limit exceeded", Microsoft 365
 * "554 5.2.0 ...SubmissionQuotaExceededException")?  Permanent in code
 * only: the same message goes once the quota renews, so it is treated as
 * temporary, and as a limit that ends the batch (deliver_is_limit).
 */
int smtp_quota_refusal(int code, const char *enhanced, const char *text);

/*
 * Queue one command (CRLF added).  -1 with SX_DATA when the formatted
 * command contains CR, LF or NUL — nothing from input may split a command.
 * secret: masked in the transcript.
 */
int smtp_cmd(struct conn *, enum sx_stage, int secret, struct sx_err *, const char *fmt, ...)
    __attribute__((__format__(printf, 5, 6)));

#endif
