#include "report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <unordered_map>

#include "config_file.h"
#include "engine_mutex.h"
#include "hash.h"
#include "provider.h"
#include "raw_log.h"

namespace lockaudit::core {
namespace {


struct Suppression {
  std::string kind;     // "*" matches every kind
  std::string pattern;  // SuppressionPatternMatches (config_file.h)
  std::string rule;     // the line as written, and where: for the summary
  std::string where;    // "<file>:<line>"
  uint64_t matched = 0;  // findings it suppressed (under ReportState::mu)
};
struct Callback {
  int handle;
  FindingCallback fn;
  void* arg;
};

// One output of the report: the text log or the JSON Lines file, or stderr.
//
// The descriptor belongs to lockaudit, but the program may close it (daemons close every
// descriptor; close_range(3, ~0U)) and get the same number back for a file of its own: before
// each write the descriptor is checked to still be the file opened (device and inode), else the
// file is opened again (appending) and the program's descriptor is left alone. A FIFO is opened
// without waiting for a reader (none: one warning, no output), and the first failed write is
// warned about once (a full disk, /dev/full).
// Thread-safety: callers hold the report mutex.
class Sink {
 public:
  void UseStderr() {
    Close();
    fd_ = STDERR_FILENO;
  }
  void Off() { Close(); }
  bool on() const { return fd_ >= 0; }

  // Opens `path` for `var` (the variable named in warnings); false with one warning.
  bool Open(const std::string& path, const char* var, bool truncate, const char* otherwise) {
    Close();
    var_ = var;
    path_ = path;
    otherwise_ = otherwise;
    return Reopen(truncate ? O_TRUNC : O_APPEND, true);
  }

