"""Open-loop load and SLO capacity for loadtest/compare.

loadtest/loadgen.c (compiled at the start of a run, as loadtest/bench compiles limitsrv) offers requests at a
constant rate and times each from the moment it was due, so a request that waits — in the client's queue, in the
server's listen backlog — is charged for the wait. observe() runs any load (wrk or loadgen) while measuring the
server's CPU, RSS, processes, threads and waiting connections; slo_search() finds the highest offered rate whose
p99 stays within an SLO with no error.

Everything here connects to 127.0.0.1 only, and every run is bounded by its duration plus the timeout.
"""
import json
import math
import re
import resource
import subprocess

import httpdbench as hb

SLO_MULTIPLE = 5  # --slo auto: this many times the unloaded p50...
SLO_FLOOR_MS = 10.0  # ...and never below this
SLO_START_MAX = 1000.0  # the search starts at half what one connection would do, at most this many requests/s
SLO_MIN_START = 10.0  # and at least this many
SLO_GROWTH = 4.0  # the rate is multiplied by this until a probe fails...
SLO_PRECISION = 0.1  # ...then bisected (geometrically) until the failing rate is within this of the passing one
SLO_MAX_PROBES = 12
UNLOADED_RATE = 20.0  # requests/s of the unloaded probe that measures the p50 --slo auto multiplies...
UNLOADED_SECONDS = 3  # ...for this long
LOADGEN_MARGIN_S = 30  # beyond the run's duration and timeout, before loadgen is considered hung


def build_loadgen(work):
    """Compiles loadtest/loadgen.c into work; returns (path, None) or (None, why not)."""
    return hb.compile_tool("loadgen", work, ["-lssl", "-lcrypto"])


def loadgen(binary, port, path, rate, seconds, timeout, maxconns, close=False, tls=False):
    """Runs loadgen against 127.0.0.1:port<path> (https with tls) at `rate` requests/s for `seconds`; returns
    its JSON line."""
    cmd = [binary, "-p", str(port), "-u", path, "-r", "%g" % rate, "-d", "%g" % seconds, "-t", "%g" % timeout,
           "-c", str(maxconns)] + (["-C"] if close else []) + (["-S"] if tls else [])
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout + LOADGEN_MARGIN_S)
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("%s printed no report (status %d): %s" % (" ".join(cmd), run.returncode,
                                                                 (run.stdout + run.stderr).strip()[-300:]))


def observe(pid, port, run, upstream_pid=None):
    """run() (a load that returns its JSON report as a dict) while measuring the server whose process tree starts
    at pid: server_cpu_s, client_cpu_s (the load's children), other_cpu_s (everything else the machine ran: noise),
    the peaks of its RSS, process and thread counts, its RSS as the load began (rss_start_kib), and the
    connections waiting to be accepted (waiting_peak, waiting_end: at the last sample before the load ended).
    With upstream_pid (the application or server behind a proxy), upstream_cpu_s: its tree's CPU seconds, not
    counted as noise."""
    cpu_before = hb.cpu_seconds(hb.descendants(pid))
    up_before = hb.cpu_seconds(hb.descendants(upstream_pid)) if upstream_pid else 0.0
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = hb.machine_busy_seconds()
    sampler = hb.TreeSampler(pid, port=port).start()
    try:
        r = run()
    finally:
        sampler.stop()
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    busy = hb.machine_busy_seconds() - busy_before
    server = hb.cpu_seconds(hb.descendants(pid)) - cpu_before
    client = client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime
    me = self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime  # the sampler
    up = hb.cpu_seconds(hb.descendants(upstream_pid)) - up_before if upstream_pid else 0.0
    r["server_cpu_s"] = round(server, 2)
    r["client_cpu_s"] = round(client, 2)
    r["other_cpu_s"] = round(max(0.0, busy - server - client - me - up), 2)
    if upstream_pid:
        r["upstream_cpu_s"] = round(up, 2)
    r["rss_peak_kib"] = sampler.rss_peak_kib
    r["rss_start_kib"] = sampler.rss_start_kib
    r["procs_peak"] = sampler.procs_peak
    r["threads_peak"] = sampler.threads_peak
    r["waiting_peak"] = sampler.waiting_peak
    r["waiting_end"] = sampler.waiting_end
    return r


def parse_slo(text):
    """'200ms', '0.2s', '200' (ms) -> milliseconds; 'auto' -> None."""
    if text == "auto":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|us|µs)?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError("--slo takes a latency such as 200ms, 1.5s or 800us, or auto")
    unit = {"s": 1000.0, "us": 0.001, "µs": 0.001}.get(m.group(2), 1.0)
    return float(m.group(1)) * unit


