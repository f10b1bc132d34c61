#!/bin/sh
# Diagnostics, second round (issue 18), against the real Postfix + Dovecot
# of lib.sh: the faults that can be made there.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
sx_on_exit 'rm -rf "$T"'
n=0
SMTPS_SEND_QUEUE_DIR=$T/q
SMTPS_SEND_QUEUE=off
SMTPS_SEND_CONFIG=$T/empty.conf
: >"$SMTPS_SEND_CONFIG"
export SMTPS_SEND_QUEUE_DIR SMTPS_SEND_QUEUE SMTPS_SEND_CONFIG

ok() {
	n=$((n + 1))
	echo "ok $n $*"
}

# send EXPECTED_EXIT NAME [smtps-send args...] < message; stderr in $T/err
send() {
	want=$1
	what=$2
	shift 2
	"$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

hint() {
	grep -q -E -e "^smtps-send: hint: $1" "$T/err" || {
		cat "$T/err" >&2
		sx_fail "no hint matching '$1'"
	}
}

printf 'Subject: diag\n\nhello\n' >"$T/msg"

# --- Postfix's "Relay access denied": the account lacks its login ---------------------------
sx_client_env starttls
unset SMTPS_SEND_USER SMTPS_SEND_PASSWORD SMTPS_SEND_PASSWORD_FILE
send 67 "relay denied" -v -f alice@localhost rcpt@norelay.example <"$T/msg"
grep -q -E '^smtps-send: rcpt: recipient <rcpt@norelay\.example> refused \(554\)$' "$T/err" ||
    sx_fail "relay denied: no rcpt failure line"
grep -q -E '^smtps-send: server said: 5\.7\.1 <rcpt@norelay\.example>: Relay access denied$' "$T/err" ||
    sx_fail "relay denied: Postfix's reply not shown"
hint 'the server relays only for authenticated users and offers AUTH, but no user is set: set user and a password$'
grep -q -E '\] rcpt: <rcpt@norelay\.example>: 554 5\.7\.1 ' "$T/err" || sx_fail "relay denied: no -v rcpt line"
grep -q -E '\] quit: connection closed after the failure \(' "$T/err" || sx_fail "relay denied: no closing line"
rm -rf "$T/q"
ok "554 Relay access denied, AUTH offered, no user: 67 rcpt, 'set user and a password' hint"

# The fix the hint names works: with the login the server would relay (the
# harness then refuses off-host delivery itself), and no such hint is given.
sx_client_env starttls
send 67 "relay with auth" -f alice@localhost rcpt@norelay.example <"$T/msg"
grep -q 'e2e harness delivers nothing off-host' "$T/err" || sx_fail "relay with auth: not relayed"
! grep -q 'no user is set' "$T/err" || sx_fail "relay with auth: the relay hint"
rm -rf "$T/q"
ok "the same recipient with user and password: relayed (the harness refuses off-host), no hint"

# --- a lone "." without -i: sendmail's rule, but the rest is not dropped unsaid ----------------
m="dot$$"
printf 'X-Test-Id: %s\nSubject: dot\n\nbefore the dot\n.\nafter the dot\n' "$m" >"$T/dot.msg"
sx_client_env starttls
send 0 "lone dot" -f alice@localhost rcpt@example.org <"$T/dot.msg"
grep -q -E '^smtps-send: warning: the line "\." \(line 5\) ended the message; 14 byte\(s\) of input after it were ignored \(-i or -oi keeps them\)$' "$T/err" ||
    { cat "$T/err" >&2; sx_fail "lone dot: no warning with the bytes ignored"; }
f=$(sx_wait_delivery "$m" 10) || sx_fail "lone dot: not delivered"
grep -q 'before the dot' "$f" || sx_fail "lone dot: the part before is missing"
! grep -q 'after the dot' "$f" || sx_fail "lone dot: the part after was sent"
rm -f "$f"
# From a pipe: "at least", since more may come.
cat "$T/dot.msg" | "$BIN" -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err" || sx_fail "lone dot from a pipe: exit $?"
grep -q -E '^smtps-send: warning: .*; (at least )?14 byte\(s\) of input after it were ignored' "$T/err" ||
    { cat "$T/err" >&2; sx_fail "lone dot from a pipe: no warning"; }
f=$(sx_wait_delivery "$m" 10) || sx_fail "lone dot from a pipe: not delivered"
rm -f "$f"
# -i keeps it all and says nothing.
send 0 "lone dot, -i" -i -f alice@localhost rcpt@example.org <"$T/dot.msg"
[ ! -s "$T/err" ] || sx_fail "lone dot with -i: stderr not empty"
f=$(sx_wait_delivery "$m" 10) || sx_fail "lone dot with -i: not delivered"
grep -q 'after the dot' "$f" || sx_fail "lone dot with -i: the part after is missing"
ok "lone '.' without -i: delivered up to it with a warning (bytes ignored, -i keeps them); -i keeps all"

exit 0
