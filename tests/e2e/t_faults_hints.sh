#!/bin/sh
# Hints for the well-known problems (issue 7), each triggered by what was
# observed, with the exact stage, exit status and hint text; bad certificates
# in both TLS modes named with their dates and names; and no secret in any
# output mode (plain, -v, -vv, --diag-format=json), failing or succeeding.
. tests/e2e/faults_lib.sh

# --- wrong TLS mode for the port ---------------------------------------------------------
# (implicit TLS against a plaintext greeting: t_faults_tls.sh, 20 times)
fx greeting-tls -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 greeting 'no answer from the server within 2 s$'
want_hint "no greeting: if port $FAKE_PORT expects implicit TLS \\(like 465\\), use tls implicit\$"
want_ms_below 4000
want_kept
rec 'plain == ""' 'cmds == []'
ok "STARTTLS against an implicit-TLS port: 75 greeting, 'use tls implicit' hint ($ms ms)"

# --- connect --------------------------------------------------------------------------
# conn_case PORT HINT-ERE: nothing listening on 127.0.0.1 PORT.
conn_case() {
	FX_ENV="SMTPS_SEND_HOST=127.0.0.1 SMTPS_SEND_PORT=$1" FX_NOCONN=1 \
	    fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
	want 75 connect "cannot connect to 127.0.0.1 port $1: Connection refused\$"
	want_hint "$2"
	want_kept
	rec 'c == []'
}
if ss -ltn 2>/dev/null | grep -q -E '[:.]25[[:space:]]'; then
	echo "ok - port 25 hint not tested: something listens on port 25 here"
else
	conn_case 25 'port 25 is often blocked by providers; submission uses port 587 \(STARTTLS\) or 465 \(implicit TLS\)$'
	ok "port 25 refused: 75 connect, 'use 587' hint"
fi
conn_case 1 'nothing listens on port 1 there; check host and port$'
ok "connection refused elsewhere: 75 connect, 'check host and port' hint"

# --- STARTTLS and AUTH availability --------------------------------------------------------
fx starttls-stripped -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 starttls 'the server does not offer STARTTLS$'
want_hint "TLS is required; if port $FAKE_PORT uses implicit TLS \\(like 465\\) use tls implicit; never send mail or passwords in cleartext\$"
want_kept
ok "STARTTLS not offered: 69 starttls, hint"

# tls off + auth_cleartext on, but the server offers AUTH only after STARTTLS.
FX_TLS=off FX_ENV=SMTPS_SEND_AUTH_CLEARTEXT=on fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 auth 'the server offers no authentication \(before TLS\)$'
want_hint 'this server may not need AUTH \(remove user\), or it offers AUTH only after TLS$'
want_kept
rec 'seq("EHLO client.test", "QUIT")' 'w["auth"] is None'
ok "AUTH offered only after TLS, TLS off: 69 auth, hint"

# tls off without auth_cleartext: refused by the configuration check, nothing sent.
FX_TLS=off FX_NOCONN=1 fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 78 config 'account default: tls is off, so authenticating would send the password in cleartext$'
want_hint 'turn tls on, or set auth_cleartext on if the network path is trusted$'
want_nothing_kept
rec 'c == []'
ok "TLS off with a user: 78 config before connecting"

fx auth-535 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 77 auth 'authentication as alice failed \(535\)$'
grep -q '^smtps-send: server said: 5.7.8 Error: authentication failed$' "$T/err" || fx_fail "reply"
want_hint 'check user and password; providers such as Gmail require an app password or OAuth2 \(oauth2_provider, oauth2_token_command: smtps-send.conf\(5\)\)$'
want_kept
ok "535: 77 auth, app-password hint"

# Microsoft 365's texts (issue 17): SMTP AUTH off for the mailbox; passwords refused.
FX_FAKE="--at AUTH" FX_FAKE1="--reply=AUTH=535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant." \
	fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 77 auth 'authentication as alice failed \(535\)$'
want_hint 'Microsoft 365: SMTP AUTH is disabled for this mailbox or tenant'
want_kept
ok "535 5.7.139: the administrator must enable SMTP AUTH"

FX_FAKE="--at AUTH" FX_FAKE1="--reply=AUTH=535 5.7.30 Basic authentication is not supported for Client Submission" \
	fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 77 auth 'authentication as alice failed \(535\)$'
want_hint "the server takes no passwords: use OAuth2, e.g. for Microsoft 365 add 'oauth2_provider microsoft' and 'oauth2_client_id ID'"
want_kept
ok "535 5.7.30: configure OAuth2, with the two lines"

