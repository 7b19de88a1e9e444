#include "confirm.h"

#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config_file.h"
#include "engine_mutex.h"
#include "hash.h"
#include "native_mutex.h"
#include "raw_log.h"
#include "report.h"
#include "thread_state.h"
#include "tracker_internal.h"

namespace lockaudit::core {

bool g_confirm_on = false;

namespace confirm {
namespace {

constexpr int kMaxEdges = 16;
constexpr int kMaxSlots = 64;
constexpr uint32_t kMaxHeldCopied = 16;
constexpr int kMaxPauseLines = 256;
// A missing module is looked for again at most every 100 ms, for at most a minute: each look is a
// dl_iterate_phdr on a thread that holds program locks.
constexpr uint32_t kMaxResolves = 600;

// One site of the plan: an ELF address in a module, and where it is loaded in this process.
struct Target {
  char module[NAME_MAX + 1];
  uintptr_t offset;
  // 0 until the module is found; written under Plan::mu, read without it on the lock path.
  std::atomic<uintptr_t> pc{0};
};

struct Edge {
  Target from, to;  // where the first lock was taken; where the second is requested
  std::atomic<uint32_t> timeouts{0};
  std::atomic<uint32_t> occurrences{0};
};

// A thread paused at an edge: what it holds and what it is about to request.
struct Slot {
  bool used;
  bool released;  // a cycle formed: go on into the lock call
  uint32_t tid;
  const void* wanted;
  const void* held[kMaxHeldCopied];
  uint32_t nheld;
};

struct Plan {
  Edge edges[kMaxEdges];
  int nedges = 0;
  uint32_t run = 1;
  uint64_t pause_ns = 500'000'000;
  uint32_t max_timeouts = 4;
  std::atomic<uint64_t> next_resolve_ns{0};
  std::atomic<uint32_t> resolve_attempts{0};  // at most kMaxResolves after the first
  std::atomic<bool> unresolved{true};
  std::atomic<int> pause_lines{0};
  EngineMutex mu;  // slots, target pcs
  Slot slots[kMaxSlots] = {};
  std::atomic<uint32_t> generation{0};  // futex word: bumped when a cycle releases threads
};

Plan* g_plan = nullptr;

const char* Basename(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

struct ResolveArg {
  Plan* plan;
  const char* exe;  // basename of the main program
};

int ResolveObject(dl_phdr_info* info, size_t, void* p) {
  auto* arg = static_cast<ResolveArg*>(p);
  const char* name = info->dlpi_name != nullptr && info->dlpi_name[0] != '\0'
                         ? Basename(info->dlpi_name)
                         : arg->exe;
  char real[PATH_MAX];
  const char* real_name = nullptr;
  if (info->dlpi_name != nullptr && info->dlpi_name[0] == '/' &&
      realpath(info->dlpi_name, real) != nullptr) {
    real_name = Basename(real);  // the report names a module by its file, after symlinks
  }
  for (int i = 0; i < arg->plan->nedges; ++i) {
    for (Target* t : {&arg->plan->edges[i].from, &arg->plan->edges[i].to}) {
      if (t->pc.load(std::memory_order_relaxed) != 0) continue;
      if (strcmp(t->module, name) == 0 || (real_name && strcmp(t->module, real_name) == 0)) {
        t->pc.store(info->dlpi_addr + t->offset, std::memory_order_release);
      }
    }
  }
  return 0;
}

// Finds the modules of the targets not located yet (a library may be dlopen'ed later).
void Resolve(Plan& plan) {
  char exe_path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
  exe_path[n > 0 ? n : 0] = '\0';
  ResolveArg arg{&plan, Basename(exe_path)};
  EngineLock lock(plan.mu);
  dl_iterate_phdr(ResolveObject, &arg);
  bool missing = false;
  for (int i = 0; i < plan.nedges; ++i) {
    missing |= plan.edges[i].from.pc.load(std::memory_order_relaxed) == 0 ||
               plan.edges[i].to.pc.load(std::memory_order_relaxed) == 0;
  }
  plan.unresolved.store(missing, std::memory_order_relaxed);
}

bool ParseTarget(const std::string& module, const std::string& offset, Target* t) {
  if (module.empty() || module.size() > NAME_MAX) return false;
  char* end = nullptr;
  const unsigned long long v = strtoull(offset.c_str(), &end, 16);
  if (end == offset.c_str() || *end != '\0') return false;
  memcpy(t->module, module.c_str(), module.size() + 1);
  t->offset = static_cast<uintptr_t>(v);
  t->pc.store(0, std::memory_order_relaxed);
  return true;
}

// The plan format (written by `lockaudit confirm`, docs/confirm.md): a first line
// "lockaudit-confirm 1", then "run N", "pause_ms N", "max_timeouts N" and one
// "edge\t<module>\t<hex>\t<module>\t<hex>" line per edge (first lock's site, second lock's).
bool Parse(const std::string& text, Plan* plan, std::string* why) {
  size_t at = 0;
  int line_no = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    ++line_no;
    if (line_no == 1) {
      if (line != "lockaudit-confirm 1") {
        *why = "line 1 is not 'lockaudit-confirm 1'";
        return false;
      }
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> fields;
    for (size_t from = 0;;) {
      const size_t sep = line.find_first_of("\t ", from);
      fields.push_back(line.substr(from, sep == std::string::npos ? sep : sep - from));
      if (sep == std::string::npos) break;
      from = sep + 1;
    }
    auto number = [&](uint64_t lo, uint64_t hi, uint64_t* out) {
      char* end = nullptr;
      const unsigned long long v =
          fields.size() == 2 ? strtoull(fields[1].c_str(), &end, 10) : 0;
      if (fields.size() != 2 || end == fields[1].c_str() || *end != '\0' || v < lo || v > hi) {
        return false;
      }
      *out = v;
      return true;
    };
    uint64_t v = 0;
    bool ok = true;
    if (fields[0] == "run") {
      ok = number(1, 1000000, &v);
      plan->run = static_cast<uint32_t>(v);
    } else if (fields[0] == "pause_ms") {
      ok = number(1, 600000, &v);
      plan->pause_ns = v * 1000000;
    } else if (fields[0] == "max_timeouts") {
      ok = number(0, 1000000, &v);
      plan->max_timeouts = static_cast<uint32_t>(v);
    } else if (fields[0] == "edge") {
      if (plan->nedges == kMaxEdges) {
        *why = "more than " + std::to_string(kMaxEdges) + " edges";
        return false;
      }
      Edge& e = plan->edges[plan->nedges];
      ok = fields.size() == 5 && ParseTarget(fields[1], fields[2], &e.from) &&
           ParseTarget(fields[3], fields[4], &e.to);
      if (ok) ++plan->nedges;
    } else {
      ok = false;
    }
    if (!ok) {
      *why = "line " + std::to_string(line_no) + " is not understood: '" + line + "'";
      return false;
    }
  }
  if (plan->nedges == 0) {
    *why = "it names no edge";
    return false;
  }
  return true;
}

uint64_t Now() { return internal::NowNs(); }

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t ns) {
  timespec t{static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &t,
          nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

bool Holds(const Slot& s, const void* lock) {
  for (uint32_t i = 0; i < s.nheld; ++i) {
    if (s.held[i] == lock) return true;
  }
  return false;
}

// With plan.mu held, slot `self` just paused: if the paused threads now hold and want locks in
// a cycle through it (each wants a lock another one holds; every holder of a lock is tried, a
// lock held for reading may have several), marks them released and returns how many; else 0.
int CloseCycle(Plan& plan, int self) {
  int path[kMaxSlots];
  int next_holder[kMaxSlots];  // per depth: the next slot to try as the holder
  bool on_path[kMaxSlots] = {};
  int depth = 0;
  path[0] = self;
  next_holder[0] = 0;
  on_path[self] = true;
  while (depth >= 0) {
    const Slot& cur = plan.slots[path[depth]];
    int t = next_holder[depth];
    for (; t < kMaxSlots; ++t) {
      const Slot& other = plan.slots[t];
      if (t != path[depth] && other.used && !other.released && Holds(other, cur.wanted) &&
          (t == self || !on_path[t])) {
        break;
      }
    }
    if (t == kMaxSlots) {  // no holder left to try from here: back up
      on_path[path[depth]] = depth == 0;
      --depth;
      continue;
    }
    next_holder[depth] = t + 1;
    if (t == self) {
      for (int k = 0; k <= depth; ++k) plan.slots[path[k]].released = true;
      return depth + 1;
    }
    ++depth;
    path[depth] = t;
    next_holder[depth] = 0;
    on_path[t] = true;
  }
  return 0;
}

// [1,2]: the edges (1-based, in the cycle's order) of a mask.
std::string EdgeList(uint32_t edges) {
  std::string out = "[";
  for (int i = 0; i < kMaxEdges; ++i) {
    if (edges & (1u << i)) out += (out.size() > 1 ? "," : "") + std::to_string(i + 1);
  }
  return out + "]";
}

void WritePause(uint32_t edges, const ThreadState& ts, const void* lock, uint64_t waited_ns,
                bool lined_up, int threads) {
  Plan& plan = *g_plan;
  if (plan.pause_lines.fetch_add(1, std::memory_order_relaxed) >= kMaxPauseLines) return;
  char addr[32];
  snprintf(addr, sizeof addr, "0x%lx", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(lock)));
  const ReportThread thread = internal::ThreadOfState(ts);
  std::string line = "{\"type\":\"pause\",\"pid\":" + std::to_string(getpid()) +
                     ",\"edges\":" + EdgeList(edges) + ",\"thread\":{\"tid\":" +
                     std::to_string(thread.tid) + ",\"name\":\"" + JsonEscape(thread.name) +
                     "\"},\"lock\":\"" + addr + "\",\"waited_ms\":" +
                     std::to_string(waited_ns / 1000000) + ",\"outcome\":\"" +
                     (lined_up ? "lined_up" : "timed_out") + "\"";
  if (lined_up && threads > 0) line += ",\"threads\":" + std::to_string(threads);
  PublishLine(line + "}");
}

// The edges of the plan this acquisition matches (its site, and a held lock's site), as bits.
// Edges of one helper function (transfer(from, to) on both sides of the inversion) share their
// sites: the acquisition matches all of them.
uint32_t MatchEdges(Plan& plan, const ThreadState& ts, const void* lock, uintptr_t pc) {
  uint32_t mask = 0;
  for (int i = 0; i < plan.nedges; ++i) {
    const Edge& e = plan.edges[i];
    const uintptr_t from_pc = e.from.pc.load(std::memory_order_acquire);
    if (e.to.pc.load(std::memory_order_acquire) != pc || from_pc == 0) continue;
    for (uint32_t k = ts.held_count; k-- > 0;) {
      if (ts.held[k].site.pc == from_pc && ts.held[k].addr != lock) {
        mask |= 1u << i;
        break;
      }
    }
  }
  return mask;
}

}  // namespace

void Init(const Options& opts) {
  if (opts.confirm[0] == '\0') return;
  std::string text, why;
  auto* plan = new Plan();
  if (!ReadConfigFile(opts.confirm, &text, &why) || !Parse(text, plan, &why)) {
    RawLog("lockaudit: warning: LOCKAUDIT_CONFIRM: %s: %s; no schedule perturbation\n",
           opts.confirm, why.c_str());
    delete plan;
    return;
  }
  g_plan = plan;
  Resolve(*plan);
  // Every pthread_mutex_lock must reach the out-of-line path that calls ConfirmBeforeLock.
  g_inline_mutex_guard = -1;
  g_confirm_on = true;
}

void ForkChild() {
  Plan* plan = g_plan;
  if (plan == nullptr) return;
  // The parent's paused threads are not in the child, and one may have held the table's mutex.
  plan->mu.ResetAfterFork();
  for (Slot& slot : plan->slots) slot = Slot{};
}

}  // namespace confirm

void ConfirmBeforeLock(const void* lock, Site site) noexcept {
  using namespace confirm;
  ThreadState* ts = internal::tls_state;
  Plan* plan = g_plan;
  if (ts == nullptr || plan == nullptr || ts->held_count == 0) return;
  if (plan->unresolved.load(std::memory_order_relaxed) &&
      plan->resolve_attempts.load(std::memory_order_relaxed) < kMaxResolves) {
    const uint64_t now = Now();
    if (now >= plan->next_resolve_ns.load(std::memory_order_relaxed)) {
      plan->next_resolve_ns.store(now + 100'000'000, std::memory_order_relaxed);
      plan->resolve_attempts.fetch_add(1, std::memory_order_relaxed);
      EngineScope scope;
      Resolve(*plan);
    }
  }
  const uint32_t edges = MatchEdges(*plan, *ts, lock, site.pc);
  if (edges == 0 || __libc_single_threaded) return;
  Edge& e = plan->edges[__builtin_ctz(edges)];  // the first one keeps the counts
  if (e.timeouts.load(std::memory_order_relaxed) >= plan->max_timeouts) return;
  const uint32_t occurrence = e.occurrences.fetch_add(1, std::memory_order_relaxed);
  if (plan->run % 2 == 0 &&
      (Mix64((uint64_t{plan->run} << 32) ^ occurrence ^ (uint64_t{ts->tid} << 20)) & 1) != 0) {
    return;  // even runs pause at a random half of the occurrences
  }
  for (uint32_t k = 0; k < ts->held_count; ++k) {
    if (ts->held[k].addr == lock) return;  // a re-lock: not an edge
  }
  const int saved_errno = errno;
  const uint64_t start = Now();
  int self = -1;
  int released = 0;
  {
    EngineLock guard(plan->mu);
    for (int s = 0; s < kMaxSlots && self < 0; ++s) {
      if (!plan->slots[s].used) self = s;
    }
    if (self < 0) {
      errno = saved_errno;
      return;
    }
    Slot& slot = plan->slots[self];
    slot = Slot{};
    slot.used = true;
    slot.tid = ts->tid;
    slot.wanted = lock;
    const uint32_t first = ts->held_count > kMaxHeldCopied ? ts->held_count - kMaxHeldCopied : 0;
    for (uint32_t k = first; k < ts->held_count; ++k) slot.held[slot.nheld++] = ts->held[k].addr;
    released = CloseCycle(*plan, self);
    if (released > 0) {
      plan->generation.fetch_add(1, std::memory_order_release);
      FutexWakeAll(&plan->generation);
    }
  }
  bool lined_up = released > 0;
  const uint64_t deadline = start + plan->pause_ns;
  while (!lined_up) {
    const uint32_t gen = plan->generation.load(std::memory_order_acquire);
    {
      EngineLock guard(plan->mu);
      lined_up = plan->slots[self].released;
    }
    const uint64_t now = Now();
    if (lined_up || now >= deadline) break;
    FutexWait(&plan->generation, gen, std::min<uint64_t>(deadline - now, 20'000'000));
  }
  {
    EngineLock guard(plan->mu);
    lined_up = plan->slots[self].released;
    plan->slots[self].used = false;
  }
  if (!lined_up) e.timeouts.fetch_add(1, std::memory_order_relaxed);
  {
    EngineScope scope;
    WritePause(edges, *ts, lock, Now() - start, lined_up, released);
  }
  errno = saved_errno;
}

}  // namespace lockaudit::core
