# tests/e2e/lib.sh -- real-server harness for smtps-send's end-to-end tests.
# POSIX sh (dash); source it:  . tests/e2e/lib.sh
#
# sx_server_start starts, on 127.0.0.1 only, a private Postfix (submission
# server) with Dovecot as its SASL provider, and per-run test certificates.
# Must run as root; returns 77 (skip) when not root or postfix/dovecot/
# certtool/ss are missing, 1 on a real failure (after cleaning up).
# Always pair it with a trap that calls sx_server_stop; a detached watchdog
# also stops the daemons within ~1 s if the starting shell dies without it.
# Start ~0.2 s, stop ~0.05 s (Debian 12, 2 cores).
#
# Exported by sx_server_start:
#   SX_RUNDIR        private run directory (short path /tmp/sxe.XXXXXX); logs in log/
#   SX_HOST          host name to connect to and verify: localhost
#   SX_CA            PEM file of the trusted test CA (the only one to trust)
#   SX_PORT_STARTTLS          STARTTLS required (encrypt), AUTH only after TLS, good leaf
#   SX_PORT_IMPLICIT          implicit TLS (wrappermode), good leaf
#   SX_PORT_EXPIRED           STARTTLS, leaf from the trusted CA but expired (2020)
#   SX_PORT_EXPIRED_IMPLICIT  implicit TLS, same expired leaf
#   SX_PORT_WRONGNAME         STARTTLS, trusted CA, leaf for wrong.example.net, no IP SANs
#   SX_PORT_UNTRUSTED         STARTTLS, leaf (+ its CA) from a second, untrusted CA
#   SX_PORT_SELFSIGNED        STARTTLS, self-signed leaf for localhost
#   SX_PORT_TLS12             STARTTLS, good leaf, TLS 1.2 only
#   SX_PORT_SMALLSIZE         STARTTLS, good leaf, message_size_limit 20000 (SIZE 20000)
#   SX_PORT_PLAIN             no TLS at all (no STARTTLS, no AUTH offered); accepts
#                             mail from loopback without AUTH (for tls=none tests)
#   SX_PORT_RCPTLIMIT         STARTTLS, good leaf, smtpd_recipient_limit 50 (452 4.5.3
#                             after 50 recipients); logs as postfix/rcptlimit/smtpd
#   SX_PORT_OAUTH2            STARTTLS, good leaf, AUTH XOAUTH2 OAUTHBEARER only: Dovecot's
#                             oauth2 passdb asks the test identity provider (tests/e2e/idp.py,
#                             started by the test on SX_PORT_IDP, HTTPS with the good leaf)
#                             at https://localhost:SX_PORT_IDP/introspect (issue 17)
#   SX_PORT_SASL              STARTTLS, good leaf, every mechanism Dovecot has: PLAIN
#                             LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 (the other ports
#                             announce only PLAIN LOGIN); logs as postfix/sasl/smtpd
#   SX_USER / SX_PASS         alice / alice-secret-1
#   SX_PASS_FILE              0600 file: alice's password plus a newline
#   SX_USER2 / SX_PASS2       bob / a password with UTF-8, spaces, a colon and +/=
#   SX_PASS2_FILE             0600 file: bob's password plus a newline
#   SX_MAILDIR                the single Maildir every accepted message lands in
#                             (files appear in $SX_MAILDIR/new; pick by Delivered-To/marker)
#   SX_SIZE_LIMIT_SMALL       20000 (the small port's limit)
#   SX_RCPT_LIMIT             50 (the rcptlimit port's recipients per transaction)
# Ports are SX_PORT_BASE (default 20500) + 0..10, 16 (SASL), 18 (OAuth2)
# and 19 (the identity provider, not started here); a run owns its whole
# block of 20 (tests take +11..15 and +17 for their own listeners:
# contract_lib.sh's relay proxies +11..15).  A block is taken when one of
# its ports listens or a live run claimed it (a file in /tmp/sxe-ports/
# naming that run's directory); then the next block of 20 is tried (up to
# 10 blocks).  Picking, claiming and starting the daemons happen under one
# lock (flock /tmp/sxe-ports/lock), so runners started at the same moment
# never pick the same block.
#
# Server behaviour on every port (deterministic failures, fast):
#   RCPT reject*@  -> 550 5.1.1     RCPT tempfail*@ -> 450 4.2.0
#   MAIL reject*@  -> 553 5.7.1     header "X-Test-Action: reject" -> 550 after the dot
#   bare LF in DATA -> 550 5.5.2    unauthenticated RCPT on AUTH ports -> 554 5.7.1
#   (for a domain of ours "Access denied"; for norelay.example, which is not
#   ours, "Relay access denied")
#   every other domain is accepted and delivered to SX_MAILDIR; nothing leaves the host.
# SX_KEEP=1 keeps the run directory after sx_server_stop (for debugging).
#
# Functions:
#   sx_server_start / sx_server_stop   start / stop (idempotent; use in a trap)
#   sx_ensure_server                   start unless SX_RUNDIR is already live
#                                      (lets a t_*.sh run standalone); sets traps
#   sx_on_exit 'CMDS'                  exit hook for tests (never "trap ... EXIT")
#   sx_wait_delivery MARKER [TIMEOUT]  print the path of the delivered file containing MARKER
#   sx_delivered_body FILE             the delivered message minus Postfix's trace headers
#   sx_client_env MODE [PORT]          export SMTPS_SEND_* for starttls|implicit (PORT overrides)
#   sx_fail MSG / sx_expect_exit EXPECTED ACTUAL WHAT / sx_grep_file ERE FILE   assertions
#   sx_leftover_pids                   pids of daemons of this run still alive (empty = none)
#   sx_scale SECONDS                   SECONDS times SX_TIME_FACTOR (see run.sh), for
#                                      a test's own waits and deadlines

