#!/bin/sh
# End-to-end: no lost mail.  The queue against the real Postfix of lib.sh:
# server unreachable then back, queue_on_tempfail and -odq, a 5xx kept as
# failed, kill -9 during intake and during DATA, SIGTERM during a send, two
# concurrent flushes over 50 messages, an unusable queue directory.  Each
# case has its own queue directory (SMTPS_SEND_QUEUE_DIR); "exactly once"
# is checked by counting a unique marker in the Maildir until it is stable
# (Postfix delivers asynchronously).
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxq.XXXXXX)
bg=
sx_on_exit 'for p in $bg; do kill -9 $p 2>/dev/null; done; rm -rf "$T"'
sx_client_env starttls
n=0

next_marker() {
	n=$((n + 1))
	m="q$$-$n"
}

# newq NAME: a fresh private queue directory.
newq() {
	SMTPS_SEND_QUEUE_DIR=$T/$1
	export SMTPS_SEND_QUEUE_DIR
}

# run EXPECTED WHAT ARGS... (stdin as given); stdout $T/out, stderr $T/err
run() {
	want=$1
	what=$2
	shift 2
	"$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/out" "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

# count MARKER: delivered files containing MARKER.
count() {
	grep -l -r -F -e "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null | wc -l
}

# stable_count MARKER EXPECTED: wait until EXPECTED copies arrived, then make
# sure no further copy arrives for 1 s.
stable_count() {
	i=0
	while [ "$(count "$1")" -lt "$2" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	sleep 1
	c=$(count "$1")
	[ "$c" = "$2" ] || sx_fail "$1: delivered $c time(s), expected $2"
}

# queued: number of messages -bp lists.
queued() {
	"$BIN" -bp 2>/dev/null | grep -c -E '^[0-9a-f]{32} '
}

msg() {
	printf 'X-Test-Id: %s\nSubject: queue test\n\nbody of %s\n' "$1" "$1"
}

# 1. Server unreachable: queued means accepted (exit 0, one line with the
# cause); -bp shows it; back up: -q delivers once.
newq q1
next_marker
msg "$m" | SMTPS_SEND_PORT=1 run 0 "unreachable" -f alice@localhost rcpt@example.org
grep -q '^smtps-send: queued as [0-9a-f]\{32\}: connect: cannot connect to localhost port 1: .*; will be retried$' "$T/err" ||
	{ cat "$T/err" >&2; sx_fail "unreachable: not reported as queued with its cause"; }
grep -q -v -e '^smtps-send: queued as' -e '^smtps-send: hint: ' "$T/err" &&
	{ cat "$T/err" >&2; sx_fail "unreachable: more than the queued line and a hint"; }
run 0 "-bp" -bp
grep -q -E '^[0-9a-f]{32} +[0-9]+s +[0-9]+ deferred attempts=1 <alice@localhost> -> rcpt@example.org \| connect: ' "$T/out" ||
	{ cat "$T/out" >&2; sx_fail "-bp: unexpected listing"; }
[ "$(stat -c %a "$T/q1")" = 700 ] || sx_fail "queue directory is not 0700"
[ "$(stat -c %a "$T"/q1/*.meta)" = 600 ] || sx_fail "metadata is not 0600"
run 0 "flush" -q
stable_count "$m" 1
run 0 "-bp after flush" -bp
grep -q '^queue is empty' "$T/out" || sx_fail "queue not empty after -q"
[ -z "$(ls "$T/q1")" ] || sx_fail "files left in the queue: $(ls "$T/q1")"
echo "ok 1 unreachable: queued and accepted (0), listed, -q delivers once, queue empty"

# 1b. queue off (and queue_on_tempfail off, its old spelling): the caller is
# told it failed (75), so it is held: -q never sends it, --flush-id does.
for how in SMTPS_SEND_QUEUE=off SMTPS_SEND_QUEUE_ON_TEMPFAIL=off; do
	newq "q1b-${how%%=*}"
	next_marker
	msg "$m" | env SMTPS_SEND_PORT=1 "$how" "$BIN" -f alice@localhost rcpt@example.org \
		>"$T/out" 2>"$T/err"
	[ $? = 75 ] || { cat "$T/err" >&2; sx_fail "$how: expected 75"; }
	grep -q 'held (queue off): never sent unless named' "$T/err" || sx_fail "$how: not said held"
	id=$(ls "$SMTPS_SEND_QUEUE_DIR" | sed -n 's/\.msg$//p')
	run 0 "-bp held" -bp
	grep -q "^$id .* held attempts=1 " "$T/out" || { cat "$T/out" >&2; sx_fail "$how: -bp"; }
	run 0 "-q leaves held" -q
	sleep 0.5
	[ "$(count "$m")" = 0 ] || sx_fail "$how: -q sent a held message (the caller was told it failed)"
	run 0 "--flush-id held" --flush-id "$id"
	stable_count "$m" 1
done
echo "ok 1b queue off: 75, held, -q leaves it, --flush-id sends it once"

# 2. queue_on_tempfail: exit 0, queued; -odq: exit 0, queued, not sent now.
newq q2
next_marker
m1=$m
msg "$m1" | SMTPS_SEND_PORT=1 SMTPS_SEND_QUEUE_ON_TEMPFAIL=on \
	run 0 "queue_on_tempfail" -f alice@localhost rcpt@example.org
next_marker
m2=$m
msg "$m2" | run 0 "-odq" -odq -f alice@localhost rcpt@example.org
[ ! -s "$T/err" ] || sx_fail "-odq printed: $(cat "$T/err")"
[ "$(queued)" = 2 ] || sx_fail "queue_on_tempfail/-odq: expected 2 queued"
sleep 0.5
[ "$(count "$m2")" = 0 ] || sx_fail "-odq sent the message now"
run 0 "flush q2" -q
stable_count "$m1" 1
stable_count "$m2" 1
echo "ok 2 queue_on_tempfail and -odq exit 0 with the message queued; -q sends them"

# 3. A 5xx is kept as failed; -q does not retry it; --flush-id does; --queue-remove deletes.
newq q3
next_marker
msg "$m" | run 67 "5xx" -f alice@localhost reject-x@example.org
grep -q 'failed: never retried automatically' "$T/err" || sx_fail "5xx: not reported as failed"
id=$(ls "$T/q3" | sed -n 's/\.msg$//p')
run 0 "-bp 5xx" -bp
grep -q "^$id .* failed attempts=1 .*| rcpt: " "$T/out" || { cat "$T/out" >&2; sx_fail "5xx: -bp"; }
run 0 "-q skips failed" -q
run 0 "-bp after -q" -bp
grep -q "^$id .* failed attempts=1 " "$T/out" || sx_fail "5xx: -q retried a failed message"
run 67 "--flush-id" --flush-id "$id"
run 0 "-bp after --flush-id" -bp
grep -q "^$id .* failed attempts=2 " "$T/out" || sx_fail "5xx: --flush-id did not retry"
run 0 "--queue-remove" --queue-remove "$id"
[ "$(queued)" = 0 ] || sx_fail "--queue-remove left it"
run 64 "--queue-remove unknown" --queue-remove "$id"
[ "$(count "$m")" = 0 ] || sx_fail "5xx: delivered"
echo "ok 3 5xx kept as failed, -q leaves it, --flush-id retries, --queue-remove deletes"

# 4. kill -9 during intake (slow writer): nothing but a .tmp is left, -q
# sends nothing, nothing is delivered.
newq q4
next_marker
{
	printf 'X-Test-Id: %s\n\nfirst half\n' "$m"
	sleep 3
	printf 'second half\n'
} | "$BIN" -f alice@localhost rcpt@example.org >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
sleep 0.5
kill -9 $pid
wait $pid 2>/dev/null
ls "$T/q4" | grep -q '\.msg$' && sx_fail "intake kill: a .msg was left: $(ls "$T/q4")"
left=$(ls "$T/q4" | tr '\n' ' ')
# Nothing invisible: -bp shows the partial intake, -q removes it.
run 0 "-bp after intake kill, before -q" -bp
grep -q '^[0-9a-f]\{32\} .* partial (the sender died while the message was read; -q removes it)$' \
	"$T/out" || { cat "$T/out" >&2; sx_fail "intake kill: -bp does not show the partial intake"; }
run 0 "-q after intake kill" -q
run 0 "-bp after intake kill" -bp
grep -q '^queue is empty' "$T/out" || sx_fail "intake kill: -bp lists something"
sleep 0.5
[ "$(count "$m")" = 0 ] || sx_fail "intake kill: a partial message was delivered"
echo "ok 4 kill -9 during intake: no .msg (left: ${left:-nothing}), -q sends nothing, nothing delivered"

# 5. kill -9 during DATA (40 MB): still queued; -q delivers it exactly once.
newq q5
next_marker
{
	printf 'X-Test-Id: %s\nSubject: big\n\n' "$m"
	awk 'BEGIN { for (i = 0; i < 500000; i++) printf "%079d\n", i }'
} >"$T/big"
"$BIN" -v -f alice@localhost rcpt@example.org <"$T/big" >/dev/null 2>"$T/err5" &
pid=$!
bg="$bg $pid"
i=0
until grep -q '^smtps-send: .*rcpt: <rcpt@example.org>: 250' "$T/err5" 2>/dev/null ||
	grep -q 'rcpt.*250' "$T/err5" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 1000 ] && sx_fail "DATA kill: the session never reached RCPT"
	sleep 0.01
done
kill -9 $pid
wait $pid 2>/dev/null
sleep 1
[ "$(count "$m")" = 0 ] || sx_fail "DATA kill: delivered although killed during DATA (too fast?)"
[ "$(queued)" = 1 ] || sx_fail "DATA kill: not queued"
"$BIN" -bp | grep -q 'deferred attempts=1 .*the attempt did not finish' ||
	sx_fail "DATA kill: -bp does not say the attempt did not finish"
run 0 "-q after DATA kill" -q
stable_count "$m" 1
f=$(sx_wait_delivery "$m") || sx_fail "DATA kill: not delivered"
sed '1,/^$/d' "$T/big" >"$T/big.body"
sx_delivered_body "$f" | sed '1,/^$/d' | cmp -s - "$T/big.body" ||
	sx_fail "DATA kill: the delivered body differs"
[ "$(queued)" = 0 ] || sx_fail "DATA kill: queue not empty"
echo "ok 5 kill -9 during DATA: still queued, -q delivers it once, intact"

# 6. SIGTERM during a send (server accepts, never greets): 75, queued, reported.
newq q6
next_marker
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
print(s.getsockname()[1], flush=True)
time.sleep(20)
' >"$T/port" &
spid=$!
bg="$bg $spid"
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
msg "$m" | SMTPS_SEND_PORT=$(cat "$T/port") "$BIN" -v -f alice@localhost rcpt@example.org \
	>/dev/null 2>"$T/err6" &
pid=$!
bg="$bg $pid"
i=0
until grep -q 'connected to' "$T/err6" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 500 ] && sx_fail "SIGTERM: never connected"
	sleep 0.01
