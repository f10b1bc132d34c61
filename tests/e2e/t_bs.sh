#!/bin/sh
# End-to-end: "smtps-send -bs" through the real Postfix of lib.sh.  A
# lock-step caller written the way Symfony's SendmailTransport drives
# sendmail -bs (greeting, HELO, MAIL, RCPT, DATA, text, "\r\n.\r\n", and
# QUIT at the end), a fully pipelined session from printf, relay refusals
# at RCPT and after the data; delivered bytes are checked in the Maildir.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
command -v python3 >/dev/null 2>&1 || {
	echo "t_bs: python3 missing: skip"
	exit 77
}
# Until main.c wires -bs up, the binary says "not implemented" (64).
printf 'QUIT\r\n' | SMTPS_SEND_HOST=localhost "$BIN" -bs >/dev/null 2>&1
if [ $? -eq 64 ]; then
	echo "t_bs: this binary does not implement -bs yet: skip"
	exit 77
fi
T=$(mktemp -d /tmp/sxb.XXXXXX)
sx_on_exit 'rm -rf "$T"'
sx_client_env starttls
SMTPS_SEND_QUEUE_DIR=$T/queue
export SMTPS_SEND_QUEUE_DIR
M=bs$$

# The lock-step caller: sends one step, reads the whole reply, checks its
# code, as Symfony's SmtpTransport::executeCommand does.  A step is
# "SEND<TAB>EXPECTED-CODE"; \r and \n in SEND are escapes.  Every reply
# line goes to stdout.
cat >"$T/caller.py" <<'EOF'
import subprocess, sys

def reply(p):
    lines = []
    while True:
        line = p.stdout.readline()
        if not line:
            sys.exit("caller: end of output, replies so far: %r" % lines)
        if not line.endswith(b"\r\n"):
            sys.exit("caller: reply line without CRLF: %r" % line)
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines

p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
first = reply(p)
print("\n".join(first))
if not first[0].startswith("220 "):
    sys.exit("caller: no 220 greeting")
for step in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if not step:
        continue
    data, want = step.rsplit("\t", 1)
    data = data.replace("\\r", "\r").replace("\\n", "\n").encode()
    p.stdin.write(data)
    p.stdin.flush()
    got = reply(p)
    print("\n".join(got))
    if not got[-1].startswith(want):
        sys.exit("caller: sent %r, expected %s, got %r" % (data[:60], want, got))
p.stdin.close()
rest = p.stdout.read()
if rest:
    sys.exit("caller: output after the last reply: %r" % rest)
sys.exit(p.wait())
EOF

# step SEND CODE: one line of the caller's script.
step() {
	printf '%s\t%s\n' "$1" "$2" >>"$T/steps"
}

# body_of MARKER: the delivered message's body (after the header block).
body_of() {
	f=$(sx_wait_delivery "$1" 10) || sx_fail "message $1 was not delivered"
	sed '1,/^$/d' "$f"
}

# not_delivered MARKER
not_delivered() {
	sleep 0.5
	if grep -rqs -- "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null; then
		sx_fail "$1 was delivered but must not have been"
	fi
}

# 1. Symfony's sequence, two messages, lock-step: 250 with the relay's queue
# id after each "\r\n.\r\n", dot-stuffed lines delivered unstuffed.
: >"$T/steps"
step 'HELO [127.0.0.1]\r\n' 250
for k in 1 2; do
	step 'MAIL FROM:<alice@localhost>\r\n' 250
	step 'RCPT TO:<rcpt@example.org>\r\n' 250
	step 'DATA\r\n' 354
	step "From: alice@localhost\\r\\nTo: rcpt@example.org\\r\\nX-Test-Id: $M-sym$k\\r\\nSubject: symfony $k\\r\\n\\r\\nline one\\r\\n..dot line\\r\\n...\\r\\nlast\\r\\n.\\r\\n" 250
done
step 'QUIT\r\n' 221
python3 "$T/caller.py" "$T/steps" "$BIN" -bs >"$T/out" 2>"$T/err" || {
	cat "$T/out" "$T/err" >&2
	sx_fail "symfony session failed"
}
[ "$(grep -c -E '^250 Ok: .*queued as [0-9A-Za-z]+.$' "$T/out")" = 2 ] || {
	cat "$T/out" >&2
	sx_fail "symfony session: no 'queued as ID' for each message"
}
grep -q '^250 ' "$T/out" && ! grep -q '^250 [0-9]\.' "$T/out" ||
	sx_fail "symfony session: enhanced codes after HELO"
for k in 1 2; do
	body_of "$M-sym$k" >"$T/got"
	printf 'line one\n.dot line\n..\nlast\n' | cmp -s - "$T/got" || {
		od -c "$T/got" | head >&2
		sx_fail "symfony session: message $k body differs"
	}
done
[ -z "$(ls -A "$T/queue" 2>/dev/null)" ] || sx_fail "symfony session: queue not empty"
echo "ok 1 Symfony-style lock-step session, two messages delivered"

