/* main.c — wiring only: argv → config → intake → session → report → exit code. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "conn.h"
#include "diag.h"
#include "err.h"
#include "maillog.h"
#include "message.h"
#include "sasl.h"
#include "smtp.h"
#include "sock.h"
#include "spool.h"
#include "tls.h"

struct run {
	struct cli_options opt;
	struct account acct;
	struct diag diag;
	struct sx_err err;
	char hostname[256]; /* FQDN for EHLO, Message-ID and user@host */
	char spool_dir[4096];
	char context[4096]; /* last line of a failure report */
};

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

/* Queue directory: the account's, else /var/spool for root, else XDG state. */
static int
main_spool_dir(struct run *r)
{
	const char *base;
	int n;

	if (r->acct.queue_dir != NULL) {
		n = snprintf(r->spool_dir, sizeof(r->spool_dir), "%s", r->acct.queue_dir);
	} else if (geteuid() == 0) {
		n = snprintf(r->spool_dir, sizeof(r->spool_dir), "/var/spool/smtps-send");
	} else if ((base = getenv("XDG_STATE_HOME")) != NULL && base[0] == '/') {
		n = snprintf(r->spool_dir, sizeof(r->spool_dir), "%s/smtps-send/queue", base);
	} else if ((base = getenv("HOME")) != NULL && base[0] == '/') {
		n = snprintf(
		    r->spool_dir, sizeof(r->spool_dir), "%s/.local/state/smtps-send/queue", base);
	} else {
		return sx_fail(&r->err, SX_CONFIG, STAGE_CONFIG,
		    "no queue directory: set queue_dir (HOME is not set)");
	}
	if (n < 0 || (size_t)n >= sizeof(r->spool_dir))
		return sx_fail(&r->err, SX_CONFIG, STAGE_CONFIG, "queue_dir is too long");
	return 0;
}

static const char *
main_local_user(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u;

	if (pw != NULL && pw->pw_name != NULL)
		return pw->pw_name;
	if ((u = getenv("USER")) != NULL && u[0] != '\0')
		return u;
	return "nobody";
}

static enum sasl_mech
main_mech(enum auth_mode m)
{
	return m == AUTH_MODE_PLAIN ? SASL_PLAIN : m == AUTH_MODE_LOGIN ? SASL_LOGIN : SASL_NONE;
}

/*
 * Connect and run one session.  msg NULL: --check.  The secret lives only
 * for the session's duration and is wiped after.
 */
