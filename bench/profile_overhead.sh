#!/usr/bin/env bash
# The contention profile's cost on W3 (4 threads, one hot lock: the contended path, where the
# profile samples), side by side in one run: the same shim with LOCKAUDIT_PROFILE_RATE=0 (off)
# and with the default rate 1, alternated, ROUNDS times each. Prints the medians and their ratio
# (issue 17: at most 1.10), and the contention counts (the profile must not change how contended
# the lock is). Usage: bench/profile_overhead.sh [BUILD_DIR] [ROUNDS] [ITERATIONS]
set -euo pipefail
build=${1:-build}
rounds=${2:-15}
iterations=${3:-2000000}
shim="$build/lib/liblockaudit_preload.so"
report=$(mktemp /tmp/lockaudit-profile-bench-XXXXXX.jsonl)
trap 'rm -f "$report"' EXIT
declare -A ns contentions
for ((r = 0; r < rounds; ++r)); do
  for rate in 0 1; do
    out=$(LOCKAUDIT_PROFILE_RATE=$rate LOCKAUDIT_REPORT="$report" LOCKAUDIT_LOG=off \
          LD_PRELOAD="$shim" "$build/bin/workloads" w3 "$iterations")
    ns[$rate]+="$(sed -n 's/^ns_per_op=//p' <<<"$out") "
    contentions[$rate]+="$(grep -o '"contentions":[0-9]*' "$report" | tail -1 | cut -d: -f2) "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
off=$(median <<<"${ns[0]}"); on=$(median <<<"${ns[1]}")
coff=$(median <<<"${contentions[0]}"); con=$(median <<<"${contentions[1]}")
echo "W3 ($iterations iterations x 4 threads, $rounds rounds each, alternated; ns per op, median)"
echo "profile off (LOCKAUDIT_PROFILE_RATE=0): $off ns/op, $coff contentions"
echo "profile on  (LOCKAUDIT_PROFILE_RATE=1): $on ns/op, $con contentions"
awk -v a="$on" -v b="$off" -v c="$con" -v d="$coff" \
  'BEGIN {printf "ratio on/off: %.3f (target <= 1.10); contentions on/off: %.2f\n", a / b, c / d}'
