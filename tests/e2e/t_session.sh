#!/bin/sh
# End-to-end: the submission session against the real Postfix + Dovecot of
# lib.sh.  Each case checks the exit status and, when mail must arrive, the
# delivered bytes; when it must not, that nothing arrived.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
sx_on_exit 'rm -rf "$T"'
n=0
# A private queue: kept messages (and their metadata) go away with $T,
# never into root's real /var/spool/smtps-send.
SMTPS_SEND_QUEUE_DIR=$T/q
# queue off: each failure shows as its exit status (sysexits), which is what
# this file checks; queued-means-accepted is case 5's and t_queue's.
SMTPS_SEND_QUEUE=off
export SMTPS_SEND_QUEUE_DIR SMTPS_SEND_QUEUE

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

# delivered MARKER: the delivered message from our first header on.
delivered() {
	f=$(sx_wait_delivery "$1" 10) || sx_fail "message $1 was not delivered"
	sed -n '/^X-Test-Id: /,$p' "$f"
}

# not_delivered MARKER: nothing with MARKER arrived (after a short wait).
not_delivered() {
	sleep 0.5
	if grep -rqs -- "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null; then
		sx_fail "$1 was delivered but must not have been"
	fi
}

# check_connect_order WHAT: the -v lines of resolve, message and connect in
# $T/err show the early connect (relay_start) begun before the spool is
# synced.  What must hold, whatever the timing: the first of them is the
# resolve (relay_start sends the first SYN right after it, before the
# message line); exactly one "connected to", after the message line and
# last; any other connect line is a failed attempt on one address (a host
# name with several: localhost as ::1 and 127.0.0.1 with a server on
# 127.0.0.1 only).  A second resolve after the message line is allowed:
# relay_connect drops an early connect older than RELAY_EARLY_MAX_MS (5 s:
# a very slow disk) and starts again.
check_connect_order() {
	sed -n 's/^smtps-send: \[ *[0-9]* ms\] \(resolve\|message\|connect\): /\1 /p' "$T/err" |
		awk -v what="$1" '
		function bad(why) { printf "%s: -v connect order: %s\n", what, why; failed = 1; exit 1 }
		NR == 1 && $1 != "resolve" { bad("the first line is not the resolve (no early connect)") }
		$1 == "message" { if (msg++) bad("two message lines") ; next }
		$1 == "connect" && $2 == "connected" {
			if (!msg) bad("connected before the message line")
			if (conn++) bad("connected twice")
			next
		}
		$1 == "connect" { if (conn) bad("a connect line after connected"); if ($0 !~ / port [0-9]+: /) bad("not a failed attempt: " $0); next }
		$1 == "resolve" { if (conn) bad("a resolve after connected"); if (msg) late++; next }
		END { if (failed) exit 1; if (!msg) bad("no message line"); if (!conn) bad("no connected line") }
		' >"$T/order" 2>&1 || {
		cat "$T/err" >&2
		sx_fail "$(cat "$T/order")"
	}
}

# next_marker: a fresh $m (no subshell, so the counter advances).
next_marker() {
	n=$((n + 1))
	m="m$$-$n"
}

# 1. STARTTLS + PLAIN (the default mechanism), lines starting with "." (-i:
# a lone "." is text).
sx_client_env starttls
next_marker
printf 'X-Test-Id: %s\nSubject: dots\n\n.\n..two\n.leading\nlast\n' "$m" |
	send 0 "starttls plain" -i -f alice@localhost rcpt@example.org
printf 'X-Test-Id: %s\nSubject: dots\nFrom: alice@localhost\n' "$m" >"$T/want.head"
delivered "$m" >"$T/got"
head -3 "$T/got" | cmp -s - "$T/want.head" || sx_fail "starttls plain: headers differ"
sed '1,/^$/d' "$T/got" >"$T/got.body"
printf '.\n..two\n.leading\nlast\n' | cmp -s - "$T/got.body" ||
	sx_fail "starttls plain: body differs: $(cat "$T/got.body")"
echo "ok 1 STARTTLS + PLAIN, dot lines delivered intact"

