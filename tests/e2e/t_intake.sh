#!/bin/sh
# End-to-end: message intake with the exact argv real callers use (Debian
# cron, cronie, PHP's mail(), git send-email), through the real Postfix +
# Dovecot of lib.sh.  Checks the delivered bytes (headers and body) and the
# envelope: Return-Path is MAIL FROM, and Postfix delivers one copy per
# recipient, each with its Delivered-To.  Every case has a private 0600
# config file and the queue is private to this run.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxt.XXXXXX)
# The big messages are removed from the shared Maildir (every later grep
# of it would read them) even when a case fails.
sx_on_exit 'rm -rf "$T"; [ -s "${T}.big" ] && rm -f $(cat "${T}.big"); rm -f "${T}.big"'
sx_client_env starttls
SMTPS_SEND_QUEUE_DIR=$T/q
export SMTPS_SEND_QUEUE_DIR
n=0

# send EXPECTED_EXIT NAME [smtps-send args...] < message; stderr in $T/err
send() {
	want=$1
	what=$2
	shift 2
	"$BIN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/err" >&2
		sx_fail "$what: exit status $rc, expected $want"
	fi
}

next_marker() {
	n=$((n + 1))
	m="intake$$-$n"
}

# conf NAME LINES...: a private config file $T/NAME (mode 0600).
conf() {
	c=$T/$1
	shift
	(umask 077 && printf '%s\n' "$@" >"$c") || sx_fail "cannot write $c"
}

# copies MARKER N: exactly N delivered files contain MARKER (waits for N,
# then a little longer for one too many); their paths in $T/files.
copies() {
	i=0
	while :; do
		grep -l -F -r -e "$1" "$SX_MAILDIR/new" 2>/dev/null | sort >"$T/files"
		[ "$(wc -l <"$T/files")" -ge "$2" ] && break
		i=$((i + 1))
		[ $i -ge 200 ] && break
		sleep 0.05
	done
	sleep 0.3
	grep -l -F -r -e "$1" "$SX_MAILDIR/new" 2>/dev/null | sort >"$T/files"
	got=$(wc -l <"$T/files")
	[ "$got" -eq "$2" ] || sx_fail "$1: $got copies delivered, expected $2"
}

# rcpts_of: the Delivered-To of each file in $T/files, sorted, one a line.
rcpts_of() {
	while read -r f; do
		sed -n 's/^Delivered-To: //p' "$f" | head -n 1
	done <"$T/files" | sort
}

# expect_rcpts WHAT ADDR...: the copies went to exactly these recipients.
expect_rcpts() {
	what=$1
	shift
	printf '%s\n' "$@" | sort >"$T/want.rcpts"
	rcpts_of >"$T/got.rcpts"
	cmp -s "$T/want.rcpts" "$T/got.rcpts" ||
		sx_fail "$what: delivered to [$(tr '\n' ' ' <"$T/got.rcpts")], expected [$(tr '\n' ' ' <"$T/want.rcpts")]"
}

# return_path FILE: the envelope sender Postfix recorded.
return_path() {
	sed -n '1s/^Return-Path: //p' "$1"
}

# expect_return_path WHAT ADDR: every copy in $T/files has MAIL FROM ADDR.
expect_return_path() {
	while read -r f; do
		rp=$(return_path "$f")
		[ "$rp" = "<$2>" ] || sx_fail "$1: Return-Path $rp, expected <$2>"
	done <"$T/files"
}

DATE_RE='(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}'

# without_added WHAT FILE: the message as the client sent it (sx_delivered_body)
# minus the Date and Message-ID headers smtps-send added, after checking
# that each is there exactly once and well-formed.
without_added() {
	sx_delivered_body "$2" >"$T/msg"
	sed '/^$/q' "$T/msg" >"$T/hdr"
	[ "$(grep -c -i '^Date:' "$T/hdr")" = 1 ] || sx_fail "$1: not exactly one Date header"
	[ "$(grep -c -i '^Message-ID:' "$T/hdr")" = 1 ] || sx_fail "$1: not exactly one Message-ID header"
	grep -q -E "^Date: $DATE_RE\$" "$T/hdr" ||
		sx_fail "$1: malformed $(grep -i '^Date:' "$T/hdr")"
	grep -q -E '^Message-ID: <[^<>@ ]+@[^<>@ ]+>$' "$T/hdr" ||
		sx_fail "$1: malformed $(grep -i '^Message-ID:' "$T/hdr")"
	awk 'b { print; next } /^$/ { b = 1; print; next } !/^(Date|Message-ID): / { print }' "$T/msg"
}