  void Write(const std::string& text) {
    if (fd_ < 0) return;
    if (!path_.empty() && !StillOurs()) {
      RawLog("lockaudit: warning: %s: the program closed the descriptor of '%s'; opening it "
             "again (appending)\n", var_, path_.c_str());
      fd_ = -1;  // that number is the program's now: never closed or written by lockaudit
      if (!Reopen(O_APPEND, true)) return;
    }
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      ssize_t n = write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (!warned_write_ && !path_.empty()) {
          warned_write_ = true;
          RawLog("lockaudit: warning: %s: cannot write to '%s': %s; findings are missing from "
                 "it\n", var_, path_.c_str(), n < 0 ? strerror(errno) : "nothing written");
        }
        return;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  void Close() {
    if (fd_ >= 0 && !path_.empty() && StillOurs()) close(fd_);
    fd_ = -1;
    path_.clear();
  }

  // After fork, when the child writes a file of its own (%p): the parent's stays open there.
  void ForgetAfterFork() {
    if (fd_ >= 0 && !path_.empty() && StillOurs()) close(fd_);
    fd_ = -1;
  }

 private:
  bool StillOurs() const {
    struct stat st {};
    return fstat(fd_, &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
  }

  bool Reopen(int mode, bool warn) {
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | mode, 0644);
    if (fd < 0) {
      const int err = errno;
      if (warn) {
        RawLog("lockaudit: warning: %s: cannot open '%s': %s; %s\n", var_, path_.c_str(),
               err == ENXIO ? "it is a FIFO with no reader" : strerror(err), otherwise_);
      }
      return false;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) ||
                                 S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode))) {
      if (warn) {
        RawLog("lockaudit: warning: %s: '%s' is not a file; %s\n", var_, path_.c_str(), otherwise_);
      }
      close(fd);
      return false;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // writes wait, as for any file
    fd_ = fd;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    return true;
  }

  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::string path_;  // empty: stderr (never checked or closed)
  const char* var_ = "";
  const char* otherwise_ = "";
  bool warned_write_ = false;
};

// Findings of one code path: how many, and the first one's message.
struct FindingGroup {
  uint64_t count = 0;
  FindingKind kind = FindingKind::kLockOrderCycle;
  std::string first_message;
};
constexpr uint64_t kExamplesPerGroup = 3;
constexpr size_t kGroupFrames = 6;  // frames of each stack that identify the code path

struct ReportState {
  EngineMutex mu;
  std::unordered_map<uint64_t, FindingGroup> groups;  // by GroupKey
  Sink log;   // stderr unless LOCKAUDIT_LOG says otherwise
  Sink json;  // LOCKAUDIT_REPORT
  std::vector<Suppression> suppressions;
  std::vector<Finding> findings;
  std::vector<Callback> callbacks;
  int next_handle = 1;
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ordered{0};  // of count: lock_order_cycle findings marked ordered
  std::atomic<uint64_t> suppressed{0};
  std::atomic<uint64_t> by_kind[static_cast<size_t>(FindingKind::kCount)] = {};
  std::string report_template;  // LOCKAUDIT_REPORT as given (with %p)
  std::string cwd;  // the working directory at start, with a trailing '/': text paths below it
                    // are shown relative to it
  bool shared_with_parent = false;
  // The exit summary is the JSON report's last line (DESIGN.md §5): a finding made later (other
  // threads, static destructors) goes to the text log only.
  bool summary_written = false;  // a forked child still writing its parent's report file
};
ReportState& State() {
  static ReportState* s = new ReportState();  // never destroyed: used by late destructors
  return *s;
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
bool IsPlumbing(const SymbolizedFrame& f) { return IsPlumbingFile(f.file); }

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
    if (!f.file.empty()) {
      // Below the working directory the program started in: relative, as a user typed it (the
      // JSON report keeps the full path).
      const std::string& cwd = State().cwd;
      const bool below = !cwd.empty() && f.file.compare(0, cwd.size(), cwd) == 0;
      out += " " + (below ? f.file.substr(cwd.size()) : f.file) + ":" + std::to_string(f.line);
    }
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
  std::vector<SymbolizedFrame> held_stack = SymbolizeStack(f.held_stack);

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
    if (IsPartialStack(e.held_stack)) t += "      " + std::string(kPartialHeldStackNote) + "\n";
    if (e.implied) {
      t += "    (implied: " + Quoted(to) + " was taken while holding a lock since destroyed, "
           "which was taken while holding " + Quoted(from) + ")\n";
    }
  }
  if (f.stack != 0) t += "  at:\n" + TextFrames(stack, "    ");
  if (f.held_stack != 0 && (!f.locks.empty() || !f.held_label.empty())) {
    t += "  " + (f.held_label.empty() ? Quoted(&f.locks[0]) + " acquired" : f.held_label) +
         " at:\n" + TextFrames(held_stack, "    ");
    if (IsPartialStack(f.held_stack)) t += "    " + std::string(kPartialHeldStackNote) + "\n";
  }
  if (f.single_thread) {
    t += "  note: every edge was seen in one thread; another thread running the same code can "
         "deadlock with it\n";
  }
  if (!f.ordered_reason.empty()) {
    t += "  ordered: " + f.ordered_reason +
         ": thread creation and join keep these edges apart, so this cycle cannot deadlock as "
         "observed (not counted by LOCKAUDIT_EXITCODE unless LOCKAUDIT_COUNT_ORDERED=1)\n";
  }
  // The line that suppresses this finding: the program's own frame where it happened (for a
  // cycle, where its first edge's lock was taken), else its first lock's name.
  const SymbolizedFrame* own = UserFrame(f.stack != 0 || edge_stacks.empty() ? stack : edge_stacks[0]);
  if (own != nullptr && !own->function.empty()) {
    f.suppression = SuppressionLineFor(KindName(f.kind), FunctionWithoutParameters(own->function));
  } else if (!f.locks.empty()) {
    f.suppression = SuppressionLineFor(KindName(f.kind), f.locks[0].name);
  }
  if (!f.suppression.empty()) t += "  to suppress, add to LOCKAUDIT_SUPPRESSIONS: " + f.suppression + "\n";

