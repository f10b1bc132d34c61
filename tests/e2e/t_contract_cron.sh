#!/bin/sh
# End-to-end, the sendmail contract (issue 15) with cron's exact argv
# (Debian cron: "sendmail -FCronDaemon -i -B8BITMIME -oem root") and cron's
# message (From: root (Cron Daemon), To: root, X-Cron-Env headers), in
# cron's near-empty environment (env -i; the SMTPS_SEND_* variables stand
# in for /etc/smtps-send.conf, which a test must not write).  The relay is
# down at send time: exit 0, queued; the queue runner (-q5s) delivers once.
#   1. root mapped by an aliases file (SMTPS_SEND_ALIASES).
#   2. needs-admin_address: SMTPS_SEND_ADMIN_ADDRESS instead of aliases.
#      While the binary still refuses bare root ("has no domain"), the case
#      reports PENDING and does not fail; once it accepts, it is checked
#      like case 1.
# Nothing set at all (no aliases, admin_address, default_domain or from):
# t_contract_cron_kept.sh.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
. tests/e2e/contract_lib.sh
ct_setup 2
M=cron$$

# cron_mail MARKER VAR=VALUE...: cron's mail for one job, through cron's
# argv with cron's environment plus the SMTPS_SEND_* of this shell and
# VAR=VALUE; exit status in $rc, stderr in $T/err.
cron_mail() {
	local m=$1
	shift
	printf '%s\n' \
		'From: root (Cron Daemon)' \
		'To: root' \
		"Subject: Cron <root@$(hostname)> /usr/local/bin/nightly-$m" \
		'MIME-Version: 1.0' \
		'Content-Type: text/plain; charset=UTF-8' \
		'Content-Transfer-Encoding: 8bit' \
		'X-Cron-Env: <SHELL=/bin/sh>' \
		"X-Cron-Env: <HOME=$HOME>" \
		'X-Cron-Env: <PATH=/usr/bin:/bin>' \
		'X-Cron-Env: <LOGNAME=root>' \
		'' \
		"nightly job output: $m" >"$T/cronmail"
	# shellcheck disable=SC2046
	env -i PATH=/usr/bin:/bin SHELL=/bin/sh HOME="$HOME" LOGNAME=root \
		$(env | grep -E '^SMTPS_SEND_[A-Z_]+=' | sort) "$@" \
		"$BIN" -FCronDaemon -i -B8BITMIME -oem root <"$T/cronmail" >"$T/out" 2>"$T/err"
	rc=$?
}

# accepted_then_delivered CASE MARKER RCPT: exit 0 and queued with the relay
# down, listed deferred to RCPT; the runner delivers it to RCPT once.
accepted_then_delivered() {
	local f
	[ "$rc" = 0 ] || { cat "$T/err" >&2; sx_fail "$1: exit $rc with the relay down, expected 0 (queued)"; }
	grep -q '^smtps-send: queued as [0-9a-f]\{32\}: connect: .*; will be retried$' "$T/err" ||
		{ cat "$T/err" >&2; sx_fail "$1: no 'queued as ID: cause; will be retried' line"; }
	[ "$(queued_state deferred | wc -l)" = 1 ] || { cat "$T/bp" >&2; sx_fail "$1: -bp does not list it deferred"; }
	grep -q -F -e "-> $3 " "$T/bp" || { cat "$T/bp" >&2; sx_fail "$1: not queued for $3"; }
	never_delivered "$2"
	relay_up
	: >"$T/runner.log"
	runner_start 5s
	stable_count "$2" 1
	f=$(sx_wait_delivery "$2") || sx_fail "$1: not delivered"
	grep -q -i "^Delivered-To: $3\$" "$f" || { head -n 8 "$f" >&2; sx_fail "$1: not delivered to $3"; }
	queue_empty "$1"
	runner_stop
	relay_down
}

relay_down
echo 'root: rootmail@example.org' >"$T/aliases"

# 1. aliases: root -> rootmail@example.org.
cron_mail "$M-1" SMTPS_SEND_ALIASES="$T/aliases"
accepted_then_delivered 1 "$M-1" rootmail@example.org
echo "ok 1 cron argv to bare root, aliases, relay down: exit 0, queued; the runner delivers it there once"

# 2. needs-admin_address.
cron_mail "$M-2" SMTPS_SEND_ADMIN_ADDRESS=admin@example.org
if [ "$rc" != 0 ] && grep -q "recipient 'root' has no domain" "$T/err"; then
	echo "PENDING 2 needs-admin_address: admin_address is not applied yet ($(head -n 1 "$T/err"))"
	rm -f "$T"/q/*
else
	accepted_then_delivered 2 "$M-2" admin@example.org
	echo "ok 2 cron argv to bare root, admin_address, relay down: exit 0, queued; the runner delivers it there once"
fi

echo "t_contract_cron: done"
