// fork() while another thread gives a freed lock's registry node a new life without the registry
// mutex (the node's address claimed): the child, where that thread does not exist, must still
// register a lock at that address. Through the engine's own entry points (free, then a lock at
// the same address), with the registry's test seam stopping the other thread inside its claim.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "claim_stopper.h"
#include "provider.h"
#include "registry.h"
#include "thread_state.h"
#include "tracker.h"

namespace lockaudit::core {
namespace {

TEST(ForkClaimTest, AForkDuringAnotherThreadsRebirthOfAFreedLockLeavesTheChildWorking) {
  EnsureInitialized();
  ClaimStopper stopper;
  alignas(64) static char lock_memory[64];
  const void* lock = lock_memory;
  std::thread other([&] {
    ThreadState* ts = ThisThread();
    ASSERT_NE(ts, nullptr);
    OnAcquired(*ts, lock, LockClass::kMutex, kExclusive, Site{0x3000, 0});
    OnReleased(*ts, lock, Site{0x3001, 0});
    OnRangeFreed(lock, sizeof lock_memory);  // no edges: freed without the mutex
    OnAcquired(*ts, lock, LockClass::kMutex, kExclusive, Site{0x3002, 0});  // a new lock there
    OnReleased(*ts, lock, Site{0x3003, 0});
  });
  if (!stopper.WaitUntilInside(std::chrono::seconds(5))) {
    other.join();
    FAIL() << "the new lock did not take the freed lock's node over without the mutex";
  }
  const pid_t child = fork();
  if (child == 0) {
    // Only this thread exists here; the other one's claim was copied. A new lock at the same
    // address waits for that claim to end, for ever, unless the fork handler gave it back.
    ThreadState* ts = ThisThread();
    if (ts == nullptr) _exit(3);
    OnAcquired(*ts, lock, LockClass::kMutex, kExclusive, Site{0x3004, 0});
    OnReleased(*ts, lock, Site{0x3005, 0});
    _exit(StatsFor(lock).acquisitions >= 1 ? 0 : 4);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  pid_t done = 0;
  for (int waited_ms = 0; (done = waitpid(child, &status, WNOHANG)) == 0 && waited_ms < 10000;
       waited_ms += 10) {
    usleep(10000);
  }
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  ClaimStopper::Release();
  other.join();
  EXPECT_NE(done, 0) << "the child hung registering a lock at the claimed address";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

}  // namespace
}  // namespace lockaudit::core
