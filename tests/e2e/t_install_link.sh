#!/bin/sh
# t_install_link.sh — `make install-sendmail-link DESTDIR=...` stages the
# binary, both man pages and the sendmail(8) links, and the staged
# sendmail link runs (as "sendmail", the way cron and PHP call it).
# Run from the repository top by tests/e2e/run.sh; exit 0 pass, 1 fail,
# 77 skip.  Builds into its own O directory, never build/.
set -u

fail() {
	echo "t_install_link: FAIL: $*" >&2
	exit 1
}

command -v make >/dev/null 2>&1 || { echo "t_install_link: make not found: skipped"; exit 77; }
[ -f Makefile ] && [ -d src ] || fail "run from the repository top (cwd is $(pwd))"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_install_link.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
root="$tmp/root"

if ! make -s O="$tmp/o" DESTDIR="$root" install-sendmail-link >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	fail "make install-sendmail-link DESTDIR=$root failed"
fi

prefix=/usr/local
bin="$root$prefix/bin/smtps-send"
[ -x "$bin" ] || fail "$bin not installed"
for m in man1/smtps-send.1 man5/smtps-send.conf.5; do
	[ -f "$root$prefix/share/man/$m" ] || fail "$prefix/share/man/$m not installed"
done

for link in "$prefix/sbin/sendmail" "$prefix/lib/sendmail"; do
	[ -L "$root$link" ] || fail "$link is not a symbolic link"
	target=$(readlink "$root$link")
	# An absolute target is right for the final root; look for it in DESTDIR.
	case $target in
	/*) staged="$root$target" ;;
	*) staged="$(dirname "$root$link")/$target" ;;
	esac
	[ -x "$staged" ] || fail "$link points to $target, which is not the installed binary"
	cmp -s "$staged" "$bin" || fail "$link does not lead to $prefix/bin/smtps-send"
done

# Run it under the name sendmail.  If the staged link is absolute (it
# points outside DESTDIR until installed for real), call the binary through
# a relative link of the same name instead.
run="$root$prefix/sbin/sendmail"
if [ ! -x "$run" ]; then
	mkdir -p "$tmp/sbin" && ln -s "$bin" "$tmp/sbin/sendmail" || fail "ln"
	run="$tmp/sbin/sendmail"
fi
out=$("$run" --version 2>&1) || fail "sendmail --version exited $?: $out"
case $out in
*smtps-send*) ;;
*) fail "sendmail --version printed: $out" ;;
esac

# A sendmail-style usage error through the link: exit 64 and the flag named.
"$run" -x root </dev/null >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 64 ] || fail "sendmail -x root exited $rc, expected 64 (EX_USAGE)"
grep -q -- '-x' "$tmp/out" || fail "usage error does not name -x: $(cat "$tmp/out")"

echo "t_install_link: ok ($out)"
exit 0
