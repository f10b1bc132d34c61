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

exit 0
