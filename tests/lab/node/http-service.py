#!/usr/bin/python3
"""The lab node's service behind the VIP: GET / and /health answer 200 with
the node's name in the body and an X-Node header, so a client (and
vipdeck's probe) can tell which node answered. Bound to 0.0.0.0:8080 so it
runs before the VIP is on the node's NIC. Started by `lab.sh up`."""
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE = socket.gethostname()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ("/", "/health"):
            self.send_error(404)
            return
        body = (NODE + "\n").encode()
        self.send_response(200)
        self.send_header("X-Node", NODE)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # one request every 100 ms from the client loop: no log


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
