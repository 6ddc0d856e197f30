#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "reports/table.h"
#include "workloads/model/presets.h"

namespace moeprof::cli {

namespace {

std::string count(int64_t n) {
  const char* units[] = {"", "K", "M", "B"};
  double value = static_cast<double>(n);
  int unit = 0;
  while (value >= 1000.0 && unit < 3) {
    value /= 1000.0;
    ++unit;
  }
  return reports::formatNumber(value, 3) + units[unit];
}

int listPresets(bool json) {
  using reports::Align;
  reports::Table table({"preset", "workload", "experts", "top-k", "MoE every", "CF", "d_model",
                        "ffn", "layers", "vocab", "parameters", "weights (fp32)", "description"},
                       {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right,
                        Align::Right, Align::Right, Align::Right, Align::Right, Align::Right,
                        Align::Right, Align::Right, Align::Left});
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : workloads::allPresets()) {
    std::string layers =
        std::to_string(p.layers) + (p.stacks() == 2 ? "+" + std::to_string(p.layers) : "");
    table.addRow({p.name, workloads::workloadName(p.workload),
                  p.moe ? std::to_string(p.numExperts) : "dense",
                  p.moe ? std::to_string(p.topK) : "-", p.moe ? std::to_string(p.moeEvery) : "-",
                  p.moe ? reports::formatNumber(p.capacityFactor, 3) : "-",
                  std::to_string(p.dModel), std::to_string(p.ffnDim), layers,
                  std::to_string(p.vocab), count(p.parameterCount()),
                  reports::formatBytes(static_cast<double>(p.weightBytes())), p.description});
    list.push_back({{"name", p.name},
                    {"workload", workloads::workloadName(p.workload)},
                    {"moe", p.moe},
                    {"experts", p.numExperts},
                    {"top_k", p.topK},
                    {"moe_every", p.moeEvery},
                    {"capacity_factor", p.capacityFactor},
                    {"d_model", p.dModel},
                    {"ffn_dim", p.ffnDim},
                    {"layers", p.layers},
                    {"vocab", p.vocab},
                    {"parameters", p.parameterCount()},
                    {"weight_bytes", p.weightBytes()},
                    {"description", p.description}});
  }
  std::cout << (json ? list.dump(2) + "\n" : table.toText());
  return kExitOk;
}

}  // namespace

Action addPresetsCommand(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  app.add_flag("--json", *json, "print JSON");
  return [json] { return listPresets(*json); };
}

}  // namespace moeprof::cli
