/*
 * cli.c — sendmail-compatible command line (see cli.h).
 *
 * Callers are cron daemons, PHP, git send-email, mutt and scripts written
 * for sendmail, Postfix or msmtp, so the flags they pass are accepted even
 * when they mean nothing here; anything else is refused by name rather than
 * guessed at.  Pure: no I/O (the --help text is in cli_usage.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cli.h"
#include "core/strutil.h"

/* Where the parser is: argv and the index of the argument being read. */
struct cli_state {
	int argc;
	char *const *argv;
	int i;
	const char *mode_by; /* flag that set a non-default mode */
};

enum cli_long_id {
	L_CONFIG,
	L_ACCOUNT,
	L_HOST,
	L_PORT,
	L_TLS,
	L_USER,
	L_TRUST,
	L_CHECK,
	L_OAUTH2_AUTHORIZE,
	L_QLIST,
	L_FLUSH,
	L_FLUSH_ID,
	L_QREMOVE,
	L_DUMP,
	L_DIAG,
	L_DEBUG,
	L_HELP,
	L_VERSION,
	L_FROM,
	L_READ_RCPTS,
	L_TIMEOUT,
	L_AUTH,
	L_TLS_STARTTLS,
	L_TLS_CERTCHECK,
	L_PASSWORDEVAL,
	L_DOMAIN,
	L_LOGFILE,
	L_READ_ENV_FROM,
	L_SERVERINFO,
	L_IMPORT_MSMTPRC
};

/* A long option's value: none, required, or optional (only as --name=value). */
enum cli_arg { CLI_ARG_NONE, CLI_ARG_REQUIRED, CLI_ARG_OPTIONAL };

struct cli_long {
	const char *name;
	enum cli_arg has_arg;
	enum cli_long_id id;
	const char *bare; /* CLI_ARG_OPTIONAL: the value of --name alone */
};

static const struct cli_long cli_longs[] = {
    {"config", CLI_ARG_REQUIRED, L_CONFIG, NULL},
    {"account", CLI_ARG_REQUIRED, L_ACCOUNT, NULL},
    {"host", CLI_ARG_REQUIRED, L_HOST, NULL},
    {"port", CLI_ARG_REQUIRED, L_PORT, NULL},
    /* --tls VALUE too, for the TLS words (cli_long): it took one before msmtp's --tls */
    {"tls", CLI_ARG_OPTIONAL, L_TLS, "on"},
    {"user", CLI_ARG_REQUIRED, L_USER, NULL},
    {"tls-trust-file", CLI_ARG_REQUIRED, L_TRUST, NULL},
    {"check", CLI_ARG_NONE, L_CHECK, NULL},
    {"oauth2-authorize", CLI_ARG_NONE, L_OAUTH2_AUTHORIZE, NULL},
    {"queue-list", CLI_ARG_NONE, L_QLIST, NULL},
    {"flush", CLI_ARG_NONE, L_FLUSH, NULL},
    {"flush-id", CLI_ARG_REQUIRED, L_FLUSH_ID, NULL},
    {"queue-remove", CLI_ARG_REQUIRED, L_QREMOVE, NULL},
    {"dump-config", CLI_ARG_NONE, L_DUMP, NULL},
    {"diag-format", CLI_ARG_REQUIRED, L_DIAG, NULL},
    {"debug", CLI_ARG_NONE, L_DEBUG, NULL},
    {"help", CLI_ARG_NONE, L_HELP, NULL},
    {"version", CLI_ARG_NONE, L_VERSION, NULL},
    /*
     * msmtp's options where the meaning is the same, so scripts written for
     * msmtp run unchanged.  msmtp's -X (--logfile) is not among them: sendmail's
     * -X writes a traffic log, and a caller's argv must not pick a file to write.
     */
    {"from", CLI_ARG_REQUIRED, L_FROM, NULL},
    {"read-recipients", CLI_ARG_NONE, L_READ_RCPTS, NULL},
    {"file", CLI_ARG_REQUIRED, L_CONFIG, NULL},
    {"timeout", CLI_ARG_REQUIRED, L_TIMEOUT, NULL},
    {"auth", CLI_ARG_OPTIONAL, L_AUTH, "on"},
    {"tls-starttls", CLI_ARG_OPTIONAL, L_TLS_STARTTLS, "on"},
    {"tls-certcheck", CLI_ARG_OPTIONAL, L_TLS_CERTCHECK, "on"},
    {"passwordeval", CLI_ARG_REQUIRED, L_PASSWORDEVAL, NULL},
    {"domain", CLI_ARG_REQUIRED, L_DOMAIN, NULL},
    {"logfile", CLI_ARG_REQUIRED, L_LOGFILE, NULL},
    {"read-envelope-from", CLI_ARG_NONE, L_READ_ENV_FROM, NULL},
    {"serverinfo", CLI_ARG_NONE, L_SERVERINFO, NULL},
    /* migration from msmtp: a mode of its own (its operands are files) */
    {"import-msmtprc", CLI_ARG_NONE, L_IMPORT_MSMTPRC, NULL},
};

