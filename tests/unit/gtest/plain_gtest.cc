// An UNMODIFIED GoogleTest program: plain std::mutex, linked with GoogleTest's own gtest_main
// (Debian's static libgtest), no lockaudit. check_gtest_xml.py runs it under
//   LD_PRELOAD="liblockaudit_preload.so liblockaudit_gtest_preload.so"
// (issue 6, acceptance 3): exactly the two bad tests must fail, each with its own cycle.
// PLAIN_GTEST_STATIC_INVERSION=1: a static initialiser inverts two locks before main().
#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <thread>

namespace {

std::mutex plain_accounts_mu, plain_ledger_mu;
std::mutex plain_spawned_first_mu, plain_spawned_second_mu;
std::mutex plain_clean_outer_mu, plain_clean_inner_mu;
std::mutex plain_static_first_mu, plain_static_second_mu;

void Invert(std::mutex& a, std::mutex& b) {
  {
    std::lock_guard<std::mutex> la(a);
    std::lock_guard<std::mutex> lb(b);
  }
  {
    std::lock_guard<std::mutex> lb(b);
    std::lock_guard<std::mutex> la(a);
  }
}

struct StaticInversion {
  StaticInversion() {
    const char* v = std::getenv("PLAIN_GTEST_STATIC_INVERSION");
    if (v != nullptr && v[0] == '1') Invert(plain_static_first_mu, plain_static_second_mu);
  }
} static_inversion;

TEST(PlainTest, CleanNestingPasses) {
  for (int i = 0; i < 2; ++i) {
    std::lock_guard<std::mutex> outer(plain_clean_outer_mu);
    std::lock_guard<std::mutex> inner(plain_clean_inner_mu);
  }
}

TEST(PlainTest, InversionFails) { Invert(plain_accounts_mu, plain_ledger_mu); }

TEST(PlainTest, InversionOnSpawnedThreadFails) {
  std::thread([] { Invert(plain_spawned_first_mu, plain_spawned_second_mu); }).join();
}

TEST(PlainTest, TestAfterSpawnedThreadPasses) { SUCCEED(); }

}  // namespace
