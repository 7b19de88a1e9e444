#!/usr/bin/env python3
"""The README and the public headers tell a user the truth about this repository (issue 15).

Usage: readme_check.py REPO_DIR
  * nothing cites a document that is not in the repository (DESIGN.md lives outside it);
  * nothing says a built feature is "not built yet" / "NOT implemented";
  * the sample report is real-looking output of `lockaudit run`: the engine's report and run's
    own summary, and no absolute path of one machine (/work, /home, /root, /tmp);
  * every relative link of the README and of docs/*.md points at a file (and a heading, for
    #anchors) that exists;
  * the install step find_package(lockaudit) needs is there.
Exit 0 pass, 1 fail (each problem on one line).
"""
import glob
import os
import re
import sys


def anchor(heading):
    a = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return a.replace(" ", "-")


def main():
    root = sys.argv[1]
    readme = open(os.path.join(root, "README.md")).read()
    problems = []
    public = [os.path.join(root, "README.md")] + glob.glob(os.path.join(root, "docs", "*.md")) + \
        glob.glob(os.path.join(root, "lockaudit", "include", "lockaudit", "*.h"))
    for path in public:
        text = open(path).read()
        rel = os.path.relpath(path, root)
        for bad in ("DESIGN.md", "../shared/", "not built yet", "NOT implemented", "not implemented yet"):
            if bad in text:
                problems.append(f"{rel}: says '{bad}'")
    m = re.search(r"## What a report looks like.*?```\n(.*?)```", readme, re.S)
    if not m:
        problems.append("README: no sample report under 'What a report looks like'")
    else:
        sample = m.group(1)
        if "lockaudit: lock_order_cycle: potential deadlock" not in sample:
            problems.append("README: the sample report has no finding")
        if "lockaudit: ---- " not in sample or "full report:" not in sample:
            problems.append("README: the sample report lacks run's own summary")
        for path in re.findall(r"(?<![\w.])/(?:work|home|root|tmp)/\S*", sample):
            problems.append(f"README: the sample report shows a machine's absolute path {path}")
    for path in [os.path.join(root, "README.md")] + glob.glob(os.path.join(root, "docs", "*.md")):
        base = os.path.dirname(path)
        for target in re.findall(r"\]\(([^)\s]+)\)", open(path).read()):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            file, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(base, file)) if file else path
            if not os.path.exists(full):
                problems.append(f"{os.path.relpath(path, root)}: link to {target}: no such file")
            elif frag and full.endswith(".md"):
                heads = {anchor(h) for h in re.findall(r"^#+\s+(.*)$", open(full).read(), re.M)}
                if frag not in heads:
                    problems.append(f"{os.path.relpath(path, root)}: link to {target}: no such heading")
    if "cmake --install build" not in readme:
        problems.append("README: no install step before find_package(lockaudit)")
    for p in problems:
        print(p)
    print("readme_check: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
