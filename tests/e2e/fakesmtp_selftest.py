#!/usr/bin/python3
"""Self-test of tests/e2e/fakesmtp.py with Python's own SMTP/TLS clients (standard library
only). Runs the checks in parallel; exits 0 when all pass, 1 otherwise, naming each failure."""
import base64
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fakesmtp.py")
TMP = tempfile.mkdtemp(prefix="fakesmtp-selftest.")
CERTS = os.path.join(TMP, "certs")
AUTH_PLAIN = base64.b64encode(b"\0alice\0alice-secret-1").decode()


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


class Server:
    """One fakesmtp.py process in its own directory."""

    def __init__(self, scenario, *extra, timeout=10, cert="good"):
        self.dir = tempfile.mkdtemp(prefix=scenario + ".", dir=TMP)
        self.port_file = os.path.join(self.dir, "port")
        self.record = os.path.join(self.dir, "record.json")
        cmd = [sys.executable, FAKE, "--scenario", scenario, "--port-file", self.port_file,
               "--record", self.record, "--timeout", str(timeout),
               "--cert", os.path.join(CERTS, cert + ".pem"),
               "--key", os.path.join(CERTS, cert + ".key")] + list(extra)
        self.proc = subprocess.Popen(cmd)
        end = time.monotonic() + 10   # generous: CI machines can be very busy
        while not os.path.exists(self.port_file):
            if time.monotonic() > end or self.proc.poll() is not None:
                self.proc.kill()
                self.proc.wait()
                raise Fail("%s: no port file within 10 s" % scenario)
            time.sleep(0.02)
        self.started = time.monotonic()   # its --timeout clock is running by now
        with open(self.port_file) as f:
            self.port = int(f.read())

    def finish(self, limit=5):
        """Wait for the server to exit by itself; return the connection records."""
        try:
            rc = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail("server still running %s s later" % limit)
        self.elapsed = time.monotonic() - self.started
        eq(rc, 0, "server exit status")
        with open(self.record) as f:
            rec = json.load(f)
        check(rec["done"], "record marked done")
        return rec["connections"]


def client_ctx():
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    return ctx


class Raw:
    """A minimal line-oriented SMTP client that can pipeline and misbehave."""

    def __init__(self, port, timeout=5, implicit=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if implicit:
            self.sock = client_ctx().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

    def line(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise Fail("unexpected EOF; have %r" % self.buf[:100])
            self.buf += d
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line.decode("latin-1")

    def reply(self, want=None):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        code = int(lines[-1][:3])
        if want is not None:
            eq(code, want, "reply to command (%r)" % lines[-1].strip())
        return code, lines

    def cmd(self, text, want):
        self.send(text + "\r\n")
        return self.reply(want)

    def starttls(self):
        self.cmd("STARTTLS", 220)
        check(self.buf == b"", "nothing behind the STARTTLS 220")
        self.sock = client_ctx().wrap_socket(self.sock, server_hostname="localhost")

    def quit(self):
        self.cmd("QUIT", 221)
        if isinstance(self.sock, ssl.SSLSocket):
            try:
                self.sock = self.sock.unwrap()   # our close_notify
            except (OSError, ssl.SSLError):
                pass
        self.sock.close()

    def until_eof(self):
        """Read until the server closes; returns how long that took."""
        t = time.monotonic()
        try:
            while self.sock.recv(65536):
                pass
        except (ConnectionResetError, ssl.SSLError):
            pass
        return time.monotonic() - t


def tls_session(port):
    """Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN: ready for MAIL."""
    c = Raw(port)
    c.reply(220)
    c.cmd("EHLO t", 250)
    c.starttls()
    _, caps = c.cmd("EHLO t", 250)
    c.cmd("AUTH PLAIN " + AUTH_PLAIN, 235)
    return c, caps


# ---------------------------------------------------------------- the checks

def t_good_pipelined():
    s = Server("good")
    c, caps = tls_session(s.port)
    check(any("AUTH PLAIN LOGIN" in l for l in caps), "AUTH advertised after TLS")
    check(not any("STARTTLS" in l for l in caps), "no STARTTLS after TLS")
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")  # one write
    c.reply(250)
    c.reply(250)
    c.reply(354)
    body = "Subject: x\r\n\r\nhello\r\n..dot\r\n"
    c.send(body + ".\r\n")
    c.reply(250)
    c.quit()
    r = s.finish()[0]
    eq(r["plain"], "EHLO t\r\nSTARTTLS\r\n", "plain bytes")
    eq(r["tls"], "EHLO t\r\nAUTH PLAIN %s\r\nMAIL FROM:<a@example.org>\r\n"
       "RCPT TO:<b@example.org>\r\nDATA\r\n%s.\r\nQUIT\r\n" % (AUTH_PLAIN, body), "tls bytes")
    eq(r["commands"], ["EHLO t", "STARTTLS", "EHLO t", "AUTH PLAIN " + AUTH_PLAIN,
                       "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA",
                       "QUIT"], "commands")
    eq(r["data_bodies"], [body[:-2]], "data body (without the final CRLF.CRLF)")
    eq(r["eom_count"], 1, "eom_count")
    eq(r["violations"], [], "violations")
    eq((r["tls_established"], r["quit_received"], r["closed_by"]), (True, True, "client"),
       "tls/quit/closed_by")
    eq(r["sni"], "localhost", "SNI")
    eq(r["auth"], {"mechanism": "PLAIN", "user": "alice", "ok": True}, "auth")
    check(r["tls_close_notify"], "client close_notify recorded")


def t_smtplib_login():
    s = Server("good")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=5) as m:
        m.starttls(context=client_ctx())
        m.ehlo()
        m.user, m.password = "alice", "alice-secret-1"
        m.auth("LOGIN", m.auth_login, initial_response_ok=False)
        m.sendmail("a@example.org", ["b@example.org"], "Subject: y\n\nline\n.\nend\n")
    r = s.finish()[0]
    eq(r["auth"]["mechanism"], "LOGIN", "mechanism")
    check(r["auth"]["ok"], "LOGIN accepted")
    eq(r["data_bodies"], ["Subject: y\r\n\r\nline\r\n..\r\nend"], "dot-stuffed body")
    eq(r["eom_count"], 1, "eom_count")
    check(r["envelopes"][0]["accepted"], "message accepted")


def t_wrong_password():
    s = Server("good")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=5) as m:
        m.starttls(context=client_ctx())
        try:
            m.login("alice", "wrong")
            raise Fail("wrong password accepted")
        except smtplib.SMTPAuthenticationError as e:
            eq(e.smtp_code, 535, "auth failure code")
    r = s.finish()[0]
    eq(r["auth"]["ok"], False, "auth recorded as failed")