/* The words --tls takes as a separate argument (a recipient is never one of them). */
static int
cli_tls_word(const char *v)
{
	return strcmp(v, "starttls") == 0 || strcmp(v, "implicit") == 0 ||
	       strcmp(v, "opportunistic") == 0 || strcmp(v, "off") == 0 || strcmp(v, "on") == 0;
}

/* on or off: --tls-starttls=, --tls-certcheck= */
static int
cli_onoff(const char *flag, const char *v, struct sx_err *e)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0)
		return 0;
	return sx_fail(e, SX_USAGE, STAGE_ARGS, "%s takes on or off", flag);
}

/* SMTP spellings of every -N combination, indexed by CLI_DSN_* bits. */
static const char *const cli_notify_names[16] = {
    [CLI_DSN_NEVER] = "NEVER",
    [CLI_DSN_SUCCESS] = "SUCCESS",
    [CLI_DSN_FAILURE] = "FAILURE",
    [CLI_DSN_SUCCESS | CLI_DSN_FAILURE] = "SUCCESS,FAILURE",
    [CLI_DSN_DELAY] = "DELAY",
    [CLI_DSN_SUCCESS | CLI_DSN_DELAY] = "SUCCESS,DELAY",
    [CLI_DSN_FAILURE | CLI_DSN_DELAY] = "FAILURE,DELAY",
    [CLI_DSN_SUCCESS | CLI_DSN_FAILURE | CLI_DSN_DELAY] = "SUCCESS,FAILURE,DELAY",
};

static int cli_name(struct cli_state *, struct cli_options *, const char *, struct sx_err *);
static int cli_text(const char *, const char *, size_t, int, struct sx_err *);
static int cli_set_mode(
    struct cli_state *, struct cli_options *, enum cli_mode, const char *, struct sx_err *);
static int cli_flag_o(struct cli_options *, const char *, struct sx_err *);
static int cli_flag_b(struct cli_state *, struct cli_options *, const char *, struct sx_err *);
static int cli_flag_q(struct cli_state *, struct cli_options *, const char *, struct sx_err *);
static int cli_flag_n(struct cli_options *, const char *, struct sx_err *);
static int cli_short(struct cli_state *, struct cli_options *, struct sx_err *);
static int cli_long(struct cli_state *, struct cli_options *, struct sx_err *);
static int cli_rcpt(const char *, int, const char *, struct sx_err *);

/*
 * The name we were called by: installed as mailq and newaliases (links to
 * the one binary), we are sendmail -bp and sendmail -bi.  Any other name
 * (sendmail, smtps-send, ...) changes nothing.
 */
