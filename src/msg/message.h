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
	const char *account_user;   /* the account's user: its domain when from has none */
	const char *default_domain; /* or NULL */
	const char *admin_address;  /* where recipients without a domain go, or NULL */
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
	/*
	 * Leave the spool written and fsync'd but still named .tmp, open and
	 * locked in env->spool_fd: the caller writes the message's envelope
	 * first, then calls msg_commit (so a kill at any point never leaves
	 * a .msg without its envelope).
	 */
	int defer_commit;
};

struct msg_envelope {
	char *from;   /* MAIL FROM addr-spec; "" for the null sender */
	char **rcpts; /* fully qualified addr-specs */
	size_t nrcpts;
	int body_8bit;                /* a byte >= 0x80 anywhere: BODY=8BITMIME */
	int needs_smtputf8;           /* non-ASCII in the envelope sender or a recipient */
	unsigned long long wire_size; /* size with CRLF endings (SIZE=) */
	size_t long_lines;            /* lines over 998 octets */
	/*
	 * Without -i a lone "." line ends the message (sendmail's rule): its
	 * line number, or 0; and the input bytes after it, which were not
	 * read into the message (at least that many: from a pipe only what
	 * was there already is counted).
	 */
	size_t dot_line;
	unsigned long long after_dot;
	int after_dot_more; /* after_dot is a lower bound */
	char *spool_path;   /* the spool file's final name DIR/<id>.msg, or NULL */
	char *spool_tmp;    /* defer_commit, until msg_commit: its name DIR/<id>.tmp */
	/*
	 * defer_commit: the spool file, O_RDWR, flock(LOCK_EX) held, at any
	 * offset (lseek before reading); else -1.  Valid only while
	 * spool_path is set: a zeroed envelope has no descriptor.
	 */
	int spool_fd;
};

/*
 * Read the message from fd and write the spool.  0, or -1 with SX_DATA
 * (bad message, address or header block too large), SX_USAGE (no
 * recipients and no -t), SX_CONFIG (see below), SX_LOCALIO (spool or
 * reading fd) or SX_INTERNAL, stage STAGE_INTAKE.
 *
 * Without defer_commit the spool is renamed into place (spool_path) and
 * closed before msg_intake returns; spool_tmp is NULL and spool_fd -1.
 * With defer_commit it is fsync'd but left at spool_tmp, open and locked in
 * spool_fd, for msg_commit.  The lock holds until spool_fd is closed (by
 * msg_envelope_free, or by the caller after setting spool_fd to -1).
 *
 * On failure no spool file is left behind unless env->spool_path is set:
 * then the whole message was read and is kept (committed or not, as on
 * success), and the envelope holds what was found (a sender or recipient
 * that could not be qualified is there as it was given): a message with
 * a NUL byte (SX_DATA), or a configuration problem (SX_CONFIG: an address
 * no setting can qualify, the aliases file, admin_address; the hint says
 * what to set).  A configuration problem is never a reason to lose mail.
 * Call msg_envelope_free in either case; it never removes the spool file.
 */
int msg_intake(int fd, const struct msg_policy *, struct msg_envelope *, struct sx_err *);

/*
 * Rename the spool of a defer_commit intake from spool_tmp to spool_path and
 * fsync the directory; spool_fd stays open and locked (a rename keeps the
 * lock) and spool_tmp becomes NULL.  0 (also when already committed), or
 * -1 with SX_LOCALIO (or SX_INTERNAL): then the spool file is removed,
 * spool_fd closed and set to -1, spool_path and spool_tmp NULL, and the
 * caller removes the envelope it wrote.
 */
int msg_commit(struct msg_envelope *, struct sx_err *);

/* Free the envelope and close spool_fd (releasing the lock); no file is removed. */
void msg_envelope_free(struct msg_envelope *);

#endif
