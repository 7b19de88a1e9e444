#include "stacks.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/auxv.h>

#define UNW_LOCAL_ONLY
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unwind.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <unordered_map>

#include "engine_arena.h"
#include "engine_mutex.h"
#include "engine_thread.h"
#include "provider.h"

namespace lockaudit::core {
namespace {

// ---- Depot -------------------------------------------------------------------------------

struct Depot {
  EngineMutex mu;
  std::deque<std::vector<uintptr_t>> stacks;                 // id-1 -> pcs
  std::deque<bool> partial;                                  // id-1 -> RebuildHeldStack's form
  std::unordered_multimap<uint64_t, StackId> by_hash;
};
Depot& GetDepot() {
  static Depot* d = new Depot();  // never destroyed: reports may run in late destructors
  return *d;
}

uint64_t HashPcs(const uintptr_t* pcs, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= pcs[i];
    h *= 1099511628211ULL;
  }
  return h;
}

// ---- Symbolizer --------------------------------------------------------------------------

// Separate debug info from the local disk only: /usr/lib/debug/.build-id/xx/rest.debug (Debian's
// -dbgsym packages). dwfl_standard_find_debuginfo would also dlopen libdebuginfod, bringing a
// network client (curl, TLS, their exit handlers) into the audited program.
int FindLocalDebuginfo(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, const char*, const char*,
                       GElf_Word, char** debuginfo_file_name) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int len = dwfl_module_build_id(mod, &bits, &vaddr);
  if (len <= 1) return -1;
  char path[512];
  int n = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", bits[0]);
  for (int i = 1; i < len && n < 480; ++i) n += snprintf(path + n, sizeof path - n, "%02x", bits[i]);
  snprintf(path + n, sizeof path - n, ".debug");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) *debuginfo_file_name = strdup(path);
  return fd;
}

// The DIE tree of one compilation unit, walked once. dwarf_getscopes and dwarf_getscopes_die
// walk the unit from its root on every call: for a C++ unit that includes the standard library
// that is a millisecond or two, paid several times per frame (once per inlined level, once more
// to qualify each inlined function's name), so a process's first report took ~20 ms per unit.
struct CuTree {
  Dwarf* dbg = nullptr;
  std::vector<Dwarf_Off> offset;  // every DIE of the unit in preorder (increasing offsets)
  std::vector<int32_t> parent;    // index of each DIE's parent; -1 for the unit's own DIE
  struct Range {
    Dwarf_Addr lo, hi;  // [lo, hi)
    int32_t die;
  };
  std::vector<Range> ranges;  // of the DIEs that are code scopes (functions, inlined, blocks)

  int32_t IndexOf(Dwarf_Off off) const {
    auto it = std::lower_bound(offset.begin(), offset.end(), off);
    return it != offset.end() && *it == off ? static_cast<int32_t>(it - offset.begin()) : -1;
  }
  // The chain die, its parent, ..., the unit's DIE (what dwarf_getscopes_die gives), as a
  // malloc'd array like libdw's; 0 when a DIE cannot be read back.
  int Chain(int32_t i, Dwarf_Die** out) const {
    int n = 0;
    for (int32_t k = i; k >= 0; k = parent[static_cast<size_t>(k)]) ++n;
    auto* dies = static_cast<Dwarf_Die*>(malloc(sizeof(Dwarf_Die) * static_cast<size_t>(n)));
    if (dies == nullptr) return 0;
    int m = 0;
    for (int32_t k = i; k >= 0; k = parent[static_cast<size_t>(k)]) {
      if (dwarf_offdie(dbg, offset[static_cast<size_t>(k)], &dies[m]) == nullptr) {
        free(dies);
        return 0;
      }
      ++m;
    }
    *out = dies;
    return n;
  }
};

bool IsCodeScope(int tag) {
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
         tag == DW_TAG_lexical_block || tag == DW_TAG_try_block || tag == DW_TAG_catch_block ||
         tag == DW_TAG_entry_point || tag == DW_TAG_with_stmt;
}

// Walks the unit whose DIE is `cudie` once; false when libdw cannot (then the caller uses
// libdw's own walks).
bool BuildCuTree(Dwarf_Die* cudie, CuTree* t) {
  t->dbg = dwarf_cu_getdwarf(cudie->cu);
  if (t->dbg == nullptr) return false;
  // Only a unit of .debug_info: Chain reads DIEs back with dwarf_offdie, which looks there,
  // and a type unit (DWARF 4's .debug_types, or a split one) holds no code anyway.
  uint8_t unit_type = 0;
  if (dwarf_cu_info(cudie->cu, nullptr, &unit_type, nullptr, nullptr, nullptr, nullptr,
                    nullptr) != 0 ||
      (unit_type != DW_UT_compile && unit_type != DW_UT_partial)) {
    return false;
  }
  struct Level {
    Dwarf_Die die;
    int32_t index;
  };
  std::vector<Level> stack;
  t->offset.push_back(dwarf_dieoffset(cudie));
  t->parent.push_back(-1);
  Dwarf_Die child;
  const int first = dwarf_child(cudie, &child);
  if (first != 0) return first > 0;  // no children: an empty tree; an error: libdw's walks
  stack.push_back({child, 0});  // the next DIE to visit and its parent's index
  while (!stack.empty()) {
    Level& at = stack.back();
    const int32_t index = static_cast<int32_t>(t->offset.size());
    t->offset.push_back(dwarf_dieoffset(&at.die));
    t->parent.push_back(at.index);
    const int tag = dwarf_tag(&at.die);
    // A unit that imports a partial unit (dwz, as Debian's -dbgsym files are made) has scopes
    // in another unit: left to libdw, which follows the import.
    if (tag == DW_TAG_imported_unit) return false;
    if (IsCodeScope(tag)) {
      Dwarf_Addr base = 0, lo = 0, hi = 0;
      ptrdiff_t off = 0;
      while ((off = dwarf_ranges(&at.die, off, &base, &lo, &hi)) > 0) {
        if (lo < hi) t->ranges.push_back({lo, hi, index});
      }
    }
    Dwarf_Die here = at.die;
    Dwarf_Die next;
    // An error reading the tree (not its end) leaves the unit to libdw: a tree cut short
    // would miss the scopes past the error without saying so.
    const int sibling = dwarf_siblingof(&here, &next);
    if (sibling < 0) return false;
    if (sibling == 0) {
      at.die = next;
    } else {
      stack.pop_back();
    }
    if (dwarf_haschildren(&here)) {
      const int nested = dwarf_child(&here, &child);
      if (nested < 0) return false;
      if (nested == 0) stack.push_back({child, index});
    }
  }
  return true;
}

