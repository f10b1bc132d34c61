/*
 * fuzz_cli.c — cli_parse() on an argv made by splitting the input on NUL
 * bytes (at most FZ_ARGS_MAX arguments), once for each name the binary is
 * installed under (argv[0] "sendmail", "/usr/bin/mailq", "newaliases").
 * Checks cli.h's contract: usage errors only, recipients and every option
 * value free of control characters, recipients never starting with '-',
 * and a name's mode kept unless --help or --version replaced it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cli.h"

#define FZ_ARGS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_no_ctl(const char *);
static void fz_check(int, char **, enum cli_mode);

static void
fz_no_ctl(const char *s)
{
	if (s == NULL)
		return;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		enum cli_mode mode; /* CLI_SEND: no mode of its own */
	} names[] = {{"sendmail", CLI_SEND}, {"/usr/bin/mailq", CLI_QUEUE_LIST},
	    {"newaliases", CLI_NEWALIASES}};
	char *buf, *argv[FZ_ARGS_MAX + 2];
	size_t i, start = 0;
	int argc = 1;

	/* A private copy with a final NUL, so the last argument ends too. */
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0; i <= size && argc < FZ_ARGS_MAX + 1; i++) {
		if (buf[i] == '\0') {
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		argv[0] = (char *)(uintptr_t)names[i].name;
		fz_check(argc, argv, names[i].mode);
	}
	free(buf);
	return 0;
}

static void
fz_check(int argc, char **argv, enum cli_mode name_mode)
{
	struct cli_options o;
	struct sx_err e;
	size_t i;
	int rc;

	sx_clear(&e);
	rc = cli_parse(argc, argv, &o, &e);
	if (rc == -1) {
		if (e.cls != SX_USAGE || e.stage != STAGE_ARGS)
			abort();
		if (memchr(e.detail, '\0', sizeof(e.detail)) == NULL)
			abort();
		fz_no_ctl(e.detail);
	} else if (rc == 0) {
		if (name_mode != CLI_SEND && o.mode != name_mode && o.mode != CLI_HELP &&
		    o.mode != CLI_VERSION)
			abort();
		if (o.nrcpts > (size_t)argc - 1)
			abort();
		if (o.nrcpts > 0 && (o.rcpts < argv + 1 || o.rcpts + o.nrcpts > argv + argc))
			abort();
		for (i = 0; i < o.nrcpts; i++) {
			const char *r = o.rcpts[i];

			if (r[0] == '-' || r[0] == '\0' || strlen(r) > CLI_ADDR_MAX)
				abort();
			fz_no_ctl(r);
		}
		if (o.mode == CLI_SEND && !o.read_recipients && o.nrcpts == 0)
			abort();
		if (o.verbose < 0 || o.verbose > CLI_VERBOSE_MAX + 2)
			abort();
		if (o.from != NULL && strlen(o.from) > CLI_ADDR_MAX)
			abort();
		if (o.dsn_envid != NULL &&
		    (strlen(o.dsn_envid) > CLI_ENVID_MAX || strchr(o.dsn_envid, ' ') != NULL))
			abort();
		if (o.port != NULL) {
			long p = strtol(o.port, NULL, 10);

			if (p < 1 || p > 65535)
				abort();
		}
		fz_no_ctl(o.from);
		fz_no_ctl(o.fullname);
		fz_no_ctl(o.config_file);
		fz_no_ctl(o.account);
		fz_no_ctl(o.host);
		fz_no_ctl(o.tls);
		fz_no_ctl(o.user);
		fz_no_ctl(o.tls_trust_file);
		fz_no_ctl(o.body_type);
		fz_no_ctl(o.dsn_notify);
		fz_no_ctl(o.dsn_ret);
		fz_no_ctl(o.dsn_envid);
		fz_no_ctl(o.queue_interval);
		fz_no_ctl(o.label);
	} else {
		abort();
	}
}
