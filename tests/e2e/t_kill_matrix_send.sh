#!/bin/sh
# kill -9 matrix, part a: a send (issue 21 item 13, issue 15).  The whole
# table (send, -q, -bs) and its notes are in kill_lib.sh; this file's rows:
#
# stage of the kill                 -bp after the kill           after -q          copies
# a1 intake, slow writer            partial (.tmp, no envelope)  removed           0
# a2 envelope being written         partial (.tmp)               removed           0
# a3 spool whole + envelope, before incomplete (.tmp + .meta)    queued and sent   1
#    the rename into place
# a4 connect (SYN never answered)   deferred, "did not finish"   sent              1
# a5 session before DATA            deferred, "did not finish"   sent              1
# a6 DATA (40 MB to Postfix)        deferred, "did not finish"   sent              1
# a7 after the final dot, before    deferred, "did not finish"   sent again        2 (window)
#    the reply (scripted server)
# a8 after the relay's 250, before  deferred, "did not finish"   sent again        2 (window)
#    the .msg is removed (Postfix)
# Then the window of a7/a8 is measured on 5 sends to Postfix.
#
# Exact kill points come from strace's fault injection (SIGKILL on entry
# to the N-th rename or unlink: the syscall does not run), N taken from a
# dry run of the same send; the others from what the server or the -v
# output shows.
. tests/e2e/kill_lib.sh
sx_ensure_server || exit $?
km_init

send_args="-f alice@localhost rcpt@example.org"

# a0: a dry run under strace: the syscalls a2, a3 and a8 are killed at.
km_newq a0
next_marker
km_msg "$m" >"$T/msg0"
strace -qq -o "$T/trace" -e trace=rename,unlink "$BIN" $send_args <"$T/msg0" ||
	sx_fail "dry run: exit $?"
km_copies "$m" 1 "dry run"
at_meta=$(km_syscall_of "$T/trace" '^rename\(".*/[0-9a-f]+\.meta\.[0-9]+\.tmp", ') ||
	sx_fail "dry run: no rename of the envelope's temporary file: $(cat "$T/trace")"
