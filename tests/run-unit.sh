#!/bin/sh
# Run every cmocka unit-test runner given as an argument; fail if any fails.
# cmocka prints its own summary per runner; a plain total closes the run.
# UNIT_WRAPPER (e.g. "valgrind -q --error-exitcode=99 ...") runs each under it.
# HAVE_CMOCKA=no (configure did not find cmocka): nothing was built; say so
# and skip, except under CI=true, where a skip is a failure.
if [ "${HAVE_CMOCKA:-yes}" != yes ]; then
	if [ "${CI:-}" = true ]; then
		echo "unit: FAIL: cmocka not found by configure (CI=true: unit tests are required)" >&2
		exit 1
	fi
	echo "unit: SKIP: cmocka not found by configure; to run the unit tests:" >&2
	echo "  apt-get install libcmocka-dev (Debian), then ./configure again" >&2
	exit 0
fi
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
