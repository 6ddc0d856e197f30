#include "workloads/text/corpus_sources.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <system_error>

#include "collector/errors.h"

namespace moeprof::text {

namespace fs = std::filesystem;

namespace {

bool hasCodeExtension(const fs::path& path) {
  static const std::array<std::string_view, 10> kExtensions{".h",  ".hpp", ".hh",  ".hxx", ".c",
                                                            ".cc", ".cpp", ".cxx", ".tcc", ".inl"};
  std::string ext = path.extension().string();
  return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

// Adds the regular files under `dir` (recursively when `recursive`) that `accept` takes.
template <typename Accept>
void collect(const fs::path& root, const fs::path& dir, bool recursive, Accept accept,
             std::vector<SourceFile>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  auto add = [&](const fs::directory_entry& entry) {
    std::error_code e;
    if (!entry.is_regular_file(e) || entry.is_symlink(e)) return;
    if (!accept(entry.path())) return;
    auto size = entry.file_size(e);
    auto mtime = fs::last_write_time(entry.path(), e);
    if (e) return;
    out.push_back(
        {entry.path(), fs::relative(entry.path(), root).generic_string(),
         static_cast<int64_t>(size),
         std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count()});
  };
  auto options = fs::directory_options::skip_permission_denied;
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(dir, options, ec)) add(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, options, ec)) add(entry);
  }
}

void sortByKey(std::vector<SourceFile>& files) {
  std::sort(files.begin(), files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.key < b.key; });
}

std::string inflateGzip(const std::string& compressed, const SourceFile& file, int64_t maxBytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("zlib init failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  std::array<char, 65536> buffer;
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    stream.avail_out = buffer.size();
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - stream.avail_out);
    if (static_cast<int64_t>(out.size()) > maxBytes) status = Z_BUF_ERROR;
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) {
    throw InputError("'" + file.path.string() + "' is not a complete gzip file or inflates past " +
                     std::to_string(maxBytes) + " bytes");
  }
  return out;
}

}  // namespace

std::vector<SourceFile> lmSourceFiles(const fs::path& root, const std::string& domain) {
  std::vector<SourceFile> files;
  auto any = [](const fs::path&) { return true; };
  if (domain == "prose") {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root / "usr/share/man", ec)) {
      // man1 .. man9 (and man3p, mann): English pages; language subfolders are skipped.
      std::string name = entry.path().filename().string();
      if (name.size() >= 4 && name.starts_with("man") && entry.is_directory()) {
        collect(root, entry.path(), false, any, files);
      }
    }
  } else if (domain == "code") {
    collect(root, root / "usr/include", true, hasCodeExtension, files);
  } else if (domain == "license") {
    collect(root, root / "usr/share/common-licenses", false, any, files);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root / "usr/share/doc", ec)) {
      collect(
          root, entry.path(), false, [](const fs::path& p) { return p.filename() == "copyright"; },
          files);
    }
  } else {
    throw InputError("unknown LM domain '" + domain + "': allowed prose, code, license");
  }
  sortByKey(files);
  return files;
}

std::vector<SourceFile> mtSourceFiles(const fs::path& root, const std::string& language) {
  if (std::find(kMtLanguages.begin(), kMtLanguages.end(), language) == kMtLanguages.end()) {
    throw InputError("unknown MT language '" + language + "': allowed fr, ja, ast");
  }
  std::vector<SourceFile> files;
  collect(
      root, root / "usr/share/locale" / language / "LC_MESSAGES", false,
      [](const fs::path& p) { return p.extension() == ".mo"; }, files);
  sortByKey(files);
  return files;
}

std::string readSourceFile(const SourceFile& file, int64_t maxBytes) {
  std::ifstream in(file.path, std::ios::binary);
  if (!in) throw InputError("cannot read '" + file.path.string() + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  if (file.path.extension() == ".gz") return inflateGzip(bytes, file, maxBytes);
  return bytes;
}

std::vector<std::string> rootPackages(const fs::path& root) {
  std::vector<std::string> lines;
  std::ifstream in(root / "PACKAGES");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace moeprof::text
