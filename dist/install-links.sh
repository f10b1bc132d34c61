#!/bin/sh
# dist/install-links.sh — the links through which callers reach smtps-send
# as the system's MTA (make install-sendmail-link, make uninstall).
#
#   sh dist/install-links.sh install   TARGET LINK...
#   sh dist/install-links.sh uninstall TARGET LINK...
#
# TARGET is the installed binary's final path (e.g. /usr/local/bin/smtps-send);
# each LINK an absolute path such as /usr/sbin/sendmail.  Both are paths on
# the final system; $DESTDIR is put in front of them for every file
# operation.  The binary answers to the name it is called by, so one list
# serves sendmail, mailq and newaliases alike.
#
# install: a LINK that already leads to TARGET is left alone; a missing or
# dangling one is created.  Anything else there (another MTA's binary, or
# a link to it) is refused, and nothing at all is changed, unless FORCE=1:
# then it is renamed to LINK.pre-smtps-send, which uninstall puts back.
# Every action is said on stdout.  Exit 0, or 1 when something was refused.
set -u

me=install-sendmail-link
D=${DESTDIR:-}

usage() {
	echo "usage: sh dist/install-links.sh install|uninstall TARGET LINK..." >&2
	exit 2
}

[ $# -ge 3 ] || usage
action=$1
target=$2
shift 2
case $target in /*) ;; *) usage ;; esac

# leads_to_target P: is $D$P a symbolic link to the binary itself?  One
# hop only (../bin/smtps-send counts as well as the absolute path), so a
# link to another link, such as mailq -> ../sbin/sendmail, is never taken
# for ours even when that other link is.
leads_to_target() {
	[ -L "$D$1" ] || return 1
	t=$(readlink "$D$1")
	[ "$t" = "$target" ] && return 0
	case $t in /*) return 1 ;; esac
	[ "$(realpath -m -s "$(dirname "$D$1")/$t")" = "$(realpath -m -s "$D$target")" ]
}

# owner P: "package NAME" when dpkg knows the file (only for the live
# system: a DESTDIR is not dpkg's).
owner() {
	[ -z "$D" ] && command -v dpkg-query >/dev/null 2>&1 || return 0
	pkg=$(dpkg-query -S "$1" 2>/dev/null | sed -n '1s/: .*//p')
	[ -n "$pkg" ] && printf ' (from the Debian package %s)' "$pkg"
}

case $action in
install)
	# First decide for every link, then change things: a refusal leaves
	# the system as it was, and no decision depends on an earlier change.
	plan=
	refused=0
	for l in "$@"; do
		case $l in
		/*[[:space:]]* | *[[:space:]]*) echo "$me: $l: blanks in a path" >&2; exit 2 ;;
		/*) ;;
		*) echo "$me: $l: not an absolute path" >&2; exit 2 ;;
		esac
		p=$D$l
		if leads_to_target "$l"; then
			plan="$plan keep:$l"
		elif [ -L "$p" ] && [ ! -e "$p" ]; then
			plan="$plan dangling:$l" # nothing is lost by replacing it
		elif [ -d "$p" ] && [ ! -L "$p" ]; then
			echo "$me: refusing: $l is a directory" >&2
			refused=1
		elif [ -e "$p" ] || [ -L "$p" ]; then
			if [ "${FORCE:-}" = 1 ]; then
				plan="$plan aside:$l"
			else
				if [ -L "$p" ]; then
					what="a link to $(readlink "$p")"
				else
					what="a regular file, probably another MTA's binary"
				fi
				echo "$me: refusing to replace $l: it is $what$(owner "$l")" >&2
				refused=1
			fi
		else
			plan="$plan new:$l"
		fi
	done
	if [ $refused = 1 ]; then
		echo "$me: nothing was changed.  On Debian install the smtps-send-mta package" >&2
		echo "$me: instead (it replaces the other MTA cleanly); or run again with FORCE=1" >&2
		echo "$me: to move the existing files aside to NAME.pre-smtps-send." >&2
		exit 1
	fi
	for step in $plan; do
		l=${step#*:}
		p=$D$l
		case $step in
		keep:*)
			echo "$me: $l -> $(readlink "$p") (already in place)"
			continue
			;;
		dangling:*)
			rm -f "$p" || exit 1
			note=" (replaced a dangling link)"
			;;
		aside:*)
			note=" (FORCE=1: the previous one is now $l.pre-smtps-send$(owner "$l"))"
			mv -f "$p" "$p.pre-smtps-send" || exit 1
			;;
		new:*)
			note=
			;;
		esac
		mkdir -p "$(dirname "$p")" || exit 1
		ln -s "$target" "$p" || exit 1
		echo "$me: $l -> $target$note"
	done
	;;
uninstall)
	for l in "$@"; do
		p=$D$l
		if leads_to_target "$l"; then
			rm -f "$p" || exit 1
			echo "uninstall: removed $l"
			if [ -e "$p.pre-smtps-send" ] || [ -L "$p.pre-smtps-send" ]; then
				mv -f "$p.pre-smtps-send" "$p" || exit 1
				echo "uninstall: put back $l from $l.pre-smtps-send"
			fi
		elif [ -e "$p" ] || [ -L "$p" ]; then
			echo "uninstall: left $l alone: it is not a link to $target"
		fi
	done
	;;
*)
	usage
	;;
esac
exit 0
