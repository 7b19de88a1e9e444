#include "report.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "engine_mutex.h"
#include "raw_log.h"

namespace lockaudit::core {
namespace {

constexpr const char* kKindNames[] = {
    "lock_order_cycle", "hierarchy_violation", "deadlock",         "double_lock",
    "unlock_not_held",  "destroy_held",        "thread_exit_holding", "cond_mutex_mismatch",
    "wait_stall",       "hold_stall",          "blocking_in_nonblocking", "gpu_sync_under_lock",
    "wake_budget",
};
static_assert(sizeof kKindNames / sizeof kKindNames[0] == static_cast<size_t>(FindingKind::kCount));

struct Suppression {
  std::string kind;  // "*" matches every kind
  std::string glob;
};
struct Callback {
  int handle;
  FindingCallback fn;
  void* arg;
};

struct ReportState {
  EngineMutex mu;
  int log_fd = STDERR_FILENO;  // -1: off
  int json_fd = -1;
  std::vector<Suppression> suppressions;
  std::vector<Finding> findings;
  std::vector<Callback> callbacks;
  int next_handle = 1;
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> suppressed{0};
  std::atomic<uint64_t> by_kind[static_cast<size_t>(FindingKind::kCount)] = {};
  std::string report_template;  // LOCKAUDIT_REPORT as given (with %p)
  bool shared_with_parent = false;
  // The exit summary is the JSON report's last line (DESIGN.md §5): a finding made later (other
  // threads, static destructors) goes to the text log only.
  bool summary_written = false;  // a forked child still writing its parent's report file
};
ReportState& State() {
  static ReportState* s = new ReportState();  // never destroyed: used by late destructors
  return *s;
}

void WriteAll(int fd, const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string Hex(uintptr_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%" PRIxPTR, v);
  return buf;
}

std::string IsoTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((ns / 1000000) % 1000));
  return buf;
}

std::string JsonFrames(const std::vector<SymbolizedFrame>& frames) {
  std::string out = "[";
  for (size_t i = 0; i < frames.size(); ++i) {
    const SymbolizedFrame& f = frames[i];
    if (i) out += ',';
    out += "{\"pc\":\"" + Hex(f.pc) + "\",\"function\":";
    out += f.function.empty() ? "null" : "\"" + JsonEscape(f.function) + "\"";
    out += ",\"file\":";
    out += f.file.empty() ? "null" : "\"" + JsonEscape(f.file) + "\"";
    out += ",\"line\":";
    out += f.line ? std::to_string(f.line) : "null";
    out += ",\"module\":\"" + JsonEscape(f.module) + "\"";
    if (f.offset != 0) out += ",\"offset\":\"" + Hex(f.offset) + "\"";
    out += "}";
  }
  return out + "]";
}

std::string JsonThread(const ReportThread& t) {
  return "{\"tid\":" + std::to_string(t.tid) + ",\"name\":\"" + JsonEscape(t.name) + "\"}";
}

std::string JsonLock(const ReportLock& l) {
  std::string out = "{\"id\":" + std::to_string(l.id) + ",\"name\":\"" + JsonEscape(l.name) +
                    "\",\"addr\":\"" + Hex(l.addr) + "\",\"level\":";
  out += l.level == kNoLevel ? "null" : std::to_string(l.level);
  return out + "}";
}

// Frames of the standard library's and lockaudit's own inline plumbing (std::lock_guard,
// __gthread_mutex_lock, lockaudit::mutex::lock): collapsed in the text report.
bool IsPlumbing(const SymbolizedFrame& f) {
  return f.file.rfind("/usr/include/", 0) == 0 ||
         f.file.find("/include/lockaudit/") != std::string::npos;
}

// The first frame that is the program's own code: what a reader looks at first.
const SymbolizedFrame* UserFrame(const std::vector<SymbolizedFrame>& frames) {
  for (const SymbolizedFrame& f : frames) {
    if (!IsPlumbing(f)) return &f;
  }
  return nullptr;
}

std::string Where(const SymbolizedFrame* f) {
  if (f == nullptr) return "";
  std::string where = " at " + (f->function.empty() ? std::string("??") : f->function) + " (";
  if (f->file.empty()) return where + f->module + "+" + Hex(f->offset) + ")";  // no debug info
  const char* slash = strrchr(f->file.c_str(), '/');
  return where + (slash ? slash + 1 : f->file.c_str()) + ":" + std::to_string(f->line) + ")";
}

std::string TextFrames(const std::vector<SymbolizedFrame>& frames, const char* indent) {
  std::string out;
  for (size_t i = 0; i < frames.size(); ++i) {
    const SymbolizedFrame& f = frames[i];
    if (IsPlumbing(f)) {
      size_t j = i;
      while (j + 1 < frames.size() && IsPlumbing(frames[j + 1])) ++j;
      out += std::string(indent) + "   ... " + std::to_string(j - i + 1) +
             " inlined library frame(s)\n";
      i = j;
      continue;
    }
    char head[64];
    snprintf(head, sizeof head, "%s#%zu 0x%" PRIxPTR " ", indent, i, f.pc);
    out += head;
    out += f.function.empty() ? "??" : f.function;
    if (!f.file.empty()) out += " " + f.file + ":" + std::to_string(f.line);
    if (!f.module.empty()) {
      out += " (" + f.module;
      if (f.function.empty() && f.offset != 0) out += "+" + Hex(f.offset);  // for addr2line
      out += ")";
    }
    out += '\n';
  }
  if (frames.empty()) out += std::string(indent) + "(no stack)\n";
  return out;
}

const ReportLock* FindLock(const Finding& f, NodeId id) {
  for (const ReportLock& l : f.locks) {
    if (l.id == id) return &l;
  }
  return nullptr;
}

std::string Quoted(const ReportLock* l) { return l ? "'" + l->name + "'" : std::string("'?'"); }

// Renders both sinks' forms; symbolizes every stack once.
void Render(Finding& f) {
  std::vector<std::vector<SymbolizedFrame>> edge_stacks, edge_held;
  for (const ReportEdge& e : f.edges) {
    edge_stacks.push_back(SymbolizeStack(e.stack));
    edge_held.push_back(SymbolizeStack(e.held_stack));
  }
  std::vector<SymbolizedFrame> stack = SymbolizeStack(f.stack);

  std::string& t = f.text;
  t = "lockaudit: " + std::string(KindName(f.kind)) + ": " + f.message + "\n";
  for (size_t i = 0; i < f.edges.size(); ++i) {
    const ReportEdge& e = f.edges[i];
    const ReportLock* from = FindLock(f, e.from);
    const ReportLock* to = FindLock(f, e.to);
    t += "  edge " + std::to_string(i + 1) + ": " + Quoted(from) + " -> " + Quoted(to) +
         " (thread '" + e.thread.name + "' tid " + std::to_string(e.thread.tid) + ")\n";
    t += "    " + Quoted(to) + Where(UserFrame(edge_stacks[i])) + ", while holding " +
         Quoted(from) + " taken" + Where(UserFrame(edge_held[i])) + "\n";
    t += "    " + Quoted(to) + " acquired at:\n" + TextFrames(edge_stacks[i], "      ");
    t += "    while holding " + Quoted(from) + ", acquired at:\n" + TextFrames(edge_held[i], "      ");
  }
  if (f.stack != 0) t += "  at:\n" + TextFrames(stack, "    ");
  if (f.single_thread) {
    t += "  note: every edge was seen in one thread; another thread running the same code can "
         "deadlock with it\n";
  }

  std::string& j = f.json;
  j = "{\"type\":\"finding\",\"kind\":\"" + std::string(KindName(f.kind)) + "\",\"message\":\"" +
      JsonEscape(f.message) + "\",\"pid\":" + std::to_string(f.pid) + ",\"time\":\"" +
      IsoTime(f.time_ns) + "\"";
  if (f.kind == FindingKind::kLockOrderCycle) {
    j += std::string(",\"single_thread\":") + (f.single_thread ? "true" : "false");
  }
  j += ",\"locks\":[";
  for (size_t i = 0; i < f.locks.size(); ++i) j += (i ? "," : "") + JsonLock(f.locks[i]);
  j += "]";
  if (!f.edges.empty()) {
    j += ",\"edges\":[";
    for (size_t i = 0; i < f.edges.size(); ++i) {
      const ReportEdge& e = f.edges[i];
      j += (i ? "," : "") + std::string("{\"from\":") + std::to_string(e.from) +
           ",\"to\":" + std::to_string(e.to) + ",\"thread\":" + JsonThread(e.thread) +
           ",\"stack\":" + JsonFrames(edge_stacks[i]) + ",\"held_stack\":" +
           JsonFrames(edge_held[i]) + "}";
    }
    j += "]";
  }
  j += ",\"threads\":[";
  for (size_t i = 0; i < f.threads.size(); ++i) j += (i ? "," : "") + JsonThread(f.threads[i]);
  j += "]";
  if (f.stack != 0) j += ",\"stack\":" + JsonFrames(stack);
  j += "}";
}

bool Matches(const Suppression& s, const Finding& f) {
  if (s.kind != "*" && s.kind != KindName(f.kind)) return false;
  auto glob = [&](const std::string& v) {
    return !v.empty() && fnmatch(s.glob.c_str(), v.c_str(), 0) == 0;
  };
  for (const ReportLock& l : f.locks) {
    if (glob(l.name)) return true;
  }
  auto frames_match = [&](StackId id) {
    for (const SymbolizedFrame& fr : SymbolizeStack(id)) {
      if (glob(fr.function) || glob(fr.file)) return true;
      const char* slash = strrchr(fr.file.c_str(), '/');
      if (slash && glob(slash + 1)) return true;
    }
    return false;
  };
  if (frames_match(f.stack)) return true;
  for (const ReportEdge& e : f.edges) {
    if (frames_match(e.stack) || frames_match(e.held_stack)) return true;
  }
  return false;
}

}  // namespace

