// workloads: the lock workloads W1..W8 of bench/compare (issue 8), plus the live-lock scaling
// probe. Plain C++ with std:: lock types: it includes no lockaudit header, so the same binary runs
// natively, under LD_PRELOAD=liblockaudit_preload.so, under valgrind (helgrind, drd, callgrind),
// and rebuilt with clang -fsanitize=thread. Built a second time with LOCKAUDIT_BENCH_WRAPPER
// defined (target bench_workloads_wrapper), the lock types become lockaudit::mutex,
// lockaudit::shared_mutex and lockaudit::condition_variable; nothing else changes.
//
//   workloads W ITERATIONS [THREADS]      W = w1 .. w8
//   workloads scale LIVE_LOCKS DEPTH
//   workloads pairs ITERATIONS [THREADS]
//   workloads hold LOCKS [ROUNDS]
//   workloads first LOCKS
//
// Prints one line of key=value pairs; every workload prints ns_per_op (wall time of the timed
// phase divided by the operations of all threads together) and ops.
//   w1  uncontended lock+unlock, one lock per thread (THREADS default 1)           op = lock+unlock
//   w1main  w1 on the main thread; the process never starts a thread              op = lock+unlock
//   w2  nested A->B, always in that order, per thread (default 1)                  op = A, B, ~B, ~A
//   w3  THREADS (default 4) threads on one hot lock, tiny critical section         op = lock+unlock
//   w4  10,000 locks; each op locks two random ones in address order (default 2)   op = 2 locks
//   w5  condition-variable ping-pong between two threads (THREADS ignored)         op = round trip
//       also prints wake_p50_ns, wake_p99_ns (notify -> waiter running, per wake-up)
//   w6  std::shared_mutex, THREADS (default 4) readers, 1 op in 64 exclusive       op = lock+unlock
//   w7  64 locks per thread taken nested, then released (default 1)                op = lock+unlock
//   w8  churn: create a heap lock, lock, unlock, destroy (default 1)               op = all four
//   scale: LIVE_LOCKS locks are created and each locked once; DEPTH of them stay held; then
//       first_touch_ns: the first lock+unlock of each lock (the tool learns it)
//       known_ns:   lock+unlock of one of 256 inner locks whose edges are all known
//       new_edge_ns: lock+unlock of a lock never taken under the held ones (a new edge each)
//       rss_per_lock_bytes, rss_per_edge_bytes: resident-memory growth over the first touch of
//       the locks and over the new edges (natively both are ~0: the locks live in one array
//       allocated before the measurement)
//
//   pairs: 5,000 std::mutex; THREADS (default 4) threads each lock ITERATIONS random pairs in
//       address order. No warm-up: the whole run, learning included, is timed (issue 14's
//       "4 threads, 5,000 std::mutex, 300,000 pairs per thread"); ns_per_op and elapsed_ms.
//   hold: one thread locks LOCKS mutexes one after the other, holding them all, then unlocks
//       them; ROUNDS (default 1) times. No warm-up; elapsed_ms of the whole, first_round_ms.
//   first: the process's very first locks, on the main thread before any other thread exists:
//       LOCKS (at least 2) mutexes of static storage locked nested, each timed on its own.
//       first_lock_us (the process's first lock), first_edge_us (the second: its first new
//       lock-order edge), next_lock_us (the median of the others: a new lock and a new edge
//       each), and the page faults of each (first_lock_faults, first_edge_faults,
//       next_lock_faults: the median); page_fault_us, what one page fault on fresh memory
//       costs on this machine (64 pages timed after the locks), to read the others by.
//
// Every other workload runs a fixed warm-up (min(kWarmup, ITERATIONS) operations per thread, untimed)
// before the timed phase, so a tool's one-time learning stays out of the timing, and two runs with
// different ITERATIONS differ by exactly the extra operations (instruction counts under callgrind:
// bench/gate.sh). Worker threads are always started (also for THREADS=1): glibc skips the atomic
// instructions of pthread_mutex_lock while a process has never had a second thread, and no program
// that can deadlock runs that way.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#ifdef LOCKAUDIT_BENCH_WRAPPER
#include <lockaudit/mutex.h>
using Mutex = lockaudit::mutex;
using SharedMutex = lockaudit::shared_mutex;
using CondVar = lockaudit::condition_variable;
#else
using Mutex = std::mutex;
using SharedMutex = std::shared_mutex;
using CondVar = std::condition_variable;
#endif

