#pragma once
// The small text rules every corpus shares: UTF-8 validity, whitespace normalization, stable
// content hashes, the deterministic train/validation split, and which catalog messages carry
// no words (format directives and punctuation only).
#include <cstdint>
#include <string>
#include <string_view>

namespace moeprof::text {

bool isValidUtf8(std::string_view text);

// Tabs and runs of blanks become one space, lines lose trailing blanks, control characters
// (other than newline) go, runs of blank lines become one, and the text loses leading and
// trailing blank lines. With `keepIndent` leading blanks of a line stay (code).
std::string normalizeWhitespace(std::string_view text, bool keepIndent = false);

// All whitespace (newlines included) becomes single spaces, trimmed: one-line catalog messages.
std::string collapseWhitespace(std::string_view text);

// 64-bit FNV-1a: a stable hash for splitting, deduplication and content checksums.
uint64_t fnv1a64(std::string_view bytes, uint64_t state = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t value);  // 16 lower-case hex digits

// True when `key` (a document path relative to its root, or a source sentence) falls in the
// validation split, which holds about `validPercent` percent of keys.
bool isValidation(std::string_view key, int validPercent);

// True when the message has no letters once printf/Python format directives are taken out:
// "%s", "%d: %s", "{0}", "%(name)s", "...", "  ".
bool isFormatOnly(std::string_view message);

}  // namespace moeprof::text
