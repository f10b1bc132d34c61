/*
 * maillog.h — one line per delivery attempt, to syslog (facility from the
 * account, mail by default) and/or the account's logfile, modelled on
 * msmtp's log line and carrying the duration too.  Never carries a secret.
 */
#ifndef SX_MAILLOG_H
#define SX_MAILLOG_H

#include <stddef.h>

#include "config/conf.h"
#include "core/err.h"

struct diag;

struct maillog_entry {
	const char *from;
	char *const *rcpts;
	size_t nrcpts;
	unsigned long long size;
	long duration_ms;
	int reply_code;           /* the server's last reply (final reply on success) */
	const char *reply;        /* its text (queue id on success), or NULL */
	const struct sx_err *err; /* NULL on success */
	const char *kept;         /* where the message was kept, or NULL */
	/*
	 * With err: what became of it: "queued" (retried automatically, the
	 * caller was told it was accepted), "held" (queue off) or "failed";
	 * NULL: "failed".  Only held and failed have an exit status to log.
	 */
	const char *result;
	struct diag *diag; /* where a failure to log is said (NULL: stderr, as text) */
};

/*
 * Format the line (without time stamp) into buf.  Returns buf.  Exposed
 * for the unit tests.
 */
char *maillog_format(const struct account *, const struct maillog_entry *, char *buf, size_t bufsz);

/*
 * Write the line where the account says; a failure to log is ignored but
 * said on stderr (through le->diag).
 */
void maillog_write(const struct account *, const struct maillog_entry *);

#endif