SX_HOST=localhost
export SX_HOST

# How much slower than a plain build this run may be (run.sh; the Makefile
# sets it for the sanitizer build and valgrind): a whole number >= 1.
case ${SX_TIME_FACTOR:-1} in
'' | *[!0-9]* | 0) SX_TIME_FACTOR=1 ;;
esac
SX_TIME_FACTOR=${SX_TIME_FACTOR:-1}
export SX_TIME_FACTOR

# sx_scale N: N (seconds, or any count of a deadline loop) times the factor.
sx_scale() {
	echo $(($1 * SX_TIME_FACTOR))
}

_sx_log() { echo "e2e-server: $*" >&2; }

# _sx_alive PID: true when PID exists and is not a zombie (kill -0 is not
# enough: orphans are reaped late here and zombies answer it).
_sx_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _sx_descendants PID...: the given pids and all their live descendants.
_sx_descendants() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" '
	{
		pid = $1
		rest = $0
		sub(/^.*\) /, "", rest)
		split(rest, f, " ")
		if (f[1] != "Z" && f[1] != "X") parent[pid] = f[2]
	}
	END {
		n = split(roots, r, " ")
		for (i = 1; i <= n; i++) keep[r[i]] = 1
		do {
			added = 0
			for (p in parent)
				if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; added = 1 }
		} while (added)
		for (p in keep) printf "%s ", p
		print ""
	}'
}

# _sx_poll TIMEOUT_CENTISECONDS CMD...: run CMD every 50 ms until it succeeds.
_sx_poll() {
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 5))
	done
	"$@"
}

_sx_port_busy() {
	ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q -E "[:.]$1\$"
}

_sx_ports_listening() {
	local p ls
	ls=$(ss -Hltn 2>/dev/null | awk '{print $4}')
	for p in $_sx_all_ports; do
		printf '%s\n' "$ls" | grep -q -x -F "127.0.0.1:$p" || return 1
	done
	[ -S "$SX_RUNDIR/dv/auth-postfix" ]
}

_SX_PORTS_DIR=/tmp/sxe-ports

# The port lock, on descriptor 9 of this shell (flock(1); at most 2 minutes).
_sx_ports_lock() {
	mkdir -p "$_SX_PORTS_DIR" && exec 9>>"$_SX_PORTS_DIR/lock" || return 1
	if ! flock -w 120 9; then
		exec 9>&-
		_sx_log "the port lock $_SX_PORTS_DIR/lock was not free within 2 minutes"
		return 1
	fi
}

_sx_ports_unlock() {
	exec 9>&-
}

