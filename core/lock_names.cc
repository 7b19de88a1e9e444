// Lock names and the hierarchy file (lock_names.h).
#include "lock_names.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "config_file.h"
#include "hash.h"
#include "raw_log.h"
#include "stacks.h"

namespace lockaudit::core {

namespace {

// A frame of the C and C++ standard libraries' headers, inlined into the program
// (std::mutex::lock, __gthread_mutex_lock, std::thread's _M_run around a lambda): a site name
// skips these.
bool IsLibraryFrame(const SymbolizedFrame& f) {
  const std::string& fn = f.function;
  for (const char* prefix : {"std::", "__gnu_cxx::", "__gthread", "__cxxabiv1::", "__pthread"}) {
    if (fn.compare(0, strlen(prefix), prefix) == 0) return true;
  }
  return f.file.compare(0, 13, "/usr/include/") == 0 || f.file.find("/c++/") != std::string::npos;
}

}  // namespace

const char* InternName(const std::string& s) {
  char* p = static_cast<char*>(malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

std::string SiteName(uintptr_t pc, const char* prefix, bool* complete) {
  const std::vector<SymbolizedFrame> frames = Symbolize(pc, true);
  SymbolizedFrame f = frames.back();
  for (const SymbolizedFrame& candidate : frames) {
    if (!candidate.function.empty() && !IsLibraryFrame(candidate)) {
      f = candidate;
      break;
    }
  }
  if (complete != nullptr) *complete = f.symbolized;
  char where[96];
  snprintf(where, sizeof where, "%s+0x%lx", f.module.c_str(), static_cast<unsigned long>(f.offset));
  std::string r = prefix + (f.function.empty() ? std::string(where) : f.function);
  if (!f.file.empty()) {
    const char* slash = strrchr(f.file.c_str(), '/');
    r += " (" + std::string(slash ? slash + 1 : f.file.c_str()) + ":" + std::to_string(f.line) + ")";
  }
  return r;
}

std::string DisplayName(const char* name, uint32_t ordinal) {
  if (ordinal <= 1) return name;
  return std::string(name) + "#" + std::to_string(ordinal);
}

// The interned "heap@<function> (<file>:<line>)" name of a lock site, symbolized once per site:
// code that creates many locks at one site (and learns edges for each) must not run libdw for
// every one of them. Null when out of memory, or when the site could not be symbolized this
// time (the name made without symbols is then in *uncached, and is not interned).
const char* LockNames::CachedSiteName(uintptr_t pc, bool on_stack, std::string* uncached) {
  const uint64_t key = (static_cast<uint64_t>(pc) << 1) | (on_stack ? 1 : 0);
  {
    EngineLock lock(site_names_mu_);
    auto it = site_names_.find(key);
    if (it != site_names_.end()) return it->second;
  }
  bool complete = true;
  const std::string name = SiteName(pc, on_stack ? "stack@" : "heap@", &complete);  // unlocked
  *uncached = name;
  if (!complete) return nullptr;  // no symbol this time: not interned, asked again next time
  EngineLock lock(site_names_mu_);
  auto [it, inserted] = site_names_.emplace(key, nullptr);
  if (inserted) it->second = InternName(name);
  return it->second;
}

NameInputs LockNames::InputsOf(NodeId id) const {
  NameInputs in;
  in.id = id;
  if (!registry_.IsLive(id)) return in;
  LockNode& n = registry_.Node(id);
  in.live = true;
  in.addr = LockRegistry::AddressOf(n);
  in.level = n.level.load(std::memory_order_relaxed);
  in.name = n.name.load(std::memory_order_acquire);
  in.ordinal = n.name_ordinal.load(std::memory_order_relaxed);
  in.site_pc = n.first_site_pc.load(std::memory_order_relaxed);
  in.on_stack = n.stack_owner_cfa.load(std::memory_order_relaxed) != 0;
  return in;
}

// Its ordinal is given when the name is first printed (DisplayNameLocked): a program that
// creates and destroys named locks by the million pays nothing for it.
void LockNames::SetNameLocked(LockNode& n, const char* interned, NameSource source) {
  n.name_ordinal.store(0, std::memory_order_relaxed);
  n.name.store(interned, std::memory_order_release);
  n.name_source = source;
}

void LockNames::SetName(LockNode& node, const char* interned, NameSource source) {
  EngineLock lock(registry_.mutex());
  SetNameLocked(node, interned, source);
}

std::string LockNames::DisplayNameLocked(LockNode& n) {
  const char* name = n.name.load(std::memory_order_relaxed);
  uint32_t ordinal = n.name_ordinal.load(std::memory_order_relaxed);
  if (ordinal == 0) {
    ordinal = ++name_counts_[name];
    n.name_ordinal.store(ordinal, std::memory_order_relaxed);
  }
  return DisplayName(name, ordinal);
}

std::string LockNames::Name(const NameInputs& in) {
  if (in.name != nullptr && in.ordinal != 0) return DisplayName(in.name, in.ordinal);
  if (!in.live) return in.name != nullptr ? in.name : "(destroyed lock)";
  if (in.name != nullptr) {  // named (explicitly), not printed yet
    EngineLock lock(registry_.mutex());
    LockNode& n = registry_.Node(in.id);
    if (!registry_.IsLive(in.id) || n.name.load(std::memory_order_relaxed) == nullptr) {
      return in.name;
    }
    return DisplayNameLocked(n);
  }
  // The name the node has once `interned` is offered (another thread may have named it first);
  // empty when the lock is gone.
  auto store = [&](const char* interned, NameSource source) -> std::string {
    if (interned == nullptr) return std::string();
    EngineLock lock(registry_.mutex());
    if (!registry_.IsLive(in.id)) {
      // Gone since its edge was posted (named at exit, say): it still gets an ordinal of its
      // own, the same in every line that names it.
      auto [it, added] = dead_ordinals_.try_emplace(in.id, 0);
      if (added) it->second = ++name_counts_[interned];
      return DisplayName(interned, it->second);
    }
    LockNode& n = registry_.Node(in.id);
    if (n.name_source < source) SetNameLocked(n, interned, source);
    return DisplayNameLocked(n);
  };
  std::string sym = DataSymbol(in.addr);
  if (!sym.empty()) {
    std::string stored = store(InternName(sym), NameSource::kSymbol);
    return stored.empty() ? sym : stored;
  }
  if (in.site_pc != 0) {
    std::string uncached;
    const char* site_name = CachedSiteName(in.site_pc, in.on_stack, &uncached);
    if (site_name == nullptr) {
      return uncached.empty() ? SiteName(in.site_pc, in.on_stack ? "stack@" : "heap@") : uncached;
    }
    std::string stored = store(site_name, NameSource::kFirstSite);
    return stored.empty() ? std::string(site_name) : stored;
  }
  char buf[48];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(in.addr));
  return buf;
}

ReportLock LockNames::Lock(const NameInputs& in) {
  ReportLock l;
  l.id = in.id;
  l.addr = in.addr;
  l.level = in.level;
  l.name = Name(in);
  return l;
}

uint64_t LockNames::NamingKey(NodeId id) const {
  LockNode& n = registry_.Node(id);
  const char* name = n.name.load(std::memory_order_acquire);
  if (name != nullptr) return Mix64(std::hash<std::string_view>{}(name));
  return Mix64(n.first_site_pc.load(std::memory_order_relaxed) * 2 +
               (n.stack_owner_cfa.load(std::memory_order_relaxed) != 0 ? 1 : 0));
}

size_t LockNames::LoadHierarchy(const char* path) {
  std::string text, why;
  if (!ReadConfigFile(path, &text, &why)) {
    RawLog("lockaudit: warning: LOCKAUDIT_HIERARCHY: '%s' %s; no levels\n", path, why.c_str());
    return 0;
  }
  if (!why.empty()) RawLog("lockaudit: warning: LOCKAUDIT_HIERARCHY: '%s' %s\n", path, why.c_str());
  size_t added = 0;
  ForEachConfigLine(text, [&](const ConfigLine& line) {
    std::string name, reason;
    int level = 0;
    if (!ParseHierarchyLine(line.text, &name, &level, &reason)) {
      RawLog("lockaudit: warning: LOCKAUDIT_HIERARCHY: %s:%d: %s in '%s'; line ignored\n", path,
             line.number, reason.c_str(), ShownLine(line.text).c_str());
      return;
    }
    hierarchy_[name] = level;
    ++added;
  });
  return added;
}

void LockNames::ApplyHierarchy(NodeId id, const char* explicit_name) {
  if (hierarchy_.empty()) return;
  std::string name =
      explicit_name ? explicit_name : DataSymbol(LockRegistry::AddressOf(registry_.Node(id)));
  auto it = hierarchy_.find(name);
  if (it != hierarchy_.end()) SetLevel(registry_.Node(id), it->second);
}

}  // namespace lockaudit::core