# same WHAT WANT GOT: the files are identical (shows a diff otherwise).
same() {
	if ! cmp -s "$2" "$3"; then
		diff "$2" "$3" | head -n 20 >&2
		sx_fail "$1: delivered message differs from the expected bytes"
	fi
}

# 1. Debian cron: sendmail -FCronDaemon -i -B8BITMIME -oem root.  "root" goes
# through the aliases file; the sender is the local user (root), qualified
# with default_domain.  8-bit body (UTF-8, a Latin-1 byte, a 1200-octet
# line) intact; Date and Message-ID added once; From and To get the domain
# RFC 5322 requires (name and comment kept); the rest byte for byte.
printf 'root: admin@example.org\n' >"$T/aliases"
conf cron.conf "aliases $T/aliases" "default_domain example.org"
next_marker
long=$(awk 'BEGIN { for (i = 0; i < 120; i++) printf "0123456789" }')
{
	printf 'From: root (Cron Daemon)\nTo: root\n'
	printf 'Subject: Cron <root@host> test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n'
	printf 'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n'
	printf 'X-Cron-Env: <PATH=/usr/bin:/bin>\nX-Cron-Env: <LOGNAME=root>\n'
	printf 'X-Test-Id: %s\n\n' "$m"
	printf '/etc/cron.daily/logrotate:\nGr\303\274\303\237e, \303\251t\303\251 \342\202\254 \344\n'
	printf '%s\n\nlast line\n' "$long"
} >"$T/cron.in"
send 0 "debian cron" --config "$T/cron.conf" -FCronDaemon -i -B8BITMIME -oem root <"$T/cron.in"
copies "$m" 1
expect_rcpts "debian cron" admin@example.org
expect_return_path "debian cron" root@example.org
without_added "debian cron" "$(cat "$T/files")" >"$T/got"
sed -e 's/^From: root (Cron Daemon)$/From: root@example.org (Cron Daemon)/' \
	-e 's/^To: root$/To: root@example.org/' "$T/cron.in" >"$T/want"
same "debian cron" "$T/want" "$T/got"
# The same argv under -vv: MAIL FROM declares the 8-bit body.
next_marker
sed "s/^X-Test-Id: .*/X-Test-Id: $m/" "$T/cron.in" |
	send 0 "debian cron -vv" --config "$T/cron.conf" -vv -FCronDaemon -i -B8BITMIME -oem root
grep -q -E -- '-> MAIL FROM:<root@example.org>.* BODY=8BITMIME' "$T/err" ||
	sx_fail "debian cron: MAIL FROM without BODY=8BITMIME: $(grep -- '-> MAIL' "$T/err")"
copies "$m" 1
echo "ok 1 Debian cron argv: alias, 8-bit body intact, Date and Message-ID added once"

# 2. cronie: sendmail -FCronDaemon -i -odi -oem -oi -t -f root.  "-f root"
# becomes the account's from; set_from_header auto keeps the From header,
# on rewrites its address to the account's and keeps the display name.
cronie_case() {
	mode=$1
	next_marker
	conf "cronie-$mode.conf" "aliases $T/aliases" "default_domain example.org" \
		"from cron@example.net" "set_from_header $mode"
	printf 'From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> /usr/local/bin/backup\nContent-Type: text/plain; charset=UTF-8\nAuto-Submitted: auto-generated\nPrecedence: bulk\nX-Test-Id: %s\n\nbackup done\n' "$m" >"$T/cronie.in"
	send 0 "cronie $mode" --config "$T/cronie-$mode.conf" \
		-FCronDaemon -i -odi -oem -oi -t -f root <"$T/cronie.in"
	copies "$m" 1
	expect_rcpts "cronie $mode" admin@example.org
	expect_return_path "cronie $mode" cron@example.net
	without_added "cronie $mode" "$(cat "$T/files")" >"$T/got"
}
cronie_case auto
sed -e 's/^From: root (Cron Daemon)$/From: root@example.org (Cron Daemon)/' \
	-e 's/^To: root$/To: root@example.org/' "$T/cronie.in" >"$T/want"
same "cronie keep" "$T/want" "$T/got"
cronie_case on
sed -e 's/^From: root (Cron Daemon)$/From: Cron Daemon <cron@example.net>/' \
	-e 's/^To: root$/To: root@example.org/' "$T/cronie.in" >"$T/want"
