#!/bin/sh
# End-to-end: the optional TLS settings against the scripted server —
# SHA-256 pinning (with and without chain checking), a client certificate,
# and a GnuTLS priority string (good and bad).
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxo.XXXXXX)
sx_on_exit 'fake_stop; rm -rf "$T"'
mkdir -p "$T/q" "$T/home"
: >"$T/home/empty.conf"
printf 'Subject: tls options\n\nbody\n' >"$T/msg"

# send EXPECTED [VAR=value...]: one send against the running fake server.
send() {
	want=$1
	shift
	# queue off: a refusal shows as its exit status (sysexits), not as queued.
	env SMTPS_SEND_QUEUE=off HOME="$T/home" SMTPS_SEND_CONFIG="$T/home/empty.conf" SMTPS_SEND_HOST=localhost \
	    SMTPS_SEND_PORT="$FAKE_PORT" SMTPS_SEND_TLS=starttls SMTPS_SEND_TIMEOUT=5 \
	    SMTPS_SEND_QUEUE_DIR="$T/q" SMTPS_SEND_USER=alice SMTPS_SEND_PASSWORD=alice-secret-1 \
	    "$@" "$BIN" -v -f alice@localhost rcpt@example.org <"$T/msg" >"$T/out" 2>"$T/err"
	rc=$?
	fake_wait 10 >/dev/null
	[ "$rc" = "$want" ] || sx_fail "exit $rc, expected $want: $(cat "$T/err")"
	rm -f "$T"/q/*
}

fpr() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'
}

fake_start good || sx_fail "fakesmtp did not start"
GOOD_FPR=$(fpr "$FAKE_CERTS/good.pem")
SELF_FPR=$(fpr "$FAKE_CERTS/selfsigned.pem")
[ -n "$GOOD_FPR" ] && [ -n "$SELF_FPR" ] || sx_fail "no fingerprints"

# 1. Chain verified and the pin matches: sent.
send 0 SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TLS_FINGERPRINT="$GOOD_FPR"
grep -q 'fingerprint matched' "$T/err" || sx_fail "pin: -v does not say the pin matched"
echo "ok 1 pinned certificate with a verified chain"

# 2. Pin of another certificate: refused (69) before any AUTH.
fake_start good
send 69 SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TLS_FINGERPRINT="$SELF_FPR"
grep -q '^smtps-send: tls: certificate fingerprint .* does not match tls_fingerprint' "$T/err" ||
	sx_fail "wrong pin: $(cat "$T/err")"
[ "$(fake_json 'c[0]["auth"] is None')" = true ] || sx_fail "wrong pin: AUTH was sent"
echo "ok 2 wrong pin refused, no AUTH"

# 3. A self-signed server, chain checking off, pinned: sent (the pin is the trust).
FAKE_LEAF=selfsigned fake_start good
send 0 SMTPS_SEND_TLS_CERTCHECK=off SMTPS_SEND_TLS_FINGERPRINT="$SELF_FPR"
grep -q 'fingerprint matched (chain not checked)' "$T/err" || sx_fail "self-signed pin: $(cat "$T/err")"
echo "ok 3 self-signed server trusted by its pin alone"

# 4. Client certificate: the server asks for one and records who we were.
fake_start good --client-ca "$FAKE_CA"
send 0 SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TLS_CERT_FILE="$FAKE_CERTS/good.pem" \
    SMTPS_SEND_TLS_KEY_FILE="$FAKE_CERTS/good.key"
[ "$(fake_json 'c[0]["client_cert"]')" = localhost ] ||
	sx_fail "client certificate not presented: $(fake_json 'c[0]["client_cert"]')"
echo "ok 4 client certificate presented"

# 5. A priority string limiting TLS to 1.2 is honoured; a bad one is a config error.
fake_start good
send 0 SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TLS_PRIORITIES="NORMAL:-VERS-TLS1.3"
grep -q 'tls: TLS1.2' "$T/err" || sx_fail "priorities: $(grep 'tls: TLS' "$T/err")"
fake_start good
send 78 SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" SMTPS_SEND_TLS_PRIORITIES="NORMAL:+NO-SUCH-THING"
grep -q 'tls_priorities: .* at "+NO-SUCH-THING"' "$T/err" || sx_fail "bad priorities: $(cat "$T/err")"
echo "ok 5 tls_priorities honoured; a bad string names the bad part"

echo "t_tls_options: 5 cases passed"
