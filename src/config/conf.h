/*
 * conf.h — config files, accounts and environment overrides → struct
 * account.  (Named conf.h: config.h is autoconf's.)  The secret sources
 * are read by secret.h, included here for its callers.
 *
 * Precedence, highest first: argv overrides > SMTPS_SEND_<KEY> environment
 * > user file > system file.  Errors name the file, line and key and are
 * SX_CONFIG / STAGE_CONFIG.
 *
 * The module is split along its seams: conf.c (which files, which account,
 * environment, argv, final checks), conf_file.c (the grammar of one file),
 * conf_keys.c (the keys, their types and values), conf_dump.c
 * (--dump-config and origins), secret.c (password sources).
 */
#ifndef SX_CONF_H
#define SX_CONF_H

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>

#include "config/modes.h"
#include "core/clock.h"
#include "config/secret.h"
#include "core/err.h"

/* Seconds per network wait (and for a password command) when timeout is unset. */
/* A failed message is kept this long (seconds), listed, then removed. */
#define CONF_KEEP_FAILED_DEFAULT (3L * 24 * 3600)
/*
 * Messages one session carries before it ends and a new one begins.
 * Providers limit messages per connection and end the session (421, or
 * a 4.x reply that stops the queue run) when it goes over: Exchange's
 * receive connectors allow 20 by default, most hosted services 100 or
 * more.  100 keeps the set-up (6-9 round trips) below 0.1 round trip per
 * message while staying under what most services take; Exchange needs 20.
 */
#define CONF_MAX_MESSAGES_PER_SESSION_DEFAULT 100
/* Largest value of a count key (max_messages_per_session, rate). */
#define CONF_COUNT_MAX 1000000

struct conf_src; /* where each value came from (for --dump-config); opaque */

struct account {
	char *name; /* "default" for a file without sections */
	char *host;
	unsigned port; /* 0: 465 for implicit TLS, else 587 */
	enum tls_mode tls;
	int tls_certcheck;     /* 1 (default): verify chain, name, dates */
	int tls_resume;        /* keep TLS 1.3 session tickets between runs (tlscache.h) */
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
	int timeout;          /* seconds per network wait; CLOCK_DEFAULT_TIMEOUT_S */
	char *aliases;        /* aliases file, or NULL */
	char *default_domain; /* qualifies bare local names */
	enum from_header_mode set_from_header;
	char *logfile;
	int syslog;
	char *queue_dir;        /* NULL: the built-in default */
	int allow_partial;      /* send to accepted recipients when some are refused */
	int allow_8bit;         /* send 8-bit bodies to servers without 8BITMIME */
	int strict_line_length; /* refuse lines over 998 octets */
	int sender_from_header; /* no -f, no from: envelope sender from the From header */
	int syslog_facility;    /* LOG_MAIL unless syslog named another */
	int queue;              /* on: a failure not about the message queues it (accepted) */
	int queue_on_tempfail;  /* off: the same as queue off (compatibility) */
	int queue_fallback;     /* send without a durable copy when queue_dir is unusable */
	int flush_on_send;      /* after a send, a quick bounded flush of what is due */
	long queue_max_age;     /* seconds before a queued message expires; 0: never */
	long queue_keep_failed; /* seconds a failed message is kept; 0: forever */
	int bounce;             /* tell the sender when a queued message finally fails */
	unsigned max_messages_per_session; /* then a new session; 0: no limit */
	unsigned rate;                     /* at most this many messages a minute; 0: no limit */
	char *admin_address;               /* mail for local users (no domain) goes here */
	/* OAuth2 (issue 17): token sources and token management, src/auth/oauth2.h. */
	char *oauth2_token;         /* an access token as is (SMTPS_SEND_OAUTH2_TOKEN); secret */
	char *oauth2_token_file;    /* its first line is the access token */
	char *oauth2_token_command; /* its first output line is the access token */
	int oauth2_provider;        /* enum oauth2_provider: built-in token management */
	int oauth2_flow;            /* enum oauth2_flow; 0: the provider's default */
	char *oauth2_client_id;
	char *oauth2_client_secret; /* secret, like password */
	char *oauth2_client_secret_file;
	char *oauth2_client_secret_eval;
	char *oauth2_tenant;     /* Microsoft: tenant id or domain; default "common" */
	char *oauth2_scope;      /* NULL: the provider's */
	char *oauth2_token_url;  /* NULL: the provider's */
	char *oauth2_auth_url;   /* authorization endpoint (browser flow) */
	char *oauth2_device_url; /* device authorization endpoint (RFC 8628) */
	char *oauth2_trust_file; /* CA file for the endpoints; NULL: the system store */
	struct conf_src *src;    /* origins and files read; owned */
};

/*
 * Every error found in the configuration files of one conf_load (unknown
 * keys, bad values, bad grammar), so that one run names them all: each
 * with its file, line and, when one is known, the fix.  The first is also
 * conf_load's error.
 */
