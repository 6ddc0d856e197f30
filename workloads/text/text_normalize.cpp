#include "workloads/text/text_normalize.h"

#include <cctype>
#include <cstring>

namespace moeprof::text {

namespace {

// Length of the UTF-8 sequence at s[i] when it is well formed (shortest form, no surrogates,
// at most U+10FFFF), else 0.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  if (b < 0x80) return 1;
  size_t length = b >= 0xc2 && b <= 0xdf   ? 2
                  : b >= 0xe0 && b <= 0xef ? 3
                  : b >= 0xf0 && b <= 0xf4 ? 4
                                           : 0;
  if (length == 0 || i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  unsigned char second = byte(i + 1);
  if (b == 0xe0 && second < 0xa0) return 0;   // overlong
  if (b == 0xed && second >= 0xa0) return 0;  // surrogate
  if (b == 0xf0 && second < 0x90) return 0;   // overlong
  if (b == 0xf4 && second >= 0x90) return 0;  // past U+10FFFF
  return length;
}

bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

bool isDroppedControl(unsigned char c) {
  return (c < 0x20 && c != '\n' && !isBlank(c)) || c == 0x7f;
}

// Length of a printf directive at s[i] == '%' ("%%" included), or 0 when there is none.
size_t printfDirectiveLength(std::string_view s, size_t i) {
  size_t k = i + 1;
  auto in = [&](const char* set) { return k < s.size() && std::strchr(set, s[k]) != nullptr; };
  if (k < s.size() && s[k] == '%') return 2;
  if (k < s.size() && s[k] == '(') {  // Python's %(name)s
    size_t close = s.find(')', k);
    if (close == std::string_view::npos) return 0;
    k = close + 1;
  }
  while (in("0123456789$#-+ '*.")) ++k;
  while (in("hlLqjzt")) ++k;
  if (k < s.size() && s[k] == '<') {  // gettext's <PRId64>
    size_t close = s.find('>', k);
    return close == std::string_view::npos ? 0 : close + 1 - i;
  }
  return in("diouxXeEfFgGaAcspnmCS") ? k + 1 - i : 0;
}

uint32_t codePointAt(std::string_view s, size_t i, size_t length) {
  auto b = static_cast<unsigned char>(s[i]);
  if (length == 1) return b;
  uint32_t cp = b & (0x7f >> length);
  for (size_t k = 1; k < length; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return cp;
}

// Letters of any script count (the accented letters of fr and ast, the kana and kanji of ja);
// Latin-1 and general punctuation, symbols, arrows and CJK punctuation do not.
bool isLetterAt(std::string_view s, size_t i) {
  size_t length = utf8SequenceLength(s, i);
  if (length == 0) return false;
  uint32_t cp = codePointAt(s, i, length);
  if (cp < 0x80) return std::isalpha(static_cast<int>(cp)) != 0;
  if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7) return false;
  if (cp >= 0x2000 && cp <= 0x2bff) return false;
  if (cp >= 0x3000 && cp <= 0x303f) return false;
  return true;
}

}  // namespace

bool isValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t length = utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string normalizeWhitespace(std::string_view text, bool keepIndent) {
  std::string out;
  out.reserve(text.size());
  size_t blankLines = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line;
    bool atStart = true;
    bool pendingSpace = false;
    for (size_t i = start; i < end; ++i) {
      char c = text[i];
      if (isDroppedControl(static_cast<unsigned char>(c))) continue;
      if (isBlank(c)) {
        if (atStart && keepIndent)
          line += c == '\t' ? "  " : " ";
        else if (!atStart)
          pendingSpace = true;
        continue;
      }
      if (pendingSpace) line += ' ';
      pendingSpace = false;
      atStart = false;
      line += c;
    }
    start = end + 1;
    if (atStart) {  // nothing but blanks
      ++blankLines;
      continue;
    }
    if (!out.empty()) out += blankLines > 0 ? "\n\n" : "\n";
    blankLines = 0;
    out += line;
  }
  return out;
}

std::string collapseWhitespace(std::string_view text) {
  std::string out;
  bool pendingSpace = false;
  for (char c : text) {
    if (isBlank(c) || c == '\n') {
      pendingSpace = !out.empty();
    } else if (!isDroppedControl(static_cast<unsigned char>(c))) {
      if (pendingSpace) out += ' ';
      pendingSpace = false;
      out += c;
    }
  }
  return out;
}

uint64_t fnv1a64(std::string_view bytes, uint64_t state) {
  for (unsigned char c : bytes) {
    state ^= c;
    state *= 0x100000001b3ULL;
  }
  return state;
}

std::string hex64(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = kDigits[value & 15];
  return out;
}

bool isValidation(std::string_view key, int validPercent) {
  // Mixing the hash once more spreads FNV's weak low bits before taking the remainder.
  uint64_t h = fnv1a64(key);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<int>(h % 100) < validPercent;
}

bool isFormatOnly(std::string_view message) {
  for (size_t i = 0; i < message.size();) {
    if (message[i] == '%') {
      if (size_t n = printfDirectiveLength(message, i)) {
        i += n;
        continue;
      }
    }
    if (message[i] == '{') {  // {0}, {name}, {}
      size_t close = message.find('}', i);
      if (close != std::string_view::npos && close - i < 32) {
        i = close + 1;
        continue;
      }
    }
    if (isLetterAt(message, i)) return false;
    size_t length = utf8SequenceLength(message, i);
    i += length ? length : 1;
  }
  return true;
}

}  // namespace moeprof::text
