// metrics_demo: a small service-like program for the Prometheus exporter (README "Metrics").
// Plain std:: and pthread code, nothing of lockaudit: run it under the shim,
//
//   build/bin/lockaudit run --prometheus 127.0.0.1:9464 -- build/bin/metrics_demo 60
//
// and every DESIGN.md §6 lock family has data: four workers contend on a queue lock; a stats
// lock is taken uncontended; a heap lock per shard is named by its lock site; two threads play
// condition-variable ping-pong (fast wakes); a notifier signals while it still holds the mutex
// and then works (slow wakes: the woken waiter cannot run until the mutex is free); a flusher
// holds a lock for STALL_HOLD_MS every 3 s while a reader waits for it (hold and wait stalls
// with LOCKAUDIT_STALL_MS below that); and start-up takes two config locks in both orders in one
// thread (a potential deadlock: one lock_order_cycle finding).
//
// Usage: metrics_demo [SECONDS=30] [STALL_HOLD_MS=1500]. Prints the work done at the end.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_queue_mu;                                    // hot: contended by the workers
pthread_mutex_t g_stats_mu = PTHREAD_MUTEX_INITIALIZER;   // taken often, rarely contended
std::mutex g_config_mu, g_cache_mu;                       // inverted at start-up
std::mutex g_flush_mu;                                    // held long by the flusher
std::mutex g_pingpong_mu;
std::condition_variable g_ping_cv, g_pong_cv;
std::mutex g_slow_mu;
std::condition_variable g_slow_cv;

namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> g_stop{false};
std::deque<int> g_queue;
unsigned long g_stats_items = 0;

struct Shard {
  std::mutex mu;  // heap lock: named heap@<first lock site>
  unsigned long value = 0;
};

void Spin(int iterations) {
  for (volatile int i = 0; i < iterations; i = i + 1) {
  }
}

void LoadConfig() {  // lock order config -> cache
  std::lock_guard<std::mutex> config(g_config_mu);
  std::lock_guard<std::mutex> cache(g_cache_mu);
}

void WarmCache() {  // lock order cache -> config: the inversion (same thread, never hangs)
  std::lock_guard<std::mutex> cache(g_cache_mu);
  std::lock_guard<std::mutex> config(g_config_mu);
}

void Worker(int id, std::vector<std::unique_ptr<Shard>>* shards, std::atomic<unsigned long>* done) {
  unsigned long n = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    int item;
    {
      std::lock_guard<std::mutex> lock(g_queue_mu);
      g_queue.push_back(id);
      item = g_queue.front();
      g_queue.pop_front();
      Spin(200);  // work under the lock: contention
    }
    Shard& shard = *(*shards)[(n + item) % shards->size()];
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      shard.value += item;
    }
    if (n % 16 == 0) {
      pthread_mutex_lock(&g_stats_mu);
      ++g_stats_items;
      pthread_mutex_unlock(&g_stats_mu);
    }
    Spin(400);  // work outside the lock
    ++n;
  }
  *done += n;
}

void PingPong(bool ping, std::atomic<unsigned long>* rounds) {
  static bool ball_at_ping = true;
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::unique_lock<std::mutex> lock(g_pingpong_mu);
    std::condition_variable& mine = ping ? g_ping_cv : g_pong_cv;
    std::condition_variable& other = ping ? g_pong_cv : g_ping_cv;
    if (!mine.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return ball_at_ping == ping || g_stop.load(); })) {
      continue;
    }
    ball_at_ping = !ping;
    if (ping) ++*rounds;
    other.notify_one();
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Signals while still holding the mutex, then works for 20 ms before unlocking: the waiter's
// wake latency includes that work (the anti-pattern the wake-latency histogram shows).
void SlowNotifier() {
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<std::mutex> lock(g_slow_mu);
    g_slow_cv.notify_one();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  g_slow_cv.notify_all();
}

void SlowWaiter(std::atomic<unsigned long>* wakes) {
  std::unique_lock<std::mutex> lock(g_slow_mu);
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (g_slow_cv.wait_for(lock, std::chrono::milliseconds(500)) == std::cv_status::no_timeout) ++*wakes;
  }
}

void Flusher(int hold_ms) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    {
      std::lock_guard<std::mutex> lock(g_flush_mu);
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    }
    for (int i = 0; i < 30 && !g_stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void FlushReader() {
  while (!g_stop.load(std::memory_order_relaxed)) {
    { std::lock_guard<std::mutex> lock(g_flush_mu); }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? atoi(argv[1]) : 30;
  const int stall_hold_ms = argc > 2 ? atoi(argv[2]) : 1500;
  if (seconds <= 0 || stall_hold_ms <= 0) {
    fprintf(stderr, "usage: metrics_demo [SECONDS=30] [STALL_HOLD_MS=1500]\n");
    return 2;
  }
  LoadConfig();
  WarmCache();

  std::vector<std::unique_ptr<Shard>> shards;
  shards.reserve(4);
  for (int i = 0; i < 4; ++i) shards.push_back(std::make_unique<Shard>());
  std::atomic<unsigned long> items{0}, rounds{0}, slow_wakes{0};
  std::vector<std::thread> threads;
  threads.reserve(10);  // 4 workers and the 6 below
  for (int i = 0; i < 4; ++i) threads.emplace_back(Worker, i, &shards, &items);
  threads.emplace_back(PingPong, true, &rounds);
  threads.emplace_back(PingPong, false, &rounds);
  threads.emplace_back(SlowWaiter, &slow_wakes);
  threads.emplace_back(SlowNotifier);
  threads.emplace_back(Flusher, stall_hold_ms);
  threads.emplace_back(FlushReader);

  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  g_stop = true;
  g_slow_cv.notify_all();
  for (std::thread& t : threads) t.join();
  printf("metrics_demo: %lu items, %lu ping-pong rounds, %lu slow wakes in %d s\n", items.load(),
         rounds.load(), slow_wakes.load(), seconds);
  return 0;
}
