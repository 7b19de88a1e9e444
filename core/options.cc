// Parsing of the options table. No heap, no stdio: runs during early engine initialisation.
#include "options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lockaudit::core {
namespace {

void Warn(void (*warn)(const char*), const char* var, const char* value, const char* why,
          const char* def) {
  // The value as shown: its first 200 bytes, control characters as '?', so that a value holding
  // '\n' (or a terminal escape) cannot break the warning's one line (found by tests/fuzz).
  char shown[201];
  size_t n = 0;
  for (; n < sizeof shown - 1 && value[n] != '\0'; ++n) {
    const auto c = static_cast<unsigned char>(value[n]);
    shown[n] = (c < 0x20 || c == 0x7f) ? '?' : value[n];
  }
  shown[n] = '\0';
  char line[kMaxOptionLen + 256];
  snprintf(line, sizeof line, "lockaudit: warning: %s: '%s' %s; using %s\n", var, shown, why,
           def[0] ? def : "none");
  warn(line);
}

void ParsePath(char* out, const char* var, const char* value, const char* def,
               void (*warn)(const char*)) {
  const char* src = value ? value : def;
  if (strlen(src) >= kMaxOptionLen) {
    Warn(warn, var, "...", "is too long", def);
    src = def;
  }
  snprintf(out, kMaxOptionLen, "%s", src);
}

void ParseInt(long* out, const char* var, const char* value, const char* def,
              void (*warn)(const char*)) {
  *out = (def[0] >= '0' && def[0] <= '9') ? strtol(def, nullptr, 10) : -1;
  if (value == nullptr) return;
  char* end = nullptr;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (value[0] == '\0' || *end != '\0' || errno != 0 || v < 0) {
    Warn(warn, var, value, "is not a non-negative integer", def);
    return;
  }
  *out = v;
}

void ParseBool(bool* out, const char* var, const char* value, const char* def,
               void (*warn)(const char*)) {
  *out = strcmp(def, "1") == 0;
  if (value == nullptr) return;
  if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0) {
    *out = true;
  } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
             value[0] == '\0') {
    *out = false;
  } else {
    Warn(warn, var, value, "is not 0 or 1", def);
  }
}

void ParseReportAbort(bool* out, const char* var, const char* value, const char* def,
                      void (*warn)(const char*)) {
  *out = false;
  if (value == nullptr || strcmp(value, "report") == 0) return;
  if (strcmp(value, "abort") == 0) {
    *out = true;
    return;
  }
  Warn(warn, var, value, "is not 'report' or 'abort'", def);
}

// A set value outside [min, max] is refused: one warning, and the default (parsed from the
// table, -1 for a word) is used.
void CheckRange(long* out, const OptionInfo& info, const char* value, long min, long max,
                void (*warn)(const char*)) {
  if (value == nullptr || *out == -1 || (*out >= min && *out <= max)) return;
  const char* def = info.default_value;
  char why[96];
  snprintf(why, sizeof why, "is not in %ld-%ld", min, max);
  Warn(warn, info.variable, value, why, def);
  *out = (def[0] >= '0' && def[0] <= '9') ? strtol(def, nullptr, 10) : -1;
}

const OptionInfo kTable[] = {
#define LOCKAUDIT_OPTION(field, var, type, def, desc) {#var, def, desc},
#include "options.inc"
#undef LOCKAUDIT_OPTION
};

}  // namespace

void ParseOptions(Options* out, const char* (*getenv_fn)(const char*),
                  void (*warn)(const char*)) {
#define LOCKAUDIT_OPTION(field, var, type, def, desc) \
  LOCKAUDIT_OPTION_PARSE_##type(field, #var, getenv_fn(#var), def);
#define LOCKAUDIT_OPTION_PARSE_Path(f, v, val, def) ParsePath(out->f, v, val, def, warn)
#define LOCKAUDIT_OPTION_PARSE_String(f, v, val, def) ParsePath(out->f, v, val, def, warn)
#define LOCKAUDIT_OPTION_PARSE_Int(f, v, val, def) ParseInt(&out->f, v, val, def, warn)
#define LOCKAUDIT_OPTION_PARSE_Bool(f, v, val, def) ParseBool(&out->f, v, val, def, warn)
#define LOCKAUDIT_OPTION_PARSE_Enum_report_abort(f, v, val, def) \
  ParseReportAbort(&out->f##_abort, v, val, def, warn)
#include "options.inc"
#undef LOCKAUDIT_OPTION
  // Range checks from the table (LOCKAUDIT_OPTION_RANGE).
#define LOCKAUDIT_OPTION(field, var, type, def, desc) \
  [[maybe_unused]] const OptionInfo field##_info{#var, def, desc};
#define LOCKAUDIT_OPTION_RANGE(field, min, max)
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
#define LOCKAUDIT_OPTION(field, var, type, def, desc)
#define LOCKAUDIT_OPTION_RANGE(field, min, max) \
  CheckRange(&out->field, field##_info, getenv_fn(field##_info.variable), min, max, warn);
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  if (out->log[0] == '\0') snprintf(out->log, kMaxOptionLen, "stderr");
}

const OptionInfo* OptionTable(size_t* count) {
  *count = sizeof kTable / sizeof kTable[0];
  return kTable;
}

}  // namespace lockaudit::core
