#!/usr/bin/env bash
# cli_acceptance.sh: the `lockaudit` CLI used as a user would, on real programs under the shim.
#
# Usage: cli_acceptance.sh CASE BIN_DIR PROGRAM_DIR WORK_DIR
#   run-prints-cycle   `lockaudit run -- inventory` prints the cycle and exits with its status (0)
#   run-exitcode       `lockaudit run --exitcode 66` exits 66 with findings, 0 without
#   graph-svg          `lockaudit graph --format svg` draws both locks and the cycle in red
#   merge-cross-run    `lockaudit merge` finds a cycle whose two edges come from two runs
set -u
case_name=$1 bin=$2 programs=$3 work=$4
mkdir -p "$work"
fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }

case $case_name in
  run-prints-cycle)
    err=$("$bin/lockaudit" run -- "$bin/inventory" 2>&1 >/dev/null); rc=$?
    [[ $rc -eq 0 ]] || fail "exit status $rc, want 0 (the program's)"
    grep -q "^lockaudit: lock_order_cycle: potential deadlock: 2 locks" <<<"$err" || fail "no cycle in: $err"
    grep -q "(anonymous namespace)::PlaceOrder (inventory.cc:30), while holding '(anonymous namespace)::orders_mu' taken at (anonymous namespace)::PlaceOrder (inventory.cc:28)" <<<"$err" \
      || fail "edge does not point at inventory.cc lines: $err"
    "$bin/lockaudit" run -- /bin/sh -c 'exit 7' 2>/dev/null; rc=$?
    [[ $rc -eq 7 ]] || fail "exit status $rc, want the program's 7"
    ;;
  run-exitcode)
    "$bin/lockaudit" run --exitcode 66 -- "$bin/inventory" >/dev/null 2>&1; rc=$?
    [[ $rc -eq 66 ]] || fail "with a finding: exit $rc, want 66"
    "$bin/lockaudit" run --exitcode 66 -- "$programs/gate_lock" >/dev/null 2>&1; rc=$?
    [[ $rc -eq 0 ]] || fail "without findings: exit $rc, want 0"
    ;;
  graph-svg)
    "$bin/lockaudit" run --report "$work/inventory.jsonl" -- "$bin/inventory" >/dev/null 2>&1
    "$bin/lockaudit" graph "$work/inventory.jsonl" --format svg -o "$work/inventory.svg" || fail "graph failed"
    grep -q "<svg" "$work/inventory.svg" || fail "not an SVG"
    grep -q "orders_mu" "$work/inventory.svg" || fail "lock name orders_mu missing"
    grep -q "stock_mu" "$work/inventory.svg" || fail "lock name stock_mu missing"
    red=$(grep -c 'stroke="red"' "$work/inventory.svg")
    [[ $red -ge 2 ]] || fail "cycle edges not drawn red ($red red strokes)"
    ;;
  merge-cross-run)
    "$bin/lockaudit" run --report "$work/ab.jsonl" -- "$programs/merge_half" ab 2>/dev/null || fail "run ab"
    "$bin/lockaudit" run --report "$work/ba.jsonl" -- "$programs/merge_half" ba 2>/dev/null || fail "run ba"
    grep -q '"type":"finding"' "$work/ab.jsonl" "$work/ba.jsonl" && fail "a single run must have no finding"
    out=$("$bin/lockaudit" merge "$work/ab.jsonl" "$work/ba.jsonl" 2>&1); rc=$?
    [[ $rc -eq 1 ]] || fail "merge exit $rc, want 1 (cycle found): $out"
    grep -q "g_merge_a" <<<"$out" && grep -q "g_merge_b" <<<"$out" || fail "lock names missing: $out"
    grep -qi "cross-run" <<<"$out" || fail "not marked cross-run: $out"
    ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
echo "ok: $case_name"
