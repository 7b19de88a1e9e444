// A user's ABBA test against the installed lockaudit: exits 0 exactly when the inversion is
// reported once, with both lock names.
#include <lockaudit/audit.h>
#include <lockaudit/mutex.h>

#include <cstdio>
#include <mutex>
#include <thread>

int main() {
  lockaudit::mutex a("consumer.a"), b("consumer.b");
  std::thread([&] { std::scoped_lock l1(a); std::lock_guard l2(b); }).join();
  std::thread([&] { std::scoped_lock l1(b); std::lock_guard l2(a); }).join();
  auto cycles = lockaudit::potential_deadlocks();
  if (cycles.size() != 1 || cycles[0].locks.size() != 2) {
    std::fprintf(stderr, "consumer: expected one 2-lock cycle, got %zu\n", cycles.size());
    return 1;
  }
  bool named = cycles[0].text.find("'consumer.a'") != std::string::npos &&
               cycles[0].text.find("'consumer.b'") != std::string::npos;
  std::printf("consumer: cycle reported: %s\n", named ? "yes, with names" : "no names");
  return named ? 0 : 1;
}
