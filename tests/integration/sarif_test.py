#!/usr/bin/env python3
"""`lockaudit report --format sarif` (issue 17): SARIF 2.1.0 that code scanning can take.

usage: sarif_test.py LOCKAUDIT INVENTORY PROGRAM_DIR WORKDIR VALIDATOR_DIR

Records reports of unmodified programs with findings of several kinds (a lock-order cycle, an
actual deadlock, stalls, a hierarchy violation) and converts each with --format sarif (and
--source-root). Every log must be valid against the SARIF 2.1.0 JSON schema (the schema file
shipped with Microsoft's SARIF Multitool, installed into VALIDATOR_DIR by
sarif_validator/install.sh) and pass the Multitool's `validate` (the schema and the
specification's rules) with no error and no warning. On top of that, what code scanning needs of
us: every result has a location with a file and line from the program (not a system header),
ruleId/ruleIndex name a rule of the driver, every lock-order edge is a code flow with both of
its stacks.
"""
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAILED: no jsonschema module (Debian: python3-jsonschema)")
    sys.exit(1)

def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def multitool_validate(multitool, paths, out):
    """The error and warning results of `Sarif.Multitool validate` on paths, one line each."""
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([multitool, "validate", "--output", out] + paths, capture_output=True, text=True,
                       env=dict(os.environ, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="1",
                                DOTNET_CLI_TELEMETRY_OPTOUT="1"), timeout=300)
    if p.returncode != 0 or not os.path.exists(out):
        fail("Sarif.Multitool validate exit %d:\n%s%s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    problems = []
    for run in json.load(open(out))["runs"]:
        for r in run.get("results", []):
            if r.get("level", "warning") in ("error", "warning"):
                where = r.get("locations", [{}])[0].get("physicalLocation", {})
                problems.append("%s %s: %s (%s)" % (r.get("level", "warning"), r.get("ruleId"),
                                                     (r.get("message", {}).get("text") or
                                                      " ".join(map(str, r.get("message", {}).get("arguments", []))))[:300],
                                                     where.get("artifactLocation", {}).get("uri", "")))
    return problems


def main():
    cli, inventory, programs, work, validator_dir = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    package = os.path.join(validator_dir, "node_modules", "@microsoft", "sarif-multitool-linux")
    multitool = os.path.join(package, "Sarif.Multitool")
    schema_path = os.path.join(package, "sarif-2.1.0.json")
    if not os.access(multitool, os.X_OK) or not os.path.exists(schema_path):
        fail("the SARIF validator is not installed in %s (the test integration.sarif_validator "
             "installs it from the npm registry: tests/integration/sarif_validator/install.sh)" % validator_dir)
    schema = json.load(open(schema_path))
    if "2.1.0" not in schema.get("title", ""):
        fail("%s is not the SARIF 2.1.0 schema: %s" % (schema_path, schema.get("title")))
    cls = jsonschema.validators.validator_for(schema)  # the draft the schema declares
    cls.check_schema(schema)
    validator = cls(schema)
    logs = []
    hierarchy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hierarchy.txt")
    runs = [
        ("cycle", [inventory], {}),
        ("deadlock", [f"{programs}/deadlock_ring", "mutex", "2"],
         {"LOCKAUDIT_ON_DEADLOCK": "abort", "LOCKAUDIT_STALL_MS": "200"}),
        ("stalls", [f"{programs}/stalls"], {"LOCKAUDIT_STALL_MS": "100"}),
        ("hierarchy", ["--hierarchy", hierarchy, "--", f"{programs}/hierarchy_violation"], {}),
    ]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    kinds = set()
    for name, argv, extra in runs:
        report = os.path.join(work, name + ".jsonl")
        if "--" not in argv:
            argv = ["--"] + argv
        subprocess.run([cli, "run", "-q", "--report", report] + argv,
                       env=dict(os.environ, LOCKAUDIT_LOG="off", **extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        findings = [json.loads(l) for l in open(report) if '"type":"finding"' in l]
        if not findings:
            fail("%s: the run reported no finding" % name)
        for args in ([], ["--source-root", root]):
            p = subprocess.run([cli, "report", "--format", "sarif"] + args + [report],
                               capture_output=True, text=True)
            if p.returncode != 1:
                fail("%s: report --format sarif exit %d (1: findings)\n%s" % (name, p.returncode, p.stderr))
            log = json.loads(p.stdout)
            path = os.path.join(work, "%s%s.sarif" % (name, "-rooted" if args else ""))
            with open(path, "w") as f:
                f.write(p.stdout)
            logs.append(path)
            errors = [e.message + " at " + str(list(e.absolute_path)) for e in validator.iter_errors(log)]
            if errors:
                fail("%s: not valid SARIF:\n%s" % (name, "\n".join(errors[:10])))
            run = log["runs"][0]
            rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
            if len(run["results"]) != len(findings):
                fail("%s: %d results for %d findings" % (name, len(run["results"]), len(findings)))
            for result, finding in zip(run["results"], findings):
                kinds.add(result["ruleId"])
                if result["ruleId"] != finding["kind"] or rules[result["ruleIndex"]] != result["ruleId"]:
                    fail("%s: rule id/index wrong: %s" % (name, result))
                if not result.get("locations"):
                    fail("%s: a %s result has no location" % (name, result["ruleId"]))
                region = result["locations"][0]["physicalLocation"].get("region", {})
                if region.get("startLine", 0) < 1:
                    fail("%s: a %s result's location has no line: %s" % (name, result["ruleId"], region))
                art = result["locations"][0]["physicalLocation"]["artifactLocation"]
                uri = art["uri"]
                if args and art.get("uriBaseId") != "SRCROOT":
                    fail("%s: with --source-root the program's file is not relative: %s" % (name, art))
                if "/usr/" in uri or not uri.endswith((".c", ".cc", ".cpp", ".h")):
                    fail("%s: the location is not the program's own source: %s" % (name, uri))
                edges = finding.get("edges", [])
                if finding["kind"] == "lock_order_cycle":
                    flows = result.get("codeFlows", [])
                    if len(flows) != len(edges):
                        fail("%s: %d code flows for %d edges" % (name, len(flows), len(edges)))
                    for flow in flows:
                        texts = [l["location"].get("message", {}).get("text", "")
                                 for l in flow["threadFlows"][0]["locations"]]
                        if not any("acquired" in t for t in texts) or not any("requested while holding" in t for t in texts):
                            fail("%s: a code flow lacks one of the edge's stacks: %s" % (name, texts))
    # The Multitool, on every log at once: no error and no warning (its results default to
    # "warning" when they carry no level).
    problems = multitool_validate(multitool, logs, os.path.join(work, "validation.sarif"))
    if problems:
        fail("the SARIF Multitool finds problems:\n%s" % "\n".join(problems[:20]))
    # Both validators notice what they are for: a property the schema does not define, a line 0,
    # a wrong version.
    bad = json.loads(json.dumps(log))
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    bad["runs"][0]["results"][0]["lockName"] = "x"
    if validator.is_valid(bad) or validator.is_valid(dict(log, version="2.0.0")):
        fail("the schema accepts a result with line 0 and an unknown property, or version 2.0.0")
    bad_path = os.path.join(work, "bad.sarif")
    with open(bad_path, "w") as f:
        json.dump(bad, f)
    bad_problems = multitool_validate(multitool, [bad_path], os.path.join(work, "bad-validation.sarif"))
    if not any("JSON1008" in p for p in bad_problems) or not any("JSON1005" in p for p in bad_problems):
        fail("the SARIF Multitool misses line 0 or an unknown property:\n%s" % "\n".join(bad_problems))
    want = {"lock_order_cycle", "deadlock", "wait_stall", "hierarchy_violation"}
    if not want <= kinds:
        fail("the runs did not cover %s" % sorted(want - kinds))
    print("sarif: OK: %d logs valid against %s and Sarif.Multitool validate; kinds %s"
          % (len(logs), schema["title"], sorted(kinds)))
    print("PASSED")


if __name__ == "__main__":
    main()
