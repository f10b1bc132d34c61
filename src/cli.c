/* cli.c — placeholder until the CLI issue: just --help, --version, -v, recipients. */
#include "config.h"

#include <string.h>

#include "cli.h"

int
cli_parse(int argc, char *const argv[], struct cli_options *o, struct sx_err *e)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0)
			o->mode = CLI_HELP;
		else if (strcmp(a, "--version") == 0)
			o->mode = CLI_VERSION;
		else if (strcmp(a, "-v") == 0)
			o->verbose++;
		else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (a[0] == '-')
			return sx_fail(e, SX_USAGE, STAGE_ARGS,
			    "unknown option %s (see smtps-send --help)", a);
		else
			break;
	}
	o->rcpts = argv + i;
	o->nrcpts = (size_t)(argc - i);
	return 0;
}

void
cli_usage(FILE *fp)
{
	fputs("usage: smtps-send [-tiv] [-f from] [--] recipient ...\n", fp);
}
