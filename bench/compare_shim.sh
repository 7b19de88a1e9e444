#!/usr/bin/env bash
# compare_shim.sh: the uncontended lock+unlock overhead of lockaudit (DESIGN.md §7), in one
# command. Target: lockaudit::mutex and the LD_PRELOAD shim at most 1.5x native time for
# nothing held and for one held lock (known edge).
#
#   bench/compare_shim.sh [--build-dir DIR] [--iterations N] [--runs N] [--no-callgrind]
#
#   (a) build/bin/mutex_bench, 9 repetitions in random interleaved order: the side-by-side
#       BM_PairedMutex_* (std::mutex and lockaudit::mutex alternating in blocks inside one
#       benchmark: median ratio), and median CPU ns per lock+unlock of each std:: type and its
#       lockaudit:: replacement in separate benchmarks, and the ratio.
#   (b) build/bin/shim_overhead natively and under LD_PRELOAD=liblockaudit_preload.so,
#       alternately (A/B/A/B...), --runs times each (default 7) with the same --iterations
#       (default 20000000): median ns per pair and the ratio, for every mode; nothing-held and
#       one-held also "threaded" (an idle second thread exists, so glibc's lock/unlock use their
#       atomic paths, as in every program that can deadlock; see shim_overhead.c).
#   (d) build/bin/shim_overhead ... threaded paired under the shim, --runs times per mode:
#       glibc's own functions (dlsym on libc.so.6, past the shim) and the interposed ones timed in
#       one process, alternating in blocks of 20000 pairs (iterations/2 pairs each side): the
#       ratio measured side by side, so that a slow spell of the machine falls on both sides.
#       One paired run without the shim checks the method (both sides glibc: about 1.00x).
#   (c) valgrind --tool=callgrind on shim_overhead with 200000 and 400000 iterations, natively and
#       under the shim: instructions per lock+unlock = (Ir(400k) - Ir(200k)) / 200k (startup,
#       warm-up and exit cancel out).
#
# Prints a markdown table and writes it to bench/RESULTS-overhead.md. Needs: the targets
# mutex_bench, shim_overhead, lockaudit_preload built in the build dir; python3; valgrind for (c).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$repo/build"
iterations=20000000
runs=7
callgrind=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --iterations) iterations="$2"; shift 2 ;;
    --iterations=*) iterations="${1#*=}"; shift ;;
    --runs) runs="$2"; shift 2 ;;
    --runs=*) runs="${1#*=}"; shift ;;
    --no-callgrind) callgrind=0; shift ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_shim.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
build_dir="$(cd "$build_dir" && pwd)"

bench="$build_dir/bin/mutex_bench"
prog="$build_dir/bin/shim_overhead"
shim="$build_dir/lib/liblockaudit_preload.so"
for f in "$bench" "$prog" "$shim"; do
  if [[ ! -e "$f" ]]; then
    echo "compare_shim.sh: $f is missing; build it with" >&2
    echo "  cmake --build $build_dir --target mutex_bench shim_overhead lockaudit_preload" >&2
    exit 1
  fi
done
command -v python3 >/dev/null || { echo "compare_shim.sh: python3 is needed" >&2; exit 1; }
if [[ $callgrind -eq 1 ]] && ! command -v valgrind >/dev/null; then
  echo "compare_shim.sh: valgrind not found; skipping (c)" >&2
  callgrind=0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# shim_overhead cases: MODE or MODE:threaded.
cases=(nothing-held one-held ten-held rwlock-read nothing-held:threaded one-held:threaded)

# ---- (a) mutex_bench ------------------------------------------------------------------------
echo "[a] mutex_bench, 9 interleaved repetitions ..." >&2
"$bench" --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$tmp/mutex_bench.json" --benchmark_out_format=json >"$tmp/mutex_bench.txt" 2>&1 || {
  cat "$tmp/mutex_bench.txt" >&2
  exit 1
}

# ---- (b) shim_overhead, alternating native / shim -------------------------------------------
args_of() {  # args_of CASE N -> shim_overhead arguments
  local mode="${1%%:*}" extra=""
  [[ $1 == *:* ]] && extra="${1#*:}"
  echo "$mode $2 $extra"
}
run_prog() {  # run_prog native|shim CASE N -> ns per op
  local out
  # shellcheck disable=SC2046
  if [[ $1 == shim ]]; then
    out="$(LD_PRELOAD="$shim" "$prog" $(args_of "$2" "$3"))"
  else
    out="$("$prog" $(args_of "$2" "$3"))"
  fi
  sed -n 's/^ns_per_op=//p' <<<"$out"
}
for c in "${cases[@]}"; do
  echo "[b] shim_overhead $c: $runs x (native, shim), $iterations iterations ..." >&2
  for ((r = 0; r < runs; ++r)); do
    echo "$c native $(run_prog native "$c" "$iterations")" >>"$tmp/timing.txt"
    echo "$c shim $(run_prog shim "$c" "$iterations")" >>"$tmp/timing.txt"
  done
