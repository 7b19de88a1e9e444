/* omp_lock_cycle: an OpenMP program whose two threads take two omp_lock_t in opposite orders
 * (thread 0: a then b; thread 1, after a barrier: b then a), so it never hangs. Expected under
 * the shim: one lock_order_cycle naming lock_a and lock_b, at this file's lines; with the
 * argument "ordered", both threads take a then b: no finding. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

omp_lock_t lock_a, lock_b;
long balance_a, balance_b;

static void a_then_b(void) {
  omp_set_lock(&lock_a);
  omp_set_lock(&lock_b);
  ++balance_a, --balance_b;
  omp_unset_lock(&lock_b);
  omp_unset_lock(&lock_a);
}

static void b_then_a(void) {
  omp_set_lock(&lock_b);
  omp_set_lock(&lock_a);
  --balance_a, ++balance_b;
  omp_unset_lock(&lock_a);
  omp_unset_lock(&lock_b);
}

int main(int argc, char** argv) {
  const int ordered = argc > 1 && strcmp(argv[1], "ordered") == 0;
  omp_init_lock(&lock_a);
  omp_init_lock(&lock_b);
#pragma omp parallel num_threads(2)
  {
    const int me = omp_get_thread_num();
    for (int round = 0; round < 2; ++round) {
      if (me == round) {
        if (me == 0 || ordered) a_then_b(); else b_then_a();
      }
#pragma omp barrier
    }
  }
  omp_destroy_lock(&lock_b);
  omp_destroy_lock(&lock_a);
  printf("balances %ld %ld\n", balance_a, balance_b);
  return 0;
}
