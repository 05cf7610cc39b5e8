#!/usr/bin/env python3
"""Test of loadtest/compare's report.html on made-up results (no server, no load): the page's structure, and the
page as headless Chromium renders it.

1. Structure (parsed with html.parser): self-contained (no script, no stylesheet link, no src/href/url() leaving
   the page), a verdict written from the data (the SLO capacity of each model with Little's law where its
   workers bound it, the closed-loop tail, the cores' cap, the idle connections' cost), the SLO table with a row
   per search, a section per workload with its SVG plots (closed loop: requests/s and p99 against connections;
   open loop: p99 and answered against offered rate, with the SLO line) and its tables, and the noisy and
   understated cells ringed.
   The tutorials' experiment over HTTP, from made-up app cells: each application model's speed-up next to the
   tutorials' figure, and the sentences on where HTTP changes the lesson, in results.md and in its own section.
2. Chromium (Debian's chromium, installed by ./quickstart): --dump-dom of the page keeps every plot and table
   (the browser parsed what we wrote), and --screenshot draws a page that is not blank. Skipped, saying so, only
   when chromium is not installed.

Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import html.parser
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import SRCDIR, check, counts, load  # noqa: E402


compare = load("compare", os.path.join(SRCDIR, "loadtest", "compare"))

TARGETS = ["prefork", "worker", "event"]
WORKERS = {"prefork": 50, "worker": 50}


def cell(target, w, loop, x, rps, p99_ms, other=0.0, waiting_end=0, requests=20000, status="ok", **kw):
    c = {"target": target, "kind": "httpd", "mpm": target, "config": "", "workload": w,
         "request": {"delay": "GET /delay?ms=100 (waits without CPU), keep-alive",
                     "cpu": "GET /cpu?us=1000 (burns CPU), keep-alive",
                     "idle": "GET /1k.html from 10 connections while idle keep-alive connections are held"}[w],
         "loop": loop, "phase": "closed" if loop == "closed" else "slo", "status": status, "message": "",
         "requests": requests, "samples": requests, "rps": rps, "duration_s": 8,
         "latency_us": {"mean": p99_ms * 500, "p50": p99_ms * 500, "p90": p99_ms * 800, "p99": p99_ms * 1000,
                        "max": p99_ms * 1500},
         "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}, "non2xx": 0, "server_cpu_s": 4.0,
         "client_cpu_s": 1.0, "other_cpu_s": other, "rss_peak_kib": 20000, "rss_fresh_kib": 7000,
         "procs_peak": 3, "threads_peak": 3, "waiting_peak": waiting_end, "waiting_end": waiting_end,
         "attempts": 1, "owed_end": 0, "queued_end": 0, "connections_peak": 10}
    if loop == "closed":
        c["connections"] = x
    else:
        c["offered_rps"], c["connections"] = float(x), 10
    c.update(kw)
    if status == "ok":
        compare.derive(c)
    return c


def results():
    out = []
    for t in TARGETS:
        io = 9400 if t == "event" else 450
        for conns, rps in ((10, 99), (1000, io)):
            out.append(cell(t, "delay", "closed", conns, rps, 110 if t == "event" or conns == 10 else 1070,
                            waiting_end=0 if t == "event" or conns == 10 else 540))
        for rate in (100, 400, 1600, 6400):
            ok = rate <= (6400 if t == "event" else 400)
            out.append(cell(t, "delay", "open", rate, rate, 105 if ok else 3000, slo_ok=ok, slo_ms=200,
                            slo_why="" if ok else "p99 3000 ms > 200 ms"))
        for conns in (1, 200):
            out.append(cell(t, "cpu", "closed", conns, 900 if conns == 1 else 1800, 2 if conns == 1 else 250,
                            other=3.0 if (t, conns) == ("worker", 200) else 0.0))
        idle = dict(idle_held=1000, idle_answered=1000, idle_bytes_each=340.0) if t == "event" else \
            dict(idle_held=561, idle_answered=50, message="no response: wrk's 10 connections got nothing back")
        out.append(cell(t, "idle", "closed", 1000, 50000 if t == "event" else 0, 1,
                        status="ok" if t == "event" else "starved", **idle))
    return out


def slo():
    out = []
    for t in TARGETS:
        rate = 6400 if t == "event" else 400
        out.append({"target": t, "kind": "httpd", "mpm": t, "workload": "delay",
                    "request": "GET /delay?ms=100 (waits without CPU), keep-alive", "status": "ok", "message": "",
                    "slo_ms": 200.0, "slo_source": "given", "unloaded_p50_us": 100500, "rate": float(rate),
                    "p99_us": 105000, "answered_rps": rate, "cpu_ms_per_request": 0.03, "rss_peak_kib": 20000,
                    "connections_peak": 700, "failed_rate": rate * 1.08, "failed_why": "p99 3000 ms > 200 ms",
                    "probes": 9, "stopped": "converged", "bound": "within 8%", "samples": 30000})
    return out


class Page(html.parser.HTMLParser):
    """What the structural checks need: tags, attributes, sections and their contents."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.sections, self.stack = [], [], {}, []
        self.text, self.style = [], []
        self.in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "section":
            sid = dict(attrs).get("id", "")
            self.sections[sid] = {"svg": 0, "table": 0, "li": 0, "tr": 0, "noisy": 0, "understated": 0,
                                  "slo": 0, "words": []}
            self.stack.append(sid)
        if tag == "style":
            self.in_style = True
        if self.stack:
            s = self.sections[self.stack[-1]]
            if tag in s:
                s[tag] += 1
            for k in ("noisy", "understated", "slo"):
                if tag in ("circle", "line") and dict(attrs).get("class") == k:
                    s[k] += 1

    def handle_endtag(self, tag):
        if tag == "section" and self.stack:
            self.stack.pop()
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.style.append(data)
        self.text.append(data)
        if self.stack:
            self.sections[self.stack[-1]]["words"].append(data)


