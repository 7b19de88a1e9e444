// tests/clang_tidy_compat.h: force-included by tests/clang_tidy.sh only (never by a build).
// clang 14 lacks __builtin_source_location, so libstdc++ 12's <source_location> declares nothing
// and every file including <lockaudit/mutex.h> would fail to parse. A minimal stand-in lets
// clang-tidy-14 see the real code; clang >= 15 does not need it.
#pragma once
#if defined(__clang__) && __clang_major__ < 15 && __cplusplus > 201703L
#include <cstdint>
namespace std {
struct source_location {
  static constexpr source_location current() noexcept { return {}; }
  constexpr uint_least32_t line() const noexcept { return 0; }
  constexpr uint_least32_t column() const noexcept { return 0; }
  constexpr const char* file_name() const noexcept { return ""; }
  constexpr const char* function_name() const noexcept { return ""; }
};
}  // namespace std
#endif
