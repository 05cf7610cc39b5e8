#!/usr/bin/env python3
"""An upstream application in Python's standard library, to put behind the server's reverse proxy: the
experiment of the tutorials this project grew from (Python's threads, processes and event loop on CPU-bound and
I/O-bound work), over HTTP.

Endpoints (GET; HTTP/1.1 keep-alive, or HTTP/1.0 and Connection: close):
  /cpu?n=N    N iterations of a pure-Python loop (CPU-bound: under the GIL, threads take turns); default 100000
  /io?ms=N    waits N ms without CPU (I/O-bound: a database or an upstream service); default 100
  /           a short answer (health check)
Anything else is 404, a bad N 400 (n from 0 to 100000000, ms from 0 to 60000).

Models (--model):
  threads     http.server.ThreadingHTTPServer: a thread per connection
  processes   a pool of --workers pre-forked processes sharing the listening socket, each serving one connection
              at a time (the prefork model; default 8 workers)
  fork        socketserver.ForkingMixIn: a new process per connection
  asyncio     one asyncio event loop; /io awaits asyncio.sleep, /cpu runs on the loop and blocks it

Usage: loadtest/upstream.py --model threads --port 9001 [--host 127.0.0.1] [--workers 8]
SIGTERM (or SIGINT) stops it and the processes it started. Listens on 127.0.0.1 unless told otherwise.
"""
import argparse
import asyncio
import http.server
import os
import signal
import socket
import socketserver
import sys
import time
import urllib.parse

MAX_N = 100000000
MAX_MS = 60000


def burn(n):
    """n iterations of arithmetic in the interpreter: CPU-bound work that holds the GIL."""
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


def route(target):
    """(status, kind, value) for a request target: kind "cpu", "io", "root" or None with an error status."""
    u = urllib.parse.urlsplit(target)
    q = urllib.parse.parse_qs(u.query)

    def arg(name, default, top):
        v = q.get(name, [str(default)])[-1]
        if not v.isdigit() or int(v) > top:
            raise ValueError("%s must be a whole number from 0 to %d" % (name, top))
        return int(v)

    try:
        if u.path == "/cpu":
            return 200, "cpu", arg("n", 100000, MAX_N)
        if u.path == "/io":
            return 200, "io", arg("ms", 100, MAX_MS)
    except ValueError as e:
        return 400, None, str(e)
    if u.path == "/":
        return 200, "root", None
    return 404, None, "not found"


def body_for(kind, value, model, started):
    if kind == "cpu":
        return "cpu n=%d result=%d model=%s pid=%d\n" % (value, burn(value), model, os.getpid())
    if kind == "io":
        return "io ms=%d waited=%.1f model=%s pid=%d\n" % (value, (time.time() - started) * 1000, model,
                                                           os.getpid())
    return "upstream %s pid=%d\n" % (model, os.getpid())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream.py"
    model = "threads"
    # the head and the body are two writes: with Nagle's algorithm the body would wait for the peer's delayed ACK
    # (40 ms on Linux) on every keep-alive request after the first
    disable_nagle_algorithm = True

    def do_GET(self):
        started = time.time()
        status, kind, value = route(self.path)
        if kind == "io":
            time.sleep(value / 1000.0)
        text = body_for(kind, value, self.model, started) if kind else value + "\n"
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass  # no log line per request: the load would be the logging's


class ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


class ForkingServer(socketserver.ForkingMixIn, http.server.HTTPServer):
    request_queue_size = 1024
    max_children = 4096


def serve_threads(a):
    Handler.model = "threads"
    ThreadingServer((a.host, a.port), Handler).serve_forever()


def serve_fork(a):
    Handler.model = "fork"
    ForkingServer((a.host, a.port), Handler).serve_forever()


def serve_processes(a):
    """--workers children, each accepting on the shared socket and serving one connection at a time."""
    Handler.model = "processes"
    server = http.server.HTTPServer((a.host, a.port), Handler, bind_and_activate=False)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.server_bind()
    server.socket.listen(1024)
    children = []
    for _ in range(a.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                server.serve_forever()
            finally:
                os._exit(0)
        children.append(pid)

    def stop(signum, frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


async def handle(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            started = time.time()
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k:
                    headers[k.strip().lower()] = v.strip()
            length = headers.get("content-length", "0")
            if length.isdigit() and int(length):
                await reader.readexactly(int(length))
            close = parts[2] == "HTTP/1.0" or headers.get("connection", "").lower() == "close"
            if parts[0] not in ("GET", "HEAD"):
                status, kind, value = 405, None, "GET only"
            else:
                status, kind, value = route(parts[1])
            if kind == "io":
                await asyncio.sleep(value / 1000.0)
            data = (body_for(kind, value, "asyncio", started) if kind else value + "\n").encode()
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
            writer.write(("HTTP/1.1 %d %s\r\nServer: upstream.py\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %d\r\n%s\r\n" % (status, reason, len(data),
                                                            "Connection: close\r\n" if close else "")).encode()
                         + (data if parts[0] == "GET" else b""))
            await writer.drain()
            if close:
                return
    finally:
        writer.close()


def serve_asyncio(a):
    async def main():
        server = await asyncio.start_server(handle, a.host, a.port, backlog=1024, reuse_address=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


MODELS = {"threads": serve_threads, "processes": serve_processes, "fork": serve_fork, "asyncio": serve_asyncio}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--workers", type=int, default=8, help="processes: the pool's size (default 8)")
    a = p.parse_args()
    if a.workers < 1:
        p.error("--workers is at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        MODELS[a.model](a)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