same "cronie rewrite" "$T/want" "$T/got"
echo "ok 2 cronie argv: MAIL FROM is the account's from; From kept (auto, qualified) / rewritten with the name kept (on)"

# 3. PHP mail(): sendmail -t -i, To, Cc, and a folded Bcc; additional
# headers with CRLF as PHP 8 writes them.  One copy per recipient, no Bcc
# header (nor its continuation line) in any copy.
conf php.conf "from www@example.net"
next_marker
printf 'To: to1@example.org\nSubject: Order confirmation\nX-PHP-Originating-Script: 33:checkout.php\r\nFrom: Shop <www@example.net>\r\nCc: cc1@example.org, "Cc, Two" <cc2@example.org>\r\nBcc: bcc1@example.org,\r\n  bcc2@example.org\r\nMIME-Version: 1.0\r\nX-Test-Id: %s\n\nThank you.\n' "$m" >"$T/php.in"
send 0 "php" --config "$T/php.conf" -t -i <"$T/php.in"
copies "$m" 5
expect_rcpts "php" to1@example.org cc1@example.org cc2@example.org bcc1@example.org bcc2@example.org
expect_return_path "php" www@example.net
tr -d '\r' <"$T/php.in" | sed '/^Bcc:/,/^MIME-Version:/{/^MIME-Version:/!d}' >"$T/want"
while read -r f; do
	sx_delivered_body "$f" | grep -i -q -e '^Bcc:' -e 'bcc[12]@' && sx_fail "php: Bcc left in the copy for $(sed -n 's/^Delivered-To: //p' "$f")"
	without_added "php" "$f" >"$T/got"
	same "php" "$T/want" "$T/got"
done <"$T/files"
echo "ok 3 PHP -t -i: To, Cc and folded Bcc each get one copy, no Bcc header delivered"

# 4. git send-email: sendmail -i a@example.org b@example.org; the patch has
# its own Date and Message-ID (not duplicated) and a line that is just ".".
conf git.conf "from dev@example.net"
next_marker
printf 'From: Dev Eloper <dev@example.net>\nTo: a@example.org\nCc: b@example.org\nSubject: [PATCH] doc: a lone dot\nDate: Mon, 23 Nov 2026 10:00:00 +0100\nMessage-ID: <20261123090000.1234-1-dev@example.net>\nX-Mailer: git-send-email 2.43.0\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nX-Test-Id: %s\n\n---\n doc | 1 +\n\n+.\n.\n..\n. \n-- \n2.43.0\n' "$m" >"$T/git.in"
send 0 "git send-email" --config "$T/git.conf" -i a@example.org b@example.org <"$T/git.in"
copies "$m" 2
expect_rcpts "git send-email" a@example.org b@example.org
expect_return_path "git send-email" dev@example.net
while read -r f; do
	sx_delivered_body "$f" >"$T/got"
	same "git send-email" "$T/git.in" "$T/got"
done <"$T/files"
echo "ok 4 git send-email -i: two copies, the lone '.' line survives, nothing added"

# 5. -t with Resent- headers: only the Resent-To/Cc/Bcc recipients; both
# Resent-Bcc and Bcc are removed.
conf resent.conf "from fwd@example.net"
next_marker
printf 'Resent-From: fwd@example.net\nResent-To: rs-to@example.org\nResent-Cc: rs-cc@example.org\nResent-Bcc: rs-bcc@example.org\nResent-Date: Mon, 23 Nov 2026 11:00:00 +0000\nFrom: orig@example.net\nTo: orig-to@example.org\nCc: orig-cc@example.org\nBcc: orig-bcc@example.org\nSubject: resent\nDate: Sun, 22 Nov 2026 11:00:00 +0000\nMessage-ID: <orig-1@example.net>\nX-Test-Id: %s\n\nforwarded\n' "$m" >"$T/resent.in"
send 0 "resent" --config "$T/resent.conf" -t <"$T/resent.in"
copies "$m" 3
expect_rcpts "resent" rs-to@example.org rs-cc@example.org rs-bcc@example.org
grep -v -e '^Resent-Bcc:' -e '^Bcc:' "$T/resent.in" >"$T/want"
while read -r f; do
	sx_delivered_body "$f" >"$T/got"
	same "resent" "$T/want" "$T/got"
done <"$T/files"
echo "ok 5 -t with Resent- headers: only the Resent- recipients, both Bcc kinds removed"

