// tests/fuzz/options_fuzzer: libFuzzer target for core::ParseOptions (core/options.cc), the parser
// of the LOCKAUDIT_* environment variables (the one table, core/options.inc).
//
// Input: pieces separated by NUL bytes (an environment value cannot hold one). The first byte of
// a piece picks the variable: (byte - 'a') mod the table size, so 'a' is the table's first row,
// 'b' its second, ... ; the rest of the piece is the value. A variable named by no piece is unset;
// a later piece for the same variable replaces an earlier one, as in an environment.
//
// Invariants checked after every parse (a violation aborts, so libFuzzer keeps the input):
//  - only table variables are read (the table is the single source of truth);
//  - each warning is one line: "lockaudit: warning: <VAR>: ..." ending in its only '\n', with no
//    other control character, naming a variable that was set; at most one warning per variable;
//  - every field holds a value of its type: strings NUL-terminated within kMaxOptionLen; Int
//    fields inside their LOCKAUDIT_OPTION_RANGE (or -1 where the default is a word, "unchanged");
//  - an unset variable, or a set one that was warned about, yields the table's default;
//  - a value that is plainly valid (a path shorter than kMaxOptionLen, decimal digits inside the
//    range, one of the documented words) is taken as is, without a warning.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "options.h"

namespace {

using lockaudit::core::kMaxOptionLen;
using lockaudit::core::OptionInfo;
using lockaudit::core::Options;

// ParseOptions takes plain function pointers: the fake environment and the captured warnings
// live here, reset for every input.
std::map<std::string, std::string> g_env;
std::vector<std::string> g_warnings;
const OptionInfo* g_table = nullptr;
size_t g_table_size = 0;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "options_fuzzer: INVARIANT VIOLATED: %s\n  detail: '%s'\n", what,
          detail.c_str());
  fprintf(stderr, "  environment:\n");
  for (const auto& [var, value] : g_env) fprintf(stderr, "    %s='%s'\n", var.c_str(), value.c_str());
  fprintf(stderr, "  warnings (%zu):\n", g_warnings.size());
  for (const std::string& w : g_warnings) fprintf(stderr, "    [%s]\n", w.c_str());
  abort();
}

#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) Fail(#cond, detail); \
  } while (0)

bool InTable(const std::string& var) {
  for (size_t i = 0; i < g_table_size; ++i) {
    if (var == g_table[i].variable) return true;
  }
  return false;
}

