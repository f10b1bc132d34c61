#!/bin/sh
# End-to-end: with --diag-format=json every line on stderr is one JSON
# event of the documented schema (smtps-send(1), DIAGNOSTICS; checked by
# json_schema.py: known events, their fields and types, the run's result
# last), in failing and succeeding cases against the real Postfix of
# lib.sh: a send (connect, TLS and result fields), -vv (the stage of each
# transcript line), a message queued because the relay is unreachable, a
# 550, queue off, -odq, a bad config, a bad argument, --check, -q over
# messages (down, then up: a relay that changed, per-message results and
# the summary), -q with a log file it cannot write, an expired message and
# its notification, queue_fallback, -bs, and the queue runner stopped by
# SIGTERM.
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
	echo "$rc" >"$T/rc" # run is often the end of a pipeline: a subshell
	if [ "$rc" != "$want" ]; then
		cat "$T/out" "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

# check WHAT [PYTHON]: $T/err conforms to the documented schema
# (json_schema.py: every line a known event with its fields, the last one
# the run's result with the exit status run saw); then PYTHON runs with ev (the
# events), named(NAME), msgs() (the results of messages in a queue run)
# and final (the run's result event).
check() {
	python3 - "$T/err" "$(cat "$T/rc")" "$2" <<'EOF' || { cat "$T/err" >&2; sx_fail "$1: stderr does not conform"; }
import json, sys
sys.path.insert(0, "tests/e2e")
import json_schema
lines = open(sys.argv[1], encoding="utf-8", errors="strict").readlines()
errs = json_schema.check_lines(lines, int(sys.argv[2]))
if errs:
    sys.exit("\n".join(errs))
ev = [json.loads(l) for l in lines]
final = ev[-1]
def named(name):
    return [e for e in ev if e["event"] == name]
def msgs():
    return [e for e in named("result") if "exit" not in e]
exec(sys.argv[3])
EOF
}

queued_ids() {
	ls "$SMTPS_SEND_QUEUE_DIR" 2>/dev/null | sed -n 's/\.meta$//p'
}

J=--diag-format=json

# 0. The checker: the man page documents every event and field it knows
# (and no other event), and it refuses what does not conform.
python3 tests/e2e/json_schema.py --check-man man/smtps-send.1 || sx_fail "schema and man page differ"
bad_line() {
	printf '{"ts":"2025-01-01T00:00:00.000Z","t_ms":0,"event":"%s","stage":"%s","msg":"m"%s}\n' "$@"
}
for bad in 'stage tls ,"bogus":1' 'wat quit ' 'queued connect ' 'stage nowhere ' \
    'error rcpt ,"code":"550"' 'result quit ,"exit":0,"state":"gone"' \
    'stage tls ,"fingerprint":"ab:cd"'; do
	set -- $bad
	{
		bad_line "$1" "$2" "${3:-}"
		bad_line result smtps-send ',"exit":0,"state":"none"'
	} >"$T/bad"
	! python3 tests/e2e/json_schema.py --exit 0 "$T/bad" 2>/dev/null || sx_fail "checker accepts: $bad"
done
bad_line result smtps-send ',"exit":0,"state":"none"' >"$T/bad"
bad_line hint quit '' >>"$T/bad"
! python3 tests/e2e/json_schema.py "$T/bad" 2>/dev/null || sx_fail "checker accepts a result not last"
bad_line result smtps-send ',"exit":0,"state":"none"' >"$T/bad"
python3 tests/e2e/json_schema.py --exit 0 "$T/bad" || sx_fail "checker refuses a good line"
! python3 tests/e2e/json_schema.py --exit 1 "$T/bad" 2>/dev/null || sx_fail "checker ignores the exit status"
ok "json_schema.py: agrees with the man page; refuses unknown events and fields, wrong types"

