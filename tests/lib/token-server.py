#!/usr/bin/env python3
"""tests/lib/token-server.py DIR USER:PASS

A Docker-registry token server (the Bearer flow of the distribution token spec) for the tests:
on 127.0.0.1, a free port written to DIR/token-port, it answers GET /token?service=&scope=...
with {"token", "access_token", "expires_in"} when the request carries Basic USER:PASS (401
otherwise), granting every scope asked for. Tokens are JWTs signed RS256 with DIR/token.key
by the openssl command, the certificate DIR/token.crt in their x5c header (the registry's
rootcertbundle). Each request's scopes are logged on stderr. While DIR/expire-next holds a
number N > 0, the next token is already expired (past the registry's leeway) and N goes down
by one: a client's refresh on a 401 is then tested. Runs until killed.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

DIR, CREDS = sys.argv[1], sys.argv[2]
SERVICE, ISSUER = "vm2oci-test", "vm2oci-test-issuer"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


with open(DIR + "/token.crt") as f:
    pem = "".join(l for l in f.read().splitlines() if "CERTIFICATE" not in l)
X5C = [pem]  # base64 DER, as x5c wants


def sign(claims):
    head = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": X5C}).encode())
    body = b64url(json.dumps(claims).encode())
    inp = (head + "." + body).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", DIR + "/token.key"], input=inp,
                         capture_output=True, check=True).stdout
    return head + "." + body + "." + b64url(sig)


def take_expired():
    path = DIR + "/expire-next"
    try:
        with open(path) as f:
            n = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    if n <= 0:
        return False
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % (n - 1))
    os.rename(path + ".tmp", path)
    return True


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        ok = auth == "Basic " + base64.b64encode(CREDS.encode()).decode()
        sys.stderr.write("token-server: service=%s scope=%s auth=%s\n" %
                         (",".join(q.get("service", [])), " ".join(q.get("scope", [])),
                          "ok" if ok else "refused"))
        sys.stderr.flush()
        if url.path != "/token" or not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="token"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        access = []
        for s in q.get("scope", []):
            parts = s.split(":")
            if len(parts) >= 3:
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",")})
        now = int(time.time())
        exp, nbf = now + 300, now - 10
        if take_expired():
            exp, nbf = now - 600, now - 900
            sys.stderr.write("token-server: (that token is expired)\n")
        tok = sign({"iss": ISSUER, "sub": CREDS.split(":")[0], "aud": SERVICE, "exp": exp,
                    "nbf": nbf, "iat": nbf, "jti": str(now) + str(id(self)), "access": access})
        data = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(DIR + "/token-port", "w") as f:
    f.write("%d\n" % srv.server_address[1])
srv.serve_forever()
