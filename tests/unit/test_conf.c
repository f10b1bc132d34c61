/* test_conf.c — config grammar, accounts, environment, secrets (src/config/conf*.c, secret.c). */
#include "config.h"

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/conf.h"

extern char **environ;

static char tmpdir[256];
static char cfg[300];     /* tmpdir/config: the file most tests write */
static char sysfile[300]; /* tmpdir/system.conf: the system file of every request */
static struct sx_err err;

/* Remove every SMTPS_SEND_* variable so the caller's environment cannot leak in. */
static void
clear_env(void)
{
	char name[128];
	int again = 1;

	while (again) {
		char **ep;

		again = 0;
		for (ep = environ; *ep != NULL; ep++) {
			if (strncmp(*ep, "SMTPS_SEND_", 11) == 0) {
				size_t n = strcspn(*ep, "=");

				snprintf(name, sizeof(name), "%.*s", (int)n, *ep);
				unsetenv(name);
				again = 1;
				break;
			}
		}
	}
}

static int
setup(void **state)
{
	(void)state;
	strlcpy(tmpdir, "/tmp/test_conf.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/config", tmpdir);
	snprintf(sysfile, sizeof(sysfile), "%s/system.conf", tmpdir);
	clear_env();
	setenv("HOME", tmpdir, 1);
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[400];

	(void)state;
	clear_env();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, mode_t mode, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Load with -C cfg (when use_cfg) and the given overrides. */
static int
load(struct account *a, const struct conf_request *extra, int use_cfg)
{
	struct conf_request r;

	memset(&r, 0, sizeof(r));
	if (extra != NULL)
		r = *extra;
	if (use_cfg && r.config_file == NULL)
		r.config_file = cfg;
	r.system_file = sysfile;
	sx_clear(&err);
	return conf_load(&r, a, &err);
}

static void
assert_config_error(int rc, const char *what)
{
	assert_int_equal(rc, -1);
	assert_int_equal(err.cls, SX_CONFIG);
	assert_int_equal(err.stage, STAGE_CONFIG);
	assert_int_equal(sx_exitcode(&err), EX_CONFIG);
	if (strstr(err.detail, what) == NULL)
		fail_msg("detail \"%s\" does not mention \"%s\"", err.detail, what);
}

static void
assert_origin(const struct account *a, const char *key, const char *want)
{
	char buf[512];

	assert_non_null(conf_origin(a, key, buf, sizeof(buf)));
	if (strstr(buf, want) == NULL)
		fail_msg("origin of %s is \"%s\", wanted \"%s\"", key, buf, want);
}

static void
test_env_only_container(void **state)
{
	struct account a;
	char secret_path[300], *pw = NULL;

	(void)state;
	snprintf(secret_path, sizeof(secret_path), "%s/smtp_password", tmpdir);
	write_file(secret_path, 0444, "s3cret\n");
	setenv("SMTPS_SEND_HOST", "smtp.example.com", 1);
	setenv("SMTPS_SEND_USER", "me@example.com", 1);
	setenv("SMTPS_SEND_PASSWORD_FILE", secret_path, 1);
	setenv("SMTPS_SEND_FROM", "me@example.com", 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.host, "smtp.example.com");
	assert_int_equal(a.port, 587);
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_int_equal(a.tls_certcheck, 1);
	assert_int_equal(a.timeout, 60);
	assert_string_equal(a.from, "me@example.com");
	assert_origin(&a, "host", "env SMTPS_SEND_HOST");
	assert_origin(&a, "password_file", "env SMTPS_SEND_PASSWORD_FILE");
	assert_origin(&a, "port", "default");
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "s3cret");
	conf_secret_free(pw);
	conf_account_free(&a);

	/* SMTPS_SEND_PASSWORD directly, port 465 means implicit TLS */
	setenv("SMTPS_SEND_PORT", "465", 1);
	unsetenv("SMTPS_SEND_PASSWORD_FILE");
	setenv("SMTPS_SEND_PASSWORD", "envpw", 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "envpw");
	conf_secret_free(pw);
	conf_account_free(&a);
}

static void
test_no_host(void **state)
{
	struct account a;

	(void)state;
	assert_config_error(load(&a, NULL, 0), "no host");
	assert_non_null(strstr(err.hint, "SMTPS_SEND_HOST"));
}

static void
test_single_relay_file(void **state)
{
	struct account a;

	(void)state;
	write_file(cfg, 0644,
	    "# the common case\n"
	    "host smtp.example.com\n"
	    "port 465\n"
	    "user me\n"
	    "password_file /run/secrets/pw\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.name, "default");
	assert_int_equal(a.port, 465);
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	assert_string_equal(a.user, "me");
	assert_string_equal(a.password_file, "/run/secrets/pw");
	assert_origin(&a, "port", "config:3");
	assert_origin(&a, "user", "config:4");
	conf_account_free(&a);
}

static void
test_inheritance(void **state)
{
	struct account a;
	struct conf_request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	write_file(cfg, 0600,
	    "defaults\n"
	    "tls starttls\n"
	    "timeout 30\n"
	    "from me@example.com\n"
	    "\n"
	    "account base\n"
	    "host smtp.base.example\n"
	    "user base-user\n"
	    "\n"
	    "account child : base\n"
	    "user child-user\n"
	    "\n"
	    "account other\n"
	    "host other.example\n"
	    "port 2525\n"
	    "\n"
	    "account mixed : base, other\n"
	    "\n"
	    "account default : child\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.host, "smtp.base.example");
	assert_string_equal(a.user, "child-user");
	assert_int_equal(a.timeout, 30);
	assert_string_equal(a.from, "me@example.com");
	assert_origin(&a, "user", "config:11");
	assert_origin(&a, "host", "config:7");
	assert_origin(&a, "timeout", "config:3");
	conf_account_free(&a);

	r.account = "base";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.user, "base-user");
	assert_int_equal(a.port, 587);
	conf_account_free(&a);

	r.account = "other";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_null(a.user);
	assert_int_equal(a.port, 2525);
	assert_int_equal(a.timeout, 30);
	conf_account_free(&a);

	/* later parents override earlier ones */
	r.account = "mixed";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.host, "other.example");
	assert_int_equal(a.port, 2525);
	conf_account_free(&a);

	r.account = "nope";
	assert_config_error(load(&a, &r, 1), "no account nope");
}

/*
 * Which account, when the choice fails: -a with an unknown name lists the
 * known ones; no -a and no default account says which the file defines and
 * how to pick one (the file's defaults alone name no server).
 */
