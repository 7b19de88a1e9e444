#!/usr/bin/env bash
# cli_acceptance.sh: the `lockaudit` CLI used as a user would, on real programs under the shim.
#
# Usage: cli_acceptance.sh CASE BIN_DIR PROGRAM_DIR WORK_DIR
#   run-prints-cycle   `lockaudit run -- inventory` prints the cycle and exits with its status (0)
#   run-exitcode       `lockaudit run --exitcode 66` exits 66 with findings, 0 without
#   graph-svg          `lockaudit graph --format svg` draws both locks and the cycle in red
#   merge-cross-run    `lockaudit merge` finds a cycle whose two edges come from two runs
#   run-unaudited      a static program, --disable and a program ending in _exit() get a summary
#                      that says what happened (and keeps the finding written before _exit)
#   shared-stall       a read hold past the threshold is worded as one (readers do not wait), and
#                      LOCKAUDIT_SHARED_STALL_MS sets its own threshold
#   rwlock-kind        a read/write inversion on a writer-preferring rwlock is a potential deadlock
#                      (on a reader-preferring one it is not), and the actual deadlock names the
#                      queued writer that causes it
#   merge-rules        merge leaves out what run leaves out (gated and read-read cycles), takes
#                      --suppressions, writes JSON Lines that `lockaudit report` reads
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
  run-unaudited)
    out=$("$bin/lockaudit" run -- "$programs/static_exit_early" static 2>&1 >/dev/null); rc=$?
    [[ $rc -eq 0 ]] || fail "static: exit $rc, want 0"
    grep -q "^lockaudit: warning: '.*static_exit_early' is statically linked: the shim cannot be attached" <<<"$out" ||
      fail "static: no warning that the program is statically linked: $out"
    grep -q "^lockaudit: not audited: the program is statically linked" <<<"$out" || fail "static: summary: $out"
    grep -q "no findings\|did not reach a normal exit" <<<"$out" && fail "static: contradictory summary: $out"
    out=$("$bin/lockaudit" run --disable -- "$programs/exit_early" 2>&1 >/dev/null); rc=$?
    [[ $rc -eq 0 ]] || fail "--disable: exit $rc, want 0"
    grep -q "^lockaudit: not audited: --disable" <<<"$out" || fail "--disable: summary: $out"
    grep -q "no findings\|did not reach a normal exit" <<<"$out" && fail "--disable: contradictory summary: $out"
    out=$("$bin/lockaudit" run -- "$programs/exit_early" 2>&1 >/dev/null); rc=$?
    [[ $rc -eq 0 ]] || fail "_exit: exit $rc, want 0"
    grep -q "^lockaudit: 1 finding: 1 lock_order_cycle" <<<"$out" || fail "_exit: the finding is not summarized: $out"
    grep -q "^lockaudit: no summary line: the program ended without running its exit handlers (it called _exit()" <<<"$out" ||
      fail "_exit: no explanation of the missing summary: $out"
    grep -q "did not reach a normal exit" <<<"$out" && fail "_exit: contradictory summary: $out"
    ;;
  shared-stall)
    out=$(LOCKAUDIT_STALL_MS=100 "$bin/lockaudit" run -- "$programs/rw_hold" 2>&1 >/dev/null) || fail "run: $out"
    grep -q "^lockaudit: hold_stall: 'g_rw_read' has been held shared (for reading) by thread .*LOCKAUDIT_SHARED_STALL_MS); every writer that wants it waits as long (readers do not)" <<<"$out" ||
      fail "the read hold's stall is not worded as one: $(grep hold_stall <<<"$out")"
    grep -q "^lockaudit: hold_stall: 'g_rw_write' has been held by thread .*; every thread that wants it waits as long" <<<"$out" ||
      fail "no hold stall for the write hold: $(grep hold_stall <<<"$out")"
    out=$("$bin/lockaudit" run --stall-ms 100 --shared-stall-ms 5000 -- "$programs/rw_hold" 2>&1 >/dev/null) || fail "run: $out"
    grep -q "hold_stall: 'g_rw_read'" <<<"$out" && fail "a read hold of 400 ms passed a 5000 ms shared threshold: $out"
    grep -q "hold_stall: 'g_rw_write'" <<<"$out" || fail "the write hold's 100 ms threshold was lost: $out"
    ;;
  rwlock-kind)
    out=$(timeout 60 "$bin/lockaudit" run --stall-ms 200 --on-deadlock abort -- "$programs/rwlock_writer_preferred" writer 2>&1 >/dev/null)
    grep -q "^lockaudit: lock_order_cycle: potential deadlock: 2 locks .*'g_wp_rw' -> 'g_wp_mu' -> 'g_wp_rw'" <<<"$out" ||
      fail "writer-preferring: the read/write inversion is not reported: $(grep '^lockaudit: [a-z_]*:' <<<"$out")"
    grep -q "^lockaudit: deadlock: .*for 'g_wp_rw' to read it, queued behind the writer .* to write it while readers hold it" <<<"$out" ||
      fail "writer-preferring: the deadlock does not name the queued writer: $(grep '^lockaudit: deadlock' <<<"$out")"
    grep -q "was killed by signal 6" <<<"$out" || fail "writer-preferring: not aborted on the deadlock: $out"
    out=$(timeout 60 "$bin/lockaudit" run -- "$programs/rwlock_writer_preferred" reader 2>&1 >/dev/null); rc=$?
    [[ $rc -eq 0 ]] || fail "reader-preferring: exit $rc: $out"
    grep -q "lock_order_cycle\|deadlock:" <<<"$out" && fail "reader-preferring: a cycle that cannot deadlock is reported: $out"
    ;;
  merge-rules)
    for order in gated-ab gated-ba read-ab read-ba ab ba; do
      "$bin/lockaudit" run --report "$work/$order.jsonl" -- "$programs/merge_half" $order 2>/dev/null || fail "run $order"
    done
    out=$("$bin/lockaudit" merge "$work/gated-ab.jsonl" "$work/gated-ba.jsonl" 2>&1); rc=$?
    [[ $rc -eq 0 ]] || fail "a cycle gated in both runs: merge exit $rc, want 0: $out"
    grep -q "left out (cannot deadlock as observed): 1 gated cycle" <<<"$out" || fail "gated cycle not counted as left out: $out"
    out=$("$bin/lockaudit" merge "$work/read-ab.jsonl" "$work/read-ba.jsonl" 2>&1); rc=$?
    [[ $rc -eq 0 ]] || fail "a read-read cycle: merge exit $rc, want 0: $out"
    grep -q "0 gated cycles .*, 1 read-read" <<<"$out" || fail "read-read cycle not counted as left out: $out"
    # A gate in one run only does not guard the other run's edge: a real cycle.
    out=$("$bin/lockaudit" merge "$work/gated-ab.jsonl" "$work/ba.jsonl" 2>&1); rc=$?
    [[ $rc -eq 1 ]] || fail "gated in one run only: merge exit $rc, want 1: $out"
    printf 'lock_order_cycle:^g_merge_a$\n' >"$work/supp"
    out=$("$bin/lockaudit" merge --suppressions "$work/supp" "$work/ab.jsonl" "$work/ba.jsonl" 2>&1); rc=$?
    [[ $rc -eq 0 ]] || fail "--suppressions: merge exit $rc, want 0: $out"
    grep -q "suppression 'lock_order_cycle:^g_merge_a\$' (.*supp:1) matched 1 cycle" <<<"$out" || fail "--suppressions: the rule is not listed: $out"
    "$bin/lockaudit" merge --format jsonl "$work/ab.jsonl" "$work/ba.jsonl" >"$work/merged.jsonl" 2>"$work/merged.err"; rc=$?
    [[ $rc -eq 1 ]] || fail "--format jsonl: exit $rc, want 1"
    python3 - "$work/merged.jsonl" <<'PY' || fail "--format jsonl: $(cat "$work/merged.jsonl")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
finding = [l for l in lines if l["type"] == "finding"]
summary = [l for l in lines if l["type"] == "summary"]
assert len(finding) == 1 and finding[0]["kind"] == "lock_order_cycle" and finding[0]["cross_run"], lines
assert {l["name"] for l in finding[0]["locks"]} == {"g_merge_a", "g_merge_b"}, finding
assert all(e["stack"] and e["file"] for e in finding[0]["edges"]), finding
assert len(summary) == 1 and summary[0]["findings"] == 1 and summary[0]["runs"] == 2, summary
PY
    out=$("$bin/lockaudit" report "$work/merged.jsonl" 2>&1) || true
    grep -q "^lockaudit: lock_order_cycle: potential deadlock: 2 locks .*(merged: no single run saw every edge)" <<<"$out" ||
      fail "lockaudit report does not render the merged cycle: $out"
    "$bin/lockaudit" merge --format xml "$work/ab.jsonl" 2>/dev/null; rc=$?
    [[ $rc -eq 2 ]] || fail "--format xml: exit $rc, want 2 (usage)"
    ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
echo "ok: $case_name"
