/* main.c — wiring only: argv → config → intake → session → report → exit code. */
#include "config.h"

#include <stdio.h>
#include <sysexits.h>

#include "cli.h"
#include "err.h"

int
main(int argc, char *argv[])
{
	struct cli_options opt;
	struct sx_err err;

	sx_clear(&err);
	if (cli_parse(argc, argv, &opt, &err) == -1) {
		fprintf(stderr, "smtps-send: %s\n", err.detail);
		return sx_exitcode(&err);
	}
	switch (opt.mode) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("smtps-send %s\n", PACKAGE_VERSION);
		return 0;
	default:
		break;
	}
	fprintf(stderr, "smtps-send: sending is not implemented yet\n");
	return EX_SOFTWARE;
}
