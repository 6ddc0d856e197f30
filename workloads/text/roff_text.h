#pragma once
// Manual pages (roff with the man or mdoc macros) turned into plain prose for the LM corpus:
// requests and macros dropped or replaced by their text arguments, font and size escapes
// removed, character escapes turned into the UTF-8 characters they name.
#include <string>
#include <string_view>

namespace moeprof::text {

// Plain text of a manual page: headings and paragraphs separated by blank lines. A page that is
// only a `.so` redirect to another page yields an empty string.
std::string roffToText(std::string_view roff);

// Inline escapes of one line of text (\fB, \-, \(em, \[u00E9], \*(xx, ...) resolved.
std::string resolveRoffEscapes(std::string_view line);

}  // namespace moeprof::text
