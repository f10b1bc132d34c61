#!/bin/sh
# End-to-end: SCRAM-SHA-1, SCRAM-SHA-256 and CRAM-MD5 against the real
# Dovecot behind the suite's Postfix (SX_PORT_SASL announces every
# mechanism Dovecot has), as alice and as bob, whose password has UTF-8,
# spaces and a colon.  Each case checks the exit status, the -v lines,
# the delivered message, and the mechanism in Postfix's log.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxa.XXXXXX)
sx_on_exit 'rm -rf "$T"'
mkdir -p "$T/home"
: >"$T/home/empty.conf"
n=0

# send EXPECTED_EXIT WHAT [VAR=value...]: one message with marker $m, -v (or
# -vv in $VV) into $T/err, queue off so that a failure shows as its status.
send() {
	want=$1
	what=$2
	shift 2
	n=$((n + 1))
	m="sasl$$-$n"
	printf 'X-Test-Id: %s\nSubject: %s\n\n%s\n' "$m" "$what" "$what" |
		env SMTPS_SEND_QUEUE=off SMTPS_SEND_QUEUE_DIR="$T/q" HOME="$T/home" \
		    SMTPS_SEND_CONFIG="$T/home/empty.conf" "$@" \
		    "$BIN" "${VV:--v}" -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

# logged MECH USER: Postfix logged this mechanism and user for the queue id -v showed.
logged() {
	id=$(sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' "$T/err" | tail -n 1)
	[ -n "$id" ] || sx_fail "no queue id in: $(cat "$T/err")"
	i=0
	while ! grep -q "$id: client=.*, sasl_method=$1, sasl_username=$2\$" \
	    "$SX_RUNDIR/log/postfix.log" 2>/dev/null; do
		[ $i -ge 100 ] && sx_fail "Postfix did not log $1 for $2 ($id): $(grep "$id" "$SX_RUNDIR/log/postfix.log")"
		sleep 0.05
		i=$((i + 1))
	done
}

delivered() {
	f=$(sx_wait_delivery "$m" 10) || sx_fail "$1: not delivered"
	grep -q "^$1\$" "$f" || sx_fail "$1: body missing from $f"
}

not_delivered() {
	sleep 0.5
	if grep -rqs -- "$m" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp"; then
		sx_fail "$m was delivered but must not have been"
	fi
}

expect_err() {
	grep -q -e "$1" "$T/err" || sx_fail "stderr lacks '$1': $(cat "$T/err")"
}

sx_client_env starttls "$SX_PORT_SASL"

# 1. auth on: the strongest offered is SCRAM-SHA-256; Dovecot proves it knows
# the password; TLS 1.3 could bind but no -PLUS is offered, so the flag is y.
send 0 "auto scram"
expect_err 'auth: SCRAM-SHA-256 chosen: the strongest offered (server offers: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256)'
expect_err 'auth: SCRAM-SHA-256 as alice: 235 .*(server signature verified, 4096 iterations, gs2 flag y '
delivered "auto scram"
logged SCRAM-SHA-256 alice
echo "ok 1 auth on picks SCRAM-SHA-256 from Dovecot; server signature verified"

# 2.-3. bob's password (UTF-8, spaces, a colon) with both SCRAM hashes.
send 0 "bob sha1" SMTPS_SEND_AUTH=scram-sha-1 SMTPS_SEND_USER="$SX_USER2" \
    SMTPS_SEND_PASSWORD_FILE="$SX_PASS2_FILE"
expect_err 'auth: SCRAM-SHA-1 chosen: pinned by the auth setting'
expect_err 'non-ASCII password normalised'
delivered "bob sha1"
logged SCRAM-SHA-1 bob
send 0 "bob sha256" SMTPS_SEND_AUTH=SCRAM-SHA-256 SMTPS_SEND_USER="$SX_USER2" \
    SMTPS_SEND_PASSWORD_FILE="$SX_PASS2_FILE"
delivered "bob sha256"
logged SCRAM-SHA-256 bob
echo "ok 2 SCRAM-SHA-1 and SCRAM-SHA-256 with a UTF-8 password with spaces and a colon"

# 4. CRAM-MD5, pinned (auth on never prefers it), for both users.
send 0 "cram alice" SMTPS_SEND_AUTH=cram-md5
expect_err 'auth: CRAM-MD5 as alice: 235'
delivered "cram alice"
logged CRAM-MD5 alice
send 0 "cram bob" SMTPS_SEND_AUTH=cram-md5 SMTPS_SEND_USER="$SX_USER2" \
    SMTPS_SEND_PASSWORD_FILE="$SX_PASS2_FILE"
delivered "cram bob"
logged CRAM-MD5 bob
echo "ok 3 CRAM-MD5 pinned, delivered"

# 5. A wrong password: Dovecot refuses the proof (535), nothing is sent (77).
printf 'not-the-password\n' >"$T/wrong"
chmod 600 "$T/wrong"
send 77 "wrong" SMTPS_SEND_PASSWORD_FILE="$T/wrong"
expect_err 'auth: authentication as alice failed (535)'
not_delivered
echo "ok 4 a wrong password is refused by Dovecot"

# 6. A pinned -PLUS that Dovecot does not offer: refused before any AUTH, naming the list.
send 69 "plus pinned" SMTPS_SEND_AUTH=scram-sha-256-plus
expect_err 'auth: no usable authentication mechanism: SCRAM-SHA-256-PLUS is pinned (auth) but the server does not offer it (server offers: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256)'
expect_err 'hint: set auth on'
not_delivered
echo "ok 5 a pinned mechanism the server lacks fails, listing what it offers"

# 7. -vv: every AUTH line we send is masked, and so is the server's signature.
VV=-vv send 0 "transcript"
expect_err '-> AUTH SCRAM-SHA-256 \*\*\*\*\*\*\*\*$'
grep -q '<- 334 ' "$T/err" || sx_fail "transcript: the server's first challenge is not shown"
[ "$(grep -c -e '-> \*\*\*\*\*\*\*\*$' "$T/err")" = 2 ] ||
	sx_fail "transcript: client-final and the empty answer not masked: $(grep -e '->' "$T/err")"
[ "$(grep -c -e '<- \*\*\*\*\*\*\*\*$' "$T/err")" = 1 ] ||
	sx_fail "transcript: the server signature is not masked"
grep -q -F -e "$SX_PASS" "$T/err" && sx_fail "transcript shows the password"
delivered "transcript"
echo "ok 6 -vv masks the proof and the server signature"

# 8. The other ports still announce PLAIN LOGIN only: PLAIN, as before.
sx_client_env starttls
send 0 "plain port"
expect_err 'auth: PLAIN chosen: the strongest offered (server offers: PLAIN LOGIN)'
logged PLAIN alice
echo "ok 7 PLAIN LOGIN ports unchanged"

echo "t_sasl_dovecot: 7 cases passed"
