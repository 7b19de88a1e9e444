// An ordinary program with no lockaudit code in it: a warehouse whose restock path locks the
// stock table then the order book, while the order path locks them the other way round.
// This run never hangs (the customer comes 50 ms after the supplier), but the order is a latent
// deadlock. Attach lockaudit without rebuilding: `build/bin/lockaudit run -- build/bin/inventory`;
// `lockaudit run --confirm` then proves it real (a re-run that deadlocks).
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex stock_mu;   // guards stock
std::mutex orders_mu;  // guards orders
std::map<std::string, int> stock = {{"widget", 10}, {"gadget", 4}};
std::map<std::string, int> orders;

void Restock(const std::string& item, int count) {
  std::lock_guard<std::mutex> s(stock_mu);
  stock[item] += count;
  std::lock_guard<std::mutex> o(orders_mu);  // clear back-orders that can now ship
  orders.erase(item);
}

bool PlaceOrder(const std::string& item, int count) {
  std::lock_guard<std::mutex> o(orders_mu);
  orders[item] += count;
  std::lock_guard<std::mutex> s(stock_mu);  // BUG: orders_mu -> stock_mu, the reverse order
  if (stock[item] < count) return false;
  stock[item] -= count;
  orders.erase(item);
  return true;
}

}  // namespace

int main() {
  std::thread supplier([] { Restock("widget", 5); });
  std::thread customer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::printf("order placed: %d\n", PlaceOrder("widget", 3));
  });
  supplier.join();
  customer.join();
  std::printf("widgets in stock: %d\n", stock["widget"]);
  return 0;
}
