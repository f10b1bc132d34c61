#!/usr/bin/env python3
"""check_dsn.py FILE [--status X.Y.Z] [--rcpt ADDR]... — parse a delivery
status notification (a spool file or a delivered message) with Python's
email package and check it is the report RFC 3464 / RFC 6522 describe:
multipart/report; report-type=delivery-status, text/plain first,
message/delivery-status second (Reporting-MTA, then per recipient
Final-Recipient, Action: failed, Status), text/rfc822-headers third if
any, no MIME defects.  Prints one summary line; exit 1 on any mismatch."""
import argparse
import email
import email.policy
import sys


def check(raw, want_status, want_rcpts):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != 'multipart/report':
        return 'not multipart/report: %s' % msg.get_content_type()
    if msg.get_param('report-type') != 'delivery-status':
        return 'report-type is %r' % msg.get_param('report-type')
    parts = msg.get_payload()
    types = [p.get_content_type() for p in parts]
    if types[:2] != ['text/plain', 'message/delivery-status'] or len(parts) > 3 or \
            (len(parts) == 3 and types[2] != 'text/rfc822-headers'):
        return 'parts: %s' % types
    for p in [msg] + parts:
        if p.defects:
            return 'MIME defects in %s: %s' % (p.get_content_type(), p.defects)
    parts[0].get_content()  # the text decodes
    per_msg, per_rcpt = parts[1].get_payload()[0], parts[1].get_payload()[1:]
    if not per_msg['Reporting-MTA'] or not per_rcpt:
        return 'no Reporting-MTA or no recipient group'
    got = []
    for r in per_rcpt:
        if r['Action'] != 'failed' or not r['Final-Recipient'] or not r['Status']:
            return 'recipient group: %s' % r.items()
        if want_status and r['Status'] != want_status:
            return 'Status %s, not %s' % (r['Status'], want_status)
        got.append(str(r['Final-Recipient']).split(';', 1)[1].strip())
    if want_rcpts and sorted(got) != sorted(want_rcpts):
        return 'recipients %s, not %s' % (got, want_rcpts)
    return 'ok: %d parts, %s, %s' % (len(parts), per_msg['Reporting-MTA'],
                                    ', '.join('%s %s' % (a, r['Status'])
                                              for a, r in zip(got, per_rcpt)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('file')
    ap.add_argument('--status')
    ap.add_argument('--rcpt', action='append', default=[])
    a = ap.parse_args()
    with open(a.file, 'rb') as f:
        res = check(f.read(), a.status, a.rcpt)
    print('check_dsn: %s' % res)
    return 0 if res.startswith('ok:') else 1


if __name__ == '__main__':
    sys.exit(main())
