# tests/e2e/fake.sh - sourced by e2e tests (POSIX sh) to drive tests/e2e/fakesmtp.py.
#
#   fake_start SCENARIO [fakesmtp args...]  start it in the background (stopping a previous
#                                 one first); waits <= 10 s for its port; sets and exports
#                                 FAKE_PORT FAKE_RECORD FAKE_PID FAKE_DIR FAKE_CA FAKE_CERTS
#   fake_wait [SECONDS]           wait (bounded, times SX_TIME_FACTOR) for it to exit; returns its exit status
#                                 (124 when it had to be killed)
#   fake_stop                     kill it if still running, remove FAKE_DIR (keep it when
#                                 FAKE_KEEP is set); idempotent, for traps
#   fake_json EXPR                print a value from the record: c = the connections list,
#                                 r = the whole record, e.g. fake_json 'c[0]["quit_received"]'
#                                 (JSON for true/false/null/lists, raw for strings/numbers)
#
# Settings: FAKE_LEAF=good|expired|notyet|wrongname|selfsigned|untrusted picks the server
# certificate (or pass --cert/--key); FAKE_TIMEOUT (default 20) is the server's lifetime,
# and like fake_start's wait for the port (10 s) it is multiplied by SX_TIME_FACTOR (lib.sh);
# FAKE_CERTS is where the test certificates are made once and reused. The cwd is the repo top.

if [ -x /usr/bin/python3 ]; then
	FAKE_PYTHON=${FAKE_PYTHON:-/usr/bin/python3}
else
	FAKE_PYTHON=${FAKE_PYTHON:-python3}
fi
FAKE_PY=${FAKE_PY:-$(pwd)/tests/e2e/fakesmtp.py}
FAKE_CERTS=${FAKE_CERTS:-${TMPDIR:-/tmp}/smtps-send-e2e-certs.$(id -u)}
FAKE_PID=
FAKE_DIR=
case ${SX_TIME_FACTOR:-1} in '' | *[!0-9]* | 0) _fake_factor=1 ;; *) _fake_factor=$SX_TIME_FACTOR ;; esac

fake_certs() {
	# make-certs is idempotent and safe against parallel callers
	"$FAKE_PYTHON" "$FAKE_PY" --make-certs "$FAKE_CERTS" >/dev/null || return 1
	FAKE_CA=$FAKE_CERTS/ca.pem
	export FAKE_CA FAKE_CERTS
}

fake_start() {
	_fake_scenario=$1
	shift
	fake_stop   # one server at a time: drop a previous one (and its record)
	fake_certs || { echo "fake_start: cannot make certificates" >&2; return 1; }
	FAKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fakesmtp.$_fake_scenario.XXXXXX") || return 1
	FAKE_RECORD=$FAKE_DIR/record.json
	_fake_leaf=${FAKE_LEAF:-good}
	"$FAKE_PYTHON" "$FAKE_PY" --scenario "$_fake_scenario" \
	    --port-file "$FAKE_DIR/port" --record "$FAKE_RECORD" \
	    --cert "$FAKE_CERTS/$_fake_leaf.pem" --key "$FAKE_CERTS/$_fake_leaf.key" \
	    --timeout "$((${FAKE_TIMEOUT:-20} * _fake_factor))" "$@" >"$FAKE_DIR/log" 2>&1 &
	FAKE_PID=$!
	_fake_i=0
	while [ ! -s "$FAKE_DIR/port" ]; do
		if [ $_fake_i -ge $((100 * _fake_factor)) ] || ! kill -0 "$FAKE_PID" 2>/dev/null; then
			echo "fake_start: $_fake_scenario did not start:" >&2
			cat "$FAKE_DIR/log" >&2
			fake_stop
			return 1
		fi
		sleep 0.1
		_fake_i=$((_fake_i + 1))
	done
	FAKE_PORT=$(cat "$FAKE_DIR/port")
	export FAKE_PORT FAKE_RECORD FAKE_PID FAKE_DIR
}

fake_wait() {
	[ -n "$FAKE_PID" ] || return 0
	_fake_left=$(( (${1:-$((${FAKE_TIMEOUT:-20} + 5))}) * 10 * _fake_factor ))
	while kill -0 "$FAKE_PID" 2>/dev/null; do
		if [ $_fake_left -le 0 ]; then
			echo "fake_wait: server still running; killing it" >&2
			kill -9 "$FAKE_PID" 2>/dev/null
			wait "$FAKE_PID" 2>/dev/null
			FAKE_PID=
			return 124
		fi
		sleep 0.1
		_fake_left=$((_fake_left - 1))
	done
	wait "$FAKE_PID"
	_fake_rc=$?
	FAKE_PID=
	return $_fake_rc
}

fake_stop() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null   # SIGTERM: it writes its record and exits
		_fake_i=0
		while kill -0 "$FAKE_PID" 2>/dev/null && [ $_fake_i -lt 20 ]; do
			sleep 0.1
			_fake_i=$((_fake_i + 1))
		done
		kill -9 "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
	if [ -n "$FAKE_DIR" ] && [ -z "${FAKE_KEEP:-}" ]; then
		rm -rf "$FAKE_DIR"
		FAKE_DIR=
	fi
	return 0
}

fake_json() {
	"$FAKE_PYTHON" -c '
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
c = r["connections"]
v = eval(sys.argv[2])
print(v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else json.dumps(v))
' "$FAKE_RECORD" "$1"
}
