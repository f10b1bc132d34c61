#!/bin/sh
# kill -9 matrix, part b: a queue run (issue 21 item 13, issue 15).  The
# whole table and its notes are in kill_lib.sh; this file's rows (each over
# a message queued with -odq: deferred, not tried yet):
#
# stage of the kill                 -bp after the kill           after -q          copies
# b1 -q renaming a dead writer's    incomplete (.tmp + .meta)    queued and sent   1
#    whole .tmp into place
# b2 connect (SYN never answered)   deferred, "did not finish"   sent              1
# b3 session before DATA            deferred, "did not finish"   sent              1
# b4 DATA (40 MB to Postfix)        deferred, "did not finish"   sent              1
# b5 after the final dot, before    deferred, "did not finish"   sent again        2 (window)
#    the reply (scripted server)
# b6 after the relay's 250, before  deferred, "did not finish"   sent again        2 (window)
#    the .msg is removed (Postfix)
# b7 the runner (-q1h) in connect   deferred, "did not finish"   sent              1
. tests/e2e/kill_lib.sh
sx_ensure_server || exit $?
km_init

send_args="-f alice@localhost rcpt@example.org"

# queue_one MARKER [MESSAGE-FILE]: queue a message with -odq (not sent now).
queue_one() {
	if [ $# -ge 2 ]; then
		"$BIN" -odq $send_args <"$2" >"$T/odq.err" 2>&1
	else
		km_msg "$1" | "$BIN" -odq $send_args >"$T/odq.err" 2>&1
	fi || {
		cat "$T/odq.err" >&2
		sx_fail "-odq failed"
	}
	km_bp_has 'deferred attempts=0 .* \| not tried yet$' "-odq"
}

# plant_incomplete MARKER: what a send killed before its rename leaves
# (spool .tmp and envelope, writer gone): killed by strace as in part a.
plant_incomplete() {
	km_msg "$1" >"$T/msg"
	km_strace_kill $at_commit "$BIN" $send_args <"$T/msg"
	[ $rc = 137 ] || sx_fail "planting an incomplete message: exit $rc, expected 137"
	km_bp_has 'incomplete \(' "planted"
}

# b0: dry runs: a send (its spool rename, to plant b1's state), -q over
# that state (its settling rename) and -q over a queued message (its
# removal of the .msg).
km_newq b0
next_marker
km_msg "$m" >"$T/msg0"
strace -qq -o "$T/trace" -e trace=rename,unlink "$BIN" $send_args <"$T/msg0" ||
	sx_fail "dry send: exit $?"
at_commit=$(km_syscall_of "$T/trace" '^rename\(".*/[0-9a-f]+\.tmp", ".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry send: no rename of the spool into place"
km_copies "$m" 1 "dry send"
km_newq b0q
next_marker
plant_incomplete "$m"
strace -qq -o "$T/trace" -e trace=rename,unlink "$BIN" -q >/dev/null 2>&1 ||
	sx_fail "dry -q over an incomplete message: exit $?"
at_settle=$(km_syscall_of "$T/trace" '^rename\(".*/[0-9a-f]+\.tmp", ".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry -q: no rename of the dead writer's .tmp: $(cat "$T/trace")"
km_copies "$m" 1 "dry -q over an incomplete message"
next_marker
queue_one "$m"
strace -qq -o "$T/trace" -e trace=rename,unlink "$BIN" -q >/dev/null 2>&1 ||
	sx_fail "dry -q: exit $?"
at_remove=$(km_syscall_of "$T/trace" '^unlink\(".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry -q: no removal of the .msg: $(cat "$T/trace")"
km_copies "$m" 1 "dry -q"
km_empty "dry runs"
echo "ok b0 dry runs: send's spool rename = $at_commit; -q's settling rename = $at_settle, .msg removal = $at_remove"

# b1. -q killed as it renames a dead writer's whole .tmp into place.
km_newq b1
next_marker
plant_incomplete "$m"
km_strace_kill $at_settle "$BIN" -q
[ $rc = 137 ] || sx_fail "b1: exit $rc, expected 137 (killed)"
km_bp_has 'incomplete \(the sender died before queuing it; -q queues and sends it\)$' "b1"
km_visible "b1"
km_copies "$m" 0 "b1 before -q"
km_q "b1"
km_copies "$m" 1 "b1"
km_empty "b1"
echo "ok b1 -q settling a dead writer's .tmp: still incomplete; the next -q sends it once"

# kill_q_when WHAT CHECK...: run "$BIN -q" (with $qenv) in the background,
# wait until CHECK holds, kill -9 it.
kill_q_when() {
	local what=$1
	shift
	env $qenv "$BIN" $qargs >/dev/null 2>"$T/qerr" &
	pid=$!
	bg="$bg $pid"
	km_wait_for 20 "$what" "$@"
	kill -9 $pid
	wait $pid 2>/dev/null
}

sending() {
	km_bp
	grep -q -E '^[0-9a-f]{32} .* sending attempts=1 .*being sent by a running process$' "$T/bp"
}

sending_and_syn() {
	sending && km_in_syn_sent $pid
}

after_kill() {
	km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "$1"
	km_visible "$1"
}

# b2. -q in connect: a listener that never answers the SYN.
km_newq b2
next_marker
queue_one "$m"
km_blackhole
qenv="SMTPS_SEND_PORT=$BH_PORT" qargs=-q
kill_q_when "b2: -q sending, its connect in SYN-SENT" sending_and_syn
km_blackhole_stop
after_kill "b2"
km_q "b2"
km_copies "$m" 1 "b2"
km_empty "b2"
echo "ok b2 -q in connect: listed as sending, then deferred; the next -q sends it once"

# b3. -q in the session before DATA (EHLO unanswered).
km_newq b3
next_marker
queue_one "$m"
km_fake stall-after-greeting
qenv="SMTPS_SEND_PORT=$FAKE_PORT SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA SMTPS_SEND_PASSWORD_FILE= SMTPS_SEND_PASSWORD=alice-secret-1"
kill_q_when "b3: EHLO at the scripted server" km_fake_has 'len(c) == 1 and len(c[0]["commands"]) >= 1'
fake_stop
after_kill "b3"
km_q "b3"
km_copies "$m" 1 "b3"
km_empty "b3"
echo "ok b3 -q in the session before DATA: deferred; the next -q sends it once"

# b4. -q during DATA: 40 MB to Postfix.
km_newq b4
next_marker
km_big "$m" "$T/big"
queue_one "$m" "$T/big"
qenv= qargs="-v -q"
kill_q_when "b4: RCPT accepted" grep -q -s 'rcpt: <rcpt@example.org>: 250' "$T/qerr"
km_copies "$m" 0 "b4 (killed during DATA; too fast a machine?)"
after_kill "b4"
km_q "b4"
km_copies "$m" 1 "b4"
km_empty "b4"
echo "ok b4 -q during DATA: deferred; the next -q sends it once"

# b5. -q after the final dot, before the reply: the window.
km_newq b5
next_marker
queue_one "$m"
km_fake stall-after-dot
qenv="SMTPS_SEND_PORT=$FAKE_PORT SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA SMTPS_SEND_PASSWORD_FILE= SMTPS_SEND_PASSWORD=alice-secret-1"
qargs=-q
kill_q_when "b5: the message at the scripted server" km_fake_has 'len(c) == 1 and len(c[0]["data_bodies"]) == 1'
fake_stop
after_kill "b5"
km_q "b5"
km_copies "$m" 1 "b5"
km_empty "b5"
echo "ok b5 -q after the dot, before the reply: deferred; the next -q sends it again (2 copies: the window)"

# b6. -q after Postfix's 250, before the .msg is removed: the window.
km_newq b6
next_marker
queue_one "$m"
km_strace_kill $at_remove "$BIN" -q
[ $rc = 137 ] || sx_fail "b6: exit $rc, expected 137 (killed)"
km_copies "$m" 1 "b6 (Postfix's copy)"
after_kill "b6"
km_q "b6"
km_copies "$m" 2 "b6"
km_empty "b6"
echo "ok b6 -q after the relay's 250, before the removal: deferred; the next -q sends a second copy (the window)"

# b7. The queue runner (-q1h) in connect.
km_newq b7
next_marker
queue_one "$m"
km_blackhole
qenv="SMTPS_SEND_PORT=$BH_PORT" qargs=-q1h
kill_q_when "b7: the runner sending, its connect in SYN-SENT" sending_and_syn
km_blackhole_stop
after_kill "b7"
km_q "b7"
km_copies "$m" 1 "b7"
km_empty "b7"
echo "ok b7 the runner in connect: deferred; -q sends it once"
echo "t_kill_matrix_queue: 8 cases passed"
