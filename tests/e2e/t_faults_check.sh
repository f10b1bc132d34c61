#!/bin/sh
# --check against the real Postfix of lib.sh in both TLS modes (issue 7):
# exit 0, the verdict and capabilities lines on stdout, nothing on stderr,
# no secret anywhere (also under -vv); and a failing check (wrong password)
# exits as a send would, with its stage.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxc.XXXXXX)
sx_on_exit 'rm -rf "$T"'
: >"$T/empty.conf"
export HOME="$T" XDG_CONFIG_HOME="$T" SMTPS_SEND_CONFIG="$T/empty.conf"

for mode in starttls implicit; do
	sx_client_env $mode
	"$BIN" --check >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 0 ] || { cat "$T/err" >&2; sx_fail "$mode: --check exit $rc"; }
	[ ! -s "$T/err" ] || { cat "$T/err" >&2; sx_fail "$mode: --check wrote to stderr"; }
	[ "$(sed -n 1p "$T/out")" = "smtps-send: localhost port $SMTPS_SEND_PORT: TLS $mode, AUTH PLAIN: OK" ] ||
	    sx_fail "$mode: verdict line is '$(sed -n 1p "$T/out")'"
	sx_grep_file '^  capabilities: PIPELINING .*8BITMIME .*SIZE( [0-9]+)? AUTH PLAIN LOGIN$' "$T/out"
	sx_grep_file '^  size limit: [0-9]+ bytes$' "$T/out"
	# Without -v: what a renewal reminder and a pin need.
	sx_grep_file '^  TLS: TLS1\.[23], certificate expires [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC \([0-9]+ days left\)$' "$T/out"
	fpr=$(sed -n 's/^  certificate SHA-256: //p' "$T/out")
	printf '%s\n' "$fpr" | grep -q -x -E '([0-9A-F]{2}:){31}[0-9A-F]{2}' ||
	    sx_fail "$mode: no certificate SHA-256 line"
	[ "$(wc -l <"$T/out")" -eq 5 ] || sx_fail "$mode: stdout has $(wc -l <"$T/out") lines, expected 5"
	# The fingerprint --check printed is the one to pin: pinned, the check passes
	# with chain verification off (tls_certcheck off needs a pin or says why not).
	SMTPS_SEND_TLS_FINGERPRINT=$fpr "$BIN" --check >"$T/out2" 2>"$T/err" ||
	    { cat "$T/err" >&2; sx_fail "$mode: --check with the printed fingerprint pinned failed"; }
	SMTPS_SEND_TLS_FINGERPRINT=$(printf '%s' "$fpr" | tr 0-9A-F 1-9A-F0) "$BIN" --check >"$T/out2" 2>"$T/err"
	sx_expect_exit 69 $? "$mode: --check with another fingerprint pinned"
	sx_grep_file '^smtps-send: tls: certificate fingerprint .* does not match tls_fingerprint' "$T/err"

	"$BIN" --check -vv >"$T/out" 2>"$T/err" || sx_fail "$mode: --check -vv failed"
	sx_grep_file '^smtps-send: \[ *[0-9]+ ms\] tls: .*verified' "$T/err"
	sx_grep_file "^smtps-send: \\[ *[0-9]+ ms\\] tls: SHA-256 fingerprint: $fpr\$" "$T/err"
	sx_grep_file '^smtps-send: +-> AUTH PLAIN \*\*\*\*\*\*\*\*$' "$T/err"
	! grep -q -F -e "$SX_PASS" "$T/out" "$T/err" || sx_fail "$mode: password in --check -vv output"
	! grep -q -F -e "$(printf '\000%s\000%s' "$SX_USER" "$SX_PASS" | base64 -w0)" "$T/err" ||
	    sx_fail "$mode: base64 credentials in --check -vv output"
	echo "ok --check ($mode): exit 0, verdict, capabilities, TLS and fingerprint, pin works, -vv masked"
done

sx_client_env starttls
printf 'wrong-password\n' >"$T/badpass"
SMTPS_SEND_PASSWORD_FILE=$T/badpass "$BIN" --check >"$T/out" 2>"$T/err"
rc=$?
sx_expect_exit 77 $rc "--check with a wrong password"
[ "$(sed -n 1p "$T/err")" = "smtps-send: auth: authentication as alice failed (535)" ] ||
    sx_fail "wrong password: first line '$(sed -n 1p "$T/err")'"
sx_grep_file '^smtps-send: hint: check user and password' "$T/err"
[ ! -s "$T/out" ] || sx_fail "wrong password: stdout not empty"
! grep -q 'kept' "$T/err" || sx_fail "--check mentions a kept message"
echo "ok --check with a wrong password: 77 auth"

sx_client_env implicit "$SX_PORT_EXPIRED_IMPLICIT"
"$BIN" --check >"$T/out" 2>"$T/err"
sx_expect_exit 69 $? "--check against an expired certificate"
sx_grep_file '^smtps-send: tls: certificate expired on ' "$T/err"
echo "ok --check against an expired certificate: 69 tls"
echo "t_faults_check: passed"
