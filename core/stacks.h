// core/stacks: stack capture (libgcc's unwinder), a de-duplicating stack depot, and
// symbolization to function, file and line (libdw), done at report time.
//
// Thread-safety: all functions are thread-safe (the depot and the symbolizer have their own
// EngineMutex). None of them may run on the hot path: callers are in the tracker's slow path
// or in report building, inside an EngineScope.
// Cost: CaptureFrames ~1-3 us; Intern O(depth); Symbolize caches per pc.
#ifndef LOCKAUDIT_CORE_STACKS_H_
#define LOCKAUDIT_CORE_STACKS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lockaudit::core {

using StackId = uint32_t;  // 0 = no stack

struct RawFrame {
  uintptr_t pc;
  uintptr_t sp;  // the frame's stack pointer at its call site (= its callee's CFA)
};

// Captures the calling thread's frames, outermost last. Frames before the one whose pc equals
// `start_pc` are dropped (they belong to the engine and the front-end); if no frame matches,
// every frame is kept.
size_t CaptureFrames(RawFrame* out, size_t max, uintptr_t start_pc);

// Rebuilds the stack of an earlier acquisition made at call site (pc, cfa) from the current
// frames. Exact when the acquiring function's activation is still on the stack (nested lock
// scopes: the frame at `cfa` runs the same function). When it has returned (a helper took the
// lock: `take_a(); take_b();`), the callers it had are gone and the frames now at that depth
// belong to other calls: the result is then only the acquisition site, `pc`, and *partial is
// set (reports say so).
std::vector<uintptr_t> RebuildHeldStack(const RawFrame* frames, size_t n, uintptr_t pc,
                                        uintptr_t cfa, size_t max_depth, bool* partial);

// `partial`: the stack is the documented partial form (RebuildHeldStack); a partial stack and a
// full one with the same pcs are distinct.
StackId InternStack(const uintptr_t* pcs, size_t n, bool partial = false);

// The calling thread's stack from `start_pc` (at most `depth` frames) into *stack, and the stack
// of an earlier acquisition at (held_pc, held_cfa) rebuilt from it (RebuildHeldStack) into
// *held_stack: the pair a finding about a held lock reports.
void CaptureWithHeld(uintptr_t start_pc, uintptr_t held_pc, uintptr_t held_cfa, size_t depth,
                     StackId* stack, StackId* held_stack);
// The unwinder's and the depot's one-time set-up (libgcc's lazily bound calls, the depot's first
// pages), done once where the program holds no lock (the host's constructor).
void WarmUpUnwinder() noexcept;
bool IsPartialStack(StackId id);
std::vector<uintptr_t> GetStack(StackId id);
size_t DepotSize();

struct SymbolizedFrame {
  uintptr_t pc = 0;
  std::string function;  // demangled; empty if unknown
  std::string file;      // empty if no debug info
  int line = 0;          // 0 if no debug info
  std::string module;    // basename of the object file
  uintptr_t offset = 0;  // pc as an address in the module's ELF file (for addr2line -e MODULE)
  // False when the pc could not be looked up this time (the symbolizer thread did not answer in
  // time, stacks.cc): the frame holds only the pc, and a name made from it is not to be cached.
  bool symbolized = true;
};
// The frames of one pc: inlined functions innermost first, then the real function (so a lock
// call inlined from a header shows the user's line too). `is_return_address`: the pc is a
// return address, so the call instruction before it is looked up.
std::vector<SymbolizedFrame> Symbolize(uintptr_t pc, bool is_return_address);
std::vector<SymbolizedFrame> SymbolizeStack(StackId id);
// Name of the data symbol covering `addr` ("g_mu" or "g_bank+0x28"); for static data of a
// module without symbols (a stripped binary), "<module>+0x<ELF address>"; empty for the heap.
std::string DataSymbol(uintptr_t addr);
// Test support: for the pcs begin, begin + step, ... below end, compares the symbolizer's index
// of each compilation unit's DIE tree with libdw's own walks (dwarf_getscopes,
// dwarf_getscopes_die) over what symbolizing reads; returns the pcs compared and sets
// *mismatch to the first difference. *libdw_none: pcs where dwarf_getscopes found no scope
// (a function defined inside another) and the index's innermost scopes were not compared.
size_t VerifyScopeIndex(uintptr_t begin, uintptr_t end, uintptr_t step, std::string* mismatch,
                        size_t* libdw_none = nullptr);
// Starts the engine thread that runs every lookup for the program's threads (libdw allocates
// with the program's allocator, which a thread in a signal handler may hold locked); before it
// runs, and in a forked child, lookups run on the calling thread. Call once the host is
// initialised (provider.h StartBackground).
void StartSymbolizerThread() noexcept;
// Runs fn(arg) later on the symbolizer thread, after the jobs already queued (the report's edge
// lines, whose lock names need symbols); false when there is no such thread or this is it (the
// caller then runs it itself).
bool PostToSymbolizerThread(void (*fn)(void*), void* arg) noexcept;
// From now on posted jobs queue even before the thread runs (they run when it starts, or at
// DrainSymbolizerThread when it never does).
void AcceptSymbolizerJobs() noexcept;
// Waits until every job posted before the call has run, at most `max_wait_ns` (at exit, before
// the summary).
void DrainSymbolizerThread(int64_t max_wait_ns) noexcept;
// Fork: the depot and symbolizer locks are taken before fork and released (parent) or reset
// (child) after it, so the child never sees them mid-update.
class EngineMutex;
// Taken across fork (tracker.cc, ForkPrepare).
EngineMutex& StacksDepotMutex();
// fork(): true when no thread is unwinding (the unwinder's mutex, taken when a program registered
// unwind tables by hand, must not be copied held); new captures then give up until
// StacksAfterFork, in the parent and in the child. False: retry.
bool StacksTryPrepareFork() noexcept;
void StacksAfterFork(bool child) noexcept;
EngineMutex& StacksSymbolizerMutex();
// `symbolizer_was_busy`: the fork happened without the symbolizer's mutex (its thread was in a
// lookup that could not finish): the child gets a new symbolizer.
void StacksResetAfterFork(bool symbolizer_was_busy);

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_STACKS_H_