done

# ---- (d) shim_overhead paired: glibc and the shim side by side in one process -----------------
paired_cases=(nothing-held one-held rwlock-read)
: >"$tmp/paired.txt"
for c in "${paired_cases[@]}"; do
  echo "[d] shim_overhead $c threaded paired: $runs runs under the shim, 1 without ..." >&2
  for ((r = 0; r <= runs; ++r)); do
    if ((r == runs)); then
      kind=check
      out="$("$prog" "$c" $((iterations / 2)) threaded paired)"
    else
      kind=shim
      out="$(LD_PRELOAD="$shim" "$prog" "$c" $((iterations / 2)) threaded paired)"
    fi
    echo "$c $kind $(sed -n 's/^native_ns_per_op=//p' <<<"$out") $(sed -n 's/^ns_per_op=//p' <<<"$out")" \
      >>"$tmp/paired.txt"
  done
done

# ---- (c) callgrind instruction counts --------------------------------------------------------
: >"$tmp/ir.txt"
if [[ $callgrind -eq 1 ]]; then
  for c in "${cases[@]}"; do
    for kind in native shim; do
      for n in 200000 400000; do
        echo "[c] callgrind $c $kind $n ..." >&2
        out="$tmp/cg.${c/:/.}.$kind.$n"
        # shellcheck disable=SC2046
        if [[ $kind == shim ]]; then
          LD_PRELOAD="$shim" valgrind --tool=callgrind --callgrind-out-file="$out" "$prog" \
            $(args_of "$c" "$n") >/dev/null 2>"$out.log"
        else
          valgrind --tool=callgrind --callgrind-out-file="$out" "$prog" $(args_of "$c" "$n") \
            >/dev/null 2>"$out.log"
        fi
        total="$(sed -n 's/^totals: *//p' "$out" | awk '{print $1}')"
        [[ -n $total ]] || { echo "compare_shim.sh: callgrind failed, see:" >&2; cat "$out.log" >&2; exit 1; }
        echo "$c $kind $n $total" >>"$tmp/ir.txt"
      done
    done
  done
fi

# ---- Table ----------------------------------------------------------------------------------
model="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
python3 - "$tmp/mutex_bench.json" "$tmp/timing.txt" "$tmp/ir.txt" "$model" "$(nproc)" \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$iterations" "$runs" "$tmp/paired.txt" >"$tmp/table.md" <<'PY'
import json, statistics, sys

bench_json, timing_txt, ir_txt, model, ncpu, date, iterations, runs, paired_txt = sys.argv[1:10]
TARGET = 1.5

def label(case):
    mode, _, extra = case.partition(":")
    return f"{mode}, {extra}" if extra else mode

def verdict(ratio, targeted):
    if not targeted:
        return "-"
    return "ok" if ratio <= TARGET else "**MISSED**"

print("# lockaudit uncontended lock+unlock overhead")
print()
print(f"Machine: {model}, {ncpu} CPUs (nproc). Date: {date}. Generated by `bench/compare_shim.sh`.")
print(f"Target (DESIGN.md §7): lockaudit at most {TARGET}x native for nothing held and one held "
      "(known edge).")
print()

# (a)
data = json.load(open(bench_json))
median = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") == "median":
        assert b["time_unit"] == "ns", b["time_unit"]
        median[b["run_name"]] = b["cpu_time"]
paired_a = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") == "median" and b["run_name"].startswith("BM_PairedMutex_"):
        paired_a[b["run_name"][len("BM_PairedMutex_"):]] = b
print("## (a) mutex_bench: lockaudit:: types vs std:: types")
print()
print("Side by side (BM_PairedMutex_*): std::mutex and lockaudit::mutex timed alternately in "
      "blocks of 2000 pairs inside one benchmark, so that a slow spell of the machine falls on "
      "both; median of 9 repetitions, ns per lock+unlock. The target is judged on these.")
print()
print("| type | held | std:: ns/op | lockaudit:: ns/op | ratio | target |")
print("|---|---|---:|---:|---:|---|")
for held in ("NothingHeld", "OneHeld"):
    b = paired_a.get(held)
    if b is None:
        continue
    print(f"| Mutex | {held} | {b['std_ns']:.2f} | {b['lockaudit_ns']:.2f} | {b['ratio']:.2f}x | "
          f"{verdict(b['ratio'], True)} |")
print()
print("Separate benchmarks: median CPU time of 9 repetitions (randomly interleaved), ns per "
      "lock+unlock.")
