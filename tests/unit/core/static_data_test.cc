// core/static_data: which addresses are a module's static data (a lock there is keyed and named
// by its data symbol), refreshed on demand.
#include "static_data.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace lockaudit::core::static_data {
namespace {

pthread_mutex_t g_initialised_mutex = PTHREAD_MUTEX_INITIALIZER;  // .data
pthread_mutex_t g_zero_mutexes[4096];                              // .bss, 160 KiB
const int g_read_only = 7;                                         // .rodata: not writable

uintptr_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(StaticData, DataAndBssOfLoadedModulesAreStaticHeapAndStackAreNot) {
  Refresh();
  EXPECT_GT(RangeCount(), 0u);
  EXPECT_TRUE(Contains(Addr(&g_initialised_mutex)));
  EXPECT_TRUE(Contains(Addr(&g_zero_mutexes[0])));
  EXPECT_TRUE(Contains(Addr(&g_zero_mutexes[4095])));  // the tail of a large .bss array
  EXPECT_FALSE(Contains(Addr(&g_read_only)));
  auto heap = std::make_unique<pthread_mutex_t>();
  EXPECT_FALSE(Contains(Addr(heap.get())));
  pthread_mutex_t on_stack;
  EXPECT_FALSE(Contains(Addr(&on_stack)));
  EXPECT_FALSE(Contains(0));
  EXPECT_FALSE(Contains(UINTPTR_MAX));
}

// The start of the first writable PT_LOAD segment of the loaded object whose name contains
// `name`; 0 when none.
uintptr_t WritableSegmentOf(const char* name) {
  struct Query {
    const char* name;
    uintptr_t found;
  } q{name, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) -> int {
        auto* q = static_cast<Query*>(arg);
        if (info->dlpi_name == nullptr || strstr(info->dlpi_name, q->name) == nullptr) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W) && ph.p_memsz != 0) {
            q->found = info->dlpi_addr + ph.p_vaddr;
            return 1;
          }
        }
        return 0;
      },
      &q);
  return q.found;
}

TEST(StaticData, AModuleLoadedLaterCountsAfterTheNextRefresh) {
  void* environ_sym = dlsym(RTLD_DEFAULT, "environ");  // libc's own static data
  ASSERT_NE(environ_sym, nullptr);
  Refresh();
  EXPECT_TRUE(Contains(Addr(environ_sym)));
  // A library this test does not link: its data is not static data until the table is refreshed.
  const char* candidates[] = {"libgomp.so.1", "libexpat.so.1", "libbz2.so.1.0", "libzstd.so.1",
                              "liblzma.so.5"};
  for (const char* lib : candidates) {
    if (dlopen(lib, RTLD_NOW | RTLD_NOLOAD) != nullptr) continue;  // already loaded
    void* handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) continue;
    const uintptr_t data = WritableSegmentOf(lib);
    ASSERT_NE(data, 0u) << lib;
    EXPECT_FALSE(Contains(data)) << lib << ": in the table before a refresh";
    Refresh();
    EXPECT_TRUE(Contains(data)) << lib << ": not in the table after a refresh";
    return;
  }
  GTEST_SKIP() << "none of the candidate libraries could be loaded (or all were loaded already)";
}

}  // namespace
}  // namespace lockaudit::core::static_data
