#!/usr/bin/env bash
# bench/real_server.sh: attach the lockaudit shim to a real multithreaded server (memcached from the
# distribution's packages) under a bounded load on 127.0.0.1, and compare with a native run.
#
#   bench/real_server.sh [--build-dir DIR] [--duration S] [--clients N] [--rounds R]
#                        [--metrics] [--helgrind SECONDS] [--install] [--check] [--keep]
#
# Configurations, each with the same load (bench/memcached_load.py):
#   native  memcached alone
#   shim    LD_PRELOAD=<build>/lib/liblockaudit_preload.so, LOCKAUDIT_REPORT/LOCKAUDIT_LOG in a temp dir
#   cli     <build>/bin/lockaudit run --report ... --log ... -- memcached ...
# native and shim alternate --rounds times (default 2), then one cli run. For each run: ops/s, the
# exit status of memcached after SIGTERM (it exits 0 natively), and for audited runs a summary of
# the JSON Lines report (summary counters, findings by kind with their locks and top frames).
# At the end: the medians of native and shim ops/s and their ratio, and one machine-readable line
#   RATES native=<median ops/s> shim=<median> metrics=<median|-> helgrind=<ops/s|->
#
# --metrics  each round also runs `metrics`: the shim with LOCKAUDIT_PROMETHEUS=127.0.0.1:0
# --helgrind SECONDS  one more run under valgrind --tool=helgrind with a SECONDS-long load
#            (bench/compare quotes its throughput)
# --install  apt-get install -y memcached when it is not on PATH (needs root, or sudo -n)
# --check    test mode (ctest): the checks below are made in every mode and any failure exits 1;
#            --check also keeps the work dir when something failed. Failures: memcached crashed,
#            hung (alive 15 s after SIGTERM; a gdb backtrace is printed) or failed to start in any
#            configuration, exited differently under the shim than natively, the load generator saw
#            an error, an audited report has no summary line, or its summary shows 0 acquisitions
# --keep     keep the temporary directory (reports, logs) and print where it is
#
# Exit status: 0 ok; 1 any failure listed under --check (or missing build artifacts);
# 2 bad arguments; 77 memcached (or python3) not installed (ctest SKIP_RETURN_CODE).
set -u -o pipefail

readonly SCRIPT_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
readonly REPO_DIR="$(dirname "$SCRIPT_DIR")"
readonly LOADGEN="$SCRIPT_DIR/memcached_load.py"
readonly ME="real_server.sh"

build_dir="$REPO_DIR/build"
duration=10
clients=4
rounds=2
install=0
check=0
keep=0
metrics=0
helgrind=0

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) [ $# -ge 2 ] || { echo "$ME: --build-dir needs a value" >&2; exit 2; }
                 build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --duration) [ $# -ge 2 ] || { echo "$ME: --duration needs a value" >&2; exit 2; }
                duration="$2"; shift 2 ;;
    --duration=*) duration="${1#*=}"; shift ;;
    --clients) [ $# -ge 2 ] || { echo "$ME: --clients needs a value" >&2; exit 2; }
               clients="$2"; shift 2 ;;
    --clients=*) clients="${1#*=}"; shift ;;
    --rounds) [ $# -ge 2 ] || { echo "$ME: --rounds needs a value" >&2; exit 2; }
              rounds="$2"; shift 2 ;;
    --rounds=*) rounds="${1#*=}"; shift ;;
    --metrics) metrics=1; shift ;;
    --helgrind) [ $# -ge 2 ] || { echo "$ME: --helgrind needs a value" >&2; exit 2; }
                helgrind="$2"; shift 2 ;;
    --install) install=1; shift ;;
    --check) check=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$ME: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in duration clients rounds; do
  case "${!v}" in
    ''|*[!0-9]*|0) echo "$ME: --$v must be a positive integer, not '${!v}'" >&2; exit 2 ;;
  esac
done
case "$helgrind" in
  ''|*[!0-9]*) echo "$ME: --helgrind must be a number of seconds, not '$helgrind'" >&2; exit 2 ;;
esac
[ "$duration" -le 600 ] || { echo "$ME: --duration must be at most 600" >&2; exit 2; }
[ "$rounds" -le 10 ] || { echo "$ME: --rounds must be at most 10" >&2; exit 2; }

# ---------------------------------------------------------------- prerequisites
if ! command -v memcached >/dev/null 2>&1 && [ "$install" = 1 ]; then
  echo "$ME: installing memcached (apt-get install -y memcached)"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y memcached || { apt-get update && apt-get install -y memcached; }
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n apt-get install -y memcached
  else
    echo "$ME: --install needs root or sudo" >&2
  fi
