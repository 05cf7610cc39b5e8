"""report.html for loadtest/compare: one self-contained page (no external asset, no script) with the verdict
written from the data, the SLO capacity table, the plots as inline SVG (throughput and p99 against connections,
p99 against offered rate, a line per target, noisy cells and understated latencies ringed) and every table of
results.md.

page() builds the page from what compare measured; the SVG is drawn here, so the page needs neither gnuplot nor a
browser to be made, and any browser shows it from a file.
"""
import html
import math
import re

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
W, H = 680, 300  # one plot's size in px
ML, MR, MT, MB = 64, 190, 28, 44  # its margins: left (y labels), right (legend), top (title), bottom (x labels)


def esc(s):
    return html.escape(str(s), quote=True)


def ticks(lo, hi, log):
    """Tick values for an axis from lo to hi: 1, 2, 5 × powers of ten on a log axis, about 5 round steps else."""
    if log:
        out, k = [], math.floor(math.log10(lo))
        while 10 ** k <= hi * 1.0001:
            out += [m * 10 ** k for m in (1, 2, 5) if lo * 0.9999 <= m * 10 ** k <= hi * 1.0001]
            k += 1
        return out
    step = 10 ** math.floor(math.log10((hi - lo) / 5 or 1))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= 6:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def fmt(v):
    if v >= 1e6:
        return "%gM" % (v / 1e6)
    if v >= 1e4:
        return "%gk" % (v / 1e3)
    return "%g" % float("%.3g" % v)


def svg_plot(title, xlabel, ylabel, series, logx=True, logy=False, hline=None):
    """An inline SVG line plot. series: [(name, [(x, y, flags)])] with flags a set of "noisy", "understated";
    hline: (y, label) drawn across, e.g. the SLO. Points with y <= 0 on a log axis are left out."""
    pts = [(x, y) for _, ps in series for x, y, _ in ps if x > 0 and (y > 0 or not logy)]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts] + ([hline[0]] if hline else [])
    x0, x1 = min(xs), max(xs)
    y0, y1 = (min(ys), max(ys)) if logy else (0.0, max(ys) or 1.0)
    if logx:
        x0, x1 = x0 / 1.5, x1 * 1.5
    elif x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if logy:
        y0, y1 = y0 / 1.5, y1 * 1.5
    else:
        y1 *= 1.1
    pw, ph = W - ML - MR, H - MT - MB

    def sx(x):
        f = (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) if logx else (x - x0) / (x1 - x0)
        return ML + f * pw

    def sy(y):
        f = (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) if logy else (y - y0) / (y1 - y0)
        return MT + ph - f * ph

    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="%d" height="%d" viewBox="0 0 %d %d" '
           'role="img" aria-label="%s">' % (W, H, W, H, esc(title)),
           '<text x="%d" y="16" class="title">%s</text>' % (ML, esc(title)),
           '<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>' % (ML, MT, pw, ph)]
    # on a log x axis the measured values themselves when they are few (connection counts), else round ticks
    xt = sorted({p[0] for p in pts}) if logx and len({p[0] for p in pts}) <= 8 else ticks(x0, x1, logx)
    for x in xt:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>' % (sx(x), MT, sx(x), MT + ph))
        out.append('<text x="%.1f" y="%d" class="xt">%s</text>' % (sx(x), MT + ph + 16, fmt(x)))
    for y in ticks(y0, y1, logy):
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>' % (ML, sy(y), ML + pw, sy(y)))
        out.append('<text x="%d" y="%.1f" class="yt">%s</text>' % (ML - 6, sy(y) + 4, fmt(y)))
    out.append('<text x="%.1f" y="%d" class="xl">%s</text>' % (ML + pw / 2, H - 6, esc(xlabel)))
    out.append('<text x="14" y="%.1f" class="yl" transform="rotate(-90 14 %.1f)">%s</text>' % (
        MT + ph / 2, MT + ph / 2, esc(ylabel)))
    if hline:
        y = sy(hline[0])
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="slo"/>' % (ML, y, ML + pw, y))
        out.append('<text x="%d" y="%.1f" class="slol">%s</text>' % (ML + pw - 4, y - 4, esc(hline[1])))
    for i, (name, ps) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        ps = sorted((x, y, f) for x, y, f in ps if x > 0 and (y > 0 or not logy))
        if not ps:
            continue
        if len(ps) > 1:
            out.append('<polyline class="series" stroke="%s" points="%s"/>' % (
                color, " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y, _ in ps)))
        for x, y, flags in ps:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s, %s</title></circle>' % (
                sx(x), sy(y), color, esc(name), fmt(x), fmt(y)))
            for k, r in (("noisy", 8), ("understated", 11)):
                if k in flags:
                    out.append('<circle class="%s" cx="%.1f" cy="%.1f" r="%d"/>' % (k, sx(x), sy(y), r))
        ly = MT + 14 + 18 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (
            ML + pw + 10, ly - 4, ML + pw + 34, ly - 4, color))
        out.append('<text x="%d" y="%d" class="legend">%s</text>' % (ML + pw + 40, ly, esc(name)))
    flags = {f for _, ps in series for _, _, fs in ps for f in fs}
    ly = MT + 14 + 18 * len(series) + 8
    for k, r, label in (("noisy", 7, "noisy cell"), ("understated", 9, "latency understated")):
        if k in flags:
            out.append('<circle class="%s key" cx="%d" cy="%d" r="%d"/>' % (k, ML + pw + 22, ly - 4, r))
            out.append('<text x="%d" y="%d" class="legend">%s</text>' % (ML + pw + 40, ly, label))
            ly += 22
    out.append("</svg>")
    return "\n".join(out)


