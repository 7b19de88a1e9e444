// EngineArena: the engine's own memory, never the program's allocator.
//
// The engine runs inside lock calls that the program's allocator itself makes (jemalloc and
// tcmalloc take pthread mutexes), and inside signal handlers that interrupted malloc. Memory it
// takes there from malloc would re-enter an allocator that holds its own lock: a crash or a
// self-deadlock. So every allocation made inside the engine (EngineScope, engine threads) comes
// from this arena: mmap'ed chunks, size classes with free lists, guarded by one EngineMutex (a
// futex word, never seen by the shim). The link step of the engine hosts (the shim and
// liblockaudit.so) routes malloc/free/new/delete of the engine's own code here while the calling
// thread is inside the engine (engine_arena_wrap.cc, `-Wl,--wrap`); memory is freed to whichever
// allocator owns its address, so a block may cross that boundary either way.
//
// Thread-safety: every function may be called from any thread; calls are serialized by the
// arena's mutex. Not reentrant from a signal handler that interrupted the arena itself (the
// engine passes such a handler's lock calls straight through: it is inside the engine).
// Invariants: a block's chunk (its address rounded down to kChunkBytes) is registered while the
// block lives; a chunk serves one size class, or one large block.
// Cost: O(1) per call plus one mmap per chunk (256 KiB) or large block; memory of freed small
// blocks is kept for reuse, large blocks are unmapped.
#ifndef LOCKAUDIT_CORE_ENGINE_ARENA_H_
#define LOCKAUDIT_CORE_ENGINE_ARENA_H_

#include <cstddef>

namespace lockaudit::core::arena {

inline constexpr size_t kChunkBytes = size_t{1} << 18;

// nullptr when the memory cannot be mapped. `align` is a power of two.
void* Alloc(size_t bytes, size_t align = 16) noexcept;
void* Calloc(size_t count, size_t bytes) noexcept;
// Like realloc(3) for a block of this arena (or nullptr).
void* Realloc(void* p, size_t bytes) noexcept;
// `p` must be a block of this arena (Owns(p)) or nullptr.
void Free(void* p) noexcept;
// Whether `p` lies in a live chunk of this arena. Lock-free.
bool Owns(const void* p) noexcept;
size_t UsableSize(const void* p) noexcept;

// Maps the pages of [p, p + bytes) now, written as zero (MADV_POPULATE_WRITE), for memory the
// engine will touch at random places soon: the tables built at load, whose pages would otherwise
// each fault while a program thread holds a lock. A kernel before 5.14 refuses the advice: the
// pages then come on first use. No-op for nullptr.
void PopulatePages(void* p, size_t bytes) noexcept;
// PopulatePages(), then a write to each page (an atomic add of zero: the contents stay), for the
// tables built at load: some virtual machines keep page tables of their own that a page joins
// only on its first access (6 us per page after populating, 11 us without, measured in one),
// and the program's first locks would otherwise pay that while they hold a lock.
void PrefaultPages(void* p, size_t bytes) noexcept;

// Maps a chunk for each class of blocks up to `bytes` (at load: the engine's first new edge
// allocates in several classes, and a fresh chunk's first page faults while a program thread
// holds a lock). At most kPopulateAheadBytes resident per class.
void WarmUp(size_t bytes) noexcept;
inline constexpr size_t kPopulateAheadBytes = size_t{32} * 1024;

// Bytes of chunks mapped now (for tests and the summary).
size_t MappedBytes() noexcept;

// fork(): the parent holds the arena's mutex across the call; the child resets it.
void PrepareFork() noexcept;
void ParentAfterFork() noexcept;
void ChildAfterFork() noexcept;
bool TryLockForFork() noexcept;

}  // namespace lockaudit::core::arena

#endif  // LOCKAUDIT_CORE_ENGINE_ARENA_H_
