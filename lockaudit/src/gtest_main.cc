// lockaudit::gtest_main: GoogleTest's main() with the lockaudit listener installed
// (<lockaudit/gtest.h>): a finding raised while a test runs fails that test.
#include <gtest/gtest.h>

#include "lockaudit/gtest.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::lockaudit::testing::InstallListener();
  return RUN_ALL_TESTS();
}
