#!/bin/sh
# Self-test of the real-server harness (lib.sh), without smtps-send: Python's
# smtplib talks to every port and the Maildir must hold exactly what was sent.
# If this fails, every other e2e result is meaningless.
set -u
. "${SX_LIB:-$(dirname "$0")/lib.sh}"
command -v python3 >/dev/null 2>&1 || { echo "python3 missing" >&2; exit 77; }
sx_ensure_server || exit $?

T=$(mktemp -d /tmp/sxh.XXXXXX) || sx_fail "mktemp"
[ -n "${SX_KEEP:-}" ] || sx_on_exit 'rm -rf "$T"'

# Secret files: mode 0600, password plus newline.
for pair in "$SX_PASS_FILE:$SX_PASS" "$SX_PASS2_FILE:$SX_PASS2"; do
	f=${pair%%:*}
	pw=${pair#*:}
	[ "$(stat -c %a "$f")" = 600 ] || sx_fail "$f is not mode 0600"
	printf '%s\n' "$pw" | cmp -s - "$f" || sx_fail "$f does not hold the password + newline"
done

run=$(date +%s)-$$
python3 - "$T" "$run" >"$T/py.out" 2>&1 <<'PYEOF'
import base64, os, smtplib, socket, ssl, sys, time

out, run = sys.argv[1], sys.argv[2]
E = os.environ
host, ca = E["SX_HOST"], E["SX_CA"]
port = lambda name: int(E["SX_PORT_" + name])
fails = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)

def ctx():
    return ssl.create_default_context(cafile=ca)

def login(s, user, pw):
    tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode("utf-8")).decode()
    return s.docmd("AUTH", "PLAIN " + tok)

def starttls(p, c=None):
    s = smtplib.SMTP(host, p, timeout=10)
    s.ehlo("harness.test")
    s.starttls(context=c or ctx())
    s.ehlo("harness.test")
    return s

def message(marker, extra=b""):
    return (b"From: alice@localhost\r\nTo: someone@example.org\r\n"
            b"Subject: harness " + marker.encode() + b"\r\n" + extra +
            b"X-Marker: " + marker.encode() + b"\r\n\r\n"
            b"first line\r\n.leading dot\r\n..two dots\r\n"
            b"utf-8: \xc3\xa4\xc3\xb6\xc3\xbc \xe2\x82\xac\r\n\r\nlast line\r\n")

def save(marker, data):
    with open(os.path.join(out, marker + ".want"), "wb") as f:
        f.write(data.replace(b"\r\n", b"\n"))

