# tests/e2e/kill_lib.sh -- sourced by t_kill_matrix_*.sh (POSIX sh): kill -9
# at each stage of a send, a queue run and a -bs session (issue 21 item 13,
# issue 15), then check that nothing was lost, nothing is invisible, and a
# copy is delivered twice only when the kill fell after the final dot.
#
# The matrix (stage x outcome), as these files run it.  "-bp" is what the
# listing says right after the kill (nothing is ever missing from it:
# km_visible checks every file of the queue); "after -q" what a later -q
# against the real Postfix does; "copies" what the servers got in all.
#
# a) a send (smtps-send -f ... rcpt <message), queue on: t_kill_matrix_send.sh
# stage of the kill                 -bp after the kill           after -q          copies
# a1 intake, slow writer            partial (.tmp, no envelope)  removed           0 [1]
#    (while alive: receiving)
# a2 envelope being written         partial (.tmp)               removed           0 [1][2]
# a3 spool whole + envelope, before incomplete (.tmp + .meta)    queued and sent   1 [5]
#    the rename into place
# a4 connect (SYN never answered)   deferred, "did not finish"   sent              1 [5]
#    (while alive: sending)
# a5 session before DATA (EHLO      deferred, "did not finish"   sent              1 [5]
#    unanswered: scripted server)
# a6 DATA (40 MB to Postfix)        deferred, "did not finish"   sent              1 [5]
# a7 after the final dot, before    deferred, "did not finish"   sent again        2 [3]
#    the reply (scripted server)
# a8 after the relay's 250, before  deferred, "did not finish"   sent again        2 [3]
#    the .msg is removed (Postfix)
# b) a queue run over a message queued with -odq: t_kill_matrix_queue.sh
# b1 -q renaming a dead writer's    incomplete (.tmp + .meta)    queued and sent   1
#    whole .tmp into place
# b2 -q in connect                  deferred, "did not finish"   sent              1
# b3 -q in the session before DATA  deferred, "did not finish"   sent              1
# b4 -q during DATA (40 MB)         deferred, "did not finish"   sent              1
# b5 -q after the final dot,        deferred, "did not finish"   sent again        2 [3]
#    before the reply
# b6 -q after the relay's 250,      deferred, "did not finish"   sent again        2 [3]
#    before the .msg is removed
# b7 the runner (-q1h) in connect   deferred, "did not finish"   sent              1
# c) -bs (the caller's SMTP session on stdin; the relay opened at MAIL, its
#    DATA sent after the caller's dot): t_kill_matrix_bs.sh
# c1 while the caller's DATA is     partial (.tmp, no envelope)  removed           0 [1]
#    read (while alive: receiving)
# c2 after the caller's dot, while  deferred, "did not finish"   sent              1 [4]
#    the relay gets DATA (40 MB)
# c3 after the relay's 250, before  deferred, "did not finish"   sent again        2 [3][4]
#    the .msg is removed
#
# Nothing lost: every message whose envelope was written is delivered by
# the next -q.  Nothing invisible: -bp lists each state.  Two copies only
# from a kill after the final dot (a7, a8, b5, b6, c3).
# [1] Never accepted: the caller got no exit 0 (no 250 in -bs) and still
#     has the message; none of it reaches a server; -q removes the rest.
# [2] fs_write_atomic's temporary copy of the envelope (<id>.meta.PID.tmp)
#     stays: no message in it, never listed, never removed (left alone).
# [3] The unavoidable window: the relay has the message, the queue still
#     has it.  It runs from the write of the final dot to the removal of
#     the .msg: the relay's reply time (its queue file made durable), then
#     the client's QUIT and the unlink.  Measured by t_kill_matrix_send.sh
#     (a9) on 5 sends to the harness's Postfix on loopback (2-core VM):
#     1.2-2.7 ms in all, the relay's reply 1.1-1.8 ms of it, the client
#     after the reply 0.2-1.4 ms (under strace, which adds to both).  A
#     remote relay adds one round trip.
# [4] The caller was told nothing (no 250): a caller that retries adds
#     its own copy -- as with any sendmail killed there.
# [5] The sender was killed before it could tell its caller anything (a
#     signal, not an exit status), yet the message is delivered: from the
#     envelope's rename on the message counts as queued.
#
#   km_init                 T, the client environment (Postfix as alice, private
#                           queue, state, config and home), BIN; cleanup at exit
#   km_newq NAME            a fresh queue directory $T/NAME (SMTPS_SEND_QUEUE_DIR, $Q)
#   km_msg MARKER           a small message carrying MARKER
#   km_big MARKER FILE      a 40 MB message carrying MARKER
#   count MARKER            copies Postfix delivered
#   km_copies MARKER N [WHAT]   exactly N copies, stable for 1 s
#   km_bp                   -bp into $T/bp (must exit 0)
#   km_bp_has ERE WHAT      -bp lists a message whose state part matches ERE
#   km_visible WHAT         every message file in $Q has its id in -bp (nothing invisible)
#   km_q WHAT               -q must exit 0 (output in $T/q.out)
#   km_empty WHAT           -bp says empty, and no message file is left
#   km_wait_for SECONDS WHAT CMD...   poll CMD every 0.05 s (scaled); fail after
#   km_blackhole            a listener whose backlog is full: a connect to
#                           $BH_PORT stays in SYN-SENT; km_blackhole_stop
#   km_in_syn_sent PID      PID has a socket in SYN-SENT to $BH_PORT
#   km_syscall_of TRACE ERE the first syscall line of an strace log matching ERE,
#                           as "NAME N": its name and its count among calls of that
#                           name (strace's inject=NAME:when=N)
#   km_strace_kill NAME N CMD...   run CMD with SIGKILL injected on entry to its
#                           N-th NAME syscall (the syscall does not run); $rc
#   km_fake SCENARIO        the scripted server (fake.sh); km_fake_env: the client
#                           environment pointed at it
set -u
. tests/e2e/lib.sh
. tests/e2e/fake.sh

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
bg=
BH_PID=