static int
cli_name(struct cli_state *st, struct cli_options *o, const char *argv0, struct sx_err *e)
{
	const char *base;

	if (argv0 == NULL)
		return 0;
	base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		return cli_set_mode(st, o, CLI_QUEUE_LIST, "mailq", e);
	if (strcmp(base, "newaliases") == 0)
		return cli_set_mode(st, o, CLI_NEWALIASES, "newaliases", e);
	return 0;
}

/* Check a flag's value: no control characters, bounded, maybe non-empty. */
static int
cli_text(const char *flag, const char *v, size_t max, int empty_ok, struct sx_err *e)
{
	if (!empty_ok && *v == '\0')
		return sx_fail(e, SX_USAGE, STAGE_ARGS, "%s needs a non-empty value", flag);
	if (str_has_ctl(v))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "%s: control characters (CR, LF, TAB, ...) are not allowed", flag);
	if (strlen(v) > max)
		return sx_fail(
		    e, SX_USAGE, STAGE_ARGS, "%s: value longer than %zu bytes", flag, max);
	return 0;
}

/*
 * Modes exclude each other (-bp with -q is a mistake worth naming), except
 * that --help and --version win over everything.
 */
static int
cli_set_mode(struct cli_state *st, struct cli_options *o, enum cli_mode m, const char *flag,
    struct sx_err *e)
{
	if (m == CLI_HELP || m == CLI_VERSION) {
		if (o->mode != CLI_HELP)
			o->mode = m;
		return 0;
	}
	if (o->mode == CLI_HELP || o->mode == CLI_VERSION)
		return 0;
	if (st->mode_by != NULL && o->mode != m)
		return sx_fail(
		    e, SX_USAGE, STAGE_ARGS, "%s and %s cannot be combined", st->mode_by, flag);
	o->mode = m;
	st->mode_by = flag;
	return 0;
}

/* -oX: the one-letter sendmail options real callers pass. */
static int
cli_flag_o(struct cli_options *o, const char *v, struct sx_err *e)
{
	if (strcmp(v, "i") == 0)
		o->ignore_dots = 1;
	else if (v[0] == 'e' && v[1] != '\0' && v[2] == '\0' && strchr("mepqw", v[1]) != NULL)
		o->error_mode = v[1]; /* errors always go to stderr and the exit status */
	else if (v[0] == 'd' && v[1] != '\0' && v[2] == '\0' && strchr("ibqd", v[1]) != NULL) {
		o->delivery_mode = v[1];
		/* -odb is delivered in the foreground too: the caller learns the result. */
		o->queue_only = (v[1] == 'q' || v[1] == 'd');
	} else if (strcmp(v, "m") == 0 || strcmp(v, "o") == 0)
		; /* me-too, old-style headers: meaningless for a relay client */
	else
		return sx_fail(
		    e, SX_USAGE, STAGE_ARGS, "unknown option -o%s (see smtps-send --help)", v);
	return 0;
}

/* -bX: what to do; only m, p, s and i exist here. */
static int
cli_flag_b(struct cli_state *st, struct cli_options *o, const char *v, struct sx_err *e)
{
	if (strcmp(v, "m") == 0)
		return cli_set_mode(st, o, CLI_SEND, "-bm", e);
	if (strcmp(v, "p") == 0)
		return cli_set_mode(st, o, CLI_QUEUE_LIST, "-bp", e);
	if (strcmp(v, "s") == 0)
		return cli_set_mode(st, o, CLI_SMTP_STDIO, "-bs", e);
	if (strcmp(v, "i") == 0)
		return cli_set_mode(st, o, CLI_NEWALIASES, "-bi", e);
	if (strcmp(v, "d") == 0 || strcmp(v, "D") == 0)
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "-b%s: smtps-send is not a daemon (see smtps-send --help)", v);
	return sx_fail(e, SX_USAGE, STAGE_ARGS, "unknown option -b%s (see smtps-send --help)", v);
}

/*
 * -q[interval] and -qf: there is no daemon, so every form is one flush now.
 * -qR/-qS/-qI select messages, which we cannot honour: refuse, don't guess.
 */