def t_implicit():
    s = Server("good-implicit")
    with smtplib.SMTP_SSL("127.0.0.1", s.port, timeout=5, context=client_ctx()) as m:
        m.login("alice", "alice-secret-1")
        m.sendmail("a@example.org", ["b@example.org"], "Subject: z\r\n\r\nhi\r\n")
    r = s.finish()[0]
    eq(r["plain"], "", "nothing in cleartext")
    eq(r["eom_count"], 1, "eom_count")
    eq(r["data_bodies"], ["Subject: z\r\n\r\nhi"], "body")
    check(r["tls_established"] and r["quit_received"], "TLS and QUIT")


def t_injection():
    s = Server("starttls-injection")
    c = Raw(s.port)
    c.reply(220)
    c.cmd("EHLO t", 250)
    c.send("STARTTLS\r\n")
    time.sleep(0.3)
    got = c.sock.recv(4096)
    eq(got, b"220 go ahead\r\n250 injected\r\n", "injected reply arrives with the 220")
    c.sock.close()
    r = s.finish()[0]
    eq(r["tls_established"], False, "no handshake")


def t_bytes_after_starttls():
    s = Server("good")
    c = Raw(s.port)
    c.reply(220)
    c.cmd("EHLO t", 250)
    c.send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")   # client-side injection
    c.reply(220)
    c.sock.close()
    r = s.finish()[0]
    check("bytes-after-starttls" in r["violations"], "bytes-after-starttls flagged")


def t_rcpt_mixed():
    s = Server("rcpt-mixed")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=5) as m:
        m.starttls(context=client_ctx())
        m.login("alice", "alice-secret-1")
        refused = m.sendmail("a@example.org", ["r1@x.org", "r2@x.org", "r3@x.org"],
                             "Subject: m\r\n\r\nm\r\n")
    eq(sorted((k, v[0]) for k, v in refused.items()), [("r2@x.org", 550), ("r3@x.org", 450)],
       "refused recipients")
    r = s.finish()[0]
    eq(r["envelopes"][0]["rcpts"], ["r1@x.org"], "accepted recipients")


def t_chunking():
    s = Server("chunking")
    c, caps = tls_session(s.port)
    check(any("CHUNKING" in l for l in caps), "CHUNKING advertised")
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.org>", 250)
    c.send("BDAT 11\r\nab\r\n.\r\ncd\r\n")   # an end-of-data lookalike is just data here
    c.reply(250)
    c.send("BDAT 5 LAST\r\nefgh\n")
    c.reply(250)
    c.quit()
    r = s.finish()[0]
    eq(r["bdat_chunks"], ["ab\r\n.\r\ncd\r\n", "efgh\n"], "chunks")
    eq(r["data_bodies"], ["ab\r\n.\r\ncd\r\nefgh\n"], "message")
    eq(r["violations"], [], "violations")


