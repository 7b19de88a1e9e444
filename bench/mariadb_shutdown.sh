#!/usr/bin/env bash
# mariadb_shutdown.sh: how long mariadbd takes to stop on SIGTERM natively, under the lockaudit
# shim, and under the shim with the Prometheus exporter on, side by side in one run (issue 19:
# mariadbd blocks SIGTERM in its threads and waits for it with sigwait() in one; a shim thread
# that left it unblocked used to swallow it, and shutdown hung).
#
# Usage: bench/mariadb_shutdown.sh [--build-dir DIR] [--rounds N] [--load SECONDS]
#
# Each round, for each configuration: a fresh datadir (mariadb-install-db), mariadbd on a private
# socket and port, ready when `mariadb-admin ping` answers; then, with --load, sysbench
# oltp_read_write for that long (skipped when sysbench is missing); then SIGTERM, and the time
# until the process has exited (its exit status too). A server still alive 60 s after SIGTERM
# counts as hung (then SIGKILL). Prints one line per run, then the median stop time of each
# configuration and its ratio to native. Exit status: 0 all stopped with status 0; 1 a hang or a
# bad status; 77 mariadbd is not installed (apt-get install mariadb-server sysbench).
set -u
build=build rounds=3 load=0
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--rounds N] [--load SECONDS]" >&2; exit 2 ;;
  esac
done
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/mariadb_common.sh"
mariadb_prepare mariadb_shutdown "$build"
failed=0
declare -A times

run_one() {  # NAME ROUND PRELOAD [ENV...]
  local name=$1 round=$2 preload=$3
  shift 3
  local dir=$work/$name.$round
  local envs=("$@")
  [[ -n $preload ]] && envs+=(LD_PRELOAD="$preload" LOCKAUDIT_REPORT="$dir/report.jsonl" LOCKAUDIT_LOG="$dir/lockaudit.log")
  mkdir -p "$dir"
  mariadb_start "$dir" "${envs[@]}" || { echo "$name round $round: not started"; failed=1; return; }
  if ((load > 0)) && command -v sysbench >/dev/null; then
    local sb=(--tables=2 --table-size=2000 --threads=8)
    mariadb_sysbench "$dir" "${sb[@]}" prepare >/dev/null 2>&1
    mariadb_sysbench "$dir" "${sb[@]}" --time="$load" run >"$dir/sysbench.log" 2>&1
  fi
  if ! mariadb_stop; then
    echo "$name round $round: HUNG: alive 60 s after SIGTERM"
    failed=1; return
  fi
  local st=$mariadb_status ms=$mariadb_stop_ms
  times[$name]+="$ms "
  local extra=""
  [[ -n $preload ]] && extra=" report: $(grep -c '"type":"summary"' "$dir/report.jsonl" 2>/dev/null) summary line(s), $(grep -c '"type":"finding"' "$dir/report.jsonl" 2>/dev/null) finding(s)"
  echo "$name round $round: stopped $ms ms after SIGTERM, status $st;$extra"
  ((st == 0)) || failed=1
}

for r in $(seq "$rounds"); do
  run_one native "$r" ""
  run_one shim "$r" "$shim"
  run_one shim+metrics "$r" "$shim" LOCKAUDIT_PROMETHEUS=127.0.0.1:0
done
base=$(echo "${times[native]:-}" | median)
for name in native shim shim+metrics; do
  m=$(echo "${times[$name]:-}" | median)
  ratio=$(awk -v m="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", m / b; else print "n/a" }')
  echo "median stop time: $name ${m} ms (x$ratio of native; runs: ${times[$name]:-none})"
done
exit "$failed"
