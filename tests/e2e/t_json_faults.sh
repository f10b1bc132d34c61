#!/bin/sh
# Every JSON line of every case of the fault suite conforms to the schema
# smtps-send(1) documents (DIAGNOSTICS): each tests/e2e/t_faults_*.sh runs
# with FX_JSON=1, so faults_lib.sh's fx runs each case once more with
# --diag-format=json and checks its stderr with json_schema.py (known
# events, their fields and types, the run's result last with the exit
# status) before the text run its assertions read.  The server cases take
# longest: t_json_faults_server.sh runs them, this file the others
# (JSON_FAULTS names the files to run; default: all but those).
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
command -v python3 >/dev/null 2>&1 || {
	echo "t_json_faults: python3 not found"
	exit 77
}

: "${JSON_FAULTS:=}"
if [ -z "$JSON_FAULTS" ]; then
	for f in tests/e2e/t_faults_*.sh; do
		n=$(basename "$f" .sh)
		[ "$n" = t_faults_server ] || JSON_FAULTS="$JSON_FAULTS $n"
	done
fi
log=$(mktemp /tmp/sxjf.XXXXXX)
sx_on_exit 'rm -f "$log"'
for n in $JSON_FAULTS; do
	: >"$log"
	FX_JSON=1 FX_JSON_LOG=$log sh "tests/e2e/$n.sh" >"$log.out" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		cat "$log.out" >&2
		rm -f "$log.out"
		sx_fail "$n with FX_JSON=1: exit $rc"
	fi
	rm -f "$log.out"
	# A fault file that runs cases through fx must have checked them.
	cases=$(grep -c -E '(^|[ ;])fx [a-z0-9]' "tests/e2e/$n.sh")
	checked=$(wc -l <"$log")
	if [ "$cases" -gt 0 ] && [ "$checked" -lt "$cases" ]; then
		sx_fail "$n: $checked JSON runs checked, the file has $cases fx cases"
	fi
	echo "ok $n: $checked cases' JSON diagnostics conform"
done
