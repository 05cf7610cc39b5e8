#!/usr/bin/env python3
"""An HTTP/1.1 upstream for the proxy's integration tests that misbehaves on purpose (stdlib only).

    proxy_upstream.py PORTFILE LOGFILE

Listens on a free 127.0.0.1 port, writes it to PORTFILE, and serves until killed. Every request it reads is
logged to LOGFILE as one line "CONN-NUMBER METHOD TARGET BODY-LENGTH", so a test can count what reached it.
A connection is kept alive for 200 ms after each response and then closed by the upstream (a pooled connection
closed between requests). The path chooses the behaviour:

    /echo         200 with the request head as received, "--", then the body (de-chunked)
    /slowhead     waits ?ms= before the head
    /midclose     announces 100000 bytes, sends 1000 and closes
    /crlf         a header value with a bare CR in it
    /via          200 with two Via lines of its own ("1.0 cache", then "1.1 app")
    /cookies      200 with three Set-Cookie lines: Path=/base/x with Domain=backend.internal, Path=/other,
                  and one without attributes
    /hugehead     a header line of 20000 bytes
    /nolength     a body without Content-Length or chunking, ended by closing
    /continue     "100 Continue" (and a 103) before the final response
    /trailers     a chunked body with a trailer section
    /dropnext     answers, then reads the next request on the connection and closes without answering
    /big          ?n= bytes, chunked in 8 KiB pieces; "N sent TARGET" is logged once all of it was sent
    /status       ?s= as the status line's code and reason phrase ("299 Custom Words")
    /segments     200 "segments N": the TCP segments its connection had received when the request was read
                  (Linux's tcpi_segs_in), which on a new connection tells whether the client's handshake ended
                  with an ACK of its own (3) or one that came with the request (2)
    /twowrites    200 whose head and body leave in two send()s, with Nagle's algorithm on (as a server that
                  writes them apart does): the body waits in the kernel until the head is acknowledged
    anything else 200 "ok PATH"
"""

import os
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

KEEPALIVE = 0.2
PATTERN = bytes(range(251)) * 40  # byte i of a /big body is i % 251
TCPI_SEGS_IN = 140  # the offset of tcpi_segs_in in Linux's struct tcp_info (linux/tcp.h)
conn_counter = 0
lock = threading.Lock()


def log(logfile, line):
    with lock:
        with open(logfile, "a") as f:
            f.write(line + "\n")


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_request(r):
    head = r.until(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int(r.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while r.until(b"\r\n") != b"\r\n":
                    pass
                break
            body += r.exactly(size)
            r.exactly(2)
    elif "content-length" in headers:
        body = r.exactly(int(headers["content-length"]))
    return method, target, headers, head, body


def respond(sock, status, body, extra=b""):
    sock.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra +
                 b"\r\n" + body)


def serve(sock, logfile):
    global conn_counter
    with lock:
        conn_counter += 1
        number = conn_counter
    r = Reader(sock)
    drop_next = False
    try:
        while True:
            sock.settimeout(KEEPALIVE)  # for the first bytes of the next request only
            try:
                if not r.buf:
                    r.fill()
            except socket.timeout:
                return
            sock.settimeout(None)
            method, target, headers, head, body = read_request(r)
            log(logfile, "%d %s %s %d" % (number, method, target, len(body)))
            if drop_next:
                return
            url = urlsplit(target)
            q = parse_qs(url.query)
            path = url.path
            if path.endswith("/echo"):
                respond(sock, b"200 OK", head + b"--\n" + body, b"Content-Type: text/plain\r\n")
            elif path.endswith("/slowhead"):
                time.sleep(int(q.get("ms", ["1000"])[0]) / 1000)
                respond(sock, b"200 OK", b"slow\n")
            elif path.endswith("/midclose"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"m" * 1000)
                time.sleep(0.1)
                return
            elif path.endswith("/status"):
                respond(sock, q.get("s", ["200 OK"])[0].encode("latin-1"), b"status\n")
            elif path.endswith("/segments"):
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
                respond(sock, b"200 OK", b"segments %d\n" % struct.unpack_from("I", info, TCPI_SEGS_IN)[0])
            elif path.endswith("/twowrites"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                sock.sendall(b"body\n")
            elif path.endswith("/cookies"):
                respond(sock, b"200 OK", b"cookies\n",
                        b"Set-Cookie: a=1; Path=/base/x; Domain=backend.internal; HttpOnly\r\n"
                        b"Set-Cookie: b=2; path=/other\r\nSet-Cookie: c=3\r\n")
            elif path.endswith("/via"):
                respond(sock, b"200 OK", b"via\n", b"Via: 1.0 cache\r\nVia: 1.1 app\r\n")
            elif path.endswith("/crlf"):
                respond(sock, b"200 OK", b"bad\n", b"X-Bad: a\rSet-Cookie: injected\r\n")
            elif path.endswith("/hugehead"):
                respond(sock, b"200 OK", b"huge\n", b"X-Huge: " + b"h" * 20000 + b"\r\n")
            elif path.endswith("/nolength"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: proxy_upstream\r\n"
                             b"Content-Type: text/plain\r\nConnection: close\r\n\r\n")
                for i in range(5):
                    sock.sendall(b"part %d\n" % i)
                    time.sleep(0.02)
                return
            elif path.endswith("/continue"):
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
                respond(sock, b"200 OK", b"after interim\n")
            elif path.endswith("/trailers"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                             b"6\r\nchunk1\r\n6;x=y\r\nchunk2\r\n0\r\nX-Sum: 12\r\n\r\n")
            elif path.endswith("/dropnext"):
                respond(sock, b"200 OK", b"first\n")
                drop_next = True
            elif path.endswith("/big"):
                n = int(q.get("n", ["100000"])[0])
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                sent = 0
                while sent < n:
                    k = min(8192, n - sent)
                    off = sent % 251
                    sock.sendall(b"%x\r\n" % k + PATTERN[off:off + k] + b"\r\n")
                    sent += k
                sock.sendall(b"0\r\n\r\n")
                log(logfile, "%d sent %s" % (number, target))
            else:
                respond(sock, b"200 OK", b"ok " + path.encode() + b"\n")
    except (EOFError, ConnectionError, ValueError):
        return
    finally:
        sock.close()


def main():
    portfile, logfile = sys.argv[1], sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    open(logfile, "w").close()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        s, _ = srv.accept()
        threading.Thread(target=serve, args=(s, logfile), daemon=True).start()


if __name__ == "__main__":
    main()