  std::string& j = f.json;
  j = "{\"type\":\"finding\",\"kind\":\"" + std::string(KindName(f.kind)) + "\",\"message\":\"" +
      JsonEscape(f.message) + "\",\"pid\":" + std::to_string(f.pid) + ",\"time\":\"" +
      IsoTime(f.time_ns) + "\"";
  if (f.kind == FindingKind::kLockOrderCycle) {
    j += std::string(",\"single_thread\":") + (f.single_thread ? "true" : "false");
    j += std::string(",\"ordered\":") + (f.ordered_reason.empty() ? "false" : "true");
    if (!f.ordered_reason.empty()) {
      j += ",\"ordered_reason\":\"" + JsonEscape(f.ordered_reason) + "\"";
    }
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
           JsonFrames(edge_held[i]) +
           (IsPartialStack(e.held_stack) ? ",\"held_stack_partial\":true" : "") +
           (e.implied ? ",\"implied\":true" : "") + "}";
    }
    j += "]";
  }
  j += ",\"threads\":[";
  for (size_t i = 0; i < f.threads.size(); ++i) j += (i ? "," : "") + JsonThread(f.threads[i]);
  j += "]";
  if (!f.channels.empty()) {
    j += ",\"channels\":[";
    for (size_t i = 0; i < f.channels.size(); ++i) {
      const ReportChannel& c = f.channels[i];
      j += (i ? "," : "") + std::string("{\"name\":\"") + JsonEscape(c.name) +
           "\",\"capacity\":" + std::to_string(c.capacity) + ",\"depth\":" +
           std::to_string(c.depth) + ",\"closed\":" + (c.closed ? "true" : "false") +
           ",\"senders_waiting\":" + std::to_string(c.senders_waiting) +
           ",\"receivers_waiting\":" + std::to_string(c.receivers_waiting) +
           ",\"senders\":" + std::to_string(c.senders) +
           ",\"receivers\":" + std::to_string(c.receivers) + "}";
    }
    j += "]";
  }
  if (f.stack != 0) j += ",\"stack\":" + JsonFrames(stack);
  if (f.held_stack != 0) {
    j += ",\"held_stack\":" + JsonFrames(held_stack) +
         (IsPartialStack(f.held_stack) ? ",\"held_stack_partial\":true" : "");
  }
  if (!f.suppression.empty()) j += ",\"suppression\":\"" + JsonEscape(f.suppression) + "\"";
  j += "}";
}

// Does the rule match a lock name of the finding, or a function (with or without its
// parameters), file (path or basename) or module of a frame of any of its stacks?
bool Matches(const Suppression& s, const Finding& f) {
  if (s.kind != "*" && s.kind != KindName(f.kind)) return false;
  auto match = [&](const std::string& v) {
    return !v.empty() && SuppressionPatternMatches(s.pattern, v);
  };
  for (const ReportLock& l : f.locks) {
    if (match(l.name) || match(NameWithoutOrdinal(l.name))) return true;
  }
  auto frames_match = [&](StackId id) {
    for (const SymbolizedFrame& fr : SymbolizeStack(id)) {
      if (match(fr.function) || match(FunctionWithoutParameters(fr.function)) || match(fr.file) ||
          match(fr.module)) {
        return true;
      }
      const char* slash = strrchr(fr.file.c_str(), '/');
      if (slash && match(slash + 1)) return true;
    }
    return false;
  };
  if (frames_match(f.stack) || frames_match(f.held_stack)) return true;
  for (const ReportEdge& e : f.edges) {
    if (frames_match(e.stack) || frames_match(e.held_stack)) return true;
  }
  return false;
}

}  // namespace

const char* KindName(FindingKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

namespace {
// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
size_t Utf8SequenceAt(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}
}  // namespace

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c < 0x80) {
          out += static_cast<char>(c);
        } else if (const size_t n = Utf8SequenceAt(s, i); n != 0) {
          out.append(s, i, n);
          i += n - 1;
        } else {
          // Not UTF-8 (a Latin-1 thread name, a binary file name): one U+FFFD per bad byte, so
          // the line stays valid JSON and no reader drops the finding.
          out += "\\ufffd";
        }
    }
  }
  return out;
}

