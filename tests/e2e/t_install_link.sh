#!/bin/sh
# t_install_link.sh — `make install` and `make install-sendmail-link`, always
# into a DESTDIR (never the real /usr): the binary, man pages, the queue
# runner's systemd units and cron.d entry, the config template; the links
# where callers look (/usr/sbin/sendmail, /usr/lib/sendmail, /usr/bin/mailq,
# /usr/sbin/newaliases), what the target says it did, its refusal to
# replace another MTA's file unless FORCE=1, SENDMAIL_LINKS, and
# `make uninstall` putting the other MTA back.  Then the binary run under
# the names sendmail, mailq and newaliases.
# Run from the repository top by tests/e2e/run.sh; exit 0 pass, 1 fail,
# 77 skip.  Builds into its own O directory, never build/.
#
# Checks of behaviour the binary is still to get are named needs-binary:
# and fail at the end, after every other check, with the reason.
set -u

fail() {
	echo "t_install_link: FAIL: $*" >&2
	exit 1
}

command -v make >/dev/null 2>&1 || { echo "t_install_link: make not found: skipped"; exit 77; }
[ -f Makefile ] && [ -d src ] || fail "run from the repository top (cwd is $(pwd))"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_install_link.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
pending=

# mk LOG VAR=VALUE... TARGET: make into $tmp/o, output in $tmp/LOG; its status.
mk() {
	log=$tmp/$1
	shift
	make -s O="$tmp/o" "$@" >"$log" 2>&1
}

prefix=/usr/local
bindir=$prefix/bin
root=$tmp/root

# 1. A first install into an empty root.
mk make1.log DESTDIR="$root" install-sendmail-link || {
	cat "$tmp/make1.log" >&2
	fail "make install-sendmail-link DESTDIR=$root failed"
}
bin=$root$bindir/smtps-send
[ -x "$bin" ] || fail "$bin not installed"
for m in man1/smtps-send.1 man5/smtps-send.conf.5; do
	[ -f "$root$prefix/share/man/$m" ] || fail "$prefix/share/man/$m not installed"
done
unit=$root$prefix/lib/systemd/system
[ -f "$unit/smtps-send-queue.timer" ] || fail "no smtps-send-queue.timer in $prefix/lib/systemd/system"
grep -q -x "ExecStart=$bindir/smtps-send -q" "$unit/smtps-send-queue.service" ||
	fail "smtps-send-queue.service does not run $bindir/smtps-send -q"
grep -q '@bindir@' "$unit/smtps-send-queue.service" "$root/etc/cron.d/smtps-send" &&
	fail "@bindir@ left unsubstituted"
cron=$root/etc/cron.d/smtps-send
[ -f "$cron" ] || fail "no /etc/cron.d/smtps-send (cron reads only /etc/cron.d)"
grep -q "^[^#].*root.*\[ ! -d /run/systemd/system \].*$bindir/smtps-send -q" "$cron" ||
	fail "the cron.d job does not run $bindir/smtps-send -q only without systemd: $(grep -v '^#' "$cron")"
conf=$root$prefix/etc/smtps-send.conf
[ -f "$conf" ] || fail "no config template $prefix/etc/smtps-send.conf"
[ "$(stat -c %a "$conf")" = 640 ] || fail "$conf has mode $(stat -c %a "$conf"), expected 640"
grep -v '^#' "$conf" | grep -q '[^[:space:]]' && fail "the config template sets something"
grep -q "/run/systemd" "$tmp/make1.log" && fail "a DESTDIR install talked about enabling systemd units"

links="/usr/sbin/sendmail /usr/lib/sendmail /usr/bin/mailq /usr/sbin/newaliases"
for link in $links; do
	[ -L "$root$link" ] || fail "$link is not a symbolic link"
	target=$(readlink "$root$link")
	[ "$target" = "$bindir/smtps-send" ] || fail "$link points to $target, not $bindir/smtps-send"
	cmp -s "$root$target" "$bin" || fail "$link does not lead to the installed binary"
	grep -q -F "install-sendmail-link: $link -> $bindir/smtps-send" "$tmp/make1.log" ||
		fail "make did not say it created $link: $(cat "$tmp/make1.log")"
done
[ -e "$root$prefix/sbin/sendmail" ] && fail "a link in $prefix/sbin, where callers do not look"
echo "t_install_link: ok 1 install: binary, man pages, units, cron.d, template, 4 links"

