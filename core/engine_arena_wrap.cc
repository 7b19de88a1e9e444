// The allocation functions of the engine's own code, for the engine hosts (the shim and
// liblockaudit.so) linked with `-Wl,--wrap=<fn>` for each function below (cmake/
// EngineArenaWrap.cmake): the host's references to malloc, operator new, ... land here, the
// program's never do. Inside the engine (core::UseEngineArena()) blocks come from the engine's
// arena (engine_arena.h); elsewhere from the program's allocator, as before. Frees go to the
// allocator that owns the address, so a block may be allocated on one side and freed on the
// other.
//
// The engine is built as C++20: std::string is then instantiated in the host itself, not taken
// from libstdc++.so, so its allocations pass here too (tests/unit/core/arena_link_check.sh
// checks that no code of either host calls an allocation function's PLT entry directly).
#include <cstddef>
#include <new>

#include "engine_arena.h"
#include "provider.h"

using lockaudit::core::UseEngineArena;
namespace arena = lockaudit::core::arena;

// The linker's --wrap names are reserved identifiers by the letter of the standard.
// NOLINTBEGIN(bugprone-reserved-identifier)
extern "C" {
void* __real_malloc(size_t);
void* __real_calloc(size_t, size_t);
void* __real_realloc(void*, size_t);
void __real_free(void*);
int __real_posix_memalign(void**, size_t, size_t);
void* __real_aligned_alloc(size_t, size_t);
void* __real_memalign(size_t, size_t);
size_t __real_malloc_usable_size(void*);
void* __real__Znwm(size_t);
void* __real__Znam(size_t);
void* __real__ZnwmRKSt9nothrow_t(size_t, const std::nothrow_t&);
void* __real__ZnamRKSt9nothrow_t(size_t, const std::nothrow_t&);
void* __real__ZnwmSt11align_val_t(size_t, std::align_val_t);
void* __real__ZnamSt11align_val_t(size_t, std::align_val_t);
void __real__ZdlPv(void*);
void __real__ZdaPv(void*);
void __real__ZdlPvm(void*, size_t);
void __real__ZdaPvm(void*, size_t);
void __real__ZdlPvSt11align_val_t(void*, std::align_val_t);
void __real__ZdaPvSt11align_val_t(void*, std::align_val_t);
void __real__ZdlPvmSt11align_val_t(void*, size_t, std::align_val_t);
void __real__ZdaPvmSt11align_val_t(void*, size_t, std::align_val_t);

#define LOCKAUDIT_WRAP extern __attribute__((visibility("hidden")))

LOCKAUDIT_WRAP void* __wrap_malloc(size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n)) return p;
  }
  return __real_malloc(n);
}
LOCKAUDIT_WRAP void* __wrap_calloc(size_t c, size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Calloc(c, n)) return p;
  }
  return __real_calloc(c, n);
}
LOCKAUDIT_WRAP void* __wrap_realloc(void* p, size_t n) {
  if (arena::Owns(p)) return arena::Realloc(p, n);
  if (p == nullptr && UseEngineArena()) {
    if (void* q = arena::Alloc(n)) return q;
  }
  return __real_realloc(p, n);
}
LOCKAUDIT_WRAP void __wrap_free(void* p) {
  if (arena::Owns(p)) return arena::Free(p);
  __real_free(p);
}
LOCKAUDIT_WRAP int __wrap_posix_memalign(void** out, size_t align, size_t n) {
  if (UseEngineArena() && align >= sizeof(void*) && (align & (align - 1)) == 0) {
    if (void* p = arena::Alloc(n, align)) {
      *out = p;
      return 0;
    }
  }
  return __real_posix_memalign(out, align, n);
}
LOCKAUDIT_WRAP void* __wrap_aligned_alloc(size_t align, size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n, align)) return p;
  }
  return __real_aligned_alloc(align, n);
}
LOCKAUDIT_WRAP void* __wrap_memalign(size_t align, size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n, align)) return p;
  }
  return __real_memalign(align, n);
}
LOCKAUDIT_WRAP size_t __wrap_malloc_usable_size(void* p) {
  if (arena::Owns(p)) return arena::UsableSize(p);
  return __real_malloc_usable_size(p);
}

// operator new: the arena when inside the engine, else the program's operator new (which
// throws or aborts as the program expects when memory runs out).
LOCKAUDIT_WRAP void* __wrap__Znwm(size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n)) return p;
  }
  return __real__Znwm(n);
}
LOCKAUDIT_WRAP void* __wrap__Znam(size_t n) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n)) return p;
  }
  return __real__Znam(n);
}
LOCKAUDIT_WRAP void* __wrap__ZnwmRKSt9nothrow_t(size_t n, const std::nothrow_t& t) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n)) return p;
  }
  return __real__ZnwmRKSt9nothrow_t(n, t);
}
LOCKAUDIT_WRAP void* __wrap__ZnamRKSt9nothrow_t(size_t n, const std::nothrow_t& t) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n)) return p;
  }
  return __real__ZnamRKSt9nothrow_t(n, t);
}
LOCKAUDIT_WRAP void* __wrap__ZnwmSt11align_val_t(size_t n, std::align_val_t a) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n, static_cast<size_t>(a))) return p;
  }
  return __real__ZnwmSt11align_val_t(n, a);
}
LOCKAUDIT_WRAP void* __wrap__ZnamSt11align_val_t(size_t n, std::align_val_t a) {
  if (UseEngineArena()) {
    if (void* p = arena::Alloc(n, static_cast<size_t>(a))) return p;
  }
  return __real__ZnamSt11align_val_t(n, a);
}
LOCKAUDIT_WRAP void __wrap__ZdlPv(void* p) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdlPv(p);
}
LOCKAUDIT_WRAP void __wrap__ZdaPv(void* p) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdaPv(p);
}
LOCKAUDIT_WRAP void __wrap__ZdlPvm(void* p, size_t n) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdlPvm(p, n);
}
LOCKAUDIT_WRAP void __wrap__ZdaPvm(void* p, size_t n) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdaPvm(p, n);
}
LOCKAUDIT_WRAP void __wrap__ZdlPvSt11align_val_t(void* p, std::align_val_t a) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdlPvSt11align_val_t(p, a);
}
LOCKAUDIT_WRAP void __wrap__ZdaPvSt11align_val_t(void* p, std::align_val_t a) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdaPvSt11align_val_t(p, a);
}
LOCKAUDIT_WRAP void __wrap__ZdlPvmSt11align_val_t(void* p, size_t n, std::align_val_t a) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdlPvmSt11align_val_t(p, n, a);
}
LOCKAUDIT_WRAP void __wrap__ZdaPvmSt11align_val_t(void* p, size_t n, std::align_val_t a) {
  if (arena::Owns(p)) return arena::Free(p);
  __real__ZdaPvmSt11align_val_t(p, n, a);
}
}  // extern "C"
// NOLINTEND(bugprone-reserved-identifier)
