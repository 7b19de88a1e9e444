// fork_learning: three threads learn new lock-order edges all the time (each round makes 400
// heap mutexes, takes random pairs of them in address order, frees them: every pair is a new
// edge, learned in the detector's shared mode, and every free is an exclusive Forget) while the
// main thread forks 30 times. The child, where only the forking thread survives, makes 64
// mutexes and nests about 300 pairs of them (new edges: the detector must be whole and free
// there) and _exit(0)s. The
// parent waits for every child, with a 10 s limit per child (a child stuck on a lock inherited
// held is killed and counted as failed).
// Exit status: 0 when every child exited 0 in time, 1 otherwise.
// Expected under the shim: no finding and no hang.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kWorkers = 3;
constexpr int kForks = 30;
constexpr int kLocks = 400;

std::atomic<bool> stop{false};
std::atomic<long> pairs_taken{0};

void Learn(int index) {
  uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index + 1);
  while (!stop.load(std::memory_order_relaxed)) {
    std::unique_ptr<std::mutex[]> locks(new std::mutex[kLocks]);
    for (int k = 0; k < 2000; ++k) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      int a = static_cast<int>(x % kLocks), b = static_cast<int>((x >> 32) % kLocks);
      if (a == b) continue;
      if (a > b) std::swap(a, b);
      std::lock_guard<std::mutex> outer(locks[a]);
      std::lock_guard<std::mutex> inner(locks[b]);
      pairs_taken.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// Nests pairs of new mutexes in address order: new edges in every shard of the detector's edge
// tables (a shard's mutex inherited held would stop it here).
[[noreturn]] void ChildMain() {
  auto* locks = new std::mutex[64];
  for (int a = 0; a < 64; ++a) {
    for (int b = a + 1; b < 64; b += 7) {
      locks[a].lock();
      locks[b].lock();
      locks[b].unlock();
      locks[a].unlock();
    }
  }
  _exit(0);
}

// Waits for `pid` at most 10 s; kills it when it is still running then.
bool ChildExitedZero(pid_t pid) {
  for (int waited_ms = 0; waited_ms < 10000; waited_ms += 5) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (r < 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "fork_learning: child %d still running after 10 s: killed\n",
               static_cast<int>(pid));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

}  // namespace

int main() {
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) workers.emplace_back(Learn, i);
  while (pairs_taken.load() < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int failed = 0;
  for (int i = 0; i < kForks; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const pid_t pid = fork();
    if (pid == 0) ChildMain();
    if (pid < 0) {
      std::perror("fork_learning: fork");
      ++failed;
      continue;
    }
    if (!ChildExitedZero(pid)) ++failed;
  }
  stop = true;
  for (std::thread& t : workers) t.join();
  std::printf("fork_learning: %d forks, %d failed, %ld pairs taken\n", kForks, failed,
              pairs_taken.load());
  return failed == 0 ? 0 : 1;
}
