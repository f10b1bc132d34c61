#!/bin/sh
# End-to-end: with --diag-format=json every line on stderr is one JSON
# object with "event" and "stage" (smtps-send(1), DIAGNOSTICS), in failing
# and succeeding cases against the real Postfix of lib.sh: a send, a
# message queued because the relay is unreachable, a 550, a bad config,
# a bad argument after --diag-format=json, -q over messages (down, then
# up: a relay that changed, per-message results and the summary), -q with
# a log file it cannot write, an expired message and its notification,
# queue_fallback, and the queue runner stopped by SIGTERM.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
command -v python3 >/dev/null 2>&1 || {
	echo "t_json: python3 not found"
	exit 77
}

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxj.XXXXXX)
runner=
sx_on_exit '[ -n "$runner" ] && kill -9 $runner 2>/dev/null; rm -rf "$T"'
sx_client_env starttls
HOME=$T/home
SMTPS_SEND_QUEUE_DIR=$T/q
export HOME SMTPS_SEND_QUEUE_DIR
mkdir -p "$HOME"
n=0
ok_n=0

ok() {
	ok_n=$((ok_n + 1))
	echo "ok $ok_n $1"
}

msg() {
	printf 'X-Test-Id: %s\nSubject: json test\n\nbody of %s\n' "$1" "$1"
}

# run EXPECTED WHAT ARGS...: the binary with stdin as given; stderr $T/err.
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

# check WHAT [PYTHON]: every line of $T/err is a JSON object with string
# "event" and "stage" and a "msg"; then PYTHON runs with ev, the events.
check() {
	python3 - "$T/err" "$2" <<'EOF' || { cat "$T/err" >&2; sx_fail "$1: stderr is not all JSON events"; }
import json, sys
ev = []
for n, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="strict"), 1):
    assert line.endswith("\n"), "line %d: no newline" % n
    try:
        e = json.loads(line)
    except ValueError as x:
        sys.exit("line %d is not JSON (%s): %r" % (n, x, line))
    assert isinstance(e, dict), "line %d: not an object" % n
    for k in ("event", "stage", "msg"):
        assert isinstance(e.get(k), str), "line %d: no string %s: %r" % (n, k, line)
    assert isinstance(e.get("t_ms"), int), "line %d: no t_ms" % n
    ev.append(e)
def named(name):
    return [e for e in ev if e["event"] == name]
exec(sys.argv[2])
EOF
}

queued_ids() {
	ls "$SMTPS_SEND_QUEUE_DIR" 2>/dev/null | sed -n 's/\.meta$//p'
}

J=--diag-format=json

# 1. A send that goes: stage events only, no result line needed.
n=$((n + 1))
msg "j$$-$n" | run 0 "send" $J -f alice@localhost rcpt@example.org
check "send" '
assert ev, "no event at all"
assert not named("error"), ev
assert any(e["stage"] == "end-of-data" for e in ev), ev
'
ok "send: every line an event"

# 2. Relay unreachable: queued (exit 0); the queued event carries the id.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queued" $J -f alice@localhost rcpt@example.org
id=$(queued_ids)
[ -n "$id" ] || sx_fail "queued: nothing in the queue"
check "queued" "
q = named('queued')
assert len(q) == 1 and q[0]['id'] == '$id' and q[0]['stage'] == 'connect', q
"
ok "relay unreachable: queued event with id and stage"

# 3. Refused (550 5.1.1): error and reply with code and enhanced code.
n=$((n + 1))
msg "j$$-$n" | run 67 "refused" $J -f alice@localhost reject-x@example.org
check "refused" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "rcpt", err
r = named("reply")
assert len(r) == 1 and r[0]["code"] == 550 and r[0]["enhanced"] == "5.1.1", r
assert named("note") or named("context"), ev
'
ok "550: error, reply with code 550 and enhanced 5.1.1"

# 4. A bad configuration.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=notaport run 78 "bad config" $J -f alice@localhost rcpt@example.org
check "bad config" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "config", err
'
ok "bad config: an error event at stage config"

