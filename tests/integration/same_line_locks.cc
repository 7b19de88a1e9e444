// Four locks of one array, first taken at one line, always in index order by two threads
// (issue 14): they must get four distinct names, and `lockaudit merge` of the run must find no
// cycle (a chain locked in order has none).
#include <mutex>
#include <thread>

static std::mutex* locks = new std::mutex[4];

static void Chain() {
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 4; ++i) locks[i].lock();
    for (int i = 3; i >= 0; --i) locks[i].unlock();
  }
}

int main() {
  std::thread t1(Chain), t2(Chain);
  t1.join();
  t2.join();
  return 0;
}
