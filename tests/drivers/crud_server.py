#!/usr/bin/env python3
"""tests/drivers/crud_server.py PORT_FILE [TOKEN] - a small REST API for the http.request tests.

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it listens, and serves
in-memory JSON objects ("things") until killed:

  POST   /things              create: needs "name" (422 otherwise), unique (409); 201 + the object
                              with its new "id" (a string) and a Location header
  POST   /things-noid         create that answers 201 with an empty body and only a Location
  GET    /things/ID           200 the object, 404 when there is none
  GET    /things/by-name/NAME 200 the object of that name, 404 when there is none
  PUT    /things/ID           replace (id kept): 200 the object; PATCH merges; 404 when there is none
  DELETE /things/ID           204, 404 when there is none
  POST   /echo                200 with the body it was sent (no id, no Location)
  GET    /_log                the requests so far: method, path, content_type, authorization, body

With TOKEN, every request but /_log needs `Authorization: Bearer TOKEN` (401 otherwise).
Errors are JSON: {"message": "..."}.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

things = {}
log = []
lock = threading.Lock()
next_id = [1]
token = sys.argv[2] if len(sys.argv) > 2 else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, obj=None, headers=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        path = self.path.split("?", 1)[0]
        if path == "/_log":
            with lock:
                return self.answer(200, log)
        with lock:
            log.append({"method": self.command, "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "authorization": self.headers.get("Authorization"),
                        "body": raw.decode("utf-8", "replace")})
        if token is not None and self.headers.get("Authorization") != "Bearer " + token:
            return self.answer(401, {"message": "missing or wrong bearer token"})
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self.answer(400, {"message": "the body is not JSON"})
        parts = [p for p in path.split("/") if p]
        with lock:
            if parts == ["echo"] and self.command == "POST":
                return self.answer(200, body)
            if parts in (["things"], ["things-noid"]) and self.command == "POST":
                if not isinstance(body, dict) or not body.get("name"):
                    return self.answer(422, {"message": "name is required"})
                for t in things.values():
                    if t["name"] == body["name"]:
                        return self.answer(409, {"message": "a thing named %s exists" % body["name"]})
                tid = str(next_id[0])
                next_id[0] += 1
                obj = dict(body, id=tid)
                things[tid] = obj
                if parts == ["things-noid"]:
                    return self.answer(201, None, {"Location": "/things/" + tid})
                return self.answer(201, obj, {"Location": "/things/" + tid})
            if len(parts) == 3 and parts[:2] == ["things", "by-name"] and self.command == "GET":
                for t in things.values():
                    if t["name"] == parts[2]:
                        return self.answer(200, t)
                return self.answer(404, {"message": "no thing named %s" % parts[2]})
            if len(parts) == 2 and parts[0] == "things":
                tid = parts[1]
                if tid not in things:
                    return self.answer(404, {"message": "no thing %s" % tid})
                if self.command == "GET":
                    return self.answer(200, things[tid])
                if self.command in ("PUT", "PATCH"):
                    if not isinstance(body, dict):
                        return self.answer(422, {"message": "the body must be an object"})
                    base = things[tid] if self.command == "PATCH" else {}
                    things[tid] = dict(base, **body, id=tid)
                    return self.answer(200, things[tid])
                if self.command == "DELETE":
                    del things[tid]
                    return self.answer(204)
            return self.answer(404, {"message": "no route %s %s" % (self.command, path)})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