# 1b. Without -i a lone "." ends the message (sendmail's rule).
next_marker
printf 'X-Test-Id: %s\n\nbefore\n.\nafter\n' "$m" | send 0 "dot ends" -f alice@localhost rcpt@example.org
delivered "$m" | sed '1,/^$/d' >"$T/got.body"
printf 'before\n' | cmp -s - "$T/got.body" || sx_fail "dot ends: body is $(cat "$T/got.body")"
echo "ok 1b without -i a lone dot ends the input"

# 2. STARTTLS + LOGIN, forced by config; -v shows the stages and no secret.
next_marker
printf 'X-Test-Id: %s\n\nlogin\n' "$m" |
	SMTPS_SEND_AUTH=login send 0 "starttls login" -v -f alice@localhost rcpt@example.org
grep -q 'auth: LOGIN as alice' "$T/err" || sx_fail "starttls login: -v did not show LOGIN"
grep -q 'tls: .*verified' "$T/err" || sx_fail "starttls login: -v did not show verification"
grep -q "$SX_PASS" "$T/err" && sx_fail "starttls login: the password appeared in -v"
check_connect_order "starttls login"
delivered "$m" >/dev/null
echo "ok 2 STARTTLS + LOGIN (connect started while the spool is synced)"

# 2b. localhost with ::1 first (as a stock Debian /etc/hosts has it; here a
# private copy in a mount namespace): Postfix listens on 127.0.0.1 only, so
# -v shows ::1 refused, then the connection to 127.0.0.1 -- the second
# connect line of issue 21 item 12(b), which the old fixed-order check took
# for a failure.
{
	echo "::1 localhost"
	cat /etc/hosts
} >"$T/hosts"
if unshare -m sh -c "mount --bind '$T/hosts' /etc/hosts" 2>/dev/null; then
	next_marker
	printf 'X-Test-Id: %s\n\nv6 first\n' "$m" >"$T/v6msg"
	unshare -m sh -c 'mount --bind "$1" /etc/hosts && exec "$2" -v -f alice@localhost rcpt@example.org <"$3" >"$4" 2>"$5"' \
		sh "$T/hosts" "$BIN" "$T/v6msg" "$T/out" "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "::1 first: exit status $?"; }
	grep -q '^smtps-send: \[ *[0-9]* ms\] resolve: localhost has ::1, 127\.0\.0\.1$' "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "::1 first: resolve line"; }
	grep -q "^smtps-send: \[ *[0-9]* ms\] connect: ::1 port $SX_PORT_STARTTLS: Connection refused\$" "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "::1 first: no refused attempt on ::1"; }
	check_connect_order "::1 first"
	delivered "$m" >/dev/null
	echo "ok 2b localhost is ::1 then 127.0.0.1: one refused attempt, then connected"
else
	echo "ok 2b skipped: no private mount namespace here (unshare -m)"
fi

# 3. Implicit TLS + PLAIN; -vv transcript masks AUTH.
sx_client_env implicit
next_marker
printf 'X-Test-Id: %s\n\nimplicit\n' "$m" |
	send 0 "implicit plain" -vv -f alice@localhost rcpt@example.org
grep -q -- '-> AUTH PLAIN \*\*\*\*\*\*\*\*' "$T/err" || sx_fail "implicit: AUTH not masked"
grep -q 'AGFsaWNl' "$T/err" && sx_fail "implicit: base64 credentials in the transcript"
delivered "$m" >/dev/null
echo "ok 3 implicit TLS + PLAIN, transcript masked"

# 4. A password with UTF-8, spaces, a colon and +/= (bob).
sx_client_env starttls
next_marker
printf 'X-Test-Id: %s\n\nbob\n' "$m" |
	SMTPS_SEND_USER=$SX_USER2 SMTPS_SEND_PASSWORD_FILE=$SX_PASS2_FILE \
		send 0 "awkward password" -f bob@localhost rcpt@example.org
delivered "$m" >/dev/null
echo "ok 4 awkward password"

