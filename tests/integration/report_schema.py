#!/usr/bin/env python3
"""Real JSON Lines reports validate against docs/report.schema.json (the report contract).

Usage: report_schema.py SCHEMA CLI PROGRAM_DIR INVENTORY WORKDIR

Runs unmodified programs under `lockaudit run --report` so that every line type and the optional
fields appear (findings of several kinds with stacks and edges, edge lines with shared modes and
gates, a finding_group, a summary with matched suppressions, an actual deadlock), plus
`lockaudit merge --format jsonl`, and validates every line. Also checks the schema would catch
drift: a line with an unknown field, a bad kind or a missing field must be rejected.
Exit 0 pass, 1 fail.
"""
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:  # a python3 without the module: Debian's has it (python3-jsonschema)
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAILED: no jsonschema module (Debian: apt-get install python3-jsonschema)")
    sys.exit(1)


def main():
    schema_path, cli, programs, inventory, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    supp = os.path.join(work, "supp.txt")
    with open(supp, "w") as f:
        f.write("destroy_held:suppress_this\n")
    env = dict(os.environ, LOCKAUDIT_LOG="off")
    runs = [
        ("inventory", [inventory], {}),
        ("stalls", [f"{programs}/stalls"], {"LOCKAUDIT_STALL_MS": "100"}),
        ("group", [f"{programs}/findings_one_path"], {}),
        ("suppressed", ["--suppressions", supp, "--", f"{programs}/suppress_match"], {}),
        ("gates", [f"{programs}/gate_lock"], {}),
        ("read_ab", [f"{programs}/merge_half", "read-ab"], {}),
        ("read_ba", [f"{programs}/merge_half", "read-ba"], {}),
        ("deadlock", [f"{programs}/deadlock_ring", "mutex", "2"],
         {"LOCKAUDIT_ON_DEADLOCK": "abort", "LOCKAUDIT_STALL_MS": "200"}),
        ("rwlock", [f"{programs}/rwlock_write_read"], {}),
        ("ordered", [f"{programs}/confirm_ordered"], {}),
        ("blocking", [f"{programs}/blocking_under_lock"], {}),  # held_stack
        ("churn", [f"{programs}/lock_churn"], {}),  # held_stack_partial
        ("openmp", [f"{programs}/omp_lock_cycle"], {}),
        ("contention", [os.path.join(os.path.dirname(inventory), "contention"), "20"], {}),
        # lock_stats and cond_stats (a condition-variable queue), contention_holder
        ("times", [os.path.join(os.path.dirname(inventory), "cycle_and_contention")], {}),
    ]
    files = []
    for name, argv, extra in runs:
        path = os.path.join(work, f"{name}.jsonl")
        if os.path.exists(path):
            os.remove(path)
        if "--" not in argv:
            argv = ["--"] + argv
        subprocess.run([cli, "run", "--report", path] + argv, env=dict(env, **extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        files.append(path)
    # lockaudit confirm appends a confirm line (with the confirm run's pause lines and deadlock).
    subprocess.run([cli, "confirm", "--runs", "3", os.path.join(work, "inventory.jsonl"), "--",
                    inventory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    merged = os.path.join(work, "merged.jsonl")
    with open(merged, "w") as out:
        subprocess.run([cli, "merge", "--format", "jsonl", os.path.join(work, "inventory.jsonl"),
                        os.path.join(work, "rwlock.jsonl")], stdout=out, stderr=subprocess.DEVNULL)
    files.append(merged)

    errors, seen = [], {}
    lines_all = []
    for path in files:
        with open(path) as f:
            for number, text in enumerate(f, 1):
                line = json.loads(text)
                lines_all.append(line)
                key = line.get("type", "?")
                seen[key] = seen.get(key, 0) + 1
                for e in validator.iter_errors(line):
                    errors.append(f"{os.path.basename(path)}:{number}: {e.message} at {list(e.absolute_path)}")
    for e in errors[:20]:
        print(e)
    if errors:
        print(f"FAILED: {len(errors)} schema violation(s)")
        return 1
    kinds = {l["kind"] for l in lines_all if l.get("type") == "finding"}
    want_kinds = {"lock_order_cycle", "wait_stall", "hold_stall", "destroy_held", "deadlock"}
    want_types = {"finding", "edge", "finding_group", "summary", "confirm", "contention",
                  "contention_holder", "lock_stats", "cond_stats"}
    have = {
        "shared modes": any("shared" in l.get("to_modes", []) for l in lines_all),
        "gates": any(l.get("gates") for l in lines_all),
        "suppressions in a summary": any(l.get("suppressions") for l in lines_all),
        "a merged cycle": any(l.get("cross_run") is not None for l in lines_all),
        "an ordered cycle": any(l.get("ordered") is True for l in lines_all),
        "a confirmed cycle with pauses": any(l.get("result") == "confirmed" and l.get("pauses")
                                             for l in lines_all),
    }
    missing = sorted(want_types - set(seen)) + sorted(want_kinds - kinds) + [k for k, v in have.items() if not v]
    if missing:
        print(f"FAILED: the runs did not produce {missing}: nothing was validated for them")
        return 1
    # The schema is strict enough to notice drift.
    finding = next(l for l in lines_all if l.get("type") == "finding")
    for what, bad in (("an unknown field", dict(finding, surprise=1)),
                      ("an unknown kind", dict(finding, kind="lock_soup")),
                      ("a missing field", {k: v for k, v in finding.items() if k != "locks"})):
        if validator.is_valid(bad):
            print(f"FAILED: the schema accepts a finding with {what}")
            return 1
    print(f"report_schema: OK: {sum(seen.values())} lines ({seen}) from {len(files)} reports, "
          f"finding kinds {sorted(kinds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
