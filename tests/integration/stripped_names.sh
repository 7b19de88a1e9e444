#!/usr/bin/env bash
# stripped_names.sh: a stripped binary's locks and functions get their names from the separate
# debug file Debian's -dbgsym packages install (/usr/lib/debug/.build-id/xx/rest.debug), as in
# distribution binaries (issue 15); without it they are module+offset and `run` says how to get
# names.
#
# Usage: stripped_names.sh LOCKAUDIT_CLI INVENTORY
# Strips a copy of the inventory example (file-static locks, not in .dynsym), installs its debug
# file under /usr/lib/debug/.build-id for the test's duration (root needed; exit 77, skipped,
# when that directory is not writable) and checks the report with and without it.
set -u
cli=$1 inventory=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/lockaudit_stripped.XXXXXX") || exit 1
debug_file=
cleanup() { [[ -n $debug_file ]] && rm -f -- "$debug_file"; rm -rf -- "$work"; }
trap cleanup EXIT
failed=0
fail() { echo "stripped_names: FAIL: $*"; failed=1; }

cp "$inventory" "$work/inv"
objcopy --only-keep-debug "$work/inv" "$work/inv.debug" || exit 1
objcopy --strip-all "$work/inv" "$work/inv.stripped" || exit 1
id=$(readelf -n "$work/inv.stripped" | awk '/Build ID/ {print $3}')
[[ -n $id ]] || { echo "stripped_names: FAIL: no build id in the stripped copy"; exit 1; }
dir=/usr/lib/debug/.build-id/${id:0:2}
if ! mkdir -p "$dir" 2>/dev/null || [[ ! -w $dir ]]; then
  echo "SKIP: $dir is not writable (run as root to install a debug file)"
  exit 77
fi

names() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["type"] == "finding":
        print(" ".join(sorted(l["name"] for l in d["locks"])))
        print(" ".join(f["function"] or "?" for e in d.get("edges", []) for f in e["stack"][:6]))
' "$1"; }

# 1. No debug file: offsets, and a hint on how to get names.
"$cli" run --report "$work/bare.jsonl" -- "$work/inv.stripped" >/dev/null 2>"$work/bare.err"
bare=$(names "$work/bare.jsonl")
grep -q 'inv.stripped+0x' <<<"$bare" || fail "without debug info the locks should be module+offset: $bare"
grep -q "^lockaudit: locks named <module>+0x<offset>: the program has no symbols for them" "$work/bare.err" ||
  fail "run gives no hint on how to get names: $(grep '^lockaudit:' "$work/bare.err" | tail -n 4)"

# 2. With the debug file where -dbgsym packages put it: the names of the unstripped program.
debug_file="$dir/${id:2}.debug"
cp "$work/inv.debug" "$debug_file"
"$cli" run --report "$work/debug.jsonl" -- "$work/inv.stripped" >/dev/null 2>"$work/debug.err"
named=$(names "$work/debug.jsonl")
grep -q "(anonymous namespace)::orders_mu (anonymous namespace)::stock_mu" <<<"$named" ||
  fail "with the debug file the locks are not named: $named"
grep -q "(anonymous namespace)::PlaceOrder" <<<"$named" || fail "with the debug file the frames are not named: $named"
grep -q "locks named <module>+0x<offset>" "$work/debug.err" && fail "the hint is printed although every lock has a name"

((failed == 0)) && echo "stripped_names: OK"
exit $failed
