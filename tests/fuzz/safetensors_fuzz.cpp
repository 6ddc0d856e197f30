// libFuzzer target for the torch-free safetensors parser. Any input must either be rejected with
// an InputError or parse into tensors that lie inside it; what parses must survive being encoded
// again and re-parsed unchanged (names, dtypes, shapes, bytes, metadata). AddressSanitizer and
// UBSan catch reads outside the input and arithmetic overflow on the way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "collector/errors.h"
#include "workloads/checkpoints/safetensors.h"

namespace {

using moeprof::workloads::SafetensorsHeader;
using moeprof::workloads::SafetensorsTensorBytes;

[[noreturn]] void failure(const char* what) {
  std::fprintf(stderr, "safetensors fuzz: %s\n", what);
  std::abort();
}

std::vector<SafetensorsTensorBytes> bytesOf(const SafetensorsHeader& header,
                                            std::span<const std::byte> file) {
  std::vector<SafetensorsTensorBytes> tensors;
  for (const auto& tensor : header.tensors) {
    if (header.dataOffset + tensor.dataEnd > file.size()) failure("tensor outside the input");
    tensors.push_back({tensor.name, tensor.dtype, tensor.shape,
                       file.subspan(header.dataOffset + tensor.dataBegin, tensor.byteCount())});
  }
  return tensors;
}

void checkSame(const SafetensorsHeader& a, std::span<const std::byte> fileA,
               const SafetensorsHeader& b, std::span<const std::byte> fileB) {
  if (a.tensors.size() != b.tensors.size() || a.metadata != b.metadata) {
    failure("tensor list or metadata changed");
  }
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape ||
        x.byteCount() != y.byteCount()) {
      failure("a tensor changed");
    }
    if (x.byteCount() > 0 &&
        std::memcmp(fileA.data() + a.dataOffset + x.dataBegin,
                    fileB.data() + b.dataOffset + y.dataBegin, x.byteCount()) != 0) {
      failure("a tensor's bytes changed");
    }
  }
  if (b.dataOffset % 8 != 0) failure("re-encoded data is not 8-byte aligned");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  SafetensorsHeader header;
  try {
    header = moeprof::workloads::parseSafetensors(file, "fuzz input");
  } catch (const moeprof::InputError&) {
    return 0;  // rejected with a message: what the parser is for
  }
  auto encoded = moeprof::workloads::encodeSafetensors(bytesOf(header, file), header.metadata);
  auto again = moeprof::workloads::parseSafetensors(encoded, "re-encoded fuzz input");
  checkSame(header, file, again, encoded);
  return 0;
}
