#!/usr/bin/env bash
# tests/clang_tidy.sh CLANG_TIDY BUILD_DIR SOURCE_DIR: the static-check gate (issue 8).
#
# Runs CLANG_TIDY with the checks of SOURCE_DIR/.clang-tidy (performance-*, bugprone-*,
# concurrency-*, and Clang's thread-safety analysis of the annotated engine mutexes) over the project's own translation units from BUILD_DIR/compile_commands.json:
# core/, lockaudit/, preload/, exporters/, gpu/, bench/, examples/ (.c/.cc). Not checked: tests/
# (gtest macro expansions), anything outside SOURCE_DIR or inside a build directory (third-party
# and generated code). Headers: those of the same folders (HeaderFilterRegex in .clang-tidy).
# Two files at a time. Exit status 0 with zero warnings; 1 with every warning printed.
set -u -o pipefail
tidy="$1" build="$2" src="$3"
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "clang_tidy.sh: $db missing (CMAKE_EXPORT_COMPILE_COMMANDS is ON at the top level)" >&2; exit 1; }
files="$(python3 - "$db" "$src" <<'PY'
import json, os, sys
db, src = sys.argv[1], os.path.realpath(sys.argv[2])
dirs = ("core", "lockaudit", "preload", "exporters", "gpu", "bench", "examples")
seen = []
for e in json.load(open(db)):
    f = os.path.realpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, src)
    if rel.startswith("..") or rel.split(os.sep)[0] not in dirs:
        continue
    if not rel.endswith((".c", ".cc", ".cpp")) or f in seen:
        continue
    seen.append(f)
print("\n".join(seen))
PY
)" || exit 1
[ -n "$files" ] || { echo "clang_tidy.sh: no project sources in $db" >&2; exit 1; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "clang_tidy.sh: $(wc -l <<<"$files") files, $("$tidy" --version | grep -o 'version [0-9.]*')"
# -Wno-unknown-warning-option: the database holds gcc's flags. clang_tidy_compat.h: C++ files
# only (std::source_location for clang 14; see the header).
compat="$(cd "$(dirname "$0")" && pwd)/clang_tidy_compat.h"
printf '%s\n' "$files" | xargs -P 2 -n 4 "$tidy" -p "$build" --quiet \
  --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-unused-command-line-argument \
  --extra-arg=-Wthread-safety --extra-arg-before=-include --extra-arg-before="$compat" \
  >"$out" 2>&1
rc=$?
warnings="$(grep -cE ': (warning|error): ' "$out")"
if [ "$rc" -ne 0 ] || [ "$warnings" -ne 0 ]; then
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$out"
  echo "clang_tidy.sh: FAIL: $warnings warning(s)/error(s) (clang-tidy status $rc); fix them or disable the check in .clang-tidy with a one-line reason"
  exit 1
fi
echo "clang_tidy.sh: ok, zero warnings"
