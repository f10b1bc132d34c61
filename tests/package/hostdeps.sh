# tests/package/hostdeps.sh — sourced by build-deb.sh and check.sh:
# pkg_need PKG... installs the Debian packages that are missing, the way
# tests/deps.sh does (root, apt-get, no daemon started, no question asked);
# as another user it prints the apt-get line and fails.

pkg_need() {
	_missing=
	for _p in "$@"; do
		case $(dpkg-query -W -f='${db:Status-Abbrev}' "$_p" 2>/dev/null) in
		ii*) ;;
		*) _missing="$_missing $_p" ;;
		esac
	done
	[ -z "$_missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "smtps-send: missing packages; as root run:" >&2
		echo "  apt-get install -y --no-install-recommends$_missing" >&2
		return 1
	fi
	echo "smtps-send: installing:$_missing" >&2
	# Postfix's postinst must not ask questions or write /etc/postfix/main.cf.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	_guard=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		_guard=1
	fi
	_rc=0
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || _rc=$?
	if [ $_rc -eq 0 ]; then
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			$_missing >/dev/null || _rc=$?
	fi
	[ -n "$_guard" ] && rm -f /usr/sbin/policy-rc.d
	if [ $_rc -ne 0 ]; then
		echo "smtps-send: apt-get failed (exit $_rc) installing:$_missing" >&2
		return 1
	fi
	return 0
}
