#!/usr/bin/env python3
"""The schema of smtps-send --diag-format=json, as smtps-send(1) documents it
(DIAGNOSTICS), and a checker for what a run wrote on standard error.

  json_schema.py [--exit N] FILE...   every line of each FILE is one event of
                                      the schema: a known event, only its
                                      fields, each of its type, none of the
                                      required ones missing; the last line is
                                      the run's result event (exit status N)
  json_schema.py --check-man MAN      the table below and MAN's DIAGNOSTICS
                                      section name the same events and fields

Exit status 0 when everything conforms, 1 otherwise (the reasons on stderr).
Also a module: check_lines(lines, want_exit=None) returns the list of errors.
"""
import json
import re
import sys

STAGES = {
    "smtps-send", "arguments", "config", "message", "resolve", "connect", "tls",
    "greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "body",
    "end-of-data", "quit", "queue",
}
RUN_STATES = {"none", "sent", "queued", "failed", "held"}
# A message's result in a queue run (and -bs, which uses the run states).
MSG_STATES = {"sent", "deferred", "failed", "unreadable", "expired", "removed",
              "queued", "held"}

TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
ID_RE = re.compile(r"[0-9a-f]{32}\Z")
FPR_RE = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){31}\Z")
ENH_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\Z")


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v):
    return isinstance(v, str)


# Field types: a predicate and what it means, for the error.
TYPES = {
    "str": (_str, "a string"),
    "nonempty": (lambda v: _str(v) and v != "", "a non-empty string"),
    "int": (lambda v: _int(v) and v >= 0, "a number >= 0"),
    "ts": (lambda v: _str(v) and TS_RE.match(v), "RFC 3339 UTC with milliseconds"),
    "date": (lambda v: _str(v) and DATE_RE.match(v), "RFC 3339 UTC"),
    "stage": (lambda v: v in STAGES, "a stage name"),
    "id": (lambda v: _str(v) and ID_RE.match(v), "a queue id (32 hex digits)"),
    "port": (lambda v: _int(v) and 1 <= v <= 65535, "a port number"),
    "code": (lambda v: _int(v) and 200 <= v <= 599, "an SMTP reply code"),
    "enhanced": (lambda v: _str(v) and ENH_RE.match(v), "an enhanced status code"),
    "fpr": (lambda v: _str(v) and FPR_RE.match(v), "a SHA-256 fingerprint AB:CD:…"),
    "exit": (lambda v: _int(v) and 0 <= v <= 255, "an exit status"),
    "run_state": (lambda v: v in RUN_STATES, "one of " + ", ".join(sorted(RUN_STATES))),
    "msg_state": (lambda v: v in MSG_STATES, "one of " + ", ".join(sorted(MSG_STATES))),
    "dsn_state": (lambda v: v in ("queued", "failed"), "queued or failed"),
    "flag": (lambda v: v in (0, 1) and _int(v), "0 or 1"),
}

# Every event: these members, always.
COMMON = {"ts": "ts", "t_ms": "int", "event": "nonempty", "stage": "stage", "msg": "str"}

REPLY = {"code": "code", "enhanced": "enhanced"}
RELAY = {"host": "nonempty", "port": "port"}

# event: (required fields, optional fields).  "result" has two forms, told
# apart by "exit": the run's (the last line) and a message's.
EVENTS = {
    "stage": ({}, dict(RELAY, addr="nonempty", tls_version="nonempty", cipher="nonempty",
                       fingerprint="fpr", cert_not_after="date", id="id")),
    "send": ({}, {}),
    "recv": ({}, {}),
    "error": ({}, dict(REPLY, **RELAY, file="nonempty", line="int")),
    "reply": ({}, REPLY),
    "hint": ({}, {}),
    "context": ({}, {}),
    "note": ({}, {}),
    "queued": ({"id": "id"}, dict(REPLY, **RELAY)),
    "result": ({"exit": "exit", "state": "run_state"},
               dict(REPLY, **RELAY, id="id", bytes="int")),
    "dsn": ({"id": "id", "state": "dsn_state"}, {"to": "nonempty"}),
    "summary": ({"sent": "int", "deferred": "int", "failed": "int", "unreadable": "int",
                 "interrupted": "flag"}, {"untried": "int"}),
    "warning": ({}, {"line": "int", "ignored": "int"}),
    "relay_changed": ({"id": "id", "host": "nonempty", "port": "port"}, {}),
    "recovered": ({"count": "int"}, {}),
    "relay_limit": ({"relays": "int", "waiting": "int"}, {}),
    "log_error": ({"file": "nonempty", "reason": "nonempty"}, {}),
    "queue_fallback": ({}, {}),
    "runner_start": ({"dir": "nonempty", "interval": "int"}, {}),
    "runner_stop": ({"signal": "int"}, {}),
    "runner_error": ({}, {}),
    "runner_warning": ({}, {}),
    "import": ({"file": "nonempty", "line": "int", "key": "nonempty"}, {}),
    "authorize": ({"url": "nonempty", "wait": "int"}, {"code": "nonempty"}),
    "authorized": ({"account": "nonempty", "store": "nonempty"}, {"expires_in": "int"}),
}
# A message's result (no "exit"): -q, --flush-id, the runner, -bs.
MESSAGE_RESULT = ({"id": "id", "state": "msg_state"}, REPLY)


