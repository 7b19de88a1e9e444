// churn_2m: 2,000,000 short-lived heap mutexes (new, lock, unlock, delete), split over two
// threads, each locked while holding the long-lived g_registry_mu (always registry -> heap).
// Every heap mutex is a new lock, and freed addresses are reused at once: the auditor must
// forget dead locks and their edges, or its memory grows without bound (DESIGN.md §8).
// Usage: churn_2m [MAX_RSS_MB]
// Prints the process's maximum resident set size at the end.
// Exit status: 0, or 3 when the maximum RSS exceeds MAX_RSS_MB.
// Expected under the shim: no finding, and max RSS under the limit.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

std::mutex g_registry_mu;

namespace {

constexpr long kTotalMutexes = 2'000'000;
constexpr int kThreads = 2;

void Churn(long count) {
  for (long i = 0; i < count; ++i) {
    auto* mu = new std::mutex;
    {
      std::lock_guard<std::mutex> registry(g_registry_mu);
      mu->lock();
      mu->unlock();
    }
    delete mu;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long limit_mb = -1;
  if (argc == 2) {
    char* end = nullptr;
    limit_mb = std::strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || limit_mb <= 0) {
      std::fprintf(stderr, "churn_2m: bad MAX_RSS_MB '%s'\n", argv[1]);
      return 2;
    }
  } else if (argc > 2) {
    std::fprintf(stderr, "usage: %s [MAX_RSS_MB]\n", argv[0]);
    return 2;
  }

  std::thread threads[kThreads];
  for (auto& thread : threads) thread = std::thread(Churn, kTotalMutexes / kThreads);
  for (auto& thread : threads) thread.join();

  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) {
    std::perror("churn_2m: getrusage");
    return 2;
  }
  const long max_rss_mb = usage.ru_maxrss / 1024;  // ru_maxrss is in KiB on Linux
  std::printf("churn_2m: %ld mutexes, max RSS %ld MB", kTotalMutexes, max_rss_mb);
  if (limit_mb > 0) std::printf(" (limit %ld MB)", limit_mb);
  std::printf("\n");
  return limit_mb > 0 && max_rss_mb > limit_mb ? 3 : 0;
}
