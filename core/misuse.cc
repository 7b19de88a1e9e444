// Lock misuse findings (misuse.h).
#include "misuse.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "options.h"
#include "report.h"
#include "stacks.h"
#include "tracker.h"
#include "tracker_internal.h"

namespace lockaudit::core::misuse {

namespace {
constexpr uint64_t kRwMinAcquisitions = 100, kRwMinContentions = 10;
}  // namespace

void Report(ThreadState& ts, FindingKind kind, NodeId id, Site site, const std::string& message,
            bool dedupe) {
  EngineScope inside;
  if (dedupe && !internal::FirstReport(kind, id, 0)) return;
  Finding f;
  f.kind = kind;
  f.locks.push_back(internal::LockOfId(id));
  f.threads.push_back(internal::ThreadOfState(ts));
  f.stack = internal::CaptureStack(site.pc);
  f.message = message;
  size_t pos;
  while ((pos = f.message.find("%L")) != std::string::npos) {
    f.message.replace(pos, 2, "'" + f.locks[0].name + "'");
  }
  Publish(std::move(f));
}
void Report(ThreadState& ts, FindingKind kind, NodeId id, Site site, const char* message,
            bool dedupe) {
  EngineScope inside;  // the string below is made from the engine's arena
  Report(ts, kind, id, site, std::string(message), dedupe);
}

void CheckHierarchy(ThreadState& ts, NodeId id, Site site) {
  EngineScope inside;
  LockRegistry& registry = internal::Registry();
  int level = registry.Node(id).level.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < ts.held_count; ++i) {
    const HeldLock& h = ts.held[i];
    if (!registry.IsLive(h.id)) continue;
    int hl = registry.Node(h.id).level.load(std::memory_order_relaxed);
    if (hl == kNoLevel || hl < level ||
        !internal::FirstReport(FindingKind::kHierarchyViolation, h.id, id)) {
      continue;
    }
    Finding f;
    f.kind = FindingKind::kHierarchyViolation;
    ReportLock held = internal::LockOfId(h.id), acq = internal::LockOfId(id);
    f.locks = {held, acq};
    f.threads.push_back(internal::ThreadOfState(ts));
    StackId held_stack = 0;
    CaptureWithHeld(site.pc, h.site.pc, h.site.cfa, static_cast<size_t>(GetOptions().stack_depth),
                    &f.stack, &held_stack);
    f.edges.push_back(ReportEdge{h.id, id, internal::ThreadOfState(ts), f.stack, held_stack});
    f.message = "'" + acq.name + "' (level " + std::to_string(level) + ") acquired while holding '" +
                held.name + "' (level " + std::to_string(hl) +
                "); a lock may only be taken while every held lock has a lower level";
    Publish(std::move(f));
  }
}

void CheckAlignment(ThreadState& ts, NodeId id, const void* lock, LockClass cls,
                    uintptr_t site_pc) {
  if (cls == LockClass::kCustom) return;
  constexpr uintptr_t kWord = 4, kLine = 64;
  const uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  const bool misaligned = a % kWord != 0;
  const bool straddles = a / kLine != (a + kWord - 1) / kLine;
  if (!misaligned && !straddles) return;
  char detail[200];
  snprintf(detail, sizeof detail,
           "%%L at 0x%lx: its %u-byte lock word is %s%s%s (byte %lu of its 64-byte cache line)",
           static_cast<unsigned long>(a), static_cast<unsigned>(kWord),
           misaligned ? "not 4-byte aligned" : "", misaligned && straddles ? " and " : "",
           straddles ? "split across two cache lines" : "", static_cast<unsigned long>(a % kLine));
  std::string message = detail;
  message += straddles ? "; every atomic operation on it is a split lock: very slow on x86 (the "
                         "bus is locked), and SIGBUS where the kernel's split-lock detection is "
                         "fatal"
                       : "; atomic operations on it are unaligned";
  message += ". Align it (alignas(64) on the lock or its struct, no __attribute__((packed)) "
             "around it)";
  Report(ts, FindingKind::kMisalignedLock, id, Site{site_pc, 0}, message, true);
}

void CheckRwlockUse(NodeId id) {
  if (!internal::Registry().IsLive(id) || internal::Registry().Node(id).cls != LockClass::kRwLock) return;
  const LockStats s = StatsForId(id);
  const uint64_t exclusive = s.acquisitions - std::min(s.acquisitions, s.shared_acquisitions);
  if (s.acquisitions < kRwMinAcquisitions || exclusive * 10 < s.acquisitions * 9 ||
      s.contentions < kRwMinContentions || s.contentions * 1000 < s.acquisitions) {
    return;
  }
  if (!internal::FirstReport(FindingKind::kRwlockAsMutex, id, 0)) return;
  Finding f;
  f.kind = FindingKind::kRwlockAsMutex;
  f.locks.push_back(internal::LockOfId(id));
  // Where it was first locked (the acquisitions are spread over the program; that site names it).
  const uintptr_t pc = internal::Registry().Node(id).first_site_pc.load(std::memory_order_relaxed);
  if (pc != 0) f.stack = InternStack(&pc, 1, /*partial=*/true);
  char share[16];
  snprintf(share, sizeof share, "%.0f%%",
           100.0 * static_cast<double>(exclusive) / static_cast<double>(s.acquisitions));
  f.message = "'" + f.locks[0].name + "' is a reader-writer lock used as a mutex: " + share +
              " of its " + std::to_string(s.acquisitions) + " acquisitions were exclusive (" +
              std::to_string(s.shared_acquisitions) + " shared), and it was contended " +
              std::to_string(s.contentions) + " times (" +
              std::to_string(s.contentions - std::min(s.contentions, s.shared_contentions)) +
              " by writers): a plain mutex does the same for less, or make the read path take "
              "it shared";
  Publish(std::move(f));
}

void CheckLiveRwlocks() {
  const uint32_t limit = internal::Registry().IndexLimit();
  for (uint32_t i = 1; i < limit; ++i) {
    const LockNode& n = internal::Registry().NodeAt(i);
    const uint32_t gen = n.generation.load(std::memory_order_acquire);
    if ((gen & 1) != 0 && n.cls == LockClass::kRwLock) CheckRwlockUse(MakeNodeId(gen, i));
  }
}

}  // namespace lockaudit::core::misuse
