#!/usr/bin/env bash
# run_stress.sh: runs stress_random under the shim and checks its report with check_stress.py.
#
# Usage: run_stress.sh [--timeout S] SHIM REPORT PROGRAM THREADS ITERATIONS K
#
# Runs `PROGRAM THREADS ITERATIONS K` with LD_PRELOAD=SHIM (an inherited LD_PRELOAD is
# dropped), LOCKAUDIT_REPORT=REPORT, LOCKAUDIT_LOG=off and LOCKAUDIT_STALL_MS=60000 (unless the
# environment sets it: stalls are timing noise here, and any stall finding fails the check),
# killed after S seconds (default 120). Then: the program must have exited 0 (it checks its own
# mutual exclusion) and `check_stress.py REPORT K` must pass. Prints the run time.
# Exit status: 0 both pass; 1 otherwise (one line "run_stress: FAILED: ..." first); 2 bad usage.
set -u

limit=120
if [[ ${1:-} == --timeout ]]; then
  limit=${2:-}
  shift 2
fi
if (($# != 6)) || [[ ! $limit =~ ^[0-9]+$ ]]; then
  echo "usage: run_stress.sh [--timeout S] SHIM REPORT PROGRAM THREADS ITERATIONS K" >&2
  exit 2
fi
shim=$1 report=$2 program=$3 threads=$4 iterations=$5 k=$6
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

if [[ ! -f $shim ]]; then
  echo "run_stress: FAILED: shim not found: $shim" >&2
  exit 1
fi
mkdir -p -- "$(dirname -- "$report")"
rm -f -- "$report"

start=$SECONDS
(
  exec env -u LD_PRELOAD LOCKAUDIT_STALL_MS="${LOCKAUDIT_STALL_MS:-60000}" LOCKAUDIT_LOG=off \
    LOCKAUDIT_REPORT="$report" timeout -k 5 "$limit" \
    env LD_PRELOAD="$shim" "$program" "$threads" "$iterations" "$k"
)
status=$?
elapsed=$((SECONDS - start))
echo "run_stress: $(basename -- "$program") $threads $iterations $k ran ${elapsed}s under the shim, status $status"

failed=0
if ((status == 124 || (status == 137 && elapsed >= limit))); then
  echo "run_stress: FAILED: the program timed out after ${limit}s under the shim"
  failed=1
elif ((status != 0)); then
  echo "run_stress: FAILED: the program exited with status $status under the shim, expected 0"
  failed=1
fi
python3 "$here/check_stress.py" "$report" "$k" || failed=1
if ((failed)) && [[ -f $report ]]; then
  echo "--- $report: finding kinds and lock names ---"
  python3 - "$report" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("type") == "finding":
        print("finding", o.get("kind"), [l.get("name") for l in o.get("locks", [])])
    elif o.get("type") == "summary":
        print("summary", {k: o.get(k) for k in ("findings", "locks", "edges", "acquisitions")})
EOF
fi
exit "$failed"