static void
test_account_choice_hints(void **state)
{
	struct account a;
	struct conf_request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	write_file(cfg, 0600,
	    "defaults\n"
	    "tls starttls\n"
	    "account gmail\n"
	    "host smtp.gmail.com\n"
	    "account work\n"
	    "host mail.work.example\n");
	r.account = "gmial";
	assert_config_error(load(&a, &r, 1), "no account gmial");
	assert_non_null(strstr(err.hint, "the accounts are: gmail, work (pick one with -a NAME)"));
	setenv("SMTPS_SEND_ACCOUNT", "nope", 1);
	assert_config_error(load(&a, NULL, 1), "env SMTPS_SEND_ACCOUNT: no account nope");
	assert_non_null(strstr(err.hint, "gmail, work"));
	unsetenv("SMTPS_SEND_ACCOUNT");

	assert_config_error(load(&a, NULL, 1), "no account chosen: ");
	assert_non_null(strstr(err.detail, " defines gmail, work but no account default"));
	assert_non_null(strstr(err.hint, "pick one with -a NAME, or add 'account default : NAME'"));
	/* The way out the hint names. */
	write_file(cfg, 0600,
	    "account gmail\n"
	    "host smtp.gmail.com\n"
	    "account work\n"
	    "host mail.work.example\n"
	    "account default : work\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.host, "mail.work.example");
	conf_account_free(&a);
	/* Defaults that name a server still serve without an account chosen. */
	write_file(cfg, 0600, "host relay.example\naccount work\nhost mail.work.example\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.host, "relay.example");
	conf_account_free(&a);
}

/* from defaults to user when user is an address, and only then. */
static void
test_from_defaults_to_user(void **state)
{
	struct account a;

	(void)state;
	write_file(cfg, 0600, "host h\nuser app@example.com\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.from, "app@example.com");
	conf_account_free(&a);
	write_file(cfg, 0600, "host h\nuser app@example.com\nfrom other@example.com\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.from, "other@example.com");
	conf_account_free(&a);
	write_file(cfg, 0600, "host h\nuser alice\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_null(a.from);
	conf_account_free(&a);
	/* The From header is to give the sender: the user does not take its place. */
	write_file(cfg, 0600, "host h\nuser app@example.com\nsender_from_header on\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_null(a.from);
	conf_account_free(&a);
}

/* --dump-config: the queue directory in effect, durations as written. */
static void
test_dump_effective(void **state)
{
	struct account a;
	char *text = NULL, want[512];
	size_t len = 0;
	FILE *fp;

	(void)state;
	write_file(cfg, 0600, "host h\ntimeout 2m\nqueue_max_age 5d\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	fp = open_memstream(&text, &len);
	assert_non_null(fp);
	assert_int_equal(conf_dump(fp, &a), 0);
	fclose(fp);
	/* root's is fixed, everyone else's is under HOME (fs_state_dir). */
	if (getuid() == 0)
		strlcpy(want, "\nqueue_dir            /var/spool/smtps-send ", sizeof(want));
	else
		snprintf(want, sizeof(want),
		    "\nqueue_dir            %s/.local/state/smtps-send/queue ", tmpdir);
	if (strstr(text, want) == NULL)
		fail_msg("no '%s' in:\n%s", want, text);
	assert_non_null(strstr(text, "# default (the rule for this user)\n"));
	assert_non_null(strstr(text, "\ntimeout              2m "));
	assert_non_null(strstr(text, "\nqueue_max_age        5d "));
	/* Defaults in their largest whole unit. */
	assert_non_null(strstr(text, "\nqueue_keep_failed    3d "));
	free(text);
	conf_account_free(&a);
}

static void
test_defaults_before_sections(void **state)
{
	struct account a;
	struct conf_request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* keys before the first section act as defaults; no "default": the defaults */
	write_file(cfg, 0600,
	    "host relay.example\n"
	    "account work\n"
	    "user w\n");
	r.account = "work";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.host, "relay.example");
	assert_string_equal(a.user, "w");
	conf_account_free(&a);
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.host, "relay.example");
	assert_null(a.user);
	conf_account_free(&a);
}

static void
test_grammar_errors(void **state)
{
	struct account a;
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"host x\n\nhots y\n", "config:3: hots: unknown key"},
	    {"host x\nremove_bcc_headers on\n",
		"config:2: remove_bcc_headers: msmtp key not supported"},
	    {"host x\nport 0\n", "config:2: port: a port number"},
	    {"host x\nport 70000\n", "config:2: port"},
	    {"host x\nport smtp\n", "config:2: port"},
	    {"host x\ntls maybe\n", "config:2: tls: starttls, implicit"},
	    {"host x\nauth digest-md5\n", "config:2: auth: on, off, or a mechanism: scram-sha-256"},
	    {"host x\ntls_starttls perhaps\n", "config:2: tls_starttls: on or off"},
	    {"host x\ntimeout off\n", "config:2: timeout"},
	    {"host x\ntimeout 2h\n", "config:2: timeout"},
	    {"host x\nqueue_max_age soon\n", "config:2: queue_max_age"},
	    {"host x\nsyslog LOG_KERN\n", "config:2: syslog"},
	    {"host x\nset_from_header always\n", "config:2: set_from_header"},
	    {"host x\ntls_fingerprint 12:34\n", "config:2: tls_fingerprint"},
	    {"host x\ntls_fingerprint 0102030405060708090A0B0C0D0E0F1011121314\n",
		"config:2: tls_fingerprint: a SHA-256 fingerprint, not SHA-1 (64 hex digits): "
		"without this line 'smtps-send --check' prints the server's"},
	    {"host x\ntls_fingerprint 0102030405060708090A0B0C0D0E0F10\n",
		"config:2: tls_fingerprint: a SHA-256 fingerprint, not MD5"},
	    {"host x\nfrom a b@c\n", "config:2: from"},
	    {"host x\nfrom <a@b>\n", "config:2: from"},
	    {"host x\ndomain bad domain\n", "config:2: domain"},
	    {"host x\ndomain a\001b\n", "config:2: domain: control characters"},
	    {"host x\nuser \"a\\\"b\n", "config:2: user: unterminated quote"},
	    {"host a b\n", "config:1: host"},
	    {"account a\naccount a\n", "config:2: account a is defined twice"},
	    {"account a : zz\n", "config:1: account a: account zz is not defined above"},
	    {"account\n", "config:1: account: needs one name"},
	    {"account a b\n", "config:1: account: needs one name"},
	    {"defaults now\n", "config:1: defaults: takes no value"},
	    {"host x\npassword_file /a\npasswordeval echo b\n",
		"config:3: passwordeval: only one of password"},
	    {"host x\ntls off\nuser u\n", "tls is off"},
	    {"host x\nauth plain\n", "auth is on but no user"},
	    {"host x\nauth xoauth2\n", "auth is on but no user"},
	    {"host x\nuser u\nauth oauthbearer\n", "auth oauthbearer needs an OAuth2 token"},
	    {"host x\nuser u\noauth2_provider google\n", "needs oauth2_client_id"},
	    {"host x\nuser u\noauth2_provider custom\noauth2_client_id c\n",
		"needs oauth2_token_url"},
	    {"host x\noauth2_token_url http://evil.example/t\n", "config:2: oauth2_token_url"},
	    {"host x\noauth2_provider yahoo\n", "config:2: oauth2_provider"},
	    {"host x\noauth2_client_secret s\noauth2_client_secret_eval echo s\n",
		"config:3: oauth2_client_secret_eval: only one of oauth2_client_secret"},
	    {"host x\nauth Scram-SHA-256\n", "auth is on but no user"},
	    {"host x\nauth external\n", "auth external needs tls_cert_file"},
	    {"host x\ntls_cert_file /c.pem\n", "tls_cert_file and tls_key_file"},
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		write_file(cfg, 0600, cases[k].text);
		if (load(&a, NULL, 1) != -1)
			fail_msg("case %zu accepted: %s", k, cases[k].text);
		if (strstr(err.detail, cases[k].want) == NULL)
			fail_msg("case %zu: detail \"%s\" does not mention \"%s\"", k, err.detail,
			    cases[k].want);
		assert_int_equal(err.cls, SX_CONFIG);
		assert_int_equal(sx_exitcode(&err), EX_CONFIG);
	}
}

/*
 * Issue 18: the files are read to their end and every error is named, each
 * with its file, line and fix, the first also in the error; a bad account
 * line does not make the keys after it errors too, but their own errors
 * are still found; the list is bounded; a file that cannot be read is
 * listed as a whole (line 0); both files' errors are listed.
 */
static void
test_errors_all_at_once(void **state)
{
	struct conf_errors *ce = calloc(1, sizeof(*ce));
	struct conf_request r;
	struct account a;
	char xdg[300], userdir[400], userfile[500];
	char *many;
	size_t k;

	(void)state;
	assert_non_null(ce);
	memset(&r, 0, sizeof(r));
	r.errors = ce;
	write_file(cfg, 0600,
	    "hots x\n"             /* 1: unknown, a typo of host */
	    "port 99999\n"         /* 2 */
	    "account a\n"          /* 3 */
	    "tls maybe\n"          /* 4 */
	    "account a\n"          /* 5: twice */
	    "user fine\n"          /* 6: goes nowhere, no error */
	    "from a b\n"           /* 7: still checked */
	    "account b : nosuch\n" /* 8 */
	    "frobnicate yes\n"     /* 9: unknown, no near key */
	    "defaults now\n"       /* 10 */
	    "host ok.example\n");  /* 11 */
	assert_config_error(load(&a, &r, 1), "config:1: hots: unknown key");
	assert_string_equal(err.hint, "did you mean host?");
	assert_int_equal(ce->n, 8);
	assert_int_equal(ce->total, 8);
	{
		static const unsigned lines[] = {1, 2, 4, 5, 7, 8, 9, 10};
		static const char *const what[] = {"config:1: hots: unknown key",
		    "config:2: port: a port number", "config:4: tls: starttls, implicit",
		    "config:5: account a is defined twice", "config:7: from: an address",
		    "config:8: account b: account nosuch is not defined above",
		    "config:9: frobnicate: unknown key", "config:10: defaults: takes no value"};

		for (k = 0; k < ce->n; k++) {
			assert_string_equal(ce->err[k].file, cfg);
			assert_int_equal(ce->err[k].line, lines[k]);
			if (strstr(ce->err[k].detail, what[k]) == NULL)
				fail_msg("error %zu: \"%s\", wanted \"%s\"", k, ce->err[k].detail,
				    what[k]);
		}
	}
	assert_string_equal(ce->err[0].hint, "did you mean host?");
	assert_string_equal(ce->err[3].hint, "rename one of them, or merge their lines");
	assert_non_null(strstr(ce->err[5].hint, "defined before it"));
	assert_string_equal(ce->err[6].hint, "smtps-send.conf(5) lists the keys");

	/* More than CONF_ERRORS_MAX: the first ones listed, all counted. */
	memset(ce, 0, sizeof(*ce));
	many = malloc(30 * 16 + 32);
	assert_non_null(many);
	strlcpy(many, "host x\n", 30 * 16 + 32);
	for (k = 0; k < 30; k++)
		strlcat(many, "port 0\n", 30 * 16 + 32);
	write_file(cfg, 0600, many);
	free(many);
	assert_config_error(load(&a, &r, 1), "config:2: port");
	assert_int_equal(ce->n, CONF_ERRORS_MAX);
	assert_int_equal(ce->total, 30);
	assert_int_equal(ce->err[CONF_ERRORS_MAX - 1].line, CONF_ERRORS_MAX + 1);

	/* A file that cannot be read: listed as a whole. */
	memset(ce, 0, sizeof(*ce));
	r.config_file = "/nonexistent/smtps-send.conf";
	assert_config_error(load(&a, &r, 0), "/nonexistent/smtps-send.conf");
	assert_int_equal(ce->n, 1);
	assert_int_equal(ce->err[0].line, 0);
	assert_string_equal(ce->err[0].file, "/nonexistent/smtps-send.conf");
	r.config_file = NULL;

	/* The system file's and the user file's errors, in the order read. */
	memset(ce, 0, sizeof(*ce));
	write_file(sysfile, 0644, "host sys.example\ntimeout never\n");
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
	snprintf(userdir, sizeof(userdir), "%s/smtps-send", xdg);
	snprintf(userfile, sizeof(userfile), "%s/config", userdir);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(userdir, 0700), 0);
	write_file(userfile, 0600, "host user.example\ntls_starttls maybe\n");
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_config_error(load(&a, &r, 0), "system.conf:2: timeout");
	assert_int_equal(ce->n, 2);
	assert_string_equal(ce->err[0].file, sysfile);
	assert_string_equal(ce->err[1].file, userfile);
	assert_int_equal(ce->err[1].line, 2);
	unsetenv("XDG_CONFIG_HOME");
	unlink(sysfile);

	/* Without a list: the first error, as before. */
	write_file(cfg, 0600, "port 0\nhots y\n");
	assert_config_error(load(&a, NULL, 1), "config:1: port");
	free(ce);
}

static void
test_long_line_and_nul(void **state)
{
	struct account a;
	char *big = malloc(CONF_LINE_MAX + 64);
	FILE *fp;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', CONF_LINE_MAX + 10);
	memcpy(big, "host ", 5);
	big[CONF_LINE_MAX + 10] = '\n';
	big[CONF_LINE_MAX + 11] = '\0';
	write_file(cfg, 0600, big);
	free(big);
	assert_config_error(load(&a, NULL, 1), "config:1: line longer than");

	fp = fopen(cfg, "w");
	assert_non_null(fp);
	fwrite("host x\0y\n", 1, 9, fp);
	fclose(fp);
	assert_config_error(load(&a, NULL, 1), "NUL");
}

static void
test_values(void **state)
{
	struct account a;

	(void)state;
	write_file(cfg, 0600,
	    "host smtp.example.com\r\n"
	    "  user   \"John \\\"JD\\\" Doe\"  \r\n"
	    "timeout 1m30s\n"
	    "queue_max_age 2d\n"
	    "syslog LOG_LOCAL3\n"
	    "set_from_header on\n"
	    "tls_trust_file system\n"
	    "tls_fingerprint "
	    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:"
	    "23:"
	    "45:67:89\n"
	    "tls_certcheck off\n"
	    "allow_partial\n"
	    "allow_8bit yes\n"
	    "strict_line_length on\n"
	    "queue_on_tempfail on\n"
	    "flush_on_send on\n"
	    "queue_dir /var/tmp/q\n"
	    "logfile ~/.smtps-send.log\n"
	    "aliases /etc/aliases\n"
	    "default_domain example.com\n"
	    "domain [192.0.2.1]\n"
	    "auth_cleartext off\n"
	    "password_cmd pass show mail\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.user, "John \"JD\" Doe");
	assert_int_equal(a.timeout, 90);
	assert_int_equal(a.queue_max_age, 2 * 86400);
	assert_int_equal(a.syslog, 1);
	assert_int_equal(a.syslog_facility, LOG_LOCAL3);
	assert_int_equal(a.set_from_header, FROM_HEADER_REWRITE);
	assert_null(a.tls_trust_file);
	assert_non_null(a.tls_fingerprint);
	assert_int_equal(a.tls_certcheck, 0);
	assert_int_equal(a.allow_partial, 1);
	assert_int_equal(a.allow_8bit, 1);
	assert_int_equal(a.strict_line_length, 1);
	assert_int_equal(a.queue_on_tempfail, 1);
	assert_int_equal(a.flush_on_send, 1);
	assert_string_equal(a.queue_dir, "/var/tmp/q");
	{
		char want[400];

		/* ~/ is the home directory, as in msmtp */
		snprintf(want, sizeof(want), "%s/.smtps-send.log", tmpdir);
		assert_string_equal(a.logfile, want);
	}
	assert_string_equal(a.aliases, "/etc/aliases");
	assert_string_equal(a.default_domain, "example.com");
	assert_string_equal(a.domain, "[192.0.2.1]");
	assert_string_equal(a.passwordeval, "pass show mail");
	assert_origin(&a, "password_cmd", "config:21");
	conf_account_free(&a);

	/* defaults of everything */
	write_file(cfg, 0600, "host h\nqueue_max_age off\nset_from_header off\nsyslog\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_int_equal(a.queue_max_age, 0);
	assert_int_equal(a.set_from_header, FROM_HEADER_OFF);
	assert_int_equal(a.syslog, 1);
	assert_int_equal(a.syslog_facility, LOG_MAIL);
	assert_int_equal(a.auth, AUTH_MODE_DEFAULT);
	assert_int_equal(a.allow_partial, 0);
	assert_null(a.from);
	conf_account_free(&a);
}

static void
test_tls_modes(void **state)
{
	struct account a;
	static const struct {
		const char *text;
		enum tls_mode tls;
		unsigned port;
	} cases[] = {
	    {"host h\n", TLS_MODE_STARTTLS, 587},
	    {"host h\nport 465\n", TLS_MODE_IMPLICIT, 465},
	    {"host h\nport 25\n", TLS_MODE_STARTTLS, 25},
	    {"host h\ntls on\n", TLS_MODE_STARTTLS, 587},
	    {"host h\ntls\n", TLS_MODE_STARTTLS, 587},
	    {"host h\ntls on\ntls_starttls off\n", TLS_MODE_IMPLICIT, 465},
	    {"host h\ntls_starttls off\ntls on\n", TLS_MODE_IMPLICIT, 465},
	    {"host h\ntls implicit\n", TLS_MODE_IMPLICIT, 465},
	    {"host h\ntls implicit\nport 4650\n", TLS_MODE_IMPLICIT, 4650},
	    {"host h\ntls opportunistic\n", TLS_MODE_OPPORTUNISTIC, 587},
	    {"host h\ntls off\n", TLS_MODE_OFF, 587},
	    {"host h\ntls off\nuser u\nauth_cleartext on\n", TLS_MODE_OFF, 587},
	    {"host h\ntls off\nuser u\nauth off\n", TLS_MODE_OFF, 587},
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		write_file(cfg, 0600, cases[k].text);
		if (load(&a, NULL, 1) != 0)
			fail_msg("case %zu refused: %s", k, err.detail);
		assert_int_equal(a.tls, cases[k].tls);
		assert_int_equal(a.port, cases[k].port);
		conf_account_free(&a);
	}
}

/*
 * STARTTLS on port 465 never works (the server waits for a ClientHello,
 * we for a greeting): refused before connecting, the hint naming tls
 * implicit; msmtp's "tls on" alone means STARTTLS, its port 465 habit.
 */
static void
test_starttls_on_465(void **state)
{
	static const char *const refused[] = {
	    "host h\ntls on\nport 465\n",
	    "host h\ntls\nport 465\n",
	    "host h\ntls starttls\nport 465\n",
	    "host h\ntls on\ntls_starttls on\nport 465\n",
	    "host h\ntls opportunistic\nport 465\n",
	};
	struct conf_request r;
	struct account a;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
		write_file(cfg, 0600, refused[k]);
		assert_config_error(load(&a, NULL, 1), "on port 465, which expects implicit TLS");
		assert_non_null(strstr(err.hint, "set tls implicit"));
	}
	write_file(cfg, 0600, "host h\ntls on\nport 465\n");
	assert_config_error(load(&a, NULL, 1), "tls on (STARTTLS, as msmtp reads it)");
	/* The same mistake made on the command line. */
	write_file(cfg, 0600, "host h\ntls starttls\n");
	memset(&r, 0, sizeof(r));
	r.port = "465";
	assert_config_error(load(&a, &r, 1), "STARTTLS on port 465");
	/* What works: implicit TLS (or msmtp's spelling of it), or STARTTLS elsewhere. */
	write_file(cfg, 0600, "host h\ntls on\ntls_starttls off\nport 465\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	conf_account_free(&a);
}

static void
test_password_permissions(void **state)
{
	struct account a;
	char *pw = NULL;

	(void)state;
	write_file(cfg, 0644, "host h\nuser u\npassword hunter2\n");
	assert_config_error(load(&a, NULL, 1), "config:3: password");
	assert_non_null(strstr(err.detail, cfg));
	assert_non_null(strstr(err.hint, "chmod 600"));
	assert_null(strstr(err.detail, "hunter2"));

	write_file(cfg, 0640, "host h\nuser u\npassword hunter2\n");
	assert_config_error(load(&a, NULL, 1), "group or others");
	write_file(cfg, 0602, "host h\nuser u\npassword hunter2\n");
	assert_config_error(load(&a, NULL, 1), "group or others");

	write_file(cfg, 0600, "host h\nuser u\npassword \"hunter 2\"\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "hunter 2");
	conf_secret_free(pw);
	conf_account_free(&a);
}

static void
test_env_and_argv_precedence(void **state)
{
	struct account a;
	struct conf_request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	write_file(cfg, 0600, "host file.example\nport 2525\nuser fileuser\ntls starttls\n");
	setenv("SMTPS_SEND_HOST", "env.example", 1);
	setenv("SMTPS_SEND_USER", "envuser", 1);
	setenv("SMTPS_SEND_TLS", "implicit", 1);
	setenv("SMTPS_SEND_TIMEOUT", "", 1); /* empty: unset */
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.host, "env.example");
	assert_string_equal(a.user, "envuser");
	assert_int_equal(a.port, 2525);
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	assert_origin(&a, "host", "env SMTPS_SEND_HOST");
	assert_origin(&a, "port", "config:2");
	conf_account_free(&a);

	r.host = "argv.example";
	r.port = "587";
	r.tls = "starttls";
	r.user = "argvuser";
	r.tls_trust_file = "/etc/ssl/ca.pem";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.host, "argv.example");
	assert_string_equal(a.user, "argvuser");
	assert_int_equal(a.port, 587);
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_string_equal(a.tls_trust_file, "/etc/ssl/ca.pem");
	assert_origin(&a, "host", "argv --host");
	assert_origin(&a, "tls_trust_file", "argv --tls-trust-file");
	conf_account_free(&a);

	r.port = "0";
	assert_config_error(load(&a, &r, 1), "argv --port");

	setenv("SMTPS_SEND_PORT", "x", 1);
	assert_config_error(load(&a, NULL, 1), "environment SMTPS_SEND_PORT");
	setenv("SMTPS_SEND_PORT", "25", 1);
	setenv("SMTPS_SEND_FROM", "a@b\r\nRCPT TO:<evil@x>", 1);
	assert_config_error(load(&a, NULL, 1), "SMTPS_SEND_FROM");
	unsetenv("SMTPS_SEND_FROM");
	setenv("SMTPS_SEND_FROBNICATE", "1", 1); /* not a key: ignored */
	assert_int_equal(load(&a, NULL, 1), 0);
	conf_account_free(&a);
}

static void
test_secret_layers(void **state)
{
	struct account a;
	char pwfile[300], *pw = NULL;

	(void)state;
	snprintf(pwfile, sizeof(pwfile), "%s/pw", tmpdir);
	write_file(pwfile, 0600, "from-file\n");
	/* an account's own source replaces the one inherited from defaults */
	write_file(cfg, 0600,
	    "defaults\npasswordeval echo nope\naccount default\nhost h\n"
	    "user u\npassword inline\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_null(a.passwordeval);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "inline");
	conf_secret_free(pw);
	conf_account_free(&a);
	/* the environment's source replaces the file's */
	setenv("SMTPS_SEND_PASSWORD_FILE", pwfile, 1);
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_null(a.password);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "from-file");
	conf_secret_free(pw);
	conf_account_free(&a);
	/* two in the environment: an error */
	setenv("SMTPS_SEND_PASSWORD", "x", 1);
	assert_config_error(load(&a, NULL, 1), "only one of");
	unsetenv("SMTPS_SEND_PASSWORD");
	setenv("SMTPS_SEND_PASSWORD_CMD", "echo a", 1);
	setenv("SMTPS_SEND_PASSWORDEVAL", "echo b", 1);
	unsetenv("SMTPS_SEND_PASSWORD_FILE");
	assert_config_error(load(&a, NULL, 1), "two names");
}

static void
test_account_by_from(void **state)
{
	struct account a;
	struct conf_request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	write_file(cfg, 0600,
	    "defaults\n"
	    "tls starttls\n"
	    "account work\n"
	    "host smtp.work.example\n"
	    "from *@work.example\n"
	    "account home\n"
	    "host smtp.home.example\n"
	    "from me@home.example\n"
	    "account lists\n"
	    "host smtp.lists.example\n"
	    "from list-?@lists.example\n"
	    "account default : home\n"
	    "from someone@else.example\n");
	r.envelope_from = "Boss@WORK.Example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "work");
	conf_account_free(&a);
	r.envelope_from = "me+newsletters@home.example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "home");
	conf_account_free(&a);
	r.envelope_from = "list-a@lists.example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "lists");
	conf_account_free(&a);
	r.envelope_from = "list-ab@lists.example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.host, "smtp.home.example");
	conf_account_free(&a);
	/* -a wins over the sender */
	r.envelope_from = "boss@work.example";
	r.account = "lists";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "lists");
	conf_account_free(&a);
	/* so does SMTPS_SEND_ACCOUNT; -a wins over it */
	r.account = NULL;
	setenv("SMTPS_SEND_ACCOUNT", "home", 1);
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "home");
	conf_account_free(&a);
	r.account = "work";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.name, "work");
	conf_account_free(&a);
	setenv("SMTPS_SEND_ACCOUNT", "missing", 1);
	r.account = NULL;
	assert_config_error(load(&a, &r, 1), "env SMTPS_SEND_ACCOUNT: no account missing");
}

