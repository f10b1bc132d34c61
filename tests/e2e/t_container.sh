#!/bin/sh
# End-to-end: a container-style run against the real Postfix + Dovecot of
# lib.sh.  The environment is emptied (env -i PATH=/usr/bin:/bin) and only
# SMTPS_SEND_* variables configure smtps-send: no HOME, no config file.
# Checks delivery, --dump-config's origins and masking, the per-attempt
# log line (sent, failed, queued, with the stage; never a secret), and a
# send through a `make install-sendmail-link` sendmail link in a DESTDIR.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
sx_on_exit 'rm -rf "$T"'
n=0

next_marker() {
	n=$((n + 1))
	m="cont$$-$n"
}

# cenv VAR=VALUE... -- CMD...: CMD in an emptied environment with PATH, the
# container's settings and the extra VAR=VALUE (a later one wins).
cenv() {
	extra=
	while [ "$1" != -- ]; do
		extra="$extra $(printf '%s' "$1" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")"
		shift
	done
	shift
	eval "env -i PATH=/usr/bin:/bin \
		SMTPS_SEND_HOST=\"\$SX_HOST\" SMTPS_SEND_PORT=\"\$SX_PORT_STARTTLS\" \
		SMTPS_SEND_TLS=starttls SMTPS_SEND_TLS_TRUST_FILE=\"\$SX_CA\" \
		SMTPS_SEND_USER=\"\$SX_USER\" SMTPS_SEND_PASSWORD_FILE=\"\$SX_PASS_FILE\" \
		SMTPS_SEND_FROM=app@example.net SMTPS_SEND_QUEUE_DIR=\"\$T/q\" $extra \"\$@\""
}

