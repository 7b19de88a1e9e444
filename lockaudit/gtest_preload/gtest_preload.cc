// liblockaudit_gtest_preload.so: the shim's findings as GoogleTest failures in an UNMODIFIED
// test binary (one built without lockaudit, against any gtest, static or shared):
//
//   LD_PRELOAD="/path/liblockaudit_preload.so /path/liblockaudit_gtest_preload.so" ./my_tests
//
// Loading this library next to the shim is the switch; it has no option of its own.
//
// How it works:
//  * It wraps main() (by interposing __libc_start_main, which calls the program's main), so it
//    knows when static initialisation is over and when main() returns.
//  * When main() starts, it looks up three functions of the program's GoogleTest by their
//    mangled names: testing::UnitTest::GetInstance(), UnitTest::current_test_info() and
//    UnitTest::AddTestPartResult() (the private function every EXPECT_/ASSERT_ ends in) -- with
//    dlsym() when gtest is a shared library, else in the executable's ELF symbol table (.symtab),
//    since a static libgtest.a exports nothing. Then it registers a finding callback with the
//    shim (lockaudit::on_finding, exported by liblockaudit_preload.so).
//  * Each finding is added with AddTestPartResult() as a non-fatal failure with the text report,
//    at the user's frame (file:line) of the acquisition. gtest charges it to the test running at
//    that moment (UnitTest's current test is global), from whatever thread raised it; outside any
//    test, to the running suite or the whole run ("NonTestSuiteFailure" in the XML), which makes
//    RUN_ALL_TESTS() return 1. Findings raised before main() are reported that way when main()
//    starts; if a finding outside every test was reported and main() still returns 0, the
//    wrapper makes it return 1.
//
// Limits:
//  * The binary needs its symbol table (not stripped) or a shared libgtest; gtest 1.8 to 1.12 at
//    least (the three functions' signatures have not changed since 1.6) and the C++11 std::string
//    ABI (the name of AddTestPartResult mentions it). Otherwise one warning, and findings are only
//    written to the lockaudit log as usual.
//  * A finding raised on another thread just as a test ends can be charged to the next test or to
//    the run (no listener here: gtest's current test is read when the finding is raised).
//  * No ScopedAllowFindings/LOCKAUDIT_EXPECT_FINDING in an unmodified binary: use
//    LOCKAUDIT_SUPPRESSIONS to opt out.
//  * Findings raised after main() returns (static destructors) are logged, not reported to gtest;
//    LOCKAUDIT_EXITCODE still applies.
//  * A binary linked with lockaudit::gtest (which has its own listener) is left alone.
//
// Thread-safety: the callback may run on any thread; `g_mu` (a spin lock, not audited) guards the
// start-up hand-over. Cost: nothing per lock operation; a symbol-table scan when main() starts.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "lockaudit/audit.h"
#include "spin_lock.h"
#include "user_frame.h"

// The shim's query API. Weak: without the shim this library loads and stands down.
namespace lockaudit {
__attribute__((weak)) int on_finding(std::function<void(const Finding&)> fn);
__attribute__((weak)) std::vector<Finding> findings();
}  // namespace lockaudit