struct Symbolizer {
  EngineMutex mu;
  Dwfl* dwfl = nullptr;
  Dwfl_Callbacks callbacks{};
  char* debuginfo_path = nullptr;
  std::unordered_map<uint64_t, std::vector<SymbolizedFrame>> cache;
  // CuTree of each unit a frame was looked up in, by its Dwarf_CU; dropped with the Dwfl.
  // Bounded: past kMaxTreeDies DIEs in all they are dropped and built again as needed.
  static constexpr size_t kMaxTreeDies = size_t{1} << 21;
  std::unordered_map<const void*, CuTree> trees;
  size_t tree_dies = 0;

  // The tree of the unit `die` is in, or null (libdw's walks are used then).
  const CuTree* TreeOf(Dwarf_Die* die) {
    Dwarf_Die cudie;
    if (dwarf_diecu(die, &cudie, nullptr, nullptr) == nullptr) return nullptr;
    auto it = trees.find(cudie.cu);
    if (it != trees.end()) return it->second.dbg != nullptr ? &it->second : nullptr;
    if (tree_dies > kMaxTreeDies) {
      trees.clear();
      tree_dies = 0;
    }
    CuTree& t = trees[cudie.cu];
    if (!BuildCuTree(&cudie, &t)) {
      t = CuTree();  // remembered as unusable
      return nullptr;
    }
    tree_dies += t.offset.size();
    return &t;
  }
  // dwarf_getscopes_die(die, out), from the unit's tree.
  int ScopesOfDie(Dwarf_Die* die, Dwarf_Die** out) {
    const CuTree* t = TreeOf(die);
    const int32_t i = t != nullptr ? t->IndexOf(dwarf_dieoffset(die)) : -1;
    if (i < 0) return dwarf_getscopes_die(die, out);
    return t->Chain(i, out);
  }
  // The innermost code scope containing `pc` (an address of the unit, bias removed) and its
  // physical parents out to the unit's DIE; -1 or 0 as dwarf_getscopes.
  int ScopesOfPc(Dwarf_Die* cudie, Dwarf_Addr pc, Dwarf_Die** out) {
    const CuTree* t = TreeOf(cudie);
    if (t == nullptr) return dwarf_getscopes(cudie, pc, out);
    int32_t inner = -1;
    for (const CuTree::Range& r : t->ranges) {
      if (r.lo <= pc && pc < r.hi && r.die > inner) inner = r.die;
    }
    if (inner < 0) return 0;
    return t->Chain(inner, out);
  }

  void Open() {
    trees.clear();
    tree_dies = 0;
    if (dwfl != nullptr) dwfl_end(dwfl);
    callbacks.find_elf = dwfl_linux_proc_find_elf;
    callbacks.find_debuginfo = FindLocalDebuginfo;
    callbacks.debuginfo_path = &debuginfo_path;
    dwfl = dwfl_begin(&callbacks);
    if (dwfl == nullptr) return;
    dwfl_report_begin(dwfl);
    dwfl_linux_proc_report(dwfl, getpid());
    dwfl_report_end(dwfl, nullptr, nullptr);
  }
  // `refresh`: when no module covers the address, re-read the maps once (a library loaded
  // since). Only for code addresses: data (heap locks) is usually outside every module.
  Dwfl_Module* Module(uintptr_t pc, bool refresh = true) {
    if (dwfl == nullptr) Open();
    if (dwfl == nullptr) return nullptr;
    Dwfl_Module* m = dwfl_addrmodule(dwfl, pc);
    if (m == nullptr && refresh) {
      Open();
      m = dwfl ? dwfl_addrmodule(dwfl, pc) : nullptr;
    }
    return m;
  }
};
Symbolizer* g_symbolizer = nullptr;
Symbolizer& GetSymbolizer() {
  static Symbolizer* first = g_symbolizer = new Symbolizer();
  (void)first;
  return *g_symbolizer;
}

std::string Demangle(const char* name) {
  if (name == nullptr) return {};
  // Only mangled C++ names: a C symbol "a" or "i" is not the type "signed char" or "int".
  if (name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status == 0 && d != nullptr) {
    std::string r(d);
    free(d);
    return r;
  }
  return name;
}