fi
if ! command -v memcached >/dev/null 2>&1; then
  echo "$ME: memcached is not on PATH; install it (apt-get install -y memcached) or run with --install" >&2
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "$ME: python3 is not on PATH; it runs the load generator" >&2
  exit 77
fi
build_dir="$(cd "$build_dir" 2>/dev/null && pwd)" || {
  echo "$ME: build directory not found" >&2; exit 1; }
readonly SHIM="$build_dir/lib/liblockaudit_preload.so"
readonly CLI="$build_dir/bin/lockaudit"
[ -f "$SHIM" ] || { echo "$ME: shim not found: $SHIM (build the project first)" >&2; exit 1; }
run_cli=1
if [ ! -x "$CLI" ]; then
  # Test mode needs every configuration; a measurement (bench/compare) can do without the CLI run.
  [ "$check" = 1 ] && { echo "$ME: CLI not found: $CLI (build the project first)" >&2; exit 1; }
  echo "$ME: CLI not found: $CLI; skipping the cli run" >&2
  run_cli=0
fi
[ -f "$LOADGEN" ] || { echo "$ME: load generator not found: $LOADGEN" >&2; exit 1; }
readonly MEMCACHED="$(command -v memcached)"

ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)" 2>/dev/null
tmp="$(mktemp -d "${TMPDIR:-/tmp}/lockaudit-real-server.XXXXXX")" || exit 1
server_pid=""
load_pid=""
# If this script is killed outright (SIGKILL, e.g. by a test timeout), the server gets SIGTERM from
# the kernel instead of outliving us (PR_SET_PDEATHSIG survives exec; not on set-uid binaries).
pdeath=()
if command -v setpriv >/dev/null 2>&1 && setpriv --pdeathsig TERM true 2>/dev/null; then
  pdeath=(setpriv --pdeathsig TERM)
fi

# True while pid $1 runs (an exited child stays a zombie until waited for: that counts as dead).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Stops the server we started (by pid): SIGTERM, wait up to 10 s, then SIGKILL.
stop_server_hard() {
  [ -n "$server_pid" ] || return 0
  if alive "$server_pid"; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 100); do alive "$server_pid" || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null
  fi
  wait "$server_pid" 2>/dev/null
  server_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null
  stop_server_hard
  if [ "$keep" = 1 ]; then echo "$ME: kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$ME: interrupted" >&2; exit 130' INT
trap 'echo "$ME: terminated" >&2; exit 143' TERM

# ---------------------------------------------------------------- helpers
# Prints a port on 127.0.0.1 that can be bound now (memcached has no port 0).
pick_port() {
  python3 - <<'EOF'
import random, socket, sys
ports = list(range(20000, 40000))
random.shuffle(ports)
for p in ports[:200]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit(1)
EOF
}

# Waits until memcached answers `version` on $1 (up to $2 tenths of a second, default 15 s) while
# $server_pid lives.
wait_ready() {
  local port="$1"
  for _ in $(seq "${2:-150}"); do
    alive "$server_pid" || return 1
    if python3 - "$port" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"version\r\n")
sys.exit(0 if s.recv(100).startswith(b"VERSION") else 1)
EOF
    then return 0; fi
    sleep 0.1
  done
  return 1
}

# All thread backtraces of pid $1 into file $2 (bounded), for a hung or crashing server.
backtrace() {
  if command -v gdb >/dev/null 2>&1; then
    timeout 60 gdb -p "$1" -batch -nx -ex 'set pagination off' -ex 'info threads' \
      -ex 'thread apply all bt' >"$2" 2>&1
  else
    echo "gdb not installed" >"$2"
  fi
}

# After memcached died by a signal: the backtrace of its core file, if the kernel left one in $tmp.
core_backtrace() {
  local tag="$1" core
  core="$(ls -t "$tmp"/core* 2>/dev/null | head -1)"
  if [ -z "$core" ]; then
    echo "    no core file in $tmp (core_pattern: $(cat /proc/sys/kernel/core_pattern 2>/dev/null))"
    return
  fi
  mv "$core" "$tmp/core-$tag"
  if command -v gdb >/dev/null 2>&1; then
    timeout 120 gdb -batch -nx -ex 'set pagination off' -ex 'info threads' -ex 'thread apply all bt' \
      "$MEMCACHED" "$tmp/core-$tag" >"$tmp/bt-$tag-core.txt" 2>&1
    echo "    backtrace of core-$tag (bt-$tag-core.txt):"
    sed 's/^/    /' "$tmp/bt-$tag-core.txt" | head -150
  fi
}