static void
test_file_choice(void **state)
{
	struct account a;
	struct conf_request r;
	char xdg[300], userdir[400], userfile[500], envfile[300];

	(void)state;
	memset(&r, 0, sizeof(r));
	/* a missing --config is an error */
	r.config_file = "/nonexistent/smtps-send.conf";
	assert_config_error(load(&a, &r, 0), "/nonexistent/smtps-send.conf");
	/* so is a missing $SMTPS_SEND_CONFIG */
	setenv("SMTPS_SEND_CONFIG", "/nonexistent/env.conf", 1);
	assert_config_error(load(&a, NULL, 0), "/nonexistent/env.conf");
	/* $SMTPS_SEND_CONFIG is read; --config wins over it */
	snprintf(envfile, sizeof(envfile), "%s/env.conf", tmpdir);
	write_file(envfile, 0600, "host env-file.example\n");
	setenv("SMTPS_SEND_CONFIG", envfile, 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.host, "env-file.example");
	conf_account_free(&a);
	write_file(cfg, 0600, "host cfg.example\n");
	assert_int_equal(load(&a, NULL, 1), 0);
	assert_string_equal(a.host, "cfg.example");
	conf_account_free(&a);
	unsetenv("SMTPS_SEND_CONFIG");

	/* system file alone */
	write_file(sysfile, 0644,
	    "host sys.example\naccount shared\nhost shared.sys\n"
	    "account default\nhost sys.example\n");
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.host, "sys.example");
	assert_origin(&a, "host", "system.conf:5");
	conf_account_free(&a);

	/* user file in $XDG_CONFIG_HOME overrides same-named accounts */
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
	snprintf(userdir, sizeof(userdir), "%s/smtps-send", xdg);
	snprintf(userfile, sizeof(userfile), "%s/config", userdir);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(userdir, 0700), 0);
	write_file(userfile, 0600, "account default\nhost user.example\n");
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.host, "user.example");
	conf_account_free(&a);
	r.config_file = NULL;
	r.account = "shared";
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "shared.sys");
	conf_account_free(&a);
	unsetenv("XDG_CONFIG_HOME");

	/* ~/.config/smtps-send/config when XDG_CONFIG_HOME is unset */
	snprintf(xdg, sizeof(xdg), "%s/.config", tmpdir);
	snprintf(userdir, sizeof(userdir), "%s/smtps-send", xdg);
	snprintf(userfile, sizeof(userfile), "%s/config", userdir);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(userdir, 0700), 0);
	write_file(userfile, 0600, "host home-config.example\n");
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.host, "home-config.example");
	conf_account_free(&a);

	/* a directory is not a config file */
	r.account = NULL;
	r.config_file = tmpdir;
	assert_config_error(load(&a, &r, 0), "not a regular file");
}

