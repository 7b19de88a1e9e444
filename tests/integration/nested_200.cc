// nested_200: one thread takes 200 distinct mutexes nested, always in the same order, and
// releases them, many times. Odd rounds release in reverse order, even rounds in acquisition
// order (legal, and exercises removal from the bottom of the held stack). Deep nesting must
// neither produce a false cycle nor break the auditor.
// Expected under the shim: no finding.
#include <cstddef>
#include <mutex>

constexpr std::size_t kChainLength = 200;
std::mutex g_chain_mu[kChainLength];

namespace {

constexpr int kRounds = 50;

}  // namespace

int main() {
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t i = 0; i < kChainLength; ++i) g_chain_mu[i].lock();
    if (round % 2 == 1) {
      for (std::size_t i = kChainLength; i-- > 0;) g_chain_mu[i].unlock();
    } else {
      for (std::size_t i = 0; i < kChainLength; ++i) g_chain_mu[i].unlock();
    }
  }
  return 0;
}
