#include "workloads/checkpoints/safetensors_tensors.h"

#include <cstring>
#include <stdexcept>

#include <ATen/ATen.h>

#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

std::string where(const SafetensorsFile& file, const SafetensorsTensor& tensor) {
  return file.path().string() + ": tensor '" + tensor.name + "'";
}

// at::kBool holds only 0 and 1; any other byte would be undefined behaviour in ATen's kernels.
void checkBoolBytes(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                    std::span<const std::byte> bytes) {
  if (tensor.dtype != SafetensorsDtype::Bool) return;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (static_cast<unsigned>(bytes[i]) > 1) {
      throw InputError(where(file, tensor) + ": BOOL element " + std::to_string(i) + " is " +
                       std::to_string(static_cast<unsigned>(bytes[i])) + ", not 0 or 1");
    }
  }
}

bool aligned(std::span<const std::byte> bytes, SafetensorsDtype dtype) {
  return reinterpret_cast<uintptr_t>(bytes.data()) % static_cast<uintptr_t>(dtypeBytes(dtype)) == 0;
}

at::Tensor contiguousCpu(const NamedTensor& named) {
  if (!named.tensor.defined()) {
    throw std::invalid_argument("safetensors: tensor '" + named.name + "' is undefined");
  }
  return named.tensor.to(at::kCPU).contiguous();
}

// Byte views of CPU copies of the tensors; `holders` keeps the copies alive while writing.
std::vector<SafetensorsTensorBytes> bytesOf(std::span<const NamedTensor> tensors,
                                            std::vector<at::Tensor>& holders) {
  std::vector<SafetensorsTensorBytes> out;
  holders.reserve(tensors.size());
  for (const auto& named : tensors) {
    holders.push_back(contiguousCpu(named));
    const auto& t = holders.back();
    SafetensorsTensorBytes entry;
    entry.name = named.name;
    entry.dtype = safetensorsDtypeOf(t.scalar_type());
    entry.shape.assign(t.sizes().begin(), t.sizes().end());
    entry.bytes = {static_cast<const std::byte*>(t.data_ptr()), t.nbytes()};
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

at::ScalarType scalarTypeOf(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::F32:
      return at::kFloat;
    case SafetensorsDtype::F16:
      return at::kHalf;
    case SafetensorsDtype::BF16:
      return at::kBFloat16;
    case SafetensorsDtype::I64:
      return at::kLong;
    case SafetensorsDtype::I32:
      return at::kInt;
    case SafetensorsDtype::U8:
      return at::kByte;
    case SafetensorsDtype::Bool:
      return at::kBool;
  }
  return at::kFloat;
}

SafetensorsDtype safetensorsDtypeOf(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return SafetensorsDtype::F32;
    case at::kHalf:
      return SafetensorsDtype::F16;
    case at::kBFloat16:
      return SafetensorsDtype::BF16;
    case at::kLong:
      return SafetensorsDtype::I64;
    case at::kInt:
      return SafetensorsDtype::I32;
    case at::kByte:
      return SafetensorsDtype::U8;
    case at::kBool:
      return SafetensorsDtype::Bool;
    default:
      throw std::invalid_argument(std::string("safetensors: no dtype for ATen type ") +
                                  c10::toString(type) +
                                  " (supported: float, half, bfloat16, long, int, byte, bool)");
  }
}

at::Tensor loadTensor(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                      FloatLoad floats) {
  auto bytes = file.data(tensor);
  checkBoolBytes(file, tensor, bytes);
  auto out = at::empty(tensor.shape, at::TensorOptions().dtype(scalarTypeOf(tensor.dtype)));
  if (!bytes.empty()) std::memcpy(out.data_ptr(), bytes.data(), bytes.size());
  bool narrowFloat =
      tensor.dtype == SafetensorsDtype::F16 || tensor.dtype == SafetensorsDtype::BF16;
  if (floats == FloatLoad::ToFloat32 && narrowFloat) out = out.to(at::kFloat);
  return out;
}

at::Tensor viewTensor(const SafetensorsFile& file, const SafetensorsTensor& tensor) {
  auto bytes = file.data(tensor);
  if (!aligned(bytes, tensor.dtype)) {
    throw InputError(where(file, tensor) + ": data is not aligned to its " +
                     std::to_string(dtypeBytes(tensor.dtype)) +
                     "-byte elements, so it cannot be viewed in place (load a copy instead)");
  }
  checkBoolBytes(file, tensor, bytes);
  auto mapping = file.mapping();
  return at::from_blob(
      const_cast<std::byte*>(bytes.data()), tensor.shape,
      [mapping](void*) mutable { mapping.reset(); },
      at::TensorOptions().dtype(scalarTypeOf(tensor.dtype)));
}

void copyTensorInto(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                    const at::Tensor& destination) {
  if (!destination.sizes().equals(tensor.shape)) {
    throw InputError(where(file, tensor) + " has shape " + c10::str(at::IntArrayRef(tensor.shape)) +
                     ", expected " + c10::str(destination.sizes()));
  }
  auto bytes = file.data(tensor);
  if (destination.is_cpu() && destination.is_contiguous() &&
      destination.scalar_type() == scalarTypeOf(tensor.dtype) &&
      tensor.dtype != SafetensorsDtype::Bool) {
    // A plain memcpy: about twice as fast as copy_ on one thread (tests/bench).
    if (!bytes.empty()) std::memcpy(destination.data_ptr(), bytes.data(), bytes.size());
    return;
  }
  if (!aligned(bytes, tensor.dtype) || tensor.dtype == SafetensorsDtype::Bool) {
    destination.copy_(loadTensor(file, tensor, FloatLoad::AsStored));
    return;
  }
  // Borrowed only for the copy below: no deleter, the file outlives this call.
  auto source = at::from_blob(const_cast<std::byte*>(bytes.data()), tensor.shape,
                              at::TensorOptions().dtype(scalarTypeOf(tensor.dtype)));
  destination.copy_(source);
}

void saveTensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                 const SafetensorsMetadata& metadata) {
  std::vector<at::Tensor> holders;
  auto bytes = bytesOf(tensors, holders);
  writeSafetensors(path, bytes, metadata);
}

std::vector<std::filesystem::path> saveTensorsSharded(const std::filesystem::path& dir,
                                                      std::span<const NamedTensor> tensors,
                                                      const SafetensorsMetadata& metadata,
                                                      const ShardingOptions& options) {
  std::vector<at::Tensor> holders;
  auto bytes = bytesOf(tensors, holders);
  return writeSafetensorsShards(dir, bytes, metadata, options);
}

}  // namespace moeprof::workloads
