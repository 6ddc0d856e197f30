#include "kernels/device_query.h"

namespace moeprof::kernels {

CudaAvailability queryCudaDevices() {
  CudaAvailability availability;
  availability.reason = "moeprof was built without the CUDA toolkit";
  return availability;
}

}  // namespace moeprof::kernels
