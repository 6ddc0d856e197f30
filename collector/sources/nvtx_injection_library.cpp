// libmoeprof_nvtx_injection.so: the library NVTX_INJECTION64_PATH may name. NVTX loads it and
// calls InitializeInjectionNvtx2; it hands over to the NVTX source of the moeprof collector
// that is running in this process (collector/nvtx_source.cpp exports moeprof_nvtx_attach_env).
// In a process without moeprof it declines, and NVTX then turns its calls into no-ops.
#include <dlfcn.h>

#include <cstdio>

#include <nvtx3/nvToolsExt.h>

extern "C" __attribute__((visibility("default"))) int InitializeInjectionNvtx2(
    NvtxGetExportTableFunc_t getExportTable) {
  using Attach = int (*)(NvtxGetExportTableFunc_t);
  auto attach = reinterpret_cast<Attach>(dlsym(RTLD_DEFAULT, "moeprof_nvtx_attach_env"));
  if (attach == nullptr) {
    std::fprintf(stderr,
                 "moeprof NVTX injection: this process has no moeprof collector; NVTX ranges "
                 "are not recorded\n");
    return 0;
  }
  return attach(getExportTable);
}
