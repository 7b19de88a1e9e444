// core/hash: the engine's 64-bit mixer (MurmurHash3's finalizer): spreads lock ids and
// addresses over hash tables and cache slots.
#ifndef LOCKAUDIT_CORE_HASH_H_
#define LOCKAUDIT_CORE_HASH_H_

#include <cstdint>

namespace lockaudit::core {

inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_HASH_H_