namespace {

constexpr long kWarmup = 10000;
constexpr int kW4Locks = 10000;
constexpr int kW7Depth = 64;
constexpr int kScaleInner = 256;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Keeps the compiler from dropping or merging the critical sections.
inline void Touch(long* p) {
  *p += 1;
  __asm__ __volatile__("" ::: "memory");
}

struct alignas(64) PerThread {
  int64_t start = 0;
  int64_t end = 0;
  long sink = 0;
};

// A spinning start barrier (no lock: it must not show up in any tool's lock statistics).
class StartBarrier {
 public:
  explicit StartBarrier(int n) : left_(n) {}
  void ArriveAndWait() {
    left_.fetch_sub(1, std::memory_order_acq_rel);
    while (left_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  }

 private:
  std::atomic<int> left_;
};

// Runs body(thread_index, iterations, per_thread) on `threads` new threads: warm-up, barrier,
// timed phase. body(t, n, pt) runs n operations. Returns the wall time of the timed phase.
template <class Body>
int64_t RunThreads(int threads, long iterations, Body body) {
  std::vector<PerThread> pt(static_cast<size_t>(threads));
  StartBarrier barrier(threads);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      PerThread& me = pt[static_cast<size_t>(t)];
      body(t, std::min(kWarmup, iterations), me);
      barrier.ArriveAndWait();
      me.start = NowNs();
      body(t, iterations, me);
      me.end = NowNs();
    });
  }
  for (auto& w : workers) w.join();
  int64_t start = pt[0].start, end = pt[0].end;
  for (const auto& p : pt) {
    start = std::min(start, p.start);
    end = std::max(end, p.end);
  }
  return end - start;
}

void PrintNsPerOp(int64_t elapsed_ns, double ops, const std::string& extra = {}) {
  std::printf("ns_per_op=%.3f ops=%.0f%s%s\n", static_cast<double>(elapsed_ns) / ops, ops,
              extra.empty() ? "" : " ", extra.c_str());
}

