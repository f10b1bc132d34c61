#!/bin/sh
# Terminal injection (issue 21 item 7): a server that puts escape sequences
# (CSI, OSC, the 8-bit CSI), a bare CR, BEL and U+202E (right-to-left
# override) into its greeting, its EHLO lines (AUTH mechanism names
# included) and every reply.  In every mode and output -- --check's stdout,
# stderr quiet, -v, -vv, JSON, the log file, -bs replies -- none of it
# arrives raw: only printable ASCII and newlines (fakesmtp.py: hostile-text).
. tests/e2e/faults_lib.sh

# clean WHAT CRLF FILE...: the files hold only printable ASCII and LF (CRLF
# line ends too when CRLF is 1: the -bs replies).
clean() {
	cl_what=$1 cl_crlf=$2
	shift 2
	"$FAKE_PYTHON" - "$cl_crlf" "$@" <<'EOF' || fx_fail "$cl_what: server text reached the output raw"
import sys
bad = 0
for path in sys.argv[2:]:
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        continue
    if sys.argv[1] == "1":
        data = data.replace(b"\r\n", b"\n")
    for i, b in enumerate(data):
        if not (b == 10 or 32 <= b < 127):
            print("%s: byte 0x%02x at %d: %r" % (path, b, i, data[max(0, i - 40):i + 20]),
                  file=sys.stderr)
            bad = 1
            break
sys.exit(bad)
EOF
}

LOG=$T/mail.log

# --- --check: the capability line on stdout ------------------------------------------------
for mode in "" -v -vv --diag-format=json "--diag-format=json -vv"; do
	rm -f "$LOG"
	FX_ENV="SMTPS_SEND_LOGFILE=$LOG" fx hostile-text --check $mode
	[ "$rc" = 0 ] || fx_fail "--check $mode: exit $rc"
	clean "--check ${mode:-quiet}" 0 "$T/out" "$T/err" "$LOG"
	grep -q '^  capabilities: .*AUTH PLAIN LOGIN (3 malformed names ignored)$' "$T/out" ||
	    fx_fail "--check $mode: capabilities line: $(cat "$T/out")"
done
ok "--check (quiet, -v, -vv, JSON): AUTH names outside the SASL charset dropped, nothing raw"

# --- a whole send, every reply hostile ---------------------------------------------------------
for mode in "" -v -vv --diag-format=json "--diag-format=json -vv"; do
	rm -f "$LOG"
	FX_ENV="SMTPS_SEND_LOGFILE=$LOG" fx hostile-text $mode -f "$FX_FROM" rcpt@example.org <"$T/msg"
	[ "$rc" = 0 ] || fx_fail "send $mode: exit $rc"
	clean "send ${mode:-quiet}" 0 "$T/out" "$T/err" "$LOG"
	[ -s "$LOG" ] || fx_fail "send $mode: no log line"
	[ -z "$(ls -A "$Q")" ] || fx_fail "send $mode: the queue holds $(ls -A "$Q")"
	rec 'eom() == 1'
done
# The text is shown, made printable: '?' for each byte that is not.
FX_ENV="SMTPS_SEND_LOGFILE=$LOG" fx hostile-text -v -f "$FX_FROM" rcpt@example.org <"$T/msg"
grep -q -F 'queued as ?[1mQ1?[0m ?[31mRED?[0m ?]0;owned? ?OVER?[2K ?1m ???evil' "$T/err" ||
    fx_fail "send -v: the final reply is not shown sanitised"
ok "send (quiet, -v, -vv, JSON, log file): every reply hostile, nothing raw"

# --- refusals: the reply goes into the failure report -------------------------------------------
for at in GREETING AUTH MAIL RCPT DATA EOM; do
	for mode in "" -v --diag-format=json; do
		rm -f "$LOG" "$Q"/*
		FX_ENV="SMTPS_SEND_LOGFILE=$LOG" FX_FAKE="--at $at" \
		    fx hostile-text $mode -f "$FX_FROM" rcpt@example.org <"$T/msg"
		[ "$rc" != 0 ] || fx_fail "refused at $at $mode: exit 0"
		clean "refused at $at ${mode:-quiet}" 0 "$T/out" "$T/err" "$LOG"
		case "$mode" in
		*json*) grep -q -F '?[31mRED?[0m' "$T/err" ;;
		*) grep -q -F 'server said: ' "$T/err" && grep -q -F '?[31mRED?[0m' "$T/err" ;;
		esac || fx_fail "refused at $at $mode: the reply is not in the report"
	done
done
rm -f "$Q"/*
ok "refused at greeting, AUTH, MAIL, RCPT, DATA, end of data (quiet, -v, JSON): nothing raw"

# --- -bs: the relay's replies passed on to the caller ---------------------------------------------
printf 'EHLO app.example\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n' >"$T/bs.in"
for at in "" RCPT EOM; do
	rm -f "$LOG"
	FX_ENV="SMTPS_SEND_LOGFILE=$LOG" FX_FAKE="${at:+--at $at}" fx hostile-text -v -bs <"$T/bs.in"
	clean "-bs ${at:-ok}" 1 "$T/out"
	clean "-bs ${at:-ok} (stderr, log)" 0 "$T/err" "$LOG"
	grep -q '^221 ' "$T/out" || fx_fail "-bs ${at:-ok}: no 221: $(cat "$T/out")"
	rm -f "$Q"/*
done
ok "-bs relaying a hostile server (accepted, refused at RCPT and at the end of data): nothing raw"

echo "t_faults_hostile: $ok_n cases passed"