// The JSON Lines report's path: the template with %p expanded to the pid.
std::string ReportPath(const std::string& tmpl) {
  std::string path;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '%' && i + 1 < tmpl.size() && tmpl[i + 1] == 'p') {
      path += std::to_string(getpid());
      ++i;
    } else {
      path += tmpl[i];
    }
  }
  return path;
}

void InitReport(const Options& opts) {
  ReportState& s = State();
  {
    EngineLock lock(s.mu);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr && strcmp(cwd, "/") != 0) s.cwd = std::string(cwd) + "/";
    s.log.UseStderr();
    if (strcmp(opts.log, "off") == 0) {
      s.log.Off();
    } else if (strcmp(opts.log, "stderr") != 0) {
      if (!s.log.Open(ReportPath(opts.log), "LOCKAUDIT_LOG", false, "using stderr")) {
        s.log.UseStderr();
      }
    }
    if (opts.report[0] != '\0') {
      s.report_template = opts.report;
      // Emptied by the first process only: the processes it starts (a shell's commands, make's
      // jobs) append (LOCKAUDIT_REPORT_APPEND, ExportReportAppend), so none overwrites another's
      // findings; their lines carry their pid.
      s.json.Open(ReportPath(s.report_template), "LOCKAUDIT_REPORT", !opts.report_append,
                  "no JSON report");
    }
  }
  if (opts.suppressions[0] != '\0') LoadSuppressions(opts.suppressions);
}

void LogNote(const char* line) noexcept {
  ReportState& s = State();
  EngineLock lock(s.mu);
  s.log.Write(line);
}

void ExportReportAppend() noexcept {
  ReportState& s = State();
  if (!s.json.on() || s.report_template.find("%p") != std::string::npos) return;
  setenv("LOCKAUDIT_REPORT_APPEND", "1", 1);
}

size_t LoadSuppressions(const char* path) {
  ReportState& s = State();
  std::string text, why;
  if (!ReadConfigFile(path, &text, &why)) {
    RawLog("lockaudit: warning: LOCKAUDIT_SUPPRESSIONS: '%s' %s; no suppressions\n", path,
           why.c_str());
    return 0;
  }
  if (!why.empty()) RawLog("lockaudit: warning: LOCKAUDIT_SUPPRESSIONS: '%s' %s\n", path, why.c_str());
  size_t added = 0;
  ForEachConfigLine(text, [&](const ConfigLine& line) {
    std::string kind, pattern, reason;
    if (!ParseSuppressionLine(line.text, &kind, &pattern, &reason)) {
      RawLog("lockaudit: warning: LOCKAUDIT_SUPPRESSIONS: %s:%d: '%s' %s; line ignored\n", path,
             line.number, ShownLine(line.text).c_str(), reason.c_str());
      return;
    }
    EngineLock lock(s.mu);
    s.suppressions.push_back(
        {kind, pattern, line.text, std::string(path) + ":" + std::to_string(line.number), 0});
    ++added;
  });
  return added;
}

