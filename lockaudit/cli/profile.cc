// lockaudit/cli/profile: pprof's profile.proto written by hand (a few varints and
// length-delimited fields: no protobuf dependency), gzipped with zlib.
#include "profile.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <tuple>
#include <unordered_map>

#include "config_file.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

// Protocol-buffer wire format: tag = field << 3 | wire type (0 varint, 2 length-delimited).
void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void VarintField(std::string& out, int field, uint64_t v) {
  Varint(out, static_cast<uint64_t>(field) << 3);
  Varint(out, v);
}
void BytesField(std::string& out, int field, const std::string& bytes) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  Varint(out, bytes.size());
  out += bytes;
}
void PackedField(std::string& out, int field, const std::vector<uint64_t>& values) {
  std::string packed;
  for (uint64_t v : values) Varint(packed, v);
  BytesField(out, field, packed);
}

bool IsPlumbing(const Frame& f) { return core::IsPlumbingFile(f.file); }

std::string FunctionName(const Frame& f) {
  if (!f.function.empty()) return f.function;
  if (!f.module.empty()) return f.module + (f.offset.empty() ? "" : "+" + f.offset);
  return f.pc.empty() ? "??" : f.pc;
}

std::string LockLabel(const LockInfo& lock) { return LockDisplayName(lock); }

