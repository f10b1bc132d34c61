/*
 * cli.h — sendmail-compatible command line → struct cli_options.
 * No I/O: pure parsing, fully unit-testable.  Strings point into argv.
 */
#ifndef SX_CLI_H
#define SX_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum cli_mode {
	CLI_SEND = 0,    /* -bm (default): read a message from stdin and send it */
	CLI_CHECK,       /* --check: connect, TLS, EHLO, AUTH, QUIT; send nothing */
	CLI_QUEUE_LIST,  /* -bp, --queue-list */
	CLI_FLUSH,       /* -q, --flush */
	CLI_SMTP_STDIO,  /* -bs: SMTP server on stdin/stdout */
	CLI_DUMP_CONFIG, /* --dump-config */
	CLI_HELP,
	CLI_VERSION
};

struct cli_options {
	enum cli_mode mode;
	int read_recipients;     /* -t */
	int ignore_dots;         /* -i, -oi */
	int verbose;             /* -v count; --debug sets 2 */
	int diag_json;           /* --diag-format=json */
	int queue_only;          /* -odq: queue, do not send now */
	const char *from;        /* -f / -r ADDR */
	const char *fullname;    /* -F NAME */
	const char *config_file; /* -C / --config FILE */
	const char *account;     /* -a / --account NAME */
	/* Long-option overrides of account keys (NULL when not given). */
	const char *host;           /* --host */
	const char *port;           /* --port */
	const char *tls;            /* --tls= */
	const char *user;           /* --user */
	const char *tls_trust_file; /* --tls-trust-file */
	const char *body_type;      /* -B 7BIT|8BITMIME */
	const char *dsn_notify;     /* -N never|success,failure,delay */
	const char *dsn_ret;        /* -R full|hdrs */
	const char *dsn_envid;      /* -V envid */
	char *const *rcpts;         /* recipients from argv */
	size_t nrcpts;
};

/*
 * Parse argv.  Returns 0, or -1 with SX_USAGE / STAGE_ARGS in the error
 * (the detail names the bad flag).
 */
int cli_parse(int argc, char *const argv[], struct cli_options *, struct sx_err *);

/* Print the --help text. */
void cli_usage(FILE *);

#endif
