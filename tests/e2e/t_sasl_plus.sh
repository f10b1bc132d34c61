#!/bin/sh
# End-to-end: SCRAM's -PLUS variants (channel binding tls-exporter, RFC
# 9266) against tests/e2e/scramd.c, built here: a GnuTLS server with its
# own server side of SCRAM and its own exporter value (python's ssl module
# has none).  The ranking, a mismatched binding, a wrong and a missing
# server signature, the gs2 flag y (accepted by a server without binding,
# a downgrade for one with it), TLS 1.2 with and without the extended
# master secret, and an absurd iteration count.  Queue off, so each
# failure shows as its exit status; the last case turns it on.
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxp.XXXXXX)
sd_pid=
sx_on_exit 'sd_stop; rm -rf "$T"'
mkdir -p "$T/home" "$T/q"
: >"$T/home/empty.conf"

if ! command -v "${CC:-cc}" >/dev/null 2>&1 || ! pkg-config --exists gnutls 2>/dev/null; then
	echo "SKIP: a C compiler and GnuTLS' headers are needed to build scramd" >&2
	exit 77
fi
# shellcheck disable=SC2046
"${CC:-cc}" -O1 -Wall -o "$T/scramd" tests/e2e/scramd.c $(pkg-config --cflags --libs gnutls) \
    >"$T/cc.log" 2>&1 || sx_fail "cannot build scramd: $(cat "$T/cc.log")"
fake_certs || sx_fail "cannot make the test certificates"
MECHS="SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 PLAIN"

sd_stop() {
	if [ -n "$sd_pid" ]; then
		kill "$sd_pid" 2>/dev/null
		wait "$sd_pid" 2>/dev/null
	fi
	sd_pid=
}

# sd_start [scramd args]: one connection, implicit TLS, log in $T/log.
sd_start() {
	sd_stop
	rm -f "$T/port" "$T/log"
	"$T/scramd" -P "$T/port" -l "$T/log" -c "$FAKE_CERTS/good.pem" -k "$FAKE_CERTS/good.key" \
	    -t 15 "$@" &
	sd_pid=$!
	i=0
	while [ ! -s "$T/port" ]; do
		[ $i -ge 50 ] && sx_fail "scramd did not start"
		sleep 0.1
		i=$((i + 1))
	done
}

# send EXPECTED [VAR=value...]: one message to scramd; stderr in $T/err.
send() {
	want=$1
	shift
	printf 'Subject: plus\n\nbody\n' |
		env SMTPS_SEND_QUEUE=off HOME="$T/home" SMTPS_SEND_CONFIG="$T/home/empty.conf" \
		    SMTPS_SEND_HOST=localhost SMTPS_SEND_PORT="$(cat "$T/port")" \
		    SMTPS_SEND_TLS=implicit SMTPS_SEND_TLS_TRUST_FILE="$FAKE_CA" \
		    SMTPS_SEND_TIMEOUT=5 SMTPS_SEND_QUEUE_DIR="$T/q" SMTPS_SEND_USER=alice \
		    SMTPS_SEND_PASSWORD=alice-secret-1 SMTPS_SEND_FLUSH_ON_SEND=off "$@" \
		    "$BIN" -v -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err"
	rc=$?
	# scramd serves one connection; wait for it to log and leave.
	i=0
	while kill -0 "$sd_pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sd_stop
	if [ "$rc" != "$want" ]; then
		cat "$T/err" "$T/log" >&2
		sx_fail "exit $rc, expected $want"
	fi
}

expect_err() {
	grep -q -e "$1" "$T/err" || sx_fail "stderr lacks '$1': $(cat "$T/err")"
}
expect_log() {
	grep -q -e "$1" "$T/log" || sx_fail "scramd log lacks '$1': $(cat "$T/log")"
}
no_mail() {
	grep -q '^mail ' "$T/log" && sx_fail "a message went out: $(cat "$T/log")"
	return 0
}

# 1. TLS 1.3, everything offered: SCRAM-SHA-256-PLUS, bound to this session.
sd_start -m "$MECHS"
send 0
expect_err 'auth: SCRAM-SHA-256-PLUS chosen: the strongest offered'
expect_err 'auth: SCRAM-SHA-256-PLUS as alice: 235 .*gs2 flag p=tls-exporter'
expect_log '^tls TLS1.3'
expect_log '^auth mech=SCRAM-SHA-256-PLUS gs2=p binding=ok result=ok$'
expect_log '^data '
echo "ok 1 SCRAM-SHA-256-PLUS with tls-exporter on TLS 1.3"

