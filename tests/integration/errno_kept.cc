// errno_kept: free() of memory that held a lock (the shim forgets the lock, taking its registry
// lock) and lock/unlock must leave errno as the program set it. Exits 1 if errno changed.
#include <cerrno>
#include <cstdio>
#include <mutex>

int main() {
  for (int i = 0; i < 1000; ++i) {
    auto* mu = new std::mutex;
    mu->lock();
    errno = EEXIST;
    mu->unlock();
    delete mu;  // free() of a page that holds audited locks
    if (errno != EEXIST) {
      std::fprintf(stderr, "errno_kept: errno changed to %d\n", errno);
      return 1;
    }
  }
  std::puts("errno_kept: errno kept");
  return 0;
}
