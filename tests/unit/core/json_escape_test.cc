// JsonEscape: every report line must stay valid JSON (and UTF-8) whatever the names hold: lock,
// thread and file names come from the program and may be Latin-1 or binary (issue 15: the CLI's
// parser used to drop a whole finding line with "line skipped").
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "report.h"

namespace lockaudit::core {
namespace {

std::string RoundTrip(const std::string& raw) {
  const std::string line = "{\"name\":\"" + JsonEscape(raw) + "\"}";
  return nlohmann::json::parse(line).at("name").get<std::string>();  // throws if invalid
}

TEST(JsonEscapeTest, ValidUtf8AndAsciiPassThrough) {
  for (const std::string s : {"g_mu", "(anonymous namespace)::orders_mu", "caf\xc3\xa9",
                              "\xe2\x82\xac", "\xf0\x9f\x94\x92 lock", "\xef\xbf\xbf"}) {
    EXPECT_EQ(RoundTrip(s), s);
  }
}

TEST(JsonEscapeTest, ControlCharactersAndQuotesAreEscaped) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\te\x01\x7f"), "a\\\"b\\\\c\\nd\\te\\u0001\\u007f");
  EXPECT_EQ(RoundTrip("a\"b\\c\nd\te\x01"), "a\"b\\c\nd\te\x01");
}

TEST(JsonEscapeTest, InvalidBytesBecomeReplacementCharacters) {
  const std::string fffd = "\xef\xbf\xbd";
  struct Case {
    std::string raw, decoded;
  };
  const Case cases[] = {
      {"thr\xe9" "ad", "thr" + fffd + "ad"},            // Latin-1
      {"\x80", fffd},                                   // a lone continuation byte
      {"\xc0\xaf", fffd + fffd},                        // overlong '/'
      {"\xe0\x80\xaf", fffd + fffd + fffd},             // overlong, three bytes
      {"\xed\xa0\x80", fffd + fffd + fffd},             // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\xf5", fffd},
      {"ab\xe2\x82", "ab" + fffd + fffd},               // cut short at the end
      {"\xe2(\xa1", fffd + "(" + fffd},                 // a bad continuation
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.decoded);
    EXPECT_EQ(RoundTrip(c.raw), c.decoded);
  }
}

}  // namespace
}  // namespace lockaudit::core
