#!/bin/sh
# Self-test of the scripted SMTP server (fakesmtp.py) the e2e fault tests rely on.
# Debian's python3 (standard library only) and openssl; skip (77) when either is missing.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || exit 77
command -v openssl >/dev/null 2>&1 || exit 77
exec "$PY" tests/e2e/fakesmtp_selftest.py