const char* KindName(FindingKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Opens the JSON Lines report, %p expanded to the pid; -1 (with one warning) when it cannot.
int OpenReport(const std::string& tmpl) {
  std::string path;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '%' && i + 1 < tmpl.size() && tmpl[i + 1] == 'p') {
      path += std::to_string(getpid());
      ++i;
    } else {
      path += tmpl[i];
    }
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    RawLog("lockaudit: warning: LOCKAUDIT_REPORT: cannot open '%s': %s; no JSON report\n",
           path.c_str(), strerror(errno));
  }
  return fd;
}

void InitReport(const Options& opts) {
  ReportState& s = State();
  if (strcmp(opts.log, "off") == 0) {
    s.log_fd = -1;
  } else if (strcmp(opts.log, "stderr") != 0) {
    int fd = open(opts.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      RawLog("lockaudit: warning: LOCKAUDIT_LOG: cannot open '%s': %s; using stderr\n", opts.log,
             strerror(errno));
    } else {
      s.log_fd = fd;
    }
  }
  if (opts.report[0] != '\0') {
    s.report_template = opts.report;
    s.json_fd = OpenReport(s.report_template);
  }
  if (opts.suppressions[0] != '\0') LoadSuppressions(opts.suppressions);
}

size_t LoadSuppressions(const char* path) {
  ReportState& s = State();
  FILE* f = fopen(path, "re");
  if (f == nullptr) {
    RawLog("lockaudit: warning: LOCKAUDIT_SUPPRESSIONS: cannot open '%s': %s; no suppressions\n",
           path, strerror(errno));
    return 0;
  }
  char line[1024];
  int lineno = 0;
  size_t added = 0;
  while (fgets(line, sizeof line, f)) {
    ++lineno;
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r' || l.back() == ' ')) l.pop_back();
    size_t start = l.find_first_not_of(" \t");
    if (start == std::string::npos || l[start] == '#') continue;
    l = l.substr(start);
    size_t colon = l.find(':');
    bool known = false;
    if (colon != std::string::npos) {
      std::string kind = l.substr(0, colon);
      known = kind == "*";
      for (const char* k : kKindNames) known = known || kind == k;
    }
    if (!known || colon + 1 >= l.size()) {
      RawLog("lockaudit: warning: LOCKAUDIT_SUPPRESSIONS: %s:%d: '%s' is not <kind>:<glob>; line "
             "ignored\n", path, lineno, l.c_str());
      continue;
    }
    EngineLock lock(s.mu);
    s.suppressions.push_back({l.substr(0, colon), l.substr(colon + 1)});
    ++added;
  }
  fclose(f);
  return added;
}

