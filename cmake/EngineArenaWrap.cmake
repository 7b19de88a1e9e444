# lockaudit_engine_arena_wrap(<target>): the engine host <target> (the shim, liblockaudit.so)
# routes its own code's allocation calls through core/engine_arena_wrap.cc, so that memory taken
# inside the engine comes from the engine's arena, never the program's allocator.
set(LOCKAUDIT_ENGINE_ARENA_WRAPPED
  malloc calloc realloc free posix_memalign aligned_alloc memalign malloc_usable_size
  _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t _ZnamSt11align_val_t
  _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
  _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t)
function(lockaudit_engine_arena_wrap target)
  foreach(fn IN LISTS LOCKAUDIT_ENGINE_ARENA_WRAPPED)
    target_link_options(${target} PRIVATE "LINKER:--wrap=${fn}")
  endforeach()
  target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/core/engine_arena_wrap.cc)
endfunction()