std::string Basename(const char* path) {
  if (path == nullptr) return {};
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

// The unwinder is libgcc's (_Unwind_Backtrace, which finds each frame's unwind table through
// glibc's _dl_find_object: no lock, no system call). libunwind 1.6, used before, blocked and
// restored every signal around its cache and module lookups: the capture of a program's first new
// edge made 98 rt_sigprocmask calls and took about 175 us on the issue-14 machine. libgcc takes a
// mutex of its own only when a program registered unwind tables by hand (__register_frame_info: JIT
// compilers): a fork while another thread unwinds then gives the child that mutex held by nobody,
// and the child's first capture waits forever. So a fork goes ahead only when no thread is in a
// capture, and a capture that starts while a fork is under way gives up (no stack for that one
// event) rather than wait: it may hold an engine lock the fork needs (StacksTryPrepareFork). A
// frame without unwind information (hand-written assembly without CFI, JIT code) ends the stack
// there.
std::atomic<uint32_t> g_unwinding{0};
std::atomic<bool> g_fork_pending{false};

struct UnwindGate {
  bool open;
  UnwindGate() noexcept {
    g_unwinding.fetch_add(1, std::memory_order_seq_cst);
    open = !g_fork_pending.load(std::memory_order_seq_cst);
  }
  ~UnwindGate() { g_unwinding.fetch_sub(1, std::memory_order_release); }
  UnwindGate(const UnwindGate&) = delete;
  UnwindGate& operator=(const UnwindGate&) = delete;
};

namespace {
struct Walk {
  RawFrame* out = nullptr;
  size_t max = 0;
  uintptr_t start_pc = 0;
  size_t n = 0;
  bool started = false;
  RawFrame skipped[16] = {};
  size_t nskipped = 0;
  int steps = 0;
};

_Unwind_Reason_Code WalkFrame(_Unwind_Context* ctx, void* arg) {
  Walk& w = *static_cast<Walk*>(arg);
  // A return address; for a signal frame, the interrupted instruction itself.
  const auto ip = static_cast<uintptr_t>(_Unwind_GetIP(ctx));
  // In the callback for a frame libgcc's context holds the CFA of the frame it called (the
  // context moves to the caller's pc before its own CFA is known): this frame's stack pointer.
  const auto sp = static_cast<uintptr_t>(_Unwind_GetCFA(ctx));
  if (ip == 0) return _URC_END_OF_STACK;
  if (!w.started && ip == w.start_pc) w.started = true;
  if (w.started) {
    w.out[w.n++] = RawFrame{ip, sp};
  } else if (w.nskipped < 16) {
    w.skipped[w.nskipped++] = RawFrame{ip, sp};
  }
  // Walk up to 256 frames looking for start_pc, then keep `max` frames from there.
  return ++w.steps >= 256 || w.n >= w.max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

// The start of the function that contains `pc`; 0 when no unwind table covers it.
uintptr_t FunctionStart(uintptr_t pc) {
  return reinterpret_cast<uintptr_t>(_Unwind_FindEnclosingFunction(reinterpret_cast<void*>(pc)));
}

}  // namespace

size_t CaptureFrames(RawFrame* out, size_t max, uintptr_t start_pc) {
  UnwindGate gate;
  if (!gate.open || max == 0) return 0;
  Walk w;
  w.out = out;
  w.max = max;
  w.start_pc = start_pc;
  w.started = start_pc == 0;
  _Unwind_Backtrace(WalkFrame, &w);
  if (!w.started) {  // start_pc not found: keep what we skipped (best effort)
    w.n = 0;
    for (size_t i = 0; i < w.nskipped && w.n < max; ++i) out[w.n++] = w.skipped[i];
  }
  return w.n;
}

std::vector<uintptr_t> RebuildHeldStack(const RawFrame* frames, size_t n, uintptr_t pc,
                                        uintptr_t cfa, size_t max_depth, bool* partial) {
  std::vector<uintptr_t> out;
  out.push_back(pc);
  *partial = true;
  // The acquiring function called the lock with SP == cfa: its activation, if still there, is
  // the frame whose sp is cfa (older frames have a larger sp) and it runs the same procedure.
  size_t k = 0;
  while (k < n && frames[k].sp < cfa) ++k;
  if (k >= n || frames[k].sp != cfa) return out;  // returned: no frame at that depth now
  const uintptr_t start = FunctionStart(pc);
  if (start == 0 || FunctionStart(frames[k].pc - 1) != start) {
    return out;  // another function's frame at that depth: the acquiring one has returned
  }
  *partial = false;
  // frames[k] is the acquiring function itself, now at a later pc: its callers follow.
  for (++k; k < n && out.size() < max_depth; ++k) out.push_back(frames[k].pc);
  return out;
}

namespace {
// The stack pages below this frame, written once: the first stack captured on the program's
// first locks runs deeper than anything before it, and each new page of the main thread's
// stack faults in (10 us in some virtual machines). 32 KB: the unwinder and the capture.
__attribute__((noinline)) void TouchStackBelow() noexcept {
  volatile char pad[32 * 1024];
  for (size_t i = 0; i < sizeof pad; i += 4096) pad[i] = 0;
  pad[sizeof pad - 1] = 0;
}
}  // namespace

void WarmUpUnwinder() noexcept {
  // Only on the main thread, whose stack grows on demand (a thread's may be small).
  if (getpid() == gettid()) TouchStackBelow();
  RawFrame frames[8];
  size_t n = CaptureFrames(frames, 8, 0);
  uintptr_t pcs[8];
  for (size_t k = 0; k < n; ++k) pcs[k] = frames[k].pc;
  InternStack(pcs, n);
  // The program's own module: the frames above are the dynamic loader's, at constructor time.
  // (Binds libgcc's lazily resolved calls and fills glibc's object lookup for it.)
  const uintptr_t entry = getauxval(AT_ENTRY);
  if (entry != 0) FunctionStart(entry);
  // And the C library's, whose start-up frames are below main in every stack captured later.
  // (The C library's own symbol: a preloaded helper may interpose __libc_start_main.)
  if (void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD)) {
    if (void* start = dlsym(libc, "__libc_start_main")) {
      FunctionStart(reinterpret_cast<uintptr_t>(start));
    }
    dlclose(libc);
  }
}

StackId InternStack(const uintptr_t* pcs, size_t n, bool partial) {
  if (n == 0) return 0;
  Depot& d = GetDepot();
  uint64_t h = HashPcs(pcs, n) ^ (partial ? 0x5bd1e9955bd1e995ULL : 0);
  EngineLock lock(d.mu);
  auto range = d.by_hash.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    const auto& s = d.stacks[it->second - 1];
    if (s.size() == n && d.partial[it->second - 1] == partial && std::equal(s.begin(), s.end(), pcs)) {
      return it->second;
    }
  }
  d.stacks.emplace_back(pcs, pcs + n);
  d.partial.push_back(partial);
  StackId id = static_cast<StackId>(d.stacks.size());
  d.by_hash.emplace(h, id);
  return id;
}

