#!/usr/bin/env python3
"""idp.py -- a local OAuth2 identity provider for the OAuth2 e2e tests (issue 17).

python3 stdlib only: http.server + ssl, with the suite's test certificates.
Listens on 127.0.0.1 only and stops by itself after --max-seconds.

  idp.py --port P --cert C --key K --user alice [--ttl 3600] [--rotate]
         [--client-id ID] [--client-secret S] [--refresh-delay 0.5] [--max-seconds 300]

Endpoints (all JSON answers; errors as RFC 6749 5.2):
  POST /token       grant_type refresh_token (rotated with --rotate),
                    client_credentials (client_id + client_secret),
                    authorization_code (PKCE S256 checked, redirect_uri checked),
                    urn:ietf:params:oauth:grant-type:device_code
                    (authorization_pending once, then the tokens)
  POST /device      device authorization (RFC 8628)
  GET  /authorize   auto-approves: 302 to redirect_uri?code=..&state=..
  POST /introspect  RFC 7662: {"active": true, "username": USER, "scope": ...}
  GET  /admin/stats         counters (refresh, client_credentials, ...)
  POST /admin/expire        every access token issued so far becomes inactive
  POST /admin/revoke        every refresh token becomes invalid (invalid_grant)
  POST /admin/seed          issue a refresh token for USER; answers it (for tests)
"""
import argparse
import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {
    "access": {},   # token -> {"user", "exp", "scope"}
    "refresh": {},  # token -> user
    "codes": {},    # code -> {"challenge", "redirect_uri", "user"}
    "devices": {},  # device_code -> polls
    "stats": {"refresh": 0, "client_credentials": 0, "authorization_code": 0,
              "device": 0, "device_poll": 0, "introspect": 0, "introspect_active": 0,
              "invalid_grant": 0},
}
opts = None


def issue(user, scope, refresh=True):
    at = "at-" + secrets.token_urlsafe(24)
    state["access"][at] = {"user": user, "exp": time.time() + opts.ttl, "scope": scope}
    ans = {"access_token": at, "token_type": "Bearer", "expires_in": opts.ttl, "scope": scope}
    if refresh:
        rt = "rt-" + secrets.token_urlsafe(24)
        state["refresh"][rt] = user
        ans["refresh_token"] = rt
    return ans


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if opts.log:
            with open(opts.log, "a") as f:
                f.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def reply(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, err, desc=""):
        if err == "invalid_grant":
            state["stats"]["invalid_grant"] += 1
        self.reply(code, {"error": err, "error_description": desc})

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def client_ok(self, f):
        if f.get("client_id") != opts.client_id:
            return False
        if opts.client_secret is not None and f.get("grant_type") == "client_credentials":
            return f.get("client_secret") == opts.client_secret
        return True

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        if u.path == "/authorize":
            if q.get("client_id") != opts.client_id or q.get("code_challenge_method") != "S256":
                return self.error(400, "invalid_request", "client_id or PKCE missing")
            ru = q.get("redirect_uri", "")
            if not ru.startswith("http://127.0.0.1:"):
                return self.error(400, "invalid_request", "redirect_uri must be loopback")
            code = "code-" + secrets.token_urlsafe(16)
            with lock:
                state["codes"][code] = {"challenge": q.get("code_challenge"),
                                        "redirect_uri": ru, "user": opts.user,
                                        "scope": q.get("scope", "")}
            loc = ru + ("&" if "?" in ru else "?") + urllib.parse.urlencode(
                {"code": code, "state": q.get("state", "")})
            self.send_response(302)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if u.path == "/admin/stats":
            with lock:
                return self.reply(200, state["stats"])
        self.error(404, "not_found")

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        f = self.form()
        with lock:
            return self.post(u.path, f)

    def post(self, path, f):
        st = state["stats"]
        if path == "/introspect":
            st["introspect"] += 1
            t = state["access"].get(f.get("token", ""))
            if t is None or t["exp"] < time.time():
                return self.reply(200, {"active": False})
            st["introspect_active"] += 1
            return self.reply(200, {"active": True, "username": t["user"], "scope": t["scope"],
                                    "exp": int(t["exp"])})
        if path == "/device":
            if f.get("client_id") != opts.client_id:
                return self.error(401, "invalid_client")
            dc = "dev-" + secrets.token_urlsafe(16)
            state["devices"][dc] = 0
            st["device"] += 1
            port = self.server.server_address[1]
            return self.reply(200, {"device_code": dc, "user_code": "WDJB-MJHT",
                                    "verification_uri": "https://localhost:%d/activate" % port,
                                    "expires_in": 60, "interval": 1})
        if path == "/admin/expire":
            for t in state["access"].values():
                t["exp"] = 0
            return self.reply(200, {"ok": True})
        if path == "/admin/revoke":
            state["refresh"].clear()
            return self.reply(200, {"ok": True})
        if path == "/admin/seed":
            return self.reply(200, issue(opts.user, opts.scope))
        if path != "/token":
            return self.error(404, "not_found")
        gt = f.get("grant_type")
        if not self.client_ok(f):
            return self.error(401, "invalid_client", "unknown client or bad secret")
        if gt == "refresh_token":
            st["refresh"] += 1
            user = state["refresh"].get(f.get("refresh_token", ""))
            if user is None:
                return self.error(400, "invalid_grant", "the refresh token is revoked")
            # A slow endpoint: concurrent refreshes would overlap here.
            lock.release()
            try:
                time.sleep(opts.refresh_delay)
            finally:
                lock.acquire()
            if opts.rotate:
                state["refresh"].pop(f.get("refresh_token"), None)
            ans = issue(user, opts.scope, refresh=opts.rotate)
            return self.reply(200, ans)
        if gt == "client_credentials":
            st["client_credentials"] += 1
            return self.reply(200, issue(opts.user, f.get("scope", ""), refresh=False))
        if gt == "authorization_code":
            st["authorization_code"] += 1
            c = state["codes"].pop(f.get("code", ""), None)
            if c is None:
                return self.error(400, "invalid_grant", "unknown code")
            v = f.get("code_verifier", "")
            want = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
            if want != c["challenge"]:
                return self.error(400, "invalid_grant", "PKCE verification failed")
            if f.get("redirect_uri") != c["redirect_uri"]:
                return self.error(400, "invalid_grant", "redirect_uri mismatch")
            return self.reply(200, issue(c["user"], c["scope"]))
        if gt == "urn:ietf:params:oauth:grant-type:device_code":
            st["device_poll"] += 1
            dc = f.get("device_code", "")
            if dc not in state["devices"]:
                return self.error(400, "invalid_grant", "unknown device code")
            state["devices"][dc] += 1
            if state["devices"][dc] < 2:
                return self.error(400, "authorization_pending")
            del state["devices"][dc]
            return self.reply(200, issue(opts.user, opts.scope))
        return self.error(400, "unsupported_grant_type")


def main():
    global opts
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--scope", default="smtp")
    ap.add_argument("--client-id", default="smtps-send-test")
    ap.add_argument("--client-secret", default=None)
    ap.add_argument("--ttl", type=int, default=3600)
    ap.add_argument("--rotate", action="store_true")
    ap.add_argument("--refresh-delay", type=float, default=0.0)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--log", default=None)
    opts = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Timer(opts.max_seconds, srv.shutdown).start()
    print("ready", flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    main()
