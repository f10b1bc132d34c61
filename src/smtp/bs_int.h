/*
 * bs_int.h — what the files of the -bs server share: the session, and the
 * functions one file calls in another.  bs.c reads commands and writes
 * replies (the loop, EHLO, RSET…); bs_envelope.c is MAIL and RCPT;
 * bs_data.c takes the data after DATA and answers it with the verdict.
 * Not for other modules: they use bs.h.
 */
#ifndef SX_BS_INT_H
#define SX_BS_INT_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"
#include "msg/aliases.h"
#include "smtp/bs.h"
#include "smtp/smtp.h"

#define BS_INBUF 16384

struct bs_session {
	const struct bs_relay *relay;
	FILE *out;
	struct sx_err *e;
	int in_fd;
	int idle_ms;
	char in[BS_INBUF];
	size_t in_start, in_end;
	int eof;
	int esmtp;                   /* EHLO seen: enhanced status codes */
	unsigned long long max_size; /* SIZE: what we take and advertise */
	unsigned errors;             /* bad commands in a row */
	/* The transaction. */
	int have_mail;
	char *from; /* "" for the null sender */
	char **rcpts;
	size_t nrcpts;
	int smtputf8;
	int body8;                  /* BODY=8BITMIME */
	int upstream;               /* the relay has this transaction open */
	int fallback;               /* no relay took it: the message will only be kept */
	struct sx_err cause;        /* why, with fallback */
	struct alias_table aliases; /* loaded at the first unqualified RCPT */
	int aliases_loaded;
	char line[BS_ADDR_CMD_MAX + 1];
};

/* bs.c: one reply line; more input; the end of a transaction. */
void bs_reply(struct bs_session *, int, const char *, const char *, ...)
    __attribute__((__format__(printf, 4, 5)));
int bs_fill(struct bs_session *);
void bs_reset(struct bs_session *);

/* bs_envelope.c: MAIL and RCPT (args: what follows the verb); -1 after a bad command. */
int bs_mail(struct bs_session *, char *);
int bs_rcpt(struct bs_session *, char *);

/* bs_data.c: a relay's reply to MAIL or RCPT; taken without a relay; DATA. */
void bs_pass(struct bs_session *, const struct smtp_reply *, int);
void bs_fallback(struct bs_session *, const struct sx_err *, const char *);
int bs_message(struct bs_session *);

#endif
