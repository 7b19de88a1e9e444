// RawLog: the engine's internal log line, formatted into a stack buffer and written with
// write(2) to stderr. Safe in interceptors and signal handlers: no heap, no stdio, no locks.
#ifndef LOCKAUDIT_CORE_RAW_LOG_H_
#define LOCKAUDIT_CORE_RAW_LOG_H_

namespace lockaudit::core {

void RawLog(const char* fmt, ...) noexcept __attribute__((format(printf, 1, 2)));
void RawWrite(const char* line) noexcept;  // writes the line as is

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_RAW_LOG_H_
