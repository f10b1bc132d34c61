#!/bin/sh
# Hostile-server fault suite (issue 8): smtps-send against every fakesmtp
# scenario.  Each case asserts the exact exit status (sysexits), the stage of
# the failure line, what the server recorded (no AUTH or mail in cleartext,
# no body after a refusal, QUIT where the connection allowed it, exactly one
# end-of-data when data was sent) and that a message not accepted is kept.
# Runs sequentially; stalls use SMTPS_SEND_TIMEOUT=2 and must end in < 6 s.
. tests/e2e/faults_lib.sh

MAILTX="$FX_PRE, 'MAIL FROM:<alice@localhost> SIZE=*', 'RCPT TO:<rcpt@example.org>'"

# --- baselines ----------------------------------------------------------------------------
fx good -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'eom() == 1' 'w["quit_received"]' \
    'w["tls_established"]' 'bodies[0].endswith("\r\n\r\nhello")' \
    'plain == "EHLO client.test\r\nSTARTTLS\r\n"' 'w["closed_by"] == "client"'
ok "good (STARTTLS): accepted, one end-of-data, QUIT, only EHLO+STARTTLS in cleartext"

FX_TLS=implicit FX_FAKE=--implicit fx good-implicit -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
rec_std "seq($FX_PRE_IMPLICIT, 'MAIL FROM:<alice@localhost> SIZE=*', 'RCPT TO:<rcpt@example.org>', 'DATA', 'QUIT')" \
    'eom() == 1' 'w["quit_received"]' 'plain == ""'
ok "good (implicit TLS): nothing at all in cleartext"

fx tls12-only -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
rec_std 'w["tls_version"] == "TLSv1.2"' 'eom() == 1'
ok "TLS 1.2-only server accepted"

fx tls11-only -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 tls 'TLS handshake failed'
want_hint 'the server offers only TLS 1.0/1.1'
want_kept
rec_std 'seq("EHLO client.test", "STARTTLS")' 'not w["tls_established"]' 'nobody()'
ok "TLS 1.0/1.1-only server refused (69, tls, hint)"

# --- STARTTLS attacks ---------------------------------------------------------------------
fx starttls-stripped -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 starttls 'the server does not offer STARTTLS$'
want_hint 'TLS is required'
want_kept
rec_std 'seq("EHLO client.test", "QUIT")' 'w["quit_received"]' 'nobody()'
ok "STARTTLS stripped: 69 starttls, QUIT, nothing else"

fx starttls-454 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 starttls 'refused STARTTLS \(454\)$'
want_kept
rec_std 'seq("EHLO client.test", "STARTTLS", "QUIT")' 'w["quit_received"]' 'nobody()'
ok "STARTTLS 454: 75 starttls, QUIT, no fallback to cleartext"

# opportunistic mode may continue without TLS, but never authenticates in cleartext.
FX_TLS=opportunistic fx starttls-454 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 auth 'refusing to authenticate without TLS$'
want_kept
rec 'seq("EHLO client.test", "STARTTLS", "QUIT")' '"AUTH" not in plain' 'nobody()'
ok "opportunistic + STARTTLS 454 + user: no AUTH in cleartext (69 auth)"

fx starttls-no-handshake -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 tls
want_hint 'the server accepted STARTTLS but did not answer the TLS handshake'
want_ms_below 6000
want_kept
rec 'seq("EHLO client.test", "STARTTLS")' 'cleartext_ok()' 'not w["tls_established"]' 'nobody()'
ok "STARTTLS answered but no handshake: 75 tls within ${ms} ms"

fx starttls-injection -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 tls 'server sent 14 bytes after the STARTTLS reply'
want_kept
rec 'seq("EHLO client.test", "STARTTLS")' 'cleartext_ok()' 'not w["tls_established"]' 'nobody()'
ok "reply injected behind STARTTLS 220: 76 tls, handshake never trusted"

# Capabilities differ before/after TLS: AUTH, PIPELINING, CHUNKING, SIZE 1000 only
# before.  With a user: AUTH is not offered after TLS → refused, no AUTH anywhere.
fx caps-differ -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 auth 'the server offers no authentication after TLS \(it did before\)$'
want_hint 'AUTH offered only in cleartext is never used'
want_kept
rec_std 'seq("EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT")' 'w["auth"] is None'
ok "caps-differ with a user: pre-TLS AUTH forgotten (69 auth)"