/*
 * Issue 16: the system file is DEFAULT_CONFIG, else /etc/smtps-send.conf
 * (msmtp's and Postfix's place) whatever the prefix; one of them, never
 * both.  The two paths come from the request here.
 */
static void
test_system_fallback(void **state)
{
	struct conf_request r;
	struct account a;
	char etc[300], *text = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	memset(&r, 0, sizeof(r));
	snprintf(etc, sizeof(etc), "%s/etc.conf", tmpdir);
	write_file(etc, 0644, "host etc.example\naccount etconly\nhost only.etc\n");
	r.system_fallback = etc;
	/* the build's file is missing: /etc's is read */
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "etc.example");
	assert_origin(&a, "host", "etc.conf:1");
	conf_account_free(&a);
	/* the build's file exists: it alone is read */
	write_file(sysfile, 0644, "host sys.example\n");
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "sys.example");
	conf_account_free(&a);
	r.account = "etconly";
	assert_config_error(load(&a, &r, 0), "no account etconly");
	/* the same path twice is read once */
	r.account = NULL;
	r.system_fallback = sysfile;
	assert_int_equal(load(&a, &r, 0), 0);
	fp = open_memstream(&text, &len);
	assert_non_null(fp);
	assert_int_equal(conf_dump(fp, &a), 0);
	fclose(fp);
	assert_non_null(strstr(text, "# config file: "));
	assert_null(strstr(strstr(text, "# config file: ") + 1, "# config file: "));
	free(text);
	conf_account_free(&a);
}

