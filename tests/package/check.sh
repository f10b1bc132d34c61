#!/bin/sh
# tests/package/check.sh — make check-package (root, Debian 12).
#
# Builds the .debs (make deb), runs lintian, and does what a container
# recipe or an admin does, in a minimal Debian 12 chroot made with
# debootstrap from the mirror apt uses here, with Postfix installed as the
# MTA to replace:
#   apt-get install ./smtps-send_*.deb ./smtps-send-mta_*.deb  (no download)
#   -> Postfix removed cleanly, /usr/sbin/sendmail & co. lead to smtps-send,
#      conffile, queue directory, systemd timer + service (systemd-analyze
#      verify) and the cron.d entry in place
#   cron's exact argv through /usr/sbin/sendmail, configured by SMTPS_SEND_*
#   variables only, delivers to the e2e harness's Postfix outside the
#   chroot (tests/e2e/lib.sh, on loopback; the chroot gets its test CA)
#   mailq lists a queued message, newaliases exits 0, the cron.d entry and
#   the container's runner (smtps-send -q5m) deliver it
#   apt-get remove, then purge: nothing is left but a queue holding a message.
#
# The debootstrap result (plus Postfix and systemd) is cached as a tarball
# in $SX_PKG_CACHE (/var/cache/smtps-send-check), keyed by the package
# list; the first run needs the network and takes minutes, later ones not.
# Only /proc is mounted in the chroot; a trap unmounts it, stops every
# process whose root is the chroot, stops the harness and removes the
# chroot, however the script ends.
#
# Checks that wait for a feature the binary does not have yet are named
# "needs-binary: ..." and fail with that reason.
# Exit 0 all passed, 1 a check failed, 77 cannot run here (not root, no
# Debian); the closing line is "check-package: N passed, N failed".
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
O=${O:-build}
case $O in /*) OUT=$O ;; *) OUT=$top/$O ;; esac
DEBS=$OUT/deb
SUITE=bookworm
CACHE=${SX_PKG_CACHE:-/var/cache/smtps-send-check}
# What the cached chroot holds besides debootstrap's minbase: the MTA to
# replace, systemd for systemd-analyze, the libraries smtps-send needs
# (so that installing the .debs needs no download).  A change here (or in
# RECIPE) makes a new tarball.
CHROOT_PKGS="postfix systemd ca-certificates libgnutls30 libbsd0 libjansson4 libcurl3-gnutls"
RECIPE=1

say() { echo "check-package: $*"; }

if [ "$(id -u)" != 0 ]; then
	say "SKIP: needs root (debootstrap, chroot)"
	exit 77
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
	say "SKIP: not a Debian system"
	exit 77
fi

. "$top/tests/package/hostdeps.sh"
# lintian and debootstrap for this check; the e2e harness's servers.
pkg_need dpkg-dev debhelper fakeroot lintian debootstrap \
	postfix dovecot-core gnutls-bin iproute2 procps || exit 1

ARCH=$(dpkg --print-architecture)
T0=$(date +%s)

# ---- results --------------------------------------------------------------
npass=0 nfail=0 failed= waiting=
why=

# check NAME FUNCTION [ARGS]: FUNCTION returns 0 or sets $why and returns 1.
check() {
	name=$1
	shift
	why=
	if "$@"; then
		echo "PASS $name"
		npass=$((npass + 1))
	else
		echo "FAIL $name${why:+: $why}"
		nfail=$((nfail + 1))
		failed="$failed $name"
	fi
}

# check_needs FEATURE NAME FUNCTION [ARGS]: a check of behaviour the
# binary is still to get; a failure says which feature it waits for.
check_needs() {
	feature=$1
	name="needs-binary:$2"
	shift 2
	why=
	if "$@"; then
		echo "PASS $name"
		npass=$((npass + 1))
	else
		echo "FAIL $name (waits for the binary: $feature)${why:+: $why}"
		nfail=$((nfail + 1))
		failed="$failed $name"
		waiting="$waiting $name"
	fi
}

finish() {
	say "$(($(date +%s) - T0)) s in all (chroot: $chroot_how)"
	[ -n "$waiting" ] && say "waiting for the binary:$waiting"
	[ -n "$failed" ] && say "failed:$failed"
	echo "check-package: $npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
	exit $?
}

# ---- clean-up: always -----------------------------------------------------
R=
chroot_how="not made"
runner_pid=

# Pids of the processes whose root directory is the chroot.
chroot_pids() {
	[ -n "$R" ] || return 0
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/root" 2>/dev/null)" = "$R" ] && echo "${d#/proc/}"
	done
}

# Mount points at or under the chroot, deepest first.
chroot_mounts() {
	[ -n "$R" ] || return 0
	awk -v r="$R" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r
}

cleanup() {
	if [ -n "$R" ] && [ -d "$R" ]; then
		[ -n "$runner_pid" ] && kill -TERM "$runner_pid" 2>/dev/null
		pids=$(chroot_pids)
		if [ -n "$pids" ]; then
			kill -TERM $pids 2>/dev/null
			sleep 1
			pids=$(chroot_pids)
			[ -n "$pids" ] && kill -KILL $pids 2>/dev/null && sleep 0.2
		fi
		for m in $(chroot_mounts); do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
		if [ -n "$(chroot_mounts)" ]; then
			echo "check-package: still mounted, NOT removing $R: $(chroot_mounts)" >&2
		else
			rm -rf --one-file-system "$R"
		fi
	fi
	sx_server_stop 2>/dev/null
}
trap 'cleanup' EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM
trap 'cleanup; trap - EXIT; exit 129' HUP

# ---- 1. the packages and lintian --------------------------------------------
build_debs() {
	sh tests/package/build-deb.sh "$DEBS" >"$OUT/check-package-build.log" 2>&1 || {
		tail -n 30 "$OUT/check-package-build.log"
		why="make deb failed (log: $OUT/check-package-build.log)"
		return 1
	}
	set -- "$DEBS"/smtps-send_*.deb
	[ -f "$1" ] || { why="no smtps-send_*.deb in $DEBS"; return 1; }
	set -- "$DEBS"/smtps-send-mta_*.deb
	[ -f "$1" ] || { why="no smtps-send-mta_*.deb in $DEBS"; return 1; }
}

run_lintian() {
	# Errors and warnings fail; everything else is shown (and all of it is
	# overridden with a reason in debian/ today).
	lintian -I -E --pedantic --fail-on error,warning \
		"$DEBS"/*.dsc "$DEBS"/*.changes >"$DEBS/lintian.log" 2>&1
	rc=$?
	grep -E '^[EWIPX]:' "$DEBS/lintian.log" | sed 's/^/    /'
	# Again only to count the overrides (with --show-overrides lintian's
	# exit status counts them too).
	lintian -I -E --pedantic --show-overrides "$DEBS"/*.dsc "$DEBS"/*.changes \
		>"$DEBS/lintian-overrides.log" 2>&1
	say "lintian: $(grep -c '^E:' "$DEBS/lintian.log") errors," \
		"$(grep -c '^W:' "$DEBS/lintian.log") warnings," \
		"$(grep -c '^[IPX]:' "$DEBS/lintian.log") info/pedantic/experimental," \
		"$(grep -c '^O:' "$DEBS/lintian-overrides.log") overridden with a reason"
	[ $rc -eq 0 ] || { why="lintian exited $rc"; return 1; }
}

mkdir -p "$OUT" || exit 1
check build build_debs || :
if [ -n "$failed" ]; then
	finish
fi
check lintian run_lintian

# ---- 2. the chroot ------------------------------------------------------------
# The mirror apt uses here for $SUITE (deb822 .sources first, then .list).
apt_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") &&
			    enabled != "no" && uri != "" && !found) { print uri; found = 1 }
			types = suites = uri = enabled = ""
		}
		/^[ \t]*$/ { flush(); next }
		/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
		/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
		/^URIs:/ { uri = $2 }
		/^Enabled:/ { enabled = $2 }
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
	done
}
MIRROR=$(apt_mirror | sed -n 1p)
: "${MIRROR:=http://deb.debian.org/debian}"

KEY=$(printf '%s\n' "$SUITE $ARCH minbase $CHROOT_PKGS recipe=$RECIPE" | sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-$ARCH-$KEY.tar.gz

# The chroot from the cached tarball, or (cold) debootstrap + Postfix +
# systemd, then the tarball.  Postfix is configured for local mail only
# and nothing may start a daemon (policy-rc.d stays in the chroot).
make_chroot() {
	t=$(date +%s)
	R=$(mktemp -d /var/tmp/smtps-send-chroot.XXXXXX) || { why="mktemp"; return 1; }
	chmod 755 "$R"
	if [ -f "$TARBALL" ]; then
		tar --numeric-owner -xzf "$TARBALL" -C "$R" || { why="cannot unpack $TARBALL"; return 1; }
		chroot_how="warm, from $TARBALL in $(($(date +%s) - t)) s"
		return 0
	fi
	say "no cached chroot ($TARBALL): debootstrap $SUITE from $MIRROR (minutes)"
	if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$R" "$MIRROR" \
		>"$OUT/check-package-debootstrap.log" 2>&1; then
		tail -n 20 "$OUT/check-package-debootstrap.log"
		why="debootstrap failed (log: $OUT/check-package-debootstrap.log)"
		return 1
	fi
	printf '#!/bin/sh\n# check-package: no daemon starts in this chroot\nexit 101\n' \
		>"$R/usr/sbin/policy-rc.d"
	chmod 755 "$R/usr/sbin/policy-rc.d"
	mount -t proc proc "$R/proc" || { why="mount proc"; return 1; }
	printf '%s\n' "postfix postfix/main_mailer_type select Local only" \
		"postfix postfix/mailname string chroot.example.org" |
		chroot "$R" debconf-set-selections
	if ! chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive sh -c "apt-get install -y -q --no-install-recommends \
		$CHROOT_PKGS && apt-get clean" >"$OUT/check-package-chroot-apt.log" 2>&1; then
		tail -n 20 "$OUT/check-package-chroot-apt.log"
		umount "$R/proc"
		why="apt-get install $CHROOT_PKGS in the chroot failed"
		return 1
	fi
	umount "$R/proc" || { why="umount proc"; return 1; }
	mkdir -p "$CACHE" && chmod 700 "$CACHE"
	tar --numeric-owner -czf "$TARBALL.tmp" -C "$R" . && mv -f "$TARBALL.tmp" "$TARBALL" || {
		rm -f "$TARBALL.tmp"
		why="cannot write $TARBALL"
		return 1
	}
	chroot_how="cold: debootstrap, $CHROOT_PKGS and the tarball in $(($(date +%s) - t)) s"
}

check chroot make_chroot
if [ -n "$failed" ] && [ -z "${failed##*chroot*}" ]; then
	finish
fi
say "chroot $R ($chroot_how)"
mount -t proc proc "$R/proc" || { echo "FAIL mount /proc"; finish; }
for dev in null zero random urandom; do
	[ -c "$R/dev/$dev" ] && continue
	rm -f "$R/dev/$dev" && : >"$R/dev/$dev" && mount --bind "/dev/$dev" "$R/dev/$dev"
done
grep -q '^127\.0\.0\.1[[:space:]].*localhost' "$R/etc/hosts" 2>/dev/null ||
	printf '127.0.0.1\tlocalhost\n' >>"$R/etc/hosts"

# cr CMD...: CMD in the chroot with an emptied environment (as cron gives).
cr() {
	timeout -k 5 120 chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LOGNAME=root USER=root SHELL=/bin/sh LANG=C.UTF-8 "$@"
}

# ---- 3. the relay outside the chroot ----------------------------------------
. "$top/tests/e2e/lib.sh"
sx_server_start
rc=$?
if [ $rc -ne 0 ]; then
	echo "FAIL relay: the e2e harness did not start (exit $rc)"
	nfail=$((nfail + 1))
	failed="$failed relay"
	finish
fi
mkdir -p "$R/etc/smtps-send-test"
cp "$SX_CA" "$R/etc/smtps-send-test/ca.crt"
cp "$SX_PASS_FILE" "$R/etc/smtps-send-test/alice.pass"
chmod 600 "$R/etc/smtps-send-test/alice.pass"
# The configuration a container gets: environment variables only.
RELAY_ENV="SMTPS_SEND_HOST=$SX_HOST SMTPS_SEND_PORT=$SX_PORT_STARTTLS SMTPS_SEND_TLS=starttls
SMTPS_SEND_TLS_TRUST_FILE=/etc/smtps-send-test/ca.crt SMTPS_SEND_USER=$SX_USER
SMTPS_SEND_PASSWORD_FILE=/etc/smtps-send-test/alice.pass SMTPS_SEND_FROM=cron@example.org"
# shellcheck disable=SC2086
crenv() { cr $RELAY_ENV "$@"; }

# ---- 4. install in place of Postfix -----------------------------------------
Q=/var/spool/smtps-send
MSGLOG=$DEBS/check-package-chroot.log
: >"$MSGLOG"

# Every path in the chroot except the package managers' own state, logs,
# caches and the mount points; dpkg's per-package files are kept.
snapshot() {
	(cd "$R" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./run -o -path ./tmp \
		-o -path ./var/tmp -o -path ./var/log -o -path ./var/cache -o -path ./var/lib/apt \
		-o -path ./var/lib/dpkg \) -prune -o -print
	find ./var/lib/dpkg/info) | LC_ALL=C sort
}

postfix_is_mta() {
	[ "$(cr dpkg-query -W -f='${db:Status-Abbrev}' postfix 2>/dev/null)" = "ii " ] ||
		{ why="postfix is not installed in the chroot"; return 1; }
	owner=$(cr dpkg-query -S /usr/sbin/sendmail 2>/dev/null | cut -d: -f1)
	[ "$owner" = postfix ] || { why="/usr/sbin/sendmail belongs to '$owner'"; return 1; }
}
check postfix-is-the-mta postfix_is_mta
printf 'root: rootalias@example.org\npostmaster: root\n' >"$R/etc/aliases"
S0=$DEBS/check-package-before.list
snapshot >"$S0"

install_debs() {
	rm -rf "$R/tmp/debs" && mkdir -p "$R/tmp/debs" &&
		cp "$DEBS"/smtps-send_*.deb "$DEBS"/smtps-send-mta_*.deb "$R/tmp/debs/" || return 1
	if ! cr DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install -y -q -o Dpkg::Use-Pty=0 \
		/tmp/debs/smtps-send_*.deb /tmp/debs/smtps-send-mta_*.deb' >"$R/tmp/install.log" 2>&1; then
		cat "$R/tmp/install.log" >>"$MSGLOG"
		tail -n 20 "$R/tmp/install.log"
		why="apt-get install of the .debs failed"
		return 1
	fi
	cat "$R/tmp/install.log" >>"$MSGLOG"
	rm -rf "$R/tmp/debs"
	# What a container build has: everything else is already in the chroot.
	dl=$(grep '^Get:' "$R/tmp/install.log" | grep -v '^Get:[0-9]* /tmp/debs/')
	[ -z "$dl" ] || { why="apt-get had to download: $(echo "$dl" | head -3)"; return 1; }
	grep -q -E '^(E:|W:|dpkg: (error|warning))' "$R/tmp/install.log" &&
		{ why="apt-get/dpkg complained: $(grep -E '^(E:|W:|dpkg: )' "$R/tmp/install.log" | head -3)"; return 1; }
	return 0
}
postfix_replaced() {
	st=$(cr dpkg-query -W -f='${db:Status-Abbrev}' postfix 2>/dev/null)
	case $st in ii*) why="postfix is still installed ($st)"; return 1 ;; esac
	for p in smtps-send smtps-send-mta; do
		st=$(cr dpkg-query -W -f='${db:Status-Abbrev}' $p 2>/dev/null)
		[ "$st" = "ii " ] || { why="$p: dpkg status '$st'"; return 1; }
	done
	a=$(cr dpkg --audit 2>&1)
	[ -z "$a" ] || { why="dpkg --audit: $a"; return 1; }
	cr apt-get check -q >/dev/null 2>&1 || { why="apt-get check fails"; return 1; }
	return 0
}
links_lead_to_binary() {
	for l in /usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/sbin/newaliases \
		/usr/share/man/man8/sendmail.8.gz /usr/share/man/man1/mailq.1.gz \
		/usr/share/man/man8/newaliases.8.gz; do
		t=$(cr readlink -e "$l") || { why="$l: missing or dangling"; return 1; }
		case $l in
		*/man/*) [ "$t" = /usr/share/man/man1/smtps-send.1.gz ] ;;
		*) [ "$t" = /usr/bin/smtps-send ] ;;
		esac || { why="$l leads to $t"; return 1; }
	done
}
# mode owner group PATH
stat_is() {
	s=$(cr stat -c '%a %U %G' "$4" 2>/dev/null)
	[ "$s" = "$1 $2 $3" ] || { why="$4: '$s', expected '$1 $2 $3'"; return 1; }
}
files_in_place() {
	stat_is 640 root root /etc/smtps-send.conf || return 1
	cr dpkg-query -W -f='${Conffiles}\n' smtps-send | grep -q ' /etc/smtps-send.conf ' ||
		{ why="/etc/smtps-send.conf is not a conffile"; return 1; }
	cr dpkg-query -W -f='${Conffiles}\n' smtps-send | grep -q ' /etc/cron.d/smtps-send ' ||
		{ why="/etc/cron.d/smtps-send is not a conffile"; return 1; }
	grep -v '^#' "$R/etc/smtps-send.conf" | grep -q '[^[:space:]]' &&
		{ why="/etc/smtps-send.conf sets something: it must be a commented template"; return 1; }
	stat_is 700 root root $Q || return 1
	stat_is 644 root root /etc/cron.d/smtps-send || return 1
	stat_is 644 root root /lib/systemd/system/smtps-send-queue.service || return 1
	stat_is 644 root root /lib/systemd/system/smtps-send-queue.timer || return 1
	t=$(readlink "$R/etc/systemd/system/timers.target.wants/smtps-send-queue.timer") ||
		{ why="the timer is not enabled (no timers.target.wants link)"; return 1; }
	[ "$t" = /lib/systemd/system/smtps-send-queue.timer ] ||
		{ why="timers.target.wants link leads to $t"; return 1; }
	grep -q '^ExecStart=/usr/bin/smtps-send -q$' "$R/lib/systemd/system/smtps-send-queue.service" ||
		{ why="the service does not run /usr/bin/smtps-send -q"; return 1; }
}
units_verify() {
	# --man=no: a container has no man(1); the pages are checked below.
	out=$(cr systemd-analyze verify --man=no /lib/systemd/system/smtps-send-queue.timer \
		/lib/systemd/system/smtps-send-queue.service 2>&1)
	rc=$?
	# Any message at all is a finding (verify exits 0 on unknown keys).
	[ $rc -eq 0 ] && [ -z "$out" ] || { why="systemd-analyze verify (exit $rc): $out"; return 1; }
	for doc in $(sed -n 's/^Documentation=//p' "$R"/lib/systemd/system/smtps-send-queue.*); do
		page=${doc#man:}
		sec=${page##*(}
		sec=${sec%)}
		f=/usr/share/man/man$sec/${page%(*}.$sec.gz
		[ -f "$R$f" ] || { why="Documentation=$doc: no $f"; return 1; }
	done
}

check install-replaces-postfix install_debs
check postfix-removed-cleanly postfix_replaced
check links-lead-to-smtps-send links_lead_to_binary
check files-modes-conffiles-timer-enabled files_in_place
check systemd-analyze-verify units_verify

# ---- 5. the cron.d entry ----------------------------------------------------
# The command of the one job line (fields 7...), checked like cron would.
cron_cmd=
cron_entry() {
	f=$R/etc/cron.d/smtps-send
	[ -f "$f" ] || { why="no /etc/cron.d/smtps-send"; return 1; }
	jobs=$(grep -v -E '^[[:space:]]*(#|$)|^[A-Z_]+=' "$f")
	[ "$(printf '%s\n' "$jobs" | wc -l)" -eq 1 ] || { why="expected one job line: $jobs"; return 1; }
	set -f
	# shellcheck disable=SC2086
	set -- $jobs
	set +f
	[ $# -ge 7 ] || { why="fewer than 7 fields: $jobs"; return 1; }
	for fld in "$1" "$2" "$3" "$4" "$5"; do
		printf '%s\n' "$fld" | grep -q -E '^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,[0-9]+)*$' ||
			{ why="bad time field '$fld'"; return 1; }
	done
	[ "${6:-}" = root ] || { why="user field is '${6:-}', not root"; return 1; }
	cron_cmd=$(printf '%s\n' "$jobs" | sed -E 's/^([^[:space:]]+[[:space:]]+){6}//')
	case $cron_cmd in *%*) why="a % in the command (cron makes it a newline)"; return 1 ;; esac
	[ -n "$cron_cmd" ]
}
# cron_runs: does the job's command start smtps-send?  (sh -x trace)
cron_runs() {
	cr /bin/sh -xc "$cron_cmd" 2>&1 | grep -q '^+ /usr/bin/smtps-send -q'
}
cron_guard() {
	[ -d "$R/run/systemd/system" ] && { why="the chroot has /run/systemd/system"; return 1; }
	mkdir -p "$R/run/systemd/system"
	if cron_runs; then
		rmdir "$R/run/systemd/system"
		why="runs smtps-send although systemd runs"
		return 1
	fi
	rmdir "$R/run/systemd/system"
	cron_runs || { why="does not run smtps-send -q without systemd"; return 1; }
}
check cron.d-entry-syntax cron_entry
check cron.d-idle-under-systemd cron_guard

# ---- 6. cron's mail through /usr/sbin/sendmail -------------------------------
n=0
marker() {
	n=$((n + 1))
	m="pkgchk$$-$n"
}
# cron_mail TO: the message Debian's cron writes for a job with output.
cron_mail() {
	printf 'From: root (Cron Daemon)\nTo: %s\nSubject: Cron <root@chroot> /usr/local/bin/job %s\n' "$1" "$m"
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n'
	printf 'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\nX-Cron-Env: <PATH=/usr/bin:/bin>\nX-Cron-Env: <LOGNAME=root>\n\n'
	printf 'job output %s\n.\nlast line\n' "$m"
}
# delivered_to ADDR: the message with $m arrived, for ADDR.
delivered_to() {
	f=$(sx_wait_delivery "$m" 15) || { why="nothing delivered with $m"; return 1; }
	grep -q -i "^Delivered-To: $1\$" "$f" ||
		{ why="delivered to $(sed -n 's/^Delivered-To: //p' "$f"), not $1"; return 1; }
}
# cron_send RCPT [VAR=VALUE...]: cron's exact argv, relay from the environment.
cron_send() {
	to=$1
	shift
	marker
	cron_mail "$to" >"$R/tmp/cronmail"
	crenv "$@" /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem "$to" \
		<"$R/tmp/cronmail" 2>"$R/tmp/cron.err"
	rc=$?
	[ $rc -eq 0 ] || { why="sendmail exited $rc: $(head -c 300 "$R/tmp/cron.err")"; return 1; }
}
cron_full_address() {
	cron_send cronjob@example.org || return 1
	delivered_to cronjob@example.org
}
cron_root_aliases() {
	cron_send root SMTPS_SEND_ALIASES=/etc/aliases || return 1
	delivered_to rootalias@example.org
}
cron_root_admin() {
	cron_send root SMTPS_SEND_ADMIN_ADDRESS=admin@example.org || return 1
	delivered_to admin@example.org
}
check cron-argv-to-full-address cron_full_address
check cron-argv-to-root-via-aliases cron_root_aliases
check_needs "admin_address (issue 15)" cron-argv-to-root-via-admin_address cron_root_admin

# ---- 7. the queue: mailq, newaliases, the runners -----------------------------
# queue_one: a message queued (-odq), its id in $qid.
queue_one() {
	marker
	printf 'Subject: queued %s\n\n%s\n' "$m" "$m" >"$R/tmp/qmail"
	crenv /usr/sbin/sendmail -odq -i queued@example.org <"$R/tmp/qmail" >/dev/null 2>&1 ||
		{ why="sendmail -odq failed"; return 1; }
	qid=$(cd "$R$Q" && grep -l -F "$m" ./*.msg 2>/dev/null | sed -n '1{s,^\./,,;s,\.msg$,,;p}')
	[ -n "$qid" ] || { why="no queued message with $m in $Q"; return 1; }
}
queue_empty() { [ -z "$(find "$R$Q" -name '*.msg' 2>/dev/null)" ]; }
bp_lists() {
	queue_one || return 1
	out=$(crenv /usr/sbin/sendmail -bp 2>&1)
	case $out in *"$qid"*) ;; *) why="sendmail -bp does not list $qid: $out"; return 1 ;; esac
}
# What an admin types in the container's shell: no SMTPS_SEND_* there.
bp_no_config() {
	out=$(cr /usr/sbin/sendmail -bp 2>&1)
	case $out in *"$qid"*) ;; *) why="sendmail -bp does not list $qid: $out"; return 1 ;; esac
}
# With the relay's variables, so that only the name is under test.
mailq_lists() {
	out=$(crenv /usr/bin/mailq 2>&1)
	rc=$?
	[ $rc -eq 0 ] || { why="mailq exited $rc: $(printf '%s' "$out" | head -c 200)"; return 1; }
	case $out in *"$qid"*) ;; *) why="mailq does not list $qid: $out"; return 1 ;; esac
}
newaliases_ok() {
	out=$(cr /usr/sbin/newaliases </dev/null 2>&1)
	rc=$?
	[ $rc -eq 0 ] || { why="newaliases exited $rc: $(printf '%s' "$out" | head -c 200)"; return 1; }
	out=$(cr SMTPS_SEND_ALIASES=/etc/aliases /usr/sbin/newaliases </dev/null 2>&1)
	rc=$?
	[ $rc -eq 0 ] || { why="newaliases (aliases /etc/aliases) exited $rc: $out"; return 1; }
}
# The cron.d job as cron runs it: no SMTPS_SEND_* at all, so -q must use
# the relay the message was queued for.
cron_job_delivers() {
	cr /bin/sh -c "$cron_cmd"
	delivered_to queued@example.org && queue_empty ||
		{ why="${why:-delivered but still queued}"; return 1; }
}
q_with_env_delivers() {
	queue_empty && return 0
	crenv /usr/bin/smtps-send -q >/dev/null 2>&1
	delivered_to queued@example.org && queue_empty ||
		{ why="${why:-delivered but still queued}"; return 1; }
}
check sendmail-bp-lists-queued bp_lists
check_needs "-bp with no configuration (issue 15)" sendmail-bp-without-config bp_no_config
check_needs "argv[0] mailq = -bp (issue 16)" mailq-lists-queued mailq_lists
check_needs "argv[0] newaliases (issue 16)" newaliases-exits-0 newaliases_ok
check_needs "-q from an empty environment uses the recorded relay (issue 15)" \
	cron.d-job-delivers-queued cron_job_delivers
check q-with-env-delivers-queued q_with_env_delivers

# The container recipe's runner: smtps-send -q5m as a second process, the
# relay from the environment, the queue on a volume (here: the directory).
runner_start() {
	# Not through cr: no timeout in between, so that $! is the runner itself.
	# shellcheck disable=SC2086
	chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 $RELAY_ENV /usr/bin/smtps-send -q5m >"$R/tmp/runner.out" 2>&1 &
	runner_pid=$!
	sleep 2
	kill -0 "$runner_pid" 2>/dev/null ||
		{ why="it exited at once: $(head -c 200 "$R/tmp/runner.out")"; runner_pid=; return 1; }
}
runner_delivers() {
	[ -n "$runner_pid" ] || { why="no runner"; return 1; }
	queue_one || return 1
	# "A runner notices new messages without waiting a whole interval."
	delivered_to queued@example.org || return 1
	sleep 0.5
	queue_empty || { why="delivered but still queued"; return 1; }
}
runner_stops() {
	[ -n "$runner_pid" ] || { why="no runner"; return 1; }
	kill -TERM "$runner_pid"
	i=0
	while kill -0 "$runner_pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$runner_pid" 2>/dev/null; then
		kill -KILL "$runner_pid"
		wait "$runner_pid" 2>/dev/null
		runner_pid=
		why="still running 5 s after SIGTERM"
		return 1
	fi
	wait "$runner_pid"
	rc=$?
	runner_pid=
	[ $rc -eq 0 ] || { why="exit status $rc after SIGTERM"; return 1; }
}
check_needs "foreground queue runner -q<interval> (issue 15)" runner-q5m-stays runner_start
check_needs "foreground queue runner -q<interval> (issue 15)" runner-q5m-delivers-new runner_delivers
check_needs "foreground queue runner -q<interval> (issue 15)" runner-q5m-sigterm-exit-0 runner_stops
# Whatever the runner did, the queue is emptied for what follows.
queue_empty || crenv /usr/bin/smtps-send -q >/dev/null 2>&1

# ---- 8. remove and purge ------------------------------------------------------
# new_files: paths in the chroot now that were not there before the install.
new_files() {
	snapshot | LC_ALL=C comm -13 "$S0" -
}
remove_then_purge() {
	cr DEBIAN_FRONTEND=noninteractive apt-get remove -y -q -o Dpkg::Use-Pty=0 smtps-send-mta smtps-send \
		>>"$MSGLOG" 2>&1 || { why="apt-get remove failed"; return 1; }
	for f in /usr/bin/smtps-send /usr/sbin/sendmail /usr/bin/mailq /lib/systemd/system/smtps-send-queue.timer; do
		[ -e "$R$f" ] || [ -L "$R$f" ] && { why="$f is still there after remove"; return 1; }
	done
	[ -f "$R/etc/smtps-send.conf" ] || { why="remove deleted the conffile"; return 1; }
	# The conffile cron.d entry outlives the binary: it must do nothing, quietly.
	out=$(cr /bin/sh -c "$cron_cmd" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ -z "$out" ] || { why="cron job after remove: exit $rc, '$out'"; return 1; }
	cr DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dpkg::Use-Pty=0 smtps-send-mta smtps-send \
		>"$R/tmp/purge.log" 2>&1 || { cat "$R/tmp/purge.log"; why="apt-get purge failed"; return 1; }
	cat "$R/tmp/purge.log" >>"$MSGLOG"
}
purge_empty_queue() {
	queue_empty || { why="the queue is not empty before the test"; return 1; }
	remove_then_purge || return 1
	left=$(new_files)
	[ -z "$left" ] || { why="left behind: $(echo $left)"; return 1; }
}
purge_keeps_queue() {
	install_debs || return 1
	queue_one || return 1
	remove_then_purge || return 1
	left=$(new_files | grep -v -x -F -e ./var/spool/smtps-send -e "./var/spool/smtps-send/$qid.msg" \
		-e "./var/spool/smtps-send/$qid.meta")
	[ -z "$left" ] || { why="left behind besides the queue: $(echo $left)"; return 1; }
	[ -f "$R$Q/$qid.msg" ] || { why="purge deleted the queued message"; return 1; }
	grep -q "kept $Q" "$R/tmp/purge.log" || { why="purge did not say it kept $Q"; return 1; }
	[ -e "$R/etc/smtps-send.conf" ] && { why="purge left /etc/smtps-send.conf"; return 1; }
	return 0
}
check remove-purge-leave-nothing purge_empty_queue
check purge-keeps-a-queue-with-mail purge_keeps_queue

no_process_left() {
	p=$(chroot_pids)
	[ -z "$p" ] || { why="processes still running in the chroot: $p"; return 1; }
}
check nothing-left-running no_process_left
finish
