#!/usr/bin/env python3
"""A relay that a test can stop and start without touching the shared Postfix.

    python3 relayproxy.py LISTEN_PORT TARGET_PORT READY_FILE

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection, byte for
byte in both directions, to 127.0.0.1:TARGET_PORT (Postfix's STARTTLS port:
TLS passes through, so connect to localhost:LISTEN_PORT, the name the
certificate is for).  Writes its pid to READY_FILE once it listens.
SIGTERM or SIGINT ends it at once, with its connections: the port is then
closed, and a client gets "connection refused" as from a relay that is down.
Standard library only.
"""
import os
import signal
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client, target):
    try:
        upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: relayproxy.py LISTEN_PORT TARGET_PORT READY_FILE")
    port, target, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    # Exit at once, whatever the threads are doing: a relay that goes away.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.1", port))
    except OSError as e:
        sys.exit("relayproxy: cannot listen on 127.0.0.1:%d: %s" % (port, e))
    srv.listen(64)
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(ready + ".tmp", ready)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    main()
