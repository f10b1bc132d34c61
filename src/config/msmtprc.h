/*
 * msmtprc.h — --import-msmtprc: an msmtp configuration file translated into
 * the smtps-send configuration that behaves the same, line by line, with
 * its sections, inheritance and comments kept.  Where the defaults differ
 * (msmtp: no TLS, port 25, no AUTH without "auth on", a pin that replaces
 * the CA check) the translation says so explicitly; what has no
 * equivalent is left out as a comment that says why and what to do.
 *
 * Pure: text in, text out, no file or command is read or run (an eval or
 * passwordeval line is never executed).
 */
#ifndef SX_MSMTPRC_H
#define SX_MSMTPRC_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

struct msmtprc_result {
	unsigned accounts; /* account sections written (an implicit "default" included) */
	unsigned notes;    /* lines not carried over as they were */
	int has_password;  /* the output holds a password: keep it mode 0600 */
};

/*
 * Translate text (len bytes, an msmtprc named name in the comments) to out.
 * Every note (a line not carried over as it was: its line, key, and why
 * and what to do) goes to out as a comment before the line it concerns,
 * and to note (may be NULL).  Returns 0, or -1 with SX_CONFIG when msmtp itself
 * would refuse the file (a NUL byte, a line longer than CONF_LINE_MAX, an
 * account defined twice or inheriting from one not defined above, more
 * than CONF_ACCOUNTS_MAX accounts), naming the line; SX_INTERNAL, SX_LOCALIO
 * (writing out failed).  Nothing of a password reaches a note or an error.
 */
int msmtprc_import(const char *text, size_t len, const char *name, FILE *out,
    void (*note)(void *arg, unsigned line, const char *key, const char *msg), void *arg,
    struct msmtprc_result *, struct sx_err *);

#endif
