#!/usr/bin/env bash
# gpu_cupti_load.sh: liblockaudit_cupti.so loaded into a CUDA-linked program.
#
# Usage: gpu_cupti_load.sh MODE SHIM CUPTI_MODULE REPORT_CHECK WORK_DIR PROGRAM
# MODE no-gpu (machine without a GPU or driver; exit 77 = skipped when a device is present):
#   1. under the shim with LOCKAUDIT_CUDA=1: exactly one lockaudit warning, from the module, the
#      program runs to its end with status 0, and its report has no finding;
#   2. without any engine, the program dlopen()s the module and starts it twice: one warning
#      ("no lockaudit engine"), status 0;
#   3. under the shim without LOCKAUDIT_CUDA: the module is not loaded (no warning at all).
# MODE device (a machine with a GPU; exit 77 when there is none): under the shim with
#   LOCKAUDIT_CUDA=1, no warning, and the report has exactly one gpu_sync_under_lock naming
#   g_queue_mu (the program holds it across cudaStreamSynchronize once).
set -u
(($# == 6)) || { echo "usage: gpu_cupti_load.sh MODE SHIM CUPTI_MODULE REPORT_CHECK WORK_DIR PROGRAM" >&2; exit 2; }
mode=$1 shim=$2 module=$3 check=$4 work=$5 program=$6
mkdir -p "$work"
failed=0
fail() { echo "gpu_cupti_load: FAILED: $*" >&2; failed=1; }

# run NAME ENV... -- ARGS: runs the program, keeps stdout/stderr/status in $work/NAME.*
run() {
  local name=$1; shift
  local envs=()
  while (($#)) && [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  rm -f "$work/$name.jsonl"
  env "${envs[@]}" "$program" "$@" >"$work/$name.out" 2>"$work/$name.err"
  echo $? >"$work/$name.status"
}
warnings() { grep -c '^lockaudit: warning:' "$work/$1.err"; }
show() { echo "--- $1: status $(cat "$work/$1.status")"; cat "$work/$1.out"; sed 's/^/stderr: /' "$work/$1.err"; }

# Is there a device? (the program says so)
"$program" >"$work/probe.out" 2>/dev/null
devices=$(sed -n 's/^cuda devices: \([0-9]*\).*/\1/p' "$work/probe.out")
[[ -n $devices ]] || { cat "$work/probe.out"; echo "gpu_cupti_load: cannot run the program" >&2; exit 1; }

if [[ $mode == no-gpu ]]; then
  if ((devices > 0)); then echo "gpu_cupti_load: a CUDA device is present; the no-GPU case does not apply"; exit 77; fi

  run shim_cuda LD_PRELOAD="$shim" LOCKAUDIT_CUDA=1 LOCKAUDIT_REPORT="$work/shim_cuda.jsonl" --
  show shim_cuda
  [[ $(cat "$work/shim_cuda.status") == 0 ]] || fail "program exited with $(cat "$work/shim_cuda.status") under the shim with LOCKAUDIT_CUDA=1"
  grep -q '^gpu_sync_program: ran on' "$work/shim_cuda.out" || fail "program did not run to its end"
  [[ $(warnings shim_cuda) == 1 ]] || fail "expected exactly one lockaudit warning, got $(warnings shim_cuda)"
  grep -q '^lockaudit: warning: liblockaudit_cupti.so: .*CUDA calls are not traced$' "$work/shim_cuda.err" \
    || fail "the warning does not come from the CUPTI module or does not say what is lost"
  "$check" "$work/shim_cuda.jsonl" --expect-total 0 --summary-min acquisitions=2000 || fail "report check"

  run no_engine -- --load-module "$module"
  show no_engine
  [[ $(cat "$work/no_engine.status") == 0 ]] || fail "program exited with $(cat "$work/no_engine.status") with the module and no engine"
  grep -q '^InitializeInjection: 0 then 0$' "$work/no_engine.out" || fail "InitializeInjection did not report 'not tracing' twice"
  [[ $(warnings no_engine) == 1 ]] || fail "expected exactly one warning without an engine, got $(warnings no_engine)"
  grep -q 'no lockaudit engine in this process' "$work/no_engine.err" || fail "the warning does not name the missing engine"

  run shim_plain LD_PRELOAD="$shim" LOCKAUDIT_REPORT="$work/shim_plain.jsonl" --
  [[ $(cat "$work/shim_plain.status") == 0 ]] || fail "program exited with $(cat "$work/shim_plain.status") under the shim"
  [[ $(warnings shim_plain) == 0 ]] || { show shim_plain; fail "warnings without LOCKAUDIT_CUDA"; }
elif [[ $mode == device ]]; then
  if ((devices == 0)); then echo "gpu_cupti_load: no CUDA device: $(cat "$work/probe.out" | head -1)"; exit 77; fi
  run shim_cuda LD_PRELOAD="$shim" LOCKAUDIT_CUDA=1 LOCKAUDIT_REPORT="$work/shim_cuda.jsonl" --
  show shim_cuda
  [[ $(cat "$work/shim_cuda.status") == 0 ]] || fail "program exited with $(cat "$work/shim_cuda.status")"
  [[ $(warnings shim_cuda) == 0 ]] || fail "unexpected warning with a GPU"
  "$check" "$work/shim_cuda.jsonl" --expect gpu_sync_under_lock=1 --expect-total 1 --lock-name g_queue_mu \
    || fail "expected one gpu_sync_under_lock finding naming g_queue_mu"
else
  echo "gpu_cupti_load: unknown mode $mode" >&2; exit 2
fi
((failed)) && exit 1
echo "gpu_cupti_load: $mode: passed"
exit 0