FX_NOAUTH=1 fx auth-530-required -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 mail 'refused sender \(530\)$'
want_hint 'the server requires authentication: set user and a password$'
want_kept
ok "530 at MAIL: 69 mail, 'set user' hint"

for code in 550 553 554; do
	FX_FAKE1="--reply=MAIL=$code 5.7.1 Sender address rejected: not owned by user alice" \
	    fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
	want 69 mail "refused sender \\($code\\)\$"
	want_hint "sender <alice@localhost> not allowed for this account: set from to the account's address\$"
	want_kept
	rec 'nobody()'
done
ok "550/553/554 on MAIL FROM: 69 mail, 'sender not allowed' hint"

{
	printf 'Subject: big\n\n'
	awk 'BEGIN { for (i = 0; i < 30; i++) print "0123456789012345678901234567890123456789012345678901234567890123456789" }'
} >"$T/msg2k"
fx size-small -f "$FX_FROM" rcpt@example.org <"$T/msg2k"
want 69 mail 'the message is [0-9]{4} bytes; the server accepts at most 1000$'
want_hint 'send a smaller message \(large attachments: share a link instead\)$'
want_kept
ok "message larger than SIZE: 69 mail, hint"

# --- certificates, both TLS modes: named with dates and names, nothing sent ----------------
# The check runs once the handshake is done, before anything is read from or
# written to the session (RFC 3207 4.1, conn.h): not a byte of SMTP over TLS,
# not even the EHLO after STARTTLS.
# cert_case LEAF DETAIL-ERE HINT-ERE
cert_case() {
	for mode in starttls implicit; do
		if [ $mode = implicit ]; then
			fa=--implicit sc=good-implicit cmdrec='cmds == []'
		else
			fa= sc=good cmdrec='cmds == ["EHLO client.test", "STARTTLS"]'
		fi
		FX_LEAF=$1 FX_TLS=$mode FX_FAKE=$fa fx $sc -f "$FX_FROM" rcpt@example.org <"$T/msg"
		want 69 tls "$2"
		want_hint "$3"
		want_kept
		rec 'cleartext_ok()' 'w["auth"] is None' 'nobody()' 'tls == ""' "$cmdrec"
	done
}
cert_case expired 'certificate expired on 2021-01-01 00:00 UTC$' \
    "the server's certificate must be renewed; check the server's clock and this machine's clock\$"
ok "expired certificate (STARTTLS, implicit): 69 tls, date named"
cert_case notyet 'certificate is not valid until 2048-01-01 00:00 UTC$' "check this machine's clock\$"
ok "not-yet-valid certificate (STARTTLS, implicit): 69 tls, date named"
cert_case wrongname 'certificate is for wrong.example.net, not localhost$' \
    'connect with a host name the certificate lists$'
ok "wrong-name certificate (STARTTLS, implicit): 69 tls, names named"
FPR_RE='([0-9A-F]{2}:){31}[0-9A-F]{2}'
PIN_RE="or, once you have checked this certificate is the server's, trust it by its pin: tls_certcheck off, tls_fingerprint $FPR_RE\$"
cert_case selfsigned 'issuer not trusted: CN=localhost$' \
    "the trust file does not hold the issuer's CA certificate; $PIN_RE"
ok "self-signed certificate (STARTTLS, implicit): 69 tls, issuer named, pin offered"
cert_case untrusted 'issuer not trusted: CN=fakesmtp test CA2$' \
    "the trust file does not hold the issuer's CA certificate; $PIN_RE"
ok "certificate from an untrusted CA (STARTTLS, implicit): 69 tls, issuer named, pin offered"

# The leaf's SHA-256 as the hint and the note write it ("AB:CD:..."), from
# certtool (its first sha256 line; the second is the public key's).
leaf_fpr() {
	certtool -i --infile "$FAKE_CERTS/$1.pem" | sed -n 's/^[[:space:]]*sha256:\([0-9a-f]\{64\}\)$/\1/p' |
	    head -n 1 | tr a-f A-F | sed 's/../&:/g; s/:$//'
}

