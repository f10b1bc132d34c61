#!/bin/sh
# End-to-end: OAuth2 (issue 17).  Part 1, real components: the suite's
# Postfix offers XOAUTH2 and OAUTHBEARER on SX_PORT_OAUTH2 through Dovecot's
# oauth2 passdb, which asks the test identity provider (idp.py, HTTPS with
# the test CA) whether a token is good; smtps-send gets its tokens from the
# same provider with smtps-send-oauth2.  Part 2, the scripted server
# (fakesmtp.py --oauth-token): the error challenge of both mechanisms, an
# 8 KiB token, masking in -vv and JSON.
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
chmod 700 "$T"
IDP_PID=
sx_on_exit '[ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null; fake_stop; rm -rf "$T"'
n=0

# Everything private: no config, queue or state of the machine's.
unset SMTPS_SEND_PASSWORD SMTPS_SEND_PASSWORD_FILE SMTPS_SEND_PASSWORDEVAL SMTPS_SEND_ACCOUNT
HOME=$T
SMTPS_SEND_CONFIG=$T/conf
SMTPS_SEND_STATE_DIR=$T/state
SMTPS_SEND_QUEUE_DIR=$T/q
SMTPS_SEND_QUEUE=off
export HOME SMTPS_SEND_CONFIG SMTPS_SEND_STATE_DIR SMTPS_SEND_QUEUE_DIR SMTPS_SEND_QUEUE
STORE=$T/state/oauth2/default.json
IDP=https://localhost:$SX_PORT_IDP

# run EXPECTED NAME [args...] < input: stdout in $T/out, stderr in $T/err
run() {
	want=$1
	what=$2
	shift 2
	"$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/out" "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

next_marker() {
	n=$((n + 1))
	m="oauth$$-$n"
}

delivered() {
	sx_wait_delivery "$1" 10 >/dev/null || sx_fail "message $1 was not delivered"
}

# idp METHOD PATH: call the provider (admin endpoints, stats)
idp() {
	python3 - "$1" "$IDP$2" "$SX_CA" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[3])
req = urllib.request.Request(sys.argv[2], method=sys.argv[1], data=b"" if sys.argv[1] == "POST" else None)
print(urllib.request.urlopen(req, context=ctx, timeout=10).read().decode())
PY
}

