#!/usr/bin/python3
"""fakesmtp.py - a scripted, misbehaving SMTP submission server for end-to-end tests.

Serves N connections (default 1) on 127.0.0.1 (or ::1) and plays a named SCENARIO, recording
every byte the client sent before and after TLS plus protocol violations in a JSON file.
Standard library only; every run is bounded by --timeout and stops by itself.

  fakesmtp.py --scenario NAME --port-file FILE --record FILE [--cert C --key K]
              [--connections N] [--timeout S] [--size N] [--caps "EXTRA CAP"]...
              [--at STAGE] [--reply STAGE=TEXT]... [--implicit] [--bind ADDR]
              [--client-ca FILE]
  fakesmtp.py --make-certs DIR      (CA + leaves; prints NAME=PATH lines)
  fakesmtp.py --list                (scenario names)

STAGE is one of GREETING EHLO HELO STARTTLS AUTH MAIL RCPT DATA EOM BDAT RSET NOOP QUIT.
--reply TEXT may use \\r\\n escapes; without a line ending CRLF is appended.
Record format: see record_json() below (the e2e README and fake.sh describe its use).
"""
import argparse
import base64
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings

USER, PASSWORD = "alice", "alice-secret-1"
SERVER_NAME = "localhost"
SENT_LOG_MAX = 16384  # keep the start of what we sent, for debugging failed tests
STAGES = ("GREETING", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "EOM",
          "BDAT", "RSET", "NOOP", "QUIT")
# RFC 2920: these must end a pipelined group (RFC 4954 adds AUTH).
GROUP_ENDERS = ("EHLO", "HELO", "DATA", "NOOP", "AUTH")
KNOWN_VERBS = ("EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
               "NOOP", "QUIT", "VRFY", "EXPN", "HELP")


class Timeout(Exception):
    """The overall deadline passed."""


class Closed(Exception):
    """The client closed or reset the connection."""


class Stop(Exception):
    """The scenario ends the session; .by says who closed ("server"/"client")."""

    def __init__(self, by):
        super().__init__(by)
        self.by = by


# ---------------------------------------------------------------- recording

class Recorder:
    """Holds every connection's record; writes the JSON file atomically on each flush."""

    def __init__(self, path, scenario):
        self.path = path
        self.scenario = scenario
        self.conns = []
        self.done = False
        self.lock = threading.RLock()  # re-entrant: the SIGTERM handler may interrupt a flush
        self.last = 0.0

    def new_conn(self):
        c = {"plain": bytearray(), "tls": bytearray(), "commands": [], "tls_established": False,
             "tls_version": None, "tls_cipher": None, "tls_error": None, "sni": None,
             "client_cert": None, "tls_close_notify": False, "closed_by": None,
             "quit_received": False, "data_bodies": [], "bdat_chunks": [], "envelopes": [],
             "auth": None, "violations": [], "violation_details": [],
             "pipelining_violation": False, "incomplete_data": None,
             "server_sent": bytearray(), "server_sent_bytes": 0, "error": None}
        with self.lock:
            self.conns.append(c)
        return c

    def flush(self, min_interval=0.0):
        now = time.monotonic()
        if min_interval and now - self.last < min_interval:
            return
        self.last = now
        with self.lock:
            text = json.dumps(self.record_json(), indent=1)
            tmp = "%s.tmp%d" % (self.path, os.getpid())
            with open(tmp, "w", encoding="ascii") as f:
                f.write(text)
            os.replace(tmp, self.path)

    def record_json(self):
        out = []
        for c in self.conns:
            d = {}
            for k, v in c.items():
                d[k] = v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else v
            wire = [bytes(c["plain"]), bytes(c["tls"])]
            d["eom_count"] = sum(count_eom(w) for w in wire)
            d["eom_lookalikes"] = sum(count_lookalikes(w) for w in wire)
            out.append(d)
        return {"scenario": self.scenario, "done": self.done, "connections": out}


def count_eom(wire):
    """Overlapping count of CRLF.CRLF (the end-of-data sequence) in a byte stream."""
    return len(re.findall(rb"(?=\r\n\.\r\n)", wire))


def count_lookalikes(wire):
    """Lone-dot lines bounded by anything other than CRLF on both sides (smuggling bait:
    <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF> ...)."""
    n = 0
    for m in re.finditer(rb"(?<=[\r\n])\.(?=[\r\n])", wire):
        i = m.start()
        if not (wire[i - 2:i] == b"\r\n" and wire[i + 1:i + 3] == b"\r\n"):
            n += 1
    return n


def violate(rec, token, detail=""):
    """Record a protocol violation once per token (details accumulate)."""
    if token not in rec["violations"]:
        rec["violations"].append(token)
    rec["violation_details"].append(token + (": " + detail if detail else ""))


# ---------------------------------------------------------------- transport

