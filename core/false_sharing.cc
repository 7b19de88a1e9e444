#include "false_sharing.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "engine_mutex.h"
#include "registry.h"
#include "report.h"
#include "stacks.h"
#include "tracker_internal.h"

namespace lockaudit::core::false_sharing {
namespace {

struct Note {
  NodeId lock;
  uintptr_t addr;
  uint64_t thread;  // incarnation: unique per thread ever audited
  uint32_t tid;
  std::string thread_name;
  uint64_t acquisitions;
};

constexpr size_t kMaxNotes = 4096;

struct State {
  EngineMutex mu;
  std::vector<Note> notes;
};

State& S() {
  static State* s = new State();  // never destroyed: threads may exit during exit
  return *s;
}

void NoteLocked(State& s, const ThreadState& ts) {
  for (const IdCacheEntry& c : ts.id_cache) {
    if (c.id == 0 || c.acquisitions < kHot || s.notes.size() >= kMaxNotes) continue;
    s.notes.push_back(Note{c.id, c.addr, ts.incarnation, ts.tid, ts.name, c.acquisitions});
  }
}

std::string Hex(uintptr_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

}  // namespace

void NoteThread(const ThreadState& ts) {
  State& s = S();
  EngineLock lock(s.mu);
  NoteLocked(s, ts);
}

void Report() {
  State& s = S();
  // The threads still running (the process is exiting; their counts are final enough).
  internal::VisitThreads(
      [](ThreadState& ts, void* arg) { NoteLocked(*static_cast<State*>(arg), ts); }, &s);
  std::vector<Note> notes;
  {
    EngineLock lock(s.mu);
    notes.swap(s.notes);
  }
  // By cache line, then lock: pairs of notes of different locks on one line, by different
  // threads. Each pair of locks is reported once, with its busiest two notes.
  std::sort(notes.begin(), notes.end(), [](const Note& a, const Note& b) {
    return a.addr / kLine != b.addr / kLine ? a.addr < b.addr : a.acquisitions > b.acquisitions;
  });
  for (size_t i = 0; i < notes.size(); ++i) {
    for (size_t j = i + 1; j < notes.size() && notes[j].addr / kLine == notes[i].addr / kLine; ++j) {
      const Note& a = notes[i];
      const Note& b = notes[j];
      if (a.lock == b.lock || a.thread == b.thread) continue;
      if (!internal::IsLiveLock(a.lock) || !internal::IsLiveLock(b.lock)) continue;
      const NodeId lo = std::min(a.lock, b.lock), hi = std::max(a.lock, b.lock);
      if (!internal::FirstReport(FindingKind::kLockFalseSharing, lo, hi)) continue;
      const Note& first = a.addr <= b.addr ? a : b;
      const Note& second = a.addr <= b.addr ? b : a;
      Finding f;
      f.kind = FindingKind::kLockFalseSharing;
      f.locks = {internal::LockOfId(first.lock), internal::LockOfId(second.lock)};
      f.threads = {ReportThread{first.tid, first.thread_name},
                   ReportThread{second.tid, second.thread_name}};
      if (const uintptr_t pc = internal::LockFirstSite(first.lock); pc != 0) {
        f.stack = InternStack(&pc, 1, /*partial=*/true);
      }
      if (const uintptr_t pc = internal::LockFirstSite(second.lock); pc != 0) {
        f.held_stack = InternStack(&pc, 1, /*partial=*/true);
        f.held_label = "'" + f.locks[1].name + "' first taken";
      }
      const uintptr_t gap = second.addr - first.addr;
      f.message = "'" + f.locks[0].name + "' (" + Hex(first.addr) + ") and '" + f.locks[1].name +
                  "' (" + Hex(second.addr) + ") share the 64-byte cache line " +
                  Hex(first.addr / kLine * kLine) + ": thread '" + first.thread_name + "' (tid " +
                  std::to_string(first.tid) + ") took the first " +
                  std::to_string(first.acquisitions) + " times and thread '" +
                  second.thread_name + "' (tid " + std::to_string(second.tid) + ") the second " +
                  std::to_string(second.acquisitions) +
                  " times, so every lock operation of one invalidates the other's cache line "
                  "(false sharing); put them on separate lines: alignas(64) on each lock, or " +
                  std::to_string(kLine - gap % kLine) + " bytes of padding after the first";
      Publish(std::move(f));
    }
  }
}

void ResetAfterFork() {
  State& s = S();
  s.mu.ResetAfterFork();
  s.notes.clear();
}

}  // namespace lockaudit::core::false_sharing
