#!/usr/bin/env python3
"""A fake OpenAI/Anthropic-compatible provider for end-to-end tests (stdlib only).

Usage: fake_provider.py KEY RECORD_FILE
Listens on 127.0.0.1 (a free port), prints the port on stdout once ready, and accepts
only KEY (as `Authorization: Bearer KEY`, or `x-api-key: KEY` on /v1/messages). Every
request is appended to RECORD_FILE as one JSON line: method, path, headers, body.
Answers chat/completions (JSON, or SSE with a final usage chunk when "stream": true),
/v1/messages (JSON), and /v1/models.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = sys.argv[1]
RECORD = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        with open(RECORD, "a") as f:
            f.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": raw.decode("utf-8", "replace"),
            }) + "\n")
        anthropic = self.path.startswith("/v1/messages")
        if anthropic:
            ok = self.headers.get("x-api-key") == KEY and self.headers.get("anthropic-version")
        else:
            ok = self.headers.get("authorization") == "Bearer " + KEY
        if not ok:
            return self.reply(401, {"error": {"message": "invalid key"}})
        doc = json.loads(raw) if raw else {}
        model = doc.get("model", "none")
        if self.path.startswith("/v1/models"):
            return self.reply(200, {"data": [{"id": "m1"}]})
        if anthropic:
            return self.reply(200, {"type": "message", "model": model,
                                    "usage": {"input_tokens": 10, "output_tokens": 20}})
        if doc.get("stream"):
            events = [
                {"model": model, "choices": [{"delta": {"content": "hello"}}], "usage": None},
                {"model": model, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
            ]
            body = "".join("data: %s\n\n" % json.dumps(e) for e in events) + "data: [DONE]\n\n"
            return self.reply(200, body.encode(), "text/event-stream")
        return self.reply(200, {"object": "chat.completion", "model": model,
                                "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                                "usage": {"prompt_tokens": 5, "completion_tokens": 7}})

    do_GET = handle_any
    do_POST = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