# idp_stat NAME: one of the provider's counters
idp_stat() {
	idp GET /admin/stats | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

# no_secret FILE...: no token or refresh token of the store appears in FILE
no_secret() {
	for tok in $(python3 -c "import json; d=json.load(open('$STORE')); print(d.get('access_token',''), d.get('refresh_token',''))"); do
		if grep -q -F -- "$tok" "$@"; then
			sx_fail "a token appears in $*"
		fi
	done
}

python3 tests/e2e/idp.py --port "$SX_PORT_IDP" --cert "$SX_RUNDIR/tls/good.crt" \
	--key "$SX_RUNDIR/tls/good.key" --user "$SX_USER" --rotate --refresh-delay 0.5 --client-secret cs-1 \
	--max-seconds 200 --log "$T/idp.log" >"$T/idp.out" 2>&1 &
IDP_PID=$!
i=0
until grep -q ready "$T/idp.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && sx_fail "the identity provider did not start: $(cat "$T/idp.out")"
	sleep 0.05
done

cat >"$T/conf" <<EOF
host $SX_HOST
port $SX_PORT_OAUTH2
tls starttls
tls_trust_file $SX_CA
user $SX_USER
oauth2_provider custom
oauth2_client_id smtps-send-test
oauth2_token_url $IDP/token
oauth2_device_url $IDP/device
oauth2_auth_url $IDP/authorize
oauth2_scope smtp
oauth2_trust_file $SX_CA
EOF
chmod 600 "$T/conf"

# 1. Not authorized yet: a clear configuration error, nothing sent.
next_marker
printf 'Subject: %s\n\nx\n' "$m" | run 78 "unauthorized" -f alice@localhost rcpt@example.org || exit 1
grep -q -- "--oauth2-authorize" "$T/err" || sx_fail "no --oauth2-authorize hint: $(cat "$T/err")"

# 2. --oauth2-authorize, device flow: code shown, authorization_pending, then tokens.
SMTPS_SEND_OAUTH2_FLOW=device run 0 "authorize (device)" --oauth2-authorize </dev/null
grep -q "WDJB-MJHT" "$T/err" || sx_fail "the user code was not shown: $(cat "$T/err")"
[ "$(idp_stat device_poll)" = 2 ] || sx_fail "device flow: expected a pending poll, then success"
[ "$(stat -c %a "$STORE")" = 600 ] || sx_fail "token store mode $(stat -c %a "$STORE")"
[ "$(stat -c %a "$T/state/oauth2")" = 700 ] || sx_fail "token store directory not 0700"
no_secret "$T/err" "$T/out"

# 2b. The same in JSON: the prompt and the outcome are events of the
# documented schema like every other line (the code and URL as fields).
SMTPS_SEND_OAUTH2_FLOW=device run 0 "authorize (device, JSON)" --oauth2-authorize --diag-format=json </dev/null
python3 tests/e2e/json_schema.py --exit 0 "$T/err" || sx_fail "authorize (JSON): not the schema: $(cat "$T/err")"
grep -q '"event":"authorize".*"code":"WDJB-MJHT"' "$T/err" || sx_fail "authorize (JSON): no code field: $(cat "$T/err")"
grep -q '"event":"authorized"' "$T/err" || sx_fail "authorize (JSON): no authorized event: $(cat "$T/err")"
no_secret "$T/err" "$T/out"

# 3. A send with each mechanism through Postfix + Dovecot's oauth2 passdb; the
# stored access token is reused (no refresh).
for mech in xoauth2 oauthbearer; do
	next_marker
	printf 'Subject: %s\n\nx\n' "$m" |
		SMTPS_SEND_AUTH=$mech run 0 "send $mech" -vv -f alice@localhost rcpt@example.org || exit 1
	delivered "$m"
	up=$(echo $mech | tr a-z A-Z)
	grep -q "AUTH $up \*\*\*\*\*\*\*\*" "$T/err" || sx_fail "$mech: no masked AUTH line in -vv"
	no_secret "$T/err"
done
[ "$(idp_stat refresh)" = 0 ] || sx_fail "a valid stored token was refreshed"

# 4. --check: the mechanism and the token's expiry, never the token.
run 0 "check" --check
grep -q "AUTH OAUTHBEARER: OK" "$T/out" || sx_fail "check: $(cat "$T/out")"
grep -q "OAuth2 token: from the token store, expires in" "$T/out" || sx_fail "check: $(cat "$T/out")"
no_secret "$T/out" "$T/err"

# 5. The access token expired at the provider (the store still thinks it good):
# the server refuses it, one refresh, AUTH again in the same session.
idp POST /admin/expire >/dev/null
old=$(python3 -c "import json; print(json.load(open('$STORE'))['refresh_token'])")
next_marker
printf 'Subject: %s\n\nx\n' "$m" |
	run 0 "expired token" -v --diag-format=json -f alice@localhost rcpt@example.org || exit 1
delivered "$m"
[ "$(idp_stat refresh)" = 1 ] || sx_fail "expected one refresh, got $(idp_stat refresh)"
grep -q "with a refreshed token" "$T/err" || sx_fail "no retry in the session: $(cat "$T/err")"
[ "$(grep -c '"stage":"connect"' "$T/err")" -le 1 ] || sx_fail "more than one connection"
new=$(python3 -c "import json; print(json.load(open('$STORE'))['refresh_token'])")
[ "$old" != "$new" ] || sx_fail "the rotated refresh token was not saved"
no_secret "$T/err"
grep -q -F -- "$old" "$T/err" && sx_fail "the old refresh token appears in the output"

# 6. Two sends at once with an expired token: one refresh; the other waits and reuses it.
idp POST /admin/expire >/dev/null
before=$(idp_stat refresh)
next_marker
m1=$m
next_marker
m2=$m
printf 'Subject: %s\n\nx\n' "$m1" | "$BIN" -f alice@localhost rcpt@example.org 2>"$T/err1" &
p1=$!
printf 'Subject: %s\n\nx\n' "$m2" | "$BIN" -f alice@localhost rcpt@example.org 2>"$T/err2" &
p2=$!
wait $p1 || sx_fail "concurrent send 1: $(cat "$T/err1")"
wait $p2 || sx_fail "concurrent send 2: $(cat "$T/err2")"
delivered "$m1"
delivered "$m2"
[ "$(idp_stat refresh)" = $((before + 1)) ] || sx_fail "concurrent sends: $(($(idp_stat refresh) - before)) refreshes, expected 1"

# 7. --oauth2-authorize, browser flow: the URL (PKCE, state, loopback redirect)
# opened by a "browser" that follows the provider's redirect to our port.
SMTPS_SEND_OAUTH2_FLOW=browser "$BIN" --oauth2-authorize </dev/null >"$T/out" 2>"$T/err" &
pa=$!
i=0
until url=$(grep -o "$IDP/authorize?[^ ]*" "$T/err"); do
	i=$((i + 1))
	[ $i -gt 100 ] && sx_fail "no authorization URL: $(cat "$T/err")"
	sleep 0.05
done
case $url in *code_challenge_method=S256*state=*|*state=*code_challenge_method=S256*) ;; *)
	case $url in *code_challenge=*) ;; *) sx_fail "no PKCE in $url" ;; esac ;;
