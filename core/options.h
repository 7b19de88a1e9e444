// core/options: the LOCKAUDIT_* environment variables (DESIGN.md §4), parsed once from the
// table in options.inc.
//
// Thread-safety: Parse() runs once during engine initialisation; afterwards Options is read-only.
// Cost: Parse() uses no heap (values live in fixed buffers), so it may run before malloc is usable.
#ifndef LOCKAUDIT_CORE_OPTIONS_H_
#define LOCKAUDIT_CORE_OPTIONS_H_

#include <cstddef>

namespace lockaudit::core {

inline constexpr size_t kMaxOptionLen = 1024;

struct Options {
#define LOCKAUDIT_OPTION(field, var, type, def, desc) LOCKAUDIT_OPTION_FIELD_##type(field)
#define LOCKAUDIT_OPTION_FIELD_Path(f) char f[kMaxOptionLen];
#define LOCKAUDIT_OPTION_FIELD_String(f) char f[kMaxOptionLen];
#define LOCKAUDIT_OPTION_FIELD_Int(f) long f;
#define LOCKAUDIT_OPTION_FIELD_Bool(f) bool f;
#define LOCKAUDIT_OPTION_FIELD_Enum_report_abort(f) bool f##_abort;
#include "options.inc"
#undef LOCKAUDIT_OPTION
};

struct OptionInfo {
  const char* variable;
  const char* default_value;
  const char* description;
};

// Parses the environment (through `getenv_fn`, so tests can feed values). Each malformed value
// writes one line "lockaudit: warning: <VAR>: <why>; using <default>" through `warn`.
void ParseOptions(Options* out, const char* (*getenv_fn)(const char*),
                  void (*warn)(const char* line));

// The table, for --help and the README.
const OptionInfo* OptionTable(size_t* count);

// The engine's parsed options (valid after EnsureInitialized()).
const Options& GetOptions();

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_OPTIONS_H_
