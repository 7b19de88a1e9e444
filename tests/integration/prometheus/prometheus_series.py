#!/usr/bin/env python3
"""What the series on /metrics mean over time, scraped from unmodified programs under the shim.

Usage: prometheus_series.py SHIM METRICS_SHIFTING DEADLOCK_RING METRICS_EVICTING WORKDIR

1. names: metrics_shifting with the default series cap: the global `std::mutex hot_mu`, contended
   by 4 threads and in no lock-order edge, is `lock="hot_mu"`; a heap mutex first locked in a
   std::thread lambda is named by the lambda's line in metrics_shifting.cc, not by std::thread's
   _M_run() in a libstdc++ header; lockaudit_build_info and the hold sample period are there;
2. stability: metrics_shifting with LOCKAUDIT_MAX_SERIES=3, whose hottest lock changes every
   phase, scraped every 50 ms: no counter, histogram bucket, _sum or _count series ever goes
   down, no series that appeared ever vanishes, and the set of `lock` values never changes
   after the first scrape that has more locks than the cap;
3. deadlock: deadlock_ring (2 threads that deadlock for real) under the shim serves
   lockaudit_threads_deadlocked 2 and lockaudit_threads_blocked >= 2 while it is hung;
4. evictions: metrics_evicting (4,096 global mutexes cycled by 2 threads, a heap mutex made,
   locked and freed over and over by a third: nearly every lock operation evicts a lock's
   counts from its thread's cache), scraped every 20 ms, working until the 25th scrape (a stop
   file) and scraped once more after: no counter or histogram series goes down, and after the
   work ends the exported acquisitions add up exactly to the program's own count.
Exit 0 pass, 1 fail. Every process is stopped by pid.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtest import Processes, fail, http_get, shim_env  # noqa: E402

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")
LOCK_LABEL = re.compile(r'lock="((?:[^"\\]|\\.)*)"')


def samples(text):
    """{(name, labels): value} of the lockaudit_* samples of one scrape, and the TYPE lines."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(f"unparsable exposition line: {line!r}")
        if m.group(1).startswith("lockaudit_"):
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, types


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)], "histogram"
    return name, types.get(name, "untyped")


def lock_labels(s):
    return {LOCK_LABEL.search(labels).group(1) for (name, labels) in s
            if name == "lockaudit_lock_acquisitions_total"}


