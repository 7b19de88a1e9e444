// core/native_mutex: the inline try and unlock of a default glibc mutex must be interchangeable
// with glibc's own calls on the same mutex, in every mix, also when a thread is blocked in
// glibc's lock and the inline unlock must wake it.
#include "native_mutex.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <thread>
#include <vector>

namespace lockaudit::core {
namespace {

uint32_t Tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

NativeMutexFns Glibc() {
  return {&pthread_mutex_lock, &pthread_mutex_trylock, &pthread_mutex_unlock};
}

class NativeMutexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* why = VerifyNativeMutex(Glibc());
    ASSERT_EQ(why, nullptr) << "this glibc's default mutex differs: " << why;
    ASSERT_TRUE(InlineMutexPathOn());
  }
};

TEST_F(NativeMutexTest, InlineTryLeavesWhatGlibcTrylockLeaves) {
  pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_t b = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(TryDefaultMutex(&a, Tid()), 0);
  ASSERT_EQ(pthread_mutex_trylock(&b), 0);
  EXPECT_EQ(std::memcmp(a.__size, b.__size, sizeof a.__size), 0);
  EXPECT_EQ(a.__data.__owner, static_cast<int>(Tid()));
  // Held: both the inline try and glibc's see it taken.
  EXPECT_EQ(TryDefaultMutex(&a, Tid()), EBUSY);
  EXPECT_EQ(pthread_mutex_trylock(&a), EBUSY);
  // Released by glibc after the inline try, and by the inline unlock after glibc's lock.
  EXPECT_EQ(pthread_mutex_unlock(&a), 0);
  EXPECT_EQ(UnlockDefaultMutex(&b), 0);
  const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  EXPECT_EQ(std::memcmp(a.__size, fresh.__size, sizeof a.__size), 0);
  EXPECT_EQ(std::memcmp(b.__size, fresh.__size, sizeof b.__size), 0);
}

TEST_F(NativeMutexTest, OtherMutexTypesGoToGlibc) {
  for (int type : {PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK, PTHREAD_MUTEX_ADAPTIVE_NP}) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, type);
    pthread_mutex_t m;
    pthread_mutex_init(&m, &attr);
    EXPECT_EQ(TryDefaultMutex(&m, Tid()), -1) << "type " << type;
    ASSERT_EQ(pthread_mutex_lock(&m), 0);
    EXPECT_EQ(UnlockDefaultMutex(&m), -1) << "type " << type;
    EXPECT_EQ(pthread_mutex_unlock(&m), 0);
    pthread_mutex_destroy(&m);
    pthread_mutexattr_destroy(&attr);
  }
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutex_t shared;
  pthread_mutex_init(&shared, &attr);
  EXPECT_EQ(TryDefaultMutex(&shared, Tid()), -1);  // futex calls without the private flag
  pthread_mutex_destroy(&shared);
  pthread_mutexattr_destroy(&attr);
}

TEST_F(NativeMutexTest, InlineUnlockWakesAThreadBlockedInGlibcLock) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(TryDefaultMutex(&m, Tid()), 0);
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    pthread_mutex_lock(&m);  // blocks in the kernel: the word becomes 2
    acquired = true;
    pthread_mutex_unlock(&m);
  });
  // Wait until the waiter is blocked (the word says "waiters"), then release inline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (__atomic_load_n(&m.__data.__lock, __ATOMIC_ACQUIRE) != 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(__atomic_load_n(&m.__data.__lock, __ATOMIC_ACQUIRE), 2) << "the waiter never blocked";
  EXPECT_EQ(UnlockDefaultMutex(&m), 0);
  waiter.join();  // hangs (and the test times out) if the wake was lost
  EXPECT_TRUE(acquired);
  EXPECT_EQ(TryDefaultMutex(&m, Tid()), 0);
  EXPECT_EQ(UnlockDefaultMutex(&m), 0);
}

TEST_F(NativeMutexTest, ConditionVariableWaitWorksOnAnInlineTakenMutex) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  bool ready = false;
  std::thread notifier([&] {
    pthread_mutex_lock(&m);
    ready = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&m);
  });
  ASSERT_EQ(TryDefaultMutex(&m, Tid()) == 0 ? 0 : pthread_mutex_lock(&m), 0);
  while (!ready) pthread_cond_wait(&cv, &m);  // glibc unlocks and re-locks the word itself
  EXPECT_EQ(UnlockDefaultMutex(&m), 0);
  notifier.join();
}

// Mutual exclusion across threads that mix the inline calls with glibc's, under contention.
TEST_F(NativeMutexTest, MixedCallsExcludeEachOther) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  constexpr int kThreads = 4;
  constexpr int kIterations = 50000;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint32_t tid = Tid();
      for (int i = 0; i < kIterations; ++i) {
        const bool inline_lock = (i + t) % 2 == 0;
        if (!inline_lock || TryDefaultMutex(&m, tid) != 0) pthread_mutex_lock(&m);
        EXPECT_EQ(m.__data.__owner, static_cast<int>(tid));
        ++counter;
        if ((i + t) % 3 == 0) {
          pthread_mutex_unlock(&m);
        } else {
          UnlockDefaultMutex(&m);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(counter, long{kThreads} * kIterations);
  const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  EXPECT_EQ(std::memcmp(m.__size, fresh.__size, sizeof m.__size), 0);
}

// A glibc whose mutex does not follow the protocol turns the inline path off.
int LockWithoutOwner(pthread_mutex_t* m) {
  int rc = pthread_mutex_lock(m);
  m->__data.__owner = 0;
  return rc;
}

TEST(NativeMutexProbeTest, RefusesAProtocolThatDiffers) {
  const char* why = VerifyNativeMutex({&LockWithoutOwner, &pthread_mutex_trylock,
                                       &pthread_mutex_unlock});
  EXPECT_NE(why, nullptr);
  EXPECT_FALSE(InlineMutexPathOn());
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  EXPECT_EQ(TryDefaultMutex(&m, Tid()), -1);  // off: glibc decides
  EXPECT_NE(VerifyNativeMutex({nullptr, nullptr, nullptr}), nullptr);
  EXPECT_EQ(VerifyNativeMutex(Glibc()), nullptr);  // and on again for the other tests
}

}  // namespace
}  // namespace lockaudit::core