# 5. Wrong password: not the message's fault, so it is queued and accepted
# (0), and a first-time user still sees the cause, the reply and the hint;
# with queue off: EX_NOPERM (77), held.  Nothing delivered either way.
next_marker
printf 'wrong-password\n' >"$T/badpass"
printf 'X-Test-Id: %s\n\nx\n' "$m" | SMTPS_SEND_QUEUE=on SMTPS_SEND_PASSWORD_FILE=$T/badpass \
	send 0 "wrong password" -f alice@localhost rcpt@example.org
grep -q '^smtps-send: queued as [0-9a-f]*: auth: authentication as alice failed (535); will be retried$' "$T/err" ||
	sx_fail "wrong password: no queued line with the auth stage"
grep -q 'server said: 5.7.8' "$T/err" || sx_fail "wrong password: server reply not shown"
grep -q 'hint: check user and password' "$T/err" || sx_fail "wrong password: no hint"
id=$(sed -n 's/^smtps-send: queued as \([0-9a-f]*\): .*/\1/p' "$T/err")
grep -q "$m" "$SMTPS_SEND_QUEUE_DIR/$id.msg" || sx_fail "wrong password: message not kept"
rm -f "$SMTPS_SEND_QUEUE_DIR/$id".*
printf 'X-Test-Id: %s\n\nx\n' "$m" | SMTPS_SEND_QUEUE=off SMTPS_SEND_PASSWORD_FILE=$T/badpass \
	send 77 "wrong password, queue off" -f alice@localhost rcpt@example.org
grep -q '^smtps-send: auth: ' "$T/err" || sx_fail "wrong password: no auth stage line"
kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
[ -n "$kept" ] && grep -q "$m" "$kept" || sx_fail "wrong password: message not kept"
rm -f "$kept"
not_delivered "$m"
echo "ok 5 wrong password: queued and accepted (0) with cause and hint; queue off: 77, held"

# 6-9. Certificates: untrusted, wrong name, expired (both TLS modes): 69, no AUTH.
cert_case() {
	mode=$1
	port=$2
	what=$3
	pattern=$4
	sx_client_env "$mode" "$port"
	next_marker
	printf 'X-Test-Id: %s\n\nx\n' "$m" | send 69 "$what" -f alice@localhost rcpt@example.org
	grep -q "^smtps-send: tls: $pattern" "$T/err" || {
		cat "$T/err" >&2
		sx_fail "$what: expected 'tls: $pattern'"
	}
	kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
	[ -n "$kept" ] && rm -f "$kept"
	not_delivered "$m"
}
cert_case starttls "$SX_PORT_UNTRUSTED" "untrusted CA" "issuer not trusted"
echo "ok 6 untrusted CA refused"
cert_case starttls "$SX_PORT_SELFSIGNED" "self-signed" "issuer not trusted"
echo "ok 7 self-signed refused"
cert_case starttls "$SX_PORT_WRONGNAME" "wrong name" "certificate is for wrong.example.net, not localhost"
echo "ok 8 wrong host name refused"
cert_case starttls "$SX_PORT_EXPIRED" "expired" "certificate expired on "
cert_case implicit "$SX_PORT_EXPIRED_IMPLICIT" "expired implicit" "certificate expired on "
echo "ok 9 expired certificate refused (STARTTLS and implicit)"

# 10. Bare LF and bare CR in the input become line breaks; Postfix is set to
# refuse a bare LF on the wire, so delivery proves none got through.
sx_client_env starttls
next_marker
printf 'X-Test-Id: %s\r\nSubject: endings\r\n\r\ncrlf\r\nbare-lf\nbare-cr\rmixed\r\r\n.\r\nend' "$m" |
	send 0 "line endings" -i -f alice@localhost rcpt@example.org
delivered "$m" | sed '1,/^$/d' >"$T/got.body"
printf 'crlf\nbare-lf\nbare-cr\nmixed\n\n.\nend\n' | cmp -s - "$T/got.body" || {
	od -c "$T/got.body" >&2
	sx_fail "line endings: delivered body differs"
}
echo "ok 10 bare LF / bare CR normalised, nothing smuggled"