# 2. -PLUS outranks a stronger hash without binding.
sd_start -m "PLAIN SCRAM-SHA-256 SCRAM-SHA-1-PLUS"
send 0
expect_log '^auth mech=SCRAM-SHA-1-PLUS gs2=p binding=ok result=ok$'
echo "ok 2 SCRAM-SHA-1-PLUS before SCRAM-SHA-256"

# 3. A mismatched binding (the server sees another TLS session): refused, nothing sent.
sd_start -m "$MECHS" -x badbind
send 77
expect_err 'auth: the server refused the SCRAM exchange: channel-bindings-dont-match'
expect_err 'hint: .*man in the middle'
expect_log 'binding=mismatch result=fail:channel-bindings-dont-match'
no_mail
echo "ok 3 a mismatched channel binding fails"

# 4.-5. The server cannot prove it knows the password: wrong or no signature.
sd_start -m "$MECHS" -x badsig
send 77
expect_err 'auth: the server could not prove it knows the password: wrong SCRAM server signature'
expect_err 'hint: the message was not sent'
expect_log '^auth client-cancelled-after-signature'
no_mail
sd_start -m "$MECHS" -x nosig
send 77
expect_err 'auth: the server could not prove it knows the password: it accepted the login without sending its SCRAM signature'
no_mail
echo "ok 4 a wrong or missing server signature fails hard, the message kept"

# 6. No -PLUS in the list but we could bind: flag y.  A server that does not
# bind accepts it; one that does sees the list was stripped and refuses.
sd_start -m "SCRAM-SHA-256 PLAIN"
send 0
expect_err 'gs2 flag y (we could bind; the server offers no -PLUS)'
expect_log '^auth mech=SCRAM-SHA-256 gs2=y binding=none result=ok$'
sd_start -m "SCRAM-SHA-256 PLAIN" -x binds
send 77
expect_err 'auth: the server refused the SCRAM exchange: server-does-support-channel-binding'
expect_err 'hint: .*something between us removed it'
no_mail
echo "ok 5 gs2 flag y: accepted without binding, a downgrade detected with it"

# 7. TLS 1.2 binds only with the extended master secret (RFC 9266).
sd_start -m "$MECHS" -p "NORMAL:-VERS-TLS1.3:%NO_SESSION_HASH"
send 0
expect_log '^tls TLS1.2 ems=0'
expect_err 'passed over SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS: no channel binding on this connection (TLS 1.2 without extended master secret)'
expect_log '^auth mech=SCRAM-SHA-256 gs2=n binding=none result=ok$'
sd_start -m "$MECHS" -p "NORMAL:-VERS-TLS1.3"
send 0
expect_log '^tls TLS1.2 ems=1'
expect_log '^auth mech=SCRAM-SHA-256-PLUS gs2=p binding=ok result=ok$'
sd_start -m "$MECHS" -p "NORMAL:-VERS-TLS1.3:%NO_SESSION_HASH"
send 69 SMTPS_SEND_AUTH=scram-sha-256-plus
expect_err 'SCRAM-SHA-256-PLUS is pinned (auth) but no channel binding on this connection (TLS 1.2 without extended master secret)'
grep -q '^auth ' "$T/log" && sx_fail "AUTH was tried: $(cat "$T/log")"
echo "ok 6 TLS 1.2: -PLUS with the extended master secret only"

# 8. An absurd iteration count is refused before any work, the exchange cancelled.
sd_start -m "$MECHS" -i 1000000000
send 76
expect_err 'auth: the server asks for 1000000000 SCRAM iterations: refusing more than 10000000'
expect_log 'result=cancelled'
echo "ok 7 10^9 iterations refused"

# 9. With the queue on, a server that cannot prove itself is not the
# message's fault: kept, queued for retry, exit 0.
sd_start -m "$MECHS" -x badsig
send 0 SMTPS_SEND_QUEUE=on
grep -q '^smtps-send: queued as [0-9a-f]*: auth: the server could not prove it knows the password' \
    "$T/err" || sx_fail "queue on: $(cat "$T/err")"
no_mail
echo "ok 8 queue on: queued for retry"

echo "t_sasl_plus: 8 cases passed"