void W1(long n, int threads) {
  std::vector<std::unique_ptr<Mutex>> mu;
  mu.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) mu.push_back(std::make_unique<Mutex>());
  int64_t ns = RunThreads(threads, n, [&](int t, long iters, PerThread& me) {
    Mutex& m = *mu[static_cast<size_t>(t)];
    for (long i = 0; i < iters; ++i) {
      m.lock();
      Touch(&me.sink);
      m.unlock();
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

// W1 on the main thread of a process that never starts a thread (glibc's single-thread lock
// path stays on natively; under a tool, whatever threads the tool itself starts count).
void W1Main(long n) {
  Mutex m;
  long sink = 0;
  const long warm = std::min<long>(kWarmup, n);
  for (long i = 0; i < warm; ++i) {
    m.lock();
    Touch(&sink);
    m.unlock();
  }
  const int64_t t0 = NowNs();
  for (long i = 0; i < n; ++i) {
    m.lock();
    Touch(&sink);
    m.unlock();
  }
  PrintNsPerOp(NowNs() - t0, static_cast<double>(n));
}

void W2(long n, int threads) {
  struct Pair {
    Mutex a, b;
  };
  std::vector<std::unique_ptr<Pair>> pairs;
  pairs.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) pairs.push_back(std::make_unique<Pair>());
  int64_t ns = RunThreads(threads, n, [&](int t, long iters, PerThread& me) {
    Pair& p = *pairs[static_cast<size_t>(t)];
    for (long i = 0; i < iters; ++i) {
      p.a.lock();
      p.b.lock();
      Touch(&me.sink);
      p.b.unlock();
      p.a.unlock();
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

void W3(long n, int threads) {
  Mutex hot;
  long shared = 0;
  int64_t ns = RunThreads(threads, n, [&](int, long iters, PerThread&) {
    for (long i = 0; i < iters; ++i) {
      hot.lock();
      Touch(&shared);
      hot.unlock();
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

// One operation of W4 and pairs: two random locks of locks[0..count), taken in address order
// (the array is contiguous), their data touched, released. `x`: the thread's xorshift64 state.
inline void LockRandomPair(Mutex* locks, long* data, int count, uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  int a = static_cast<int>(x % count);
  int b = static_cast<int>((x >> 32) % count);
  if (a == b) b = (b + 1) % count;
  if (a > b) std::swap(a, b);
  locks[a].lock();
  locks[b].lock();
  Touch(&data[a]);
  Touch(&data[b]);
  locks[b].unlock();
  locks[a].unlock();
}

void W4(long n, int threads) {
  std::unique_ptr<Mutex[]> locks(new Mutex[kW4Locks]);
  std::unique_ptr<long[]> data(new long[kW4Locks]());
  int64_t ns = RunThreads(threads, n, [&](int t, long iters, PerThread&) {
    // xorshift64: a fixed sequence per thread; warm-up and timed phase continue it.
    thread_local uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1);
    for (long i = 0; i < iters; ++i) LockRandomPair(locks.get(), data.get(), kW4Locks, x);
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

// Ping-pong: the main side sets turn=1 and notifies; the echo thread waits for it, sets turn=0
// and notifies back. Each notifier stamps the time just before notify; the woken thread reads
// the clock when its wait returns: wake latency.
void W5(long n) {
  Mutex mu;
  CondVar to_echo, to_main;
  int turn = 0;  // guarded by mu
  bool stop = false;
  int64_t stamp = 0;
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(2 * (n + std::min(kWarmup, n))) + 2);
  auto record = [&](std::vector<int64_t>* out) {
    if (out != nullptr) out->push_back(NowNs() - stamp);
  };
  std::atomic<bool> timing{false};
  std::thread echo([&] {
    std::unique_lock<Mutex> lk(mu);
    for (;;) {
      while (turn != 1 && !stop) to_echo.wait(lk);
      if (stop) return;
      record(timing.load(std::memory_order_relaxed) ? &lat : nullptr);
      turn = 0;
      stamp = NowNs();
      to_main.notify_one();
    }
  });
  auto rounds = [&](long k) {
    std::unique_lock<Mutex> lk(mu);
    for (long i = 0; i < k; ++i) {
      turn = 1;
      stamp = NowNs();
      to_echo.notify_one();
      while (turn != 0) to_main.wait(lk);
      record(timing.load(std::memory_order_relaxed) ? &lat : nullptr);
    }
  };
  rounds(std::min(kWarmup, n));
  timing.store(true);
  int64_t start = NowNs();
  rounds(n);
  int64_t ns = NowNs() - start;
  {
    std::lock_guard<Mutex> lk(mu);
    stop = true;
  }
  to_echo.notify_one();
  echo.join();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))];
  };
  PrintNsPerOp(ns, static_cast<double>(n),
               "wake_p50_ns=" + std::to_string(pct(0.50)) + " wake_p99_ns=" +
                   std::to_string(pct(0.99)));
}

void W6(long n, int threads) {
  SharedMutex rw;
  long value = 0;
  int64_t ns = RunThreads(threads, n, [&](int, long iters, PerThread& me) {
    for (long i = 0; i < iters; ++i) {
      if ((i & 63) == 63) {
        rw.lock();
        Touch(&value);
        rw.unlock();
      } else {
        rw.lock_shared();
        me.sink += value;
        rw.unlock_shared();
      }
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

void W7(long n, int threads) {
  std::vector<std::unique_ptr<Mutex[]>> chains;
  chains.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) chains.emplace_back(new Mutex[kW7Depth]);
  int64_t ns = RunThreads(threads, n, [&](int t, long iters, PerThread& me) {
    Mutex* c = chains[static_cast<size_t>(t)].get();
    for (long i = 0; i < iters; ++i) {
      for (int d = 0; d < kW7Depth; ++d) c[d].lock();
      Touch(&me.sink);
      for (int d = kW7Depth; d-- > 0;) c[d].unlock();
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads * kW7Depth);
}

void W8(long n, int threads) {
  int64_t ns = RunThreads(threads, n, [&](int, long iters, PerThread& me) {
    for (long i = 0; i < iters; ++i) {
      auto m = std::make_unique<Mutex>();
      m->lock();
      Touch(&me.sink);
      m->unlock();
    }
  });
  PrintNsPerOp(ns, static_cast<double>(n) * threads);
}

long RssBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

// Runs on its own thread (see the header: glibc's single-thread shortcut).
int Scale(long live, int depth, long new_edges) {
  if (new_edges <= 0) {
    std::fprintf(stderr, "workloads: scale needs LIVE_LOCKS > DEPTH + %d\n", kScaleInner);
    return 2;
  }
  std::thread worker([&] {
    // The constructors write every lock: the array is resident before the measurement.
    std::unique_ptr<Mutex[]> locks(new Mutex[static_cast<size_t>(live)]);
    const long rss0 = RssBytes();
    int64_t t0 = NowNs();
    for (long i = 0; i < live; ++i) {  // the first touch: the tool learns every lock
      locks[i].lock();
      locks[i].unlock();
    }
    const int64_t first_touch = NowNs() - t0;
    const long rss1 = RssBytes();
    for (int d = 0; d < depth; ++d) locks[d].lock();
    Mutex* inner = &locks[depth];
    auto known_pass = [&](long ops) {
      for (long i = 0; i < ops; ++i) {
        Mutex& m = inner[i % kScaleInner];
        m.lock();
        m.unlock();
      }
    };
    known_pass(kScaleInner * 4L);  // learn the edges held -> inner
    const long known_ops = std::max<long>(kScaleInner * 400L, 200000L);
    t0 = NowNs();
    known_pass(known_ops);
    int64_t known = NowNs() - t0;
    Mutex* fresh = &locks[depth + kScaleInner];
    const long rss2 = RssBytes();
    t0 = NowNs();
    for (long i = 0; i < new_edges; ++i) {
      fresh[i].lock();
      fresh[i].unlock();
    }
    int64_t fresh_ns = NowNs() - t0;
    const long rss3 = RssBytes();
    for (int d = depth; d-- > 0;) locks[d].unlock();
    std::printf(
        "first_touch_ns=%.1f known_ns=%.3f new_edge_ns=%.1f rss_per_lock_bytes=%.1f rss_per_edge_bytes=%.1f "
        "live=%ld depth=%d new_edges=%ld\n",
        static_cast<double>(first_touch) / static_cast<double>(live),
        static_cast<double>(known) / static_cast<double>(known_ops),
        static_cast<double>(fresh_ns) / static_cast<double>(new_edges),
        static_cast<double>(rss1 - rss0) / static_cast<double>(live),
        static_cast<double>(rss3 - rss2) / static_cast<double>(new_edges), live, depth, new_edges);
  });
  worker.join();
  return 0;
}

constexpr int kPairsLocks = 5000;

// Runs body(t) on `threads` threads started together; the wall time from the first one's start
// to the last one's end, in ns (each thread stamps its own start and end).
template <class Body>
int64_t RunAll(int threads, Body body) {
  StartBarrier barrier(threads);
  std::vector<int64_t> start(static_cast<size_t>(threads)), end(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      barrier.ArriveAndWait();
      start[static_cast<size_t>(t)] = NowNs();
      body(t);
      end[static_cast<size_t>(t)] = NowNs();
    });
  }
  for (auto& w : workers) w.join();
  return *std::max_element(end.begin(), end.end()) - *std::min_element(start.begin(), start.end());
}

void Pairs(long n, int threads) {
  std::unique_ptr<Mutex[]> locks(new Mutex[kPairsLocks]);
  std::unique_ptr<long[]> data(new long[kPairsLocks]());
  int64_t ns = RunAll(threads, [&](int t) {
    uint64_t x = 0x2545F4914F6CDD1Dull * static_cast<uint64_t>(t + 1);
    for (long i = 0; i < n; ++i) LockRandomPair(locks.get(), data.get(), kPairsLocks, x);
  });
  std::printf("ns_per_op=%.3f ops=%.0f elapsed_ms=%.3f\n",
              static_cast<double>(ns) / (static_cast<double>(n) * threads),
              static_cast<double>(n) * threads, static_cast<double>(ns) / 1e6);
}

void Hold(long locks_n, long rounds) {
  std::unique_ptr<Mutex[]> locks(new Mutex[static_cast<size_t>(locks_n)]);
  int64_t first = 0;
  int64_t ns = RunAll(1, [&](int) {
    for (long r = 0; r < rounds; ++r) {
      const int64_t start = NowNs();
      for (long i = 0; i < locks_n; ++i) locks[i].lock();
      for (long i = locks_n; i-- > 0;) locks[i].unlock();
      if (r == 0) first = NowNs() - start;
    }
  });
  std::printf("ns_per_op=%.3f ops=%.0f elapsed_ms=%.3f first_round_ms=%.3f\n",
              static_cast<double>(ns) / (static_cast<double>(locks_n) * rounds),
              static_cast<double>(locks_n) * rounds, static_cast<double>(ns) / 1e6,
              static_cast<double>(first) / 1e6);
}

long Faults() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt + u.ru_majflt;
}

constexpr long kFirstMaxLocks = 64;
Mutex g_first_locks[kFirstMaxLocks];

int First(long locks_n) {
  if (locks_n < 2 || locks_n > kFirstMaxLocks) return 2;
  int64_t us[kFirstMaxLocks];
  long faults[kFirstMaxLocks];
  for (long i = 0; i < locks_n; ++i) {
    const long f0 = Faults();
    const int64_t t0 = NowNs();
    g_first_locks[i].lock();
    us[i] = NowNs() - t0;
    faults[i] = Faults() - f0;
  }
  for (long i = locks_n; i-- > 0;) g_first_locks[i].unlock();
  // What one page fault on fresh anonymous memory costs on this machine, for scale (about 0.2 us
  // on bare metal; far more in some virtual machines): 64 pages, one write each.
  constexpr size_t kProbePages = 64;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::unique_ptr<char[]> probe(new char[kProbePages * page]);  // new[] of char: not touched
  const int64_t p0 = NowNs();
  for (size_t i = 0; i < kProbePages; ++i) static_cast<volatile char*>(probe.get())[i * page] = 1;
  const double fault_us = static_cast<double>(NowNs() - p0) / 1e3 / kProbePages;
  std::vector<int64_t> rest_us(us + 2, us + locks_n);
  std::vector<long> rest_faults(faults + 2, faults + locks_n);
  std::sort(rest_us.begin(), rest_us.end());
  std::sort(rest_faults.begin(), rest_faults.end());
  const double next_us = rest_us.empty() ? 0 : static_cast<double>(rest_us[rest_us.size() / 2]);
  const long next_faults = rest_faults.empty() ? 0 : rest_faults[rest_faults.size() / 2];
  std::printf("first_lock_us=%.1f first_edge_us=%.1f next_lock_us=%.1f first_lock_faults=%ld "
              "first_edge_faults=%ld next_lock_faults=%ld page_fault_us=%.2f locks=%ld\n",
              static_cast<double>(us[0]) / 1e3, static_cast<double>(us[1]) / 1e3, next_us / 1e3,
              faults[0], faults[1], next_faults, fault_us, locks_n);
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: workloads w1|w2|w3|w4|w5|w6|w7|w8 ITERATIONS [THREADS]\n"
               "       workloads w1main ITERATIONS\n"
               "       workloads scale LIVE_LOCKS DEPTH\n"
               "       workloads pairs ITERATIONS [THREADS]\n"
               "       workloads hold LOCKS [ROUNDS]\n"
               "       workloads first LOCKS (2..64)\n"
               "  prints key=value pairs; see bench/workloads.cc\n");
  return 2;
}

long ParsePositive(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (end == s || *end != '\0' || v <= 0) ? -1 : v;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3 || argc > 4) return Usage();
  const std::string w = argv[1];
  const long n = ParsePositive(argv[2]);
  const long arg3 = argc == 4 ? ParsePositive(argv[3]) : 0;
  if (n < 0 || arg3 < 0) return Usage();
  auto threads = [&](int def) { return argc == 4 ? static_cast<int>(arg3) : def; };
  if (w == "w1") W1(n, threads(1));
  else if (w == "w1main") W1Main(n);
  else if (w == "w2") W2(n, threads(1));
  else if (w == "w3") W3(n, threads(4));
  else if (w == "w4") W4(n, threads(2));
  else if (w == "w5") W5(n);
  else if (w == "w6") W6(n, threads(4));
  else if (w == "w7") W7(n, threads(1));
  else if (w == "w8") W8(n, threads(1));
  else if (w == "pairs") Pairs(n, threads(4));
  else if (w == "hold") Hold(n, argc == 4 ? arg3 : 1);
  else if (w == "first") {
    if (argc != 3 || First(n) != 0) return Usage();
  }
  else if (w == "scale") {
    if (argc != 4) return Usage();
    // New edges: as many as there are untouched locks, at most 5,000.
    return Scale(n, static_cast<int>(arg3), std::min<long>(5000, n - arg3 - kScaleInner));
  } else {
    return Usage();
  }
  return 0;
} catch (const std::exception& e) {  // thread creation or allocation failed
  std::fprintf(stderr, "workloads: %s\n", e.what());
  return 1;
}