# 11. No STARTTLS offered (plain port): 69, nothing sent.
SMTPS_SEND_PORT=$SX_PORT_PLAIN
export SMTPS_SEND_PORT
next_marker
printf 'X-Test-Id: %s\n\nx\n' "$m" | send 69 "starttls missing" -f alice@localhost rcpt@example.org
grep -q '^smtps-send: starttls: the server does not offer STARTTLS' "$T/err" ||
	sx_fail "starttls missing: wrong diagnostic"
kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
rm -f "$kept"
not_delivered "$m"
echo "ok 11 STARTTLS missing refused"

# 12. TLS 1.2-only server still works.
sx_client_env starttls "$SX_PORT_TLS12"
next_marker
printf 'X-Test-Id: %s\n\ntls12\n' "$m" | send 0 "tls 1.2" -v -f alice@localhost rcpt@example.org
grep -q 'tls: TLS1.2' "$T/err" || sx_fail "tls 1.2: -v did not show TLS1.2"
delivered "$m" >/dev/null
echo "ok 12 TLS 1.2 server"

# 13. Message over the server's SIZE: refused before MAIL (69).
sx_client_env starttls "$SX_PORT_SMALLSIZE"
next_marker
{
	printf 'X-Test-Id: %s\n\n' "$m"
	i=0
	while [ $i -lt 500 ]; do
		echo "0123456789012345678901234567890123456789012345678901234567890123456789"
		i=$((i + 1))
	done
} | send 69 "size" -f alice@localhost rcpt@example.org
grep -q 'the server accepts at most 20000' "$T/err" || sx_fail "size: wrong diagnostic"
kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
rm -f "$kept"
not_delivered "$m"
echo "ok 13 SIZE limit refused early"

# 14. Recipient refusals: 5xx only → 67; 4xx → 75; one of two → 69, nothing sent.
sx_client_env starttls
next_marker
printf 'X-Test-Id: %s\n\nx\n' "$m" | send 67 "rcpt 550" -f alice@localhost reject-me@example.org
next_marker
m2=$m
printf 'X-Test-Id: %s\n\nx\n' "$m2" | send 75 "rcpt 450" -f alice@localhost tempfail-me@example.org
next_marker
m3=$m
printf 'X-Test-Id: %s\n\nx\n' "$m3" |
	send 69 "rcpt mixed" -f alice@localhost ok@example.org reject-me@example.org
grep -q '1 of 2 recipients refused' "$T/err" || sx_fail "rcpt mixed: wrong diagnostic"
not_delivered "$m"
not_delivered "$m3"
echo "ok 14 recipient refusals"

# 15. Refused after the data (header_checks) → 69.
next_marker
printf 'X-Test-Id: %s\nX-Test-Action: reject\n\nx\n' "$m" |
	send 69 "after data" -f alice@localhost rcpt@example.org
grep -q '^smtps-send: end-of-data: ' "$T/err" || sx_fail "after data: wrong stage"
not_delivered "$m"
echo "ok 15 refusal after the data"

# 16. A 2 MiB message with many dot lines arrives byte for byte.
next_marker
{
	printf 'X-Test-Id: %s\n\n' "$m"
	i=0
	while [ $i -lt 30000 ]; do
		printf '.line %d with a leading dot and some text to make it longer\n' $i
		i=$((i + 1))
	done
} >"$T/big"
send 0 "big" -i -f alice@localhost rcpt@example.org <"$T/big"
delivered "$m" | sed '1,/^$/d' >"$T/got"
sed '1,/^$/d' "$T/big" | cmp -s - "$T/got" || sx_fail "big: delivered body differs"
echo "ok 16 2 MiB with 30000 dot lines"

# 17. Unknown host → 68; connection refused → 75.
next_marker
printf 'X-Test-Id: %s\n\nx\n' "$m" |
	SMTPS_SEND_HOST=no-such-host.invalid send 68 "unknown host" -f alice@localhost r@example.org
printf 'X-Test-Id: %s\n\nx\n' "$m" |
	SMTPS_SEND_PORT=1 send 75 "refused" -f alice@localhost r@example.org
grep -q '^smtps-send: connect: cannot connect to localhost port 1' "$T/err" ||
	sx_fail "refused: wrong diagnostic"
echo "ok 17 unknown host / connection refused"

echo "t_session: 18 cases passed"