# The SHA-256 of the harness's good leaf, as the tls stage event shows it.
LEAF_FPR=$(python3 -c '
import hashlib, ssl, sys
der = ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())
print(":".join("%02X" % b for b in hashlib.sha256(der).digest()))' "$SX_RUNDIR/tls/good.crt")

# 1. A send that goes: stage events with their fields (connect: host, port,
# address; tls: version, cipher, the leaf's fingerprint and expiry), and
# the result: sent, exit 0, the message's id, relay and size.
n=$((n + 1))
msg "j$$-$n" | run 0 "send" $J -f alice@localhost rcpt@example.org
check "send" "
assert not named('error'), ev
assert any(e['stage'] == 'end-of-data' for e in ev), ev
c = [e for e in named('stage') if 'addr' in e]
assert len(c) == 1 and c[0]['stage'] == 'connect' and c[0]['host'] == 'localhost', c
assert c[0]['port'] == $SMTPS_SEND_PORT and c[0]['addr'] == '127.0.0.1', c
t = [e for e in named('stage') if 'tls_version' in e]
assert len(t) == 1 and t[0]['stage'] == 'tls' and t[0]['tls_version'].startswith('TLS1.'), t
assert t[0]['fingerprint'] == '$LEAF_FPR', (t, '$LEAF_FPR')
assert t[0]['cert_not_after'] > final['ts'], t
assert final['state'] == 'sent' and final['exit'] == 0 and len(final['id']) == 32, final
assert final['host'] == 'localhost' and final['port'] == $SMTPS_SEND_PORT, final
assert final['bytes'] > 40 and final['stage'] == 'smtps-send', final
"
ok "send: every line an event; connect, tls and result fields"

# 2. -vv: every transcript line carries the stage of its command, also the
# replies to pipelined commands read at once; AUTH masked.
n=$((n + 1))
msg "j$$-$n" | run 0 "send -vv" $J -vv -f alice@localhost rcpt@example.org
check "send -vv" '
w = named("send") + named("recv")
assert w and all(e["stage"] != "smtps-send" for e in w), [e for e in w if e["stage"] == "smtps-send"]
def st(prefix):
    return [e["stage"] for e in w if e["msg"].startswith(prefix)]
assert st("-> EHLO") == ["ehlo", "ehlo"] and st("-> STARTTLS") == ["starttls"], w
assert st("-> AUTH PLAIN ********") == ["auth"], w
assert st("-> MAIL FROM:") == ["mail"] and st("-> RCPT TO:") == ["rcpt"], w
assert st("-> BDAT ") == ["body"] and st("-> QUIT") == ["quit"], w
assert st("<- 220 ") == ["greeting", "starttls"] and st("<- 235") == ["auth"], w
# MAIL, RCPT, BDAT and QUIT went at once: their replies each at its stage.
assert st("<- 250 ") == ["ehlo", "ehlo", "mail", "rcpt", "end-of-data"], w
assert st("<- 221") == ["quit"], w
assert final["state"] == "sent", final
'
ok "-vv: send and recv events at the stage of their command"

# 3. Relay unreachable: queued (exit 0); the queued event carries the id,
# the relay and the stage; so does the result.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queued" $J -f alice@localhost rcpt@example.org
id=$(queued_ids)
[ -n "$id" ] || sx_fail "queued: nothing in the queue"
check "queued" "
q = named('queued')
assert len(q) == 1 and q[0]['id'] == '$id' and q[0]['stage'] == 'connect', q
assert q[0]['host'] == 'localhost' and q[0]['port'] == 1, q
assert final['state'] == 'queued' and final['id'] == '$id' and final['exit'] == 0, final
assert 'code' not in final, final
"
ok "relay unreachable: queued event with id, relay and stage; result queued"