# 6. A NUL byte: exit 65, nothing delivered, the message kept in the queue
# (path printed) and listed as failed.
conf nul.conf "from nul@example.net"
next_marker
printf 'Subject: nul\nX-Test-Id: %s\n\nbefore\000after\n' "$m" |
	send 65 "nul" --config "$T/nul.conf" -i r@example.org
grep -q 'NUL byte' "$T/err" || sx_fail "nul: diagnostic does not name the NUL byte: $(cat "$T/err")"
kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
case $kept in "$T/q/"*.msg) ;; *) sx_fail "nul: kept path '$kept' is not in the queue $T/q" ;; esac
grep -q -F "$m" "$kept" || sx_fail "nul: $kept does not hold the message"
"$BIN" --config "$T/nul.conf" -bp >"$T/bp" 2>&1
id=$(basename "$kept" .msg)
grep -q -E "^$id .* failed " "$T/bp" || sx_fail "nul: -bp does not list $id as failed: $(cat "$T/bp")"
copies "$m" 0
"$BIN" --config "$T/nul.conf" --queue-remove "$id" >/dev/null 2>&1
echo "ok 6 NUL byte: 65, kept in the queue as failed, nothing delivered"

# 6b. Cron to a bare "root" (Debian cron's argv) is never dropped.  With
# admin_address it goes there; with only from set, to root@<from's domain>
# (the default); the From and To headers get from's domain either way.
# With no setting that gives a domain (user alice, host name not a FQDN,
# no from): exit 78, a hint naming admin_address, the message kept in the
# queue and listed.
bare_case() {
	what=$1
	shift
	next_marker
	printf 'From: root (Cron Daemon)\nTo: root\nSubject: cron\nX-Test-Id: %s\n\nout\n' "$m" >"$T/bare.in"
	send "$@" -FCronDaemon -i -B8BITMIME -oem root <"$T/bare.in"
}
conf admin.conf "admin_address admin@example.org" "from cron@example.net"
bare_case admin_address 0 admin_address --config "$T/admin.conf"
copies "$m" 1
expect_rcpts "admin_address" admin@example.org
expect_return_path "admin_address" cron@example.net
without_added "admin_address" "$(cat "$T/files")" >"$T/got"
sed -e 's/^From: root (Cron Daemon)$/From: root@example.net (Cron Daemon)/' \
	-e 's/^To: root$/To: root@example.net/' "$T/bare.in" >"$T/want"
same "admin_address" "$T/want" "$T/got"
conf fromdom.conf "from cron@example.net"
bare_case "from's domain" 0 "from's domain" --config "$T/fromdom.conf"
copies "$m" 1
expect_rcpts "from's domain" root@example.net
case $(hostname -f 2>/dev/null || hostname) in
*.*)
	echo "# host name is a FQDN: the sender would take it; 'no domain' case skipped"
	;;
*)
	conf nodomain.conf "timeout 10"
	bare_case "no domain" 78 "no domain" --config "$T/nodomain.conf"
	grep -q "recipient 'root' has no domain" "$T/err" ||
		sx_fail "no domain: diagnostic does not name root: $(cat "$T/err")"
	grep -q 'admin_address' "$T/err" || sx_fail "no domain: no hint: $(cat "$T/err")"
	kept=$(sed -n 's/^smtps-send: the message was kept in //p' "$T/err")
	[ -n "$kept" ] || kept=$(sed -n "s/.*has no domain; kept in \([^ ]*\.msg\).*/\1/p" "$T/err" | head -n 1)
	case $kept in "$T/q/"*.msg) ;; *) sx_fail "no domain: kept path '$kept' is not in the queue $T/q: $(cat "$T/err")" ;; esac
	grep -q -F "$m" "$kept" || sx_fail "no domain: $kept does not hold the message"
	"$BIN" --config "$T/nodomain.conf" -bp >"$T/bp" 2>&1
	id=$(basename "$kept" .msg)
	grep -q "^$id " "$T/bp" || sx_fail "no domain: -bp does not list $id: $(cat "$T/bp")"
	copies "$m" 0
	"$BIN" --config "$T/nodomain.conf" --queue-remove "$id" >/dev/null 2>&1
	;;
esac
echo "ok 6b bare root: admin_address, from's domain by default, else 78 and kept"

# 7. -t with the group undisclosed-recipients:; and one real address in To.
conf group.conf "from g@example.net"
next_marker
printf 'From: g@example.net\nTo: undisclosed-recipients:;, Real Person <real@example.org>\nSubject: group\nX-Test-Id: %s\n\nx\n' "$m" >"$T/group.in"
send 0 "group" --config "$T/group.conf" -t -i <"$T/group.in"
copies "$m" 1
expect_rcpts "group" real@example.org
without_added "group" "$(cat "$T/files")" >"$T/got"
same "group" "$T/group.in" "$T/got"
echo "ok 7 -t with an empty group plus an address: only the address"

