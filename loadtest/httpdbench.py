"""What the load-test drivers (loadtest/bench, loadtest/compare) share: free loopback ports, starting a server
(this tree's httpd, Debian's apache2 or nginx) in its own session and stopping it by its PID, measuring its process
tree from /proc (RSS, CPU seconds, processes, threads), and running wrk with a script whose done() prints one JSON
line (loadtest/report.lua and the workload scripts that load it).

Everything here listens on and connects to 127.0.0.1 only, and every wrk run is bounded by its duration plus a
margin.
"""
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
APACHE = "/usr/sbin/apache2"
NGINX = "/usr/sbin/nginx"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile():
    """Raises RLIMIT_NOFILE to its hard limit (wrk and the servers started from here inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with status %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        # Something answers on the port; make sure it is this server, not another process that took the port
        # between free_port() and the bind (a server that could not bind exits at once).
        time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError("server exited with status %s (port %d taken by another process?)"
                               % (proc.returncode, port))
        return
    raise RuntimeError("server did not listen on port %d" % port)


def descendants(pid):
    """pid and every process below it, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_sum(pids, key):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(key):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def rss_kib(pids):
    return _status_sum(pids, "VmRSS:")


def thread_count(pids):
    return _status_sum(pids, "Threads:")


def cpu_seconds(pids):
    """User + system CPU seconds of the processes, plus those of their children already reaped (cutime, cstime):
    summed over a whole tree this counts a process that exited between two samples exactly once."""
    ticks = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3 of stat(5)); utime, stime, cutime, cstime are fields 14-17
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


def connections(port):
    """The server side of port on 127.0.0.1, from /proc/net/tcp: (connections waiting in the listen queue,
    connections the server still holds: handshaking, established or closed by the client only). Those the server
    has closed (FIN_WAIT, TIME_WAIT...) are the kernel's business, not the server's."""
    suffix, queued, open_ = ":%04X" % port, 0, 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if not fields[1].endswith(suffix):
                continue
            if fields[3] == "0A":  # LISTEN: rx_queue is the accept queue
                queued += int(fields[4].split(":")[1], 16)
            elif fields[3] in ("01", "03", "08"):  # ESTABLISHED, SYN_RECV, CLOSE_WAIT
                open_ += 1
    return queued, open_


def waiting(port):
    """Connections to 127.0.0.1:port that the server has not accepted yet, from /proc/net/tcp: those complete in
    its listen (accept) queue plus the clients' handshakes still unanswered (SYN_SENT: the queue was full and the
    kernel dropped their SYN). A closed-loop client's latency clock has not started for any of them."""
    suffix, queued, syn_sent = ":%04X" % port, 0, 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[1].endswith(suffix):
                queued += int(fields[4].split(":")[1], 16)
            elif fields[3] == "02" and fields[2].endswith(suffix):
                syn_sent += 1
    return queued + syn_sent


def settle(port, limit=10.0):
    """Waits (at most limit seconds) until the server on port has accepted and closed every connection, so that
    one load does not spill over into the next (an overloaded server still owes answers to a full listen queue
    of connections its clients have given up on). Returns the seconds waited."""
    t0 = time.time()
    while time.time() - t0 < limit and connections(port) != (0, 0):
        time.sleep(0.1)
    return time.time() - t0


