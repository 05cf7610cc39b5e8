"""What the smoke tests of the load tools share: where the source tree and the server under test are, check()
with its counts, load() of a tool that is a script without .py, and the run itself (skipped without wrk, a temporary directory removed afterwards, one closing
"N passed, N failed" line and the exit status)."""
import importlib.machinery
import importlib.util
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


def load(name, path):
    """The module in `path` (a script such as loadtest/bench, without .py) under `name`."""
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


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
