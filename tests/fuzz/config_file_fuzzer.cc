// tests/fuzz/config_file_fuzzer: libFuzzer target for the config-file parsers of core/config_file
// (LOCKAUDIT_HIERARCHY and LOCKAUDIT_SUPPRESSIONS files): ForEachConfigLine, ParseHierarchyLine,
// ParseSuppressionLine and ShownLine, over arbitrary bytes taken as the text of a file.
//
// Invariants checked (a violation aborts, so libFuzzer keeps the input):
//  - ForEachConfigLine yields exactly the lines an independent splitter finds: numbers 1-based,
//    strictly increasing, never above count('\n') + 1; text without line end, '#' comment or
//    surrounding blanks, never empty;
//  - ParseHierarchyLine, on each line and on the raw text: a parsed name is non-empty, does not
//    end in a blank, and the line is the name, blanks, and a field that reads as the level; a
//    refusal has a reason that fits in a one-line warning (printable ASCII);
//  - ParseSuppressionLine: a parsed kind is "*" or a finding kind, the pattern is non-empty and
//    kind + ":" + pattern is the line; a refusal has a one-line reason;
//  - ShownLine: printable ASCII, at most 80 characters plus "...", the line itself when it is
//    short and printable;
//  - round trips: name + " " + std::to_string(level) parses back to name and level, for a name
//    built from the input (no '#', no line end, not ending in a blank); through ForEachConfigLine
//    too when the name also does not start with a blank; kind + ":" + pattern likewise.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "config_file.h"
#include "finding_kind.h"

namespace {

using lockaudit::core::ConfigLine;
using lockaudit::core::ForEachConfigLine;
using lockaudit::core::ParseHierarchyLine;
using lockaudit::core::ParseSuppressionLine;
using lockaudit::core::ShownLine;

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "config_file_fuzzer: INVARIANT VIOLATED: %s\n  detail: \"%s\"\n", what,
          Printable(detail).c_str());
  abort();
}

#define FUZZ_CHECK(cond, detail)      \
  do {                                \
    if (!(cond)) Fail(#cond, detail); \
  } while (0)

// The blanks StripConfigLine removes around a line (config_file.cc).
bool StripBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
// The blanks that separate a hierarchy line's name from its level.
bool FieldBlank(char c) { return c == ' ' || c == '\t'; }

bool AllPrintable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// The reference: split at '\n', cut at '#', strip blanks, keep non-empty lines.
std::vector<ConfigLine> ReferenceLines(const std::string& text) {
  std::vector<ConfigLine> lines;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++number;
    std::string l = text.substr(pos, end - pos);
    l = l.substr(0, l.find('#'));
    size_t b = 0, e = l.size();
    while (b < e && StripBlank(l[b])) ++b;
    while (e > b && StripBlank(l[e - 1])) --e;
    if (e > b) lines.push_back(ConfigLine{number, l.substr(b, e - b)});
    pos = end + 1;
  }
  return lines;
}

void CheckShownLine(const std::string& line) {
  const std::string shown = ShownLine(line);
  FUZZ_CHECK(AllPrintable(shown), shown);
  FUZZ_CHECK(shown.size() <= 83, shown);
  if (line.size() <= 80 && AllPrintable(line)) FUZZ_CHECK(shown == line, line);
  if (line.size() > 80) FUZZ_CHECK(shown.size() == 83 && shown.substr(80) == "...", line);
}

void CheckHierarchy(const std::string& line) {
  std::string name, why;
  int level = 0;
  if (!ParseHierarchyLine(line, &name, &level, &why)) {
    FUZZ_CHECK(!why.empty(), line);
    FUZZ_CHECK(AllPrintable(why), why);
    return;
  }
  FUZZ_CHECK(!name.empty(), line);
  FUZZ_CHECK(!FieldBlank(name.back()), line);
  FUZZ_CHECK(line.compare(0, name.size(), name) == 0, line);
  // The rest: at least one blank, then a field without blanks that reads as the level.
  size_t field = line.find_last_of(" \t");
  FUZZ_CHECK(field != std::string::npos && field >= name.size(), line);
  for (size_t i = name.size(); i <= field; ++i) FUZZ_CHECK(FieldBlank(line[i]), line);
  const std::string text = line.substr(field + 1);
  FUZZ_CHECK(!text.empty(), line);
  char* end = nullptr;
  long v = strtol(text.c_str(), &end, 10);
  FUZZ_CHECK(*end == '\0' && v == level, line);
}