static int
cli_flag_q(struct cli_state *st, struct cli_options *o, const char *v, struct sx_err *e)
{
	const char *p;

	if (strcmp(v, "f") == 0)
		o->queue_foreground = 1;
	else if (*v != '\0') {
		for (p = v; *p != '\0'; p++)
			if (strchr("0123456789smhdw", *p) == NULL ||
			    (p == v && (*p < '0' || *p > '9')))
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-q%s is not supported: use -q or -q<interval> to flush "
				    "the whole queue (see smtps-send --help)",
				    v);
	}
	o->queue_interval = v;
	return cli_set_mode(st, o, CLI_FLUSH, "-q", e);
}

/* -N never | success,failure,delay (any case, any order). */
static int
cli_flag_n(struct cli_options *o, const char *v, struct sx_err *e)
{
	unsigned flags = 0;
	const char *p = v;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (n == 5 && strncasecmp(p, "never", 5) == 0)
			flags |= CLI_DSN_NEVER;
		else if (n == 7 && strncasecmp(p, "success", 7) == 0)
			flags |= CLI_DSN_SUCCESS;
		else if (n == 7 && strncasecmp(p, "failure", 7) == 0)
			flags |= CLI_DSN_FAILURE;
		else if (n == 5 && strncasecmp(p, "delay", 5) == 0)
			flags |= CLI_DSN_DELAY;
		else
			break;
		p += n;
		if (*p == ',' && p[1] != '\0')
			p++;
		else if (*p == ',')
			break;
	}
	if (*p != '\0' || flags == 0 || ((flags & CLI_DSN_NEVER) && flags != CLI_DSN_NEVER))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "-N takes never, or a list of success,failure,delay (see smtps-send --help)");
	o->dsn_notify_flags = flags;
	o->dsn_notify = cli_notify_names[flags];
	return 0;
}

/*
 * One argument of single-letter flags, getopt style: "-ti", "-fADDR",
 * "-f ADDR".  The flag named in errors is the letter, not the cluster.
 */
