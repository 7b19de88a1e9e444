// tbb_pool_block: oneTBB tasks that serialise on one mutex.
//
// A parallel_for over a histogram takes one global mutex for every element: the worker threads
// of the pool queue up behind each other and block in the kernel, so a "parallel" loop runs one
// element at a time and the pool's threads are hostages of the lock. lockaudit::tbb_observer
// marks the arena's worker threads as non-blocking contexts: the first worker that blocks on the
// contended lock is reported as blocking_in_nonblocking, with the task's stack.
//
//   build/bin/lockaudit run -- build/bin/tbb_pool_block
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include "lockaudit/tbb.h"

std::mutex g_histogram_mu;

namespace {
// Stands for real per-element work (parsing, hashing) that was put inside the lock.
long SlowBucketOf(int i) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
  long h = i;
  while (std::chrono::steady_clock::now() < until) h = h * 2654435761L + 1;
  return static_cast<long>(static_cast<unsigned long>(i) * 2654435761u % 64);
}
}  // namespace

int main() {
  // Four threads in the pool even on a small machine (TBB defaults to one per core).
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, 4);
  std::vector<long> histogram(64, 0);
  tbb::task_arena arena(4);
  lockaudit::tbb_observer observer(arena);
  arena.execute([&] {
    tbb::parallel_for(0, 2000, [&](int i) {
      std::lock_guard<std::mutex> lock(g_histogram_mu);  // every task, every element
      histogram[static_cast<size_t>(SlowBucketOf(i))] += 1;
    });
  });
  long total = 0;
  for (long v : histogram) total += v;
  std::printf("tbb_pool_block: %ld elements counted\n", total);
  return total == 2000 ? 0 : 1;
}