# _sx_block_claimed BASE: a live run (its directory exists) claimed a block
# of 20 that overlaps BASE..BASE+19.
_sx_block_claimed() {
	local f c dir
	for f in "$_SX_PORTS_DIR"/[0-9]*; do
		[ -f "$f" ] || continue
		c=${f##*/}
		[ "$c" -gt $(($1 - 20)) ] && [ "$c" -lt $(($1 + 20)) ] || continue
		dir=$(cat "$f" 2>/dev/null)
		[ -n "$dir" ] && [ -d "$dir" ] && return 0
		rm -f "$f" # its run is gone
	done
	return 1
}

# _sx_pick_ports: with the port lock held (sx_server_start), the first
# block that nothing listens on and no live run claimed; claims it.
_sx_pick_ports() {
	local base try i busy ls
	base=${SX_PORT_BASE:-20500}
	try=0
	while [ $try -lt 10 ]; do
		busy=
		_sx_block_claimed $base && busy=1
		ls=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*[:.]//')
		i=0
		while [ -z "$busy" ] && [ $i -lt 20 ]; do
			if printf '%s\n' "$ls" | grep -q -x -e $((base + i)); then
				busy=1
				break
			fi
			i=$((i + 1))
		done
		[ -z "$busy" ] && break
		base=$((base + 20))
		try=$((try + 1))
	done
	if [ -n "$busy" ]; then
		_sx_log "no free block of 20 ports from ${SX_PORT_BASE:-20500}"
		return 1
	fi
	printf '%s\n' "$SX_RUNDIR" >"$_SX_PORTS_DIR/$base" || return 1
	_sx_claim=$_SX_PORTS_DIR/$base
	SX_PORT_STARTTLS=$base
	SX_PORT_IMPLICIT=$((base + 1))
	SX_PORT_EXPIRED=$((base + 2))
	SX_PORT_EXPIRED_IMPLICIT=$((base + 3))
	SX_PORT_WRONGNAME=$((base + 4))
	SX_PORT_UNTRUSTED=$((base + 5))
	SX_PORT_SELFSIGNED=$((base + 6))
	SX_PORT_TLS12=$((base + 7))
	SX_PORT_SMALLSIZE=$((base + 8))
	SX_PORT_PLAIN=$((base + 9))
	SX_PORT_RCPTLIMIT=$((base + 10))
	SX_PORT_SASL=$((base + 16))
	SX_PORT_OAUTH2=$((base + 18))
	SX_PORT_IDP=$((base + 19))
	_sx_all_ports="$base $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) $((base + 5)) $((base + 6)) $((base + 7)) $((base + 8)) $((base + 9)) $((base + 10)) $SX_PORT_SASL $SX_PORT_OAUTH2"
	export SX_PORT_STARTTLS SX_PORT_IMPLICIT SX_PORT_EXPIRED SX_PORT_EXPIRED_IMPLICIT \
		SX_PORT_WRONGNAME SX_PORT_UNTRUSTED SX_PORT_SELFSIGNED SX_PORT_TLS12 \
		SX_PORT_SMALLSIZE SX_PORT_PLAIN SX_PORT_RCPTLIMIT SX_PORT_SASL SX_PORT_OAUTH2 \
		SX_PORT_IDP
}

# _sx_cert NAME SIGNER TEMPLATE-LINES: key NAME.key, cert NAME.crt in $SX_RUNDIR/tls.
# SIGNER is a CA name, "self" for a self-signed certificate.
_sx_cert() {
	local d=$SX_RUNDIR/tls name=$1 signer=$2
	shift 2
	printf '%s\n' "$@" >"$d/$name.tmpl"
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
		--outfile "$d/$name.key" >/dev/null 2>>"$d/certtool.log" || return 1
	if [ "$signer" = self ]; then
		certtool --generate-self-signed --load-privkey "$d/$name.key" \
			--template "$d/$name.tmpl" --outfile "$d/$name.crt" \
			>/dev/null 2>>"$d/certtool.log"
	else
		certtool --generate-certificate --load-privkey "$d/$name.key" \
			--load-ca-certificate "$d/$signer.crt" \
			--load-ca-privkey "$d/$signer.key" \
			--template "$d/$name.tmpl" --outfile "$d/$name.crt" \
			>/dev/null 2>>"$d/certtool.log"
	fi
}

_sx_make_certs() {
	local ok="expiration_days = 30" leaf
	leaf="tls_www_server
signing_key
encryption_key"
	mkdir -p "$SX_RUNDIR/tls" || return 1
	_sx_cert ca self 'cn = "smtps-send test CA"' ca cert_signing_key \
		"$ok" || return 1
	_sx_cert ca2 self 'cn = "smtps-send UNTRUSTED test CA"' ca \
		cert_signing_key "$ok" || return 1
	_sx_cert good ca 'cn = "localhost"' 'dns_name = "localhost"' \
		'ip_address = "127.0.0.1"' 'ip_address = "::1"' "$leaf" "$ok" ||
		return 1
	_sx_cert expired ca 'cn = "localhost"' 'dns_name = "localhost"' \
		'ip_address = "127.0.0.1"' 'ip_address = "::1"' "$leaf" \
		'activation_date = "2019-01-01 00:00:00 UTC"' \
		'expiration_date = "2020-01-01 00:00:00 UTC"' || return 1
	_sx_cert wrongname ca 'cn = "wrong.example.net"' \
		'dns_name = "wrong.example.net"' "$leaf" "$ok" || return 1
	_sx_cert untrusted ca2 'cn = "localhost"' 'dns_name = "localhost"' \
		'ip_address = "127.0.0.1"' 'ip_address = "::1"' "$leaf" "$ok" ||
		return 1
	_sx_cert selfsigned self 'cn = "localhost"' 'dns_name = "localhost"' \
		'ip_address = "127.0.0.1"' 'ip_address = "::1"' "$leaf" "$ok" ||
		return 1
	# The untrusted leaf is served with its CA, as a real chain would be.
	cat "$SX_RUNDIR/tls/untrusted.crt" "$SX_RUNDIR/tls/ca2.crt" \
		>"$SX_RUNDIR/tls/untrusted-chain.crt" || return 1
	chmod 600 "$SX_RUNDIR"/tls/*.key
	SX_CA=$SX_RUNDIR/tls/ca.crt
	export SX_CA
}

_sx_write_dovecot() {
	local dv=$SX_RUNDIR/dv h1 h2
	mkdir -p "$dv/state" || return 1
	# The passwords themselves (base64: bob's has a colon, passwd-file's
	# separator), so that Dovecot can compute what CRAM-MD5 and SCRAM need;
	# a test-only file of mode 0640 in the private run directory.
	h1=$(printf '%s' "$SX_PASS" | base64 | tr -d '\n')
	h2=$(printf '%s' "$SX_PASS2" | base64 | tr -d '\n')
	case "$h1" in '') _sx_log "cannot encode the test passwords"; return 1 ;; esac
	h1="{PLAIN.B64}$h1"
	h2="{PLAIN.B64}$h2"
	printf '%s:%s\n%s:%s\n' "$SX_USER" "$h1" "$SX_USER2" "$h2" >"$dv/users"
	chown root:dovecot "$dv/users" && chmod 640 "$dv/users" || return 1
	# OAuth2 (issue 17): tokens checked at the test provider's introspection endpoint.
	cat >"$dv/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = https://localhost:$SX_PORT_IDP/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
tls_ca_cert_file = $SX_RUNDIR/tls/ca.crt
timeout_msecs = 5000
EOF
	cat >"$dv/dovecot.conf" <<EOF
# SASL provider only, for the smtps-send e2e harness
base_dir = $dv/run
state_dir = $dv/state
instance_name = $(basename "$SX_RUNDIR")
log_path = $SX_RUNDIR/log/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
# Every port announces plain and login only (smtpd_sasl_mechanism_filter),
# but SX_PORT_SASL (and SCRAM/CRAM-MD5) and SX_PORT_OAUTH2 (xoauth2/oauthbearer).
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 xoauth2 oauthbearer
auth_failure_delay = 0
auth_cache_size = 0
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = $dv/users
  mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
}
passdb {
  driver = oauth2
  args = $dv/oauth2.conf.ext
  mechanisms = xoauth2 oauthbearer
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}
service auth {
  unix_listener $dv/auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

_sx_write_postfix() {
	local pf=$SX_RUNDIR/pf r=$SX_RUNDIR
	# The queue is not under the config directory: postfix-script's check
	# walks the config directory and would complain about every queue dir.
	mkdir -p "$pf" "$r/queue" "$r/data" "$r/mail" || return 1
	chown postfix:postfix "$r/data" && chmod 700 "$r/data" || return 1
	# The queue tree as postfix-files describes it, plus "quick-start": this
	# skips postfix-script's integrity checks (post-install, postsuper),
	# which take about 2 s and find nothing in a fresh empty queue.
	(
		cd "$r/queue" || exit 1
		mkdir -m 700 active bounce corrupt defer deferred flush hold \
			incoming private saved trace &&
			chown postfix:root active bounce corrupt defer deferred \
				flush hold incoming private saved trace &&
			mkdir -m 730 maildrop && chown postfix:postdrop maildrop &&
			mkdir -m 710 public && chown postfix:postdrop public &&
			mkdir -m 755 pid && : >quick-start
	) || return 1
	chown 65534:65534 "$r/mail" || return 1
	cat >"$pf/rcpt_access" <<'EOF'
/^reject[^@]*@/    550 5.1.1 Recipient rejected by the e2e test server
/^tempfail[^@]*@/  450 4.2.0 Recipient temporarily refused by the e2e test server
EOF
	cat >"$pf/sender_access" <<'EOF'
/^reject[^@]*@/    553 5.7.1 Sender rejected by the e2e test server
EOF
	cat >"$pf/header_checks" <<'EOF'
/^X-Test-Action:[[:space:]]*reject/  REJECT Message rejected by the e2e test server (header_checks)
EOF
	# Every domain is ours except norelay.example: mail for it is relaying,
	# which needs AUTH ("Relay access denied" without it).
	cat >"$pf/vdomains" <<'EOF'
!/^norelay\.example$/  OK
EOF
	cat >"$pf/main.cf" <<EOF
# private Postfix for the smtps-send e2e harness (loopback only)
compatibility_level = 3.6
queue_directory = $r/queue
data_directory = $r/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $r/log/postfix.log
maillog_file_prefixes = $r/log
myhostname = localhost
mydomain = localdomain
myorigin = localhost
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
disable_dns_lookups = yes
default_transport = error:e2e harness delivers nothing off-host
relay_transport = error:e2e harness delivers nothing off-host
local_transport = error:e2e harness has no local delivery
virtual_mailbox_domains = regexp:$pf/vdomains
virtual_mailbox_base = $r/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_mailbox_limit = 0
local_header_rewrite_clients =
always_add_missing_headers = no
header_checks = regexp:$pf/header_checks
message_size_limit = 300000000
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_delay_reject = no
smtpd_helo_required = no
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_sasl_type = dovecot
smtpd_sasl_path = $SX_RUNDIR/dv/auth-postfix
smtpd_sasl_auth_enable = yes
# PLAIN and LOGIN only, as before; SX_PORT_SASL announces all Dovecot has.
smtpd_sasl_mechanism_filter = plain, login
smtpd_tls_auth_only = yes
smtpd_tls_security_level = encrypt
smtpd_tls_chain_files = $r/tls/good.key, $r/tls/good.crt
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 1
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination, reject
smtpd_sender_restrictions = check_sender_access regexp:$pf/sender_access
smtpd_recipient_restrictions = check_recipient_access regexp:$pf/rcpt_access
biff = no
queue_run_delay = 10s
minimal_backoff_time = 10s
EOF
	local t=$r/tls s="inet n - n - - smtpd"
	cat >"$pf/master.cf" <<EOF
127.0.0.1:$SX_PORT_STARTTLS $s
127.0.0.1:$SX_PORT_IMPLICIT $s -o smtpd_tls_wrappermode=yes
127.0.0.1:$SX_PORT_EXPIRED $s -o smtpd_tls_chain_files=$t/expired.key,$t/expired.crt
127.0.0.1:$SX_PORT_EXPIRED_IMPLICIT $s -o smtpd_tls_wrappermode=yes -o smtpd_tls_chain_files=$t/expired.key,$t/expired.crt
127.0.0.1:$SX_PORT_WRONGNAME $s -o smtpd_tls_chain_files=$t/wrongname.key,$t/wrongname.crt
127.0.0.1:$SX_PORT_UNTRUSTED $s -o smtpd_tls_chain_files=$t/untrusted.key,$t/untrusted-chain.crt
127.0.0.1:$SX_PORT_SELFSIGNED $s -o smtpd_tls_chain_files=$t/selfsigned.key,$t/selfsigned.crt
127.0.0.1:$SX_PORT_TLS12 $s -o smtpd_tls_protocols=TLSv1.2 -o smtpd_tls_mandatory_protocols=TLSv1.2
127.0.0.1:$SX_PORT_SMALLSIZE $s -o message_size_limit=$SX_SIZE_LIMIT_SMALL
127.0.0.1:$SX_PORT_PLAIN $s -o smtpd_tls_security_level=none -o smtpd_sasl_auth_enable=no -o smtpd_tls_auth_only=no -o smtpd_relay_restrictions=permit_mynetworks,reject
127.0.0.1:$SX_PORT_RCPTLIMIT $s -o smtpd_recipient_limit=$SX_RCPT_LIMIT -o syslog_name=postfix/rcptlimit
127.0.0.1:$SX_PORT_SASL $s -o smtpd_sasl_mechanism_filter=plain,login,cram-md5,scram-sha-1,scram-sha-256 -o syslog_name=postfix/sasl
127.0.0.1:$SX_PORT_OAUTH2 $s -o smtpd_sasl_mechanism_filter=xoauth2,oauthbearer -o syslog_name=postfix/oauth2
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
tlsmgr    unix - - n 1000? 1 tlsmgr
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
	# Postfix re-reads a main.cf younger than 1 s in 300 ms steps (up to
	# 2 s per program start): backdate the configuration.
	touch -d "@$(($(date +%s) - 10))" "$pf"/* || return 1
}

sx_server_start() {
	local missing c t0
	if [ "$(id -u)" != 0 ]; then
		_sx_log "SKIP: needs root (runs a private Postfix + Dovecot on 127.0.0.1)"
		return 77
	fi
	missing=
	for c in postfix dovecot doveadm certtool ss setsid; do
		command -v $c >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -x /usr/lib/postfix/sbin/master ] || missing="$missing postfix-master"
	if [ -n "$missing" ]; then
		_sx_log "SKIP: missing:$missing (apt-get install postfix dovecot-core gnutls-bin iproute2)"
		return 77
	fi
	if [ -n "${SX_RUNDIR:-}" ] && [ -d "$SX_RUNDIR" ]; then
		_sx_log "a server is already running in $SX_RUNDIR"
		return 1
	fi
	t0=$(date +%s%N)
	SX_RUNDIR=$(mktemp -d /tmp/sxe.XXXXXX) || return 1
	export SX_RUNDIR
	chmod 755 "$SX_RUNDIR"
	mkdir -p "$SX_RUNDIR/log"
	SX_USER=alice
	SX_PASS=alice-secret-1
	SX_USER2=bob
	SX_PASS2='pä ss:wörd+/='
	SX_PASS_FILE=$SX_RUNDIR/alice.pass
	SX_PASS2_FILE=$SX_RUNDIR/bob.pass
	SX_MAILDIR=$SX_RUNDIR/mail/inbox
	SX_SIZE_LIMIT_SMALL=20000
	SX_RCPT_LIMIT=50
	export SX_USER SX_PASS SX_USER2 SX_PASS2 SX_PASS_FILE SX_PASS2_FILE \
		SX_MAILDIR SX_SIZE_LIMIT_SMALL SX_RCPT_LIMIT
	(umask 077 && printf '%s\n' "$SX_PASS" >"$SX_PASS_FILE" &&
		printf '%s\n' "$SX_PASS2" >"$SX_PASS2_FILE") || {
		sx_server_stop
		return 1
	}
	if ! _sx_make_certs; then
		_sx_log "setting up $SX_RUNDIR failed"
		cat "$SX_RUNDIR/tls/certtool.log" >&2 2>/dev/null
		sx_server_stop
		return 1
	fi
	if ! _sx_ports_lock; then
		sx_server_stop
		return 1
	fi
	# Dovecot's config names a port too (the OAuth2 provider's).
	if ! _sx_pick_ports || ! _sx_write_postfix || ! _sx_write_dovecot; then
		_sx_ports_unlock
		_sx_log "setting up $SX_RUNDIR failed"
		sx_server_stop
		return 1
	fi
	# Dovecot listens on a socket in the run directory only; every TCP port
	# is Postfix's, bound under the port lock.
	if ! dovecot -c "$SX_RUNDIR/dv/dovecot.conf" </dev/null 9>&- \
		>>"$SX_RUNDIR/log/dovecot.start" 2>&1; then
		_sx_ports_unlock
		_sx_log "dovecot failed to start:"
		cat "$SX_RUNDIR/log/dovecot.start" "$SX_RUNDIR/log/dovecot.log" >&2 2>/dev/null
		sx_server_stop
		return 1
	fi
	# The lock's descriptor must not live on in the daemons.
	if ! postfix -c "$SX_RUNDIR/pf" start </dev/null 9>&- \
		>>"$SX_RUNDIR/log/postfix.start" 2>&1; then
		_sx_ports_unlock
		_sx_log "postfix failed to start:"
		cat "$SX_RUNDIR/log/postfix.start" "$SX_RUNDIR/log/postfix.log" >&2 2>/dev/null
		sx_server_stop
		return 1
	fi
	if ! _sx_poll 3000 _sx_ports_listening; then
		_sx_ports_unlock
		_sx_log "server not ready after 30 s; logs:"
		tail -n 30 "$SX_RUNDIR/log/postfix.start" "$SX_RUNDIR/log/postfix.log" \
			"$SX_RUNDIR/log/dovecot.log" >&2 2>/dev/null
		sx_server_stop
		return 1
	fi
	_sx_ports_unlock
	_sx_start_watchdog
	_sx_log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $SX_RUNDIR, ports $SX_PORT_STARTTLS-$SX_PORT_RCPTLIMIT, $SX_PORT_SASL"
	return 0
}

# Pids of this run's daemons (masters and their children), from pid files.
_sx_master_pids() {
	local f p
	for f in "$SX_RUNDIR/queue/pid/master.pid" "$SX_RUNDIR/dv/run/master.pid"; do
		[ -r "$f" ] || continue
		p=$(tr -cd '0-9' <"$f")
		[ -n "$p" ] && echo "$p"
	done
}

# sx_leftover_pids: live processes of this run (by the pids recorded at stop
# time, plus any process whose environment or argv names the run directory).
sx_leftover_pids() {
	local p f out
	out=
	for p in ${_sx_tracked_pids:-}; do
		_sx_alive "$p" && out="$out $p"
	done
	if [ -n "${_sx_last_rundir:-}" ]; then
		for f in $( (grep -l -z -x -F "MAIL_CONFIG=$_sx_last_rundir/pf" \
			/proc/[0-9]*/environ
			grep -l -z -F -e "$_sx_last_rundir/dv/dovecot.conf" \
				-e "dovecot-${_sx_last_rundir##*/}/" \
				/proc/[0-9]*/cmdline) 2>/dev/null); do
			p=${f#/proc/}
			p=${p%%/*}
			[ "$p" = "$$" ] && continue
			case " $out " in *" $p "*) continue ;; esac
			_sx_alive "$p" && out="$out $p"
		done
	fi
	echo $out
}

sx_server_stop() {
	local masters p n left
	[ -n "${SX_RUNDIR:-}" ] || return 0
	[ -d "$SX_RUNDIR" ] || {
		SX_RUNDIR=
		return 0
	}
	_sx_last_rundir=$SX_RUNDIR
	masters=$(_sx_master_pids)
	_sx_tracked_pids=
	[ -n "$masters" ] && _sx_tracked_pids=$(_sx_descendants $masters)
	# TERM the masters and their children at once (a dovecot master alone
	# takes about 1 s to shut its children down); re-scan while waiting in
	# case a master respawned a child; KILL what is left after 3 s.
	left=$(sx_leftover_pids)
	n=60
	while [ -n "$left" ] && [ $n -gt 0 ]; do
		kill -TERM $left 2>/dev/null
		sleep 0.05
		n=$((n - 1))
		left=$(sx_leftover_pids)
	done
	if [ -n "$left" ]; then
		_sx_log "still running after TERM, killing:$left"
		kill -KILL $left 2>/dev/null
		sleep 0.2
		left=$(sx_leftover_pids)
	fi
	if [ "${SX_KEEP:-}" = 1 ]; then
		_sx_log "kept $SX_RUNDIR (SX_KEEP=1)"
	else
		rm -rf "$SX_RUNDIR"
	fi
	# The block is free again (a claim naming a run directory that is gone
	# is ignored anyway: see _sx_block_claimed).
	if [ -n "${_sx_claim:-}" ] && [ "$(cat "$_sx_claim" 2>/dev/null)" = "$SX_RUNDIR" ]; then
		rm -f "$_sx_claim"
	fi
	_sx_claim=
	SX_RUNDIR=
	if [ -n "$left" ]; then
		_sx_log "LEAK: processes of $_sx_last_rundir still alive: $left"
		return 1
	fi
	return 0
}

# The watchdog: a detached shell (own session, so a kill of the test's process
# group does not reach it) that stops the daemons when the shell that started
# the server is gone, whatever happened to its traps (a test that replaced
# the EXIT trap, kill -9, timeout).  It ends by itself, within 0.5 s, once
# the run directory is gone.
_sx_watchdog_script='
owner=$1 run=$2
alive() { [ -r /proc/$1/stat ] && ! sed "s/^.*) //" /proc/$1/stat | grep -q "^[ZX]"; }
while [ -d "$run" ] && alive "$owner"; do sleep 0.5; done
[ -d "$run" ] || exit 0
pids() {
	cat "$run/queue/pid/master.pid" "$run/dv/run/master.pid" 2>/dev/null | tr -cs "0-9" " "
	(grep -l -z -x -F "MAIL_CONFIG=$run/pf" /proc/[0-9]*/environ
	grep -l -z -F -e "$run/dv/dovecot.conf" -e "dovecot-${run##*/}/" /proc/[0-9]*/cmdline) 2>/dev/null |
		sed "s,^/proc/,,; s,/.*,," | tr "\n" " "
}
n=0
while [ $n -lt 60 ]; do
	p=$(pids)
	[ -z "$(echo $p)" ] && break
	kill -TERM $p 2>/dev/null
	sleep 0.05
	n=$((n + 1))
