#!/usr/bin/env bash
# suppressions.sh: suppressions match as the sanitizers' do, say what they matched, and every
# finding carries a line that suppresses it (issue 15; docs/suppressions.md).
#
# Usage: suppressions.sh LOCKAUDIT_CLI PROGRAM_DIR
#
# suppress_match makes 3 findings: destroy_held in suppress_this(pthread_mutex_t*), destroy_held
# in keep_this(pthread_mutex_t*), and a lock_order_cycle in invert_here(). Each case runs it under
# `lockaudit run --report` with one suppressions file and checks how many findings are left.
# Exit status 0 when all hold; 1 otherwise (each problem on one line "suppressions: FAIL: ...").
set -u
cli=$1 programs=$2
prog=$programs/suppress_match
work=$(mktemp -d "${TMPDIR:-/tmp}/lockaudit_supp.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT
failed=0
fail() { echo "suppressions: FAIL: $*"; failed=1; }

run_with() {  # NAME RULES... -> $work/NAME.{jsonl,err}
  local name=$1
  shift
  printf '%s\n' "$@" >"$work/$name.supp"
  "$cli" run --report "$work/$name.jsonl" --suppressions "$work/$name.supp" -- "$prog" \
    >/dev/null 2>"$work/$name.err"
}
count() { grep -c '"type":"finding"' "$1"; }
suppressed() { grep '"type":"summary"' "$1" | grep -o '"suppressed":[0-9]*' | cut -d: -f2; }
expect() {  # NAME FINDINGS SUPPRESSED WHY
  local n s
  n=$(count "$work/$1.jsonl") s=$(suppressed "$work/$1.jsonl")
  [[ $n == "$2" && $s == "$3" ]] ||
    fail "$1 ($4): $n finding(s) and ${s:-no} suppressed, expected $2 and $3; rules: $(tr '\n' ' ' <"$work/$1.supp")"
}

# 0. Nothing suppressed: 3 findings, each with its ready-made line, in the text log and the JSON.
run_with none "# nothing"
expect none 3 0 "no rule"
suggested=$(grep -o '"suppression":"[^"]*"' "$work/none.jsonl" | cut -d'"' -f4)
[[ $(wc -l <<<"$suggested") == 3 ]] || fail "not every finding carries a \"suppression\": $suggested"
grep -Fqx 'destroy_held:^suppress_this$' <<<"$suggested" ||
  fail "no ready-made line 'destroy_held:^suppress_this\$' among: $suggested"
grep -Fqx 'lock_order_cycle:^invert_here$' <<<"$suggested" ||
  fail "no ready-made line 'lock_order_cycle:^invert_here\$' among: $suggested"
[[ $(grep -c '^  to suppress, add to LOCKAUDIT_SUPPRESSIONS: ' "$work/none.err") == 3 ]] ||
  fail "the text report does not print the suppression line with each finding"

# 1. A bare name matches the frame suppress_this(pthread_mutex_t*) (substring), nothing else.
run_with bare "destroy_held:suppress_this"
expect bare 2 1 "bare function name"
grep -q '"kind":"destroy_held".*keep_this' "$work/bare.jsonl" || fail "bare: keep_this's finding is gone too"
grep -q '"suppressions":\[{"rule":"destroy_held:suppress_this","where":"[^"]*bare.supp:1","matched":1}\]' "$work/bare.jsonl" ||
  fail "bare: the summary line does not list the rule that matched: $(grep summary "$work/bare.jsonl")"
grep -q "^lockaudit: suppression 'destroy_held:suppress_this' (.*bare.supp:1) matched 1 finding" "$work/bare.err" ||
  fail "bare: run's summary does not list the rule that matched: $(grep '^lockaudit: suppression' "$work/bare.err")"

# 2. Anchors, wildcards, kinds.
run_with anchored 'destroy_held:^suppress_this$'
expect anchored 2 1 "^name\$ matches the function without its parameters"
run_with start_anchor 'destroy_held:^uppress_this'
expect start_anchor 3 0 "^ anchors at the start"
run_with end_anchor 'destroy_held:this(pthread_mutex_t*)$'
expect end_anchor 1 2 "\$ anchors at the end; * and ( are plain or wildcard as documented"
run_with wildcard 'destroy_held:^keep*mutex'
expect wildcard 2 1 "* matches a run of characters"
run_with wrong_kind 'double_lock:suppress_this'
expect wrong_kind 3 0 "a rule of another kind"
run_with any_kind '*:suppress_match.cc'
expect any_kind 0 3 "* kind and a file basename"
run_with lock_name 'lock_order_cycle:g_second'
expect lock_name 2 1 "a lock name"
run_with bad_line 'destroy_held' 'destroy_held:suppress_this'
expect bad_line 2 1 "a bad line is skipped, the next rule applies"
grep -q 'bad_line.supp:1: .destroy_held. is not <kind>:<pattern>; line ignored' "$work/bad_line.err" ||
  fail "bad_line: no one-line warning for the bad line: $(grep warning "$work/bad_line.err")"

# 3. The ready-made lines, pasted as they are, suppress exactly their findings.
mapfile -t pasted <<<"$suggested"
run_with pasted "${pasted[@]}"
expect pasted 0 3 "the ready-made lines"

# 4. `lockaudit report` prints the ready-made line and the rules that matched.
"$cli" report "$work/bare.jsonl" >"$work/report.txt" 2>&1
grep -q '^  to suppress, add to LOCKAUDIT_SUPPRESSIONS: destroy_held:^keep_this\$' "$work/report.txt" ||
  fail "lockaudit report does not print the suppression line"
grep -q "^lockaudit: suppression 'destroy_held:suppress_this' (.*) matched 1 finding" "$work/report.txt" ||
  fail "lockaudit report does not list the rule that matched"

((failed == 0)) && echo "suppressions: OK"
exit $failed
