#include "raw_log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace lockaudit::core {

void RawWrite(const char* line) noexcept {
  size_t len = strlen(line);
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, line, len);
    if (n <= 0) return;
    line += n;
    len -= static_cast<size_t>(n);
  }
}

void RawLog(const char* fmt, ...) noexcept {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);  // glibc's vsnprintf does not allocate for %s/%d/%u/%p
  va_end(ap);
  RawWrite(buf);
}

}  // namespace lockaudit::core
