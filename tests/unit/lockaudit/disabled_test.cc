// With LOCKAUDIT_ENABLED=0 the instrumented types are the std:: types at zero cost: same size,
// no call into liblockaudit (this test does not link it), and they still lock.
#define LOCKAUDIT_ENABLED 0
#include <lockaudit/mutex.h>

#include <gtest/gtest.h>

#include <shared_mutex>
#include <thread>

static_assert(sizeof(lockaudit::mutex) == sizeof(std::mutex));
static_assert(sizeof(lockaudit::shared_mutex) == sizeof(std::shared_mutex));
static_assert(sizeof(lockaudit::recursive_mutex) == sizeof(std::recursive_mutex));
static_assert(sizeof(lockaudit::timed_mutex) == sizeof(std::timed_mutex));
static_assert(sizeof(lockaudit::condition_variable) == sizeof(std::condition_variable));

TEST(DisabledTest, TypesStillLock) {
  lockaudit::mutex m("ignored", 3);
  lockaudit::condition_variable cv;
  int value = 0;
  std::thread t([&] {
    std::lock_guard l(m);
    value = 1;
    cv.notify_one();
  });
  {
    std::unique_lock l(m);
    cv.wait(l, [&] { return value == 1; });
    EXPECT_FALSE(m.try_lock());
    lockaudit::assert_held(m);  // compiled out
  }
  t.join();
  lockaudit::shared_mutex s;
  std::shared_lock r(s);
  EXPECT_FALSE(s.try_lock());
  EXPECT_FALSE(lockaudit::is_held(s)) << "no engine: nothing is known to be held";
}

// nonblocking_scope compiles to nothing (this binary does not link liblockaudit).
TEST(DisabledTest, NonblockingScopeIsANoOp) {
  lockaudit::mutex m;
  lockaudit::nonblocking_scope loop;
  std::lock_guard<lockaudit::mutex> g(m);
  EXPECT_FALSE(lockaudit::is_held(m));
}
