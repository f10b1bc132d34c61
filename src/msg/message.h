/*
 * message.h — message intake: reads the RFC 5322 message from a file
 * descriptor once, in bounded memory, and writes the spool file the session
 * sends from.  Produces the envelope.
 *
 * The spool holds the message as it will be sent, with LF line endings
 * (every bare CR, CRLF and LF of the input became one LF), headers added
 * and Bcc removed.  It always ends with LF.  The session turns LF into CRLF
 * and dot-stuffs; so the wire can never carry a bare CR or LF.
 */
#ifndef SX_MESSAGE_H
#define SX_MESSAGE_H

#include <stddef.h>
#include <time.h>

#include "config/modes.h"
#include "core/err.h"

struct msg_policy {
	int ignore_dots;            /* -i/-oi: a lone "." is ordinary text */
	int read_recipients;        /* -t */
	const char *envelope_from;  /* -f/-r, or NULL */
	const char *fullname;       /* -F, or NULL */
	const char *account_from;   /* the account's from, or NULL */
	const char *default_domain; /* or NULL */
	const char *aliases_file;   /* or NULL */
	enum from_header_mode from_header;
	const char *hostname;    /* for Message-ID and user@host */
	const char *local_user;  /* login name of the caller */
	int strict_line_length;  /* refuse lines over 998 octets */
	size_t max_header_bytes; /* 0: 1 MiB */
	const char *spool_dir;   /* where the spool file goes */
	char *const *argv_rcpts; /* recipients from the command line */
	size_t n_argv_rcpts;
	int sender_from_header; /* no -f and no account from: take the From header's address */
	time_t now;             /* for the Date header; 0: time(NULL) */
	/*
	 * Called once the whole message is read and accepted, before the
	 * spool is made durable: a send starts connecting here, so the
	 * fsyncs overlap the TCP handshake.  May be NULL.
	 */
	void (*on_accepted)(void *arg);
	void *on_accepted_arg;
};

struct msg_envelope {
	char *from;   /* MAIL FROM addr-spec; "" for the null sender */
	char **rcpts; /* fully qualified addr-specs */
	size_t nrcpts;
	int body_8bit;                /* a byte >= 0x80 anywhere: BODY=8BITMIME */
	int needs_smtputf8;           /* non-ASCII in the envelope sender or a recipient */
	unsigned long long wire_size; /* size with CRLF endings (SIZE=) */
	size_t long_lines;            /* lines over 998 octets */
	char *spool_path;             /* the spool file (see above) */
};

/*
 * Read the message from fd and write the spool.  0, or -1 with SX_DATA
 * (bad message, address or header block too large), SX_USAGE (no
 * recipients and no -t), SX_CONFIG (aliases file), SX_LOCALIO (spool or
 * reading fd) or SX_INTERNAL, stage STAGE_INTAKE.  On failure no spool file
 * is left behind unless env->spool_path is set (then it holds what was
 * read: a message with a NUL byte is refused but kept).  Call
 * msg_envelope_free in either case; it never removes the spool file.
 */
int msg_intake(int fd, const struct msg_policy *, struct msg_envelope *, struct sx_err *);

void msg_envelope_free(struct msg_envelope *);

#endif