bool IsPartialStack(StackId id) {
  if (id == 0) return false;
  Depot& d = GetDepot();
  EngineLock lock(d.mu);
  return id <= d.partial.size() && d.partial[id - 1];
}

std::vector<uintptr_t> GetStack(StackId id) {
  if (id == 0) return {};
  Depot& d = GetDepot();
  EngineLock lock(d.mu);
  if (id > d.stacks.size()) return {};
  return d.stacks[id - 1];
}

size_t DepotSize() {
  Depot& d = GetDepot();
  EngineLock lock(d.mu);
  return d.stacks.size();
}

namespace {

// Name of an inlined instance: its linkage name demangled, else its plain name.
std::string InlinedName(Symbolizer& s, Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* linkage = nullptr;
  if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) != nullptr ||
      dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr) != nullptr) {
    linkage = dwarf_formstring(&attr);
  }
  if (linkage != nullptr) return Demangle(linkage);
  const char* name = dwarf_diename(die);
  if (name == nullptr) return "";
  // No linkage name (GCC gives none to a lambda's operator()): qualify the plain name with the
  // scopes that contain its declaration, so `operator()` reads `main()::<lambda()>::operator()`.
  Dwarf_Die origin = *die, spec;
  for (int hop = 0; hop < 4; ++hop) {  // inlined instance -> abstract origin -> declaration
    Dwarf_Attribute a;
    if (dwarf_attr(&origin, DW_AT_abstract_origin, &a) == nullptr &&
        dwarf_attr(&origin, DW_AT_specification, &a) == nullptr) {
      break;
    }
    if (dwarf_formref_die(&a, &spec) == nullptr) break;
    origin = spec;
  }
  Dwarf_Die* scopes = nullptr;
  const int n = s.ScopesOfDie(&origin, &scopes);
  std::string qualified;
  for (int i = n - 1; i >= 1; --i) {  // outermost first; scopes[0] is the DIE itself
    const int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type &&
        tag != DW_TAG_subprogram) {
      continue;
    }
    const char* part = dwarf_diename(&scopes[i]);
    // An unnamed class around an operator() is a lambda's closure (as the demangler says).
    const char* unnamed = tag == DW_TAG_namespace ? "(anonymous namespace)"
                          : strcmp(name, "operator()") == 0 ? "{lambda}"
                                                            : "(anonymous)";
    qualified += part ? part : unnamed;
    qualified += tag == DW_TAG_subprogram ? "()::" : "::";
  }
  free(scopes);
  return qualified + name;
}

// The frames of one pc, innermost inlined function first, the real function last (what
// `addr2line -i` prints). Symbolizer mutex held.
std::vector<SymbolizedFrame> SymbolizeLocked(Symbolizer& s, uintptr_t pc, bool is_return_address) {
  SymbolizedFrame f;
  f.pc = pc;
  uintptr_t lookup = is_return_address ? pc - 1 : pc;
  Dwfl_Module* m = s.Module(lookup);
  if (m == nullptr) return {f};
  const char* mainfile = nullptr;
  const char* modname =
      dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
  f.module = Basename(mainfile ? mainfile : modname);
  Dwarf_Addr bias = 0;
  if (dwfl_module_getelf(m, &bias) != nullptr) f.offset = pc - bias;
  GElf_Sym sym;
  GElf_Off off = 0;
  f.function = Demangle(dwfl_module_addrinfo(m, lookup, &off, &sym, nullptr, nullptr, nullptr));
  if (Dwfl_Line* line = dwfl_module_getsrc(m, lookup)) {
    int lineno = 0;
    const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
    if (file != nullptr) {
      f.file = file;
      f.line = lineno;
    }
  }
  std::vector<SymbolizedFrame> out;
  Dwarf_Die* cudie = dwfl_module_addrdie(m, lookup, &bias);
  Dwarf_Die* scopes = nullptr;
  int n = cudie ? s.ScopesOfPc(cudie, lookup - bias, &scopes) : 0;
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (n > 0) dwarf_getsrcfiles(cudie, &files, &nfiles);
  std::string file = f.file;
  int line = f.line;
  // Walk outwards: each inlined instance becomes a frame, and its call site is the location in
  // the next one out. dwarf_getscopes_die() gives an instance's physical parents.
  for (int guard = 0; n > 0 && guard < 64; ++guard) {
    int i = 0;
    while (i < n && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine &&
           dwarf_tag(&scopes[i]) != DW_TAG_subprogram) {
      ++i;
    }
    if (i == n || dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) break;
    Dwarf_Die inlined = scopes[i];
    out.push_back(SymbolizedFrame{pc, InlinedName(s, &inlined), file, line, f.module, f.offset});
    Dwarf_Attribute attr;
    Dwarf_Word call_file = 0, call_line = 0;
    if (dwarf_formudata(dwarf_attr(&inlined, DW_AT_call_file, &attr), &call_file) == 0 &&
        files != nullptr && call_file < nfiles) {
      const char* name = dwarf_filesrc(files, call_file, nullptr, nullptr);
      file = name ? name : "";
    }
    if (dwarf_formudata(dwarf_attr(&inlined, DW_AT_call_line, &attr), &call_line) == 0) {
      line = static_cast<int>(call_line);
    }
    free(scopes);
    scopes = nullptr;
    n = s.ScopesOfDie(&inlined, &scopes);
    if (n > 0) {  // scopes[0] is the instance itself: continue with its parents
      memmove(&scopes[0], &scopes[1], sizeof(Dwarf_Die) * static_cast<size_t>(n - 1));
      --n;
    }
  }
  free(scopes);
  f.file = file;
  f.line = line;
  out.push_back(f);
  return out;
}

}  // namespace

