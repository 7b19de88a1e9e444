// c11_mtx_cycle: the ABBA inversion written with C11 <threads.h>: thread 1 takes g_mtx_a then
// g_mtx_b and finishes; then thread 2 takes g_mtx_b then g_mtx_a.
// Expected under the shim: one lock_order_cycle with two edges.
#include <threads.h>

#include "itest.h"

mtx_t g_mtx_a;
mtx_t g_mtx_b;

struct Order {
  mtx_t* first;
  mtx_t* second;
};

static int LockPair(void* arg) {
  const struct Order* order = arg;
  ITEST_EXPECT_RC(mtx_lock(order->first), thrd_success);
  ITEST_EXPECT_RC(mtx_lock(order->second), thrd_success);
  ITEST_EXPECT_RC(mtx_unlock(order->second), thrd_success);
  ITEST_EXPECT_RC(mtx_unlock(order->first), thrd_success);
  return 0;
}

int main(void) {
  ITEST_EXPECT_RC(mtx_init(&g_mtx_a, mtx_plain), thrd_success);
  ITEST_EXPECT_RC(mtx_init(&g_mtx_b, mtx_plain), thrd_success);
  struct Order orders[2] = {{&g_mtx_a, &g_mtx_b}, {&g_mtx_b, &g_mtx_a}};
  for (int i = 0; i < 2; ++i) {
    thrd_t thread;
    int result = -1;
    ITEST_EXPECT_RC(thrd_create(&thread, LockPair, &orders[i]), thrd_success);
    ITEST_EXPECT_RC(thrd_join(thread, &result), thrd_success);
    ITEST_OK(result);
  }
  mtx_destroy(&g_mtx_a);
  mtx_destroy(&g_mtx_b);
  return 0;
}
