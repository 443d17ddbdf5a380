#!/usr/bin/env python3
"""fake_openai.py: a local OpenAI-compatible chat-completions server for the AI client tests.

The one test double of the AI client (stdlib only). It answers POST /v1/chat/completions
with a deterministic JSON message built from the prompt, or misbehaves on request:

  POST /_control  {"queue": [behaviour, ...]}  behaviours for the next requests, in order
                  {"default": behaviour}        behaviour once the queue is empty
  POST /_reset                                  empty queue, default "ok", forget requests
  GET  /_requests                               [{"path", "headers", "body"}, ...] received

A behaviour is {"kind": K, ...} with K one of
  ok          a valid answer ({"sentiment": false} leaves the sentiment out,
              {"subject": "...", "text": "..."} override the echoed fields)
  slow        a valid answer after "delay_ms"
  429         "Too Many Requests" with Retry-After: "retry_after" (default "1") and/or
              retry-after-ms: "retry_after_ms"
  500         an internal error (or "status": any code)
  hang        never answers (holds the connection "delay_ms", default 60 s)
  close       closes the connection without a response
  malformed   200 with a body that is not JSON
  missing     200 with a message whose JSON lacks "text"
  not_json    200 with a message content that is not JSON
  placeholder 200 with "{{first_name}}" left in the text
  link        200 with a link that was not in the input
A request is answered per the marker "fake:K" in its user message when there is one.
Usage: fake_openai.py [--tls CERT KEY] [--port N]; prints the port on stdout when ready.
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"queue": [], "default": {"kind": "ok"}, "requests": []}
stopping = threading.Event()


def next_behaviour(user_text):
    with lock:
        if state["queue"]:
            return state["queue"].pop(0)
        default = dict(state["default"])
    marker = user_text.find("fake:")
    if marker >= 0:
        kind = user_text[marker + 5:].split()[0].strip('",}')
        return {"kind": kind}
    return default


def echo_content(req_body, behaviour):
    """The deterministic answer: the input's subject and text, marked, greeting the contact."""
    messages = req_body.get("messages", [])
    user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    try:
        data = json.loads(user)
    except ValueError:
        data = {}
    contact = data.get("contact", {}) or {}
    name = contact.get("first_name", "")
    if "instructions" in data:
        subject = "Generated: " + data["instructions"][:60].replace("\n", " ")
        text = "Hello %s,\n%s" % (name, data["instructions"])
        html = ""
    else:
        subject = "[AI] " + data.get("subject", "")
        text = "Bonjour %s,\n%s" % (name, data.get("text", ""))
        html = data.get("html", "")
    out = {"subject": behaviour.get("subject", subject), "text": behaviour.get("text", text)}
    if html:
        out["html"] = html
    if behaviour.get("sentiment", True):
        out["sentiment"] = {"label": "positive", "score": 0.6}
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # TCP_NODELAY, as real servers do: the headers and the body go out in two writes, and
    # with Nagle the body waits for the client's delayed ACK (~40 ms on Linux) on every
    # answer after the first on a connection, so "ok" would not be an instant answer.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("fake_openai: " + (fmt % args) + "\n")

    def send_json(self, status, obj, extra_headers=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/_requests":
            with lock:
                reqs = list(state["requests"])
            return self.send_json(200, reqs)
        self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/_control":
            ctl = json.loads(raw or b"{}")
            with lock:
                state["queue"].extend(ctl.get("queue", []))
                if "default" in ctl:
                    state["default"] = ctl["default"]
            return self.send_json(200, {"ok": True})
        if self.path == "/_reset":
            with lock:
                state.update(queue=[], default={"kind": "ok"}, requests=[])
            return self.send_json(200, {"ok": True})
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "not found"}})
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "request is not JSON"}})
        with lock:
            state["requests"].append({"path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
        user = "".join(m.get("content", "") for m in body.get("messages", [])
                       if m.get("role") == "user")
        b = next_behaviour(user)
        kind = b.get("kind", "ok")
        if kind == "slow":
            time.sleep(b.get("delay_ms", 1000) / 1000.0)
        if kind == "hang":
            stopping.wait(b.get("delay_ms", 60000) / 1000.0)
            self.close_connection = True
            return
        if kind == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if kind == "429":
            headers = {}
            if "retry_after_ms" in b:
                headers["retry-after-ms"] = str(b["retry_after_ms"])
            if b.get("retry_after", "1") is not None:
                headers["Retry-After"] = str(b.get("retry_after", "1"))
            return self.send_json(429, {"error": {"message": "rate limited"}}, headers)
        if kind == "500":
            return self.send_json(b.get("status", 500), {"error": {"message": "boom"}})
        if kind == "malformed":
            return self.send_json(200, None, raw=b'{"choices": [ {"message": ')
        content = echo_content(body, b)
        if kind == "missing":
            content.pop("text", None)
        elif kind == "placeholder":
            content["text"] = "Bonjour {{first_name}}"
        elif kind == "link":
            content["text"] += "\nhttps://evil.example/phish"
        message = "this is not JSON" if kind == "not_json" else json.dumps(content)
        prompt_tokens = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
        self.send_json(200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": message}}],
            "usage": {"prompt_tokens": prompt_tokens,
                      "completion_tokens": len(message.split()),
                      "total_tokens": prompt_tokens + len(message.split())},
        })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        stopping.set()


if __name__ == "__main__":
    main()
