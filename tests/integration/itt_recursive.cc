// itt_recursive: the ITT sync calls a TBB 2020 program makes for its mutexes, made directly
// (oneTBB 2021, Debian's, has no recursive mutex left). A tbb::recursive_mutex re-entered by its
// holder adds nothing: no misuse, and no order from the locks taken since its first
// acquisition. Taking it and `table` in both orders from two threads is a potential deadlock.
// Expected under the shim: one lock_order_cycle, of `registry` and `table`, nothing else.
// Without the shim the ITT calls resolve to nothing and the program only exits.
#include <thread>

extern "C" {
void __itt_sync_create(void* addr, const char* objtype, const char* objname, int attribute)
    __attribute__((weak));
void __itt_sync_prepare(void* addr) __attribute__((weak));
void __itt_sync_acquired(void* addr) __attribute__((weak));
void __itt_sync_releasing(void* addr) __attribute__((weak));
void __itt_sync_destroy(void* addr) __attribute__((weak));
}

namespace {

alignas(64) unsigned char registry[64];  // a tbb::recursive_mutex's storage
alignas(64) unsigned char journal[64];   // a tbb::mutex
alignas(64) unsigned char table[64];     // another tbb::mutex

void Lock(void* m) {
  __itt_sync_prepare(m);
  __itt_sync_acquired(m);
}

void Unlock(void* m) { __itt_sync_releasing(m); }

// Re-enters registry under journal: a recursive re-lock adds no order (journal -> registry
// would close a cycle with registry -> journal, which no deadlock can follow).
void RegisterNested() {
  Lock(registry);
  Lock(journal);
  Lock(registry);
  Unlock(registry);
  Unlock(journal);
  Unlock(registry);
}

void TableThenRegistry() {
  Lock(table);
  Lock(registry);
  Unlock(registry);
  Unlock(table);
}

void RegistryThenTable() {
  Lock(registry);
  Lock(table);
  Unlock(table);
  Unlock(registry);
}

}  // namespace

int main() {
  if (__itt_sync_create == nullptr) return 0;  // not under the shim
  __itt_sync_create(registry, "tbb::recursive_mutex", "registry", 2);
  __itt_sync_create(journal, "tbb::mutex", "journal", 2);
  __itt_sync_create(table, "tbb::mutex", "table", 2);
  std::thread(RegisterNested).join();
  std::thread(TableThenRegistry).join();
  std::thread(RegistryThenTable).join();
  __itt_sync_destroy(registry);
  __itt_sync_destroy(journal);
  __itt_sync_destroy(table);
  return 0;
}