# 1. STARTTLS port: no AUTH before TLS, MAIL refused before TLS, verified TLS,
#    AUTH PLAIN as alice, delivery.
s = smtplib.SMTP(host, port("STARTTLS"), timeout=10)
s.ehlo("harness.test")
check(s.has_extn("starttls"), "starttls port offers STARTTLS")
check(not s.has_extn("auth"), "starttls port offers no AUTH before TLS")
code, _ = s.docmd("MAIL", "FROM:<alice@localhost>")
check(code == 530, "MAIL before STARTTLS refused with 530 (got %d)" % code)
s.starttls(context=ctx())
s.ehlo("harness.test")
check("PLAIN" in s.esmtp_features.get("auth", ""), "AUTH PLAIN offered after TLS")
check(s.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS version " + str(s.sock.version()))
code, _ = login(s, E["SX_USER"], E["SX_PASS"])
check(code == 235, "AUTH PLAIN alice -> 235 (got %d)" % code)
m = "starttls-" + run
msg = message(m)
s.sendmail("alice@localhost", ["someone@example.org"], msg)
save(m, msg)
s.quit()

# 2. Implicit TLS port.
s = smtplib.SMTP_SSL(host, port("IMPLICIT"), context=ctx(), timeout=10)
s.ehlo("harness.test")
code, _ = login(s, E["SX_USER"], E["SX_PASS"])
check(code == 235, "implicit: AUTH PLAIN alice -> 235 (got %d)" % code)
m = "implicit-" + run
msg = message(m)
s.sendmail("alice@localhost", ["someone@example.org"], msg)
save(m, msg)
s.quit()

# 3. Bob's awkward password (UTF-8, spaces, colon, +/=), PLAIN and LOGIN.
s = starttls(port("STARTTLS"))
code, _ = login(s, E["SX_USER2"], E["SX_PASS2"])
check(code == 235, "AUTH PLAIN bob (utf-8 password) -> 235 (got %d)" % code)
m = "bob-" + run
msg = message(m)
s.sendmail("bob@localhost", ["someone@example.org"], msg)
save(m, msg)
s.quit()
s = starttls(port("STARTTLS"))
b64 = lambda b: base64.b64encode(b).decode()
c1, _ = s.docmd("AUTH", "LOGIN " + b64(E["SX_USER2"].encode()))
c2, _ = s.docmd(b64(E["SX_PASS2"].encode("utf-8")))
check((c1, c2) == (334, 235), "AUTH LOGIN bob -> 334, 235 (got %d, %d)" % (c1, c2))
s.quit()

# 4. Wrong password: 535, quickly (no auth penalty).
s = starttls(port("STARTTLS"))
t = time.time()
code, _ = login(s, E["SX_USER"], "not-the-password")
check(code == 535, "wrong password -> 535 (got %d)" % code)
check(time.time() - t < 1.5, "wrong password answered in %.2f s" % (time.time() - t))
s.quit()

# 5. Unauthenticated relay after TLS is refused.
s = starttls(port("STARTTLS"))
s.docmd("MAIL", "FROM:<alice@localhost>")
code, _ = s.docmd("RCPT", "TO:<someone@example.org>")
check(500 <= code < 600, "unauthenticated RCPT refused (got %d)" % code)
s.quit()

# 6. Plain port: no STARTTLS, no AUTH.
s = smtplib.SMTP(host, port("PLAIN"), timeout=10)
s.ehlo("harness.test")
check(not s.has_extn("starttls"), "plain port offers no STARTTLS")
check(not s.has_extn("auth"), "plain port offers no AUTH")
s.quit()

# 7. Bad certificates fail Python's default verification, each for its reason.
# 10 expired, 62 hostname mismatch, 19 untrusted root in the chain (20 if the
# server sent the leaf alone), 18 self-signed leaf.
for name, implicit, want in (("EXPIRED", False, (10,)), ("EXPIRED_IMPLICIT", True, (10,)),
                             ("WRONGNAME", False, (62,)), ("UNTRUSTED", False, (19, 20)),
                             ("SELFSIGNED", False, (18,))):
    err = None
    try:
        if implicit:
            s = smtplib.SMTP_SSL(host, port(name), context=ctx(), timeout=10)
        else:
            s = starttls(port(name))
        s.quit()
    except ssl.SSLCertVerificationError as e:
        err = e
    check(err is not None and err.verify_code in want,
          "%s port: verify_code %s (want %s) %s" % (name, err and err.verify_code, want,
                                                    err and err.verify_message))

# 8. Good certificate also verifies by IP address.
s = smtplib.SMTP("127.0.0.1", port("STARTTLS"), timeout=10)
s.ehlo()
c = ctx()
s.sock = c.wrap_socket(s.sock, server_hostname="127.0.0.1") if s.docmd("STARTTLS")[0] == 220 else None
check(s.sock is not None, "good leaf verifies for 127.0.0.1")
s.close()

# 9. TLS 1.2-only port and the small SIZE port.
s = starttls(port("TLS12"))
check(s.sock.version() == "TLSv1.2", "tls12 port negotiates %s" % s.sock.version())
s.quit()
s = starttls(port("SMALLSIZE"))
check(s.esmtp_features.get("size") == E["SX_SIZE_LIMIT_SMALL"],
      "small port SIZE %s" % s.esmtp_features.get("size"))
login(s, E["SX_USER"], E["SX_PASS"])
code, _ = s.docmd("MAIL", "FROM:<alice@localhost> SIZE=30000")
check(code == 552, "MAIL SIZE=30000 on small port -> 552 (got %d)" % code)
s.quit()

# 10. Deterministic failures.
s = starttls(port("STARTTLS"))
login(s, E["SX_USER"], E["SX_PASS"])
code, _ = s.docmd("MAIL", "FROM:<reject-me@localhost>")
check(code in (550, 553), "MAIL reject*@ -> %d" % code)
s.rset()
s.docmd("MAIL", "FROM:<alice@localhost>")
code, _ = s.docmd("RCPT", "TO:<reject-x@example.org>")
check(code == 550, "RCPT reject*@ -> 550 (got %d)" % code)
code, _ = s.docmd("RCPT", "TO:<tempfail-x@example.org>")
check(code == 450, "RCPT tempfail*@ -> 450 (got %d)" % code)
s.rset()
m = "hdrreject-" + run
code = 0
try:
    s.sendmail("alice@localhost", ["someone@example.org"],
               message(m, b"X-Test-Action: reject\r\n"))
except smtplib.SMTPDataError as e:
    code = e.smtp_code
check(code == 550, "X-Test-Action: reject -> 550 after the dot (got %d)" % code)
with open(os.path.join(out, "notdelivered"), "w") as f:
    f.write(m + "\n")
s.quit()

# 11. A bare LF in the body is refused (smtpd_forbid_bare_newline).
s = starttls(port("STARTTLS"))
login(s, E["SX_USER"], E["SX_PASS"])
m = "barelf-" + run
code = 0
try:
    s.sendmail("alice@localhost", ["someone@example.org"],
               b"Subject: " + m.encode() + b"\r\n\r\nbare\nline feed\r\n")
except smtplib.SMTPDataError as e:
    code = e.smtp_code
except smtplib.SMTPServerDisconnected:
    code = -1
check(code == 550, "bare LF in DATA -> 550 (got %d)" % code)
with open(os.path.join(out, "notdelivered"), "a") as f:
    f.write(m + "\n")
try:
    s.quit()
except Exception:
    pass

sys.exit(1 if fails else 0)
PYEOF
rc=$?
cat "$T/py.out"
[ $rc -eq 0 ] || sx_fail "SMTP checks failed (python exit $rc)"

# Deliveries: exact bytes (CRLF -> LF, dot-unstuffed) after the trace headers.
for want in "$T"/*.want; do
	m=$(basename "$want" .want)
	f=$(sx_wait_delivery "$m" 10) || sx_fail "message $m was not delivered"
	sx_grep_file '^Received: from ' "$f"
	sx_delivered_body "$f" >"$T/$m.got"
	if ! cmp -s "$want" "$T/$m.got"; then
		diff "$want" "$T/$m.got" >&2
		sx_fail "delivered bytes of $m differ from what was sent"
	fi
	echo "ok   $m delivered byte-exact"
done
# Nothing refused may have been delivered (the accepted ones are in by now).
while read -r m; do
	if grep -q -r -F "$m" "$SX_MAILDIR/new" 2>/dev/null; then
		sx_fail "refused message $m was delivered"
	fi
done <"$T/notdelivered"
# sx_wait_delivery must time out for a marker that never comes.
sx_wait_delivery "never-$run" 1 >/dev/null 2>&1 && sx_fail "sx_wait_delivery found a ghost"
echo "ok   sx_wait_delivery times out"
exit 0
