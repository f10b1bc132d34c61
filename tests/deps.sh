#!/bin/sh
# Install what smtps-send needs to build and test, when it is missing.
# make deps, make check and make demo call it; a plain make never does.
# (automake only for aclocal, which autoreconf uses to find pkg.m4.)
#   sh tests/deps.sh build   compiler, autoconf, pkg-config, GnuTLS, libbsd, jansson, libcurl, cmocka
#   sh tests/deps.sh test    the above plus the real-server, lint and packaging tools
#   sh tests/deps.sh only P… exactly these packages (tests/package uses it)
# As root, missing Debian packages are installed with apt-get; otherwise the
# exact apt-get line is printed and the step fails (build, only) or warns (test).
# Quick and silent when everything is present.
set -eu

build_pkgs="gcc libc6-dev make autoconf automake pkg-config libgnutls28-dev libbsd-dev libjansson-dev libcurl4-gnutls-dev libcmocka-dev"
test_pkgs="postfix dovecot-core gnutls-bin openssl iproute2 procps time python3 strace mandoc clang-format cppcheck valgrind clang libclang-rt-14-dev php-cli php-symfony-mailer"
# make check-package: the .debs, lintian, a Debian 12 chroot.
package_pkgs="dpkg-dev debhelper fakeroot lintian debootstrap"

mode=${1:-build}
case $mode in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs $package_pkgs" ;;
only)
	shift
	want="$*"
	;;
*)
	echo "usage: sh tests/deps.sh build|test|only PACKAGE..." >&2
	exit 2
	;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "smtps-send: missing packages; as root run:" >&2
	echo "  apt-get install -y --no-install-recommends$missing" >&2
	[ "$mode" = only ] && exit 1
	case " $missing " in
	*" gcc "*|*" autoconf "*|*" pkg-config "*|*" libgnutls28-dev "*|*" libbsd-dev "*|*" libjansson-dev "*|*" libcurl4-gnutls-dev "*)
		exit 1 ;;
	esac
	exit 0
fi

echo "smtps-send: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix's postinst must not ask questions or write /etc/postfix/main.cf.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# No package may start a system daemon during the install (no systemd here).
guard=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=1
fi
rc=0
apt-get update -q >/dev/null || rc=$?
if [ $rc -eq 0 ]; then
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null || rc=$?
fi
[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
if [ $rc -ne 0 ]; then
	echo "smtps-send: apt-get failed (exit $rc) installing:$missing" >&2
	exit 1
fi
exit 0
