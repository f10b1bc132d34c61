#!/usr/bin/env python3
"""mkqueue.py DIR ID N [DEST]: clone the queued message ID in DIR N times (fresh ids), into
DEST (default DIR).  For bench/batch.sh: a large queue without N runs of -odq."""
import os, sys, secrets
src_dir, tid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
dst = sys.argv[4] if len(sys.argv) > 4 else src_dir
meta = open(os.path.join(src_dir, tid + ".meta")).read()
body = open(os.path.join(src_dir, tid + ".msg"), "rb").read()
for i in range(n):
    nid = secrets.token_hex(16)
    for name, data in ((nid + ".msg", body), (nid + ".meta", meta.replace(tid, nid).encode())):
        fd = os.open(os.path.join(dst, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