void Publish(Finding f) {
  ReportState& s = State();
  f.pid = getpid();
  if (f.time_ns == 0) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    f.time_ns = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
  }
  Render(f);
  std::vector<Suppression> rules;
  {
    EngineLock lock(s.mu);
    rules = s.suppressions;
  }
  for (const Suppression& r : rules) {
    if (Matches(r, f)) {
      f.suppressed = true;
      break;
    }
  }
  std::vector<Callback> callbacks;
  {
    EngineLock lock(s.mu);
    if (f.suppressed) {
      s.suppressed.fetch_add(1, std::memory_order_relaxed);
    } else {
      s.count.fetch_add(1, std::memory_order_relaxed);
      s.by_kind[static_cast<size_t>(f.kind)].fetch_add(1, std::memory_order_relaxed);
      if (s.log_fd >= 0) WriteAll(s.log_fd, f.text);
      if (s.json_fd >= 0 && !s.summary_written) WriteAll(s.json_fd, f.json + "\n");  // write(2)
      callbacks = s.callbacks;
    }
    s.findings.push_back(f);
  }
  if (f.suppressed) return;
  for (const Callback& c : callbacks) c.fn(f, c.arg);
}

void PublishEdge(const ReportLock& from, const ReportLock& to, const ReportThread& thread,
                 StackId stack, StackId held_stack) {
  ReportState& s = State();
  if (s.json_fd < 0) return;
  std::string line = "{\"type\":\"edge\",\"pid\":" + std::to_string(getpid()) +
                     ",\"from\":" + JsonLock(from) + ",\"to\":" + JsonLock(to) +
                     ",\"thread\":" + JsonThread(thread) + ",\"stack\":" +
                     JsonFrames(SymbolizeStack(stack)) + ",\"held_stack\":" +
                     JsonFrames(SymbolizeStack(held_stack)) + "}\n";
  EngineLock lock(s.mu);
  if (!s.summary_written) WriteAll(s.json_fd, line);
}

