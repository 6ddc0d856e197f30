#include "workloads/text/roff_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace moeprof::text {

namespace {

// Named characters worth keeping; unknown names resolve to nothing.
struct NamedChar {
  std::string_view name;
  std::string_view utf8;
};
constexpr std::array<NamedChar, 24> kNamedChars{{
    {"em", "\u2014"}, {"en", "\u2013"}, {"hy", "-"},      {"aq", "'"},      {"dq", "\""},
    {"bu", "\u2022"}, {"lq", "\u201c"}, {"rq", "\u201d"}, {"oq", "\u2018"}, {"cq", "\u2019"},
    {"co", "\u00a9"}, {"rg", "\u00ae"}, {"tm", "\u2122"}, {"mi", "-"},      {"pl", "+"},
    {"mu", "\u00d7"}, {"<=", "\u2264"}, {">=", "\u2265"}, {"->", "\u2192"}, {"<-", "\u2190"},
    {"ti", "~"},      {"ha", "^"},      {"rs", "\\"},     {"de", "\u00b0"},
}};

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

void appendNamed(std::string& out, std::string_view name) {
  if (name.size() == 5 && name[0] == 'u') {
    uint32_t cp = 0;
    for (char c : name.substr(1)) {
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (digit < 0) return;
      cp = cp * 16 + static_cast<uint32_t>(digit);
    }
    appendUtf8(out, cp);
    return;
  }
  for (const auto& named : kNamedChars) {
    if (named.name == name) out += named.utf8;
  }
}

// The name after an escape like \( (two characters), \[ (up to ]), or one character; `i` is at
// the first character after the escape letter and moves past the name.
std::string_view escapeName(std::string_view s, size_t& i) {
  if (i >= s.size()) return {};
  if (s[i] == '(') {
    std::string_view name = s.substr(i + 1, 2);
    i = std::min(s.size(), i + 3);
    return name;
  }
  if (s[i] == '[') {
    size_t end = s.find(']', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view name = s.substr(i + 1, end - i - 1);
    i = std::min(s.size(), end + 1);
    return name;
  }
  return s.substr(i++, 1);
}

// Skips a delimited argument like \h'1n' or \w"text".
void skipDelimited(std::string_view s, size_t& i) {
  if (i >= s.size()) return;
  char delimiter = s[i];
  size_t end = s.find(delimiter, i + 1);
  i = end == std::string_view::npos ? s.size() : end + 1;
}

// Resolves the escape whose letter is at s[i] (after the backslash); returns the new index.
size_t resolveEscape(std::string_view s, size_t i, std::string& out) {
  char c = s[i++];
  switch (c) {
    case 'f':
    case 'F':
    case 'n':
    case 'g':
    case 'k':
    case 'm':
    case 'M':
    case 'Y':
    case 'V':
    case '$':
      (void)escapeName(s, i);
      return i;
    case '*':
      if (std::string_view name = escapeName(s, i); name == "R") out += "\u00ae";
      return i;
    case '(':
    case '[':
      appendNamed(out, escapeName(s, --i));
      return i;
    case 'C':
      skipDelimited(s, i);
      return i;
    case 's':
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i < s.size() && (s[i] == '(' || s[i] == '[')) return (void)escapeName(s, i), i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      return i;
    case 'h':
    case 'v':
    case 'w':
    case 'o':
    case 'l':
    case 'L':
    case 'X':
    case 'D':
    case 'H':
    case 'S':
    case 'Z':
    case 'b':
    case 'x':
    case 'N':
    case 'R':
    case 'A':
      skipDelimited(s, i);
      return i;
    case '"':
    case '#':
      return s.size();  // a comment runs to the end of the line
    case 'e':
    case '\\':
      out += '\\';
      return i;
    case '-':
      out += '-';
      return i;
    case ' ':
    case '~':
    case '0':
    case '_':
      out += ' ';
      return i;
    case 't':
      out += '\t';
      return i;
    case '\'':
      out += '\'';
      return i;
    case '&':
    case '|':
    case '^':
    case 'c':
    case '%':
    case '{':
    case '}':
    case ':':
    case '/':
    case ',':
    case 'z':
    case 'd':
    case 'u':
    case 'r':
    case 'p':
    case 'a':
      return i;
    default:
      out += c;  // \. \` and anything else: the character itself
      return i;
  }
}

// Splits macro arguments: blanks separate, double quotes group ("" inside is a quote).
std::vector<std::string> macroArguments(std::string_view s) {
  std::vector<std::string> args;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    std::string arg;
    if (s[i] == '"') {
      for (++i; i < s.size(); ++i) {
        if (s[i] == '"' && i + 1 < s.size() && s[i + 1] == '"') {
          arg += '"';
          ++i;
        } else if (s[i] == '"') {
          ++i;
          break;
        } else {
          arg += s[i];
        }
      }
    } else {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') arg += s[i++];
    }
    args.push_back(std::move(arg));
  }
  return args;
}