/* -bp, mailq and newaliases send nothing: no host is not an error for them. */
static void
test_relay_optional(void **state)
{
	struct conf_request r;
	struct account a;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.relay_optional = 1;
	assert_int_equal(load(&a, &r, 0), 0);
	assert_null(a.host);
	assert_int_equal(a.port, 587);
	conf_account_free(&a);
	write_file(cfg, 0600, "aliases /etc/aliases\nqueue_dir /var/tmp/q\n");
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.aliases, "/etc/aliases");
	assert_string_equal(a.queue_dir, "/var/tmp/q");
	conf_account_free(&a);
	/* the other checks still hold */
	write_file(cfg, 0600, "auth plain\n");
	assert_config_error(load(&a, &r, 1), "no user");
	/* and without the flag a host is required, as before */
	assert_config_error(load(&a, NULL, 0), "no host");
}

/* Make tmpdir/sub (mode) holding a config file name with text; path in out. */
static void
make_conf_in(
    const char *sub, mode_t mode, const char *name, const char *text, char *out, size_t outsz)
{
	char dir[400];

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, sub);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, mode), 0);
	snprintf(out, outsz, "%s/%s", dir, name);
	write_file(out, 0600, text);
}

/*
 * Issue 21: a web application's caller can add "-C FILE" to sendmail's
 * argv.  A caller other than root may only name a file in its own config
 * directory or in an allowed_config_dirs directory of the system file
 * that it cannot write to; anything else is refused before it is read.
 */