done
sleep 0.2
kill -TERM $pid
wait $pid
rc=$?
kill $spid 2>/dev/null
[ $rc = 0 ] || { cat "$T/err6" >&2; sx_fail "SIGTERM: exit $rc, expected 0 (queued)"; }
grep -q '^smtps-send: queued as [0-9a-f]*: greeting: interrupted by signal 15; will be retried' "$T/err6" ||
	sx_fail "SIGTERM: not reported as queued with its cause"
[ "$(queued)" = 1 ] || sx_fail "SIGTERM: not queued"
run 0 "-q after SIGTERM" -q
stable_count "$m" 1
echo "ok 6 SIGTERM during a send: queued and reported (0); -q delivers it"

# 7. Two concurrent -q over 50 queued messages: each delivered exactly once.
newq q7
next_marker
base=$m
i=1
while [ $i -le 50 ]; do
	msg "$base-$i." | run 0 "-odq $i" -odq -f alice@localhost rcpt@example.org
	i=$((i + 1))
done
[ "$(queued)" = 50 ] || sx_fail "concurrent: 50 not queued"
t0=$(date +%s%N)
"$BIN" -v -q >"$T/qa" 2>&1 &
pa=$!
"$BIN" -v -q >"$T/qb" 2>&1 &
pb=$!
bg="$bg $pa $pb"
wait $pa
ra=$?
wait $pb
rb=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ra = 0 ] && [ $rb = 0 ] || { cat "$T/qa" "$T/qb" >&2; sx_fail "concurrent: exit $ra/$rb"; }
stable_count "$base-" 50
i=1
while [ $i -le 50 ]; do
	c=$(count "$base-$i.")
	[ "$c" = 1 ] || sx_fail "concurrent: message $i delivered $c times"
	i=$((i + 1))
