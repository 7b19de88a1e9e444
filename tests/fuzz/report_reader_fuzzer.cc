// tests/fuzz/report_reader_fuzzer: libFuzzer target for the CLI's JSON Lines reader
// (lockaudit/cli/report_reader.cc, through ReadReportStream, the code ReadReport runs after
// opening the file). The input is the text of a report file.
//
// Invariants checked (a violation aborts, so libFuzzer keeps the input; a crash, an uncaught
// exception or a sanitizer report is a finding too):
//  - a stream that never fails yields a Report (nullopt only for a read error), named as given;
//  - every diagnostics line is one line starting with "lockaudit: " and naming the file;
//  - no more records than non-blank lines, and no more diagnostics than lines;
//  - reading is deterministic: the same text read again gives the same counts and diagnostics.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "report_reader.h"

namespace {

const char kName[] = "fuzz.jsonl";

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  fprintf(stderr, "report_reader_fuzzer: INVARIANT VIOLATED: %s\n  detail: '%s'\n", what,
          detail.c_str());
  abort();
}

#define FUZZ_CHECK(cond, detail)      \
  do {                                \
    if (!(cond)) Fail(#cond, detail); \
  } while (0)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  std::ostringstream diagnostics;
  const auto report = lockaudit::cli::ReadReportStream(in, kName, diagnostics);
  const std::string diag = diagnostics.str();

  FUZZ_CHECK(report.has_value(), diag);
  FUZZ_CHECK(report->path == kName, report->path);
  const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  const size_t records = report->findings.size() + report->edges.size() + report->summaries.size();
  FUZZ_CHECK(records <= lines, std::to_string(records));

  const std::string prefix = std::string("lockaudit: ") + kName + ":";
  size_t diag_lines = 0;
  size_t pos = 0;
  while (pos < diag.size()) {
    size_t end = diag.find('\n', pos);
    FUZZ_CHECK(end != std::string::npos, diag.substr(pos));  // every line ends in '\n'
    const std::string line = diag.substr(pos, end - pos);
    FUZZ_CHECK(line.compare(0, prefix.size(), prefix) == 0, line);
    for (unsigned char c : line) FUZZ_CHECK(c >= 0x20 && c != 0x7f, line);
    ++diag_lines;
    pos = end + 1;
  }
  FUZZ_CHECK(diag_lines + records <= lines, diag);

  std::istringstream again(text);
  std::ostringstream diagnostics_again;
  const auto report_again = lockaudit::cli::ReadReportStream(again, kName, diagnostics_again);
  FUZZ_CHECK(report_again.has_value() && diagnostics_again.str() == diag, diag);
  FUZZ_CHECK(report_again->findings.size() == report->findings.size() &&
                 report_again->edges.size() == report->edges.size() &&
                 report_again->summaries.size() == report->summaries.size(),
             diag);
  return 0;
}