class Conn:
    """A socket with optional TLS over memory BIOs, so that we see (and record) every raw byte,
    control when the handshake starts, and bound every wait by the overall deadline."""

    def __init__(self, sock, rec, deadline):
        self.sock = sock
        sock.setblocking(False)
        self.rec = rec
        self.deadline = deadline
        self.tls = None
        self.inbio = self.outbio = None
        self.buf = bytearray()   # client bytes (decrypted) not yet consumed
        self.raw_eof = False
        self.handshake = None    # raw bytes seen during a handshake in progress
        self.closed = False

    # Wait for the socket; False when `until` passed, Timeout when the overall deadline did.
    def _wait(self, rd, wr, until=None):
        end = self.deadline if until is None else min(until, self.deadline)
        while True:
            left = max(0.0, end - time.monotonic())   # 0: still poll once
            r, w, _ = select.select([self.sock] if rd else [], [self.sock] if wr else [], [],
                                    left)
            if r or w:
                return True
            if time.monotonic() >= end:
                if until is not None and until < self.deadline:
                    return False
                raise Timeout()

    def _recv_raw(self, until=None):
        """Raw bytes from the socket; b"" on EOF/reset; None when `until` passed."""
        while True:
            if not self._wait(True, False, until):
                return None
            try:
                return self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except (ConnectionResetError, OSError):
                return b""

    def _feed(self, raw):
        if self.handshake is not None:
            self.handshake += raw
            self.inbio.write(raw)
        elif self.tls:
            self.inbio.write(raw)
        else:
            self.rec["plain"] += raw
            self.buf += raw

    def fill(self, until=None):
        """Read more client bytes into self.buf: "data", "eof" or "idle" (until passed)."""
        while True:
            if self.tls:
                try:
                    data = self.tls.read(65536)
                    self._flush_tls()
                    if data:
                        self.rec["tls"] += data
                        self.buf += data
                        return "data"
                    self.rec["tls_close_notify"] = True   # b"": a clean TLS shutdown
                    return "eof"
                except ssl.SSLWantReadError:
                    self._flush_tls()
                except ssl.SSLZeroReturnError:
                    self.rec["tls_close_notify"] = True
                    return "eof"
                except ssl.SSLError as e:
                    self.rec["tls_error"] = self.rec["tls_error"] or str(e)
                    return "eof"
            elif self.raw_eof:
                return "eof"
            if self.raw_eof:
                self.inbio.write_eof()
                continue
            raw = self._recv_raw(until)
            if raw is None:
                return "idle"
            if not raw:
                self.raw_eof = True
                if self.tls:
                    continue
                return "eof"
            self._feed(raw)
            if not self.tls:
                return "data"

    def _flush_tls(self):
        out = self.outbio.read()
        if out:
            self._send_raw(out)

    def _send_raw(self, data, stop_on_eof=False):
        """Send everything, reading (and recording) client bytes meanwhile so neither side
        deadlocks on full buffers."""
        data = memoryview(data)
        while data:
            self._wait(not self.raw_eof, True)
            if not self.raw_eof:
                r, _, _ = select.select([self.sock], [], [], 0)
                if r:
                    raw = self._recv_raw()
                    if raw:
                        self._feed(raw)
                    else:
                        self.raw_eof = True
                        if stop_on_eof:
                            raise Closed()
            try:
                n = self.sock.send(data[:65536])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                raise Closed()
            data = data[n:]

    def send(self, data, stop_on_eof=False):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.rec["server_sent_bytes"] += len(data)
        room = SENT_LOG_MAX - len(self.rec["server_sent"])
        if room > 0:
            self.rec["server_sent"] += data[:room]
        if self.tls:
            self.tls.write(data)
            out = self.outbio.read()
            self._send_raw(out, stop_on_eof)
        else:
            self._send_raw(data, stop_on_eof)

    def start_tls(self, ctx):
        """Server-side handshake. Raises Stop("client") when it fails."""
        self.inbio, self.outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(self.inbio, self.outbio, server_side=True)
        seen = self.handshake = bytearray()
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = self.outbio.read()
                if out:
                    self._send_raw(out)
                raw = self._recv_raw()
                if not raw:
                    self.rec["tls_error"] = "client closed during the TLS handshake"
                    raise Stop("client")
                self._feed(raw)
            except ssl.SSLError as e:
                try:
                    out = self.outbio.read()   # our alert, if any
                    if out:
                        self._send_raw(out)
                except Closed:
                    pass
                self.rec["tls_error"] = str(e)
                if seen and seen[0] != 0x16:   # not a TLS handshake record: plaintext
                    self.rec["plain"] += seen
                    violate(self.rec, "plaintext-on-tls", bytes(seen[:40]).decode("latin-1"))
                raise Stop("client")
        self.handshake = None
        self.tls = obj
        self._flush_tls()  # TLS 1.3 session tickets
        self.rec["tls_established"] = True
        self.rec["tls_version"] = obj.version()
        self.rec["tls_cipher"] = (obj.cipher() or [None])[0]
        cert = obj.getpeercert()
        if cert:
            self.rec["client_cert"] = dict(x[0] for x in cert.get("subject", ())).get("commonName")

    def close(self, reset=False):
        if self.closed:
            return
        self.closed = True
        try:
            if reset:  # SO_LINGER 0: close() sends RST instead of FIN
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.tls:
                try:
                    self.tls.unwrap()
                except (ssl.SSLError, ValueError):
                    pass
                out = self.outbio.read()
                if out:
                    try:
                        self.sock.send(out)
                    except OSError:
                        pass
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------- the SMTP session