namespace {
// libdw keeps large structures on the stack (reading a line table can take a few hundred KB):
// on a thread with less room left than this (a program thread created with a small stack), the
// work runs on a short-lived helper thread with a big stack, while the caller waits.
constexpr size_t kSymbolizeStackRoom = 1u << 20;
constexpr size_t kHelperStack = 8u << 20;

size_t StackRoomLeft() {
  uintptr_t lo = 0, hi = 0;
  ThreadStackBounds(&lo, &hi);  // no heap (core/engine_thread.h)
  const uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return lo != 0 && sp > lo ? sp - lo : SIZE_MAX;
}

template <class Fn>
void OnRoomyStack(Fn&& fn) {
  if (StackRoomLeft() >= kSymbolizeStackRoom) {
    fn();
    return;
  }
  pthread_attr_t attr;
  pthread_t helper;
  bool ran = false;
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_setstacksize(&attr, kHelperStack);
    auto run = [](void* arg) -> void* {
      EngineScope scope;  // an engine thread for its short life
      (*static_cast<Fn*>(arg))();
      return nullptr;
    };
    if (CreateWithSignalsBlocked(pthread_create, &helper, &attr, run, &fn) == 0) {
      pthread_join(helper, nullptr);
      ran = true;
    }
    pthread_attr_destroy(&attr);
  }
  if (!ran) fn();  // no thread: take the chance rather than lose the report
}
}  // namespace

namespace {
// The work itself, on the calling thread, under the symbolizer's mutex.
std::string ToHex(uint64_t x) {
  char b[24];
  snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(x));
  return b;
}

// Offsets of n DIEs (freed).
std::vector<Dwarf_Off> OffsetsOf(Dwarf_Die* dies, int n) {
  std::vector<Dwarf_Off> r(static_cast<size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) r[static_cast<size_t>(i)] = dwarf_dieoffset(&dies[i]);
  free(dies);
  return r;
}

// Is `die` the end of what SymbolizeLocked reads of a pc's scopes (its innermost function)?
bool EndsPrefix(Dwarf_Die* die) {
  const int tag = dwarf_tag(die);
  return tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram;
}

}  // namespace

size_t VerifyScopeIndex(uintptr_t begin, uintptr_t end, uintptr_t step, std::string* mismatch,
                        size_t* libdw_none_out) {
  Symbolizer& s = GetSymbolizer();
  EngineLock lock(s.mu);
  size_t compared = 0, libdw_none = 0;
  OnRoomyStack([&] {
    for (uintptr_t pc = begin; pc < end && mismatch->empty(); pc += step) {
      Dwfl_Module* m = s.Module(pc);
      Dwarf_Addr bias = 0;
      Dwarf_Die* cudie = m ? dwfl_module_addrdie(m, pc, &bias) : nullptr;
      if (cudie == nullptr) continue;
      Dwarf_Die* theirs = nullptr;
      Dwarf_Die* ours = nullptr;
      const int nt = dwarf_getscopes(cudie, pc - bias, &theirs);
      const int no = s.ScopesOfPc(cudie, pc - bias, &ours);
      // What SymbolizeLocked reads: the scopes up to the innermost function, then the physical
      // parents of each inlined instance.
      int kt = 0, ko = 0;
      while (kt < nt && !EndsPrefix(&theirs[kt])) ++kt;
      while (ko < no && !EndsPrefix(&ours[ko])) ++ko;
      std::vector<Dwarf_Off> t = OffsetsOf(theirs, std::min(nt, kt + 1));
      Dwarf_Die inner;
      const bool inlined = ko < no && dwarf_tag(&ours[ko]) == DW_TAG_inlined_subroutine;
      if (ko < no) inner = ours[ko];
      std::vector<Dwarf_Off> o = OffsetsOf(ours, std::min(no, ko + 1));
      ++compared;
      char where[64];
      snprintf(where, sizeof where, "pc 0x%zx: ", static_cast<size_t>(pc));
      // Where libdw finds no scope, a function defined inside another (a lambda's operator()
      // in a local class): dwarf_getscopes skips the enclosing function's subtree, whose pcs do
      // not include the lambda's, and so misses the lambda's inlined calls; the index finds
      // them. Compared only where libdw has an answer.
      if (nt <= 0) {
        ++libdw_none;
      } else if (t != o) {
        auto list = [](const std::vector<Dwarf_Off>& v) {
          std::string r;
          for (Dwarf_Off x : v) r += " 0x" + ToHex(x);
          return r;
        };
        *mismatch = std::string(where) + "innermost scopes differ from dwarf_getscopes:" +
                    list(t) + " (libdw) vs" + list(o);
        break;
      }
      for (int guard = 0; inlined && guard < 64; ++guard) {
        Dwarf_Die* a = nullptr;
        Dwarf_Die* b = nullptr;
        const int na = dwarf_getscopes_die(&inner, &a);
        const int nb = s.ScopesOfDie(&inner, &b);
        Dwarf_Die next;
        int k = 1;
        while (k < nb && !EndsPrefix(&b[k])) ++k;
        const bool more = k < nb && dwarf_tag(&b[k]) == DW_TAG_inlined_subroutine;
        if (more) next = b[k];
        if (OffsetsOf(a, na) != OffsetsOf(b, nb)) {
          *mismatch = std::string(where) + "parents of an inlined instance differ from "
                      "dwarf_getscopes_die";
          break;
        }
        if (!more) break;
        inner = next;
      }
    }
  });
  if (libdw_none_out != nullptr) *libdw_none_out = libdw_none;
  return compared;
}

