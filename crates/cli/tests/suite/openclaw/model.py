"""A scripted OpenAI-compatible model for the OpenClaw end-to-end test (stdlib only).

usage: model.py PORT_FILE LOG_FILE COMMANDS_JSON

Listens on 127.0.0.1 (an ephemeral port, written to PORT_FILE once listening).
Every POST /v1/chat/completions is appended to LOG_FILE as one JSON line (path,
headers, body). A request whose last message is not a tool result is answered with
one `exec` tool call per command in COMMANDS_JSON (a JSON list of shell commands);
a request that already carries this turn's tool results is answered with final text quoting every tool
result, each between "<<tool>>" and "<</tool>>", so the caller can check what the
commands printed. Streaming (what OpenClaw asks for) and plain JSON both work.
"""
import http.server
import json
import sys

PORT_FILE, LOG_FILE, COMMANDS = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


INTERNAL = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"


def tool_text(message):
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def answer(body):
    """(content, tool_calls) for this request."""
    messages = body.get("messages") or []
    # OpenClaw appends an internal-context user message after the tool results, so
    # "this turn already ran the tools" means: a tool result after the last user
    # message that is not such context.
    prompts = [i for i, m in enumerate(messages)
               if m.get("role") == "user" and INTERNAL not in tool_text(m)]
    since = messages[prompts[-1] + 1:] if prompts else messages
    results = [tool_text(m) for m in since if m.get("role") == "tool"]
    if results:
        return "scripted answer: " + " ".join("<<tool>>%s<</tool>>" % r for r in results), None
    calls = [
        {
            "id": "call_%d" % i,
            "type": "function",
            "function": {
                "name": "exec",
                "arguments": json.dumps({"command": command, "title": "step %d" % i}),
            },
        }
        for i, command in enumerate(COMMANDS)
    ]
    return None, calls


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        with open(LOG_FILE, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body": body}) + "\n")

    def send(self, status, ctype, data):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record(None)
        self.send(404, "application/json", b'{"error":"not found"}')

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.record(body)
        if not isinstance(body, dict) or not self.path.endswith("/chat/completions"):
            self.send(404, "application/json", b'{"error":"not found"}')
            return
        content, calls = answer(body)
        model = body.get("model", "scripted")
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            delta = {"role": "assistant"}
            if content is not None:
                delta["content"] = content
            if calls:
                delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(calls)]
            chunks = [
                {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
                {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                          "total_tokens": 15}},
            ]
            data = b"".join(
                b"data: " + json.dumps(dict(c, id="chatcmpl-1", object="chat.completion.chunk",
                                            created=0, model=model)).encode() + b"\n\n"
                for c in chunks) + b"data: [DONE]\n\n"
            self.send(200, "text/event-stream", data)
        else:
            message = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            data = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                               "model": model,
                               "choices": [{"index": 0, "message": message,
                                            "finish_reason": finish}],
                               "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                         "total_tokens": 15}}).encode()
            self.send(200, "application/json", data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402  (only needed for the atomic rename)
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
