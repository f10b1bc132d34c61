#!/bin/sh
# End-to-end: SASL EXTERNAL (RFC 4422) with the configured TLS client
# certificate, against the scripted server (fakesmtp.py scenario external:
# --client-ca asks for a certificate, and EXTERNAL is accepted only when one
# was presented).  Queue off: each failure shows as its exit status.
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxx.XXXXXX)
sx_on_exit 'fake_stop; rm -rf "$T"'
mkdir -p "$T/q" "$T/home"
: >"$T/home/empty.conf"
printf 'Subject: external\n\nbody\n' >"$T/msg"

# send EXPECTED [VAR=value...]: auth external with the good client certificate.
send() {
	want=$1
	shift
	env SMTPS_SEND_QUEUE=off HOME="$T/home" SMTPS_SEND_CONFIG="$T/home/empty.conf" \
	    SMTPS_SEND_HOST=localhost SMTPS_SEND_PORT="${FAKE_PORT:-1}" SMTPS_SEND_TLS=starttls \
	    SMTPS_SEND_TIMEOUT=5 SMTPS_SEND_QUEUE_DIR="$T/q" SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" \
	    SMTPS_SEND_AUTH=external SMTPS_SEND_TLS_CERT_FILE="$FAKE_CERTS/good.pem" \
	    SMTPS_SEND_TLS_KEY_FILE="$FAKE_CERTS/good.key" "$@" \
	    "$BIN" -v -f alice@localhost rcpt@example.org <"$T/msg" >"$T/out" 2>"$T/err"
	rc=$?
	fake_wait 10 >/dev/null
	[ "$rc" = "$want" ] || sx_fail "exit $rc, expected $want: $(cat "$T/err")"
}

expect_err() {
	grep -q -e "$1" "$T/err" || sx_fail "stderr lacks '$1': $(cat "$T/err")"
}

fake_certs || sx_fail "cannot make the test certificates"

# 1. No user: an empty authorization identity ("="), the certificate's.
fake_start external --client-ca "$FAKE_CA" || sx_fail "fakesmtp did not start"
send 0
expect_err 'auth: EXTERNAL chosen: pinned by the auth setting (server offers: PLAIN LOGIN EXTERNAL)'
expect_err "auth: EXTERNAL as the certificate's identity: 235"
[ "$(fake_json 'c[0]["auth"]["mechanism"]')" = EXTERNAL ] || sx_fail "not EXTERNAL: $(fake_json 'c[0]["auth"]')"
[ "$(fake_json 'c[0]["auth"]["client_cert"]')" = localhost ] || sx_fail "no certificate: $(fake_json 'c[0]["auth"]')"
[ "$(fake_json '"AUTH EXTERNAL =" in c[0]["commands"]')" = true ] ||
	sx_fail "AUTH line: $(fake_json 'c[0]["commands"]')"
[ "$(fake_json 'len(c[0]["envelopes"])')" = 1 ] || sx_fail "message not sent"
echo "ok 1 EXTERNAL with the client certificate, empty authorization identity"

# 2. With a user: it is the authorization identity; no password is read.
fake_start external --client-ca "$FAKE_CA"
send 0 SMTPS_SEND_USER=alice SMTPS_SEND_PASSWORDEVAL="echo called >$T/evaluated"
[ "$(fake_json '"AUTH EXTERNAL YWxpY2U=" in c[0]["commands"]')" = true ] ||
	sx_fail "AUTH line: $(fake_json 'c[0]["commands"]')"
[ -e "$T/evaluated" ] && sx_fail "passwordeval ran for EXTERNAL"
echo "ok 2 EXTERNAL with the user as authorization identity, no password read"

# 3. auth on never picks EXTERNAL, even with a certificate configured.
fake_start external --client-ca "$FAKE_CA"
send 0 SMTPS_SEND_AUTH=on SMTPS_SEND_USER=alice SMTPS_SEND_PASSWORD=alice-secret-1
[ "$(fake_json 'c[0]["auth"]["mechanism"]')" = PLAIN ] || sx_fail "auth on: $(fake_json 'c[0]["auth"]')"
echo "ok 3 auth on prefers PLAIN; EXTERNAL only when pinned"

# 4. A server that asked for no certificate refuses it: 77, nothing sent.
fake_start external
send 77
expect_err 'auth: authentication as the certificate.s identity failed (535)'
[ "$(fake_json 'len(c[0]["envelopes"])')" = 0 ] || sx_fail "a message went out"
echo "ok 4 no certificate presented: refused"

# 5. A server without EXTERNAL: 69, naming what it offers.
fake_start good --client-ca "$FAKE_CA"
send 69
expect_err 'EXTERNAL is pinned (auth) but the server does not offer it (server offers: PLAIN LOGIN)'
echo "ok 5 EXTERNAL not offered"

# 6. No client certificate configured: a configuration error before any connection.
fake_stop
FAKE_PORT=1 send 78 SMTPS_SEND_TLS_CERT_FILE= SMTPS_SEND_TLS_KEY_FILE=
expect_err 'auth external needs tls_cert_file and tls_key_file'
echo "ok 6 auth external without a certificate is a configuration error"

echo "t_sasl_external: 6 cases passed"
