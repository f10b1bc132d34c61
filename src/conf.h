/*
 * conf.h — config files, accounts, environment overrides and secret
 * sources → struct account.  (Named conf.h: config.h is autoconf's.)
 *
 * Precedence, highest first: argv overrides > SMTPS_SEND_<KEY> environment
 * > user file > system file.  Errors name the file, line and key and are
 * SX_CONFIG / STAGE_CONFIG.
 */
#ifndef SX_CONF_H
#define SX_CONF_H

#include <stddef.h>

#include "err.h"

enum tls_mode {
	TLS_MODE_DEFAULT = 0, /* by port: implicit for 465, else starttls */
	TLS_MODE_STARTTLS,
	TLS_MODE_IMPLICIT,
	TLS_MODE_OPPORTUNISTIC, /* STARTTLS when offered, else cleartext */
	TLS_MODE_OFF
};

enum auth_mode {
	AUTH_MODE_DEFAULT = 0, /* authenticate when a user is set: best offered mechanism */
	AUTH_MODE_OFF,
	AUTH_MODE_PLAIN,
	AUTH_MODE_LOGIN
};

/* What to do with the From header (msmtp's set_from_header). */
enum from_header_mode {
	FROM_HEADER_KEEP = 0, /* leave as is; add only when missing */
	FROM_HEADER_REWRITE   /* rewrite the address to the account's, keep the display name */
};

struct account {
	char *name; /* "default" for a file without sections */
	char *host;
	unsigned port; /* 0: 465 for implicit TLS, else 587 */
	enum tls_mode tls;
	int tls_certcheck;     /* 1 (default): verify chain, name, dates */
	char *tls_trust_file;  /* NULL: the system trust store */
	char *tls_fingerprint; /* SHA-256 pin, hex (colons allowed), or NULL */
	char *tls_cert_file;   /* client certificate, or NULL */
	char *tls_key_file;
	char *tls_priorities; /* GnuTLS priority string, or NULL */
	enum auth_mode auth;
	int auth_cleartext; /* allow AUTH without TLS (needs tls off too) */
	char *user;
	/* Secret sources; the secret itself is read by conf_read_secret(). */
	char *password; /* only from a file that is not group/world readable */
	char *password_file;
	char *passwordeval;   /* command whose first output line is the secret */
	char *from;           /* envelope sender (and From rewrite) for this account */
	char *domain;         /* EHLO name; NULL: the host's FQDN or "localhost" */
	int timeout;          /* seconds per network wait; default 60 */
	char *aliases;        /* aliases file, or NULL */
	char *default_domain; /* qualifies bare local names */
	enum from_header_mode set_from_header;
	char *logfile;
	int syslog;
	char *queue_dir;   /* NULL: the built-in default */
	int allow_partial; /* send to accepted recipients when some are refused */
	int allow_8bit;    /* send 8-bit bodies to servers without 8BITMIME */
};

/* What the command line contributes to choosing and overriding an account. */
struct conf_request {
	const char *config_file;   /* -C/--config, or NULL */
	const char *account;       /* -a/--account, or NULL */
	const char *envelope_from; /* -f/-r, for matching an account's from */
	/* Overrides from long options (NULL when not given). */
	const char *host;
	const char *port;
	const char *tls;
	const char *user;
	const char *tls_trust_file;
};

/*
 * Find the config file(s), parse them, apply the environment and the
 * request's overrides, choose the account and check it (e.g. a host is
 * set).  Fills *acct (free with conf_account_free).  0 or -1 (SX_CONFIG).
 */
int conf_load(const struct conf_request *, struct account *, struct sx_err *);

/*
 * Read the account's secret from its source (password, password_file,
 * passwordeval, SMTPS_SEND_PASSWORD…) into a new string the caller wipes
 * with conf_secret_free.  *secret is NULL when the account has none.
 */
int conf_read_secret(const struct account *, char **secret, struct sx_err *);
void conf_secret_free(char *);

void conf_account_free(struct account *);

#endif