done
[ "$(queued)" = 0 ] || sx_fail "concurrent: queue not empty"
sa=$(grep -c ': sent$' "$T/qa")
sb=$(grep -c ': sent$' "$T/qb")
[ $((sa + sb)) = 50 ] || sx_fail "concurrent: flushers report $sa + $sb sent"
echo "ok 7 two concurrent -q over 50 messages: each delivered exactly once ($sa + $sb, ${ms} ms)"

# 8. Queue directory that cannot be created: 73, nothing read; with
# queue_fallback on the message is sent without a durable copy.
SMTPS_SEND_QUEUE_DIR=/proc/no/queue
export SMTPS_SEND_QUEUE_DIR
next_marker
msg "$m" | run 73 "no queue dir" -f alice@localhost rcpt@example.org
grep -q '/proc/no' "$T/err" || sx_fail "no queue dir: path not named"
msg "$m" | TMPDIR=$T SMTPS_SEND_QUEUE_FALLBACK=on run 0 "fallback" -f alice@localhost rcpt@example.org
grep -q 'without a durable copy' "$T/err" || sx_fail "fallback: not said"
stable_count "$m" 1
ls -d "$T"/smtps-send.* >/dev/null 2>&1 && sx_fail "fallback: temporary directory left"
echo "ok 8 unusable queue directory: 73 naming it; queue_fallback sends without a copy"

