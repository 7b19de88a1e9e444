// Tests for the LOCKAUDIT_* options: ParseOptions() fed through a fake environment, with every
// warning line captured.
#include "options.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace lockaudit::core {
namespace {

// ParseOptions takes plain function pointers, so the fake environment and the captured lines
// live in globals that each test resets.
std::map<std::string, std::string> g_env;
std::vector<std::string> g_warnings;

const char* FakeGetenv(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
void CaptureWarning(const char* line) { g_warnings.emplace_back(line); }

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_env.clear();
    g_warnings.clear();
  }
  // Options holds several 1 KiB buffers: keep it off the stack.
  const Options& Parse() {
    opts_ = std::make_unique<Options>();
    memset(opts_.get(), 0x5a, sizeof(Options));  // nothing may be left unset
    ParseOptions(opts_.get(), FakeGetenv, CaptureWarning);
    return *opts_;
  }
  std::unique_ptr<Options> opts_;
};

TEST_F(OptionsTest, DefaultsWhenNothingIsSet) {
  const Options& o = Parse();
  EXPECT_TRUE(g_warnings.empty()) << g_warnings.front();
  EXPECT_STREQ(o.report, "");
  EXPECT_STREQ(o.log, "stderr");
  EXPECT_EQ(o.exitcode, -1) << "-1: exit status unchanged";
  EXPECT_FALSE(o.on_deadlock_abort);
  EXPECT_EQ(o.stall_ms, 1000);
  EXPECT_STREQ(o.hierarchy, "");
  EXPECT_STREQ(o.suppressions, "");
  EXPECT_STREQ(o.nonblocking_threads, "");
  EXPECT_EQ(o.wake_budget_ms, -1) << "-1: no wake budget";
  EXPECT_STREQ(o.prometheus, "");
  EXPECT_EQ(o.max_series, 50);
  EXPECT_EQ(o.stack_depth, 24);
  EXPECT_FALSE(o.disable);
}

