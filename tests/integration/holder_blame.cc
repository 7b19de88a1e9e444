// holder_blame: which code's holds make others wait. One thread calls Rebuild(), which holds
// `table_mu` for about 3 ms, then rests 1 ms; three threads call Lookup(), which holds it for
// about 10 us, then rest 200 us. The waits are the readers' (in Lookup), and nearly every one
// begins while Rebuild holds the lock: the waiter profile ranks Lookup first, the holder profile
// (`lockaudit profile --by holder`) Rebuild. The threads rest outside the lock so that the two
// cores of a test machine are not oversubscribed (a holder preempted in a 10 us hold would hold
// for a scheduler tick).
// usage: holder_blame [REBUILDS]
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex table_mu;
long table_version = 0;

using Clock = std::chrono::steady_clock;

void Spin(std::chrono::microseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

__attribute__((noinline)) long Lookup() {
  std::lock_guard<std::mutex> lock(table_mu);
  Spin(std::chrono::microseconds(10));
  return table_version;
}

__attribute__((noinline)) void Rebuild() {
  std::lock_guard<std::mutex> lock(table_mu);
  Spin(std::chrono::microseconds(3000));
  ++table_version;
}

}  // namespace

int main(int argc, char** argv) {
  const int rebuilds = argc > 1 ? std::atoi(argv[1]) : 60;
  std::atomic<bool> done{false};
  std::atomic<long> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        Lookup();
        ++lookups;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  std::thread rebuilder([&] {
    for (int i = 0; i < rebuilds; ++i) {
      Rebuild();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    done = true;
  });
  rebuilder.join();
  for (std::thread& r : readers) r.join();
  std::printf("version %ld, %ld lookups\n", table_version, lookups.load());
  return 0;
}
