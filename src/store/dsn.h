/*
 * dsn.h — the delivery status notification (RFC 3464) that tells the
 * envelope sender a queued message will never be delivered: it was refused
 * for what it is (state failed) or gave up after queue_max_age (expired).
 *
 * The DSN is an ordinary queued message: a spool file and its metadata in
 * the same queue directory, from the null sender to the original envelope
 * sender, sent through the same account by the next queue run.  It is a
 * multipart/report (RFC 6522) of three parts:
 *
 *   1. text/plain: what happened, for a human (recipients, the last error,
 *      attempts, since when it was queued, the queue id it is kept under);
 *   2. message/delivery-status: Reporting-MTA, Original-Envelope-Id (-V,
 *      xtext decoded), Arrival-Date, X-Smtps-Send-Queue-ID, then for every
 *      recipient Final-Recipient, Action: failed, Status, Remote-MTA and
 *      Diagnostic-Code (when the relay replied), Last-Attempt-Date;
 *   3. text/rfc822-headers: the original header block, at most
 *      DSN_HEADERS_MAX bytes (cut at a field boundary, and part 1 says so).
 *
 * Return of content: the headers only, whatever -R asked.  RFC 3461 4.3
 * lets the MTA choose when no RET was given, and 6.2 lets it return only
 * the headers of a message longer than an implementation's limit even for
 * RET=FULL: ours is 0.  The body stays in the queue (failed and expired
 * messages are kept), so nothing is lost, memory stays bounded, and a body
 * never travels to an envelope sender who is not its author.
 *
 * Nothing from the queue reaches the DSN raw: addresses, the error text and
 * the envelope id are reduced to printable text (non-ASCII addresses use
 * RFC 6533's utf-8 address type, 7-bit form), header fields are folded
 * under 998 octets, and a header block with 8-bit bytes or long lines is
 * sent quoted-printable, so the whole report stays 7-bit except for a
 * UTF-8 sender's own address in To:.
 *
 * Library code: nothing here prints.
 */
#ifndef SX_DSN_H
#define SX_DSN_H

#include <time.h>

#include "core/err.h"
#include "store/queue_meta.h"

#define DSN_HEADERS_MAX (64 * 1024) /* bytes of the original header block returned */

struct dsn_info {
	/* This host's fully-qualified name: Reporting-MTA, Message-ID. */
	const char *reporting_host;
	/* The relay the message was for (Remote-MTA when it replied), or NULL. */
	const char *relay_host;
	/*
	 * The address the DSN's From: shows: the account's from, which the
	 * relay lets us send as (submission servers often refuse any other),
	 * and which reaches the person who runs this mail set-up (RFC 3464
	 * section 2).  NULL or unusable: MAILER-DAEMON@reporting_host.
	 */
	const char *from;
	time_t now;
};

/*
 * Does m's sender want a failure DSN?  1 yes; 0 no, and *why says why:
 * the null sender (never a DSN to <>, and so never a DSN about a DSN: no
 * loop), or -N without FAILURE (NEVER, or only SUCCESS/DELAY).  An unknown
 * -N value counts as none given (RFC 3461 5.2.6: a failed DSN is issued).
 */
int dsn_wanted(const struct queue_meta *m, const char **why);

/*
 * Queue a DSN for m, which is failed or expired (m->state), its spool open
 * at body_fd (read with pread: the offset is left alone).  The DSN's spool
 * file is written, its metadata (*dsn: null sender, one recipient m->from,
 * m's account, NOTIFY=NEVER, created info->now, SIZE with CRLF endings,
 * 8bit and SMTPUTF8 flags) is written, then the spool is renamed into
 * place: whoever sees the .msg finds its envelope.  The caller frees *dsn
 * with queue_meta_free.
 *
 * Returns 0 when queued; 1 when no DSN is wanted (dsn_wanted), with no
 * file; -1 with SX_DATA (the sender address cannot receive mail: no
 * domain, bad syntax), SX_INTERNAL (m still deferred; memory),
 * SX_LOCALIO (reading the message, writing the queue), stage STAGE_QUEUE.
 */
int dsn_create(const char *dir, const struct queue_meta *m, int body_fd, const struct dsn_info *,
    struct queue_meta *dsn, struct sx_err *);

#endif
