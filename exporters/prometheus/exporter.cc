// liblockaudit_prometheus.so: serves the engine's statistics on /metrics with prometheus-cpp's
// Exposer (civetweb), and the live contention profile on /debug/pprof/mutex (a handler added to
// the Exposer's civetweb context, which its init_context callback hands over). Loaded by an engine host (lockaudit/src/metrics.cc), which passes the
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
#include <condition_variable>
#include <thread>

#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <memory>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <sstream>

#include "exporter_host.h"
#include "families.h"
#include "listen_address.h"
#include "profile.h"
#include "report_reader.h"

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

// ---- /debug/pprof/mutex ------------------------------------------------------------------
// Go's mutex profile endpoint, on the same port: GET /debug/pprof/mutex answers the contention
// profile as of now as a gzipped profile.proto (`go tool pprof http://HOST:PORT/debug/pprof/mutex`).
// ?seconds=N (1-300) waits N seconds and answers what was added meanwhile (a delta, as Go's);
// ?by=holder ranks by the holder's acquisition site (contention_holder lines); ?debug=1 answers
// the top list as text. The profile comes from the engine through the host table as the report's
// JSON lines and is written by the CLI's own pprof writer (lockaudit/cli/profile.h).

using cli::ContentionRecord;
using cli::Frame;
using cli::Report;

const LockauditExporterHost* g_profile_host = nullptr;
mg_context* g_context = nullptr;  // the Exposer's civetweb context (init_context)

void KeepContext(const mg_context* ctx) { g_context = const_cast<mg_context*>(ctx); }

// The profile lines as of now, read into records.
Report ProfileNow(const LockauditExporterHost* host) {
  std::string text;
  host->profile_lines(
      [](const char* line, size_t size, void* arg) {
        auto* out = static_cast<std::string*>(arg);
        out->append(line, size);
        out->push_back('\n');
      },
      &text);
  std::istringstream in(text);
  std::ostringstream diagnostics;
  std::optional<Report> report = cli::ReadReportStream(in, "/debug/pprof/mutex", diagnostics);
  return report ? std::move(*report) : Report{};
}

// What `later` added to `earlier`, record by record (same kind, lock and frames); records whose
// counts did not grow are left out. p50/p99/max are the later ones' (no delta exists for them).
std::vector<ContentionRecord> Delta(const std::vector<ContentionRecord>& earlier,
                                    const std::vector<ContentionRecord>& later) {
  // By lock id (unique in the process, also once the lock is gone: its address is then no longer
  // printed) and frames.
  auto key = [](const ContentionRecord& r) {
    std::string k = std::to_string(r.lock.id.value_or(0));
    for (const Frame& f : r.stack) k += "|" + f.pc;
    return k;
  };
  std::map<std::string, const ContentionRecord*> before;
  for (const ContentionRecord& r : earlier) before[key(r)] = &r;
  std::vector<ContentionRecord> out;
  for (const ContentionRecord& r : later) {
    ContentionRecord d = r;
    if (auto it = before.find(key(r)); it != before.end()) {
      d.contentions -= it->second->contentions;
      d.delay_ns -= it->second->delay_ns;
      d.samples -= it->second->samples;
    }
    if (d.samples > 0 && d.contentions > 0) out.push_back(std::move(d));
  }
  return out;
}

void Respond(mg_connection* conn, int status, const char* reason, const char* type,
             const std::string& body, const char* extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sCache-Control: "
            "no-store\r\nConnection: close\r\n\r\n",
            status, reason, type, body.size(), extra_headers);
  mg_write(conn, body.data(), body.size());
}

// The value of query parameter `name`, or nullopt when absent ("?" for one too long to be any
// valid value: refused as such).
std::optional<std::string> Param(const mg_request_info* info, const char* name) {
  if (info->query_string == nullptr) return std::nullopt;
  char buf[64];
  const int n = mg_get_var(info->query_string, strlen(info->query_string), name, buf, sizeof buf);
  if (n == -1) return std::nullopt;
  if (n < 0) return std::string("?");
  return std::string(buf, static_cast<size_t>(n));
}

// ?seconds=N waits on a worker thread (civetweb has kHttpThreads): one such request at a time,
// so that /metrics always has a worker; the wait ends early when the process exits (the server
// is then stopped, and stopping waits for its workers).
std::mutex g_delta_mu;
std::condition_variable g_delta_cv;
bool g_delta_busy = false;  // under g_delta_mu
bool g_stopping = false;    // under g_delta_mu

