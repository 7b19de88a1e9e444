#!/usr/bin/env bash
# differential.sh: runs one program natively and under the lockaudit shim and fails when the two
# runs behave differently (DESIGN.md §8: the shim must not change the program's behaviour).
#
# Usage: differential.sh [--allocator LIB [--order before|after|both]] [--ulimit-v KB]
#                        [--timeout S] SHIM PROGRAM [ARGS...]
#
# The programs in this folder print one line per call (its return code or observable outcome)
# and nothing timing-dependent, so their stdout and exit status are the oracle:
#   native:  PROGRAM ARGS                     (LD_PRELOAD=LIB with --allocator)
#   shim:    LD_PRELOAD=SHIM PROGRAM ARGS     (LD_PRELOAD=LIB:SHIM with --order before,
#                                              LD_PRELOAD=SHIM:LIB with --order after; both
#                                              shim runs with --order both, the default)
# Every shim run gets LOCKAUDIT_LOG=off and LOCKAUDIT_REPORT=<a temporary file>; other
# LOCKAUDIT_* variables in the environment (ctest's ENVIRONMENT) reach it unchanged. The
# report must exist afterwards (proof that the shim was loaded at all).
#   --allocator LIB  a malloc replacement preloaded in every run; when LIB does not exist the
#                    test is SKIPPED (exit 77, ctest SKIP_RETURN_CODE), with the reason
#   --ulimit-v KB    `ulimit -v KB` for every run (an address-space limit)
#   --timeout S      each run is killed after S seconds (default 60); a timeout is a failure
#   --no-findings    the shim's report must hold no finding (a correct program: nothing may be
#                    invented, e.g. by a signal handler's locks interleaved with the thread's)
#
# Exit status: 0 all runs agree; 1 a difference, a timeout or a missing report (one line
# "differential: FAILED: ..." then the diff or the stderr tail); 2 bad usage; 77 skipped.
set -u

usage() {
  echo "usage: differential.sh [--allocator LIB [--order before|after|both]] [--ulimit-v KB]" \
       "[--timeout S] SHIM PROGRAM [ARGS...]" >&2
  exit 2
}