def check_event(e):
    """The errors of one decoded line (an empty list when it conforms)."""
    if not isinstance(e, dict):
        return ["not a JSON object"]
    errs = []
    name = e.get("event")
    if name not in EVENTS:
        return ["unknown event %r" % (name,)]
    req, opt = EVENTS[name]
    if name == "result" and "exit" not in e:
        req, opt = MESSAGE_RESULT
    fields = dict(COMMON, **req)
    for k, t in fields.items():
        if k not in e:
            errs.append("%s: missing %s" % (name, k))
    for k, v in e.items():
        t = fields.get(k, opt.get(k))
        if t is None:
            errs.append("%s: unknown field %r" % (name, k))
            continue
        ok, what = TYPES[t]
        if not ok(v):
            errs.append("%s: %s is %r, not %s" % (name, k, v, what))
    return errs


def check_lines(lines, want_exit=None):
    """The errors of a run's stderr, given as a list of lines."""
    errs = []
    events = []
    for n, line in enumerate(lines, 1):
        if not line.endswith("\n"):
            errs.append("line %d: no newline at its end" % n)
        try:
            e = json.loads(line)
        except ValueError as x:
            errs.append("line %d: not JSON (%s): %r" % (n, x, line[:200]))
            continue
        for err in check_event(e):
            errs.append("line %d: %s" % (n, err))
        events.append(e)
    finals = [i for i, e in enumerate(events)
              if isinstance(e, dict) and e.get("event") == "result" and "exit" in e]
    if len(finals) != 1:
        errs.append("%d result events with an exit status, not 1" % len(finals))
    elif finals[0] != len(events) - 1:
        errs.append("the run's result event is not the last line")
    elif want_exit is not None and events[-1]["exit"] != want_exit:
        errs.append("result says exit %s, the run exited %s" % (events[-1]["exit"], want_exit))
    return errs


def man_section(path):
    """The lines of DIAGNOSTICS in an mdoc page."""
    out, inside = [], False
    for line in open(path, encoding="utf-8"):
        if line.startswith(".Sh "):
            inside = line.strip() == ".Sh DIAGNOSTICS"
            continue
        if inside:
            out.append(line.rstrip("\n"))
    return out


def check_man(path):
    """The events and fields the table has and the man page does not, and back."""
    sec = man_section(path)
    if not sec:
        return ["%s: no DIAGNOSTICS section" % path]
    # Entries ".It Li a , b" of the list after ".Ss Events" are event names.
    documented, in_events, words = set(), False, set()
    for line in sec:
        if line.startswith(".Ss "):
            in_events = line.strip() == ".Ss Events"
        toks = line.split()
        for i, t in enumerate(toks):
            if t in ("Li", ".Li"):
                for w in toks[i + 1:]:
                    if re.match(r"[a-z_][a-z0-9_-]*\Z", w):
                        words.add(w)
                    elif w not in (",", "Ns", "No", "or", "and"):
                        break
        if in_events and line.startswith(".It Li "):
            documented.update(w for w in toks[2:] if re.match(r"[a-z_]+\Z", w))
    errs = []
    for ev in sorted(set(EVENTS) - documented):
        errs.append("event %s is not an entry of the Events list" % ev)
    for ev in sorted(documented - set(EVENTS)):
        errs.append("documented event %s is not in json_schema.py" % ev)
    fields = set(COMMON)
    for req, opt in list(EVENTS.values()) + [MESSAGE_RESULT]:
        fields |= set(req) | set(opt)
    for f in sorted(fields - words):
        errs.append("field %s is not documented" % f)
    return errs


def main(argv):
    if len(argv) == 3 and argv[1] == "--check-man":
        errs = check_man(argv[2])
        for err in errs:
            print("%s: %s" % (argv[2], err), file=sys.stderr)
        return 1 if errs else 0
    want = None
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--exit":
        want = int(args[1])
        args = args[2:]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bad = 0
    for path in args:
        with open(path, encoding="utf-8", errors="strict") as f:
            errs = check_lines(f.readlines(), want)
        for err in errs:
            print("%s: %s" % (path, err), file=sys.stderr)
        bad |= bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