namespace {

std::vector<SymbolizedFrame> SymbolizeHere(uintptr_t pc, bool is_return_address) {
  Symbolizer& s = GetSymbolizer();
  EngineLock lock(s.mu);
  uint64_t key = (static_cast<uint64_t>(pc) << 1) | is_return_address;
  auto it = s.cache.find(key);
  if (it != s.cache.end()) return it->second;
  std::vector<SymbolizedFrame> frames;
  // The helper runs under this thread's hold of s.mu (it takes no lock itself).
  OnRoomyStack([&] { frames = SymbolizeLocked(s, pc, is_return_address); });
  s.cache.emplace(key, frames);
  return frames;
}

std::string DataSymbolLocked(Symbolizer& s, uintptr_t addr);

std::string DataSymbolHere(uintptr_t addr) {
  Symbolizer& s = GetSymbolizer();
  EngineLock lock(s.mu);
  std::string name;
  OnRoomyStack([&] { name = DataSymbolLocked(s, addr); });  // module reporting reads ELF files
  return name;
}

// ---- The symbolizer thread ----------------------------------------------------------------
// libdw, libelf and the demangler allocate with the program's allocator. A program thread that
// ran them could be inside a signal handler that interrupted malloc, whose lock it then holds:
// it would wait for itself forever (jemalloc, tcmalloc and glibc alike). So program threads
// never run them: one engine thread does (big stack, asynchronous signals blocked), and a
// program thread hands it the job and waits a bounded time. Should the job be stuck behind the
// allocator's lock that the waiting thread itself holds, the wait ends, the caller gets no
// symbol (a module+offset or hex name), the handler returns, the allocator's lock is released,
// and the job completes into the cache for the next report. The wait is long enough for a cold
// read of a large binary's DWARF; the symbolizer thread never waits for a program thread.
struct SymbolizeJob {
  static constexpr uint32_t kQueued = 0, kDone = 1, kAbandoned = 2;
  std::atomic<uint32_t> state{kQueued};  // futex word
  void (*post_fn)(void*) = nullptr;      // a posted job: post_fn(post_arg), nobody waits
  void* post_arg = nullptr;
  bool barrier = false;                  // runs nothing: done when the jobs before it are
  bool data = false;                     // DataSymbol(value), else Symbolize(value, ret)
  bool is_return_address = false;
  uintptr_t value = 0;
  std::vector<SymbolizedFrame> frames;
  std::string name;
  SymbolizeJob* next = nullptr;
};

constexpr int64_t kJobWaitNs = 3'000'000'000;

struct JobQueue {
  EngineMutex mu;
  SymbolizeJob* head = nullptr;
  SymbolizeJob* tail = nullptr;
  std::atomic<uint32_t> pending{0};  // futex word: jobs queued
  std::atomic<uint32_t> sleeping{0};  // the thread is (about to be) in FUTEX_WAIT on `pending`
  std::atomic<bool> running{false};  // the thread is up (false again in a forked child)
  std::atomic<pid_t> tid{0};
};
JobQueue& Jobs() {
  static JobQueue* q = new JobQueue();
  return *q;
}

void RunJob(SymbolizeJob& j) {
  if (j.barrier) return;
  if (j.data) {
    j.name = DataSymbolHere(j.value);
  } else {
    j.frames = SymbolizeHere(j.value, j.is_return_address);
  }
}

void* SymbolizerMain(void*) {
  EngineScope scope;  // engine-owned for its whole life
  RegisterEngineTask();
  JobQueue& q = Jobs();
  q.tid.store(static_cast<pid_t>(gettid()), std::memory_order_release);
  for (;;) {
    SymbolizeJob* j = nullptr;
    {
      EngineLock lock(q.mu);
      j = q.head;
      if (j != nullptr) {
        q.head = j->next;
        if (q.head == nullptr) q.tail = nullptr;
        q.pending.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    if (j == nullptr) {
      q.sleeping.store(1, std::memory_order_seq_cst);
      if (q.pending.load(std::memory_order_seq_cst) == 0) {
        RawFutex(reinterpret_cast<uint32_t*>(&q.pending), FUTEX_WAIT_PRIVATE, 0);
      }
      q.sleeping.store(0, std::memory_order_relaxed);
      continue;
    }
    if (j->post_fn != nullptr) {
      j->post_fn(j->post_arg);
      delete j;
      continue;
    }
    RunJob(*j);
    if (j->state.exchange(SymbolizeJob::kDone, std::memory_order_acq_rel) ==
        SymbolizeJob::kAbandoned) {
      delete j;  // its caller gave up waiting; the result is in the cache
    } else {
      RawFutex(reinterpret_cast<uint32_t*>(&j->state), FUTEX_WAKE_PRIVATE, 1);
    }
  }
  return nullptr;
}

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Queues `j` for the symbolizer thread; false when there is none, unless `before_thread` (a
// posted job may wait for the thread to start, PostToSymbolizerThread).
bool Enqueue(SymbolizeJob* j, bool before_thread = false) {
  JobQueue& q = Jobs();
  if (!before_thread && !q.running.load(std::memory_order_acquire)) return false;
  {
    EngineLock lock(q.mu);
    if (q.tail != nullptr) {
      q.tail->next = j;
    } else {
      q.head = j;
    }
    q.tail = j;
    q.pending.fetch_add(1, std::memory_order_seq_cst);
  }
  // A wake-up only when the thread sleeps: a burst of jobs (a new edge each) costs no syscall
  // per job. Pairs with the seq_cst store of `sleeping` before the thread re-reads `pending`.
  // (Also when `running` was not seen: the thread may have just started and gone to sleep.)
  if (q.sleeping.load(std::memory_order_seq_cst) != 0 && q.sleeping.exchange(0) != 0) {
    RawFutex(reinterpret_cast<uint32_t*>(&q.pending), FUTEX_WAKE_PRIVATE, 1);
  }
  return true;
}

// Runs `j` on the symbolizer thread; false when it did not finish in time (the thread then owns
// and deletes the job) or when there is no symbolizer thread (the caller runs it itself).
bool OnSymbolizerThread(SymbolizeJob* j, int64_t wait_ns = kJobWaitNs) {
  if (!Enqueue(j)) return false;
  const int64_t deadline = MonotonicNs() + wait_ns;
  for (;;) {
    if (j->state.load(std::memory_order_acquire) == SymbolizeJob::kDone) return true;
    const int64_t left = deadline - MonotonicNs();
    if (left <= 0) break;
    timespec t{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    RawFutex(reinterpret_cast<uint32_t*>(&j->state), FUTEX_WAIT_PRIVATE, SymbolizeJob::kQueued,
             &t);
  }
  uint32_t expected = SymbolizeJob::kQueued;
  if (j->state.compare_exchange_strong(expected, SymbolizeJob::kAbandoned,
                                       std::memory_order_acq_rel)) {
    return false;
  }
  return true;  // done just now
}

// Whether this thread must hand libdw work to the symbolizer thread.
bool HandOff() {
  JobQueue& q = Jobs();
  return q.running.load(std::memory_order_acquire) &&
         q.tid.load(std::memory_order_acquire) != static_cast<pid_t>(gettid());
}
}  // namespace

std::vector<SymbolizedFrame> Symbolize(uintptr_t pc, bool is_return_address) {
  if (!HandOff()) return SymbolizeHere(pc, is_return_address);
  Symbolizer& s = GetSymbolizer();
  if (s.mu.try_lock()) {  // a cached pc needs no thread. (Never a blocking lock here: the
    // symbolizer thread holds it while libdw may wait for an allocator lock this thread holds.)
    auto it = s.cache.find((static_cast<uint64_t>(pc) << 1) | is_return_address);
    std::vector<SymbolizedFrame> hit;
    const bool found = it != s.cache.end();
    if (found) hit = it->second;
    s.mu.unlock();
    if (found) return hit;
  }
  auto* j = new SymbolizeJob();
  j->value = pc;
  j->is_return_address = is_return_address;
  if (!OnSymbolizerThread(j)) {
    if (j->state.load(std::memory_order_acquire) == SymbolizeJob::kAbandoned) {
      SymbolizedFrame f;  // see above: no symbol this time
      f.pc = pc;
      f.module = "?";
      f.offset = pc;
      f.symbolized = false;
      return {f};
    }
    delete j;
    return SymbolizeHere(pc, is_return_address);
  }
  std::vector<SymbolizedFrame> frames = std::move(j->frames);
  delete j;
  return frames;
}

std::vector<SymbolizedFrame> SymbolizeStack(StackId id) {
  std::vector<SymbolizedFrame> out;
  for (uintptr_t pc : GetStack(id)) {
    std::vector<SymbolizedFrame> frames = Symbolize(pc, true);
    out.insert(out.end(), frames.begin(), frames.end());
  }
  return out;
}

namespace {
// The module whose loaded segments (PT_LOAD, p_memsz: .bss included) cover `addr`. libdw's
// module ranges end with the file-backed pages, so the tail of a large zero-initialised array
// (an anonymous mapping after the module's data) belongs to no module for dwfl_addrmodule.
Dwfl_Module* ModuleBySegments(Symbolizer& s, uintptr_t addr) {
  struct Search {
    uintptr_t addr;
    Dwfl_Module* found;
  } search{addr, nullptr};
  dwfl_getmodules(
      s.dwfl,
      [](Dwfl_Module* m, void**, const char*, Dwarf_Addr, void* arg) -> int {
        auto* q = static_cast<Search*>(arg);
        GElf_Addr bias = 0;
        Elf* elf = dwfl_module_getelf(m, &bias);
        size_t n = 0;
        if (elf == nullptr || elf_getphdrnum(elf, &n) != 0) return DWARF_CB_OK;
        for (size_t i = 0; i < n; ++i) {
          GElf_Phdr ph;
          if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
          if (q->addr >= bias + ph.p_vaddr && q->addr < bias + ph.p_vaddr + ph.p_memsz) {
            q->found = m;
            return DWARF_CB_ABORT;
          }
        }
        return DWARF_CB_OK;
      },
      &search, 0);
  return search.found;
}

// The data object of module `m` covering `addr`, by a scan of its symbol table (for addresses
// dwfl_module_addrinfo does not look at: outside the module's reported range).
std::string ObjectCovering(Dwfl_Module* m, uintptr_t addr) {
  const int n = dwfl_module_getsymtab(m);
  for (int i = 1; i < n; ++i) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    const char* name = dwfl_module_getsym_info(m, i, &sym, &value, nullptr, nullptr, nullptr);
    if (name == nullptr || GELF_ST_TYPE(sym.st_info) != STT_OBJECT) continue;
    if (addr >= value && addr < value + sym.st_size) {
      std::string r = Demangle(name);
      if (addr != value) {
        char buf[32];
        snprintf(buf, sizeof buf, "+0x%lx", static_cast<unsigned long>(addr - value));
        r += buf;
      }
      return r;
    }
  }
  return {};
}

std::string DataSymbolLocked(Symbolizer& s, uintptr_t addr) {
  Dwfl_Module* m = s.Module(addr, /*refresh=*/false);
  if (m == nullptr) {
    if (s.dwfl == nullptr) return {};
    Dwfl_Module* owner = ModuleBySegments(s, addr);
    return owner != nullptr ? ObjectCovering(owner, addr) : std::string();
  }
  GElf_Sym sym;
  GElf_Off off = 0;
  const char* name = dwfl_module_addrinfo(m, addr, &off, &sym, nullptr, nullptr, nullptr);
  if (name == nullptr) {  // static data of a module without symbols
    Dwarf_Addr bias = 0, start = 0, end = 0;
    const char* mainfile = nullptr;
    const char* modname =
        dwfl_module_info(m, nullptr, &start, &end, nullptr, nullptr, &mainfile, nullptr);
    if (addr < start || addr >= end || dwfl_module_getelf(m, &bias) == nullptr) return {};
    char buf[64];
    snprintf(buf, sizeof buf, "+0x%lx", static_cast<unsigned long>(addr - bias));
    return Basename(mainfile ? mainfile : modname) + buf;
  }
  if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT) return {};
  std::string r = Demangle(name);
  if (off != 0) {
    char buf[32];
    snprintf(buf, sizeof buf, "+0x%lx", static_cast<unsigned long>(off));
    r += buf;
  }
  return r;
}
}  // namespace

std::string DataSymbol(uintptr_t addr) {
  if (!HandOff()) return DataSymbolHere(addr);
  auto* j = new SymbolizeJob();
  j->data = true;
  j->value = addr;
  if (!OnSymbolizerThread(j)) {
    if (j->state.load(std::memory_order_acquire) == SymbolizeJob::kAbandoned) return {};
    delete j;
    return DataSymbolHere(addr);
  }
  std::string name = std::move(j->name);
  delete j;
  return name;
}

namespace {
// Posted jobs may queue before the thread runs (StartBackground(lazy)); never in a forked child.
std::atomic<bool> g_accepting{false};

// Runs the queued jobs on this thread (no symbolizer thread: at exit).
void RunQueuedHere() {
  JobQueue& q = Jobs();
  for (;;) {
    SymbolizeJob* j = nullptr;
    {
      EngineLock lock(q.mu);
      j = q.head;
      if (j == nullptr) return;
      q.head = j->next;
      if (q.head == nullptr) q.tail = nullptr;
      q.pending.fetch_sub(1, std::memory_order_relaxed);
    }
    if (j->post_fn != nullptr) j->post_fn(j->post_arg);
    delete j;  // only posted jobs queue without the thread
  }
}
}  // namespace

void AcceptSymbolizerJobs() noexcept { g_accepting.store(true, std::memory_order_release); }

bool PostToSymbolizerThread(void (*fn)(void*), void* arg) noexcept {
  JobQueue& q = Jobs();
  const bool running = q.running.load(std::memory_order_acquire);
  if (running && q.tid.load(std::memory_order_acquire) == static_cast<pid_t>(gettid())) {
    return false;  // this is it
  }
  if (!running && !g_accepting.load(std::memory_order_acquire)) return false;
  auto* j = new SymbolizeJob();
  j->post_fn = fn;
  j->post_arg = arg;
  return Enqueue(j, /*before_thread=*/true);
}

void DrainSymbolizerThread(int64_t max_wait_ns) noexcept {
  if (!Jobs().running.load(std::memory_order_acquire)) {
    RunQueuedHere();  // never started (a single-threaded program): the edge lines, now
    return;
  }
  if (!HandOff()) return;
  auto* j = new SymbolizeJob();
  j->barrier = true;
  // Abandoned (the wait ran out): the symbolizer thread deletes it when it gets there.
  const bool done = OnSymbolizerThread(j, max_wait_ns);
  if (done || j->state.load(std::memory_order_acquire) != SymbolizeJob::kAbandoned) delete j;
}

void StartSymbolizerThread() noexcept {
  JobQueue& q = Jobs();
  static std::atomic<bool> started{false};
  if (started.exchange(true)) return;
  EngineScope scope;
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kHelperStack);
  pthread_t thread;
  if (CreateWithSignalsBlocked(pthread_create, &thread, &attr, SymbolizerMain, nullptr) == 0) {
    q.running.store(true, std::memory_order_release);
  }
  pthread_attr_destroy(&attr);
}

bool StacksTryPrepareFork() noexcept {
  g_fork_pending.store(true, std::memory_order_seq_cst);
  if (g_unwinding.load(std::memory_order_seq_cst) == 0) return true;
  g_fork_pending.store(false, std::memory_order_release);
  return false;
}

void StacksAfterFork(bool child) noexcept {
  if (child) g_unwinding.store(0, std::memory_order_relaxed);  // only this thread is left
  g_fork_pending.store(false, std::memory_order_release);
}

EngineMutex& StacksDepotMutex() { return GetDepot().mu; }
EngineMutex& StacksSymbolizerMutex() { return GetSymbolizer().mu; }

void StacksResetAfterFork(bool symbolizer_was_busy) {
  GetDepot().mu.ResetAfterFork();
  if (symbolizer_was_busy) {
    // The parent forked in the middle of a lookup (tracker.cc ForkPrepare): that symbolizer's
    // state may be half updated. It is left as it is (never freed) and a fresh one serves here.
    GetSymbolizer();
    // From the engine's arena: another atfork child handler (the allocator's own) may not have
    // released the program allocator's locks yet.
    if (void* mem = arena::Alloc(sizeof(Symbolizer), alignof(Symbolizer))) {
      g_symbolizer = new (mem) Symbolizer();
    } else {
      g_symbolizer->mu.ResetAfterFork();  // no memory: take the chance
    }
  } else {
    GetSymbolizer().mu.ResetAfterFork();
  }
  // The symbolizer thread does not exist in the child: symbolize on the calling thread there.
  // Queued jobs are the parent's (its waiters do not exist here either).
  JobQueue& q = Jobs();
  q.mu.ResetAfterFork();
  q.running.store(false, std::memory_order_relaxed);
  q.head = q.tail = nullptr;
  q.pending.store(0, std::memory_order_relaxed);
  q.sleeping.store(0, std::memory_order_relaxed);
  g_accepting.store(false, std::memory_order_relaxed);  // a child runs its lookups itself
}

void CaptureWithHeld(uintptr_t start_pc, uintptr_t held_pc, uintptr_t held_cfa, size_t depth,
                     StackId* stack, StackId* held_stack) {
  RawFrame frames[128];
  const size_t n = CaptureFrames(frames, std::min<size_t>(depth, 128), start_pc);
  uintptr_t pcs[128];
  for (size_t k = 0; k < n; ++k) pcs[k] = frames[k].pc;
  *stack = InternStack(pcs, n);
  bool partial = false;
  std::vector<uintptr_t> held = RebuildHeldStack(frames, n, held_pc, held_cfa, depth, &partial);
  *held_stack = InternStack(held.data(), held.size(), partial);
}

}  // namespace lockaudit::core
