#!/bin/sh
# Run every cmocka unit-test runner given as an argument; fail if any fails.
# cmocka prints its own summary per runner; a plain total closes the run.
passed=0
failed=0
for t in "$@"; do
	if "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $t" >&2
	fi
done
echo "unit runners: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