def t_stall_after_greeting():
    s = Server("stall-after-greeting", timeout=2)
    c = Raw(s.port, timeout=8)
    c.reply(220)
    c.send("EHLO t\r\n")
    waited = c.until_eof()
    r = s.finish()[0]
    check(1.0 < waited < 6, "server gave up after its 2 s timeout (%.1f s)" % waited)
    eq((r["closed_by"], r["commands"]), ("timeout", ["EHLO t"]), "closed_by/commands")


def t_stall_in_tls():
    s = Server("stall-in-tls", timeout=2)
    c = Raw(s.port, timeout=8)
    c.reply(220)
    c.cmd("EHLO t", 250)
    c.starttls()
    c.send("EHLO t\r\n")
    waited = c.until_eof()
    r = s.finish()[0]
    check(waited < 6, "bounded stall (%.1f s)" % waited)
    eq((r["closed_by"], r["tls_established"], r["tls"]), ("timeout", True, "EHLO t\r\n"),
       "closed_by/tls/bytes")


def t_stall_before_greeting():
    s = Server("stall-before-greeting", timeout=1.5)
    c = Raw(s.port, timeout=8)
    c.send("EHLO early\r\n")
    waited = c.until_eof()
    r = s.finish()[0]
    check(waited < 6, "bounded (%.1f s)" % waited)
    check("command-before-greeting" in r["violations"], "early talker flagged")


def t_endless_client_leaves():
    s = Server("reply-endless-continuation", timeout=10)
    c = Raw(s.port)
    c.reply(220)
    c.send("EHLO t\r\n")
    n = 0
    while n < 2000:
        line = c.line()
        check(line.startswith("250-"), "continuation line")
        n += 1
    c.sock.close()
    r = s.finish(limit=5)[0]
    check(s.elapsed < 5, "server noticed the client leaving (%.1f s)" % s.elapsed)
    eq(r["closed_by"], "client", "closed_by")


def t_endless_bounded():
    s = Server("reply-endless-continuation", timeout=2)
    c = Raw(s.port)
    c.reply(220)
    c.send("EHLO t\r\n")   # and never read again: the server must still stop
    r = s.finish(limit=6)[0]
    c.sock.close()
    eq(r["closed_by"], "timeout", "closed_by")
    check(s.elapsed < 5, "bounded by --timeout (%.1f s)" % s.elapsed)


def t_huge_reply():
    s = Server("reply-huge")
    c = Raw(s.port, timeout=10)
    c.reply(220)
    c.send("EHLO t\r\n")
    code, lines = c.reply()
    check(sum(map(len, lines)) > 3 << 20, "multi-megabyte reply")
    c.quit()
    s.finish()


def t_close_mid_reply():
    s = Server("close-mid-reply", "--at", "MAIL")
    c, _ = tls_session(s.port)
    c.send("MAIL FROM:<a@example.org>\r\n")
    eq(c.line(), "250-first\r\n", "partial reply")
    try:
        check(c.sock.recv(100) == b"", "EOF after the partial reply")
    except ssl.SSLError:
        pass   # EOF without close_notify
    eq(s.finish()[0]["closed_by"], "server", "closed_by")


def t_pipelining_off():
    s = Server("pipelining-off")
    c = Raw(s.port)
    c.reply(220)
    _, caps = c.cmd("EHLO t", 250)
    check(not any("PIPELINING" in l for l in caps), "no PIPELINING")
    c.send("RSET\r\nNOOP\r\n")   # pipelined although not offered
    c.reply(250)
    c.reply(250)
    c.quit()
    r = s.finish()[0]
    check(r["pipelining_violation"], "pipelining_violation flagged")


def t_reset_mid_data():
    s = Server("reset-mid-data")
    c, _ = tls_session(s.port)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    c.reply(250)
    c.reply(250)
    c.reply(354)
    c.send("Subject: r\r\n\r\nfirst part\r\n")
    try:
        for _ in range(50):
            time.sleep(0.05)
            c.send("more\r\n" * 100)
        c.sock.recv(100)
        raise Fail("no reset seen")
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        pass
    r = s.finish()[0]
    eq((r["closed_by"], r["data_bodies"]), ("server", []), "closed_by/bodies")
    check(r["incomplete_data"].startswith("Subject: r"), "partial body recorded")


def t_body_after_refused_data():
    s = Server("data-451")
    c, _ = tls_session(s.port)
    c.cmd("MAIL FROM:<a@example.org>", 250)
    c.cmd("RCPT TO:<b@example.org>", 250)
    c.cmd("DATA", 451)
    c.send("Subject: no\r\n\r\nbody\r\n.\r\n")   # a broken client sends it anyway
    for _ in range(4):
        c.reply(500)
    c.quit()
    r = s.finish()[0]
    check("data-after-refused-data" in r["violations"], "body after refused DATA flagged")
    eq(r["data_bodies"], [], "no body accepted")


