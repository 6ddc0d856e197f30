#pragma once
// AdamW (Loshchilov and Hutter: Adam with weight decay decoupled from the gradient) over named
// parameters, with its state (step count, first and second moments) as named tensors so that a
// checkpoint holds it and a resumed run continues exactly.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/model/parameter_names.h"

namespace moeprof::workloads::training {

struct AdamWSettings {
  double beta1 = 0.9;
  double beta2 = 0.98;
  double eps = 1e-8;
  double weightDecay = 0.01;  // on matrices only (not biases and layer norms)
  double clipNorm = 1.0;      // global gradient norm; 0: no clipping
};

class AdamW {
 public:
  AdamW(std::vector<NamedParameter> parameters, AdamWSettings settings);

  // One update with learning rate `lr` from the gradients autograd left on the parameters,
  // which are cleared afterwards. Returns the gradient norm before clipping.
  double step(double lr);
  int64_t steps() const { return steps_; }

  // The moments as "exp_avg.NAME" and "exp_avg_sq.NAME", and restoring them (InputError when a
  // tensor is missing or mis-shaped).
  std::vector<NamedParameter> state() const;
  void restore(const std::vector<NamedParameter>& state, int64_t steps);

 private:
  std::vector<NamedParameter> parameters_;
  std::vector<at::Tensor> expAvg_, expAvgSq_;
  AdamWSettings settings_;
  int64_t steps_ = 0;
};

}  // namespace moeprof::workloads::training
