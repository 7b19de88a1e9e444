# bench/mariadb_common.sh: sourced by bench/mariadb_shutdown.sh and bench/mariadb_sysbench.sh.
# mariadbd from Debian's mariadb-server on a fresh datadir, a private socket and port.
#
#   mariadb_find                 sets $mariadbd; returns 1 when mariadbd is not installed
#   mariadb_start DIR [ENV...]   mariadb-install-db in DIR/data, then mariadbd with ENV (VAR=value
#                                words) until `mariadb-admin ping` answers; sets $mariadb_pid;
#                                returns 1 (with a message) when it did not start within 60 s
#   mariadb_sysbench DIR ARGS... sysbench oltp_read_write against DIR's server (ARGS: more
#                                sysbench options, then the command: prepare or run)
#   mariadb_stop                 SIGTERM $mariadb_pid; sets $mariadb_stop_ms and $mariadb_status;
#                                returns 1 when it was still alive 60 s later (then SIGKILL)
#   mariadb_prepare NAME BUILD [sysbench]
#                                the scripts' common start: exits 77 (SKIPPED) without mariadbd
#                                (or sysbench), 1 without the shim in BUILD; sets $shim and a
#                                fresh $work directory removed (its servers killed) at exit
now_ms() { date +%s%3N; }

mariadb_prepare() {
  local name=$1 build=$2 need_sysbench=${3:-}
  if ! mariadb_find || { [[ -n $need_sysbench ]] && ! command -v sysbench >/dev/null; }; then
    echo "$name: SKIPPED: mariadbd${need_sysbench:+ or sysbench} not installed (apt-get install mariadb-server sysbench)"
    exit 77
  fi
  shim=$(cd "$build" && pwd)/lib/liblockaudit_preload.so
  [[ -f $shim ]] || { echo "$name: no shim at $shim (build first)" >&2; exit 1; }
  work=$(mktemp -d "/tmp/lockaudit_$name.XXXXXX")
  trap 'pkill -KILL -f "datadir=$work" 2>/dev/null; rm -rf "$work"' EXIT
}

mariadb_find() {
  mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  [[ -x $mariadbd ]] && command -v mariadb-install-db >/dev/null
}

mariadb_start() {
  local dir=$1
  shift
  local port=$((33060 + RANDOM % 1000))
  mkdir -p "$dir"
  mariadb-install-db --user=root --datadir="$dir/data" --auth-root-authentication-method=normal \
    >"$dir/install.log" 2>&1 || { echo "mariadb-install-db failed in $dir"; return 1; }
  env "$@" "$mariadbd" --no-defaults --user=root --datadir="$dir/data" \
    --socket="$dir/sock" --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/pid" \
    --skip-log-bin --innodb-buffer-pool-size=128M >"$dir/server.log" 2>&1 &
  mariadb_pid=$!
  local t0; t0=$(now_ms)
  until mariadb-admin --no-defaults --socket="$dir/sock" -uroot ping >/dev/null 2>&1; do
    if ! kill -0 "$mariadb_pid" 2>/dev/null || (( $(now_ms) - t0 > 60000 )); then
      echo "the server did not start: $(tail -n 3 "$dir/server.log")"
      kill -KILL "$mariadb_pid" 2>/dev/null
      return 1
    fi
    sleep 0.1
  done
  mariadb --no-defaults --socket="$dir/sock" -uroot -e "CREATE DATABASE sbtest" 2>/dev/null
  return 0
}

mariadb_sysbench() {
  local dir=$1
  shift
  sysbench oltp_read_write --db-driver=mysql --mysql-socket="$dir/sock" --mysql-user=root "$@"
}

mariadb_stop() {
  local s0; s0=$(now_ms)
  kill -TERM "$mariadb_pid"
  for _ in $(seq 600); do
    if ! kill -0 "$mariadb_pid" 2>/dev/null; then
      wait "$mariadb_pid"
      mariadb_status=$?
      mariadb_stop_ms=$(( $(now_ms) - s0 ))
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$mariadb_pid" 2>/dev/null
  wait "$mariadb_pid" 2>/dev/null
  return 1
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }
