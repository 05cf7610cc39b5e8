#!/usr/bin/env python3
"""Unit tests of loadtest/compare's planning and reporting, on made-up cells: no server, no load, a second.

- the default cell outlasts wrk's --timeout (a shorter one hid the connections queued in the listen backlog and
  reversed the CPU-bound ranking), and the plan's worst case counts --retry-noisy's measurements again;
- the Markdown table gives each p99 its sample count, says when a p99 rests on few samples and when connections
  were still waiting to be accepted at the end, and marks noisy cells;
- CPU per request and memory per connection are derived from the server's fresh RSS, not from what an earlier
  workload left behind;
- a closed-loop cell in which wrk got nothing back fails saying so (not 0 req/s without errors), and wrk is not
  started against a full listen queue;
- the gnuplot script rings the noisy cells and those whose latency is understated;
- the SLO search (loadtest/capacity.py) against a made-up server whose p99 breaks past 1,000 req/s: it grows,
  bisects to within SLO_PRECISION, stops at the budget and says what its figure is (exact, a bound, none);
- the proxy, tls and app workloads: app-cpu/app-io per --app model, their requests, --slo-workloads, and the
  ProxyPass, SSL and peer (nginx, Apache) lines they add to the configs.

Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import os
import sys
import tempfile
import types

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import SRCDIR, check, counts, load  # noqa: E402


compare = load("compare", os.path.join(SRCDIR, "loadtest", "compare"))
import capacity  # noqa: E402  (compare put loadtest/ on the path)


def args(**kw):
    a = dict(cell_seconds=None, warmup=1, timeout=5, budget=900, retry_noisy=0, workloads=["cpu"])
    a.update(kw)
    return types.SimpleNamespace(**a)


def cell(conns, target="prefork", requests=20000, waiting_end=0, other=0.0, rps=1800.0, p99_us=2000):
    c = {"target": target, "kind": "httpd", "mpm": target, "config": "", "workload": "cpu",
         "request": "GET /cpu?us=1000 (burns CPU), keep-alive", "connections": conns, "status": "ok",
         "message": "", "requests": requests, "rps": rps, "duration_s": 8,
         "latency_us": {"mean": 1000, "p50": 900, "p90": 1500, "p99": p99_us, "max": p99_us * 2},
         "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "non2xx": 0, "server_cpu_s": 16.0,
         "client_cpu_s": 1.0, "other_cpu_s": other, "rss_peak_kib": 9216, "rss_fresh_kib": 7168,
         "rss_start_kib": 7200, "procs_peak": 3, "threads_peak": 3, "waiting_peak": waiting_end,
         "waiting_end": waiting_end, "attempts": 1}
    compare.derive(c)
    return c


def test_plan():
    cell_s, planned, worst = compare.plan_time(args(), 10, 3)
    check("default cell outlasts wrk's --timeout", cell_s > 5, cell_s)
    cell_s, _, _ = compare.plan_time(args(timeout=2), 10, 3)
    check("default cell follows --timeout", cell_s == 2 + compare.MIN_CELL_OVER_TIMEOUT, cell_s)
    try:
        compare.plan_time(args(budget=30), 10, 3)
        check("a default plan over --budget is refused", False)
    except ValueError as e:
        check("a default plan over --budget is refused, saying why", "--timeout" in str(e), e)
    check("no --retry-noisy: the worst case is the plan", worst == planned, (planned, worst))
    _, planned2, worst2 = compare.plan_time(args(retry_noisy=2, budget=5000), 10, 3)
    check("--retry-noisy: the worst case counts the cells measured again",
          planned2 == planned and worst2 == planned + 10 * 2 * (compare.RETRY_PAUSE_S + 1 + 8 + compare.CELL_COST_S),
          (planned2, worst2))
    _, planned3, worst3 = compare.plan_time(args(retry_noisy=8, budget=planned + 20), 10, 3)
    check("--retry-noisy: the worst case never passes --budget", worst3 == planned + 20, worst3)


def test_markdown():
    a = args(cell_seconds=8, concurrency=[1, 200], workloads=["cpu"])
    meta = {"targets": ["prefork", "event"], "cpus": 2, "cpu_model": "x", "kernel": "Linux"}
    cells = [cell(1, requests=29), cell(200, waiting_end=148), cell(200, target="event", other=4.0)]
    text = compare.markdown(a, cells, meta)
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and line[2].isdigit():
            f = [x.strip() for x in line.strip("|").split("|")]
            rows[(f[0], f[1])] = f
    head = [line for line in text.splitlines() if line.startswith("| conns")]
    cols = [x.strip() for x in head[0].strip("|").split("|")] if head else []
    check("table has samples, CPU per request, KiB per connection and notes columns",
          all(k in cols for k in ("samples", "CPU ms/req", "KiB/conn", "notes")), cols)
    if not cols or len(rows) != 3:
        check("three rows", False, rows)
        return
    r = dict(zip(cols, rows[("1", "prefork")]))
    check("p99 of 29 samples is said", r["samples"] == "29" and "p99 of 29 samples" in r["notes"], r)
    r = dict(zip(cols, rows[("200", "prefork")]))
    check("connections still waiting at the end are said",
          "148 connections still waiting to be accepted" in r["notes"] and "samples" not in r["notes"], r)
    check("CPU ms per request: server CPU / requests", r["CPU ms/req"] == "0.80", r)
    check("KiB per connection: growth over the fresh server / connections", r["KiB/conn"] == "10.2", r)
    r = dict(zip(cols, rows[("200", "event")]))
    check("noisy cell starred and said", r["req/s"].endswith("*") and "noisy" in r["notes"], r)


def test_open_notes():
    a = args(cell_seconds=8)
    c = cell(10, requests=5000)
    c.update(loop="open", phase="rates", offered_rps=500.0, samples=5000, owed_end=40, queued_end=30,
             lag_us_max=45000, connections_peak=64, waiting_end=3)
    text = "; ".join(compare.notes(a, c))
    check("open loop: requests still queued in the client said", "40 requests owed at the end, 30 of them "
          "still queued" in text, text)
    check("open loop: the generator's own lag said", "up to 45.0 ms late" in text, text)
    check("open loop: connections waiting to be accepted are counted, not hidden",
          "3 connections still waiting to be accepted at the end (waited for, and counted)" in text, text)
    x = {"target": "event", "workload": "cpu", "status": "ok", "slo_ms": 200.0, "slo_source": "given",
         "rate": 40.0, "p99_us": 12000, "samples": 200, "cpu_ms_per_request": 1.0, "rss_peak_kib": 8192,
         "connections_peak": 3, "failed_rate": 44.0, "failed_why": "p99 300 ms > 200 ms", "probes": 7,
         "bound": "within 10%"}
    rows = [r for r in compare.slo_table([x], {"targets": ["event"], "workloads": ["cpu"]}) if r.startswith("| cpu")]
    check("SLO table: the samples behind the p99, few said", rows and "| 200 (few) |" in rows[0], rows)


def test_fresh_rss():
    c = cell(100)
    c["rss_peak_kib"], c["rss_fresh_kib"] = 20000, 19000
    compare.derive(c)
    check("RSS growth counts from the fresh server", c["rss_growth_kib"] == 1000 and c["kib_per_connection"] == 10,
          c)


def test_plot():
    a = args(cell_seconds=8, no_plots=True)
    meta = {"targets": ["prefork", "event"], "cpus": 2}
    cells = [cell(1), cell(200, waiting_end=148), cell(1, target="event"), cell(200, target="event", other=4.0)]
    with tempfile.TemporaryDirectory() as d:
        compare.plot(a, "cpu", cells, meta, d)
        with open(os.path.join(d, "plot-cpu.gp")) as f:
            gp = f.read()
    check("plot: noisy cells ringed", "$noisy << EOD\n200 1800.0 2.000\nEOD" in gp and "title 'noisy" in gp, gp)
    check("plot: understated cells ringed", "$understated << EOD\n200 1800.0 2.000\nEOD" in gp, gp)
    clean = [cell(1), cell(1, target="event")]
    with tempfile.TemporaryDirectory() as d:
        compare.plot(a, "cpu", clean, meta, d)
        with open(os.path.join(d, "plot-cpu.gp")) as f:
            gp = f.read()
    check("plot: no rings without such cells", "$noisy" not in gp and "$understated" not in gp, gp)


def probe_cell(rate, p99_ms, timeouts=0):
    return {"status": "ok", "offered_rps": rate, "rps": rate, "samples": 5000, "non2xx": 0,
            "latency_us": {"p50": 1000, "p90": 2000, "p99": int(p99_ms * 1000), "max": int(p99_ms * 2000)},
            "errors": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts}, "rss_peak_kib": 8192,
            "cpu_ms_per_request": 1.0}


def test_slo():
    check("--slo 200ms", capacity.parse_slo("200ms") == 200.0)
    check("--slo 1.5s", capacity.parse_slo("1.5s") == 1500.0)
    check("--slo 800us", abs(capacity.parse_slo("800us") - 0.8) < 1e-9)
    check("--slo auto", capacity.parse_slo("auto") is None)
    try:
        capacity.parse_slo("fast")
        check("--slo fast refused", False)
    except ValueError:
        check("--slo fast refused", True)
    check("auto SLO: a multiple of the unloaded p50", capacity.auto_slo_ms(100000) == capacity.SLO_MULTIPLE * 100)
    check("auto SLO: never below the floor", capacity.auto_slo_ms(100) == capacity.SLO_FLOOR_MS)
    check("a cell within the SLO passes", capacity.verdict(probe_cell(100, 150), 200) is None)
    check("p99 over the SLO fails", "p99 250 ms > 200 ms" == capacity.verdict(probe_cell(100, 250), 200))
    check("a timeout fails even within the SLO", "timeout 1" in capacity.verdict(probe_cell(100, 150, 1), 200))

    # a server whose p99 stays within 200 ms up to 1000 req/s: the search must end between 909 and 1000
    probed = []

    def probe(rate):
        probed.append(rate)
        return probe_cell(rate, 100 if rate <= 1000 else 5000)

    summary, cells = capacity.search(probe, 10.0, 200, lambda: True)
    check("search: grows by SLO_GROWTH until a probe fails", probed[:5] == [10, 40, 160, 640, 2560], probed)
    check("search: ends within SLO_PRECISION below the true capacity",
          1000 / (1 + capacity.SLO_PRECISION) <= summary["rate"] <= 1000 and summary["failed_rate"] > 1000
          and summary["failed_rate"] <= summary["rate"] * (1 + capacity.SLO_PRECISION) + 1, summary)
    check("search: each probe cell carries its verdict", all("slo_ok" in c for c in cells)
          and [c["slo_ok"] for c in cells] == [r <= 1000 for r in probed], cells)
    check("search: bounded number of probes", len(cells) <= capacity.SLO_MAX_PROBES, len(cells))
    summary, cells = capacity.search(probe, 10.0, 200, lambda: len(probed) < 100 and False)
    check("search: no probe over the budget, said so", cells == [] and summary["rate"] is None
          and summary["stopped"] == "budget" and summary["bound"] == "not measured: over --budget", summary)
    probed.clear()
    summary, _ = capacity.search(probe, 10.0, 200, lambda: len(probed) < 3)
    check("search: stopped by the budget before a failure, a lower bound", summary["rate"] == 160
          and summary["bound"].startswith("at least"), summary)
    summary, _ = capacity.search(lambda r: probe_cell(r, 500), 10.0, 200, lambda: True)
    check("search: nothing within the SLO", summary["rate"] is None and summary["failed_rate"] == 2.5
          and summary["bound"] == "below the lowest rate tried", summary)


def test_no_response():
    """A closed-loop cell in which wrk got nothing back is a failure saying so, never 0 req/s without errors."""
    saved = (compare.hb.wrk, compare.hb.can_connect, compare.capacity.observe, compare.hb.connections)
    nothing = {"requests": 0, "duration_s": 1.0, "rps": 0.0, "bytes": 0,
               "latency_us": {"mean": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0},
               "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "non2xx": 0}
    try:
        compare.hb.wrk = lambda *args, **kw: dict(nothing)
        compare.hb.can_connect = lambda port, timeout: True
        compare.capacity.observe = lambda pid, port, run, upstream_pid=None: run()
        a = args(cell_seconds=2, wrk_threads=1, mix="1k:1", delay_ms=100, cpu_us=1000)
        proc = types.SimpleNamespace(pid=os.getpid())
        try:
            compare.run_cell(a, proc, 1, "cpu", 10)
            check("0 requests: the cell fails", False, "no exception")
        except RuntimeError as e:
            check("0 requests: the cell fails, saying wrk got nothing back", "no response" in str(e), e)
        compare.hb.can_connect = lambda port, timeout: False
        compare.hb.connections = lambda port: (511, 0)
        try:
            compare.run_cell(a, proc, 1, "cpu", 10)
            check("full listen queue: wrk is not run", False, "no exception")
        except RuntimeError as e:
            check("full listen queue: wrk is not run, and the cell says why", "511 connections wait" in str(e), e)
    finally:
        compare.hb.wrk, compare.hb.can_connect, compare.capacity.observe, compare.hb.connections = saved


def test_workloads():
    """The proxy, tls and app workloads: app-cpu and app-io expanded per --app model, their requests for wrk and
    loadgen, --slo-workloads, and what the configs get."""
    names = compare.expand_apps(["delay", "app-io", "app-cpu"], ["threads", "asyncio"])
    check("app workloads: one per model", names == ["delay", "app-io-threads", "app-io-asyncio", "app-cpu-threads",
                                                    "app-cpu-asyncio"], names)
    check("app workloads: the model in the description", "upstream.py (asyncio)" in
          compare.WORKLOADS["app-io-asyncio"][3], compare.WORKLOADS["app-io-asyncio"])
    a = args(workloads=names + ["proxy-slow", "tls-handshake"], delay_ms=100, cpu_us=1000, mix="", app_n=5000,
             slo="200ms", rates=[], concurrency=[1, 10], slo_only={"delay", "app-io-asyncio"}, app_workers=8,
             tls_cert="/c.pem", tls_key="/k.pem")
    check("app-cpu: the loop's size in the path", compare.workload_request(a, "app-cpu-threads")[1]
          == "/app/cpu?n=5000", compare.workload_request(a, "app-cpu-threads"))
    check("open loop: proxy-slow and app-io through the proxy, tls-handshake a connection per request",
          compare.open_request(a, "proxy-slow") == ("/up/delay?ms=100", False)
          and compare.open_request(a, "app-io-asyncio") == ("/app/io?ms=100", False)
          and compare.open_request(a, "tls-handshake") == ("/1k.html", True)
          and compare.open_request(a, "tls-keepalive") == ("/1k.html", False))
    check("--slo-workloads: the search only where asked", compare.phases(a, "delay") == ["closed", "open"]
          and compare.phases(a, "app-io-asyncio") == ["closed", "open"]
          and compare.phases(a, "app-io-threads") == ["closed"] and compare.phases(a, "proxy-slow") == ["closed"])
    text, tls = compare.httpd_workload_lines(a, "tls-handshake", 8000, None)
    check("tls-handshake: https, the one cipher, no resumption", tls and "SSLSessionTickets off" in text
          and "SSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256" in text and 'SSLCertificateFile "/c.pem"' in text, text)
    text, tls = compare.httpd_workload_lines(a, "tls-keepalive", 8000, None)
    check("tls-keepalive: tickets as configured", tls and "SSLSessionTickets" not in text, text)
    text, _ = compare.httpd_workload_lines(a, "app-io-processes", 8000, 9001)
    check("app behind the proxy: a connection per request to the pre-forked pool",
          "ProxyPass /app/ http://127.0.0.1:9001/ disablereuse=On" in text, text)
    text, _ = compare.httpd_workload_lines(a, "app-io-threads", 8000, 9001)
    check("app behind the proxy: pooled connections to the others", text.strip() ==
          "ProxyPass /app/ http://127.0.0.1:9001/", text)
    nginx = compare.hb.nginx_conf(8000, "/d", "/root", 2, 1024, 5)
    proxied = compare.peer_workload(a, {"kind": "nginx"}, "proxy-fast", nginx, 9001)
    check("nginx: proxy_pass with upstream keep-alive", "server 127.0.0.1:9001;\n        keepalive 64;" in proxied
          and "proxy_pass http://up/;" in proxied and "proxy_http_version 1.1;" in proxied
          and 'proxy_set_header Connection "";' in proxied, proxied)
    tls = compare.peer_workload(a, {"kind": "nginx"}, "tls-handshake", nginx, None)
    check("nginx: ssl on the listener, the one cipher, no tickets", "listen 127.0.0.1:8000 ssl deferred;" in tls
          and "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;" in tls and "ssl_session_tickets off;" in tls,
          tls)
    apache = compare.hb.apache_conf("event", 8000, "/d", "/root", [], 5)
    tls = compare.peer_workload(a, {"kind": "apache"}, "tls-handshake", apache, None)
    check("apache: mod_ssl on an https listener", "Listen 127.0.0.1:8000 https\n" in tls and "SSLEngine on" in tls
          and "SSLSessionTickets off" in tls, tls)
    proxied = compare.peer_workload(a, {"kind": "apache"}, "proxy-slow", apache, 9001)
    check("apache: mod_proxy_http", "mod_proxy_http.so" in proxied and "ProxyPass /up/ http://127.0.0.1:9001/"
          in proxied, proxied)


def main():
    test_workloads()
    test_no_response()
    test_slo()
    test_plan()
    test_markdown()
    test_open_notes()
    test_fresh_rss()
    test_plot()
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
