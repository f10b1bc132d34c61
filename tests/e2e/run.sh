#!/bin/sh
# End-to-end runner (make check-e2e):
#   SMTPS_SEND=/abs/path/smtps-send sh tests/e2e/run.sh [FILTER...]
# Starts the real-server harness once (lib.sh), runs every tests/e2e/t_*.sh
# (or those whose name contains FILTER) in sorted order as "sh FILE", and
# stops the server whatever happens.  A test exits 0 (pass), 77 (skip) or
# anything else (fail); each is limited to SX_TEST_TIMEOUT seconds (240)
# times SX_TIME_FACTOR, and its time is shown beside its result.
# SX_TIME_FACTOR (a whole number, default 1) says how much slower than a
# plain build this run may be: the Makefile passes 3 for the sanitizer build
# and 5 under valgrind; lib.sh's sx_scale gives tests their waits scaled by
# it.  Without root or the server packages every test is skipped -- except
# with CI=true, where a skip is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SX_LIB=$here/lib.sh
export SX_LIB
. "$SX_LIB"

filter="$*"
: "${SMTPS_SEND:=$(cd "$here/../.." && pwd)/build/smtps-send}"
export SMTPS_SEND
timeout_s=$(sx_scale "${SX_TEST_TIMEOUT:-240}")

tests=
for f in "$here"/t_*.sh; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .sh)
	if [ -z "$filter" ]; then
		tests="$tests $f"
		continue
	fi
	for want in $filter; do
		case "$n" in *"$want"*)
			tests="$tests $f"
			break
			;;
		esac
	done
done
tests=$(printf '%s\n' $tests | sort)
if [ -z "$tests" ]; then
	echo "e2e: no test matches '${filter}'" >&2
	echo "e2e: 0 passed, 0 failed, 0 skipped"
	exit 1
fi

pass=0 fail=0 skip=0
out=$(mktemp /tmp/sxe-out.XXXXXX) || exit 1
tpid=

cleanup() {
	if [ -n "$tpid" ]; then
		kill -TERM "$tpid" 2>/dev/null
		wait "$tpid" 2>/dev/null
		tpid=
	fi
	sx_server_stop
	rm -f "$out"
}
on_signal() {
	trap - EXIT INT TERM HUP
	echo "e2e: interrupted" >&2
	cleanup
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

sx_server_start
start_rc=$?

for f in $tests; do
	n=$(basename "$f" .sh)
	if [ $start_rc -ne 0 ]; then
		if [ $start_rc -eq 77 ] && [ "${CI:-}" != true ]; then
			echo "SKIP $n (server not available)"
			skip=$((skip + 1))
		else
			echo "FAIL $n (the server could not be started${CI:+; CI=$CI})"
			fail=$((fail + 1))
		fi
		continue
	fi
	# In the background so that a signal reaches our trap at once; timeout
	# puts the test in its own process group and kills all of it.
	t0=$(date +%s)
	timeout -k 5 "$timeout_s" sh "$f" </dev/null >"$out" 2>&1 &
	tpid=$!
	wait "$tpid"
	rc=$?
	tpid=
	secs="$(($(date +%s) - t0)) s"
	case $rc in
	0)
		echo "PASS $n ($secs)"
		pass=$((pass + 1))
		;;
	77)
		if [ "${CI:-}" = true ]; then
			echo "FAIL $n (skipped, and CI=true forbids skips)"
			sed 's/^/    /' "$out"
			fail=$((fail + 1))
		else
			echo "SKIP $n ($secs)"
			skip=$((skip + 1))
		fi
		;;
	*)
		[ $rc -eq 124 ] && echo "    (timed out after ${timeout_s} s)" >>"$out"
		echo "FAIL $n (exit $rc after $secs)"
		sed 's/^/    /' "$out"
		fail=$((fail + 1))
		;;
	esac
	# A test must leave the shared server running.
	if [ $start_rc -eq 0 ] && ! [ -d "$SX_RUNDIR" ]; then
		echo "FAIL $n removed the server's run directory"
		fail=$((fail + 1))
		start_rc=1
	fi
done

if [ $start_rc -eq 0 ]; then
	if ! sx_server_stop; then
		echo "FAIL server-stop (daemons left running: $(sx_leftover_pids))"
		fail=$((fail + 1))
	fi
	left=$(sx_leftover_pids)
	if [ -n "$left" ]; then
		echo "FAIL server-stop: processes of the run still alive: $left" >&2
		ps -o pid,stat,args -p "$(echo $left | tr ' ' ,)" >&2 2>/dev/null
		fail=$((fail + 1))
	fi
fi

echo "e2e: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
