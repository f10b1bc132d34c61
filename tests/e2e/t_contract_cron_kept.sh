#!/bin/sh
# End-to-end, the sendmail contract (issue 15): cron's mail to bare root
# with NOTHING set for it (no aliases, admin_address, default_domain or
# from; cron's argv and environment as in t_contract_cron.sh, relay down)
# is never lost.  Either it is accepted (exit 0), and then the queue runner
# delivers it once when the relay is back; or it is refused (non-zero, the
# fix named on stderr), and then it is kept in the queue directory, listed
# by -bp, and no -q sends it (the caller was told it failed).
# Fails while the binary refuses it with 65 and keeps nothing (issue 15:
# "A cron job mailing bare root is refused with 65 and nothing is kept").
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
ct_setup 4
M=kept$$
unset SMTPS_SEND_FROM

printf '%s\n' 'From: root (Cron Daemon)' 'To: root' "Subject: Cron <root@$(hostname)> nightly" \
	'MIME-Version: 1.0' 'Content-Type: text/plain; charset=UTF-8' \
	'Content-Transfer-Encoding: 8bit' 'X-Cron-Env: <SHELL=/bin/sh>' \
	"X-Cron-Env: <HOME=$HOME>" 'X-Cron-Env: <PATH=/usr/bin:/bin>' \
	'X-Cron-Env: <LOGNAME=root>' '' "nightly job output: $M" >"$T/cronmail"
relay_down
# shellcheck disable=SC2046
env -i PATH=/usr/bin:/bin SHELL=/bin/sh HOME="$HOME" LOGNAME=root \
	$(env | grep -E '^SMTPS_SEND_[A-Z_]+=' | sort) \
	"$BIN" -FCronDaemon -i -B8BITMIME -oem root <"$T/cronmail" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 0 ]; then
	grep -q '^smtps-send: queued as [0-9a-f]\{32\}: .*; will be retried$' "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "exit 0 but no 'queued as ID: cause; will be retried' line"; }
	relay_up
	runner_start 5s
	stable_count "$M" 1
	queue_empty "accepted"
	runner_stop
	echo "ok 1 nothing set for root: accepted (exit 0), the runner delivers it once ($(head -n 1 "$T/err"))"
else
	kept=$(ls "$T/q" 2>/dev/null | grep '\.msg$')
	if [ -z "$kept" ]; then
		cat "$T/err" >&2
		sx_fail "PRODUCT BUG (issue 15, nothing dropped): cron's mail to bare root with nothing set was refused with $rc and NOT kept: the queue directory has no message"
	fi
	grep -q -E 'admin_address|default_domain|alias' "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "refused without naming the fix (admin_address, aliases, default_domain)"; }
	listing
	grep -q "^${kept%.msg} " "$T/bp" || { cat "$T/bp" >&2; sx_fail "kept but not listed by -bp"; }
	grep -q -F -e "$M" "$T/q/$kept" || sx_fail "the kept file does not hold the message"
	relay_up
	"$BIN" -q >"$T/out" 2>&1
	sleep 1
	never_delivered "$M"
	echo "ok 1 nothing set for root: refused ($rc), kept as ${kept%.msg}, listed, -q does not send it"
	# The fix the error named, then --flush-id: qualified again, sent once.
	SMTPS_SEND_ADMIN_ADDRESS=postmaster-$M@example.org "$BIN" --flush-id "${kept%.msg}" \
		>"$T/out" 2>&1 || { cat "$T/out" >&2; sx_fail "--flush-id after setting admin_address"; }
	stable_count "$M" 1
	grep -l -r -F -e "$M" "$SX_MAILDIR/new" | xargs grep -q "^Delivered-To: postmaster-$M@example.org" ||
		sx_fail "not delivered to admin_address after the fix"
	echo "ok 2 after the fix (admin_address), --flush-id delivers it there once"
fi
echo "t_contract_cron_kept: done"