class Session:
    """Default good behaviour; scenarios change attributes or replace hooks."""

    def __init__(self, conn, rec, opts, ctx):
        self.c, self.rec, self.opts, self.ctx = conn, rec, opts, ctx
        self.implicit = False
        self.greeting = "220 %s ESMTP fakesmtp" % SERVER_NAME
        self.pipelining = True
        self.eightbit = True
        self.smtputf8 = True
        self.chunking = False
        self.starttls = True
        self.auth_plain = False       # advertise AUTH before TLS
        self.auth_tls = True          # advertise AUTH after TLS
        self.auth_ok = True           # accept alice's correct password
        self.auth_mechs = "PLAIN LOGIN"   # the AUTH line's mechanisms
        self.auth_required = False    # MAIL before AUTH gets 530
        self.size = opts.size
        self.caps_hook = None         # f(tls, caps) -> caps
        self.replies = {}             # STAGE -> reply text or callable(session)
        self.rcpt_replies = []        # per-recipient replies, in order
        self.stall_before_greeting = False
        self.stall_after_greeting = False
        self.stall_in_tls = False
        self.starttls_no_handshake = False
        self.reset_in_data = False
        self.stall_in_data = False    # stop reading the message (see stall_reading)
        self.closing = False          # after a 421 greeting
        # state
        self.ehlo_done = False
        self.advertised = set()
        self.authed = False
        self.quit = False
        self.tx = None                # current transaction (an envelope dict)
        self.rcpt_count = 0
        self.data_refused = False
        self.bdat = None
        self.queue_id = 0

    # ---- helpers
    def flush(self):
        self.opts.recorder.flush()

    def reply(self, text):
        if not text.endswith("\n"):
            text += "\r\n"
        self.c.send(text)

    def override(self, stage, default):
        """Send the scenario's reply for STAGE if there is one; else `default`. Returns the
        text sent (or None when a callable action took over)."""
        r = self.replies.get(stage)
        if callable(r):
            r(self)
            return None
        self.reply(r if r is not None else default)
        return r if r is not None else default

    def readline(self):
        """One command line (bytes, with its terminator) or None at EOF."""
        while True:
            if not self.c.tls and self.c.buf[:2] == b"\x16\x03":
                violate(self.rec, "tls-on-plaintext")   # a ClientHello: it expected TLS
            i = self.c.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.c.buf[:i + 1])
                del self.c.buf[:i + 1]
                return line
            st = self.c.fill()
            if st == "eof":
                if self.c.buf:   # a last, unterminated line
                    self.rec["commands"].append(self.c.buf.decode("latin-1"))
                    violate(self.rec, "unterminated-command")
                    self.c.buf.clear()
                return None

    def more_pending(self, wait=0.0):
        """True when client bytes are already there (or arrive within `wait` s)."""
        if self.c.buf:
            return True
        if self.c.raw_eof:
            return False
        self.c.fill(until=time.monotonic() + wait)
        return bool(self.c.buf)

    def stall(self, commands=True):
        """Say nothing; keep recording until the client goes away or time runs out."""
        while True:
            st = self.c.fill()
            if not commands:
                self.c.buf.clear()
            while b"\n" in self.c.buf:   # unanswered, but still listed as commands
                i = self.c.buf.find(b"\n")
                self.rec["commands"].append(self.c.buf[:i].rstrip(b"\r").decode("latin-1"))
                del self.c.buf[:i + 1]
            self.flush()
            if st == "eof":
                raise Stop("client")

    def stall_reading(self):
        """Stop reading client bytes, so that its writes fill the buffers and block, for
        --stall seconds; then read and discard until the client goes away."""
        self.rec["stalled_after"] = len(self.c.buf)
        self.flush()
        end = min(time.monotonic() + self.opts.stall, self.c.deadline)
        while time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
        drained = 0
        while self.c.fill() != "eof":
            drained += len(self.c.buf)
            self.c.buf.clear()
        self.rec["drained"] = drained
        raise Stop("client")

    def caps(self):
        tls = self.c.tls is not None
        caps = []
        if self.pipelining:
            caps.append("PIPELINING")
        caps.append("SIZE %d" % self.size)
        if self.eightbit:
            caps.append("8BITMIME")
        if self.smtputf8:
            caps.append("SMTPUTF8")
        caps.append("ENHANCEDSTATUSCODES")
        if self.chunking:
            caps.append("CHUNKING")
        if not tls and self.starttls:
            caps.append("STARTTLS")
        if (self.auth_tls if tls else self.auth_plain):
            caps.append("AUTH " + self.auth_mechs +
                        (" XOAUTH2 OAUTHBEARER" if self.opts.oauth_token else ""))
        caps += self.opts.caps or []
        if self.caps_hook:
            caps = self.caps_hook(tls, caps)
        return caps

    # ---- the session
    def run(self):
        if self.implicit:
            self.c.start_tls(self.ctx)
        if self.stall_before_greeting:
            while self.c.fill() != "eof":
                violate(self.rec, "command-before-greeting")
                self.c.buf.clear()
                self.flush()
            raise Stop("client")
        if self.more_pending(0.0):
            violate(self.rec, "command-before-greeting")
        sent = self.override("GREETING", self.greeting)
        if sent is not None and sent.startswith("421"):
            self.closing = True
        if self.stall_after_greeting:
            self.stall()
        while True:
            line = self.readline()
            if line is None:
                raise Stop("client")
            self.command(line)
            self.flush()

    def command(self, line):
        rec = self.rec
        text = line.rstrip(b"\r\n").decode("latin-1")
        rec["commands"].append(text)
        if self.quit:
            violate(rec, "after-quit", text)
        if len(line) > 512:
            violate(rec, "command-line-too-long", "%d octets" % len(line))
        if not line.endswith(b"\r\n"):
            violate(rec, "bare-lf-in-command", text)
        if b"\r" in line[:-2]:
            violate(rec, "bare-cr-in-command", text)
        if b"\0" in line:
            violate(rec, "nul-in-command", text)
        verb = text.split(" ", 1)[0].upper()
        arg = text[len(verb) + 1:] if " " in text else ""
        if self.data_refused and verb not in KNOWN_VERBS:
            violate(rec, "data-after-refused-data", text)
        if verb in KNOWN_VERBS:
            self.data_refused = False
        # Bytes already behind a command that must wait for its reply? (Waiting briefly where
        # it matters most; without PIPELINING every command is such a command.)
        lockstep = "PIPELINING" not in self.advertised and self.ehlo_done
        if verb != "STARTTLS" and verb != "QUIT" and \
                self.more_pending(0.05 if lockstep or verb == "DATA" else 0.0):
            if verb == "DATA":
                violate(rec, "body-before-354")
            elif lockstep:
                rec["pipelining_violation"] = True
                violate(rec, "pipelining-violation", "after " + verb)
            elif verb in GROUP_ENDERS:
                violate(rec, "pipelined-after-" + verb)
        if self.closing and verb != "QUIT":
            self.reply("421 4.3.2 Service not available, closing channel")
            raise Stop("server")
        handler = getattr(self, "do_" + verb, None)
        if handler is None:
            violate(rec, "unknown-command", text)
            self.reply("500 5.5.2 Error: command not recognized")
        else:
            handler(arg)

    # ---- commands
    def do_EHLO(self, arg):
        self.tx = None
        caps = self.caps()
        lines = ["%s greets %s" % (SERVER_NAME, arg)] + caps
        default = "".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                          for i, l in enumerate(lines))
        if self.override("EHLO", default) is not None:
            self.ehlo_done = True
            self.advertised = set(c.split(" ")[0].upper() for c in caps)

    def do_HELO(self, arg):
        self.tx = None
        if self.override("HELO", "250 %s" % SERVER_NAME) is not None:
            self.ehlo_done = True
            self.advertised = set()

    def do_NOOP(self, arg):
        self.override("NOOP", "250 2.0.0 Ok")

    def do_RSET(self, arg):
        self.tx = None
        self.bdat = None
        self.override("RSET", "250 2.0.0 Ok")

    def do_QUIT(self, arg):
        self.rec["quit_received"] = True
        self.quit = True
        self.override("QUIT", "221 2.0.0 Bye")
        self.flush()
        # Give the client a moment to close first (and to send close_notify); anything
        # else it sends is recorded and flagged, not answered.
        end = time.monotonic() + 1.0
        while True:
            if self.c.buf:
                text = self.c.buf.decode("latin-1")
                self.rec["commands"] += text.splitlines()
                violate(self.rec, "after-quit", text[:80])
                self.c.buf.clear()
                self.flush()
            st = self.c.fill(until=end)
            if st == "eof":
                raise Stop("client")
            if st == "idle":
                raise Stop("server")

    def do_STARTTLS(self, arg):
        if self.c.tls is not None:
            self.reply("554 5.5.1 Error: TLS already active")
            return
        if "STARTTLS" not in self.advertised:
            self.reply("502 5.5.1 Error: command not implemented")
            return
        if self.more_pending(0.05):
            violate(self.rec, "bytes-after-starttls", self.c.buf[:80].decode("latin-1"))
        text = self.override("STARTTLS", "220 2.0.0 Ready to start TLS")
        if text is None or not text.startswith("220"):
            return
        if self.starttls_no_handshake:
            self.stall(commands=False)   # a ClientHello is no command
        # Bytes that came before the handshake are discarded, as a fixed server does
        # (they are in the "plain" record and flagged above).
        self.c.buf.clear()
        self.c.start_tls(self.ctx)
        self.ehlo_done = False
        self.advertised = set()
        self.authed = False
        self.tx = None
        self.flush()
        if self.stall_in_tls:
            self.stall()

    def read_auth_line(self):
        line = self.readline()
        if line is None:
            raise Stop("client")
        text = line.rstrip(b"\r\n").decode("latin-1")
        self.rec["commands"].append(text)
        return text

    def do_AUTH(self, arg):
        if self.c.tls is None:
            violate(self.rec, "auth-before-tls")
        if "AUTH" not in self.advertised:
            violate(self.rec, "auth-not-advertised")
            self.reply("503 5.5.1 Error: authentication not enabled")
            return
        if self.authed:
            self.reply("503 5.5.1 Error: already authenticated")
            return
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        ir = parts[1] if len(parts) > 1 else None
        try:
            if mech == "EXTERNAL" and mech in self.auth_mechs.split():
                # RFC 4422 appendix A: the authorization identity ("=": empty, the
                # certificate's); accepted only with a client certificate presented.
                if ir is None:
                    self.reply("334 ")
                    ir = self.read_auth_line()
                if ir == "*":
                    self.reply("501 5.7.0 Authentication cancelled")
                    return
                authzid = b"" if ir == "=" else base64.b64decode(ir, validate=True)
                cert = self.rec["client_cert"]
                ok = self.auth_ok and cert is not None and authzid in (b"", USER.encode())
                self.rec["auth"] = {"mechanism": mech, "user": authzid.decode("latin-1"),
                                    "client_cert": cert, "ok": ok}
                if ok:
                    self.authed = True
                    self.reply("235 2.7.0 Authentication successful")
                else:
                    self.reply("535 5.7.8 Error: no acceptable client certificate")
                return
            if mech == "PLAIN":
                if ir is None:
                    self.reply("334 ")
                    ir = self.read_auth_line()
                if ir == "*":
                    self.reply("501 5.7.0 Authentication cancelled")
                    return
                fields = base64.b64decode(ir, validate=True).split(b"\0")
                if len(fields) != 3:
                    raise ValueError
                user, pw = fields[1], fields[2]
            elif mech in ("XOAUTH2", "OAUTHBEARER") and self.opts.oauth_token:
                self.do_oauth(mech, ir)
                return
            elif mech == "LOGIN":
                if ir is None:
                    self.reply("334 VXNlcm5hbWU6")
                    ir = self.read_auth_line()
                if ir == "*":
                    self.reply("501 5.7.0 Authentication cancelled")
                    return
                user = base64.b64decode(ir, validate=True)
                self.reply("334 UGFzc3dvcmQ6")
                p = self.read_auth_line()
                if p == "*":
                    self.reply("501 5.7.0 Authentication cancelled")
                    return
                pw = base64.b64decode(p, validate=True)
            else:
                self.reply("504 5.5.4 Unrecognized authentication type")
                return
        except (ValueError, base64.binascii.Error):
            self.reply("501 5.5.2 Cannot decode response")
            return
        ok = self.auth_ok and user == USER.encode() and pw == PASSWORD.encode()
        self.rec["auth"] = {"mechanism": mech, "user": user.decode("latin-1"), "ok": ok}
        if "AUTH" in self.replies:
            self.override("AUTH", "")
            return
        if ok:
            self.authed = True
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Error: authentication failed")

    def do_oauth(self, mech, ir):
        """XOAUTH2 / OAUTHBEARER (issue 17): the token in --oauth-token is good; any other
        gets the error challenge (RFC 7628 3.2.2), whose dummy response is checked."""
        if ir is None:
            self.reply("334 ")
            ir = self.read_auth_line()
        raw = base64.b64decode(ir, validate=True).decode("latin-1")
        if mech == "XOAUTH2":
            m = re.fullmatch(r"user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01", raw)
        else:
            m = re.fullmatch(r"n,a=([^,]*),\x01(?:host=[^\x01]*\x01)?(?:port=[0-9]+\x01)?"
                             r"auth=Bearer ([^\x01]*)\x01\x01", raw)
        if m is None:
            violate(self.rec, "oauth-malformed")
            self.reply("501 5.5.2 Cannot decode response")
            return
        user, token = m.group(1), m.group(2)
        want = open(self.opts.oauth_token).read().strip()
        ok = token == want and user == USER
        self.rec.setdefault("oauth", []).append({"mechanism": mech, "user": user, "ok": ok,
                                                 "token_len": len(token),
                                                 "line_len": len(ir) + len(mech) + 6})
        self.rec["auth"] = {"mechanism": mech, "user": user, "ok": ok}
        if ok:
            self.authed = True
            self.reply("235 2.7.0 Accepted")
            return
        if mech == "XOAUTH2":
            ch = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        else:
            ch = {"status": "invalid_token", "scope": "smtp"}
        self.reply("334 " + base64.b64encode(json.dumps(ch).encode()).decode())
        dummy = self.read_auth_line()
        if dummy != ("" if mech == "XOAUTH2" else "AQ=="):
            violate(self.rec, "oauth-bad-dummy-response")
        self.reply("535 5.7.8 Username and Password not accepted")

    def do_MAIL(self, arg):
        rec = self.rec
        if not self.ehlo_done:
            violate(rec, "mail-before-ehlo")
            self.reply("503 5.5.1 Error: send HELO/EHLO first")
            return
        if self.tx is not None:
            self.reply("503 5.5.1 Error: nested MAIL command")
            return
        if self.c.tls is None:
            violate(rec, "mail-before-tls")
        if self.auth_required and not self.authed:
            violate(rec, "mail-before-auth")
            self.reply("530 5.7.0 Authentication required")
            return
        m = re.match(r"(?i)FROM:\s*<([^>]*)>(.*)$", arg)
        if not m:
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        addr, params = m.group(1), m.group(2).split()
        env = {"from": addr, "params": params, "rcpts": [], "rcpt_replies": [],
               "accepted": False, "utf8": False, "body8": False}
        for p in params:
            key, _, val = p.partition("=")
            key = key.upper()
            if key == "SIZE" and val.isdigit() and int(val) > self.size:
                violate(rec, "size-exceeded", "SIZE=%s > %d" % (val, self.size))
                self.reply("552 5.3.4 Message size exceeds fixed limit")
                return
            if key == "BODY" and val.upper() == "8BITMIME":
                env["body8"] = True
                if "8BITMIME" not in self.advertised:
                    violate(rec, "8bitmime-not-offered")
                    self.reply("555 5.5.4 BODY=8BITMIME not supported")
                    return
            if key == "SMTPUTF8":
                env["utf8"] = True
                if "SMTPUTF8" not in self.advertised:
                    violate(rec, "smtputf8-not-offered")
                    self.reply("555 5.5.4 SMTPUTF8 not supported")
                    return
        if not addr.isascii() and not env["utf8"]:
            violate(rec, "utf8-address-without-smtputf8", addr)
        text = self.override("MAIL", "250 2.1.0 Ok")
        if text is not None and text.startswith("2"):
            self.tx = env
            self.rcpt_count = 0
            rec["envelopes"].append(env)

    def do_RCPT(self, arg):
        if self.tx is None:
            self.reply("503 5.5.1 Error: need MAIL command")
            return
        m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
        if not m:
            self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        addr = m.group(1)
        if not addr.isascii() and not self.tx["utf8"]:
            violate(self.rec, "utf8-address-without-smtputf8", addr)
        i = self.rcpt_count
        self.rcpt_count += 1
        default = self.rcpt_replies[i] if i < len(self.rcpt_replies) else "250 2.1.5 Ok"
        text = self.override("RCPT", default)
        self.tx["rcpt_replies"].append(text)
        if text is not None and text.startswith("2"):
            self.tx["rcpts"].append(addr)

    def refuse_data(self, text):
        self.data_refused = True
        self.reply(text)

    def do_DATA(self, arg):
        if self.tx is None:
            return self.refuse_data("503 5.5.1 Error: need MAIL command")
        if self.bdat is not None:
            return self.refuse_data("503 5.5.1 Error: DATA after BDAT")
        if not self.tx["rcpts"]:
            return self.refuse_data("554 5.5.1 Error: no valid recipients")
        text = self.override("DATA", "354 End data with <CR><LF>.<CR><LF>")
        if text is None:
            return
        if not text.startswith("354"):
            self.data_refused = True
            return
        if self.stall_in_data:
            self.stall_reading()
        self.read_data()

    def read_data(self):
        """Collect raw bytes up to the first CRLF.CRLF (the CRLF ending DATA counts as the
        first CRLF); the body recorded excludes that terminator."""
        data = bytearray()
        scanned = 0
        while True:
            data += self.c.buf
            self.c.buf.clear()
            if self.reset_in_data and data:   # some body bytes arrived: reset now
                self.rec["incomplete_data"] = data.decode("latin-1")
                self.c.close(reset=True)
                raise Stop("server")
            end = None
            if data[:3] == b".\r\n":
                end, body_end = 3, 0
            else:
                i = data.find(b"\r\n.\r\n", max(0, scanned - 4))
                if i >= 0:
                    end, body_end = i + 5, i
            if end is not None:
                break
            scanned = len(data)
            self.opts.recorder.flush(min_interval=0.5)
            if self.c.fill() == "eof":
                self.rec["incomplete_data"] = data.decode("latin-1")
                raise Stop("client")
        self.c.buf[:0] = data[end:]   # pipelined commands after the dot
        self.end_of_message(bytes(data[:body_end]))

    def check_body(self, body):
        rec = self.rec
        if re.search(rb"(?<!\r)\n", body):
            violate(rec, "bare-lf-in-data")
        if re.search(rb"\r(?!\n)", body):
            violate(rec, "bare-cr-in-data")
        if b"\0" in body:
            violate(rec, "nul-in-data")
        if any(len(l) + 2 > 1000 for l in body.split(b"\r\n")):
            violate(rec, "data-line-too-long")
        if not body.isascii() and not self.tx["body8"]:
            violate(rec, "8bit-without-8bitmime")

    def end_of_message(self, body):
        self.rec["data_bodies"].append(body.decode("latin-1"))
        self.check_body(body)
        self.flush()
        self.queue_id += 1
        if len(body) > self.size:
            violate(self.rec, "size-exceeded", "%d octets > %d" % (len(body), self.size))
            text = "552 5.3.4 Error: message file too big"
            self.reply(text)
        else:
            text = self.override("EOM", "250 2.0.0 Ok: queued as FAKE%d" % self.queue_id)
        self.tx["accepted"] = bool(text and text.startswith("2"))
        self.tx = None
        self.bdat = None

    def do_BDAT(self, arg):
        parts = arg.split()
        if not parts or not parts[0].isdigit() or (len(parts) > 1 and parts[1].upper() != "LAST"):
            self.reply("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        n, last = int(parts[0]), len(parts) > 1
        if self.stall_in_data:
            self.stall_reading()
        chunk = bytearray()
        while len(chunk) < n:   # the chunk is binary: read exactly n octets
            if not self.c.buf and self.c.fill() == "eof":
                self.rec["incomplete_data"] = chunk.decode("latin-1")
                raise Stop("client")
            take = self.c.buf[:n - len(chunk)]
            chunk += take
            del self.c.buf[:len(take)]
        self.rec["bdat_chunks"].append(chunk.decode("latin-1"))
        if "CHUNKING" not in self.advertised:
            violate(self.rec, "bdat-without-chunking")
            self.reply("502 5.5.1 Error: command not implemented")
            return
        if self.tx is None or not self.tx["rcpts"]:
            self.reply("503 5.5.1 Error: need MAIL and RCPT")
            return
        self.bdat = (self.bdat or b"") + bytes(chunk)
        if last:
            body, self.bdat = self.bdat, None
            self.rec["data_bodies"].append(body.decode("latin-1"))
            self.flush()
            self.queue_id += 1
            text = self.override("EOM", "250 2.0.0 Ok: queued as FAKE%d" % self.queue_id)
            self.tx["accepted"] = bool(text and text.startswith("2"))
            self.tx = None
        else:
            self.override("BDAT", "250 2.0.0 %d octets received" % n)


# ---------------------------------------------------------------- scenarios

SCENARIOS = {}


def scenario(*names):
    def reg(f):
        for n in names:
            SCENARIOS[n] = f
        return f
    return reg


def act_stall(s):
    s.stall()


def act_close_mid_reply(s):
    s.c.send("250-first\r\n")
    s.c.closed = True
    s.c.sock.close()   # plain FIN, no TLS close_notify: a premature end of the stream
    raise Stop("server")


def act_huge(s):
    line = "250-" + "x" * 72 + "\r\n"
    s.c.send(line * (4 * 1024 * 1024 // len(line)) + "250 end of a huge reply\r\n")


def act_endless(s):
    chunk = ("250-endless continuation line\r\n" * 512).encode()
    while True:   # until the client goes away (Closed) or the deadline (Timeout)
        s.c.send(chunk, stop_on_eof=True)
        if s.c.rec["server_sent_bytes"] > 1 << 30:  # still bounded if the client reads forever
            raise Stop("server")


MALFORMED = {
    "reply-no-code": lambda st: "Hello, I am a reply without a code",
    "reply-wrong-code": lambda st: {"DATA": "250 2.0.0 Ok", "EOM": "354 go on",
                                    "GREETING": "250 hello"}.get(st, "354 unexpected"),
    "reply-out-of-range": lambda st: "650 5.0.0 out of range",
    "reply-overlong": lambda st: "250 " + "x" * (100 * 1024),
    "reply-mixed-codes": lambda st: "250-a\r\n251 b\r\n",
    "reply-huge": lambda st: act_huge,
    "reply-endless-continuation": lambda st: act_endless,
    "close-mid-reply": lambda st: act_close_mid_reply,
}


def malformed(name):
    def setup(s):
        at = s.opts.at or "EHLO"
        s.replies[at] = MALFORMED[name](at)
    return setup


for _n in MALFORMED:
    SCENARIOS[_n] = malformed(_n)


@scenario("good", "plaintext-on-implicit")
def sc_good(s):
    """STARTTLS port. plaintext-on-implicit: the same plaintext greeting, met by a client
    that expected implicit TLS."""


@scenario("external")
def sc_external(s):
    """STARTTLS port offering AUTH PLAIN LOGIN EXTERNAL (EXTERNAL: the client certificate,
    see --client-ca)."""
    s.auth_mechs = "PLAIN LOGIN EXTERNAL"


@scenario("good-implicit", "greeting-tls")
def sc_implicit(s):
    """Implicit TLS. greeting-tls: a plaintext client gets no greeting (we want a ClientHello)."""
    s.implicit = True


@scenario("starttls-stripped")
def sc_stripped(s):
    s.starttls = False


@scenario("starttls-454")
def sc_454(s):
    s.replies["STARTTLS"] = "454 4.7.0 TLS not available due to local problem"


@scenario("starttls-no-handshake")
def sc_no_hs(s):
    s.starttls_no_handshake = True


@scenario("starttls-injection")
def sc_injection(s):
    s.replies["STARTTLS"] = "220 go ahead\r\n250 injected\r\n"   # one write, before TLS


@scenario("auth-before-tls-only")
def sc_auth_before(s):
    s.auth_plain, s.auth_tls = True, False


@scenario("caps-differ")
def sc_caps_differ(s):
    """AUTH, PIPELINING, CHUNKING and a small SIZE only before TLS; after TLS no AUTH, no
    PIPELINING (lockstep is checked) and a large SIZE: a client must forget the first set."""
    s.auth_plain, s.auth_tls = True, False

    def hook(tls, caps):
        if tls:
            return [c for c in caps if c != "PIPELINING" and not c.startswith("SIZE")] + \
                ["SIZE 52428800"]
        return [c for c in caps if not c.startswith("SIZE")] + ["SIZE 1000", "CHUNKING"]
    s.caps_hook = hook


# Terminal and log injection bait (issue 21 item 7): CSI and OSC escape sequences (7-bit and
# the 8-bit CSI 0x9b), a bare CR that would rewrite the line, BEL, and U+202E (right-to-left
# override, UTF-8) -- as latin-1 text, which Conn.send writes byte for byte.
HOSTILE = "\x1b[31mRED\x1b[0m \x1b]0;owned\x07 \rOVER\x1b[2K \x9b1m \xe2\x80\xaeevil"


@scenario("hostile-text")
def sc_hostile(s):
    """HOSTILE in the greeting, in EHLO lines (greeting name, an unknown keyword, AUTH
    mechanism names) before and after TLS, and in every reply of a successful session; with
    --at STAGE that stage refuses with a 5xx carrying it (GREETING 554, AUTH 535, else 550)."""
    h = HOSTILE
    s.greeting = "220 localhost ESMTP " + h

    def ehlo(sess):
        caps = sess.caps()
        caps = [c for c in caps if not c.startswith("AUTH")]
        if sess.c.tls is not None:
            caps.append("AUTH PLAIN LOGIN \x1b[31mX-EVIL\x1b[0m CRAM\rMD5 \xe2\x80\xaeNIGOL")
        caps.append("X-\x1b]8;;http://evil.example/\x07LINK\x1b]8;;\x07 " + h)
        lines = ["localhost greets you " + h] + caps
        sess.reply("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                           for i, l in enumerate(lines)))
        sess.ehlo_done = True
        sess.advertised = set(c.split(" ")[0].upper() for c in caps)
    s.replies["EHLO"] = ehlo
    s.replies["AUTH"] = "235 2.7.0 Authentication successful " + h
    s.replies["MAIL"] = "250 2.1.0 Ok " + h
    s.replies["RCPT"] = "250 2.1.5 Ok " + h
    s.replies["DATA"] = "354 End data with <CR><LF>.<CR><LF> " + h
    s.replies["EOM"] = "250 2.0.0 Ok: queued as \x1b[1mQ1\x1b[0m " + h
    s.replies["QUIT"] = "221 2.0.0 Bye " + h
    at = s.opts.at
    if at == "GREETING":
        s.greeting = "554 5.3.2 go away " + h
    elif at == "AUTH":
        s.replies["AUTH"] = "535 5.7.8 Error: authentication failed " + h
    elif at is not None:
        s.replies[at] = "550 5.7.1 refused " + h


@scenario("greeting-421")
def sc_421(s):
    s.greeting = "421 4.3.2 Service not available, closing channel"


@scenario("greeting-garbage")
def sc_garbage(s):
    s.greeting = "hello there, this is not SMTP"


@scenario("mail-451")
def sc_mail451(s):
    s.replies["MAIL"] = "451 4.3.0 Error: queue file write error"


@scenario("mail-550")
def sc_mail550(s):
    s.replies["MAIL"] = "550 5.7.1 Sender address rejected: access denied"


@scenario("rcpt-mixed")
def sc_rcpt_mixed(s):
    s.rcpt_replies = ["250 2.1.5 Ok", "550 5.1.1 Recipient address rejected: User unknown",
                      "450 4.2.0 Recipient address rejected: Greylisted"]


@scenario("rcpt-all-550")
def sc_rcpt_550(s):
    s.replies["RCPT"] = "550 5.1.1 Recipient address rejected: User unknown"


@scenario("data-451")
def sc_data451(s):
    s.replies["DATA"] = "451 4.3.0 Error: try again later"


@scenario("data-554")
def sc_data554(s):
    s.replies["DATA"] = "554 5.5.1 Error: transaction failed"


@scenario("eom-451")
def sc_eom451(s):
    s.replies["EOM"] = "451 4.3.0 Error: queue file write error"


@scenario("eom-554")
def sc_eom554(s):
    s.replies["EOM"] = "554 5.7.1 Message rejected: content policy"


@scenario("reset-mid-data")
def sc_reset(s):
    s.reset_in_data = True


@scenario("stall-before-greeting")
def sc_stall0(s):
    s.stall_before_greeting = True


@scenario("stall-after-greeting")
def sc_stall1(s):
    s.stall_after_greeting = True


@scenario("stall-in-tls")
def sc_stall_tls(s):
    """STARTTLS completes, then silence (with --implicit: no greeting after the handshake)."""
    if s.implicit:
        s.stall_before_greeting = True
    s.stall_in_tls = True


@scenario("stall-after-dot")
def sc_stall_dot(s):
    s.replies["EOM"] = act_stall


@scenario("stall-in-data", "stall-in-bdat")
def sc_stall_data(s):
    """The server stops reading the message (after DATA's 354, or at the first BDAT) for
    --stall seconds: a large message's writes block."""
    s.stall_in_data = True
    s.chunking = s.opts.scenario == "stall-in-bdat"


@scenario("size-small")
def sc_size(s):
    s.size = 1000


@scenario("no-8bitmime")
def sc_no8(s):
    s.eightbit = False


@scenario("no-smtputf8")
def sc_noutf8(s):
    s.smtputf8 = False


@scenario("auth-535")
def sc_535(s):
    s.auth_ok = False


@scenario("auth-530-required")
def sc_530(s):
    s.auth_required = True


@scenario("pipelining-off")
def sc_nopipe(s):
    s.pipelining = False


@scenario("chunking")
def sc_chunking(s):
    s.chunking = True


@scenario("batch-421")
def sc_batch_421(s):
    """Many messages in one session: after --after accepted ones, the next MAIL gets 421
    (a provider's messages-per-connection limit) and the server closes."""
    orig = s.do_MAIL

    def do_MAIL(arg):
        if s.queue_id >= s.opts.after:
            s.reply("421 4.7.0 Error: too many messages in this connection, closing")
            raise Stop("server")
        orig(arg)
    s.do_MAIL = do_MAIL


@scenario("batch-limit")
def sc_batch_limit(s):
    """After --after accepted messages every MAIL gets 450 4.7.1 (Postfix's
    smtpd_client_message_rate_limit), the session stays open."""
    orig = s.do_MAIL

    def do_MAIL(arg):
        if s.queue_id >= s.opts.after:
            s.reply("450 4.7.1 Error: too much mail from 127.0.0.1")
            return
        orig(arg)
    s.do_MAIL = do_MAIL


@scenario("batch-quota")
def sc_batch_quota(s):
    """After --after accepted messages every end of data gets Microsoft 365's answer to a
    sender over its daily quota: 554 5.2.0 ...SubmissionQuotaExceededException (5xx in code,
    temporary in fact); the session stays open."""
    def eom(sess):
        if sess.queue_id > sess.opts.after:
            sess.reply("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException;"
                       " Failed to process message due to a permanent exception with message"
                       " [BeginDiagnosticData]Cannot submit message.[EndDiagnosticData]")
            return
        sess.reply("250 2.0.0 Ok: queued as FAKE%d" % sess.queue_id)
    s.replies["EOM"] = eom


@scenario("batch-reset")
def sc_batch_reset(s):
    """After --after accepted messages the next message's data is read whole (recorded in
    data_bodies) and the connection is reset before its verdict: taken, never confirmed."""
    def eom(sess):
        if sess.queue_id > sess.opts.after:
            sess.flush()
            sess.c.close(reset=True)
            raise Stop("server")
        sess.reply("250 2.0.0 Ok: queued as FAKE%d" % sess.queue_id)
    s.replies["EOM"] = eom


@scenario("tls12-only")
def sc_tls12(s):
    """The context is made TLS 1.2-only in make_context()."""


@scenario("tls11-only")
def sc_tls11(s):
    """TLS 1.0/1.1 only: a client requiring TLS >= 1.2 must refuse the handshake."""


# ---------------------------------------------------------------- certificates

NEED_TLS = ("good", "external", "good-implicit", "greeting-tls", "stall-in-tls", "starttls-injection",
            "starttls-no-handshake", "tls12-only", "tls11-only", "caps-differ",
            "auth-before-tls-only")
CERT_NAMES = ("ca", "good", "expired", "notyet", "wrongname", "selfsigned", "untrusted", "ca2")


# Leaves added after the first set, each in its own directory NAME.d/ (leaf.pem, leaf.key)
# made next to a set that may already exist: rsa1024 (a 1024-bit RSA key, signed by ca).
EXTRA_LEAVES = ("rsa1024",)


def make_extra_leaf(top, name):
    """Make top/NAME.d once (a temporary dir renamed into place: parallel callers never see
    half a pair, and the first one wins)."""
    final = os.path.join(top, name + ".d")
    if os.path.exists(os.path.join(final, "leaf.pem")):
        return
    d = tempfile.mkdtemp(prefix=".%s-" % name, dir=top)

    def ossl(*args):
        subprocess.run(("openssl",) + args, cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    if name == "rsa1024":
        ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
             "-out", "leaf.key")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    ossl("req", "-new", "-key", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    ossl("x509", "-req", "-in", "leaf.csr", "-CA", os.path.join(top, "ca.pem"),
         "-CAkey", os.path.join(top, "ca.key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
         "-days", "3650", "-sha256", "-extfile", "ext.cnf", "-out", "leaf.pem")
    try:
        os.rename(d, final)
    except OSError:   # someone else finished first: use theirs
        subprocess.run(["rm", "-rf", d], check=False)


def make_certs(top):
    """CA + leaves under `top` (idempotent; built in a temporary dir then renamed, so parallel
    callers never see half a set). Leaves: good (localhost, 127.0.0.1, ::1), expired, notyet,
    wrongname (wrong.example.net), selfsigned, untrusted (signed by ca2, not by ca); and
    EXTRA_LEAVES."""
    if os.path.exists(os.path.join(top, "ready")):
        for name in EXTRA_LEAVES:
            make_extra_leaf(top, name)
        return top
    parent = os.path.dirname(os.path.abspath(top))
    os.makedirs(parent, exist_ok=True)
    d = tempfile.mkdtemp(prefix=".certs-", dir=parent)

    def ossl(*args):
        subprocess.run(("openssl",) + args, cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def key(name):
        ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", name + ".key")

    good_san = "DNS:localhost,IP:127.0.0.1,IP:::1"
    for ca in ("ca", "ca2"):
        key(ca)
        ossl("req", "-x509", "-new", "-key", ca + ".key", "-out", ca + ".pem", "-days", "3650",
             "-subj", "/CN=fakesmtp test %s" % ca.upper(),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.makedirs(os.path.join(d, ca + "db"))
        open(os.path.join(d, ca + "db", "index.txt"), "w").close()
        with open(os.path.join(d, ca + ".cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndir=%sdb\ndatabase=$dir/index.txt\n"
                    "new_certs_dir=$dir\nserial=$dir/serial\ndefault_md=sha256\n"
                    "policy=p\nunique_subject=no\ncopy_extensions=copy\n"
                    "[p]\ncommonName=supplied\n" % ca)
        with open(os.path.join(d, ca + "db", "serial"), "w") as f:
            f.write("1000\n")

    def leaf(name, ca, san, start, end):
        key(name)
        ossl("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj",
             "/CN=" + san.split(",")[0].split(":", 1)[1], "-addext", "subjectAltName=" + san,
             "-addext", "extendedKeyUsage=serverAuth,clientAuth")
        ossl("ca", "-batch", "-config", ca + ".cnf", "-cert", ca + ".pem", "-keyfile",
             ca + ".key", "-in", name + ".csr", "-out", name + ".pem", "-notext",
             "-startdate", start, "-enddate", end)

    leaf("good", "ca", good_san, "20200101000000Z", "20491231000000Z")
    leaf("expired", "ca", good_san, "20200101000000Z", "20210101000000Z")
    leaf("notyet", "ca", good_san, "20480101000000Z", "20491231000000Z")
    leaf("wrongname", "ca", "DNS:wrong.example.net", "20200101000000Z", "20491231000000Z")
    leaf("untrusted", "ca2", good_san, "20200101000000Z", "20491231000000Z")
    key("selfsigned")
    ossl("req", "-x509", "-new", "-key", "selfsigned.key", "-out", "selfsigned.pem", "-days",
         "3650", "-subj", "/CN=localhost", "-addext", "subjectAltName=" + good_san)
    open(os.path.join(d, "ready"), "w").close()
    try:
        os.rename(d, top)
    except OSError:   # someone else finished first: use theirs
        subprocess.run(["rm", "-rf", d], check=False)
        if not os.path.exists(os.path.join(top, "ready")):
            raise
    for name in EXTRA_LEAVES:
        make_extra_leaf(top, name)
    return top


def print_certs(top):
    for n in CERT_NAMES:
        print("%s=%s" % (n.upper() + "_CERT", os.path.join(top, n + ".pem")))
        print("%s=%s" % (n.upper() + "_KEY", os.path.join(top, n + ".key")))
    for n in EXTRA_LEAVES:
        print("%s=%s" % (n.upper() + "_CERT", os.path.join(top, n + ".d", "leaf.pem")))
        print("%s=%s" % (n.upper() + "_KEY", os.path.join(top, n + ".d", "leaf.key")))


# ---------------------------------------------------------------- main

def make_context(opts, rec_holder):
    if not opts.cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(opts.cert, opts.key or None)
    except ssl.SSLError:
        # A weak leaf on purpose (rsa1024): OpenSSL's security level refuses to serve it.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_cert_chain(opts.cert, opts.key or None)
    if opts.scenario == "tls12-only":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if opts.scenario == "tls11-only":
        with warnings.catch_warnings():   # deprecated on purpose: that is the test
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    if opts.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(opts.client_ca)

    def sni(obj, name, _ctx):
        rec_holder[0]["sni"] = name
    ctx.sni_callback = sni
    return ctx


def parse_args(argv):
    p = argparse.ArgumentParser(description="scripted misbehaving SMTP server (tests only)")
    p.add_argument("--scenario", default="good")
    p.add_argument("--port-file")
    p.add_argument("--record")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca", help="ask for a client certificate verified by this CA")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--size", type=int, default=10485760)
    p.add_argument("--stall", type=float, default=6.0, help="stall-in-data: seconds")
    p.add_argument("--caps", action="append", help="extra EHLO keyword line")
    p.add_argument("--at", choices=STAGES, help="stage for reply-* and close-mid-reply")
    p.add_argument("--reply", action="append", default=[], metavar="STAGE=TEXT")
    p.add_argument("--implicit", action="store_true", help="implicit TLS for any scenario")
    p.add_argument("--bind", default="127.0.0.1", choices=("127.0.0.1", "::1"))
    p.add_argument("--make-certs", metavar="DIR")
    p.add_argument("--list", action="store_true")
    p.add_argument("--after", type=int, default=0,
                   help="batch-*: messages accepted before the scenario acts")
    p.add_argument("--oauth-token", metavar="FILE",
                   help="offer XOAUTH2 and OAUTHBEARER; the token in FILE is accepted")
    opts = p.parse_args(argv)
    if opts.make_certs or opts.list:
        return opts
    if opts.scenario not in SCENARIOS:
        p.error("unknown scenario %r (see --list)" % opts.scenario)
    if not opts.port_file or not opts.record:
        p.error("--port-file and --record are required")
    if (opts.cert is None) != (opts.key is None):
        p.error("--cert and --key go together")
    return opts


def serve_one(sock, opts, recorder, ctx, deadline, current):
    rec = recorder.new_conn()
    current[0] = rec
    conn = Conn(sock, rec, deadline)
    s = Session(conn, rec, opts, ctx)
    s.implicit = opts.implicit
    SCENARIOS[opts.scenario](s)
    for r in opts.reply:
        stage, _, text = r.partition("=")
        s.replies[stage.upper()] = text.replace("\\r", "\r").replace("\\n", "\n")
    if ctx is None:
        s.starttls = False   # no certificate: a plaintext-only server
    by = "server"
    try:
        s.run()
    except Stop as e:
        by = e.by
    except Closed:
        by = "client"
    except Timeout:
        by = "timeout"
    except Exception as e:  # keep serving, but make the failure visible
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        by = "server"
    rec["closed_by"] = by
    try:
        conn.close()
    except OSError:
        pass
    recorder.flush()
    return by


def main(argv):
    opts = parse_args(argv)
    if opts.list:
        print("\n".join(sorted(SCENARIOS)))
        return 0
    if opts.make_certs:
        print_certs(make_certs(opts.make_certs))
        return 0
    start = time.monotonic()
    deadline = start + opts.timeout
    recorder = Recorder(opts.record, opts.scenario)
    opts.recorder = recorder
    current = [None]
    if (opts.scenario in NEED_TLS or opts.implicit) and not opts.cert:
        raise SystemExit("fakesmtp: scenario %s needs --cert/--key" % opts.scenario)
    ctx = make_context(opts, current)

    def finish(why):
        with recorder.lock:
            for c in recorder.conns:
                if c["closed_by"] is None:
                    c["closed_by"] = why
            recorder.done = True
            recorder.flush()

    def on_term(signum, frame):
        try:
            finish("killed")
        finally:
            os._exit(0)

    def watchdog():   # belt and braces: exit even if a bug blocks the main loop
        try:
            finish("timeout")
        finally:
            os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    t = threading.Timer(opts.timeout + 3, watchdog)
    t.daemon = True
    t.start()

    lsock = socket.socket(socket.AF_INET6 if ":" in opts.bind else socket.AF_INET)
    lsock.bind((opts.bind, 0))
    lsock.listen(8)
    recorder.flush()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.replace(tmp, opts.port_file)
    failed = False
    for _ in range(opts.connections):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([lsock], [], [], left)[0]:
            break
        sock, _addr = lsock.accept()
        by = serve_one(sock, opts, recorder, ctx, deadline, current)
        failed = failed or current[0]["error"] is not None
        if by == "timeout":
            break
    lsock.close()
    finish("timeout")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