def make_page(d):
    a = types.SimpleNamespace(workloads=["delay", "cpu", "idle"], cell_seconds=8, warmup=1, timeout=5,
                              retry_noisy=0, concurrency=[10, 1000], idle=[1000])
    meta = {"targets": TARGETS, "workloads": a.workloads, "cpus": 2, "cpu_model": "x", "kernel": "Linux",
            "date": "2026-12-07", "command": "loadtest/compare --slo 200ms", "delay_ms": 100, "cpu_us": 1000}
    targets = [{"label": t, "mpm": t, "kind": "httpd", "text": "MaxRequestWorkers %d\n" % WORKERS[t]
                if t in WORKERS else "StartServers 2\n"} for t in TARGETS]
    cells = results()
    for c in cells:
        c["noisy"] = compare.noisy(a, c)
    return compare.write_report(a, cells, slo(), meta, compare.verdict(a, cells, slo(), meta, targets), d)


def structure(path):
    with open(path) as f:
        text = f.read()
    p = Page()
    p.feed(text)
    check("page: a doctype and a title", text.startswith("<!DOCTYPE html>") and "title" in p.tags)
    check("page: no script, no linked stylesheet, no iframe or object",
          not {"script", "link", "iframe", "object", "embed", "img"} & set(p.tags),
          sorted({"script", "link", "iframe", "object", "embed", "img"} & set(p.tags)))
    outside = [(t, k, v) for t, k, v in p.attrs if k in ("src", "href", "xlink:href", "data", "action")
               and not v.startswith("#")]
    check("page: no src or href leaves the page", not outside, outside)
    check("page: no url() or @import in its style", not re.search(r"url\(|@import", "".join(p.style)))

    v = p.sections.get("verdict")
    if check("verdict section", v is not None and v["li"] >= 4, v and v["li"]):
        words = " ".join(v["words"])
        check("verdict: each model's SLO capacity", all(re.search(r"%s [\d,]+ req/s \(p99" % t, words)
                                                        for t in TARGETS), words)
        check("verdict: Little's law where the workers bound the rate",
              "50 / 0.1 s = 500 req/s (Little's law)" in words, words)
        check("verdict: connections left waiting are said", "540 connections still waiting" in words, words)
        check("verdict: the cores' cap on CPU-bound work", "2 CPUs / 1000 µs = 2,000 req/s" in words, words)
        check("verdict: the idle connections' cost and starvation", "340 bytes each" in words
              and "answers 50 of them and then serves nobody else" in words, words)
        check("verdict: the noise", "1 cells were noisy" in words, words)
    s = p.sections.get("slo")
    check("SLO table: a row per search", s is not None and s["table"] == 1 and s["tr"] == 1 + 3, s)
    for w, plots in (("delay", 4), ("cpu", 2), ("idle", 0)):
        sec = p.sections.get("w-" + w)
        if check("section for %s" % w, sec is not None):
            check("%s: %d plots" % (w, plots), sec["svg"] == plots, sec["svg"])
            check("%s: its tables" % w, sec["table"] >= 1, sec["table"])
    d = p.sections.get("w-delay", {})
    check("delay: the understated closed-loop cells ringed", d.get("understated", 0) >= 2, d.get("understated"))
    check("delay: the SLO line on the open-loop plot", d.get("slo") == 1, d.get("slo"))
    c = p.sections.get("w-cpu", {})
    check("cpu: the noisy cell ringed in both plots", c.get("noisy") == 2, c.get("noisy"))
    return p


