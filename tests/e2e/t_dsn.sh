#!/bin/sh
# End-to-end: the sender is told when a queued message finally fails
# (issue 15).  A message is queued while the relay is down (the caller was
# told it was accepted); on the retry the real Postfix refuses it after the
# data (header_checks: 550).  Then exactly one delivery status notification
# reaches the envelope sender through the same relay, and Python's email
# package reads it as an RFC 3464 report naming the recipient and 5.x.x.
# A second run sends no second DSN; a message refused at once (the caller
# got 69) gets none; bounce off and a null sender get none either.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
ct_setup 4
M=dsn$$
SENDER=dsn-sender-$$@localhost

# queue MARKER [VAR=value...]: queued while the relay is down; prints the id.
queue_one() {
	mk=$1
	shift
	printf 'From: %s\nTo: rcpt@example.org\nX-Test-Id: %s\nX-Test-Action: reject\nSubject: doomed\n\nbody %s\n' \
		"$SENDER" "$mk" "$mk" | env "$@" "$BIN" -f "$SENDER" rcpt@example.org >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "$mk: exit $rc with the relay down, expected 0"; }
	sed -n 's/^smtps-send: queued as \([0-9a-f]\{32\}\): .*/\1/p' "$T/err"
}

# dsns: delivered DSNs about MARKER (the original's header block is in them).
dsns() {
	grep -l -r -F -e "$1" "$SX_MAILDIR/new" 2>/dev/null | xargs -r grep -l -F 'report-type=delivery-status' | wc -l
}

relay_down
id=$(queue_one "$M-1") || exit 1
relay_up
"$BIN" -q >"$T/qout" 2>&1
grep -q "^smtps-send: $id: failed: end-of-data: " "$T/qout" || { cat "$T/qout" >&2; sx_fail "the retry was not refused"; }
grep -q 'delivery status notification to <'"$SENDER"'> queued' "$T/qout" ||
	{ cat "$T/qout" >&2; sx_fail "no DSN queued"; }
wait_for 20 sh -c "[ \$(grep -l -r -F -e '$M-1' '$SX_MAILDIR/new' | xargs -r grep -l -F 'report-type=delivery-status' | wc -l) -ge 1 ]" ||
	sx_fail "the DSN was not delivered"
f=$(grep -l -r -F -e "$M-1" "$SX_MAILDIR/new" | xargs grep -l -F 'report-type=delivery-status' | head -1)
grep -q "^Delivered-To: $SENDER" "$f" || sx_fail "the DSN did not go to the envelope sender"
grep -q '^Return-Path: <>' "$f" || sx_fail "the DSN is not from the null sender"
sx_delivered_body "$f" >"$T/dsn.eml"
python3 tests/e2e/check_dsn.py "$T/dsn.eml" --rcpt rcpt@example.org >"$T/check" 2>&1 ||
	{ cat "$T/check" "$T/dsn.eml" >&2; sx_fail "the DSN does not parse as an RFC 3464 report"; }
grep -q 'Status: 5\.' "$T/dsn.eml" || sx_fail "the DSN has no 5.x.x status"
"$BIN" -q >"$T/qout" 2>&1
sleep 1
[ "$(dsns "$M-1")" = 1 ] || sx_fail "$(dsns "$M-1") DSNs for one failure"
echo "ok 1 a queued message refused on retry: one DSN to its sender, an RFC 3464 report"

# 2. Refused at once: the caller got 69, so no DSN.
printf 'X-Test-Id: %s\nX-Test-Action: reject\n\nbody\n' "$M-2" |
	"$BIN" -f "$SENDER" rcpt@example.org >"$T/out" 2>"$T/err"
[ $? = 69 ] || { cat "$T/err" >&2; sx_fail "refused at once: expected 69"; }
"$BIN" -q >"$T/qout" 2>&1
sleep 1
[ "$(dsns "$M-2")" = 0 ] || sx_fail "a DSN for a message whose caller was told it failed"
echo "ok 2 refused at once (69): no DSN"

# 3. bounce off, and the null sender: no DSN.
relay_down
queue_one "$M-3" SMTPS_SEND_BOUNCE=off >/dev/null || exit 1
relay_up
SMTPS_SEND_BOUNCE=off "$BIN" -q >"$T/qout" 2>&1
grep -q 'delivery status notification' "$T/qout" && sx_fail "bounce off: a DSN was queued"
relay_down
printf 'X-Test-Id: %s\nX-Test-Action: reject\n\nbody\n' "$M-4" | "$BIN" -f '<>' rcpt@example.org >"$T/out" 2>&1 ||
	sx_fail "null sender: not queued"
relay_up
"$BIN" -q >"$T/qout" 2>&1
grep -q 'delivery status notification' "$T/qout" && sx_fail "a DSN to the null sender"
sleep 1
[ "$(dsns "$M-3")" = 0 ] && [ "$(dsns "$M-4")" = 0 ] || sx_fail "a DSN was delivered for bounce off or <>"
echo "ok 3 bounce off and the null sender: no DSN"

# 4. Expired (queue_max_age): one DSN, with 4.4.7, and the message is kept.
relay_down
printf 'X-Test-Id: %s\n\nbody\n' "$M-5" |
	SMTPS_SEND_QUEUE_MAX_AGE=1s "$BIN" -f "$SENDER" rcpt@example.org >"$T/out" 2>"$T/err" ||
	sx_fail "expiry: not queued"
id5=$(sed -n 's/^smtps-send: queued as \([0-9a-f]\{32\}\): .*/\1/p' "$T/err")
sleep 2
relay_up
SMTPS_SEND_QUEUE_MAX_AGE=1s "$BIN" -q >"$T/qout" 2>&1
grep -q "^smtps-send: $id5: expired" "$T/qout" || { cat "$T/qout" >&2; sx_fail "expiry: not reported"; }
wait_for 20 sh -c "[ \$(grep -l -r -F -e '$M-5' '$SX_MAILDIR/new' | xargs -r grep -l -F 'report-type=delivery-status' | wc -l) -ge 1 ]" ||
	sx_fail "expiry: no DSN delivered"
f=$(grep -l -r -F -e "$M-5" "$SX_MAILDIR/new" | xargs grep -l -F 'report-type=delivery-status' | head -1)
sx_delivered_body "$f" >"$T/dsn5.eml"
python3 tests/e2e/check_dsn.py "$T/dsn5.eml" --status 4.4.7 --rcpt rcpt@example.org >"$T/check" 2>&1 ||
	{ cat "$T/check" >&2; sx_fail "expiry: the DSN is not a 4.4.7 report"; }
SMTPS_SEND_QUEUE_MAX_AGE=1s "$BIN" -q >"$T/qout" 2>&1
"$BIN" -bp >"$T/out" 2>&1
grep -q "^$id5 .* expired " "$T/out" || sx_fail "expiry: the message is not kept as expired"
sleep 1
[ "$(dsns "$M-5")" = 1 ] || sx_fail "expiry: $(dsns "$M-5") DSNs"
echo "ok 4 expired: one DSN (4.4.7), the message kept"