done
p=$(pids)
[ -n "$(echo $p)" ] && kill -KILL $p 2>/dev/null
echo "e2e-server watchdog: owner $owner gone, stopped $run" >>"$run/log/watchdog.log"
[ "${SX_KEEP:-}" = 1 ] || rm -rf "$run"
'

_sx_start_watchdog() {
	(cd / && exec setsid sh -c "$_sx_watchdog_script" sx-watchdog "$$" \
		"$SX_RUNDIR") </dev/null >/dev/null 2>&1 &
}

# sx_ensure_server: for a t_*.sh run on its own (not by run.sh): starts the
# server unless SX_RUNDIR is already live, and stops it at exit.  Tests must
# not set their own EXIT trap (it would replace this one; the watchdog would
# still stop the daemons, 0.5 s later): use sx_on_exit.
sx_ensure_server() {
	local rc
	trap '_sx_exit' EXIT
	trap '_sx_exit; trap - EXIT; exit 130' INT
	trap '_sx_exit; trap - EXIT; exit 143' TERM
	trap '_sx_exit; trap - EXIT; exit 129' HUP
	if [ -n "${SX_RUNDIR:-}" ] && [ -d "$SX_RUNDIR" ] && [ -n "${SX_PORT_STARTTLS:-}" ]; then
		return 0
	fi
	sx_server_start
	rc=$?
	[ $rc -eq 0 ] || exit $rc
	_sx_owned=1
}

