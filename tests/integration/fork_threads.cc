// fork_threads: four threads hammer locks (g_work_mu -> g_stats_mu nested, plus one mutex of
// their own) while the main thread forks repeatedly. The main thread holds g_work_mu across
// fork(), so no other thread holds g_work_mu or g_stats_mu at that instant; the child, where only
// the forking thread survives, releases g_work_mu, takes g_work_mu -> g_stats_mu -> g_child_mu in
// the threads' order, and _exit(0)s. The parent waits for every child.
// Exit status: 0 when every child exited 0, 1 otherwise.
// Expected under the shim: no finding and no hang.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_work_mu;
std::mutex g_stats_mu;  // only ever taken while holding g_work_mu
std::mutex g_child_mu;
std::mutex g_worker_mu[4];

namespace {

constexpr int kWorkers = 4;
constexpr int kForks = 20;

std::atomic<bool> stop{false};
long shared_counter = 0;  // guarded by g_stats_mu

void Hammer(int index) {
  long own_counter = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    {
      std::lock_guard<std::mutex> work(g_work_mu);
      std::lock_guard<std::mutex> stats(g_stats_mu);
      ++shared_counter;
    }
    std::lock_guard<std::mutex> own(g_worker_mu[index]);
    ++own_counter;
  }
}

// Runs in the child: only async-signal-safe work besides the lock calls, then _exit.
[[noreturn]] void ChildMain() {
  g_work_mu.unlock();  // inherited from the forking thread, which is this thread
  g_work_mu.lock();
  g_stats_mu.lock();
  g_child_mu.lock();
  g_child_mu.unlock();
  g_stats_mu.unlock();
  g_work_mu.unlock();
  _exit(0);
}

}  // namespace

int main() {
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) workers.emplace_back(Hammer, i);

  int failed_children = 0;
  for (int i = 0; i < kForks; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    g_work_mu.lock();
    const pid_t pid = fork();
    if (pid == 0) ChildMain();
    g_work_mu.unlock();
    if (pid < 0) {
      std::perror("fork_threads: fork");
      ++failed_children;
      continue;
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "fork_threads: child %d failed (status 0x%x)\n", static_cast<int>(pid),
                   static_cast<unsigned>(status));
      ++failed_children;
    }
  }

  stop.store(true, std::memory_order_relaxed);
  for (auto& worker : workers) worker.join();
  std::printf("fork_threads: %d forks, %ld shared increments\n", kForks, shared_counter);
  return failed_children == 0 ? 0 : 1;
}
