#pragma once
// The ATen side of safetensors (workloads/checkpoints/safetensors.h): tensors of a mapped file as
// at::Tensor (copies, or zero-copy views that keep the mapping alive), and at::Tensor written
// into files. F16 and BF16 load as float32 by default; the conversion is exact.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/checkpoints/safetensors.h"
#include "workloads/checkpoints/safetensors_shards.h"

namespace moeprof::workloads {

at::ScalarType scalarTypeOf(SafetensorsDtype dtype);
// Throws std::invalid_argument for a scalar type the format subset has no dtype for.
SafetensorsDtype safetensorsDtypeOf(at::ScalarType type);

enum class FloatLoad {
  ToFloat32,  // F16 and BF16 become float32 (exactly: float32 holds every such value)
  AsStored,   // kept as kHalf / kBFloat16
};

// A CPU tensor owning a copy of the data. BOOL bytes other than 0 and 1 are an InputError.
at::Tensor loadTensor(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                      FloatLoad floats = FloatLoad::ToFloat32);
// A CPU tensor over the mapped bytes, no copy, in the stored dtype; it keeps the mapping alive
// after `file` is gone. The mapping is read-only: never write through the view (it faults).
// Throws InputError when the data is not aligned for its dtype (files from other writers).
at::Tensor viewTensor(const SafetensorsFile& file, const SafetensorsTensor& tensor);
// Copies into an existing tensor of the same shape (any device), converting the dtype, so a
// model's weights are filled from the mapping with no intermediate tensor.
void copyTensorInto(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                    const at::Tensor& destination);

// A tensor with the name it is stored under.
struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

// Writes the tensors (any device, any layout: they are made contiguous CPU copies first when
// they are not) into one file, atomically.
void saveTensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                 const SafetensorsMetadata& metadata = {});
// The same into a directory, sharded as Hugging Face does
// (workloads/checkpoints/safetensors_shards.h).
std::vector<std::filesystem::path> saveTensorsSharded(const std::filesystem::path& dir,
                                                      std::span<const NamedTensor> tensors,
                                                      const SafetensorsMetadata& metadata = {},
                                                      const ShardingOptions& options = {});

}  // namespace moeprof::workloads
