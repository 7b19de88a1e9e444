// dlopen_lib: the plugin half of dlopen_cycle. Loaded with dlopen(); owns a static mutex that
// is visible only in the library's own symbol table.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

static pthread_mutex_t g_plugin_mu = PTHREAD_MUTEX_INITIALIZER;

// Holds g_plugin_mu while calling back into the host: plugin -> host.
__attribute__((visibility("default"))) void plugin_run_with_callback(void (*callback)(void)) {
  ITEST_OK(pthread_mutex_lock(&g_plugin_mu));
  callback();
  ITEST_OK(pthread_mutex_unlock(&g_plugin_mu));
}

// Takes g_plugin_mu alone; the host calls it with its own mutex held: host -> plugin.
__attribute__((visibility("default"))) void plugin_touch(void) {
  ITEST_OK(pthread_mutex_lock(&g_plugin_mu));
  ITEST_OK(pthread_mutex_unlock(&g_plugin_mu));
}
