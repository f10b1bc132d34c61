/*
 * test_msmtprc.c — --import-msmtprc's translation (src/config/msmtprc.c):
 * five realistic msmtprc files (Gmail with passwordeval gpg, Office 365 on
 * 587, a private CA with a pin, defaults and several accounts, msmtp-only
 * keys) are imported, and the result is loaded by conf_load: each account
 * must mean what it meant to msmtp.  Also msmtp's defaults made explicit,
 * OAuth2 tokens from passwordeval, quoting, and the files msmtp refuses.
 */
#include "config.h"

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/conf.h"
#include "config/msmtprc.h"

extern char **environ;

static char tmpdir[256];
static char outpath[300];
static char notes[8192]; /* every note, one per line: "LINE KEY: MSG" */
static unsigned nnotes;
static struct msmtprc_result res;
static struct sx_err err;

static void
clear_env(void)
{
	char name[128];
	char **ep;

again:
	for (ep = environ; *ep != NULL; ep++)
		if (strncmp(*ep, "SMTPS_SEND_", 11) == 0) {
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(*ep, "="), *ep);
			unsetenv(name);
			goto again;
		}
}

static int
setup(void **state)
{
	(void)state;
	strlcpy(tmpdir, "/tmp/test_msmtprc.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(outpath, sizeof(outpath), "%s/config", tmpdir);
	clear_env();
	setenv("HOME", tmpdir, 1);
	unsetenv("XDG_CONFIG_HOME");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(outpath);
	return rmdir(tmpdir);
}

static void
note(void *arg, unsigned line, const char *key, const char *msg)
{
	char one[800];

	(void)arg;
	snprintf(one, sizeof(one), "%u %s: %s\n", line, key, msg);
	strlcat(notes, one, sizeof(notes));
	nnotes++;
}

/* Import text into outpath (mode 0600); the output's text, to free. */
static char *
import(const char *text)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	notes[0] = '\0';
	nnotes = 0;
	sx_clear(&err);
	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	rc = msmtprc_import(text, strlen(text), "rc", fp, note, NULL, &res, &err);
	fclose(fp);
	if (rc != 0)
		fail_msg("import failed: %s", err.detail);
	assert_int_equal(res.notes, nnotes);
	fp = fopen(outpath, "w");
	assert_non_null(fp);
	fputs(buf, fp);
	fclose(fp);
	assert_int_equal(chmod(outpath, 0600), 0);
	return buf;
}

/* Account name of the imported file, as conf_load makes it. */
static void
load(struct account *a, const char *name)
{
	static const uid_t root = 0;
	struct conf_request r;

	memset(&r, 0, sizeof(r));
	r.config_file = outpath;
	r.account = name;
	r.system_file = "/nonexistent/system.conf";
	r.caller_uid = &root;
	sx_clear(&err);
	if (conf_load(&r, a, &err) != 0)
		fail_msg("account %s does not load: %s (%s)", name, err.detail, err.hint);
}

static void
has_note(unsigned line, const char *key, const char *what)
{
	char head[80];
	const char *p;

	snprintf(head, sizeof(head), "%u %s: ", line, key);
	for (p = notes; (p = strstr(p, head)) != NULL; p++)
		if ((p == notes || p[-1] == '\n') && strstr(p, what) != NULL &&
		    strstr(p, what) < strchr(p, '\n'))
			return;
	fail_msg("no note \"%s%s\" in:\n%s", head, what, notes);
}

