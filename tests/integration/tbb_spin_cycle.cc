// tbb_spin_cycle: oneTBB parallel_for loops that take two tbb::spin_mutex in opposite orders (the
// first loop: accounts then ledger; the second, after the first has finished: ledger then
// accounts), so it never hangs. Built with TBB_USE_PROFILING_TOOLS=1, the documented way to make
// oneTBB's mutexes visible (docs/runtimes.md). Expected under the shim: one lock_order_cycle
// between `accounts` and `ledger`, at this file's lines; with the argument "ordered" both loops
// take accounts then ledger: no finding.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/queuing_mutex.h>
#include <oneapi/tbb/spin_mutex.h>

#include <cstdio>
#include <cstring>

tbb::spin_mutex accounts;
tbb::spin_mutex ledger;
tbb::queuing_mutex journal;
long balance, entries, journal_lines;

void Deposit(long amount) {
  tbb::spin_mutex::scoped_lock a(accounts);
  tbb::spin_mutex::scoped_lock l(ledger);
  balance += amount;
  ++entries;
}

void Audit() {
  tbb::spin_mutex::scoped_lock l(ledger);
  tbb::spin_mutex::scoped_lock a(accounts);
  ++entries;
}

void AuditInOrder() {
  tbb::spin_mutex::scoped_lock a(accounts);
  tbb::spin_mutex::scoped_lock l(ledger);
  ++entries;
}

int main(int argc, char** argv) {
  const bool ordered = argc > 1 && std::strcmp(argv[1], "ordered") == 0;
  tbb::parallel_for(tbb::blocked_range<int>(0, 2000), [](const tbb::blocked_range<int>& r) {
    for (int i = r.begin(); i != r.end(); ++i) {
      Deposit(i);
      tbb::queuing_mutex::scoped_lock j(journal);  // a queuing_mutex, alone: no edge
      ++journal_lines;
    }
  });
  tbb::parallel_for(tbb::blocked_range<int>(0, 2000), [ordered](const tbb::blocked_range<int>& r) {
    for (int i = r.begin(); i != r.end(); ++i) ordered ? AuditInOrder() : Audit();
  });
  std::printf("balance %ld, entries %ld, journal %ld\n", balance, entries, journal_lines);
  return 0;
}
