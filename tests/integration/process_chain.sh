#!/usr/bin/env bash
# process_chain.sh: every process of an audited run keeps its findings (issue 15).
#
# Usage: process_chain.sh LOCKAUDIT_CLI PROGRAM_DIR
#
# `lockaudit run -- sh -c 'A; B; C'` where A (abba_two_threads) and C (cycle3) each have one
# lock-order inversion and B (gate_lock) none: the report must hold both findings, from two
# pids, and one summary line per process; run's summary must count 2 findings and name both
# processes. The same with the report path from LOCKAUDIT_REPORT in the environment, and with
# %p in it (one file per process, all read by run). %p in LOCKAUDIT_LOG gives one log per process.
# Exit status 0 when all hold; 1 otherwise (each problem on one line "process_chain: FAIL: ...").
set -u
cli=$1 programs=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/lockaudit_chain.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT
failed=0
fail() { echo "process_chain: FAIL: $*"; failed=1; }
chain="$programs/abba_two_threads; $programs/gate_lock; $programs/cycle3"

check_report() {  # TAG FILE...
  local tag=$1
  shift
  local findings pids summaries
  findings=$(cat "$@" | grep -c '"type":"finding"')
  pids=$(cat "$@" | grep '"type":"finding"' | grep -o '"pid":[0-9]*' | sort -u | wc -l)
  summaries=$(cat "$@" | grep -c '"type":"summary"')
  ((findings == 2)) || fail "$tag: $findings finding line(s) in the report, expected 2 (one from each of two processes)"
  ((pids == 2)) || fail "$tag: findings from $pids pid(s), expected 2"
  ((summaries >= 3)) || fail "$tag: $summaries summary line(s), expected one per audited process (3 at least)"
}
check_summary() {  # TAG STDERR
  grep -q '^lockaudit: 2 findings: 2 lock_order_cycle' "$2" ||
    fail "$1: run's summary does not count 2 findings: $(grep '^lockaudit: [0-9n]' "$2" | head -n 2)"
  grep -q '^lockaudit:   process [0-9]* (.*abba_two_threads): 1 finding' "$2" ||
    fail "$1: run's summary does not name the process of abba_two_threads"
  grep -q '^lockaudit:   process [0-9]* (.*cycle3): 1 finding' "$2" ||
    fail "$1: run's summary does not name the process of cycle3"
}

# 1. --report FILE.
"$cli" run --log off --report "$work/r.jsonl" -- sh -c "$chain" 2>"$work/1.err"
check_report "--report" "$work/r.jsonl"
check_summary "--report" "$work/1.err"

# 2. LOCKAUDIT_REPORT from the environment (it used to be ignored for a temporary file); a stale
#    LOCKAUDIT_REPORT_APPEND from an outer run must not keep old lines.
echo '{"type":"finding","kind":"stale","pid":1}' >"$work/env.jsonl"
LOCKAUDIT_REPORT="$work/env.jsonl" LOCKAUDIT_REPORT_APPEND=1 "$cli" run --log off -- sh -c "$chain" 2>"$work/2.err"
check_report "LOCKAUDIT_REPORT" "$work/env.jsonl"
grep -q '"kind":"stale"' "$work/env.jsonl" && fail "LOCKAUDIT_REPORT: the old content was kept"
check_summary "LOCKAUDIT_REPORT" "$work/2.err"

# 3. %p: a file per process, all of them summarized by run.
"$cli" run --log off --report "$work/p.%p.jsonl" -- sh -c "$chain" 2>"$work/3.err"
files=("$work"/p.*.jsonl)
((${#files[@]} >= 3)) || fail "%p: ${#files[@]} report file(s), expected one per process"
check_report "%p" "${files[@]}"
check_summary "%p" "$work/3.err"

# 4. %p in LOCKAUDIT_LOG: one text log per process.
LOCKAUDIT_LOG="$work/log.%p.txt" LD_PRELOAD="$(dirname "$cli")/../lib/liblockaudit_preload.so" \
  sh -c "$chain" 2>/dev/null
logs=$(grep -l 'lock_order_cycle' "$work"/log.*.txt 2>/dev/null | wc -l)
((logs == 2)) || fail "LOCKAUDIT_LOG with %p: $logs log file(s) with a finding, expected 2"

((failed == 0)) && echo "process_chain: OK"
exit "$failed"
