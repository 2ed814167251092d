"""A stdlib HTTP(S) origin on 127.0.0.1 for the credential placeholder tests.

Usage: record_server.py RECORD_FILE [CERT KEY]. Prints its port, then answers every
request with 200 "recorded" and appends {method, path, headers, body} as one JSON line
to RECORD_FILE, so a test can assert on exactly what reached the network.
"""
import base64
import http.server
import json
import ssl
import sys

RECORD = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def read_chunked(self):
        """The chunked body, as far as it arrived (a cut-off upload ends early)."""
        body = b""
        while True:
            line = self.rfile.readline()
            if not line.strip():
                return body, False
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return body, True
            data = self.rfile.read(size + 2)
            body += data[:size]
            if len(data) < size + 2:
                return body, False

    def handle_any(self):
        complete = True
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            body, complete = self.read_chunked()
        else:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            complete = len(body) == length
        entry = {
            "complete": complete,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        auth = self.headers.get("authorization") or ""
        if auth.lower().startswith("basic "):
            entry["basic"] = base64.b64decode(auth[6:].strip()).decode("utf-8", "replace")
        with open(RECORD, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if not complete:
            self.close_connection = True
            return
        reply = b"recorded\n"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = handle_any

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
