#!/usr/bin/env python3
"""tests/pipeline/check_server.py PORT_FILE - what the pipeline tests' checks and deploys talk to.

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it listens, and serves until
killed:

  GET  /count/NAME         200; counts the hits of NAME
  GET  /status/CODE        answers CODE (counted under status-CODE); POST too
  GET  /flaky/NAME/K       503 for the first K hits of NAME, then 200
  GET  /slow/SECONDS       200 after SECONDS (a check's timeout)
  POST /things             201 {"id": N, ...the body}: a workload a deploy creates
  GET  /things/ID          200 the object, 404 when there is none
  PUT  /things/ID          200: replaced (id kept); 404 when there is none
  DELETE /things/ID        204
  GET  /_hits              {"NAME": hits, ...}
  GET  /_things            {"ID": object, ...}
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

hits = {}
things = {}
lock = threading.Lock()
next_id = [1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def hit(self, name):
        with lock:
            hits[name] = hits.get(name, 0) + 1
            return hits[name]

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {"raw": raw.decode("utf-8", "replace")}

    def do_GET(self):
        p = self.path.split("?")[0].strip("/").split("/")
        if p[0] == "count" and len(p) == 2:
            self.hit(p[1])
            return self.answer(200, {"ok": True})
        if p[0] == "status" and len(p) == 2 and p[1].isdigit():
            self.hit("status-" + p[1])
            return self.answer(int(p[1]), {"status": int(p[1])})
        if p[0] == "flaky" and len(p) == 3 and p[2].isdigit():
            n = self.hit(p[1])
            return self.answer(503 if n <= int(p[2]) else 200, {"hit": n})
        if p[0] == "slow" and len(p) == 2:
            time.sleep(float(p[1]))
            return self.answer(200, {"slept": float(p[1])})
        if p[0] == "things" and len(p) == 2:
            with lock:
                obj = things.get(p[1])
            return self.answer(200, obj) if obj is not None else self.answer(404, {"message": "no such thing"})
        if p == ["_hits"]:
            with lock:
                return self.answer(200, dict(hits))
        if p == ["_things"]:
            with lock:
                return self.answer(200, dict(things))
        return self.answer(404, {"message": "unknown path"})

    def do_POST(self):
        p = self.path.split("?")[0].strip("/").split("/")
        if p[0] == "status" and len(p) == 2 and p[1].isdigit():
            self.body()
            self.hit("status-" + p[1])
            return self.answer(int(p[1]), {"status": int(p[1])})
        if p == ["things"]:
            obj = self.body()
            with lock:
                obj["id"] = str(next_id[0])
                next_id[0] += 1
                things[obj["id"]] = obj
            return self.answer(201, obj)
        return self.answer(404, {"message": "unknown path"})

    def do_PUT(self):
        p = self.path.split("?")[0].strip("/").split("/")
        if p[0] == "things" and len(p) == 2:
            obj = self.body()
            with lock:
                if p[1] not in things:
                    return self.answer(404, {"message": "no such thing"})
                obj["id"] = p[1]
                things[p[1]] = obj
            return self.answer(200, obj)
        return self.answer(404, {"message": "unknown path"})

    def do_DELETE(self):
        p = self.path.split("?")[0].strip("/").split("/")
        if p[0] == "things" and len(p) == 2:
            with lock:
                things.pop(p[1], None)
            return self.answer(204)
        return self.answer(404, {"message": "unknown path"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