# Summarizes a JSON Lines report. Exit 0 ok, 3 no summary line, 4 zero acquisitions, 5 unreadable.
summarize_report() {
  python3 - "$1" <<'EOF'
import collections, json, sys
path = sys.argv[1]
try:
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
except OSError as e:
    print("    report: cannot read %s: %s" % (path, e)); sys.exit(5)
summary, findings, edges, bad = None, [], 0, 0
for line in lines:
    if not line.strip():
        continue
    try:
        d = json.loads(line)
    except ValueError:
        bad += 1; continue
    t = d.get("type")
    if t == "summary": summary = d
    elif t == "finding": findings.append(d)
    elif t == "edge": edges += 1

def frame(f):
    fn = f.get("function") or "??"
    where = f.get("file")
    loc = "%s:%s" % (where, f.get("line")) if where else (f.get("module") or "?")
    return "%s %s (%s)" % (f.get("pc", "?"), fn, loc)

def top(stack, n=4):
    # skip the shim's own frames, keep the program's
    fs = [f for f in (stack or []) if "lockaudit" not in (f.get("module") or "")]
    return fs[:n]

print("    report: %s: %d lines, %d edge lines, %d findings, %d unparsable"
      % (path, len(lines), edges, len(findings), bad))
if summary is None:
    print("    report: NO summary line")
else:
    print("    summary: locks=%s edges=%s acquisitions=%s contentions=%s findings=%s suppressed=%s"
          % tuple(summary.get(k) for k in ("locks", "edges", "acquisitions", "contentions",
                                             "findings", "suppressed")))
by_kind = collections.defaultdict(list)
for f in findings:
    by_kind[f.get("kind")].append(f)
for kind in sorted(by_kind):
    fs = by_kind[kind]
    print("    findings %s: %d" % (kind, len(fs)))
    for i, f in enumerate(fs[:5]):
        print("      [%d] %s%s" % (i + 1, f.get("message", ""),
                                   " (single_thread)" if f.get("single_thread") else ""))
        names = {}
        for l in f.get("locks") or []:
            names[l.get("id")] = l.get("name")
            print("          lock %s %s level=%s" % (l.get("addr"), l.get("name"), l.get("level")))
        for e in f.get("edges") or []:
            th = e.get("thread") or {}
            print("          edge %s -> %s by %s/%s" % (names.get(e.get("from")), names.get(e.get("to")),
                                                      th.get("tid"), th.get("name")))
            for fr in top(e.get("stack")):
                print("            to   at " + frame(fr))
            for fr in top(e.get("held_stack")):
                print("            from at " + frame(fr))
        for fr in top(f.get("stack")):
            print("          at " + frame(fr))
    if len(fs) > 5:
        print("      ... %d more" % (len(fs) - 5))
if summary is None:
    sys.exit(3)
if not summary.get("acquisitions"):
    sys.exit(4)
EOF
}

failures=()
fail() { failures+=("$1"); echo "  FAIL: $1"; }

native_rates=()
shim_rates=()
metrics_rates=()
helgrind_rate=""
native_exit=""