esac
python3 - "$url" "$SX_CA" <<'PY' || sx_fail "the browser step failed"
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
print(opener.open(sys.argv[1], timeout=10).read().decode())
PY
wait $pa || sx_fail "authorize (browser): $(cat "$T/err")"
[ "$(idp_stat authorization_code)" = 1 ] || sx_fail "no authorization code exchanged"
next_marker
printf 'Subject: %s\n\nx\n' "$m" | run 0 "send after browser flow" -f alice@localhost rcpt@example.org || exit 1
delivered "$m"

# 8. The refresh token revoked (and the access token expired): a clear
# authentication failure (77, queue off), nothing delivered; with the queue
# on the message is kept for a later retry.
idp POST /admin/revoke >/dev/null
idp POST /admin/expire >/dev/null
next_marker
printf 'Subject: %s\n\nx\n' "$m" | run 77 "revoked" -f alice@localhost rcpt@example.org || exit 1
grep -q "invalid_grant" "$T/err" || sx_fail "revoked: $(cat "$T/err")"
grep -q -- "--oauth2-authorize" "$T/err" || sx_fail "revoked: no hint: $(cat "$T/err")"
next_marker
printf 'Subject: %s\n\nx\n' "$m" |
	SMTPS_SEND_QUEUE=on SMTPS_SEND_FLUSH_ON_SEND=off run 0 "revoked, queue on" -f alice@localhost rcpt@example.org || exit 1
grep -q "queued as" "$T/err" || sx_fail "revoked, queue on: $(cat "$T/err")"
run 0 "queue list" -bp
grep -q "rcpt@example.org" "$T/out" || sx_fail "the message was not kept: $(cat "$T/out")"

# 9. --dump-config: the OAuth2 keys, secrets masked.
SMTPS_SEND_OAUTH2_CLIENT_SECRET=cs-very-secret SMTPS_SEND_OAUTH2_TOKEN=tok-very-secret \
	run 0 "dump-config" --dump-config
grep -q "^oauth2_client_secret  *\*\*\*\*\*\*\*\*" "$T/out" || sx_fail "client secret not masked"
grep -q "^oauth2_token  *\*\*\*\*\*\*\*\*" "$T/out" || sx_fail "token not masked"
grep -q "very-secret" "$T/out" && sx_fail "a secret in --dump-config"
grep -q "^oauth2_provider  *custom" "$T/out" || sx_fail "oauth2_provider not shown"

# 10. Client credentials (Microsoft's application-only tokens, the container
# case): no authorization step, the client secret from a file, the token
# stored and reused by the next send.
printf 'cs-1\n' >"$T/cs"
chmod 600 "$T/cs"
sed 's/^oauth2_provider .*/oauth2_provider custom\noauth2_flow client_credentials/' "$T/conf" >"$T/conf-cc"
printf 'oauth2_client_secret_file %s\n' "$T/cs" >>"$T/conf-cc"
chmod 600 "$T/conf-cc"
for i in 1 2; do
	next_marker
	printf 'Subject: %s\n\nx\n' "$m" | SMTPS_SEND_CONFIG=$T/conf-cc SMTPS_SEND_STATE_DIR=$T/state-cc \
		run 0 "client credentials $i" -f alice@localhost rcpt@example.org || exit 1
	delivered "$m"
