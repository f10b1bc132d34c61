/* main.c — argv → config → dispatch to a mode (mode/run.h) → report → exit status. */
#include "config.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/oauth2.h"
#include "mode/run.h"
#include "msg/aliases.h"

/* The host's FQDN, or its plain name, or "localhost". */
static void
main_hostname(char *buf, size_t sz)
{
	struct addrinfo hints, *res = NULL;

	if (gethostname(buf, sz) == -1 || buf[0] == '\0') {
		strlcpy(buf, "localhost", sz);
		return;
	}
	buf[sz - 1] = '\0';
	if (strchr(buf, '.') != NULL)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(buf, NULL, &hints, &res) == 0 && res != NULL && res->ai_canonname != NULL &&
	    strchr(res->ai_canonname, '.') != NULL)
		strlcpy(buf, res->ai_canonname, sz);
	if (res != NULL)
		freeaddrinfo(res);
}

/* What the command line contributes to choosing and overriding the account. */
static void
main_request(const struct cli_options *opt, struct conf_request *req, struct conf_errors *errs)
{
	memset(req, 0, sizeof(*req));
	req->errors = errs;
	req->config_file = opt->config_file;
	req->account = opt->account;
	req->envelope_from = opt->from;
	req->host = opt->host;
	req->port = opt->port;
	req->tls = opt->tls;
	req->user = opt->user;
	req->tls_trust_file = opt->tls_trust_file;
	req->timeout = opt->timeout;
	req->auth = opt->auth;
	req->tls_starttls = opt->tls_starttls;
	req->tls_certcheck = opt->tls_certcheck;
	req->passwordeval = opt->passwordeval;
	req->domain = opt->domain;
	req->logfile = opt->logfile;
	req->read_envelope_from = opt->read_envelope_from;
	/* The queue stands on its own: listing or flushing it needs no relay. */
	req->relay_optional = opt->mode == CLI_QUEUE_LIST || opt->mode == CLI_FLUSH ||
			      opt->mode == CLI_QUEUE_REMOVE || opt->mode == CLI_NEWALIASES;
}

/* newaliases, -bi: there is no database to build; check the file and say so. */
static int
main_newaliases(struct run *r)
{
	struct alias_table tab;
	int rc;

	if (r->acct.aliases == NULL) {
		diag_stage(&r->diag, STAGE_CONFIG, "no aliases file configured: nothing to check");
		return 0;
	}
	memset(&tab, 0, sizeof(tab));
	rc = alias_load(r->acct.aliases, &tab, &r->err);
	alias_free(&tab);
	if (rc == 0)
		diag_stage(
		    &r->diag, STAGE_CONFIG, "%s: no errors (read at every send)", r->acct.aliases);
	return rc;
}

static int
main_dispatch(struct run *r)
{
	switch (r->opt.mode) {
	case CLI_DUMP_CONFIG:
		if (conf_dump(stdout, &r->acct) == 0)
			return 0;
		return sx_fail(&r->err, SX_LOCALIO, STAGE_CONFIG, "writing: %s", strerror(errno));
	case CLI_CHECK:
		return mode_check(r);
	case CLI_SEND:
		return mode_send(r);
	case CLI_SMTP_STDIO:
		return mode_bs(r);
	case CLI_QUEUE_LIST:
	case CLI_FLUSH:
	case CLI_QUEUE_REMOVE:
		return mode_queue(r);
	case CLI_NEWALIASES:
		return main_newaliases(r);
	case CLI_OAUTH2_AUTHORIZE:
		return oauth2_authorize(&r->acct, NULL, &r->diag, &r->err);
	default:
		return sx_fail(&r->err, SX_USAGE, STAGE_ARGS, "this mode is not implemented yet");
	}
}

/*
 * Before anything is read: never set-id (the environment and argv would
 * then drive a privileged process: passwordeval, -C, log files), and no
 * core dump may carry a password read from a config file.
 */
static int
main_harden(void)
{
	struct rlimit none = {0, 0};

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
	if (getuid() != geteuid() || getgid() != getegid()) {
		/* Before the options are read: always text. */
		diag_say(NULL, "error", STAGE_NONE, NULL, 0,
		    "refusing to run set-user-ID or set-group-ID (real uid %ld, effective %ld; "
		    "real gid %ld, effective %ld)",
		    (long)getuid(), (long)geteuid(), (long)getgid(), (long)getegid());
		diag_say(NULL, "hint", STAGE_NONE, NULL, 0,
		    "hint: install it without the set-id bits (chmod ug-s); it needs no "
		    "privileges");
		return -1;
	}
	return 0;
}

