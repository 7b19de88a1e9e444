// wrapper_under_shim: instrumented recursive and shared locks, linked with liblockaudit and run
// under the shim (one engine). A second lock() of a recursive_mutex and a second lock_shared()
// followed by one unlock leave the lock held: assert_held must not abort, and nothing is reported.
#include <lockaudit/mutex.h>

#include <cstdio>
#include <mutex>
#include <shared_mutex>

int main() {
  lockaudit::recursive_mutex rec("wus.rec");
  rec.lock();
  rec.lock();
  rec.unlock();
  lockaudit::assert_held(rec);
  rec.unlock();
  lockaudit::assert_not_held(rec);

  lockaudit::shared_mutex sh("wus.shared");
  sh.lock_shared();
  sh.lock_shared();
  sh.unlock_shared();
  lockaudit::assert_held(sh);
  sh.unlock_shared();
  lockaudit::assert_not_held(sh);

  lockaudit::mutex a("wus.a"), b("wus.b");
  { std::lock_guard l1(a); std::lock_guard l2(b); }
  std::puts("wrapper_under_shim: ok");
  return 0;
}
