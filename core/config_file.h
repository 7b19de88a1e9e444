// core/config_file: reading and parsing the files users hand the engine (LOCKAUDIT_HIERARCHY,
// LOCKAUDIT_SUPPRESSIONS). Pure functions over text, so the fuzz targets (tests/fuzz) drive the
// very code the engine runs.
//
// Thread-safety: none needed (no state). Cost: linear in the file; runs once at start-up.
#ifndef LOCKAUDIT_CORE_CONFIG_FILE_H_
#define LOCKAUDIT_CORE_CONFIG_FILE_H_

#include <cstddef>
#include <string>

namespace lockaudit::core {

// Files larger than this are read up to it, with a warning: a config file is a few KB.
inline constexpr size_t kMaxConfigFileBytes = 16u << 20;

// Reads the whole file at `path` into *text. Refuses (false, *why set to a reason for the user)
// a path that cannot be opened, a directory, or anything that is not a regular file, a FIFO or
// a character device; a FIFO with no writer reads as empty instead of blocking the program.
bool ReadConfigFile(const char* path, std::string* text, std::string* why);

// One line of a config file, as given to a parser: the text without its line end, with
// comments (from '#') and surrounding blanks removed. Empty lines are never passed.
struct ConfigLine {
  int number;  // 1-based, counting every line of the file however long
  std::string text;
};

// Calls fn(const ConfigLine&) for every non-empty line of `text` (lines end at '\n'; a final
// "\r" is dropped; a NUL byte ends nothing).
template <class Fn>
void ForEachConfigLine(const std::string& text, Fn fn);

// "<lock name> <level>": the level is the last blank-separated field, so names may contain
// blanks as lockaudit prints them ("(anonymous namespace)::orders_mu", "heap@Restock
// (inventory.cc:21)"). False with *why for a line that cannot be used.
bool ParseHierarchyLine(const std::string& line, std::string* name, int* level, std::string* why);

// "<kind>:<pattern>", kind one of the finding kinds or "*". False with *why otherwise.
bool ParseSuppressionLine(const std::string& line, std::string* kind, std::string* pattern,
                          std::string* why);

// A line as shown in a warning: at most 80 characters, non-printable bytes as '?'.
std::string ShownLine(const std::string& line);

// Does a suppression pattern match `value` (a lock name, a frame's function, file path, file
// basename or module)? As in the sanitizers' suppressions: the pattern matches anywhere in the
// value (substring); '*' matches any run of characters, also none; a leading '^' anchors the
// pattern at the value's start, a trailing '$' at its end. Nothing else is special.
bool SuppressionPatternMatches(const std::string& pattern, const std::string& value);

// A demangled function without its parameter list and qualifiers: "f(int*) const" -> "f", so
// that `^f$` matches it as it would a C function. Anything else is returned as it is.
std::string FunctionWithoutParameters(const std::string& function);

// A source file of the standard library's or lockaudit's own inline plumbing (std::lock_guard,
// __gthread_mutex_lock, lockaudit::mutex::lock): frames a reader skips to reach the program's.
bool IsPlumbingFile(const std::string& file);

// Printed under a held stack in the partial form (stacks.h, RebuildHeldStack), by the engine's
// text report and by `lockaudit report`.
inline constexpr const char* kPartialHeldStackNote =
    "(only where it was taken: the function that took it had returned, so its callers are not "
    "known)";

// A lock's name without the "#k" that tells apart locks sharing a name ("heap@f (f.cc:12)#2"
// -> "heap@f (f.cc:12)"), so that a rule written for a name matches every lock called so.
// Anything else is returned as it is.
std::string NameWithoutOrdinal(const std::string& name);

// A suppression line, ready to paste into a suppressions file, that matches exactly `name` in a
// finding of `kind`: "kind:^name$". Characters a suppressions file cannot hold ('#' starts a
// comment, control characters) become '*'.
std::string SuppressionLineFor(const char* kind, const std::string& name);

// ---- implementation ------------------------------------------------------------------------

std::string StripConfigLine(const std::string& raw);

template <class Fn>
void ForEachConfigLine(const std::string& text, Fn fn) {
  size_t pos = 0;
  int number = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++number;
    std::string l = StripConfigLine(text.substr(pos, end - pos));
    if (!l.empty()) fn(ConfigLine{number, std::move(l)});
    pos = end + 1;
  }
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_CONFIG_FILE_H_
