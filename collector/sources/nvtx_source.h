#pragma once
// The NVTX source: captures the NVTX ranges and marks of any code in the process that uses
// NVTX3 (moeprof's phase ranges, LibTorch's, a user's) by being NVTX's injection library, the
// way Nsight Systems does. Two routes lead NVTX to it:
//  - in-process (default): the collector defines NVTX's static-injection hook
//    InitializeInjectionNvtx2_fnptr, so NVTX attaches to moeprof without any set-up;
//  - NVTX_INJECTION64_PATH=<build>/collector/libmoeprof_nvtx_injection.so: NVTX loads that
//    library, which hands over to this source in the running moeprof process (this route also
//    reaches NVTX copies inside shared libraries that hide the static hook).
// When NVTX_INJECTION64_PATH names another tool (nsys, or CUPTI so that its MARKER records carry
// the ranges), NVTX attaches to that tool instead and this source records nothing: a range is
// never captured twice. NVTX's C API forces process-wide state: one NvtxSource at a time.
#include <cstdint>
#include <string>

namespace moeprof::collector {

class TraceSink;

class NvtxSource {
 public:
  // Starts delivering NVTX events to `sink`; forces NVTX's initialization now, so that
  // attached() is known before the first range. Throws std::logic_error if another NvtxSource
  // is active.
  explicit NvtxSource(TraceSink& sink);
  ~NvtxSource();  // stops delivering and appends its SourceStats ("nvtx")
  NvtxSource(const NvtxSource&) = delete;
  NvtxSource& operator=(const NvtxSource&) = delete;

  // Whether NVTX in this module calls moeprof's handlers.
  static bool attached();
  // Who receives NVTX events, in words: "moeprof (in-process injection)", "moeprof
  // (NVTX_INJECTION64_PATH)", "another tool (NVTX_INJECTION64_PATH=...)", or why none does.
  static std::string route();

 private:
  TraceSink& sink_;
};

}  // namespace moeprof::collector
