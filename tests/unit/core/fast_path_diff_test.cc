// Differential test of the two ways an acquisition is recorded (issue 14): the inline fast path
// (hot_path.h: FastAcquireCommon, FastAcquire, FastRelease, which both front-ends run first)
// falling back to the out-of-line provider calls, against the provider calls alone. Over
// randomized sequences of lock / trylock / shared lock / recursive re-lock / unlock (in and out
// of order), both must leave the same held stack after every operation, and the same
// acquisition counts and lock-order edges at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hot_path.h"
#include "provider.h"
#include "thread_state.h"
#include "tracker.h"

namespace lockaudit::core {
namespace {

constexpr int kLocks = 8;  // 0-4 mutexes, 5 a recursive mutex, 6-7 rwlocks

LockClass ClassOf(int i) {
  return i == 5 ? LockClass::kRecursiveMutex : i >= 6 ? LockClass::kRwLock : LockClass::kMutex;
}

enum class Kind { kLock, kTry, kShared, kUnlock };
struct Op {
  Kind kind;
  int lock;  // for kUnlock: which held entry (an index into the held stack, from the top)
};

// A sequence a program could run: no double lock of a non-recursive lock, no write lock of a
// read-held rwlock, blocking acquisitions in index order, unlocks only of held locks (in and out
// of order).
std::vector<Op> RandomOps(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  std::vector<Op> ops;
  std::vector<std::pair<int, bool>> held;  // (lock, shared)
  for (int k = 0; k < count; ++k) {
    if (!held.empty() && (rng() % 100 < 40 || held.size() > 6)) {
      // Mostly the innermost lock; sometimes one deeper in the stack.
      int from_top = rng() % 100 < 70 ? 0 : static_cast<int>(rng() % held.size());
      ops.push_back({Kind::kUnlock, from_top});
      held.erase(held.end() - 1 - from_top);
      continue;
    }
    const int lock = static_cast<int>(rng() % kLocks);
    auto it = std::find_if(held.begin(), held.end(), [lock](auto& h) { return h.first == lock; });
    const bool is_held = it != held.end();
    if (is_held && ClassOf(lock) == LockClass::kMutex) continue;
    // A new lock only above every held one (a program with a lock order: no cycle to report,
    // the run stays quiet); a try, or a re-lock of a held one, in any order.
    int max_held = -1;
    for (const auto& h : held) max_held = std::max(max_held, h.first);
    const bool in_order = lock > max_held;
    Kind kind = Kind::kLock;
    if (ClassOf(lock) == LockClass::kRwLock) {
      if (is_held && !it->second) continue;  // write-held: no second acquisition
      kind = is_held || rng() % 2 ? Kind::kShared : Kind::kLock;
      if (is_held && kind == Kind::kLock) continue;
    } else if (!is_held && (rng() % 100 < 25 || !in_order)) {
      kind = Kind::kTry;
    }
    if (!is_held && !in_order && kind != Kind::kTry) continue;
    ops.push_back({kind, lock});
    held.push_back({lock, kind == Kind::kShared});
  }
  for (size_t k = held.size(); k-- > 0;) ops.push_back({Kind::kUnlock, 0});
  return ops;
}

// The thread's held stack in terms of lock indices: (index, shared, recursion) per entry.
std::vector<std::string> HeldView(const ThreadState& ts, const char* base) {
  std::vector<std::string> v;
  for (uint32_t i = 0; i < ts.held_count; ++i) {
    const HeldLock& h = ts.held[i];
    const long index = (static_cast<const char*>(h.addr) - base) / 64;
    v.push_back(std::to_string(index) + ((h.flags & kShared) ? "r" : "w") + "x" +
                std::to_string(h.recursion));
  }
  return v;
}

struct Recorded {
  std::vector<std::vector<std::string>> held_after;  // after each operation
  std::vector<uint64_t> acquisitions;                 // per lock index
  std::set<std::pair<int, int>> edges;                // between lock indices
};

// Runs `ops` on a new thread (a fresh thread state) against the locks at base[64 * i].
Recorded Replay(const std::vector<Op>& ops, char* base, bool fast) {
  Recorded run;
  std::thread t([&] {
    ThreadState* ts = ThisThread();
    ASSERT_NE(ts, nullptr);
    std::vector<const void*> stack;  // what the sequence holds, innermost last
    for (const Op& op : ops) {
      if (op.kind == Kind::kUnlock) {
        const void* lock = stack[stack.size() - 1 - op.lock];
        stack.erase(stack.end() - 1 - op.lock);
        const Site site{0x2000 + static_cast<uintptr_t>((static_cast<const char*>(lock) - base) / 64), 0};
        if (!fast || !FastRelease(*ts, lock, 0)) OnReleased(*ts, lock, site);
      } else {
        const void* lock = base + 64 * op.lock;
        const uint32_t flags = op.kind == Kind::kTry      ? kTry
                               : op.kind == Kind::kShared ? kShared
                                                          : kExclusive;
        const Site site{0x1000 + static_cast<uintptr_t>(op.lock), 0};
        const bool recorded =
            fast && (FastAcquireCommon(*ts, lock, flags, site) || FastAcquire(*ts, lock, flags, site));
        if (!recorded) OnAcquired(*ts, lock, ClassOf(op.lock), flags, site);
        stack.push_back(lock);
      }
      run.held_after.push_back(HeldView(*ts, base));
    }
  });
  t.join();
  for (int i = 0; i < kLocks; ++i) run.acquisitions.push_back(StatsFor(base + 64 * i).acquisitions);
  GraphSnapshot g = SnapshotGraph();
  auto index_of = [&](NodeId id) -> int {
    for (int i = 0; i < kLocks; ++i) {
      if (IdOf(base + 64 * i) == id) return i;
    }
    return -1;
  };
  for (const auto& [from, to] : g.edges) {
    const int a = index_of(from), b = index_of(to);
    if (a >= 0 && b >= 0) run.edges.insert({a, b});
  }
  return run;
}

TEST(FastPathDiffTest, FastAndFullPathsRecordTheSame) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    const std::vector<Op> ops = RandomOps(seed, 1500);
    // Each variant its own locks (cache-line apart), so neither learns from the other.
    alignas(64) static char fast_locks[64 * kLocks], full_locks[64 * kLocks];
    for (int i = 0; i < kLocks; ++i) {
      OnCreate(fast_locks + 64 * i, ClassOf(i), nullptr, kNoLevel);
      OnCreate(full_locks + 64 * i, ClassOf(i), nullptr, kNoLevel);
    }
    const Recorded fast = Replay(ops, fast_locks, true);
    const Recorded full = Replay(ops, full_locks, false);
    ASSERT_EQ(fast.held_after.size(), ops.size());
    for (size_t k = 0; k < ops.size(); ++k) {
      ASSERT_EQ(fast.held_after[k], full.held_after[k]) << "seed " << seed << ", operation " << k;
    }
    EXPECT_EQ(fast.acquisitions, full.acquisitions) << "seed " << seed;
    EXPECT_EQ(fast.edges, full.edges) << "seed " << seed;
    EXPECT_FALSE(full.edges.empty()) << "seed " << seed << ": the sequence nests no locks";
    uint64_t total = 0;
    for (uint64_t a : full.acquisitions) total += a;
    EXPECT_GT(total, 500u) << "seed " << seed;
    // The next seed starts from fresh locks: these go, with their edges and counts.
    for (int i = 0; i < kLocks; ++i) {
      OnDestroy(nullptr, fast_locks + 64 * i, Site{}, true);
      OnDestroy(nullptr, full_locks + 64 * i, Site{}, true);
    }
  }
}

}  // namespace
}  // namespace lockaudit::core
