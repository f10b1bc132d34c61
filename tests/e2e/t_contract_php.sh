#!/bin/sh
# End-to-end, the sendmail contract (issue 15) with PHP's mail() (php-cli,
# sendmail_path = a wrapper that runs the binary under test with "-t -i"):
# with the relay down mail() returns true, -bp lists the message deferred,
# PHP does not retry, and the queue runner (-q5s, a shortened -q1m)
# delivers it exactly once when the relay is back, also when the runner was
# already running.  queue off: mail() returns false, the message is held,
# the runner leaves it alone over two intervals, --flush-id sends it once.
# A runner with a long interval notices a new (-odq) message at once.
# The relay is tests/e2e/relayproxy.py in front of the shared Postfix.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
command -v php >/dev/null 2>&1 || {
	echo "t_contract_php: php-cli missing (sh tests/deps.sh test): skip"
	exit 77
}
ct_setup 0
M=php$$

# The caller: an application that checks mail()'s result and, as they do,
# tries once more when it says false.  Prints "mail: true|false" and
# "retry: ..." when it retried.
cat >"$T/send.php" <<'EOF'
<?php
[$self, $marker, $retry] = $argv;
$headers = "From: alice@localhost\r\nX-Test-Id: $marker";
$send = fn() => mail("rcpt@example.org", "contract $marker", "body of $marker\n", $headers);
$ok = $send();
echo "mail: ", $ok ? "true" : "false", "\n";
if (!$ok && $retry === "1") {
	echo "retry: ", $send() ? "true" : "false", "\n";
}
EOF

# php_mail WRAPPER MARKER RETRY: stdout $T/php.out, stderr $T/php.err.
php_mail() {
	php -d sendmail_path="$1 -t -i" "$T/send.php" "$2" "$3" \
		>"$T/php.out" 2>"$T/php.err"
	[ $? = 0 ] || {
		cat "$T/php.out" "$T/php.err" >&2
		sx_fail "php itself failed"
	}
}

# told_success WRAPPER: PHP saw true once, did not retry, and the binary
# ran once, exited 0 and said why it queued.
told_success() {
	if ! grep -q -x 'mail: true' "$T/php.out" || grep -q '^retry' "$T/php.out"; then
		cat "$T/php.out" "$T/php.err" >&2
		sx_fail "mail() was not told success with the relay down (the caller would retry)"
	fi
	[ "$(grep -c '^exit ' "$1.log")" = 1 ] || sx_fail "the binary ran more than once: $(cat "$1.log")"
	grep -q -x 'exit 0: -t -i' "$1.log" || sx_fail "the binary did not exit 0: $(cat "$1.log")"
	grep -q '^smtps-send: queued as [0-9a-f]\{32\}: connect: .*; will be retried$' "$T/php.err" ||
		{ cat "$T/php.err" >&2; sx_fail "no 'queued as ID: cause; will be retried' line"; }
}

relay_down
ct_wrapper "$T/sendmail"

# 1. Relay down: true, deferred; relay up, then the runner: delivered once.
m=$M-1
php_mail "$T/sendmail" "$m" 1
told_success "$T/sendmail"
[ "$(queued_state deferred | wc -l)" = 1 ] || { cat "$T/bp" >&2; sx_fail "1: -bp does not list it deferred"; }
grep -q ' deferred attempts=1 <alice@localhost> -> rcpt@example.org | connect: ' "$T/bp" ||
	{ cat "$T/bp" >&2; sx_fail "1: -bp line"; }
never_delivered "$m"
relay_up
runner_start 5s
stable_count "$m" 1
queue_empty "1"
runner_stop
echo "ok 1 mail() with the relay down: true, no retry, deferred; the runner delivers it once"

# 2. The runner already running: it retries while the relay is down
# (attempts=2), and delivers once when the relay is back.
relay_down
: >"$T/runner.log"
runner_start 5s
m=$M-2
ct_wrapper "$T/sendmail.2"
php_mail "$T/sendmail.2" "$m" 1
told_success "$T/sendmail.2"
retried() {
	listing
	grep -q ' deferred attempts=2 ' "$T/bp"
}
wait_for 20 retried || { cat "$T/bp" "$T/runner.log" >&2; sx_fail "2: the runner did not retry within 20 s"; }
never_delivered "$m"
relay_up
stable_count "$m" 1 20
queue_empty "2"
runner_stop
echo "ok 2 runner already running: retries while the relay is down, delivers once when it is back"

# 3. queue off: false, held; the runner does not send it (a deferred control
# message in the same queue shows that it made passes with the relay up);
# --flush-id sends it once.
relay_down
: >"$T/runner.log"
ct_wrapper "$T/sendmail.off" SMTPS_SEND_QUEUE=off
m=$M-3
php_mail "$T/sendmail.off" "$m" 0
grep -q -x 'mail: false' "$T/php.out" || { cat "$T/php.out" "$T/php.err" >&2; sx_fail "3: mail() did not return false with queue off"; }
grep -q -x 'exit 75: -t -i' "$T/sendmail.off.log" || sx_fail "3: exit status: $(cat "$T/sendmail.off.log")"
grep -q 'held (queue off)' "$T/php.err" || { cat "$T/php.err" >&2; sx_fail "3: not said held"; }
id=$(queued_state held)
[ -n "$id" ] && [ "$(echo "$id" | wc -l)" = 1 ] || { cat "$T/bp" >&2; sx_fail "3: -bp does not list it held"; }
ct_wrapper "$T/sendmail.3"
php_mail "$T/sendmail.3" "$M-ctl3" 0
told_success "$T/sendmail.3"
relay_up
runner_start 5s
stable_count "$M-ctl3" 1
sleep 6 # the runner's second interval with the relay up
never_delivered "$m"
[ "$(queued_state held)" = "$id" ] || { cat "$T/bp" >&2; sx_fail "3: the held message is no longer listed held"; }
runner_stop
"$BIN" --flush-id "$id" >"$T/out" 2>&1 || { cat "$T/out" >&2; sx_fail "3: --flush-id failed"; }
stable_count "$m" 1
queue_empty "3"
echo "ok 3 queue off: mail() false, held; the runner leaves it over two intervals; --flush-id sends it once"

# 4. A runner with a long interval (-q1h) notices a new message at once
# (inotify): PHP with "-odq" in sendmail_path (queue, never wait for the
# relay), relay up: delivered within seconds, not an hour.
: >"$T/runner.log"
runner_start 1h
ct_wrapper "$T/sendmail.odq"
m=$M-4
php -d sendmail_path="$T/sendmail.odq -odq -t -i" "$T/send.php" "$m" 1 >"$T/php.out" 2>"$T/php.err" ||
	{ cat "$T/php.err" >&2; sx_fail "4: php itself failed"; }
grep -q -x 'mail: true' "$T/php.out" || { cat "$T/php.out" "$T/php.err" >&2; sx_fail "4: mail() did not return true"; }
grep -q -x 'exit 0: -odq -t -i' "$T/sendmail.odq.log" || sx_fail "4: exit status: $(cat "$T/sendmail.odq.log")"
stable_count "$m" 1 15
queue_empty "4"
runner_stop
echo "ok 4 runner -q1h, mail() through -odq: the runner notices it at once and delivers it once"

echo "t_contract_php: 4 cases passed"
