#!/bin/sh
# End-to-end, the sendmail contract (issue 15): the queue stands on its own.
# Messages are queued (relay down) by a sender configured only by SMTPS_SEND_*
# variables (a container, an application); later -bp, --queue-remove, -q
# and the runner -q5s run as "env -i SMTPS_SEND_QUEUE_DIR=DIR smtps-send ..."
# (cron's empty environment: no config file, no other variable) and work
# with the relay recorded with each message, which never holds the secret.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
for f in /etc/smtps-send.conf /usr/local/etc/smtps-send.conf; do
	if [ -e "$f" ]; then
		echo "t_contract_noconf: $f exists, so 'no config file' cannot be tested here: skip"
		exit 77
	fi
done
ct_setup 3
M=noconf$$

# bare ARGS...: the binary with nothing but the queue directory; exit status
# in $rc, stdout in $T/out, stderr in $T/err.
bare() {
	env -i SMTPS_SEND_QUEUE_DIR="$T/q" "$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# send MARKER: one message through the variables' relay, which is down.
send() {
	printf 'From: alice@localhost\nTo: rcpt@example.org\nX-Test-Id: %s\nSubject: noconf\n\nbody of %s\n' \
		"$1" "$1" | "$BIN" -t >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "send $1: exit $rc with the relay down, expected 0 (queued)"; }
	grep -q '^smtps-send: queued as [0-9a-f]\{32\}: connect: .*; will be retried$' "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "send $1: no 'queued as ID: cause; will be retried' line"; }
	sed -n 's/^smtps-send: queued as \([0-9a-f]\{32\}\): .*/\1/p' "$T/err"
}

relay_down
id1=$(send "$M-1") || exit 1
id2=$(send "$M-2") || exit 1
if grep -r -q -F -e "$SX_PASS" "$T/q"; then
	sx_fail "the password is in the queue directory"
fi

# -bp with no config: both listed, deferred, with their cause.
bare -bp
[ $rc = 0 ] || { cat "$T/out" "$T/err" >&2; sx_fail "env -i -bp: exit $rc"; }
for id in $id1 $id2; do
	grep -q -E "^$id +[0-9]+[smhd]? +[0-9]+ deferred attempts=1 <alice@localhost> -> rcpt@example.org \| connect: " "$T/out" ||
		{ cat "$T/out" >&2; sx_fail "env -i -bp does not list $id deferred"; }
done
echo "ok 1 env -i -bp: lists the queued messages with no config"

# --queue-remove with no config.
bare --queue-remove "$id2"
[ $rc = 0 ] || { cat "$T/out" "$T/err" >&2; sx_fail "env -i --queue-remove: exit $rc"; }
bare -bp
grep -q "^$id2 " "$T/out" && sx_fail "env -i --queue-remove left $id2"
grep -q "^$id1 " "$T/out" || sx_fail "env -i --queue-remove removed $id1 too"
echo "ok 2 env -i --queue-remove: removes it with no config"

# -q with no config, relay back: delivered once, to the recorded relay.
relay_up
bare -v -q
[ $rc = 0 ] || { cat "$T/out" "$T/err" >&2; sx_fail "env -i -q: exit $rc"; }
grep -q "using the relay recorded with the message (localhost port $CT_RELAY_PORT)" "$T/err" ||
	{ cat "$T/err" >&2; sx_fail "env -i -q -v does not say it used the recorded relay"; }
stable_count "$M-1" 1
never_delivered "$M-2"
bare -bp
grep -q '^queue is empty' "$T/out" || { cat "$T/out" >&2; sx_fail "env -i -q: queue not empty"; }
echo "ok 3 env -i -q: delivers the message to the relay recorded with it, once"

# The runner with no config: queued while the relay is down, delivered once
# when it is back.
relay_down
id3=$(send "$M-3") || exit 1
runner_start 5s -i SMTPS_SEND_QUEUE_DIR="$T/q"
relay_up
stable_count "$M-3" 1
grep -q "message $id3: account .* using the relay recorded with the message" "$T/runner.log" ||
	{ cat "$T/runner.log" >&2; sx_fail "env -i -q5s does not say it used the recorded relay"; }
queue_empty "runner"
runner_stop
echo "ok 4 env -i -q5s: the runner delivers it to the recorded relay once"

echo "t_contract_noconf: 4 cases passed"
