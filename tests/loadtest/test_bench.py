#!/usr/bin/env python3
"""Smoke test of loadtest/bench, bounded and on 127.0.0.1 only; needs neither nginx nor apache2.

1. The model mode, cheaply: --model event --workloads keepalive-1k, one round of 1 s a target, nginx pointed at
   a path that does not exist (so it must be reported and skipped) and limitsrv compiled by bench (skipped, and
   checked as skipped, without a C compiler). Checks the exit status, the ratio table's shape (a row per
   workload, a column per peer) and the server CPU ratio table's (the same), the per-target table, the JSON keys,
   and that both ratios are the ones the two measurements give.
2. The --idle failure: a worker model with 2 threads and 2 idle keep-alive connections holding both, so wrk gets
   no response at all; bench must report the run as failed (exit status 1, "failed" in the table and the JSON),
   not as 0 req/s without errors.
3. The proxy workloads: --workloads proxy through httpd-event (and nginx when /usr/sbin/nginx is installed), 4
   connections for proxy-1k and 20 for proxy-delay, 1 s each, one upstream child. Checks the proxy table, the
   JSON's upstream figures (the upstream served requests in the window, no more than wrk sent; its new connections
   at most one per client connection, plus nginx's one per 1000 requests; the Little's-law bound and memory per
   request in flight for proxy-delay) and that bench stopped the upstream.
4. TLS, bounded (about 10 s): httpd-event against nginx (if installed) on tls-keepalive-1k and tls-handshake, 1 s
   each, 10 connections: both served over https with the run's certificate, every run ok with requests and the
   server's CPU per request (per handshake) measured, the ratio (or nginx skipped), the TLS table and the kernel
   TLS line printed, and the JSON's TLS keys.
5. Both in one run: --workloads proxy-1k,tls-keepalive-1k through httpd-event, 1 s each: the upstream started
   and stopped, the https listener served, the proxy table and the TLS table both printed, the JSON's upstream and
   TLS keys. (3 checks that a run without a tls-* workload has no TLS keys, 4 that one without a proxy workload
   starts no upstream.)
6. The workload groups, from bench's own argument parsing (no server): plain (the default with --model), proxy,
   tls, all (every workload), names and groups mixed, duplicates dropped, an unknown name refused.
7. limitsrv itself (with a C compiler): 5 pipelined heads on one connection get 5 responses without MAXREQ; with
   MAXREQ 3, 3 responses, only the third with "Connection: close", and then the close; bench passes the targets'
   requests per connection as MAXREQ.
8. The proxy targets pass the upstream the same request: httpd-event, and nginx and Apache's event when installed,
   started from bench's configurations against an upstream that records each head: one request each, with the
   same X-Forwarded-For, -Host and -Server (httpd's and Apache's ProxyAddHeaders default; nginx's configured so).

The server under test is $HTTPD_BIN (set by make check), else server/httpd of the source tree. Exits 77 (skipped)
without wrk. Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import HTTPD, SRCDIR, check, load, run  # noqa: E402

BENCH = os.path.join(SRCDIR, "loadtest", "bench")
META_KEYS = ["date", "command", "cpus", "connections", "duration", "warmup", "rounds", "wrk_threads", "idle",
             "workloads", "groups", "skipped", "elapsed_seconds", "upstream"]
MEASUREMENT_KEYS = ["round", "model", "workload", "target", "path", "status", "message", "requests", "duration_s",
                    "rps", "bytes", "latency_us", "errors", "non2xx", "server_cpu_s", "client_cpu_s",
                    "other_cpu_s", "rss_peak_kib", "procs_peak", "threads_peak", "rss_kib", "processes",
                    "idle_held", "idle_answered", "idle_bytes_each", "connections", "rss_idle_kib",
                    "upstream_requests", "upstream_connections", "upstream_new_per_100", "bound_rps",
                    "bound_fraction", "inflight", "bytes_per_inflight", "upstream_cpu_s", "upstream_cpu_us_per_request"]
RATIO_KEYS = ["model", "workload", "base", "peer", "status", "per_round", "median", "min", "max"]
RATIO_CELL = r"\d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)"
TLS_META_KEYS = ["certificate", "protocols", "ciphers_tls12", "ciphers_tls13", "session_cache", "session_tickets",
                 "kernel_tls"]

def bench(args, json_path, timeout):
    cmd = [sys.executable, BENCH, "--httpd", HTTPD, "-d", "1s", "-r", "1", "--warmup", "0", "--json", json_path]
    cmd += args
    print("running: %s" % " ".join(cmd))
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        check("bench finishes within %d s" % timeout, False)
        return None, {}
    sys.stdout.write(run.stderr)
    try:
        with open(json_path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        check("JSON written and valid", False, e)
        doc = {}
    return run, doc


def table_rows(text, header_start):
    """The rows (lists of cells) of the Markdown table whose header starts with header_start, header first."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header_start):
            rows = []
            for row in lines[i:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip("|").split("|")])
            return [rows[0]] + rows[2:]  # without the alignment row
    return []