def check_names(procs, shim, program):
    p = procs.start("names", [program, "300"], shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0"))
    url = procs.wait_metrics_url(p)
    time.sleep(1.0)
    _, text = http_get(url)
    s, _ = samples(text)
    locks = lock_labels(s)
    print(f"lock labels: {sorted(locks)}")
    if "hot_mu" not in locks:
        fail(f"the global std::mutex hot_mu is not exported as lock=\"hot_mu\": {sorted(locks)}")
    heap = [n for n in locks if n.startswith("heap@")]
    if not heap:
        fail(f"no heap@ lock label (the heap mutex made in the lambda): {sorted(locks)}")
    for n in heap:
        if "_M_run" in n or "std_thread.h" in n or "std::" in n.split(" (")[0]:
            fail(f"heap lock named by a library frame: {n}")
        if "metrics_shifting.cc:" not in n:
            fail(f"heap lock not named by a line of the program: {n}")
    for name in ("lockaudit_build_info", "lockaudit_lock_hold_sample_period",
                 "lockaudit_threads_blocked", "lockaudit_threads_deadlocked"):
        if not any(k[0] == name for k in s):
            fail(f"{name} missing from the scrape")
    if not any(k[0] == "lockaudit_lock_hold_sample_period" and v == 128 for k, v in s.items()):
        fail("lockaudit_lock_hold_sample_period is not 128")
    procs.stop(p)
    print(f"names: OK (hot_mu; {heap[0]})")


def check_stability(procs, shim, program):
    p = procs.start("shifting", [program, "400"],
                    shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0", LOCKAUDIT_MAX_SERIES=3))
    url = procs.wait_metrics_url(p)
    history = []  # list of sample dicts, in scrape order
    types = {}
    while p.poll() is None:
        try:
            _, text = http_get(url, timeout=5)
        except OSError:
            break  # the program ended between two scrapes
        s, t = samples(text)
        types.update(t)
        history.append(s)
        time.sleep(0.05)
    if len(history) < 20:
        fail(f"only {len(history)} scrapes of metrics_shifting")
    problems = []
    frozen = None
    for i in range(1, len(history)):
        before, now = history[i - 1], history[i]
        for key, value in before.items():
            family, kind = family_of(key[0], types)
            if kind not in ("counter", "histogram"):
                continue
            if key not in now:
                problems.append(f"scrape {i}: {key[0]}{key[1]} vanished")
            elif now[key] < value:
                problems.append(f"scrape {i}: {key[0]}{key[1]} went down {value} -> {now[key]}")
        locks = lock_labels(now)
        if frozen is None and "other" in locks:
            frozen = locks
        elif frozen is not None and locks != frozen:
            problems.append(f"scrape {i}: lock labels changed {sorted(frozen)} -> {sorted(locks)}")
    if frozen is None:
        problems.append("the cap of 3 series was never reached: nothing was tested")
    for line in problems[:20]:
        print(line)
    if problems:
        fail(f"{len(problems)} problem(s) in {len(history)} scrapes")
    counted = sum(1 for k in history[-1] if family_of(k[0], types)[1] in ("counter", "histogram"))
    print(f"stability: OK ({len(history)} scrapes, {counted} counter/histogram series, "
          f"none down or gone; locks {sorted(frozen)})")


def check_evictions(procs, shim, program, workdir):
    """Counters stay exact while every lock operation moves an evicted cache entry's counts."""
    # It works until told to stop (a file), after 25 scrapes: a loaded machine scrapes slower.
    stop_file = os.path.join(workdir, "evicting.stop")
    if os.path.exists(stop_file):
        os.remove(stop_file)
    p = procs.start("evicting", [program, "0", "5000", stop_file],
                    shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0"))
    url = procs.wait_metrics_url(p)
    history, types = [], {}
    done_at = None
    started = time.monotonic()
    while p.poll() is None:
        if len(history) == 25:
            open(stop_file, "w").close()
        elif len(history) < 25 and time.monotonic() - started > 60:
            fail(f"only {len(history)} scrapes of metrics_evicting in 60 s")
        if done_at is None and "done" in procs.log("evicting", "out"):
            done_at = len(history)
        if done_at is not None and len(history) > done_at:
            break  # one full scrape after the work ended
        _, text = http_get(url, timeout=5)
        s, t = samples(text)
        types.update(t)
        history.append(s)
        time.sleep(0.02)
    if done_at is None or len(history) <= done_at:
        fail(f"metrics_evicting ended before its last scrape ({len(history)} scrapes)")
    problems = []
    for i in range(1, len(history)):
        for key, value in history[i - 1].items():
            if family_of(key[0], types)[1] not in ("counter", "histogram"):
                continue
            if key in history[i] and history[i][key] < value:
                problems.append(f"scrape {i}: {key[0]}{key[1]} went down {value} -> {history[i][key]}")
    m = re.search(r"^ops (\d+) (\d+) (\d+)$", procs.log("evicting", "out"), re.M)
    if not m:
        fail(f"metrics_evicting printed no ops line: {procs.log('evicting', 'out')!r}")
    expected = sum(int(g) for g in m.groups())
    exported = sum(v for k, v in history[-1].items() if k[0] == "lockaudit_lock_acquisitions_total")
    if exported != expected:
        problems.append(f"acquisitions exported {exported:.0f}, the program made {expected}")
    for line in problems[:20]:
        print(line)
    if problems:
        fail(f"{len(problems)} problem(s) in {len(history)} scrapes of metrics_evicting")
    procs.stop(p)
    print(f"evictions: OK ({done_at} scrapes while it ran, none down; {expected} acquisitions, "
          f"all exported)")


def check_deadlock(procs, shim, program):
    p = procs.start("deadlock", [program, "mutex", "2"],
                    shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0", LOCKAUDIT_STALL_MS=100))
    url = procs.wait_metrics_url(p)
    deadline = time.monotonic() + 20
    while True:
        _, text = http_get(url)
        s, _ = samples(text)
        dead = s.get(("lockaudit_threads_deadlocked", ""), 0)
        blocked = s.get(("lockaudit_threads_blocked", ""), 0)
        if dead == 2 and blocked >= 2:
            break
        if time.monotonic() > deadline:
            fail(f"deadlock_ring: threads_deadlocked {dead}, threads_blocked {blocked} after 20 s")
        time.sleep(0.2)
    time.sleep(1.0)  # still counted while it stays hung
    _, text = http_get(url)
    s, _ = samples(text)
    if s.get(("lockaudit_threads_deadlocked", ""), 0) != 2:
        fail("lockaudit_threads_deadlocked dropped while the program is still hung")
    procs.stop(p)
    print(f"deadlock: OK (threads_deadlocked 2, threads_blocked {blocked:.0f})")


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    shim, shifting, ring, evicting, workdir = sys.argv[1:6]
    os.makedirs(workdir, exist_ok=True)
    with Processes(workdir) as procs:
        check_names(procs, shim, shifting)
        check_stability(procs, shim, shifting)
        check_deadlock(procs, shim, ring)
        check_evictions(procs, shim, evicting, workdir)
    print("prometheus_series: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
