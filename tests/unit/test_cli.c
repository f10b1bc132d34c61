/* test_cli.c — sendmail-compatible argv parsing (src/config/cli.c). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cmocka.h>

#include "config/cli.h"

#define MAXARGS 32
#define END     ((const char *)NULL) /* typed end of the variadic list */

/* argv lives here (writable copies of the literals) until the next parse. */
static char arg_store[MAXARGS][512];
static char *arg_v[MAXARGS + 1];
static struct sx_err err;

/* Parse name (argv[0]) followed by the arguments in ap. */
static int
vparse(const char *name, struct cli_options *o, va_list ap)
{
	const char *a;
	int n = 0;

	strlcpy(arg_store[n], name, sizeof(arg_store[n]));
	arg_v[n] = arg_store[n];
	n++;
	while ((a = va_arg(ap, const char *)) != NULL) {
		assert_true(n < MAXARGS);
		strlcpy(arg_store[n], a, sizeof(arg_store[n]));
		arg_v[n] = arg_store[n];
		n++;
	}
	arg_v[n] = NULL;
	sx_clear(&err);
	return cli_parse(n, arg_v, o, &err);
}

/* Parse "smtps-send" followed by the NULL-terminated arguments. */
static int
parse(struct cli_options *o, ...)
{
	va_list ap;
	int rc;

	va_start(ap, o);
	rc = vparse("smtps-send", o, ap);
	va_end(ap);
	return rc;
}

/* The same, called by another name (a link such as /usr/bin/mailq). */
static int
parse_as(const char *name, struct cli_options *o, ...)
{
	va_list ap;
	int rc;

	va_start(ap, o);
	rc = vparse(name, o, ap);
	va_end(ap);
	return rc;
}

/* The parse failed with EX_USAGE and the detail mentions what. */
static void
assert_usage(int rc, const char *what)
{
	assert_int_equal(rc, -1);
	assert_int_equal(err.cls, SX_USAGE);
	assert_int_equal(err.stage, STAGE_ARGS);
	assert_int_equal(sx_exitcode(&err), EX_USAGE);
	if (strstr(err.detail, what) == NULL)
		fail_msg("detail \"%s\" does not mention \"%s\"", err.detail, what);
}

static void
test_defaults(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "a@example.com", END), 0);
	assert_int_equal(o.mode, CLI_SEND);
	assert_int_equal(o.nrcpts, 1);
	assert_string_equal(o.rcpts[0], "a@example.com");
	assert_int_equal(o.read_recipients, 0);
	assert_int_equal(o.ignore_dots, 0);
	assert_int_equal(o.verbose, 0);
	assert_null(o.from);
	assert_null(o.body_type);
}

static void
test_help_version(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "--help", END), 0);
	assert_int_equal(o.mode, CLI_HELP);
	assert_int_equal(parse(&o, "--version", END), 0);
	assert_int_equal(o.mode, CLI_VERSION);
	/* --help wins over modes and needs no recipients */
	assert_int_equal(parse(&o, "-bp", "--help", END), 0);
	assert_int_equal(o.mode, CLI_HELP);
	assert_int_equal(parse(&o, "--help", "--version", END), 0);
	assert_int_equal(o.mode, CLI_HELP);
}

