// lockaudit/cli/cycles: Johnson's elementary-cycle enumeration (SIAM J. Comput. 4(1), 1975),
// restricted for each start node s to the nodes >= s so that every cycle is found exactly once.
#include "cycles.h"

#include <set>

namespace lockaudit::cli {
namespace {

// One enumeration. Invariant during Circuit(): path_ is a simple path from start_ and every node
// on it is blocked; a blocked node off the path cannot currently reach start_ without crossing
// the path, and blocked_by_[w] lists the nodes to unblock when w is unblocked.
class CycleSearch {
 public:
  CycleSearch(const std::vector<std::vector<size_t>>& successors, size_t max_cycles)
      : successors_(successors),
        max_cycles_(max_cycles),
        blocked_(successors.size()),
        blocked_by_(successors.size()) {}

  std::vector<Cycle> Run() {
    for (start_ = 0; start_ < successors_.size() && !Full(); ++start_) {
      blocked_.assign(successors_.size(), false);
      for (std::set<size_t>& waiting : blocked_by_) waiting.clear();
      Circuit(start_);
    }
    return std::move(cycles_);
  }

 private:
  bool Full() const { return cycles_.size() >= max_cycles_; }

  // Extends path_ through v; true when some cycle through v back to start_ was found.
  bool Circuit(size_t v) {
    bool found = false;
    path_.push_back(v);
    blocked_[v] = true;
    for (size_t w : successors_[v]) {
      if (w < start_ || Full()) continue;
      if (w == start_) {
        cycles_.push_back(path_);
        found = true;
      } else if (!blocked_[w] && Circuit(w)) {
        found = true;
      }
    }
    if (found) {
      Unblock(v);
    } else {
      for (size_t w : successors_[v]) {
        if (w >= start_) blocked_by_[w].insert(v);
      }
    }
    path_.pop_back();
    return found;
  }

  void Unblock(size_t v) {
    blocked_[v] = false;
    std::set<size_t> waiting = std::move(blocked_by_[v]);
    blocked_by_[v].clear();
    for (size_t w : waiting) {
      if (blocked_[w]) Unblock(w);
    }
  }

  const std::vector<std::vector<size_t>>& successors_;
  const size_t max_cycles_;
  size_t start_ = 0;
  Cycle path_;
  std::vector<bool> blocked_;
  std::vector<std::set<size_t>> blocked_by_;
  std::vector<Cycle> cycles_;
};

}  // namespace

std::vector<Cycle> FindElementaryCycles(const std::vector<std::vector<size_t>>& successors,
                                        size_t max_cycles) {
  return CycleSearch(successors, max_cycles).Run();
}

}  // namespace lockaudit::cli
