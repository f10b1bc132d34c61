#!/bin/sh
# Diagnostics, second round (issue 18): hints that point the right way (a
# connect time-out on any port, DNS), a stall in the message data named at
# its stage with the bytes written and within the timeout, -v lines for the
# failing stage and an end that says what happened, the STARTTLS-on-465
# mistake caught before connecting, the lone-dot warning, UTF-8 shown as
# UTF-8, msmtp's command-line options.  Against the scripted server
# (fakesmtp) or nothing at all; t_diag_postfix.sh has the real-server cases.
. tests/e2e/faults_lib.sh

# --- connect time-out on any port, DNS -------------------------------------------------------
# A listener whose accept queue is full: the kernel drops further SYNs, so
# a connect gets no answer at all (a firewall that drops, as seen from here).
"$FAKE_PYTHON" - "$T/blackhole.port" <<'EOF' &
import socket, sys, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(0)
fill = []
for _ in range(3):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(l.getsockname())
    except BlockingIOError:
        pass
    fill.append(c)
time.sleep(0.3)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % l.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
EOF
bh_pid=$!
sx_on_exit 'kill "$bh_pid" 2>/dev/null; fake_stop; rm -rf "$T"'
i=0
while [ ! -s "$T/blackhole.port" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
BH_PORT=$(cat "$T/blackhole.port") || sx_fail "the blackhole listener did not start"
FX_ENV="SMTPS_SEND_HOST=127.0.0.1 SMTPS_SEND_PORT=$BH_PORT" FX_NOCONN=1 \
    fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 connect "cannot connect to 127.0.0.1 port $BH_PORT: Connection timed out\$"
want_hint "a firewall or the provider may block port $BH_PORT; try 587 \\(STARTTLS\\) or 465 \\(implicit TLS\\), or another network\$"
want_kept
kill "$bh_pid" 2>/dev/null
ok "connect time-out on port $BH_PORT (not 25): 75 connect, 'firewall or provider' hint"

FX_ENV="SMTPS_SEND_HOST=no-such-host.invalid" FX_NOCONN=1 fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
case "$rc" in
68 | 75) ;;
*) fx_fail "exit status $rc, expected 68 (unknown host) or 75 (DNS did not answer)" ;;
esac
head -n 1 "$T/err" | grep -q -E '^smtps-send: resolve: (unknown host|cannot resolve) no-such-host\.invalid: ' ||
    fx_fail "no resolve failure line"
want_hint '(check the spelling of host \(no-such-host\.invalid\), and that this machine.s DNS works: getent hosts no-such-host\.invalid|the DNS server did not answer: check the network and /etc/resolv\.conf \(getent hosts no-such-host\.invalid\))$'
want_kept
ok "unknown host: resolve, 'check the spelling / DNS' hint"

# --- a stall in the message data ----------------------------------------------------------
# 8 MB: more than the socket buffers hold, so the writes block once the
# server stops reading.  Timeout 4 s: the whole stage ends within it (plus
# the start-up), not after a second wait for QUIT's reply (6 s and more).
"$FAKE_PYTHON" -c '
import sys
line = "x" * 76 + "\n"
sys.stdout.write("Subject: big\n\n" + line * (8 * 1024 * 1024 // len(line)))
' >"$T/big"
for sc in stall-in-data stall-in-bdat; do
	FX_TIMEOUT=4 FX_FAKE="--stall 9" fx $sc -v -f "$FX_FROM" rcpt@example.org <"$T/big"
	grep -v '^smtps-send: \[' "$T/err" >"$T/err.report"
	cp "$T/err" "$T/err.v"
	cp "$T/err.report" "$T/err"
	want 75 data 'no answer from the server within 4 s while sending the message \([0-9]+ of [0-9]+ bytes written\)$'
	want_hint 'the server or the network stalled the transfer'
	want_ms_below 5300
	want_kept
	# -v ends saying what happened, not as if we chose to quit.
	last=$(grep '^smtps-send: \[' "$T/err.v" | tail -n 1)
	case "$last" in
	*"] quit: connection closed after the failure ("*) ;;
	*) fx_fail "last -v line is '$last'" ;;
	esac
	ok "$sc: 75 data with the bytes written, in $ms ms (timeout 4 s)"
done

# --- -v: the failing stage's own line, the wait for the greeting, the end ---------------------
fx auth-535 -v -f "$FX_FROM" rcpt@example.org <"$T/msg"
[ "$rc" = 77 ] || fx_fail "exit status $rc, expected 77"
grep -q -E '^smtps-send: \[ *[0-9]+ ms\] greeting: waiting for the greeting \(at most 2 s\)$' "$T/err" ||
    fx_fail "no 'waiting for the greeting' line"