# Without a user: a 2000-byte message passes the post-TLS SIZE, in lockstep, with DATA.
{
	printf 'Subject: big\n\n'
	i=0
	while [ $i -lt 30 ]; do
		echo "0123456789012345678901234567890123456789012345678901234567890123456789"
		i=$((i + 1))
	done
} >"$T/msg2k"
FX_NOAUTH=1 fx caps-differ -f "$FX_FROM" rcpt@example.org <"$T/msg2k"
want_ok
rec_std 'seq("EHLO client.test", "STARTTLS", "EHLO client.test", "MAIL FROM:<alice@localhost> SIZE=*", "RCPT TO:<rcpt@example.org>", "DATA", "QUIT")' \
    'not w["pipelining_violation"]' 'chunks == []' 'eom() == 1'
ok "caps-differ without a user: post-TLS capabilities used (no PIPELINING/CHUNKING, big SIZE)"

fx auth-before-tls-only -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 auth 'the server offers no authentication after TLS \(it did before\)$'
want_kept
rec_std 'seq("EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT")' 'w["auth"] is None'
ok "AUTH offered only before TLS: never used (69 auth)"

# --- greeting -----------------------------------------------------------------------------
fx greeting-421 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 greeting 'refused connection at greeting \(421\)$'
grep -q '^smtps-send: server said: 4.3.2 Service not available' "$T/err" || fx_fail "reply not shown"
want_kept
rec_std 'seq("QUIT")' 'w["quit_received"]'
ok "421 at greeting: 75 greeting, QUIT"

fx greeting-garbage -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 greeting 'malformed reply from server$'
want_kept
rec_std 'cmds == []'
ok "garbage greeting: 76 greeting, nothing sent"

FX_FAKE="--at GREETING" fx reply-wrong-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 greeting 'unexpected reply to connection at greeting \(250\)$'
want_kept
rec_std 'seq("QUIT")'
ok "250 instead of 220 at greeting: 76 greeting"

# --- MAIL / RCPT / DATA / end of data -----------------------------------------------------
fx mail-451 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 mail 'refused sender \(451\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'nobody()' 'eom() == 0'
ok "451 on MAIL: 75 mail, no body, QUIT"

fx mail-550 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 mail 'refused sender \(550\)$'
want_hint 'sender <alice@localhost> not allowed for this account'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'nobody()'
ok "550 on MAIL: 69 mail, hint, no body"

fx rcpt-mixed -f "$FX_FROM" r1@example.org r2@example.org r3@example.org <"$T/msg"
want 75 rcpt '2 of 3 recipients refused \(first: recipient <r2@example.org> refused \(550\)\); nothing was sent$'
want_hint 'fix or remove the refused recipient'
want_kept
rec_std "seq($FX_PRE, 'MAIL FROM:<alice@localhost> SIZE=*', 'RCPT TO:<r1@example.org>', 'RCPT TO:<r2@example.org>', 'RCPT TO:<r3@example.org>', 'QUIT')" \
    'w["quit_received"]' 'nobody()'
ok "RCPT 250/550/450: 75 rcpt, no DATA, QUIT"

FX_ENV=SMTPS_SEND_ALLOW_PARTIAL=on fx rcpt-mixed -f "$FX_FROM" r1@example.org r2@example.org r3@example.org <"$T/msg"
want_ok
rec_std 'eom() == 1' 'len(bodies) == 1' 'w["envelopes"][0]["rcpts"] == ["r1@example.org"]'
ok "RCPT 250/550/450 with allow_partial: sent to the one accepted"

fx rcpt-all-550 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 67 rcpt 'recipient <rcpt@example.org> refused \(550\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'nobody()'
ok "single recipient 550: 67 rcpt, the pipelined DATA refused, no body"

fx rcpt-all-550 -f "$FX_FROM" a@example.org b@example.org <"$T/msg"
want 67 rcpt 'all 2 recipients refused'
want_kept
rec_std "seq($FX_PRE, 'MAIL FROM:<alice@localhost> SIZE=*', 'RCPT TO:<a@example.org>', 'RCPT TO:<b@example.org>', 'QUIT')" 'nobody()'
ok "all of 2 recipients 550: 67 rcpt, no DATA"