# 2. Again: nothing to do, and it says so; the edited config is kept.
echo "host relay.example.org" >>"$conf"
mk make2.log DESTDIR="$root" install-sendmail-link || fail "second install failed: $(cat "$tmp/make2.log")"
[ "$(grep -c '(already in place)' "$tmp/make2.log")" -eq 4 ] ||
	fail "second install did not say the 4 links were in place: $(cat "$tmp/make2.log")"
grep -q '^host relay.example.org$' "$conf" || fail "the second install replaced the config"
echo "t_install_link: ok 2 idempotent, config kept"

# 3. Another MTA's files: refused, nothing changed.
other=$tmp/other
mkdir -p "$other/usr/sbin" "$other/usr/bin" "$other/usr/lib"
printf '#!/bin/sh\necho other-mta\n' >"$other/usr/sbin/sendmail"
chmod 755 "$other/usr/sbin/sendmail"
ln -s ../sbin/sendmail "$other/usr/bin/mailq"
ln -s /nonexistent/exim4 "$other/usr/lib/sendmail"
if mk make3.log DESTDIR="$other" install-sendmail-link; then
	fail "install-sendmail-link replaced another MTA's /usr/sbin/sendmail without FORCE=1"
fi
grep -q 'refusing to replace /usr/sbin/sendmail: it is a regular file' "$tmp/make3.log" ||
	fail "the refusal does not name /usr/sbin/sendmail: $(cat "$tmp/make3.log")"
grep -q 'refusing to replace /usr/bin/mailq: it is a link to ../sbin/sendmail' "$tmp/make3.log" ||
	fail "the refusal does not name /usr/bin/mailq: $(cat "$tmp/make3.log")"
grep -q 'FORCE=1' "$tmp/make3.log" || fail "the refusal does not mention FORCE=1"
grep -q 'smtps-send-mta' "$tmp/make3.log" || fail "the refusal does not mention the smtps-send-mta package"
[ "$("$other/usr/sbin/sendmail")" = other-mta ] || fail "the other MTA's sendmail was changed"
[ "$(readlink "$other/usr/lib/sendmail")" = /nonexistent/exim4 ] ||
	fail "a refused install still changed /usr/lib/sendmail"
[ -e "$other/usr/sbin/newaliases" ] && fail "a refused install still created /usr/sbin/newaliases"
echo "t_install_link: ok 3 another MTA's files refused, nothing changed"

# 4. FORCE=1: moved aside (the dangling link is simply replaced), and said.
mk make4.log DESTDIR="$other" FORCE=1 install-sendmail-link ||
	fail "FORCE=1 install failed: $(cat "$tmp/make4.log")"
for link in $links; do
	[ "$(readlink "$other$link")" = "$bindir/smtps-send" ] || fail "FORCE=1: $link is not our link"
done
[ "$("$other/usr/sbin/sendmail.pre-smtps-send")" = other-mta ] ||
	fail "FORCE=1 did not keep the other sendmail as sendmail.pre-smtps-send"
[ "$(readlink "$other/usr/bin/mailq.pre-smtps-send")" = ../sbin/sendmail ] ||
	fail "FORCE=1 did not keep the other mailq link"
[ -e "$other/usr/lib/sendmail.pre-smtps-send" ] || [ -L "$other/usr/lib/sendmail.pre-smtps-send" ] &&
	fail "FORCE=1 kept a dangling link"
grep -q 'FORCE=1: the previous one is now /usr/sbin/sendmail.pre-smtps-send' "$tmp/make4.log" ||
	fail "FORCE=1 did not say where the old sendmail went: $(cat "$tmp/make4.log")"
grep -q '/usr/lib/sendmail -> .*(replaced a dangling link)' "$tmp/make4.log" ||
	fail "the dangling link's replacement was not said: $(cat "$tmp/make4.log")"
echo "t_install_link: ok 4 FORCE=1 moves the other MTA aside"

# 5. make uninstall: our links and files go, the other MTA comes back,
# the configuration stays.
mk make5.log DESTDIR="$other" uninstall || fail "make uninstall failed: $(cat "$tmp/make5.log")"
[ "$("$other/usr/sbin/sendmail")" = other-mta ] || fail "uninstall did not put the other sendmail back"
[ "$(readlink "$other/usr/bin/mailq")" = ../sbin/sendmail ] || fail "uninstall did not put mailq back"
for f in /usr/lib/sendmail /usr/sbin/newaliases "$bindir/smtps-send" \
	"$prefix/lib/systemd/system/smtps-send-queue.timer" /etc/cron.d/smtps-send; do
	[ -e "$other$f" ] || [ -L "$other$f" ] && fail "uninstall left $f"
done
[ -f "$other$prefix/etc/smtps-send.conf" ] || fail "uninstall removed the configuration"
grep -q 'put back /usr/sbin/sendmail' "$tmp/make5.log" || fail "uninstall did not say what it put back"
echo "t_install_link: ok 5 uninstall restores the other MTA, keeps the config"

# 6. SENDMAIL_LINKS chooses the links; sbindir and the prefix do not matter.
mk make6.log DESTDIR="$tmp/r6" SENDMAIL_LINKS=/opt/mta/sendmail install-sendmail-link ||
	fail "SENDMAIL_LINKS install failed: $(cat "$tmp/make6.log")"
[ "$(readlink "$tmp/r6/opt/mta/sendmail")" = "$bindir/smtps-send" ] || fail "SENDMAIL_LINKS ignored"
[ -e "$tmp/r6/usr/sbin/sendmail" ] && fail "SENDMAIL_LINKS=/opt/mta/sendmail still made /usr/sbin/sendmail"
echo "t_install_link: ok 6 SENDMAIL_LINKS"

# 7. The binary under the names callers use.  The staged links are absolute
# (right for the final root), so call it through relative links here.
mkdir -p "$tmp/names"
for name in sendmail mailq newaliases; do
	ln -s "$bin" "$tmp/names/$name" || fail "ln"
done
out=$("$tmp/names/sendmail" --version 2>&1) || fail "sendmail --version exited $?: $out"
case $out in
*smtps-send*) ;;
*) fail "sendmail --version printed: $out" ;;
esac
# A sendmail-style usage error through the link: exit 64 and the flag named.
"$tmp/names/sendmail" -x root </dev/null >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 64 ] || fail "sendmail -x root exited $rc, expected 64 (EX_USAGE)"
grep -q -- '-x' "$tmp/out" || fail "usage error does not name -x: $(cat "$tmp/out")"
echo "t_install_link: ok 7 runs as sendmail ($out)"

# mailq = -bp: a message queued with -odq (no server needed) is listed.
q=$tmp/queue
env -i PATH=/usr/bin:/bin HOME="$tmp" SMTPS_SEND_QUEUE_DIR="$q" SMTPS_SEND_HOST=relay.invalid \
	SMTPS_SEND_FROM=me@example.org "$tmp/names/sendmail" -odq -i you@example.org \
	</dev/null >/dev/null 2>&1 || fail "sendmail -odq failed"
id=$(cd "$q" 2>/dev/null && ls -- *.msg 2>/dev/null | sed -n '1s/\.msg$//p')
[ -n "$id" ] || fail "sendmail -odq queued nothing in $q"
# (A host is set so that only the name is under test, not -bp without a config.)
out=$(env -i PATH=/usr/bin:/bin HOME="$tmp" SMTPS_SEND_QUEUE_DIR="$q" SMTPS_SEND_HOST=relay.invalid \
	"$tmp/names/mailq" 2>&1)
rc=$?
if [ $rc -ne 0 ] || ! printf '%s' "$out" | grep -q "$id"; then
	pending="$pending
needs-binary:mailq-is-bp (argv[0] mailq = -bp, issue 16): exit $rc: $(printf '%s' "$out" | head -c 200)"
fi
# newaliases: checks the aliases file, sends nothing, reads no input, exit 0.
printf 'root: admin@example.org\n' >"$tmp/aliases"
out=$(env -i PATH=/usr/bin:/bin HOME="$tmp" SMTPS_SEND_QUEUE_DIR="$q" \
	SMTPS_SEND_ALIASES="$tmp/aliases" timeout 10 "$tmp/names/newaliases" </dev/null 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
	pending="$pending
needs-binary:newaliases-exit-0 (argv[0] newaliases, issue 16): exit $rc: $(printf '%s' "$out" | head -c 200)"
fi
[ "$(ls "$q" | grep -c '\.msg$')" -eq 1 ] || fail "newaliases queued a message"

if [ -n "$pending" ]; then
	echo "t_install_link: FAIL: waiting for the binary:$pending" >&2
	exit 1
fi
echo "t_install_link: ok 8 runs as mailq and newaliases"
exit 0