#define CONF_ERRORS_MAX 20
struct conf_error {
	char file[512];
	unsigned line; /* 0: the file as a whole */
	char detail[SX_DETAIL_MAX];
	char hint[SX_DETAIL_MAX];
};
struct conf_errors {
	struct conf_error err[CONF_ERRORS_MAX];
	size_t n;     /* in err */
	size_t total; /* found, also those beyond CONF_ERRORS_MAX */
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
	const char *timeout;
	const char *auth;
	const char *tls_starttls;
	const char *tls_certcheck;
	const char *domain;
	/* A command and a file to write: only from root's argv (conf_load). */
	const char *passwordeval;
	const char *logfile;
	/* msmtp's --read-envelope-from: the envelope sender is the From header's. */
	int read_envelope_from;
	/*
	 * The system file is the first of these that can be read: NULL
	 * system_file means DEFAULT_CONFIG, then /etc/smtps-send.conf.  Tests
	 * name their own (system_fallback is used only with system_file).
	 */
	const char *system_file;
	const char *system_fallback;
	/* The caller's real uid for the -C rule; NULL: getuid() (tests set it). */
	const uid_t *caller_uid;
	/* Nothing will be sent (-bp, mailq, newaliases): no host is fine. */
	int relay_optional;
	/* Where every error of the files goes, or NULL (the first is in e anyway). */
	struct conf_errors *errors;
};

/* Bounds: hostile files cannot make us use much memory or time. */
#define CONF_LINE_MAX     4096       /* bytes per config line */
#define CONF_FILE_MAX     (1L << 20) /* bytes per config file */
#define CONF_ACCOUNTS_MAX 256        /* accounts over all files */
#define CONF_PARENTS_MAX  8          /* "account a : b, c" parents */
#define CONF_ALLOWED_MAX  16         /* directories in allowed_config_dirs */

/*
 * Find the config file(s), parse them, apply the environment and the
 * request's overrides, choose the account and check it (e.g. a host is
 * set, no cleartext AUTH unless allowed).  Fills *acct (free with
 * conf_account_free); tls and port are resolved (never TLS_MODE_DEFAULT or
 * 0).  Returns 0, or -1 with SX_CONFIG / STAGE_CONFIG: the detail names the
 * file and line (or the variable or flag) and the key; the hint, when set,
 * says how to fix it.  SX_INTERNAL on memory exhaustion.  The files are
 * read to their end whatever they hold, and each of their errors goes to
 * req->errors as well (the first of them is the one in e).
 *
 * Files: req->config_file, else $SMTPS_SEND_CONFIG (either must exist);
 * else the system file and ${XDG_CONFIG_HOME:-~/.config}/smtps-send/config,
 * both optional; accounts in the user file replace same-named ones in the
 * system file.
 *
 * req->config_file (-C, --config) from a caller whose real uid is not 0
 * must lie, symbolic links resolved, directly in the user's config
 * directory or in a directory that allowed_config_dirs of the system file
 * lists, not owned by the caller nor writable by group or others;
 * otherwise it is refused (SX_CONFIG) before it is opened.  Web applications put caller-chosen
 * text on sendmail's argv, and a file of theirs would choose the commands
 * run (passwordeval) and the files written (logfile).
 */
int conf_load(const struct conf_request *, struct account *, struct sx_err *);
/*
 * The same rule for argv's own command and file: req->passwordeval
 * (--passwordeval) and req->logfile (--logfile) from a caller whose real
 * uid is not 0 are refused (SX_CONFIG) before anything is read; the
 * config file or the environment can set them.  argv that points the
 * account elsewhere (host, port, tls, tls_starttls, tls_certcheck,
 * tls_trust_file) makes a config file's password unused (see SECURITY.md).
 */

/* Free every string of the account (wiping the password) and zero it. */
void conf_account_free(struct account *);

/*
 * --dump-config: print the effective account, one "key value # origin"
 * line per key, origins being "FILE:LINE", "env SMTPS_SEND_X",
 * "argv --host" or "default"; the password is printed as ********.
 * Returns 0, or -1 when writing failed (errno set).
 */
int conf_dump(FILE *, const struct account *);

/*
 * Where the account's value of key came from, written to buf (as in
 * conf_dump).  Returns buf, or NULL for an unknown key.
 */
const char *conf_origin(const struct account *, const char *key, char *buf, size_t bufsz);

/*
 * The relay part of the account (host, port, TLS, user, the password's
 * source, log settings, the queue's policy) as "key value" pairs, one
 * put() call each, for the queue to keep beside a message: it can then be
 * sent with no config at all (conf_from_record).  Never a secret: a
 * password from SMTPS_SEND_PASSWORD is recorded as "password_env", one
 * written in a config file as "password_origin FILE:LINE".
 */
void conf_record(
    const struct account *, void (*put)(void *arg, const char *key, const char *value), void *arg);

/*
 * An account rebuilt from conf_record's pairs (kv: key, value, key,
 * value…; npairs pairs), checked as a config file would be; free it with
 * conf_account_free.  0, or -1 with SX_CONFIG (a bad pair, or a password
 * that was in a config file this run did not read).
 */
int conf_from_record(struct account *, char *const *kv, size_t npairs, struct sx_err *);

/* "starttls", "implicit", "opportunistic", "off" (for diagnostics). */
const char *conf_tls_name(enum tls_mode);

#endif