# run_config NAME ROUND: one server start, load, SIGTERM stop, report summary.
run_config() {
  local name="$1" round="$2"
  local tag="$name-$round"
  local report="$tmp/memcached-$tag.jsonl" log="$tmp/memcached-$tag.log"
  local out="$tmp/server-$tag.out" err="$tmp/server-$tag.err" loadout="$tmp/load-$tag.out"
  local user_args=() port="" attempt
  [ "$(id -u)" = 0 ] && user_args=(-u root)
  echo "== $name (round $round)"
  for attempt in 1 2 3; do
    port="$(pick_port)" || { fail "$tag: no free port found"; return; }
    local server=("$MEMCACHED" -t 4 -l 127.0.0.1 -p "$port" -U 0 "${user_args[@]}")
    # cwd $tmp, so that a core file (core_pattern "core") lands there; every step execs, so $! is
    # the server's pid (cli: the pid of `lockaudit run`, which forwards SIGTERM to memcached).
    # The shim is set with env after setpriv, so that only memcached loads it.
    case "$name" in
      native) (cd "$tmp" && exec "${pdeath[@]}" "${server[@]}") >"$out" 2>"$err" </dev/null &
              server_pid=$! ;;
      shim)   (cd "$tmp" && exec "${pdeath[@]}" env LD_PRELOAD="$SHIM" LOCKAUDIT_REPORT="$report" \
                LOCKAUDIT_LOG="$log" "${server[@]}") >"$out" 2>"$err" </dev/null &
              server_pid=$! ;;
      cli)    (cd "$tmp" && exec "${pdeath[@]}" "$CLI" run --report "$report" --log "$log" -- \
                "${server[@]}") >"$out" 2>"$err" </dev/null &
              server_pid=$! ;;
      metrics) (cd "$tmp" && exec "${pdeath[@]}" env LD_PRELOAD="$SHIM" LOCKAUDIT_REPORT="$report" \
                LOCKAUDIT_LOG="$log" LOCKAUDIT_PROMETHEUS=127.0.0.1:0 "${server[@]}") \
                >"$out" 2>"$err" </dev/null &
              server_pid=$! ;;
      # A soft descriptor limit below the hard one: memcached raises it to its 1024 connections,
      # which valgrind refuses when the soft limit is already at the hard one.
      helgrind) (cd "$tmp" && ulimit -Sn 1024 && exec "${pdeath[@]}" valgrind --tool=helgrind \
                --log-file="$log" "${server[@]}") >"$out" 2>"$err" </dev/null &
              server_pid=$! ;;
    esac
    local ready_tenths=150
    [ "$name" = helgrind ] && ready_tenths=1200
    if wait_ready "$port" "$ready_tenths"; then break; fi
    if alive "$server_pid"; then
      backtrace "$server_pid" "$tmp/bt-$tag-start.txt"
      stop_server_hard
      fail "$tag: memcached did not answer within 15 s (backtrace: bt-$tag-start.txt)"
      sed 's/^/    /' "$tmp/bt-$tag-start.txt" | head -80
      return
    fi
    wait "$server_pid"; local st=$?
    server_pid=""
    if grep -q "Address already in use" "$err" 2>/dev/null && [ "$attempt" -lt 3 ]; then
      continue  # lost a race for the port: pick another
    fi
    fail "$tag: memcached exited during start-up with status $st: $(head -c 300 "$err")"
    return
  done
  echo "  pid $server_pid, port $port"

  # Load (bounded by the generator itself; timeout is a second fence).
  # In the background so that INT/TERM reach our trap at once.
  local load_s="$duration" load_extra=()
  # Under Helgrind every request is ~100x slower: no prefill of the key space, longer reads.
  [ "$name" = helgrind ] && load_s="$helgrind" && load_extra=(--no-prefill --io-timeout 60)
  timeout $((load_s + 120)) python3 "$LOADGEN" --port "$port" --clients "$clients" \
    --duration "$load_s" "${load_extra[@]}" >"$loadout" 2>&1 &
  load_pid=$!
  wait "$load_pid"
  local load_rc=$?
  load_pid=""
  sed 's/^/  /' "$loadout" | grep -v '^  RESULT'
  local rate
  rate="$(sed -n 's/^RESULT .*ops_per_s=\([0-9.]*\).*/\1/p' "$loadout")"
  [ "$load_rc" = 0 ] || fail "$tag: load generator failed (status $load_rc)"

  # Did the server survive the load?
  local crashed=0 hung=0
  if ! alive "$server_pid"; then
    crashed=1
  fi

  # Stop it: SIGTERM, then wait up to 15 s; a server still alive then is hung.
  kill -TERM "$server_pid" 2>/dev/null
  local i stop_tenths=150
  [ "$name" = helgrind ] && stop_tenths=1200
  for i in $(seq "$stop_tenths"); do alive "$server_pid" || break; sleep 0.1; done
  if alive "$server_pid"; then
    # the memcached process itself (for cli, the CLI's child)
    local target="$server_pid" child
    if [ "$name" = cli ]; then
      child="$(ps -o pid= --ppid "$server_pid" 2>/dev/null | head -1 | tr -d ' ')"
      [ -n "$child" ] && target="$child"
    fi
    backtrace "$target" "$tmp/bt-$tag-hang.txt"
    fail "$tag: memcached (pid $target) still running 15 s after SIGTERM: hung (backtrace below, bt-$tag-hang.txt)"
    sed 's/^/    /' "$tmp/bt-$tag-hang.txt" | head -150
    hung=1
    kill -KILL "$server_pid" 2>/dev/null
    [ "$target" != "$server_pid" ] && kill -KILL "$target" 2>/dev/null
  fi
  wait "$server_pid" 2>/dev/null; local st=$?
  server_pid=""
  local how="exit status $st"
  [ "$st" -gt 128 ] && how="$how (signal $((st - 128)))"
  echo "  memcached after SIGTERM: $how"
  if [ "$hung" = 1 ]; then
    :  # reported above; SIGKILL explains the status
  elif [ "$st" -gt 128 ]; then
    # SIGTERM is handled by memcached (exit 0): dying by any signal is a crash
    local when="after SIGTERM"
    [ "$crashed" = 1 ] || [ "$load_rc" != 0 ] && when="during the load"
    fail "$tag: memcached crashed $when: killed by signal $((st - 128)) (SIG$(kill -l $((st - 128)) 2>/dev/null))"
    core_backtrace "$tag"
  elif [ "$crashed" = 1 ]; then
    fail "$tag: memcached exited by itself during the load ($how): $(tail -c 300 "$err" | tr '\n' ' ')"
  elif [ "$name" = native ]; then
    [ -z "$native_exit" ] && native_exit="$st"
  elif [ -n "$native_exit" ] && [ "$st" != "$native_exit" ]; then
    fail "$tag: exit status $st after SIGTERM differs from the native run's $native_exit"
  fi
  if [ -n "$rate" ] && [ "$load_rc" = 0 ]; then
    case "$name" in
      native) native_rates+=("$rate") ;;
      shim)   shim_rates+=("$rate") ;;
      metrics) metrics_rates+=("$rate") ;;
      helgrind) helgrind_rate="$rate" ;;
    esac
  fi
  if [ "$name" = cli ]; then
    echo "  lockaudit run said:"
    grep -v '^Signal handled' "$err" | tail -n 25 | sed 's/^/    /'
  fi
  if [ "$name" != native ] && [ "$name" != helgrind ]; then
    summarize_report "$report"
    case $? in
      0) ;;
      3) fail "$tag: report has no summary line" ;;
      4) fail "$tag: summary shows 0 acquisitions (the shim saw nothing)" ;;
      *) fail "$tag: report unreadable" ;;
    esac
    if [ -s "$log" ]; then
      echo "  text log $log: $(grep -c '^lockaudit: ' "$log") 'lockaudit:' lines; first:"
      grep '^lockaudit: ' "$log" | head -5 | sed 's/^/    /'
    fi
  fi
}