def model_mode(out):
    has_cc = shutil.which(os.environ.get("CC", "cc")) is not None
    run, doc = bench(["--model", "event", "--workloads", "keepalive-1k", "-c", "10", "--nginx",
                      "/nonexistent/nginx"], os.path.join(out, "model.json"), 60)
    if run is None:
        return
    if not check("bench --model event exits 0", run.returncode == 0, "status %d" % run.returncode):
        sys.stdout.write(run.stdout)
    check("nginx reported as skipped", "nginx skipped: /nonexistent/nginx is not installed" in run.stdout
          and "nginx skipped" in run.stderr, run.stdout[-300:])

    ratio = table_rows(run.stdout, "| workload | httpd-event ÷")
    if check("ratio table: a column per peer", ratio and ratio[0] == ["workload", "httpd-event ÷ nginx",
                                                                      "httpd-event ÷ limitsrv"], ratio):
        check("ratio table: one row, the workload's", len(ratio) == 2 and ratio[1][0] == "keep-alive 1 KiB",
              ratio)
        if len(ratio) == 2:
            check("ratio table: nginx skipped", ratio[1][1] == "skipped", ratio[1])
            if has_cc:
                check("ratio table: median (min–max) against limitsrv", re.fullmatch(RATIO_CELL, ratio[1][2]),
                      ratio[1])
            else:
                check("ratio table: limitsrv skipped without a C compiler", ratio[1][2] == "skipped", ratio[1])
    targets = table_rows(run.stdout, "| workload | target | req/s |")
    rows = {r[1]: r for r in targets[1:]}
    check("per-target table: httpd-event%s measured" % (" and limitsrv" if has_cc else ""),
          sorted(rows) == (["httpd-event", "limitsrv"] if has_cc else ["httpd-event"]), targets)
    if "httpd-event" in rows:
        r = rows["httpd-event"]
        check("per-target row: req/s and RSS non-zero, no failed run",
              r[2].isdigit() and int(r[2]) > 0 and float(r[5]) > 0 and r[8] == "0/1", r)

    cpu_ratio = table_rows(run.stdout[run.stdout.find("Server CPU per request, B's divided by A's"):],
                           "| workload | httpd-event ÷")
    if check("server CPU ratio table: the same shape", [r[:1] for r in cpu_ratio] == [r[:1] for r in ratio]
             and cpu_ratio[:1] == ratio[:1], (cpu_ratio, ratio)) and len(cpu_ratio) == 2:
        check("server CPU ratio table: nginx skipped", cpu_ratio[1][1] == "skipped", cpu_ratio[1])
        if has_cc:
            check("server CPU ratio table: median (min–max) against limitsrv",
                  re.fullmatch(RATIO_CELL, cpu_ratio[1][2]), cpu_ratio[1])

    meta, ms, rs = doc.get("meta", {}), doc.get("measurements", []), doc.get("ratios", [])
    cpu_rs = doc.get("cpu_ratios", [])
    cpu_rows = table_rows(run.stdout, "| workload | target | req/s | server CPU")
    check("the CPU table has a row per target run, each with the server's CPU per request",
          len(cpu_rows) == 1 + len(ms) and all(float(r[3].split()[0]) > 0 for r in cpu_rows[1:]), cpu_rows)
    check("the CPU table: the client's busy CPUs, between 0 and wrk's one thread (and the JSON's)",
          cpu_rows and cpu_rows[0][5] == "client CPUs busy"
          and all(0 < float(r[5].split()[0]) <= 1.1 for r in cpu_rows[1:])
          and all(0 < m.get("client_cpus_busy", 0) <= 1.1 for m in ms), (cpu_rows, [m.get("client_cpus_busy")
                                                                                  for m in ms]))
    check("JSON meta keys", all(k in meta for k in META_KEYS), [k for k in META_KEYS if k not in meta])
    check("JSON meta: nginx skipped", "nginx" in meta.get("skipped", {}), meta.get("skipped"))
    check("JSON: one measurement per target run", sorted(m.get("target") for m in ms)
          == (["httpd-event", "limitsrv"] if has_cc else ["httpd-event"]), ms)
    for m in ms:
        check("JSON measurement keys (%s)" % m.get("target"), all(k in m for k in MEASUREMENT_KEYS),
              [k for k in MEASUREMENT_KEYS if k not in m])
        lat, err = m.get("latency_us", {}), m.get("errors", {})
        check("JSON %s: ok, requests, req/s, latency, RSS and processes measured" % m.get("target"),
              m.get("status") == "ok" and m.get("requests", 0) > 0 and m.get("rps", 0) > 0
              and 0 < lat.get("p50", 0) <= lat.get("p99", 0) and m.get("rss_peak_kib", 0) > 0
              and m.get("procs_peak", 0) >= 2 and all(k in err for k in ("connect", "read", "write", "timeout")), m)
    by_peer = {r.get("peer"): r for r in rs}
    check("JSON ratio keys", rs and all(all(k in r for k in RATIO_KEYS) for r in rs), rs)
    check("JSON ratio against nginx: skipped", by_peer.get("nginx", {}).get("status") == "skipped", rs)
    if has_cc:
        rps = {m.get("target"): m.get("rps", 0) for m in ms}
        lim = by_peer.get("limitsrv", {})
        want = round(rps.get("httpd-event", 0) / rps["limitsrv"], 3) if rps.get("limitsrv") else None
        check("JSON ratio against limitsrv: httpd-event's req/s / limitsrv's", lim.get("status") == "ok"
              and lim.get("per_round") == [want] and lim.get("median") == want == lim.get("min") == lim.get("max"),
              (lim, rps))
        cpu = {m.get("target"): m.get("server_cpu_s", 0) / m["requests"] for m in ms if m.get("requests")}
        lim = {r.get("peer"): r for r in cpu_rs}.get("limitsrv", {})
        want = round(cpu["limitsrv"] / cpu["httpd-event"], 3) if cpu.get("httpd-event") and cpu.get("limitsrv") \
            else None
        check("JSON server CPU ratio against limitsrv: limitsrv's CPU a request / httpd-event's",
              want is not None and lim.get("status") == "ok" and lim.get("per_round") == [want]
              and all(k in lim for k in RATIO_KEYS), (lim, cpu))