allocator="" order=both ulimit_v="" limit=60 no_findings=0
while (($#)); do
  case $1 in
    --allocator) (($# >= 2)) || usage; allocator=$2; shift 2 ;;
    --order) (($# >= 2)) || usage; order=$2; shift 2 ;;
    --ulimit-v) (($# >= 2)) || usage; ulimit_v=$2; shift 2 ;;
    --timeout) (($# >= 2)) || usage; limit=$2; shift 2 ;;
    --no-findings) no_findings=1; shift ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
(($# >= 2)) || usage
shim=$1
shift
[[ $order =~ ^(before|after|both)$ ]] || usage
[[ $limit =~ ^[0-9]+$ ]] || usage
[[ -z $ulimit_v || $ulimit_v =~ ^[0-9]+$ ]] || usage
name=$(basename -- "$1")

if [[ -n $allocator && ! -f $allocator ]]; then
  echo "differential: SKIPPED: $name: allocator $allocator is not installed" \
       "(Debian: apt-get install libjemalloc2 libtcmalloc-minimal4)"
  exit 77
fi
if [[ ! -f $shim ]]; then
  echo "differential: FAILED: $name: shim not found: $shim" >&2
  exit 1
fi
if [[ ! -x $1 ]]; then
  echo "differential: FAILED: program not found or not executable: $1" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lockaudit_differential.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT

# run_one TAG PRELOAD [ENV...]: runs the program with LD_PRELOAD=PRELOAD (none when empty)
# under the limits; leaves TAG.out, TAG.err and TAG.status in $work, and TAG.timedout when it
# had to be killed.
run_one() {
  local tag=$1 preload=$2
  shift 2
  local start=$SECONDS
  # The outer subshell reports a death by signal ("Aborted") into TAG.err, not onto ours.
  (
    (
      [[ -n $ulimit_v ]] && { ulimit -v "$ulimit_v" || exit 125; }
      # timeout(1) itself runs without the preload: only the program gets it.
      if [[ -n $preload ]]; then
        exec env -u LD_PRELOAD "$@" timeout -k 5 "$limit" env LD_PRELOAD="$preload" "${program[@]}"
      else
        exec env -u LD_PRELOAD "$@" timeout -k 5 "$limit" "${program[@]}"
      fi
    )
  ) >"$work/$tag.out" 2>"$work/$tag.err" </dev/null
  local status=$?
  echo "$status" >"$work/$tag.status"
  # timeout(1) exits 124 on a timeout, 137 when it also had to send SIGKILL.
  if ((status == 124 || (status == 137 && SECONDS - start >= limit))); then
    : >"$work/$tag.timedout"
  fi
}

describe_status() {
  local s=$1
  if ((s > 128 && s < 160)); then
    echo "status $s (killed by signal $((s - 128)))"
  else
    echo "status $s"
  fi
}

program=("$@")
run_one native "$allocator"

shim_runs=()
if [[ -z $allocator ]]; then
  shim_runs+=("shim|$shim")
else
  [[ $order != after ]] && shim_runs+=("shim_allocator_before|$allocator:$shim")
  [[ $order != before ]] && shim_runs+=("shim_allocator_after|$shim:$allocator")
fi

failed=0
for entry in "${shim_runs[@]}"; do
  tag=${entry%%|*} preload=${entry#*|}
  report=$work/$tag.jsonl
  run_one "$tag" "$preload" LOCKAUDIT_LOG=off LOCKAUDIT_REPORT="$report"
  what="$name (LD_PRELOAD=$preload)"
  problem=""
  if [[ -e $work/native.timedout ]]; then
    problem="the native run timed out after ${limit}s"
  elif [[ -e $work/$tag.timedout ]]; then
    problem="the run under the shim timed out after ${limit}s (natively: $(describe_status "$(<"$work/native.status")"))"
  elif [[ $(<"$work/native.status") == 125 && -n $ulimit_v ]]; then
    problem="ulimit -v $ulimit_v was refused"
  elif ! cmp -s "$work/native.out" "$work/$tag.out"; then
    first=$(diff "$work/native.out" "$work/$tag.out" | sed -n '2{p;q}')
    problem="stdout differs (first difference: ${first:-?})"
  elif [[ $(<"$work/native.status") != $(<"$work/$tag.status") ]]; then
    problem="exit status differs: natively $(describe_status "$(<"$work/native.status")"), under the shim $(describe_status "$(<"$work/$tag.status")")"
  elif [[ ! -s $report ]]; then
    problem="the shim wrote no report to LOCKAUDIT_REPORT (was it loaded?)"
  elif ((no_findings)) && grep -q '"type":"finding"' "$report"; then
    problem="the report holds finding(s) for a correct program: $(grep '"type":"finding"' "$report" | grep -o '"message":"[^"]*' | cut -c12- | head -n 3 | tr '\n' ';')"
  fi
  if [[ -n $problem ]]; then
    failed=1
    echo "differential: FAILED: $what: $problem"
    echo "--- diff native.stdout shim.stdout ---"
    diff "$work/native.out" "$work/$tag.out" | head -n 60
    echo "--- exit status: native $(<"$work/native.status"), shim $(<"$work/$tag.status") ---"
    for t in native "$tag"; do
      if [[ -s $work/$t.err ]]; then
        echo "--- $t stderr (last 20 lines) ---"
        tail -n 20 -- "$work/$t.err"
      fi
    done
  else
    echo "differential: OK: $what: $(wc -l <"$work/native.out") line(s) and $(describe_status "$(<"$work/native.status")") identical; report: $(grep -c '"type":"finding"' "$report") finding(s)"
  fi
done
exit "$failed"
