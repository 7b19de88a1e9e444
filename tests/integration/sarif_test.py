#!/usr/bin/env python3
"""`lockaudit report --format sarif` (issue 17): SARIF 2.1.0 that code scanning can take.

usage: sarif_test.py LOCKAUDIT INVENTORY PROGRAM_DIR WORKDIR

Records reports of unmodified programs with findings of several kinds (a lock-order cycle, an
actual deadlock, stalls, a hierarchy violation), converts each with --format sarif (and
--source-root), and checks every log against a JSON Schema of the SARIF 2.1.0 objects it uses,
written here from the OASIS SARIF 2.1.0 specification (the official schema file is not in a
Debian package and this machine has no network; see the note in docs/report.md), plus the
spec's cross-references: every result has a location with a file and line from the program (not
a system header), ruleId/ruleIndex name a rule of the driver, every lock-order edge is a code
flow with both of its stacks.
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

MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
ARTIFACT = {"type": "object", "required": ["uri"],
            "properties": {"uri": {"type": "string", "minLength": 1, "pattern": "^[^ ]*$"},
                           "uriBaseId": {"type": "string"}}}
REGION = {"type": "object", "required": ["startLine"],
          "properties": {"startLine": {"type": "integer", "minimum": 1}}}
LOCATION = {"type": "object", "required": ["physicalLocation"],
            "properties": {"physicalLocation": {"type": "object", "required": ["artifactLocation", "region"],
                                                "properties": {"artifactLocation": ARTIFACT, "region": REGION}},
                           "logicalLocations": {"type": "array", "items": {"type": "object",
                                                "properties": {"fullyQualifiedName": {"type": "string"},
                                                               "kind": {"type": "string"}}}},
                           "message": MESSAGE}}
LEVEL = {"enum": ["none", "note", "warning", "error"]}
RULE = {"type": "object", "required": ["id", "shortDescription"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                       "shortDescription": MESSAGE,
                       "defaultConfiguration": {"type": "object", "properties": {"level": LEVEL}}}}
DRIVER = {"type": "object", "required": ["name", "rules"],
          "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                         "informationUri": {"type": "string"},
                         "rules": {"type": "array", "items": RULE}}}
FLOW_LOCATION = {"type": "object", "required": ["location"],
                 "properties": {"location": LOCATION,
                                "nestingLevel": {"type": "integer", "minimum": 0}}}
THREAD_FLOW = {"type": "object", "required": ["locations"],
               "properties": {"locations": {"type": "array", "minItems": 1, "items": FLOW_LOCATION}}}
CODE_FLOW = {"type": "object", "required": ["threadFlows"],
             "properties": {"message": MESSAGE,
                            "threadFlows": {"type": "array", "minItems": 1, "items": THREAD_FLOW}}}
RESULT = {"type": "object", "required": ["ruleId", "message", "locations"],
          "properties": {"ruleId": {"type": "string"},
                         "ruleIndex": {"type": "integer", "minimum": 0},
                         "level": LEVEL,
                         "message": MESSAGE,
                         "locations": {"type": "array", "items": LOCATION},
                         "partialFingerprints": {"type": "object",
                                                 "additionalProperties": {"type": "string"}},
                         "codeFlows": {"type": "array", "items": CODE_FLOW}}}
RUN = {"type": "object", "required": ["tool", "results"],
       "properties": {"tool": {"type": "object", "required": ["driver"],
                               "properties": {"driver": DRIVER}},
                      "originalUriBaseIds": {"type": "object", "additionalProperties": {
                          "type": "object", "required": ["uri"],
                          "properties": {"uri": {"type": "string", "pattern": "/$"}}}},
                      "results": {"type": "array", "items": RESULT}}}
SCHEMA = {"type": "object", "required": ["version", "runs"],
          "properties": {"$schema": {"type": "string"},
                         "version": {"const": "2.1.0"},
                         "runs": {"type": "array", "minItems": 1, "items": RUN}}}


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def main():
    cli, inventory, programs, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
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
                if not result["locations"]:
                    fail("%s: a %s result has no location" % (name, result["ruleId"]))
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
    # The schema notices what it is for: a result without a line, a wrong version.
    bad = json.loads(json.dumps(log))
    del bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    if validator.is_valid(bad) or validator.is_valid(dict(log, version="2.0.0")):
        fail("the schema accepts a result without a region, or version 2.0.0")
    want = {"lock_order_cycle", "deadlock", "wait_stall", "hierarchy_violation"}
    if not want <= kinds:
        fail("the runs did not cover %s" % sorted(want - kinds))
    print("sarif: OK: kinds %s" % sorted(kinds))
    print("PASSED")


if __name__ == "__main__":
    main()
