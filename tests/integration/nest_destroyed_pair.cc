// A per-request object with two std::mutex members, both taken (one inside the other) between
// two global locks, then deleted (issue 14). std::mutex has no destructor call into pthread,
// so the delete's free() is what tells the shim both locks are gone, together: the order
// g_outer -> g_inner they implied must survive both. Another thread later takes g_inner then
// g_outer: exactly one lock_order_cycle, of those two locks, whose g_outer -> g_inner edge is
// marked implied.
#include <mutex>
#include <thread>

namespace {

std::mutex g_outer;
std::mutex g_inner;

struct Request {
  std::mutex table;
  std::mutex row;
  int state = 0;
};

void Handle(Request* r) {
  std::lock_guard<std::mutex> table(r->table);
  std::lock_guard<std::mutex> row(r->row);
  std::lock_guard<std::mutex> inner(g_inner);
  ++r->state;
}

void Serve() {
  for (int i = 0; i < 4; ++i) {
    auto* r = new Request;
    {
      std::lock_guard<std::mutex> outer(g_outer);
      Handle(r);
    }
    delete r;
  }
}

void InnerThenOuter() {
  std::lock_guard<std::mutex> inner(g_inner);
  std::lock_guard<std::mutex> outer(g_outer);
}

}  // namespace

int main() {
  std::thread(Serve).join();
  std::thread(InnerThenOuter).join();
  return 0;
}
