#include "workloads/run/environment.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "collector/build_info.h"
#include "kernels/device_query.h"

namespace moeprof::workloads {

namespace {

std::string firstMatchingLine(const char* file, const std::string& needle) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return "";
}

std::string cpuModel() {
  std::string line = firstMatchingLine("/proc/cpuinfo", "model name");
  auto colon = line.find(':');
  return colon == std::string::npos ? "unknown" : line.substr(colon + 2);
}

// The BLAS library actually loaded decides LibTorch's CPU speed (OpenBLAS/OpenMP vs reference).
std::string loadedBlas() {
  std::string line = firstMatchingLine("/proc/self/maps", "blas");
  auto slash = line.find('/');
  return slash == std::string::npos ? "unknown" : line.substr(slash);
}

nlohmann::json cudaJson() {
  auto cuda = kernels::queryCudaDevices();
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : cuda.devices) {
    devices.push_back({{"name", d.name},
                       {"compute_capability",
                        std::to_string(d.computeMajor) + "." + std::to_string(d.computeMinor)},
                       {"memory_bytes", d.totalMemoryBytes}});
  }
  return {{"compiled", cuda.compiledWithCuda}, {"devices", devices}, {"reason", cuda.reason}};
}

}  // namespace

nlohmann::json captureEnvironment(const std::string& device) {
  struct utsname os {};
  uname(&os);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return {
      {"cpu", cpuModel()},
      {"cores", std::thread::hardware_concurrency()},
      {"threads", at::get_num_threads()},
      // libgomp spins while waiting unless this says PASSIVE: much slower on busy cores.
      {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""},
      {"libtorch", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                       "." + std::to_string(TORCH_VERSION_PATCH)},
      {"blas", loadedBlas()},
      {"git_revision", collector::gitRevision()},
      {"build_type", collector::buildType()},
      {"compiler", __VERSION__},
      {"os", std::string(os.sysname) + " " + os.release + " " + os.machine},
      {"hostname", host},
      {"device", device},
      {"cuda", cudaJson()},
  };
}

}  // namespace moeprof::workloads
