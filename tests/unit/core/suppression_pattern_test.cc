// core/config_file: the suppression pattern matcher (sanitizer-style) and the ready-made lines.
#include <gtest/gtest.h>

#include <string>

#include "config_file.h"

namespace lockaudit::core {
namespace {

bool M(const char* pattern, const char* value) { return SuppressionPatternMatches(pattern, value); }

TEST(SuppressionPatternTest, PlainPatternIsASubstring) {
  EXPECT_TRUE(M("suppress_this", "suppress_this(pthread_mutex_t*)"));
  EXPECT_TRUE(M("this", "suppress_this"));
  EXPECT_TRUE(M("suppress_this", "suppress_this"));
  EXPECT_FALSE(M("suppress_that", "suppress_this(pthread_mutex_t*)"));
  EXPECT_FALSE(M("longer_than_the_value", "short"));
}

TEST(SuppressionPatternTest, AnchorsPinStartAndEnd) {
  EXPECT_TRUE(M("^Restock", "Restock(int)"));
  EXPECT_FALSE(M("^Restock", "ns::Restock"));
  EXPECT_TRUE(M("Restock$", "ns::Restock"));
  EXPECT_FALSE(M("Restock$", "Restock(int)"));
  EXPECT_TRUE(M("^Restock$", "Restock"));
  EXPECT_FALSE(M("^Restock$", "Restocks"));
  EXPECT_TRUE(M("^$", ""));
  EXPECT_FALSE(M("^$", "x"));
}

TEST(SuppressionPatternTest, StarMatchesAnyRunAlsoNone) {
  EXPECT_TRUE(M("Pool*::Grow", "Pool<int>::Grow()"));
  EXPECT_TRUE(M("Pool*::Grow", "Pool::Grow"));
  EXPECT_FALSE(M("Pool*::Grow", "Grow::Pool"));
  EXPECT_TRUE(M("^a*b*c$", "a--b--c"));
  EXPECT_FALSE(M("^a*b*c$", "a--c--b"));
  EXPECT_TRUE(M("^a*c$", "ac"));
  EXPECT_FALSE(M("^ab*bc$", "abc")) << "the two parts may not overlap";
  EXPECT_TRUE(M("*", "anything"));
  EXPECT_TRUE(M("^*$", ""));
  EXPECT_TRUE(M("x*", "ax"));
}

TEST(SuppressionPatternTest, OtherCharactersArePlain) {
  EXPECT_TRUE(M("f(int*)", "f(int*)"));
  EXPECT_FALSE(M("a.c", "abc"));
  EXPECT_FALSE(M("a?c", "abc"));
  EXPECT_TRUE(M("[x]", "v[x]"));
}

TEST(SuppressionPatternTest, ReadyMadeLineMatchesExactlyItsName) {
  EXPECT_EQ(SuppressionLineFor("destroy_held", "suppress_this"), "destroy_held:^suppress_this$");
  const std::string lambda = "main::{lambda()#1}::operator()";
  const std::string line = SuppressionLineFor("lock_order_cycle", lambda);
  EXPECT_EQ(line.find('#'), std::string::npos) << "a # would start a comment: " << line;
  const std::string pattern = line.substr(line.find(':') + 1);
  EXPECT_TRUE(SuppressionPatternMatches(pattern, lambda));
  EXPECT_FALSE(SuppressionPatternMatches(pattern, lambda + "x"));
  std::string kind, parsed, why;
  ASSERT_TRUE(ParseSuppressionLine(line, &kind, &parsed, &why)) << why;
  EXPECT_EQ(kind, "lock_order_cycle");
  EXPECT_EQ(parsed, pattern);
}

}  // namespace
}  // namespace lockaudit::core
