#!/bin/sh
# tests/package/build-deb.sh OUTDIR — make deb: the Debian packages
# smtps-send and smtps-send-mta, built with `dpkg-buildpackage -us -uc -b`
# from a copy of this tree (tracked and new files, not what .gitignore
# names) in OUTDIR/smtps-send-VERSION, so that configure's run for /usr
# does not touch this tree.  The .debs, .buildinfo and .changes land in
# OUTDIR, with the source package (.dsc) for lintian.  Missing build packages are installed as root (hostdeps.sh).
# Nothing here uses the network except apt-get for those packages.
set -eu

out=${1:?usage: build-deb.sh OUTDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/package/hostdeps.sh"

pkg_need dpkg-dev debhelper fakeroot
cd "$top"
version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
src=$out/smtps-send-$upstream

rm -rf "$out"
mkdir -p "$src"
out=$(cd "$out" && pwd)
src=$out/smtps-send-$upstream
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
	tar --exclude='./build*' --exclude=./config.mk --exclude=./config.h \
		--exclude=./config.status --exclude=./config.log --exclude=./autom4te.cache \
		-cf - . | tar -xf - -C "$src"
fi

# The build packages debian/control names (a <!nocheck> one only when the
# tests run).
cd "$src"
need=$(dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p' |
	sed 's/([^)]*)//g; s/<[^>]*>//g; s/|[^ ]*//g')
[ -n "$need" ] && pkg_need $need

# The source package as well (an orig tarball of the tree without debian/),
# for lintian's source checks; the binary build does not need it.
tar -C "$out" --exclude="smtps-send-$upstream/debian" -czf \
	"$out/smtps-send_$upstream.orig.tar.gz" "smtps-send-$upstream"
(cd "$out" && dpkg-source -b "smtps-send-$upstream") >"$out/source.log" 2>&1 || {
	cat "$out/source.log" >&2
	echo "make deb: dpkg-source -b failed" >&2
	exit 1
}

t0=$(date +%s)
if ! dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "make deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
echo "make deb: built in $(($(date +%s) - t0)) s:"
ls -1 "$out"/*.deb | sed 's/^/  /'