# 2. Everything pipelined in one write (EHLO, two messages, an error in the
# middle, RSET, QUIT), LF-only data; replies in order.
printf 'EHLO app.example\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nBOGUS\r\nDATA\r\nX-Test-Id: %s-pipe1\n\nfirst\n.\nRSET\r\nMAIL FROM:<alice@localhost> BODY=8BITMIME\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nX-Test-Id: %s-pipe2\r\nSubject: caf\303\251\r\n\r\nsecond \303\251\r\n.\r\nQUIT\r\n' "$M" "$M" |
	"$BIN" -bs >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] || {
	cat "$T/err" >&2
	sx_fail "pipelined: exit status $rc"
}
# The code of every final reply line, in order.
tr -d '\r' <"$T/out" | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ' >"$T/codes"
[ "$(cat "$T/codes")" = "220 250 250 250 500 354 250 250 250 250 250 354 250 221 " ] || {
	cat "$T/out" >&2
	sx_fail "pipelined: replies out of order: $(cat "$T/codes")"
}
grep -q '^250 2\.1\.5 ' "$T/out" || sx_fail "pipelined: no enhanced codes after EHLO"
[ "$(body_of "$M-pipe1")" = first ] || sx_fail "pipelined: first message body"
[ "$(body_of "$M-pipe2")" = "second $(printf '\303\251')" ] || sx_fail "pipelined: second body"
echo "ok 2 pipelined session, replies in order"

# 3. Refusals: the relay's 550 at RCPT comes back at RCPT, and the caller
# goes on with DATA for the accepted recipient; a 450 at RCPT likewise
# (DATA without recipients: 554, then RSET); a refusal after the data
# (header_checks) comes back at the end of data, the message kept and
# named; the session goes on and the next message is delivered.
: >"$T/steps"
step 'EHLO [127.0.0.1]\r\n' 250
step 'MAIL FROM:<alice@localhost>\r\n' 250
step 'RCPT TO:<reject-x@example.org>\r\n' 550
step 'RCPT TO:<rcpt@example.org>\r\n' 250
step 'DATA\r\n' 354
step "X-Test-Id: $M-rej\\r\\n\\r\\npartly\\r\\n.\\r\\n" 250
step 'MAIL FROM:<alice@localhost>\r\n' 250
step 'RCPT TO:<rcpt@example.org>\r\n' 250
step 'DATA\r\n' 354
step "X-Test-Id: $M-hdr\\r\\nX-Test-Action: reject\\r\\n\\r\\nrefused\\r\\n.\\r\\n" 550
step 'MAIL FROM:<alice@localhost>\r\n' 250
step 'RCPT TO:<tempfail-x@example.org>\r\n' 450
step 'DATA\r\n' 554
step 'RSET\r\n' 250
step 'MAIL FROM:<alice@localhost>\r\n' 250
step 'RCPT TO:<rcpt@example.org>\r\n' 250
step 'DATA\r\n' 354
step "X-Test-Id: $M-after\\r\\n\\r\\nafter\\r\\n.\\r\\n" 250
step 'QUIT\r\n' 221
python3 "$T/caller.py" "$T/steps" "$BIN" -bs >"$T/out" 2>"$T/err" || {
	cat "$T/out" "$T/err" >&2
	sx_fail "refusals session failed"
}
grep -q '^550 5\.1\.1 .*reject-x@example.org' "$T/out" && ! grep -q '^550 5\.1\.1 .*kept in' "$T/out" || {
	cat "$T/out" >&2
	sx_fail "refusals: no 550 5.1.1 at RCPT with the address"
}
[ "$(body_of "$M-rej")" = partly ] || sx_fail "refusals: not delivered to the accepted recipient"
grep -q '^550 5\.7\.1 .*header_checks.*; kept in ' "$T/out" || {
	cat "$T/out" >&2
	sx_fail "refusals: the refusal after the data was not passed on"
}
kept=$(sed -n 's/^550 5\.7\.1 .*; kept in \(.*\)$/\1/p' "$T/out")
[ -f "$kept" ] && grep -q "$M-hdr" "$kept" || sx_fail "refusals: $kept does not hold the message"
grep -q '^450 4\.2\.0 .*tempfail-x' "$T/out" || sx_fail "refusals: 450 at RCPT not passed on"
[ "$(ls "$T/queue"/*.msg | wc -l)" = 1 ] || sx_fail "refusals: expected 1 kept message"
[ "$(body_of "$M-after")" = after ] || sx_fail "refusals: message after the refusals"
not_delivered "$M-hdr"
echo "ok 3 relay refusals passed on at RCPT and at the end of data, session goes on"

# 4. Input ends inside DATA: nothing sent, exit 75, nothing kept.
rm -rf "$T/queue"
printf 'HELO x\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-cut\r\n\r\nhalf' "$M" |
	"$BIN" -bs >"$T/out" 2>"$T/err"