def md_to_html(md):
    """The subset of Markdown compare writes (### headings, tables, "- " lists, paragraphs) as HTML."""
    out, table = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if table is None:
                table = ["<table>", "<thead><tr>%s</tr></thead>" % "".join("<th>%s</th>" % inline(c)
                                                                          for c in cells), "<tbody>"]
            elif all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            else:
                table.append("<tr>%s</tr>" % "".join(
                    '<td%s>%s</td>' % (' class="n"' if re.fullmatch(r"[\d.,*\s-]+", c) else "", inline(c))
                    for c in cells))
            continue
        if table is not None:
            out += table + ["</tbody></table>"]
            table = None
        if line.startswith("- "):
            if not out or out[-1] != "</ul>":
                out.append("<ul>")
            else:
                out.pop()  # the list goes on
            out += ["<li>%s</li>" % inline(line[2:]), "</ul>"]
        elif line.startswith("### "):
            out.append("<h3>%s</h3>" % inline(line[4:]))
        elif line.strip():
            out.append("<p>%s</p>" % inline(line))
    if table is not None:
        out += table + ["</tbody></table>"]
    return "\n".join(out)


def inline(s):
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", esc(s))


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:12px}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
#verdict li{margin:.3em 0}.meta{color:#555;font-size:12px}code{background:#f3f3f3;padding:0 3px}
svg.plot{display:inline-block;margin:.5em 1em .5em 0;background:#fff}
svg .title{font-size:13px;font-weight:600}svg .frame{fill:none;stroke:#888}svg .grid{stroke:#e4e4e4}
svg .xt{font-size:11px;text-anchor:middle}svg .yt{font-size:11px;text-anchor:end}
svg .xl,svg .yl{font-size:12px;text-anchor:middle}svg .legend{font-size:12px}
svg .series{fill:none;stroke-width:2}svg .noisy{fill:none;stroke:#000;stroke-width:1.5}
svg .understated{fill:none;stroke:#d00;stroke-width:1.5;stroke-dasharray:3 2}
svg .slo{stroke:#d00;stroke-dasharray:6 4}svg .slol{font-size:11px;fill:#d00;text-anchor:end}
"""


def page(meta, sections, verdict, slo_html, tutorials_html=""):
    """The whole page. sections: [(workload, heading, [svg...], html of its tables)]; tutorials_html: the
    tutorials' experiment over HTTP (tutorials()), after the SLO table."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>Capacity experiment: %s</title>" % esc(", ".join(meta.get("targets", []))),
           "<style>%s</style></head><body>" % CSS,
           "<h1>Capacity experiment: %s</h1>" % esc(", ".join(meta.get("targets", []))),
           '<p class="meta">%s · %d CPUs (%s), %s · <code>%s</code></p>' % (
               esc(meta.get("date", "")), meta.get("cpus", 0), esc(meta.get("cpu_model", "")),
               esc(meta.get("kernel", "")), esc(meta.get("command", ""))),
           '<section id="verdict"><h2>Verdict</h2><ul>%s</ul></section>' % "".join(
               "<li>%s</li>" % inline(v) for v in verdict)]
    if slo_html:
        out.append('<section id="slo"><h2>SLO capacity</h2>%s</section>' % slo_html)
    if tutorials_html:
        out.append('<section id="tutorials"><h2>The tutorials\' experiment over HTTP</h2>%s</section>'
                   % tutorials_html)
    for w, heading, svgs, tables in sections:
        out.append('<section class="workload" id="w-%s"><h2>%s</h2>' % (esc(w), inline(heading)))
        out += ['<div class="plots">'] + svgs + ["</div>", tables, "</section>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def ms_text(us):
    v = us / 1000.0
    return "%.0f ms" % v if v >= 100 else "%.1f ms" % v if v >= 10 else "%.2f ms" % v


def rate_text(r):
    return "{:,.0f}".format(r) if r >= 100 else "%g" % float("%.3g" % r)


def verdict(meta, results, slo, workers):
    """Sentences saying what the numbers mean, written from them: per workload the SLO capacity of each target
    (with Little's law where a target's workers bound it), the throughput and tail at the most connections
    measured, the cores' cap on CPU-bound work, what an idle connection costs, and the noise. workers: target ->
    the requests it can serve at once (MaxRequestWorkers), or None when only its connection cap bounds it."""
    out = []
    delay_s = meta.get("delay_ms", 100) / 1000.0
    order = {t: i for i, t in enumerate(meta.get("targets", []))}
    for w in meta.get("workloads", []):
        mine = [x for x in slo if x["workload"] == w and x.get("status") == "ok"]
        if mine:
            mine.sort(key=lambda x: -(x.get("rate") or 0))
            parts = []
            for x in mine:
                if x.get("rate") is None:
                    parts.append("%s none (%s at %s req/s)" % (x["target"], x["failed_why"], rate_text(
                        x["failed_rate"])) if x.get("failed_rate") else "%s %s" % (x["target"], x["bound"]))
                    continue
                part = "%s %s req/s (p99 %s, %.3g CPU ms a request, %.1f MiB)" % (
                    x["target"], rate_text(x["rate"]), ms_text(x["p99_us"]), x.get("cpu_ms_per_request") or 0,
                    x["rss_peak_kib"] / 1024.0)
                n = workers.get(x["target"])
                if w in ("delay", "proxy-slow") and n:
                    bound = n / delay_s
                    part += " — at most MaxRequestWorkers / latency = %d / %g s = %s req/s (Little's law)" % (
                        n, delay_s, rate_text(bound))
                if x.get("bound", "").startswith("at least"):
                    part += ", at least: no rate tried failed"
                parts.append(part)
            out.append("%s (%s), p99 within %s with no error: %s." % (
                w, mine[0]["request"], ms_text(mine[0]["slo_ms"] * 1000), "; ".join(parts)))
        closed = [c for c in results if c["workload"] == w and c.get("loop") == "closed" and c["status"] == "ok"
                  and w != "idle"]
        if closed:
            top = max(c["connections"] for c in closed)
            at = sorted([c for c in closed if c["connections"] == top], key=lambda c: -c["rps"])
            parts = []
            for c in at:
                part = "%s %s req/s, p99 %s" % (c["target"], rate_text(c["rps"]), ms_text(c["latency_us"]["p99"]))
                if c.get("waiting_end"):
                    part += " with %d connections still waiting to be accepted (not in that p99)" % c["waiting_end"]
                if c["errors"].get("timeout"):
                    part += ", %d timeouts" % c["errors"]["timeout"]
                parts.append(part)
            out.append("%s at %d connections (closed loop, peak throughput): %s." % (w, top, "; ".join(parts)))
            if w == "cpu" and meta.get("cpu_us"):
                cap = meta.get("cpus", 1) * 1e6 / meta["cpu_us"]
                best = max(c["rps"] for c in closed)
                out.append("cpu: the cores cap every model: %d CPUs / %d µs = %s req/s at most; the best cell "
                           "reached %s (%d%%), the rest of the CPU going to the client and the kernel." % (
                               meta.get("cpus", 1), meta["cpu_us"], rate_text(cap), rate_text(best),
                               round(100 * best / cap)))
            if w == "tls-handshake":
                cost = sorted([c for c in at if c.get("cpu_ms_per_request")], key=lambda c: c["cpu_ms_per_request"])
                if cost:
                    out.append("tls-handshake, the server's CPU per request (a full handshake each) at %d "
                               "connections: %s." % (top, "; ".join(
                                   "%s %.3g ms (at most about %s handshakes/s on %d CPUs)" % (
                                       c["target"], c["cpu_ms_per_request"],
                                       rate_text(meta.get("cpus", 1) * 1000.0 / c["cpu_ms_per_request"]),
                                       meta.get("cpus", 1)) for c in cost)))
        idle = [c for c in results if c["workload"] == w and w == "idle"]
        if idle:
            top = max(c["connections"] for c in idle)
            parts = []
            for c in sorted([c for c in idle if c["connections"] == top], key=lambda c: order.get(c["target"], 0)):
                if c["status"] == "ok":
                    parts.append("%s holds %d, %s bytes each, and still serves %s req/s" % (
                        c["target"], c.get("idle_held", 0), rate_text(c.get("idle_bytes_each") or 0),
                        rate_text(c["rps"])))
                elif c["status"] == "starved":
                    parts.append("%s answers %d of them and then serves nobody else (every worker held)" % (
                        c["target"], c.get("idle_answered", 0)))
            if parts:
                out.append("idle, %d idle keep-alive connections: %s." % (top, "; ".join(parts)))
    noisy = [c for c in results if c.get("noisy")]
    if noisy:
        out.append("%d cells were noisy (other programs used more than a tenth of the CPUs): ringed in the plots, "
                   "starred in the tables." % len(noisy))
    return out


# The tutorials' figures (../shared/tutorials/README.md), as speed-ups over sequential work, by work and model
TUTORIALS = {
    ("cpu", "threads"): (0.54, "2 threads 1.8× slower than sequential (24.6 s → 45.5 s, the GIL); a pool of 5 "
                               "threads about 2× slower"),
    ("cpu", "processes"): (1.97, "2 processes 2× faster (24.6 s → 12.5 s); a process pool 2.2× on 160 thumbnails"),
    ("cpu", "fork"): (1.97, "2 processes 2× faster (24.6 s → 12.5 s)"),
    ("cpu", "asyncio"): (None, "no figure: an event loop runs CPU work one piece at a time"),
    ("io", "threads"): (4.7, "8 threads 4.7× faster on 91 downloads (19.4 s → 4.1 s); ~15× fetching sites"),
    ("io", "processes"): (None, "no figure"),
    ("io", "fork"): (None, "no figure"),
    ("io", "asyncio"): (300.0, "green threads 9 s → 0.03 s (300×)"),
}


def app_cells(results):
    """{(proxy target, work, model): {connections: cell}} of the app-<work>-<model> closed-loop cells measured."""
    out = {}
    for c in results:
        m = re.fullmatch(r"app-(cpu|io)-(\w+)", c.get("workload", ""))
        if m and c.get("loop") == "closed" and c["status"] == "ok" and c.get("requests"):
            out.setdefault((c["target"], m.group(1), m.group(2)), {})[c["connections"]] = c
    return out


def tutorials(meta, results, workers=None):
    """The tutorials' experiment over HTTP: (Markdown lines of the table that puts each application model's
    speed-up behind the proxy next to the tutorials' figure, sentences saying where HTTP changes the lesson).
    The speed-up is the requests/s at the most connections measured over those at the fewest (one connection is
    sequential work, as the tutorials' baseline). Both empty without app cells."""
    cells = app_cells(results)
    if not cells:
        return [], []
    workers = workers or {}
    order = {t: i for i, t in enumerate(meta.get("targets", []))}
    models = ["threads", "processes", "fork", "asyncio"]
    rows, speed = [], {}
    for key in sorted(cells, key=lambda k: (k[1], order.get(k[0], 0), models.index(k[2]) if k[2] in models else 9)):
        target, work, model = key
        by = cells[key]
        lo, hi = min(by), max(by)
        s = by[hi]["rps"] / by[lo]["rps"] if hi > lo and by[lo]["rps"] else None
        speed[key] = (lo, hi, s)
        fig = TUTORIALS.get((work, model), (None, "no figure"))
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            "CPU-bound" if work == "cpu" else "I/O-bound", model, target, rate_text(by[lo]["rps"]), hi,
            rate_text(by[hi]["rps"]), "%.2f×" % s if s is not None else "-", ms_text(by[hi]["latency_us"]["p99"]),
            fig[1]))
    md = ["### The tutorials' experiment over HTTP", "",
          "loadtest/upstream.py behind the proxy; speed-up: requests/s at the most connections measured over those "
          "at the fewest (1 connection: one request at a time, the tutorials' sequential baseline).", "",
          "| work | application | proxy | req/s at fewest | conns | req/s | speed-up | p99 | the tutorials |",
          "|---|---|---|---:|---:|---:|---:|---:|---|"] + rows + [""]

    said = []
    cpus = meta.get("cpus", 1)
    io_s = meta.get("delay_ms", 100) / 1000.0
    pool = meta.get("app_workers", 8)
    for target in sorted({k[0] for k in cells}, key=lambda t: order.get(t, 0)):
        cpu = {m: speed[k] for k, m in [((target, "cpu", m), m) for m in models] if k in speed}
        if cpu:
            parts = ["%s %s" % (m, "%.2f×" % v[2] if v[2] is not None else "-") for m, v in cpu.items()]
            lo, hi = min(v[0] for v in cpu.values()), max(v[1] for v in cpu.values())
            text = ("CPU-bound Python behind %s, %d connections over %d: %s (the tutorials: 2 threads 0.54×, 2 "
                    "processes 1.97×)." % (target, hi, lo, ", ".join(parts)))
            if lo == hi:
                text += " One connection count measured: -c 1,N gives the speed-up."
            t, p = cpu.get("threads"), cpu.get("processes") or cpu.get("fork")
            if t and p and t[2] is not None and p[2] is not None:
                if p[2] > t[2] * 1.2:
                    text += (" The lesson holds over HTTP: processes use the cores, threads take turns under the "
                             "GIL;")
                else:
                    text += (" Over HTTP the gap narrows (processes %.2f× threads):" % (p[2] / t[2] if t[2] else 0))
                text += (" every model is capped by the %d CPUs, which the proxy and the load generator share with "
                         "the application, so no model reaches the tutorials' 2× here." % cpus
                         if p[2] < 1.9 else " processes reach the cores' bound (%d CPUs)." % cpus)
            if t and t[2] is not None and t[2] > 1.1:
                text += (" Threads gain %.2f× instead of losing under the GIL: at one connection the application "
                         "also waits for each request's trip through the client and the proxy, and more connections "
                         "fill those waits, so over HTTP the sequential baseline is not all Python." % t[2])
            a_ = cpu.get("asyncio")
            if a_ and a_[2] is not None:
                c = cells[(target, "cpu", "asyncio")]
                text += (" asyncio's one loop queues them: p99 %s at %d connections against %s at %d." % (
                    ms_text(c[a_[1]]["latency_us"]["p99"]), a_[1], ms_text(c[a_[0]]["latency_us"]["p99"]), a_[0]))
            said.append(text)
        io = {m: speed[k] for k, m in [((target, "io", m), m) for m in models] if k in speed}
        if io:
            lo, hi = min(v[0] for v in io.values()), max(v[1] for v in io.values())
            parts = ["%s %s" % (m, "%.2f×" % v[2] if v[2] is not None else "-") for m, v in io.items()]
            text = ("I/O-bound (%g ms a request) behind %s, %d connections over %d: %s (the tutorials: 8 threads "
                    "4.7×, green threads 300×). Over HTTP the speed-up is set by the connections, not by the model: "
                    "%d connections at %g s a request allow %s req/s at most (Little's law)" % (
                        io_s * 1000, target, hi, lo, ", ".join(parts), hi, io_s, rate_text(hi / io_s)))
            if "processes" in io and pool < hi:
                c = cells[(target, "io", "processes")][io["processes"][1]]
                text += ("; the pool of %d processes serves %d at a time, %s req/s at most, and the other requests "
                         "queue in its listen queue (%s req/s, p99 %s)" % (
                             pool, pool, rate_text(pool / io_s), rate_text(c["rps"]),
                             ms_text(c["latency_us"]["p99"])))
            n = workers.get(target)
            if n and n < hi:
                text += ("; and the proxy's own model caps it: %s serves %d requests at once (MaxRequestWorkers), "
                         "%s req/s at most, however the application is built" % (target, n, rate_text(n / io_s)))
            said.append(text + ".")
    return md, said
