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
#include "store/spool.h"

#define BS_INBUF 16384

/*
 * A reply owed to the caller, in order: text ready to go, or a command the
 * relay has yet to answer (bs_answer), turned into text at the next sync.
 */
enum bs_slot_kind { BS_SLOT_TEXT, BS_SLOT_MAIL, BS_SLOT_RCPT, BS_SLOT_DATA };

struct bs_part {
	char *addr; /* an address the caller's RCPT became */
	struct bs_answer a;
};

struct bs_slot {
	enum bs_slot_kind kind;
	char *text;            /* TEXT: lines ending in CRLF */
	struct bs_answer a;    /* MAIL, DATA */
	struct bs_part *parts; /* RCPT: one per address */
	size_t nparts;
	struct msg_envelope *env; /* DATA: the message, until its verdict */
	unsigned gen;             /* the transaction it belongs to (bs_session.gen) */
	struct bs_slot *next;
};

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
	size_t npending; /* recipients the relay has yet to answer */
	size_t ndata;    /* messages whose verdict the relay owes */
	/* BDAT (RFC 3030): the current message's chunks so far, until LAST. */
	struct spool_file bdat;
	int bdat_open;
	unsigned long long bdat_size;
	int bdat_big;           /* over max_size: read to the end, not kept */
	struct sx_err bdat_err; /* keeping the chunks failed */
	unsigned gen;           /* counts transactions: an answer to an older one changes nothing */
	/* Replies owed, oldest first (none: replies go out at once). */
	struct bs_slot *slots, **slots_tail;
	int resolving; /* turning them into text: replies go out at once */
	char line[BS_ADDR_CMD_MAX + 1];
};

/* bs.c: one reply line; more input; the end of a transaction. */
void bs_reply(struct bs_session *, int, const char *, const char *, ...)
    __attribute__((__format__(printf, 4, 5)));
int bs_fill(struct bs_session *);
void bs_reset(struct bs_session *);

/*
 * bs.c: a reply the relay owes: its slot (NULL when out of memory),
 * appended to those owed, in order; and the sync that has every owed
 * reply answered and written in order.
 */
struct bs_slot *bs_slot_new(enum bs_slot_kind);
void bs_slot_push(struct bs_session *, struct bs_slot *);
void bs_slot_free(struct bs_slot *);
void bs_sync(struct bs_session *);

/* bs_envelope.c: MAIL and RCPT (args: what follows the verb); -1 after a bad command. */
int bs_mail(struct bs_session *, char *);
int bs_rcpt(struct bs_session *, char *);
/* bs_envelope.c: a MAIL or RCPT the relay answered: the transaction's state, the reply. */
void bs_mail_answered(struct bs_session *, const struct bs_answer *, int current);
void bs_rcpt_answered(struct bs_session *, struct bs_part *, size_t, int current);

/* bs_data.c: a relay's reply to MAIL or RCPT; taken without a relay; DATA. */
void bs_pass(struct bs_session *, const struct smtp_reply *, int);
void bs_fallback(struct bs_session *, const struct sx_err *, const char *);
void bs_fallback_reply(struct bs_session *, const struct sx_err *, const char *);
int bs_message(struct bs_session *);
/* bs_data.c: BDAT; 1 after a bad command, -1 when the session must end. */
int bs_bdat(struct bs_session *, char *);
void bs_bdat_drop(struct bs_session *);
/* bs_data.c: the relay's verdict on a message: the reply; env is freed. */
void bs_data_answered(struct bs_session *, struct msg_envelope *, struct bs_answer *);

#endif