# sx_on_exit 'COMMANDS': run COMMANDS at exit (before the server, if this
# shell started it, is stopped).  Replaces the previous sx_on_exit commands.
sx_on_exit() {
	_sx_exit_cmd=$1
	trap '_sx_exit' EXIT
}

_sx_exit() {
	eval "${_sx_exit_cmd:-:}"
	[ -n "${_sx_owned:-}" ] && sx_server_stop
	_sx_owned=
}

# sx_wait_delivery MARKER [TIMEOUT]: print the path of the first delivered
# file (in $SX_MAILDIR/new) that contains MARKER; fail after TIMEOUT s (10)
# times SX_TIME_FACTOR.
sx_wait_delivery() {
	local marker=$1 n f
	n=$(($(sx_scale "${2:-10}") * 20))
	while :; do
		if [ -d "$SX_MAILDIR/new" ]; then
			f=$(grep -l -F -r -e "$marker" "$SX_MAILDIR/new" 2>/dev/null | sort | head -n 1)
			if [ -n "$f" ]; then
				printf '%s\n' "$f"
				return 0
			fi
		fi
		[ $n -le 0 ] && break
		sleep 0.05
		n=$((n - 1))
	done
	echo "sx_wait_delivery: nothing containing '$marker' in $SX_MAILDIR/new after $(sx_scale "${2:-10}") s" >&2
	return 1
}

