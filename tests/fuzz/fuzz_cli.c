/*
 * fuzz_cli.c — cli_parse() on an argv made by splitting the input on NUL
 * bytes (argv[0] is "sendmail"; at most FZ_ARGS_MAX arguments).  Checks
 * cli.h's contract: usage errors only, recipients and every option value
 * free of control characters, recipients never starting with '-'.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cli.h"

#define FZ_ARGS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	char *buf, *argv[FZ_ARGS_MAX + 2];
	struct cli_options o;
	struct sx_err e;
	size_t i, start = 0;
	int argc = 1, rc;

	/* A private copy with a final NUL, so the last argument ends too. */
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = (char *)"sendmail";
	for (i = 0; i <= size && argc < FZ_ARGS_MAX + 1; i++) {
		if (buf[i] == '\0') {
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;

	sx_clear(&e);
	rc = cli_parse(argc, argv, &o, &e);
	if (rc == -1) {
		if (e.cls != SX_USAGE || e.stage != STAGE_ARGS)
			abort();
		if (memchr(e.detail, '\0', sizeof(e.detail)) == NULL)
			abort();
		fz_no_ctl(e.detail);
	} else if (rc == 0) {
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
	free(buf);
	return 0;
}