// The code path of a finding: its kind and the top frames of its stacks (for a cycle, of every
// edge, in any order); 0 when it has no stack to tell paths apart (never grouped).
uint64_t GroupKey(const Finding& f) {
  auto stack_key = [](StackId id) -> uint64_t {
    if (id == 0) return 0;
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    std::vector<uintptr_t> pcs = GetStack(id);
    for (size_t i = 0; i < pcs.size() && i < kGroupFrames; ++i) h = Mix64(h ^ pcs[i]);
    return h;
  };
  uint64_t paths = 0;
  for (const ReportEdge& e : f.edges) {
    paths += Mix64(stack_key(e.stack) ^ Mix64(stack_key(e.held_stack) + 1));  // order-free
  }
  paths ^= stack_key(f.stack);
  if (f.held_stack != 0) paths ^= Mix64(stack_key(f.held_stack) + 2);
  if (paths == 0) return 0;
  // And the locks' names: heap locks are named by their allocation site, so the fresh pairs of
  // one pool still group, while distinct named locks inverted by one function stay apart (the
  // "#k" that tells apart the locks of one site is left out).
  uint64_t names = 0;
  for (const ReportLock& l : f.locks) {
    names += Mix64(std::hash<std::string>{}(NameWithoutOrdinal(l.name)) + 2);
  }
  paths = Mix64(paths ^ names);
  return Mix64(paths ^ (static_cast<uint64_t>(f.kind) + 1)) | 1;
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
  for (size_t i = 0; i < rules.size(); ++i) {
    if (Matches(rules[i], f)) {
      f.suppressed = true;
      EngineLock lock(s.mu);
      if (i < s.suppressions.size()) ++s.suppressions[i].matched;
      break;
    }
  }
  std::vector<Callback> callbacks;
  const uint64_t group_key = f.suppressed ? 0 : GroupKey(f);
  {
    EngineLock lock(s.mu);
    // Findings of one code path (the same kind at the same stacks: a loop over fresh locks)
    // are written in full kExamplesPerGroup times, then only counted (WriteSummary).
    bool example = true;
    if (group_key != 0) {
      FindingGroup& g = s.groups[group_key];
      if (g.count++ == 0) {
        g.kind = f.kind;
        g.first_message = f.message;
      }
      example = g.count <= kExamplesPerGroup;
    }
    if (f.suppressed) {
      s.suppressed.fetch_add(1, std::memory_order_relaxed);
    } else {
      s.count.fetch_add(1, std::memory_order_relaxed);
      if (!f.ordered_reason.empty()) s.ordered.fetch_add(1, std::memory_order_relaxed);
      s.by_kind[static_cast<size_t>(f.kind)].fetch_add(1, std::memory_order_relaxed);
      if (example) {
        s.log.Write(f.text);
        if (!s.summary_written) s.json.Write(f.json + "\n");  // write(2)
      }
      callbacks = s.callbacks;
    }
    if (example) s.findings.push_back(f);
  }
  if (f.suppressed) return;
  for (const Callback& c : callbacks) c.fn(f, c.arg);
}

namespace {
std::string JsonModes(uint8_t modes) {
  std::string out = "[";
  if (modes & 1) out += "\"exclusive\"";
  if (modes & 2) out += std::string(modes & 1 ? "," : "") + "\"shared\"";
  if (modes & 4) out += ",\"writer_preferring\"";  // the shared request queues behind writers
  return out + "]";
}
}  // namespace

void PublishEdge(const ReportLock& from, const ReportLock& to, const ReportThread& thread,
                 StackId stack, StackId held_stack, uint8_t from_modes, uint8_t to_modes,
                 const std::vector<ReportLock>& gates) {
  ReportState& s = State();
  {
    EngineLock lock(s.mu);
    if (!s.json.on()) return;
  }
  std::string gate_list = "[";
  for (size_t i = 0; i < gates.size(); ++i) gate_list += (i ? "," : "") + JsonLock(gates[i]);
  gate_list += "]";
  std::string line = "{\"type\":\"edge\",\"pid\":" + std::to_string(getpid()) +
                     ",\"from\":" + JsonLock(from) + ",\"to\":" + JsonLock(to) +
                     ",\"from_modes\":" + JsonModes(from_modes) + ",\"to_modes\":" +
                     JsonModes(to_modes) + ",\"gates\":" + gate_list +
                     ",\"thread\":" + JsonThread(thread) + ",\"stack\":" +
                     JsonFrames(SymbolizeStack(stack)) + ",\"held_stack\":" +
                     JsonFrames(SymbolizeStack(held_stack)) +
                     (IsPartialStack(held_stack) ? ",\"held_stack_partial\":true" : "") + "}\n";
  EngineLock lock(s.mu);
  if (!s.summary_written) s.json.Write(line);
}

std::string JsonLockOf(const ReportLock& lock) { return JsonLock(lock); }
std::string JsonFramesOf(const std::vector<SymbolizedFrame>& frames) { return JsonFrames(frames); }

