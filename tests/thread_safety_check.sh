#!/usr/bin/env bash
# tests/thread_safety_check.sh CLANGXX SOURCE_DIR: the engine's thread-safety annotations
# (core/thread_annotations.h on EngineMutex and EngineLock) are live, so the clang_tidy gate's
# -Wthread-safety finds a real violation. Compiles two small uses of a guarded member with
# CLANGXX -Wthread-safety -Werror: one under the lock (must compile), one without it, one
# calling a LOCKAUDIT_REQUIRES function unlocked and one adopting a lock not held (each must be
# refused with the analysis' warning). Exit 0 when all four behave so.
set -u -o pipefail
cxx="$1" src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prelude='#include "engine_mutex.h"
using namespace lockaudit::core;
struct Table {
  EngineMutex mu;
  int rows LOCKAUDIT_GUARDED_BY(mu) = 0;
  void AddLocked() LOCKAUDIT_REQUIRES(mu) { ++rows; }
};'
check() {  # NAME EXPECT(ok|refused) BODY
  printf '%s\nvoid f(Table& t) { %s }\n' "$prelude" "$3" >"$tmp/$1.cc"
  if "$cxx" -std=c++20 -fsyntax-only -Wthread-safety -Werror -I "$src/core" "$tmp/$1.cc" \
      >"$tmp/$1.log" 2>&1; then
    got=ok
  else
    got=refused
    grep -q 'thread-safety' "$tmp/$1.log" || got="refused for another reason"
  fi
  if [ "$got" != "$2" ]; then
    echo "thread_safety_check.sh: FAIL: $1: expected $2, got $got"
    cat "$tmp/$1.log"
    fail=1
  else
    echo "thread_safety_check.sh: $1: $got, as expected"
  fi
}
fail=0
check locked ok '{ EngineLock l(t.mu); ++t.rows; t.AddLocked(); } t.mu.lock(); { EngineLock a(t.mu, kAdoptLock); ++t.rows; }'
check unlocked_member refused '++t.rows;'
check unlocked_requires refused 't.AddLocked();'
check adopt_unheld refused '{ EngineLock a(t.mu, kAdoptLock); ++t.rows; }'
exit "$fail"
