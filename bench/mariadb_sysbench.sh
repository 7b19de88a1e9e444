#!/usr/bin/env bash
# mariadb_sysbench.sh: MariaDB (Debian's mariadb-server) under sysbench oltp_read_write, natively,
# under the lockaudit shim, and under the shim with the Prometheus exporter on, side by side in
# one run (issue 14: the shim must cost at most 5% of native transactions per second).
#
# Usage: bench/mariadb_sysbench.sh [--build-dir DIR] [--rounds N] [--time SECONDS] [--threads N]
#
# Each round runs every configuration once, in an order rotated every round (so a slow spell of
# the machine falls on all alike): a fresh datadir, mariadbd on a private socket and port,
# `sysbench oltp_read_write --tables=4 --table-size=10000` prepared, then run for --time seconds
# (default 20) with --threads (default 4), then SIGTERM. Prints each run's transactions per
# second, then each configuration's median and its ratio to the native median, and one
# machine-readable line:
#   TPS native=<median> shim=<median> metrics=<median> shim_ratio=<x> metrics_ratio=<x>
# Exit status: 0 every run completed and stopped with status 0; 1 otherwise; 77 mariadbd or
# sysbench not installed (apt-get install mariadb-server sysbench).
set -u
build=build rounds=6 time_s=20 threads=4
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --time) time_s=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--rounds N] [--time SECONDS] [--threads N]" >&2; exit 2 ;;
  esac
done
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/mariadb_common.sh"
mariadb_prepare mariadb_sysbench "$build" sysbench
failed=0
declare -A tps

run_one() {  # NAME ROUND [ENV...]
  local name=$1 round=$2
  shift 2
  local dir=$work/$name.$round
  local envs=("$@")
  [[ $name != native ]] && envs+=(LD_PRELOAD="$shim" LOCKAUDIT_REPORT="$dir/report.jsonl" LOCKAUDIT_LOG="$dir/lockaudit.log")
  mkdir -p "$dir"
  mariadb_start "$dir" "${envs[@]}" || { echo "$name round $round: not started"; failed=1; return; }
  local sb=(--tables=4 --table-size=10000 --threads="$threads")
  mariadb_sysbench "$dir" "${sb[@]}" prepare >"$dir/prepare.log" 2>&1
  mariadb_sysbench "$dir" "${sb[@]}" --time="$time_s" run >"$dir/sysbench.log" 2>&1
  local t
  t=$(awk '/transactions:/ { gsub(/[()]/, "", $3); print $3 }' "$dir/sysbench.log")
  if ! mariadb_stop; then
    echo "$name round $round: HUNG: alive 60 s after SIGTERM"
    failed=1; return
  fi
  if [[ -z $t ]]; then
    echo "$name round $round: sysbench reported no transactions: $(tail -n 3 "$dir/sysbench.log")"
    failed=1; return
  fi
  tps[$name]+="$t "
  local extra=""
  [[ $name != native ]] && extra=", report: $(grep -c '"type":"finding"' "$dir/report.jsonl" 2>/dev/null) finding(s)"
  echo "$name round $round: $t transactions/s, stopped with status $mariadb_status$extra"
  ((mariadb_status == 0)) || failed=1
}

configs=(native shim metrics)
for r in $(seq "$rounds"); do
  for k in 0 1 2; do
    name=${configs[$(( (k + r) % 3 ))]}
    if [[ $name == metrics ]]; then
      run_one metrics "$r" LOCKAUDIT_PROMETHEUS=127.0.0.1:0
    else
      run_one "$name" "$r"
    fi
  done
done
base=$(echo "${tps[native]:-}" | median)
line="TPS"
for name in native shim metrics; do
  m=$(echo "${tps[$name]:-}" | median)
  ratio=$(awk -v m="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.3f", m / b; else print "n/a" }')
  echo "median: $name $m transactions/s (x$ratio of native; runs: ${tps[$name]:-none})"
  line+=" $name=$m"
  [[ $name != native ]] && line+=" ${name}_ratio=$ratio"
done
echo "$line"
exit "$failed"
