#!/bin/sh
# tests/fuzz/run.sh — build the libFuzzer harnesses into build-fuzz/ and run
# each for FUZZ_SECONDS (default 30) seconds.
#
#   sh tests/fuzz/run.sh [NAME...]   NAME: reply, caps, body, address, message,
#                                    conf, conf_env, cli, bs, dsn, queue_meta,
#                                    oauth, scram, msmtprc
#
# Environment: FUZZ_SECONDS, FUZZ_BUILD_ONLY=1 (build, do not run), CI=true
# (a missing clang or fuzzer runtime is a failure, not a skip), CC (default
# clang), FUZZ_OUT (default build-fuzz).
# The seed corpus tests/fuzz/corpus/NAME is passed read-only after the
# scratch corpus build-fuzz/corpus/NAME, so generated inputs never land in
# the source tree.  Crashes go to build-fuzz/crashes/NAME/.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
CC=${CC:-clang}
out=${FUZZ_OUT:-build-fuzz}
secs=${FUZZ_SECONDS:-30}
all="reply caps body address message conf conf_env cli bs dsn queue_meta oauth scram msmtprc"
names=${*:-$all}

missing() {
	if [ "${CI:-}" = true ]; then
		echo "fuzz: FAIL: $1 (CI=true: fuzzing is required)"
		echo "fuzz: 0 passed, 1 failed"
		exit 1
	fi
	echo "fuzz: SKIP: $1"
	echo "fuzz: 0 passed, 0 failed"
	exit 0
}

command -v "$CC" >/dev/null 2>&1 || missing "$CC not found (install clang)"
mkdir -p "$out/obj" "$out/corpus" "$out/crashes" || exit 1
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
    'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
    >"$out/probe.c"
"$CC" -fsanitize=fuzzer,address,undefined -o "$out/probe" "$out/probe.c" 2>/dev/null ||
    missing "$CC cannot link -fsanitize=fuzzer (install libclang-rt-dev for your clang)"
[ -f config.h ] || missing "config.h missing: run ./configure (or make) first"

pkgs="gnutls libbsd-overlay jansson"
# shellcheck disable=SC2086
pkg_cflags=$(pkg-config --cflags $pkgs) || missing "pkg-config $pkgs failed"
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $pkgs) || missing "pkg-config $pkgs failed"
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS_F="-std=c11 -g -O1 -Wall -Wextra $SAN -I. -Isrc -D_GNU_SOURCE $pkg_cflags"
# The quotes are meant literally: the macros are C string literals.
# shellcheck disable=SC2089
CFLAGS_F="$CFLAGS_F -DSYSCONFDIR=\"/etc\" -DDEFAULT_CONFIG=\"/nonexistent/smtps-send.conf\""

# The project's sources, except main.c, with the same instrumentation.
objs=
build_failed=
for src in src/*/*.c; do
	# Named with the folder (src/msg/header.c: msg_header.o): two folders may
	# hold files of the same name.
	name=$(echo "${src#src/}" | sed 's|/|_|g; s|\.c$||')
	obj="$out/obj/$name.o"
	# Rebuild when the source, any header or config.h is newer (others edit src/).
	if [ ! -f "$obj" ] || [ -n "$(find "$src" src/*/*.h config.h -newer "$obj" 2>/dev/null)" ]; then
		# shellcheck disable=SC2086,SC2090
		if ! $CC $CFLAGS_F -c -o "$obj" "$src" 2>"$out/obj/$name.log"; then
			echo "fuzz: cannot compile $src:"
			sed 's/^/  /' "$out/obj/$name.log" | head -20
			rm -f "$obj"
			build_failed="$build_failed $src"
			continue
		fi
	fi
	objs="$objs $obj"
done
rm -f "$out/libsmtps-fuzz.a"
# shellcheck disable=SC2086
ar rcs "$out/libsmtps-fuzz.a" $objs || exit 1

passed=0
failed=0
for n in $names; do
	h=tests/fuzz/fuzz_$n.c
	bin=$out/fuzz_$n
	if [ ! -f "$h" ]; then
		echo "fuzz_$n: FAIL (no $h)"
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC2086,SC2090
	if ! $CC $CFLAGS_F -o "$bin" "$h" "$out/libsmtps-fuzz.a" $pkg_libs 2>"$out/fuzz_$n.build.log"; then
		echo "fuzz_$n: FAIL (build; see $out/fuzz_$n.build.log)"
		sed 's/^/  /' "$out/fuzz_$n.build.log" | grep -v '^  *$' | head -10
		failed=$((failed + 1))
		continue
	fi
	if [ "${FUZZ_BUILD_ONLY:-}" = 1 ]; then
		echo "fuzz_$n: built $bin"
		passed=$((passed + 1))
		continue
	fi
	mkdir -p "$out/corpus/$n" "$out/crashes/$n" "tests/fuzz/corpus/$n"
	log=$out/fuzz_$n.log
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/crashes/$n/" "$out/corpus/$n" "tests/fuzz/corpus/$n" \
	    >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1)
	echo "fuzz_$n: ${execs:-?} executions in ${secs}s, ${cov:-cov: ?}, ${ft:-ft: ?}"
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_$n: PASS"
		passed=$((passed + 1))
	else
		echo "fuzz_$n: FAIL (exit $rc; log $log, inputs in $out/crashes/$n/)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 | sed 's/^/  /'
		failed=$((failed + 1))
	fi
done
[ -n "$build_failed" ] && echo "fuzz: note: did not compile:$build_failed"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