at_commit=$(km_syscall_of "$T/trace" '^rename\(".*/[0-9a-f]+\.tmp", ".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry run: no rename of the spool into place"
at_remove=$(km_syscall_of "$T/trace" '^unlink\(".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry run: no removal of the .msg"
echo "ok a0 dry run: envelope rename = $at_meta, spool rename = $at_commit, .msg removal = $at_remove"

# a1. During intake: a writer that stops half-way.
km_newq a1
next_marker
mkfifo "$T/fifo"
"$BIN" $send_args <"$T/fifo" >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
exec 3>"$T/fifo"
printf 'X-Test-Id: %s\nSubject: half\n\nfirst half\n' "$m" >&3
receiving() {
	km_bp
	grep -q -E '^[0-9a-f]+ .* receiving \(its message is being read\)$' "$T/bp"
}
km_wait_for 10 "a1: -bp listing the intake as receiving" receiving
kill -9 $pid
wait $pid 2>/dev/null
exec 3>&-
rm -f "$T/fifo"
km_bp_has 'partial \(the sender died while the message was read; -q removes it\)$' "a1"
km_visible "a1"
km_q "a1"
km_empty "a1"
km_copies "$m" 0 "a1"
echo "ok a1 intake: listed as receiving, then partial; -q removes it; nothing sent"

# a2. The envelope written but not yet renamed into place.
km_newq a2
next_marker
km_msg "$m" >"$T/msg"
km_strace_kill $at_meta "$BIN" $send_args <"$T/msg"
[ $rc = 137 ] || sx_fail "a2: exit $rc, expected 137 (killed)"
km_bp_has 'partial \(' "a2"
km_visible "a2"
km_q "a2"
km_empty "a2"
km_copies "$m" 0 "a2"
echo "ok a2 envelope being written: partial; -q removes it; nothing sent (left: $(ls "$Q" | tr '\n' ' '))"

# a3. Spool and envelope whole, the rename into place not done.
km_newq a3
next_marker
km_msg "$m" >"$T/msg"
km_strace_kill $at_commit "$BIN" $send_args <"$T/msg"
[ $rc = 137 ] || sx_fail "a3: exit $rc, expected 137 (killed)"
ls "$Q" | grep -q '\.msg$' && sx_fail "a3: the spool was renamed into place: $(ls "$Q")"
km_bp_has 'incomplete \(the sender died before queuing it; -q queues and sends it\)$' "a3"
km_visible "a3"
km_copies "$m" 0 "a3 before -q"
km_q "a3"
km_copies "$m" 1 "a3"
km_empty "a3"
echo "ok a3 before the rename: incomplete; -q queues and sends it once"

# a4. During connect: a listener that never answers the SYN.
km_newq a4
next_marker
km_blackhole
km_msg "$m" | SMTPS_SEND_PORT=$BH_PORT "$BIN" $send_args >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
sending() {
	km_bp
	grep -q -E '^[0-9a-f]+ .* sending attempts=1 .*being sent by a running process$' "$T/bp"
}
km_wait_for 10 "a4: the message queued and being sent" sending
km_wait_for 10 "a4: a connect in SYN-SENT" km_in_syn_sent $pid
kill -9 $pid
wait $pid 2>/dev/null
km_blackhole_stop
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "a4"
km_visible "a4"
km_q "a4"
km_copies "$m" 1 "a4"
km_empty "a4"
echo "ok a4 connect: listed as sending, then deferred; -q sends it once"

# a5. In the session, before DATA: the scripted server greets, then
# never answers EHLO.
km_newq a5
next_marker
km_fake stall-after-greeting
km_fake_env
km_msg "$m" | "$BIN" $send_args >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
km_wait_for 10 "a5: EHLO at the scripted server" km_fake_has 'len(c) == 1 and len(c[0]["commands"]) >= 1'
kill -9 $pid
wait $pid 2>/dev/null
fake_stop
km_postfix_env
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "a5"
km_visible "a5"
km_q "a5"
km_copies "$m" 1 "a5"
km_empty "a5"
echo "ok a5 session before DATA: deferred; -q sends it once"

# a6. During DATA: 40 MB to Postfix, killed once RCPT was accepted.
km_newq a6
next_marker
km_big "$m" "$T/big"
"$BIN" -v $send_args <"$T/big" >/dev/null 2>"$T/err6" &
pid=$!
bg="$bg $pid"
km_wait_for 20 "a6: RCPT accepted" grep -q -s 'rcpt: <rcpt@example.org>: 250' "$T/err6"
kill -9 $pid
wait $pid 2>/dev/null
km_copies "$m" 0 "a6 (killed during DATA; too fast a machine?)"
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "a6"
km_visible "a6"
km_q "a6"
km_copies "$m" 1 "a6"
km_empty "a6"
echo "ok a6 DATA: deferred; -q sends it once"

# a7. After the final dot, before the reply: the scripted server has the
# whole message and never answers.  The window: the relay has it, the
# queue still has it -- a second copy after -q.
km_newq a7
next_marker
km_fake stall-after-dot
km_fake_env
km_msg "$m" | "$BIN" $send_args >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
km_wait_for 10 "a7: the message at the scripted server" km_fake_has 'len(c) == 1 and len(c[0]["data_bodies"]) == 1'
kill -9 $pid
wait $pid 2>/dev/null
fake_stop
km_postfix_env
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "a7"
km_visible "a7"
km_q "a7"
km_copies "$m" 1 "a7"
km_empty "a7"
echo "ok a7 after the dot, before the reply: deferred; -q sends it again (2 copies: the window)"

# a8. After Postfix's 250, before the .msg is removed.
km_newq a8
next_marker
km_msg "$m" >"$T/msg"
km_strace_kill $at_remove "$BIN" $send_args <"$T/msg"
[ $rc = 137 ] || sx_fail "a8: exit $rc, expected 137 (killed)"
km_copies "$m" 1 "a8 (Postfix's copy)"
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "a8"
km_visible "a8"
km_q "a8"
km_copies "$m" 2 "a8"
km_empty "a8"
echo "ok a8 after the relay's 250, before the removal: deferred; -q sends a second copy (the window)"

# a9. How wide the window is: from the write of the final dot to the
# unlink of the .msg, measured with strace's timestamps on 5 sends
# (strace itself adds some microseconds per syscall).  The relay's part:
# the dot's write to the first read of its reply; the client's: that read
# to the unlink.
km_newq a9
i=0
while [ $i -lt 5 ]; do
	i=$((i + 1))
	next_marker
	km_msg "$m" >"$T/msg"
	strace -qq -ttt -o "$T/wtrace" \
		-e trace=connect,flock,read,write,sendmsg,sendto,recvfrom,recvmsg,unlink \
		"$BIN" $send_args <"$T/msg" || sx_fail "a9: send failed"
	awk '
	function fd(s) { sub(/^[^(]*\(/, "", s); sub(/,.*/, "", s); return s }
	{ t = $1; call = $2; sub(/\(.*/, "", call) }
	call == "connect" && sock == "" && $0 ~ /sa_family=AF_INET/ { sock = fd($2) }
	call == "flock" && spool == "" && $0 ~ /LOCK_EX/ { spool = fd($2) }
	call == "read" && spool != "" && fd($2) == spool && $0 ~ /, "", [0-9]+\) += 0$/ { eof = 1 }
	(call == "write" || call == "sendmsg" || call == "sendto") && sock != "" && fd($2) == sock {
		if (eof && !reply) dot = t
		else if (!eof) last = t
	}
	(call == "read" || call == "recvfrom" || call == "recvmsg") && sock != "" && fd($2) == sock &&
	    eof && !reply {
		if (!dot) dot = last
		reply = t
	}
	call == "unlink" && $0 ~ /[0-9a-f]\.msg"\)/ && reply { gone = t }
	END {
		if (!dot || !reply || !gone) exit 1
		printf "%.1f %.1f %.1f\n", (gone - dot) * 1000, (reply - dot) * 1000, (gone - reply) * 1000
	}' "$T/wtrace" >>"$T/windows" || sx_fail "a9: no dot, reply or unlink found in the trace"
done
summary=$(awk '
	function mm(i, v) { if (NR == 1 || v < lo[i]) lo[i] = v; if (NR == 1 || v > hi[i]) hi[i] = v }
	{ mm(1, $1); mm(2, $2); mm(3, $3) }
	END {
		printf "%.1f-%.1f ms; the relay'"'"'s reply %.1f-%.1f ms, the client after it %.1f-%.1f ms",
		    lo[1], hi[1], lo[2], hi[2], lo[3], hi[3]
	}' "$T/windows")
awk -v lim="$(sx_scale 500)" '$3 > lim { exit 1 }' "$T/windows" ||
	sx_fail "a9: the client took more than $(sx_scale 500) ms from the relay's reply to the removal: $(cat "$T/windows")"
echo "ok a9 the duplicate window (final dot to .msg removed), 5 sends to Postfix: $summary"
echo "t_kill_matrix_send: 10 cases passed"