grep -q -E '^smtps-send: \[ *[0-9]+ ms\] auth: PLAIN as alice: 535 5\.7\.8 Error: authentication failed$' "$T/err" ||
    fx_fail "no auth line with the mechanism and the refusal"
grep -q -E '\] quit: after the failure: 221 ' "$T/err" || fx_fail "no QUIT line after the failure"
! grep -q -E '\] quit: closed \(' "$T/err" || fx_fail "a 'quit: closed' line after a failure"
grep -q -E '\] quit: connection closed after the failure \(' "$T/err" || fx_fail "no closing line"
rm -f "$Q"/*
ok "-v after a 535: greeting wait, AUTH mechanism and reply, 'closed after the failure'"

FX_FAKE1="--reply=MAIL=553 5.7.1 Sender address rejected: not owned by user alice" \
    fx good -v -f "$FX_FROM" rcpt@example.org <"$T/msg"
[ "$rc" = 69 ] || fx_fail "exit status $rc, expected 69"
grep -q -E '\] mail: <alice@localhost>: 553 5\.7\.1 Sender address rejected: not owned by user alice$' "$T/err" ||
    fx_fail "no mail line with the refusal"
rm -f "$Q"/*
ok "-v after a refused MAIL: the MAIL reply is shown"

fx good -v -f "$FX_FROM" rcpt@example.org <"$T/msg"
[ "$rc" = 0 ] || fx_fail "exit status $rc"
grep '^smtps-send: \[' "$T/err" | tail -n 1 | grep -q -E '\] quit: closed \(' ||
    fx_fail "a good session does not end with 'quit: closed'"
ok "-v after a good session: ends with 'quit: closed'"

# --- UTF-8 shown as UTF-8 in a UTF-8 locale, sanitised; multi-line replies keep their lines ---
# fakesmtp sends its text as latin-1: give it the UTF-8 bytes as latin-1 characters.
u8() { printf '%s' "$1" | iconv -f latin1 -t utf-8; }
RLO=$(printf '\342\200\256')
FX_ENV="LC_ALL=C.UTF-8" FX_FAKE1="--reply=RCPT=$(u8 "550 5.1.1 Empfänger unbekannt ${RLO}gnp.exe")" \
    fx good -f "$FX_FROM" dörte@example.org <"$T/msg"
want 67 rcpt 'recipient <dörte@example\.org> refused \(550\)$'
grep -q -x 'smtps-send: server said: 5\.1\.1 Empfänger unbekannt ?gnp\.exe' "$T/err" ||
    fx_fail "reply not shown as UTF-8 with the bidi override replaced"
rm -f "$Q"/*
FX_ENV="LC_ALL=C" FX_FAKE1="--reply=RCPT=$(u8 "550 5.1.1 Empfänger unbekannt")" \
    fx good -f "$FX_FROM" dörte@example.org <"$T/msg"
want 67 rcpt 'recipient <d\?\?rte@example\.org> refused \(550\)$'
grep -q -x 'smtps-send: server said: 5\.1\.1 Empf??nger unbekannt' "$T/err" || fx_fail "not ASCII in the C locale"
rm -f "$Q"/*
ok "UTF-8 address and reply: UTF-8 in a UTF-8 locale (bidi override replaced), '?' in C"

FX_FAKE1="--reply=GREETING=220-localhost ESMTP first line\r\n220 second line" \
    fx good -v -f "$FX_FROM" rcpt@example.org <"$T/msg"
[ "$rc" = 0 ] || fx_fail "exit status $rc"
grep -q -E '\] greeting: 220 localhost ESMTP first line$' "$T/err" || fx_fail "no first greeting line"
grep -q -E '^smtps-send: +second line$' "$T/err" || fx_fail "the second line is not a line of its own"
ok "-v: a multi-line greeting keeps its lines"

# --- STARTTLS on port 465 (msmtp's "tls on" there): refused before connecting ---------------
FX_TLS=on FX_ENV=SMTPS_SEND_PORT=465 FX_NOCONN=1 fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 78 config 'account default: tls on \(STARTTLS, as msmtp reads it\) on port 465, which expects implicit TLS: the server would never greet$'
want_hint 'set tls implicit \(msmtp: tls_starttls off\), or port 587 for STARTTLS$'
want_nothing_kept
rec 'c == []'
FX_TLS=starttls FX_ENV=SMTPS_SEND_PORT=465 FX_NOCONN=1 fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 78 config 'account default: STARTTLS on port 465, which expects implicit TLS'
rec 'c == []'
ok "tls on / starttls with port 465: 78 config before connecting, 'tls implicit' hint"

# --- msmtp's command-line options, as an msmtp script writes them ---------------------------
# fx points the environment at the server (its port is known only there);
# the options say the rest again, msmtp's way.  With --host on the command
# line no configured password follows (not even the environment's), so the
# password comes from argv too, as an msmtp script gives it (root may).
printf 'To: rcpt@example.org\nSubject: msmtp style\n\nhello\n' >"$T/msmtp.msg"
fx good --host=localhost --tls=on --tls-starttls=on --tls-certcheck=on --auth=plain \
    --user=alice --passwordeval="echo $FX_PASSWORD" --timeout=5 --domain=msmtp.example \
    --from="$FX_FROM" --read-recipients \
    <"$T/msmtp.msg"
want_ok
rec_std "seq('EHLO msmtp.example', 'STARTTLS', 'EHLO msmtp.example', 'AUTH PLAIN $FX_B64_PLAIN', 'MAIL FROM:<alice@localhost> SIZE=*', 'RCPT TO:<rcpt@example.org>', 'DATA', 'QUIT')"
ok "msmtp-style argv (--host --tls --tls-starttls --tls-certcheck --auth --user --timeout --domain --from --read-recipients): sent"

# --serverinfo is --check.
fx good --serverinfo
[ "$rc" = 0 ] || fx_fail "--serverinfo: exit $rc"
grep -q '^  capabilities: ' "$T/out" || fx_fail "--serverinfo: no capabilities"
rec_std 'w["quit_received"]' 'nobody()'
ok "--serverinfo: connects, shows the capabilities, sends nothing"

# --passwordeval: root's argv may give the command (the tests run as root).
FX_NOAUTH=1 fx good --user=alice --passwordeval="echo $FX_PASSWORD" -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
rec 'w["auth"]["ok"]'
ok "--passwordeval from root's argv: used"

# Anyone else's argv may name no command to run and no file to write: a web
# application's arguments could.  Nothing runs, nothing is read from stdin.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
if command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/nb" && chmod 777 "$T/nb" && chmod 755 "$T"
	for arg in "--passwordeval=touch $T/nb/pwned" "--logfile=$T/nb/shell.php"; do
		as_nobody env -i PATH=/usr/bin:/bin HOME="$T/nb" SMTPS_SEND_HOST=localhost \
		    SMTPS_SEND_QUEUE_DIR="$T/nb/q" "$BIN" "$arg" -f a@example.org r@example.org \
		    <"$T/msg" >"$T/out" 2>"$T/err"
		rc=$?
		[ "$rc" = 78 ] || { cat "$T/err" >&2; sx_fail "nobody $arg: exit $rc, expected 78"; }
		grep -q -E "^smtps-send: config: argv --(passwordeval|logfile): refused: only root may give a command to run or a file to write on the command line" "$T/err" ||
		    { cat "$T/err" >&2; sx_fail "nobody $arg: no refusal line"; }
		[ ! -e "$T/nb/pwned" ] && [ ! -e "$T/nb/shell.php" ] || sx_fail "nobody $arg: it ran or wrote"
		[ ! -d "$T/nb/q" ] || [ -z "$(ls -A "$T/nb/q")" ] || sx_fail "nobody $arg: a message was taken"
	done
	ok "--passwordeval / --logfile from another user's argv: 78 before anything runs or is read"
else
	echo "ok - --passwordeval as another user: not tested (needs root and setpriv)"
fi

# --- the queue commands: -bp into a closed pipe, -q's summary after an unreachable relay ------
QE="env -i PATH=/usr/bin:/bin HOME=$T/home SMTPS_SEND_CONFIG=$T/home/empty.conf SMTPS_SEND_QUEUE_DIR=$T/q3 SMTPS_SEND_HOST=127.0.0.1 SMTPS_SEND_PORT=1 SMTPS_SEND_TIMEOUT=2"
for k in 1 2 3; do
	$QE "$BIN" -odq -f "$FX_FROM" "rcpt$k@example.org" <"$T/msg" || sx_fail "-odq: exit $?"
done
# -bp | head: the reader went away; no "Broken pipe" error, status 0.
"$FAKE_PYTHON" - $QE "$BIN" -bp <<'EOF2' || sx_fail "-bp into a closed pipe"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
os.close(w)
if p.returncode != 0 or p.stderr:
    sys.exit("exit %d, stderr %r" % (p.returncode, p.stderr))
EOF2
ok "-bp into a closed pipe (| head): exit 0, nothing on stderr"
$QE "$BIN" -q >"$T/out" 2>"$T/err"
grep -q -x 'smtps-send: queue: 0 sent, 1 deferred, 0 failed, 2 not tried (the relay could not be reached; still queued)' "$T/err" ||
    { cat "$T/err" >&2; sx_fail "-q: the summary does not count the messages not tried"; }
[ "$(ls "$T/q3"/*.msg | wc -l)" = 3 ] || sx_fail "-q: not all three still queued"
ok "-q after an unreachable relay: the summary counts the 2 messages not tried"

exit 0