static void
test_config_dir_policy(void **state)
{
	struct conf_request r;
	struct account a;
	uid_t root = 0, user = getuid() == 4242 ? 4243 : 4242;
	char allowed[500], mine[500], link[500], dots[500], text[700];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.caller_uid = &user;
	/* "unknown key" would mean the file was read; it must not be */
	write_file(cfg, 0600, "hots uploaded.example\npasswordeval touch /tmp/pwned\n");
	r.config_file = cfg;
	assert_config_error(load(&a, &r, 0), "refused");
	assert_non_null(strstr(err.detail, cfg));
	assert_null(strstr(err.detail, "unknown key"));
	assert_non_null(strstr(err.hint, "SMTPS_SEND_CONFIG"));
	assert_non_null(strstr(err.hint, "allowed_config_dirs"));
	/* root may name any file */
	r.caller_uid = &root;
	assert_config_error(load(&a, &r, 0), "config:1: hots: unknown key");
	r.caller_uid = &user;
	/* SMTPS_SEND_CONFIG is not the caller's argv: not restricted */
	write_file(cfg, 0600, "host env-named.example\n");
	r.config_file = NULL;
	setenv("SMTPS_SEND_CONFIG", cfg, 1);
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "env-named.example");
	conf_account_free(&a);
	unsetenv("SMTPS_SEND_CONFIG");

	/* a file in the caller's own config directory: fine */
	assert_int_equal(mkdir(strcat(strcpy(mine, tmpdir), "/.config"), 0700), 0);
	make_conf_in(
	    ".config/smtps-send", 0700, "work.conf", "host work.example\n", mine, sizeof(mine));
	r.config_file = mine;
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "work.example");
	conf_account_free(&a);

	/* a directory the system file allows */
	make_conf_in("allowed", 0755, "site.conf", "host site.example\n", allowed, sizeof(allowed));
	r.config_file = allowed;
	assert_config_error(load(&a, &r, 0), "refused");
	snprintf(
	    text, sizeof(text), "allowed_config_dirs /nonexistent, %s/allowed/\nhost s\n", tmpdir);
	write_file(sysfile, 0644, text);
	assert_int_equal(load(&a, &r, 0), 0);
	assert_string_equal(a.host, "site.example");
	assert_origin(&a, "host", "allowed/site.conf:1"); /* only that file was read */
	conf_account_free(&a);
	/* ... not through a link or ".." out of it */
	snprintf(link, sizeof(link), "%s/allowed/link.conf", tmpdir);
	assert_int_equal(symlink(cfg, link), 0);
	r.config_file = link;
	assert_config_error(load(&a, &r, 0), "refused");
	snprintf(dots, sizeof(dots), "%s/allowed/../config", tmpdir);
	r.config_file = dots;
	assert_config_error(load(&a, &r, 0), "refused");
	/* ... not in a subdirectory of it */
	snprintf(text, sizeof(text), "%s/allowed/sub", tmpdir);
	assert_int_equal(mkdir(text, 0755), 0);
	strlcat(text, "/x.conf", sizeof(text));
	write_file(text, 0600, "host sub.example\n");
	r.config_file = text;
	assert_config_error(load(&a, &r, 0), "refused");
	/* ... and not when the caller could put files there itself */
	r.config_file = allowed;
	snprintf(text, sizeof(text), "%s/allowed", tmpdir);
	assert_int_equal(chmod(text, 0775), 0);
	assert_config_error(load(&a, &r, 0), "writable by group or others");
	assert_int_equal(chmod(text, 0757), 0);
	assert_config_error(load(&a, &r, 0), "writable by group or others");
	assert_int_equal(chmod(text, 0755), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(text, user, (gid_t)-1), 0);
		assert_config_error(load(&a, &r, 0), "belongs to this user");
		assert_int_equal(chown(text, 0, (gid_t)-1), 0);
	}
	assert_int_equal(load(&a, &r, 0), 0);
	conf_account_free(&a);
	/* a missing file is still named as such */
	snprintf(text, sizeof(text), "%s/allowed/missing.conf", tmpdir);
	r.config_file = text;
	assert_config_error(load(&a, &r, 0), "No such file");
}

/* allowed_config_dirs: the system file's alone; absolute names; bounded. */
static void
test_allowed_dirs_grammar(void **state)
{
	struct conf_request r;
	struct account a;
	char text[2000];
	size_t k;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* only the system file may say it: not a -C file, not the user file */
	write_file(cfg, 0600, "allowed_config_dirs /etc/smtps-send.d\nhost x\n");
	assert_config_error(load(&a, NULL, 1), "config:1: allowed_config_dirs: only the system");
	setenv("XDG_CONFIG_HOME", tmpdir, 1);
	assert_int_equal(mkdir(strcat(strcpy(text, tmpdir), "/smtps-send"), 0700), 0);
	strlcat(text, "/config", sizeof(text));
	write_file(text, 0600, "allowed_config_dirs /tmp\nhost x\n");
	assert_config_error(load(&a, NULL, 0), "allowed_config_dirs: only the system");
	unlink(text);
	/* in the system file it is no account key: it changes no account */
	write_file(sysfile, 0644,
	    "allowed_config_dirs \"/etc/smtps-send.d /srv/a,/srv/b\"\nhost x\n"
	    "account other\nallowed_config_dirs\nhost y\n");
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_string_equal(a.host, "x");
	conf_account_free(&a);
	/* relative names, control characters, too many */
	write_file(sysfile, 0644, "allowed_config_dirs etc/smtps-send.d\n");
	assert_config_error(load(&a, NULL, 0), "system.conf:1: allowed_config_dirs: absolute");
	write_file(sysfile, 0644, "allowed_config_dirs /a /b\001\n");
	assert_config_error(load(&a, NULL, 0), "allowed_config_dirs: absolute");
	strlcpy(text, "allowed_config_dirs", sizeof(text));
	for (k = 0; k <= CONF_ALLOWED_MAX; k++)
		strlcat(text, " /d", sizeof(text));
	strlcat(text, "\n", sizeof(text));
	write_file(sysfile, 0644, text);
	assert_config_error(load(&a, NULL, 0), "more than 16 directories");
	write_file(sysfile, 0644, "allowed_config_dirs \"/a\n");
	assert_config_error(load(&a, NULL, 0), "unterminated quote");
	/* the environment cannot set it */
	write_file(sysfile, 0644, "host x\n");
	setenv("SMTPS_SEND_ALLOWED_CONFIG_DIRS", tmpdir, 1);
	r.caller_uid = &(uid_t){4242};
	r.config_file = cfg;
	write_file(cfg, 0600, "host x\n");
	assert_config_error(load(&a, &r, 0), "refused");
}

static void
test_password_file(void **state)
{
	struct account a;
	char pwfile[300], *pw = NULL;
	static const struct {
		const char *text;
		const char *want;
	} ok[] = {
	    {"s3cret\n", "s3cret"},
	    {"s3cret\r\n", "s3cret"},
	    {"s3cret", "s3cret"},
	    {"first\nsecond\n", "first"},
	    {" spaces kept \n", " spaces kept "},
	};
	size_t k;

	(void)state;
	snprintf(pwfile, sizeof(pwfile), "%s/pw", tmpdir);
	memset(&a, 0, sizeof(a));
	a.password_file = pwfile;
	for (k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		write_file(pwfile, 0600, ok[k].text);
		sx_clear(&err);
		assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
		assert_string_equal(pw, ok[k].want);
		conf_secret_free(pw);
	}
	write_file(pwfile, 0600, "\n");
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "empty");
	assert_null(pw);
	unlink(pwfile);
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), pwfile);

	/* no source at all: no secret, no error */
	memset(&a, 0, sizeof(a));
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_null(pw);
}