median() {  # median of the arguments
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1;
    if (NR%2) printf "%.1f", a[(NR+1)/2]; else printf "%.1f", (a[NR/2]+a[NR/2+1])/2}'
}

echo "$ME: memcached $("$MEMCACHED" -V | awk '{print $2}') ($MEMCACHED), shim $SHIM"
echo "$ME: $clients clients x ${duration}s per run, $rounds native/shim rounds + 1 cli run; work dir $tmp"
for r in $(seq "$rounds"); do
  run_config native "$r"
  run_config shim "$r"
  [ "$metrics" = 1 ] && run_config metrics "$r"
done
[ "$run_cli" = 1 ] && run_config cli 1
[ "$helgrind" -gt 0 ] && run_config helgrind 1

echo "== result"
if [ ${#native_rates[@]} -gt 0 ] && [ ${#shim_rates[@]} -gt 0 ]; then
  nat="$(median "${native_rates[@]}")"
  shm="$(median "${shim_rates[@]}")"
  ratio="$(awk -v a="$shm" -v b="$nat" 'BEGIN {printf "%.3f", a / b}')"
  echo "  native ops/s: ${native_rates[*]} (median $nat)"
  echo "  shim   ops/s: ${shim_rates[*]} (median $shm)"
  echo "  ratio shim/native of the medians: $ratio"
else
  echo "  no complete native and shim pair: no ratio"
fi
rates_line="RATES native=- shim=- metrics=- helgrind=${helgrind_rate:--}"
[ ${#native_rates[@]} -gt 0 ] && rates_line="${rates_line/native=-/native=$(median "${native_rates[@]}")}"
[ ${#shim_rates[@]} -gt 0 ] && rates_line="${rates_line/shim=-/shim=$(median "${shim_rates[@]}")}"
[ ${#metrics_rates[@]} -gt 0 ] && rates_line="${rates_line/metrics=-/metrics=$(median "${metrics_rates[@]}")}"
echo "  $rates_line"
if [ ${#failures[@]} -gt 0 ]; then
  echo "  ${#failures[@]} failure(s):"
  printf '    %s\n' "${failures[@]}"
  [ "$check" = 1 ] && keep=1  # keep the reports, logs and backtraces for whoever reads the test log
  exit 1
fi
echo "  ok"
exit 0
