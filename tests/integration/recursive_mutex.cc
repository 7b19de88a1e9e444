// recursive_mutex: a recursive tree walk re-locks g_tree_mu at every level, takes g_log_mu at the
// leaf, and there re-locks g_tree_mu once more (it already holds it). Two threads do this at the
// same time. The only real order is g_tree_mu -> g_log_mu; re-locking a recursive mutex the
// thread already holds acquires nothing, so the inner re-lock is not an edge g_log_mu -> g_tree_mu.
// Expected under the shim: no finding.
#include <mutex>
#include <thread>

std::recursive_mutex g_tree_mu;
std::mutex g_log_mu;

namespace {

constexpr int kDepth = 4;
constexpr int kWalks = 500;

long visited = 0;  // guarded by g_tree_mu

void Visit(int depth) {
  std::lock_guard<std::recursive_mutex> tree(g_tree_mu);
  ++visited;
  if (depth > 0) {
    Visit(depth - 1);
    return;
  }
  std::lock_guard<std::mutex> log(g_log_mu);
  std::lock_guard<std::recursive_mutex> tree_again(g_tree_mu);
  ++visited;
}

void Walk() {
  for (int i = 0; i < kWalks; ++i) Visit(kDepth);
}

}  // namespace

int main() {
  std::thread first(Walk);
  std::thread second(Walk);
  first.join();
  second.join();
  return visited == 2L * kWalks * (kDepth + 2) ? 0 : 1;
}