# 4. Refused (550 5.1.1): error and reply with code and enhanced code; the
# result: failed, 67, the kept message's id, the code.
n=$((n + 1))
msg "j$$-$n" | run 67 "refused" $J -f alice@localhost reject-x@example.org
check "refused" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "rcpt", err
assert err[0]["code"] == 550 and err[0]["enhanced"] == "5.1.1" and err[0]["host"] == "localhost", err
r = named("reply")
assert len(r) == 1 and r[0]["code"] == 550 and r[0]["enhanced"] == "5.1.1", r
assert named("note") or named("context"), ev
assert final["state"] == "failed" and final["exit"] == 67 and final["stage"] == "rcpt", final
assert final["code"] == 550 and final["enhanced"] == "5.1.1" and len(final["id"]) == 32, final
'
ok "550: error and reply with code 550 and enhanced 5.1.1; result failed"
rm -f "$SMTPS_SEND_QUEUE_DIR"/*

# 5. queue off and the relay unreachable: held, 75.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_QUEUE=off SMTPS_SEND_PORT=1 run 75 "held" $J -f alice@localhost rcpt@example.org
check "held" '
assert not named("queued"), ev
assert final["state"] == "held" and final["exit"] == 75 and final["stage"] == "connect", final
assert len(final["id"]) == 32 and "code" not in final, final
'
rm -f "$SMTPS_SEND_QUEUE_DIR"/*
ok "queue off: result held, 75"

# 6. -odq: queued, not sent; its id on the stage event and the result.
n=$((n + 1))
msg "j$$-$n" | run 0 "-odq" $J -odq -f alice@localhost rcpt@example.org
id=$(queued_ids)
check "-odq" "
s = [e for e in named('stage') if 'id' in e]
assert len(s) == 1 and s[0]['id'] == '$id' and s[0]['stage'] == 'queue', s
assert final['state'] == 'queued' and final['id'] == '$id', final
"
ok "-odq: the queued id on a stage event and the result"

# 7. A bad configuration: nothing taken.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=notaport run 78 "bad config" $J -f alice@localhost rcpt@example.org
check "bad config" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "config", err
assert final["state"] == "none" and final["exit"] == 78 and "id" not in final, final
'
printf 'host localhost\nhots x\nport 0\n' >"$T/bad.conf"
chmod 600 "$T/bad.conf"
SMTPS_SEND_CONFIG=$T/bad.conf run 78 "two config errors" $J rcpt@example.org </dev/null
check "two config errors" "
err = named('error')
assert [(e['file'], e['line']) for e in err] == [('$T/bad.conf', 2), ('$T/bad.conf', 3)], err
assert named('hint')[0]['msg'] == 'did you mean host?', ev
assert final['exit'] == 78, final
"
SMTPS_SEND_CONFIG=$T/bad.conf run 78 "two config errors, text" rcpt@example.org </dev/null
[ "$(grep -c "^smtps-send: config: $T/bad.conf:[23]: " "$T/err")" = 2 ] ||
	{ cat "$T/err" >&2; sx_fail "text: not both config errors"; }
ok "bad config: an error event at stage config; result none, 78; every error of a file at once"

# 8. A bad argument after --diag-format=json (and a hint with it: -X).
run 64 "bad argv" $J --no-such-option rcpt@example.org </dev/null
check "bad argv" '
err = named("error")
assert len(err) == 1 and err[0]["stage"] == "arguments", err
assert final["exit"] == 64 and final["stage"] == "arguments", final
'
run 64 "bad argv -X" $J -X /tmp/x rcpt@example.org </dev/null
check "bad argv -X" 'assert named("error") and named("error")[0]["stage"] == "arguments", ev'
run 64 "bad -q interval" $J -qx </dev/null
check "bad -q interval" 'assert named("error")[0]["stage"] == "arguments", ev'
run 0 "--version" $J --version </dev/null
check "--version" 'assert len(ev) == 1 and final["exit"] == 0, ev'
ok "bad argument after --diag-format=json: error events; a result after --version too"

# 9. --check: the relay on the result, nothing sent.
run 0 "--check" $J --check </dev/null
check "--check" "
assert final['state'] == 'none' and final['host'] == 'localhost', final
assert final['port'] == $SMTPS_SEND_PORT and 'id' not in final, final
"
ok "--check: result with the relay"

# 10. -q with the relay down: per-message deferred results, the summary,
# and the run's result last.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue another" -f alice@localhost rcpt@example.org
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue another" -f alice@localhost rcpt@example.org
SMTPS_SEND_PORT=1 run 75 "-q down" $J -q
check "-q down" '
r = msgs()
assert r and all(e["state"] == "deferred" and len(e["id"]) == 32 for e in r), r
s = named("summary")
assert len(s) == 1 and s[0]["deferred"] >= 1 and s[0]["sent"] == 0, s
assert s[0]["interrupted"] == 0 and s[0]["failed"] == 0, s
assert ev[-2]["event"] == "summary" and final["exit"] == 75 and final["state"] == "none", ev
assert "host" not in final, final
'
ok "-q, relay down: deferred results, a summary, the run's result"

# 11. -q with the relay up and a log file it cannot write: the relay the
# messages were queued for changed; results sent; log errors; summary.
run 0 "-q up" $J -q
check "-q up, relay changed" '
assert named("relay_changed") and all("id" in e for e in named("relay_changed")), ev
r = msgs()
assert len(r) == 3 and all(e["state"] == "sent" for e in r), r
s = named("summary")
assert len(s) == 1 and s[0]["sent"] == 3 and s[0]["deferred"] == 0, s
assert final["exit"] == 0, final
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

# 12. An expired message and the notification to its sender.
n=$((n + 1))
msg "j$$-$n" | SMTPS_SEND_PORT=1 run 0 "queue to expire" -f alice@localhost rcpt@example.org
sleep 2
SMTPS_SEND_PORT=1 SMTPS_SEND_QUEUE_MAX_AGE=1s run 0 "-q expire" $J -q
check "-q expire" '
x = [e for e in msgs() if e["state"] == "expired"]
assert len(x) == 1, ev
assert all(e["state"] in ("queued", "failed") for e in named("dsn")), ev
'
run 0 "-q after expire" -q
ok "expired message and its notification: events"

# 13. queue_fallback: the queue directory cannot be made.
n=$((n + 1))
: >"$T/file"
msg "j$$-$n" | SMTPS_SEND_QUEUE_DIR=$T/file/q SMTPS_SEND_QUEUE_FALLBACK=on \
	run 0 "queue_fallback" $J -f alice@localhost rcpt@example.org
check "queue_fallback" 'assert len(named("queue_fallback")) == 1 and final["state"] == "sent", ev'
ok "queue_fallback notice: an event"

# 14. -bs: a result per message (sent, refused and kept as failed), the
# run's result last.
n=$((n + 1))
printf 'EHLO c\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nSubject: bs %s\r\n\r\nhi\r\n.\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Action: reject\r\n\r\nno\r\n.\r\nQUIT\r\n' "j$$-$n" |
	run 0 "-bs" $J -bs
check "-bs" '
r = msgs()
assert [e["state"] for e in r] == ["sent", "failed"], r
assert r[1]["code"] == 550 and all(len(e["id"]) == 32 for e in r), r
assert final["exit"] == 0 and final["state"] == "none", final
'
rm -f "$SMTPS_SEND_QUEUE_DIR"/*
ok "-bs: a result event per message"

# 15. The queue runner, started and stopped with SIGTERM.
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
echo "$rc" >"$T/rc"
[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "runner: exit $rc after SIGTERM"; }
check "runner" '
assert len(named("runner_start")) == 1 and named("runner_start")[0]["interval"] == 3600, ev
st = named("runner_stop")
assert len(st) == 1 and st[0]["signal"] == 15, ev
'
ok "queue runner: runner_start and runner_stop (SIGTERM) events"

echo "t_json: $ok_n cases passed"
