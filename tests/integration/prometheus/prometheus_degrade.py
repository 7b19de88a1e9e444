#!/usr/bin/env python3
"""The exporter degrades to one warning, and the program runs on (DESIGN.md §4, §8).

Usage: prometheus_degrade.py SHIM DEMO LOCKAUDIT_CLI WORKDIR

Cases (metrics_demo 1 s under the shim, each must exit 0):
  port in use       LOCKAUDIT_PROMETHEUS=127.0.0.1:<a port this test listens on>
  bad address       LOCKAUDIT_PROMETHEUS=example.com:9464, and 127.0.0.1:99999
  missing library   the shim copied alone into an empty directory
each gives exactly one line "lockaudit: warning: LOCKAUDIT_PROMETHEUS: <why>; metrics off" whose
<why> names the problem. Then `lockaudit run --prometheus 127.0.0.1:0 -- metrics_demo 4` logs the
URL, answers a scrape with the demo's locks while it runs, and exits 0.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtest import Processes, fail, http_get, shim_env  # noqa: E402

WARNING = re.compile(r"^lockaudit: warning: LOCKAUDIT_PROMETHEUS: (.*); metrics off$", re.M)


def expect_warning(name, shim, demo, address, why_pattern):
    r = subprocess.run([demo, "1", "200"], env=shim_env(shim, LOCKAUDIT_PROMETHEUS=address),
                       capture_output=True, text=True, timeout=60)
    warnings = WARNING.findall(r.stderr)
    if r.returncode != 0:
        fail(f"{name}: the program exited {r.returncode}; stderr:\n{r.stderr[-2000:]}")
    if len(warnings) != 1 or not re.search(why_pattern, warnings[0]):
        fail(f"{name}: want one warning matching /{why_pattern}/, got {warnings}; stderr:\n{r.stderr[-2000:]}")
    if "metrics on" in r.stderr:
        fail(f"{name}: claims to serve metrics")
    print(f"{name}: {WARNING.search(r.stderr).group(0)}")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    shim, demo, cli, workdir = sys.argv[1:]
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        expect_warning("port in use", shim, demo, f"127.0.0.1:{port}", rf"{port}.*(in use|bind)")
    expect_warning("host name", shim, demo, "example.com:9464", r"not an IP address")
    expect_warning("port out of range", shim, demo, "127.0.0.1:99999", r"no port from 0 to 65535")
    lonely = os.path.join(workdir, "lonely")
    os.makedirs(lonely)
    shutil.copy(shim, lonely)
    expect_warning("missing library", os.path.join(lonely, os.path.basename(shim)), demo,
                   "127.0.0.1:0", r"cannot load .*liblockaudit_prometheus\.so")

    with Processes(workdir) as procs:
        p = procs.start("cli_run", [cli, "run", "--prometheus", "127.0.0.1:0", "--", demo, "4", "200"])
        url = procs.wait_metrics_url(p)
        time.sleep(1.0)
        status, text = http_get(url)
        if status != 200 or 'lockaudit_lock_contentions_total{lock="g_queue_mu"}' not in text:
            fail(f"lockaudit run --prometheus: scrape of {url} gave HTTP {status} without g_queue_mu")
        p.wait(60)
        if p.returncode != 0:
            fail(f"lockaudit run exited {p.returncode}: {procs.log('cli_run')[-2000:]}")
        print(f"lockaudit run --prometheus 127.0.0.1:0: served {url}, exit 0")
    print("prometheus_degrade: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
