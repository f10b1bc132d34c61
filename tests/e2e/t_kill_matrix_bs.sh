#!/bin/sh
# kill -9 matrix, part c: a -bs session (issue 21 item 13, issue 15).  The
# whole table and its notes are in kill_lib.sh; this file's rows (the
# caller's SMTP session on stdin; smtps-send opens the relay, Postfix, at
# MAIL and sends DATA once the caller's dot arrived):
#
# stage of the kill                 -bp after the kill           after -q          copies
# c1 while the caller's DATA is     partial (.tmp, no envelope)  removed           0 (the caller
#    read                                                                          got no 250)
# c2 after the caller's dot, while  deferred, "did not finish"   sent              1
#    the relay gets DATA (40 MB)
# c3 after the relay's 250, before  deferred, "did not finish"   sent again        2 (window;
#    the .msg is removed                                                           no 250 to the
#                                                                                  caller either)
. tests/e2e/kill_lib.sh
sx_ensure_server || exit $?
km_init

# script MARKER [BODY-FILE]: a caller's whole session, CRLF.
script() {
	printf 'EHLO client.test\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n'
	if [ $# -ge 2 ]; then
		sed 's/$/\r/' "$2"
	else
		printf 'X-Test-Id: %s\r\nSubject: kill matrix -bs\r\n\r\nbody of %s\r\n' "$1" "$1"
	fi
	printf '.\r\nQUIT\r\n'
}

# c0: a dry run: the syscall c3 is killed at.
km_newq c0
next_marker
script "$m" >"$T/bs0"
strace -qq -o "$T/trace" -e trace=rename,unlink "$BIN" -bs <"$T/bs0" >"$T/out0" ||
	sx_fail "dry run: exit $?"
# Postfix's words: "Ok: queued as" after DATA, "Ok: N bytes queued as" after BDAT.
grep -q '^250 2.0.0 Ok: \([0-9]* bytes \)\{0,1\}queued as ' "$T/out0" || {
	cat "$T/out0" >&2
	sx_fail "dry run: the relay's 250 was not passed on"
}
at_remove=$(km_syscall_of "$T/trace" '^unlink\(".*/[0-9a-f]+\.msg"\)') ||
	sx_fail "dry run: no removal of the .msg: $(cat "$T/trace")"
km_copies "$m" 1 "dry run"
km_empty "dry run"
echo "ok c0 dry run: .msg removal = $at_remove"

# c1. While the caller's DATA is read: the caller stops half-way.
km_newq c1
next_marker
mkfifo "$T/fifo"
"$BIN" -bs <"$T/fifo" >"$T/out1" 2>&1 &
pid=$!
bg="$bg $pid"
exec 3>"$T/fifo"
printf 'EHLO client.test\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\nX-Test-Id: %s\r\n\r\nfirst half\r\n' "$m" >&3
receiving() {
	grep -q '^354 ' "$T/out1" || return 1
	km_bp
	grep -q -E '^[0-9a-f]{32} .* receiving \(its message is being read\)$' "$T/bp"
}
km_wait_for 10 "c1: -bp listing the caller's DATA as receiving" receiving
kill -9 $pid
wait $pid 2>/dev/null
exec 3>&-
rm -f "$T/fifo"
grep -q '^250 2\.0\.0' "$T/out1" && sx_fail "c1: the caller was told 250 for a message it did not finish"
km_bp_has 'partial \(the sender died while the message was read; -q removes it\)$' "c1"
km_visible "c1"
km_q "c1"
km_empty "c1"
km_copies "$m" 0 "c1"
echo "ok c1 while the caller's DATA is read: receiving, then partial; -q removes it; nothing sent"

# c2. After the caller's dot, while the relay gets DATA (40 MB): killed
# once the message is committed (.msg) and the relay has started on it.
km_newq c2
next_marker
km_big "$m" "$T/big"
script "$m" "$T/big" >"$T/bs2"
"$BIN" -bs <"$T/bs2" >"$T/out2" 2>&1 &
pid=$!
bg="$bg $pid"
committed() {
	ls "$Q" 2>/dev/null | grep -q '\.msg$'
}
km_wait_for 30 "c2: the message committed" committed
sleep 0.1
kill -9 $pid
wait $pid 2>/dev/null
grep -q '^250 2\.0\.0' "$T/out2" && sx_fail "c2: the caller was told 250 (too fast a machine?)"
km_copies "$m" 0 "c2 (killed during the relay's DATA; too fast a machine?)"
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "c2"
km_visible "c2"
km_q "c2"
km_copies "$m" 1 "c2"
km_empty "c2"
echo "ok c2 after the caller's dot, during the relay's DATA: deferred; -q sends it once"

# c3. After the relay's 250, before the .msg is removed: the window.
km_newq c3
next_marker
script "$m" >"$T/bs3"
km_strace_kill $at_remove "$BIN" -bs <"$T/bs3" >"$T/out3"
[ $rc = 137 ] || sx_fail "c3: exit $rc, expected 137 (killed)"
grep -q '^250 2\.0\.0' "$T/out3" && sx_fail "c3: the caller was told 250 before the .msg was removed"
km_copies "$m" 1 "c3 (Postfix's copy)"
km_bp_has 'deferred attempts=1 .* \| queue: the attempt did not finish' "c3"
km_visible "c3"
km_q "c3"
km_copies "$m" 2 "c3"
km_empty "c3"
echo "ok c3 after the relay's 250, before the removal: deferred; -q sends a second copy (the window)"
echo "t_kill_matrix_bs: 4 cases passed"
