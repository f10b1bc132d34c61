#!/bin/sh
# make demo: send one message through a private Postfix on 127.0.0.1 with
# STARTTLS (verified against a per-run test CA) and AUTH, and show what
# arrived.   SMTPS_SEND=/abs/path/smtps-send sh tests/demo.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e/lib.sh"
: "${SMTPS_SEND:=$(cd "$here/.." && pwd)/build/smtps-send}"

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root: it starts a private Postfix + Dovecot on 127.0.0.1" >&2
	echo "demo: (as root: make demo)" >&2
	exit 1
fi
if ! [ -x "$SMTPS_SEND" ]; then
	echo "demo: $SMTPS_SEND is not an executable (run make first)" >&2
	exit 1
fi

T=
cleanup() {
	sx_server_stop
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM
trap 'cleanup; trap - EXIT; exit 129' HUP

echo "== smtps-send demo"
echo "   starting a private Postfix (submission with STARTTLS + AUTH via Dovecot)"
echo "   on 127.0.0.1 with a test CA made for this run ..."
sx_server_start 2>/dev/null
rc=$?
if [ $rc -ne 0 ]; then
	echo "demo: the test server could not be started (status $rc)" >&2
	[ $rc -eq 77 ] && echo "demo: needs postfix dovecot-core gnutls-bin iproute2 (make deps)" >&2
	exit 1
fi
T=$(mktemp -d /tmp/sxd.XXXXXX) || exit 1
sx_client_env starttls
marker="demo-$(date +%s)-$$"

echo "   server: $SX_HOST port $SX_PORT_STARTTLS (STARTTLS), CA $SX_CA"
echo "   run dir: $SX_RUNDIR"
echo
echo "== environment given to smtps-send"
env | grep '^SMTPS_SEND_' | sort | sed 's/^/   /'
echo
cat >"$T/msg" <<EOF
From: Alice <alice@localhost>
To: someone@example.org
Subject: smtps-send demo ($marker)

Hello from smtps-send.
.this line starts with a dot (dot-stuffed if sent with DATA)
The end.
EOF
echo "== message on stdin"
sed 's/^/   | /' "$T/msg"
echo
echo "== $ $(basename "$SMTPS_SEND") -v -f alice@localhost someone@example.org < message"
"$SMTPS_SEND" -v -f alice@localhost someone@example.org <"$T/msg" >"$T/out" 2>"$T/err"
st=$?
sed 's/^/   /' "$T/out" "$T/err"
echo "   (exit status $st)"
echo
if [ $st -ne 0 ]; then
	echo "== smtps-send FAILED with exit status $st; nothing was delivered." >&2
	exit $st
fi

echo "== waiting for delivery into $SX_MAILDIR ..."
if ! f=$(sx_wait_delivery "$marker" 10); then
	echo "demo: smtps-send reported success but the message did not arrive" >&2
	tail -n 20 "$SX_RUNDIR/log/postfix.log" >&2
	exit 1
fi
echo "== delivered file $(basename "$f"):"
sed 's/^/   | /' "$f"
echo
echo "== done; stopping the server"
exit 0