def auto_slo_ms(unloaded_p50_us):
    """The default SLO: SLO_MULTIPLE times the unloaded p50, at least SLO_FLOOR_MS."""
    return max(SLO_FLOOR_MS, SLO_MULTIPLE * unloaded_p50_us / 1000.0)


def verdict(cell, slo_ms):
    """None when an open-loop cell keeps the SLO (p99 within it, no error, no non-2xx answer), else why not."""
    if cell.get("status") != "ok":
        return cell.get("message") or cell.get("status")
    e = cell["errors"]
    bad = ["%s %d" % (k, e[k]) for k in ("connect", "read", "write", "timeout") if e.get(k)]
    if bad:
        return "errors: " + ", ".join(bad)
    if cell.get("non2xx"):
        return "%d non-2xx answers" % cell["non2xx"]
    p99 = cell["latency_us"]["p99"] / 1000.0
    if p99 > slo_ms:
        return "p99 %s ms > %s ms" % (fmt_ms(p99), fmt_ms(slo_ms))
    if cell.get("samples", 0) == 0:
        return "no answer"
    return None


def fmt_ms(v):
    """Milliseconds to about three significant digits, without an exponent."""
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 10 else "%.2f" % v


def round_rate(r):
    """A rate to three significant digits (whole requests/s from 100 up): the figures people write down."""
    if r <= 0:
        return r
    digits = max(0, 2 - int(math.floor(math.log10(r))))
    return round(r, digits) if digits else float(round(r))


def next_rate(lo, hi):
    """The next rate to probe, given the highest passing (lo, None before one) and the lowest failing (hi, None
    before one); None when the search is done."""
    if hi is None:
        return round_rate(lo * SLO_GROWTH)
    if lo is None:
        return round_rate(hi / SLO_GROWTH) if hi / SLO_GROWTH >= 1 else None
    if hi <= lo * (1 + SLO_PRECISION):
        return None
    mid = round_rate((lo * hi) ** 0.5)
    return mid if lo < mid < hi else None


def mark(cell, slo_ms):
    """Writes the SLO verdict into a probe cell (slo_ms, slo_ok, slo_why); returns why it failed, or None."""
    why = verdict(cell, slo_ms)
    cell["slo_ms"], cell["slo_ok"], cell["slo_why"] = round(slo_ms, 3), why is None, why or ""
    return why


def search(probe, start, slo_ms, fits, max_probes=SLO_MAX_PROBES):
    """The SLO search: probe(rate) measures an open-loop cell at rate and returns it; the rate grows by
    SLO_GROWTH from start until a probe fails, then is bisected between the highest passing and lowest failing
    rates. fits() says whether one more probe fits the budget. Returns a summary dict and the probe cells."""
    cells, lo, hi, rate, why_stopped = [], None, None, start, "converged"
    best, first_fail = None, None
    while rate is not None:
        if len(cells) >= max_probes:
            why_stopped = "probes"
            break
        if not fits():
            why_stopped = "budget"
            break
        c = probe(rate)
        why = mark(c, slo_ms)
        cells.append(c)
        if why is None:
            lo, best = rate, c
        else:
            hi, first_fail = rate, c
        rate = next_rate(lo, hi)
        if lo is None and rate is not None and rate < 1:
            rate = None
    out = {"slo_ms": round(slo_ms, 3), "probes": len(cells), "stopped": why_stopped,
           "rate": best["offered_rps"] if best else None, "failed_rate": first_fail["offered_rps"] if first_fail
           else None, "failed_why": first_fail["slo_why"] if first_fail else ""}
    if best:
        out.update(p99_us=best["latency_us"]["p99"], answered_rps=best["rps"],
                   cpu_ms_per_request=best.get("cpu_ms_per_request"), rss_peak_kib=best["rss_peak_kib"],
                   rss_growth_kib=best.get("rss_growth_kib"), connections_peak=best.get("connections_peak"),
                   samples=best.get("samples"))
    # what the figure means: exact within SLO_PRECISION, or a bound
    if best and first_fail:
        out["bound"] = "within %d%%" % round(100 * (first_fail["offered_rps"] / best["offered_rps"] - 1))
    elif best:
        out["bound"] = "at least (%s)" % ("no rate failed within the budget" if why_stopped == "budget"
                                          else "no rate failed")
    elif first_fail:
        out["bound"] = "below the lowest rate tried"
    else:
        out["bound"] = "not measured: over --budget"
    return out, cells


def start_rate(unloaded_p50_us):
    """Half of what one connection would do at the unloaded latency, within [SLO_MIN_START, SLO_START_MAX]."""
    one = 1e6 / max(unloaded_p50_us, 1)
    return round_rate(min(SLO_START_MAX, max(SLO_MIN_START, one / 2)))
