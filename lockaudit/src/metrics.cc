// lockaudit::serve_metrics / lockaudit_serve_metrics and LOCKAUDIT_PROMETHEUS: the host side of
// the Prometheus exporter. Compiled into both engine hosts (liblockaudit.so and the shim).
//
// The exporter itself lives in liblockaudit_prometheus.so (exporters/prometheus), loaded from the
// directory of the host library only when metrics are asked for, so that neither prometheus-cpp
// nor civetweb is ever mapped into a process that does not want them. The host hands it the
// table of exporter_host.h; the exporter starts its HTTP threads inside an EngineScope (so they
// are engine-owned, never audited) and reads the statistics at scrape time (core/stats.h).
//
// Thread-safety: ServeMetrics may be called from any thread; at most one exporter per process
// (the exporter library refuses a second start). Cost: one dlopen and two threads, once.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "contention_profile.h"
#include "exporter_host.h"
#include "metrics.h"
#include "lockaudit/lockaudit.h"
#include "options.h"
#include "provider.h"
#include "raw_log.h"
#include "stats.h"

namespace lockaudit {
namespace {
namespace core_ = ::lockaudit::core;

void RunInEngine(void (*fn)(void*), void* arg) {
  core_::EngineScope inside;
  fn(arg);
}

// The exporter frees the snapshot with its own (the program's) allocator: it is collected inside
// the engine and copied onto the program's heap.
core_::stats::Snapshot CollectForExporter() {
  core_::stats::Snapshot s = core_::stats::Collect();
  core_::ProgramHeapScope heap;
  return core_::stats::Snapshot(s);
}

void ProfileLinesForExporter(void (*emit)(const char*, size_t, void*), void* arg) {
  core_::EngineScope inside;
  for (const std::string& line : core_::profile::Lines()) {
    core_::ProgramHeapScope heap;  // what emit allocates is the exporter's, freed by it
    emit(line.data(), line.size(), arg);
  }
}

// The table the exporter keeps for the life of the process.
LockauditExporterHost* HostTable() {
  static LockauditExporterHost* table = [] {
    auto* t = new LockauditExporterHost;
    t->collect = &CollectForExporter;
    t->bucket_bound = &core_::stats::BucketBound;
    t->max_series = core_::GetOptions().max_series;
    t->run_in_engine = &RunInEngine;
    t->profile_lines = &ProfileLinesForExporter;
    t->profile_rate = core_::GetOptions().profile_rate;
    return t;
  }();
  return table;
}

// liblockaudit_prometheus.so beside the library this code is linked into (build/lib, or the
// installed libdir); by the loader's search path when that directory is unknown.
std::string ExporterPath() {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&RunInEngine), &self) != 0 && self.dli_fname != nullptr) {
    const char* slash = strrchr(self.dli_fname, '/');
    if (slash != nullptr) {
      return std::string(self.dli_fname, slash + 1 - self.dli_fname) + kLockauditPrometheusLibrary;
    }
  }
  return kLockauditPrometheusLibrary;
}

// `what` names the caller in warnings: the variable, or the API function.
int ServeMetrics(const char* address, const char* what) {
  core_::EnsureInitialized();
  if (core_::Disabled()) {
    core_::RawLog("lockaudit: warning: %s: auditing is disabled (LOCKAUDIT_DISABLE=1); metrics off\n",
                  what);
    return -1;
  }
  if (address == nullptr || *address == '\0') {
    core_::RawLog("lockaudit: warning: %s: empty address, expected [HOST:]PORT; metrics off\n", what);
    return -1;
  }
  std::string path;
  void* handle = nullptr;
  {
    core_::EngineScope inside;  // the loader's and the exporter's initialisers are not audited
    path = ExporterPath();
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (handle == nullptr) {
    const char* why = dlerror();
    core_::RawLog("lockaudit: warning: %s: cannot load %s (%s); metrics off\n", what, path.c_str(),
                  why ? why : "unknown error");
    return -1;
  }
  auto start = reinterpret_cast<LockauditPrometheusStartFn>(
      dlsym(handle, kLockauditPrometheusStartSymbol));
  if (start == nullptr) {
    core_::RawLog("lockaudit: warning: %s: %s has no %s; metrics off\n", what, path.c_str(),
                  kLockauditPrometheusStartSymbol);
    return -1;
  }
  char message[512] = {};
  const int port = start(address, HostTable(), message, sizeof message);
  if (port < 0) {
    core_::RawLog("lockaudit: warning: %s: %s; metrics off\n", what, message);
    return -1;
  }
  char line[600];
  snprintf(line, sizeof line, "lockaudit: metrics on %s\n", message);
  core_::LogNote(line);  // the text log: not on stderr with LOCKAUDIT_LOG=off
  return port;
}

#ifndef LOCKAUDIT_IN_PRELOAD
// liblockaudit.so honours LOCKAUDIT_PROMETHEUS at load, like the shim (which calls
// StartFromOptions from its own constructor). Under the shim this copy of the engine stands down.
__attribute__((constructor)) void StartAtLoad() {
  if (dlsym(RTLD_DEFAULT, "lockaudit_preload_active") != nullptr) return;
  metrics::StartFromOptions();
}
#endif

}  // namespace

namespace metrics {
void StartFromOptions() noexcept {
  core_::EnsureInitialized();
  const char* address = core_::GetOptions().prometheus;
  if (core_::Disabled() || address[0] == '\0') return;
  ServeMetrics(address, "LOCKAUDIT_PROMETHEUS");
}
}  // namespace metrics

int serve_metrics(const char* address) { return ServeMetrics(address, "serve_metrics"); }

}  // namespace lockaudit

extern "C" int lockaudit_serve_metrics(const char* address) {
  return lockaudit::ServeMetrics(address, "lockaudit_serve_metrics");
}