# 8. -F with a non-ASCII name and no From: the added From is RFC 2047-encoded
# (ASCII on the wire) and decodes to the name.
conf fname.conf "from jm@example.net"
next_marker
printf 'Subject: name\nX-Test-Id: %s\n\nx\n' "$m" |
	send 0 "-F utf-8" --config "$T/fname.conf" -F 'Jörg Müller' -i r@example.org
copies "$m" 1
sx_delivered_body "$(cat "$T/files")" | sed '/^$/q' >"$T/hdr"
[ "$(grep -c '^From:' "$T/hdr")" = 1 ] || sx_fail "-F: not exactly one From header"
from=$(sed -n 's/^From: //p' "$T/hdr")
printf '%s' "$from" | LC_ALL=C grep -q '[^ -~]' && sx_fail "-F: From header is not ASCII: $from"
case $from in *'=?'*'?='*) ;; *) sx_fail "-F: From header is not RFC 2047-encoded: $from" ;; esac
dec=$(python3 -c 'import sys
from email.header import decode_header, make_header
sys.stdout.buffer.write(str(make_header(decode_header(sys.argv[1]))).encode())' "$from") ||
	sx_fail "-F: python3 cannot decode $from"
[ "$dec" = 'Jörg Müller <jm@example.net>' ] || sx_fail "-F: From decodes to '$dec'"
echo "ok 8 -F 'Jörg Müller': From added RFC 2047-encoded ($from)"

# 9. A UTF-8 recipient: delivered, and Postfix received it with SMTPUTF8
# (its Received header says UTF8SMTPSA only when MAIL FROM had SMTPUTF8).
next_marker
printf 'Subject: utf8\nX-Test-Id: %s\n\nx\n' "$m" |
	send 0 "utf-8 rcpt" --config "$T/fname.conf" -i 'jörg@example.org'
copies "$m" 1
expect_rcpts "utf-8 rcpt" 'jörg@example.org'
grep -q -E '^[[:space:]]+by localhost \(Postfix\) with UTF8SMTPSA ' "$(cat "$T/files")" ||
	sx_fail "utf-8 rcpt: Postfix did not receive it with SMTPUTF8: $(grep -A2 '^Received:' "$(cat "$T/files")")"
echo "ok 9 UTF-8 recipient delivered with SMTPUTF8"

# 10. Memory: peak RSS of a 1 MiB and a 50 MiB message (complete headers, so
# it arrives byte for byte); the body is streamed, so the 50 MiB run stays
# below 16 MiB and within 2 MiB of the 1 MiB run.
[ -x /usr/bin/time ] || sx_fail "/usr/bin/time is missing (apt-get install time)"
: >"${T}.big"
for mb in 1 50; do
	next_marker
	{
		printf 'From: jm@example.net\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.net>\nSubject: big\nX-Test-Id: %s\n\n' "$m" "$m"
		awk -v n=$((mb * 16384)) 'BEGIN { for (i = 0; i < n; i++) printf "%063d\n", i }'
	} >"$T/big.in"
	/usr/bin/time -f %M -o "$T/rss" "$BIN" --config "$T/fname.conf" -i big@example.org \
		<"$T/big.in" >/dev/null 2>"$T/err" || {
		cat "$T/err" >&2
		sx_fail "${mb} MiB: smtps-send failed"
	}
	rss=$(tail -n 1 "$T/rss")
	f=$(sx_wait_delivery "$m" 30) || sx_fail "${mb} MiB message not delivered"
	echo "$f" >>"${T}.big"
	sx_delivered_body "$f" | cmp -s - "$T/big.in" || sx_fail "${mb} MiB: delivered bytes differ"
	rm -f "$f"
	eval "rss$mb=\$rss"
	echo "# peak RSS for a ${mb} MiB message: ${rss} KiB"
done
[ "$rss50" -lt 16384 ] || sx_fail "50 MiB message: peak RSS ${rss50} KiB, expected < 16384"
[ $((rss50 - rss1)) -lt 2048 ] || sx_fail "RSS grows with the body: ${rss1} KiB -> ${rss50} KiB"
echo "ok 10 bounded memory: ${rss1} KiB (1 MiB), ${rss50} KiB (50 MiB)"

echo "t_intake: 10 cases passed"