static int
cli_short(struct cli_state *st, struct cli_options *o, struct sx_err *e)
{
	const char *arg = st->argv[st->i];
	const char *v;
	const char *errstr = NULL;
	char flag[3] = {'-', 0, 0};
	size_t j;

	for (j = 1; arg[j] != '\0'; j++) {
		char c = arg[j];

		flag[1] = c;
		switch (c) {
		case 't':
			o->read_recipients = 1;
			continue;
		case 'i':
			o->ignore_dots = 1;
			continue;
		case 'v':
			if (o->verbose < CLI_VERBOSE_MAX)
				o->verbose++;
			continue;
		case 'm': /* me too */
		case 'n': /* no aliasing */
		case 'G': /* gateway submission */
		case 'U': /* initial user submission */
			continue;
		case 'q':
			/* Optional attached value only: "-q" never eats the next argument. */
			return cli_flag_q(st, o, arg + j + 1, e);
		case 'f':
		case 'r':
		case 'F':
		case 'C':
		case 'a':
		case 'B':
		case 'b':
		case 'h':
		case 'L':
		case 'N':
		case 'R':
		case 'V':
		case 'o':
		case 'O':
		case 'e':
		case 'A':
			break;
		case 'X':
			/*
			 * sendmail's traffic log, msmtp's log file: either way a
			 * file the caller names would be written (a web
			 * application's argv: CVE-2016-10033).
			 */
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "-X is refused: it would write a file named on the command line "
			    "(sendmail's traffic log, msmtp's log file); set logfile in the "
			    "config (see smtps-send --help)");
		default:
			if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "unknown option in %s (see smtps-send --help)", arg);
			if (j > 1)
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "unknown option -%c in %s (see smtps-send --help)", c, arg);
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "unknown option -%c (see smtps-send --help)", c);
		}
		/* A flag with a value: the rest of this argument, else the next one. */
		if (arg[j + 1] != '\0')
			v = arg + j + 1;
		else if (st->i + 1 < st->argc)
			v = st->argv[++st->i];
		else
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "%s needs a value (see smtps-send --help)", flag);
		switch (c) {
		case 'f':
		case 'r':
			if (cli_text(flag, v, CLI_ADDR_MAX, 1, e) == -1)
				return -1;
			/* -f '<>' and -f '' both mean the null sender (bounces). */
			o->from = strcmp(v, "<>") == 0 ? "" : v;
			return 0;
		case 'F':
			if (cli_text(flag, v, 256, 1, e) == -1)
				return -1;
			o->fullname = v;
			return 0;
		case 'C':
			if (cli_text(flag, v, 4096, 0, e) == -1)
				return -1;
			o->config_file = v;
			return 0;
		case 'a':
			if (cli_text(flag, v, 128, 0, e) == -1)
				return -1;
			o->account = v;
			return 0;
		case 'B':
			if (strcasecmp(v, "7BIT") == 0)
				o->body_type = "7BIT";
			else if (strcasecmp(v, "8BITMIME") == 0)
				o->body_type = "8BITMIME";
			else
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-B takes 7BIT or 8BITMIME (see smtps-send --help)");
			return 0;
		case 'b':
			return cli_flag_b(st, o, v, e);
		case 'h':
			o->hop_count = (int)strtonum(v, 0, 1000, &errstr);
			if (errstr != NULL)
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-h takes a hop count 0..1000 (see smtps-send --help)");
			return 0;
		case 'L':
			if (cli_text(flag, v, 256, 1, e) == -1)
				return -1;
			o->label = v;
			return 0;
		case 'N':
			return cli_flag_n(o, v, e);
		case 'R':
			if (strcasecmp(v, "full") == 0)
				o->dsn_ret = "FULL";
			else if (strcasecmp(v, "hdrs") == 0 || strcasecmp(v, "headers") == 0)
				o->dsn_ret = "HDRS";
			else
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-R takes full or hdrs (see smtps-send --help)");
			return 0;
		case 'V':
			if (cli_text(flag, v, CLI_ENVID_MAX, 0, e) == -1)
				return -1;
			if (strchr(v, ' ') != NULL)
				return sx_fail(e, SX_USAGE, STAGE_ARGS, "-V: spaces not allowed");
			o->dsn_envid = v;
			return 0;
		case 'o':
			return cli_flag_o(o, v, e);
		case 'O':
			/* -O Option=value: sendmail.cf options; nothing to set here. */
			return cli_text(flag, v, 1024, 0, e);
		case 'e':
			if (v[0] == '\0' || v[1] != '\0' || strchr("mepqw", v[0]) == NULL)
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-e takes m, e, p, q or w (see smtps-send --help)");
			o->error_mode = v[0];
			return 0;
		case 'A':
			/* -Ac, -Am: sendmail's submit.cf or sendmail.cf; there is one queue. */
			if (strcmp(v, "c") != 0 && strcmp(v, "m") != 0)
				return sx_fail(e, SX_USAGE, STAGE_ARGS,
				    "-A takes c or m (see smtps-send --help)");
			return 0;
		default:
			break;
		}
	}
	return 0;
}

