#!/usr/bin/env python3
"""Runs a gtest binary with --gtest_output=xml and asserts on its XML report and exit status.

  check_gtest_xml.py [--exit N] [--fail TEST=SUB1|SUB2 ...] [--skipped TEST ...]
                     [--outside SUB1|SUB2] [--output SUB ...] [--env VAR=VALUE ...]
                     -- BINARY ARGS...

Every test case in the report must have run, except those named by --skipped, which gtest must
have skipped (as it does when a suite's SetUpTestSuite() fails); those named by --fail must have
failed exactly once, with every SUB in the failure message, and every other test must have passed. --outside:
the report must carry a failure outside every test (gtest's "NonTestSuiteFailure" suite)
containing each SUB; without it, it must not. --output: the combined stdout and stderr must
contain SUB. --exit: the expected exit status (default: 1 when there are failures, else 0).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def fail(msg, output=None):
    print("check_gtest_xml: FAIL: " + msg)
    if output is not None:
        print("---- output of the test binary ----")
        print(output)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exit", type=int)
    ap.add_argument("--fail", action="append", default=[])
    ap.add_argument("--skipped", action="append", default=[])
    ap.add_argument("--outside")
    ap.add_argument("--output", action="append", default=[])
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        fail("no command")

    expected_failures = {}
    for spec in args.fail:
        name, _, subs = spec.partition("=")
        expected_failures[name] = [s for s in subs.split("|") if s]

    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v

    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "report.xml")
        proc = subprocess.run(command[:1] + ["--gtest_output=xml:" + xml_path] + command[1:],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=240)
        output = proc.stdout
        if not os.path.exists(xml_path):
            fail("no XML report written (exit %d)" % proc.returncode, output)
        root = ET.parse(xml_path).getroot()

    want_exit = args.exit
    if want_exit is None:
        want_exit = 1 if (expected_failures or args.outside) else 0
    if proc.returncode != want_exit:
        fail("exit status %d, expected %d" % (proc.returncode, want_exit), output)

    seen = set()
    outside_messages = []
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            name = "%s.%s" % (case.get("classname"), case.get("name"))
            messages = [f.get("message", "") + "\n" + (f.text or "") for f in case.iter("failure")]
            if suite.get("name") == "NonTestSuiteFailure":
                outside_messages += messages
                continue
            seen.add(name)
            if name in args.skipped:
                if case.get("result") != "skipped":
                    fail("%s was not skipped (result %s)" % (name, case.get("result")), output)
                continue
            if case.get("result", "completed") != "completed" or case.get("status") != "run":
                fail("%s did not run (status %s, result %s)" %
                     (name, case.get("status"), case.get("result")), output)
            if name in expected_failures:
                if not messages:
                    fail("%s passed, expected it to fail" % name, output)
                if len(messages) != 1:
                    fail("%s failed %d times, expected once:\n%s" %
                         (name, len(messages), "\n".join(messages)), output)
                text = "\n".join(messages)
                for sub in expected_failures[name]:
                    if sub not in text:
                        fail("%s failed, but its failure message lacks %r:\n%s" % (name, sub, text),
                             output)
            elif messages:
                fail("%s failed, expected it to pass:\n%s" % (name, "\n".join(messages)), output)
    missing = (set(expected_failures) | set(args.skipped)) - seen
    if missing:
        fail("tests not in the report: %s" % ", ".join(sorted(missing)), output)

    if args.outside is None:
        if outside_messages:
            fail("unexpected failure outside tests:\n" + "\n".join(outside_messages), output)
    else:
        text = "\n".join(outside_messages)
        if not outside_messages:
            fail("no failure outside tests in the report", output)
        for sub in args.outside.split("|"):
            if sub not in text:
                fail("the failure outside tests lacks %r:\n%s" % (sub, text), output)

    for sub in args.output:
        if sub not in output:
            fail("the output lacks %r" % sub, output)
    print("check_gtest_xml: ok: %d tests, failed as expected: %s" %
          (len(seen), ", ".join(sorted(expected_failures)) or "none"))


if __name__ == "__main__":
    main()
