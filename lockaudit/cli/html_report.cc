// lockaudit/cli/html_report: the HTML page, written as plain strings.
#include "html_report.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "dot_graph.h"
#include "profile.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

std::string Html(const std::string& text) { return XmlEscape(text); }

std::string Duration(int64_t ns) { return FormatDuration(ns); }

// The <svg> element of an SVG document (its XML prolog and doctype dropped), for inlining.
std::string SvgElement(const std::string& document) {
  const size_t at = document.find("<svg");
  return at == std::string::npos ? "" : document.substr(at);
}

// The lock-order graph drawn by Graphviz, or "" (with why) when dot cannot run.
std::string GraphSvg(const Report& report, std::string* why) {
  char path[] = "/tmp/lockaudit-html-XXXXXX.svg";
  const int fd = mkstemps(path, 4);
  if (fd < 0) {
    *why = "no temporary file";
    return "";
  }
  close(fd);
  const int rc = WriteSvg(BuildLockOrderDot(report, /*links=*/true), path);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  if (rc != 0) {
    *why = "Graphviz's dot could not draw it";
    return "";
  }
  return SvgElement(text.str());
}

std::string FrameRow(const Frame& f) {
  std::string row = "<li><code>" + Html(f.function.empty() ? (f.pc.empty() ? "??" : f.pc) : f.function) +
                    "</code>";
  if (!f.file.empty()) {
    row += " <span class=\"where\">" + Html(f.file) + (f.line ? ":" + std::to_string(*f.line) : "") +
           "</span>";
  }
  if (!f.module.empty()) row += " <span class=\"module\">(" + Html(f.module) + ")</span>";
  return row + "</li>";
}

// A collapsible stack: the summary names its first frame in the program.
std::string StackBlock(const std::string& title, const Stack& stack, bool partial, bool open) {
  const Stack program = ProgramFrames(stack);
  std::string first = program.empty() ? "no stack" : FormatFrame(program.front());
  std::string out = std::string("<details class=\"stack\"") + (open ? " open" : "") +
                    "><summary>" + Html(title) + " <span class=\"where\">" + Html(first) +
                    "</span></summary><ol>";
  for (const Frame& f : stack) out += FrameRow(f);
  out += "</ol>";
  if (partial) {
    out += "<p class=\"note\">only where it was taken: the function that took it had returned "
           "when the edge was learned</p>";
  }
  return out + "</details>";
}

std::string FindingSection(const Finding& f, size_t index) {
  std::string out = "<section class=\"finding kind-" + Html(f.kind) + "\" id=\"finding-" +
                    std::to_string(index) + "\"><h3><span class=\"kind\">" + Html(f.kind) +
                    "</span> " + Html(f.message) + "</h3>";
  std::string meta;
  if (f.pid) meta += "pid " + std::to_string(*f.pid);
  if (!f.time.empty()) meta += (meta.empty() ? "" : ", ") + f.time;
  if (!meta.empty()) out += "<p class=\"meta\">" + Html(meta) + "</p>";
  if (f.ordered) {
    out += "<p class=\"note\">ordered: " + Html(f.ordered_reason) +
           ": thread creation and join keep these edges apart, so this cycle cannot deadlock as "
           "observed</p>";
  }
  for (size_t i = 0; i < f.edges.size(); ++i) {
    const FindingEdge& e = f.edges[i];
    const std::string from = LockDisplayName(FindLock(f, e.from));
    const std::string to = LockDisplayName(FindLock(f, e.to));
    out += "<div class=\"edge\" id=\"finding-" + std::to_string(index) + "-edge-" +
           std::to_string(i + 1) + "\"><h4>edge " + std::to_string(i + 1) + ": " + Html(from) +
           " &rarr; " + Html(to) + " <span class=\"meta\">thread " + Html(FormatThread(e.thread)) +
           "</span></h4>";
    out += StackBlock("'" + to + "' acquired at", e.stack, false, i == 0);
    out += StackBlock("while holding '" + from + "', acquired at", e.held_stack,
                      e.held_stack_partial, i == 0);
    out += "</div>";
  }
  if (!f.stack.empty()) out += StackBlock("at", f.stack, false, true);
  if (!f.held_stack.empty()) {
    out += StackBlock(HeldStackHeading(f) + " at", f.held_stack, f.held_stack_partial, false);
  }
  if (!f.suppression.empty()) {
    out += "<p class=\"meta\">to suppress: <code>" + Html(f.suppression) + "</code></p>";
  }
  return out + "</section>\n";
}

std::string ConfirmSection(const Report& report) {
  if (report.confirms.empty()) return "";
  std::string out = "<section id=\"confirm\"><h2>Confirmed deadlocks</h2><ul>";
  for (const ConfirmRecord& c : report.confirms) {
    out += "<li class=\"confirm-" + Html(c.result) + "\"><b>" +
           (c.result == "confirmed" ? "confirmed" + (c.run ? " in run " + std::to_string(*c.run) : "")
                                    : "not reproduced in " + CountOf(c.runs, "run")) +
           "</b>: " + Html(Join(c.locks, " -> "));
    if (!c.reason.empty()) out += " <span class=\"meta\">" + Html(c.reason) + "</span>";
    if (c.deadlock) out += "<div class=\"meta\">" + Html(c.deadlock->message) + "</div>";
    out += "</li>";
  }
  return out + "</ul></section>\n";
}

