#!/usr/bin/env python3
"""Smoke test of loadtest/compare: one model (conf/event.conf), one workload (keep-alive static file), one
concurrency (10), 2 s a cell, into a temp dir. Checks the exit status, the Markdown table, the CSV columns and
JSON keys, that requests and requests/s are non-zero, and the PNG plot when gnuplot is installed.

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
               "rss_peak_kib", "procs_peak", "threads_peak", "attempts"]
CELL_KEYS = ["target", "kind", "mpm", "config", "workload", "request", "connections", "wrk_threads", "status",
             "message", "requests", "duration_s", "rps", "bytes", "latency_us", "errors", "non2xx", "server_cpu_s",
             "client_cpu_s", "other_cpu_s", "rss_peak_kib", "procs_peak", "threads_peak", "attempts"]
META_KEYS = ["cpus", "date", "command", "targets", "workloads", "concurrency", "cell_seconds", "elapsed_seconds"]

def smoke(out):
    try:
        cmd = [sys.executable, os.path.join(SRCDIR, "loadtest", "compare"), "--httpd", HTTPD,
               "-w", "keepalive", "-c", "10", "--cell-seconds", "2", "--warmup", "1", "--budget", "25",
               "-o", out, os.path.join(SRCDIR, "conf", "event.conf")]
        print("running: %s" % " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=28)
        sys.stdout.write(proc.stderr)
        if not check("compare exits 0", proc.returncode == 0, "status %d" % proc.returncode):
            sys.stdout.write(proc.stdout)
        check("Markdown table on stdout", "| conns | target | req/s |" in proc.stdout
              and "| 10 | event |" in proc.stdout, proc.stdout[-500:])

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
        if check("CSV has one cell", len(rows) == 1, "%d rows" % len(rows)):
            r = rows[0]
            check("CSV cell is event/keepalive/10, ok", (r["target"], r["workload"], r["connections"],
                                                        r["status"]) == ("event", "keepalive", "10", "ok"), r)
            check("CSV requests and req/s non-zero", float(r["requests"] or 0) > 0 and float(r["rps"] or 0) > 0, r)

        try:
            with open(os.path.join(out, "results.json")) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            doc = {}
            check("results.json written and valid", False, e)
        meta, cells = doc.get("meta", {}), doc.get("cells", [])
        check("JSON meta keys", all(k in meta for k in META_KEYS), [k for k in META_KEYS if k not in meta])
        if check("JSON has one cell", len(cells) == 1, "%d cells" % len(cells)):
            c = cells[0]
            check("JSON cell keys", all(k in c for k in CELL_KEYS), [k for k in CELL_KEYS if k not in c])
            lat, err = c.get("latency_us", {}), c.get("errors", {})
            check("JSON latency keys", all(k in lat for k in ("p50", "p90", "p99", "max")), lat)
            check("JSON error kinds", all(k in err for k in ("connect", "read", "write", "timeout")), err)
            check("JSON requests and req/s non-zero", c.get("requests", 0) > 0 and c.get("rps", 0) > 0, c)
            check("JSON latency non-zero", 0 < lat.get("p50", 0) <= lat.get("p99", 0) <= lat.get("max", 0), lat)
            check("server measured (CPU, RSS, processes)", c.get("server_cpu_s", 0) > 0
                  and c.get("rss_peak_kib", 0) > 0 and c.get("procs_peak", 0) >= 2, c)
            check("no errors, no non-2xx", sum(err.values()) == 0 and c.get("non2xx") == 0, c)

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
    except subprocess.TimeoutExpired:
        check("compare finishes within 28 s", False)


def main():
    return run("test_compare.", smoke)


if __name__ == "__main__":
    sys.exit(main())
