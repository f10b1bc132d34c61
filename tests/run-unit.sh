#!/bin/sh
# Run every cmocka unit-test runner given as an argument; fail if any fails.
# cmocka prints its own summary per runner; a plain total closes the run.
# UNIT_WRAPPER (e.g. "valgrind -q --error-exitcode=99 ...") runs each under it.
passed=0
failed=0
for t in "$@"; do
	# shellcheck disable=SC2086
	if ${UNIT_WRAPPER:-} "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $t" >&2
	fi
done
echo "unit runners: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
