#!/usr/bin/env python3
"""bsclient.py - a pipelining SMTP caller for "smtps-send -bs" (issue 19).

    bsclient.py [--count N] [--from ADDR] [--rcpt FMT] [--size BYTES]
                [--message FILE] [--id PREFIX] [--expect-code 250] [--save DIR]
                [--bdat] -- COMMAND...

Starts COMMAND (e.g. smtps-send -bs) with pipes and sends N messages in one
SMTP session the way an RFC 2920 client does: EHLO; then MAIL, RCPT and
DATA in one group; after each 354 the message text, its ".", and the next
message's MAIL, RCPT and DATA in one group; QUIT after the last.  Each
message is the --message file or a generated one of --size bytes (LF
line ends, a lone-dot line and dot-started lines, an X-Test-Id header
"<PREFIX-i>").  --rcpt is a printf format taking the message number.

With --bdat (RFC 3030, when the server offers CHUNKING) each message is
MAIL, RCPT and BDAT LAST with its text, all messages written without
waiting while the replies are read as they come.

Every reply is read and checked in order: 250 to MAIL and RCPT, 354 to
DATA, --expect-code to the end of each message.  Prints one line
"bsclient: N messages, S s, V verdicts ok" and exits 0 when every reply was
as expected, 1 otherwise (the first unexpected reply on stderr).
Standard library only.
"""
import argparse
import subprocess
import sys
import threading
import time


def gen_message(i, size, prefix):
    hdr = ("From: Bench Sender <from@example.org>\nTo: Bench Rcpt <rcpt@example.org>\n"
           "Subject: bsclient message %d\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n"
           "Message-ID: <bs.%d.%s@example.org>\nX-Test-Id: <%s-%d>\n\n"
           % (i, i, prefix, prefix, i)).encode()
    body = bytearray()
    n = 0
    while len(hdr) + len(body) < size:
        if n % 16 == 5:
            line = b".%035d" % n
        elif n % 100 == 99:
            line = b"."
        else:
            line = (b"line %06d of message %d, the quick brown fox" % (n, i))[:36]
        body += line + b"\n"
        n += 1
    return hdr + bytes(body)


def crlf(text):
    """LF message -> CRLF (BDAT sends the text as it is: no dots to stuff)."""
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def stuff(text):
    """LF message -> CRLF, dot-stuffed, terminated by CRLF.CRLF (RFC 5321 4.5.2)."""
    out = bytearray()
    for line in text.split(b"\n")[:-1] if text.endswith(b"\n") else text.split(b"\n"):
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    out += b".\r\n"
    return bytes(out)


class Replies:
    def __init__(self, f):
        self.f = f

    def read(self, lines=None):
        """One complete reply: (code, text of its last line); its lines into lines."""
        while True:
            line = self.f.readline()
            if lines is not None:
                lines.append(line)
            if not line:
                raise EOFError("the server closed")
            if len(line) < 4:
                return int(line[:3]), line
            if line[3:4] == b" ":
                return int(line[:3]), line.rstrip(b"\r\n")
            if line[3:4] != b"-":
                raise ValueError("bad reply line %r" % line)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--from", dest="sender", default="from@example.org")
    p.add_argument("--rcpt", default="rcpt%d@example.org")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--message")
    p.add_argument("--id", default="bs")
    p.add_argument("--expect-code", type=int, default=250)
    p.add_argument("--save", metavar="DIR", help="write message i to DIR/i")
    p.add_argument("--bdat", action="store_true",
                   help="RFC 3030: each message as MAIL, RCPT, BDAT LAST, all of them "
                        "sent without waiting (replies read as they come)")
    p.add_argument("command", nargs="+")
    o = p.parse_args()

    fixed = open(o.message, "rb").read() if o.message else None
    proc = subprocess.Popen(o.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    w, r = proc.stdin, Replies(proc.stdout)
    t0 = time.monotonic()
    bad = None
    ok = 0

    def expect(want, what):
        nonlocal bad
        code, text = r.read()
        if code != want and bad is None:
            bad = "%s: expected %d, got %s" % (what, want, text.decode("latin-1"))
        return code

    def envelope(i):
        rcpt = o.rcpt % i if "%" in o.rcpt else o.rcpt
        return b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (o.sender.encode(), rcpt.encode())

    def message(i):
        msg = fixed if fixed is not None else gen_message(i, o.size, o.id)
        if o.save:
            with open("%s/%d" % (o.save, i), "wb") as f:
                f.write(msg)
        return msg

    def bdat_writer():
        try:
            for i in range(1, o.count + 1):
                rcpt = o.rcpt % i if "%" in o.rcpt else o.rcpt
                text = crlf(message(i))
                w.write(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nBDAT %d LAST\r\n"
                        % (o.sender.encode(), rcpt.encode(), len(text)) + text)
            w.write(b"QUIT\r\n")
            w.flush()
        except BrokenPipeError:
            pass

    try:
        expect(220, "greeting")
        w.write(b"EHLO bsclient.example\r\n")
        w.flush()
        ehlo = []
        code, _ = r.read(ehlo)
        if code != 250:
            bad = "EHLO: %d" % code
        if o.bdat:
            if not any(l[4:].strip().upper() == b"CHUNKING" for l in ehlo):
                raise ValueError("the server does not offer CHUNKING")
            t = threading.Thread(target=bdat_writer, daemon=True)
            t.start()
            for i in range(1, o.count + 1):
                expect(250, "MAIL %d" % i)
                expect(250, "RCPT %d" % i)
                if expect(o.expect_code, "end of message %d" % i) == o.expect_code:
                    ok += 1
            expect(221, "QUIT")
            t.join()
            raise StopIteration
        w.write(envelope(1))
        w.flush()
        for i in range(1, o.count + 1):
            expect(250, "MAIL %d" % i)
            expect(250, "RCPT %d" % i)
            if expect(354, "DATA %d" % i) != 354:
                break
            msg = message(i)
            # The text, its end, and the next message's envelope: one group.
            w.write(stuff(msg) + (envelope(i + 1) if i < o.count else b"QUIT\r\n"))
            w.flush()
            if expect(o.expect_code, "end of message %d" % i) == o.expect_code:
                ok += 1
        expect(221, "QUIT")
    except StopIteration:
        pass
    except (EOFError, ValueError, BrokenPipeError) as e:
        if bad is None:
            bad = str(e)
    w.close()
    rc = proc.wait()
    secs = time.monotonic() - t0
    print("bsclient: %d messages, %.3f s, %d verdicts ok" % (o.count, secs, ok))
    if bad is not None or rc != 0:
        print("bsclient: %s (exit %d)" % (bad, rc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
