"""What the smoke tests of the load tools share: where the source tree and the server under test are, check()
with its counts, and the run itself (skipped without wrk, a temporary directory removed afterwards, one closing
"N passed, N failed" line and the exit status)."""
import os
import shutil
import tempfile

SRCDIR = os.environ.get("HTTPD_SRCDIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HTTPD = os.environ.get("HTTPD_BIN") or os.path.join(SRCDIR, "server", "httpd")

counts = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    """One check: prints PASS or FAIL (with the detail) and counts it; returns ok."""
    if ok:
        counts["passed"] += 1
        print("PASS: %s" % name)
    else:
        counts["failed"] += 1
        print("FAIL: %s%s" % (name, (": " + str(detail)) if detail else ""))
    return ok


def run(prefix, body):
    """Runs body(directory) in a fresh temporary directory; returns the exit status (77: skipped, no wrk)."""
    if shutil.which("wrk") is None:
        print("SKIP: wrk is not installed")
        return 77
    out = tempfile.mkdtemp(prefix=prefix)
    try:
        body(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0
