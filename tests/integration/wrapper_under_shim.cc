// wrapper_under_shim: instrumented recursive and shared locks, linked with liblockaudit and run
// under the shim (one engine). A second lock() of a recursive_mutex and a second lock_shared()
// followed by one unlock leave the lock held: assert_held must not abort. A
// lockaudit::condition_variable wait (whose inner pthread_cond_wait the shim sees too) releases
// and re-acquires the mutex once. Nothing is reported.
#include <lockaudit/mutex.h>

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <thread>

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
  lockaudit::mutex cv_mu("wus.cv_mu");
  lockaudit::condition_variable cv;
  bool ready = false;
  std::thread notifier([&] {
    std::lock_guard l(cv_mu);
    ready = true;
    cv.notify_one();
  });
  {
    std::unique_lock l(cv_mu);
    cv.wait(l, [&] { return ready; });
    lockaudit::assert_held(cv_mu);
  }
  notifier.join();
  lockaudit::assert_not_held(cv_mu);
  std::puts("wrapper_under_shim: ok");
  return 0;
}
