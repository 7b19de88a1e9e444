#!/usr/bin/env bash
# arena_link_check.sh: the engine hosts (the shim and liblockaudit.so) must reach the program's
# allocator only through the arena wraps (core/engine_arena_wrap.cc, -Wl,--wrap): a direct call
# from engine code to malloc@plt, operator new@plt, ... would bypass the engine's arena, and under
# jemalloc or in a signal handler that interrupted malloc, deadlock or crash (issue 19).
#
# Usage: arena_link_check.sh OBJDUMP LIBRARY...
# For each library: disassembles it and lists every call to an allocation function's PLT entry
# (or to the shim's own free(), which is not wrapped: a defined symbol is not) from a function
# that is not one of the __wrap_ functions. Allowed: strdup in
# FindLocalDebuginfo (the path string libdw takes over and frees itself).
# Exit status: 0 none found; 1 a direct call (each printed: function and callee); 2 bad usage.
set -u
(($# >= 2)) || { echo "usage: arena_link_check.sh OBJDUMP LIBRARY..." >&2; exit 2; }
objdump=$1
shift
alloc='malloc|calloc|realloc|free|memalign|posix_memalign|aligned_alloc|malloc_usable_size|strdup|strndup|_Znwm[A-Za-z0-9_]*|_Znam[A-Za-z0-9_]*|_ZdlPv[A-Za-z0-9_]*|_ZdaPv[A-Za-z0-9_]*'
failed=0
for lib in "$@"; do
  if [[ ! -f $lib ]]; then
    echo "arena_link_check: FAIL: $lib not found"
    failed=1
    continue
  fi
  calls=$("$objdump" -d --no-show-raw-insn "$lib" | awk -v re="<($alloc)(@plt)?>$" '
    /^[0-9a-f]+ <.*>:$/ { fn = $2 }
    /call/ && $0 ~ re && fn !~ /@plt>:$/ { print fn " -> " $NF }' |
    grep -v '^<__wrap_' | grep -v '^<_ZN9lockaudit4core12_GLOBAL__N_118FindLocalDebuginfo.*<strdup@plt>$' | sort | uniq -c)
  total=$("$objdump" -d --no-show-raw-insn "$lib" | grep -cE "call.*<__wrap_")
  if [[ -n $calls ]]; then
    echo "arena_link_check: FAIL: $lib calls the program's allocator directly, past the arena:"
    echo "$calls"
    failed=1
  elif ((total == 0)); then
    echo "arena_link_check: FAIL: $lib has no call through a __wrap_ function (was it linked with the wraps?)"
    failed=1
  else
    echo "arena_link_check: OK: $lib: $total call(s) through the arena wraps, none past them"
  fi
done
exit "$failed"
