#!/usr/bin/env bash
# wake_latency.sh: condition-variable ping-pong (examples/wake_latency.cc), natively and under the
# lockaudit shim, alternating A/B in one sitting. Prints, per run, the round trip and the wake
# latency p50/p99 the program measures itself and (under the shim) the same figures as measured
# by lockaudit; then the median round trip of each side and their ratio (the cost of measuring
# wake latency, plus the shim's lock auditing, on the round trip).
# Usage: bench/wake_latency.sh [BUILD_DIR] [ROUNDS] [REPS]
set -euo pipefail
build=${1:-build}
rounds=${2:-20000}
reps=${3:-7}
prog=$build/bin/wake_latency
shim=$build/lib/liblockaudit_preload.so
[[ -x $prog && -f $shim ]] || { echo "wake_latency.sh: build first ($prog, $shim)" >&2; exit 2; }
native=() shimmed=()
for ((i = 1; i <= reps; i++)); do
  out=$("$prog" "$rounds")
  echo "native #$i: $(echo "$out" | tr '\n' ' ')"
  native+=("$(echo "$out" | awk '/round trips/ {print $(NF-4)}')")
  out=$(LD_PRELOAD=$shim LOCKAUDIT_LOG=off "$prog" "$rounds")
  echo "shim   #$i: $(echo "$out" | tr '\n' ' ')"
  shimmed+=("$(echo "$out" | awk '/round trips/ {print $(NF-4)}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
mn=$(median "${native[@]}") ms=$(median "${shimmed[@]}")
echo "round trip, median of $reps: native $mn us, under the shim $ms us, ratio $(awk -v a="$ms" -v b="$mn" 'BEGIN {printf "%.3f", a / b}')"
