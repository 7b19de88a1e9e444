"""Helpers of the contention-profile tests (profile_test, profile_holder_test, prometheus_pprof):
fail(), the JSON lines of a report, and `go tool pprof -top` of a profile file or URL (the flat
delay in nanoseconds per function, and the text; fails the test when go is missing or pprof
cannot read the profile)."""
import json
import os
import re
import shutil
import subprocess
import sys

_ROW = re.compile(r"\s*([\d.]+)ns\s+[\d.]+%\s+[\d.]+%\s+[\d.]+ns\s+[\d.]+%\s+(.*)$")


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def report_lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def pprof_flat(source, workdir=None):
    go = shutil.which("go")
    if go is None:
        fail("no 'go' command: the README's apt line installs golang-go (go tool pprof)")
    env = dict(os.environ)
    if workdir:  # a fetched profile is saved under PPROF_TMPDIR, not in $HOME/pprof
        env.update(PPROF_TMPDIR=workdir, HOME=workdir)
    p = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=delay", "-unit=ns", source],
                       capture_output=True, text=True, timeout=120, env=env)
    if p.returncode != 0:
        fail("go tool pprof cannot read %s: %s" % (source, p.stderr[-2000:]))
    flat = {}
    for line in p.stdout.splitlines():
        m = _ROW.match(line)
        if m:
            flat[m.group(2).strip()] = float(m.group(1))
    return flat, p.stdout