def t_bare_lf_and_lookalikes():
    s = Server("good")
    c, _ = tls_session(s.port)
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    c.reply(250)
    c.reply(250)
    c.reply(354)
    c.send("Subject: s\r\n\r\nx\n.\nMAIL FROM:<smuggled@example.org>\r\n.\r\n")
    c.reply(250)
    c.quit()
    r = s.finish()[0]
    check("bare-lf-in-data" in r["violations"], "bare LF flagged")
    eq((r["eom_count"], r["eom_lookalikes"]), (1, 1), "eom_count/eom_lookalikes")


def t_auth_in_cleartext():
    s = Server("auth-before-tls-only")
    c = Raw(s.port)
    c.reply(220)
    _, caps = c.cmd("EHLO t", 250)
    check(any("AUTH" in l for l in caps), "AUTH offered before TLS")
    c.cmd("AUTH PLAIN " + AUTH_PLAIN, 235)
    c.starttls()
    _, caps = c.cmd("EHLO t", 250)
    check(not any("AUTH" in l for l in caps), "no AUTH after TLS")
    c.quit()
    r = s.finish()[0]
    check("auth-before-tls" in r["violations"], "AUTH in cleartext flagged")


def t_after_quit():
    s = Server("starttls-stripped")
    c = Raw(s.port)
    c.reply(220)
    _, caps = c.cmd("EHLO t", 250)
    check(not any("STARTTLS" in l for l in caps), "STARTTLS stripped")
    c.send("QUIT\r\nNOOP\r\n")
    c.reply(221)
    c.sock.close()
    r = s.finish()[0]
    check("after-quit" in r["violations"], "bytes after QUIT flagged")
    eq(r["commands"], ["EHLO t", "QUIT", "NOOP"], "commands")


def t_tls_client_on_plaintext_server():
    s = Server("plaintext-on-implicit", timeout=3)
    try:
        client_ctx().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=5),
                                 server_hostname="localhost")
        raise Fail("TLS handshake with a plaintext server succeeded")
    except ssl.SSLError:
        pass
    r = s.finish()[0]
    check("tls-on-plaintext" in r["violations"], "ClientHello on a plaintext server flagged")


def t_expired_cert():
    s = Server("good-implicit", cert="expired")
    try:
        client_ctx().wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=5),
                                 server_hostname="localhost")
        raise Fail("expired certificate accepted by Python's client")
    except ssl.SSLCertVerificationError as e:
        check("expired" in str(e), "Python client says expired: %s" % e)
    r = s.finish()[0]
    check(not r["tls_established"] and r["tls_error"], "handshake failure recorded")


def t_two_connections():
    s = Server("greeting-421", "--connections", "2")
    for _ in range(2):
        c = Raw(s.port)
        c.reply(421)
        c.quit()
    r = s.finish()
    eq([x["quit_received"] for x in r], [True, True], "two connections, both QUIT")


def t_tls12_only():
    s = Server("tls12-only")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=5) as m:
        m.starttls(context=client_ctx())
    eq(s.finish()[0]["tls_version"], "TLSv1.2", "TLS version")


def t_bad_cli():
    r = subprocess.run([sys.executable, FAKE, "--scenario", "no-such"], capture_output=True)
    eq(r.returncode, 2, "unknown scenario is a usage error")


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("t_")]


def main():
    t0 = time.monotonic()
    subprocess.run([sys.executable, FAKE, "--make-certs", CERTS], check=True,
                   stdout=subprocess.DEVNULL)
    results = {}

    def run(t):
        try:
            t()
            results[t.__name__] = None
        except Exception as e:   # report every kind of failure, not just Fail
            results[t.__name__] = "%s: %s" % (type(e).__name__, e)
    todo = list(TESTS)
    lock = threading.Lock()

    def worker():   # a few at a time: fast, yet gentle on a busy 2-core machine
        while True:
            with lock:
                if not todo:
                    return
                t = todo.pop(0)
            run(t)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
    for th in threads:
        th.start()
    end = time.monotonic() + 25   # the e2e runner wants us done in < 30 s
    for th in threads:
        th.join(max(0.1, end - time.monotonic()))
    bad = 0
    for t in TESTS:
        err = results.get(t.__name__, "did not finish")
        print("%s %s%s" % ("ok  " if err is None else "FAIL", t.__name__[2:],
                           "" if err is None else ": " + err))
        bad += err is not None
    print("fakesmtp selftest: %d passed, %d failed, %.1f s" %
          (len(TESTS) - bad, bad, time.monotonic() - t0))
    if bad == 0:
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print("records kept in " + TMP)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
