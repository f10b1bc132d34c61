/*
 * intake.h — the message intake's private state, shared by its parts
 * (not for use outside src/msg):
 *   message.c   the read loop, line endings, the body, the spool output;
 *   header.c    the header block: collected, split into fields, rewritten;
 *   envelope.c  the envelope: sender and recipients, parsed and qualified
 *               (qualify.c: what a name without a domain becomes);
 *   origin.c    the fields intake adds or rewrites: From, Date, Message-ID.
 * Every failure is stage STAGE_INTAKE and goes to c->err (first error wins),
 * except a configuration problem, which goes to c->held: the message is
 * still read and kept, then refused with it.
 */
#ifndef SX_INTAKE_H
#define SX_INTAKE_H

#include <stddef.h>

#include "msg/aliases.h"
#include "msg/message.h"
#include "msg/qualify.h"
#include "store/spool.h"

#define MSG_OUT_CHUNK 65536
#define MSG_LINE_MAX  998 /* RFC 5322 2.1.1, without CRLF */

/* Where the current line stands in being a header field. */
enum msg_line { LINE_NAME = 0, LINE_NAME_WSP, LINE_FIELD };

/* One header field (a line and its continuation lines) in msg_ctx.hdr. */
struct msg_field {
	size_t off;     /* in hdr */
	size_t len;     /* without the final LF */
	size_t namelen; /* without trailing white space */
	size_t valoff;  /* after the ':' */
};

struct msg_ctx {
	const struct msg_policy *pol;
	struct msg_envelope *env;
	struct sx_err *err;
	struct spool_file sp;
	int spool_open;
	struct alias_table aliases;
	int have_aliases;
	struct qualify q;
	struct sx_err held; /* the first configuration problem (SX_CONFIG) */

	/* Line-ending layer. */
	int prev_cr;
	size_t lineno; /* lines completed */
	size_t nul_line;
	int ended; /* the "." line */

	/* Header block. */
	int in_headers;
	int dumping; /* a NUL in the header block: keep the input as read */
	char *hdr;
	size_t hdrlen, hdrcap, hdrmax;
	size_t line_start;
	enum msg_line line_state;
	int have_field;

	/* Body. */
	int at_bol;
	int dot_pending;
	size_t linelen;

	/* Output to the spool. */
	char out[MSG_OUT_CHUNK];
	size_t outlen;
	unsigned long long bytes;
	unsigned long long lfs;
};

/* message.c: output to the spool and the body's state machine.  0 or -1. */
int msg_put(struct msg_ctx *, const char *, size_t);
int msg_putc(struct msg_ctx *, char);
int msg_body_char(struct msg_ctx *, unsigned char);
int msg_body_eol(struct msg_ctx *);

/*
 * header.c: one byte (not CR or LF) or the end of a line while the header
 * block is being read; msg_end_headers writes the block hdr[0..hlen) out
 * as it will be sent, after -t recipients and the sender are settled.
 */
int msg_hdr_char(struct msg_ctx *, unsigned char);
int msg_hdr_eol(struct msg_ctx *);
int msg_end_headers(struct msg_ctx *, size_t hlen);

/*
 * envelope.c: msg_hold records a configuration problem in c->held (the
 * first one; an empty err is ignored) and returns 0: the message goes on
 * being read.  msg_envelope_begin checks and reads all that does not need
 * the message (-F, aliases, argument recipients, the sender when it is
 * known); msg_sender settles the sender (from: the first From field, or
 * NULL); msg_rcpts adds the recipients of an argument (name NULL) or of a
 * header field; msg_sender_addr qualifies one sender address into *out.
 */
int msg_hold(struct msg_ctx *, const struct sx_err *);
int msg_envelope_begin(struct msg_ctx *);
int msg_sender(struct msg_ctx *, const struct msg_field *from);
int msg_rcpts(struct msg_ctx *, const char *, size_t, const char *name, size_t namelen);
int msg_sender_addr(
    struct msg_ctx *, const char *, size_t, const char *what, int allow_account, char **out);

/*
 * origin.c: the From (added, or rewritten from the field from), Date and
 * Message-ID lines; msg_put_qualified writes an address field with each
 * address that lacks a domain completed.
 */
int msg_put_from(struct msg_ctx *, const struct msg_field *from);
int msg_put_date(struct msg_ctx *);
int msg_put_msgid(struct msg_ctx *);
int msg_put_qualified(struct msg_ctx *, const struct msg_field *);

#endif
