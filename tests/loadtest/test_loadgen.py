#!/usr/bin/env python3
"""Test of loadtest/loadgen.c, the open-loop generator, against the real server (event, one child) on 127.0.0.1:

1. Latency counted from when each request was due: 20 requests/s for 1 s of /delay?ms=100 through a single
   connection (-c 1) can be served only one at a time, 10 a second, so request k waits in the client's queue
   and is answered about 0.1 + 0.05 k s after it was due: the p50 near 0.55 s and the max near 1.05 s, not the
   100 ms of service time a closed-loop client would report; all 20 counted, the queue still holding some at the
   end, none lost.
2. Unloaded, the same rate over as many connections as needed: every latency near 100 ms, no queue.
3. Keep-alive at 1,000 req/s: every request answered although the server closes each connection after
   MaxKeepAliveRequests 100; Connection: close (-C): a connection per request, all answered; 404s counted as
   non-2xx.
4. A timeout: /delay?ms=3000 with -t 1: given up after 1 s, counted as timeouts and in the percentiles with
   the time waited (at least 1 s).
5. Closed loop (-L 4): /delay?ms=100 with 4 requests always outstanding for 1 s: about 40 answered over at most 4
   connections, every latency near the 100 ms of service (counted from when each was sent, nothing queued
   here), duration_s covering the answers that came after the second, offered_rps 0.
6. TLS (-S) against an https listener with an ECDSA P-256 certificate made by the openssl CLI: with -C a
   handshake per request, every one answered; keep-alive, all answered over a few connections; -S against the
   plain listener fails every handshake, counted as connect errors (so -S does speak TLS); -L 4 -C -S: a
   handshake per request, closed loop, every one answered.

Exits 77 (skipped) without a C compiler. Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import HTTPD, SRCDIR, check, counts  # noqa: E402

sys.path.insert(0, os.path.join(SRCDIR, "loadtest"))
import capacity  # noqa: E402
import httpdbench as hb  # noqa: E402


def loadgen(binary, port, *args):
    run = subprocess.run([binary, "-p", str(port)] + list(args), capture_output=True, text=True, timeout=60)
    try:
        return json.loads(run.stdout)
    except ValueError:
        check("loadgen %s printed its JSON line" % " ".join(args), False, run.stdout + run.stderr)
        return {}


def tls(binary, d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                          capture_output=True, text=True, timeout=60)
    if not check("tls: openssl makes the certificate", made.returncode == 0, made.stderr):
        return
    port, plain = hb.free_port(), hb.free_port()
    conf = hb.httpd_conf("event", port, d, os.path.join(SRCDIR, "htdocs"), 5, ["StartServers 1"])
    conf = conf.replace("Listen 127.0.0.1:%d\n" % port, "Listen 127.0.0.1:%d https\nListen 127.0.0.1:%d\n"
                        % (port, plain))
    conf += 'SSLEngine on\nSSLCertificateFile "%s"\nSSLCertificateKeyFile "%s"\nSSLSessionTickets off\n' % (
        cert, key)
    proc = hb.launch([HTTPD, "-f", hb.write(os.path.join(d, "tls.conf"), conf), "-D", "FOREGROUND"], port, d)
    try:
        r = loadgen(binary, port, "-u", "/1k.html", "-r", "50", "-d", "1", "-C", "-S")
        check("tls: a handshake per request (-C), every one answered", r.get("requests") == 50
              and sum(r.get("errors", {"x": 1}).values()) == 0 and r.get("non2xx") == 0
              and r.get("bytes", 0) > 50 * 1024, r)
        r = loadgen(binary, port, "-u", "/1k.html", "-L", "4", "-d", "1", "-C", "-S")
        check("tls: closed loop, a handshake per request (-L 4 -C), every one answered", r.get("requests", 0) > 4
              and sum(r.get("errors", {"x": 1}).values()) == 0 and r.get("non2xx") == 0
              and r.get("connections_peak") == 4, r)
        r = loadgen(binary, port, "-u", "/1k.html", "-r", "200", "-d", "1", "-S")
        check("tls: keep-alive, all answered over a few connections", r.get("requests") == 200
              and sum(r.get("errors", {"x": 1}).values()) == 0 and 1 <= r.get("connections_peak", 0) <= 20, r)
        r = loadgen(binary, plain, "-u", "/1k.html", "-r", "20", "-d", "1", "-S", "-t", "2")
        check("tls: against a plain listener every handshake fails, as connect errors",
              r.get("requests") == 0 and r.get("errors", {}).get("connect") == 20, r)
    finally:
        hb.stop(proc)


def main():
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("SKIP: no C compiler to build loadtest/loadgen.c")
        return 77
    with tempfile.TemporaryDirectory(prefix="test_loadgen.") as d:
        binary, why = capacity.build_loadgen(d)
        if not check("loadgen.c compiles", binary is not None, why):
            return 1
        port = hb.free_port()
        conf = hb.httpd_conf("event", port, d, os.path.join(SRCDIR, "htdocs"), 5, ["StartServers 1"])
        conf += "<Location /delay>\n    SetHandler delay\n</Location>\n"
        proc = hb.launch([HTTPD, "-f", hb.write(os.path.join(d, "httpd.conf"), conf), "-D", "FOREGROUND"], port, d)
        try:
            r = loadgen(binary, port, "-u", "/delay?ms=100", "-r", "20", "-d", "1", "-c", "1")
            lat = r.get("latency_us", {})
            check("queued: all 20 requests answered and counted", r.get("scheduled") == 20
                  and r.get("requests") == 20 and r.get("samples") == 20, r)
            check("queued: the wait in the client's queue is in the latency (p50 near 0.55 s, max near 1.05 s)",
                  400000 <= lat.get("p50", 0) <= 900000 and 900000 <= lat.get("max", 0) <= 2000000, lat)
            check("queued: requests still queued when the run ended, said", r.get("queued_end", 0) > 0
                  and r.get("owed_end", 0) >= r.get("queued_end", 0) and r.get("client_queue_peak", 0) > 0, r)
            check("queued: no error", sum(r.get("errors", {"x": 1}).values()) == 0 and r.get("non2xx") == 0, r)

            r = loadgen(binary, port, "-u", "/delay?ms=100", "-r", "20", "-d", "1")
            lat = r.get("latency_us", {})
            check("unloaded: every latency near the 100 ms of service", r.get("requests") == 20
                  and 99000 <= lat.get("p50", 0) and lat.get("max", 10 ** 9) < 400000
                  and r.get("client_queue_peak") == 0 and r.get("connections_peak", 0) >= 2, r)

            r = loadgen(binary, port, "-u", "/1k.html", "-r", "1000", "-d", "1")
            check("keep-alive: the server's Connection: close after 100 requests followed, nothing lost",
                  r.get("requests") == 1000 and sum(r.get("errors", {"x": 1}).values()) == 0
                  and r.get("non2xx") == 0 and r.get("bytes", 0) > 1000 * 1024, r)

            r = loadgen(binary, port, "-u", "/no-such-page", "-r", "50", "-d", "1", "-C")
            check("Connection: close: every request answered, 404s counted as non-2xx",
                  r.get("requests") == 50 and r.get("non2xx") == 50 and sum(r.get("errors", {"x": 1}).values()) == 0,
                  r)

            r = loadgen(binary, port, "-u", "/delay?ms=3000", "-r", "5", "-d", "1", "-t", "1")
            lat = r.get("latency_us", {})
            check("timeout: given up after -t, counted, and in the percentiles with the wait",
                  r.get("errors", {}).get("timeout") == 5 and r.get("requests") == 0 and r.get("samples") == 5
                  and lat.get("p50", 0) >= 1000000, r)

            r = loadgen(binary, port, "-u", "/delay?ms=100", "-L", "4", "-d", "1")
            lat = r.get("latency_us", {})
            check("closed loop: about 40 answered over at most 4 connections, latency the service time",
                  30 <= r.get("requests", 0) <= 44 and r.get("connections_peak") <= 4
                  and 99000 <= lat.get("p50", 0) and lat.get("max", 10 ** 9) < 400000
                  and r.get("client_queue_peak") == 0 and r.get("offered_rps") == 0
                  and r.get("duration_s", 0) >= 1.0 and sum(r.get("errors", {"x": 1}).values()) == 0, r)
        finally:
            hb.stop(proc)
        tls(binary, d)
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
