// cycle3: three workers, three locks, each worker takes two of them in a ring (a then b, b then
// c, c then a). The workers start 30 ms apart and hold their pair for microseconds, so the ring
// never closes by itself; under `lockaudit confirm` each pauses between its two locks until all
// three hold one, and the program deadlocks.
#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

std::mutex a, b, c;
int shared_counter = 0;

void Pair(std::mutex& first, std::mutex& second) {
  std::lock_guard<std::mutex> outer(first);
  std::lock_guard<std::mutex> inner(second);
  ++shared_counter;
}

int main() {
  std::thread w1([] { Pair(a, b); });
  std::thread w2([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Pair(b, c);
  });
  std::thread w3([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    Pair(c, a);
  });
  w1.join();
  w2.join();
  w3.join();
  std::printf("counter %d\n", shared_counter);
  return 0;
}