/* --name, --name=value, --name value. */
static int
cli_long(struct cli_state *st, struct cli_options *o, struct sx_err *e)
{
	const char *arg = st->argv[st->i] + 2;
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	const struct cli_long *l = NULL;
	const char *v = NULL;
	const char *errstr = NULL;
	char flag[40];
	size_t k;

	for (k = 0; k < sizeof(cli_longs) / sizeof(cli_longs[0]); k++)
		if (strlen(cli_longs[k].name) == n && strncmp(cli_longs[k].name, arg, n) == 0)
			l = &cli_longs[k];
	if (l == NULL) {
		if (str_has_ctl(arg))
			return sx_fail(
			    e, SX_USAGE, STAGE_ARGS, "unknown option (see smtps-send --help)");
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "unknown option --%.*s (see smtps-send --help)", (int)(n > 64 ? 64 : n), arg);
	}
	snprintf(flag, sizeof(flag), "--%s", l->name);
	if (l->has_arg == CLI_ARG_NONE && eq != NULL)
		return sx_fail(e, SX_USAGE, STAGE_ARGS, "%s takes no value", flag);
	if (l->has_arg == CLI_ARG_OPTIONAL && eq == NULL) {
		/* As msmtp (getopt): a value only after '='; --tls's own words as before. */
		if (l->id == L_TLS && st->i + 1 < st->argc && cli_tls_word(st->argv[st->i + 1]))
			v = st->argv[++st->i];
		else
			v = l->bare;
	} else if (l->has_arg != CLI_ARG_NONE) {
		if (eq != NULL)
			v = eq + 1;
		else if (st->i + 1 < st->argc)
			v = st->argv[++st->i];
		else
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "%s needs a value (see smtps-send --help)", flag);
	}
	if (v != NULL && cli_text(flag, v, 4096, l->id == L_FROM, e) == -1)
		return -1;
	switch (l->id) {
	case L_CONFIG:
		o->config_file = v;
		break;
	case L_ACCOUNT:
		o->account = v;
		break;
	case L_HOST:
		if (strchr(v, ' ') != NULL)
			return sx_fail(e, SX_USAGE, STAGE_ARGS, "--host: spaces not allowed");
		o->host = v;
		break;
	case L_PORT:
		(void)strtonum(v, 1, 65535, &errstr);
		if (errstr != NULL)
			return sx_fail(e, SX_USAGE, STAGE_ARGS, "--port takes a number 1..65535");
		o->port = v;
		break;
	case L_TLS:
		if (strcmp(v, "starttls") != 0 && strcmp(v, "implicit") != 0 &&
		    strcmp(v, "opportunistic") != 0 && strcmp(v, "off") != 0 &&
		    strcmp(v, "on") != 0)
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "--tls takes starttls, implicit, opportunistic, off or on");
		o->tls = v;
		break;
	case L_USER:
		o->user = v;
		break;
	case L_TRUST:
		o->tls_trust_file = v;
		break;
	case L_CHECK:
		return cli_set_mode(st, o, CLI_CHECK, "--check", e);
	case L_OAUTH2_AUTHORIZE:
		return cli_set_mode(st, o, CLI_OAUTH2_AUTHORIZE, "--oauth2-authorize", e);
	case L_QLIST:
		return cli_set_mode(st, o, CLI_QUEUE_LIST, "--queue-list", e);
	case L_FLUSH:
		o->queue_interval = "";
		return cli_set_mode(st, o, CLI_FLUSH, "--flush", e);
	case L_FLUSH_ID:
	case L_QREMOVE:
		/* Checked against the queue's id syntax where it is used. */
		if (cli_text(flag, v, 64, 0, e) == -1)
			return -1;
		o->queue_id = v;
		o->queue_interval = "";
		return cli_set_mode(st, o, l->id == L_QREMOVE ? CLI_QUEUE_REMOVE : CLI_FLUSH,
		    l->id == L_QREMOVE ? "--queue-remove" : "--flush-id", e);
	case L_DUMP:
		return cli_set_mode(st, o, CLI_DUMP_CONFIG, "--dump-config", e);
	case L_DIAG:
		if (strcmp(v, "json") == 0)
			o->diag_json = 1;
		else if (strcmp(v, "text") == 0)
			o->diag_json = 0;
		else
			return sx_fail(e, SX_USAGE, STAGE_ARGS, "--diag-format takes json or text");
		break;
	case L_DEBUG:
		if (o->verbose < 2)
			o->verbose = 2;
		break;
	case L_HELP:
		return cli_set_mode(st, o, CLI_HELP, "--help", e);
	case L_VERSION:
		return cli_set_mode(st, o, CLI_VERSION, "--version", e);
	case L_FROM:
		o->from = strcmp(v, "<>") == 0 ? "" : v;
		break;
	case L_READ_RCPTS:
		o->read_recipients = 1;
		break;
	case L_TIMEOUT:
		o->timeout = v;
		break;
	case L_AUTH:
		o->auth = v;
		break;
	case L_TLS_STARTTLS:
	case L_TLS_CERTCHECK:
		if (cli_onoff(flag, v, e) == -1)
			return -1;
		if (l->id == L_TLS_STARTTLS)
			o->tls_starttls = v;
		else
			o->tls_certcheck = v;
		break;
	case L_PASSWORDEVAL:
		o->passwordeval = v;
		break;
	case L_DOMAIN:
		o->domain = v;
		break;
	case L_LOGFILE:
		o->logfile = v;
		break;
	case L_READ_ENV_FROM:
		o->read_envelope_from = 1;
		break;
	case L_SERVERINFO:
		/* msmtp's: what the server offers, which --check prints. */
		return cli_set_mode(st, o, CLI_CHECK, "--serverinfo", e);
	case L_IMPORT_MSMTPRC:
		return cli_set_mode(st, o, CLI_IMPORT_MSMTPRC, "--import-msmtprc", e);
	}
	return 0;
}

