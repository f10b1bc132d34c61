#!/bin/sh
# Hostile local input (issue 8): line endings and dot lines that could smuggle
# a second message (SMTP smuggling), 8-bit bodies and UTF-8 addresses against
# servers without 8BITMIME/SMTPUTF8, and CR/LF/NUL in -f, -F, recipients and
# configuration values (refused before connecting, nothing sent).
. tests/e2e/faults_lib.sh

# body FILE: the recorded body after the header block, as Python sees it.
BODY='bodies[0].split("\r\n\r\n", 1)[1]'
CHUNK='"".join(chunks).split("\r\n\r\n", 1)[1]'

# --- smuggling bait: every kind of lone dot and bare line ending -------------------------
# Input lines: a . b . c . d . e . f .. g, separated by LF, CR, LF, CRLF ... so that
# <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>, <CR><LF>.<CR><LF>, <CR>.<LF> all occur.
printf 'Subject: bait\n\na\n.\nb\r.\rc\n.\r\nd\r\n.\r\ne\r.\nf\n..\ng' >"$T/bait"
WIRE='"a\r\n..\r\nb\r\n..\r\nc\r\n..\r\nd\r\n..\r\ne\r\n..\r\nf\r\n...\r\ng"'

fx good -i -f "$FX_FROM" rcpt@example.org <"$T/bait"
want_ok
rec_std "$BODY == $WIRE" 'eom() == 1' 'w["eom_lookalikes"] == 0' 'len(bodies) == 1' \
    'not re.search(r"\r(?!\n)|(?<!\r)\n", tls)'
ok "DATA: bare CR/LF, <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>, lone dots: CRLF only, stuffed, one end"

fx chunking -i -f "$FX_FROM" rcpt@example.org <"$T/bait"
want_ok
# (BDAT content is counted, not scanned: its 5 lone-dot lines are data, not ends)
rec_std "$CHUNK == $WIRE.replace('\r\n..', '\r\n.') + '\r\n'" 'eom() == 5' 'len(chunks) == 1' \
    'not re.search(r"\r(?!\n)|(?<!\r)\n", "".join(chunks))' 'seq(*(cmds[:-2] + ["BDAT * LAST", "QUIT"]))'
ok "BDAT: the same input as CRLF lines, not dot-stuffed, one LAST chunk"

