#!/usr/bin/env python3
"""check_stress.py: asserts on the report of stress_random (run under the shim).

Usage: check_stress.py REPORT K

stress_random injects K lock-order inversions, inversion i on the globals g_inv_a_<i> and
g_inv_b_<i>, and otherwise only locks in a global order. The report must hold:
  * exactly K findings, all of kind lock_order_cycle (no wait_stall, hold_stall, double_lock,
    deadlock or any other kind: nothing invented), each over exactly the two locks
    {g_inv_a_<i>, g_inv_b_<i>} with two edges, and each i in 0..K-1 exactly once;
  * exactly one summary line, the last line, whose "findings" is K, and whose "acquisitions"
    is positive (the shim saw the program's locks).
Lines of other types are skipped, as readers must. Each problem is printed on one line
"check_stress: REPORT: ..."; exit status 0 when all hold, 1 otherwise, 2 on bad usage.
"""
import json
import re
import sys


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit():
        print("usage: check_stress.py REPORT K", file=sys.stderr)
        return 2
    path, k = argv[1], int(argv[2])
    problems = []

    def fail(what):
        problems.append(what)
        print(f"check_stress: {path}: {what}", file=sys.stderr)

    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"check_stress: {path}: cannot read the report: {e}", file=sys.stderr)
        return 1

    findings, summaries = [], []
    for number, text in enumerate(lines, 1):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            fail(f"line {number}: not JSON ({e})")
            continue
        if not isinstance(obj, dict):
            fail(f"line {number}: not a JSON object")
            continue
        if obj.get("type") == "finding":
            findings.append((number, obj))
        elif obj.get("type") == "summary":
            summaries.append((number, obj))

    kinds = {}
    for _, f in findings:
        kinds[f.get("kind")] = kinds.get(f.get("kind"), 0) + 1
    if len(findings) != k or set(kinds) - {"lock_order_cycle"}:
        fail(f"expected exactly {k} lock_order_cycle finding(s) and nothing else, found "
             f"{len(findings)}: {dict(sorted(kinds.items(), key=str))}")

    seen = {}
    name_re = re.compile(r"g_inv_([ab])_(\d+)")
    for number, f in findings:
        if f.get("kind") != "lock_order_cycle":
            fail(f"line {number}: invented finding {f.get('kind')}: {f.get('message', '')[:200]}")
            continue
        names = sorted(str(lock.get("name")) for lock in f.get("locks", []))
        matches = [name_re.fullmatch(n) for n in names]
        pair = None
        if len(names) == 2 and all(matches):
            ends = {(m.group(1), int(m.group(2))) for m in matches}
            indices = {i for _, i in ends}
            if len(indices) == 1 and {side for side, _ in ends} == {"a", "b"}:
                pair = indices.pop()
        if pair is None or pair >= k:
            fail(f"line {number}: a cycle that was not injected, over {names}")
            continue
        if len(f.get("edges", [])) != 2:
            fail(f"line {number}: the cycle over {names} has {len(f.get('edges', []))} edges, "
                 "expected 2")
        if pair in seen:
            fail(f"line {number}: inversion {pair} reported again (first on line {seen[pair]})")
        seen[pair] = number
    missing = [i for i in range(k) if i not in seen]
    if missing:
        fail(f"injected inversion(s) not reported: "
             f"{', '.join(f'g_inv_a_{i}/g_inv_b_{i}' for i in missing)}")

    if len(summaries) != 1:
        fail(f"expected exactly one summary line, found {len(summaries)}")
    else:
        number, summary = summaries[0]
        if number != len(lines):
            fail(f"the summary (line {number}) is not the last line ({len(lines)})")
        if summary.get("findings") != len(findings):
            fail(f"summary says {summary.get('findings')} finding(s), the report has "
                 f"{len(findings)}")
        if not isinstance(summary.get("acquisitions"), int) or summary["acquisitions"] <= 0:
            fail(f"summary acquisitions {summary.get('acquisitions')!r}: the shim saw no lock")

    if problems:
        print(f"check_stress: FAILED: {path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_stress: OK: {path}: {k} injected inversion(s) reported, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
