// The frame a test failure should point at for a finding (shared by lockaudit::gtest and the
// gtest preload helper). Header-only, internal: not installed.
#ifndef LOCKAUDIT_SRC_USER_FRAME_H_
#define LOCKAUDIT_SRC_USER_FRAME_H_

#include <string>
#include <string_view>
#include <vector>

#include "lockaudit/audit.h"

namespace lockaudit::internal {

// The first frame with a source file that is neither a system header nor one of lockaudit's, in
// the finding's own stack, else in its edges' stacks (the first edge of a cycle is the one whose
// acquisition closed it). Null when no frame qualifies (no debug info).
inline const Frame* UserFrame(const Finding& f) {
  auto ends_with = [](const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  auto pick = [&](const std::vector<Frame>& stack) -> const Frame* {
    for (const Frame& fr : stack) {
      if (fr.file.empty() || fr.line <= 0 || fr.file.rfind("/usr/", 0) == 0) continue;
      if (ends_with(fr.file, "lockaudit/mutex.h") || ends_with(fr.file, "lockaudit/gtest.h")) {
        continue;
      }
      return &fr;
    }
    return nullptr;
  };
  if (const Frame* fr = pick(f.stack)) return fr;
  for (const EdgeEvidence& e : f.edges) {
    if (const Frame* fr = pick(e.stack)) return fr;
  }
  return nullptr;
}

// The text report without its trailing newlines (gtest adds its own).
inline std::string TrimmedText(const Finding& f) {
  std::string text = f.text.empty() ? f.kind + ": " + f.message : f.text;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace lockaudit::internal

#endif  // LOCKAUDIT_SRC_USER_FRAME_H_
