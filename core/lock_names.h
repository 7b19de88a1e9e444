// LockNames: what a lock is called in reports, graphs and merges, and the levels the hierarchy
// file gives by name.
//
// A lock's name, by precedence: the name the program gave it (lockaudit::mutex's name,
// lockaudit_set_name); its data symbol when it lies in a module's static data (`g_table+0x40`
// for a lock inside an array); else its first lock site, "heap@f (f.cc:12)" or "stack@...";
// else its address. A name is made once and stored in the lock's node. Identity stays the
// NodeId: locks that share a name (many locks first taken at one line) are told apart in print
// by an ordinal, "name#2", "name#3", given the first time each is printed (the first keeps the
// bare name).
//
// Owns: the hierarchy (name -> level, read from LOCKAUDIT_HIERARCHY at start-up and read-only
// afterwards), the per-name ordinal counters and the ordinals of locks named after they were
// gone (both under the registry's mutex, with the nodes' names), and the interned site names
// (under site_names_mu_, a leaf).
// Thread-safety: every method may be called from any thread. InputsOf() only loads from the
// node; Name()/Lock() may symbolize (libdw): call them off a program thread that may hold an
// allocator lock (the tracker posts edge lines to the symbolizer thread) or at report time.
// Cost: a name once stored is one load; symbolizing a site runs once per site.
#ifndef LOCKAUDIT_CORE_LOCK_NAMES_H_
#define LOCKAUDIT_CORE_LOCK_NAMES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "engine_mutex.h"
#include "registry.h"
#include "report.h"
#include "thread_annotations.h"

namespace lockaudit::core {

// A copy of `s` that lives as long as the process (names are few and small); null when out of
// memory.
const char* InternName(const std::string& s);

// "<prefix><function> (<file>:<line>)" of a lock or wait call site: the innermost frame of the
// pc's inline chain that belongs to the program (a lambda inlined into std::thread's _M_run is
// named by the lambda and its line), else the real function. `*complete`: symbols were found.
std::string SiteName(uintptr_t pc, const char* prefix, bool* complete = nullptr);

// "name" for ordinal 0 or 1, else "name#<ordinal>".
std::string DisplayName(const char* name, uint32_t ordinal);

// What names a lock, read without symbolizing (cheap, on the acquiring thread): the name itself
// may be made later, on the symbolizer thread, when the lock may be gone.
struct NameInputs {
  NodeId id = 0;
  bool live = false;
  uintptr_t addr = 0;
  int level = kNoLevel;
  const char* name = nullptr;  // interned, once known
  uint32_t ordinal = 0;        // with `name`
  uintptr_t site_pc = 0;
  bool on_stack = false;
};

class LockNames {
 public:
  explicit LockNames(LockRegistry& registry) : registry_(registry) {}
  LockNames(const LockNames&) = delete;
  LockNames& operator=(const LockNames&) = delete;

  NameInputs InputsOf(NodeId id) const;
  // The lock's name as reports print it (stored into the node when it is still the same lock).
  std::string Name(const NameInputs& in);
  ReportLock Lock(const NameInputs& in);  // id, address, level and name
  // The key edge lines are budgeted under (the lock-order detector's NamingKey): its name when
  // it has one, else its first lock site.
  uint64_t NamingKey(NodeId id) const;

  // `node` is now called `interned` (an InternName) by `source`; its ordinal is given when the
  // name is first printed. Takes the registry mutex.
  void SetName(LockNode& node, const char* interned, NameSource source);

  // Reads the hierarchy file (`name level` lines): returns the levels read; a bad line is
  // skipped with a one-line warning. Start-up only (before the program's threads).
  size_t LoadHierarchy(const char* path);
  // A newly registered lock: its level from the hierarchy, by `explicit_name` or data symbol.
  void ApplyHierarchy(NodeId id, const char* explicit_name);

  // fork(): the child resets the leaf mutex (the parent's prefork handler holds it).
  EngineMutex& site_names_mutex() LOCKAUDIT_RETURN_CAPABILITY(site_names_mu_) {
    return site_names_mu_;
  }
  void ResetAfterFork() noexcept { site_names_mu_.ResetAfterFork(); }

 private:
  const char* CachedSiteName(uintptr_t pc, bool on_stack, std::string* uncached)
      LOCKAUDIT_EXCLUDES(site_names_mu_);
  // With the registry mutex held: the display name of the named `n`, its ordinal given now.
  std::string DisplayNameLocked(LockNode& n);
  void SetNameLocked(LockNode& n, const char* interned, NameSource source);

  LockRegistry& registry_;
  std::map<std::string, int> hierarchy_;         // start-up only, then read-only
  std::map<std::string, uint32_t> name_counts_;  // under registry_.mutex(): locks named so
  std::unordered_map<NodeId, uint32_t> dead_ordinals_;  // under registry_.mutex(): named once gone
  EngineMutex site_names_mu_;  // leaf
  // (first site pc, on stack) -> interned name
  std::unordered_map<uint64_t, const char*> site_names_ LOCKAUDIT_GUARDED_BY(site_names_mu_);
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_LOCK_NAMES_H_
