#!/bin/sh
# End-to-end: smtps-send --import-msmtprc (issue 18).  Five realistic
# msmtprc files, their hosts and ports pointed at the real Postfix of
# lib.sh: Gmail with passwordeval gpg, Office 365 on 587 with AUTH LOGIN, a
# private CA with SHA-256 pins (also a self-signed server trusted by its
# pin alone, as msmtp does, and SHA-1 pins refused), defaults with several
# accounts (one relying on msmtp's default of no TLS), and one full of
# msmtp-only keys.  Each is imported to a new file (mode 600), and every
# account of it sends a message that is delivered.  Also: an existing
# output is never overwritten, standard output, ~/.msmtprc by default, and
# the notes as JSON events of the documented schema.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
command -v python3 >/dev/null 2>&1 || {
	echo "t_import_msmtprc: python3 not found"
	exit 77
}

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxm.XXXXXX)
GNUPGHOME=$T/gnupg
export GNUPGHOME
sx_on_exit 'command -v gpgconf >/dev/null 2>&1 && gpgconf --kill gpg-agent 2>/dev/null; rm -rf "$T"'
# Nothing from the caller's environment may steer the binary.
for _v in $(env | sed -n 's/^\(SMTPS_SEND_[A-Z0-9_]*\)=.*/\1/p'); do
	unset "$_v"
done
HOME=$T/home
SMTPS_SEND_QUEUE_DIR=$T/q
# queue off: a failure must show in the exit status, not be queued.
SMTPS_SEND_QUEUE=off
export HOME SMTPS_SEND_QUEUE_DIR SMTPS_SEND_QUEUE
mkdir -p "$HOME"
ok_n=0

ok() {
	ok_n=$((ok_n + 1))
	echo "ok $ok_n $*"
}

# fpr CERT [sha1]: the fingerprint msmtp users write, "AB:CD:...".
fpr() {
	python3 -c '
import hashlib, ssl, sys
der = ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())
h = hashlib.sha1 if sys.argv[2:] == ["sha1"] else hashlib.sha256
print(":".join("%02X" % b for b in h(der).digest()))' "$@"
}
GOOD=$SX_RUNDIR/tls/good.crt
SELF=$SX_RUNDIR/tls/selfsigned.crt
[ -f "$GOOD" ] && [ -f "$SELF" ] || sx_fail "the harness's certificates are not where expected"

# imp NAME: import $T/NAME.rc to $T/NAME.conf (a new file, mode 600).
imp() {
	"$BIN" --import-msmtprc "$T/$1.rc" "$T/$1.conf" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "$1: import exit $rc"; }
	[ ! -s "$T/out" ] || sx_fail "$1: import wrote to stdout"
	[ "$(stat -c %a "$T/$1.conf")" = 600 ] || sx_fail "$1: $1.conf is not mode 600"
	sx_grep_file "^smtps-send: [0-9]+ account\(s\) imported from $T/$1.rc to $T/$1.conf" "$T/err"
}

# send NAME ACCOUNT [WANT]: a message through ACCOUNT of $T/NAME.conf
# (none: the default choice); it must be delivered, or exit WANT.
send() {
	marker="import-$1-$2-$$"
	printf 'Subject: imported %s\nX-Test-Id: %s\n\nbody\n' "$2" "$marker" |
	    SMTPS_SEND_CONFIG=$T/$1.conf "$BIN" ${3:+-v} $([ "$2" = none ] || echo "-a $2") \
	    -f alice@localhost rcpt@example.org >"$T/out" 2>"$T/err"
	rc=$?
	if [ -n "${3:-}" ]; then
		[ "$rc" = "$3" ] || { cat "$T/err" >&2; sx_fail "$1 $2: exit $rc, expected $3"; }
		return
	fi
	[ $rc = 0 ] || { cat "$T/err" >&2; sx_fail "$1 $2: exit $rc"; }
	sx_wait_delivery "$marker" >/dev/null || sx_fail "$1 $2: not delivered"
}

# 1. Gmail, its password from a gpg-encrypted file (a passphrase stands
# in for the agent a user would have).
mkdir -m 700 "$GNUPGHOME"
if command -v gpg >/dev/null 2>&1 &&
    printf '%s' "$SX_PASS" | gpg --batch --yes --quiet --pinentry-mode loopback --passphrase pp \
	--no-symkey-cache --symmetric -o "$T/pw.gpg" 2>/dev/null; then
	eval="gpg --batch -q --pinentry-mode loopback --passphrase pp --no-symkey-cache -d $T/pw.gpg"
else
	echo "t_import_msmtprc: gpg not usable: passwordeval cat instead"
	eval="cat $SX_PASS_FILE"
