#include "real.h"

#include <dlfcn.h>

#include "raw_log.h"

namespace lockaudit::preload::real {

#define LOCKAUDIT_DEFINE_REAL(name, ret, params, version) ret(*name) params = nullptr;
LOCKAUDIT_REAL_FUNCTIONS(LOCKAUDIT_DEFINE_REAL)
#undef LOCKAUDIT_DEFINE_REAL

namespace {
void* Lookup(const char* name, const char* version) {
  void* p = version != nullptr ? dlvsym(RTLD_NEXT, name, version) : nullptr;
  return p != nullptr ? p : dlsym(RTLD_NEXT, name);
}
}  // namespace

std::atomic<bool> g_resolved{false};

bool Resolve() noexcept {
  bool ok = true;
#define LOCKAUDIT_RESOLVE_REAL(name, ret, params, version)                          \
  if (name == nullptr) {                                                             \
    if (void* p = Lookup(#name, version)) {                                          \
      name = reinterpret_cast<ret(*) params>(p);                                     \
    } else {                                                                         \
      ok = false;                                                                    \
      core::RawLog("lockaudit: error: cannot resolve the real %s; calls to it fail\n", #name); \
    }                                                                                \
  }
  LOCKAUDIT_REAL_FUNCTIONS(LOCKAUDIT_RESOLVE_REAL)
#undef LOCKAUDIT_RESOLVE_REAL
  (void)ok;
  const bool core_ok = pthread_mutex_lock != nullptr && pthread_mutex_unlock != nullptr &&
                       pthread_mutex_trylock != nullptr;
  if (core_ok) g_resolved.store(true, std::memory_order_release);
  return core_ok;
}

}  // namespace lockaudit::preload::real