/*
 * Addresses and server texts in UTF-8 are shown as UTF-8 (sanitised) when
 * the user's locale says the terminal takes it.  The program itself stays
 * in the C locale: no case folding of protocol words by a locale's rules.
 */
static void
main_locale(void)
{
	const char *cs;
	int utf8 = 0;

	if (setlocale(LC_CTYPE, "") != NULL && (cs = nl_langinfo(CODESET)) != NULL)
		utf8 = strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0;
	setlocale(LC_CTYPE, "C");
	sx_set_utf8(utf8);
}

/*
 * A configuration with errors in its files: each of them, with its file
 * and line (fields in JSON) and its fix, then what was not done.  The
 * first of them is r->err.
 */
static void
main_report_conf(struct run *r)
{
	const struct conf_errors *ce = &r->conf_errors;
	size_t i;

	for (i = 0; i < ce->n; i++) {
		const struct conf_error *ent = &ce->err[i];
		struct diag_field f[2] = {{"file", ent->file, 0}, {"line", NULL, ent->line}};

		diag_report_error(
		    &r->diag, STAGE_CONFIG, ent->detail, ent->hint, f, ent->line > 0 ? 2 : 1);
	}
	if (ce->total > ce->n)
		diag_report_error(&r->diag, STAGE_CONFIG, "more errors not shown: fix these first",
		    NULL, NULL, 0);
	if (ce->total > 1)
		diag_say(&r->diag, "note", STAGE_CONFIG, NULL, 0, "%zu errors in the configuration",
		    ce->total);
	if (r->context[0] != '\0')
		diag_say(&r->diag, "context", STAGE_CONFIG, NULL, 0, "%s", r->context);
	r->reported = 1;
}

/*
 * The exit status of a run, and in JSON its last line: the result event
 * (exit status, what became of the message, its queue id).
 */
static int
main_finish(struct run *r, int rc)
{
	int status = 0;

	if (rc != 0)
		status = r->exit_code != 0 ? r->exit_code : sx_exitcode(&r->err);
	diag_result(&r->diag, status, r->state, r->msg_id, &r->err, r->msg_bytes);
	return status;
}

int
main(int argc, char *argv[])
{
	static struct run r;
	int rc = -1, status;

	if (main_harden() == -1)
		return EX_CONFIG;
	signal(SIGPIPE, SIG_IGN);
	main_locale();
	sx_clear(&r.err);
	if (cli_parse(argc, argv, &r.opt, &r.err) == -1) {
		/* JSON once --diag-format=json was read, before the bad argument. */
		diag_init(&r.diag, stderr, 0, r.opt.diag_json);
		diag_say(&r.diag, "error", r.err.stage, NULL, 0, "%s", r.err.detail);
		if (r.err.hint[0] != '\0')
			diag_say(&r.diag, "hint", r.err.stage, NULL, 0, "%s", r.err.hint);
		r.reported = 1;
		return main_finish(&r, -1);
	}
	diag_init(&r.diag, stderr, r.opt.verbose, r.opt.diag_json);
	switch (r.opt.mode) {
	case CLI_HELP:
		cli_usage(stdout);
		return main_finish(&r, 0);
	case CLI_VERSION:
		printf("smtps-send %s\n", PACKAGE_VERSION);
		return main_finish(&r, 0);
	default:
		break;
	}
	main_request(&r.opt, &r.req, &r.conf_errors);
	main_hostname(r.hostname, sizeof(r.hostname));
	if (r.opt.mode == CLI_IMPORT_MSMTPRC) {
		/* Writes a configuration: reads none. */
		rc = mode_import(&r);
	} else if (conf_load(&r.req, &r.acct, &r.err) == 0) {
		/* The relay the JSON events name (a queue run's messages may each have their own). */
		if (r.opt.mode == CLI_SEND || r.opt.mode == CLI_SMTP_STDIO ||
		    r.opt.mode == CLI_CHECK)
			diag_relay(&r.diag, r.acct.host, r.acct.port);
		rc = main_dispatch(&r);
	} else {
		/* A message on stdin is still unread: say it was not taken. */
		if (r.opt.mode == CLI_SEND)
			strlcpy(r.context, "nothing was read from standard input; nothing was sent",
			    sizeof(r.context));
		if (r.conf_errors.n > 0)
			main_report_conf(&r);
	}
	if (rc == 0 && r.queued_id[0] != '\0')
		diag_report_queued(&r.diag, &r.err, r.queued_id);
	if (rc == -1 && !r.reported) {
		diag_report_failure(&r.diag, &r.err, r.context);
		if (r.note[0] != '\0')
			diag_say(&r.diag, "note", r.err.stage, NULL, 0, "%s", r.note);
	}
	status = main_finish(&r, rc);
	conf_account_free(&r.acct);
	return status;
}