# 5. A bad argument after --diag-format=json (and a hint with it: -X).
run 64 "bad argv" $J --no-such-option rcpt@example.org </dev/null
check "bad argv" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "arguments", err
'
run 64 "bad argv -X" $J -X /tmp/x rcpt@example.org </dev/null
check "bad argv -X" 'assert named("error") and named("error")[0]["stage"] == "arguments", ev'
run 64 "bad -q interval" $J -qx </dev/null
check "bad -q interval" 'assert named("error")[0]["stage"] == "arguments", ev'
ok "bad argument after --diag-format=json: error events"

# 6. -q with the relay down: per-message deferred results and the summary.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue another" -f alice@localhost rcpt@example.org
SMTPS_SEND_PORT=1 run 75 "-q down" $J -q
check "-q down" '
r = named("result")
assert r and all(e["state"] == "deferred" and len(e["id"]) == 32 for e in r), r
s = named("summary")
assert len(s) == 1 and s[0]["deferred"] >= 1 and s[0]["sent"] == 0, s
assert s[0]["interrupted"] == 0 and s[0]["failed"] == 0, s
'
ok "-q, relay down: deferred results and a summary"

# 7. -q with the relay up and a log file it cannot write: the relay the
# messages were queued for changed; results sent; log errors; summary.
run 0 "-q up" $J -q
check "-q up, relay changed" '
assert named("relay_changed") and all("id" in e for e in named("relay_changed")), ev
r = named("result")
assert len(r) == 2 and all(e["state"] == "sent" for e in r), r
s = named("summary")
assert len(s) == 1 and s[0]["sent"] == 2 and s[0]["deferred"] == 0, s
'
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue a third" -f alice@localhost rcpt@example.org
SMTPS_SEND_LOGFILE=$T run 0 "-q bad log" $J -q
check "-q bad log" '
l = named("log_error")
assert len(l) == 1 and l[0]["file"] and l[0]["reason"], l
assert named("summary")[0]["sent"] == 1, ev
'
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue a fourth" -f alice@localhost rcpt@example.org
SMTPS_SEND_LOGFILE=$T run 0 "-q bad log, text" -q
grep -q "^smtps-send: log: not writing log file $T: " "$T/err" ||
	{ cat "$T/err" >&2; sx_fail "text mode: the log error changed"; }
ok "-q, relay up: relay_changed, sent results, summary; log file errors as events"

# 8. An expired message and the notification to its sender.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue to expire" -f alice@localhost rcpt@example.org
sleep 2
SMTPS_SEND_PORT=1 SMTPS_SEND_QUEUE_MAX_AGE=1s run 0 "-q expire" $J -q
check "-q expire" '
x = [e for e in named("result") if e["state"] == "expired"]
assert len(x) == 1, ev
assert all(e["state"] in ("queued", "failed") for e in named("dsn")), ev
'
run 0 "-q after expire" -q
ok "expired message and its notification: events"

# 9. queue_fallback: the queue directory cannot be made.
n=$((n + 1))
: >"$T/file"
msg "j$$-$n" | SMTPS_SEND_QUEUE_DIR=$T/file/q SMTPS_SEND_QUEUE_FALLBACK=on \
	run 0 "queue_fallback" $J -f alice@localhost rcpt@example.org
check "queue_fallback" 'assert len(named("queue_fallback")) == 1, ev'
ok "queue_fallback notice: an event"

# 10. The queue runner, started and stopped with SIGTERM.
"$BIN" $J -q1h >"$T/out" 2>"$T/err" &
runner=$!
i=0
until grep -q runner_start "$T/err" 2>/dev/null || [ $i -gt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 0.3
kill -TERM $runner
wait $runner
rc=$?
runner=
[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "runner: exit $rc after SIGTERM"; }
check "runner" '
assert len(named("runner_start")) == 1 and named("runner_start")[0]["interval"] == 3600, ev
st = named("runner_stop")
assert len(st) == 1 and st[0]["signal"] == 15, ev
'
ok "queue runner: runner_start and runner_stop (SIGTERM) events"

echo "t_json: $ok_n cases passed"