std::string ContentionSection(const Report& report) {
  std::string out = "<section id=\"contention\"><h2>Most contended locks</h2>";
  if (report.contentions.empty()) {
    return out + "<p class=\"meta\">No contention line in the report (no contended lock, "
                 "LOCKAUDIT_PROFILE_RATE=0, or the program did not reach its exit).</p></section>\n";
  }
  struct Row {
    std::string name;
    int64_t waits = 0, delay = 0, p99 = 0, max = 0, paths = 0;
    std::string holder;  // the holder site that caused the most of the wait
    int64_t holder_delay = -1;
  };
  std::map<std::string, Row> rows;
  for (const ContentionRecord& r : report.contentions) {
    Row& row = rows[LockDisplayName(r.lock)];
    row.name = LockDisplayName(r.lock);
    row.waits += r.contentions;
    row.delay += r.delay_ns;
    row.p99 = std::max(row.p99, r.p99_ns);
    row.max = std::max(row.max, r.max_ns);
    ++row.paths;
  }
  for (const ContentionRecord& r : report.holder_contentions) {
    auto it = rows.find(LockDisplayName(r.lock));
    if (it == rows.end() || r.delay_ns <= it->second.holder_delay) continue;
    const std::string path = ShortPath(r.stack, 2);
    it->second.holder_delay = r.delay_ns;
    it->second.holder = (path.empty() ? "(holder not seen)" : path) + " (" +
                        Duration(r.delay_ns) + ")";
  }
  std::vector<Row> sorted;
  sorted.reserve(rows.size());
  for (auto& [name, row] : rows) sorted.push_back(row);
  std::sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.delay > b.delay; });
  out += "<table><tr><th>lock</th><th>contended waits</th><th>total wait</th><th>p99 wait "
         "(worst path)</th><th>max wait</th><th>call paths</th><th>held while others waited, "
         "mostly at</th></tr>";
  for (const Row& row : sorted) {
    out += "<tr><td><code>" + Html(row.name) + "</code></td><td>" + std::to_string(row.waits) +
           "</td><td>" + Duration(row.delay) + "</td><td>" + Duration(row.p99) + "</td><td>" +
           Duration(row.max) + "</td><td>" + std::to_string(row.paths) + "</td><td class=\"holder\">" +
           Html(row.holder) + "</td></tr>";
  }
  out += "</table><h3>Where threads waited (flame graph of the wait time)</h3>";
  out += "<div class=\"flame\">" + SvgElement(FlameGraphSvg(report.contentions, "lock wait time by call path")) +
         "</div>";
  std::ostringstream top;
  PrintTopPaths(report.contentions, 10, top);
  if (!report.holder_contentions.empty()) PrintTopHolders(report.holder_contentions, 10, top);
  out += "<pre class=\"top\">" + Html(top.str()) + "</pre>";
  return out + "</section>\n";
}

// "p50 / p90 / p99" of one histogram, "-" when it is empty.
std::string Quantiles(const DurationStats& d) {
  if (d.count == 0) return "&ndash;";
  return Duration(d.p50_ns) + " / " + Duration(d.p90_ns) + " / " + Duration(d.p99_ns);
}

