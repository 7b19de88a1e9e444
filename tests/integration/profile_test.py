#!/usr/bin/env python3
"""The contention profile (issue 17): paths ranked by wait, totals that add up, readable outputs.

usage: profile_test.py LOCKAUDIT CONTENTION_PROGRAM WORKDIR

Runs examples/contention (4 threads; Checkout() takes the one lock 3 times as often as Audit(),
both hold it about 200 us; the program measures and prints each path's own waits) under
`lockaudit run`, then checks:
  * `go tool pprof -top` reads `lockaudit profile`'s output, ranks Checkout above Audit by
    delay, and each path's delay is within 10% of what the program measured itself; the
    profile's contention count equals the engine's summary count (rate 1: every wait sampled);
  * with LOCKAUDIT_PROFILE_RATE=4 the lines say rate 4 and are scaled (contentions = samples x 4);
  * `--format folded` lines are "frames value" and add up to the same total; `--format svg` is
    well-formed XML with a frame per path; `lockaudit run` prints the top list;
  * LOCKAUDIT_PROFILE_RATE=0 writes no contention line.
"""
import gzip
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_helpers import fail, pprof_flat, report_lines as lines  # noqa: E402


def run(lockaudit, program, report, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run([lockaudit, "run", "--report", report, "--", program, "150"],
                       capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != 0:
        fail("the contention program failed: %d\n%s" % (p.returncode, p.stderr))
    own = {}
    for name in ("checkout", "audit"):
        m = re.search(r"%s: (\d+) calls, waited (\d+) ns" % name, p.stdout)
        if not m:
            fail("the program did not print its waits: %r" % p.stdout)
        own[name] = int(m.group(2))
    return p, own


def main():
    lockaudit, program, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    report = os.path.join(work, "contention.jsonl")
    p, own = run(lockaudit, program, report)
    recs = [l for l in lines(report) if l.get("type") == "contention"]
    summary = [l for l in lines(report) if l.get("type") == "summary"][0]
    if not recs:
        fail("no contention lines in the report")
    if sum(r["contentions"] for r in recs) != summary["contentions"]:
        fail("profile contentions %d != the engine's count %d" %
             (sum(r["contentions"] for r in recs), summary["contentions"]))
    if "where threads waited longest" not in p.stderr or "Checkout" not in p.stderr:
        fail("lockaudit run printed no top list:\n" + p.stderr)
    pb = os.path.join(work, "contention.pb.gz")
    q = subprocess.run([lockaudit, "profile", report, "-o", pb], capture_output=True, text=True)
    if q.returncode != 0:
        fail("lockaudit profile failed: %s" % q.stderr)
    gzip.open(pb).read()  # a gzip file
    flat, text = pprof_flat(pb)
    checkout = sum(v for k, v in flat.items() if k.endswith("Checkout"))
    audit = sum(v for k, v in flat.items() if k.endswith("Audit"))
    if not (checkout > audit > 0):
        fail("pprof does not rank Checkout above Audit:\n" + text)
    for name, got in (("checkout", checkout), ("audit", audit)):
        if abs(got - own[name]) > 0.10 * own[name]:
            fail("%s: pprof delay %.0f ns vs the program's own %d ns (more than 10%% apart)" %
                 (name, got, own[name]))
    folded = subprocess.run([lockaudit, "profile", "--format", "folded", report],
                            capture_output=True, text=True).stdout.splitlines()
    total = 0
    for l in folded:
        stack, _, value = l.rpartition(" ")
        if not stack or ";" not in stack or not value.isdigit():
            fail("not a folded line: %r" % l)
        total += int(value)
    if total != sum(r["delay_ns"] for r in recs):
        fail("folded total %d != the profile's %d" % (total, sum(r["delay_ns"] for r in recs)))
    svg_path = os.path.join(work, "flame.svg")
    subprocess.run([lockaudit, "profile", "--format", "svg", report, "-o", svg_path], check=True)
    titles = [t.text for t in ET.parse(svg_path).getroot().iter("{http://www.w3.org/2000/svg}title")]
    if not any("Checkout" in t for t in titles) or not any("Audit" in t for t in titles):
        fail("the flame graph has no frame for both paths: %s" % titles[:10])
    # Sampled: 1 in 4, scaled.
    sampled = os.path.join(work, "sampled.jsonl")
    run(lockaudit, program, sampled, {"LOCKAUDIT_PROFILE_RATE": "4"})
    srecs = [l for l in lines(sampled) if l.get("type") == "contention"]
    if not srecs or any(r["rate"] != 4 or r["contentions"] != 4 * r["samples"] for r in srecs):
        fail("rate 4: lines not scaled: %s" % srecs[:2])
    off = os.path.join(work, "off.jsonl")
    run(lockaudit, program, off, {"LOCKAUDIT_PROFILE_RATE": "0"})
    if any(l.get("type") == "contention" for l in lines(off)):
        fail("LOCKAUDIT_PROFILE_RATE=0 still wrote contention lines")
    print("profile: pprof delay checkout %.1f ms (program %.1f ms), audit %.1f ms (program %.1f ms); "
          "%d paths, %d folded lines" % (checkout / 1e6, own["checkout"] / 1e6, audit / 1e6,
                                         own["audit"] / 1e6, len(recs), len(folded)))
    print("PASSED")


if __name__ == "__main__":
    main()
