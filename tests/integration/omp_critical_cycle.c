/* omp_critical_cycle: named critical sections nested in opposite orders by two threads (one
 * after the other, so it never hangs), then an omp_nest_lock re-locked by its holder. Expected
 * under the shim: one lock_order_cycle between critical(accounts) and critical(audit_log); the
 * nested re-lock is not a double_lock. */
#include <omp.h>
#include <stdio.h>

long accounts, audit_entries;
omp_nest_lock_t nest;

static void log_entry(void) {
  omp_set_nest_lock(&nest);
  omp_set_nest_lock(&nest);
  ++audit_entries;
  omp_unset_nest_lock(&nest);
  omp_unset_nest_lock(&nest);
}

int main(void) {
  omp_init_nest_lock(&nest);
#pragma omp parallel num_threads(2)
  {
    const int me = omp_get_thread_num();
    if (me == 0) {
#pragma omp critical(accounts)
      {
#pragma omp critical(audit_log)
        { ++accounts; log_entry(); }
      }
    }
#pragma omp barrier
    if (me == 1) {
#pragma omp critical(audit_log)
      {
#pragma omp critical(accounts)
        { --accounts; log_entry(); }
      }
    }
  }
  omp_destroy_nest_lock(&nest);
  printf("accounts %ld, audit entries %ld\n", accounts, audit_entries);
  return 0;
}
