// A test binary whose last test deadlocks for real (two threads it spawned, each holding one
// lockaudit::mutex and waiting for the other's), run by check_gtest_xml.py with
// LOCKAUDIT_ON_DEADLOCK=abort: the process must die by SIGABRT only after the listener failed
// that test, named it on stderr and wrote the XML report. Not a ctest test by itself.
#include <gtest/gtest.h>
#include <lockaudit/gtest.h>
#include <lockaudit/mutex.h>
#include <pthread.h>

#include <mutex>
#include <thread>

namespace {

TEST(DeadlockFixture, PassesBefore) { SUCCEED(); }

TEST(DeadlockFixture, ThreadsDeadlock) {
  lockaudit::mutex a("deadlock.accounts"), b("deadlock.ledger");
  pthread_barrier_t both_hold_one;
  pthread_barrier_init(&both_hold_one, nullptr, 2);
  auto take = [&](lockaudit::mutex& first, lockaudit::mutex& second) {
    std::lock_guard<lockaudit::mutex> l1(first);
    pthread_barrier_wait(&both_hold_one);
    std::lock_guard<lockaudit::mutex> l2(second);  // never returns
  };
  std::thread t1(take, std::ref(a), std::ref(b));
  std::thread t2(take, std::ref(b), std::ref(a));
  t1.join();
  t2.join();
}

}  // namespace
