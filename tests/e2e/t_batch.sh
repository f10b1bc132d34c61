#!/bin/sh
# End-to-end: many queued messages over one session (issue 19), against the
# real Postfix.  200 messages queued with -odq go out with one -q in ONE
# session (Postfix's log: one connection, 200 transactions), each one
# byte-exact; with the default max_messages_per_session (100) 150 messages
# take two sessions; a recipient refused mid-batch (reject*@: 550) fails that
# message alone, the others are delivered in the same session, and so is
# the DSN to its sender.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxb.XXXXXX)
sx_on_exit 'rm -rf "$T"'
SMTPS_SEND_QUEUE_DIR=$T/q
export SMTPS_SEND_QUEUE_DIR
sx_client_env starttls
LOG=$SX_RUNDIR/log/postfix.log
M="bt$$"

# The default port's smtpd lines since the mark (other ports log under their own names).
mark() { mark=$(wc -l <"$LOG" 2>/dev/null || echo 0); }
port_log() { tail -n "+$((mark + 1))" "$LOG" | grep -F 'postfix/smtpd['; }

# queue FIRST LAST [RCPT-FORMAT]: messages FIRST..LAST, full headers (so the
# intake adds none and the delivered text must equal the file), dot lines,
# random text; each -odq -i (a lone "." is text).
queue() {
	i=$1
	while [ "$i" -le "$2" ]; do
		# shellcheck disable=SC2059 # the format is the caller's
		r=$(printf "${3:-r%d@example.org}" "$i")
		{
			printf 'From: alice@localhost\nTo: %s\nSubject: batch %d\n' "$r" "$i"
			printf 'Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <%s.%d@example.org>\n' "$M" "$i"
			printf 'X-Test-Id: <%s-%d>\n\nline one of %d\n.dot line\n..two dots\n.\n' "$M" "$i" "$i"
			head -c 240 /dev/urandom | base64 -w 60
		} >"$T/m$i"
		"$BIN" -odq -i -f alice@localhost "$r" <"$T/m$i" || sx_fail "queue $i: exit $?"
		i=$((i + 1))
	done
}

# delivered I: the path of message I's delivered copy (waits for it).
delivered() { sx_wait_delivery "X-Test-Id: <$M-$1>" 30; }

same() {
	f=$(delivered "$1") || sx_fail "message $1 not delivered"
	sx_delivered_body "$f" | cmp -s - "$T/m$1" ||
		sx_fail "message $1 delivered differently: $(sx_delivered_body "$f" | diff "$T/m$1" - | head -5)"
}

# 1. 200 messages, one -q, ONE session (no per-session limit), each byte-exact.
queue 1 200
[ "$(ls "$T/q"/*.msg | wc -l)" = 200 ] || sx_fail "200 messages not queued"
mark
SMTPS_SEND_MAX_MESSAGES_PER_SESSION=0 "$BIN" -q -v >"$T/out" 2>"$T/err" || {
	tail -n 20 "$T/err" >&2
	sx_fail "-q: exit status $?"
}
left=$(find "$T/q" -name '*.msg' | wc -l)
[ "$left" = 0 ] || sx_fail "-q left $left messages in the queue"
grep -q '1 session(s) to the relay' "$T/err" || sx_fail "not one session: $(grep session "$T/err")"
i=1
while [ $i -le 200 ]; do
	same $i
	i=$((i + 1))
done
sleep 0.5
port_log >"$T/plog"
conns=$(grep -c ': connect from ' "$T/plog")
[ "$conns" = 1 ] || sx_fail "$conns connections to Postfix, expected 1"
sx_grep_file ' mail=200 rcpt=200 (data|bdat)=200 quit=1 ' "$T/plog"
echo "ok 1 200 queued messages: one -q, one session ($(sed -n 's/.*disconnect from [^ ]* //p' "$T/plog")), each byte-exact"

# 2. The default max_messages_per_session (100): 150 messages, two sessions.
queue 201 350
mark
"$BIN" -q >"$T/out" 2>"$T/err" || sx_fail "-q (150): exit status $?: $(cat "$T/err")"
[ -z "$(find "$T/q" -name '*.msg')" ] || sx_fail "-q (150) left messages in the queue"
delivered 350 >/dev/null || sx_fail "message 350 not delivered"
sleep 0.5
port_log >"$T/plog"
conns=$(grep -c ': connect from ' "$T/plog")
[ "$conns" = 2 ] || sx_fail "$conns connections for 150 messages, expected 2 (100 + 50)"
sx_grep_file ' mail=100 rcpt=100 (data|bdat)=100 quit=1 ' "$T/plog"
sx_grep_file ' mail=50 rcpt=50 (data|bdat)=50 quit=1 ' "$T/plog"
echo "ok 2 150 messages with the default max_messages_per_session: 100 + 50, two sessions"

# 3. A refused recipient mid-batch: that message fails, alone; the rest go
#    in the same session.
queue 401 402
queue 403 403 'reject%d@example.org'
queue 404 405
mark
"$BIN" -q >"$T/out" 2>"$T/err"
rc=$?
[ $rc != 0 ] || sx_fail "-q with a refused message: exit 0"
for i in 401 402 404 405; do
	same $i
done
"$BIN" -bp >"$T/bp" 2>&1
[ "$(grep -c ' failed ' "$T/bp")" = 1 ] && grep -q 'reject403@example.org | rcpt: .*550' "$T/bp" || {
	cat "$T/bp" >&2
	sx_fail "the refused message is not listed as failed with its 550"
}
[ "$(grep -c -E '^[0-9a-f]{32} ' "$T/bp")" = 1 ] || sx_fail "more than the refused message left"
sleep 0.5
port_log >"$T/plog"
[ "$(grep -c ': connect from ' "$T/plog")" = 1 ] || sx_fail "a refusal mid-batch opened another session"
# Five messages and the DSN to the failed one's sender, after an RSET for
# the refused BDAT (RFC 3030 leaves its transaction in doubt).
sx_grep_file ' mail=6 rcpt=5/6 bdat=5/6 rset=1 quit=1 ' "$T/plog"
f=$(sx_wait_delivery "X-Test-Id: <$M-403>" 30) &&
	grep -q 'Final-Recipient: rfc822; *reject403@example.org' "$f" ||
	sx_fail "no DSN for the refused message"
echo "ok 3 a recipient refused mid-batch: that message failed (its DSN follows in the session), the other four delivered, one session"