std::string TimesSection(const Report& report) {
  std::string out = "<section id=\"times\"><h2>Wait and hold times</h2>";
  std::set<int64_t> pids;
  for (const LockStatsRecord& r : report.lock_stats) pids.insert(r.pid.value_or(0));
  for (const CondStatsRecord& r : report.cond_stats) pids.insert(r.pid.value_or(0));
  const bool several = pids.size() > 1;
  auto who = [several](const std::optional<int64_t>& pid, const std::string& name) {
    return "<code>" + Html(name) + "</code>" +
           (several && pid ? " <span class=\"meta\">pid " + std::to_string(*pid) + "</span>" : "");
  };
  if (report.lock_stats.empty()) {
    out += "<p class=\"meta\">No lock_stats line in the report (no lock taken, or the program did "
           "not reach its exit).</p>";
  } else {
    int64_t period = 0;
    for (const LockStatsRecord& r : report.lock_stats) period = std::max(period, r.hold_sample_period);
    out += "<p class=\"meta\">Per lock, longest total wait first, named as in the metrics "
           "(docs/metrics.md). Quantiles are p50 / p90 / p99, interpolated inside the metrics' "
           "histogram buckets (each 4 times the last), so they are estimates within a bucket. "
           "Hold times are measured on 1 in " + std::to_string(period) + " holds of each lock.</p>";
    out += "<table><tr><th>lock</th><th>acquisitions</th><th>contended</th><th>wait p50 / p90 / "
           "p99</th><th>total wait</th><th>hold p50 / p90 / p99</th><th>holds timed</th></tr>";
    for (const LockStatsRecord& r : report.lock_stats) {
      out += "<tr><td>" + who(r.pid, r.lock) + "</td><td>" + std::to_string(r.acquisitions) +
             "</td><td>" + std::to_string(r.contentions) + "</td><td>" + Quantiles(r.wait) +
             "</td><td>" + Duration(r.wait.sum_ns) + "</td><td>" + Quantiles(r.hold) + "</td><td>" +
             std::to_string(r.hold.count) + "</td></tr>";
    }
    out += "</table>";
  }
  out += "<h3 id=\"wake\">Condition-variable wake latency</h3>";
  if (report.cond_stats.empty()) {
    out += "<p class=\"meta\">No cond_stats line: no condition-variable waiter was woken by a "
           "signal or broadcast.</p>";
  } else {
    out += "<p class=\"meta\">From the signal or broadcast to the woken waiter running again with "
           "its mutex, most wakes first.</p><table><tr><th>condition variable</th><th>wakes</th>"
           "<th>p50 / p90 / p99</th><th>total</th><th>over the wake budget</th></tr>";
    for (const CondStatsRecord& r : report.cond_stats) {
      out += "<tr><td>" + who(r.pid, r.cond) + "</td><td>" + std::to_string(r.wake.count) +
             "</td><td>" + Quantiles(r.wake) + "</td><td>" + Duration(r.wake.sum_ns) +
             "</td><td>" + std::to_string(r.budget_violations) + "</td></tr>";
    }
    out += "</table>";
  }
  return out + "</section>\n";
}

constexpr char kStyle[] = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1300px; }
h1 { font-size: 1.4em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
.finding { border-left: 4px solid #c33; padding: .2em 1em; margin: 1em 0; background: #fdf6f6; }
.finding.kind-wait_stall, .finding.kind-hold_stall, .finding.kind-wake_budget { border-color: #d90; background: #fffaf0; }
.kind { font-family: monospace; background: #c33; color: #fff; padding: 0 .4em; border-radius: 3px; }
.meta, .where, .module { color: #666; font-size: .9em; }
.note { color: #555; font-style: italic; }
details.stack { margin: .3em 0 .3em 1em; } details.stack ol { font-size: .9em; margin: .3em 0; }
summary { cursor: pointer; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
.graph svg, .flame svg { max-width: 100%; height: auto; }
.graph a:target, .finding:target { outline: 3px solid #39f; }
pre.top { font-size: .85em; overflow-x: auto; }
.confirm-confirmed b { color: #c33; }
)";

}  // namespace

std::string HtmlReport(const Report& report) {
  std::string programs;
  for (const Summary& s : report.summaries) {
    if (!s.program.empty()) programs += (programs.empty() ? "" : ", ") + s.program;
  }
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lockaudit report: " +
                    Html(programs.empty() ? report.path : programs) + "</title><style>" + kStyle +
                    "</style></head><body>\n<h1>lockaudit report: " +
                    Html(programs.empty() ? report.path : programs) + "</h1>\n";
  int64_t locks = 0, edges = 0, acquisitions = 0, contentions = 0;
  for (const Summary& s : report.summaries) {
    locks += s.locks;
    edges += s.edges;
    acquisitions += s.acquisitions;
    contentions += s.contentions;
  }
  out += "<p class=\"meta\" id=\"summary\">" + CountOf(static_cast<int64_t>(report.findings.size()), "finding") +
         "; " + CountOf(locks, "lock") + ", " + CountOf(edges, "lock-order edge") + ", " +
         CountOf(acquisitions, "acquisition") + ", " + CountOf(contentions, "contention") +
         (report.summaries.empty() ? " (no summary line: the program did not reach a normal exit)" : "") +
         "; from " + Html(report.path) + "</p>\n";
  out += "<nav><a href=\"#findings\">findings</a> &middot; <a href=\"#graph\">lock-order graph</a> "
         "&middot; <a href=\"#contention\">contention</a> &middot; <a href=\"#times\">wait and hold "
         "times</a></nav>\n";
  out += "<section id=\"findings\"><h2>Findings</h2>";
  if (report.findings.empty()) out += "<p>No findings.</p>";
  for (size_t i = 0; i < report.findings.size(); ++i) out += FindingSection(report.findings[i], i);
  out += "</section>\n" + ConfirmSection(report);
  std::string why;
  const std::string graph = GraphSvg(report, &why);
  out += "<section id=\"graph\"><h2>Lock-order graph</h2><p class=\"meta\">A &rarr; B: B was acquired "
         "while A was held. Red edges belong to a potential deadlock; click one for its "
         "evidence.</p><div class=\"graph\">" +
         (graph.empty() ? "<p class=\"note\">not drawn: " + Html(why) + "</p>" : graph) +
         "</div></section>\n";
  out += ContentionSection(report);
  out += TimesSection(report);
  return out + "</body></html>\n";
}

}  // namespace lockaudit::cli
