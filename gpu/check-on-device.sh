#!/usr/bin/env bash
# gpu/check-on-device.sh: the GPU checks, on a machine with a CUDA device and driver.
#
# Builds lockaudit with nvcc into BUILD_DIR (default build-device), then runs:
#   * the device tests (cosine kernel vs CPU incl. zero/opposite/same vectors, device timing,
#     the hybrid executor on the real backend), plainly and under the shim with LOCKAUDIT_CUDA=1
#     (where kernel times must come from CUPTI activity records);
#   * gpu_sync_program under the shim with LOCKAUDIT_CUDA=1: it holds a std::mutex across
#     cudaStreamSynchronize and must get exactly one gpu_sync_under_lock naming g_queue_mu;
#   * the same program with CUDA_INJECTION64_PATH=liblockaudit_cupti.so (driver-loaded module);
#   * the GPU-independent gpu tests, for completeness.
# Prints a result table; exit status 0 when every check passed.
# Usage: gpu/check-on-device.sh [BUILD_DIR]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-device}
jobs=$(nproc 2>/dev/null || echo 2)
results=()
record() { results+=("$(printf '%-44s %s' "$1" "$2")"); }

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "check-on-device: no GPU visible (nvidia-smi -L failed); nothing to check here" >&2
  exit 2
fi
nvidia-smi -L

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOCKAUDIT_WITH_CUPTI=ON \
  -DLOCKAUDIT_WITH_CUDA_KERNELS=ON >"$build.configure.log" 2>&1 \
  || { tail -30 "$build.configure.log"; echo "check-on-device: configure failed" >&2; exit 1; }
if cmake --build "$build" -j"$jobs" --target lockaudit_preload lockaudit_cupti lockaudit \
     gpu_device_test gpu_sync_program gpu_translate_test gpu_dispatch_test gpu_abi_test \
     gpu_dispatch_stress lockaudit_itest_report_check >"$build.build.log" 2>&1; then
  record "build (nvcc, CUPTI)" PASS
else
  tail -40 "$build.build.log"
  record "build (nvcc, CUPTI)" FAIL
  printf '%s\n' "${results[@]}"
  exit 1
fi

shim=$build/lib/liblockaudit_preload.so
module=$build/lib/liblockaudit_cupti.so
check=$build/tests/integration/report_check
work=$build/check-on-device
mkdir -p "$work"

step() {  # step NAME COMMAND...: runs it, keeps its output, records PASS/FAIL/SKIP
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  if ((rc == 77)) || grep -q '\[  SKIPPED \]' "$work/$name.log"; then verdict="SKIP ($(grep -m1 -o 'no CUDA device.*' "$work/$name.log"))"; fi
  ((rc != 0 && rc != 77)) && verdict="FAIL (status $rc, see $work/$name.log)"
  record "$name" "$verdict"
  sed 's/^/    /' "$work/$name.log" | tail -25
}

step device_tests "$build/bin/gpu_device_test"
step device_tests_cupti_timing env LD_PRELOAD="$shim" LOCKAUDIT_CUDA=1 LOCKAUDIT_LOG=off "$build/bin/gpu_device_test"
step sync_under_lock_shim bash "$root/tests/unit/gpu/gpu_cupti_load.sh" device "$shim" "$module" "$check" \
  "$work/sync_shim" "$build/bin/gpu_sync_program"
step sync_under_lock_injection bash -c '
  rm -f "$0/inj.jsonl"
  LD_PRELOAD="$1" CUDA_INJECTION64_PATH="$2" LOCKAUDIT_REPORT="$0/inj.jsonl" "$3" || exit 1
  "$4" "$0/inj.jsonl" --expect gpu_sync_under_lock=1 --expect-total 1 --lock-name g_queue_mu' \
  "$work" "$shim" "$module" "$build/bin/gpu_sync_program" "$check"
step translate_tests "$build/bin/gpu_translate_test"
step dispatch_tests "$build/bin/gpu_dispatch_test"
step abi_tests "$build/bin/gpu_abi_test"
step dispatch_stress_shim bash "$root/tests/integration/run_under_shim.sh" "$shim" "$check" \
  "$work/stress.jsonl" 0 --expect-total 0 -- "$build/bin/gpu_dispatch_stress" --expect-engine 400

echo
echo "lockaudit GPU checks on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
printf '%s\n' "${results[@]}"
for r in "${results[@]}"; do [[ $r == *FAIL* ]] && exit 1; done
exit 0
