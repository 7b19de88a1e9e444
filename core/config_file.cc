#include "config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "finding_kind.h"

namespace lockaudit::core {

bool ReadConfigFile(const char* path, std::string* text, std::string* why) {
  text->clear();
  // O_NONBLOCK: opening a FIFO must not wait for a writer (the program would hang before main).
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *why = std::string("cannot open: ") + strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *why = std::string("cannot stat: ") + strerror(errno);
    close(fd);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *why = "is a directory, not a file";
    close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
    *why = "is not a regular file";
    close(fd);
    return false;
  }
  // Reads block again (a pipe with a writer is read to its end); a FIFO with no writer reads as
  // end of file at once.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = std::string("cannot read: ") + strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
    if (text->size() >= kMaxConfigFileBytes) {
      text->resize(kMaxConfigFileBytes);
      *why = "is larger than 16 MiB; the rest is ignored";
      break;
    }
  }
  close(fd);
  return true;
}

std::string StripConfigLine(const std::string& raw) {
  size_t end = raw.find('#');
  if (end == std::string::npos) end = raw.size();
  size_t begin = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (begin < end && blank(raw[begin])) ++begin;
  while (end > begin && blank(raw[end - 1])) --end;
  return raw.substr(begin, end - begin);
}

bool ParseHierarchyLine(const std::string& line, std::string* name, int* level,
                        std::string* why) {
  size_t last_blank = line.find_last_of(" \t");
  if (last_blank == std::string::npos) {
    *why = "expected '<lock name> <level>'";
    return false;
  }
  std::string field = line.substr(last_blank + 1);
  size_t name_end = last_blank;
  while (name_end > 0 && (line[name_end - 1] == ' ' || line[name_end - 1] == '\t')) --name_end;
  if (name_end == 0) {
    *why = "expected '<lock name> <level>'";
    return false;
  }
  errno = 0;
  char* end = nullptr;
  long v = strtol(field.c_str(), &end, 10);
  if (field.empty() || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX) {
    *why = "the level '" + ShownLine(field) + "' is not an integer (the level is the last field)";
    return false;
  }
  *name = line.substr(0, name_end);
  *level = static_cast<int>(v);
  return true;
}

bool ParseSuppressionLine(const std::string& line, std::string* kind, std::string* pattern,
                          std::string* why) {
  size_t colon = line.find(':');
  if (colon == std::string::npos || colon + 1 >= line.size()) {
    *why = "is not <kind>:<pattern>";
    return false;
  }
  std::string k = line.substr(0, colon);
  bool known = k == "*";
  for (const char* name : kKindNames) known = known || k == name;
  if (!known) {
    *why = "'" + ShownLine(k) + "' is not a finding kind (or '*')";
    return false;
  }
  *kind = k;
  *pattern = line.substr(colon + 1);
  return true;
}

std::string ShownLine(const std::string& line) {
  constexpr size_t kShown = 80;
  std::string out;
  for (size_t i = 0; i < line.size() && i < kShown; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (line.size() > kShown) out += "...";
  return out;
}

bool SuppressionPatternMatches(const std::string& pattern, const std::string& value) {
  std::string_view p = pattern, v = value;
  const bool anchor_start = !p.empty() && p.front() == '^';
  if (anchor_start) p.remove_prefix(1);
  const bool anchor_end = !p.empty() && p.back() == '$';
  if (anchor_end) p.remove_suffix(1);
  std::vector<std::string_view> parts;
  for (size_t from = 0;;) {
    const size_t star = p.find('*', from);
    parts.push_back(p.substr(from, star == std::string_view::npos ? std::string_view::npos : star - from));
    if (star == std::string_view::npos) break;
    from = star + 1;
  }
  if (parts.size() == 1) {
    const std::string_view only = parts[0];
    if (anchor_start && anchor_end) return v == only;
    if (anchor_start) return v.substr(0, only.size()) == only;
    if (anchor_end) return v.size() >= only.size() && v.substr(v.size() - only.size()) == only;
    return v.find(only) != std::string_view::npos;
  }
  // First part at the start (anchored) or anywhere, middle parts leftmost in order, the last
  // part at the end (anchored) or anywhere after: leftmost matches leave the most room.
  size_t pos = 0;
  const std::string_view first = parts.front(), last = parts.back();
  if (anchor_start) {
    if (v.substr(0, first.size()) != first) return false;
    pos = first.size();
  } else {
    const size_t at = v.find(first);
    if (at == std::string_view::npos) return false;
    pos = at + first.size();
  }
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    const size_t at = v.find(parts[i], pos);
    if (at == std::string_view::npos) return false;
    pos = at + parts[i].size();
  }
  if (anchor_end) return v.size() >= pos + last.size() && v.substr(v.size() - last.size()) == last;
  return v.find(last, pos) != std::string_view::npos;
}

std::string NameWithoutOrdinal(const std::string& name) {
  const size_t hash = name.rfind('#');
  if (hash == std::string::npos || hash == 0 || hash + 1 == name.size()) return name;
  for (size_t i = hash + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return name;
  }
  return name.substr(0, hash);
}

bool IsPlumbingFile(const std::string& file) {
  return file.rfind("/usr/include/", 0) == 0 || file.find("/include/lockaudit/") != std::string::npos;
}

std::string FunctionWithoutParameters(const std::string& fn) {
  std::string f = fn;
  for (const char* q : {" const", " volatile", " &&", " &"}) {
    const size_t n = strlen(q);
    if (f.size() > n && f.compare(f.size() - n, n, q) == 0) f.resize(f.size() - n);
  }
  if (f.empty() || f.back() != ')') return fn;
  int depth = 0;
  for (size_t i = f.size(); i-- > 0;) {
    if (f[i] == ')') ++depth;
    if (f[i] == '(' && --depth == 0) return i == 0 ? fn : f.substr(0, i);
  }
  return fn;
}

std::string SuppressionLineFor(const char* kind, const std::string& name) {
  std::string line = std::string(kind) + ":^";
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    line += (c == '#' || u < 0x20 || u == 0x7f) ? '*' : c;
  }
  return line + "$";
}

}  // namespace lockaudit::core