print()
print("| type | held | std:: ns/op | lockaudit:: ns/op | ratio | target |")
print("|---|---|---:|---:|---:|---|")
for typ in ("Mutex", "SharedMutex", "RecursiveMutex"):
    for held in ("NothingHeld", "OneHeld", "TenHeld"):
        s = median.get(f"BM_Std{typ}_{held}")
        l = median.get(f"BM_Lockaudit{typ}_{held}")
        if s is None or l is None:
            continue
        r = l / s
        print(f"| {typ} | {held} | {s:.2f} | {l:.2f} | {r:.2f}x | "
              f"{verdict(r, held != 'TenHeld')} |")
print()

# (b)
times = {}
for line in open(timing_txt):
    mode, kind, v = line.split()
    times.setdefault((mode, kind), []).append(float(v))
modes = []
for (mode, _k) in times:
    if mode not in modes:
        modes.append(mode)
print("## (b) shim_overhead: native vs LD_PRELOAD=liblockaudit_preload.so")
print()
print(f"Median wall time (CLOCK_MONOTONIC) of {runs} alternating runs each, {iterations} "
      "pairs per run, ns per lock+unlock. \"threaded\": an idle second thread exists, so glibc's "
      "lock/unlock take their atomic paths (a single-threaded process skips them; trylock, which "
      "the shim uses, does not). The target is judged on the medians. \"fastest\": the fastest "
      "shim run over the fastest native run, for reference: on a shared VM the shim's runs can be "
      "bimodal (some processes run the bookkeeping several ns slower), which the run lists show.")
print()
print("| mode | native ns/op | shim ns/op | ratio | target | fastest | native runs | shim runs |")
print("|---|---:|---:|---:|---|---:|---|---|")
for mode in modes:
    n = times[(mode, "native")]
    s = times[(mode, "shim")]
    mn, ms = statistics.median(n), statistics.median(s)
    r = ms / mn
    print(f"| {label(mode)} | {mn:.2f} | {ms:.2f} | {r:.2f}x | "
          f"{verdict(r, mode.split(':')[0] in ('nothing-held', 'one-held'))} | "
          f"{min(s) / min(n):.2f}x | "
          f"{' '.join(f'{x:.2f}' for x in n)} | {' '.join(f'{x:.2f}' for x in s)} |")
print()

# (d)
paired = {}
for line in open(paired_txt):
    mode, kind, native, shim = line.split()
    paired.setdefault(mode, {}).setdefault(kind, []).append((float(native), float(shim)))
print("## (d) shim_overhead paired: glibc and the shim side by side in one process")
print()
print(f"{runs} runs under the shim per mode, each timing glibc's own functions (called through "
      "dlsym on libc.so.6, past the shim) and the interposed ones on a second set of locks in "
      f"the same state, alternating in blocks of 20000 pairs, {int(iterations) // 2} pairs each "
      "side, threaded. A slow spell of the machine falls on both sides of a run alike; it still "
      "moves the ratio between runs when it slows the side that does more work more. "
      "\"method check\": the same run without the shim (both sides glibc).")
print()
print("| mode | glibc ns/op | shim ns/op | ratio (median of runs) | target | run ratios | method check |")
print("|---|---:|---:|---:|---|---|---:|")
for mode, kinds in paired.items():
    runs_ = kinds.get("shim", [])
    if not runs_:
        continue
    ratios = [s / n for n, s in runs_]
    check = kinds.get("check", [])
    chk = f"{check[0][1] / check[0][0]:.2f}x" if check else "-"
    r = statistics.median(ratios)
    print(f"| {mode}, threaded | {statistics.median(n for n, _ in runs_):.2f} | "
          f"{statistics.median(s for _, s in runs_):.2f} | {r:.2f}x | "
          f"{verdict(r, mode in ('nothing-held', 'one-held'))} | "
          f"{' '.join(f'{x:.2f}' for x in ratios)} | {chk} |")
print()

# (c)
ir = {}
for line in open(ir_txt):
    mode, kind, n, total = line.split()
    ir[(mode, kind, int(n))] = int(total)
if ir:
    print("## (c) callgrind: instructions per lock+unlock")
    print()
    print("(Ir(400000) - Ir(200000)) / 200000, whole program (calls, PLT and loop included).")
    print()
    print("| mode | native instr/op | shim instr/op | ratio |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        try:
            per = {k: (ir[(mode, k, 400000)] - ir[(mode, k, 200000)]) / 200000
                   for k in ("native", "shim")}
        except KeyError:
            continue
        print(f"| {label(mode)} | {per['native']:.1f} | {per['shim']:.1f} | "
              f"{per['shim'] / per['native']:.2f}x |")
    print()
PY

cat "$tmp/table.md"
cp "$tmp/table.md" "$repo/bench/RESULTS-overhead.md"
echo "wrote $repo/bench/RESULTS-overhead.md" >&2