fx data-451 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 data 'refused DATA \(451\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'nobody()' 'eom() == 0'
ok "451 on DATA: 75 data, no body after the refusal"

fx data-554 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 data 'refused DATA \(554\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'nobody()'
ok "554 on DATA: 69 data, no body"

FX_FAKE="--at DATA" fx reply-wrong-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 data 'unexpected reply to DATA \(250\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'nobody()'
ok "250 instead of 354 for DATA: 76 data, no body"

fx eom-451 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 end-of-data 'refused the message \(451\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'eom() == 1' 'len(bodies) == 1'
ok "451 after the dot: 75 end-of-data, kept"

fx eom-554 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 end-of-data 'refused the message \(554\)$'
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'w["quit_received"]' 'eom() == 1'
ok "554 after the dot: 69 end-of-data, kept"

FX_FAKE="--at EOM" fx reply-wrong-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 end-of-data 'unexpected reply to the message \(354\)$'
want_kept
rec_std 'eom() == 1'
ok "354 after the dot: 76 end-of-data"

fx reset-mid-data -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 end-of-data 'connection reset by the server$'
want_kept
rec 'cleartext_ok()' "seq($MAILTX, 'DATA')" 'not w["quit_received"]'
ok "connection reset mid-DATA: 75, kept, no QUIT on a dead connection"

# A large body: the reset hits while the body is still being written.
i=0
{
	printf 'Subject: big\n\n'
	while [ $i -lt 20000 ]; do
		echo "line $i of a large body that cannot fit into the socket buffers at once"
		i=$((i + 1))
	done
} >"$T/msgbig"
fx reset-mid-data -f "$FX_FROM" rcpt@example.org <"$T/msgbig"
[ "$rc" = 75 ] || fx_fail "exit $rc, expected 75"
grep -q -E '^smtps-send: (body|end-of-data): ' "$T/err" || fx_fail "stage not body/end-of-data"
want_kept
rec 'cleartext_ok()' 'not w["quit_received"]' 'eom() == 0' 'bodies == []'
ok "connection reset mid-DATA (1.5 MB): 75, kept"

# --- stalls: every wait has a deadline --------------------------------------------------
fx stall-before-greeting -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 greeting 'no answer from the server within 2 s$'
want_ms_below 4000
want_kept
rec_std 'cmds == []'
ok "stall before the greeting: 75 greeting in $ms ms"

fx stall-after-greeting -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 ehlo 'no answer from the server within 2 s$'
want_ms_below 6000
want_kept
rec_std 'seq("EHLO client.test", "QUIT")'
ok "stall after the greeting: 75 ehlo in $ms ms, QUIT still offered"

fx stall-in-tls -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 ehlo 'no answer from the server within 2 s$'
want_ms_below 6000
want_kept
rec_std 'seq("EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT")' 'w["tls_established"]' \
    'w["auth"] is None'
ok "stall inside TLS (STARTTLS): 75 ehlo in $ms ms"

FX_TLS=implicit FX_FAKE=--implicit fx stall-in-tls -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 greeting 'no answer from the server within 2 s$'
want_ms_below 4000
want_kept
rec_std 'cmds == []' 'w["tls_established"]' 'plain == ""'
ok "stall inside TLS (implicit, no greeting): 75 greeting in $ms ms"

fx stall-after-dot -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 end-of-data 'no answer from the server within 2 s$'
want_hint 'the server did not confirm the message; it may or may not have been accepted$'
want_ms_below 6000
want_kept
rec_std "seq($MAILTX, 'DATA', 'QUIT')" 'eom() == 1'
ok "stall after the final dot: 75 end-of-data in $ms ms, kept"

# --- malformed replies (at EHLO, and where marked at MAIL) -------------------------------
fx reply-no-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'malformed reply from server$'
grep -q '^smtps-send: server said: Hello, I am a reply without a code$' "$T/err" ||
    fx_fail "reply not shown"
want_kept
rec_std 'seq("EHLO client.test", "QUIT")'
ok "reply without a code: 76 ehlo"