namespace lockaudit::gtest_preload {
namespace {

// testing::TestPartResult::kNonFatalFailure (its value in every gtest release).
constexpr int kNonFatalFailure = 1;

constexpr const char kGetInstance[] = "_ZN7testing8UnitTest11GetInstanceEv";
constexpr const char kCurrentTestInfo[] = "_ZNK7testing8UnitTest17current_test_infoEv";
constexpr const char kAddTestPartResult[] =
    "_ZN7testing8UnitTest17AddTestPartResultENS_14TestPartResult4TypeEPKciRKNSt7__cxx1112basic_"
    "stringIcSt11char_traitsIcESaIcEEESC_";
// lockaudit::testing::InstallListener(): the binary reports through lockaudit::gtest itself.
constexpr const char kInstallListener[] = "_ZN9lockaudit7testing15InstallListenerEv";

// The member functions, called with `this` first (Itanium C++ ABI).
using GetInstanceFn = void* (*)();
using CurrentTestInfoFn = const void* (*)(const void* unit_test);
using AddTestPartResultFn = void (*)(void* unit_test, int type, const char* file, int line,
                                     const std::string& message, const std::string& stack);

struct Gtest {
  GetInstanceFn get_instance = nullptr;
  CurrentTestInfoFn current_test_info = nullptr;
  AddTestPartResultFn add_test_part_result = nullptr;
};

using testing_internal::SpinLock;  // guards the state below (spin_lock.h)

// g_gtest is written once, before g_active is set; read only while g_active.
Gtest g_gtest;
std::atomic<bool> g_active{false};   // between main()'s start (gtest found) and its return
std::atomic<bool> g_outside{false};  // a finding outside every test was reported
SpinLock g_mu;
bool g_starting = true;                    // guarded by g_mu: start-up snapshot not done yet
std::unordered_set<std::string> g_seen;    // guarded by g_mu: json of findings reported meanwhile

void Warn(const char* why) {
  std::fprintf(stderr, "lockaudit: warning: liblockaudit_gtest_preload.so: %s; findings are not "
                       "reported as test failures\n", why);
}

// ---- Symbols -------------------------------------------------------------------------------

struct MappedFile {
  const char* data = nullptr;
  size_t size = 0;
  explicit MappedFile(const char* path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        data = static_cast<const char*>(p);
        size = static_cast<size_t>(st.st_size);
      }
    }
    close(fd);
  }
  ~MappedFile() {
    if (data) munmap(const_cast<char*>(data), size);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  bool Contains(std::string_view needle) const {
    return data && memmem(data, size, needle.data(), needle.size()) != nullptr;
  }
};

uintptr_t MainProgramBias() {
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        *static_cast<uintptr_t*>(out) = info->dlpi_addr;  // the first entry is the program
        return 1;
      },
      &bias);
  return bias;
}

// Looks `names` up in the executable's .symtab; fills `out` (same order) with run-time
// addresses. Returns false when the file has no symbol table.
bool LookUpInSymtab(const MappedFile& exe, const char* const* names, size_t n, void** out) {
  if (exe.size < sizeof(Elf64_Ehdr) || memcmp(exe.data, ELFMAG, SELFMAG) != 0 ||
      exe.data[EI_CLASS] != ELFCLASS64) {
    return false;
  }
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(exe.data);
  if (eh->e_shoff == 0 || eh->e_shoff + uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) > exe.size) {
    return false;
  }
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(exe.data + eh->e_shoff);
  uintptr_t bias = eh->e_type == ET_DYN ? MainProgramBias() : 0;
  bool has_symtab = false;
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr& strs = sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > exe.size || strs.sh_offset + strs.sh_size > exe.size) {
      continue;
    }
    has_symtab = true;
    const auto* syms = reinterpret_cast<const Elf64_Sym*>(exe.data + sh[i].sh_offset);
    size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
    for (size_t s = 0; s < count; ++s) {
      if (syms[s].st_shndx == SHN_UNDEF || ELF64_ST_TYPE(syms[s].st_info) != STT_FUNC ||
          syms[s].st_name >= strs.sh_size) {
        continue;
      }
      const char* name = exe.data + strs.sh_offset + syms[s].st_name;
      for (size_t k = 0; k < n; ++k) {
        if (out[k] == nullptr && strcmp(name, names[k]) == 0) {
          out[k] = reinterpret_cast<void*>(bias + syms[s].st_value);
        }
      }
    }
  }
  return has_symtab;
}

// ---- Reporting -----------------------------------------------------------------------------

uint32_t Tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

void Report(const Finding& f, const char* when) {
  void* unit_test = g_gtest.get_instance();
  bool in_test = g_gtest.current_test_info(unit_test) != nullptr;
  std::string prefix;
  if (!in_test) {
    g_outside.store(true);
    prefix = std::string("lockaudit: finding outside any test") + when + ":\n";
  } else if (Tid() != static_cast<uint32_t>(getpid())) {
    prefix = "lockaudit: raised on another thread (tid " + std::to_string(Tid()) +
             ") while this test ran:\n";
  }
  const Frame* at = ::lockaudit::internal::UserFrame(f);
  g_gtest.add_test_part_result(unit_test, kNonFatalFailure, at ? at->file.c_str() : nullptr,
                               at ? at->line : -1, prefix + ::lockaudit::internal::TrimmedText(f),
                               std::string());
}