# Without -i a lone "." line ends the input (sendmail), whatever ends that
# line; what follows is not sent, and stderr says so (issue 18).
for ending in 'LF:\n' 'CR:\r' 'CRLF:\r\n'; do
	name=${ending%%:*}
	nl=${ending#*:}
	printf "Subject: dot\n\nbefore${nl}.${nl}after\n" >"$T/dot"
	fx good -f "$FX_FROM" rcpt@example.org <"$T/dot"
	[ "$rc" = 0 ] || fx_fail "$name: exit status $rc, expected 0"
	[ "$(cat "$T/err")" = 'smtps-send: warning: the line "." (line 4) ended the message; 6 byte(s) of input after it were ignored (-i or -oi keeps them)' ] ||
	    fx_fail "$name: not the one warning line"
	want_nothing_kept
	rec_std "$BODY == 'before'" 'eom() == 1' 'w["eom_lookalikes"] == 0'
done
ok "without -i a lone dot ends the input (LF, CR, CRLF line ends), the rest named on stderr"

# A 1 MiB body of dot lines in bare-CR form: still one end, no lookalike, no bare CR.
awk 'BEGIN { for (i = 0; i < 40000; i++) printf ".\r..%d\r", i }' >"$T/dots.body"
{ printf 'Subject: many dots\n\n'; cat "$T/dots.body"; } >"$T/dots"
fx good -i -f "$FX_FROM" rcpt@example.org <"$T/dots"
want_ok
rec_std 'eom() == 1' 'w["eom_lookalikes"] == 0' "$BODY.count('\r\n..\r\n') == 39999" \
    "$BODY.startswith('..\r\n...0\r\n..\r\n')"
ok "80000 dot lines with bare CR: one end-of-data, stuffed, no lookalike"

# --- 8-bit and UTF-8 --------------------------------------------------------------------
printf 'Subject: 8bit\n\ncaf\303\251\n' >"$T/8bit"
fx no-8bitmime -f "$FX_FROM" rcpt@example.org <"$T/8bit"
want 69 mail 'the message has 8-bit data and the server does not offer 8BITMIME$'
want_hint 'encode the body \(quoted-printable or base64\), or set allow_8bit on$'
want_kept
rec_std "seq($FX_PRE, 'QUIT')" 'nobody()'
ok "8-bit body, no 8BITMIME: 69 mail before MAIL"

fx good -f "$FX_FROM" rcpt@example.org <"$T/8bit"
want_ok
rec_std "seq($FX_PRE, 'MAIL FROM:<alice@localhost> SIZE=* BODY=8BITMIME', 'RCPT TO:<rcpt@example.org>', 'DATA', 'QUIT')"
ok "8-bit body with 8BITMIME: BODY=8BITMIME"

U=$(printf 'j\303\266rg@example.org')
fx no-smtputf8 -f "$FX_FROM" "$U" <"$T/msg"
want 69 mail 'an address is not ASCII and the server does not offer SMTPUTF8$'
want_hint 'use ASCII addresses'
want_kept
rec_std "seq($FX_PRE, 'QUIT')" 'nobody()'
ok "UTF-8 recipient, no SMTPUTF8: 69 mail before MAIL"

fx no-smtputf8 -f "$U" rcpt@example.org <"$T/msg"
want 69 mail 'an address is not ASCII'
want_kept
rec_std "seq($FX_PRE, 'QUIT')"
ok "UTF-8 sender, no SMTPUTF8: 69 mail"

fx good -f "$FX_FROM" "$U" <"$T/msg"
want_ok
rec_std "seq($FX_PRE, 'MAIL FROM:<alice@localhost> SIZE=* SMTPUTF8', 'RCPT TO:<*@example.org>', 'DATA', 'QUIT')"
ok "UTF-8 recipient with SMTPUTF8: MAIL ... SMTPUTF8"

# --- control characters in arguments and configuration: refused before connecting -------
# argv_case EXIT MESSAGE-ERE [args...]: nothing may reach the server.
argv_case() {
	a_rc=$1 a_ere=$2
	shift 2
	FX_NOCONN=1 fx good "$@" <"$T/msg"
	[ "$rc" = "$a_rc" ] || fx_fail "$*: exit $rc, expected $a_rc"
	grep -q -E -e "$a_ere" "$T/err" || fx_fail "no line matching '$a_ere'"
	[ -z "$(ls -A "$Q")" ] || fx_fail "a spool file was left: $(ls -A "$Q")"
	rec 'c == []'
}
CRLF=$(printf '\r\nX')
CR=$(printf 'x\rRCPT TO:<evil@example.org>')
LF=$(printf 'x\nRCPT TO:<evil@example.org>')
argv_case 64 '^smtps-send: -f: control characters' -f "a@example.org$CRLF" rcpt@example.org
argv_case 64 '^smtps-send: -f: control characters' -f "a@example.org$LF" rcpt@example.org
argv_case 64 '^smtps-send: -F: control characters' -F "Alice$CRLF" -f "$FX_FROM" rcpt@example.org
argv_case 64 '^smtps-send: -F: control characters' -F "Alice$CR" -f "$FX_FROM" rcpt@example.org
argv_case 64 '^smtps-send: recipient with a control character' -f "$FX_FROM" "r@example.org$CR"
argv_case 64 '^smtps-send: recipient with a control character' -f "$FX_FROM" "r@example.org$LF"
argv_case 64 '^smtps-send: recipient with a control character' -f "$FX_FROM" "$(printf 'r@example.org\t')"
ok "CR/LF/TAB in -f, -F and recipients: 64 before connecting"

# env_case VAR VALUE: a config value with a control character → 78, nothing read or sent.
env_case() {
	FX_ENV1="$1=$2" argv_case 78 "^smtps-send: config: environment $1: [a-z_]+: control characters" \
	    -f "$FX_FROM" rcpt@example.org
	grep -q '^smtps-send: nothing was read from standard input; nothing was sent$' "$T/err" ||
	    fx_fail "$1: no 'nothing was sent' line"
}
env_case SMTPS_SEND_FROM "a@example.org$CRLF"
env_case SMTPS_SEND_DOMAIN "client.test${CRLF}MAIL FROM:<x@example.org>"
env_case SMTPS_SEND_USER "alice$CRLF"
env_case SMTPS_SEND_PASSWORD "pw$CRLF"
env_case SMTPS_SEND_HOST "localhost$LF"
ok "CR/LF in SMTPS_SEND_FROM, _DOMAIN, _USER, _PASSWORD, _HOST: 78 before connecting"

# Config file values, including a NUL (argv and the environment cannot carry one).
cfg_case() {
	printf "$1" >"$T/bad.conf"
	FX_ENV="SMTPS_SEND_CONFIG=$T/bad.conf" argv_case 78 "$2" -f "$FX_FROM" rcpt@example.org
}
cfg_case 'account default\nfrom a@example.org\000X\n' '^smtps-send: config: .*bad.conf: contains a NUL byte$'
cfg_case 'account default\ndomain client.test\rMAIL FROM:<x@y>\n' \
    '^smtps-send: config: .*bad.conf:2: domain: control characters'
cfg_case 'account default\nuser alice\rX\n' '^smtps-send: config: .*bad.conf:2: user: control characters'
ok "NUL / CR in config file values: 78 before connecting"

# A NUL in the message (e.g. in a To: header with -t): 65, kept, nothing sent.
printf 'To: r@example.org\000, evil@example.org\nSubject: x\n\nhi\n' >"$T/nul"
FX_NOCONN=1 fx good -t -f "$FX_FROM" <"$T/nul"
[ "$rc" = 65 ] || fx_fail "exit $rc, expected 65"
grep -q '^smtps-send: message: NUL byte in the message' "$T/err" || fx_fail "no NUL diagnostic"
want_kept
rec 'c == []'
ok "NUL in the message: 65, kept, nothing sent"

# A bare CR inside a To: header read with -t never reaches a command line.
printf 'To: r@example.org\rRCPT TO:<evil@example.org>\nSubject: x\n\nhi\n' >"$T/crto"
# The CR ends the header line; the next line is no header, so it starts the body.
fx good -t -f "$FX_FROM" <"$T/crto"
want_ok
rec_std '[x for x in cmds if x.startswith("RCPT")] == ["RCPT TO:<r@example.org>"]' \
    'bodies[0].startswith("To: r@example.org\r\n")' \
    'bodies[0].endswith("\r\n\r\nRCPT TO:<evil@example.org>\r\nSubject: x\r\n\r\nhi")'
ok "bare CR in a -t header: no injected recipient, the rest is body text"

echo "t_faults_input: $ok_n cases passed"
