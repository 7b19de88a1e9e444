#!/usr/bin/env python3
"""The README's environment-variable table must equal core/options.inc (the one options table).

Usage: readme_options_check.py REPO_DIR. Prints the expected table when they differ."""
import re
import sys

repo = sys.argv[1]
rows = []
for line in open(f"{repo}/core/options.inc"):
    m = re.match(r'LOCKAUDIT_OPTION\(\w+, (\w+), \w+, "([^"]*)", "([^"]*)"\)', line)
    if m:
        var, default, desc = m.groups()
        rows.append(f"| `{var}` | {desc} | {'`' + default + '`' if default else ''} |")
readme = [l.rstrip("\n") for l in open(f"{repo}/README.md")]
table = [l for l in readme if l.startswith("| `LOCKAUDIT_")]
if not rows:
    sys.exit("no options parsed from core/options.inc")
if table != rows:
    print("README.md table differs from core/options.inc; expected:\n" + "\n".join(rows))
    sys.exit(1)
print(f"README options table matches core/options.inc ({len(rows)} variables)")
