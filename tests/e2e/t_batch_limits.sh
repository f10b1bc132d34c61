#!/bin/sh
# End-to-end: a provider's limits and a lost session in the middle of a
# batch (issue 19), with the scripted server (tests/e2e/fakesmtp.py).
#  1. 421 after 50 messages (messages per connection): the batch ends, 50
#     are delivered, the other 150 stay queued and deferred (none failed),
#     and the run says the relay takes no more.
#     1b. The same in JSON: every line of the documented schema.
#  2. 450 4.7.1 "too much mail" after 20 (Postfix's
#     smtpd_client_message_rate_limit, the session open): the same, and
#     the session ends with QUIT.
#  3. The connection reset before the verdict on message 51: the 50
#     confirmed ones are gone, nothing is lost (the rest go with the next
#     -q) and only the unconfirmed one can arrive twice.
#  4. Microsoft 365's "554 5.2.0 ...SubmissionQuotaExceededException" after
#     10: a quota, not the message: the batch ends, nothing is failed, the
#     rest stay deferred, -bp shows why.
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxl.XXXXXX)
sx_on_exit 'fake_stop; rm -rf "$T"'
for _v in $(env | sed -n 's/^\(SMTPS_SEND_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$_v"
done
M="bl$$"
FAKE_TIMEOUT=90
export FAKE_TIMEOUT

# queue DIR N: N messages (X-Test-Id <M-i>) queued with -odq for the fake.
queue() {
	i=1
	while [ "$i" -le "$2" ]; do
		printf 'Subject: %d\nX-Test-Id: <%s-%d>\n\nmessage %d\n' "$i" "$M" "$i" "$i" |
			SMTPS_SEND_QUEUE_DIR=$1 SMTPS_SEND_HOST=localhost SMTPS_SEND_PORT=9 HOME="$T" \
			    "$BIN" -odq -f alice@localhost "r$i@example.org" ||
			sx_fail "queue $i"
		i=$((i + 1))
	done
}

# run DIR [ARGS]: the binary against the fake, STARTTLS, alice.
run() {
	d=$1
	shift
	env HOME="$T" SMTPS_SEND_QUEUE_DIR="$d" SMTPS_SEND_HOST=localhost \
		SMTPS_SEND_PORT="$FAKE_PORT" SMTPS_SEND_TLS=starttls \
		SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_USER=alice \
		SMTPS_SEND_PASSWORD=alice-secret-1 SMTPS_SEND_MAX_MESSAGES_PER_SESSION=0 \
		SMTPS_SEND_TIMEOUT=10 "$BIN" "$@"
}

# The X-Test-Id numbers in the bodies the fake recorded (connection C, all when omitted).
bodies() {
	python3 -c '
import json, re, sys
r = json.load(open(sys.argv[1]))
cs = r["connections"] if len(sys.argv) < 3 else [r["connections"][int(sys.argv[2])]]
for c in cs:
    for b in c["data_bodies"]:
        m = re.search(r"X-Test-Id: <[^>]*-([0-9]+)>", b)
        print(m.group(1) if m else "?")
' "$FAKE_RECORD" "$@"
}

# 1. 421 after 50.
Q=$T/q1
queue "$Q" 200
fake_start batch-421 --after 50 --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q >"$T/out" 2>"$T/err"
rc=$?
fake_wait
[ $rc != 0 ] || sx_fail "421: -q exited 0"
[ "$(fake_json 'len(c)')" = 1 ] || sx_fail "421: $(fake_json 'len(c)') connections, expected 1"
[ "$(bodies | wc -l)" = 50 ] || sx_fail "421: $(bodies | wc -l) messages reached the server, expected 50"
run "$Q" -bp >"$T/bp" 2>&1
[ "$(grep -c ' deferred ' "$T/bp")" = 150 ] || {
	head -5 "$T/bp" >&2
	sx_fail "421: $(grep -c ' deferred ' "$T/bp") deferred, expected 150"
}
grep -q ' failed ' "$T/bp" && sx_fail "421: a message was marked failed"
grep -q '(421); server said: 4\.7\.0' "$T/bp" || sx_fail "421: no message names the 421"
grep -q 'said they take no more' "$T/err" || sx_fail "421: the run did not say the relay takes no more"
echo "ok 1 421 after 50: 50 delivered, 150 queued and deferred, none failed"

# 1b. The same in JSON (the 150 left, 421 after 10): every line of the
# documented schema, the relay_limit event among them.
fake_start batch-421 --after 10 --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q --diag-format=json >"$T/out" 2>"$T/err"
rc=$?
fake_wait
python3 tests/e2e/json_schema.py --exit "$rc" "$T/err" || { cat "$T/err" >&2; sx_fail "421 (JSON): not the schema"; }
grep -q '"event": *"relay_limit"' "$T/err" || { cat "$T/err" >&2; sx_fail "421 (JSON): no relay_limit event"; }
echo "ok 1b 421 in JSON: the relay_limit event, every line of the schema"

# 2. 450 4.7.1 after 20, the session left open: the batch ends with QUIT.
Q=$T/q2
queue "$Q" 60
fake_start batch-limit --after 20 --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q >"$T/out" 2>"$T/err"
fake_wait
[ "$(bodies | wc -l)" = 20 ] || sx_fail "4.7.1: $(bodies | wc -l) reached the server, expected 20"
[ "$(fake_json 'c[0]["quit_received"]')" = true ] || sx_fail "4.7.1: the session did not end with QUIT"
run "$Q" -bp >"$T/bp" 2>&1
[ "$(grep -c ' deferred ' "$T/bp")" = 40 ] || sx_fail "4.7.1: $(grep -c ' deferred ' "$T/bp") deferred, expected 40"
grep -q ' failed ' "$T/bp" && sx_fail "4.7.1: a message was marked failed"
echo "ok 2 450 4.7.1 after 20: 20 delivered, 40 deferred, QUIT"

# 4. A provider's sending quota (5xx in code) after 10.
Q=$T/q4
queue "$Q" 60
fake_start batch-quota --after 10 --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q >"$T/out" 2>"$T/err"
rc=$?
fake_wait
[ $rc = 75 ] || { cat "$T/err" >&2; sx_fail "quota: -q exited $rc, expected 75 (temporary)"; }
run "$Q" -bp >"$T/bp" 2>&1
grep -q ' failed ' "$T/bp" && { cat "$T/bp" >&2; sx_fail "quota: a message was marked failed"; }
[ "$(grep -c ' deferred ' "$T/bp")" = 50 ] || {
	cat "$T/bp" >&2
	sx_fail "quota: $(grep -c ' deferred ' "$T/bp") deferred, expected 50"
}
grep -q '(554); server said: 5\.2\.0 STOREDRV.*SubmissionQuotaExceeded' "$T/bp" ||
	{ cat "$T/bp" >&2; sx_fail "quota: -bp does not show the server's reply"; }
grep -q 'said they take no more' "$T/err" || sx_fail "quota: the run did not say the relay takes no more"
echo "ok 4 554 5.2.0 SubmissionQuotaExceeded after 10: 10 delivered, 50 deferred, none failed"

# 3. Reset before the verdict on message 51.
Q=$T/q3
queue "$Q" 200
fake_start batch-reset --after 50 --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q >"$T/out" 2>"$T/err"
fake_wait
bodies >"$T/first"
[ "$(wc -l <"$T/first")" = 51 ] || sx_fail "reset: $(wc -l <"$T/first") bodies reached the server, expected 51"
# What this run saw confirmed is gone; the rest is kept (the reset may
# also have cut replies the server had sent: those messages stay too).
grep -ho 'X-Test-Id: <[^>]*>' "$Q"/*.msg | sed 's/.*-\([0-9]*\)>$/\1/' | sort -n >"$T/left"
[ "$(wc -l <"$T/left")" -ge 150 ] || sx_fail "reset: only $(wc -l <"$T/left") left in the queue"
grep -q -x "$(sed -n 51p "$T/first")" "$T/left" || sx_fail "reset: the unconfirmed message was not kept"
fake_start chunking --caps CHUNKING || sx_fail "fakesmtp did not start"
run "$Q" -q >"$T/out" 2>"$T/err" || sx_fail "reset: the second -q failed: $(cat "$T/err")"
fake_wait
bodies >"$T/second"
[ -z "$(find "$Q" -name '*.msg')" ] || sx_fail "reset: messages left after the second -q"
# Nothing lost; nothing confirmed sent again (only what was kept goes twice).
[ "$(sort -n -u "$T/first" "$T/second" | wc -l)" = 200 ] || sx_fail "reset: messages lost"
sort -n "$T/second" | cmp -s - "$T/left" ||
	sx_fail "reset: the second -q sent other than what the first kept"
twice=$(sort -n "$T/first" "$T/second" | uniq -d | tr '\n' ' ')
echo "ok 3 reset before a verdict: nothing lost, nothing confirmed sent again (twice: $twice)"