static void
test_password_cmd(void **state)
{
	struct account a;
	char *pw = NULL;
	char cmd[400];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.passwordeval = (char *)(uintptr_t) "echo hunter2";
	sx_clear(&err);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "hunter2");
	conf_secret_free(pw);

	/* a shell is used when the command needs one */
	a.passwordeval = (char *)(uintptr_t) "printf 'a b\\r\\nline2\\n' | cat";
	sx_clear(&err);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "a b");
	conf_secret_free(pw);

	/* without a shell, metacharacter-free words are passed as they are */
	snprintf(cmd, sizeof(cmd), "%s/pwcmd", tmpdir);
	write_file(cmd, 0700, "#!/bin/sh\necho \"$#:$1\"\n");
	{
		char full[500];

		snprintf(full, sizeof(full), "%s one", cmd);
		a.passwordeval = full;
		sx_clear(&err);
		assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
		assert_string_equal(pw, "1:one");
		conf_secret_free(pw);
	}

	/* stdin is not the caller's (the message): it reads nothing */
	a.passwordeval = (char *)(uintptr_t) "sh -c 'cat; echo x'";
	sx_clear(&err);
	assert_int_equal(conf_read_secret(&a, &pw, &err), 0);
	assert_string_equal(pw, "x");
	conf_secret_free(pw);

	/* failures: exit status, missing command, empty, too long; never the output */
	a.passwordeval = (char *)(uintptr_t) "echo topsecret; exit 3";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "exited with status 3");
	assert_null(strstr(err.detail, "topsecret"));
	assert_null(pw);
	a.passwordeval = (char *)(uintptr_t) "false";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "status 1");
	a.passwordeval = (char *)(uintptr_t) "/nonexistent/smtps-pw-helper";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "not found");
	a.passwordeval = (char *)(uintptr_t) "true";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "empty");
	a.passwordeval = (char *)(uintptr_t) "yes";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "longer than");
	a.passwordeval = (char *)(uintptr_t) "kill -9 $$";
	sx_clear(&err);
	assert_config_error(conf_read_secret(&a, &pw, &err), "signal 9");

	/* A command that never answers (a passphrase prompt under cron) is
	 * killed after the account's timeout: temporary, so the mail waits. */
	{
		struct timespec t0, t1;

		a.passwordeval = (char *)(uintptr_t) "sleep 30";
		a.timeout = 1;
		sx_clear(&err);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(conf_read_secret(&a, &pw, &err), -1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_int_equal(err.cls, SX_TEMP);
		assert_non_null(strstr(err.detail, "no password within 1 s"));
		assert_non_null(strstr(err.hint, "cron"));
		assert_null(pw);
		assert_true(t1.tv_sec - t0.tv_sec < 5);
		a.timeout = 0;
	}
}

static void
test_dump(void **state)
{
	struct account a;
	struct conf_request r;
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	memset(&r, 0, sizeof(r));
	write_file(cfg, 0600, "host smtp.example.com\npassword hunter2\nuser u\n");
	setenv("SMTPS_SEND_FROM", "me@example.com", 1);
	r.user = "argv-user";
	assert_int_equal(load(&a, &r, 1), 0);
	fp = open_memstream(&text, &len);
	assert_non_null(fp);
	assert_int_equal(conf_dump(fp, &a), 0);
	fclose(fp);
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "********"));
	assert_non_null(strstr(text, "config:1"));
	assert_non_null(strstr(text, "env SMTPS_SEND_FROM"));
	assert_non_null(strstr(text, "argv --user"));
	assert_non_null(strstr(text, "# default"));
	assert_non_null(strstr(text, cfg));
	free(text);
	conf_account_free(&a);
	assert_null(a.host);
	assert_string_equal(conf_tls_name(TLS_MODE_OPPORTUNISTIC), "opportunistic");
}

/*
 * A config file's password never follows the connection to a server that
 * argv chose (a web application's argv may carry --host=evil.example).
 */
static void
test_argv_redirect_drops_file_secret(void **state)
{
	struct account a;
	struct conf_request r;
	static const char *const files[] = {
	    "host smtp.example.com\npassword hunter2\nuser u\n",
	    "host smtp.example.com\npasswordeval echo hunter2\nuser u\n",
	    "host smtp.example.com\npassword_file /nonexistent\nuser u\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		write_file(cfg, 0600, files[i]);
		memset(&r, 0, sizeof(r));
		r.host = "evil.example";
		assert_config_error(load(&a, &r, 1), "is not used");
		assert_non_null(strstr(err.detail, "--host"));
		memset(&r, 0, sizeof(r));
		r.port = "2525";
		assert_config_error(load(&a, &r, 1), "--port points the account");
	}
	/* --user alone redirects nothing. */
	write_file(cfg, 0600, files[0]);
	memset(&r, 0, sizeof(r));
	r.user = "v";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.password, "hunter2");
	conf_account_free(&a);
	/*
	 * Nor does the environment's password follow: a container's variables
	 * are set by its operator, the argv by the application (and its attacker).
	 */
	setenv("SMTPS_SEND_PASSWORD", "from-env", 1);
	memset(&r, 0, sizeof(r));
	r.host = "other.example";
	assert_config_error(load(&a, &r, 1), "--host points the account");
	unsetenv("SMTPS_SEND_PASSWORD");
	/* No user: nothing would be sent, so nothing to refuse. */
	write_file(cfg, 0600, "host smtp.example.com\npassword hunter2\n");
	memset(&r, 0, sizeof(r));
	r.host = "other.example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_null(a.password);
	conf_account_free(&a);
}

/*
 * msmtp's options on argv: each sets its key; a command to run
 * (--passwordeval) or a file to write (--logfile) only from root's argv;
 * --tls-starttls and --tls-certcheck point the account elsewhere as
 * --host does, so a config file's password is not used with them.
 */