km_init() {
	command -v strace >/dev/null 2>&1 || {
		echo "SKIP: strace is missing (apt-get install strace)" >&2
		exit 77
	}
	T=$(mktemp -d /tmp/sxk.XXXXXX) || exit 1
	sx_on_exit 'km_cleanup'
	# Nothing of the machine's or the user's configuration may take part.
	for _v in $(env | sed -n 's/^\(SMTPS_SEND_[A-Z0-9_]*\)=.*/\1/p'); do
		unset "$_v"
	done
	HOME=$T/home
	XDG_CONFIG_HOME=$T/home/.config
	mkdir -p "$HOME"
	: >"$T/empty.conf"
	SMTPS_SEND_CONFIG=$T/empty.conf
	SMTPS_SEND_STATE_DIR=$T/state
	# One syscall sequence per mode: a dry run and the run it is measured
	# for must not differ by a ticket written or a flush of other mail.
	SMTPS_SEND_TLS_RESUME=off
	SMTPS_SEND_FLUSH_ON_SEND=off
	SMTPS_SEND_FROM=alice@localhost
	SMTPS_SEND_TIMEOUT=$(sx_scale 20)
	export HOME XDG_CONFIG_HOME SMTPS_SEND_CONFIG SMTPS_SEND_STATE_DIR SMTPS_SEND_TLS_RESUME \
		SMTPS_SEND_FLUSH_ON_SEND SMTPS_SEND_FROM SMTPS_SEND_TIMEOUT
	sx_client_env starttls
	km_n=0
}

km_cleanup() {
	local p
	for p in $bg; do
		kill -9 "$p" 2>/dev/null
	done
	km_blackhole_stop
	fake_stop
	rm -rf "$T"
}

km_newq() {
	Q=$T/$1
	SMTPS_SEND_QUEUE_DIR=$Q
	export SMTPS_SEND_QUEUE_DIR
}

# next_marker: a fresh $m.
next_marker() {
	km_n=$((km_n + 1))
	m="k$$-$km_n"
}

km_msg() {
	printf 'X-Test-Id: %s\nSubject: kill matrix\n\nbody of %s\n' "$1" "$1"
}

km_big() {
	{
		printf 'X-Test-Id: %s\nSubject: kill matrix, big\n\n' "$1"
		awk 'BEGIN { for (i = 0; i < 500000; i++) printf "%079d\n", i }'
	} >"$2"
}

count() {
	grep -l -r -F -e "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null | wc -l
}

km_copies() {
	local i=0 n
	# Postfix retries a local delivery that failed for a moment after 10 s.
	n=$(sx_scale 600)
	while [ "$(count "$1")" -lt "$2" ] && [ $i -lt "$n" ]; do
		sleep 0.05
		i=$((i + 1))
	done
	sleep 1
	c=$(count "$1")
	[ "$c" = "$2" ] || {
		cat "$T/q.out" >&2 2>/dev/null
		sx_fail "${3:-$1}: Postfix delivered $c copies, expected $2"
	}
}

km_bp() {
	"$BIN" -bp >"$T/bp" 2>"$T/bp.err" || {
		cat "$T/bp" "$T/bp.err" >&2
		sx_fail "-bp failed"
	}
}