/* A recipient from argv: never an option, never a control character. */
static int
cli_rcpt(const char *r, int after_dashdash, const char *first, struct sx_err *e)
{
	if (r[0] == '-') {
		if (after_dashdash || first == NULL)
			return sx_fail(
			    e, SX_USAGE, STAGE_ARGS, "recipient %.64s starts with '-': refused", r);
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "option %.64s after recipient %.64s: options must come before recipients "
		    "(see smtps-send --help)",
		    r, first);
	}
	if (r[0] == '\0')
		return sx_fail(e, SX_USAGE, STAGE_ARGS, "empty recipient");
	if (str_has_ctl(r))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "recipient with a control character (CR, LF, ...) refused");
	if (strlen(r) > CLI_ADDR_MAX)
		return sx_fail(
		    e, SX_USAGE, STAGE_ARGS, "recipient longer than %d bytes", CLI_ADDR_MAX);
	return 0;
}

int
cli_parse(int argc, char *const argv[], struct cli_options *o, struct sx_err *e)
{
	struct cli_state st;
	int dashdash = 0;
	int k;

	memset(o, 0, sizeof(*o));
	memset(&st, 0, sizeof(st));
	st.argc = argc;
	st.argv = argv;
	if (cli_name(&st, o, argc > 0 ? argv[0] : NULL, e) == -1)
		return -1;
	for (st.i = 1; st.i < argc; st.i++) {
		const char *a = argv[st.i];

		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			st.i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (a[1] == '-') {
			if (cli_long(&st, o, e) == -1)
				return -1;
		} else if (cli_short(&st, o, e) == -1)
			return -1;
	}
	if (st.i > argc)
		st.i = argc;
	for (k = st.i; k < argc; k++)
		if (cli_rcpt(argv[k], dashdash, k > st.i ? argv[st.i] : NULL, e) == -1)
			return -1;
	o->rcpts = argv + st.i;
	o->nrcpts = (size_t)(argc - st.i);
	if (o->diag_json && o->verbose == 0)
		o->verbose = 1; /* JSON carries the -v events */
	/* --import-msmtprc [FILE [OUTPUT]]: the operands are files, not recipients. */
	if (o->mode == CLI_IMPORT_MSMTPRC && o->nrcpts > 2)
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "--import-msmtprc takes at most an msmtprc and a file to write");
	if (o->mode == CLI_SEND && !o->read_recipients && o->nrcpts == 0)
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "no recipients: name them as arguments or use -t to read them from the "
		    "message (see smtps-send --help)");
	return 0;
}