def png_pixels(path):
    """The decompressed scanlines of a PNG (each with its filter byte): enough to tell a blank page."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return b""
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    return zlib.decompress(idat)


def browser(path, p, d):
    exe = shutil.which("chromium")
    if exe is None:
        print("SKIP: headless Chromium checks: chromium is not installed (apt-get install chromium; "
              "./quickstart installs it)")
        return
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=%s" % os.path.join(d, "profile")]
    run = subprocess.run(base + ["--dump-dom", "file://" + path], capture_output=True, text=True, timeout=120)
    dom = run.stdout
    check("chromium: --dump-dom ran", run.returncode == 0 and "<body" in dom, run.stderr[-300:])
    check("chromium: every plot kept", dom.count("<svg") == p.tags.count("svg"), (dom.count("<svg"),
                                                                                 p.tags.count("svg")))
    check("chromium: every table kept", dom.count("<table") == p.tags.count("table"))
    shot = os.path.join(d, "report.png")
    run = subprocess.run(base + ["--screenshot=%s" % shot, "--window-size=1280,2000", "file://" + path],
                         capture_output=True, text=True, timeout=120)
    px = png_pixels(shot) if os.path.exists(shot) else b""
    # a blank page is a few distinct byte values; text, lines and coloured series make many
    check("chromium: a screenshot that is not blank", len(set(px)) > 32, (run.returncode, len(px), len(set(px))))


def app_cell(target, w, conns, rps, p99_ms):
    c = cell(target, "delay", "closed", conns, rps, p99_ms, workload=w)
    c["request"] = "GET /app/... behind the proxy"
    return c


def tutorials(d):
    """The tutorials' experiment over HTTP from made-up app cells: the speed-ups next to the tutorials' figures,
    and the sentences on where HTTP changes the lesson (the pool's size, the proxy's own model, the loop's
    queue), in results.md's lines and in report.html's section."""
    cells = [app_cell("event", "app-cpu-threads", 1, 100, 12), app_cell("event", "app-cpu-threads", 10, 95, 150),
             app_cell("event", "app-cpu-processes", 1, 100, 12), app_cell("event", "app-cpu-processes", 10, 190, 80),
             app_cell("event", "app-cpu-asyncio", 1, 100, 11), app_cell("event", "app-cpu-asyncio", 10, 104, 105),
             app_cell("event", "app-io-asyncio", 1, 9.5, 105), app_cell("event", "app-io-asyncio", 10, 95, 110),
             app_cell("event", "app-io-processes", 1, 9.5, 105), app_cell("event", "app-io-processes", 10, 78, 240),
             app_cell("prefork", "app-io-threads", 1, 9.5, 105), app_cell("prefork", "app-io-threads", 1000, 480,
                                                                         2100)]
    meta = {"targets": ["prefork", "event"], "workloads": sorted({c["workload"] for c in cells}), "cpus": 2,
            "cpu_model": "x", "kernel": "Linux", "date": "2026-12-07", "command": "loadtest/compare -w app-cpu,app-io",
            "delay_ms": 100, "app_workers": 8}
    targets = [{"label": "prefork", "mpm": "prefork", "kind": "httpd", "text": "MaxRequestWorkers 50\n"},
               {"label": "event", "mpm": "event", "kind": "httpd", "text": "StartServers 2\n"}]
    md = compare.tutorials(cells, meta, targets)
    text = "\n".join(md)
    check("tutorials: a row per proxy and application model",
          sum(1 for x in md if x.startswith("| CPU-bound") or x.startswith("| I/O-bound")) == 6, text)
    check("tutorials: threads' speed-up next to the GIL figure",
          re.search(r"\| CPU-bound \| threads \| event \| 100 \| 10 \| 95 \| 0\.95× \| [^|]+ \| 2 threads 1\.8× "
                    r"slower", text), text)
    check("tutorials: processes' speed-up", "| CPU-bound | processes | event | 100 | 10 | 190 | 1.90× |" in text,
          text)
    check("tutorials: the green threads' figure beside asyncio on I/O", re.search(
        r"\| I/O-bound \| asyncio \| event \| 9\.5 \| 10 \| 95 \| 10\.00× \| [^|]+ \| green threads", text), text)
    check("tutorials: the lesson holds where the data say so", "The lesson holds over HTTP" in text, text)
    check("tutorials: asyncio's queue on CPU work", "asyncio's one loop queues them: p99 105 ms at 10 connections"
          in text, text)
    check("tutorials: the connections set the I/O speed-up (Little's law)",
          "10 connections at 0.1 s a request allow 100 req/s at most (Little's law)" in text, text)
    check("tutorials: the pool's size caps the processes", "the pool of 8 processes serves 8 at a time, 80 req/s "
          "at most" in text, text)
    check("tutorials: the proxy's own model caps it", "prefork serves 50 requests at once (MaxRequestWorkers), 500 "
          "req/s at most" in text, text)
    check("tutorials: nothing without app cells", compare.tutorials([cell("event", "cpu", "closed", 1, 9, 1)], meta,
                                                                    targets) == [])
    tls = [dict(cell(t, "cpu", "closed", 200, 3000, 40, workload="tls-handshake", server_cpu_s=cpu),
                request="GET /1k.html over https") for t, cpu in (("event", 5.0), ("nginx", 4.0))]
    for c in tls:
        compare.derive(c)
    said = " ".join(compare.report.verdict(dict(meta, workloads=["tls-handshake"]), tls, [], {}))
    check("verdict: the server's CPU per TLS handshake and the handshakes/s it allows",
          "at 200 connections: nginx 0.2 ms (at most about 10,000 handshakes/s on 2 CPUs); event 0.25 ms (at most "
          "about 8,000 handshakes/s" in said, said)
    a = types.SimpleNamespace(workloads=meta["workloads"], cell_seconds=8, warmup=1, timeout=5, retry_noisy=0,
                              concurrency=[1, 10, 1000], idle=[])
    for c in cells:
        c["noisy"] = False
    path = compare.write_report(a, cells, [], meta, ["made up"], d, md)
    with open(path) as f:
        p = Page()
        p.feed(f.read())
    sec = p.sections.get("tutorials")
    check("report.html: the tutorials' section, its table and sentences", sec is not None and sec["table"] == 1
          and sec["tr"] == 1 + 6 and sec["li"] == 3, sec)


def main():
    with tempfile.TemporaryDirectory(prefix="test_report.") as d:
        path = make_page(d)
        p = structure(path)
        browser(path, p, d)
    with tempfile.TemporaryDirectory(prefix="test_report.") as d:
        tutorials(d)
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
