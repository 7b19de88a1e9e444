#!/usr/bin/env bash
# run_under_shim.sh: runs one unmodified program under the lockaudit shim, then checks its report.
#
# Usage: run_under_shim.sh SHIM REPORT_CHECK REPORT EXPECTED_STATUS [CHECK_ARGS...] -- PROGRAM [ARGS...]
#
# Removes REPORT, runs PROGRAM with LD_PRELOAD=SHIM (ahead of any LD_PRELOAD already set),
# LOCKAUDIT_REPORT=REPORT and LOCKAUDIT_LOG=stderr; every other LOCKAUDIT_* variable in the
# environment (e.g. from ctest's ENVIRONMENT property) reaches the program unchanged. Then checks
# that the program exited with EXPECTED_STATUS and runs `REPORT_CHECK REPORT CHECK_ARGS...`
# (without the shim). On failure the head of the report is printed.
# Exit status: 0 when both checks pass, 1 when one fails, 2 on bad usage.
set -u

usage() {
  echo "usage: run_under_shim.sh SHIM REPORT_CHECK REPORT EXPECTED_STATUS [CHECK_ARGS...] -- PROGRAM [ARGS...]" >&2
  exit 2
}

(($# >= 6)) || usage
shim=$1 check=$2 report=$3 want=$4
shift 4
[[ $want =~ ^[0-9]+$ ]] || usage
check_args=()
while (($#)) && [[ $1 != -- ]]; do
  check_args+=("$1")
  shift
done
(($# >= 2)) || usage  # "--" and PROGRAM
shift

if [[ ! -f $shim ]]; then
  echo "run_under_shim: shim not found: $shim" >&2
  exit 1
fi
mkdir -p -- "$(dirname -- "$report")"
rm -f -- "$report"

LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}" LOCKAUDIT_REPORT="$report" LOCKAUDIT_LOG=stderr "$@"
status=$?

failed=0
if ((status != want)); then
  if ((status > 128)); then
    echo "run_under_shim: $1 was killed by signal $((status - 128)) (status $status), expected status $want" >&2
  else
    echo "run_under_shim: $1 exited with status $status, expected $want" >&2
  fi
  failed=1
fi
"$check" "$report" "${check_args[@]}" || failed=1

if ((failed)); then
  if [[ -f $report ]]; then
    echo "--- $report (first 100 lines) ---" >&2
    head -n 100 -- "$report" >&2
  fi
  exit 1
fi
exit 0