def machine_busy_seconds():
    """CPU seconds all CPUs of the machine spent outside idle and iowait since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


class TreeSampler:
    """Samples the RSS, process count and thread count of pid's tree in a thread until stop(); keeps the peaks,
    and the RSS of the first sample (rss_start_kib). Given a port, also the connections waiting to be accepted
    (waiting()): their peak and their count at the last sample taken while the load ran (waiting_end)."""

    def __init__(self, pid, interval=0.1, port=None):
        self.pid, self.interval, self.port = pid, interval, port
        self.rss_peak_kib = self.procs_peak = self.threads_peak = 0
        self.rss_start_kib = None
        self.waiting_peak = self.waiting_end = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, final=False):
        pids = descendants(self.pid)
        rss = rss_kib(pids)
        if self.rss_start_kib is None:
            self.rss_start_kib = rss
        self.rss_peak_kib = max(self.rss_peak_kib, rss)
        self.procs_peak = max(self.procs_peak, len(pids))
        self.threads_peak = max(self.threads_peak, thread_count(pids))
        if self.port and not final:
            self.waiting_end = waiting(self.port)
            self.waiting_peak = max(self.waiting_peak, self.waiting_end)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self):
        self._sample()  # before the load: the RSS it starts from
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        # the client has gone: the connections it left queued are not waiting for anyone now
        self._sample(final=True)


def mpm_settings(mpm, start_servers, max_workers, threads_per_child, workers):
    """httpd/Apache directives for a model sized like this: prefork with max_workers processes, worker with
    max_workers threads in children of threads_per_child, event with `workers` children."""
    if mpm == "prefork":
        return [
            "StartServers %d" % start_servers,
            "MinSpareServers %d" % start_servers,
            "MaxSpareServers %d" % max(start_servers * 2, start_servers + 1),
            "ServerLimit %d" % max_workers,
            "MaxRequestWorkers %d" % max_workers,
        ]
    if mpm == "worker":
        children = max(1, max_workers // threads_per_child)
        return [
            "StartServers %d" % min(start_servers, children),
            "ServerLimit %d" % children,
            "ThreadsPerChild %d" % threads_per_child,
            "ThreadLimit %d" % threads_per_child,
            "MaxRequestWorkers %d" % (children * threads_per_child),
            "MinSpareThreads %d" % threads_per_child,
            "MaxSpareThreads %d" % (children * threads_per_child),
        ]
    if mpm == "event":
        return ["StartServers %d" % workers]
    raise ValueError(mpm)


# Requests per keep-alive connection for every server measured (MaxKeepAliveRequests, nginx's
# keepalive_requests, limitsrv's MAXREQ): the keep-alive workloads reconnect alike everywhere.
KEEPALIVE_REQUESTS = 100


def httpd_conf(mpm, port, d, docroot, keepalive_timeout, settings):
    """A complete httpd configuration: one loopback listener, logs and PidFile in d, the given MPM settings."""
    lines = [
        "Listen 127.0.0.1:%d" % port,
        "ServerName localhost",
        'DocumentRoot "%s"' % docroot,
        'TypesConfig "%s/conf/mime.types"' % TOP,
        'ErrorLog "%s/error_log"' % d,
        "LogLevel warn",
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
        'CustomLog "%s/access_log" common' % d,
        'PidFile "%s/httpd.pid"' % d,
        "KeepAlive On",
        "MaxKeepAliveRequests %d" % KEEPALIVE_REQUESTS,
        "KeepAliveTimeout %d" % keepalive_timeout,
        "MPM %s" % mpm,
    ]
    lines += settings
    return "\n".join(lines) + "\n"


def fill(template, values):
    """loadtest/peers/<template> with its @NAME@ placeholders replaced (@KEEPALIVE_REQUESTS@ always)."""
    with open(os.path.join(HERE, "peers", template)) as f:
        text = f.read()
    for k, v in dict(values, KEEPALIVE_REQUESTS=KEEPALIVE_REQUESTS).items():
        text = text.replace("@%s@" % k, str(v))
    return text


def apache_conf(flavour, port, d, docroot, settings, keepalive_timeout):
    """Debian's apache2 with the prefork, worker or event MPM (event takes the worker MPM's directives)."""
    return fill("apache.conf", {"MPM": flavour, "PORT": port, "DIR": d, "DOCROOT": docroot,
                                "MPM_SETTINGS": "\n".join(settings), "KEEPALIVE_TIMEOUT": keepalive_timeout})


def nginx_conf(port, d, docroot, workers, connections, keepalive_timeout):
    return fill("nginx.conf", {"PORT": port, "DIR": d, "DOCROOT": docroot, "WORKERS": workers,
                               "CONNECTIONS": connections, "KEEPALIVE_TIMEOUT": keepalive_timeout})


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def launch(cmd, port, d, cwd=None, timeout=10.0):
    """Runs cmd (a server staying in the foreground) in its own session with stderr in d/stderr and waits until
    it listens on port; on failure raises with the end of its stderr and error logs."""
    with open(os.path.join(d, "stderr"), "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd, start_new_session=True)
    try:
        wait_port(port, proc, timeout)
    except RuntimeError as e:
        if proc.poll() is None:
            stop(proc)
        logs = "".join(_tail(os.path.join(d, name)) for name in sorted(os.listdir(d))
                       if name == "stderr" or name.endswith("error_log")).split("\n")
        raise RuntimeError(" / ".join([str(e)] + [x for x in logs if x.strip()]) + " (%s)" % " ".join(cmd)) from None
    return proc


def stop(proc):
    """SIGTERM to the server's PID (it stops its children), SIGKILL to its process group after 15 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def seconds(duration):
    """wrk's duration syntax (10, 10s, 2m, 1h) in seconds."""
    text = str(duration).strip()
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def wrk(port, path, duration, connections, threads=1, script=None, args=(), timeout="5s", scheme="http"):
    """Runs wrk against <scheme>://127.0.0.1:port<path> and returns the JSON line its script printed (report.lua
    by default). threads is clamped to connections, as wrk requires."""
    script = script or os.path.join(HERE, "report.lua")
    url = "%s://127.0.0.1:%d%s" % (scheme, port, path)
    cmd = ["wrk", "-t%d" % max(1, min(threads, connections)), "-c%d" % connections, "-d%s" % duration,
           "--timeout", str(timeout), "-s", script, url]
    if args:
        cmd += ["--"] + list(args)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds(duration) + seconds(timeout) + 60)
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("%s printed no report (status %d):\n%s%s" % (" ".join(cmd), run.returncode, run.stdout,
                                                                     run.stderr))


