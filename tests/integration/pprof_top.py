"""`go tool pprof -top` of a profile file or URL, for the contention-profile tests: the flat
delay in nanoseconds per function, and the text. Fails the test (FAILED: ..., exit 1) when go is
missing or pprof cannot read the profile."""
import os
import re
import shutil
import subprocess
import sys

_ROW = re.compile(r"\s*([\d.]+)ns\s+[\d.]+%\s+[\d.]+%\s+[\d.]+ns\s+[\d.]+%\s+(.*)$")


def _fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def pprof_flat(source, workdir=None):
    go = shutil.which("go")
    if go is None:
        _fail("no 'go' command: the README's apt line installs golang-go (go tool pprof)")
    env = dict(os.environ)
    if workdir:  # a fetched profile is saved under PPROF_TMPDIR, not in $HOME/pprof
        env.update(PPROF_TMPDIR=workdir, HOME=workdir)
    p = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=delay", "-unit=ns", source],
                       capture_output=True, text=True, timeout=120, env=env)
    if p.returncode != 0:
        _fail("go tool pprof cannot read %s: %s" % (source, p.stderr[-2000:]))
    flat = {}
    for line in p.stdout.splitlines():
        m = _ROW.match(line)
        if m:
            flat[m.group(2).strip()] = float(m.group(1))
    return flat, p.stdout
