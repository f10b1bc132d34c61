#!/bin/sh
# End-to-end: SIGTERM at two moments.  Before the data, the send stops at
# once and the message is queued.  After the final dot the server may
# already have accepted the message, so the signal waits for the final reply
# (bounded by the timeout) instead of making a retry deliver it twice.
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxs.XXXXXX)
sx_on_exit 'fake_stop; rm -rf "$T"'
mkdir -p "$T/q" "$T/home"
: >"$T/home/empty.conf"
printf 'Subject: signal\n\nbody\n' >"$T/msg"
now_ms() { date +%s%3N; }

# run SCENARIO WAIT_EXPR: start a send, send SIGTERM once the record shows
# WAIT_EXPR true (empty: after 1 s; the client's timeout is 3 s), and time
# how long the client then took to exit.
run() {
	fake_start "$1" || sx_fail "$1: fakesmtp did not start"
	env -u SMTPS_SEND_PASSWORD_FILE HOME="$T/home" SMTPS_SEND_CONFIG="$T/home/empty.conf" \
	    SMTPS_SEND_HOST=localhost SMTPS_SEND_PORT="$FAKE_PORT" SMTPS_SEND_TLS=starttls \
	    SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TIMEOUT=3 SMTPS_SEND_QUEUE_DIR="$T/q" \
	    SMTPS_SEND_USER=alice SMTPS_SEND_PASSWORD=alice-secret-1 \
	    "$BIN" -f alice@localhost rcpt@example.org <"$T/msg" >"$T/out" 2>"$T/err" &
	pid=$!
	i=0
	if [ -z "$2" ]; then
		sleep 1
	else
		while [ $i -lt 10 ] && [ "$(fake_json "$2" 2>/dev/null)" != true ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	t0=$(now_ms)
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	ms=$(($(now_ms) - t0))
	fake_stop
}

# 1. Stalled before the greeting: the signal ends the wait at once.
run stall-before-greeting ''
# Queued for retry means accepted: exit 0, the cause on the queued line.
[ "$rc" = 0 ] || sx_fail "before greeting: exit $rc, expected 0 (queued): $(cat "$T/err")"
[ "$ms" -lt 1500 ] || sx_fail "before greeting: took $ms ms after SIGTERM"
grep -q '^smtps-send: queued as [0-9a-f]*: greeting: interrupted by signal 15; will be retried$' \
	"$T/err" || sx_fail "before greeting: $(cat "$T/err")"
[ "$(ls "$T"/q/*.msg | wc -l)" = 1 ] || sx_fail "before greeting: not kept"
rm -f "$T"/q/*
echo "ok 1 SIGTERM before the data: stops at once, message queued (exit 0)"

# 2. Stalled after the final dot: the signal waits for the reply's deadline.
run stall-after-dot 'c[0]["eom_count"] + len(c[0].get("bdat_chunks", [])) >= 1'
[ "$rc" = 0 ] || sx_fail "after dot: exit $rc, expected 0 (queued): $(cat "$T/err")"
[ "$ms" -ge 1500 ] || sx_fail "after dot: gave up after $ms ms, before the timeout"
grep -q 'interrupted by signal' "$T/err" && sx_fail "after dot: the signal cut the final wait"
grep -q 'may or may not' "$T/err" || sx_fail "after dot: no warning: $(cat "$T/err")"
echo "ok 2 SIGTERM after the final dot: waits for the reply (bounded), warns"

echo "t_signal_eom: 2 cases passed"
