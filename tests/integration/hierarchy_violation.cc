// hierarchy_violation: with LOCKAUDIT_HIERARCHY naming g_low level 1 and g_high level 2
// (hierarchy.txt), a lock may only be taken while every held levelled lock has a lower level.
// The program takes g_high, then g_low.
// Expected under the shim: one hierarchy_violation (and no cycle: the opposite order never occurs).
#include <mutex>

std::mutex g_low;
std::mutex g_high;

int main() {
  std::lock_guard<std::mutex> high(g_high);
  std::lock_guard<std::mutex> low(g_low);
  return 0;
}
