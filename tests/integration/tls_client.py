#!/usr/bin/env python3
"""The TLS client of tests/integration/test_tls.c (Python's ssl module), one command per use:

  get PORT PATH OUT [--tls-max 1.2] [--alpn P,...]
      one connection, GET PATH with Connection: close; the raw response bytes go to OUT; prints
      "VERSION ALPN" (ALPN "-" when none was selected)
  pipeline PORT N OUT
      one connection, N requests for /index.html written at once (each with a 600-byte header, so that they
      fill a TLS record larger than the server reads at a time; the last says Connection: close); the raw
      bytes answered, to the close, go to OUT
  resume PORT N [--tls-max 1.2]
      N connections, each offering the session of the one before and held open (so that every connection is
      answered by a child that holds none of the others, where the configuration makes it so); prints
      "reused R renewed K" (R connections resumed their session, K of them were sent a new ticket: their
      session is not the one they offered)
  nagle PORT N [--tls-max 1.2]
      N connections one after another, each offering the session of the one before, with Nagle's algorithm
      on (Python's default): the request is written on its own after the handshake; prints "reused R ms M"
      (M the median of the milliseconds from the request's write to the first bytes of its answer)
  loop PORT SECONDS
      GET /index.html on a new connection after another for SECONDS from the first answer, counting answers
      and failures; prints
      "started" after the first answer, then "ok N failed F serials S1,S2" (the certificate serial numbers
      seen, in order of first appearance)

The CA is conf/ca.pem under the server directory given by the environment variable TLS_DIR; the name is
localhost, connected on 127.0.0.1."""
import os
import socket
import ssl
import sys
import time


def context(tls_max=None, alpn=None):
    ctx = ssl.create_default_context(cafile=os.path.join(os.environ["TLS_DIR"], "conf", "ca.pem"))
    if tls_max == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn.split(","))
    return ctx


def connect(ctx, port, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost", session=session)


def read_response(t, close):
    """Reads one response: to EOF when the request said close, else by its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = t.recv(65536)
        if not chunk:
            return data
        data += chunk
    if close:
        while True:
            chunk = t.recv(65536)
            if not chunk:
                return data
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = t.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def opt(args, name):
    return args[args.index(name) + 1] if name in args else None


def main(argv):
    cmd, port = argv[1], int(argv[2])
    if cmd == "get":
        path, out = argv[3], argv[4]
        t = connect(context(opt(argv, "--tls-max"), opt(argv, "--alpn")), port)
        t.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = read_response(t, True)
        with open(out, "wb") as f:
            f.write(data)
        print(t.version(), t.selected_alpn_protocol() or "-")
        t.close()
    elif cmd == "pipeline":
        n, out = int(argv[3]), argv[4]
        t = connect(context(), port)
        pad = b"X-Pad: " + b"p" * 600 + b"\r\n"
        reqs = b"".join(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n" + pad +
                        (b"Connection: close\r\n" if i == n - 1 else b"") + b"\r\n" for i in range(n))
        t.sendall(reqs)
        data = read_response(t, True)
        with open(out, "wb") as f:
            f.write(data)
        t.close()
    elif cmd == "resume":
        n = int(argv[3])
        ctx = context(opt(argv, "--tls-max"))
        held, session, reused, renewed = [], None, 0, 0
        for _ in range(n):
            t = connect(ctx, port, session)
            t.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if not read_response(t, False).startswith(b"HTTP/1.1 200 "):
                print("no 200 answer")
                return 1
            reused += t.session_reused
            renewed += t.session_reused and t.session.id != session.id
            session = t.session  # TLS 1.3: the ticket came with the answer
            held.append(t)
        print("reused", reused, "renewed", renewed)
        for t in held:
            t.close()
    elif cmd == "nagle":
        n = int(argv[3])
        ctx = context(opt(argv, "--tls-max"))
        session, reused, times = None, 0, []
        for _ in range(n):
            t = connect(ctx, port, session)
            start = time.monotonic()
            t.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            first = t.recv(65536)
            times.append((time.monotonic() - start) * 1000)
            if not (first + read_response(t, True)).startswith(b"HTTP/1.1 200 "):
                print("no 200 answer")
                return 1
            reused += t.session_reused
            session = t.session
            t.close()
        print("reused", reused, "ms", sorted(times)[n // 2])
    elif cmd == "loop":
        end = time.monotonic() + 30  # until the first answer; then SECONDS from it
        ctx = context()
        ok = failed = 0
        serials = []
        while time.monotonic() < end:
            try:
                t = connect(ctx, port)
                serial = "%x" % int(t.getpeercert()["serialNumber"], 16)
                t.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                if read_response(t, True).startswith(b"HTTP/1.1 200 "):
                    ok += 1
                    if serial not in serials:
                        serials.append(serial)
                    if ok == 1:
                        end = time.monotonic() + float(argv[3])
                        print("started", flush=True)
                else:
                    failed += 1
                t.close()
            except (OSError, ssl.SSLError) as e:
                failed += 1
                print("failure:", e, file=sys.stderr)
        print("ok", ok, "failed", failed, "serials", ",".join(serials))
    else:
        print("unknown command", cmd)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