uint64_t FindingCount() { return State().count.load(std::memory_order_relaxed); }
uint64_t SuppressedCount() { return State().suppressed.load(std::memory_order_relaxed); }
uint64_t FindingCount(FindingKind kind) {
  return State().by_kind[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
}

std::vector<Finding> AllFindings() {
  ReportState& s = State();
  EngineLock lock(s.mu);
  return s.findings;
}

int AddFindingCallback(FindingCallback cb, void* arg) {
  ReportState& s = State();
  EngineLock lock(s.mu);
  int h = s.next_handle++;
  s.callbacks.push_back({h, cb, arg});
  return h;
}

void RemoveFindingCallback(int handle) {
  ReportState& s = State();
  EngineLock lock(s.mu);
  for (size_t i = 0; i < s.callbacks.size(); ++i) {
    if (s.callbacks[i].handle == handle) {
      s.callbacks.erase(s.callbacks.begin() + static_cast<long>(i));
      return;
    }
  }
}

void WriteSummary(const SummaryCounts& c) {
  ReportState& s = State();
  uint64_t n = FindingCount();
  std::string json = "{\"type\":\"summary\",\"pid\":" + std::to_string(getpid()) +
                     ",\"findings\":" + std::to_string(n) +
                     ",\"suppressed\":" + std::to_string(SuppressedCount()) +
                     ",\"locks\":" + std::to_string(c.locks) + ",\"edges\":" +
                     std::to_string(c.edges) + ",\"acquisitions\":" +
                     std::to_string(c.acquisitions) + ",\"contentions\":" +
                     std::to_string(c.contentions) + "}\n";
  std::string text;
  if (n > 0 || SuppressedCount() > 0) {
    text = "lockaudit: summary: " + std::to_string(n) + " finding(s)";
    std::string kinds;
    for (size_t k = 0; k < static_cast<size_t>(FindingKind::kCount); ++k) {
      uint64_t v = s.by_kind[k].load(std::memory_order_relaxed);
      if (v) kinds += (kinds.empty() ? "" : ", ") + std::to_string(v) + " " + kKindNames[k];
    }
    if (!kinds.empty()) text += " (" + kinds + ")";
    text += ", " + std::to_string(SuppressedCount()) + " suppressed; " + std::to_string(c.locks) +
            " locks, " + std::to_string(c.edges) + " lock-order edges, " +
            std::to_string(c.acquisitions) + " acquisitions, " + std::to_string(c.contentions) +
            " contended\n";
  }
  EngineLock lock(s.mu);
  if (s.json_fd >= 0 && !s.shared_with_parent) WriteAll(s.json_fd, json);
  s.summary_written = true;
  if (s.log_fd >= 0 && !text.empty()) WriteAll(s.log_fd, text);
}

void ReportPrepareFork() { State().mu.lock(); }
void ReportParentAfterFork() { State().mu.unlock(); }
void ReportChildAfterFork() {
  ReportState& s = State();
  s.mu.ResetAfterFork();
  // The child starts with no findings of its own (the parent's must not force the child's exit
  // code). With %p in the report path it writes its own file; otherwise its findings go on into
  // the parent's file (one shared offset, whole lines) but its summary does not.
  s.count.store(0);
  s.suppressed.store(0);
  for (auto& k : s.by_kind) k.store(0);
  s.findings.clear();
  if (s.json_fd >= 0 && s.report_template.find("%p") != std::string::npos) {
    close(s.json_fd);
    s.json_fd = OpenReport(s.report_template);
  } else if (s.json_fd >= 0) {
    s.shared_with_parent = true;
  }
}

}  // namespace lockaudit::core
