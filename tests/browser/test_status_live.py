#!/usr/bin/env python3
"""/server-status?view=live in headless Chromium (Debian's chromium, installed by ./quickstart), under every MPM.

The real server (its processes sized small, /server-status enabled) serves the page; Chromium loads it with a
virtual-time budget of 5 s, in which the page's script polls ?json about once a second, and --dump-dom gives the
document as the script left it. Checked: the MPM and server name read from ?json, at least 3 polls and the
state "polling" (no ?json failure), a line with points in each chart (requests/s; busy and idle workers; the
connections by state: event's counts, or the reading, writing, keep-alive and closing slots of prefork's and
worker's scoreboard) with a numeric last value in its legend, and the scoreboard shown with its characters.

The server under test is $HTTPD_BIN (set by make check), else server/httpd of the source tree. Exits 77
(skipped, saying why) without chromium. Prints one "N passed, N failed" line and exits non-zero on failure.
"""
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
SRCDIR = os.environ.get("HTTPD_SRCDIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HTTPD = os.environ.get("HTTPD_BIN") or os.path.join(SRCDIR, "server", "httpd")
sys.path.insert(0, os.path.join(SRCDIR, "loadtest"))
import httpdbench as hb  # noqa: E402  (starting a server on a free loopback port and stopping it by its PID)

counts = {"passed": 0, "failed": 0}
CONNECTION_SERIES = {"event": ["writing", "keep-alive", "reading or handling", "total"],
                     "prefork": ["reading", "writing", "keep-alive", "closing"],
                     "worker": ["reading", "writing", "keep-alive", "closing"]}


def check(name, ok, detail=""):
    counts["passed" if ok else "failed"] += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name, "" if ok or detail == "" else ": %s" % (detail,)))
    return ok


class Dom(html.parser.HTMLParser):
    """Text by element id, and the polylines (their series and points) of each chart."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.lines, self.ids, self.svg = {}, {}, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.svg = a.get("id")
        if tag == "polyline" and self.svg:
            self.lines.setdefault(self.svg, {})[a.get("data-series")] = a.get("points", "")
        self.ids.append(a.get("id"))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None
        if self.ids:
            self.ids.pop()

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data):
        for i in self.ids:
            if i:
                self.text[i] = self.text.get(i, "") + data


def points(text):
    try:
        return [tuple(float(v) for v in p.split(",")) for p in text.split()]
    except ValueError:
        return []


def one(mpm, chromium, d):
    port = hb.free_port()
    sd = os.path.join(d, mpm)
    os.mkdir(sd)
    settings = hb.mpm_settings(mpm, 2, 4, 2, 1) if mpm != "event" else ["StartServers 1"]
    conf = hb.httpd_conf(mpm, port, sd, os.path.join(SRCDIR, "htdocs"), 5, settings)
    conf += "<Location /server-status>\n    SetHandler server-status\n</Location>\n"
    proc = hb.launch([HTTPD, "-f", hb.write(os.path.join(sd, "httpd.conf"), conf), "-D", "FOREGROUND"], port, sd)
    try:
        run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--user-data-dir=%s" % os.path.join(sd, "profile"), "--virtual-time-budget=5000",
                              "--dump-dom", "http://127.0.0.1:%d/server-status?view=live" % port],
                             capture_output=True, text=True, timeout=120)
    finally:
        hb.stop(proc)
    dom = Dom()
    dom.feed(run.stdout)
    t = dom.text
    check("%s: chromium loaded the page" % mpm, run.returncode == 0 and "<body" in run.stdout, run.stderr[-300:])
    check("%s: the MPM and the server's name from ?json" % mpm, t.get("mpm") == mpm
          and t.get("name") == "127.0.0.1", (t.get("mpm"), t.get("name")))
    polls = int(t.get("samples", "0") or 0)
    check("%s: ?json polled at least 3 times, without failure" % mpm, polls >= 3 and t.get("state") == "polling",
          (polls, t.get("state")))
    want = {"rps": ["requests/s"], "workers": ["busy", "idle"], "conns": CONNECTION_SERIES[mpm]}
    for chart, series in want.items():
        got = dom.lines.get(chart, {})
        check("%s: chart %s has the series %s" % (mpm, chart, series), sorted(got) == sorted(series), sorted(got))
        for name in series:
            pts = points(got.get(name, ""))
            check("%s: %s/%s drawn from %s polls" % (mpm, chart, name, "several" if name != "requests/s" else
                                                    "the second"),
                  len(pts) >= (polls - 1 if name == "requests/s" else polls) and all(
                      48 <= x <= 452 and 8 <= y <= 160 for x, y in pts), got.get(name))
        legend = t.get(chart + "-legend", "")
        check("%s: %s legend with each series' last value" % (mpm, chart),
              all(name in legend for name in series) and any(ch.isdigit() for ch in legend), legend)
    board = t.get("board", "")
    check("%s: the scoreboard shown" % mpm, len(board) >= 1 and set(board) <= set("_SRWKDCLGI."), board)


def main():
    chromium = shutil.which("chromium")
    if chromium is None:
        print("SKIP: chromium is not installed (apt-get install chromium; ./quickstart installs it)")
        return 77
    with tempfile.TemporaryDirectory(prefix="test_status_live.") as d:
        for mpm in ("prefork", "worker", "event"):
            one(mpm, chromium, d)
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