static void
test_simple_flags(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-t", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_int_equal(o.nrcpts, 0);
	assert_int_equal(parse(&o, "-i", "x", END), 0);
	assert_int_equal(o.ignore_dots, 1);
	assert_int_equal(parse(&o, "-oi", "x", END), 0);
	assert_int_equal(o.ignore_dots, 1);
	assert_int_equal(parse(&o, "-ti", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_int_equal(o.ignore_dots, 1);
	assert_int_equal(parse(&o, "-v", "-v", "x", END), 0);
	assert_int_equal(o.verbose, 2);
	assert_int_equal(parse(&o, "-vvv", "x", END), 0);
	assert_int_equal(o.verbose, 3);
	assert_int_equal(parse(&o, "-vvvvvvvvvvvvvvvv", "x", END), 0);
	assert_int_equal(o.verbose, CLI_VERBOSE_MAX);
	assert_int_equal(parse(&o, "--debug", "x", END), 0);
	assert_int_equal(o.verbose, 2);
	assert_int_equal(parse(&o, "-vvv", "--debug", "x", END), 0);
	assert_int_equal(o.verbose, 3);
	assert_int_equal(parse(&o, "-bm", "x", END), 0);
	assert_int_equal(o.mode, CLI_SEND);
	assert_int_equal(parse(&o, "--read-recipients", END), 0);
	assert_int_equal(o.read_recipients, 1);
}

static void
test_from(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-f", "me@example.com", "x", END), 0);
	assert_string_equal(o.from, "me@example.com");
	assert_int_equal(parse(&o, "-fme@example.com", "x", END), 0);
	assert_string_equal(o.from, "me@example.com");
	assert_int_equal(parse(&o, "-r", "r@example.com", "x", END), 0);
	assert_string_equal(o.from, "r@example.com");
	assert_int_equal(parse(&o, "-rr@example.com", "x", END), 0);
	assert_string_equal(o.from, "r@example.com");
	assert_int_equal(parse(&o, "-f", "<>", "x", END), 0);
	assert_string_equal(o.from, "");
	assert_int_equal(parse(&o, "-f", "", "x", END), 0);
	assert_string_equal(o.from, "");
	assert_int_equal(parse(&o, "-f", "a@b", "-f", "c@d", "x", END), 0);
	assert_string_equal(o.from, "c@d");
	assert_int_equal(parse(&o, "--from=m@x", "x", END), 0);
	assert_string_equal(o.from, "m@x");
	/* -tif ADDR: cluster ending in a flag that takes the next argument */
	assert_int_equal(parse(&o, "-tif", "c@d", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_int_equal(o.ignore_dots, 1);
	assert_string_equal(o.from, "c@d");
	assert_usage(parse(&o, "-f", END), "-f needs a value");
	assert_usage(parse(&o, "-f", "a@b\r\nRCPT TO:<x@y>", "x", END), "-f");
	assert_usage(parse(&o, "-f", "a\n@b", "x", END), "control");
}

static void
test_fullname(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-F", "Cron Daemon", "x", END), 0);
	assert_string_equal(o.fullname, "Cron Daemon");
	assert_int_equal(parse(&o, "-FCronDaemon", "x", END), 0);
	assert_string_equal(o.fullname, "CronDaemon");
	assert_usage(parse(&o, "-F", "a\r\nBcc: x@y", "x", END), "-F");
	assert_usage(parse(&o, "-F", END), "-F needs a value");
}

static void
test_modes(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-bp", END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_int_equal(parse(&o, "--queue-list", END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_int_equal(parse(&o, "-bs", END), 0);
	assert_int_equal(o.mode, CLI_SMTP_STDIO);
	assert_int_equal(parse(&o, "-b", "s", END), 0);
	assert_int_equal(o.mode, CLI_SMTP_STDIO);
	assert_int_equal(parse(&o, "-q", END), 0);
	assert_int_equal(o.mode, CLI_FLUSH);
	assert_string_equal(o.queue_interval, "");
	assert_int_equal(parse(&o, "-q30m", END), 0);
	assert_int_equal(o.mode, CLI_FLUSH);
	assert_string_equal(o.queue_interval, "30m");
	assert_int_equal(parse(&o, "-q1h30m", END), 0);
	assert_string_equal(o.queue_interval, "1h30m");
	assert_int_equal(parse(&o, "-qf", END), 0);
	assert_int_equal(o.mode, CLI_FLUSH);
	assert_int_equal(o.queue_foreground, 1);
	assert_int_equal(parse(&o, "-vq", END), 0);
	assert_int_equal(o.mode, CLI_FLUSH);
	assert_int_equal(o.verbose, 1);
	assert_int_equal(parse(&o, "--flush", END), 0);
	assert_int_equal(o.mode, CLI_FLUSH);
	assert_int_equal(parse(&o, "--check", END), 0);
	assert_int_equal(o.mode, CLI_CHECK);
	assert_int_equal(parse(&o, "--check", "--account", "work", END), 0);
	assert_string_equal(o.account, "work");
	assert_int_equal(parse(&o, "--dump-config", END), 0);
	assert_int_equal(o.mode, CLI_DUMP_CONFIG);
	/* same mode twice is fine */
	assert_int_equal(parse(&o, "-q", "--flush", END), 0);
	assert_usage(parse(&o, "-bp", "-q", END), "-bp and -q cannot be combined");
	assert_usage(parse(&o, "--check", "-bs", END), "--check and -bs");
	assert_usage(parse(&o, "-bp", "-bm", END), "-bp and -bm");
	assert_usage(parse(&o, "-bd", END), "-bd");
	/* -bi is newaliases: check the aliases file */
	assert_int_equal(parse(&o, "-bi", END), 0);
	assert_int_equal(o.mode, CLI_NEWALIASES);
	assert_usage(parse(&o, "-bi", "-bp", END), "-bi and -bp");
	assert_usage(parse(&o, "-bt", END), "-bt");
	assert_usage(parse(&o, "-qRexample.com", END), "-qRexample.com");
	assert_usage(parse(&o, "-qS", END), "-qS");
	assert_usage(parse(&o, "-qm30", END), "-qm30");
	assert_usage(parse(&o, "-b", END), "-b needs a value");
}

/* Installed under sendmail's other names, the binary is that command. */
static void
test_called_as(void **state)
{
	struct cli_options o;

	(void)state;
	/* mailq is -bp, with or without a directory */
	assert_int_equal(parse_as("mailq", &o, END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_int_equal(parse_as("/usr/bin/mailq", &o, END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_int_equal(o.nrcpts, 0);
	/* sendmail's mailq flags that make sense: -v counts, -Ac is ignored */
	assert_int_equal(parse_as("mailq", &o, "-v", "-Ac", END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_int_equal(o.verbose, 1);
	assert_int_equal(parse_as("mailq", &o, "-A", "m", "-bp", "-C", "/etc/x.conf", END), 0);
	assert_int_equal(o.mode, CLI_QUEUE_LIST);
	assert_string_equal(o.config_file, "/etc/x.conf");
	assert_usage(parse_as("mailq", &o, "-Ax", END), "-A takes c or m");
	/* selecting queue entries is not supported, nor another mode */
	assert_usage(parse_as("mailq", &o, "-qRexample.com", END), "-qRexample.com");
	assert_usage(parse_as("mailq", &o, "-q", END), "mailq and -q cannot be combined");
	assert_usage(parse_as("mailq", &o, "-bs", END), "mailq and -bs");
	assert_int_equal(parse_as("mailq", &o, "--help", END), 0);
	assert_int_equal(o.mode, CLI_HELP);

	/* newaliases is -bi */
	assert_int_equal(parse_as("/usr/sbin/newaliases", &o, END), 0);
	assert_int_equal(o.mode, CLI_NEWALIASES);
	assert_int_equal(parse_as("newaliases", &o, "-v", "-bi", END), 0);
	assert_int_equal(o.mode, CLI_NEWALIASES);
	assert_usage(parse_as("newaliases", &o, "-bp", END), "newaliases and -bp");

	/* every other name is sendmail: recipients required, as always */
	assert_int_equal(parse_as("/usr/sbin/sendmail", &o, "a@example.com", END), 0);
	assert_int_equal(o.mode, CLI_SEND);
	assert_usage(parse_as("/usr/lib/sendmail", &o, END), "no recipients");
	assert_usage(parse_as("/usr/bin/mailq.old", &o, END), "no recipients");
	assert_usage(parse_as("mailq/", &o, END), "no recipients");
	/* -Ac is accepted when sending too */
	assert_int_equal(parse_as("sendmail", &o, "-Am", "a@example.com", END), 0);
	/* no argv[0] at all */
	sx_clear(&err);
	assert_int_equal(cli_parse(0, arg_v, &o, &err), -1);
	assert_int_equal(err.cls, SX_USAGE);
}

static void
test_o_family(void **state)
{
	struct cli_options o;
	static const char *const ignored[] = {"-oem", "-oee", "-oep", "-oeq", "-oew", "-em", "-ee",
	    "-ep", "-eq", "-ew", "-om", "-oo", "-m", "-n", "-G", "-U"};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(ignored) / sizeof(ignored[0]); k++) {
		if (parse(&o, ignored[k], "x", END) != 0)
			fail_msg("%s refused: %s", ignored[k], err.detail);
		assert_int_equal(o.nrcpts, 1);
		assert_int_equal(o.queue_only, 0);
	}
	assert_int_equal(parse(&o, "-oem", "x", END), 0);
	assert_int_equal(o.error_mode, 'm');
	assert_int_equal(parse(&o, "-e", "q", "x", END), 0);
	assert_int_equal(o.error_mode, 'q');
	assert_int_equal(parse(&o, "-odi", "x", END), 0);
	assert_int_equal(o.delivery_mode, 'i');
	assert_int_equal(o.queue_only, 0);
	assert_int_equal(parse(&o, "-odb", "x", END), 0);
	assert_int_equal(o.delivery_mode, 'b');
	assert_int_equal(o.queue_only, 0);
	assert_int_equal(parse(&o, "-odq", "x", END), 0);
	assert_int_equal(o.queue_only, 1);
	assert_int_equal(parse(&o, "-odd", "x", END), 0);
	assert_int_equal(o.queue_only, 1);
	assert_int_equal(parse(&o, "-o", "i", "x", END), 0);
	assert_int_equal(o.ignore_dots, 1);
	assert_int_equal(parse(&o, "-O", "DeliveryMode=b", "x", END), 0);
	assert_int_equal(o.nrcpts, 1);
	assert_usage(parse(&o, "-oz", "x", END), "-oz");
	assert_usage(parse(&o, "-oex", "x", END), "-oex");
	assert_usage(parse(&o, "-odx", "x", END), "-odx");
	assert_usage(parse(&o, "-ex", "x", END), "-e takes");
	assert_usage(parse(&o, "-o", END), "-o needs a value");
}

static void
test_body_dsn(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-B", "7BIT", "x", END), 0);
	assert_string_equal(o.body_type, "7BIT");
	assert_int_equal(parse(&o, "-B8BITMIME", "x", END), 0);
	assert_string_equal(o.body_type, "8BITMIME");
	assert_int_equal(parse(&o, "-B", "8bitmime", "x", END), 0);
	assert_string_equal(o.body_type, "8BITMIME");
	assert_usage(parse(&o, "-B", "binarymime", "x", END), "-B takes");

	assert_int_equal(parse(&o, "-N", "never", "x", END), 0);
	assert_string_equal(o.dsn_notify, "NEVER");
	assert_int_equal(o.dsn_notify_flags, CLI_DSN_NEVER);
	assert_int_equal(parse(&o, "-N", "success,failure,delay", "x", END), 0);
	assert_string_equal(o.dsn_notify, "SUCCESS,FAILURE,DELAY");
	assert_int_equal(parse(&o, "-Ndelay,SUCCESS", "x", END), 0);
	assert_string_equal(o.dsn_notify, "SUCCESS,DELAY");
	assert_int_equal(parse(&o, "-N", "failure", "x", END), 0);
	assert_string_equal(o.dsn_notify, "FAILURE");
	assert_usage(parse(&o, "-N", "never,success", "x", END), "-N takes");
	assert_usage(parse(&o, "-N", "sometimes", "x", END), "-N takes");
	assert_usage(parse(&o, "-N", "success,", "x", END), "-N takes");
	assert_usage(parse(&o, "-N", "", "x", END), "-N takes");

	assert_int_equal(parse(&o, "-R", "full", "x", END), 0);
	assert_string_equal(o.dsn_ret, "FULL");
	assert_int_equal(parse(&o, "-Rhdrs", "x", END), 0);
	assert_string_equal(o.dsn_ret, "HDRS");
	assert_usage(parse(&o, "-R", "body", "x", END), "-R takes");

	assert_int_equal(parse(&o, "-V", "env-42", "x", END), 0);
	assert_string_equal(o.dsn_envid, "env-42");
	assert_usage(parse(&o, "-V", "a b", "x", END), "-V");
	assert_usage(parse(&o, "-V",
			 "0123456789012345678901234567890123456789012345678901234567890123456789"
			 "0123456789012345678901234567890123456789",
			 "x", END),
	    "-V");
}

static void
test_ignored_with_values(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "-h", "17", "x", END), 0);
	assert_int_equal(o.hop_count, 17);
	assert_int_equal(parse(&o, "-h5", "x", END), 0);
	assert_int_equal(o.hop_count, 5);
	assert_usage(parse(&o, "-h", "many", "x", END), "-h takes");
	assert_int_equal(parse(&o, "-L", "mylabel", "x", END), 0);
	assert_string_equal(o.label, "mylabel");
	assert_int_equal(parse(&o, "-Lcron", "x", END), 0);
	assert_string_equal(o.label, "cron");
}

static void
test_long_options(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(
	    parse(&o, "--config", "/tmp/c", "--account=work", "--host", "smtp.x", "--port=465",
		"--tls", "implicit", "--user=u", "--tls-trust-file", "/ca.pem", "x", END),
	    0);
	assert_string_equal(o.config_file, "/tmp/c");
	assert_string_equal(o.account, "work");
	assert_string_equal(o.host, "smtp.x");
	assert_string_equal(o.port, "465");
	assert_string_equal(o.tls, "implicit");
	assert_string_equal(o.user, "u");
	assert_string_equal(o.tls_trust_file, "/ca.pem");
	assert_int_equal(parse(&o, "--config=/etc/x", "-C", "/etc/y", "x", END), 0);
	assert_string_equal(o.config_file, "/etc/y");
	assert_int_equal(parse(&o, "-C/etc/z", "-awork", "x", END), 0);
	assert_string_equal(o.config_file, "/etc/z");
	assert_string_equal(o.account, "work");
	assert_int_equal(parse(&o, "-a", "home", "x", END), 0);
	assert_string_equal(o.account, "home");
	assert_int_equal(parse(&o, "--tls=on", "--tls=off", "--tls=opportunistic", "x", END), 0);
	assert_string_equal(o.tls, "opportunistic");
	assert_int_equal(parse(&o, "--diag-format=json", "x", END), 0);
	assert_int_equal(o.diag_json, 1);
	assert_int_equal(o.verbose, 1);
	assert_int_equal(parse(&o, "--diag-format", "text", "x", END), 0);
	assert_int_equal(o.diag_json, 0);
	assert_int_equal(o.verbose, 0);

	assert_usage(parse(&o, "--tls=maybe", "x", END), "--tls takes");
	assert_usage(parse(&o, "--port=0", "x", END), "--port");
	assert_usage(parse(&o, "--port", "65536", "x", END), "--port");
	assert_usage(parse(&o, "--port", "smtp", "x", END), "--port");
	assert_usage(parse(&o, "--diag-format=xml", "x", END), "--diag-format");
	assert_usage(parse(&o, "--host", END), "--host needs a value");
	assert_usage(parse(&o, "--host=", "x", END), "--host needs a non-empty value");
	assert_usage(parse(&o, "--host=a b", "x", END), "--host");
	assert_usage(parse(&o, "--user=a\rb", "x", END), "--user");
	assert_usage(parse(&o, "--check=yes", END), "--check takes no value");
	assert_usage(parse(&o, "--frobnicate", "x", END), "--frobnicate");
	assert_usage(parse(&o, "--frobnicate=1", "x", END), "--frobnicate");
	assert_usage(parse(&o, "--hos", "x", END), "--hos");
	assert_usage(parse(&o, "-C", END), "-C needs a value");
	assert_usage(parse(&o, "-a", "", "x", END), "-a needs a non-empty value");
}

/* msmtp's options of the same meaning; optional values only after '=', as msmtp. */
static void
test_msmtp_options(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(
	    parse(&o, "--timeout", "30", "--auth", "--tls", "--tls-starttls=off", "--tls-certcheck",
		"--passwordeval=pass show mail", "--domain=d.example", "--logfile=/tmp/l",
		"--read-envelope-from", "--file=/etc/c", "x", END),
	    0);
	assert_string_equal(o.timeout, "30");
	assert_string_equal(o.auth, "on");
	assert_string_equal(o.tls, "on");
	assert_string_equal(o.tls_starttls, "off");
	assert_string_equal(o.tls_certcheck, "on");
	assert_string_equal(o.passwordeval, "pass show mail");
	assert_string_equal(o.domain, "d.example");
	assert_string_equal(o.logfile, "/tmp/l");
	assert_int_equal(o.read_envelope_from, 1);
	assert_string_equal(o.config_file, "/etc/c");
	assert_int_equal(o.nrcpts, 1);
	assert_string_equal(o.rcpts[0], "x");
	/* An optional value is never the next argument: that is a recipient. */
	assert_int_equal(parse(&o, "--auth", "login", END), 0);
	assert_string_equal(o.auth, "on");
	assert_string_equal(o.rcpts[0], "login");
	assert_int_equal(parse(&o, "--auth=login", "x", END), 0);
	assert_string_equal(o.auth, "login");
	/* --tls took a separate word before msmtp's --tls: still does. */
	assert_int_equal(parse(&o, "--tls", "implicit", "x", END), 0);
	assert_string_equal(o.tls, "implicit");
	assert_int_equal(o.nrcpts, 1);
	assert_int_equal(parse(&o, "--tls", "x@example.org", END), 0);
	assert_string_equal(o.tls, "on");
	assert_string_equal(o.rcpts[0], "x@example.org");
	assert_int_equal(parse(&o, "--serverinfo", END), 0);
	assert_int_equal(o.mode, CLI_CHECK);
	assert_int_equal(parse(&o, "--read-recipients", "--from=a@b.example", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_string_equal(o.from, "a@b.example");
	assert_usage(parse(&o, "--tls-starttls=maybe", "x", END), "--tls-starttls takes on or off");
	assert_usage(parse(&o, "--tls-certcheck=", "x", END), "--tls-certcheck");
	assert_usage(parse(&o, "--timeout", END), "--timeout needs a value");
	assert_usage(parse(&o, "--passwordeval=a\nb", "x", END), "--passwordeval");
	assert_usage(parse(&o, "--serverinfo", "-bp", END), "--serverinfo and -bp");
	/* -X (sendmail's traffic log, msmtp's log file) stays refused, by name. */
	assert_usage(parse(&o, "-X", "/tmp/log", "a@b", END), "-X is refused");
	assert_usage(parse(&o, "-tX/tmp/log", "a@b", END), "-X is refused");
}

/* --help names every mode (-bs among them) and msmtp's options. */
static void
test_usage_text(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	cli_usage(fp);
	fclose(fp);
	assert_non_null(strstr(text, "smtps-send -bp | -q | -bs | --check"));
	assert_non_null(strstr(text, "  -bs              speak SMTP"));
	assert_non_null(strstr(text, "--passwordeval=CMD"));
	assert_non_null(strstr(text, "--serverinfo"));
	assert_non_null(strstr(text, "refused: -X"));
	free(text);
}

static void
test_unknown_flags(void **state)
{
	struct cli_options o;

	(void)state;
	assert_usage(parse(&o, "-x", "a@b", END), "unknown option -x");
	assert_usage(parse(&o, "-x", "a@b", END), "--help");
	assert_usage(parse(&o, "-tz", END), "unknown option -z in -tz");
	assert_usage(parse(&o, "-d0.1", "a@b", END), "-d");
	assert_usage(parse(&o, "-X", "/tmp/log", "a@b", END), "-X");
}

static void
test_recipients(void **state)
{
	struct cli_options o;

	(void)state;
	assert_int_equal(parse(&o, "--", "a@b", "c@d", END), 0);
	assert_int_equal(o.nrcpts, 2);
	assert_string_equal(o.rcpts[1], "c@d");
	assert_usage(parse(&o, "--", "-oi", END), "recipient -oi starts with '-'");
	assert_usage(parse(&o, "-", END), "starts with '-'");
	assert_usage(parse(&o, "a@b", "-oi", END), "option -oi after recipient a@b");
	assert_usage(parse(&o, "a@b\r\nDATA", END), "control");
	assert_usage(parse(&o, "a@b\n", END), "control");
	assert_usage(parse(&o, "", END), "empty recipient");
	assert_usage(parse(&o, END), "no recipients");
	assert_usage(parse(&o, "-i", END), "use -t");
	/* -t with argv recipients: both are used */
	assert_int_equal(parse(&o, "-t", "extra@example.com", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_int_equal(o.nrcpts, 1);
	/* modes other than sending need none */
	assert_int_equal(parse(&o, "-bs", END), 0);
}

/* What real callers pass. */
static void
test_real_callers(void **state)
{
	struct cli_options o;

	(void)state;
	/* Debian cron */
	assert_int_equal(parse(&o, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root", END), 0);
	assert_string_equal(o.fullname, "CronDaemon");
	assert_int_equal(o.ignore_dots, 1);
	assert_string_equal(o.body_type, "8BITMIME");
	assert_int_equal(o.error_mode, 'm');
	assert_int_equal(o.nrcpts, 1);
	assert_string_equal(o.rcpts[0], "root");
	/* cronie */
	assert_int_equal(
	    parse(&o, "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_string_equal(o.from, "root");
	assert_int_equal(o.delivery_mode, 'i');
	assert_int_equal(o.nrcpts, 0);
	/* PHP mail() */
	assert_int_equal(parse(&o, "-t", "-i", END), 0);
	assert_int_equal(o.read_recipients, 1);
	assert_int_equal(o.ignore_dots, 1);
	/* PHP with the fifth argument */
	assert_int_equal(parse(&o, "-t", "-i", "-fwebmaster@example.com", END), 0);
	assert_string_equal(o.from, "webmaster@example.com");
	/* git send-email */
	assert_int_equal(parse(&o, "-i", "a@b", "c@d", END), 0);
	assert_int_equal(o.nrcpts, 2);
	assert_string_equal(o.rcpts[0], "a@b");
	assert_string_equal(o.rcpts[1], "c@d");
	/* mutt */
	assert_int_equal(parse(&o, "-oem", "-oi", "--", "a@b", END), 0);
	assert_int_equal(o.nrcpts, 1);
	assert_string_equal(o.rcpts[0], "a@b");
	/* mutt with envelope_from */
	assert_int_equal(parse(&o, "-oem", "-oi", "-f", "me@x", "--", "a@b", END), 0);
	assert_string_equal(o.from, "me@x");
	/* msmtp-style */
	assert_int_equal(parse(&o, "-a", "gmail", "-t", END), 0);
	assert_string_equal(o.account, "gmail");
	/* mailx / BSD mail */
	assert_int_equal(
	    parse(&o, "-i", "-v", "-N", "never", "-R", "hdrs", "-V", "id1", "u@x", END), 0);
	/* sendmail -bm -odq for a queue-only submission */
	assert_int_equal(parse(&o, "-bm", "-odq", "-oi", "u@x", END), 0);
	assert_int_equal(o.queue_only, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_help_version),
	    cmocka_unit_test(test_simple_flags),
	    cmocka_unit_test(test_from),
	    cmocka_unit_test(test_fullname),
	    cmocka_unit_test(test_modes),
	    cmocka_unit_test(test_called_as),
	    cmocka_unit_test(test_o_family),
	    cmocka_unit_test(test_body_dsn),
	    cmocka_unit_test(test_ignored_with_values),
	    cmocka_unit_test(test_long_options),
	    cmocka_unit_test(test_msmtp_options),
	    cmocka_unit_test(test_usage_text),
	    cmocka_unit_test(test_unknown_flags),
	    cmocka_unit_test(test_recipients),
	    cmocka_unit_test(test_real_callers),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