// Every row's default text, parsed the way its type is, is what an empty environment yields:
// the table and the parser cannot drift apart.
TEST_F(OptionsTest, DefaultsMatchTheTable) {
  const Options& o = Parse();
#define LOCKAUDIT_OPTION(field, var, type, def, desc) LOCKAUDIT_TEST_DEFAULT_##type(field, #var, def)
#define LOCKAUDIT_TEST_DEFAULT_Path(f, v, d) EXPECT_STREQ(o.f, d) << v;
#define LOCKAUDIT_TEST_DEFAULT_String(f, v, d) EXPECT_STREQ(o.f, d) << v;
// A numeric default spelled as a word ("unchanged", "none") means -1 (options.inc).
#define LOCKAUDIT_TEST_DEFAULT_Int(f, v, d) \
  EXPECT_EQ(o.f, (d[0] >= '0' && d[0] <= '9') ? strtol(d, nullptr, 10) : -1) << v;
#define LOCKAUDIT_TEST_DEFAULT_Bool(f, v, d) EXPECT_EQ(o.f, strcmp(d, "1") == 0) << v;
#define LOCKAUDIT_TEST_DEFAULT_Enum_report_abort(f, v, d) \
  EXPECT_EQ(o.f##_abort, strcmp(d, "abort") == 0) << v;
#include "options.inc"
#undef LOCKAUDIT_OPTION
  EXPECT_TRUE(g_warnings.empty());
}

TEST_F(OptionsTest, ParsesEachVariable) {
  g_env = {
      {"LOCKAUDIT_REPORT", "/tmp/la-%p.jsonl"},
      {"LOCKAUDIT_LOG", "off"},
      {"LOCKAUDIT_EXITCODE", "66"},
      {"LOCKAUDIT_ON_DEADLOCK", "abort"},
      {"LOCKAUDIT_STALL_MS", "250"},
      {"LOCKAUDIT_HIERARCHY", "/etc/levels.txt"},
      {"LOCKAUDIT_SUPPRESSIONS", "supp.txt"},
      {"LOCKAUDIT_NONBLOCKING_THREADS", "io-*,net-?"},
      {"LOCKAUDIT_WAKE_BUDGET_MS", "5"},
      {"LOCKAUDIT_PROMETHEUS", "0.0.0.0:9464"},
      {"LOCKAUDIT_MAX_SERIES", "7"},
      {"LOCKAUDIT_STACK_DEPTH", "128"},
      {"LOCKAUDIT_DISABLE", "1"},
  };
  const Options& o = Parse();
  EXPECT_TRUE(g_warnings.empty()) << g_warnings.front();
  EXPECT_STREQ(o.report, "/tmp/la-%p.jsonl");
  EXPECT_STREQ(o.log, "off");
  EXPECT_EQ(o.exitcode, 66);
  EXPECT_TRUE(o.on_deadlock_abort);
  EXPECT_EQ(o.stall_ms, 250);
  EXPECT_STREQ(o.hierarchy, "/etc/levels.txt");
  EXPECT_STREQ(o.suppressions, "supp.txt");
  EXPECT_STREQ(o.nonblocking_threads, "io-*,net-?");
  EXPECT_EQ(o.wake_budget_ms, 5);
  EXPECT_STREQ(o.prometheus, "0.0.0.0:9464");
  EXPECT_EQ(o.max_series, 7);
  EXPECT_EQ(o.stack_depth, 128);
  EXPECT_TRUE(o.disable);
}

TEST_F(OptionsTest, AcceptsRangeLimitsAndSpellings) {
  g_env = {{"LOCKAUDIT_EXITCODE", "0"}, {"LOCKAUDIT_STACK_DEPTH", "1"},
           {"LOCKAUDIT_STALL_MS", "1"}, {"LOCKAUDIT_ON_DEADLOCK", "report"}};
  const Options& o = Parse();
  EXPECT_TRUE(g_warnings.empty()) << g_warnings.front();
  EXPECT_EQ(o.exitcode, 0);
  EXPECT_EQ(o.stack_depth, 1);
  EXPECT_EQ(o.stall_ms, 1);
  EXPECT_FALSE(o.on_deadlock_abort);

  g_env = {{"LOCKAUDIT_EXITCODE", "255"}};
  EXPECT_EQ(Parse().exitcode, 255);
  EXPECT_TRUE(g_warnings.empty()) << g_warnings.front();

  for (const char* yes : {"1", "true", "yes"}) {
    g_env = {{"LOCKAUDIT_DISABLE", yes}};
    EXPECT_TRUE(Parse().disable) << yes;
  }
  for (const char* no : {"0", "false", "no", ""}) {
    g_env = {{"LOCKAUDIT_DISABLE", no}};
    EXPECT_FALSE(Parse().disable) << "'" << no << "'";
  }
  EXPECT_TRUE(g_warnings.empty()) << g_warnings.front();
}

TEST_F(OptionsTest, EmptyLogMeansStderr) {
  g_env = {{"LOCKAUDIT_LOG", ""}};
  EXPECT_STREQ(Parse().log, "stderr");
  EXPECT_TRUE(g_warnings.empty());
}

struct Malformed {
  const char* variable;
  const char* value;
  const char* default_text;  // as DESIGN.md §4 names the default
};

// One warning line, naming the variable and the bad value, ending in "; using <default>".
void ExpectOneWarning(const Malformed& m) {
  ASSERT_EQ(g_warnings.size(), 1u);
  const std::string& line = g_warnings[0];
  const std::string prefix = std::string("lockaudit: warning: ") + m.variable + ": ";
  const std::string suffix = std::string("; using ") + m.default_text + "\n";
  EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
  ASSERT_GE(line.size(), suffix.size()) << line;
  EXPECT_EQ(line.substr(line.size() - suffix.size()), suffix) << line;
  EXPECT_NE(line.find(m.value), std::string::npos) << "the bad value is not shown: " << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "not one line: " << line;
}

TEST_F(OptionsTest, MalformedValuesWarnOnceAndUseTheDefault) {
  const Malformed cases[] = {
      {"LOCKAUDIT_STALL_MS", "abc", "1000"},
      {"LOCKAUDIT_STALL_MS", "-5", "1000"},
      {"LOCKAUDIT_STALL_MS", "12ms", "1000"},
      // Issue 19 (14): a value too large for the engine's arithmetic used to be accepted and
      // wrap (invented stall and wake findings); 0 used to fall back to the default silently.
      {"LOCKAUDIT_STALL_MS", "18446744073710", "1000"},
      {"LOCKAUDIT_STALL_MS", "99999999999999999999999", "1000"},
      {"LOCKAUDIT_STALL_MS", "0", "1000"},
      {"LOCKAUDIT_STALL_MS", "86400001", "1000"},
      {"LOCKAUDIT_WAKE_BUDGET_MS", "0", "none"},
      {"LOCKAUDIT_WAKE_BUDGET_MS", "18446744073710", "none"},
      {"LOCKAUDIT_MAX_SERIES", "0", "50"},
      {"LOCKAUDIT_MAX_SERIES", "100001", "50"},
      {"LOCKAUDIT_EXITCODE", "256", "unchanged"},
      {"LOCKAUDIT_EXITCODE", "-1", "unchanged"},
      {"LOCKAUDIT_DISABLE", "maybe", "0"},
      {"LOCKAUDIT_ON_DEADLOCK", "explode", "report"},
      {"LOCKAUDIT_EXITCODE", "300", "unchanged"},
      {"LOCKAUDIT_EXITCODE", "abc", "unchanged"},
      {"LOCKAUDIT_WAKE_BUDGET_MS", "soon", "none"},
      {"LOCKAUDIT_STACK_DEPTH", "0", "24"},
      {"LOCKAUDIT_STACK_DEPTH", "129", "24"},
      {"LOCKAUDIT_STACK_DEPTH", "-3", "24"},
      {"LOCKAUDIT_MAX_SERIES", "many", "50"},
  };
  for (const Malformed& m : cases) {
    SCOPED_TRACE(::testing::Message() << m.variable << "=" << m.value);
    g_env = {{m.variable, m.value}};
    g_warnings.clear();
    const Options& o = Parse();
    ExpectOneWarning(m);
    EXPECT_EQ(o.stall_ms, 1000);
    EXPECT_FALSE(o.disable);
    EXPECT_FALSE(o.on_deadlock_abort);
    EXPECT_EQ(o.exitcode, -1);
    EXPECT_EQ(o.stack_depth, 24);
    EXPECT_EQ(o.max_series, 50);
    EXPECT_EQ(o.wake_budget_ms, -1);
  }
}

// A value with a newline or a terminal escape cannot split the warning or reach the terminal
// raw (found by tests/fuzz/options_fuzzer.cc).
TEST_F(OptionsTest, ControlCharactersInAValueKeepTheWarningOnOneLine) {
  g_env = {{"LOCKAUDIT_STALL_MS", "12\nlockaudit: lock_order_cycle: fake\x1b[2J"}};
  const Options& o = Parse();
  ASSERT_EQ(g_warnings.size(), 1u);
  const std::string& line = g_warnings[0];
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("'12?lockaudit: lock_order_cycle: fake?[2J'"), std::string::npos) << line;
  EXPECT_EQ(o.stall_ms, 1000);
}

