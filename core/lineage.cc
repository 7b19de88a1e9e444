#include "lineage.h"

#include <atomic>

#include "engine_mutex.h"
#include "hash.h"

namespace lockaudit::core::lineage {
namespace {

struct Life {
  uint32_t incarnation;  // 0: empty slot
  uint32_t tid;
  uint32_t creator;
  uint32_t creator_tid;
  uint32_t created;  // clock after the creation's tick
  uint32_t joiner;   // 0: not joined (or detached)
  uint32_t joiner_tid;
  uint32_t joined;   // clock after the join's tick
};

constexpr uint32_t kLives = 1u << 16;
constexpr uint32_t kUnjoined = 1u << 14;

struct UnjoinedThread {
  uintptr_t pthread_id;
  uint32_t birth;  // the clock of its creation: which thread it is
};

struct BirthEntry {
  uint32_t birth;
  uint32_t incarnation;
};

struct State {
  EngineMutex mu;
  std::atomic<uint32_t> clock{1};
  Life lives[kLives];
  UnjoinedThread unjoined[kUnjoined];
  BirthEntry births[kLives];  // creation clock -> the created thread's incarnation
};

State& S() {
  static State* s = new State();  // never destroyed: threads may join during exit
  return *s;
}

uint32_t UnjoinedSlot(uintptr_t pthread_id) {
  return static_cast<uint32_t>(Mix64(pthread_id)) & (kUnjoined - 1);
}

// The life of `incarnation`, or null when it is not known (never recorded, or overwritten).
const Life* Find(const State& s, uint32_t incarnation) {
  const Life& l = s.lives[incarnation & (kLives - 1)];
  return incarnation != 0 && l.incarnation == incarnation ? &l : nullptr;
}

std::string Tid(uint32_t tid) { return "tid " + std::to_string(tid); }

// Does x (the edge called `xs`) happen before y through creation and join: x's thread was
// joined by the thread that then created y's? Why, or "".
// Only whole lives: "x was taken before its thread created y's" (or "after it joined") would
// also need every later observation of x by that thread, which the engine does not see when its
// context is already known.
std::string Before(const Life* lx, const std::string& xs, const Life* ly, const std::string& ys) {
  if (lx != nullptr && ly != nullptr && lx->joiner != 0 && lx->joiner == ly->creator &&
      lx->joined < ly->created) {
    return Tid(lx->tid) + ", which took " + xs + ", was joined by " + Tid(lx->joiner_tid) +
           " before that thread created " + Tid(ly->tid) + ", which took " + ys;
  }
  return "";
}

}  // namespace

Birth OnCreate(uint32_t creator_incarnation, uint32_t creator_tid) noexcept {
  State& s = S();
  EngineLock lock(s.mu);
  return Birth{creator_incarnation, creator_tid,
               s.clock.fetch_add(1, std::memory_order_relaxed) + 1};
}

void OnStart(uint32_t incarnation, uint32_t tid, Birth birth) noexcept {
  if (incarnation == 0) return;
  State& s = S();
  EngineLock lock(s.mu);
  s.lives[incarnation & (kLives - 1)] = Life{incarnation, tid,         birth.creator, birth.creator_tid,
                                             birth.clock, 0,           0,
                                             0};
  s.births[birth.clock & (kLives - 1)] = BirthEntry{birth.clock, incarnation};
}

void OnCreated(uintptr_t pthread_id, Birth birth) noexcept {
  if (birth.clock == 0) return;
  State& s = S();
  EngineLock lock(s.mu);
  s.unjoined[UnjoinedSlot(pthread_id)] = UnjoinedThread{pthread_id, birth.clock};
}

uint32_t Unjoined(uintptr_t pthread_id) noexcept {
  State& s = S();
  EngineLock lock(s.mu);
  const UnjoinedThread& u = s.unjoined[UnjoinedSlot(pthread_id)];
  return u.pthread_id == pthread_id ? u.birth : 0;
}

void OnJoined(uint32_t joiner_incarnation, uint32_t joiner_tid, uint32_t joined,
              uintptr_t pthread_id) noexcept {
  State& s = S();
  EngineLock lock(s.mu);
  const uint32_t tick = s.clock.fetch_add(1, std::memory_order_relaxed) + 1;
  UnjoinedThread& u = s.unjoined[UnjoinedSlot(pthread_id)];
  if (u.pthread_id == pthread_id && u.birth == joined) u = UnjoinedThread{0, 0};
  const BirthEntry& b = s.births[joined & (kLives - 1)];
  if (joined == 0 || b.birth != joined) return;  // it never started, or was overwritten
  Life& l = s.lives[b.incarnation & (kLives - 1)];
  if (l.incarnation != b.incarnation || l.created != joined) return;
  l.joiner = joiner_incarnation;
  l.joiner_tid = joiner_tid;
  l.joined = tick;
}

std::string OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                          const std::string& y_name) {
  if (x == 0 || y == 0 || x == y) return "";
  State& s = S();
  Life lx{}, ly{};
  bool have_x = false, have_y = false;
  {
    EngineLock lock(s.mu);
    if (const Life* l = Find(s, x)) lx = *l, have_x = true;
    if (const Life* l = Find(s, y)) ly = *l, have_y = true;
  }
  const Life* px = have_x ? &lx : nullptr;
  const Life* py = have_y ? &ly : nullptr;
  std::string why = Before(px, x_name, py, y_name);
  return why.empty() ? Before(py, y_name, px, x_name) : why;
}

void ResetAfterFork() noexcept { S().mu.ResetAfterFork(); }

}  // namespace lockaudit::core::lineage