def idle_failure(out):
    run, doc = bench(["-c", "4", "--start-servers", "1", "--max-workers", "2", "--threads-per-child", "2",
                      "--idle", "2", "--keepalive-timeout", "30", "httpd-worker"], os.path.join(out, "idle.json"), 60)
    if run is None:
        return
    check("bench exits 1 when a run got no response", run.returncode == 1, "status %d" % run.returncode)
    rows = table_rows(run.stdout, "| workload | target | req/s |")
    check("the row says failed and why, not 0 req/s",
          len(rows) == 2 and rows[1][2] == "failed" and rows[1][8].startswith("1/1: no response"), rows)
    ms = doc.get("measurements", [])
    check("JSON: the measurement is failed, with 0 requests and the idle connections held",
          len(ms) == 1 and ms[0].get("status") == "failed" and ms[0].get("requests") == 0
          and "no response" in ms[0].get("message", "") and ms[0].get("idle_held") == 2, ms)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def proxy(out):
    """Both proxy workloads through httpd-event (and nginx when it is installed), a few connections, 1 s each."""
    has_nginx = os.access("/usr/sbin/nginx", os.X_OK)
    targets = ["httpd-event"] + (["nginx"] if has_nginx else [])
    run, doc = bench(["--workloads", "proxy", "-c", "4", "--delay-connections", "20", "--workers", "1"] + targets,
                     os.path.join(out, "proxy.json"), 30)
    if run is None:
        return
    if not check("bench --workloads proxy exits 0", run.returncode == 0, "status %d" % run.returncode):
        sys.stdout.write(run.stdout)
    found = re.search(r"upstream \(httpd event, 1 children\) on 127\.0\.0\.1:(\d+), pid (\d+)", run.stderr)
    if check("the upstream's port and pid are logged", found, run.stderr[-300:]):
        check("the upstream is stopped at the end", not pid_alive(int(found.group(2))), found.group(2))
    rows = table_rows(run.stdout, "| workload | target | req/s | bound req/s |")
    check("proxy table: a row per workload and target", len(rows) == 1 + 2 * len(targets), rows)
    check("proxy table: the upstream's CPU per request, a number in each row",
          rows and rows[0][-1] == "upstream CPU µs/request"
          and all(re.fullmatch(r"\d+\.\d", r[-1]) for r in rows[1:]), rows)
    if has_nginx:
        ratio = table_rows(run.stdout, "| workload | httpd-event ÷ nginx |")
        check("ratio table: both proxy workloads against nginx", len(ratio) == 3 and all(
            re.fullmatch(RATIO_CELL, r[1]) for r in ratio[1:]), ratio)

    meta, ms = doc.get("meta", {}), doc.get("measurements", [])
    up = meta.get("upstream") or {}
    check("JSON meta: the upstream", up.get("mpm") == "event" and up.get("delay_ms") == 100
          and up.get("delay_connections") == 20 and up.get("port") == (int(found.group(1)) if found else None), up)
    check("JSON: one measurement per workload and target",
          sorted((m.get("workload"), m.get("target")) for m in ms)
          == sorted((w, t) for w in ("proxy-1k", "proxy-delay") for t in targets), ms)
    for m in ms:
        name = "%s %s" % (m.get("target"), m.get("workload"))
        check("JSON measurement keys (%s)" % name, all(k in m for k in MEASUREMENT_KEYS),
              [k for k in MEASUREMENT_KEYS if k not in m])
        if not check("JSON %s: ok, requests answered" % name, m.get("status") == "ok" and m.get("requests", 0) > 0
                     and m.get("non2xx") == 0, m):
            continue
        # the upstream's CPU, its own and not among the other programs: measured (proxy-delay's 180 requests in
        # a second may take less than the clock's tick of it)
        some = 0 if m.get("workload") == "proxy-delay" else 1e-9
        check("JSON %s: the upstream's CPU measured" % name, m.get("upstream_cpu_s") is not None
              and m["upstream_cpu_s"] >= some and (m.get("upstream_cpu_us_per_request") or 0) >= some, m)
        # the upstream's count covers the middle half of the run: some, and never more than wrk sent
        ups, conns = m.get("upstream_requests") or 0, m.get("connections", 0)
        check("JSON %s: the upstream saw the requests (0 < %d <= %d + %d)" % (name, ups, m["requests"], conns),
              0 < ups <= m["requests"] + conns, m)
        # pooled: the window's new upstream connections are at most one per client connection, not one per
        # request; nginx also ends an upstream connection after 1000 requests (keepalive_requests' default)
        most = conns + (ups // 1000 + 1 if m.get("target") == "nginx" else 0)
        check("JSON %s: upstream connections pooled (%s new for %d requests, at most %d)" % (
            name, m.get("upstream_connections"), ups, most), m.get("upstream_connections") is not None
            and 0 <= m["upstream_connections"] <= most and m.get("upstream_new_per_100") is not None, m)
        if m.get("workload") == "proxy-delay":
            check("JSON %s: 20 connections, bound 200 req/s, fraction, memory per request in flight" % name,
                  conns == 20 and m.get("bound_rps") == 200.0 and m.get("bound_fraction") == round(m["rps"] / 200, 3)
                  and m.get("inflight") == 20 and m.get("bytes_per_inflight") is not None
                  and m.get("latency_us", {}).get("p50", 0) >= 100000, m)
        else:
            check("JSON %s: -c 4, no bound" % name, conns == 4 and m.get("bound_rps") is None, m)
    check("JSON meta: no TLS without a tls-* workload", "tls" not in meta, meta.get("tls"))


def tls(out):
    nginx = os.access("/usr/sbin/nginx", os.X_OK)
    workloads = ["tls-keepalive-1k", "tls-handshake"]
    run, doc = bench(["--workloads", ",".join(workloads), "-c", "10", "httpd-event", "nginx"],
                     os.path.join(out, "tls.json"), 60)
    if run is None:
        return
    if not check("tls: bench exits 0", run.returncode == 0, "status %d" % run.returncode):
        sys.stdout.write(run.stdout)
    targets = ["httpd-event", "nginx"] if nginx else ["httpd-event"]
    ms, rs, meta = doc.get("measurements", []), doc.get("ratios", []), doc.get("meta", {})
    check("tls: JSON, a measurement per workload and target",
          sorted((m.get("workload"), m.get("target")) for m in ms) == sorted((w, t) for w in workloads
                                                                             for t in targets), ms)
    for m in ms:
        check("tls: JSON %s %s keys" % (m.get("workload"), m.get("target")),
              all(k in m for k in MEASUREMENT_KEYS + ["server_cpu_us_per_request", "client_cpu_us_per_request"]),
              [k for k in MEASUREMENT_KEYS if k not in m])
        check("tls: %s %s ok, answered, no error, server CPU per request measured" % (m.get("workload"),
                                                                                    m.get("target")),
              m.get("status") == "ok" and m.get("requests", 0) > 0 and m.get("non2xx") == 0
              and sum(m.get("errors", {"x": 1}).values()) == 0 and m.get("bytes", 0) > 1024 * m.get("requests", 0)
              and m.get("server_cpu_us_per_request", 0) > 0
              and abs(m.get("server_cpu_us_per_request", 0) - m.get("server_cpu_s", 0) * 1e6 / max(1, m.get(
                  "requests", 0))) < 1, m)
    check("tls: JSON meta.tls keys", all(k in meta.get("tls", {}) for k in TLS_META_KEYS), meta.get("tls"))
    by = {(r.get("workload"), r.get("peer")): r for r in rs}
    for w in workloads:
        r = by.get((w, "nginx"), {})
        if nginx:
            check("tls: %s ratio against nginx" % w, r.get("status") == "ok" and len(r.get("per_round", [])) == 1
                  and r.get("median", 0) > 0, r)
        else:
            check("tls: %s ratio against nginx: skipped" % w, r.get("status") == "skipped", r)
    rows = table_rows(run.stdout, "| workload | target | req/s | server CPU")
    check("tls: the CPU table has a row per measured workload and target", len(rows) == 1 + len(ms), rows)
    check("tls: the kernel TLS line", "Files over TLS (server/httpd -V): " in run.stdout, run.stdout[-300:])
    check("tls: no upstream without a proxy workload", meta.get("upstream") is None
          and "upstream (httpd event" not in run.stderr, meta.get("upstream"))


def proxy_and_tls(out):
    """A proxy and a tls workload in one run, through httpd-event alone, a few connections, 1 s each."""
    workloads = ["proxy-1k", "tls-keepalive-1k"]
    run, doc = bench(["--workloads", ",".join(workloads), "-c", "4", "--workers", "1", "httpd-event"],
                     os.path.join(out, "both.json"), 30)
    if run is None:
        return
    if not check("proxy and tls: bench exits 0", run.returncode == 0, "status %d" % run.returncode):
        sys.stdout.write(run.stdout)
    found = re.search(r"upstream \(httpd event, 1 children\) on 127\.0\.0\.1:(\d+), pid (\d+)", run.stderr)
    if check("proxy and tls: the upstream is started", found, run.stderr[-300:]):
        check("proxy and tls: the upstream is stopped at the end", not pid_alive(int(found.group(2))),
              found.group(2))
    meta, ms = doc.get("meta", {}), doc.get("measurements", [])
    check("proxy and tls: JSON meta has the upstream and TLS", (meta.get("upstream") or {}).get("mpm") == "event"
          and all(k in meta.get("tls", {}) for k in TLS_META_KEYS), meta)
    by = {m.get("workload"): m for m in ms}
    check("proxy and tls: one measurement per workload", sorted(by) == sorted(workloads) and len(ms) == 2, ms)
    for w in workloads:
        m = by.get(w, {})
        check("proxy and tls: %s ok, answered" % w, m.get("status") == "ok" and m.get("requests", 0) > 0
              and m.get("non2xx") == 0 and m.get("target") == "httpd-event", m)
    p = by.get("proxy-1k", {})
    check("proxy and tls: the upstream saw proxy-1k's requests", (p.get("upstream_requests") or 0) > 0, p)
    t = by.get("tls-keepalive-1k", {})
    check("proxy and tls: tls-keepalive-1k's server CPU per request, no upstream figures",
          t.get("server_cpu_us_per_request", 0) > 0 and t.get("upstream_requests") is None
          and t.get("upstream_cpu_s") is None, t)
    proxy_rows = table_rows(run.stdout, "| workload | target | req/s | bound req/s |")
    check("proxy and tls: the proxy table has proxy-1k only", len(proxy_rows) == 2
          and proxy_rows[1][:2] == ["proxy keep-alive 1 KiB", "httpd-event"], proxy_rows)
    cpu_rows = table_rows(run.stdout, "| workload | target | req/s | server CPU")
    check("proxy and tls: the CPU table has a row for each workload", len(cpu_rows) == 3
          and [r[:2] for r in cpu_rows[1:]] == [["proxy keep-alive 1 KiB", "httpd-event"],
                                                ["TLS keep-alive 1 KiB", "httpd-event"]], cpu_rows)
    check("proxy and tls: the kernel TLS line", "Files over TLS (server/httpd -V): " in run.stdout,
          run.stdout[-300:])


def load_bench():
    return load("bench", BENCH)


def workload_groups(out):
    """--workloads' groups as bench's parse_args() expands them."""
    b = load_bench()
    plain = ["keepalive-1k", "close-1k", "keepalive-100k"]
    proxy_w = ["proxy-1k", "proxy-delay"]
    tls_w = ["tls-keepalive-1k", "tls-handshake", "tls-resume", "tls-100k"]
    cases = [(["--model", "all"], plain), (["--model", "event", "--workloads", "plain"], plain),
             (["--model", "all", "--workloads", "proxy"], proxy_w), (["--model", "all", "--workloads", "tls"], tls_w),
             (["--model", "event", "--workloads", "all"], plain + proxy_w + tls_w),
             (["--workloads", "proxy,tls", "httpd-event"], proxy_w + tls_w),
             (["--workloads", "tls-resume,plain,keepalive-1k", "httpd-event"], ["tls-resume"] + plain),
             (["httpd-event"], ["keepalive-1k"])]
    saved = sys.argv
    try:
        for argv, want in cases:
            sys.argv = ["bench"] + argv
            got = b.parse_args().workload_list
            check("groups: %s is %s" % (" ".join(argv), ",".join(want)), got == want, got)
        sys.argv = ["bench", "--workloads", "static", "httpd-event"]
        try:
            with open(os.devnull, "w") as null:
                err, sys.stderr = sys.stderr, null
                try:
                    b.parse_args()
                finally:
                    sys.stderr = err
            refused = False
        except SystemExit as e:
            refused = e.code == 2
        check("groups: an unknown workload is refused", refused)
    finally:
        sys.argv = saved


def limitsrv_answers(binary, port, maxreq):
    """Starts limitsrv (one process); sends 5 pipelined heads; returns what it answered until it closed or 2 s."""
    import socket
    import time
    args = [binary, str(port), "1", ""] + ([str(maxreq)] if maxreq else [])
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 5
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    return None, False
                time.sleep(0.05)
        s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: localhost\r\n\r\n" * 5)
        data, closed = b"", False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    closed = True
                    break
                data += d
        except socket.timeout:
            pass
        s.close()
        return data, closed
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def limitsrv(out):
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        print("no C compiler: limitsrv not checked")
        return
    binary = os.path.join(out, "limitsrv")
    built = subprocess.run([cc, "-O2", "-o", binary, os.path.join(SRCDIR, "loadtest", "limitsrv.c")])
    check("limitsrv: compiles", built.returncode == 0)
    if built.returncode != 0:
        return
    b = load_bench()
    port = b.hb.free_port()
    data, closed = limitsrv_answers(binary, port, 0)
    check("limitsrv without MAXREQ: 5 responses, none with Connection: close, the connection left open",
          data is not None and data.count(b"HTTP/1.1 200 OK") == 5 and b"Connection: close" not in data
          and not closed, repr((data or b"")[:80]))
    data, closed = limitsrv_answers(binary, port, 3)
    last = data.rfind(b"HTTP/1.1 200 OK") if data else -1
    check("limitsrv MAXREQ 3: 3 responses, the third (only) with Connection: close, then the close",
          data is not None and data.count(b"HTTP/1.1 200 OK") == 3 and data.count(b"Connection: close") == 1
          and data.find(b"Connection: close") > last and closed, repr((data or b"")[-80:]))
    check("bench: every target, limitsrv too, ends a connection after the same number of requests",
          b.hb.KEEPALIVE_REQUESTS > 0 and "MaxKeepAliveRequests %d" % b.hb.KEEPALIVE_REQUESTS
          in b.hb.httpd_conf("event", 1, "/d", "/r", 5, []))


def capture_upstream():
    """An upstream on a free 127.0.0.1 port that records each request head it receives and answers it with a
    2-byte keep-alive response; returns (server, heads). Its threads end with the process."""
    import socketserver
    import threading
    heads = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(10)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    try:
                        more = self.request.recv(65536)
                    except OSError:
                        return
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                heads.append(head.decode("latin-1"))
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")

    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, heads


def forwarded_headers(head):
    """{name: value} of the X-Forwarded-* headers in a request head, names in lower case."""
    found = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower().startswith("x-forwarded-"):
            found[name.strip().lower()] = value.strip()
    return found


def proxy_peers_same_request(out):
    """Every proxy target passes the upstream the same request: the X-Forwarded-* headers that httpd's and
    Apache's ProxyAddHeaders (default On) add, with the same values, nginx's configured to match (each target
    that is installed; started from bench's own configurations, against an upstream that records the heads)."""
    import socket
    b = load_bench()
    server, heads = capture_upstream()
    targets = ["httpd-event"] + [t for t, binary in (("nginx", "/usr/sbin/nginx"), ("apache-event",
                                                                                       "/usr/sbin/apache2"))
                                 if os.access(binary, os.X_OK)]
    saved = sys.argv
    try:
        sys.argv = ["bench", "--httpd", HTTPD, "--workloads", "proxy-1k", "--workers", "1"] + targets
        a = b.parse_args()
    finally:
        sys.argv = saved
    work = os.path.join(out, "same-request")
    os.makedirs(work)
    available = b.availability(a, targets, work)
    a.upstream_port = server.server_address[1]
    sizing = b.plan(a)[0]["sizing"]
    docroot = b.make_docroot(a, work)
    want = {"x-forwarded-for": "127.0.0.1", "x-forwarded-host": "bench.test", "x-forwarded-server": "localhost"}
    try:
        for t in targets:
            if available.get(t) is not None:
                print("%s not checked: %s" % (t, available[t]))
                continue
            d = os.path.join(work, t)
            os.makedirs(d)
            os.chmod(d, 0o777)
            proc, port = b.start(t, a, sizing, docroot, d)
            try:
                before = len(heads)
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET /proxy/1k.html HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while True:
                        more = s.recv(65536)
                        if not more:
                            break
                        answer += more
            finally:
                b.stop(t, proc)
            check("same request: %s answers the proxied request" % t, answer.startswith(b"HTTP/1.1 200")
                  and answer.endswith(b"\r\n\r\nok"), answer[:200])
            got = heads[before:]
            check("same request: %s passes one request, with httpd's X-Forwarded-* headers" % t,
                  len(got) == 1 and forwarded_headers(got[0]) == want, got)
    finally:
        server.shutdown()
        server.server_close()


def smoke(out):
    limitsrv(out)
    model_mode(out)
    idle_failure(out)
    proxy(out)
    tls(out)
    proxy_and_tls(out)
    proxy_peers_same_request(out)
    workload_groups(out)


def main():
    return run("test_bench.", smoke)

if __name__ == "__main__":
    sys.exit(main())
