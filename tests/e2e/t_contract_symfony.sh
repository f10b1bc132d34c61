#!/bin/sh
# End-to-end, the sendmail contract (issue 15) with Symfony Mailer 5.4 from
# Debian (php-symfony-mailer): its SendmailTransport in both modes, '-bs'
# (its default: an SMTP session on the binary's stdin/stdout) and '-t'
# ('... -t -i', which Symfony turns into -i -f SENDER -- RCPT).  With the
# relay down the send does not throw (so Messenger does not retry it), -bp
# lists the message deferred, and the queue runner (-q5s) delivers it exactly
# once when the relay is back.  The relay is tests/e2e/relayproxy.py.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
SF=/usr/share/php/Symfony/Component/Mailer/autoload.php
if ! command -v php >/dev/null 2>&1 || ! [ -r "$SF" ]; then
	echo "t_contract_symfony: php-cli or php-symfony-mailer missing (sh tests/deps.sh test): skip"
	exit 77
fi
ct_setup 1
M=sym$$

# The caller: one message through SendmailTransport(COMMAND), tried again
# when it throws, as Messenger's retry strategy would.  Prints "sent on try
# N" or "threw on try N: ..."; the SMTP transcript (-bs) to DEBUG_FILE.
cat >"$T/send.php" <<EOF
<?php
require '$SF';
EOF
cat >>"$T/send.php" <<'EOF'
use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Email;

[$self, $command, $marker, $debug] = $argv;
$transport = new SendmailTransport($command);
$email = (new Email())
	->from('alice@localhost')
	->to('rcpt@example.org')
	->subject("contract $marker")
	->text("body of $marker\n");
$email->getHeaders()->addTextHeader('X-Test-Id', $marker);
for ($try = 1; $try <= 2; $try++) {
	try {
		$sent = $transport->send($email);
		echo "sent on try $try\n";
		file_put_contents($debug, $sent->getDebug());
		break;
	} catch (TransportExceptionInterface $e) {
		echo "threw on try $try: ", $e->getMessage(), "\n";
	}
}
$transport = null; // -bs: QUIT, and the process ends
EOF

# symfony CASE MODE-ARGS: one send with the relay down, then the runner.
symfony() {
	local c="$1" args="$2" m="$M-$1" w="$T/sendmail.$1" ids
	relay_down
	: >"$T/runner.log"
	ct_wrapper "$w"
	php "$T/send.php" "$w $args" "$m" "$T/debug.$c" >"$T/php.out" 2>"$T/php.err" ||
		{ cat "$T/php.out" "$T/php.err" >&2; sx_fail "$c: php itself failed"; }
	grep -q -x 'sent on try 1' "$T/php.out" && [ "$(wc -l <"$T/php.out")" = 1 ] || {
		cat "$T/php.out" "$T/php.err" "$w.log" >&2
		sx_fail "$c: Symfony was not told success with the relay down (Messenger would retry)"
	}
	[ "$(grep -c '^exit ' "$w.log")" = 1 ] || sx_fail "$c: the binary ran more than once: $(cat "$w.log")"
	grep -q '^exit 0: ' "$w.log" || sx_fail "$c: the binary did not exit 0: $(cat "$w.log")"
	ids=$(queued_state deferred)
	[ -n "$ids" ] && [ "$(echo "$ids" | wc -l)" = 1 ] ||
		{ cat "$T/bp" >&2; sx_fail "$c: -bp does not list one deferred message"; }
	case $args in
	-bs)
		tr -d '\r' <"$T/debug.$c" >"$T/debug"
		grep -q -E "^< 250 (2\\.0\\.0 )?queued as $ids: .*; will be retried\$" "$T/debug" || {
			cat "$T/debug" >&2
			sx_fail "$c: no '250 queued as $ids: cause; will be retried' in Symfony's transcript (HELO: no enhanced code)"
		}
		;;
	*)
		grep -q "^exit 0: -i -f'\\?alice@localhost'\\? -- '\\?rcpt@example.org'\\?\$" "$w.log" ||
			sx_fail "$c: unexpected argv: $(cat "$w.log")"
		grep -q "^smtps-send: queued as $ids: connect: .*; will be retried\$" "$w.log" ||
			sx_fail "$c: no 'queued as ID: cause; will be retried' line: $(cat "$w.log")"
		;;
	esac
	never_delivered "$m"
	relay_up
	runner_start 5s
	stable_count "$m" 1
	queue_empty "$c"
	runner_stop
}

symfony bs -bs
echo "ok 1 SendmailTransport -bs, relay down: no exception, 250 queued as ID, deferred; the runner delivers once"
symfony t '-t -i'
echo "ok 2 SendmailTransport -t -i, relay down: no exception, exit 0, deferred; the runner delivers once"

echo "t_contract_symfony: 2 cases passed"
