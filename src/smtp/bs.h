/*
 * bs.h — "smtps-send -bs": the server side of SMTP (RFC 5321) on a file
 * descriptor and a stdio stream, for local callers that speak SMTP to
 * sendmail (Symfony Mailer's SendmailTransport, Laravel).
 *
 * One relay session serves the whole caller session (opened at the first
 * MAIL, kept open across messages): MAIL and each RCPT are forwarded as
 * they come and the caller gets the relay's own reply, so a recipient the
 * relay refuses is refused at RCPT.  A caller's pipelined group (RFC 2920)
 * goes to the relay as one group: its commands are forwarded without
 * waiting, and their replies go back in order once the relay answered
 * them (at DATA, or when the caller waits for more input), each message's
 * verdict its own.  The data is read to a raw spool file,
 * run through msg_intake (the same header processing as a message on
 * stdin) and sent in the open transaction; the reply to the end of data is
 * the relay's verdict.  When no relay session can be had, messages are
 * still taken and kept in the queue, and the reply to the end of data
 * says so (see smtps-send(1)).
 *
 * Everything the caller sends is bounded: command lines (BS_CMD_MAX, and
 * BS_ADDR_CMD_MAX for MAIL and RCPT, whose parameters and UTF-8 addresses
 * need more room), recipients per message (BS_MAX_RCPTS), the message size
 * (the SIZE advertised), errors in a row (BS_MAX_ERRORS) and idle time.
 * No byte of a command can reach the relay except an address that passed
 * addr_check_mailbox.
 */
#ifndef SX_BS_H
#define SX_BS_H

#include <stdio.h>

#include "core/err.h"
#include "msg/message.h"
#include "smtp/smtp.h"

#define BS_CMD_MAX      512             /* octets with CRLF, RFC 5321 4.5.3.1.4 */
#define BS_ADDR_CMD_MAX 1024            /* MAIL and RCPT, with parameters */
#define BS_MAX_RCPTS    1000            /* per message; RFC 5321 asks for >= 100 */
#define BS_MAX_ERRORS   50              /* bad commands in a row before 421 */
#define BS_SIZE_DEFAULT (64ULL << 20)   /* SIZE when the relay's is not known */
#define BS_IDLE_DEFAULT (5 * 60 * 1000) /* ms; RFC 5321 4.5.3.2.7 */
#define BS_MAX_OWED     128             /* messages whose verdict may be owed at once */
#define BS_STREAM_MS    1               /* more input this soon: no need to wait for the relay */

/*
 * The relay's answer to one of the caller's commands: given at once, or
 * (pending) at the relay's next sync, so that a caller's pipelined group
 * reaches the relay as one group.  The memory stays in place until then.
 */
struct bs_answer {
	int pending;         /* filled at the next sync */
	int rc;              /* 0 accepted, 1 refused (r), -1 no relay or lost (e) */
	struct smtp_reply r; /* the relay's reply; after the data, its verdict */
	struct sx_err e;
};

struct bs_relay {
	/*
	 * Start a transaction: open the relay session first when none is
	 * usable, then MAIL with m's from (after -f), size and flags.  rc 0:
	 * accepted; 1: refused, r holds the relay's reply for the caller; -1:
	 * no relay (e says why): the message is taken and kept instead.
	 * *size_limit: the relay's SIZE, when it announced one.
	 */
	void (*mail)(void *arg, const struct smtp_message *m, unsigned long long *size_limit,
	    struct bs_answer *a);
	/* RCPT in the open transaction; answers as mail (-1: the session was lost). */
	void (*rcpt)(void *arg, const char *rcpt, struct bs_answer *a);
	/*
	 * The message env after intake (its spool at env->spool_path, its
	 * recipients those the relay accepted).  cause NULL: send it in the
	 * open transaction; else no relay took the transaction (cause says
	 * why) and the message is only kept.  rc 0 when the relay accepted it
	 * (r holds its reply; the callback has removed the spool and any queue
	 * entry of it, as the queue policy is src/mode/bsrelay.c's), else -1
	 * with e filled (e.reply_code and e.reply when the relay refused) and
	 * the spool still at env->spool_path, which the reply names; 1 when
	 * the relay took none of its recipients (a BDAT caller's message goes
	 * before they are answered): r holds its refusal and nothing is kept.
	 * Either way no transaction is left open.  env stays until the answer
	 * is in.
	 */
	void (*data)(
	    void *arg, struct msg_envelope *env, const struct sx_err *cause, struct bs_answer *a);
	/* Fill every pending answer, in order (NULL: the relay never leaves one pending). */
	void (*sync)(void *arg);
	/*
	 * A message intake refused but kept (env->spool_path set; why: a NUL
	 * byte, a name nothing gives a domain to): record it.  0 when it is
	 * kept at env->spool_path, -1 when not (the reply must not say kept).
	 */
	int (*keep)(void *arg, struct msg_envelope *env, const struct sx_err *why);
	/* Abandon the open transaction (RSET upstream). */
	void (*rset)(void *arg);
	/* The caller's session ended: close the relay session (QUIT). */
	void (*close)(void *arg);
	void *arg;
	/*
	 * Intake policy (spool_dir, hostname, account from, aliases…).  Its
	 * envelope_from is -f: when set it replaces every MAIL FROM; argv
	 * recipients, -t and -i do not apply and are ignored.
	 */
	const struct msg_policy *pol;
	const char *hostname;        /* in the greeting and EHLO reply */
	unsigned long long max_size; /* SIZE; 0: BS_SIZE_DEFAULT */
	int idle_ms;                 /* wait for the caller; 0: BS_IDLE_DEFAULT */
};

/*
 * Serve one SMTP session: read commands from in_fd, write replies to out
 * (flushed whenever no more input is pending, so pipelined commands get
 * their replies in one batch).  0 after QUIT or end of input between
 * messages; -1 with SX_TEMP (input ended inside DATA: nothing was sent, or
 * the caller was idle too long) or SX_LOCALIO (reading or writing failed).
 * A message the relay did not accept is kept in the spool directory and
 * the reply names it.
 */
int bs_run(int in_fd, FILE *out, const struct bs_relay *, struct sx_err *);

#endif
