#!/bin/sh
# End-to-end: tls_resume against the real Postfix of lib.sh, which issues
# TLS 1.3 session tickets.  Off by default (no ticket directory appears);
# on, the second connection resumes in both TLS modes, the ticket file is
# 0600 in a 0700 directory, a resumed session is still checked against
# today's trust file (a CA replaced under the same path refuses it, and the
# ticket is dropped), and a ticket file others could read is not used.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
sx_on_exit 'rm -rf "$T"'
n=0

# Root's tickets live in /var/lib/smtps-send whatever XDG_STATE_HOME says;
# SMTPS_SEND_STATE_DIR (for tests and containers) keeps these private.
XDG_STATE_HOME=$T/state
SMTPS_SEND_STATE_DIR=$T/state/smtps-send
SMTPS_SEND_QUEUE_DIR=$T/q
export XDG_STATE_HOME SMTPS_SEND_STATE_DIR SMTPS_SEND_QUEUE_DIR
TICKETS=$T/state/smtps-send/tls

# send EXPECTED_EXIT NAME [args...]: a fresh message with a marker, -v on
# stderr in $T/err; sets m to the marker.
send() {
	want=$1
	what=$2
	shift 2
	n=$((n + 1))
	m="resume$$-$n"
	printf 'Subject: %s\nX-Test-Id: %s\n\nbody %s\n' "$what" "$m" "$m" >"$T/msg"
	"$BIN" -v "$@" -f alice@example.test alice@example.test <"$T/msg" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

resumed() { grep -q -E 'tls: TLS1\.3, .*, resumed \(tls_resume\)$' "$T/err"; }
tickets() { find "$TICKETS" -type f 2>/dev/null | wc -l; }

# --- off by default ---------------------------------------------------------------------
sx_client_env starttls
send 0 "default, first"
send 0 "default, second"
resumed && sx_fail "resumed without tls_resume"
[ -e "$T/state/smtps-send" ] && sx_fail "a state directory appeared without tls_resume"
sx_wait_delivery "$m" >/dev/null || sx_fail "default: not delivered"
echo "ok - tls_resume off (default): no resumption, no ticket directory"

# --- on: the second connection resumes, in both modes -----------------------------------
SMTPS_SEND_TLS_RESUME=on
export SMTPS_SEND_TLS_RESUME
for mode in starttls implicit; do
	sx_client_env $mode
	rm -rf "$TICKETS"
	send 0 "$mode, first"
	resumed && sx_fail "$mode: the first connection claims resumption"
	[ "$(tickets)" = 1 ] || sx_fail "$mode: $(tickets) ticket files after the first send, expected 1"
	send 0 "$mode, second"
	resumed || { cat "$T/err" >&2; sx_fail "$mode: the second connection did not resume"; }
	sx_grep_file 'tls: expires .*; verified$' "$T/err"
	sx_wait_delivery "$m" >/dev/null || sx_fail "$mode: resumed send not delivered"
	[ "$(tickets)" = 1 ] || sx_fail "$mode: $(tickets) ticket files, expected 1 (one per relay)"
	f=$(find "$TICKETS" -type f)
	[ "$(stat -c %a "$f")" = 600 ] || sx_fail "$mode: ticket file mode $(stat -c %a "$f")"
	[ "$(stat -c %a "$TICKETS")" = 700 ] || sx_fail "$mode: ticket dir mode $(stat -c %a "$TICKETS")"
	echo "ok - tls_resume on, $mode: the second connection resumes and is verified; 0600 file in a 0700 dir"
done

# --- a resumed session is checked against today's trust file ------------------------------
sx_client_env implicit
rm -rf "$TICKETS"
cp "$SX_CA" "$T/ca.pem"
SMTPS_SEND_TLS_TRUST_FILE=$T/ca.pem
export SMTPS_SEND_TLS_TRUST_FILE
send 0 "trust, first"
cp "$SX_RUNDIR/tls/ca2.crt" "$T/ca.pem"
SMTPS_SEND_QUEUE=off send 69 "trust replaced"
sx_grep_file 'tls: issuer not trusted: CN=smtps-send test CA \(resumed session; its saved ticket was dropped\)$' "$T/err"
sx_grep_file 'kept in ' "$T/err"
[ "$(tickets)" = 0 ] || sx_fail "trust replaced: the ticket of the refused session was kept"
SMTPS_SEND_QUEUE=off send 69 "trust replaced, again"
grep -q 'resumed session' "$T/err" && sx_fail "trust replaced: resumed again after the ticket was dropped"
sx_grep_file 'tls: issuer not trusted: CN=smtps-send test CA$' "$T/err"
echo "ok - a resumed session whose saved chain no longer verifies is refused (69) and its ticket dropped"

# --- a ticket others could read is not used ------------------------------------------------
sx_client_env starttls
rm -rf "$TICKETS"
send 0 "perm, first"
chmod 644 "$TICKETS"/*
send 0 "perm, second"
resumed && sx_fail "a group/world-readable ticket file was used"
f=$(find "$TICKETS" -type f)
[ "$(stat -c %a "$f")" = 600 ] || sx_fail "perm: the replacement ticket is $(stat -c %a "$f")"
send 0 "perm, third"
resumed || sx_fail "perm: the replacement ticket was not used"
echo "ok - a ticket file readable by others is ignored and replaced by a private one"

# --- a ticket directory others can write, or a second name: not trusted ---------------------
rm -rf "$TICKETS"
send 0 "dir, first"
send 0 "dir, second"
resumed || sx_fail "dir: the ticket was not used to begin with"
chmod 0770 "$TICKETS"
send 0 "dir, group-writable"
resumed && sx_fail "a ticket in a group-writable directory was used"
chmod 0700 "$TICKETS"
send 0 "dir, back to 0700"
resumed || sx_fail "dir: the ticket was not used once the directory was private again"
f=$(find "$TICKETS" -type f | head -1)
ln "$f" "$T/second-name"
send 0 "dir, hard link"
resumed && sx_fail "a ticket with a second name (hard link) was used"
echo "ok - a ticket directory others can write, or a ticket with two names, is not used"
