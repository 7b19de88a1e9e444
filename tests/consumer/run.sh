#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs consumer projects against it:
# one with CMake's find_package(lockaudit) (a plain program and a GoogleTest suite linked with
# lockaudit::gtest_main), one with pkg-config.
# Usage: run.sh BUILD_DIR WORK_DIR
set -eu
build=$1 work=$2
src=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/liblockaudit_preload.so" || { echo "shim not installed"; exit 1; }
test -x "$work/prefix/bin/lockaudit" || { echo "CLI not installed"; exit 1; }
test -f "$work/prefix/lib/liblockaudit_gtest_preload.so" || { echo "gtest preload helper not installed"; exit 1; }

cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" -j2 >/dev/null
LOCKAUDIT_LOG=off "$work/cmake-build/consumer_abba"
# Exactly the deliberately bad test fails, with the cycle and both lock names in its message.
test -f "$work/prefix/include/lockaudit/gtest.h" || { echo "lockaudit/gtest.h not installed"; exit 1; }
LOCKAUDIT_LOG=off python3 "$src/../unit/gtest/check_gtest_xml.py" \
  "--fail=ConsumerGtestTest.InversionFails=lock_order_cycle|'consumer.gtest_a'|'consumer.gtest_b'" \
  -- "$work/cmake-build/consumer_gtest"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -o "$work/pc_consumer" "$src/consumer_abba.cc" $(pkg-config --cflags --libs lockaudit) \
  -Wl,-rpath,"$(pkg-config --variable=libdir lockaudit)"
LOCKAUDIT_LOG=off "$work/pc_consumer"
echo "consumer: ok (find_package and pkg-config)"
