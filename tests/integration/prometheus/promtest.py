"""Helpers shared by the Prometheus integration tests (python3 standard library only).

Every process a test starts is tracked by pid and stopped by pid (SIGTERM, then SIGKILL) when the
test ends, also on failure: use `with Processes() as procs: procs.start(...)`.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

METRICS_LINE = re.compile(r"lockaudit: metrics on (http://\S+/metrics)")


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def prom_query(base, expr, timeout=10):
    """Instant query: returns (status, result list or error text)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        import json
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        import json
        try:
            body = json.load(e)
        except Exception:  # noqa: BLE001
            return "error", f"HTTP {e.code}"
    if body.get("status") != "success":
        return "error", body.get("error", "unknown error")
    return "success", body["data"]["result"]


class Processes:
    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def __enter__(self):
        return self

    def start(self, name, argv, env=None):
        out = open(os.path.join(self.workdir, f"{name}.out"), "w")
        err = open(os.path.join(self.workdir, f"{name}.err"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             env=env if env is not None else os.environ.copy())
        p.lockaudit_name = name
        self.procs.append(p)
        print(f"started {name} pid {p.pid}: {' '.join(argv)}", flush=True)
        return p

    def log(self, name, stream="err"):
        try:
            with open(os.path.join(self.workdir, f"{name}.{stream}")) as f:
                return f.read()
        except OSError:
            return ""

    def wait_metrics_url(self, p, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = METRICS_LINE.search(self.log(p.lockaudit_name))
            if m:
                return m.group(1)
            if p.poll() is not None:
                break
            time.sleep(0.1)
        fail(f"{p.lockaudit_name} did not log 'lockaudit: metrics on ...' (exit {p.poll()}); "
             f"stderr:\n{self.log(p.lockaudit_name)[-3000:]}")

    def stop(self, p, timeout=10):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            self.stop(p)
        return False


def shim_env(shim, **extra):
    env = os.environ.copy()
    env["LD_PRELOAD"] = shim + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env.setdefault("LOCKAUDIT_LOG", "stderr")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def parse_exposition(text):
    """{family: set of label strings} for lockaudit_* samples, and the sample count."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+$", line)
        if not m:
            fail(f"unparsable exposition line: {line!r}")
        series.setdefault(m.group(1), set()).add(m.group(2) or "")
    return series
