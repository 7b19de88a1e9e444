#!/usr/bin/env bash
# What the blocking_under_lock interposers cost a thread that holds no lock (issue 18: at most
# 2%), side by side in one run. bench/syscall_loop.c makes three non-blocking calls per
# iteration (read of /dev/zero, a zero-timeout poll, a read of an empty O_NONBLOCK pipe), no lock
# held, under the shim: through read/poll (interposed) and through glibc's __read/__poll (the
# same code, not interposed: everything else about the shim is the same, its threads included).
# Alternated, ROUNDS times each, single-threaded and with 2 threads (glibc's single-thread
# paths differ). The native run is printed for reference. Prints medians and ratios.
# Usage: bench/blocking_overhead.sh [BUILD_DIR] [ROUNDS] [ITERATIONS]
set -euo pipefail
build=${1:-build}
rounds=${2:-21}
iterations=${3:-200000}
shim="$build/lib/liblockaudit_preload.so"
prog="$build/bin/syscall_loop"
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ns() { sed -n 's/^ns_per_iteration=//p'; }
for threads in 1 2; do
  native="" direct="" interposed=""
  for ((r = 0; r < rounds; ++r)); do
    native+="$("$prog" "$threads" "$iterations" | ns) "
    direct+="$(LOCKAUDIT_LOG=off LD_PRELOAD="$shim" "$prog" "$threads" "$iterations" direct | ns) "
    interposed+="$(LOCKAUDIT_LOG=off LD_PRELOAD="$shim" "$prog" "$threads" "$iterations" | ns) "
  done
  n=$(median <<<"$native"); d=$(median <<<"$direct"); i=$(median <<<"$interposed")
  awk -v t="$threads" -v n="$n" -v d="$d" -v i="$i" -v r="$rounds" -v it="$iterations" 'BEGIN {
    printf "%d thread(s), %d iterations x 3 calls, %d rounds each (ns/iteration, median): shim, calls interposed %.1f; shim, same calls not interposed %.1f; ratio %.4f (target <= 1.02); native %.1f\n", t, it, r, i, d, i / d, n }'
done
