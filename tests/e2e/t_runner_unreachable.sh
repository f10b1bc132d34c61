#!/bin/sh
# End-to-end: the queue runner and a relay it cannot reach.  Three messages
# queued with -odq (due at once), the relay's port closed, the runner
# (-q1h) running for a few seconds: it connects once, not once per message,
# and does not start pass after pass woken by its own metadata writes; the
# other two stay queued, untried, until the first one's retry.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
ct_setup 3
M=unreach$$

for i in 1 2 3; do
	printf 'Subject: %s-%s\n\nbody\n' "$M" "$i" |
		"$BIN" -odq bob@localhost >"$T/out" 2>"$T/err" ||
		{ cat "$T/err" >&2; sx_fail "-odq message $i: exit $?"; }
done
listing
[ "$(grep -c '^[0-9a-f]\{32\}' "$T/bp")" = 3 ] || { cat "$T/bp" >&2; sx_fail "-odq: not 3 messages queued"; }

: >"$T/runner.log"
runner_start 1h
# Its first attempt (however busy the machine), then time enough for
# several more passes had the runner woken itself: they are 0.5 s apart.
_tried() { grep -q "connect: 127.0.0.1 port $CT_RELAY_PORT: " "$T/runner.log"; }
wait_for 30 _tried || { cat "$T/runner.log" >&2; sx_fail "the runner did not try the relay"; }
sleep 3
runner_stop
tries=$(grep -c "connect: 127.0.0.1 port $CT_RELAY_PORT: " "$T/runner.log")
[ "$tries" = 1 ] || {
	cat "$T/runner.log" >&2
	sx_fail "the runner connected $tries times to a relay it could not reach, expected once"
}
listing
[ "$(queued_state deferred | wc -l)" = 3 ] || { cat "$T/bp" >&2; sx_fail "not all 3 still queued"; }
never_delivered "$M"
echo "ok 1 runner, relay unreachable: one connection for three messages, no pass after pass"
echo "t_runner_unreachable: done"