TEST_F(OptionsTest, EachMalformedVariableWarnsSeparately) {
  g_env = {{"LOCKAUDIT_STALL_MS", "abc"},
           {"LOCKAUDIT_DISABLE", "maybe"},
           {"LOCKAUDIT_ON_DEADLOCK", "explode"},
           {"LOCKAUDIT_EXITCODE", "300"},
           {"LOCKAUDIT_STACK_DEPTH", "0"}};
  const Options& o = Parse();
  ASSERT_EQ(g_warnings.size(), 5u);
  std::set<std::string> named;
  for (const std::string& line : g_warnings) {
    const std::string prefix = "lockaudit: warning: ";
    ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
    named.insert(line.substr(prefix.size(), line.find(':', prefix.size()) - prefix.size()));
  }
  EXPECT_EQ(named, (std::set<std::string>{"LOCKAUDIT_STALL_MS", "LOCKAUDIT_DISABLE",
                                          "LOCKAUDIT_ON_DEADLOCK", "LOCKAUDIT_EXITCODE",
                                          "LOCKAUDIT_STACK_DEPTH"}));
  EXPECT_EQ(o.stall_ms, 1000);
  EXPECT_EQ(o.exitcode, -1);
  EXPECT_EQ(o.stack_depth, 24);
}

TEST_F(OptionsTest, TooLongPathWarnsAndUsesTheDefault) {
  g_env = {{"LOCKAUDIT_REPORT", std::string(kMaxOptionLen + 10, 'x')},
           {"LOCKAUDIT_SUPPRESSIONS", std::string(kMaxOptionLen - 1, 's')}};
  const Options& o = Parse();
  ASSERT_EQ(g_warnings.size(), 1u);
  EXPECT_EQ(g_warnings[0].rfind("lockaudit: warning: LOCKAUDIT_REPORT: ", 0), 0u) << g_warnings[0];
  EXPECT_STREQ(o.report, "");
  EXPECT_EQ(strlen(o.suppressions), kMaxOptionLen - 1) << "the longest value that fits is kept";
}

