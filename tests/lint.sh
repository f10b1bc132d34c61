#!/bin/sh
# make lint: clang-format conformance, cppcheck, and mandoc -Tlint on the
# man pages.  Tools that are missing are reported as skipped (make check
# installs them first; CI=true turns a skip into a failure).
set -u
rc=0
skip() {
	echo "lint: $1 not installed: skipped" >&2
	[ "${CI:-}" = true ] && rc=1
}
files=$(ls src/*.c src/*/*.c src/*/*.h src/auth/helper/*.c src/auth/helper/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c 2>/dev/null)

if command -v clang-format >/dev/null 2>&1; then
	bad=0
	for f in $files; do
		if ! clang-format --style=file "$f" | cmp -s - "$f"; then
			echo "lint: $f is not clang-formatted (run: clang-format -i $f)" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ] && echo "lint: clang-format: ok" || rc=1
else
	skip clang-format
fi

if command -v cppcheck >/dev/null 2>&1; then
	if cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
	    --enable=warning,portability,performance \
	    --suppress=missingIncludeSystem -I src -I . -D__GNUC__ \
	    src tests/unit 2>&1; then
		echo "lint: cppcheck: ok"
	else
		rc=1
	fi
else
	skip cppcheck
fi

if command -v mandoc >/dev/null 2>&1; then
	if [ -n "$(ls man/*.[1-8] 2>/dev/null)" ]; then
		if mandoc -Tlint -Wwarning man/*.[1-8]; then
			echo "lint: mandoc: ok"
		else
			rc=1
		fi
	fi
else
	skip mandoc
fi
exit $rc
