#pragma once
// Test support: a small well-formedness check for the XML-compatible markup the reports write
// (SVG, and HTML written with every element closed): tags balance, attributes are quoted,
// entities are known, and nothing is left open. Returns "" when well-formed, else what broke.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace moeprof::testing {

inline std::string checkMarkup(const std::string& text) {
  std::vector<std::string> open;
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    return what + " at offset " + std::to_string(i) + ": '" + text.substr(i, 60) + "'";
  };
  while (i < text.size()) {
    if (text[i] == '&') {
      size_t end = text.find(';', i);
      if (end == std::string::npos) return fail("bare &");
      std::string entity = text.substr(i + 1, end - i - 1);
      static const std::vector<std::string> known = {"amp", "lt", "gt", "quot", "apos"};
      bool numeric = entity.size() > 1 && entity[0] == '#';
      if (!numeric && std::find(known.begin(), known.end(), entity) == known.end()) {
        return fail("unknown entity");
      }
      i = end + 1;
      continue;
    }
    if (text[i] != '<') {
      ++i;
      continue;
    }
    if (text.compare(i, 4, "<!--") == 0) {
      size_t end = text.find("-->", i);
      if (end == std::string::npos) return fail("unclosed comment");
      i = end + 3;
      continue;
    }
    if (text.compare(i, 2, "<!") == 0 || text.compare(i, 2, "<?") == 0) {
      size_t end = text.find('>', i);
      if (end == std::string::npos) return fail("unclosed declaration");
      i = end + 1;
      continue;
    }
    size_t end = i + 1;
    char quote = 0;
    while (end < text.size() && (quote || text[end] != '>')) {
      if (quote && text[end] == quote) {
        quote = 0;
      } else if (!quote && (text[end] == '"' || text[end] == '\'')) {
        quote = text[end];
      } else if (!quote && text[end] == '<') {
        return fail("'<' inside a tag");
      }
      ++end;
    }
    if (end >= text.size()) return fail("unclosed tag");
    std::string tag = text.substr(i + 1, end - i - 1);
    bool closing = !tag.empty() && tag[0] == '/';
    bool selfClosing = !tag.empty() && tag.back() == '/';
    size_t nameStart = closing ? 1 : 0;
    size_t nameEnd = nameStart;
    while (nameEnd < tag.size() && !std::isspace(static_cast<unsigned char>(tag[nameEnd])) &&
           tag[nameEnd] != '/') {
      ++nameEnd;
    }
    std::string name = tag.substr(nameStart, nameEnd - nameStart);
    if (name.empty()) return fail("tag without a name");
    if (closing) {
      if (open.empty() || open.back() != name) {
        return fail("</" + name + "> closes " +
                    (open.empty() ? "nothing" : "<" + open.back() + ">"));
      }
      open.pop_back();
    } else if (!selfClosing) {
      open.push_back(name);
    }
    i = end + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  return "";
}

// How often `needle` occurs in `text`.
inline size_t countOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace moeprof::testing