static void
test_gmail_passwordeval(void **state)
{
	struct account a;
	char want[400];
	char *out;

	(void)state;
	out = import("# msmtp for Gmail\n"
		     "defaults\n"
		     "auth           on\n"
		     "tls            on\n"
		     "tls_trust_file /etc/ssl/certs/ca-certificates.crt\n"
		     "logfile        ~/.msmtp.log\n"
		     "\n"
		     "account        gmail\n"
		     "host           smtp.gmail.com\n"
		     "port           587\n"
		     "from           me@gmail.com\n"
		     "user           me@gmail.com\n"
		     "passwordeval   \"gpg --no-tty -q -d ~/.msmtp-gmail.gpg\"\n"
		     "\n"
		     "account default : gmail\n");
	assert_int_equal(nnotes, 0);
	assert_int_equal(res.accounts, 2);
	assert_false(res.has_password);
	assert_non_null(strstr(out, "# msmtp for Gmail\n"));
	free(out);
	load(&a, "default");
	assert_string_equal(a.host, "smtp.gmail.com");
	assert_int_equal(a.port, 587);
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_int_equal(a.auth, AUTH_MODE_DEFAULT);
	assert_string_equal(a.user, "me@gmail.com");
	assert_string_equal(a.from, "me@gmail.com");
	assert_string_equal(a.passwordeval, "gpg --no-tty -q -d ~/.msmtp-gmail.gpg");
	assert_string_equal(a.tls_trust_file, "/etc/ssl/certs/ca-certificates.crt");
	snprintf(want, sizeof(want), "%s/.msmtp.log", tmpdir);
	assert_string_equal(a.logfile, want);
	assert_int_equal(a.tls_certcheck, 1);
	assert_null(a.tls_fingerprint);
	conf_account_free(&a);
}

static void
test_office365(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("account office365\n"
		     "host smtp.office365.com\n"
		     "port 587\n"
		     "tls on\n"
		     "tls_starttls on\n"
		     "auth login\n"
		     "user jdoe@contoso.com\n"
		     "password \" S3cr3t pw\"\n"
		     "from jdoe@contoso.com\n"
		     "timeout 30\n"
		     "syslog on\n"
		     "account default : office365\n");
	assert_int_equal(nnotes, 0);
	assert_true(res.has_password);
	free(out);
	load(&a, NULL);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.host, "smtp.office365.com");
	assert_int_equal(a.port, 587);
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_int_equal(a.auth, AUTH_MODE_LOGIN);
	assert_string_equal(a.password, " S3cr3t pw"); /* quotes kept its blanks */
	assert_int_equal(a.timeout, 30);
	assert_int_equal(a.syslog, 1);
	assert_int_equal(a.syslog_facility, LOG_USER); /* msmtp's facility for on */
	conf_account_free(&a);
}

static void
test_private_ca_pin(void **state)
{
	static const char pin[] = "3E:1B:5F:9C:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
				  "00:11:22:33:44:55:66:77:88:99:AA:BB";
	struct account a;
	char text[1024], want[300];
	char *out;

	(void)state;
	snprintf(text, sizeof(text),
	    "defaults\n"
	    "tls on\n"
	    "tls_starttls off\n"
	    "tls_trust_file ~/certs/company-ca.pem\n"
	    "tls_fingerprint %s\n"
	    "account internal\n"
	    "host mail.corp.example\n"
	    "auth plain\n"
	    "user svc-mailer\n"
	    "passwordeval cat /run/secrets/smtp\n"
	    "from noreply@corp.example\n"
	    "account old : internal\n"
	    "tls_fingerprint 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78\n",
	    pin);
	out = import(text);
	assert_int_equal(nnotes, 1);
	has_note(13, "tls_fingerprint", "a SHA-1 fingerprint is not accepted, only SHA-256");
	has_note(13, "tls_fingerprint", "openssl x509 -noout -fingerprint -sha256");
	free(out);
	/* Implicit TLS on msmtp's port for it; the pin alone decides, as in msmtp. */
	load(&a, "internal");
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	assert_int_equal(a.port, 465);
	assert_string_equal(a.tls_fingerprint, pin);
	assert_int_equal(a.tls_certcheck, 0);
	snprintf(want, sizeof(want), "%s/certs/company-ca.pem", tmpdir);
	assert_string_equal(a.tls_trust_file, want);
	assert_int_equal(a.auth, AUTH_MODE_PLAIN);
	conf_account_free(&a);
	/* The SHA-1 pin is refused: no pin then, and the chain is checked. */
	load(&a, "old");
	assert_null(a.tls_fingerprint);
	assert_int_equal(a.tls_certcheck, 1);
	assert_string_equal(a.host, "mail.corp.example");
	conf_account_free(&a);
}

