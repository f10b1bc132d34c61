/*
 * cli.h — sendmail-compatible command line → struct cli_options.
 * No I/O: pure parsing, fully unit-testable.  Strings point into argv (or
 * at static normalised spellings such as "8BITMIME").
 */
#ifndef SX_CLI_H
#define SX_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

enum cli_mode {
	CLI_SEND = 0,    /* -bm (default): read a message from stdin and send it */
	CLI_CHECK,       /* --check: connect, TLS, EHLO, AUTH, QUIT; send nothing */
	CLI_QUEUE_LIST,  /* -bp, --queue-list */
	CLI_FLUSH,       /* -q, --flush */
	CLI_SMTP_STDIO,  /* -bs: SMTP server on stdin/stdout */
	CLI_DUMP_CONFIG, /* --dump-config */
	CLI_HELP,
	CLI_VERSION,
	CLI_QUEUE_REMOVE,     /* --queue-remove ID */
	CLI_NEWALIASES,       /* -bi, or called as newaliases: check the aliases file */
	CLI_OAUTH2_AUTHORIZE, /* --oauth2-authorize: the first OAuth2 authorization (auth/oauth2.h) */
	CLI_IMPORT_MSMTPRC    /* --import-msmtprc [FILE [OUTPUT]]: operands in rcpts */
};

/* -N: DSN NOTIFY conditions (RFC 3461); 0 when -N was not given. */
#define CLI_DSN_NEVER   0x01
#define CLI_DSN_SUCCESS 0x02
#define CLI_DSN_FAILURE 0x04
#define CLI_DSN_DELAY   0x08

#define CLI_VERBOSE_MAX 9   /* -v beyond this changes nothing */
#define CLI_ADDR_MAX    998 /* longest -f / recipient accepted */
#define CLI_ENVID_MAX   100 /* RFC 3461 ENVID */

struct cli_options {
	enum cli_mode mode;
	int read_recipients;     /* -t */
	int ignore_dots;         /* -i, -oi */
	int verbose;             /* -v count; --debug sets at least 2; json at least 1 */
	int diag_json;           /* --diag-format=json */
	int queue_only;          /* -odq, -odd: queue, do not send now */
	const char *from;        /* -f / -r ADDR ("" for -f '<>' or -f '') */
	const char *fullname;    /* -F NAME */
	const char *config_file; /* -C / --config FILE */
	const char *account;     /* -a / --account NAME */
	/* Long-option overrides of account keys (NULL when not given). */
	const char *host;           /* --host */
	const char *port;           /* --port (checked: 1..65535) */
	const char *tls;            /* --tls= (checked: starttls|implicit|opportunistic|off|on) */
	const char *user;           /* --user */
	const char *tls_trust_file; /* --tls-trust-file */
	/* msmtp's options of the same meaning (values checked by conf.c). */
	const char *timeout;        /* --timeout */
	const char *auth;           /* --auth[=on|off|MECHANISM] */
	const char *tls_starttls;   /* --tls-starttls[=on|off] */
	const char *tls_certcheck;  /* --tls-certcheck[=on|off] */
	const char *passwordeval;   /* --passwordeval (root only: conf.c) */
	const char *domain;         /* --domain */
	const char *logfile;        /* --logfile (root only: conf.c) */
	int read_envelope_from;     /* --read-envelope-from */
	const char *body_type;      /* -B: NULL, "7BIT" or "8BITMIME" */
	const char *dsn_notify;     /* -N as SMTP wants it: "NEVER", "SUCCESS,DELAY"… */
	const char *dsn_ret;        /* -R: NULL, "FULL" or "HDRS" */
	const char *dsn_envid;      /* -V envid (printable, no space, <= 100) */
	unsigned dsn_notify_flags;  /* CLI_DSN_* bits of -N */
	const char *queue_interval; /* -q30m: the interval as given ("" for a bare -q) */
	int queue_foreground;       /* -qf */
	const char *queue_id;       /* --flush-id ID (mode CLI_FLUSH), --queue-remove ID */
	/* Accepted for sendmail compatibility; carried but unused. */
	int hop_count;      /* -h N */
	const char *label;  /* -L label */
	char error_mode;    /* -oeX / -eX: 'm', 'e', 'p', 'q', 'w', or 0 */
	char delivery_mode; /* -odX: 'i', 'b', 'q', 'd', or 0 */
	char *const *rcpts; /* recipients from argv */
	size_t nrcpts;
};

/*
 * Parse argv.  Returns 0, or -1 with SX_USAGE / STAGE_ARGS in the error:
 * the detail names the bad flag or recipient and points at --help.
 * Sendmail rules: single-letter flags may be clustered (-ti), a flag's
 * value may be attached (-fADDR, -FCronDaemon, -B8BITMIME) or the next
 * argument; options end at "--" or at the first recipient; an option after
 * a recipient, a recipient starting with '-' and any control character in
 * a recipient or address are refused.  Without -t, recipients are required
 * when sending.  Called as mailq (argv[0]'s last component) it is -bp,
 * as newaliases -bi; another mode's flag then conflicts with the name.
 */
int cli_parse(int argc, char *const argv[], struct cli_options *, struct sx_err *);

/* Print the --help text. */
void cli_usage(FILE *);

#endif