static int
main_session(struct run *r, const struct smtp_message *msg, struct smtp_result *res)
{
	struct tls_params tp;
	struct tls_client tc;
	struct smtp_params sp;
	struct sock sk;
	struct conn c;
	char *secret = NULL;
	int rc = -1, timeout_ms = (r->acct.timeout > 0 ? r->acct.timeout : 60) * 1000;

	memset(&tc, 0, sizeof(tc));
	memset(&sp, 0, sizeof(sp));
	memset(&tp, 0, sizeof(tp));
	tp.host = r->acct.host;
	tp.trust_file = r->acct.tls_trust_file;
	tp.certcheck = r->acct.tls_certcheck;
	tp.fingerprint = r->acct.tls_fingerprint;
	tp.cert_file = r->acct.tls_cert_file;
	tp.key_file = r->acct.tls_key_file;
	tp.priorities = r->acct.tls_priorities;

	sp.host = r->acct.host;
	sp.port = r->acct.port;
	sp.tls = r->acct.tls;
	sp.ehlo_name = r->acct.domain != NULL ? r->acct.domain : r->hostname;
	sp.auth_cleartext = r->acct.auth_cleartext;
	sp.allow_partial = r->acct.allow_partial;
	sp.allow_8bit = r->acct.allow_8bit;
	sp.mech = main_mech(r->acct.auth);
	sp.check_only = msg == NULL;
	sp.dsn_notify = r->opt.dsn_notify;
	sp.dsn_ret = r->opt.dsn_ret;
	sp.dsn_envid = r->opt.dsn_envid;
	if (r->acct.auth != AUTH_MODE_OFF && r->acct.user != NULL) {
		sp.user = r->acct.user;
		/* No core dump may carry the secret. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (conf_read_secret(&r->acct, &secret, &r->err) == -1)
			return -1;
		sp.secret = secret;
	}
	if (r->acct.tls != TLS_MODE_OFF && tls_client_init(&tc, &tp, &r->err) == -1)
		goto out;
	if (sock_connect(&sk, r->acct.host, r->acct.port, timeout_ms, &r->diag, &r->err) == -1)
		goto out;
	sk.tc = r->acct.tls != TLS_MODE_OFF ? &tc : NULL;
	conn_init(&c, &sock_ops, &sk, timeout_ms, &r->diag);
	rc = smtp_session(&c, &sp, msg, res, &r->err);
	conn_close(&c, 1);
	diag_stage(
	    &r->diag, STAGE_QUIT, "closed (%zu bytes in %u writes)", c.bytes_written, c.writes);
out:
	conf_secret_free(secret);
	tls_client_free(&tc);
	return rc;
}

static int
main_check(struct run *r)
{
	struct smtp_result res;
	char desc[256];
	int rc;

	memset(&res, 0, sizeof(res));
	rc = main_session(r, NULL, &res);
	if (rc == 0) {
		printf("smtps-send: %s port %u: TLS %s, AUTH %s: OK\n", r->acct.host, r->acct.port,
		    conf_tls_name(r->acct.tls),
		    res.mech != SASL_NONE ? sasl_name(res.mech) : "not used");
		printf("  capabilities: %s\n", smtp_caps_describe(&res.caps, desc, sizeof(desc)));
		if (res.caps.size > 0)
			printf("  size limit: %llu bytes\n", res.caps.size);
	}
	smtp_result_free(&res);
	return rc;
}

static void
main_log(struct run *r, const struct msg_envelope *env, const struct smtp_result *res, int64_t ms,
    const char *kept)
{
	struct maillog_entry le;

	memset(&le, 0, sizeof(le));
	le.from = env->from;
	le.rcpts = env->rcpts;
	le.nrcpts = env->nrcpts;
	le.size = env->wire_size;
	le.duration_ms = (long)ms;
	if (kept == NULL) {
		le.reply_code = res->final.code;
		le.reply = res->final.text;
	} else {
		le.err = &r->err;
		le.reply_code = r->err.reply_code;
		le.reply = r->err.reply;
		le.kept = kept;
	}
	maillog_write(&r->acct, &le);
}

static int
main_send(struct run *r)
{
	struct msg_policy pol;
	struct msg_envelope env;
	struct smtp_message msg;
	struct smtp_result res;
	int rc = -1, fd;
	int64_t t0;

	memset(&pol, 0, sizeof(pol));
	memset(&env, 0, sizeof(env));
	memset(&res, 0, sizeof(res));
	if (main_spool_dir(r) == -1)
		return -1;
	pol.ignore_dots = r->opt.ignore_dots;
	pol.read_recipients = r->opt.read_recipients;
	pol.envelope_from = r->opt.from;
	pol.fullname = r->opt.fullname;
	pol.account_from = r->acct.from;
	pol.default_domain = r->acct.default_domain;
	pol.aliases_file = r->acct.aliases;
	pol.from_header = r->acct.set_from_header;
	pol.hostname = r->hostname;
	pol.local_user = main_local_user();
	pol.strict_line_length = r->acct.strict_line_length;
	pol.sender_from_header = r->acct.sender_from_header;
	pol.spool_dir = r->spool_dir;
	pol.argv_rcpts = r->opt.rcpts;
	pol.n_argv_rcpts = r->opt.nrcpts;
	if (msg_intake(STDIN_FILENO, &pol, &env, &r->err) == -1) {
		if (env.spool_path != NULL)
			snprintf(r->context, sizeof(r->context), "the message was kept in %s",
			    env.spool_path);
		goto out;
	}
	if (env.long_lines > 0)
		diag_stage(&r->diag, STAGE_INTAKE,
		    "warning: %zu line(s) longer than 998 octets (RFC 5322 limit)", env.long_lines);
	diag_stage(&r->diag, STAGE_INTAKE, "from <%s>, %zu recipient(s), %llu bytes%s%s", env.from,
	    env.nrcpts, env.wire_size, env.body_8bit ? ", 8-bit" : "",
	    env.needs_smtputf8 ? ", SMTPUTF8" : "");
	if ((fd = open(env.spool_path, O_RDONLY | O_CLOEXEC)) == -1) {
		sx_fail(&r->err, SX_LOCALIO, STAGE_BODY, "%s: %s", env.spool_path, strerror(errno));
		goto kept;
	}
	msg.from = env.from;
	msg.rcpts = env.rcpts;
	msg.nrcpts = env.nrcpts;
	msg.body_8bit = env.body_8bit;
	msg.needs_smtputf8 = env.needs_smtputf8;
	msg.size = env.wire_size;
	msg.body_fd = fd;
	t0 = conn_now_ms();
	rc = main_session(r, &msg, &res);
	close(fd);
	main_log(r, &env, &res, conn_now_ms() - t0, rc == 0 ? NULL : env.spool_path);
	if (rc == 0) {
		struct sx_err ignored;

		sx_clear(&ignored);
		spool_remove(env.spool_path, &ignored, STAGE_QUEUE);
		goto out;
	}
kept:
	snprintf(r->context, sizeof(r->context), "the message was kept in %s", env.spool_path);
out:
	smtp_result_free(&res);
	msg_envelope_free(&env);
	return rc;
}

int
main(int argc, char *argv[])
{
	static struct run r;
	struct conf_request req;
	int rc = -1;

	signal(SIGPIPE, SIG_IGN);
	sx_clear(&r.err);
	diag_init(&r.diag, stderr, 0, 0);
	if (cli_parse(argc, argv, &r.opt, &r.err) == -1) {
		fprintf(stderr, "smtps-send: %s\n", r.err.detail);
		if (r.err.hint[0] != '\0')
			fprintf(stderr, "smtps-send: %s\n", r.err.hint);
		return sx_exitcode(&r.err);
	}
	switch (r.opt.mode) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("smtps-send %s\n", PACKAGE_VERSION);
		return 0;
	default:
		break;
	}
	diag_init(&r.diag, stderr, r.opt.verbose, r.opt.diag_json);
	memset(&req, 0, sizeof(req));
	req.config_file = r.opt.config_file;
	req.account = r.opt.account;
	req.envelope_from = r.opt.from;
	req.host = r.opt.host;
	req.port = r.opt.port;
	req.tls = r.opt.tls;
	req.user = r.opt.user;
	req.tls_trust_file = r.opt.tls_trust_file;
	main_hostname(r.hostname, sizeof(r.hostname));
	if (conf_load(&req, &r.acct, &r.err) == -1) {
		/* A message on stdin is still unread: say it was not taken. */
		if (r.opt.mode == CLI_SEND)
			strlcpy(r.context, "nothing was read from standard input; nothing was sent",
			    sizeof(r.context));
		goto report;
	}
	switch (r.opt.mode) {
	case CLI_DUMP_CONFIG:
		rc = conf_dump(stdout, &r.acct) == 0 ? 0 : -1;
		if (rc == -1)
			sx_fail(&r.err, SX_LOCALIO, STAGE_CONFIG, "writing: %s", strerror(errno));
		break;
	case CLI_CHECK:
		rc = main_check(&r);
		break;
	case CLI_SEND:
		rc = main_send(&r);
		break;
	default:
		sx_fail(&r.err, SX_USAGE, STAGE_ARGS, "this mode is not implemented yet");
		break;
	}
report:
	if (rc == -1)
		diag_report_failure(&r.diag, &r.err, r.context);
	conf_account_free(&r.acct);
	return rc == 0 ? 0 : sx_exitcode(&r.err);
}
