// Google Benchmark: safetensors throughput on a 256 MiB file (64 float32 tensors of 4 MiB, and
// the same as BF16): writing (atomically, with fsync), opening and validating, loading copies,
// filling preallocated tensors (what checkpoint loading does), widening BF16, zero-copy views.
// Also: loading a whole lm-cpu checkpoint (813 MB, 24 blocks, 512 experts) into a model.
// Reads hit the page cache after the first pass: these are memory-speed figures, not disk ones.
// The files go to $TMPDIR and are removed at exit.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/safetensors_tensors.h"
#include "workloads/model/presets.h"

namespace {

namespace fs = std::filesystem;
using moeprof::workloads::NamedTensor;
using moeprof::workloads::SafetensorsFile;

constexpr int kTensors = 64;
constexpr int64_t kRows = 1024, kColumns = 1024;  // 4 MiB of float32 each

struct Files {
  fs::path dir =
      fs::temp_directory_path() / ("moeprof_safetensors_bench_" + std::to_string(getpid()));
  std::vector<NamedTensor> tensors;
  Files() {
    fs::create_directories(dir);
    for (int i = 0; i < kTensors; ++i) {
      tensors.push_back({"layer." + std::to_string(i), at::randn({kRows, kColumns})});
    }
    moeprof::workloads::saveTensors(f32(), tensors);
    std::vector<NamedTensor> half;
    for (const auto& t : tensors) half.push_back({t.name, t.tensor.to(at::kBFloat16)});
    moeprof::workloads::saveTensors(bf16(), half);
  }
  ~Files() { fs::remove_all(dir); }
  fs::path f32() const { return dir / "f32.safetensors"; }
  fs::path bf16() const { return dir / "bf16.safetensors"; }
  int64_t f32Bytes() const { return kTensors * kRows * kColumns * 4; }
};

const Files& files() {
  static const Files instance;  // built once for all benchmarks of this binary
  return instance;
}

void BM_Write(benchmark::State& state) {
  const auto& f = files();
  for (auto _ : state) moeprof::workloads::saveTensors(f.dir / "w.safetensors", f.tensors);
  state.SetBytesProcessed(state.iterations() * f.f32Bytes());
}

void BM_OpenAndValidate(benchmark::State& state) {
  const auto& f = files();
  for (auto _ : state) benchmark::DoNotOptimize(SafetensorsFile::open(f.f32()).tensors().size());
}

void BM_LoadCopies(benchmark::State& state) {
  const auto& f = files();
  for (auto _ : state) {
    auto file = SafetensorsFile::open(f.f32());
    for (const auto& t : file.tensors())
      benchmark::DoNotOptimize(moeprof::workloads::loadTensor(file, t));
  }
  state.SetBytesProcessed(state.iterations() * f.f32Bytes());
}

void BM_CopyIntoPreallocated(benchmark::State& state) {
  const auto& f = files();
  std::vector<at::Tensor> destinations;
  for (int i = 0; i < kTensors; ++i) destinations.push_back(at::zeros({kRows, kColumns}));
  for (auto _ : state) {
    auto file = SafetensorsFile::open(f.f32());
    for (int i = 0; i < kTensors; ++i) {
      moeprof::workloads::copyTensorInto(file, file.tensor(f.tensors[i].name), destinations[i]);
    }
  }
  state.SetBytesProcessed(state.iterations() * f.f32Bytes());
}

void BM_LoadBf16Widened(benchmark::State& state) {
  const auto& f = files();
  for (auto _ : state) {
    auto file = SafetensorsFile::open(f.bf16());
    for (const auto& t : file.tensors())
      benchmark::DoNotOptimize(moeprof::workloads::loadTensor(file, t));
  }
  state.SetBytesProcessed(state.iterations() * f.f32Bytes());  // float32 bytes produced
}

void BM_Views(benchmark::State& state) {
  const auto& f = files();
  for (auto _ : state) {
    auto file = SafetensorsFile::open(f.f32());
    for (const auto& t : file.tensors())
      benchmark::DoNotOptimize(moeprof::workloads::viewTensor(file, t));
  }
}

// An lm-cpu checkpoint, saved once on first use.
struct LmCpuCheckpoint {
  fs::path dir =
      fs::temp_directory_path() / ("moeprof_checkpoint_bench_" + std::to_string(getpid()));
  int64_t bytes = 0;
  LmCpuCheckpoint() {
    moeprof::workloads::LmModel model(moeprof::workloads::findPreset("lm-cpu"), 1, at::kCPU);
    bytes = model.weightBytes();
    moeprof::workloads::saveCheckpoint(model, dir);
  }
  ~LmCpuCheckpoint() { fs::remove_all(dir); }
};

void BM_LoadLmCpuCheckpoint(benchmark::State& state) {
  static const LmCpuCheckpoint checkpoint;  // built only when this benchmark runs
  for (auto _ : state) {
    benchmark::DoNotOptimize(moeprof::workloads::loadLmModel(checkpoint.dir).weightBytes());
  }
  state.SetBytesProcessed(state.iterations() * checkpoint.bytes);
}

BENCHMARK(BM_Write)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OpenAndValidate)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoadCopies)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CopyIntoPreallocated)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadBf16Widened)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Views)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoadLmCpuCheckpoint)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