static void
test_argv_msmtp_options(void **state)
{
	struct account a;
	struct conf_request r;
	uid_t root = 0, user = 1000;

	(void)state;
	write_file(
	    cfg, 0600, "host smtp.example.com\nuser u\npassword hunter2\nfrom a@example.com\n");
	memset(&r, 0, sizeof(r));
	r.timeout = "2m";
	r.auth = "login";
	r.domain = "client.example";
	assert_int_equal(load(&a, &r, 1), 0);
	assert_int_equal(a.timeout, 120);
	assert_int_equal(a.auth, AUTH_MODE_LOGIN);
	assert_string_equal(a.domain, "client.example");
	assert_string_equal(a.password, "hunter2");
	assert_origin(&a, "timeout", "argv --timeout");
	conf_account_free(&a);
	memset(&r, 0, sizeof(r));
	r.timeout = "off";
	assert_config_error(load(&a, &r, 1), "argv --timeout: ");

	/* The same rule as --host: the file's password stays home. */
	memset(&r, 0, sizeof(r));
	r.tls_certcheck = "off";
	assert_config_error(load(&a, &r, 1), "--tls-certcheck points the account");
	memset(&r, 0, sizeof(r));
	r.tls_starttls = "off";
	assert_config_error(load(&a, &r, 1), "--tls-starttls points the account");

	/*
	 * --passwordeval, --logfile: root's argv only, refused before anything
	 * is read (the file comes from the environment here: -C has its rule).
	 */
	setenv("SMTPS_SEND_CONFIG", cfg, 1);
	memset(&r, 0, sizeof(r));
	r.passwordeval = "touch /tmp/pwned";
	r.caller_uid = &user;
	assert_config_error(load(&a, &r, 0), "argv --passwordeval: refused: only root");
	assert_non_null(strstr(err.hint, "SMTPS_SEND_PASSWORDEVAL"));
	memset(&r, 0, sizeof(r));
	r.logfile = "/var/www/html/x.php";
	r.caller_uid = &user;
	assert_config_error(load(&a, &r, 0), "argv --logfile: refused: only root");
	memset(&r, 0, sizeof(r));
	r.timeout = "30";
	r.caller_uid = &user;
	assert_int_equal(load(&a, &r, 0), 0);
	conf_account_free(&a);
	unsetenv("SMTPS_SEND_CONFIG");
	memset(&r, 0, sizeof(r));
	r.passwordeval = "echo from-argv";
	r.logfile = "/tmp/l";
	r.caller_uid = &root;
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.passwordeval, "echo from-argv");
	assert_null(a.password); /* one secret source: argv's */
	assert_string_equal(a.logfile, "/tmp/l");
	conf_account_free(&a);
	/* Even root's --passwordeval does not keep a file password with --host. */
	memset(&r, 0, sizeof(r));
	r.host = "elsewhere.example";
	r.passwordeval = "echo from-argv";
	r.caller_uid = &root;
	assert_int_equal(load(&a, &r, 1), 0);
	assert_string_equal(a.passwordeval, "echo from-argv");
	assert_null(a.password);
	conf_account_free(&a);

	/* --read-envelope-from: the From header gives the sender, over from. */
	memset(&r, 0, sizeof(r));
	r.read_envelope_from = 1;
	assert_int_equal(load(&a, &r, 1), 0);
	assert_int_equal(a.sender_from_header, 1);
	assert_null(a.from);
	conf_account_free(&a);
}

/* conf_record's pairs, collected (at most 64). */
struct rec_pairs {
	char *kv[128];
	size_t n;
};

static void
rec_put(void *arg, const char *key, const char *value)
{
	struct rec_pairs *p = arg;

	assert_true(p->n < 64);
	p->kv[2 * p->n] = strdup(key);
	p->kv[2 * p->n + 1] = strdup(value);
	assert_non_null(p->kv[2 * p->n + 1]);
	p->n++;
}

/*
 * Secrets the environment gave (SMTPS_SEND_PASSWORD, SMTPS_SEND_OAUTH2_TOKEN)
 * are named in the record by their variable, and an account read back from
 * the record records them the same way (fuzz_conf_env found the token's
 * variable lost on the second round).
 */
static void
test_record_env_secrets(void **state)
{
	struct rec_pairs p1 = {{NULL}, 0}, p2 = {{NULL}, 0};
	struct account a, b;
	size_t i;

	(void)state;
	setenv("SMTPS_SEND_HOST", "relay.example.org", 1);
	setenv("SMTPS_SEND_USER", "me", 1);
	setenv("SMTPS_SEND_PASSWORD", "pw-secret", 1);
	setenv("SMTPS_SEND_OAUTH2_TOKEN", "tok-secret", 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	conf_record(&a, rec_put, &p1);
	sx_clear(&err);
	if (conf_from_record(&b, p1.kv, p1.n, &err) == -1)
		fail_msg("the record is refused: %s", err.detail);
	assert_string_equal(b.password, "pw-secret");
	assert_string_equal(b.oauth2_token, "tok-secret");
	conf_record(&b, rec_put, &p2);
	assert_int_equal(p1.n, p2.n);
	for (i = 0; i < 2 * p1.n; i++) {
		assert_string_equal(p1.kv[i], p2.kv[i]);
		assert_null(strstr(p1.kv[i], "secret")); /* never the value itself */
	}
	conf_account_free(&b);
	conf_account_free(&a);
	for (i = 0; i < 2 * p1.n; i++)
		free(p1.kv[i]);
	for (i = 0; i < 2 * p2.n; i++)
		free(p2.kv[i]);
	unsetenv("SMTPS_SEND_USER");
	unsetenv("SMTPS_SEND_PASSWORD");
	unsetenv("SMTPS_SEND_OAUTH2_TOKEN");
}

/*
 * The relay recorded with a queued message rebuilds the account, also one
 * with no user (a relay that takes mail without AUTH): the record writes
 * the default "auth on", which must not read as a demand for a user.
 */
static void
test_record_round_trip(void **state)
{
	struct rec_pairs p = {{NULL}, 0};
	struct account a, b;
	size_t i;

	(void)state;
	setenv("SMTPS_SEND_HOST", "relay.example.org", 1);
	setenv("SMTPS_SEND_PORT", "25", 1);
	setenv("SMTPS_SEND_TLS", "starttls", 1);
	setenv("SMTPS_SEND_QUEUE_MAX_AGE", "120m", 1); /* --dump-config shows it so */
	setenv("SMTPS_SEND_QUEUE_KEEP_FAILED", "0d", 1);
	setenv("SMTPS_SEND_RATE", "30", 1);
	setenv("SMTPS_SEND_MAX_MESSAGES_PER_SESSION", "0", 1);
	assert_int_equal(load(&a, NULL, 0), 0);
	assert_null(a.user);
	conf_record(&a, rec_put, &p);
	/* The record is canonical: one value, one text, however it was written. */
	for (i = 0; i < p.n; i++) {
		if (strcmp(p.kv[2 * i], "queue_max_age") == 0)
			assert_string_equal(p.kv[2 * i + 1], "2h");
		if (strcmp(p.kv[2 * i], "queue_keep_failed") == 0)
			assert_string_equal(p.kv[2 * i + 1], "off");
	}
	sx_clear(&err);
	if (conf_from_record(&b, p.kv, p.n, &err) == -1)
		fail_msg("the record is refused: %s", err.detail);
	assert_string_equal(b.host, "relay.example.org");
	assert_int_equal(b.port, 25);
	assert_int_equal(b.tls, TLS_MODE_STARTTLS);
	assert_int_equal(b.auth, a.auth);
	assert_null(b.user);
	assert_int_equal(b.queue_max_age, 7200);
	assert_int_equal(b.queue_keep_failed, 0);
	/* The provider's limits go with the message (an env -i runner honours them). */
	assert_int_equal(b.rate, 30);
	assert_int_equal(b.max_messages_per_session, 0);
	conf_account_free(&b);
	conf_account_free(&a);
	for (i = 0; i < 2 * p.n; i++)
		free(p.kv[i]);
	unsetenv("SMTPS_SEND_QUEUE_MAX_AGE");
	unsetenv("SMTPS_SEND_QUEUE_KEEP_FAILED");
	unsetenv("SMTPS_SEND_RATE");
	unsetenv("SMTPS_SEND_MAX_MESSAGES_PER_SESSION");

	/* A mechanism named (plain) still needs a user, in a record as in a file. */
	{
		char *kv[] = {(char *)(uintptr_t) "host", (char *)(uintptr_t) "h.example",
		    (char *)(uintptr_t) "auth", (char *)(uintptr_t) "plain"};

		sx_clear(&err);
		assert_config_error(conf_from_record(&b, kv, 2, &err), "no user");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_env_only_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_relay_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inheritance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults_before_sections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grammar_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors_all_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_line_and_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_on_465, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_password_permissions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_and_argv_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secret_layers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_by_from, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_choice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_system_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_optional, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_dir_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allowed_dirs_grammar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_password_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_password_cmd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_argv_redirect_drops_file_secret, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_choice_hints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_defaults_to_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_effective, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_argv_msmtp_options, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_env_secrets, setup, teardown),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