fi
cat >"$T/gmail.rc" <<EOF
# Set default values for all following accounts.
defaults
auth           on
tls            on
tls_trust_file $SX_CA
logfile        ~/.msmtp.log

# Gmail (smtp.gmail.com port 587 in real life)
account        gmail
host           localhost
port           $SX_PORT_STARTTLS
from           alice@localhost
user           $SX_USER
passwordeval   "$eval"

# Set a default account
account default : gmail
EOF
imp gmail
sx_grep_file '; 0 line\(s\) changed or left out' "$T/err"
send gmail none
send gmail gmail
[ -s "$HOME/.msmtp.log" ] || sx_fail "gmail: no log line in ~/.msmtp.log"
ok "Gmail with passwordeval gpg: imported unchanged, both accounts send, the log file is ~/"

# 2. Office 365 on 587: STARTTLS spelled msmtp's way, AUTH LOGIN, a password in the file.
cat >"$T/office365.rc" <<EOF
account office365
host localhost
port $SX_PORT_STARTTLS
tls on
tls_starttls on
tls_trust_file $SX_CA
auth login
user $SX_USER
password $SX_PASS
from alice@localhost
timeout 30
syslog on
EOF
imp office365
! grep -q 'it holds a password' "$T/err" || sx_fail "office365: the mode-600 warning is for stdout only"
grep -q -x "syslog LOG_USER" "$T/office365.conf" || sx_fail "office365: syslog on is msmtp's LOG_USER"
send office365 office365
send office365 office365 0
sx_grep_file 'auth: LOGIN as alice: 235' "$T/err"
ok "Office 365 on 587: AUTH LOGIN, a password kept in a mode-600 file; sends"

# 3. A private CA with SHA-256 pins; a self-signed server trusted by its
# pin alone (msmtp's meaning of a pin); SHA-1 pins refused, saying how to
# get the SHA-256 one: then the chain is checked, whatever was inherited.
cat >"$T/privateca.rc" <<EOF
defaults
tls on
tls_starttls off
tls_trust_file $SX_CA
auth plain
user $SX_USER
passwordeval "cat $SX_PASS_FILE"
from alice@localhost

account internal
host localhost
port $SX_PORT_IMPLICIT
tls_fingerprint $(fpr "$GOOD")

account selfsigned
host localhost
port $SX_PORT_SELFSIGNED
tls_starttls on
tls_trust_file
tls_fingerprint $(fpr "$SELF")

account oldpin : internal
tls_fingerprint $(fpr "$GOOD" sha1)

account oldself : selfsigned
tls_fingerprint $(fpr "$SELF" sha1)
EOF
imp privateca
sx_grep_file "^smtps-send: $T/privateca.rc:23: tls_fingerprint: a SHA-1 fingerprint is not accepted, only SHA-256; .*openssl x509 -noout -fingerprint -sha256" "$T/err"
sx_grep_file "^smtps-send: $T/privateca.rc:26: tls_fingerprint: a SHA-1" "$T/err"
sx_grep_file "^smtps-send: $T/privateca.rc:19: tls_trust_file: empty" "$T/err"
send privateca internal
send privateca internal 0
sx_grep_file 'tls: .*fingerprint matched \(chain not checked\)' "$T/err"
send privateca selfsigned
send privateca oldpin 0
sx_grep_file 'tls: .*; verified$' "$T/err"
send privateca oldself 69
sx_grep_file '^smtps-send: tls: ' "$T/err"
ok "private CA, pins: SHA-256 pins send (also to a self-signed server), SHA-1 pins refused, the chain then checked"

# 4. Defaults and several accounts, one of them relying on msmtp's
# defaults: no TLS, port 25 (here the harness's port without TLS), no AUTH.
cat >"$T/several.rc" <<EOF
defaults
tls_trust_file $SX_CA
from alice@localhost
logfile $T/several.log

# STARTTLS on the submission port
account sub
host localhost
port $SX_PORT_STARTTLS
tls on
auth on
user $SX_USER
passwordeval cat $SX_PASS_FILE

# implicit TLS, inheriting the rest
account smtps : sub
port $SX_PORT_IMPLICIT
tls_starttls off

# the LAN relay: no TLS, no AUTH (msmtp's defaults)
account relay
host localhost
port $SX_PORT_PLAIN

account default : smtps
EOF
imp several
sx_grep_file "^smtps-send: $T/several.rc: tls: account relay: msmtp's default is no TLS" "$T/err"
[ "$(grep -c '^tls off$' "$T/several.conf")" = 1 ] || sx_fail "several: tls off not written once"
send several sub
send several smtps
send several relay
send several none
[ "$(wc -l <"$T/several.log")" -ge 4 ] || sx_fail "several: the log holds fewer than 4 lines"
ok "defaults and several accounts with inheritance: each sends; msmtp's no-TLS default kept"