class StringTable {
 public:
  StringTable() { Index(""); }
  uint64_t Index(const std::string& s) {
    auto [it, added] = index_.emplace(s, strings_.size());
    if (added) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::unordered_map<std::string, uint64_t> index_;
  std::vector<std::string> strings_;
};

std::string ValueType(StringTable& strings, const std::string& type, const std::string& unit) {
  std::string m;
  VarintField(m, 1, strings.Index(type));
  VarintField(m, 2, strings.Index(unit));
  return m;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

std::string FormatDuration(int64_t ns) {
  char buf[32];
  if (ns >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  } else if (ns >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1e3);
  }
  return buf;
}

Stack ProgramFrames(const Stack& stack) {
  size_t first = 0;
  while (first < stack.size() && IsPlumbing(stack[first])) ++first;
  if (first == stack.size()) first = 0;  // nothing but plumbing: keep it all
  return Stack(stack.begin() + static_cast<std::ptrdiff_t>(first), stack.end());
}

std::string EncodePprof(const std::vector<ContentionRecord>& records) {
  StringTable strings;
  std::string out;
  BytesField(out, 1, ValueType(strings, "contentions", "count"));
  BytesField(out, 1, ValueType(strings, "delay", "nanoseconds"));
  std::map<std::pair<std::string, std::string>, uint64_t> functions;  // (name, file) -> id
  std::string function_messages;
  std::map<std::string, uint64_t> locations;  // key of the frames of one pc -> id
  std::string location_messages;
  const uint64_t lock_key = strings.Index("lock");
  int64_t rate = 1;
  for (const ContentionRecord& r : records) {
    rate = std::max(rate, r.rate);
    const Stack frames = ProgramFrames(r.stack);
    std::vector<uint64_t> location_ids;
    // Frames of one pc (inlined functions, innermost first) make one location.
    for (size_t i = 0; i < frames.size();) {
      size_t j = i + 1;
      while (j < frames.size() && !frames[i].pc.empty() && frames[j].pc == frames[i].pc) ++j;
      std::string key = frames[i].pc + "@" + frames[i].module;
      for (size_t k = i; k < j; ++k) key += "|" + FunctionName(frames[k]);
      auto found = locations.find(key);
      if (found == locations.end()) {
        const uint64_t id = locations.size() + 1;
        found = locations.emplace(key, id).first;
        std::string location;
        VarintField(location, 1, id);
        uint64_t address = 0;
        std::sscanf(frames[i].pc.c_str(), "%lx", &address);
        VarintField(location, 3, address);
        for (size_t k = i; k < j; ++k) {
          const Frame& f = frames[k];
          auto fn = functions.find({FunctionName(f), f.file});
          if (fn == functions.end()) {
            const uint64_t fid = functions.size() + 1;
            fn = functions.emplace(std::make_pair(FunctionName(f), f.file), fid).first;
            std::string function;
            VarintField(function, 1, fid);
            VarintField(function, 2, strings.Index(FunctionName(f)));
            VarintField(function, 3, strings.Index(FunctionName(f)));
            VarintField(function, 4, strings.Index(f.file));
            BytesField(function_messages, 5, function);
          }
          std::string line;
          VarintField(line, 1, fn->second);
          VarintField(line, 2, static_cast<uint64_t>(f.line.value_or(0)));
          BytesField(location, 4, line);
        }
        BytesField(location_messages, 4, location);
      }
      location_ids.push_back(found->second);
      i = j;
    }
    std::string sample;
    PackedField(sample, 1, location_ids);
    PackedField(sample, 2, {static_cast<uint64_t>(r.contentions), static_cast<uint64_t>(r.delay_ns)});
    std::string label;
    VarintField(label, 1, lock_key);
    VarintField(label, 2, strings.Index(LockLabel(r.lock)));
    BytesField(sample, 3, label);
    BytesField(out, 2, sample);
  }
  out += location_messages;
  out += function_messages;
  const uint64_t period_unit = strings.Index("count");
  const uint64_t period_type = strings.Index("contentions");
  const uint64_t default_type = strings.Index("delay");
  for (const std::string& s : strings.strings()) BytesField(out, 6, s);
  std::string period;
  VarintField(period, 1, period_type);
  VarintField(period, 2, period_unit);
  BytesField(out, 11, period);
  VarintField(out, 12, static_cast<uint64_t>(rate));
  VarintField(out, 14, default_type);
  return out;
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return "";
  }
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

std::string FoldedStacks(const std::vector<ContentionRecord>& records) {
  std::map<std::string, int64_t> folded;
  for (const ContentionRecord& r : records) {
    const Stack frames = ProgramFrames(r.stack);
    std::string line;
    for (size_t i = frames.size(); i-- > 0;) {
      std::string name = FunctionName(frames[i]);
      std::replace(name.begin(), name.end(), ';', ':');
      line += name + ";";
    }
    std::string lock = "lock " + LockLabel(r.lock);
    std::replace(lock.begin(), lock.end(), ';', ':');
    folded[line + lock] += r.delay_ns;
  }
  std::string out;
  for (const auto& [stack, value] : folded) out += stack + " " + std::to_string(value) + "\n";
  return out;
}

namespace {

std::string Duration(int64_t ns) { return FormatDuration(ns); }

struct FlameNode {
  std::string name;
  int64_t value = 0;
  std::map<std::string, FlameNode> children;
};

int Depth(const FlameNode& node) {
  int deepest = 0;
  for (const auto& [name, child] : node.children) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

void DrawNode(const FlameNode& node, double x, int depth, int rows, double scale, int64_t total,
              std::string& svg) {
  constexpr int kRow = 18;
  const double width = static_cast<double>(node.value) * scale;
  if (depth > 0 && width >= 0.5) {
    const int y = (rows - depth) * kRow + 24;
    // A stable warm colour from the name, as flame graphs do.
    unsigned hash = 2166136261u;
    for (char c : node.name) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
    const bool lock = node.name.rfind("lock ", 0) == 0;
    char colour[32];
    std::snprintf(colour, sizeof colour, lock ? "rgb(%u,%u,230)" : "rgb(230,%u,%u)",
                  lock ? 90 + hash % 60 : 80 + hash % 130, lock ? 120 + hash % 60 : hash % 60);
    char geometry[160];
    std::snprintf(geometry, sizeof geometry,
                  "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
                  x, y, width, kRow - 1, colour);
    const double share = total > 0 ? 100.0 * static_cast<double>(node.value) / static_cast<double>(total) : 0;
    char percent[32];
    std::snprintf(percent, sizeof percent, "%.1f%%", share);
    svg += "<g class=\"frame\"><title>" + XmlEscape(node.name) + ": " + Duration(node.value) +
           " waited (" + percent + ")</title>" + geometry;
    const size_t fits = static_cast<size_t>(width / 7);
    if (fits >= 3) {
      std::string label = node.name.size() <= fits ? node.name : node.name.substr(0, fits - 2) + "..";
      char at[64];
      std::snprintf(at, sizeof at, "<text x=\"%.1f\" y=\"%d\">", x + 3, y + kRow - 5);
      svg += at + XmlEscape(label) + "</text>";
    }
    svg += "</g>\n";
  }
  double child_x = x;
  for (const auto& [name, child] : node.children) {
    DrawNode(child, child_x, depth + 1, rows, scale, total, svg);
    child_x += static_cast<double>(child.value) * scale;
  }
}

}  // namespace

std::string FlameGraphSvg(const std::vector<ContentionRecord>& records, const std::string& title) {
  FlameNode root;
  for (const ContentionRecord& r : records) {
    const Stack frames = ProgramFrames(r.stack);
    FlameNode* node = &root;
    root.value += r.delay_ns;
    for (size_t i = frames.size(); i-- > 0;) {
      if (i + 1 < frames.size() && frames[i].pc == frames[i + 1].pc &&
          FunctionName(frames[i]) == FunctionName(frames[i + 1])) {
        continue;
      }
      FlameNode& child = node->children[FunctionName(frames[i])];
      child.name = FunctionName(frames[i]);
      child.value += r.delay_ns;
      node = &child;
    }
    FlameNode& lock = node->children["lock " + LockLabel(r.lock)];
    lock.name = "lock " + LockLabel(r.lock);
    lock.value += r.delay_ns;
  }
  constexpr int kWidth = 1200;
  const int rows = Depth(root) - 1;
  const int height = rows * 18 + 40;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                    "width=\"" + std::to_string(kWidth) + "\" height=\"" + std::to_string(height) +
                    "\" viewBox=\"0 0 " + std::to_string(kWidth) + " " + std::to_string(height) +
                    "\" font-family=\"monospace\" font-size=\"12\">\n<text x=\"10\" y=\"16\">" +
                    XmlEscape(title) + " (" + Duration(root.value) + " waited)</text>\n";
  const double scale = root.value > 0 ? (kWidth - 20) / static_cast<double>(root.value) : 0;
  DrawNode(root, 10, 0, rows, scale, root.value, svg);
  return svg + "</svg>\n";
}

namespace {
std::string Where(const Frame& f) {
  std::string where = FunctionName(f);
  if (!f.file.empty()) {
    const size_t slash = f.file.rfind('/');
    where += " (" + (slash == std::string::npos ? f.file : f.file.substr(slash + 1));
    if (f.line) where += ":" + std::to_string(*f.line);
    where += ")";
  }
  return where;
}
}  // namespace

std::string ShortPath(const Stack& stack, size_t limit) {
  const Stack frames = ProgramFrames(stack);
  std::string out;
  for (size_t k = 0, shown = 0; k < frames.size() && shown < limit; ++k) {
    if (k > 0 && frames[k].pc == frames[k - 1].pc && frames[k].function == frames[k - 1].function) {
      continue;
    }
    out += (shown == 0 ? "" : " <- ") + Where(frames[k]);
    ++shown;
  }
  return out;
}

namespace {
void PrintTop(const std::vector<ContentionRecord>& records, size_t limit, std::ostream& out,
              bool holders) {
  std::vector<const ContentionRecord*> sorted;
  sorted.reserve(records.size());
  for (const ContentionRecord& r : records) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](const ContentionRecord* a, const ContentionRecord* b) {
    return a->delay_ns > b->delay_ns;
  });
  int64_t rate = 1;
  for (const ContentionRecord& r : records) rate = std::max(rate, r.rate);
  const std::string sampled =
      rate > 1 ? ", 1 in " + std::to_string(rate) + " waits sampled, totals scaled" : "";
  out << (holders ? "lockaudit: whose holds made others wait longest (by the holder's acquisition site"
                  : "lockaudit: where threads waited longest (contention profile")
      << sampled << "):\n";
  for (size_t i = 0; i < sorted.size() && i < limit; ++i) {
    const ContentionRecord& r = *sorted[i];
    out << "lockaudit:   " << i + 1 << ". " << Duration(r.delay_ns) << " in "
        << CountOf(r.contentions, "wait") << " (p99 " << Duration(r.p99_ns) << ", max "
        << Duration(r.max_ns) << ") on " << LockLabel(r.lock);
    const std::string path = ShortPath(r.stack, holders ? 2 : 3);
    if (holders) {
      out << (path.empty() ? ", its holder not seen (it had just released the lock, or exited)"
                           : ", held from " + path);
    } else if (!path.empty()) {
      out << " at " << path;
    }
    out << "\n";
  }
}
}  // namespace

void PrintTopPaths(const std::vector<ContentionRecord>& records, size_t limit, std::ostream& out) {
  PrintTop(records, limit, out, false);
}

void PrintTopHolders(const std::vector<ContentionRecord>& records, size_t limit, std::ostream& out) {
  PrintTop(records, limit, out, true);
}

}  // namespace lockaudit::cli