# 9. flush_on_send: a successful send then sends the due queued message.
newq q9
next_marker
m1=$m
msg "$m1" | run 0 "-odq for flush_on_send" -odq -f alice@localhost rcpt@example.org
next_marker
msg "$m" | SMTPS_SEND_FLUSH_ON_SEND=on run 0 "flush_on_send" -f alice@localhost rcpt@example.org
stable_count "$m" 1
stable_count "$m1" 1
[ "$(queued)" = 0 ] || sx_fail "flush_on_send: queue not empty"
echo "ok 9 flush_on_send: the queued message goes out after a successful send"

# 10. -bp shows an international address as it is in a UTF-8 locale, '?'
# in others; a bidirectional override is '?' in both (it could reorder
# what the terminal shows).
newq q10
next_marker
msg "$m" | run 0 "-odq UTF-8" -odq -f alice@localhost 'jörg@bücher.example'
msg "$m" | run 0 "-odq bidi" -odq -f alice@localhost "$(printf 'evil\342\200\256gpj@x.example')"
LC_ALL=C.UTF-8 run 0 "-bp UTF-8" -bp
grep -q -F -e '-> jörg@bücher.example ' "$T/out" || { cat "$T/out" >&2; sx_fail "-bp (UTF-8): address not shown as it is"; }
grep -q -F -e '-> evil?gpj@x.example ' "$T/out" || { cat "$T/out" >&2; sx_fail "-bp (UTF-8): bidi override shown"; }
LC_ALL=C run 0 "-bp C" -bp
grep -q -F -e '-> j??rg@b??cher.example ' "$T/out" || { cat "$T/out" >&2; sx_fail "-bp (C locale): non-ASCII not replaced"; }
echo "ok 10 -bp: UTF-8 addresses as they are in a UTF-8 locale, '?' otherwise; bidi overrides never"

echo "t_queue: 10 cases passed"
