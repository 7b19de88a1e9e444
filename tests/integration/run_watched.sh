#!/usr/bin/env bash
# run_watched.sh: runs a program that hangs (or is meant to be aborted) under the lockaudit shim,
# bounded in time, then checks its report.
#
# Usage: run_watched.sh SHIM REPORT_CHECK REPORT LIMIT_SECONDS MODE [CHECK_ARGS...] -- PROGRAM [ARGS...]
#   MODE abort      the program must die by SIGABRT (LOCKAUDIT_ON_DEADLOCK=abort) within
#                   LIMIT_SECONDS, and the report must already hold what CHECK_ARGS expect.
#   MODE kill:KIND  the program hangs; as soon as the report holds a KIND finding (or after
#                   LIMIT_SECONDS) it is killed with SIGKILL: the finding must be there.
#   MODE exit:N     the program must end by itself with status N within LIMIT_SECONDS.
# Prints how long the finding took to appear. Exit status: 0 pass, 1 fail, 2 bad usage.
set -u
(($# >= 7)) || { echo "usage: run_watched.sh SHIM REPORT_CHECK REPORT LIMIT_SECONDS MODE [CHECK_ARGS...] -- PROGRAM [ARGS...]" >&2; exit 2; }
shim=$1 check=$2 report=$3 limit=$4 mode=$5
shift 5
check_args=()
while (($#)) && [[ $1 != -- ]]; do check_args+=("$1"); shift; done
(($# >= 2)) || { echo "run_watched: missing -- PROGRAM" >&2; exit 2; }
shift
[[ $limit =~ ^[0-9]+$ ]] || { echo "run_watched: LIMIT_SECONDS must be an integer" >&2; exit 2; }

mkdir -p -- "$(dirname -- "$report")"
rm -f -- "$report"
start=$(date +%s%N)
LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}" LOCKAUDIT_REPORT="$report" LOCKAUDIT_LOG=stderr "$@" &
pid=$!
deadline=$((start + limit * 1000000000))
found_kind=""
[[ $mode == kill:* ]] && found_kind=${mode#kill:}
status=""
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; status=$?
    break
  fi
  if [[ -n $found_kind && -f $report ]] && grep -q "\"kind\":\"$found_kind\"" "$report"; then
    break
  fi
  (( $(date +%s%N) < deadline )) || break
  sleep 0.05
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [[ -z $status ]]; then
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
fi
fail=0
case $mode in
  abort)
    if [[ $status != 134 ]]; then
      echo "run_watched: expected death by SIGABRT (status 134) within ${limit}s, got ${status:-still running after ${elapsed_ms} ms}" >&2
      fail=1
    else
      echo "run_watched: aborted after ${elapsed_ms} ms (limit ${limit}s)"
    fi ;;
  kill:*)
    if [[ -n $status ]]; then
      echo "run_watched: the program exited (status $status) instead of hanging" >&2
      fail=1
    elif ! grep -q "\"kind\":\"$found_kind\"" "$report" 2>/dev/null; then
      echo "run_watched: no $found_kind finding within ${limit}s" >&2
      fail=1
    else
      echo "run_watched: $found_kind reported after ${elapsed_ms} ms; program killed"
    fi ;;
  exit:*)
    if [[ $status != "${mode#exit:}" ]]; then
      echo "run_watched: expected exit status ${mode#exit:} within ${limit}s, got ${status:-still running after ${elapsed_ms} ms}" >&2
      fail=1
    fi ;;
  *) echo "run_watched: unknown MODE '$mode'" >&2; exit 2 ;;
esac
if ! "$check" "$report" "${check_args[@]}"; then
  fail=1
  [[ -f $report ]] && head -c 4000 "$report" >&2
fi
exit $fail