static void
test_defaults_several_accounts(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("defaults\n"
		     "tls on\n"
		     "port 587\n"
		     "auth on\n"
		     "\n"
		     "# home\n"
		     "account home\n"
		     "host smtp.home.example\n"
		     "user me\n"
		     "passwordeval pass show mail/home\n"
		     "from me@home.example\n"
		     "\n"
		     "# the second address at home\n"
		     "account home2 : home\n"
		     "from other@home.example\n"
		     "\n"
		     "# work, implicit TLS\n"
		     "account work\n"
		     "host mail.work.example\n"
		     "tls_starttls off\n"
		     "port 465\n"
		     "user w123\n"
		     "password pw\n"
		     "from *@work.example\n"
		     "\n"
		     "# the local relay: no TLS, no AUTH\n"
		     "account relay\n"
		     "host relay.lan\n"
		     "tls off\n"
		     "auth off\n"
		     "port 25\n"
		     "\n"
		     "account default : home\n");
	assert_int_equal(nnotes, 0);
	assert_int_equal(res.accounts, 5);
	/* The comment that introduces an account stays before it. */
	assert_non_null(strstr(out, "# work, implicit TLS\naccount work\n"));
	free(out);
	load(&a, "home2");
	assert_string_equal(a.host, "smtp.home.example");
	assert_string_equal(a.from, "other@home.example");
	assert_string_equal(a.passwordeval, "pass show mail/home");
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_int_equal(a.port, 587);
	conf_account_free(&a);
	load(&a, "work");
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT);
	assert_int_equal(a.port, 465);
	assert_string_equal(a.password, "pw");
	assert_string_equal(a.from, "*@work.example");
	conf_account_free(&a);
	load(&a, "relay");
	assert_int_equal(a.tls, TLS_MODE_OFF);
	assert_int_equal(a.auth, AUTH_MODE_OFF);
	assert_int_equal(a.port, 25);
	conf_account_free(&a);
	load(&a, NULL);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.host, "smtp.home.example");
	conf_account_free(&a);
}

static void
test_msmtp_only_keys(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("account legacy\n"
		     "host mail.example.org\n"
		     "tls on\n"
		     "tls_nocertcheck\n"
		     "tls_nostarttls\n"
		     "from \"%U@%H\"\n"
		     "auto_from on\n"
		     "maildomain example.org\n"
		     "protocol smtp\n"
		     "dsn_notify failure,delay\n"
		     "dsn_return headers\n"
		     "set_date_header auto\n"
		     "remove_bcc_headers off\n"
		     "proxy_host 127.0.0.1\n"
		     "proxy_port 9050\n"
		     "tls_crl_file /etc/crl.pem\n"
		     "logfile_time_format %F %T\n"
		     "eval echo user joe\n"
		     "undisclosed_recipients on\n"
		     "timeout off\n"
		     "connect_timeout 7200\n"
		     "auth digest-md5\n"
		     "user joe\n"
		     "passwordeval echo pw\n"
		     "add_missing_from_header off\n"
		     "tls_min_dh_prime_bits 512\n"
		     "ntlmdomain W\n"
		     "socket /run/smtp.sock\n"
		     "source_ip 10.0.0.1\n"
		     "tls_host_override other.example\n"
		     "logfile -\n"
		     "frobnicate yes\n");
	free(out);
	has_note(6, "from", "substitutions");
	has_note(7, "auto_from", "write the address in from");
	has_note(8, "maildomain", "default_domain");
	has_note(10, "dsn_notify", "-N");
	has_note(11, "dsn_return", "-R");
	has_note(13, "remove_bcc_headers", "always removed");
	has_note(14, "proxy_host", "SOCKS");
	has_note(15, "proxy_port", "SOCKS");
	has_note(16, "tls_crl_file", "CRL");
	has_note(17, "logfile_time_format", "fixed");
	has_note(18, "eval", "not run at import");
	has_note(19, "undisclosed_recipients", "never rewritten");
	has_note(20, "timeout", "deadline");
	has_note(21, "timeout", "3600");
	has_note(22, "auth", "digest-md5 is not supported");
	has_note(26, "tls_min_dh_prime_bits", "tls_priorities");
	has_note(27, "ntlmdomain", "NTLM");
	has_note(28, "socket", "unix domain socket");
	has_note(29, "source_ip", "source address");
	has_note(30, "tls_host_override", "tls_fingerprint");
	has_note(31, "logfile", "standard output");
	has_note(32, "frobnicate", "not an msmtp key");
	/* What the same value means here is a comment, not a note. */
	assert_null(strstr(notes, "protocol"));
	assert_null(strstr(notes, "set_date_header"));
	assert_int_equal(nnotes, 22);
	load(&a, "legacy");
	assert_int_equal(a.tls, TLS_MODE_IMPLICIT); /* tls on + tls_nostarttls */
	assert_int_equal(a.port, 465);
	assert_int_equal(a.tls_certcheck, 0);
	assert_int_equal(a.timeout, 3600);
	assert_int_equal(a.auth, AUTH_MODE_DEFAULT);
	assert_int_equal(a.set_from_header, FROM_HEADER_OFF);
	assert_null(a.from);
	assert_null(a.logfile);
	conf_account_free(&a);
}

