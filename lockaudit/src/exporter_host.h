// The private interface between an engine host (liblockaudit.so, liblockaudit_preload.so) and the
// Prometheus exporter library it loads on demand (liblockaudit_prometheus.so, exporters/prometheus).
//
// Why a separate library: prometheus-cpp takes mutexes and throws exceptions, so it must never be
// linked into the engine or the shim (STYLE.md, hot path rule 2). The host dlopen()s the exporter
// from its own directory only when metrics are asked for, and hands it this table; the exporter
// links nothing of the engine (a second copy of core in the process would be a second engine).
//
// Both sides are built from one source tree with one compiler: the table may carry C++ types
// (core::stats::Snapshot). `version` and the two sizes reject a library from another build.
//
// Thread-safety: every function in the table may be called from any thread at any time after
// lockaudit_prometheus_start() was called, for the life of the process.
#ifndef LOCKAUDIT_SRC_EXPORTER_HOST_H_
#define LOCKAUDIT_SRC_EXPORTER_HOST_H_

#include <cstddef>
#include <cstdint>

#include "stats.h"

inline constexpr uint32_t kLockauditExporterHostVersion = 2;

struct LockauditExporterHost {
  uint32_t version = kLockauditExporterHostVersion;
  uint32_t host_size = sizeof(LockauditExporterHost);
  uint32_t snapshot_size = sizeof(lockaudit::core::stats::Snapshot);
  // core::stats::Collect(): call it only through run_in_engine.
  lockaudit::core::stats::Snapshot (*collect)() = nullptr;
  // core::stats::BucketBound(): upper bound of finite bucket i in seconds, i < kBuckets.
  double (*bucket_bound)(int) = nullptr;
  int bucket_count = lockaudit::core::stats::kBuckets;
  // LOCKAUDIT_MAX_SERIES: distinct lock/cond label values per metric family (plus "other").
  long max_series = 50;
  // Runs fn(arg) on the calling thread inside a core::EngineScope: its locks and allocations are
  // not audited, and threads it creates are engine-owned for life (never audited).
  void (*run_in_engine)(void (*fn)(void* arg), void* arg) = nullptr;
  // The contention profile as of now (core/contention_profile.h Lines()): emit(line, size, arg)
  // once per `contention` / `contention_holder` JSON line (docs/report.md), longest wait first;
  // nothing when profiling is off. Enters the engine itself; `line` lives only during the call.
  void (*profile_lines)(void (*emit)(const char* line, size_t size, void* arg), void* arg) = nullptr;
  // LOCKAUDIT_PROFILE_RATE (0: profiling off).
  long profile_rate = 0;
};

// The one entry point of liblockaudit_prometheus.so, looked up with dlsym.
// Serves /metrics on `address` ("[HOST:]PORT", HOST an IP address, default 127.0.0.1; PORT 0 picks
// a free port). Returns the bound port and writes the URL ("http://127.0.0.1:PORT/metrics") into
// `message`; or returns -1 and writes a one-line reason (no newline). `host` must outlive the
// process (the exporter keeps the pointer). At most one exporter per process: a second call fails.
using LockauditPrometheusStartFn = int (*)(const char* address, const LockauditExporterHost* host,
                                           char* message, size_t message_len);
inline constexpr char kLockauditPrometheusStartSymbol[] = "lockaudit_prometheus_start";
inline constexpr char kLockauditPrometheusLibrary[] = "liblockaudit_prometheus.so";

#endif  // LOCKAUDIT_SRC_EXPORTER_HOST_H_
