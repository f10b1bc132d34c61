#!/bin/sh
# End-to-end: a local attacker (issue 21, items 1-4).  The attacker runs as
# nobody; root is the victim.
#  1. a set-user-ID root copy run by nobody refuses to start: no
#     passwordeval command runs as root, no -C file of root's is read;
#  2. the process is not dumpable and has no core size from the start
#     (a password from a config file is in memory before any connect);
#  3. root's log file is never written through a symbolic link or a hard
#     link planted in a directory others can write;
#  4. a queue directory nobody can write is refused: a planted message is
#     not sent with root's account, and root's -bp says why.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxl.XXXXXX)
bg=
sx_on_exit 'for p in $bg; do kill -9 $p 2>/dev/null; done; rm -rf "$T"'
chmod 755 "$T"
sx_client_env starttls
export SMTPS_SEND_QUEUE_DIR="$T/queue"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# 1. Set-user-ID root, run by nobody.
mkdir "$T/bin" "$T/loot"
chmod 755 "$T/bin"
chmod 777 "$T/loot"
cp "$BIN" "$T/bin/smtps-send"
chown root:root "$T/bin/smtps-send"
chmod 4755 "$T/bin/smtps-send"
printf 'secret-word rest\n' >"$T/rootonly.conf"
chmod 600 "$T/rootonly.conf"
printf 'Subject: x\n\nx\n' >"$T/msg"
as_nobody env SMTPS_SEND_PASSWORDEVAL="/bin/cp /etc/shadow $T/loot/shadow" \
	SMTPS_SEND_QUEUE_DIR="$T/loot/q" "$T/bin/smtps-send" -f alice@localhost \
	rcpt@example.org <"$T/msg" >"$T/out" 2>&1
rc=$?
[ "$rc" = 78 ] || { cat "$T/out" >&2; sx_fail "setuid: exit $rc, expected 78"; }
grep -q 'refusing to run set-user-ID' "$T/out" || sx_fail "setuid: no clear error"
[ ! -e "$T/loot/shadow" ] || sx_fail "setuid: passwordeval ran as root"
as_nobody "$T/bin/smtps-send" -C "$T/rootonly.conf" -bp >"$T/out" 2>&1
grep -q 'secret-word' "$T/out" && sx_fail "setuid: -C printed a root-only file"
chmod 2755 "$T/bin/smtps-send"
chown root:root "$T/bin/smtps-send"
chmod g+s "$T/bin/smtps-send"
as_nobody "$T/bin/smtps-send" --version >"$T/out" 2>&1
[ $? = 78 ] || sx_fail "setgid: not refused"
echo "ok 1 set-id copies refuse to run (nothing ran as root, nothing read)"

# 2. Not dumpable, no core size, from before the message is read.
mkfifo "$T/fifo"
chmod 666 "$T/fifo"
# Not through as_nobody: $! must be the process itself, not a subshell.
setpriv --reuid=65534 --regid=65534 --clear-groups env SMTPS_SEND_QUEUE_DIR="$T/loot/q2" \
	HOME="$T/loot" "$BIN" -f alice@localhost rcpt@example.org <"$T/fifo" >/dev/null 2>&1 &
pid=$!
bg="$bg $pid"
exec 7>"$T/fifo"
# Wait until the program itself runs (setpriv and env exec into it).
i=0
while [ $i -lt 200 ] && ! grep -q smtps-send "/proc/$pid/cmdline" 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.2
grep -E '^Max core file size +0 +0 ' "/proc/$pid/limits" >/dev/null ||
	sx_fail "core: RLIMIT_CORE is not 0: $(grep core "/proc/$pid/limits")"
# A non-dumpable process's /proc entries belong to root, not to its user.
[ "$(stat -c %u "/proc/$pid/environ")" = 0 ] ||
	sx_fail "core: the process is dumpable (/proc/$pid/environ owned by $(stat -c %u "/proc/$pid/environ"))"
exec 7>&-
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
echo "ok 2 not dumpable and RLIMIT_CORE 0 while the message is read"

# 3. Root's log file in a directory nobody can write.
mkdir "$T/logs"
chmod 777 "$T/logs" # no sticky bit: the kernel's protected_symlinks does not apply
printf 'root only\n' >"$T/victim"
chmod 600 "$T/victim"
as_nobody ln -s "$T/victim" "$T/logs/smtps.log"
printf 'Subject: log\n\nlog\n' | SMTPS_SEND_LOGFILE="$T/logs/smtps.log" \
	"$BIN" -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err"
[ "$(cat "$T/victim")" = "root only" ] || sx_fail "log: wrote through a symbolic link"
grep -q 'not writing log file .*symbolic link' "$T/err" ||
	{ cat "$T/err" >&2; sx_fail "log: the refusal is not reported"; }
as_nobody rm -f "$T/logs/smtps.log"
ln "$T/victim" "$T/logs/smtps.log" # a second name (nobody cannot link root's file
# here: fs.protected_hardlinks; root planting it stands for the attack's result)
printf 'Subject: log\n\nlog\n' | SMTPS_SEND_LOGFILE="$T/logs/smtps.log" \
	"$BIN" -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err"
[ "$(cat "$T/victim")" = "root only" ] || sx_fail "log: wrote through a hard link"
grep -q 'hard link' "$T/err" || sx_fail "log: hard link not reported"
echo "ok 3 the log file is never written through a symbolic or hard link"

# 4. A queue directory nobody can write: a planted message is not sent.
mkdir -p "$T/shared"
chmod 777 "$T/shared"
export SMTPS_SEND_QUEUE_DIR="$T/shared"
id=00112233445566778899aabbccddeeff
as_nobody sh -c "printf 'Subject: planted\n\nplanted-$$\n' >'$T/shared/$id.msg'"
as_nobody sh -c "printf 'smtps-send-queue 1\nid $id\nstate deferred\nfrom alice@localhost\nrcpt victim@example.org\nsize 30\ncreated $(date +%s)\nattempts 0\nend\n' >'$T/shared/$id.meta'"
"$BIN" -q >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" != 0 ] || sx_fail "queue: -q accepted a queue directory others can write"
grep -q 'writable by others' "$T/err" || { cat "$T/err" >&2; sx_fail "queue: no reason given"; }
"$BIN" -bp >"$T/out" 2>"$T/err" && sx_fail "queue: -bp listed an untrusted directory"
grep -q 'writable by others' "$T/err" || sx_fail "queue: -bp gives no reason"
printf 'Subject: s\n\ns\n' | "$BIN" -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err" &&
	sx_fail "queue: a send spooled into an untrusted directory"
sleep 1
grep -r -l -F "planted-$$" "$SX_MAILDIR/new" >/dev/null 2>&1 && sx_fail "queue: the planted message was sent"
# In root's own 0700 directory, a file of nobody's is not trusted either.
mkdir -m 700 "$T/own"
export SMTPS_SEND_QUEUE_DIR="$T/own"
cp "$T/shared/$id.msg" "$T/shared/$id.meta" "$T/own/"
chown 65534:65534 "$T/own/$id.msg" "$T/own/$id.meta"
"$BIN" -q >"$T/out" 2>"$T/err"
sleep 1
grep -r -l -F "planted-$$" "$SX_MAILDIR/new" >/dev/null 2>&1 && sx_fail "queue: a file of another user was sent"
grep -q 'belongs to uid 65534' "$T/err" || { cat "$T/err" >&2; sx_fail "queue: foreign file not reported"; }
echo "ok 4 untrusted queue directories and files are refused"
