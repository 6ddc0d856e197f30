#include "workloads/text/mo_catalog.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "collector/errors.h"

namespace moeprof::text {

namespace {

constexpr uint32_t kMagic = 0x950412de;
constexpr size_t kHeaderBytes = 28;         // magic, revision, count, two table offsets, hash table
constexpr char kContextSeparator = '\x04';  // EOT between msgctxt and msgid

class MoReader {
 public:
  MoReader(std::string_view bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError("message catalog '" + name_ + "' is malformed: " + what);
  }

  uint32_t word(size_t offset) const {
    if (offset > bytes_.size() || bytes_.size() - offset < 4) {
      fail("field at byte " + std::to_string(offset) + " lies past the end of the " +
           std::to_string(bytes_.size()) + "-byte file");
    }
    auto b = [&](size_t i) {
      return static_cast<uint32_t>(static_cast<uint8_t>(bytes_[offset + i]));
    };
    if (bigEndian_) return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    return b(3) << 24 | b(2) << 16 | b(1) << 8 | b(0);
  }

  void readMagic() {
    if (bytes_.size() < kHeaderBytes) {
      fail("only " + std::to_string(bytes_.size()) + " bytes, a header needs " +
           std::to_string(kHeaderBytes));
    }
    bigEndian_ = false;
    if (word(0) == kMagic) return;
    bigEndian_ = true;
    if (word(0) == kMagic) return;
    fail("no .mo magic number 0x950412de at its start (not a gettext catalog)");
  }

  // Entry `index` of the string table at `table`: a length and an offset; the string must lie
  // inside the file and be followed by its NUL terminator.
  std::string_view string(uint32_t table, uint32_t index, const char* which) const {
    size_t entry = static_cast<size_t>(table) + static_cast<size_t>(index) * 8;
    uint32_t length = word(entry);
    uint32_t offset = word(entry + 4);
    if (offset > bytes_.size() || length >= bytes_.size() - offset) {
      fail(std::string(which) + " string " + std::to_string(index) + " (offset " +
           std::to_string(offset) + ", length " + std::to_string(length) + ") lies outside the " +
           std::to_string(bytes_.size()) + "-byte file");
    }
    return bytes_.substr(offset, length);
  }

  bool bigEndian() const { return bigEndian_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::string_view bytes_;
  std::string name_;
  bool bigEndian_ = false;
};

std::vector<std::string> splitNul(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t nul = text.find('\0', start);
    parts.emplace_back(text.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) return parts;
    start = nul + 1;
  }
}

MoMessage makeMessage(std::string_view original, std::string_view translation) {
  MoMessage m;
  if (size_t eot = original.find(kContextSeparator); eot != std::string_view::npos) {
    m.context = std::string(original.substr(0, eot));
    original.remove_prefix(eot + 1);
  }
  auto ids = splitNul(original);
  m.msgid = ids[0];
  if (ids.size() > 1) m.msgidPlural = ids[1];
  m.msgstr = splitNul(translation);
  return m;
}

}  // namespace

std::string MoCatalog::charset() const {
  for (const auto& m : messages) {
    if (!m.msgid.empty() || !m.context.empty() || m.msgstr.empty()) continue;
    std::string header = m.msgstr[0];
    std::transform(header.begin(), header.end(), header.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    size_t at = header.find("charset=");
    if (at == std::string::npos) return "";
    size_t end = header.find_first_of(" ;\n\r\t", at + 8);
    return header.substr(at + 8, end == std::string::npos ? end : end - at - 8);
  }
  return "";
}

MoCatalog parseMoCatalog(std::string_view bytes, const std::string& name) {
  MoReader reader(bytes, name);
  reader.readMagic();
  MoCatalog catalog;
  catalog.bigEndian = reader.bigEndian();
  catalog.revision = reader.word(4);
  if ((catalog.revision >> 16) > 1) {
    reader.fail("major revision " + std::to_string(catalog.revision >> 16) +
                " is not supported (allowed: 0 and 1)");
  }
  uint32_t count = reader.word(8);
  uint32_t originals = reader.word(12);
  uint32_t translations = reader.word(16);
  // Each message takes 16 table bytes, so a count the file cannot hold is rejected before any
  // allocation is sized from it.
  if (count > reader.size() / 16) {
    reader.fail("claims " + std::to_string(count) + " messages, more than its " +
                std::to_string(reader.size()) + " bytes can hold");
  }
  catalog.messages.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto original = reader.string(originals, i, "original");
    auto translation = reader.string(translations, i, "translated");
    catalog.messages.push_back(makeMessage(original, translation));
  }
  return catalog;
}

}  // namespace moeprof::text
