// liblockaudit_prometheus.so: serves the engine's statistics on /metrics with prometheus-cpp's
// Exposer (civetweb). Loaded by an engine host (lockaudit/src/metrics.cc), which passes the
// table of lockaudit/src/exporter_host.h; nothing of the engine is linked in.
//
// Threads: civetweb's master and worker threads are created while the starting thread is inside
// the host's EngineScope, so the engine treats them as its own for life: their locks (civetweb's,
// prometheus-cpp's, malloc's) are never audited and never show up in the metrics they serve.
// Each scrape still runs Collect() inside a scope, which is what core/stats.h asks for.
// Nothing here is ever called from interposed code: statistics are pulled at scrape time.
#include <civetweb.h>
#include <CivetServer.h>
#include <prometheus/collectable.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "exporter_host.h"
#include "families.h"
#include "listen_address.h"

namespace lockaudit::exporters {
namespace {

constexpr int kHttpThreads = 2;  // a scrape is cheap; more threads only cost memory

// Reads the engine through the host table at every scrape.
// Thread-safety: Collect() runs concurrently on civetweb's worker threads; the engine is read by
// one of them at a time (collect_mu_), which also guards the family builder's state.
class EngineCollectable final : public ::prometheus::Collectable {
 public:
  explicit EngineCollectable(const LockauditExporterHost* host)
      : host_(host), builder_(OptionsOf(host)) {}

  std::vector<::prometheus::MetricFamily> Collect() const override {
    Scrape scrape{this, {}};
    host_->run_in_engine(&Scrape::Run, &scrape);
    return std::move(scrape.families);  // empty after a failure: an empty, valid exposition
  }

 private:
  struct Scrape {
    const EngineCollectable* self;
    std::vector<::prometheus::MetricFamily> families;
    // No exception may cross the host's frames or civetweb's C frames.
    static void Run(void* arg) {
      auto* s = static_cast<Scrape*>(arg);
      try {
        // One scrape at a time: concurrent scrapes share nothing in the engine's read side then,
        // a burst of scrapes costs the audited threads one reader, not two, and the builder's
        // memory of chosen series and exported values sees the snapshots in order.
        std::lock_guard<std::mutex> lock(s->self->collect_mu_);
        const core::stats::Snapshot snapshot = s->self->host_->collect();
        s->families = s->self->builder_.Build(snapshot);
      } catch (...) {
        s->families.clear();
      }
    }
  };

  static FamilyOptions OptionsOf(const LockauditExporterHost* host) {
    FamilyOptions o;
    o.max_series = host->max_series < 0 ? 0 : static_cast<size_t>(host->max_series);
    for (int i = 0; i < host->bucket_count; ++i) o.bucket_bounds.push_back(host->bucket_bound(i));
    o.version = LOCKAUDIT_VERSION;
    return o;
  }

  const LockauditExporterHost* host_;
  mutable std::mutex collect_mu_;
  mutable FamilyBuilder builder_;  // under collect_mu_
};

// civetweb's error lines (e.g. "cannot bind to 127.0.0.1:9464: 98 (Address already in use)",
// then "Failed to setup server ports"), kept for the start-up warning instead of being printed
// into the host program's output. The first one names the cause.
std::mutex g_log_mu;
std::vector<std::string> g_log;

int KeepLog(const mg_connection*, const char* message) {
  std::string line = message ? message : "";
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log.size() < 8) g_log.push_back(std::move(line));  // bounded: runtime errors are dropped
  return 1;  // handled: civetweb prints nothing
}

std::string FirstLog() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return g_log.empty() ? std::string() : g_log.front();
}

void ClearLog() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log.clear();
}

// The exporter, alive until the process exits (then its server is stopped, see Start()).
struct Running {
  std::shared_ptr<EngineCollectable> collectable;
  std::unique_ptr<::prometheus::Exposer> exposer;
  CivetCallbacks callbacks;
  ListenAddress address;  // as bound (port filled in)
  pid_t pid = 0;          // the process that started the server
};

