#!/usr/bin/env python3
"""The holder side of the contention profile (issue 17): waits by the holder's acquisition site.

usage: profile_holder_test.py LOCKAUDIT HOLDER_BLAME_PROGRAM WORKDIR

Runs holder_blame (one thread holds table_mu ~3 ms in Rebuild() 60 times; three readers hold it
~10 us in Lookup(), resting outside it) under `lockaudit run`, then checks:
  * the report has `contention_holder` lines whose totals (waits, delay, samples) equal the
    waiter profile's: every sampled wait is counted once on each side;
  * the waiter profile ranks Lookup first (the readers do the waiting), the holder profile
    Rebuild's site first, with at least 80% of the delay (nearly every wait begins during one
    of its holds);
  * each holder site is one call site of the program (partial: one frame and its inlined
    callers), in the function that took the lock;
  * `lockaudit profile --by holder` writes a pprof profile that `go tool pprof -top` reads with
    Rebuild on top, folded lines adding up to the same total, and a top list; `lockaudit run`
    prints the holder top list; a bad --by value is a usage error;
  * with LOCKAUDIT_PROFILE_RATE=4 holder lines are scaled like the waiter lines.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_helpers import fail, pprof_flat, report_lines as lines  # noqa: E402


def run(lockaudit, program, report, env_extra=None):
    env = dict(os.environ, LOCKAUDIT_LOG="off", **(env_extra or {}))
    p = subprocess.run([lockaudit, "run", "--report", report, "--", program, "60"],
                       capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != 0:
        fail("holder_blame failed under lockaudit run: %d\n%s" % (p.returncode, p.stderr))
    return p


def functions(frames):
    return [f.get("function") or "" for f in frames]


def owner(frames):
    """Lookup or Rebuild: the program function the frames run through."""
    for name in functions(frames):
        for f in ("Lookup", "Rebuild"):
            if "::%s()" % f in name or name == f + "()":
                return f
    return None


def totals(recs):
    return (sum(r["contentions"] for r in recs), sum(r["delay_ns"] for r in recs),
            sum(r["samples"] for r in recs))


def main():
    lockaudit, program, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    report = os.path.join(work, "holder.jsonl")
    p = run(lockaudit, program, report)
    all_lines = lines(report)
    waiters = [l for l in all_lines if l.get("type") == "contention"]
    holders = [l for l in all_lines if l.get("type") == "contention_holder"]
    if not waiters or not holders:
        fail("no contention / contention_holder lines (%d / %d)" % (len(waiters), len(holders)))
    if totals(waiters) != totals(holders):
        fail("holder totals %s != waiter totals %s (waits, delay_ns, samples)" %
             (totals(holders), totals(waiters)))
    by_waiter, by_holder = {}, {}
    for r in waiters:
        by_waiter[owner(r["stack"])] = by_waiter.get(owner(r["stack"]), 0) + r["delay_ns"]
    for r in holders:
        site = r["site"]
        who = owner(site) if site else "unknown"
        if site:
            if who is None:
                fail("a holder site outside Lookup/Rebuild: %s" % functions(site))
            if len({f["pc"] for f in site}) != 1:
                fail("a holder site is more than one call site: %s" % site)
            if not any(f.get("file", "") and f["file"].endswith("holder_blame.cc") and f.get("line")
                       for f in site):
                fail("a holder site has no line of holder_blame.cc: %s" % site)
        by_holder[who] = by_holder.get(who, 0) + r["delay_ns"]
    total = sum(by_holder.values())
    if by_waiter.get("Lookup", 0) <= by_waiter.get("Rebuild", 0):
        fail("the waiter profile does not rank Lookup first: %s" % by_waiter)
    if by_holder.get("Rebuild", 0) < 0.8 * total:
        fail("the holder profile does not put most of the delay on Rebuild: %s" % by_holder)
    if "whose holds made others wait longest" not in p.stderr or "held from" not in p.stderr:
        fail("lockaudit run printed no holder top list:\n" + p.stderr)
    pb = os.path.join(work, "holder.pb.gz")
    q = subprocess.run([lockaudit, "profile", "--by", "holder", report, "-o", pb],
                       capture_output=True, text=True)
    if q.returncode != 0:
        fail("lockaudit profile --by holder failed: %s" % q.stderr)
    flat, top_text = pprof_flat(pb)
    rebuild = sum(v for k, v in flat.items() if k.endswith("Rebuild"))
    lookup = sum(v for k, v in flat.items() if k.endswith("Lookup"))
    if not rebuild > lookup:
        fail("pprof of the holder profile does not rank Rebuild above Lookup:\n" + top_text)
    if abs(rebuild - by_holder.get("Rebuild", 0)) > 0.01 * total:
        fail("pprof's Rebuild delay %.0f != the report's %d" % (rebuild, by_holder.get("Rebuild", 0)))
    folded = subprocess.run([lockaudit, "profile", "--by", "holder", "--format", "folded", report],
                            capture_output=True, text=True).stdout.splitlines()
    if sum(int(l.rpartition(" ")[2]) for l in folded) != total:
        fail("folded holder total != the report's %d:\n%s" % (total, "\n".join(folded)))
    text = subprocess.run([lockaudit, "profile", "--by", "holder", "--format", "top", report],
                          capture_output=True, text=True).stdout
    first = [l for l in text.splitlines() if re.match(r"lockaudit:\s+1\. ", l)]
    if not first or "Rebuild" not in first[0]:
        fail("the holder top list does not start with Rebuild:\n" + text)
    bad = subprocess.run([lockaudit, "profile", "--by", "owner", report], capture_output=True, text=True)
    if bad.returncode != 2 or "--by takes waiter or holder" not in bad.stderr:
        fail("--by owner: exit %d, %r" % (bad.returncode, bad.stderr))
    sampled = os.path.join(work, "sampled.jsonl")
    run(lockaudit, program, sampled, {"LOCKAUDIT_PROFILE_RATE": "4"})
    s_lines = lines(sampled)
    s_holders = [l for l in s_lines if l.get("type") == "contention_holder"]
    s_waiters = [l for l in s_lines if l.get("type") == "contention"]
    if not s_holders or any(r["rate"] != 4 or r["contentions"] != 4 * r["samples"] for r in s_holders):
        fail("rate 4: holder lines not scaled: %s" % s_holders[:2])
    if totals(s_holders) != totals(s_waiters):
        fail("rate 4: holder totals %s != waiter totals %s" % (totals(s_holders), totals(s_waiters)))
    print("profile_holder: delay by waiter %s, by holder %s (ms); %d holder sites" %
          ({k: round(v / 1e6, 1) for k, v in by_waiter.items()},
           {k: round(v / 1e6, 1) for k, v in by_holder.items()}, len(holders)))
    print("PASSED")


if __name__ == "__main__":
    main()
