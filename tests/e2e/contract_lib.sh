# tests/e2e/contract_lib.sh -- sourced by t_contract_*.sh (POSIX sh): the
# sendmail contract (issue 15) with real callers.  A message durably queued
# for retry is accepted (the caller is told success), the queue runner
# (-q<interval>) delivers it once the relay is back, and nothing is both
# reported failed and delivered.
#
#   ct_setup N            BIN, T (private directory), SMTPS_SEND_QUEUE_DIR=$T/q,
#                         the client environment of lib.sh pointed at the
#                         relay below (port CT_RELAY_PORT = the STARTTLS port
#                         + 10 + N: the harness uses +0..9, so +10..19 are free),
#                         SMTPS_SEND_FROM=alice@localhost; cleans up at exit
#   relay_up / relay_down "the relay": tests/e2e/relayproxy.py on
#                         CT_RELAY_PORT forwarding to the shared Postfix's
#                         STARTTLS port; down = port closed (connection refused)
#   ct_wrapper FILE VAR=VALUE...   a sendmail_path for a caller: sets the
#                         SMTPS_SEND_* of this shell (and VAR=VALUE), runs
#                         "$BIN" "$@", appends "exit RC: ARGV" and a copy of
#                         its stderr to FILE.log, and exits with its status
#   runner_start INTERVAL start "$BIN -v -q$INTERVAL" in the background (log
#                         $T/runner.log) and wait until it runs
#   runner_stop           SIGTERM: it must exit 0, and nothing of it (no
#                         smtps-send with this queue) may be left running
#   count MARKER          delivered files containing MARKER
#   stable_count MARKER N [TIMEOUT]   wait for N copies, then none more for 1 s
#   never_delivered MARKER           no copy delivered (now)
#   listing               "$BIN -bp" into $T/bp (fails the test unless 0)
#   queued_state STATE    ids -bp lists in STATE (deferred, held, failed)
#   queue_empty WHAT      -bp says empty and the directory has no message
#   wait_for SECONDS CMD...   poll CMD every 0.1 s until it succeeds

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
ct_relay_pid=
ct_runner_pid=
ct_bg=

ct_setup() {
	T=$(mktemp -d /tmp/sxc.XXXXXX) || exit 1
	# The harness uses base+0..10 of its block of 20; proxies take base+11..15.
	CT_RELAY_PORT=$((SX_PORT_STARTTLS + 11 + $1))
	sx_on_exit 'ct_cleanup'
	sx_client_env starttls "$CT_RELAY_PORT"
	SMTPS_SEND_QUEUE_DIR=$T/q
	SMTPS_SEND_FROM=alice@localhost
	export SMTPS_SEND_QUEUE_DIR SMTPS_SEND_FROM
	# Nothing of the machine's or the user's configuration may take part.
	HOME=$T/home
	XDG_CONFIG_HOME=$T/home/.config
	export HOME XDG_CONFIG_HOME
	mkdir -p "$HOME"
	ct_bin_real=$(readlink -f "$BIN")
	if _sx_port_busy "$CT_RELAY_PORT"; then
		echo "SKIP: port $CT_RELAY_PORT (the test relay's) is busy" >&2
		exit 77
	fi
}

ct_cleanup() {
	local p
	for p in $ct_runner_pid $ct_bg; do
		kill -TERM "$p" 2>/dev/null
	done
	[ -n "$ct_relay_pid" ] && kill -TERM "$ct_relay_pid" 2>/dev/null
	sleep 0.2
	for p in $ct_runner_pid $ct_bg $ct_relay_pid; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}

# wait_for SECONDS CMD...
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	"$@"
}

_ct_refused() {
	! python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)' "$CT_RELAY_PORT" 2>/dev/null
}

relay_up() {
	[ -z "$ct_relay_pid" ] || sx_fail "relay_up: the relay is already up"
	rm -f "$T/relay.ready"
	python3 tests/e2e/relayproxy.py "$CT_RELAY_PORT" "$SX_PORT_STARTTLS" \
		"$T/relay.ready" </dev/null >>"$T/relay.log" 2>&1 &
	ct_relay_pid=$!
	wait_for 10 test -s "$T/relay.ready" || {
		cat "$T/relay.log" >&2
		sx_fail "the relay (proxy on port $CT_RELAY_PORT) did not start"
	}
}

