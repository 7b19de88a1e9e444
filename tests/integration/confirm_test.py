#!/usr/bin/env python3
"""lockaudit confirm (issue 16): potential deadlocks turned into actual ones, or not.

usage: confirm_test.py LOCKAUDIT EXAMPLES_DIR PROGRAM_DIR CASE
  examples   transfer_inversion never deadlocks in 50 native runs; for it, cycle3 and
             philosophers, `lockaudit run` reports a cycle and `lockaudit confirm` reproduces
             it within 10 runs: exit 1, a "confirmed" confirm line with the run, the pauses and
             the actual deadlock's stacks; `lockaudit report` shows it; no program outlives it
  ordered    confirm_ordered (both orderings): the cycle is "ordered" with a reason, its stacks
             are the true ones, confirm says not reproduced at once; --exitcode ignores it
             unless --count-ordered
  gated      confirm_gated (two threads at once, inverted pairs inside one gate lock): no cycle
             to confirm; a cycle forced into its report from its edge lines is not reproduced
             either (the gate keeps the threads apart)
  trylock    trylock_backoff: nothing reported, nothing confirmed
  unchanged  confirm_clean: the same output and exit status natively, under `lockaudit run
             --confirm`, and with another program's confirm plan in effect
  run        `lockaudit run --confirm --confirm-exitcode 7` on transfer_inversion: exit 7, the
             summary says confirmed
  usage      bad arguments and unreadable reports: one line naming the problem, exit 2
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def lines(report):
    out = []
    with open(report) as f:
        for l in f:
            if l.strip():
                out.append(json.loads(l))
    return out


def of_type(report, kind, finding_kind=None):
    return [l for l in lines(report) if l.get("type") == kind and
            (finding_kind is None or l.get("kind") == finding_kind)]


def record(lockaudit, program, args, report):
    p = subprocess.run([lockaudit, "run", "-q", "--report", report, "--", program] + args,
                       capture_output=True, text=True, timeout=120)
    return p


def confirm(lockaudit, report, program, args, extra=()):
    start = time.monotonic()
    p = subprocess.run([lockaudit, "confirm", "--runs", "10", "--timeout", "30"] + list(extra) +
                       [report, "--", program] + args, capture_output=True, text=True,
                       timeout=600)
    return p, time.monotonic() - start


def still_running(name):
    p = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True)
    return [pid for pid in p.stdout.split() if pid.strip()]


def examples(lockaudit, examples_dir, programs, tmp):
    transfer = os.path.join(examples_dir, "confirm_transfer_inversion")
    for i in range(50):
        p = subprocess.run([transfer], capture_output=True, text=True, timeout=10)
        if p.returncode != 0:
            fail("transfer_inversion failed natively in run %d: %d" % (i + 1, p.returncode))
    for name in ("transfer_inversion", "cycle3", "philosophers"):
        program = os.path.join(examples_dir, "confirm_" + name)
        report = os.path.join(tmp, name + ".jsonl")
        cycles = []
        for attempt in range(3):  # philosophers can deadlock for real under the shim too
            p = record(lockaudit, program, [], report)
            cycles = of_type(report, "finding", "lock_order_cycle")
            if cycles and p.returncode == 0:
                break
        if not cycles:
            fail("%s: lockaudit run reported no lock_order_cycle:\n%s" % (name, p.stderr))
        p, took = confirm(lockaudit, report, program, [])
        if p.returncode != 1 or "CONFIRMED" not in p.stdout:
            fail("%s: confirm did not confirm (exit %d):\n%s%s" % (name, p.returncode, p.stdout,
                                                                p.stderr))
        results = of_type(report, "confirm")
        if len(results) != 1 or results[0].get("result") != "confirmed":
            fail("%s: expected one confirmed confirm line, got %s" % (name, results))
        r = results[0]
        if not (1 <= r.get("run", 0) <= 10) or r.get("runs") != r.get("run"):
            fail("%s: the confirm line does not say which run deadlocked: %s" % (name, r))
        dl = r.get("deadlock") or {}
        if dl.get("kind") != "deadlock" or len(dl.get("threads", [])) != len(cycles[0]["edges"]):
            fail("%s: the confirm line's deadlock is not the cycle's: %s" % (name, dl))
        if not all(e.get("stack") for e in dl.get("edges", [])) or not dl.get("edges"):
            fail("%s: the actual deadlock has no stacks: %s" % (name, dl))
        lined = [x for x in r.get("pauses", []) if x.get("outcome") == "lined_up"]
        if len(lined) != len(cycles[0]["edges"]):
            fail("%s: expected a lined-up pause per thread of the cycle, got %s" % (name, r["pauses"]))
        shown = subprocess.run([lockaudit, "report", report], capture_output=True, text=True)
        if "lockaudit: confirm: CONFIRMED in run %d" % r["run"] not in shown.stdout:
            fail("%s: lockaudit report does not show the confirmation:\n%s" % (name, shown.stdout))
        left = still_running(program)
        if left:
            fail("%s: processes left behind by confirm: %s" % (name, left))
        print("%s: confirmed in run %d (%.1f s)" % (name, r["run"], took))


def ordered(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(programs, "confirm_ordered")
    # join: the first worker was joined before the second was created: ordered.
    report = os.path.join(tmp, "ordered-join.jsonl")
    record(lockaudit, program, ["join"], report)
    cycles = of_type(report, "finding", "lock_order_cycle")
    if len(cycles) != 1 or cycles[0].get("ordered") is not True or not cycles[0].get("ordered_reason"):
        fail("join: expected one ordered cycle with a reason, got %s" % cycles)
    # The evidence of each edge is its own thread's: b -> a was taken in BThenA only (the two
    # threads share stack memory, one after the other).
    names = {l["id"]: l["name"] for l in cycles[0]["locks"]}
    for e in cycles[0]["edges"]:
        callers = [f.get("function") for f in e["stack"]]
        if (names[e["from"]] == "b") != ("BThenA" in callers):
            fail("join: the %s -> %s edge's stack is not its own thread's: %s" %
                 (names[e["from"]], names[e["to"]], callers))
    summaries = of_type(report, "summary")
    if not summaries or summaries[0].get("ordered") != 1:
        fail("join: the summary does not count the ordered cycle: %s" % summaries)
    p, took = confirm(lockaudit, report, program, ["join"])
    results = of_type(report, "confirm")
    if p.returncode != 0 or len(results) != 1 or results[0].get("result") != "not_reproduced":
        fail("join: expected not reproduced, exit 0: %d %s\n%s" % (p.returncode, results, p.stdout))
    if took > 5 or "ordered" not in results[0].get("reason", ""):
        fail("join: not reproduced should be immediate and say why: %.1f s %s" % (took, results))
    plain = subprocess.run([lockaudit, "run", "-q", "--exitcode", "9", "--", program, "join"],
                           capture_output=True, text=True)
    counted = subprocess.run([lockaudit, "run", "-q", "--exitcode", "9", "--count-ordered", "--",
                              program, "join"], capture_output=True, text=True)
    if plain.returncode != 0 or counted.returncode != 9:
        fail("join: --exitcode must skip ordered cycles unless --count-ordered: %d %d" %
             (plain.returncode, counted.returncode))
    print("join: ordered, not reproduced in %.2f s: %s" % (took, results[0]["reason"]))
    # main: the main thread's own edge before it created the worker is not judged ordered.
    report = os.path.join(tmp, "ordered-main.jsonl")
    record(lockaudit, program, ["main"], report)
    cycles = of_type(report, "finding", "lock_order_cycle")
    if len(cycles) != 1 or cycles[0].get("ordered") is not False:
        fail("main: expected one cycle not marked ordered, got %s" % cycles)
    # again: a third thread takes an edge of the ordered cycle: reported again, not ordered.
    report = os.path.join(tmp, "ordered-again.jsonl")
    record(lockaudit, program, ["again"], report)
    cycles = of_type(report, "finding", "lock_order_cycle")
    if [c.get("ordered") for c in cycles] != [True, False] or \
            "reported before as ordered" not in cycles[1]["message"]:
        fail("again: expected the ordered cycle, then the same cycle not ordered: %s" %
             [(c.get("ordered"), c["message"]) for c in cycles])
    if subprocess.run([lockaudit, "run", "-q", "--exitcode", "9", "--", program, "again"],
                      capture_output=True).returncode != 9:
        fail("again: the cycle no longer ordered must count for --exitcode")
    print("main: not ordered; again: reported again, not ordered")


def gated(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(programs, "confirm_gated")
    report = os.path.join(tmp, "gated.jsonl")
    record(lockaudit, program, [], report)
    if of_type(report, "finding", "lock_order_cycle"):
        fail("confirm_gated: a gated cycle was reported")
    p, _ = confirm(lockaudit, report, program, [])
    if p.returncode != 0 or "nothing to confirm" not in p.stdout:
        fail("confirm_gated: expected nothing to confirm: %d\n%s" % (p.returncode, p.stdout))
    # Forced: a cycle made of its two inverted edge lines, as a tool that ignores gates would
    # report it. The gate keeps the threads apart, so no run can deadlock.
    edges = [e for e in of_type(report, "edge")
             if {e["from"]["name"], e["to"]["name"]} == {"g_mu_a", "g_mu_b"}]
    if len(edges) != 2:
        fail("confirm_gated: expected the a->b and b->a edge lines, got %d" % len(edges))
    forced = os.path.join(tmp, "forced.jsonl")
    finding = {"type": "finding", "kind": "lock_order_cycle", "message": "forced gated cycle",
               "pid": edges[0]["pid"], "ordered": False,
               "locks": [edges[0]["from"], edges[0]["to"]],
               "edges": [{"from": e["from"]["id"], "to": e["to"]["id"], "thread": e["thread"],
                          "stack": e["stack"], "held_stack": e["held_stack"]} for e in edges]}
    with open(forced, "w") as f:
        f.write(json.dumps(finding) + "\n")
    p, took = confirm(lockaudit, forced, program, [], ["--runs", "3"])
    results = of_type(forced, "confirm")
    if p.returncode != 0 or not results or results[0]["result"] != "not_reproduced":
        fail("confirm_gated: the forced gated cycle was confirmed: %d %s\n%s" % (p.returncode, results,
                                                                           p.stdout))
    print("gated: not reproduced in %d runs (%.1f s): %s" % (results[0]["runs"], took,
                                                           results[0].get("reason")))


def trylock(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(programs, "trylock_backoff")
    report = os.path.join(tmp, "trylock.jsonl")
    record(lockaudit, program, [], report)
    if of_type(report, "finding"):
        fail("trylock_backoff: findings reported: %s" % of_type(report, "finding"))
    p, _ = confirm(lockaudit, report, program, [])
    if p.returncode != 0 or "CONFIRMED" in p.stdout:
        fail("trylock_backoff: confirmed: %d\n%s" % (p.returncode, p.stdout))
    print("trylock: " + p.stdout.strip())


def unchanged(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(programs, "confirm_clean")
    native = subprocess.run([program], capture_output=True, text=True, timeout=60)
    under = subprocess.run([lockaudit, "run", "-q", "--confirm", "--", program],
                           capture_output=True, text=True, timeout=120)
    if (under.returncode, under.stdout) != (native.returncode, native.stdout):
        fail("run --confirm changed the program: %d %r vs native %d %r" %
             (under.returncode, under.stdout, native.returncode, native.stdout))
    # With a plan in effect whose sites are another program's (and one of this program's own
    # lock sites as the first site of an edge): it runs the same.
    plan = os.path.join(tmp, "plan")
    with open(plan, "w") as f:
        f.write("lockaudit-confirm 1\nrun 1\npause_ms 200\n"
                "edge\tconfirm_clean\t0x1\tconfirm_clean\t0x2\n"
                "edge\tnot_loaded.so\t0x10\tnot_loaded.so\t0x20\n")
    shim = os.path.join(os.path.dirname(os.path.dirname(lockaudit)), "lib",
                        "liblockaudit_preload.so")
    env = dict(os.environ, LD_PRELOAD=shim, LOCKAUDIT_CONFIRM=plan, LOCKAUDIT_LOG="off")
    planned = subprocess.run([program], capture_output=True, text=True, env=env, timeout=60)
    if (planned.returncode, planned.stdout) != (native.returncode, native.stdout):
        fail("a confirm plan changed the program: %d %r vs native %d %r" %
             (planned.returncode, planned.stdout, native.returncode, native.stdout))
    bad = os.path.join(tmp, "bad-plan")
    with open(bad, "w") as f:
        f.write("not a plan\n")
    env["LOCKAUDIT_CONFIRM"] = bad
    env["LOCKAUDIT_LOG"] = "stderr"
    broken = subprocess.run([program], capture_output=True, text=True, env=env, timeout=60)
    if (broken.returncode, broken.stdout) != (native.returncode, native.stdout) or \
            "LOCKAUDIT_CONFIRM" not in broken.stderr:
        fail("a bad plan: expected one warning and an unchanged run: %d %r\n%s" %
             (broken.returncode, broken.stdout, broken.stderr))
    print("unchanged: exit %d, output %r" % (native.returncode, native.stdout.strip()))


def run_confirm(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(examples_dir, "confirm_transfer_inversion")
    p = subprocess.run([lockaudit, "run", "--confirm", "--confirm-exitcode", "7", "--", program],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 7 or "CONFIRMED" not in p.stderr:
        fail("run --confirm: expected exit 7 and a confirmation: %d\n%s" % (p.returncode, p.stderr))
    print("run --confirm: exit 7, confirmed")


def usage(lockaudit, examples_dir, programs, tmp):
    program = os.path.join(examples_dir, "confirm_transfer_inversion")
    report = os.path.join(tmp, "r.jsonl")
    record(lockaudit, program, [], report)
    cases = [
        ([], "no report file given"),
        ([report], "no program given"),
        ([report, "--"], "no program given"),
        (["--runs", "0", report, "--", program], "--runs: '0' is not an integer from 1 to 1000"),
        (["--runs=x", report, "--", program], "--runs: 'x' is not an integer"),
        (["--timeout"], "--timeout needs a value"),
        (["--bogus", report, "--", program], "unknown option '--bogus'"),
        ([report, report, "--", program], "one report file expected"),
        ([os.path.join(tmp, "missing.jsonl"), "--", program], "cannot read"),
        ([tmp, "--", program], "is a directory"),
    ]
    for args, expected in cases:
        p = subprocess.run([lockaudit, "confirm"] + args, capture_output=True, text=True, timeout=30)
        lines_err = [l for l in p.stderr.splitlines() if l.strip()]
        if p.returncode != 2 or len(lines_err) != 1 or expected not in lines_err[0]:
            fail("confirm %s: expected exit 2 and one line with %r, got %d %r" %
                 (args, expected, p.returncode, p.stderr))
    p = subprocess.run([lockaudit, "run", "--confirm-runs", "0", "--", program],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 2 or "--confirm-runs" not in p.stderr:
        fail("run --confirm-runs 0: expected exit 2: %d %r" % (p.returncode, p.stderr))
    p = subprocess.run([lockaudit, "confirm", report, "--", os.path.join(tmp, "no-such-program")],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 2 or "cannot execute" not in p.stderr:
        fail("a program that cannot be run: expected a line and exit 2: %d %r" % (p.returncode,
                                                                                 p.stderr))
    help_text = subprocess.run([lockaudit, "confirm", "--help"], capture_output=True, text=True)
    if help_text.returncode != 0 or "usage: lockaudit confirm" not in help_text.stdout:
        fail("confirm --help")
    print("usage: %d bad invocations refused with one line each" % len(cases))


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    lockaudit, examples_dir, programs, case = sys.argv[1:]
    cases = {"examples": examples, "ordered": ordered, "gated": gated, "trylock": trylock,
             "unchanged": unchanged, "run": run_confirm, "usage": usage}
    with tempfile.TemporaryDirectory() as tmp:
        cases[case](lockaudit, examples_dir, programs, tmp)
    print("PASSED")


if __name__ == "__main__":
    main()
