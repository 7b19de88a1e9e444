#!/usr/bin/env python3
"""Instructions per operation of a bench/workloads workload, counted by valgrind --tool=callgrind.

    callgrind_per_op.py [--preload SHIM] WORKLOADS_BINARY WORKLOAD [N1 [N2]]

Runs the workload twice, with N1 and N2 (> N1) iterations, and prints
    instr_per_op=<(Ir(N2) - Ir(N1)) / (N2 - N1)>
Start-up, the fixed warm-up and exit cost the same in both runs and cancel out, so the figure is
the steady-state cost of one operation (loop, call and PLT included), and it does not depend on
the machine's speed or load. With --preload the workload runs with LD_PRELOAD=SHIM.

Used by bench/compare (the table) and bench/perf_gate.py (the CI gate); import
instructions_per_op() from here rather than repeating the recipe.
"""

import argparse
import os
import subprocess
import sys
import tempfile

DEFAULT_N1 = 100000
DEFAULT_N2 = 200000


class CallgrindError(RuntimeError):
    pass


def total_instructions(binary, args, preload=None, workdir=None):
    """Ir of one run of `binary args` under callgrind (whole program, all threads)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = preload
            env.setdefault("LOCKAUDIT_LOG", "off")
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary] + list(args)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=600, check=False)
        total = None
        if proc.returncode == 0 and os.path.exists(out):
            with open(out, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("totals:") or line.startswith("summary:"):
                        total = int(line.split()[1])
        if total is None:
            raise CallgrindError("callgrind run failed (status %d): %s\n%s" %
                                 (proc.returncode, " ".join(cmd), proc.stderr[-2000:]))
        return total


def instructions_per_op(binary, workload, n1=DEFAULT_N1, n2=DEFAULT_N2, preload=None,
                        extra_args=()):
    """(Ir(n2) - Ir(n1)) / (n2 - n1) for `binary workload N extra_args...`."""
    if n2 <= n1:
        raise ValueError("n2 must be larger than n1")
    ir1 = total_instructions(binary, [workload, str(n1)] + list(extra_args), preload)
    ir2 = total_instructions(binary, [workload, str(n2)] + list(extra_args), preload)
    return (ir2 - ir1) / float(n2 - n1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", help="LD_PRELOAD this library (the lockaudit shim)")
    ap.add_argument("binary")
    ap.add_argument("workload")
    ap.add_argument("n1", nargs="?", type=int, default=DEFAULT_N1)
    ap.add_argument("n2", nargs="?", type=int, default=DEFAULT_N2)
    a = ap.parse_args()
    try:
        per_op = instructions_per_op(a.binary, a.workload, a.n1, a.n2, a.preload)
    except (CallgrindError, OSError, subprocess.TimeoutExpired) as e:
        print("callgrind_per_op.py: %s" % e, file=sys.stderr)
        return 1
    print("instr_per_op=%.1f" % per_op)
    return 0


if __name__ == "__main__":
    sys.exit(main())
