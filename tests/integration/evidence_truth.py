#!/usr/bin/env python3
"""Evidence the report prints is evidence that happened (issue 14).

usage: evidence_truth.py PRELOAD LOCKAUDIT PROGRAM_DIR CASE
  helper_held     the held stack of a lock taken by a returned helper is only its site
                  (held_stack_partial), never the other helper's frames; text says so
  same_line_locks locks first taken at one line get distinct names in the report, in
                  `lockaudit graph` and in `lockaudit merge`, and merge finds no cycle
  philosophers    the 5-philosopher program finishes under the shim in at least 19 of 20
                  runs (it can deadlock: the shim must not line its threads up) and each
                  finished run reports the 5-lock cycle
"""
import json
import os
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def run(preload, program, report):
    env = dict(os.environ, LD_PRELOAD=preload, LOCKAUDIT_REPORT=report)
    p = subprocess.run([program], env=env, capture_output=True, text=True, timeout=120)
    return p


def lines(report):
    with open(report) as f:
        return [json.loads(l) for l in f if l.strip()]


def functions(stack):
    return [fr.get("function") or "" for fr in stack]


def helper_held(preload, lockaudit, programs, tmp):
    report = os.path.join(tmp, "r.jsonl")
    p = run(preload, os.path.join(programs, "helper_held"), report)
    cycles = [l for l in lines(report) if l.get("type") == "finding" and l["kind"] == "lock_order_cycle"]
    if len(cycles) != 1:
        fail("expected 1 lock_order_cycle, got %d\n%s" % (len(cycles), p.stderr))
    for e in cycles[0]["edges"]:
        held = functions(e["held_stack"])
        taken = functions(e["stack"])
        if not held or held[0] not in ("take_a", "take_b"):
            fail("held stack does not start at the helper that took the lock: %s" % held)
        other = "take_b" if held[0] == "take_a" else "take_a"
        if other in held:
            fail("held stack shows %s, which never called %s: %s" % (other, held[0], held))
        if e.get("held_stack_partial") is not True or len(held) != 1:
            fail("a returned helper's lock: expected the partial form (its site only), got %s "
                 "partial=%s" % (held, e.get("held_stack_partial")))
        if taken[0] != other or taken[1] not in ("a_then_b", "b_then_a"):
            fail("acquisition stack is not the true one: %s" % taken)
    if "the function that took it had returned" not in p.stderr:
        fail("the text report does not say the held stack is partial:\n" + p.stderr)
    t = subprocess.run([lockaudit, "report", report], capture_output=True, text=True)
    if "the function that took it had returned" not in t.stdout:
        fail("`lockaudit report` does not say the held stack is partial:\n" + t.stdout)


def same_line_locks(preload, lockaudit, programs, tmp):
    report = os.path.join(tmp, "r.jsonl")
    p = run(preload, os.path.join(programs, "same_line_locks"), report)
    if p.returncode != 0:
        fail("program exited %d\n%s" % (p.returncode, p.stderr))
    ls = lines(report)
    if any(l.get("type") == "finding" for l in ls):
        fail("findings in a clean ordered run:\n" + p.stderr)
    edges = [l for l in ls if l.get("type") == "edge"]
    names = set()
    for e in edges:
        if e["from"]["name"] == e["to"]["name"]:
            fail("an edge between two locks of one name: %s" % e["from"]["name"])
        names.update([e["from"]["name"], e["to"]["name"]])
    if len(names) != 4 or len(edges) != 3:
        fail("expected 3 edges between 4 distinct names, got %d edges, names %s" % (len(edges), sorted(names)))
    base = sorted(names)[0]
    if sorted(names) != sorted([base, base + "#2", base + "#3", base + "#4"]):
        fail("names are not told apart by #k: %s" % sorted(names))
    g = subprocess.run([lockaudit, "graph", "--format", "dot", report], capture_output=True, text=True)
    for n in names:
        if json.dumps(n)[1:-1] not in g.stdout and n not in g.stdout:
            fail("graph lacks %s:\n%s" % (n, g.stdout))
    m = subprocess.run([lockaudit, "merge", report, report], capture_output=True, text=True)
    if m.returncode != 0 or "no lock-order cycle" not in (m.stdout + m.stderr):
        fail("merge of a clean ordered run: exit %d\n%s%s" % (m.returncode, m.stdout, m.stderr))


def philosophers(preload, lockaudit, programs, tmp):
    completed = 0
    for i in range(20):
        report = os.path.join(tmp, "p%d.jsonl" % i)
        env = dict(os.environ, LD_PRELOAD=preload, LOCKAUDIT_REPORT=report)
        try:
            p = subprocess.run([os.path.join(programs, "philosophers")], env=env,
                               capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            continue  # deadlocked: the count decides
        if p.returncode != 0:
            fail("run %d exited %d\n%s" % (i, p.returncode, p.stderr))
        completed += 1
        cycles = [l for l in lines(report)
                  if l.get("type") == "finding" and l["kind"] == "lock_order_cycle"]
        if len(cycles) != 1 or len(cycles[0]["locks"]) != 5:
            fail("run %d: expected one 5-lock cycle, got %s" %
                 (i, [len(c["locks"]) for c in cycles]))
    if completed < 19:
        fail("the program finished in %d of 20 runs under the shim (at least 19 expected)" % completed)
    print("finished %d of 20 runs" % completed)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    preload, lockaudit, programs, case = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        {"helper_held": helper_held, "same_line_locks": same_line_locks,
         "philosophers": philosophers}[case](preload, lockaudit, programs, tmp)
    print("ok: " + case)


if __name__ == "__main__":
    main()