TEST_F(OptionsTest, OptionTableListsEveryDesignVariable) {
  // DESIGN.md §4, plus LOCKAUDIT_MAX_SERIES from §6, LOCKAUDIT_GTEST (issue 6: the switch
  // for unmodified gtest binaries under the shim) and LOCKAUDIT_CUDA (issue 7: the shim loads
  // the CUPTI module), and LOCKAUDIT_REPORT_APPEND (issue 15: the processes an audited process
  // starts append to its report).
  const std::set<std::string> design = {
      "LOCKAUDIT_REPORT",      "LOCKAUDIT_LOG",          "LOCKAUDIT_EXITCODE",
      "LOCKAUDIT_ON_DEADLOCK", "LOCKAUDIT_STALL_MS",     "LOCKAUDIT_HIERARCHY",
      "LOCKAUDIT_SUPPRESSIONS", "LOCKAUDIT_NONBLOCKING_THREADS", "LOCKAUDIT_WAKE_BUDGET_MS",
      "LOCKAUDIT_PROMETHEUS",  "LOCKAUDIT_STACK_DEPTH",  "LOCKAUDIT_DISABLE",
      "LOCKAUDIT_MAX_SERIES",  "LOCKAUDIT_GTEST",        "LOCKAUDIT_CUDA",
      "LOCKAUDIT_REPORT_APPEND", "LOCKAUDIT_SHARED_STALL_MS",
      // Issue 16: lockaudit confirm's plan, and counting ordered cycles for LOCKAUDIT_EXITCODE.
      "LOCKAUDIT_CONFIRM",     "LOCKAUDIT_COUNT_ORDERED",
      // Issue 17: the contention profile's sampling rate.
      "LOCKAUDIT_PROFILE_RATE", "LOCKAUDIT_CHURN_MIN"};
  size_t count = 0;
  const OptionInfo* table = OptionTable(&count);
  ASSERT_NE(table, nullptr);
  std::set<std::string> listed;
  for (size_t k = 0; k < count; ++k) {
    ASSERT_NE(table[k].variable, nullptr);
    EXPECT_TRUE(listed.insert(table[k].variable).second) << "listed twice: " << table[k].variable;
    EXPECT_EQ(std::string(table[k].variable).rfind("LOCKAUDIT_", 0), 0u) << table[k].variable;
    ASSERT_NE(table[k].default_value, nullptr) << table[k].variable;
    ASSERT_NE(table[k].description, nullptr) << table[k].variable;
    EXPECT_GT(strlen(table[k].description), 5u) << table[k].variable;
  }
  EXPECT_EQ(listed, design);
}

// Every variable the table lists is one the parser reads (and nothing else is read).
TEST_F(OptionsTest, ParserReadsExactlyTheTableVariables) {
  static std::set<std::string>* read = nullptr;
  std::set<std::string> names;
  read = &names;
  opts_ = std::make_unique<Options>();
  ParseOptions(
      opts_.get(),
      [](const char* name) -> const char* {
        read->insert(name);
        return nullptr;
      },
      CaptureWarning);
  read = nullptr;
  size_t count = 0;
  const OptionInfo* table = OptionTable(&count);
  std::set<std::string> listed;
  for (size_t k = 0; k < count; ++k) listed.insert(table[k].variable);
  EXPECT_EQ(names, listed);
  EXPECT_TRUE(g_warnings.empty());
}

}  // namespace
}  // namespace lockaudit::core
