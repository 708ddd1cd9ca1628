#!/usr/bin/env python3
"""tests/lib/flaky-proxy.py UPSTREAM_PORT PORT_FILE [EVERY] [FAULTS] [MATCH]

An HTTP/1.1 forwarder on 127.0.0.1 (a free port, written to PORT_FILE) in front of a registry
on 127.0.0.1:UPSTREAM_PORT that fails some requests, to test a client's retries: request
number k*EVERY (default 3) for k = 1..FAULTS (default 4) is answered 503 with a registry error
body when k is odd, and dropped (read, then the connection closed with no answer) when k is
even; every other request is forwarded as it is (the Host header too, so the registry's
Location URLs point back here). With MATCH, only requests whose "METHOD PATH" contains it are
counted, and each fault is a 503: "digest=sha256:..." fails the uploads of one blob the same way
every time. Each fault is logged on stderr. Runs until killed.
"""
import http.client
import http.server
import socketserver
import sys
import threading

UPSTREAM = int(sys.argv[1])
EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 3
FAULTS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
MATCH = sys.argv[5] if len(sys.argv) > 5 else ""
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection"}
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        counted = MATCH in self.command + " " + self.path
        with lock:
            count += counted
            n = count
        k, rem = divmod(n, EVERY) if counted else (0, 1)
        if rem == 0 and 1 <= k <= FAULTS:
            if k % 2 or MATCH:
                sys.stderr.write("flaky-proxy: request %d %s %s: 503\n" % (n, self.command, self.path))
                msg = b'{"errors":[{"code":"UNAVAILABLE","message":"flaky-proxy says try again"}]}'
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(msg)
            else:
                sys.stderr.write("flaky-proxy: request %d %s %s: dropped\n" % (n, self.command, self.path))
                self.close_connection = True
                self.connection.shutdown(2)
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        up.request(self.command, self.path, body=body if (body or self.command in ("PUT", "PATCH", "POST")) else None,
                   headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else r.getheader("Content-Length") or 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[2], "w") as f:
    f.write("%d\n" % srv.server_address[1])
srv.serve_forever()