done
[ "$(idp_stat client_credentials)" = 1 ] || sx_fail "client credentials: expected one token request"
printf 'wrong\n' >"$T/cs"
rm -rf "$T/state-cc"
printf 'Subject: x\n\nx\n' | SMTPS_SEND_CONFIG=$T/conf-cc SMTPS_SEND_STATE_DIR=$T/state-cc \
	run 78 "client credentials, bad secret" -f alice@localhost rcpt@example.org || exit 1
grep -q "invalid_client" "$T/err" || sx_fail "bad secret: $(cat "$T/err")"
grep -q "wrong" "$T/err" && sx_fail "the client secret appears in the error"

# ---- Part 2: the scripted server.
tok=$T/token
# 11. An 8 KiB token from oauth2_token_file, in one AUTH line (RFC 4954's 12288).
python3 -c "print('T' * 8192)" >"$tok"
chmod 600 "$tok"
cat >"$T/conf2" <<EOF
host 127.0.0.1
tls starttls
user alice
auth xoauth2
oauth2_token_file $tok
EOF
chmod 600 "$T/conf2"
fake_start good --oauth-token "$tok"
next_marker
printf 'Subject: %s\n\nx\n' "$m" |
	SMTPS_SEND_CONFIG=$T/conf2 SMTPS_SEND_PORT=$FAKE_PORT SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA \
	run 0 "8 KiB token" -vv -f alice@localhost rcpt@example.org || exit 1
fake_wait 5
[ "$(fake_json 'c[0]["oauth"][0]["token_len"]')" = 8192 ] || sx_fail "8 KiB token not sent whole"
grep -q "TTTTTTTT" "$T/err" && sx_fail "the token appears in -vv"

# 12. The error challenge, both mechanisms: a stale token from a command, the
# server's 334 JSON answered with the dummy response, one more token from
# the command, accepted in the same session.
printf 'good-token-2\n' >"$tok"
cat >"$T/cmd" <<EOF
#!/bin/sh
f=$T/count
c=\$(cat \$f 2>/dev/null || echo 0)
echo \$((c + 1)) >\$f
[ \$c = 0 ] && echo stale-token-1 || echo good-token-2
EOF
chmod 700 "$T/cmd"
for mech in xoauth2 oauthbearer; do
	rm -f "$T/count"
	sed "s|^oauth2_token_file .*|oauth2_token_command $T/cmd|; s|^auth .*|auth $mech|" \
		"$T/conf2" >"$T/conf3"
	chmod 600 "$T/conf3"
	fake_start good --oauth-token "$tok"
	next_marker
	printf 'Subject: %s\n\nx\n' "$m" |
		SMTPS_SEND_CONFIG=$T/conf3 SMTPS_SEND_PORT=$FAKE_PORT SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA \
		run 0 "challenge $mech" -vv --diag-format=json -f alice@localhost rcpt@example.org || exit 1
	fake_wait 5
	[ "$(fake_json 'len(c[0]["oauth"])')" = 2 ] || sx_fail "$mech: expected two AUTH attempts"
	[ "$(fake_json 'c[0]["violations"]')" = "[]" ] || sx_fail "$mech: $(fake_json 'c[0]["violations"]')"
	grep -q "stale-token\|good-token" "$T/err" && sx_fail "$mech: a token in the JSON diagnostics"
	grep -q "token refused" "$T/err" || sx_fail "$mech: the refusal is not shown"
done

# 13. A token the server keeps refusing: the JSON's status and scope in the error.
echo other-token >"$tok"
rm -f "$T/count"
fake_start good --oauth-token "$tok"
printf 'Subject: x\n\nx\n' |
	SMTPS_SEND_CONFIG=$T/conf3 SMTPS_SEND_PORT=$FAKE_PORT SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA \
	run 77 "refused" -f alice@localhost rcpt@example.org || exit 1
fake_wait 5
grep -q "status invalid_token, scope smtp" "$T/err" || sx_fail "refused: $(cat "$T/err")"
exit 0