bool isOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (n == name) return true;
  }
  return false;
}

// State across lines: blocks that are skipped (macro definitions, ignored input, conditional
// bodies, table format specifications).
struct RoffState {
  std::string out;
  bool inDefinition = false;   // .de / .ig ... up to ".."
  int conditionalDepth = 0;    // \{ ... \} of a dropped conditional
  bool inTableFormat = false;  // .TS up to the format line ending in '.'
};

void paragraph(RoffState& st) {
  if (!st.out.empty() && !st.out.ends_with("\n\n"))
    st.out += st.out.ends_with('\n') ? "\n" : "\n\n";
}

void textLine(RoffState& st, std::string_view line) {
  std::string text = resolveRoffEscapes(line);
  if (text.empty()) return;
  st.out += text;
  st.out += '\n';
}

void request(RoffState& st, std::string_view line) {
  size_t start = 1;
  while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
  size_t end = line.find_first_of(" \t", start);
  std::string_view name = line.substr(start, end == std::string_view::npos ? end : end - start);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  if (name.starts_with("\\\"") || name.empty()) return;
  if (isOneOf(name,
              {"de", "de1", "am", "ig", "ds", "ds1", "as", "nr", "so", "mso", "ft", "ps", "vs",
               "in", "ti",  "ll", "ne", "hy", "nh",  "ad", "na", "fi", "nf",  "RS", "RE", "EX",
               "EE", "UE",  "ME", "TE", "tr", "cc",  "c2", "ec", "eo", "bp",  "pl", "PD", "DT",
               "IX", "ta",  "hw", "lf", "rm", "rn",  "ns", "rs", "ev", "TH",  "Dd", "Os", "Dt",
               "UC", "AT",  "Bd", "Ed", "Bl", "El",  "Ek", "Bk", "Pp", "Lp",  "PP", "LP", "P",
               "TP", "br",  "sp", "HP", "TQ", "if",  "ie", "el", "Ss", "Sh",  "SH", "SS"})) {
    if (isOneOf(name, {"de", "de1", "am", "ig"})) st.inDefinition = true;
    if (isOneOf(name, {"if", "ie", "el"}) && rest.find("\\{") != std::string_view::npos &&
        rest.find("\\}") == std::string_view::npos) {
      ++st.conditionalDepth;
    }
    if (isOneOf(name,
                {"PP", "LP", "P", "Pp", "Lp", "TP", "HP", "sp", "SH", "SS", "Sh", "Ss", "TQ"}))
      paragraph(st);
    if (isOneOf(name, {"SH", "SS", "Sh", "Ss"})) {
      std::string heading;
      for (const auto& arg : macroArguments(rest)) heading += (heading.empty() ? "" : " ") + arg;
      textLine(st, heading);
      paragraph(st);
    }
    return;
  }
  if (name == "TS") {
    st.inTableFormat = true;
    return;
  }
  bool alternating = isOneOf(name, {"BR", "RB", "IR", "RI", "BI", "IB"});
  std::string joined;
  auto args = macroArguments(rest);
  if (name == "IP" && !args.empty()) args.resize(1);  // the tag; the indent is a number
  for (const auto& arg : args) joined += (joined.empty() || alternating ? "" : " ") + arg;
  if (name == "IP") paragraph(st);
  textLine(st, joined);
}

}  // namespace

std::string resolveRoffEscapes(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size();) {
    if (line[i] != '\\') {
      out += line[i++];
    } else if (i + 1 >= line.size()) {
      break;  // a trailing backslash joins lines; nothing to emit
    } else {
      i = resolveEscape(line, i + 1, out);
    }
  }
  return out;
}

std::string roffToText(std::string_view roff) {
  RoffState st;
  size_t start = 0;
  bool first = true;
  while (start <= roff.size()) {
    size_t end = roff.find('\n', start);
    if (end == std::string_view::npos) end = roff.size();
    std::string_view line = roff.substr(start, end - start);
    start = end + 1;
    if (first && (line.starts_with(".so ") || line.starts_with(".so\t"))) return "";
    first = first && (line.empty() || line.starts_with(".\\\"") || line.starts_with("'\\\""));
    if (st.inDefinition) {
      st.inDefinition = !line.starts_with("..");
      continue;
    }
    if (st.conditionalDepth > 0) {
      if (line.find("\\{") != std::string_view::npos) ++st.conditionalDepth;
      if (line.find("\\}") != std::string_view::npos) --st.conditionalDepth;
      continue;
    }
    if (st.inTableFormat) {
      st.inTableFormat = !line.ends_with('.');
      continue;
    }
    if (line.starts_with('.') || line.starts_with('\'')) {
      request(st, line);
    } else if (line.empty()) {
      paragraph(st);
    } else {
      textLine(st, line);
    }
  }
  while (st.out.ends_with('\n')) st.out.pop_back();
  return st.out;
}

}  // namespace moeprof::text