# Without tls_trust_file (system store): the hint names the ways out, the
# pin is the leaf's own, a note line gives the facts to check it by, and the
# pasted pin then works.  (an empty SMTPS_SEND_TLS_TRUST_FILE means unset)
FX_LEAF=selfsigned FX_ENV=SMTPS_SEND_TLS_TRUST_FILE= fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 tls 'issuer not trusted: CN=localhost$'
want_hint "self-signed or private CA: set tls_trust_file to its CA certificate; $PIN_RE"
want_kept
fpr=$(leaf_fpr selfsigned)
[ ${#fpr} -eq 95 ] || fx_fail "certtool gave no SHA-256 fingerprint for the self-signed leaf"
pasted=$(sed -n 's/^smtps-send: hint: .*trust it by its pin: tls_certcheck off, tls_fingerprint //p' "$T/err")
[ "$pasted" = "$fpr" ] || fx_fail "hint pins '$pasted', the leaf is $fpr"
grep -q -E -e "^smtps-send: note: the server's certificate: CN=localhost; issuer CN=localhost; names localhost, 127\\.0\\.0\\.1, ::1; expires [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC; SHA-256 $fpr\$" "$T/err" ||
    fx_fail "no note line with subject, issuer, names, expiry and SHA-256"
ok "self-signed against the system trust store: 69 tls, 'tls_trust_file or pin' hint with the leaf's SHA-256, note line"
rm -f "$Q"/*
FX_LEAF=selfsigned FX_ENV="SMTPS_SEND_TLS_TRUST_FILE= SMTPS_SEND_TLS_CERTCHECK=off SMTPS_SEND_TLS_FINGERPRINT=$fpr" fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
ok "the pin the hint offered, pasted: delivered"

# --- no secret in any output mode --------------------------------------------------------
# secret_check WHAT: stdout+stderr hold none of the password's forms.
secret_check() {
	cat "$T/out" "$T/err" >"$T/all"
	for s in "$FX_PASSWORD" "$FX_B64_PLAIN" "$FX_B64_PW" "$FX_B64_PW2" "$FX_B64_USERPW" \
	    "$FX_B64_USERPW2" "alice-secret"; do
		! grep -q -F -e "$s" "$T/all" || fx_fail "$1: '$s' appears in the output"
	done
}
for mech in plain login; do
	for sc in good auth-535; do
		for mode in "" -v -vv --diag-format=json "--diag-format=json -vv"; do
			FX_ENV="SMTPS_SEND_AUTH=$mech" fx $sc $mode -f "$FX_FROM" rcpt@example.org <"$T/msg"
			if [ $sc = good ]; then
				[ "$rc" = 0 ] || fx_fail "$mech $mode: exit $rc"
			else
				[ "$rc" = 77 ] || fx_fail "$mech $mode: exit $rc, expected 77"
				rm -f "$Q"/*
			fi
			[ ! -s "$T/out" ] || fx_fail "$mech $mode: stdout not empty"
			secret_check "$sc $mech ${mode:-quiet}"
			rec "w['auth']['mechanism'] == '$(echo $mech | tr a-z A-Z)'"
			case "$mode" in
			*json*)
				"$FAKE_PYTHON" tests/e2e/json_schema.py --exit "$rc" "$T/err" ||
				    fx_fail "$mech $mode: stderr does not conform to the JSON schema"
				;;
			esac
			case "$mode" in
			*-vv*)
				if [ $mech = plain ]; then
					grep -q -e '-> AUTH PLAIN \*\*\*\*\*\*\*\*' "$T/err" ||
					    fx_fail "$mech $mode: AUTH line not masked"
				else
					[ "$(grep -c -e '-> \*\*\*\*\*\*\*\*' "$T/err")" = 2 ] ||
					    fx_fail "$mech $mode: LOGIN lines not masked"
				fi
				;;
			esac
		done
	done
done
ok "no password or base64 credential in quiet, -v, -vv, JSON output (PLAIN, LOGIN; success, 535)"

# The failure report in JSON: error, reply, hint and context events.
fx auth-535 --diag-format=json -f "$FX_FROM" rcpt@example.org <"$T/msg"
[ "$rc" = 77 ] || fx_fail "json 535: exit $rc"
"$FAKE_PYTHON" - "$T/err" <<'EOF' || fx_fail "json failure events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
tail = [(e["event"], e["stage"]) for e in ev if e["event"] in ("error", "reply", "hint", "context")]
assert tail == [("error", "auth"), ("reply", "auth"), ("hint", "auth"), ("context", "auth")], tail
err = [e for e in ev if e["event"] == "error"][0]
assert err["msg"] == "authentication as alice failed (535)", err
assert [e for e in ev if e["event"] == "context"][0]["msg"].startswith("the message was kept in ")
EOF
rm -f "$Q"/*
ok "--diag-format=json failure: error/reply/hint/context events with stage auth"

echo "t_faults_hints: $ok_n cases passed"