const char* FakeGetenv(const char* name) {
  FUZZ_CHECK(name != nullptr, "getenv(nullptr)");
  FUZZ_CHECK(InTable(name), std::string("read a variable that is not in the table: ") + name);
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

void CaptureWarning(const char* line) {
  FUZZ_CHECK(line != nullptr, "warn(nullptr)");
  g_warnings.emplace_back(line);
}

const char* Env(const char* var) {
  auto it = g_env.find(var);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

// The variable a warning names (the text between the prefix and the next ": ").
std::string WarnedVariable(const std::string& line) {
  static const std::string kPrefix = "lockaudit: warning: ";
  size_t colon = line.find(": ", kPrefix.size());
  return colon == std::string::npos ? std::string()
                                    : line.substr(kPrefix.size(), colon - kPrefix.size());
}

void CheckWarningLines(std::map<std::string, int>* warned) {
  static const std::string kPrefix = "lockaudit: warning: ";
  for (const std::string& line : g_warnings) {
    FUZZ_CHECK(line.compare(0, kPrefix.size(), kPrefix) == 0, line);
    FUZZ_CHECK(line.size() > kPrefix.size() && line.back() == '\n', line);
    FUZZ_CHECK(line.find('\n') == line.size() - 1, line);  // one line
    for (size_t i = 0; i + 1 < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      FUZZ_CHECK(c >= 0x20 && c != 0x7f, line);  // no control character inside the line
    }
    FUZZ_CHECK(line.size() < kMaxOptionLen + 256, line);
    const std::string var = WarnedVariable(line);
    FUZZ_CHECK(InTable(var), line);
    FUZZ_CHECK(Env(var.c_str()) != nullptr, line);  // only a set variable is warned about
    FUZZ_CHECK(line.find("; using ") != std::string::npos, line);
    FUZZ_CHECK(++(*warned)[var] == 1, line);  // one warning per variable
  }
}

long IntDefault(const char* def) {
  return (def[0] >= '0' && def[0] <= '9') ? strtol(def, nullptr, 10) : -1;
}

// Decimal digits only, short enough that strtol cannot overflow.
bool PlainDecimal(const char* value, long* v) {
  size_t n = strlen(value);
  if (n == 0 || n > 18 || strspn(value, "0123456789") != n) return false;
  *v = strtol(value, nullptr, 10);
  return true;
}

struct Range {
  long min, max;
};

// The LOCKAUDIT_OPTION_RANGE rows, by field name (empty when options.inc has none).
const std::map<std::string, Range>& Ranges() {
  static const std::map<std::string, Range> ranges = {
#define LOCKAUDIT_OPTION(field, var, type, def, desc)
#define LOCKAUDIT_OPTION_RANGE(field, min, max) {#field, Range{min, max}},
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  };
  return ranges;
}

void CheckString(const char* field, const char* var, const char* def, const char* got,
                 const std::map<std::string, int>& warned) {
  FUZZ_CHECK(memchr(got, '\0', kMaxOptionLen) != nullptr, std::string(var) + " not terminated");
  // LOCKAUDIT_LOG empty means stderr (options.cc).
  const bool is_log = strcmp(field, "log") == 0;
  const char* value = Env(var);
  const bool was_warned = warned.count(var) != 0;
  if (value == nullptr || was_warned) {
    FUZZ_CHECK(strcmp(got, is_log && def[0] == '\0' ? "stderr" : def) == 0,
               std::string(var) + "=" + got);
  }
  if (value != nullptr && strlen(value) < kMaxOptionLen) {
    FUZZ_CHECK(!was_warned, std::string(var) + ": a value that fits was refused");
    FUZZ_CHECK(strcmp(got, is_log && value[0] == '\0' ? "stderr" : value) == 0,
               std::string(var) + "=" + got);
  }
  if (value != nullptr && strlen(value) >= kMaxOptionLen) {
    FUZZ_CHECK(was_warned, std::string(var) + ": a value too long was taken silently");
  }
}

void CheckInt(const char* field, const char* var, const char* def, long got,
              const std::map<std::string, int>& warned) {
  const long dflt = IntDefault(def);
  const auto range = Ranges().find(field);
  if (range != Ranges().end()) {
    FUZZ_CHECK((got >= range->second.min && got <= range->second.max) || (got == -1 && dflt == -1),
               std::string(var) + "=" + std::to_string(got) + " outside its range");
    FUZZ_CHECK(dflt == -1 || (dflt >= range->second.min && dflt <= range->second.max),
               std::string(var) + ": the table's default is outside the table's range");
  } else {
    FUZZ_CHECK(got >= 0 || (got == -1 && dflt == -1), std::string(var) + "=" + std::to_string(got));
  }
  const char* value = Env(var);
  if (value == nullptr || warned.count(var) != 0) {
    FUZZ_CHECK(got == dflt, std::string(var) + "=" + std::to_string(got) + " is not the default");
  }
  long v = 0;
  if (value != nullptr && PlainDecimal(value, &v) &&
      (range == Ranges().end() || (v >= range->second.min && v <= range->second.max))) {
    FUZZ_CHECK(warned.count(var) == 0, std::string(var) + ": a valid number was refused");
    FUZZ_CHECK(got == v, std::string(var) + "=" + std::to_string(got));
  }
}

void CheckBool(const char* var, const char* def, bool got,
               const std::map<std::string, int>& warned) {
  const char* value = Env(var);
  if (value == nullptr || warned.count(var) != 0) {
    FUZZ_CHECK(got == (strcmp(def, "1") == 0), var);
    return;
  }
  for (const char* yes : {"1", "true", "yes"}) {
    if (strcmp(value, yes) == 0) FUZZ_CHECK(got, var);
  }
  for (const char* no : {"0", "false", "no", ""}) {
    if (strcmp(value, no) == 0) FUZZ_CHECK(!got, var);
  }
}

void CheckReportAbort(const char* var, const char* def, bool got_abort,
                      const std::map<std::string, int>& warned) {
  const char* value = Env(var);
  if (value == nullptr || warned.count(var) != 0) {
    FUZZ_CHECK(got_abort == (strcmp(def, "abort") == 0), var);
  } else if (strcmp(value, "report") == 0) {
    FUZZ_CHECK(!got_abort, var);
  } else if (strcmp(value, "abort") == 0) {
    FUZZ_CHECK(got_abort, var);
  } else {
    FUZZ_CHECK(warned.count(var) != 0, std::string(var) + ": an unknown word was taken silently");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_table == nullptr) g_table = lockaudit::core::OptionTable(&g_table_size);
  if (g_table_size == 0) return 0;
  g_env.clear();
  g_warnings.clear();

  // Split into pieces at NUL bytes; the first byte of each piece picks the variable.
  size_t pos = 0;
  while (pos < size) {
    const void* nul = memchr(data + pos, '\0', size - pos);
    size_t end = nul ? static_cast<size_t>(static_cast<const uint8_t*>(nul) - data) : size;
    if (end > pos) {
      size_t index = static_cast<uint8_t>(data[pos] - 'a') % g_table_size;
      g_env[g_table[index].variable] =
          std::string(reinterpret_cast<const char*>(data) + pos + 1, end - pos - 1);
    }
    pos = end + 1;
  }

  // Options holds several 1 KiB buffers: off the stack; filled with junk so that a field the
  // parser forgets to set is caught (a bool of 0x5a is also a UBSan report).
  auto opts = std::make_unique<Options>();
  memset(static_cast<void*>(opts.get()), 0x5a, sizeof(Options));
  lockaudit::core::ParseOptions(opts.get(), FakeGetenv, CaptureWarning);

  std::map<std::string, int> warned;
  CheckWarningLines(&warned);
  const Options& o = *opts;
#define LOCKAUDIT_OPTION(field, var, type, def, desc) LOCKAUDIT_FUZZ_CHECK_##type(field, #var, def)
#define LOCKAUDIT_FUZZ_CHECK_Path(f, v, d) CheckString(#f, v, d, o.f, warned);
#define LOCKAUDIT_FUZZ_CHECK_String(f, v, d) CheckString(#f, v, d, o.f, warned);
#define LOCKAUDIT_FUZZ_CHECK_Int(f, v, d) CheckInt(#f, v, d, o.f, warned);
#define LOCKAUDIT_FUZZ_CHECK_Bool(f, v, d) CheckBool(v, d, o.f, warned);
#define LOCKAUDIT_FUZZ_CHECK_Enum_report_abort(f, v, d) CheckReportAbort(v, d, o.f##_abort, warned);
#include "options.inc"
#undef LOCKAUDIT_OPTION
  return 0;
}
