#!/bin/sh
# End-to-end: -bs with a pipelining caller (issue 19).  bench/bsclient.py
# sends 30 messages in one SMTP session as an RFC 2920 client does (MAIL,
# RCPT and DATA in one group; each message's text, its end and the next
# envelope in the next): every reply comes back in order with each
# message's own verdict, the relay (the real Postfix) sees one session with
# 30 transactions, and every message arrives byte-exact.  One recipient the
# relay refuses (reject*@) gets its 550 at RCPT, and that message nothing;
# the same caller with BDAT (offered by -bs) waits for nothing.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxp.XXXXXX)
sx_on_exit 'rm -rf "$T"'
SMTPS_SEND_QUEUE_DIR=$T/q
export SMTPS_SEND_QUEUE_DIR
sx_client_env starttls
LOG=$SX_RUNDIR/log/postfix.log
M="bb$$"
N=30

mark=$(wc -l <"$LOG" 2>/dev/null || echo 0)
mkdir -p "$T/msgs"
python3 bench/bsclient.py --count $N --from alice@localhost --rcpt "r%d@example.org" \
	--size 3000 --id "$M" --save "$T/msgs" -- "$BIN" -v -bs >"$T/out" 2>"$T/err" || {
	tail -n 30 "$T/err" >&2
	sx_fail "the pipelined session failed: $(cat "$T/out")"
}
grep -q "$N verdicts ok" "$T/out" || sx_fail "not every verdict was 250: $(cat "$T/out")"
i=1
while [ $i -le $N ]; do
	f=$(sx_wait_delivery "X-Test-Id: <$M-$i>" 30) || sx_fail "message $i not delivered"
	sx_delivered_body "$f" | cmp -s - "$T/msgs/$i" || sx_fail "message $i delivered differently"
	i=$((i + 1))
done
sleep 0.5
tail -n "+$((mark + 1))" "$LOG" | grep -F 'postfix/smtpd[' >"$T/plog"
[ "$(grep -c ': connect from ' "$T/plog")" = 1 ] || sx_fail "more than one session to the relay"
sx_grep_file " mail=$N rcpt=$N (data|bdat)=$N quit=1 " "$T/plog"
[ -z "$(find "$T/q" -name '*.msg' 2>/dev/null)" ] || sx_fail "messages left in the queue"
echo "ok 1 $N pipelined messages: replies in order, one relay session, each byte-exact"

# A refused recipient in a pipelined group: its 550 at RCPT, the caller's DATA then 554.
printf 'EHLO c\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<reject1@example.org>\r\nDATA\r\nQUIT\r\n' |
	"$BIN" -bs >"$T/out" 2>"$T/err"
grep -q '^550 5\.1\.1 .*reject1@example.org' "$T/out" || sx_fail "no 550 at RCPT: $(cat "$T/out")"
grep -q '^554 5\.5\.1' "$T/out" || sx_fail "DATA without a recipient not refused: $(cat "$T/out")"
echo "ok 2 a refused recipient in a pipelined group: 550 at RCPT, 554 at DATA"

# 3. The same with BDAT (RFC 3030, offered by -bs): the caller sends every
#    message without waiting; one relay session, replies in order, byte-exact.
M2="bd$$"
mark=$(wc -l <"$LOG" 2>/dev/null || echo 0)
mkdir -p "$T/msgs2"
python3 bench/bsclient.py --bdat --count $N --from alice@localhost --rcpt "r%d@example.org" \
	--size 3000 --id "$M2" --save "$T/msgs2" -- "$BIN" -bs >"$T/out" 2>"$T/err" || {
	tail -n 30 "$T/err" >&2
	sx_fail "the BDAT session failed: $(cat "$T/out")"
}
grep -q "$N verdicts ok" "$T/out" || sx_fail "BDAT: not every verdict was 250: $(cat "$T/out")"
i=1
while [ $i -le $N ]; do
	f=$(sx_wait_delivery "X-Test-Id: <$M2-$i>" 30) || sx_fail "BDAT: message $i not delivered"
	sx_delivered_body "$f" | cmp -s - "$T/msgs2/$i" || sx_fail "BDAT: message $i delivered differently"
	i=$((i + 1))
done
sleep 0.5
tail -n "+$((mark + 1))" "$LOG" | grep -F 'postfix/smtpd[' >"$T/plog"
[ "$(grep -c ': connect from ' "$T/plog")" = 1 ] || sx_fail "BDAT: more than one session to the relay"
sx_grep_file " mail=$N rcpt=$N bdat=$N quit=1 " "$T/plog"
echo "ok 3 $N messages with BDAT: nothing waited for, one relay session, each byte-exact"

# 4. A BDAT message whose only recipient the relay refuses: the caller gets
#    the 550 at RCPT and the relay's refusal at BDAT; nothing is kept.
printf 'EHLO c\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<reject2@example.org>\r\nBDAT 12 LAST\r\nSubject: x\r\nQUIT\r\n' |
	"$BIN" -bs >"$T/out" 2>"$T/err"
grep -q '^550 5\.1\.1 .*reject2@example.org' "$T/out" || sx_fail "BDAT: no 550 at RCPT: $(cat "$T/out")"
grep -q '^554 5\.5\.1 ' "$T/out" || sx_fail "BDAT: no refusal at BDAT: $(cat "$T/out")"
grep -q 'kept in' "$T/out" && sx_fail "BDAT: the refused message was kept: $(cat "$T/out")"
[ -z "$(find "$T/q" -name '*.msg' 2>/dev/null)" ] || sx_fail "BDAT: a refused message was kept"
echo "ok 4 BDAT to a refused recipient: 550 at RCPT, 554 at BDAT, nothing kept"