/*
 * msmtp's defaults, stated where smtps-send's differ: no TLS, port 25, no
 * AUTH without auth on; lines before any section are the account
 * "default"; AUTH without TLS is left for the user to allow.
 */
static void
test_defaults_made_explicit(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("host mx.example\n"
		     "user u\n"
		     "password p\n"
		     "account starttls\n"
		     "host mx.example\n"
		     "tls on\n"
		     "account cleartext\n"
		     "host mx.example\n"
		     "auth on\n"
		     "user u\n"
		     "passwordeval echo p\n");
	has_note(0, "tls", "account default: msmtp's default is no TLS");
	has_note(0, "auth", "account cleartext: msmtp authenticated without TLS");
	assert_non_null(strstr(out, "\n# auth_cleartext on\n"));
	free(out);
	load(&a, "default");
	assert_int_equal(a.tls, TLS_MODE_OFF);
	assert_int_equal(a.port, 25);
	assert_int_equal(a.auth, AUTH_MODE_OFF); /* a user, but no auth on: msmtp sends without */
	conf_account_free(&a);
	load(&a, "starttls");
	assert_int_equal(a.tls, TLS_MODE_STARTTLS);
	assert_int_equal(a.port, 25);
	conf_account_free(&a);
}

/* msmtp's OAuth2 recipe: auth oauthbearer with passwordeval printing the token. */
static void
test_oauth2_passwordeval(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("defaults\n"
		     "tls on\n"
		     "port 587\n"
		     "passwordeval oauth2-token get\n"
		     "account own\n"
		     "host smtp.gmail.com\n"
		     "auth oauthbearer\n"
		     "user me@gmail.com\n"
		     "passwordeval \"oama access me@gmail.com\"\n"
		     "account inherited\n"
		     "host smtp.gmail.com\n"
		     "auth xoauth2\n"
		     "user me@gmail.com\n");
	assert_int_equal(nnotes, 0);
	assert_non_null(strstr(out, "\noauth2_token_command oama access me@gmail.com\n"));
	assert_null(strstr(out, "\npasswordeval \"oama"));
	free(out);
	load(&a, "own");
	assert_int_equal(a.auth, AUTH_MODE_OAUTHBEARER);
	assert_string_equal(a.oauth2_token_command, "oama access me@gmail.com");
	conf_account_free(&a);
	load(&a, "inherited");
	assert_int_equal(a.auth, AUTH_MODE_XOAUTH2);
	assert_string_equal(a.oauth2_token_command, "oauth2-token get");
	conf_account_free(&a);
}

