#!/usr/bin/env bash
# run_fuzz.sh: builds the libFuzzer targets of tests/fuzz with clang (-fsanitize=fuzzer,address,
# undefined) and runs each for a few seconds from its seed corpus (tests/fuzz/corpus/<target>).
#
# Usage: run_fuzz.sh [--seconds S] [--runs N] [--target NAME] CLANGXX SOURCE_DIR WORK_DIR
# (default 10 s and 20000 inputs per target, seed 1; --runs -1 fuzzes for the whole time, with
# libFuzzer's own random seed: for long runs by hand)
#
# Targets: options (LOCKAUDIT_* values, core/options.cc), config_file (hierarchy and suppression
# files, core/config_file.cc), report_reader (the CLI's JSON Lines reader). New inputs that
# libFuzzer finds go to WORK_DIR/corpus/<target> (the repository's corpus is only read); a crash,
# a sanitizer report, a leak or a broken invariant is kept as WORK_DIR/crash-<target>-* and fails
# the run, with the input's bytes shown. To replay one: WORK_DIR/<target>_fuzzer FILE.
# Exit status: 0 every target ran clean; 1 a target failed or did not build; 2 bad usage;
# 77 clang or its libFuzzer runtime is missing (the test is skipped, with the reason).
set -u
seconds=10 only="" runs=20000
while (($#)); do
  case $1 in
    --seconds) seconds=${2:-}; shift 2 ;;
    --target) only=${2:-}; shift 2 ;;
    --runs) runs=${2:-}; shift 2 ;;
    *) break ;;
  esac
done
if (($# != 3)) || [[ ! $seconds =~ ^[0-9]+$ || ! $runs =~ ^-?[0-9]+$ ]]; then
  echo "usage: run_fuzz.sh [--seconds S] [--runs N] [--target NAME] CLANGXX SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
cxx=$1 src=$2 work=$3
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run_fuzz: SKIPPED: $cxx not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$work"
probe=$work/probe.cc
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe"
if ! "$cxx" -fsanitize=fuzzer "$probe" -o "$work/probe" 2>"$work/probe.err"; then
  echo "run_fuzz: SKIPPED: $cxx cannot link -fsanitize=fuzzer (Debian: apt-get install libclang-rt-14-dev): $(head -n 1 "$work/probe.err")"
  exit 77
fi

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$src/core" -I"$src/lockaudit/cli")
declare -A sources=(
  [options]="$src/tests/fuzz/options_fuzzer.cc $src/core/options.cc"
  [config_file]="$src/tests/fuzz/config_file_fuzzer.cc $src/core/config_file.cc"
  [report_reader]="$src/tests/fuzz/report_reader_fuzzer.cc $src/lockaudit/cli/report_reader.cc"
)
failed=0
for target in options config_file report_reader; do
  [[ -n $only && $only != "$target" ]] && continue
  bin=$work/${target}_fuzzer
  # shellcheck disable=SC2086  # the source lists split on purpose
  if ! "$cxx" "${flags[@]}" ${sources[$target]} -o "$bin" 2>"$work/$target.build.log"; then
    echo "run_fuzz: FAILED: $target does not build:"
    head -n 20 "$work/$target.build.log"
    failed=1
    continue
  fi
  ((runs >= 0)) && rm -rf -- "${work:?}/corpus/$target"  # deterministic: from the repository's corpus only
  mkdir -p "$work/corpus/$target"
  rm -f "$work"/crash-"$target"-* "$work"/leak-"$target"-* "$work"/timeout-"$target"-*
  start=$SECONDS
  # A fixed seed and a fixed number of inputs: the same inputs every run (CI cannot fail at
  # random); the time limit only cuts a slow machine's run short (a prefix of the same inputs).
  seed=1
  ((runs < 0)) && seed=0  # libFuzzer: 0 picks a random seed
  "$bin" -seed="$seed" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$work/crash-$target-" -print_final_stats=1 \
    "$work/corpus/$target" "$src/tests/fuzz/corpus/$target" >"$work/$target.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$')
  if ((rc != 0)); then
    echo "run_fuzz: FAILED: $target (status $rc after $((SECONDS - start)) s):"
    grep -E 'ERROR|SUMMARY|FUZZ INVARIANT|Assertion|invariant|==[0-9]+==' "$work/$target.log" | head -n 15
    for a in "$work"/crash-"$target"-*; do
      [[ -f $a ]] && { echo "  input $a:"; od -c "$a" | head -n 8; }
    done
    failed=1
  else
    echo "run_fuzz: OK: $target: ${runs:-?} inputs in $((SECONDS - start)) s, no crash," \
         "$(find "$work/corpus/$target" -type f | wc -l) new corpus file(s)"
  fi
done
exit "$failed"