def measure(pid, port, path, duration, connections, threads=1, script=None, args=(), timeout="5s", scheme="http",
            upstream_pid=None):
    """wrk() against the server whose process tree starts at pid, plus what the server and the machine did
    meanwhile: server_cpu_s (its processes' user + system time), client_cpu_s (wrk's), upstream_cpu_s (that of
    the process tree at upstream_pid, the application the server passes requests to; None without one),
    other_cpu_s (everything else the machine ran: noise to be aware of), and the peaks of its RSS, process and
    thread counts sampled every 0.1 s (rss_peak_kib, procs_peak, threads_peak)."""
    upstream_before = cpu_seconds(descendants(upstream_pid)) if upstream_pid else 0.0
    cpu_before = cpu_seconds(descendants(pid))
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = machine_busy_seconds()
    sampler = TreeSampler(pid).start()
    try:
        r = wrk(port, path, duration, connections, threads, script, args, timeout, scheme)
    finally:
        sampler.stop()
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    busy = machine_busy_seconds() - busy_before
    server = cpu_seconds(descendants(pid)) - cpu_before
    upstream = cpu_seconds(descendants(upstream_pid)) - upstream_before if upstream_pid else 0.0
    client = client_after.ru_utime + client_after.ru_stime - client_before.ru_utime - client_before.ru_stime
    me = self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime  # the sampler
    r["server_cpu_s"] = round(server, 2)
    r["client_cpu_s"] = round(client, 2)
    r["upstream_cpu_s"] = round(upstream, 2) if upstream_pid else None
    r["other_cpu_s"] = round(max(0.0, busy - server - client - upstream - me), 2)
    r["rss_peak_kib"] = sampler.rss_peak_kib
    r["procs_peak"] = sampler.procs_peak
    r["threads_peak"] = sampler.threads_peak
    return r


def compile_tool(name, work, libs=()):
    """Compiles loadtest/<name>.c with $CC (default cc) into work/<name>, linked with libs (e.g. "-lssl") and
    -lm; returns (path, None) or (None, why not). The load tools written in C are built at the start of each
    run, so they need no build step and can never be installed by mistake."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return None, "no C compiler (%s) to build loadtest/%s.c" % (cc, name)
    out = os.path.join(work, name)
    run = subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, name + ".c")] + list(libs) + ["-lm"],
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        return None, "%s failed on loadtest/%s.c: %s" % (cc, name, run.stderr.strip()[-300:])
    return out, None


def write_file(path, size):
    """A file of size bytes (a repeating 0..255 pattern) for the static workloads."""
    block = bytes(range(256)) * 256
    with open(path, "wb") as f:
        for off in range(0, size, len(block)):
            f.write(block[:min(len(block), size - off)])
    return path


def can_connect(port, timeout):
    """Whether a connection to 127.0.0.1:port is established within timeout seconds (not when the server's
    listen queue is full: the kernel then drops the handshake and the client retries for minutes)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def hold_idle(port, n, path, wait=10.0):
    """Opens up to n keep-alive connections, sends one request on each and waits (at most wait seconds) for the
    answers, leaving them idle; returns (the open sockets, how many were answered). A server that stops
    accepting (its connection limit) or answering (every worker held) gets fewer: the caller reports how many."""
    socks = []
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(req)
        except OSError:
            break
        socks.append(s)
    # drain the answers so that every connection is idle on the server's side
    answered = 0
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        deadline = time.time() + wait
        while sel.get_map() and time.time() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.time())):
                try:
                    answered += 1 if key.fileobj.recv(65536) else 0
                except OSError:
                    pass
                sel.unregister(key.fileobj)
    time.sleep(0.5)
    return socks, answered


def nginx_proxy_conf(port, d, docroot, workers, connections, keepalive_timeout, upstream_port, upstream_keepalive):
    """nginx.conf's server plus /proxy/ passed to 127.0.0.1:upstream_port with an upstream keepalive pool."""
    return fill("nginx-proxy.conf", {"PORT": port, "DIR": d, "DOCROOT": docroot, "WORKERS": workers,
                                     "CONNECTIONS": connections, "KEEPALIVE_TIMEOUT": keepalive_timeout,
                                     "UPSTREAM_PORT": upstream_port, "UPSTREAM_KEEPALIVE": upstream_keepalive})


def apache_proxy_lines(upstream_port):
    """What an Apache peer's configuration gets appended for the proxy workloads (mod_proxy, mod_proxy_http)."""
    return fill("apache-proxy.conf", {"UPSTREAM_PORT": upstream_port})


def status_counters(port, timeout=5.0):
    """(connections accepted, requests served) by this tree's httpd on port, from its /server-status?json: the sum
    of every worker slot's "connections" (counted when a connection is accepted) and total_accesses (counted when
    a request is done). The fetch's own connection is already in the first figure, its request not yet in the
    second, so between two calls the server accepted c2 - c1 - 1 connections and served a2 - a1 - 1 requests."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/server-status?json", headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError("/server-status?json on port %d answered %d" % (port, resp.status))
    finally:
        conn.close()
    doc = json.loads(body)
    accepted = sum(s.get("connections", 0) for c in doc.get("children", []) for s in c.get("slots", []))
    return accepted, doc["total_accesses"]
