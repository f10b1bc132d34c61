#!/bin/sh
# End-to-end: a server that limits recipients per transaction (RFC 5321
# 4.5.3.1.8).  One message to 250 recipients through the Postfix port with
# smtpd_recipient_limit 50 (452 4.5.3 past 50): exit 0, every recipient gets
# exactly one copy (Postfix's Delivered-To names it), all in ONE session of
# five transactions (Postfix's own log: one connection, its command counts),
# and nothing is left in the queue.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxr.XXXXXX)
sx_on_exit 'rm -rf "$T"'
SMTPS_SEND_QUEUE_DIR=$T/q
export SMTPS_SEND_QUEUE_DIR
sx_client_env starttls "$SX_PORT_RCPTLIMIT"
N=250
LOG=$SX_RUNDIR/log/postfix.log
m="rl$$-1"

# The log lines of this port's smtpd since the mark (lib.sh gives the port
# its own syslog_name, so no other test's session counts).
mark=$(wc -l <"$LOG" 2>/dev/null || echo 0)
port_log() {
	tail -n "+$((mark + 1))" "$LOG" | grep -F 'postfix/rcptlimit/smtpd['
}

i=1
: >"$T/rcpts"
while [ $i -le $N ]; do
	echo "r$i@example.org" >>"$T/rcpts"
	i=$((i + 1))
done

# 1. One message, 250 recipients: accepted (sent, not queued).
printf 'X-Test-Id: %s\nSubject: many\n\nto 250\n' "$m" >"$T/msg"
# shellcheck disable=SC2046 # one argument per recipient
"$BIN" -v -f alice@localhost $(cat "$T/rcpts") <"$T/msg" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ]; then
	tail -n 20 "$T/err" >&2
	sx_fail "250 recipients: exit status $rc, expected 0"
fi
grep -q '^smtps-send: queued as' "$T/err" &&
	sx_fail "250 recipients: queued, not sent: $(grep '^smtps-send: queued as' "$T/err")"
sx_grep_file "too many recipients for the server: $SX_RCPT_LIMIT accepted in this transaction, $((N - SX_RCPT_LIMIT)) left" "$T/err"
echo "ok 1 250 recipients against a limit of $SX_RCPT_LIMIT: exit 0"

# 2. Every recipient exactly once: wait until N copies arrived, then 1 s more.
count() {
	grep -l -r -F -e "$m" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null | wc -l
}
i=0
while [ "$(count)" -lt $N ] && [ $i -lt 600 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 1
c=$(count)
[ "$c" = $N ] || sx_fail "delivered $c copies, expected $N"
grep -l -r -F -e "$m" "$SX_MAILDIR/new" | xargs sed -n 's/^Delivered-To: //p' |
	sort >"$T/got"
sort "$T/rcpts" >"$T/want"
cmp -s "$T/got" "$T/want" ||
	sx_fail "recipients differ from the $N expected (each once): $(diff "$T/want" "$T/got" | head -5)"
echo "ok 2 each of the $N recipients got exactly one copy"

# 3. One session: one connection, five transactions; 450 RCPTs in all (250
#    in the first, then no more than the limit per transaction).  Postfix
#    offers CHUNKING: each transaction is a held BDAT chunk and "BDAT 0 LAST".
port_log >"$T/plog"
conns=$(grep -c ': connect from ' "$T/plog")
[ "$conns" = 1 ] || sx_fail "$conns connections to the limited port, expected 1"
sx_grep_file ' mail=5 rcpt=(250/)?450 (data=5|bdat=10) quit=1 ' "$T/plog"
echo "ok 3 one session, five transactions ($(sed -n 's/.*disconnect from [^ ]* //p' "$T/plog"))"

# 4. Nothing left in the queue.
left=$(find "$T/q" -type f 2>/dev/null | wc -l)
[ "$left" = 0 ] || sx_fail "the queue keeps $left file(s): $(ls "$T/q")"
echo "ok 4 nothing left in the queue"