# 5. msmtp-only keys: each named with its reason on stderr and in the file.
cat >"$T/msmtponly.rc" <<EOF
defaults
protocol smtp
set_from_header auto
set_date_header auto
set_msgid_header auto
remove_bcc_headers on
allow_from_override off
dsn_notify failure,delay
dsn_return headers
logfile_time_format %Y-%m-%d %H:%M:%S
tls_crl_file /etc/ssl/crl.pem
tls_min_dh_prime_bits 1024
undisclosed_recipients off
auto_from off

account legacy
host localhost
port $SX_PORT_STARTTLS
tls
tls_trust_file $SX_CA
auth digest-md5
user $SX_USER
passwordeval "cat $SX_PASS_FILE"
from alice@localhost
domain %H
timeout off
source_ip 127.0.0.1
proxy_host
ntlmdomain WORKGROUP
EOF
imp msmtponly
for k in 7:allow_from_override 8:dsn_notify 9:dsn_return 10:logfile_time_format 11:tls_crl_file \
    12:tls_min_dh_prime_bits 21:auth 25:domain 26:timeout 27:source_ip 29:ntlmdomain; do
	sx_grep_file "^smtps-send: $T/msmtponly.rc:${k%%:*}: ${k#*:}: " "$T/err"
	grep -q "^# msmtprc line ${k%%:*}, ${k#*:}: " "$T/msmtponly.conf" ||
	    sx_fail "msmtponly: no comment for line ${k%%:*} (${k#*:})"
done
[ "$(grep -c "^smtps-send: $T/msmtponly.rc:" "$T/err")" = 11 ] ||
	{ cat "$T/err" >&2; sx_fail "msmtponly: not 11 notes"; }
send msmtponly legacy
ok "msmtp-only keys: named with the reason (stderr and comments), the account still sends"

# 6. An existing output is never overwritten; standard output; ~/.msmtprc by default.
cp "$T/gmail.conf" "$T/keep"
"$BIN" --import-msmtprc "$T/office365.rc" "$T/gmail.conf" >/dev/null 2>"$T/err"
sx_expect_exit 73 $? "existing output"
sx_grep_file 'cannot create .*gmail.conf: File exists' "$T/err"
sx_grep_file 'hint: it is not overwritten' "$T/err"
cmp -s "$T/keep" "$T/gmail.conf" || sx_fail "existing output: changed"
"$BIN" --import-msmtprc "$T/gmail.rc" >"$T/stdout.conf" 2>"$T/err" || sx_fail "stdout: exit $?"
cmp -s "$T/stdout.conf" "$T/gmail.conf" || sx_fail "stdout: not what the file got"
cp "$T/office365.rc" "$HOME/.msmtprc"
"$BIN" --import-msmtprc >"$T/home.conf" 2>"$T/err" || sx_fail "~/.msmtprc: exit $?"
grep -q "^# smtps-send configuration imported from $HOME/.msmtprc " "$T/home.conf" ||
	sx_fail "~/.msmtprc: not read by default"
sx_grep_file 'it holds a password: save it where only you can read it' "$T/err"
rm "$HOME/.msmtprc"
"$BIN" --import-msmtprc >/dev/null 2>"$T/err"
sx_expect_exit 66 $? "no msmtprc"
sx_grep_file "neither $HOME/.msmtprc nor $HOME/.config/msmtp/config exists" "$T/err"
"$BIN" --import-msmtprc a b c >/dev/null 2>"$T/err"
sx_expect_exit 64 $? "three operands"
ok "output never overwritten (73); standard output; ~/.msmtprc by default (66 without one)"

# 7. JSON: each note an import event (file, line, key) of the schema.
"$BIN" --diag-format=json --import-msmtprc "$T/msmtponly.rc" >/dev/null 2>"$T/err"
rc=$?
[ $rc = 0 ] || sx_fail "json: exit $rc"
python3 tests/e2e/json_schema.py --exit 0 "$T/err" || sx_fail "json: events do not conform"
python3 - "$T/err" "$T/msmtponly.rc" <<'EOF' || sx_fail "json: import events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
imp = [e for e in ev if e["event"] == "import"]
assert len(imp) == 11, imp
assert all(e["file"] == sys.argv[2] and e["stage"] == "config" for e in imp), imp
assert [e["key"] for e in imp][:3] == ["allow_from_override", "dsn_notify", "dsn_return"], imp
assert imp[0]["line"] == 7, imp
EOF
ok "--diag-format=json: one import event per note"

echo "t_import_msmtprc: $ok_n cases passed"