void CheckSuppression(const std::string& line) {
  std::string kind, pattern, why;
  if (!ParseSuppressionLine(line, &kind, &pattern, &why)) {
    FUZZ_CHECK(!why.empty(), line);
    FUZZ_CHECK(AllPrintable(why), why);
    return;
  }
  bool known = kind == "*";
  for (const char* k : lockaudit::core::kKindNames) known = known || kind == k;
  FUZZ_CHECK(known, line);
  FUZZ_CHECK(!pattern.empty(), line);
  FUZZ_CHECK(kind + ":" + pattern == line, line);
}

// name + " " + level parses back, directly and (when the name has no surrounding blanks that
// the line reader strips) as the one line of a file.
void CheckHierarchyRoundTrip(const std::string& name, int level) {
  if (name.empty() || name.find_first_of("#\n") != std::string::npos) return;
  if (FieldBlank(name.back())) return;
  const std::string line = name + " " + std::to_string(level);
  std::string got_name, why;
  int got_level = 0;
  FUZZ_CHECK(ParseHierarchyLine(line, &got_name, &got_level, &why), line + " -> " + why);
  FUZZ_CHECK(got_name == name && got_level == level, line + " -> " + got_name);
  if (StripBlank(name.front()) || StripBlank(name.back())) return;
  int calls = 0;
  ForEachConfigLine(line + "\n", [&](const ConfigLine& l) {
    ++calls;
    FUZZ_CHECK(l.number == 1 && l.text == line, l.text);
    FUZZ_CHECK(ParseHierarchyLine(l.text, &got_name, &got_level, &why), line + " -> " + why);
    FUZZ_CHECK(got_name == name && got_level == level, line + " -> " + got_name);
  });
  FUZZ_CHECK(calls == 1, line);
}

void CheckSuppressionRoundTrip(const std::string& kind, const std::string& pattern) {
  if (pattern.empty()) return;
  const std::string line = kind + ":" + pattern;
  std::string got_kind, got_pattern, why;
  FUZZ_CHECK(ParseSuppressionLine(line, &got_kind, &got_pattern, &why), line + " -> " + why);
  FUZZ_CHECK(got_kind == kind && got_pattern == pattern, line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const std::vector<ConfigLine> expected = ReferenceLines(text);
  const int max_number = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  std::vector<ConfigLine> lines;
  int last = 0;
  ForEachConfigLine(text, [&](const ConfigLine& line) {
    FUZZ_CHECK(line.number > last, line.text);
    FUZZ_CHECK(line.number <= max_number, line.text);
    FUZZ_CHECK(!line.text.empty(), text);
    FUZZ_CHECK(line.text.find_first_of("\n#") == std::string::npos, line.text);
    FUZZ_CHECK(!StripBlank(line.text.front()) && !StripBlank(line.text.back()), line.text);
    last = line.number;
    lines.push_back(line);
  });
  FUZZ_CHECK(lines.size() == expected.size(), text);
  for (size_t i = 0; i < lines.size(); ++i) {
    FUZZ_CHECK(lines[i].number == expected[i].number && lines[i].text == expected[i].text,
               lines[i].text);
  }

  for (const ConfigLine& line : lines) {
    CheckHierarchy(line.text);
    CheckSuppression(line.text);
    CheckShownLine(line.text);
  }
  // The parsers' own contracts hold for any string, not only for what the line reader passes.
  CheckHierarchy(text);
  CheckSuppression(text);
  CheckShownLine(text);

  // Round trips: names from the input's lines (blanks, '\r', NUL and all), a level from its last
  // four bytes, a kind picked by its first byte.
  int32_t level = 0;
  if (size >= 4) memcpy(&level, data + size - 4, sizeof level);
  const std::string first_line = text.substr(0, text.find('\n'));
  CheckHierarchyRoundTrip(first_line.substr(0, first_line.find('#')), level);
  for (const ConfigLine& line : lines) CheckHierarchyRoundTrip(line.text, level);
  for (int extreme : {INT_MIN, INT_MAX, 0, -1}) {
    if (!lines.empty()) CheckHierarchyRoundTrip(lines.front().text, extreme);
  }
  constexpr size_t kKinds = sizeof lockaudit::core::kKindNames / sizeof(const char*);
  const std::string kind =
      size > 0 && data[0] % (kKinds + 1) < kKinds ? lockaudit::core::kKindNames[data[0] % (kKinds + 1)]
                                                  : "*";
  CheckSuppressionRoundTrip(kind, text);
  return 0;
}