FX_FAKE="--at MAIL" fx reply-no-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 mail 'malformed reply from server$'
want_kept
# (what follows on the wire is checked in pending_proto_desync.sh)
rec 'cleartext_ok()' 'nobody()'
ok "reply without a code at MAIL: 76 mail, no body"

fx reply-wrong-code -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'unexpected reply to EHLO \(354\)$'
want_kept
rec_std 'seq("EHLO client.test", "QUIT")'
ok "354 to EHLO: 76 ehlo"

fx reply-out-of-range -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'malformed reply from server$'
grep -q '^smtps-send: server said: 650 5.0.0 out of range$' "$T/err" || fx_fail "reply not shown"
want_kept
rec_std 'seq("EHLO client.test", "QUIT")'
ok "code 650: 76 ehlo"

fx reply-overlong -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'server reply line longer than 4096 bytes$'
want_kept
rec 'cleartext_ok()' 'cmds[0] == "EHLO client.test"' '"AUTH" not in plain + tls'
ok "100 KiB reply line: 76 ehlo"

fx reply-mixed-codes -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'reply lines carry different codes \(250, then 251\)$'
want_kept
rec_std 'seq("EHLO client.test", "QUIT")'
ok "mixed codes across continuation lines: 76 ehlo"

fx reply-huge -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'reply has more than 256 lines$'
want_ms_below 3000
want_kept
rec 'cleartext_ok()' 'cmds[0] == "EHLO client.test"'
ok "4 MiB reply: 76 ehlo in $ms ms"

fx reply-endless-continuation -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 ehlo 'reply has more than 256 lines$'
want_ms_below 3000
want_kept
rec 'cleartext_ok()' 'cmds[0] == "EHLO client.test"' 'w["server_sent_bytes"] < 64 << 20'
ok "endless continuation lines: 76 ehlo in $ms ms"

FX_FAKE="--at MAIL" fx reply-endless-continuation -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 76 mail 'reply has more than 256 lines$'
want_ms_below 3000
want_kept
rec 'cleartext_ok()' 'nobody()'
ok "endless continuation at MAIL: 76 mail, no body"

fx close-mid-reply -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 ehlo 'connection closed by server$'
want_kept
rec 'seq("EHLO client.test")' 'cleartext_ok()'
ok "connection closed mid-reply: 75 ehlo"

FX_FAKE="--at EOM" fx close-mid-reply -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 75 end-of-data
want_kept
rec 'cleartext_ok()' 'eom() == 1'
ok "connection closed mid-reply after the dot: 75 end-of-data, kept"

# --- extensions -------------------------------------------------------------------------
fx pipelining-off -f "$FX_FROM" r1@example.org r2@example.org <"$T/msg"
want_ok
rec_std 'not w["pipelining_violation"]' 'eom() == 1'
ok "no PIPELINING: lockstep"

fx chunking -f "$FX_FROM" rcpt@example.org <"$T/msg"
want_ok
rec_std "seq($MAILTX, 'BDAT * LAST', 'QUIT')" 'len(chunks) == 1' 'chunks[0].endswith("hello\r\n")' \
    'eom() == 0' 'len(bodies) == 1'
ok "CHUNKING: one BDAT LAST, no DATA"

fx size-small -f "$FX_FROM" rcpt@example.org <"$T/msg2k"
want 69 mail 'the message is [0-9]+ bytes; the server accepts at most 1000$'
want_hint 'send a smaller message'
want_kept
rec_std "seq($FX_PRE, 'QUIT')" 'nobody()'
ok "SIZE smaller than the message: refused before MAIL (69 mail)"

fx auth-535 -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 77 auth 'authentication as alice failed \(535\)$'
want_hint 'check user and password; providers such as Gmail require an app password or OAuth2'
want_kept
rec_std "seq($FX_PRE, 'QUIT')" 'nobody()'
ok "535: 77 auth, hint"

FX_NOAUTH=1 fx auth-530-required -f "$FX_FROM" rcpt@example.org <"$T/msg"
want 69 mail 'refused sender \(530\)$'
want_hint 'the server requires authentication: set user and a password'
want_kept
rec 'cleartext_ok()' 'nobody()' 'w["quit_received"]'
ok "530 at MAIL without a user: 69 mail, hint"

echo "t_faults_server: $ok_n cases passed"
