// lock_churn: a worker that takes requests off a queue (queue_mu) and serves each with a cache
// whose Get() and Update() each lock the same mutex, called back to back (cache_mu released and
// taken again at once, 20000 times), next to code that does not churn: a request served holding
// the lock across both steps, one with another lock taken between the steps, and a loop that
// takes a lock at one site. Expected under the shim: one lock_churn finding for `cache_mu`
// naming Get and Update (this file's lines); with the argument "clean" only the code that does
// not churn runs: no finding.
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

std::mutex cache_mu;
std::mutex stats_mu;
std::mutex queue_mu;
std::map<int, long> cache;
long hits, queued;

__attribute__((noinline)) long Get(int key) {
  std::lock_guard<std::mutex> lock(cache_mu);
  auto it = cache.find(key);
  return it == cache.end() ? 0 : it->second;
}

__attribute__((noinline)) void Update(int key, long value) {
  std::lock_guard<std::mutex> lock(cache_mu);
  cache[key] = value;
}

// The churn: Get, then Update, each taking cache_mu.
__attribute__((noinline)) void Increment(int key) { Update(key, Get(key) + 1); }

// No churn: one acquisition for both steps.
__attribute__((noinline)) void IncrementHeld(int key) {
  std::lock_guard<std::mutex> lock(cache_mu);
  ++cache[key];
}

// No churn: another lock between the two acquisitions.
__attribute__((noinline)) void IncrementCounted(int key) {
  long v = Get(key);
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++hits;
  }
  Update(key, v + 1);
}

// No churn: a loop taking one lock at one site (a worker loop).
__attribute__((noinline)) void Enqueue(int n) {
  for (int i = 0; i < n; ++i) {
    std::lock_guard<std::mutex> lock(queue_mu);
    ++queued;
  }
}

// The next request (queue_mu: between two requests' cache accesses there is another lock).
__attribute__((noinline)) int Next() {
  std::lock_guard<std::mutex> lock(queue_mu);
  return static_cast<int>(--queued % 64);
}

int main(int argc, char** argv) {
  const bool clean = argc > 1 && std::strcmp(argv[1], "clean") == 0;
  std::thread worker([clean] {
    Enqueue(60000);
    for (int i = 0; i < 20000; ++i) {
      if (!clean) Increment(Next());
      IncrementHeld(Next());
      IncrementCounted(Next());
    }
  });
  worker.join();
  std::printf("cache %zu, hits %ld, queued %ld\n", cache.size(), hits, queued);
  return 0;
}
