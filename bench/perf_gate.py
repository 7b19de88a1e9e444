#!/usr/bin/env python3
"""CI performance gate: instructions per operation of W1 and W2 under the lockaudit shim.

    perf_gate.py --workloads BIN --shim LIB --budget FILE

Counts instructions per operation with callgrind (bench/callgrind_per_op.py: deterministic, no
timing) for every workload named in the budget file (lines `<workload> <max instructions/op>`,
`#` comments) and fails when one exceeds its budget, naming the budget and the measured value.
Exit status: 0 within budget; 1 over budget or the measurement failed; 2 bad budget file.
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from callgrind_per_op import CallgrindError, instructions_per_op  # noqa: E402


def read_budget(path):
    budget = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError
                budget.append((parts[0], float(parts[1])))
            except ValueError:
                raise SystemExit("perf_gate.py: %s:%d: expected '<workload> <instructions>', got %r"
                                 % (path, lineno, line)) from None
    if not budget:
        raise SystemExit("perf_gate.py: %s: no budget lines" % path)
    return budget


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", required=True, help="the bench/workloads binary")
    ap.add_argument("--shim", required=True, help="liblockaudit_preload.so")
    ap.add_argument("--budget", required=True, help="budget file (bench/budget.txt)")
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("perf_gate.py: valgrind is not installed (README's apt-get line installs it); "
              "the gate cannot measure", file=sys.stderr)
        return 1
    try:
        budget = read_budget(a.budget)
    except OSError as e:
        print("perf_gate.py: cannot read the budget: %s" % e, file=sys.stderr)
        return 2
    failed = 0
    for workload, limit in budget:
        try:
            measured = instructions_per_op(a.workloads, workload, preload=a.shim)
        except (CallgrindError, OSError) as e:
            print("perf_gate.py: %s: measurement failed: %s" % (workload, e), file=sys.stderr)
            failed += 1
            continue
        if measured > limit:
            print("perf_gate.py: FAIL %s: %.1f instructions/op under the shim exceeds the budget "
                  "%.1f (%s)" % (workload, measured, limit, a.budget))
            failed += 1
        else:
            print("perf_gate.py: ok   %s: %.1f instructions/op under the shim, budget %.1f (%s)"
                  % (workload, measured, limit, a.budget))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