relay_down() {
	if [ -n "$ct_relay_pid" ]; then
		kill -TERM "$ct_relay_pid"
		wait "$ct_relay_pid" 2>/dev/null
		ct_relay_pid=
	fi
	wait_for 5 _ct_refused || sx_fail "relay_down: port $CT_RELAY_PORT still accepts connections"
}

# ct_wrapper FILE VAR=VALUE...: see the top.
ct_wrapper() {
	local f="$1" v
	shift
	case "$BIN $f $*" in *"'"*) sx_fail "ct_wrapper: a quote in a path or value" ;; esac
	{
		echo '#!/bin/sh'
		env | grep -E '^(SMTPS_SEND_[A-Z_]+|HOME|XDG_CONFIG_HOME)=' | sort |
			while IFS= read -r v; do
				printf "export %s='%s'\n" "${v%%=*}" "${v#*=}"
			done
		for v in "$@"; do
			printf "export %s='%s'\n" "${v%%=*}" "${v#*=}"
		done
		cat <<EOF
'$BIN' "\$@" 2>'$f.err.tmp'
rc=\$?
cat '$f.err.tmp' >&2
{ cat '$f.err.tmp'; echo "exit \$rc: \$*"; } >>'$f.log'
rm -f '$f.err.tmp'
exit \$rc
EOF
	} >"$f"
	chmod 755 "$f"
	: >"$f.log"
}

_ct_runner_started() {
	grep -q 'queue runner on ' "$T/runner.log" 2>/dev/null
}

# runner_start INTERVAL [VAR=VALUE...]
runner_start() {
	local iv="$1"
	shift
	[ -z "$ct_runner_pid" ] || sx_fail "runner_start: a runner is already running"
	env "$@" "$BIN" -v "-q$iv" </dev/null >>"$T/runner.log" 2>&1 &
	ct_runner_pid=$!
	wait_for 10 _ct_runner_started || {
		cat "$T/runner.log" >&2
		sx_fail "the queue runner -q$iv did not start"
	}
}

# Pids of smtps-send processes working on this test's queue directory.
_ct_ours() {
	local d p
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$ct_bin_real" ] || continue
		grep -q -z -x -F "SMTPS_SEND_QUEUE_DIR=$T/q" "$d/environ" 2>/dev/null &&
			echo "$p"
	done
}

_ct_none_left() {
	[ -z "$(_ct_ours)" ]
}

runner_stop() {
	local rc left
	[ -n "$ct_runner_pid" ] || sx_fail "runner_stop: no runner"
	kill -TERM "$ct_runner_pid" || sx_fail "runner_stop: the runner was already gone"
	wait "$ct_runner_pid"
	rc=$?
	ct_runner_pid=
	if [ $rc -ne 0 ]; then
		cat "$T/runner.log" >&2
		sx_fail "the queue runner ended with $rc on SIGTERM, expected 0"
	fi
	wait_for 3 _ct_none_left
	left=$(_ct_ours)
	[ -z "$left" ] || sx_fail "smtps-send left running after the runner stopped: $left"
}

count() {
	grep -l -r -F -e "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null | wc -l
}

_ct_count_ge() {
	[ "$(count "$1")" -ge "$2" ]
}

# stable_count MARKER N [TIMEOUT]
stable_count() {
	local c
	wait_for "${3:-30}" _ct_count_ge "$1" "$2"
	sleep 1
	c=$(count "$1")
	if [ "$c" != "$2" ]; then
		[ -f "$T/runner.log" ] && sed 's/^/runner: /' "$T/runner.log" >&2
		sx_fail "$1: delivered $c time(s), expected $2"
	fi
}

never_delivered() {
	[ "$(count "$1")" = 0 ] || sx_fail "$1 was delivered ($(count "$1") copies) but must not be"
}

listing() {
	"$BIN" -bp >"$T/bp" 2>&1 || {
		cat "$T/bp" >&2
		sx_fail "-bp failed"
	}
}

# queued_state STATE: the ids -bp lists in STATE, one a line.
queued_state() {
	listing
	sed -n -E "s/^([0-9a-f]{32}) +[0-9]+[smhd]? +[0-9]+ $1 .*/\\1/p" "$T/bp"
}

queue_empty() {
	listing
	grep -q '^queue is empty' "$T/bp" || {
		cat "$T/bp" >&2
		sx_fail "$1: the queue is not empty"
	}
	[ -z "$(ls "$T/q" | grep -E '\.(msg|meta)$')" ] ||
		sx_fail "$1: files left in the queue: $(ls "$T/q")"
}