// Waits `seconds` unless the server is stopping: false when it is.
bool WaitUnlessStopping(long seconds) {
  std::unique_lock<std::mutex> lock(g_delta_mu);
  return !g_delta_cv.wait_for(lock, std::chrono::seconds(seconds), [] { return g_stopping; });
}

void RespondLiteral(mg_connection* conn, const char* status_line, const char* text) {
  // No allocation: used where one may just have failed.
  mg_printf(conn,
            "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n%s",
            status_line, strlen(text), text);
}

int ServePprof(mg_connection* conn, void*) {
  try {
    const mg_request_info* info = mg_get_request_info(conn);
    if (info == nullptr || strcmp(info->request_method, "GET") != 0) {
      Respond(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET only\n");
      return 405;
    }
    const std::string debug = Param(info, "debug").value_or("0");
    const std::string by = Param(info, "by").value_or("waiter");
    const std::string seconds_text = Param(info, "seconds").value_or("0");
    char* end = nullptr;
    const long seconds = strtol(seconds_text.c_str(), &end, 10);
    if ((debug != "0" && debug != "1") || (by != "waiter" && by != "holder") ||
        end == seconds_text.c_str() || *end != '\0' || seconds < 0 || seconds > 300) {
      Respond(conn, 400, "Bad Request", "text/plain; charset=utf-8",
              "lockaudit: /debug/pprof/mutex takes debug=0|1, by=waiter|holder and seconds=0-300\n");
      return 400;
    }
    const bool holders = by == "holder";
    if (seconds > 0) {
      std::lock_guard<std::mutex> lock(g_delta_mu);
      if (g_delta_busy) {
        RespondLiteral(conn, "429 Too Many Requests",
                       "lockaudit: another ?seconds= profile is being taken; try again after it\n");
        return 429;
      }
      g_delta_busy = true;
    }
    struct DeltaDone {
      bool active;
      ~DeltaDone() {
        if (!active) return;
        std::lock_guard<std::mutex> lock(g_delta_mu);
        g_delta_busy = false;
      }
    } done{seconds > 0};
    Report now = ProfileNow(g_profile_host);
    std::vector<ContentionRecord> records = holders ? now.holder_contentions : now.contentions;
    if (seconds > 0) {
      if (!WaitUnlessStopping(seconds)) {
        RespondLiteral(conn, "503 Service Unavailable", "lockaudit: the process is exiting\n");
        return 503;
      }
      Report later = ProfileNow(g_profile_host);
      records = Delta(records, holders ? later.holder_contentions : later.contentions);
    }
    if (debug == "1") {
      std::ostringstream text;
      if (g_profile_host->profile_rate == 0) {
        text << "lockaudit: the contention profile is off (LOCKAUDIT_PROFILE_RATE=0)\n";
      } else if (records.empty()) {
        text << "lockaudit: no contended acquisition " << (seconds > 0 ? "in that time" : "yet")
             << "\n";
      } else if (holders) {
        cli::PrintTopHolders(records, 50, text);
      } else {
        cli::PrintTopPaths(records, 50, text);
      }
      Respond(conn, 200, "OK", "text/plain; charset=utf-8", text.str());
      return 200;
    }
    const std::string body = cli::Gzip(cli::EncodePprof(records));
    if (body.empty()) {
      Respond(conn, 500, "Internal Server Error", "text/plain; charset=utf-8",
              "lockaudit: could not compress the profile\n");
      return 500;
    }
    Respond(conn, 200, "OK", "application/octet-stream", body,
            "Content-Disposition: attachment; filename=\"mutex.pb.gz\"\r\n");
    return 200;
  } catch (...) {
    RespondLiteral(conn, "500 Internal Server Error", "lockaudit: the profile could not be built\n");
    return 500;
  }
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
      c->running->callbacks.init_context = &KeepContext;
      g_context = nullptr;
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
      if (g_context != nullptr && g_profile_host != nullptr) {
        mg_set_request_handler(g_context, "/debug/pprof/mutex", &ServePprof, nullptr);
      }
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
  {
    std::lock_guard<std::mutex> lock(g_delta_mu);
    g_stopping = true;  // a ?seconds= request in its wait answers 503 now
  }
  g_delta_cv.notify_all();
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
  g_profile_host = host->profile_lines != nullptr ? host : nullptr;
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
