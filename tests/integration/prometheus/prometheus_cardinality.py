#!/usr/bin/env python3
"""Cardinality: 10,000 named locks expose at most LOCKAUDIT_MAX_SERIES + 1 `lock` series per family.

Usage: prometheus_cardinality.py MANY_LOCKS WORKDIR

metrics_many_locks (linked API: lockaudit::serve_metrics, no shim) names 10,000 lockaudit::mutex
and acquires each. Scraped with LOCKAUDIT_MAX_SERIES unset (default 50) and set to 7: every family
with a `lock` label has exactly max + 1 distinct values, one of them `other`, and the acquisitions
summed over the series are at least the 10,000 of the set-up loop (nothing dropped by the cap).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtest import Processes, fail, http_get  # noqa: E402

LOCK_FAMILIES = ["lockaudit_lock_acquisitions_total", "lockaudit_lock_contentions_total",
                 "lockaudit_lock_wait_seconds_bucket", "lockaudit_lock_wait_seconds_count",
                 "lockaudit_lock_hold_sampled_seconds_bucket", "lockaudit_lock_hold_sampled_seconds_sum"]


def run(procs, program, max_series):
    env = os.environ.copy()
    env.pop("LD_PRELOAD", None)
    env.pop("LOCKAUDIT_MAX_SERIES", None)
    if max_series != 50:
        env["LOCKAUDIT_MAX_SERIES"] = str(max_series)
    p = procs.start(f"many_locks_{max_series}", [program, "127.0.0.1:0", "20"], env)
    url = procs.wait_metrics_url(p)
    time.sleep(1.0)  # some contention first
    t0 = time.monotonic()
    status, text = http_get(url, timeout=30)
    took = time.monotonic() - t0
    if status != 200:
        fail(f"GET {url}: HTTP {status}")
    labels = {}
    acquisitions = 0.0
    for line in text.splitlines():
        m = re.match(r'(lockaudit_lock_\w+)\{lock="((?:[^"\\]|\\.)*)"', line)
        if m:
            labels.setdefault(m.group(1), set()).add(m.group(2))
            if m.group(1) == "lockaudit_lock_acquisitions_total":
                acquisitions += float(line.rsplit(" ", 1)[1])
    for family in LOCK_FAMILIES:
        values = labels.get(family, set())
        if len(values) != max_series + 1 or "other" not in values:
            fail(f"max_series {max_series}: {family} has {len(values)} lock values "
                 f"(want {max_series + 1} including 'other'): {sorted(values)[:10]}...")
    if acquisitions < 10000:
        fail(f"max_series {max_series}: acquisitions summed over the series = {acquisitions} < 10000")
    print(f"LOCKAUDIT_MAX_SERIES={max_series}: {max_series + 1} lock series per family "
          f"({len(LOCK_FAMILIES)} families checked), {acquisitions:.0f} acquisitions kept; "
          f"scrape of 10,000 locks: {len(text)} bytes in {took * 1000:.0f} ms")
    procs.stop(p)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, workdir = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    with Processes(workdir) as procs:
        run(procs, program, 50)
        run(procs, program, 7)
    print("prometheus_cardinality: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