sx_expect_exit 75 $? "cut in DATA"
grep -q 'input ended inside DATA' "$T/err" || sx_fail "cut in DATA: no diagnostic"
[ -z "$(ls -A "$T/queue" 2>/dev/null)" ] || sx_fail "cut in DATA: something was kept"
not_delivered "$M-cut"
echo "ok 4 input ending inside DATA sends nothing"

# 5. One relay session per caller session: three messages (one of them
# abandoned with RSET), one connection and one AUTH.
printf 'EHLO x\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-one1\r\n\r\none\r\n.\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nRSET\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-one2\r\n\r\ntwo\r\n.\r\nQUIT\r\n' "$M" "$M" |
	"$BIN" -v -bs >"$T/out" 2>"$T/err"
sx_expect_exit 0 $? "one session"
[ "$(grep -c '^250 2\.0\.0 Ok: .*queued as' "$T/out")" = 2 ] || {
	cat "$T/out" "$T/err" >&2
	sx_fail "one session: two messages not both accepted"
}
[ "$(grep -c 'connected to' "$T/err")" = 1 ] && [ "$(grep -c -i 'auth.* as ' "$T/err")" = 1 ] || {
	cat "$T/err" >&2
	sx_fail "one session: expected one connection and one AUTH for the caller's session"
}
[ "$(body_of "$M-one1")" = one ] && [ "$(body_of "$M-one2")" = two ] ||
	sx_fail "one session: bodies"
echo "ok 5 one relay session (one connect, one AUTH) for a caller's session"

# 6. No relay (nothing listens): MAIL says so, the message is still taken
# and kept in the queue, the end of data says where; one attempt only.
rm -rf "$T/queue"
printf 'HELO x\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-down1\r\n\r\ndown\r\n.\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-down2\r\n\r\ndown\r\n.\r\nQUIT\r\n' "$M" "$M" |
	SMTPS_SEND_PORT=1 "$BIN" -v -bs >"$T/out" 2>"$T/err"
sx_expect_exit 0 $? "no relay"
# Queued for retry is accepted: 250 at the end of data, with the id and cause.
[ "$(grep -c '^250 Ok, but no relay (connect: ' "$T/out")" = 2 ] &&
	[ "$(grep -c '^250 queued as [0-9a-f]\{32\}: connect: .*; will be retried' "$T/out")" = 2 ] || {
	cat "$T/out" "$T/err" >&2
	sx_fail "no relay: MAIL and end of data replies"
}
[ "$(ls "$T/queue"/*.msg | wc -l)" = 2 ] || sx_fail "no relay: expected 2 kept messages"
[ "$(grep -c 'port 1: ' "$T/err")" -le 2 ] || sx_fail "no relay: more than one connection attempt"
echo "ok 6 no relay: messages taken and kept in the queue"

# 7. Durability where the caller is told (fs_sync_defer): a message the
# relay takes is never fsync'd in the queue; each one kept is synced
# (syncfs) before its "250 queued as" goes to the caller.
if command -v strace >/dev/null 2>&1; then
	rm -rf "$T/queue"
	two='EHLO x\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-sync1\r\n\r\none\r\n.\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s-sync2\r\n\r\ntwo\r\n.\r\nQUIT\r\n'
	# shellcheck disable=SC2059
	printf "$two" "$M" "$M" |
		strace -f -y -qq -e trace=fsync,fdatasync,syncfs -o "$T/trace" "$BIN" -bs >"$T/out" 2>"$T/err"
	sx_expect_exit 0 $? "sync: relay up"
	[ "$(grep -c '^250 2\.0\.0 Ok: .*queued as' "$T/out")" = 2 ] || {
		cat "$T/out" "$T/err" >&2
		sx_fail "sync: relay up: two messages not both accepted"
	}
	! grep -E 'fsync\([0-9]+<'"$T"'/queue' "$T/trace" >/dev/null || {
		cat "$T/trace" >&2
		sx_fail "sync: a message the relay took was fsync'd in the queue"
	}
	rm -rf "$T/queue"
	# shellcheck disable=SC2059
	printf "$two" "$M" "$M" | SMTPS_SEND_PORT=1 \
		strace -f -y -qq -s 4096 -e trace=syncfs,write -o "$T/trace" "$BIN" -bs >"$T/out" 2>"$T/err"
	sx_expect_exit 0 $? "sync: no relay"
	# Each answer "queued as" follows its own syncfs (replies may share a write).
	awk '/syncfs\(/ { s++ } /write\(1</ { k = gsub(/queued as/, ""); if (k > s) bad = 1; n += k; s -= k }
		END { exit (bad || n != 2) }' "$T/trace" || {
		cat "$T/trace" "$T/out" >&2
		sx_fail "sync: no relay: an answer 'queued as' not preceded by its syncfs"
	}
	echo "ok 7 durability: nothing fsync'd for a message the relay took; a syncfs before each 'queued as'"
else
	echo "ok 7 # SKIP strace missing"
fi

echo "t_bs: 7 cases passed"
