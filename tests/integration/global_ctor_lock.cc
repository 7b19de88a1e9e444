// global_ctor_lock: a global object's constructor runs before main and takes g_config_mu then
// g_registry_mu; main later takes g_registry_mu then g_config_mu. The mutexes are constant-
// initialised, so they are usable before any dynamic initialiser runs.
// Expected under the shim: one lock_order_cycle (single-threaded: both orders on the main
// thread), and the program exits 0.
#include <mutex>

std::mutex g_config_mu;
std::mutex g_registry_mu;

struct Registrar {
  Registrar() {
    std::lock_guard<std::mutex> config(g_config_mu);
    std::lock_guard<std::mutex> registry(g_registry_mu);
    registered = true;
  }
  bool registered = false;
};

Registrar g_registrar;

int main() {
  std::lock_guard<std::mutex> registry(g_registry_mu);
  std::lock_guard<std::mutex> config(g_config_mu);
  return g_registrar.registered ? 0 : 1;
}