// civetweb's accept loop polls its listening socket with a timeout of seconds and looks at its
// stop flag only between polls: while the server stops, a connection to it every few
// milliseconds wakes the loop, so that a process ends at once instead of waiting for the poll.
void StopQuickly(Running* r) {
  std::atomic<bool> stopped{false};
  std::thread waker([r, &stopped] {
    sockaddr_storage ss{};
    socklen_t len = 0;
    const std::string host = r->address.host == "0.0.0.0" ? "127.0.0.1"
                             : r->address.host == "::"    ? "::1"
                                                          : r->address.host;
    if (r->address.ipv6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(r->address.port));
      if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(r->address.port));
      if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return;
      len = sizeof *a;
    }
    for (int i = 0; i < 500 && !stopped.load(); ++i) {  // at most about 5 s
      int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return;
      (void)connect(fd, reinterpret_cast<sockaddr*>(&ss), len);  // only to wake the poll
      close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  r->exposer.reset();
  stopped.store(true);
  waker.join();
}
std::atomic<bool> g_started{false};

struct StartCall {
  const ListenAddress* address;
  Running* running;
  std::string error;
  int port = -1;

  static void Run(void* arg) {
    auto* c = static_cast<StartCall*>(arg);
    try {
      ClearLog();
      c->running->callbacks.log_message = &KeepLog;
      std::vector<std::string> options = {"listening_ports", c->address->Civetweb(),
                                          "num_threads", std::to_string(kHttpThreads)};
      c->running->exposer =
          std::make_unique<::prometheus::Exposer>(options, &c->running->callbacks);
      c->running->exposer->RegisterCollectable(c->running->collectable);
      const std::vector<int> ports = c->running->exposer->GetListeningPorts();
      if (ports.empty()) {
        c->error = "civetweb reports no listening port";
        return;
      }
      c->port = ports.front();
    } catch (const std::exception& e) {
      const std::string why = FirstLog();
      c->error = why.empty() ? std::string("cannot serve on ") + c->address->Civetweb() + " (" +
                                   e.what() + ")"
                             : why;
    } catch (...) {
      c->error = "cannot serve on " + c->address->Civetweb();
    }
  }
};

void Put(char* buffer, size_t size, const std::string& text) {
  if (buffer != nullptr && size > 0) snprintf(buffer, size, "%s", text.c_str());
}

bool HostUsable(const LockauditExporterHost* host, std::string* why) {
  if (host == nullptr || host->version != kLockauditExporterHostVersion ||
      host->host_size != sizeof(LockauditExporterHost) ||
      host->snapshot_size != sizeof(core::stats::Snapshot)) {
    *why = "liblockaudit_prometheus.so is from another lockaudit build";
    return false;
  }
  if (host->collect == nullptr || host->bucket_bound == nullptr || host->run_in_engine == nullptr ||
      host->bucket_count <= 0 || host->bucket_count > core::stats::kBuckets) {
    *why = "the engine host passed an incomplete exporter table";
    return false;
  }
  return true;
}

Running* g_running = nullptr;
const LockauditExporterHost* g_host = nullptr;

void StopServingAtExit() {
  struct Stop {
    static void Run(void* arg) { StopQuickly(static_cast<Running*>(arg)); }
  };
  if (g_running == nullptr || g_host == nullptr) return;
  // A forked child has a copy of the server's objects but none of its threads: stopping it
  // there would wait for threads that do not exist. The parent's server is the parent's.
  if (g_running->pid != getpid()) return;
  g_host->run_in_engine(&Stop::Run, g_running);
}

int Start(const char* address_text, const LockauditExporterHost* host, char* message,
          size_t message_len) {
  std::string why;
  if (!HostUsable(host, &why)) {
    Put(message, message_len, why);
    return -1;
  }
  const std::optional<ListenAddress> address =
      ParseListenAddress(address_text ? address_text : "", &why);
  if (!address) {
    Put(message, message_len, why);
    return -1;
  }
  if (g_started.exchange(true)) {
    Put(message, message_len, "metrics are already being served by this process");
    return -1;
  }
  auto running = std::make_unique<Running>();
  running->collectable = std::make_shared<EngineCollectable>(host);
  StartCall call{&*address, running.get(), {}, -1};
  host->run_in_engine(&StartCall::Run, &call);
  if (call.port < 0) {
    Put(message, message_len, call.error);
    // Nothing listens: the Exposer (if any) is torn down inside the engine scope, and a later
    // call may try another address.
    struct Stop {
      static void Run(void* arg) { static_cast<Running*>(arg)->exposer.reset(); }
    };
    host->run_in_engine(&Stop::Run, running.get());
    g_started.store(false);
    return -1;
  }
  // Serves until the process exits. At exit the server is stopped (its threads joined) before
  // the static destructors run: a scrape served while they run would touch destroyed objects
  // (libraries' statics, this file's log), and a crash at exit would change the exit status.
  running->address = *address;
  running->address.port = call.port;
  running->pid = getpid();
  g_running = running.release();
  g_host = host;
  atexit(StopServingAtExit);
  Put(message, message_len, address->Url(call.port));
  return call.port;
}

}  // namespace
}  // namespace lockaudit::exporters

extern "C" __attribute__((visibility("default"))) int lockaudit_prometheus_start(
    const char* address, const LockauditExporterHost* host, char* message,
    size_t message_len) noexcept {
  try {
    return lockaudit::exporters::Start(address, host, message, message_len);
  } catch (const std::exception& e) {
    lockaudit::exporters::Put(message, message_len, e.what());
  } catch (...) {
    lockaudit::exporters::Put(message, message_len, "unexpected error");
  }
  return -1;
}