# run EXPECTED_EXIT NAME VAR=VALUE... -- CMD...: cenv, stdout in $T/out,
# stderr in $T/err, exit status checked.
run() {
	want=$1
	what=$2
	shift 2
	cenv "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

# no_secret WHAT FILE...: neither alice's password nor its base64 forms
# (alone, and as the AUTH PLAIN and LOGIN payloads) appear.
SECRETS="$SX_PASS YWxpY2Utc2VjcmV0LTE AGFsaWNlAGFsaWNlLXNlY3JldC0x wrong-secret-9 d3Jvbmctc2VjcmV0LTk AGFsaWNlAHdyb25nLXNlY3JldC05"
no_secret() {
	what=$1
	shift
	for s in $SECRETS; do
		grep -q -F -e "$s" "$@" && sx_fail "$what: secret '$s' appears in $*"
	done
	return 0
}

# delivered MARKER: the one delivered file holding MARKER.
delivered() {
	sx_wait_delivery "$1" 10 || sx_fail "$1 was not delivered"
}

not_delivered() {
	sleep 0.5
	if grep -rqs -- "$1" "$SX_MAILDIR/new" "$SX_MAILDIR/tmp" 2>/dev/null; then
		sx_fail "$1 was delivered but must not have been"
	fi
}

LOG=$T/log
# log_lines: number of lines in the log file so far.
log_lines() {
	if [ -f "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi
}

# new_log_line WHAT BEFORE: exactly one line was appended since BEFORE
# lines; it is put in $T/line.
new_log_line() {
	now=$(log_lines)
	[ "$now" -eq $(($2 + 1)) ] || sx_fail "$1: the log grew by $((now - $2)) lines, expected 1"
	tail -n 1 "$LOG" >"$T/line"
}

DATE_RE='(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}'

# 1. Environment only: delivered with MAIL FROM and the added From being
# SMTPS_SEND_FROM; the log line says sent and carries Postfix's queue id.
next_marker
printf 'Subject: from a container\nX-Test-Id: %s\n\nhello\n' "$m" >"$T/in"
before=$(log_lines)
run 0 "env only" SMTPS_SEND_LOGFILE="$LOG" -- "$BIN" -i r@example.org <"$T/in"
[ -s "$T/err" ] && sx_fail "env only: stderr is not empty: $(cat "$T/err")"
f=$(delivered "$m")
[ "$(sed -n 1p "$f")" = "Return-Path: <app@example.net>" ] ||
	sx_fail "env only: $(sed -n 1p "$f"), expected <app@example.net>"
grep -q '^Delivered-To: r@example.org$' "$f" || sx_fail "env only: wrong Delivered-To"
sx_delivered_body "$f" >"$T/got"
{
	printf 'Subject: from a container\nX-Test-Id: %s\nFrom: app@example.net\n' "$m"
	grep -E "^Date: $DATE_RE\$" "$T/got"
	grep -E '^Message-ID: <[^<>@ ]+@[^<>@ ]+>$' "$T/got"
	printf '\nhello\n'
} >"$T/want"
cmp -s "$T/want" "$T/got" || {
	diff "$T/want" "$T/got" >&2
	sx_fail "env only: delivered message differs"
}
qid=$(sed -n 's/^[[:space:]]*by localhost (Postfix) with ESMTPSA id \([0-9A-F]*\)$/\1/p' "$f")
[ -n "$qid" ] || sx_fail "env only: no Postfix queue id in the Received header"
new_log_line "env only" "$before"
sx_grep_file " result=sent\$" "$T/line"
sx_grep_file " smtpstatus=250 smtpmsg='2\.0\.0 Ok: [0-9]+ bytes queued as $qid' " "$T/line"
sx_grep_file " from=app@example\.net recipients=r@example\.org " "$T/line"
sx_grep_file "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} account=default host=localhost port=$SX_PORT_STARTTLS tls=starttls user=alice " "$T/line"
[ "$(stat -c %a "$LOG")" = 600 ] || sx_fail "env only: log file mode $(stat -c %a "$LOG"), expected 600"
ls "$T/q" | grep -q '\.msg$' && sx_fail "env only: a message was left in the queue after success"
echo "ok 1 env only (no HOME, no file): delivered, log line result=sent with queue id $qid"

# 2. --dump-config: every value with its origin env SMTPS_SEND_KEY; with the
# password in the environment it is shown as ********.
run 0 "dump-config" SMTPS_SEND_LOGFILE="$LOG" -- "$BIN" --dump-config
for kv in "host $SX_HOST HOST" "port $SX_PORT_STARTTLS PORT" "tls starttls TLS" \
	"tls_trust_file $SX_CA TLS_TRUST_FILE" "user $SX_USER USER" \
	"password_file $SX_PASS_FILE PASSWORD_FILE" "from app@example.net FROM" \
	"queue_dir $T/q QUEUE_DIR" "logfile $LOG LOGFILE"; do
	set -- $kv
	grep -q -E "^$1 +$2 +# env SMTPS_SEND_$3\$" "$T/out" ||
		sx_fail "dump-config: no '$1 $2 # env SMTPS_SEND_$3' line in: $(cat "$T/out")"
done
grep -q -E '^password +\(unset\) +# default$' "$T/out" || sx_fail "dump-config: password not unset"
no_secret "dump-config (password file)" "$T/out" "$T/err"
run 0 "dump-config password" SMTPS_SEND_PASSWORD_FILE= SMTPS_SEND_PASSWORD="$SX_PASS" -- \
	"$BIN" --dump-config
grep -q -E '^password +\*{8} +# env SMTPS_SEND_PASSWORD$' "$T/out" ||
	sx_fail "dump-config: password not masked with its origin: $(grep '^password' "$T/out")"
no_secret "dump-config (password)" "$T/out" "$T/err"
echo "ok 2 --dump-config: origins env SMTPS_SEND_*, password masked"

# 3. The password in the environment (not a file) also sends; no secret in
# stderr under -vv nor in the log.
next_marker
before=$(log_lines)
printf 'X-Test-Id: %s\n\nx\n' "$m" |
	run 0 "password env" SMTPS_SEND_LOGFILE="$LOG" SMTPS_SEND_PASSWORD_FILE= \
		SMTPS_SEND_PASSWORD="$SX_PASS" -- "$BIN" -vv -i r@example.org
delivered "$m" >/dev/null
new_log_line "password env" "$before"
sx_grep_file " result=sent\$" "$T/line"
no_secret "password env" "$T/err" "$LOG"
echo "ok 3 SMTPS_SEND_PASSWORD sends; -vv and the log show no secret"

# 4. Failing attempts, one log line each: a 550 recipient (failed), a 450
# recipient and a refused connection (queued), a wrong password (auth).
# fail_case EXIT RESULT_ERE STAGE NAME VAR=VALUE... -- CMD...
fail_case() {
	fexit=$1
	fresult=$2
	fstage=$3
	fname=$4
	shift 4
	next_marker
	before=$(log_lines)
	printf 'X-Test-Id: %s\n\nx\n' "$m" |
		run "$fexit" "$fname" SMTPS_SEND_LOGFILE="$LOG" "$@"
	if [ "$fresult" = queued ]; then
		# Queued means accepted (exit 0): the log has no exit status.
		id=$(sed -n 's/^smtps-send: queued as \([0-9a-f]*\): .*; will be retried$/\1/p' "$T/err")
		kept=$T/q/$id.msg
		fstatus=
	else
		kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
		fstatus=" exitcode=$fexit"
	fi
	[ -n "$kept" ] && [ -f "$kept" ] || sx_fail "$fname: message not kept"
	new_log_line "$fname" "$before"
	sx_grep_file " result=$fresult stage=$fstage errormsg=.*$fstatus kept=$kept\$" "$T/line"
	not_delivered "$m"
}
fail_case 67 failed rcpt "rcpt 550" -- "$BIN" -i reject-me@example.org
sx_grep_file " smtpstatus=550 smtpmsg='5\.1\.1 <reject-me@example\.org>: " "$T/line"
fail_case 0 queued rcpt "rcpt 450" -- "$BIN" -i tempfail-me@example.org
sx_grep_file " smtpstatus=450 " "$T/line"
fail_case 0 queued connect "connection refused" SMTPS_SEND_PORT=1 -- "$BIN" -i r@example.org
# A wrong password leaves the message deferred (retried by -q): the log says queued.
(umask 077 && printf 'wrong-secret-9\n' >"$T/badpass")
fail_case 0 queued auth "wrong password" SMTPS_SEND_PASSWORD_FILE="$T/badpass" -- \
	"$BIN" -i r@example.org
sx_grep_file " smtpstatus=535 " "$T/line"
no_secret "log" "$LOG"
[ "$(wc -l <"$LOG")" -eq 6 ] || sx_fail "log: $(wc -l <"$LOG") lines, expected 6 (one per attempt)"
echo "ok 4 failed attempts logged: failed/rcpt, queued/rcpt, queued/connect, queued/auth; no secret"

# 5. An installed sendmail link (make install-sendmail-link DESTDIR=...),
# called as "sendmail -t -i" with the environment-only settings.
if ! make -s O="$T/o" DESTDIR="$T/root" install-sendmail-link >"$T/make.log" 2>&1; then
	cat "$T/make.log" >&2
	sx_fail "make install-sendmail-link DESTDIR=$T/root failed"
fi
inst=$T/root/usr/local/bin/smtps-send
[ -x "$inst" ] || sx_fail "install: $inst missing"
link=$T/root/usr/sbin/sendmail
[ -L "$link" ] || sx_fail "install: $link is not a symbolic link"
target=$(readlink "$link")
# An absolute target is right for the final root: look for it in DESTDIR,
# and call the binary through a link named sendmail that resolves here.
case $target in
/*) staged=$T/root$target ;;
*) staged=$(dirname "$link")/$target ;;
esac
cmp -s "$staged" "$inst" || sx_fail "install: $link -> $target is not the installed binary"
run=$link
if [ ! -x "$run" ]; then
	mkdir -p "$T/sbin" && ln -s "$staged" "$T/sbin/sendmail" || sx_fail "ln"
	run=$T/sbin/sendmail
fi
next_marker
printf 'From: App <app@example.net>\nTo: linked@example.org\nCc: "Second, Person" <linked2@example.org>\nSubject: via sendmail\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.net>\nX-Test-Id: %s\n\n.\nbody\n' "$m" "$m" >"$T/in"
run 0 "sendmail link" -- "$run" -t -i <"$T/in"
i=0
while [ "$(grep -l -F -r -e "$m" "$SX_MAILDIR/new" | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.3
files=$(grep -l -F -r -e "$m" "$SX_MAILDIR/new" | sort)
[ "$(echo "$files" | wc -l)" -eq 2 ] || sx_fail "sendmail link: $(echo "$files" | wc -l) copies, expected 2"
for f in $files; do
	sx_delivered_body "$f" | cmp -s - "$T/in" || sx_fail "sendmail link: $f differs"
	[ "$(sed -n 1p "$f")" = "Return-Path: <app@example.net>" ] || sx_fail "sendmail link: wrong Return-Path"
done
[ "$(sed -n 's/^Delivered-To: //p' $files | LC_ALL=C sort | tr '\n' ' ')" = "linked2@example.org linked@example.org " ] ||
	sx_fail "sendmail link: delivered to $(sed -n 's/^Delivered-To: //p' $files | tr '\n' ' ')"
echo "ok 5 installed sendmail link (-t -i, env only): both copies delivered byte for byte"

echo "t_container: 5 cases passed"
