// abba_deadlock: a real ABBA deadlock, forced with a barrier so it happens on every run.
//
// "transfer" takes accounts_mu then audit_mu; "auditor" takes audit_mu then accounts_mu. Both
// take their first lock, meet at the barrier, and block forever on the second. Without lockaudit
// the program (or the test running it) hangs silently. Under the shim the watchdog reports a
// `deadlock` with both threads, what each holds and where each blocked, about
// LOCKAUDIT_STALL_MS after the hang; with LOCKAUDIT_ON_DEADLOCK=abort it then aborts, so a
// hanging test fails with the report instead of a timeout:
//
//   LOCKAUDIT_STALL_MS=500 LOCKAUDIT_ON_DEADLOCK=abort build/bin/lockaudit run -- build/bin/abba_deadlock
#include <pthread.h>

#include <barrier>
#include <mutex>
#include <thread>

std::mutex accounts_mu;
std::mutex audit_mu;

namespace {
std::barrier both_hold_one(2);

void Transfer() {
  pthread_setname_np(pthread_self(), "transfer");
  std::lock_guard<std::mutex> accounts(accounts_mu);
  both_hold_one.arrive_and_wait();
  std::lock_guard<std::mutex> audit(audit_mu);  // blocks forever: the auditor holds it
}

void Audit() {
  pthread_setname_np(pthread_self(), "auditor");
  std::lock_guard<std::mutex> audit(audit_mu);
  both_hold_one.arrive_and_wait();
  std::lock_guard<std::mutex> accounts(accounts_mu);  // blocks forever: transfer holds it
}
}  // namespace

int main() {
  std::thread transfer(Transfer);
  std::thread auditor(Audit);
  transfer.join();
  auditor.join();
}
