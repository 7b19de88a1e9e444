// dlopen_cycle: a lock-order cycle that spans a dlopen()ed library. The plugin holds its mutex
// while calling back into the host, which takes g_host_mu (plugin -> host); later the host holds
// g_host_mu while calling into the plugin, which takes its mutex (host -> plugin). The library
// is then dlclose()d.
// Usage: dlopen_cycle PATH_TO_dlopen_lib.so
// Expected under the shim: one lock_order_cycle with two edges, locks g_host_mu and g_plugin_mu.
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>

#include "itest.h"

typedef void (*RunWithCallbackFn)(void (*)(void));
typedef void (*TouchFn)(void);

pthread_mutex_t g_host_mu = PTHREAD_MUTEX_INITIALIZER;

static void LockHost(void) {
  ITEST_OK(pthread_mutex_lock(&g_host_mu));
  ITEST_OK(pthread_mutex_unlock(&g_host_mu));
}

static void* Lookup(void* library, const char* symbol) {
  void* address = dlsym(library, symbol);
  if (address == NULL) {
    fprintf(stderr, "dlopen_cycle: dlsym(%s): %s\n", symbol, dlerror());
    exit(2);
  }
  return address;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_dlopen_lib.so\n", argv[0]);
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "dlopen_cycle: dlopen: %s\n", dlerror());
    return 2;
  }
  RunWithCallbackFn run_with_callback;
  TouchFn touch;
  // POSIX: dlsym's result converts to a function pointer; copy the bits to say so explicitly.
  void* run_address = Lookup(library, "plugin_run_with_callback");
  void* touch_address = Lookup(library, "plugin_touch");
  memcpy(&run_with_callback, &run_address, sizeof run_with_callback);
  memcpy(&touch, &touch_address, sizeof touch);

  run_with_callback(LockHost);  // plugin -> host

  ITEST_OK(pthread_mutex_lock(&g_host_mu));  // host -> plugin
  touch();
  ITEST_OK(pthread_mutex_unlock(&g_host_mu));

  if (dlclose(library) != 0) {
    fprintf(stderr, "dlopen_cycle: dlclose: %s\n", dlerror());
    return 2;
  }
  return 0;
}