/* Values come back exactly: msmtp strips one pair of quotes and nothing else. */
static void
test_quoting(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("account q\n"
		     "host mx.example\n"
		     "tls on\n"
		     "port 587\n"
		     "auth on\n"
		     "user \"  spaced user \"\n"
		     "passwordeval \"gpg -d \\\"my file\\\" | tr -d '\\\\n'\"\n"
		     "from \"a\\\"b@example.org\"\n");
	free(out);
	assert_int_equal(nnotes, 0);
	load(&a, "q");
	assert_string_equal(a.user, "  spaced user ");
	assert_string_equal(a.passwordeval, "gpg -d \\\"my file\\\" | tr -d '\\\\n'");
	assert_string_equal(a.from, "a\\\"b@example.org");
	conf_account_free(&a);
}

/*
 * One password source per section here: of several, the one msmtp uses
 * stays (a later line replaces an earlier one; a password wins over
 * passwordeval), so the result loads (found by fuzz_msmtprc).
 */
static void
test_secret_lines(void **state)
{
	struct account a;
	char *out;

	(void)state;
	out = import("account a\nhost x\ntls on\nport 587\nauth on\nuser u\n"
		     "passwordeval echo one\npasswordeval echo two\npassword three\n"
		     "passwordeval echo four\n"
		     "account b\nhost x\ntls on\nport 587\nauth on\nuser u\n"
		     "passwordeval echo one\npasswordeval echo two\n");
	assert_null(strstr(out, "echo one"));
	assert_null(strstr(out, "echo four"));
	has_note(10, "passwordeval", "msmtp uses the password set above");
	free(out);
	load(&a, "a");
	assert_string_equal(a.password, "three");
	assert_null(a.passwordeval);
	conf_account_free(&a);
	load(&a, "b");
	assert_string_equal(a.passwordeval, "echo two");
	conf_account_free(&a);
}

/* Files msmtp refuses are refused, naming the line; no secret in any note. */
static void
test_refused(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"account a\nhost x\naccount a\n", "rc:3: account a is defined twice"},
	    {"account b : a\n", "rc:1: account b: account a is not defined above"},
	    {"defaults x\n", "rc:1: defaults takes no value"},
	    {"account a b\n", "rc:1: account: a name without spaces"},
	};
	struct msmtprc_result r;
	char *big, *buf = NULL;
	size_t k, len = 0;
	FILE *fp;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		fp = open_memstream(&buf, &len);
		sx_clear(&err);
		assert_int_equal(msmtprc_import(cases[k].text, strlen(cases[k].text), "rc", fp,
				     NULL, NULL, &r, &err),
		    -1);
		fclose(fp);
		free(buf);
		buf = NULL;
		assert_int_equal(err.cls, SX_CONFIG);
		if (strstr(err.detail, cases[k].want) == NULL)
			fail_msg("case %zu: \"%s\", wanted \"%s\"", k, err.detail, cases[k].want);
	}
	fp = open_memstream(&buf, &len);
	sx_clear(&err);
	assert_int_equal(msmtprc_import("host a\0b\n", 9, "rc", fp, NULL, NULL, &r, &err), -1);
	assert_non_null(strstr(err.detail, "NUL"));
	big = malloc(CONF_LINE_MAX + 20);
	assert_non_null(big);
	memset(big, 'x', CONF_LINE_MAX + 10);
	memcpy(big, "host ", 5);
	big[CONF_LINE_MAX + 10] = '\0';
	sx_clear(&err);
	assert_int_equal(msmtprc_import(big, strlen(big), "rc", fp, NULL, NULL, &r, &err), -1);
	assert_non_null(strstr(err.detail, "rc:1: line longer than"));
	free(big);
	fclose(fp);
	free(buf);

	/* A password the grammar refuses is named, never shown. */
	free(import("account p\nhost x\ntls on\nport 587\nauth on\nuser u\n"
		    "password \"s\003cret\"\n"));
	assert_null(strstr(notes, "cret"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_gmail_passwordeval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_office365, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private_ca_pin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults_several_accounts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msmtp_only_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults_made_explicit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oauth2_passwordeval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secret_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