# sx_delivered_body FILE: the delivered message without the trace headers
# Postfix put on top (one Return-Path, X-Original-To when virtual adds it, one
# Delivered-To, one Received, in that order, with continuation lines): the client's DATA with CRLF -> LF and
# dot-unstuffed.
sx_delivered_body() {
	awk '
	BEGIN { stage = 0; skipping = 0; done = 0 }
	done { print; next }
	skipping && /^[ \t]/ { next }
	{ skipping = 0 }
	stage == 0 && /^Return-Path:/ { stage = 1; skipping = 1; next }
	stage <= 1 && /^X-Original-To:/ { stage = 2; skipping = 1; next }
	stage <= 2 && /^Delivered-To:/ { stage = 3; skipping = 1; next }
	stage <= 3 && /^Received:/ { stage = 4; skipping = 1; next }
	{ done = 1; print }
	' "$1"
}

# sx_client_env MODE [PORT]: the environment smtps-send reads to reach the
# server as alice (MODE starttls or implicit; PORT overrides the port).
sx_client_env() {
	local port
	case "$1" in
	starttls) port=${2:-$SX_PORT_STARTTLS} ;;
	implicit) port=${2:-$SX_PORT_IMPLICIT} ;;
	*)
		echo "sx_client_env: MODE must be starttls or implicit" >&2
		return 2
		;;
	esac
	SMTPS_SEND_HOST=$SX_HOST
	SMTPS_SEND_PORT=$port
	SMTPS_SEND_TLS=$1
	SMTPS_SEND_TLS_TRUST_FILE=$SX_CA
	SMTPS_SEND_USER=$SX_USER
	SMTPS_SEND_PASSWORD_FILE=$SX_PASS_FILE
	export SMTPS_SEND_HOST SMTPS_SEND_PORT SMTPS_SEND_TLS \
		SMTPS_SEND_TLS_TRUST_FILE SMTPS_SEND_USER SMTPS_SEND_PASSWORD_FILE
}

sx_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# sx_expect_exit EXPECTED ACTUAL WHAT
sx_expect_exit() {
	[ "$1" = "$2" ] || sx_fail "$3: exit status $2, expected $1"
}

# sx_grep_file ERE FILE: FILE must contain a line matching ERE.
sx_grep_file() {
	if ! grep -q -E -e "$1" "$2" 2>/dev/null; then
		echo "--- $2:" >&2
		head -n 40 "$2" >&2 2>/dev/null
		sx_fail "no line matching /$1/ in $2"
	fi
}
