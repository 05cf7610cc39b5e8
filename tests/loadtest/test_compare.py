#!/usr/bin/env python3
"""Smoke test of loadtest/compare, into a temp dir, each run a few seconds:
1. one model (conf/event.conf), two workloads (keep-alive static file, cpu), 10 connections, 2 s a cell: the exit
   status, the Markdown table, the CSV columns and JSON keys, non-zero requests, CPU per request and RSS, a fresh
   server for each workload, and the PNG plot when gnuplot is installed;
2. prefork with 2 processes and 30 connections asking for 20 ms of CPU each: the connections left waiting in the
   listen queue are counted and the table says so; and 4 idle keep-alive connections holding both processes: the
   light load of the idle workload is reported starved (not 0 req/s without errors), with the idle counts;
3. open loop: event, 5 ms of CPU a request, an open-loop cell at 50 req/s and the --slo 100ms
   search: the cells' and the summary's keys, a rate that keeps the SLO below the first that failed, the table;
4. real workloads, 1 s a cell at 4 connections: event (and nginx, skipped with a message when it is not installed)
   in proxy-slow (an upstream answering after 50 ms) and tls-handshake, event before loadtest/upstream.py's asyncio
   model in app-io: answered, through the upstream, over TLS, the upstreams stopped, the tutorials' section.

The server under test is $HTTPD_BIN (set by make check), else server/httpd of the source tree. Exits 77 (skipped)
without wrk. Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import HTTPD, SRCDIR, check, run  # noqa: E402

CSV_COLUMNS = ["target", "kind", "mpm", "config", "workload", "request", "connections", "wrk_threads", "status",
               "message", "duration_s", "requests", "rps", "bytes", "latency_mean_us", "latency_p50_us",
               "latency_p90_us", "latency_p99_us", "latency_max_us", "errors_connect", "errors_read",
               "errors_write", "errors_timeout", "non2xx", "server_cpu_s", "client_cpu_s", "other_cpu_s",
               "rss_peak_kib", "procs_peak", "threads_peak", "attempts", "server_pid", "rss_fresh_kib",
               "rss_start_kib", "rss_growth_kib", "kib_per_connection", "cpu_ms_per_request", "waiting_peak",
               "waiting_end"]
CELL_KEYS = ["target", "kind", "mpm", "config", "workload", "request", "connections", "wrk_threads", "status",
             "message", "requests", "duration_s", "rps", "bytes", "latency_us", "errors", "non2xx", "server_cpu_s",
             "client_cpu_s", "other_cpu_s", "rss_peak_kib", "procs_peak", "threads_peak", "attempts", "server_pid",
             "rss_fresh_kib", "rss_start_kib", "rss_growth_kib", "kib_per_connection", "cpu_ms_per_request",
             "waiting_peak", "waiting_end"]
META_KEYS = ["cpus", "date", "command", "targets", "workloads", "concurrency", "cell_seconds", "elapsed_seconds"]

def compare(out, args, timeout):
    """Runs loadtest/compare with args into out; returns (the process, results.json's document). The timeout
    (60 s for runs of about 10) only bounds a hung run: a shared machine can slow a run down several times."""
    cmd = [sys.executable, os.path.join(SRCDIR, "loadtest", "compare"), "--httpd", HTTPD, "-o", out] + args
    print("running: %s" % " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        check("compare finishes within %d s" % timeout, False)
        return None, {}
    sys.stdout.write(proc.stderr)
    try:
        with open(os.path.join(out, "results.json")) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        doc = {}
        check("results.json written and valid", False, e)
    return proc, doc


def report_page(out, svgs, sections):
    """report.html written, self-contained, with the verdict, these sections and this many plots."""
    try:
        with open(os.path.join(out, "report.html")) as f:
            page = f.read()
    except OSError as e:
        check("report.html written", False, e)
        return
    check("report.html: self-contained (no script, no src, no link)", "<script" not in page
          and " src=" not in page and "<link" not in page)
    check("report.html: a verdict", '<section id="verdict"><h2>Verdict</h2><ul><li>' in page, page[:2000])
    check("report.html: its sections", all('id="%s"' % x in page for x in sections), sections)
    check("report.html: %d plots" % svgs, page.count("<svg") == svgs, page.count("<svg"))


def closed_loop(out):
    """event, keepalive and cpu at 10 connections: the outputs' schema, and a fresh server for each workload."""
    proc, doc = compare(out, ["-w", "keepalive,cpu", "--cpu-us", "200", "-c", "10", "--cell-seconds", "1",
                              "--warmup", "0", "--budget", "25", os.path.join(SRCDIR, "conf", "event.conf")], 60)
    if proc is None:
        return
    if not check("compare exits 0", proc.returncode == 0, "status %d" % proc.returncode):
        sys.stdout.write(proc.stdout)
    check("Markdown table on stdout", "| conns | target | req/s |" in proc.stdout
          and "| 10 | event |" in proc.stdout, proc.stdout[-500:])
    check("the verdict heads the Markdown", "### What the numbers say\n\n- keepalive at 10 connections" in proc.stdout,
          proc.stdout[:1500])

    rows = []
    try:
        with open(os.path.join(out, "results.csv"), newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
        missing = [c for c in CSV_COLUMNS if c not in header]
        check("CSV has every column", not missing, "missing %s" % missing)
    except OSError as e:
        check("results.csv written", False, e)
    if check("CSV has two cells", len(rows) == 2, "%d rows" % len(rows)):
        r = rows[0]
        check("CSV cell is event/keepalive/10, ok", (r["target"], r["workload"], r["connections"],
                                                    r["status"]) == ("event", "keepalive", "10", "ok"), r)
        check("CSV requests and req/s non-zero", float(r["requests"] or 0) > 0 and float(r["rps"] or 0) > 0, r)

    meta, cells = doc.get("meta", {}), doc.get("cells", [])
    check("JSON meta keys", all(k in meta for k in META_KEYS), [k for k in META_KEYS if k not in meta])
    if check("JSON has two cells", len(cells) == 2, "%d cells" % len(cells)):
        for c in cells:
            check("JSON cell keys", all(k in c for k in CELL_KEYS), [k for k in CELL_KEYS if k not in c])
            lat, err = c.get("latency_us", {}), c.get("errors", {})
            check("JSON latency keys", all(k in lat for k in ("p50", "p90", "p99", "max")), lat)
            check("JSON error kinds", all(k in err for k in ("connect", "read", "write", "timeout")), err)
            check("JSON requests and req/s non-zero", c.get("requests", 0) > 0 and c.get("rps", 0) > 0, c)
            check("JSON latency non-zero", 0 < lat.get("p50", 0) <= lat.get("p99", 0) <= lat.get("max", 0), lat)
            check("server measured (CPU, RSS, processes)", c.get("server_cpu_s", 0) > 0
                  and c.get("rss_peak_kib", 0) > 0 and c.get("procs_peak", 0) >= 2, c)
            check("CPU per request and RSS from the fresh server", c.get("cpu_ms_per_request", 0) > 0
                  and 0 < c.get("rss_fresh_kib", 0) <= c.get("rss_peak_kib", 0), c)
            check("no errors, no non-2xx", sum(err.values()) == 0 and c.get("non2xx") == 0, c)
        check("a fresh server for each workload", cells[0].get("server_pid") != cells[1].get("server_pid"),
              [c.get("server_pid") for c in cells])

    report_page(out, 4, ["verdict", "w-keepalive", "w-cpu"])
    check("config written", os.path.exists(os.path.join(out, "conf", "event.conf")))
    check("gnuplot script written", os.path.exists(os.path.join(out, "plot-keepalive.gp")))
    if shutil.which("gnuplot") is None:
        print("SKIP: PNG plot check (gnuplot is not installed)")
    else:
        try:
            with open(os.path.join(out, "plot-keepalive.png"), "rb") as f:
                magic = f.read(8)
        except OSError as e:
            magic = str(e)
        check("PNG plot written", magic == b"\x89PNG\r\n\x1a\n", magic)


def queued(out):
    """prefork with 2 processes, 30 connections each asking for 20 ms of CPU: most wait in the listen queue, where
    wrk's latency does not see them, and the table must say so. Then 4 idle keep-alive connections, which hold
    both processes: the light load is starved, and said to be, not reported as 0 req/s without errors."""
    proc, doc = compare(out, ["-w", "cpu,idle", "--idle", "4", "--cpu-us", "20000", "-c", "30", "--cell-seconds",
                              "2", "--warmup", "0", "--max-workers", "2", "--start-servers", "2", "--no-plots",
                              "--budget", "25",
                              os.path.join(SRCDIR, "conf", "prefork.conf")], 60)
    if proc is None:
        return
    cells = doc.get("cells", [])
    c = cells[0] if cells else {}
    check("queued: connections waiting to be accepted at the end are counted",
          len(cells) == 2 and c.get("waiting_end", 0) >= 10, c)
    check("queued: the table says so", "still waiting to be accepted" in proc.stdout, proc.stdout[-800:])
    c = cells[1] if len(cells) == 2 else {}
    check("idle: 4 held, 2 answered, the light load starved", c.get("workload") == "idle"
          and c.get("status") == "starved" and c.get("idle_held") == 4 and c.get("idle_answered") == 2
          and "no response" in c.get("message", ""), c)
    check("idle: the table says starved", "| 4 | prefork | starved: no response" in proc.stdout, proc.stdout[-800:])
    check("idle: a starved cell is a finding: compare exits 0", proc.returncode == 0, proc.returncode)


SLO_KEYS = ["target", "workload", "status", "slo_ms", "slo_source", "unloaded_p50_us", "rate", "p99_us",
            "cpu_ms_per_request", "rss_peak_kib", "connections_peak", "failed_rate", "failed_why", "probes", "bound"]
OPEN_KEYS = ["phase", "loop", "offered_rps", "scheduled", "samples", "owed_end", "queued_end", "client_queue_peak",
             "connections_peak", "lag_us_max"]


def slo(out):
    """event, 5 ms of CPU a request: an open-loop cell at 50 req/s and the SLO search, whose answer must lie below
    the first rate that failed and keep the SLO."""
    proc, doc = compare(out, ["-w", "cpu", "--cpu-us", "5000", "-c", "none", "--rates", "50", "--cell-seconds",
                              "1", "--slo", "100ms", "--slo-seconds", "1", "--warmup", "0", "--timeout", "2",
                              "--budget", "40", "--no-plots", os.path.join(SRCDIR, "conf", "event.conf")], 60)
    if proc is None:
        return
    if not check("slo: compare exits 0", proc.returncode == 0, "status %d" % proc.returncode):
        sys.stdout.write(proc.stdout)
    cells, slo = doc.get("cells", []), doc.get("slo", [])
    rates = [c for c in cells if c.get("phase") == "rates"]
    if check("slo: one --rates cell", len(rates) == 1, cells):
        c = rates[0]
        check("slo: open-loop cell keys", all(k in c for k in OPEN_KEYS), [k for k in OPEN_KEYS if k not in c])
        check("slo: the open-loop cell offered 50 req/s and was answered", c.get("offered_rps") == 50
              and c.get("samples", 0) >= 40 and c.get("status") == "ok", c)
    probes = [c for c in cells if c.get("phase") == "slo"]
    check("slo: probes are open-loop cells with a verdict", probes and all(
        c.get("loop") == "open" and "slo_ok" in c for c in probes), probes)
    if not check("slo: one search", len(slo) == 1, slo):
        return
    x = slo[0]
    check("slo: summary keys", all(k in x for k in SLO_KEYS), [k for k in SLO_KEYS if k not in x])
    check("slo: a rate found, within the SLO, below the first that failed",
          x.get("status") == "ok" and (x.get("rate") or 0) > 0 and x.get("p99_us", 1e12) <= 100000
          and (x.get("failed_rate") is None or x["failed_rate"] > x["rate"]), x)
    check("slo: CPU per request and memory at that rate", (x.get("cpu_ms_per_request") or 0) > 0
          and x.get("rss_peak_kib", 0) > 0, x)
    report_page(out, 2, ["verdict", "slo", "w-cpu"])
    check("slo: the table on stdout", "### SLO capacity" in proc.stdout and "| cpu | event | 100 |"
          in proc.stdout, proc.stdout[-800:])


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def real(out):
    """event (and nginx, when installed) in proxy-slow and tls-handshake, and event before the asyncio application
    in app-io, 4 connections, 1 s a cell: answered through the upstream (p50 at least its 50 ms), over TLS, the
    upstream's CPU measured apart and the upstream stopped afterwards, the tutorials' section in both outputs."""
    peers = ["--peers", "nginx"] if os.access("/usr/sbin/nginx", os.X_OK) else []
    if not peers:
        print("SKIP: nginx in proxy-slow and tls-handshake (nginx is not installed: apt-get install nginx)")
    proc, doc = compare(out, ["-w", "proxy-slow,tls-handshake,app-io", "--app", "asyncio", "--delay-ms", "50",
                              "-c", "4", "--cell-seconds", "1", "--warmup", "0", "--no-plots", "--budget", "40"]
                        + peers + [os.path.join(SRCDIR, "conf", "event.conf")], 60)
    if proc is None:
        return
    if not check("real: compare exits 0", proc.returncode == 0, "status %d" % proc.returncode):
        sys.stdout.write(proc.stdout)
    cells = {(c["target"], c["workload"]): c for c in doc.get("cells", [])}
    want = [("event", "proxy-slow"), ("event", "tls-handshake"), ("event", "app-io-asyncio")]
    want += [("nginx", "proxy-slow"), ("nginx", "tls-handshake")] if peers else []
    check("real: a cell per target and workload", sorted(cells) == sorted(want), sorted(cells))
    for key in want:
        c = cells.get(key, {})
        lat, err = c.get("latency_us", {}), c.get("errors", {})
        check("real: %s %s answered without errors" % key, c.get("status") == "ok" and c.get("requests", 0) > 0
              and sum(err.values()) == 0 and c.get("non2xx") == 0, c)
        if key[1] == "tls-handshake":
            continue
        check("real: %s %s waited for the upstream (p50 >= 50 ms)" % key, lat.get("p50", 0) >= 50000, lat)
        check("real: %s %s: the upstream's CPU measured apart" % key, "upstream_cpu_s" in c, c)
        check("real: %s %s: the upstream stopped by its PID" % key, c.get("upstream_pid")
              and not alive(c["upstream_pid"]), c.get("upstream_pid"))
    c = cells.get(("event", "tls-handshake"), {})
    check("real: tls-handshake is a request over https", "over https" in c.get("request", ""), c.get("request"))
    check("real: the tutorials' section in results.md", "### The tutorials' experiment over HTTP" in proc.stdout
          and "| I/O-bound | asyncio | event |" in proc.stdout, proc.stdout[-1500:])
    report_page(out, 6, ["verdict", "tutorials", "w-proxy-slow", "w-tls-handshake", "w-app-io-asyncio"])


def smoke(out):
    for name, body in (("closed", closed_loop), ("queued", queued), ("slo", slo), ("real", real)):
        d = os.path.join(out, name)
        os.mkdir(d)
        body(d)


def main():
    return run("test_compare.", smoke)


if __name__ == "__main__":
    sys.exit(main())
