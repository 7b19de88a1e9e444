// lockaudit/cli/profile: the contention profile of a report (its `contention` lines) as a pprof
// profile (gzipped profile.proto, sample types contentions/count and delay/nanoseconds, as Go's
// mutex profile), as folded stacks for flame-graph tools, and as a top list of call paths.
#ifndef LOCKAUDIT_CLI_PROFILE_H_
#define LOCKAUDIT_CLI_PROFILE_H_

#include <ostream>
#include <string>
#include <vector>

#include "report.h"

namespace lockaudit::cli {

// `text` for XML and HTML text and attribute values: & < > " escaped, control characters (other
// than tab and newline) dropped.
std::string XmlEscape(const std::string& text);

// "12.3 ms", "1.20 s", "850.0 us".
std::string FormatDuration(int64_t ns);

// The frames of a waiter's stack a reader looks at: the leading frames of the standard
// library's and lockaudit's inline plumbing (std::lock_guard, __gthread_mutex_lock) left out.
Stack ProgramFrames(const Stack& stack);

// The profile.proto message (not compressed) for `records`.
std::string EncodePprof(const std::vector<ContentionRecord>& records);
// gzip of `data`; empty on failure.
std::string Gzip(const std::string& data);
// "root;...;leaf value" lines, value the delay in nanoseconds; the leaf is the lock.
std::string FoldedStacks(const std::vector<ContentionRecord>& records);
// A flame graph of the wait time (an SVG document, no script, no external resource): a row per
// stack depth, root at the bottom, each frame as wide as the waits below it; the leaf row is the
// lock. Every frame has a <title> with its total wait and share.
std::string FlameGraphSvg(const std::vector<ContentionRecord>& records, const std::string& title);
// The `limit` call paths that waited longest: lock, count, total and p99 wait, where.
void PrintTopPaths(const std::vector<ContentionRecord>& records, size_t limit, std::ostream& out);
// The `limit` holder sites (`contention_holder` records) whose holds made others wait longest.
void PrintTopHolders(const std::vector<ContentionRecord>& records, size_t limit, std::ostream& out);
// "f (file.cc:12) <- g (file.cc:40)": up to `frames` program frames of `stack`; "" when none.
std::string ShortPath(const Stack& stack, size_t frames);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_PROFILE_H_
