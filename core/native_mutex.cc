#include "native_mutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace lockaudit::core {

int g_inline_mutex_guard = -1;

__attribute__((noinline)) int WakeMutexWaiter(pthread_mutex_t* m) noexcept {
  syscall(SYS_futex, &m->__data.__lock, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
  return 0;
}

namespace {

// The fields glibc's TIMED_NP lock protocol touches, compared one by one.
bool StateIs(const pthread_mutex_t& m, int lock, int owner, unsigned nusers) {
  return m.__data.__lock == lock && m.__data.__owner == owner && m.__data.__nusers == nusers &&
         m.__data.__count == 0 && m.__data.__kind == PTHREAD_MUTEX_TIMED_NP;
}

// Every byte of the two mutexes (through the union's char view: the whole object).
bool SameBytes(const pthread_mutex_t& a, const pthread_mutex_t& b) {
  return std::memcmp(a.__size, b.__size, sizeof a.__size) == 0;
}

}  // namespace

const char* VerifyNativeMutex(const NativeMutexFns& fns) noexcept {
  g_inline_mutex_guard = -1;
  if (fns.lock == nullptr || fns.trylock == nullptr || fns.unlock == nullptr) {
    return "glibc's mutex functions are not resolved";
  }
  const int tid = static_cast<int>(syscall(SYS_gettid));
  pthread_mutex_t probe = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  if (!StateIs(probe, 0, 0, 0)) return "PTHREAD_MUTEX_INITIALIZER is not the default type";
  // glibc's lock, trylock and unlock leave the fields the protocol says.
  if (fns.lock(&probe) != 0 || !StateIs(probe, 1, tid, 1)) return "pthread_mutex_lock differs";
  if (fns.trylock(&probe) != EBUSY) return "pthread_mutex_trylock of a held mutex is not EBUSY";
  if (fns.unlock(&probe) != 0 || !StateIs(probe, 0, 0, 0)) return "pthread_mutex_unlock differs";
  if (fns.trylock(&probe) != 0) return "pthread_mutex_trylock failed";
  pthread_mutex_t by_glibc;
  std::memcpy(&by_glibc, &probe, sizeof probe);
  if (fns.unlock(&probe) != 0 || !SameBytes(probe, fresh)) {
    return "pthread_mutex_unlock after trylock differs";
  }
  // The inline try leaves exactly the bytes glibc's trylock left, and glibc unlocks it cleanly.
  const int rc = native::Try(&probe, static_cast<uint32_t>(tid));
  if (rc != 0 || !SameBytes(probe, by_glibc)) return "the inline try differs";
  if (fns.trylock(&probe) != EBUSY) return "glibc does not see the inline try's lock";
  if (fns.unlock(&probe) != 0 || !SameBytes(probe, fresh)) {
    return "pthread_mutex_unlock after the inline try differs";
  }
  // The inline unlock leaves exactly the bytes glibc's unlock left, after glibc's lock and after
  // the inline try, also when the word says a waiter is blocked (2: the wake finds nobody).
  bool same = fns.lock(&probe) == 0 && native::Unlock(&probe) == 0 && SameBytes(probe, fresh);
  same = same && native::Try(&probe, static_cast<uint32_t>(tid)) == 0 &&
         native::Unlock(&probe) == 0 && SameBytes(probe, fresh);
  if (same && fns.lock(&probe) == 0) {
    probe.__data.__lock = 2;
    same = native::Unlock(&probe) == 0 && SameBytes(probe, fresh);
  }
  same = same && fns.trylock(&probe) == 0 && fns.unlock(&probe) == 0;
  g_inline_mutex_guard = same ? 0 : -1;
  return same ? nullptr : "the inline unlock differs";
}

}  // namespace lockaudit::core
