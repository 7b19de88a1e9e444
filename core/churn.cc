#include "churn.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "config_file.h"
#include "engine_mutex.h"
#include "hash.h"
#include "registry.h"
#include "report.h"
#include "stacks.h"
#include "tracker_internal.h"

namespace lockaudit::core::churn {
namespace {

constexpr uint64_t kMinSharePercent = 10;

struct Entry {
  NodeId lock = 0;
  uintptr_t first_pc = 0, second_pc = 0;
  uint64_t count = 0;
  StackId first_stack = 0, second_stack = 0;
  uint32_t tid = 0;  // a thread that did it (the first merged)
  std::string thread_name;
};

struct State {
  int64_t min = 1000;
  EngineMutex mu;
  std::unordered_map<uint64_t, Entry> entries;  // by TripleKey
};

State& S() {
  static State* s = new State();  // never destroyed: threads may still record during exit
  return *s;
}

// Order-free in the two sites: in a loop of get() then update(), update()'s release and the next
// get() re-take the lock too; both directions are one pattern, counted in one entry (which keeps
// the order it was first seen in).
uint64_t TripleKey(NodeId lock, uintptr_t first, uintptr_t second) {
  return Mix64(Mix64(lock ^ Mix64(std::min(first, second))) + std::max(first, second));
}

bool SameTriple(const ThreadState::ChurnSlot& s, NodeId lock, uintptr_t first, uintptr_t second) {
  return s.lock == lock && ((s.first_pc == first && s.second_pc == second) ||
                            (s.first_pc == second && s.second_pc == first));
}

void MergeSlot(const ThreadState& ts, const ThreadState::ChurnSlot& slot) {
  if (slot.count == 0) return;
  State& s = S();
  EngineLock lock(s.mu);
  Entry& e = s.entries[TripleKey(slot.lock, slot.first_pc, slot.second_pc)];
  if (e.count == 0) {
    e.lock = slot.lock;
    e.first_pc = slot.first_pc;
    e.second_pc = slot.second_pc;
    e.first_stack = slot.first_stack;
    e.second_stack = slot.second_stack;
    e.tid = ts.tid;
    e.thread_name = ts.name;
  }
  e.count += slot.count;
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "?";
  char buf[32];
  snprintf(buf, sizeof buf, "%.0f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

// "f (file.c:12)" for the program's first frame of a stack with a source line (not lockaudit's,
// not the C or C++ runtime's: their debug information names their build tree, ./ or ../, or a
// system header under /usr/), else the first such frame without one: "f (module)" or
// "module+0xoffset" (a stripped program).
std::string Where(StackId stack) {
  const std::vector<SymbolizedFrame> frames = SymbolizeStack(stack);
  auto foreign = [](const SymbolizedFrame& f) {
    return IsPlumbingFile(f.file) || f.file.rfind("./", 0) == 0 || f.file.rfind("../", 0) == 0 ||
           f.file.rfind("/usr/", 0) == 0;
  };
  for (const SymbolizedFrame& f : frames) {
    if (f.file.empty() || f.line <= 0 || foreign(f)) continue;
    const size_t slash = f.file.rfind('/');
    std::string where = f.function.empty() ? std::string("??") : f.function;
    where += " (";
    where += slash == std::string::npos ? f.file : f.file.substr(slash + 1);
    where += ":";
    where += std::to_string(f.line);
    where += ")";
    return where;
  }
  for (const SymbolizedFrame& f : frames) {
    if (!f.file.empty() && foreign(f)) continue;
    std::string where = f.function.empty() ? f.module : f.function;
    char off[32];
    snprintf(off, sizeof off, "+0x%lx", static_cast<unsigned long>(f.offset));
    where += f.function.empty() ? std::string(off) : " (" + f.module + ")";
    return where;
  }
  return "an unknown site";
}

}  // namespace

void Init(const Options& opts) { S().min = opts.churn_min; }

bool CountKnown(ThreadState& ts, NodeId id, uintptr_t first_pc, uintptr_t second_pc,
                uint32_t weight) {
  ThreadState::ChurnSlot& slot =
      ts.churn[TripleKey(id, first_pc, second_pc) % ThreadState::kChurnSlots];
  if (!SameTriple(slot, id, first_pc, second_pc)) return false;
  slot.count += weight;
  return true;
}

void Record(ThreadState& ts, NodeId id, Site first, Site second, uint32_t weight) {
  if (CountKnown(ts, id, first.pc, second.pc, weight)) return;
  const uint64_t key = TripleKey(id, first.pc, second.pc);
  ThreadState::ChurnSlot& slot = ts.churn[key % ThreadState::kChurnSlots];
  MergeSlot(ts, slot);  // another triple held the slot
  slot = ThreadState::ChurnSlot{id, first.pc, second.pc, weight, 0, 0};
  // The re-acquisition's stack, and the released hold's rebuilt from it (exact when the frame
  // that took it is still live; usually partial: get() has returned).
  CaptureWithHeld(second.pc, first.pc, first.cfa, 128, &slot.second_stack, &slot.first_stack);
}

void FlushThread(ThreadState& ts) {
  for (ThreadState::ChurnSlot& slot : ts.churn) {
    MergeSlot(ts, slot);
    slot = ThreadState::ChurnSlot{};
  }
}

void Report(uint64_t (*acquisitions_of)(NodeId id)) {
  // The live threads' counts, read (not cleared: they are the owners' to write, and a thread may
  // still be running; what it merges later lands in a table already reported).
  internal::VisitThreads(
      [](ThreadState& ts, void*) {
        for (const ThreadState::ChurnSlot& slot : ts.churn) MergeSlot(ts, slot);
      },
      nullptr);
  // One finding per lock: its most frequent site pair, when that pair was counted at least
  // LOCKAUDIT_CHURN_MIN times and the lock's re-acquisitions are at least kMinSharePercent of its
  // acquisitions (a rare pattern on a busy lock costs little); its other pairs are summed.
  struct PerLock {
    Entry top;
    uint64_t total = 0;
    size_t pairs = 0;
  };
  std::unordered_map<NodeId, PerLock> by_lock;
  int64_t min = 0;
  {
    State& s = S();
    EngineLock lock(s.mu);
    min = s.min;
    for (const auto& [key, e] : s.entries) {
      PerLock& p = by_lock[e.lock];
      p.total += e.count;
      ++p.pairs;
      if (e.count > p.top.count) p.top = e;
    }
    s.entries.clear();  // reported once
  }
  std::vector<PerLock> due;
  for (auto& [id, p] : by_lock) {
    if (static_cast<int64_t>(p.top.count) < min) continue;
    const uint64_t acquisitions = acquisitions_of(id);
    if (p.total * 100 < acquisitions * kMinSharePercent) continue;
    due.push_back(p);
  }
  std::sort(due.begin(), due.end(),
            [](const PerLock& a, const PerLock& b) { return a.total > b.total; });
  for (const PerLock& p : due) {
    const Entry& e = p.top;
    Finding f;
    f.kind = FindingKind::kLockChurn;
    f.locks.push_back(internal::LockOfId(e.lock));
    f.threads.push_back(ReportThread{e.tid, e.thread_name});
    f.stack = e.second_stack;
    f.held_stack = e.first_stack;
    f.held_label = "'" + f.locks[0].name + "' taken before the release";
    const uint64_t acquisitions = acquisitions_of(e.lock);
    const std::string& name = f.locks[0].name;
    std::string& m = f.message;
    m = "'" + name + "' released after " + Where(e.first_stack);
    m += " and taken again at ";
    m += Where(e.second_stack);
    m += " by the same thread with no other lock in between, about ";
    m += std::to_string(e.count);
    m += " times (";
    m += Percent(e.count, acquisitions);
    m += " of its ";
    m += std::to_string(acquisitions);
    m += " acquisitions";
    if (p.pairs > 1) {
      m += "; ";
      m += std::to_string(p.total - e.count);
      m += " more from ";
      m += std::to_string(p.pairs - 1);
      m += p.pairs > 2 ? " other site pairs, " : " other site pair, ";
      m += Percent(p.total, acquisitions);
      m += " of its acquisitions in all";
    }
    m += "): hold it across both and take it once";
    Publish(std::move(f));
  }
}

void ResetAfterFork() {
  State& s = S();
  s.mu.ResetAfterFork();
  s.entries.clear();
}

}  // namespace lockaudit::core::churn