# km_bp_has ERE WHAT: a line "ID AGE SIZE <ERE>" in -bp.
km_bp_has() {
	km_bp
	grep -q -E "^[0-9a-f]{32} +[0-9a-z]+ +[0-9]+ $1" "$T/bp" || {
		echo "--- -bp:" >&2
		cat "$T/bp" >&2
		echo "--- $Q:" >&2
		ls -la "$Q" >&2
		sx_fail "$2: -bp lists no message in state /$1/"
	}
}

# km_visible WHAT: nothing invisible -- each id of a message file in the
# queue (.msg, .tmp, .meta) is on a line of -bp.
km_visible() {
	local id
	km_bp
	for id in $(ls "$Q" 2>/dev/null | sed -n 's/^\([0-9a-f]\{32\}\)\.\(msg\|tmp\|meta\)$/\1/p' | sort -u); do
		grep -q "^$id " "$T/bp" || {
			cat "$T/bp" >&2
			ls -la "$Q" >&2
			sx_fail "$1: $id is in the queue directory but -bp does not list it"
		}
	done
}

km_q() {
	"$BIN" -q >"$T/q.out" 2>&1 || {
		cat "$T/q.out" >&2
		sx_fail "$1: -q failed"
	}
}

km_empty() {
	km_bp
	grep -q '^queue is empty' "$T/bp" || {
		cat "$T/bp" >&2
		sx_fail "$1: -bp is not empty"
	}
	! ls "$Q" 2>/dev/null | grep -q -E '^[0-9a-f]{32}\.(msg|tmp|meta)$' ||
		sx_fail "$1: message files are left: $(ls "$Q")"
}

km_wait_for() {
	local n what=$2 secs
	secs=$(sx_scale "$1")
	n=$((secs * 20))
	shift 2
	while ! "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || sx_fail "$what: not reached in $secs s"
		sleep 0.05
	done
}

km_blackhole() {
	rm -f "$T/bh.port"
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
# Fill the accept queue and never accept: further SYNs are dropped.
fill = []
for i in range(4):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", port))
    fill.append(c)
time.sleep(0.3)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % port)
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(float(sys.argv[2]))
' "$T/bh.port" "$(sx_scale 60)" </dev/null >/dev/null 2>&1 &
	BH_PID=$!
	km_wait_for 10 "the listener" test -s "$T/bh.port"
	BH_PORT=$(cat "$T/bh.port")
}

km_blackhole_stop() {
	[ -n "$BH_PID" ] || return 0
	kill "$BH_PID" 2>/dev/null
	wait "$BH_PID" 2>/dev/null
	BH_PID=
}

km_in_syn_sent() {
	ss -Htnp state syn-sent "dport = :$BH_PORT" 2>/dev/null | grep -q "pid=$1,"
}

km_syscall_of() {
	# The ERE through the environment: awk -v would eat its backslashes.
	KM_ERE=$2 awk '
	{
		name = $0
		sub(/^[0-9]+ +/, "", name)
		sub(/\(.*/, "", name)
		if (name !~ /^[a-z0-9_]+$/) next
		n[name]++
		if ($0 ~ ENVIRON["KM_ERE"]) { print name, n[name]; found = 1; exit }
	}
	END { if (!found) exit 1 }' "$1"
}

km_strace_kill() {
	local name=$1 when=$2
	shift 2
	# In a subshell whose stderr goes nowhere: dash says "Killed" there.
	(strace -qq -o /dev/null -e trace="$name" -e inject="$name:signal=KILL:when=$when" \
		"$@" 2>"$T/kill.err"
	exit $?) 2>/dev/null
	rc=$?
}

km_fake() {
	FAKE_TIMEOUT=60 fake_start "$@" || sx_fail "$1: the scripted server did not start"
}

km_fake_env() {
	SMTPS_SEND_PORT=$FAKE_PORT
	SMTPS_SEND_TLS_TRUST_FILE=$FAKE_CA
	SMTPS_SEND_PASSWORD_FILE=
	SMTPS_SEND_PASSWORD=alice-secret-1
	export SMTPS_SEND_PORT SMTPS_SEND_TLS_TRUST_FILE SMTPS_SEND_PASSWORD_FILE SMTPS_SEND_PASSWORD
}

# km_postfix_env: back to the real Postfix (after km_fake_env).
km_postfix_env() {
	unset SMTPS_SEND_PASSWORD
	sx_client_env starttls
}

# km_fake_has EXPR: a Python expression over the scripted server's record is true.
km_fake_has() {
	[ -s "$FAKE_RECORD" ] && [ "$(fake_json "$1" 2>/dev/null)" = true ]
}
