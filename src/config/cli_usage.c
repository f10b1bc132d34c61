/*
 * cli_usage.c — the --help text (see cli.h); beside the parser so that
 * cli.c is the grammar alone.  Keep it in step with smtps-send(1).
 */
#include "config.h"

#include <stdio.h>

#include "config/cli.h"

void
cli_usage(FILE *fp)
{
	fputs("usage: smtps-send [options] [--] recipient ...\n"
	      "       smtps-send [options] -t [--] [recipient ...]\n"
	      "       smtps-send -bp | -q | -bs | --check | --dump-config [options]\n"
	      "       smtps-send --flush-id ID | --queue-remove ID [options]\n"
	      "       smtps-send --import-msmtprc [MSMTPRC [OUTPUT]]\n"
	      "       mailq [options]     (as smtps-send -bp)\n"
	      "       newaliases [options] (as smtps-send -bi)\n"
	      "\n"
	      "Reads one message from standard input and submits it over TLS.\n"
	      "\n"
	      "Sendmail options:\n"
	      "  -t               also take recipients from To/Cc/Bcc (Resent-* when present)\n"
	      "  -i, -oi          a line with a single dot does not end the message\n"
	      "  -f ADDR, -r ADDR envelope sender (-f '<>' for the null sender)\n"
	      "  -F NAME          full name for an added From header\n"
	      "  -v               verbose: one line per stage; -vv the full transcript\n"
	      "  -bm              send a message (default)\n"
	      "  -bp              list the queue\n"
	      "  -bs              speak SMTP on standard input and output\n"
	      "  -bi              check the account's aliases file (there is no database)\n"
	      "  -q[INTERVAL]     flush the queue now (the interval is ignored)\n"
	      "  -odq, -odd       queue the message without sending it now\n"
	      "  -odi, -odb       deliver now (the default)\n"
	      "  -B 7BIT|8BITMIME body type\n"
	      "  -N never|success,failure,delay   DSN notify (when the server offers DSN)\n"
	      "  -R full|hdrs     DSN return (when the server offers DSN)\n"
	      "  -V ENVID         DSN envelope id (when the server offers DSN)\n"
	      "  -C FILE          config file (also --config FILE); see smtps-send(1) for\n"
	      "                   the directories users other than root may name\n"
	      "  -a NAME          account (also --account NAME)\n"
	      "  accepted and ignored: -oem -oee -oep -oeq -oew -em -ee -ep -eq -ew -om -oo\n"
	      "                       -m -n -G -U -h N -L LABEL -O OPTION=VALUE -Ac -Am\n"
	      "  refused: -X FILE (it would write a file the caller names)\n"
	      "\n"
	      "Long options (--opt=value or --opt value):\n"
	      "  --config FILE    --account NAME    --host HOST    --port PORT\n"
	      "  --tls starttls|implicit|opportunistic|off|on      --user USER\n"
	      "  --tls-trust-file FILE               --from ADDR    --read-recipients\n"
	      "  --check          connect, TLS, EHLO, AUTH, QUIT; send nothing\n"
	      "  --oauth2-authorize  authorize the account's OAuth2 access (oauth2_provider)\n"
	      "  --queue-list     same as -bp          --flush   same as -q\n"
	      "  --flush-id ID    retry one queued message now, even a failed or expired one\n"
	      "  --queue-remove ID  delete one queued message\n"
	      "  --dump-config    print the effective account and where each value came from\n"
	      "  --import-msmtprc [MSMTPRC [OUTPUT]]  translate an msmtprc (~/.msmtprc) to a\n"
	      "                   config on stdout, or to OUTPUT if it does not exist yet\n"
	      "  --diag-format=json|text   diagnostics as JSON lines on stderr (implies -v)\n"
	      "  --debug          same as -vv\n"
	      "  --help           --version\n"
	      "\n"
	      "msmtp's options (the same meaning; an optional [=VALUE] only after '='):\n"
	      "  --file=FILE (-C)  --timeout=SECONDS  --auth[=on|off|MECHANISM]\n"
	      "  --tls[=on|off]    --tls-starttls[=on|off]   --tls-certcheck[=on|off]\n"
	      "  --domain=NAME     --read-envelope-from      --serverinfo (--check)\n"
	      "  --passwordeval=CMD  --logfile=FILE   (only as root: smtps-send(1))\n"
	      "\n"
	      "See smtps-send(1) and smtps-send.conf(5).\n",
	    fp);
}