void OnFinding(const Finding& f) {
  if (!g_active.load(std::memory_order_acquire)) return;
  {
    std::lock_guard<SpinLock> g(g_mu);
    if (g_starting) g_seen.insert(f.json);
  }
  Report(f, "");
}

void OnMainStart() {
  MappedFile exe("/proc/self/exe");
  const char* names[] = {kGetInstance, kCurrentTestInfo, kAddTestPartResult, kInstallListener};
  constexpr size_t n = sizeof names / sizeof names[0];
  void* found[n] = {};
  for (size_t k = 0; k < n; ++k) found[k] = dlsym(RTLD_DEFAULT, names[k]);
  bool has_symtab = LookUpInSymtab(exe, names, n, found);
  bool gtest = found[0] || exe.Contains("gtest_list_tests");  // the flag's name, even stripped
  if (!gtest) return;  // not a test program (a shell, a helper the tests run): stay silent
  if (found[3]) return;  // linked with lockaudit::gtest: its listener reports
  if (!::lockaudit::on_finding || !::lockaudit::findings) {
    Warn("liblockaudit_preload.so is not loaded (put it first in LD_PRELOAD)");
    return;
  }
  if (!found[0] || !found[1] || !found[2]) {
    Warn(has_symtab ? "GoogleTest's UnitTest functions not found (an unsupported gtest version?)"
                    : "the test binary has no symbol table (stripped)");
    return;
  }
  g_gtest.get_instance = reinterpret_cast<GetInstanceFn>(found[0]);
  g_gtest.current_test_info = reinterpret_cast<CurrentTestInfoFn>(found[1]);
  g_gtest.add_test_part_result = reinterpret_cast<AddTestPartResultFn>(found[2]);
  g_gtest.get_instance();  // constructed by now (by TEST registration) in practice; make sure
  g_active.store(true, std::memory_order_release);
  ::lockaudit::on_finding(OnFinding);
  // Findings raised before main(): outside every test. One the callback already reported is
  // skipped.
  std::vector<Finding> before = ::lockaudit::findings();
  for (const Finding& f : before) {
    {
      std::lock_guard<SpinLock> g(g_mu);
      if (!g_seen.insert(f.json).second) continue;
    }
    Report(f, " (before main)");
  }
  std::lock_guard<SpinLock> g(g_mu);
  g_starting = false;
  g_seen.clear();
}

int OnMainEnd(int status) {
  // gtest's UnitTest is destroyed during exit: stop calling it now.
  g_active.store(false, std::memory_order_release);
  if (status == 0 && g_outside.load()) {
    std::fflush(nullptr);
    std::fprintf(stderr, "lockaudit: finding(s) outside any test (report above); exit status 1\n");
    return 1;
  }
  return status;
}

// ---- main() wrapper ------------------------------------------------------------------------

using MainFn = int (*)(int, char**, char**);
MainFn g_main = nullptr;

int WrappedMain(int argc, char** argv, char** envp) {
  OnMainStart();
  return OnMainEnd(g_main(argc, argv, envp));
}

}  // namespace
}  // namespace lockaudit::gtest_preload

// glibc's start-up calls main() through this; we call the real one with main() wrapped.
extern "C" __attribute__((visibility("default"))) int __libc_start_main(
    int (*main)(int, char**, char**), int argc, char** argv, void* init, void* fini,
    void* rtld_fini, void* stack_end) {
  using Real = int (*)(int (*)(int, char**, char**), int, char**, void*, void*, void*, void*);
  static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "__libc_start_main"));
  if (real == nullptr) _exit(127);  // cannot happen with glibc
  lockaudit::gtest_preload::g_main = main;
  return real(lockaudit::gtest_preload::WrappedMain, argc, argv, init, fini, rtld_fini,
              stack_end);
}