uint64_t FindingCount() { return State().count.load(std::memory_order_relaxed); }
uint64_t SuppressedCount() { return State().suppressed.load(std::memory_order_relaxed); }
uint64_t OrderedCount() { return State().ordered.load(std::memory_order_relaxed); }

void PublishLine(const std::string& json_line) {
  ReportState& s = State();
  EngineLock lock(s.mu);
  if (s.json.on() && !s.summary_written) s.json.Write(json_line + "\n");
}
bool JsonReportOn() {
  ReportState& s = State();
  EngineLock lock(s.mu);
  return s.json.on() && !s.summary_written;
}
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
                     ",\"program\":\"" + JsonEscape(program_invocation_name) + "\"" +
                     ",\"findings\":" + std::to_string(n) +
                     ",\"ordered\":" + std::to_string(OrderedCount()) +
                     ",\"suppressed\":" + std::to_string(SuppressedCount()) +
                     ",\"locks\":" + std::to_string(c.locks) + ",\"edges\":" +
                     std::to_string(c.edges) + ",\"edge_lines_dropped\":" +
                     std::to_string(c.edge_lines_dropped) + ",\"acquisitions\":" +
                     std::to_string(c.acquisitions) + ",\"contentions\":" +
                     std::to_string(c.contentions) + ",\"channels\":" +
                     std::to_string(c.channels) + ",\"channel_items\":" +
                     std::to_string(c.channel_items);
  std::string used_text;
  {
    EngineLock lock(s.mu);
    std::string used;
    for (const Suppression& r : s.suppressions) {
      if (r.matched == 0) continue;
      used += std::string(used.empty() ? "" : ",") + "{\"rule\":\"" + JsonEscape(r.rule) +
              "\",\"where\":\"" + JsonEscape(r.where) + "\",\"matched\":" +
              std::to_string(r.matched) + "}";
      used_text += "lockaudit: suppression '" + r.rule + "' (" + r.where + ") matched " +
                   std::to_string(r.matched) + " finding(s)\n";
    }
    if (!used.empty()) json += ",\"suppressions\":[" + used + "]";
  }
  json += "}\n";
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
  for (const auto& [key, g] : s.groups) {
    if (g.count <= kExamplesPerGroup) continue;
    const uint64_t more = g.count - kExamplesPerGroup;
    if (!s.shared_with_parent && !s.summary_written) {
      s.json.Write("{\"type\":\"finding_group\",\"pid\":" + std::to_string(getpid()) +
                   ",\"kind\":\"" + KindName(g.kind) + "\",\"count\":" +
                   std::to_string(g.count) + ",\"shown\":" + std::to_string(kExamplesPerGroup) +
                   ",\"first_message\":\"" + JsonEscape(g.first_message) + "\"}\n");
    }
    s.log.Write("lockaudit: " + std::to_string(more) + " more " + KindName(g.kind) +
                " finding(s) from the same code path as '" + g.first_message + "' (" +
                std::to_string(g.count) + " in all; the first " +
                std::to_string(kExamplesPerGroup) + " are shown)\n");
  }
  if (!s.shared_with_parent) s.json.Write(json);
  s.summary_written = true;
  if (!text.empty()) s.log.Write(text + used_text);
}

EngineMutex& ReportMutex() { return State().mu; }
void ReportChildAfterFork() {
  ReportState& s = State();
  s.mu.ResetAfterFork();
  // The child starts with no findings of its own (the parent's must not force the child's exit
  // code). With %p in the report path it writes its own file; otherwise its findings go on into
  // the parent's file (one shared offset, whole lines) but its summary does not.
  s.count.store(0);
  s.ordered.store(0);
  s.suppressed.store(0);
  for (auto& k : s.by_kind) k.store(0);
  s.findings.clear();
  s.groups.clear();
  if (s.json.on() && s.report_template.find("%p") != std::string::npos) {
    s.json.ForgetAfterFork();
    s.json.Open(ReportPath(s.report_template), "LOCKAUDIT_REPORT", true, "no JSON report");
  } else if (s.json.on()) {
    s.shared_with_parent = true;
  }
}

}  // namespace lockaudit::core
