// The JSON Lines report (DESIGN.md §5) and option warnings (§4), checked on a real program run
// as a user would run it: bank_transfer with LOCKAUDIT_* variables set.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

struct RunResult {
  int status = -1;
  std::string err;
};

// Runs bank_transfer with extra environment assignments ("VAR=value ..."), capturing stderr.
RunResult RunBank(const std::string& env) {
  std::string err_path = ::testing::TempDir() + "bank_stderr.txt";
  std::string cmd = "env " + env + " " + BANK_TRANSFER_PATH + " >/dev/null 2>" + err_path;
  RunResult r;
  int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

void ExpectFrame(const nlohmann::json& fr) {
  ASSERT_TRUE(fr.is_object());
  ASSERT_TRUE(fr.contains("pc") && fr["pc"].is_string());
  EXPECT_EQ(fr["pc"].get<std::string>().rfind("0x", 0), 0u);
  for (const char* k : {"function", "file", "line", "module"}) ASSERT_TRUE(fr.contains(k)) << k;
  EXPECT_TRUE(fr["file"].is_null() || fr["file"].is_string());
  EXPECT_TRUE(fr["line"].is_null() || fr["line"].is_number_integer());
}

void ExpectLock(const nlohmann::json& l) {
  ASSERT_TRUE(l["id"].is_number_unsigned());
  ASSERT_TRUE(l["name"].is_string());
  ASSERT_TRUE(l["addr"].is_string());
  ASSERT_TRUE(l.contains("level"));
  EXPECT_TRUE(l["level"].is_null() || l["level"].is_number_integer());
}

TEST(ReportTest, JsonLinesMatchDesignContract) {
  std::string path = ::testing::TempDir() + "bank.jsonl";
  std::remove(path.c_str());
  RunResult r = RunBank("LOCKAUDIT_REPORT=" + path);
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  std::string line;
  int findings = 0, summaries = 0, edges = 0;
  const std::set<std::string> kinds = {
      "lock_order_cycle", "hierarchy_violation", "deadlock", "double_lock", "unlock_not_held",
      "destroy_held", "thread_exit_holding", "cond_mutex_mismatch", "wait_stall", "hold_stall",
      "blocking_in_nonblocking", "gpu_sync_under_lock", "wake_budget", "misaligned_lock",
      "blocking_under_lock", "lock_churn", "rwlock_as_mutex",
      "lock_false_sharing", "send_on_closed", "channel_stall", "channel_leak"};
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j["type"].is_string());
    std::string type = j["type"];
    if (type == "finding") {
      ++findings;
      ASSERT_TRUE(kinds.count(j["kind"].get<std::string>()));
      ASSERT_TRUE(j["message"].is_string());
      ASSERT_TRUE(j["pid"].is_number_integer());
      ASSERT_TRUE(j["time"].is_string());
      EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
      EXPECT_EQ(j["kind"], "lock_order_cycle");
      ASSERT_TRUE(j["single_thread"].is_boolean());
      EXPECT_FALSE(j["single_thread"].get<bool>());
      ASSERT_EQ(j["locks"].size(), 2u);
      for (const auto& l : j["locks"]) ExpectLock(l);
      ASSERT_EQ(j["edges"].size(), 2u);
      for (const auto& e : j["edges"]) {
        ASSERT_TRUE(e["from"].is_number_unsigned());
        ASSERT_TRUE(e["to"].is_number_unsigned());
        ASSERT_TRUE(e["thread"]["tid"].is_number_integer());
        ASSERT_TRUE(e["thread"]["name"].is_string());
        ASSERT_FALSE(e["stack"].empty());
        ASSERT_FALSE(e["held_stack"].empty());
        for (const auto& fr : e["stack"]) ExpectFrame(fr);
        for (const auto& fr : e["held_stack"]) ExpectFrame(fr);
        bool transfer_line = false;
        for (const auto& fr : e["stack"]) {
          transfer_line |= fr["function"].is_string() &&
                           fr["function"].get<std::string>().rfind("Transfer(", 0) == 0 &&
                           fr["file"].is_string() &&
                           fr["file"].get<std::string>().find("bank_transfer.cc") != std::string::npos &&
                           fr["line"].is_number_integer();
        }
        EXPECT_TRUE(transfer_line) << "the stack must show Transfer() at bank_transfer.cc:<line>";
      }
      ASSERT_TRUE(j["threads"].is_array());
    } else if (type == "edge") {
      ++edges;
      ExpectLock(j["from"]);
      ExpectLock(j["to"]);
      for (const auto& fr : j["stack"]) ExpectFrame(fr);
      for (const auto& fr : j["held_stack"]) ExpectFrame(fr);
    } else if (type == "summary") {
      ++summaries;
      for (const char* k : {"findings", "suppressed", "locks", "edges", "acquisitions", "contentions"}) {
        ASSERT_TRUE(j[k].is_number_unsigned()) << k;
      }
      EXPECT_EQ(j["findings"], 1);
      EXPECT_EQ(j["locks"], 2);
      EXPECT_EQ(j["edges"], 2);
      EXPECT_EQ(j["acquisitions"], 4);
    }
  }
  EXPECT_EQ(findings, 1);
  EXPECT_EQ(edges, 2);
  EXPECT_EQ(summaries, 1);
}

TEST(ReportTest, BadOptionValueWarnsAndUsesDefault) {
  RunResult r = RunBank("LOCKAUDIT_STACK_DEPTH=lots LOCKAUDIT_EXITCODE=7");
  EXPECT_NE(r.err.find("lockaudit: warning: LOCKAUDIT_STACK_DEPTH: 'lots' is not a non-negative "
                       "integer; using 24\n"),
            std::string::npos)
      << r.err;
  // The bad value did not stop auditing: the cycle is still reported, and the exit code applied.
  EXPECT_NE(r.err.find("lockaudit: lock_order_cycle: "), std::string::npos);
  EXPECT_EQ(r.status, 7);
}

TEST(ReportTest, ExitCodeUnchangedWithoutOption) {
  RunResult r = RunBank("LOCKAUDIT_LOG=off");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err.find("lockaudit:"), std::string::npos) << r.err;
}

TEST(ReportTest, SuppressionsFileSilencesMatchingFinding) {
  std::string supp = ::testing::TempDir() + "supp.txt";
  std::ofstream(supp) << "# known issue\nlock_order_cycle:alice.*\nbogus line\n";
  RunResult r = RunBank("LOCKAUDIT_SUPPRESSIONS=" + supp + " LOCKAUDIT_EXITCODE=9");
  EXPECT_EQ(r.status, 0) << "a suppressed finding must not force the exit code\n" << r.err;
  EXPECT_EQ(r.err.find("lockaudit: lock_order_cycle"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("supp.txt:3: 'bogus line' is not <kind>:<pattern>; line ignored"),
            std::string::npos) << r.err;
}

TEST(ReportTest, UnwritableReportWarnsOnceAndRunsOn) {
  RunResult r = RunBank("LOCKAUDIT_REPORT=/nonexistent-dir/r.jsonl");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("lockaudit: warning: LOCKAUDIT_REPORT: cannot open '/nonexistent-dir/r.jsonl'"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lockaudit: lock_order_cycle: "), std::string::npos);
}

}  // namespace
